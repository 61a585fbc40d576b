//! The UDP ports networkzero shares with the other programs of a computer
//! (9999 for adverts, 9997 for queries), its own UDP and TCP ports, and the
//! socket options each needs on each system: Linux, macOS and Windows agree
//! on the calls but not on what they mean. Also how a port held by another
//! program shows, and who holds it where the system can say.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Mutex, MutexGuard};

use socket2::{Domain, Protocol, Socket, Type};

/// A UDP socket bound to `port` on every interface, broadcast allowed,
/// shared with the other networkzero programs here (Python's beacon does
/// not share: see `python_beacon.rs`). Blocking; the caller may change that.
///
/// Sharing takes SO_REUSEADDR on every system, and SO_REUSEPORT as well on
/// the BSDs and macOS (Linux takes either). Windows has no SO_REUSEPORT; its
/// SO_REUSEADDR shares only with a first owner that set it too — otherwise
/// the bind fails with WSAEACCES, see [`is_held_by_another_program`].
pub(crate) fn shared_udp(port: u16) -> io::Result<Socket> {
    let socket = udp()?;
    socket.set_reuse_address(true)?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    socket.set_reuse_port(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    Ok(socket)
}

/// A UDP socket of this process alone, on a port the system picks,
/// broadcast allowed. Blocking; the caller may change that.
pub(crate) fn private_udp() -> io::Result<Socket> {
    let socket = udp()?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())?;
    Ok(socket)
}

fn udp() -> io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_broadcast(true)?;
    // Windows fails the next recvfrom with WSAECONNRESET after an ICMP port
    // unreachable for something this socket sent (an answer to a program
    // that has just exited); Linux does not on unconnected sockets.
    #[cfg(windows)]
    crate::windows::ignore_port_unreachable(&socket)?;
    Ok(socket)
}

/// Whether binding a port failed because another program holds it and does
/// not share it: EADDRINUSE everywhere, and on Windows also WSAEACCES
/// (10013, `PermissionDenied`), which Windows (Vista and later) returns when
/// a socket with SO_REUSEADDR meets a first owner that did not allow sharing
/// (Python networkzero's beacon, any program's plain bind) or that set
/// SO_EXCLUSIVEADDRUSE. On Linux EACCES means something else (a port below
/// 1024 without the right), so it stays an error there.
pub(crate) fn is_held_by_another_program(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AddrInUse
        || (cfg!(windows) && e.kind() == io::ErrorKind::PermissionDenied)
}

/// Whether a failed `recv_from` concerned only one datagram, so the ones
/// behind it can still be read: Windows reports an ICMP port unreachable for
/// something the socket sent as WSAECONNRESET (10054) on the next recvfrom
/// (ours turn that off, see `udp` below), and a datagram longer than the
/// buffer as WSAEMSGSIZE (10040) after consuming it, where Linux truncates
/// it quietly.
pub(crate) fn is_about_one_datagram(e: &io::Error) -> bool {
    /// WSAEMSGSIZE, which std does not give a kind of its own.
    const MESSAGE_TOO_LONG: i32 = 10040;
    e.kind() == io::ErrorKind::ConnectionReset
        || (cfg!(windows) && e.raw_os_error() == Some(MESSAGE_TOO_LONG))
}

