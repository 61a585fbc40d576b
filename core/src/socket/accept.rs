//! Accepted peers, and each listening socket's limit.
//!
//! A listening socket takes at most [`Settings::max_peers`] peers. At the
//! limit a new connection takes the place of the oldest peer still in its
//! handshake (a stalled or hostile client: it is aborted), or is refused if
//! every peer is connected; the first time, the set tells the application
//! ([`Event::PeerLimit`](super::Event::PeerLimit)) so it can warn once.
//!
//! [`Settings::max_peers`]: super::Settings::max_peers

use super::peer::Link;
use super::{slots, Error, NewBuffer, Peer, Secure, Slots, Socket, SocketId, Sockets};
use crate::Instant;

impl<R, T, P, S, const SUBS: usize, const TOPICS: usize> Sockets<R, T, P, S, SUBS, TOPICS>
where
    R: NewBuffer,
    T: NewBuffer,
    P: Slots<Peer<R, T, SUBS>>,
    S: Slots<Socket<TOPICS>>,
{
    /// A transport was accepted for listening `socket`: starts a connection
    /// on it; returns its peer index. [`Error::Full`] or
    /// [`Error::BuffersTooSmall`]: close the transport.
    pub fn accept(&mut self, socket: SocketId, now: Instant) -> Result<usize, Error> {
        self.accept_with(socket, now, None)
    }

    /// Like [`Sockets::accept`], with the connection's security chosen by
    /// the driver (a keyed listener: CURVE as the server).
    pub fn accept_secured(
        &mut self,
        socket: SocketId,
        now: Instant,
        secure: Secure,
    ) -> Result<usize, Error> {
        self.accept_with(socket, now, Some(secure))
    }

    fn accept_with(
        &mut self,
        socket: SocketId,
        now: Instant,
        secure: Option<Secure>,
    ) -> Result<usize, Error> {
        if self.socket(socket).is_none() {
            return Err(Error::UnknownSocket);
        }
        let peers = self
            .peers
            .as_slice()
            .iter()
            .flatten()
            .filter(|p| p.socket == socket && p.link == Link::Open)
            .count();
        if peers >= self.settings.max_peers {
            self.limit_reached(socket);
            self.make_room(socket)?;
        }
        let i = slots::free(&mut self.peers).ok_or(Error::Full)?;
        self.add_peer(i, socket, Link::Idle, false)?;
        if let Some(p) = self
            .peers
            .as_mut_slice()
            .get_mut(i)
            .and_then(Option::as_mut)
        {
            p.kept = false;
        }
        if !self.start(i, now, secure) {
            if let Some(slot) = self.peers.as_mut_slice().get_mut(i) {
                *slot = None;
            }
            return Err(Error::BuffersTooSmall);
        }
        Ok(i)
    }

    /// Keeps index `i` of the peer table for listening `socket`: the
    /// driver reports each connection it accepts there with
    /// [`Sockets::handle_connected`] (firmware with one TCP socket per
    /// peer). The index stays the socket's after each connection ends.
    pub fn listen_at(&mut self, i: usize, socket: SocketId) -> Result<(), Error> {
        self.add_peer(i, socket, Link::Idle, false)
    }

    fn limit_reached(&mut self, socket: SocketId) {
        if let Some(s) = self
            .sockets
            .as_mut_slice()
            .get_mut(socket.index())
            .and_then(Option::as_mut)
        {
            if !s.limit_reached {
                s.limit_reached = true;
                s.limit_unreported = !s.quiet;
            }
        }
    }

    /// Aborts the oldest peer of `socket` still in its handshake (the one
    /// whose handshake deadline comes first).
    fn make_room(&mut self, socket: SocketId) -> Result<(), Error> {
        let victim = self
            .peers
            .as_mut_slice()
            .iter_mut()
            .flatten()
            .filter(|p| p.socket == socket && p.link == Link::Open && !p.up)
            .min_by_key(|p| p.conn.as_ref().and_then(|c| c.poll_timeout()))
            .ok_or(Error::Full)?;
        victim.clear();
        victim.link = Link::Aborting;
        Ok(())
    }
}
