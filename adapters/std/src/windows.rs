//! What only Windows can tell, or needs, through its own API (`windows-sys`):
//! which programs hold a UDP port, and two socket settings Unix has no twin
//! for. Every `unsafe` of the Windows build
//! is here, each call with what makes it sound.
//!
//! Only functions that Wine 8.0 implements are used, so the end-to-end tests
//! run this code.
#![allow(unsafe_code)]

use std::collections::HashMap;
use std::io;
use std::os::windows::io::AsRawSocket;
use std::ptr;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INSUFFICIENT_BUFFER, INVALID_HANDLE_VALUE, NO_ERROR,
};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetExtendedUdpTable, MIB_UDPROW_OWNER_PID, MIB_UDPTABLE_OWNER_PID, UDP_TABLE_OWNER_PID,
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

/// A buffer of `bytes` bytes (rounded up) aligned for the IP Helper tables,
/// whose fields are at most 8 bytes wide.
fn table_buffer(bytes: u32) -> Vec<u64> {
    vec![0u64; (bytes as usize).div_ceil(size_of::<u64>()).max(1)]
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
            return Err(format!(
                "GetExtendedUdpTable failed: {}",
                io::Error::from_raw_os_error(status as i32)
            ));
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
