//! The I/O thread of the pure-Rust transport, in the manner of libzmq's: one
//! background thread with a mio `Poll` owns every listener and TCP
//! connection and runs a `networkzero_core::zmtp::Connection` per
//! connection. [`start`] starts it and gives the handle ([`Io`]) that the
//! runtime owns and every [`Socket`] keeps a share of. API calls reach it
//! through a bounded channel plus a `mio::Waker`; what arrives for a socket is put in that socket's inbox
//! (a mutex and a condition variable), where the calling thread waits with
//! its own deadline.
//!
//! Per socket kind:
//! - REQ and SUB connect, and reconnect after a failure with a back-off from
//!   100 ms to 200 ms (libzmq retries every 100 ms; a publisher's first item
//!   waits 300 ms for subscribers that are already retrying). A REQ request not yet handed completely to the
//!   kernel when its connection fails is sent again on the next connection;
//!   one already sent is lost with the connection, as in libzmq (the caller
//!   times out and resets the socket). A SUB sends every prefix again on
//!   each new connection.
//! - REP and PUB listen. A REP takes requests from every peer in turn (each
//!   peer's engine reads nothing more until its request is answered) and
//!   routes each reply to the peer that asked; requests of a peer that has
//!   gone are dropped.
//! - PUB keeps, per subscriber, at most [`HIGH_WATER_MARK`] messages
//!   waiting to be written; news for a subscriber whose queue is full is
//!   dropped for that subscriber only (the newest items are lost, as with
//!   libzmq's PUB). Subscriptions are read as they arrive, between publish
//!   calls too.
//! - SUB keeps at most [`HIGH_WATER_MARK`] received messages; while its
//!   inbox is full it stops reading, so TCP pushes back on the publisher,
//!   whose high-water mark then drops news (libzmq's behaviour).
//!
//! Timers come from each engine's `poll_timeout` (the handshake timeout on
//! every connection; heartbeats on REQ and SUB connections, so a publisher
//! or server that vanished is noticed and reconnected to).
//!
//! Nothing from the network can panic this thread: every length is checked
//! by the engine, every loop is bounded.

use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use log::debug;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use networkzero_core::zmtp::{Config, Connection, Event, Role, SendError};
use networkzero_core::{Duration as CoreDuration, Instant as CoreInstant};

use crate::transport::Subscribers;

/// Largest incoming message, all parts together (as the libzmq build's
/// ZMQ_MAXMSGSIZE).
const MAX_MESSAGE: usize = crate::transport::MAX_MESSAGE as usize;

/// Messages queued per subscriber (PUB) or received and not yet taken (SUB).
const HIGH_WATER_MARK: usize = crate::transport::NEWS_HIGH_WATER_MARK as usize;

/// Room in a connection's output buffer beyond one maximal message: routing
/// envelope, frame headers and the engine's control reserve.
const TX_SLACK: usize = 64 * 1024;

/// A PUB moves queued news into the engine only while less than this is
/// waiting to be written, so a slow subscriber costs the queue and this.
const TX_SOFT_LIMIT: usize = 256 * 1024;

/// Bytes read but not yet taken by a blocked engine before reading stops.
const INPUT_LIMIT: usize = 256 * 1024;

/// One read from a socket.
const READ_CHUNK: usize = 64 * 1024;

/// The big per-connection buffers (a part up to [`MAX_MESSAGE`] in, a
/// message out). Larger than glibc's largest mmap threshold (32 MiB on
/// 64-bit, 16 MiB on 32-bit), so each is a fresh anonymous mapping whose
/// zero pages the kernel supplies on first touch: a connection costs the
/// pages its messages use. (Smaller ones may come from the heap and be
/// cleared in full, 32 MiB of writes per connection, which a connection
/// flood turns into seconds of work and hundreds of MiB.) The engine's
/// `max_message_size` still limits messages to [`MAX_MESSAGE`].
const BIG_BUFFER: usize = 32 * 1024 * 1024 + TX_SLACK;

/// Small buffers for the directions that only carry commands (a PUB's
/// input, a SUB's output).
const SMALL_BUFFER: usize = 8 * 1024;

const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_millis(200);
const HEARTBEAT_INTERVAL: CoreDuration = CoreDuration::from_secs(5);
const HEARTBEAT_TIMEOUT: CoreDuration = CoreDuration::from_secs(30);

/// Work done per connection before other connections get their turn.
const ROUNDS: usize = 64;

const WAKER: Token = Token(0);

/// Longest a REP waits for its reply to reach the kernel.
const REPLY_FLUSH: Duration = Duration::from_secs(1);

