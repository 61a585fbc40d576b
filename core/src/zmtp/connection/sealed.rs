//! The CURVE half of a connection: frames the handshake commands the
//! mechanism writes, and moves every frame through a MESSAGE box once the
//! handshake is done. The protocol's rules live in
//! [`curve::mechanism`](super::super::curve::mechanism); this only places
//! bytes in `tx` and `rx`.
//!
//! On the wire a MESSAGE travels in a plain data frame (flags 0, or LONG),
//! as libzmq sends it (it ORs the outer flags into the inner ones, so a
//! COMMAND or MORE flag outside would corrupt what it delivers); either kind
//! of frame is accepted, without MORE.

use core::ops::Range;

use super::{Core, Dec, Disp, Outcome, Sent, State, READY_PROPERTIES};
use crate::time::Instant;
use crate::zmtp::buffer::Buffer;
use crate::zmtp::command::Properties;
use crate::zmtp::curve::mechanism::{Curve, Side};
use crate::zmtp::curve::wire::{
    CurveCommand, HELLO_LEN, INITIATE_MIN, MESSAGE_OVERHEAD, MSG_COMMAND, MSG_MORE, READY_MIN,
    WELCOME_LEN,
};
use crate::zmtp::error::{ConfigError, SendError, ZmtpError};
use crate::zmtp::frame::{
    frame_len, Frame, FrameHeader, FrameHeaderRepr, Status, FLAG_COMMAND, FLAG_MORE,
};
use crate::zmtp::security::Security;
use crate::zmtp::socket_type::Role;

/// The mechanism state a config asks for (`None` for NULL).
pub(super) fn mechanism_for(
    security: Security,
    seed: Option<[u8; 32]>,
) -> Result<Option<Curve>, ConfigError> {
    let side = match security {
        Security::Null => return Ok(None),
        Security::CurveClient(k) => Side::Client(k),
        Security::CurveServer(k) => Side::Server(k),
    };
    let seed = seed.ok_or(ConfigError::NeedsSeed)?;
    Ok(Some(Curve::new(side, seed)))
}

/// Writes one frame sealed in a MESSAGE at the start of `out` (its bytes are
/// the concatenation of `pieces`); returns the wire length.
fn seal_frame(
    out: &mut [u8],
    curve: &mut Curve,
    more: bool,
    command: bool,
    pieces: &[&[u8]],
) -> Result<usize, ZmtpError> {
    let len = MESSAGE_OVERHEAD + pieces.iter().map(|p| p.len()).sum::<usize>();
    let h = FrameHeaderRepr {
        more: false,
        command: false,
        body_len: len as u64,
    };
    let dst = out
        .get_mut(..h.buffer_len() + len)
        .ok_or(ZmtpError::Truncated)?;
    let (hd, body) = dst.split_at_mut(h.buffer_len());
    h.emit(&mut FrameHeader::new_unchecked(hd));
    let mut at = MESSAGE_OVERHEAD;
    for p in pieces {
        if let Some(d) = body.get_mut(at..at + p.len()) {
            d.copy_from_slice(p);
        }
        at += p.len();
    }
    curve.seal(more, command, body)?;
    Ok(dst.len())
}

/// The frames stored in a REP's envelope (written by this connection, so
/// well formed): `(more, body)`.
fn envelope_frames(env: &[u8]) -> impl Iterator<Item = (bool, &[u8])> {
    let mut rest = env;
    core::iter::from_fn(move || match Frame::parse(rest, u64::MAX) {
        Ok(Status::Complete(f, n)) => {
            rest = rest.get(n..).unwrap_or(&[]);
            Some((f.more, f.body))
        }
        _ => None,
    })
}

impl<B: Buffer, const SUBS: usize> Core<B, SUBS> {
    /// Frames travel in MESSAGE boxes now.
    pub(super) fn sealing(&self) -> bool {
        self.state == State::Active && self.curve.as_ref().is_some_and(Curve::is_open)
    }

    /// The CURVE handshake is under way (its commands are not READY).
    pub(super) fn curve_handshaking(&self) -> bool {
        self.state == State::Handshake && self.curve.is_some()
    }

