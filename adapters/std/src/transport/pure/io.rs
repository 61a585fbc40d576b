//! The pure-Rust transport's I/O: bytes and time between mio TCP sockets
//! and the core's sans-IO sockets (`networkzero_core::socket`), which hold
//! every rule — who gets a request, where a reply goes, what a slow
//! subscriber misses, when to reconnect, how many peers a listener takes,
//! handshake deadlines and heartbeats. Nothing here decides any of that.
//!
//! Each [`Socket`] is a core socket set with one socket in it, its mio
//! sources and an inbox of whole messages, behind a mutex. Two drivers move
//! its bytes, the same way ([`Driver::turn`]):
//! - the calling thread, during a call: it sends and writes at once, and
//!   when it has to wait it waits on the socket's own sources (its own
//!   `mio::Poll`) with the call's deadline, so a request and its reply cross
//!   no other thread (on Unix; elsewhere it waits for the I/O thread). The
//!   I/O thread stops watching a socket a call waits on, and watches it
//!   again only once no call has come for [`WATCH_AGAIN`], so a loop of
//!   calls costs the system calls a plain blocking socket would. A call
//!   that waits for a message on one connection (a REQ's reply, a REP's
//!   request from its one client, news from one publisher) waits in that
//!   connection's read, blocking with a timeout ([`Driver::wait_in_read`],
//!   Linux), not on the `Poll` and then in a read; a REQ also reads its
//!   connection, without waiting, before each request, for what came since
//!   its last call (see [`Socket::request`]).
//!   Measured on Linux, per round trip of `send_message` against
//!   `wait_for_message` + `send_reply`: the REQ makes `recvfrom` (nothing
//!   there), `sendto`, `recvfrom` (waits); the REP `recvfrom` (waits),
//!   `sendto`, and every [`LOOK_EVERY`] an `epoll_wait` for a new peer; no
//!   `epoll_ctl`, no `futex`, no clock system call, and a `setsockopt` only
//!   when a wait's timeout halves (a plain TCP ping-pong of the same bytes:
//!   `write`, `read`; and `read`, `write`). Elsewhere a call waits on the
//!   `Poll` and then reads;
//! - the I/O thread ([`Io`], owned by the runtime), between calls: it
//!   watches every socket's `Poll` and timers, takes new connections and
//!   subscriptions, answers heartbeats, reconnects, and writes what a call
//!   left unwritten. It leaves a socket alone while a call has it. On
//!   Linux it runs as batch work ([`batch_work`]): woken by a call, it does
//!   not take that call's core from it.
//!
//! Memory follows use: a connection's buffers start at a kilobyte and grow
//! with what its peer sends, up to [`MAX_MESSAGE`] (the core's
//! `zmtp::Growable`); a listener takes at most [`MAX_PEERS`] connections
//! (the core then replaces the oldest still in its handshake, or refuses,
//! and this warns once). Input is read into one buffer per connection and
//! parts that arrived whole are handed over borrowed from it (the engine's
//! zero-copy path): one copy, into the message the caller gets.
//!
//! Nothing from the network can panic a thread: every length is checked by
//! the engine, every loop is bounded.

use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use log::{debug, warn};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use networkzero_core::socket::{self, Action, Event, Growing, PeerId, Settings, SocketId};
use networkzero_core::zmtp::Role;
use networkzero_core::{Duration as CoreDuration, Instant as CoreInstant};

use super::keyed::Keyed;
use super::sys;
use crate::transport::refusal::Refusal;
use crate::transport::spare::Spare;
use crate::transport::{Endpoint, Subscribers};
use networkzero_core::zmtp::curve::ClassKeys;

/// Largest incoming message, all parts together (as the libzmq build's
/// ZMQ_MAXMSGSIZE): the most any connection's buffers grow to.
const MAX_MESSAGE: usize = crate::transport::MAX_MESSAGE as usize;

/// Messages written into a subscriber's connection and not yet taken by
/// its TCP socket before news is dropped for it (PUB), and whole messages
/// a socket holds for its caller before it stops reading (SUB, so TCP
/// pushes back on the publisher, whose high-water mark then drops).
const HIGH_WATER_MARK: usize = crate::transport::NEWS_HIGH_WATER_MARK as usize;

/// Connections a listening socket takes at once: a classroom with room to
/// spare, and well under the usual limit of 1024 open files even for a
/// program listening on a few addresses. The core decides what happens at
/// the limit; this warns once per socket.
pub(crate) const MAX_PEERS: usize = socket::DEFAULT_MAX_PEERS;

/// One read from a TCP socket; also how much input a connection keeps that
/// its engine has not taken yet.
const READ_CHUNK: usize = 64 * 1024;

/// Whether a read that returns less than asked for shows the kernel had no
/// more: true of mio's edge-triggered epoll and kqueue selectors, not of
/// its Windows one.
const PARTIAL_READ_DRAINS: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly",
));

/// A publisher writes a subscriber's output itself once this much is
/// queued (libzmq's `out_batch_size`); less is left to the I/O thread, so
/// a burst of news costs a write per batch rather than one per item.
const WRITE_BATCH: usize = 8 * 1024;

/// Dialled connections send a PING this often, and close if nothing comes
/// back within [`HEARTBEAT_TIMEOUT`], so a server or publisher that
/// vanished without a word is noticed and reconnected to.
const HEARTBEAT_INTERVAL: CoreDuration = CoreDuration::from_secs(5);
const HEARTBEAT_TIMEOUT: CoreDuration = CoreDuration::from_secs(30);

/// Work done per call of [`Driver::turn`] before it returns (each round
/// moves bytes or ends it).
const ROUNDS: usize = 64;

/// New connections a listener takes per [`Driver::turn`]. A turn does not
/// look for new readiness, so under a flood of connections (thousands a
/// second) a good peer's request or reply waits for one turn's accepts: a
/// few, not as many as keep coming. The next turn, which looks first,
/// takes more.
const ACCEPTS_PER_TURN: usize = 16;

/// How long a socket a call left unwatched (see [`Driver::unwatch`]) stays
/// so once no call has it: then the I/O thread watches it again. A program
/// that calls in a loop (requests, or waits for messages or news) keeps its
/// socket to itself and pays no `epoll_ctl` per call; one that stops
/// calling has its connections' events (a new peer, a lost connection,
/// heartbeats) taken by the I/O thread at most this late. Timers are not
/// delayed: the I/O thread runs them whether it watches the socket or not.
const WATCH_AGAIN: CoreDuration = CoreDuration::from_millis(25);

/// Longest a REP's reply waits to be handed to the kernel before `reply`
/// returns, so a program that exits right after replying gets it out.
const REPLY_FLUSH: Duration = Duration::from_secs(1);

/// Longest a listening socket's call waits in its one connection's read
/// ([`Driver::wait_in_read`]) since it last looked at all its sources
/// (its own `Poll`): a second peer's connection is taken at most this
/// late while the first keeps the socket busy.
#[cfg(any(target_os = "linux", target_os = "android"))]
const LOOK_EVERY: CoreDuration = CoreDuration::from_millis(25);

/// Longest receive timeout a wait in a connection's read sets (ms, a power
/// of two: see [`read_timeout`]); a longer wait reads again.
#[cfg(any(target_os = "linux", target_os = "android"))]
const MAX_READ_TIMEOUT: u64 = 1 << 22;

const WAKER: Token = Token(usize::MAX);
/// A socket's listener, in its own `Poll`.
const LISTENER: Token = Token(usize::MAX - 1);

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

    /// The same role as the message calls name it.
    pub(super) fn transport_role(self) -> crate::transport::Role {
        use crate::transport::Role as R;
        match self {
            Kind::Req => R::Request,
            Kind::Rep => R::Reply,
            Kind::Pub => R::Publish,
            Kind::Sub => R::Subscribe,
        }
    }

    pub(super) fn listens(self) -> bool {
        matches!(self, Kind::Rep | Kind::Pub)
    }
}

/// The limits every pure-Rust socket runs with.
fn settings() -> Settings {
    let mut s = Settings::new();
    s.max_message_size = MAX_MESSAGE;
    s.max_parts = 64;
    // libzmq keeps every subscription; the engine's store (1 KiB per
    // connection) takes as many as fit.
    s.max_subscriptions = 1024;
    s.max_subscription_len = 255;
    s.high_water_mark = HIGH_WATER_MARK;
    s.max_peers = MAX_PEERS;
    s.heartbeat_interval = Some(HEARTBEAT_INTERVAL);
    s.heartbeat_timeout = Some(HEARTBEAT_TIMEOUT);
    s
}

/// A whole message that arrived: the peer it came from (for a REP's reply)
/// and its parts.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) from: PeerId,
    pub(crate) parts: Vec<Vec<u8>>,
}

// ---- the I/O thread's handle ------------------------------------------------

/// What the I/O thread and the sockets share.
struct Hub {
    /// Every open socket, by id (the I/O thread's token for it).
    sockets: Mutex<HashMap<usize, Weak<Cell>>>,
    /// Sockets a call left work for (output to write).
    kicks: Mutex<Vec<usize>>,
    /// Set while a wake-up of the I/O thread is pending, so a burst of calls
    /// costs one wake-up, not one each; the thread clears it before it
    /// looks at what it was woken for.
    wake_pending: AtomicBool,
    /// The I/O thread's next timer, in milliseconds since `epoch` (`u64::MAX`:
    /// none): a call that leaves a socket with an earlier one wakes it.
    next_timer: AtomicU64,
    epoch: Instant,
    next_id: AtomicU64,
}

impl Hub {
    /// A hub with no sockets, its engine time counted from `epoch`.
    fn new(epoch: Instant) -> Hub {
        Hub {
            sockets: Mutex::new(HashMap::new()),
            kicks: Mutex::new(Vec::new()),
            wake_pending: AtomicBool::new(false),
            next_timer: AtomicU64::new(u64::MAX),
            epoch,
            next_id: AtomicU64::new(0),
        }
    }

    fn core_now(&self) -> CoreInstant {
        self.core_at(Instant::now())
    }

    /// The engine's time at the clock reading `clock`.
    fn core_at(&self, clock: Instant) -> CoreInstant {
        CoreInstant::from_millis(
            u64::try_from(clock.saturating_duration_since(self.epoch).as_millis())
                .unwrap_or(u64::MAX),
        )
    }

    fn to_std(&self, t: CoreInstant) -> Instant {
        // Rounded up: waking before the engine's millisecond ticks would spin.
        self.epoch + Duration::from_millis(t.as_millis().saturating_add(1))
    }
}

/// A running I/O thread, as its callers reach it. The runtime owns one and
/// starts another if this one has stopped ([`Io::is_running`]).
pub(crate) struct Io {
    hub: Arc<Hub>,
    registry: Registry,
    waker: Waker,
    thread: JoinHandle<()>,
}

/// Starts an I/O thread.
pub(crate) fn start() -> io::Result<Arc<Io>> {
    let fail = |doing: &str, e: io::Error| io::Error::new(e.kind(), format!("{doing}: {e}"));
    let poll = Poll::new().map_err(|e| fail("starting the I/O thread", e))?;
    let waker = Waker::new(poll.registry(), WAKER).map_err(|e| fail("making a waker", e))?;
    let registry = poll
        .registry()
        .try_clone()
        .map_err(|e| fail("starting the I/O thread", e))?;
    let hub = Arc::new(Hub::new(Instant::now()));
    let thread_hub = Arc::clone(&hub);
    let thread = thread::Builder::new()
        .name("networkzero-io".into())
        .spawn(move || run(poll, &thread_hub))
        .map_err(|e| fail("starting the I/O thread", e))?;
    Ok(Arc::new(Io {
        hub,
        registry,
        waker,
        thread,
    }))
}

