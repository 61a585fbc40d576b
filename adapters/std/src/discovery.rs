//! Advertising and discovering names: the core [`Beacon`] driven by a mio
//! event loop on a background thread.
//!
//! Every process runs its own beacon. It shares UDP 9999 (adverts, Python
//! compatible) and 9997 (our queries and goodbyes) with the other processes
//! on the box through SO_REUSEADDR/SO_REUSEPORT, so no process is the single
//! point of failure that Python's per-machine beacon is, and it has a private
//! UDP port of its own that answers to its queries come back to.
//!
//! The beacon sits behind a mutex in a [`Discovery`]. Calls from the program
//! (advertise, discover…) lock it, act, and send what it has to say at once
//! from their own thread; the background thread feeds it datagrams and
//! sleeps until its next deadline (`poll_timeout`) — it never polls at a
//! fixed rate. The runtime owns the `Discovery` and its thread; this module
//! knows nothing of messaging, and reaches a Python beacon only through the
//! lookups the runtime passes in ([`PythonLookups`]).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration as StdDuration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use log::{debug, info, warn};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use networkzero_core::auth::ClassKey;
use networkzero_core::beacon::{self, Beacon, Event, Kind, Received, Ttl, MAX_TRANSMIT};
use networkzero_core::ext::EXT_PORT;
use networkzero_core::table::{Entries, Entry};
use networkzero_core::Instant;

use crate::address::{self, Address};
use crate::error::{Error, Result};
use crate::interfaces;
use crate::ports::{self, HeldPorts};
use crate::wait::{self, Wait};
use socket2::Socket;

/// The beacon: names one process can advertise (64), replay stamps kept with
/// a class key (512 names), heard names as many as the network has (up to
/// [`MAX_ADVERTS`]).
type CoreBeacon = Beacon<512, 64, { beacon::EVENTS }, Heard>;

/// Most heard names one process keeps: about 300 bytes each, so 2.4 MiB at
/// most (a school of 400 names takes 120 KiB). With more on the network, a
/// new name replaces the one closest to expiring, and a warning says so.
pub(crate) const MAX_ADVERTS: usize = 8192;

/// The table of heard names, growing with the network up to [`MAX_ADVERTS`].
#[derive(Debug, Default)]
pub(crate) struct Heard {
    entries: Vec<Entry>,
    hashes: Vec<u32>,
}

impl Entries for Heard {
    fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn hashes(&self) -> &[u32] {
        &self.hashes
    }

    fn columns_mut(&mut self) -> (&mut [Entry], &mut [u32]) {
        (&mut self.entries, &mut self.hashes)
    }

    fn is_full(&self) -> bool {
        self.entries.len() >= MAX_ADVERTS
    }

    fn push(&mut self, entry: Entry, hash: u32) {
        if !self.is_full() {
            self.entries.push(entry);
            self.hashes.push(hash);
        }
    }

    fn pop(&mut self) -> Option<Entry> {
        self.hashes.pop();
        self.entries.pop()
    }

    fn clear(&mut self) {
        // All at once, and the memory back: a reset may follow a big network.
        *self = Heard::default();
    }
}

const BEACON: Token = Token(0);
const EXT: Token = Token(1);
const PRIVATE: Token = Token(2);
const WAKE: Token = Token(3);

/// How often the list of interfaces is read again (Wi-Fi joins, DHCP).
const INTERFACE_CHECK: StdDuration = StdDuration::from_secs(2);

/// This process's discovery: the core beacon, its sockets, and what the
/// calls wait on.
pub(crate) struct Discovery {
    state: Mutex<State>,
    /// Notified whenever the table may have changed.
    heard: Condvar,
    sockets: Sockets,
    waker: Waker,
    started: StdInstant,
}

struct State {
    beacon: Box<CoreBeacon>,
    /// When this process asked every program for every name (once, for
    /// its first listing: see [`Discovery::ask_everyone`]).
    asked_everyone: Option<StdInstant>,
    /// When each (name, sender) was last warned about, so a Python peer
    /// advertising every 2 s does not flood the terminal.
    warned: HashMap<(String, IpAddr), StdInstant>,
    /// What `diagnostics::NameWatch` (`nw0 dashboard`) sees beyond the table.
    observed: Observed,
    /// Whether the table was full when last looked at (warned once per filling).
    table_full: bool,
    /// Names Python programs advertised through the beacon RPC we serve.
    for_python: BTreeSet<String>,
    /// Whether a Python program paused them (the RPC's `pause`).
    python_paused: bool,
}

/// What diagnostics sees of the beacon beyond its table, kept only while a
/// `diagnostics::NameWatch` exists: a count that moves whenever anything
/// was heard (an advert that only refreshes a name makes no beacon event),
/// and which names left by a goodbye rather than by their ttl running out.
#[derive(Debug, Default)]
struct Observed {
    /// How many watchers there are; nothing is kept while there are none.
    watchers: usize,
    /// Moves on every datagram and every beacon event while watched.
    count: u64,
    /// Names that left, oldest first: the `count` when they left, name,
    /// address, and whether they said goodbye. At most [`LEFT_KEPT`].
    left: VecDeque<(u64, String, SocketAddr, bool)>,
    /// Whether the datagram being handled was a goodbye.
    goodbye: bool,
}

/// Departures kept for watchers: more than a watcher misses between two
/// looks (it looks within milliseconds of each change).
const LEFT_KEPT: usize = 1024;

/// Receive buffer asked for each discovery socket. A fresh `ls` in a school
/// of 400 names gets 400 answers within the beacon's spread window (150 ms),
/// on top of 400 adverts a second on port 9999; a default buffer (212 992
/// bytes on Linux) holds 256 small datagrams, this one about 1 200, so a
/// process that is not scheduled for a while loses none. The kernel caps it
/// (`net.core.rmem_max`); memory is only used while datagrams wait.
const RECEIVE_BUFFER: usize = 1 << 20;

