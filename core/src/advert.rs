//! The advert datagram of Python networkzero 1.0b1: `["name", "ip:port", ttl]`.
//!
//! Python's beacon sends `json.dumps([name, address, ttl_s])` to
//! 255.255.255.255:9999 and reads at most 256 bytes; anything else kills its
//! beacon thread. So [`encode`] reproduces `json.dumps` byte for byte and
//! refuses to make a datagram longer than [`MAX_DATAGRAM`], while [`decode`]
//! accepts any valid JSON of that shape (other spacing, raw UTF-8, any escapes,
//! a `null` ttl meaning "never expires", a fractional ttl).

use core::fmt::{self, Write};
use core::net::SocketAddr;

use crate::address::AddressSpec;
use crate::json::{self, Cursor, JsonError};
use crate::time::Duration;

/// Largest datagram a Python beacon reads (its `recvfrom` buffer).
pub const MAX_DATAGRAM: usize = 256;

/// Longest name, in UTF-8 bytes, that a received advert can carry:
/// a 256-byte datagram less the shortest rest, `["", "1.2.3.4:1", 0]`.
pub const MAX_NAME: usize = MAX_DATAGRAM - 20;

/// A service name as stored: at most [`MAX_NAME`] bytes of UTF-8.
pub type Name = heapless::String<MAX_NAME>;

/// Longest address text we read (`[ffff:…:ffff]:65535` is 47 bytes).
const MAX_ADDRESS_TEXT: usize = 48;

/// One decoded advert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// The advertised name, escapes decoded.
    pub name: Name,
    /// Where the service listens.
    pub address: SocketAddr,
    /// How long receivers keep the advert; `None` (a JSON `null`) is forever.
    pub ttl: Option<Duration>,
}

/// Why a datagram is not an advert. The datagram is dropped; nothing else
/// changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// Longer than the 256 bytes a Python beacon would read.
    TooLong,
    /// Ends before the advert is complete.
    Truncated,
    /// Not a JSON array of a string, a string and a number.
    NotAnAdvert,
    /// The name has a bad escape or invalid UTF-8.
    BadName,
    /// The address is not `ip:port`.
    BadAddress,
    /// The ttl is negative, has an exponent or is absurdly large.
    BadTtl,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::TooLong => "advert longer than 256 bytes",
            DecodeError::Truncated => "advert ends early",
            DecodeError::NotAnAdvert => "not a JSON [name, address, ttl] advert",
            DecodeError::BadName => "advert name is not valid text",
            DecodeError::BadAddress => "advert address is not ip:port",
            DecodeError::BadTtl => "advert ttl is not a non-negative number of seconds",
        })
    }
}

/// Why an advert cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The advert would be longer than 256 bytes, which a Python beacon
    /// cannot read. `len` is how long it would be.
    TooLong {
        /// The encoded length the advert would have.
        len: usize,
    },
    /// The caller's buffer is too small; `required` bytes are needed.
    BufferTooSmall {
        /// Bytes the datagram needs.
        required: usize,
    },
    /// The name is empty.
    EmptyName,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooLong { len } => write!(
                f,
                "the name is too long: its advert would be {len} bytes but must fit in {MAX_DATAGRAM}; use a shorter name"
            ),
            EncodeError::BufferTooSmall { required } => {
                write!(f, "buffer too small: {required} bytes needed")
            }
            EncodeError::EmptyName => f.write_str("the name is empty; give the service a name"),
        }
    }
}

impl From<JsonError> for DecodeError {
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::Truncated => DecodeError::Truncated,
            _ => DecodeError::NotAnAdvert,
        }
    }
}

/// The ttl as Python writes it: whole seconds (`20`), `null` for "never
/// expires", or to the millisecond (`2.500`, the number `json.dumps` writes
/// `2.5`) for a fractional one.
struct TtlText(Option<Duration>);

impl fmt::Display for TtlText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("null"),
            Some(ttl) => match (ttl.as_secs(), ttl.as_millis() % 1000) {
                (secs, 0) => write!(f, "{secs}"),
                (secs, milli) => write!(f, "{secs}.{milli:03}"),
            },
        }
    }
}

/// Bytes the advert for `name`, `address`, `ttl` takes on the wire.
pub fn encoded_len(name: &str, address: SocketAddr, ttl: Duration) -> usize {
    encoded_len_ttl(name, address, Some(ttl))
}

/// [`encoded_len`] with a ttl that may be `None`: written `null`, never expires.
pub fn encoded_len_ttl(name: &str, address: SocketAddr, ttl: Option<Duration>) -> usize {
    let mut counter = Counter(0);
    // Counting cannot fail: Counter never errors.
    let _ = write!(counter, "{address}\", {}]", TtlText(ttl));
    1 + json::str_len(name) + 3 + counter.0
}

/// Writes the advert exactly as Python's `json.dumps([name, "ip:port", ttl])`
/// and returns its length.
pub fn encode(
    name: &str,
    address: SocketAddr,
    ttl: Duration,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    encode_ttl(name, address, Some(ttl), buf)
}

