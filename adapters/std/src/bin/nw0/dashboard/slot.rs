//! A place in a bounded count (requests being served, live lists), taken
//! before the work starts and given back when dropped, on whichever thread
//! the work ends: a request's place can go with it into its thread, or be
//! handed back early when the request becomes a live stream with a bound of
//! its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One place in a count of at most some maximum; dropping it frees the place.
#[must_use = "the place is given back as soon as the slot is dropped"]
pub struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// A place in `count` if fewer than `max` are taken.
    pub fn take(count: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(count)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_given_back() {
        let count = Arc::new(AtomicUsize::new(0));
        let first = Slot::take(&count, 2).expect("a free slot");
        let second = Slot::take(&count, 2).expect("the last slot");
        assert!(Slot::take(&count, 2).is_none(), "all taken");
        assert_eq!(count.load(Ordering::Acquire), 2);
        drop(first);
        assert_eq!(count.load(Ordering::Acquire), 1);
        let third = Slot::take(&count, 2).expect("a slot given back is free again");
        drop((second, third));
        assert_eq!(count.load(Ordering::Acquire), 0);
    }
}
