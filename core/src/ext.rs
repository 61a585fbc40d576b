//! networkzero's discovery extensions, on their own UDP port.
//!
//! A Python networkzero 1.0b1 beacon thread dies on any datagram to port 9999
//! that is not a plain advert, so everything beyond adverts travels on
//! [`EXT_PORT`] (9997), where Python never listens:
//!
//! - **Query** `NW0 1 'Q' name`: "who advertises `name`?" (an empty name asks
//!   for every name). Broadcast from the asker's own ephemeral port; every
//!   beacon advertising a match answers at once, so a cold `discover` takes
//!   milliseconds instead of waiting up to 2 s for the next periodic advert.
//! - **Answer** `NW0 1 'A' advert`: unicast back to the query's source
//!   address. It must go to the asker's own port: a unicast datagram to a
//!   port several processes share reaches only one of them.
//! - **Goodbye** `NW0 1 'B' advert`: broadcast on a clean `unadvertise`, so the
//!   name vanishes from every peer at once instead of after its ttl.
//!
//! `advert` is exactly the Python advert JSON (see [`crate::advert`]). The
//! magic `NW0` can never begin valid JSON, so the two kinds cannot be confused.

use crate::advert::{self, Advert, DecodeError, Name, MAX_NAME};

/// The UDP port of the extensions.
pub const EXT_PORT: u16 = 9997;

/// Bytes before the body: magic `NW0`, version, kind.
pub const HEADER_LEN: usize = 5;

/// Magic and version that start every extension datagram.
const MAGIC: [u8; 4] = *b"NW0\x01";

/// Largest extension datagram.
pub const MAX_EXT_DATAGRAM: usize = HEADER_LEN + advert::MAX_DATAGRAM;

/// A decoded extension datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Who advertises this name? Empty: every name.
    Query(Name),
    /// An advert sent in answer to a query.
    Answer(Advert),
    /// The advertiser has withdrawn this advert.
    Goodbye(Advert),
}

/// Why an extension datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ExtError {
    /// Does not start with `NW0` and version 1.
    NotExtension,
    /// A kind byte we do not know (from a newer version, perhaps).
    UnknownKind(u8),
    /// The queried name is not UTF-8 or too long.
    BadQuery,
    /// The advert inside an answer or goodbye is malformed.
    Advert(DecodeError),
}

impl core::fmt::Display for ExtError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ExtError::NotExtension => f.write_str("not a networkzero extension datagram"),
            ExtError::UnknownKind(k) => write!(f, "unknown extension datagram kind {k}"),
            ExtError::BadQuery => f.write_str("query name is not valid text"),
            ExtError::Advert(e) => write!(f, "extension advert: {e}"),
        }
    }
}

/// Whether `datagram` claims to be an extension datagram.
pub fn is_extension(datagram: &[u8]) -> bool {
    datagram.starts_with(&MAGIC)
}

/// Decodes an extension datagram.
pub fn decode(datagram: &[u8]) -> Result<Message, ExtError> {
    let body = datagram
        .strip_prefix(&MAGIC)
        .ok_or(ExtError::NotExtension)?;
    let (&kind, body) = body.split_first().ok_or(ExtError::NotExtension)?;
    match kind {
        b'Q' => {
            let text = core::str::from_utf8(body).map_err(|_| ExtError::BadQuery)?;
            let mut name = Name::new();
            name.push_str(text).map_err(|_| ExtError::BadQuery)?;
            Ok(Message::Query(name))
        }
        b'A' => advert::decode(body)
            .map(Message::Answer)
            .map_err(ExtError::Advert),
        b'B' => advert::decode(body)
            .map(Message::Goodbye)
            .map_err(ExtError::Advert),
        other => Err(ExtError::UnknownKind(other)),
    }
}

/// Writes the header for `kind` (`b'Q'`, `b'A'`, `b'B'`) and returns the
/// body part of `buf`, or `None` if `buf` is shorter than the header.
pub(crate) fn write_header(kind: u8, buf: &mut [u8]) -> Option<&mut [u8]> {
    let (header, body) = buf.split_at_mut_checked(HEADER_LEN)?;
    header[..4].copy_from_slice(&MAGIC);
    header[4] = kind;
    Some(body)
}

