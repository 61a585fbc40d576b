//! NaCl's boxes from their parts, in place and without allocation.
//!
//! `crypto_box` is X25519, then HSalsa20 of the shared point (libsodium's
//! `crypto_box_beforenm`), then `crypto_secretbox` (XSalsa20-Poly1305) with
//! that key. A box on the wire is the 16-byte tag followed by the ciphertext.

use crypto_secretbox::aead::generic_array::GenericArray;
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Nonce, Tag, XSalsa20Poly1305};
use salsa20::cipher::consts::U10;
use salsa20::cipher::{KeyIvInit, StreamCipher};
use salsa20::{hsalsa, Salsa20};
use x25519_dalek::{PublicKey as DalekPublic, StaticSecret};
use zeroize::Zeroizing;

use super::keys::PublicKey;
use super::wire::TAG_LEN;

/// A box key shared by two parties (or a secretbox key).
pub(super) type BoxKey = XSalsa20Poly1305;

/// The box key between `secret` and `public` (`crypto_box_beforenm`), or
/// `None` when `public` is a low-order point: the shared secret would be all
/// zeros, known to anyone, so such a key is refused rather than used.
pub(super) fn shared(secret: &[u8; 32], public: &PublicKey) -> Option<BoxKey> {
    // Both the secret and the shared point wipe themselves when dropped.
    let point = StaticSecret::from(*secret).diffie_hellman(&DalekPublic::from(public.0));
    if !point.was_contributory() {
        return None;
    }
    let key = Zeroizing::new(hsalsa::<U10>(
        GenericArray::from_slice(point.as_bytes()),
        &GenericArray::default(),
    ));
    Some(XSalsa20Poly1305::new(&key))
}

/// A secretbox key from its 32 bytes (the cookie key).
pub(super) fn secret_key(key: &[u8; 32]) -> BoxKey {
    XSalsa20Poly1305::new(GenericArray::from_slice(key))
}

/// A 24-byte nonce: a 16-byte prefix and a big-endian short nonce.
pub(super) fn short_nonce(prefix: &[u8; 16], n: u64) -> Nonce {
    let mut x = Nonce::default();
    x[..16].copy_from_slice(prefix);
    x[16..].copy_from_slice(&n.to_be_bytes());
    x
}

/// A 24-byte nonce: an 8-byte prefix and a 16-byte long nonce.
pub(super) fn long_nonce(prefix: &[u8; 8], n: &[u8]) -> Nonce {
    let mut x = Nonce::default();
    x[..8].copy_from_slice(prefix);
    if let Some(d) = x.get_mut(8..8 + n.len().min(16)) {
        d.copy_from_slice(n.get(..d.len()).unwrap_or(&[]));
    }
    x
}

/// Seals `boxed[TAG_LEN..]` in place and writes the tag to `boxed[..TAG_LEN]`.
/// False only if `boxed` is shorter than a tag.
pub(super) fn seal(key: &BoxKey, nonce: &Nonce, boxed: &mut [u8]) -> bool {
    if boxed.len() < TAG_LEN {
        return false;
    }
    let (tag, text) = boxed.split_at_mut(TAG_LEN);
    match key.encrypt_in_place_detached(nonce, b"", text) {
        Ok(t) => {
            tag.copy_from_slice(&t);
            true
        }
        Err(_) => false,
    }
}

/// Opens `boxed` (tag, then ciphertext) in place: on success the plaintext
/// is `boxed[TAG_LEN..]`. False if it is short, forged or altered (then the
/// buffer holds no plaintext: the ciphertext is decrypted only after the tag
/// checks).
pub(super) fn open(key: &BoxKey, nonce: &Nonce, boxed: &mut [u8]) -> bool {
    if boxed.len() < TAG_LEN {
        return false;
    }
    let (tag, text) = boxed.split_at_mut(TAG_LEN);
    let mut t = Tag::default();
    t.copy_from_slice(tag);
    key.decrypt_in_place_detached(nonce, b"", text, &t).is_ok()
}

/// Fills `out` with the Salsa20 keystream of `seed`: the caller's 32 random
/// bytes become as many per-connection keys and nonces as a handshake needs.
pub(crate) fn expand(seed: &[u8; 32], out: &mut [u8]) {
    out.fill(0);
    let mut s = Salsa20::new(GenericArray::from_slice(seed), b"nw0curve".into());
    s.apply_keystream(out);
}

#[cfg(test)]
mod tests {
    use super::super::keys::tests::hex32;
    use super::super::keys::KeyPair;
    use super::*;

