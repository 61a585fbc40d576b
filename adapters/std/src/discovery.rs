//! Advertising and discovering names: the core [`Beacon`] driven by a mio
//! event loop on a background thread.
//!
//! Every process runs its own beacon. It shares UDP 9999 (adverts, Python
//! compatible) and 9997 (our queries and goodbyes) with the other processes
//! on the box through SO_REUSEADDR/SO_REUSEPORT, so no process is the single
//! point of failure that Python's per-machine beacon is, and it has a private
//! UDP port of its own that answers to its queries come back to.
//!
//! The beacon sits behind a mutex. Calls from the program (advertise,
//! discover…) lock it, act, and send what it has to say at once from their
//! own thread; the background thread feeds it datagrams and sleeps until its
//! next deadline (`poll_timeout`) — it never polls at a fixed rate.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration as StdDuration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use log::{debug, info, warn};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use networkzero_core::auth::ClassKey;
use networkzero_core::beacon::{self, Beacon, Event, Kind, MAX_TRANSMIT};
use networkzero_core::ext::EXT_PORT;
use networkzero_core::Instant;
use socket2::{Domain, Protocol, Socket, Type};

use crate::address::{self, Address, ToAddress};
use crate::error::{Error, Result};
use crate::interfaces;
use crate::wait::{self, Wait};

/// Heard names remembered, and names one process can advertise.
type CoreBeacon = Beacon<512, 64>;

const BEACON: Token = Token(0);
const EXT: Token = Token(1);
const PRIVATE: Token = Token(2);
const WAKE: Token = Token(3);

/// How often the list of interfaces is read again (Wi-Fi joins, DHCP).
const INTERFACE_CHECK: StdDuration = StdDuration::from_secs(2);

/// How long after starting `discover_all` waits for answers to the opening
/// query, so a fresh process sees every live name on the LAN.
const WARM_UP: StdDuration = StdDuration::from_millis(250);

pub(crate) struct Node {
    state: Mutex<State>,
    /// Notified whenever the table may have changed.
    heard: Condvar,
    sockets: Sockets,
    waker: Waker,
    started: StdInstant,
}

struct State {
    beacon: Box<CoreBeacon>,
    /// When each (name, sender) was last warned about, so a Python peer
    /// advertising every 2 s does not flood the terminal.
    warned: HashMap<(String, IpAddr), StdInstant>,
}

/// How often the same rejected advert is warned about.
const WARN_AGAIN: StdDuration = StdDuration::from_secs(60);

/// Wall-clock milliseconds since 1970, for sealed adverts.
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct Sockets {
    /// UDP 9999, shared; `None` when a Python beacon holds it exclusively.
    beacon: Option<UdpSocket>,
    /// UDP 9997, shared.
    ext: Option<UdpSocket>,
    /// This process's own port: queries go out of it, answers come back to it.
    private: UdpSocket,
}

fn epoch() -> StdInstant {
    static EPOCH: OnceLock<StdInstant> = OnceLock::new();
    *EPOCH.get_or_init(StdInstant::now)
}

/// Milliseconds since this process first used networkzero.
pub(crate) fn now() -> Instant {
    Instant::from_millis(epoch().elapsed().as_millis() as u64)
}

fn lock(node: &Node) -> MutexGuard<'_, State> {
    // A panic elsewhere must not stop discovery: the state stays usable.
    node.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A UDP socket on `port` of every interface, broadcast allowed; shared with
/// other processes when `shared`.
fn udp_socket(port: u16, shared: bool) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    if shared {
        socket.set_reuse_address(true)?;
        #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
        socket.set_reuse_port(true)?;
    }
    socket.set_broadcast(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    Ok(UdpSocket::from_std(socket.into()))
}

static NODE: Mutex<Option<&'static Node>> = Mutex::new(None);

/// The process's node, started on first use.
pub(crate) fn node() -> Result<&'static Node> {
    crate::logging::init();
    let mut slot = NODE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(node) = *slot {
        return Ok(node);
    }
    let (node, poll) = start()?;
    // One node per process, alive until exit: leaking it gives the
    // background thread and exit hooks a plain `&'static`.
    let node: &'static Node = Box::leak(Box::new(node));
    *slot = Some(node);
    thread::Builder::new()
        .name("networkzero-beacon".into())
        .spawn(move || run(node, poll))
        .map_err(|e| Error::network("starting the discovery thread", e))?;
    if node.sockets.beacon.is_some() {
        // Python programs started after us cannot bind 9999 and will ask
        // this computer's beacon RPC instead: be it (or wait our turn).
        crate::python_beacon::serve_in_background();
    }
    Ok(node)
}

