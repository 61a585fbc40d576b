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
//! # Typed messages, JSON or postcard
//! Every call that sends takes any value serde can serialize — text,
//! numbers, [`json!`], your own `#[derive(Serialize)]` types — and sends it
//! as JSON, which Python networkzero reads too. Every call that receives
//! has an `_as` variant that reads the message as your type instead of a
//! [`Value`]: [`wait_for_message_as`], [`wait_for_command_as`],
//! [`wait_for_news_as`], [`send_message_as`].
//!
//! ```no_run
//! use networkzero as nw0;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Hit { target: u8, points: u32 }
//!
//! # fn main() -> Result<(), nw0::Error> {
//! let address = nw0::advertise("detector")?;
//! nw0::publish_news(&address, "hit", Hit { target: 3, points: 30 })?; // {"target":3,"points":30}
//! // elsewhere
//! let detector = nw0::discover("detector", 10)?.expect("detector not found");
//! if let Some((_, hit)) = nw0::wait_for_news_as::<Hit>(&detector, "hit", 5)? {
//!     println!("target {}: {} points", hit.target, hit.points);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Between Rust programs — a laptop and a board running the core, or two
//! laptops — a value wrapped in [`Postcard`] goes as
//! [postcard](https://postcard.jamesmunns.com): a few bytes where JSON
//! takes dozens, decoded on a microcontroller without a JSON parser. The
//! first byte (0xFF, never the start of UTF-8 text) marks it, so every
//! receive call of this crate, and the core's `payload::decode` on
//! firmware, reads either format without being told; postcard has no field
//! names, so both sides use the same type, and only `_as` calls read it.
//!
//! Python networkzero cannot read postcard: its `json.loads` never runs,
//! because decoding the first byte as UTF-8 raises `UnicodeDecodeError`,
//! which stops a Python program. So postcard is never sent unless the
//! program asked for it, message by message, and:
//! - a reply is postcard only if its request was (a program that asked in
//!   JSON — Python, `nw0 send`, JSON-only firmware — always gets JSON);
//! - a command's `"ack"` is always JSON;
//! - a [`Value`] call given postcard says so and names the `_as` call that
//!   reads it (a REP answers it with `null`, as any message it cannot read);
//! - a request that gets no reply warns that postcard may be why.
//!
//! For requests and news the sender cannot tell: a Python peer and a Rust
//! one look the same on the wire (ZeroMQ's handshake could carry a marker,
//! but libzmq sets one only in its draft API, which neither pyzmq nor the
//! `zmq` crate builds). Wrap in `Postcard` only what goes to Rust programs;
//! a name whose news Python programs also read stays JSON.
//!
//! A message that is not the type a call asked for is a soft error, like a
//! message that is not JSON: the call warns (naming the type, showing the
//! message cut short; for news, the 1st, 10th, 100th… such item), drops it
//! (a REP answers it with `null`), and waits on.
//! It came from another program, so no retry here fixes it, and a robot
//! waiting for commands must not stop because a classmate sent the wrong
//! thing.
//!
//! # What runs behind the scenes
//! The first discovery call starts a beacon on a background thread (UDP 9999
//! for adverts, as Python networkzero; UDP 9997 for instant queries and
//! goodbyes); the first message call starts the transport. Messages travel
//! over ZeroMQ's wire protocol (ZMTP). Sockets are cached per address, so
//! calling the same function in a loop is cheap.
//!
//! Nothing waits by a guessed time. The first `publish_news` on an address
//! waits until programs already waiting for its news have subscribed (each
//! retries every 0.1-0.2 s, so 0.25 s; at most 0.3 s when none come). When
//! the program ends, a hook says goodbye
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
//! slow subscriber). With a class key ([`set_class_key`]) every connection is
//! CurveZMQ, on the pure-Rust engine in either build: the bundled libzmq has
//! no CURVE. If both features are on, `pure-rust` wins, so
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
    publish_news, send_command, send_command_within, send_message, send_message_as, send_reply,
    set_class_key, unadvertise, wait_for_command, wait_for_command_as, wait_for_message,
    wait_for_message_as, wait_for_news, wait_for_news_as,
};
pub use error::{Error, Result};
pub use messaging::{Postcard, ToMessage, COMMAND_ACK};
/// JSON values, for messages of any shape.
pub use serde_json::{json, Value};
pub use wait::{Wait, FOREVER};

/// The news prefix that matches every topic.
pub const EVERYTHING: &str = "";
