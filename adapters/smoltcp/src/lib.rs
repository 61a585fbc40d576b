//! networkzero over [smoltcp]: discovery, request/reply and news for
//! firmware with no `std`, no heap and no async.
//!
//! Two objects, each with one job: the sans-IO
//! [`networkzero_core::node::Node`] holds the protocol (discovery,
//! services, clients, events: every application call), and this crate's
//! [`Sockets`] holds its smoltcp UDP and TCP sockets and moves datagrams,
//! bytes and time between the two. You own both and call them from a plain
//! loop:
//!
//! ```no_run
//! # use networkzero_smoltcp::*;
//! # use networkzero_core::{beacon, node::{Event, Node}};
//! # use smoltcp::iface::{Interface, SocketSet, SocketStorage};
//! # fn clock() -> smoltcp::time::Instant { smoltcp::time::Instant::ZERO }
//! # fn run<D: smoltcp::phy::Device>(iface: &mut Interface, device: &mut D) -> Result<(), Error> {
//! let mut node: Node<4> = Node::new(beacon::Config::default());
//! let mut storage: Storage<4> = Storage::new();
//! let mut entries = [SocketStorage::EMPTY; Sockets::<4>::COUNT];
//! let mut set = SocketSet::new(&mut entries[..]);
//! let mut sockets = Sockets::new(&mut storage, &mut set, &node, Config::default())?;
//! node.serve("robot", 5555, 2, core_instant(clock()))?; // REP on TCP 5555, two peers at once
//! loop {
//!     let now = clock();
//!     sockets.poll(&mut node, iface, device, &mut set, now);
//!     while let Some(event) = node.poll_event() {
//!         if let Event::Request { request, .. } = event {
//!             node.reply(request, br#""ack""#)?;
//!         }
//!     }
//!     // sleep until sockets.poll_at(&node, iface, &set, now) or an interrupt
//!     # break;
//! }
//! # Ok(()) }
//! ```
//!
//! The node's methods take the core's [`CoreInstant`]: [`core_instant`]
//! turns smoltcp's clock into it.
//!
//! # The drain contract
//! After [`Sockets::poll`] (or [`Sockets::process`] if you poll the
//! interface yourself), drain the node's `poll_event` until `None`, act on
//! the events (replies, news, requests are queued at once and sent on the
//! next poll), then sleep until [`Sockets::poll_at`]. A message event stays
//! in its connection until polled: a node whose events are not drained
//! stops reading from that peer (TCP flow control), nothing is lost or
//! copied.
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
//! to [`Sockets::new`] makes smoltcp panic on an unknown socket handle.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use networkzero_core::beacon::{self, MAX_INTERFACES};
use networkzero_core::node::{Node, SlotAction, SlotUse, MAX_DATAGRAM};
pub use networkzero_core::Instant as CoreInstant;
use smoltcp::iface::{Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, IpCidr, IpEndpoint};

/// Why [`Sockets::new`] failed (the node's error type: `Error::Bind`).
pub use networkzero_core::node::Error;

/// Datagrams each UDP socket buffers on receive.
pub const UDP_PACKETS: usize = 8;
/// Bytes each UDP socket buffers on receive by default. A beacon datagram
/// is at most a few hundred bytes ([`MAX_DATAGRAM`]); boards short of RAM
/// can choose less with [`Storage`]'s `UDP_BUF` (at least `MAX_DATAGRAM`).
pub const UDP_BYTES: usize = 2048;
/// Bytes each UDP socket buffers for sending: twice the largest datagram
/// (smoltcp's ring may have to skip its tail to fit one). The node writes a
/// datagram only when this much is free, so a bigger buffer would never be
/// used.
pub const UDP_TX_BYTES: usize = 2 * MAX_DATAGRAM;
const UDP_TX_PACKETS: usize = 2;

/// UDP sockets a node uses: beacon, extension, query.
pub const UDP_SOCKETS: usize = 3;
const EPHEMERAL_FIRST: u16 = 49152;

type RxMeta = [udp::PacketMetadata; UDP_PACKETS];
type TxMeta = [udp::PacketMetadata; UDP_TX_PACKETS];

/// Socket buffers for a node with `SLOTS` TCP sockets of `TCP_BUF` bytes per
/// direction and three UDP sockets of `UDP_BUF` bytes to receive (and
/// [`UDP_TX_BYTES`] to send). Put it
/// where it outlives the [`SocketSet`] (a `static` on firmware, e.g. via
/// `static_cell`, or a local in `main`).
pub struct Storage<
    const SLOTS: usize,
    const TCP_BUF: usize = 1024,
    const UDP_BUF: usize = UDP_BYTES,
> {
    udp_rx_meta: [RxMeta; UDP_SOCKETS],
    udp_rx: [[u8; UDP_BUF]; UDP_SOCKETS],
    udp_tx_meta: [TxMeta; UDP_SOCKETS],
    udp_tx: [[u8; UDP_TX_BYTES]; UDP_SOCKETS],
    tcp: [[[u8; TCP_BUF]; 2]; SLOTS],
}

impl<const SLOTS: usize, const TCP_BUF: usize, const UDP_BUF: usize>
    Storage<SLOTS, TCP_BUF, UDP_BUF>
{
    /// Zeroed buffers.
    pub const fn new() -> Self {
        Storage {
            udp_rx_meta: [[udp::PacketMetadata::EMPTY; UDP_PACKETS]; UDP_SOCKETS],
            udp_rx: [[0; UDP_BUF]; UDP_SOCKETS],
            udp_tx_meta: [[udp::PacketMetadata::EMPTY; UDP_TX_PACKETS]; UDP_SOCKETS],
            udp_tx: [[0; UDP_TX_BYTES]; UDP_SOCKETS],
            tcp: [[[0; TCP_BUF]; 2]; SLOTS],
        }
    }
}

/// One UDP socket's buffers, lent out by [`Storage::split`].
pub struct UdpBuffers<'a> {
    /// Metadata of received datagrams ([`UDP_PACKETS`] of them).
    pub rx_meta: &'a mut [udp::PacketMetadata],
    /// Received datagrams' bytes.
    pub rx: &'a mut [u8],
    /// Metadata of datagrams to send.
    pub tx_meta: &'a mut [udp::PacketMetadata],
    /// Bytes of datagrams to send ([`UDP_TX_BYTES`]).
    pub tx: &'a mut [u8],
}

