//! Outgoing connections: requesters and subscribers, and their reconnects.

use core::mem;
use core::net::SocketAddr;

use super::events::Queued;
use super::ids::{ClientId, Peer};
use super::slot::Owner;
use super::{Error, Node, MAX_TOPIC};
use crate::advert::Name;
use crate::zmtp::Role;
use crate::{Duration, Instant};

/// Wait before reconnecting a requester or subscriber (libzmq: 100 ms).
pub(crate) const RECONNECT: Duration = Duration::from_millis(500);

// No heap to box the name into; a client is one of four, stored once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Name(Name),
    Address(SocketAddr),
}

#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) target: Target,
    pub(crate) role: Role,
    pub(crate) slot: Option<usize>,
    pub(crate) prefix: heapless::Vec<u8, MAX_TOPIC>,
    /// Do not (re)connect before this.
    pub(crate) retry_at: Instant,
    /// The handshake finished on the current connection.
    pub(crate) connected: bool,
}

impl<const SLOTS: usize, const BUF: usize, const ADVERTS: usize> Node<SLOTS, BUF, ADVERTS> {
    /// Opens a requester to `peer` (a name is discovered first). Once
    /// [`super::Event::Connected`], [`Self::send`] a message; the answer
    /// comes as [`super::Event::Reply`].
    pub fn requester<'s>(
        &mut self,
        peer: impl Into<Peer<'s>>,
        now: Instant,
    ) -> Result<ClientId, Error> {
        self.add_client(peer.into(), Role::Req, b"", now)
    }

    /// Subscribes to news at `peer` on topics starting with `prefix` (`b""`
    /// for all); items come as [`super::Event::News`].
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
        let index = self
            .clients
            .iter()
            .position(Option::is_none)
            .ok_or(Error::TooManyClients)?;
        let id = u8::try_from(index).map_err(|_| Error::TooManyClients)?;
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
        let prefix = heapless::Vec::from_slice(prefix).map_err(|_| Error::TopicTooLong)?;
        if let Some(c) = self.clients.get_mut(index) {
            *c = Some(Client {
                target,
                role,
                slot: None,
                prefix,
                retry_at: now,
                connected: false,
            });
        }
        Ok(ClientId(id))
    }

    /// Sends a message from a requester (one at a time: wait for its reply).
    pub fn send(&mut self, client: ClientId, data: &[u8]) -> Result<(), Error> {
        let c = self
            .clients
            .get(usize::from(client.0))
            .and_then(Option::as_ref)
            .ok_or(Error::UnknownClient)?;
        let slot = c
            .slot
            .and_then(|i| self.slots.get_mut(i))
            .ok_or(Error::NotConnected)?;
        let conn = slot
            .conn
            .as_mut()
            .filter(|c| c.is_established())
            .ok_or(Error::NotConnected)?;
        conn.send(&[data]).map_err(Error::Send)?;
        slot.stalled = false;
        Ok(())
    }

    /// Whether a requester or subscriber has finished its handshake.
    pub fn is_connected(&self, client: ClientId) -> bool {
        self.clients
            .get(usize::from(client.0))
            .and_then(Option::as_ref)
            .and_then(|c| c.slot)
            .and_then(|i| self.slots.get(i))
            .and_then(|s| s.conn.as_ref())
            .is_some_and(|c| c.is_established())
    }

    /// Closes a requester or subscriber (the driver drops its socket on
    /// its next poll). Returns whether it existed.
    pub fn close(&mut self, client: ClientId) -> bool {
        let Some(c) = self
            .clients
            .get_mut(usize::from(client.0))
            .and_then(Option::take)
        else {
            return false;
        };
        if let Some(slot) = c.slot.and_then(|i| self.slots.get_mut(i)) {
            slot.owner = Owner::Free;
            slot.reset();
            slot.abort = true;
        }
        true
    }

    /// Where a client should connect now, if it should.
    pub(crate) fn client_due(&self, client: &Client, t: Instant) -> Option<SocketAddr> {
        if client.slot.is_some() || t < client.retry_at {
            return None;
        }
        match &client.target {
            Target::Address(a) => Some(*a),
            Target::Name(n) => self.beacon.lookup(n, t),
        }
    }

    /// A client's connection ended or could not be made: reconnect after a
    /// pause (as libzmq does), telling the app if it had been connected.
    pub(crate) fn client_lost(&mut self, c: u8, t: Instant) {
        let Some(Some(client)) = self.clients.get_mut(usize::from(c)) else {
            return;
        };
        client.slot = None;
        client.retry_at = t + RECONNECT;
        if mem::replace(&mut client.connected, false) {
            self.push(Queued::Disconnected(ClientId(c)));
        }
    }

    /// The handshake finished on a client's connection.
    pub(crate) fn client_connected(&mut self, c: u8) {
        if let Some(Some(client)) = self.clients.get_mut(usize::from(c)) {
            client.connected = true;
        }
        self.push(Queued::Connected(ClientId(c)));
    }
}
