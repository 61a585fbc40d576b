//! networkzero over any [`embedded_nal`] 0.9 stack: discovery, request/reply
//! and news for firmware with no `std`, no heap and no async.
//!
//! A [`Node`] owns a discovery [`Beacon`](networkzero_core::beacon::Beacon) and a fixed number of ZMTP
//! connections, and moves datagrams and bytes between them and the UDP and
//! TCP sockets of a stack implementing [`UdpFullStack`] and [`TcpFullStack`]
//! (a Wi-Fi modem driver, a W5500 driver, `std-embedded-nal` on a PC…). The
//! node holds the sockets; you keep the stack and lend it to every call that
//! does I/O. You call it from a plain loop:
//!
//! ```no_run
//! # use networkzero_embedded_nal::*;
//! # use networkzero_core::{beacon, node::{Event, Node}};
//! # fn clock() -> Instant { Instant::ZERO }
//! # fn run<S: Stack>(stack: &mut S) -> Result<(), Error> {
//! let mut node: Node<4> = Node::new(beacon::Config::default());
//! let mut sockets: Sockets<S, 4> = Sockets::new(stack, &node, Config::default())?;
//! let now = clock();
//! node.set_interface("192.168.1.20".parse().unwrap(), 24, now); // from your DHCP
//! node.serve("robot", 5555, 2, now)?;          // REP on TCP 5555, two peers at once
//! loop {
//!     let now = clock();
//!     sockets.poll(&mut node, stack, now);
//!     while let Some(event) = node.poll_event() {
//!         if let Event::Request { request, .. } = event {
//!             node.reply(request, br#""ack""#)?;
//!         }
//!     }
//!     // sleep until sockets.poll_at(&node, now) or an interrupt from the stack
//!     # break;
//! }
//! # Ok(()) }
//! ```
//!
//! Two objects, each with one job: the sans-IO
//! [`networkzero_core::node::Node`] holds the protocol (services, clients,
//! events, discovery: every application call), and this crate's [`Sockets`]
//! holds the stack's sockets and moves datagrams and bytes between them and
//! the node.
//!
//! # The drain contract
//! After [`Sockets::poll`], drain the node's `poll_event` until `None`, act on the
//! events (replies, news, requests are queued at once and sent on the next
//! poll), then sleep until [`Sockets::poll_at`]. A message event stays in its
//! connection until polled: a node whose events are not drained stops
//! reading from that peer (TCP flow control), nothing is lost or copied.
//!
//! embedded-nal has no readiness notification, so the node cannot know when
//! a datagram or bytes arrive: [`Sockets::poll_at`] is never later than
//! [`Config::poll_interval`] after `now`. Call [`Sockets::poll`] sooner when
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
//!   `Node::serve`) and up to `SLOTS` connected TCP sockets. A W5500 has 8
//!   hardware sockets in all: e.g. `SLOTS = 3` with one service.
//! - Nothing about interfaces: tell the node its IPv4 address with
//!   `Node::set_interface` (or `set_interfaces`) once the stack
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

use core::net::SocketAddr;

use embedded_nal::nb;
use embedded_nal::{TcpClientStack, TcpFullStack, UdpClientStack, UdpFullStack};
use networkzero_core::node::{Node, SlotAction, SlotUse, MAX_DATAGRAM, MAX_SERVICES};

/// Why [`Sockets::new`] failed (the node's error type: `Error::Bind`).
pub use networkzero_core::node::Error;
pub use networkzero_core::{Duration, Instant};

/// A network stack the node can run on: UDP and TCP, client and server.
/// Implemented for every type that implements both embedded-nal traits.
pub trait Stack: UdpFullStack + TcpFullStack {}

impl<T: UdpFullStack + TcpFullStack + ?Sized> Stack for T {}

/// Bytes read from a TCP socket at once per connection (kept until the
/// ZMTP connection takes them).
pub const INPUT_CHUNK: usize = 256;
/// How long an outgoing TCP connect may stay `WouldBlock` before it is
/// abandoned and retried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Wait before binding a service's listening socket again after a failure.
const RELISTEN: Duration = Duration::from_secs(1);
/// Datagrams read per UDP socket per poll, at most.
const UDP_READS: usize = 16;
/// Datagrams sent per poll, at most.
const UDP_SENDS: usize = 64;
/// Reads and feeds per TCP slot per poll, at most.
const TCP_STEPS: usize = 16;

