//! The per-connection ZMTP state machine.

use core::mem;

use super::buffer::Buffer;
use super::command::{Command, Properties};
use super::error::{ConfigError, SendError, ZmtpError};
use super::frame::{
    encode_frame, frame_len, FrameHeader, FrameHeaderRepr, FLAGS_RESERVED, FLAG_COMMAND, FLAG_LONG,
    FLAG_MORE,
};
use super::greeting::{Greeting, GreetingRepr, GREETING_LEN};
use super::security::Security;
use super::socket_type::{Role, SocketType};
use super::subscriptions::{AddError, Subscriptions, MAX_TOPIC_LEN, SUBSCRIPTION_STORE};
use crate::time::{Duration, Instant};

#[cfg(feature = "curve")]
mod sealed;

/// Smallest output buffer [`Connection::new`] accepts: our greeting (64),
/// READY (under 32 bytes) and the control reserve must fit. A REQ that sends
/// an `Identity` needs the identity's length + 20 more.
pub const MIN_TX_BUFFER: usize = 256;
/// Smallest receive buffer [`Connection::new`] accepts (a peer's READY must fit).
pub const MIN_RX_BUFFER: usize = 256;
/// Output space kept free by [`Connection::send`] for PONG, PING and ERROR.
pub const CONTROL_RESERVE: usize = 128;
/// Room for our READY metadata: Socket-Type and a 255-byte Identity.
const READY_PROPERTIES: usize = 300;
/// Bytes of routing envelope a REP connection stores per request.
pub const MAX_ENVELOPE: usize = 256;
/// Longest `Identity` property (ZMTP limits it to 255 bytes).
pub const MAX_IDENTITY: usize = 255;
/// Smallest receive buffer of a CURVE connection: a client's INITIATE (257
/// bytes + its metadata, about 290 from libzmq) must fit.
pub const MIN_RX_BUFFER_CURVE: usize = 384;
/// Smallest output buffer of a CURVE connection: our INITIATE (about 300
/// bytes; a REQ's `Identity` needs its length + 20 more) must fit.
pub const MIN_TX_BUFFER_CURVE: usize = 384;

/// Connection settings. Build with [`Config::new`], then adjust fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Config {
    /// Our socket role.
    pub role: Role,
    /// The security mechanism (default [`Security::Null`]). CURVE needs
    /// bigger buffers ([`MIN_RX_BUFFER_CURVE`], [`MIN_TX_BUFFER_CURVE`]) and
    /// a seed ([`Connection::with_seed`]).
    pub security: Security,
    /// Largest incoming message, all parts together (default 64 KiB). A single
    /// part is further limited by the receive buffer's length.
    pub max_message_size: usize,
    /// Most parts in one incoming message (default 32).
    pub max_parts: usize,
    /// An incoming message over the limits above (or with a part longer
    /// than the receive buffer) but at most this long, all parts together,
    /// is read and dropped instead of closing the connection, and reported
    /// as [`Event::TooLarge`]: a REP then owes its peer a reply (an error
    /// reply saying so), a REQ's request has its answer. Longer ones, and
    /// over-limit routing envelopes and subscriptions, close the connection.
    /// Default 0: every over-limit message closes it.
    pub max_skipped_message: usize,
    /// Most subscriptions a peer (PUB) or we (SUB) may hold (default 16).
    pub max_subscriptions: usize,
    /// Longest subscription topic (default 128, at most 255).
    pub max_subscription_len: usize,
    /// Close if the handshake has not finished this long after
    /// [`Connection::new`] (default 30 s, like libzmq; `None`: never).
    pub handshake_timeout: Option<Duration>,
    /// Send a PING this often once established (default `None`: no heartbeats).
    pub heartbeat_interval: Option<Duration>,
    /// Close if nothing arrives this long after a PING (default `None`: the
    /// interval, like libzmq's ZMQ_HEARTBEAT_TIMEOUT).
    pub heartbeat_timeout: Option<Duration>,
    /// TTL announced in our PINGs, rounded down to tenths of a second
    /// (ZMQ_HEARTBEAT_TTL; default zero: none).
    pub heartbeat_ttl: Duration,
    /// A reference, not a copy: every connection holds its Config, and a
    /// 255-byte array in each costs a small board more than it has.
    identity: &'static [u8],
}

impl Config {
    /// Defaults for `role`.
    pub const fn new(role: Role) -> Config {
        Config {
            role,
            security: Security::Null,
            max_message_size: 64 * 1024,
            max_parts: 32,
            max_skipped_message: 0,
            max_subscriptions: 16,
            max_subscription_len: 128,
            handshake_timeout: Some(Duration::from_secs(30)),
            heartbeat_interval: None,
            heartbeat_timeout: None,
            heartbeat_ttl: Duration::ZERO,
            identity: &[],
        }
    }

    /// Output bytes beyond [`MIN_TX_BUFFER`] that READY needs for the
    /// identity: its property (13 bytes + the identity) and a long frame
    /// header (7 more).
    fn identity_room(&self) -> usize {
        match (self.role, self.identity.len()) {
            (Role::Req, len) if len > 0 => len + 20,
            _ => 0,
        }
    }

    /// The smallest receive and output buffers this config accepts.
    fn min_buffers(&self) -> (usize, usize) {
        let (rx, tx) = if self.security == Security::Null {
            (MIN_RX_BUFFER, MIN_TX_BUFFER)
        } else {
            (MIN_RX_BUFFER_CURVE, MIN_TX_BUFFER_CURVE)
        };
        (rx, tx + self.identity_room())
    }

    /// Set the `Identity` sent in READY by a REQ (at most 255 bytes; longer
    /// identities are refused with `false`).
    pub fn set_identity(&mut self, id: &'static [u8]) -> bool {
        if id.len() > MAX_IDENTITY {
            return false;
        }
        self.identity = id;
        true
    }

    /// The configured identity.
    pub fn identity(&self) -> &'static [u8] {
        self.identity
    }
}

/// One received message part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Part<'a> {
    /// The part's bytes (REQ/REP envelopes already removed).
    pub data: &'a [u8],
    /// Another part of the same message follows.
    pub more: bool,
}

