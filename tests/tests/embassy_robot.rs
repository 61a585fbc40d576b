//! The Pico W robot's network path on a Linux host: `embassy-robot`
//! (src/bin/embassy-robot.rs) runs the firmware's own task source
//! (examples/pico-w-robot-task) on Embassy's std executor, embassy-net and
//! networkzero-embassy-net over a TAP device, and gets its address from a real DHCP
//! server (dnsmasq) on a simulated LAN with a Rust host (the `nw0` CLI) and a Python
//! networkzero 1.0b1 host.
//!
//! ```text
//!  host 0 (nw0 CLI)  10.200.K.1 ──┐
//!  host 1 (Python)   10.200.K.2 ──┼── br0 10.200.K.254 + dnsmasq ── tap0 ── embassy-robot (DHCP)
//! ```
//!
//! Proves: it gets a lease and is discovered by name (nw0 and Python); commands are
//! acknowledged (and reach the motors); news arrives; a message larger than the
//! robot's 256-byte buffers gets a clear answer (a hard error naming the limit from
//! nw0, an error reply for Python) and a log line on the robot; the link goes down
//! and up, the DHCP server now hands out another address, and the robot is found
//! again at its new address and takes commands there.

use std::path::Path;
use std::time::{Duration, Instant};

use nw0_tests::*;

/// dnsmasq serving `address` alone (so the next server's address differs) on the
/// switch's br0, leases in `dir`; returns once it listens. It offers at once
/// (`--no-ping`: dnsmasq's default is to ping an address for 3 s before offering it,
/// a server's policy that would only add 3 s to every lease here).
fn dhcp_server(lan: &Lan, address: &str, dir: &Path) -> ChildGuard {
    let leases = dir.join(format!("leases-{address}"));
    let mut cmd = lan.switch.command("dnsmasq");
    cmd.args([
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        "--interface=br0",
        "--bind-interfaces",
        "--dhcp-authoritative",
        "--user=root",
        "--pid-file=",
        "--no-ping",
        "--log-dhcp",
        // Its log on stdout: the test reads when it listens.
        "--log-facility=/dev/stdout",
    ])
    .arg(format!("--dhcp-range={address},{address},2m"))
    .arg(format!("--dhcp-leasefile={}", leases.display()));
    let mut dnsmasq =
        ChildGuard::spawn(&mut cmd).unwrap_or_else(|e| panic!("cannot start dnsmasq: {e}"));
    dnsmasq
        .expect_line(
            |l| l.contains("DHCP, sockets bound exclusively to interface br0"),
            Duration::from_secs(10),
        )
        .unwrap_or_else(|e| panic!("dnsmasq did not start: {e}\n{}", dnsmasq.stderr()));
    dnsmasq
}

fn require_dnsmasq() -> bool {
    let ok = std::process::Command::new("dnsmasq")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip_or_panic(
            "dnsmasq not found",
            "sudo apt-get install dnsmasq-base (outside the namespace; .ci/run and, as root, \
             tests/run.sh do)",
        );
    }
    ok
}

/// Waits for the robot's log line `line` (exact) and returns when it came.
#[track_caller]
fn robot_says(robot: &mut ChildGuard, line: &str, limit: Duration) -> Instant {
    robot
        .expect_line(|l| l == line, limit)
        .unwrap_or_else(|e| panic!("the robot did not say {line:?}: {e}"));
    Instant::now()
}

