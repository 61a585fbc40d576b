//! What only Windows can tell, or needs, through its own API (`windows-sys`):
//! the adapter of the default route, which programs hold a UDP port, and two
//! socket settings Unix has no twin for. Every `unsafe` of the Windows build
//! is here, each call with what makes it sound.
//!
//! Only functions that Wine 8.0 implements are used (GetIpInterfaceEntry and
//! GetBestRoute2 are missing there), so the end-to-end tests run this code.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::io;
use std::os::windows::io::AsRawSocket;
use std::ptr;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_BUFFER_OVERFLOW, ERROR_INSUFFICIENT_BUFFER, INVALID_HANDLE_VALUE, NO_ERROR,
};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    FreeMibTable, GetAdaptersAddresses, GetExtendedUdpTable, GetIpForwardTable2,
    GAA_FLAG_SKIP_ANYCAST, GAA_FLAG_SKIP_DNS_SERVER, GAA_FLAG_SKIP_MULTICAST,
    GAA_FLAG_SKIP_UNICAST, IP_ADAPTER_ADDRESSES_LH, MIB_IPFORWARD_TABLE2, MIB_UDPROW_OWNER_PID,
    MIB_UDPTABLE_OWNER_PID, UDP_TABLE_OWNER_PID,
};
use windows_sys::Win32::Networking::WinSock::{
    setsockopt, WSAIoctl, AF_INET, SIO_UDP_CONNRESET, SOCKET, SOL_SOCKET, SO_EXCLUSIVEADDRUSE,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W, TH32CS_SNAPPROCESS,
};

/// How many times a table that grew between asking its size and reading it
/// is asked for again.
const TABLE_TRIES: usize = 4;

