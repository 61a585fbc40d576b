//! One key derivation for everything the class passphrase unlocks.
//!
//! A class shares one passphrase (the teacher writes it on the board). Every
//! secret networkzero needs for that class is derived from it the same way,
//! so any two programs given the passphrase agree on all of them:
//!
//! ```text
//! secret(label) = HKDF-SHA256(salt = SALT, ikm = passphrase bytes (UTF-8), info = label), 32 bytes
//! ```
//!
//! | label                 | used for                                               |
//! |-----------------------|--------------------------------------------------------|
//! | [`LABEL_ADVERT`]      | the HMAC-SHA256 key that seals adverts ([`crate::auth`]) |
//! | [`LABEL_CURVE_SERVER`]| the X25519 secret key of the class's CURVE *server* pair |
//! | [`LABEL_CURVE_CLIENT`]| the X25519 secret key of the class's CURVE *client* pair |
//!
//! HKDF (RFC 5869) with a fixed salt and a distinct label per use keeps the
//! derived secrets independent: learning one (say, the advert key from a
//! memory dump of a board that only seals adverts) says nothing about the
//! others. The salt is fixed, not random, on purpose: every program must
//! arrive at the same keys from the passphrase alone, with nothing to
//! exchange first. Changing [`SALT`] or a label changes every key, so they
//! carry a version.
//!
//! # Why not a slow KDF (PBKDF2, Argon2)?
//! A slow KDF makes each *guess* of a passphrase cost more. Anyone who
//! records a class's traffic (a sealed advert, a CURVE HELLO) can test
//! guesses offline, so for a short passphrase that matters. But its price is
//! paid by every program at every start, on every board: PBKDF2 with 100 000
//! rounds is about 200 000 SHA-256 blocks, several seconds on a Pico's
//! Cortex-M0+ at boot, and Argon2 needs more RAM than the board has. And it
//! only multiplies the attacker's work by a constant: a passphrase of three
//! dictionary words stays within reach of a laptop either way, and one of
//! five random words (about 2^64 guesses) is out of reach either way.
//! So the derivation is cheap (4 SHA-256 blocks per label) and the strength
//! comes from the passphrase: the README asks for a generated passphrase of
//! several random words, not a name or a word from the room.

use hkdf::Hkdf;
use sha2::Sha256;

/// The fixed HKDF salt (versioned: changing it changes every class key).
pub const SALT: &[u8] = b"networkzero class passphrase v1";
/// Label of the advert sealing key.
pub const LABEL_ADVERT: &[u8] = b"advert seal";
/// Label of the CURVE server secret key.
pub const LABEL_CURVE_SERVER: &[u8] = b"curve server";
/// Label of the CURVE client secret key.
pub const LABEL_CURVE_CLIENT: &[u8] = b"curve client";

/// The 32-byte secret for `label` from `passphrase` (see the module docs).
pub fn derive(passphrase: &str, label: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF's limit of 255 * 32, so expand cannot fail;
    // were it to, the all-zero key would fail every handshake, never panic.
    let _ = Hkdf::<Sha256>::new(Some(SALT), passphrase.as_bytes()).expand(label, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5869 test case 1 (HKDF-SHA256), first 32 bytes: proves the
    /// construction is standard HKDF, so any language can re-derive keys.
    #[test]
    fn rfc5869_case_1() {
        let ikm = [0x0bu8; 22];
        let salt: [u8; 13] = core::array::from_fn(|i| i as u8);
        let info: [u8; 10] = core::array::from_fn(|i| 0xf0 + i as u8);
        let mut okm = [0u8; 42];
        Hkdf::<Sha256>::new(Some(&salt), &ikm)
            .expand(&info, &mut okm)
            .unwrap();
        assert_eq!(
            okm[..8],
            [0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a],
            "HKDF-SHA256 does not match RFC 5869"
        );
    }

    #[test]
    fn labels_and_passphrases_give_independent_keys() {
        let a = derive("blue whale", LABEL_ADVERT);
        assert_eq!(a, derive("blue whale", LABEL_ADVERT), "not deterministic");
        assert_ne!(a, derive("blue whale", LABEL_CURVE_SERVER));
        assert_ne!(
            derive("blue whale", LABEL_CURVE_SERVER),
            derive("blue whale", LABEL_CURVE_CLIENT)
        );
        assert_ne!(a, derive("blue whalf", LABEL_ADVERT));
        assert_ne!(a, derive("", LABEL_ADVERT));
    }

    /// A fixed vector, computed independently with Python's hmac/hashlib
    /// (HKDF by hand): pins the derivation so a change is noticed.
    #[test]
    fn pinned_vector() {
        let k = derive("blue whale", LABEL_CURVE_SERVER);
        assert_eq!(hex(&k), PINNED_SERVER);
    }

    const PINNED_SERVER: &str = "cf87482439c3849f4fd746d8994082daf89949b42eab8f9bc63ce89ca4575cd6";

    fn hex(b: &[u8]) -> std::string::String {
        b.iter().map(|x| std::format!("{x:02x}")).collect()
    }
}
