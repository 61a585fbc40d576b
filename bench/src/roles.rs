//! The helper processes the benchmark spawns: `nw0-bench ROLE ARGS…`.
//! Each prints `KEY value` lines the parent reads.

use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use networkzero as nw0;

use crate::{read_value, spawn_piped, stats, tell, wall_ms, Stats};

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Lines typed on stdin, read on their own thread.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

pub(crate) fn run(role: &str, args: &[String]) {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let started = Instant::now();
    match role {
        "advertise" => {
            let address = nw0::advertise(arg(0)).expect("advertise");
            say(format!("ADDRESS {address}"));
            std::thread::sleep(Duration::from_secs(600));
        }
        "find" => {
            let found = nw0::discover(arg(0), 10).ok().flatten();
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            say(format!(
                "FOUND_MS {}",
                if found.is_some() { ms } else { -1.0 }
            ));
        }
        "warm" => {
            let _ = nw0::advertise("warm").expect("advertise");
            let n: usize = arg(0).parse().unwrap_or(1000);
            let v: Vec<f64> = (0..n)
                .map(|_| {
                    let t = Instant::now();
                    let _ = nw0::discover("warm", 1);
                    t.elapsed().as_secs_f64() * 1e6
                })
                .collect();
            let s = stats(v);
            say(format!("WARM_US {} {}", s.median, s.p99));
        }
        "find-cold" => {
            // Start the node first, so "waiting" means waiting for the name.
            let _ = nw0::discover_all();
            say("WAITING".into());
            if nw0::discover(arg(0), 30).ok().flatten().is_some() {
                say(format!("FOUND_AT {}", wall_ms()));
            }
        }
        "watch-gone" => {
            if nw0::discover(arg(0), 10).ok().flatten().is_none() {
                return;
            }
            let _ = nw0::discover_all(); // past the start-up wait, so it does not count
            say("SEEN".into());
            for _ in 0..40_000 {
                let all = nw0::discover_all().unwrap_or_default();
                if !all.iter().any(|(n, _)| n == arg(0)) {
                    say(format!("GONE_AT {}", wall_ms()));
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        "serve-echo" => {
            let address = nw0::advertise(arg(0)).expect("advertise");
            say(format!("ADDRESS {address}"));
            for _ in 0..10_000_000u64 {
                if let Ok(Some(m)) = nw0::wait_for_message(address, 60) {
                    let _ = nw0::send_reply(address, m);
                } else {
                    return;
                }
            }
        }
        "raw-rep" => {
            let ctx = zmq::Context::new();
            let rep = ctx.socket(zmq::REP).expect("socket");
            rep.bind("tcp://127.0.0.1:*").expect("bind");
            let endpoint = rep
                .get_last_endpoint()
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let port = endpoint.rsplit(':').next().unwrap_or("0").to_string();
            say(format!("PORT {port}"));
            let _ = rep.set_rcvtimeo(60_000);
            while let Ok(m) = rep.recv_bytes(0) {
                if rep.send(m, 0).is_err() {
                    return;
                }
            }
        }
        "publish" | "raw-publish" => {
            publish(role == "raw-publish", arg(0).parse().unwrap_or(10_000))
        }
        other => {
            eprintln!("unknown role {other}");
            std::process::exit(2);
        }
    }
}

/// Publishes ticks until told "go", then `items` data items, then "end"s.
fn publish(raw: bool, items: u64) {
    let go = stdin_lines();
    let payload = serde_json::json!({"i": 1, "topic": "data.temp"});
    let ctx = zmq::Context::new();
    let (address, sock) = if raw {
        let s = ctx.socket(zmq::PUB).expect("socket");
        s.bind("tcp://127.0.0.1:*").expect("bind");
        let endpoint = s
            .get_last_endpoint()
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        (endpoint.trim_start_matches("tcp://").to_string(), Some(s))
    } else {
        (
            nw0::address("127.0.0.1").expect("address").to_string(),
            None,
        )
    };
    let send = |topic: &str| match &sock {
        Some(s) => {
            let bytes = serde_json::to_vec(&payload).unwrap_or_default();
            let _ = s.send_multipart([topic.as_bytes(), bytes.as_slice()], 0);
        }
        None => {
            let _ = nw0::publish_news(address.as_str(), topic, &payload);
        }
    };
    say(format!("ADDRESS {address}"));
    for _ in 0..3000 {
        send("tick");
        if go.recv_timeout(Duration::from_millis(10)).is_ok() {
            break;
        }
    }
    for _ in 0..items {
        send("data");
    }
    for _ in 0..200 {
        send("end");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Round trips of a raw libzmq REQ against the raw REP helper, in µs.
pub(crate) fn raw_req_rtts(port: u16, n: usize) -> Stats {
    let ctx = zmq::Context::new();
    let Ok(req) = ctx.socket(zmq::REQ) else {
        return Stats::default();
    };
    if req.connect(&format!("tcp://127.0.0.1:{port}")).is_err() {
        return Stats::default();
    }
    let _ = req.set_rcvtimeo(5_000);
    let mut v = Vec::with_capacity(n);
    for i in 0..=n {
        let t = Instant::now();
        let msg =
            serde_json::to_vec(&serde_json::json!({"i": i, "text": "hello"})).unwrap_or_default();
        if req.send(msg, 0).is_err() || req.recv_bytes(0).is_err() {
            break;
        }
        if i > 0 {
            v.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    stats(v)
}

/// Items per second a subscriber receives, and how many arrived.
pub(crate) fn pubsub_throughput(exe: &str, role: &str, items: u64) -> (f64, u64) {
    let count = items.to_string();
    let (mut child, mut out) = spawn_piped(exe, &[role, &count]);
    let Some(address) = read_value(&mut out, "ADDRESS ") else {
        return (0.0, 0);
    };
    let raw = role == "raw-publish";
    // As a program would: the address parsed once (from discover), not per call.
    let Ok(nw_address) = address.parse::<nw0::Address>() else {
        return (0.0, 0);
    };
    let ctx = zmq::Context::new();
    let sub = ctx.socket(zmq::SUB).expect("socket");
    // libzmq's default high-water mark (1000), as networkzero uses.
    let _ = sub.set_subscribe(b"");
    let _ = sub.connect(&format!("tcp://{address}"));
    let _ = sub.set_rcvtimeo(5_000);
    // Receives one item: its topic.
    let next = || -> Option<String> {
        if raw {
            let parts = sub.recv_multipart(0).ok()?;
            let _value: serde_json::Value = serde_json::from_slice(parts.get(1)?).ok()?;
            Some(String::from_utf8_lossy(parts.first()?).into_owned())
        } else {
            nw0::wait_for_news(nw_address, "", 5)
                .ok()
                .flatten()
                .map(|(t, _)| t)
        }
    };
    let mut ready = false;
    for _ in 0..500 {
        if next().as_deref() == Some("tick") {
            ready = true;
            break;
        }
    }
    if !ready {
        let _ = child.kill();
        let _ = child.wait();
        return (0.0, 0);
    }
    tell(&mut child, "go");
    let mut got = 0u64;
    let mut first = None;
    let mut last = Instant::now();
    for _ in 0..items * 2 + 1000 {
        match next().as_deref() {
            Some("data") => {
                got += 1;
                first.get_or_insert_with(Instant::now);
                last = Instant::now();
            }
            Some("end") | None => break,
            Some(_) => {}
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let secs = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    (if secs > 0.0 { got as f64 / secs } else { 0.0 }, got)
}
