//! The class key (issue: reliability and security): with `NW0_CLASS_KEY`
//! set, a classroom's programs hear only each other; another team's program
//! or a Python peer advertising the same name cannot take it over.

use std::time::Duration;

#[path = "../src/bin/nw0-peer/drive.rs"]
mod drive;

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

/// The warning a keyed program prints for an advert of `name` from `ip` it ignored.
fn ignored(name: &str, ip: impl std::fmt::Display) -> String {
    format!("ignored an advert for '{name}' from {ip}:")
}

#[test]
fn a_name_cannot_be_taken_over_without_the_key() {
    let Some((lan, python)) = require_lan_maybe_python(5) else {
        return;
    };
    // Each would-be taker on a host of its own, so the warnings name which was ignored.
    let [ours, impostor_host, spoofer_host, python_host, checker] = &lan.hosts[..] else {
        unreachable!("five hosts")
    };

    let mut robot = nw0(ours, Some("blue whale"), &["advertise", "robot", "--echo"]);
    let robot_at = address_line(&mut robot);
    // A keyed name nobody else claims: the control that keyed adverts are heard at all.
    let mut arm = nw0(ours, Some("blue whale"), &["advertise", "arm", "--echo"]);
    let arm_at = address_line(&mut arm);
    // Another team, with another key, and someone with no key at all.
    let mut impostor = nw0(
        impostor_host,
        Some("red fox"),
        &["advertise", "robot", "--echo"],
    );
    address_line(&mut impostor);
    let mut spoofer = nw0(spoofer_host, None, &["advertise", "robot", "--echo"]);
    address_line(&mut spoofer);
    // And a plain Python advert, from a host where Python's own beacon holds 9999.
    let _python = python.map(|_| {
        let mut p = py::spawn(python_host, &py::advertiser("robot", None, None, 60.0));
        let line = p
            .expect_line(|l| l.starts_with("ADDRESS "), Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("the Python advertiser: {e}\n{}", p.stderr()));
        assert!(
            line.starts_with(&format!("ADDRESS {}:", python_host.ip)),
            "the Python advertiser did not advertise: {line}\n{}",
            p.stderr()
        );
        p
    });

    // Let several rounds of everyone's adverts go by (Python's every 2 s).
    std::thread::sleep(Duration::from_millis(4500));
    // Listening long enough to hear each taker's adverts at least twice (every 2 s).
    let ran = finished(nw0(checker, Some("blue whale"), &["ls", "--wait", "4.5"]));
    ran.expect_code(0, "ls with the key").expect_stdout(
        &[format!("arm\t{arm_at}"), format!("robot\t{robot_at}")],
        "only our robot is heard",
    );
    let mut takers = vec![("another key", impostor_host), ("no key", spoofer_host)];
    if _python.is_some() {
        takers.push(("Python", python_host));
    }
    for (who, host) in takers {
        assert_eq!(
            ran.stderr.matches(&ignored("robot", host.ip)).count(),
            1,
            "the takeover attempt with {who} from {} is reported, once a minute:\n{}",
            host.ip,
            ran.stderr
        );
    }
    assert!(
        !ran.stderr.contains("the most it keeps"),
        "a table of a few names warned that it is full:\n{}",
        ran.stderr
    );
    assert!(
        !ran.stderr.contains(&ignored("robot", ours.ip)) && !ran.stderr.contains("'arm'"),
        "our own adverts were ignored:\n{}",
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
    // what keyed programs believe, not who may listen. (Which of the four "robot"s
    // a keyless program lists is not defined; "arm" has only ours.)
    let ran = finished(nw0(checker, None, &["ls", "--wait", "2"]));
    ran.expect_code(0, "ls without the key");
    assert!(
        ran.stdout.contains(&format!("arm\t{arm_at}")),
        "a keyless program hears our keyed name:\n{ran:#?}"
    );

    // The key set at run time (set_class_key) by a program that already advertises:
    // its name goes out sealed from then on, and keyed programs hear it.
    let mut late = drive::Repl::start(ours, "keyed later");
    let late_at = late.advertise("late");
    late.run("class-key\tblue whale", drive::secs(5.0));
    finished(nw0(
        checker,
        Some("blue whale"),
        &["discover", "late", "--wait", "3"],
    ))
    .expect_code(0, "discover with the key")
    .expect_stdout(&[late_at.as_str()], "a name keyed at run time");
}
