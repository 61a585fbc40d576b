//! Dialled peers: connect, and reconnect when the connection ends.
//!
//! A dialled peer keeps its index in the peer table for good: while it has
//! no transport it waits, and [`Sockets::poll_action`] asks the driver to
//! connect when its time comes: at once when dialled, then [`RECONNECT`]
//! after each connection ends or fails to start. A driver that does not
//! know the endpoint's address yet parks it ([`Sockets::park`]) and wakes
//! it when it does ([`Sockets::redial`]).

use super::peer::Link;
use super::{slots, Error, NewBuffer, Peer, Slots, Socket, SocketId, Sockets};
use crate::{Duration, Instant};

/// Wait between a dialled connection ending (or failing to start) and the
/// next attempt, for every socket: 100 ms, libzmq's `ZMQ_RECONNECT_IVL`,
/// with no back-off (libzmq's default; libzmq, and so Python networkzero,
/// adds a random 0-100 ms to each wait, which nothing here needs). A
/// restarted service is found again at least as fast from a Rust program
/// or a board as from Python; a refused attempt costs one SYN and one RST on
/// the LAN, which even a Pico W's radio does not notice; and a publisher's
/// subscribers are back within one interval.
pub const RECONNECT: Duration = Duration::from_millis(100);

impl<R, T, P, S, const SUBS: usize, const TOPICS: usize> Sockets<R, T, P, S, SUBS, TOPICS>
where
    R: NewBuffer,
    T: NewBuffer,
    P: Slots<Peer<R, T, SUBS>>,
    S: Slots<Socket<TOPICS>>,
{
    /// Adds a dialled peer (an endpoint) to `socket`; returns its index.
    /// [`Sockets::poll_action`] asks for its transport at once.
    pub fn connect(&mut self, socket: SocketId, now: Instant) -> Result<usize, Error> {
        let i = slots::free(&mut self.peers).ok_or(Error::Full)?;
        self.connect_at(i, socket, now)?;
        Ok(i)
    }

    /// Like [`Sockets::connect`] at index `i` of the peer table (for a
    /// driver whose transports are numbered).
    pub fn connect_at(&mut self, i: usize, socket: SocketId, now: Instant) -> Result<(), Error> {
        self.add_peer(i, socket, Link::Waiting, true)?;
        if let Some(p) = self.dialled(i) {
            p.retry_at = now;
        }
        Ok(())
    }

    /// A dialled peer waits without a deadline (its address is not known
    /// yet) until [`Sockets::redial`]. Returns whether it was dialled and
    /// had no transport.
    pub fn park(&mut self, i: usize) -> bool {
        match self.dialled(i) {
            Some(p) if matches!(p.link, Link::Waiting | Link::Parked | Link::Connecting) => {
                p.link = Link::Parked;
                true
            }
            _ => false,
        }
    }

    /// A parked peer may connect now.
    pub fn redial(&mut self, i: usize, now: Instant) {
        if let Some(p) = self.dialled(i).filter(|p| p.link == Link::Parked) {
            p.link = Link::Waiting;
            p.retry_at = now;
        }
    }

    /// Whether index `i` is a parked dialled peer.
    pub fn is_parked(&self, i: usize) -> bool {
        self.peer(i).is_some_and(|p| p.link == Link::Parked)
    }

    fn dialled(&mut self, i: usize) -> Option<&mut Peer<R, T, SUBS>> {
        self.peers
            .as_mut_slice()
            .get_mut(i)
            .and_then(Option::as_mut)
            .filter(|p| p.dialled)
    }

    /// Puts a new peer of `socket` at index `i`, which must be free.
    pub(crate) fn add_peer(
        &mut self,
        i: usize,
        socket: SocketId,
        link: Link,
        dialled: bool,
    ) -> Result<(), Error> {
        if self.socket(socket).is_none() {
            return Err(Error::UnknownSocket);
        }
        let slot = self
            .peers
            .as_mut_slice()
            .get_mut(i)
            .filter(|s| s.is_none())
            .ok_or(Error::Taken)?;
        *slot = Some(Peer::new(socket, link, dialled, true, Instant::ZERO));
        Ok(())
    }
}
