//! Addresses as beginners write them: `"ip:port"`, `"host:port"`, `"port"`,
//! `"host"`, a wildcard preference such as `"192.168.*"`, or bracketed IPv6
//! `"[::1]:port"`.
//!
//! Parsing is split from completion: [`AddressSpec::parse`] only checks the
//! text. Filling in a missing IP (the host's preferred interface), a missing
//! port (a free one from [`DYNAMIC_PORTS`]) or resolving a host name needs the
//! operating system, so that is the adapter's job; the spec says which of
//! those it needs.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::ops::RangeInclusive;
use core::str::FromStr;

/// Ports Python networkzero picks from when none is given (0xC000..=0xFFFF).
pub const DYNAMIC_PORTS: RangeInclusive<u16> = 0xC000..=0xFFFF;

/// Longest host name we accept (the DNS limit).
pub const MAX_HOST_LEN: usize = 253;

/// The host part of an [`AddressSpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HostSpec<'a> {
    /// No host given: use this machine's preferred address.
    Any,
    /// A literal IP address.
    Ip(#[cfg_attr(feature = "defmt", defmt(Display2Format))] IpAddr),
    /// An IPv4 pattern with `*` wildcards (`"192.168.*"`): use this machine's
    /// address that matches it.
    Pattern(&'a str),
    /// A host name to resolve (`"pi4.local"`, `"localhost"`).
    Name(&'a str),
}

/// A parsed, not yet completed address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AddressSpec<'a> {
    /// Which host, or how to choose one.
    pub host: HostSpec<'a>,
    /// The port, if one was given.
    pub port: Option<u16>,
}

/// Why some text is not an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Reason {
    /// The port has characters other than digits.
    PortNotNumber,
    /// The port is a number above 65535.
    PortOutOfRange,
    /// A `[` without its `]`, or text after `]` that is not `:port`.
    BadBrackets,
    /// The text inside `[...]` is not an IPv6 address.
    BadIpv6,
    /// Looks like an IPv4 address or pattern but is not one.
    BadIpv4,
    /// A host name with characters a host name cannot have, or too long.
    BadHostName,
    /// The text has more than one address (Python refuses lists too).
    SeveralAddresses,
}

impl Reason {
    /// The explanation, written for a beginner.
    pub const fn message(self) -> &'static str {
        match self {
            Reason::PortNotNumber => "the port after ':' must be a number such as 8080",
            Reason::PortOutOfRange => "port must be 0–65535",
            Reason::BadBrackets => "write an IPv6 address in brackets, like [::1]:8080",
            Reason::BadIpv6 => "the part in brackets is not an IPv6 address",
            Reason::BadIpv4 => {
                "an IP address is four numbers 0–255 with dots, like 192.168.1.5 (or 192.168.* to prefer a network)"
            }
            Reason::BadHostName => {
                "a host name may only have letters, digits, '-', '_' and '.', at most 253 of them"
            }
            Reason::SeveralAddresses => "give one address only, like 192.168.1.5:8080",
        }
    }
}

/// Some text that is not a valid address, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InvalidAddress<'a> {
    /// The text as given.
    pub input: &'a str,
    /// What is wrong with it.
    pub reason: Reason,
}

impl fmt::Display for InvalidAddress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a valid address: {}",
            self.input,
            self.reason.message()
        )
    }
}

