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
//!
//! # Threat model (a class passphrase, [`ClassKeys`])
//! Every program of a class derives the same server and client key pairs
//! from the passphrase ([`crate::kdf`]).
//!
//! It stops outsiders on the LAN — anyone without the passphrase, who can
//! still learn every address (`nw0 ls` prints them) and capture traffic:
//! - **sending and commanding**: a server accepts only a client that proves
//!   the class client key (the vouch); a HELLO made without the class server
//!   key is not even answered. An unkeyed program, a plain ZeroMQ peer and
//!   another class's program all fail the handshake;
//! - **reading news or replies**: every frame after the handshake is
//!   encrypted; the keys are per connection, so recorded traffic stays
//!   unreadable even if the passphrase leaks later (forward secrecy);
//! - **spoofing a server**: a client completes the handshake only with a
//!   holder of the class server secret;
//! - **tampering and replay**: every box is authenticated, nonces only
//!   increase, a cookie is good for one connection and 60 s.
//!
//! It does not stop:
//! - **a class member misbehaving**: everyone with the passphrase holds the
//!   same keys, so any member can drive any robot of the class and pose as
//!   any of its servers. With a shared server secret "the server is
//!   authenticated" means "the server is a member of the class", not "it is
//!   that particular robot" — names and adverts are what tell members apart;
//! - **traffic analysis**: who talks to whom, when and how much stays
//!   visible (message sizes are not padded);
//! - **a guessable passphrase**: a captured HELLO or sealed advert lets an
//!   outsider test guesses offline; the passphrase must be generated (several
//!   random words), see [`crate::kdf`];
//! - **denial of service**: anyone can still connect and be refused, or
//!   flood the network.
//!
//! Why a shared passphrase is the right trade for a classroom: a teacher
//! can write one line on the board, every program of every team, laptop or
//! robot, derives the same keys with nothing to install or exchange, and a
//! new student joins by typing it. Per-device keys would stop a member
//! posing as another's robot, at the price of a key ceremony per device and
//! per lesson; what a classroom needs to stop is the team at the next table
//! (another class, another passphrase) and the curious outsider, and
//! rotating the passphrase between lessons shuts out last week's members.
//!
//! # Limits
//! - A REP that owes a reply reads no further input (explicit back-pressure,
//!   see [`Connection`](super::Connection)); under CURVE it cannot tell a
//!   sealed PING from a sealed request without opening it, so heartbeats
//!   wait for the reply too.
//! - Python networkzero 1.0b1 cannot use a key: it speaks NULL only.

mod crypto;
pub mod keys;
pub(crate) mod mechanism;
pub mod wire;

pub(crate) use crypto::expand;
pub use keys::{ClassKeys, CurveClient, CurveServer, KeyPair, PublicKey, KEY_LEN};
pub use mechanism::COOKIE_LIFETIME;
pub use wire::MESSAGE_OVERHEAD;