/// How often the same rejected advert is warned about.
const WARN_AGAIN: StdDuration = StdDuration::from_secs(60);

/// A seed from the OS's randomness (what `HashMap` uses), this process's id
/// and the time.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u64(unix_ms());
    hasher.finish()
}

/// Wall-clock milliseconds since 1970, for sealed adverts.
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The sockets again (duplicate handles): to send from, and for a caller
/// listing names to read what waits in them (see [`Discovery::catch_up`]).
struct Sockets {
    /// UDP 9999, shared; `None` when a Python beacon holds it exclusively.
    beacon: Option<std::net::UdpSocket>,
    /// UDP 9997, shared.
    ext: Option<std::net::UdpSocket>,
    /// This process's own port: queries go out of it, answers come back to it.
    private: std::net::UdpSocket,
}

/// The sockets the background loop reads, registered with its `Poll`.
struct Readers {
    /// UDP 9999, shared; `None` when a Python beacon holds it exclusively.
    beacon: Option<UdpSocket>,
    /// UDP 9997, shared.
    ext: Option<UdpSocket>,
    /// This process's own port.
    private: UdpSocket,
}

/// How a [`Discovery`] asks a Python beacon on this computer, when one holds
/// UDP 9999 (see `python_beacon.rs`); the runtime supplies these.
pub(crate) struct PythonLookups<'a> {
    /// One name, waiting up to the given time.
    pub(crate) discover: &'a dyn Fn(&str, StdDuration) -> Option<Address>,
    /// Every name it knows.
    pub(crate) discover_all: &'a dyn Fn() -> Vec<(String, Address)>,
}

fn lock(node: &Discovery) -> MutexGuard<'_, State> {
    // A panic elsewhere must not stop discovery: the state stays usable.
    node.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A non-blocking UDP socket: on `port`, shared with the other programs
/// here (see [`ports::shared_udp`]), or this process's own.
fn udp_socket(port: u16, shared: bool) -> io::Result<Socket> {
    let socket = if shared {
        ports::shared_udp(port)?
    } else {
        ports::private_udp()?
    };
    socket.set_nonblocking(true)?;
    // Best effort: a smaller buffer still works, it just holds fewer.
    if let Err(e) = socket.set_recv_buffer_size(RECEIVE_BUFFER) {
        debug!("cannot enlarge the receive buffer of UDP port {port}: {e}");
    }
    Ok(socket)
}

/// A socket to send from, and the same socket for the background loop to
/// read (a duplicate handle: the loop must be able to deregister it).
fn send_and_read(socket: Socket) -> io::Result<(std::net::UdpSocket, UdpSocket)> {
    let send = socket.try_clone()?;
    Ok((send.into(), UdpSocket::from_std(socket.into())))
}

impl Discovery {
    /// Opens the discovery sockets and starts the background thread.
    pub(crate) fn start() -> Result<(Arc<Discovery>, JoinHandle<()>)> {
        crate::logging::init();
        let (discovery, poll, readers) = open()?;
        let discovery = Arc::new(discovery);
        let running = Arc::clone(&discovery);
        let thread = thread::Builder::new()
            .name("networkzero-beacon".into())
            .spawn(move || run(&running, poll, readers))
            .map_err(|e| Error::network("starting the discovery thread", e))?;
        Ok((discovery, thread))
    }

    /// Whether this process holds UDP 9999 and so hears adverts (if not, a
    /// Python beacon holds it: see `python_beacon.rs`).
    pub(crate) fn hears_adverts(&self) -> bool {
        self.sockets.beacon.is_some()
    }

    /// Milliseconds since this discovery started.
    fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
}

fn open() -> Result<(Discovery, Poll, Readers)> {
    let started = StdInstant::now();
    let poll = Poll::new().map_err(|e| Error::network("starting discovery", e))?;
    let duplicate = |e| Error::network("opening the discovery sockets", e);
    let beacon_socket = match udp_socket(beacon::BEACON_PORT, true) {
        Ok(s) => Some(send_and_read(s).map_err(duplicate)?),
        // Windows says so with WSAEACCES rather than EADDRINUSE.
        Err(e) if ports::is_held_by_another_program(&e) => {
            info!(
                "UDP port {} is held by a program that does not share it (a Python networkzero beacon?): \
                 this program cannot hear adverts sent there; it still advertises, and finds networkzero \
                 programs by asking on port {EXT_PORT}",
                beacon::BEACON_PORT
            );
            None
        }
        Err(e) => return Err(Error::network("opening the discovery port 9999", e)),
    };
    let ext = match udp_socket(EXT_PORT, true) {
        Ok(s) => Some(send_and_read(s).map_err(duplicate)?),
        Err(e) => {
            warn!("cannot open UDP port {EXT_PORT} for instant discovery: {e}");
            None
        }
    };
    let (ext_handle, ext) = ext.unzip();
    let private = udp_socket(0, false).map_err(|e| Error::network("opening a UDP socket", e))?;
    let (private_send, private) = send_and_read(private).map_err(duplicate)?;
    let (beacon_send, beacon_read) = beacon_socket.unzip();
    let mut readers = Readers {
        beacon: beacon_read,
        ext,
        private,
    };
    let registry = poll.registry();
    for (socket, token) in [
        (readers.beacon.as_mut(), BEACON),
        (readers.ext.as_mut(), EXT),
        (Some(&mut readers.private), PRIVATE),
    ] {
        if let Some(socket) = socket {
            registry
                .register(socket, token, Interest::READABLE)
                .map_err(|e| Error::network("starting discovery", e))?;
        }
    }
    let waker =
        Waker::new(poll.registry(), WAKE).map_err(|e| Error::network("starting discovery", e))?;
    let mut beacon = Box::new(CoreBeacon::new(beacon::Config::default()));
    // Answer delays must differ between processes started together.
    beacon.seed(random_seed());
    let ifaces: Vec<_> = interfaces::list().iter().map(|i| i.to_core()).collect();
    let now = Instant::from_millis(0);
    beacon.set_interfaces(&ifaces, now);
    beacon.set_wall_clock(now, unix_ms());
    if let Some(passphrase) = std::env::var("NW0_CLASS_KEY")
        .ok()
        .filter(|p| !p.is_empty())
    {
        beacon.set_class_key(Some(ClassKey::from_passphrase(&passphrase)));
        info!("using the class key from NW0_CLASS_KEY: only programs with the same key are heard");
    }
    let node = Discovery {
        state: Mutex::new(State {
            beacon,
            warned: HashMap::new(),
            observed: Observed::default(),
            asked_everyone: None,
            table_full: false,
            for_python: BTreeSet::new(),
            python_paused: false,
        }),
        heard: Condvar::new(),
        sockets: Sockets {
            beacon: beacon_send,
            ext: ext_handle,
            private: private_send,
        },
        waker,
        started,
    };
    Ok((node, poll, readers))
}

