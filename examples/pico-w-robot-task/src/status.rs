//! The bring-up as the LED shows it: a board flashed from a .uf2 has no
//! log, so the LED says how far it got.
//!
//! | LED                                   | status                                   |
//! |---------------------------------------|------------------------------------------|
//! | on, steady                            | [`Status::Joining`] the network           |
//! | blinks fast (5 times a second)        | [`Status::JoinFailed`]: retrying soon    |
//! | blinks slowly (once a second)         | [`Status::NoAddress`]: joined, no DHCP lease yet |
//! | a short flash every 2 seconds         | [`Status::Advertised`]: has an address and advertises `robot` |
//! | off, never lit                        | the Wi-Fi chip did not start (see the firmware's README) |

use embassy_time::{Duration, Instant};

/// How far the bring-up got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status {
    /// Joining the network (or waiting for the link to come back).
    Joining,
    /// The last attempt to join failed; the next comes after a pause.
    JoinFailed,
    /// Joined, but no address yet (waiting for a DHCP lease).
    NoAddress,
    /// Has an address; the node advertises its names there.
    Advertised,
}

impl Status {
    /// (on, off) times of its blinking; `None`: steady on.
    fn pattern(self) -> Option<(Duration, Duration)> {
        let ms = Duration::from_millis;
        match self {
            Status::Joining => None,
            Status::JoinFailed => Some((ms(100), ms(100))),
            Status::NoAddress => Some((ms(500), ms(500))),
            Status::Advertised => Some((ms(100), ms(1900))),
        }
    }
}

/// The LED's state machine: which status it shows, whether it is lit, and
/// when it changes next.
#[derive(Debug, Clone, Copy)]
pub struct Led {
    status: Status,
    on: bool,
    next: Option<Instant>,
}

impl Led {
    /// Showing [`Status::Joining`] (steady on).
    pub fn new() -> Led {
        Led {
            status: Status::Joining,
            on: true,
            next: None,
        }
    }

    /// The status shown.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Whether the LED should be lit now.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// When [`Self::step`] changes the LED next; `None`: not until the status does.
    pub fn next(&self) -> Option<Instant> {
        self.next
    }

    /// Shows `status` (from the start of its pattern if it is new).
    /// Returns whether the LED changed.
    pub fn set(&mut self, status: Status, now: Instant) -> bool {
        if status == self.status {
            return false;
        }
        let was = self.on;
        self.status = status;
        self.on = true;
        self.next = status.pattern().map(|(on, _)| now + on);
        was != self.on
    }

    /// Moves the blinking on to `now`; returns whether the LED changed.
    pub fn step(&mut self, now: Instant) -> bool {
        let (Some(next), Some((on, off))) = (self.next, self.status.pattern()) else {
            return false;
        };
        if now < next {
            return false;
        }
        self.on = !self.on;
        self.next = Some(now + if self.on { on } else { off });
        true
    }
}

impl Default for Led {
    fn default() -> Self {
        Self::new()
    }
}
