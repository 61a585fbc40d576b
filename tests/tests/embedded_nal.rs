//! The embedded-nal adapter end to end: `enal-node` (src/bin/enal-node.rs, the
//! `networkzero-embedded-nal` poll loop on std sockets through embedded-nal 0.9) on a
//! simulated LAN with Rust networkzero peers (the `nw0` CLI) and a Python networkzero
//! 1.0b1 peer.
//!
//! ```text
//!  host 0  10.200.K.1  enal-node (robot, robot/news) + `nw0 discover` on the same host
//!  host 1  10.200.K.2  nw0 CLI: discover/send/command/watch, `advertise rust-echo --echo`,
//!                      `publish rust-news`
//!  host 2  10.200.K.3  Python networkzero 1.0b1: py-echo; discovers and asks robot
//! ```
//!
//! Proves: the Rust CLI and Python discover `robot` (across the LAN and, through the
//! loopback broadcast, on the node's own host), `nw0 send`/`nw0 command` and Python get
//! replies, `nw0 watch robot/news distance` gets news; the node discovers `rust-echo`
//! and `py-echo` and gets their replies, and gets news from `rust-news`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nw0_tests::*;

/// `target/<profile>/NAME`, next to this test's `deps/` directory.
fn bin(name: &str) -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(profile_dir) = exe.parent().and_then(|deps| deps.parent()) {
            candidates.push(profile_dir.join(name));
        }
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("debug").join(name));
    }
    candidates.push(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/debug")
            .join(name),
    );
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!("{name} not found (tried {candidates:?}): run `cargo build --workspace --all-targets`")
        })
}

/// Runs `nw0 ARGS…` in `host` to its end (killed after `limit`): (exit code, stdout lines).
fn nw0(host: &Host, args: &[&str], limit: Duration) -> (Option<i32>, Vec<String>) {
    let mut cmd = host.command(bin("nw0"));
    cmd.args(args);
    let mut child = ChildGuard::spawn(&mut cmd).expect("spawn nw0");
    let status = child
        .wait_timeout(limit)
        .expect("wait for nw0")
        .unwrap_or_else(|| {
            panic!(
                "nw0 {args:?} still running after {limit:?}: {}",
                child.stderr()
            )
        });
    let mut out = Vec::new();
    while let Ok(line) = child.next_line(Duration::from_secs(2)) {
        out.push(line);
    }
    if status.code() != Some(0) {
        eprintln!(
            "nw0 {args:?} failed ({status}); stderr:\n{}",
            child.stderr()
        );
    }
    (status.code(), out)
}

/// A line the node must print: what it means, and how to recognise it.
type Wanted<'a> = (&'a str, &'a dyn Fn(&str) -> bool);

/// Reads `child`'s lines until every predicate has matched one (in any order), or
/// fails after `limit` listing the ones that did not.
fn expect_all(child: &mut ChildGuard, wanted: &[Wanted<'_>], limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut missing: BTreeSet<usize> = (0..wanted.len()).collect();
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match child.next_line(left) {
            Ok(line) => missing.retain(|&i| !(wanted[i].1)(&line)),
            Err(e) => {
                let names: Vec<&str> = missing.iter().map(|&i| wanted[i].0).collect();
                panic!(
                    "never saw {names:?}: {e}\nenal-node said:\n{}\nstderr: {}",
                    child.stdout_seen().join("\n"),
                    child.stderr()
                );
            }
        }
    }
}

const PY_PEER: &str = r#"
echo = nw0.advertise("py-echo")
print("ADDRESS", echo, flush=True)
robot = nw0.discover("robot", 30)
print("FOUND", robot, flush=True)
print("REPLY", json.dumps(nw0.send_message_to(robot, "hello-from-py", wait_for_reply_s=10)), flush=True)
print("ACK", json.dumps(nw0.send_message_to(robot, "stop", wait_for_reply_s=10)), flush=True)
robot_news = nw0.discover("robot/news", 30)
print("NEWS", json.dumps(nw0.wait_for_news_from(robot_news, "distance", wait_for_s=15)), flush=True)
end = time.time() + 60
while time.time() < end:
    m = nw0.wait_for_message_from(echo, wait_for_s=0.3)
    if m is not None:
        print("GOT", json.dumps(m), flush=True)
        nw0.send_reply_to(echo, m)
"#;