    /// When a server's cookie key expires.
    pub(super) fn curve_deadline(&self) -> Option<Instant> {
        self.curve.as_ref().and_then(Curve::deadline)
    }

    /// The peer's greeting arrived: a client sends HELLO.
    ///
    /// libzmq leaves the greeting's as-server flag at 0 whatever its role, so
    /// the flag proves nothing; only a peer claiming to be a server when we
    /// are one is refused here. Two clients find out when HELLO meets HELLO.
    pub(super) fn curve_greeting(&mut self, peer_as_server: bool) -> Result<(), ZmtpError> {
        let Some(curve) = self.curve.as_ref() else {
            return Ok(());
        };
        if peer_as_server && curve.is_server() {
            return Err(ZmtpError::RoleMismatch);
        }
        if curve.wants_hello() {
            let body = self.reserve_command(HELLO_LEN)?;
            let (tx, curve) = (self.tx.as_mut(), self.curve.as_mut());
            let out = tx.get_mut(body.clone()).ok_or(ZmtpError::Truncated)?;
            curve.ok_or(ZmtpError::UnexpectedFrame)?.hello(out)?;
            self.tx_end = body.end;
        }
        Ok(())
    }

    /// Room for a command frame of `len` bytes at the end of `tx`, its header
    /// written; the frame is queued once the caller sets `tx_end` to the
    /// returned range's end. No room means the peer answered what we have
    /// not sent yet.
    fn reserve_command(&mut self, len: usize) -> Result<Range<usize>, ZmtpError> {
        let h = FrameHeaderRepr {
            more: false,
            command: true,
            body_len: len as u64,
        };
        if !self.tx_room(h.buffer_len() + len, 0) {
            return Err(ZmtpError::UnexpectedFrame);
        }
        let start = self.tx_end + h.buffer_len();
        let hd = self
            .tx
            .as_mut()
            .get_mut(self.tx_end..start)
            .ok_or(ZmtpError::Truncated)?;
        h.emit(&mut FrameHeader::new_unchecked(hd));
        Ok(start..start + len)
    }

    /// A handshake command (in `body`, opened in place) during the CURVE
    /// handshake: answer it, or finish the handshake.
    pub(super) fn curve_handshake(
        &mut self,
        body: &mut [u8],
        now: Instant,
    ) -> Result<Outcome, ZmtpError> {
        let cmd = CurveCommand::parse(body)?;
        if let CurveCommand::Error(reason) = cmd {
            self.state = State::Closed(ZmtpError::PeerError);
            return Ok(Outcome::PeerError {
                off: 7,
                len: reason.len(),
            });
        }
        let mut props = [0u8; READY_PROPERTIES];
        let ours = self.ready_properties(&mut props);
        let ours = props.get(..ours).unwrap_or(&[]);
        let is_server = self.curve.as_ref().is_some_and(Curve::is_server);
        match cmd {
            // What only the other side sends: both peers have our role.
            CurveCommand::Hello(_) if !is_server => Err(ZmtpError::RoleMismatch),
            CurveCommand::Welcome(_) if is_server => Err(ZmtpError::RoleMismatch),
            CurveCommand::Hello(_) => {
                let at = self.reserve_command(WELCOME_LEN)?;
                self.with_curve(at, |c, out| c.on_hello(body, now, out).map(|()| out.len()))?;
                Ok(Outcome::None)
            }
            CurveCommand::Welcome(_) => {
                let at = self.reserve_command(INITIATE_MIN + ours.len())?;
                self.with_curve(at, |c, out| c.on_welcome(body, ours, out))?;
                Ok(Outcome::None)
            }
            CurveCommand::Initiate(_) => {
                let theirs = self.curve_mut()?.on_initiate(body, now)?;
                let props = Properties::parse(body.get(theirs).unwrap_or(&[]))?;
                let peer = self.check_peer(props, true)?;
                let at = self.reserve_command(READY_MIN + ours.len())?;
                self.with_curve(at, |c, out| c.ready(ours, out))?;
                Ok(self.activate(peer, now))
            }
            CurveCommand::Ready(_) => {
                let theirs = self.curve_mut()?.on_ready(body)?;
                let props = Properties::parse(body.get(theirs).unwrap_or(&[]))?;
                // A client does not send ERROR (26/CURVEZMQ): it just closes.
                let peer = self.check_peer(props, false)?;
                Ok(self.activate(peer, now))
            }
            _ => Err(ZmtpError::UnexpectedFrame),
        }
    }

