//! Multi-peer ZMTP sockets, sans-IO: REQ, REP, PUB and SUB with the rules
//! libzmq gives them, over one [`zmtp::Connection`]
//! per peer.
//!
//! A [`Sockets`] set holds sockets and their peers, as quinn's `Endpoint`
//! holds connections: the firmware node keeps one for its services and
//! clients, the `networkzero` crate's pure-Rust transport one for all of a
//! process's sockets. It has no transports and no clock: a driver moves
//! bytes and time between it and its TCP sockets, naming each peer by its
//! index in the peer table.
//!
//! The rules, each in its file:
//! - [`req`](Sockets::send): a request goes to the next connected peer in
//!   turn; one request is in flight at a time and only the peer that took
//!   it can answer; it is lost if that peer's connection ends.
//! - [`rep`](Sockets::reply): requests are taken from peers in turn (each
//!   peer's connection reads nothing more until it is answered), and each
//!   reply goes back to the peer that asked, or nowhere if that
//!   connection has ended since.
//! - [`publish`](Sockets::publish): news goes to each peer whose
//!   subscriptions match; a peer with [`Settings::high_water_mark`]
//!   messages unwritten (or no room left) misses the newest, alone.
//! - [`subscribe`](Sockets::subscribe): the socket keeps its prefixes and
//!   every connection, new ones too, subscribes to them.
//! - [`dial`](Sockets::connect): a dialled peer reconnects [`RECONNECT`]
//!   after its connection ends or fails to start.
//! - [`accept`](Sockets::accept): a listening socket takes at most
//!   [`Settings::max_peers`] peers.
//! - every connection: the handshake must finish within
//!   [`Settings::handshake_timeout`]; dialled ones send heartbeats.
//!
//! Capacities are the storage's: fixed arrays (`[Option<_>; N]`, `[u8; N]`
//! buffers: see [`Fixed`]) for firmware, or with feature `alloc` a `Vec`
//! and `zmtp::Growable` buffers (see `Growing`) whose
//! memory follows what peers actually send, up to
//! [`Settings::max_message_size`].
//!
//! # Methods by kind
//! - Application commands: [`Sockets::open`], [`Sockets::close`],
//!   [`Sockets::connect`], [`Sockets::send`], [`Sockets::reply`],
//!   [`Sockets::publish`], [`Sockets::subscribe`], [`Sockets::unsubscribe`].
//! - Driver input (`handle_*`): [`Sockets::accept`],
//!   [`Sockets::handle_connected`], [`Sockets::handle_input`] (or the
//!   zero-copy [`Sockets::handle_input_borrowed`]),
//!   [`Sockets::consume_output`], [`Sockets::handle_eof`],
//!   [`Sockets::handle_closed`], [`Sockets::handle_timeout`].
//! - Output (`poll_*`, `#[must_use]`): [`Sockets::output`] per peer,
//!   [`Sockets::poll_action`], [`Sockets::poll_timeout`],
//!   [`Sockets::poll_event`].
//!
//! # Drain contract
//! After every `handle_*` call or application command, with the same `now`:
//! 1. per peer: write [`Sockets::output`] to its transport and report it
//!    with [`Sockets::consume_output`];
//! 2. [`Sockets::poll_action`] until `None` (abort, close, connect);
//! 3. [`Sockets::poll_timeout`]: call [`Sockets::handle_timeout`] then;
//! 4. [`Sockets::poll_event`] until `None`.
//!
//! A driver that repeats these steps until a pass moves nothing may ask
//! [`Sockets::has_work`] instead of making that last, empty pass (its
//! transports' readiness and output are its own to look at).
//!
//! A message waits in its connection until polled: a peer whose events are
//! not drained is not read from (its transport pushes back), nothing is
//! lost or copied. [`Sockets::handle_input_borrowed`] hands a part that
//! arrived whole back at once instead, borrowing the caller's bytes.
//!
//! # Example
//! A REQ and a REP in one set, wired back to back in memory:
//! ```
//! use networkzero_core::socket::{Event, Fixed, Settings, Action};
//! use networkzero_core::zmtp::Role;
//! use networkzero_core::Instant;
//!
//! let now = Instant::ZERO;
//! let mut set: Fixed<2, 2, 512> = Fixed::new(Settings::new());
//! let rep = set.open(Role::Rep).unwrap();
//! let req = set.open(Role::Req).unwrap();
//! let client = set.connect(req, now).unwrap();
//! assert_eq!(set.poll_action(now), Some(Action::Connect { socket: req, peer: client }));
//! let server = set.accept(rep, now).unwrap();
//! set.handle_connected(client, now);
//! // Move bytes both ways until quiet (the "network").
//! let mut wire = [0u8; 512];
//! for _ in 0..4 {
//!     for (from, to) in [(client, server), (server, client)] {
//!         let n = set.output(from).len();
//!         wire[..n].copy_from_slice(set.output(from));
//!         set.consume_output(from, n);
//!         let used = set.handle_input(to, &wire[..n], now);
//!         assert_eq!(used, n);
//!     }
//!     while set.poll_event().is_some() {}
//! }
//! set.send(req, &[b"hello"]).unwrap();
//! let n = set.output(client).len();
//! wire[..n].copy_from_slice(set.output(client));
//! set.consume_output(client, n);
//! set.handle_input(server, &wire[..n], now);
//! let Some(Event::Message(m)) = set.poll_event() else { panic!() };
//! assert_eq!(m.part.data, b"hello");
//! let peer = m.peer;
//! set.reply(peer, &[b"world"]).unwrap();
//! ```