#[test]
fn embassy_robot_gets_a_lease_and_survives_a_link_flap() {
    let Some((lan, python)) = require_lan_maybe_python(2) else {
        return;
    };
    if !require_dnsmasq() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("nw0-embassy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    lan.add_tap("tap0").expect("make and bridge tap0");
    let first = lan.ip(50).to_string();
    let second = lan.ip(60).to_string();

    let mut dhcp = dhcp_server(&lan, &first, &dir);
    let mut robot = spawn_bin(
        &lan.switch,
        "embassy-robot",
        &["--tap", "tap0", "--seconds", "170"],
    );
    robot
        .expect_line(|l| l == "READY tap0", Duration::from_secs(10))
        .unwrap();

    // A lease from dnsmasq, then discovered by name.
    robot_says(
        &mut robot,
        &format!("INFO address {first} (DHCP)"),
        Duration::from_secs(30),
    );
    let host0 = &lan.hosts[0];
    let at_first = format!("{first}:5555");
    run_nw0(
        host0,
        &["discover", "robot", "--wait", "15"],
        Duration::from_secs(30),
    )
    .expect_code(0, "nw0 discover robot")
    .expect_stdout(&[&at_first], "nw0 discover robot");

    // Commands are acknowledged and reach the motors; news arrives.
    run_nw0(
        host0,
        &["command", "robot", "forward"],
        Duration::from_secs(30),
    )
    .expect_code(0, "nw0 command robot forward: not acknowledged");
    robot_says(&mut robot, "MOTORS forward", Duration::from_secs(5));
    let ran = run_nw0(
        host0,
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
    ran.expect_code(0, "nw0 watch robot/news");
    assert!(
        ran.stdout.len() == 1
            && ran.stdout[0]
                .strip_prefix("distance\t")
                .is_some_and(|cm| cm.parse::<u32>().is_ok_and(|cm| (10..=80).contains(&cm))),
        "nw0 watch robot/news printed {:?}",
        ran.stdout
    );

    // Larger than the robot's buffers: a hard error naming the limit, a log line there.
    let big = format!("\"{}\"", "x".repeat(300));
    let ran = run_nw0(host0, &["send", "robot", &big], Duration::from_secs(30));
    assert_ne!(
        ran.code,
        Some(0),
        "nw0 send of 302 bytes should fail\n{ran:#?}"
    );
    assert!(
        ran.stderr
            .contains("message too large: 302 bytes, and it takes at most 256"),
        "nw0 send's error should name the limit\n{ran:#?}"
    );
    robot_says(
        &mut robot,
        "WARN a request of 302 bytes is larger than this robot takes (256 bytes): answered with an error reply",
        Duration::from_secs(5),
    );
    // The connection goes on: the next command from the same kind of peer works.
    run_nw0(
        host0,
        &["command", "robot", "stop"],
        Duration::from_secs(30),
    )
    .expect_code(0, "nw0 command robot stop after the large message");

    // Python: discovery, a command, news, and the large message's error reply.
    if python.is_some() {
        let mut py = py::spawn(
            &lan.hosts[1],
            r#"robot = nw0.discover("robot", 30)
print("FOUND", robot, flush=True)
print("ACK", json.dumps(nw0.send_message_to(robot, "left", wait_for_reply_s=10)), flush=True)
print("BIG", json.dumps(nw0.send_message_to(robot, "y" * 300, wait_for_reply_s=10)), flush=True)
news = nw0.discover("robot/news", 30)
print("NEWS", json.dumps(nw0.wait_for_news_from(news, "distance", wait_for_s=15)), flush=True)
"#,
        );
        let limit = Duration::from_secs(40);
        let found = py.expect_line(|l| l.starts_with("FOUND"), limit).unwrap();
        assert_eq!(found, format!("FOUND {at_first}"));
        let ack = py.expect_line(|l| l.starts_with("ACK"), limit).unwrap();
        assert_eq!(ack, r#"ACK "ack""#);
        let big = py.expect_line(|l| l.starts_with("BIG"), limit).unwrap();
        assert_eq!(
            big,
            r#"BIG {"networkzero_error": "message too large", "size": 302, "limit": 256}"#
        );
        let news = py.expect_line(|l| l.starts_with("NEWS"), limit).unwrap();
        assert!(news.starts_with(r#"NEWS ["distance", "#), "{news}");
        robot_says(&mut robot, "MOTORS left", Duration::from_secs(5));
    }

    // The link goes down (the TAP leaves the bridge, as a Wi-Fi link is lost), the DHCP
    // server changes (it now hands out another address), the link comes back.
    drop(dhcp);
    lan.switch
        .ip(&["link", "set", "tap0", "nomaster"])
        .expect("unplug tap0");
    robot_says(&mut robot, "WARN address lost", Duration::from_secs(10));
    dhcp = dhcp_server(&lan, &second, &dir);
    lan.switch
        .ip(&["link", "set", "tap0", "master", "br0"])
        .expect("plug tap0 back");
    let plugged = Instant::now();
    let leased = robot_says(
        &mut robot,
        &format!("INFO address {second} (DHCP)"),
        Duration::from_secs(30),
    );
    let at_second = format!("{second}:5555");
    run_nw0(
        host0,
        &["discover", "robot", "--wait", "15"],
        Duration::from_secs(30),
    )
    .expect_code(0, "nw0 discover robot after the link flap")
    .expect_stdout(&[&at_second], "nw0 discover robot after the link flap");
    let found = Instant::now();
    eprintln!(
        "link back → new lease in {:.1} s, found at {at_second} by nw0 {:.1} s after the link came back",
        (leased - plugged).as_secs_f64(),
        (found - plugged).as_secs_f64()
    );
    run_nw0(
        host0,
        &["command", "robot", "right"],
        Duration::from_secs(30),
    )
    .expect_code(0, "nw0 command robot right at the new address");
    robot_says(&mut robot, "MOTORS right", Duration::from_secs(5));
    if python.is_some() {
        let mut py = py::spawn(&lan.hosts[1], &py::discoverer("robot", 20.0));
        let found = py
            .expect_line(|l| l.starts_with("FOUND"), Duration::from_secs(30))
            .unwrap();
        assert_eq!(
            found,
            format!("FOUND {at_second}"),
            "Python after the link flap"
        );
    }
    eprintln!("embassy-robot said:\n{}", robot.stdout_seen().join("\n"));
    drop(dhcp);
    let _ = std::fs::remove_dir_all(&dir);
}
