//! The optional class key: adverts a classroom can trust.
//!
//! Without a key anyone on the LAN can advertise "robot" and take another
//! team's commands. With a key (a passphrase the teacher writes on the
//! board), every advert, answer and goodbye is *sealed*: it carries the
//! sender's wall-clock time and an HMAC-SHA256 over the datagram, and
//! keyed beacons ignore (and report) adverts that are unsealed, sealed with
//! another key, or replayed.
//!
//! Sealed datagrams travel on the extension port only, never on 9999 (a
//! Python beacon would die on them). Python networkzero cannot seal, so with
//! a key set only networkzero programs with the same key are heard; with no
//! key set nothing changes and Python peers keep working.
//!
//! Layout: `NW0 1 kind` (5 bytes) · stamp (u64 big-endian, Unix milliseconds)
//! · MAC (the first 16 bytes of HMAC-SHA256 over everything before it and the
//! body) · the body: the advert JSON exactly as [`crate::advert`] writes it,
//! or for a query the name asked for (UTF-8, empty: every name), exactly the
//! body of a plain query ([`crate::ext`]). Kinds: `k` advert, `K` answer,
//! `G` goodbye, `q` query.
//!
//! Replays: a receiver accepts a stamp only within [`MAX_SKEW`] of its own
//! clock and only if it is newer than the last one it accepted for that name.
//!
//! # Sealed queries
//! A keyed beacon that knows its class's time seals its queries too (before
//! it knows it, it asks plainly: an answer it verifies teaches it the time).
//! A query reveals nothing and asks for what every holder of the key hears
//! every 2 s anyway, so its seal is not about who may ask: it carries the
//! class's time to a board that has not learned it, so a keyed program that
//! only discovers finds a keyed board by name at once. A sealed query's
//! stamp is checked and learned by exactly the rule of an advert's (below),
//! but never enters the per-name replay record: many askers query one name,
//! and a query's stamp must not make that name's next advert look replayed.
//!
//! A sealed query whose seal does not check (another class's key, altered)
//! or whose stamp is stale teaches nothing, and is answered as a plain
//! query is: anyone may send a plain query and be answered, so refusing it
//! would keep nobody out, and the answer is sealed, useless to an outsider.
//! No warning is raised for it: queries claim no name, and two classes
//! sharing a room would warn each other on every `discover`. A beacon
//! without a key drops sealed queries as a kind it does not read (so do
//! releases from before them): its plain answer would be refused by the
//! keyed asker, which learns of an unkeyed service of that name from its
//! plain adverts anyway.
//!
//! # A board without a clock learns its class's time
//! A program given the wall-clock time (std: the OS; firmware: SNTP or an
//! RTC, through `set_wall_clock`) uses it. A keyed beacon never given it
//! takes it from its class: its clock is the newest stamp of a sealed
//! advert, answer or query it has *verified* (the MAC checks with the class
//! key), plus the time since it heard it. Until it has heard one it seals
//! nothing, so it neither advertises nor answers (`Beacon::wall_clock` is
//! `None`); the first one sends its names at once, and answers the query
//! that taught it. A keyed std program that advertises anything seals an
//! advert every 2 s, and one that discovers seals its queries, so a board
//! learns the time within one advert interval of such a program starting,
//! or from the first query of a keyed `discover`.
//!
//! Why that is safe: only a holder of the class key can make a stamp the
//! board accepts, and a holder can already advertise any name, so letting
//! one set the board's time gives away nothing new. An outsider can only
//! replay a recorded advert, whose stamp is older than the class's time: a
//! learned clock never goes back (a newer stamp moves it forward, an older
//! one never), and once learned, a stamp over [`MAX_SKEW`] behind it is
//! stale, as with a real clock. Before the board has learned anything a
//! replay can teach it an old time (and the replayed advert is heard, as
//! with no clock at all); that delays, never stops, its adverts: the next
//! fresh advert of the class moves its clock forward. What it does not
//! stop: a class member whose clock is far ahead pulls the board's clock
//! forward with it, and then the board's seals are stale to the rest of
//! the class until it restarts (as the two programs' seals already are to
//! each other).
//!
//! Sealing needs the `class-key` feature (HMAC-SHA256 from RustCrypto).
//! Without it [`ClassKey`] has no values, so no key can be set, and sealed
//! adverts from others are still read, unchecked, as with no key set.

#[cfg(feature = "class-key")]
use hmac::{Hmac, KeyInit, Mac};
#[cfg(feature = "class-key")]
use sha2::Sha256;

use crate::time::Duration;

/// Bytes of MAC kept (128 bits).
pub const MAC_LEN: usize = 16;

/// Bytes of the stamp.
pub const STAMP_LEN: usize = 8;

/// What sealing adds to a datagram.
pub const SEAL_LEN: usize = STAMP_LEN + MAC_LEN;

/// How far a sealed datagram's stamp may be from the receiver's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(60);

