//! Handles the application holds: services, clients, requests, peers.

use core::net::SocketAddr;

/// One service a node serves (see [`super::Node::serve`], [`super::Node::publish_on`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServiceId(pub(crate) u8);

impl ServiceId {
    /// Its index, `0..MAX_SERVICES` (for a driver keeping per-service state).
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// One outgoing connection (see [`super::Node::requester`], [`super::Node::subscriber`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClientId(pub(crate) u8);

impl ClientId {
    /// Its index, `0..SLOTS`.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// One received request, to answer with [`super::Node::reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequestId {
    pub(crate) slot: u8,
    pub(crate) generation: u16,
    pub(crate) service: ServiceId,
}

impl RequestId {
    /// The service the request came to.
    pub fn service(&self) -> ServiceId {
        self.service
    }
}

/// Whom to connect to: a name (discovered first) or an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer<'s> {
    /// A name some node advertises.
    Name(&'s str),
    /// A known `ip:port`.
    Address(SocketAddr),
}

impl<'s> From<&'s str> for Peer<'s> {
    fn from(name: &'s str) -> Self {
        Peer::Name(name)
    }
}

impl From<SocketAddr> for Peer<'_> {
    fn from(address: SocketAddr) -> Self {
        Peer::Address(address)
    }
}