impl Io {
    /// Whether the thread still runs (it ends only if its `Poll` fails).
    pub(crate) fn is_running(&self) -> bool {
        !self.thread.is_finished()
    }

    /// Wakes the I/O thread unless a wake-up is on its way already.
    fn wake(&self) {
        // AcqRel: the thread's swap that reads this `true` sees what the
        // caller did before.
        if !self.hub.wake_pending.swap(true, Ordering::AcqRel) && self.waker.wake().is_err() {
            // No wake-up is on its way: let the next caller try again.
            self.hub.wake_pending.store(false, Ordering::Release);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- sockets ------------------------------------------------------------

/// A socket's state and the flags the two drivers share.
struct Cell {
    id: usize,
    driver: Mutex<Driver>,
    /// A call has the socket: the I/O thread leaves it alone.
    busy: AtomicBool,
    /// The I/O thread was woken for the socket while a call had it: the
    /// call looks at its sources once more before it lets go, or (if this
    /// came later still) has the I/O thread look.
    missed: AtomicBool,
    /// The socket is in [`Hub::kicks`] and the I/O thread has not taken
    /// it yet: another kick has nothing to add (see [`Io::kick`]).
    kicked: AtomicBool,
    /// The socket's next deadline in milliseconds since [`Hub::epoch`]
    /// (`u64::MAX`: none), as whoever drove it last left it.
    timer: AtomicU64,
    /// Callers waiting for the I/O thread (where a call cannot wait on
    /// the socket's own sources).
    ready: Condvar,
}

/// A socket; closed when dropped.
pub(crate) struct Socket {
    cell: Arc<Cell>,
    io: Arc<Io>,
}

impl Socket {
    /// Listens (REP, PUB) on `addr` — an error if that is impossible — or
    /// starts connecting (REQ, SUB) to it.
    /// With a class's keys, every connection is CURVE.
    pub(crate) fn open(
        io: &Arc<Io>,
        kind: Kind,
        addr: Endpoint,
        class: Option<&'static ClassKeys>,
    ) -> io::Result<Socket> {
        let id = usize::try_from(io.hub.next_id.fetch_add(1, Ordering::Relaxed))
            .map_err(|_| io::Error::other("too many sockets"))?;
        let driver = Driver::new(&io.registry, id, kind, addr, io.hub.core_now(), class)?;
        let cell = Arc::new(Cell {
            id,
            driver: Mutex::new(driver),
            busy: AtomicBool::new(false),
            missed: AtomicBool::new(false),
            kicked: AtomicBool::new(false),
            timer: AtomicU64::new(0),
            ready: Condvar::new(),
        });
        lock(&io.hub.sockets).insert(id, Arc::downgrade(&cell));
        let socket = Socket {
            cell,
            io: Arc::clone(io),
        };
        // Start connecting now; the I/O thread takes it from there.
        Call::new(&socket.cell, &socket.io).run(|d, now| d.turn(now));
        Ok(socket)
    }

    /// REQ: sends a request (it waits in the socket until a peer is
    /// connected, as libzmq's does).
    pub(crate) fn request(&self, payload: Vec<u8>) -> io::Result<()> {
        Call::new(&self.cell, &self.io).run(|d, now| d.request(payload, now));
        Ok(())
    }

    /// REP: answers the request that came from `to`, and waits (up to
    /// [`REPLY_FLUSH`]) until the reply is handed to the kernel.
    pub(crate) fn reply(&self, to: PeerId, payload: Vec<u8>) -> io::Result<()> {
        let mut call = Call::new(&self.cell, &self.io);
        let written = call.run(|d, now| {
            if let Err(e) = d.set.reply(to, &[&payload]) {
                debug!("networkzero I/O: reply not sent ({e}): its sender has gone");
            }
            // Copied into the connection's output: kept for the next payload.
            d.spare.keep_buffer(payload);
            d.turn(now);
            d.written()
        });
        if !written {
            call.flushed(Instant::now() + REPLY_FLUSH);
        }
        Ok(())
    }

    /// PUB: sends `[topic, payload]` to every subscriber whose prefix
    /// matches the topic. A batch's worth is written at once; less, by the
    /// I/O thread. The payload's buffer is kept for the next one.
    pub(crate) fn publish(&self, topic: &[u8], payload: Vec<u8>) -> io::Result<()> {
        let mut kick = false;
        Call::new(&self.cell, &self.io).run(|d, now| {
            if d.pending_input() {
                d.turn(now);
            }
            match d.set.publish(d.sock, &[topic, &payload]) {
                Ok(r) if r.dropped > 0 => d.note_dropped(r.dropped),
                Ok(_) => {}
                Err(e) => debug!("networkzero I/O: news not sent: {e}"),
            }
            d.spare.keep_buffer(payload);
            kick = d.write_batches(now);
        });
        if kick {
            self.io.kick(&self.cell);
        }
        Ok(())
    }

    /// Takes back a message's buffers once its caller has read them: the
    /// next messages' parts are copied into them, not into new ones. If a
    /// call or the I/O thread has the socket this moment, they are freed
    /// instead (never a wait for a lock).
    pub(crate) fn recycle(&self, parts: Vec<Vec<u8>>) {
        if let Ok(mut d) = self.cell.driver.try_lock() {
            d.spare.keep(parts);
        }
    }

    /// A buffer for the next payload: one kept from a sent or read message
    /// if a call or the I/O thread does not have the socket this moment,
    /// else a new one.
    pub(crate) fn buffer(&self) -> Vec<u8> {
        match self.cell.driver.try_lock() {
            Ok(mut d) => d.spare.buffer(),
            Err(_) => Vec::new(),
        }
    }

    /// SUB: subscribes to a prefix, now and on every later connection.
    pub(crate) fn subscribe(&self, prefix: &[u8]) -> io::Result<()> {
        Call::new(&self.cell, &self.io).run(|d, now| {
            if let Err(e) = d.set.subscribe(d.sock, prefix) {
                warn!("cannot subscribe to news from {}: {e}", d.endpoint);
            }
            d.turn(now);
        });
        Ok(())
    }

    /// Waits until what the socket queued is handed to the kernel, or until
    /// `deadline`; false if the deadline came first.
    pub(crate) fn flush(&self, deadline: Instant) -> bool {
        Call::new(&self.cell, &self.io).flushed(deadline)
    }

    /// The next message, waiting until `deadline` (`None`: for ever),
    /// which is asked for only if the call has to wait: a message already
    /// in the inbox costs no clock reading for it.
    pub(crate) fn next(&self, deadline: impl FnMut() -> Option<Instant>) -> Option<Incoming> {
        let mut call = Call::new(&self.cell, &self.io);
        call.comes_back = true;
        call.reads = true;
        call.until(deadline, |d| d.inbox.pop_front())
    }

    /// PUB: its subscribers once they differ from `seen`, or at `deadline`.
    pub(crate) fn subscribers(&self, seen: Subscribers, deadline: Instant) -> Subscribers {
        let mut call = Call::new(&self.cell, &self.io);
        call.until(
            || Some(deadline),
            |d| Some(d.subscribers()).filter(|s| *s != seen),
        )
        .unwrap_or_else(|| call.run(|d, _| d.subscribers()))
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        lock(&self.io.hub.sockets).remove(&self.cell.id);
        // The driver and its TCP sockets go with the last reference.
    }
}

impl Io {
    /// Asks the I/O thread to look at a socket (output a call left). A
    /// socket already asked for and not yet looked at is not asked for
    /// again: its first kick's wake-up is on its way. A publisher leaves
    /// output to the I/O thread on almost every item, and this spares each
    /// such item the kicks' lock (shared with the I/O thread) and its
    /// search (a kick measured 98 -> 54 instructions on average).
    fn kick(&self, cell: &Cell) {
        if cell.kicked.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut kicks = lock(&self.hub.kicks);
        if !kicks.contains(&cell.id) {
            kicks.push(cell.id);
        }
        drop(kicks);
        self.wake();
    }
}

/// A call's hold on a socket: while it lasts the I/O thread leaves the
/// socket to the calling thread.
struct Call<'a> {
    cell: &'a Cell,
    io: &'a Io,
    /// The call takes a message for a caller that is likely back at once
    /// for the next one (a loop of `wait_for_news`, say): work its turn
    /// left is that next call's (see [`Call::after`]).
    comes_back: bool,
    /// The call waits for a message: it may wait in its one connection's
    /// read ([`Driver::wait_in_read`]) rather than on `own`, until that
    /// read once times out (the socket is idle: waiting on `own` then
    /// wakes for nothing but what comes).
    reads: bool,
}

impl<'a> Call<'a> {
    fn new(cell: &'a Cell, io: &'a Io) -> Call<'a> {
        cell.busy.store(true, Ordering::SeqCst);
        Call {
            cell,
            io,
            comes_back: false,
            reads: false,
        }
    }

    fn lock(&self) -> MutexGuard<'a, Driver> {
        lock(&self.cell.driver)
    }

    /// Runs `f` on the socket now.
    fn run<R>(&self, f: impl FnOnce(&mut Driver, CoreInstant) -> R) -> R {
        let mut d = self.lock();
        let now = self.io.hub.core_now();
        // `f` may change the set (send, reply, publish, subscribe).
        d.settled = false;
        let r = f(&mut d, now);
        self.after(&mut d, now);
        r
    }

    /// Drives the socket until `take` gives something or `deadline` comes
    /// (asked for only once `take` has given nothing).
    fn until<R>(
        &mut self,
        mut deadline: impl FnMut() -> Option<Instant>,
        mut take: impl FnMut(&mut Driver) -> Option<R>,
    ) -> Option<R> {
        let mut d = self.lock();
        // Each pass moves bytes or waits once; bounded by the deadline.
        loop {
            if let Some(r) = take(&mut d) {
                self.done_waiting(&mut d, self.io.hub.core_now());
                return Some(r);
            }
            // One clock reading for the engine's `now`, the deadline and
            // the wait's timeout, unless a turn runs in between (then it is
            // read again): a round trip's wait measured two readings, ~40
            // instructions each and a `rdtscp` on a virtual machine.
            let mut clock = Instant::now();
            let now = self.io.hub.core_at(clock);
            // Settled and no timer due: a turn would move nothing.
            let mut timer = None;
            let quiet = d.settled && {
                timer = d.set.poll_timeout();
                timer.is_none_or(|t| t > now)
            };
            if !quiet {
                d.turn(now);
                if let Some(r) = take(&mut d) {
                    // The turn's `now`: the clock is read again only
                    // after a wait.
                    self.done_waiting(&mut d, now);
                    return Some(r);
                }
                timer = d.set.poll_timeout();
                clock = Instant::now();
            }
            let timer = timer.map(|t| self.io.hub.to_std(t));
            let deadline = deadline();
            let wake = match (deadline, timer) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if deadline.is_some_and(|d| clock >= d) {
                self.done_waiting(&mut d, now);
                return None;
            }
            if d.unfinished {
                // Work is left that no readiness event will report again
                // (edge-triggered): turn again rather than wait, with what
                // else is ready now (a good peer's request amid a flood).
                d.catch_up(self.cell.missed.swap(false, Ordering::SeqCst));
                continue;
            }
            d = self.wait(d, wake.map(|w| (w, clock)), now);
        }
    }

    /// A wait is over. The socket stays unwatched by the I/O thread (the
    /// caller is likely to wait again soon: see [`WATCH_AGAIN`]). Only
    /// waits put that off: a call that does not wait (publish, say) leaves
    /// the socket to the I/O thread when its time comes, or it would never
    /// see a new subscriber of a program that publishes often.
    fn done_waiting(&self, d: &mut Driver, now: CoreInstant) {
        d.watch_later(now);
        self.after(d, now);
    }

