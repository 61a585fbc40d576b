//! CURVE keys and who holds which: a client knows the server's public key,
//! a server may know the one client key it accepts.

use core::fmt;

use x25519_dalek::{x25519, X25519_BASEPOINT_BYTES};
use zeroize::Zeroize;

use crate::kdf;

/// Bytes of a Curve25519 key, public or secret.
pub const KEY_LEN: usize = 32;

/// A Curve25519 public key (32 bytes, as libzmq's `ZMQ_CURVE_*KEY` options take
/// them in binary).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; KEY_LEN]);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Enough to tell keys apart in a log.
        let b = &self.0;
        write!(
            f,
            "PublicKey({:02x}{:02x}{:02x}{:02x}…)",
            b[0], b[1], b[2], b[3]
        )
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for PublicKey {
    fn format(&self, f: defmt::Formatter<'_>) {
        let b = &self.0;
        defmt::write!(
            f,
            "PublicKey({=u8:02x}{=u8:02x}{=u8:02x}{=u8:02x}…)",
            b[0],
            b[1],
            b[2],
            b[3]
        )
    }
}

/// A long-term key pair. The secret never leaves it: `Debug` hides it and it
/// is wiped when dropped.
#[derive(Clone)]
pub struct KeyPair {
    public: PublicKey,
    secret: [u8; KEY_LEN],
}

impl KeyPair {
    /// The pair whose secret key is `secret` (any 32 bytes; X25519 clamps them).
    pub fn from_secret(secret: [u8; KEY_LEN]) -> KeyPair {
        KeyPair {
            public: public_of(&secret),
            secret,
        }
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    pub(super) fn secret(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }

    /// A pair whose public half does not match its secret: a client that
    /// claims a key it cannot prove.
    #[cfg(test)]
    pub(crate) fn forged(public: PublicKey, secret: [u8; KEY_LEN]) -> KeyPair {
        KeyPair { public, secret }
    }
}

impl Drop for KeyPair {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl PartialEq for KeyPair {
    fn eq(&self, other: &KeyPair) -> bool {
        // Equal public keys mean equal (clamped) secrets.
        self.public == other.public
    }
}
impl Eq for KeyPair {}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({:?}, secret hidden)", self.public)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for KeyPair {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "KeyPair({}, secret hidden)", self.public)
    }
}

/// The X25519 public key of `secret` (RFC 7748: clamp, multiply the base
/// point u = 9). The Montgomery ladder, like every other X25519 here, rather
/// than dalek's faster Edwards-form base multiplication: that would add
/// about 2 KiB of Edwards arithmetic to firmware for a few milliseconds per
/// connection.
pub(super) fn public_of(secret: &[u8; KEY_LEN]) -> PublicKey {
    PublicKey(x25519(*secret, X25519_BASEPOINT_BYTES))
}

/// What a CURVE client needs (libzmq's `ZMQ_CURVE_SERVERKEY`,
/// `ZMQ_CURVE_PUBLICKEY`, `ZMQ_CURVE_SECRETKEY`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CurveClient {
    /// The long-term public key of the server this client will talk to. A
    /// server without the matching secret cannot complete the handshake.
    pub server: PublicKey,
    /// The client's own long-term key pair, sent to the server (encrypted) in
    /// INITIATE.
    pub keys: KeyPair,
}

/// What a CURVE server needs (libzmq's `ZMQ_CURVE_SERVER` +
/// `ZMQ_CURVE_SECRETKEY`, and the one client key a ZAP handler would allow).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CurveServer {
    /// The server's long-term key pair.
    pub keys: KeyPair,
    /// The only client key accepted; `None` accepts any client that knows
    /// the server's public key (ZeroMQ's "Stonehouse" pattern).
    pub client: Option<PublicKey>,
}

/// A class's CURVE keys, derived from its passphrase (see [`crate::kdf`]):
/// one server key pair and one client key pair that every member knows.
///
/// A program with the passphrase can therefore act as either side: as a
/// client it knows the server's public key, as a server it holds the server
/// secret and accepts exactly the class's client key. A program without it
/// cannot write a HELLO a class server answers, open a class server's
/// WELCOME, or vouch with the class client key, so it completes no
/// handshake with a class member in either role. With a
/// shared server secret, "the server is authenticated" means "the server is
/// a member of the class", not "it is that particular robot".
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClassKeys {
    /// Use this to connect to a class member.
    pub client: CurveClient,
    /// Use this to accept class members.
    pub server: CurveServer,
}

impl ClassKeys {
    /// The class keys for `passphrase`: secrets labelled
    /// [`LABEL_CURVE_SERVER`](kdf::LABEL_CURVE_SERVER) and
    /// [`LABEL_CURVE_CLIENT`](kdf::LABEL_CURVE_CLIENT). Costs two X25519
    /// base-point multiplications.
    pub fn from_passphrase(passphrase: &str) -> ClassKeys {
        let mut s = kdf::derive(passphrase, kdf::LABEL_CURVE_SERVER);
        let mut c = kdf::derive(passphrase, kdf::LABEL_CURVE_CLIENT);
        let server = KeyPair::from_secret(s);
        let client = KeyPair::from_secret(c);
        s.zeroize();
        c.zeroize();
        ClassKeys {
            client: CurveClient {
                server: server.public(),
                keys: client.clone(),
            },
            server: CurveServer {
                keys: server,
                client: Some(client.public()),
            },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// RFC 7748 section 6.1: Alice's key pair.
    #[test]
    fn rfc7748_public_key() {
        let secret = hex32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let public = hex32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        assert_eq!(KeyPair::from_secret(secret).public(), PublicKey(public));
    }

    #[test]
    fn class_keys_are_deterministic_and_distinct() {
        let a = ClassKeys::from_passphrase("blue whale");
        assert_eq!(a, ClassKeys::from_passphrase("blue whale"));
        assert_ne!(a, ClassKeys::from_passphrase("red fox"));
        assert_eq!(a.client.server, a.server.keys.public());
        assert_eq!(a.server.client, Some(a.client.keys.public()));
        assert_ne!(a.client.keys.public(), a.server.keys.public());
        assert_ne!(a.client.keys, a.server.keys);
        let dbg = std::format!("{a:?}");
        assert!(dbg.contains("secret hidden"), "{dbg}");
        // A log tells the two public keys apart.
        assert_ne!(
            std::format!("{:?}", a.client.keys.public()),
            std::format!("{:?}", a.server.keys.public())
        );
    }

    pub(crate) fn hex32(s: &str) -> [u8; 32] {
        core::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
    }
}