    fn curve_mut(&mut self) -> Result<&mut Curve, ZmtpError> {
        self.curve.as_mut().ok_or(ZmtpError::UnexpectedFrame)
    }

    /// Lets the mechanism write a command into `tx[at]` (reserved by
    /// [`reserve_command`](Self::reserve_command)) and queues it.
    fn with_curve(
        &mut self,
        at: Range<usize>,
        write: impl FnOnce(&mut Curve, &mut [u8]) -> Result<usize, ZmtpError>,
    ) -> Result<(), ZmtpError> {
        let curve = self.curve.as_mut().ok_or(ZmtpError::UnexpectedFrame)?;
        let out = self
            .tx
            .as_mut()
            .get_mut(at.clone())
            .ok_or(ZmtpError::Truncated)?;
        let n = write(curve, out)?;
        debug_assert_eq!(n, at.len());
        self.tx_end = at.end;
        Ok(())
    }

    /// The next frame on the wire is a MESSAGE box: check its outer header.
    pub(super) fn begin_sealed(
        &mut self,
        flags: u8,
        len: u64,
        rx_cap: usize,
    ) -> Result<(), ZmtpError> {
        if flags & FLAG_MORE != 0 {
            return Err(ZmtpError::MalformedCurve);
        }
        if len > rx_cap as u64 {
            return Err(ZmtpError::MessageTooLarge);
        }
        // len <= rx_cap, a usize.
        let len = len as usize;
        if len < MESSAGE_OVERHEAD {
            return Err(ZmtpError::MalformedCurve);
        }
        self.dec = Dec::Body {
            len,
            have: 0,
            more: false,
            command: false,
            disp: Disp::Sealed,
        };
        Ok(())
    }

    /// Opens the MESSAGE in `rx[..len]`, moves the frame it holds to the
    /// start of `rx` and checks that frame like one off the wire; returns
    /// what the decoder needs to finish it: `(len, more, command, disp)`.
    pub(super) fn open_sealed(
        &mut self,
        rx: &mut [u8],
        len: usize,
        rx_cap: usize,
    ) -> Result<(usize, bool, bool, Disp), ZmtpError> {
        let curve = self.curve.as_mut().ok_or(ZmtpError::UnexpectedFrame)?;
        let flags = curve.open(rx.get_mut(..len).ok_or(ZmtpError::MalformedCurve)?)?;
        rx.copy_within(MESSAGE_OVERHEAD..len, 0);
        let mut zmtp = 0;
        if flags & MSG_MORE != 0 {
            zmtp |= FLAG_MORE;
        }
        if flags & MSG_COMMAND != 0 {
            zmtp |= FLAG_COMMAND;
        }
        self.begin_plain(zmtp, (len - MESSAGE_OVERHEAD) as u64, rx_cap)?;
        let Dec::Body {
            len,
            more,
            command,
            disp,
            ..
        } = self.dec
        else {
            return Err(ZmtpError::UnexpectedFrame);
        };
        self.dec = Dec::Header;
        Ok((len, more, command, disp))
    }

    /// [`push_frame`](Self::push_frame) once sealing.
    pub(super) fn push_sealed(
        &mut self,
        more: bool,
        command: bool,
        pieces: &[&[u8]],
        reserve: usize,
    ) -> bool {
        let len: usize = pieces.iter().map(|p| p.len()).sum();
        if !self.tx_room(frame_len(MESSAGE_OVERHEAD + len), reserve) {
            return false;
        }
        let (Some(out), Some(curve)) =
            (self.tx.as_mut().get_mut(self.tx_end..), self.curve.as_mut())
        else {
            return false;
        };
        match seal_frame(out, curve, more, command, pieces) {
            Ok(n) => {
                self.tx_end += n;
                true
            }
            Err(_) => false,
        }
    }

