//! The discovery beacon as a sans-IO state machine.
//!
//! A [`Beacon`] advertises this node's names, remembers what it hears, and
//! answers and asks instant-discovery queries. It never touches a socket or a
//! clock: the adapter feeds it datagrams and the time, and sends what it says.
//!
//! # Driving a beacon
//!
//! Methods come in four kinds, as in quinn-proto:
//! - getters: [`Beacon::lookup`], [`Beacon::adverts`], [`Beacon::group`];
//! - input: [`Beacon::handle_datagram`], [`Beacon::handle_timeout`],
//!   [`Beacon::set_interfaces`];
//! - commands: [`Beacon::advertise`], [`Beacon::unadvertise`], [`Beacon::query`];
//! - output: [`Beacon::poll_transmit`], [`Beacon::poll_event`],
//!   [`Beacon::poll_timeout`].
//!
//! After any input or command, drain the output in this order: call
//! `poll_transmit` until it returns `None` (send each datagram to its
//! `destination`), then `poll_event` until `None`, then `poll_timeout`, and
//! sleep until that instant or the next datagram, whichever comes first; at
//! the deadline call `handle_timeout` and drain again.
//!
//! ```
//! use networkzero_core::beacon::{Beacon, Config, MAX_TRANSMIT};
//! use networkzero_core::Instant;
//!
//! let mut beacon: Beacon<16, 4> = Beacon::new(Config::default());
//! let now = Instant::from_millis(0);
//! beacon.advertise("hello", "127.0.0.1:5555".parse().unwrap(), now).unwrap();
//! let mut buf = [0u8; MAX_TRANSMIT];
//! let t = beacon.poll_transmit(now, &mut buf).expect("a new name is advertised at once");
//! assert_eq!(&buf[..t.len], br#"["hello", "127.0.0.1:5555", 20]"#);
//! assert_eq!(t.destination, "127.255.255.255:9999".parse().unwrap());
//! assert!(beacon.poll_timeout().is_some());
//! ```
//!
//! # Where datagrams go
//!
//! Adverts go to port 9999 (Python compatible) of: each interface's directed
//! broadcast (carrying that interface's address, so a receiver on any subnet
//! is told an address it can reach), 255.255.255.255 (some Raspberry Pis only
//! hear that) and 127.255.255.255, which reaches every process on this host
//! even with no network at all. An advert for a loopback address goes only to
//! 127.255.255.255. Queries, answers to a query for one name, and goodbyes go
//! the same way to [`ext::EXT_PORT`]; answers to a query for every name go
//! straight back to the asker. A goodbye also goes to port 9999 as an advert
//! with ttl 0, which a Python beacon drops as soon as it hears it; our
//! beacons take a ttl-0 advert as a goodbye too.
//!
//! # Answers that scale (as mDNS spreads shared answers, RFC 6762 §6)
//!
//! A query for one name after a quiet spell is answered at once, with a
//! broadcast: a lone fresh discoverer waits one round trip. That broadcast
//! answers everyone asking meanwhile, and the copies of the query that come
//! by the other broadcast addresses add nothing. Queries for the name that
//! come after it (a whole class pressing Run together, each a few ms apart)
//! share the next broadcast, sent [`Config::answer_delay`] plus a random
//! part of [`Config::answer_jitter`] after the last one: however many ask,
//! a name is answered at most once per `answer_delay`. A query
//! for every name (a fresh `ls`) is answered straight to the asker, each
//! beacon at a random moment of [`Config::everything_spread`], so the answers
//! of hundreds of programs arrive spread out instead of overflowing the
//! asker's receive buffer. A beacon answers only a few askers of every name
//! one by one; when more ask (a crowd of programs starting), each name is
//! broadcast instead, once for all of them, at most once per
//! [`Config::crowd_gap`], so a late asker is answered too. An asker
//! repeats its query with growing gaps only when no answer comes: that is
//! for real loss.
//!
//! # Rates
//!
//! Every name is re-advertised each `advert_interval` (2 s, as Python does),
//! but all broadcast datagrams share one rate limit. With so many names that
//! the limit stretches the round beyond the interval, the ttl sent in each
//! advert grows to three rounds, so receivers never expire a live name.
//! Answers have their own limit: a query flood cannot make a beacon flood
//! the LAN; answers over the limit wait their turn. A name's answer is
//! broadcast at most once per `answer_delay`, however many ask.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use crate::advert::{self, Advert, EncodeError, Name};
use crate::auth::{self, ClassKey};
use crate::ext::{self, ExtError, Message};
use crate::table::{name_hash, AdvertTable, Entries, Entry, Fixed, Inserted};
use crate::time::{Duration, Instant};

/// Bytes `poll_transmit` may write: the largest sealed extension datagram.
pub const MAX_TRANSMIT: usize = ext::MAX_EXT_DATAGRAM + auth::SEAL_LEN;

/// Most interfaces a beacon advertises on.
pub const MAX_INTERFACES: usize = 8;

/// The UDP port of Python networkzero's beacon.
pub const BEACON_PORT: u16 = 9999;

/// Longest a heard advert is kept without being heard again, whatever its ttl.
pub const MAX_HEARD_TTL: Duration = Duration::from_secs(3600);

/// Events a beacon queues unless its type says otherwise.
pub const EVENTS: usize = 8;
/// Askers of "every name" whose answers are scheduled at once; more wait
/// for their own repeat.
const ASKERS: usize = 4;
const QUERIES: usize = 4;
/// Times a query for every name is sent: its answers are spread over a
/// window, so it is repeated only in case some were lost.
const EVERYTHING_ATTEMPTS: u8 = 3;
const RECENT_MOVES: usize = 8;

/// Tunables; the defaults match Python networkzero 1.0b1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// How often each name is re-advertised (Python: 2 s).
    pub advert_interval: Duration,
    /// How long receivers keep an advert (Python: 20 s).
    pub ttl: Duration,
    /// Port of the Python-compatible adverts.
    pub beacon_port: u16,
    /// Port of queries, answers and goodbyes.
    pub ext_port: u16,
    /// Broadcast datagrams (adverts, queries, goodbyes) per second, at most.
    pub max_broadcasts_per_sec: u16,
    /// How many broadcasts may go out back to back before the rate applies.
    pub broadcast_burst: u16,
    /// Answers to queries per second, at most.
    pub max_answers_per_sec: u16,
    /// How many answers may go out back to back before the rate applies.
    pub answer_burst: u16,
    /// First gap between repeats of an unanswered query; it doubles each time.
    pub query_retry: Duration,
    /// How many times a query is sent before giving up.
    pub query_attempts: u8,
    /// Shortest gap between two answers for one name: the queries that
    /// come after an answer share the next one. (A query after a quiet
    /// spell is answered at once.) Also the wait before answers to a query
    /// for every name begin.
    pub answer_delay: Duration,
    /// Random extra gap, up to this, before a shared answer for one name.
    pub answer_jitter: Duration,
    /// Answers to a query for every name are each sent at a random moment of
    /// this window (after `answer_delay`), so that hundreds of programs do
    /// not answer one asker in the same millisecond.
    pub everything_spread: Duration,
    /// Shortest gap between two broadcasts of a name that answer a crowd
    /// asking for every name (more askers than a beacon answers one by
    /// one). mDNS multicasts a record at most once a second (RFC 6762 §6);
    /// half that keeps a fresh `ls` among a crowd within its 1 s.
    pub crowd_gap: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            advert_interval: Duration::from_secs(2),
            ttl: Duration::from_secs(20),
            beacon_port: BEACON_PORT,
            ext_port: ext::EXT_PORT,
            max_broadcasts_per_sec: 50,
            broadcast_burst: 32,
            max_answers_per_sec: 50,
            answer_burst: 16,
            query_retry: Duration::from_millis(50),
            query_attempts: 6,
            answer_delay: Duration::from_millis(5),
            answer_jitter: Duration::from_millis(5),
            everything_spread: Duration::from_millis(150),
            crowd_gap: Duration::from_millis(500),
        }
    }
}

/// One IPv4 interface of this host that adverts go out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Interface {
    /// This host's address on it.
    #[cfg_attr(feature = "defmt", defmt(Display2Format))]
    pub ip: Ipv4Addr,
    /// Network prefix length (24 for 255.255.255.0).
    pub prefix_len: u8,
}

impl Interface {
    fn mask(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n.min(32))),
        }
    }

    /// The directed broadcast address of the interface's subnet.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.ip) | !self.mask())
    }

    /// Whether `ip` is on this interface's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.ip)) & self.mask() == 0
    }
}

/// A datagram to send: `buf[..len]` to `destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transmit {
    /// Where to send it.
    #[cfg_attr(feature = "defmt", defmt(Display2Format))]
    pub destination: SocketAddr,
    /// Its length at the start of the buffer.
    pub len: usize,
    /// What it is. Send [`Kind::Query`] from the node's own ephemeral socket:
    /// answers come back to the query's source address.
    pub kind: Kind,
}

/// What a transmitted datagram is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kind {
    /// A Python-compatible advert to the beacon port.
    Advert,
    /// An instant-discovery query.
    Query,
    /// An answer to someone's query.
    Answer,
    /// A goodbye after `unadvertise`.
    Goodbye,
}

/// Something the application may want to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A name was heard for the first time (or again after it expired).
    Appeared {
        /// The name.
        name: Name,
        /// Its address.
        address: SocketAddr,
    },
    /// A known name is now advertised at another address.
    Moved {
        /// The name.
        name: Name,
        /// Where it was.
        from: SocketAddr,
        /// Where it is now.
        to: SocketAddr,
    },
    /// A name lapsed: not heard within its ttl, or its owner said goodbye.
    Expired {
        /// The name.
        name: Name,
        /// The address it had.
        address: SocketAddr,
    },
    /// An advert was ignored because of the class key: unsealed, sealed
    /// with another key, or replayed. Worth a warning: someone may be
    /// trying to take over a name.
    Rejected {
        /// The name it claimed.
        name: Name,
        /// Who sent it.
        source: SocketAddr,
        /// Why it was ignored.
        reason: auth::Rejected,
    },
    /// Two services keep claiming one name: adverts alternate between two
    /// ports. The latest advert still wins; this is a warning for people.
    Conflict {
        /// The contested name.
        name: Name,
        /// One claimant.
        first: SocketAddr,
        /// The other.
        second: SocketAddr,
    },
}

/// Why `advertise` refused a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AdvertiseError {
    /// The name would not fit in the 256-byte advert.
    Encode(EncodeError),
    /// This node already advertises as many names as it can hold.
    TooManyNames {
        /// The capacity.
        capacity: usize,
    },
    /// Only IPv4 addresses can be advertised (Python peers speak IPv4).
    NotIpv4,
}

impl core::fmt::Display for AdvertiseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AdvertiseError::Encode(e) => e.fmt(f),
            AdvertiseError::TooManyNames { capacity } => write!(
                f,
                "this program already advertises {capacity} names, the most it can; unadvertise one first"
            ),
            AdvertiseError::NotIpv4 => f.write_str(
                "only IPv4 addresses can be advertised (like 192.168.1.5:8080); Python networkzero peers use IPv4",
            ),
        }
    }
}

/// Why a received datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DatagramError {
    /// A malformed Python-style advert.
    Advert(advert::DecodeError),
    /// A malformed extension datagram.
    Ext(ExtError),
    /// Ignored because of the class key.
    Rejected(auth::Rejected),
}

impl core::fmt::Display for DatagramError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DatagramError::Advert(e) => e.fmt(f),
            DatagramError::Ext(e) => e.fmt(f),
            DatagramError::Rejected(e) => write!(f, "ignored: {e}"),
        }
    }
}

/// What a received datagram was (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Received {
    /// An advert or an answer, recorded in the table.
    Advert,
    /// A query; `answers` answers were scheduled because of it (none when
    /// it joined an answer already scheduled).
    Query {
        /// Answers scheduled.
        answers: usize,
    },
    /// A goodbye.
    Goodbye,
    /// A sealed datagram already accepted (one of a broadcast's copies).
    Duplicate,
}

/// How long receivers keep a name's adverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Ttl {
    /// [`Config::ttl`] (20 s), or longer when the rate limit stretches a
    /// round of adverts (see the module docs).
    Default,
    /// This long: what a Python program passes as `ttl_s`.
    For(Duration),
    /// For ever: the advert says `null`, as for Python's `ttl_s=None`.
    Forever,
}

#[derive(Debug, Clone)]
struct Own {
    name: Name,
    address: SocketAddrV4,
    next_due: Instant,
    /// When the broadcast answering the queries for this name goes out.
    answer_at: Option<Instant>,
    /// When the last one went out, and who asked first for it (a copy of
    /// that query by another broadcast address needs no answer of its own).
    answered: Option<Instant>,
    /// (IPv4 only: 8 bytes of RAM per name, not 32, on a small board.)
    asked_by: Option<SocketAddrV4>,
    ttl: Ttl,
    /// Neither advertised nor answered for now (Python's beacon `pause`).
    paused: bool,
    /// Unadvertised: kept only until its goodbye has gone out.
    leaving: bool,
}

impl Own {
    /// Whether it is advertised and answered now.
    fn on_air(&self) -> bool {
        !self.paused && !self.leaving
    }
}

/// Someone who asked for every name: each of ours is answered to `to`
/// from `due` on, `next` being the next to send (always one of ours: an
/// asker leaves with its last answer).
#[derive(Debug, Clone, Copy)]
struct Asker {
    to: SocketAddr,
    due: Instant,
    next: usize,
}

#[derive(Debug, Clone, Copy)]
enum Payload {
    Advert(usize),
    Answer(usize),
    Query(usize),
    Goodbye(usize),
}

/// A broadcast being sent to each destination in turn.
#[derive(Debug, Clone, Copy)]
struct Fanout {
    payload: Payload,
    step: usize,
}

/// A name being asked for (empty: every name), until heard or its last
/// attempt has gone out.
#[derive(Debug, Clone)]
struct Query {
    name: Name,
    next_send: Instant,
    sent: u8,
}

/// xorshift32: answer delays need to differ between beacons, not to be
/// unpredictable (32 bits: a Cortex-M0 has no 64-bit multiply). The adapter
/// seeds it ([`Beacon::seed`]); interface addresses and advertised ports are
/// mixed in too, so beacons that were given no seed still differ.
#[derive(Debug, Clone, Copy)]
struct Rng(u32);

impl Rng {
    fn mix(&mut self, x: u32) {
        self.0 = (self.0 ^ x).rotate_left(7).wrapping_mul(0x9E37_79B9) | 1;
        self.next();
    }

    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    /// A random duration from zero up to `span` inclusive.
    fn up_to(&mut self, span: Duration) -> Duration {
        let span = u32::try_from(span.as_millis()).unwrap_or(u32::MAX);
        Duration::from_millis(u64::from(self.next() % span.saturating_add(1)))
    }
}

/// A generic cell rate limiter: `interval` between sends, `burst` at once.
#[derive(Debug, Clone, Copy)]
struct Rate {
    interval: Duration,
    tolerance: Duration,
    theoretical: Instant,
}

impl Rate {
    fn new(per_sec: u16, burst: u16) -> Self {
        let interval = Duration::from_millis(1000 / u64::from(per_sec.max(1)));
        Rate {
            interval,
            tolerance: Duration::from_millis(interval.as_millis() * u64::from(burst.max(1) - 1)),
            theoretical: Instant::ZERO,
        }
    }

    /// When the next send is allowed.
    fn allowed_at(&self) -> Instant {
        self.theoretical - self.tolerance
    }

    fn try_take(&mut self, now: Instant) -> bool {
        if now < self.allowed_at() {
            return false;
        }
        self.theoretical = self.theoretical.max(now) + self.interval;
        true
    }
}

/// Replay stamps of sealed adverts, one per name: only with a class key.
#[cfg(feature = "class-key")]
type Stamps<const N: usize> = heapless::Vec<(u32, u64), N>;
/// Without the class-key feature there is never a key, so no stamp is kept
/// (and firmware does not pay 16 bytes of RAM per remembered name for them).
#[cfg(not(feature = "class-key"))]
type Stamps<const N: usize> = heapless::Vec<(u32, u64), 0>;

/// The discovery state machine. `ADVERTS` is how many heard names it
/// remembers, `OWN` how many names this node can advertise, `QUEUED` how
/// many events wait for [`Beacon::poll_event`] before the oldest is dropped
/// (each holds a name: about 320 bytes, which a small board feels). `S`
/// stores the heard names: by default [`Fixed`]`<ADVERTS>`; an adapter with
/// a heap may give storage that grows (then `ADVERTS` only bounds the
/// class key's replay stamps).
#[derive(Debug, Clone)]
pub struct Beacon<
    const ADVERTS: usize,
    const OWN: usize,
    const QUEUED: usize = EVENTS,
    S: Entries = Fixed<ADVERTS>,
