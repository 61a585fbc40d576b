//! A message's bytes, JSON or postcard, and the typed values read from them.
//!
//! What a program sends is JSON unless it wraps the value in [`Postcard`].
//! Every receive call reads both, telling them apart by the core's tag
//! ([`Format::of`]: postcard starts with 0xFF, which never starts UTF-8
//! text), so which bytes are which is decided once, in the core's payload
//! codec. JSON is written and read by serde_json (what Python's `json`
//! module reads and writes), postcard by the core's codec.
//!
//! A message that does not fit the type a call asked for is a soft error:
//! the call warns, naming the type and showing (cut short) what arrived, and
//! drops it. It came from another program, so no retry of this one fixes it,
//! and a robot waiting for commands must not stop because a classmate sent
//! it the wrong thing.

use std::any::type_name;

use networkzero_core::payload::{self as codec, Format};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::transport::MAX_MESSAGE;

/// A value to send as [postcard](https://postcard.jamesmunns.com) instead of
/// JSON: a few bytes where JSON takes dozens, and the same bytes firmware
/// decodes without a JSON parser. Only for Rust networkzero programs: every
/// receive call of this crate and the core's `payload::decode` read it, but
/// **Python networkzero cannot** — it raises `UnicodeDecodeError` on the
/// first byte and stops. Postcard carries no field names, so both sides must
/// use the same type (share its definition), and a receiver reads it with a
/// typed call (`wait_for_message_as::<T>`…), never as a [`Value`].
///
/// A reply is postcard only if its request was: a reply wrapped in
/// `Postcard` to a JSON request (say, from Python or `nw0 send`) goes as
/// JSON. Nothing else in the wire tells a Rust program from a Python one
/// (see the crate docs, "Typed messages"), so for requests and news the
/// choice is yours: wrap only what goes to Rust programs.
///
/// ```no_run
/// use networkzero as nw0;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// enum Drive { Forward(u8), Stop }
///
/// let robot = nw0::discover("robot", 10)?.expect("robot not found");
/// nw0::send_command(&robot, nw0::Postcard(Drive::Forward(50)))?; // 3 bytes on the wire
/// // on the robot: nw0::wait_for_command_as::<Drive>(&address, nw0::FOREVER)?
/// # Ok::<(), nw0::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Postcard<T>(pub T);

/// What the message calls send: any value serde can serialize (text,
/// numbers, [`json!`](crate::json), your `#[derive(Serialize)]` types) goes
/// as JSON; one wrapped in [`Postcard`] goes as postcard. Implemented for
/// exactly those; you never implement it yourself.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent as a message",
    label = "not a message",
    note = "send text, numbers, nw0::json!(…), or a type with #[derive(serde::Serialize)]; wrap it in nw0::Postcard(…) for postcard"
)]
pub trait ToMessage: sealed::Sealed {}

pub(crate) mod sealed {
    use super::{Format, Result};

    /// [`super::ToMessage`]'s workings, out of users' reach.
    pub trait Sealed {
        /// The format the sender chose.
        fn format(&self) -> Format;
        /// The value's bytes in `format`, written after what `into` holds.
        fn encode(&self, format: Format, into: Vec<u8>) -> Result<Vec<u8>>;
    }
}

impl<T: Serialize + ?Sized> sealed::Sealed for T {
    fn format(&self) -> Format {
        Format::Json
    }

    fn encode(&self, _: Format, into: Vec<u8>) -> Result<Vec<u8>> {
        to_json(self, into)
    }
}

impl<T: Serialize> sealed::Sealed for Postcard<T> {
    fn format(&self) -> Format {
        Format::Postcard
    }

    fn encode(&self, format: Format, into: Vec<u8>) -> Result<Vec<u8>> {
        match format {
            Format::Json => to_json(&self.0, into),
            Format::Postcard => to_postcard(&self.0, into),
        }
    }
}

impl<T: Serialize + ?Sized> ToMessage for T {}
impl<T: Serialize> ToMessage for Postcard<T> {}

/// A message's bytes in the format its sender chose.
#[cfg(test)]
pub(crate) fn to_payload(message: &impl ToMessage) -> Result<Vec<u8>> {
    to_payload_in(message, Vec::new())
}

