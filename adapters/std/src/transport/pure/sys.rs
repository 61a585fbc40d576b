//! The socket calls the pure transport makes itself rather than through
//! mio, so a call that waits on one connection can wait in that
//! connection's own read (see `Driver::wait_in_read` in [`super::io`]).
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

/// Reads what the kernel holds for `tcp` now, never waiting.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn read_now(tcp: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    recv(tcp, buf, libc::MSG_DONTWAIT)
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
    let fd = std::os::unix::io::AsRawFd::as_raw_fd(tcp);
    // SAFETY: `buf` is valid for `buf.len()` bytes for the call's duration
    // and `fd` is an open socket `tcp` owns.
    #[allow(unsafe_code)]
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
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
    recv(tcp, buf, 0)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn recv(tcp: &TcpStream, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    let fd = std::os::unix::io::AsRawFd::as_raw_fd(tcp);
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the
    // call's duration and `fd` is an open socket `tcp` owns.
    #[allow(unsafe_code)]
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Puts `tcp`'s descriptor in blocking mode, for good: its other reads and
/// writes say `MSG_DONTWAIT`, and readiness (epoll) does not depend on it.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn set_blocking(tcp: &TcpStream) -> io::Result<()> {
    let fd = std::os::unix::io::AsRawFd::as_raw_fd(tcp);
    let mut off: libc::c_int = 0;
    // SAFETY: FIONBIO reads one `c_int` through the pointer, which is valid
    // for the call; `fd` is an open socket `tcp` owns.
    #[allow(unsafe_code)]
    let r = unsafe { libc::ioctl(fd, libc::FIONBIO, &mut off) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether `tcp`'s descriptor is in blocking mode (for tests: the kernel's
/// word, not the transport's).
#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
pub(super) fn is_blocking(tcp: &TcpStream) -> bool {
    let fd = std::os::unix::io::AsRawFd::as_raw_fd(tcp);
    // SAFETY: F_GETFL takes no argument; `fd` is an open socket `tcp` owns.
    #[allow(unsafe_code)]
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_NONBLOCK == 0
}

/// Sets how long a read of `tcp` in blocking mode waits, in milliseconds
/// (0: for ever).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn set_read_timeout(tcp: &TcpStream, ms: u64) -> io::Result<()> {
    let fd = std::os::unix::io::AsRawFd::as_raw_fd(tcp);
    let tv = libc::timeval {
        tv_sec: libc::time_t::try_from(ms / 1000).unwrap_or(libc::time_t::MAX),
        // Below a million: fits every `suseconds_t`.
        tv_usec: libc::suseconds_t::try_from((ms % 1000) * 1000).unwrap_or(0),
    };
    // SAFETY: `tv` is a valid `timeval` for the call's duration and its
    // size is the length given; `fd` is an open socket `tcp` owns.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::addr_of!(tv).cast(),
            libc::socklen_t::try_from(std::mem::size_of::<libc::timeval>()).unwrap_or(0),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
