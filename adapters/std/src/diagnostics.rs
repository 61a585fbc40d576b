//! What `nw0 doctor` needs to see of this crate's view of the network.
//!
//! Not part of the beginner API: hidden from the docs, and may change.
#![doc(hidden)]

use std::net::Ipv4Addr;

use crate::interfaces;

/// An up IPv4 interface (not loopback) that adverts go out of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// The operating system's name for it (`eth0`, `wlan0`, `Wi-Fi`).
    pub name: String,
    /// Its IPv4 address.
    pub ip: Ipv4Addr,
    /// The network prefix length (24 for 255.255.255.0).
    pub prefix_len: u8,
    /// The directed broadcast address adverts are sent to.
    pub broadcast: Ipv4Addr,
    /// A virtual machine's or container's adapter (docker0, vEthernet…).
    pub is_virtual: bool,
}

/// The interfaces adverts go out of, preferred first: the first one's
/// address is the one `advertise` returns.
pub fn interfaces() -> Vec<InterfaceInfo> {
    interfaces::list()
        .into_iter()
        .map(|i| {
            let core = i.to_core();
            InterfaceInfo {
                is_virtual: interfaces::is_virtual(&i.name),
                broadcast: core.broadcast(),
                name: i.name,
                ip: i.ip,
                prefix_len: i.prefix_len,
            }
        })
        .collect()
}

/// The interface of the IPv4 default route, where the system says (Linux:
/// `/proc/net/route`); `Err` when this system cannot tell.
pub fn default_route_interface() -> Result<Option<String>, String> {
    let table = std::fs::read_to_string("/proc/net/route")
        .map_err(|e| format!("cannot read /proc/net/route: {e}"))?;
    Ok(table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace();
        let iface = fields.next()?;
        let destination = fields.next()?;
        (destination == "00000000").then(|| iface.to_string())
    }))
}