/// [`to_payload`] written into `buffer` (emptied first): a buffer its
/// socket kept ([`crate::transport::TransportSocket::buffer`]), so sending
/// allocates nothing.
pub(crate) fn to_payload_in(message: &impl ToMessage, buffer: Vec<u8>) -> Result<Vec<u8>> {
    encode_in(message, message.format(), buffer)
}

/// `message` in `format`, written into `buffer` (emptied first).
pub(crate) fn encode_in(
    message: &impl ToMessage,
    format: Format,
    mut buffer: Vec<u8>,
) -> Result<Vec<u8>> {
    buffer.clear();
    // A new buffer: room for a small message at once, as serde_json's
    // `to_vec` makes (growing from nothing would take several steps).
    buffer.reserve(128);
    message.encode(format, buffer)
}

/// A message as its JSON bytes, refusing what no peer would accept.
fn to_json(message: &(impl Serialize + ?Sized), mut into: Vec<u8>) -> Result<Vec<u8>> {
    serde_json::to_writer(&mut into, message).map_err(|e| Error::BadMessage {
        reason: e.to_string(),
    })?;
    within_limit(into)
}

/// A message as a postcard payload (the core's tag, then postcard).
fn to_postcard(message: &(impl Serialize + ?Sized), into: Vec<u8>) -> Result<Vec<u8>> {
    let bytes = codec::extend_postcard(message, into).map_err(|e| Error::BadMessage {
        reason: format!("as postcard: {e}"),
    })?;
    within_limit(bytes)
}

#[inline]
fn within_limit(bytes: Vec<u8>) -> Result<Vec<u8>> {
    if bytes.len() as i64 > MAX_MESSAGE {
        return Err(Error::BadMessage {
            reason: format!("it is {} bytes; the most is {MAX_MESSAGE}", bytes.len()),
        });
    }
    Ok(bytes)
}

/// Reads a `T` from a message in either format.
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, Unreadable> {
    let reason = match Format::of(payload) {
        Format::Json => match serde_json::from_slice(payload) {
            Ok(value) => return Ok(value),
            Err(e) => e.to_string(),
        },
        // Never a `Value`: postcard carries no field names or types, and its
        // decoder refuses serde's `deserialize_any`, which `Value` needs; the
        // error's reason goes unused, since `describe` gives the fix instead.
        Format::Postcard => match codec::decode_postcard(payload) {
            Ok(value) => return Ok(value),
            Err(e) => e.to_string(),
        },
    };
    Err(Unreadable {
        expected: short_type_name(type_name::<T>()),
        as_value: is_value::<T>(),
        format: Format::of(payload),
        reason,
        shown: shown(payload),
    })
}

/// Whether a call asked for a [`Value`] (JSON of any shape).
fn is_value<T>() -> bool {
    type_name::<T>() == type_name::<Value>()
}

/// A message that is not the type a call asked for: what a warning says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreadable {
    /// The type asked for, without module paths (`Option<Drive>`).
    expected: String,
    /// The call asked for a `Value`.
    as_value: bool,
    format: Format,
    /// serde's or the codec's words.
    reason: String,
    /// The message, cut short.
    shown: String,
}

impl Unreadable {
    /// "is not JSON (…): …" or "cannot be read as Drive (…): …", with the
    /// fix when a call that reads JSON got postcard; `typed_call` names the
    /// call's `_as` variant for that fix.
    pub(crate) fn describe(&self, typed_call: &str) -> String {
        let Unreadable {
            expected,
            reason,
            shown,
            ..
        } = self;
        match (self.as_value, self.format) {
            (true, Format::Postcard) => format!(
                "is postcard ({shown}), sent with nw0::Postcard, which has no field names, so it \
                 cannot be read as JSON: use {typed_call}::<YourType> with the sender's type"
            ),
            (true, Format::Json) => format!("is not JSON ({reason}): {shown}"),
            (false, _) => format!("cannot be read as {expected} ({reason}): {shown}"),
        }
    }
}

/// Most characters of a JSON message a warning shows.
const SHOWN_CHARS: usize = 60;
/// Most bytes of a postcard message a warning shows (in hex).
const SHOWN_BYTES: usize = 16;

