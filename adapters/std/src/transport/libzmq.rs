//! The libzmq transport (the default `libzmq` feature): each step of the
//! message calls on a `zmq` crate socket.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::refusal::{self, Refusal};
use super::spare::Spare;
use super::{
    Deadline, Endpoint, Received, Role, Subscribers, Transport, TransportSocket,
    NEWS_HIGH_WATER_MARK,
};
use networkzero_core::zmtp::curve::ClassKeys;
use networkzero_core::zmtp::ZmtpError;

use crate::address::Address;
use crate::error::{Error, Result};
use crate::wait;

/// A publish socket reads libzmq's command mailbox at least once every this
/// many news items. libzmq learns how far a subscriber's queue has drained from
/// notices its I/O thread posts every 500 items (half the high-water mark), and
/// a sending thread reads its notices at most once per 3 million CPU clock
/// ticks (about 1 ms). A publisher as fast as this one (several hundred
/// thousand items a second; Python's is about 40 thousand) would count up to
/// ~1200 items as still queued that the subscriber already has, and drop news
/// with only a hundred really waiting: a flow-controlled publisher, 2 windows
/// of 200 in flight, lost items within the first 2000. Asking for ZMQ_EVENTS
/// reads the notices at once, so the count is at most 499 + this behind.
const READ_CREDIT_EVERY: u64 = 32;

/// While publishing, a publish socket reads its monitor (connections come
/// and go, a keyed subscriber refused) at most once per this long, on an
/// item that reads the credit. Each read of an empty monitor is a `poll`
/// system call in libzmq: read with every credit, it took the publishing
/// thread from raw libzmq's 0.035 system calls per item to 0.067 (both
/// processes: 0.20 vs 0.16; flow-controlled news, `perf` counts). Connections
/// come far slower than this (libzmq's monitor queue holds about a
/// thousand events), the first item's wait reads it every time, and a
/// refusal's warning comes at most this late.
const READ_MONITOR_EVERY: Duration = Duration::from_millis(10);

/// How long a listening socket (REP, PUB) keeps sending what it queued
/// once closed — at exit, the bound of the flush (see
/// [`Socket::flush_and_close`]). Connecting sockets (REQ, SUB) drop theirs
/// at once: a REQ is reset after a lost reply and must not send its
/// request again.
const LINGER_MS: i32 = 1000;

/// libzmq's context: its I/O thread and every socket made in it.
pub(crate) struct Context {
    context: zmq::Context,
    /// Names the inproc endpoints of PUB sockets' monitors.
    monitors: AtomicU64,
    /// Set when the exit flush ends the context.
    ended: AtomicBool,
}

impl Transport for Context {
    fn start() -> Result<Self> {
        Ok(Context {
            context: zmq::Context::new(),
            monitors: AtomicU64::new(0),
            ended: AtomicBool::new(false),
        })
    }

    fn is_running(&self) -> bool {
        !self.ended.load(Ordering::Relaxed)
    }
}

fn zmq_error(doing: &str, address: Address, e: zmq::Error) -> Error {
    match e {
        zmq::Error::EADDRINUSE => Error::PortInUse {
            address: address.socket_addr(),
        },
        zmq::Error::EADDRNOTAVAIL => Error::NotLocal {
            address: address.socket_addr(),
        },
        zmq::Error::ETERM => Error::network(
            format!("{doing} {address}"),
            "networkzero has shut down: the program is exiting",
        ),
        other => Error::network(format!("{doing} {address}"), other),
    }
}

/// Binds `socket` to `endpoint`: with the listener already held for its
/// port (`crate::ports::HeldPorts`), libzmq takes that socket over
/// (ZMQ_USE_FD), so the port is never free between the search that held it
/// and this bind, and a peer already waiting in its backlog is accepted.
fn listen(
    socket: &mut zmq::Socket,
    endpoint: &str,
    held: Option<std::net::TcpListener>,
) -> zmq::Result<()> {
    #[cfg(unix)]
    if let Some(listener) = held {
        use std::os::fd::{AsRawFd, IntoRawFd};
        let fd: std::os::raw::c_int = listener.as_raw_fd();
        // SAFETY: `socket` is a live libzmq socket; ZMQ_USE_FD reads one
        // `int` from `fd`, which outlives the call.
        #[allow(unsafe_code)]
        let rc = unsafe {
            zmq_sys::zmq_setsockopt(
                socket.as_mut_ptr(),
                zmq_sys::ZMQ_USE_FD as std::os::raw::c_int,
                std::ptr::from_ref(&fd).cast(),
                std::mem::size_of::<std::os::raw::c_int>(),
            )
        };
        if rc != 0 {
            // SAFETY: reads libzmq's error number for this thread.
            #[allow(unsafe_code)]
            return Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }));
        }
        socket.bind(endpoint)?;
        // Bound: libzmq's listener owns the descriptor and closes it with
        // the socket. (A failed bind never reached the listener: ours
        // closes it then.)
        let _owned_by_libzmq = listener.into_raw_fd();
        return Ok(());
    }
    // Windows: ZMQ_USE_FD takes an `int`, not a SOCKET; let the port go
    // just before binding it.
    drop(held);
    socket.bind(endpoint)
}

