//! What the task needs from a board.

use core::fmt;

/// The board under the task: link, LED, motors, sensor. The Pico W's is in
/// examples/pico-w-robot (cyw43 + embassy-rp); the host's in
/// tests/src/bin/embassy-robot.rs.
#[allow(async_fn_in_trait)] // used by one task on one executor: no Send bound needed
pub trait Board {
    /// One attempt to bring the link up (the Pico W joins its Wi-Fi
    /// network); `Ok` once joined. Bounded in time: an attempt that does
    /// not succeed returns an error.
    async fn join(&mut self) -> Result<(), JoinError>;
    /// Turns the status LED on or off.
    async fn set_led(&mut self, on: bool);
    /// Drives the motors.
    fn drive(&mut self, command: Command);
    /// The distance sensor's reading, in cm.
    fn distance_cm(&mut self) -> u32;
}

/// Why [`Board::join`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum JoinError {
    /// No network name was built in (WIFI_SSID was empty at build time).
    NoNetworkName,
    /// The network refused us or was not found (wrong name or password?).
    Refused,
    /// No answer in time (out of range?).
    TimedOut,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JoinError::NoNetworkName => "no network name built in: rebuild with WIFI_SSID set",
            JoinError::Refused => "refused or not found: check WIFI_SSID and WIFI_PASSWORD",
            JoinError::TimedOut => "no answer in time: out of range?",
        })
    }
}

/// What the laptop can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Command {
    /// Both motors forward.
    Forward,
    /// Turn left on the spot.
    Left,
    /// Turn right on the spot.
    Right,
    /// Both motors off.
    Stop,
}

impl Command {
    /// `forward`, `left`, `right` or `stop`.
    pub fn parse(word: &str) -> Option<Command> {
        Some(match word {
            "forward" => Command::Forward,
            "left" => Command::Left,
            "right" => Command::Right,
            "stop" => Command::Stop,
            _ => return None,
        })
    }

    /// The word, as [`Self::parse`] takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Forward => "forward",
            Command::Left => "left",
            Command::Right => "right",
            Command::Stop => "stop",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