> {
    config: Config,
    table: AdvertTable<S>,
    own: heapless::Vec<Own, OWN>,
    interfaces: heapless::Vec<Interface, MAX_INTERFACES>,
    fanout: Option<Fanout>,
    answer_fanout: Option<Fanout>,
    /// Saying goodbye for every name as the program ends: goodbyes go out
    /// without waiting for the rate limit (at most one per name, once).
    farewell: bool,
    queries: heapless::Vec<Query, QUERIES>,
    askers: heapless::Vec<Asker, ASKERS>,
    rng: Rng,
    events: heapless::Deque<Event, QUEUED>,
    recent_moves: heapless::Deque<(u32, SocketAddr, Instant), RECENT_MOVES>,
    broadcast_rate: Rate,
    answer_rate: Rate,
    key: Option<ClassKey>,
    wall: WallClock,
    /// Newest seal stamp accepted per name (by hash), against replays.
    stamps: Stamps<ADVERTS>,
}

/// Where the wall-clock time that seals carry comes from (see
/// [`crate::auth`]): an offset in milliseconds from the caller's `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WallClock {
    /// None yet: a keyed beacon seals nothing, so sends no advert.
    Unknown,
    /// Given by the application ([`Beacon::set_wall_clock`]: the OS, SNTP,
    /// an RTC). Stamps further than [`auth::MAX_SKEW`] from it either way
    /// are stale.
    Given(i64),
    /// Learned from the class's verified seals: the newest stamp heard plus
    /// the time since. It only moves forward.
    Learned(i64),
}

/// The two ways out, each with its own rate limit.
#[derive(Debug, Clone, Copy)]
enum Lane {
    /// Adverts, queries and goodbyes.
    Broadcasts,
    /// Broadcast answers to queries for one name.
    Answers,
}

/// How many times `query` is sent: a query for every name fewer times.
fn attempts_for(query: &Query, attempts: u8) -> u8 {
    if query.name.is_empty() {
        attempts.min(EVERYTHING_ATTEMPTS)
    } else {
        attempts
    }
}

impl<const ADVERTS: usize, const OWN: usize, const QUEUED: usize, S: Entries + Default>
    Beacon<ADVERTS, OWN, QUEUED, S>
{
    /// A beacon advertising nothing yet, with no interfaces but loopback.
    pub fn new(config: Config) -> Self {
        Self::with_storage(config, S::default())
    }
}