impl Discovery {
    /// Sends everything the beacon has to send now. Called with the lock held,
    /// from whichever thread changed the state.
    fn drain(&self, state: &mut State) {
        let now = self.now();
        let mut buf = [0u8; MAX_TRANSMIT];
        // Bounded: the beacon itself rate-limits, this only guards the loop.
        for _ in 0..1024 {
            let Some(t) = state.beacon.poll_transmit(now, &mut buf) else {
                break;
            };
            let socket = match t.kind {
                Kind::Query => &self.sockets.private,
                _ => self
                    .sockets
                    .beacon
                    .as_ref()
                    .unwrap_or(&self.sockets.private),
            };
            let bytes = buf.get(..t.len).unwrap_or_default();
            if let Err(e) = socket.send_to(bytes, t.destination) {
                debug!("sending {:?} to {}: {e}", t.kind, t.destination);
            }
        }
        let mut changed = false;
        let watched = state.observed.watchers > 0;
        while let Some(event) = state.beacon.poll_event() {
            changed = true;
            match event {
                Event::Appeared { name, address } => debug!("heard '{name}' at {address}"),
                Event::Moved { name, from, to } => debug!("'{name}' moved from {from} to {to}"),
                Event::Expired { name, address } => {
                    debug!("'{name}' at {address} has gone");
                    if watched {
                        let o = &mut state.observed;
                        if o.left.len() >= LEFT_KEPT {
                            o.left.pop_front();
                        }
                        o.left
                            .push_back((o.count, name.to_string(), address, o.goodbye));
                    }
                }
                Event::Rejected {
                    name,
                    source,
                    reason,
                } => {
                    let key = (name.to_string(), source.ip());
                    let due = state
                        .warned
                        .get(&key)
                        .is_none_or(|t| t.elapsed() >= WARN_AGAIN);
                    if due {
                        warn!(
                            "ignored an advert for '{name}' from {}: {reason}; \
                             someone may be trying to take over the name, or has not set the class key",
                            source.ip()
                        );
                        state.warned.insert(key, StdInstant::now());
                    }
                }
                Event::Conflict {
                    name,
                    first,
                    second,
                } => warn!(
                    "two programs advertise the name '{name}': {first} and {second}; \
                     messages may go to either — give one of them another name"
                ),
            }
        }
        state.observed.goodbye = false;
        if watched {
            state.observed.count = state.observed.count.wrapping_add(1);
        }
        if changed || watched {
            self.heard.notify_all();
        }
        if changed {
            let full = state.beacon.storage().is_full();
            if full && !state.table_full {
                warn!(
                    "this program has heard {MAX_ADVERTS} names, the most it keeps: \
                     each new one now replaces the one closest to expiring, so some names \
                     on this network may be missing from discover_all"
                );
            }
            state.table_full = full;
        }
    }

    /// Changes the state, sends what that makes due, and tells the loop.
    fn act<R>(&self, f: impl FnOnce(&mut CoreBeacon, Instant) -> R) -> R {
        let mut state = lock(self);
        let result = f(&mut state.beacon, self.now());
        self.drain(&mut state);
        drop(state);
        // The loop recomputes its deadline; if waking fails it wakes later anyway.
        let _ = self.waker.wake();
        result
    }

