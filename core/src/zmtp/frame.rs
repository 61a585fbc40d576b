//! ZMTP 3.x frames: a checked zero-copy header view, an owned header repr and
//! an httparse-style zero-copy frame parser.
//!
//! ```text
//! short frame: flags(1) size(1)            body
//! long frame:  flags(1) size(8, big endian) body
//! flags: bit 0 MORE, bit 1 LONG, bit 2 COMMAND, bits 3..7 reserved (zero)
//! ```
//!
//! The body length is checked against the caller's limit *before* anything
//! else happens, so a 64-bit length up to `u64::MAX` (libzmq CVE-2019-6250)
//! is a typed error, never an allocation, an overflow or a panic.

use super::error::ZmtpError;

/// MORE flag: another part of the same message follows.
pub const FLAG_MORE: u8 = 0x01;
/// LONG flag: the size field is 8 bytes.
pub const FLAG_LONG: u8 = 0x02;
/// COMMAND flag: the frame is a command, not message data.
pub const FLAG_COMMAND: u8 = 0x04;
/// Flag bits that must be zero.
pub const FLAGS_RESERVED: u8 = !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND);
/// Largest frame header (flags + 8-byte size).
pub const MAX_HEADER_LEN: usize = 9;

/// A zero-copy view of a frame header at the start of a buffer.
#[derive(Debug, Clone)]
pub struct FrameHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FrameHeader<T> {
    /// Wrap a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> FrameHeader<T> {
        FrameHeader { buffer }
    }

    /// Wrap a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<FrameHeader<T>, ZmtpError> {
        let h = FrameHeader::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// `Err(Truncated)` unless the whole header (2 or 9 bytes) is present.
    /// (An empty buffer reads as flags 0: a 2-byte header, also missing.)
    pub fn check_len(&self) -> Result<(), ZmtpError> {
        let len = self.buffer.as_ref().len();
        if len < self.header_len() {
            Err(ZmtpError::Truncated)
        } else {
            Ok(())
        }
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The raw flags byte (0 if the buffer is empty).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref().first().copied().unwrap_or(0)
    }

    /// MORE flag.
    pub fn more(&self) -> bool {
        self.flags() & FLAG_MORE != 0
    }

    /// LONG flag.
    pub fn long(&self) -> bool {
        self.flags() & FLAG_LONG != 0
    }

    /// COMMAND flag.
    pub fn command(&self) -> bool {
        self.flags() & FLAG_COMMAND != 0
    }

    /// Header length implied by the flags: 2 or 9.
    pub fn header_len(&self) -> usize {
        if self.long() {
            9
        } else {
            2
        }
    }

    /// Body length (0 if truncated).
    pub fn body_len(&self) -> u64 {
        let b = self.buffer.as_ref();
        if self.long() {
            match b.get(1..9) {
                Some(s) => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(s);
                    u64::from_be_bytes(a)
                }
                None => 0,
            }
        } else {
            u64::from(b.get(1).copied().unwrap_or(0))
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FrameHeader<T> {
    /// Write flags and size; the LONG flag is chosen from `body_len`.
    /// Writes a prefix if the buffer is short (never panics).
    pub fn set(&mut self, more: bool, command: bool, body_len: u64) {
        let buf = self.buffer.as_mut();
        let mut flags = 0;
        if more {
            flags |= FLAG_MORE;
        }
        if command {
            flags |= FLAG_COMMAND;
        }
        if body_len > 255 {
            flags |= FLAG_LONG;
            let be = body_len.to_be_bytes();
            for (dst, src) in buf.iter_mut().skip(1).zip(be.iter()) {
                *dst = *src;
            }
        } else if let Some(b) = buf.get_mut(1) {
            *b = body_len as u8;
        }
        if let Some(b) = buf.get_mut(0) {
            *b = flags;
        }
    }
}

/// The owned meaning of a frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameHeaderRepr {
    /// MORE flag.
    pub more: bool,
    /// COMMAND flag.
    pub command: bool,
    /// Body length.
    pub body_len: u64,
}