/// Kind byte of a sealed advert.
pub const KIND_ADVERT: u8 = b'k';
/// Kind byte of a sealed answer to a query.
pub const KIND_ANSWER: u8 = b'K';
/// Kind byte of a sealed goodbye.
pub const KIND_GOODBYE: u8 = b'G';
/// Kind byte of a sealed query (the body is the name asked for).
pub const KIND_QUERY: u8 = b'q';

/// A class key, derived from a passphrase.
#[cfg(feature = "class-key")]
#[derive(Clone, PartialEq, Eq)]
pub struct ClassKey([u8; 32]);

/// A class key: none can exist in a build without the `class-key` feature.
#[cfg(not(feature = "class-key"))]
#[derive(Clone, PartialEq, Eq)]
pub enum ClassKey {}

impl core::fmt::Debug for ClassKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ClassKey(…)")
    }
}

/// Why a sealed datagram was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Rejected {
    /// Not sealed, but this beacon has a class key.
    Unsealed,
    /// Sealed with another key, or altered.
    BadSeal,
    /// Its stamp is too far from our clock: an old datagram replayed.
    Stale,
}

impl core::fmt::Display for Rejected {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Rejected::Unsealed => "it does not carry the class key",
            Rejected::BadSeal => "it is sealed with a different class key, or was altered",
            Rejected::Stale => "it is too old (replayed?) or the clocks differ by over a minute",
        })
    }
}

#[cfg(feature = "class-key")]
impl ClassKey {
    /// The key for a passphrase. Every program given the same passphrase
    /// gets the same key: the [`crate::kdf`] secret labelled
    /// [`LABEL_ADVERT`](crate::kdf::LABEL_ADVERT), derived the same way as
    /// the class's CURVE keys.
    pub fn from_passphrase(passphrase: &str) -> Self {
        ClassKey(crate::kdf::derive(passphrase, crate::kdf::LABEL_ADVERT))
    }

    fn mac(&self, signed: &[u8], advert: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable_mac());
        mac.update(signed);
        mac.update(advert);
        mac
    }
}

#[cfg(feature = "class-key")]
#[cold]
fn unreachable_mac() -> Hmac<Sha256> {
    // Only reachable if HMAC refused a 32-byte key, which it never does.
    <Hmac<Sha256> as KeyInit>::new(&Default::default())
}

/// Seals an advert already written at `buf[SEAL_OFFSET..SEAL_OFFSET + len]`:
/// writes the header, stamp and MAC in front of it; returns the total length.
pub(crate) fn seal(
    key: &ClassKey,
    kind: u8,
    stamp: u64,
    buf: &mut [u8],
    advert_len: usize,
) -> Option<usize> {
    let total = SEAL_OFFSET.checked_add(advert_len)?;
    let datagram = buf.get_mut(..total)?;
    let (head, advert) = datagram.split_at_mut(SEAL_OFFSET);
    let (signed, tag) = head.split_at_mut(crate::ext::HEADER_LEN + STAMP_LEN);
    crate::ext::write_header(kind, signed)?;
    signed
        .get_mut(crate::ext::HEADER_LEN..)?
        .copy_from_slice(&stamp.to_be_bytes());
    tag.copy_from_slice(tag_of(key, signed, advert).get(..MAC_LEN)?);
    Some(total)
}

#[cfg(feature = "class-key")]
fn tag_of(key: &ClassKey, signed: &[u8], advert: &[u8]) -> [u8; 32] {
    key.mac(signed, advert).finalize().into_bytes().into()
}

#[cfg(not(feature = "class-key"))]
// Mutation runs build with every feature, so they never compile this stand-in:
// `mutants::skip` (read by cargo-mutants from the source) keeps its mutants out.
#[cfg_attr(mutants, mutants::skip)]
fn tag_of(key: &ClassKey, _: &[u8], _: &[u8]) -> [u8; 32] {
    match *key {}
}

#[cfg(feature = "class-key")]
fn verify(key: &ClassKey, signed: &[u8], advert: &[u8], tag: &[u8]) -> Result<(), Rejected> {
    key.mac(signed, advert)
        .verify_truncated_left(tag)
        .map_err(|_| Rejected::BadSeal)
}

#[cfg(not(feature = "class-key"))]
#[cfg_attr(mutants, mutants::skip)]
fn verify(key: &ClassKey, _: &[u8], _: &[u8], _: &[u8]) -> Result<(), Rejected> {
    match *key {}
}

/// Where the advert starts in a sealed datagram.
pub const SEAL_OFFSET: usize = crate::ext::HEADER_LEN + SEAL_LEN;

