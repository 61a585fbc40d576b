//! The little JSON the beacon needs, written to match Python byte for byte.
//!
//! Python networkzero sends adverts with `json.dumps`, whose default
//! `ensure_ascii` escapes everything outside printable ASCII as `\uXXXX`
//! (lower-case hex, surrogate pairs above U+FFFF). [`write_str`] reproduces that
//! exactly; [`Cursor`] reads any valid JSON string, number or punctuation with
//! arbitrary whitespace, iteratively and without allocating.

use core::fmt::Write;

/// What went wrong while scanning JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// The text ended early.
    Truncated,
    /// A byte that is not allowed where it appeared.
    Unexpected,
    /// A bad `\` escape, a lone surrogate, or invalid UTF-8 in a string.
    BadString,
    /// A decoded string did not fit the caller's buffer.
    TooLong,
    /// A number that is malformed or out of range.
    BadNumber,
}

/// A position in JSON text.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Result<u8, JsonError> {
        let b = self.peek().ok_or(JsonError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// Skips JSON whitespace (space, tab, newline, carriage return).
    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Expects `byte` after optional whitespace.
    pub(crate) fn expect(&mut self, byte: u8) -> Result<(), JsonError> {
        self.skip_ws();
        match self.next()? {
            b if b == byte => Ok(()),
            _ => Err(JsonError::Unexpected),
        }
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos == self.bytes.len()
    }

    /// Expects the literal `null` after optional whitespace; `Ok(false)` if
    /// something else is there (nothing is consumed then).
    pub(crate) fn eat_null(&mut self) -> Result<bool, JsonError> {
        self.skip_ws();
        if self.peek() != Some(b'n') {
            return Ok(false);
        }
        match self.bytes.get(self.pos..self.pos + 4) {
            Some(b"null") => {
                self.pos += 4;
                Ok(true)
            }
            Some(_) => Err(JsonError::Unexpected),
            None => Err(JsonError::Truncated),
        }
    }

    /// Reads a JSON string into `out`, decoding escapes.
    pub(crate) fn string<const N: usize>(
        &mut self,
        out: &mut heapless::String<N>,
    ) -> Result<(), JsonError> {
        self.expect(b'"')?;
        out.clear();
        loop {
            // Copy the longest run of plain bytes in one go.
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            let run = self.bytes.get(start..self.pos).unwrap_or_default();
            let run = core::str::from_utf8(run).map_err(|_| JsonError::BadString)?;
            out.push_str(run).map_err(|_| JsonError::TooLong)?;
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => {
                    let c = self.escape()?;
                    out.push(c).map_err(|_| JsonError::TooLong)?;
                }
                _ => return Err(JsonError::BadString), // raw control character
            }
        }
    }

    fn escape(&mut self) -> Result<char, JsonError> {
        Ok(match self.next()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                match first {
                    0xD800..=0xDBFF => {
                        if self.next()? != b'\\' || self.next()? != b'u' {
                            return Err(JsonError::BadString);
                        }
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(JsonError::BadString);
                        }
                        let c = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                        char::from_u32(c).ok_or(JsonError::BadString)?
                    }
                    _ => char::from_u32(first).ok_or(JsonError::BadString)?,
                }
            }
            _ => return Err(JsonError::BadString),
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = (self.next()? as char)
                .to_digit(16)
                .ok_or(JsonError::BadString)?;
            value = value * 16 + digit;
        }
        Ok(value)
    }

    /// Reads a non-negative JSON number as thousandths (so `2.5` is 2500),
    /// rounding any further digits down. Exponents are refused.
    pub(crate) fn milli_number(&mut self) -> Result<u64, JsonError> {
        self.skip_ws();
        let mut whole: u64 = 0;
        let mut digits = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            if digits == 1 && whole == 0 {
                return Err(JsonError::BadNumber); // leading zero, as in "01"
            }
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u64::from(b - b'0')))
                .ok_or(JsonError::BadNumber)?;
            digits += 1;
            self.pos += 1;
        }
        if digits == 0 {
            return Err(if self.peek().is_none() {
                JsonError::Truncated
            } else {
                JsonError::BadNumber
            });
        }
        let mut milli = whole.checked_mul(1000).ok_or(JsonError::BadNumber)?;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            let mut scale = 100;
            let fraction = self.pos;
            while let Some(b @ b'0'..=b'9') = self.peek() {
                milli = milli
                    .checked_add(u64::from(b - b'0') * scale)
                    .ok_or(JsonError::BadNumber)?;
                scale /= 10;
                self.pos += 1;
            }
            if self.pos == fraction {
                // "1." is not JSON: a point needs a digit after it.
                return Err(JsonError::BadNumber);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            return Err(JsonError::BadNumber);
        }
        Ok(milli)
    }
}

