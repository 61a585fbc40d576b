//! The adverts a node has heard: name → address, until the advert expires.
//!
//! One address per name: the latest advert wins, as in Python networkzero.
//! Where the entries live is the [`Entries`] trait's business: [`Fixed`]
//! holds at most `N` with no heap (`Fixed<16>` on a Pico W), and an adapter
//! with a heap can supply storage that grows with the network up to a limit
//! of its own (the std crate does).
//!
//! **When full**, a new name evicts the entry that would expire soonest (the
//! one its owner has refreshed least recently, or with the shortest ttl).
//! A busy classroom LAN therefore keeps the liveliest adverts, and inserting
//! never fails or panics.
//!
//! Finding a name compares a 32-bit hash per entry, kept apart from the
//! entries: a school's 400 names fit in 1.6 KiB of hashes, where comparing
//! names would touch one cache line per entry for every advert heard (each
//! program hears hundreds a second).

use core::net::SocketAddr;

use crate::advert::Name;
use crate::time::Instant;

/// One heard advert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The advertised name.
    pub name: Name,
    /// Where the service listens.
    pub address: SocketAddr,
    /// When the advert lapses unless heard again; `None` never.
    pub expires: Option<Instant>,
}

/// What an insert did.
// Returned, never stored: the evicted entry is handed back by value.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// A name not in the table before.
    New,
    /// The name was known at the same address; only its expiry moved.
    Refreshed,
    /// The name was known at another address, now replaced.
    Moved {
        /// The address it had before.
        previous: SocketAddr,
    },
    /// The table was full: this entry was evicted to make room.
    Evicted(Entry),
}

/// The hash [`Entries`] index names by (FNV-1a).
pub fn name_hash(name: &str) -> u32 {
    name.bytes().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Storage for an [`AdvertTable`]: entries, each with the [`name_hash`] of
/// its name, in no particular order. A storage provides the two columns and
/// how they grow and shrink; replacing and removing are built on those, once.
pub trait Entries {
    /// The entries.
    fn entries(&self) -> &[Entry];
    /// The hash of each entry's name, in the same order.
    fn hashes(&self) -> &[u32];
    /// Both columns, to change entries in place.
    fn columns_mut(&mut self) -> (&mut [Entry], &mut [u32]);
    /// Whether there is no room for another entry.
    fn is_full(&self) -> bool;
    /// Adds an entry whose name hashes to `hash` (called only when not full;
    /// a full storage drops it).
    fn push(&mut self, entry: Entry, hash: u32);
    /// Removes the last entry and its hash.
    fn pop(&mut self) -> Option<Entry>;

    /// The entries, to change expiries and addresses (never names).
    fn entries_mut(&mut self) -> &mut [Entry] {
        self.columns_mut().0
    }

    /// Replaces entry `i` (which must exist) and its hash; returns the old one.
    fn replace(&mut self, i: usize, entry: Entry, hash: u32) -> Option<Entry> {
        let (entries, hashes) = self.columns_mut();
        let slot = entries.get_mut(i)?;
        if let Some(h) = hashes.get_mut(i) {
            *h = hash;
        }
        Some(core::mem::replace(slot, entry))
    }

    /// Removes entry `i`, moving the last one into its place.
    fn swap_remove(&mut self, i: usize) -> Option<Entry> {
        let last = self.entries().len().checked_sub(1)?;
        if i > last {
            return None;
        }
        let hash = self.hashes().get(last).copied().unwrap_or_default();
        let moved = self.pop()?;
        if i == last {
            return Some(moved);
        }
        self.replace(i, moved, hash)
    }

    /// Removes everything.
    fn clear(&mut self) {
        while self.pop().is_some() {}
    }
}

/// At most `N` entries, no heap.
#[derive(Debug, Clone)]
pub struct Fixed<const N: usize> {
    entries: heapless::Vec<Entry, N>,
    hashes: heapless::Vec<u32, N>,
}

impl<const N: usize> Default for Fixed<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Fixed<N> {
    /// Empty storage.
    pub const fn new() -> Self {
        Fixed {
            entries: heapless::Vec::new(),
            hashes: heapless::Vec::new(),
        }
    }
}

impl<const N: usize> Entries for Fixed<N> {
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
        self.entries.is_full()
    }

    fn push(&mut self, entry: Entry, hash: u32) {
        // Both have capacity N and the same length, so both fit or neither.
        if self.entries.push(entry).is_ok() {
            let _ = self.hashes.push(hash);
        }
    }

    fn pop(&mut self) -> Option<Entry> {
        self.hashes.pop();
        self.entries.pop()
    }
}