/// What a socket does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Connects; sends a request, then waits for its reply.
    Req,
    /// Listens; receives requests and replies to each.
    Rep,
    /// Listens; sends news to subscribers.
    Pub,
    /// Connects; receives news matching its prefixes.
    Sub,
}

impl Kind {
    fn role(self) -> Role {
        match self {
            Kind::Req => Role::Req,
            Kind::Rep => Role::Rep,
            Kind::Pub => Role::Pub,
            Kind::Sub => Role::Sub,
        }
    }

    fn listens(self) -> bool {
        matches!(self, Kind::Rep | Kind::Pub)
    }
}

/// A whole message that arrived: the connection it came from (for a REP's
/// reply) and its parts.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) from: u64,
    pub(crate) parts: Vec<Vec<u8>>,
}

#[derive(Default)]
struct Inbox {
    items: VecDeque<Incoming>,
    /// Callers blocked in [`Socket::next`] or [`Socket::subscribers`]: with
    /// none, a push need not wake anyone (std's futex Condvar makes a system
    /// call on every notify).
    waiting: usize,
    /// PUB: its subscribers' connections.
    subscribers: Subscribers,
}

/// What the I/O thread and the socket's owner share.
#[derive(Default)]
struct Shared {
    inbox: Mutex<Inbox>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, item: Incoming) {
        let mut inbox = self.lock();
        inbox.items.push_back(item);
        let waiting = inbox.waiting > 0;
        drop(inbox);
        if waiting {
            self.ready.notify_all();
        }
    }

    fn is_full(&self) -> bool {
        self.lock().items.len() >= HIGH_WATER_MARK
    }

    /// PUB: a subscriber's connection came, subscribed, or went.
    fn subscribers_changed(&self, change: impl FnOnce(&mut Subscribers)) {
        let mut inbox = self.lock();
        change(&mut inbox.subscribers);
        let waiting = inbox.waiting > 0;
        drop(inbox);
        if waiting {
            self.ready.notify_all();
        }
    }
}

enum Cmd {
    Open {
        id: u64,
        kind: Kind,
        addr: SocketAddr,
        shared: Arc<Shared>,
        done: SyncSender<io::Result<()>>,
    },
    Close(u64),
    Request(u64, Vec<u8>),
    Reply(u64, u64, Vec<u8>, SyncSender<()>),
    Publish(u64, Arc<Vec<Vec<u8>>>),
    Subscribe(u64, Vec<u8>),
    Resume(u64),
    /// Answer once every connection has written what it had queued.
    Flush(SyncSender<()>),
}

/// A running I/O thread, as its callers reach it. The runtime owns one and
/// starts another if this one has stopped ([`Io::is_running`]).
pub(crate) struct Io {
    tx: SyncSender<Cmd>,
    waker: Waker,
    next_id: AtomicU64,
    /// Set while a wake-up of the I/O thread is pending. A caller wakes the
    /// thread only when it is the one to set it, so a burst of commands (a
    /// publishing loop) costs one eventfd write rather than one each; the
    /// I/O thread clears it just before it drains the channel, so a command
    /// sent after that wakes it again.
    wake_pending: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// Starts an I/O thread.
pub(crate) fn start() -> io::Result<Arc<Io>> {
    let fail = |doing: &str, e: io::Error| io::Error::new(e.kind(), format!("{doing}: {e}"));
    let poll = Poll::new().map_err(|e| fail("starting the I/O thread", e))?;
    let waker = Waker::new(poll.registry(), WAKER).map_err(|e| fail("making a waker", e))?;
    let (tx, rx) = mpsc::sync_channel(1024);
    let wake_pending = Arc::new(AtomicBool::new(false));
    let mut state = IoThread::new(poll, rx, Arc::clone(&wake_pending));
    let thread = thread::Builder::new()
        .name("networkzero-io".into())
        .spawn(move || state.run())
        .map_err(|e| fail("starting the I/O thread", e))?;
    Ok(Arc::new(Io {
        tx,
        waker,
        next_id: AtomicU64::new(1),
        wake_pending,
        thread,
    }))
}

impl Io {
    /// Whether the thread still runs (it ends only by a panic).
    pub(crate) fn is_running(&self) -> bool {
        !self.thread.is_finished()
    }

    fn send(&self, cmd: Cmd) -> io::Result<()> {
        self.tx
            .send(cmd)
            .map_err(|_| io::Error::other("the networkzero I/O thread has stopped"))?;
        // AcqRel: the I/O thread's swap that reads this `true` also sees `cmd`.
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.waker.wake() {
                // No wake-up is on its way: let the next caller try again.
                self.wake_pending.store(false, Ordering::Release);
                return Err(e);
            }
        }
        Ok(())
    }
}