/// Writes `text` as a JSON string exactly as Python's `json.dumps` does by
/// default: `"` and `\` escaped, `\n \r \t \b \f` in short form, every other
/// byte outside `' '..='~'` as lower-case `\uXXXX` (UTF-16 surrogate pairs
/// above U+FFFF).
pub(crate) fn write_str<W: Write>(out: &mut W, text: &str) -> core::fmt::Result {
    out.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            '\u{8}' => out.write_str("\\b")?,
            '\u{c}' => out.write_str("\\f")?,
            ' '..='~' => out.write_char(c)?,
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(out, "\\u{:04x}", unit)?;
                }
            }
        }
    }
    out.write_char('"')
}

/// Length of `text` once written by [`write_str`].
pub(crate) fn str_len(text: &str) -> usize {
    2 + text
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            ' '..='~' => 1,
            _ => 6 * c.len_utf16(),
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(s: &str) -> heapless::String<256> {
        let mut out = heapless::String::new();
        write_str(&mut out, s).unwrap();
        assert_eq!(out.len(), str_len(s));
        out
    }

    fn decode(json: &str) -> Result<heapless::String<64>, JsonError> {
        let mut out = heapless::String::new();
        Cursor::new(json.as_bytes()).string(&mut out).map(|_| out)
    }

    #[test]
    fn escapes_like_python_json_dumps() {
        // Expected strings produced by Python 3.11 json.dumps.
        assert_eq!(encode("echo"), r#""echo""#);
        assert_eq!(encode("café"), r#""caf\u00e9""#);
        assert_eq!(encode("ロボ"), r#""\u30ed\u30dc""#);
        assert_eq!(encode("😀"), r#""\ud83d\ude00""#);
        assert_eq!(encode("a\"b\\c/d"), r#""a\"b\\c/d""#);
        assert_eq!(
            encode("\n\r\t\u{8}\u{c}\u{1}\u{7f}"),
            r#""\n\r\t\b\f\u0001\u007f""#
        );
    }

    #[test]
    fn decodes_escapes_and_raw_utf8() {
        assert_eq!(decode(r#""caf\u00E9""#).unwrap(), "café");
        assert_eq!(decode(r#""café""#).unwrap(), "café");
        assert_eq!(decode(r#""\ud83d\ude00 \/""#).unwrap(), "😀 /");
        // Every short escape Python's json.dumps writes reads back as its character.
        assert_eq!(
            decode(r#""\"\\\/\b\f\n\r\t""#).unwrap(),
            "\"\\/\u{8}\u{c}\n\r\t"
        );
        assert_eq!(decode(r#""\ud83d""#), Err(JsonError::BadString));
        assert_eq!(decode(r#""\ude00""#), Err(JsonError::BadString));
        assert_eq!(decode(r#""\x""#), Err(JsonError::BadString));
        assert_eq!(decode("\"a\nb\""), Err(JsonError::BadString));
        assert_eq!(decode(r#""abc"#), Err(JsonError::Truncated));
        assert_eq!(decode(r#""\u12"#), Err(JsonError::Truncated));
        let long = "\"".to_string() + &"x".repeat(65) + "\"";
        assert_eq!(decode(&long), Err(JsonError::TooLong));
        let bad_utf8 = [b'"', 0xff, b'"'];
        let mut out = heapless::String::<8>::new();
        assert_eq!(
            Cursor::new(&bad_utf8).string(&mut out),
            Err(JsonError::BadString)
        );
    }

    #[test]
    fn numbers_in_thousandths() {
        let n = |s: &str| Cursor::new(s.as_bytes()).milli_number();
        assert_eq!(n("20"), Ok(20_000));
        assert_eq!(n(" 2.5"), Ok(2_500));
        assert_eq!(n("0.0015"), Ok(1));
        assert_eq!(n("0"), Ok(0));
        assert_eq!(n("01"), Err(JsonError::BadNumber));
        assert_eq!(n("-1"), Err(JsonError::BadNumber));
        assert_eq!(n("1e3"), Err(JsonError::BadNumber));
        assert_eq!(n("1."), Err(JsonError::BadNumber));
        assert_eq!(n("99999999999999999999"), Err(JsonError::BadNumber));
        assert_eq!(n(""), Err(JsonError::Truncated));
    }
}