    /// Waits until `found` gives a value from the state, or the deadline
    /// passes.
    fn wait_for_state<T>(
        &self,
        deadline: Option<StdInstant>,
        mut found: impl FnMut(&State) -> Option<T>,
    ) -> Option<T> {
        let mut state = lock(self);
        loop {
            if let Some(value) = found(&state) {
                return Some(value);
            }
            let left = wait::remaining(deadline);
            if left == Some(StdDuration::ZERO) {
                return None;
            }
            // Wake now and then even without news: the deadline may pass.
            let nap = left.map_or(StdDuration::from_millis(500), |l| {
                l.min(StdDuration::from_millis(500))
            });
            state = self
                .heard
                .wait_timeout(state, nap)
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Waits until `found` gives a value or the deadline passes.
    fn wait_for<T>(
        &self,
        deadline: Option<StdInstant>,
        mut found: impl FnMut(&CoreBeacon, Instant) -> Option<T>,
    ) -> Option<T> {
        self.wait_for_state(deadline, |state| found(&state.beacon, self.now()))
    }
}

/// Datagrams read from a socket together and handled under one lock.
struct Batch {
    slots: Box<[[u8; BATCH_SLOT]; BATCH]>,
    received: Vec<(usize, SocketAddr)>,
}

/// Datagrams handled together.
const BATCH: usize = 64;

/// Bytes kept of each datagram: more than any valid one (an advert is at
/// most 256 bytes, a sealed extension datagram ~300); a longer one is cut
/// and then refused as malformed.
const BATCH_SLOT: usize = 512;

/// Once port 9999 has been read, the next read waits this long: on a LAN
/// with hundreds of names (a school: 400 datagrams a second) a process wakes
/// 10 times a second instead of 400, and handles each batch under one lock.
/// The first advert after a quiet spell is still read at once. Queries and
/// answers, on the other sockets, are always read at once.
const ADVERT_BATCH: StdDuration = StdDuration::from_millis(100);

/// The order the sockets are read in, by the loop and by a listing
/// (`catch_up`), when several have datagrams waiting (a process that was
/// not scheduled for a while): this process's own port first. A peer
/// answers a query for every name there, and may say goodbye just after
/// (on 9997 and, as a ttl-0 advert, on 9999): an answer read after that
/// goodbye would bring the name back for its whole ttl. Each shared port
/// carries a peer's goodbye after its earlier datagrams there, so between
/// those two the order does not matter.
const READ_ORDER: [Token; 3] = [PRIVATE, EXT, BEACON];

/// The background loop: feed datagrams in, sleep until the next deadline.
fn run(node: &Discovery, mut poll: Poll, mut readers: Readers) {
    let mut events = Events::with_capacity(64);
    let mut batch = Batch::new();
    // Due at once: the first turn reads the interfaces again (open() has just
    // read them, so nothing changed), then every INTERFACE_CHECK.
    let mut next_interface_check = StdInstant::now();
    // While set, port 9999 is deregistered until then (see ADVERT_BATCH).
    let mut adverts_held: Option<StdInstant> = None;
    // Sockets (by token) a bounded read left with datagrams waiting.
    let mut unread = [false; 3];
    loop {
        let timeout = {
            let mut state = lock(node);
            state.beacon.set_wall_clock(node.now(), unix_ms());
            state.beacon.handle_timeout(node.now());
            node.drain(&mut state);
            state.beacon.poll_timeout()
        };
        let until_deadline = timeout.map(|t| {
            StdDuration::from_millis(t.as_millis().saturating_sub(node.now().as_millis()))
        });
        let now = StdInstant::now();
        let sleep = [
            until_deadline,
            Some(next_interface_check.saturating_duration_since(now)),
            adverts_held.map(|t| t.saturating_duration_since(now)),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Err(e) = poll.poll(&mut events, sleep) {
            if e.kind() != io::ErrorKind::Interrupted {
                warn!("discovery stopped: {e}");
                return;
            }
        }
        // What to read: the sockets mio says are readable, and those the
        // last turn left with datagrams waiting (mio, edge-triggered, will
        // not say so again).
        let mut readable = std::mem::take(&mut unread);
        for event in &events {
            if let Some(r) = readable.get_mut(event.token().0) {
                *r = true;
            }
        }
        // In the order `catch_up` reads them: see READ_ORDER.
        for token in READ_ORDER
            .into_iter()
            .filter(|t| readable.get(t.0).copied().unwrap_or(false))
        {
            let socket = match token {
                BEACON => readers.beacon.as_ref(),
                EXT => readers.ext.as_ref(),
                _ => Some(&readers.private),
            };
            if let Some(socket) = socket {
                // Bounded so one flooded socket cannot starve the others.
                let drained = (0..4).any(|_| receive(node, |b| socket.recv_from(b), &mut batch));
                if !drained {
                    // Still more waiting: read it again on the next turn,
                    // which comes at once.
                    if let Some(u) = unread.get_mut(token.0) {
                        *u = true;
                    }
                    let _ = node.waker.wake();
                }
            }
            if token == BEACON {
                if let Some(socket) = readers.beacon.as_mut() {
                    match poll.registry().deregister(socket) {
                        Ok(()) => adverts_held = Some(StdInstant::now() + ADVERT_BATCH),
                        Err(e) => debug!("cannot pause reading port 9999: {e}"),
                    }
                }
            }
        }
        if adverts_held.is_some_and(|t| StdInstant::now() >= t) {
            adverts_held = None;
            if let Some(socket) = readers.beacon.as_mut() {
                // Adverts that came meanwhile make it ready at once.
                if let Err(e) = poll.registry().register(socket, BEACON, Interest::READABLE) {
                    warn!("cannot read port 9999 any more: {e}");
                }
            }
        }
        if StdInstant::now() >= next_interface_check {
            next_interface_check = StdInstant::now() + INTERFACE_CHECK;
            let ifaces: Vec<_> = interfaces::list().iter().map(|i| i.to_core()).collect();
            let mut state = lock(node);
            if state.beacon.interfaces() != ifaces.as_slice() {
                info!("network interfaces changed: now advertising on {ifaces:?}");
            }
            state.beacon.set_interfaces(&ifaces, node.now());
        }
    }
}

impl Batch {
    fn new() -> Batch {
        Batch {
            slots: Box::new([[0; BATCH_SLOT]; BATCH]),
            received: Vec::with_capacity(BATCH),
        }
    }
}

/// Reads up to [`BATCH`] datagrams with `recv_from` and handles them, all
/// under one lock. Returns whether the socket is drained (a read would
/// block): edge-triggered, it must be read until then.
///
/// The lock is taken before reading: the loop and a listing's thread both
/// read the sockets, and a batch one of them has read must not wait for
/// the lock while the other handles datagrams that came after it (an
/// answer overtaken by the goodbye sent after it: see [`READ_ORDER`]).
fn receive(
    node: &Discovery,
    recv_from: impl Fn(&mut [u8]) -> io::Result<(usize, SocketAddr)>,
    batch: &mut Batch,
) -> bool {
    batch.received.clear();
    let mut state = lock(node);
    let mut drained = false;
    for _ in 0..BATCH {
        // A read that fails fills no slot: the next datagram takes it, so
        // that `received` lines up with `slots` when they are handled.
        let Some(slot) = batch.slots.get_mut(batch.received.len()) else {
            break;
        };
        match recv_from(slot) {
            Ok((len, source)) => batch.received.push((len, source)),
            // One datagram's trouble (see `ports`): read on. On Windows
            // mio arms the socket again only once a read would block, so
            // stopping here would leave it deaf.
            Err(e) if ports::is_about_one_datagram(&e) => debug!("receiving: {e}"),
            Err(e) => {
                if e.kind() != io::ErrorKind::WouldBlock {
                    debug!("receiving: {e}");
                }
                drained = true;
                break;
            }
        }
    }
    if !batch.received.is_empty() {
        let now = node.now();
        let mut previous: Option<(&[u8], SocketAddr)> = None;
        for (slot, &(len, source)) in batch.slots.iter().zip(&batch.received) {
            let datagram = slot.get(..len).unwrap_or_default();
            // Each broadcast comes twice (to the subnet and to
            // 255.255.255.255): the second copy would change nothing.
            if previous == Some((datagram, source)) {
                continue;
            }
            previous = Some((datagram, source));
            let handled = state.beacon.handle_datagram(datagram, source, now);
            state.observed.goodbye = handled == Ok(Received::Goodbye);
            if let Err(e) = handled {
                debug!("dropped a datagram from {source}: {e}");
            }
            // A dashboard is told which names left by a goodbye: then each
            // datagram is drained on its own, while its goodbye flag holds.
            // (Unwatched, nobody reads the flag: the batch drains once.)
            if state.observed.watchers != 0 {
                node.drain(&mut state);
            }
        }
        node.drain(&mut state);
    }
    drained
}

impl Discovery {
    /// Advertises `name` on a free port of this computer; the address to
    /// listen on. The port stays held in `held` until a socket listens
    /// there: no other program finds it free meanwhile.
    pub(crate) fn advertise(&self, name: &str, held: &HeldPorts) -> Result<Address> {
        let (port, listener) = address::free_listener()?;
        let advertised =
            self.advertise_socket(name, SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))?;
        held.hold(port, listener);
        Ok(advertised)
    }

    /// Advertises `name` at an address the program chose.
    pub(crate) fn advertise_at(&self, name: &str, address: Address) -> Result<Address> {
        let ours = interfaces::list().iter().any(|i| address.ip() == i.ip);
        // This computer's own address: advertise on every interface, each
        // with its own address, so every subnet is told one it can reach.
        let on = if ours {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, address.port()))
        } else {
            address.socket_addr()
        };
        self.advertise_socket(name, on)?;
        Ok(address)
    }

