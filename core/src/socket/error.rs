//! Why a socket set refused a command.

use core::fmt;

use crate::zmtp::SendError;

/// Why a [`Sockets`](super::Sockets) command was refused. Nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// No such socket (closed, or never opened).
    UnknownSocket,
    /// No such peer, or its connection has ended since (a stale request).
    UnknownPeer,
    /// Every entry of the peer or socket table is taken (a fixed table), or
    /// a listening socket is at its peer limit with no peer in handshake.
    Full,
    /// The index asked for is taken or out of range.
    Taken,
    /// The socket's role cannot do this (a PUB asked to reply…).
    WrongRole,
    /// REQ: no connected peer can take a request now; wait for
    /// [`Event::Connected`](super::Event::Connected).
    NotConnected,
    /// REQ: a request is in flight; take its reply first.
    AwaitingReply,
    /// SUB: the socket has no peer to keep its subscriptions (connect first).
    NoPeer,
    /// The set's fixed buffers are below what the connection's security
    /// needs (a keyed connection: [`MIN_RX_BUFFER_CURVE`] and
    /// [`MIN_TX_BUFFER_CURVE`] bytes): give the set bigger buffers.
    ///
    /// [`MIN_RX_BUFFER_CURVE`]: crate::zmtp::MIN_RX_BUFFER_CURVE
    /// [`MIN_TX_BUFFER_CURVE`]: crate::zmtp::MIN_TX_BUFFER_CURVE
    BuffersTooSmall,
    /// The connection refused the message (see [`SendError`]).
    Send(SendError),
}

impl Error {
    /// A short static description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Error::UnknownSocket => "no such socket",
            Error::UnknownPeer => "no such peer, or its connection has ended",
            Error::Full => "no room for another socket or peer",
            Error::Taken => "that index is taken or out of range",
            Error::WrongRole => "the socket's role cannot do that",
            Error::NotConnected => "no connected peer can take it now",
            Error::AwaitingReply => "a request is in flight: take its reply first",
            Error::NoPeer => "the socket has no peer yet: connect first",
            Error::BuffersTooSmall => {
                "buffers too small for a keyed handshake: give the set bigger buffers"
            }
            Error::Send(e) => e.as_str(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
