//! networkzero over [smoltcp]: discovery, request/reply and news for
//! firmware with no `std`, no heap and no async.
//!
//! A [`Node`] owns a discovery [`Beacon`] and a fixed number of ZMTP
//! connections, and moves datagrams and bytes between them and smoltcp UDP
//! and TCP sockets it adds to your [`SocketSet`]. You call it from a plain
//! loop:
//!
//! ```no_run
//! # use networkzero_smoltcp::*;
//! # use smoltcp::iface::{Interface, SocketSet, SocketStorage};
//! # fn clock() -> smoltcp::time::Instant { smoltcp::time::Instant::ZERO }
//! # fn run<D: smoltcp::phy::Device>(iface: &mut Interface, device: &mut D) -> Result<(), Error> {
//! let mut storage: Storage<4> = Storage::new();
//! let mut entries = [SocketStorage::EMPTY; Node::<4>::SOCKETS];
//! let mut sockets = SocketSet::new(&mut entries[..]);
//! let mut node: Node<4> = Node::new(&mut storage, &mut sockets, Config::default())?;
//! let now = clock();
//! node.serve("robot", 5555, 2, now)?;          // REP on TCP 5555, two peers at once
//! loop {
//!     let now = clock();
//!     node.poll(iface, device, &mut sockets, now);
//!     while let Some(event) = node.poll_event() {
//!         if let Event::Request { request, .. } = event {
//!             node.reply(request, br#""ack""#)?;
//!         }
//!     }
//!     // sleep until node.poll_at(iface, &sockets, now) or an interrupt
//!     # break;
//! }
//! # Ok(()) }
//! ```
//!
//! # The drain contract
//! After [`Node::poll`] (or [`Node::process`] if you poll the interface
//! yourself), drain [`Node::poll_event`] until `None`, act on the events
//! (replies, news, requests are queued at once and sent on the next poll),
//! then sleep until [`Node::poll_at`]. A message event stays in its
//! connection until polled: a node whose events are not drained stops
//! reading from that peer (TCP flow control), nothing is lost or copied.
//!
//! # Where datagrams go
//! Three UDP sockets: the Python-compatible beacon port 9999 (adverts go out
//! of it), the extension port 9997 (answers and goodbyes) and an ephemeral
//! port for our own instant-discovery queries (answers come back to it).
//! Datagrams the beacon addresses to 127.255.255.255 are dropped: smoltcp
//! has no loopback.
//!
//! # Messages
//! Payloads are bytes as they travel: networkzero peers send JSON text
//! (`"hello"` with the quotes, `{"x": 1}`), news is two parts, topic then
//! JSON data. Use `networkzero_core::payload` to encode and decode.
//!
//! # Panics
//! None from network input. Passing a [`SocketSet`] other than the one given
//! to [`Node::new`] makes smoltcp panic on an unknown socket handle.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

use core::mem;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use networkzero_core::advert::Name;
use networkzero_core::beacon::{self, Beacon, Kind, MAX_INTERFACES, MAX_TRANSMIT};
use networkzero_core::zmtp::{self, Connection, Role};
use networkzero_core::{Duration, Instant as CoreInstant};
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, IpCidr, IpEndpoint};

pub use networkzero_core::beacon::AdvertiseError;
pub use networkzero_core::zmtp::SendError;

/// Datagrams each UDP socket buffers per direction.
pub const UDP_PACKETS: usize = 8;
/// Bytes each UDP socket buffers per direction.
pub const UDP_BYTES: usize = 2048;
/// Services (served or published names) a node can hold.
pub const MAX_SERVICES: usize = 4;
/// Outgoing connections (requesters, subscribers) a node can hold.
pub const MAX_CLIENTS: usize = 4;
/// Longest news topic a subscriber keeps (longer ones are skipped).
pub const MAX_TOPIC: usize = 64;
/// Events (discovery, connections) queued before the oldest is dropped.
pub const EVENT_QUEUE: usize = 8;

const UDP_SOCKETS: usize = 3;
const EPHEMERAL_FIRST: u16 = 49152;

type Meta = [udp::PacketMetadata; UDP_PACKETS];
const META: Meta = [udp::PacketMetadata::EMPTY; UDP_PACKETS];

