//! The `nw0` command-line tool, run as separate processes inside simulated hosts,
//! against Rust peers (other `nw0` processes, and a Rust `wait_for_command` peer) and
//! Python networkzero 1.0b1 peers: on one isolated host and across a simulated LAN.
//!
//! The `nw0` binary is the one `cargo build --workspace --all-targets` (run by
//! `tests/run.sh`) put next to this test executable.
//!
//! Python peers run on LAN hosts of their own: a Python beacon binds UDP 9999 without
//! sharing it, so on a host where a Rust process already holds 9999 it falls back to
//! RPC with a beacon on TCP 127.0.0.1:9998. Same-host mixes are in
//! `same_host_python_peer_and_nw0`.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use nw0_tests::*;

const LINE: Duration = Duration::from_secs(15);

/// A Python snippet's `PREFIX value` line, the value returned.
fn py_value(child: &mut ChildGuard, prefix: &str) -> String {
    let line = child
        .expect_line(|l| l.starts_with(prefix), Duration::from_secs(30))
        .unwrap();
    line[prefix.len()..].trim().to_string()
}

// ---------------------------------------------------------------------------------
// A Rust `wait_for_command` peer: this test executable, run again in a host with
// NW0_CLI_PEER=NAME, advertises NAME and acknowledges commands, printing each.

#[test]
fn rust_command_peer() {
    let Ok(name) = std::env::var("NW0_CLI_PEER") else {
        return;
    };
    let address = networkzero::advertise(&name).expect("advertise");
    println!("ADDRESS {address}");
    for _ in 0..20 {
        if let Some(command) = networkzero::wait_for_command(address, 60).expect("wait_for_command")
        {
            println!("COMMAND {command}");
        }
    }
}

