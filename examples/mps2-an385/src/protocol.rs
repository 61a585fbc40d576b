//! The robot's messages: one definition for both ends. Postcard carries no
//! field names, only values in the order declared here, so the Linux side
//! uses this very file (tests/src/bin/nw0-peer.rs and tests/tests/*.rs
//! include it with `#[path]`) rather than a copy. JSON works too: the unit
//! commands are the strings `"forward"`, `"left"`… that Python and `nw0
//! command` send, and a drive is `{"drive": {"left": 50, "right": -50}}`.
//!
//! `no_std`: serde's derives only.

use serde::{Deserialize, Serialize};

/// Name of the robot's commands (REP).
pub const NAME: &str = "qemu-robot";
/// Name of the robot's news (PUB): [`Odometry`] under [`ODOMETRY`], in postcard.
pub const NEWS: &str = "qemu-robot/news";
/// Topic of the odometry news.
pub const ODOMETRY: &str = "odometry";

/// What the robot is told. A command is acknowledged with `"ack"` (JSON);
/// [`Command::Status`] is answered with a [`Status`], in the request's
/// format; [`Command::Ping`] with `"pong"`; [`Command::Quit`] with `"bye"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// Both wheels forward.
    Forward,
    /// Turn left on the spot.
    Left,
    /// Turn right on the spot.
    Right,
    /// Both wheels still.
    Stop,
    /// Each wheel's speed, -100 (full reverse) to 100.
    Drive {
        /// Left wheel.
        left: i8,
        /// Right wheel.
        right: i8,
    },
    /// Asks for a [`Status`].
    Status,
    /// Asks for `"pong"`.
    Ping,
    /// Says goodbye and stops the robot's program.
    Quit,
}

impl Command {
    /// The wheel speeds this command sets, if it moves the wheels.
    pub fn wheels(self) -> Option<(i8, i8)> {
        match self {
            Command::Forward => Some((50, 50)),
            Command::Left => Some((-30, 30)),
            Command::Right => Some((30, -30)),
            Command::Stop => Some((0, 0)),
            Command::Drive { left, right } => Some((left, right)),
            Command::Status | Command::Ping | Command::Quit => None,
        }
    }
}

/// The answer to [`Command::Status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Status {
    /// Wheel commands obeyed so far.
    pub commands: u32,
    /// Left wheel speed now.
    pub left: i8,
    /// Right wheel speed now.
    pub right: i8,
}

/// A news item: the wheels, every 100 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Odometry {
    /// Counts the items from 1.
    pub n: u32,
    /// Left wheel speed.
    pub left: i8,
    /// Right wheel speed.
    pub right: i8,
}