/// The table of heard adverts, over storage `S`.
#[derive(Debug, Clone, Default)]
pub struct AdvertTable<S: Entries> {
    storage: S,
    /// No entry expires before this (`None`: none expires). A lower bound:
    /// refreshes only move expiries later, so it is exact again after the
    /// scan [`Self::expire`] makes once it has passed, about once per ttl
    /// instead of once per call.
    soonest: Option<Instant>,
}

fn expires_before(a: Option<Instant>, b: Option<Instant>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

impl<const N: usize> AdvertTable<Fixed<N>> {
    /// An empty table of at most `N` entries.
    pub const fn new() -> Self {
        AdvertTable {
            storage: Fixed::new(),
            soonest: None,
        }
    }
}

impl<S: Entries> AdvertTable<S> {
    /// A table over `storage` (which should be empty).
    pub fn with_storage(storage: S) -> Self {
        let mut table = AdvertTable {
            storage,
            soonest: None,
        };
        table.soonest = table.exact_soonest();
        table
    }

    fn exact_soonest(&self) -> Option<Instant> {
        self.storage
            .entries()
            .iter()
            .filter_map(|e| e.expires)
            .min()
    }

    /// The storage, e.g. to ask how much room it has left.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Number of entries (live or not yet expired by [`Self::expire`]).
    pub fn len(&self) -> usize {
        self.storage.entries().len()
    }

    /// Whether the table holds nothing.
    pub fn is_empty(&self) -> bool {
        self.storage.entries().is_empty()
    }

    fn position(&self, name: &str) -> Option<usize> {
        let hash = name_hash(name);
        let entries = self.storage.entries();
        self.storage
            .hashes()
            .iter()
            .enumerate()
            .filter(|&(_, &h)| h == hash)
            .map(|(i, _)| i)
            .find(|&i| entries.get(i).is_some_and(|e| e.name == name))
    }

    /// Records an advert: the latest one for a name wins. When the table is
    /// full, evicts the entry that expires soonest. With no room at all
    /// nothing is stored and the new entry itself is reported as evicted.
    pub fn insert(
        &mut self,
        name: &str,
        address: SocketAddr,
        expires: Option<Instant>,
    ) -> Inserted {
        if let Some(t) = expires {
            self.soonest = Some(self.soonest.map_or(t, |s| s.min(t)));
        }
        if let Some(i) = self.position(name) {
            if let Some(entry) = self.storage.entries_mut().get_mut(i) {
                entry.expires = expires;
                if entry.address == address {
                    return Inserted::Refreshed;
                }
                let previous = core::mem::replace(&mut entry.address, address);
                return Inserted::Moved { previous };
            }
        }
        let mut stored = Name::new();
        // Names come from `advert::decode` or callers holding a `Name`-sized
        // string; truncation would be a bug, so refuse rather than corrupt.
        if stored.push_str(name).is_err() {
            return Inserted::Evicted(Entry {
                name: Name::new(),
                address,
                expires,
            });
        }
        let entry = Entry {
            name: stored,
            address,
            expires,
        };
        let hash = name_hash(name);
        if !self.storage.is_full() {
            self.storage.push(entry, hash);
            return Inserted::New;
        }
        let soonest = self.storage.entries().iter().enumerate().fold(
            None::<(usize, Option<Instant>)>,
            |best, (i, e)| match best {
                Some((_, t)) if !expires_before(e.expires, t) => best,
                _ => Some((i, e.expires)),
            },
        );
        match soonest {
            Some((i, t)) if expires_before(t, entry.expires) || t == entry.expires => {
                match self.storage.replace(i, entry.clone(), hash) {
                    Some(gone) => Inserted::Evicted(gone),
                    None => Inserted::Evicted(entry),
                }
            }
            // Everything stored outlives the newcomer (or there is no room at
            // all): drop it instead.
            _ => Inserted::Evicted(entry),
        }
    }

    /// The address for `name`, if heard and not expired at `now`.
    pub fn get(&self, name: &str, now: Instant) -> Option<SocketAddr> {
        let entry = self.storage.entries().get(self.position(name)?)?;
        is_live(entry, now).then_some(entry.address)
    }

    /// Removes `name`; with `address`, only if it is still at that address
    /// (so a stale goodbye cannot remove a service that moved).
    pub fn remove(&mut self, name: &str, address: Option<SocketAddr>) -> Option<Entry> {
        let i = self.position(name)?;
        let entry = self.storage.entries().get(i)?;
        if address.is_some_and(|a| a != entry.address) {
            return None;
        }
        self.storage.swap_remove(i)
    }

    /// Removes one entry that has expired at `now` and returns it; call until
    /// `None` to expire them all.
    pub fn expire(&mut self, now: Instant) -> Option<Entry> {
        if self.soonest.is_none_or(|t| now < t) {
            return None;
        }
        let found = self.storage.entries().iter().position(|e| !is_live(e, now));
        match found {
            Some(i) => self.storage.swap_remove(i),
            None => {
                self.soonest = self.exact_soonest();
                None
            }
        }
    }

    /// No entry expires before this (it may be a little early: call
    /// [`Self::expire`] then, which finds out).
    pub fn next_expiry(&self) -> Option<Instant> {
        self.soonest
    }

    /// Every live entry at `now`, for `discover_all`.
    pub fn iter(&self, now: Instant) -> impl Iterator<Item = &Entry> + '_ {
        self.storage
            .entries()
            .iter()
            .filter(move |e| is_live(e, now))
    }

    /// Live entries of a group, for `discover_group`: names that start with
    /// `group` followed by `separator`, minus those in `exclude`.
    pub fn group<'a>(
        &'a self,
        group: &'a str,
        separator: &'a str,
        exclude: &'a [&'a str],
        now: Instant,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.iter(now).filter(move |e| {
            e.name
                .strip_prefix(group)
                .is_some_and(|rest| rest.starts_with(separator))
                && !exclude.contains(&e.name.as_str())
        })
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.storage.clear();
        self.soonest = None;
    }
}

