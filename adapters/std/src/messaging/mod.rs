//! The beginner's message calls over whichever transport is in use: one JSON
//! frame per request and reply, news as two frames (topic, JSON data), the
//! way Python networkzero sends them; commands acknowledged with "ack".
//!
//! Sockets are made on first use and cached per address and role, as in
//! Python, and belong to the thread that made them: using one from another
//! thread is a clear error, never a data race or a deadlock. A REQ whose
//! reply was lost is reset (Python's "zombie socket"); a REP answers a
//! message that is not JSON with `null` and carries on; servers listen on
//! 0.0.0.0. What differs between the transports is only how a socket does
//! each step ([`TransportSocket`]).
//!
//! The cache and the transport are a [`Messaging`], which the runtime owns
//! and hands to each call (the `open` argument) when this thread's last
//! socket for the address is not the one: the calls know nothing of the
//! runtime.

mod news;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use log::{debug, warn};
use serde::Serialize;
use serde_json::Value;

use crate::address::{Address, ToAddress};
use crate::error::{Error, Result};
use crate::interfaces;
use crate::transport::{Deadline, Role, Running, Socket, Transport, TransportSocket, MAX_MESSAGE};
use crate::wait::Wait;
use news::{same_bytes, Backlog};

type Peer = <Socket as TransportSocket>::Peer;

/// The reply a command gets, as in Python networkzero's design.
pub const COMMAND_ACK: &str = "ack";

/// How long [`crate::send_command`] waits for its acknowledgement.
pub const COMMAND_WAIT_S: f64 = 5.0;

/// How long the first `publish_news` on an address waits for subscribers to
/// connect: news sent before a subscriber has connected is dropped, and
/// programs already waiting retry their connection every 100–200 ms.
pub const FIRST_NEWS_DELAY: Duration = Duration::from_millis(300);

/// How long a reply or news item sent just before exit is given to leave.
const FLUSH: Duration = Duration::from_millis(200);

/// A message as its JSON bytes, refusing what no peer would accept.
pub(crate) fn to_json(message: &(impl Serialize + ?Sized)) -> Result<Vec<u8>> {
    let bytes = serde_json::to_vec(message).map_err(|e| Error::BadMessage {
        reason: e.to_string(),
    })?;
    if bytes.len() as i64 > MAX_MESSAGE {
        return Err(Error::BadMessage {
            reason: format!("it is {} bytes; the most is {MAX_MESSAGE}", bytes.len()),
        });
    }
    Ok(bytes)
}

/// The transport and every socket made on it: what the message calls share.
pub(crate) struct Messaging {
    transport: Arc<Running>,
    cache: Mutex<HashMap<(Role, Address), Shared>>,
    sent: Arc<Sent>,
}

/// The way a call reaches the runtime's [`Messaging`] (starting it if need be).
pub(crate) type Open<'a> = &'a dyn Fn() -> Result<Arc<Messaging>>;

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
    /// When this socket's messaging last sent (see [`Sent`]).
    sent: Arc<Sent>,
}

type Shared = Arc<Mutex<Entry>>;

/// When a reply or news item was last handed to the transport, so the exit
/// hook knows whether to give it time to leave.
struct Sent {
    epoch: Instant,
    /// Milliseconds since `epoch` (plus one; 0 for never).
    last: AtomicU64,
    /// A send was made after `last` was stamped (see [`Sent::unstamped`]).
    unstamped: AtomicBool,
}

impl Sent {
    /// Records that a reply or news item was just queued for sending.
    fn stamp(&self) {
        // Cleared before the clock is read: an unstamped send racing with
        // this one stays counted.
        self.unstamped.store(false, Ordering::Relaxed);
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms.saturating_add(1), Ordering::Relaxed);
    }

    /// Records a send without reading the clock, for a loop that sends
    /// hundreds of thousands of items a second (reading the clock was a
    /// seventh of the cost of `publish_news`): between two stamps. At exit
    /// such a send counts as just made.
    fn unstamped(&self) {
        self.unstamped.store(true, Ordering::Relaxed);
    }

    /// Whether a send may still be on its way out.
    fn recent(&self) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let since = now.saturating_add(1).saturating_sub(last);
        last != 0 && (since < FLUSH.as_millis() as u64 || self.unstamped.load(Ordering::Relaxed))
    }
}

impl Messaging {
    /// Starts the transport; no socket yet.
    pub(crate) fn start() -> Result<Messaging> {
        Ok(Messaging {
            transport: Arc::new(Running::start()?),
            cache: Mutex::new(HashMap::new()),
            sent: Arc::new(Sent {
                epoch: Instant::now(),
                last: AtomicU64::new(0),
                unstamped: AtomicBool::new(false),
            }),
        })
    }

    /// Whether the transport still works.
    pub(crate) fn is_running(&self) -> bool {
        self.transport.is_running()
    }

    /// The transport, for others that speak ZMTP (the Python beacon RPC).
    pub(crate) fn transport(&self) -> &Arc<Running> {
        &self.transport
    }

