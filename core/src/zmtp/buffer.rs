//! The byte buffers a [`Connection`](super::Connection) reads into and writes
//! from: fixed ones for firmware, and (feature `alloc`) a [`Growable`] one
//! whose memory follows what the peer actually sends.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;
#[cfg(all(test, not(feature = "alloc")))]
use std::vec::Vec;

/// A connection's receive or output buffer.
///
/// A fixed buffer (an array, a slice, a `Vec` used as is) is all its bytes
/// at once: its [`limit`](Self::limit) is its length and
/// [`reserve`](Self::reserve) only says whether `len` bytes fit. A growable
/// one starts small and grows on `reserve`, up to its limit, so a
/// connection costs what its messages need rather than the largest message
/// it could take.
pub trait Buffer: AsRef<[u8]> + AsMut<[u8]> {
    /// The most bytes this buffer will ever hold: a part longer than the
    /// receive buffer's limit, or a message longer than the output
    /// buffer's, is refused.
    fn limit(&self) -> usize {
        self.as_ref().len()
    }

    /// Makes at least `len` bytes addressable, growing if the buffer can
    /// (never past [`limit`](Self::limit)); whether they are.
    fn reserve(&mut self, len: usize) -> bool {
        self.as_ref().len() >= len
    }
}

impl<const N: usize> Buffer for [u8; N] {}
impl Buffer for &mut [u8] {}
#[cfg(any(test, feature = "alloc"))]
impl Buffer for Vec<u8> {}

/// A buffer that grows on demand up to a limit (feature `alloc`).
///
/// It starts at [`Growable::INITIAL`] bytes and at least doubles when it
/// grows, so filling it costs amortised linear time; it never shrinks on
/// its own. Every length the network announces is checked against the
/// limit before anything is allocated.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Growable {
    bytes: Vec<u8>,
    limit: usize,
}

#[cfg(feature = "alloc")]
impl Growable {
    /// Bytes a new buffer starts with: room for the handshake
    /// ([`MIN_RX_BUFFER`](super::MIN_RX_BUFFER),
    /// [`MIN_TX_BUFFER`](super::MIN_TX_BUFFER)) and a few small messages.
    pub const INITIAL: usize = 1024;

    /// An empty buffer that will grow to at most `limit` bytes (it starts
    /// with `min(limit, INITIAL)`).
    pub fn new(limit: usize) -> Growable {
        Growable {
            bytes: alloc::vec![0; limit.min(Self::INITIAL)],
            limit,
        }
    }

    /// Bytes allocated now.
    pub fn allocated(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(feature = "alloc")]
impl AsRef<[u8]> for Growable {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(feature = "alloc")]
impl AsMut<[u8]> for Growable {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

#[cfg(feature = "alloc")]
impl Buffer for Growable {
    fn limit(&self) -> usize {
        self.limit
    }

    fn reserve(&mut self, len: usize) -> bool {
        if len <= self.bytes.len() {
            return true;
        }
        if len > self.limit {
            return false;
        }
        let grown = len.max(self.bytes.len().saturating_mul(2)).min(self.limit);
        self.bytes.resize(grown, 0);
        true
    }
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;

    #[test]
    fn growable_grows_to_its_limit_and_no_further() {
        let mut b = Growable::new(10_000);
        assert_eq!(b.allocated(), Growable::INITIAL);
        assert!(b.reserve(1000));
        assert_eq!(b.allocated(), Growable::INITIAL);
        assert!(b.reserve(1500));
        assert_eq!(b.allocated(), 2048, "at least doubles");
        assert!(b.reserve(9000));
        assert_eq!(b.allocated(), 9000);
        assert!(b.reserve(10_000));
        assert_eq!(b.allocated(), 10_000, "never past the limit");
        assert!(!b.reserve(10_001));
        assert_eq!(b.limit(), 10_000);
    }

    #[test]
    fn a_small_limit_starts_at_the_limit() {
        let b = Growable::new(300);
        assert_eq!(b.allocated(), 300);
    }
}
