//! How long to wait: for ever, or a number of seconds.

use std::time::{Duration, Instant};

/// How long a call may wait. Write a number of seconds (`5`, `0.5`), a
/// [`Duration`], or [`FOREVER`].
///
/// ```
/// use networkzero::{Wait, FOREVER};
/// assert_eq!(Wait::from(2), Wait::Seconds(2.0));
/// assert_eq!(Wait::from(0.5), Wait::Seconds(0.5));
/// assert_eq!(Wait::from(std::time::Duration::from_millis(250)), Wait::Seconds(0.25));
/// assert_eq!(FOREVER, Wait::Forever);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wait {
    /// Until it happens.
    Forever,
    /// At most this many seconds (negative counts as zero).
    Seconds(f64),
}

/// Wait until it happens.
pub const FOREVER: Wait = Wait::Forever;

impl Wait {
    /// The wait as a `Duration`; `None` for ever.
    pub fn duration(self) -> Option<Duration> {
        match self {
            Wait::Forever => None,
            Wait::Seconds(s) if s.is_finite() => Some(Duration::from_secs_f64(s.max(0.0))),
            Wait::Seconds(_) => None,
        }
    }

    /// The wait in words, for messages: "ever" or "5 s".
    pub(crate) fn describe(self) -> String {
        match self {
            Wait::Forever => "ever".into(),
            Wait::Seconds(s) => format!("{s} s"),
        }
    }

    /// The instant the wait ends, counted from `start`; `None` for ever.
    pub(crate) fn deadline(self, start: Instant) -> Option<Instant> {
        self.duration().and_then(|d| start.checked_add(d))
    }
}

impl From<f64> for Wait {
    fn from(s: f64) -> Self {
        Wait::Seconds(s)
    }
}

impl From<f32> for Wait {
    fn from(s: f32) -> Self {
        Wait::Seconds(f64::from(s))
    }
}

impl From<i32> for Wait {
    fn from(s: i32) -> Self {
        Wait::Seconds(f64::from(s))
    }
}

impl From<u32> for Wait {
    fn from(s: u32) -> Self {
        Wait::Seconds(f64::from(s))
    }
}

impl From<u64> for Wait {
    fn from(s: u64) -> Self {
        Wait::Seconds(s as f64)
    }
}

impl From<Duration> for Wait {
    fn from(d: Duration) -> Self {
        Wait::Seconds(d.as_secs_f64())
    }
}

impl From<Option<Duration>> for Wait {
    fn from(d: Option<Duration>) -> Self {
        d.map_or(Wait::Forever, Wait::from)
    }
}

/// Time left until `deadline`, `None` for ever.
pub(crate) fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}
