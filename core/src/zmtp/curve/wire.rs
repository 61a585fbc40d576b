//! The CurveZMQ command bodies (26/CURVEZMQ), as ZMTP command frame bodies:
//! fixed field offsets and a validating parser. No cryptography here.
//!
//! ```text
//! HELLO     200  [5]HELLO  version(1,0)  padding(72 zeros)  C'(32)  nonce(8)  box(80)
//! WELCOME   168  [7]WELCOME  long-nonce(16)  box(144) = Box[S'(32) cookie(96)](S->C')
//! INITIATE  257+ [8]INITIATE  cookie(96)  nonce(8)  box(144+) = Box[C(32) vouch(96) metadata](C'->S')
//! READY     30+  [5]READY  nonce(8)  box(16+) = Box[metadata](S'->C')
//! MESSAGE   33+  [7]MESSAGE  nonce(8)  box(17+) = Box[flags(1) payload](C'<->S')
//! ERROR     7+   [5]ERROR  reason-size(1) reason
//! cookie = long-nonce(16) Box[C'(32) s'(32)](K);  vouch = long-nonce(16) Box[C'(32) S(32)](C->S')
//! ```
//!
//! A box is NaCl's: a 16-byte Poly1305 tag, then the XSalsa20 ciphertext.
//! The RFC's prose says the HELLO padding is 70 octets; its grammar, the
//! 200-octet total and libzmq all say 72, which is what this follows.

use core::ops::Range;

use super::super::command::Command;
use super::super::error::ZmtpError;
use super::keys::{PublicKey, KEY_LEN};

/// Bytes a box adds to what it holds (the Poly1305 tag).
pub const TAG_LEN: usize = 16;
/// Length of a HELLO body (exact).
pub const HELLO_LEN: usize = 200;
/// Length of a WELCOME body (exact).
pub const WELCOME_LEN: usize = 168;
/// Shortest INITIATE body (no metadata).
pub const INITIATE_MIN: usize = 257;
/// Shortest READY body (no metadata).
pub const READY_MIN: usize = 30;
/// What a MESSAGE adds to the frame it carries: name (8), nonce (8), tag
/// (16), flags (1). Also the shortest MESSAGE body.
pub const MESSAGE_OVERHEAD: usize = 33;
/// Length of a cookie (long nonce + box of C' and s').
pub const COOKIE_LEN: usize = 96;

/// MESSAGE flag: more frames of this message follow.
pub const MSG_MORE: u8 = 0x01;
/// MESSAGE flag (libzmq's, as its `msg_t::command`): the frame is a ZMTP
/// command (SUBSCRIBE, PING…). The RFC reserves bits 1–7; libzmq sends bit 1
/// for commands, so this engine accepts and sends it. Other bits are refused.
pub const MSG_COMMAND: u8 = 0x02;

/// HELLO fields.
pub mod hello {
    use core::ops::Range;
    /// Command name.
    pub const NAME: &[u8] = b"\x05HELLO";
    /// CurveZMQ version, major and minor.
    pub const VERSION: Range<usize> = 6..8;
    /// Anti-amplification padding (zeros).
    pub const PADDING: Range<usize> = 8..80;
    /// The client's transient public key C'.
    pub const CLIENT: Range<usize> = 80..112;
    /// Short nonce.
    pub const NONCE: Range<usize> = 112..120;
    /// Box[64 zeros](C'->S).
    pub const BOX: Range<usize> = 120..200;
}

/// WELCOME fields.
pub mod welcome {
    use core::ops::Range;
    /// Command name.
    pub const NAME: &[u8] = b"\x07WELCOME";
    /// Long nonce.
    pub const NONCE: Range<usize> = 8..24;
    /// Box[S' + cookie](S->C').
    pub const BOX: Range<usize> = 24..168;
}

/// INITIATE fields.
pub mod initiate {
    use core::ops::Range;
    /// Command name.
    pub const NAME: &[u8] = b"\x08INITIATE";
    /// The cookie from WELCOME.
    pub const COOKIE: Range<usize> = 9..105;
    /// Short nonce.
    pub const NONCE: Range<usize> = 105..113;
    /// Where Box[C + vouch + metadata](C'->S') starts.
    pub const BOX: usize = 113;
}

