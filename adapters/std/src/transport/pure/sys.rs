//! The socket calls the pure transport makes itself (through socket2)
//! rather than through mio, so a call that waits on one connection can
//! wait in that connection's own read (see `Driver::wait_in_read` in
//! [`super::io`]).
//!
//! A connection's descriptor may be in blocking mode (on Linux, once a call
//! has waited in its read), so every other read and write says
//! `MSG_DONTWAIT` instead of relying on the descriptor's mode: the I/O
//! thread and the calls' turns never block on it, whatever its mode. A
//! read in blocking mode waits at most its descriptor's receive timeout
//! (`SO_RCVTIMEO`), set only when it changes.
//!
//! Elsewhere the descriptor stays non-blocking and the reads and writes
//! are mio's.

use std::io;

use mio::net::TcpStream;
#[cfg(any(target_os = "linux", target_os = "android"))]
use socket2::SockRef;

/// Reads what the kernel holds for `tcp` now, never waiting.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn read_now(tcp: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `recv` writes only initialised bytes into the buffer, and
    // initialised bytes are valid `MaybeUninit<u8>`s (socket2's own `Read`
    // makes the same cast); nothing uninitialised is written back.
    #[allow(unsafe_code)]
    let buf = unsafe { &mut *(std::ptr::from_mut(buf) as *mut [std::mem::MaybeUninit<u8>]) };
    SockRef::from(tcp).recv_with_flags(buf, libc::MSG_DONTWAIT)
}

/// Reads what the kernel holds for `tcp` now, never waiting.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn read_now(mut tcp: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    io::Read::read(&mut tcp, buf)
}

/// Writes what the kernel takes from `buf` now, never waiting (and with
/// no `SIGPIPE` for a connection the peer has reset, as std's writes).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn write_now(tcp: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    SockRef::from(tcp).send_with_flags(buf, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
}

/// Writes what the kernel takes from `buf` now, never waiting.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn write_now(mut tcp: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    io::Write::write(&mut tcp, buf)
}

/// Reads from `tcp`, waiting for bytes until its receive timeout when its
/// descriptor is in blocking mode ([`set_blocking`]); `WouldBlock` when
/// the timeout came first.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn read_waiting(tcp: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    io::Read::read(&mut &*SockRef::from(tcp), buf)
}

/// Puts `tcp`'s descriptor in blocking mode, for good: its other reads and
/// writes say `MSG_DONTWAIT`, and readiness (epoll) does not depend on it.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn set_blocking(tcp: &TcpStream) -> io::Result<()> {
    SockRef::from(tcp).set_nonblocking(false)
}

/// Whether `tcp`'s descriptor is in blocking mode (for tests: the kernel's
/// word, not the transport's).
#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
pub(super) fn is_blocking(tcp: &TcpStream) -> bool {
    SockRef::from(tcp)
        .nonblocking()
        .is_ok_and(|nonblocking| !nonblocking)
}

/// Sets how long a read of `tcp` in blocking mode waits, in milliseconds
/// (0: for ever).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn set_read_timeout(tcp: &TcpStream, ms: u64) -> io::Result<()> {
    SockRef::from(tcp).set_read_timeout((ms > 0).then(|| std::time::Duration::from_millis(ms)))
}
