//! Peer-to-peer chat: everyone advertises `chat/NAME` and publishes what they
//! type; everyone finds the others with `discover_group("chat")` and listens.
//!
//! ```text
//! cargo run --bin chat -- alice     # in one terminal (or computer)
//! cargo run --bin chat -- bob       # in another; type lines, see the other's
//! ```
use networkzero as nw0;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn main() -> Result<(), nw0::Error> {
    let name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "anonymous".into());
    let me = format!("chat/{name}");
    let address = nw0::advertise(&me)?;
    println!("chat: you are {name} at {address}; type a line and press Enter");

    // Read the keyboard on its own thread; networkzero stays on this one.
    let (lines, typed) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    let mut peers = BTreeMap::new();
    let mut next_look = Instant::now();
    loop {
        if Instant::now() >= next_look {
            for (peer, at) in nw0::discover_group_with("chat", "/", &[&me])? {
                if peers.insert(peer.clone(), at).is_none() {
                    println!("chat: {} joined", peer.trim_start_matches("chat/"));
                }
            }
            next_look = Instant::now() + Duration::from_secs(1);
        }
        match typed.try_recv() {
            Ok(line) => nw0::publish_news(&address, &name, line)?,
            Err(mpsc::TryRecvError::Disconnected) => return Ok(()),
            Err(mpsc::TryRecvError::Empty) => {}
        }
        for at in peers.values() {
            if let Some((from, text)) = nw0::wait_for_news(at, "", 0.05)? {
                println!("{from}: {}", text.as_str().unwrap_or_default());
            }
        }
        if peers.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
