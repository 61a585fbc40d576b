//! What `nw0 doctor` and `nw0 dashboard` need to see of this crate's view
//! of the network: the interfaces adverts go out of, every name heard with
//! how it is doing ([`NameWatch`]), and a way to hand an address's sockets
//! from one thread to another ([`close_sockets`]).
//!
//! Not part of the beginner API: hidden from the docs, and may change.
#![doc(hidden)]

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::address::ToAddress;
use crate::discovery::{Discovery, Look};
use crate::error::Result;
use crate::interfaces;
use crate::ports;
pub use crate::ports::PortHolder;
use crate::runtime;
use crate::transport::Role;

/// An up IPv4 interface (not loopback) that adverts go out of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// The operating system's name for it (`eth0`, `wlan0`, `Wi-Fi`).
    pub name: String,
    /// Its IPv4 address.
    pub ip: Ipv4Addr,
    /// The network prefix length (24 for 255.255.255.0).
    pub prefix_len: u8,
    /// The directed broadcast address adverts are sent to.
    pub broadcast: Ipv4Addr,
    /// A virtual machine's or container's adapter (docker0, vEthernet…).
    pub is_virtual: bool,
}

/// The interfaces adverts go out of, preferred first: the first one's
/// address is the one `advertise` returns.
pub fn interfaces() -> Vec<InterfaceInfo> {
    interfaces::list()
        .into_iter()
        .map(|i| {
            let core = i.to_core();
            InterfaceInfo {
                is_virtual: interfaces::is_virtual(&i.name),
                broadcast: core.broadcast(),
                name: i.name,
                ip: i.ip,
                prefix_len: i.prefix_len,
            }
        })
        .collect()
}

/// The interface of the IPv4 default route, where the system says (Linux:
/// `/proc/net/route`; Windows: the IP Helper API, by the adapter's friendly
/// name); `Err` when this system cannot tell.
pub fn default_route_interface() -> Result<Option<String>, String> {
    interfaces::default_route_interface()
}

/// How a heard name is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Advertised: heard within its ttl.
    Alive,
    /// Its program unadvertised it, or stopped, and said goodbye.
    Goodbye,
    /// Not heard within its ttl: the program (or its computer, or the
    /// network on the way) probably died without saying goodbye.
    Expired,
}

/// One name this program has heard on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeardName {
    /// The advertised name, as heard (any text: show it escaped).
    pub name: String,
    /// Where its service listens; its IP is the machine's.
    pub address: SocketAddr,
    /// When an advert for it was last heard (by this watch).
    pub last_heard: Instant,
    /// Alive, or how it left.
    pub status: Status,
    /// When the status last changed.
    pub since: Instant,
}

/// What changed since a [`NameWatch`] last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameChange {
    /// A name appeared, was heard again, moved, or left (see its status).
    Updated(HeardName),
    /// A name that left [`NameWatch::FORGET_AFTER`] ago and did not come
    /// back: no longer shown.
    Forgotten(String),
}

/// Every name on the network as it changes, for `nw0 dashboard`: what
/// `discover_all` gives, plus when each was last heard and whether a name
/// that left said goodbye or expired. Names that left stay, with their
/// status, for [`NameWatch::FORGET_AFTER`].
///
/// While one exists, discovery keeps a little more (see `discovery::Observed`).
// Not Debug: the runtime's Discovery inside is not.
pub struct NameWatch {
    /// The runtime's discovery when last looked (it is started again if
    /// its thread stopped: the watch then follows the new one).
    discovery: Option<Arc<Discovery>>,
    /// The discovery count at the last look (`None`: not looked yet).
    seen: Option<u64>,
    /// How many looks this watch has taken.
    looks: u64,
    names: BTreeMap<String, Row>,
}

#[derive(Debug)]
struct Row {
    shown: HeardName,
    /// The table's expiry when last looked: it moves when an advert is heard.
    expires: Option<networkzero_core::Instant>,
    /// The look that last saw it in the table.
    looked: u64,
}

/// The transport unkeyed sockets use: `"libzmq"` or `"pure-rust"` (keyed
/// ones always use the core's engine, see the crate docs).
pub fn transport() -> &'static str {
    if cfg!(feature = "pure-rust") {
        "pure-rust"
    } else {
        "libzmq"
    }
}