use core::marker::PhantomData;

use crate::zmtp::subscriptions::Subscriptions;
use crate::zmtp::{
    self, Connection, Role, Security, SendError, ZmtpError, CONTROL_RESERVE, MAX_ENVELOPE,
    MIN_RX_BUFFER, MIN_RX_BUFFER_CURVE, MIN_TX_BUFFER, MIN_TX_BUFFER_CURVE, SUBSCRIPTION_STORE,
};
use crate::{Duration, Instant};

mod accept;
mod dial;
mod error;
mod event;
mod peer;
mod publish;
mod rep;
mod req;
mod slots;
mod subscribe;
#[cfg(test)]
mod tests;

pub use dial::RECONNECT;
pub use error::Error;
pub use event::{Action, Event, Input, Message};
pub use peer::{Peer, PeerId};
pub use publish::PublishReport;
pub use slots::{NewBuffer, Slots};

use peer::Link;

/// Peers a listening socket takes at once unless [`Settings::max_peers`]
/// says otherwise: a classroom's programs with room to spare, and well
/// under the usual limit of 1024 open files even with a few listeners.
pub const DEFAULT_MAX_PEERS: usize = 256;

/// News queued for one subscriber before the newest is dropped for it,
/// unless [`Settings::high_water_mark`] says otherwise (libzmq's default).
pub const DEFAULT_HIGH_WATER_MARK: usize = 1000;

/// The most a PUB takes in one message from a peer: subscriptions only.
const PUB_INPUT: usize = 512;

/// A connection's security mechanism and its randomness, chosen by the
/// driver for each connection it starts ([`Sockets::accept_secured`],
/// [`Sockets::handle_connected_secured`]); the plain calls start NULL
/// connections. The set has no RNG (sans-IO): `seed` is 32 bytes from the
/// driver's cryptographic RNG, fresh for every connection (see
/// [`Connection::with_seed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secure {
    /// The mechanism (e.g. `Security::CurveServer` for an accepted
    /// connection of a keyed listener).
    pub security: Security,
    /// The connection's seed.
    pub seed: [u8; 32],
}

/// Bytes a secured connection's buffers need beyond a NULL one's, per
/// frame: CURVE's MESSAGE box and the longer frame header it may need.
#[cfg(feature = "curve")]
const SECURE_FRAME: usize = zmtp::curve::MESSAGE_OVERHEAD + 9;
#[cfg(not(feature = "curve"))]
const SECURE_FRAME: usize = 0;

/// A socket as a set names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SocketId(pub(crate) u32);

impl SocketId {
    /// Its index in the socket table.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Limits and timers for every socket and connection of a set. Build with
/// [`Settings::new`], then adjust fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Settings {
    /// Largest incoming message, all parts together (default 64 KiB); also
    /// the largest a growable buffer grows for.
    pub max_message_size: usize,
    /// Most parts in one incoming message (default 32).
    pub max_parts: usize,
    /// An incoming message over the limits but at most this long is read,
    /// dropped and reported as [`Event::TooLarge`] instead of closing its
    /// connection (default 0: it closes it; see
    /// [`zmtp::Config::max_skipped_message`]).
    pub max_skipped_message: usize,
    /// Most subscriptions a socket keeps, or a peer may hold (default 16).
    pub max_subscriptions: usize,
    /// Longest subscription prefix (default 128, at most 255).
    pub max_subscription_len: usize,
    /// PUB: messages written into a peer's connection and not yet handed
    /// to its transport, past which news is dropped for that peer (default
    /// [`DEFAULT_HIGH_WATER_MARK`]; 0: no count, only buffer room). Counted
    /// with feature `alloc`; without it only buffer room limits a peer.
    pub high_water_mark: usize,
    /// Most peers a listening socket takes at once (default
    /// [`DEFAULT_MAX_PEERS`]).
    pub max_peers: usize,
    /// A connection whose handshake has not finished this long after its
    /// transport opened is closed (default 30 s, libzmq's
    /// `ZMQ_HANDSHAKE_IVL`).
    pub handshake_timeout: Option<Duration>,
    /// Dialled connections send a PING this often (default `None`).
    pub heartbeat_interval: Option<Duration>,
    /// …and close if nothing arrives this long after one (default: the
    /// interval).
    pub heartbeat_timeout: Option<Duration>,
}

impl Settings {
    /// The defaults.
    pub const fn new() -> Settings {
        Settings {
            max_message_size: 64 * 1024,
            max_parts: 32,
            max_skipped_message: 0,
            max_subscriptions: 16,
            max_subscription_len: 128,
            high_water_mark: DEFAULT_HIGH_WATER_MARK,
            max_peers: DEFAULT_MAX_PEERS,
            handshake_timeout: Some(Duration::from_secs(30)),
            heartbeat_interval: None,
            heartbeat_timeout: None,
        }
    }