    /// Drives the socket until its output is written or `deadline`
    /// comes; whether it was.
    fn flushed(&mut self, deadline: Instant) -> bool {
        self.until(|| Some(deadline), |d| d.written().then_some(()))
            .is_some()
    }

    /// Waits for the socket's sources until `until` (and the clock's
    /// reading then), or for ever; `now` is the engine's time at that
    /// reading. A call that waits for a message on one connection waits in
    /// its read ([`Driver::wait_in_read`]).
    #[cfg(unix)]
    fn wait(
        &mut self,
        mut d: MutexGuard<'a, Driver>,
        until: Option<(Instant, Instant)>,
        now: CoreInstant,
    ) -> MutexGuard<'a, Driver> {
        let timeout = until.map(|(t, clock)| t.saturating_duration_since(clock));
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.reads {
            match d.wait_in_read(timeout, now) {
                ReadWait::Unused => {}
                ReadWait::Came => return d,
                ReadWait::TimedOut => {
                    self.reads = false;
                    return d;
                }
            }
        }
        d.wait_own(timeout);
        // Every source looked at (from `now` on, at the latest).
        d.looked = now;
        d
    }

    /// Waits for the I/O thread until `until` (and the clock's reading
    /// then), or for ever (no waiting on the socket's own sources here).
    #[cfg(not(unix))]
    fn wait(
        &mut self,
        mut d: MutexGuard<'a, Driver>,
        until: Option<(Instant, Instant)>,
        _now: CoreInstant,
    ) -> MutexGuard<'a, Driver> {
        // What the I/O thread saw for this socket while the call had it
        // (edge-triggered: not reported again): the caller's loop turns it.
        if d.catch_up(self.cell.missed.swap(false, Ordering::SeqCst)) {
            return d;
        }
        d.waiting += 1;
        self.cell.busy.store(false, Ordering::SeqCst);
        self.io.wake();
        let left = until.map_or(Duration::from_secs(3600), |(t, clock)| {
            t.saturating_duration_since(clock)
        });
        let (mut d, _) = self
            .cell
            .ready
            .wait_timeout(d, left)
            .unwrap_or_else(|e| e.into_inner());
        self.cell.busy.store(true, Ordering::SeqCst);
        d.waiting -= 1;
        d
    }

    /// Before the socket is let go: what came for it since it last looked
    /// (the I/O thread saw it come and left it), then its next deadline,
    /// telling the I/O thread if that is earlier than it knows.
    fn after(&self, d: &mut Driver, now: CoreInstant) {
        // Only if the I/O thread saw something: a look at the own `Poll`
        // on every call would cost a system call each. Read before it is
        // cleared: a swap is a locked instruction even when the flag is
        // down, as it is on almost every call (only whoever holds the
        // driver's lock clears it, so a flag seen up is still up for the
        // swap).
        if self.cell.missed.load(Ordering::SeqCst)
            && self.cell.missed.swap(false, Ordering::SeqCst)
            && d.catch_up(true)
        {
            d.turn(now);
        }
        // Asked once (it looks at every connection), again only if a turn
        // may have changed it.
        let mut timeout = d.set.poll_timeout();
        if timeout.is_some_and(|t| t <= now) {
            d.turn(now);
            timeout = d.set.poll_timeout();
        }
        if d.unfinished && d.inbox.is_empty() && !(self.comes_back && d.watch_at.is_some()) {
            // The last turn left work (see `Driver::turn_until`): the I/O
            // thread takes the socket once the call lets go (see `drop`).
            // Not while messages wait in the inbox: the caller comes back
            // for them, and its call turns the socket once they are taken.
            // Nor when the call has just taken the last one of an
            // unwatched socket ([`Call::comes_back`]): the caller's next
            // call turns it, and if none comes the I/O thread does at
            // `watch_at` (the socket's timer, at most [`WATCH_AGAIN`]
            // away). Handing it over at once cost a wake-up of the I/O
            // thread per read's worth of news (~32 items), and the next
            // call then often waited for the lock while that thread
            // turned the socket.
            d.unfinished = false;
            self.cell.missed.store(true, Ordering::SeqCst);
        }
        d.watch_if_due(now);
        let t = d.next_deadline(timeout).map_or(u64::MAX, |t| t.as_millis());
        // Stored only when it changed (a sequentially consistent store is
        // a locked `xchg` on x86): a loop of calls moves it once per
        // millisecond of `watch_at`, not once per call. Only whoever has
        // the driver's lock stores it, so the value read is current.
        if self.cell.timer.load(Ordering::SeqCst) != t {
            self.cell.timer.store(t, Ordering::SeqCst);
        }
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        self.cell.busy.store(false, Ordering::SeqCst);
        // Woken for this socket after the call's last look: the I/O thread
        // takes it now. And it skipped this socket's deadline meanwhile:
        // if that is earlier than its own, wake it (see `run`).
        if self.cell.missed.load(Ordering::SeqCst) {
            self.io.kick(self.cell);
        } else if self.cell.timer.load(Ordering::SeqCst)
            < self.io.hub.next_timer.load(Ordering::SeqCst)
        {
            self.io.wake();
        }
    }
}

// ---- one socket's bytes -----------------------------------------------------

/// One TCP connection: its socket and the input its engine has not taken.
struct Stream {
    tcp: TcpStream,
    token: Token,
    /// Registered for writability too (see [`Driver::want_writable`]).
    watch_writable: bool,
    input: Vec<u8>,
    start: usize,
    end: usize,
    /// A connect that has not finished.
    connecting: bool,
    /// Who it is (kept: a reset socket no longer says).
    peer: SocketAddr,
    readable: bool,
    writable: bool,
    /// Its descriptor is in blocking mode (Linux: a call waited in its
    /// read, [`Driver::wait_in_read`]); every other read and write says
    /// not to wait ([`sys`]), so this changes nothing for them.
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    blocking: bool,
    /// The receive timeout its descriptor has, in milliseconds (0: none,
    /// the kernel's default): set again only when a wait needs another.
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    read_timeout: u64,
}

impl Stream {
    fn new(tcp: TcpStream, peer: SocketAddr, connecting: bool, token: Token) -> Stream {
        Stream {
            tcp,
            token,
            watch_writable: connecting,
            input: Vec::new(),
            start: 0,
            end: 0,
            connecting,
            peer,
            readable: true,
            writable: true,
            blocking: false,
            read_timeout: 0,
        }
    }
}

/// How a wait in a connection's read went ([`Driver::wait_in_read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
enum ReadWait {
    /// Not possible (other sources to watch, output to write, ...): the
    /// call waits on the socket's own `Poll`.
    Unused,
    /// Bytes, the connection's end or an error came: a turn takes them.
    Came,
    /// The read's timeout came first.
    TimedOut,
}

/// One socket's state: its core socket set, its TCP sockets, and the
/// messages that arrived for its caller.
struct Driver {
    set: Growing,
    sock: SocketId,
    kind: Kind,
    endpoint: SocketAddr,
    /// Where the socket's sources are registered: its own `Poll` on Unix
    /// (so a call can wait on it; the I/O thread watches that `Poll`), the
    /// I/O thread's elsewhere.
    own: Option<Poll>,
    registry: Registry,
    /// The I/O thread's registry (which watches `own`).
    #[cfg_attr(not(unix), allow(dead_code))]
    io_registry: Registry,
    /// The I/O thread does not watch `own` now (see [`Driver::unwatch`]).
    #[cfg_attr(not(unix), allow(dead_code))]
    unwatched: bool,
    /// When a call last looked at every source in `own` (at most this
    /// late): a listening socket's wait in one connection's read lasts at
    /// most [`LOOK_EVERY`] from then.
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))]
    looked: CoreInstant,
    /// When the I/O thread watches `own` again if no call has come
    /// ([`WATCH_AGAIN`]); `None` while it watches, or while messages wait in
    /// the inbox (the caller comes back for those, and until it does there
    /// is nothing to read for: TCP holds the rest, as a full inbox does, and
    /// a stream of news would wake the thread for every packet).
    watch_at: Option<CoreInstant>,
    id: usize,
    listener: Option<TcpListener>,
    listener_ready: bool,
    /// By peer index.
    streams: Vec<Option<Stream>>,
    inbox: VecDeque<Incoming>,
    /// Parts of messages still arriving, per peer.
    partial: Vec<(PeerId, Vec<Vec<u8>>)>,
    /// Buffers callers gave back ([`Socket::recycle`]), for parts.
    spare: Spare,
    /// REQ: the request waiting for a connected peer.
    request: Option<Vec<u8>>,
    /// PUB: peers that have subscribed.
    subscribed: Vec<PeerId>,
    /// PUB: news dropped for slow subscribers, since the last warning.
    dropped: u64,
    /// Callers waiting for the I/O thread.
    waiting: usize,
    /// The last [`Driver::turn`] stopped with work left: whoever drives the
    /// socket next turns it again before waiting for readiness.
    unfinished: bool,
    /// The last turn ended with a round that moved nothing, and nothing
    /// has happened to the socket since (no readiness recorded, no call
    /// has changed it, no message taken from a full inbox): another turn
    /// would move nothing either until a timer of the set is due. A call
    /// about to wait skips that empty turn (it measured ~500 instructions
    /// a round trip on each side).
    settled: bool,
    events: Events,
    /// The class key: CURVE or NULL, and who was refused over it.
    keyed: Keyed,
}

