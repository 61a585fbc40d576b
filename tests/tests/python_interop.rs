//! Interoperation with real Python networkzero 1.0b1 peers (the venv made by
//! `tests/run.sh`), both ways, for every function: the Python peer runs on another host
//! of a simulated LAN than the Rust one (`nw0-peer` processes).
//!
//! Python binds UDP 9999 exclusively, so a Python and a Rust program on the SAME host
//! need the beacon RPC (tcp 127.0.0.1:9998, see PROTOCOL.md): those cases are the
//! `same_host_*` tests at the end.
//!
//! Never send anything but valid adverts to UDP 9999 here: a Python beacon dies on it.

#[path = "../src/bin/nw0-peer/drive.rs"]
mod drive;

use std::time::Duration;

use drive::{address, expect, ip_of, secs, spawn, Repl};
use nw0_tests::*;

/// Waits for `WORD <rest>` from a Python child and returns the rest.
#[track_caller]
fn py_expect(child: &mut ChildGuard, word: &str, timeout: Duration) -> String {
    expect(child, word, timeout)
}

/// Parses JSON printed by Python (`json.dumps`, ASCII-escaped).
fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The JSON after `prefix` on each line that starts with it.
fn json_after(lines: &[String], prefix: &str) -> Vec<serde_json::Value> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(json)
        .collect()
}

/// The JSON of a `REPLY <json> <ms>` line's rest (nw0-peer), parsed.
fn reply_value(rest: &str) -> serde_json::Value {
    json(rest.rsplit_once(' ').map_or(rest, |(j, _ms)| j))
}

/// A Python REP server: advertises `name`, answers `count` messages with
/// `{"echo": message}` and prints `MESSAGE <json>` for each.
fn py_echo(name: &str, count: u32) -> String {
    format!(
        "addr = nw0.advertise({})\nprint('ADDRESS', addr, flush=True)\n\
         for _ in range({count}):\n    msg = nw0.wait_for_message_from(addr, 30)\n    \
         if msg is None: break\n    print('MESSAGE', json.dumps(msg), flush=True)\n    \
         nw0.send_reply_to(addr, {{'echo': msg}})\ntime.sleep(2)\n",
        py::str_lit(name)
    )
}

/// `nw0-peer advertise NAME --serve hello --for 30` in `host` (it answers `"Hello, "`
/// and the message): the server and its address.
fn rust_hello(host: &Host, name: &str) -> (ChildGuard, String) {
    let mut server = spawn(
        host,
        &["advertise", name, "--serve", "hello", "--for", "30"],
    );
    let addr = address(&mut server);
    (server, addr)
}

/// A Python client in `host`: discovers `name` (prints `FOUND <address>`), then sends
/// it each of `messages` (Python literals), printing `REPLY <json>` for each reply.
fn py_ask(host: &Host, name: &str, messages: &[&str]) -> ChildGuard {
    let mut code = format!(
        "addr = nw0.discover({}, 10)\nprint('FOUND', addr, flush=True)\n",
        py::str_lit(name)
    );
    for m in messages {
        code.push_str(&format!(
            "print('REPLY', json.dumps(nw0.send_message_to(addr, {m}, 10)), flush=True)\n"
        ));
    }
    py::spawn(host, &code)
}

/// A Python program in `host` (on the same host as a Rust one): advertises `name`,
/// then prints `FOUND <address>` for `find` (waiting at most `wait_s`), then stays 30 s.
/// Returns it and its advertised address.
fn py_advertise_and_find(host: &Host, name: &str, find: &str, wait_s: u32) -> (ChildGuard, String) {
    let mut python = py::spawn(
        host,
        &format!(
            "a = nw0.advertise({})\nprint('ADDRESS', a, flush=True)\n\
             print('FOUND', nw0.discover({}, {wait_s}), flush=True)\ntime.sleep(30)\n",
            py::str_lit(name),
            py::str_lit(find)
        ),
    );
    let addr = py_expect(&mut python, "ADDRESS", secs(15.0));
    (python, addr)
}