/// A socket run by the I/O thread; closed when dropped.
pub(crate) struct Socket {
    id: u64,
    shared: Arc<Shared>,
    io: Arc<Io>,
}

impl Socket {
    /// Listens (REP, PUB) on `addr` — an error if that is impossible — or
    /// starts connecting (REQ, SUB) to it, in the background.
    pub(crate) fn open(io: &Arc<Io>, kind: Kind, addr: SocketAddr) -> io::Result<Socket> {
        let id = io.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared::default());
        let (done, result) = mpsc::sync_channel(1);
        io.send(Cmd::Open {
            id,
            kind,
            addr,
            shared: Arc::clone(&shared),
            done,
        })?;
        result
            .recv()
            .map_err(|_| io::Error::other("the networkzero I/O thread has stopped"))??;
        Ok(Socket {
            id,
            shared,
            io: Arc::clone(io),
        })
    }

    /// REQ: sends a request (queued until connected).
    pub(crate) fn request(&self, payload: Vec<u8>) -> io::Result<()> {
        self.io.send(Cmd::Request(self.id, payload))
    }

    /// REP: answers the request that came from `to`, and waits (up to
    /// [`REPLY_FLUSH`]) until the reply is handed to the kernel, so a program
    /// that exits right after replying still gets its reply out.
    pub(crate) fn reply(&self, to: u64, payload: Vec<u8>) -> io::Result<()> {
        let (done, written) = mpsc::sync_channel(1);
        self.io.send(Cmd::Reply(self.id, to, payload, done))?;
        // Err: the peer has gone, nothing to wait for.
        let _ = written.recv_timeout(REPLY_FLUSH);
        Ok(())
    }

    /// PUB: sends a message to every subscriber whose prefix matches its first part.
    pub(crate) fn publish(&self, parts: Vec<Vec<u8>>) -> io::Result<()> {
        self.io.send(Cmd::Publish(self.id, Arc::new(parts)))
    }

    /// SUB: subscribes to a prefix, now and on every later connection.
    pub(crate) fn subscribe(&self, prefix: &[u8]) -> io::Result<()> {
        self.io.send(Cmd::Subscribe(self.id, prefix.to_vec()))
    }

    /// The next message, waiting until `deadline` (`None`: for ever).
    pub(crate) fn next(&self, deadline: Option<Instant>) -> Option<Incoming> {
        let mut inbox = self.shared.lock();
        // Each pass waits once; bounded by the deadline.
        loop {
            let was_full = inbox.items.len() >= HIGH_WATER_MARK;
            if let Some(item) = inbox.items.pop_front() {
                drop(inbox);
                if was_full {
                    // The I/O thread stopped reading for this socket.
                    let _ = self.io.send(Cmd::Resume(self.id));
                }
                return Some(item);
            }
            let left = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return None,
                },
            };
            inbox.waiting += 1;
            inbox = match left {
                None => self
                    .shared
                    .ready
                    .wait(inbox)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(left) => {
                    self.shared
                        .ready
                        .wait_timeout(inbox, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            inbox.waiting -= 1;
        }
    }
}

