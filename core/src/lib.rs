//! The sans-IO heart of networkzero.
//!
//! Everything here is a pure state machine: bytes and time go in, bytes,
//! events and deadlines come out. There are no sockets, no clock, no heap and
//! no `std`, so the same code runs in the `networkzero` crate on a laptop and
//! in firmware on a Raspberry Pi Pico W.
//!
//! - [`address`]: `"ip:port"` text as Python networkzero writes it.
//! - [`advert`]: the beacon datagram Python networkzero 1.0b1 broadcasts.
//! - [`ext`]: our discovery extensions (instant queries, goodbyes) on their own port.
//! - [`table`]: the fixed-capacity table of heard adverts.
//! - [`beacon`]: the discovery state machine tying those together.
//! - [`payload`]: the message payload codec (JSON, or postcard between Rust peers).
//! - [`zmtp`]: a ZMTP 3.x engine (greeting, NULL and CURVE handshakes, frames, socket roles).
//! - `kdf` (feature `class-key`): the one derivation of every class secret from the passphrase.
//! - [`socket`]: multi-peer REQ, REP, PUB and SUB sockets over that engine.
//! - [`node`]: a whole networkzero node over abstract sockets (services, clients, events).
// Unit tests use std's test harness; every other build is no_std and links
// `alloc` only with the `alloc` feature (the thumbv6m-none-eabi build in
// .ci/run proves the default does not).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// Growable buffers and peer tables for the std crate; firmware leaves it off.
// One line, so .ci/run can tell it from an ungated one.
#[rustfmt::skip] #[cfg(feature = "alloc")] extern crate alloc;

pub mod address;
pub mod advert;
pub mod auth;
pub mod beacon;
pub mod ext;
mod json;
#[cfg(feature = "class-key")]
pub mod kdf;
pub mod node;
pub mod payload;
pub mod socket;
pub mod table;
pub mod time;
pub mod zmtp;

pub use time::{Duration, Instant};
