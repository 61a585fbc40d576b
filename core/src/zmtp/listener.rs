//! Several connections in a fixed number of slots, fair-queued.

use super::connection::{Connection, Event, Sent};
use super::error::ZmtpError;
use crate::time::Instant;

/// Names one slot of a [`Listener`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SlotId(usize);

impl SlotId {
    /// The slot index, `0..N`.
    pub const fn index(self) -> usize {
        self.0
    }
}

/// What [`Listener::publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PublishReport {
    /// Peers the message was queued for.
    pub queued: usize,
    /// Peers without a matching subscription.
    pub filtered: usize,
    /// Peers whose output was full or that are not ready (dropped, as libzmq
    /// PUB drops at its high-water mark).
    pub dropped: usize,
}

/// Up to `N` connections of one role (typically REP or PUB serving several
/// peers), each in its own slot, for a board with a fixed number of TCP
/// sockets.
///
/// The caller still moves bytes per slot (`handle_input`, `poll_output`);
/// the listener adds slot bookkeeping, a round-robin [`poll_event`](Self::poll_event)
/// so one chatty peer cannot starve the others (each REP connection also
/// stops reading while it owes a reply), shared timers and
/// [`publish`](Self::publish) to every subscriber. The drain order is the
/// [`Connection`]'s, applied to every slot.
pub struct Listener<R, T, const N: usize> {
    slots: [Option<Connection<R, T>>; N],
    next: usize,
}

impl<R: super::Buffer, T: super::Buffer, const N: usize> Default for Listener<R, T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: super::Buffer, T: super::Buffer, const N: usize> Listener<R, T, N> {
    /// No connections.
    pub fn new() -> Self {
        Listener {
            slots: core::array::from_fn(|_| None),
            next: 0,
        }
    }

    /// Put a new connection in a free slot, or give it back if all are taken.
    // No heap to box into: handing the connection (and its buffers) back by
    // value is the point.
    #[allow(clippy::result_large_err)]
    pub fn accept(&mut self, conn: Connection<R, T>) -> Result<SlotId, Connection<R, T>> {
        match self.slots.iter().position(Option::is_none) {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i) {
                    *s = Some(conn);
                }
                Ok(SlotId(i))
            }
            None => Err(conn),
        }
    }

    /// The connection in a slot.
    pub fn get(&self, id: SlotId) -> Option<&Connection<R, T>> {
        self.slots.get(id.0).and_then(Option::as_ref)
    }

    /// The connection in a slot, mutably.
    pub fn get_mut(&mut self, id: SlotId) -> Option<&mut Connection<R, T>> {
        self.slots.get_mut(id.0).and_then(Option::as_mut)
    }

    /// Free a slot, returning its connection (and its buffers).
    pub fn remove(&mut self, id: SlotId) -> Option<Connection<R, T>> {
        self.slots.get_mut(id.0).and_then(Option::take)
    }

    /// Occupied slots.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Whether no slot is occupied.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every slot is occupied.
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    /// The occupied slots.
    pub fn ids(&self) -> impl Iterator<Item = SlotId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| SlotId(i))
    }

    /// [`Connection::handle_input`] on one slot (`Ok(0)` for an empty slot).
    pub fn handle_input(
        &mut self,
        id: SlotId,
        input: &[u8],
        now: Instant,
    ) -> Result<usize, ZmtpError> {
        match self.get_mut(id) {
            Some(c) => c.handle_input(input, now),
            None => Ok(0),
        }
    }

    /// [`Connection::poll_output`] on one slot.
    #[must_use]
    pub fn poll_output(&mut self, id: SlotId, buf: &mut [u8]) -> usize {
        self.get_mut(id).map_or(0, |c| c.poll_output(buf))
    }

    /// Run every slot's timers; failures show up in [`poll_closed`](Self::poll_closed).
    pub fn handle_timeout(&mut self, now: Instant) {
        for c in self.slots.iter_mut().flatten() {
            let _ = c.handle_timeout(now);
        }
    }

    /// The earliest timer of any slot.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots
            .iter()
            .flatten()
            .filter_map(Connection::poll_timeout)
            .min()
    }

    /// The next event of any slot, taking slots in turn.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<(SlotId, Event<'_>)> {
        let i = (0..N).map(|k| (self.next + k) % N).find(|&i| {
            self.slots
                .get(i)
                .and_then(Option::as_ref)
                .is_some_and(Connection::has_event)
        })?;
        self.next = (i + 1) % N;
        let ev = self.slots.get_mut(i)?.as_mut()?.poll_event()?;
        Some((SlotId(i), ev))
    }

    /// Remove one failed connection whose output has been flushed and whose
    /// events have been drained; returns its slot and error.
    pub fn poll_closed(&mut self) -> Option<(SlotId, ZmtpError)> {
        let (i, e) = self.slots.iter().enumerate().find_map(|(i, s)| {
            let c = s.as_ref()?;
            if c.has_output() || c.has_event() {
                return None;
            }
            c.error().map(|e| (i, e))
        })?;
        self.slots.get_mut(i).and_then(Option::take);
        Some((SlotId(i), e))
    }

    /// PUB: queue a message for every established peer whose subscriptions
    /// match its first part.
    pub fn publish(&mut self, parts: &[&[u8]]) -> PublishReport {
        let mut r = PublishReport::default();
        for c in self.slots.iter_mut().flatten() {
            match c.send(parts) {
                Ok(Sent::Queued) => r.queued += 1,
                Ok(_) => r.filtered += 1,
                Err(_) => r.dropped += 1,
            }
        }
        r
    }
}
