//! How bytes travel: ZeroMQ's wire protocol (ZMTP) through one of two
//! transports, each a [`Transport`] with its [`TransportSocket`]s.
//!
//! - [`libzmq`] (the default `libzmq` feature): sockets of the C++ libzmq;
//!   with a class key, the core's engine instead ([`routed`]: the vendored
//!   libzmq has no CurveZMQ).
//! - [`pure`] (feature `pure-rust`): the core's sans-IO ZMTP engine over mio,
//!   one background I/O thread, no C or C++ compiler.
//!
//! Both do the same steps (open, request, receive, reply, publish,
//! subscribe, flush) with the same limits; the message calls above
//! ([`crate::messaging`]) are written once against these traits. This layer
//! knows nothing of JSON, discovery or the runtime.

#[cfg(all(feature = "libzmq", not(feature = "pure-rust")))]
pub(crate) mod libzmq;
pub(crate) mod pure;
pub(crate) mod refusal;
#[cfg(all(feature = "libzmq", not(feature = "pure-rust")))]
pub(crate) mod routed;
mod spare;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use networkzero_core::zmtp::curve::ClassKeys;

use crate::address::Address;
use crate::error::Result;
use crate::wait::Wait;

/// The transport in use: `pure-rust` wins when both features are on.
/// Keyed sockets go to the core's engine, which has CURVE ([`routed`]).
#[cfg(all(feature = "libzmq", not(feature = "pure-rust")))]
pub(crate) type Socket = routed::Socket;
/// The transport in use: `pure-rust` wins when both features are on.
#[cfg(feature = "pure-rust")]
pub(crate) type Socket = pure::Socket;

/// The running transport whose sockets are [`Socket`]s.
pub(crate) type Running = <Socket as TransportSocket>::Transport;

/// Largest message we accept from the network, 16 MiB (libzmq's default is
/// unlimited): a peer cannot make us allocate without bound.
pub const MAX_MESSAGE: i64 = 16 * 1024 * 1024;

/// News items queued per subscriber before the newest are dropped (libzmq's
/// high-water mark): a slow subscriber cannot grow the publisher's memory.
pub const NEWS_HIGH_WATER_MARK: i32 = 1000;

/// How a socket uses an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    Request,
    Reply,
    Publish,
    Subscribe,
}

impl Role {
    /// What the role is for, in a beginner's words.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Role::Request => "to send messages",
            Role::Reply => "to wait for messages",
            Role::Publish => "to publish news",
            Role::Subscribe => "to wait for news",
        }
    }

    /// REP and PUB listen; REQ and SUB connect.
    pub(crate) fn binds(self) -> bool {
        matches!(self, Role::Reply | Role::Publish)
    }
}

/// Where a socket listens or connects. A listener may come with the socket
/// already listening on that port (`crate::ports::HeldPorts`: the program
/// advertised it), which the transport takes over instead of binding anew.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) at: SocketAddr,
    pub(crate) held: Option<std::net::TcpListener>,
}

impl From<SocketAddr> for Endpoint {
    fn from(at: SocketAddr) -> Endpoint {
        Endpoint { at, held: None }
    }
}

/// A deadline read from the clock only when a call has to wait: taking what
/// is already queued costs no clock reading (libzmq's SUB takes what is
/// queued first, while [`Deadline::is_unread`], and reads the clock only
/// when it has to wait; its REQ reads it once per request). On a virtual
/// machine a clock reading (its `rdtscp`) measured 35–40 ns, a tenth of
/// receiving a news item, so a call reads it at most once, and converts its
/// wait's seconds once.
pub(crate) struct Deadline {
    /// The wait (`None`: for ever).
    wait: Option<Duration>,
    at: Option<Option<Instant>>,
}

impl Deadline {
    pub(crate) fn new(wait: Wait) -> Deadline {
        Deadline::within(wait.duration().ok().flatten())
    }

    /// A wait's deadline from its duration (`None`: for ever), as
    /// [`Wait::checked_with_duration`] gives it.
    pub(crate) fn within(wait: Option<Duration>) -> Deadline {
        Deadline { wait, at: None }
    }

    /// The deadline (`None`: wait for ever), counted from the first call.
    pub(crate) fn get(&mut self) -> Option<Instant> {
        let wait = self.wait;
        *self
            .at
            .get_or_insert_with(|| wait.and_then(|d| Instant::now().checked_add(d)))
    }

    /// Whether the clock has not been read for the deadline yet: a
    /// receive that takes what is queued needs no deadline.
    #[cfg(all(feature = "libzmq", not(feature = "pure-rust")))]
    pub(crate) fn is_unread(&self) -> bool {
        self.at.is_none()
    }

    /// The time left (`None`: for ever). The first call counts the deadline
    /// from now and gives the whole wait, from that one clock reading.
    /// (libzmq's receive timeout; the pure transport waits for a deadline.)
    #[cfg(all(feature = "libzmq", not(feature = "pure-rust")))]
    pub(crate) fn left(&mut self) -> Option<Duration> {
        match self.at {
            Some(at) => crate::wait::remaining(at),
            None => {
                self.get();
                self.wait
            }
        }
    }
}

/// One received message: its frames, and who sent it (for a REP's reply).
pub(crate) struct Received<P> {
    pub(crate) parts: Vec<Vec<u8>>,
    pub(crate) from: P,
}

impl<P> Received<P> {
    /// The first frame (networkzero sends one per request and reply).
    pub(crate) fn first(&self) -> &[u8] {
        self.parts.first().map_or(&[][..], Vec::as_slice)
    }
}