/// A listening TCP socket on `address`, as networkzero's transports listen:
/// on Unix with SO_REUSEADDR (a restarted program gets its port back at
/// once, as with std's and mio's `bind`), on Windows with
/// SO_EXCLUSIVEADDRUSE, so that no other program can bind the port on the
/// wildcard address beside ours (Windows would allow that even without
/// SO_REUSEADDR). Backlog 1024, as mio's. Blocking; the caller may change
/// that.
pub(crate) fn tcp_listener(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    #[cfg(windows)]
    crate::windows::set_exclusive_address_use(&socket)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// How many free ports a program holds at once ([`HeldPorts`]): the names
/// one process can advertise (the beacon's table holds 64).
pub(crate) const MAX_HELD: usize = 64;

/// The free ports this program picked for its adverts, each still held by
/// the listening socket that found it free, until a transport listens there
/// and takes that socket over ([`HeldPorts::take`]).
///
/// A port let go once found free is free for every other program's search
/// too: two programs starting together on one computer advertised the same
/// port (about once in 4 500 pairs on Linux), and the second one's bind, at
/// its first use, failed (CI saw it). Held, the port is not free to anyone
/// else's search, and a peer that connects before the transport listens
/// waits in the socket's backlog instead of being refused.
///
/// Owned by the runtime. At most [`MAX_HELD`]: beyond, the oldest is let go.
pub(crate) struct HeldPorts {
    held: Mutex<Vec<(u16, std::net::TcpListener)>>,
}

impl HeldPorts {
    pub(crate) const fn new() -> HeldPorts {
        HeldPorts {
            held: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(u16, std::net::TcpListener)>> {
        // A panic elsewhere must not lose the table.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `listener`, which listens on `port`, until [`HeldPorts::take`].
    pub(crate) fn hold(&self, port: u16, listener: std::net::TcpListener) {
        let mut held = self.lock();
        if held.len() >= MAX_HELD {
            let (oldest, _) = held.remove(0);
            log::debug!("letting port {oldest} go: {MAX_HELD} ports are held");
        }
        held.push((port, listener));
    }

    /// The listener held for `port`, if any: the transport listens with it.
    pub(crate) fn take(&self, port: u16) -> Option<std::net::TcpListener> {
        let mut held = self.lock();
        let i = held.iter().position(|(p, _)| *p == port)?;
        Some(held.remove(i).1)
    }
}

/// A program holding a port: its process id, and its name when the system
/// says (`python3`, `python.exe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortHolder {
    /// The process id.
    pub pid: u32,
    /// The program's name, if known.
    pub program: Option<String>,
}

impl std::fmt::Display for PortHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.program {
            Some(program) => write!(f, "{program} (process {})", self.pid),
            None => write!(f, "process {}", self.pid),
        }
    }
}

/// The programs holding UDP `port` (IPv4), where the system can say:
/// Windows through the IP Helper API, Linux through /proc (only the
/// processes we may look into). `Err` where it cannot.
pub(crate) fn udp_port_holders(port: u16) -> Result<Vec<PortHolder>, String> {
    #[cfg(windows)]
    {
        let names = crate::windows::process_names();
        let mut pids = crate::windows::udp_port_owners(port)?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids
            .into_iter()
            // Pid 0 is the idle process on Windows, and a Linux program's
            // socket under Wine: nobody we can name.
            .filter(|&pid| pid != 0)
            .map(|pid| PortHolder {
                pid,
                program: names.get(&pid).cloned(),
            })
            .collect())
    }
    #[cfg(target_os = "linux")]
    {
        linux::udp_port_holders(port)
    }
    #[cfg(not(any(windows, target_os = "linux")))]
    {
        let _ = port;
        Err("this system does not say which program holds a port".into())
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs;

    use super::PortHolder;

    /// Most processes looked into, and most descriptors per process.
    const MAX_ENTRIES: usize = 65_536;

    /// The socket inodes bound to UDP `port` in `table` (/proc/net/udp:
    /// `sl local_address rem_address st … uid timeout inode`, addresses as
    /// `HEXIP:HEXPORT`).
    pub(super) fn inodes(table: &str, port: u16) -> Vec<u64> {
        table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields.get(1)?.rsplit_once(':')?.1;
                (u16::from_str_radix(local_port, 16).ok()? == port)
                    .then(|| fields.get(9)?.parse().ok())
                    .flatten()
            })
            .collect()
    }

    pub(super) fn udp_port_holders(port: u16) -> Result<Vec<PortHolder>, String> {
        let table = fs::read_to_string("/proc/net/udp")
            .map_err(|e| format!("cannot read /proc/net/udp: {e}"))?;
        let wanted: Vec<String> = inodes(&table, port)
            .into_iter()
            .map(|inode| format!("socket:[{inode}]"))
            .collect();
        let mut holders = Vec::new();
        if wanted.is_empty() {
            return Ok(holders);
        }
        let processes = fs::read_dir("/proc").map_err(|e| format!("cannot read /proc: {e}"))?;
        for process in processes.flatten().take(MAX_ENTRIES) {
            let Some(pid) = process.file_name().to_str().and_then(|p| p.parse().ok()) else {
                continue;
            };
            // Only the processes we may look into (all of them for root).
            let Ok(fds) = fs::read_dir(process.path().join("fd")) else {
                continue;
            };
            let holds = fds.flatten().take(MAX_ENTRIES).any(|fd| {
                fs::read_link(fd.path())
                    .is_ok_and(|target| wanted.iter().any(|w| target.as_os_str() == w.as_str()))
            });
            if holds {
                let program = fs::read_to_string(process.path().join("comm"))
                    .ok()
                    .map(|c| c.trim().to_string());
                holders.push(PortHolder { pid, program });
            }
        }
        Ok(holders)
    }
}

/// Where to look for a port to listen on: the part of `dynamic` that the
/// system does not hand out as the local port of outgoing connections
/// (`outgoing`), when there is one. A port found free there stays free
/// until we listen on it; one inside the outgoing range can be taken in
/// between by any program's `connect` (a publisher's port is bound at its
/// first item, a second or more after it was picked). Above the outgoing
/// range first (Linux's default, 32768–60999, leaves 61000–65535), then
/// below it; all of `dynamic` when the outgoing range covers it (Windows
/// and macOS hand out 49152–65535).
pub(crate) fn listening_range(
    dynamic: RangeInclusive<u16>,
    outgoing: Option<RangeInclusive<u16>>,
) -> RangeInclusive<u16> {
    let Some(out) = outgoing else {
        return dynamic;
    };
    let (first, last) = (*dynamic.start(), *dynamic.end());
    if *out.end() < last && *out.end() >= first {
        return (*out.end() + 1)..=last;
    }
    if *out.start() > first && *out.start() <= last {
        return first..=(*out.start() - 1);
    }
    dynamic
}