impl<'a> UdpBuffers<'a> {
    fn new<const UDP_BUF: usize>(
        rx_meta: &'a mut RxMeta,
        rx: &'a mut [u8; UDP_BUF],
        tx_meta: &'a mut TxMeta,
        tx: &'a mut [u8; UDP_TX_BYTES],
    ) -> Self {
        UdpBuffers {
            rx_meta,
            rx,
            tx_meta,
            tx,
        }
    }
}

impl<const SLOTS: usize, const TCP_BUF: usize, const UDP_BUF: usize>
    Storage<SLOTS, TCP_BUF, UDP_BUF>
{
    /// Lends the buffers out: the three UDP sockets' (beacon, extension,
    /// query) and each TCP slot's `[receive, send]`. [`Sockets::new`] uses
    /// it, and so does any adapter whose stack is smoltcp underneath
    /// (`networkzero-embassy-net`: embassy-net's sockets are smoltcp's).
    pub fn split(&mut self) -> ([UdpBuffers<'_>; UDP_SOCKETS], [[&mut [u8]; 2]; SLOTS]) {
        let Storage {
            udp_rx_meta,
            udp_rx,
            udp_tx_meta,
            udp_tx,
            tcp,
        } = self;
        let [m0, m1, m2] = udp_rx_meta.each_mut();
        let [r0, r1, r2] = udp_rx.each_mut();
        let [n0, n1, n2] = udp_tx_meta.each_mut();
        let [t0, t1, t2] = udp_tx.each_mut();
        let udp = [
            UdpBuffers::new(m0, r0, n0, t0),
            UdpBuffers::new(m1, r1, n1, t1),
            UdpBuffers::new(m2, r2, n2, t2),
        ];
        let tcp = tcp.each_mut().map(|[rx, tx]| [&mut rx[..], &mut tx[..]]);
        (udp, tcp)
    }
}

impl<const SLOTS: usize, const TCP_BUF: usize, const UDP_BUF: usize> Default
    for Storage<SLOTS, TCP_BUF, UDP_BUF>
{
    fn default() -> Self {
        Self::new()
    }
}

/// Socket settings (the discovery ports are the node's, from its
/// `beacon::Config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
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
            query_port: 49999,
            port_seed: 0,
        }
    }
}

/// Adds one TCP socket (kept out of line: smoltcp's socket is large, and
/// inlined into a loop its moves cost kilobytes of code).
#[inline(never)]
fn add_tcp<'a>(sockets: &mut SocketSet<'a>, rx: &'a mut [u8], tx: &'a mut [u8]) -> SocketHandle {
    let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
    socket.set_nagle_enabled(false);
    sockets.add(socket)
}

/// A node's sockets on smoltcp: three UDP sockets and `SLOTS` TCP sockets,
/// one per TCP slot of a [`Node`] with the same `SLOTS`. It moves
/// datagrams, bytes and time between them and the node; the node is yours
/// (every application call is the node's).
pub struct Sockets<const SLOTS: usize> {
    udp: [SocketHandle; UDP_SOCKETS],
    tcp: [SocketHandle; SLOTS],
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

impl<const SLOTS: usize> Sockets<SLOTS> {
    /// Entries the [`SocketSet`] needs for these sockets.
    pub const COUNT: usize = UDP_SOCKETS + SLOTS;

    /// Adds the sockets to `sockets` (which must have room for
    /// [`Self::COUNT`] more) using the buffers in `storage`, and binds the
    /// UDP ones to `node`'s discovery ports and the query port.
    #[inline(never)]
    pub fn new<
        'a,
        const TCP_BUF: usize,
        const UDP_BUF: usize,
        const BUF: usize,
        const ADVERTS: usize,
    >(
        storage: &'a mut Storage<SLOTS, TCP_BUF, UDP_BUF>,
        sockets: &mut SocketSet<'a>,
        node: &Node<SLOTS, BUF, ADVERTS>,
        config: Config,
    ) -> Result<Self, Error> {
        let (udp_buffers, tcp_buffers) = storage.split();
        let beacon = node.beacon().config();
        let ports = [beacon.beacon_port, beacon.ext_port, config.query_port];
        let mut udp = [None; UDP_SOCKETS];
        for ((b, port), out) in udp_buffers.into_iter().zip(ports).zip(udp.iter_mut()) {
            let mut socket = udp::Socket::new(
                udp::PacketBuffer::new(b.rx_meta, b.rx),
                udp::PacketBuffer::new(b.tx_meta, b.tx),
            );
            socket.bind(port).map_err(|_| Error::Bind)?;
            *out = Some(sockets.add(socket));
        }
        let [Some(a), Some(b), Some(c)] = udp else {
            return Err(Error::Bind);
        };
        let tcp = tcp_buffers.map(|[rx, tx]| add_tcp(sockets, rx, tx));
        Ok(Sockets {
            udp: [a, b, c],
            tcp,
            next_port: EPHEMERAL_FIRST + config.port_seed % (u16::MAX - EPHEMERAL_FIRST),
        })
    }

    // ---- driving -----------------------------------------------------------

    /// Polls the interface, does the node's work, and polls the interface
    /// again so replies leave at once. Then drain `poll_event`.
    pub fn poll<D: Device + ?Sized, const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        iface: &mut Interface,
        device: &mut D,
        sockets: &mut SocketSet<'_>,
        now: Instant,
    ) {
        let _ = iface.poll(now, device, sockets);
        self.process(node, iface, sockets, now);
        let _ = iface.poll(now, device, sockets);
    }

