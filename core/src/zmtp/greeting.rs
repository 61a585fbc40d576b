//! The 64-byte ZMTP 3.x greeting: a checked zero-copy view and an owned repr.
//!
//! ```text
//! offset  0      signature 0xFF
//!         1..9   padding (libzmq puts a ZMTP 1.0 length here)
//!         9      signature 0x7F (bit 0 set means "versioned")
//!        10      major version (3)
//!        11      minor version (0 or 1)
//!        12..32  mechanism, ASCII, zero padded ("NULL")
//!        32      as-server (0 or 1)
//!        33..64  filler (zero)
//! ```
//!
//! After [`Greeting::check_len`] succeeds no accessor panics; the accessors
//! never panic anyway (they read with `get`), a short buffer just reads zeros.

use super::error::ZmtpError;

/// Length of a ZMTP 3.x greeting.
pub const GREETING_LEN: usize = 64;
/// Length of the signature part (bytes 0..10).
pub const SIGNATURE_LEN: usize = 10;

mod field {
    pub const SIG_START: usize = 0;
    pub const SIG_END: usize = 9;
    pub const MAJOR: usize = 10;
    pub const MINOR: usize = 11;
    pub const MECHANISM: core::ops::Range<usize> = 12..32;
    pub const AS_SERVER: usize = 32;
}

/// A security mechanism named in the greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Mechanism {
    /// `NULL`: no security.
    Null,
    /// `PLAIN`.
    Plain,
    /// `CURVE` (feature `curve`: 26/CURVEZMQ).
    Curve,
    /// `GSSAPI`.
    Gssapi,
    /// Anything else (not zero padded, unknown name).
    Unknown,
}

impl Mechanism {
    /// The name as written on the wire (before zero padding).
    pub const fn name(self) -> &'static [u8] {
        match self {
            Mechanism::Null => b"NULL",
            Mechanism::Plain => b"PLAIN",
            Mechanism::Curve => b"CURVE",
            Mechanism::Gssapi => b"GSSAPI",
            Mechanism::Unknown => b"",
        }
    }

    /// Decode the 20-byte zero-padded mechanism field.
    pub fn from_field(field: &[u8]) -> Mechanism {
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        let (name, pad) = field.split_at(end);
        if field.len() != 20 || pad.iter().any(|&b| b != 0) {
            return Mechanism::Unknown;
        }
        match name {
            b"NULL" => Mechanism::Null,
            b"PLAIN" => Mechanism::Plain,
            b"CURVE" => Mechanism::Curve,
            b"GSSAPI" => Mechanism::Gssapi,
            _ => Mechanism::Unknown,
        }
    }
}

