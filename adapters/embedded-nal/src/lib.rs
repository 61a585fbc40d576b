//! networkzero over any [`embedded_nal`] 0.9 stack: discovery, request/reply
//! and news for firmware with no `std`, no heap and no async.
//!
//! A [`Node`] owns a discovery [`Beacon`] and a fixed number of ZMTP
//! connections, and moves datagrams and bytes between them and the UDP and
//! TCP sockets of a stack implementing [`UdpFullStack`] and [`TcpFullStack`]
//! (a Wi-Fi modem driver, a W5500 driver, `std-embedded-nal` on a PC…). The
//! node holds the sockets; you keep the stack and lend it to every call that
//! does I/O. You call it from a plain loop:
//!
//! ```no_run
//! # use networkzero_embedded_nal::*;
//! # fn clock() -> Instant { Instant::ZERO }
//! # fn run<S: Stack>(stack: &mut S) -> Result<(), Error> {
//! let mut node: Node<S, 4> = Node::new(stack, Config::default())?;
//! let now = clock();
//! node.set_interface("192.168.1.20".parse().unwrap(), 24, now); // from your DHCP
//! node.serve("robot", 5555, 2, now)?;          // REP on TCP 5555, two peers at once
//! loop {
//!     let now = clock();
//!     node.poll(stack, now);
//!     while let Some(event) = node.poll_event() {
//!         if let Event::Request { request, .. } = event {
//!             node.reply(request, br#""ack""#)?;
//!         }
//!     }
//!     // sleep until node.poll_at(now) or an interrupt from the stack
//!     # break;
//! }
//! # Ok(()) }
//! ```
//!
//! # The drain contract
//! After [`Node::poll`], drain [`Node::poll_event`] until `None`, act on the
//! events (replies, news, requests are queued at once and sent on the next
//! poll), then sleep until [`Node::poll_at`]. A message event stays in its
//! connection until polled: a node whose events are not drained stops
//! reading from that peer (TCP flow control), nothing is lost or copied.
//!
//! embedded-nal has no readiness notification, so the node cannot know when
//! a datagram or bytes arrive: [`Node::poll_at`] is never later than
//! [`Config::poll_interval`] after `now`. Call [`Node::poll`] sooner when
//! your stack signals activity (an interrupt line, a modem URC).
//!
//! # What the stack must support
//! - UDP: [`UdpFullStack::bind`] to the fixed ports 9999 (the Python
//!   networkzero beacon), 9997 (extension: queries, answers, goodbyes) and
//!   [`Config::query_port`], and [`UdpFullStack::send_to`] to the limited
//!   broadcast 255.255.255.255 and to the directed broadcast of the
//!   interface (e.g. 192.168.1.255). On a BSD-socket stack that means
//!   `SO_BROADCAST` on every UDP socket; to share port 9999 with other
//!   networkzero programs on the same host (std only), `SO_REUSEADDR`.
//!   Received datagrams must report the sender's address (IPv4, or
//!   IPv4-mapped IPv6: both are accepted).
//! - TCP: [`TcpClientStack::connect`] may return `WouldBlock` until the
//!   connection is up (it is called again on each poll, up to
//!   [`CONNECT_TIMEOUT`]); after [`TcpFullStack::bind`] and
//!   [`TcpFullStack::listen`], [`TcpFullStack::accept`] must hand out a new
//!   socket per accepted connection, leaving the listening socket listening.
//!   [`TcpClientStack::receive`] must return `WouldBlock` when no byte is
//!   buffered and `Ok(0)` or an error once the peer has closed.
//! - Sockets: 3 UDP sockets, one listening TCP socket per service (see
//!   [`Node::serve`]) and up to `SLOTS` connected TCP sockets. A W5500 has 8
//!   hardware sockets in all: e.g. `SLOTS = 3` with one service.
//! - Nothing about interfaces: tell the node its IPv4 address with
//!   [`Node::set_interface`] (or [`Node::set_interfaces`]) once the stack
//!   has one, and whenever it changes. Until then names are advertised at
//!   `127.0.0.1` only.
//!
//! # Where datagrams go
//! Adverts go out of the socket bound to 9999, our own discovery queries out
//! of the socket bound to [`Config::query_port`] (answers come back to it),
//! answers and goodbyes out of the one bound to 9997. Datagrams the beacon
//! addresses to 127.255.255.255 are dropped unless [`Config::loopback`] is
//! set (a stack with a loopback interface, e.g. std).
//!
//! # Messages
//! Payloads are bytes as they travel: networkzero peers send JSON text
//! (`"hello"` with the quotes, `{"x": 1}`), news is two parts, topic then
//! JSON data. Use `networkzero_core::payload` to encode and decode.
//!
//! # Panics
//! None from network input.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

use core::mem;
use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use embedded_nal::nb;
use embedded_nal::{TcpClientStack, TcpFullStack, UdpClientStack, UdpFullStack};
use networkzero_core::advert::Name;
use networkzero_core::beacon::{self, Beacon, Kind, MAX_INTERFACES, MAX_TRANSMIT};
use networkzero_core::zmtp::{self, Connection, Role};

pub use networkzero_core::beacon::AdvertiseError;
pub use networkzero_core::zmtp::SendError;
pub use networkzero_core::{Duration, Instant};

/// A network stack the node can run on: UDP and TCP, client and server.
/// Implemented for every type that implements both embedded-nal traits.
pub trait Stack: UdpFullStack + TcpFullStack {}

impl<T: UdpFullStack + TcpFullStack + ?Sized> Stack for T {}

/// Services (served or published names) a node can hold.
pub const MAX_SERVICES: usize = 4;
/// Outgoing connections (requesters, subscribers) a node can hold.
pub const MAX_CLIENTS: usize = 4;
/// Longest news topic a subscriber keeps (longer ones are skipped).
pub const MAX_TOPIC: usize = 64;
/// Events (discovery, connections) queued before the oldest is dropped.
pub const EVENT_QUEUE: usize = 8;
/// Bytes read from a TCP socket at once per connection (kept until the
/// ZMTP connection takes them).
pub const INPUT_CHUNK: usize = 256;
/// How long an outgoing TCP connect may stay `WouldBlock` before it is
/// abandoned and retried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Wait before reconnecting a requester or subscriber (libzmq: 100 ms).
const RECONNECT: Duration = Duration::from_millis(500);
/// Wait before binding a service's listening socket again after a failure.
const RELISTEN: Duration = Duration::from_secs(1);
/// Datagrams read per UDP socket per poll, at most.
const UDP_READS: usize = 16;
/// Datagrams sent per poll, at most.
const UDP_SENDS: usize = 64;