    /// A new connection's configuration for a peer of a `role` socket.
    fn connection(&self, role: Role, dialled: bool, security: Security) -> zmtp::Config {
        let mut c = zmtp::Config::new(role);
        c.security = security;
        c.max_message_size = match role {
            Role::Pub => PUB_INPUT,
            _ => self.max_message_size,
        };
        c.max_parts = self.max_parts;
        c.max_skipped_message = self.max_skipped_message;
        c.max_subscriptions = self.max_subscriptions;
        c.max_subscription_len = self.max_subscription_len;
        c.handshake_timeout = self.handshake_timeout;
        if dialled {
            c.heartbeat_interval = self.heartbeat_interval;
            c.heartbeat_timeout = self.heartbeat_timeout;
        }
        c
    }

    /// Limits of a new connection's (receive, output) buffers; a secured
    /// one's frames each carry [`SECURE_FRAME`] more, and its buffers hold
    /// CURVE's handshake commands whatever the message limit (they are the
    /// mechanism's, of fixed sizes, not messages).
    fn buffers(&self, role: Role, secured: bool) -> (usize, usize) {
        let frame = if secured { 9 + SECURE_FRAME } else { 9 };
        let (rx, tx) = self.plain_buffers(role, frame);
        if secured {
            (
                rx.saturating_add(SECURE_FRAME).max(MIN_RX_BUFFER_CURVE),
                tx.max(MIN_TX_BUFFER_CURVE),
            )
        } else {
            (rx, tx)
        }
    }

