//! Per-item work of lossless news, ours (`publish_news` → `wait_for_news`)
//! against raw libzmq (the `zmq` crate's PUB → SUB, the same bytes), in one
//! process: the publisher on a thread of its own, the subscriber on the
//! main thread, acknowledging windows of 200 items over a channel (2 in
//! flight, as the bench row). Made for callgrind, whose counts do not
//! depend on the machine's load:
//!
//! ```sh
//! ../shared/sealed valgrind --tool=callgrind --separate-threads=yes \
//!     --toggle-collect='*news_instructions::publishing*' \
//!     --toggle-collect='*news_instructions::subscribing*' \
//!     target/release/examples/news_instructions ours 20000
//! ```
//!
//! Only the two data phases are counted (start-up, the first item's wait
//! and the subscription are not); run it for two counts and divide the
//! difference by the difference of items, so what one run does once
//! cancels. `strace -f -c` of two counts gives the system calls per item
//! the same way. Opens sockets on loopback: run it inside a private
//! network namespace.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::Duration;

use networkzero as nw0;
use serde_json::{json, Value};

const WINDOW: u64 = 200;
const IN_FLIGHT: u64 = 2;
const PATIENCE: Duration = Duration::from_secs(60);
/// As the bench's raw publisher: reads libzmq's drain notices this often.
const READ_CREDIT_EVERY: u64 = 32;

/// Every thread of this process and its time on a CPU so far, ns (from
/// `/proc/self/task`): libzmq's I/O threads' share shows only there.
fn threads_ns() -> Vec<(String, u64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut all: Vec<(String, u64)> = tasks
        .filter_map(|t| {
            let dir = t.ok()?.path();
            let name = std::fs::read_to_string(dir.join("comm")).ok()?;
            let stat = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            let id = dir.file_name()?.to_string_lossy().into_owned();
            let ns = stat.split_whitespace().next()?.parse().ok()?;
            Some((format!("{}/{id}", name.trim()), ns))
        })
        .collect();
    all.sort();
    all
}

/// This thread's time on a CPU so far, ns (its `schedstat`; 0 if unread).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

enum Pub {
    Ours(nw0::Address),
    Raw(zmq::Socket, u64),
}

impl Pub {
    #[inline(never)]
    fn send(&mut self, topic: &str, data: Value) {
        match self {
            Pub::Ours(a) => {
                let _ = nw0::publish_news(*a, topic, data);
            }
            Pub::Raw(s, sent) => {
                *sent += 1;
                if sent.is_multiple_of(READ_CREDIT_EVERY) {
                    let _ = s.get_events();
                }
                let bytes = serde_json::to_vec(&data).unwrap_or_default();
                let _ = s.send_multipart([topic.as_bytes(), bytes.as_slice()], 0);
            }
        }
    }
}

enum Sub {
    Ours(nw0::Address),
    Raw(zmq::Socket),
}

impl Sub {
    #[inline(never)]
    fn next(&self) -> Option<(String, Value)> {
        match self {
            Sub::Ours(a) => nw0::wait_for_news(*a, "", PATIENCE).ok().flatten(),
            Sub::Raw(s) => {
                let parts = s.recv_multipart(0).ok()?;
                let data: Value = serde_json::from_slice(parts.get(1)?).ok()?;
                let topic = String::from_utf8_lossy(parts.first()?).into_owned();
                Some((topic, data))
            }
        }
    }
}

/// The publisher's data phase: `items` items in windows, each closed by a
/// mark, never more than [`IN_FLIGHT`] windows unacknowledged.
#[inline(never)]
fn publishing(p: &mut Pub, items: u64, acks: &Receiver<u64>) {
    let mut acked = 0;
    let mut seq = 0;
    for w in 0..items.div_ceil(WINDOW) {
        while w - acked >= IN_FLIGHT {
            match acks.recv_timeout(PATIENCE) {
                Ok(a) => acked = acked.max(a),
                Err(_) => return,
            }
        }
        let end = (seq + WINDOW).min(items);
        while seq < end {
            p.send("data", json!({"i": seq, "topic": "data.temp"}));
            seq += 1;
        }
        p.send("mark", json!({"w": w, "next": seq}));
    }
}