fn spawn_rust_command_peer(host: &Host, name: &str) -> (ChildGuard, String) {
    let exe = std::env::current_exe().expect("test executable");
    let mut cmd = host.command(exe);
    cmd.args([
        "--exact",
        "rust_command_peer",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("NW0_CLI_PEER", name);
    let mut peer = ChildGuard::spawn(&mut cmd).expect("spawn the Rust command peer");
    // libtest writes "test rust_command_peer ... " before the test's own output.
    let line = peer.expect_line(|l| l.contains("ADDRESS "), LINE).unwrap();
    let address = line
        .split("ADDRESS ")
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string();
    (peer, address)
}

// ---------------------------------------------------------------------------------
// Usage and exit codes

#[test]
fn usage_mistakes_exit_2_with_usage_on_stderr() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let t = Duration::from_secs(20);
    for args in [
        &[][..],
        &["help"],
        &["--help"],
        &["-h"],
        &["help", "send"],
        &["send", "--help"],
        &["frobnicate"],
        &["send", "x"],
        &["send", "x", "1", "2"],
        &["advertise"],
        &["ls", "--wait", "soon"],
        &["ls", "extra"],
        &["discover", "x", "--wait"],
        &["watch", "x", "--count", "0"],
        &["publish", "n", "t"],
        &["publish", "n", "t", "1", "--every", "-1"],
        &["command", "x", "go", "--bogus"],
        &["advertise", "x", "--echo=yes"],
        &["doctor", "now"],
    ] {
        let ran = run_nw0(&host, args, t);
        ran.expect_code(2, &format!("nw0 {args:?}"))
            .expect_no_stdout(&format!("nw0 {args:?}"));
        assert!(
            ran.stderr.contains("Usage") || ran.stderr.contains("usage"),
            "nw0 {args:?}: {ran:#?}"
        );
    }
    // Help asked after the command is help, not a mistake about an option.
    for args in [&["send", "--help"][..], &["ls", "--wait", "1", "-h"]] {
        let ran = run_nw0(&host, args, t);
        ran.expect_code(2, &format!("nw0 {args:?}"));
        assert!(ran.stderr.starts_with("Usage:"), "nw0 {args:?}: {ran:#?}");
    }
    let ran = run_nw0(&host, &["help", "watch"], t);
    assert!(
        ran.stderr.contains("nw0 watch NAME|ADDR [PREFIX]"),
        "{ran:#?}"
    );
    assert!(
        !ran.stderr.contains("nw0 publish"),
        "help for one command shows only it: {ran:#?}"
    );
    // A bad address is a usage mistake too.
    run_nw0(&host, &["advertise", "x", "--address", "1.2.3.4:99999"], t)
        .expect_code(2, "bad --address");
    let ran = run_nw0(&host, &["--version"], t);
    ran.expect_code(0, "--version");
    assert!(
        ran.stdout.first().is_some_and(|l| l.starts_with("nw0 ")),
        "{ran:#?}"
    );
}

#[test]
fn timeouts_and_nothing_found_exit_1() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let t = Duration::from_secs(20);
    let started = Instant::now();
    run_nw0(&host, &["discover", "nobody", "--wait", "0.5"], t)
        .expect_code(1, "discover")
        .expect_no_stdout("discover");
    assert!(started.elapsed() < Duration::from_secs(10));
    run_nw0(&host, &["send", "nobody", "1", "--wait", "0.5"], t)
        .expect_code(1, "send to an unknown name");
    run_nw0(&host, &["send", "127.0.0.1:1", "1", "--wait", "0.5"], t)
        .expect_code(1, "send to no listener");
    run_nw0(&host, &["command", "127.0.0.1:1", "go", "--wait", "0.5"], t)
        .expect_code(1, "command to no listener");
    run_nw0(&host, &["watch", "127.0.0.1:1", "--wait", "0.5"], t)
        .expect_code(1, "watch with no news");
    run_nw0(&host, &["watch", "nobody", "--wait", "0.5"], t)
        .expect_code(1, "watch an unknown name");
    // Nothing advertised: ls prints nothing and succeeds.
    run_nw0(&host, &["ls", "--wait", "0.3"], t)
        .expect_code(0, "ls")
        .expect_no_stdout("ls");

    // A name that is advertised but does not answer messages.
    let mut quiet = spawn_nw0(&host, &["advertise", "quiet"]);
    let address = address_line(&mut quiet);
    let ran = run_nw0(&host, &["send", "quiet", "\"hi\"", "--wait", "1"], t);
    ran.expect_code(1, "send to a name that does not reply")
        .expect_no_stdout("no reply");
    assert!(
        ran.stderr.contains(&address),
        "the warning names the address: {ran:#?}"
    );
}

// ---------------------------------------------------------------------------------
// Rust peers on one isolated host (loopback only)