/// A repl's `send TO MESSAGE 10` (finished within 30 s): `REPLY` or `NOREPLY`, and
/// the rest of that line.
#[track_caller]
fn send(client: &mut Repl, to: &str, message: &str) -> (String, String) {
    client.run_expect(
        &format!("send\t{to}\t{message}\t10"),
        &["REPLY", "NOREPLY"],
        secs(30.0),
    )
}

#[test]
fn python_advertises_rust_discovers() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let mut adv = py::spawn(
        &lan.hosts[0],
        &py::advertiser("py-service", None, None, 30.0),
    );
    let addr = py_expect(&mut adv, "ADDRESS", secs(15.0));
    assert_eq!(
        ip_of(&addr),
        lan.hosts[0].ip.to_string(),
        "Python's address"
    );
    // a Python beacon adverts every 2 s; a fresh Rust process hears the next one
    let (lines, code, stderr) =
        drive::run(&lan.hosts[1], &["discover", "py-service", "6"], secs(15.0));
    assert_eq!(code, Some(0), "{lines:?} {stderr}");
    assert!(lines[0].starts_with(&format!("FOUND {addr} ")), "{lines:?}");
}

#[test]
fn rust_advertises_python_discovers() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let mut adv = spawn(&lan.hosts[0], &["advertise", "rs-service", "--for", "30"]);
    let addr = address(&mut adv);
    let mut disc = py::spawn(&lan.hosts[1], &py::discoverer("rs-service", 8.0));
    assert_eq!(
        py_expect(&mut disc, "FOUND", secs(15.0)),
        addr,
        "Python discovers the Rust advert"
    );
}

#[test]
fn python_sends_message_rust_replies() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let (mut server, addr) = rust_hello(&lan.hosts[0], "rs-hello");
    let mut client = py_ask(
        &lan.hosts[1],
        "rs-hello",
        &["'Python'", "{'a': [1, None, 'é']}"],
    );
    assert_eq!(py_expect(&mut client, "FOUND", secs(15.0)), addr);
    assert_eq!(
        json(&py_expect(&mut client, "REPLY", secs(15.0))),
        serde_json::json!("Hello, Python")
    );
    assert_eq!(
        json(&py_expect(&mut client, "REPLY", secs(15.0))),
        serde_json::json!(r#"Hello, {"a":[1,null,"é"]}"#)
    );
    assert_eq!(expect(&mut server, "MESSAGE", secs(2.0)), "\"Python\"");
    assert_eq!(
        json(&expect(&mut server, "MESSAGE", secs(2.0))),
        serde_json::json!({"a": [1, null, "é"]})
    );
}

#[test]
fn rust_sends_message_python_replies() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let mut server = py::spawn(&lan.hosts[0], &py_echo("py-echo", 2));
    let addr = py_expect(&mut server, "ADDRESS", secs(15.0));
    let mut client = Repl::start(&lan.hosts[1], "client");
    let message = serde_json::json!({"n": 1, "text": "ロボット", "list": [true, null, 2.5]});
    let (kind, rest) = send(&mut client, "py-echo", &message.to_string());
    assert_eq!(kind, "REPLY", "{}", client.stderr());
    assert_eq!(reply_value(&rest), serde_json::json!({ "echo": message }));
    let (kind, rest) = send(&mut client, &addr, "\"plain\"");
    assert_eq!(
        (kind.as_str(), reply_value(&rest)),
        ("REPLY", serde_json::json!({"echo": "plain"}))
    );
    assert_eq!(json(&py_expect(&mut server, "MESSAGE", secs(2.0))), message);
}

#[test]
fn python_news_rust_watches() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let mut publisher = py::spawn(
        &lan.hosts[0],
        "addr = nw0.advertise('py-news')\nprint('ADDRESS', addr, flush=True)\n\
         for i in range(150):\n    nw0.send_news_to(addr, 'temp.x' if i % 2 else 'wind', {'i': i, 'é': 'ü'})\n    time.sleep(0.1)\n",
    );
    py_expect(&mut publisher, "ADDRESS", secs(15.0));
    let (lines, code, stderr) = drive::run(
        &lan.hosts[1],
        &["watch", "py-news", "temp.", "3", "10"],
        secs(30.0),
    );
    assert_eq!(code, Some(0), "{lines:?} {stderr}");
    let news = json_after(&lines, "NEWS ");
    assert_eq!(news.len(), 3, "{lines:?}");
    for item in &news {
        assert_eq!(item[0], "temp.x", "{news:?}");
        assert_eq!(item[1]["é"], "ü", "{news:?}");
        assert_eq!(item[1]["i"].as_u64().map(|i| i % 2), Some(1), "{news:?}");
    }
}