impl Socket {
    /// PUB: its subscribers once they differ from `seen`, or at `deadline`.
    pub(crate) fn subscribers(&self, seen: Subscribers, deadline: Instant) -> Subscribers {
        let mut inbox = self.shared.lock();
        // Each pass waits once; bounded by the deadline.
        while inbox.subscribers == seen {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            inbox.waiting += 1;
            inbox = self
                .shared
                .ready
                .wait_timeout(inbox, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            inbox.waiting -= 1;
        }
        inbox.subscribers
    }
}

impl Io {
    /// Waits until every connection has handed what it had queued to the
    /// kernel, or until `deadline`; false if the deadline came first.
    pub(crate) fn flush(&self, deadline: Instant) -> bool {
        let (done, flushed) = mpsc::sync_channel(1);
        if self.send(Cmd::Flush(done)).is_err() {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        flushed.recv_timeout(left).is_ok()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let _ = self.io.send(Cmd::Close(self.id));
    }
}

// ---- the I/O thread ---------------------------------------------------------

struct Sock {
    kind: Kind,
    addr: SocketAddr,
    shared: Arc<Shared>,
    listener: Option<Token>,
    conns: Vec<Token>,
    /// Connecting kinds: when to try again, and the next back-off.
    retry_at: Option<Instant>,
    backoff: Duration,
    /// REQ: the request not yet completely handed to the kernel.
    request: Option<Vec<u8>>,
    /// SUB: every prefix subscribed.
    prefixes: Vec<Vec<u8>>,
}

struct Conn {
    token: Token,
    sock: u64,
    stream: TcpStream,
    engine: Connection<Vec<u8>>,
    /// Bytes read that the engine has not taken yet.
    input: Vec<u8>,
    readable: bool,
    writable: bool,
    /// An outgoing connection whose TCP handshake has not finished.
    connecting: bool,
    /// Parts of the message being received.
    parts: Vec<Vec<u8>>,
    /// PUB: news waiting for room in the engine.
    out: VecDeque<Arc<Vec<Vec<u8>>>>,
    dropped: u64,
    /// REQ: the pending request was handed to this engine.
    req_sent: bool,
    /// REP: callers waiting until the output is written (dropped when it is,
    /// or when the connection ends).
    flush_waiters: Vec<SyncSender<()>>,
    /// PUB: the peer has subscribed (counted in [`Inbox::subscribers`]).
    subscribed: bool,
    dead: Option<String>,
}

impl Conn {
    fn kill(&mut self, why: impl Into<String>) {
        if self.dead.is_none() {
            self.dead = Some(why.into());
        }
    }
}

struct IoThread {
    poll: Poll,
    rx: Receiver<Cmd>,
    epoch: Instant,
    socks: HashMap<u64, Sock>,
    conns: HashMap<Token, Conn>,
    listeners: HashMap<Token, (u64, TcpListener)>,
    next_token: usize,
    buf: Vec<u8>,
    /// Connections with work left over from their last turn.
    again: Vec<Token>,
    /// Commands left in the channel after the last turn's bound.
    more_commands: bool,
    /// The callers' [`Io::wake_pending`].
    wake_pending: Arc<AtomicBool>,
    /// Callers of [`Io::flush`] waiting for every connection's output.
    flushes: Vec<SyncSender<()>>,
}

impl IoThread {
    fn new(poll: Poll, rx: Receiver<Cmd>, wake_pending: Arc<AtomicBool>) -> IoThread {
        IoThread {
            poll,
            rx,
            epoch: Instant::now(),
            socks: HashMap::new(),
            conns: HashMap::new(),
            listeners: HashMap::new(),
            next_token: 1,
            buf: vec![0; READ_CHUNK],
            again: Vec::new(),
            more_commands: false,
            wake_pending,
            flushes: Vec::new(),
        }
    }

    fn core_now(&self) -> CoreInstant {
        CoreInstant::from_millis(
            u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX),
        )
    }

    fn to_std(&self, t: CoreInstant) -> Instant {
        // Rounded up: waking before the engine's millisecond ticks would spin.
        self.epoch + Duration::from_millis(t.as_millis().saturating_add(1))
    }

    fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = if self.again.is_empty() && !self.more_commands {
                self.next_timer()
                    .map(|t| t.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != ErrorKind::Interrupted {
                    // Not a passing condition: end, so the runtime starts
                    // a new I/O thread on the next call (Io::is_running).
                    log::warn!("networkzero's I/O thread stopped: {e}");
                    return;
                }
                continue;
            }
            let mut touched: Vec<Token> = std::mem::take(&mut self.again);
            for event in events.iter() {
                let token = event.token();
                if token == WAKER {
                    continue;
                }
                if self.listeners.contains_key(&token) {
                    self.accept(token);
                    continue;
                }
                if let Some(c) = self.conns.get_mut(&token) {
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        c.readable = true;
                    }
                    if event.is_writable() || event.is_write_closed() || event.is_error() {
                        c.writable = true;
                    }
                    touched.push(token);
                }
            }
            self.commands(&mut touched);
            self.timers(&mut touched);
            touched.sort_unstable();
            touched.dedup();
            for token in touched {
                self.service(token);
            }
            self.reap();
            if !self.flushes.is_empty() && self.flushed() {
                for done in self.flushes.drain(..) {
                    let _ = done.try_send(());
                }
            }
        }
    }

    /// Whether no live connection has anything left to write.
    fn flushed(&self) -> bool {
        self.conns
            .values()
            .filter(|c| c.dead.is_none() && !c.connecting)
            .all(|c| c.out.is_empty() && !c.engine.has_output())
    }

    fn next_timer(&self) -> Option<Instant> {
        let conns = self
            .conns
            .values()
            .filter(|c| c.dead.is_none() && !self.input_blocked(c))
            .filter_map(|c| c.engine.poll_timeout())
            .map(|t| self.to_std(t));
        let retries = self.socks.values().filter_map(|s| s.retry_at);
        conns.chain(retries).min()
    }

    fn input_blocked(&self, c: &Conn) -> bool {
        self.socks
            .get(&c.sock)
            .is_some_and(|s| s.kind == Kind::Sub && s.shared.is_full())
    }

    fn timers(&mut self, touched: &mut Vec<Token>) {
        let now = Instant::now();
        let core_now = self.core_now();
        let due: Vec<Token> = self
            .conns
            .values()
            .filter(|c| c.dead.is_none())
            .filter(|c| c.engine.poll_timeout().is_some_and(|t| t <= core_now))
            .map(|c| c.token)
            .collect();
        for token in due {
            let blocked = self
                .conns
                .get(&token)
                .is_some_and(|c| self.input_blocked(c));
            if blocked {
                continue;
            }
            if let Some(c) = self.conns.get_mut(&token) {
                if let Err(e) = c.engine.handle_timeout(core_now) {
                    c.kill(e.as_str());
                }
                touched.push(token);
            }
        }
        let retry: Vec<u64> = self
            .socks
            .iter()
            .filter(|(_, s)| s.retry_at.is_some_and(|t| t <= now))
            .map(|(&id, _)| id)
            .collect();
        for id in retry {
            if let Some(t) = self.connect(id) {
                touched.push(t);
            }
        }
    }

    fn commands(&mut self, touched: &mut Vec<Token>) {
        // Bounded: the channel holds at most its capacity plus what callers
        // add meanwhile; stop after a generous number to serve connections.
        self.more_commands = false;
        // Before draining: a command sent from now on wakes the thread again
        // (see Io::wake_pending); one sent before is in the channel already.
        self.wake_pending.swap(false, Ordering::AcqRel);
        for _ in 0..4096 {
            let cmd = match self.rx.try_recv() {
                Ok(cmd) => cmd,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            };
            self.command(cmd, touched);
        }
        self.more_commands = true;
    }

    fn command(&mut self, cmd: Cmd, touched: &mut Vec<Token>) {
        match cmd {
            Cmd::Open {
                id,
                kind,
                addr,
                shared,
                done,
            } => {
                let mut sock = Sock {
                    kind,
                    addr,
                    shared,
                    listener: None,
                    conns: Vec::new(),
                    retry_at: None,
                    backoff: FIRST_RETRY,
                    request: None,
                    prefixes: Vec::new(),
                };
                if kind.listens() {
                    // Windows' listeners are exclusive: see `ports::tcp_listener`.
                    let listener = crate::ports::tcp_listener(addr).and_then(|l| {
                        l.set_nonblocking(true)?;
                        let mut l = TcpListener::from_std(l);
                        let token = self.token();
                        self.poll
                            .registry()
                            .register(&mut l, token, Interest::READABLE)?;
                        Ok((token, l))
                    });
                    match listener {
                        Ok((token, l)) => {
                            sock.listener = Some(token);
                            self.listeners.insert(token, (id, l));
                            self.socks.insert(id, sock);
                            let _ = done.send(Ok(()));
                        }
                        Err(e) => {
                            let _ = done.send(Err(e));
                        }
                    }
                } else {
                    sock.retry_at = Some(Instant::now());
                    self.socks.insert(id, sock);
                    let _ = done.send(Ok(()));
                    if let Some(t) = self.connect(id) {
                        touched.push(t);
                    }
                }
            }
            Cmd::Close(id) => {
                if let Some(sock) = self.socks.remove(&id) {
                    if let Some(token) = sock.listener {
                        if let Some((_, mut l)) = self.listeners.remove(&token) {
                            let _ = self.poll.registry().deregister(&mut l);
                        }
                    }
                    for token in sock.conns {
                        if let Some(mut c) = self.conns.remove(&token) {
                            let _ = self.poll.registry().deregister(&mut c.stream);
                        }
                    }
                }
            }
            Cmd::Request(id, payload) => {
                let Some(sock) = self.socks.get_mut(&id) else {
                    return;
                };
                sock.request = Some(payload);
                for token in sock.conns.clone() {
                    if let Some(c) = self.conns.get_mut(&token) {
                        send_request(c, sock);
                        touched.push(token);
                    }
                }
            }
            Cmd::Reply(id, to, payload, done) => {
                let token = Token(usize::try_from(to).unwrap_or(usize::MAX));
                let Some(c) = self.conns.get_mut(&token) else {
                    debug!("networkzero I/O: the peer to reply to has gone; reply dropped");
                    return;
                };
                if c.sock != id || c.dead.is_some() {
                    return;
                }
                match c.engine.send(&[&payload]) {
                    Ok(_) => c.flush_waiters.push(done),
                    Err(e) => debug!("networkzero I/O: reply not sent: {e}"),
                }
                touched.push(token);
            }
            Cmd::Publish(id, parts) => {
                let Some(sock) = self.socks.get(&id) else {
                    return;
                };
                let first = parts.first().map_or(&[][..], |p| p.as_slice());
                for token in &sock.conns {
                    let Some(c) = self.conns.get_mut(token) else {
                        continue;
                    };
                    // Like libzmq: only peers past the handshake whose
                    // subscriptions match get the message.
                    if c.dead.is_some() || !c.engine.is_established() || !c.engine.matches(first) {
                        continue;
                    }
                    if c.out.len() >= HIGH_WATER_MARK {
                        if c.dropped == 0 {
                            debug!(
                                "networkzero I/O: a subscriber of {} is not keeping up; \
                                 dropping news for it (high-water mark {HIGH_WATER_MARK})",
                                sock.addr
                            );
                        }
                        c.dropped += 1;
                        continue;
                    }
                    c.out.push_back(Arc::clone(&parts));
                    touched.push(*token);
                }
            }
            Cmd::Subscribe(id, prefix) => {
                let Some(sock) = self.socks.get_mut(&id) else {
                    return;
                };
                if sock.prefixes.contains(&prefix) {
                    return;
                }
                for token in &sock.conns {
                    if let Some(c) = self.conns.get_mut(token) {
                        if let Err(e) = c.engine.subscribe(&prefix) {
                            log::warn!("cannot subscribe to news from {}: {e}", sock.addr);
                        }
                        touched.push(*token);
                    }
                }
                sock.prefixes.push(prefix);
            }
            Cmd::Flush(done) => self.flushes.push(done),
            Cmd::Resume(id) => {
                if let Some(sock) = self.socks.get(&id) {
                    touched.extend(sock.conns.iter().copied());
                }
            }
        }
    }

    /// Starts a connection for a connecting socket; its token if it started.
    fn connect(&mut self, id: u64) -> Option<Token> {
        let now = self.core_now();
        let token = self.token();
        let sock = self.socks.get_mut(&id)?;
        sock.retry_at = None;
        if !sock.conns.is_empty() {
            return None;
        }
        let started = TcpStream::connect(sock.addr).and_then(|mut stream| {
            self.poll.registry().register(
                &mut stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        let stream = match started {
            Ok(s) => s,
            Err(e) => {
                debug!("networkzero I/O: connecting to {}: {e}", sock.addr);
                retry_later(sock);
                return None;
            }
        };
        let mut config = Config::new(sock.kind.role());
        config.heartbeat_interval = Some(HEARTBEAT_INTERVAL);
        config.heartbeat_timeout = Some(HEARTBEAT_TIMEOUT);
        let mut conn = new_conn(token, id, sock.kind, config, stream, now)?;
        conn.connecting = true;
        for prefix in &sock.prefixes {
            if let Err(e) = conn.engine.subscribe(prefix) {
                log::warn!("cannot subscribe to news from {}: {e}", sock.addr);
            }
        }
        sock.conns.push(token);
        self.conns.insert(token, conn);
        Some(token)
    }

    fn accept(&mut self, token: Token) {
        let now = self.core_now();
        // Bounded: a listener has at most its backlog waiting.
        for _ in 0..1024 {
            let Some((id, listener)) = self.listeners.get(&token) else {
                return;
            };
            let id = *id;
            let (mut stream, peer) = match listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // A peer that gave up before we took its connection.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::Interrupted
                            | ErrorKind::ConnectionAborted
                            | ErrorKind::ConnectionReset
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    // Out of file descriptors, say: try again at the next
                    // connection rather than spin.
                    debug!("networkzero I/O: accept: {e}");
                    return;
                }
            };
            let Some(kind) = self.socks.get(&id).map(|s| s.kind) else {
                return;
            };
            let conn_token = self.token();
            if let Err(e) = self.poll.registry().register(
                &mut stream,
                conn_token,
                Interest::READABLE | Interest::WRITABLE,
            ) {
                debug!("networkzero I/O: registering {peer}: {e}");
                continue;
            }
            let _ = stream.set_nodelay(true);
            let mut config = Config::new(kind.role());
            config.as_server = true;
            let Some(mut conn) = new_conn(conn_token, id, kind, config, stream, now) else {
                continue;
            };
            conn.readable = true;
            conn.writable = true;
            if let Some(sock) = self.socks.get_mut(&id) {
                if kind == Kind::Pub {
                    sock.shared.subscribers_changed(|s| s.joining += 1);
                }
                sock.conns.push(conn_token);
            }
            self.conns.insert(conn_token, conn);
            self.again.push(conn_token);
        }
    }

    fn service(&mut self, token: Token) {
        let now = self.core_now();
        let Some(c) = self.conns.get_mut(&token) else {
            return;
        };
        let Some(sock) = self.socks.get_mut(&c.sock) else {
            c.kill("socket closed");
            return;
        };
        if service(c, sock, &mut self.buf, now) {
            self.again.push(token);
        }
    }

    /// Removes failed connections; connecting sockets try again later.
    fn reap(&mut self) {
        let dead: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| c.dead.is_some())
            .map(|(&t, _)| t)
            .collect();
        for token in dead {
            let Some(mut c) = self.conns.remove(&token) else {
                continue;
            };
            // Best effort: an ERROR command the engine queued.
            if c.engine.has_output() && !c.connecting {
                let _ = c.stream.write(c.engine.output());
            }
            let _ = self.poll.registry().deregister(&mut c.stream);
            let Some(sock) = self.socks.get_mut(&c.sock) else {
                continue;
            };
            debug!(
                "networkzero I/O: connection for {} ended: {}",
                sock.addr,
                c.dead.as_deref().unwrap_or("")
            );
            sock.conns.retain(|&t| t != token);
            match sock.kind {
                Kind::Rep => {
                    let from = token.0 as u64;
                    sock.shared.lock().items.retain(|i| i.from != from);
                }
                Kind::Req | Kind::Sub => retry_later(sock),
                Kind::Pub => sock.shared.subscribers_changed(|s| {
                    if c.subscribed {
                        s.joined = s.joined.saturating_sub(1);
                    } else {
                        s.joining = s.joining.saturating_sub(1);
                    }
                }),
            }
        }
        self.again.retain(|t| self.conns.contains_key(t));
    }
}

