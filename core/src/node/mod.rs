//! A sans-IO networkzero node: discovery, request/reply and news over
//! abstract sockets.
//!
//! A [`Node`] owns a discovery [`Beacon`] and a set of the core's
//! [`socket`]s: a REP or PUB socket per service it serves,
//! a REQ or SUB socket per client (requester, subscriber) it opened, one
//! ZMTP connection per TCP slot. Every socket rule (who gets a request,
//! where a reply goes, what a slow subscriber misses, when to reconnect)
//! is the socket layer's; the node adds names, addresses and its events.
//! It has no sockets and no clock: a driver (the `Sockets` of the
//! `networkzero-embassy-net`, `networkzero-smoltcp` and
//! `networkzero-embedded-nal` crates) moves
//! datagrams and TCP bytes between it and a network stack, naming sockets
//! by index: three UDP sockets ([`UdpSocket`]) and `SLOTS` TCP slots
//! (`0..SLOTS`), plus one listener per service at [`Node::services`].
//!
//! # Methods by kind
//! - Application commands: [`Node::advertise`], [`Node::discover`],
//!   [`Node::serve`], [`Node::publish_on`], [`Node::requester`],
//!   [`Node::subscriber`], [`Node::send`], [`Node::reply`],
//!   [`Node::publish`], [`Node::close`]…
//! - Getters: [`Node::lookup`], [`Node::adverts`], [`Node::peers`],
//!   [`Node::is_connected`], [`Node::slot_use`], [`Node::tcp_output`]…
//! - Input (`handle_*`): [`Node::handle_datagram`],
//!   [`Node::handle_tcp_connected`], [`Node::handle_tcp_input`],
//!   [`Node::handle_tcp_eof`], [`Node::handle_tcp_closed`],
//!   [`Node::handle_timeout`], [`Node::set_interfaces`].
//! - Output (`poll_*`, `#[must_use]`): [`Node::poll_transmit`],
//!   [`Node::tcp_output`] + [`Node::consume_output`],
//!   [`Node::poll_tcp_action`], [`Node::poll_timeout`], [`Node::poll_event`].
//!
//! # The drive order
//! One turn of a driver's loop, all with the same `now`:
//! 1. every received datagram → [`Node::handle_datagram`];
//! 2. per slot: socket came up → [`Node::handle_tcp_connected`]; socket
//!    gone (reset, refused) → [`Node::handle_tcp_closed`]; bytes →
//!    [`Node::handle_tcp_input`] (call it with `&[]` too: it also moves
//!    buffered events on), repeating while it takes bytes; the peer finished
//!    and every byte was taken → [`Node::handle_tcp_eof`];
//! 3. [`Node::handle_timeout`];
//! 4. [`Node::poll_transmit`] until `None`;
//! 5. per slot: send [`Node::tcp_output`], then [`Node::consume_output`];
//! 6. [`Node::poll_tcp_action`] until `None` (close, abort, connect), or
//!    [`Node::drain_tcp_actions`] for the same, slot by slot;
//! 7. the application drains [`Node::poll_event`] until `None`;
//! 8. sleep until [`Node::poll_timeout`] or socket activity.
//!
//! A message event stays in its connection until polled: a node whose
//! events are not drained stops taking bytes from that peer (TCP flow
//! control), nothing is lost or copied.
//!
//! # Panics
//! None, from any input: no `unwrap`, no indexing, no recursion, no heap.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::advert::Name;
use crate::beacon::{self, Beacon, DatagramError, Kind, Received, MAX_INTERFACES, MAX_TRANSMIT};
use crate::socket::{self, Action, SocketId};
use crate::zmtp;
use crate::Instant;

mod clients;
mod error;
mod events;
mod ids;
#[cfg(feature = "curve")]
mod keyed;
mod services;
#[cfg(test)]
mod tests;

use clients::Client;
use events::News;
use services::Service;

pub use error::Error;
pub use events::Event;
pub use ids::{ClientId, Peer, RequestId, ServiceId};
#[cfg(feature = "curve")]
pub use keyed::KEY_RETRY;

