//! One peer of a socket: the ZMTP connection to it (while there is one),
//! how its transport came about, and what is still to be told about it.

#[cfg(feature = "alloc")]
use alloc::collections::VecDeque;

use super::SocketId;
use crate::zmtp::{Buffer, Connection, ZmtpError};
use crate::Instant;

/// A peer as events and commands name it: its index in the set's peer table
/// (the driver's transport slot) and which connection on that index, so a
/// request id outlives nothing: a reply to a connection that has ended is
/// refused rather than sent to whoever took the index next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PeerId {
    pub(crate) index: u16,
    pub(crate) generation: u16,
}

impl PeerId {
    /// Its index in the peer table: the driver's transport for it.
    pub fn index(self) -> usize {
        usize::from(self.index)
    }
}

/// Where a peer's transport is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// Kept for a listening socket: the driver's next accepted connection
    /// on this index (firmware with one TCP socket per peer).
    Idle,
    /// Dialled: connect at [`Peer::retry_at`].
    Waiting,
    /// Dialled, waiting without a deadline until
    /// [`super::Sockets::redial`] (its address is not known yet).
    Parked,
    /// Dialled: the driver is connecting.
    Connecting,
    /// A transport carries the connection.
    Open,
    /// The connection is over: a `Disconnected` event is owed, then the
    /// entry is freed.
    Gone,
    /// Freed by the application or by a listener's peer limit: an
    /// `Abort` action is owed, then the entry is freed.
    Aborting,
}

/// One peer of a socket in a [`super::Sockets`] set. Its type appears in
/// the set's storage parameter; everything about it is reached through
/// the set.
pub struct Peer<R, T, const SUBS: usize> {
    pub(crate) socket: SocketId,
    pub(crate) generation: u16,
    pub(crate) link: Link,
    /// Dialled by us (it reconnects) rather than accepted.
    pub(crate) dialled: bool,
    /// The entry stays when its connection ends: a dialled endpoint, or an
    /// index kept for a listening socket.
    pub(crate) kept: bool,
    pub(crate) conn: Option<Connection<R, T, SUBS>>,
    /// Dialled and [`Link::Waiting`]: when to connect.
    pub(crate) retry_at: Instant,
    /// The handshake finished on this connection.
    pub(crate) up: bool,
    /// `Connected` was reported for this connection.
    pub(crate) told_up: bool,
    /// `Disconnected` owed for an earlier connection on this index:
    /// its generation and why it ended.
    pub(crate) lost: Option<(u16, Option<ZmtpError>)>,
    /// The peer finished sending: close once its events are polled.
    pub(crate) eof: bool,
    /// Input waits that the connection takes only after we send (a REP
    /// owing its reply).
    pub(crate) stalled: bool,
    /// PUB: bytes of this connection's output written so far, and where
    /// each message still (partly) unwritten ends, oldest first: the
    /// high-water mark counts these.
    #[cfg(feature = "alloc")]
    pub(crate) written: u64,
    #[cfg(feature = "alloc")]
    pub(crate) ends: VecDeque<u64>,
}

impl<R, T, const SUBS: usize> Peer<R, T, SUBS> {
    pub(crate) fn new(
        socket: SocketId,
        link: Link,
        dialled: bool,
        kept: bool,
        now: Instant,
    ) -> Self {
        Peer {
            socket,
            generation: 0,
            link,
            dialled,
            kept,
            conn: None,
            retry_at: now,
            up: false,
            told_up: false,
            lost: None,
            eof: false,
            stalled: false,
            #[cfg(feature = "alloc")]
            written: 0,
            #[cfg(feature = "alloc")]
            ends: VecDeque::new(),
        }
    }

    pub(crate) fn id(&self, index: usize) -> PeerId {
        PeerId {
            index: u16::try_from(index).unwrap_or(u16::MAX),
            generation: self.generation,
        }
    }

    /// Forgets the connection's per-connection state (it has ended).
    pub(crate) fn clear(&mut self) {
        self.conn = None;
        self.up = false;
        self.told_up = false;
        self.eof = false;
        self.stalled = false;
        #[cfg(feature = "alloc")]
        {
            self.written = 0;
            self.ends.clear();
        }
    }
}

impl<R: Buffer, T: Buffer, const SUBS: usize> Peer<R, T, SUBS> {
    /// The connection, if it is open and past its handshake.
    pub(crate) fn established(&mut self) -> Option<&mut Connection<R, T, SUBS>> {
        match (self.link, self.conn.as_mut()) {
            (Link::Open, Some(c)) if c.is_established() => Some(c),
            _ => None,
        }
    }

    /// Whether the connection is over and nothing of it waits to be told:
    /// failed with its last bytes (an ERROR) written, or finished by the
    /// peer with every event polled.
    pub(crate) fn finished(&self) -> bool {
        let Some(c) = self.conn.as_ref().filter(|_| self.link == Link::Open) else {
            return false;
        };
        (c.is_closed() && !c.has_output()) || (self.eof && !c.has_event())
    }

    /// Whether the connection would take bytes now.
    pub(crate) fn wants_input(&self) -> bool {
        self.link == Link::Open
            && !self.eof
            && !self.stalled
            && self
                .conn
                .as_ref()
                .is_some_and(|c| !c.is_closed() && !c.has_event())
    }

    /// Whether [`super::Sockets::poll_event`] has something to say about
    /// it (its message only if not `held`).
    pub(crate) fn has_report(&self, held: bool) -> bool {
        self.lost.is_some()
            || (self.up && !self.told_up)
            || (self.link == Link::Open
                && self
                    .conn
                    .as_ref()
                    .is_some_and(|c| c.has_event() && !(held && c.has_message())))
    }
}
