//! One connection's CURVE state: the handshake, then MESSAGE boxes.
//!
//! Sans-IO like the rest: each step takes a command body (decrypted in
//! place) and writes the next command body into a slice the caller reserved;
//! time comes in as `now`, randomness as the 32-byte seed given to
//! [`Curve::new`]. [`crate::zmtp::Connection`] frames the bodies and decides
//! what runs when.
//!
//! The rules of 26/CURVEZMQ each live in one place here:
//! - HELLO is exactly 200 bytes, larger than the 168-byte WELCOME it earns
//!   (anti-amplification), version 1.0, zero padding ([`CurveCommand::parse`]);
//!   a HELLO that fails any check gets no answer at all.
//! - Short nonces: ours count up from 1 and never wrap; the peer's must
//!   strictly increase over HELLO, INITIATE and every MESSAGE (client side:
//!   READY and every MESSAGE), so a replayed or reordered command closes the
//!   connection.
//! - Long nonces (WELCOME, cookie, vouch) are random (from the seed).
//! - After WELCOME the server keeps only the cookie key: its transient
//!   secret s' and the client's C' travel in the cookie. The key is new for
//!   every connection (so a cookie never opens on another connection), is
//!   dropped at the first INITIATE, valid or not, and expires
//!   [`COOKIE_LIFETIME`] after WELCOME.
//! - The vouch must name the client's C' and this server's S; a server that
//!   knows its client's key accepts no other.
//! - Keys whose shared secret would be all zeros (low-order points) are refused.

use core::mem;
use core::ops::Range;

use zeroize::Zeroizing;

use super::super::error::ZmtpError;
use super::crypto::{self, BoxKey};
use super::keys::{public_of, CurveClient, CurveServer, PublicKey, KEY_LEN};
use super::wire::{
    self, hello, initiate, message, ready, welcome, COOKIE_LEN, HELLO_LEN, INITIATE_MIN,
    MESSAGE_OVERHEAD, MSG_COMMAND, MSG_MORE, READY_MIN, TAG_LEN, WELCOME_LEN,
};
use crate::time::{Duration, Instant};

/// How long a server keeps the cookie key after WELCOME (the RFC's example).
pub const COOKIE_LIFETIME: Duration = Duration::from_secs(60);