fn retry_later(sock: &mut Sock) {
    sock.retry_at = Some(Instant::now() + sock.backoff);
    sock.backoff = (sock.backoff * 2).min(MAX_RETRY);
}

fn new_conn(
    token: Token,
    sock: u64,
    kind: Kind,
    mut config: Config,
    stream: TcpStream,
    now: CoreInstant,
) -> Option<Conn> {
    let (rx, tx) = match kind {
        Kind::Pub => (SMALL_BUFFER, BIG_BUFFER),
        Kind::Sub => (BIG_BUFFER, SMALL_BUFFER),
        Kind::Req | Kind::Rep => (BIG_BUFFER, BIG_BUFFER),
    };
    config.max_message_size = if kind == Kind::Pub {
        SMALL_BUFFER
    } else {
        MAX_MESSAGE
    };
    config.max_parts = 64;
    // libzmq keeps every subscription; ours live in the engine's fixed store
    // (1 KiB per peer), so take as many as fit.
    config.max_subscriptions = 1024;
    config.max_subscription_len = 255;
    // Zeroed allocations (see BIG_BUFFER): only touched pages cost memory.
    let engine = Connection::new(config, vec![0; rx], vec![0; tx], now).ok()?;
    Some(Conn {
        token,
        sock,
        stream,
        engine,
        input: Vec::new(),
        readable: false,
        writable: false,
        connecting: false,
        parts: Vec::new(),
        out: VecDeque::new(),
        dropped: 0,
        req_sent: false,
        flush_waiters: Vec::new(),
        subscribed: false,
        dead: None,
    })
}