#[test]
fn rust_news_python_watches() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let mut publisher = spawn(
        &lan.hosts[0],
        &[
            "publish",
            "rs-news",
            "temp.in,wind",
            r#"{"t":21.5,"w":"é"}"#,
            "150",
            "100",
        ],
    );
    address(&mut publisher);
    let mut watcher = py::spawn(
        &lan.hosts[1],
        "addr = nw0.discover('rs-news', 10)\nprint('FOUND', addr, flush=True)\n\
         for _ in range(3):\n    print('NEWS', json.dumps(nw0.wait_for_news_from(addr, 'temp', 10)), flush=True)\n",
    );
    py_expect(&mut watcher, "FOUND", secs(15.0));
    for _ in 0..3 {
        let item = json(&py_expect(&mut watcher, "NEWS", secs(15.0)));
        assert_eq!(item, serde_json::json!(["temp.in", {"t": 21.5, "w": "é"}]));
    }
}

#[test]
fn rust_command_python_acks() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let mut robot = py::spawn(
        &lan.hosts[0],
        "addr = nw0.advertise('py-robot')\nprint('ADDRESS', addr, flush=True)\n\
         msg = nw0.wait_for_message_from(addr, 30)\nprint('COMMAND', json.dumps(msg), flush=True)\n\
         nw0.send_reply_to(addr, 'ack')\ntime.sleep(5)\n",
    );
    py_expect(&mut robot, "ADDRESS", secs(15.0));
    let (lines, code, stderr) = drive::run(
        &lan.hosts[1],
        &["command", "py-robot", "forward", "10"],
        secs(30.0),
    );
    assert_eq!(
        (code, lines.last().map(String::as_str)),
        (Some(0), Some("ACKED")),
        "{lines:?} {stderr}"
    );
    assert_eq!(
        json(&py_expect(&mut robot, "COMMAND", secs(2.0))),
        serde_json::json!("forward")
    );
}

#[test]
fn python_command_rust_acks() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    // (count 2: stays up after acking, see messaging.rs for acks sent just before exit)
    let mut robot = spawn(&lan.hosts[0], &["serve-commands", "rs-robot", "2", "30"]);
    address(&mut robot);
    let mut commander = py::spawn(
        &lan.hosts[1],
        "addr = nw0.discover('rs-robot', 10)\nprint('REPLY', json.dumps(nw0.send_message_to(addr, 'forward', 10)), flush=True)\n",
    );
    assert_eq!(
        json(&py_expect(&mut commander, "REPLY", secs(20.0))),
        serde_json::json!("ack")
    );
    assert_eq!(expect(&mut robot, "COMMAND", secs(2.0)), "\"forward\"");
}