fn is_live(entry: &Entry, now: Instant) -> bool {
    entry.expires.is_none_or(|t| now < t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 200, 0, 1], port))
    }
    fn at(ms: u64) -> Option<Instant> {
        Some(Instant::from_millis(ms))
    }

    #[test]
    fn latest_advert_wins_and_expires() {
        let mut t = AdvertTable::<Fixed<4>>::new();
        assert_eq!(t.insert("a", addr(1), at(100)), Inserted::New);
        assert_eq!(t.insert("a", addr(1), at(200)), Inserted::Refreshed);
        assert_eq!(
            t.insert("a", addr(2), at(300)),
            Inserted::Moved { previous: addr(1) }
        );
        assert_eq!(t.get("a", Instant::from_millis(299)), Some(addr(2)));
        assert_eq!(t.get("a", Instant::from_millis(300)), None);
        assert_eq!(t.expire(Instant::from_millis(300)).unwrap().name, "a");
        assert!(t.is_empty());
    }

    /// `name_hash` is FNV-1a as documented (the published test vectors), not
    /// just any hash that happens to keep lookups working.
    #[test]
    fn name_hash_is_fnv_1a() {
        assert_eq!(name_hash(""), 0x811c_9dc5);
        assert_eq!(name_hash("a"), 0xe40c_292c);
        assert_eq!(name_hash("foobar"), 0xbf9c_f968);
    }

    #[test]
    fn a_table_with_an_entry_is_not_empty() {
        let mut t = AdvertTable::<Fixed<2>>::new();
        assert!(t.is_empty());
        t.insert("a", addr(1), None);
        assert!(!t.is_empty());
    }

    #[test]
    fn full_table_evicts_soonest_expiring() {
        let mut t = AdvertTable::<Fixed<2>>::new();
        t.insert("a", addr(1), at(500));
        t.insert("b", addr(2), at(100));
        match t.insert("c", addr(3), at(300)) {
            Inserted::Evicted(e) => assert_eq!(e.name, "b"),
            other => panic!("{other:?}"),
        }
        assert_eq!(t.get("c", Instant::ZERO), Some(addr(3)));
        // A newcomer that would expire before everything stored is the one dropped.
        match t.insert("d", addr(4), at(50)) {
            Inserted::Evicted(e) => assert_eq!(e.name, "d"),
            other => panic!("{other:?}"),
        }
        // Never-expiring entries outlive all.
        t.insert("a", addr(1), None);
        match t.insert("e", addr(5), None) {
            Inserted::Evicted(e) => assert_eq!(e.name, "c"),
            other => panic!("{other:?}"),
        }
        // The soonest wherever it is stored: first here, with later ones after it.
        let mut t = AdvertTable::<Fixed<3>>::new();
        t.insert("x", addr(1), at(100));
        t.insert("y", addr(2), at(500));
        t.insert("z", addr(3), at(300));
        match t.insert("w", addr(4), at(400)) {
            Inserted::Evicted(e) => assert_eq!(e.name, "x"),
            other => panic!("{other:?}"),
        }
        let mut zero = AdvertTable::<Fixed<0>>::new();
        assert!(matches!(
            zero.insert("x", addr(1), None),
            Inserted::Evicted(_)
        ));
    }

    #[test]
    fn groups_and_removal() {
        let mut t = AdvertTable::<Fixed<8>>::new();
        for (i, n) in ["chat/alice", "chat/bob", "chatter", "robot", "chat/"]
            .iter()
            .enumerate()
        {
            t.insert(n, addr(i as u16), None);
        }
        let names = |ex: &[&str]| {
            let mut v: std::vec::Vec<_> = t
                .group("chat", "/", ex, Instant::ZERO)
                .map(|e| e.name.as_str())
                .collect();
            v.sort();
            v.join(",")
        };
        assert_eq!(names(&[]), "chat/,chat/alice,chat/bob");
        assert_eq!(names(&["chat/bob"]), "chat/,chat/alice");
        assert!(t.remove("robot", Some(addr(99))).is_none());
        assert!(t.remove("robot", Some(addr(3))).is_some());
        assert!(t.remove("chatter", None).is_some());
        assert_eq!(t.len(), 3);
    }

    proptest! {
        #[test]
        fn invariants(ops in proptest::collection::vec((0u8..12, 0u16..4, 1u64..1000, any::<bool>()), 0..200)) {
            let mut t = AdvertTable::<Fixed<5>>::new();
            let mut now = 0;
            for (name, port, ttl, expire) in ops {
                let name = [b'a' + name];
                let name = core::str::from_utf8(&name).unwrap();
                now += 7;
                let dropped = matches!(t.insert(name, addr(port), at(now + ttl)), Inserted::Evicted(ref e) if e.name == name);
                prop_assert!(t.len() <= 5);
                let want = if dropped { None } else { Some(addr(port)) };
                prop_assert_eq!(t.get(name, Instant::from_millis(now)), want);
                let mut names: std::vec::Vec<_> = t.iter(Instant::ZERO).map(|e| e.name.clone()).collect();
                names.sort();
                names.dedup();
                prop_assert_eq!(names.len(), t.len());
                if expire {
                    let n = Instant::from_millis(now);
                    while let Some(e) = t.expire(n) {
                        prop_assert!(e.expires.unwrap() <= n);
                    }
                    prop_assert!(t.iter(n).count() == t.len());
                    prop_assert!(t.next_expiry().is_none_or(|x| x > n));
                }
            }
        }
    }
}