    fn plain_buffers(&self, role: Role, frame: usize) -> (usize, usize) {
        let message = self
            .max_message_size
            .saturating_add(self.max_parts.saturating_mul(frame))
            .saturating_add(MAX_ENVELOPE + CONTROL_RESERVE + MIN_TX_BUFFER);
        let subscriptions = self
            .max_subscriptions
            .saturating_mul(self.max_subscription_len.saturating_add(12))
            .saturating_add(MIN_TX_BUFFER + CONTROL_RESERVE);
        match role {
            Role::Pub => (PUB_INPUT.max(MIN_RX_BUFFER), message),
            Role::Sub => (self.max_message_size.max(MIN_RX_BUFFER), subscriptions),
            _ => (self.max_message_size.max(MIN_RX_BUFFER), message),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::new()
    }
}

/// One socket of a set: its role and what its rules keep.
pub struct Socket<const TOPICS: usize> {
    pub(crate) role: Role,
    /// REQ: the peer holding our request, until its reply's last part.
    pub(crate) in_flight: Option<PeerId>,
    /// REQ: peers take requests in turn from this index.
    pub(crate) turn: u32,
    /// Listening: the peer limit was reached (told once).
    pub(crate) limit_reached: bool,
    pub(crate) limit_unreported: bool,
    /// Reports messages only (see [`Sockets::set_quiet`]).
    pub(crate) quiet: bool,
    /// SUB: its prefixes, which every connection subscribes to.
    pub(crate) topics: Subscriptions<TOPICS>,
}

/// A set of sockets and their peers (see the module docs).
///
/// `R` and `T` are each connection's receive and output buffers, `P` the
/// peer table, `S` the socket table; `SUBS` bytes of subscriptions per
/// connection (a PUB's peer's, a SUB's own) and `TOPICS` per socket (a
/// SUB's prefixes). [`Fixed`] and (feature `alloc`) `Growing` name the
/// usual choices.
pub struct Sockets<
    R,
    T,
    P,
    S,
    const SUBS: usize = SUBSCRIPTION_STORE,
    const TOPICS: usize = SUBSCRIPTION_STORE,
> {
    pub(crate) settings: Settings,
    pub(crate) peers: P,
    pub(crate) sockets: S,
    /// Fair queuing: the peer `poll_event` looks at first.
    pub(crate) turn: usize,
    _buffers: PhantomData<fn() -> (R, T)>,
}

/// A set in fixed storage, for firmware: `PEERS` peers, `SOCKETS` sockets,
/// `BUF`-byte buffers (the longest part it takes, the longest message it
/// sends), `SUBS` and `TOPICS` bytes of subscriptions per connection and
/// per socket.
pub type Fixed<
    const PEERS: usize,
    const SOCKETS: usize,
    const BUF: usize,
    const SUBS: usize = 128,
    const TOPICS: usize = 128,
> = Sockets<
    [u8; BUF],
    [u8; BUF],
    [Option<Peer<[u8; BUF], [u8; BUF], SUBS>>; PEERS],
    [Option<Socket<TOPICS>>; SOCKETS],
    SUBS,
    TOPICS,
>;

/// A set that grows (feature `alloc`): as many sockets and peers as are
/// opened, and buffers that grow with what each peer sends.
#[cfg(feature = "alloc")]
pub type Growing = Sockets<
    zmtp::Growable,
    zmtp::Growable,
    alloc::vec::Vec<Option<Peer<zmtp::Growable, zmtp::Growable, SUBSCRIPTION_STORE>>>,
    alloc::vec::Vec<Option<Socket<SUBSCRIPTION_STORE>>>,
>;

impl<R, T, P, S, const SUBS: usize, const TOPICS: usize> Sockets<R, T, P, S, SUBS, TOPICS>
where
    R: NewBuffer,
    T: NewBuffer,
    P: Slots<Peer<R, T, SUBS>>,
    S: Slots<Socket<TOPICS>>,
{
    /// An empty set.
    pub fn new(settings: Settings) -> Self {
        Sockets {
            settings,
            peers: P::empty(),
            sockets: S::empty(),
            turn: 0,
            _buffers: PhantomData,
        }
    }

    // ---- sockets -----------------------------------------------------------

    /// Opens a socket.
    pub fn open(&mut self, role: Role) -> Result<SocketId, Error> {
        let i = slots::free(&mut self.sockets).ok_or(Error::Full)?;
        self.open_at(i, role)
    }

    /// Opens a socket at index `i` of the socket table (a caller that
    /// numbers its own).
    pub fn open_at(&mut self, i: usize, role: Role) -> Result<SocketId, Error> {
        let id = SocketId(u32::try_from(i).map_err(|_| Error::Taken)?);
        let slot = self
            .sockets
            .as_mut_slice()
            .get_mut(i)
            .filter(|s| s.is_none())
            .ok_or(Error::Taken)?;
        *slot = Some(Socket {
            role,
            in_flight: None,
            turn: 0,
            limit_reached: false,
            limit_unreported: false,
            quiet: false,
            topics: Subscriptions::new(),
        });
        Ok(id)
    }

    /// Closes a socket: its peers' transports are aborted (see
    /// [`Sockets::poll_action`]) and nothing more is told about them.
    /// Returns whether it was open.
    pub fn close(&mut self, socket: SocketId) -> bool {
        let Some(slot) = self.sockets.as_mut_slice().get_mut(socket.index()) else {
            return false;
        };
        if slot.take().is_none() {
            return false;
        }
        for slot in self.peers.as_mut_slice() {
            let Some(p) = slot.as_mut().filter(|p| p.socket == socket) else {
                continue;
            };
            match p.link {
                Link::Open | Link::Connecting => {
                    p.clear();
                    p.lost = None;
                    p.link = Link::Aborting;
                }
                Link::Aborting => {}
                _ => *slot = None,
            }
        }
        true
    }

    /// A socket's role, if it is open.
    pub fn role(&self, socket: SocketId) -> Option<Role> {
        self.socket(socket).map(|s| s.role)
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    // ---- peers -------------------------------------------------------------

    /// The socket a peer index belongs to, if the index is taken.
    pub fn peer_socket(&self, i: usize) -> Option<SocketId> {
        self.peer(i)
            .filter(|p| p.link != Link::Aborting)
            .map(|p| p.socket)
    }

    /// Whether index `i` of the peer table is free.
    pub fn is_free(&self, i: usize) -> bool {
        self.peers.as_slice().get(i).is_some_and(Option::is_none)
    }

    /// Whether the index carries a connection (its transport is open).
    pub fn has_connection(&self, i: usize) -> bool {
        self.peer(i)
            .is_some_and(|p| p.link == Link::Open && p.conn.is_some())
    }

    /// Whether the index's connection has finished its handshake.
    pub fn is_established(&self, i: usize) -> bool {
        self.peer(i).is_some_and(|p| {
            p.link == Link::Open && p.conn.as_ref().is_some_and(Connection::is_established)
        })
    }

    /// Whether the index's connection is still in its handshake and has not
    /// failed: a peer ending it now hung up in the handshake, which on a
    /// keyed connection is most likely a refusal over the key (a CURVE
    /// server drops another class's HELLO without a word; libzmq with NULL
    /// closes on seeing a CURVE greeting).
    pub fn in_handshake(&self, i: usize) -> bool {
        self.has_connection(i) && !self.is_established(i) && self.error(i).is_none()
    }

    /// Connected peers of a socket (past their handshake).
    pub fn connected_peers(&self, socket: SocketId) -> usize {
        self.peers
            .as_slice()
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                p.as_ref().is_some_and(|p| p.socket == socket) && self.is_established(*i)
            })
            .count()
    }

    /// Whether the index's connection would take bytes now (no message
    /// waits to be polled, no reply is owed, the peer has not finished):
    /// a driver may leave its transport unread when not.
    pub fn wants_input(&self, i: usize) -> bool {
        self.peer(i).is_some_and(Peer::wants_input)
    }

    /// The peer entry at index `i`.
    pub(crate) fn peer(&self, i: usize) -> Option<&Peer<R, T, SUBS>> {
        self.peers.as_slice().get(i).and_then(Option::as_ref)
    }

    pub(crate) fn socket(&self, id: SocketId) -> Option<&Socket<TOPICS>> {
        self.sockets
            .as_slice()
            .get(id.index())
            .and_then(Option::as_ref)
    }

