//! What a user is told when a connection is refused over the class key:
//! the refused side otherwise sees only silence (its call's usual soft
//! failure), and the refusing side would drop the peer without a word.
//! Each transport finds the refusals its own way; the words are these.

use std::fmt::Display;

use networkzero_core::zmtp::ZmtpError;

use super::Role;

/// Why a connection did not get past its handshake, as far as it concerns
/// the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The engine failed it with this error.
    Failed(ZmtpError),
    /// The peer closed it during the handshake: a CURVE server drops a
    /// HELLO made for another class's key without a word, and libzmq with
    /// NULL closes on seeing a CURVE greeting, at times before it has sent
    /// a byte of its own.
    Closed,
}

/// The warning for a refusal, if the key explains it.
pub(crate) fn explain(role: Role, keyed: bool, peer: impl Display, why: Refusal) -> Option<String> {
    use Refusal::{Closed, Failed};
    use ZmtpError::{ClientKeyRefused, KeyMismatch, MechanismMismatch};
    let to = match role {
        Role::Reply => "send messages",
        Role::Publish => "read news",
        Role::Request | Role::Subscribe => "",
    };
    let set_it = "set NW0_CLASS_KEY (or call set_class_key) to the class passphrase";
    Some(match (role.binds(), keyed, why) {
        // libzmq (pyzmq, Python networkzero) with NULL closes on seeing our
        // CURVE greeting before it sends its own mechanism.
        (true, true, Failed(MechanismMismatch) | Closed) => format!(
            "{peer} tried to {to} without the class key: refused (a program without the \
             key, or Python networkzero, which cannot use one)"
        ),
        (true, true, Failed(KeyMismatch | ClientKeyRefused)) => {
            format!("{peer} tried to {to} with another class's key: refused")
        }
        (true, false, Failed(MechanismMismatch)) => format!(
            "{peer} tried to {to} with a class key, and this program has none: refused; \
             {set_it} here too"
        ),
        (false, true, Failed(MechanismMismatch)) => format!(
            "{peer} has no class key, and this program talks only to programs with the \
             same key: nothing is sent there"
        ),
        (false, true, Failed(KeyMismatch)) => format!(
            "{peer} refused this program's class key: it has another class's key (check \
             the passphrase)"
        ),
        // A class server drops another class's HELLO without a word; libzmq
        // with NULL may close before its greeting says so.
        (false, true, Closed) => format!(
            "{peer} refused this program's class key: it has another class's key, or \
             none (check the passphrase there)"
        ),
        (false, false, Failed(MechanismMismatch)) => {
            format!("{peer} wants a class key, and this program has none: {set_it}")
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_names_the_likely_cause() {
        let mm = Refusal::Failed(ZmtpError::MechanismMismatch);
        let said = |kind, keyed, why| explain(kind, keyed, "10.200.0.2", why).unwrap();
        assert!(said(Role::Reply, true, mm)
            .starts_with("10.200.0.2 tried to send messages without the class key"));
        assert!(said(Role::Publish, true, mm).contains("tried to read news without the class key"));
        assert!(
            said(Role::Reply, true, Refusal::Failed(ZmtpError::KeyMismatch))
                .contains("another class's key")
        );
        assert!(said(Role::Request, false, mm).contains("wants a class key"));
        assert!(said(Role::Subscribe, true, Refusal::Closed).contains("another class's key"));
        assert!(said(Role::Request, true, mm).contains("has no class key"));
        // Not the key's doing: nothing to say.
        assert_eq!(
            explain(
                Role::Reply,
                true,
                "x",
                Refusal::Failed(ZmtpError::HandshakeTimeout)
            ),
            None
        );
        assert_eq!(explain(Role::Request, false, "x", Refusal::Closed), None);
        assert!(said(Role::Reply, true, Refusal::Closed).contains("without the class key"));
    }
}