    /// Advertises `name` at exactly `address` (no per-interface addresses)
    /// with the ttl a Python program asked for through the beacon RPC we
    /// serve, held back if it paused the RPC's names.
    pub(crate) fn advertise_for_python(
        &self,
        name: &str,
        address: Address,
        ttl: Ttl,
    ) -> Result<Address> {
        let mut state = lock(self);
        let paused = state.python_paused;
        let local = state
            .beacon
            .advertise_with(name, address.socket_addr(), ttl, paused, self.now())
            .map_err(|e| cannot_advertise(name, e))?;
        state.for_python.insert(name.to_string());
        self.drain(&mut state);
        drop(state);
        let _ = self.waker.wake();
        info!("advertising '{name}' at {local} for a Python program");
        Ok(Address::from(local))
    }

    /// The beacon RPC's `pause` (`true`) and `resume`: the names Python
    /// programs advertised through it are not broadcast meanwhile.
    pub(crate) fn pause_python(&self, paused: bool) {
        let mut state = lock(self);
        state.python_paused = paused;
        let names: Vec<String> = state.for_python.iter().cloned().collect();
        let now = self.now();
        for name in names {
            state.beacon.set_paused(&name, paused, now);
        }
        self.drain(&mut state);
        drop(state);
        let _ = self.waker.wake();
    }

    /// The beacon RPC's `reset`, as Python 1.0b1's: forgets every name
    /// heard and every name advertised through the RPC (unpaused). Names
    /// this program advertises stay; others come back with their next
    /// advert. Unlike Python's, peers are told with a goodbye.
    pub(crate) fn reset_python(&self) {
        self.pause_python(false);
        let names: Vec<String> = std::mem::take(&mut lock(self).for_python)
            .into_iter()
            .collect();
        self.act(|b, now| {
            for name in &names {
                b.unadvertise(name, now);
            }
            b.forget_heard();
        });
    }

    /// Whether this process advertises `name`.
    pub(crate) fn is_advertised(&self, name: &str) -> bool {
        lock(self).beacon.advertised().any(|(n, _)| n == name)
    }

    fn advertise_socket(&self, name: &str, on: SocketAddr) -> Result<Address> {
        let local = self
            .act(|b, now| b.advertise(name, on, now))
            .map_err(|e| cannot_advertise(name, e))?;
        info!("advertising '{name}' at {local}");
        Ok(Address::from(local))
    }

    /// Uses a class key (`None`: none) and sends every name again at once,
    /// sealed (or not) as now set.
    pub(crate) fn set_class_key(&self, key: Option<ClassKey>) {
        self.act(|b, now| {
            b.set_class_key(key);
            b.advertise_again(now);
        });
    }

