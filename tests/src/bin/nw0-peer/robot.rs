//! `nw0-peer`'s typed commands: the QEMU firmware's robot ([`protocol`]) as a std
//! program, and the Linux side that drives it, so one scenario runs against the
//! firmware (tests/tests/bare_metal.rs) and between two std programs
//! (tests/tests/typed.rs), on either transport.

use std::time::{Duration, Instant};

use networkzero as nw0;
use nw0::{Postcard, Value};
use serde::Serialize;

use super::{arg, json_arg, num, opt_num, say, target, Outcome};

#[allow(dead_code)] // the firmware's NAME/NEWS consts are used, its docs' helpers too
#[path = "../../../../examples/mps2-an385/src/protocol.rs"]
pub mod protocol;

use protocol::{Command, Odometry, Status, NAME, NEWS, ODOMETRY};

/// How often the robot publishes its odometry (the firmware's rate).
const NEWS_EVERY: Duration = Duration::from_millis(100);

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "?".into())
}

/// `robot [FOR_S]`: serves [`NAME`] with typed calls (`wait_for_message_as::<Command>`),
/// answering a status with `Postcard(status)` (which goes as JSON to a JSON request),
/// and publishes [`Odometry`] as postcard on [`NEWS`] every 100 ms. Prints `ADDRESS`,
/// `NEWS-ADDRESS`, `COMMAND <json>` per command, `BYE` after `quit` or its lifetime.
pub fn robot(args: &[String]) -> Outcome {
    let lifetime: f64 = opt_num(args, 1, "FOR_S", 60.0)?;
    let address = nw0::advertise(NAME)?;
    let news = nw0::advertise(NEWS)?;
    say(format!("ADDRESS {address}"));
    say(format!("NEWS-ADDRESS {news}"));
    let end = Instant::now() + Duration::from_secs_f64(lifetime);
    let mut status = Status::default();
    let mut odometry = Odometry::default();
    let mut next_news = Instant::now();
    while Instant::now() < end {
        let wait = next_news.saturating_duration_since(Instant::now());
        if let Some(command) = nw0::wait_for_message_as::<Command>(address, wait)? {
            say(format!("COMMAND {}", json(&command)));
            match command {
                Command::Status => nw0::send_reply(address, Postcard(status))?,
                Command::Ping => nw0::send_reply(address, "pong")?,
                Command::Quit => {
                    nw0::send_reply(address, "bye")?;
                    break;
                }
                wheels => {
                    if let Some((left, right)) = wheels.wheels() {
                        status = Status {
                            commands: status.commands + 1,
                            left,
                            right,
                        };
                    }
                    nw0::send_reply(address, nw0::COMMAND_ACK)?;
                }
            }
        }
        if Instant::now() >= next_news {
            next_news += NEWS_EVERY;
            odometry = Odometry {
                n: odometry.n + 1,
                left: status.left,
                right: status.right,
            };
            nw0::publish_news(news, ODOMETRY, Postcard(odometry))?;
        }
    }
    say("BYE");
    Ok(0)
}

/// `drive-robot [WAIT_S]`: discovers the robot and its news, then, each step with
/// `WAIT_S` (default 10 s) to answer: a postcard drive command (`ACKED drive`), a
/// postcard status request read as a [`Status`] (`STATUS postcard <json>`), the same
/// in JSON (`STATUS json <json>`), the first odometry item read as [`Odometry`]
/// (`ODOMETRY <json>`), a postcard stop (`ACKED stop`). `NOT…` lines when one fails;
/// exit 0 only when all succeeded.
pub fn drive_robot(args: &[String]) -> Outcome {
    let wait: f64 = opt_num(args, 1, "WAIT_S", 10.0)?;
    let (Some(robot), Some(news)) = (target(NAME)?, target(NEWS)?) else {
        return Ok(1);
    };
    let mut failed = false;
    let mut acked = |what: &str, yes: bool| {
        say(format!("{} {what}", if yes { "ACKED" } else { "NOTACKED" }));
        failed |= !yes;
    };
    let drive = Command::Drive {
        left: 50,
        right: -50,
    };
    acked(
        "drive",
        nw0::send_command_within(robot, Postcard(drive), wait)?,
    );
    let in_postcard = nw0::send_message_as::<Status>(robot, Postcard(Command::Status), wait)?;
    let in_json = nw0::send_message_as::<Status>(robot, "status", wait)?;
    let odometry = nw0::wait_for_news_as::<Odometry>(news, ODOMETRY, wait)?;
    acked(
        "stop",
        nw0::send_command_within(robot, Postcard(Command::Stop), wait)?,
    );
    for (label, status) in [("postcard", in_postcard), ("json", in_json)] {
        match status {
            Some(s) => say(format!("STATUS {label} {}", json(&s))),
            None => say(format!("NOSTATUS {label}")),
        }
        failed |= status.is_none();
    }
    match odometry {
        Some((_, o)) => say(format!("ODOMETRY {}", json(&o))),
        None => say("NOODOMETRY"),
    }
    failed |= odometry.is_none();
    Ok(u8::from(failed))
}

/// `odometry TARGET COUNT WAIT_S`: COUNT items of [`ODOMETRY`] news read as
/// [`Odometry`] (`ODOMETRY <json>` each; `NONEWS` and exit 1 at a timeout).
pub fn odometry(args: &[String]) -> Outcome {
    let Some(address) = target(arg(args, 1, "TARGET")?)? else {
        return Ok(1);
    };
    let count: u64 = num(args, 2, "COUNT")?;
    let wait: f64 = num(args, 3, "WAIT_S")?;
    for _ in 0..count {
        match nw0::wait_for_news_as::<Odometry>(address, ODOMETRY, wait)? {
            Some((_, o)) => say(format!("ODOMETRY {}", json(&o))),
            None => {
                say("NONEWS");
                return Ok(1);
            }
        }
    }
    Ok(0)
}

/// `send-postcard TARGET JSON WAIT_S`: `send` with the message wrapped in
/// [`Postcard`]; the reply read as JSON (`REPLY <json>`, or `NOREPLY`).
pub fn send_postcard(args: &[String]) -> Outcome {
    let Some(address) = target(arg(args, 1, "TARGET")?)? else {
        return Ok(1);
    };
    let message = json_arg(arg(args, 2, "JSON")?);
    let wait: f64 = num(args, 3, "WAIT_S")?;
    match nw0::send_message_as::<Value>(address, Postcard(&message), wait)? {
        Some(reply) => {
            say(format!("REPLY {}", json(&reply)));
            Ok(0)
        }
        None => {
            say("NOREPLY");
            Ok(1)
        }
    }
}