/// What happened on a connection, from [`Connection::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Event<'a> {
    /// Greeting and READY exchanged; the peer announced `peer`.
    HandshakeDone {
        /// The peer's socket type.
        peer: SocketType,
    },
    /// A message part (for REQ and REP without the envelope).
    Message(Part<'a>),
    /// PUB: the peer subscribed to this prefix (3.1 command or 3.0 message).
    Subscribed(&'a [u8]),
    /// PUB: the peer cancelled this prefix.
    Unsubscribed(&'a [u8]),
    /// The peer sent ERROR with this reason; the connection is closed.
    PeerError(&'a [u8]),
    /// A message over the limits was read and dropped (see
    /// [`Config::max_skipped_message`]); it ends that message (parts that
    /// fit before the one over the limit were delivered). REP: the request's
    /// envelope is kept and a reply is owed, as for a delivered request.
    TooLarge(TooLarge),
}

/// A message dropped for its size, from [`Event::TooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TooLarge {
    /// Its length, all parts together (as far as they were read: a part over
    /// the limit is counted whole, parts after it too).
    pub size: usize,
    /// The longest message part this connection takes: its receive buffer,
    /// or [`Config::max_message_size`] if that is smaller.
    pub limit: usize,
}

/// What [`Connection::handle_input_borrowed`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Received<'a> {
    /// Input bytes consumed.
    pub consumed: usize,
    /// A part whose body was contiguous in the input, borrowed from it.
    pub part: Option<Part<'a>>,
}

/// What [`Connection::send`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Sent {
    /// Queued for [`Connection::poll_output`].
    Queued,
    /// PUB: no subscription of this peer matches the first part; dropped.
    Filtered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Greeting,
    Handshake,
    Active,
    Closed(ZmtpError),
}

/// What to do with an incoming data frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disp {
    Deliver,
    Skip,
    /// REP: routing frames up to the empty delimiter.
    Envelope,
    /// REQ: the reply's first frame must be an empty delimiter.
    ReqDelimiter,
    /// PUB: 3.0 subscription message (`\x01topic` / `\x00topic`).
    Upstream,
    /// SUB: the first part decides whether the message matches.
    SubFirst,
    /// CURVE: a MESSAGE box holding the next frame.
    #[cfg(feature = "curve")]
    Sealed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dec {
    Header,
    Body {
        len: usize,
        have: usize,
        more: bool,
        command: bool,
        disp: Disp,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    Handshake,
    Part { len: usize, more: bool },
    Sub { off: usize, len: usize },
    Unsub { off: usize, len: usize },
    PeerError { off: usize, len: usize },
    TooLarge { size: usize },
}

/// Outcome of a finished frame; offsets are relative to the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    None,
    Handshake,
    Part { more: bool },
    Sub { off: usize, len: usize },
    Unsub { off: usize, len: usize },
    PeerError { off: usize, len: usize },
    TooLarge { size: usize },
}

/// A sans-IO ZMTP 3.x connection (NULL mechanism) for one socket role.
///
/// The caller owns the transport and both buffers (`rx: R` holds one
/// incoming part or command, `tx: T` the outgoing bytes; any
/// [`Buffer`], e.g. arrays, `&mut [u8]`, a `Vec`, or with feature `alloc`
/// a `Growable`) and passes time in as `now`.
///
/// # Methods by kind
/// - getters: [`role`](Self::role), [`is_established`](Self::is_established),
///   [`error`](Self::error), [`peer_socket_type`](Self::peer_socket_type),
///   [`can_send`](Self::can_send)…
/// - input: [`handle_input`](Self::handle_input) (copies a part into `rx`),
///   [`handle_input_borrowed`](Self::handle_input_borrowed) (zero-copy: a
///   part contiguous in the input is returned borrowing it),
///   [`handle_timeout`](Self::handle_timeout).
/// - application commands: [`send`](Self::send), [`subscribe`](Self::subscribe),
///   [`unsubscribe`](Self::unsubscribe).
/// - output: [`poll_output`](Self::poll_output) (or [`output`](Self::output) +
///   [`consume_output`](Self::consume_output)), [`poll_timeout`](Self::poll_timeout),
///   [`poll_event`](Self::poll_event).
///
/// # Drain contract
/// After every `handle_*` call or application command, drain in this order:
/// 1. `poll_output` until it returns 0 (write the bytes to the transport);
/// 2. `poll_timeout` (re-arm the timer; call `handle_timeout` when it fires);
/// 3. `poll_event` until `None`.
///
/// Input stops at each event: `handle_input` returns how many bytes it
/// consumed, which is fewer than given when an event is waiting. Poll the
/// event, then call `handle_input` again with the rest. It also consumes
/// nothing while a REP owes a reply and the next frame is a request (explicit
/// back-pressure): keep those bytes and offer them again after `send`.
/// Incomplete input is never an error: partial greetings, headers and bodies
/// are kept in the connection.
///
/// Every `Err` closes the connection for good; flush `poll_output` (it may
/// hold an ERROR command) and drain `poll_event`, then drop the transport.
///
/// # Example
/// ```
/// use networkzero_core::zmtp::{Config, Connection, Event, Role};
/// use networkzero_core::Instant;
///
/// let now = Instant::ZERO;
/// let mut req = Connection::new(Config::new(Role::Req), [0u8; 512], [0u8; 512], now).unwrap();
/// let mut rep = Connection::new(Config::new(Role::Rep), [0u8; 512], [0u8; 512], now).unwrap();
/// let mut wire = [0u8; 512];
/// // A tiny in-memory "transport": move bytes both ways until quiet.
/// for _ in 0..4 {
///     let n = req.poll_output(&mut wire);
///     let mut off = 0;
///     while off < n {
///         off += rep.handle_input(&wire[off..n], now).unwrap();
///         while rep.poll_event().is_some() {}
///     }
///     let n = rep.poll_output(&mut wire);
///     let mut off = 0;
///     while off < n {
///         off += req.handle_input(&wire[off..n], now).unwrap();
///         while req.poll_event().is_some() {}
///     }
/// }
/// assert!(req.is_established() && rep.is_established());
/// req.send(&[b"hello"]).unwrap();
/// let n = req.poll_output(&mut wire);
/// let used = rep.handle_input(&wire[..n], now).unwrap();
/// assert_eq!(used, n);
/// match rep.poll_event() {
///     Some(Event::Message(part)) => assert_eq!(part.data, b"hello"),
///     other => panic!("{other:?}"),
/// }
/// ```
pub struct Connection<R, T = R, const SUBS: usize = SUBSCRIPTION_STORE> {
    rx: R,
    core: Core<T, SUBS>,
}