/// Socket settings (the discovery ports are the node's, from its
/// `beacon::Config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// UDP port our discovery queries go out of (answers come back to it).
    /// Give each node on a host its own; any free port works.
    pub query_port: u16,
    /// Send the datagrams the beacon addresses to 127.255.255.255 (other
    /// networkzero programs on this host hear them). Only for stacks with a
    /// loopback interface (std); default `false`.
    pub loopback: bool,
    /// Longest [`Sockets::poll_at`] waits: the stack cannot say when data
    /// arrives, so the node looks this often (default 20 ms).
    pub poll_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            query_port: 49999,
            loopback: false,
            poll_interval: Duration::from_millis(20),
        }
    }
}

/// The stack's side of one TCP slot.
struct Slot<T> {
    /// The connected (or connecting) TCP socket.
    socket: Option<T>,
    /// `connect` said `WouldBlock`: ask again (to this address) until the
    /// deadline.
    connecting: Option<(Instant, SocketAddr)>,
    /// The peer closed its side (receive gave `Ok(0)` or an error).
    eof: bool,
    /// Bytes read from the socket the connection has not taken yet.
    input: [u8; INPUT_CHUNK],
    in_start: usize,
    in_end: usize,
}

impl<T> Slot<T> {
    fn new() -> Self {
        Slot {
            socket: None,
            connecting: None,
            eof: false,
            input: [0; INPUT_CHUNK],
            in_start: 0,
            in_end: 0,
        }
    }

    /// Forgets the stream state; returns the socket to close.
    fn reset(&mut self) -> Option<T> {
        self.connecting = None;
        self.eof = false;
        self.in_start = 0;
        self.in_end = 0;
        self.socket.take()
    }
}

/// A service's listening socket.
struct Listener<T> {
    socket: Option<T>,
    /// Do not try to listen again before this.
    retry_at: Instant,
}

/// A node's sockets on an embedded-nal stack `S`: 3 UDP sockets, one
/// listening TCP socket per service, up to `SLOTS` connected TCP sockets,
/// one per TCP slot of a [`Node`] with the same `SLOTS`. It moves
/// datagrams and bytes between them and the node; the node is yours (every
/// application call is the node's). Pass the same stack to every call that
/// takes one; [`Sockets::close_all`] gives the sockets back.
pub struct Sockets<S: Stack, const SLOTS: usize> {
    config: Config,
    /// Beacon port, extension port, query port.
    udp: [Option<S::UdpSocket>; 3],
    slots: [Slot<S::TcpSocket>; SLOTS],
    listeners: [Listener<S::TcpSocket>; MAX_SERVICES],
}

fn close_tcp<S: Stack + ?Sized>(stack: &mut S, socket: Option<S::TcpSocket>) {
    if let Some(s) = socket {
        // Nothing to do if closing fails: the socket is gone for us either way.
        let _ = TcpClientStack::close(stack, s);
    }
}

impl<S: Stack, const SLOTS: usize> Sockets<S, SLOTS> {
    /// Opens three UDP sockets on `stack` and binds them to `node`'s
    /// discovery ports and [`Config::query_port`]. TCP sockets are opened
    /// later, as services and clients need them.
    #[inline(never)]
    pub fn new<const BUF: usize, const ADVERTS: usize>(
        stack: &mut S,
        node: &Node<SLOTS, BUF, ADVERTS>,
        config: Config,
    ) -> Result<Self, Error> {
        let beacon = node.beacon().config();
        let ports = [beacon.beacon_port, beacon.ext_port, config.query_port];
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
        Ok(Sockets {
            config,
            udp,
            slots: core::array::from_fn(|_| Slot::new()),
            listeners: core::array::from_fn(|_| Listener {
                socket: None,
                retry_at: Instant::ZERO,
            }),
        })
    }