#[test]
fn one_host_advertise_echo_send_discover_ls_command() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let t = Duration::from_secs(20);
    let mut echo = spawn_nw0(&host, &["advertise", "echo", "--echo"]);
    let address = address_line(&mut echo);
    assert!(
        address.starts_with("127.0.0.1:"),
        "loopback only: {address}"
    );

    run_nw0(&host, &["send", "echo", "\"hi\""], t)
        .expect_code(0, "send")
        .expect_stdout(&["\"hi\""], "send");
    run_nw0(&host, &["send", "echo", "hello world"], t)
        .expect_code(0, "send text")
        .expect_stdout(
            &["\"hello world\""],
            "text that is not JSON is sent as a string",
        );
    run_nw0(
        &host,
        &["send", "echo", r#"{"a": [1, 2.5, null], "b": "ü"}"#],
        t,
    )
    .expect_code(0, "send an object")
    .expect_stdout(
        &[r#"{"a":[1,2.5,null],"b":"ü"}"#],
        "one line of compact JSON",
    );
    run_nw0(&host, &["send", &address, "42"], t)
        .expect_code(0, "send to ADDR")
        .expect_stdout(&["42"], "by address");
    run_nw0(&host, &["send", "echo", "--", "--not-an-option"], t)
        .expect_code(0, "--")
        .expect_stdout(&["\"--not-an-option\""], "after --");
    run_nw0(&host, &["discover", "echo"], t)
        .expect_code(0, "discover")
        .expect_stdout(&[&address], "discover");

    let mut other = spawn_nw0(&host, &["advertise", "another/one"]);
    let other_address = address_line(&mut other);
    run_nw0(&host, &["ls"], t)
        .expect_code(0, "ls")
        .expect_stdout(
            &[
                &format!("another/one\t{other_address}"),
                &format!("echo\t{address}"),
            ],
            "ls: sorted name<TAB>address lines",
        );

    // The echo replies with the command itself, not "ack": not acknowledged.
    let ran = run_nw0(&host, &["command", "echo", "lights-on"], t);
    ran.expect_code(1, "command answered without an ack")
        .expect_no_stdout("command prints nothing");

    // --address
    let mut fixed = spawn_nw0(
        &host,
        &[
            "advertise",
            "fixed",
            "--address",
            "127.0.0.1:47001",
            "--echo",
        ],
    );
    assert_eq!(address_line(&mut fixed), "127.0.0.1:47001");
    run_nw0(&host, &["send", "fixed", "[true]"], t).expect_stdout(&["[true]"], "--address echo");
    // A port another program listens on is no typing mistake: status 1, not 2.
    run_nw0(
        &host,
        &[
            "advertise",
            "taken",
            "--address",
            "127.0.0.1:47001",
            "--echo",
        ],
        t,
    )
    .expect_code(1, "a port in use");

    // Ctrl-C ends advertise with the usual status 130.
    echo.interrupt().unwrap();
    let status = echo
        .wait_timeout(Duration::from_secs(10))
        .unwrap()
        .expect("advertise ends on Ctrl-C");
    assert_eq!(status.code(), Some(130), "{}", echo.stderr());
}

/// An advertised port stays this program's from the advert on, though it
/// listens only at its first wait or news item: another program starting
/// beside it can neither be given that port nor listen on it. (Two
/// programs starting together once both advertised one port, and the
/// second's first publish failed: CI saw it.)
#[test]
fn an_advertised_port_is_held_before_the_program_listens() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let t = Duration::from_secs(20);
    let mut quiet = spawn_nw0(&host, &["advertise", "quiet"]);
    let address = address_line(&mut quiet);
    run_nw0(
        &host,
        &["advertise", "taker", "--address", &address, "--echo"],
        t,
    )
    .expect_code(
        1,
        "the port of an advert that does not listen yet is in use",
    );
    // The advert itself still stands.
    run_nw0(&host, &["discover", "quiet"], t)
        .expect_code(0, "discover")
        .expect_stdout(&[&address], "discover");
}

#[test]
fn one_host_command_to_rust_wait_for_command() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let (mut peer, address) = spawn_rust_command_peer(&host, "robot");
    let ran = run_nw0(
        &host,
        &["command", "robot", "forward 10"],
        Duration::from_secs(20),
    );
    ran.expect_code(0, "command acked")
        .expect_no_stdout("command");
    assert!(
        !ran.stderr.contains("instead of"),
        "acknowledged with \"ack\": {ran:#?}"
    );
    peer.expect_line(|l| l == "COMMAND \"forward 10\"", LINE)
        .unwrap();
    run_nw0(
        &host,
        &["command", &address, "stop"],
        Duration::from_secs(20),
    )
    .expect_code(0, "command by address");
    peer.expect_line(|l| l == "COMMAND \"stop\"", LINE).unwrap();
}

