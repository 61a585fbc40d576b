//! The beginner's message calls over whichever transport is in use: one JSON
//! frame per request and reply, news as two frames (topic, JSON data), the
//! way Python networkzero sends them.
//!
//! Sockets are made on first use and cached per address and role, as in
//! Python, and belong to the thread that made them: using one from another
//! thread is a clear error, never a data race or a deadlock. A REQ whose
//! reply was lost is reset (Python's "zombie socket"); a REP answers a
//! message that is not JSON with `null` and carries on; servers listen on
//! 0.0.0.0. What differs between libzmq (`messenger.rs`) and the pure-Rust
//! engine (`transport/`) is only how a socket does each step:
//! [`TransportSocket`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use serde::Serialize;
use serde_json::Value;

use crate::address::{Address, ToAddress};
use crate::error::{Error, Result};
use crate::interfaces;
use crate::messages::{same_bytes, to_json, Backlog, FIRST_NEWS_DELAY, MAX_MESSAGE};
use crate::wait::Wait;

/// The transport's socket.
type Socket = crate::transport_in_use::Socket;
type Peer = <Socket as TransportSocket>::Peer;

/// How a call uses an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    Request,
    Reply,
    Publish,
    Subscribe,
}

impl Role {
    fn describe(self) -> &'static str {
        match self {
            Role::Request => "to send messages",
            Role::Reply => "to wait for messages",
            Role::Publish => "to publish news",
            Role::Subscribe => "to wait for news",
        }
    }

    /// REP and PUB listen; REQ and SUB connect.
    pub(crate) fn binds(self) -> bool {
        matches!(self, Role::Reply | Role::Publish)
    }
}

/// A deadline read from the clock only when a call has to wait: taking what
/// is already queued costs no clock reading.
pub(crate) struct Deadline {
    wait: Wait,
    at: Option<Option<Instant>>,
}

impl Deadline {
    pub(crate) fn new(wait: Wait) -> Deadline {
        Deadline { wait, at: None }
    }

    /// The deadline (`None`: wait for ever), counted from the first call.
    pub(crate) fn get(&mut self) -> Option<Instant> {
        let wait = self.wait;
        *self.at.get_or_insert_with(|| wait.deadline(Instant::now()))
    }
}

/// One received message: its frames, and who sent it (for a REP's reply).
pub(crate) struct Received<P> {
    pub(crate) parts: Vec<Vec<u8>>,
    pub(crate) from: P,
}

/// What a transport's socket does for the calls here. `address` is the
/// beginner's, for error messages.
pub(crate) trait TransportSocket: Sized + Send + 'static {
    /// Who a REP reply goes to (libzmq's REP tracks it itself: `()`).
    type Peer: Copy + Send + 'static;

    /// Listens (REP, PUB) on `endpoint` or connects (REQ, SUB) to it, taking
    /// messages of up to `max_message` bytes.
    fn open(role: Role, endpoint: SocketAddr, max_message: usize, address: Address)
        -> Result<Self>;
    /// REQ: sends a request.
    fn request(&mut self, payload: Vec<u8>, address: Address) -> Result<()>;
    /// The next message, waiting until the deadline; `None` on timeout.
    fn receive(
        &mut self,
        deadline: &mut Deadline,
        address: Address,
    ) -> Result<Option<Received<Self::Peer>>>;
    /// REP: answers the message that came from `to`.
    fn reply(&mut self, to: Self::Peer, payload: Vec<u8>, address: Address) -> Result<()>;
    /// PUB: sends `[topic, payload]` to every subscriber whose prefix
    /// matches; `n` counts this socket's items from 1.
    fn publish(&mut self, n: u64, topic: &str, payload: Vec<u8>, address: Address) -> Result<()>;
    /// SUB: subscribes to a prefix.
    fn subscribe(&mut self, prefix: &[u8], address: Address) -> Result<()>;
}

