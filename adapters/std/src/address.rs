//! Addresses: `"ip:port"` text, completed from this host's interfaces.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::ops::RangeInclusive;
use std::str::FromStr;

use networkzero_core::address::{self as core_address, AddressSpec, HostSpec, DYNAMIC_PORTS};

use crate::error::{Error, Result};
use crate::interfaces;
use crate::ports;

/// Where a service listens: an IP address and a port, written `"ip:port"`.
///
/// Get one from [`advertise`](crate::advertise), [`discover`](crate::discover)
/// or [`address`]; anywhere an address is taken you may also write the text,
/// like `"192.168.1.5:4567"`.
///
/// ```
/// let a: networkzero::Address = "192.168.1.5:4567".parse()?;
/// assert_eq!((a.port(), a.to_string()), (4567, "192.168.1.5:4567".to_string()));
/// # Ok::<(), networkzero::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(SocketAddr);

impl Address {
    /// The IP address.
    pub fn ip(&self) -> IpAddr {
        self.0.ip()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// As a standard socket address.
    pub fn socket_addr(&self) -> SocketAddr {
        self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Self {
        Address(a)
    }
}

impl From<Address> for SocketAddr {
    fn from(a: Address) -> Self {
        a.0
    }
}

impl FromStr for Address {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        address(s)
    }
}

/// Anything that names an address: an [`Address`], a `SocketAddr`, or text
/// such as `"192.168.1.5:4567"` or `"robot.local:4567"`.
///
/// ```
/// use networkzero::ToAddress;
/// assert_eq!("127.0.0.1:80".to_address()?.port(), 80);
/// let e = "127.0.0.1".to_address().unwrap_err(); // a peer needs a port
/// assert!(e.to_string().contains("needs a port"));
/// # Ok::<(), networkzero::Error>(())
/// ```
pub trait ToAddress {
    /// The address, or an error that says what is wrong with the text.
    fn to_address(&self) -> Result<Address>;
}

impl ToAddress for Address {
    fn to_address(&self) -> Result<Address> {
        Ok(*self)
    }
}

impl ToAddress for SocketAddr {
    fn to_address(&self) -> Result<Address> {
        Ok(Address(*self))
    }
}

impl ToAddress for str {
    fn to_address(&self) -> Result<Address> {
        peer_address(self)
    }
}

impl ToAddress for String {
    fn to_address(&self) -> Result<Address> {
        peer_address(self)
    }
}

impl<T: ToAddress + ?Sized> ToAddress for &T {
    fn to_address(&self) -> Result<Address> {
        (**self).to_address()
    }
}

fn invalid(input: &str, reason: impl Into<String>) -> Error {
    Error::InvalidAddress {
        input: input.to_string(),
        reason: reason.into(),
    }
}

fn parse(text: &str) -> Result<AddressSpec<'_>> {
    AddressSpec::parse(text).map_err(|e| invalid(text, e.reason.message()))
}

fn resolve(host: &str) -> Result<IpAddr> {
    let found = (host, 0)
        .to_socket_addrs()
        .map_err(|_| Error::UnknownHost { host: host.into() })?;
    let mut first = None;
    for a in found {
        if a.is_ipv4() {
            return Ok(a.ip());
        }
        first.get_or_insert(a.ip());
    }
    first.ok_or(Error::UnknownHost { host: host.into() })
}

/// The address of another service: it must name a port.
fn peer_address(text: &str) -> Result<Address> {
    // The usual text, "192.168.1.5:8080", in one pass over its bytes
    // ([`canonical_v4`]): a message loop parses its address on every call,
    // and the full parse below (its several passes for every form an
    // address may take) cost ~1 k instructions a call, a tenth of a
    // pure-Rust round trip's work. Whatever the shortcut takes the full
    // parse takes the same way; the rare other forms std would read too
    // (a port with leading zeros) go to the full parse, which agrees.
    if let Some(v4) = canonical_v4(text) {
        return Ok(Address(SocketAddr::V4(v4)));
    }
    let spec = parse(text)?;
    let port = spec.port.ok_or_else(|| {
        invalid(text, "it needs a port after a colon, like 192.168.1.5:8080 — or discover it by name with nw0::discover")
    })?;
    let ip = match spec.host {
        HostSpec::Ip(ip) => ip,
        HostSpec::Name(host) => resolve(host)?,
        HostSpec::Any | HostSpec::Pattern(_) => main_ip(spec.host, text)?,
    };
    Ok(Address(SocketAddr::new(ip, port)))
}

