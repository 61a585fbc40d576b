//! Hard errors: mistakes no retry can fix. Each message names the value and
//! says what to do.
//!
//! Soft failures (a timeout, nothing discovered, no reply) are not errors:
//! the functions return `None` and log a warning.

use std::fmt;
use std::net::SocketAddr;

/// A hard error from networkzero.
///
/// `Debug` prints the same friendly message as `Display`, so
/// `fn main() -> Result<(), networkzero::Error>` shows beginners the fix.
///
/// ```
/// let e = networkzero::address("abc:99999").unwrap_err();
/// assert_eq!(e.to_string(), "'abc:99999' is not a valid address: port must be 0–65535");
/// assert!(matches!(e, networkzero::Error::InvalidAddress { .. }));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Text that is not an address.
    InvalidAddress {
        /// The text as given.
        input: String,
        /// What is wrong, and how to write it.
        reason: String,
    },
    /// A host name that could not be looked up.
    UnknownHost {
        /// The name.
        host: String,
    },
    /// Something else on this computer already uses the port.
    PortInUse {
        /// The address that could not be used.
        address: SocketAddr,
    },
    /// The address belongs to another computer, so nothing can listen on it here.
    NotLocal {
        /// The address given.
        address: SocketAddr,
    },
    /// The name cannot be advertised (too long, empty, too many names).
    CannotAdvertise {
        /// The name.
        name: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A message that cannot be turned into JSON, or is too big.
    BadMessage {
        /// Why.
        reason: String,
    },
    /// A socket made in one thread was used from another.
    DifferentThread {
        /// The address of the socket.
        address: String,
    },
    /// The address is already used in another way (say, to publish news and
    /// now to wait for messages).
    WrongUse {
        /// The address.
        address: String,
        /// What it is used for already.
        used_for: &'static str,
    },
    /// A wait that means nothing (NaN seconds).
    BadWait {
        /// What is wrong with it.
        reason: String,
    },
    /// A class key is set, but the transport in use has no CurveZMQ: the
    /// message would travel unencrypted to anyone, so it is not sent.
    ClassKeyUnsupported {
        /// The address.
        address: String,
    },
    /// The network itself failed (the operating system's message is kept).
    Network {
        /// What we were doing.
        doing: String,
        /// The operating system's words.
        cause: String,
    },
}

/// `Result` with networkzero's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidAddress { input, reason } => {
                write!(f, "'{input}' is not a valid address: {reason}")
            }
            Error::UnknownHost { host } => write!(
                f,
                "could not find the computer called '{host}': check the spelling, or use its IP address (like 192.168.1.5) instead"
            ),
            Error::PortInUse { address } => write!(
                f,
                "port {} is already in use on this computer ({address}): another program, or an earlier run of this one, is using it; stop it, or pick another port (nw0::advertise(name) picks a free one)",
                address.port()
            ),
            Error::NotLocal { address } => write!(
                f,
                "{address} is not an address of this computer, so nothing here can listen on it: use nw0::advertise(name) or nw0::address(\"\") to get one of this computer's addresses"
            ),
            Error::CannotAdvertise { name, reason } => {
                write!(f, "cannot advertise '{}': {reason}", shortened(name))
            }
            Error::BadMessage { reason } => write!(f, "cannot send this message: {reason}"),
            Error::DifferentThread { address } => write!(
                f,
                "the socket for {address} was made in another thread; networkzero sockets belong to the thread that made them: call networkzero for this address from one thread only"
            ),
            Error::WrongUse { address, used_for } => write!(
                f,
                "{address} is already used {used_for} in this program; use a different address for each job (nw0::advertise gives each name its own)"
            ),
            Error::BadWait { reason } => write!(
                f,
                "cannot wait for that long: {reason}; give a number of seconds (like 5 or 0.5), a Duration, or nw0::FOREVER"
            ),
            Error::ClassKeyUnsupported { address } => write!(
                f,
                "cannot use {address} with a class key: this build's libzmq has no CurveZMQ, so nothing would be encrypted; build networkzero with the `pure-rust` feature, or unset NW0_CLASS_KEY"
            ),
            Error::Network { doing, cause } => write!(f, "network error while {doing}: {cause}"),
        }
    }
}

/// A long value cut to its first 40 characters, so the message stays readable.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

impl Error {
    pub(crate) fn network(doing: impl Into<String>, cause: impl fmt::Display) -> Self {
        Error::Network {
            doing: doing.into(),
            cause: cause.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every hard error, as a beginner would meet it: the message must name
    /// the value at fault and say what to do. Printed so reviewers can read
    /// them all at once (`cargo test -p networkzero error -- --nocapture`).
    #[test]
    fn every_message_names_the_value_and_the_remedy() {
        let addr: SocketAddr = "192.168.1.5:8080".parse().unwrap();
        let cases: Vec<(Error, &str, &[&str])> = vec![
            (
                crate::address::address("abc:99999").unwrap_err(),
                "abc:99999",
                &["0–65535"],
            ),
            (
                crate::address::address("300.1.1.1").unwrap_err(),
                "300.1.1.1",
                &["like 192.168.1.5"],
            ),
            (
                Error::UnknownHost {
                    host: "robto.local".into(),
                },
                "robto.local",
                &["check the spelling", "IP address"],
            ),
            (
                Error::PortInUse { address: addr },
                "8080",
                &["stop it", "pick another port", "nw0::advertise(name)"],
            ),
            (
                Error::NotLocal { address: addr },
                "192.168.1.5:8080",
                &["nw0::advertise", "nw0::address(\"\")"],
            ),
            (
                Error::CannotAdvertise {
                    name: "x".repeat(300),
                    reason: "the name is too long; use a shorter name".into(),
                },
                "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…'",
                &["shorter name"],
            ),
            (
                Error::BadMessage {
                    reason: "it is 20000000 bytes; the most is 16777216".into(),
                },
                "20000000",
                &["the most is"],
            ),
            (
                Error::DifferentThread {
                    address: "10.0.0.1:5000".into(),
                },
                "10.0.0.1:5000",
                &["from one thread"],
            ),
            (
                Error::WrongUse {
                    address: "10.0.0.1:5000".into(),
                    used_for: "to publish news",
                },
                "10.0.0.1:5000",
                &["use a different address"],
            ),
            (
                Error::ClassKeyUnsupported {
                    address: "10.0.0.1:5000".into(),
                },
                "10.0.0.1:5000",
                &["pure-rust", "NW0_CLASS_KEY"],
            ),
            (
                Error::network("sending to 10.0.0.1:5000", "connection refused"),
                "10.0.0.1:5000",
                &["connection refused"],
            ),
        ];
        for (error, value, remedies) in cases {
            let text = error.to_string();
            println!("{text}");
            assert!(
                text.contains(value),
                "the message must name {value:?}: {text}"
            );
            for remedy in remedies {
                assert!(
                    text.contains(remedy),
                    "the message must say {remedy:?}: {text}"
                );
            }
            assert_eq!(
                format!("{error:?}"),
                text,
                "Debug shows the same friendly text"
            );
        }
    }
}