struct Entry {
    socket: Socket,
    owner: ThreadId,
    /// REP: the sender of the message not answered yet.
    awaiting_reply: Option<Peer>,
    /// SUB: prefixes subscribed so far (a few, so a list).
    subscriptions: Vec<Vec<u8>>,
    /// SUB: news kept for another prefix than the call's.
    backlog: Backlog,
    /// PUB: news items sent so far (the one count both the transport and
    /// the exit flush go by).
    published: u64,
}

type Shared = Arc<Mutex<Entry>>;

fn cache() -> MutexGuard<'static, HashMap<(Role, Address), Shared>> {
    static CACHE: OnceLock<Mutex<HashMap<(Role, Address), Shared>>> = OnceLock::new();
    CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// A socket this thread used last in its role.
type Recent = (Address, Weak<Mutex<Entry>>);

thread_local! {
    /// This thread's last socket in each role. A program publishes or waits
    /// in a loop on one address: this spares every call the shared cache's
    /// lock and hash lookup. Only the owner thread holds an entry here, and a
    /// socket [`reset`] from the cache no longer upgrades.
    static RECENT: RefCell<[Option<Recent>; 4]> =
        const { RefCell::new([None, None, None, None]) };
}

/// The socket this thread last used for `address` in `role`, if still cached.
#[inline]
fn recent(address: Address, role: Role) -> Option<Shared> {
    RECENT
        .try_with(|r| match &r.borrow()[role as usize] {
            Some((a, entry)) if *a == address => entry.upgrade(),
            _ => None,
        })
        .ok()
        .flatten()
}

fn remember(address: Address, role: Role, entry: &Shared) {
    let _ =
        RECENT.try_with(|r| r.borrow_mut()[role as usize] = Some((address, Arc::downgrade(entry))));
}

fn is_local(ip: IpAddr) -> bool {
    ip.is_unspecified()
        || ip.is_loopback()
        || interfaces::list().iter().any(|i| IpAddr::V4(i.ip) == ip)
}

/// The cached socket for `address` in `role`, made on first use; also says
/// whether it was just made. Inlined into the calls: a loop that publishes
/// or waits finds its socket in [`RECENT`] (this shortcut measured 10 % of
/// a `publish_news` as a function call).
#[inline]
fn socket(address: Address, role: Role) -> Result<(Shared, bool)> {
    match recent(address, role) {
        Some(entry) => Ok((entry, false)),
        None => cached_or_new(address, role),
    }
}

/// [`socket`] past the per-thread shortcut: the shared cache, or a new socket.
#[inline(never)]
fn cached_or_new(address: Address, role: Role) -> Result<(Shared, bool)> {
    crate::logging::init();
    let mut cache = cache();
    if let Some(entry) = cache.get(&(role, address)) {
        let owner = entry.lock().unwrap_or_else(|e| e.into_inner()).owner;
        if owner != thread::current().id() {
            return Err(Error::DifferentThread {
                address: address.to_string(),
            });
        }
        remember(address, role, entry);
        return Ok((Arc::clone(entry), false));
    }
    let endpoint = if role.binds() {
        if let Some(((other, _), _)) = cache
            .iter()
            .find(|((r, a), _)| r.binds() && a.port() == address.port())
        {
            return Err(Error::WrongUse {
                address: address.to_string(),
                used_for: other.describe(),
            });
        }
        if !is_local(address.ip()) {
            return Err(Error::NotLocal {
                address: address.socket_addr(),
            });
        }
        // Listen on every interface: adverts give each subnet the address
        // of its own interface, and 127.0.0.1 works with no network at all.
        SocketAddr::new(IpAddr::from([0, 0, 0, 0]), address.port())
    } else {
        address.socket_addr()
    };
    let socket = Socket::open(role, endpoint, MAX_MESSAGE as usize, address)?;
    let entry = Arc::new(Mutex::new(Entry {
        socket,
        owner: thread::current().id(),
        awaiting_reply: None,
        subscriptions: Vec::new(),
        backlog: Backlog::default(),
        published: 0,
    }));
    cache.insert((role, address), Arc::clone(&entry));
    remember(address, role, &entry);
    Ok((entry, true))
}

/// Forgets a socket, so the next call makes a fresh one (after a lost reply
/// a REQ socket is stuck waiting for it: Python's "zombie socket").
fn reset(address: Address, role: Role) {
    let removed = cache().remove(&(role, address));
    drop(removed);
}

