//! Messages, commands and news between separate processes (the `nw0-peer` test binary),
//! across the hosts of a simulated LAN and on one isolated host.

#[path = "../src/bin/nw0-peer/drive.rs"]
mod drive;

use std::time::Instant;

use drive::{address, expect, ip_of, secs, spawn, split, Repl};
use nw0_tests::*;

/// The JSON of a `REPLY <json> <ms>` line's rest, parsed.
fn reply_value(rest: &str) -> serde_json::Value {
    let json = rest.rsplit_once(' ').map_or(rest, |(json, _ms)| json);
    serde_json::from_str(json).unwrap_or_else(|e| panic!("reply not JSON ({e}): {rest}"))
}

/// `nw0-peer advertise NAME [--at ADDR] --serve MODE --for 30` in `host`: the server
/// (once it printed its address) and its address.
fn serve(host: &Host, name: &str, at: Option<&str>, mode: &str) -> (ChildGuard, String) {
    let mut args = vec!["advertise", name];
    if let Some(at) = at {
        args.extend(["--at", at]);
    }
    args.extend(["--serve", mode, "--for", "30"]);
    let mut server = spawn(host, &args);
    let addr = address(&mut server);
    (server, addr)
}

/// The repl's `send TO MESSAGE WAIT_S` (finished within `limit`): `REPLY` or
/// `NOREPLY`, and the rest of that line.
#[track_caller]
fn send(client: &mut Repl, to: &str, message: &str, wait_s: f64, limit: f64) -> (String, String) {
    client.run_expect(
        &format!("send\t{to}\t{message}\t{wait_s}"),
        &["REPLY", "NOREPLY"],
        secs(limit),
    )
}

#[test]
fn request_reply_across_hosts() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(3);
    let (mut hello, _) = serve(&lan.hosts[0], "hello", None, "hello");
    let (_echo, addr_echo) = serve(&lan.hosts[1], "echo", None, "echo");
    assert_eq!(ip_of(&addr_echo), lan.hosts[1].ip.to_string());

    let mut client = Repl::start(&lan.hosts[2], "client");
    let (kind, rest) = send(&mut client, "hello", "\"World\"", 5.0, 20.0);
    assert_eq!(kind, "REPLY", "{}", client.stderr());
    assert_eq!(reply_value(&rest), serde_json::json!("Hello, World"));
    assert_eq!(expect(&mut hello, "MESSAGE", secs(2.0)), "\"World\"");

    let message = serde_json::json!({"list": [1, 2.5, -3, {"b": null}], "text": "café ロボット", "yes": true, "nested": [[]]});
    let (kind, rest) = send(&mut client, "echo", &message.to_string(), 5.0, 20.0);
    assert_eq!(kind, "REPLY", "{}", client.stderr());
    assert_eq!(reply_value(&rest), message, "echoed exactly");

    // many round trips in a row on the cached socket
    for i in 0..20 {
        let (kind, rest) = send(&mut client, &addr_echo, &i.to_string(), 5.0, 10.0);
        assert_eq!(
            (kind.as_str(), reply_value(&rest)),
            ("REPLY", serde_json::json!(i))
        );
    }
}

/// `nw0-peer command TO COMMAND WAIT_S` in `host` (within 10 s): asserts it was not
/// acknowledged (exit 1, only `NOTACKED` printed) and returns its stderr.
#[track_caller]
fn command_not_acked(host: &Host, to: &str, command: &str, wait_s: &str) -> String {
    let (lines, code, stderr) = drive::run(host, &["command", to, command, wait_s], secs(10.0));
    assert_eq!(
        (code, lines.as_slice()),
        (Some(1), ["NOTACKED".to_string()].as_slice()),
        "{stderr}"
    );
    stderr
}

