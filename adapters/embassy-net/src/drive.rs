//! One turn of the node's drive order over embassy-net's sockets.
//!
//! embassy-net offers listening, connecting, reading and writing as
//! futures. A turn runs inside one `poll_fn` and polls each such future
//! once with the task's context: its first poll does the work (listen,
//! connect, read or write what is there) and, when it cannot, registers
//! the task's waker with the socket; the future is then dropped. Nothing
//! in a turn waits.

use core::future::{poll_fn, Future};
use core::net::SocketAddr;
use core::pin::pin;
use core::task::{Context, Poll};

use embassy_net::tcp::{State, TcpSocket};
use embassy_net::IpEndpoint;
use networkzero_core::beacon;
use networkzero_core::node::{Node, SlotAction, MAX_DATAGRAM};
use networkzero_core::Instant;
use networkzero_smoltcp::SlotSocket;

use crate::{now, Sockets, UDP_PACKETS};

/// Polls `future` once with `cx`.
pub(crate) fn poll_once<F: Future>(future: F, cx: &mut Context<'_>) -> Poll<F::Output> {
    pin!(future).poll(cx)
}

/// IPv4 only: the adapter is built without embassy-net's IPv6.
fn endpoint(a: SocketAddr) -> Option<IpEndpoint> {
    match a {
        SocketAddr::V4(v4) => Some(IpEndpoint::from(v4)),
        SocketAddr::V6(_) => None,
    }
}

/// An embassy-net TCP socket as the smoltcp adapter's slot code sees it:
/// listening and reading are futures here, polled once with the task's
/// context (see the module docs).
struct Polled<'s, 'a, 'c> {
    socket: &'s mut TcpSocket<'a>,
    cx: &'s mut Context<'c>,
}

impl SlotSocket for Polled<'_, '_, '_> {
    fn is_open(&self) -> bool {
        !gone(self.socket)
    }
    fn abort(&mut self) {
        self.socket.abort();
    }
    fn listen(&mut self, port: u16) {
        // accept() listens on its first poll, then waits for a peer.
        let _ = poll_once(self.socket.accept(port), self.cx);
    }
    fn may_send(&self) -> bool {
        self.socket.may_send()
    }
    fn can_recv(&self) -> bool {
        self.socket.can_recv()
    }
    fn may_recv(&self) -> bool {
        self.socket.may_recv()
    }
    fn recv(&mut self, take: impl FnOnce(&[u8]) -> usize) -> usize {
        let read = self.socket.read_with(|bytes| {
            let n = take(bytes);
            (n, n)
        });
        match poll_once(read, self.cx) {
            Poll::Ready(Ok(n)) => n,
            _ => 0,
        }
    }
}

/// Whether a TCP socket has no connection (closed, or closed and waiting
/// out TIME-WAIT): it can take a new one.
pub(crate) fn gone(socket: &TcpSocket<'_>) -> bool {
    matches!(socket.state(), State::Closed | State::TimeWait)
}