/// A Rust program that uses typed calls and postcard (`nw0-peer robot`: it reads
/// commands as its `Command` enum and answers a status with `Postcard(status)`) still
/// speaks JSON to Python: the status comes back to Python as JSON (postcard would make
/// Python raise `UnicodeDecodeError` and print nothing), Python's JSON commands are
/// read as the enum, and Python's JSON news as the Rust `Odometry` struct.
#[test]
fn python_speaks_json_with_a_typed_rust_program() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let mut robot = spawn(&lan.hosts[0], &["robot", "60"]);
    let addr = address(&mut robot);
    let mut client = py_ask(
        &lan.hosts[1],
        "qemu-robot",
        &[
            "'status'",
            "{'drive': {'left': 10, 'right': -20}}",
            "'status'",
        ],
    );
    assert_eq!(py_expect(&mut client, "FOUND", secs(15.0)), addr);
    for reply in [
        serde_json::json!({"commands": 0, "left": 0, "right": 0}),
        serde_json::json!("ack"),
        serde_json::json!({"commands": 1, "left": 10, "right": -20}),
    ] {
        let got = py_expect(&mut client, "REPLY", secs(20.0));
        assert_eq!(json(&got), reply, "{}", client.stderr());
    }
    for command in [
        r#""status""#,
        r#"{"drive":{"left":10,"right":-20}}"#,
        r#""status""#,
    ] {
        assert_eq!(expect(&mut robot, "COMMAND", secs(2.0)), command);
    }

    let mut publisher = py::spawn(
        &lan.hosts[0],
        "addr = nw0.advertise('py-odometry')\nprint('ADDRESS', addr, flush=True)\n\
         for i in range(150):\n    nw0.send_news_to(addr, 'odometry', {'n': i, 'left': 1, 'right': -1})\n    time.sleep(0.1)\n",
    );
    py_expect(&mut publisher, "ADDRESS", secs(15.0));
    let (lines, code, stderr) = drive::run(
        &lan.hosts[1],
        &["odometry", "py-odometry", "3", "10"],
        secs(30.0),
    );
    assert_eq!(code, Some(0), "{lines:?} {stderr}");
    let items = json_after(&lines, "ODOMETRY ");
    assert_eq!(items.len(), 3, "{lines:?}");
    for item in items {
        assert_eq!(
            (&item["left"], &item["right"]),
            (&1.into(), &(-1).into()),
            "{lines:?}"
        );
    }
}

#[test]
fn group_names_both_ways() {
    let Some(lan) = require_python_lan(3) else {
        return;
    };
    let mut rust = Repl::start(&lan.hosts[1], "rust");
    let rs_addr = rust.advertise("lab/rs1");
    rust.advertise("elsewhere/rs2");
    let mut python = py::spawn(
        &lan.hosts[0],
        "a1 = nw0.advertise('lab/py1')\na2 = nw0.advertise('lab/py2')\nprint('ADDRESS', a1, flush=True)\n\
         print('FOUND', nw0.discover('lab/rs1', 10), flush=True)\n\
         print('GROUP', json.dumps(sorted(nw0.discover_group('lab'))), flush=True)\ntime.sleep(30)\n",
    );
    let py_addr = py_expect(&mut python, "ADDRESS", secs(15.0));
    assert_eq!(py_expect(&mut python, "FOUND", secs(15.0)), rs_addr);
    let py_group = drive::parse_pairs(&py_expect(&mut python, "GROUP", secs(5.0)));
    let names: Vec<&str> = py_group.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["lab/py1", "lab/py2", "lab/rs1"],
        "Python's discover_group: {py_group:?}"
    );
    assert!(py_group.contains(&("lab/rs1".to_string(), rs_addr.clone())));

    let mut fresh = Repl::start(&lan.hosts[2], "fresh");
    assert_eq!(
        fresh.discover("lab/py1", 6.0).as_deref(),
        Some(py_addr.as_str())
    );
    assert!(fresh.discover("lab/py2", 6.0).is_some());
    let group = fresh.discover_group("lab");
    let names: Vec<&str> = group.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["lab/py1", "lab/py2", "lab/rs1"],
        "Rust's discover_group: {group:?}"
    );
}

#[test]
fn non_ascii_names_both_ways() {
    let Some(lan) = require_python_lan(3) else {
        return;
    };
    // Rust advertises "café", Python finds it and talks to it
    let (_cafe, cafe_addr) = rust_hello(&lan.hosts[0], "café");
    let mut client = py_ask(&lan.hosts[1], "café", &["'ロボット'"]);
    assert_eq!(py_expect(&mut client, "FOUND", secs(15.0)), cafe_addr);
    assert_eq!(
        json(&py_expect(&mut client, "REPLY", secs(15.0))),
        serde_json::json!("Hello, ロボット")
    );

    // Python advertises "ロボット", Rust finds it and talks to it
    let mut robot = py::spawn(&lan.hosts[1], &py_echo("ロボット", 1));
    let robot_addr = py_expect(&mut robot, "ADDRESS", secs(15.0));
    let mut rust = Repl::start(&lan.hosts[2], "rust");
    assert_eq!(
        rust.discover("ロボット", 6.0).as_deref(),
        Some(robot_addr.as_str())
    );
    let (kind, rest) = send(&mut rust, "ロボット", "\"café ✓\"");
    assert_eq!(
        (kind.as_str(), reply_value(&rest)),
        ("REPLY", serde_json::json!({"echo": "café ✓"}))
    );
    let all = rust.discover_all();
    assert!(all.contains(&("café".to_string(), cafe_addr)), "{all:?}");
    assert!(
        all.contains(&("ロボット".to_string(), robot_addr)),
        "{all:?}"
    );
}