/// `"a.b.c.d:port"` written the one way `Address` displays it (decimal,
/// no leading zeros, no spaces), in a single pass over the bytes: std's
/// parser tries each form a socket address may take and costs ~330
/// instructions, a message loop's text address pays that on every call.
/// `None` for anything else, which the full parsers then read: so this
/// only ever agrees with them.
fn canonical_v4(text: &str) -> Option<SocketAddrV4> {
    let mut octets = [0u8; 4];
    let mut bytes = text.as_bytes().iter();
    for (i, octet) in octets.iter_mut().enumerate() {
        let end = if i == 3 { b':' } else { b'.' };
        *octet = u8::try_from(decimal(&mut bytes, end, 3)?).ok()?;
    }
    let port = u16::try_from(decimal(&mut bytes, b'\0', 5)?).ok()?;
    Some(SocketAddrV4::new(Ipv4Addr::from(octets), port))
}

/// A decimal of 1 to `most` digits without a leading zero, then `end` (or
/// the end of the text when `end` is NUL), from `bytes`.
fn decimal(bytes: &mut std::slice::Iter<'_, u8>, end: u8, most: usize) -> Option<u32> {
    let mut value = 0u32;
    let mut digits = 0;
    loop {
        match bytes.next().copied() {
            Some(b) if b.is_ascii_digit() => {
                if digits == most || (digits == 1 && value == 0) {
                    return None;
                }
                value = value * 10 + u32::from(b - b'0');
                digits += 1;
            }
            Some(b) if b == end && end != 0 && digits > 0 => return Some(value),
            None if end == 0 && digits > 0 => return Some(value),
            _ => return None,
        }
    }
}

/// This host's main IPv4 address (or the one matching a pattern).
fn main_ip(host: HostSpec<'_>, text: &str) -> Result<IpAddr> {
    let ifaces = interfaces::list();
    match host {
        HostSpec::Pattern(p) => ifaces
            .iter()
            .find(|i| core_address::matches_pattern(i.ip, p))
            .map(|i| IpAddr::V4(i.ip))
            .ok_or_else(|| invalid(text, format!("no address of this computer matches {p}"))),
        _ => Ok(IpAddr::V4(
            ifaces.first().map_or(Ipv4Addr::LOCALHOST, |i| i.ip),
        )),
    }
}

/// A port from the dynamic range that nothing on this host listens on now,
/// outside the range the system gives outgoing connections where it can
/// ([`ports::listening_range`]): nobody's `connect` takes it before we listen.
/// It is let go at once: another program may take it before this one
/// listens there ([`free_listener`] keeps it).
pub(crate) fn free_port() -> Result<u16> {
    free_listener().map(|(port, _)| port)
}

/// A free port as [`free_port`] finds it, with the socket listening there
/// (on every interface, as our transports listen): held, no other program
/// finds the port free ([`ports::HeldPorts`]).
pub(crate) fn free_listener() -> Result<(u16, std::net::TcpListener)> {
    let range = ports::listening_range(DYNAMIC_PORTS, ports::outgoing_range());
    let start = RandomState::new().hash_one(std::process::id());
    for i in 0..200u32 {
        let port = candidate(&range, start, i);
        // Listening as our transports will: on Windows that also finds a
        // port another program holds on one address only.
        if let Ok(listener) = ports::tcp_listener(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))) {
            return Ok((port, listener));
        }
    }
    Err(Error::network(
        "looking for a free port",
        format!("no free port found in {}–{}", range.start(), range.end()),
    ))
}

