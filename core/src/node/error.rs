//! Why a node operation was refused.

use crate::beacon::AdvertiseError;
use crate::zmtp::SendError;

/// Why a node operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// A driver could not open or bind a UDP socket (port 0 or taken in
    /// the config? out of sockets?). The sans-IO node never returns it.
    Bind,
    /// Every TCP slot is in use; give the node more `SLOTS`.
    NoFreeSocket,
    /// The node already holds [`super::MAX_SERVICES`] services.
    TooManyServices,
    /// The node already holds as many requesters/subscribers as it has
    /// TCP slots (`SLOTS`).
    TooManyClients,
    /// The port is 0 or another service already listens on it.
    BadPort,
    /// The name cannot be advertised.
    Advertise(AdvertiseError),
    /// The name is longer than any advert can carry.
    NameTooLong,
    /// The topic prefix is longer than [`super::MAX_TOPIC`].
    TopicTooLong,
    /// The request was already answered, or its peer has gone.
    StaleRequest,
    /// The requester or subscriber does not exist (closed, or never opened).
    UnknownClient,
    /// Not connected yet: wait for [`super::Event::Connected`].
    NotConnected,
    /// The connection refused the message (see [`SendError`]).
    Send(SendError),
    /// The service is not a publisher, or the id is unknown.
    NotAPublisher,
    /// A keyed node's `BUF` is below what a CURVE handshake needs
    /// ([`crate::zmtp::MIN_RX_BUFFER_CURVE`], 384 bytes).
    KeyNeedsBuffer,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Bind => f.write_str(
                "a UDP socket could not be opened or bound; check the ports in Config and the stack's socket count",
            ),
            Error::NoFreeSocket => {
                f.write_str("every TCP slot is in use; give the Node more SLOTS")
            }
            Error::TooManyServices => {
                f.write_str("this node already serves as many names as it can")
            }
            Error::TooManyClients => {
                f.write_str("this node already has as many requesters and subscribers as it can")
            }
            Error::BadPort => f.write_str("the port is 0 or already served by this node"),
            Error::Advertise(e) => e.fmt(f),
            Error::NameTooLong => f.write_str("the name is too long for an advert"),
            Error::TopicTooLong => f.write_str("the topic prefix is too long"),
            Error::StaleRequest => {
                f.write_str("that request was answered already or its sender left")
            }
            Error::UnknownClient => f.write_str("no such requester or subscriber (closed?)"),
            Error::NotConnected => f.write_str("not connected yet; wait for Event::Connected"),
            Error::Send(e) => f.write_str(e.as_str()),
            Error::NotAPublisher => f.write_str("that service does not publish news"),
            Error::KeyNeedsBuffer => {
                f.write_str("a keyed Node needs BUF of at least 384 bytes (CURVE's handshake)")
            }
        }
    }
}
