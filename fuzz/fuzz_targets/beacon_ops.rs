//! Random sequences of operations on a `Beacon<8, 4>` under a monotone
//! virtual clock, checking after each one what the beacon puts on the wire.
//!
//! The invariants that matter most: nothing but a valid advert of at most
//! 256 bytes ever goes to the beacon port (a Python beacon thread dies on
//! anything else), every extension datagram decodes, output is bounded, and
//! a beacon that advertises something always has a deadline. With a class
//! key: everything on the extension port is sealed with it (queries once the
//! beacon knows its class's time), nothing goes to the beacon port, and the
//! beacon's time never goes back nor is moved by another class's seal.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use networkzero_core::advert::{self, MAX_DATAGRAM};
use networkzero_core::auth::{self, ClassKey};
use networkzero_core::beacon::{
    AdvertiseError, Beacon, Config, DatagramError, Interface, Kind, Received, BEACON_PORT,
    MAX_INTERFACES, MAX_TRANSMIT,
};
use networkzero_core::ext::{self, ExtError, Message, EXT_PORT, HEADER_LEN};
use networkzero_core::{Duration, Instant};

const ADVERTS: usize = 8;
const OWN: usize = 4;
type B = Beacon<ADVERTS, OWN>;

/// Most operations per input, transmits per drain, deadlines per `Drain`.
const MAX_OPS: usize = 256;
const MAX_TRANSMITS_PER_DRAIN: usize = 1000;
const MAX_DEADLINES: usize = 64;
/// Most consecutive wake-ups at one instant before it counts as a busy loop.
const MAX_SPINS: usize = 4;

/// Names the fuzzer can pick by index: plain, grouped, escaped, and the
/// longest that fits (224 bytes at `255.255.255.255:65535` with ttl 20) and
/// one byte more.
fn known_name(i: u8) -> String {
    match i % 10 {
        0 => "echo".into(),
        1 => "chat/alice".into(),
        2 => "chat/bob".into(),
        3 => "café".into(),
        4 => "robot \u{1f916}".into(),
        5 => "say \"hi\"\\x".into(),
        6 => "tab\there\n\u{1}".into(),
        7 => "x".repeat(224),
        8 => "x".repeat(225),
        _ => "é".repeat(36),
    }
}

#[derive(Arbitrary, Debug)]
enum NameSel {
    Known(u8),
    Text(String),
}