impl<const ADVERTS: usize, const OWN: usize, const QUEUED: usize, S: Entries>
    Beacon<ADVERTS, OWN, QUEUED, S>
{
    /// A beacon whose heard names are kept in `storage` (empty).
    pub fn with_storage(mut config: Config, storage: S) -> Self {
        // A zero interval would re-advertise in a busy loop.
        config.advert_interval = config.advert_interval.max(Duration::from_millis(100));
        Beacon {
            config,
            table: AdvertTable::with_storage(storage),
            own: heapless::Vec::new(),
            interfaces: heapless::Vec::new(),
            fanout: None,
            answer_fanout: None,
            farewell: false,
            queries: heapless::Vec::new(),
            askers: heapless::Vec::new(),
            rng: Rng(0x853C_49E7),
            events: heapless::Deque::new(),
            recent_moves: heapless::Deque::new(),
            broadcast_rate: Rate::new(config.max_broadcasts_per_sec, config.broadcast_burst),
            answer_rate: Rate::new(config.max_answers_per_sec, config.answer_burst),
            key: None,
            wall: WallClock::Unknown,
            stamps: heapless::Vec::new(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Seeds the random part of answer delays. Give each beacon its own seed
    /// (from the OS, a hardware RNG, or at least a clock); without one,
    /// beacons still differ by their addresses and ports.
    pub fn seed(&mut self, seed: u64) {
        self.rng.mix((seed >> 32) as u32);
        self.rng.mix(seed as u32);
    }

    /// Tells the beacon which IPv4 interfaces are up, preferred first (the
    /// first is the host's main address). Loopback is implied; leave it out.
    /// When the set changes, every name is re-advertised at once, so a Wi-Fi
    /// network joined later hears about them straight away.
    pub fn set_interfaces(&mut self, interfaces: &[Interface], now: Instant) {
        let new = interfaces
            .iter()
            .filter(|i| !i.ip.is_loopback() && !i.ip.is_unspecified())
            .take(MAX_INTERFACES);
        if new.clone().eq(self.interfaces.iter()) {
            return;
        }
        self.interfaces.clear();
        for i in new {
            // `take(MAX_INTERFACES)` keeps this within capacity.
            let _ = self.interfaces.push(*i);
            self.rng.mix(u32::from(i.ip));
        }
        self.fanout = None;
        self.answer_fanout = None;
        for own in &mut self.own {
            own.next_due = now;
        }
    }

    /// The interfaces adverts go out of.
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// The address others should use for `address` when told by a message
    /// going out of `via` (an unspecified IP becomes the interface's).
    fn concrete(&self, address: SocketAddrV4, via: Option<&Interface>) -> SocketAddrV4 {
        if !address.ip().is_unspecified() {
            return address;
        }
        let ip = via
            .or(self.interfaces.first())
            .map_or(Ipv4Addr::LOCALHOST, |i| i.ip);
        SocketAddrV4::new(ip, address.port())
    }

    /// Starts advertising `name` at `address`; `0.0.0.0:port` means "on
    /// every interface", each advert carrying the address of the interface it
    /// goes out of. Advertising a name again moves it. Returns the address
    /// this host's main interface advertises. The name is also discoverable
    /// on this node at once.
    pub fn advertise(
        &mut self,
        name: &str,
        address: SocketAddr,
        now: Instant,
    ) -> Result<SocketAddr, AdvertiseError> {
        self.advertise_with(name, address, Ttl::Default, false, now)
    }

    /// Like [`Self::advertise`], with the ttl the adverts carry, and
    /// `paused` to hold the name back until [`Self::set_paused`] (both as
    /// Python's beacon RPC offers: `ttl_s`, and advertising while paused).
    pub fn advertise_with(
        &mut self,
        name: &str,
        address: SocketAddr,
        ttl: Ttl,
        paused: bool,
        now: Instant,
    ) -> Result<SocketAddr, AdvertiseError> {
        let SocketAddr::V4(address) = address else {
            return Err(AdvertiseError::NotIpv4);
        };
        // The longest form this advert can take on the wire.
        let widest = SocketAddrV4::new(Ipv4Addr::BROADCAST, address.port());
        let len = advert::encoded_len_ttl(name, widest.into(), self.ttl_of(ttl, true));
        if name.is_empty() {
            return Err(AdvertiseError::Encode(EncodeError::EmptyName));
        }
        if len > advert::MAX_DATAGRAM {
            return Err(AdvertiseError::Encode(EncodeError::TooLong { len }));
        }
        let mut stored = Name::new();
        stored
            .push_str(name)
            .map_err(|_| AdvertiseError::Encode(EncodeError::TooLong { len }))?;
        self.rng.mix(u32::from(address.port()));
        let own = Own {
            name: stored,
            address,
            next_due: now,
            answer_at: None,
            answered: None,
            asked_by: None,
            ttl,
            paused,
            leaving: false,
        };
        match self.own.iter_mut().find(|o| o.name == name) {
            Some(existing) => *existing = own,
            None => self
                .own
                .push(own)
                .map_err(|_| AdvertiseError::TooManyNames { capacity: OWN })?,
        }
        self.fanout = None;
        self.answer_fanout = None;
        let local = SocketAddr::V4(self.concrete(address, None));
        self.record(name, local, None, now);
        Ok(local)
    }

    /// Holds `name` back (`paused`): no adverts, answers or goodbye for it,
    /// though it stays discoverable here; or lets it go again, advertised at
    /// once. Returns whether this node advertises `name`.
    pub fn set_paused(&mut self, name: &str, paused: bool, now: Instant) -> bool {
        let Some(own) = self.own.iter_mut().find(|o| o.name == name && !o.leaving) else {
            return false;
        };
        own.paused = paused;
        own.answer_at = None;
        // Let go, it is advertised at once; held back, it is never sent,
        // whatever is due.
        own.next_due = now;
        self.fanout = None;
        true
    }

    /// Sends every name again at once (after a change of class key, say).
    pub fn advertise_again(&mut self, now: Instant) {
        for own in &mut self.own {
            own.next_due = now;
        }
        self.fanout = None;
    }

    /// Forgets every name heard, as Python's beacon `reset` does; names
    /// this node advertises stay discoverable here. Others come back with
    /// their next advert.
    pub fn forget_heard(&mut self) {
        self.table.clear();
        for i in 0..self.own.len() {
            if let Some(own) = self.own.get(i).filter(|o| !o.leaving) {
                let local = SocketAddr::V4(self.concrete(own.address, None));
                let name = own.name.clone();
                let _ = self.table.insert(&name, local, None);
            }
        }
    }

    /// Stops advertising `name` and tells peers at once with a goodbye.
    /// Returns whether it was advertised.
    pub fn unadvertise(&mut self, name: &str, _now: Instant) -> bool {
        let Some(i) = self.own.iter().position(|o| o.name == name && !o.leaving) else {
            return false;
        };
        self.leave(i);
        self.table.remove(name, None);
        true
    }

    /// Unadvertises every name as the program ends: each gets its goodbye,
    /// sent at once whatever the rate limit (drain `poll_transmit` before
    /// exiting).
    pub fn farewell(&mut self) {
        self.farewell = true;
        for i in (0..self.own.len()).rev() {
            if let Some(own) = self.own.get(i).filter(|o| !o.leaving) {
                let name = own.name.clone();
                self.leave(i);
                self.table.remove(&name, None);
            }
        }
    }

    /// Own name `i` leaves: kept, marked, until its goodbye has gone out; a
    /// held-back one goes at once (peers were not told of it lately, nor
    /// are now).
    fn leave(&mut self, i: usize) {
        self.fanout = None;
        self.answer_fanout = None;
        match self.own.get_mut(i) {
            Some(own) if !own.paused => {
                own.leaving = true;
                own.answer_at = None;
            }
            _ => self.forget_own(i),
        }
    }

    /// Removes own name `i`; askers' answers go on with the names after it.
    fn forget_own(&mut self, i: usize) {
        if i >= self.own.len() {
            return;
        }
        self.own.remove(i);
        for asker in &mut self.askers {
            if asker.next > i {
                asker.next -= 1;
            }
        }
        // Every asker has a name left to answer with.
        let own = self.own.len();
        self.askers.retain(|a| a.next < own);
        self.fanout = None;
        self.answer_fanout = None;
    }

    /// A query broadcast points at its query by index: when the queries
    /// move, it starts again from its first destination rather than send
    /// the rest of another query's.
    fn queries_changed(&mut self) {
        if let Some(Fanout {
            payload: Payload::Query(_),
            ..
        }) = self.fanout
        {
            self.fanout = None;
        }
    }

    /// Names this node advertises, with their (possibly unspecified) addresses.
    pub fn advertised(&self) -> impl Iterator<Item = (&str, SocketAddrV4)> + '_ {
        self.own
            .iter()
            .filter(|o| !o.leaving)
            .map(|o| (o.name.as_str(), o.address))
    }

    /// Asks every beacon on the LAN for `name` (`None`: for every name),
    /// repeating with growing gaps until heard or `query_attempts` are spent.
    pub fn query(&mut self, name: Option<&str>, now: Instant) {
        let name = name.unwrap_or("");
        if self.config.query_attempts == 0 {
            return; // Configured never to ask.
        }
        if let Some(q) = self.queries.iter_mut().find(|q| q.name == name) {
            q.next_send = now;
            q.sent = 0;
            return;
        }
        let mut stored = Name::new();
        if stored.push_str(name).is_err() {
            return; // No advert could carry such a name anyway.
        }
        let query = Query {
            name: stored,
            next_send: now,
            sent: 0,
        };
        if self.queries.is_full() {
            // Replace the query that has been asked most.
            if let Some(slot) = self.queries.iter_mut().max_by_key(|q| q.sent) {
                *slot = query;
            }
            self.queries_changed();
        } else {
            let _ = self.queries.push(query);
        }
    }

    /// The address for `name`, if live.
    pub fn lookup(&self, name: &str, now: Instant) -> Option<SocketAddr> {
        self.table.get(name, now)
    }

    /// Every live advert.
    pub fn adverts(&self, now: Instant) -> impl Iterator<Item = &Entry> + '_ {
        self.table.iter(now)
    }

    /// The storage of heard names (how full it is, for a warning).
    pub fn storage(&self) -> &S {
        self.table.storage()
    }

    /// Live adverts named `group` + `separator` + anything, except `exclude`.
    pub fn group<'a>(
        &'a self,
        group: &'a str,
        separator: &'a str,
        exclude: &'a [&'a str],
        now: Instant,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.table.group(group, separator, exclude, now)
    }

    /// Feeds a datagram received on the beacon or extension port (or the
    /// node's own ephemeral port) from `source`. Malformed datagrams are
    /// dropped with a typed error and change nothing.
    pub fn handle_datagram(
        &mut self,
        datagram: &[u8],
        source: SocketAddr,
        now: Instant,
    ) -> Result<Received, DatagramError> {
        if !ext::is_extension(datagram) {
            let advert = advert::decode(datagram).map_err(DatagramError::Advert)?;
            if self.key.is_some() {
                return Err(self.reject(&advert.name, source, auth::Rejected::Unsealed));
            }
            return Ok(self.hear(&advert, now));
        }
        let kind = datagram.get(ext::HEADER_LEN - 1).copied();
        #[cfg(feature = "class-key")]
        if kind == Some(auth::KIND_QUERY) && self.key.is_some() {
            return self.handle_sealed_query(datagram, source, now);
        }
        if kind.is_some_and(auth::is_sealed_kind) {
            return self.handle_sealed(datagram, source, now);
        }
        match ext::decode(datagram).map_err(DatagramError::Ext)? {
            Message::Answer(advert) | Message::Goodbye(advert) if self.key.is_some() => {
                Err(self.reject(&advert.name, source, auth::Rejected::Unsealed))
            }
            Message::Answer(advert) => Ok(self.hear(&advert, now)),
            Message::Goodbye(advert) => {
                self.forget(&advert);
                Ok(Received::Goodbye)
            }
            Message::Query(name) => Ok(self.answer_query(&name, source, now)),
        }
    }

    /// Schedules the answers to `source`'s query for `name` (empty: every
    /// name), plain or sealed alike.
    fn answer_query(&mut self, name: &str, source: SocketAddr, now: Instant) -> Received {
        // A real asker sends from a port of its own; a query from the
        // beacon port is not one (and an answer sent back there would
        // kill a Python beacon).
        if source.port() == self.config.beacon_port {
            return Received::Query { answers: 0 };
        }
        let answers = if name.is_empty() {
            self.schedule_everything(source, now)
        } else {
            self.schedule_answer(name, source, now)
        };
        Received::Query { answers }
    }

    /// A sealed query, to a keyed beacon: one that verifies and is fresh
    /// teaches the class's time as an advert's seal does (so a board that
    /// had none answers it at once, sealed); any well-formed one is then
    /// answered as a plain query is (see [`crate::auth`] for why).
    #[cfg(feature = "class-key")]
    fn handle_sealed_query(
        &mut self,
        datagram: &[u8],
        source: SocketAddr,
        now: Instant,
    ) -> Result<Received, DatagramError> {
        let bad = DatagramError::Ext(ExtError::BadQuery);
        let body = datagram.get(auth::SEAL_OFFSET..).ok_or(bad)?;
        let text = core::str::from_utf8(body).map_err(|_| bad)?;
        let mut name = Name::new();
        name.push_str(text).map_err(|_| bad)?;
        if let Ok((_, stamp, _)) = auth::open(self.key.as_ref(), datagram) {
            // Stale: taught nothing, answered all the same.
            let _ = self.accept_stamp(stamp, now);
        }
        Ok(self.answer_query(&name, source, now))
    }

    /// Schedules the broadcast answering `asker`'s query for `name`: at once
    /// after a quiet spell, else `answer_delay` (and jitter) after the last
    /// one. Nothing when one is scheduled already (it answers this asker
    /// too), or when this is a copy of the query just answered.
    fn schedule_answer(&mut self, name: &str, asker: SocketAddr, now: Instant) -> usize {
        let asker = match asker {
            SocketAddr::V4(v4) => Some(v4),
            SocketAddr::V6(_) => None,
        };
        let gap = self.config.answer_delay + self.rng.up_to(self.config.answer_jitter);
        let delay = self.config.answer_delay;
        match self.own.iter_mut().find(|o| o.name == name) {
            Some(own) if own.answer_at.is_none() && own.on_air() => {
                let copy = asker.is_some()
                    && own.asked_by == asker
                    && own.answered.is_some_and(|at| now < at + delay);
                if copy {
                    return 0;
                }
                own.answer_at = Some(own.answered.map_or(now, |at| now.max(at + gap)));
                own.asked_by = asker;
                1
            }
            _ => 0,
        }
    }

    /// Schedules answers with every name to `asker`, at a random moment of
    /// the spread window; nothing if its answers are scheduled already (the
    /// copies of one query come by two broadcast addresses). When more ask
    /// than this beacon answers one by one (`ASKERS`: a crowd of fresh
    /// programs), each name is broadcast instead, once for every asker, at
    /// most once per [`Config::crowd_gap`]: a late asker is never left
    /// waiting for a slot.
    fn schedule_everything(&mut self, asker: SocketAddr, now: Instant) -> usize {
        if self.own.is_empty() || self.askers.iter().any(|a| a.to == asker) {
            return 0;
        }
        let due = now + self.config.answer_delay + self.rng.up_to(self.config.everything_spread);
        let scheduled = Asker {
            to: asker,
            due,
            next: 0,
        };
        if self.askers.push(scheduled).is_ok() {
            return self.own.len();
        }
        let gap = self.config.crowd_gap;
        let mut shared = 0;
        for own in self.own.iter_mut().filter(|o| o.on_air()) {
            if own.answer_at.is_none() {
                own.answer_at = Some(own.answered.map_or(due, |at| due.max(at + gap)));
                shared += 1;
            }
        }
        shared
    }

    fn handle_sealed(
        &mut self,
        datagram: &[u8],
        source: SocketAddr,
        now: Instant,
    ) -> Result<Received, DatagramError> {
        let opened = auth::open(self.key.as_ref(), datagram);
        let (kind, stamp, body) = match opened {
            Ok(parts) => parts,
            Err(reason) => {
                // Name the claimed advert in the warning if it can be read.
                let body = datagram.get(auth::SEAL_OFFSET..).unwrap_or_default();
                let name = advert::decode(body).map(|a| a.name).unwrap_or_default();
                return Err(self.reject(&name, source, reason));
            }
        };
        let advert = advert::decode(body).map_err(DatagramError::Advert)?;
        match self.fresh(&advert.name, stamp, now) {
            Err(reason) => return Err(self.reject(&advert.name, source, reason)),
            Ok(false) => return Ok(Received::Duplicate),
            Ok(true) => {}
        }
        if kind == auth::KIND_GOODBYE {
            self.forget(&advert);
            Ok(Received::Goodbye)
        } else {
            Ok(self.hear(&advert, now))
        }
    }

    fn forget(&mut self, advert: &Advert) {
        if let Some(gone) = self.table.remove(&advert.name, Some(advert.address)) {
            self.push_event(Event::Expired {
                name: gone.name,
                address: gone.address,
            });
        }
    }

    fn hear(&mut self, advert: &Advert, now: Instant) -> Received {
        // A ttl of 0 lapses at once: Python drops such an advert as soon as
        // it hears it, and we send one when saying goodbye. Treat it as one.
        let goodbye = advert.ttl == Some(Duration::ZERO);
        if let Some(own) = self
            .own
            .iter()
            .find(|o| o.name == advert.name && !o.leaving)
        {
            // Our own name: our entry is the truth (and never expires while we
            // advertise). Our own adverts come back on loopback; another
            // program claiming the name on another port is a conflict.
            if !goodbye && advert.address.port() != own.address.port() {
                let first = SocketAddr::V4(self.concrete(own.address, None));
                let second = advert.address;
                self.event_with_name(&advert.name, |name| Event::Conflict {
                    name,
                    first,
                    second,
                });
            }
            return if goodbye {
                Received::Goodbye
            } else {
                Received::Advert
            };
        }
        if goodbye {
            self.forget(advert);
            return Received::Goodbye;
        }
        // A `null` ttl means "for ever" to Python; capped, so adverts nobody
        // refreshes cannot fill the table for good.
        let ttl = advert.ttl.unwrap_or(MAX_HEARD_TTL).min(MAX_HEARD_TTL);
        self.record(&advert.name, advert.address, Some(now + ttl), now);
        let asked = self.queries.len();
        self.queries.retain(|q| q.name != advert.name);
        if self.queries.len() != asked {
            self.queries_changed();
        }
        Received::Advert
    }

    fn record(&mut self, name: &str, address: SocketAddr, expires: Option<Instant>, now: Instant) {
        match self.table.insert(name, address, expires) {
            Inserted::New => self.event_with_name(name, |name| Event::Appeared { name, address }),
            Inserted::Refreshed => {}
            Inserted::Moved { previous } => {
                let hash = name_hash(name);
                let window = self.config.advert_interval + self.config.advert_interval;
                let flip_back = self.recent_moves.iter().any(|&(h, a, at)| {
                    h == hash && a == address && now.saturating_since(at) <= window
                });
                if self.recent_moves.is_full() {
                    self.recent_moves.pop_front();
                }
                let _ = self.recent_moves.push_back((hash, previous, now));
                if flip_back && previous.port() != address.port() {
                    self.event_with_name(name, |name| Event::Conflict {
                        name,
                        first: previous,
                        second: address,
                    });
                } else {
                    self.event_with_name(name, |name| Event::Moved {
                        name,
                        from: previous,
                        to: address,
                    });
                }
            }
            Inserted::Evicted(gone) => {
                if gone.name != name {
                    self.event_with_name(name, |name| Event::Appeared { name, address });
                }
                self.push_event(Event::Expired {
                    name: gone.name,
                    address: gone.address,
                });
            }
        }
    }

    fn event_with_name(&mut self, name: &str, make: impl FnOnce(Name) -> Event) {
        let mut stored = Name::new();
        if stored.push_str(name).is_ok() {
            self.push_event(make(stored));
        }
    }

    /// Events are notifications, the table is the truth: when the queue is
    /// full the oldest event is dropped.
    fn push_event(&mut self, event: Event) {
        if self.events.is_full() {
            self.events.pop_front();
        }
        let _ = self.events.push_back(event);
    }

    /// Expires lapsed adverts. Call at [`Self::poll_timeout`]. (Our own
    /// names never lapse: they are in the table with no expiry, and their
    /// echoes are not recorded.)
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(gone) = self.table.expire(now) {
            self.push_event(Event::Expired {
                name: gone.name,
                address: gone.address,
            });
        }
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] or [`Self::poll_transmit`] next has work.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        fn earliest(a: Option<Instant>, b: Instant) -> Option<Instant> {
            Some(a.map_or(b, |a| a.min(b)))
        }
        // Each lane's next send, before its rate limit; then expiries. A
        // broadcast under way is always of something still due (its name's
        // `next_due` or its query's `next_send` moves on only when it ends; a
        // name leaving is due until its goodbye is done), and whatever changes
        // those ends the broadcast: so the due times cover it.
        let leaving = self.own.iter().any(|o| o.leaving);
        let mut broadcast = leaving.then_some(Instant::ZERO);
        let mut answer = self.answer_fanout.map(|_| Instant::ZERO);
        let mut other = self.table.next_expiry();
        for o in self.own.iter().filter(|o| o.on_air()) {
            broadcast = earliest(broadcast, o.next_due);
            if let Some(at) = o.answer_at {
                answer = earliest(answer, at);
            }
        }
        for a in &self.askers {
            answer = earliest(answer, a.due);
        }
        for q in &self.queries {
            broadcast = earliest(broadcast, q.next_send);
        }
        if let Some(t) = broadcast {
            other = earliest(other, t.max(self.broadcast_rate.allowed_at()));
        }
        if let Some(t) = answer {
            other = earliest(other, t.max(self.answer_rate.allowed_at()));
        }
        other
    }

    /// Writes the next datagram to send into `buf`, if one is due at `now`.
    ///
    /// Answers and the other broadcasts go out in two lanes, each under its
    /// own rate limit, so a long round of adverts never holds an answer back.
    #[must_use]
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8; MAX_TRANSMIT],
    ) -> Option<Transmit> {
        if let Some(t) = self.drive(Lane::Answers, now, buf) {
            return Some(t);
        }
        if let Some(t) = self.answer_asker(now, buf) {
            return Some(t);
        }
        self.drive(Lane::Broadcasts, now, buf)
    }

    /// The next datagram of `lane`'s broadcast, starting the next one due.
    fn drive(
        &mut self,
        lane: Lane,
        now: Instant,
        buf: &mut [u8; MAX_TRANSMIT],
    ) -> Option<Transmit> {
        // Each pass sends, or finishes one broadcast that had nothing more to
        // send. Only names can end unsent in a row (a keyed board without a
        // clock can seal none of its adverts, answers or goodbyes; queries go
        // out plainly), and at most one broadcast was under way: a query's, as
        // starting a goodbye ends the one under way. So OWN + 1 passes always
        // reach the next datagram, or find there is none.
        for _ in 0..OWN + 1 {
            let fanout = match *self.lane(lane).0 {
                Some(fanout) => fanout,
                None => {
                    let next = match lane {
                        Lane::Answers => self.next_answer(now),
                        Lane::Broadcasts => self.next_fanout(now),
                    };
                    *self.lane(lane).0 = next;
                    next?
                }
            };
            match self.write_step(fanout, now, buf) {
                Some(t) => {
                    let parting = self.farewell && matches!(fanout.payload, Payload::Goodbye(_));
                    let (slot, rate) = self.lane(lane);
                    if !rate.try_take(now) && !parting {
                        return None; // Rate-limited: the same step is retried later.
                    }
                    *slot = Some(Fanout {
                        step: fanout.step + 1,
                        ..fanout
                    });
                    return Some(t);
                }
                None => {
                    // Every destination done: this broadcast is finished.
                    self.finish(fanout.payload, now);
                    *self.lane(lane).0 = None;
                }
            }
        }
        None
    }

    fn lane(&mut self, lane: Lane) -> (&mut Option<Fanout>, &mut Rate) {
        match lane {
            Lane::Answers => (&mut self.answer_fanout, &mut self.answer_rate),
            Lane::Broadcasts => (&mut self.fanout, &mut self.broadcast_rate),
        }
    }

    /// A name whose answer is due, if any.
    fn next_answer(&self, now: Instant) -> Option<Fanout> {
        let i = self
            .own
            .iter()
            .position(|o| o.answer_at.is_some_and(|at| at <= now))?;
        Some(Fanout {
            payload: Payload::Answer(i),
            step: 0,
        })
    }

    /// The next answer to someone who asked for every name, if one is due.
    fn answer_asker(&mut self, now: Instant, buf: &mut [u8; MAX_TRANSMIT]) -> Option<Transmit> {
        if now < self.answer_rate.allowed_at() {
            return None;
        }
        // Each pass sends one answer or skips one paused name. An asker goes
        // with its last name, so its slot is free for the next at once.
        for _ in 0..=OWN {
            let i = self.askers.iter().position(|a| a.due <= now)?;
            let asker = self.askers.get_mut(i)?;
            let (to, name) = (asker.to, asker.next);
            asker.next += 1;
            if asker.next >= self.own.len() {
                self.askers.remove(i);
            }
            if let Some(t) = self.write_answer(to, name, now, buf) {
                let _ = self.answer_rate.try_take(now);
                return Some(t);
            }
        }
        None
    }

    fn next_fanout(&mut self, now: Instant) -> Option<Fanout> {
        if let Some(i) = self.own.iter().position(|o| o.leaving) {
            return Some(Fanout {
                payload: Payload::Goodbye(i),
                step: 0,
            });
        }
        let query = self
            .queries
            .iter()
            .enumerate()
            .filter(|(_, q)| q.next_send <= now)
            .min_by_key(|(_, q)| q.next_send)
            .map(|(i, _)| Payload::Query(i));
        let advert = self
            .own
            .iter()
            .enumerate()
            .filter(|(_, o)| o.next_due <= now && o.on_air())
            .min_by_key(|(_, o)| o.next_due)
            .map(|(i, _)| Payload::Advert(i));
        query.or(advert).map(|payload| Fanout { payload, step: 0 })
    }

    fn finish(&mut self, payload: Payload, now: Instant) {
        match payload {
            Payload::Goodbye(i) => self.forget_own(i),
            Payload::Advert(i) => {
                if let Some(o) = self.own.get_mut(i) {
                    o.next_due = now + self.config.advert_interval;
                }
            }
            Payload::Answer(i) => {
                if let Some(o) = self.own.get_mut(i) {
                    o.answer_at = None;
                    o.answered = Some(now);
                }
            }
            Payload::Query(i) => {
                let attempts = self.config.query_attempts;
                let Some(q) = self.queries.get_mut(i) else {
                    return;
                };
                q.sent = q.sent.saturating_add(1);
                if q.sent >= attempts_for(q, attempts) {
                    // Spent: nothing more to send, so nothing to keep. (This
                    // broadcast is over, so no fanout points at the queries.)
                    self.queries.remove(i);
                    return;
                }
                // A query for every name is answered over the spread window:
                // asking again sooner would only bring the same answers.
                let base = if q.name.is_empty() {
                    self.config.answer_delay + self.config.everything_spread
                } else {
                    self.config.query_retry
                };
                let gap = base.as_millis().saturating_mul(1 << q.sent.min(16));
                q.next_send = now + Duration::from_millis(gap);
            }
        }
    }

    /// The ttl adverts carry: the configured one, or three full rounds of
    /// adverts if the rate limit stretches a round past the interval.
    fn advert_ttl(&self) -> Duration {
        self.stretched_ttl(self.own.len() * self.destinations_per_broadcast())
    }

    /// The configured ttl, or three rounds of `per_round` broadcasts at the
    /// rate limit, whichever is longer.
    fn stretched_ttl(&self, per_round: usize) -> Duration {
        let round = self
            .broadcast_rate
            .interval
            .as_millis()
            .saturating_mul(per_round as u64);
        let round = round.max(self.config.advert_interval.as_millis());
        self.config
            .ttl
            .max(Duration::from_millis(round.saturating_mul(3)))
    }

    /// What a name advertised with `ttl` carries (`None`: `null`, for ever);
    /// `widest` gives the longest it could ever be, to check a name fits.
    fn ttl_of(&self, ttl: Ttl, widest: bool) -> Option<Duration> {
        match ttl {
            // The longest it could be: every name on every interface.
            Ttl::Default if widest => Some(self.stretched_ttl(OWN * (MAX_INTERFACES + 2))),
            Ttl::Default => Some(self.advert_ttl()),
            Ttl::For(d) => Some(d),
            Ttl::Forever => None,
        }
    }

    fn destinations_per_broadcast(&self) -> usize {
        self.destination_count(false)
    }

    /// How many destinations [`Self::destination`] has.
    fn destination_count(&self, address_is_loopback: bool) -> usize {
        match self.interfaces.len() {
            0 => 1,
            _ if address_is_loopback => 1,
            n => n + 2,
        }
    }

    /// Destination `step` of a broadcast of an advert at `address`, and the
    /// interface it stands for: each directed broadcast, then
    /// 255.255.255.255, then 127.255.255.255 (only the last when there is no
    /// interface, or the address is loopback).
    fn destination(
        &self,
        step: usize,
        address_is_loopback: bool,
        port: u16,
    ) -> Option<(SocketAddr, Option<&Interface>)> {
        let n = self.interfaces.len();
        let loopback = SocketAddr::from((Ipv4Addr::new(127, 255, 255, 255), port));
        if n == 0 || address_is_loopback {
            return (step == 0).then_some((loopback, None));
        }
        match step {
            s if s < n => self
                .interfaces
                .get(s)
                .map(|i| (SocketAddr::from((i.broadcast(), port)), Some(i))),
            s if s == n => Some((SocketAddr::from((Ipv4Addr::BROADCAST, port)), None)),
            s if s == n + 1 => Some((loopback, None)),
            _ => None,
        }
    }

    fn write_step(
        &self,
        fanout: Fanout,
        now: Instant,
        buf: &mut [u8; MAX_TRANSMIT],
    ) -> Option<Transmit> {
        let (kind, i) = match fanout.payload {
            Payload::Advert(i) => (Kind::Advert, i),
            Payload::Answer(i) => (Kind::Answer, i),
            Payload::Goodbye(i) => (Kind::Goodbye, i),
            Payload::Query(i) => {
                let q = self.queries.get(i)?;
                let (destination, _) =
                    self.destination(fanout.step, false, self.config.ext_port)?;
                let len = self.write_query(&q.name, now, buf)?;
                return Some(Transmit {
                    destination,
                    len,
                    kind: Kind::Query,
                });
            }
        };
        let own = self.own.get(i)?;
        let loopback = own.address.ip().is_loopback();
        // Plain adverts go to Python's port; everything else, and sealed
        // adverts, to the extension port. A goodbye goes to the extension
        // port of every destination, then (without a class key) as an advert
        // with ttl 0 to the beacon port of each: how a Python beacon hears it.
        let mut step = fanout.step;
        let mut plain = kind == Kind::Advert && self.key.is_none();
        let mut ttl = self.ttl_of(own.ttl, false);
        if kind == Kind::Goodbye {
            ttl = Some(Duration::ZERO);
            if let Some(later) = step.checked_sub(self.destination_count(loopback)) {
                if self.key.is_some() {
                    return None;
                }
                (step, plain) = (later, true);
            }
        }
        let port = if plain {
            self.config.beacon_port
        } else {
            self.config.ext_port
        };
        let (destination, via) = self.destination(step, loopback, port)?;
        let address = self.concrete(own.address, via);
        let written = if plain { Kind::Advert } else { kind };
        let len = self.write_advert(written, &own.name, address.into(), ttl, now, buf)?;
        Some(Transmit {
            destination,
            len,
            kind,
        })
    }

    /// Writes an advert, answer or goodbye for `name` at `address`: plain
    /// (Python's advert, or `NW0 1 A|B` + advert) without a class key,
    /// sealed with one. Returns the datagram's length.
    fn write_advert(
        &self,
        kind: Kind,
        name: &str,
        address: SocketAddr,
        ttl: Option<Duration>,
        now: Instant,
        buf: &mut [u8; MAX_TRANSMIT],
    ) -> Option<usize> {
        if let Some(key) = &self.key {
            let sealed_kind = match kind {
                Kind::Advert => auth::KIND_ADVERT,
                Kind::Answer => auth::KIND_ANSWER,
                _ => auth::KIND_GOODBYE,
            };
            let body = buf.get_mut(auth::SEAL_OFFSET..)?;
            let len = advert::encode_ttl(name, address, ttl, body).ok()?;
            return auth::seal(key, sealed_kind, self.stamp(now)?, buf, len);
        }
        match kind {
            Kind::Advert => advert::encode_ttl(name, address, ttl, buf).ok(),
            _ => {
                let ext_kind = if kind == Kind::Answer { b'A' } else { b'B' };
                let body = ext::write_header(ext_kind, buf)?;
                Some(ext::HEADER_LEN + advert::encode_ttl(name, address, ttl, body).ok()?)
            }
        }
    }

    /// Writes a query for `name`: sealed with a class key once this beacon
    /// knows its class's time, plain otherwise (an unclocked board asks
    /// plainly; a sealed answer then teaches it the time).
    fn write_query(&self, name: &str, now: Instant, buf: &mut [u8; MAX_TRANSMIT]) -> Option<usize> {
        #[cfg(feature = "class-key")]
        if let (Some(key), Some(stamp)) = (&self.key, self.stamp(now)) {
            return auth::seal_query(key, stamp, name, buf);
        }
        #[cfg(not(feature = "class-key"))]
        let _ = now;
        ext::encode_query(name, buf)
    }

    fn write_answer(
        &self,
        to: SocketAddr,
        i: usize,
        now: Instant,
        buf: &mut [u8; MAX_TRANSMIT],
    ) -> Option<Transmit> {
        let own = self.own.get(i).filter(|o| o.on_air())?;
        let via = match to {
            SocketAddr::V4(v4) => self.interfaces.iter().find(|i| i.contains(*v4.ip())),
            SocketAddr::V6(_) => None,
        };
        let address = self.concrete(own.address, via);
        let ttl = self.ttl_of(own.ttl, false);
        let len = self.write_advert(Kind::Answer, &own.name, address.into(), ttl, now, buf)?;
        Some(Transmit {
            destination: to,
            len,
            kind: Kind::Answer,
        })
    }

    /// The wall-clock time for a seal, in Unix milliseconds: none before
    /// it was given or learned.
    fn stamp(&self, now: Instant) -> Option<u64> {
        match self.wall {
            WallClock::Given(offset) | WallClock::Learned(offset) => {
                Some(now.as_millis().saturating_add_signed(offset))
            }
            WallClock::Unknown => None,
        }
    }

    /// The wall-clock time at `now` (Unix milliseconds) if the beacon has
    /// one: given by [`Self::set_wall_clock`], or learned from its class's
    /// sealed adverts. With a class key and none, it seals nothing, so it
    /// neither advertises nor answers yet: firmware may log that.
    pub fn wall_clock(&self, now: Instant) -> Option<u64> {
        self.stamp(now)
    }

    /// Uses a class key from now on (`None`: none). See [`crate::auth`].
    pub fn set_class_key(&mut self, key: Option<ClassKey>) {
        self.key = key;
        self.stamps.clear();
        // A time learned from another class's seals is not this class's.
        if matches!(self.wall, WallClock::Learned(_)) {
            self.wall = WallClock::Unknown;
        }
        self.fanout = None;
        self.answer_fanout = None;
    }

    /// Whether a class key is in use.
    pub fn has_class_key(&self) -> bool {
        self.key.is_some()
    }

    /// Tells the beacon the wall-clock time (Unix milliseconds) at `now`,
    /// which sealed adverts carry. Needed only with a class key; a beacon
    /// never given it learns it from its class (see [`crate::auth`]).
    pub fn set_wall_clock(&mut self, now: Instant, unix_ms: u64) {
        self.wall = WallClock::Given(offset_of(now, unix_ms));
    }

    /// Learns the class's time from a verified seal's `stamp` heard at
    /// `now`, unless the application gives the time: only ever forward.
    /// The first time learned sends every name at once.
    fn learn(&mut self, stamp: u64, now: Instant) {
        let offset = offset_of(now, stamp);
        match self.wall {
            WallClock::Given(_) => {}
            WallClock::Learned(known) if known >= offset => {}
            WallClock::Learned(_) => self.wall = WallClock::Learned(offset),
            WallClock::Unknown => {
                self.wall = WallClock::Learned(offset);
                self.advertise_again(now);
            }
        }
    }

    /// The one rule for the stamp of every verified seal (advert, answer,
    /// goodbye, query): stale if over [`auth::MAX_SKEW`] from a given clock
    /// either way, or behind a learned one; a fresh one teaches the class's
    /// time ([`Self::learn`]: forward only).
    fn accept_stamp(&mut self, stamp: u64, now: Instant) -> Result<(), auth::Rejected> {
        let skew = auth::MAX_SKEW.as_millis();
        let stale = match (self.wall, self.stamp(now)) {
            (WallClock::Given(_), Some(ours)) => ours.abs_diff(stamp) > skew,
            // A learned clock follows its class forward, never back.
            (WallClock::Learned(_), Some(ours)) => stamp.saturating_add(skew) < ours,
            _ => false,
        };
        if stale {
            return Err(auth::Rejected::Stale);
        }
        self.learn(stamp, now);
        Ok(())
    }

    /// Checks a sealed advert's, answer's or goodbye's freshness; `Ok(false)`
    /// for a duplicate or a replay of one already accepted for its name.
    fn fresh(&mut self, name: &str, stamp: u64, now: Instant) -> Result<bool, auth::Rejected> {
        if self.key.is_none() {
            return Ok(true);
        }
        self.accept_stamp(stamp, now)?;
        let hash = name_hash(name);
        match self.stamps.iter_mut().find(|(h, _)| *h == hash) {
            Some((_, last)) if stamp <= *last => Ok(false),
            Some((_, last)) => {
                *last = stamp;
                Ok(true)
            }
            None => {
                if self.stamps.is_full() {
                    // Forget the name heard longest ago.
                    if let Some(i) = self
                        .stamps
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, (_, t))| *t)
                        .map(|(i, _)| i)
                    {
                        self.stamps.swap_remove(i);
                    }
                }
                let _ = self.stamps.push((hash, stamp));
                Ok(true)
            }
        }
    }

    fn reject(&mut self, name: &str, source: SocketAddr, reason: auth::Rejected) -> DatagramError {
        self.event_with_name(name, |name| Event::Rejected {
            name,
            source,
            reason,
        });
        DatagramError::Rejected(reason)
    }
}