/// The system's range of local ports for outgoing connections, where it
/// says (Linux: `/proc/sys/net/ipv4/ip_local_port_range`).
pub(crate) fn outgoing_range() -> Option<RangeInclusive<u16>> {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
        let mut numbers = text.split_whitespace().map(str::parse::<u16>);
        let (Some(Ok(first)), Some(Ok(last))) = (numbers.next(), numbers.next()) else {
            return None;
        };
        (first <= last).then_some(first..=last)
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A held port is given to the first socket that asks for it, once; past
    /// [`MAX_HELD`] the oldest is let go (a program advertising in a loop
    /// holds no more than its names). (Opens sockets on 127.0.0.1: run
    /// inside /work/shared/sealed.)
    #[test]
    fn held_ports_are_taken_once_and_the_oldest_let_go_past_the_most() {
        let held = HeldPorts::new();
        let listen = || {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
            (l.local_addr().expect("its address").port(), l)
        };
        let ports: Vec<u16> = (0..=MAX_HELD)
            .map(|_| {
                let (port, l) = listen();
                held.hold(port, l);
                port
            })
            .collect();
        assert!(held.take(ports[0]).is_none(), "the oldest was let go");
        let newest = held.take(ports[MAX_HELD]).expect("the newest is held");
        assert_eq!(
            newest.local_addr().expect("its address").port(),
            ports[MAX_HELD]
        );
        assert!(held.take(ports[MAX_HELD]).is_none(), "taken once");
        assert!(held.take(ports[1]).is_some(), "the second oldest stayed");
    }

    #[test]
    fn listening_ports_avoid_the_outgoing_range() {
        let dynamic = 49152..=65535;
        // Linux's default: above it.
        assert_eq!(
            listening_range(dynamic.clone(), Some(32768..=60999)),
            61000..=65535
        );
        // A range starting inside the dynamic one and reaching its end: below it.
        assert_eq!(
            listening_range(dynamic.clone(), Some(50000..=65535)),
            49152..=49999
        );
        // Covering all of it (Windows, macOS), or no range known: all of it.
        assert_eq!(
            listening_range(dynamic.clone(), Some(49152..=65535)),
            dynamic
        );
        assert_eq!(
            listening_range(dynamic.clone(), Some(1024..=65535)),
            dynamic
        );
        assert_eq!(listening_range(dynamic.clone(), None), dynamic);
        // Entirely below or above it: all of it.
        assert_eq!(listening_range(dynamic.clone(), Some(1024..=2048)), dynamic);
    }

    #[test]
    fn held_means_in_use_and_on_windows_access_denied() {
        assert!(is_held_by_another_program(&io::Error::from(
            io::ErrorKind::AddrInUse
        )));
        assert_eq!(
            is_held_by_another_program(&io::Error::from(io::ErrorKind::PermissionDenied)),
            cfg!(windows),
            "WSAEACCES on a shared bind is Windows' way of saying 'held'; EACCES on Linux is not"
        );
        assert!(!is_held_by_another_program(&io::Error::from(
            io::ErrorKind::AddrNotAvailable
        )));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn proc_net_udp_lines_name_the_inode_on_a_port() {
        let table = "\
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  326: 00000000:270F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41234 2 0000000000000000 0
  327: 0100007F:270D 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 41299 2 0000000000000000 0
  328: 00000000:270F 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 51234 2 0000000000000000 0
garbage
";
        assert_eq!(linux::inodes(table, 9999), vec![41234, 51234]);
        assert_eq!(linux::inodes(table, 9997), vec![41299]);
        assert!(linux::inodes(table, 53).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn finds_this_process_holding_a_port() {
        let socket = private_udp().unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        let holders = udp_port_holders(port).unwrap();
        // This process, and no other: a process is named only when one of
        // its descriptors is that socket, not for having descriptors.
        assert!(
            !holders.is_empty() && holders.iter().all(|h| h.pid == std::process::id()),
            "{holders:?}"
        );
    }

    /// Discovery reads on past a failed receive only when the failure was
    /// about one datagram (a reset from an ICMP port unreachable, and on
    /// Windows a datagram too long); any other failure ends the read.
    #[test]
    fn only_a_reset_or_on_windows_a_long_datagram_concerns_one_datagram() {
        assert!(is_about_one_datagram(&io::Error::from(
            io::ErrorKind::ConnectionReset
        )));
        assert!(!is_about_one_datagram(&io::Error::from(
            io::ErrorKind::WouldBlock
        )));
        assert_eq!(
            is_about_one_datagram(&io::Error::from_raw_os_error(10040)),
            cfg!(windows)
        );
    }

    /// On Linux the system always says its range for outgoing connections
    /// (its default is 32768–60999), so a listening port avoids it.
    #[cfg(target_os = "linux")]
    #[test]
    fn linux_says_its_outgoing_range() {
        let range = outgoing_range().expect("/proc/sys/net/ipv4/ip_local_port_range");
        assert!(range.start() <= range.end(), "{range:?}");
    }
}