/// Which side of the handshake, with its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum Side {
    Client(&'static CurveClient),
    Server(&'static CurveServer),
}

enum Phase {
    /// Nothing sent or received yet: the seed for this connection's randomness.
    Fresh(Zeroizing<[u8; 32]>),
    /// Client, HELLO sent: our transient secret c', the vouch's long nonce and
    /// the HELLO/WELCOME box key (c', S).
    Welcome {
        secret: Zeroizing<[u8; 32]>,
        vouch_nonce: [u8; 16],
        key: BoxKey,
    },
    /// Server, WELCOME sent: only the cookie key is kept.
    Initiate {
        cookie_key: Zeroizing<[u8; 32]>,
        expires: Instant,
    },
    /// Client, INITIATE sent: the session key (c', S').
    Ready(BoxKey),
    /// Handshake done: the session key.
    Open(BoxKey),
    /// Failed, or wiped.
    Spent,
}

/// One connection's CURVE mechanism (see the module docs).
pub(crate) struct Curve {
    side: Side,
    phase: Phase,
    /// Our next short nonce; 0 once all 2^64 - 1 are spent.
    next_nonce: u64,
    /// The peer's last short nonce (0: none yet).
    peer_nonce: u64,
}

impl Curve {
    /// A mechanism for `side`; `seed` must be 32 bytes from a CSPRNG, used
    /// for this connection only.
    pub(crate) fn new(side: Side, seed: [u8; 32]) -> Curve {
        Curve {
            side,
            phase: Phase::Fresh(Zeroizing::new(seed)),
            next_nonce: 1,
            peer_nonce: 0,
        }
    }

    pub(crate) fn is_server(&self) -> bool {
        matches!(self.side, Side::Server(_))
    }

    /// The handshake is done: frames travel in MESSAGE boxes.
    pub(crate) fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(_))
    }

    /// A client that has not sent HELLO yet.
    pub(crate) fn wants_hello(&self) -> bool {
        !self.is_server() && matches!(self.phase, Phase::Fresh(_))
    }

    /// When the cookie key expires (server, between WELCOME and INITIATE).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Initiate { expires, .. } => Some(expires),
            _ => None,
        }
    }

    fn take_nonce(&mut self) -> Result<u64, ZmtpError> {
        match self.next_nonce {
            0 => Err(ZmtpError::NonceExhausted),
            n => {
                self.next_nonce = n.wrapping_add(1);
                Ok(n)
            }
        }
    }

    /// Accepts the peer's short nonce `n` if it is above every one before.
    fn peer_nonce_ok(&self, n: u64) -> Result<(), ZmtpError> {
        if n > self.peer_nonce {
            Ok(())
        } else {
            Err(ZmtpError::NonceReplayed)
        }
    }

    fn fail(&mut self, e: ZmtpError) -> ZmtpError {
        self.phase = Phase::Spent;
        e
    }

    // ---- client --------------------------------------------------------

    /// Client: write HELLO into `out[..HELLO_LEN]`.
    pub(crate) fn hello(&mut self, out: &mut [u8]) -> Result<(), ZmtpError> {
        let (Side::Client(keys), Phase::Fresh(seed)) = (self.side, &self.phase) else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        let mut rand = Zeroizing::new([0u8; 48]);
        crypto::expand(seed, &mut rand[..]);
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&rand[..32]);
        let mut vouch_nonce = [0u8; 16];
        vouch_nonce.copy_from_slice(&rand[32..]);
        let key = crypto::shared(&secret, &keys.server).ok_or(ZmtpError::KeyMismatch)?;
        let out = out.get_mut(..HELLO_LEN).ok_or(ZmtpError::Truncated)?;
        let n = self.take_nonce()?;
        out.fill(0);
        out[..6].copy_from_slice(hello::NAME);
        out[hello::VERSION].copy_from_slice(&[1, 0]);
        out[hello::CLIENT].copy_from_slice(&public_of(&secret).0);
        out[hello::NONCE].copy_from_slice(&n.to_be_bytes());
        crypto::seal(
            &key,
            &crypto::short_nonce(b"CurveZMQHELLO---", n),
            &mut out[hello::BOX],
        );
        self.phase = Phase::Welcome {
            secret,
            vouch_nonce,
            key,
        };
        Ok(())
    }

    /// Client: open WELCOME (in place) and write INITIATE, carrying
    /// `metadata`, into `out`; returns its length.
    pub(crate) fn on_welcome(
        &mut self,
        body: &mut [u8],
        metadata: &[u8],
        out: &mut [u8],
    ) -> Result<usize, ZmtpError> {
        let r = self.welcome_inner(body, metadata, out);
        r.map_err(|e| self.fail(e))
    }

    fn welcome_inner(
        &mut self,
        body: &mut [u8],
        metadata: &[u8],
        out: &mut [u8],
    ) -> Result<usize, ZmtpError> {
        let Side::Client(keys) = self.side else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        let Phase::Welcome {
            secret,
            vouch_nonce,
            key,
        } = mem::replace(&mut self.phase, Phase::Spent)
        else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        let wire::CurveCommand::Welcome(long) = wire::CurveCommand::parse(body)? else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        let body = body
            .get_mut(..WELCOME_LEN)
            .ok_or(ZmtpError::MalformedCurve)?;
        if !crypto::open(
            &key,
            &crypto::long_nonce(b"WELCOME-", &long),
            &mut body[welcome::BOX],
        ) {
            // Only the holder of the server secret can write this box.
            return Err(ZmtpError::KeyMismatch);
        }
        let plain = &body[welcome::BOX.start + TAG_LEN..];
        let server_t = PublicKey(key32(&plain[..32]));
        let cookie = &plain[32..32 + COOKIE_LEN];
        let session = crypto::shared(&secret, &server_t).ok_or(ZmtpError::MalformedCurve)?;
        let vouch_key =
            crypto::shared(keys.keys.secret(), &server_t).ok_or(ZmtpError::MalformedCurve)?;

        let len = INITIATE_MIN + metadata.len();
        let out = out.get_mut(..len).ok_or(ZmtpError::Truncated)?;
        let n = self.take_nonce()?;
        out[..9].copy_from_slice(initiate::NAME);
        out[initiate::COOKIE].copy_from_slice(cookie);
        out[initiate::NONCE].copy_from_slice(&n.to_be_bytes());
        // The box: C (32) | vouch nonce (16) | vouch box (80) | metadata.
        let text = &mut out[initiate::BOX + TAG_LEN..];
        text[..32].copy_from_slice(&keys.keys.public().0);
        text[32..48].copy_from_slice(&vouch_nonce);
        // Vouch: Box[C' + S](C->S').
        text[64..96].copy_from_slice(&public_of(&secret).0);
        text[96..128].copy_from_slice(&keys.server.0);
        crypto::seal(
            &vouch_key,
            &crypto::long_nonce(b"VOUCH---", &vouch_nonce),
            &mut text[48..128],
        );
        text[128..].copy_from_slice(metadata);
        crypto::seal(
            &session,
            &crypto::short_nonce(b"CurveZMQINITIATE", n),
            &mut out[initiate::BOX..],
        );
        self.phase = Phase::Ready(session);
        Ok(len)
    }

    /// Client: open READY in place; returns where its metadata is in `body`.
    pub(crate) fn on_ready(&mut self, body: &mut [u8]) -> Result<Range<usize>, ZmtpError> {
        let r = self.ready_inner(body);
        r.map_err(|e| self.fail(e))
    }

    fn ready_inner(&mut self, body: &mut [u8]) -> Result<Range<usize>, ZmtpError> {
        let Phase::Ready(key) = mem::replace(&mut self.phase, Phase::Spent) else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        let wire::CurveCommand::Ready(n) = wire::CurveCommand::parse(body)? else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        self.peer_nonce_ok(n)?;
        if !crypto::open(
            &key,
            &crypto::short_nonce(b"CurveZMQREADY---", n),
            body.get_mut(ready::BOX..).unwrap_or(&mut []),
        ) {
            return Err(ZmtpError::KeyMismatch);
        }
        self.peer_nonce = n;
        self.phase = Phase::Open(key);
        Ok(READY_MIN..body.len())
    }

    // ---- server --------------------------------------------------------

    /// Server: check HELLO (opening its box in place) and write WELCOME into
    /// `out[..WELCOME_LEN]`. On any error nothing is written: a bad HELLO
    /// earns no reply.
    pub(crate) fn on_hello(
        &mut self,
        body: &mut [u8],
        now: Instant,
        out: &mut [u8],
    ) -> Result<(), ZmtpError> {
        let r = self.hello_inner(body, now, out);
        r.map_err(|e| self.fail(e))
    }

    fn hello_inner(
        &mut self,
        body: &mut [u8],
        now: Instant,
        out: &mut [u8],
    ) -> Result<(), ZmtpError> {
        let (Side::Server(keys), Phase::Fresh(seed)) = (self.side, &self.phase) else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        // s' (32) | cookie key (32) | cookie nonce (16) | welcome nonce (16)
        let mut rand = Zeroizing::new([0u8; 96]);
        crypto::expand(seed, &mut rand[..]);
        let wire::CurveCommand::Hello(h) = wire::CurveCommand::parse(body)? else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        self.peer_nonce_ok(h.nonce)?;
        let key = crypto::shared(keys.keys.secret(), &h.client).ok_or(ZmtpError::MalformedCurve)?;
        let boxed = body.get_mut(hello::BOX).ok_or(ZmtpError::MalformedCurve)?;
        if !crypto::open(
            &key,
            &crypto::short_nonce(b"CurveZMQHELLO---", h.nonce),
            boxed,
        ) {
            // Made for another server key: the client is not of this class.
            return Err(ZmtpError::KeyMismatch);
        }
        if boxed[TAG_LEN..].iter().any(|&b| b != 0) {
            return Err(ZmtpError::MalformedCurve);
        }
        self.peer_nonce = h.nonce;
        let out = out.get_mut(..WELCOME_LEN).ok_or(ZmtpError::Truncated)?;
        let mut cookie_key = Zeroizing::new([0u8; 32]);
        cookie_key.copy_from_slice(&rand[32..64]);
        out[..8].copy_from_slice(welcome::NAME);
        out[welcome::NONCE].copy_from_slice(&rand[80..96]);
        // The box: S' (32) | cookie nonce (16) | cookie box (80).
        let text = &mut out[welcome::BOX.start + TAG_LEN..];
        text[..32].copy_from_slice(&public_of(&key32(&rand[..32])).0);
        text[32..48].copy_from_slice(&rand[64..80]);
        // Cookie: Box[C' + s'](K).
        text[64..96].copy_from_slice(&h.client.0);
        text[96..128].copy_from_slice(&rand[..32]);
        crypto::seal(
            &crypto::secret_key(&cookie_key),
            &crypto::long_nonce(b"COOKIE--", &rand[64..80]),
            &mut text[48..128],
        );
        crypto::seal(
            &key,
            &crypto::long_nonce(b"WELCOME-", &rand[80..96]),
            &mut out[welcome::BOX],
        );
        // s' and C' now live only in the cookie.
        self.phase = Phase::Initiate {
            cookie_key,
            expires: now + COOKIE_LIFETIME,
        };
        Ok(())
    }

    /// Server: check INITIATE (its cookie, box and vouch, opened in place);
    /// returns where the client's metadata is in `body`. The cookie key is
    /// gone afterwards, whatever the outcome. Then call [`ready`](Self::ready).
    pub(crate) fn on_initiate(
        &mut self,
        body: &mut [u8],
        now: Instant,
    ) -> Result<Range<usize>, ZmtpError> {
        let r = self.initiate_inner(body, now);
        r.map_err(|e| self.fail(e))
    }

    fn initiate_inner(&mut self, body: &mut [u8], now: Instant) -> Result<Range<usize>, ZmtpError> {
        let Side::Server(keys) = self.side else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        let Phase::Initiate {
            cookie_key,
            expires,
        } = mem::replace(&mut self.phase, Phase::Spent)
        else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        let wire::CurveCommand::Initiate(n) = wire::CurveCommand::parse(body)? else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        if now >= expires {
            return Err(ZmtpError::BadCookie);
        }
        let cookie = &mut body[initiate::COOKIE];
        let (cookie_nonce, cookie_box) = cookie.split_at_mut(16);
        if !crypto::open(
            &crypto::secret_key(&cookie_key),
            &crypto::long_nonce(b"COOKIE--", cookie_nonce),
            cookie_box,
        ) {
            return Err(ZmtpError::BadCookie);
        }
        drop(cookie_key);
        let client_t = PublicKey(key32(&cookie_box[TAG_LEN..TAG_LEN + 32]));
        let server_t_secret = Zeroizing::new(key32(&cookie_box[TAG_LEN + 32..]));
        // Only the plaintext copies above are needed; wipe the opened cookie.
        cookie_box[TAG_LEN..].fill(0);
        self.peer_nonce_ok(n)?;
        let session =
            crypto::shared(&server_t_secret, &client_t).ok_or(ZmtpError::MalformedCurve)?;
        let boxed = &mut body[initiate::BOX..];
        if !crypto::open(
            &session,
            &crypto::short_nonce(b"CurveZMQINITIATE", n),
            boxed,
        ) {
            return Err(ZmtpError::KeyMismatch);
        }
        let text = &mut boxed[TAG_LEN..];
        let client = PublicKey(key32(&text[..32]));
        if keys.client.is_some_and(|k| k != client) {
            return Err(ZmtpError::ClientKeyRefused);
        }
        let vouch_key = crypto::shared(&server_t_secret, &client).ok_or(ZmtpError::KeyMismatch)?;
        let (vouch_nonce, vouch_box) = text[32..128].split_at_mut(16);
        if !crypto::open(
            &vouch_key,
            &crypto::long_nonce(b"VOUCH---", vouch_nonce),
            vouch_box,
        ) {
            // The client does not hold the secret of the key it claims.
            return Err(ZmtpError::KeyMismatch);
        }
        let vouch = &vouch_box[TAG_LEN..];
        if vouch[..32] != client_t.0 || vouch[32..] != keys.keys.public().0 {
            return Err(ZmtpError::KeyMismatch);
        }
        self.peer_nonce = n;
        self.phase = Phase::Open(session);
        Ok(INITIATE_MIN..body.len())
    }

    /// Server, after a valid INITIATE: write READY carrying `metadata` into
    /// `out`; returns its length.
    pub(crate) fn ready(&mut self, metadata: &[u8], out: &mut [u8]) -> Result<usize, ZmtpError> {
        let len = READY_MIN + metadata.len();
        let Phase::Open(key) = &self.phase else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        let out = out.get_mut(..len).ok_or(ZmtpError::Truncated)?;
        let n = match self.next_nonce {
            0 => return Err(ZmtpError::NonceExhausted),
            n => n,
        };
        out[..6].copy_from_slice(ready::NAME);
        out[ready::NONCE].copy_from_slice(&n.to_be_bytes());
        out[READY_MIN..].copy_from_slice(metadata);
        crypto::seal(
            key,
            &crypto::short_nonce(b"CurveZMQREADY---", n),
            &mut out[ready::BOX..],
        );
        self.next_nonce = n.wrapping_add(1);
        Ok(len)
    }

    // ---- traffic -------------------------------------------------------

    /// Seal one frame: `frame` is the whole MESSAGE body, the frame's bytes
    /// already at `frame[MESSAGE_OVERHEAD..]`; `more` and `command` become
    /// its flags.
    pub(crate) fn seal(
        &mut self,
        more: bool,
        command: bool,
        frame: &mut [u8],
    ) -> Result<(), ZmtpError> {
        if frame.len() < MESSAGE_OVERHEAD || !self.is_open() {
            return Err(ZmtpError::UnexpectedFrame);
        }
        let n = self.take_nonce()?;
        let Phase::Open(key) = &self.phase else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        frame[..8].copy_from_slice(message::NAME);
        frame[message::NONCE].copy_from_slice(&n.to_be_bytes());
        frame[message::FLAGS] =
            if more { MSG_MORE } else { 0 } | if command { MSG_COMMAND } else { 0 };
        crypto::seal(
            key,
            &crypto::short_nonce(self.message_prefix(true), n),
            &mut frame[message::BOX..],
        );
        Ok(())
    }

    /// Open one MESSAGE in place; returns its flags (`MSG_MORE`,
    /// `MSG_COMMAND`). The frame is then `body[MESSAGE_OVERHEAD..]`.
    pub(crate) fn open(&mut self, body: &mut [u8]) -> Result<u8, ZmtpError> {
        let r = self.open_inner(body);
        r.map_err(|e| self.fail(e))
    }

    fn open_inner(&mut self, body: &mut [u8]) -> Result<u8, ZmtpError> {
        let wire::CurveCommand::Message(n) = wire::CurveCommand::parse(body)? else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        self.peer_nonce_ok(n)?;
        let prefix = self.message_prefix(false);
        let Phase::Open(key) = &self.phase else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        if !crypto::open(
            key,
            &crypto::short_nonce(prefix, n),
            &mut body[message::BOX..],
        ) {
            return Err(ZmtpError::BadMessageBox);
        }
        self.peer_nonce = n;
        let flags = body[message::FLAGS];
        if flags & !(MSG_MORE | MSG_COMMAND) != 0 || flags == MSG_MORE | MSG_COMMAND {
            // Reserved bits, or a command claiming more frames.
            return Err(ZmtpError::MalformedCurve);
        }
        Ok(flags)
    }

    /// The MESSAGE nonce prefix for what we send (`ours`) or receive.
    fn message_prefix(&self, ours: bool) -> &'static [u8; 16] {
        if self.is_server() == ours {
            b"CurveZMQMESSAGES"
        } else {
            b"CurveZMQMESSAGEC"
        }
    }

    #[cfg(test)]
    pub(crate) fn set_next_nonce(&mut self, n: u64) {
        self.next_nonce = n;
    }
}