#[inline]
fn lock(entry: &Shared) -> MutexGuard<'_, Entry> {
    entry.lock().unwrap_or_else(|e| e.into_inner())
}

/// The first frame of a message (networkzero sends one).
fn first(message: &Received<impl Copy>) -> &[u8] {
    message.parts.first().map_or(&[][..], Vec::as_slice)
}

/// Sends `message` to the service at `address` and waits up to `wait` for
/// its reply. Returns `None`, with a warning, if no reply comes in time.
pub fn send_message(
    address: impl ToAddress,
    message: impl Serialize,
    wait: impl Into<Wait>,
) -> Result<Option<Value>> {
    let address = address.to_address()?;
    let wait = wait.into();
    let mut deadline = Deadline::new(wait);
    deadline.get(); // counted from the call, not from the first empty read
    let payload = to_json(&message)?;
    let (entry, _) = socket(address, Role::Request)?;
    let mut guard = lock(&entry);
    guard.socket.request(payload, address)?;
    let Some(reply) = guard.socket.receive(&mut deadline, address)? else {
        drop(guard);
        reset(address, Role::Request);
        warn!(
            "no reply from {address} within {}: is the program there waiting for messages?",
            wait.describe()
        );
        return Ok(None);
    };
    match serde_json::from_slice(first(&reply)) {
        Ok(value) => Ok(Some(value)),
        Err(e) => {
            warn!("the reply from {address} is not JSON ({e}); ignoring it");
            Ok(None)
        }
    }
}

/// Waits up to `wait` for a message at `address` (where this program
/// listens, e.g. from [`advertise`](crate::advertise)) and returns it. Answer
/// it with [`send_reply`]. Returns `None` on timeout (quietly: waiting in a
/// loop with a short timeout is normal).
pub fn wait_for_message(address: impl ToAddress, wait: impl Into<Wait>) -> Result<Option<Value>> {
    let address = address.to_address()?;
    let wait = wait.into();
    let mut deadline = Deadline::new(wait);
    deadline.get();
    let (entry, _) = socket(address, Role::Reply)?;
    let mut guard = lock(&entry);
    if let Some(peer) = guard.awaiting_reply.take() {
        warn!("the last message to {address} got no send_reply; replying null so its sender is not left waiting");
        guard.socket.reply(peer, b"null".to_vec(), address)?;
    }
    // Bounded by the deadline; each pass consumes one message.
    loop {
        let Some(message) = guard.socket.receive(&mut deadline, address)? else {
            // A normal outcome in a polling loop, as in Python: not a warning.
            debug!("no message arrived at {address} within {}", wait.describe());
            return Ok(None);
        };
        match serde_json::from_slice(first(&message)) {
            Ok(value) => {
                guard.awaiting_reply = Some(message.from);
                return Ok(Some(value));
            }
            Err(e) => {
                // Answer, so the sender is not stuck and we stay usable
                // (a Python REP server wedges here).
                warn!("a message to {address} was not JSON ({e}); it got a null reply and was dropped");
                guard
                    .socket
                    .reply(message.from, b"null".to_vec(), address)?;
            }
        }
    }
}

/// Replies to the message last received at `address`.
pub fn send_reply(address: impl ToAddress, reply: impl Serialize) -> Result<()> {
    let address = address.to_address()?;
    let payload = to_json(&reply)?;
    let (entry, _) = socket(address, Role::Reply)?;
    let mut guard = lock(&entry);
    let Some(peer) = guard.awaiting_reply.take() else {
        warn!("there is no message at {address} to reply to: call wait_for_message first");
        return Ok(());
    };
    guard.socket.reply(peer, payload, address)?;
    crate::exit::note_send();
    Ok(())
}