/// READY fields.
pub mod ready {
    use core::ops::Range;
    /// Command name.
    pub const NAME: &[u8] = b"\x05READY";
    /// Short nonce.
    pub const NONCE: Range<usize> = 6..14;
    /// Where Box[metadata](S'->C') starts.
    pub const BOX: usize = 14;
}

/// MESSAGE fields.
pub mod message {
    use core::ops::Range;
    /// Command name.
    pub const NAME: &[u8] = b"\x07MESSAGE";
    /// Short nonce.
    pub const NONCE: Range<usize> = 8..16;
    /// Where Box[flags + payload] starts.
    pub const BOX: usize = 16;
    /// Offset of the flags byte (after the box's tag).
    pub const FLAGS: usize = 32;
    /// Offset of the payload.
    pub const PAYLOAD: usize = 33;
}

/// A validated HELLO (size, version and padding checked; the box is not opened).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Hello {
    /// The client's transient public key C'.
    pub client: PublicKey,
    /// Its short nonce.
    pub nonce: u64,
}

/// A parsed CurveZMQ command. Boxes are not opened: fields that need a key
/// are left in the body, at the offsets of the modules above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CurveCommand<'a> {
    /// HELLO (client to server).
    Hello(Hello),
    /// WELCOME (server to client), with its long nonce.
    Welcome([u8; 16]),
    /// INITIATE (client to server), with its short nonce.
    Initiate(u64),
    /// READY (server to client), with its short nonce.
    Ready(u64),
    /// MESSAGE (either way), with its short nonce.
    Message(u64),
    /// ERROR (server to client), with its reason.
    Error(&'a [u8]),
}