fn key32(b: &[u8]) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    if b.len() == KEY_LEN {
        k.copy_from_slice(b);
    }
    k
}

#[cfg(test)]
mod tests {
    //! One test per rule of 26/CURVEZMQ, on the mechanism alone (no framing).
    extern crate std;
    use std::boxed::Box;
    use std::vec;
    use std::vec::Vec;

    use super::super::keys::{ClassKeys, KeyPair};
    use super::*;

    const T0: Instant = Instant::ZERO;

    fn class(pass: &str) -> &'static ClassKeys {
        Box::leak(Box::new(ClassKeys::from_passphrase(pass)))
    }

    fn client(k: &'static CurveClient, seed: u8) -> Curve {
        Curve::new(Side::Client(k), [seed; 32])
    }

    fn server(k: &'static CurveServer, seed: u8) -> Curve {
        Curve::new(Side::Server(k), [seed; 32])
    }

    fn hello(c: &mut Curve) -> Vec<u8> {
        let mut h = vec![0u8; HELLO_LEN];
        c.hello(&mut h).unwrap();
        h
    }

    fn welcome(s: &mut Curve, hello: &[u8]) -> Result<Vec<u8>, ZmtpError> {
        let mut w = vec![0u8; WELCOME_LEN];
        s.on_hello(&mut hello.to_vec(), T0, &mut w)?;
        Ok(w)
    }

    const MD: &[u8] = b"\x0bSocket-Type\x00\x00\x00\x03REQ";

    fn initiate(c: &mut Curve, welcome: &[u8]) -> Result<Vec<u8>, ZmtpError> {
        let mut i = vec![0u8; INITIATE_MIN + MD.len()];
        let n = c.on_welcome(&mut welcome.to_vec(), MD, &mut i)?;
        assert_eq!(n, i.len());
        Ok(i)
    }

    /// Client and server through INITIATE (server open, READY not sent).
    fn to_initiate(k: &'static ClassKeys) -> (Curve, Curve, Vec<u8>) {
        let (mut c, mut s) = (client(&k.client, 1), server(&k.server, 2));
        let w = welcome(&mut s, &hello(&mut c)).unwrap();
        let i = initiate(&mut c, &w).unwrap();
        (c, s, i)
    }

    /// A whole handshake: returns open client and server.
    fn open_pair(k: &'static ClassKeys) -> (Curve, Curve) {
        let (mut c, mut s, i) = to_initiate(k);
        let mut i = i;
        let md = s.on_initiate(&mut i, T0).unwrap();
        assert_eq!(&i[md], MD);
        let mut r = vec![0u8; READY_MIN + 3];
        s.ready(b"abc", &mut r).unwrap();
        let md = c.on_ready(&mut r).unwrap();
        assert_eq!(&r[md], b"abc");
        assert!(c.is_open() && s.is_open());
        (c, s)
    }

    fn sealed(c: &mut Curve, more: bool, command: bool, payload: &[u8]) -> Vec<u8> {
        let mut m = vec![0u8; MESSAGE_OVERHEAD + payload.len()];
        m[MESSAGE_OVERHEAD..].copy_from_slice(payload);
        c.seal(more, command, &mut m).unwrap();
        m
    }

    #[test]
    fn handshake_then_messages_both_ways_with_libzmqs_nonces() {
        let (mut c, mut s) = open_pair(class("blue whale"));
        // libzmq's numbering: client HELLO 1, INITIATE 2, MESSAGEs from 3;
        // server READY 1, MESSAGEs from 2.
        let mut m = sealed(&mut c, true, false, b"hello");
        assert_eq!(wire::nonce_at(&m, message::NONCE), 3);
        assert!(
            !m.windows(5).any(|w| w == b"hello"),
            "plaintext on the wire"
        );
        assert_eq!(s.open(&mut m), Ok(MSG_MORE));
        assert_eq!(&m[MESSAGE_OVERHEAD..], b"hello");
        let mut m = sealed(&mut s, false, true, b"\x04PING\x00\x00");
        assert_eq!(wire::nonce_at(&m, message::NONCE), 2);
        assert_eq!(c.open(&mut m), Ok(MSG_COMMAND));
        // Each direction has its own prefix: the server's does not open the
        // client's box (a MESSAGE cannot be reflected back to its sender).
        let mut m = sealed(&mut c, false, false, b"x");
        let mut again = m.clone();
        assert_eq!(s.own_prefix_open(&mut again), Err(ZmtpError::BadMessageBox));
        assert_eq!(s.open(&mut m), Ok(0));
    }

    impl Curve {
        /// Opens a box as if it came from our own side (wrong prefix).
        fn own_prefix_open(&mut self, body: &mut [u8]) -> Result<u8, ZmtpError> {
            let Phase::Open(key) = &self.phase else {
                return Err(ZmtpError::UnexpectedFrame);
            };
            let n = wire::nonce_at(body, message::NONCE);
            if crypto::open(
                key,
                &crypto::short_nonce(self.message_prefix(true), n),
                &mut body[message::BOX..],
            ) {
                Ok(body[message::FLAGS])
            } else {
                Err(ZmtpError::BadMessageBox)
            }
        }
    }

    /// Anti-amplification: only a well-formed 200-byte HELLO is answered,
    /// with 168 bytes; anything else gets no reply at all.
    #[test]
    fn bad_hello_gets_no_welcome() {
        let k = class("blue whale");
        let good = hello(&mut client(&k.client, 1));
        let mut cases: Vec<Vec<u8>> = vec![good[..199].to_vec(), {
            let mut v = good.clone();
            v.push(0);
            v
        }];
        for i in [6, 7, 8, 40, 79] {
            let mut v = good.clone();
            v[i] ^= 1;
            cases.push(v);
        }
        for bad in cases {
            let mut s = server(&k.server, 2);
            let mut out = vec![0u8; WELCOME_LEN];
            assert_eq!(
                s.on_hello(&mut bad.clone(), T0, &mut out),
                Err(ZmtpError::MalformedCurve)
            );
            assert!(out.iter().all(|&b| b == 0), "a bad HELLO was answered");
        }
        assert_eq!(
            welcome(&mut server(&k.server, 2), &good).unwrap().len(),
            168
        );
    }

    /// The HELLO box must hold 64 zeros, even when it opens.
    #[test]
    fn hello_box_must_hold_zeros() {
        let k = class("blue whale");
        let mut c = client(&k.client, 1);
        let mut h = hello(&mut c);
        let Phase::Welcome { key, .. } = &c.phase else {
            unreachable!()
        };
        h[hello::BOX.start + TAG_LEN..].fill(1);
        let n = wire::nonce_at(&h, hello::NONCE);
        crypto::seal(
            key,
            &crypto::short_nonce(b"CurveZMQHELLO---", n),
            &mut h[hello::BOX],
        );
        let mut out = vec![0u8; WELCOME_LEN];
        assert_eq!(
            server(&k.server, 2).on_hello(&mut h, T0, &mut out),
            Err(ZmtpError::MalformedCurve)
        );
    }

    /// Server authentication: a HELLO for another server key does not open.
    #[test]
    fn hello_for_another_server_is_refused_silently() {
        let (ours, theirs) = (class("blue whale"), class("red fox"));
        let h = hello(&mut client(&theirs.client, 1));
        let mut out = vec![0u8; WELCOME_LEN];
        assert_eq!(
            server(&ours.server, 2).on_hello(&mut h.clone(), T0, &mut out),
            Err(ZmtpError::KeyMismatch)
        );
        assert!(out.iter().all(|&b| b == 0));
    }

    /// The client authenticates the server: a WELCOME not written with the
    /// server secret it expects (another key, or altered) does not open.
    #[test]
    fn welcome_from_another_server_is_refused() {
        let (ours, theirs) = (class("blue whale"), class("red fox"));
        let mut c = client(&ours.client, 1);
        let h = hello(&mut c);
        let w = welcome(&mut server(&ours.server, 2), &h).unwrap();
        for i in [8, 30, 100, 167] {
            let mut bad = w.clone();
            bad[i] ^= 1;
            let mut c2 = client(&ours.client, 1);
            hello(&mut c2);
            assert_eq!(initiate(&mut c2, &bad), Err(ZmtpError::KeyMismatch));
        }
        // A rogue server that knows C' (it is public) seals its own WELCOME.
        let rogue_key = crypto::shared(
            theirs.server.keys.secret(),
            &PublicKey(key32(&h[hello::CLIENT])),
        )
        .unwrap();
        let mut forged = w.clone();
        let mut long = [0u8; 16];
        long.copy_from_slice(&forged[welcome::NONCE]);
        crypto::seal(
            &rogue_key,
            &crypto::long_nonce(b"WELCOME-", &long),
            &mut forged[welcome::BOX],
        );
        assert_eq!(initiate(&mut c, &forged), Err(ZmtpError::KeyMismatch));
    }

    /// Short nonces strictly increase: HELLO's must be above 0, INITIATE's
    /// above HELLO's.
    #[test]
    fn handshake_nonces_must_increase() {
        let k = class("blue whale");
        let mut c = client(&k.client, 1);
        c.set_next_nonce(0);
        let mut h = vec![0u8; HELLO_LEN];
        assert_eq!(c.hello(&mut h), Err(ZmtpError::NonceExhausted));
        // A HELLO with nonce 0.
        let mut c = client(&k.client, 1);
        c.set_next_nonce(u64::MAX);
        let h = hello(&mut c);
        assert_eq!(wire::nonce_at(&h, hello::NONCE), u64::MAX);
        let mut s = server(&k.server, 2);
        let w = welcome(&mut s, &h).unwrap();
        // The client's next nonce wrapped: it cannot send INITIATE.
        assert_eq!(initiate(&mut c, &w), Err(ZmtpError::NonceExhausted));
        // An INITIATE that reuses HELLO's nonce.
        let mut c = client(&k.client, 1);
        let mut s = server(&k.server, 2);
        let w = welcome(&mut s, &hello(&mut c)).unwrap();
        c.set_next_nonce(1);
        let mut i = initiate(&mut c, &w).unwrap();
        assert_eq!(s.on_initiate(&mut i, T0), Err(ZmtpError::NonceReplayed));
    }

    /// The server keeps no per-connection state but the cookie key after
    /// WELCOME; the cookie key is new per connection and used once.
    #[test]
    fn cookie_is_per_connection_single_use_and_expires() {
        let k = class("blue whale");
        let (_, s, i) = to_initiate(k);
        assert!(matches!(s.phase, Phase::Initiate { .. }));
        // Another connection (another seed: another cookie key) cannot use it.
        let mut other = server(&k.server, 9);
        welcome(&mut other, &hello(&mut client(&k.client, 5))).unwrap();
        assert_eq!(
            other.on_initiate(&mut i.clone(), T0),
            Err(ZmtpError::BadCookie)
        );
        // Expired: presented COOKIE_LIFETIME after WELCOME.
        let (_, mut s, i) = to_initiate(k);
        assert_eq!(s.deadline(), Some(T0 + COOKIE_LIFETIME));
        assert_eq!(
            s.on_initiate(&mut i.clone(), T0 + COOKIE_LIFETIME),
            Err(ZmtpError::BadCookie)
        );
        // Used: the key is gone after the first INITIATE; a replay is refused.
        let (_, mut s, i) = to_initiate(k);
        assert!(s.on_initiate(&mut i.clone(), T0).is_ok());
        assert_eq!(s.deadline(), None);
        assert_eq!(
            s.on_initiate(&mut i.clone(), T0),
            Err(ZmtpError::UnexpectedFrame)
        );
        // An altered cookie does not open either.
        let (_, mut s, mut i) = to_initiate(k);
        i[50] ^= 1;
        assert_eq!(s.on_initiate(&mut i, T0), Err(ZmtpError::BadCookie));
    }

    /// Client authentication: a server that knows its client's key accepts
    /// no other, and a client must prove (vouch) the key it claims.
    #[test]
    fn client_key_and_vouch_are_checked() {
        let k = class("blue whale");
        // A stranger who knows the class server's public key, with its own key.
        let stranger: &'static CurveClient = Box::leak(Box::new(CurveClient {
            server: k.client.server,
            keys: KeyPair::from_secret([42; 32]),
        }));
        let mut c = client(stranger, 1);
        let mut s = server(&k.server, 2);
        let w = welcome(&mut s, &hello(&mut c)).unwrap();
        let mut i = initiate(&mut c, &w).unwrap();
        assert_eq!(s.on_initiate(&mut i, T0), Err(ZmtpError::ClientKeyRefused));
        // Without an allow-list, the stranger is accepted (Stonehouse).
        let open: &'static CurveServer = Box::leak(Box::new(CurveServer {
            keys: k.server.keys.clone(),
            client: None,
        }));
        let mut c = client(stranger, 1);
        let mut s = server(open, 2);
        let w = welcome(&mut s, &hello(&mut c)).unwrap();
        assert!(s
            .on_initiate(&mut initiate(&mut c, &w).unwrap(), T0)
            .is_ok());
        // A client claiming the class key without its secret: the vouch fails.
        let liar: &'static CurveClient = Box::leak(Box::new(CurveClient {
            server: k.client.server,
            keys: KeyPair::forged(k.client.keys.public(), [42; 32]),
        }));
        let mut c = client(liar, 1);
        let mut s = server(&k.server, 2);
        let w = welcome(&mut s, &hello(&mut c)).unwrap();
        let mut i = initiate(&mut c, &w).unwrap();
        assert_eq!(s.on_initiate(&mut i, T0), Err(ZmtpError::KeyMismatch));
        // An altered INITIATE box.
        let (_, mut s, mut i) = to_initiate(k);
        i[200] ^= 1;
        assert_eq!(s.on_initiate(&mut i, T0), Err(ZmtpError::KeyMismatch));
    }

    /// The vouch binds the client's transient key and the server's key:
    /// one that names another server (S) is refused.
    #[test]
    fn vouch_must_name_this_server() {
        let k = class("blue whale");
        let other = class("red fox");
        // Same client keys, but the vouch will carry another server key: the
        // HELLO box is still sealed to the real S.
        let mut c = client(&k.client, 1);
        let mut s = server(&k.server, 2);
        let w = welcome(&mut s, &hello(&mut c)).unwrap();
        let misled: &'static CurveClient = Box::leak(Box::new(CurveClient {
            server: other.client.server,
            keys: k.client.keys.clone(),
        }));
        c.side = Side::Client(misled);
        let mut i = initiate(&mut c, &w).unwrap();
        assert_eq!(s.on_initiate(&mut i, T0), Err(ZmtpError::KeyMismatch));
    }

    /// MESSAGE nonces strictly increase: a replayed or reordered MESSAGE
    /// closes the connection, as does an altered one.
    #[test]
    fn message_replay_reorder_and_tamper() {
        let (mut c, mut s) = open_pair(class("blue whale"));
        let first = sealed(&mut c, false, false, b"one");
        let second = sealed(&mut c, false, false, b"two");
        assert_eq!(s.open(&mut second.clone()), Ok(0));
        assert_eq!(s.open(&mut first.clone()), Err(ZmtpError::NonceReplayed));
        let (mut c, mut s) = open_pair(class("blue whale"));
        let m = sealed(&mut c, false, false, b"one");
        assert_eq!(s.open(&mut m.clone()), Ok(0));
        assert_eq!(s.open(&mut m.clone()), Err(ZmtpError::NonceReplayed));
        let (mut c, mut s) = open_pair(class("blue whale"));
        for i in [8, 15, 16, 31, 32, 34] {
            let mut m = sealed(&mut c, false, false, b"one");
            m[i] ^= 1;
            let r = s.open(&mut m);
            assert!(
                matches!(
                    r,
                    Err(ZmtpError::BadMessageBox
                        | ZmtpError::UnexpectedFrame
                        | ZmtpError::NonceReplayed)
                ),
                "byte {i}: {r:?}"
            );
            assert!(!s.is_open(), "a failed MESSAGE must end the connection");
            (c, s) = open_pair(class("blue whale"));
        }
        let mut short = sealed(&mut c, false, false, b"");
        short.pop();
        assert_eq!(s.open(&mut short), Err(ZmtpError::MalformedCurve));
    }

    /// Flags: MORE and libzmq's COMMAND bit only, and a command never MORE.
    #[test]
    fn message_flags_are_checked() {
        for flags in [0x04u8, 0x80, MSG_MORE | MSG_COMMAND] {
            let (mut c, mut s) = open_pair(class("blue whale"));
            let mut m = sealed(&mut c, false, false, b"x");
            // Re-seal the same nonce with forged flags (we hold the key).
            let Phase::Open(key) = &c.phase else {
                unreachable!()
            };
            let n = wire::nonce_at(&m, message::NONCE);
            assert!(crypto::open(
                key,
                &crypto::short_nonce(b"CurveZMQMESSAGEC", n),
                &mut m[message::BOX..]
            ));
            m[message::FLAGS] = flags;
            crypto::seal(
                key,
                &crypto::short_nonce(b"CurveZMQMESSAGEC", n),
                &mut m[message::BOX..],
            );
            assert_eq!(
                s.open(&mut m),
                Err(ZmtpError::MalformedCurve),
                "flags {flags:#x}"
            );
        }
    }

    /// Our nonces never wrap: the last one is used once, then sending stops.
    #[test]
    fn our_nonces_never_wrap() {
        let (mut c, mut s) = open_pair(class("blue whale"));
        c.set_next_nonce(u64::MAX);
        let mut m = sealed(&mut c, false, false, b"last");
        assert_eq!(s.open(&mut m), Ok(0));
        let mut m = vec![0u8; MESSAGE_OVERHEAD];
        assert_eq!(c.seal(false, false, &mut m), Err(ZmtpError::NonceExhausted));
    }

    /// A frame too short for a MESSAGE's name, nonce, flags and tag is refused on an
    /// open connection too, before a nonce is spent: no caller passes one today
    /// (sealed.rs sizes every frame), so this guard is all that stands between a
    /// future caller's mistake and an out-of-bounds panic.
    #[test]
    fn a_frame_too_short_for_a_message_is_refused_without_spending_a_nonce() {
        let (mut c, mut s) = open_pair(class("blue whale"));
        for len in [0, 8, MESSAGE_OVERHEAD - 1] {
            let mut m = vec![0u8; len];
            assert_eq!(
                c.seal(false, false, &mut m),
                Err(ZmtpError::UnexpectedFrame),
                "{len}"
            );
        }
        let mut m = sealed(&mut c, false, false, b"");
        assert_eq!(wire::nonce_at(&m, message::NONCE), 3, "a nonce was spent");
        assert_eq!(s.open(&mut m), Ok(0));
    }

    /// A low-order transient key (shared secret all zeros) is refused.
    #[test]
    fn low_order_client_key_is_refused() {
        let k = class("blue whale");
        let mut h = hello(&mut client(&k.client, 1));
        h[hello::CLIENT].fill(0);
        let mut out = vec![0u8; WELCOME_LEN];
        assert_eq!(
            server(&k.server, 2).on_hello(&mut h, T0, &mut out),
            Err(ZmtpError::MalformedCurve)
        );
    }

    /// Each side accepts only its own side's commands, in order.
    #[test]
    fn commands_out_of_turn() {
        let k = class("blue whale");
        let (mut c, mut s) = (client(&k.client, 1), server(&k.server, 2));
        let mut out = vec![0u8; 600];
        assert_eq!(s.hello(&mut out), Err(ZmtpError::UnexpectedFrame));
        let h = hello(&mut c);
        assert_eq!(
            c.on_hello(&mut h.clone(), T0, &mut out),
            Err(ZmtpError::UnexpectedFrame)
        );
        let w = welcome(&mut s, &h).unwrap();
        assert_eq!(
            s.on_welcome(&mut w.clone(), MD, &mut out),
            Err(ZmtpError::UnexpectedFrame)
        );
        let mut m = vec![0u8; MESSAGE_OVERHEAD];
        assert_eq!(
            s.seal(false, false, &mut m),
            Err(ZmtpError::UnexpectedFrame)
        );
        let (c, s) = open_pair(k);
        let _ = (c, s);
        assert!(
            core::mem::size_of::<Curve>() <= 128,
            "{}",
            core::mem::size_of::<Curve>()
        );
    }
}