/// [`encode`] with a ttl that may be `None`: written `null`, which Python
/// takes as "never expires" (as a Python program asking its beacon for
/// `ttl_s=None` gets).
pub fn encode_ttl(
    name: &str,
    address: SocketAddr,
    ttl: Option<Duration>,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    if name.is_empty() {
        return Err(EncodeError::EmptyName);
    }
    let len = encoded_len_ttl(name, address, ttl);
    if len > MAX_DATAGRAM {
        return Err(EncodeError::TooLong { len });
    }
    let out = buf
        .get_mut(..len)
        .ok_or(EncodeError::BufferTooSmall { required: len })?;
    let mut w = SliceWriter { buf: out, len: 0 };
    let written = w
        .write_char('[')
        .and_then(|_| json::write_str(&mut w, name))
        .and_then(|_| write!(w, ", \"{address}\", {}]", TtlText(ttl)));
    match written {
        Ok(()) if w.len == len => Ok(len),
        // encoded_len and the writer disagree: a bug, reported not panicked.
        _ => Err(EncodeError::BufferTooSmall { required: len }),
    }
}

/// Reads an advert datagram.
pub fn decode(datagram: &[u8]) -> Result<Advert, DecodeError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLong);
    }
    let mut cur = Cursor::new(datagram);
    cur.expect(b'[')?;
    let mut name = Name::new();
    cur.string(&mut name).map_err(|e| match e {
        JsonError::Truncated => DecodeError::Truncated,
        JsonError::Unexpected => DecodeError::NotAnAdvert,
        _ => DecodeError::BadName,
    })?;
    // Python advertises even an empty name; we accept it on the wire (our
    // own `encode` refuses it, as an empty name is a beginner's mistake).
    cur.expect(b',')?;
    let mut text = heapless::String::<MAX_ADDRESS_TEXT>::new();
    cur.string(&mut text).map_err(|e| match e {
        JsonError::Truncated => DecodeError::Truncated,
        JsonError::Unexpected => DecodeError::NotAnAdvert,
        _ => DecodeError::BadAddress,
    })?;
    let address = AddressSpec::parse(&text)
        .ok()
        .and_then(|spec| spec.socket_addr())
        .ok_or(DecodeError::BadAddress)?;
    cur.expect(b',')?;
    let ttl = if cur.eat_null()? {
        None
    } else {
        let milli = cur.milli_number().map_err(|e| match e {
            JsonError::Truncated => DecodeError::Truncated,
            _ => DecodeError::BadTtl,
        })?;
        Some(Duration::from_millis(milli))
    };
    cur.expect(b']')?;
    if !cur.at_end() {
        return Err(DecodeError::NotAnAdvert);
    }
    Ok(Advert { name, address, ttl })
}

/// Counts bytes written through `fmt::Write`.
struct Counter(usize);