/// Node settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Discovery settings (ports, rates); the defaults match Python networkzero.
    pub beacon: beacon::Config,
    /// UDP port our discovery queries go out of (answers come back to it).
    /// Give each node on a host its own; any free port works.
    pub query_port: u16,
    /// Send the datagrams the beacon addresses to 127.255.255.255 (other
    /// networkzero programs on this host hear them). Only for stacks with a
    /// loopback interface (std); default `false`.
    pub loopback: bool,
    /// Longest [`Node::poll_at`] waits: the stack cannot say when data
    /// arrives, so the node looks this often (default 20 ms).
    pub poll_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            beacon: beacon::Config::default(),
            query_port: 49999,
            loopback: false,
            poll_interval: Duration::from_millis(20),
        }
    }
}

/// Why a node operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// A UDP socket could not be opened or bound (port taken? out of sockets?).
    Bind,
    /// Every TCP slot is in use; give the node more `SLOTS`.
    NoFreeSocket,
    /// The node already holds [`MAX_SERVICES`] services.
    TooManyServices,
    /// The node already holds [`MAX_CLIENTS`] requesters/subscribers.
    TooManyClients,
    /// The port is 0 or another service already listens on it.
    BadPort,
    /// The name cannot be advertised.
    Advertise(AdvertiseError),
    /// The name is longer than any advert can carry.
    NameTooLong,
    /// The topic prefix is longer than [`MAX_TOPIC`].
    TopicTooLong,
    /// The request was already answered, or its peer has gone.
    StaleRequest,
    /// The requester or subscriber does not exist (closed, or never opened).
    UnknownClient,
    /// Not connected yet: wait for [`Event::Connected`].
    NotConnected,
    /// The connection refused the message (see [`SendError`]).
    Send(SendError),
    /// The service is not a publisher, or the id is unknown.
    NotAPublisher,
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
        }
    }
}

/// One service this node serves (see [`Node::serve`], [`Node::publish_on`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServiceId(u8);

/// One outgoing connection (see [`Node::requester`], [`Node::subscriber`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClientId(u8);

/// One received request, to answer with [`Node::reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequestId {
    slot: u8,
    generation: u16,
    service: ServiceId,
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

/// What happened, from [`Node::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'n> {
    /// A name was heard for the first time, or at a new address.
    Discovered {
        /// The name.
        name: Name,
        /// Where it is served.
        address: SocketAddr,
    },
    /// A name lapsed or said goodbye.
    Lost {
        /// The name.
        name: Name,
        /// Its last address.
        address: SocketAddr,
    },
    /// A requester or subscriber finished its handshake.
    Connected {
        /// Which one.
        client: ClientId,
    },
    /// A requester or subscriber lost its connection. It reconnects by
    /// itself (a request in flight is lost: send it again after
    /// [`Event::Connected`]); [`Node::close`] it to stop.
    Disconnected {
        /// Which one.
        client: ClientId,
    },
    /// A message to a served name; answer it with [`Node::reply`].
    Request {
        /// Pass to [`Node::reply`].
        request: RequestId,
        /// The message as sent (JSON text from networkzero peers).
        data: &'n [u8],
        /// More parts of the same message follow (not from networkzero peers).
        more: bool,
    },
    /// The answer to a [`Node::send`] from a requester.
    Reply {
        /// Which requester.
        client: ClientId,
        /// The reply as sent.
        data: &'n [u8],
        /// More parts follow.
        more: bool,
    },
    /// A news item for a subscriber.
    News {
        /// Which subscriber.
        client: ClientId,
        /// The topic.
        topic: &'n [u8],
        /// The data (JSON text from networkzero peers; `null` if none was sent).
        data: &'n [u8],
    },
}

/// The events the node queues itself (the rest borrow from connections).
#[derive(Debug, Clone)]
enum Queued {
    Discovered(Name, SocketAddr),
    Lost(Name, SocketAddr),
    Connected(ClientId),
    Disconnected(ClientId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Free,
    Service(u8),
    Client(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ready {
    No,
    /// A message part waits in the connection.
    InConn,
    /// A single-part news item: its topic is in `Slot::topic`.
    TopicOnly,
}

struct Slot<T, const BUF: usize> {
    /// The connected (or connecting) TCP socket.
    socket: Option<T>,
    owner: Owner,
    conn: Option<Connection<[u8; BUF], [u8; BUF]>>,
    generation: u16,
    /// Client: `connect` said `WouldBlock`; ask again (to this address)
    /// until the deadline.
    connecting: Option<(Instant, SocketAddr)>,
    handshake_seen: bool,
    ready: Ready,
    /// Input waits that the connection will not take until we send (REP).
    stalled: bool,
    /// The peer closed its side (receive gave `Ok(0)` or an error).
    eof: bool,
    /// SUB: 0 before a topic, 1 after it, 2 skipping extra parts.
    sub_part: u8,
    topic: heapless::Vec<u8, MAX_TOPIC>,
    /// Bytes read from the socket the connection has not taken yet.
    input: [u8; INPUT_CHUNK],
    in_start: usize,
    in_end: usize,
}

struct Service<T> {
    port: u16,
    role: Role,
    listener: Option<T>,
    /// Do not try to listen again before this.
    retry_at: Instant,
}

// No heap to box the name into; a client is one of four, stored once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Target {
    Name(Name),
    Address(SocketAddr),
}

#[derive(Debug, Clone)]
struct Client {
    target: Target,
    role: Role,
    slot: Option<usize>,
    prefix: heapless::Vec<u8, MAX_TOPIC>,
    /// Do not (re)connect before this.
    retry_at: Instant,
    /// The handshake finished on the current connection.
    connected: bool,
}

/// A networkzero node on an embedded-nal stack `S`: `SLOTS` TCP connections
/// shared by services and outgoing connections, ZMTP buffers of `BUF` bytes
/// per direction per connection (the largest message part it can take), and
/// room for `ADVERTS` names heard from others.
///
/// It holds the stack's sockets (3 UDP, one listening TCP socket per
/// service, up to `SLOTS` connected TCP sockets); pass the same stack to
/// every call that takes one. [`Node::close_all`] gives them back.
pub struct Node<S: Stack, const SLOTS: usize, const BUF: usize = 1024, const ADVERTS: usize = 16> {
    beacon: Beacon<ADVERTS, MAX_SERVICES>,
    config: Config,
    /// Beacon port, extension port, query port.
    udp: [Option<S::UdpSocket>; 3],
    slots: [Slot<S::TcpSocket, BUF>; SLOTS],
    services: [Option<Service<S::TcpSocket>>; MAX_SERVICES],
    clients: [Option<Client>; MAX_CLIENTS],
    queue: heapless::Deque<Queued, EVENT_QUEUE>,
    next_slot: usize,
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as dual-stack sockets
/// report IPv4 peers) as plain IPv4; other addresses unchanged.
pub fn unmap(address: SocketAddr) -> SocketAddr {
    match address {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, v6.port())),
            None => address,
        },
        v4 => v4,
    }
}

