//! A sans-IO ZMTP 3.x engine (rfc.zeromq.org 23/ZMTP, 37/ZMTP) with the NULL
//! mechanism, the CURVE mechanism (feature `curve`, 26/CURVEZMQ) and the
//! REQ, REP, PUB and SUB roles networkzero needs.
//!
//! - [`greeting`] and [`frame`]: wire layout in the smoltcp style, a checked
//!   zero-copy view (`Greeting<T>`, `FrameHeader<T>`) plus an owned `Repr`
//!   with `parse` / `buffer_len` / `emit`, and an httparse-style
//!   [`Frame::parse`] returning [`Status::Partial`] on short input.
//! - [`command`]: READY (metadata), ERROR, SUBSCRIBE/CANCEL, PING/PONG.
//! - [`Connection`]: the per-connection state machine (greeting, NULL
//!   handshake, socket-type check, REQ/REP envelopes and alternation, PUB
//!   filtering, SUB subscriptions, heartbeats, limits). Its doc comment
//!   fixes the drain order.
//! - [`Security`]: which mechanism a [`Config`] asks for; `curve` (feature
//!   `curve`): CurveZMQ's keys, commands and per-connection mechanism.
//!
//! Several connections per socket (routing, fair queuing, high-water
//! marks, reconnects) are [`crate::socket`]'s.
//!
//! No heap (unless a caller picks the `alloc` feature's [`Buffer`]), no `std`,
//! no clock, no recursion, no `unsafe`. Every length from
//! the network is checked against a limit before it is used; a 64-bit frame
//! length up to `u64::MAX` is a typed [`ZmtpError::MessageTooLarge`].

mod buffer;
pub mod command;
mod connection;
#[cfg(feature = "curve")]
pub mod curve;
mod error;
pub mod frame;
pub mod greeting;
mod security;
mod socket_type;
pub(crate) mod subscriptions;

pub use buffer::Buffer;
#[cfg(feature = "alloc")]
pub use buffer::Growable;
pub use command::{Command, Properties};
pub use connection::{
    Config, Connection, Event, Part, Received, Sent, TooLarge, CONTROL_RESERVE, MAX_ENVELOPE,
    MAX_IDENTITY, MIN_RX_BUFFER, MIN_RX_BUFFER_CURVE, MIN_TX_BUFFER, MIN_TX_BUFFER_CURVE,
};
pub use error::{ConfigError, SendError, ZmtpError};
pub use frame::{Frame, FrameHeader, FrameHeaderRepr, Status};
pub use greeting::{Greeting, GreetingRepr, Mechanism, GREETING_LEN};
pub use security::Security;
pub use socket_type::{Role, SocketType};
pub use subscriptions::{MAX_TOPIC_LEN, SUBSCRIPTION_STORE};

#[cfg(test)]
mod tests;
