//! REQ: which peer takes the next request, and which reply is ours.
//!
//! Requests go to connected peers in turn (libzmq's load balancing), one at
//! a time: the socket takes no other request until the last part of the
//! reply has come from the peer that took it. If that peer's connection
//! ends first, the request is lost, as in libzmq: the application's wait
//! times out and it may send again (to the next peer, or to this one once
//! it is back).

use super::{Error, NewBuffer, PeerId, Slots, Socket, SocketId, Sockets};
use crate::zmtp::{Role, SendError};

impl<R, T, P, S, const SUBS: usize, const TOPICS: usize> Sockets<R, T, P, S, SUBS, TOPICS>
where
    R: NewBuffer,
    T: NewBuffer,
    P: Slots<super::Peer<R, T, SUBS>>,
    S: Slots<Socket<TOPICS>>,
{
    /// REQ: sends a request to the next connected peer in turn that can
    /// take it; returns that peer. The reply comes as a
    /// [`Message`](super::Message) from it.
    pub fn send(&mut self, socket: SocketId, parts: &[&[u8]]) -> Result<PeerId, Error> {
        let s = super::socket_as(&mut self.sockets, socket, Role::Req)?;
        if s.in_flight.is_some() {
            return Err(Error::AwaitingReply);
        }
        let peers = self.peers.as_mut_slice();
        let n = peers.len();
        let start = s.turn as usize;
        for k in 0..n {
            let i = (start + k) % n;
            let Some(p) = peers.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            if p.socket != socket {
                continue;
            }
            let id = p.id(i);
            let Some(conn) = p.established().filter(|c| c.can_send()) else {
                continue;
            };
            match conn.send(parts) {
                Ok(_) => {
                    s.in_flight = Some(id);
                    s.turn = u32::try_from(i + 1).unwrap_or(0);
                    return Ok(id);
                }
                // This peer's output is full: the next one may take it.
                Err(SendError::BufferFull) => continue,
                Err(e) => return Err(Error::Send(e)),
            }
        }
        Err(Error::NotConnected)
    }
}

/// A message part was handed to the application: the last part of a
/// REQ's reply frees the socket for its next request.
pub(crate) fn delivered<const TOPICS: usize>(
    sockets: &mut impl Slots<Socket<TOPICS>>,
    socket: SocketId,
    peer: PeerId,
    more: bool,
) {
    if more {
        return;
    }
    lost(sockets, socket, peer);
}

/// The request in flight with `peer`, if any, will not be answered.
pub(crate) fn lost<const TOPICS: usize>(
    sockets: &mut impl Slots<Socket<TOPICS>>,
    socket: SocketId,
    peer: PeerId,
) {
    if let Some(s) = sockets
        .as_mut_slice()
        .get_mut(socket.index())
        .and_then(Option::as_mut)
    {
        if s.in_flight == Some(peer) {
            s.in_flight = None;
        }
    }
}