/// Services (served or published names) a node can hold.
pub const MAX_SERVICES: usize = 4;
/// Longest news topic a subscriber keeps (longer ones are skipped).
pub const MAX_TOPIC: usize = 64;
/// Bytes of topics each connection keeps (length + 2 per topic): a served
/// PUB takes up to 128 bytes of subscriptions per subscriber (a dozen
/// short topics; more closes that connection), a subscriber needs one
/// prefix. REQ and REP do not use it; 1 KiB each would be wasted RAM.
pub const SUBSCRIPTIONS: usize = 128;
/// Once the length of the node's event queue. Connection events now wait
/// with their peers in the node's sockets and are never dropped; kept so
/// that drivers which re-export it still build.
pub const EVENT_QUEUE: usize = 8;
/// Largest datagram [`Node::poll_transmit`] writes.
pub const MAX_DATAGRAM: usize = MAX_TRANSMIT;
/// Longest message a connection reads and drops when it is larger than
/// `BUF` (answering a request with a [`crate::payload::ErrorReply`], see
/// [`Event::RequestTooLarge`]); a longer one closes the connection. Above
/// what any networkzero peer sends (the std crate's limit is 32 MiB).
pub const MAX_SKIPPED_MESSAGE: usize = 64 * 1024 * 1024;

/// The node's socket settings: the defaults, and messages over `BUF`
/// skipped and reported rather than closing their connection.
const fn settings() -> socket::Settings {
    let mut s = socket::Settings::new();
    s.max_skipped_message = MAX_SKIPPED_MESSAGE;
    s
}

/// Events and input chunks one [`Node::handle_tcp_input`] call handles.
const INPUT_STEPS: usize = 16;

/// Bytes of prefixes each of the node's sockets keeps: one subscriber
/// prefix of up to [`MAX_TOPIC`] bytes.
const TOPIC_STORE: usize = MAX_TOPIC + 2;

/// The node's sockets: services and clients, one TCP slot per peer (peer
/// index = slot), fixed storage.
type Sockets<const SLOTS: usize, const BUF: usize> =
    socket::Fixed<SLOTS, SLOTS, BUF, SUBSCRIPTIONS, TOPIC_STORE>;

/// The node's three UDP sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UdpSocket {
    /// Bound to the beacon port (9999): Python-compatible adverts leave it.
    Beacon,
    /// Bound to the extension port (9997): answers and goodbyes leave it.
    Ext,
    /// Bound to the node's query port: our queries leave it, answers come
    /// back to it.
    Query,
}

impl UdpSocket {
    /// 0, 1, 2 for beacon, extension, query (the order of [`Self::ALL`]).
    pub fn index(self) -> usize {
        match self {
            UdpSocket::Beacon => 0,
            UdpSocket::Ext => 1,
            UdpSocket::Query => 2,
        }
    }

    /// All three, in index order.
    pub const ALL: [UdpSocket; 3] = [UdpSocket::Beacon, UdpSocket::Ext, UdpSocket::Query];
}

/// A datagram to send: `buf[..len]` out of `socket` to `destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Which socket to send it from.
    pub socket: UdpSocket,
    /// Where to.
    pub destination: SocketAddr,
    /// Its length at the start of the buffer.
    pub len: usize,
}

/// What a TCP slot is for, from [`Node::slot_use`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotUse {
    /// Takes connections to a service's `port` (listen or accept for it).
    Service {
        /// Which service.
        service: ServiceId,
        /// Its TCP port.
        port: u16,
    },
    /// Kept by a requester or subscriber, connected or waiting to be.
    Client(ClientId),
}

/// What the driver must do to a TCP socket, from [`Node::poll_tcp_action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpAction {
    /// The conversation is over: close the slot's socket gracefully (after
    /// sending what it holds). A service slot then takes the next peer.
    Close {
        /// Which slot.
        slot: usize,
    },
    /// The application closed the client: drop the slot's socket at once.
    Abort {
        /// Which slot.
        slot: usize,
    },
    /// Open a connection from the slot to `remote`; then report
    /// [`Node::handle_tcp_connected`] or [`Node::handle_tcp_closed`].
    Connect {
        /// Which slot.
        slot: usize,
        /// Where to.
        remote: SocketAddr,
    },
}

/// What to do to one slot's TCP socket: a [`TcpAction`] without its slot
/// (see [`Node::poll_slot_action`], [`Node::drain_tcp_actions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotAction {
    /// Close the socket gracefully (after sending what it holds).
    Close,
    /// Drop the socket at once.
    Abort,
    /// Connect the socket to this address; then report
    /// [`Node::handle_tcp_connected`] or [`Node::handle_tcp_closed`].
    Connect(SocketAddr),
}