    /// Stops advertising `name` (warns if it was not advertised here).
    pub(crate) fn unadvertise(&self, name: &str) {
        lock(self).for_python.remove(name);
        if !self.act(|b, now| b.unadvertise(name, now)) {
            warn!(
                "'{name}' was not advertised by this program, so there was nothing to unadvertise"
            );
        }
    }

    /// Unadvertises every name and sends the goodbyes before returning.
    pub(crate) fn unadvertise_all(&self) {
        // Each name's goodbye (to 9997, and a ttl-0 advert to 9999 that a
        // Python beacon understands) goes out now, past the rate limit.
        self.act(|b, _| b.farewell());
    }

    /// Finds `name` within `wait`, asking a Python beacon too when one holds
    /// UDP 9999; warns if it is not found.
    pub(crate) fn discover(
        &self,
        name: &str,
        wait: Wait,
        python: &PythonLookups<'_>,
    ) -> Option<Address> {
        let deadline = wait.deadline(StdInstant::now());
        // Our discovery sockets are open by now (`Discovery::start`): an
        // advert sent from here on is heard, or answers our query. Tests wait
        // for this line before starting the program they look for.
        debug!("looking for '{name}' for {}", wait.describe());
        let found = if self.hears_adverts() {
            self.find(name, deadline)
        } else {
            self.find_with_python_beacon(name, deadline, python)
        };
        if found.is_none() {
            warn!(
                "'{name}' was not found within {}: is the program that advertises it running, on this network?",
                wait.describe()
            );
        }
        found.map(Address::from)
    }

    /// Looks `name` up, asking the network if it is not known yet.
    fn find(&self, name: &str, deadline: Option<StdInstant>) -> Option<std::net::SocketAddr> {
        if let Some(found) = self.wait_for(Some(StdInstant::now()), |b, now| b.lookup(name, now)) {
            return Some(found);
        }
        self.act(|b, now| b.query(Some(name), now));
        self.wait_for(deadline, |b, now| b.lookup(name, now))
    }

    /// A Python beacon holds 9999, so adverts sent there do not reach us:
    /// ask our peers (queries still work) and the Python beacon in turn.
    fn find_with_python_beacon(
        &self,
        name: &str,
        deadline: Option<StdInstant>,
        python: &PythonLookups<'_>,
    ) -> Option<std::net::SocketAddr> {
        let slice = StdDuration::from_millis(200);
        loop {
            let until = StdInstant::now() + slice;
            let ours = self.find(name, Some(deadline.map_or(until, |d| d.min(until))));
            if ours.is_some() {
                return ours;
            }
            let left = wait::remaining(deadline).unwrap_or(StdDuration::from_millis(500));
            if let Some(found) = (python.discover)(name, left.min(StdDuration::from_millis(500))) {
                return Some(found.socket_addr());
            }
            if wait::remaining(deadline) == Some(StdDuration::ZERO) {
                return None;
            }
        }
    }

    /// For the beacon RPC: this process's table only, no warning.
    pub(crate) fn find_locally(&self, name: &str, wait: StdDuration) -> Option<Address> {
        self.find(name, Some(StdInstant::now() + wait))
            .map(Address::from)
    }

    /// Asks every program for every name, once per process, for a listing
    /// (`discover_all`, `nw0 ls`, the dashboard); returns when it asked.
    /// Only listings need it: a process that advertises or looks up one
    /// name never sends it, so a class or a school starting its programs is
    /// not a crowd of askers that every advertiser answers one by one.
    /// Not asked either by a process that has heard port 9999 for two advert
    /// rounds: it has heard every name's advert by then (twice, so one can
    /// be lost). The query goes out from the calling thread: the discovery
    /// thread can wait its turn for a second on a loaded computer (a
    /// school's 400 programs on 2 cores), and a fresh `ls` would list only
    /// what came by then.
    fn ask_everyone(&self) -> Option<StdInstant> {
        let mut state = lock(self);
        if state.asked_everyone.is_some() {
            return state.asked_everyone;
        }
        let round = StdDuration::from_millis(state.beacon.config().advert_interval.as_millis());
        if self.hears_adverts() && self.started.elapsed() >= 2 * round {
            return None;
        }
        state.beacon.query(None, self.now());
        self.drain(&mut state);
        let asked = StdInstant::now();
        state.asked_everyone = Some(asked);
        drop(state);
        // The loop recomputes its deadline (the query's repeats).
        let _ = self.waker.wake();
        Some(asked)
    }

    /// Waits, in a fresh process, for the answers to its query for every
    /// name for as long as they take: each program answers it at a random
    /// moment of the answer delay plus the spread window (5 + 150 ms, so
    /// that a school's hundreds of answers do not all arrive at once), plus
    /// twice `query_retry` (100 ms) for an answer that travels or is sent
    /// late (a busy peer). By then the table holds every live name; one lost
    /// is heard again within 2 s.
    fn warmed_up(&self) {
        let Some(sent) = self.ask_everyone() else {
            return;
        };
        let config = *lock(self).beacon.config();
        let window = config.answer_delay + config.everything_spread + config.query_retry;
        let window = window.as_millis() + config.query_retry.as_millis();
        let answered = sent + StdDuration::from_millis(window);
        // Nothing ends this wait early: it is for the answers' deadline.
        self.wait_for_state(Some(answered), |_| None::<()>);
    }