#[test]
fn commands_are_acked_and_unacked_ones_warn() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(2);
    let mut robot = spawn(&lan.hosts[0], &["serve-commands", "robot", "3", "30"]);
    let addr_robot = address(&mut robot);
    let (lines, code, stderr) =
        drive::run(&lan.hosts[1], &["command", "robot", "forward"], secs(15.0));
    assert_eq!(code, Some(0), "{lines:?} {stderr}");
    assert_eq!(lines.last().map(String::as_str), Some("ACKED"), "{lines:?}");
    assert_eq!(expect(&mut robot, "COMMAND", secs(2.0)), "\"forward\"");

    // nothing answers at this address: false after the wait, with a warning
    let nobody = format!("{}:9", lan.hosts[0].ip);
    let start = Instant::now();
    let stderr = command_not_acked(&lan.hosts[1], &nobody, "left", "1");
    assert!(
        start.elapsed() < secs(5.0),
        "an unacked command with a 1 s wait took {:?}",
        start.elapsed()
    );
    assert!(
        stderr.contains("warning"),
        "no warning for an unacked command: {stderr:?}"
    );

    // a server that receives but never replies: unacked too
    let (mut mute, addr_mute) = serve(&lan.hosts[0], "mute", None, "silent");
    let stderr = command_not_acked(&lan.hosts[1], &addr_mute, "right", "1");
    assert!(stderr.contains("warning"), "{stderr:?}");
    assert_eq!(expect(&mut mute, "MESSAGE", secs(2.0)), "\"right\"");

    // answered, but not with "ack" (an echo server): not acknowledged either
    let (mut echo, addr_echo) = serve(&lan.hosts[0], "parrot", None, "echo");
    let stderr = command_not_acked(&lan.hosts[1], &addr_echo, "jump", "5");
    assert!(
        stderr.contains("instead of"),
        "no warning for a non-ack answer: {stderr:?}"
    );
    assert_eq!(expect(&mut echo, "MESSAGE", secs(2.0)), "\"jump\"");

    // and the robot still takes commands
    let (lines, code, _) = drive::run(&lan.hosts[1], &["command", &addr_robot, "stop"], secs(15.0));
    assert_eq!(
        (code, lines.last().map(String::as_str)),
        (Some(0), Some("ACKED"))
    );
    assert_eq!(expect(&mut robot, "COMMAND", secs(2.0)), "\"stop\"");
}

fn news(lines: &[String]) -> Vec<(String, serde_json::Value)> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("NEWS "))
        .map(|j| {
            serde_json::from_str::<(String, serde_json::Value)>(j)
                .unwrap_or_else(|e| panic!("{e}: {j}"))
        })
        .collect()
}

#[test]
fn news_with_prefixes_across_hosts() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(3);
    // 80 rounds, every 100 ms: subscribers that join late still get plenty
    let data = r#"{"t":21.5,"where":"café"}"#;
    let mut publisher = spawn(
        &lan.hosts[0],
        &[
            "publish",
            "weather",
            "temp.in,temp.out,wind",
            data,
            "80",
            "100",
        ],
    );
    address(&mut publisher);
    let want: serde_json::Value = serde_json::from_str(data).unwrap();

    // four subscribers at once, on two hosts
    let (temps, every, wind, none) = std::thread::scope(|s| {
        let (h1, h2) = (&lan.hosts[1], &lan.hosts[2]);
        let temps =
            s.spawn(|| drive::run(h1, &["watch", "weather", "temp.", "6", "5"], secs(20.0)));
        let every = s.spawn(|| drive::run(h2, &["watch", "weather", "", "6", "5"], secs(20.0)));
        let wind = s.spawn(|| drive::run(h1, &["watch", "weather", "wind", "2", "5"], secs(20.0)));
        let none = drive::run(h2, &["watch", "weather", "rain", "1", "1"], secs(20.0));
        (
            temps.join().unwrap(),
            every.join().unwrap(),
            wind.join().unwrap(),
            none,
        )
    });

    let got = news(&temps.0);
    assert_eq!(
        (temps.1, got.len()),
        (Some(0), 6),
        "{:?} {}",
        temps.0,
        temps.2
    );
    assert!(
        got.iter()
            .all(|(t, d)| t.starts_with("temp.") && *d == want),
        "{got:?}"
    );
    assert!(
        got.iter().any(|(t, _)| t == "temp.in") && got.iter().any(|(t, _)| t == "temp.out"),
        "{got:?}"
    );

    let got = news(&every.0);
    assert_eq!(
        (every.1, got.len()),
        (Some(0), 6),
        "{:?} {}",
        every.0,
        every.2
    );
    let topics: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    for t in ["temp.in", "temp.out", "wind"] {
        assert!(
            topics.contains(&t),
            "the empty prefix missed {t}: {topics:?}"
        );
    }

    let got = news(&wind.0);
    assert_eq!((wind.1, got.len()), (Some(0), 2), "{:?} {}", wind.0, wind.2);
    assert!(got.iter().all(|(t, _)| t == "wind"), "{got:?}");

    assert_eq!(none.1, Some(1), "{:?} {}", none.0, none.2);
    assert!(none.0.iter().any(|l| l == "NONEWS"), "{:?}", none.0);
    assert!(news(&none.0).is_empty());
}