/// Socket buffers for a node with `SLOTS` TCP sockets of `TCP_BUF` bytes per
/// direction. Put it where it outlives the [`SocketSet`] (a `static` on
/// firmware, e.g. via `static_cell`, or a local in `main`).
pub struct Storage<const SLOTS: usize, const TCP_BUF: usize = 1024> {
    udp_meta: [[Meta; 2]; UDP_SOCKETS],
    udp_data: [[[u8; UDP_BYTES]; 2]; UDP_SOCKETS],
    tcp: [[[u8; TCP_BUF]; 2]; SLOTS],
}

impl<const SLOTS: usize, const TCP_BUF: usize> Storage<SLOTS, TCP_BUF> {
    /// Zeroed buffers.
    pub const fn new() -> Self {
        Storage {
            udp_meta: [[META; 2]; UDP_SOCKETS],
            udp_data: [[[0; UDP_BYTES]; 2]; UDP_SOCKETS],
            tcp: [[[0; TCP_BUF]; 2]; SLOTS],
        }
    }
}

impl<const SLOTS: usize, const TCP_BUF: usize> Default for Storage<SLOTS, TCP_BUF> {
    fn default() -> Self {
        Self::new()
    }
}

/// Node settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Discovery settings (ports, rates); the defaults match Python networkzero.
    pub beacon: beacon::Config,
    /// UDP port our discovery queries go out of (answers come back to it).
    /// Give each node on a LAN its own if you can; any free port works.
    pub query_port: u16,
    /// Seed for the first local TCP port of outgoing connections; vary it
    /// per boot (e.g. from a hardware RNG) so a rebooted node does not reuse
    /// the four-tuple of a connection its peer still remembers.
    pub port_seed: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            beacon: beacon::Config::default(),
            query_port: 49999,
            port_seed: 0,
        }
    }
}

/// Why a node operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// A UDP socket could not be bound (port 0 in the config?).
    Bind,
    /// Every TCP socket is in use; give the node more `SLOTS`.
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
            Error::Bind => {
                f.write_str("a UDP socket could not be bound; check the ports in Config")
            }
            Error::NoFreeSocket => {
                f.write_str("every TCP socket is in use; give the Node more SLOTS")
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

/// Adds one TCP socket (kept out of line: smoltcp's socket is large, and
/// inlined into a loop its moves cost kilobytes of code).
#[inline(never)]
fn add_tcp<'a>(sockets: &mut SocketSet<'a>, rx: &'a mut [u8], tx: &'a mut [u8]) -> SocketHandle {
    let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
    socket.set_nagle_enabled(false);
    sockets.add(socket)
}

struct Slot<const BUF: usize> {
    handle: SocketHandle,
    owner: Owner,
    conn: Option<Connection<[u8; BUF], [u8; BUF]>>,
    generation: u16,
    opened: bool,
    handshake_seen: bool,
    ready: Ready,
    /// Input waits that the connection will not take until we send (REP).
    stalled: bool,
    /// SUB: 0 before a topic, 1 after it, 2 skipping extra parts.
    sub_part: u8,
    topic: heapless::Vec<u8, MAX_TOPIC>,
}

#[derive(Debug, Clone)]
struct Service {
    port: u16,
    role: Role,
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
    retry_at: CoreInstant,
    /// The handshake finished on the current connection.
    connected: bool,
}

/// Wait before reconnecting a requester or subscriber (libzmq: 100 ms).
const RECONNECT: Duration = Duration::from_millis(500);

/// A networkzero node on smoltcp: `SLOTS` TCP sockets shared by services and
/// outgoing connections, ZMTP buffers of `BUF` bytes per direction per
/// connection (the largest message part it can take), and room for
/// `ADVERTS` names heard from others.
pub struct Node<const SLOTS: usize, const BUF: usize = 1024, const ADVERTS: usize = 16> {
    beacon: Beacon<ADVERTS, MAX_SERVICES>,
    udp: [SocketHandle; UDP_SOCKETS],
    slots: [Slot<BUF>; SLOTS],
    services: [Option<Service>; MAX_SERVICES],
    clients: [Option<Client>; MAX_CLIENTS],
    queue: heapless::Deque<Queued, EVENT_QUEUE>,
    next_slot: usize,
    next_port: u16,
}

/// smoltcp's clock as the core's (milliseconds; negative clamps to zero).
pub fn core_instant(now: Instant) -> CoreInstant {
    CoreInstant::from_millis(u64::try_from(now.total_millis()).unwrap_or(0))
}

/// IPv4 only: the adapter is built without smoltcp's IPv6.
fn endpoint(a: SocketAddr) -> Option<IpEndpoint> {
    match a {
        SocketAddr::V4(v4) => Some(IpEndpoint::from(v4)),
        SocketAddr::V6(_) => None,
    }
}

