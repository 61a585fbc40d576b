//! Where a [`Sockets`](super::Sockets) set keeps its peers and sockets, and
//! how it makes a new connection's buffers: fixed arrays for firmware, or
//! (feature `alloc`) a `Vec` and `zmtp::Growable` buffers
//! that grow with use.

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::zmtp::Buffer;

/// A table of entries addressed by index, each free (`None`) or taken.
///
/// `[Option<T>; N]` holds exactly `N`; with feature `alloc`, a
/// `Vec<Option<T>>` grows by one free entry whenever every entry is taken
/// (indices stay put: a freed one is reused before the table grows).
pub trait Slots<T> {
    /// A table with every entry free.
    fn empty() -> Self;
    /// The entries.
    fn as_slice(&self) -> &[Option<T>];
    /// The entries, mutably.
    fn as_mut_slice(&mut self) -> &mut [Option<T>];
    /// Adds one free entry at the end if the table can grow; whether it did.
    fn grow(&mut self) -> bool;
}

impl<T, const N: usize> Slots<T> for [Option<T>; N] {
    fn empty() -> Self {
        core::array::from_fn(|_| None)
    }

    fn as_slice(&self) -> &[Option<T>] {
        self
    }

    fn as_mut_slice(&mut self) -> &mut [Option<T>] {
        self
    }

    fn grow(&mut self) -> bool {
        false
    }
}

#[cfg(feature = "alloc")]
impl<T> Slots<T> for Vec<Option<T>> {
    fn empty() -> Self {
        Vec::new()
    }

    fn as_slice(&self) -> &[Option<T>] {
        self
    }

    fn as_mut_slice(&mut self) -> &mut [Option<T>] {
        self
    }

    fn grow(&mut self) -> bool {
        self.push(None);
        true
    }
}

/// The first free index of `slots`, growing the table if it can.
pub(crate) fn free<T>(slots: &mut impl Slots<T>) -> Option<usize> {
    match slots.as_slice().iter().position(Option::is_none) {
        Some(i) => Some(i),
        None if slots.grow() => slots.as_slice().len().checked_sub(1),
        None => None,
    }
}

/// A buffer a socket set can make for a new connection.
pub trait NewBuffer: Buffer + Sized {
    /// A buffer for parts (or messages) of up to `limit` bytes. A fixed
    /// buffer is its own size whatever `limit` says.
    fn new_buffer(limit: usize) -> Self;
}

impl<const N: usize> NewBuffer for [u8; N] {
    fn new_buffer(_: usize) -> Self {
        [0; N]
    }
}

#[cfg(feature = "alloc")]
impl NewBuffer for crate::zmtp::Growable {
    fn new_buffer(limit: usize) -> Self {
        crate::zmtp::Growable::new(limit)
    }
}