impl<T, const BUF: usize> Slot<T, BUF> {
    fn new() -> Self {
        Slot {
            socket: None,
            owner: Owner::Free,
            conn: None,
            generation: 0,
            connecting: None,
            handshake_seen: false,
            ready: Ready::No,
            stalled: false,
            eof: false,
            sub_part: 0,
            topic: heapless::Vec::new(),
            input: [0; INPUT_CHUNK],
            in_start: 0,
            in_end: 0,
        }
    }

    /// Starts a ZMTP connection on a socket that has just connected.
    #[inline(never)]
    fn start(&mut self, config: zmtp::Config, t: Instant) {
        self.conn = Connection::new(config, [0; BUF], [0; BUF], t).ok();
        self.generation = self.generation.wrapping_add(1);
        self.connecting = None;
        self.handshake_seen = false;
        self.ready = Ready::No;
        self.stalled = false;
        self.eof = false;
        self.sub_part = 0;
        self.topic.clear();
        self.in_start = 0;
        self.in_end = 0;
    }

    /// Forgets the connection; returns the socket to close.
    fn reset(&mut self) -> Option<T> {
        self.conn = None;
        self.connecting = None;
        self.ready = Ready::No;
        self.stalled = false;
        self.eof = false;
        self.sub_part = 0;
        self.in_start = 0;
        self.in_end = 0;
        self.socket.take()
    }
}

fn close_tcp<S: Stack + ?Sized>(stack: &mut S, socket: Option<S::TcpSocket>) {
    if let Some(s) = socket {
        // Nothing to do if closing fails: the socket is gone for us either way.
        let _ = TcpClientStack::close(stack, s);
    }
}