/// A networkzero node with `SLOTS` TCP slots shared by services and
/// outgoing connections, ZMTP buffers of `BUF` bytes per direction per
/// connection (the largest message part it can take), and room for
/// `ADVERTS` names heard from others. See the module docs for the drive
/// order. Each service keeps the slots it asked for, each requester or
/// subscriber one slot, for as long as they exist.
///
/// `BUF` must be at least [`zmtp::MIN_TX_BUFFER`] (256): a smaller one
/// would make a node whose connections never start, so it does not build.
///
/// ```
/// # use networkzero_core::{beacon, node::Node};
/// let _smallest: Node<1, 256> = Node::new(beacon::Config::default());
/// ```
/// ```compile_fail
/// # use networkzero_core::{beacon, node::Node};
/// let _too_small: Node<1, 255> = Node::new(beacon::Config::default());
/// ```
pub struct Node<const SLOTS: usize, const BUF: usize = 1024, const ADVERTS: usize = 16> {
    /// Discovery events wait here, one per remembered name.
    pub(crate) beacon: Beacon<ADVERTS, MAX_SERVICES, ADVERTS>,
    /// Every socket rule (routing, reconnects, deadlines) and each slot's
    /// connection; connection events and messages wait here.
    pub(crate) sockets: Sockets<SLOTS, BUF>,
    pub(crate) services: [Option<Service>; MAX_SERVICES],
    /// Requesters and subscribers, by socket index (their [`ClientId`]);
    /// each keeps a TCP slot, so there are never more than `SLOTS`.
    pub(crate) clients: [Option<Client>; SLOTS],
    /// A subscriber's news item while its data part comes.
    pub(crate) news: News,
    /// The class key on its connections, their seeds, refusals to tell.
    #[cfg(feature = "curve")]
    pub(crate) keyed: keyed::Keyed<SLOTS>,
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

impl<const SLOTS: usize, const BUF: usize, const ADVERTS: usize> Node<SLOTS, BUF, ADVERTS> {
    /// `BUF` must hold the handshake: a smaller one would build a node whose
    /// connections can never start, so it does not compile.
    const BUF_HOLDS_HANDSHAKE: () = assert!(
        BUF >= zmtp::MIN_TX_BUFFER && BUF >= zmtp::MIN_RX_BUFFER,
        "Node's BUF must be at least zmtp::MIN_TX_BUFFER (256) bytes"
    );

    /// A node with no services, no clients and no interface yet.
    #[inline(never)]
    pub fn new(config: beacon::Config) -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::BUF_HOLDS_HANDSHAKE;
        Node {
            beacon: Beacon::new(config),
            sockets: Sockets::new(settings()),
            services: core::array::from_fn(|_| None),
            clients: core::array::from_fn(|_| None),
            news: News::new(),
            #[cfg(feature = "curve")]
            keyed: keyed::Keyed::new(),
        }
    }

    // ---- interfaces ------------------------------------------------------

    /// Tells the node its IPv4 address and prefix length (24 for
    /// 255.255.255.0). Adverts then carry this address and go to the
    /// subnet's directed broadcast and 255.255.255.255.
    pub fn set_interface(&mut self, ip: Ipv4Addr, prefix_len: u8, now: Instant) {
        self.set_interfaces(&[beacon::Interface { ip, prefix_len }], now);
    }

    /// Like [`Self::set_interface`] for several interfaces, main one first
    /// (at most [`MAX_INTERFACES`]); an empty list forgets them. Nothing
    /// happens if the list is the one the node has.
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

    /// Seals the node's adverts with a class key and hears only its
    /// class's sealed adverts (`None`: no key). See [`crate::auth`]: a
    /// board with no wall clock ([`Self::set_wall_clock`]) learns its
    /// class's time from the first sealed advert it verifies and seals
    /// nothing (so advertises nothing) before; [`Beacon::wall_clock`] tells.
    #[cfg(feature = "class-key")]
    pub fn set_class_key(&mut self, key: Option<crate::auth::ClassKey>, now: Instant) {
        self.beacon.set_class_key(key);
        self.beacon.advertise_again(now);
    }

    /// Gives the node the wall-clock time (Unix milliseconds) at `now`, from
    /// SNTP or an RTC; only a class key needs it.
    #[cfg(feature = "class-key")]
    pub fn set_wall_clock(&mut self, now: Instant, unix_ms: u64) {
        self.beacon.set_wall_clock(now, unix_ms);
    }

    /// The discovery state machine, for anything not wrapped here.
    pub fn beacon(&self) -> &Beacon<ADVERTS, MAX_SERVICES, ADVERTS> {
        &self.beacon
    }

    // ---- UDP -------------------------------------------------------------

    /// Feeds a datagram received on any of the three UDP sockets from
    /// `source` (IPv4-mapped IPv6 sources are accepted). Malformed
    /// datagrams change nothing and come back as a typed error.
    pub fn handle_datagram(
        &mut self,
        datagram: &[u8],
        source: SocketAddr,
        now: Instant,
    ) -> Result<Received, DatagramError> {
        self.beacon.handle_datagram(datagram, unmap(source), now)
    }

