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
//! The first call starts a discovery beacon on a background thread (UDP 9999
//! for adverts, as Python networkzero; UDP 9997 for instant queries and
//! goodbyes). Messages travel over ZeroMQ's wire protocol (ZMTP). Sockets are
//! cached per address, so calling the same function in a loop is cheap.
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

mod address;
pub mod diagnostics;
mod discovery;
mod error;
mod exit;
mod interfaces;
mod logging;
#[cfg(any(feature = "libzmq", feature = "pure-rust"))]
mod messages;
#[cfg(all(feature = "libzmq", not(feature = "pure-rust")))]
mod messenger;
mod python_beacon;
#[cfg(any(feature = "libzmq", feature = "pure-rust"))]
mod sockets;
#[cfg(feature = "pure-rust")]
mod transport;
mod wait;

// The transport in use: `pure-rust` wins when both features are on.
#[cfg(all(feature = "libzmq", not(feature = "pure-rust")))]
use messenger as transport_in_use;
#[cfg(feature = "pure-rust")]
use transport as transport_in_use;

#[cfg(not(any(feature = "libzmq", feature = "pure-rust")))]
compile_error!(
    "networkzero needs a transport: enable the `libzmq` feature (the default) or `pure-rust`"
);

pub use address::{address, Address, ToAddress};
pub use discovery::{
    advertise, advertise_at, discover, discover_all, discover_group, discover_group_with,
    set_class_key, unadvertise,
};
pub use error::{Error, Result};
/// JSON values, for messages of any shape.
pub use serde_json::{json, Value};
// Each function is re-exported on its own so its example sits here once,
// whichever transport is in use. The examples are compiled, not run: they
// talk to the network.

/// ```no_run
/// use networkzero as nw0;
/// let hello = nw0::discover("hello", 10)?.expect("is hello running?");
/// if let Some(reply) = nw0::send_message(&hello, "World", 5)? {
///     println!("{reply}"); // "Hello, World"
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
#[cfg(any(feature = "libzmq", feature = "pure-rust"))]
pub use sockets::send_message;

/// ```no_run
/// use networkzero as nw0;
/// let address = nw0::advertise("hello")?;
/// while let Some(name) = nw0::wait_for_message(&address, nw0::FOREVER)? {
///     nw0::send_reply(&address, format!("Hello, {}", name.as_str().unwrap_or("?")))?;
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
#[cfg(any(feature = "libzmq", feature = "pure-rust"))]
pub use sockets::wait_for_message;

/// ```no_run
/// use networkzero as nw0;
/// let address = nw0::advertise("echo")?;
/// if let Some(message) = nw0::wait_for_message(&address, 30)? {
///     nw0::send_reply(&address, message)?; // answer with the same value
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
#[cfg(any(feature = "libzmq", feature = "pure-rust"))]
pub use sockets::send_reply;

/// ```no_run
/// use networkzero as nw0;
/// let robot = nw0::discover("robot", 10)?.expect("robot not found");
/// if !nw0::send_command(&robot, "forward")? {
///     println!("the robot did not acknowledge");
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
#[cfg(any(feature = "libzmq", feature = "pure-rust"))]
pub use messages::send_command;

/// ```no_run
/// use networkzero as nw0;
/// let robot = nw0::discover("robot", 10)?.expect("robot not found");
/// let acked = nw0::send_command_within(&robot, "stop", 0.5)?; // a quick stop, or give up
/// # let _ = acked;
/// # Ok::<(), nw0::Error>(())
/// ```
#[cfg(any(feature = "libzmq", feature = "pure-rust"))]
pub use messages::send_command_within;

/// ```no_run
/// use networkzero as nw0;
/// let address = nw0::advertise("turntable")?;
/// while let Some(command) = nw0::wait_for_command(&address, nw0::FOREVER)? {
///     if command == "STOP" {
///         break; // already acknowledged
///     }
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
#[cfg(any(feature = "libzmq", feature = "pure-rust"))]
pub use messages::wait_for_command;

/// ```no_run
/// use networkzero as nw0;
/// let address = nw0::advertise("detector")?;
/// nw0::publish_news(&address, "hit", nw0::json!({"target": 3, "points": 30}))?;
/// # Ok::<(), nw0::Error>(())
/// ```
#[cfg(any(feature = "libzmq", feature = "pure-rust"))]
pub use sockets::publish_news;

/// ```no_run
/// use networkzero as nw0;
/// let detector = nw0::discover("detector", 10)?.expect("detector not found");
/// if let Some((topic, data)) = nw0::wait_for_news(&detector, "hit", 5)? {
///     println!("{topic}: target {}", data["target"]);
/// }
/// # Ok::<(), nw0::Error>(())
/// ```
#[cfg(any(feature = "libzmq", feature = "pure-rust"))]
pub use sockets::wait_for_news;

#[cfg(any(feature = "libzmq", feature = "pure-rust"))]
pub use messages::COMMAND_ACK;
pub use wait::{Wait, FOREVER};

/// The news prefix that matches every topic.
pub const EVERYTHING: &str = "";