impl<S: Stack, const SLOTS: usize, const BUF: usize, const ADVERTS: usize>
    Node<S, SLOTS, BUF, ADVERTS>
{
    /// Opens the node's three UDP sockets on `stack` and binds them (ports
    /// from `config`). TCP sockets are opened later, as services and
    /// clients need them.
    #[inline(never)]
    pub fn new(stack: &mut S, config: Config) -> Result<Self, Error> {
        let ports = [
            config.beacon.beacon_port,
            config.beacon.ext_port,
            config.query_port,
        ];
        let mut udp: [Option<S::UdpSocket>; 3] = [None, None, None];
        for (port, out) in ports.into_iter().zip(udp.iter_mut()) {
            let bound =
                UdpClientStack::socket(stack).ok().and_then(|mut s| {
                    match UdpFullStack::bind(stack, &mut s, port) {
                        Ok(()) => Some(s),
                        Err(_) => {
                            let _ = UdpClientStack::close(stack, s);
                            None
                        }
                    }
                });
            match bound {
                Some(s) => *out = Some(s),
                None => {
                    for s in udp.iter_mut().filter_map(Option::take) {
                        let _ = UdpClientStack::close(stack, s);
                    }
                    return Err(Error::Bind);
                }
            }
        }
        Ok(Node {
            beacon: Beacon::new(config.beacon),
            config,
            udp,
            slots: core::array::from_fn(|_| Slot::new()),
            services: core::array::from_fn(|_| None),
            clients: core::array::from_fn(|_| None),
            queue: heapless::Deque::new(),
            next_slot: 0,
        })
    }

    /// Closes every socket the node holds (UDP, listening and connected TCP)
    /// and gives the stack back its resources. Peers see the connections end.
    pub fn close_all(mut self, stack: &mut S) {
        for s in self.udp.iter_mut().filter_map(Option::take) {
            let _ = UdpClientStack::close(stack, s);
        }
        for service in self.services.iter_mut().flatten() {
            close_tcp(stack, service.listener.take());
        }
        for slot in &mut self.slots {
            close_tcp(stack, slot.reset());
        }
    }

    /// The settings the node was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ---- interfaces ------------------------------------------------------

    /// Tells the node its IPv4 address and prefix length (24 for
    /// 255.255.255.0), e.g. from the stack's DHCP. Adverts then carry this
    /// address and go to the subnet's directed broadcast and
    /// 255.255.255.255. Call again whenever it changes.
    pub fn set_interface(&mut self, ip: Ipv4Addr, prefix_len: u8, now: Instant) {
        self.set_interfaces(&[beacon::Interface { ip, prefix_len }], now);
    }

    /// Like [`Self::set_interface`] for several interfaces, main one first
    /// (at most [`MAX_INTERFACES`]); an empty list forgets them.
    pub fn set_interfaces(&mut self, interfaces: &[beacon::Interface], now: Instant) {
        let list = interfaces.get(..interfaces.len().min(MAX_INTERFACES));
        let list = list.unwrap_or(&[]);
        if self.beacon.interfaces() == list {
            return;
        }
        self.beacon.set_interfaces(list, now);
        // Names advertised before the interface had an address were recorded
        // at 127.0.0.1: advertise them again to record the real one.
        let mut own: heapless::Vec<(Name, SocketAddr), MAX_SERVICES> = heapless::Vec::new();
        for (name, at) in self.beacon.advertised() {
            let mut n = Name::new();
            if n.push_str(name).is_ok() {
                let _ = own.push((n, SocketAddr::V4(at)));
            }
        }
        for (name, at) in own {
            let _ = self.beacon.advertise(&name, at, now);
        }
    }

    // ---- discovery -------------------------------------------------------

    /// Advertises `name` at `port` on every interface (each advert carries
    /// the address of the interface it goes out of). Returns the address
    /// on the main interface (`127.0.0.1:port` before the node has one).
    pub fn advertise(&mut self, name: &str, port: u16, now: Instant) -> Result<SocketAddr, Error> {
        let at = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        self.beacon
            .advertise(name, at, now)
            .map_err(Error::Advertise)
    }

    /// Stops advertising `name` (peers are told at once). Returns whether it was.
    pub fn unadvertise(&mut self, name: &str, now: Instant) -> bool {
        self.beacon.unadvertise(name, now)
    }

    /// Asks the LAN for `name` now; the answer comes as [`Event::Discovered`]
    /// and fills [`Self::lookup`].
    pub fn discover(&mut self, name: &str, now: Instant) {
        self.beacon.query(Some(name), now);
    }

    /// Asks the LAN for every name.
    pub fn discover_all(&mut self, now: Instant) {
        self.beacon.query(None, now);
    }

    /// Where `name` is served, if known and live.
    pub fn lookup(&self, name: &str, now: Instant) -> Option<SocketAddr> {
        self.beacon.lookup(name, now)
    }

    /// Every live name this node knows, with its address.
    pub fn adverts(&self, now: Instant) -> impl Iterator<Item = (&str, SocketAddr)> + '_ {
        self.beacon
            .adverts(now)
            .map(|e| (e.name.as_str(), e.address))
    }

    /// The discovery state machine, for anything not wrapped here.
    pub fn beacon(&self) -> &Beacon<ADVERTS, MAX_SERVICES> {
        &self.beacon
    }

    // ---- services --------------------------------------------------------

    /// Serves requests at TCP `port` with up to `peers` peers at once (each
    /// takes one of the `SLOTS` slots; more wait in the stack's listen
    /// backlog) and advertises `name` there. The listening socket is opened
    /// on the next poll. Requests arrive as [`Event::Request`].
    pub fn serve(
        &mut self,
        name: &str,
        port: u16,
        peers: usize,
        now: Instant,
    ) -> Result<ServiceId, Error> {
        self.add_service(name, port, peers, Role::Rep, now)
    }

    /// Publishes news at TCP `port` for up to `peers` subscribers at once and
    /// advertises `name` there; send with [`Self::publish`].
    pub fn publish_on(
        &mut self,
        name: &str,
        port: u16,
        peers: usize,
        now: Instant,
    ) -> Result<ServiceId, Error> {
        self.add_service(name, port, peers, Role::Pub, now)
    }

    fn add_service(
        &mut self,
        name: &str,
        port: u16,
        peers: usize,
        role: Role,
        now: Instant,
    ) -> Result<ServiceId, Error> {
        if port == 0 || self.services.iter().flatten().any(|s| s.port == port) {
            return Err(Error::BadPort);
        }
        let index = self
            .services
            .iter()
            .position(Option::is_none)
            .ok_or(Error::TooManyServices)?;
        let free = self.slots.iter().filter(|s| s.owner == Owner::Free).count();
        if free < peers.max(1) {
            return Err(Error::NoFreeSocket);
        }
        self.advertise(name, port, now)?;
        let id = index as u8;
        for slot in self
            .slots
            .iter_mut()
            .filter(|s| s.owner == Owner::Free)
            .take(peers.max(1))
        {
            slot.owner = Owner::Service(id);
        }
        if let Some(s) = self.services.get_mut(index) {
            *s = Some(Service {
                port,
                role,
                listener: None,
                retry_at: now,
            });
        }
        Ok(ServiceId(id))
    }

    /// Answers a request with one message part.
    pub fn reply(&mut self, request: RequestId, data: &[u8]) -> Result<(), Error> {
        let slot = self
            .slots
            .get_mut(usize::from(request.slot))
            .filter(|s| {
                s.generation == request.generation && s.owner == Owner::Service(request.service.0)
            })
            .ok_or(Error::StaleRequest)?;
        let conn = slot.conn.as_mut().ok_or(Error::StaleRequest)?;
        if !conn.can_send() {
            return Err(Error::StaleRequest);
        }
        conn.send(&[data]).map_err(Error::Send)?;
        slot.stalled = false;
        Ok(())
    }

    /// Publishes `data` under `topic` to every subscriber whose prefix
    /// matches; returns how many it was queued for. Subscribers whose
    /// output is full miss it (as ZeroMQ PUB drops at its high-water mark).
    pub fn publish(
        &mut self,
        service: ServiceId,
        topic: &[u8],
        data: &[u8],
    ) -> Result<usize, Error> {
        match self.services.get(usize::from(service.0)) {
            Some(Some(s)) if s.role == Role::Pub => {}
            _ => return Err(Error::NotAPublisher),
        }
        let mut queued = 0;
        for slot in &mut self.slots {
            if slot.owner != Owner::Service(service.0) {
                continue;
            }
            if let Some(conn) = slot.conn.as_mut().filter(|c| c.is_established()) {
                if let Ok(zmtp::Sent::Queued) = conn.send(&[topic, data]) {
                    queued += 1;
                }
            }
        }
        Ok(queued)
    }

    /// Subscribers (or requesters) connected to a service now.
    pub fn peers(&self, service: ServiceId) -> usize {
        self.slots
            .iter()
            .filter(|s| s.owner == Owner::Service(service.0))
            .filter(|s| s.conn.as_ref().is_some_and(|c| c.is_established()))
            .count()
    }

    // ---- clients ---------------------------------------------------------

    /// Opens a requester to `peer` (a name is discovered first). Once
    /// [`Event::Connected`], [`Self::send`] a message; the answer comes as
    /// [`Event::Reply`].
    pub fn requester<'s>(
        &mut self,
        peer: impl Into<Peer<'s>>,
        now: Instant,
    ) -> Result<ClientId, Error> {
        self.add_client(peer.into(), Role::Req, b"", now)
    }

    /// Subscribes to news at `peer` on topics starting with `prefix` (`b""`
    /// for all); items come as [`Event::News`].
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
        Ok(ClientId(index as u8))
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

    /// Closes a requester or subscriber (its socket is closed on the next
    /// poll). Returns whether it existed.
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
            slot.conn = None;
            slot.ready = Ready::No;
        }
        true
    }

    // ---- driving ---------------------------------------------------------

    /// Moves datagrams and bytes between the stack and the node: reads
    /// every UDP socket, runs the beacon, sends its datagrams, opens
    /// listening sockets and accepts, connects clients, and drives each TCP
    /// connection (bytes in, timers, bytes out). Then drain
    /// [`Self::poll_event`].
    #[inline(never)]
    pub fn poll(&mut self, stack: &mut S, now: Instant) {
        self.udp_input(stack, now);
        if self.beacon.poll_timeout().is_some_and(|d| d <= now) {
            self.beacon.handle_timeout(now);
        }
        self.udp_output(stack, now);
        while let Some(event) = self.beacon.poll_event() {
            match event {
                beacon::Event::Appeared { name, address } => {
                    self.push(Queued::Discovered(name, address))
                }
                beacon::Event::Moved { name, to, .. } => self.push(Queued::Discovered(name, to)),
                beacon::Event::Expired { name, address } => self.push(Queued::Lost(name, address)),
                _ => {}
            }
        }
        self.listen_and_accept(stack, now);
        self.connect_clients(stack, now);
        for i in 0..SLOTS {
            self.drive_slot(i, stack, now);
        }
    }

    /// When to call [`Self::poll`] next at the latest: `now` if work is
    /// waiting, never later than [`Config::poll_interval`] from `now` (the
    /// stack cannot say when data arrives).
    #[must_use]
    pub fn poll_at(&self, now: Instant) -> Instant {
        let mut at = now + self.config.poll_interval;
        let mut earliest = |x: Instant| at = at.min(x.max(now));
        if let Some(b) = self.beacon.poll_timeout() {
            earliest(b);
        }
        if !self.queue.is_empty() {
            earliest(now);
        }
        for client in self.clients.iter().flatten() {
            let resolvable = match &client.target {
                Target::Address(_) => true,
                Target::Name(n) => self.beacon.lookup(n, now).is_some(),
            };
            if client.slot.is_none() && resolvable {
                earliest(client.retry_at);
            }
        }
        for service in self.services.iter().flatten() {
            if service.listener.is_none() {
                earliest(service.retry_at);
            }
        }
        for slot in &self.slots {
            if let Some(conn) = &slot.conn {
                if let Some(d) = conn.poll_timeout() {
                    earliest(d);
                }
                let staged = slot.in_start < slot.in_end && !slot.stalled;
                if (staged && slot.ready == Ready::No) || conn.has_output() || conn.is_closed() {
                    earliest(now);
                }
            } else if slot.owner == Owner::Free && slot.socket.is_some() {
                earliest(now); // a socket to close
            }
        }
        at
    }

    /// The next event; `None` when drained (see the crate docs).
    #[must_use]
    #[inline(never)]
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if let Some(q) = self.queue.pop_front() {
            return Some(match q {
                Queued::Discovered(name, address) => Event::Discovered { name, address },
                Queued::Lost(name, address) => Event::Lost { name, address },
                Queued::Connected(client) => Event::Connected { client },
                Queued::Disconnected(client) => Event::Disconnected { client },
            });
        }
        let start = self.next_slot;
        let i = (0..SLOTS)
            .map(|k| (start + k) % SLOTS)
            .find(|&i| self.slots.get(i).is_some_and(|s| s.ready != Ready::No))?;
        self.next_slot = (i + 1) % SLOTS;
        let slot = self.slots.get_mut(i)?;
        let ready = mem::replace(&mut slot.ready, Ready::No);
        let generation = slot.generation;
        let owner = slot.owner;
        if ready == Ready::TopicOnly {
            let Owner::Client(c) = owner else { return None };
            return Some(Event::News {
                client: ClientId(c),
                topic: &slot.topic,
                data: b"null",
            });
        }
        let conn = slot.conn.as_mut()?;
        let role = conn.role();
        let zmtp::Event::Message(part) = conn.poll_event()? else {
            return None;
        };
        match (owner, role) {
            (Owner::Service(s), _) => Some(Event::Request {
                request: RequestId {
                    slot: i as u8,
                    generation,
                    service: ServiceId(s),
                },
                data: part.data,
                more: part.more,
            }),
            (Owner::Client(c), Role::Sub) => {
                slot.sub_part = if part.more { 2 } else { 0 };
                Some(Event::News {
                    client: ClientId(c),
                    topic: &slot.topic,
                    data: part.data,
                })
            }
            (Owner::Client(c), _) => Some(Event::Reply {
                client: ClientId(c),
                data: part.data,
                more: part.more,
            }),
            (Owner::Free, _) => None,
        }
    }

    // ---- internals -------------------------------------------------------

    fn push(&mut self, q: Queued) {
        if self.queue.is_full() {
            self.queue.pop_front();
        }
        let _ = self.queue.push_back(q);
    }

    fn udp_input(&mut self, stack: &mut S, t: Instant) {
        let mut buf = [0u8; MAX_TRANSMIT];
        for socket in self.udp.iter_mut().flatten() {
            for _ in 0..UDP_READS {
                match UdpClientStack::receive(stack, socket, &mut buf) {
                    Ok((n, source)) => {
                        if let Some(datagram) = buf.get(..n) {
                            // Malformed datagrams are dropped by the beacon.
                            let _ = self.beacon.handle_datagram(datagram, unmap(source), t);
                        }
                    }
                    Err(_) => break, // WouldBlock, or an error: try next poll
                }
            }
        }
    }

    fn udp_output(&mut self, stack: &mut S, t: Instant) {
        let mut buf = [0u8; MAX_TRANSMIT];
        for _ in 0..UDP_SENDS {
            let Some(tx) = self.beacon.poll_transmit(t, &mut buf) else {
                break;
            };
            if tx.destination.ip().is_loopback() && !self.config.loopback {
                continue; // only this host would hear it, and it has no loopback
            }
            let index = match tx.kind {
                Kind::Advert => 0,
                Kind::Query => 2,
                _ => 1,
            };
            let (Some(Some(socket)), Some(data)) = (self.udp.get_mut(index), buf.get(..tx.len))
            else {
                continue;
            };
            match UdpFullStack::send_to(stack, socket, tx.destination, data) {
                // A full stack loses this one (the beacon repeats adverts and
                // queries): send the rest on the next poll.
                Err(nb::Error::WouldBlock) => break,
                // E.g. no route to 255.255.255.255: the other copies may go.
                Ok(()) | Err(nb::Error::Other(_)) => {}
            }
        }
    }

    fn listen_and_accept(&mut self, stack: &mut S, t: Instant) {
        for (si, service) in self.services.iter_mut().enumerate() {
            let Some(service) = service else { continue };
            if service.listener.is_none() {
                if t < service.retry_at {
                    continue;
                }
                service.listener = TcpClientStack::socket(stack).ok().and_then(|mut s| {
                    let ok = TcpFullStack::bind(stack, &mut s, service.port).is_ok()
                        && TcpFullStack::listen(stack, &mut s).is_ok();
                    if ok {
                        Some(s)
                    } else {
                        let _ = TcpClientStack::close(stack, s);
                        None
                    }
                });
                if service.listener.is_none() {
                    service.retry_at = t + RELISTEN;
                    continue;
                }
            }
            let mut config = zmtp::Config::new(service.role);
            config.as_server = true;
            for slot in &mut self.slots {
                if slot.owner != Owner::Service(si as u8) || slot.socket.is_some() {
                    continue;
                }
                let Some(listener) = service.listener.as_mut() else {
                    break;
                };
                match TcpFullStack::accept(stack, listener) {
                    Ok((socket, _peer)) => {
                        slot.socket = Some(socket);
                        slot.start(config.clone(), t);
                    }
                    Err(nb::Error::WouldBlock) => break,
                    Err(nb::Error::Other(_)) => {
                        // The listener failed: open a new one later.
                        close_tcp(stack, service.listener.take());
                        service.retry_at = t + RELISTEN;
                        break;
                    }
                }
            }
        }
    }

    fn connect_clients(&mut self, stack: &mut S, t: Instant) {
        for ci in 0..MAX_CLIENTS {
            let Some(Some(client)) = self.clients.get(ci) else {
                continue;
            };
            if client.slot.is_some() || t < client.retry_at {
                continue;
            }
            let remote = match &client.target {
                Target::Address(a) => Some(*a),
                Target::Name(n) => self.beacon.lookup(n, t),
            };
            let Some(remote) = remote else { continue };
            let role = client.role;
            let Some(si) = self
                .slots
                .iter()
                .position(|s| s.owner == Owner::Free && s.socket.is_none())
            else {
                continue;
            };
            let Ok(mut socket) = TcpClientStack::socket(stack) else {
                self.client_lost(ci as u8, t);
                continue;
            };
            let outcome = TcpClientStack::connect(stack, &mut socket, remote);
            let Some(slot) = self.slots.get_mut(si) else {
                continue;
            };
            match outcome {
                Ok(()) => {
                    slot.owner = Owner::Client(ci as u8);
                    slot.socket = Some(socket);
                    self.start_client(si, role, t);
                }
                Err(nb::Error::WouldBlock) => {
                    slot.owner = Owner::Client(ci as u8);
                    slot.socket = Some(socket);
                    slot.conn = None;
                    slot.connecting = Some((t + CONNECT_TIMEOUT, remote));
                }
                Err(nb::Error::Other(_)) => {
                    close_tcp(stack, Some(socket));
                    self.client_lost(ci as u8, t);
                    continue;
                }
            }
            if let Some(Some(client)) = self.clients.get_mut(ci) {
                client.slot = Some(si);
            }
        }
    }

    fn start_client(&mut self, si: usize, role: Role, t: Instant) {
        let Some(slot) = self.slots.get_mut(si) else {
            return;
        };
        slot.start(zmtp::Config::new(role), t);
        if let (Some(conn), Owner::Client(c)) = (slot.conn.as_mut(), slot.owner) {
            if role == Role::Sub {
                if let Some(Some(client)) = self.clients.get(usize::from(c)) {
                    let _ = conn.subscribe(&client.prefix);
                }
            }
        }
    }

    /// Socket lifecycle, then bytes in, timers, bytes out for one slot.
    #[inline(never)]
    fn drive_slot(&mut self, i: usize, stack: &mut S, t: Instant) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if slot.owner == Owner::Free {
            // A closed client's socket.
            close_tcp(stack, slot.reset());
            return;
        }
        if let (Some((deadline, remote)), Some(socket), Owner::Client(c)) =
            (slot.connecting, slot.socket.as_mut(), slot.owner)
        {
            match TcpClientStack::connect(stack, socket, remote) {
                Ok(()) => {
                    let role = self
                        .clients
                        .get(usize::from(c))
                        .and_then(Option::as_ref)
                        .map_or(Role::Req, |cl| cl.role);
                    self.start_client(i, role, t);
                }
                Err(nb::Error::WouldBlock) if t < deadline => return,
                Err(_) => {
                    self.drop_slot(i, stack, t);
                    return;
                }
            }
        }
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let (Some(conn), Some(socket)) = (slot.conn.as_mut(), slot.socket.as_mut()) else {
            return;
        };

        // Bytes in, one event at a time.
        let mut connected = false;
        let mut failed = false;
        for _ in 0..16 {
            if conn.has_event() {
                if conn.is_closed() {
                    let _ = conn.poll_event(); // PeerError: nothing to tell the app
                } else if !slot.handshake_seen {
                    let _ = conn.poll_event();
                    slot.handshake_seen = true;
                    connected = true;
                } else {
                    match conn.role() {
                        Role::Pub => {
                            let _ = conn.poll_event(); // (un)subscriptions
                        }
                        Role::Sub if slot.sub_part != 1 => {
                            if let Some(zmtp::Event::Message(part)) = conn.poll_event() {
                                if slot.sub_part == 2 {
                                    if !part.more {
                                        slot.sub_part = 0;
                                    }
                                } else {
                                    slot.topic.clear();
                                    let fits = slot.topic.extend_from_slice(part.data).is_ok();
                                    slot.sub_part = match (fits, part.more) {
                                        (true, true) => 1,
                                        (false, true) => 2,
                                        (_, false) => 0,
                                    };
                                    if fits && !part.more {
                                        slot.ready = Ready::TopicOnly;
                                        break;
                                    }
                                }
                            }
                        }
                        _ => {
                            slot.ready = Ready::InConn;
                            break;
                        }
                    }
                }
                continue;
            }
            if slot.stalled || conn.is_closed() {
                break;
            }
            if slot.in_start < slot.in_end {
                let staged = slot.input.get(slot.in_start..slot.in_end).unwrap_or(&[]);
                match conn.handle_input(staged, t) {
                    Ok(0) if !conn.has_event() => {
                        slot.stalled = true; // REP owes a reply first
                        break;
                    }
                    Ok(n) => slot.in_start += n,
                    Err(_) => break, // the connection failed: flushed and closed below
                }
                if slot.in_start >= slot.in_end {
                    slot.in_start = 0;
                    slot.in_end = 0;
                }
                continue;
            }
            if slot.eof {
                break;
            }
            match TcpClientStack::receive(stack, socket, &mut slot.input) {
                Ok(0) => slot.eof = true,
                Ok(n) => {
                    slot.in_start = 0;
                    slot.in_end = n.min(INPUT_CHUNK);
                }
                Err(nb::Error::WouldBlock) => break,
                Err(nb::Error::Other(_)) => {
                    slot.eof = true;
                    failed = true;
                    break;
                }
            }
        }

        if conn.poll_timeout().is_some_and(|d| d <= t) {
            let _ = conn.handle_timeout(t);
        }
        // Bytes out.
        for _ in 0..4 {
            if failed || !conn.has_output() {
                break;
            }
            match TcpClientStack::send(stack, socket, conn.output()) {
                Ok(n) if n > 0 => conn.consume_output(n),
                Ok(_) | Err(nb::Error::WouldBlock) => break,
                Err(nb::Error::Other(_)) => failed = true,
            }
        }

        let closed = conn.is_closed() && !conn.has_output();
        let peer_done = slot.eof && slot.in_start >= slot.in_end && !conn.has_event();
        if (failed || closed || peer_done) && slot.ready == Ready::No {
            self.drop_slot(i, stack, t);
            return;
        }
        if connected {
            if let Owner::Client(c) = slot.owner {
                if let Some(Some(client)) = self.clients.get_mut(usize::from(c)) {
                    client.connected = true;
                }
                self.push(Queued::Connected(ClientId(c)));
            }
        }
    }

    /// Closes a slot's socket; a client's slot is freed and the client
    /// reconnects later, a service's slot waits for the next accept.
    fn drop_slot(&mut self, i: usize, stack: &mut S, t: Instant) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        close_tcp(stack, slot.reset());
        if let Owner::Client(c) = slot.owner {
            slot.owner = Owner::Free;
            self.client_lost(c, t);
        }
    }

    /// A client's connection ended or could not be made: reconnect after a
    /// pause (as libzmq does), telling the app if it had been connected.
    fn client_lost(&mut self, c: u8, t: Instant) {
        let Some(Some(client)) = self.clients.get_mut(usize::from(c)) else {
            return;
        };
        client.slot = None;
        client.retry_at = t + RECONNECT;
        if mem::replace(&mut client.connected, false) {
            self.push(Queued::Disconnected(ClientId(c)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv6Addr, SocketAddrV6};

    /// An in-memory stack: UDP sockets are indices into `ports`; TCP does nothing.
    #[derive(Default)]
    struct Fake {
        ports: Vec<u16>,
        refuse_port: Option<u16>,
        closed: usize,
        /// (socket, destination, datagram) in sending order.
        sent: Vec<(usize, SocketAddr, Vec<u8>)>,
        /// (socket, source, datagram) waiting to be received.
        inbox: Vec<(usize, SocketAddr, Vec<u8>)>,
    }

    #[derive(Debug)]
    struct FakeError;

    impl embedded_nal::TcpError for FakeError {
        fn kind(&self) -> embedded_nal::TcpErrorKind {
            embedded_nal::TcpErrorKind::Other
        }
    }

    impl UdpClientStack for Fake {
        type UdpSocket = usize;
        type Error = FakeError;
        fn socket(&mut self) -> Result<usize, FakeError> {
            self.ports.push(0);
            Ok(self.ports.len() - 1)
        }
        fn connect(&mut self, _: &mut usize, _: SocketAddr) -> Result<(), FakeError> {
            Err(FakeError)
        }
        fn send(&mut self, _: &mut usize, _: &[u8]) -> nb::Result<(), FakeError> {
            Err(nb::Error::Other(FakeError))
        }
        fn receive(
            &mut self,
            socket: &mut usize,
            buffer: &mut [u8],
        ) -> nb::Result<(usize, SocketAddr), FakeError> {
            let i = self
                .inbox
                .iter()
                .position(|(s, _, _)| s == socket)
                .ok_or(nb::Error::WouldBlock)?;
            let (_, from, data) = self.inbox.remove(i);
            buffer[..data.len()].copy_from_slice(&data);
            Ok((data.len(), from))
        }
        fn close(&mut self, _: usize) -> Result<(), FakeError> {
            self.closed += 1;
            Ok(())
        }
    }

    impl UdpFullStack for Fake {
        fn bind(&mut self, socket: &mut usize, port: u16) -> Result<(), FakeError> {
            if self.refuse_port == Some(port) {
                return Err(FakeError);
            }
            self.ports[*socket] = port;
            Ok(())
        }
        fn send_to(
            &mut self,
            socket: &mut usize,
            remote: SocketAddr,
            buffer: &[u8],
        ) -> nb::Result<(), FakeError> {
            self.sent.push((*socket, remote, buffer.to_vec()));
            Ok(())
        }
    }

    impl TcpClientStack for Fake {
        type TcpSocket = ();
        type Error = FakeError;
        fn socket(&mut self) -> Result<(), FakeError> {
            Ok(())
        }
        fn connect(&mut self, _: &mut (), _: SocketAddr) -> nb::Result<(), FakeError> {
            Err(nb::Error::WouldBlock)
        }
        fn send(&mut self, _: &mut (), _: &[u8]) -> nb::Result<usize, FakeError> {
            Err(nb::Error::WouldBlock)
        }
        fn receive(&mut self, _: &mut (), _: &mut [u8]) -> nb::Result<usize, FakeError> {
            Err(nb::Error::WouldBlock)
        }
        fn close(&mut self, _: ()) -> Result<(), FakeError> {
            Ok(())
        }
    }

    impl TcpFullStack for Fake {
        fn bind(&mut self, _: &mut (), _: u16) -> Result<(), FakeError> {
            Ok(())
        }
        fn listen(&mut self, _: &mut ()) -> Result<(), FakeError> {
            Ok(())
        }
        fn accept(&mut self, _: &mut ()) -> nb::Result<((), SocketAddr), FakeError> {
            Err(nb::Error::WouldBlock)
        }
    }

    const T0: Instant = Instant::ZERO;

    fn node(stack: &mut Fake) -> Node<Fake, 2, 512, 4> {
        Node::new(stack, Config::default()).unwrap()
    }

    #[test]
    fn binds_the_three_udp_ports_or_gives_them_back() {
        let mut stack = Fake::default();
        let _node = node(&mut stack);
        assert_eq!(stack.ports, [9999, 9997, 49999]);

        let mut stack = Fake {
            refuse_port: Some(49999),
            ..Fake::default()
        };
        let r = Node::<Fake, 2, 512, 4>::new(&mut stack, Config::default());
        assert!(matches!(r, Err(Error::Bind)));
        assert_eq!(stack.closed, 3, "every socket opened is closed again");
    }

    #[test]
    fn adverts_leave_the_beacon_port_and_queries_the_query_port() {
        let mut stack = Fake::default();
        let mut node = node(&mut stack);
        node.set_interface(Ipv4Addr::new(10, 0, 0, 5), 24, T0);
        node.serve("robot", 5555, 1, T0).unwrap();
        node.poll(&mut stack, T0);
        let adverts: Vec<_> = stack.sent.drain(..).collect();
        let to: Vec<SocketAddr> = adverts.iter().map(|(_, d, _)| *d).collect();
        assert!(to.contains(&"10.0.0.255:9999".parse().unwrap()), "{to:?}");
        assert!(
            to.contains(&"255.255.255.255:9999".parse().unwrap()),
            "{to:?}"
        );
        assert!(
            to.iter().all(|d| !d.ip().is_loopback()),
            "no loopback by default: {to:?}"
        );
        assert!(adverts.iter().all(|(s, _, _)| stack.ports[*s] == 9999));
        assert!(adverts
            .iter()
            .any(|(_, _, d)| d.as_slice() == br#"["robot", "10.0.0.5:5555", 20]"#));

        node.discover("elsewhere", T0);
        node.poll(&mut stack, T0);
        assert!(!stack.sent.is_empty());
        for (s, d, _) in &stack.sent {
            assert_eq!(
                stack.ports[*s], 49999,
                "a query goes out of the query socket"
            );
            assert_eq!(d.port(), 9997);
        }
    }

    #[test]
    fn loopback_adverts_only_when_configured() {
        let mut stack = Fake::default();
        let config = Config {
            loopback: true,
            ..Config::default()
        };
        let mut node: Node<Fake, 2, 512, 4> = Node::new(&mut stack, config).unwrap();
        node.serve("robot", 5555, 1, T0).unwrap();
        node.poll(&mut stack, T0);
        let to: Vec<SocketAddr> = stack.sent.iter().map(|(_, d, _)| *d).collect();
        assert!(
            to.contains(&"127.255.255.255:9999".parse().unwrap()),
            "{to:?}"
        );
    }

    #[test]
    fn hears_python_adverts_from_mapped_addresses() {
        let mut stack = Fake::default();
        let mut node = node(&mut stack);
        let from = SocketAddr::V6(SocketAddrV6::new(
            Ipv4Addr::new(10, 0, 0, 7).to_ipv6_mapped(),
            9999,
            0,
            0,
        ));
        stack
            .inbox
            .push((0, from, br#"["py-echo", "10.0.0.7:1234", 20]"#.to_vec()));
        node.poll(&mut stack, T0);
        let want: SocketAddr = "10.0.0.7:1234".parse().unwrap();
        match node.poll_event() {
            Some(Event::Discovered { name, address }) => {
                assert_eq!((name.as_str(), address), ("py-echo", want));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(node.lookup("py-echo", T0), Some(want));
    }

    #[test]
    fn unmap_leaves_plain_addresses_alone() {
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, 1));
        assert_eq!(unmap(v6), v6);
        let v4: SocketAddr = "10.1.2.3:4".parse().unwrap();
        assert_eq!(unmap(v4), v4);
    }

    #[test]
    fn poll_at_is_never_beyond_the_poll_interval() {
        let mut stack = Fake::default();
        let mut node = node(&mut stack);
        node.poll(&mut stack, T0);
        let at = node.poll_at(T0);
        assert!(at <= T0 + Config::default().poll_interval);
        let _ = node.requester("nobody", T0).unwrap();
        node.poll(&mut stack, T0);
        assert!(node.poll_at(T0) <= T0 + Config::default().poll_interval);
        node.close_all(&mut stack);
        assert_eq!(stack.closed, 3);
    }
}
