//! Error types: small `Copy` enums with static messages (httparse style).

use core::fmt;

/// Why a ZMTP connection (or a wire view) failed.
///
/// Every variant except [`ZmtpError::Truncated`] closes the connection: after
/// [`Connection::handle_input`](super::Connection::handle_input) or
/// [`Connection::handle_timeout`](super::Connection::handle_timeout) returned
/// one, the caller should flush [`poll_output`](super::Connection::poll_output)
/// (it may hold an ERROR command for the peer), drain
/// [`poll_event`](super::Connection::poll_event) and drop the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ZmtpError {
    /// A buffer is shorter than the wire structure it should hold.
    Truncated,
    /// The greeting does not start with the ZMTP signature (`0xFF … 0x7F`).
    BadSignature,
    /// The peer speaks a ZMTP revision older than 3.0.
    UnsupportedVersion,
    /// The peer's security mechanism differs from ours (`NULL` against
    /// `CURVE`: one side has a key and the other has not).
    MechanismMismatch,
    /// A frame header has reserved flag bits set.
    ReservedFlags,
    /// A command frame is malformed (bad name length, MORE flag, short PING…).
    MalformedCommand,
    /// The READY metadata is malformed or an `Identity` is longer than 255 bytes.
    MalformedMetadata,
    /// The READY command has no `Socket-Type` property or names an unknown type.
    MissingSocketType,
    /// The peer's socket type cannot talk to ours (REQ↔PUB…); an ERROR command was queued.
    IncompatibleSocketType,
    /// A command or data frame arrived when the handshake does not allow it.
    UnexpectedFrame,
    /// A frame would take the message over the size limit (or the receive buffer).
    MessageTooLarge,
    /// A message has more parts than the limit allows.
    TooManyParts,
    /// A subscription topic is longer than the limit.
    SubscriptionTooLong,
    /// The peer has more subscriptions than the limit allows.
    TooManySubscriptions,
    /// The routing envelope of a request does not fit the envelope store.
    EnvelopeTooLarge,
    /// The handshake did not finish within the handshake timeout.
    HandshakeTimeout,
    /// No traffic from the peer within the heartbeat timeout or its TTL.
    HeartbeatTimeout,
    /// The peer sent an ERROR command; its reason is delivered as an event.
    PeerError,
    /// CURVE: both peers claim the same role (two servers or two clients).
    RoleMismatch,
    /// CURVE: a handshake command or MESSAGE has the wrong size, version,
    /// padding or flags, or a key the protocol forbids.
    MalformedCurve,
    /// CURVE: a handshake box did not open: the peer holds another key (for
    /// a class, another passphrase), or the bytes were altered.
    KeyMismatch,
    /// CURVE server: the client proved a key this server does not accept.
    ClientKeyRefused,
    /// CURVE server: the INITIATE cookie is not from this connection, or it
    /// expired (a replayed or late INITIATE).
    BadCookie,
    /// CURVE: a short nonce did not increase (a replayed or reordered command).
    NonceReplayed,
    /// CURVE: a MESSAGE box failed authentication (altered or forged).
    BadMessageBox,
    /// CURVE: we have used all 2^64 - 1 short nonces of this connection.
    NonceExhausted,
}