    // ---- driver input --------------------------------------------------------

    /// The transport at index `i` is up (accepted there, or a connect
    /// succeeded): starts a ZMTP connection on it, ending the one it had.
    pub fn handle_connected(&mut self, i: usize, now: Instant) {
        self.connected(i, now, None);
    }

    /// Like [`Sockets::handle_connected`], with the connection's security
    /// chosen by the driver (a keyed program: CURVE). A fixed set whose
    /// buffers are too small for it starts nothing: the peer is aborted
    /// ([`Action::Abort`]; see [`Error::BuffersTooSmall`]).
    pub fn handle_connected_secured(&mut self, i: usize, now: Instant, secure: Secure) {
        self.connected(i, now, Some(secure));
    }

    /// Why the connection at index `i` failed, while it is still open (its
    /// last bytes, an ERROR, not yet written, or its events not polled):
    /// for a driver that tells the user why a peer was refused, e.g. a
    /// handshake that failed on a key ([`ZmtpError::MechanismMismatch`],
    /// [`ZmtpError::KeyMismatch`]).
    pub fn error(&self, i: usize) -> Option<ZmtpError> {
        self.peer(i)
            .filter(|p| p.link == Link::Open)
            .and_then(|p| p.conn.as_ref())
            .and_then(Connection::error)
    }

    fn connected(&mut self, i: usize, now: Instant, secure: Option<Secure>) {
        let Some(p) = self.peers.as_slice().get(i).and_then(Option::as_ref) else {
            return;
        };
        match p.link {
            Link::Gone | Link::Aborting => {}
            Link::Open => {
                let error = p.conn.as_ref().and_then(Connection::error);
                self.end(i, error, now);
                self.start(i, now, secure);
            }
            _ => {
                self.start(i, now, secure);
            }
        }
    }

    /// Feeds bytes from peer `i`'s transport; returns how many were taken
    /// (keep the rest for a later call). A message part stays in the
    /// connection until [`Sockets::poll_event`]; nothing more is taken
    /// meanwhile, nor while a REP owes its reply.
    pub fn handle_input(&mut self, i: usize, bytes: &[u8], now: Instant) -> usize {
        let quiet = self.quiet(i);
        let Some(p) = self.open_peer(i) else {
            return 0;
        };
        let Some(conn) = p.conn.as_mut() else {
            return 0;
        };
        if p.stalled || conn.has_event() || bytes.is_empty() {
            return 0;
        }
        let used = match conn.handle_input(bytes, now) {
            Ok(0) if !conn.has_event() => {
                p.stalled = true;
                0
            }
            Ok(n) => n,
            Err(_) => 0,
        };
        settle(p, quiet);
        used
    }