    /// The node's work without polling the interface: for a caller that runs
    /// `iface.poll` itself (call this after it, and poll again to send).
    #[inline(never)]
    pub fn process<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        iface: &mut Interface,
        sockets: &mut SocketSet<'_>,
        now: Instant,
    ) {
        let t = core_instant(now);
        sync_interfaces(node, iface, t);
        self.udp_input(node, sockets, t);
        for i in 0..SLOTS {
            self.slot_input(node, i, sockets, t);
        }
        node.handle_timeout(t);
        self.udp_output(node, sockets, t);
        for i in 0..SLOTS {
            self.slot_output(node, i, sockets);
        }
        self.tcp_actions(node, iface, sockets, t);
    }

    /// When to call [`Self::poll`] next at the latest (`Some(now)`: at once).
    #[must_use]
    #[inline(never)]
    pub fn poll_at<const BUF: usize, const ADVERTS: usize>(
        &self,
        node: &Node<SLOTS, BUF, ADVERTS>,
        iface: &mut Interface,
        sockets: &SocketSet<'_>,
        now: Instant,
    ) -> Option<Instant> {
        let t = core_instant(now);
        let mut at = iface.poll_at(now, sockets);
        let mut earliest = |x: Instant| at = Some(at.map_or(x, |a| a.min(x)));
        if let Some(d) = node.poll_timeout(t) {
            earliest(smol_instant(d));
        }
        for (i, &handle) in self.tcp.iter().enumerate() {
            let socket = sockets.get::<tcp::Socket>(handle);
            if node.has_connection(i) {
                let input = socket.can_recv() && node.wants_input(i);
                let output = !node.tcp_output(i).is_empty() && socket.can_send();
                if input || output {
                    earliest(now);
                }
            } else {
                // A socket to (re)arm or a connection to set up.
                let service = matches!(node.slot_use(i), Some(SlotUse::Service { .. }));
                if (service && !socket.is_open()) || socket.may_send() {
                    earliest(now);
                }
            }
        }
        at
    }

    // ---- internals ---------------------------------------------------------

    fn udp_input<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        sockets: &mut SocketSet<'_>,
        t: CoreInstant,
    ) {
        let mut buf = [0u8; MAX_DATAGRAM];
        for handle in self.udp {
            let socket = sockets.get_mut::<udp::Socket>(handle);
            for _ in 0..UDP_PACKETS * 2 {
                match socket.recv_slice(&mut buf) {
                    Ok((n, meta)) => {
                        let source = SocketAddr::from(meta.endpoint);
                        if let Some(datagram) = buf.get(..n) {
                            // Malformed datagrams are dropped by the beacon.
                            let _ = node.handle_datagram(datagram, source, t);
                        }
                    }
                    Err(udp::RecvError::Truncated) => continue,
                    Err(_) => break,
                }
            }
        }
    }

    fn udp_output<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        sockets: &mut SocketSet<'_>,
        t: CoreInstant,
    ) {
        let mut buf = [0u8; MAX_DATAGRAM];
        for _ in 0..64 {
            // Which socket the next datagram needs is known only once it is
            // written: go on only while every one has room, that is twice
            // the largest datagram (smoltcp's ring may skip its tail), which
            // is all of UDP_TX_BYTES: each send buffer is empty.
            let room = self.udp.iter().all(|&h| {
                let s = sockets.get::<udp::Socket>(h);
                s.can_send()
                    && s.payload_send_capacity().saturating_sub(s.send_queue()) >= UDP_TX_BYTES
            });
            if !room {
                break;
            }
            let Some(tx) = node.poll_transmit(t, &mut buf) else {
                break;
            };
            if tx.destination.ip().is_loopback() {
                continue; // smoltcp has no loopback; only this host would hear it
            }
            let (Some(&handle), Some(data), Some(to)) = (
                self.udp.get(tx.socket.index()),
                buf.get(..tx.len),
                endpoint(tx.destination),
            ) else {
                continue;
            };
            // A full buffer loses this one; the beacon repeats adverts.
            let _ = sockets.get_mut::<udp::Socket>(handle).send_slice(data, to);
        }
    }

    /// Socket lifecycle, then bytes in, for one slot.
    fn slot_input<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        i: usize,
        sockets: &mut SocketSet<'_>,
        t: CoreInstant,
    ) {
        if let Some(&handle) = self.tcp.get(i) {
            slot_input(node, i, sockets.get_mut::<tcp::Socket>(handle), t);
        }
    }

    /// Bytes out for one slot.
    fn slot_output<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        i: usize,
        sockets: &mut SocketSet<'_>,
    ) {
        let Some(&handle) = self.tcp.get(i) else {
            return;
        };
        let socket = sockets.get_mut::<tcp::Socket>(handle);
        for _ in 0..4 {
            let out = node.tcp_output(i);
            if out.is_empty() || !socket.can_send() {
                break;
            }
            match socket.send_slice(out) {
                Ok(n) if n > 0 => node.consume_output(i, n),
                _ => break,
            }
        }
    }

    /// Closes, aborts and connects sockets as the node asks.
    fn tcp_actions<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        iface: &mut Interface,
        sockets: &mut SocketSet<'_>,
        t: CoreInstant,
    ) {
        node.drain_tcp_actions(t, |node, slot, action| {
            let Some(&handle) = self.tcp.get(slot) else {
                return;
            };
            let socket = sockets.get_mut::<tcp::Socket>(handle);
            match action {
                SlotAction::Close => socket.close(),
                SlotAction::Abort => socket.abort(),
                SlotAction::Connect(remote) => {
                    if socket.is_open() {
                        socket.abort();
                    }
                    let local = self.next_port;
                    self.next_port = if self.next_port == u16::MAX {
                        EPHEMERAL_FIRST
                    } else {
                        self.next_port + 1
                    };
                    let ok = endpoint(remote)
                        .is_some_and(|to| socket.connect(iface.context(), to, local).is_ok());
                    if !ok {
                        node.handle_tcp_closed(slot, t);
                    }
                }
            }
        });
    }
}

fn sync_interfaces<const SLOTS: usize, const BUF: usize, const ADVERTS: usize>(
    node: &mut Node<SLOTS, BUF, ADVERTS>,
    iface: &Interface,
    t: CoreInstant,
) {
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
    node.set_interfaces(&list, t);
}

/// What [`slot_input`] needs of a slot's TCP socket: smoltcp's own, or
/// one seen through another stack built on smoltcp (embassy-net's).
pub trait SlotSocket {
    /// Whether it has a connection, or is setting one up or taking one
    /// down (smoltcp's `is_open`: neither CLOSED nor TIME-WAIT).
    fn is_open(&self) -> bool;
    /// Drops the connection at once.
    fn abort(&mut self);
    /// Waits for a peer on `port` (a failure shows as a closed socket next time).
    fn listen(&mut self, port: u16);
    /// Whether the connection is up for sending.
    fn may_send(&self) -> bool;
    /// Whether received bytes wait.
    fn can_recv(&self) -> bool;
    /// Whether more bytes may come (the peer has not finished).
    fn may_recv(&self) -> bool;
    /// Offers the waiting bytes to `take`, which returns how many it took;
    /// returns that (0 if none could be offered).
    fn recv(&mut self, take: impl FnOnce(&[u8]) -> usize) -> usize;
}