impl ZmtpError {
    /// A short static description.
    pub const fn as_str(self) -> &'static str {
        match self {
            ZmtpError::Truncated => "buffer too short for the wire structure",
            ZmtpError::BadSignature => "bad ZMTP greeting signature",
            ZmtpError::UnsupportedVersion => "unsupported ZMTP version (need 3.x)",
            ZmtpError::MechanismMismatch => "peer's security mechanism differs from ours",
            ZmtpError::ReservedFlags => "reserved frame flag bits set",
            ZmtpError::MalformedCommand => "malformed command frame",
            ZmtpError::MalformedMetadata => "malformed READY metadata",
            ZmtpError::MissingSocketType => "missing or unknown Socket-Type",
            ZmtpError::IncompatibleSocketType => "incompatible socket type",
            ZmtpError::UnexpectedFrame => "frame not allowed in this state",
            ZmtpError::MessageTooLarge => "message over the size limit",
            ZmtpError::TooManyParts => "message has too many parts",
            ZmtpError::SubscriptionTooLong => "subscription topic too long",
            ZmtpError::TooManySubscriptions => "too many subscriptions",
            ZmtpError::EnvelopeTooLarge => "routing envelope too large",
            ZmtpError::HandshakeTimeout => "handshake timed out",
            ZmtpError::HeartbeatTimeout => "heartbeat timed out",
            ZmtpError::PeerError => "peer sent an ERROR command",
            ZmtpError::RoleMismatch => "both peers claim the same CURVE role",
            ZmtpError::MalformedCurve => "malformed CURVE command",
            ZmtpError::KeyMismatch => "CURVE handshake failed: the peer has another key",
            ZmtpError::ClientKeyRefused => "CURVE client key not accepted",
            ZmtpError::BadCookie => "CURVE cookie not ours or expired",
            ZmtpError::NonceReplayed => "CURVE nonce not increasing (replayed command)",
            ZmtpError::BadMessageBox => "CURVE message failed authentication",
            ZmtpError::NonceExhausted => "CURVE nonces of this connection used up",
        }
    }
}

impl fmt::Display for ZmtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`Connection::send`](super::Connection::send) (or a subscription call)
/// refused a message. Nothing was queued; the connection is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SendError {
    /// The handshake has not finished yet; wait for `Event::HandshakeDone`.
    NotReady,
    /// The connection has failed or closed.
    Closed,
    /// The role forbids this now: REQ sending twice, REP sending without a
    /// request, SUB sending data, subscribing on a non-SUB connection…
    InvalidState,
    /// The output buffer is too full right now; drain `poll_output` and retry.
    BufferFull,
    /// The message can never fit the output buffer.
    TooLarge,
    /// A message needs at least one part.
    EmptyMessage,
    /// A subscription topic is longer than 255 bytes or the configured limit.
    TopicTooLong,
    /// The subscription store is full.
    TooManySubscriptions,
}

impl SendError {
    /// A short static description.
    pub const fn as_str(self) -> &'static str {
        match self {
            SendError::NotReady => "handshake not finished",
            SendError::Closed => "connection closed",
            SendError::InvalidState => "not allowed in the current socket state",
            SendError::BufferFull => "output buffer full",
            SendError::TooLarge => "message larger than the output buffer",
            SendError::EmptyMessage => "message has no parts",
            SendError::TopicTooLong => "subscription topic too long",
            SendError::TooManySubscriptions => "too many subscriptions",
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`Connection::new`](super::Connection::new) refused a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// The output buffer is smaller than [`MIN_TX_BUFFER`](super::MIN_TX_BUFFER).
    TxBufferTooSmall,
    /// The receive buffer is smaller than [`MIN_RX_BUFFER`](super::MIN_RX_BUFFER).
    RxBufferTooSmall,
    /// A CURVE connection needs 32 random bytes:
    /// [`Connection::with_seed`](super::Connection::with_seed).
    NeedsSeed,
}

impl ConfigError {
    /// A short static description.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConfigError::TxBufferTooSmall => "output buffer too small",
            ConfigError::RxBufferTooSmall => "receive buffer too small",
            ConfigError::NeedsSeed => {
                "a CURVE connection needs a random seed (Connection::with_seed)"
            }
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused configuration says which buffer, or what is missing: an
    /// adapter shows this text to the programmer who chose the sizes.
    #[test]
    fn config_errors_say_what_to_fix() {
        assert_eq!(
            ConfigError::TxBufferTooSmall.as_str(),
            "output buffer too small"
        );
        assert_eq!(
            ConfigError::RxBufferTooSmall.as_str(),
            "receive buffer too small"
        );
        assert!(ConfigError::NeedsSeed.as_str().contains("with_seed"));
    }
}