/// A message for a warning: JSON as text, postcard as hex, cut short.
pub(crate) fn shown(payload: &[u8]) -> String {
    match Format::of(payload) {
        Format::Json => {
            let text = String::from_utf8_lossy(payload);
            match text.char_indices().nth(SHOWN_CHARS) {
                Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], payload.len()),
                None => text.into_owned(),
            }
        }
        Format::Postcard => {
            let hex: Vec<String> = payload
                .iter()
                .take(SHOWN_BYTES)
                .map(|b| format!("{b:02x}"))
                .collect();
            let more = if payload.len() > SHOWN_BYTES {
                " …"
            } else {
                ""
            };
            format!("{} bytes: {}{more}", payload.len(), hex.join(" "))
        }
    }
}

/// A type's name as its user wrote it: `core::option::Option<robot::Drive>`
/// becomes `Option<Drive>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut word = String::new();
    for c in full.chars().chain(std::iter::once(' ')) {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        out.push_str(word.rsplit("::").next().unwrap_or_default());
        word.clear();
        out.push(c);
    }
    out.pop(); // the space added above
    out
}

/// Counts a subscriber's unreadable news items and says which deserve a
/// warning: the 1st, 10th, 100th… A publisher of the wrong type sends it
/// again and again, maybe thousands a second; one line per item would bury
/// everything else. (A REP warns for every message: each got a `null`.)
#[derive(Debug, Default)]
pub(crate) struct Unreadables(u64);