    /// Closes every socket it holds (UDP, listening and connected TCP)
    /// and gives the stack back its resources. Peers see the connections end.
    pub fn close_all(mut self, stack: &mut S) {
        for s in self.udp.iter_mut().filter_map(Option::take) {
            let _ = UdpClientStack::close(stack, s);
        }
        for listener in &mut self.listeners {
            close_tcp(stack, listener.socket.take());
        }
        for slot in &mut self.slots {
            close_tcp(stack, slot.reset());
        }
    }

    /// The settings it was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ---- driving ---------------------------------------------------------

    /// Moves datagrams and bytes between the stack and the node: reads
    /// every UDP socket, opens listening sockets and accepts, drives each
    /// TCP connection (bytes in), runs the timers, sends datagrams and
    /// bytes, then closes and connects sockets as the node asks. Then drain
    /// the node's `poll_event`.
    #[inline(never)]
    pub fn poll<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        stack: &mut S,
        now: Instant,
    ) {
        self.udp_input(node, stack, now);
        self.listen_and_accept(node, stack, now);
        for i in 0..SLOTS {
            self.slot_input(node, i, stack, now);
        }
        node.handle_timeout(now);
        self.udp_output(node, stack, now);
        for i in 0..SLOTS {
            self.slot_output(node, i, stack);
        }
        self.tcp_actions(node, stack, now);
    }

    /// When to call [`Self::poll`] next at the latest: `now` if work is
    /// waiting, never later than [`Config::poll_interval`] from `now` (the
    /// stack cannot say when data arrives).
    #[must_use]
    pub fn poll_at<const BUF: usize, const ADVERTS: usize>(
        &self,
        node: &Node<SLOTS, BUF, ADVERTS>,
        now: Instant,
    ) -> Instant {
        let mut at = now + self.config.poll_interval;
        let mut earliest = |x: Instant| at = at.min(x.max(now));
        if let Some(d) = node.poll_timeout(now) {
            earliest(d);
        }
        for (service, _) in node.services() {
            if let Some(l) = self.listeners.get(service.index()) {
                if l.socket.is_none() {
                    earliest(l.retry_at);
                }
            }
        }
        for (i, slot) in self.slots.iter().enumerate() {
            let staged = slot.in_start < slot.in_end && node.wants_input(i);
            if staged || !node.tcp_output(i).is_empty() {
                earliest(now);
            }
        }
        at
    }

    // ---- internals -------------------------------------------------------

    fn udp_input<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        stack: &mut S,
        t: Instant,
    ) {
        let mut buf = [0u8; MAX_DATAGRAM];
        for socket in self.udp.iter_mut().flatten() {
            for _ in 0..UDP_READS {
                match UdpClientStack::receive(stack, socket, &mut buf) {
                    Ok((n, source)) => {
                        if let Some(datagram) = buf.get(..n) {
                            // Malformed datagrams are dropped by the beacon.
                            let _ = node.handle_datagram(datagram, source, t);
                        }
                    }
                    Err(_) => break, // WouldBlock, or an error: try next poll
                }
            }
        }
    }

    fn udp_output<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        stack: &mut S,
        t: Instant,
    ) {
        let mut buf = [0u8; MAX_DATAGRAM];
        for _ in 0..UDP_SENDS {
            let Some(tx) = node.poll_transmit(t, &mut buf) else {
                break;
            };
            if tx.destination.ip().is_loopback() && !self.config.loopback {
                continue; // only this host would hear it, and it has no loopback
            }
            let (Some(Some(socket)), Some(data)) =
                (self.udp.get_mut(tx.socket.index()), buf.get(..tx.len))
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

    fn listen_and_accept<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        stack: &mut S,
        t: Instant,
    ) {
        let mut services = [None; MAX_SERVICES];
        for (out, s) in services.iter_mut().zip(node.services()) {
            *out = Some(s);
        }
        for (service, port) in services.into_iter().flatten() {
            let Some(listener) = self.listeners.get_mut(service.index()) else {
                continue;
            };
            if listener.socket.is_none() {
                if t < listener.retry_at {
                    continue;
                }
                listener.socket = TcpClientStack::socket(stack).ok().and_then(|mut s| {
                    let ok = TcpFullStack::bind(stack, &mut s, port).is_ok()
                        && TcpFullStack::listen(stack, &mut s).is_ok();
                    if ok {
                        Some(s)
                    } else {
                        let _ = TcpClientStack::close(stack, s);
                        None
                    }
                });
                if listener.socket.is_none() {
                    listener.retry_at = t + RELISTEN;
                    continue;
                }
            }
            for (i, slot) in self.slots.iter_mut().enumerate() {
                let mine = matches!(node.slot_use(i),
                    Some(SlotUse::Service { service: s, .. }) if s == service);
                if !mine || slot.socket.is_some() {
                    continue;
                }
                let Some(socket) = listener.socket.as_mut() else {
                    break;
                };
                match TcpFullStack::accept(stack, socket) {
                    Ok((socket, _peer)) => {
                        slot.reset();
                        slot.socket = Some(socket);
                        node.handle_tcp_connected(i, t);
                    }
                    Err(nb::Error::WouldBlock) => break,
                    Err(nb::Error::Other(_)) => {
                        // The listener failed: open a new one later.
                        close_tcp(stack, listener.socket.take());
                        listener.retry_at = t + RELISTEN;
                        break;
                    }
                }
            }
        }
    }

    /// Drops a slot's socket after it failed or could not connect.
    fn drop_slot<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        i: usize,
        stack: &mut S,
        t: Instant,
    ) {
        if let Some(slot) = self.slots.get_mut(i) {
            close_tcp(stack, slot.reset());
        }
        node.handle_tcp_closed(i, t);
    }

    /// A pending connect, then bytes in, for one slot.
    #[inline(never)]
    fn slot_input<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        i: usize,
        stack: &mut S,
        t: Instant,
    ) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if let (Some((deadline, remote)), Some(socket)) = (slot.connecting, slot.socket.as_mut()) {
            match TcpClientStack::connect(stack, socket, remote) {
                Ok(()) => {
                    slot.connecting = None;
                    node.handle_tcp_connected(i, t);
                }
                Err(nb::Error::WouldBlock) if t < deadline => return,
                Err(_) => return self.drop_slot(node, i, stack, t),
            }
        }
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let Some(socket) = slot.socket.as_mut() else {
            return;
        };
        if !node.has_connection(i) {
            return;
        }
        for _ in 0..TCP_STEPS {
            let staged = slot.input.get(slot.in_start..slot.in_end).unwrap_or(&[]);
            let had = staged.len();
            let took = node.handle_tcp_input(i, staged, t);
            slot.in_start += took;
            if slot.in_start >= slot.in_end {
                slot.in_start = 0;
                slot.in_end = 0;
            }
            if took > 0 {
                continue;
            }
            if had > 0 || slot.eof || !node.wants_input(i) {
                break;
            }
            match TcpClientStack::receive(stack, socket, &mut slot.input) {
                Ok(0) => {
                    slot.eof = true;
                    break;
                }
                Ok(n) => {
                    slot.in_start = 0;
                    slot.in_end = n.min(INPUT_CHUNK);
                }
                Err(nb::Error::WouldBlock) => break,
                Err(nb::Error::Other(_)) => {
                    slot.eof = true;
                    break;
                }
            }
        }
        if slot.eof && slot.in_start >= slot.in_end {
            node.handle_tcp_eof(i);
        }
    }

    /// Bytes out for one slot.
    fn slot_output<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        i: usize,
        stack: &mut S,
    ) {
        let Some(socket) = self.slots.get_mut(i).and_then(|s| s.socket.as_mut()) else {
            return;
        };
        for _ in 0..4 {
            let out = node.tcp_output(i);
            if out.is_empty() {
                break;
            }
            match TcpClientStack::send(stack, socket, out) {
                Ok(n) if n > 0 => node.consume_output(i, n),
                Ok(_) | Err(nb::Error::WouldBlock) => break,
                Err(nb::Error::Other(_)) => {
                    // The socket failed: the slot closes once drained.
                    node.handle_tcp_eof(i);
                    break;
                }
            }
        }
    }

    /// Closes and connects sockets as the node asks.
    fn tcp_actions<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        stack: &mut S,
        t: Instant,
    ) {
        node.drain_tcp_actions(t, |node, slot, action| match action {
            SlotAction::Close | SlotAction::Abort => {
                if let Some(s) = self.slots.get_mut(slot) {
                    close_tcp(stack, s.reset());
                }
            }
            SlotAction::Connect(remote) => self.connect(node, slot, remote, stack, t),
        });
    }

    fn connect<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        i: usize,
        remote: SocketAddr,
        stack: &mut S,
        t: Instant,
    ) {
        let Ok(mut socket) = TcpClientStack::socket(stack) else {
            node.handle_tcp_closed(i, t);
            return;
        };
        let outcome = TcpClientStack::connect(stack, &mut socket, remote);
        let Some(slot) = self.slots.get_mut(i) else {
            close_tcp(stack, Some(socket));
            return;
        };
        close_tcp(stack, slot.reset());
        match outcome {
            Ok(()) => {
                slot.socket = Some(socket);
                node.handle_tcp_connected(i, t);
            }
            Err(nb::Error::WouldBlock) => {
                slot.socket = Some(socket);
                slot.connecting = Some((t + CONNECT_TIMEOUT, remote));
            }
            Err(nb::Error::Other(_)) => {
                close_tcp(stack, Some(socket));
                node.handle_tcp_closed(i, t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, SocketAddrV6};
    use networkzero_core::beacon;
    use networkzero_core::node::Event;

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

    type N = Node<2, 512, 4>;

    fn node(stack: &mut Fake) -> (N, Sockets<Fake, 2>) {
        let node = N::new(beacon::Config::default());
        let sockets = Sockets::new(stack, &node, Config::default()).unwrap();
        (node, sockets)
    }

    #[test]
    fn binds_the_three_udp_ports_or_gives_them_back() {
        let mut stack = Fake::default();
        let _both = node(&mut stack);
        assert_eq!(stack.ports, [9999, 9997, 49999]);

        let mut stack = Fake {
            refuse_port: Some(49999),
            ..Fake::default()
        };
        let r = Sockets::<Fake, 2>::new(
            &mut stack,
            &N::new(beacon::Config::default()),
            Config::default(),
        );
        assert!(matches!(r, Err(Error::Bind)));
        assert_eq!(stack.closed, 3, "every socket opened is closed again");
    }

    #[test]
    fn adverts_leave_the_beacon_port_and_queries_the_query_port() {
        let mut stack = Fake::default();
        let (mut node, mut sockets) = node(&mut stack);
        node.set_interface(Ipv4Addr::new(10, 0, 0, 5), 24, T0);
        node.serve("robot", 5555, 1, T0).unwrap();
        sockets.poll(&mut node, &mut stack, T0);
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
        sockets.poll(&mut node, &mut stack, T0);
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
        let mut node = N::new(beacon::Config::default());
        let mut sockets = Sockets::<Fake, 2>::new(&mut stack, &node, config).unwrap();
        node.serve("robot", 5555, 1, T0).unwrap();
        sockets.poll(&mut node, &mut stack, T0);
        let to: Vec<SocketAddr> = stack.sent.iter().map(|(_, d, _)| *d).collect();
        assert!(
            to.contains(&"127.255.255.255:9999".parse().unwrap()),
            "{to:?}"
        );
    }

    #[test]
    fn hears_python_adverts_from_mapped_addresses() {
        let mut stack = Fake::default();
        let (mut node, mut sockets) = node(&mut stack);
        let from = SocketAddr::V6(SocketAddrV6::new(
            Ipv4Addr::new(10, 0, 0, 7).to_ipv6_mapped(),
            9999,
            0,
            0,
        ));
        stack
            .inbox
            .push((0, from, br#"["py-echo", "10.0.0.7:1234", 20]"#.to_vec()));
        sockets.poll(&mut node, &mut stack, T0);
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
    fn poll_at_is_never_beyond_the_poll_interval() {
        let mut stack = Fake::default();
        let (mut node, mut sockets) = node(&mut stack);
        sockets.poll(&mut node, &mut stack, T0);
        let at = sockets.poll_at(&node, T0);
        assert!(at <= T0 + Config::default().poll_interval);
        let _ = node.requester("nobody", T0).unwrap();
        sockets.poll(&mut node, &mut stack, T0);
        assert!(sockets.poll_at(&node, T0) <= T0 + Config::default().poll_interval);
        sockets.close_all(&mut stack);
        assert_eq!(stack.closed, 3);
    }
}