impl FrameHeaderRepr {
    /// Parse a header; refuses reserved flag bits.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        h: &FrameHeader<&T>,
    ) -> Result<FrameHeaderRepr, ZmtpError> {
        h.check_len()?;
        if h.flags() & FLAGS_RESERVED != 0 {
            return Err(ZmtpError::ReservedFlags);
        }
        Ok(FrameHeaderRepr {
            more: h.more(),
            command: h.command(),
            body_len: h.body_len(),
        })
    }

    /// 2 for bodies up to 255 bytes (libzmq's choice), else 9.
    pub const fn buffer_len(&self) -> usize {
        if self.body_len > 255 {
            9
        } else {
            2
        }
    }

    /// Write the header into the first [`buffer_len`](Self::buffer_len) bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, h: &mut FrameHeader<&mut T>) {
        h.set(self.more, self.command, self.body_len);
    }
}

/// Result of an incremental parse: done (with bytes consumed), or need more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status<T> {
    /// Parsed; the value and how many input bytes it used.
    Complete(T, usize),
    /// The input ends before the structure does; not an error.
    Partial,
}

/// One frame whose body borrows the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frame<'a> {
    /// MORE flag.
    pub more: bool,
    /// COMMAND flag.
    pub command: bool,
    /// The body, borrowed from the input.
    pub body: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Parse one frame from the start of `input` without copying.
    ///
    /// A body longer than `max_body` is `Err(MessageTooLarge)` as soon as the
    /// header is known, whatever the input length.
    pub fn parse(input: &'a [u8], max_body: u64) -> Result<Status<Frame<'a>>, ZmtpError> {
        let h = FrameHeader::new_unchecked(input);
        if h.check_len().is_err() {
            if h.flags() & FLAGS_RESERVED != 0 {
                return Err(ZmtpError::ReservedFlags);
            }
            return Ok(Status::Partial);
        }
        let repr = FrameHeaderRepr::parse(&h)?;
        if repr.body_len > max_body {
            return Err(ZmtpError::MessageTooLarge);
        }
        let hl = h.header_len();
        // body_len <= max_body; a max_body beyond usize is clamped by try_from.
        let Ok(bl) = usize::try_from(repr.body_len) else {
            return Err(ZmtpError::MessageTooLarge);
        };
        let Some(end) = hl.checked_add(bl) else {
            return Err(ZmtpError::MessageTooLarge);
        };
        match input.get(hl..end) {
            Some(body) => Ok(Status::Complete(
                Frame {
                    more: repr.more,
                    command: repr.command,
                    body,
                },
                end,
            )),
            None => Ok(Status::Partial),
        }
    }

    /// Bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        let h = FrameHeaderRepr {
            more: self.more,
            command: self.command,
            body_len: self.body.len() as u64,
        };
        h.buffer_len() + self.body.len()
    }

    /// Encode into `out`; `Err(Truncated)` (writing nothing) if it is too short.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, ZmtpError> {
        encode_frame(out, self.more, self.command, self.body)
    }
}

/// Encode one frame (header and body) at the start of `out`; returns its length.
pub fn encode_frame(
    out: &mut [u8],
    more: bool,
    command: bool,
    body: &[u8],
) -> Result<usize, ZmtpError> {
    let h = FrameHeaderRepr {
        more,
        command,
        body_len: body.len() as u64,
    };
    let hl = h.buffer_len();
    let total = hl.checked_add(body.len()).ok_or(ZmtpError::Truncated)?;
    let dst = out.get_mut(..total).ok_or(ZmtpError::Truncated)?;
    let (hdr, rest) = dst.split_at_mut(hl);
    h.emit(&mut FrameHeader::new_unchecked(hdr));
    rest.copy_from_slice(body);
    Ok(total)
}

