//! Message payloads: JSON as Python networkzero sends it, or postcard between
//! Rust peers, told apart by the first byte.
//!
//! Python networkzero puts `json.dumps(value)` in each ZeroMQ frame: null,
//! booleans, numbers, text, lists and objects. [`encode`] and [`decode`] map
//! any serde type to and from that, into and out of caller-supplied buffers
//! (serde-json-core: no heap). A Rust↔Rust link may choose [`Format::Postcard`]
//! instead: the frame then starts with [`POSTCARD_TAG`], a byte that is never
//! valid UTF-8 and so can never start JSON text, and [`decode`] detects it.
//!
//! Bytes travel as base64 text, like Python's `bytes_to_string`: wrap them in
//! [`Base64`] to send, and receive them into [`Base64Buf`].
//!
//! Before serde sees untrusted JSON, [`decode`] checks its nesting depth
//! iteratively: serde-json-core skips unknown fields by recursion, so
//! `[[[[…` ten thousand deep would otherwise overflow a microcontroller's
//! stack.

use core::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// First byte of a postcard payload; 0xFF never occurs in UTF-8.
pub const POSTCARD_TAG: u8 = 0xFF;

/// Deepest nesting of lists and objects [`decode`] accepts.
pub const MAX_DEPTH: usize = 32;

/// How a payload is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Format {
    /// UTF-8 JSON, what Python networkzero sends.
    #[default]
    Json,
    /// [`POSTCARD_TAG`] then postcard bytes: compact, Rust peers only.
    Postcard,
}

impl Format {
    /// The format of a received payload.
    pub fn of(payload: &[u8]) -> Format {
        match payload.first() {
            Some(&POSTCARD_TAG) => Format::Postcard,
            _ => Format::Json,
        }
    }
}

/// Why a payload could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PayloadError {
    /// The buffer is too small for the encoded value.
    BufferFull,
    /// The payload is not valid JSON (or postcard) for the expected type.
    Malformed,
    /// Lists and objects nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Bytes after the value.
    TrailingData,
    /// Base64 text that is not base64, or decodes to more than fits.
    BadBase64,
    /// The value has a shape the format cannot write (postcard needs the
    /// length of every list and map before its items).
    Unsupported,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PayloadError::BufferFull => "the message is too big for the buffer",
            PayloadError::Malformed => {
                "the message is not valid JSON (or postcard) of the expected shape"
            }
            PayloadError::TooDeep => "the message nests lists or objects too deeply",
            PayloadError::TrailingData => "the message has extra bytes after its value",
            PayloadError::BadBase64 => "the text is not valid base64",
            PayloadError::Unsupported => {
                "the value has a shape this format cannot write (postcard needs the length of every list and map up front)"
            }
        })
    }
}

/// Encodes `value` in `format` into `buf`; returns the length.
pub fn encode<T: Serialize + ?Sized>(
    value: &T,
    format: Format,
    buf: &mut [u8],
) -> Result<usize, PayloadError> {
    match format {
        Format::Json => serde_json_core::to_slice(value, buf).map_err(|_| PayloadError::BufferFull),
        Format::Postcard => {
            let (tag, rest) = buf.split_first_mut().ok_or(PayloadError::BufferFull)?;
            *tag = POSTCARD_TAG;
            let used = postcard::to_slice(value, rest).map_err(|e| match e {
                postcard::Error::SerializeBufferFull => PayloadError::BufferFull,
                _ => PayloadError::Unsupported,
            })?;
            Ok(1 + used.len())
        }
    }
}

/// Appends the postcard payload of `value` ([`POSTCARD_TAG`], then postcard
/// bytes) to `out`, which must grow as needed: for a host with a heap (the
/// std crate hands a `Vec`). Firmware [`encode`]s into a slice instead.
pub fn extend_postcard<T: Serialize + ?Sized, W: Extend<u8>>(
    value: &T,
    mut out: W,
) -> Result<W, PayloadError> {
    out.extend([POSTCARD_TAG]);
    postcard::to_extend(value, out).map_err(|_| PayloadError::Unsupported)
}

