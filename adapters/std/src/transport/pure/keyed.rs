//! A socket's class key on the wire: each connection of a keyed socket is
//! CURVE with the class's keys (listening: the class server, dialling: the
//! class client) and a fresh seed from the OS's RNG; an unkeyed socket's
//! are NULL. A connection refused over the key — either side's — is told
//! to the user once per peer ([`crate::transport::refusal`]).

use std::collections::HashSet;
use std::fmt::Display;
use std::io;
use std::net::IpAddr;

use log::warn;
use networkzero_core::socket::Secure;
use networkzero_core::zmtp::curve::ClassKeys;
use networkzero_core::zmtp::Security;

use super::io::Kind;
use crate::transport::refusal::{explain, Refusal};

/// Peers a socket remembers having warned about: a classroom's machines
/// many times over, and a bound on what a scan of addresses can make it keep.
const MAX_WARNED: usize = 1024;

/// A socket's key and the peers already warned about.
pub(super) struct Keyed {
    class: Option<&'static ClassKeys>,
    warned: HashSet<IpAddr>,
}

impl Keyed {
    pub(super) fn new(class: Option<&'static ClassKeys>) -> Keyed {
        Keyed {
            class,
            warned: HashSet::new(),
        }
    }

    pub(super) fn is_keyed(&self) -> bool {
        self.class.is_some()
    }

    /// The security of a new connection (`None`: NULL). The seed comes from
    /// the OS for each connection: CURVE's transient keys and nonces must
    /// never repeat, and the OS's RNG is the one source that needs no
    /// seeding or state of ours.
    pub(super) fn secure(&self, listening: bool) -> io::Result<Option<Secure>> {
        let Some(class) = self.class else {
            return Ok(None);
        };
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| io::Error::other(e.to_string()))?;
        let security = if listening {
            Security::CurveServer(&class.server)
        } else {
            Security::CurveClient(&class.client)
        };
        Ok(Some(Secure { security, seed }))
    }

    /// A connection with `peer` (at `ip`) was refused for `why`: warns
    /// once per peer if the key is the likely cause.
    pub(super) fn refused(&mut self, kind: Kind, ip: IpAddr, peer: impl Display, why: Refusal) {
        let Some(text) = explain(kind.transport_role(), self.is_keyed(), peer, why) else {
            return;
        };
        // Bounded: past MAX_WARNED peers, new ones go untold.
        if self.warned.len() < MAX_WARNED && self.warned.insert(ip) {
            warn!("{text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use networkzero_core::zmtp::ZmtpError;
    use std::net::Ipv4Addr;
    use std::sync::OnceLock;

    fn class() -> &'static ClassKeys {
        static KEYS: OnceLock<ClassKeys> = OnceLock::new();
        KEYS.get_or_init(|| ClassKeys::from_passphrase("keyed unit test"))
    }

    /// Unkeyed, a connection is NULL; keyed, a listener's are the class
    /// server's CURVE and a dialler's the class client's, each with a seed
    /// of its own (CURVE's transient keys must never repeat).
    #[test]
    fn a_keyed_socket_makes_curve_connections_each_with_a_fresh_seed() {
        let plain = Keyed::new(None);
        assert!(!plain.is_keyed());
        assert!(matches!(plain.secure(true), Ok(None)));
        let keyed = Keyed::new(Some(class()));
        assert!(keyed.is_keyed());
        let server = keyed.secure(true).expect("a seed").expect("CURVE");
        assert!(matches!(server.security, Security::CurveServer(_)));
        let client = keyed.secure(false).expect("a seed").expect("CURVE");
        assert!(matches!(client.security, Security::CurveClient(_)));
        assert_ne!(server.seed, client.seed, "each connection its own seed");
    }

    /// A refusal the key explains is told once per peer, and the peers
    /// remembered for that are at most [`MAX_WARNED`]; one it does not
    /// explain is not remembered.
    #[test]
    fn a_refused_peer_is_told_once_and_at_most_max_warned_are_remembered() {
        let mut keyed = Keyed::new(None);
        let mismatch = Refusal::Failed(ZmtpError::MechanismMismatch);
        let peer = IpAddr::from(Ipv4Addr::new(10, 200, 0, 1));
        keyed.refused(Kind::Rep, peer, peer, mismatch);
        keyed.refused(Kind::Rep, peer, peer, mismatch);
        assert_eq!(keyed.warned.len(), 1, "remembered once");
        // An unkeyed dialler ended by its peer: not the key's doing.
        let other = IpAddr::from(Ipv4Addr::new(10, 200, 0, 2));
        keyed.refused(Kind::Req, other, other, Refusal::Closed);
        assert!(!keyed.warned.contains(&other), "not explained, not told");
        for n in 0..(MAX_WARNED as u32 + 10) {
            let ip = IpAddr::from(Ipv4Addr::from(0x0a01_0000 + n));
            keyed.refused(Kind::Rep, ip, ip, mismatch);
        }
        assert_eq!(keyed.warned.len(), MAX_WARNED, "bounded");
    }
}
