//! The pure-Rust transport (feature `pure-rust`) on its own and against raw
//! libzmq (the `zmq` dev-dependency): reconnects after a server or publisher
//! restarts, REP fair-queuing with replies routed to the right peer, large
//! messages, and the high-water mark bounding a slow subscriber's memory.
//!
//! They open sockets, so they only run inside a private network namespace:
//! `/work/shared/sealed bash tests/run.sh --features networkzero/pure-rust -p networkzero --test pure_transport`.
//! Only 127.0.0.1 is used; every loop is bounded in count and time.
#![cfg(feature = "pure-rust")]

use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use networkzero as nw0;
use nw0::{json, Address, Value};

mod common;
use common::isolated;

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn local(port: u16) -> Address {
    nw0::address(&format!("127.0.0.1:{port}")).expect("an address")
}

/// A libzmq REP on `port` that answers `n` requests with "<tag>:<request>",
/// then closes (its own context, so it is really gone).
fn libzmq_rep(port: u16, tag: &'static str, n: usize) -> thread::JoinHandle<()> {
    let (ready, bound) = mpsc::channel();
    let handle = thread::spawn(move || {
        let ctx = zmq::Context::new();
        let rep = ctx.socket(zmq::REP).unwrap();
        rep.set_linger(0).unwrap();
        rep.set_rcvtimeo(10_000).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while rep.bind(&format!("tcp://127.0.0.1:{port}")).is_err() {
            assert!(Instant::now() < deadline, "libzmq REP cannot bind {port}");
            thread::sleep(Duration::from_millis(50));
        }
        ready.send(()).unwrap();
        for _ in 0..n {
            let Ok(request) = rep.recv_bytes(0) else {
                return;
            };
            let text: Value = serde_json::from_slice(&request).unwrap();
            let reply = json!(format!("{tag}:{}", text.as_str().unwrap_or("?")));
            rep.send(serde_json::to_vec(&reply).unwrap(), 0).unwrap();
        }
        // Let the last reply out before closing.
        thread::sleep(Duration::from_millis(100));
    });
    bound.recv_timeout(Duration::from_secs(10)).unwrap();
    handle
}

