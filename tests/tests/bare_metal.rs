//! A real bare-metal binary: `examples/mps2-an385` (the core, the smoltcp adapter,
//! smoltcp and a polling LAN9118 driver, built for `thumbv7m-none-eabi`) running in
//! `qemu-system-arm -M mps2-an385`, its LAN9118 NIC on a tap in a simulated LAN's switch
//! namespace, with its own address 10.200.K.60.
//!
//! The Linux side discovers `qemu-robot` with the std crate (`networkzero::discover`)
//! and with the `nw0` CLI, sends messages and commands with both and checks the replies;
//! drives it with typed postcard commands, requests and news (`nw0-peer drive-robot`,
//! the firmware's own `protocol` types: the run tests/tests/typed.rs makes between two
//! std programs), checks those on the wire with raw libzmq peers, and that a call that
//! reads JSON given its postcard news says so; then sends `"quit"`: the guest answers
//! `"bye"`, says goodbye and exits through semihosting with status 0, which QEMU
//! passes on.
//!
//! The keyed build (feature `curve`, passphrase in `NW0_CLASS_KEY` at build time) runs
//! against keyed std programs: a keyed `nw0` sends it a command and a message and gets
//! the reply, a keyed `nw0-peer` reads its news; an unkeyed `nw0` gets nothing from it
//! (and it logs the refusal), and a keyed `nw0` gets nothing from the unkeyed build.
//! pyzmq with the class's derived CURVE keys (`py::CURVE`) commands it, is answered and
//! reads its odometry news; a plain pyzmq peer gets no reply and no news (it logs the
//! refusal, and never logs the plain peer's request).
//! By name: the keyed board, with no wall clock, advertises nothing until a keyed
//! program's sealed advert teaches it the class's time (`CLOCK …`); then a keyed `nw0
//! discover` / `nw0 ls` finds it and a keyed `nw0 command` drives it by name, while an
//! unkeyed `nw0 command` by name still gets nothing.
//!
//! Needs `qemu-system-arm` and the firmware's crates: `bash tests/bare-metal/setup.sh`
//! (outside the namespace) installs both and builds the firmware; this test rebuilds it
//! offline if it is stale.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use networkzero as nw0;
use nw0_tests::*;

#[path = "../src/bin/nw0-peer/drive.rs"]
mod drive;
#[path = "shared/robot.rs"]
mod robot;

use networkzero_core::payload;
use robot::protocol::{Odometry, ODOMETRY};
use robot::{check_the_wire, drive_robot, expect_postcard_news_warning};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The class passphrase of the keyed firmware and the keyed std programs.
const KEY: &str = "correct horse battery staple";

/// Builds the firmware (offline: setup.sh fetched its crates), keyed with [`KEY`] (feature `curve`, its own target
/// directory) or not, and returns the ELF.
fn build_firmware(keyed: bool) -> Result<PathBuf, String> {
    let dir = workspace().join("examples/mps2-an385");
    let target_dir = workspace().join(if keyed {
        "target/baremetal-keyed"
    } else {
        "target/baremetal"
    });
    let mut cargo = Command::new("cargo");
    cargo.args(["build", "--release", "--offline"]);
    if keyed {
        cargo
            .args(["--features", "curve"])
            .env("NW0_CLASS_KEY", KEY);
    }
    let out = cargo
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building examples/mps2-an385 failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(target_dir.join("thumbv7m-none-eabi/release/nw0-mps2-an385"))
}

/// Runs `nw0 ARGS…` in `host` to its end (at most 30 s).
fn nw0_cli(host: &Host, args: &[&str]) -> Ran {
    run_nw0(host, args, Duration::from_secs(30))
}

/// Whether the test can run (namespaces, QEMU); skips or panics (CI) if not.
fn can_run() -> bool {
    if !require_netns() {
        return false;
    }
    if Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .is_err()
    {
        skip_or_panic(
            "qemu-system-arm is not installed",
            "bash tests/bare-metal/setup.sh (outside the namespace)",
        );
        return false;
    }
    true
}

/// The firmware, built keyed or not; skips or panics (CI) if it cannot be.
fn elf_or_skip(keyed: bool) -> Option<PathBuf> {
    match build_firmware(keyed) {
        Ok(elf) => Some(elf),
        Err(e) => {
            skip_or_panic(&e, "bash tests/bare-metal/setup.sh (outside the namespace)");
            None
        }
    }
}

