//! Messages, commands and news over ZeroMQ (libzmq), the way Python
//! networkzero sends them: one JSON frame per request and reply; news as two
//! frames, the topic and the JSON data.
//!
//! Sockets are cached per address and role, as in Python, and belong to the
//! thread that made them: using one from another thread is a clear error,
//! never a data race or a deadlock.

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
use crate::messages::{
    same_bytes, to_json, Backlog, FIRST_NEWS_DELAY, MAX_MESSAGE, NEWS_HIGH_WATER_MARK,
};
use crate::wait::{self, Wait};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
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

    fn binds(self) -> bool {
        matches!(self, Role::Reply | Role::Publish)
    }
}

struct Entry {
    socket: zmq::Socket,
    owner: ThreadId,
    /// Reply sockets: a message arrived and has not been answered yet.
    awaiting_reply: bool,
    /// Subscribe sockets: prefixes subscribed so far (a few, so a list).
    subscriptions: Vec<Vec<u8>>,
    /// Subscribe sockets: news kept for another prefix than the call's.
    backlog: Backlog,
    /// Publish sockets: news items sent so far (see [`READ_CREDIT_EVERY`]).
    published: u64,
}

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

type Shared = Arc<Mutex<Entry>>;

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

fn context() -> &'static zmq::Context {
    static CONTEXT: OnceLock<zmq::Context> = OnceLock::new();
    CONTEXT.get_or_init(zmq::Context::new)
}

fn cache() -> MutexGuard<'static, HashMap<(Role, Address), Shared>> {
    static CACHE: OnceLock<Mutex<HashMap<(Role, Address), Shared>>> = OnceLock::new();
    CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn zmq_error(doing: &str, address: Address, e: zmq::Error) -> Error {
    match e {
        zmq::Error::EADDRINUSE => Error::PortInUse {
            address: address.socket_addr(),
        },
        zmq::Error::EADDRNOTAVAIL => Error::NotLocal {
            address: address.socket_addr(),
        },
        other => Error::network(format!("{doing} {address}"), other),
    }
}

fn is_local(ip: IpAddr) -> bool {
    ip.is_unspecified()
        || ip.is_loopback()
        || interfaces::list().iter().any(|i| IpAddr::V4(i.ip) == ip)
}

/// The cached socket for `address` in `role`, made on first use.
fn socket(address: Address, role: Role) -> Result<Shared> {
    if let Some(entry) = recent(address, role) {
        return Ok(entry);
    }
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
        return Ok(Arc::clone(entry));
    }
    if role.binds() {
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
    }
    let kind = match role {
        Role::Request => zmq::REQ,
        Role::Reply => zmq::REP,
        Role::Publish => zmq::PUB,
        Role::Subscribe => zmq::SUB,
    };
    let socket = context()
        .socket(kind)
        .map_err(|e| zmq_error("making a socket for", address, e))?;
    let configure = || -> zmq::Result<()> {
        socket.set_linger(0)?;
        socket.set_maxmsgsize(MAX_MESSAGE)?;
        socket.set_sndhwm(NEWS_HIGH_WATER_MARK)?;
        socket.set_rcvhwm(NEWS_HIGH_WATER_MARK)?;
        Ok(())
    };
    configure().map_err(|e| zmq_error("configuring the socket for", address, e))?;
    if role.binds() {
        // Listen on every interface: adverts give each subnet the address
        // of its own interface, and 127.0.0.1 works with no network at all.
        let endpoint = format!(
            "tcp://{}",
            SocketAddr::new(IpAddr::from([0, 0, 0, 0]), address.port())
        );
        socket
            .bind(&endpoint)
            .map_err(|e| zmq_error("listening on", address, e))?;
    } else {
        socket
            .connect(&format!("tcp://{address}"))
            .map_err(|e| zmq_error("connecting to", address, e))?;
    }
    let entry = Arc::new(Mutex::new(Entry {
        socket,
        owner: thread::current().id(),
        awaiting_reply: false,
        subscriptions: Vec::new(),
        backlog: Backlog::default(),
        published: 0,
    }));
    cache.insert((role, address), Arc::clone(&entry));
    remember(address, role, &entry);
    Ok(entry)
}

/// Forgets a socket, so the next call makes a fresh one (after a lost reply
/// a REQ socket is stuck waiting for it: Python's "zombie socket").
fn reset(address: Address, role: Role) {
    cache().remove(&(role, address));
}

fn lock(entry: &Shared) -> MutexGuard<'_, Entry> {
    entry.lock().unwrap_or_else(|e| e.into_inner())
}