/// Checks a sealed datagram (`NW0 1` + a sealed kind); returns its kind,
/// stamp and body (advert or queried name). Without a key the seal is not
/// checked; the stamp's freshness never is (that needs a clock: the beacon's).
pub fn open<'a>(
    key: Option<&ClassKey>,
    datagram: &'a [u8],
) -> Result<(u8, u64, &'a [u8]), Rejected> {
    let kind = *datagram
        .get(crate::ext::HEADER_LEN - 1)
        .ok_or(Rejected::BadSeal)?;
    let signed = datagram
        .get(..crate::ext::HEADER_LEN + STAMP_LEN)
        .ok_or(Rejected::BadSeal)?;
    let tag = datagram
        .get(signed.len()..SEAL_OFFSET)
        .ok_or(Rejected::BadSeal)?;
    let advert = datagram.get(SEAL_OFFSET..).ok_or(Rejected::BadSeal)?;
    let mut stamp = [0u8; STAMP_LEN];
    stamp.copy_from_slice(
        signed
            .get(crate::ext::HEADER_LEN..)
            .ok_or(Rejected::BadSeal)?,
    );
    if let Some(key) = key {
        verify(key, signed, advert, tag)?;
    }
    Ok((kind, u64::from_be_bytes(stamp), advert))
}

/// Seals a query for `name` (empty: every name) stamped `stamp`; returns
/// its length, `None` if `buf` is too short or the name too long.
#[cfg(feature = "class-key")]
pub(crate) fn seal_query(key: &ClassKey, stamp: u64, name: &str, buf: &mut [u8]) -> Option<usize> {
    if name.len() > crate::advert::MAX_NAME {
        return None;
    }
    let body = buf.get_mut(SEAL_OFFSET..)?.get_mut(..name.len())?;
    body.copy_from_slice(name.as_bytes());
    seal(key, KIND_QUERY, stamp, buf, name.len())
}

/// Whether `kind` is a sealed advert, answer or goodbye (a sealed query is
/// read only by a keyed beacon: see the module docs).
pub(crate) fn is_sealed_kind(kind: u8) -> bool {
    matches!(kind, KIND_ADVERT | KIND_ANSWER | KIND_GOODBYE)
}

#[cfg(all(test, feature = "class-key"))]
mod tests {
    use super::*;

    fn sealed(key: &ClassKey, stamp: u64) -> std::vec::Vec<u8> {
        let mut buf = [0u8; 300];
        let advert = br#"["robot", "10.0.0.1:5000", 20]"#;
        buf[SEAL_OFFSET..SEAL_OFFSET + advert.len()].copy_from_slice(advert);
        let n = seal(key, KIND_ADVERT, stamp, &mut buf, advert.len()).unwrap();
        buf[..n].to_vec()
    }

    #[test]
    fn seal_and_open() {
        let key = ClassKey::from_passphrase("blue whale");
        let d = sealed(&key, 1234);
        assert_eq!(&d[..5], b"NW0\x01k");
        let (kind, stamp, advert) = open(Some(&key), &d).unwrap();
        assert_eq!((kind, stamp), (KIND_ADVERT, 1234));
        assert_eq!(advert, br#"["robot", "10.0.0.1:5000", 20]"#);
    }

    #[test]
    fn a_sealed_query_is_a_plain_query_s_body_behind_a_seal() {
        let key = ClassKey::from_passphrase("blue whale");
        let mut buf = [0u8; 300];
        let n = seal_query(&key, 1234, "robot", &mut buf).unwrap();
        assert_eq!(&buf[..5], b"NW0\x01q");
        assert_eq!(&buf[5..13], &1234u64.to_be_bytes());
        assert_eq!(&buf[SEAL_OFFSET..n], b"robot");
        assert_eq!(
            open(Some(&key), &buf[..n]),
            Ok((KIND_QUERY, 1234, &b"robot"[..]))
        );
        let other = ClassKey::from_passphrase("red fox");
        assert_eq!(open(Some(&other), &buf[..n]), Err(Rejected::BadSeal));
        // Every name: an empty body.
        let n = seal_query(&key, 1234, "", &mut buf).unwrap();
        assert_eq!(n, SEAL_OFFSET);
        assert_eq!(
            open(Some(&key), &buf[..n]),
            Ok((KIND_QUERY, 1234, &b""[..]))
        );
        // The longest name an advert may carry can be asked for sealed.
        let longest = "x".repeat(crate::advert::MAX_NAME);
        let n = seal_query(&key, 1, &longest, &mut buf).expect("the longest name");
        assert_eq!(&buf[SEAL_OFFSET..n], longest.as_bytes());
        let long = "x".repeat(crate::advert::MAX_NAME + 1);
        assert_eq!(seal_query(&key, 1, &long, &mut buf), None);
        assert_eq!(
            seal_query(&key, 1, "robot", &mut buf[..SEAL_OFFSET + 4]),
            None
        );
    }

    #[test]
    fn another_key_or_a_flipped_bit_is_refused() {
        let key = ClassKey::from_passphrase("blue whale");
        let other = ClassKey::from_passphrase("red fox");
        let d = sealed(&key, 1234);
        assert_eq!(open(Some(&other), &d), Err(Rejected::BadSeal));
        for i in 0..d.len() {
            let mut bad = d.clone();
            bad[i] ^= 1;
            assert!(open(Some(&key), &bad).is_err(), "bit flip at {i} accepted");
        }
        assert_eq!(open(Some(&key), &d[..10]), Err(Rejected::BadSeal));
        // Without a key, the contents are readable but unchecked.
        assert!(open(None, &d).is_ok());
    }
}