// ---- Python and Rust on the same host ------------------------------------------------
// Needs the beacon RPC on tcp 127.0.0.1:9998 (issue 5): when Python holds UDP 9999 we
// must ask its beacon; when we hold it, we must serve the RPC to Python.

#[test]
fn same_host_python_first_then_rust() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let box_ = &lan.hosts[0];
    // Python first: it holds UDP 9999 and serves the RPC
    let (mut python, py_addr) = py_advertise_and_find(box_, "same/py", "same/rs", 15);
    let mut rust = Repl::start(box_, "rust");
    let rs_addr = rust.advertise("same/rs");
    assert_eq!(
        rust.discover("same/py", 6.0).as_deref(),
        Some(py_addr.as_str()),
        "Rust finds Python on its box"
    );
    assert_eq!(
        py_expect(&mut python, "FOUND", secs(20.0)),
        rs_addr,
        "Python finds Rust on its box"
    );
    // and a third host sees both
    let mut other = Repl::start(&lan.hosts[1], "other");
    assert_eq!(
        other.discover("same/py", 6.0).as_deref(),
        Some(py_addr.as_str())
    );
    assert_eq!(
        other.discover("same/rs", 6.0).as_deref(),
        Some(rs_addr.as_str())
    );
}

#[test]
fn same_host_rust_first_then_python() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let box_ = &lan.hosts[0];
    // Rust first: it holds UDP 9999 (shared), so Python must use our RPC on 9998
    let mut rust = Repl::start(box_, "rust");
    let rs_addr = rust.advertise("same/rs");
    let (mut python, py_addr) = py_advertise_and_find(box_, "same/py", "same/rs", 10);
    assert_ne!(
        py_addr,
        "None",
        "Python could not advertise next to a Rust program: {}",
        python.stderr()
    );
    assert_eq!(
        py_expect(&mut python, "FOUND", secs(20.0)),
        rs_addr,
        "Python finds Rust on its box"
    );
    assert_eq!(
        rust.discover("same/py", 6.0).as_deref(),
        Some(py_addr.as_str()),
        "Rust finds Python on its box"
    );
    let mut other = Repl::start(&lan.hosts[1], "other");
    assert_eq!(
        other.discover("same/py", 6.0).as_deref(),
        Some(py_addr.as_str())
    );
}