#[test]
fn lost_reply_resets_the_socket_and_the_next_send_succeeds() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut client = Repl::start(&host, "client");
    // a free port: nothing listens there yet
    let mut probe = spawn(&host, &["advertise", "probe", "--for", "0"]);
    let spot = address(&mut probe);
    drop(probe);

    let (kind, rest) = send(&mut client, &spot, "\"first\"", 0.5, 10.0);
    assert_eq!(kind, "NOREPLY", "{rest}");
    assert!(
        client.stderr_has("warning", secs(5.0)),
        "no warning for the lost reply: {}",
        client.stderr()
    );

    // now a working server at that address: the very next send gets its reply
    let (server, at) = serve(&host, "zombie-cure", Some(&spot), "echo");
    assert_eq!(at, spot);
    let (kind, rest) = send(&mut client, &spot, "\"second\"", 5.0, 10.0);
    assert_eq!(
        (kind.as_str(), reply_value(&rest)),
        ("REPLY", serde_json::json!("second")),
        "{}",
        client.stderr()
    );

    // a server that takes the message and never answers, replaced by a working one
    drop(server);
    let (mut mute, _) = serve(&host, "mute", Some(&spot), "silent");
    let (kind, _) = send(&mut client, &spot, "\"third\"", 0.5, 10.0);
    assert_eq!(kind, "NOREPLY");
    assert_eq!(expect(&mut mute, "MESSAGE", secs(2.0)), "\"third\"");
    drop(mute);
    let _server = serve(&host, "zombie-cure", Some(&spot), "echo");
    let (kind, rest) = send(&mut client, &spot, "\"fourth\"", 5.0, 10.0);
    assert_eq!(
        (kind.as_str(), reply_value(&rest)),
        ("REPLY", serde_json::json!("fourth")),
        "{}",
        client.stderr()
    );
}

#[test]
fn non_json_request_gets_a_reply_and_does_not_wedge_the_server() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let (mut server, addr) = serve(&host, "sturdy-echo", None, "echo");
    let endpoint = format!("tcp://{addr}");
    // raw libzmq from the test process, inside the host: a fresh context made on the
    // host's thread, so its I/O threads live in the host's namespace too
    let replies = host.run(move || {
        let ctx = zmq::Context::new();
        let req = ctx.socket(zmq::REQ).unwrap();
        req.set_linger(0).unwrap();
        req.set_rcvtimeo(5000).unwrap();
        req.connect(&endpoint).unwrap();
        let mut replies = Vec::new();
        for payload in [
            &b"\xff\x00 not json {"[..],
            b"",
            b"{\"unterminated\": ",
            b"\"valid\"",
        ] {
            req.send(payload, 0).unwrap();
            replies.push(req.recv_bytes(0).map_err(|e| e.to_string()));
        }
        replies
    });
    assert_eq!(
        replies,
        [
            Ok(b"null".to_vec()),
            Ok(b"null".to_vec()),
            Ok(b"null".to_vec()),
            Ok(b"\"valid\"".to_vec())
        ],
        "replies to raw requests: {}",
        server.stderr()
    );
    assert_eq!(
        expect(&mut server, "MESSAGE", secs(2.0)),
        "\"valid\"",
        "only the JSON one is a message"
    );
    let (lines, code, stderr) = drive::run(&host, &["send", &addr, "[1,2]", "5"], secs(10.0));
    assert_eq!(code, Some(0), "{lines:?} {stderr}");
    assert_eq!(
        reply_value(lines[0].strip_prefix("REPLY ").unwrap()),
        serde_json::json!([1, 2])
    );
    assert!(
        server.stderr_has("not JSON", secs(5.0)),
        "no warning about the bad message: {}",
        server.stderr()
    );
}