/// The monitor events a publishing socket watches: its connections are
/// counted by the first two, and the third tells of a keyed subscriber
/// refused.
const MONITORED: [zmq::SocketEvent; 3] = [
    zmq::SocketEvent::ACCEPTED,
    zmq::SocketEvent::DISCONNECTED,
    zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
];

/// libzmq's `ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH`, the value of a
/// `HANDSHAKE_FAILED_PROTOCOL` event when the peer speaks CURVE and we NULL.
const MECHANISM_MISMATCH: u32 = 0x1100_0002;

/// A monitor event: its number and value (libzmq 4.3's first frame, a
/// little-endian u16 and u32). The second frame, the endpoint, names the
/// listening socket's own address for an accepted connection, never the
/// peer's: a listener cannot say who was refused.
fn event(parts: &[Vec<u8>]) -> Option<(u16, u32)> {
    let first = parts.first()?;
    let number = u16::from_le_bytes([*first.first()?, *first.get(1)?]);
    let value = u32::from_le_bytes(first.get(2..6)?.try_into().ok()?);
    Some((number, value))
}

/// Whether a monitor event says a peer spoke CURVE to our NULL (or the
/// other way round).
fn is_mechanism_mismatch(number: u16, value: u32) -> bool {
    number == zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL.to_raw() && value == MECHANISM_MISMATCH
}

/// Whether a publisher's wait for its subscribers ends, with `left` of
/// it: at once when they differ from what the caller has `seen` (the first
/// news item goes as soon as its subscriber has joined, not at the end of
/// its wait), else at the deadline.
fn wait_is_over(now: Subscribers, seen: Subscribers, left: Duration) -> bool {
    now != seen || left.is_zero()
}

/// A libzmq socket's file descriptor, as `zmq::Socket::get_fd` gives it
/// (the `zmq` crate does not export its name for it).
#[cfg(unix)]
type RawFd = std::os::unix::io::RawFd;
#[cfg(windows)]
type RawFd = std::os::windows::io::RawSocket;

/// Subscription notices read from a publishing socket per call, at most.
const NOTICES_PER_CALL: usize = 1024;

/// A libzmq socket.
pub(crate) struct Socket {
    socket: zmq::Socket,
    /// The other end of its monitor, where libzmq reports a publishing
    /// socket's connections (it reports no subscriptions there) and any
    /// socket's handshakes refused over the mechanism (a class key).
    monitor: Option<zmq::Socket>,
    /// Replying: the monitor's file descriptor, polled beside the socket
    /// while it waits for a request, so a refusal is told while the server
    /// waits, at no cost per message.
    monitor_fd: Option<RawFd>,
    /// Listening: a keyed peer's refusal was told. libzmq does not say which
    /// peer it was, so a listening socket tells it once.
    told_refusal: bool,
    /// What the socket listens on or connects to, as warnings name it.
    address: Address,
    /// Publishing: connections (accepted minus gone) and subscription
    /// notices seen.
    connections: usize,
    subscriptions: usize,
    /// Read messages' buffers, which the next messages' parts are copied
    /// into: receiving allocates nothing in steady state.
    spare: Spare,
    /// The receive timeout (`ZMQ_RCVTIMEO`, ms) last set: set again only
    /// when a call's differs (libzmq's default is -1, for ever).
    receive_timeout: i32,
    /// Publishing: when the monitor is next read ([`READ_MONITOR_EVERY`]).
    monitor_due: Instant,
}

impl Socket {
    /// Starts a monitor of these events: a publishing socket's connections
    /// are counted by it, a connecting one's refused handshakes told.
    fn monitor(&self, context: &Context, events: &[zmq::SocketEvent]) -> zmq::Result<zmq::Socket> {
        let n = context.monitors.fetch_add(1, Ordering::Relaxed);
        let endpoint = format!("inproc://networkzero-monitor-{n}");
        let events = events.iter().fold(0, |all, e| all | i32::from(e.to_raw()));
        self.socket.monitor(&endpoint, events)?;
        let pair = context.context.socket(zmq::PAIR)?;
        pair.set_linger(0)?;
        pair.connect(&endpoint)?;
        Ok(pair)
    }