#[test]
fn one_host_publish_and_watch() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let t = Duration::from_secs(30);
    let mut publisher = spawn_nw0(
        &host,
        &[
            "publish",
            "weather",
            "temp.outside",
            r#"{"c": 21}"#,
            "--every",
            "0.3",
        ],
    );
    let address = address_line(&mut publisher);
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    run_nw0(
        &host,
        &["watch", "weather", "--count", "3", "--wait", "10"],
        t,
    )
    .expect_code(0, "watch")
    .expect_stdout(&["temp.outside\t{\"c\":21}"; 3], "topic<TAB>json lines");
    run_nw0(
        &host,
        &["watch", &address, "temp", "--count", "1", "--wait", "10"],
        t,
    )
    .expect_code(0, "watch a prefix by address")
    .expect_stdout(&["temp.outside\t{\"c\":21}"], "prefix");
    run_nw0(&host, &["watch", "weather", "rain", "--wait", "1.5"], t)
        .expect_code(1, "nothing on another prefix")
        .expect_no_stdout("other prefix");

    // With --count the publisher ends by itself, after giving a watcher its items.
    // Its first item waits for the watchers already looking (messaging's
    // `every_subscriber_already_waiting_gets_the_first_item`): this one starts
    // first, the publisher once it is looking for the name (it then hears the
    // first advert), and the other watcher once the first item has arrived.
    let mut watcher = ChildGuard::spawn(
        nw0_command(&host, &["watch", "once", "--count", "2", "--wait", "5"])
            .env("NW0_LOG", "debug"),
    )
    .unwrap();
    assert!(
        watcher.stderr_has("looking for 'once'", t),
        "the watcher is not looking for the name: {}",
        watcher.stderr()
    );
    let mut counted = spawn_nw0(
        &host,
        &[
            "publish", "once", "t", "hello", "--count", "2", "--every", "1",
        ],
    );
    let started = Instant::now();
    let _ = address_line(&mut counted);
    let first = watcher.expect_line(|_| true, Duration::from_secs(10));
    assert_eq!(first.as_deref(), Ok("t\t\"hello\""), "the first item");
    // Without --count a watcher sees every item from its start: here at most
    // the second (it may start too late for it), and no third within 3 s.
    let all = spawn_nw0(&host, &["watch", "once", "--wait", "3"]);
    let status = counted
        .wait_timeout(Duration::from_secs(10))
        .unwrap()
        .expect("publish --count ends");
    assert!(status.success(), "{}", counted.stderr());
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "two items, 1 s apart, the first after 1 s"
    );
    Ran::wait_for(watcher, Duration::from_secs(10))
        .expect_code(0, "watch --count 2")
        .expect_stdout(&["t\t\"hello\""], "watch --count 2, after the first item");
    let all = Ran::wait_for(all, Duration::from_secs(10));
    all.expect_code(1, "watch until no news");
    assert!(
        all.stdout.len() <= 1 && all.stdout.iter().all(|l| l == "t\t\"hello\""),
        "publish --count 2 sends no third item: {all:#?}"
    );
}

#[test]
fn doctor_on_a_host_with_no_network_says_what_to_fix() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let ran = run_nw0(&host, &["doctor"], Duration::from_secs(30));
    ran.expect_code(1, "doctor finds problems");
    let text = ran.stdout.join("\n");
    assert!(text.contains("What to fix:"), "{ran:#?}");
    assert!(text.contains("not connected to any network"), "{ran:#?}");
    assert!(text.contains("no default route"), "{ran:#?}");
    assert!(
        text.contains("lo\tyes"),
        "own adverts come back over loopback: {ran:#?}"
    );
    assert!(
        !text.contains("Not even this computer"),
        "its own adverts came back: {ran:#?}"
    );
    assert!(
        text.contains("Other names heard on the network so far: 0"),
        "its own name is not another's: {ran:#?}"
    );
}

/// Another program (here this test) holds UDP 9999 and 9997 without sharing
/// them: doctor reports both, and does not take it for a Python beacon.
#[test]
fn doctor_reports_ports_held_by_another_program() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let held = host.run(|| {
        [9999, 9997].map(|port| UdpSocket::bind(("0.0.0.0", port)).expect("bind, unshared"))
    });
    let ran = run_nw0(&host, &["doctor"], Duration::from_secs(30));
    ran.expect_code(1, "doctor finds problems");
    let text = ran.stdout.join("\n");
    assert!(
        text.contains("Another program holds UDP port 9999 and does not share it"),
        "{ran:#?}"
    );
    assert!(
        text.contains("Another program holds UDP port 9997 and does not share it"),
        "{ran:#?}"
    );
    assert!(
        !text.contains("most likely a Python networkzero program"),
        "nothing answers on TCP 9998: {ran:#?}"
    );
    drop(held);
}

