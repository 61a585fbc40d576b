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

use robot::{check_the_wire, drive_robot, expect_postcard_news_warning};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Builds the firmware (offline: setup.sh fetched its crates) and returns the ELF.
fn firmware() -> Result<PathBuf, String> {
    let dir = workspace().join("examples/mps2-an385");
    let target_dir = workspace().join("target/baremetal");
    let out = Command::new("cargo")
        .args(["build", "--release", "--offline"])
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

#[test]
fn qemu_mps2_an385_firmware_is_discovered_and_answers() {
    if !require_netns() {
        return;
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
        return;
    }
    let elf = match firmware() {
        Ok(elf) => elf,
        Err(e) => {
            skip_or_panic(&e, "bash tests/bare-metal/setup.sh (outside the namespace)");
            return;
        }
    };

    let lan = Lan::new(1);
    lan.add_tap("qtap0").expect("make and bridge qtap0");
    let ip = lan.ip(60);
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
        .args([
            "-nic",
            "tap,ifname=qtap0,script=no,downscript=no,model=lan9118",
        ])
        .arg("-semihosting-config")
        .arg(format!(
            "enable=on,target=native,arg=nw0,arg={ip},arg={gateway}"
        ))
        .arg("-kernel")
        .arg(&elf);
    let mut qemu = ChildGuard::spawn(&mut qemu_cmd).expect("spawn qemu-system-arm");
    let ready = qemu
        .expect_line(|l| l.starts_with("READY"), Duration::from_secs(30))
        .unwrap();
    assert_eq!(ready, format!("READY qemu-robot {ip}:5555"));
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
    qemu.expect_line(|l| l == "BYE", Duration::from_secs(10))
        .unwrap();
    let status = qemu
        .wait_timeout(Duration::from_secs(10))
        .expect("wait for qemu")
        .expect("the guest did not exit after \"quit\"");
    assert!(status.success(), "guest exit status {status:?}");
    eprintln!("guest said:\n{}", qemu.stdout_seen().join("\n"));
}