    /// [`send`](Self::send) once sealing: every frame (a REQ's delimiter, a
    /// REP's envelope, each part) in its own MESSAGE, as libzmq does.
    pub(super) fn send_sealed(&mut self, parts: &[&[u8]]) -> Result<Sent, SendError> {
        let wire = |n: usize| frame_len(MESSAGE_OVERHEAD + n);
        let env = self.envelope.get(..self.envelope_len).unwrap_or(&[]);
        let env_len = match self.config.role {
            Role::Req => wire(0),
            Role::Rep => envelope_frames(env).map(|(_, b)| wire(b.len())).sum(),
            _ => 0,
        };
        let total = parts
            .iter()
            .try_fold(env_len, |acc, p| acc.checked_add(wire(p.len())))
            .ok_or(SendError::TooLarge)?;
        self.message_room(total)?;
        let Some(curve) = self.curve.as_mut() else {
            return Err(SendError::Closed);
        };
        let mut pos = self.tx_end;
        let tx = self.tx.as_mut();
        let env = self.envelope.get(..self.envelope_len).unwrap_or(&[]);
        let role = self.config.role;
        let mut result = Ok(());
        let mut put = |more: bool, body: &[u8], pos: &mut usize| {
            let out = tx.get_mut(*pos..).unwrap_or(&mut []);
            match seal_frame(out, curve, more, false, &[body]) {
                Ok(n) => *pos += n,
                Err(e) => result = Err(e),
            }
        };
        match role {
            Role::Req => put(true, &[], &mut pos),
            Role::Rep => envelope_frames(env).for_each(|(more, b)| put(more, b, &mut pos)),
            _ => {}
        }
        let last = parts.len() - 1;
        for (i, p) in parts.iter().enumerate() {
            put(i < last, p, &mut pos);
        }
        if let Err(e) = result {
            // A frame found no short nonce left (NonceExhausted; room was
            // made above): the connection closes and nothing is queued.
            self.fail(e);
            return Err(SendError::Closed);
        }
        self.tx_end = pos;
        self.message_sent();
        Ok(Sent::Queued)
    }
}

#[cfg(test)]
extern crate std;

/// What the CURVE tests need to reach inside a keyed connection.
#[cfg(test)]
impl<R, T: Buffer, const SUBS: usize> super::Connection<R, T, SUBS> {
    /// Leaves this connection `n` short nonces to send with.
    pub(crate) fn set_nonces_left(&mut self, n: u64) {
        if let Some(curve) = self.core.curve.as_mut() {
            curve.set_next_nonce(u64::MAX.wrapping_sub(n).wrapping_add(1));
        }
    }

    /// Queues one data frame sealed as it is, outside a role's rules (a
    /// DEALER's routing frames, say).
    pub(crate) fn push_sealed_frame(&mut self, more: bool, body: &[u8]) -> bool {
        self.core.push_sealed(more, false, &[body], 0)
    }

    /// Opens the MESSAGE frames in `wire` (what the peer sent) with this
    /// connection's keys: each inner frame's `(more, command, body)`.
    pub(crate) fn open_sealed_frames(
        &mut self,
        wire: &[u8],
    ) -> Result<std::vec::Vec<(bool, bool, std::vec::Vec<u8>)>, ZmtpError> {
        let curve = self.core.curve.as_mut().ok_or(ZmtpError::UnexpectedFrame)?;
        let mut frames = std::vec::Vec::new();
        let mut rest = wire;
        while !rest.is_empty() {
            let Ok(Status::Complete(f, n)) = Frame::parse(rest, u64::MAX) else {
                return Err(ZmtpError::Truncated);
            };
            let mut body = f.body.to_vec();
            let flags = curve.open(&mut body)?;
            frames.push((
                flags & MSG_MORE != 0,
                flags & MSG_COMMAND != 0,
                body.split_off(MESSAGE_OVERHEAD),
            ));
            rest = rest.get(n..).unwrap_or(&[]);
        }
        Ok(frames)
    }
}
