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