fn start() -> Result<(Node, Poll)> {
    let started = epoch();
    let poll = Poll::new().map_err(|e| Error::network("starting discovery", e))?;
    let beacon_socket = match udp_socket(beacon::BEACON_PORT, true) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
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
        Ok(s) => Some(s),
        Err(e) => {
            warn!("cannot open UDP port {EXT_PORT} for instant discovery: {e}");
            None
        }
    };
    let mut private =
        udp_socket(0, false).map_err(|e| Error::network("opening a UDP socket", e))?;
    let mut beacon_socket = beacon_socket;
    let mut ext = ext;
    let registry = poll.registry();
    for (socket, token) in [
        (beacon_socket.as_mut(), BEACON),
        (ext.as_mut(), EXT),
        (Some(&mut private), PRIVATE),
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
    let ifaces: Vec<_> = interfaces::list().iter().map(|i| i.to_core()).collect();
    let now = now();
    beacon.set_interfaces(&ifaces, now);
    beacon.set_wall_clock(now, unix_ms());
    if let Some(passphrase) = std::env::var("NW0_CLASS_KEY")
        .ok()
        .filter(|p| !p.is_empty())
    {
        beacon.set_class_key(Some(ClassKey::from_passphrase(&passphrase)));
        info!("using the class key from NW0_CLASS_KEY: only programs with the same key are heard");
    }
    // Ask the LAN for every name at once, so even a fresh process's
    // `discover_all` sees what is running.
    beacon.query(None, now);
    let node = Node {
        state: Mutex::new(State {
            beacon,
            warned: HashMap::new(),
        }),
        heard: Condvar::new(),
        sockets: Sockets {
            beacon: beacon_socket,
            ext,
            private,
        },
        waker,
        started,
    };
    Ok((node, poll))
}