impl Driver {
    fn new(
        io_registry: &Registry,
        id: usize,
        kind: Kind,
        endpoint: Endpoint,
        now: CoreInstant,
        class: Option<&'static ClassKeys>,
    ) -> io::Result<Driver> {
        let mut set = Growing::new(settings());
        let sock = set
            .open(kind.role())
            .map_err(|e| io::Error::other(e.to_string()))?;
        // Unix: the socket's own `Poll`, watched by the I/O thread.
        #[cfg(unix)]
        let (own, registry) = {
            let own = Poll::new()?;
            let registry = own.registry().try_clone()?;
            let fd = std::os::unix::io::AsRawFd::as_raw_fd(&own);
            io_registry.register(&mut mio::unix::SourceFd(&fd), Token(id), Interest::READABLE)?;
            (Some(own), registry)
        };
        #[cfg(not(unix))]
        let (own, registry) = (None, io_registry.try_clone()?);
        let mut d = Driver {
            set,
            sock,
            kind,
            endpoint: endpoint.at,
            own,
            registry,
            io_registry: io_registry.try_clone()?,
            unwatched: false,
            looked: now,
            watch_at: None,
            id,
            listener: None,
            listener_ready: true,
            streams: Vec::new(),
            inbox: VecDeque::new(),
            partial: Vec::new(),
            spare: Spare::default(),
            request: None,
            subscribed: Vec::new(),
            dropped: 0,
            waiting: 0,
            unfinished: false,
            settled: false,
            events: Events::with_capacity(256),
            keyed: Keyed::new(class),
        };
        if kind.listens() {
            // Windows' listeners are exclusive: see `ports::tcp_listener`.
            let std_listener = match endpoint.held {
                Some(held) => held,
                None => crate::ports::tcp_listener(endpoint.at)?,
            };
            std_listener.set_nonblocking(true)?;
            let mut listener = TcpListener::from_std(std_listener);
            let token = d.token(LISTENER);
            d.registry
                .register(&mut listener, token, Interest::READABLE)?;
            d.listener = Some(listener);
        } else {
            d.set
                .connect(sock, now)
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
        Ok(d)
    }

    /// The token of one of this socket's sources: in its own `Poll`, the
    /// peer index (or [`LISTENER`]); in the I/O thread's, also the socket.
    fn token(&self, index: Token) -> Token {
        if self.own.is_some() {
            index
        } else {
            Token(self.id.wrapping_shl(24) | (index.0 & 0xFF_FFFF))
        }
    }

    /// Takes in readiness of the socket's sources that nobody has recorded
    /// yet (edge-triggered: it is reported once); whether any may be there.
    /// With its own `Poll` (Unix) that is what the `Poll` holds, whoever
    /// was woken for it. Without one, `missed` says the I/O thread saw
    /// some while a call had the socket ([`Cell::missed`]): which sources
    /// it was for is lost, so every source counts as ready once.
    fn catch_up(&mut self, missed: bool) -> bool {
        if self.own.is_some() {
            return self.poll_own();
        }
        if missed {
            self.all_ready();
        }
        missed
    }

    /// Every source counts as ready once (see [`Driver::catch_up`]).
    fn all_ready(&mut self) {
        self.settled = false;
        self.listener_ready = true;
        for s in self.streams.iter_mut().flatten() {
            s.readable = true;
            s.writable = true;
        }
    }

    /// Records readiness from a `Poll` event.
    fn ready(&mut self, token: Token, readable: bool, writable: bool) {
        self.settled = false;
        mark_ready(
            &mut self.listener_ready,
            &mut self.streams,
            self.own.is_some(),
            token,
            (readable, writable),
        );
    }

    /// The I/O thread stops watching the socket's own `Poll` (Unix): a call
    /// is about to wait on it, and what comes is that call's; waking the
    /// thread for it would only cost the other core a wake-up.
    fn unwatch(&mut self) {
        #[cfg(unix)]
        if let (Some(own), false) = (self.own.as_ref(), self.unwatched) {
            let fd = std::os::unix::io::AsRawFd::as_raw_fd(own);
            self.unwatched = self
                .io_registry
                .deregister(&mut mio::unix::SourceFd(&fd))
                .is_ok();
        }
    }

    /// The I/O thread watches the socket's own `Poll` again.
    fn watch(&mut self) {
        #[cfg(unix)]
        if let (Some(own), true) = (self.own.as_ref(), self.unwatched) {
            let fd = std::os::unix::io::AsRawFd::as_raw_fd(own);
            let mut source = mio::unix::SourceFd(&fd);
            match self
                .io_registry
                .register(&mut source, Token(self.id), Interest::READABLE)
            {
                Ok(()) => self.unwatched = false,
                Err(e) => debug!("networkzero I/O: watching a socket again: {e}"),
            }
        }
    }

    /// A wait ends (or is about to begin): if the socket is unwatched, when
    /// the I/O thread is to watch it again ([`WATCH_AGAIN`] from `now`, or
    /// never while the inbox holds messages).
    fn watch_later(&mut self, now: CoreInstant) {
        self.watch_at = (self.unwatched && self.inbox.is_empty()).then(|| now + WATCH_AGAIN);
    }

    /// Watches the socket again if its time has come (the I/O thread, or a
    /// call letting go of it).
    fn watch_if_due(&mut self, now: CoreInstant) {
        if self.watch_at.is_some_and(|t| t <= now) {
            self.watch();
            // Should registering fail, it is tried again later.
            self.watch_at = self.unwatched.then(|| now + WATCH_AGAIN);
        }
    }

    /// The earliest of the socket set's deadline (`set_timeout`, its
    /// `poll_timeout()`) and [`Driver::watch_at`]: when the I/O thread is
    /// to look at the socket with no event for it.
    fn next_deadline(&self, set_timeout: Option<CoreInstant>) -> Option<CoreInstant> {
        CoreInstant::sooner(set_timeout, self.watch_at)
    }

    /// Waits on the socket's own `Poll` (Unix), then records what is ready.
    #[cfg(unix)]
    fn wait_own(&mut self, timeout: Option<Duration>) {
        // Left unwatched after the wait too: see [`WATCH_AGAIN`].
        self.unwatch();
        let Some(own) = self.own.as_mut() else {
            return;
        };
        if let Err(e) = own.poll(&mut self.events, timeout) {
            if e.kind() != ErrorKind::Interrupted {
                debug!("networkzero I/O: poll: {e}");
            }
            return;
        }
        self.take_events();
    }

    /// What the socket's own `Poll` has ready now, without waiting;
    /// whether anything is.
    fn poll_own(&mut self) -> bool {
        let Some(own) = self.own.as_mut() else {
            return false;
        };
        if own.poll(&mut self.events, Some(Duration::ZERO)).is_err() {
            return false;
        }
        let any = !self.events.is_empty();
        self.take_events();
        any
    }

    /// The index of the socket's only connection, if it has exactly one
    /// and it is up (not still connecting).
    fn only_connection(&self) -> Option<usize> {
        let mut open = self
            .streams
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)));
        match (open.next(), open.next()) {
            (Some((i, s)), None) if !s.connecting => Some(i),
            _ => None,
        }
    }

    /// Takes in what came for the socket since a call last looked (a REQ
    /// before its request: its server may have ended meanwhile); whether a
    /// turn should follow. A socket whose one source is a connection (no
    /// listener) has that connection read, and only that (a turn follows
    /// if it moved): its read reports what `own` would (bytes, the
    /// connection's end, an error), and `own` may still list readiness a
    /// wait in that read already took ([`Driver::wait_in_read`]), which
    /// would cost a read more. Otherwise `own` says.
    fn look(&mut self, now: CoreInstant) -> bool {
        if self.listener.is_none() {
            if let Some(i) = self.only_connection() {
                if let Some(s) = self.streams.get_mut(i).and_then(Option::as_mut) {
                    s.readable = true;
                }
                return self.read(i, now);
            }
        }
        self.poll_own()
    }

    /// Waits for the next bytes of the socket's one connection in a
    /// blocking read of it, until `timeout` (`None`: for ever): one system
    /// call where a wait on `own` and the read after it are two. Used when
    /// that read is all a wait on `own` could report: one connection, up,
    /// nothing of its input left to take, no output waiting for room, and
    /// no listener, or one looked at within [`LOOK_EVERY`] (the read's
    /// timeout ends there, then the call looks at `own`: a second peer is
    /// taken at most that late). The I/O thread does not read the
    /// connection meanwhile: the call holds the driver, and the socket
    /// stays unwatched as after a wait on `own`. Timers (heartbeats,
    /// reconnects) are in `timeout`, as for a wait on `own`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn wait_in_read(&mut self, timeout: Option<Duration>, now: CoreInstant) -> ReadWait {
        let mut timeout = timeout;
        if self.listener.is_some() {
            let left = (self.looked + LOOK_EVERY).saturating_since(now);
            let left = Duration::from_millis(left.as_millis());
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        let Some(ms) = read_timeout(timeout) else {
            return ReadWait::Unused;
        };
        let Some(i) = self.only_connection() else {
            return ReadWait::Unused;
        };
        if !self.set.output(i).is_empty() || !self.set.wants_input(i) || self.inbox_full() {
            return ReadWait::Unused;
        }
        self.unwatch();
        let Some(s) = self.streams.get_mut(i).and_then(Option::as_mut) else {
            return ReadWait::Unused;
        };
        if s.start < s.end {
            return ReadWait::Unused;
        }
        if !s.blocking {
            if let Err(e) = sys::set_blocking(&s.tcp) {
                debug!("networkzero I/O: a blocking read: {e}");
                return ReadWait::Unused;
            }
            s.blocking = true;
        }
        if s.read_timeout != ms {
            if let Err(e) = sys::set_read_timeout(&s.tcp, ms) {
                debug!("networkzero I/O: a read's timeout: {e}");
                return ReadWait::Unused;
            }
            s.read_timeout = ms;
        }
        if s.input.len() < READ_CHUNK {
            s.input.resize(READ_CHUNK, 0);
        }
        match sys::read_waiting(&s.tcp, &mut s.input) {
            Ok(n) => {
                s.start = 0;
                s.end = n;
                // Less than asked for: the kernel had no more (as in
                // `read`). Nothing (the connection's end): the turn's read
                // finds that end again and ends the connection.
                s.readable = n == 0 || n == s.input.len();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return ReadWait::TimedOut;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => return ReadWait::TimedOut,
            // The turn's read meets it again and ends the connection.
            Err(_) => s.readable = true,
        }
        self.settled = false;
        ReadWait::Came
    }

    /// Records what the last poll of `own` reported (straight from the
    /// events buffer, which every poll reuses: no allocation per wait).
    fn take_events(&mut self) {
        let own = self.own.is_some();
        if !self.events.is_empty() {
            self.settled = false;
        }
        for e in self.events.iter() {
            mark_ready(
                &mut self.listener_ready,
                &mut self.streams,
                own,
                e.token(),
                readiness(e),
            );
        }
    }

    /// Moves bytes and time between the TCP sockets and the core socket set
    /// until nothing moves, following the set's drain contract; see
    /// [`Driver::turn_until`].
    fn turn(&mut self, now: CoreInstant) {
        self.turn_until(now, || false);
    }

    /// [`Driver::turn`], stopping early once a message for the caller has
    /// arrived (it need not wait for the rest: a flood of connections would
    /// otherwise keep a request from its REP, or a reply from its peer, for
    /// as long as it lasts), after [`ROUNDS`] rounds, or when `stop` says
    /// (a call wants the socket). [`Driver::unfinished`] then says whether
    /// work is left.
    fn turn_until(&mut self, now: CoreInstant, stop: impl Fn() -> bool) {
        let had = self.inbox.len();
        self.unfinished = false;
        self.settled = false;
        let mut accepts = ACCEPTS_PER_TURN;
        for _ in 0..ROUNDS {
            if !self.round(now, &mut accepts) {
                self.end_turn(accepts);
                return;
            }
            if self.inbox.len() > had || stop() {
                break;
            }
            // The next round would move nothing: spared, it ends the turn
            // as it would have (~450 instructions a turn). Debug builds
            // (every test) run it anyway, to check that.
            if !self.has_work(now, accepts) {
                debug_assert!(
                    !self.round(now, &mut accepts),
                    "a round moved after has_work said none would"
                );
                self.end_turn(accepts);
                return;
            }
        }
        self.unfinished = self.work_left();
    }

    /// A turn ends because a round moved nothing or the next would not,
    /// with `accepts` left of its budget. Settled, unless the budget ran
    /// out with the listener still ready: connections wait that no
    /// readiness event reports again (edge-triggered), so the turn is
    /// unfinished and the next one comes without waiting. A full inbox
    /// stops reading with input left: taking a message from it is a change
    /// no readiness event reports, so it is not settled either.
    fn end_turn(&mut self, accepts: usize) {
        self.unfinished = accepts == 0 && self.listener.is_some() && self.listener_ready;
        self.settled = !self.unfinished && !self.inbox_full();
    }

    /// One round of [`Driver::turn_until`]: takes connections, finishes
    /// connects, writes and reads every connection, runs the set's timers,
    /// actions and events; whether anything moved.
    fn round(&mut self, now: CoreInstant, accepts: &mut usize) -> bool {
        let mut moved = self.accept(now, accepts);
        for i in 0..self.streams.len() {
            moved |= self.connected(i, now);
            moved |= self.write(i, now);
            moved |= self.read(i, now);
        }
        if self.set.poll_timeout().is_some_and(|t| t <= now) {
            self.set.handle_timeout(now);
            moved = true;
        }
        moved |= self.actions(now);
        moved |= self.events();
        moved
    }

    /// Whether another round of [`Driver::turn_until`] would move anything
    /// at `now`, with `accepts` left of the turn's budget: the set has
    /// work, or a source has what that round's steps look for (a
    /// connection to take, a connect to finish, output the kernel takes,
    /// input to feed or read). Never false when the round would move.
    fn has_work(&self, now: CoreInstant, accepts: usize) -> bool {
        let takes_input = !self.inbox_full();
        (accepts > 0 && self.listener.is_some() && self.listener_ready)
            || self.set.has_work(now)
            || self.streams.iter().enumerate().any(|(i, s)| {
                s.as_ref().is_some_and(|s| {
                    if s.connecting {
                        return s.readable || s.writable;
                    }
                    (s.writable && !self.set.output(i).is_empty())
                        || (takes_input
                            && (s.start < s.end || s.readable)
                            && self.set.wants_input(i))
                })
            })
    }

    /// Whether a source has work this side knows of and has not done (a
    /// turn stopped early): connections waiting to be taken, input read or
    /// readable, output the kernel would take. Readiness is edge-triggered,
    /// so nothing reports it again.
    fn work_left(&self) -> bool {
        (self.listener.is_some() && self.listener_ready)
            || self.streams.iter().enumerate().any(|(i, s)| {
                s.as_ref().is_some_and(|s| {
                    s.start < s.end
                        || (s.readable && !self.inbox_full())
                        || (s.writable && !self.set.output(i).is_empty())
                })
            })
    }

    /// Takes new connections (listening sockets), at most `budget` of them
    /// (the rest wait for the next turn: the listener stays ready).
    fn accept(&mut self, now: CoreInstant, budget: &mut usize) -> bool {
        if !self.listener_ready {
            return false;
        }
        let mut moved = false;
        while *budget > 0 {
            *budget -= 1;
            let Some(listener) = self.listener.as_ref() else {
                return moved;
            };
            let (tcp, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.listener_ready = false;
                    return moved;
                }
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
                    debug!("networkzero I/O: accept on {}: {e}", self.endpoint);
                    self.listener_ready = false;
                    return moved;
                }
            };
            moved = true;
            let accepted = match self.keyed.secure(true) {
                Ok(None) => self.set.accept(self.sock, now),
                Ok(Some(secure)) => self.set.accept_secured(self.sock, now, secure),
                Err(e) => {
                    warn!(
                        "no random numbers for a keyed connection on {}: {e}",
                        self.endpoint
                    );
                    continue;
                }
            };
            // At its limit the set makes room or refuses (dropping `tcp`).
            if let Ok(i) = accepted {
                let _ = tcp.set_nodelay(true);
                self.attach(i, tcp, peer, false, now);
            }
        }
        moved
    }

    /// Registers a TCP socket as peer `i`'s.
    fn attach(
        &mut self,
        i: usize,
        mut tcp: TcpStream,
        peer: SocketAddr,
        connecting: bool,
        now: CoreInstant,
    ) {
        let token = self.token(Token(i));
        // Writable too only while it matters (connecting, output waiting
        // for room): every ACK would be an event otherwise.
        let interest = if connecting {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if let Err(e) = self.registry.register(&mut tcp, token, interest) {
            debug!("networkzero I/O: registering a connection: {e}");
            self.set.handle_closed(i, now);
            return;
        }
        if self.streams.len() <= i {
            self.streams.resize_with(i + 1, || None);
        }
        if let Some(slot) = self.streams.get_mut(i) {
            *slot = Some(Stream::new(tcp, peer, connecting, token));
        }
    }

    /// Whether peer `i`'s TCP socket reports writability: only while it
    /// connects or has output the kernel would not take.
    fn want_writable(&mut self, i: usize, want: bool) {
        let Some(s) = self.streams.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        if s.watch_writable == want {
            return;
        }
        let interest = if want {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if self
            .registry
            .reregister(&mut s.tcp, s.token, interest)
            .is_ok()
        {
            s.watch_writable = want;
        }
    }

    /// Drops peer `i`'s TCP socket.
    fn detach(&mut self, i: usize) {
        if let Some(mut s) = self.streams.get_mut(i).and_then(Option::take) {
            let _ = self.registry.deregister(&mut s.tcp);
        }
    }

    /// Peer `i`'s TCP socket failed or closed.
    fn lost(&mut self, i: usize, now: CoreInstant, why: &dyn std::fmt::Display) {
        debug!(
            "networkzero I/O: a connection of {} ended: {why}",
            self.endpoint
        );
        self.closed_in_handshake(i);
        self.detach(i);
        self.set.handle_closed(i, now);
    }

    /// A dialled connection finished connecting (or failed to).
    fn connected(&mut self, i: usize, now: CoreInstant) -> bool {
        let Some(s) = self.streams.get_mut(i).and_then(Option::as_mut) else {
            return false;
        };
        if !s.connecting || !(s.readable || s.writable) {
            return false;
        }
        match s.tcp.take_error() {
            Ok(Some(e)) | Err(e) => {
                self.lost(i, now, &e);
                return true;
            }
            Ok(None) => {}
        }
        match s.tcp.peer_addr() {
            Ok(_) => {
                s.connecting = false;
                let _ = s.tcp.set_nodelay(true);
                match self.keyed.secure(false) {
                    Ok(None) => self.set.handle_connected(i, now),
                    Ok(Some(secure)) => self.set.handle_connected_secured(i, now, secure),
                    Err(e) => {
                        warn!(
                            "no random numbers for a keyed connection to {}: {e}",
                            self.endpoint
                        );
                        self.lost(i, now, &e);
                        return true;
                    }
                }
                self.want_writable(i, false);
                true
            }
            Err(e) if e.kind() == ErrorKind::NotConnected => {
                // Not yet: the next readiness event says more.
                s.readable = false;
                s.writable = false;
                false
            }
            Err(e) => {
                self.lost(i, now, &e);
                true
            }
        }
    }

    /// Writes what peer `i`'s connection has for it.
    fn write(&mut self, i: usize, now: CoreInstant) -> bool {
        let mut moved = false;
        // Each pass writes or stops.
        for _ in 0..ROUNDS {
            let Some(s) = self.streams.get_mut(i).and_then(Option::as_mut) else {
                return moved;
            };
            let out = self.set.output(i);
            if s.connecting || !s.writable || out.is_empty() {
                if !s.connecting && out.is_empty() {
                    self.want_writable(i, false);
                }
                return moved;
            }
            match sys::write_now(&s.tcp, out) {
                Ok(0) => {
                    self.lost(i, now, &"closed");
                    return true;
                }
                Ok(n) => {
                    self.set.consume_output(i, n);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    s.writable = false;
                    self.want_writable(i, true);
                    return moved;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.lost(i, now, &e);
                    return true;
                }
            }
        }
        moved
    }

    /// PUB: writes the connections that have a batch queued; whether any
    /// output is left for the I/O thread.
    fn write_batches(&mut self, now: CoreInstant) -> bool {
        let mut left = false;
        for i in 0..self.streams.len() {
            let queued = self.set.output(i).len();
            if queued >= WRITE_BATCH {
                self.write(i, now);
            }
            left |= !self.set.output(i).is_empty();
        }
        left
    }

    /// Whether every connection's output is written.
    fn written(&self) -> bool {
        (0..self.streams.len()).all(|i| {
            self.set.output(i).is_empty()
                || self
                    .streams
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_none_or(|s| s.connecting)
        })
    }

    /// Whether the caller's inbox is full (SUB): reading stops, so TCP
    /// pushes back.
    fn inbox_full(&self) -> bool {
        self.kind == Kind::Sub && self.inbox.len() >= HIGH_WATER_MARK
    }

    /// Whether a connection may have input waiting (a PUB reads its
    /// subscribers' subscriptions before it publishes).
    fn pending_input(&self) -> bool {
        self.listener_ready || self.streams.iter().flatten().any(|s| s.readable)
    }

    /// Feeds what peer `i` sent to its connection, then reads more.
    fn read(&mut self, i: usize, now: CoreInstant) -> bool {
        let mut moved = false;
        // Each pass takes bytes or reads; bounded by the input.
        for _ in 0..ROUNDS {
            if self.inbox_full() || !self.set.wants_input(i) {
                return moved;
            }
            let Some(s) = self.streams.get_mut(i).and_then(Option::as_mut) else {
                return moved;
            };
            if s.start < s.end {
                let input = s.input.get(s.start..s.end).unwrap_or(&[]);
                let got = self.set.handle_input_borrowed(i, input, now);
                let consumed = got.consumed;
                let part = got
                    .message
                    .map(|m| (m.peer, self.spare.part(m.part.data), m.part.more));
                s.start += consumed;
                if s.start >= s.end {
                    s.start = 0;
                    s.end = 0;
                }
                let delivered = part.is_some();
                if let Some((peer, data, more)) = part {
                    self.deliver(peer, data, more);
                }
                if let Some(e) = self.set.error(i) {
                    self.refused(i, Refusal::Failed(e));
                }
                let told = self.events();
                if consumed == 0 && !delivered && !told {
                    return moved;
                }
                moved = true;
                continue;
            }
            if s.connecting || !s.readable {
                return moved;
            }
            if s.input.len() < READ_CHUNK {
                s.input.resize(READ_CHUNK, 0);
            }
            match sys::read_now(&s.tcp, &mut s.input) {
                Ok(0) => {
                    s.readable = false;
                    self.closed_in_handshake(i);
                    self.set.handle_eof(i);
                    return true;
                }
                Ok(n) => {
                    s.start = 0;
                    s.end = n;
                    // Less than asked for: with epoll or kqueue (edge-
                    // triggered) the kernel had no more, and more arriving
                    // later is a new readiness event; saves a read that
                    // would only say WouldBlock. Windows' selector is not
                    // edge-triggered that way (tokio does the same).
                    s.readable = !PARTIAL_READ_DRAINS || n == s.input.len();
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    s.readable = false;
                    return moved;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.lost(i, now, &e);
                    return true;
                }
            }
        }
        moved
    }

    /// Peer `i`'s connection was refused over `why`: the user hears once
    /// per peer if the class key is the likely cause.
    fn refused(&mut self, i: usize, why: Refusal) {
        let Some(peer) = self.streams.get(i).and_then(Option::as_ref).map(|s| s.peer) else {
            return;
        };
        let shown: &dyn std::fmt::Display = if self.kind.listens() {
            &peer.ip()
        } else {
            &peer
        };
        self.keyed.refused(self.kind, peer.ip(), shown, why);
    }

    /// A keyed connection that the peer ends during its handshake, once
    /// the TCP connection was up, was most likely refused over the key (see
    /// [`Refusal::Closed`]).
    fn closed_in_handshake(&mut self, i: usize) {
        let begun = self
            .streams
            .get(i)
            .and_then(Option::as_ref)
            .is_some_and(|s| !s.connecting);
        if self.keyed.is_keyed() && begun && self.set.in_handshake(i) {
            self.refused(i, Refusal::Closed);
        }
    }

    /// A part arrived: whole messages go to the inbox.
    fn deliver(&mut self, peer: PeerId, data: Vec<u8>, more: bool) {
        let at = self.partial.iter().position(|(p, _)| *p == peer);
        let mut parts = match at {
            Some(k) => self.partial.swap_remove(k).1,
            None => self.spare.list(),
        };
        parts.push(data);
        if more {
            self.partial.push((peer, parts));
        } else {
            self.inbox.push_back(Incoming { from: peer, parts });
        }
    }

    /// Does what the set asks of the TCP sockets.
    fn actions(&mut self, now: CoreInstant) -> bool {
        let mut moved = false;
        // Each pass takes one action; the set has a bounded number.
        for _ in 0..1024 {
            let Some(action) = self.set.poll_action(now) else {
                return moved;
            };
            moved = true;
            match action {
                Action::Connect { peer, .. } => match TcpStream::connect(self.endpoint) {
                    Ok(tcp) => self.attach(peer, tcp, self.endpoint, true, now),
                    Err(e) => {
                        debug!("networkzero I/O: connecting to {}: {e}", self.endpoint);
                        self.set.handle_closed(peer, now);
                    }
                },
                Action::Close { peer } | Action::Abort { peer } => self.detach(peer),
                _ => {}
            }
        }
        moved
    }

    /// Takes the set's events: messages to the inbox, the rest to what
    /// this side keeps (a REQ's waiting request, a PUB's subscribers).
    fn events(&mut self) -> bool {
        let mut told = false;
        // Each pass takes one event; the set has a bounded number.
        for _ in 0..4096 {
            let Some(event) = self.set.poll_event() else {
                return told;
            };
            told = true;
            match event {
                Event::Message(m) => {
                    let (peer, data, more) = (m.peer, self.spare.part(m.part.data), m.part.more);
                    self.deliver(peer, data, more);
                }
                Event::Connected { .. } => self.send_request(),
                Event::Subscribed { peer, .. } if !self.subscribed.contains(&peer) => {
                    self.subscribed.push(peer);
                }
                Event::Disconnected { peer, error, .. } => {
                    if let Some(e) = error {
                        debug!("networkzero I/O: a peer of {} left: {e}", self.endpoint);
                    }
                    self.subscribed.retain(|p| *p != peer);
                    self.partial.retain(|(p, _)| *p != peer);
                    // Its requests can no longer be answered.
                    if self.kind == Kind::Rep {
                        self.inbox.retain(|m| m.from != peer);
                    }
                }
                Event::PeerLimit { .. } => warn!(
                    "{} has {MAX_PEERS} connections, the most it takes: newer ones replace \
                     those still starting, or are refused",
                    self.endpoint
                ),
                _ => {}
            }
        }
        told
    }

    /// REQ: sends a request ([`Socket::request`]).
    fn request(&mut self, payload: Vec<u8>, now: CoreInstant) {
        // Unwatched since the last call, nobody has looked at the socket's
        // sources: what came meanwhile (its server ended, say) is taken in
        // first, so the request waits for the next connection rather than
        // going into one that has ended.
        if self.unwatched && self.look(now) {
            self.turn(now);
        }
        // The reply is the next call's (`next`).
        self.unwatch();
        self.watch_later(now);
        self.request = Some(payload);
        self.send_request();
        self.turn(now);
    }

    /// REQ: hands the waiting request to a connected peer, if one can take it.
    fn send_request(&mut self) {
        let Some(request) = self.request.as_ref() else {
            return;
        };
        match self.set.send(self.sock, &[request]) {
            Ok(_) => {}
            Err(socket::Error::NotConnected) => return,
            Err(e) => debug!(
                "networkzero I/O: request to {} not sent: {e}",
                self.endpoint
            ),
        }
        // Copied into the connection's output (or dropped): its buffer
        // is kept for the next payload.
        if let Some(sent) = self.request.take() {
            self.spare.keep_buffer(sent);
        }
    }

    /// PUB: counts news dropped for slow subscribers, saying so now and then.
    fn note_dropped(&mut self, n: usize) {
        if self.dropped == 0 {
            debug!(
                "networkzero I/O: a subscriber of {} is not keeping up; dropping news for it \
                 (high-water mark {HIGH_WATER_MARK})",
                self.endpoint
            );
        }
        self.dropped = self.dropped.saturating_add(n as u64);
    }

    /// PUB: its subscribers' connections.
    fn subscribers(&self) -> Subscribers {
        let open = self
            .streams
            .iter()
            .flatten()
            .filter(|s| !s.connecting)
            .count();
        let joined = self.subscribed.len();
        Subscribers {
            joining: open.saturating_sub(joined),
            joined,
        }
    }
}

/// The receive timeout, in milliseconds (0: none), a wait in a connection's
/// read of at most `timeout` (`None`: for ever) sets: the longest power of
/// two not over it, so a loop of waits whose time left shrinks sets it
/// again only when that halves (a system call each time), and wakes early
/// by less than half its wait (the call then waits again). `None` under a
/// millisecond: the call waits on `own`, which takes finer timeouts.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn read_timeout(timeout: Option<Duration>) -> Option<u64> {
    let Some(t) = timeout else {
        return Some(0);
    };
    let ms = u64::try_from(t.as_millis())
        .unwrap_or(u64::MAX)
        .min(MAX_READ_TIMEOUT);
    (ms > 0).then(|| 1 << ms.ilog2())
}