// ---------------------------------------------------------------------------------
// Rust peers across a simulated LAN

#[test]
fn lan_every_subcommand_between_rust_peers() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(2);
    let (a, b) = (&lan.hosts[0], &lan.hosts[1]);
    let t = Duration::from_secs(30);

    let mut echo = spawn_nw0(a, &["advertise", "echo", "--echo"]);
    let address = address_line(&mut echo);
    assert!(
        address.starts_with(&format!("{}:", a.ip)),
        "advertised on host A: {address}"
    );
    run_nw0(b, &["discover", "echo"], t)
        .expect_code(0, "discover")
        .expect_stdout(&[&address], "discover across");
    run_nw0(b, &["send", "echo", "\"hi\""], t)
        .expect_code(0, "send")
        .expect_stdout(&["\"hi\""], "send across");
    run_nw0(b, &["send", &address, "[1,2]"], t).expect_stdout(&["[1,2]"], "send by address across");
    let ran = run_nw0(b, &["ls"], t);
    ran.expect_code(0, "ls");
    assert!(ran.stdout.contains(&format!("echo\t{address}")), "{ran:#?}");

    let (mut peer, _) = spawn_rust_command_peer(a, "robot");
    run_nw0(b, &["command", "robot", "spin"], t).expect_code(0, "command across");
    peer.expect_line(|l| l == "COMMAND \"spin\"", LINE).unwrap();

    let mut publisher = spawn_nw0(a, &["publish", "clock", "tick", "1", "--every", "0.3"]);
    let news_address = address_line(&mut publisher);
    assert!(
        news_address.starts_with(&format!("{}:", a.ip)),
        "{news_address}"
    );
    run_nw0(
        b,
        &["watch", "clock", "ti", "--count", "2", "--wait", "10"],
        t,
    )
    .expect_code(0, "watch across")
    .expect_stdout(&["tick\t1", "tick\t1"], "news across");

    let ran = run_nw0(b, &["doctor"], t);
    ran.expect_code(0, "doctor on a LAN host");
    let text = ran.stdout.join("\n");
    assert!(
        text.contains(&format!("eth0\t{}/24", b.ip)),
        "lists the interface: {ran:#?}"
    );
    assert!(text.contains("Default route: via eth0"), "{ran:#?}");
    assert!(
        text.contains("eth0\tyes"),
        "own broadcast comes back: {ran:#?}"
    );
    assert!(text.contains("All good"), "{ran:#?}");
    assert!(
        !text.contains("Adverts go out of every interface"),
        "one interface: {ran:#?}"
    );
}

// ---------------------------------------------------------------------------------
// Python networkzero 1.0b1 peers (each on a host of its own; see the module docs)

#[test]
fn python_advert_seen_by_nw0_discover_and_ls() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let (a, b) = (&lan.hosts[0], &lan.hosts[1]);
    let mut py = py::spawn(a, &py::advertiser("py/station", None, None, 60.0));
    let address = py_value(&mut py, "ADDRESS");
    assert!(address.starts_with(&format!("{}:", a.ip)), "{address}");
    let t = Duration::from_secs(30);
    run_nw0(b, &["discover", "py/station", "--wait", "10"], t)
        .expect_code(0, "discover a Python advert")
        .expect_stdout(&[&address], "discover");
    let ran = run_nw0(b, &["ls", "--wait", "2.5"], t);
    ran.expect_code(0, "ls");
    assert!(
        ran.stdout.contains(&format!("py/station\t{address}")),
        "{ran:#?}"
    );
}