#[test]
fn a_socket_used_from_a_second_thread_is_a_different_thread_error() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let (_server, addr) = serve(&host, "threads", None, "echo");
    let (lines, code, stderr) = drive::run(&host, &["thread-check", &addr], secs(15.0));
    assert_eq!(code, Some(0), "{lines:?} {stderr}");
    let get = |kind: &str| {
        lines
            .iter()
            .map(|l| split(l))
            .find(|(k, _)| *k == kind)
            .map(|(_, r)| r.to_string())
            .unwrap_or_else(|| panic!("no {kind} line: {lines:?} {stderr}"))
    };
    assert!(get("SAME").starts_with("OK Some("), "{lines:?}");
    assert!(
        get("OTHER").starts_with("DifferentThread "),
        "send_message from a second thread: {lines:?}"
    );
    assert!(
        get("OTHER").contains(&addr),
        "the error names the address: {lines:?}"
    );
    assert!(
        get("OTHER-LISTEN").starts_with("DifferentThread "),
        "wait_for_message from a second thread: {lines:?}"
    );
    assert!(
        get("SAME-AGAIN").starts_with("OK Some("),
        "the first thread's socket still works: {lines:?}"
    );
}

/// One address, one job: in a program that waits for messages on a port, publishing
/// news on that same port is `WrongUse`, refused before any socket is tried, while
/// news on a port of its own goes out (the positive control: the refusal is about the
/// port, not about having a listening socket at all). And nothing here listens on
/// another computer's address: waiting for messages there is `NotLocal`.
#[test]
fn each_port_has_one_job_and_only_this_computers_addresses_listen() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut peer = Repl::start(&host, "jobs");
    let (_, at) = peer.run_expect(
        "advertise\tserver\t--serve\techo\t--for\t0.1",
        &["ADDRESS"],
        secs(10.0),
    );
    let (kind, rest) = peer.run_expect(
        &format!("publish\t{at}\tt\t1\t1\t0"),
        &["ERROR", "PUBLISHED"],
        secs(10.0),
    );
    assert_eq!(
        kind, "ERROR",
        "news on a port that waits for messages: {rest}"
    );
    assert!(
        rest.contains("is already used to wait for messages"),
        "a WrongUse error, not a failed listen: {rest}"
    );
    let (kind, rest) = peer.run_expect(
        "publish\tnews\tt\t1\t1\t0",
        &["ERROR", "PUBLISHED"],
        secs(10.0),
    );
    assert_eq!(
        (kind.as_str(), rest.as_str()),
        ("PUBLISHED", "1"),
        "news on a port of its own: {}",
        peer.stderr()
    );

    // 10.200.0.99 is no address of this host (an isolated host has only loopback)
    let (kind, rest) = peer.run_expect(
        "advertise\tfar\t--at\t10.200.0.99:5555\t--serve\techo\t--for\t0.1",
        &["ERROR", "BYE"],
        secs(10.0),
    );
    assert_eq!(
        kind, "ERROR",
        "listening on another computer's address: {rest}"
    );
    assert!(
        rest.contains("is not an address of this computer"),
        "a NotLocal error: {rest}"
    );
}