struct Core<B, const SUBS: usize> {
    config: Config,
    tx: B,
    tx_start: usize,
    tx_end: usize,
    state: State,
    greeting: [u8; GREETING_LEN],
    greeting_have: usize,
    peer_minor: u8,
    peer_type: Option<SocketType>,
    hdr: [u8; 9],
    hdr_have: usize,
    dec: Dec,
    msg_parts: usize,
    msg_size: usize,
    msg_mode: Disp,
    /// The message being read went over a limit and is being skipped.
    oversized: bool,
    pending: Pending,
    awaiting_reply: bool,
    must_reply: bool,
    envelope: [u8; MAX_ENVELOPE],
    envelope_len: usize,
    subs: Subscriptions<SUBS>,
    sub_flush: usize,
    created: Instant,
    last_rx: Instant,
    next_ping: Option<Instant>,
    ping_deadline: Option<Instant>,
    remote_ttl: Option<Duration>,
    #[cfg(feature = "curve")]
    curve: Option<super::curve::mechanism::Curve>,
}

impl<R: Buffer, T: Buffer> Connection<R, T> {
    /// A connection that has just been opened (either side may have dialled);
    /// queues our greeting. `rx` must hold at least [`MIN_RX_BUFFER`] bytes,
    /// `tx` at least [`MIN_TX_BUFFER`]. Its subscription store holds
    /// [`SUBSCRIPTION_STORE`] bytes of topics. A CURVE config needs
    /// [`with_seed`](Self::with_seed) instead.
    pub fn new(config: Config, rx: R, tx: T, now: Instant) -> Result<Self, ConfigError> {
        Self::with_subscription_store(config, rx, tx, now)
    }

    /// Like [`new`](Self::new), for any [`Security`]: `seed` is the
    /// connection's randomness, 32 bytes from a cryptographic RNG of the
    /// caller's (the core has no RNG, no clock and no globals), fresh for
    /// every connection and never reused. CURVE derives its transient keys
    /// and long nonces from it; NULL ignores it. CURVE buffers must hold
    /// [`MIN_RX_BUFFER_CURVE`] and [`MIN_TX_BUFFER_CURVE`] bytes.
    pub fn with_seed(
        config: Config,
        rx: R,
        tx: T,
        now: Instant,
        seed: [u8; 32],
    ) -> Result<Self, ConfigError> {
        Self::with_subscription_store_and_seed(config, rx, tx, now, seed)
    }
}

impl<R: Buffer, T: Buffer, const SUBS: usize> Connection<R, T, SUBS> {
    /// Like [`Connection::new`], with a subscription store of `SUBS` bytes
    /// (each topic takes its length + 2). REQ and REP never use it, a SUB
    /// keeps its own subscriptions there and a PUB its peer's: a small
    /// board serving a few short topics can save most of the default 1 KiB.
    pub fn with_subscription_store(
        config: Config,
        rx: R,
        tx: T,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        Self::build(config, rx, tx, now, None)
    }

    /// [`with_subscription_store`](Self::with_subscription_store) and
    /// [`with_seed`](Connection::with_seed) together.
    pub fn with_subscription_store_and_seed(
        config: Config,
        rx: R,
        tx: T,
        now: Instant,
        seed: [u8; 32],
    ) -> Result<Self, ConfigError> {
        Self::build(config, rx, tx, now, Some(seed))
    }

    fn build(
        config: Config,
        rx: R,
        tx: T,
        now: Instant,
        seed: Option<[u8; 32]>,
    ) -> Result<Self, ConfigError> {
        let (min_rx, min_tx) = config.min_buffers();
        if rx.as_ref().len() < min_rx {
            return Err(ConfigError::RxBufferTooSmall);
        }
        if tx.as_ref().len() < min_tx {
            return Err(ConfigError::TxBufferTooSmall);
        }
        #[cfg(feature = "curve")]
        let curve = sealed::mechanism_for(config.security, seed)?;
        #[cfg(not(feature = "curve"))]
        let _ = seed;
        let mut core = Core {
            config,
            tx,
            tx_start: 0,
            tx_end: 0,
            state: State::Greeting,
            greeting: [0; GREETING_LEN],
            greeting_have: 0,
            peer_minor: 0,
            peer_type: None,
            hdr: [0; 9],
            hdr_have: 0,
            dec: Dec::Header,
            msg_parts: 0,
            msg_size: 0,
            msg_mode: Disp::Skip,
            oversized: false,
            pending: Pending::None,
            awaiting_reply: false,
            must_reply: false,
            envelope: [0; MAX_ENVELOPE],
            envelope_len: 0,
            subs: Subscriptions::new(),
            sub_flush: 0,
            created: now,
            last_rx: now,
            next_ping: None,
            ping_deadline: None,
            remote_ttl: None,
            #[cfg(feature = "curve")]
            curve,
        };
        let security = core.config.security;
        let repr = GreetingRepr {
            major: 3,
            minor: 1,
            mechanism: security.mechanism(),
            as_server: security.as_server(),
        };
        if let Some(dst) = core.tx.as_mut().get_mut(..GREETING_LEN) {
            repr.emit(&mut Greeting::new_unchecked(dst));
            core.tx_end = GREETING_LEN;
        }
        Ok(Connection { rx, core })
    }

    // ---- getters -------------------------------------------------------