/// A publish socket's subscribers, as far as the transport has seen them:
/// what the first news item on an address waits for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Subscribers {
    /// Connections accepted that have not subscribed yet.
    pub(crate) joining: usize,
    /// Connections that have subscribed (libzmq, which does not show a
    /// PUB's subscriptions: that have finished their handshake).
    pub(crate) joined: usize,
}

impl Subscribers {
    /// Whether a new publisher's first item can go as far as its
    /// connections tell: one subscriber has subscribed and no other
    /// accepted connection is still joining (it would miss the item). The
    /// message calls also wait until every subscriber already retrying has
    /// had time to come (`messaging::FIRST_NEWS_JOIN`); with no subscriber
    /// at all the first item waits for its deadline instead.
    pub(crate) fn ready_for_news(self) -> bool {
        self.joined > 0 && self.joining == 0
    }
}

/// A started transport: what its sockets share (libzmq's context, the pure
/// transport's I/O thread). Owned by the runtime, which starts it on first
/// use and starts a new one if it stops.
pub(crate) trait Transport: Send + Sync + Sized + 'static {
    /// Starts the transport (its threads, its context).
    fn start() -> Result<Self>;
    /// Whether it still works (a background thread that died does not).
    fn is_running(&self) -> bool;
}

/// What a transport's socket does for the message calls. `address` is the
/// beginner's, for error messages.
pub(crate) trait TransportSocket: Sized + Send + 'static {
    /// Who a REP reply goes to (libzmq's REP tracks it itself: `()`).
    type Peer: Copy + Send + 'static;
    /// The transport these sockets belong to.
    type Transport: Transport;

    /// Listens (REP, PUB) on `endpoint` (with its held listener, if it has
    /// one) or connects (REQ, SUB) to it, taking messages of up to
    /// `max_message` bytes. With a class's keys every
    /// connection is CURVE (listening: as the server, connecting: as the
    /// client); without, NULL (what Python networkzero speaks).
    fn open(
        transport: &Self::Transport,
        role: Role,
        endpoint: Endpoint,
        max_message: usize,
        address: Address,
        class: Option<&'static ClassKeys>,
    ) -> Result<Self>;
    /// REQ: sends a request, waiting until the deadline for a peer to take
    /// it; false if none did (a peer that refused the handshake leaves none).
    fn request(
        &mut self,
        payload: Vec<u8>,
        deadline: &mut Deadline,
        address: Address,
    ) -> Result<bool>;
    /// The next message, waiting until the deadline; `None` on timeout.
    fn receive(
        &mut self,
        deadline: &mut Deadline,
        address: Address,
    ) -> Result<Option<Received<Self::Peer>>>;
    /// Takes back a received message's parts once they are read: both
    /// transports copy the next messages' parts into them (`spare.rs`).
    fn recycle(&mut self, parts: Vec<Vec<u8>>);
    /// A buffer to write the next payload into (it may hold old bytes).
    /// A transport that copies what it sends keeps sent payloads for this
    /// (the pure one, every payload; libzmq, requests and news: it takes a
    /// reply without a copy and frees it itself).
    fn buffer(&mut self) -> Vec<u8> {
        Vec::new()
    }
    /// REP: answers the message that came from `to`.
    fn reply(&mut self, to: Self::Peer, payload: Vec<u8>, address: Address) -> Result<()>;
    /// PUB: sends `[topic, payload]` to every subscriber whose prefix
    /// matches; `n` counts this socket's items from 1.
    fn publish(&mut self, n: u64, topic: &str, payload: Vec<u8>, address: Address) -> Result<()>;
    /// SUB: subscribes to a prefix.
    fn subscribe(&mut self, prefix: &[u8], address: Address) -> Result<()>;
    /// PUB: its subscribers once they differ from `seen`, or at `deadline`.
    fn subscribers(&mut self, seen: Subscribers, deadline: Instant) -> Subscribers;
    /// Hands what `sockets` queued to the network and closes them, waiting
    /// at most until `deadline`: the flush at exit.
    fn flush_and_close(transport: &Self::Transport, sockets: Vec<Self>, deadline: Instant);
}

#[cfg(all(test, feature = "libzmq", not(feature = "pure-rust")))]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_gives_the_whole_wait_first_then_what_is_left() {
        let mut d = Deadline::new(Wait::from(5));
        assert_eq!(d.left(), Some(Duration::from_secs(5)));
        let at = d.get().expect("a 5 s wait has an end");
        assert!(at > Instant::now() + Duration::from_secs(4));
        assert!(d.left().is_some_and(|left| left <= Duration::from_secs(5)));
        assert_eq!(d.get(), Some(at), "counted once");
        let mut forever = Deadline::new(Wait::Forever);
        assert_eq!((forever.left(), forever.get()), (None, None));
        let mut none = Deadline::new(Wait::from(-1));
        assert_eq!(none.left(), Some(Duration::ZERO));
        assert_eq!(none.left(), Some(Duration::ZERO));
    }

    /// The first news item goes once every connection that has come has
    /// subscribed, and not before one has: a subscriber still joining would
    /// miss it, and with none yet the item would go to nobody.
    #[test]
    fn the_first_news_waits_for_every_joining_subscriber() {
        let ready = |joining, joined| Subscribers { joining, joined }.ready_for_news();
        assert!(!ready(0, 0), "nobody has subscribed yet");
        assert!(!ready(1, 0), "one is still joining");
        assert!(ready(0, 1));
        assert!(ready(0, 2));
        assert!(!ready(1, 1), "a second is still joining");
        assert!(!ready(2, 3));
    }
}
