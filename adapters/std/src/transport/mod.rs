//! Messages, commands and news over the pure-Rust transport (feature
//! `pure-rust`): the core's sans-IO ZMTP engine driven over mio TCP sockets
//! by one background I/O thread ([`io`]). No C or C++ compiler is needed.
//!
//! The functions behave as the libzmq build's do, on the same wire: one JSON
//! frame per request and reply, news as two frames (topic, JSON data).
//! Sockets are cached per address and role and belong to the thread that
//! made them; a REQ whose reply was lost is reset ("zombie socket"); a REP
//! answers a message that is not JSON with `null` and carries on; servers
//! listen on 0.0.0.0. News is dropped the way libzmq drops it: per
//! subscriber, once [`NEWS_HIGH_WATER_MARK`] items wait for it, the newest
//! are dropped for that subscriber.

mod io;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
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
use crate::wait::Wait;
use io::{Kind, Socket};

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

    fn kind(self) -> Kind {
        match self {
            Role::Request => Kind::Req,
            Role::Reply => Kind::Rep,
            Role::Publish => Kind::Pub,
            Role::Subscribe => Kind::Sub,
        }
    }
}

struct Entry {
    socket: Socket,
    owner: ThreadId,
    /// Reply sockets: the peer whose message has not been answered yet.
    awaiting_reply: Option<u64>,
    /// Subscribe sockets: prefixes subscribed so far.
    subscriptions: Vec<Vec<u8>>,
    /// Subscribe sockets: news kept for another prefix than the call's.
    backlog: Backlog,
    /// Publish sockets: news items sent so far.
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

fn io_error(doing: &str, address: Address, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => Error::PortInUse {
            address: address.socket_addr(),
        },
        std::io::ErrorKind::AddrNotAvailable => Error::NotLocal {
            address: address.socket_addr(),
        },
        _ => Error::network(format!("{doing} {address}"), e),
    }
}

fn is_local(ip: IpAddr) -> bool {
    ip.is_unspecified()
        || ip.is_loopback()
        || interfaces::list().iter().any(|i| IpAddr::V4(i.ip) == ip)
}