#[test]
fn req_reconnects_after_the_server_restarts_and_waits_for_a_late_server() {
    if !isolated() {
        return;
    }
    let port = free_port();
    let server = local(port);
    let first = libzmq_rep(port, "first", 1);
    assert_eq!(
        nw0::send_message(server, "one", 5).unwrap(),
        Some(json!("first:one"))
    );
    first.join().unwrap();
    // Server gone: the connection failed and is being retried with back-off.
    thread::sleep(Duration::from_millis(500));
    let second = libzmq_rep(port, "second", 1);
    let started = Instant::now();
    assert_eq!(
        nw0::send_message(server, "two", 5).unwrap(),
        Some(json!("second:two"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    second.join().unwrap();

    // A server that starts after the request was sent still gets it.
    let port = free_port();
    let late = thread::spawn(move || {
        thread::sleep(Duration::from_millis(700));
        libzmq_rep(port, "late", 1).join().unwrap();
    });
    assert_eq!(
        nw0::send_message(local(port), "early", 5).unwrap(),
        Some(json!("late:early"))
    );
    late.join().unwrap();
}

#[test]
fn rep_serves_several_peers_and_routes_each_reply() {
    if !isolated() {
        return;
    }
    let port = free_port();
    let address = local(port);
    const CLIENTS: usize = 4;
    const EACH: usize = 5;
    let (ready, listening) = mpsc::channel();
    let server = thread::spawn(move || {
        // Make the REP socket (a short wait binds it), then serve.
        let _ = nw0::wait_for_message(address, 0.01).unwrap();
        ready.send(()).unwrap();
        for _ in 0..CLIENTS * EACH {
            let message = nw0::wait_for_message(address, 10)
                .unwrap()
                .expect("a request");
            nw0::send_reply(address, json!({ "echo": message })).unwrap();
        }
    });
    listening.recv_timeout(Duration::from_secs(10)).unwrap();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                if c == 0 {
                    // One pure-Rust client among libzmq ones.
                    for i in 0..EACH {
                        let msg = format!("pure-{i}");
                        let reply = nw0::send_message(address, &msg, 10).unwrap();
                        assert_eq!(reply, Some(json!({ "echo": msg })));
                    }
                    return;
                }
                let ctx = zmq::Context::new();
                let req = ctx.socket(zmq::REQ).unwrap();
                req.set_linger(0).unwrap();
                req.set_rcvtimeo(10_000).unwrap();
                req.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
                for i in 0..EACH {
                    let msg = format!("zmq{c}-{i}");
                    req.send(serde_json::to_vec(&msg).unwrap(), 0).unwrap();
                    let reply: Value = serde_json::from_slice(&req.recv_bytes(0).unwrap()).unwrap();
                    assert_eq!(reply, json!({ "echo": msg }));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
}

#[test]
fn large_messages_up_to_the_limit() {
    if !isolated() {
        return;
    }
    let address = local(free_port());
    let big = "x".repeat(8 * 1024 * 1024);
    let (ready, listening) = mpsc::channel();
    let server = thread::spawn(move || {
        let _ = nw0::wait_for_message(address, 0.01).unwrap();
        ready.send(()).unwrap();
        let message = nw0::wait_for_message(address, 20)
            .unwrap()
            .expect("a request");
        let n = message.as_str().map_or(0, str::len);
        nw0::send_reply(address, message).unwrap();
        n
    });
    listening.recv_timeout(Duration::from_secs(10)).unwrap();
    let reply = nw0::send_message(address, &big, 20).unwrap();
    assert_eq!(
        reply.as_ref().and_then(Value::as_str).map(str::len),
        Some(big.len())
    );
    assert_eq!(server.join().unwrap(), big.len());
    let too_big = "x".repeat(17 * 1024 * 1024);
    assert!(matches!(
        nw0::send_message(address, &too_big, 1),
        Err(nw0::Error::BadMessage { .. })
    ));
}

/// A libzmq PUB on `port` that publishes `topic` items until told to stop.
fn libzmq_pub(port: u16, topic: &'static str, stop: mpsc::Receiver<()>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let ctx = zmq::Context::new();
        let publisher = ctx.socket(zmq::PUB).unwrap();
        publisher.set_linger(0).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while publisher.bind(&format!("tcp://127.0.0.1:{port}")).is_err() {
            assert!(Instant::now() < deadline, "libzmq PUB cannot bind {port}");
            thread::sleep(Duration::from_millis(50));
        }
        for i in 0..400 {
            if stop.try_recv().is_ok() {
                return;
            }
            for t in [topic, "other.topic"] {
                let data = serde_json::to_vec(&json!(i)).unwrap();
                publisher
                    .send_multipart([t.as_bytes(), data.as_slice()], 0)
                    .unwrap();
            }
            thread::sleep(Duration::from_millis(25));
        }
    })
}

#[test]
fn sub_resubscribes_after_the_publisher_restarts() {
    if !isolated() {
        return;
    }
    let port = free_port();
    let address = local(port);
    for round in 0..2 {
        let (stop, stopped) = mpsc::channel();
        let publisher = libzmq_pub(port, "data.temp", stopped);
        let news = nw0::wait_for_news(address, "data", 5).unwrap();
        let (topic, _) = news.unwrap_or_else(|| panic!("no news in round {round}"));
        assert_eq!(topic, "data.temp");
        stop.send(()).unwrap();
        publisher.join().unwrap();
        // Drain what is left of this publisher's news.
        while nw0::wait_for_news(address, "data", 0.3).unwrap().is_some() {}
    }
}

#[test]
fn pure_pub_to_libzmq_sub_with_prefixes() {
    if !isolated() {
        return;
    }
    let port = free_port();
    let address = local(port);
    let (ready, subscribed) = mpsc::channel();
    let subscriber = thread::spawn(move || {
        let ctx = zmq::Context::new();
        let sub = ctx.socket(zmq::SUB).unwrap();
        sub.set_linger(0).unwrap();
        sub.set_rcvtimeo(10_000).unwrap();
        sub.set_subscribe(b"data.").unwrap();
        sub.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
        ready.send(()).unwrap();
        let mut got = Vec::new();
        while got.len() < 3 {
            let parts = sub.recv_multipart(0).expect("news");
            let topic = String::from_utf8(parts[0].clone()).unwrap();
            let data: Value = serde_json::from_slice(&parts[1]).unwrap();
            got.push((topic, data));
        }
        got
    });
    subscribed.recv_timeout(Duration::from_secs(10)).unwrap();
    // The first publish waits for subscribers already connecting; keep
    // publishing until three arrived (bounded).
    let started = Instant::now();
    let mut i = 0;
    while !subscriber.is_finished() && started.elapsed() < Duration::from_secs(10) {
        nw0::publish_news(address, "other", json!(i)).unwrap();
        nw0::publish_news(address, "data.temp", json!(i)).unwrap();
        i += 1;
        thread::sleep(Duration::from_millis(20));
    }
    let got = subscriber.join().unwrap();
    assert!(got.iter().all(|(t, _)| t == "data.temp"), "{got:?}");
}

#[cfg(target_os = "linux")]
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A subscriber that does not read costs the publisher a bounded amount of
/// memory, and loses the newest items (libzmq's PUB policy): what it gets
/// is the first items, in order, without gaps.
#[cfg(target_os = "linux")]
#[test]
fn slow_subscriber_loses_the_newest_news_with_bounded_memory() {
    if !isolated() {
        return;
    }
    let address = local(free_port());
    const ITEMS: usize = 30_000;
    const SIZE: usize = 8 * 1024;
    let (tx, first_seen) = mpsc::channel();
    let (go, drain) = mpsc::channel::<()>();
    let subscriber = thread::spawn(move || {
        // Subscribe and wait for the publisher's warm-up item.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "no warm-up news");
            if let Some((topic, _)) = nw0::wait_for_news(address, "", 0.2).unwrap() {
                if topic == "warm-up" {
                    break;
                }
            }
        }
        tx.send(()).unwrap();
        drain.recv_timeout(Duration::from_secs(120)).unwrap();
        let mut seen = Vec::new();
        while let Some((_, data)) = nw0::wait_for_news(address, "", 2).unwrap() {
            if let Some(i) = data.get("i").and_then(Value::as_u64) {
                seen.push(i as usize);
            }
            assert!(seen.len() <= ITEMS);
        }
        seen
    });
    let started = Instant::now();
    loop {
        nw0::publish_news(address, "warm-up", json!(null)).unwrap();
        if first_seen.recv_timeout(Duration::from_millis(50)).is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "subscriber never connected"
        );
    }
    let before = resident_bytes();
    let filler = "n".repeat(SIZE);
    for i in 0..ITEMS {
        nw0::publish_news(address, "news", json!({ "i": i, "filler": filler })).unwrap();
    }
    thread::sleep(Duration::from_millis(500));
    let grown = resident_bytes().saturating_sub(before);
    go.send(()).unwrap();
    let seen = subscriber.join().unwrap();
    let unbounded = (ITEMS * SIZE) as u64;
    eprintln!(
        "published {ITEMS} items of {SIZE} bytes ({unbounded} bytes): memory grew {grown} bytes; \
         the subscriber got {}",
        seen.len()
    );
    assert!(
        grown < unbounded / 2,
        "memory grew by {grown} bytes while {unbounded} were published to a subscriber that did not read"
    );
    assert!(
        seen.len() >= 1000 && seen.len() < ITEMS,
        "got {} of {ITEMS}",
        seen.len()
    );
    // The oldest items arrive, in order; the newest are the ones dropped.
    assert!(
        seen.iter().take(1000).enumerate().all(|(k, &i)| k == i),
        "the first 1000 items arrive without gaps: {:?}…",
        &seen[..seen.len().min(20)]
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order");
    assert!(
        seen.last().is_some_and(|&i| i < ITEMS - 1),
        "the newest item was dropped"
    );
}
