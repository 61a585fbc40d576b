//! News under flow control is never lost, with either transport: a publisher
//! that keeps at most two windows of 200 items unacknowledged (402 messages with
//! the marks, well under the high-water mark of 1000) publishing as fast as it
//! can, and a subscriber that acknowledges each window's mark.
//!
//! Over libzmq this lost items within the first 2000 until `publish_news` read
//! libzmq's notices of what the subscriber had taken (messenger.rs,
//! `READ_CREDIT_EVERY`): without that, the publisher counted up to ~1200 items as
//! queued that the subscriber already had, and dropped news.
//!
//! It opens sockets, so it only runs inside a private network namespace:
//! `/work/shared/sealed bash tests/run.sh -p networkzero --test news_flow`
//! (add `--features networkzero/pure-rust` for the other transport).
//! Only 127.0.0.1 is used; every loop is bounded in count and time.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use networkzero as nw0;
use nw0::Value;

fn isolated() -> bool {
    if std::env::var_os("NW0_TEST_NETNS").is_some() || std::env::var_os("NW0_SEALED").is_some() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false" | "no"));
    assert!(
        !ci,
        "these tests open sockets: run them in a private network namespace (tests/run.sh)"
    );
    eprintln!("SKIP: not in a private network namespace (run tests/run.sh)");
    false
}

const WINDOW: u64 = 200;
const IN_FLIGHT: u64 = 2;
const WINDOWS: u64 = 1000;

#[test]
fn flow_controlled_news_is_never_lost() {
    if !isolated() {
        return;
    }
    let address = nw0::address("127.0.0.1").expect("an address");
    let (ack, acks) = mpsc::channel::<u64>();
    let (go, ready) = mpsc::channel::<()>();
    let publisher = thread::spawn(move || -> Result<u64, String> {
        // Ticks until the subscriber has heard one (connected and subscribed).
        let heard = (0..1000).any(|_| {
            let _ = nw0::publish_news(address, "tick", Value::Null);
            ready.recv_timeout(Duration::from_millis(10)).is_ok()
        });
        if !heard {
            return Err("the subscriber never heard a tick".into());
        }
        let (mut acked, mut seq) = (0u64, 0u64);
        for w in 0..WINDOWS {
            while w - acked >= IN_FLIGHT {
                match acks.recv_timeout(Duration::from_secs(5)) {
                    Ok(n) => acked = acked.max(n + 1),
                    Err(_) => return Err(format!("no ack for window {acked} within 5 s")),
                }
            }
            for _ in 0..WINDOW {
                nw0::publish_news(address, "data", seq).map_err(|e| e.to_string())?;
                seq += 1;
            }
            nw0::publish_news(address, "mark", w).map_err(|e| e.to_string())?;
        }
        Ok(seq)
    });

    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(nw0::wait_for_news(address, "", 1), Ok(Some((t, _))) if t == "tick") {
        assert!(Instant::now() < deadline, "no tick from the publisher");
    }
    go.send(()).expect("publisher thread");
    let (mut next, mut marks, mut lost) = (0u64, 0u64, Vec::new());
    for _ in 0..(WINDOW + 1) * WINDOWS + 1000 {
        let Ok(Some((topic, data))) = nw0::wait_for_news(address, "", 2) else {
            break;
        };
        match topic.as_str() {
            "data" => {
                let Some(i) = data.as_u64() else { continue };
                if i != next {
                    lost.push((next, i));
                }
                next = i + 1;
            }
            "mark" => {
                marks += 1;
                let _ = ack.send(data.as_u64().unwrap_or(0));
                if marks == WINDOWS {
                    break;
                }
            }
            _ => {}
        }
    }
    let published = publisher.join().expect("publisher thread");
    assert!(
        lost.is_empty() && marks == WINDOWS,
        "news lost under flow control: gaps (expected, got) {lost:?}; {marks} of {WINDOWS} marks; \
         publisher: {published:?}"
    );
    assert_eq!(published, Ok(WINDOW * WINDOWS));
}