/// The offset from `now` to the wall-clock time `unix_ms`, clamped.
fn offset_of(now: Instant, unix_ms: u64) -> i64 {
    let offset = i128::from(unix_ms) - i128::from(now.as_millis());
    offset.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    type B = Beacon<64, 8>;
    const IF_A: Interface = Interface {
        ip: Ipv4Addr::new(10, 200, 1, 1),
        prefix_len: 24,
    };
    const IF_B: Interface = Interface {
        ip: Ipv4Addr::new(10, 200, 2, 1),
        prefix_len: 24,
    };

    fn ms(t: u64) -> Instant {
        Instant::from_millis(t)
    }
    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// The answer jitter's generator is Marsaglia's xorshift32 (its first outputs from
    /// state 1 are the published ones), and mixing never leaves it at 0, where
    /// xorshift would give 0 for ever and every beacon would answer at the same moment:
    /// 0x1228_9979 is the one input that `mix` multiplies to exactly 1 from state 0.
    #[test]
    fn the_jitter_generator_is_xorshift32_and_never_sticks_at_zero() {
        let mut r = Rng(1);
        assert_eq!(
            [r.next(), r.next(), r.next()],
            [270_369, 67_634_689, 2_647_435_461]
        );
        let mut r = Rng(0);
        r.mix(0x1228_9979);
        assert_eq!(r.0, 270_369, "mixed to state 1, then one step");
        assert_eq!(r.next(), 67_634_689);
    }

    /// The adapter's seed counts whole: two boards seeded with their 64-bit ids
    /// differ even when the ids' low halves are the same.
    #[test]
    fn every_bit_of_the_seed_counts() {
        let state = |seed: u64| {
            let mut b = B::new(Config::default());
            b.seed(seed);
            b.rng.0
        };
        assert_ne!(state(1 << 32), state(2 << 32));
        assert_ne!(state(1), state(2));
    }

    /// Loopback and 0.0.0.0 are never interfaces to advertise on, whatever the
    /// adapter lists: loopback is implied, 0.0.0.0 reaches nobody.
    #[test]
    fn loopback_and_unspecified_interfaces_are_left_out() {
        let mut b = B::new(Config::default());
        let loopback = Interface {
            ip: Ipv4Addr::LOCALHOST,
            prefix_len: 8,
        };
        let unspecified = Interface {
            ip: Ipv4Addr::UNSPECIFIED,
            prefix_len: 0,
        };
        b.set_interfaces(&[loopback, IF_A, unspecified, IF_B], ms(0));
        assert_eq!(b.interfaces(), &[IF_A, IF_B]);
    }

    #[test]
    fn an_interface_contains_its_subnet_only() {
        assert!(IF_A.contains(Ipv4Addr::new(10, 200, 1, 77)));
        assert!(IF_A.contains(IF_A.ip));
        assert!(!IF_A.contains(Ipv4Addr::new(10, 200, 2, 77)));
        assert!(!IF_A.contains(Ipv4Addr::new(0, 0, 0, 0)));
        let everything = Interface {
            ip: Ipv4Addr::new(10, 200, 1, 1),
            prefix_len: 0,
        };
        assert!(everything.contains(Ipv4Addr::new(192, 168, 0, 1)));
    }

    fn drain(b: &mut B, now: Instant) -> Vec<(SocketAddr, Vec<u8>, Kind)> {
        let mut out = Vec::new();
        let mut buf = [0u8; MAX_TRANSMIT];
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            out.push((t.destination, buf[..t.len].to_vec(), t.kind));
            assert!(out.len() < 10_000);
        }
        out
    }

    fn events(b: &mut B) -> Vec<Event> {
        core::iter::from_fn(|| b.poll_event()).collect()
    }

    #[test]
    fn loopback_only_host_advertises_to_loopback_broadcast() {
        let mut b = B::new(Config::default());
        let local = b.advertise("hello", sa("0.0.0.0:5555"), ms(0)).unwrap();
        assert_eq!(local, sa("127.0.0.1:5555"));
        assert_eq!(
            b.lookup("hello", ms(1)),
            Some(local),
            "own names are discoverable at once"
        );
        let sent = drain(&mut b, ms(0));
        assert_eq!(
            sent,
            [(
                sa("127.255.255.255:9999"),
                br#"["hello", "127.0.0.1:5555", 20]"#.to_vec(),
                Kind::Advert
            )]
        );
        assert_eq!(b.poll_timeout(), Some(ms(2000)));
        assert!(drain(&mut b, ms(1999)).is_empty());
        assert_eq!(drain(&mut b, ms(2000)).len(), 1);
    }

    #[test]
    fn each_interface_hears_its_own_address() {
        let mut b = B::new(Config::default());
        b.set_interfaces(&[IF_A, IF_B], ms(0));
        assert_eq!(
            b.advertise("svc", sa("0.0.0.0:7000"), ms(0)).unwrap(),
            sa("10.200.1.1:7000")
        );
        let sent: Vec<_> = drain(&mut b, ms(0))
            .into_iter()
            .map(|(to, bytes, _)| (to.to_string(), String::from_utf8(bytes).unwrap()))
            .collect();
        let want = [
            ("10.200.1.255:9999", r#"["svc", "10.200.1.1:7000", 20]"#),
            ("10.200.2.255:9999", r#"["svc", "10.200.2.1:7000", 20]"#),
            ("255.255.255.255:9999", r#"["svc", "10.200.1.1:7000", 20]"#),
            ("127.255.255.255:9999", r#"["svc", "10.200.1.1:7000", 20]"#),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(sent, want);
        // A fixed loopback address is only told to this host.
        b.advertise("local", sa("127.0.0.1:7001"), ms(10)).unwrap();
        let sent = drain(&mut b, ms(10));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, sa("127.255.255.255:9999"));
        // A new interface (Wi-Fi joins) triggers adverts at once.
        b.set_interfaces(&[IF_A], ms(20));
        assert_eq!(drain(&mut b, ms(20)).len(), 3 + 1);
    }

    #[test]
    fn refuses_names_python_could_not_read() {
        let mut b = B::new(Config::default());
        let long = "n".repeat(230);
        assert!(matches!(
            b.advertise(&long, sa("0.0.0.0:1"), ms(0)),
            Err(AdvertiseError::Encode(EncodeError::TooLong { .. }))
        ));
        assert!(b.advertise("", sa("0.0.0.0:1"), ms(0)).is_err());
        assert_eq!(
            b.advertise("v6", sa("[::1]:1"), ms(0)),
            Err(AdvertiseError::NotIpv4)
        );
        for i in 0..8 {
            b.advertise(&format!("n{i}"), sa("0.0.0.0:1"), ms(0))
                .unwrap();
        }
        assert_eq!(
            b.advertise("n9", sa("0.0.0.0:1"), ms(0)),
            Err(AdvertiseError::TooManyNames { capacity: 8 })
        );
        let msg = b
            .advertise(&long, sa("0.0.0.0:1"), ms(0))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("too long") && msg.contains("shorter name"),
            "{msg}"
        );
    }

    #[test]
    fn hears_adverts_expires_and_reports() {
        let mut b = B::new(Config::default());
        let src = sa("10.200.1.2:9999");
        b.handle_datagram(br#"["robot", "10.200.1.2:6000", 20]"#, src, ms(0))
            .unwrap();
        assert_eq!(
            events(&mut b),
            [Event::Appeared {
                name: "robot".try_into().unwrap(),
                address: sa("10.200.1.2:6000")
            }]
        );
        b.handle_datagram(br#"["robot", "10.200.1.3:6000", 20]"#, src, ms(100))
            .unwrap();
        assert!(matches!(events(&mut b)[..], [Event::Moved { .. }]));
        // The deadline may come early once (the first advert's expiry was
        // the soonest); then it is exact.
        assert_eq!(b.poll_timeout(), Some(ms(20_000)));
        b.handle_timeout(ms(20_000));
        assert!(events(&mut b).is_empty());
        assert_eq!(b.poll_timeout(), Some(ms(20_100)));
        b.handle_timeout(ms(20_099));
        assert_eq!(b.lookup("robot", ms(20_099)), Some(sa("10.200.1.3:6000")));
        b.handle_timeout(ms(20_100));
        assert_eq!(b.lookup("robot", ms(20_100)), None);
        assert!(matches!(events(&mut b)[..], [Event::Expired { .. }]));
    }

    #[test]
    fn forever_adverts_are_capped_and_own_names_stay() {
        let mut b = Beacon::<4, 2>::new(Config::default());
        b.advertise("mine", sa("0.0.0.0:7000"), ms(0)).unwrap();
        for i in 0..10 {
            let advert = format!("[\"flood{i}\", \"10.0.0.9:1\", null]");
            b.handle_datagram(advert.as_bytes(), sa("10.0.0.9:9999"), ms(i))
                .unwrap();
        }
        assert_eq!(
            b.lookup("mine", ms(10)),
            Some(sa("127.0.0.1:7000")),
            "own name evicted"
        );
        b.handle_timeout(ms(3_600_010));
        assert_eq!(
            b.adverts(ms(3_600_010)).count(),
            1,
            "null-ttl adverts must lapse"
        );
        // Someone else claiming our name on another port is a conflict.
        while b.poll_event().is_some() {}
        b.handle_datagram(
            br#"["mine", "10.0.0.9:7001", 20]"#,
            sa("10.0.0.9:9999"),
            ms(3_600_020),
        )
        .unwrap();
        assert!(matches!(b.poll_event(), Some(Event::Conflict { .. })));
        assert_eq!(b.lookup("mine", ms(3_600_020)), Some(sa("127.0.0.1:7000")));
    }

    /// A name that moves on twice (a laptop changing networks) is moved twice,
    /// not a conflict: only coming back to where it just was is a flip-flop.
    /// Our own adverts heard back (loopback) and our own goodbye are no conflict.
    /// A full table that makes room for a newcomer says both: it appeared, the
    /// oldest went.
    #[test]
    fn moves_own_echoes_and_evictions_are_reported_as_such() {
        let mut b = B::new(Config::default());
        let src = sa("10.0.0.1:9999");
        for (t, at) in [
            (0, "10.0.0.1:6000"),
            (100, "10.0.0.2:6001"),
            (200, "10.0.0.3:6002"),
        ] {
            let advert = format!("[\"robot\", \"{at}\", 20]");
            b.handle_datagram(advert.as_bytes(), src, ms(t)).unwrap();
        }
        let evs = events(&mut b);
        assert!(
            matches!(
                evs[..],
                [
                    Event::Appeared { .. },
                    Event::Moved { .. },
                    Event::Moved { .. }
                ]
            ),
            "{evs:?}"
        );

        let mut b = B::new(Config::default());
        b.set_interfaces(&[IF_A], ms(0));
        b.advertise("mine", sa("0.0.0.0:7000"), ms(0)).unwrap();
        let echoes = drain(&mut b, ms(0));
        let _ = events(&mut b);
        for (_, datagram, _) in &echoes {
            let _ = b.handle_datagram(datagram, sa("10.200.1.1:9999"), ms(1));
        }
        b.unadvertise("mine", ms(2));
        for t in 2..2_000 {
            for (_, datagram, _) in drain(&mut b, ms(t)) {
                let _ = b.handle_datagram(&datagram, sa("10.200.1.1:9999"), ms(t));
            }
        }
        let evs = events(&mut b);
        assert!(
            !evs.iter().any(|e| matches!(e, Event::Conflict { .. })),
            "{evs:?}"
        );

        let mut b = Beacon::<4, 2>::new(Config::default());
        for i in 0..5 {
            let advert = format!("[\"n{i}\", \"10.0.0.9:1\", 20]");
            b.handle_datagram(advert.as_bytes(), src, ms(i)).unwrap();
        }
        let evs: Vec<Event> = core::iter::from_fn(|| b.poll_event()).collect();
        let appeared = evs
            .iter()
            .filter(|e| matches!(e, Event::Appeared { .. }))
            .count();
        let expired = evs
            .iter()
            .filter(|e| matches!(e, Event::Expired { .. }))
            .count();
        assert_eq!((appeared, expired), (5, 1), "{evs:?}");
    }

    #[test]
    fn garbage_is_a_typed_error_and_changes_nothing() {
        let mut b = B::new(Config::default());
        let src = sa("10.200.1.2:9999");
        for bad in [
            &b"hello"[..],
            b"",
            b"[1,2,3]",
            b"NW0\x01X",
            b"NW0\x01A[",
            &[0xff; 300],
        ] {
            assert!(b.handle_datagram(bad, src, ms(0)).is_err());
        }
        assert_eq!(b.adverts(ms(0)).count(), 0);
        assert!(events(&mut b).is_empty());
    }

    /// A virtual LAN: broadcasts reach every beacon (the sender's host too),
    /// unicasts reach the beacon whose ephemeral address matches.
    struct Net {
        nodes: Vec<(B, SocketAddr)>,
        sent: usize,
    }

    impl Net {
        fn new(n: usize) -> Net {
            let nodes = (0..n)
                .map(|i| {
                    let mut b = B::new(Config::default());
                    let ip = Ipv4Addr::new(10, 200, 1, i as u8 + 1);
                    b.set_interfaces(&[Interface { ip, prefix_len: 24 }], ms(0));
                    (b, SocketAddr::from((ip, 40000)))
                })
                .collect();
            Net { nodes, sent: 0 }
        }

        fn step(&mut self, now: Instant) {
            for _ in 0..10 {
                let mut flying = Vec::new();
                for (i, (b, addr)) in self.nodes.iter_mut().enumerate() {
                    for (to, bytes, _) in drain(b, now) {
                        flying.push((i, *addr, to, bytes));
                    }
                }
                if flying.is_empty() {
                    return;
                }
                self.sent += flying.len();
                for (from, src, to, bytes) in flying {
                    for (j, (b, addr)) in self.nodes.iter_mut().enumerate() {
                        let broadcast = to.ip().is_loopback()
                            || to.ip() == Ipv4Addr::BROADCAST
                            || to.ip() == Ipv4Addr::new(10, 200, 1, 255);
                        let local_only = to.ip().is_loopback() && from != j;
                        if (broadcast && !local_only) || to == *addr {
                            b.handle_datagram(&bytes, src, now).unwrap();
                        }
                    }
                }
            }
        }

        fn run(&mut self, from: u64, to: u64) {
            for t in from..to {
                for (b, _) in &mut self.nodes {
                    b.handle_timeout(ms(t));
                }
                self.step(ms(t));
            }
        }
    }

    #[test]
    fn query_finds_a_running_service_at_once() {
        let mut net = Net::new(3);
        net.nodes[0]
            .0
            .advertise("turntable", sa("0.0.0.0:6000"), ms(0))
            .unwrap();
        net.run(0, 500);
        // Nodes 1 and 2 forget, as freshly started processes would.
        for i in [1u8, 2] {
            net.nodes[usize::from(i)].0 = B::new(Config::default());
            net.nodes[usize::from(i)].0.set_interfaces(
                &[Interface {
                    ip: Ipv4Addr::new(10, 200, 1, i + 1),
                    prefix_len: 24,
                }],
                ms(500),
            );
        }
        net.nodes[2].0.query(Some("turntable"), ms(500));
        // A lone asker is answered at once (in the same millisecond here).
        net.run(500, 501);
        for i in [1, 2] {
            assert_eq!(
                net.nodes[i].0.lookup("turntable", ms(500)),
                Some(sa("10.200.1.1:6000")),
                "node {i}: the answer is broadcast, so it reaches everyone"
            );
        }
    }

    /// A whole class asks at once: one broadcast answers every asker, and
    /// the copies of each query (by two broadcast addresses) add nothing.
    #[test]
    fn many_askers_of_one_name_share_one_answer() {
        let mut b = B::new(Config::default());
        b.set_interfaces(&[IF_A], ms(0));
        b.advertise("teacher", sa("0.0.0.0:6000"), ms(0)).unwrap();
        let _ = drain(&mut b, ms(0));
        let mut scheduled = 0;
        for i in 0..20u8 {
            let asker = SocketAddr::from(([10, 200, 1, 10 + i], 40000));
            for _copy in 0..2 {
                match b.handle_datagram(b"NW0\x01Qteacher", asker, ms(100 + u64::from(i % 5))) {
                    Ok(Received::Query { answers }) => scheduled += answers,
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(scheduled, 1, "one answer for all 40 queries");
        let mut sent = Vec::new();
        for t in 100..105 {
            sent.extend(drain(&mut b, ms(t)).into_iter().map(|d| (t, d)));
        }
        let destinations: Vec<_> = sent.iter().map(|(_, (to, _, _))| to.to_string()).collect();
        assert_eq!(
            destinations,
            [
                "10.200.1.255:9997",
                "255.255.255.255:9997",
                "127.255.255.255:9997"
            ]
        );
        let (t, (_, bytes, kind)) = &sent[0];
        assert_eq!(*kind, Kind::Answer);
        assert_eq!(
            &bytes[..],
            b"NW0\x01A[\"teacher\", \"10.200.1.1:6000\", 20]"
        );
        assert_eq!(
            *t, 100,
            "the first query after a quiet spell is answered at once"
        );
        // Asked again long after that answer (someone started late, or it
        // was lost): answered again, at once.
        b.handle_datagram(b"NW0\x01Qteacher", sa("10.200.1.99:40000"), ms(300))
            .unwrap();
        assert_eq!(drain(&mut b, ms(300)).len(), 3);
    }

    /// A class whose queries come a few ms apart (the first answered at
    /// once): those after the first answer share the next broadcast, sent
    /// `answer_delay` plus jitter after it; a copy of the first query (by
    /// the other broadcast address) after its answer asks for nothing.
    #[test]
    fn askers_after_an_answer_share_the_next_one() {
        let config = Config::default();
        let (delay, jitter) = (
            config.answer_delay.as_millis(),
            config.answer_jitter.as_millis(),
        );
        let mut b = B::new(config);
        b.set_interfaces(&[IF_A], ms(0));
        b.advertise("teacher", sa("0.0.0.0:6000"), ms(0)).unwrap();
        let _ = drain(&mut b, ms(0));
        let first = sa("10.200.1.10:40000");
        let query = |b: &mut B, asker, t| match b.handle_datagram(b"NW0\x01Qteacher", asker, ms(t))
        {
            Ok(Received::Query { answers }) => answers,
            other => panic!("{other:?}"),
        };
        assert_eq!(query(&mut b, first, 100), 1);
        assert_eq!(drain(&mut b, ms(100)).len(), 3, "answered at once");
        assert_eq!(
            query(&mut b, first, 101),
            0,
            "a copy of the query just answered"
        );
        let mut scheduled = 0;
        // All within `answer_delay` of the answer, in order.
        let asked = |i: u8| 101 + u64::from(i) * (delay - 1) / 20;
        for i in 0..20u8 {
            let asker = SocketAddr::from(([10, 200, 1, 11 + i], 40000));
            scheduled += query(&mut b, asker, asked(i));
        }
        assert_eq!(scheduled, 1, "the 20 askers after it share one answer");
        let mut sent = Vec::new();
        for t in asked(19)..200 {
            sent.extend(drain(&mut b, ms(t)).into_iter().map(|(_, _, k)| (t, k)));
        }
        assert_eq!(sent.len(), 3, "one more broadcast: {sent:?}");
        let t = sent[0].0;
        assert!(
            (100 + delay..=100 + delay + jitter).contains(&t),
            "the shared answer at {t} ms: {delay} ms and jitter after the last one"
        );
        assert!(sent.iter().all(|&(_, k)| k == Kind::Answer));
        // Its asker asking again `answer_delay` after it is a new query (a
        // retry), not a copy of the one answered.
        let again = SocketAddr::from(([10, 200, 1, 11], 40000));
        assert_eq!(query(&mut b, again, t + delay), 1, "a retry is answered");
    }

    /// A class whose queries keep coming, one a millisecond for 30 ms (a
    /// busy computer starting its programs): every asker hears a broadcast
    /// within `answer_delay` plus jitter (5 to 10 ms) of asking, so the last
    /// to ask is not left twice as long as the others; and the name is
    /// still broadcast at most once per `answer_delay`, a few times in all.
    #[test]
    fn a_stream_of_askers_is_answered_within_the_shared_gap() {
        let config = Config::default();
        let most = (config.answer_delay + config.answer_jitter).as_millis();
        assert!(most <= 10, "the shared gap is {most} ms");
        let mut b = B::new(config);
        b.set_interfaces(&[IF_A], ms(0));
        b.advertise("teacher", sa("0.0.0.0:6000"), ms(0)).unwrap();
        let _ = drain(&mut b, ms(0));
        let mut waiting: Vec<u64> = Vec::new();
        let mut broadcasts = Vec::new();
        for t in 100..200u64 {
            if t < 130 {
                let asker = SocketAddr::from(([10, 200, 1, (t - 99) as u8], 40000));
                b.handle_datagram(b"NW0\x01Qteacher", asker, ms(t)).unwrap();
                waiting.push(t);
            }
            if !drain(&mut b, ms(t)).is_empty() {
                for asked in waiting.drain(..) {
                    assert!(t - asked <= most, "asked at {asked} ms, answered at {t} ms");
                }
                broadcasts.push(t);
            }
        }
        assert!(waiting.is_empty(), "never answered: {waiting:?}");
        assert!(
            broadcasts
                .windows(2)
                .all(|w| w[1] - w[0] >= config.answer_delay.as_millis()),
            "{broadcasts:?}"
        );
        assert!(
            broadcasts.len() as u64 <= 1 + 30 / config.answer_delay.as_millis(),
            "{broadcasts:?}"
        );
    }

    /// A fresh `ls` asks for every name: each beacon answers straight to the
    /// asker, at a moment of its own within the spread window.
    #[test]
    fn answers_to_everything_go_to_the_asker_spread_out() {
        let config = Config::default();
        let soonest = config.answer_delay.as_millis();
        let latest = soonest + config.everything_spread.as_millis();
        let asker = sa("10.200.1.99:41000");
        let mut moments = Vec::new();
        for seed in 0..40 {
            let mut b = B::new(config);
            b.seed(seed);
            b.set_interfaces(&[IF_A], ms(0));
            b.advertise("a", sa("0.0.0.0:6000"), ms(0)).unwrap();
            b.advertise("b", sa("0.0.0.0:6001"), ms(0)).unwrap();
            let _ = drain(&mut b, ms(0));
            for _copy in 0..3 {
                assert!(b.handle_datagram(b"NW0\x01Q", asker, ms(1000)).is_ok());
            }
            let mut sent = Vec::new();
            for t in 1000..1000 + latest + 2 {
                for (to, bytes, kind) in drain(&mut b, ms(t)) {
                    sent.push((t - 1000, to, kind, bytes));
                }
            }
            assert_eq!(
                sent.len(),
                2,
                "one answer per name, copies ignored: {sent:?}"
            );
            for (t, to, kind, _) in &sent {
                assert_eq!((*to, *kind), (asker, Kind::Answer));
                assert!((soonest..=latest).contains(t), "answered at {t} ms");
            }
            moments.push(sent[0].0);
        }
        moments.sort_unstable();
        moments.dedup();
        assert!(moments.len() > 20, "answers are not spread: {moments:?}");
    }

    /// Askers of everything are answered at a bounded rate, and only a few
    /// at a time are remembered: a flood of them from many sources costs a
    /// bounded amount of memory and sending.
    #[test]
    fn everything_floods_are_bounded() {
        let mut b = B::new(Config::default());
        for i in 0..8 {
            b.advertise(&format!("n{i}"), sa("0.0.0.0:1"), ms(0))
                .unwrap();
        }
        let _ = drain(&mut b, ms(0));
        let mut answers = 0;
        for t in 0..2000u64 {
            let asker = SocketAddr::from(([10, 0, (t >> 8) as u8, t as u8], 5000));
            let _ = b.handle_datagram(b"NW0\x01Q", asker, ms(t));
            answers += drain(&mut b, ms(t)).len();
        }
        assert!(answers <= 2 * 50 + 16, "{answers} answers in two seconds");
        assert!(answers >= 2 * 50 - 16, "{answers} answers in two seconds");
    }

    /// What the beacon says it scheduled for each asker of every name: its
    /// names for each of the first `ASKERS`, then one shared broadcast of
    /// each for the crowd, then nothing more while that is pending.
    #[test]
    fn a_crowd_s_shared_broadcast_is_counted_once() {
        let mut b = B::new(Config::default());
        b.set_interfaces(&[IF_A], ms(0));
        b.advertise("a", sa("0.0.0.0:6000"), ms(0)).unwrap();
        b.advertise("b", sa("0.0.0.0:6001"), ms(0)).unwrap();
        let _ = drain(&mut b, ms(0));
        let answers: Vec<usize> = (0..ASKERS as u16 + 2)
            .map(|i| {
                let who = SocketAddr::from(([10, 200, 1, 100], 41000 + i));
                match b.handle_datagram(b"NW0\x01Q", who, ms(1000)) {
                    Ok(Received::Query { answers }) => answers,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        let mut want = vec![2; ASKERS];
        want.extend([2, 0]);
        assert_eq!(answers, want);
    }

    /// More askers of every name than a beacon answers one by one (a crowd
    /// of programs starting) share a broadcast of each name, at most one
    /// per `crowd_gap`: every asker, the last too, is answered within the
    /// gap plus the spread window, by an answer to it or a broadcast.
    #[test]
    fn a_crowd_asking_for_everything_shares_a_broadcast() {
        let config = Config::default();
        let within =
            (config.crowd_gap + config.answer_delay + config.everything_spread).as_millis();
        let subnet = SocketAddr::from((IF_A.broadcast(), ext::EXT_PORT));
        for seed in 0..10 {
            let mut b = B::new(config);
            b.seed(seed);
            b.set_interfaces(&[IF_A], ms(0));
            b.advertise("a", sa("0.0.0.0:6000"), ms(0)).unwrap();
            let _ = drain(&mut b, ms(0));
            // 100 fresh askers over a second, each on a port of its own.
            let asker = |i: u64| SocketAddr::from(([10, 200, 1, 100], 41000 + i as u16));
            let mut asked = Vec::new();
            let mut sent = Vec::new();
            for t in 1000..3000u64 {
                if t < 2000 && t % 10 == 0 {
                    let who = asker(t / 10);
                    let _ = b.handle_datagram(b"NW0\x01Q", who, ms(t)).unwrap();
                    asked.push((t, who));
                }
                for (to, _, kind) in drain(&mut b, ms(t)) {
                    if kind == Kind::Answer {
                        sent.push((t, to));
                    }
                }
            }
            let broadcasts: Vec<u64> = sent
                .iter()
                .filter(|(_, to)| *to == subnet)
                .map(|(t, _)| *t)
                .collect();
            for (t, who) in asked {
                let answered = sent
                    .iter()
                    .find(|(at, to)| *at >= t && (*to == who || *to == subnet));
                assert!(
                    answered.is_some_and(|(at, _)| at - t <= within),
                    "seed {seed}: asked at {t} ms, answered {answered:?}"
                );
            }
            assert!(broadcasts.len() >= 2, "seed {seed}: {broadcasts:?}");
            for pair in broadcasts.windows(2) {
                assert!(
                    pair[1] - pair[0] >= config.crowd_gap.as_millis(),
                    "seed {seed}: broadcasts at {broadcasts:?}"
                );
            }
        }
    }

    /// Python drops an advert whose ttl has passed as soon as it hears it:
    /// a ttl-0 advert is how a goodbye reaches it, and ours take it so too.
    #[test]
    fn a_ttl_0_advert_is_a_goodbye() {
        let mut b = B::new(Config::default());
        let src = sa("10.200.1.2:9999");
        b.handle_datagram(br#"["robot", "10.200.1.2:6000", 20]"#, src, ms(0))
            .unwrap();
        let _ = events(&mut b);
        // For another address (the name has moved on): changes nothing.
        assert_eq!(
            b.handle_datagram(br#"["robot", "10.200.1.2:5999", 0]"#, src, ms(1)),
            Ok(Received::Goodbye)
        );
        assert!(b.lookup("robot", ms(1)).is_some());
        assert_eq!(
            b.handle_datagram(br#"["robot", "10.200.1.2:6000", 0]"#, src, ms(2)),
            Ok(Received::Goodbye)
        );
        assert_eq!(b.lookup("robot", ms(2)), None);
        assert_eq!(
            events(&mut b),
            [Event::Expired {
                name: "robot".try_into().unwrap(),
                address: sa("10.200.1.2:6000")
            }]
        );
        // A ttl-0 advert for a name never heard is not an appearance.
        b.handle_datagram(br#"["ghost", "10.200.1.2:6000", 0]"#, src, ms(3))
            .unwrap();
        assert!(events(&mut b).is_empty());
        assert_eq!(b.adverts(ms(3)).count(), 0);
    }

    /// Python's beacon RPC: `ttl_s` (a number, or None for ever) is what the
    /// adverts and answers carry.
    #[test]
    fn a_name_carries_the_ttl_it_was_given() {
        let mut b = B::new(Config::default());
        b.advertise_with(
            "five",
            sa("127.0.0.1:1"),
            Ttl::For(Duration::from_millis(5_500)),
            false,
            ms(0),
        )
        .unwrap();
        b.advertise_with("ever", sa("127.0.0.1:2"), Ttl::Forever, false, ms(0))
            .unwrap();
        let sent: Vec<_> = drain(&mut b, ms(0))
            .into_iter()
            .map(|(_, d, _)| d)
            .collect();
        assert_eq!(
            sent,
            [
                br#"["five", "127.0.0.1:1", 5.500]"#.to_vec(),
                br#"["ever", "127.0.0.1:2", null]"#.to_vec()
            ]
        );
        b.handle_datagram(b"NW0\x01Qever", sa("127.0.0.1:40000"), ms(10))
            .unwrap();
        let answers: Vec<_> = (10..40).flat_map(|t| drain(&mut b, ms(t))).collect();
        assert_eq!(answers[0].1, b"NW0\x01A[\"ever\", \"127.0.0.1:2\", null]");
        // A name too long for `null` (two bytes more than "20") is refused.
        let long = "n".repeat(256 - br#"["", "255.255.255.255:1", 20]"#.len());
        assert!(b.advertise(&long, sa("127.0.0.1:1"), ms(50)).is_ok());
        assert!(b
            .advertise_with(&long, sa("127.0.0.1:1"), Ttl::Forever, false, ms(50))
            .is_err());
    }

    /// Python's beacon `pause`: a held-back name is neither advertised nor
    /// answered, nor said goodbye to, but stays discoverable here; on
    /// `resume` it is advertised at once.
    #[test]
    fn a_paused_name_is_silent_until_resumed() {
        let mut b = B::new(Config::default());
        b.advertise_with("held", sa("127.0.0.1:1"), Ttl::Default, true, ms(0))
            .unwrap();
        b.advertise("mine", sa("127.0.0.1:2"), ms(0)).unwrap();
        let names = |sent: &[(SocketAddr, Vec<u8>, Kind)]| -> Vec<String> {
            sent.iter()
                .map(|(_, d, _)| String::from_utf8_lossy(d).into_owned())
                .collect()
        };
        let mut sent = Vec::new();
        for t in 0..5_000 {
            b.handle_timeout(ms(t));
            if t == 100 {
                for q in [&b"NW0\x01Qheld"[..], b"NW0\x01Q"] {
                    b.handle_datagram(q, sa("127.0.0.1:40000"), ms(t)).unwrap();
                }
            }
            sent.extend(drain(&mut b, ms(t)));
        }
        assert!(
            names(&sent).iter().all(|d| !d.contains("held")),
            "{:?}",
            names(&sent)
        );
        assert!(names(&sent).iter().any(|d| d.contains("mine")));
        assert_eq!(b.lookup("held", ms(5_000)), Some(sa("127.0.0.1:1")));
        assert!(
            b.poll_timeout().is_some_and(|t| t > ms(5_000)),
            "no busy loop"
        );
        assert!(b.set_paused("held", false, ms(5_000)));
        assert!(names(&drain(&mut b, ms(5_000)))
            .iter()
            .any(|d| d.contains("held")));
        assert!(b.set_paused("held", true, ms(5_001)));
        assert!(b.unadvertise("held", ms(5_002)));
        assert!(
            drain(&mut b, ms(5_002)).is_empty(),
            "no goodbye while held back"
        );
        assert!(!b.set_paused("nobody", true, ms(5_003)));
    }

    /// Asking again for a name asks for that name at once (its query starts
    /// over), not for another name being asked for.
    #[test]
    fn asking_again_restarts_that_names_query() {
        let mut b = B::new(Config::default());
        b.query(Some("a"), ms(0));
        b.query(Some("b"), ms(0));
        let mut first: Vec<Vec<u8>> = drain(&mut b, ms(0))
            .into_iter()
            .map(|(_, d, _)| d)
            .collect();
        first.sort();
        first.dedup();
        assert_eq!(
            first,
            [&b"NW0\x01Qa"[..], b"NW0\x01Qb"],
            "both names asked for"
        );
        assert!(drain(&mut b, ms(20)).is_empty(), "no retry due yet");
        b.query(Some("a"), ms(20));
        let sent = drain(&mut b, ms(20));
        assert!(!sent.is_empty());
        for (_, bytes, kind) in &sent {
            assert_eq!((*kind, bytes.as_slice()), (Kind::Query, &b"NW0\x01Qa"[..]));
        }
    }

    /// A name let go again (`resume`) is advertised at once, not at the moment
    /// its next advert was due before it was held back; and `advertise_again`
    /// (a new class key) sends every name at once too.
    #[test]
    fn resumed_and_readvertised_names_go_out_at_once() {
        let mut b = B::new(Config::default());
        b.advertise("mine", sa("127.0.0.1:2"), ms(0)).unwrap();
        assert!(!drain(&mut b, ms(0)).is_empty());
        assert!(drain(&mut b, ms(10)).is_empty(), "nothing due yet");
        assert!(b.set_paused("mine", true, ms(10)));
        assert!(b.set_paused("mine", false, ms(20)));
        assert!(!drain(&mut b, ms(20)).is_empty(), "resumed: sent at once");
        assert!(drain(&mut b, ms(30)).is_empty());
        b.advertise_again(ms(30));
        assert!(
            !drain(&mut b, ms(30)).is_empty(),
            "advertised again at once"
        );
    }

    /// An asker of everything is answered name by name; a name that goes away
    /// meanwhile (here a held-back one, forgotten at once) does not make the
    /// answers skip the name after it.
    #[test]
    fn answers_to_everything_go_on_when_an_earlier_name_goes() {
        let config = Config::default();
        let end = 1000 + config.answer_delay.as_millis() + config.everything_spread.as_millis() + 2;
        let asker = sa("10.200.1.99:41000");
        // "held" before both answered names, and between them (then it is the
        // asker's next name when it goes).
        for (seed, held_at) in (0..10).flat_map(|seed| [(seed, 0), (seed, 1)]) {
            let mut b = B::new(config);
            b.seed(seed);
            b.set_interfaces(&[IF_A], ms(0));
            for (i, name) in ["b", "c"].into_iter().enumerate() {
                if i == held_at {
                    b.advertise_with("held", sa("0.0.0.0:5999"), Ttl::Default, true, ms(0))
                        .unwrap();
                }
                b.advertise(name, sa("0.0.0.0:6000"), ms(0)).unwrap();
            }
            let _ = drain(&mut b, ms(0));
            b.handle_datagram(b"NW0\x01Q", asker, ms(1000)).unwrap();
            let mut answered = Vec::new();
            let mut buf = [0u8; MAX_TRANSMIT];
            for t in 1000..end {
                while let Some(tx) = b.poll_transmit(ms(t), &mut buf) {
                    if tx.kind != Kind::Answer {
                        continue;
                    }
                    answered.push(String::from_utf8_lossy(&buf[..tx.len]).into_owned());
                    // Between the first answer and the second: "held" (before
                    // both in the list) goes.
                    if answered.len() == 1 {
                        assert!(b.unadvertise("held", ms(t)));
                    }
                }
            }
            assert_eq!(answered.len(), 2, "seed {seed}, {held_at}: {answered:?}");
            assert!(
                answered[0].contains("\"b\"") && answered[1].contains("\"c\""),
                "seed {seed}, {held_at}: {answered:?}"
            );
        }
    }

    /// Python's beacon `reset`: every heard name is forgotten; names this
    /// node advertises stay discoverable.
    #[test]
    fn forgetting_what_was_heard_keeps_our_own() {
        let mut b = B::new(Config::default());
        b.advertise("mine", sa("127.0.0.1:2"), ms(0)).unwrap();
        b.handle_datagram(
            br#"["theirs", "10.0.0.9:1", 20]"#,
            sa("10.0.0.9:9999"),
            ms(1),
        )
        .unwrap();
        assert_eq!(b.adverts(ms(2)).count(), 2);
        b.forget_heard();
        let left: Vec<_> = b.adverts(ms(3)).map(|e| e.name.as_str()).collect();
        assert_eq!(left, ["mine"]);
        b.handle_datagram(
            br#"["theirs", "10.0.0.9:1", 20]"#,
            sa("10.0.0.9:9999"),
            ms(4),
        )
        .unwrap();
        assert!(
            b.lookup("theirs", ms(5)).is_some(),
            "back with its next advert"
        );
    }

    /// Every unadvertised name gets its goodbye, however many at once; at
    /// exit (`farewell`) they all go out at once, past the rate limit.
    #[test]
    fn every_name_gets_its_goodbye() {
        let goodbyes = |sent: &[(SocketAddr, Vec<u8>, Kind)]| -> Vec<String> {
            let mut v: Vec<String> = sent
                .iter()
                .filter(|(to, _, k)| *k == Kind::Goodbye && to.port() == 9999)
                .map(|(_, d, _)| String::from_utf8_lossy(d).into_owned())
                .collect();
            v.sort();
            v
        };
        let mut b = B::new(Config::default());
        b.set_interfaces(&[IF_A], ms(0));
        for i in 0..8 {
            b.advertise(&format!("n{i}"), sa("0.0.0.0:7000"), ms(0))
                .unwrap();
        }
        let _ = drain(&mut b, ms(0));
        for i in 0..5 {
            assert!(b.unadvertise(&format!("n{i}"), ms(10)));
        }
        assert!(!b.unadvertise("n0", ms(10)), "already gone");
        assert_eq!(b.advertised().count(), 3);
        let mut sent = Vec::new();
        for t in 10..2_000 {
            sent.extend(drain(&mut b, ms(t)));
        }
        let want: Vec<String> = (0..5)
            .flat_map(|i| {
                let d = format!("[\"n{i}\", \"10.200.1.1:7000\", 0]");
                [d.clone(), d.clone(), d]
            })
            .collect();
        assert_eq!(goodbyes(&sent), want);
        // The program ends: the other three, all now, rate limit or not.
        b.farewell();
        assert_eq!(b.advertised().count(), 0);
        let at_exit = drain(&mut b, ms(2_000));
        assert_eq!(goodbyes(&at_exit).len(), 3 * 3);
        assert_eq!(at_exit.len(), 3 * 6, "and to 9997");
        assert_eq!(b.adverts(ms(2_000)).count(), 0);
    }

    #[test]
    fn goodbyes_reach_python_as_a_ttl_0_advert() {
        let mut b = B::new(Config::default());
        b.set_interfaces(&[IF_A], ms(0));
        b.advertise("robot", sa("0.0.0.0:6000"), ms(0)).unwrap();
        let _ = drain(&mut b, ms(0));
        assert!(b.unadvertise("robot", ms(5)));
        let sent: Vec<_> = drain(&mut b, ms(5))
            .into_iter()
            .map(|(to, bytes, kind)| {
                (
                    to.to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                    kind,
                )
            })
            .collect();
        let ext = "NW0\x01B[\"robot\", \"10.200.1.1:6000\", 0]";
        let python = r#"["robot", "10.200.1.1:6000", 0]"#;
        let want = [
            ("10.200.1.255:9997", ext),
            ("255.255.255.255:9997", ext),
            ("127.255.255.255:9997", ext),
            ("10.200.1.255:9999", python),
            ("255.255.255.255:9999", python),
            ("127.255.255.255:9999", python),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(to, d)| (to.to_string(), d.to_string(), Kind::Goodbye))
            .collect();
        assert_eq!(sent, want);
    }

    #[test]
    fn goodbye_removes_the_name_everywhere_at_once() {
        let mut net = Net::new(2);
        net.nodes[0]
            .0
            .advertise("x", sa("0.0.0.0:6000"), ms(0))
            .unwrap();
        net.run(0, 10);
        assert!(net.nodes[1].0.lookup("x", ms(10)).is_some());
        assert!(net.nodes[0].0.unadvertise("x", ms(10)));
        net.step(ms(10));
        assert_eq!(net.nodes[1].0.lookup("x", ms(10)), None);
        assert!(events(&mut net.nodes[1].0)
            .iter()
            .any(|e| matches!(e, Event::Expired { .. })));
        assert!(!net.nodes[0].0.unadvertise("x", ms(11)));
    }

    #[test]
    fn query_floods_are_answered_at_a_bounded_rate() {
        let mut b = B::new(Config::default());
        b.advertise("x", sa("0.0.0.0:1"), ms(0)).unwrap();
        let _ = drain(&mut b, ms(0));
        let mut answers = 0;
        for t in 0..1000 {
            for _ in 0..10 {
                let _ = b.handle_datagram(b"NW0\x01Qx", sa("10.0.0.9:5000"), ms(t));
            }
            answers += drain(&mut b, ms(t))
                .iter()
                .filter(|(_, _, k)| *k == Kind::Answer)
                .count();
        }
        assert!(answers <= 50 + 16, "{answers} answers in one second");
        assert!(answers >= 50);
    }

    #[test]
    fn many_names_stay_alive_at_a_bounded_rate() {
        type Big = Beacon<256, 128>;
        let mut tx = Big::new(Config::default());
        let mut rx = Big::new(Config::default());
        tx.set_interfaces(&[IF_A, IF_B], ms(0));
        for i in 0..128 {
            tx.advertise(&format!("name-{i}"), sa("0.0.0.0:7000"), ms(0))
                .unwrap();
        }
        let mut buf = [0u8; MAX_TRANSMIT];
        let mut per_second = [0usize; 90];
        for t in 0..90_000u64 {
            tx.handle_timeout(ms(t));
            rx.handle_timeout(ms(t));
            while let Some(x) = tx.poll_transmit(ms(t), &mut buf) {
                per_second[(t / 1000) as usize] += 1;
                if x.destination.ip() == Ipv4Addr::new(10, 200, 1, 255) {
                    rx.handle_datagram(&buf[..x.len], sa("10.200.1.1:9999"), ms(t))
                        .unwrap();
                }
            }
            if t > 30_000 && t % 500 == 0 {
                assert_eq!(
                    rx.adverts(ms(t)).count(),
                    128,
                    "a live name expired at {t} ms"
                );
            }
        }
        let max = *per_second.iter().max().unwrap();
        assert!(max <= 50 + 32, "{max} datagrams in one second");
    }

    #[test]
    fn flip_flopping_owners_are_a_conflict() {
        let mut b = B::new(Config::default());
        let src = sa("10.0.0.1:9999");
        b.handle_datagram(br#"["robot", "10.0.0.1:6000", 20]"#, src, ms(0))
            .unwrap();
        b.handle_datagram(br#"["robot", "10.0.0.2:6001", 20]"#, src, ms(100))
            .unwrap();
        b.handle_datagram(br#"["robot", "10.0.0.1:6000", 20]"#, src, ms(2000))
            .unwrap();
        let evs = events(&mut b);
        assert!(
            matches!(evs.last(), Some(Event::Conflict { .. })),
            "{evs:?}"
        );
        // Restarting on a new port is a move, not a conflict.
        let mut b = B::new(Config::default());
        b.handle_datagram(br#"["robot", "10.0.0.1:6000", 20]"#, src, ms(0))
            .unwrap();
        b.handle_datagram(br#"["robot", "10.0.0.1:6001", 20]"#, src, ms(100))
            .unwrap();
        b.handle_datagram(br#"["robot", "10.0.0.1:6001", 20]"#, src, ms(2000))
            .unwrap();
        assert!(!events(&mut b)
            .iter()
            .any(|e| matches!(e, Event::Conflict { .. })));
    }

    #[cfg(feature = "class-key")]
    fn keyed(passphrase: &str, unix_ms: u64) -> B {
        let mut b = B::new(Config::default());
        b.set_class_key(Some(ClassKey::from_passphrase(passphrase)));
        b.set_wall_clock(ms(0), unix_ms);
        b
    }

    #[cfg(feature = "class-key")]
    #[test]
    fn a_class_key_seals_adverts_and_refuses_everything_else() {
        const T: u64 = 1_764_000_000_000;
        let mut tx = keyed("blue whale", T);
        let mut rx = keyed("blue whale", T + 5_000); // clocks 5 s apart
        let src = sa("10.0.0.1:9997");
        tx.advertise("robot", sa("10.0.0.1:5000"), ms(0)).unwrap();
        let sent = drain(&mut tx, ms(0));
        assert!(
            sent.iter()
                .all(|(to, d, _)| to.port() == 9997 && d.starts_with(b"NW0\x01k")),
            "sealed, never to 9999"
        );
        let (_, datagram, _) = sent[0].clone();
        assert_eq!(
            rx.handle_datagram(&datagram, src, ms(0)),
            Ok(Received::Advert)
        );
        assert_eq!(rx.lookup("robot", ms(1)), Some(sa("10.0.0.1:5000")));
        // The same datagram again: a copy or a replay, ignored quietly.
        assert_eq!(
            rx.handle_datagram(&datagram, src, ms(2)),
            Ok(Received::Duplicate)
        );
        while rx.poll_event().is_some() {}

        // Someone without the key claims the name, plainly or with a guess.
        let spoof = br#"["robot", "10.0.0.66:5000", 20]"#;
        assert_eq!(
            rx.handle_datagram(spoof, sa("10.0.0.66:9999"), ms(3)),
            Err(DatagramError::Rejected(auth::Rejected::Unsealed))
        );
        let mut liar = keyed("red fox", T);
        liar.advertise("robot", sa("10.0.0.66:5000"), ms(0))
            .unwrap();
        let (_, forged, _) = drain(&mut liar, ms(0))[0].clone();
        assert_eq!(
            rx.handle_datagram(&forged, sa("10.0.0.66:9997"), ms(4)),
            Err(DatagramError::Rejected(auth::Rejected::BadSeal))
        );
        assert_eq!(
            rx.lookup("robot", ms(5)),
            Some(sa("10.0.0.1:5000")),
            "not hijacked"
        );
        let events = events(&mut rx);
        assert!(
            matches!(&events[..], [Event::Rejected { name, reason: auth::Rejected::Unsealed, .. }, Event::Rejected { reason: auth::Rejected::BadSeal, .. }] if name == "robot"),
            "{events:?}"
        );

        // A recorded advert replayed two minutes later is stale.
        let mut late = keyed("blue whale", T + 120_000);
        assert_eq!(
            late.handle_datagram(&datagram, src, ms(0)),
            Err(DatagramError::Rejected(auth::Rejected::Stale))
        );

        // Goodbyes are sealed too.
        tx.unadvertise("robot", ms(10));
        let byes = drain(&mut tx, ms(10));
        assert!(
            byes.iter().all(|(to, _, _)| to.port() == 9997),
            "with a key, no plain ttl-0 advert to 9999"
        );
        let (_, bye, _) = byes[0].clone();
        assert!(bye.starts_with(b"NW0\x01G"));
        assert_eq!(rx.handle_datagram(&bye, src, ms(11)), Ok(Received::Goodbye));
        assert_eq!(rx.lookup("robot", ms(12)), None);
    }

    /// With a class key, an unsealed answer or goodbye (our own extension
    /// datagrams, as an unkeyed program sends them) is refused like an unsealed
    /// advert: neither can claim a name nor make one vanish.
    #[cfg(feature = "class-key")]
    #[test]
    fn a_keyed_beacon_refuses_unsealed_answers_and_goodbyes() {
        const T: u64 = 1_764_000_000_000;
        let mut rx = keyed("blue whale", T);
        let sealed = sealed_advert("blue whale", "robot", T);
        rx.handle_datagram(&sealed, sa("10.0.0.1:9997"), ms(0))
            .unwrap();

        let mut open = B::new(Config::default());
        open.advertise("robot", sa("10.0.0.66:5000"), ms(0))
            .unwrap();
        let _ = drain(&mut open, ms(0));
        open.handle_datagram(b"NW0\x01Qrobot", sa("10.0.0.9:40000"), ms(10))
            .unwrap();
        let answer = drain(&mut open, ms(10))
            .into_iter()
            .find(|(_, _, k)| *k == Kind::Answer)
            .expect("an unsealed answer")
            .1;
        open.unadvertise("robot", ms(20));
        let goodbye = (20..2_000)
            .flat_map(|t| drain(&mut open, ms(t)))
            .map(|(_, d, _)| d)
            .find(|d| d.starts_with(b"NW0\x01B"))
            .expect("an unsealed goodbye");
        for datagram in [answer, goodbye] {
            assert_eq!(
                rx.handle_datagram(&datagram, sa("10.0.0.66:9997"), ms(30)),
                Err(DatagramError::Rejected(auth::Rejected::Unsealed)),
                "{:?}",
                String::from_utf8_lossy(&datagram)
            );
        }
        assert_eq!(rx.lookup("robot", ms(31)), Some(sa("10.0.0.1:5000")));
    }

    /// The longest name a beacon takes still goes out sealed: its sealed advert is the
    /// largest datagram a beacon writes, and `MAX_TRANSMIT` must hold it.
    #[cfg(feature = "class-key")]
    #[test]
    fn the_longest_name_goes_out_sealed() {
        const T: u64 = 1_764_000_000_000;
        let at = sa("10.0.0.1:5000");
        let (mut tx, name) = (1..=advert::MAX_DATAGRAM)
            .rev()
            .map(|n| (keyed("blue whale", T), "n".repeat(n)))
            .find_map(|(mut tx, name)| tx.advertise(&name, at, ms(0)).ok().map(|_| (tx, name)))
            .unwrap();
        let sent = drain(&mut tx, ms(0));
        let (_, datagram, _) = sent.first().expect("the sealed advert was sent").clone();
        assert!(
            datagram.len() > advert::MAX_DATAGRAM,
            "longer than any plain advert"
        );
        let mut rx = keyed("blue whale", T);
        assert_eq!(
            rx.handle_datagram(&datagram, sa("10.0.0.1:9997"), ms(0)),
            Ok(Received::Advert)
        );
        assert_eq!(rx.lookup(&name, ms(1)), Some(at));
    }

    #[cfg(feature = "class-key")]
    #[test]
    fn without_a_key_sealed_adverts_are_still_heard() {
        let mut tx = keyed("blue whale", 1_764_000_000_000);
        tx.advertise("robot", sa("10.0.0.1:5000"), ms(0)).unwrap();
        let (_, datagram, _) = drain(&mut tx, ms(0))[0].clone();
        let mut open = B::new(Config::default());
        assert_eq!(
            open.handle_datagram(&datagram, sa("10.0.0.1:9997"), ms(0)),
            Ok(Received::Advert)
        );
        assert_eq!(open.lookup("robot", ms(1)), Some(sa("10.0.0.1:5000")));
    }

    /// A keyed beacon with no wall clock (a board without SNTP or RTC).
    #[cfg(feature = "class-key")]
    fn keyed_board(passphrase: &str) -> B {
        let mut b = B::new(Config::default());
        b.set_class_key(Some(ClassKey::from_passphrase(passphrase)));
        b
    }

    /// A sealed advert of `name` from a beacon whose clock reads `unix_ms`.
    #[cfg(feature = "class-key")]
    fn sealed_advert(passphrase: &str, name: &str, unix_ms: u64) -> Vec<u8> {
        let mut tx = keyed(passphrase, unix_ms);
        tx.advertise(name, sa("10.0.0.1:5000"), ms(0)).unwrap();
        drain(&mut tx, ms(0))[0].1.clone()
    }

    #[cfg(feature = "class-key")]
    #[test]
    fn a_board_without_a_clock_seals_nothing_until_it_learns_the_class_time() {
        const T: u64 = 1_764_000_000_000;
        let mut board = keyed_board("blue whale");
        board
            .advertise("robot", sa("10.0.0.2:5555"), ms(1_000))
            .unwrap();
        assert_eq!(board.wall_clock(ms(1_000)), None);
        assert!(
            drain(&mut board, ms(1_000)).is_empty(),
            "nothing to seal with"
        );
        // Asked for its name, it cannot answer yet either.
        let query = b"NW0\x01Qrobot";
        let _ = board.handle_datagram(query, sa("10.0.0.1:40000"), ms(1_100));
        board.handle_timeout(ms(1_200));
        assert!(drain(&mut board, ms(1_200)).is_empty());

        // A keyed laptop's advert teaches it the time: the stamp plus the
        // time since, and its name goes out at once, sealed.
        let heard = sealed_advert("blue whale", "laptop", T);
        assert_eq!(
            board.handle_datagram(&heard, sa("10.0.0.1:9997"), ms(5_000)),
            Ok(Received::Advert)
        );
        assert_eq!(board.wall_clock(ms(5_000)), Some(T));
        assert_eq!(board.wall_clock(ms(5_250)), Some(T + 250));
        let sent = drain(&mut board, ms(5_250));
        assert!(!sent.is_empty() && sent.iter().all(|(_, d, _)| d.starts_with(b"NW0\x01k")));
        // The laptop, with real time, accepts the board's seal.
        let mut laptop = keyed("blue whale", T + 250);
        assert_eq!(
            laptop.handle_datagram(&sent[0].1, sa("10.0.0.2:9997"), ms(0)),
            Ok(Received::Advert)
        );
        assert_eq!(laptop.lookup("robot", ms(1)), Some(sa("10.0.0.2:5555")));
    }

    /// "Within MAX_SKEW" includes MAX_SKEW itself: of a given clock either
    /// way, and behind a learned one.
    #[cfg(feature = "class-key")]
    #[test]
    fn a_stamp_max_skew_off_is_fresh_and_one_ms_more_is_stale() {
        const T: u64 = 1_764_000_000_000;
        let skew = auth::MAX_SKEW.as_millis();
        let src = sa("10.0.0.1:9997");
        let hear = |b: &mut B, name: &str, stamp: u64| {
            b.handle_datagram(&sealed_advert("blue whale", name, stamp), src, ms(0))
        };
        let stale = Err(DatagramError::Rejected(auth::Rejected::Stale));
        let mut sntp = keyed("blue whale", T);
        assert_eq!(hear(&mut sntp, "a", T - skew), Ok(Received::Advert));
        assert_eq!(hear(&mut sntp, "b", T + skew), Ok(Received::Advert));
        assert_eq!(hear(&mut sntp, "c", T - skew - 1), stale);
        assert_eq!(hear(&mut sntp, "d", T + skew + 1), stale);
        let mut board = keyed_board("blue whale");
        assert_eq!(hear(&mut board, "a", T), Ok(Received::Advert));
        assert_eq!(hear(&mut board, "b", T - skew), Ok(Received::Advert));
        assert_eq!(hear(&mut board, "c", T - skew - 1), stale);
    }

    #[cfg(feature = "class-key")]
    #[test]
    fn a_learned_clock_never_goes_back_and_only_the_class_moves_it() {
        const T: u64 = 1_764_000_000_000;
        let src = sa("10.0.0.1:9997");
        // What `board` makes of the class's advert of `name` stamped `stamp`.
        let hear = |board: &mut B, name: &str, stamp: u64, t: u64| {
            board.handle_datagram(&sealed_advert("blue whale", name, stamp), src, ms(t))
        };
        let mut board = keyed_board("blue whale");
        // Unsealed or another class's seals teach nothing, however new.
        let plain = br#"["x", "10.0.0.66:5000", 20]"#;
        let _ = board.handle_datagram(plain, sa("10.0.0.66:9999"), ms(0));
        let forged = sealed_advert("red fox", "x", T + 3_600_000);
        assert_eq!(
            board.handle_datagram(&forged, src, ms(0)),
            Err(DatagramError::Rejected(auth::Rejected::BadSeal))
        );
        assert_eq!(board.wall_clock(ms(0)), None);

        let _ = hear(&mut board, "a", T, 0);
        assert_eq!(board.wall_clock(ms(1_000)), Some(T + 1_000));
        // An older stamp (a slower clock within the skew) is heard, but
        // does not pull the clock back.
        assert_eq!(
            hear(&mut board, "b", T - 30_000, 1_000),
            Ok(Received::Advert)
        );
        assert_eq!(board.wall_clock(ms(1_000)), Some(T + 1_000));
        // A replay from long ago is stale and changes nothing.
        assert_eq!(
            hear(&mut board, "c", T - 600_000, 1_000),
            Err(DatagramError::Rejected(auth::Rejected::Stale))
        );
        assert_eq!(board.lookup("c", ms(1_000)), None);
        assert_eq!(board.wall_clock(ms(1_000)), Some(T + 1_000));
        // A newer stamp moves it forward, even past the skew.
        let _ = hear(&mut board, "d", T + 120_000, 1_000);
        assert_eq!(board.wall_clock(ms(2_000)), Some(T + 121_000));

        // Time given by the application is never moved by what is heard.
        let mut sntp = keyed("blue whale", T);
        let _ = hear(&mut sntp, "a", T + 30_000, 0);
        assert_eq!(sntp.wall_clock(ms(0)), Some(T));
        // Another class key forgets a learned time.
        board.set_class_key(Some(ClassKey::from_passphrase("red fox")));
        assert_eq!(board.wall_clock(ms(2_000)), None);
    }

    /// Whether `b` has raised a class-key warning since last asked.
    #[cfg(feature = "class-key")]
    fn warned(b: &mut B) -> bool {
        events(b)
            .iter()
            .any(|e| matches!(e, Event::Rejected { .. }))
    }

    /// What a keyed program whose clock reads `unix_ms` sends to ask for
    /// `name`: its first query datagram.
    #[cfg(feature = "class-key")]
    fn sealed_query(passphrase: &str, name: &str, unix_ms: u64) -> Vec<u8> {
        let mut asker = keyed(passphrase, unix_ms);
        asker.query(Some(name), ms(0));
        let sent = drain(&mut asker, ms(0));
        assert!(sent
            .iter()
            .all(|(to, _, k)| *k == Kind::Query && to.port() == 9997));
        sent[0].1.clone()
    }

    #[cfg(feature = "class-key")]
    #[test]
    fn a_keyed_beacon_seals_its_queries_once_it_knows_the_time() {
        const T: u64 = 1_764_000_000_000;
        let query = sealed_query("blue whale", "robot", T);
        assert!(query.starts_with(b"NW0\x01q"), "{query:?}");
        assert!(query.ends_with(b"robot"));
        // A board that has not learned the time asks plainly, as without a key.
        let mut board = keyed_board("blue whale");
        board.query(Some("robot"), ms(0));
        let sent = drain(&mut board, ms(0));
        assert_eq!(sent[0].1, b"NW0\x01Qrobot");
        // Without a key, queries are exactly as they always were.
        let mut open = B::new(Config::default());
        open.query(None, ms(0));
        assert_eq!(drain(&mut open, ms(0))[0].1, b"NW0\x01Q");
    }

    /// The case sealed queries exist for: a keyed program that only
    /// discovers, and a board that has not learned the time.
    #[cfg(feature = "class-key")]
    #[test]
    fn a_board_learns_the_time_from_a_sealed_query_and_answers_it_at_once() {
        const T: u64 = 1_764_000_000_000;
        let mut board = keyed_board("blue whale");
        board
            .advertise("robot", sa("10.0.0.2:5555"), ms(1_000))
            .unwrap();
        assert!(drain(&mut board, ms(1_000)).is_empty());
        let asker = sa("10.0.0.1:40000");
        assert_eq!(
            board.handle_datagram(&sealed_query("blue whale", "robot", T), asker, ms(5_000)),
            Ok(Received::Query { answers: 1 })
        );
        assert_eq!(board.wall_clock(ms(5_000)), Some(T));
        assert_eq!(board.wall_clock(ms(5_100)), Some(T + 100));
        // First out, in the same millisecond: the sealed answer; then its
        // adverts, which it could not send before.
        let sent = drain(&mut board, ms(5_000));
        assert_eq!(sent[0].2, Kind::Answer);
        assert!(sent[0].1.starts_with(b"NW0\x01K"), "{:?}", sent[0]);
        assert!(sent
            .iter()
            .any(|(_, d, k)| *k == Kind::Advert && d.starts_with(b"NW0\x01k")));
        // The asker, with real time, takes the answer.
        let mut laptop = keyed("blue whale", T);
        assert_eq!(
            laptop.handle_datagram(&sent[0].1, sa("10.0.0.2:9997"), ms(0)),
            Ok(Received::Advert)
        );
        assert_eq!(laptop.lookup("robot", ms(1)), Some(sa("10.0.0.2:5555")));
        assert!(!warned(&mut board));
    }

    #[cfg(feature = "class-key")]
    #[test]
    fn unsealed_or_foreign_queries_teach_nothing() {
        const T: u64 = 1_764_000_000_000;
        let mut board = keyed_board("blue whale");
        board
            .advertise("robot", sa("10.0.0.2:5555"), ms(0))
            .unwrap();
        let asker = sa("10.0.0.66:40000");
        let _ = board.handle_datagram(b"NW0\x01Qrobot", asker, ms(10));
        // Another class's key, or one bit altered: still a query (it is
        // answered once the board can seal), but no time.
        let foreign = sealed_query("red fox", "robot", T);
        assert_eq!(
            board.handle_datagram(&foreign, asker, ms(20)),
            Ok(Received::Query { answers: 0 }),
            "the answer to the plain query is still scheduled"
        );
        let mut altered = sealed_query("blue whale", "robot", T);
        altered[6] ^= 1; // in the stamp
        let _ = board.handle_datagram(&altered, asker, ms(30));
        assert_eq!(board.wall_clock(ms(40)), None);
        assert!(drain(&mut board, ms(40)).is_empty(), "nothing to seal with");
        // Malformed: a typed error, nothing changed.
        let mut bad = sealed_query("blue whale", "robot", T);
        bad.push(0xff);
        assert_eq!(
            board.handle_datagram(&bad, asker, ms(50)),
            Err(DatagramError::Ext(ExtError::BadQuery))
        );
        assert_eq!(
            board.handle_datagram(&bad[..auth::SEAL_OFFSET - 1], asker, ms(50)),
            Err(DatagramError::Ext(ExtError::BadQuery))
        );
        assert_eq!(board.wall_clock(ms(60)), None);
        assert!(!warned(&mut board), "no warning: a query claims no name");
    }

    #[cfg(feature = "class-key")]
    #[test]
    fn a_sealed_query_never_moves_a_learned_clock_back() {
        const T: u64 = 1_764_000_000_000;
        let skew = auth::MAX_SKEW.as_millis();
        let asker = sa("10.0.0.1:40000");
        let mut board = keyed_board("blue whale");
        board
            .advertise("robot", sa("10.0.0.2:5555"), ms(0))
            .unwrap();
        let ask = |b: &mut B, stamp: u64, t: u64| {
            let r = b.handle_datagram(&sealed_query("blue whale", "robot", stamp), asker, ms(t));
            let _ = drain(b, ms(t));
            r
        };
        let _ = ask(&mut board, T, 0);
        assert_eq!(board.wall_clock(ms(1_000)), Some(T + 1_000));
        // Older, within the skew: heard, but the clock stays.
        let _ = ask(&mut board, T - 30_000, 1_000);
        assert_eq!(board.wall_clock(ms(1_000)), Some(T + 1_000));
        // A replay from long ago: stale, teaches nothing, answered anyway
        // (its seal is the class's; a plain query would be answered too).
        assert_eq!(
            ask(&mut board, T - 10 * skew, 2_000),
            Ok(Received::Query { answers: 1 })
        );
        assert_eq!(board.wall_clock(ms(2_000)), Some(T + 2_000));
        // Newer: forward.
        let _ = ask(&mut board, T + 120_000, 3_000);
        assert_eq!(board.wall_clock(ms(3_000)), Some(T + 120_000));
        // A clock the application gives is never moved by a query.
        let mut sntp = keyed("blue whale", T);
        let _ = ask(&mut sntp, T + 30_000, 0);
        assert_eq!(sntp.wall_clock(ms(0)), Some(T));
    }

    /// A query's stamp is not an advert's: a class member asking for
    /// "robot" with a clock ahead must not make robot's own next advert
    /// look like a replay.
    #[cfg(feature = "class-key")]
    #[test]
    fn a_query_s_stamp_does_not_shadow_the_name_s_adverts() {
        const T: u64 = 1_764_000_000_000;
        let mut rx = keyed("blue whale", T);
        let asker = sa("10.0.0.1:40000");
        let _ = rx.handle_datagram(
            &sealed_query("blue whale", "robot", T + 5_000),
            asker,
            ms(0),
        );
        let advert = sealed_advert("blue whale", "robot", T + 1_000);
        assert_eq!(
            rx.handle_datagram(&advert, sa("10.0.0.2:9997"), ms(1)),
            Ok(Received::Advert)
        );
    }

    /// A beacon without a key drops a sealed query, as a kind it does not
    /// read: its plain answer would be refused by the keyed asker.
    #[cfg(feature = "class-key")]
    #[test]
    fn an_unkeyed_beacon_drops_sealed_queries() {
        let mut open = B::new(Config::default());
        open.advertise("robot", sa("10.0.0.2:5555"), ms(0)).unwrap();
        let _ = drain(&mut open, ms(0));
        let query = sealed_query("blue whale", "robot", 1_764_000_000_000);
        assert_eq!(
            open.handle_datagram(&query, sa("10.0.0.1:40000"), ms(10)),
            Err(DatagramError::Ext(ExtError::UnknownKind(auth::KIND_QUERY)))
        );
        assert!(drain(&mut open, ms(10)).is_empty());
    }

    /// Found by fuzzing: a query from port 9999 would have been answered to
    /// port 9999, where a Python beacon dies on anything but an advert.
    #[test]
    fn never_answers_to_the_python_beacon_port() {
        let mut b = B::new(Config::default());
        b.advertise("x", sa("0.0.0.0:1"), ms(0)).unwrap();
        let _ = drain(&mut b, ms(0));
        let r = b
            .handle_datagram(b"NW0\x01Qx", sa("10.0.0.9:9999"), ms(1))
            .unwrap();
        assert_eq!(r, Received::Query { answers: 0 });
        assert!(drain(&mut b, ms(1))
            .iter()
            .all(|(to, _, _)| to.port() != 9999
                || to.ip().is_loopback()
                || to.ip() == Ipv4Addr::BROADCAST));
    }

    /// Found by fuzzing: with queries held back by the rate limit,
    /// poll_timeout stayed at `now` and an adapter would spin.
    #[test]
    fn rate_limited_queries_do_not_make_a_busy_loop() {
        let mut b = B::new(Config::default());
        let ifaces: Vec<_> = (1..=5)
            .map(|i| Interface {
                ip: Ipv4Addr::new(10, i, 0, 1),
                prefix_len: 24,
            })
            .collect();
        b.set_interfaces(&ifaces, ms(0));
        for q in ["a", "b", "c", "d"] {
            b.query(Some(q), ms(0));
        }
        for t in 0..2_000 {
            let now = ms(t);
            b.handle_timeout(now);
            let _ = drain(&mut b, now);
            if let Some(next) = b.poll_timeout() {
                assert!(next > now, "poll_timeout {next:?} is not after now {now:?}");
            }
        }
    }

    /// A datagram sent at a time (ms): where to, its bytes, what it is.
    type Sent = (u64, SocketAddr, Vec<u8>, Kind);

    /// Drives `b` as an adapter does, waking only when `poll_timeout` says,
    /// from `from` until `until` or until it has nothing left to do: every
    /// datagram sent, with its time, and how many wake-ups (after the call
    /// at `from`) sent nothing. A
    /// `poll_timeout` at or before the moment just handled would make an
    /// adapter spin, so it fails the test.
    fn run_by_timeouts(b: &mut B, from: Instant, until: Instant) -> (Vec<Sent>, usize) {
        let (mut sent, mut idle) = (Vec::new(), 0);
        let mut now = from;
        for _ in 0..10_000 {
            b.handle_timeout(now);
            let out = drain(b, now);
            idle += usize::from(out.is_empty() && now != from);
            sent.extend(
                out.into_iter()
                    .map(|(to, d, k)| (now.as_millis(), to, d, k)),
            );
            match b.poll_timeout() {
                Some(next) if next <= until => {
                    assert!(next > now, "woken at {now:?}, then at {next:?} again");
                    now = next;
                }
                _ => return (sent, idle),
            }
        }
        panic!("more than 10 000 wake-ups");
    }

    /// Our own adverts come back on loopback; their ttl must not become our
    /// entry's. If the echoes stop (a firewall, a lost interface), the name
    /// must not lapse here while we advertise it.
    #[test]
    fn own_names_outlive_their_echoes() {
        let mut b = B::new(Config::default());
        let local = b.advertise("mine", sa("0.0.0.0:7000"), ms(0)).unwrap();
        assert_eq!(drain(&mut b, ms(0)).len(), 1);
        let echo = br#"["mine", "127.0.0.1:7000", 20]"#;
        assert_eq!(
            b.handle_datagram(echo, sa("127.0.0.1:9999"), ms(0)),
            Ok(Received::Advert)
        );
        assert_eq!(b.poll_timeout(), Some(ms(2_000)), "the next advert");
        let _ = events(&mut b);
        b.handle_timeout(ms(20_001));
        assert_eq!(events(&mut b), []);
        assert_eq!(b.lookup("mine", ms(20_001)), Some(local));
    }

    /// A query is sent `query_attempts` times with doubling gaps (a query for
    /// every name 3 times, its gaps starting at the spread window its answers
    /// take), then forgotten: nothing more to wake up for.
    #[test]
    fn queries_repeat_with_doubling_gaps_then_end() {
        let times = |name: Option<&str>, config: Config| {
            let mut b = B::new(config);
            b.query(name, ms(0));
            let (sent, idle) = run_by_timeouts(&mut b, ms(0), ms(100_000));
            assert_eq!(idle, 0);
            assert_eq!(b.poll_timeout(), None, "nothing left after the last");
            assert!(sent.iter().all(|(_, _, _, k)| *k == Kind::Query));
            sent.iter().map(|(t, ..)| *t).collect::<Vec<_>>()
        };
        let config = Config::default();
        assert_eq!(times(Some("x"), config), [0, 100, 300, 700, 1500, 3100]);
        // 155 ms (answer delay + spread), doubled after each.
        assert_eq!(times(None, config), [0, 310, 930]);
        let never = Config {
            query_attempts: 0,
            ..config
        };
        assert_eq!(times(Some("x"), never), []);
        // Asking again while the last gap runs starts over.
        let mut b = B::new(config);
        b.query(Some("x"), ms(0));
        let _ = run_by_timeouts(&mut b, ms(0), ms(3_100));
        b.query(Some("x"), ms(3_200));
        let (sent, _) = run_by_timeouts(&mut b, ms(3_200), ms(100_000));
        assert_eq!(sent.len(), 6);
    }

    /// An asker whose names left have all gone is done: no wake-up for it.
    #[test]
    fn an_asker_is_done_when_its_last_names_go() {
        let config = Config {
            answer_burst: 1,
            ..Config::default()
        };
        let mut b = B::new(config);
        b.advertise("n0", sa("0.0.0.0:7000"), ms(0)).unwrap();
        b.advertise("n1", sa("0.0.0.0:7001"), ms(0)).unwrap();
        let _ = drain(&mut b, ms(0));
        let asker = sa("10.200.1.99:41000");
        assert!(b.handle_datagram(b"NW0\x01Q", asker, ms(10)).is_ok());
        // Up to the first answer (n0's), then n1 goes.
        let (mut now, mut first) = (ms(10), Vec::new());
        for _ in 0..100 {
            b.handle_timeout(now);
            first = drain(&mut b, now);
            if !first.is_empty() {
                break;
            }
            now = b.poll_timeout().unwrap();
        }
        assert_eq!(
            (first.len(), first[0].0, first[0].2),
            (1, asker, Kind::Answer)
        );
        let later = now + Duration::from_millis(1);
        assert!(b.unadvertise("n1", later));
        let (sent, idle) = run_by_timeouts(&mut b, later, ms(1_999));
        assert!(
            sent.iter().all(|(_, _, _, k)| *k == Kind::Goodbye),
            "{sent:?}"
        );
        assert_eq!(idle, 0, "woken for an asker with nothing left to answer");
    }

    /// One broadcast a tenth of a second, none back to back.
    fn ten_broadcasts_a_second() -> Config {
        Config {
            max_broadcasts_per_sec: 10,
            broadcast_burst: 1,
            ..Config::default()
        }
    }

    /// A query answered while its broadcast is under way stops there, and the
    /// next query's broadcast starts from its first destination; a name
    /// heard that nobody asked for changes nothing.
    #[test]
    fn a_query_answered_mid_broadcast_hands_over_cleanly() {
        let mut b = B::new(ten_broadcasts_a_second());
        b.set_interfaces(&[IF_A, IF_B], ms(0));
        b.query(Some("a"), ms(0));
        b.query(Some("b"), ms(0));
        let to = |sent: Vec<(SocketAddr, Vec<u8>, Kind)>| -> Vec<(SocketAddr, Vec<u8>)> {
            sent.into_iter().map(|(to, d, _)| (to, d)).collect()
        };
        let dest = |ip: [u8; 4]| SocketAddr::from((Ipv4Addr::from(ip), 9997));
        assert_eq!(
            to(drain(&mut b, ms(0))),
            [(dest([10, 200, 1, 255]), b"NW0\x01Qa".to_vec())]
        );
        let other = br#"["c", "10.200.1.7:5000", 20]"#;
        assert!(b
            .handle_datagram(other, sa("10.200.1.7:9999"), ms(50))
            .is_ok());
        assert_eq!(
            to(drain(&mut b, ms(100))),
            [(dest([10, 200, 2, 255]), b"NW0\x01Qa".to_vec())]
        );
        let answer = br#"["a", "10.200.1.7:5001", 20]"#;
        assert!(b
            .handle_datagram(answer, sa("10.200.1.7:9999"), ms(150))
            .is_ok());
        let sent: Vec<_> = (2..6)
            .flat_map(|t| to(drain(&mut b, ms(t * 100))))
            .collect();
        let b_to = |ip| (dest(ip), b"NW0\x01Qb".to_vec());
        assert_eq!(
            sent,
            [
                b_to([10, 200, 1, 255]),
                b_to([10, 200, 2, 255]),
                b_to([255, 255, 255, 255]),
                b_to([127, 255, 255, 255])
            ]
        );
    }

    /// Answers to askers of every name held back by the answer rate go out
    /// the moment the rate allows, and an adapter is never woken for nothing:
    /// not before that moment, nor after an asker's last answer.
    #[test]
    fn rate_limited_answers_to_everything_wake_only_to_send() {
        let config = Config {
            answer_burst: 1,
            ..Config::default()
        };
        let interval = 1000 / u64::from(config.max_answers_per_sec);
        for seed in 0..20 {
            let mut b = B::new(config);
            b.seed(seed);
            for i in 0..8 {
                b.advertise(&format!("n{i}"), sa("0.0.0.0:7000"), ms(0))
                    .unwrap();
            }
            let _ = drain(&mut b, ms(0));
            for port in [41_000, 41_001] {
                let asker = sa(&format!("10.200.1.99:{port}"));
                assert!(b.handle_datagram(b"NW0\x01Q", asker, ms(10)).is_ok());
            }
            let (sent, idle) = run_by_timeouts(&mut b, ms(10), ms(1_999));
            assert_eq!(idle, 0, "seed {seed}: {sent:?}");
            let answers: Vec<u64> = sent
                .iter()
                .filter(|(_, _, _, k)| *k == Kind::Answer)
                .map(|(t, ..)| *t)
                .collect();
            assert_eq!(answers.len(), 16, "seed {seed}");
            assert!(
                answers.windows(2).all(|w| w[1] - w[0] >= interval),
                "{answers:?}"
            );
        }
    }

    /// A keyed board without a clock can seal none of its names' goodbyes: all
    /// of them end unsent in one call, and its query (sent plainly) still goes
    /// out in that same call.
    #[cfg(feature = "class-key")]
    #[test]
    fn unsendable_goodbyes_do_not_hold_back_a_query() {
        let mut b = keyed_board("blue whale");
        for i in 0..8 {
            b.advertise(&format!("n{i}"), sa("10.0.0.2:7000"), ms(0))
                .unwrap();
        }
        assert!(drain(&mut b, ms(0)).is_empty(), "nothing to seal with");
        for i in 0..8 {
            assert!(b.unadvertise(&format!("n{i}"), ms(10)));
        }
        b.query(Some("laptop"), ms(10));
        let sent = drain(&mut b, ms(10));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1, b"NW0\x01Qlaptop");
        assert!(b.poll_timeout() > Some(ms(10)));
    }

    /// Goodbyes keep to the broadcast rate limit like everything else, until
    /// the program ends (`farewell`): then they all go at once.
    #[test]
    fn goodbyes_keep_to_the_rate_limit_until_the_program_ends() {
        let mut b = B::new(ten_broadcasts_a_second());
        for name in ["a", "b", "c"] {
            b.advertise(name, sa("0.0.0.0:7000"), ms(0)).unwrap();
        }
        let _ = run_by_timeouts(&mut b, ms(0), ms(1_000));
        assert!(b.unadvertise("a", ms(1_000)));
        assert!(b.unadvertise("b", ms(1_000)));
        let (sent, idle) = run_by_timeouts(&mut b, ms(1_000), ms(1_350));
        let times: Vec<u64> = sent.iter().map(|(t, ..)| *t).collect();
        assert_eq!(
            times,
            [1_000, 1_100, 1_200, 1_300],
            "one a tenth of a second"
        );
        assert!(sent.iter().all(|(_, _, _, k)| *k == Kind::Goodbye));
        assert_eq!(idle, 0);
        b.farewell();
        let at_exit = drain(&mut b, ms(1_351));
        // c's, to the extension port and to Python's beacon port.
        assert_eq!(at_exit.len(), 2, "{at_exit:?}");
        assert!(at_exit.iter().all(|(_, _, k)| *k == Kind::Goodbye));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(datagrams in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), 0..50)) {
            let mut b = B::new(Config::default());
            b.advertise("x", sa("0.0.0.0:1"), ms(0)).unwrap();
            for (t, d) in datagrams.iter().enumerate() {
                let _ = b.handle_datagram(d, sa("1.2.3.4:5"), ms(t as u64));
                let _ = drain(&mut b, ms(t as u64));
                b.handle_timeout(ms(t as u64));
                proptest::prop_assert!(b.adverts(ms(t as u64)).count() <= 64);
            }
        }
    }
}
