//! The beginner's message calls over whichever transport is in use: one
//! frame per request and reply, news as two frames (topic, data), the way
//! Python networkzero sends them; commands acknowledged with "ack".
//!
//! Each frame is JSON, or postcard when the sender wrapped the value in
//! [`Postcard`] ([`payload`]); every receive call reads both, as a `Value`
//! or as the type its `_as` variant names. A reply is postcard only when
//! the sender chose it and the request was postcard too: a JSON asker
//! (Python, `nw0 send`, JSON-only firmware) always gets JSON. A message
//! that is not what the call asked for is warned about and dropped, as a
//! message that is not JSON always was (a REP answers it with `null`).
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

mod first_news;
mod news;
mod payload;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use log::{debug, warn};
use networkzero_core::payload::{ErrorReply, Format, ERROR_KEY};
use networkzero_core::zmtp::curve::ClassKeys;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::address::{Address, ToAddress};
use crate::error::{Error, Result};
use crate::interfaces::{self, HostInterface};
use crate::ports::HeldPorts;
use crate::transport::{
    Deadline, Endpoint, Role, Running, Socket, Transport, TransportSocket, MAX_MESSAGE,
};
use crate::wait::Wait;
use news::{same_bytes, Backlog};
use payload::{decode, encode_in, shown, to_payload_in, Unreadables};
pub use payload::{Postcard, ToMessage};

type Peer = <Socket as TransportSocket>::Peer;

/// The reply a command gets, as in Python networkzero's design.
pub const COMMAND_ACK: &str = "ack";

/// How long [`crate::send_command`] waits for its acknowledgement.
pub const COMMAND_WAIT_S: f64 = 5.0;

/// The longest the exit hook waits for replies and news queued before exit
/// to be written out.
pub const EXIT_FLUSH: Duration = Duration::from_millis(1000);

/// The transport and every socket made on it: what the message calls share.
pub(crate) struct Messaging {
    transport: Arc<Running>,
    cache: Mutex<HashMap<(Role, Address), Shared>>,
    /// The class's keys: every socket made while set speaks CURVE.
    class: Mutex<Option<&'static ClassKeys>>,
    /// The runtime's advertised ports: a socket listening on one takes
    /// over the listener that holds it.
    held: &'static HeldPorts,
}

/// The way a call reaches the runtime's [`Messaging`] (starting it if need be).
pub(crate) type Open<'a> = &'a dyn Fn() -> Result<Arc<Messaging>>;

struct Entry {
    socket: Socket,
    owner: ThreadId,
    /// REP: the sender of the message not answered yet, and its format
    /// (the reply's may be postcard only if it was).
    awaiting_reply: Option<(Peer, Format)>,
    /// SUB: prefixes subscribed so far (a few, so a list).
    subscriptions: Vec<Vec<u8>>,
    /// SUB: news kept for another prefix than the call's.
    backlog: Backlog,
    /// PUB: news items sent so far (libzmq reads its drain notices by it).
    published: u64,
    /// SUB: news items received that were not the type asked for.
    unreadable_news: Unreadables,
}

type Shared = Arc<Mutex<Entry>>;

impl Messaging {
    /// Starts the transport; no socket yet. With `class` keys every
    /// socket speaks CURVE.
    pub(crate) fn start(
        class: Option<&'static ClassKeys>,
        held: &'static HeldPorts,
    ) -> Result<Messaging> {
        Ok(Messaging {
            transport: Arc::new(Running::start()?),
            cache: Mutex::new(HashMap::new()),
            class: Mutex::new(class),
            held,
        })
    }

    /// Sockets made from now on use these keys (`None`: none); those made
    /// before are closed, so no call goes on with the old security.
    pub(crate) fn set_class_keys(&self, class: Option<&'static ClassKeys>) {
        let mut slot = self.class.lock().unwrap_or_else(|e| e.into_inner());
        if *slot != class {
            *slot = class;
            let closed: Vec<Shared> = self.cache().drain().map(|(_, e)| e).collect();
            drop(closed);
        }
    }

    /// Whether the transport still works.
    pub(crate) fn is_running(&self) -> bool {
        self.transport.is_running()
    }

    /// The transport, for others that speak ZMTP (the Python beacon RPC).
    pub(crate) fn transport(&self) -> &Arc<Running> {
        &self.transport
    }