/// Publishes a news item: `data` under `topic`, to every program waiting for
/// news at `address` on topics that start with their prefix. News published
/// before a subscriber connects is not seen by it; the first call on an
/// address waits 0.3 s so that programs already waiting can connect. A
/// subscriber that has 1000 items waiting (the high-water mark) misses the
/// newest; over libzmq, which counts what a subscriber has taken only every
/// 500 items, that can start from about 470.
pub fn publish_news(address: impl ToAddress, topic: &str, data: impl Serialize) -> Result<()> {
    let address = address.to_address()?;
    let payload = to_json(&data)?;
    let (entry, fresh) = socket(address, Role::Publish)?;
    if fresh {
        // News sent before a subscriber has connected is dropped. Programs
        // already waiting for this news retry their connection every 100–200
        // ms: give them time, so a first item published at start is not lost.
        thread::sleep(FIRST_NEWS_DELAY);
    }
    let mut guard = lock(&entry);
    guard.published += 1;
    let n = guard.published;
    guard.socket.publish(n, topic, payload, address)?;
    if n % 32 == 1 {
        crate::exit::note_send();
    } else {
        // The clock is read on the first item and every 32nd (see exit.rs).
        crate::exit::note_send_unstamped();
    }
    Ok(())
}

/// Waits up to `wait` for news published at `address` on a topic that
/// starts with `prefix` (`""` for every topic); returns `(topic, data)`.
/// News on a topic an earlier call asked for and this one does not is kept
/// (up to 1000 items) for the call that asks for it: a program that waits
/// for `"temp"` and `"wind"` in turn loses neither.
pub fn wait_for_news(
    address: impl ToAddress,
    prefix: &str,
    wait: impl Into<Wait>,
) -> Result<Option<(String, Value)>> {
    let address = address.to_address()?;
    let wait = wait.into();
    let mut deadline = Deadline::new(wait);
    let (entry, _) = socket(address, Role::Subscribe)?;
    let mut guard = lock(&entry);
    if !guard
        .subscriptions
        .iter()
        .any(|p| same_bytes(p, prefix.as_bytes()))
    {
        guard.socket.subscribe(prefix.as_bytes(), address)?;
        guard.subscriptions.push(prefix.as_bytes().to_vec());
    }
    if let Some(item) = guard.backlog.take(prefix) {
        return Ok(Some(item));
    }
    loop {
        let Some(news) = guard.socket.receive(&mut deadline, address)? else {
            debug!("no news from {address} within {}", wait.describe());
            return Ok(None);
        };
        if let Some(item) = guard.backlog.sort(&news.parts, prefix, address) {
            return Ok(Some(item));
        }
    }
}

// ---- for python_beacon.rs: one REP serve loop and one REQ ask --------------

/// Serves requests of up to `max_request` bytes at `endpoint` for ever:
/// waits its turn for the port (trying every `retry`), then answers every
/// request with `answer`.
pub(crate) fn serve_requests(
    endpoint: SocketAddr,
    what: &str,
    max_request: usize,
    retry: Duration,
    mut answer: impl FnMut(&[u8]) -> Vec<u8>,
) {
    let address = Address::from(endpoint);
    let mut socket = loop {
        match Socket::open(Role::Reply, endpoint, max_request, address) {
            Ok(s) => break s,
            Err(_) => thread::sleep(retry),
        }
    };
    info!("serving {what} on tcp://{endpoint}");
    loop {
        let request = match socket.receive(&mut Deadline::new(Wait::Forever), address) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                debug!("{what}: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let bytes = answer(first(&request));
        if let Err(e) = socket.reply(request.from, bytes, address) {
            debug!("{what} reply: {e}");
        }
    }
}

/// Sends one request to `endpoint` on a fresh socket and waits up to `wait`
/// for a reply of up to `max_reply` bytes; `None` if none comes.
pub(crate) fn ask(
    endpoint: SocketAddr,
    request: Vec<u8>,
    max_reply: usize,
    wait: Duration,
) -> Option<Vec<u8>> {
    let address = Address::from(endpoint);
    let mut socket = Socket::open(Role::Request, endpoint, max_reply, address).ok()?;
    socket.request(request, address).ok()?;
    let mut deadline = Deadline::new(Wait::from(wait));
    let reply = socket.receive(&mut deadline, address).ok()??;
    reply.parts.into_iter().next()
}