#[test]
fn embedded_nal_node_talks_to_rust_and_python_peers() {
    if !require_netns() {
        return;
    }
    let python = require_python();
    let lan = Lan::new(3);
    let (host0, host1, host2) = (&lan.hosts[0], &lan.hosts[1], &lan.hosts[2]);
    let robot_ip = host0.ip.to_string();

    // The Rust peers on host 1, before the node asks for them.
    let mut echo_cmd = host1.command(bin("nw0"));
    echo_cmd.args(["advertise", "rust-echo", "--echo"]);
    let _echo = ChildGuard::spawn(&mut echo_cmd).expect("spawn nw0 advertise");
    let mut pub_cmd = host1.command(bin("nw0"));
    pub_cmd.args([
        "publish",
        "rust-news",
        "distance",
        "42",
        "--every",
        "0.3",
        "--count",
        "400",
    ]);
    let _publisher = ChildGuard::spawn(&mut pub_cmd).expect("spawn nw0 publish");

    // The Python peer on host 2.
    let mut py_peer = python.as_ref().map(|_| py::spawn(host2, PY_PEER));

    let mut node_cmd = host0.command(bin("enal-node"));
    node_cmd.args(["--ip", &robot_ip, "--prefix", "24", "--seconds", "120"]);
    node_cmd.args(["--ask", "rust-echo", "\"from-enal\""]);
    node_cmd.args(["--watch", "rust-news", "distance"]);
    if python.is_some() {
        node_cmd.args(["--ask", "py-echo", "\"from-enal\""]);
    }
    let mut node = ChildGuard::spawn(&mut node_cmd).expect("spawn enal-node");
    node.expect_line(|l| l.starts_with("READY"), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("enal-node did not start: {e}: {}", node.stderr()));

    // Rust → embedded-nal: discovery (another host and the same host), a message, a
    // command, news.
    let robot = format!("{robot_ip}:5555");
    for (host, where_) in [(host1, "another host"), (host0, "the node's own host")] {
        let (code, out) = nw0(
            host,
            &["discover", "robot", "--wait", "15"],
            Duration::from_secs(30),
        );
        assert_eq!(
            (code, out),
            (Some(0), vec![robot.clone()]),
            "nw0 discover robot on {where_}"
        );
    }
    let (code, out) = nw0(host1, &["send", "robot", "\"hi\""], Duration::from_secs(30));
    if code != Some(0) {
        while let Ok(l) = node.next_line(Duration::from_millis(500)) {
            eprintln!("enal-node: {l}");
        }
        eprintln!("enal-node stderr: {}", node.stderr());
    }
    assert_eq!(
        (code, out),
        (Some(0), vec![r#"{"got":"hi"}"#.to_string()]),
        "nw0 send robot"
    );
    let (code, out) = nw0(
        host1,
        &["command", "robot", "forward"],
        Duration::from_secs(30),
    );
    assert_eq!(
        code,
        Some(0),
        "nw0 command robot forward: not acknowledged: {out:?}"
    );
    let (code, out) = nw0(
        host1,
        &[
            "watch",
            "robot/news",
            "distance",
            "--count",
            "1",
            "--wait",
            "15",
        ],
        Duration::from_secs(40),
    );
    assert_eq!(code, Some(0), "nw0 watch robot/news: {out:?}");
    assert!(
        out.len() == 1 && out[0].starts_with("distance\t{\"cm\":"),
        "nw0 watch robot/news printed {out:?}"
    );

    // Python → embedded-nal.
    if let Some(py) = py_peer.as_mut() {
        let limit = Duration::from_secs(40);
        let found = py.expect_line(|l| l.starts_with("FOUND"), limit).unwrap();
        assert_eq!(found, format!("FOUND {robot}"));
        let reply = py.expect_line(|l| l.starts_with("REPLY"), limit).unwrap();
        assert_eq!(reply, r#"REPLY {"got": "hello-from-py"}"#);
        let ack = py.expect_line(|l| l.starts_with("ACK"), limit).unwrap();
        assert_eq!(ack, r#"ACK "ack""#);
        let news = py.expect_line(|l| l.starts_with("NEWS"), limit).unwrap();
        assert!(news.starts_with(r#"NEWS ["distance", {"cm": "#), "{news}");
    }

    // embedded-nal → Rust and Python: what the node saw and got.
    let rust_ip = host1.ip.to_string();
    let py_ip = host2.ip.to_string();
    let disc_rust = |l: &str| l.starts_with("DISCOVERED rust-echo ") && l.contains(&rust_ip);
    let reply_rust = |l: &str| l == "REPLY rust-echo \"from-enal\"";
    let news_rust = |l: &str| l == "NEWS rust-news distance 42";
    let req_hi = |l: &str| l == "REQUEST \"hi\"";
    let req_fwd = |l: &str| l == "REQUEST \"forward\"";
    let disc_py = |l: &str| l.starts_with("DISCOVERED py-echo ") && l.contains(&py_ip);
    let reply_py = |l: &str| l == "REPLY py-echo \"from-enal\"";
    let req_py = |l: &str| l == "REQUEST \"hello-from-py\"";
    let mut wanted: Vec<Wanted<'_>> = vec![
        ("discovered rust-echo", &disc_rust),
        ("reply from rust-echo", &reply_rust),
        ("news from rust-news", &news_rust),
        ("request \"hi\" from nw0 send", &req_hi),
        ("command forward from nw0 command", &req_fwd),
    ];
    if python.is_some() {
        wanted.push(("discovered py-echo", &disc_py));
        wanted.push(("reply from py-echo", &reply_py));
        wanted.push(("request from Python", &req_py));
    }
    expect_all(&mut node, &wanted, Duration::from_secs(60));
    eprintln!("enal-node said:\n{}", node.stdout_seen().join("\n"));
    if let Some(py) = py_peer.as_mut() {
        py.expect_line(|l| l == r#"GOT "from-enal""#, Duration::from_secs(20))
            .unwrap();
    }
}