    /// Handles, on the calling thread, what waits in the sockets: a listing
    /// holds every name that had arrived by now, even when the discovery
    /// thread has not had its turn (a loaded computer; in a school a fresh
    /// `ls` gets 400 answers in 160 ms, and the thread handles them 64 at a
    /// time). Both threads may read a socket: each datagram reaches one.
    fn catch_up(&self) {
        let mut batch = Batch::new();
        let sockets = READ_ORDER.map(|token| match token {
            PRIVATE => Some(&self.sockets.private),
            EXT => self.sockets.ext.as_ref(),
            _ => self.sockets.beacon.as_ref(),
        });
        for socket in sockets.into_iter().flatten() {
            // Never block here (a duplicate handle may not share the mode
            // on every OS); if it cannot be made non-blocking, leave it to
            // the loop.
            if socket.set_nonblocking(true).is_err() {
                continue;
            }
            // Datagrams keep coming while we read: at most what a receive
            // buffer holds (RECEIVE_BUFFER), then the loop reads on.
            let batches = RECEIVE_BUFFER / 512 / BATCH;
            (0..batches).any(|_| receive(self, |b| socket.recv_from(b), &mut batch));
        }
    }

    /// Every name advertised on the network now, with its address, sorted
    /// by name (a Python beacon's too, when one holds UDP 9999).
    pub(crate) fn discover_all(&self, python: &PythonLookups<'_>) -> Vec<(String, Address)> {
        let mut all = self.known();
        if !self.hears_adverts() {
            for (name, address) in (python.discover_all)() {
                if !all.iter().any(|(n, _)| *n == name) {
                    all.push((name, address));
                }
            }
        }
        all.sort();
        all
    }

    /// Every name this process has heard (after the warm-up), and every
    /// one waiting in its sockets.
    pub(crate) fn known(&self) -> Vec<(String, Address)> {
        self.warmed_up();
        self.catch_up();
        lock(self)
            .beacon
            .adverts(self.now())
            .map(|e| (e.name.to_string(), Address::from(e.address)))
            .collect()
    }
}