    /// Gives a reply or news item sent just before exit a moment to leave:
    /// the transport sends from a background thread that dies with the
    /// process.
    pub(crate) fn flush_at_exit(&self) {
        if self.sent.recent() {
            thread::sleep(FLUSH);
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<(Role, Address), Shared>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
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
/// a `publish_news` as a function call) without reaching the runtime.
#[inline]
fn socket(open: Open<'_>, address: Address, role: Role) -> Result<(Shared, bool)> {
    match recent(address, role) {
        Some(entry) => Ok((entry, false)),
        None => open()?.cached_or_new(address, role),
    }
}

impl Messaging {
    /// [`socket`] past the per-thread shortcut: the shared cache, or a new socket.
    #[inline(never)]
    fn cached_or_new(&self, address: Address, role: Role) -> Result<(Shared, bool)> {
        crate::logging::init();
        let mut cache = self.cache();
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
        let socket = Socket::open(
            &self.transport,
            role,
            endpoint,
            MAX_MESSAGE as usize,
            address,
        )?;
        let entry = Arc::new(Mutex::new(Entry {
            socket,
            owner: thread::current().id(),
            awaiting_reply: None,
            subscriptions: Vec::new(),
            backlog: Backlog::default(),
            published: 0,
            sent: Arc::clone(&self.sent),
        }));
        cache.insert((role, address), Arc::clone(&entry));
        remember(address, role, &entry);
        Ok((entry, true))
    }

    /// Forgets a socket, so the next call makes a fresh one (after a lost reply
    /// a REQ socket is stuck waiting for it: Python's "zombie socket").
    pub(crate) fn reset(&self, address: Address, role: Role) {
        let removed = self.cache().remove(&(role, address));
        drop(removed);
    }
}

#[inline]
fn lock(entry: &Shared) -> MutexGuard<'_, Entry> {
    entry.lock().unwrap_or_else(|e| e.into_inner())
}

/// [`crate::send_message`]; a REQ that got no reply is reset.
pub(crate) fn send_message(
    open: Open<'_>,
    address: impl ToAddress,
    message: impl Serialize,
    wait: impl Into<Wait>,
) -> Result<Option<Value>> {
    let address = address.to_address()?;
    let wait = wait.into();
    let mut deadline = Deadline::new(wait);
    deadline.get(); // counted from the call, not from the first empty read
    let payload = to_json(&message)?;
    let (entry, _) = socket(open, address, Role::Request)?;
    let mut guard = lock(&entry);
    guard.socket.request(payload, address)?;
    let Some(reply) = guard.socket.receive(&mut deadline, address)? else {
        drop(guard);
        open()?.reset(address, Role::Request);
        warn!(
            "no reply from {address} within {}: is the program there waiting for messages?",
            wait.describe()
        );
        return Ok(None);
    };
    match serde_json::from_slice(reply.first()) {
        Ok(value) => Ok(Some(value)),
        Err(e) => {
            warn!("the reply from {address} is not JSON ({e}); ignoring it");
            Ok(None)
        }
    }
}

/// [`crate::wait_for_message`]: the next JSON message; one left without a
/// reply gets `null` first.
pub(crate) fn wait_for_message(
    open: Open<'_>,
    address: impl ToAddress,
    wait: impl Into<Wait>,
) -> Result<Option<Value>> {
    let address = address.to_address()?;
    let wait = wait.into();
    let mut deadline = Deadline::new(wait);
    deadline.get();
    let (entry, _) = socket(open, address, Role::Reply)?;
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
        match serde_json::from_slice(message.first()) {
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

/// [`crate::send_reply`]: answers the message last received at `address`.
pub(crate) fn send_reply(
    open: Open<'_>,
    address: impl ToAddress,
    reply: impl Serialize,
) -> Result<()> {
    let address = address.to_address()?;
    let payload = to_json(&reply)?;
    let (entry, _) = socket(open, address, Role::Reply)?;
    let mut guard = lock(&entry);
    let Some(peer) = guard.awaiting_reply.take() else {
        warn!("there is no message at {address} to reply to: call wait_for_message first");
        return Ok(());
    };
    guard.socket.reply(peer, payload, address)?;
    guard.sent.stamp();
    Ok(())
}

/// [`crate::publish_news`]: `[topic, JSON]` to every matching subscriber.
pub(crate) fn publish_news(
    open: Open<'_>,
    address: impl ToAddress,
    topic: &str,
    data: impl Serialize,
) -> Result<()> {
    let address = address.to_address()?;
    let payload = to_json(&data)?;
    let (entry, fresh) = socket(open, address, Role::Publish)?;
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
        guard.sent.stamp();
    } else {
        // The clock is read on the first item and every 32nd (see Sent).
        guard.sent.unstamped();
    }
    Ok(())
}

/// [`crate::wait_for_news`]: the next item on `prefix`, from the backlog
/// first; items on other subscribed prefixes are kept for their calls.
pub(crate) fn wait_for_news(
    open: Open<'_>,
    address: impl ToAddress,
    prefix: &str,
    wait: impl Into<Wait>,
) -> Result<Option<(String, Value)>> {
    let address = address.to_address()?;
    let wait = wait.into();
    let mut deadline = Deadline::new(wait);
    let (entry, _) = socket(open, address, Role::Subscribe)?;
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

/// [`crate::send_command_within`]: whether the command was acknowledged.
pub(crate) fn send_command(
    open: Open<'_>,
    address: impl ToAddress,
    command: impl Serialize,
    wait: impl Into<Wait>,
) -> Result<bool> {
    let address = address.to_address()?;
    match send_message(open, address, command, wait)? {
        Some(Value::String(ack)) if ack == COMMAND_ACK => Ok(true),
        Some(other) => {
            warn!(
                "the command to {address} was answered with {other} instead of \"{COMMAND_ACK}\": \
                 is the program there using wait_for_command?"
            );
            Ok(false)
        }
        None => Ok(false),
    }
}

/// [`crate::wait_for_command`]: a message, acknowledged with [`COMMAND_ACK`].
pub(crate) fn wait_for_command(
    open: Open<'_>,
    address: impl ToAddress,
    wait: impl Into<Wait>,
) -> Result<Option<Value>> {
    let address = address.to_address()?;
    let command = wait_for_message(open, address, wait)?;
    if command.is_some() {
        send_reply(open, address, COMMAND_ACK)?;
    }
    Ok(command)
}