/// Decodes a postcard payload (one that starts with [`POSTCARD_TAG`]); JSON
/// text, or bytes after the value, are errors. [`decode`] calls it for
/// postcard; a host that decodes JSON with its own parser calls it directly.
pub fn decode_postcard<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, PayloadError> {
    let Some((&POSTCARD_TAG, body)) = payload.split_first() else {
        return Err(PayloadError::Malformed);
    };
    let (value, rest) = postcard::take_from_bytes(body).map_err(|_| PayloadError::Malformed)?;
    if !rest.is_empty() {
        return Err(PayloadError::TrailingData);
    }
    Ok(value)
}

/// Decodes a payload in whichever format it is. `scratch` holds strings
/// whose JSON escapes need decoding (so `T` must own such strings, e.g. as
/// `heapless::String`); it must be as long as the longest such string.
pub fn decode<'a, T: Deserialize<'a>>(
    payload: &'a [u8],
    scratch: &mut [u8],
) -> Result<T, PayloadError> {
    match Format::of(payload) {
        Format::Postcard => decode_postcard(payload),
        Format::Json => {
            check_depth(payload)?;
            // serde_json_core reads trailing whitespace itself and calls
            // anything else after the value TrailingCharacters.
            let (value, _) =
                serde_json_core::from_slice_escaped(payload, scratch).map_err(|e| match e {
                    serde_json_core::de::Error::TrailingCharacters => PayloadError::TrailingData,
                    _ => PayloadError::Malformed,
                })?;
            Ok(value)
        }
    }
}

/// The key that marks an error reply (see [`ErrorReply`]).
pub const ERROR_KEY: &str = "networkzero_error";
/// [`ErrorReply::error`] for a request larger than the node takes.
pub const TOO_LARGE: &str = "message too large";

/// What a node answers, instead of an answer, to a request it could not
/// take: a JSON object `{"networkzero_error": "message too large", "size":
/// 300, "limit": 256}`. It is valid JSON, so a Python networkzero sender
/// gets it as its reply (a dict saying what went wrong) instead of waiting
/// for ever; the Rust std crate turns it into a hard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ErrorReply<'a> {
    /// What went wrong, e.g. [`TOO_LARGE`].
    #[serde(rename = "networkzero_error")]
    pub error: &'a str,
    /// The request's length in bytes, as far as the node read it.
    pub size: usize,
    /// The longest message (part) the node takes.
    pub limit: usize,
}

impl<'a> ErrorReply<'a> {
    /// The error reply for a request of `size` bytes to a node that takes
    /// at most `limit`.
    pub fn too_large(size: usize, limit: usize) -> ErrorReply<'static> {
        ErrorReply {
            error: TOO_LARGE,
            size,
            limit,
        }
    }

    /// The error reply in `reply`, if it is one (a JSON object with
    /// [`ERROR_KEY`]; other fields are ignored).
    pub fn parse(reply: &'a [u8]) -> Option<Self> {
        if Format::of(reply) != Format::Json {
            return None;
        }
        decode(reply, &mut []).ok()
    }

    /// Writes it as JSON into `buf`; returns the length. By hand, not
    /// through serde: firmware sends it, and serde's struct encoder costs
    /// it more flash than the whole reply path (the tests check both agree).
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, PayloadError> {
        let mut at = 0;
        let mut put = |bytes: &[u8]| -> Result<(), PayloadError> {
            let end = at + bytes.len();
            buf.get_mut(at..end)
                .ok_or(PayloadError::BufferFull)?
                .copy_from_slice(bytes);
            at = end;
            Ok(())
        };
        put(b"{\"")?;
        put(ERROR_KEY.as_bytes())?;
        put(b"\":\"")?;
        // Our error texts need no JSON escapes.
        put(self.error.as_bytes())?;
        put(b"\",\"size\":")?;
        put(decimal(self.size, &mut [0; 20]))?;
        put(b",\"limit\":")?;
        put(decimal(self.limit, &mut [0; 20]))?;
        put(b"}")?;
        Ok(at)
    }
}