impl<const SLOTS: usize> Sockets<'_, SLOTS> {
    /// One turn of the drive order: the stack's address, datagrams in,
    /// each TCP socket's state and bytes in, timers, datagrams out, bytes
    /// out, then closes and connects. Never waits. Then drain the node's
    /// `poll_event` and [`Self::wait`].
    pub async fn poll<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
    ) {
        poll_fn(|cx| {
            self.turn(node, cx);
            Poll::Ready(())
        })
        .await
    }

    #[inline(never)]
    fn turn<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        cx: &mut Context<'_>,
    ) {
        let t = now();
        self.sync_interface(node, t);
        self.udp_input(node, t, cx);
        for i in 0..SLOTS {
            self.slot_input(node, i, t, cx);
        }
        node.handle_timeout(t);
        self.udp_output(node, t, cx);
        for i in 0..SLOTS {
            self.slot_output(node, i, cx);
        }
        self.tcp_actions(node, t, cx);
    }

    /// The stack's IPv4 address (from DHCP or static), or none while it has
    /// none (link down, no lease yet).
    pub(crate) fn interface(&self) -> Option<beacon::Interface> {
        self.stack.config_v4().map(|c| beacon::Interface {
            ip: c.address.address(),
            prefix_len: c.address.prefix_len(),
        })
    }

    fn sync_interface<const BUF: usize, const ADVERTS: usize>(
        &self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        t: Instant,
    ) {
        match self.interface() {
            Some(interface) => node.set_interfaces(&[interface], t),
            None => node.set_interfaces(&[], t),
        }
    }

    fn udp_input<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        t: Instant,
        cx: &mut Context<'_>,
    ) {
        let mut buf = [0u8; MAX_DATAGRAM];
        for socket in &self.udp {
            for _ in 0..UDP_PACKETS * 2 {
                match socket.poll_recv_from(&mut buf, cx) {
                    Poll::Ready(Ok((n, meta))) => {
                        if let Some(datagram) = buf.get(..n) {
                            // Malformed datagrams are dropped by the beacon.
                            let source = SocketAddr::from(meta.endpoint);
                            let _ = node.handle_datagram(datagram, source, t);
                        }
                    }
                    Poll::Ready(Err(_)) => continue, // longer than any beacon datagram
                    Poll::Pending => break,
                }
            }
        }
    }

    fn udp_output<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        t: Instant,
        cx: &mut Context<'_>,
    ) {
        let mut buf = [0u8; MAX_DATAGRAM];
        for _ in 0..64 {
            // Which socket the next datagram needs is known only once it is
            // written: go on only while every send buffer is empty (it holds
            // two of the largest datagrams, UDP_TX_BYTES).
            let room = self
                .udp
                .iter_mut()
                .all(|s| poll_once(s.flush(), cx).is_ready());
            if !room {
                break;
            }
            let Some(tx) = node.poll_transmit(t, &mut buf) else {
                break;
            };
            if tx.destination.ip().is_loopback() {
                continue; // embassy-net has no loopback; only this host would hear it
            }
            let (Some(socket), Some(data), Some(to)) = (
                self.udp.get(tx.socket.index()),
                buf.get(..tx.len),
                endpoint(tx.destination),
            ) else {
                continue;
            };
            // No route (no address yet) loses this one; the beacon repeats adverts.
            let _ = socket.poll_send_to(data, to, cx);
        }
    }

    /// Socket lifecycle, then bytes in, for one slot.
    fn slot_input<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        i: usize,
        t: Instant,
        cx: &mut Context<'_>,
    ) {
        if let Some(socket) = self.tcp.get_mut(i) {
            networkzero_smoltcp::slot_input(node, i, &mut Polled { socket, cx }, t);
        }
    }

    /// Bytes out for one slot.
    fn slot_output<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        i: usize,
        cx: &mut Context<'_>,
    ) {
        let Some(socket) = self.tcp.get_mut(i) else {
            return;
        };
        for _ in 0..4 {
            if node.tcp_output(i).is_empty() || !socket.can_send() {
                break;
            }
            match poll_once(socket.write(node.tcp_output(i)), cx) {
                Poll::Ready(Ok(n)) if n > 0 => node.consume_output(i, n),
                _ => break,
            }
        }
    }

    /// Closes, aborts and connects sockets as the node asks.
    fn tcp_actions<const BUF: usize, const ADVERTS: usize>(
        &mut self,
        node: &mut Node<SLOTS, BUF, ADVERTS>,
        t: Instant,
        cx: &mut Context<'_>,
    ) {
        node.drain_tcp_actions(t, |node, slot, action| {
            let Some(socket) = self.tcp.get_mut(slot) else {
                return;
            };
            match action {
                SlotAction::Close => socket.close(),
                SlotAction::Abort => socket.abort(),
                SlotAction::Connect(remote) => {
                    if socket.state() != State::Closed {
                        socket.abort();
                    }
                    // connect() sends the SYN on its first poll (from an
                    // ephemeral port the stack picks), then waits for the
                    // handshake, which the next turns see.
                    let failed = match endpoint(remote) {
                        Some(to) => {
                            matches!(poll_once(socket.connect(to), cx), Poll::Ready(Err(_)))
                        }
                        None => true,
                    };
                    if failed {
                        node.handle_tcp_closed(slot, t);
                    }
                }
            }
        });
    }
}