/// Receives one message, waiting up to `wait` counted from the first time
/// nothing is queued (`deadline`, set then and kept across calls); `None` on
/// timeout. Something already queued is taken without a poll system call or
/// a clock reading.
fn receive(
    socket: &zmq::Socket,
    wait: Wait,
    deadline: &mut Option<Option<Instant>>,
    address: Address,
) -> Result<Option<Vec<Vec<u8>>>> {
    // Each pass either returns or waits (with a shrinking timeout) first.
    loop {
        match socket.recv_multipart(zmq::DONTWAIT) {
            Ok(parts) => return Ok(Some(parts)),
            Err(zmq::Error::EAGAIN) => {}
            Err(e) => return Err(zmq_error("receiving from", address, e)),
        }
        let deadline = *deadline.get_or_insert_with(|| wait.deadline(Instant::now()));
        if !readable(socket, deadline, address)? {
            return Ok(None);
        }
    }
}

/// Waits until `socket` has something to read; false on timeout.
fn readable(socket: &zmq::Socket, deadline: Option<Instant>, address: Address) -> Result<bool> {
    loop {
        let timeout =
            wait::remaining(deadline).map_or(-1, |d| d.as_millis().min(i64::MAX as u128) as i64);
        match socket.poll(zmq::POLLIN, timeout) {
            Ok(n) => return Ok(n > 0),
            // A signal (Ctrl-C being handled, say): keep waiting until the deadline.
            Err(zmq::Error::EINTR) if timeout != 0 => continue,
            Err(zmq::Error::EINTR) => return Ok(false),
            Err(e) => return Err(zmq_error("waiting on", address, e)),
        }
    }
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
    let deadline = wait.deadline(Instant::now());
    let payload = to_json(&message)?;
    let entry = socket(address, Role::Request)?;
    let guard = lock(&entry);
    guard
        .socket
        .send(payload, 0)
        .map_err(|e| zmq_error("sending to", address, e))?;
    if !readable(&guard.socket, deadline, address)? {
        drop(guard);
        reset(address, Role::Request);
        warn!(
            "no reply from {address} within {}: is the program there waiting for messages?",
            wait.describe()
        );
        return Ok(None);
    }
    let reply = guard
        .socket
        .recv_bytes(0)
        .map_err(|e| zmq_error("receiving from", address, e))?;
    match serde_json::from_slice(&reply) {
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
    let deadline = wait.deadline(Instant::now());
    let entry = socket(address, Role::Reply)?;
    let mut guard = lock(&entry);
    if guard.awaiting_reply {
        warn!("the last message to {address} got no send_reply; replying null so its sender is not left waiting");
        guard
            .socket
            .send("null", 0)
            .map_err(|e| zmq_error("replying on", address, e))?;
        guard.awaiting_reply = false;
    }
    // Bounded by the deadline; each pass consumes one message.
    loop {
        if !readable(&guard.socket, deadline, address)? {
            // A normal outcome in a polling loop, as in Python: not a warning.
            debug!("no message arrived at {address} within {}", wait.describe());
            return Ok(None);
        }
        let message = guard
            .socket
            .recv_bytes(0)
            .map_err(|e| zmq_error("receiving at", address, e))?;
        match serde_json::from_slice(&message) {
            Ok(value) => {
                guard.awaiting_reply = true;
                return Ok(Some(value));
            }
            Err(e) => {
                // Answer, so the sender is not stuck and we stay usable
                // (a Python REP server wedges here).
                warn!("a message to {address} was not JSON ({e}); it got a null reply and was dropped");
                guard
                    .socket
                    .send("null", 0)
                    .map_err(|e| zmq_error("replying on", address, e))?;
            }
        }
    }
}

/// Replies to the message last received at `address`.
pub fn send_reply(address: impl ToAddress, reply: impl Serialize) -> Result<()> {
    let address = address.to_address()?;
    let payload = to_json(&reply)?;
    let entry = socket(address, Role::Reply)?;
    let mut guard = lock(&entry);
    if !guard.awaiting_reply {
        warn!("there is no message at {address} to reply to: call wait_for_message first");
        return Ok(());
    }
    guard
        .socket
        .send(payload, 0)
        .map_err(|e| zmq_error("replying on", address, e))?;
    guard.awaiting_reply = false;
    crate::exit::note_send();
    Ok(())
}

/// Publishes a news item: `data` under `topic`, to every program waiting for
/// news at `address` on topics that start with their prefix. News published
/// before a subscriber connects is not seen by it; the first call on an
/// address waits 0.3 s so that programs already waiting can connect. A
/// subscriber that has fallen 1000 items behind (the high-water mark) misses
/// the newest; libzmq counts what a subscriber has taken only every 500 items,
/// so the newest may be missed from about 470 items behind.
pub fn publish_news(address: impl ToAddress, topic: &str, data: impl Serialize) -> Result<()> {
    let address = address.to_address()?;
    let payload = to_json(&data)?;
    let (entry, fresh) = match recent(address, Role::Publish) {
        Some(entry) => (entry, false),
        None => {
            let fresh = !cache().contains_key(&(Role::Publish, address));
            (socket(address, Role::Publish)?, fresh)
        }
    };
    if fresh {
        // ZeroMQ drops news sent before a subscriber has connected. Programs
        // already waiting for this news retry their connection every 100 ms:
        // give them time, so a first item published at start is not lost.
        std::thread::sleep(FIRST_NEWS_DELAY);
    }
    let mut guard = lock(&entry);
    guard.published += 1;
    if guard.published.is_multiple_of(READ_CREDIT_EVERY) {
        // Reads libzmq's notices of what subscribers have taken (see
        // READ_CREDIT_EVERY); only its side effect matters.
        let _ = guard.socket.get_events();
    }
    guard
        .socket
        .send_multipart([topic.as_bytes(), payload.as_slice()], 0)
        .map_err(|e| zmq_error("publishing on", address, e))?;
    if guard.published % READ_CREDIT_EVERY == 1 {
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
    let mut deadline = None; // set when nothing is queued (see `receive`)
    let entry = socket(address, Role::Subscribe)?;
    let mut guard = lock(&entry);
    if !guard
        .subscriptions
        .iter()
        .any(|p| same_bytes(p, prefix.as_bytes()))
    {
        guard.subscriptions.push(prefix.as_bytes().to_vec());
        guard
            .socket
            .set_subscribe(prefix.as_bytes())
            .map_err(|e| zmq_error("subscribing to", address, e))?;
    }
    if let Some(item) = guard.backlog.take(prefix) {
        return Ok(Some(item));
    }
    loop {
        let Some(parts) = receive(&guard.socket, wait, &mut deadline, address)? else {
            debug!("no news from {address} within {}", wait.describe());
            return Ok(None);
        };
        if let Some(item) = guard.backlog.sort(&parts, prefix, address) {
            return Ok(Some(item));
        }
    }
}

// ---- for python_beacon.rs: one REP serve loop and one REQ ask --------------

/// Serves requests at `endpoint` for ever: waits its turn for the port
/// (trying every `retry`), then answers every request with `answer`.
pub(crate) fn serve_requests(
    endpoint: SocketAddr,
    what: &str,
    max_request: usize,
    retry: Duration,
    mut answer: impl FnMut(&[u8]) -> Vec<u8>,
) {
    let socket = match context().socket(zmq::REP) {
        Ok(s) => s,
        Err(e) => return warn!("cannot serve {what}: {e}"),
    };
    let _ = socket.set_linger(0);
    let _ = socket.set_maxmsgsize(i64::try_from(max_request).unwrap_or(i64::MAX));
    let endpoint = format!("tcp://{endpoint}");
    while socket.bind(&endpoint).is_err() {
        thread::sleep(retry);
    }
    info!("serving {what} on {endpoint}");
    loop {
        let request = match socket.recv_bytes(0) {
            Ok(r) => r,
            Err(e) => {
                debug!("{what}: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if let Err(e) = socket.send(answer(&request), 0) {
            debug!("{what} reply: {e}");
        }
    }
}

/// Sends one request to `endpoint` on a fresh socket and waits up to `wait`
/// for the reply; `None` if none comes.
pub(crate) fn ask(
    endpoint: SocketAddr,
    request: Vec<u8>,
    max_reply: usize,
    wait: Duration,
) -> Option<Vec<u8>> {
    let socket = context().socket(zmq::REQ).ok()?;
    socket.set_linger(0).ok()?;
    socket
        .set_maxmsgsize(i64::try_from(max_reply).unwrap_or(i64::MAX))
        .ok()?;
    socket.connect(&format!("tcp://{endpoint}")).ok()?;
    socket.send(request, 0).ok()?;
    let millis = wait.as_millis().min(i64::MAX as u128) as i64;
    if socket.poll(zmq::POLLIN, millis).ok()? == 0 {
        return None;
    }
    socket.recv_bytes(0).ok()
}
