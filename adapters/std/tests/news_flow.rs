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

mod common;
use common::isolated;

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

/// A subscriber that waits for two prefixes in turn gets every item of both: what
/// arrives for the other prefix is kept for its call, not dropped (messages.rs,
/// `Backlog`). Before, waiting for "b" discarded the "a" items that came first.
#[test]
fn alternating_prefixes_lose_nothing() {
    if !isolated() {
        return;
    }
    let address = nw0::address("127.0.0.1").expect("an address");
    let (go, ready) = mpsc::channel::<()>();
    let publisher = thread::spawn(move || -> Result<(), String> {
        // Ticks on both topics until the subscriber has subscribed to both.
        let heard = (0..1000).any(|_| {
            let _ = nw0::publish_news(address, "a", "tick");
            let _ = nw0::publish_news(address, "b", "tick");
            ready.recv_timeout(Duration::from_millis(10)).is_ok()
        });
        if !heard {
            return Err("the subscriber never heard both topics".into());
        }
        for n in 1..=6 {
            let topic = if n % 2 == 1 { "a" } else { "b" };
            nw0::publish_news(address, topic, n).map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    // Next item on `prefix` that is not a tick.
    let next = |prefix: &str| -> Option<i64> {
        for _ in 0..5000 {
            match nw0::wait_for_news(address, prefix, 5) {
                Ok(Some((_, data))) if data == "tick" => continue,
                Ok(Some((topic, data))) => {
                    assert!(topic.starts_with(prefix), "{topic} for {prefix}");
                    return data.as_i64();
                }
                _ => return None,
            }
        }
        None
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    for prefix in ["a", "b"] {
        while !matches!(nw0::wait_for_news(address, prefix, 1), Ok(Some((_, d))) if d == "tick") {
            assert!(Instant::now() < deadline, "no tick on {prefix}");
        }
    }
    go.send(()).expect("publisher thread");
    // "b" first: the "a" items 1, 3 and 5 arrive in between and must be kept.
    let b: Vec<_> = (0..3).map(|_| next("b")).collect();
    let a: Vec<_> = (0..3).map(|_| next("a")).collect();
    assert_eq!(publisher.join().expect("publisher thread"), Ok(()));
    assert_eq!(b, [Some(2), Some(4), Some(6)]);
    assert_eq!(a, [Some(1), Some(3), Some(5)]);
}