impl<'a> CurveCommand<'a> {
    /// Parse and validate a command body by the rules of 26/CURVEZMQ: exact
    /// sizes for HELLO and WELCOME, minimum sizes for the rest, HELLO version
    /// 1.0 with an all-zero padding. Another name is `UnexpectedFrame`.
    pub fn parse(body: &'a [u8]) -> Result<CurveCommand<'a>, ZmtpError> {
        let named = |name: &[u8]| body.starts_with(name);
        if named(hello::NAME) {
            if body.len() != HELLO_LEN
                || field(body, hello::VERSION) != [1, 0]
                || field(body, hello::PADDING).iter().any(|&b| b != 0)
            {
                return Err(ZmtpError::MalformedCurve);
            }
            let mut client = [0u8; KEY_LEN];
            client.copy_from_slice(field(body, hello::CLIENT));
            Ok(CurveCommand::Hello(Hello {
                client: PublicKey(client),
                nonce: nonce_at(body, hello::NONCE),
            }))
        } else if named(welcome::NAME) {
            if body.len() != WELCOME_LEN {
                return Err(ZmtpError::MalformedCurve);
            }
            let mut n = [0u8; 16];
            n.copy_from_slice(field(body, welcome::NONCE));
            Ok(CurveCommand::Welcome(n))
        } else if named(initiate::NAME) {
            if body.len() < INITIATE_MIN {
                return Err(ZmtpError::MalformedCurve);
            }
            Ok(CurveCommand::Initiate(nonce_at(body, initiate::NONCE)))
        } else if named(ready::NAME) {
            if body.len() < READY_MIN {
                return Err(ZmtpError::MalformedCurve);
            }
            Ok(CurveCommand::Ready(nonce_at(body, ready::NONCE)))
        } else if named(message::NAME) {
            if body.len() < MESSAGE_OVERHEAD {
                return Err(ZmtpError::MalformedCurve);
            }
            Ok(CurveCommand::Message(nonce_at(body, message::NONCE)))
        } else if named(b"\x05ERROR") {
            match Command::parse(body) {
                Ok(Command::Error(reason)) => Ok(CurveCommand::Error(reason)),
                _ => Err(ZmtpError::MalformedCurve),
            }
        } else {
            Err(ZmtpError::UnexpectedFrame)
        }
    }
}

/// `body[r]`, or empty if out of range (callers checked the length first).
pub(super) fn field(body: &[u8], r: Range<usize>) -> &[u8] {
    body.get(r).unwrap_or(&[])
}

/// The big-endian short nonce at `r` (0 if out of range).
pub(super) fn nonce_at(body: &[u8], r: Range<usize>) -> u64 {
    let mut n = [0u8; 8];
    if let Some(s) = body.get(r) {
        if s.len() == 8 {
            n.copy_from_slice(s);
        }
    }
    u64::from_be_bytes(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello_body() -> [u8; HELLO_LEN] {
        let mut b = [0u8; HELLO_LEN];
        b[..6].copy_from_slice(hello::NAME);
        b[6] = 1;
        b[hello::CLIENT].fill(7);
        b[hello::NONCE].copy_from_slice(&5u64.to_be_bytes());
        b
    }

    #[test]
    fn hello_is_exactly_200_bytes_with_zero_padding_and_version_1_0() {
        let b = hello_body();
        assert_eq!(
            CurveCommand::parse(&b),
            Ok(CurveCommand::Hello(Hello {
                client: PublicKey([7; 32]),
                nonce: 5
            }))
        );
        // One byte short or long: refused (anti-amplification: a HELLO is
        // always larger than the WELCOME it earns).
        assert_eq!(
            CurveCommand::parse(&b[..199]),
            Err(ZmtpError::MalformedCurve)
        );
        let mut long = [0u8; 201];
        long[..200].copy_from_slice(&b);
        assert_eq!(CurveCommand::parse(&long), Err(ZmtpError::MalformedCurve));
        for i in hello::PADDING {
            let mut p = b;
            p[i] = 1;
            assert_eq!(CurveCommand::parse(&p), Err(ZmtpError::MalformedCurve));
        }
        let mut v = b;
        v[7] = 1;
        assert_eq!(CurveCommand::parse(&v), Err(ZmtpError::MalformedCurve));
        const { assert!(HELLO_LEN > WELCOME_LEN) };
    }

    #[test]
    fn sizes_of_the_other_commands() {
        let mut w = [0u8; WELCOME_LEN];
        w[..8].copy_from_slice(welcome::NAME);
        w[8] = 9;
        let mut n = [0u8; 16];
        n[0] = 9;
        assert_eq!(CurveCommand::parse(&w), Ok(CurveCommand::Welcome(n)));
        assert_eq!(
            CurveCommand::parse(&w[..167]),
            Err(ZmtpError::MalformedCurve)
        );
        let mut i = [0u8; INITIATE_MIN];
        i[..9].copy_from_slice(initiate::NAME);
        i[initiate::NONCE].copy_from_slice(&2u64.to_be_bytes());
        assert_eq!(CurveCommand::parse(&i), Ok(CurveCommand::Initiate(2)));
        assert_eq!(
            CurveCommand::parse(&i[..256]),
            Err(ZmtpError::MalformedCurve)
        );
        let mut r = [0u8; READY_MIN];
        r[..6].copy_from_slice(ready::NAME);
        assert_eq!(CurveCommand::parse(&r), Ok(CurveCommand::Ready(0)));
        assert_eq!(
            CurveCommand::parse(&r[..29]),
            Err(ZmtpError::MalformedCurve)
        );
        let mut m = [0u8; MESSAGE_OVERHEAD];
        m[..8].copy_from_slice(message::NAME);
        m[15] = 3;
        assert_eq!(CurveCommand::parse(&m), Ok(CurveCommand::Message(3)));
        assert_eq!(
            CurveCommand::parse(&m[..32]),
            Err(ZmtpError::MalformedCurve)
        );
        assert_eq!(
            CurveCommand::parse(b"\x05ERROR\x03400"),
            Ok(CurveCommand::Error(b"400"))
        );
        assert_eq!(
            CurveCommand::parse(b"\x05ERROR\x09400"),
            Err(ZmtpError::MalformedCurve)
        );
        assert_eq!(
            CurveCommand::parse(b"\x04PING\x00\x00"),
            Err(ZmtpError::UnexpectedFrame)
        );
        assert_eq!(CurveCommand::parse(b""), Err(ZmtpError::UnexpectedFrame));
    }
}