/// Writes a query for `name` (empty: every name); returns its length.
pub fn encode_query(name: &str, buf: &mut [u8]) -> Option<usize> {
    if name.len() > MAX_NAME {
        return None;
    }
    let body = write_header(b'Q', buf)?;
    body.get_mut(..name.len())?.copy_from_slice(name.as_bytes());
    Some(HEADER_LEN + name.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[test]
    fn round_trips() {
        let mut buf = [0u8; MAX_EXT_DATAGRAM];
        let n = encode_query("robot", &mut buf).unwrap();
        assert_eq!(&buf[..n], b"NW0\x01Qrobot");
        assert_eq!(
            decode(&buf[..n]),
            Ok(Message::Query(Name::try_from("robot").unwrap()))
        );
        let n = encode_query("", &mut buf).unwrap();
        assert_eq!(decode(&buf[..n]), Ok(Message::Query(Name::new())));

        let body = write_header(b'B', &mut buf).unwrap();
        let len = advert::encode("x", "1.2.3.4:5".parse().unwrap(), Duration::ZERO, body).unwrap();
        match decode(&buf[..HEADER_LEN + len]) {
            Ok(Message::Goodbye(a)) => assert_eq!(a.name, "x"),
            other => panic!("{other:?}"),
        }
    }

    /// `MAX_EXT_DATAGRAM` is exactly the longest datagram `decode` takes: an
    /// answer carrying a full 256-byte advert (the longest name, the shortest
    /// rest) fills it, and one byte more is refused. Receivers size their
    /// buffers from it, so it must be neither short (a valid answer cut off)
    /// nor loose (RAM a board does not have).
    #[test]
    fn the_longest_answer_fills_max_ext_datagram() {
        let name = "n".repeat(MAX_NAME);
        let mut datagram = std::vec::Vec::from(*b"NW0\x01A");
        datagram.extend_from_slice(format!("[\"{name}\", \"1.2.3.4:1\", 0]").as_bytes());
        assert_eq!(datagram.len(), MAX_EXT_DATAGRAM);
        match decode(&datagram) {
            Ok(Message::Answer(a)) => assert_eq!(a.name, name.as_str()),
            other => panic!("{other:?}"),
        }
        datagram.insert(HEADER_LEN + 1, b' ');
        assert_eq!(
            decode(&datagram),
            Err(ExtError::Advert(DecodeError::TooLong))
        );
    }

    /// A query may name the longest name an advert can carry, and no longer.
    #[test]
    fn a_query_for_the_longest_name_goes_out() {
        let mut buf = [0u8; MAX_EXT_DATAGRAM];
        let name = "q".repeat(MAX_NAME);
        let n = encode_query(&name, &mut buf).expect("the longest name fits");
        assert_eq!(n, HEADER_LEN + MAX_NAME);
        assert_eq!(
            decode(&buf[..n]),
            Ok(Message::Query(Name::try_from(name.as_str()).unwrap()))
        );
    }

    #[test]
    fn rejects_strangers() {
        assert_eq!(
            decode(b"[\"a\", \"1.2.3.4:5\", 2]"),
            Err(ExtError::NotExtension)
        );
        assert_eq!(decode(b"NW0\x02Qx"), Err(ExtError::NotExtension));
        assert_eq!(decode(b"NW0\x01"), Err(ExtError::NotExtension));
        assert_eq!(decode(b"NW0\x01Zx"), Err(ExtError::UnknownKind(b'Z')));
        assert_eq!(decode(b"NW0\x01Q\xff"), Err(ExtError::BadQuery));
        assert_eq!(
            decode(b"NW0\x01Aoops"),
            Err(ExtError::Advert(DecodeError::NotAnAdvert))
        );
        let long = [b'x'; MAX_NAME + 1];
        let mut buf = [0u8; 300];
        assert_eq!(
            encode_query(core::str::from_utf8(&long).unwrap(), &mut buf),
            None
        );
    }
}