impl Unreadables {
    /// Counts one; `Some(text)` to add to its warning when it deserves one.
    pub(crate) fn count(&mut self) -> Option<String> {
        self.0 += 1;
        let n = self.0;
        let noteworthy = std::iter::successors(Some(1u64), |p| p.checked_mul(10)).any(|p| p == n);
        noteworthy.then(|| match n {
            1 => String::new(),
            n => format!(" ({n} such so far)"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Drive {
        Forward(u8),
        Stop,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Odometry {
        n: u32,
        speed: i8,
    }

    #[test]
    fn plain_values_go_as_json_and_wrapped_ones_as_postcard() {
        assert_eq!(to_payload(&"forward").unwrap(), br#""forward""#);
        assert_eq!(
            to_payload(&Drive::Forward(50)).unwrap(),
            br#"{"Forward":50}"#
        );
        let bytes = to_payload(&Postcard(Drive::Forward(50))).unwrap();
        assert_eq!(bytes, [0xFF, 0, 50], "the core's tag, variant 0, 50");
        assert_eq!(to_payload(&Postcard(&Drive::Stop)).unwrap(), [0xFF, 1]);
        // a reply to a JSON request: the wrapped value, as JSON
        use sealed::Sealed;
        assert_eq!(
            Postcard(Drive::Stop)
                .encode(Format::Json, Vec::new())
                .unwrap(),
            br#""Stop""#
        );
    }

    #[test]
    fn either_format_reads_into_the_type() {
        for bytes in [
            to_payload(&Odometry { n: 7, speed: -3 }).unwrap(),
            to_payload(&Postcard(Odometry { n: 7, speed: -3 })).unwrap(),
            br#" {"speed": -3, "n": 7, "extra": [1]} "#.to_vec(), // as Python sends it
        ] {
            assert_eq!(decode::<Odometry>(&bytes), Ok(Odometry { n: 7, speed: -3 }));
        }
        assert_eq!(
            decode::<Value>(b"[1, null]"),
            Ok(serde_json::json!([1, null]))
        );
        assert_eq!(
            decode::<String>(&[0xFF, 3, b'a', b'c', b'k']),
            Ok("ack".into())
        );
    }

    #[test]
    fn what_cannot_be_read_is_described_with_its_type_and_the_message() {
        let e = decode::<Odometry>(br#"{"n": "seven"}"#).unwrap_err();
        let text = e.describe("wait_for_news_as");
        assert!(
            text.starts_with("cannot be read as Odometry (invalid type: string"),
            "{text}"
        );
        assert!(text.ends_with(r#": {"n": "seven"}"#), "{text}");

        let e = decode::<Option<Drive>>(&[0xFF, 9, 1, 2]).unwrap_err();
        assert_eq!(
            e.describe("x"),
            "cannot be read as Option<Drive> (the message is not valid JSON (or postcard) \
             of the expected shape): 4 bytes: ff 09 01 02"
        );

        // a JSON call given postcard is told which call reads it
        let e = decode::<Value>(&to_payload(&Postcard(3u8)).unwrap()).unwrap_err();
        let text = e.describe("wait_for_message_as");
        assert!(text.starts_with("is postcard (2 bytes: ff 03)"), "{text}");
        assert!(
            text.contains("use wait_for_message_as::<YourType>"),
            "{text}"
        );

        let e = decode::<Value>(b"{oops").unwrap_err();
        assert!(
            e.describe("x")
                .starts_with("is not JSON (key must be a string"),
            "{e:?}"
        );

        // long messages are cut short
        let long = format!("\"{}\"", "é".repeat(500));
        let text = decode::<u8>(long.as_bytes()).unwrap_err().describe("x");
        assert!(
            text.ends_with(&format!("\"{}… (1002 bytes)", "é".repeat(59))),
            "{text}"
        );
        let text = decode::<u8>(&[0xFF; 100]).unwrap_err().describe("x");
        assert!(
            text.ends_with(&format!("100 bytes: {} …", ["ff"; 16].join(" "))),
            "{text}"
        );
    }

    #[test]
    fn a_message_of_max_message_bytes_goes_and_one_byte_more_is_refused() {
        let most = MAX_MESSAGE as usize;
        // JSON: a string of `most - 2` characters and its two quotes
        let text = "a".repeat(most - 2);
        assert_eq!(to_payload(&text).map(|b| b.len()), Ok(most));
        let e = to_payload(&format!("{text}a")).unwrap_err();
        assert_eq!(
            e,
            Error::BadMessage {
                reason: format!("it is {} bytes; the most is {most}", most + 1)
            }
        );
        // postcard: the tag and the length, 4 bytes (2^21 <= 16 Mi - 5 < 2^28), before the text
        let text = "a".repeat(most - 5);
        assert_eq!(to_payload(&Postcard(&text)).map(|b| b.len()), Ok(most));
        let e = to_payload(&Postcard(format!("{text}a"))).unwrap_err();
        assert!(
            matches!(e, Error::BadMessage { ref reason } if reason.starts_with(&format!("it is {} bytes", most + 1))),
            "{e}"
        );
    }

    #[test]
    fn a_postcard_message_of_shown_bytes_is_shown_whole() {
        // the tag, then 15 bytes: all of them, and no sign of more
        let bytes: Vec<u8> = (0..SHOWN_BYTES as u8).map(|b| 0xFF - b).collect();
        assert_eq!(
            shown(&bytes),
            "16 bytes: ff fe fd fc fb fa f9 f8 f7 f6 f5 f4 f3 f2 f1 f0"
        );
        let one_more = [&bytes[..], &[0]].concat();
        assert_eq!(
            shown(&one_more),
            "17 bytes: ff fe fd fc fb fa f9 f8 f7 f6 f5 f4 f3 f2 f1 f0 …"
        );
    }

    #[test]
    fn type_names_lose_their_paths() {
        assert_eq!(
            short_type_name("core::option::Option<robot::Drive>"),
            "Option<Drive>"
        );
        assert_eq!(
            short_type_name("alloc::vec::Vec<(u8, alloc::string::String)>"),
            "Vec<(u8, String)>"
        );
        assert_eq!(short_type_name("&str"), "&str");
        assert_eq!(short_type_name("[u8; 4]"), "[u8; 4]");
        assert_eq!(
            short_type_name(type_name::<Odometry>()),
            "Odometry",
            "{}",
            type_name::<Odometry>()
        );
    }

    #[test]
    fn postcard_cannot_write_every_shape_and_says_so() {
        struct Unsized;
        impl Serialize for Unsized {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                s.serialize_seq(None)?.end()
            }
        }
        let e = to_payload(&Postcard(Unsized)).unwrap_err();
        assert!(
            e.to_string().contains("as postcard: the value has a shape"),
            "{e}"
        );
        assert!(to_payload(&Unsized).is_ok(), "JSON writes it");
    }

    #[test]
    fn warnings_thin_out() {
        let mut u = Unreadables::default();
        let warned: Vec<(u64, String)> = (1..=2000)
            .filter_map(|n| u.count().map(|extra| (n, extra)))
            .collect();
        assert_eq!(
            warned,
            [
                (1, String::new()),
                (10, " (10 such so far)".into()),
                (100, " (100 such so far)".into()),
                (1000, " (1000 such so far)".into())
            ]
        );
    }
}