impl<'a> AddressSpec<'a> {
    /// Parses address text the way Python networkzero's `address()` reads it,
    /// plus bracketed IPv6. Surrounding whitespace is ignored.
    pub fn parse(input: &'a str) -> Result<Self, InvalidAddress<'a>> {
        let err = |reason| InvalidAddress { input, reason };
        let text = input.trim();
        if text.contains([',', ' ', ';']) {
            return Err(err(Reason::SeveralAddresses));
        }
        if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or(err(Reason::BadBrackets))?;
            let ip = Ipv6Addr::from_str(inside).map_err(|_| err(Reason::BadIpv6))?;
            let port = match after {
                "" => None,
                _ => Some(parse_port(
                    after.strip_prefix(':').ok_or(err(Reason::BadBrackets))?,
                    input,
                )?),
            };
            return Ok(AddressSpec {
                host: HostSpec::Ip(IpAddr::V6(ip)),
                port,
            });
        }
        // Two or more colons without brackets: a bare IPv6 address, no port.
        if text.matches(':').count() > 1 {
            let ip = Ipv6Addr::from_str(text).map_err(|_| err(Reason::BadBrackets))?;
            return Ok(AddressSpec {
                host: HostSpec::Ip(IpAddr::V6(ip)),
                port: None,
            });
        }
        let (host, port) = match text.split_once(':') {
            Some((host, port)) => (host, Some(parse_port(port, input)?)),
            None if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
                ("", Some(parse_port(text, input)?))
            }
            None => (text, None),
        };
        Ok(AddressSpec {
            host: parse_host(host).map_err(err)?,
            port,
        })
    }

    /// The socket address, when the text named both an IP and a port.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match (self.host, self.port) {
            (HostSpec::Ip(ip), Some(port)) => Some(SocketAddr::new(ip, port)),
            _ => None,
        }
    }

    /// Whether the adapter must resolve a host name before use.
    pub fn needs_resolving(&self) -> bool {
        matches!(self.host, HostSpec::Name(_))
    }
}

fn parse_port<'a>(text: &str, input: &'a str) -> Result<u16, InvalidAddress<'a>> {
    let err = |reason| InvalidAddress { input, reason };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(Reason::PortNotNumber));
    }
    // All digits, so the only failure left is overflow.
    text.parse::<u16>().map_err(|_| err(Reason::PortOutOfRange))
}

fn parse_host(host: &str) -> Result<HostSpec<'_>, Reason> {
    if host.is_empty() {
        return Ok(HostSpec::Any);
    }
    if host.contains('*') {
        return if is_ipv4_pattern(host) {
            Ok(HostSpec::Pattern(host))
        } else {
            Err(Reason::BadIpv4)
        };
    }
    if let Ok(ip) = Ipv4Addr::from_str(host) {
        return Ok(HostSpec::Ip(IpAddr::V4(ip)));
    }
    // Digits and dots only, yet not an IPv4 address: a typo, not a name.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(Reason::BadIpv4);
    }
    let valid_name = host.len() <= MAX_HOST_LEN
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid_name {
        Ok(HostSpec::Name(host))
    } else {
        Err(Reason::BadHostName)
    }
}

/// Whether `pattern` is dotted IPv4 where any octet may be `*` (`192.168.*`,
/// `10.*.*.1`). Fewer than four octets means the rest are wildcards.
pub fn is_ipv4_pattern(pattern: &str) -> bool {
    let mut octets = 0;
    for part in pattern.split('.') {
        octets += 1;
        let ok = part == "*" || (!part.is_empty() && part.len() <= 3 && part.parse::<u8>().is_ok());
        if !ok || octets > 4 {
            return false;
        }
    }
    true
}