/// `n` in decimal, written at the end of `buf`.
fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        if let Some(d) = buf.get_mut(start) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 0 {
            break;
        }
    }
    buf.get(start..).unwrap_or_default()
}

impl fmt::Display for ErrorReply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} bytes, and it takes at most {}",
            self.error, self.size, self.limit
        )
    }
}

/// Checks that JSON lists and objects nest at most [`MAX_DEPTH`] deep,
/// skipping brackets inside strings. Iterative; says nothing else of validity.
pub fn check_depth(json: &[u8]) -> Result<(), PayloadError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(PayloadError::TooDeep);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Bytes to send as base64 text, as Python's `bytes_to_string` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base64<'a>(pub &'a [u8]);

impl fmt::Display for Base64<'_> {
    /// Streams the standard padded alphabet, three bytes at a time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.chunks(3) {
            let mut out = [0u8; 4];
            let n = base64::engine::general_purpose::STANDARD
                .encode_slice(chunk, &mut out)
                .map_err(|_| fmt::Error)?;
            let text =
                core::str::from_utf8(out.get(..n).unwrap_or_default()).map_err(|_| fmt::Error)?;
            f.write_str(text)?;
        }
        Ok(())
    }
}

impl Serialize for Base64<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Bytes received as base64 text (Python's `string_to_bytes`), up to `N`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Base64Buf<const N: usize>(pub heapless::Vec<u8, N>);

impl<const N: usize> Base64Buf<N> {
    /// Decodes base64 text.
    pub fn from_text(text: &str) -> Result<Self, PayloadError> {
        let mut out = heapless::Vec::new();
        // decode_slice refuses bytes that do not fit, and stops there.
        out.resize_default(N).map_err(|_| PayloadError::BadBase64)?;
        let n = base64::engine::general_purpose::STANDARD
            .decode_slice(text, &mut out)
            .map_err(|_| PayloadError::BadBase64)?;
        out.truncate(n);
        Ok(Base64Buf(out))
    }
}

impl<'de, const N: usize> Deserialize<'de> for Base64Buf<N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit<const N: usize>;
        impl<const N: usize> serde::de::Visitor<'_> for Visit<N> {
            type Value = Base64Buf<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "base64 text of at most {N} bytes")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Base64Buf::from_text(text).map_err(|_| E::custom("invalid base64"))
            }
        }
        deserializer.deserialize_str(Visit::<N>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use heapless::String;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Hit {
        target: u8,
        score: i32,
        who: String<16>,
    }

    #[test]
    fn error_reply_round_trip() {
        let mut buf = [0u8; 96];
        let n = ErrorReply::too_large(300, 256).encode(&mut buf).unwrap();
        let text = &buf[..n];
        assert_eq!(
            text,
            br#"{"networkzero_error":"message too large","size":300,"limit":256}"#
        );
        assert_eq!(
            ErrorReply::parse(text),
            Some(ErrorReply::too_large(300, 256))
        );
        // The hand-written encoder says what serde would.
        for (size, limit) in [(0, 0), (9, 10), (usize::MAX, 1 << 20)] {
            let reply = ErrorReply::too_large(size, limit);
            let mut by_serde = [0u8; 128];
            let m = encode(&reply, Format::Json, &mut by_serde).unwrap();
            let n = reply.encode(&mut buf).unwrap();
            assert_eq!(buf[..n], by_serde[..m]);
        }
        assert_eq!(
            ErrorReply::too_large(1, 1).encode(&mut [0u8; 20]),
            Err(PayloadError::BufferFull)
        );
        // Python's json.dumps spacing and extra keys are fine; ordinary replies are not errors.
        let spaced =
            br#"{"size": 9, "networkzero_error": "message too large", "limit": 4, "x": [1]}"#;
        assert_eq!(ErrorReply::parse(spaced).map(|e| e.limit), Some(4));
        for other in [&br#""ack""#[..], br#"{"error": "x"}"#, b"null", b"\xff"] {
            assert_eq!(ErrorReply::parse(other), None);
        }
    }

    #[test]
    fn json_both_ways() {
        let mut buf = [0u8; 64];
        let hit = Hit {
            target: 3,
            score: -5,
            who: "café".try_into().unwrap(),
        };
        let n = encode(&hit, Format::Json, &mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            "{\"target\":3,\"score\":-5,\"who\":\"café\"}".as_bytes()
        );
        let mut scratch = [0u8; 32];
        assert_eq!(decode::<Hit>(&buf[..n], &mut scratch).unwrap(), hit);
        // What Python's json.dumps sends: spaces, \u escapes, extra fields.
        let py = br#"{"target": 3, "score": -5, "who": "caf\u00e9", "extra": [1, {"a": null}]} "#;
        assert_eq!(decode::<Hit>(py, &mut scratch).unwrap(), hit);
        assert_eq!(
            decode::<String<8>>(br#""START""#, &mut scratch).unwrap(),
            "START"
        );
        assert_eq!(decode::<Option<u8>>(b"null", &mut scratch).unwrap(), None);
    }

    #[test]
    fn postcard_is_detected_by_its_tag() {
        let mut buf = [0u8; 64];
        let hit = Hit {
            target: 1,
            score: 2,
            who: "x".try_into().unwrap(),
        };
        let n = encode(&hit, Format::Postcard, &mut buf).unwrap();
        assert_eq!(buf[0], POSTCARD_TAG);
        assert_eq!(Format::of(&buf[..n]), Format::Postcard);
        assert_eq!(decode::<Hit>(&buf[..n], &mut []).unwrap(), hit);
        assert!(n < 10);
    }

    #[test]
    fn a_growing_buffer_gets_the_same_postcard_bytes() {
        let hit = Hit {
            target: 7,
            score: -300,
            who: "ロボ".try_into().unwrap(),
        };
        let mut buf = [0u8; 64];
        let n = encode(&hit, Format::Postcard, &mut buf).unwrap();
        let mut grown = heapless::Vec::<u8, 64>::new();
        grown.extend([1, 2]); // appended after what is there
        let grown = extend_postcard(&hit, grown).unwrap();
        assert_eq!(&grown[2..], &buf[..n]);
        assert_eq!(decode_postcard::<Hit>(&grown[2..]).unwrap(), hit);
        // JSON, an empty payload and trailing bytes are not postcard
        let json = br#"{"target":7,"score":-300,"who":"x"}"#;
        assert_eq!(decode_postcard::<Hit>(json), Err(PayloadError::Malformed));
        assert_eq!(decode_postcard::<u8>(&[]), Err(PayloadError::Malformed));
        assert_eq!(
            decode_postcard::<u8>(&[POSTCARD_TAG, 5, 6]),
            Err(PayloadError::TrailingData)
        );
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let mut scratch = [0u8; 8];
        assert_eq!(
            decode::<String<8>>(b"\"a\" x", &mut scratch),
            Err(PayloadError::TrailingData)
        );
        assert!(decode::<u8>(b"1 2", &mut scratch).is_err());
        assert_eq!(
            decode::<u8>(b"\"x", &mut scratch),
            Err(PayloadError::Malformed)
        );
        assert_eq!(
            decode::<u8>(&[POSTCARD_TAG], &mut scratch),
            Err(PayloadError::Malformed)
        );
        let deep = "[".repeat(10_000);
        assert_eq!(
            decode::<u8>(deep.as_bytes(), &mut scratch),
            Err(PayloadError::TooDeep)
        );
        let hidden = format!(
            "{{\"target\":1,\"score\":1,\"who\":\"a\",\"x\":{}}}",
            "[".repeat(40)
        );
        assert_eq!(
            decode::<Hit>(hidden.as_bytes(), &mut scratch),
            Err(PayloadError::TooDeep)
        );
        // Brackets inside strings do not count.
        let quoted = format!("\"{}\"", "[".repeat(40));
        assert!(decode::<String<64>>(quoted.as_bytes(), &mut scratch).is_ok());
        assert_eq!(
            encode(&"too long for this", Format::Json, &mut scratch),
            Err(PayloadError::BufferFull)
        );
    }

    /// The depth check follows strings and escapes exactly: brackets in a
    /// string (after an escaped quote too) do not count, a string with an
    /// escape ends where it ends, and closed lists no longer count.
    #[test]
    fn depth_counts_open_brackets_outside_strings() {
        let mut scratch = [0u8; 64];
        let siblings = format!("[{}[]]", "[],".repeat(MAX_DEPTH * 2));
        assert_eq!(check_depth(siblings.as_bytes()), Ok(()));
        let escaped_quote = format!("\"\\\"{}\"", "[".repeat(MAX_DEPTH + 1));
        assert_eq!(check_depth(escaped_quote.as_bytes()), Ok(()));
        assert!(decode::<String<64>>(escaped_quote.as_bytes(), &mut scratch).is_ok());
        let after_an_escape = format!("[\"\\n\",{}", "[".repeat(MAX_DEPTH));
        assert_eq!(
            check_depth(after_an_escape.as_bytes()),
            Err(PayloadError::TooDeep)
        );
        let at_the_limit = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(check_depth(at_the_limit.as_bytes()), Ok(()));
    }

    #[test]
    fn postcard_too_long_for_the_buffer_is_buffer_full() {
        let hit = Hit {
            target: 1,
            score: 1_000_000,
            who: "robot".try_into().unwrap(),
        };
        assert_eq!(
            encode(&hit, Format::Postcard, &mut [0u8; 4]),
            Err(PayloadError::BufferFull)
        );
        assert_eq!(
            encode(&hit, Format::Postcard, &mut []),
            Err(PayloadError::BufferFull)
        );
    }

    #[test]
    fn an_error_reply_says_what_and_how_much() {
        assert_eq!(
            ErrorReply::too_large(300, 256).to_string(),
            "message too large: 300 bytes, and it takes at most 256"
        );
    }

    #[test]
    fn bytes_as_base64_like_python() {
        // Python: base64.b64encode(b"\x00\xffhi").decode("ascii") == "AP9oaQ=="
        let mut buf = [0u8; 32];
        let n = encode(&Base64(b"\x00\xffhi"), Format::Json, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"\"AP9oaQ==\"");
        let back: Base64Buf<8> = decode(&buf[..n], &mut []).unwrap();
        assert_eq!(&back.0[..], b"\x00\xffhi");
        assert!(decode::<Base64Buf<8>>(b"\"not base64!\"", &mut []).is_err());
        assert!(decode::<Base64Buf<2>>(b"\"AP9oaQ==\"", &mut []).is_err());
        // Bytes that fill the buffer exactly fit, padding and all.
        let exact = Base64Buf::<4>::from_text("AP9oaQ==").unwrap();
        assert_eq!(&exact.0[..], b"\x00\xffhi");
        assert_eq!(
            Base64Buf::<3>::from_text("AP9oaQ=="),
            Err(PayloadError::BadBase64)
        );
        let long = "AP9o".repeat(10_000);
        assert_eq!(
            Base64Buf::<8>::from_text(&long),
            Err(PayloadError::BadBase64)
        );
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut scratch = [0u8; 64];
            let _ = decode::<Hit>(&bytes, &mut scratch);
            let _ = decode::<(u8, String<8>, bool)>(&bytes, &mut scratch);
        }

        #[test]
        fn round_trips(target: u8, score: i32, who in "\\PC{0,5}", postcard: bool) {
            let hit = Hit { target, score, who: who.as_str().try_into().unwrap_or_default() };
            let mut buf = [0u8; 128];
            let format = if postcard { Format::Postcard } else { Format::Json };
            let n = encode(&hit, format, &mut buf).unwrap();
            let mut scratch = [0u8; 64];
            proptest::prop_assert_eq!(decode::<Hit>(&buf[..n], &mut scratch).unwrap(), hit);
        }
    }
}
