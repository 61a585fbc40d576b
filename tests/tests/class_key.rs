//! The class key (issue: reliability and security): with `NW0_CLASS_KEY`
//! set, a classroom's programs hear only each other; another team's program
//! or a Python peer advertising the same name cannot take it over.

use std::time::Duration;

use nw0_tests::*;

/// `nw0 ARGS…` in `host` with `NW0_CLASS_KEY` set to `key` (or unset).
fn nw0(host: &Host, key: Option<&str>, args: &[&str]) -> ChildGuard {
    let mut cmd = nw0_command(host, args);
    match key {
        Some(k) => cmd.env("NW0_CLASS_KEY", k),
        None => cmd.env_remove("NW0_CLASS_KEY"),
    };
    ChildGuard::spawn(&mut cmd).expect("spawn nw0")
}

/// `child` run to its end (at most 20 s).
fn finished(child: ChildGuard) -> Ran {
    Ran::wait_for(child, Duration::from_secs(20))
}

#[test]
fn a_name_cannot_be_taken_over_without_the_key() {
    let Some((lan, python)) = require_lan_maybe_python(3) else {
        return;
    };
    let (ours, theirs, checker) = (&lan.hosts[0], &lan.hosts[1], &lan.hosts[2]);

    let mut robot = nw0(ours, Some("blue whale"), &["advertise", "robot", "--echo"]);
    let robot_at = address_line(&mut robot);
    // Another team, with another key, and someone with no key at all.
    let mut impostor = nw0(theirs, Some("red fox"), &["advertise", "robot", "--echo"]);
    address_line(&mut impostor);
    let _python = python.map(|_| py::spawn(theirs, &py::advertiser("robot", None, None, 60.0)));
    let mut spoofer = nw0(theirs, None, &["advertise", "robot", "--echo"]);
    address_line(&mut spoofer);

    // Let several rounds of everyone's adverts go by (Python's every 2 s).
    std::thread::sleep(Duration::from_millis(4500));
    let ran = finished(nw0(checker, Some("blue whale"), &["ls", "--wait", "2"]));
    ran.expect_code(0, "ls with the key")
        .expect_stdout(&[format!("robot\t{robot_at}")], "only our robot is heard");
    assert!(
        ran.stderr.contains("ignored an advert for 'robot'"),
        "the takeover attempts are reported:\n{}",
        ran.stderr
    );
    finished(nw0(
        checker,
        Some("blue whale"),
        &["send", "robot", "\"hi\""],
    ))
    .expect_code(0, "send with the key")
    .expect_stdout(&["\"hi\""], "send with the key");

    // Without the key our robot's adverts are still readable; the key guards
    // what keyed programs believe, not who may listen.
    let ran = finished(nw0(checker, None, &["ls", "--wait", "2"]));
    ran.expect_code(0, "ls without the key");
    assert!(!ran.stdout.is_empty(), "{ran:#?}");
}
