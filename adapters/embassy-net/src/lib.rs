//! networkzero over [embassy-net]: discovery, request/reply and news for
//! Embassy firmware, with no heap, sharing the board's network stack with
//! everything else on it (an HTTP page, MQTT, NTP…).
//!
//! Two objects, each with one job: the sans-IO
//! [`networkzero_core::node::Node`] holds the protocol (discovery,
//! services, clients, events: every application call, all of it sync), and
//! this crate's [`Sockets`] holds its embassy-net UDP and TCP sockets and
//! moves datagrams, bytes and time between the two. Async lives here only.
//! One task owns both:
//!
//! ```no_run
//! # use networkzero_core::{beacon, node::{Event, Node}};
//! # use networkzero_embassy_net::{now, Config, Sockets, Storage};
//! # async fn robot(stack: embassy_net::Stack<'static>) -> Result<(), networkzero_core::node::Error> {
//! static STORAGE: static_cell::StaticCell<Storage<3>> = static_cell::StaticCell::new();
//! let mut node: Node<3> = Node::new(beacon::Config::default());
//! let mut sockets = Sockets::new(stack, STORAGE.init(Storage::new()), &node, Config::default())?;
//! node.serve("robot", 5555, 2, now())?; // REP on TCP 5555, two peers at once
//! loop {
//!     sockets.poll(&mut node).await; // one turn: never waits
//!     while let Some(event) = node.poll_event() {
//!         if let Event::Request { request, .. } = event {
//!             node.reply(request, br#""ack""#)?;
//!         }
//!     }
//!     sockets.wait(&node, None).await; // until a socket, the stack or a deadline needs us
//! }
//! # }
//! ```
//!
//! # The drain contract
//! After [`Sockets::poll`], drain the node's `poll_event` until `None` and
//! act on the events (replies, news and requests are queued at once and
//! sent on the next poll), then [`Sockets::wait`]. A message event stays in
//! its connection until polled: a node whose events are not drained stops
//! reading from that peer (TCP flow control), nothing is lost or copied.
//! The node's methods take the core's clock: [`now`].
//!
//! # What it takes from the stack
//! [`Sockets::COUNT`] sockets (three UDP, `SLOTS` TCP) of the stack's
//! `StackResources`; add them to what the rest of the firmware uses (and
//! one for DHCP). UDP needs the stack's `udp` feature, TCP its `tcp`
//! feature, and the node's address comes from `Stack::config_v4` (DHCP or
//! static): adverts carry it, and move with it when it changes.
//!
//! [`Sockets::wait`] registers this task for the stack's configuration
//! changes (embassy-net keeps one waker for them): another task waiting on
//! `Stack::wait_config_up`/`down` at the same time makes both tasks wake
//! each other until the configuration changes. Watch the configuration
//! from the task that drives the node.
//!
//! # Where datagrams go
//! Three UDP sockets: the Python-compatible beacon port 9999 (adverts go out
//! of it), the extension port 9997 (answers and goodbyes) and
//! [`Config::query_port`] for our own instant-discovery queries (answers
//! come back to it). Datagrams the beacon addresses to 127.255.255.255 are
//! dropped: embassy-net has no loopback.
//!
//! # Panics
//! None from network input.
//!
//! [embassy-net]: https://docs.rs/embassy-net
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

use embassy_net::tcp::TcpSocket;
use embassy_net::udp::UdpSocket;
use embassy_net::Stack;
use networkzero_core::node::{Error, Node};

mod drive;
mod wake;

/// The node's socket buffers: embassy-net's sockets are smoltcp's, so they
/// are the smoltcp adapter's (`Storage<SLOTS, TCP_BUF, UDP_BUF>`: `SLOTS`
/// TCP sockets of `TCP_BUF` bytes per direction, three UDP sockets of
/// `UDP_BUF` bytes to receive). embassy-net sockets borrow their buffers
/// for as long as they live: put it in a `static` (e.g. with `static_cell`)
/// or in the future of the task that owns the [`Sockets`].
pub use networkzero_smoltcp::{Storage, UDP_BYTES, UDP_PACKETS, UDP_SOCKETS, UDP_TX_BYTES};

/// Socket settings (the discovery ports are the node's, from its
/// `beacon::Config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// UDP port our discovery queries go out of (answers come back to it).
    /// Give each node on a LAN its own if you can; any free port works.
    pub query_port: u16,
}

impl Default for Config {
    fn default() -> Self {
        Config { query_port: 49999 }
    }
}

/// The core's clock (milliseconds) read from embassy-time: what the node's
/// methods take as `now`.
pub fn now() -> networkzero_core::Instant {
    networkzero_core::Instant::from_millis(embassy_time::Instant::now().as_millis())
}

/// A node's sockets on embassy-net: three UDP sockets and `SLOTS` TCP
/// sockets, one per TCP slot of a [`Node`] with the same `SLOTS`. It moves
/// datagrams, bytes and time between them and the node; the node is yours
/// (every application call is the node's). See the crate docs for the loop.
pub struct Sockets<'a, const SLOTS: usize> {
    stack: Stack<'a>,
    udp: [UdpSocket<'a>; UDP_SOCKETS],
    tcp: [TcpSocket<'a>; SLOTS],
}

impl<'a, const SLOTS: usize> Sockets<'a, SLOTS> {
    /// Sockets these take from the stack's `StackResources`.
    pub const COUNT: usize = UDP_SOCKETS + SLOTS;

    /// Opens the sockets on `stack` with the buffers in `storage` and binds
    /// the UDP ones to `node`'s discovery ports and [`Config::query_port`].
    /// `Err(Error::Bind)` if a port is taken (or 0).
    pub fn new<
        const TCP_BUF: usize,
        const UDP_BUF: usize,
        const BUF: usize,
        const ADVERTS: usize,
    >(
        stack: Stack<'a>,
        storage: &'a mut Storage<SLOTS, TCP_BUF, UDP_BUF>,
        node: &Node<SLOTS, BUF, ADVERTS>,
        config: Config,
    ) -> Result<Self, Error> {
        let (udp, tcp) = storage.split();
        let mut udp = udp.map(|b| UdpSocket::new(stack, b.rx_meta, b.rx, b.tx_meta, b.tx));
        let beacon = node.beacon().config();
        let ports = [beacon.beacon_port, beacon.ext_port, config.query_port];
        for (socket, port) in udp.iter_mut().zip(ports) {
            if port == 0 {
                return Err(Error::Bind);
            }
            socket.bind(port).map_err(|_| Error::Bind)?;
        }
        let tcp = tcp.map(|[rx, tx]| {
            let mut socket = TcpSocket::new(stack, rx, tx);
            // Requests and replies are small: send each at once.
            socket.set_nagle_enabled(false);
            socket
        });
        Ok(Sockets { stack, udp, tcp })
    }
}
