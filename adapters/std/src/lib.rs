//! Networking simple enough for a classroom.
//!
//! One program advertises a name; another discovers it and talks to it — on
//! one computer or many, with no IP addresses to type. Wire-compatible with
//! Python [networkzero](https://networkzero.readthedocs.io) 1.0b1, so Rust and
//! Python programs in the same room talk to each other.
//!
//! ```no_run
//! use networkzero as nw0;
//!
//! fn main() -> Result<(), nw0::Error> {
//!     // Computer (or terminal) A
//!     let address = nw0::advertise("hello")?;
//!     let name = nw0::wait_for_message(&address, nw0::FOREVER)?;
//!     nw0::send_reply(&address, format!("Hello, {}", name.unwrap_or_default()))?;
//!
//!     // Computer (or terminal) B
//!     let hello = nw0::discover("hello", 10)?.expect("is hello running?");
//!     let reply = nw0::send_message(&hello, "World", 10)?;
//!     println!("{reply:?}");
//!     Ok(())
//! }
//! ```
//!
//! # Soft and hard errors
//! Things that can simply happen on a network — nothing discovered, no
//! reply in time — return `None` and print a warning. Mistakes no retry can
//! fix — an invalid address, a port already in use, a message that is not
//! JSON — are an [`Error`] whose message says what to do.
//!
//! # What runs behind the scenes
//! The first discovery call starts a beacon on a background thread (UDP 9999
//! for adverts, as Python networkzero; UDP 9997 for instant queries and
//! goodbyes); the first message call starts the transport. Messages travel
//! over ZeroMQ's wire protocol (ZMTP). Sockets are cached per address, so
//! calling the same function in a loop is cheap.
//!
//! Nothing waits by a guessed time. The first `publish_news` on an address
//! waits until programs already waiting for its news have subscribed (at
//! most 0.3 s when none come). When the program ends, a hook says goodbye
//! for its names and flushes what it sent just before (at most 1 s, ending
//! as soon as everything is written): an ack sent as the last thing in
//! `main` arrives.
//!
//! # Layers
//! Each module imports only the ones below it:
//! - `api`: the functions above, each a thin call into a layer;
//! - `runtime`: the one process-wide object; owns the discovery thread, the
//!   transport with its socket cache, and the Python beacon RPC server;
//!   starts each on first use and again after a failure; runs the exit hook;
//! - `discovery` (the core's beacon over mio) and `messaging` (the message
//!   calls and the socket cache), side by side; `python_beacon` uses both
//!   discovery and the transport, for Python's beacon RPC;
//! - `transport`: `libzmq` or `pure`, the same steps over either;
//! - `error`, `address`, `wait`, `interfaces`, `logging`: no state.
//!
//! # Two transports
//! - `libzmq` (the default feature): messages go through libzmq, which the
//!   `zmq` crate builds from C++ source — a C++ compiler is needed.
//! - `pure-rust`: the ZMTP engine of `networkzero-core` over mio TCP sockets
//!   and one background I/O thread; no C or C++ compiler, so it builds for
//!   Windows, a Raspberry Pi or a Mac with `cargo` alone:
//!   `networkzero = { version = "…", default-features = false, features = ["pure-rust"] }`.
//!
//! Both speak the same wire protocol and behave the same (timeouts, socket
//! reset after a lost reply, high-water marks that drop the newest news for a
//! slow subscriber). If both features are on, `pure-rust` wins, so
//! `cargo test --workspace --features networkzero/pure-rust` runs everything on
//! the pure-Rust transport even where another crate enables `libzmq`.
#![deny(missing_docs)]

// Bottom: no networking state.
mod address;
pub mod diagnostics;
mod error;
mod interfaces;
mod logging;
mod ports;
mod wait;
#[cfg(windows)]
mod windows;
// How bytes travel: libzmq or the pure-Rust engine.
mod transport;
// Beside each other over the transport: the message calls, and discovery
// (which does not use the transport); the Python beacon RPC uses both.
mod discovery;
mod messaging;
mod python_beacon;
// Top: the one runtime that owns the threads, and the beginner's functions.
mod api;
mod runtime;

#[cfg(not(any(feature = "libzmq", feature = "pure-rust")))]
compile_error!(
    "networkzero needs a transport: enable the `libzmq` feature (the default) or `pure-rust`"
);

pub use address::{address, Address, ToAddress};
pub use api::{
    advertise, advertise_at, discover, discover_all, discover_group, discover_group_with,
    publish_news, send_command, send_command_within, send_message, send_reply, set_class_key,
    unadvertise, wait_for_command, wait_for_message, wait_for_news,
};
pub use error::{Error, Result};
pub use messaging::COMMAND_ACK;
/// JSON values, for messages of any shape.
pub use serde_json::{json, Value};
pub use wait::{Wait, FOREVER};

/// The news prefix that matches every topic.
pub const EVERYTHING: &str = "";