fn cannot_advertise(name: &str, reason: impl ToString) -> Error {
    Error::CannotAdvertise {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

/// A look at this process's view of the network, for `diagnostics`.
pub(crate) struct Look {
    /// [`Observed::count`] when looked.
    pub(crate) count: u64,
    /// Every live name: its address and when it expires (`None`: never).
    pub(crate) names: Vec<(String, SocketAddr, Option<Instant>)>,
    /// Departures at or after the `seen` count asked for (see [`Observed::left`]).
    pub(crate) left: Vec<(u64, String, SocketAddr, bool)>,
}

impl Discovery {
    /// Counts a diagnostics watcher in (`true`) or out: while there is one,
    /// discovery keeps what [`Self::look`] returns.
    pub(crate) fn set_watched(&self, on: bool) {
        let mut state = lock(self);
        let o = &mut state.observed;
        o.watchers = if on {
            o.watchers.saturating_add(1)
        } else {
            o.watchers.saturating_sub(1)
        };
        if o.watchers == 0 {
            o.left.clear();
        }
        drop(state);
        if on {
            // A watcher lists every name: ask for them, as a listing does.
            self.ask_everyone();
        }
    }

    /// Waits up to `wait` until something was heard after count `seen` (at
    /// once when `seen` is `None`), then looks.
    pub(crate) fn look(&self, seen: Option<u64>, wait: StdDuration) -> Look {
        let deadline = StdInstant::now() + wait;
        let mut state = lock(self);
        while seen == Some(state.observed.count) {
            let left = deadline.saturating_duration_since(StdInstant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .heard
                .wait_timeout(state, left)
                .map(|(s, _)| s)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        let since = seen.unwrap_or(0);
        Look {
            count: state.observed.count,
            names: state
                .beacon
                .adverts(self.now())
                .map(|e| (e.name.to_string(), e.address, e.expires))
                .collect(),
            left: state
                .observed
                .left
                .iter()
                .filter(|(c, ..)| *c >= since)
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advert(i: usize) -> Vec<u8> {
        format!(
            "[\"n{i}\", \"10.200.{}.{}:6000\", 20]",
            i / 250,
            i % 250 + 1
        )
        .into_bytes()
    }

    /// The table grows with the network, past the 512 names it once had,
    /// up to MAX_ADVERTS; beyond that new names replace the soonest to expire.
    #[test]
    fn the_table_grows_to_its_limit() {
        let mut b = Box::new(CoreBeacon::new(beacon::Config::default()));
        let src = SocketAddr::from(([10, 200, 0, 1], 9999));
        for i in 0..MAX_ADVERTS {
            b.handle_datagram(&advert(i), src, Instant::from_millis(i as u64))
                .unwrap();
            while b.poll_event().is_some() {}
        }
        let now = Instant::from_millis(MAX_ADVERTS as u64);
        assert_eq!(b.adverts(now).count(), MAX_ADVERTS);
        assert!(b.storage().is_full());
        b.handle_datagram(&advert(MAX_ADVERTS), src, now).unwrap();
        assert_eq!(b.adverts(now).count(), MAX_ADVERTS);
        assert!(
            b.lookup(&format!("n{MAX_ADVERTS}"), now).is_some(),
            "the newest is kept"
        );
        assert!(
            b.lookup("n0", now).is_none(),
            "the one heard longest ago made room"
        );
    }

    /// Each process gets a seed of its own, and seals with the wall clock
    /// in milliseconds (what every keyed peer compares its stamps with).
    #[test]
    fn each_seed_is_new_and_the_clock_is_the_wall_clock() {
        assert_ne!(random_seed(), random_seed());
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let ms = u64::try_from(wall.as_millis()).unwrap();
        assert!(unix_ms().abs_diff(ms) < 60_000, "{} vs {ms}", unix_ms());
    }

    /// The tests below use a discovery with its sockets but no background
    /// thread (these lib tests run in a private network namespace): what it
    /// hears is only what a test hands to `receive`, or what a listing reads
    /// from its sockets itself (`catch_up`).
    fn without_thread() -> (Discovery, Poll, Readers) {
        open().unwrap()
    }

    /// A Python-style advert of `name` (ttl 0: a goodbye).
    fn python_advert(name: &str, ttl: u32) -> Vec<u8> {
        format!("[\"{name}\", \"10.200.0.1:6000\", {ttl}]").into_bytes()
    }

    const FROM: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 200, 0, 1)), 9999);

    /// One `receive` of `reads` in turn (past their end, a read would
    /// block), each datagram from [`FROM`].
    fn receive_all(d: &Discovery, reads: &[io::Result<Vec<u8>>], batch: &mut Batch) -> bool {
        let i = std::cell::Cell::new(0);
        receive(
            d,
            |buf| {
                let at = i.get();
                i.set(at + 1);
                match reads.get(at) {
                    Some(Ok(datagram)) => {
                        buf[..datagram.len()].copy_from_slice(datagram);
                        Ok((datagram.len(), FROM))
                    }
                    Some(Err(e)) => Err(io::Error::from(e.kind())),
                    None => Err(io::ErrorKind::WouldBlock.into()),
                }
            },
            batch,
        )
    }

    fn feed(d: &Discovery, datagrams: &[Vec<u8>]) {
        let reads: Vec<_> = datagrams.iter().cloned().map(Ok).collect();
        assert!(receive_all(d, &reads, &mut Batch::new()));
    }

    fn heard(d: &Discovery, name: &str) -> bool {
        lock(d).beacon.lookup(name, d.now()).is_some()
    }

    fn departures(look: &Look) -> Vec<(&str, bool)> {
        look.left
            .iter()
            .map(|(_, name, _, goodbye)| (name.as_str(), *goodbye))
            .collect()
    }

    /// `receive` says whether the socket is drained: a full batch is not
    /// (the loop reads on), a read that would block is; one datagram's
    /// trouble (an ICMP error) is skipped and the next one read.
    #[test]
    fn receive_reads_a_batch_at_a_time_until_a_read_would_block() {
        let (d, _poll, _readers) = without_thread();
        let reads: Vec<_> = (0..=BATCH)
            .map(|i| Ok(python_advert(&format!("r/{i}"), 20)))
            .collect();
        let mut batch = Batch::new();
        assert!(
            !receive_all(&d, &reads[..BATCH], &mut batch),
            "a full batch: more may wait"
        );
        assert!(receive_all(&d, &reads[BATCH..], &mut batch));
        assert!((0..=BATCH).all(|i| heard(&d, &format!("r/{i}"))));

        let reset = Err(io::ErrorKind::ConnectionReset.into());
        assert!(receive_all(
            &d,
            &[reset, Ok(python_advert("r/after", 20))],
            &mut batch
        ));
        assert!(heard(&d, "r/after"), "read on past one datagram's error");
    }

    /// What a dashboard's watch sees: departures by goodbye as goodbyes,
    /// even several in one batch, only those since it last looked, only
    /// those while watched; and `look` waits for news, or returns at once
    /// when there is some.
    #[test]
    fn a_watcher_sees_each_goodbye_since_it_last_looked() {
        let (d, _poll, _readers) = without_thread();
        feed(&d, &[python_advert("w/early", 20)]);
        feed(&d, &[python_advert("w/early", 0)]);
        d.set_watched(true);
        let first = d.look(None, StdDuration::ZERO);
        assert!(
            first.left.is_empty(),
            "left before anyone watched: {:?}",
            first.left
        );

        let nap = StdDuration::from_millis(200);
        let started = StdInstant::now();
        let quiet = d.look(Some(first.count), nap);
        assert!(started.elapsed() >= nap, "nothing heard: it waits");
        assert_eq!(quiet.count, first.count);

        feed(
            &d,
            &[
                python_advert("w/a", 20),
                python_advert("w/b", 20),
                python_advert("w/c", 20),
            ],
        );
        let started = StdInstant::now();
        let news = d.look(Some(first.count), StdDuration::from_secs(60));
        assert!(
            started.elapsed() < StdDuration::from_secs(30),
            "news waiting: it returns at once"
        );
        assert_ne!(news.count, first.count);
        let names: Vec<_> = news.names.iter().map(|(n, ..)| n.as_str()).collect();
        assert!(
            ["w/a", "w/b", "w/c"].iter().all(|n| names.contains(n)),
            "{names:?}"
        );

        // Two goodbyes and an advert in one batch.
        feed(
            &d,
            &[
                python_advert("w/a", 0),
                python_advert("w/b", 0),
                python_advert("w/c", 20),
            ],
        );
        let gone = d.look(Some(news.count), StdDuration::from_secs(60));
        assert_eq!(departures(&gone), [("w/a", true), ("w/b", true)]);

        // A second watcher does not take the first one's departures away.
        d.set_watched(true);
        let again = d.look(Some(news.count), StdDuration::ZERO);
        assert_eq!(departures(&again), [("w/a", true), ("w/b", true)]);
        let later = d.look(Some(again.count), StdDuration::ZERO);
        assert!(departures(&later).is_empty(), "{:?}", later.left);
    }

    /// A listing holds what waits in the sockets even when no thread has
    /// read them (here there is none).
    #[test]
    fn a_listing_reads_what_waits_in_the_sockets() {
        let (d, _poll, _readers) = without_thread();
        let port = d.sockets.private.local_addr().unwrap().port();
        let sender = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        sender
            .send_to(&python_advert("c/waiting", 20), (Ipv4Addr::LOCALHOST, port))
            .unwrap();
        let known = d.known();
        assert!(known.iter().any(|(n, _)| n == "c/waiting"), "{known:?}");
    }
}