    /// The next datagram to send, written to `buf`; `None` when there is none.
    #[must_use]
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8; MAX_DATAGRAM],
    ) -> Option<Transmit> {
        let tx = self.beacon.poll_transmit(now, buf)?;
        let socket = match tx.kind {
            Kind::Advert => UdpSocket::Beacon,
            Kind::Query => UdpSocket::Query,
            _ => UdpSocket::Ext,
        };
        Some(Transmit {
            socket,
            destination: tx.destination,
            len: tx.len,
        })
    }

    // ---- time ------------------------------------------------------------

    /// Runs the beacon's and every connection's timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.beacon.poll_timeout().is_some_and(|d| d <= now) {
            self.beacon.handle_timeout(now);
        }
        self.sockets.handle_timeout(now);
    }

    /// When the node next has work without new input: `Some(now)` for at
    /// once, `None` for never. A driver adds its sockets' own readiness.
    #[must_use]
    #[inline(never)]
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        let mut at: Option<Instant> = None;
        let mut earliest = |x: Instant| {
            let x = x.max(now);
            at = Some(at.map_or(x, |a| a.min(x)));
        };
        if let Some(b) = self.beacon.poll_timeout() {
            earliest(b);
        }
        if let Some(t) = self.sockets.poll_timeout() {
            earliest(t);
        }
        if self.sockets.has_events_where(|i| self.held(i)) || self.parked_resolvable(now).is_some()
        {
            earliest(now);
        }
        #[cfg(feature = "curve")]
        {
            if self.has_refusal() {
                earliest(now);
            }
            if let Some(t) = self.next_redial(now) {
                earliest(t);
            }
        }
        at
    }

    // ---- TCP -------------------------------------------------------------

    /// What slot `slot` is for; `None` if free (its socket should be closed).
    pub fn slot_use(&self, slot: usize) -> Option<SlotUse> {
        let socket = self.sockets.peer_socket(slot)?;
        if let Some((i, s)) = self.service_of(socket) {
            return Some(SlotUse::Service {
                service: ServiceId(i),
                port: s.port,
            });
        }
        self.clients.get(socket.index())?.as_ref()?;
        Some(SlotUse::Client(ClientId(
            u8::try_from(socket.index()).ok()?,
        )))
    }

    /// Whether the slot carries a ZMTP connection (since
    /// [`Self::handle_tcp_connected`]).
    pub fn has_connection(&self, slot: usize) -> bool {
        self.sockets.has_connection(slot)
    }

    /// Whether the slot's connection would take bytes now (no message
    /// waits for the application, no reply is owed, the peer has not
    /// finished). A driver may skip reading its socket when not.
    pub fn wants_input(&self, slot: usize) -> bool {
        self.sockets.wants_input(slot) && !self.news.waits(slot)
    }

    /// The slot's socket is connected (accepted, or an outgoing connect
    /// succeeded): starts a ZMTP connection on it (a new one if it had one),
    /// CURVE with the class keys if the node is keyed (feature `curve`).
    pub fn handle_tcp_connected(&mut self, slot: usize, now: Instant) {
        self.news.forget(slot);
        #[cfg(feature = "curve")]
        if let Some(secure) = self.secure(slot) {
            self.sockets.handle_connected_secured(slot, now, secure);
            return;
        }
        self.sockets.handle_connected(slot, now);
    }

    /// Feeds bytes received on the slot's socket; returns how many it took
    /// (the rest stay in the socket for a later call). Moves the
    /// connection's events on first, so call it with `&[]` when no bytes
    /// came too. Takes nothing while a message waits for
    /// [`Self::poll_event`] or a REP owes its reply.
    #[inline(never)]
    pub fn handle_tcp_input(&mut self, slot: usize, bytes: &[u8], now: Instant) -> usize {
        #[cfg(feature = "curve")]
        let before = self.sockets.error(slot);
        let mut used = 0;
        for _ in 0..INPUT_STEPS {
            self.take_topics(slot);
            let Some(rest) = bytes.get(used..).filter(|r| !r.is_empty()) else {
                break;
            };
            let n = self.sockets.handle_input(slot, rest, now);
            if n == 0 {
                break;
            }
            used += n;
        }
        self.take_topics(slot);
        #[cfg(feature = "curve")]
        self.check_refusal(slot, before, now);
        used
    }

    /// The peer finished sending (or the socket failed) and every byte it
    /// sent was fed in: the slot closes once its last message is polled.
    pub fn handle_tcp_eof(&mut self, slot: usize) {
        #[cfg(feature = "curve")]
        self.check_hangup(slot, None);
        self.sockets.handle_eof(slot);
    }

    /// The slot's socket is gone (refused, reset, closed, or a connect
    /// failed): its connection is forgotten; a client reconnects later, a
    /// service slot waits for its next peer.
    pub fn handle_tcp_closed(&mut self, slot: usize, now: Instant) {
        #[cfg(feature = "curve")]
        self.check_hangup(slot, Some(now));
        self.news.forget(slot);
        self.sockets.handle_closed(slot, now);
    }

    /// Bytes the slot's connection wants sent (empty if none); send what
    /// the socket takes and report it with [`Self::consume_output`].
    #[must_use]
    pub fn tcp_output(&self, slot: usize) -> &[u8] {
        self.sockets.output(slot)
    }

    /// `n` bytes of [`Self::tcp_output`] were sent.
    pub fn consume_output(&mut self, slot: usize, n: usize) {
        self.sockets.consume_output(slot, n);
    }

    /// The next thing to do to a TCP socket: aborts first, then closes,
    /// then connects; `None` when there is nothing.
    #[must_use]
    pub fn poll_tcp_action(&mut self, now: Instant) -> Option<TcpAction> {
        Some(match self.poll_slot_action(now)? {
            (slot, SlotAction::Close) => TcpAction::Close { slot },
            (slot, SlotAction::Abort) => TcpAction::Abort { slot },
            (slot, SlotAction::Connect(remote)) => TcpAction::Connect { slot, remote },
        })
    }

    /// [`Self::poll_tcp_action`] as the slot and what to do to its socket.
    #[must_use]
    #[inline(never)]
    pub fn poll_slot_action(&mut self, now: Instant) -> Option<(usize, SlotAction)> {
        while let Some(slot) = self.parked_resolvable(now) {
            self.sockets.redial(slot, now);
        }
        // Each pass takes an action; a connect whose name is not known yet
        // parks its client until it is.
        for _ in 0..SLOTS.saturating_add(1) {
            match self.sockets.poll_action(now)? {
                Action::Abort { peer } => return Some((peer, SlotAction::Abort)),
                Action::Close { peer } => return Some((peer, SlotAction::Close)),
                Action::Connect { socket, peer } => {
                    let client = self.clients.get(socket.index()).and_then(Option::as_ref);
                    #[cfg(feature = "curve")]
                    if self.held_back(peer, now) {
                        self.sockets.park(peer);
                        continue;
                    }
                    match client.and_then(|c| self.resolve(c, now)) {
                        Some(remote) => return Some((peer, SlotAction::Connect(remote))),
                        None => {
                            self.sockets.park(peer);
                        }
                    }
                }
            }
        }
        None
    }

    /// Step 6 of the drive order for a driver: takes every pending
    /// [`Self::poll_tcp_action`] (at most `3 × SLOTS` a call, so a turn is
    /// bounded) and hands `apply` the node, the slot and what to do to its
    /// socket. The driver only maps the slot to its socket (and reports a
    /// connect that fails at once with [`Self::handle_tcp_closed`]).
    #[inline]
    pub fn drain_tcp_actions(
        &mut self,
        now: Instant,
        mut apply: impl FnMut(&mut Self, usize, SlotAction),
    ) {
        for _ in 0..3 * SLOTS {
            let Some((slot, what)) = self.poll_slot_action(now) else {
                break;
            };
            apply(self, slot, what);
        }
    }

    // ---- internals ---------------------------------------------------------

    /// The service whose socket this is.
    pub(crate) fn service_of(&self, socket: SocketId) -> Option<(u8, &Service)> {
        self.services.iter().enumerate().find_map(|(i, s)| {
            let s = s.as_ref().filter(|s| s.socket == socket)?;
            Some((u8::try_from(i).ok()?, s))
        })
    }

    /// Whether slot `i` is a subscriber's whose events must wait: a news
    /// item of another slot is in the making.
    pub(crate) fn held(&self, i: usize) -> bool {
        self.sub_slot(i) && !self.news.assembling(i)
    }

    /// Whether slot `i` carries a subscriber.
    pub(crate) fn sub_slot(&self, i: usize) -> bool {
        self.sockets
            .peer_socket(i)
            .and_then(|s| self.clients.get(s.index()))
            .and_then(Option::as_ref)
            .is_some_and(|c| c.role == zmtp::Role::Sub)
    }
}
