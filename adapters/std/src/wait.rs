//! How long to wait: for ever, or a number of seconds.
//!
//! Every value means one clear thing, so no wait a program can write makes
//! networkzero panic:
//!
//! | written                                   | means                      |
//! |-------------------------------------------|----------------------------|
//! | [`FOREVER`], `f64::INFINITY`              | until it happens           |
//! | a number of seconds ≥ 0, a `Duration`     | at most that long          |
//! | negative seconds (`-1`, `f64::NEG_INFINITY`) | no waiting: only what is already there |
//! | more seconds than the clock can count (`1e20`, `u64::MAX`, `Duration::MAX`) | until it happens |
//! | `f64::NAN`                                | a hard error ([`Error::BadWait`]) |

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long a call may wait. Write a number of seconds (`5`, `0.5`), a
/// [`Duration`], or [`FOREVER`]. Negative seconds mean no waiting; a wait
/// too long for the clock (`1e20`, `u64::MAX`, `Duration::MAX`) or
/// `f64::INFINITY` means for ever; `f64::NAN` is an error
/// ([`Error::BadWait`]) that says what to write instead.
///
/// ```
/// use networkzero::{Wait, FOREVER};
/// use std::time::Duration;
/// assert_eq!(Wait::from(2), Wait::Seconds(2.0));
/// assert_eq!(Wait::from(0.5), Wait::Seconds(0.5));
/// assert_eq!(Wait::from(Duration::from_millis(250)), Wait::Seconds(0.25));
/// assert_eq!(FOREVER, Wait::Forever);
/// assert_eq!(Wait::from(-3).duration()?, Some(Duration::ZERO));
/// assert_eq!(Wait::from(u64::MAX).duration()?, None); // for ever
/// assert!(Wait::from(f64::NAN).duration().is_err());
/// # Ok::<(), networkzero::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wait {
    /// Until it happens.
    Forever,
    /// At most this many seconds (negative counts as zero; more than the
    /// clock can count, or infinity, as for ever; NaN is an error).
    Seconds(f64),
}

/// Wait until it happens.
pub const FOREVER: Wait = Wait::Forever;

/// The longest wait with an end, a century: longer is for ever. Every
/// message call checks its wait, and this check needs no clock reading;
/// any `Instant` std gives plus a century still fits in one (they count
/// from boot, in at least 64 bits of nanoseconds: 584 years).
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

impl Wait {
    /// The wait as a `Duration`; `None` for ever; an error for NaN.
    pub fn duration(self) -> Result<Option<Duration>> {
        match self {
            Wait::Forever => Ok(None),
            Wait::Seconds(s) if s.is_nan() => Err(Error::BadWait {
                reason: "it is NaN (not a number)".into(),
            }),
            Wait::Seconds(s) if s <= 0.0 => Ok(Some(Duration::ZERO)),
            // Infinity, or more seconds than a Duration holds: for ever.
            Wait::Seconds(s) => Ok(Duration::try_from_secs_f64(s).ok()),
        }
    }

    /// The same wait, checked: `Seconds` only for a wait with an end the
    /// clock can count, so [`Wait::deadline`] cannot fail.
    pub(crate) fn checked(self) -> Result<Wait> {
        self.checked_with_duration().map(|(wait, _)| wait)
    }

    /// [`Wait::checked`], and its [`Wait::duration`] (`None`: for ever)
    /// from the same conversion: a message call needs both, and turning
    /// seconds into a `Duration` measured ~110 instructions, 2 % of taking
    /// a news item (pure-Rust transport).
    pub(crate) fn checked_with_duration(self) -> Result<(Wait, Option<Duration>)> {
        if let Some(whole) = self.whole_seconds() {
            return Ok((
                Wait::Seconds(whole as f64),
                Some(Duration::from_secs(whole)),
            ));
        }
        Ok(match self.duration()? {
            None => (Wait::Forever, None),
            Some(d) if d > LONGEST => (Wait::Forever, None),
            Some(d) => (Wait::Seconds(self.seconds()), Some(d)),
        })
    }

    /// The wait's seconds if they are whole, from 0 up to a century: the
    /// usual wait (`5`, `0`, or a `Duration` of whole seconds), whose
    /// `Duration` needs none of `Duration::try_from_secs_f64`'s work (it
    /// took 53 more instructions a `wait_for_news`, ~1 % of taking an
    /// item). Exact: a whole number of seconds below 2^53 is an `f64`
    /// exactly, and so is its `Duration`.
    fn whole_seconds(self) -> Option<u64> {
        let Wait::Seconds(s) = self else {
            return None;
        };
        // Also false for NaN. `as` truncates (and saturates, past u64).
        let whole = s as u64;
        (s >= 0.0 && s <= LONGEST.as_secs() as f64 && whole as f64 == s).then_some(whole)
    }

    fn seconds(self) -> f64 {
        match self {
            Wait::Forever => f64::INFINITY,
            Wait::Seconds(s) => s.max(0.0),
        }
    }

    /// The wait in words, for messages: "ever" or "5 s".
    pub(crate) fn describe(self) -> String {
        match self.duration() {
            Ok(None) => "ever".into(),
            _ => format!("{} s", self.seconds()),
        }
    }

