//! The CURVE security mechanism (26/CURVEZMQ over 37/ZMTP), feature `curve`.
//!
//! X25519 key agreement and XSalsa20-Poly1305 boxes on every connection:
//! the client proves it knows the server's public key (and, in the vouch,
//! that it holds its own secret key); the server proves it holds the secret
//! of the public key the client expected; every frame after the handshake
//! travels encrypted and authenticated in a MESSAGE box.
//!
//! - [`keys`]: key pairs, what a client and a server are configured with, and
//!   [`ClassKeys`] derived from a class passphrase.
//! - [`wire`]: the command layouts and their validating parser.
//! - `crypto` (private): NaCl's box and secretbox, in place.
//! - `mechanism` (private): one connection's handshake and message boxes,
//!   driven by [`Connection`](super::Connection) when its
//!   [`Config::security`](super::Config::security) is CURVE.
//!
//! Interoperates with libzmq's CURVE (pyzmq's wheels have it): see
//! `tests/tests/zmtp_curve.rs`.

mod crypto;
pub mod keys;
pub(crate) mod mechanism;
pub mod wire;

pub use keys::{ClassKeys, CurveClient, CurveServer, KeyPair, PublicKey, KEY_LEN};
pub use mechanism::COOKIE_LIFETIME;
pub use wire::MESSAGE_OVERHEAD;