/// The subscriber's data phase: until the last mark; the items it got.
#[inline(never)]
fn subscribing(s: &Sub, items: u64, acks: &Sender<u64>) -> u64 {
    let windows = items.div_ceil(WINDOW);
    let mut got = 0;
    // Bounded: each pass takes an item or gives up after PATIENCE.
    while let Some((topic, data)) = s.next() {
        match topic.as_str() {
            "data" => got += u64::from(data.get("i").is_some()),
            "mark" => {
                let w = data.get("w").and_then(Value::as_u64).unwrap_or(0);
                let _ = acks.send(w + 1);
                if w + 1 == windows {
                    break;
                }
            }
            _ => {}
        }
    }
    got
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let raw = args.get(1).is_some_and(|k| k == "raw");
    let items: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let ctx = zmq::Context::new();
    let (address_tx, address_rx) = channel::<String>();
    let (ack_tx, ack_rx) = channel::<u64>();
    let (go_tx, go_rx) = channel::<()>();
    let pub_ctx = ctx.clone();
    let publisher = std::thread::spawn(move || {
        let (mut p, address) = if raw {
            let s = pub_ctx.socket(zmq::PUB).expect("a PUB socket");
            s.bind("tcp://127.0.0.1:*").expect("binds");
            let endpoint = s.get_last_endpoint().expect("bound").expect("utf-8");
            let address = endpoint.trim_start_matches("tcp://").to_string();
            (Pub::Raw(s, 0), address)
        } else {
            let a = nw0::address("127.0.0.1").expect("a free port");
            (Pub::Ours(a), a.to_string())
        };
        address_tx.send(address).expect("the main thread waits");
        // Ticks until the subscriber has heard one (bounded: 3000 × 10 ms).
        for _ in 0..3000 {
            p.send("tick", Value::Null);
            if go_rx.recv_timeout(Duration::from_millis(10)).is_ok() {
                let t0 = cpu_ns();
                publishing(&mut p, items, &ack_rx);
                let ns = cpu_ns() - t0;
                eprintln!("pub {:.3} us/item", ns as f64 / 1000.0 / items as f64);
                return;
            }
        }
        eprintln!("the subscriber never heard a tick");
    });
    let address = address_rx.recv().expect("the publisher's address");
    let s = if raw {
        let s = ctx.socket(zmq::SUB).expect("a SUB socket");
        s.set_subscribe(b"").expect("subscribes");
        s.set_rcvtimeo(PATIENCE.as_millis() as i32)
            .expect("a timeout");
        s.connect(&format!("tcp://{address}")).expect("connects");
        Sub::Raw(s)
    } else {
        Sub::Ours(address.parse().expect("an address"))
    };
    // Bounded: ticks come every 10 ms until we answer, for at most 30 s.
    while let Some((topic, _)) = s.next() {
        if topic == "tick" {
            break;
        }
    }
    let _ = go_tx.send(());
    // Ticks sent before `go` was read may still be queued: skipped as
    // items of another topic would be.
    let t0 = cpu_ns();
    let all0 = threads_ns();
    let got = subscribing(&s, items, &ack_tx);
    let ns = cpu_ns() - t0;
    eprintln!("sub {:.3} us/item", ns as f64 / 1000.0 / items as f64);
    // Every thread over the subscriber's data phase (the publisher's ends
    // within it, give or take its last window).
    for (name, after) in threads_ns() {
        if let Some((_, before)) = all0.iter().find(|(n, _)| *n == name) {
            let per_item = (after - before) as f64 / 1000.0 / items as f64;
            eprintln!("  {name} {per_item:.3} us/item");
        }
    }
    let _ = publisher.join();
    println!(
        "{} received {got} of {items}",
        if raw { "raw" } else { "ours" }
    );
}