/// Requests a Python beacon would die on, sent to the RPC port our processes serve:
/// each gets a reply, and Python programs on the box still advertise and discover
/// through it afterwards.
#[test]
fn same_host_hostile_rpc_requests_do_not_stop_our_beacon() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let box_ = &lan.hosts[0];
    let mut rust = Repl::start(box_, "rust");
    let rs_addr = rust.advertise("sturdy/rs");
    // `pause` holds the RPC's names back until `resume` (as Python's does).
    let requests: [&[u8]; 13] = [
        b"\xff\xfe not json",
        b"",
        b"[",
        b"{}",
        b"\"stop\"",
        b"[\"stop\"]",
        b"[\"pause\"]",
        b"[\"resume\"]",
        b"[\"advertise\"]",
        b"[\"advertise\", 5, [], \"x\", -1]",
        b"[\"discover\", null, \"soon\"]",
        b"[\"no-such-action\", 1, 2]",
        b"[\"discover_all\"]",
    ];
    let replies = box_.run(|| {
        // a fresh context on the host's thread: its I/O threads live in the host too
        let ctx = zmq::Context::new();
        let mut replies = Vec::new();
        // the RPC server may still be binding: the first request waits longest
        let mut timeout = 5000;
        for r in requests {
            let req = ctx.socket(zmq::REQ).unwrap();
            req.set_linger(0).unwrap();
            req.set_rcvtimeo(timeout).unwrap();
            req.connect("tcp://127.0.0.1:9998").unwrap();
            req.send(r, 0).unwrap();
            replies.push(
                req.recv_bytes(0)
                    .map(|b| String::from_utf8_lossy(&b).into_owned()),
            );
            timeout = 2000;
        }
        replies
    });
    let failed: Vec<_> = requests
        .iter()
        .zip(&replies)
        .filter(|(_, r)| r.is_err())
        .map(|(q, r)| format!("{} -> {r:?}", String::from_utf8_lossy(q)))
        .collect();
    assert!(
        failed.is_empty(),
        "RPC requests with no reply: {failed:?}\n{}",
        rust.stderr()
    );
    let all = replies.last().unwrap().as_ref().unwrap();
    assert!(
        all.contains("sturdy/rs"),
        "discover_all over the RPC after the junk: {all}"
    );

    // a Python program on the box still works through us
    let (mut python, py_addr) = py_advertise_and_find(box_, "sturdy/py", "sturdy/rs", 10);
    assert_ne!(py_addr, "None", "{}", python.stderr());
    assert_eq!(py_expect(&mut python, "FOUND", secs(15.0)), rs_addr);
    let mut other = Repl::start(&lan.hosts[1], "other");
    assert_eq!(
        other.discover("sturdy/py", 6.0).as_deref(),
        Some(py_addr.as_str())
    );
}

/// The pid of the process listening on the beacon RPC port (tcp 127.0.0.1:9998) in
/// `host`, as the kernel says (`ss`), once `want` accepts it (at most `limit`).
fn rpc_server_pid(host: &Host, want: impl Fn(u32) -> bool, limit: Duration) -> Option<u32> {
    let deadline = std::time::Instant::now() + limit;
    let mut last = None;
    while std::time::Instant::now() < deadline {
        let out = host
            .command("ss")
            .args(["-ltnpH", "sport = :9998"])
            .output()
            .expect("run ss (iproute2)");
        // LISTEN 0 100 127.0.0.1:9998 0.0.0.0:* users:(("nw0-peer",pid=123,fd=9))
        last = String::from_utf8_lossy(&out.stdout)
            .split("pid=")
            .nth(1)
            .and_then(|rest| rest.split(',').next()?.parse().ok());
        if last.is_some_and(&want) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    last.filter(|&pid| want(pid))
}

/// Only one process can serve the RPC port; when it exits, another of ours on the box
/// takes over (it retries every 2 s), so a Python program started later still works.
#[test]
fn same_host_rpc_is_taken_over_when_its_server_exits() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let box_ = &lan.hosts[0];
    let mut first = Repl::start(box_, "first");
    let first_addr = first.advertise("relay/first");
    let mut second = Repl::start(box_, "second");
    let second_addr = second.advertise("relay/second");
    // Which of the two serves the RPC is theirs to settle: ask the kernel, then stop
    // that one.
    let ours = [first.child.id(), second.child.id()];
    let holder = rpc_server_pid(box_, |pid| ours.contains(&pid), secs(5.0))
        .unwrap_or_else(|| panic!("neither of {ours:?} serves the RPC port 9998"));
    let (mut server, mut survivor, survivor_name, survivor_addr) = if holder == ours[0] {
        (first, second, "relay/second", second_addr)
    } else {
        (second, first, "relay/first", first_addr)
    };
    server.child.kill();
    let took_over = rpc_server_pid(box_, |pid| pid == survivor.child.id(), secs(5.0));
    assert_eq!(
        took_over,
        Some(survivor.child.id()),
        "the survivor did not take over the RPC port within 5 s: {}",
        survivor.stderr()
    );
    let (mut python, py_addr) = py_advertise_and_find(box_, "relay/py", survivor_name, 10);
    assert_ne!(
        py_addr,
        "None",
        "Python could not advertise after the RPC server exited: {}",
        python.stderr()
    );
    assert_eq!(py_expect(&mut python, "FOUND", secs(15.0)), survivor_addr);
    assert_eq!(
        survivor.discover("relay/py", 6.0).as_deref(),
        Some(py_addr.as_str())
    );
}