    /// Like [`Sockets::handle_input`], but a part that arrived whole in
    /// `bytes` is handed back at once, borrowing them (no copy); other
    /// events still come from [`Sockets::poll_event`]. Call again with the
    /// rest.
    pub fn handle_input_borrowed<'a>(
        &mut self,
        i: usize,
        bytes: &'a [u8],
        now: Instant,
    ) -> Input<'a> {
        let nothing = Input {
            consumed: 0,
            message: None,
        };
        let quiet = self.quiet(i);
        let Some(p) = self
            .peers
            .as_mut_slice()
            .get_mut(i)
            .and_then(Option::as_mut)
            .filter(|p| p.link == Link::Open)
        else {
            return nothing;
        };
        let id = p.id(i);
        let socket = p.socket;
        let Some(conn) = p.conn.as_mut() else {
            return nothing;
        };
        if p.stalled || conn.has_event() || bytes.is_empty() {
            return nothing;
        }
        let got = match conn.handle_input_borrowed(bytes, now) {
            Ok(r) => r,
            Err(_) => return nothing,
        };
        if got.consumed == 0 && got.part.is_none() && !conn.has_event() {
            p.stalled = true;
        }
        settle(p, quiet);
        let message = got.part.map(|part| {
            req::delivered(&mut self.sockets, socket, id, part.more);
            Message {
                socket,
                peer: id,
                part,
            }
        });
        Input {
            consumed: got.consumed,
            message,
        }
    }

    /// `n` bytes of [`Sockets::output`] were written to peer `i`'s transport.
    pub fn consume_output(&mut self, i: usize, n: usize) {
        let Some(p) = self.open_peer(i) else {
            return;
        };
        let Some(conn) = p.conn.as_mut() else {
            return;
        };
        let n = n.min(conn.output().len());
        conn.consume_output(n);
        publish::written(p, n);
    }

    /// Peer `i` finished sending (its transport read end closed) and every
    /// byte was fed in: the connection closes once its events are polled.
    pub fn handle_eof(&mut self, i: usize) {
        if let Some(p) = self.open_peer(i) {
            p.eof = true;
        }
    }

    /// Peer `i`'s transport is gone (reset, refused, closed, or a connect
    /// failed): its connection ends; a dialled peer reconnects after
    /// [`RECONNECT`].
    pub fn handle_closed(&mut self, i: usize, now: Instant) {
        let Some(p) = self.peer(i) else {
            return;
        };
        match p.link {
            Link::Open => {
                let error = p.conn.as_ref().and_then(Connection::error);
                self.end(i, error, now);
            }
            Link::Connecting => {
                if let Some(p) = self
                    .peers
                    .as_mut_slice()
                    .get_mut(i)
                    .and_then(Option::as_mut)
                {
                    p.link = Link::Waiting;
                    p.retry_at = now + RECONNECT;
                }
            }
            _ => {}
        }
    }

    /// Runs every connection's timers that are due (handshake timeouts,
    /// heartbeats); a connection that fails closes (see
    /// [`Sockets::poll_action`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        for p in self.peers.as_mut_slice().iter_mut().flatten() {
            if p.link != Link::Open {
                continue;
            }
            if let Some(conn) = p.conn.as_mut() {
                if conn.poll_timeout().is_some_and(|t| t <= now) {
                    let _ = conn.handle_timeout(now);
                }
            }
        }
    }

    // ---- output ------------------------------------------------------------

    /// Bytes for peer `i`'s transport (empty if none): write what it takes,
    /// then [`Sockets::consume_output`].
    #[must_use]
    pub fn output(&self, i: usize) -> &[u8] {
        match self.peer(i) {
            Some(p) if p.link == Link::Open => p.conn.as_ref().map_or(&[], Connection::output),
            _ => &[],
        }
    }

    /// The next thing to do to a transport: aborts first, then closes, then
    /// connects; `None` when there is nothing.
    #[must_use]
    pub fn poll_action(&mut self, now: Instant) -> Option<Action> {
        let peers = self.peers.as_mut_slice();
        if let Some(i) = peers
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.link == Link::Aborting))
        {
            if let Some(slot) = peers.get_mut(i) {
                *slot = None;
            }
            return Some(Action::Abort { peer: i });
        }
        if let Some(i) = peers
            .iter()
            .position(|p| p.as_ref().is_some_and(Peer::finished))
        {
            let error = self
                .peer(i)
                .and_then(|p| p.conn.as_ref())
                .and_then(Connection::error);
            self.end(i, error, now);
            return Some(Action::Close { peer: i });
        }
        let (i, p) =
            self.peers
                .as_mut_slice()
                .iter_mut()
                .enumerate()
                .find_map(|(i, p)| match p {
                    Some(p) if p.link == Link::Waiting && p.retry_at <= now => Some((i, p)),
                    _ => None,
                })?;
        p.link = Link::Connecting;
        Some(Action::Connect {
            socket: p.socket,
            peer: i,
        })
    }

    /// When [`Sockets::handle_timeout`] should run next, or a dialled peer
    /// connect (via [`Sockets::poll_action`]); `None` for never.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // A driver asks on every turn: a plain loop (iterator adapters
        // measured half again as many instructions).
        let mut next = None;
        for p in self.peers.as_slice().iter().flatten() {
            let t = match p.link {
                Link::Open => p.conn.as_ref().and_then(Connection::poll_timeout),
                Link::Waiting => Some(p.retry_at),
                _ => None,
            };
            next = Instant::sooner(next, t);
        }
        next
    }

    /// Whether [`Sockets::poll_action`], [`Sockets::poll_event`] or
    /// [`Sockets::handle_timeout`] has something to do at `now`. A driver
    /// that has just drained them, fed input and written output may ask
    /// this rather than poll each once more only to find nothing (the
    /// drain contract's last, empty round): `false` means another round
    /// would move nothing here until new input, a call, or a later `now`.
    /// Output is the driver's to look at ([`Sockets::output`]).
    #[must_use]
    pub fn has_work(&self, now: Instant) -> bool {
        let limit = self
            .sockets
            .as_slice()
            .iter()
            .any(|s| s.as_ref().is_some_and(|s| s.limit_unreported));
        // A plain loop, as in `poll_timeout`: asked on every turn.
        let mut work = limit;
        for p in self.peers.as_slice().iter().flatten() {
            work |= p.has_report(false)
                || p.finished()
                || match p.link {
                    Link::Aborting => true,
                    Link::Open => p
                        .conn
                        .as_ref()
                        .and_then(Connection::poll_timeout)
                        .is_some_and(|t| t <= now),
                    Link::Waiting => p.retry_at <= now,
                    _ => false,
                };
        }
        work
    }

    /// The next event, taking peers in turn (a message's parts come
    /// together); `None` when drained. A message borrows from its
    /// connection until the next call.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        self.poll_event_where(|_| false)
    }

    /// Like [`Sockets::poll_event`], leaving the messages of the peers
    /// for which `hold(index)` is true where they are (and their input
    /// paused) until a later call; their other events still come.
    #[must_use]
    pub fn poll_event_where(&mut self, hold: impl Fn(usize) -> bool) -> Option<Event<'_>> {
        match self.next_report(&hold)? {
            Report::Limit(i) => {
                let s = self.sockets.as_mut_slice().get_mut(i)?.as_mut()?;
                s.limit_unreported = false;
                Some(Event::PeerLimit {
                    socket: SocketId(u32::try_from(i).unwrap_or(u32::MAX)),
                })
            }
            Report::Peer(i) => self.report(i, hold(i)),
        }
    }

    /// Whether [`Sockets::poll_event_where`] with this `hold` has
    /// something to return.
    pub fn has_events_where(&self, hold: impl Fn(usize) -> bool) -> bool {
        self.next_report(hold).is_some()
    }

    /// The next event of peer `i` only; `None` when it has none.
    #[must_use]
    pub fn poll_event_of(&mut self, i: usize) -> Option<Event<'_>> {
        self.report(i, false)
    }

    /// Peer `i`'s next event (not its message if `held`).
    fn report(&mut self, i: usize, held: bool) -> Option<Event<'_>> {
        self.turn = i.wrapping_add(1);
        let slot = self.peers.as_mut_slice().get_mut(i)?;
        let p = slot.as_mut()?;
        let socket = p.socket;
        if let Some((generation, error)) = p.lost.take() {
            let peer = PeerId {
                index: u16::try_from(i).unwrap_or(u16::MAX),
                generation,
            };
            if p.link == Link::Gone {
                *slot = None;
            }
            return Some(Event::Disconnected {
                socket,
                peer,
                error,
            });
        }
        // A fresh borrow: the event returned below borrows the connection.
        let p = self.peers.as_mut_slice().get_mut(i)?.as_mut()?;
        let peer = p.id(i);
        if p.up && !p.told_up {
            p.told_up = true;
            return Some(Event::Connected { socket, peer });
        }
        if p.link != Link::Open {
            return None;
        }
        let conn = p.conn.as_mut()?;
        if held && conn.has_message() {
            return None;
        }
        match conn.poll_event()? {
            zmtp::Event::Message(part) => {
                if part.more {
                    self.turn = i;
                }
                req::delivered(&mut self.sockets, socket, peer, part.more);
                Some(Event::Message(Message { socket, peer, part }))
            }
            zmtp::Event::Subscribed(topic) => Some(Event::Subscribed {
                socket,
                peer,
                topic,
            }),
            zmtp::Event::Unsubscribed(topic) => Some(Event::Unsubscribed {
                socket,
                peer,
                topic,
            }),
            zmtp::Event::TooLarge(zmtp::TooLarge { size, limit }) => {
                // A dropped reply still ends its request.
                req::delivered(&mut self.sockets, socket, peer, false);
                Some(Event::TooLarge {
                    socket,
                    peer,
                    size,
                    limit,
                })
            }
            // Handshakes and errors are taken as input comes (`settle`).
            _ => None,
        }
    }

    /// Peer `i`'s waiting message part, if it has one (its connection
    /// reports stay for [`Sockets::poll_event`]): for a driver that takes
    /// some parts itself as they arrive.
    #[must_use]
    pub fn poll_message_of(&mut self, i: usize) -> Option<Message<'_>> {
        let p = self
            .peers
            .as_mut_slice()
            .get_mut(i)?
            .as_mut()
            .filter(|p| p.link == Link::Open)?;
        let socket = p.socket;
        let peer = p.id(i);
        let conn = p.conn.as_mut()?;
        // Other events (subscriptions, a skipped message) stay for
        // `poll_event`.
        if !conn.has_message() {
            return None;
        }
        let zmtp::Event::Message(part) = conn.poll_event()? else {
            return None;
        };
        req::delivered(&mut self.sockets, socket, peer, part.more);
        Some(Message { socket, peer, part })
    }

    /// Peer `i`'s waiting [`Event::TooLarge`], if that is what it has next:
    /// for a driver that answers it before it takes other events (the
    /// event borrows nothing, so the driver can reply at once).
    pub fn poll_too_large_of(&mut self, i: usize) -> Option<(SocketId, PeerId, zmtp::TooLarge)> {
        let p = self.open_peer(i)?;
        let (socket, peer) = (p.socket, p.id(i));
        let conn = p.conn.as_mut().filter(|c| c.has_too_large())?;
        let Some(zmtp::Event::TooLarge(t)) = conn.poll_event() else {
            return None;
        };
        req::delivered(&mut self.sockets, socket, peer, false);
        Some((socket, peer, t))
    }

    /// Makes a socket quiet: it reports messages only, no peers coming and
    /// going, no subscriptions, no limit (a driver that tracks none of them).
    pub fn set_quiet(&mut self, socket: SocketId, quiet: bool) {
        if let Some(s) = self
            .sockets
            .as_mut_slice()
            .get_mut(socket.index())
            .and_then(Option::as_mut)
        {
            s.quiet = quiet;
        }
    }

    /// What [`Sockets::poll_event`] reports next: a socket's peer limit
    /// first, then peers in turn from `turn`, passing over those held.
    fn next_report(&self, hold: impl Fn(usize) -> bool) -> Option<Report> {
        if let Some(i) = self
            .sockets
            .as_slice()
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.limit_unreported))
        {
            return Some(Report::Limit(i));
        }
        let peers = self.peers.as_slice();
        let n = peers.len();
        (0..n)
            .map(|k| (self.turn.wrapping_add(k)) % n)
            .find(|&i| {
                peers
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_some_and(|p| p.has_report(hold(i)))
            })
            .map(Report::Peer)
    }

    // ---- internals -----------------------------------------------------------

    /// Whether peer `i`'s socket is quiet.
    fn quiet(&self, i: usize) -> bool {
        self.peer(i)
            .and_then(|p| self.socket(p.socket))
            .is_some_and(|s| s.quiet)
    }

    fn open_peer(&mut self, i: usize) -> Option<&mut Peer<R, T, SUBS>> {
        self.peers
            .as_mut_slice()
            .get_mut(i)
            .and_then(Option::as_mut)
            .filter(|p| p.link == Link::Open)
    }

    /// Starts a fresh connection at index `i` (its transport is up), NULL
    /// unless `secure` says otherwise. Buffers too small for it (a fixed
    /// set below what CURVE needs) start nothing: the peer is aborted, so
    /// that its transport is dropped rather than left waiting, and `false`
    /// says so.
    fn start(&mut self, i: usize, now: Instant, secure: Option<Secure>) -> bool {
        let Some(p) = self
            .peers
            .as_mut_slice()
            .get_mut(i)
            .and_then(Option::as_mut)
        else {
            return false;
        };
        let Some(socket) = self
            .sockets
            .as_slice()
            .get(p.socket.index())
            .and_then(Option::as_ref)
        else {
            return false;
        };
        let security = secure.map_or(Security::Null, |s| s.security);
        let seed = secure.map_or([0; 32], |s| s.seed);
        let config = self.settings.connection(socket.role, p.dialled, security);
        let (rx, tx) = self
            .settings
            .buffers(socket.role, security != Security::Null);
        p.clear();
        p.generation = p.generation.wrapping_add(1);
        let (rx, tx) = (R::new_buffer(rx), T::new_buffer(tx));
        match Connection::with_subscription_store_and_seed(config, rx, tx, now, seed) {
            Ok(mut conn) => {
                for (_, topic) in socket.topics.iter() {
                    let _ = conn.subscribe(topic);
                }
                p.conn = Some(conn);
                p.link = Link::Open;
                true
            }
            // Buffers below the minimum: a fixed set that can never
            // connect with this security (Node checks its BUF at compile
            // time, and for a key in `set_class_keys`).
            Err(_) => {
                p.link = Link::Aborting;
                false
            }
        }
    }

    /// The connection at index `i` is over (its transport is gone or is
    /// being closed): tell the application if it knew of it, free the
    /// entry or keep it for the next connection.
    fn end(&mut self, i: usize, error: Option<zmtp::ZmtpError>, now: Instant) {
        let Some(slot) = self.peers.as_mut_slice().get_mut(i) else {
            return;
        };
        let Some(p) = slot.as_mut() else {
            return;
        };
        req::lost(&mut self.sockets, p.socket, p.id(i));
        let quiet = self
            .sockets
            .as_slice()
            .get(p.socket.index())
            .and_then(Option::as_ref)
            .is_some_and(|s| s.quiet);
        let told = p.told_up && !quiet;
        p.clear();
        if told {
            p.lost = Some((p.generation, error));
        }
        p.retry_at = now + RECONNECT;
        p.link = match (p.kept, p.dialled) {
            (true, true) => Link::Waiting,
            (true, false) => Link::Idle,
            (false, _) if told => Link::Gone,
            (false, _) => {
                *slot = None;
                return;
            }
        };
    }
}

