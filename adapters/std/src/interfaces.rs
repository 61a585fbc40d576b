//! This host's IPv4 interfaces, in the order adverts should prefer them.
//!
//! The seed's multi-homed story: a Raspberry Pi on wired and Wi-Fi, a laptop
//! with Docker or a VM's host-only network. Every up interface gets adverts
//! carrying its own address; the *main* address (returned by `advertise` and
//! `address`) is the one on the default route, real adapters before virtual
//! ones, and 192.168.* before other private ranges as Python prefers.

use std::net::Ipv4Addr;

use networkzero_core::beacon::Interface;

/// An up, non-loopback IPv4 interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostInterface {
    pub(crate) name: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) prefix_len: u8,
}

impl HostInterface {
    pub(crate) fn to_core(&self) -> Interface {
        Interface {
            ip: self.ip,
            prefix_len: self.prefix_len,
        }
    }
}

/// Names of adapters that virtual machines and containers add. They are
/// used only when no real adapter is up: an address on them is unreachable
/// from the rest of the classroom.
pub(crate) fn is_virtual(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "docker",
        "br-",
        "virbr",
        "vethernet",
        "vmnet",
        "vboxnet",
        "lxcbr",
        "lxdbr",
        "cni",
        "flannel",
        "podman",
        "zt",
        "tailscale",
        "utun",
        "awdl",
        "llw",
    ];
    const CONTAINS: &[&str] = &["vmware", "virtualbox", "hyper-v", "wsl", "(default switch)"];
    let lower = name.to_ascii_lowercase();
    PREFIXES.iter().any(|p| lower.starts_with(p)) || CONTAINS.iter().any(|c| lower.contains(c))
}

/// The interface the IPv4 default route uses, as the system names it: on
/// Linux from /proc/net/route; on Windows from the IP Helper API (the
/// adapter's friendly name, "Wi-Fi", as `if-addrs` names it too — reading
/// /proc there would only work under Wine, by accident). `Ok(None)`: there
/// is no default route; `Err`: this system cannot tell.
pub(crate) fn default_route_interface() -> Result<Option<String>, String> {
    #[cfg(windows)]
    {
        crate::windows::default_route_adapter()
    }
    #[cfg(not(windows))]
    {
        let table = std::fs::read_to_string("/proc/net/route")
            .map_err(|e| format!("cannot read /proc/net/route: {e}"))?;
        Ok(default_route_in(&table))
    }
}

/// The interface of the first 0.0.0.0/0 route of a /proc/net/route table
/// (`Iface Destination Gateway …`, addresses in hex).
#[cfg(not(windows))]
fn default_route_in(table: &str) -> Option<String> {
    table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace();
        let iface = fields.next()?;
        let destination = fields.next()?;
        (destination == "00000000").then(|| iface.to_string())
    })
}

/// Sort key: lower is preferred.
fn preference(i: &HostInterface, default: Option<&str>) -> (bool, bool, bool, u32) {
    (
        is_virtual(&i.name),
        Some(i.name.as_str()) != default,
        !(i.ip.octets()[0] == 192 && i.ip.octets()[1] == 168),
        u32::from(i.ip),
    )
}

/// Up IPv4 interfaces other than loopback, preferred first.
pub(crate) fn list() -> Vec<HostInterface> {
    let found = if_addrs::get_if_addrs().unwrap_or_default();
    let default = default_route_interface().ok().flatten();
    usable(found, default.as_deref())
}

