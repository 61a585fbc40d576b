//! What a socket set tells its application ([`Event`]) and its driver
//! ([`Action`]), and what one call of input hands back ([`Input`]).

use super::{PeerId, SocketId};
use crate::zmtp::{Part, ZmtpError};

/// One message part from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Message<'a> {
    /// The socket it came to.
    pub socket: SocketId,
    /// The peer it came from: for a REP, pass it to
    /// [`reply`](super::Sockets::reply).
    pub peer: PeerId,
    /// The part (REQ/REP envelopes already removed). Parts of one message
    /// come one after another from the same peer; the last has
    /// `more == false`.
    pub part: Part<'a>,
}

/// What happened, from [`Sockets::poll_event`](super::Sockets::poll_event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Event<'a> {
    /// A peer finished its handshake: the socket sends to it from now on.
    Connected {
        /// Which socket.
        socket: SocketId,
        /// Which peer.
        peer: PeerId,
    },
    /// A connection that was [`Event::Connected`] has ended (`error`
    /// [`ZmtpError::PeerError`]: the peer sent a ZMTP ERROR). A REQ's
    /// request in flight on it is lost; a dialled peer reconnects by itself.
    Disconnected {
        /// Which socket.
        socket: SocketId,
        /// The peer, as it was named while connected.
        peer: PeerId,
        /// Why, if the ZMTP connection failed (`None`: the transport ended).
        error: Option<ZmtpError>,
    },
    /// A message part: a REQ's reply, a REP's request, a SUB's news.
    Message(Message<'a>),
    /// PUB: a peer subscribed to this prefix.
    Subscribed {
        /// Which socket.
        socket: SocketId,
        /// Which peer.
        peer: PeerId,
        /// The prefix.
        topic: &'a [u8],
    },
    /// PUB: a peer cancelled this prefix.
    Unsubscribed {
        /// Which socket.
        socket: SocketId,
        /// Which peer.
        peer: PeerId,
        /// The prefix.
        topic: &'a [u8],
    },
    /// A message over the limits was read and dropped (see
    /// [`Settings::max_skipped_message`](super::Settings::max_skipped_message)).
    /// A REP owes `peer` a reply, as for a request; a REQ's request is
    /// over (it may send again).
    TooLarge {
        /// Which socket.
        socket: SocketId,
        /// Which peer: for a REP, pass it to
        /// [`reply`](super::Sockets::reply).
        peer: PeerId,
        /// The message's length (as far as it was read).
        size: usize,
        /// The longest message part the connection takes.
        limit: usize,
    },
    /// A listening socket has [`Settings::max_peers`](super::Settings::max_peers)
    /// peers: a newer connection replaces the oldest one still in its
    /// handshake, or is refused. Told once per socket, so a driver can warn
    /// once.
    PeerLimit {
        /// Which socket.
        socket: SocketId,
    },
}

/// What the driver must do to a transport, from
/// [`Sockets::poll_action`](super::Sockets::poll_action). Indices are the
/// peer table's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Action {
    /// Drop this transport at once (the application closed its socket, or
    /// a listener at its peer limit made room).
    Abort {
        /// The peer index.
        peer: usize,
    },
    /// The conversation is over: close this transport after writing what
    /// it was given.
    Close {
        /// The peer index.
        peer: usize,
    },
    /// Open a transport for this dialled peer of `socket`; then report
    /// [`Sockets::handle_connected`](super::Sockets::handle_connected) or
    /// [`Sockets::handle_closed`](super::Sockets::handle_closed).
    Connect {
        /// Which socket.
        socket: SocketId,
        /// The peer index (its endpoint is the driver's to know).
        peer: usize,
    },
}

/// What [`Sockets::handle_input_borrowed`](super::Sockets::handle_input_borrowed)
/// did with a peer's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input<'a> {
    /// Input bytes consumed.
    pub consumed: usize,
    /// A message part whose body was contiguous in the input, borrowed from
    /// it (already delivered: it does not also come from `poll_event`).
    pub message: Option<Message<'a>>,
}
