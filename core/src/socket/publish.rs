//! PUB: news to every matching peer, and a high-water mark per peer.
//!
//! A message goes to each connected peer whose subscriptions match its
//! first part. A peer that already has [`Settings::high_water_mark`]
//! messages written into its connection but not yet taken by its transport
//! (or whose output has no room) misses it: the newest message is dropped
//! for that peer alone, as libzmq's PUB does at its `ZMQ_SNDHWM`, so a
//! slow subscriber costs bounded memory and slows no one else.
//!
//! The count is exact: each queued message's end in the connection's
//! output stream is remembered until [`Sockets::consume_output`] passes it
//! (feature `alloc`; without it, output room alone limits a peer).
//!
//! [`Settings::high_water_mark`]: super::Settings::high_water_mark

use super::{Error, NewBuffer, Peer, SendError, Slots, Socket, SocketId, Sockets};
use crate::zmtp::{Role, Sent};

/// What [`Sockets::publish`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PublishReport {
    /// Peers it was queued for.
    pub queued: usize,
    /// Connected peers without a matching subscription.
    pub filtered: usize,
    /// Peers at their high-water mark or out of room: dropped for them.
    pub dropped: usize,
}

impl<R, T, P, S, const SUBS: usize, const TOPICS: usize> Sockets<R, T, P, S, SUBS, TOPICS>
where
    R: NewBuffer,
    T: NewBuffer,
    P: Slots<Peer<R, T, SUBS>>,
    S: Slots<Socket<TOPICS>>,
{
    /// PUB: queues a message for every connected peer whose subscriptions
    /// match its first part.
    pub fn publish(&mut self, socket: SocketId, parts: &[&[u8]]) -> Result<PublishReport, Error> {
        super::socket_as(&mut self.sockets, socket, Role::Pub)?;
        let first = parts.first().ok_or(Error::Send(SendError::EmptyMessage))?;
        let hwm = self.settings.high_water_mark;
        let mut report = PublishReport::default();
        for p in self.peers.as_mut_slice().iter_mut().flatten() {
            if p.socket != socket {
                continue;
            }
            let Some(conn) = p.established() else {
                continue;
            };
            if !conn.matches(first) {
                report.filtered += 1;
                continue;
            }
            if at_high_water_mark(p, hwm) {
                report.dropped += 1;
                continue;
            }
            let Some(conn) = p.established() else {
                continue;
            };
            match conn.send(parts) {
                Ok(Sent::Queued) => {
                    report.queued += 1;
                    queued(p);
                }
                Ok(_) => report.filtered += 1,
                Err(_) => report.dropped += 1,
            }
        }
        Ok(report)
    }
}

#[cfg(feature = "alloc")]
fn at_high_water_mark<R, T, const SUBS: usize>(p: &Peer<R, T, SUBS>, hwm: usize) -> bool {
    hwm > 0 && p.ends.len() >= hwm
}

#[cfg(not(feature = "alloc"))]
// Mutation runs build with every feature, so they never compile this stand-in:
// `mutants::skip` (read by cargo-mutants, never compiled) keeps its mutants out.
#[cfg_attr(mutants, mutants::skip)]
fn at_high_water_mark<R, T, const SUBS: usize>(_: &Peer<R, T, SUBS>, _: usize) -> bool {
    false
}

/// A message was queued: remember where it ends in the output stream.
#[cfg(feature = "alloc")]
fn queued<R: NewBuffer, T: NewBuffer, const SUBS: usize>(p: &mut Peer<R, T, SUBS>) {
    let pending = p.conn.as_ref().map_or(0, |c| c.output().len());
    let end = p.written.saturating_add(pending as u64);
    p.ends.push_back(end);
}

#[cfg(not(feature = "alloc"))]
#[cfg_attr(mutants, mutants::skip)]
fn queued<R, T, const SUBS: usize>(_: &mut Peer<R, T, SUBS>) {}

/// `n` more bytes of the peer's output were written: messages that ended
/// there no longer count against its high-water mark.
#[cfg(feature = "alloc")]
pub(crate) fn written<R, T, const SUBS: usize>(p: &mut Peer<R, T, SUBS>, n: usize) {
    p.written = p.written.saturating_add(n as u64);
    while p.ends.front().is_some_and(|&end| end <= p.written) {
        p.ends.pop_front();
    }
}

#[cfg(not(feature = "alloc"))]
#[cfg_attr(mutants, mutants::skip)]
pub(crate) fn written<R, T, const SUBS: usize>(_: &mut Peer<R, T, SUBS>, _: usize) {}