/// REQ: hands the pending request to an engine that may send it.
fn send_request(c: &mut Conn, sock: &Sock) {
    let Some(request) = &sock.request else {
        return;
    };
    if c.req_sent || c.dead.is_some() || !c.engine.can_send() {
        return;
    }
    match c.engine.send(&[request]) {
        Ok(_) => c.req_sent = true,
        Err(SendError::BufferFull | SendError::NotReady) => {}
        Err(e) => debug!("networkzero I/O: request to {} not sent: {e}", sock.addr),
    }
}

/// One turn of a connection: finish connecting, move queued news into the
/// engine, write, decode what was read, read more. True when work is left
/// (the turn ended at its bound).
fn service(c: &mut Conn, sock: &mut Sock, buf: &mut [u8], now: CoreInstant) -> bool {
    if c.dead.is_some() {
        return false;
    }
    if c.connecting {
        if !c.readable && !c.writable {
            return false;
        }
        match c.stream.take_error() {
            Ok(Some(e)) | Err(e) => {
                c.kill(format!("connecting: {e}"));
                return false;
            }
            Ok(None) => {}
        }
        match c.stream.peer_addr() {
            Ok(_) => {
                c.connecting = false;
                let _ = c.stream.set_nodelay(true);
            }
            Err(e) if e.kind() == ErrorKind::NotConnected => {
                // Not yet: the next readiness event says more.
                c.readable = false;
                c.writable = false;
                return false;
            }
            Err(e) => {
                c.kill(format!("connecting: {e}"));
                return false;
            }
        }
    }
    for _ in 0..ROUNDS {
        let mut progress = false;
        // PUB: news into the engine while its output is short.
        while c.engine.output().len() < TX_SOFT_LIMIT {
            let Some(parts) = c.out.front() else { break };
            let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            match c.engine.send(&refs) {
                Err(SendError::BufferFull) => break,
                Err(SendError::NotReady) => break,
                // Queued, filtered (unsubscribed since) or impossible: done with it.
                _ => {
                    c.out.pop_front();
                }
            }
        }
        // Write.
        for _ in 0..ROUNDS {
            if !c.writable || !c.engine.has_output() {
                break;
            }
            match c.stream.write(c.engine.output()) {
                Ok(0) => c.kill("the connection was closed"),
                Ok(n) => {
                    c.engine.consume_output(n);
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => c.writable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => c.kill(format!("writing: {e}")),
            }
            if c.dead.is_some() {
                return false;
            }
        }
        if !c.engine.has_output() {
            for waiter in c.flush_waiters.drain(..) {
                let _ = waiter.try_send(());
            }
        }
        if sock.kind == Kind::Req && c.req_sent && !c.engine.has_output() {
            // Handed completely to the kernel: never sent again.
            sock.request = None;
            c.req_sent = false;
        }
        // Decode what was read.
        let blocked = sock.kind == Kind::Sub && sock.shared.is_full();
        if !blocked && !c.input.is_empty() {
            progress |= feed(c, sock, now);
        }
        if c.dead.is_some() {
            return false;
        }
        // Read more.
        if c.readable && !blocked && c.input.len() < INPUT_LIMIT {
            match c.stream.read(buf) {
                Ok(0) => {
                    c.kill("closed by the peer");
                    return false;
                }
                Ok(n) => {
                    c.input.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                    progress = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => c.readable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    c.kill(format!("reading: {e}"));
                    return false;
                }
            }
        }
        if let Some(e) = c.engine.error() {
            // Let a queued ERROR command out first.
            if c.writable && c.engine.has_output() {
                continue;
            }
            c.kill(e.as_str());
            return false;
        }
        if !progress {
            return false;
        }
    }
    true
}

/// Feeds buffered input to the engine and handles its events; true if
/// anything was consumed.
fn feed(c: &mut Conn, sock: &mut Sock, now: CoreInstant) -> bool {
    let mut off = 0;
    // Each pass consumes input or yields an event.
    let bound = c.input.len().saturating_mul(2).saturating_add(8);
    for _ in 0..bound {
        if sock.kind == Kind::Sub && sock.shared.is_full() {
            break;
        }
        let rest = c.input.get(off..).unwrap_or(&[]);
        let result = c.engine.handle_input(rest, now);
        let mut handshake = false;
        let mut any = false;
        while let Some(event) = c.engine.poll_event() {
            any = true;
            match event {
                Event::HandshakeDone { .. } => handshake = true,
                Event::Subscribed(_) if sock.kind == Kind::Pub && !c.subscribed => {
                    c.subscribed = true;
                    sock.shared.subscribers_changed(|s| {
                        s.joining = s.joining.saturating_sub(1);
                        s.joined += 1;
                    });
                }
                Event::Message(part) => {
                    c.parts.push(part.data.to_vec());
                    if !part.more {
                        let parts = std::mem::take(&mut c.parts);
                        deliver(c.token, sock, parts);
                    }
                }
                Event::PeerError(reason) => debug!(
                    "networkzero I/O: {} sent ERROR: {}",
                    sock.addr,
                    String::from_utf8_lossy(reason)
                ),
                _ => {}
            }
        }
        if handshake {
            if matches!(sock.kind, Kind::Req | Kind::Sub) {
                sock.backoff = FIRST_RETRY;
            }
            send_request(c, sock);
        }
        match result {
            Ok(n) => {
                off += n;
                if n == 0 && !any {
                    break;
                }
            }
            Err(e) => {
                c.kill(e.as_str());
                break;
            }
        }
    }
    c.input.drain(..off.min(c.input.len()));
    off > 0
}

fn deliver(from: Token, sock: &mut Sock, parts: Vec<Vec<u8>>) {
    if sock.kind == Kind::Req {
        sock.request = None;
    }
    sock.shared.push(Incoming {
        from: from.0 as u64,
        parts,
    });
}
