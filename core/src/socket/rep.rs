//! REP: replies go back to the peer that asked.
//!
//! Each peer's connection hands over one request and then reads nothing
//! more from that peer until it is answered, so peers' requests are taken
//! in turn ([`Sockets::poll_event`] visits peers round-robin) and one
//! chatty peer cannot starve the others. A request is named by its
//! [`PeerId`], which includes the connection: a reply to a peer that has
//! gone (or reconnected since) is refused, never sent to another.

use super::{Error, NewBuffer, Peer, PeerId, Slots, Socket, Sockets};
use crate::zmtp::Role;

impl<R, T, P, S, const SUBS: usize, const TOPICS: usize> Sockets<R, T, P, S, SUBS, TOPICS>
where
    R: NewBuffer,
    T: NewBuffer,
    P: Slots<Peer<R, T, SUBS>>,
    S: Slots<Socket<TOPICS>>,
{
    /// REP: answers the request that came from `peer`.
    /// [`Error::UnknownPeer`] if it was answered already or its connection
    /// has ended.
    pub fn reply(&mut self, peer: PeerId, parts: &[&[u8]]) -> Result<(), Error> {
        let p = self
            .peers
            .as_mut_slice()
            .get_mut(peer.index())
            .and_then(Option::as_mut)
            .filter(|p| p.generation == peer.generation)
            .ok_or(Error::UnknownPeer)?;
        let role = self
            .sockets
            .as_slice()
            .get(p.socket.index())
            .and_then(Option::as_ref)
            .map(|s| s.role);
        if role != Some(Role::Rep) {
            return Err(Error::WrongRole);
        }
        let conn = p
            .established()
            .filter(|c| c.can_send())
            .ok_or(Error::UnknownPeer)?;
        conn.send(parts).map_err(Error::Send)?;
        p.stalled = false;
        Ok(())
    }
}
