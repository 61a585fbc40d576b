//! Outgoing connections: requesters and subscribers. Each is a REQ or SUB
//! socket with one dialled peer on a TCP slot it keeps; the socket layer
//! reconnects it. The node only knows where it goes: an address, or a name
//! looked up when it connects.

use core::net::SocketAddr;

use super::ids::{ClientId, Peer};
use super::{Error, Node, MAX_TOPIC};
use crate::advert::Name;
use crate::socket::{self, SocketId};
use crate::zmtp::{Role, SendError};
use crate::Instant;

// No heap to box the name into; a client is one of four, stored once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Name(Name),
    Address(SocketAddr),
}

/// A requester or subscriber; its socket's index is its [`ClientId`].
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) target: Target,
    pub(crate) role: Role,
    /// The TCP slot its one peer keeps.
    pub(crate) slot: u8,
}

impl<const SLOTS: usize, const BUF: usize, const ADVERTS: usize> Node<SLOTS, BUF, ADVERTS> {
    /// Opens a requester to `peer` (a name is discovered first). Once
    /// [`super::Event::Connected`], [`Self::send`] a message; the answer
    /// comes as [`super::Event::Reply`]. It keeps a TCP slot for good.
    pub fn requester<'s>(
        &mut self,
        peer: impl Into<Peer<'s>>,
        now: Instant,
    ) -> Result<ClientId, Error> {
        self.add_client(peer.into(), Role::Req, b"", now)
    }

    /// Subscribes to news at `peer` on topics starting with `prefix` (`b""`
    /// for all); items come as [`super::Event::News`]. It keeps a TCP slot
    /// for good.
    pub fn subscriber<'s>(
        &mut self,
        peer: impl Into<Peer<'s>>,
        prefix: &[u8],
        now: Instant,
    ) -> Result<ClientId, Error> {
        self.add_client(peer.into(), Role::Sub, prefix, now)
    }

    fn add_client(
        &mut self,
        peer: Peer<'_>,
        role: Role,
        prefix: &[u8],
        now: Instant,
    ) -> Result<ClientId, Error> {
        if prefix.len() > MAX_TOPIC {
            return Err(Error::TopicTooLong);
        }
        let slot = (0..SLOTS)
            .find(|&i| self.sockets.is_free(i))
            .ok_or(Error::NoFreeSocket)?;
        let target = match peer {
            Peer::Address(a) => Target::Address(a),
            Peer::Name(n) => {
                let mut name = Name::new();
                name.push_str(n).map_err(|_| Error::NameTooLong)?;
                if self.beacon.lookup(n, now).is_none() {
                    self.beacon.query(Some(n), now);
                }
                Target::Name(name)
            }
        };
        let socket = self.sockets.open(role).map_err(|_| Error::TooManyClients)?;
        let (Ok(id), Ok(slot_id), Some(row)) = (
            u8::try_from(socket.index()),
            u8::try_from(slot),
            self.clients.get_mut(socket.index()),
        ) else {
            self.sockets.close(socket);
            return Err(Error::TooManyClients);
        };
        *row = Some(Client {
            target,
            role,
            slot: slot_id,
        });
        let opened = match role {
            Role::Sub => self.sockets.subscribe(socket, prefix),
            _ => Ok(()),
        }
        .and_then(|()| self.sockets.connect_at(slot, socket, now));
        if opened.is_err() {
            self.close(ClientId(id));
            return Err(Error::TopicTooLong);
        }
        Ok(ClientId(id))
    }

    /// Sends a message from a requester (one at a time: wait for its reply).
    pub fn send(&mut self, client: ClientId, data: &[u8]) -> Result<(), Error> {
        self.client(client).ok_or(Error::UnknownClient)?;
        match self.sockets.send(socket_of(client), &[data]) {
            Ok(_) => Ok(()),
            Err(socket::Error::NotConnected) => Err(Error::NotConnected),
            Err(socket::Error::Send(e)) => Err(Error::Send(e)),
            Err(_) => Err(Error::Send(SendError::InvalidState)),
        }
    }

    /// Whether a requester or subscriber has finished its handshake.
    pub fn is_connected(&self, client: ClientId) -> bool {
        self.client(client)
            .is_some_and(|c| self.sockets.is_established(usize::from(c.slot)))
    }

    /// Closes a requester or subscriber (the driver drops its socket on
    /// its next poll). Returns whether it existed.
    pub fn close(&mut self, client: ClientId) -> bool {
        let Some(c) = self.clients.get_mut(client.index()).and_then(Option::take) else {
            return false;
        };
        self.news.forget(usize::from(c.slot));
        self.sockets.close(socket_of(client))
    }

    pub(crate) fn client(&self, client: ClientId) -> Option<&Client> {
        self.clients.get(client.index()).and_then(Option::as_ref)
    }

    /// Where a client connects now, if its address is known.
    pub(crate) fn resolve(&self, client: &Client, now: Instant) -> Option<SocketAddr> {
        match &client.target {
            Target::Address(a) => Some(*a),
            Target::Name(n) => self.beacon.lookup(n, now),
        }
    }

    /// The slot of a client parked for want of an address that now has
    /// one (and, feature `curve`, not held back after a refusal over the key).
    pub(crate) fn parked_resolvable(&self, now: Instant) -> Option<usize> {
        self.clients.iter().flatten().find_map(|c| {
            let slot = usize::from(c.slot);
            #[cfg(feature = "curve")]
            if self.held_back(slot, now) {
                return None;
            }
            (self.sockets.is_parked(slot) && self.resolve(c, now).is_some()).then_some(slot)
        })
    }
}

/// A client's socket: its id is the socket's index.
pub(crate) fn socket_of(client: ClientId) -> SocketId {
    SocketId(u32::from(client.0))
}