/// Whether this program hears adverts (UDP 9999). `false` when a program
/// that does not share the port holds it (a Python networkzero program
/// started first): then a [`NameWatch`] sees Rust programs' answers and
/// goodbyes but not adverts, so their names expire, and no Python names.
pub fn hears_adverts() -> Result<bool> {
    Ok(runtime::get().discovery()?.hears_adverts())
}

/// Starts watching every name on the network (and discovery, if not started).
pub fn watch_names() -> Result<NameWatch> {
    Ok(NameWatch::of(runtime::get().discovery()?))
}

impl NameWatch {
    /// How long a name that left stays (with its status) before it is
    /// forgotten.
    pub const FORGET_AFTER: Duration = Duration::from_secs(60);

    /// Waits up to `wait` until something is heard (at once on the first
    /// call), and returns what changed since the last call: on the first
    /// call, every name.
    pub fn changes(&mut self, wait: Duration) -> Result<Vec<NameChange>> {
        Ok(self.changes_in(&runtime::get().discovery()?, wait))
    }

    /// A watch of `discovery` (counted in as its watcher).
    fn of(discovery: Arc<Discovery>) -> NameWatch {
        discovery.set_watched(true);
        NameWatch {
            discovery: Some(discovery),
            seen: None,
            looks: 0,
            names: BTreeMap::new(),
        }
    }

    /// [`Self::changes`] in `discovery`, the runtime's now: apart, so that
    /// a unit test can give it a discovery of its own (the runtime's would
    /// also serve Python's beacon RPC on TCP 9998, which python_beacon's
    /// unit test binds).
    fn changes_in(&mut self, discovery: &Arc<Discovery>, wait: Duration) -> Vec<NameChange> {
        if !self
            .discovery
            .as_ref()
            .is_some_and(|d| Arc::ptr_eq(d, discovery))
        {
            if let Some(old) = self.discovery.take() {
                old.set_watched(false);
            }
            discovery.set_watched(true);
            self.discovery = Some(Arc::clone(discovery));
            self.seen = None;
        }
        let look = discovery.look(self.seen, wait);
        self.apply(look, Instant::now())
    }

    /// Every name as of the last [`Self::changes`], sorted by name.
    pub fn names(&self) -> impl Iterator<Item = &HeardName> + '_ {
        self.names.values().map(|r| &r.shown)
    }

    fn apply(&mut self, look: Look, now: Instant) -> Vec<NameChange> {
        let mut changes = Vec::new();
        self.looks += 1;
        let this_look = self.looks;
        for (name, address, expires) in look.names {
            let fresh = Row {
                shown: HeardName {
                    name: name.clone(),
                    address,
                    last_heard: now,
                    status: Status::Alive,
                    since: now,
                },
                expires,
                looked: this_look,
            };
            let row = self.names.entry(name).or_insert_with(|| Row {
                expires: None,
                looked: this_look,
                shown: HeardName {
                    status: Status::Expired,
                    ..fresh.shown.clone()
                },
            });
            row.looked = this_look;
            if row.shown.status != Status::Alive {
                *row = fresh;
            } else if row.shown.address != address || row.expires != expires {
                row.shown.address = address;
                row.shown.last_heard = now;
                row.expires = expires;
            } else {
                continue;
            }
            changes.push(NameChange::Updated(row.shown.clone()));
        }
        for row in self.names.values_mut() {
            if row.shown.status != Status::Alive || row.looked == this_look {
                continue;
            }
            // The newest departure of this name tells how it left; one
            // missed (more than kept) counts as expired.
            let goodbye = look
                .left
                .iter()
                .rev()
                .find(|(_, name, _, _)| *name == row.shown.name)
                .is_some_and(|(_, _, _, goodbye)| *goodbye);
            row.shown.status = if goodbye {
                Status::Goodbye
            } else {
                Status::Expired
            };
            row.shown.since = now;
            changes.push(NameChange::Updated(row.shown.clone()));
        }
        self.names.retain(|name, row| {
            let keep = row.shown.status == Status::Alive
                || now.saturating_duration_since(row.shown.since) < Self::FORGET_AFTER;
            if !keep {
                changes.push(NameChange::Forgotten(name.clone()));
            }
            keep
        });
        self.seen = Some(look.count);
        changes
    }
}