fn smol_instant(t: CoreInstant) -> Instant {
    Instant::from_millis(i64::try_from(t.as_millis()).unwrap_or(i64::MAX / 1000))
}

impl<const BUF: usize> Slot<BUF> {
    fn new(handle: SocketHandle) -> Self {
        Slot {
            handle,
            owner: Owner::Free,
            conn: None,
            generation: 0,
            opened: false,
            handshake_seen: false,
            ready: Ready::No,
            stalled: false,
            sub_part: 0,
            topic: heapless::Vec::new(),
        }
    }
}

impl<const SLOTS: usize, const BUF: usize, const ADVERTS: usize> Node<SLOTS, BUF, ADVERTS> {
    /// Entries the [`SocketSet`] needs for this node's sockets.
    pub const SOCKETS: usize = UDP_SOCKETS + SLOTS;

    /// Adds the node's sockets to `sockets` (which must have room for
    /// [`Self::SOCKETS`] more) using the buffers in `storage`, and binds the
    /// UDP ones.
    #[inline(never)]
    pub fn new<'a, const TCP_BUF: usize>(
        storage: &'a mut Storage<SLOTS, TCP_BUF>,
        sockets: &mut SocketSet<'a>,
        config: Config,
    ) -> Result<Self, Error> {
        let Storage {
            udp_meta,
            udp_data,
            tcp,
        } = storage;
        let ports = [
            config.beacon.beacon_port,
            config.beacon.ext_port,
            config.query_port,
        ];
        let mut udp = [None; UDP_SOCKETS];
        for (((meta, data), port), out) in udp_meta
            .iter_mut()
            .zip(udp_data.iter_mut())
            .zip(ports)
            .zip(udp.iter_mut())
        {
            let [rx_meta, tx_meta] = meta;
            let [rx_data, tx_data] = data;
            let mut socket = udp::Socket::new(
                udp::PacketBuffer::new(&mut rx_meta[..], &mut rx_data[..]),
                udp::PacketBuffer::new(&mut tx_meta[..], &mut tx_data[..]),
            );
            socket.bind(port).map_err(|_| Error::Bind)?;
            *out = Some(sockets.add(socket));
        }
        let [Some(a), Some(b), Some(c)] = udp else {
            return Err(Error::Bind);
        };
        let mut handles = tcp.iter_mut().map(|[rx, tx]| add_tcp(sockets, rx, tx));
        // `tcp` holds exactly SLOTS buffer pairs: every slot gets a socket.
        let slots: [Slot<BUF>; SLOTS] =
            core::array::from_fn(|_| Slot::new(handles.next().unwrap_or_default()));
        Ok(Node {
            beacon: Beacon::new(config.beacon),
            udp: [a, b, c],
            slots,
            services: core::array::from_fn(|_| None),
            clients: core::array::from_fn(|_| None),
            queue: heapless::Deque::new(),
            next_slot: 0,
            next_port: EPHEMERAL_FIRST + config.port_seed % (u16::MAX - EPHEMERAL_FIRST),
        })
    }

    // ---- discovery -----------------------------------------------------

    /// Advertises `name` at `port` on every interface (each advert carries
    /// the address of the interface it goes out of). Returns the address
    /// on the main interface (`127.0.0.1:port` before the interface has one).
    pub fn advertise(&mut self, name: &str, port: u16, now: Instant) -> Result<SocketAddr, Error> {
        let at = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        self.beacon
            .advertise(name, at, core_instant(now))
            .map_err(Error::Advertise)
    }

    /// Stops advertising `name` (peers are told at once). Returns whether it was.
    pub fn unadvertise(&mut self, name: &str, now: Instant) -> bool {
        self.beacon.unadvertise(name, core_instant(now))
    }

    /// Asks the LAN for `name` now; the answer comes as [`Event::Discovered`]
    /// and fills [`Self::lookup`].
    pub fn discover(&mut self, name: &str, now: Instant) {
        self.beacon.query(Some(name), core_instant(now));
    }

    /// Asks the LAN for every name.
    pub fn discover_all(&mut self, now: Instant) {
        self.beacon.query(None, core_instant(now));
    }

    /// Where `name` is served, if known and live.
    pub fn lookup(&self, name: &str, now: Instant) -> Option<SocketAddr> {
        self.beacon.lookup(name, core_instant(now))
    }

    /// Every live name this node knows, with its address.
    pub fn adverts(&self, now: Instant) -> impl Iterator<Item = (&str, SocketAddr)> + '_ {
        self.beacon
            .adverts(core_instant(now))
            .map(|e| (e.name.as_str(), e.address))
    }

    /// The discovery state machine, for anything not wrapped here.
    pub fn beacon(&self) -> &Beacon<ADVERTS, MAX_SERVICES> {
        &self.beacon
    }

    // ---- services --------------------------------------------------------

    /// Serves requests at TCP `port` with up to `peers` peers at once (each
    /// takes one of the `SLOTS` sockets) and advertises `name` there.
    /// Requests arrive as [`Event::Request`].
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
            *s = Some(Service { port, role });
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
                if self.beacon.lookup(n, core_instant(now)).is_none() {
                    self.beacon.query(Some(n), core_instant(now));
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
                retry_at: core_instant(now),
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

    // ---- driving -----------------------------------------------------------

    /// Polls the interface, does the node's work, and polls the interface
    /// again so replies leave at once. Then drain [`Self::poll_event`].
    pub fn poll<D: Device + ?Sized>(
        &mut self,
        iface: &mut Interface,
        device: &mut D,
        sockets: &mut SocketSet<'_>,
        now: Instant,
    ) {
        let _ = iface.poll(now, device, sockets);
        self.process(iface, sockets, now);
        let _ = iface.poll(now, device, sockets);
    }

    /// The node's work without polling the interface: for a caller that runs
    /// `iface.poll` itself (call this after it, and poll again to send).
    #[inline(never)]
    pub fn process(&mut self, iface: &mut Interface, sockets: &mut SocketSet<'_>, now: Instant) {
        let t = core_instant(now);
        self.sync_interfaces(iface, t);
        self.udp_input(sockets, t);
        if self.beacon.poll_timeout().is_some_and(|d| d <= t) {
            self.beacon.handle_timeout(t);
        }
        self.udp_output(sockets, t);
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
        self.connect_clients(iface, sockets, t);
        for i in 0..SLOTS {
            self.drive_slot(i, sockets, t);
        }
    }

    /// When to call [`Self::poll`] next at the latest (`Some(now)`: at once).
    #[must_use]
    #[inline(never)]
    pub fn poll_at(
        &mut self,
        iface: &mut Interface,
        sockets: &SocketSet<'_>,
        now: Instant,
    ) -> Option<Instant> {
        let t = core_instant(now);
        let mut at = iface.poll_at(now, sockets);
        let mut earliest = |x: Instant| at = Some(at.map_or(x, |a| a.min(x)));
        if let Some(b) = self.beacon.poll_timeout() {
            earliest(smol_instant(b.max(t)));
        }
        if !self.queue.is_empty() {
            earliest(now);
        }
        for client in self.clients.iter().flatten() {
            let resolvable = match &client.target {
                Target::Address(_) => true,
                Target::Name(n) => self.beacon.lookup(n, t).is_some(),
            };
            if client.slot.is_none() && resolvable {
                earliest(smol_instant(client.retry_at.max(t)));
            }
        }
        for slot in &self.slots {
            let socket = sockets.get::<tcp::Socket>(slot.handle);
            match &slot.conn {
                Some(conn) => {
                    if let Some(d) = conn.poll_timeout() {
                        earliest(smol_instant(d.max(t)));
                    }
                    let input = socket.can_recv() && !slot.stalled && slot.ready == Ready::No;
                    let output = conn.has_output() && socket.can_send();
                    if input || output || conn.is_closed() {
                        earliest(now);
                    }
                }
                None => {
                    // A socket to (re)arm or a connection to set up.
                    let idle_service = matches!(slot.owner, Owner::Service(_)) && !socket.is_open();
                    if idle_service || socket.may_send() {
                        earliest(now);
                    }
                }
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

    // ---- internals ---------------------------------------------------------

    fn push(&mut self, q: Queued) {
        if self.queue.is_full() {
            self.queue.pop_front();
        }
        let _ = self.queue.push_back(q);
    }

    fn sync_interfaces(&mut self, iface: &Interface, t: CoreInstant) {
        let mut list: heapless::Vec<beacon::Interface, MAX_INTERFACES> = heapless::Vec::new();
        for cidr in iface.ip_addrs() {
            #[allow(irrefutable_let_patterns)]
            if let IpCidr::Ipv4(c) = cidr {
                let _ = list.push(beacon::Interface {
                    ip: c.address(),
                    prefix_len: c.prefix_len(),
                });
            }
        }
        if self.beacon.interfaces() == list.as_slice() {
            return;
        }
        self.beacon.set_interfaces(&list, t);
        // Names advertised before the interface had an address were recorded
        // here at 127.0.0.1: advertise them again to record the real one.
        let mut own: heapless::Vec<(Name, SocketAddr), MAX_SERVICES> = heapless::Vec::new();
        for (name, at) in self.beacon.advertised() {
            let mut n = Name::new();
            if n.push_str(name).is_ok() {
                let _ = own.push((n, SocketAddr::V4(at)));
            }
        }
        for (name, at) in own {
            let _ = self.beacon.advertise(&name, at, t);
        }
    }

    fn udp_input(&mut self, sockets: &mut SocketSet<'_>, t: CoreInstant) {
        let mut buf = [0u8; MAX_TRANSMIT];
        for handle in self.udp {
            let socket = sockets.get_mut::<udp::Socket>(handle);
            for _ in 0..UDP_PACKETS * 2 {
                match socket.recv_slice(&mut buf) {
                    Ok((n, meta)) => {
                        let source = SocketAddr::from(meta.endpoint);
                        if let Some(datagram) = buf.get(..n) {
                            // Malformed datagrams are dropped by the beacon.
                            let _ = self.beacon.handle_datagram(datagram, source, t);
                        }
                    }
                    Err(udp::RecvError::Truncated) => continue,
                    Err(_) => break,
                }
            }
        }
    }

    fn udp_output(&mut self, sockets: &mut SocketSet<'_>, t: CoreInstant) {
        let [advert, ext, query] = self.udp;
        let mut buf = [0u8; MAX_TRANSMIT];
        for _ in 0..64 {
            // Which socket the next datagram needs is known only once it is
            // written: go on only while every one has room.
            let room = self.udp.iter().all(|&h| {
                let s = sockets.get::<udp::Socket>(h);
                s.can_send()
                    && s.payload_send_capacity().saturating_sub(s.send_queue()) >= 2 * MAX_TRANSMIT
            });
            if !room {
                break;
            }
            let Some(tx) = self.beacon.poll_transmit(t, &mut buf) else {
                break;
            };
            if tx.destination.ip().is_loopback() {
                continue; // smoltcp has no loopback; only this host would hear it
            }
            let handle = match tx.kind {
                Kind::Query => query,
                Kind::Advert => advert,
                _ => ext,
            };
            if let (Some(data), Some(to)) = (buf.get(..tx.len), endpoint(tx.destination)) {
                // A full buffer loses this one; the beacon repeats adverts.
                let _ = sockets.get_mut::<udp::Socket>(handle).send_slice(data, to);
            }
        }
    }

    fn connect_clients(
        &mut self,
        iface: &mut Interface,
        sockets: &mut SocketSet<'_>,
        t: CoreInstant,
    ) {
        for (ci, client) in self.clients.iter_mut().enumerate() {
            let Some(client) = client else { continue };
            if client.slot.is_some() || t < client.retry_at {
                continue;
            }
            let remote = match &client.target {
                Target::Address(a) => Some(*a),
                Target::Name(n) => self.beacon.lookup(n, t),
            };
            let Some(remote) = remote.and_then(endpoint) else {
                continue;
            };
            let Some((si, slot)) = self
                .slots
                .iter_mut()
                .enumerate()
                .find(|(_, s)| s.owner == Owner::Free)
            else {
                continue;
            };
            let socket = sockets.get_mut::<tcp::Socket>(slot.handle);
            if socket.is_open() {
                socket.abort();
            }
            let local = self.next_port;
            self.next_port = if self.next_port == u16::MAX {
                EPHEMERAL_FIRST
            } else {
                self.next_port + 1
            };
            if socket.connect(iface.context(), remote, local).is_ok() {
                slot.owner = Owner::Client(ci as u8);
                slot.opened = true;
                slot.conn = None;
                client.slot = Some(si);
            }
        }
    }

    /// Socket lifecycle, then bytes in, timers, bytes out for one slot.
    #[inline(never)]
    fn drive_slot(&mut self, i: usize, sockets: &mut SocketSet<'_>, t: CoreInstant) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let socket = sockets.get_mut::<tcp::Socket>(slot.handle);
        let mut lost_client = None;
        match slot.owner {
            Owner::Free => {
                if socket.is_open() {
                    socket.abort();
                }
                slot.conn = None;
                slot.ready = Ready::No;
                return;
            }
            Owner::Service(s) => {
                let Some(Some(service)) = self.services.get(usize::from(s)) else {
                    return;
                };
                if !socket.is_open() || socket.state() == tcp::State::TimeWait {
                    if socket.is_open() {
                        socket.abort();
                    }
                    Self::reset(slot);
                    let _ = socket.listen(service.port);
                    return;
                }
                if slot.conn.is_none() && socket.may_send() {
                    let mut config = zmtp::Config::new(service.role);
                    config.as_server = true;
                    Self::start(slot, config, t);
                }
            }
            Owner::Client(c) => {
                let Some(Some(client)) = self.clients.get(usize::from(c)) else {
                    return;
                };
                if !socket.is_open() || socket.state() == tcp::State::TimeWait {
                    // Refused, reset or closed by the peer.
                    lost_client = Some(c);
                } else if slot.conn.is_none() && socket.may_send() {
                    Self::start(slot, zmtp::Config::new(client.role), t);
                    if let Some(conn) = slot.conn.as_mut() {
                        if client.role == Role::Sub {
                            let _ = conn.subscribe(&client.prefix);
                        }
                    }
                }
            }
        }
        if let Some(c) = lost_client {
            socket.abort();
            Self::reset(slot);
            slot.owner = Owner::Free;
            self.client_lost(c, t);
            return;
        }
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };

        // Bytes in, one event at a time.
        let mut connected = false;
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
            if slot.stalled || !socket.can_recv() || conn.is_closed() {
                break;
            }
            let fed = socket.recv(|bytes| match conn.handle_input(bytes, t) {
                Ok(n) => (n, Ok(n)),
                Err(e) => (0, Err(e)),
            });
            match fed {
                Ok(Ok(0)) if !conn.has_event() => {
                    slot.stalled = true; // REP owes a reply first
                    break;
                }
                Ok(Ok(_)) => {}
                _ => break, // the connection failed: flushed and closed below
            }
        }

        if conn.poll_timeout().is_some_and(|d| d <= t) {
            let _ = conn.handle_timeout(t);
        }
        // Bytes out.
        for _ in 0..4 {
            if !conn.has_output() || !socket.can_send() {
                break;
            }
            match socket.send_slice(conn.output()) {
                Ok(n) if n > 0 => conn.consume_output(n),
                _ => break,
            }
        }

        let peer_done = !socket.may_recv() && !socket.can_recv();
        let failed = conn.is_closed() && !conn.has_output();
        if (failed || peer_done) && slot.ready == Ready::No {
            socket.close();
            Self::reset(slot);
            if let Owner::Client(c) = slot.owner {
                slot.owner = Owner::Free;
                self.client_lost(c, t);
            }
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

    /// A client's connection ended or could not be made: reconnect after a
    /// pause (as libzmq does), telling the app if it had been connected.
    fn client_lost(&mut self, c: u8, t: CoreInstant) {
        let Some(Some(client)) = self.clients.get_mut(usize::from(c)) else {
            return;
        };
        client.slot = None;
        client.retry_at = t + RECONNECT;
        if mem::replace(&mut client.connected, false) {
            self.push(Queued::Disconnected(ClientId(c)));
        }
    }

    #[inline(never)]
    fn start(slot: &mut Slot<BUF>, config: zmtp::Config, t: CoreInstant) {
        slot.conn = Connection::new(config, [0; BUF], [0; BUF], t).ok();
        slot.generation = slot.generation.wrapping_add(1);
        slot.handshake_seen = false;
        slot.ready = Ready::No;
        slot.stalled = false;
        slot.sub_part = 0;
        slot.topic.clear();
    }

    fn reset(slot: &mut Slot<BUF>) {
        slot.conn = None;
        slot.ready = Ready::No;
        slot.stalled = false;
        slot.opened = false;
        slot.sub_part = 0;
    }
}

/// The IPv4 address a node's interface has, for logs and tests.
pub fn ipv4_of(iface: &Interface) -> Option<Ipv4Addr> {
    iface.ip_addrs().iter().find_map(|c| match c.address() {
        #[allow(unreachable_patterns)]
        IpAddress::Ipv4(a) => Some(a),
        #[allow(unreachable_patterns)]
        _ => None,
    })
}

/// Turns an address into smoltcp's form (handy when building an interface).
pub fn ip_address(ip: IpAddr) -> Option<IpAddress> {
    match ip {
        IpAddr::V4(v4) => Some(IpAddress::Ipv4(v4)),
        IpAddr::V6(_) => None,
    }
}