    /// Our role.
    pub fn role(&self) -> Role {
        self.core.config.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// Whether the handshake has finished and the connection is open.
    pub fn is_established(&self) -> bool {
        self.core.state == State::Active
    }

    /// Whether the connection has failed (see [`error`](Self::error)).
    pub fn is_closed(&self) -> bool {
        matches!(self.core.state, State::Closed(_))
    }

    /// Why the connection closed, if it did.
    pub fn error(&self) -> Option<ZmtpError> {
        match self.core.state {
            State::Closed(e) => Some(e),
            _ => None,
        }
    }

    /// The peer's socket type, once its READY arrived.
    pub fn peer_socket_type(&self) -> Option<SocketType> {
        self.core.peer_type
    }

    /// The peer's minor ZMTP version (0 or 1), once its greeting arrived.
    pub fn peer_minor_version(&self) -> Option<u8> {
        match self.core.state {
            State::Greeting => None,
            _ => Some(self.core.peer_minor),
        }
    }

    /// Whether [`send`](Self::send) would be allowed by the role right now
    /// (REQ idle, REP owing a reply, PUB established); ignores buffer space.
    pub fn can_send(&self) -> bool {
        self.core.state == State::Active
            && match self.core.config.role {
                Role::Req => !self.core.awaiting_reply,
                Role::Rep => self.core.must_reply,
                Role::Pub => true,
                Role::Sub => false,
            }
    }

    /// Distinct subscriptions held (the peer's on PUB, ours on SUB).
    pub fn subscription_count(&self) -> usize {
        self.core.subs.len()
    }

    /// Whether the subscription store holds exactly `topic`.
    pub fn is_subscribed(&self, topic: &[u8]) -> bool {
        self.core.subs.contains(topic)
    }

    /// PUB: whether a message whose first part is `first` would reach this peer.
    pub fn matches(&self, first: &[u8]) -> bool {
        self.core.subs.matches(first)
    }

    /// Whether an event is waiting (input is paused until it is polled).
    pub fn has_event(&self) -> bool {
        self.core.pending != Pending::None
    }

    /// Whether the waiting event is a message part (one that borrows `rx`):
    /// a caller can leave it waiting and handle any other event at once.
    pub fn has_message(&self) -> bool {
        matches!(self.core.pending, Pending::Part { .. })
    }

    /// Whether the waiting event is [`Event::TooLarge`].
    pub fn has_too_large(&self) -> bool {
        matches!(self.core.pending, Pending::TooLarge { .. })
    }

    // ---- input ---------------------------------------------------------

    /// Feed bytes from the transport; returns how many were consumed.
    ///
    /// Stops early when an event is waiting (see the drain contract). A
    /// message part is copied into `rx` and delivered by
    /// [`poll_event`](Self::poll_event).
    pub fn handle_input(&mut self, input: &[u8], now: Instant) -> Result<usize, ZmtpError> {
        self.process(input, now, false).map(|r| r.consumed)
    }

    /// Like [`handle_input`](Self::handle_input), but when a whole message
    /// part is contiguous in `input` it is returned borrowing `input`
    /// (no copy) instead of going through `rx` and `poll_event`. Other events
    /// still come from `poll_event`.
    pub fn handle_input_borrowed<'a>(
        &mut self,
        input: &'a [u8],
        now: Instant,
    ) -> Result<Received<'a>, ZmtpError> {
        self.process(input, now, true)
    }

    /// Let timers run: handshake timeout, PING sending, heartbeat timeouts.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ZmtpError> {
        let r = self.core.timeout(now);
        r.map_err(|e| self.core.fail(e))
    }

    // ---- application commands ------------------------------------------

    /// Queue one whole message (all parts at once, so a full buffer never
    /// leaves half a message behind). REQ adds the empty delimiter, REP puts
    /// back the request's envelope, PUB drops a message no subscription of
    /// this peer matches.
    pub fn send(&mut self, parts: &[&[u8]]) -> Result<Sent, SendError> {
        self.core.send(parts)
    }

    /// SUB: subscribe to a prefix (`b""` is everything). Sent now if
    /// established, or right after the handshake.
    pub fn subscribe(&mut self, topic: &[u8]) -> Result<(), SendError> {
        self.core.subscribe(topic)
    }

    /// SUB: drop one reference to a prefix; the CANCEL goes out when the last
    /// reference is gone.
    pub fn unsubscribe(&mut self, topic: &[u8]) -> Result<(), SendError> {
        self.core.unsubscribe(topic)
    }

    // ---- output --------------------------------------------------------

    /// Copy pending output into `buf`; returns the number of bytes.
    #[must_use]
    pub fn poll_output(&mut self, buf: &mut [u8]) -> usize {
        let out = self.output();
        let n = out.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), out.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.consume_output(n);
        n
    }

    /// The pending output, to write without copying; follow with
    /// [`consume_output`](Self::consume_output).
    #[must_use]
    pub fn output(&self) -> &[u8] {
        self.core
            .tx
            .as_ref()
            .get(self.core.tx_start..self.core.tx_end)
            .unwrap_or(&[])
    }

    /// Mark `n` bytes of [`output`](Self::output) as written.
    pub fn consume_output(&mut self, n: usize) {
        let c = &mut self.core;
        c.tx_start = c.tx_start.saturating_add(n).min(c.tx_end);
        if c.tx_start == c.tx_end {
            c.tx_start = 0;
            c.tx_end = 0;
        }
        c.flush_subs();
    }

    /// Whether output is pending.
    #[must_use]
    pub fn has_output(&self) -> bool {
        self.core.tx_end > self.core.tx_start
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        let p = mem::replace(&mut self.core.pending, Pending::None);
        let rx = self.rx.as_ref();
        let slice = |off: usize, len: usize| rx.get(off..off.saturating_add(len));
        match p {
            Pending::None => None,
            Pending::Handshake => self
                .core
                .peer_type
                .map(|peer| Event::HandshakeDone { peer }),
            Pending::Part { len, more } => {
                slice(0, len).map(|data| Event::Message(Part { data, more }))
            }
            Pending::Sub { off, len } => slice(off, len).map(Event::Subscribed),
            Pending::Unsub { off, len } => slice(off, len).map(Event::Unsubscribed),
            Pending::PeerError { off, len } => slice(off, len).map(Event::PeerError),
            Pending::TooLarge { size } => Some(Event::TooLarge(TooLarge {
                size,
                limit: self.rx.limit().min(self.core.config.max_message_size),
            })),
        }
    }

    // ---- internals -----------------------------------------------------

    fn process<'a>(
        &mut self,
        input: &'a [u8],
        now: Instant,
        borrow: bool,
    ) -> Result<Received<'a>, ZmtpError> {
        if let State::Closed(e) = self.core.state {
            return Err(e);
        }
        let mut pos = 0usize;
        let res = self.process_inner(input, now, borrow, &mut pos);
        if pos > 0 {
            self.core.last_rx = now;
            self.core.ping_deadline = None;
        }
        match res {
            Ok(part) => Ok(Received {
                consumed: pos,
                part,
            }),
            Err(e) => Err(self.core.fail(e)),
        }
    }

    fn process_inner<'a>(
        &mut self,
        input: &'a [u8],
        now: Instant,
        borrow: bool,
        pos: &mut usize,
    ) -> Result<Option<Part<'a>>, ZmtpError> {
        let rx_cap = self.rx.limit();
        // Each iteration consumes input or finishes a frame; bound it anyway.
        let mut guard = input.len().saturating_mul(2).saturating_add(4);
        loop {
            guard = guard.checked_sub(1).ok_or(ZmtpError::UnexpectedFrame)?;
            if self.core.pending != Pending::None {
                return Ok(None);
            }
            let rest = input.get(*pos..).unwrap_or(&[]);
            let body_done = matches!(self.core.dec, Dec::Body { len, have, .. } if len == have);
            if rest.is_empty() && !body_done {
                return Ok(None);
            }
            match self.core.state {
                State::Closed(e) => return Err(e),
                State::Greeting => *pos += self.core.greeting_input(rest)?,
                State::Handshake | State::Active => match self.core.dec {
                    Dec::Header => {
                        if self.core.hdr_have == 0
                            && self.core.rep_blocked()
                            && rest.first().is_some_and(|f| f & FLAG_COMMAND == 0)
                        {
                            return Ok(None);
                        }
                        let (n, header) = self.core.header_input(rest)?;
                        *pos += n;
                        if let Some((flags, len)) = header {
                            self.core.begin_frame(flags, len, rx_cap)?;
                        }
                    }
                    Dec::Body {
                        len,
                        have,
                        more,
                        command,
                        disp,
                    } => {
                        if have == 0
                            && borrow
                            && !command
                            && matches!(disp, Disp::Deliver | Disp::SubFirst)
                        {
                            if let Some(body) = rest.get(..len) {
                                *pos += len;
                                self.core.dec = Dec::Header;
                                match self.core.finish_frame(body, more, command, disp, now)? {
                                    Outcome::Part { more } => {
                                        return Ok(Some(Part { data: body, more }))
                                    }
                                    _ => continue,
                                }
                            }
                        }
                        let n = (len - have).min(rest.len());
                        if have == 0 && (command || disp != Disp::Skip) && !self.rx.reserve(len) {
                            return Err(ZmtpError::MessageTooLarge);
                        }
                        if command || disp != Disp::Skip {
                            let src = rest.get(..n).unwrap_or(&[]);
                            if let Some(dst) = self.rx.as_mut().get_mut(have..have + n) {
                                dst.copy_from_slice(src);
                            }
                        }
                        *pos += n;
                        let have = have + n;
                        if have < len {
                            self.core.dec = Dec::Body {
                                len,
                                have,
                                more,
                                command,
                                disp,
                            };
                            continue;
                        }
                        self.core.dec = Dec::Header;
                        #[cfg(feature = "curve")]
                        let (len, more, command, disp) = match disp {
                            Disp::Sealed => self.core.open_sealed(self.rx.as_mut(), len, rx_cap)?,
                            _ => (len, more, command, disp),
                        };
                        #[cfg(feature = "curve")]
                        if command && self.core.curve_handshaking() {
                            let body = self.rx.as_mut().get_mut(..len).unwrap_or(&mut []);
                            let out = self.core.curve_handshake(body, now)?;
                            self.core.pending = self.core.pending_of(out, len)?;
                            continue;
                        }
                        let body = if command || disp != Disp::Skip {
                            self.rx.as_ref().get(..len).unwrap_or(&[])
                        } else {
                            &[]
                        };
                        let out = self.core.finish_frame(body, more, command, disp, now)?;
                        self.core.pending = self.core.pending_of(out, len)?;
                    }
                },
            }
        }
    }
}

