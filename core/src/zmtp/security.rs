//! Which security mechanism a connection speaks: a field of
//! [`Config`](super::Config).

#[cfg(feature = "curve")]
use super::curve::{CurveClient, CurveServer};
use super::greeting::Mechanism;

/// The security mechanism of a connection. Both peers must name the same
/// one in their greetings, or the connection closes with
/// [`ZmtpError::MechanismMismatch`](super::ZmtpError::MechanismMismatch).
///
/// CURVE keys are borrowed for `'static`, like [`Config`](super::Config)'s
/// identity: every connection holds its config, and a copy of the keys in
/// each would cost a small board more than it has. A program derives them
/// once (e.g. `curve::ClassKeys::from_passphrase`, feature `curve`)
/// into a `static` (firmware: a `StaticCell`) or leaks one `Box` (std).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Security {
    /// `NULL`: no authentication, no encryption (what Python networkzero speaks).
    #[default]
    Null,
    /// `CURVE`, as the client: sends HELLO, authenticates the server by its key.
    #[cfg(feature = "curve")]
    CurveClient(&'static CurveClient),
    /// `CURVE`, as the server: answers HELLO, may authenticate the client's key.
    #[cfg(feature = "curve")]
    CurveServer(&'static CurveServer),
}

impl Security {
    /// The mechanism named in our greeting.
    pub const fn mechanism(&self) -> Mechanism {
        match self {
            Security::Null => Mechanism::Null,
            #[cfg(feature = "curve")]
            Security::CurveClient(_) | Security::CurveServer(_) => Mechanism::Curve,
        }
    }

    /// Our greeting's as-server flag. NULL has no client and server roles:
    /// its flag MUST be zero (23/ZMTP and 37/ZMTP, "When a peer uses the
    /// NULL security mechanism, the as-server field MUST be zero"), whichever
    /// side dialled, as libzmq sends it. CURVE's server sets it (23/ZMTP: 1
    /// for server peers), whichever side dialled.
    pub const fn as_server(&self) -> bool {
        match self {
            Security::Null => false,
            #[cfg(feature = "curve")]
            Security::CurveClient(_) => false,
            #[cfg(feature = "curve")]
            Security::CurveServer(_) => true,
        }
    }
}
