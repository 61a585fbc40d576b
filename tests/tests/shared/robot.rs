//! The robot run that tests/tests/typed.rs (two std programs) and
//! tests/tests/bare_metal.rs (the QEMU firmware) share: the firmware's own types
//! ([`protocol`]), `nw0-peer drive-robot` against it, and the wire seen by raw libzmq
//! peers. Included with `#[path = "shared/robot.rs"] mod robot;` beside
//! `mod drive;` (the `nw0-peer` driver).
#![allow(dead_code)] // each test uses a different part

#[allow(dead_code)]
#[path = "../../../examples/mps2-an385/src/protocol.rs"]
pub mod protocol;

use networkzero_core::payload::{self, Format, POSTCARD_TAG};
use nw0_tests::Host;
use protocol::{Command, Odometry, Status, ODOMETRY};
use serde_json::{json, Value};

use super::drive::{self, secs};

/// The JSON after `WORD ` in one of `lines`.
#[track_caller]
pub fn line_json(lines: &[String], word: &str) -> Value {
    let rest = lines
        .iter()
        .find_map(|l| l.strip_prefix(word))
        .unwrap_or_else(|| panic!("no `{word}` line in {lines:?}"));
    serde_json::from_str(rest.trim()).unwrap_or_else(|e| panic!("`{word}{rest}` ({e})"))
}

/// `nw0-peer drive-robot` in `host`, against a robot that has obeyed `commands` wheel
/// commands so far: a postcard drive and stop acknowledged, the status in postcard and
/// in JSON read as a `Status` (both driving), an odometry item read as `Odometry`.
/// `robot_log` is the robot's output so far, for failures.
#[track_caller]
pub fn drive_robot(host: &Host, commands: u32, robot_log: impl Fn() -> String) {
    let (lines, code, stderr) = drive::run(host, &["drive-robot", "10"], secs(60.0));
    assert_eq!(code, Some(0), "{lines:?}\n{stderr}\nrobot: {}", robot_log());
    assert!(lines.contains(&"ACKED drive".to_string()), "{lines:?}");
    assert!(lines.contains(&"ACKED stop".to_string()), "{lines:?}");
    let driving = json!({"commands": commands + 1, "left": 50, "right": -50});
    assert_eq!(line_json(&lines, "STATUS postcard"), driving);
    assert_eq!(line_json(&lines, "STATUS json"), driving);
    let odometry = line_json(&lines, "ODOMETRY");
    assert_eq!(
        (&odometry["left"], &odometry["right"]),
        (&json!(50), &json!(-50))
    );
}

/// `command` in postcard, as the core's codec writes it.
fn postcard(command: &Command) -> Vec<u8> {
    let mut buf = [0u8; 32];
    let n = payload::encode(command, Format::Postcard, &mut buf).expect("fits");
    buf[..n].to_vec()
}

/// Raw libzmq peers in `host` (a fresh context on its thread, so its I/O threads live
/// there too) ask the robot at `robot` for its status in postcard, then in JSON, and
/// take one news item from `news`: the postcard request gets a postcard reply, the JSON
/// one JSON, and the news item is postcard; all three say the wheels are `stopped`
/// after `commands` wheel commands.
#[track_caller]
pub fn check_the_wire(host: &Host, robot: &str, news: &str, commands: u32) {
    let (endpoint, news_endpoint) = (format!("tcp://{robot}"), format!("tcp://{news}"));
    let (postcard_reply, json_reply, item) = host.run(move || {
        let ctx = zmq::Context::new();
        let req = ctx.socket(zmq::REQ).unwrap();
        req.set_linger(0).unwrap();
        req.set_rcvtimeo(10_000).unwrap();
        req.connect(&endpoint).unwrap();
        req.send(postcard(&Command::Status), 0).unwrap();
        let postcard_reply = req.recv_bytes(0).unwrap();
        req.send(&b"\"status\""[..], 0).unwrap();
        let json_reply = req.recv_bytes(0).unwrap();
        let sub = ctx.socket(zmq::SUB).unwrap();
        sub.set_linger(0).unwrap();
        sub.set_rcvtimeo(10_000).unwrap();
        sub.set_subscribe(ODOMETRY.as_bytes()).unwrap();
        sub.connect(&news_endpoint).unwrap();
        (postcard_reply, json_reply, sub.recv_multipart(0).unwrap())
    });
    let stopped = Status {
        commands,
        left: 0,
        right: 0,
    };
    assert_eq!(
        postcard_reply.first(),
        Some(&POSTCARD_TAG),
        "{postcard_reply:?}"
    );
    assert_eq!(payload::decode_postcard(&postcard_reply), Ok(stopped));
    assert_eq!(
        serde_json::from_slice::<Value>(&json_reply).unwrap(),
        json!({"commands": commands, "left": 0, "right": 0})
    );
    assert_eq!(item.len(), 2, "{item:?}");
    assert_eq!(item[0], ODOMETRY.as_bytes());
    assert_eq!(item[1].first(), Some(&POSTCARD_TAG), "{item:?}");
    let odometry: Odometry = payload::decode_postcard(&item[1]).expect("an Odometry");
    assert_eq!((odometry.left, odometry.right), (0, 0));
}

/// A call that reads JSON (`nw0-peer watch`, in `host`) given the postcard news at
/// `news` for 1.5 s: nothing, and a warning that names the call that reads them — one
/// or two (the 1st and 10th unreadable items) for at most 15 items, not one each.
#[track_caller]
pub fn expect_postcard_news_warning(host: &Host, news: &str) {
    let (lines, code, stderr) =
        drive::run(host, &["watch", news, ODOMETRY, "1", "1.5"], secs(20.0));
    assert_eq!(
        (code, lines.last().map(String::as_str)),
        (Some(1), Some("NONEWS")),
        "{lines:?}"
    );
    assert!(
        stderr.contains("is postcard (") && stderr.contains("use wait_for_news_as::<YourType>"),
        "{stderr}"
    );
    let warnings = stderr.matches("networkzero warning").count();
    assert!((1..=2).contains(&warnings), "{warnings} warnings: {stderr}");
}