    /// NaCl's crypto_box test vector keys and nonce (Bernstein, "Cryptography
    /// in NaCl", section 10: Alice to Bob) over the first 32 bytes of its
    /// message; the expected box was computed with libsodium 1.0.18's
    /// `crypto_box_easy` (its ciphertext starts `8e993b9f`, as in the paper).
    /// Proves X25519 + HSalsa20 + XSalsa20-Poly1305 here is crypto_box.
    #[test]
    fn nacl_box_vector() {
        let alice_sk = hex32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let bob_sk = hex32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        let bob_pk = KeyPair::from_secret(bob_sk).public();
        assert_eq!(
            bob_pk.0,
            hex32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        );
        let nonce = *Nonce::from_slice(&unhex("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37"));
        let m = hex32("be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffc");
        let mut boxed = [0u8; 48];
        boxed[16..].copy_from_slice(&m);
        let key = shared(&alice_sk, &bob_pk).unwrap();
        assert!(seal(&key, &nonce, &mut boxed));
        assert_eq!(
            boxed[..],
            unhex(
                "864d070c8064de5d2047308841848197\
                 8e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186a"
            )
        );
        // Bob opens it with his secret and Alice's public key.
        let alice_pk = KeyPair::from_secret(alice_sk).public();
        let back = shared(&bob_sk, &alice_pk).unwrap();
        assert!(open(&back, &nonce, &mut boxed));
        assert_eq!(boxed[16..], m);
        // A flipped bit anywhere is refused.
        for i in 0..48 {
            assert!(seal(&key, &nonce, &mut boxed));
            boxed[i] ^= 1;
            assert!(!open(&back, &nonce, &mut boxed), "bit {i}");
            boxed[16..].copy_from_slice(&m);
        }
        assert!(!open(&back, &nonce, &mut [0u8; 15]));
    }

    /// A box may hold nothing but its tag (crypto_box of an empty message:
    /// it still proves who sealed it); anything shorter than a tag is no box,
    /// and both sides say so instead of touching it.
    #[test]
    fn a_box_of_only_a_tag_seals_and_opens_and_a_shorter_one_is_refused() {
        let key = secret_key(&[7; 32]);
        let nonce = short_nonce(b"CurveZMQMESSAGEC", 1);
        let mut boxed = [0u8; TAG_LEN];
        assert!(seal(&key, &nonce, &mut boxed));
        assert_ne!(boxed, [0u8; TAG_LEN], "the tag was written");
        assert!(open(&key, &nonce, &mut boxed));
        boxed[0] ^= 1;
        assert!(!open(&key, &nonce, &mut boxed));
        for n in 0..TAG_LEN {
            let mut short = [0u8; TAG_LEN];
            assert!(!seal(&key, &nonce, &mut short[..n]), "{n} bytes");
            assert_eq!(short, [0u8; TAG_LEN], "nothing written into {n} bytes");
            assert!(!open(&key, &nonce, &mut short[..n]), "{n} bytes");
        }
    }

    /// The cookie's secretbox, against libsodium 1.0.18's `crypto_secretbox_easy`.
    #[test]
    fn secretbox_vector() {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let n: [u8; 16] = core::array::from_fn(|i| i as u8);
        let mut boxed = [0u8; 80];
        assert!(seal(
            &secret_key(&key),
            &long_nonce(b"COOKIE--", &n),
            &mut boxed
        ));
        let want = unhex(
            "cbf7661463c8916912f860d4be3e0b8836f52390c92699b3690017edd97dd12a\
             6bfb2b1f1b76b6098fa44cddb722b74531e61fb072ec3388ee5c16a9d827327c\
             2fca28b6d2dc6baac33175864f1b97a3",
        );
        assert_eq!(boxed[..], want);
    }

    fn unhex(s: &str) -> std::vec::Vec<u8> {
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn low_order_public_keys_are_refused() {
        let sk = [9u8; 32];
        // The all-zero point and the order-8 point of RFC 7748's list.
        assert!(shared(&sk, &PublicKey([0; 32])).is_none());
        let mut order8 = [0u8; 32];
        order8[..8].copy_from_slice(&[0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae]);
        order8[8..16].copy_from_slice(&[0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a]);
        order8[16..24].copy_from_slice(&[0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd]);
        order8[24..].copy_from_slice(&[0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00]);
        assert!(shared(&sk, &PublicKey(order8)).is_none());
        assert!(shared(&sk, &KeyPair::from_secret([3; 32]).public()).is_some());
    }

    #[test]
    fn expand_is_deterministic_per_seed() {
        let (mut a, mut b, mut c) = ([0u8; 96], [0u8; 96], [0u8; 96]);
        expand(&[1; 32], &mut a);
        expand(&[1; 32], &mut b);
        expand(&[2; 32], &mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, [0; 96]);
    }
}