/// Boots `elf` in QEMU with its NIC on a new tap `tap` of `lan`, at
/// `lan.ip(last)`; returns it once it says READY, and its address.
fn boot(lan: &Lan, tap: &str, last: u8, elf: &Path) -> (ChildGuard, std::net::Ipv4Addr) {
    lan.add_tap(tap).expect("make and bridge the tap");
    let ip = lan.ip(last);
    let gateway = lan.gateway().to_string();
    let mut qemu_cmd = lan.switch.command("qemu-system-arm");
    qemu_cmd
        .args([
            "-M",
            "mps2-an385",
            "-nographic",
            "-monitor",
            "none",
            "-serial",
            "none",
        ])
        .arg("-nic")
        .arg(format!(
            "tap,ifname={tap},script=no,downscript=no,model=lan9118"
        ))
        .arg("-semihosting-config")
        .arg(format!(
            "enable=on,target=native,arg=nw0,arg={ip},arg={gateway}"
        ))
        .arg("-kernel")
        .arg(elf);
    let mut qemu = ChildGuard::spawn(&mut qemu_cmd).expect("spawn qemu-system-arm");
    let ready = qemu
        .expect_line(|l| l.starts_with("READY"), Duration::from_secs(30))
        .unwrap();
    assert_eq!(ready, format!("READY qemu-robot {ip}:5555"));
    (qemu, ip)
}

/// After "quit": the guest says BYE and exits by itself, successfully.
fn exits_cleanly(qemu: &mut ChildGuard) {
    qemu.expect_line(|l| l == "BYE", Duration::from_secs(10))
        .unwrap();
    let status = qemu
        .wait_timeout(Duration::from_secs(10))
        .expect("wait for qemu")
        .expect("the guest did not exit after \"quit\"");
    assert!(status.success(), "guest exit status {status:?}");
}