impl Drop for NameWatch {
    fn drop(&mut self) {
        if let Some(discovery) = self.discovery.take() {
            discovery.set_watched(false);
        }
    }
}

/// Closes this program's sockets for sending messages to, and waiting for
/// news from, `address`. A socket belongs to the thread that made it; after
/// this, the next call from any thread makes a fresh one (`nw0 dashboard`
/// sends and watches from a thread per page request).
pub fn close_sockets(address: impl ToAddress) -> Result<()> {
    let address = address.to_address()?;
    let messaging = runtime::get().messaging()?;
    messaging.reset(address, Role::Request);
    messaging.reset(address, Role::Subscribe);
    Ok(())
}

/// A blocking UDP socket on `port`, shared with the other programs on this
/// computer exactly as networkzero shares its ports.
pub fn open_shared_udp(port: u16) -> io::Result<UdpSocket> {
    ports::shared_udp(port).map(Into::into)
}

/// Whether opening a port failed because another program holds it and does
/// not share it (on Windows that shows as "access denied", WSAEACCES).
pub fn is_held_by_another_program(e: &io::Error) -> bool {
    ports::is_held_by_another_program(e)
}

/// The programs holding UDP `port`, where the system says (Linux: /proc,
/// for the processes we may see; Windows: the IP Helper API); `Err` when
/// this system cannot tell.
pub fn udp_port_holders(port: u16) -> Result<Vec<PortHolder>, String> {
    ports::udp_port_holders(port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use networkzero_core::Instant as CoreInstant;

    fn at(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 200, 0, 1], port))
    }

    fn look(count: u64, names: &[(&str, u16, u64)], left: &[(&str, u16, bool)]) -> Look {
        Look {
            count,
            names: names
                .iter()
                .map(|(n, p, e)| (n.to_string(), at(*p), Some(CoreInstant::from_millis(*e))))
                .collect(),
            left: left
                .iter()
                .map(|(n, p, g)| (count, n.to_string(), at(*p), *g))
                .collect(),
        }
    }

    fn watch() -> NameWatch {
        NameWatch {
            discovery: None,
            seen: None,
            looks: 0,
            names: BTreeMap::new(),
        }
    }

    fn updated(changes: &[NameChange]) -> Vec<(&str, Status)> {
        changes
            .iter()
            .filter_map(|c| match c {
                NameChange::Updated(h) => Some((h.name.as_str(), h.status)),
                NameChange::Forgotten(_) => None,
            })
            .collect()
    }

    #[test]
    fn names_appear_are_heard_again_and_leave_as_they_did() {
        let mut w = watch();
        let t0 = Instant::now();
        let c = w.apply(
            look(1, &[("a", 1, 100), ("b", 2, 100), ("c", 3, 100)], &[]),
            t0,
        );
        assert_eq!(
            updated(&c),
            [
                ("a", Status::Alive),
                ("b", Status::Alive),
                ("c", Status::Alive)
            ]
        );
        // Nothing heard: nothing changed.
        assert!(w
            .apply(
                look(2, &[("a", 1, 100), ("b", 2, 100), ("c", 3, 100)], &[]),
                t0
            )
            .is_empty());
        // "a" heard again (its expiry moved): last heard moves.
        let t1 = t0 + Duration::from_secs(2);
        let c = w.apply(
            look(3, &[("a", 1, 2100), ("b", 2, 100), ("c", 3, 100)], &[]),
            t1,
        );
        assert_eq!(updated(&c), [("a", Status::Alive)]);
        assert_eq!(w.names().next().unwrap().last_heard, t1);
        // "b" says goodbye, "c" lapses.
        let c = w.apply(
            look(4, &[("a", 1, 2100)], &[("b", 2, true), ("c", 3, false)]),
            t1,
        );
        assert_eq!(
            updated(&c),
            [("b", Status::Goodbye), ("c", Status::Expired)]
        );
        // "b" comes back.
        let c = w.apply(look(5, &[("a", 1, 2100), ("b", 4, 3000)], &[]), t1);
        assert_eq!(updated(&c), [("b", Status::Alive)]);
        assert_eq!(w.names().nth(1).unwrap().address, at(4));
        // "c" is forgotten a while after it left.
        let later = t1 + NameWatch::FORGET_AFTER;
        let c = w.apply(look(6, &[("a", 1, 2100), ("b", 4, 3000)], &[]), later);
        assert_eq!(c, [NameChange::Forgotten("c".into())]);
        assert_eq!(w.names().count(), 2);
    }

    /// A name that never expires (a Python program's `ttl_s=None`) is a
    /// change when it first appears, like any other: a new row starts as
    /// not alive, so that hearing it makes it so.
    #[test]
    fn a_name_that_never_expires_appears_too() {
        let mut w = watch();
        let forever = Look {
            count: 1,
            names: vec![("ever".to_string(), at(1), None)],
            left: Vec::new(),
        };
        let c = w.apply(forever, Instant::now());
        assert_eq!(updated(&c), [("ever", Status::Alive)]);
    }

    /// The name `transport` gives is the transport messages travel by (tests
    /// that tell the two transports' warnings apart read it).
    #[test]
    fn the_transport_named_is_the_one_in_use() {
        let running = std::any::type_name::<crate::transport::Running>();
        let module = match transport() {
            "libzmq" => "::transport::routed::",
            "pure-rust" => "::transport::pure::",
            other => panic!("no transport is called {other:?}"),
        };
        assert!(running.contains(module), "{running} runs");
    }

    /// The watch of a running discovery (the test's own, whose thread runs
    /// until the test process ends): a Python program's name appears alive,
    /// and after its goodbye shows as said goodbye, not expired. The watch
    /// stays counted in between two looks, so a departure is kept for its
    /// next one (were it counted out and in again at each look, discovery
    /// would drop it). Dropped, the watch counts itself out, and discovery
    /// keeps no departures for it (it kept them for nobody).
    #[test]
    fn a_watch_keeps_goodbyes_between_looks_and_lets_go_when_dropped() {
        let (discovery, _thread) = Discovery::start().expect("discovery starts");
        let mut watch = NameWatch::of(Arc::clone(&discovery));
        let name = "diagnostics/watched";
        // The name's first status that `wanted` takes, as the watch shows
        // it; `None` if none came within 30 s.
        let first = |watch: &mut NameWatch, wanted: fn(Status) -> bool| {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                let changes = watch.changes_in(&discovery, Duration::from_secs(1));
                let found = changes.into_iter().find_map(|c| match c {
                    NameChange::Updated(h) if h.name == name && wanted(h.status) => Some(h.status),
                    _ => None,
                });
                if found.is_some() {
                    return found;
                }
            }
            None
        };
        // A Python program's advert, then its goodbye (ttl 0), to every
        // process of this host (the lib tests run in a private namespace).
        let python = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        python.set_broadcast(true).unwrap();
        let advert = |ttl: u32| {
            let datagram = format!("[\"{name}\", \"10.200.0.1:7001\", {ttl}]");
            let everyone = (Ipv4Addr::new(127, 255, 255, 255), 9999);
            python.send_to(datagram.as_bytes(), everyone).unwrap();
        };
        advert(20);
        let alive = first(&mut watch, |s| s == Status::Alive);
        assert_eq!(alive, Some(Status::Alive), "heard");
        advert(0);
        let gone = first(&mut watch, |s| s != Status::Alive);
        assert_eq!(gone, Some(Status::Goodbye), "left");
        assert!(
            !discovery.look(None, Duration::ZERO).left.is_empty(),
            "kept while watched"
        );
        drop(watch);
        let left = discovery.look(None, Duration::ZERO).left;
        assert!(left.is_empty(), "kept for a watch that went: {left:?}");
    }

    #[test]
    fn a_departure_not_recorded_counts_as_expired() {
        let mut w = watch();
        let t0 = Instant::now();
        w.apply(look(1, &[("a", 1, 100)], &[]), t0);
        let c = w.apply(look(2, &[], &[("other", 1, true)]), t0);
        assert_eq!(updated(&c), [("a", Status::Expired)]);
    }
}