impl SlotSocket for tcp::Socket<'_> {
    fn is_open(&self) -> bool {
        tcp::Socket::is_open(self)
    }
    fn abort(&mut self) {
        tcp::Socket::abort(self)
    }
    fn listen(&mut self, port: u16) {
        let _ = tcp::Socket::listen(self, port);
    }
    fn may_send(&self) -> bool {
        tcp::Socket::may_send(self)
    }
    fn can_recv(&self) -> bool {
        tcp::Socket::can_recv(self)
    }
    fn may_recv(&self) -> bool {
        tcp::Socket::may_recv(self)
    }
    fn recv(&mut self, take: impl FnOnce(&[u8]) -> usize) -> usize {
        tcp::Socket::recv(self, |bytes| {
            let n = take(bytes);
            (n, n)
        })
        .unwrap_or(0)
    }
}

/// Step 2 of the node's drive order for TCP slot `i`, whose socket is
/// `socket`: re-arms a service's socket and reports closed ones, reports a
/// connection that came up, feeds the bytes that came in (and `&[]`, which
/// moves buffered events on) while the node takes them, and reports the
/// peer's end. Shared by this crate's [`Sockets`] and
/// `networkzero-embassy-net`'s.
#[inline(never)]
pub fn slot_input<S: SlotSocket, const SLOTS: usize, const BUF: usize, const ADVERTS: usize>(
    node: &mut Node<SLOTS, BUF, ADVERTS>,
    i: usize,
    socket: &mut S,
    t: CoreInstant,
) {
    let gone = !socket.is_open();
    match node.slot_use(i) {
        None => {
            if !gone {
                socket.abort();
            }
            return;
        }
        Some(SlotUse::Service { port, .. }) if gone => {
            node.handle_tcp_closed(i, t);
            socket.listen(port);
            return;
        }
        Some(SlotUse::Client(_)) if gone => {
            // Refused, reset or closed by the peer.
            socket.abort();
            node.handle_tcp_closed(i, t);
            return;
        }
        Some(_) => {
            if !node.has_connection(i) && socket.may_send() {
                node.handle_tcp_connected(i, t);
            }
        }
    }
    if !node.has_connection(i) {
        return;
    }
    for _ in 0..8 {
        let took = if socket.can_recv() {
            socket.recv(|bytes| node.handle_tcp_input(i, bytes, t))
        } else {
            node.handle_tcp_input(i, &[], t)
        };
        if took == 0 {
            break;
        }
    }
    if !socket.may_recv() && !socket.can_recv() {
        node.handle_tcp_eof(i);
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

/// The adapter driven as firmware drives it, in memory: an Ethernet hub of
/// bounded queues, smoltcp interfaces on 10.200.14.0/24 (nothing leaves the
/// process), a [`Node`] and [`Sockets`] per host, and a clock the test moves.
#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::string::String;
    use std::vec::Vec;

    use networkzero_core::node::{ClientId, Event, RequestId, ServiceId};
    use smoltcp::iface::{self, SocketStorage};
    use smoltcp::phy::{self, DeviceCapabilities, Medium};
    use smoltcp::time::Duration;
    use smoltcp::wire::{EthernetAddress, EthernetFrame, EthernetProtocol, Ipv4Packet};

    /// Frames each port's receive queue holds; a full queue drops, as a
    /// NIC's ring does.
    const QUEUE: usize = 64;
    /// TCP slots of each test node.
    const SLOTS: usize = 4;
    /// One turn of the test clock.
    const STEP: Duration = Duration::from_millis(5);
    /// Turns a test waits at most (20 s of test time).
    const ROUNDS: usize = 4000;

    // ---- the wire ------------------------------------------------------------

    /// An Ethernet hub: a frame one port sends lands in every other port's
    /// receive queue. `log` keeps every frame sent, for tests that look at
    /// the wire.
    #[derive(Default)]
    struct Hub {
        queues: Vec<VecDeque<Vec<u8>>>,
        log: Vec<Vec<u8>>,
    }

    /// One host's network card on the hub.
    struct Port {
        hub: Rc<RefCell<Hub>>,
        index: usize,
    }

    struct Rx(Vec<u8>);

    struct Tx {
        hub: Rc<RefCell<Hub>>,
        from: usize,
    }

    impl phy::RxToken for Rx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&self.0)
        }
    }

    impl phy::TxToken for Tx {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut frame = std::vec![0; len];
            let r = f(&mut frame);
            let mut hub = self.hub.borrow_mut();
            for (i, queue) in hub.queues.iter_mut().enumerate() {
                if i != self.from && queue.len() < QUEUE {
                    queue.push_back(frame.clone());
                }
            }
            hub.log.push(frame);
            r
        }
    }

    impl phy::Device for Port {
        type RxToken<'a> = Rx;
        type TxToken<'a> = Tx;

        fn receive(&mut self, _: Instant) -> Option<(Rx, Tx)> {
            let frame = self.hub.borrow_mut().queues[self.index].pop_front()?;
            Some((Rx(frame), self.tx()))
        }

        fn transmit(&mut self, _: Instant) -> Option<Tx> {
            Some(self.tx())
        }

        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = DeviceCapabilities::default();
            caps.medium = Medium::Ethernet;
            caps.max_transmission_unit = 1514;
            caps
        }
    }

    impl Port {
        fn tx(&self) -> Tx {
            Tx {
                hub: self.hub.clone(),
                from: self.index,
            }
        }
    }

    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, 14, n)
    }

    /// Host `n`'s interface on the hub: 10.200.14.n/24.
    fn interface(hub: &Rc<RefCell<Hub>>, n: u8, now: Instant) -> (Interface, Port) {
        let index = {
            let mut hub = hub.borrow_mut();
            hub.queues.push(VecDeque::new());
            hub.queues.len() - 1
        };
        let mut port = Port {
            hub: hub.clone(),
            index,
        };
        let mut config = iface::Config::new(EthernetAddress([2, 0, 0, 0, 14, n]).into());
        config.random_seed = u64::from(n);
        let mut iface = Interface::new(config, &mut port, now);
        iface.update_ip_addrs(|addrs| {
            addrs.push(IpCidr::new(ip(n).into(), 24)).unwrap();
        });
        (iface, port)
    }

    // ---- hosts ---------------------------------------------------------------

    /// What a host's application saw, owned.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Seen {
        Discovered(String, SocketAddr),
        Connected(ClientId),
        Disconnected(ClientId),
        Request(Vec<u8>),
        Reply(ClientId, Vec<u8>),
        News(ClientId, Vec<u8>, Vec<u8>),
        Other(String),
    }

    /// A board: node, sockets, interface, card. It answers every request
    /// with `ack ` and the request.
    struct Host {
        node: Box<Node<SLOTS>>,
        sockets: Sockets<SLOTS>,
        set: SocketSet<'static>,
        iface: Interface,
        port: Port,
        seen: Vec<Seen>,
        /// Switched off: no longer turned (a board without power).
        off: bool,
    }

    impl Host {
        fn new(hub: &Rc<RefCell<Hub>>, n: u8, now: Instant) -> Self {
            let (iface, port) = interface(hub, n, now);
            let node: Box<Node<SLOTS>> = Box::new(Node::new(beacon::Config::default()));
            let storage = Box::leak(Box::new(Storage::<SLOTS>::new()));
            let entries = Box::leak(Box::new([SocketStorage::EMPTY; Sockets::<SLOTS>::COUNT]));
            let mut set = SocketSet::new(&mut entries[..]);
            let config = Config {
                query_port: 49999,
                port_seed: u16::from(n) * 100,
            };
            let sockets = Sockets::new(storage, &mut set, &node, config).unwrap();
            Host {
                node,
                sockets,
                set,
                iface,
                port,
                seen: Vec::new(),
                off: false,
            }
        }

        /// One turn of the firmware loop: poll, then drain the events.
        fn turn(&mut self, now: Instant) {
            if self.off {
                return;
            }
            self.sockets.poll(
                &mut self.node,
                &mut self.iface,
                &mut self.port,
                &mut self.set,
                now,
            );
            while let Some(event) = self.node.poll_event() {
                let (seen, request) = own(event);
                if let (Some(request), Seen::Request(data)) = (request, &seen) {
                    let mut answer = b"ack ".to_vec();
                    answer.extend_from_slice(data);
                    self.node.reply(request, &answer).unwrap();
                }
                self.seen.push(seen);
            }
        }

        fn poll_at(&mut self, now: Instant) -> Option<Instant> {
            self.sockets
                .poll_at(&self.node, &mut self.iface, &self.set, now)
        }

        fn replies(&self, client: ClientId) -> Vec<&[u8]> {
            self.seen
                .iter()
                .filter_map(|s| match s {
                    Seen::Reply(c, data) if *c == client => Some(&data[..]),
                    _ => None,
                })
                .collect()
        }

        fn connected(&self, client: ClientId) -> bool {
            self.seen.contains(&Seen::Connected(client))
        }
    }

    fn own(event: Event<'_>) -> (Seen, Option<RequestId>) {
        let seen = match event {
            Event::Discovered { name, address } => {
                Seen::Discovered(String::from(name.as_str()), address)
            }
            Event::Connected { client } => Seen::Connected(client),
            Event::Disconnected { client } => Seen::Disconnected(client),
            Event::Request { request, data, .. } => {
                return (Seen::Request(data.to_vec()), Some(request))
            }
            Event::Reply { client, data, .. } => Seen::Reply(client, data.to_vec()),
            Event::News {
                client,
                topic,
                data,
            } => Seen::News(client, topic.to_vec(), data.to_vec()),
            other => Seen::Other(std::format!("{other:?}")),
        };
        (seen, None)
    }

    /// A peer that is not a node: one raw smoltcp TCP socket on its own
    /// interface, for bytes no networkzero peer would send.
    struct Raw {
        set: SocketSet<'static>,
        tcp: SocketHandle,
        iface: Interface,
        port: Port,
    }

    impl Raw {
        fn new(hub: &Rc<RefCell<Hub>>, n: u8, now: Instant) -> Self {
            let (iface, port) = interface(hub, n, now);
            let entries = Box::leak(Box::new([SocketStorage::EMPTY; 1]));
            let mut set = SocketSet::new(&mut entries[..]);
            let rx = Box::leak(Box::new([0u8; 1024]));
            let tx = Box::leak(Box::new([0u8; 1024]));
            let tcp = add_tcp(&mut set, &mut rx[..], &mut tx[..]);
            Raw {
                set,
                tcp,
                iface,
                port,
            }
        }

        fn socket(&mut self) -> &mut tcp::Socket<'static> {
            self.set.get_mut::<tcp::Socket>(self.tcp)
        }

        fn turn(&mut self, now: Instant) {
            let _ = self.iface.poll(now, &mut self.port, &mut self.set);
        }
    }

    /// Hosts and raw peers on one hub, and the clock.
    struct Net {
        hub: Rc<RefCell<Hub>>,
        hosts: Vec<Host>,
        raws: Vec<Raw>,
        now: Instant,
    }

    impl Net {
        /// `hosts` nodes at 10.200.14.1, .2, ...
        fn new(hosts: u8) -> Self {
            let hub = Rc::new(RefCell::new(Hub::default()));
            let now = Instant::from_secs(1);
            let hosts = (1..=hosts).map(|n| Host::new(&hub, n, now)).collect();
            Net {
                hub,
                hosts,
                raws: Vec::new(),
                now,
            }
        }

        fn add_raw(&mut self) -> usize {
            let n = u8::try_from(100 + self.raws.len()).unwrap();
            self.raws.push(Raw::new(&self.hub, n, self.now));
            self.raws.len() - 1
        }

        fn t(&self) -> CoreInstant {
            core_instant(self.now)
        }

        /// Turns every host and raw peer, then moves the clock one
        /// [`STEP`], until `done` (true) or [`ROUNDS`] turns (false).
        fn run_until(&mut self, done: impl FnMut(&mut Net) -> bool) -> bool {
            self.run_for(ROUNDS, done)
        }

        /// [`Self::run_until`] with another bound.
        fn run_for(&mut self, rounds: usize, mut done: impl FnMut(&mut Net) -> bool) -> bool {
            for _ in 0..rounds {
                for host in &mut self.hosts {
                    host.turn(self.now);
                }
                for raw in &mut self.raws {
                    raw.turn(self.now);
                }
                if done(self) {
                    return true;
                }
                self.now += STEP;
            }
            false
        }

        fn run(&mut self, rounds: usize) {
            let mut left = rounds;
            self.run_until(|_| {
                left -= 1;
                left == 0
            });
        }
    }

    /// Host `asker`'s requester `client` connects, sends `request` and
    /// gets a reply (each step within `Net::run_until`'s bound).
    fn connect_and_ask(net: &mut Net, asker: usize, client: ClientId, request: &[u8]) {
        assert!(net.run_until(|net| net.hosts[asker].connected(client)));
        net.hosts[asker].node.send(client, request).unwrap();
        assert!(net.run_until(|net| !net.hosts[asker].replies(client).is_empty()));
    }

    /// Host `asker` opens a requester to `robot`, sends it `"forward"` and
    /// waits for the answer; returns the requester.
    fn ask_robot(net: &mut Net, asker: usize) -> ClientId {
        let t = net.t();
        net.hosts[asker].seen.clear(); // client ids are reused
        let client = net.hosts[asker].node.requester("robot", t).unwrap();
        connect_and_ask(net, asker, client, br#""forward""#);
        assert_eq!(net.hosts[asker].replies(client), [&br#"ack "forward""#[..]]);
        client
    }

    /// A (host 0) serves `robot` on TCP 5555 for `peers` peers at once.
    fn serve_robot(net: &mut Net, peers: usize) -> ServiceId {
        let t = net.t();
        net.hosts[0].node.serve("robot", 5555, peers, t).unwrap()
    }

    // ---- what a board's user cares about ----------------------------------

    #[test]
    fn discovers_a_served_name_and_gets_its_reply() {
        let mut net = Net::new(2);
        serve_robot(&mut net, 2);
        let client = ask_robot(&mut net, 1);
        let a: SocketAddr = (ip(1), 5555).into();
        assert!(net.hosts[1]
            .seen
            .contains(&Seen::Discovered(String::from("robot"), a)));
        let requests: Vec<_> = net.hosts[0]
            .seen
            .iter()
            .filter(|s| matches!(s, Seen::Request(_)))
            .collect();
        assert_eq!(requests, [&Seen::Request(br#""forward""#.to_vec())]);
        assert_eq!(net.hosts[1].replies(client), [&br#"ack "forward""#[..]]);
        assert_eq!(net.hosts[1].node.lookup("robot", net.t()), Some(a));
    }
    #[test]
    fn news_reaches_a_subscriber_in_order() {
        let mut net = Net::new(2);
        let t = net.t();
        let news = net.hosts[0].node.publish_on("news", 5556, 2, t).unwrap();
        let client = net.hosts[1].node.subscriber("news", b"", t).unwrap();
        assert!(net
            .run_until(|net| net.hosts[1].connected(client) && net.hosts[0].node.peers(news) == 1));
        // The subscription travels after the handshake: let it arrive.
        net.run(50);
        let items: Vec<Vec<u8>> = (0..20).map(|i| std::format!("{i}").into_bytes()).collect();
        for (i, item) in items.iter().enumerate() {
            assert_eq!(net.hosts[0].node.publish(news, b"n", item), Ok(1));
            if i % 3 == 0 {
                net.run(1);
            }
        }
        let got = |net: &Net| -> Vec<Vec<u8>> {
            net.hosts[1]
                .seen
                .iter()
                .filter_map(|s| match s {
                    Seen::News(c, topic, data) if *c == client && topic == b"n" => {
                        Some(data.clone())
                    }
                    _ => None,
                })
                .collect()
        };
        assert!(net.run_until(|net| got(net).len() >= items.len()));
        net.run(50);
        assert_eq!(got(&net), items);
    }
    /// What no networkzero peer sends, each after what a peer may send
    /// first: not ZMTP at all; and after a valid ZMTP 3.0 NULL greeting, a
    /// command frame claiming 2^64-1 bytes.
    fn garbage() -> [(Vec<u8>, Vec<u8>); 2] {
        let mut greeting = std::vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0];
        greeting.extend_from_slice(b"NULL");
        greeting.resize(64, 0);
        let mut huge = std::vec![0x06]; // a long command frame
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        huge.resize(huge.len() + 64, b'x');
        [
            (Vec::new(), b"GET / HTTP/1.0\r\n\r\n".to_vec()),
            (greeting, huge),
        ]
    }

    #[test]
    fn a_peer_sending_garbage_is_dropped_while_another_is_served() {
        for (fine, bad) in garbage() {
            let mut net = Net::new(2);
            serve_robot(&mut net, 2);
            let client = ask_robot(&mut net, 1);
            let raw = net.add_raw();
            {
                let Raw {
                    set, tcp, iface, ..
                } = &mut net.raws[raw];
                let socket = set.get_mut::<tcp::Socket>(*tcp);
                socket
                    .connect(iface.context(), (ip(1), 5555), 40000)
                    .unwrap();
            }
            let ended = |net: &mut Net| {
                let state = net.raws[raw].socket().state();
                state == tcp::State::CloseWait || state == tcp::State::Closed
            };
            assert!(net.run_until(|net| net.raws[raw].socket().may_send()));
            // What may come first keeps the connection (for a second): it
            // is what follows that ends it.
            assert_eq!(net.raws[raw].socket().send_slice(&fine), Ok(fine.len()));
            net.run(200);
            assert!(!ended(&mut net));
            assert_eq!(net.raws[raw].socket().send_slice(&bad), Ok(bad.len()));
            // A ends that connection (FIN or RST).
            assert!(net.run_until(ended));
            // B's connection was left alone: a second request is answered.
            net.hosts[1].node.send(client, b"\"left\"").unwrap();
            assert!(net.run_until(|net| net.hosts[1].replies(client).len() == 2));
            assert_eq!(net.hosts[1].replies(client)[1], br#"ack "left""#);
            assert!(!net.hosts[1].seen.contains(&Seen::Disconnected(client)));
        }
    }

    // ---- what the adapter itself decides ------------------------------------

    #[test]
    fn nothing_addressed_to_loopback_goes_on_the_wire() {
        let mut net = Net::new(2);
        // With a route off the LAN (B answers ARP for it), smoltcp would
        // send a datagram for 127.255.255.255 out: only the adapter stops it.
        net.hosts[0]
            .iface
            .routes_mut()
            .add_default_ipv4_route(ip(2))
            .unwrap();
        serve_robot(&mut net, 2);
        net.run(1000); // 5 s: the first advert and two repeats
        let log = &net.hub.borrow().log;
        let destinations: Vec<Ipv4Addr> = log
            .iter()
            .filter_map(|frame| {
                let eth = EthernetFrame::new_checked(&frame[..]).ok()?;
                if eth.ethertype() != EthernetProtocol::Ipv4 {
                    return None;
                }
                Some(Ipv4Packet::new_checked(eth.payload()).ok()?.dst_addr())
            })
            .collect();
        assert!(destinations.contains(&Ipv4Addr::new(10, 200, 14, 255)));
        assert!(
            !destinations.iter().any(Ipv4Addr::is_loopback),
            "{destinations:?}"
        );
    }

    #[test]
    fn the_sockets_fill_a_set_of_count_entries() {
        assert_eq!(Sockets::<1>::COUNT, 4);
        assert_eq!(Sockets::<SLOTS>::COUNT, UDP_SOCKETS + SLOTS);
        let node: Box<Node<SLOTS>> = Box::new(Node::new(beacon::Config::default()));
        let storage = Box::leak(Box::new(Storage::<SLOTS>::new()));
        let entries = Box::leak(Box::new([SocketStorage::EMPTY; Sockets::<SLOTS>::COUNT]));
        let mut set = SocketSet::new(&mut entries[..]);
        let sockets = Sockets::new(storage, &mut set, &node, Config::default()).unwrap();
        assert_eq!(set.iter().count(), Sockets::<SLOTS>::COUNT);
        let ports: Vec<_> = sockets
            .udp
            .iter()
            .map(|&h| set.get::<udp::Socket>(h).endpoint().port)
            .collect();
        assert_eq!(ports, [9999, 9997, 49999]);
    }

    /// The firmware sleeps until `poll_at` (and, here, frames wake
    /// nobody): a loop that wakes only then, the clock jumping to the
    /// earliest host's, still discovers, connects, gets a reply and a burst
    /// of news. The application's commands are made after a turn and go out
    /// at the next wake, which `poll_at` must make at once (output waits);
    /// news items are read one a turn (each waits to be polled), so the
    /// rest must make it at once too (input waits). An advertising node
    /// never sleeps past the advert interval.
    #[test]
    fn waking_only_at_poll_at_is_enough() {
        let mut net = Net::new(2);
        serve_robot(&mut net, 2);
        let t = net.t();
        let news = net.hosts[0].node.publish_on("news", 5556, 1, t).unwrap();
        let client = net.hosts[1].node.requester("robot", t).unwrap();
        let subscriber = net.hosts[1].node.subscriber("news", b"", t).unwrap();
        let interval = beacon::Config::default().advert_interval;
        let interval = Duration::from_millis(interval.as_millis());
        let items: Vec<Vec<u8>> = (0..20).map(|i| std::format!("{i}").into_bytes()).collect();
        let got = |net: &Net| -> Vec<Vec<u8>> {
            net.hosts[1]
                .seen
                .iter()
                .filter_map(|s| match s {
                    Seen::News(c, _, data) if *c == subscriber => Some(data.clone()),
                    _ => None,
                })
                .collect()
        };
        let mut sent = false;
        let mut published_at = None;
        let mut wakes = 0;
        for _ in 0..ROUNDS {
            wakes += 1;
            for host in &mut net.hosts {
                host.turn(net.now);
            }
            if !sent && net.hosts[1].connected(client) {
                net.hosts[1].node.send(client, b"\"stop\"").unwrap();
                sent = true;
            }
            let replied = !net.hosts[1].replies(client).is_empty();
            if replied && published_at.is_none() && net.hosts[1].connected(subscriber) {
                for item in &items {
                    assert_eq!(net.hosts[0].node.publish(news, b"n", item), Ok(1));
                }
                published_at = Some(net.now);
            }
            if got(&net).len() == items.len() {
                break;
            }
            sleep_until_poll_at(&mut net, interval);
        }
        assert_eq!(net.hosts[1].replies(client), [&br#"ack "stop""#[..]]);
        assert_eq!(got(&net), items, "after {wakes} wakes");
        // All within one advert interval: no item waited for a wake that
        // only an advert would have brought.
        let took = net.now - published_at.unwrap();
        assert!(took < interval, "the burst took {took}");
        // With nothing left to do, the pair sleeps: within a few wakes the
        // clock reaches A's next advert (a poll_at that said "at once" for
        // an idle connection or a listening socket would spin here).
        let done_at = net.now;
        for _ in 0..20 {
            for host in &mut net.hosts {
                host.turn(net.now);
            }
            sleep_until_poll_at(&mut net, interval);
        }
        assert!(
            net.now >= done_at + interval / 2,
            "still awake at {} after the work was done at {done_at}",
            net.now
        );
    }

    /// Moves the clock to the earliest host's `poll_at`, as a board's sleep
    /// would; A (host 0) advertises, so it must wake for each advert (B
    /// only waits for its discovered names to lapse, later).
    fn sleep_until_poll_at(net: &mut Net, interval: Duration) {
        let now = net.now;
        let mut wake: Option<Instant> = None;
        for (i, host) in net.hosts.iter_mut().enumerate() {
            let at = host
                .poll_at(now)
                .expect("a node with a name has a deadline");
            if i == 0 {
                assert!(at <= now + interval, "{at} is past {now} + {interval}");
            }
            wake = Some(wake.map_or(at, |w| w.min(at)));
        }
        net.now = net.now.max(wake.unwrap());
    }

    #[test]
    fn a_closed_connection_frees_its_slot_for_the_next_peer() {
        let mut net = Net::new(3);
        let robot = serve_robot(&mut net, 1); // one peer at a time
        let first = ask_robot(&mut net, 1);
        assert_eq!(net.hosts[0].node.peers(robot), 1);
        assert!(net.hosts[1].node.close(first));
        assert!(net.run_until(|net| net.hosts[0].node.peers(robot) == 0));
        let second = ask_robot(&mut net, 2);
        assert_eq!(net.hosts[0].node.peers(robot), 1);
        // and once more, the first host again
        assert!(net.hosts[2].node.close(second));
        assert!(net.run_until(|net| net.hosts[0].node.peers(robot) == 0));
        ask_robot(&mut net, 1);
    }
    /// A peer that resets its connection (a board rebooting, a killed
    /// program: no FIN), and one that only says it is done sending (FIN)
    /// and stays, both free their slot for the next peer.
    #[test]
    fn a_reset_or_finished_connection_frees_its_slot_for_the_next_peer() {
        for reset in [true, false] {
            let mut net = Net::new(2);
            let robot = serve_robot(&mut net, 1); // one peer at a time
            let raw = net.add_raw();
            {
                let Raw {
                    set, tcp, iface, ..
                } = &mut net.raws[raw];
                let socket = set.get_mut::<tcp::Socket>(*tcp);
                socket
                    .connect(iface.context(), (ip(1), 5555), 40001)
                    .unwrap();
            }
            assert!(net.run_until(|net| net.raws[raw].socket().may_send()));
            if reset {
                net.raws[raw].socket().abort();
            } else {
                net.raws[raw].socket().close();
            }
            ask_robot(&mut net, 1);
            assert_eq!(net.hosts[0].node.peers(robot), 1, "reset: {reset}");
        }
    }

    /// A requester refused at first (nothing listens yet) keeps trying,
    /// and is served once the service starts.
    #[test]
    fn a_refused_requester_connects_once_the_service_starts() {
        let mut net = Net::new(2);
        let t = net.t();
        let a: SocketAddr = (ip(1), 5555).into();
        let client = net.hosts[1].node.requester(a, t).unwrap();
        net.run(100); // refused, again and again (RST)
        assert!(!net.hosts[1].connected(client));
        serve_robot(&mut net, 1);
        connect_and_ask(&mut net, 1, client, b"\"right\"");
    }

    /// A connect smoltcp refuses at once (no address yet: DHCP not done)
    /// is told to the node as a closed connection, so it tries again and
    /// connects once the board has its address.
    #[test]
    fn a_connect_refused_for_want_of_an_address_is_tried_again() {
        let mut net = Net::new(2);
        serve_robot(&mut net, 1);
        net.hosts[1].iface.update_ip_addrs(|addrs| addrs.clear());
        let t = net.t();
        let a: SocketAddr = (ip(1), 5555).into();
        let client = net.hosts[1].node.requester(a, t).unwrap();
        net.run(100);
        assert!(!net.hosts[1].connected(client));
        net.hosts[1].iface.update_ip_addrs(|addrs| {
            addrs.push(IpCidr::new(ip(2).into(), 24)).unwrap();
        });
        connect_and_ask(&mut net, 1, client, b"\"left\"");
    }

    /// Each connection goes out of its own local port, counting up from
    /// `Config::port_seed` and wrapping from 65535 to 49152, so two
    /// connections never share a four-tuple.
    #[test]
    fn connections_take_consecutive_local_ports_from_the_seed() {
        let mut net = Net::new(2);
        net.hosts[1].sockets.next_port = u16::MAX - 1;
        serve_robot(&mut net, 3);
        let t = net.t();
        let clients: Vec<ClientId> = (0..3)
            .map(|_| net.hosts[1].node.requester("robot", t).unwrap())
            .collect();
        assert!(net.run_until(|net| clients.iter().all(|&c| net.hosts[1].connected(c))));
        let host = &net.hosts[1];
        let mut ports: Vec<u16> = host
            .sockets
            .tcp
            .iter()
            .filter_map(|&h| host.set.get::<tcp::Socket>(h).local_endpoint())
            .map(|e| e.port)
            .collect();
        ports.sort_unstable();
        assert_eq!(ports, [EPHEMERAL_FIRST, u16::MAX - 1, u16::MAX]);
        // and the seed chooses the first
        let config = |port_seed| Config {
            query_port: 49999,
            port_seed,
        };
        let node: Box<Node<SLOTS>> = Box::new(Node::new(beacon::Config::default()));
        for (seed, first) in [(0, 49152), (7, 49159), (16382, 65534), (16383, 49152)] {
            let storage = Box::leak(Box::new(Storage::<SLOTS>::new()));
            let entries = Box::leak(Box::new([SocketStorage::EMPTY; Sockets::<SLOTS>::COUNT]));
            let mut set = SocketSet::new(&mut entries[..]);
            let sockets = Sockets::new(storage, &mut set, &node, config(seed)).unwrap();
            assert_eq!(sockets.next_port, first, "seed {seed}");
        }
    }

    /// The node's clock is smoltcp's: a name whose server goes silent lapses
    /// after its ttl (20 s), and not long before.
    #[test]
    fn a_silent_servers_name_lapses_after_its_ttl() {
        let mut net = Net::new(2);
        serve_robot(&mut net, 1);
        let t = net.t();
        net.hosts[1].node.discover("robot", t);
        let a: SocketAddr = (ip(1), 5555).into();
        let found = Seen::Discovered(String::from("robot"), a);
        assert!(net.run_until(|net| net.hosts[1].seen.contains(&found)));
        net.hosts[0].off = true;
        let off_at = net.now;
        let lost = |seen: &Seen| matches!(seen, Seen::Other(s) if s.starts_with("Lost"));
        assert!(net.run_for(2 * ROUNDS, |net| net.hosts[1].seen.iter().any(lost)));
        let after = net.now - off_at;
        assert!(
            after > Duration::from_secs(16) && after <= Duration::from_secs(22),
            "lost {after} after its server went silent"
        );
        assert_eq!(net.hosts[1].node.lookup("robot", net.t()), None);
    }

    #[test]
    fn an_interfaces_address_in_both_forms() {
        let hub = Rc::new(RefCell::new(Hub::default()));
        let (iface, _port) = interface(&hub, 9, Instant::ZERO);
        assert_eq!(ipv4_of(&iface), Some(ip(9)));
        assert_eq!(ip_address(IpAddr::V4(ip(9))), Some(IpAddress::Ipv4(ip(9))));
        assert_eq!(ip_address("::1".parse().unwrap()), None);
    }
}