/// A zero-copy view of a greeting in a byte buffer.
#[derive(Debug, Clone)]
pub struct Greeting<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Greeting<T> {
    /// Wrap a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Greeting<T> {
        Greeting { buffer }
    }

    /// Wrap a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Greeting<T>, ZmtpError> {
        let g = Greeting::new_unchecked(buffer);
        g.check_len()?;
        Ok(g)
    }

    /// `Err(Truncated)` if the buffer is shorter than [`GREETING_LEN`].
    pub fn check_len(&self) -> Result<(), ZmtpError> {
        if self.buffer.as_ref().len() < GREETING_LEN {
            Err(ZmtpError::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, i: usize) -> u8 {
        self.buffer.as_ref().get(i).copied().unwrap_or(0)
    }

    /// Whether bytes 0 and 9 carry the versioned ZMTP signature
    /// (`0xFF` and a byte with bit 0 set, `0x7F` from conforming peers).
    pub fn signature_ok(&self) -> bool {
        self.byte(field::SIG_START) == 0xFF && self.byte(field::SIG_END) & 0x01 == 1
    }

    /// Major version (3 for ZMTP 3.x).
    pub fn major(&self) -> u8 {
        self.byte(field::MAJOR)
    }

    /// Minor version (0 or 1 for ZMTP 3.0 / 3.1).
    pub fn minor(&self) -> u8 {
        self.byte(field::MINOR)
    }

    /// The raw 20-byte mechanism field (empty if truncated).
    pub fn mechanism_field(&self) -> &[u8] {
        self.buffer.as_ref().get(field::MECHANISM).unwrap_or(&[])
    }

    /// The mechanism named in the greeting.
    pub fn mechanism(&self) -> Mechanism {
        Mechanism::from_field(self.mechanism_field())
    }

    /// The as-server flag.
    pub fn as_server(&self) -> bool {
        self.byte(field::AS_SERVER) == 1
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Greeting<T> {
    fn set(&mut self, i: usize, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(i) {
            *b = v;
        }
    }

    /// Write the signature (`0xFF`, padding with libzmq's `0…01`, `0x7F`).
    pub fn set_signature(&mut self) {
        for i in 0..SIGNATURE_LEN {
            self.set(i, 0);
        }
        self.set(field::SIG_START, 0xFF);
        self.set(8, 0x01);
        self.set(field::SIG_END, 0x7F);
    }

    /// Write the version.
    pub fn set_version(&mut self, major: u8, minor: u8) {
        self.set(field::MAJOR, major);
        self.set(field::MINOR, minor);
    }

    /// Write the mechanism name, zero padded to 20 bytes.
    pub fn set_mechanism(&mut self, m: Mechanism) {
        let name = m.name();
        for (k, i) in field::MECHANISM.enumerate() {
            self.set(i, name.get(k).copied().unwrap_or(0));
        }
    }

    /// Write the as-server flag and zero the filler.
    pub fn set_as_server(&mut self, as_server: bool) {
        self.set(field::AS_SERVER, u8::from(as_server));
        for i in field::AS_SERVER + 1..GREETING_LEN {
            self.set(i, 0);
        }
    }
}

/// The owned meaning of a greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GreetingRepr {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Security mechanism.
    pub mechanism: Mechanism,
    /// The as-server flag.
    pub as_server: bool,
}

impl GreetingRepr {
    /// Parse a greeting; refuses a bad signature or a major version below 3.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(g: &Greeting<&T>) -> Result<GreetingRepr, ZmtpError> {
        g.check_len()?;
        if !g.signature_ok() {
            return Err(ZmtpError::BadSignature);
        }
        if g.major() < 3 {
            return Err(ZmtpError::UnsupportedVersion);
        }
        Ok(GreetingRepr {
            major: g.major(),
            minor: g.minor(),
            mechanism: g.mechanism(),
            as_server: g.as_server(),
        })
    }

    /// Bytes needed by [`emit`](Self::emit): always [`GREETING_LEN`].
    pub const fn buffer_len(&self) -> usize {
        GREETING_LEN
    }

    /// Write the greeting; never panics (a short buffer gets a prefix).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, g: &mut Greeting<&mut T>) {
        g.set_signature();
        g.set_version(self.major, self.minor);
        g.set_mechanism(self.mechanism);
        g.set_as_server(self.as_server);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What libzmq 4.3.5 sends as a NULL client (routing id empty).
    const LIBZMQ: [u8; 64] = {
        let mut g = [0u8; 64];
        g[0] = 0xFF;
        g[8] = 0x01;
        g[9] = 0x7F;
        g[10] = 3;
        g[11] = 1;
        g[12] = b'N';
        g[13] = b'U';
        g[14] = b'L';
        g[15] = b'L';
        g
    };

    #[test]
    fn parse_libzmq_greeting() {
        let g = Greeting::new_checked(&LIBZMQ[..]).unwrap();
        let r = GreetingRepr::parse(&g).unwrap();
        assert_eq!(
            r,
            GreetingRepr {
                major: 3,
                minor: 1,
                mechanism: Mechanism::Null,
                as_server: false
            }
        );
    }

    #[test]
    fn emit_matches_libzmq() {
        let r = GreetingRepr {
            major: 3,
            minor: 1,
            mechanism: Mechanism::Null,
            as_server: false,
        };
        let mut buf = [0xAAu8; 64];
        r.emit(&mut Greeting::new_unchecked(&mut buf[..]));
        assert_eq!(buf, LIBZMQ);
    }

    /// Every mechanism reads back as itself from a greeting we write (a
    /// PLAIN or GSSAPI peer is known as such, not as an unknown name), with
    /// its as-server flag; and a greeting takes `GREETING_LEN` bytes.
    #[test]
    fn every_mechanism_reads_back_as_written() {
        for mechanism in [
            Mechanism::Null,
            Mechanism::Plain,
            Mechanism::Curve,
            Mechanism::Gssapi,
        ] {
            let r = GreetingRepr {
                major: 3,
                minor: 1,
                mechanism,
                as_server: true,
            };
            let mut buf = [0u8; GREETING_LEN];
            assert_eq!(r.buffer_len(), buf.len());
            r.emit(&mut Greeting::new_unchecked(&mut buf[..]));
            assert_eq!(
                GreetingRepr::parse(&Greeting::new_unchecked(&buf[..])),
                Ok(r)
            );
        }
    }

    #[test]
    fn rejects() {
        let mut g = LIBZMQ;
        g[0] = b'G';
        assert_eq!(
            GreetingRepr::parse(&Greeting::new_unchecked(&g[..])),
            Err(ZmtpError::BadSignature)
        );
        let mut g = LIBZMQ;
        g[10] = 2;
        assert_eq!(
            GreetingRepr::parse(&Greeting::new_unchecked(&g[..])),
            Err(ZmtpError::UnsupportedVersion)
        );
        assert_eq!(
            GreetingRepr::parse(&Greeting::new_unchecked(&LIBZMQ[..10])),
            Err(ZmtpError::Truncated)
        );
        let mut g = LIBZMQ;
        g[31] = b'X';
        assert_eq!(
            Greeting::new_unchecked(&g[..]).mechanism(),
            Mechanism::Unknown
        );
        // Accessors on a short buffer do not panic.
        let short = Greeting::new_unchecked(&[0xFFu8][..]);
        assert_eq!((short.major(), short.mechanism()), (0, Mechanism::Unknown));
    }
}
