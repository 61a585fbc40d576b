//! The class key (issue: reliability and security): with `NW0_CLASS_KEY`
//! set, a classroom's programs hear only each other; another team's program
//! or a Python peer advertising the same name cannot take it over.

use std::time::Duration;

use nw0_tests::*;

fn nw0(host: &Host, key: Option<&str>, args: &[&str]) -> ChildGuard {
    let mut cmd = host.command(workspace_bin("nw0"));
    cmd.args(args);
    match key {
        Some(k) => cmd.env("NW0_CLASS_KEY", k),
        None => cmd.env_remove("NW0_CLASS_KEY"),
    };
    ChildGuard::spawn(&mut cmd).expect("spawn nw0")
}

fn finished(mut child: ChildGuard) -> (Option<i32>, Vec<String>, String) {
    let status = child
        .wait_timeout(Duration::from_secs(20))
        .expect("wait")
        .expect("nw0 ends");
    let mut out = Vec::new();
    while let Ok(line) = child.next_line(Duration::from_secs(2)) {
        out.push(line);
    }
    std::thread::sleep(Duration::from_millis(50));
    (status.code(), out, child.stderr())
}

#[test]
fn a_name_cannot_be_taken_over_without_the_key() {
    if !require_netns() {
        return;
    }
    let python = require_python();
    let lan = Lan::new(3);
    let (ours, theirs, checker) = (&lan.hosts[0], &lan.hosts[1], &lan.hosts[2]);

    let mut robot = nw0(ours, Some("blue whale"), &["advertise", "robot", "--echo"]);
    let robot_at = robot
        .expect_line(|l| !l.is_empty(), Duration::from_secs(15))
        .unwrap();
    // Another team, with another key, and someone with no key at all.
    let mut impostor = nw0(theirs, Some("red fox"), &["advertise", "robot", "--echo"]);
    impostor
        .expect_line(|l| !l.is_empty(), Duration::from_secs(15))
        .unwrap();
    let _python = python.map(|_| py::spawn(theirs, &py::advertiser("robot", None, None, 60.0)));
    let mut spoofer = nw0(theirs, None, &["advertise", "robot", "--echo"]);
    spoofer
        .expect_line(|l| !l.is_empty(), Duration::from_secs(15))
        .unwrap();

    // Let several rounds of everyone's adverts go by (Python's every 2 s).
    std::thread::sleep(Duration::from_millis(4500));
    let (code, out, stderr) = finished(nw0(checker, Some("blue whale"), &["ls", "--wait", "2"]));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        out,
        [format!("robot\t{robot_at}")],
        "only our robot is heard\n{stderr}"
    );
    assert!(
        stderr.contains("ignored an advert for 'robot'"),
        "the takeover attempts are reported:\n{stderr}"
    );
    let (code, out, stderr) = finished(nw0(
        checker,
        Some("blue whale"),
        &["send", "robot", "\"hi\""],
    ));
    assert_eq!(
        (code, out.as_slice()),
        (Some(0), &["\"hi\"".to_string()][..]),
        "{stderr}"
    );

    // Without the key our robot's adverts are still readable; the key guards
    // what keyed programs believe, not who may listen.
    let (code, out, _) = finished(nw0(checker, None, &["ls", "--wait", "2"]));
    assert_eq!(code, Some(0));
    assert!(!out.is_empty());
}
