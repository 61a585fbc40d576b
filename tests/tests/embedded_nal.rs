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

use std::time::Duration;

use nw0_tests::node::{NodeScenario, RustPeers};
use nw0_tests::*;

#[test]
fn embedded_nal_node_talks_to_rust_and_python_peers() {
    let Some((lan, python)) = require_lan_maybe_python(3) else {
        return;
    };
    let (host0, host1, host2) = (&lan.hosts[0], &lan.hosts[1], &lan.hosts[2]);
    let robot_ip = host0.ip.to_string();
    let scenario = NodeScenario {
        label: "enal-node",
        robot: format!("{robot_ip}:5555"),
        robot_news: "robot/news",
        tag: "\"from-enal\"",
        py_news: false,
    };

    // The Rust peers on host 1, before the node asks for them.
    let _rust_peers = RustPeers::spawn(host1);

    // The Python peer on host 2.
    let mut py_peer = python
        .as_ref()
        .map(|_| py::spawn(host2, &scenario.python_peer()));

    let mut node_args = vec!["--ip", &robot_ip, "--prefix", "24", "--seconds", "120"];
    node_args.extend(scenario.node_args(python.is_some()));
    let mut node = spawn_bin(host0, "enal-node", &node_args);
    node.expect_line(|l| l.starts_with("READY"), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("enal-node did not start: {e}: {}", node.stderr()));

    // Rust → embedded-nal: discovery (another host and the same host), a message, a
    // command, news.
    scenario.check_discovered(host1, "another host");
    scenario.check_discovered(host0, "the node's own host");
    scenario.check_cli(host1, &mut node);

    // Python → embedded-nal.
    if let Some(py) = py_peer.as_mut() {
        scenario.check_python(py);
    }

    // embedded-nal → Rust and Python: what the node saw and got.
    scenario.expect_node_heard(&mut node, host1, py_peer.as_mut().map(|py| (host2, py)));
}