impl Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// `fmt::Write` into a byte slice; errors instead of overflowing.
pub(crate) struct SliceWriter<'a> {
    pub(crate) buf: &'a mut [u8],
    pub(crate) len: usize,
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(name: &str, addr: &str, ttl: u64) -> Result<std::vec::Vec<u8>, EncodeError> {
        let mut buf = [0u8; 300];
        let n = encode(
            name,
            addr.parse().unwrap(),
            Duration::from_secs(ttl),
            &mut buf,
        )?;
        Ok(buf[..n].to_vec())
    }

    #[test]
    fn writes_ttls_python_reads() {
        let mut buf = [0u8; 64];
        let a = "1.2.3.4:5".parse().unwrap();
        for (ttl, text) in [
            (Some(Duration::from_millis(2_500)), "2.500"),
            (Some(Duration::from_millis(1_005)), "1.005"),
            (Some(Duration::from_millis(30)), "0.030"),
            (Some(Duration::from_secs(20)), "20"),
            (None, "null"),
        ] {
            let n = encode_ttl("x", a, ttl, &mut buf).unwrap();
            let want = std::format!("[\"x\", \"1.2.3.4:5\", {text}]");
            assert_eq!(core::str::from_utf8(&buf[..n]).unwrap(), want);
            assert_eq!(n, encoded_len_ttl("x", a, ttl));
            assert_eq!(decode(&buf[..n]).unwrap().ttl, ttl, "{text} reads back");
        }
    }

    #[test]
    fn encodes_like_python() {
        assert_eq!(
            enc("echo", "10.200.0.1:60589", 20).unwrap(),
            br#"["echo", "10.200.0.1:60589", 20]"#
        );
        assert_eq!(
            enc("café", "1.2.3.4:5", 0).unwrap(),
            br#"["caf\u00e9", "1.2.3.4:5", 0]"#
        );
    }

    #[test]
    fn refuses_what_python_could_not_read() {
        let longest = "x".repeat(256 - br#"["", "255.255.255.255:65535", 20]"#.len());
        assert_eq!(
            enc(&longest, "255.255.255.255:65535", 20).unwrap().len(),
            256
        );
        let too_long = longest.clone() + "x";
        assert_eq!(
            enc(&too_long, "255.255.255.255:65535", 20),
            Err(EncodeError::TooLong { len: 257 })
        );
        // Non-ASCII counts as its escaped length, six bytes a character.
        assert!(matches!(
            enc(&"é".repeat(40), "1.2.3.4:5", 20),
            Err(EncodeError::TooLong { .. })
        ));
        assert_eq!(enc("", "1.2.3.4:5", 20), Err(EncodeError::EmptyName));
        let mut small = [0u8; 10];
        assert_eq!(
            encode(
                "echo",
                "1.2.3.4:5".parse().unwrap(),
                Duration::ZERO,
                &mut small
            ),
            Err(EncodeError::BufferTooSmall { required: 24 })
        );
    }

    #[test]
    fn decodes_any_spacing_and_escapes() {
        let a = decode(br#"["echo", "10.200.0.1:60589", 20]"#).unwrap();
        assert_eq!(a.name, "echo");
        assert_eq!(a.address, "10.200.0.1:60589".parse().unwrap());
        assert_eq!(a.ttl, Some(Duration::from_secs(20)));
        let b = decode(b" [ \"caf\\u00e9\" ,\n\"1.2.3.4:5\",2.5 ] ").unwrap();
        assert_eq!(
            (b.name.as_str(), b.ttl),
            ("café", Some(Duration::from_millis(2500)))
        );
        let c = decode("[\"ロボット\",\"[::1]:80\",null]".as_bytes()).unwrap();
        assert_eq!((c.name.as_str(), c.ttl), ("ロボット", None));
    }

    #[test]
    fn malformed_datagrams_are_typed_errors() {
        let cases: &[(&[u8], DecodeError)] = &[
            (b"", DecodeError::Truncated),
            (b"[", DecodeError::Truncated),
            (b"[\"a\", \"1.2.3.4:5\"", DecodeError::Truncated),
            // Each field's own reading: a cut address string, a cut ttl, an address
            // that is not a string (the mutation run found these arms untested).
            (b"[\"a\", \"1.2", DecodeError::Truncated),
            (b"[\"a\", \"1.2.3.4:5\", ", DecodeError::Truncated),
            (b"[\"a\", 5, 2]", DecodeError::NotAnAdvert),
            (b"{}", DecodeError::NotAnAdvert),
            (b"[1, \"1.2.3.4:5\", 2]", DecodeError::NotAnAdvert),
            (b"[\"a\", \"1.2.3.4:5\", 2, 3]", DecodeError::NotAnAdvert),
            (b"[\"a\", \"1.2.3.4:5\", 2] x", DecodeError::NotAnAdvert),
            (b"[\"\\q\", \"1.2.3.4:5\", 2]", DecodeError::BadName),
            (b"[\"\xff\", \"1.2.3.4:5\", 2]", DecodeError::BadName),
            (b"[\"a\", \"nowhere\", 2]", DecodeError::BadAddress),
            (b"[\"a\", \"1.2.3.4\", 2]", DecodeError::BadAddress),
            (b"[\"a\", \"1.2.3.4:5\", -2]", DecodeError::BadTtl),
            (b"[\"a\", \"1.2.3.4:5\", 1e9]", DecodeError::BadTtl),
            // Found by fuzzing: the fraction overflowed the millisecond count.
            (
                b"[\"a\", \"1.2.3.4:5\", 18446744073709551.9]",
                DecodeError::BadTtl,
            ),
            (b"[\"a\", \"1.2.3.4:5\", nul]", DecodeError::NotAnAdvert),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                decode(bytes).map(|_| ()),
                Err(*want),
                "{:?}",
                std::str::from_utf8(bytes)
            );
        }
        let long = [b' '; 257];
        assert_eq!(decode(&long), Err(DecodeError::TooLong));
        let long_addr = format!("[\"a\", \"{}\", 2]", "1".repeat(60));
        assert_eq!(decode(long_addr.as_bytes()), Err(DecodeError::BadAddress));
    }

    proptest::proptest! {
        #[test]
        fn round_trip(name in "\\PC{1,30}", ip: [u8; 4], port: u16, ttl in 0u64..100_000) {
            let addr = SocketAddr::from((ip, port));
            let mut buf = [0u8; MAX_DATAGRAM];
            if let Ok(n) = encode(&name, addr, Duration::from_secs(ttl), &mut buf) {
                // What callers size buffers and datagrams by is what encode writes.
                proptest::prop_assert_eq!(encoded_len(&name, addr, Duration::from_secs(ttl)), n);
                let a = decode(&buf[..n]).unwrap();
                proptest::prop_assert_eq!(a.name.as_str(), name.as_str());
                proptest::prop_assert_eq!(a.address, addr);
                proptest::prop_assert_eq!(a.ttl, Some(Duration::from_secs(ttl)));
            }
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = decode(&bytes);
        }
    }
}