impl Node {
    /// Sends everything the beacon has to send now. Called with the lock held,
    /// from whichever thread changed the state.
    fn drain(&self, state: &mut State) {
        let now = now();
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
        while let Some(event) = state.beacon.poll_event() {
            changed = true;
            match event {
                Event::Appeared { name, address } => debug!("heard '{name}' at {address}"),
                Event::Moved { name, from, to } => debug!("'{name}' moved from {from} to {to}"),
                Event::Expired { name, address } => debug!("'{name}' at {address} has gone"),
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
        if changed {
            self.heard.notify_all();
        }
    }

    /// Changes the state, sends what that makes due, and tells the loop.
    fn act<R>(&self, f: impl FnOnce(&mut CoreBeacon, Instant) -> R) -> R {
        let mut state = lock(self);
        let result = f(&mut state.beacon, now());
        self.drain(&mut state);
        drop(state);
        // The loop recomputes its deadline; if waking fails it wakes later anyway.
        let _ = self.waker.wake();
        result
    }

    /// Waits until `found` gives a value or the deadline passes.
    fn wait_for<T>(
        &self,
        deadline: Option<StdInstant>,
        mut found: impl FnMut(&CoreBeacon, Instant) -> Option<T>,
    ) -> Option<T> {
        let mut state = lock(self);
        loop {
            if let Some(value) = found(&state.beacon, now()) {
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
}

/// The background loop: feed datagrams in, sleep until the next deadline.
fn run(node: &'static Node, mut poll: Poll) {
    let mut events = Events::with_capacity(64);
    let mut buf = vec![0u8; 2048];
    let mut next_interface_check = StdInstant::now() + INTERFACE_CHECK;
    loop {
        let timeout = {
            let mut state = lock(node);
            state.beacon.set_wall_clock(now(), unix_ms());
            state.beacon.handle_timeout(now());
            node.drain(&mut state);
            state.beacon.poll_timeout()
        };
        let until_deadline = timeout
            .map(|t| StdDuration::from_millis(t.as_millis().saturating_sub(now().as_millis())));
        let until_check = next_interface_check.saturating_duration_since(StdInstant::now());
        let sleep = until_deadline.map_or(until_check, |d| d.min(until_check));
        if let Err(e) = poll.poll(&mut events, Some(sleep)) {
            if e.kind() != io::ErrorKind::Interrupted {
                warn!("discovery stopped: {e}");
                return;
            }
        }
        for event in &events {
            let socket = match event.token() {
                BEACON => node.sockets.beacon.as_ref(),
                EXT => node.sockets.ext.as_ref(),
                PRIVATE => Some(&node.sockets.private),
                _ => None,
            };
            if let Some(socket) = socket {
                receive(node, socket, &mut buf);
            }
        }
        if StdInstant::now() >= next_interface_check {
            next_interface_check = StdInstant::now() + INTERFACE_CHECK;
            let ifaces: Vec<_> = interfaces::list().iter().map(|i| i.to_core()).collect();
            let mut state = lock(node);
            if state.beacon.interfaces() != ifaces.as_slice() {
                info!("network interfaces changed: now advertising on {ifaces:?}");
            }
            state.beacon.set_interfaces(&ifaces, now());
        }
    }
}

/// Reads what is waiting on `socket` (edge-triggered: until it would block).
fn receive(node: &Node, socket: &UdpSocket, buf: &mut [u8]) {
    // Bounded so one flooded socket cannot starve the others.
    for _ in 0..256 {
        match socket.recv_from(buf) {
            Ok((len, source)) => {
                let datagram = buf.get(..len).unwrap_or_default();
                let mut state = lock(node);
                if let Err(e) = state.beacon.handle_datagram(datagram, source, now()) {
                    debug!("dropped a datagram from {source}: {e}");
                }
                node.drain(&mut state);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                debug!("receiving: {e}");
                return;
            }
        }
    }
    // Still more waiting: mio will not signal again, so wake ourselves.
    let _ = node.waker.wake();
}

fn cannot_advertise(name: &str, reason: impl ToString) -> Error {
    Error::CannotAdvertise {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

/// Advertises `name` on a free port of this computer and returns the
/// address to listen on (for [`wait_for_message`](crate::wait_for_message),
/// [`publish_news`](crate::publish_news)…). Other programs find it with
/// [`discover`]. Names are unadvertised when the program exits.
///
/// ```no_run
/// let address = networkzero::advertise("hello")?;
/// println!("listening at {address}");
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn advertise(name: &str) -> Result<Address> {
    let port = address::free_port()?;
    advertise_socket(name, SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
}

/// Advertises `name` at an address you choose: text like `"8080"`,
/// `"192.168.1.5:8080"`, or an [`Address`].
///
/// ```no_run
/// let address = networkzero::advertise_at("hello", "8080")?; // port 8080 of this computer
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn advertise_at(name: &str, address: impl ToAddress) -> Result<Address> {
    let address = address.to_address()?;
    let ours = interfaces::list().iter().any(|i| address.ip() == i.ip);
    // This computer's own address: advertise on every interface, each with
    // its own address, so every subnet is told one it can reach.
    let on = if ours {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, address.port()))
    } else {
        address.socket_addr()
    };
    advertise_socket(name, on)?;
    Ok(address)
}

/// Advertises `name` at exactly `address` (no per-interface addresses):
/// for a Python program that asked through the beacon RPC and listens there.
pub(crate) fn advertise_exactly(name: &str, address: Address) -> Result<Address> {
    advertise_socket(name, address.socket_addr())
}

/// Whether this process advertises `name`.
pub(crate) fn is_advertised(name: &str) -> bool {
    node().is_ok_and(|node| lock(node).beacon.advertised().any(|(n, _)| n == name))
}

fn advertise_socket(name: &str, on: SocketAddr) -> Result<Address> {
    let node = node()?;
    let local = node
        .act(|b, now| b.advertise(name, on, now))
        .map_err(|e| cannot_advertise(name, e))?;
    crate::exit::install_exit_hooks();
    info!("advertising '{name}' at {local}");
    Ok(Address::from(local))
}

/// Uses a class key: only programs given the same passphrase hear this
/// program's adverts and are heard by it; adverts without the key (or with
/// another, or replayed) are ignored with a warning. An empty passphrase
/// turns the key off. The `NW0_CLASS_KEY` environment variable does the
/// same for a whole classroom without changing programs. Python
/// networkzero cannot use a class key.
///
/// ```no_run
/// networkzero::set_class_key("blue whale")?;
/// let address = networkzero::advertise("robot")?; // no other team can take over "robot"
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn set_class_key(passphrase: &str) -> Result<()> {
    let key = (!passphrase.is_empty()).then(|| ClassKey::from_passphrase(passphrase));
    node()?.act(|b, now| {
        b.set_class_key(key);
        // Send every name again at once, sealed (or not) as now set.
        let names: Vec<(String, SocketAddr)> = b
            .advertised()
            .map(|(n, a)| (n.to_string(), SocketAddr::V4(a)))
            .collect();
        for (name, address) in names {
            let _ = b.advertise(&name, address, now);
        }
    });
    Ok(())
}

/// Stops advertising `name`; other programs forget it at once.
///
/// ```no_run
/// networkzero::advertise("quiz-question-1")?;
/// networkzero::unadvertise("quiz-question-1")?;
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn unadvertise(name: &str) -> Result<()> {
    let node = node()?;
    if !node.act(|b, now| b.unadvertise(name, now)) {
        warn!("'{name}' was not advertised by this program, so there was nothing to unadvertise");
    }
    Ok(())
}

/// Unadvertises every name and sends the goodbyes before returning.
pub(crate) fn unadvertise_all() {
    let Some(node) = *NODE.lock().unwrap_or_else(|e| e.into_inner()) else {
        return;
    };
    node.act(|b, now| {
        let names: Vec<String> = b.advertised().map(|(n, _)| n.to_string()).collect();
        for name in names {
            b.unadvertise(&name, now);
        }
    });
}

/// Finds the address of the service advertised as `name`, waiting up to
/// `wait` (seconds, a `Duration`, or [`FOREVER`](crate::FOREVER)). Returns
/// `None`, with a warning, if it is not found in time.
///
/// A service already running is usually found within milliseconds: this
/// program asks the network, and every networkzero program advertising the
/// name answers at once (a Python networkzero service is heard at its next
/// advert, within 2 s).
///
/// ```no_run
/// match networkzero::discover("hello", 10)? {
///     Some(address) => println!("hello is at {address}"),
///     None => println!("no hello on this network"),
/// }
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn discover(name: &str, wait: impl Into<Wait>) -> Result<Option<Address>> {
    let wait = wait.into();
    let deadline = wait.deadline(StdInstant::now());
    let node = node()?;
    let found = if node.sockets.beacon.is_some() {
        node.find(name, deadline)
    } else {
        find_with_python_beacon(node, name, deadline)
    };
    if found.is_none() {
        warn!(
            "'{name}' was not found within {}: is the program that advertises it running, on this network?",
            wait.describe()
        );
    }
    Ok(found.map(Address::from))
}

impl Node {
    /// Looks `name` up, asking the network if it is not known yet.
    fn find(&self, name: &str, deadline: Option<StdInstant>) -> Option<std::net::SocketAddr> {
        if let Some(found) = self.wait_for(Some(StdInstant::now()), |b, now| b.lookup(name, now)) {
            return Some(found);
        }
        self.act(|b, now| b.query(Some(name), now));
        self.wait_for(deadline, |b, now| b.lookup(name, now))
    }
}

/// A Python beacon holds 9999, so adverts sent there do not reach us: ask
/// our peers (queries still work) and the Python beacon in turn.
fn find_with_python_beacon(
    node: &Node,
    name: &str,
    deadline: Option<StdInstant>,
) -> Option<std::net::SocketAddr> {
    let slice = StdDuration::from_millis(200);
    loop {
        let until = StdInstant::now() + slice;
        let ours = node.find(name, Some(deadline.map_or(until, |d| d.min(until))));
        if ours.is_some() {
            return ours;
        }
        let left = wait::remaining(deadline).unwrap_or(StdDuration::from_millis(500));
        if let Some(found) =
            crate::python_beacon::discover(name, left.min(StdDuration::from_millis(500)))
        {
            return Some(found.socket_addr());
        }
        if wait::remaining(deadline) == Some(StdDuration::ZERO) {
            return None;
        }
    }
}

/// For the beacon RPC: this process's table only, no warning.
pub(crate) fn find_locally(name: &str, wait: StdDuration) -> Option<Address> {
    let node = node().ok()?;
    node.find(name, Some(StdInstant::now() + wait))
        .map(Address::from)
}

fn warmed_up(node: &Node) {
    let age = node.started.elapsed();
    if age < WARM_UP {
        thread::sleep(WARM_UP - age);
    }
}

/// Every name advertised on the network now, with its address, sorted by name.
///
/// ```no_run
/// for (name, address) in networkzero::discover_all()? {
///     println!("{name}\t{address}");
/// }
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn discover_all() -> Result<Vec<(String, Address)>> {
    let node = node()?;
    warmed_up(node);
    let mut all: Vec<_> = lock(node)
        .beacon
        .adverts(now())
        .map(|e| (e.name.to_string(), Address::from(e.address)))
        .collect();
    if node.sockets.beacon.is_none() {
        for (name, address) in crate::python_beacon::discover_all() {
            if !all.iter().any(|(n, _)| *n == name) {
                all.push((name, address));
            }
        }
    }
    all.sort();
    Ok(all)
}

/// The names in a group — `"chat/alice"` and `"chat/bob"` are in group
/// `"chat"` — with their addresses.
///
/// ```no_run
/// networkzero::advertise("chat/alice")?;
/// let others = networkzero::discover_group("chat")?; // [("chat/alice", …), ("chat/bob", …)]
/// # let _ = others;
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn discover_group(group: &str) -> Result<Vec<(String, Address)>> {
    discover_group_with(group, "/", &[])
}

/// Like [`discover_group`], with another separator than `/` and names to leave out.
///
/// ```no_run
/// let others = networkzero::discover_group_with("chat", "/", &["chat/alice"])?; // not me
/// # let _ = others;
/// # Ok::<(), networkzero::Error>(())
/// ```
pub fn discover_group_with(
    group: &str,
    separator: &str,
    exclude: &[&str],
) -> Result<Vec<(String, Address)>> {
    let prefix = format!("{group}{separator}");
    Ok(discover_all()?
        .into_iter()
        .filter(|(name, _)| name.starts_with(&prefix) && !exclude.contains(&name.as_str()))
        .collect())
}