/// Stops Windows from failing the next `recvfrom` of a UDP socket with
/// WSAECONNRESET (10054) when an ICMP "port unreachable" comes back for a
/// datagram it sent (SIO_UDP_CONNRESET, on by default since Windows 2000).
/// Linux reports those only on connected UDP sockets; ours are not
/// connected, and an answer to a program that has just exited must not
/// disturb the socket that sent it.
pub(crate) fn ignore_port_unreachable(socket: &impl AsRawSocket) -> io::Result<()> {
    let off: u32 = 0;
    let mut returned: u32 = 0;
    // SAFETY: the socket is open for the call (borrowed); the input buffer is
    // a live u32 of the length given, no output buffer is asked for, and the
    // call is synchronous (no OVERLAPPED, no completion routine).
    let result = unsafe {
        WSAIoctl(
            socket.as_raw_socket() as SOCKET,
            SIO_UDP_CONNRESET,
            ptr::from_ref(&off).cast(),
            size_of::<u32>() as u32,
            ptr::null_mut(),
            0,
            &mut returned,
            ptr::null_mut(),
            None,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets SO_EXCLUSIVEADDRUSE on a socket that is not bound yet. Without it,
/// Windows lets a later socket bind the same port on the wildcard address
/// while ours listens on one address (and with SO_REUSEADDR take it over),
/// so connections meant for us could reach another program. libzmq sets it
/// on Windows for the same reason; Unix has no such sharing to refuse.
pub(crate) fn set_exclusive_address_use(socket: &impl AsRawSocket) -> io::Result<()> {
    let on: i32 = 1;
    // SAFETY: the socket is open for the call (borrowed); the option value is
    // a live i32 of the length given.
    let result = unsafe {
        setsockopt(
            socket.as_raw_socket() as SOCKET,
            SOL_SOCKET,
            SO_EXCLUSIVEADDRUSE,
            ptr::from_ref(&on).cast(),
            size_of::<i32>() as i32,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What a failed IP Helper call says.
fn failed(call: &str, status: u32) -> String {
    format!(
        "{call} failed: {}",
        io::Error::from_raw_os_error(status as i32)
    )
}

/// A buffer of `bytes` bytes (rounded up) aligned for the IP Helper tables,
/// whose fields are at most 8 bytes wide.
fn table_buffer(bytes: u32) -> Vec<u64> {
    vec![0u64; (bytes as usize).div_ceil(size_of::<u64>()).max(1)]
}

/// The adapters' friendly names ("Wi-Fi", "Ethernet 2") and IPv4 interface
/// metrics, by LUID, from GetAdaptersAddresses (the names `if-addrs` gives
/// the interfaces too).
fn adapters() -> Result<HashMap<u64, (String, u32)>, String> {
    let flags = GAA_FLAG_SKIP_UNICAST
        | GAA_FLAG_SKIP_ANYCAST
        | GAA_FLAG_SKIP_MULTICAST
        | GAA_FLAG_SKIP_DNS_SERVER;
    let mut size: u32 = 16 * 1024;
    for _ in 0..TABLE_TRIES {
        let mut buffer = table_buffer(size);
        size = u32::try_from(buffer.len() * size_of::<u64>()).unwrap_or(u32::MAX);
        let first = buffer.as_mut_ptr().cast::<IP_ADAPTER_ADDRESSES_LH>();
        // SAFETY: `buffer` is writable for `size` bytes and aligned for the
        // struct; on overflow Windows only updates `size`.
        let status = unsafe {
            GetAdaptersAddresses(u32::from(AF_INET), flags, ptr::null(), first, &mut size)
        };
        if status == ERROR_BUFFER_OVERFLOW {
            continue;
        }
        if status != NO_ERROR {
            return Err(failed("GetAdaptersAddresses", status));
        }
        let mut found = HashMap::new();
        let mut next = first.cast_const();
        // Bounded by the list Windows wrote into `buffer`; the cap only guards
        // against a malformed list.
        for _ in 0..1024 {
            if next.is_null() {
                break;
            }
            // SAFETY: on success `next` is null or points to an entry Windows
            // wrote inside `buffer`, which lives until the end of this loop.
            let adapter = unsafe { &*next };
            // SAFETY: as above; the union's `Value` covers all 8 bytes.
            let luid = unsafe { adapter.Luid.Value };
            found.insert(
                luid,
                (wide_string(adapter.FriendlyName), adapter.Ipv4Metric),
            );
            next = adapter.Next.cast_const();
        }
        return Ok(found);
    }
    Err("GetAdaptersAddresses: the list of adapters kept growing".into())
}

/// A NUL-terminated UTF-16 string Windows wrote (lossily: a name is only
/// shown and compared).
fn wide_string(text: *const u16) -> String {
    if text.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: Windows' strings end with a NUL; 256 (IF_MAX_STRING_SIZE) is
    // the longest adapter name, so the scan stops there at the latest.
    while len < 256 && unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` units before the NUL were just read.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(text, len) })
}

/// The friendly name of the adapter that carries the IPv4 default route:
/// of the routes to 0.0.0.0/0 (GetIpForwardTable2), the one Windows uses —
/// the lowest route metric plus interface metric. `Ok(None)`: no default
/// route.
pub(crate) fn default_route_adapter() -> Result<Option<String>, String> {
    let mut table: *mut MIB_IPFORWARD_TABLE2 = ptr::null_mut();
    // SAFETY: Windows allocates the table and stores it in `table`.
    let status = unsafe { GetIpForwardTable2(AF_INET, &mut table) };
    if status != NO_ERROR || table.is_null() {
        return Err(failed("GetIpForwardTable2", status));
    }
    let mut defaults = Vec::new();
    // SAFETY: on success `table` holds `NumEntries` rows starting at
    // `Table`; they are read before FreeMibTable below.
    unsafe {
        let rows =
            std::slice::from_raw_parts((*table).Table.as_ptr(), (*table).NumEntries as usize);
        for row in rows {
            if row.DestinationPrefix.PrefixLength == 0 {
                defaults.push((row.InterfaceLuid.Value, row.Metric));
            }
        }
        FreeMibTable(table.cast());
    }
    if defaults.is_empty() {
        return Ok(None);
    }
    let adapters = adapters()?;
    Ok(defaults
        .into_iter()
        .filter_map(|(luid, metric)| {
            let (name, interface_metric) = adapters.get(&luid)?;
            Some((metric.saturating_add(*interface_metric), name.clone()))
        })
        .min()
        .map(|(_, name)| name))
}

/// The process ids of the sockets bound to UDP `port` (IPv4), from
/// GetExtendedUdpTable. Under Wine, sockets of Linux programs show pid 0.
pub(crate) fn udp_port_owners(port: u16) -> Result<Vec<u32>, String> {
    let mut size: u32 = 0;
    for _ in 0..TABLE_TRIES {
        let mut buffer = table_buffer(size.max(size_of::<MIB_UDPTABLE_OWNER_PID>() as u32));
        size = u32::try_from(buffer.len() * size_of::<u64>()).unwrap_or(u32::MAX);
        // SAFETY: `buffer` is writable for `size` bytes and aligned for the
        // table; when it is too small Windows only updates `size`.
        let status = unsafe {
            GetExtendedUdpTable(
                buffer.as_mut_ptr().cast(),
                &mut size,
                0,
                u32::from(AF_INET),
                UDP_TABLE_OWNER_PID,
                0,
            )
        };
        if status == ERROR_INSUFFICIENT_BUFFER {
            continue;
        }
        if status != NO_ERROR {
            return Err(failed("GetExtendedUdpTable", status));
        }
        let table = buffer.as_ptr().cast::<MIB_UDPTABLE_OWNER_PID>();
        // SAFETY: on success the table Windows wrote fits in `buffer`:
        // `dwNumEntries` rows follow the count.
        let rows: &[MIB_UDPROW_OWNER_PID] = unsafe {
            std::slice::from_raw_parts((*table).table.as_ptr(), (*table).dwNumEntries as usize)
        };
        return Ok(rows
            .iter()
            // The port is in network byte order in the low 16 bits.
            .filter(|row| u16::from_be(row.dwLocalPort as u16) == port)
            .map(|row| row.dwOwningPid)
            .collect());
    }
    Err("GetExtendedUdpTable: the table kept growing".into())
}

/// Every running process's executable name ("python.exe"), by process id,
/// from a Toolhelp snapshot (which needs no right to open the processes).
pub(crate) fn process_names() -> HashMap<u32, String> {
    let mut names = HashMap::new();
    // SAFETY: no pointer arguments; the handle is checked and closed below.
    let snapshot = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if snapshot == INVALID_HANDLE_VALUE || snapshot.is_null() {
        return names;
    }
    let mut entry = PROCESSENTRY32W {
        dwSize: size_of::<PROCESSENTRY32W>() as u32,
        ..Default::default()
    };
    // SAFETY: `snapshot` is a valid snapshot handle and `entry` a live
    // PROCESSENTRY32W whose `dwSize` is set, as both calls require.
    let mut more = unsafe { Process32FirstW(snapshot, &mut entry) } != 0;
    // Bounded: a snapshot is finite; the cap guards the loop all the same.
    for _ in 0..65_536 {
        if !more {
            break;
        }
        let len = entry
            .szExeFile
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(entry.szExeFile.len());
        let name = String::from_utf16_lossy(entry.szExeFile.get(..len).unwrap_or_default());
        names.insert(entry.th32ProcessID, name);
        // SAFETY: as for Process32FirstW.
        more = unsafe { Process32NextW(snapshot, &mut entry) } != 0;
    }
    // SAFETY: `snapshot` is a handle we own and close once.
    unsafe { CloseHandle(snapshot) };
    names
}
