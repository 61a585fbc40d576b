//! Typed messages between two std programs (`nw0-peer` processes) on a simulated LAN:
//! postcard commands, requests and news with the firmware's own types
//! (examples/mps2-an385/src/protocol.rs), checked on the wire by raw libzmq peers; the
//! same run of `nw0-peer drive-robot` that tests/tests/bare_metal.rs runs against the
//! QEMU firmware. Run with `--features networkzero/pure-rust` for the pure transport.
//!
//! Also what a call that reads JSON does with postcard (a clear warning, a `null`
//! reply, never garbage) and what a typed call does with a message that is not its
//! type (a warning naming the type and showing the message; it carries on).

#[path = "../src/bin/nw0-peer/drive.rs"]
mod drive;
#[path = "shared/robot.rs"]
mod robot;

use drive::{address, expect, secs, spawn};
use nw0_tests::*;
use robot::{check_the_wire, drive_robot, expect_postcard_news_warning};

#[test]
fn postcard_commands_requests_and_news_between_two_std_programs() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(2);
    let (robot_host, us) = (&lan.hosts[0], &lan.hosts[1]);
    let mut robot = spawn(robot_host, &["robot", "60"]);
    let robot_addr = address(&mut robot);
    let news_addr = expect(&mut robot, "NEWS-ADDRESS", secs(10.0));

    // The run the firmware gets too: postcard both ways, JSON where asked in JSON.
    drive_robot(us, 0, || robot.stderr());
    for command in [
        r#"{"drive":{"left":50,"right":-50}}"#,
        r#""status""#,
        r#""status""#,
        r#""stop""#,
    ] {
        assert_eq!(expect(&mut robot, "COMMAND", secs(2.0)), command);
    }

    // On the wire, from raw libzmq peers: a postcard request gets a postcard reply, a
    // JSON one JSON (the robot replies `Postcard(status)` to both); news are postcard.
    check_the_wire(us, &robot_addr, &news_addr, 2);
    for _ in 0..2 {
        assert_eq!(expect(&mut robot, "COMMAND", secs(2.0)), r#""status""#);
    }

    // A call that reads JSON given postcard news: a warning that names the call.
    expect_postcard_news_warning(us, &news_addr);

    // A message that is not a Command: a warning naming the type and showing it, a
    // null reply, and the robot carries on.
    let (lines, code, stderr) = drive::run(
        us,
        &["send", &robot_addr, r#"{"jump": 1}"#, "5"],
        secs(20.0),
    );
    assert_eq!(code, Some(0), "{lines:?} {stderr}");
    assert!(lines[0].starts_with("REPLY null "), "{lines:?}");
    let warned = robot.stderr();
    assert!(
        warned.contains(&format!(
            "a message to {robot_addr} cannot be read as Command (unknown variant `jump`"
        )) && warned.contains(r#"): {"jump":1}; it got a null reply"#),
        "{warned}"
    );
    let (lines, code, _) = drive::run(us, &["command", &robot_addr, "forward"], secs(20.0));
    assert_eq!(
        (code, lines.last().map(String::as_str)),
        (Some(0), Some("ACKED"))
    );
    assert_eq!(expect(&mut robot, "COMMAND", secs(2.0)), r#""forward""#);

    // A server that reads JSON given a postcard message: null, and a warning.
    let mut echo = spawn(
        robot_host,
        &["advertise", "echo", "--serve", "echo", "--for", "30"],
    );
    let echo_addr = address(&mut echo);
    let (lines, code, stderr) = drive::run(
        us,
        &["send-postcard", &echo_addr, r#""hi""#, "5"],
        secs(20.0),
    );
    assert_eq!(
        (code, lines.last().map(String::as_str)),
        (Some(0), Some("REPLY null")),
        "{stderr}"
    );
    let warned = echo.stderr();
    assert!(
        warned.contains("is postcard (4 bytes: ff 02 68 69)")
            && warned.contains("use wait_for_message_as::<YourType>"),
        "{warned}"
    );

    let (lines, _, _) = drive::run(us, &["send", &robot_addr, "quit", "5"], secs(20.0));
    assert!(lines[0].starts_with(r#"REPLY "bye" "#), "{lines:?}");
    expect(&mut robot, "BYE", secs(5.0));
}