/// A program that acknowledges a command (or sends a reply) and then exits at once,
/// as a "stop" command handler does, must still get the acknowledgement out. Python
/// networkzero 1.0b1 does (checked: 3 of 3); lost replies make the sender warn "no ack".
#[test]
fn ack_sent_just_before_exit_is_delivered() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut lost = Vec::new();
    for round in 0..5 {
        let mut robot = spawn(&host, &["serve-commands", "quitter", "1", "20"]);
        let addr = address(&mut robot);
        let (lines, code, stderr) = drive::run(&host, &["command", &addr, "stop", "2"], secs(10.0));
        assert!(matches!(code, Some(0 | 1)), "{lines:?} {stderr}");
        assert_eq!(expect(&mut robot, "COMMAND", secs(2.0)), "\"stop\"");
        if lines.last().map(String::as_str) != Some("ACKED") {
            lost.push(round);
        }
        // And the flush at exit is bounded: the robot has exited, successfully.
        let status = robot
            .wait_timeout(secs(5.0))
            .expect("waiting for the robot");
        assert!(
            status.is_some_and(|s| s.success()),
            "the robot did not exit after its last command: {status:?}"
        );
    }
    assert!(
        lost.is_empty(),
        "the ack was lost when the robot exited right after sending it, in rounds {lost:?} of 0..5"
    );
}

/// `n` nw0-peer watchers of all news at `at` (`items` each, 10 s patience), each
/// already in its first wait (it said WATCHING, then starts connecting) before this
/// returns: subscribers "already waiting" for a publisher started next.
fn watching(host: &Host, at: &str, items: usize, n: usize) -> Vec<ChildGuard> {
    let items = items.to_string();
    let mut watchers: Vec<_> = (0..n)
        .map(|_| spawn(host, &["watch", at, "", &items, "10"]))
        .collect();
    for w in &mut watchers {
        w.expect_line(|l| l.starts_with("WATCHING"), secs(10.0))
            .unwrap();
    }
    watchers
}

/// Several subscribers already waiting when a publisher starts all get its first item,
/// not only the first to subscribe: each retries its connection every 100 ms at its own
/// moment, and the first item waits until all of them have had time to come
/// (`FIRST_NEWS_JOIN`). A class waiting for a teacher's first item mostly missed it
/// when the item went as soon as one subscriber had joined.
#[test]
fn every_subscriber_already_waiting_gets_the_first_item() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    const WATCHERS: usize = 5;
    for round in 0..3 {
        let at = format!("127.0.0.1:{}", 46100 + round);
        let mut watchers = watching(&host, &at, 1, WATCHERS);
        let (lines, code, stderr) =
            drive::run(&host, &["publish", &at, "t", "1", "1", "0"], secs(10.0));
        assert_eq!(
            code,
            Some(0),
            "the publisher exits by itself: {lines:?} {stderr}"
        );
        let missed: Vec<(usize, String)> = watchers
            .iter_mut()
            .enumerate()
            .filter_map(|(i, w)| {
                match w.expect_line(
                    |l| l.starts_with("NEWS") || l.starts_with("NONEWS"),
                    secs(10.0),
                ) {
                    Ok(line) if line.starts_with("NEWS") => None,
                    other => Some((i, format!("{other:?}"))),
                }
            })
            .collect();
        assert!(
            missed.is_empty(),
            "round {round}: watchers missed the publisher's only item: {missed:?}"
        );
    }
}

/// A subscriber already waiting when a publisher starts gets the publisher's first item:
/// the first `publish_news` waits until the subscriber (retrying its connection) has
/// subscribed — an observed event, not a fixed sleep. And it gets the last items,
/// published just before the publisher exits: the exit hook flushes them (bounded), and
/// the publisher exits.
#[test]
fn first_and_last_news_reach_a_subscriber_already_waiting() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    const ITEMS: usize = 20;
    for round in 0..3 {
        let at = format!("127.0.0.1:{}", 46000 + round);
        let mut watcher = watching(&host, &at, ITEMS, 1).pop().expect("one watcher");
        let (lines, code, stderr) = drive::run(
            &host,
            &["publish", &at, "t", "1", &ITEMS.to_string(), "0"],
            secs(10.0),
        );
        assert_eq!(
            code,
            Some(0),
            "the publisher exits by itself: {lines:?} {stderr}"
        );
        let mut got = 0;
        while got < ITEMS {
            match watcher.expect_line(
                |l| l.starts_with("NEWS") || l.starts_with("NONEWS"),
                secs(10.0),
            ) {
                Ok(line) if line.starts_with("NEWS") => got += 1,
                other => panic!(
                    "round {round}: the subscriber got {got} of {ITEMS} items, then {other:?}"
                ),
            }
        }
    }
}
