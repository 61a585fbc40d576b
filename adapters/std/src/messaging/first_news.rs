//! When a new publisher's first item goes: once the programs already
//! waiting for its news have subscribed. News sent before a subscriber has
//! connected is dropped, and those programs retry their connection every
//! 100 ms, each at its own moment.

use std::time::{Duration, Instant};

use log::debug;

use crate::transport::Subscribers;

/// The longest the first `publish_news` on an address waits for programs
/// already waiting for its news when none has come.
pub(crate) const FIRST_NEWS_WAIT: Duration = Duration::from_millis(300);

/// How long after a new publisher starts listening every program already
/// waiting for its news has connected. Each retries its connection at its
/// own moment: networkzero's pure-Rust transport and boards every 100 ms
/// (`networkzero_core::socket::RECONNECT`), libzmq and so Python
/// networkzero every 100 ms plus a random 0-100 ms (libzmq's
/// `get_new_reconnect_ivl`). So one refused just before the publisher
/// listened comes back within 200 ms; the other 50 ms are for the network
/// (a Pico W's radio dozing) and the accept. The first item waits this long
/// once a subscriber has come, not only until the first one has subscribed:
/// a class of programs waiting for a teacher's first item retry at
/// different moments, and all but the quickest missed it.
pub(crate) const FIRST_NEWS_JOIN: Duration = Duration::from_millis(250);

/// Waits before a new publisher's first item, its socket listening since
/// `listening`. `subscribers(seen, until)` gives the socket's subscribers
/// once they differ from `seen`, or at `until`; `clock` reads the time.
///
/// The item goes once [`FIRST_NEWS_JOIN`] has passed (every program already
/// waiting has tried again), a subscriber has subscribed and no accepted
/// connection is still joining; with no subscriber at all, at
/// [`FIRST_NEWS_WAIT`], which also bounds the wait for one still joining.
pub(crate) fn waits(
    mut subscribers: impl FnMut(Subscribers, Instant) -> Subscribers,
    mut clock: impl FnMut() -> Instant,
    listening: Instant,
) {
    let joined_by = listening + FIRST_NEWS_JOIN;
    let deadline = listening + FIRST_NEWS_WAIT;
    let mut seen = Subscribers::default();
    // Each pass sees a change or reaches `joined_by` or the deadline; a
    // change is a connection, so this is bounded by the deadline too.
    loop {
        // Ready already: only the join window's end (or a newcomer) can
        // change the answer.
        let until = if seen.ready_for_news() {
            joined_by
        } else {
            deadline
        };
        let now = subscribers(seen, until);
        let at = clock();
        if now.ready_for_news() && at >= joined_by {
            return;
        }
        if at >= deadline {
            debug!("publishing the first item after {FIRST_NEWS_WAIT:?} with {now:?}");
            return;
        }
        seen = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// A publisher's connections over time: `(ms after listening, joining,
    /// joined)`, each holding until the next. Returns when [`waits`]
    /// let the first item go, in ms after listening, and how many times it
    /// asked.
    fn first_item_at(script: &[(u64, usize, usize)]) -> (u64, usize) {
        let start = Instant::now();
        let ms = |t: Instant| u64::try_from((t - start).as_millis()).unwrap();
        let now = Cell::new(start);
        let state = |at: u64| {
            script
                .iter()
                .rev()
                .find(|(t, ..)| *t <= at)
                .map_or(Subscribers::default(), |&(_, joining, joined)| {
                    Subscribers { joining, joined }
                })
        };
        let mut asked = 0;
        waits(
            |seen, until| {
                asked += 1;
                assert!(asked < 100, "asked again and again");
                let from = ms(now.get());
                // the first change after `from`, or `until`
                let change = script
                    .iter()
                    .map(|(t, ..)| *t)
                    .filter(|t| *t > from && state(*t) != seen)
                    .min();
                let to = change.map_or(ms(until), |c| c.min(ms(until))).max(from);
                now.set(start + Duration::from_millis(to));
                state(to)
            },
            || now.get(),
            start,
        );
        (ms(now.get()), asked)
    }

    #[test]
    fn a_lone_subscriber_gets_the_first_item_once_the_others_could_have_come() {
        assert_eq!(first_item_at(&[(10, 1, 0), (12, 0, 1)]).0, 250);
    }

    #[test]
    fn subscribers_retrying_later_join_before_the_first_item() {
        // The first joins at 12 ms; the old rule let the item go then, and the
        // two retrying at 90 and 199 ms (libzmq's longest interval) missed it.
        let script = [
            (10, 1, 0),
            (12, 0, 1),
            (90, 1, 1),
            (92, 0, 2),
            (199, 1, 2),
            (201, 0, 3),
        ];
        assert_eq!(first_item_at(&script).0, 250);
    }

    #[test]
    fn one_still_joining_at_the_window_end_is_waited_for() {
        let script = [(10, 0, 1), (245, 1, 1), (270, 0, 2)];
        assert_eq!(first_item_at(&script).0, 270);
        // and no longer than the deadline
        assert_eq!(first_item_at(&[(10, 0, 1), (245, 1, 1)]).0, 300);
    }

    #[test]
    fn with_nobody_the_first_item_waits_for_the_deadline_only() {
        let (at, asked) = first_item_at(&[]);
        assert_eq!((at, asked), (300, 1), "one wait, to the deadline");
    }

    #[test]
    fn a_subscriber_joining_late_lets_the_item_go_at_once() {
        assert_eq!(first_item_at(&[(270, 1, 0), (271, 0, 1)]).0, 271);
    }
}