/// Whether `ip` matches an IPv4 pattern such as `192.168.*`.
pub fn matches_pattern(ip: Ipv4Addr, pattern: &str) -> bool {
    if !is_ipv4_pattern(pattern) {
        return false;
    }
    let octets = ip.octets();
    let mut parts = pattern.split('.');
    for octet in octets {
        match parts.next() {
            Some("*") => {}
            Some(p) => {
                if p.parse::<u8>() != Ok(octet) {
                    return false;
                }
            }
            // A shorter pattern ends in an implied wildcard only after '*'.
            None => return pattern.ends_with('*'),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> AddressSpec<'_> {
        AddressSpec::parse(text).unwrap()
    }
    fn reason(text: &str) -> Reason {
        AddressSpec::parse(text).unwrap_err().reason
    }

    #[test]
    fn the_forms_python_accepts() {
        let spec = ok("192.168.1.5:4567");
        assert_eq!(
            spec.socket_addr(),
            Some("192.168.1.5:4567".parse().unwrap())
        );
        assert_eq!(
            ok("4567"),
            AddressSpec {
                host: HostSpec::Any,
                port: Some(4567)
            }
        );
        assert_eq!(
            ok(""),
            AddressSpec {
                host: HostSpec::Any,
                port: None
            }
        );
        assert_eq!(
            ok("  10.0.0.1 ").host,
            HostSpec::Ip("10.0.0.1".parse().unwrap())
        );
        assert_eq!(ok("pi4.local:80").host, HostSpec::Name("pi4.local"));
        assert!(ok("localhost").needs_resolving());
        // only a name does: an IP, a pattern or a bare port is used as it is
        for as_is in ["10.0.0.1:80", "192.168.*", "8080", ""] {
            assert!(!ok(as_is).needs_resolving(), "{as_is:?}");
        }
        assert_eq!(ok("192.168.*").host, HostSpec::Pattern("192.168.*"));
        assert_eq!(ok(":99").port, Some(99));
        assert_eq!(ok("0").port, Some(0));
        assert_eq!(ok("65535").port, Some(65535));
    }

    #[test]
    fn ipv6() {
        assert_eq!(
            ok("[::1]:8080").socket_addr(),
            Some("[::1]:8080".parse().unwrap())
        );
        assert_eq!(ok("[fe80::1]").port, None);
        assert_eq!(ok("::1").host, HostSpec::Ip("::1".parse().unwrap()));
        assert_eq!(reason("[::1"), Reason::BadBrackets);
        assert_eq!(reason("[::1]8080"), Reason::BadBrackets);
        assert_eq!(reason("[nope]:1"), Reason::BadIpv6);
    }

    #[test]
    fn errors_name_the_value_and_the_fix() {
        assert_eq!(reason("abc:99999"), Reason::PortOutOfRange);
        assert_eq!(reason("abc:x1"), Reason::PortNotNumber);
        assert_eq!(reason("abc:"), Reason::PortNotNumber);
        assert_eq!(reason("99999"), Reason::PortOutOfRange);
        assert_eq!(reason("300.1.1.1:80"), Reason::BadIpv4);
        assert_eq!(reason("1.2.3:80"), Reason::BadIpv4);
        assert_eq!(reason("192.*.x"), Reason::BadIpv4);
        assert_eq!(reason("host!name"), Reason::BadHostName);
        assert_eq!(reason("1.2.3.4:80, 1.2.3.5:80"), Reason::SeveralAddresses);
        let e = AddressSpec::parse("abc:99999").unwrap_err();
        let mut buf = heapless::String::<128>::new();
        core::fmt::write(&mut buf, format_args!("{e}")).unwrap();
        assert_eq!(
            buf,
            "'abc:99999' is not a valid address: port must be 0–65535"
        );
    }

    #[test]
    fn patterns() {
        let ip = Ipv4Addr::new(192, 168, 1, 5);
        assert!(matches_pattern(ip, "192.168.*"));
        assert!(matches_pattern(ip, "*.*.1.5"));
        assert!(matches_pattern(ip, "192.168.1.5"));
        assert!(!matches_pattern(ip, "10.*"));
        assert!(!matches_pattern(ip, "192.168"));
        assert!(!is_ipv4_pattern("1.2.3.4.5"));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = AddressSpec::parse(&s);
        }

        #[test]
        fn socket_addrs_round_trip(ip in proptest::prelude::any::<[u8; 4]>(), port: u16) {
            let addr = SocketAddr::from((ip, port));
            let mut buf = heapless::String::<32>::new();
            core::fmt::write(&mut buf, format_args!("{addr}")).unwrap();
            proptest::prop_assert_eq!(AddressSpec::parse(&buf).unwrap().socket_addr(), Some(addr));
        }
    }
}
