//! The smoltcp adapter end to end: `smoltcp-node` (src/bin/smoltcp-node.rs, the
//! `networkzero-smoltcp` poll loop on a Linux TAP device, with its own IP 10.200.K.50 and
//! its own TCP/IP stack) on a simulated LAN with a Rust networkzero host (the `nw0` CLI)
//! and a Python networkzero 1.0b1 host.
//!
//! ```text
//!  host 0 (nw0 CLI)  10.200.K.1 ──┐
//!  host 1 (Python)   10.200.K.2 ──┼── br0 (switch ns) ── tap0 ── smoltcp-node 10.200.K.50
//! ```
//!
//! Proves, both ways with each peer: discovery (the smoltcp node finds `rust-echo`,
//! `rust-news`, `py-echo`, `py-news`; the Rust and Python peers find `robot` and
//! `robot-news` at 10.200.K.50), request/reply (`nw0 send`/`nw0 command` and Python
//! `send_message_to` to the node; the node's requesters to the Rust and Python echo
//! servers) and news (`nw0 watch` and Python `wait_for_news_from` on the node's
//! `distance` news; the node's subscribers to Rust and Python publishers).

use std::time::Duration;

use nw0_tests::node::{NodeScenario, RustPeers};
use nw0_tests::*;

#[test]
fn smoltcp_node_talks_to_rust_and_python_peers() {
    let Some((lan, python)) = require_lan_maybe_python(2) else {
        return;
    };
    lan.add_tap("tap0").expect("make and bridge tap0");
    let robot_ip = lan.ip(50).to_string();
    let gateway = lan.gateway().to_string();
    let scenario = NodeScenario {
        label: "smoltcp-node",
        robot: format!("{robot_ip}:5555"),
        robot_news: "robot-news",
        tag: "\"from-smol\"",
        py_news: true,
    };

    let mut node_args = vec!["--tap", "tap0", "--ip", &robot_ip, "--gateway", &gateway];
    node_args.extend(["--seconds", "120"]);
    node_args.extend(scenario.node_args(python.is_some()));
    let mut node = spawn_bin(&lan.switch, "smoltcp-node", &node_args);
    node.expect_line(|l| l.starts_with("READY"), Duration::from_secs(10))
        .unwrap();

    // The Rust peers on host 0.
    let host0 = &lan.hosts[0];
    let _rust_peers = RustPeers::spawn(host0);

    // The Python peer on host 1.
    let mut py_peer = python
        .as_ref()
        .map(|_| py::spawn(&lan.hosts[1], &scenario.python_peer()));

    // Rust → smoltcp: discovery, a message, a command, news.
    scenario.check_discovered(host0, "another host");
    scenario.check_cli(host0, &mut node);

    // Python → smoltcp.
    if let Some(py) = py_peer.as_mut() {
        scenario.check_python(py);
    }

    // smoltcp → Rust and Python: what the node saw and got.
    scenario.expect_node_heard(
        &mut node,
        host0,
        py_peer.as_mut().map(|py| (&lan.hosts[1], py)),
    );
}