/// The cached socket for `address` in `role`, made on first use.
fn socket(address: Address, role: Role) -> Result<Shared> {
    crate::logging::init();
    let mut cache = cache();
    if let Some(entry) = cache.get(&(role, address)) {
        let owner = entry.lock().unwrap_or_else(|e| e.into_inner()).owner;
        if owner != thread::current().id() {
            return Err(Error::DifferentThread {
                address: address.to_string(),
            });
        }
        return Ok(Arc::clone(entry));
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
    let doing = if role.binds() {
        "listening on"
    } else {
        "connecting to"
    };
    let socket = Socket::open(role.kind(), endpoint).map_err(|e| io_error(doing, address, e))?;
    let entry = Arc::new(Mutex::new(Entry {
        socket,
        owner: thread::current().id(),
        awaiting_reply: None,
        subscriptions: Vec::new(),
        backlog: Backlog::default(),
        published: 0,
    }));
    cache.insert((role, address), Arc::clone(&entry));
    Ok(entry)
}

/// Forgets a socket, so the next call makes a fresh one (after a lost reply
/// a REQ socket is stuck waiting for it: Python's "zombie socket").
fn reset(address: Address, role: Role) {
    let removed = cache().remove(&(role, address));
    drop(removed);
}

fn lock(entry: &Shared) -> MutexGuard<'_, Entry> {
    entry.lock().unwrap_or_else(|e| e.into_inner())
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
        .request(payload)
        .map_err(|e| io_error("sending to", address, e))?;
    let Some(reply) = guard.socket.next(deadline) else {
        drop(guard);
        reset(address, Role::Request);
        warn!(
            "no reply from {address} within {}: is the program there waiting for messages?",
            wait.describe()
        );
        return Ok(None);
    };
    let first = reply.parts.first().map_or(&[][..], Vec::as_slice);
    match serde_json::from_slice(first) {
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
    if let Some(peer) = guard.awaiting_reply.take() {
        warn!("the last message to {address} got no send_reply; replying null so its sender is not left waiting");
        guard
            .socket
            .reply(peer, b"null".to_vec())
            .map_err(|e| io_error("replying on", address, e))?;
    }
    // Bounded by the deadline; each pass consumes one message.
    loop {
        let Some(message) = guard.socket.next(deadline) else {
            // A normal outcome in a polling loop, as in Python: not a warning.
            debug!("no message arrived at {address} within {}", wait.describe());
            return Ok(None);
        };
        let first = message.parts.first().map_or(&[][..], Vec::as_slice);
        match serde_json::from_slice(first) {
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
                    .reply(message.from, b"null".to_vec())
                    .map_err(|e| io_error("replying on", address, e))?;
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
    let Some(peer) = guard.awaiting_reply.take() else {
        warn!("there is no message at {address} to reply to: call wait_for_message first");
        return Ok(());
    };
    guard
        .socket
        .reply(peer, payload)
        .map_err(|e| io_error("replying on", address, e))?;
    crate::exit::note_send();
    Ok(())
}

/// Publishes a news item: `data` under `topic`, to every program waiting for
/// news at `address` on topics that start with their prefix. News published
/// before a subscriber connects is not seen by it; the first call on an
/// address waits 0.3 s so that programs already waiting can connect. A
/// subscriber that already has 1000 items waiting (the high-water mark) misses
/// the newest.
pub fn publish_news(address: impl ToAddress, topic: &str, data: impl Serialize) -> Result<()> {
    let address = address.to_address()?;
    let payload = to_json(&data)?;
    if (topic.len() + payload.len()) as i64 > MAX_MESSAGE {
        return Err(Error::BadMessage {
            reason: format!(
                "topic and data are {} bytes; the most is {MAX_MESSAGE}",
                topic.len() + payload.len()
            ),
        });
    }
    let fresh = !cache().contains_key(&(Role::Publish, address));
    let entry = socket(address, Role::Publish)?;
    if fresh {
        // News sent before a subscriber has connected is dropped. Programs
        // already waiting for this news retry their connection at least every
        // 200 ms: give them time, so a first item published at start is not lost.
        thread::sleep(FIRST_NEWS_DELAY);
    }
    let mut guard = lock(&entry);
    guard.published += 1;
    guard
        .socket
        .publish(vec![topic.as_bytes().to_vec(), payload])
        .map_err(|e| io_error("publishing on", address, e))?;
    if guard.published % 32 == 1 {
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
    let deadline = wait.deadline(Instant::now());
    let entry = socket(address, Role::Subscribe)?;
    let mut guard = lock(&entry);
    if prefix.len() > 255 {
        return Err(Error::BadMessage {
            reason: format!("the news prefix is {} bytes; the most is 255", prefix.len()),
        });
    }
    if !guard
        .subscriptions
        .iter()
        .any(|p| same_bytes(p, prefix.as_bytes()))
    {
        guard.subscriptions.push(prefix.as_bytes().to_vec());
        guard
            .socket
            .subscribe(prefix.as_bytes())
            .map_err(|e| io_error("subscribing to", address, e))?;
    }
    if let Some(item) = guard.backlog.take(prefix) {
        return Ok(Some(item));
    }
    loop {
        let Some(news) = guard.socket.next(deadline) else {
            debug!("no news from {address} within {}", wait.describe());
            return Ok(None);
        };
        let parts = news.parts;
        if let Some(item) = guard.backlog.sort(&parts, prefix, address) {
            return Ok(Some(item));
        }
    }
}

// ---- for python_beacon.rs: one REP serve loop and one REQ ask --------------

/// Serves requests at `endpoint` for ever: waits its turn for the port
/// (trying every `retry`), then answers every request with `answer`.
/// (`_max_request`: the engine's limit is [`MAX_MESSAGE`] here.)
pub(crate) fn serve_requests(
    endpoint: SocketAddr,
    what: &str,
    _max_request: usize,
    retry: Duration,
    mut answer: impl FnMut(&[u8]) -> Vec<u8>,
) {
    let socket = loop {
        match Socket::open(Kind::Rep, endpoint) {
            Ok(s) => break s,
            Err(_) => thread::sleep(retry),
        }
    };
    info!("serving {what} on tcp://{endpoint}");
    loop {
        let Some(request) = socket.next(None) else {
            continue;
        };
        let bytes = answer(request.parts.first().map_or(&[][..], Vec::as_slice));
        if let Err(e) = socket.reply(request.from, bytes) {
            log::debug!("{what} reply: {e}");
        }
    }
}

/// Sends one request to `endpoint` on a fresh socket and waits up to `wait`
/// for the reply; `None` if none comes.
pub(crate) fn ask(
    endpoint: SocketAddr,
    request: Vec<u8>,
    _max_reply: usize,
    wait: Duration,
) -> Option<Vec<u8>> {
    let socket = Socket::open(Kind::Req, endpoint).ok()?;
    socket.request(request).ok()?;
    let reply = socket.next(Some(Instant::now() + wait))?;
    reply.parts.into_iter().next()
}