/// Of the interfaces the system lists, the up IPv4 ones other than loopback
/// with an address others can reach (not link-local, not 0.0.0.0), preferred
/// first, one per address.
fn usable(found: Vec<if_addrs::Interface>, default: Option<&str>) -> Vec<HostInterface> {
    let mut usable: Vec<HostInterface> = found
        .into_iter()
        .filter(|i| !i.is_loopback() && i.is_oper_up())
        .filter_map(|i| match i.addr {
            if_addrs::IfAddr::V4(v4) if !v4.ip.is_link_local() && !v4.ip.is_unspecified() => {
                Some(HostInterface {
                    name: i.name,
                    ip: v4.ip,
                    prefix_len: v4.prefixlen,
                })
            }
            _ => None,
        })
        .collect();
    usable.sort_by_key(|i| preference(i, default));
    usable.dedup_by_key(|i| i.ip);
    usable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, ip: [u8; 4]) -> HostInterface {
        HostInterface {
            name: name.into(),
            ip: ip.into(),
            prefix_len: 24,
        }
    }

    #[test]
    fn virtual_adapters_come_last() {
        assert!(is_virtual("docker0"));
        assert!(is_virtual("vEthernet (WSL)"));
        assert!(is_virtual("VMware Network Adapter VMnet8"));
        assert!(is_virtual("virbr0"));
        assert!(!is_virtual("eth0"));
        assert!(!is_virtual("wlan0"));
        assert!(!is_virtual("en0"));
        let mut v = [
            iface("docker0", [172, 17, 0, 1]),
            iface("eth0", [10, 0, 0, 5]),
            iface("wlan0", [192, 168, 1, 9]),
        ];
        v.sort_by_key(|i| preference(i, None));
        assert_eq!(v[0].name, "wlan0");
        assert_eq!(v[2].name, "docker0");
        v.sort_by_key(|i| preference(i, Some("eth0")));
        assert_eq!(
            v[0].name, "eth0",
            "the default route's interface is preferred"
        );
    }

    /// Python prefers 192.168.* (both first octets), not every address
    /// that starts with 192 or has 168 second.
    #[test]
    fn only_192_168_is_preferred_among_private_ranges() {
        let mut v = [
            iface("eth0", [10, 168, 0, 5]),
            iface("eth1", [192, 0, 2, 7]),
            iface("wlan0", [192, 168, 1, 9]),
        ];
        v.sort_by_key(|i| preference(i, None));
        assert_eq!(v[0].name, "wlan0");
    }

    /// The list never holds loopback, which every host has (in a namespace
    /// with only loopback up, it is empty), nor an address nobody can reach.
    #[test]
    fn the_list_leaves_out_loopback_and_unusable_addresses() {
        for i in list() {
            assert!(
                !i.ip.is_loopback() && !i.ip.is_link_local() && !i.ip.is_unspecified(),
                "{i:?}"
            );
        }
    }

    fn system(name: &str, ip: [u8; 4], up: bool) -> if_addrs::Interface {
        if_addrs::Interface {
            name: name.into(),
            addr: if_addrs::IfAddr::V4(if_addrs::Ifv4Addr {
                ip: ip.into(),
                netmask: [255, 255, 255, 0].into(),
                prefixlen: 24,
                broadcast: None,
            }),
            index: None,
            oper_status: if up {
                if_addrs::IfOperStatus::Up
            } else {
                if_addrs::IfOperStatus::Down
            },
            is_p2p: false,
            #[cfg(windows)]
            adapter_name: String::new(),
        }
    }

    /// Of what the system lists: not loopback, not a down interface, not a
    /// link-local or unspecified address; each address once; the default
    /// route's interface first.
    #[test]
    fn only_up_addresses_others_can_reach_are_used() {
        let found = vec![
            system("lo", [127, 0, 0, 1], true),
            system("wlan0", [192, 168, 1, 9], true),
            system("eth1", [10, 0, 1, 5], false),
            system("usb0", [169, 254, 3, 4], true),
            system("tun0", [0, 0, 0, 0], true),
            system("eth0", [10, 0, 0, 5], true),
            system("eth0", [10, 0, 0, 5], true),
        ];
        let used: Vec<(String, Ipv4Addr)> = usable(found, Some("eth0"))
            .into_iter()
            .map(|i| (i.name, i.ip))
            .collect();
        assert_eq!(
            used,
            [
                ("eth0".to_string(), Ipv4Addr::new(10, 0, 0, 5)),
                ("wlan0".to_string(), Ipv4Addr::new(192, 168, 1, 9)),
            ]
        );
    }

    /// The default route's interface, where there is one, is an interface of
    /// this host (in a namespace with only loopback there is none). On Linux
    /// every device is in /sys/class/net, even one without an address.
    #[test]
    fn the_default_route_names_an_interface_of_this_host() {
        if let Ok(Some(name)) = default_route_interface() {
            let names: Vec<String> = if_addrs::get_if_addrs()
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.name)
                .collect();
            let device = cfg!(target_os = "linux")
                && !name.is_empty()
                && std::path::Path::new("/sys/class/net").join(&name).exists();
            assert!(device || names.contains(&name), "{name:?} not in {names:?}");
        }
    }

    #[cfg(not(windows))]
    #[test]
    fn default_route_from_proc_net_route() {
        let table = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask
eth1\t00C8A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF
wlan0\t00000000\t01C8A8C0\t0003\t0\t0\t600\t00000000
";
        assert_eq!(default_route_in(table).as_deref(), Some("wlan0"));
        assert_eq!(default_route_in("Iface\tDestination\n"), None);
    }
}