    /// At exit: hands every reply and news item queued to the network, and
    /// closes the sockets, within [`EXIT_FLUSH`]. The transport sends from
    /// background threads that die with the process: without this, an ack
    /// sent just before `main` returns would be lost (Python networkzero
    /// delivers it). Sockets another thread is using are left to it.
    pub(crate) fn flush_at_exit(&self) {
        let deadline = Instant::now() + EXIT_FLUSH;
        let entries: Vec<Shared> = self.cache().drain().map(|(_, entry)| entry).collect();
        let sockets = entries
            .into_iter()
            .filter_map(|entry| Arc::try_unwrap(entry).ok())
            .map(|entry| entry.into_inner().unwrap_or_else(|e| e.into_inner()).socket)
            .collect();
        Socket::flush_and_close(&self.transport, sockets, deadline);
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
#[inline(always)]
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

/// Whether a socket here can listen on `ip`: any address (0.0.0.0), loopback, or
/// an address of one of this computer's `interfaces` (listed only when needed:
/// [`interfaces::list`] asks the system).
fn is_local(ip: IpAddr, interfaces: impl FnOnce() -> Vec<HostInterface>) -> bool {
    ip.is_unspecified() || ip.is_loopback() || interfaces().iter().any(|i| IpAddr::V4(i.ip) == ip)
}

/// The cached socket for `address` in `role`, made on first use; also says
/// whether it was just made. Inlined into the calls: a loop that publishes
/// or waits finds its socket in [`RECENT`] (this shortcut measured 10 % of
/// a `publish_news` as a function call) without reaching the runtime.
#[inline(always)]
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
            if !is_local(address.ip(), interfaces::list) {
                return Err(Error::NotLocal {
                    address: address.socket_addr(),
                });
            }
            // Listen on every interface: adverts give each subnet the address
            // of its own interface, and 127.0.0.1 works with no network at all.
            // An advertised port is held for us already: listen with that.
            Endpoint {
                at: SocketAddr::new(IpAddr::from([0, 0, 0, 0]), address.port()),
                held: self.held.take(address.port()),
            }
        } else {
            Endpoint::from(address.socket_addr())
        };
        let class = *self.class.lock().unwrap_or_else(|e| e.into_inner());
        let socket = Socket::open(
            &self.transport,
            role,
            endpoint,
            MAX_MESSAGE as usize,
            address,
            class,
        )?;
        let entry = Arc::new(Mutex::new(Entry {
            socket,
            owner: thread::current().id(),
            awaiting_reply: None,
            subscriptions: Vec::new(),
            backlog: Backlog::default(),
            published: 0,
            unreadable_news: Unreadables::default(),
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

/// [`crate::send_message`]: what `read` makes of the reply's bytes; a REQ
/// that got no reply is reset. The reply's buffers then go back to the
/// socket, for the next reply.
///
/// `message` is taken, not borrowed, so that it is dropped once its bytes
/// are sent and before the wait for the reply: freeing it (a `Value`'s map
/// and strings, ~640 instructions for a small object) then overlaps the
/// peer's work instead of delaying the caller after the reply came.
fn request<R>(
    open: Open<'_>,
    address: Address,
    message: impl ToMessage,
    wait: impl Into<Wait>,
    read: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>> {
    let (wait, duration) = wait.into().checked_with_duration()?;
    let mut deadline = Deadline::within(duration);
    deadline.get(); // counted from the call, not from the first empty read
    let (entry, _) = socket(open, address, Role::Request)?;
    let mut guard = lock(&entry);
    let payload = to_payload_in(&message, guard.socket.buffer())?;
    let format = message.format();
    let sent = guard.socket.request(payload, &mut deadline, address)?;
    drop(message);
    let reply = if sent {
        guard.socket.receive(&mut deadline, address)?
    } else {
        None
    };
    let Some(reply) = reply else {
        drop(guard);
        open()?.reset(address, Role::Request);
        let postcard = match format {
            Format::Postcard => {
                " (it was postcard: a Python program, or one that reads only JSON, cannot read that)"
            }
            Format::Json => "",
        };
        warn!(
            "no reply from {address} within {}: is the program there waiting for messages?{postcard}",
            wait.describe()
        );
        return Ok(None);
    };
    if let Some(refusal) = refusal(reply.first()) {
        // A networkzero node could not take the message (e.g. a board's
        // 256-byte buffers): no retry fixes that.
        return Err(Error::BadMessage {
            reason: format!("{address} refused it: {refusal}; send less"),
        });
    }
    let answer = read(reply.first());
    guard.socket.recycle(reply.parts);
    Ok(Some(answer))
}

/// The node's refusal ([`ErrorReply`]) that `reply` is, if it is one.
/// Every reply is looked at, and few are refusals: only one that has
/// [`ERROR_KEY`] between quotes is parsed as one (parsing each reply as a
/// refusal cost a tenth of a round trip's instructions; this scan, a
/// couple per byte).
fn refusal(reply: &[u8]) -> Option<ErrorReply<'_>> {
    let key = ERROR_KEY.as_bytes();
    if !reply.split(|&b| b == b'"').any(|piece| piece == key) {
        return None;
    }
    ErrorReply::parse(reply)
}

/// [`crate::send_message`] and [`crate::send_message_as`]: the reply as a `T`.
pub(crate) fn send_message<T: DeserializeOwned>(
    open: Open<'_>,
    address: impl ToAddress,
    message: impl ToMessage,
    wait: impl Into<Wait>,
) -> Result<Option<T>> {
    let address = address.to_address()?;
    let read = |reply: &[u8]| match decode(reply) {
        Ok(value) => Some(value),
        Err(e) => {
            warn!(
                "the reply from {address} {}; ignoring it",
                e.describe("send_message_as")
            );
            None
        }
    };
    Ok(request(open, address, message, wait, read)?.flatten())
}

/// [`crate::wait_for_message`] and [`crate::wait_for_message_as`]: the next
/// message that is a `T`; one left without a reply gets `null` first.
/// Others are answered with `null` and dropped, with a warning.
pub(crate) fn wait_for_message<T: DeserializeOwned>(
    open: Open<'_>,
    address: impl ToAddress,
    wait: impl Into<Wait>,
) -> Result<Option<T>> {
    wait_for::<T>(open, address.to_address()?, wait, "wait_for_message_as")
}

fn wait_for<T: DeserializeOwned>(
    open: Open<'_>,
    address: Address,
    wait: impl Into<Wait>,
    typed_call: &str,
) -> Result<Option<T>> {
    let (wait, duration) = wait.into().checked_with_duration()?;
    let mut deadline = Deadline::within(duration);
    deadline.get();
    let (entry, _) = socket(open, address, Role::Reply)?;
    let mut guard = lock(&entry);
    if let Some((peer, _)) = guard.awaiting_reply.take() {
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
        let decoded = decode(message.first());
        let format = Format::of(message.first());
        // Read: its buffers go back to the socket for the next message.
        guard.socket.recycle(message.parts);
        match decoded {
            Ok(value) => {
                guard.awaiting_reply = Some((message.from, format));
                return Ok(Some(value));
            }
            Err(e) => {
                // Answer, so the sender is not stuck and we stay usable
                // (a Python REP server wedges here). One warning per null
                // reply: each is a sender told nothing.
                warn!(
                    "a message to {address} {}; it got a null reply and was dropped",
                    e.describe(typed_call)
                );
                guard
                    .socket
                    .reply(message.from, b"null".to_vec(), address)?;
            }
        }
    }
}

/// [`crate::send_reply`]: answers the message last received at `address`,
/// as JSON unless both it and the reply are postcard.
pub(crate) fn send_reply(
    open: Open<'_>,
    address: impl ToAddress,
    reply: impl ToMessage,
) -> Result<()> {
    let address = address.to_address()?;
    let (entry, _) = socket(open, address, Role::Reply)?;
    let mut guard = lock(&entry);
    let Some((peer, asked_in)) = guard.awaiting_reply.take() else {
        warn!("there is no message at {address} to reply to: call wait_for_message first");
        return Ok(());
    };
    let format = match (asked_in, reply.format()) {
        (Format::Postcard, Format::Postcard) => Format::Postcard,
        (Format::Json, Format::Postcard) => {
            debug!("replying JSON to {address}: the request was JSON, so its sender may not read postcard");
            Format::Json
        }
        (_, Format::Json) => Format::Json,
    };
    let payload = encode_in(&reply, format, guard.socket.buffer())?;
    guard.socket.reply(peer, payload, address)?;
    Ok(())
}

/// [`crate::publish_news`]: `[topic, JSON]` to every matching subscriber.
pub(crate) fn publish_news(
    open: Open<'_>,
    address: impl ToAddress,
    topic: &str,
    data: impl ToMessage,
) -> Result<()> {
    let address = address.to_address()?;
    let (entry, fresh) = socket(open, address, Role::Publish)?;
    let mut guard = lock(&entry);
    let payload = to_payload_in(&data, guard.socket.buffer())?;
    if fresh {
        let socket = &mut guard.socket;
        first_news::waits(
            |seen, until| socket.subscribers(seen, until),
            Instant::now,
            Instant::now(),
        );
    }
    guard.published += 1;
    let n = guard.published;
    guard.socket.publish(n, topic, payload, address)
}

/// [`crate::wait_for_news`] and [`crate::wait_for_news_as`]: the next item
/// on `prefix` whose data is a `T`, from the backlog first; items on other
/// subscribed prefixes are kept for their calls, items that are not a `T`
/// are dropped with a warning.
pub(crate) fn wait_for_news<T: DeserializeOwned>(
    open: Open<'_>,
    address: impl ToAddress,
    prefix: &str,
    wait: impl Into<Wait>,
) -> Result<Option<(String, T)>> {
    let address = address.to_address()?;
    let (wait, duration) = wait.into().checked_with_duration()?;
    let mut deadline = Deadline::within(duration);
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
    // Each pass takes one item (kept or received), so both loops are
    // bounded: by the backlog's length, then by the deadline.
    while let Some((topic, data)) = guard.backlog.take(prefix) {
        if let Some(item) = typed(&mut guard, topic, &data, address) {
            return Ok(Some(item));
        }
    }
    loop {
        let Some(news) = guard.socket.receive(&mut deadline, address)? else {
            debug!("no news from {address} within {}", wait.describe());
            return Ok(None);
        };
        let item = guard
            .backlog
            .sort(&news.parts, prefix, address)
            .and_then(|topic| typed(&mut guard, topic, news::data(&news.parts), address));
        // Read (or kept): its buffers go back to the socket.
        guard.socket.recycle(news.parts);
        if let Some(item) = item {
            return Ok(Some(item));
        }
    }
}

/// A news item's data as a `T`; `None`, with a warning, if it is not one.
fn typed<T: DeserializeOwned>(
    entry: &mut Entry,
    topic: String,
    data: &[u8],
    address: Address,
) -> Option<(String, T)> {
    match decode(data) {
        Ok(value) => Some((topic, value)),
        Err(e) => {
            if let Some(so_far) = entry.unreadable_news.count() {
                warn!(
                    "news on '{topic}' from {address} {}; skipped{so_far}",
                    e.describe("wait_for_news_as")
                );
            }
            None
        }
    }
}

/// [`crate::send_command_within`]: whether the command was acknowledged.
pub(crate) fn send_command(
    open: Open<'_>,
    address: impl ToAddress,
    command: impl ToMessage,
    wait: impl Into<Wait>,
) -> Result<bool> {
    let address = address.to_address()?;
    // "ack" in JSON, or in postcard from firmware that answers in kind.
    let read = |reply: &[u8]| match decode::<String>(reply) {
        Ok(ack) if ack == COMMAND_ACK => true,
        _ => {
            let answer = match decode::<Value>(reply) {
                Ok(value) => value.to_string(),
                Err(_) => shown(reply),
            };
            warn!(
                "the command to {address} was answered with {answer} instead of \"{COMMAND_ACK}\": \
                 is the program there using wait_for_command?"
            );
            false
        }
    };
    Ok(request(open, address, command, wait, read)?.unwrap_or(false))
}

/// [`crate::wait_for_command`] and [`crate::wait_for_command_as`]: a
/// message that is a `T`, acknowledged with [`COMMAND_ACK`] (in JSON).
/// Others get `null`, not an acknowledgement.
pub(crate) fn wait_for_command<T: DeserializeOwned>(
    open: Open<'_>,
    address: impl ToAddress,
    wait: impl Into<Wait>,
) -> Result<Option<T>> {
    let address = address.to_address()?;
    let command = wait_for::<T>(open, address, wait, "wait_for_command_as")?;
    if command.is_some() {
        send_reply(open, address, COMMAND_ACK)?;
    }
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_found_and_an_ordinary_reply_is_not_one() {
        let mut buf = [0u8; 96];
        let n = ErrorReply::too_large(300, 256).encode(&mut buf).unwrap();
        let found = refusal(&buf[..n]).expect("a refusal");
        assert_eq!(found, ErrorReply::too_large(300, 256));
        // Spaced and reordered as another encoder might write it.
        let spaced = br#"{ "size": 300, "networkzero_error" : "message too large", "limit": 256 }"#;
        assert_eq!(refusal(spaced), Some(ErrorReply::too_large(300, 256)));
        assert_eq!(refusal(br#"{"i": 1, "text": "hello"}"#), None);
        // The key's name as a value, or without its quotes, is no refusal.
        assert_eq!(refusal(br#"{"text": "networkzero_error"}"#), None);
        assert_eq!(refusal(b"networkzero_error"), None);
        assert_eq!(refusal(b""), None);
        // The key spelled with a JSON escape is no refusal, and not only
        // because the scan misses it: the parse, which decides, takes none
        // either. So the scan only saves time (.cargo/mutants.toml excludes
        // its `==` made `!=` on that ground).
        let escaped =
            br#"{"networkzero\u005ferror": "message too large", "size": 300, "limit": 256}"#;
        assert_eq!(ErrorReply::parse(escaped), None);
        assert_eq!(refusal(escaped), None);
    }

    /// The runtime reads `is_running` on every call that needs the
    /// transport: a transport that stopped is started again, one ended by
    /// the exit flush makes the call fail with "shut down" instead of
    /// reaching a dead context. So a transport just started runs, and on
    /// libzmq (whose context the flush ends) it no longer runs after the
    /// flush. (The pure transport's I/O thread outlives the flush: it stops
    /// only if its poll fails.) No socket is made: nothing listens.
    #[test]
    fn a_started_transport_runs_until_the_exit_flush_ends_it() {
        let messaging = Messaging::start(None, &HELD).expect("the transport starts");
        assert!(messaging.is_running(), "just started");
        messaging.flush_at_exit();
        #[cfg(all(feature = "libzmq", not(feature = "pure-rust")))]
        assert!(
            !messaging.is_running(),
            "the exit flush ended libzmq's context"
        );
    }

    /// The tests' advertised ports (the runtime's own in a program).
    static HELD: HeldPorts = HeldPorts::new();

    /// A socket listening on an advertised port takes over the listener
    /// that held it: the port is never free for another program between
    /// the advert and the socket, and a peer that connected meanwhile (its
    /// connection waiting in the held listener's backlog) is served, not
    /// cut off. (Opens sockets: run inside /work/shared/sealed.)
    #[test]
    fn a_socket_on_an_advertised_port_listens_with_the_held_listener() {
        use std::io::Read;
        let messaging = Messaging::start(None, &HELD).expect("the transport starts");
        let (port, listener) = crate::address::free_listener().expect("a free port");
        HELD.hold(port, listener);
        let anywhere = SocketAddr::from(([0, 0, 0, 0], port));
        assert!(
            crate::ports::tcp_listener(anywhere).is_err(),
            "held: nobody else can listen on {port}"
        );
        let at = SocketAddr::from(([127, 0, 0, 1], port));
        let mut early = std::net::TcpStream::connect(at).expect("connects to the held port");
        early
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a read timeout");
        let address = Address::from(at);
        let (_socket, new) = messaging
            .cached_or_new(address, Role::Reply)
            .expect("listens on the held port");
        assert!(new);
        assert!(HELD.take(port).is_none(), "taken over by the socket");
        assert!(crate::ports::tcp_listener(anywhere).is_err(), "still ours");
        // The early peer is accepted: the socket greets it (ZMTP's
        // signature starts with 0xFF). A listener let go and bound anew
        // would have reset its connection instead.
        let mut first = [0u8; 1];
        early
            .read_exact(&mut first)
            .expect("greeted on the connection made before the socket listened");
        assert_eq!(first[0], 0xFF);
    }

    #[test]
    fn only_this_computers_addresses_are_local() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let ours = || {
            vec![HostInterface {
                name: "eth0".into(),
                ip: [10, 200, 0, 2].into(),
                prefix_len: 24,
            }]
        };
        // Any address and loopback listen with no interface at all (no network).
        assert!(is_local(ip("0.0.0.0"), Vec::new));
        assert!(is_local(ip("127.0.0.1"), Vec::new));
        assert!(is_local(ip("10.200.0.2"), ours));
        assert!(!is_local(ip("10.200.0.3"), ours), "a neighbour's address");
        assert!(!is_local(ip("10.200.0.2"), Vec::new), "an interface gone");
        let unasked = || -> Vec<HostInterface> { panic!("the system was asked for nothing") };
        assert!(is_local(ip("127.0.0.1"), unasked));
    }
}