#[test]
fn python_replier_answers_nw0_send_and_command() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let (a, b) = (&lan.hosts[0], &lan.hosts[1]);
    let mut py = py::spawn(
        a,
        "addr = nw0.advertise('pyecho')\n\
         print('ADDRESS', addr, flush=True)\n\
         for _ in range(10):\n\
         \x20   msg = nw0.wait_for_message_from(addr, wait_for_s=60)\n\
         \x20   print('GOT', json.dumps(msg), flush=True)\n\
         \x20   if isinstance(msg, str) and msg.startswith('cmd:'):\n\
         \x20       nw0.send_reply_to(addr, 'ack')\n\
         \x20   else:\n\
         \x20       nw0.send_reply_to(addr, {'echo': msg})\n",
    );
    let address = py_value(&mut py, "ADDRESS");
    let t = Duration::from_secs(30);
    run_nw0(
        b,
        &[
            "send",
            "pyecho",
            r#"[1, "two", {"three": 3.5}]"#,
            "--wait",
            "10",
        ],
        t,
    )
    .expect_code(0, "send to Python")
    .expect_stdout(&[r#"{"echo":[1,"two",{"three":3.5}]}"#], "Python's reply");
    assert_eq!(py_value(&mut py, "GOT"), r#"[1, "two", {"three": 3.5}]"#);
    run_nw0(b, &["send", &address, "plain text"], t)
        .expect_stdout(&[r#"{"echo":"plain text"}"#], "text to Python");
    let ran = run_nw0(
        b,
        &["command", "pyecho", "cmd:lights-on", "--wait", "10"],
        t,
    );
    ran.expect_code(0, "command acked by Python");
    assert!(!ran.stderr.contains("instead of"), "{ran:#?}");
    py.expect_line(|l| l == "GOT \"cmd:lights-on\"", LINE)
        .unwrap();
}

#[test]
fn nw0_advertise_found_and_echoing_for_python() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let (a, b) = (&lan.hosts[0], &lan.hosts[1]);
    let mut echo = spawn_nw0(a, &["advertise", "rusty", "--echo"]);
    let address = address_line(&mut echo);
    let mut py = py::spawn(
        b,
        "addr = nw0.discover('rusty', 15)\n\
         print('FOUND', addr, flush=True)\n\
         reply = nw0.send_message_to(addr, {'k': ['v', 1]}, wait_for_reply_s=10)\n\
         print('REPLY', json.dumps(reply), flush=True)\n",
    );
    assert_eq!(
        py_value(&mut py, "FOUND"),
        address,
        "Python discovers nw0 advertise"
    );
    assert_eq!(
        py_value(&mut py, "REPLY"),
        r#"{"k": ["v", 1]}"#,
        "nw0 advertise --echo answers Python"
    );
}

#[test]
fn nw0_publish_to_python_subscriber() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let (a, b) = (&lan.hosts[0], &lan.hosts[1]);
    let mut publisher = spawn_nw0(
        a,
        &[
            "publish",
            "rnews",
            "sensor.temp",
            r#"{"c": 21.5}"#,
            "--every",
            "0.3",
        ],
    );
    let _ = address_line(&mut publisher);
    let mut py = py::spawn(
        b,
        "addr = nw0.discover('rnews', 15)\n\
         for _ in range(2):\n\
         \x20   topic, data = nw0.wait_for_news_from(addr, 'sensor', wait_for_s=10)\n\
         \x20   print('NEWS', topic, json.dumps(data), flush=True)\n",
    );
    assert_eq!(py_value(&mut py, "NEWS"), r#"sensor.temp {"c": 21.5}"#);
    assert_eq!(py_value(&mut py, "NEWS"), r#"sensor.temp {"c": 21.5}"#);
}

#[test]
fn python_publisher_to_nw0_watch() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let (a, b) = (&lan.hosts[0], &lan.hosts[1]);
    let mut py = py::spawn(
        a,
        "addr = nw0.advertise('pynews')\n\
         print('ADDRESS', addr, flush=True)\n\
         for i in range(300):\n\
         \x20   nw0.send_news_to(addr, 'weather.temp', {'t': i % 2})\n\
         \x20   nw0.send_news_to(addr, 'other', 'x')\n\
         \x20   time.sleep(0.2)\n",
    );
    let address = py_value(&mut py, "ADDRESS");
    let t = Duration::from_secs(40);
    let ran = run_nw0(
        b,
        &["watch", "pynews", "weather", "--count", "2", "--wait", "15"],
        t,
    );
    ran.expect_code(0, "watch a Python publisher");
    assert_eq!(ran.stdout.len(), 2, "{ran:#?}");
    for line in &ran.stdout {
        assert!(
            line == "weather.temp\t{\"t\":0}" || line == "weather.temp\t{\"t\":1}",
            "{ran:#?}"
        );
    }
    run_nw0(
        b,
        &["watch", &address, "other", "--count", "1", "--wait", "15"],
        t,
    )
    .expect_code(0, "watch by address")
    .expect_stdout(&["other\t\"x\""], "prefix other");
}

/// Python and `nw0` on the same host, both ways round: Python first holds UDP 9999
/// unshared and nw0 uses its beacon's RPC (TCP 127.0.0.1:9998); with nw0 first, Python
/// cannot bind 9999 and uses the RPC that a networkzero process serves.
#[test]
fn same_host_python_peer_and_nw0() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let t = Duration::from_secs(30);

    // Python first.
    let a = &lan.hosts[0];
    let mut py = py::spawn(a, &py::advertiser("py-first", None, None, 60.0));
    let address = py_value(&mut py, "ADDRESS");
    run_nw0(a, &["discover", "py-first", "--wait", "10"], t)
        .expect_code(0, "nw0 discovers a Python advert on its own host")
        .expect_stdout(&[&address], "same host");
    let ran = run_nw0(a, &["ls", "--wait", "3"], t);
    assert!(
        ran.stdout.contains(&format!("py-first\t{address}")),
        "{ran:#?}"
    );
    let mut echo = spawn_nw0(a, &["advertise", "rust-second", "--echo"]);
    let rust_address = address_line(&mut echo);
    let mut disc = py::spawn(a, &py::discoverer("rust-second", 15.0));
    assert_eq!(
        py_value(&mut disc, "FOUND"),
        rust_address,
        "Python discovers nw0 on its own host"
    );
    // A listing merges what it heard (rust-second, by asking on port 9997) with the
    // Python beacon's names (py-first, and rust-second again): each once.
    let ran = run_nw0(a, &["ls", "--wait", "3"], t);
    for line in [
        format!("py-first\t{address}"),
        format!("rust-second\t{rust_address}"),
    ] {
        let times = ran.stdout.iter().filter(|l| **l == line).count();
        assert_eq!(times, 1, "{line:?} listed {times} times: {ran:#?}");
    }
    let ran = run_nw0(a, &["doctor"], t);
    let text = ran.stdout.join("\n");
    assert!(
        text.contains("most likely a Python networkzero program"),
        "{ran:#?}"
    );
    assert!(
        text.contains("It is python"),
        "doctor names the process from /proc: {ran:#?}"
    );
    ran.expect_code(0, "a Python beacon on 9999 is not a problem");

    // nw0 first.
    let b = &lan.hosts[1];
    let mut echo = spawn_nw0(b, &["advertise", "rust-first", "--echo"]);
    let rust_address = address_line(&mut echo);
    let mut py = py::spawn(
        b,
        "addr = nw0.discover('rust-first', 15)\n\
         print('FOUND', addr, flush=True)\n\
         print('REPLY', json.dumps(nw0.send_message_to(addr, 'hi', wait_for_reply_s=10)), flush=True)\n\
         print('ADDRESS', nw0.advertise('py-second'), flush=True)\n\
         time.sleep(60)\n",
    );
    assert_eq!(
        py_value(&mut py, "FOUND"),
        rust_address,
        "Python discovers nw0 through our RPC"
    );
    assert_eq!(py_value(&mut py, "REPLY"), "\"hi\"");
    let address = py_value(&mut py, "ADDRESS");
    run_nw0(b, &["discover", "py-second", "--wait", "10"], t)
        .expect_code(
            0,
            "nw0 discovers a Python program that advertised through our RPC",
        )
        .expect_stdout(&[&address], "same host, nw0 first");
}