/// The `i`th port `free_port` tries in `range`, for a search that starts at
/// `start` (a random number, any `u64`), so that programs starting together
/// try different ports; then steps of 7919, so that a run of neighbouring
/// held ports costs one try, and every port of the range comes once in as
/// many tries as it has ports (7919 is a prime that the spans searched, 4536
/// on Linux's default and 16384, are no multiple of).
fn candidate(range: &RangeInclusive<u16>, start: u64, i: u32) -> u16 {
    let span = u32::from(range.end() - range.start()) + 1;
    let start = (start % u64::from(span)) as u32;
    range.start() + ((start + i * 7919) % span) as u16
}

/// Turns any of: nothing, a port, an IP, a host name, an IP pattern like
/// `"192.168.*"`, or `"ip:port"` into a full address on this computer, as
/// Python networkzero's `address()` does. A missing IP becomes this
/// computer's main address; a missing port a free one from 49152–65535
/// (on Linux, from the part of it outside the ports of outgoing connections).
///
/// ```
/// let a = networkzero::address("127.0.0.1:5555").unwrap();
/// assert_eq!(a.to_string(), "127.0.0.1:5555");
/// assert_eq!(networkzero::address("8080").unwrap().port(), 8080);
/// let e = networkzero::address("abc:99999").unwrap_err();
/// assert_eq!(e.to_string(), "'abc:99999' is not a valid address: port must be 0–65535");
/// ```
pub fn address(spec: &str) -> Result<Address> {
    crate::logging::init();
    let parsed = parse(spec)?;
    let ip = match parsed.host {
        HostSpec::Ip(ip) => ip,
        HostSpec::Name(host) => resolve(host)?,
        other => main_ip(other, spec)?,
    };
    let port = match parsed.port {
        Some(port) => port,
        None => free_port()?,
    };
    Ok(Address(SocketAddr::new(ip, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The full parse alone, as `peer_address` did before its shortcut.
    fn full(text: &str) -> Option<Address> {
        let spec = parse(text).ok()?;
        match (spec.host, spec.port) {
            (HostSpec::Ip(ip), Some(port)) => Some(Address(SocketAddr::new(ip, port))),
            _ => None,
        }
    }

    #[test]
    fn the_shortcut_for_ip_and_port_agrees_with_the_full_parse() {
        for text in [
            "127.0.0.1:80",
            "192.168.1.5:8080",
            "0.0.0.0:1",
            "255.255.255.255:65535",
            "10.0.0.1:0080",
            "10.0.0.1:65536",
            "10.0.0.01:80",
            "10.0.0:80",
            "10.0.0.1:",
            "10.0.0.1:+80",
            " 10.0.0.1:80",
            "10.0.0.1:80 ",
            "1.2.3.4:5,6.7.8.9:10",
            "256.0.0.1:80",
            "255.0.0.1:65535",
            "1.2.3.4:65536",
            "1.2.3.4:99999",
            "1.2.3.4:123456",
            "1.2.3.4:0",
            "1.2.3.4:00",
            "01.2.3.4:5",
            "0.0.0.0:0",
            "1.2.3.4.5:6",
            "1.2.3:4",
            "1.2.3.4:",
            ":80",
            "1.2.3.4:80x",
            "1.2.3.4x5",
            "1:2.3.4:5",
            "1.2.3.4:8 0",
            "a.b.c.d:1",
            "1..3.4:5",
            "1000.2.3.4:5",
            "1.2.3.4",
            "",
        ] {
            // The single pass takes exactly the text std reads and writes
            // back unchanged.
            let std_canonical = text
                .parse::<SocketAddrV4>()
                .ok()
                .filter(|v4| v4.to_string() == text);
            assert_eq!(canonical_v4(text), std_canonical, "{text}");
            let shortcut = text.parse::<SocketAddrV4>().ok();
            if let Some(v4) = shortcut {
                assert_eq!(Some(Address(SocketAddr::V4(v4))), full(text), "{text}");
            }
            assert_eq!(
                peer_address(text).ok().filter(|_| full(text).is_some()),
                full(text),
                "{text}"
            );
        }
    }

    #[test]
    fn completes_and_validates() {
        assert_eq!(address("127.0.0.1:80").unwrap().to_string(), "127.0.0.1:80");
        let a = address("").unwrap();
        assert!(DYNAMIC_PORTS.contains(&a.port()));
        assert_eq!(
            address("localhost:9").unwrap().ip(),
            IpAddr::from([127, 0, 0, 1])
        );
        assert!(matches!(
            address("300.1.2.3:1"),
            Err(Error::InvalidAddress { .. })
        ));
        let e = "10.0.0.1".to_address().unwrap_err().to_string();
        assert!(e.contains("needs a port"), "{e}");
        let e = "no-such-host.invalid:80"
            .to_address()
            .unwrap_err()
            .to_string();
        assert!(e.contains("no-such-host.invalid"), "{e}");
    }

    /// `{:?}` of an address (in a beginner's `println!("{address:?}")`, or
    /// inside a `Debug` of their own struct) is the text they would write,
    /// quoted like a string.
    #[test]
    fn debug_shows_the_address_as_quoted_text() {
        let a = address("192.168.1.5:4567").unwrap();
        assert_eq!(format!("{a:?}"), "\"192.168.1.5:4567\"");
        assert_eq!(format!("{:?}", Some(a)), "Some(\"192.168.1.5:4567\")");
    }

    /// A pattern names one of this computer's addresses, or is an error: it
    /// never falls back to the main address as a bare `*` does. (TEST-NET-3,
    /// 203.0.113.0/24, is kept for documentation: no host has it, but if
    /// one did, the address found must match.)
    #[test]
    fn a_pattern_no_interface_matches_is_an_error() {
        match address("203.0.113.*:4567") {
            Ok(a) => assert!(
                matches!(a.ip(), IpAddr::V4(ip) if ip.octets()[..3] == [203, 0, 113]),
                "{a}"
            ),
            Err(e) => {
                let text = e.to_string();
                assert!(matches!(e, Error::InvalidAddress { .. }), "{text}");
                assert!(text.contains("203.0.113.*"), "{text}");
            }
        }
    }

    /// Every port of a range comes once in as many tries as it has ports,
    /// from any start: the last port too, and no start overflows.
    #[test]
    fn the_tries_cover_the_range_from_any_start() {
        for range in [61000..=65535, 49152..=65535] {
            let span = u64::from(range.end() - range.start()) + 1;
            for start in [0, 1, u64::from(u32::MAX) * span, u64::MAX] {
                let tried: std::collections::BTreeSet<u16> = (0..span as u32)
                    .map(|i| candidate(&range, start, i))
                    .collect();
                assert_eq!(tried.len() as u64, span, "{range:?} from {start}");
                assert!(tried.iter().all(|p| range.contains(p)), "{range:?}");
                // After a held port the next try is not its neighbour: a
                // run of held ports costs one try, not one per port.
                for i in 0..100 {
                    let (a, b) = (candidate(&range, start, i), candidate(&range, start, i + 1));
                    assert!(a.abs_diff(b) > 1, "{a} then {b}");
                }
            }
        }
    }

    /// A free port comes from the listening range (outside the ports of
    /// outgoing connections), and each search starts at its own place, so
    /// that programs starting together do not all pick the first port.
    #[test]
    fn free_ports_come_from_the_listening_range_and_are_spread() {
        let range = ports::listening_range(DYNAMIC_PORTS, ports::outgoing_range());
        let found: std::collections::BTreeSet<u16> = (0..8).map(|_| free_port().unwrap()).collect();
        assert!(
            found.iter().all(|p| range.contains(p)),
            "{found:?} in {range:?}"
        );
        assert!(found.len() > 1, "{found:?}");
    }
}