/// Socket `id` of the table, if it is open and has `role`.
pub(crate) fn socket_as<const TOPICS: usize>(
    sockets: &mut impl Slots<Socket<TOPICS>>,
    id: SocketId,
    role: Role,
) -> Result<&mut Socket<TOPICS>, Error> {
    let s = sockets
        .as_mut_slice()
        .get_mut(id.index())
        .and_then(Option::as_mut)
        .ok_or(Error::UnknownSocket)?;
    if s.role != role {
        return Err(Error::WrongRole);
    }
    Ok(s)
}

/// Who [`Sockets::poll_event`] reports on next.
enum Report {
    /// The socket at this index reached its peer limit.
    Limit(usize),
    /// The peer at this index.
    Peer(usize),
}

/// Takes off a connection, as input comes, the events the socket does not
/// hand out as they are: the handshake (told as `Connected` from the
/// peer's flags), an ERROR's reason (the connection is closed: told as
/// `Disconnected`), and a quiet socket's subscriptions. Each pauses input
/// until polled.
fn settle<R: NewBuffer, T: NewBuffer, const SUBS: usize>(p: &mut Peer<R, T, SUBS>, quiet: bool) {
    let Some(conn) = p.conn.as_mut() else {
        return;
    };
    if !conn.has_event() {
        return;
    }
    if !p.up && conn.is_established() {
        let _ = conn.poll_event();
        p.up = true;
        p.told_up = quiet;
    } else if conn.is_closed() || (quiet && conn.role() == Role::Pub) {
        let _ = conn.poll_event();
    }
}