impl NameSel {
    fn get(&self) -> String {
        match self {
            NameSel::Known(i) => known_name(*i),
            NameSel::Text(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ip {
    Unspecified,
    Loopback,
    /// 10.200.x.y, where the test interfaces live.
    Lan(u8, u8),
    Any([u8; 4]),
    V6,
}

impl Ip {
    fn get(self) -> IpAddr {
        match self {
            Ip::Unspecified => Ipv4Addr::UNSPECIFIED.into(),
            Ip::Loopback => Ipv4Addr::LOCALHOST.into(),
            Ip::Lan(x, y) => Ipv4Addr::new(10, 200, x % 4, y).into(),
            Ip::Any(o) => Ipv4Addr::from(o).into(),
            Ip::V6 => Ipv6Addr::LOCALHOST.into(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Source {
    /// A peer on the test LAN, from an ephemeral port.
    Lan(u8, u16),
    Any(Ip, u16),
    /// From the beacon port (9999) or the extension port (9997) itself,
    /// as a misconfigured or spoofing peer would send.
    WellKnown(Ip, bool),
}

impl Source {
    fn get(self) -> SocketAddr {
        match self {
            Source::Lan(y, port) => {
                SocketAddr::new(Ipv4Addr::new(10, 200, 1, y).into(), port | 0xC000)
            }
            Source::Any(ip, port) => SocketAddr::new(ip.get(), port),
            Source::WellKnown(ip, beacon) => {
                SocketAddr::new(ip.get(), if beacon { BEACON_PORT } else { EXT_PORT })
            }
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Iface {
    /// 10.200.x.y/prefix.
    Lan(u8, u8, u8),
    Any([u8; 4], u8),
}

impl Iface {
    fn get(self) -> Interface {
        match self {
            Iface::Lan(x, y, p) => Interface {
                ip: Ipv4Addr::new(10, 200, x % 4, y),
                prefix_len: 16 + p % 17,
            },
            Iface::Any(o, p) => Interface {
                ip: o.into(),
                prefix_len: p,
            },
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Heard {
    Advert,
    Answer,
    Goodbye,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Advertise {
        name: NameSel,
        ip: Ip,
        port: u16,
    },
    Unadvertise {
        name: NameSel,
    },
    Query {
        name: Option<NameSel>,
    },
    /// Raw bytes from the network.
    Datagram {
        bytes: Vec<u8>,
        source: Source,
    },
    /// A well-formed advert, answer or goodbye from a peer (ttl in seconds,
    /// `None` for Python's `null`).
    Hear {
        kind: Heard,
        name: NameSel,
        ip: Ip,
        port: u16,
        ttl: Option<u16>,
        source: Source,
    },
    /// A well-formed query from a peer.
    Ask {
        name: Option<NameSel>,
        source: Source,
    },
    /// A sealed query from a keyed peer of this class (`own_class`) or
    /// another, its clock `offset_s` seconds from [`WALL`] at time zero.
    AskSealed {
        name: Option<NameSel>,
        own_class: bool,
        offset_s: i16,
        source: Source,
    },
    /// The class key (`None`: none; `Some(true)`: this class's), and the
    /// wall-clock time given (`None`: none given, to be learned).
    SetClassKey {
        key: Option<bool>,
        clock_offset_s: Option<i16>,
    },
    SetInterfaces(Vec<Iface>),
    AdvanceTime(u16),
    /// Sleep to each deadline in turn, as an adapter does.
    Drain,
}

/// Unix milliseconds the keyed peers' clocks are set around.
const WALL: u64 = 1_764_000_000_000;
const CLASS: &str = "blue whale";
const OTHER_CLASS: &str = "red fox";

/// The beacon's wall clock ms from WALL, as an i64 offset.
fn wall_at(offset_s: i16) -> u64 {
    WALL.saturating_add_signed(i64::from(offset_s) * 1000)
}

/// The first datagram of a query for `name` from a keyed beacon of
/// `passphrase` whose clock reads `unix_ms`: a sealed query.
fn sealed_query(passphrase: &str, name: Option<&str>, unix_ms: u64) -> Option<Vec<u8>> {
    let mut peer = B::new(Config::default());
    peer.set_class_key(Some(ClassKey::from_passphrase(passphrase)));
    let zero = Instant::from_millis(0);
    peer.set_wall_clock(zero, unix_ms);
    peer.query(name, zero);
    let mut buf = [0u8; MAX_TRANSMIT];
    let t = peer.poll_transmit(zero, &mut buf)?;
    assert_eq!(t.kind, Kind::Query);
    assert_eq!(
        auth::open(Some(&ClassKey::from_passphrase(passphrase)), &buf[..t.len])
            .map(|(kind, stamp, _)| (kind, stamp)),
        Ok((auth::KIND_QUERY, unix_ms))
    );
    Some(buf[..t.len].to_vec())
}

struct Sim {
    beacon: B,
    now: u64,
    sent: u64,
    /// The class key set, if any.
    key: Option<ClassKey>,
    /// The beacon's wall clock when last checked: it never goes back while
    /// the key and given clock stay.
    wall: Option<u64>,
}

impl Sim {
    fn now(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    /// Everything `poll_transmit` and `poll_event` have, checked.
    fn drain(&mut self) {
        let now = self.now();
        let mut buf = [0u8; MAX_TRANSMIT];
        let mut count = 0;
        while let Some(t) = self.beacon.poll_transmit(now, &mut buf) {
            count += 1;
            assert!(count < MAX_TRANSMITS_PER_DRAIN, "poll_transmit never ends");
            assert!(t.len <= MAX_TRANSMIT && t.len > 0, "bad length {}", t.len);
            self.check_transmit(t.destination, t.kind, &buf[..t.len]);
        }
        self.sent += count as u64;
        let mut events = 0;
        while self.beacon.poll_event().is_some() {
            events += 1;
            assert!(events < MAX_TRANSMITS_PER_DRAIN, "poll_event never ends");
        }
    }

    fn check_transmit(&self, to: SocketAddr, kind: Kind, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        if let Some(key) = &self.key {
            return self.check_sealed(to, kind, bytes, key);
        }
        if to.port() == BEACON_PORT {
            // Python's beacon thread dies on anything but an advert; a goodbye goes
            // there as an advert with ttl 0 (Python drops the name at once).
            assert!(
                matches!(kind, Kind::Advert | Kind::Goodbye),
                "{kind:?} sent to the beacon port {to}: {text:?}"
            );
            assert!(bytes.len() <= MAX_DATAGRAM, "{}-byte advert", bytes.len());
            let a = advert::decode(bytes)
                .unwrap_or_else(|e| panic!("invalid advert {text:?} to {to}: {e:?}"));
            assert!(!a.address.ip().is_unspecified(), "advertised {}", a.address);
            if kind == Kind::Goodbye {
                assert_eq!(a.ttl, Some(Duration::ZERO), "a goodbye advert: {text:?}");
            } else {
                assert!(
                    self.beacon.advertised().any(|(n, _)| n == a.name.as_str()),
                    "advert for {:?}, which is not advertised",
                    a.name
                );
            }
        }
        match kind {
            Kind::Advert => {
                assert_eq!(to.port(), BEACON_PORT, "advert to {to}");
            }
            Kind::Goodbye if to.port() == BEACON_PORT => {}
            Kind::Query | Kind::Goodbye | Kind::Answer => {
                let m = ext::decode(bytes)
                    .unwrap_or_else(|e| panic!("invalid {kind:?} {text:?} to {to}: {e:?}"));
                match (kind, m) {
                    (Kind::Query, Message::Query(_)) => {}
                    (Kind::Goodbye, Message::Goodbye(a)) | (Kind::Answer, Message::Answer(a)) => {
                        assert!(
                            !a.address.ip().is_unspecified(),
                            "{kind:?} for {}",
                            a.address
                        );
                    }
                    (k, m) => panic!("{k:?} transmit holds {m:?}"),
                }
                if kind != Kind::Answer {
                    assert_eq!(to.port(), EXT_PORT, "{kind:?} to {to}");
                }
            }
        }
        if kind != Kind::Answer {
            // Broadcasts go only to broadcast addresses.
            let IpAddr::V4(ip) = to.ip() else {
                panic!("{kind:?} to {to}");
            };
            let ok = ip == Ipv4Addr::BROADCAST
                || ip == Ipv4Addr::new(127, 255, 255, 255)
                || self.beacon.interfaces().iter().any(|i| i.broadcast() == ip);
            assert!(ok, "{kind:?} to {to}, not a broadcast address");
        }
    }

    /// A keyed beacon's transmit: to the extension port, sealed with its
    /// key (a query plain only while it does not know the time), its body
    /// what a plain one's would be.
    fn check_sealed(&self, to: SocketAddr, kind: Kind, bytes: &[u8], key: &ClassKey) {
        assert!(
            kind == Kind::Answer || to.port() == EXT_PORT,
            "{kind:?} to {to} with a class key"
        );
        let clock = self.beacon.wall_clock(self.now());
        if kind == Kind::Query && clock.is_none() {
            assert!(matches!(ext::decode(bytes), Ok(Message::Query(_))));
            return;
        }
        let (sealed_kind, stamp, body) = auth::open(Some(key), bytes)
            .unwrap_or_else(|e| panic!("{kind:?} to {to} not sealed with the key: {e:?}"));
        assert_eq!(Some(stamp), clock, "sealed with another time than its clock");
        let want = match kind {
            Kind::Advert => auth::KIND_ADVERT,
            Kind::Answer => auth::KIND_ANSWER,
            Kind::Goodbye => auth::KIND_GOODBYE,
            Kind::Query => auth::KIND_QUERY,
        };
        assert_eq!(sealed_kind, want, "{kind:?}");
        if kind == Kind::Query {
            assert!(std::str::from_utf8(body).is_ok_and(|n| n.len() <= advert::MAX_NAME));
        } else {
            let a = advert::decode(body).unwrap_or_else(|e| panic!("sealed {kind:?}: {e:?}"));
            assert!(!a.address.ip().is_unspecified(), "{kind:?} for {}", a.address);
        }
    }

    fn check(&mut self) {
        let now = self.now();
        let wall = self.beacon.wall_clock(now);
        if let (Some(before), Some(after)) = (self.wall, wall) {
            assert!(after >= before, "the wall clock went back: {before} to {after}");
        }
        assert!(self.wall.is_none() || wall.is_some(), "the wall clock was lost");
        self.wall = wall;
        assert!(self.beacon.adverts(now).count() <= ADVERTS);
        assert!(self.beacon.advertised().count() <= OWN);
        assert!(self.beacon.interfaces().len() <= MAX_INTERFACES);
        if self.beacon.advertised().next().is_some() {
            assert!(
                self.beacon.poll_timeout().is_some(),
                "advertising but no deadline"
            );
        }
    }

    /// The adapter's loop: sleep to the deadline, handle it, drain. Bounded
    /// in iterations and in virtual time.
    fn run_deadlines(&mut self) {
        let limit = self.now + 60_000;
        let mut spins = 0;
        for _ in 0..MAX_DEADLINES {
            let Some(at) = self.beacon.poll_timeout() else {
                return;
            };
            let at = at.as_millis();
            if at > limit {
                return;
            }
            if at <= self.now {
                // Woken for something due now or overdue: after handling it
                // the deadline must move on, or the adapter spins.
                spins += 1;
                assert!(
                    spins <= MAX_SPINS,
                    "busy loop: poll_timeout stays at {at} <= now {} after handle_timeout and drain",
                    self.now
                );
            } else {
                spins = 0;
                self.now = at;
            }
            self.beacon.handle_timeout(self.now());
            self.drain();
            self.check();
        }
    }

    fn apply(&mut self, op: &Op) {
        let now = self.now();
        match op {
            Op::Advertise { name, ip, port } => {
                let name = name.get();
                let address = SocketAddr::new(ip.get(), *port);
                match self.beacon.advertise(&name, address, now) {
                    Ok(local) => {
                        assert!(!local.ip().is_unspecified());
                        assert!(self.beacon.advertised().any(|(n, _)| n == name));
                        assert_eq!(self.beacon.lookup(&name, now), Some(local));
                    }
                    Err(AdvertiseError::NotIpv4) => assert!(address.is_ipv6()),
                    Err(AdvertiseError::TooManyNames { capacity }) => {
                        assert_eq!(capacity, OWN);
                        assert_eq!(self.beacon.advertised().count(), OWN);
                    }
                    Err(AdvertiseError::Encode(_)) => {
                        // Empty, or too long for a 256-byte advert at the
                        // widest address (ttl 20 s: the rate limit never
                        // stretches a round of 4 names past 2 s).
                        let widest = SocketAddr::new(Ipv4Addr::BROADCAST.into(), *port);
                        let len = advert::encoded_len(&name, widest, Duration::from_secs(20));
                        assert!(name.is_empty() || len > MAX_DATAGRAM, "refused {len} bytes");
                    }
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            Op::Unadvertise { name } => {
                let name = name.get();
                let was = self.beacon.advertised().any(|(n, _)| n == name);
                assert_eq!(self.beacon.unadvertise(&name, now), was);
                assert!(!self.beacon.advertised().any(|(n, _)| n == name));
            }
            Op::Query { name } => {
                let name = name.as_ref().map(NameSel::get);
                self.beacon.query(name.as_deref(), now);
            }
            Op::Datagram { bytes, source } => {
                let _ = self.beacon.handle_datagram(bytes, source.get(), now);
            }
            Op::Hear {
                kind,
                name,
                ip,
                port,
                ttl,
                source,
            } => {
                let mut buf = [0u8; MAX_TRANSMIT];
                let body_at = match kind {
                    Heard::Advert => 0,
                    Heard::Answer | Heard::Goodbye => HEADER_LEN,
                };
                let address = SocketAddr::new(ip.get(), *port);
                let secs = Duration::from_secs(u64::from(ttl.unwrap_or(0)));
                let Ok(n) = advert::encode(&name.get(), address, secs, &mut buf[body_at..]) else {
                    return;
                };
                let mut datagram = buf[..body_at + n].to_vec();
                if ttl.is_none() {
                    // `…, 0]` becomes Python's `…, null]`.
                    datagram.truncate(datagram.len() - 2);
                    datagram.extend_from_slice(b"null]");
                }
                match kind {
                    Heard::Advert => {}
                    Heard::Answer => datagram[..HEADER_LEN].copy_from_slice(b"NW0\x01A"),
                    Heard::Goodbye => datagram[..HEADER_LEN].copy_from_slice(b"NW0\x01B"),
                }
                let r = self.beacon.handle_datagram(&datagram, source.get(), now);
                // Well-formed input is never refused but for being unsealed
                // with a class key set; a null ttl may only push it past 256
                // bytes.
                let unsealed = Err(DatagramError::Rejected(auth::Rejected::Unsealed));
                assert!(
                    r.is_ok()
                        || (self.key.is_some() && r == unsealed)
                        || datagram.len() > MAX_DATAGRAM + body_at,
                    "{r:?}"
                );
            }
            Op::Ask { name, source } => {
                let mut buf = [0u8; MAX_TRANSMIT];
                let name = name.as_ref().map(NameSel::get).unwrap_or_default();
                if let Some(n) = ext::encode_query(&name, &mut buf) {
                    let r = self.beacon.handle_datagram(&buf[..n], source.get(), now);
                    assert!(r.is_ok(), "{r:?}");
                }
            }
            Op::AskSealed {
                name,
                own_class,
                offset_s,
                source,
            } => {
                let name = name.as_ref().map(NameSel::get);
                let passphrase = if *own_class { CLASS } else { OTHER_CLASS };
                let Some(query) = sealed_query(passphrase, name.as_deref(), wall_at(*offset_s))
                else {
                    return;
                };
                let before = self.beacon.wall_clock(now);
                let r = self.beacon.handle_datagram(&query, source.get(), now);
                if self.key.is_some() {
                    assert!(matches!(r, Ok(Received::Query { .. })), "{r:?}");
                } else {
                    assert_eq!(
                        r,
                        Err(DatagramError::Ext(ExtError::UnknownKind(auth::KIND_QUERY)))
                    );
                }
                if self.key != Some(ClassKey::from_passphrase(passphrase)) {
                    assert_eq!(self.beacon.wall_clock(now), before, "taught by a foreign seal");
                }
            }
            Op::SetClassKey {
                key,
                clock_offset_s,
            } => {
                self.key = key.map(|ours| {
                    ClassKey::from_passphrase(if ours { CLASS } else { OTHER_CLASS })
                });
                self.beacon.set_class_key(self.key.clone());
                if let Some(offset) = clock_offset_s {
                    self.beacon.set_wall_clock(now, wall_at(*offset));
                }
                // A new key or clock may set the time anywhere.
                self.wall = None;
            }
            Op::SetInterfaces(list) => {
                let list: Vec<Interface> = list.iter().take(12).map(|i| i.get()).collect();
                self.beacon.set_interfaces(&list, now);
            }
            Op::AdvanceTime(ms) => {
                self.now += u64::from(*ms) % 60_001;
                self.beacon.handle_timeout(self.now());
            }
            Op::Drain => self.run_deadlines(),
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut sim = Sim {
        beacon: B::new(Config::default()),
        now: 0,
        sent: 0,
        key: None,
        wall: None,
    };
    for op in ops.iter().take(MAX_OPS) {
        sim.apply(op);
        sim.drain();
        sim.check();
    }
    sim.run_deadlines();
});