/// What an event says of its source: (readable, writable). A closed side
/// or an error counts as both, so the read or write that follows finds it.
fn readiness(e: &mio::event::Event) -> (bool, bool) {
    (
        e.is_readable() || e.is_read_closed() || e.is_error(),
        e.is_writable() || e.is_write_closed() || e.is_error(),
    )
}

/// Records readiness for the source `token` names (in the socket's own
/// `Poll` when `own`, else in the I/O thread's). Takes the fields it sets,
/// so [`Driver::take_events`] can read its events buffer meanwhile.
fn mark_ready(
    listener_ready: &mut bool,
    streams: &mut [Option<Stream>],
    own: bool,
    token: Token,
    (readable, writable): (bool, bool),
) {
    let index = if own { token.0 } else { token.0 & 0xFF_FFFF };
    if index == LISTENER.0 || index == LISTENER.0 & 0xFF_FFFF {
        *listener_ready = true;
    } else if let Some(Some(s)) = streams.get_mut(index) {
        s.readable |= readable;
        s.writable |= writable;
    }
}

// ---- the I/O thread -------------------------------------------------------

/// Tells the scheduler the I/O thread is batch work (Linux's
/// `SCHED_BATCH`): once woken it does not preempt the thread that woke it,
/// it waits for a free core or for that thread's turn to end. A publisher
/// kicks this thread for its first item left unwritten
/// ([`Socket::publish`]). With wake-up preemption the thread took the
/// publisher's core at once, wrote the few items there were and slept
/// again, and the publisher's next item woke it anew: on a busy 2-core
/// machine about 15 wake-ups and as many preemptions of the publisher per
/// 200 items (`NW0_BENCH_SCHED`). As batch work it writes what the
/// publisher queued meanwhile: about one wake-up per 200, as raw libzmq's
/// I/O thread. Calls drive their own sockets (see the module doc), so a
/// request, a reply or a wait for news does not wait for this thread; on a
/// machine with an idle core nothing is later at all.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn batch_work() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `sched_setscheduler` only reads `param`, which outlives the
    // call; pid 0 is the calling thread, and batch scheduling with
    // priority 0 needs no privilege.
    #[allow(unsafe_code)]
    let set = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if set != 0 {
        debug!(
            "networkzero I/O: batch scheduling refused: {}",
            io::Error::last_os_error()
        );
    }
}