    /// Publishing: reads what is waiting on the monitor (connections) and
    /// the socket itself (subscription notices, as XPUB gives them), at
    /// most [`NOTICES_PER_CALL`] of each. Reading the notices is what keeps
    /// XPUB's queue of them short: it is called on every publishing call
    /// that lets libzmq take in new ones. `notices`: whether the socket may
    /// have some (false when `ZMQ_EVENTS` just said it has none to read,
    /// sparing a try that costs a system call); `monitor`: whether to read
    /// the monitor too (see [`READ_MONITOR_EVERY`]).
    fn read_notices(&mut self, notices: bool, monitor: bool) {
        let mut mismatch = false;
        if let Some(monitor) = self.monitor.as_ref().filter(|_| monitor) {
            for _ in 0..NOTICES_PER_CALL {
                let Ok(parts) = monitor.recv_multipart(zmq::DONTWAIT) else {
                    break;
                };
                let Some((number, value)) = event(&parts) else {
                    continue;
                };
                if number == zmq::SocketEvent::ACCEPTED.to_raw() {
                    self.connections += 1;
                } else if number == zmq::SocketEvent::DISCONNECTED.to_raw() {
                    self.connections = self.connections.saturating_sub(1);
                }
                mismatch |= is_mechanism_mismatch(number, value);
            }
        }
        if mismatch {
            self.tell_listener_refusal(Role::Publish);
        }
        if !notices {
            return;
        }
        for _ in 0..NOTICES_PER_CALL {
            match self.socket.recv_bytes(zmq::DONTWAIT) {
                // 1 then the prefix: a subscription (0: its end).
                Ok(notice) if notice.first() == Some(&1) => self.subscriptions += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }

    /// Reads the monitor's events (at most [`NOTICES_PER_CALL`]): whether
    /// one was a handshake refused over the mechanism. For a socket whose
    /// monitor watches only that.
    fn refused(&self) -> bool {
        let Some(monitor) = &self.monitor else {
            return false;
        };
        let mut mismatch = false;
        for _ in 0..NOTICES_PER_CALL {
            let Ok(parts) = monitor.recv_multipart(zmq::DONTWAIT) else {
                break;
            };
            mismatch |= event(&parts).is_some_and(|(n, v)| is_mechanism_mismatch(n, v));
        }
        mismatch
    }

    /// Connecting, after a wait that got nothing: if the peer refused our
    /// handshake because it wants a class key, says so (libzmq would only
    /// have reconnected, in silence).
    fn tell_refusal(&self, address: Address) {
        if self.refused() {
            let why = Refusal::Failed(ZmtpError::MechanismMismatch);
            if let Some(text) = refusal::explain(Role::Request, false, address, why) {
                log::warn!("{text}");
            }
        }
    }

    /// Listening: a keyed peer was refused (libzmq with NULL ends a CURVE
    /// handshake in silence). Says so once for this socket, as libzmq does
    /// not say who the peer was.
    fn tell_listener_refusal(&mut self, role: Role) {
        if self.told_refusal {
            return;
        }
        self.told_refusal = true;
        let why = Refusal::Failed(ZmtpError::MechanismMismatch);
        let peer = format!("a program (connecting to {})", self.address);
        if let Some(text) = refusal::explain(role, false, peer, why) {
            log::warn!("{text}");
        }
    }

    /// Publishing: the count as the message calls see it. A connection
    /// counts as subscribed once a notice came for it; notices do not say
    /// from whom, so one peer's second prefix counts like another's first.
    fn subscribers(&self) -> Subscribers {
        let joined = self.subscriptions.min(self.connections);
        Subscribers {
            joining: self.connections - joined,
            joined,
        }
    }
}

impl Socket {
    /// Replying: waits until the socket has something to read; false on
    /// timeout. Also wakes for the monitor's events (on `monitor_fd`),
    /// tells a refusal, and waits on.
    fn readable(
        &mut self,
        monitor_fd: RawFd,
        deadline: Option<Instant>,
        address: Address,
    ) -> Result<bool> {
        loop {
            let timeout = wait::remaining(deadline)
                .map_or(-1, |d| d.as_millis().min(i64::MAX as u128) as i64);
            let mut items = [
                self.socket.as_poll_item(zmq::POLLIN),
                zmq::PollItem::from_fd(monitor_fd, zmq::POLLIN),
            ];
            let polled = zmq::poll(&mut items, timeout);
            let (message, event) = (items[0].is_readable(), items[1].is_readable());
            if polled.is_ok() && event && !message {
                // Reading the monitor also clears its descriptor.
                if self.refused() {
                    self.tell_listener_refusal(Role::Reply);
                }
                if timeout == 0 {
                    return Ok(false);
                }
                continue;
            }
            match polled.map(|_| message) {
                Ok(readable) => return Ok(readable),
                // A signal (Ctrl-C being handled, say): keep waiting until the deadline.
                Err(zmq::Error::EINTR) if timeout != 0 => continue,
                Err(zmq::Error::EINTR) => return Ok(false),
                Err(e) => return Err(zmq_error("waiting on", address, e)),
            }
        }
    }
}

impl Socket {
    /// A message's parts, copied out of libzmq's message into spare
    /// buffers (see [`Spare`]): `zmq_msg_more` says whether another part
    /// follows (the `zmq` crate's `recv_multipart` asks
    /// `getsockopt(ZMQ_RCVMORE)` for that and allocates every part).
    #[inline]
    fn receive_parts(&mut self, flags: i32) -> zmq::Result<Vec<Vec<u8>>> {
        let mut message = zmq::Message::new();
        let mut parts = self.spare.list();
        // Bounded by the message: libzmq hands over a whole message's
        // parts or none, within the socket's maximum message size.
        loop {
            if let Err(e) = self.socket.recv(&mut message, flags) {
                self.spare.keep(parts);
                return Err(e);
            }
            parts.push(self.spare.part(&message));
            if !message.get_more() {
                return Ok(parts);
            }
        }
    }

    /// REQ and SUB: [`TransportSocket::receive`] as one blocking receive
    /// with the time left as libzmq's receive timeout, as a plain libzmq
    /// program waits: something queued is taken at once, and an empty
    /// queue costs libzmq one poll of its mailbox. (A non-blocking try,
    /// then `zmq_poll`, made four polls of each wait: with news, 2.5 times
    /// raw libzmq's system calls per item.)
    ///
    /// A call whose deadline is still unread (a SUB's: a REQ counts its
    /// wait from the request) first takes what is queued, without waiting:
    /// an item already there, the usual case in a news loop, then costs no
    /// clock reading (raw libzmq's loop reads none either). Only an empty
    /// queue starts the deadline, so a call's wait counts from the first
    /// time it finds nothing queued, not from items it took and skipped
    /// before (at most a queue's worth, taken at once). That try costs
    /// libzmq one more poll of its mailbox when the queue is empty: the
    /// call waits then anyway.
    fn receive_blocking(
        &mut self,
        deadline: &mut Deadline,
        address: Address,
    ) -> Result<Option<Received<LastSender>>> {
        if deadline.is_unread() {
            match self.receive_parts(zmq::DONTWAIT) {
                Ok(parts) => {
                    return Ok(Some(Received {
                        parts,
                        from: LastSender,
                    }))
                }
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => {}
                Err(e) => return Err(zmq_error("receiving from", address, e)),
            }
        }
        // Each pass returns, or waits until the deadline or a signal.
        loop {
            let timeout = receive_timeout(deadline.left());
            if timeout != self.receive_timeout {
                self.socket
                    .set_rcvtimeo(timeout)
                    .map_err(|e| zmq_error("receiving from", address, e))?;
                self.receive_timeout = timeout;
            }
            match self.receive_parts(0) {
                Ok(parts) => {
                    return Ok(Some(Received {
                        parts,
                        from: LastSender,
                    }))
                }
                // Timed out, or a signal (Ctrl-C being handled, say): waits
                // on until the deadline (libzmq's timeout is at most
                // i32::MAX ms, in whole ms).
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => {
                    if wait::remaining(deadline.get()).is_some_and(|left| left.is_zero()) {
                        self.tell_refusal(address);
                        return Ok(None);
                    }
                }
                Err(e) => return Err(zmq_error("receiving from", address, e)),
            }
        }
    }
}

/// The time left as libzmq's receive timeout: milliseconds, rounded up so
/// as not to wake before the deadline (then waiting on costs another pass);
/// -1 for ever.
fn receive_timeout(left: Option<Duration>) -> i32 {
    left.map_or(-1, |left| {
        let ms = left.as_nanos().div_ceil(1_000_000);
        i32::try_from(ms).unwrap_or(i32::MAX)
    })
}

/// Whom a REP answers: libzmq's REP remembers it itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LastSender;

impl TransportSocket for Socket {
    type Peer = LastSender;
    type Transport = Context;

    fn open(
        context: &Context,
        role: Role,
        endpoint: Endpoint,
        max_message: usize,
        address: Address,
        class: Option<&'static ClassKeys>,
    ) -> Result<Self> {
        if class.is_some() {
            // The vendored libzmq has no CURVE: never fall back to NULL
            // (`super::routed` sends keyed sockets to the pure transport).
            return Err(Error::ClassKeyUnsupported {
                address: address.to_string(),
            });
        }
        let kind = match role {
            Role::Request => zmq::REQ,
            Role::Reply => zmq::REP,
            // XPUB: a PUB that shows the subscriptions it receives (what
            // the first news item waits for); they are read and dropped.
            Role::Publish => zmq::XPUB,
            Role::Subscribe => zmq::SUB,
        };
        let socket = context
            .context
            .socket(kind)
            .map_err(|e| zmq_error("making a socket for", address, e))?;
        let configure = || -> zmq::Result<()> {
            socket.set_linger(if role.binds() { LINGER_MS } else { 0 })?;
            socket.set_maxmsgsize(i64::try_from(max_message).unwrap_or(i64::MAX))?;
            socket.set_sndhwm(NEWS_HIGH_WATER_MARK)?;
            socket.set_rcvhwm(NEWS_HIGH_WATER_MARK)?;
            if role == Role::Publish {
                // Every subscription, not only a prefix's first.
                socket.set_xpub_verbose(true)?;
            }
            Ok(())
        };
        configure().map_err(|e| zmq_error("configuring the socket for", address, e))?;
        let mut socket = Socket {
            socket,
            monitor: None,
            monitor_fd: None,
            told_refusal: false,
            address,
            connections: 0,
            subscriptions: 0,
            spare: Spare::default(),
            receive_timeout: -1,
            monitor_due: Instant::now(),
        };
        if role == Role::Publish {
            socket.monitor = Some(
                socket
                    .monitor(context, &MONITORED)
                    .map_err(|e| zmq_error("watching for subscribers of", address, e))?,
            );
        } else {
            let monitor = socket
                .monitor(context, &[zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL])
                .map_err(|e| zmq_error("watching the handshakes of", address, e))?;
            if role == Role::Reply {
                socket.monitor_fd = Some(
                    monitor
                        .get_fd()
                        .map_err(|e| zmq_error("watching the handshakes of", address, e))?,
                );
            }
            socket.monitor = Some(monitor);
            // libzmq signals the monitor's descriptor for an event only once
            // a read found its queue empty: read it, to nothing, now.
            socket.refused();
        }
        // Only now, with the monitor watching: libzmq tells a refused
        // handshake once and then gives the connection up for good, so an
        // event before the monitor started would be lost, and with it the
        // "wants a class key" warning (CI saw that under load).
        let Endpoint { at, held } = endpoint;
        let endpoint = format!("tcp://{at}");
        if role.binds() {
            listen(&mut socket.socket, &endpoint, held)
                .map_err(|e| zmq_error("listening on", address, e))?;
        } else {
            socket
                .socket
                .connect(&endpoint)
                .map_err(|e| zmq_error("connecting to", address, e))?;
        }
        Ok(socket)
    }

    /// Never blocks past the deadline: libzmq gives up a connection whose
    /// handshake the peer refused (a keyed server, say) and a REQ with no
    /// connection would block a plain send for ever.
    #[inline]
    fn request(
        &mut self,
        payload: Vec<u8>,
        deadline: &mut Deadline,
        address: Address,
    ) -> Result<bool> {
        loop {
            match self.socket.send(payload.as_slice(), zmq::DONTWAIT) {
                Ok(()) => {
                    // Copied into libzmq's message: ours to write again.
                    self.spare.keep_buffer(payload);
                    return Ok(true);
                }
                Err(zmq::Error::EAGAIN) => {}
                Err(e) => return Err(zmq_error("sending to", address, e)),
            }
            let timeout = wait::remaining(deadline.get())
                .map_or(-1, |d| d.as_millis().min(i64::MAX as u128) as i64);
            match self.socket.poll(zmq::POLLOUT, timeout) {
                Ok(n) if n > 0 => continue,
                Ok(_) => {
                    self.tell_refusal(address);
                    return Ok(false);
                }
                Err(zmq::Error::EINTR) if timeout != 0 => continue,
                Err(zmq::Error::EINTR) => return Ok(false),
                Err(e) => return Err(zmq_error("sending to", address, e)),
            }
        }
    }

    /// REQ and SUB wait in libzmq ([`Socket::receive_blocking`]). REP
    /// also watches its monitor: it takes what is queued without a clock
    /// reading, else polls both.
    #[inline]
    fn receive(
        &mut self,
        deadline: &mut Deadline,
        address: Address,
    ) -> Result<Option<Received<LastSender>>> {
        let Some(monitor_fd) = self.monitor_fd else {
            return self.receive_blocking(deadline, address);
        };
        // Each pass either returns or waits (with a shrinking timeout) first.
        loop {
            match self.receive_parts(zmq::DONTWAIT) {
                Ok(parts) => {
                    return Ok(Some(Received {
                        parts,
                        from: LastSender,
                    }))
                }
                Err(zmq::Error::EAGAIN) => {}
                Err(e) => return Err(zmq_error("receiving from", address, e)),
            }
            if !self.readable(monitor_fd, deadline.get(), address)? {
                self.tell_refusal(address);
                return Ok(None);
            }
        }
    }

    /// The parts go back to [`Socket::spare`] for the next message.
    #[inline]
    fn recycle(&mut self, parts: Vec<Vec<u8>>) {
        self.spare.keep(parts);
    }

    /// A buffer kept from a request or news item sent (libzmq copied it
    /// into its message), or from a message read: publishing then
    /// allocates nothing per item, where a new buffer cost ~80
    /// instructions to make room in, and its free. (A reply's buffer goes
    /// to libzmq, which frees it.)
    #[inline]
    fn buffer(&mut self) -> Vec<u8> {
        self.spare.buffer()
    }

    #[inline]
    fn reply(&mut self, _to: LastSender, payload: Vec<u8>, address: Address) -> Result<()> {
        self.socket
            .send(payload, 0)
            .map_err(|e| zmq_error("replying on", address, e))
    }

    #[inline]
    fn publish(&mut self, n: u64, topic: &str, payload: Vec<u8>, address: Address) -> Result<()> {
        if n.is_multiple_of(READ_CREDIT_EVERY) {
            // Reads libzmq's notices of what subscribers have taken (see
            // READ_CREDIT_EVERY), and says whether subscriptions wait.
            let events = self.socket.get_events();
            let now = Instant::now();
            let monitor = now >= self.monitor_due;
            if monitor {
                self.monitor_due = now + READ_MONITOR_EVERY;
            }
            self.read_notices(events.map_or(true, |e| e.contains(zmq::POLLIN)), monitor);
        }
        let sent = self
            .socket
            .send_multipart([topic.as_bytes(), payload.as_slice()], 0)
            .map_err(|e| zmq_error("publishing on", address, e));
        // Copied into libzmq's messages: the next item is written into it.
        self.spare.keep_buffer(payload);
        sent
    }

    #[inline]
    fn subscribe(&mut self, prefix: &[u8], address: Address) -> Result<()> {
        self.socket
            .set_subscribe(prefix)
            .map_err(|e| zmq_error("subscribing to", address, e))
    }

    /// Counts connections (the monitor) and subscriptions (XPUB's
    /// notices), waiting on both.
    fn subscribers(&mut self, seen: Subscribers, deadline: Instant) -> Subscribers {
        // Each pass reads what is waiting, then returns or waits once.
        loop {
            self.read_notices(true, true);
            let now = Socket::subscribers(self);
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(monitor) = &self.monitor else {
                return now;
            };
            if wait_is_over(now, seen, left) {
                return now;
            }
            let ms = i64::try_from(left.as_millis()).unwrap_or(i64::MAX).max(1);
            let mut items = [
                monitor.as_poll_item(zmq::POLLIN),
                self.socket.as_poll_item(zmq::POLLIN),
            ];
            if !matches!(zmq::poll(&mut items, ms), Ok(n) if n > 0) {
                // Timed out (or interrupted): the caller checks the deadline.
                return Socket::subscribers(self);
            }
        }
    }

    /// Closes the sockets (listening ones linger up to [`LINGER_MS`] to send
    /// what they queued), then ends the context, which waits for that; on
    /// a helper thread, as sockets other threads still hold keep it waiting
    /// (their calls fail with "the program is exiting").
    fn flush_and_close(context: &Context, sockets: Vec<Self>, deadline: Instant) {
        drop(sockets);
        context.ended.store(true, Ordering::Relaxed);
        let mut ending = context.context.clone();
        let (done, ended) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("networkzero-exit".into())
            .spawn(move || {
                let _ = ending.destroy();
                let _ = done.send(());
            });
        if spawned.is_ok() {
            let _ = ended.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use networkzero_core::zmtp::{Greeting, GreetingRepr, Mechanism, GREETING_LEN};
    use std::net::SocketAddr;

    /// libzmq 4.3's monitor message: the event's number (u16) and value
    /// (u32), little-endian, in its first frame; a frame too short is no
    /// event rather than a panic.
    #[test]
    fn a_monitor_event_is_read_from_its_first_frame() {
        let message = |first: &[u8]| vec![first.to_vec(), b"tcp://127.0.0.1:5555".to_vec()];
        assert_eq!(
            event(&message(&[0x00, 0x20, 0x02, 0x00, 0x00, 0x11])),
            Some((0x2000, MECHANISM_MISMATCH))
        );
        assert_eq!(
            event(&message(&[0x20, 0x00, 0x07, 0x00, 0x00, 0x00])),
            Some((zmq::SocketEvent::ACCEPTED.to_raw(), 7))
        );
        assert_eq!(event(&message(&[0x20, 0x00, 0x07, 0x00, 0x00])), None);
        assert_eq!(event(&message(&[0x20])), None);
        assert_eq!(event(&[]), None);
    }

    /// Only a handshake refused over the mechanism (CURVE against NULL)
    /// means "wants a class key": not another protocol error, nor another
    /// event with the same value.
    #[test]
    fn only_a_handshake_failed_over_the_mechanism_is_a_mismatch() {
        let failed = zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL.to_raw();
        assert_eq!(failed, 0x2000);
        assert!(is_mechanism_mismatch(failed, MECHANISM_MISMATCH));
        // ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: a CURVE peer with another key.
        assert!(!is_mechanism_mismatch(failed, 0x1100_0001));
        let accepted = zmq::SocketEvent::ACCEPTED.to_raw();
        assert!(!is_mechanism_mismatch(accepted, MECHANISM_MISMATCH));
        assert!(!is_mechanism_mismatch(accepted, 0));
    }

    /// libzmq's receive timeout is whole milliseconds: the time left is
    /// rounded up (waking early costs another pass), capped at i32::MAX,
    /// and no deadline is -1, for ever.
    #[test]
    fn the_time_left_is_whole_milliseconds_rounded_up() {
        assert_eq!(receive_timeout(None), -1);
        assert_eq!(receive_timeout(Some(Duration::ZERO)), 0);
        assert_eq!(receive_timeout(Some(Duration::from_nanos(1))), 1);
        assert_eq!(receive_timeout(Some(Duration::from_micros(2_500))), 3);
        assert_eq!(receive_timeout(Some(Duration::from_secs(4))), 4_000);
        assert_eq!(receive_timeout(Some(Duration::MAX)), i32::MAX);
    }

    /// A news item already queued is taken without reading the clock: the
    /// deadline stays unread (a clock reading costs a tenth of an item on
    /// a virtual machine). An empty queue starts the deadline, and the
    /// call waits it out. (inproc: no network.)
    #[test]
    fn a_queued_item_is_taken_without_reading_the_clock() {
        let context = Context::start().expect("a libzmq context");
        let endpoint = "inproc://a-queued-item-is-taken-without-reading-the-clock";
        let publisher = context.context.socket(zmq::PUB).expect("a PUB");
        publisher.bind(endpoint).expect("bind inproc");
        let mut subscriber = unbound(&context, zmq::SUB);
        subscriber.socket.set_subscribe(b"").expect("subscribe");
        subscriber.socket.connect(endpoint).expect("connect inproc");
        let address = subscriber.address;
        // The subscription reaches the PUB in a command it reads as it
        // sends: items until one is queued (100 × 100 ms at most).
        for _ in 0..100 {
            publisher
                .send_multipart(["weather", "1"], 0)
                .expect("sends");
            if subscriber.socket.poll(zmq::POLLIN, 100).expect("polls") > 0 {
                break;
            }
        }
        let mut deadline = Deadline::within(Some(Duration::from_secs(5)));
        let item = subscriber
            .receive(&mut deadline, address)
            .expect("no error");
        assert_eq!(item.expect("the queued item").parts[0], b"weather");
        assert!(deadline.is_unread(), "the clock was read");
        // Drained (items sent meanwhile, too): an empty queue starts the
        // deadline, and a wait of nothing gets nothing.
        for _ in 0..100 {
            let mut none = Deadline::within(Some(Duration::ZERO));
            if subscriber
                .receive(&mut none, address)
                .expect("no error")
                .is_none()
            {
                assert!(!none.is_unread(), "waited with no deadline");
                return;
            }
        }
        panic!("the queue never emptied");
    }

    /// A news item's payload is copied into libzmq's message, so its buffer
    /// is written into again for the next item (empty): publishing
    /// allocates nothing per item. (No subscriber: the item goes nowhere.)
    #[test]
    fn a_published_payload_is_the_next_items_buffer() {
        let context = Context::start().expect("a libzmq context");
        let mut publisher = unbound(&context, zmq::XPUB);
        let address = publisher.address;
        let mut payload = publisher.buffer();
        payload.extend_from_slice(br#"{"i": 1}"#);
        let at = payload.as_ptr();
        publisher
            .publish(1, "data", payload, address)
            .expect("news to nobody goes nowhere");
        let next = publisher.buffer();
        assert!(next.is_empty(), "no old bytes");
        assert_eq!(next.as_ptr(), at, "the same allocation");
    }

    /// A wait for subscribers ends on a change, at once, or at its deadline.
    #[test]
    fn a_wait_for_subscribers_ends_on_a_change_or_at_its_deadline() {
        let none = Subscribers::default();
        let one = Subscribers {
            joining: 1,
            joined: 0,
        };
        let second = Duration::from_secs(1);
        assert!(wait_is_over(one, none, second), "a change, with time left");
        assert!(wait_is_over(none, one, second), "a subscriber left");
        assert!(!wait_is_over(one, one, second), "no change, time left");
        assert!(wait_is_over(one, one, Duration::ZERO), "no time left");
    }

    /// A socket of this kind that neither listens nor connects (no network).
    fn unbound(context: &Context, kind: zmq::SocketType) -> Socket {
        Socket {
            socket: context.context.socket(kind).expect("a libzmq socket"),
            monitor: None,
            monitor_fd: None,
            told_refusal: false,
            address: Address::from(SocketAddr::from(([127, 0, 0, 1], 5555))),
            connections: 0,
            subscriptions: 0,
            spare: Spare::default(),
            receive_timeout: -1,
            monitor_due: Instant::now(),
        }
    }

    /// A connection counts as joined once a subscription notice came (any
    /// connection's: notices do not say whose), and as joining until then.
    #[test]
    fn connections_count_as_joined_as_far_as_subscriptions_came() {
        let context = Context::start().expect("a libzmq context");
        let mut publisher = unbound(&context, zmq::XPUB);
        for (connections, subscriptions, joining, joined) in [
            (0, 0, 0, 0),
            (3, 0, 3, 0),
            (3, 1, 2, 1),
            (3, 3, 0, 3),
            (2, 5, 0, 2),
        ] {
            publisher.connections = connections;
            publisher.subscriptions = subscriptions;
            assert_eq!(
                Socket::subscribers(&publisher),
                Subscribers { joining, joined },
                "{connections} connections, {subscriptions} subscriptions"
            );
        }
    }

    /// XPUB hands over each subscription (1 then the prefix) and the end of
    /// one (0 then the prefix): only the first kind counts, and none is
    /// read when the caller says there is none to read. (inproc: a SUB's
    /// notices are in the pipe when its setsockopt returns, and a
    /// non-blocking read takes in the connection first.)
    #[test]
    fn only_subscription_notices_count() {
        let context = Context::start().expect("a libzmq context");
        let mut publisher = unbound(&context, zmq::XPUB);
        let endpoint = "inproc://only-subscription-notices-count";
        publisher.socket.bind(endpoint).expect("bind inproc");
        let subscriber = context.context.socket(zmq::SUB).expect("a SUB");
        subscriber.connect(endpoint).expect("connect inproc");
        subscriber.set_subscribe(b"x").expect("subscribe");
        subscriber.set_unsubscribe(b"x").expect("unsubscribe");
        subscriber.set_subscribe(b"y").expect("subscribe");
        publisher.read_notices(false, false);
        assert_eq!(publisher.subscriptions, 0, "read though told none wait");
        publisher.read_notices(true, false);
        assert_eq!(publisher.subscriptions, 2, "x and y, not x's end");
    }

    /// A publishing socket on 127.0.0.1 (a free port), its address.
    fn listening(context: &Context, role: Role) -> (Socket, SocketAddr) {
        let port = crate::address::free_port().expect("a free port");
        let at = SocketAddr::from(([127, 0, 0, 1], port));
        let socket = Socket::open(context, role, at.into(), 1 << 16, Address::from(at), None)
            .expect("a listening socket");
        (socket, at)
    }

    /// The subscribers once they differ from `seen` (10 s at most: the
    /// change is an event on the monitor, a notice on the socket).
    fn next(publisher: &mut Socket, seen: Subscribers) -> Subscribers {
        let deadline = Instant::now() + Duration::from_secs(10);
        TransportSocket::subscribers(publisher, seen, deadline)
    }

    /// A publisher counts a subscriber's connection as it comes (joining),
    /// its subscription (joined), and its going: what the first news item
    /// waits for. (Opens sockets: run inside /work/shared/sealed.)
    #[test]
    fn a_publisher_sees_a_subscriber_come_subscribe_and_go() {
        let context = Context::start().expect("a libzmq context");
        let (mut publisher, at) = listening(&context, Role::Publish);
        let none = Subscribers::default();
        let peers = zmq::Context::new();
        let subscriber = peers.socket(zmq::SUB).expect("a SUB");
        subscriber.set_linger(0).expect("linger");
        subscriber.connect(&format!("tcp://{at}")).expect("connect");
        let joining = next(&mut publisher, none);
        assert_eq!(
            joining,
            Subscribers {
                joining: 1,
                joined: 0
            }
        );
        subscriber.set_subscribe(b"weather").expect("subscribe");
        let joined = next(&mut publisher, joining);
        assert_eq!(
            joined,
            Subscribers {
                joining: 0,
                joined: 1
            }
        );
        drop(subscriber);
        assert_eq!(next(&mut publisher, joined), none, "the subscriber left");
    }

    /// A CURVE greeting (ZMTP 3.0: signature, version 3.0, the mechanism,
    /// as-server, filler), as a keyed program sends it.
    fn curve_greeting(as_server: bool) -> [u8; GREETING_LEN] {
        let mut greeting = [0u8; GREETING_LEN];
        let repr = GreetingRepr {
            major: 3,
            minor: 0,
            mechanism: Mechanism::Curve,
            as_server,
        };
        repr.emit(&mut Greeting::new_unchecked(&mut greeting[..]));
        greeting
    }

    /// Connects to `at`, speaks CURVE, and reads until libzmq (NULL) has
    /// ended the connection: by then it has posted the refusal (and the
    /// connection's coming and going) to the socket's monitor.
    fn refused_by(at: SocketAddr) {
        let peer = std::net::TcpStream::connect(at).expect("connect");
        speak_curve_until_refused(peer, false);
    }

    /// Takes the one connection `listener` gets (10 s at most) and answers
    /// it as a keyed server would, until libzmq (NULL) gives it up.
    fn refuse_as_keyed_server(listener: std::net::TcpListener) {
        let (taken, took) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = taken.send(listener.accept());
        });
        let (peer, _) = took
            .recv_timeout(Duration::from_secs(10))
            .expect("libzmq connects")
            .expect("accept");
        speak_curve_until_refused(peer, true);
    }

    /// Sends a CURVE greeting and reads until the peer ends the connection.
    fn speak_curve_until_refused(mut peer: std::net::TcpStream, as_server: bool) {
        use std::io::{Read, Write};
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        peer.write_all(&curve_greeting(as_server))
            .expect("send the greeting");
        let mut buffer = [0u8; 256];
        for _ in 0..100 {
            match peer.read(&mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        panic!("libzmq did not end a CURVE peer's connection");
    }

    /// A keyed peer refused by a listening socket (no class key here): the
    /// monitor's event is found, once, by a replying socket's `refused`,
    /// and a publishing socket reads its monitor as it publishes (the first
    /// item reads it) and tells the refusal.
    #[test]
    fn a_listener_finds_a_keyed_peer_refused() {
        let context = Context::start().expect("a libzmq context");
        let (replier, at) = listening(&context, Role::Reply);
        assert!(!replier.refused(), "nobody came yet");
        refused_by(at);
        assert!(replier.refused(), "the keyed peer was refused");
        assert!(!replier.refused(), "told once");

        let (mut publisher, at) = listening(&context, Role::Publish);
        refused_by(at);
        let address = publisher.address;
        publisher
            .publish(0, "weather", b"\"sunny\"".to_vec(), address)
            .expect("news to nobody goes nowhere");
        assert!(publisher.told_refusal, "the publisher told the refusal");
        assert_eq!(publisher.connections, 0, "the refused peer came and went");
    }

    /// A request is queued while its connection stands; once a keyed
    /// server refused the handshake, libzmq drops the connection for good,
    /// and the request gives up at its deadline (false) instead of
    /// blocking in libzmq for ever.
    #[test]
    fn a_request_is_queued_and_gives_up_once_a_keyed_server_refused() {
        use crate::wait::Wait;
        let context = Context::start().expect("a libzmq context");
        let open = |listener: &std::net::TcpListener| {
            let at = listener.local_addr().expect("its address");
            Socket::open(
                &context,
                Role::Request,
                at.into(),
                1 << 16,
                Address::from(at),
                None,
            )
            .expect("a REQ socket")
        };
        let wait = || Deadline::new(Wait::from(Duration::from_millis(200)));
        let quiet = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let mut queued = open(&quiet);
        let address = queued.address;
        let sent = queued.request(b"\"hi\"".to_vec(), &mut wait(), address);
        assert!(
            sent.expect("no error"),
            "a request to a connection is queued"
        );

        let keyed = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
        let mut refused = open(&keyed);
        refuse_as_keyed_server(keyed);
        // libzmq ends the connection in a few commands to the socket: each
        // signals its descriptor, and ZMQ_EVENTS takes them in, until the
        // socket has nothing to send to (no POLLOUT; 100 waits of 100 ms
        // at most).
        let fd = refused.socket.get_fd().expect("its descriptor");
        for _ in 0..100 {
            let events = refused.socket.get_events().expect("its events");
            if !events.contains(zmq::POLLOUT) {
                break;
            }
            let _ = zmq::poll(&mut [zmq::PollItem::from_fd(fd, zmq::POLLIN)], 100);
        }
        let address = refused.address;
        let sent = refused.request(b"\"hi\"".to_vec(), &mut wait(), address);
        assert!(!sent.expect("no error"), "nothing to send to");
    }
}