/// Bytes needed to encode a frame with a body of `body_len` bytes.
pub const fn frame_len(body_len: usize) -> usize {
    if body_len > 255 {
        body_len.saturating_add(9)
    } else {
        body_len + 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long() {
        let short = [0x01u8, 0x03, b'a', b'b', b'c', 0xEE];
        assert_eq!(
            Frame::parse(&short, 100),
            Ok(Status::Complete(
                Frame {
                    more: true,
                    command: false,
                    body: b"abc"
                },
                5
            ))
        );
        // 255 bytes still take the short header (libzmq's choice): its one
        // size byte, then the body at once.
        let mut edge = [0u8; 2 + 256];
        assert_eq!(
            FrameHeaderRepr {
                more: false,
                command: false,
                body_len: 255
            }
            .buffer_len(),
            2
        );
        let n = encode_frame(&mut edge, false, false, &[7u8; 255]).unwrap();
        assert_eq!((n, edge[..3].to_vec()), (257, vec![0x00, 0xFF, 7]));
        match Frame::parse(&edge, 1000) {
            Ok(Status::Complete(f, 257)) => assert_eq!(f.body, &[7u8; 255][..]),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Frame {
                more: false,
                command: false,
                body: &[0; 256]
            }
            .buffer_len(),
            9 + 256
        );
        let mut long = [0u8; 9 + 300];
        let n = encode_frame(&mut long, false, false, &[7u8; 300]).unwrap();
        assert_eq!(n, 309);
        assert_eq!(long[..9], [0x02, 0, 0, 0, 0, 0, 0, 0x01, 0x2C]);
        match Frame::parse(&long, 1000) {
            Ok(Status::Complete(f, 309)) => assert_eq!(f.body.len(), 300),
            other => panic!("{other:?}"),
        }
        assert_eq!(Frame::parse(&long[..100], 1000), Ok(Status::Partial));
        assert_eq!(Frame::parse(&long[..5], 1000), Ok(Status::Partial));
        assert_eq!(Frame::parse(&[], 1000), Ok(Status::Partial));
    }

    /// A frame's size is known before it is written (`frame_len`, a
    /// frame's `buffer_len`): both are what `encode_frame` (and a frame's
    /// `emit`) writes, on either
    /// side of the short header's 255 bytes; and a body of exactly the
    /// reader's limit is taken.
    #[test]
    fn frame_len_is_what_encode_frame_writes() {
        let body = [7u8; 300];
        let mut out = [0u8; 9 + 300];
        for n in [0, 1, 255, 256, 300] {
            let body = body.get(..n).unwrap();
            let written = encode_frame(&mut out, false, false, body).unwrap();
            assert_eq!(frame_len(n), written, "{n}");
            let frame = Frame {
                more: false,
                command: false,
                body,
            };
            assert_eq!(frame.buffer_len(), written, "{n}");
            let mut emitted = [0u8; 9 + 300];
            assert_eq!(frame.emit(&mut emitted), Ok(written), "{n}");
            assert_eq!(emitted[..written], out[..written], "{n}");
            let limit = u64::try_from(n).unwrap();
            assert_eq!(
                Frame::parse(out.get(..written).unwrap(), limit),
                Ok(Status::Complete(frame, written))
            );
        }
    }

    #[test]
    fn libzmq_subscribe_command() {
        let wire = b"\x04\x0e\x09SUBSCRIBEdata";
        match Frame::parse(wire, 100) {
            Ok(Status::Complete(f, 16)) => {
                assert!(f.command && !f.more);
                assert_eq!(f.body, b"\x09SUBSCRIBEdata");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cve_2019_6250_lengths() {
        // u64::MAX length with only the header present: typed error, no panic.
        let wire = [0x02u8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(
            Frame::parse(&wire, 1 << 20),
            Err(ZmtpError::MessageTooLarge)
        );
        // Even with no limit, a length that cannot exist in memory is an error.
        assert_eq!(
            Frame::parse(&wire, u64::MAX),
            Err(ZmtpError::MessageTooLarge)
        );
        let wire = [0x02u8, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(Frame::parse(&wire, u64::MAX - 1), Ok(Status::Partial));
    }

    #[test]
    fn reserved_flags() {
        assert_eq!(Frame::parse(&[0x08, 0], 10), Err(ZmtpError::ReservedFlags));
        assert_eq!(Frame::parse(&[0x80], 10), Err(ZmtpError::ReservedFlags));
    }

    #[test]
    fn emit_short_buffer() {
        let mut out = [0u8; 3];
        assert_eq!(
            encode_frame(&mut out, false, false, b"abcd"),
            Err(ZmtpError::Truncated)
        );
        assert_eq!(out, [0, 0, 0]);
        // The header setter never panics on a short buffer.
        FrameHeader::new_unchecked(&mut out[..1]).set(true, false, 1 << 40);
        assert_eq!(out[0], FLAG_MORE | FLAG_LONG);
    }
}