    /// The instant the wait ends, counted from `start`; `None` for ever (and
    /// for a wait that [`Wait::checked`] would refuse).
    pub(crate) fn deadline(self, start: Instant) -> Option<Instant> {
        self.duration()
            .ok()
            .flatten()
            .and_then(|d| start.checked_add(d))
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

/// Whole seconds of every integer type (`5`, `u64::MAX`, `i64::MIN`…).
macro_rules! from_integer_seconds {
    ($($t:ty),*) => {$(
        impl From<$t> for Wait {
            fn from(s: $t) -> Self {
                // Exact up to 2^53 s (285 million years); beyond, the
                // nearest f64, which is for ever anyway.
                Wait::Seconds(s as f64)
            }
        }
    )*};
}

from_integer_seconds!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_wait_means_one_thing() {
        let zero = Some(Duration::ZERO);
        for (wait, meaning) in [
            (Wait::from(0), zero),
            (Wait::from(-1), zero),
            (Wait::from(i64::MIN), zero),
            (Wait::from(f64::NEG_INFINITY), zero),
            (Wait::from(-0.0), zero),
            (Wait::from(2.5), Some(Duration::from_millis(2500))),
            (Wait::from(f64::INFINITY), None),
            (Wait::from(1e300), None),
            (Wait::from(u64::MAX), None),
            (Wait::from(Duration::MAX), None),
            (Wait::from(None), None),
            (FOREVER, None),
        ] {
            assert_eq!(wait.duration(), Ok(meaning), "{wait:?}");
            assert!(wait.checked().is_ok());
            let (checked, duration) = wait.checked_with_duration().unwrap();
            assert_eq!(checked.duration(), Ok(duration), "one wait: {wait:?}");
            let start = Instant::now();
            assert_eq!(wait.deadline(start), meaning.map(|d| start + d), "{wait:?}");
            let _ = wait.describe();
        }
        let nan = Wait::from(f64::NAN);
        assert!(nan.duration().is_err() && nan.checked().is_err());
        assert_eq!(nan.deadline(Instant::now()), None);
        assert_eq!(Wait::from(1e20).checked(), Ok(Wait::Forever));
        let century = LONGEST.as_secs_f64();
        assert_eq!(Wait::from(century).checked(), Ok(Wait::Seconds(century)));
        assert_eq!(Wait::from(century * 1.01).checked(), Ok(Wait::Forever));
        assert_eq!(
            Wait::from(century * 1.01).checked_with_duration(),
            Ok((Wait::Forever, None)),
            "past a century: for ever, and no duration"
        );
        assert!(nan.checked_with_duration().is_err());
        assert!(Instant::now().checked_add(LONGEST).is_some());
        assert_eq!(Wait::from(1e20).describe(), "ever");
        assert_eq!(Wait::from(-2).checked(), Ok(Wait::Seconds(0.0)));
    }

    /// Whole seconds take a shortcut to their `Duration`: it gives what
    /// the general conversion gives, for whole seconds and for what is
    /// near them, up to and past a century.
    #[test]
    fn whole_seconds_give_the_same_wait_as_any_other() {
        let century = LONGEST.as_secs() as f64;
        let mut seconds = vec![
            -0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 5.0, 59.999, 60.0, 3600.0, 1e9,
        ];
        seconds.extend([century - 1.0, century, century + 1.0, century * 2.0, 1e20]);
        seconds.extend([
            f64::MIN_POSITIVE,
            1.0 - f64::EPSILON,
            1.0 + 2.0 * f64::EPSILON,
        ]);
        for s in seconds {
            let expected = match Duration::try_from_secs_f64(s).ok() {
                Some(d) if d <= LONGEST => (Wait::Seconds(s), Some(d)),
                _ => (Wait::Forever, None),
            };
            assert_eq!(Wait::from(s).checked_with_duration(), Ok(expected), "{s} s");
        }
        assert_eq!(
            Wait::from(5).whole_seconds(),
            Some(5),
            "taken by the shortcut"
        );
        assert_eq!(
            Wait::from(Duration::from_secs(60)).whole_seconds(),
            Some(60)
        );
        assert_eq!(Wait::from(2.5).whole_seconds(), None);
        assert_eq!(Wait::from(0).whole_seconds(), Some(0));
        assert_eq!(
            Wait::from(-1).whole_seconds(),
            None,
            "negative: the general way"
        );
        assert_eq!(Wait::from(f64::NAN).whole_seconds(), None);
        assert_eq!(FOREVER.whole_seconds(), None);
    }

    /// "Longer than a century is for ever" is what the docs promise: a wait
    /// of 99 years keeps its end, one of 101 years has none. (The tests above
    /// measure from `LONGEST` itself, so they hold whatever it is.)
    #[test]
    fn a_century_is_the_longest_wait_with_an_end() {
        let year = 365.0 * 24.0 * 60.0 * 60.0;
        for seconds in [5.0, 99.0 * year] {
            assert_eq!(Wait::from(seconds).checked(), Ok(Wait::Seconds(seconds)));
        }
        assert_eq!(Wait::from(101.0 * year).checked(), Ok(Wait::Forever));
    }

    /// What a message loop has left: nothing for ever, zero once the deadline
    /// is past, and at most the whole wait before it.
    #[test]
    fn the_time_left_counts_down_to_the_deadline() {
        assert_eq!(remaining(None), None);
        let start = Instant::now();
        assert_eq!(remaining(Some(start)), Some(Duration::ZERO));
        let hour = Duration::from_secs(3600);
        let left = remaining(Some(start + hour)).unwrap();
        assert!(left > Duration::ZERO && left <= hour, "{left:?}");
    }

    #[test]
    fn the_error_says_what_to_write() {
        let e = Wait::from(f64::NAN).checked().unwrap_err().to_string();
        assert!(e.contains("NaN") && e.contains("FOREVER"), "{e}");
    }
}