/// Elsewhere the scheduler has no such class.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn batch_work() {}

fn run(mut poll: Poll, hub: &Hub) {
    batch_work();
    let mut events = Events::with_capacity(256);
    // Sockets whose last turn left work (`Driver::unfinished`): turned again
    // without waiting.
    let mut again: Vec<usize> = Vec::new();
    loop {
        let next = hub.next_timer.load(Ordering::SeqCst);
        let timeout = if again.is_empty() {
            (next != u64::MAX).then(|| {
                hub.to_std(CoreInstant::from_millis(next))
                    .saturating_duration_since(Instant::now())
            })
        } else {
            Some(Duration::ZERO)
        };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != ErrorKind::Interrupted {
                // Not a passing condition: end, so the runtime starts a new
                // I/O thread on the next call (Io::is_running).
                warn!("networkzero's I/O thread stopped: {e}");
                return;
            }
            continue;
        }
        hub.wake_pending.store(false, Ordering::SeqCst);
        // Which sockets to look at, and (without own `Poll`s) what is ready.
        let mut due: HashMap<usize, Vec<(Token, bool, bool)>> = HashMap::new();
        for e in events.iter() {
            if e.token() == WAKER {
                continue;
            }
            let (r, w) = readiness(e);
            let id = if cfg!(unix) {
                e.token().0
            } else {
                e.token().0 >> 24
            };
            due.entry(id).or_default().push((e.token(), r, w));
        }
        for id in std::mem::take(&mut *lock(&hub.kicks))
            .into_iter()
            .chain(again.drain(..))
        {
            due.entry(id).or_default();
        }
        let cells: Vec<Arc<Cell>> = lock(&hub.sockets)
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        let now = hub.core_now();
        for cell in &cells {
            let ready = due.remove(&cell.id);
            if ready.is_some() {
                // Taken from the kicks (or ready anyway): what is queued
                // from here on is looked at below, or kicked again.
                cell.kicked.store(false, Ordering::SeqCst);
            }
            let timer_due = cell.timer.load(Ordering::SeqCst) <= now.as_millis();
            if ready.is_none() && !timer_due {
                continue;
            }
            // A call has it: the call runs its timers, and looks at its
            // sources again before it lets go.
            let d = if cell.busy.load(Ordering::SeqCst) {
                None
            } else if cfg!(unix) {
                cell.driver.try_lock().ok()
            } else {
                // Without own `Poll`s a call that is not busy waits for this
                // thread and holds the lock only for a moment (until its
                // condition wait): take it. Passing by would leave what is
                // ready unread, and edge-triggered readiness is not
                // reported again (a reply waited for in vain).
                Some(lock(&cell.driver))
            };
            let Some(mut d) = d else {
                if ready.is_some() {
                    cell.missed.store(true, Ordering::SeqCst);
                }
                continue;
            };
            d.catch_up(cell.missed.swap(false, Ordering::SeqCst));
            for (token, r, w) in ready.unwrap_or_default() {
                d.ready(token, r, w);
            }
            let had = d.inbox.len();
            // A call that wants the socket waits for this turn's round.
            d.turn_until(now, || cell.busy.load(Ordering::SeqCst));
            if d.waiting > 0 && d.inbox.len() != had {
                cell.ready.notify_all();
            }
            if std::mem::take(&mut d.unfinished) {
                again.push(cell.id);
            }
            // After the turn: what arrives from here on is in `own`'s
            // ready list, which registering it again reports.
            d.watch_if_due(now);
            let t = d
                .next_deadline(d.set.poll_timeout())
                .map_or(u64::MAX, |t| t.as_millis());
            cell.timer.store(t, Ordering::SeqCst);
        }
        // The earliest deadline, leaving out those due on sockets a call has
        // (the call runs them). A call stores its socket's next deadline
        // (in the future), lets go, then compares it with `next_timer`: if
        // it let go after the second look below, it sees this `next_timer`
        // and wakes the thread if it is earlier; if before, the second look
        // sees its deadline.
        let earliest = |cells: &[Arc<Cell>]| {
            let now = hub.core_now().as_millis();
            cells
                .iter()
                .map(|c| {
                    (
                        c.busy.load(Ordering::SeqCst),
                        c.timer.load(Ordering::SeqCst),
                    )
                })
                .filter(|&(busy, t)| !busy || t > now)
                .map(|(_, t)| t)
                .min()
                .unwrap_or(u64::MAX)
        };
        let next = earliest(&cells);
        hub.next_timer.store(next, Ordering::SeqCst);
        if earliest(&cells) < next {
            hub.next_timer.store(0, Ordering::SeqCst);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// A REQ's driver on a throwaway `Poll` standing for the I/O thread's;
    /// it opens no TCP socket until it is turned.
    fn req(io: &Poll) -> Driver {
        let endpoint = SocketAddr::from(([127, 0, 0, 1], 9));
        Driver::new(
            io.registry(),
            7,
            Kind::Req,
            endpoint.into(),
            CoreInstant::ZERO,
            None,
        )
        .expect("a driver")
    }

    /// Waits until the I/O thread has lowered `flag`, giving it the core
    /// each pass; whether it did (20 s and ten million passes at most).
    fn cleared_by_the_io_thread(flag: &AtomicBool) -> bool {
        let give_up = Instant::now() + Duration::from_secs(20);
        for _ in 0..10_000_000 {
            if !flag.load(Ordering::SeqCst) || Instant::now() > give_up {
                break;
            }
            thread::yield_now();
        }
        !flag.load(Ordering::SeqCst)
    }

    /// A SUB socket's cell that no call holds and the I/O thread does not
    /// list: its connect is due an hour on, so turning it opens no TCP
    /// socket, and it has no timer.
    fn idle_cell(io: &Io, id: usize) -> Cell {
        let endpoint = SocketAddr::from(([127, 0, 0, 1], 9));
        let later = io.hub.core_now() + CoreDuration::from_secs(3600);
        let driver =
            Driver::new(&io.registry, id, Kind::Sub, endpoint.into(), later, None).unwrap();
        Cell {
            id,
            driver: Mutex::new(driver),
            busy: AtomicBool::new(false),
            missed: AtomicBool::new(false),
            kicked: AtomicBool::new(false),
            timer: AtomicU64::new(u64::MAX),
            ready: Condvar::new(),
        }
    }

    /// The engine's time is whole milliseconds since the hub's epoch, at a
    /// clock reading a call made ([`Hub::core_at`], which a wait uses for
    /// its deadline too) or now ([`Hub::core_now`]); [`Hub::to_std`]
    /// maps back, a millisecond late rather than early.
    #[test]
    fn the_engines_time_is_milliseconds_since_the_hubs_epoch() {
        let epoch = Instant::now()
            .checked_sub(Duration::from_secs(2))
            .expect("a monotonic clock two seconds past its start");
        let hub = Hub::new(epoch);
        assert_eq!(hub.core_at(epoch), CoreInstant::ZERO);
        let reading = epoch + Duration::from_micros(1_500_999);
        assert_eq!(hub.core_at(reading), CoreInstant::from_millis(1500));
        let before = epoch.checked_sub(Duration::from_millis(1)).unwrap_or(epoch);
        assert_eq!(hub.core_at(before), CoreInstant::ZERO, "never before 0");
        // The epoch is two seconds past: no clock reading now is earlier.
        assert!(hub.core_now() >= CoreInstant::from_millis(2000));
        assert_eq!(
            hub.to_std(CoreInstant::from_millis(1500)),
            epoch + Duration::from_millis(1501)
        );
    }

    #[test]
    fn a_socket_left_unwatched_is_watched_again_after_watch_again() {
        let io = Poll::new().unwrap();
        let mut d = req(&io);
        let now = CoreInstant::from_millis(1000);
        d.watch_later(now);
        assert_eq!(d.watch_at, None, "watched: nothing to do later");
        d.unwatch();
        assert!(d.unwatched);
        d.watch_later(now);
        let due = now + WATCH_AGAIN;
        assert_eq!(d.watch_at, Some(due));
        assert!(d
            .next_deadline(d.set.poll_timeout())
            .is_some_and(|t| t <= due));
        d.watch_if_due(CoreInstant::from_millis(due.as_millis() - 1));
        assert!(d.unwatched, "not before its time");
        d.watch_if_due(due);
        assert!(!d.unwatched, "watched again");
        assert_eq!(d.watch_at, None);
        assert_eq!(d.next_deadline(d.set.poll_timeout()), d.set.poll_timeout());
    }

    /// A call that took the last message of the inbox, with input left
    /// that its turn did not get to, leaves that input to the caller's
    /// next call (no wake-up of the I/O thread per read's worth of news),
    /// with the I/O thread's turn at `watch_at` in case no call comes;
    /// a watched socket (no such turn due) or another call hands it over
    /// at once.
    #[test]
    fn the_rest_of_a_read_waits_for_the_next_call_or_the_io_thread() {
        let io = start().expect("an I/O thread");
        let now = io.hub.core_now();
        // Not in the hub's list: the I/O thread never turns it, and its
        // connect is due an hour on, so no call here turns it either.
        let cell = idle_cell(&io, 4242);
        let took_last = |comes_back: bool, unwatched: bool| {
            let mut call = Call::new(&cell, &io);
            call.comes_back = comes_back;
            let mut d = call.lock();
            if unwatched {
                d.unwatch(); // as the call's wait left it
            } else {
                d.watch();
            }
            // The turn that brought the message stopped with input left.
            d.unfinished = true;
            call.done_waiting(&mut d, now);
            let handed_over = cell.missed.swap(false, Ordering::SeqCst);
            (handed_over, d.unfinished, cell.timer.load(Ordering::SeqCst))
        };
        let (handed_over, left, timer) = took_last(true, true);
        assert!(!handed_over, "no wake-up of the I/O thread");
        assert!(left, "the next call turns the socket first");
        assert!(
            timer <= (now + WATCH_AGAIN).as_millis(),
            "the I/O thread turns it by then if no call comes"
        );
        let (handed_over, left, _) = took_last(true, false);
        assert!(handed_over && !left, "watched: no turn due, handed over");
        let (handed_over, left, _) = took_last(false, true);
        assert!(
            handed_over && !left,
            "a call that does not take news (a flush)"
        );
    }

    /// A kick lists a socket once until the I/O thread has taken it, and
    /// that thread makes it kickable again: a socket it never cleared
    /// would have every later kick skipped, and a publisher's output left
    /// to the I/O thread would never be written.
    #[test]
    fn a_kicked_socket_is_listed_once_until_the_io_thread_takes_it() {
        let io = start().expect("an I/O thread");
        let cell = Arc::new(idle_cell(&io, 4343));
        // A call has it: the thread only takes the kick.
        cell.busy.store(true, Ordering::SeqCst);
        lock(&io.hub.sockets).insert(4343, Arc::downgrade(&cell));
        // As if a wake-up were on its way: the kicks do not wake the
        // thread (nothing else does: it has no other socket, no timer).
        io.hub.wake_pending.store(true, Ordering::SeqCst);
        io.kick(&cell);
        io.kick(&cell);
        assert_eq!(*lock(&io.hub.kicks), vec![4343], "listed once");
        assert!(cell.kicked.load(Ordering::SeqCst));
        io.hub.wake_pending.store(false, Ordering::SeqCst);
        io.wake();
        assert!(
            cleared_by_the_io_thread(&cell.kicked),
            "the I/O thread took the kick: the socket can be kicked again"
        );
        assert!(lock(&io.hub.kicks).is_empty());
        io.hub.wake_pending.store(true, Ordering::SeqCst);
        io.kick(&cell);
        assert_eq!(*lock(&io.hub.kicks), vec![4343], "kicked again");
        lock(&io.hub.sockets).remove(&4343);
    }

    /// A call that leaves its socket with a deadline earlier than the I/O
    /// thread's next one wakes that thread, which then waits for it: a
    /// thread asleep with no timer would otherwise run the socket's
    /// timers (heartbeats, reconnects, a turn at `watch_at`) never.
    #[test]
    fn a_call_that_leaves_an_earlier_deadline_wakes_the_io_thread() {
        let io = start().expect("an I/O thread");
        // Asleep with no socket and no timer.
        assert_eq!(io.hub.next_timer.load(Ordering::SeqCst), u64::MAX);
        let cell = Arc::new(idle_cell(&io, 4545));
        lock(&io.hub.sockets).insert(4545, Arc::downgrade(&cell));
        // The call stores the socket's deadline (its connect, an hour on).
        Call::new(&cell, &io).run(|_, _| ());
        let deadline = cell.timer.load(Ordering::SeqCst);
        assert!(deadline < u64::MAX, "the socket has a deadline");
        let give_up = in_20s();
        for _ in 0..10_000_000 {
            if io.hub.next_timer.load(Ordering::SeqCst) == deadline || Instant::now() > give_up {
                break;
            }
            thread::yield_now();
        }
        assert_eq!(
            io.hub.next_timer.load(Ordering::SeqCst),
            deadline,
            "the I/O thread waits for the socket's deadline"
        );
        lock(&io.hub.sockets).remove(&4545);
    }

    /// The I/O thread runs as batch work (Linux): woken by a publisher, it
    /// does not preempt it (see [`batch_work`]).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_io_thread_is_batch_work() {
        let io = start().expect("an I/O thread");
        // Its first wake-up is cleared after its first poll, which comes
        // after `batch_work`.
        io.wake();
        assert!(
            cleared_by_the_io_thread(&io.hub.wake_pending),
            "the thread ran"
        );
        // Every I/O thread of this test process is named the same (other
        // tests start theirs): this one's started, so one at least is
        // batch work. A thread's `stat`, after its name's `)`, has its
        // scheduling policy 39th (the 41st field).
        let batch = std::fs::read_dir("/proc/self/task")
            .expect("this process's threads")
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm"))
                    .is_ok_and(|c| c.trim() == "networkzero-io")
            })
            .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
            .filter_map(|stat| {
                let (_, after) = stat.rsplit_once(')')?;
                after.split_whitespace().nth(38)?.parse::<i32>().ok()
            })
            .filter(|&policy| policy == libc::SCHED_BATCH)
            .count();
        assert!(batch > 0, "no I/O thread runs as batch work");
    }

    /// A call that finds what it takes at once (a message already in the
    /// inbox) does not ask for its deadline (a clock reading); one that
    /// finds nothing asks, and a deadline passed ends it.
    #[test]
    fn what_is_there_is_taken_without_reading_the_deadline() {
        let io = start().expect("an I/O thread");
        let cell = idle_cell(&io, 4444);
        let asked = std::cell::Cell::new(0);
        let past = Instant::now();
        let deadline = || {
            asked.set(asked.get() + 1);
            Some(past)
        };
        let mut call = Call::new(&cell, &io);
        call.comes_back = true;
        assert_eq!(call.until(deadline, |_| Some("news")), Some("news"));
        assert_eq!(asked.get(), 0, "no deadline asked for");
        assert_eq!(
            call.until(deadline, |_| None::<&str>),
            None,
            "deadline passed"
        );
        assert!(asked.get() > 0, "nothing there: the deadline is asked for");
    }

    /// A REP socket on a loopback port of its own, and that port's address.
    fn rep_socket(io: &Arc<Io>) -> (Socket, SocketAddr) {
        let held = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let at = held.local_addr().expect("its address");
        let endpoint = Endpoint {
            at,
            held: Some(held),
        };
        let rep = Socket::open(io, Kind::Rep, endpoint, None).expect("a REP socket");
        (rep, at)
    }

    /// A REP on a loopback port and a REQ connected to it, after one round
    /// trip: the connection is up on both sides; and the REP's address.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn connected_pair(io: &Arc<Io>) -> (Socket, Socket, SocketAddr) {
        let (rep, at) = rep_socket(io);
        let req = Socket::open(io, Kind::Req, at.into(), None).expect("a REQ socket");
        assert_eq!(round_trip(&req, &rep, b"one"), vec![b"one".to_vec()]);
        (rep, req, at)
    }

    /// A deadline far enough on for any step of these tests on a loaded
    /// machine: only a broken path reaches it.
    fn in_20s() -> Instant {
        Instant::now() + Duration::from_secs(20)
    }

    /// One request from `req`, answered by `rep` with the same bytes: the
    /// reply's parts.
    fn round_trip(req: &Socket, rep: &Socket, text: &[u8]) -> Vec<Vec<u8>> {
        let by = in_20s();
        req.request(text.to_vec()).expect("sent");
        let m = rep.next(|| Some(by)).expect("the request came");
        rep.reply(m.from, m.parts.concat()).expect("answered");
        req.next(|| Some(by)).expect("the reply came").parts
    }

    /// Whether a call has waited in the read of the socket's only
    /// connection: its descriptor is in blocking mode (asked of the
    /// kernel) with a receive timeout set.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn waited_in_read(s: &Socket) -> bool {
        let d = lock(&s.cell.driver);
        d.only_connection()
            .and_then(|i| d.streams.get(i))
            .and_then(Option::as_ref)
            .is_some_and(|s| s.read_timeout > 0 && sys::is_blocking(&s.tcp))
    }

    /// A REQ waiting for its reply, and a REP waiting for its one client's
    /// request, wait in that connection's read (Linux): one system call
    /// where a wait on the socket's `Poll` and the read after it are two.
    /// (The REP's read is used only within [`LOOK_EVERY`] of its last
    /// wait on the `Poll`: a round trip slower than that waits there, so
    /// a few are allowed.)
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_wait_for_a_message_on_one_connection_waits_in_its_read() {
        let io = start().expect("an I/O thread");
        let (rep, req, _) = connected_pair(&io);
        assert_eq!(round_trip(&req, &rep, b"two"), vec![b"two".to_vec()]);
        assert!(waited_in_read(&req), "the REQ waited on its Poll");
        let rep_did = (0..200u8).any(|n| {
            assert_eq!(round_trip(&req, &rep, &[n]), vec![vec![n]]);
            waited_in_read(&rep)
        });
        assert!(rep_did, "the REP waited on its Poll in 200 round trips");
    }

    /// A wait in a connection's read ends at the call's deadline (the
    /// read's timeout): a REQ whose request gets no reply returns.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_wait_in_a_read_ends_at_its_deadline() {
        let io = start().expect("an I/O thread");
        let (rep, req, _) = connected_pair(&io);
        req.request(b"never answered".to_vec()).expect("sent");
        let (told, heard) = std::sync::mpsc::channel();
        // In a thread of its own: a wait that never ends fails the test
        // rather than hanging it.
        thread::spawn(move || {
            let by = Instant::now() + Duration::from_millis(100);
            let got = req.next(|| Some(by));
            let _ = told.send((got.is_none(), waited_in_read(&req)));
        });
        let (nothing, in_read) = heard
            .recv_timeout(Duration::from_secs(20))
            .expect("the wait ended");
        assert!(nothing, "no reply came");
        assert!(in_read, "the REQ waited on its Poll");
        drop(rep);
    }

    /// A REP whose one client is idle waits in that client's read, yet a
    /// second client is taken (the read's timeout is [`LOOK_EVERY`] from
    /// the REP's last look at its listener): its request is answered.
    #[test]
    fn a_rep_waiting_on_its_one_client_still_takes_a_second_client() {
        let io = start().expect("an I/O thread");
        let (rep, first, at) = connected_pair(&io);
        let (told, heard) = std::sync::mpsc::channel();
        // Waits for ever (no deadline to end a read that never looks up):
        // in a thread of its own, so a REP that never takes the second
        // client fails the test rather than hanging it.
        thread::spawn(move || {
            let m = rep.next(|| None);
            if let Some(m) = &m {
                let _ = rep.reply(m.from, b"answer".to_vec());
            }
            let _ = told.send(m.map(|m| m.parts));
            rep
        });
        let second = Socket::open(&io, Kind::Req, at.into(), None).expect("a second REQ");
        second.request(b"two".to_vec()).expect("sent");
        let got = heard
            .recv_timeout(Duration::from_secs(20))
            .expect("the REP took the second client's request");
        assert_eq!(got, Some(vec![b"two".to_vec()]));
        let by = in_20s();
        let reply = second.next(|| Some(by)).map(|m| m.parts);
        assert_eq!(reply, Some(vec![b"answer".to_vec()]));
        drop(first);
    }

    /// A REQ's request after its server ended (between its calls, the
    /// connection's end not yet taken in) is not sent into the ended
    /// connection: the look before it (a read of the connection, see
    /// [`Driver::look`]) takes the end in, and the request waits for the
    /// next connection.
    #[test]
    fn a_request_after_its_server_ended_waits_for_the_next_connection() {
        let io = start().expect("an I/O thread");
        let (rep, at) = rep_socket(&io);
        // Driven here alone: no I/O thread takes the connection's end in.
        let stand_in = Poll::new().expect("a Poll");
        let now = || io.hub.core_now();
        let mut d = Driver::new(stand_in.registry(), 7, Kind::Req, at.into(), now(), None)
            .expect("a REQ driver");
        let server = thread::spawn(move || {
            let by = in_20s();
            let m = rep.next(|| Some(by)).expect("the request came");
            rep.reply(m.from, b"reply".to_vec()).expect("answered");
            rep
        });
        d.request(b"one".to_vec(), now());
        let give_up = in_20s();
        for _ in 0..100_000 {
            if !d.inbox.is_empty() || Instant::now() > give_up {
                break;
            }
            d.wait_own(Some(Duration::from_millis(50)));
            d.turn(now());
        }
        let reply = d.inbox.pop_front().map(|m| m.parts);
        assert_eq!(reply, Some(vec![b"reply".to_vec()]));
        // The server ends; its connection's end reaches the REQ's socket
        // (seen without taking it in).
        drop(server.join().expect("the server's thread"));
        let i = d.only_connection().expect("the REQ's connection");
        let ended = |d: &Driver| {
            let mut byte = [0u8; 1];
            d.streams
                .get(i)
                .and_then(Option::as_ref)
                .is_some_and(|s| matches!(sys::read_now(&s.tcp, &mut byte), Ok(0)))
        };
        let give_up = in_20s();
        for _ in 0..10_000_000 {
            if ended(&d) || Instant::now() > give_up {
                break;
            }
            thread::yield_now();
        }
        assert!(ended(&d), "the connection's end came");
        d.request(b"two".to_vec(), now());
        assert!(
            d.request.is_some(),
            "the request went into the ended connection"
        );
        assert!(
            d.only_connection().is_none(),
            "the ended connection is gone"
        );
    }

    /// A socket is in the I/O thread's list while it is open and gone from
    /// it once dropped: a program that opens sockets again and again (a
    /// reset after a lost reply) does not grow the list, and the I/O thread
    /// stops looking at a closed one.
    #[test]
    fn a_dropped_socket_leaves_the_io_threads_list() {
        let io = start().expect("an I/O thread");
        let (rep, _) = rep_socket(&io);
        let id = rep.cell.id;
        assert!(lock(&io.hub.sockets).contains_key(&id), "listed while open");
        drop(rep);
        assert!(
            !lock(&io.hub.sockets).contains_key(&id),
            "gone once dropped"
        );
    }

    /// Turns `s` until `done` says so (20 s and a million passes at most);
    /// whether it did.
    fn turned_until(s: &Socket, done: impl Fn(&Driver) -> bool) -> bool {
        let give_up = in_20s();
        for _ in 0..1_000_000 {
            let mut d = lock(&s.cell.driver);
            d.turn(s.io.hub.core_now());
            if done(&d) {
                return true;
            }
            drop(d);
            if Instant::now() > give_up {
                break;
            }
            thread::yield_now();
        }
        false
    }

    /// A REP drops the requests of a client that has gone (the reply
    /// would go nowhere) and keeps every other client's.
    #[test]
    fn a_gone_clients_request_leaves_the_reps_inbox_and_others_stay() {
        let io = start().expect("an I/O thread");
        let (rep, first, at) = connected_pair(&io);
        let second = Socket::open(&io, Kind::Req, at.into(), None).expect("a second REQ");
        assert_eq!(round_trip(&second, &rep, b"two"), vec![b"two".to_vec()]);
        first.request(b"from the first".to_vec()).expect("sent");
        second.request(b"from the second".to_vec()).expect("sent");
        assert!(
            turned_until(&rep, |d| d.inbox.len() == 2),
            "both requests came"
        );
        drop(first);
        assert!(
            turned_until(&rep, |d| d.streams.iter().flatten().count() == 1),
            "the first client's end came"
        );
        let waiting: Vec<_> = lock(&rep.cell.driver)
            .inbox
            .iter()
            .map(|m| m.parts.concat())
            .collect();
        assert_eq!(waiting, vec![b"from the second".to_vec()]);
    }

    /// A listener takes at most [`ACCEPTS_PER_TURN`] new connections a
    /// turn (a flood of them keeps a good peer's message waiting for a few
    /// accepts, not for as many as keep coming), says work is left, and
    /// takes the rest in the next turn.
    #[test]
    fn a_turn_takes_at_most_accepts_per_turn_connections() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let at = listener.local_addr().expect("its address");
        let endpoint = Endpoint {
            at,
            held: Some(listener),
        };
        let stand_in = Poll::new().expect("a Poll");
        let now = CoreInstant::ZERO;
        let mut d = Driver::new(stand_in.registry(), 7, Kind::Rep, endpoint, now, None)
            .expect("a REP driver");
        let flood = ACCEPTS_PER_TURN + 4;
        // Each connect completes in the kernel's backlog: all are there to
        // take before the first turn.
        let clients: Vec<_> = (0..flood)
            .map(|_| std::net::TcpStream::connect(at).expect("a connection"))
            .collect();
        let taken = |d: &Driver| d.streams.iter().flatten().count();
        d.turn(now);
        assert_eq!(taken(&d), ACCEPTS_PER_TURN, "one turn's accepts");
        assert!(d.unfinished, "more to take: work is left");
        assert!(!d.settled, "a call turns it again before it waits");
        d.turn(now);
        assert_eq!(taken(&d), flood, "the rest in the next turn");
        drop(clients);
    }

    /// A socket's "one connection" (what a wait may read, and what a REQ's
    /// look reads) is a connection that is up: none while there is none,
    /// and not one still connecting.
    #[test]
    fn only_a_connection_that_is_up_is_the_one_connection() {
        // Takes the TCP connection and says nothing.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let at = listener.local_addr().expect("its address");
        let stand_in = Poll::new().expect("a Poll");
        let now = CoreInstant::ZERO;
        let mut d = Driver::new(stand_in.registry(), 7, Kind::Req, at.into(), now, None)
            .expect("a REQ driver");
        assert_eq!(d.only_connection(), None, "no connection yet");
        d.turn(now);
        let index = d.streams.iter().position(Option::is_some);
        assert!(index.is_some(), "the turn connected");
        let set_connecting = |d: &mut Driver, connecting: bool| {
            for s in d.streams.iter_mut().flatten() {
                s.connecting = connecting;
            }
        };
        // As a connect still under way leaves it (loopback's completes at
        // once).
        set_connecting(&mut d, true);
        assert_eq!(d.only_connection(), None, "still connecting");
        set_connecting(&mut d, false);
        assert_eq!(d.only_connection(), index);
        drop(listener);
    }

    /// A wait in a read sets the longest power of two of milliseconds
    /// within its time left (so a shrinking wait sets it again only when
    /// that halves), for ever as none, and no timeout at all under a
    /// millisecond (the call waits on its `Poll`, which takes finer ones).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn a_reads_timeout_is_the_longest_power_of_two_milliseconds_within_the_wait() {
        let ms = |ms| read_timeout(Some(Duration::from_millis(ms)));
        assert_eq!(read_timeout(None), Some(0), "for ever");
        assert_eq!(read_timeout(Some(Duration::from_micros(999))), None);
        assert_eq!(read_timeout(Some(Duration::ZERO)), None);
        assert_eq!(ms(1), Some(1));
        assert_eq!(ms(3), Some(2));
        assert_eq!(ms(25), Some(16));
        assert_eq!(ms(5000), Some(4096));
        assert_eq!(ms(u64::MAX / 2), Some(MAX_READ_TIMEOUT));
    }
}