#[test]
fn qemu_mps2_an385_firmware_is_discovered_and_answers() {
    if !can_run() {
        return;
    }
    let Some(elf) = elf_or_skip(false) else {
        return;
    };

    let lan = Lan::new(1);
    let (mut qemu, ip) = boot(&lan, "qtap0", 60, &elf);
    let robot = format!("{ip}:5555");

    // The std crate, from a thread inside host 0.
    let host = &lan.hosts[0];
    let robot_std = robot.clone();
    host.run(move || {
        let found = nw0::discover("qemu-robot", 15)
            .expect("discover")
            .expect("qemu-robot not discovered by the std crate");
        assert_eq!(found.to_string(), robot_std);
        let pong = nw0::send_message(found, "ping", 10).expect("send ping");
        assert_eq!(pong, Some(nw0::json!("pong")));
        assert!(nw0::send_command(found, "left").expect("send command"));
        let echo = nw0::send_message(found, nw0::json!({"speed": [1, 2.5, null]}), 10)
            .expect("send object");
        assert_eq!(echo, Some(nw0::json!({"echo": {"speed": [1, 2.5, null]}})));
    });

    // Typed, in postcard: one wheel command ("left") obeyed so far.
    drive_robot(host, 1, || qemu.stdout_seen().join("\n"));
    let news = format!("{ip}:5556");
    check_the_wire(host, &robot, &news, 3);
    expect_postcard_news_warning(host, &news);
    // what the guest decoded, and from which format (drive-robot, then the raw peers)
    for line in [
        "COMMAND Drive { left: 50, right: -50 } Postcard",
        "COMMAND Status Postcard",
        "COMMAND Status Json",
        "COMMAND Stop Postcard",
        "COMMAND Status Postcard",
        "COMMAND Status Json",
    ] {
        qemu.expect_line(|l| l == line, Duration::from_secs(5))
            .unwrap();
    }

    // The nw0 CLI.
    nw0_cli(host, &["discover", "qemu-robot", "--wait", "15"])
        .expect_code(0, "discover")
        .expect_stdout(&[&robot], "discover");
    nw0_cli(host, &["command", "qemu-robot", "forward"]).expect_code(0, "command");
    nw0_cli(host, &["send", "qemu-robot", "[1, \"two\"]"])
        .expect_code(0, "send")
        .expect_stdout(&[r#"{"echo":[1,"two"]}"#], "send");
    nw0_cli(host, &["send", "qemu-robot", "quit"])
        .expect_code(0, "quit")
        .expect_stdout(&[r#""bye""#], "quit");

    // The guest exits by itself, successfully.
    exits_cleanly(&mut qemu);
    eprintln!("guest said:\n{}", qemu.stdout_seen().join("\n"));
}

/// `cmd` with `NW0_CLASS_KEY` set to `key` (or unset), run to its end (at most 30 s).
fn keyed_ran(mut cmd: Command, key: Option<&str>) -> Ran {
    match key {
        Some(k) => cmd.env("NW0_CLASS_KEY", k),
        None => cmd.env_remove("NW0_CLASS_KEY"),
    };
    Ran::wait_for(
        ChildGuard::spawn(&mut cmd).expect("spawn"),
        Duration::from_secs(30),
    )
}

/// `nw0 ARGS…` in `host` with the class key `key`, to its end.
fn nw0_keyed(host: &Host, key: Option<&str>, args: &[&str]) -> Ran {
    keyed_ran(nw0_command(host, args), key)
}

/// `nw0-peer odometry NEWS 2 5` in `host` with the class key `key`, to its end.
fn odometry(host: &Host, key: Option<&str>, news: &str) -> Ran {
    let mut cmd = host.command(drive::PEER);
    cmd.args(["odometry", news, "2", "5"]);
    keyed_ran(cmd, key)
}

#[test]
fn qemu_keyed_firmware_talks_only_to_keyed_programs() {
    if !can_run() {
        return;
    }
    let (Some(keyed_elf), Some(plain_elf)) = (elf_or_skip(true), elf_or_skip(false)) else {
        return;
    };
    let lan = Lan::new(1);
    let (mut keyed, ip) = boot(&lan, "qtap0", 60, &keyed_elf);
    assert!(
        keyed.stdout_seen().iter().any(|l| l == "KEYED"),
        "the keyed build did not key its node: {:?}",
        keyed.stdout_seen()
    );
    let host = &lan.hosts[0];
    let (robot, news) = (format!("{ip}:5555"), format!("{ip}:5556"));

    // A keyed program: a command, a message and its reply, the news.
    nw0_keyed(host, Some(KEY), &["command", &robot, "forward"]).expect_code(0, "keyed command");
    nw0_keyed(host, Some(KEY), &["send", &robot, "ping"])
        .expect_code(0, "keyed send")
        .expect_stdout(&[r#""pong""#], "keyed send");
    let ran = odometry(host, Some(KEY), &news);
    ran.expect_code(0, "keyed news");
    assert_eq!(ran.stdout.len(), 2, "{ran:#?}");
    assert!(
        ran.stdout
            .iter()
            .all(|l| l.starts_with("ODOMETRY") && l.contains(r#""left":50"#)),
        "news after \"forward\": {ran:#?}"
    );
    keyed
        .expect_line(|l| l == "COMMAND Forward Json", Duration::from_secs(5))
        .unwrap();

    // By name. The board has no wall clock, and no keyed program has
    // advertised anything to learn the class's time from, so it has sealed
    // (and advertised) nothing yet...
    // (Its lines so far are in the pipe already: a short wait reads them.)
    let early = keyed.expect_line(|l| l.starts_with("CLOCK "), Duration::from_millis(500));
    assert!(
        early.is_err(),
        "the board knew the time before any keyed discover: {:?}",
        keyed.stdout_seen()
    );
    // ... yet a keyed program that only discovers finds it at once: its
    // sealed query teaches the board the time, and the board answers it.
    nw0_keyed(host, Some(KEY), &["discover", "qemu-robot", "--wait", "2"])
        .expect_code(0, "keyed discover before any keyed program advertised")
        .expect_stdout(
            &[&robot],
            "keyed discover before any keyed program advertised",
        );
    keyed
        .expect_line(|l| l.starts_with("CLOCK "), Duration::from_secs(5))
        .unwrap();
    // From then on keyed programs list it and command it by name.
    let ran = nw0_keyed(host, Some(KEY), &["ls", "--wait", "3"]);
    ran.expect_code(0, "keyed ls");
    assert!(
        ran.stdout.contains(&format!("qemu-robot\t{robot}")),
        "keyed ls: {ran:#?}"
    );
    nw0_keyed(host, Some(KEY), &["command", "qemu-robot", "left"])
        .expect_code(0, "keyed command by name");
    keyed
        .expect_line(|l| l == "COMMAND Left Json", Duration::from_secs(5))
        .unwrap();
    // A program without the key still commands nothing, by name either:
    // the board refuses it.
    let ran = nw0_keyed(
        host,
        None,
        &["command", "qemu-robot", "right", "--wait", "3"],
    );
    let said = keyed.expect_line(
        |l| l.starts_with("REFUSED") || l.starts_with("COMMAND"),
        Duration::from_secs(10),
    );
    assert!(
        said.as_deref().is_ok_and(|l| l.starts_with("REFUSED")),
        "the board: {said:?}\nunkeyed command by name: {ran:#?}"
    );
    ran.expect_code(1, "unkeyed command by name")
        .expect_stdout::<&str>(&[], "unkeyed command by name");

    // Without the key: nothing, and the board logs the refusal.
    let ran = nw0_keyed(host, None, &["send", &robot, "ping", "--wait", "3"]);
    ran.expect_code(1, "unkeyed send")
        .expect_stdout::<&str>(&[], "unkeyed send");
    assert!(
        ran.stderr.contains(&format!("{robot} wants a class key")),
        "the unkeyed sender is told the board wants a key:\n{}",
        ran.stderr
    );
    odometry(host, None, &news)
        .expect_code(1, "unkeyed news")
        .expect_stdout(&["NONEWS"], "unkeyed news");
    keyed
        .expect_line(|l| l.starts_with("REFUSED slot"), Duration::from_secs(10))
        .unwrap();

    // pyzmq: with the class's CURVE keys it commands the board, is answered and
    // reads its news; plain, it gets nothing.
    if require_python().is_some() {
        pyzmq_with_and_without_the_key(host, KEY, &robot, &news, &mut keyed);
    }

    // The unkeyed board, also "qemu-robot", cannot take the name from keyed
    // programs (its adverts are not sealed), and a keyed program gets
    // nothing from it.
    let (mut plain, plain_ip) = boot(&lan, "qtap1", 61, &plain_elf);
    nw0_keyed(host, Some(KEY), &["discover", "qemu-robot", "--wait", "15"])
        .expect_code(0, "keyed discover beside the unkeyed board")
        .expect_stdout(&[&robot], "keyed discover beside the unkeyed board");
    let plain_robot = format!("{plain_ip}:5555");
    let ran = nw0_keyed(
        host,
        Some(KEY),
        &["send", &plain_robot, "ping", "--wait", "3"],
    );
    ran.expect_code(1, "keyed send to the unkeyed board")
        .expect_stdout::<&str>(&[], "keyed send to the unkeyed board");
    odometry(host, Some(KEY), &format!("{plain_ip}:5556"))
        .expect_code(1, "keyed news from the unkeyed board")
        .expect_stdout(&["NONEWS"], "keyed news from the unkeyed board");

    // Both boards still answer their own kind, and exit cleanly.
    for (qemu, key, at) in [
        (&mut keyed, Some(KEY), &robot),
        (&mut plain, None, &plain_robot),
    ] {
        nw0_keyed(host, key, &["send", at, "quit"])
            .expect_code(0, "quit")
            .expect_stdout(&[r#""bye""#], "quit");
        exits_cleanly(qemu);
    }
    eprintln!("keyed guest said:\n{}", keyed.stdout_seen().join("\n"));
    // Everything the keyed board said, up to BYE: it never served the plain
    // pyzmq peer's request.
    assert!(
        !keyed.stdout_seen().iter().any(|l| l.contains(PLAIN_PYZMQ)),
        "the keyed board served a plain pyzmq peer"
    );
}

/// The message the plain (unkeyed) pyzmq peer sends the keyed board: logged by the
/// board (`REQUEST …`) if it were ever served.
const PLAIN_PYZMQ: &str = "from plain pyzmq";

/// How long pyzmq waits for a reply or news item that should come (a hang guard,
/// the machine is loaded), in seconds; the test waits twice as long for its line.
const PY_WAIT: f64 = 30.0;

/// How long the plain pyzmq peer waits for what must never come, in seconds.
const PLAIN_WAIT: f64 = 5.0;

/// A pyzmq peer in `host`, with the CURVE keys derived from `pass` (`py::CURVE`),
/// commands the keyed board at `robot` (`"right"`, acknowledged and obeyed), asks it
/// a message (echoed) and reads an odometry item from `news` (the new wheels); then a
/// plain pyzmq peer sends it a message and subscribes to everything, and gets neither
/// a reply nor news.
fn pyzmq_with_and_without_the_key(
    host: &Host,
    pass: &str,
    robot: &str,
    news: &str,
    board: &mut ChildGuard,
) {
    let mut p = py::spawn(
        host,
        &format!(
            r#"{curve}
def ask(req, msg, wait):
    req.send(msg)
    return req.recv().decode() if req.poll(wait) else "none"
def item(sub, wait):
    return " ".join(f.hex() for f in sub.recv_multipart()) if sub.poll(wait) else "none"
req = sock(zmq.REQ); client(req, {pass}); req.connect("tcp://{robot}")
print("ACK " + ask(req, b'"right"', {wait}), flush=True)
print("REPLY " + ask(req, b'{{"from": "keyed pyzmq"}}', {wait}), flush=True)
sub = sock(zmq.SUB); client(sub, {pass}); sub.setsockopt(zmq.SUBSCRIBE, b"odometry")
sub.connect("tcp://{news}")
print("NEWS " + item(sub, {wait}), flush=True)
req.close(); sub.close()
req = sock(zmq.REQ); req.connect("tcp://{robot}")
print("PLAIN REPLY " + ask(req, b'"{plain}"', {plain_wait}), flush=True)
sub = sock(zmq.SUB); sub.setsockopt(zmq.SUBSCRIBE, b""); sub.connect("tcp://{news}")
print("PLAIN NEWS " + item(sub, {plain_wait}), flush=True)
"#,
            curve = py::CURVE,
            pass = py::str_lit(pass),
            plain = PLAIN_PYZMQ,
            wait = (PY_WAIT * 1000.0) as u64,
            plain_wait = (PLAIN_WAIT * 1000.0) as u64,
        ),
    );
    let mut line = |what: &str| {
        p.next_line(drive::secs(PY_WAIT * 2.0))
            .unwrap_or_else(|e| panic!("pyzmq, {what}: {e}"))
    };
    assert_eq!(
        line("keyed command"),
        r#"ACK "ack""#,
        "pyzmq CURVE REQ -> the keyed board"
    );
    assert_eq!(
        line("keyed message"),
        r#"REPLY {"echo": {"from": "keyed pyzmq"}}"#,
        "pyzmq CURVE REQ -> the keyed board"
    );
    let item = line("keyed news");
    let frames: Vec<Vec<u8>> = item
        .strip_prefix("NEWS ")
        .unwrap_or_else(|| panic!("pyzmq CURVE SUB <- the keyed board: {item}"))
        .split(' ')
        .map(|f| {
            (0..f.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&f[i..i + 2], 16))
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("{item}: {e}"))
        })
        .collect();
    assert_eq!(
        frames.len(),
        2,
        "pyzmq CURVE SUB <- the keyed board: {item}"
    );
    assert_eq!(frames[0], ODOMETRY.as_bytes(), "{item}");
    let odometry: Odometry =
        payload::decode_postcard(&frames[1]).unwrap_or_else(|e| panic!("{item}: {e:?}"));
    assert_eq!(
        Some((odometry.left, odometry.right)),
        robot::protocol::Command::Right.wheels(),
        "news after \"right\": {odometry:?}"
    );
    for said in ["COMMAND Right Json", r#"REQUEST {"from": "keyed pyzmq"}"#] {
        board
            .expect_line(|l| l == said, Duration::from_secs(10))
            .unwrap();
    }
    assert_eq!(line("plain message"), "PLAIN REPLY none");
    assert_eq!(line("plain news"), "PLAIN NEWS none");
    // ... and the board logged the refusal (its lines come in order: this one
    // is after the keyed peer's request).
    board
        .expect_line(|l| l.starts_with("REFUSED"), Duration::from_secs(30))
        .unwrap();
}