impl<B: Buffer, const SUBS: usize> Core<B, SUBS> {
    /// What a finished frame of `len` bytes leaves for `poll_event` (a
    /// peer's ERROR is also the connection's end).
    fn pending_of(&mut self, out: Outcome, len: usize) -> Result<Pending, ZmtpError> {
        Ok(match out {
            Outcome::None => Pending::None,
            Outcome::Handshake => Pending::Handshake,
            Outcome::Part { more } => Pending::Part { len, more },
            Outcome::Sub { off, len } => Pending::Sub { off, len },
            Outcome::Unsub { off, len } => Pending::Unsub { off, len },
            Outcome::TooLarge { size } => Pending::TooLarge { size },
            Outcome::PeerError { off, len } => {
                self.pending = Pending::PeerError { off, len };
                return Err(ZmtpError::PeerError);
            }
        })
    }

    fn fail(&mut self, e: ZmtpError) -> ZmtpError {
        match self.state {
            State::Closed(first) => first,
            _ => {
                self.state = State::Closed(e);
                e
            }
        }
    }

    fn rep_blocked(&self) -> bool {
        self.config.role == Role::Rep && self.must_reply && self.msg_parts == 0
    }

    fn greeting_input(&mut self, rest: &[u8]) -> Result<usize, ZmtpError> {
        let have = self.greeting_have;
        let n = (GREETING_LEN - have).min(rest.len());
        if let (Some(dst), Some(src)) = (self.greeting.get_mut(have..have + n), rest.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.greeting_have = have + n;
        let have = self.greeting_have;
        let repr = {
            let g = Greeting::new_unchecked(&self.greeting[..]);
            // Fail fast on garbage (an HTTP client, a port scanner).
            if have >= 1 && self.greeting[0] != 0xFF {
                return Err(ZmtpError::BadSignature);
            }
            if have >= 10 && !g.signature_ok() {
                return Err(ZmtpError::BadSignature);
            }
            if have >= 11 && g.major() < 3 {
                return Err(ZmtpError::UnsupportedVersion);
            }
            if have < GREETING_LEN {
                return Ok(n);
            }
            GreetingRepr::parse(&g)?
        };
        if repr.mechanism != self.config.security.mechanism() {
            return Err(ZmtpError::MechanismMismatch);
        }
        self.peer_minor = if repr.major > 3 { 1 } else { repr.minor.min(1) };
        self.state = State::Handshake;
        #[cfg(feature = "curve")]
        if self.curve.is_some() {
            return self.curve_greeting(repr.as_server).map(|()| n);
        }
        self.queue_ready();
        Ok(n)
    }

    fn queue_ready(&mut self) {
        let mut props = [0u8; READY_PROPERTIES];
        let n = self.ready_properties(&mut props);
        let Ok(p) = Properties::parse(props.get(..n).unwrap_or(&[])) else {
            return;
        };
        self.push_command(&Command::Ready(p));
    }

    /// Our metadata (READY, or CURVE's INITIATE and READY) into `out`;
    /// returns its length.
    fn ready_properties(&self, out: &mut [u8; READY_PROPERTIES]) -> usize {
        let role = self.config.role;
        let st = role.socket_type().name().as_bytes();
        let id = self.config.identity;
        let list: &[(&[u8], &[u8])] = if role == Role::Req {
            &[(b"Socket-Type", st), (b"Identity", id)]
        } else {
            &[(b"Socket-Type", st)]
        };
        Properties::encode(out, list).unwrap_or(0)
    }

    /// Queue a command frame, using the control reserve; false if no room.
    fn push_command(&mut self, cmd: &Command<'_>) -> bool {
        let mut body = [0u8; 320];
        match cmd.emit(&mut body) {
            Ok(n) => self.push_frame(false, true, &[body.get(..n).unwrap_or(&[])], 0),
            Err(_) => false,
        }
    }

    /// Make room for `n` bytes plus `reserve` at the end of `tx` (moving
    /// pending output to the front, or growing a growable buffer).
    fn tx_room(&mut self, n: usize, reserve: usize) -> bool {
        let cap = self.tx.as_ref().len();
        let need = n.saturating_add(reserve);
        if cap - self.tx_end >= need {
            return true;
        }
        let pending = self.tx_end - self.tx_start;
        // Room once the pending output moves to the front (a growable buffer grows
        // for it; one that already holds it says so without growing).
        if !self.tx.reserve(pending.saturating_add(need)) {
            return false;
        }
        self.tx.as_mut().copy_within(self.tx_start..self.tx_end, 0);
        self.tx_end = pending;
        self.tx_start = 0;
        true
    }

    /// Queue one frame whose body is the concatenation of `pieces` (in a
    /// MESSAGE box once a CURVE handshake is done).
    fn push_frame(&mut self, more: bool, command: bool, pieces: &[&[u8]], reserve: usize) -> bool {
        #[cfg(feature = "curve")]
        if self.sealing() {
            return self.push_sealed(more, command, pieces, reserve);
        }
        let body_len: usize = pieces.iter().map(|p| p.len()).sum();
        let total = frame_len(body_len);
        if !self.tx_room(total, reserve) {
            return false;
        }
        let Some(dst) = self.tx.as_mut().get_mut(self.tx_end..self.tx_end + total) else {
            return false;
        };
        let h = FrameHeaderRepr {
            more,
            command,
            body_len: body_len as u64,
        };
        let hl = h.buffer_len();
        let (hdr, mut body) = dst.split_at_mut(hl);
        h.emit(&mut FrameHeader::new_unchecked(hdr));
        for p in pieces {
            let (d, r) = body.split_at_mut(p.len().min(body.len()));
            d.copy_from_slice(p.get(..d.len()).unwrap_or(&[]));
            body = r;
        }
        self.tx_end += total;
        true
    }

    fn header_input(&mut self, rest: &[u8]) -> Result<(usize, Option<(u8, u64)>), ZmtpError> {
        if self.hdr_have == 0 {
            // Fast path: the whole header is in the input.
            let h = FrameHeader::new_unchecked(rest);
            if h.check_len().is_ok() {
                let repr = FrameHeaderRepr::parse(&h)?;
                return Ok((h.header_len(), Some((h.flags(), repr.body_len))));
            }
        }
        let mut used = 0;
        loop {
            let need = if self.hdr_have == 0 {
                1
            } else if self.hdr[0] & FLAG_LONG != 0 {
                9
            } else {
                2
            };
            if self.hdr_have >= need {
                self.hdr_have = 0;
                let h = FrameHeader::new_unchecked(&self.hdr[..]);
                return Ok((used, Some((h.flags(), h.body_len()))));
            }
            let Some(&b) = rest.get(used) else {
                return Ok((used, None));
            };
            if self.hdr_have == 0 && b & FLAGS_RESERVED != 0 {
                return Err(ZmtpError::ReservedFlags);
            }
            if let Some(slot) = self.hdr.get_mut(self.hdr_have) {
                *slot = b;
            }
            self.hdr_have += 1;
            used += 1;
        }
    }

    /// Check a new frame against every limit before anything is reserved.
    /// A data frame over a limit is skipped (without being stored) if the
    /// message may be skipped (see [`Config::max_skipped_message`]).
    fn begin_frame(&mut self, flags: u8, len: u64, rx_cap: usize) -> Result<(), ZmtpError> {
        #[cfg(feature = "curve")]
        if self.sealing() {
            return self.begin_sealed(flags, len, rx_cap);
        }
        self.begin_plain(flags, len, rx_cap)
    }

    /// [`begin_frame`](Self::begin_frame) for a frame as it is (not sealed).
    fn begin_plain(&mut self, flags: u8, len: u64, rx_cap: usize) -> Result<(), ZmtpError> {
        let more = flags & FLAG_MORE != 0;
        let command = flags & FLAG_COMMAND != 0;
        if command {
            if len > rx_cap as u64 {
                return Err(ZmtpError::MessageTooLarge);
            }
            if more {
                return Err(ZmtpError::MalformedCommand);
            }
            self.dec = Dec::Body {
                // len <= rx_cap, a usize.
                len: len as usize,
                have: 0,
                more,
                command,
                disp: Disp::Skip,
            };
            return Ok(());
        }
        if self.state != State::Active {
            return Err(ZmtpError::UnexpectedFrame);
        }
        let size = (self.msg_size as u64).saturating_add(len);
        if self.msg_parts >= self.config.max_parts {
            return Err(ZmtpError::TooManyParts);
        }
        // A REP's envelope is the request's: it starts empty with each request
        // (the one place it is emptied, whether the last was answered or dropped).
        if self.msg_parts == 0 && self.config.role == Role::Rep {
            self.envelope_len = 0;
        }
        let mut disp = if self.msg_parts == 0 {
            match self.config.role {
                Role::Req if self.awaiting_reply => Disp::ReqDelimiter,
                Role::Req => Disp::Skip,
                Role::Rep => Disp::Envelope,
                Role::Pub => Disp::Upstream,
                Role::Sub => Disp::SubFirst,
            }
        } else {
            self.msg_mode
        };
        let over = len > rx_cap as u64 || size > self.config.max_message_size as u64;
        if over || self.oversized {
            // Only what would be delivered (or dropped anyway) is skipped:
            // an envelope or subscription we cannot store ends the connection.
            let skippable = matches!(disp, Disp::Deliver | Disp::SubFirst | Disp::Skip);
            if !skippable || size > self.config.max_skipped_message as u64 {
                return Err(ZmtpError::MessageTooLarge);
            }
            if disp != Disp::Skip {
                self.oversized = true;
            }
            disp = Disp::Skip;
            self.msg_mode = Disp::Skip;
        }
        self.msg_parts += 1;
        // size is at most max_message_size or max_skipped_message, usizes.
        self.msg_size = size as usize;
        self.dec = Dec::Body {
            len: len as usize,
            have: 0,
            more,
            command,
            disp,
        };
        Ok(())
    }

    fn finish_frame(
        &mut self,
        body: &[u8],
        more: bool,
        command: bool,
        disp: Disp,
        now: Instant,
    ) -> Result<Outcome, ZmtpError> {
        if command {
            return self.finish_command(body, now);
        }
        let out = match disp {
            Disp::Deliver => Outcome::Part { more },
            Disp::Skip => Outcome::None,
            Disp::ReqDelimiter => {
                self.msg_mode = if body.is_empty() && more {
                    Disp::Deliver
                } else {
                    Disp::Skip
                };
                Outcome::None
            }
            Disp::Envelope => {
                let h = FrameHeaderRepr {
                    more,
                    command: false,
                    body_len: body.len() as u64,
                };
                let start = self.envelope_len;
                let end = start + h.buffer_len() + body.len();
                let dst = self
                    .envelope
                    .get_mut(start..end)
                    .ok_or(ZmtpError::EnvelopeTooLarge)?;
                let (hd, bd) = dst.split_at_mut(h.buffer_len());
                h.emit(&mut FrameHeader::new_unchecked(hd));
                bd.copy_from_slice(body);
                self.envelope_len = end;
                self.msg_mode = if body.is_empty() {
                    Disp::Deliver
                } else {
                    Disp::Envelope
                };
                Outcome::None
            }
            Disp::Upstream => {
                self.msg_mode = Disp::Skip;
                match body.split_first() {
                    Some((&1, topic)) => self.peer_subscribe(topic, 1)?,
                    Some((&0, topic)) => self.peer_cancel(topic, 1),
                    _ => Outcome::None,
                }
            }
            Disp::SubFirst => {
                if self.subs.matches(body) {
                    self.msg_mode = Disp::Deliver;
                    Outcome::Part { more }
                } else {
                    self.msg_mode = Disp::Skip;
                    Outcome::None
                }
            }
            // Opened (and replaced by its frame's disposition) before this.
            #[cfg(feature = "curve")]
            Disp::Sealed => return Err(ZmtpError::UnexpectedFrame),
        };
        if !more {
            let too_large = mem::take(&mut self.oversized);
            // A dropped request or reply still ends its exchange.
            let delivered = matches!(out, Outcome::Part { .. }) || too_large;
            match self.config.role {
                Role::Req if delivered => self.awaiting_reply = false,
                Role::Rep if delivered => self.must_reply = true,
                _ => {}
            }
            let size = mem::take(&mut self.msg_size);
            self.msg_parts = 0;
            if too_large {
                return Ok(Outcome::TooLarge { size });
            }
        }
        Ok(out)
    }

    fn peer_subscribe(&mut self, topic: &[u8], off: usize) -> Result<Outcome, ZmtpError> {
        if self.config.role != Role::Pub {
            return Ok(Outcome::None);
        }
        if topic.len() > self.config.max_subscription_len.min(MAX_TOPIC_LEN) {
            return Err(ZmtpError::SubscriptionTooLong);
        }
        if self.subs.contains(topic) {
            // libzmq keeps a set per peer: a repeat changes nothing.
            return Ok(Outcome::None);
        }
        match self.subs.add(topic, self.config.max_subscriptions) {
            Ok(_) => Ok(Outcome::Sub {
                off,
                len: topic.len(),
            }),
            Err(AddError::TooLong) => Err(ZmtpError::SubscriptionTooLong),
            Err(AddError::Full) => Err(ZmtpError::TooManySubscriptions),
        }
    }

    fn peer_cancel(&mut self, topic: &[u8], off: usize) -> Outcome {
        if self.config.role == Role::Pub && self.subs.remove(topic) {
            Outcome::Unsub {
                off,
                len: topic.len(),
            }
        } else {
            Outcome::None
        }
    }

    fn finish_command(&mut self, body: &[u8], now: Instant) -> Result<Outcome, ZmtpError> {
        let cmd = Command::parse(body)?;
        if let Command::Error(reason) = cmd {
            self.state = State::Closed(ZmtpError::PeerError);
            return Ok(Outcome::PeerError {
                off: 7,
                len: reason.len(),
            });
        }
        if self.state == State::Handshake {
            return match cmd {
                Command::Ready(props) => self.on_ready(props, now),
                _ => Err(ZmtpError::UnexpectedFrame),
            };
        }
        let off = body.len().saturating_sub(match cmd {
            Command::Subscribe(t) | Command::Cancel(t) => t.len(),
            _ => 0,
        });
        match cmd {
            Command::Ready(_) => Err(ZmtpError::UnexpectedFrame),
            Command::Subscribe(t) => self.peer_subscribe(t, off),
            Command::Cancel(t) => Ok(self.peer_cancel(t, off)),
            Command::Ping { ttl_ds, context } => {
                if ttl_ds > 0 {
                    self.remote_ttl = Some(Duration::from_millis(u64::from(ttl_ds) * 100));
                }
                // Best effort, like libzmq: a PONG that does not fit is dropped.
                let _ = self.push_command(&Command::Pong(context));
                Ok(Outcome::None)
            }
            _ => Ok(Outcome::None),
        }
    }

    fn on_ready(&mut self, props: Properties<'_>, now: Instant) -> Result<Outcome, ZmtpError> {
        let peer = self.check_peer(props, true)?;
        Ok(self.activate(peer, now))
    }

    /// The peer's socket type from its metadata, if ours can talk to it
    /// (else, with `tell`, an ERROR is queued for it).
    fn check_peer(&mut self, props: Properties<'_>, tell: bool) -> Result<SocketType, ZmtpError> {
        let peer = props
            .get(b"Socket-Type")
            .and_then(SocketType::from_name)
            .ok_or(ZmtpError::MissingSocketType)?;
        if !self.config.role.accepts(peer) {
            if tell {
                let _ = self.push_command(&Command::Error(b"Invalid socket type"));
            }
            return Err(ZmtpError::IncompatibleSocketType);
        }
        // Identities matter to ROUTER sockets only: checked, not kept.
        if props
            .get(b"Identity")
            .is_some_and(|id| id.len() > MAX_IDENTITY)
        {
            return Err(ZmtpError::MalformedMetadata);
        }
        Ok(peer)
    }

    /// The handshake is done: traffic may flow.
    fn activate(&mut self, peer: SocketType, now: Instant) -> Outcome {
        self.peer_type = Some(peer);
        self.state = State::Active;
        self.next_ping = self.config.heartbeat_interval.map(|ivl| now + ivl);
        self.sub_flush = 0;
        self.flush_subs();
        Outcome::Handshake
    }

    fn push_subscription(&mut self, subscribe: bool, topic: &[u8]) -> bool {
        if self.peer_minor >= 1 {
            let name: &[u8] = if subscribe {
                b"\x09SUBSCRIBE"
            } else {
                b"\x06CANCEL"
            };
            self.push_frame(false, true, &[name, topic], 0)
        } else {
            let flag: &[u8] = if subscribe { &[1] } else { &[0] };
            self.push_frame(false, false, &[flag, topic], 0)
        }
    }

    /// SUB: send subscriptions not yet sent (after the handshake or when
    /// output space frees up).
    fn flush_subs(&mut self) {
        if self.config.role != Role::Sub || self.state != State::Active {
            return;
        }
        while let Some((_, topic)) = self.subs.iter().nth(self.sub_flush) {
            let mut tmp = [0u8; MAX_TOPIC_LEN];
            let n = topic.len().min(MAX_TOPIC_LEN);
            if let (Some(d), Some(s)) = (tmp.get_mut(..n), topic.get(..n)) {
                d.copy_from_slice(s);
            }
            if !self.push_subscription(true, tmp.get(..n).unwrap_or(&[])) {
                break;
            }
            self.sub_flush += 1;
        }
    }

    fn subscribe(&mut self, topic: &[u8]) -> Result<(), SendError> {
        if self.config.role != Role::Sub {
            return Err(SendError::InvalidState);
        }
        if let State::Closed(_) = self.state {
            return Err(SendError::Closed);
        }
        if topic.len() > self.config.max_subscription_len.min(MAX_TOPIC_LEN) {
            return Err(SendError::TopicTooLong);
        }
        match self.subs.add(topic, self.config.max_subscriptions) {
            Ok(_) => {}
            Err(AddError::TooLong) => return Err(SendError::TopicTooLong),
            Err(AddError::Full) => return Err(SendError::TooManySubscriptions),
        }
        self.flush_subs();
        Ok(())
    }

    fn unsubscribe(&mut self, topic: &[u8]) -> Result<(), SendError> {
        if self.config.role != Role::Sub {
            return Err(SendError::InvalidState);
        }
        if let State::Closed(_) = self.state {
            return Err(SendError::Closed);
        }
        let Some(idx) = self.subs.iter().position(|(_, t)| t == topic) else {
            return Ok(());
        };
        let last_ref = self.subs.refs(topic) <= 1;
        let sent = self.state == State::Active && idx < self.sub_flush;
        if last_ref && sent && !self.tx_room(frame_len(topic.len() + 7), 0) {
            return Err(SendError::BufferFull);
        }
        if self.subs.remove(topic) && sent {
            self.sub_flush -= 1;
            let _ = self.push_subscription(false, topic);
        }
        Ok(())
    }

    fn send(&mut self, parts: &[&[u8]]) -> Result<Sent, SendError> {
        match self.state {
            State::Closed(_) => return Err(SendError::Closed),
            State::Active => {}
            _ => return Err(SendError::NotReady),
        }
        let Some(first) = parts.first() else {
            return Err(SendError::EmptyMessage);
        };
        let env_len = match self.config.role {
            Role::Req if self.awaiting_reply => return Err(SendError::InvalidState),
            Role::Req => 2,
            Role::Rep if !self.must_reply => return Err(SendError::InvalidState),
            Role::Rep => self.envelope_len,
            Role::Pub if !self.subs.matches(first) => return Ok(Sent::Filtered),
            Role::Pub => 0,
            Role::Sub => return Err(SendError::InvalidState),
        };
        #[cfg(feature = "curve")]
        if self.sealing() {
            return self.send_sealed(parts);
        }
        let total = parts
            .iter()
            .try_fold(env_len, |acc, p| acc.checked_add(frame_len(p.len())))
            .ok_or(SendError::TooLarge)?;
        self.message_room(total)?;
        let tx = self.tx.as_mut();
        let mut pos = self.tx_end;
        match self.config.role {
            Role::Req => {
                if let Some(d) = tx.get_mut(pos..pos + 2) {
                    d.copy_from_slice(&[FLAG_MORE, 0]);
                }
            }
            Role::Rep => {
                if let (Some(d), Some(s)) =
                    (tx.get_mut(pos..pos + env_len), self.envelope.get(..env_len))
                {
                    d.copy_from_slice(s);
                }
            }
            _ => {}
        }
        pos += env_len;
        let last = parts.len() - 1;
        for (i, p) in parts.iter().enumerate() {
            let n =
                encode_frame(tx.get_mut(pos..).unwrap_or(&mut []), i < last, false, p).unwrap_or(0);
            pos += n;
        }
        self.tx_end = pos;
        self.message_sent();
        Ok(Sent::Queued)
    }

    /// Make room for a message of `total` wire bytes, keeping the control
    /// reserve free.
    fn message_room(&mut self, total: usize) -> Result<(), SendError> {
        if total.saturating_add(CONTROL_RESERVE) > self.tx.limit() {
            return Err(SendError::TooLarge);
        }
        if !self.tx_room(total, CONTROL_RESERVE) {
            return Err(SendError::BufferFull);
        }
        Ok(())
    }

    /// The role's bookkeeping once a whole message is queued.
    fn message_sent(&mut self) {
        match self.config.role {
            Role::Req => self.awaiting_reply = true,
            Role::Rep => self.must_reply = false,
            _ => {}
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed(_) => None,
            State::Greeting | State::Handshake => {
                let handshake = self.config.handshake_timeout.map(|d| self.created + d);
                #[cfg(feature = "curve")]
                let handshake = Instant::sooner(handshake, self.curve_deadline());
                handshake
            }
            // Asked on every turn of a driver: plain comparisons (an
            // iterator over the three measured ~70 instructions a call).
            State::Active => Instant::sooner(
                Instant::sooner(self.next_ping, self.ping_deadline),
                self.remote_ttl.map(|t| self.last_rx + t),
            ),
        }
    }

    fn timeout(&mut self, now: Instant) -> Result<(), ZmtpError> {
        match self.state {
            State::Closed(e) => return Err(e),
            State::Greeting | State::Handshake => {
                if self
                    .config
                    .handshake_timeout
                    .is_some_and(|d| now >= self.created + d)
                {
                    return Err(ZmtpError::HandshakeTimeout);
                }
                // A server waiting for INITIATE past its cookie's life.
                #[cfg(feature = "curve")]
                if self.curve_deadline().is_some_and(|d| now >= d) {
                    return Err(ZmtpError::HandshakeTimeout);
                }
                return Ok(());
            }
            State::Active => {}
        }
        if self.ping_deadline.is_some_and(|d| now >= d)
            || self.remote_ttl.is_some_and(|t| now >= self.last_rx + t)
        {
            return Err(ZmtpError::HeartbeatTimeout);
        }
        if let (Some(at), Some(ivl)) = (self.next_ping, self.config.heartbeat_interval) {
            if now >= at {
                let ttl_ds =
                    u16::try_from(self.config.heartbeat_ttl.as_millis() / 100).unwrap_or(u16::MAX);
                let _ = self.push_command(&Command::Ping {
                    ttl_ds,
                    context: &[],
                });
                self.next_ping = Some(now + ivl);
                if self.ping_deadline.is_none() {
                    self.ping_deadline = Some(now + self.config.heartbeat_timeout.unwrap_or(ivl));
                }
            }
        }
        Ok(())
    }
}
