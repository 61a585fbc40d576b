//! ZMTP command bodies: `name-size(1) name data`.
//!
//! | command     | data                                             |
//! |-------------|--------------------------------------------------|
//! | `READY`     | properties: `name-size(1) name value-size(4) value`… |
//! | `ERROR`     | `reason-size(1) reason`                          |
//! | `SUBSCRIBE` | the topic (ZMTP 3.1)                             |
//! | `CANCEL`    | the topic (ZMTP 3.1)                             |
//! | `PING`      | `ttl(2, deciseconds) context(0..=16)`            |
//! | `PONG`      | the PING's context                               |
//!
//! Parsing is iterative and bounds-checked; a [`Properties`] list is fully
//! validated by [`Command::parse`], so iterating it afterwards cannot fail.

use super::error::ZmtpError;

/// Longest PING context a peer may send (ZMTP 3.1); longer ones are truncated.
pub const MAX_PING_CONTEXT: usize = 16;

/// A parsed command body, borrowing its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Command<'a> {
    /// `READY` with its metadata.
    Ready(Properties<'a>),
    /// `ERROR` with its reason.
    Error(&'a [u8]),
    /// `SUBSCRIBE` (ZMTP 3.1) with its topic.
    Subscribe(&'a [u8]),
    /// `CANCEL` (ZMTP 3.1) with its topic.
    Cancel(&'a [u8]),
    /// `PING` with the sender's TTL in deciseconds and a context to echo.
    Ping {
        /// Time to live in tenths of a second (0: none).
        ttl_ds: u16,
        /// Context bytes the PONG must echo (up to 16 are echoed).
        context: &'a [u8],
    },
    /// `PONG` echoing a PING's context.
    Pong(&'a [u8]),
    /// A command this engine does not know (ignored after the handshake).
    Other {
        /// The command name.
        name: &'a [u8],
        /// Its data.
        data: &'a [u8],
    },
}

/// READY metadata, validated: `name-size(1) name value-size(4, BE) value`…
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Properties<'a> {
    raw: &'a [u8],
}

impl<'a> Properties<'a> {
    /// Validate a property list.
    pub fn parse(raw: &'a [u8]) -> Result<Properties<'a>, ZmtpError> {
        let mut it = PropertyIter { rest: raw };
        while !it.rest.is_empty() {
            if it.step().is_none() {
                return Err(ZmtpError::MalformedMetadata);
            }
        }
        Ok(Properties { raw })
    }

    /// The raw encoded list.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Iterate `(name, value)` pairs.
    pub fn iter(&self) -> PropertyIter<'a> {
        PropertyIter { rest: self.raw }
    }

    /// The value of the first property whose name matches `name`
    /// ASCII-case-insensitively (ZMTP property names are case-insensitive).
    pub fn get(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Encode properties into `out`; returns the length written.
    pub fn encode(out: &mut [u8], props: &[(&[u8], &[u8])]) -> Result<usize, ZmtpError> {
        let mut pos = 0usize;
        for (name, value) in props {
            let nl = u8::try_from(name.len()).map_err(|_| ZmtpError::MalformedMetadata)?;
            let vl = u32::try_from(value.len()).map_err(|_| ZmtpError::MalformedMetadata)?;
            put(out, &mut pos, &[nl])?;
            put(out, &mut pos, name)?;
            put(out, &mut pos, &vl.to_be_bytes())?;
            put(out, &mut pos, value)?;
        }
        Ok(pos)
    }

    /// Bytes [`encode`](Self::encode) needs.
    pub fn encoded_len(props: &[(&[u8], &[u8])]) -> usize {
        props.iter().map(|(n, v)| 5 + n.len() + v.len()).sum()
    }
}

/// Iterator over a validated property list.
#[derive(Debug, Clone)]
pub struct PropertyIter<'a> {
    rest: &'a [u8],
}

impl<'a> PropertyIter<'a> {
    fn step(&mut self) -> Option<(&'a [u8], &'a [u8])> {
        let (&nl, r) = self.rest.split_first()?;
        let nl = usize::from(nl);
        if nl == 0 {
            return None;
        }
        let name = r.get(..nl)?;
        let r = r.get(nl..)?;
        let vl = u32::from_be_bytes(<[u8; 4]>::try_from(r.get(..4)?).ok()?);
        let vl = usize::try_from(vl).ok()?;
        let r = r.get(4..)?;
        let value = r.get(..vl)?;
        self.rest = r.get(vl..)?;
        Some((name, value))
    }
}

impl<'a> Iterator for PropertyIter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.step();
        if r.is_none() {
            self.rest = &[];
        }
        r
    }
}

fn put(out: &mut [u8], pos: &mut usize, bytes: &[u8]) -> Result<(), ZmtpError> {
    let end = pos.checked_add(bytes.len()).ok_or(ZmtpError::Truncated)?;
    out.get_mut(*pos..end)
        .ok_or(ZmtpError::Truncated)?
        .copy_from_slice(bytes);
    *pos = end;
    Ok(())
}

impl<'a> Command<'a> {
    /// Parse a command frame body.
    pub fn parse(body: &'a [u8]) -> Result<Command<'a>, ZmtpError> {
        let (&nl, rest) = body.split_first().ok_or(ZmtpError::MalformedCommand)?;
        let nl = usize::from(nl);
        let name = rest.get(..nl).ok_or(ZmtpError::MalformedCommand)?;
        let data = rest.get(nl..).ok_or(ZmtpError::MalformedCommand)?;
        Ok(match name {
            b"READY" => Command::Ready(Properties::parse(data)?),
            b"ERROR" => {
                let (&rl, r) = data.split_first().ok_or(ZmtpError::MalformedCommand)?;
                Command::Error(
                    r.get(..usize::from(rl))
                        .ok_or(ZmtpError::MalformedCommand)?,
                )
            }
            b"SUBSCRIBE" => Command::Subscribe(data),
            b"CANCEL" => Command::Cancel(data),
            b"PING" => {
                let ttl = data.get(..2).and_then(|t| <[u8; 2]>::try_from(t).ok());
                Command::Ping {
                    ttl_ds: u16::from_be_bytes(ttl.ok_or(ZmtpError::MalformedCommand)?),
                    context: data.get(2..).unwrap_or(&[]),
                }
            }
            b"PONG" => Command::Pong(data),
            _ => Command::Other { name, data },
        })
    }

    fn name(&self) -> &'a [u8] {
        match self {
            Command::Ready(_) => b"READY",
            Command::Error(_) => b"ERROR",
            Command::Subscribe(_) => b"SUBSCRIBE",
            Command::Cancel(_) => b"CANCEL",
            Command::Ping { .. } => b"PING",
            Command::Pong(_) => b"PONG",
            Command::Other { name, .. } => name,
        }
    }

    /// Bytes [`emit`](Self::emit) writes (the frame body, without header).
    pub fn buffer_len(&self) -> usize {
        1 + self.name().len()
            + match self {
                Command::Ready(p) => p.raw.len(),
                Command::Error(r) => 1 + r.len().min(255),
                Command::Subscribe(t) | Command::Cancel(t) => t.len(),
                Command::Ping { context, .. } => 2 + context.len().min(MAX_PING_CONTEXT),
                Command::Pong(c) => c.len().min(MAX_PING_CONTEXT),
                Command::Other { data, .. } => data.len(),
            }
    }

    /// Encode the command body into `out` (ERROR reasons are cut to 255
    /// bytes, PING/PONG contexts to 16). Returns the length written.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, ZmtpError> {
        let name = self.name();
        let nl = u8::try_from(name.len()).map_err(|_| ZmtpError::MalformedCommand)?;
        if out.len() < self.buffer_len() {
            return Err(ZmtpError::Truncated);
        }
        let mut pos = 0;
        put(out, &mut pos, &[nl])?;
        put(out, &mut pos, name)?;
        match self {
            Command::Ready(p) => put(out, &mut pos, p.raw)?,
            Command::Error(r) => {
                let r = r.get(..255).unwrap_or(r);
                put(out, &mut pos, &[r.len() as u8])?;
                put(out, &mut pos, r)?;
            }
            Command::Subscribe(t) | Command::Cancel(t) => put(out, &mut pos, t)?,
            Command::Ping { ttl_ds, context } => {
                put(out, &mut pos, &ttl_ds.to_be_bytes())?;
                put(
                    out,
                    &mut pos,
                    context.get(..MAX_PING_CONTEXT).unwrap_or(context),
                )?;
            }
            Command::Pong(c) => put(out, &mut pos, c.get(..MAX_PING_CONTEXT).unwrap_or(c))?,
            Command::Other { data, .. } => put(out, &mut pos, data)?,
        }
        Ok(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NULL READY from libzmq 4.3.5 REQ: Socket-Type REQ, empty Identity.
    const READY_REQ: &[u8] =
        b"\x05READY\x0bSocket-Type\x00\x00\x00\x03REQ\x08Identity\x00\x00\x00\x00";

    #[test]
    fn parse_ready() {
        match Command::parse(READY_REQ) {
            Ok(Command::Ready(p)) => {
                assert_eq!(p.get(b"socket-type"), Some(&b"REQ"[..]));
                assert_eq!(p.get(b"Identity"), Some(&b""[..]));
                assert_eq!(p.iter().count(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn encode_ready_round_trip() {
        let mut props = [0u8; 64];
        let n = Properties::encode(&mut props, &[(b"Socket-Type", b"REQ"), (b"Identity", b"")])
            .unwrap();
        let cmd = Command::Ready(Properties::parse(&props[..n]).unwrap());
        let mut out = [0u8; 64];
        let m = cmd.emit(&mut out).unwrap();
        assert_eq!(&out[..m], READY_REQ);
        assert_eq!(cmd.buffer_len(), m);
    }

    /// A caller sizes a property list by `encoded_len` before `encode`
    /// writes it: the two agree, and the parsed list hands back exactly
    /// those bytes as `raw`.
    #[test]
    fn encoded_len_is_what_encode_writes() {
        let long = [7u8; 300];
        let ready: &[(&[u8], &[u8])] = &[(b"Socket-Type", b"SUB"), (b"Identity", b"")];
        let big: &[(&[u8], &[u8])] = &[(b"Socket-Type", b"PUB"), (b"X-Long", &long)];
        for props in [&[][..], ready, big] {
            let mut out = [0u8; 400];
            let n = Properties::encode(&mut out, props).unwrap();
            assert_eq!(Properties::encoded_len(props), n, "{props:?}");
            let raw = out.get(..n).unwrap();
            assert_eq!(Properties::parse(raw).unwrap().raw(), raw);
        }
    }

    #[test]
    fn subscribe_ping_error() {
        assert_eq!(
            Command::parse(b"\x09SUBSCRIBEdata"),
            Ok(Command::Subscribe(b"data"))
        );
        assert_eq!(Command::parse(b"\x06CANCEL"), Ok(Command::Cancel(b"")));
        assert_eq!(
            Command::parse(b"\x04PING\x00\x64ctx"),
            Ok(Command::Ping {
                ttl_ds: 100,
                context: b"ctx"
            })
        );
        assert_eq!(
            Command::parse(b"\x04PING\x00"),
            Err(ZmtpError::MalformedCommand)
        );
        assert_eq!(
            Command::parse(b"\x05ERROR\x03bad"),
            Ok(Command::Error(b"bad"))
        );
        assert_eq!(
            Command::parse(b"\x05ERROR\x09bad"),
            Err(ZmtpError::MalformedCommand)
        );
        assert_eq!(Command::parse(b""), Err(ZmtpError::MalformedCommand));
        assert_eq!(
            Command::parse(b"\x09SUBSCR"),
            Err(ZmtpError::MalformedCommand)
        );
    }

    #[test]
    fn malformed_properties() {
        assert_eq!(
            Command::parse(b"\x05READY\x0bSocket-Type\x00\x00\x00\x09REQ"),
            Err(ZmtpError::MalformedMetadata)
        );
        assert_eq!(
            Command::parse(b"\x05READY\x00\x00\x00\x00\x00"),
            Err(ZmtpError::MalformedMetadata)
        );
        assert_eq!(
            Command::parse(b"\x05READY\x01a\xff\xff\xff\xff"),
            Err(ZmtpError::MalformedMetadata)
        );
    }

    #[test]
    fn pong_truncates_context() {
        let ctx = [9u8; 40];
        let mut out = [0u8; 64];
        let n = Command::Pong(&ctx).emit(&mut out).unwrap();
        assert_eq!(n, 5 + 16);
        // …and parses back as a PONG (answering no PING), not as another command.
        assert_eq!(Command::parse(&out[..n]), Ok(Command::Pong(&ctx[..16])));
        assert_eq!(Command::parse(b"\x04PONG"), Ok(Command::Pong(b"")));
    }

    #[test]
    fn buffer_len_is_what_emit_writes() {
        // A caller sizes its output by buffer_len; emit refuses a shorter
        // buffer up front, so a wrong count refuses a command that fits.
        let long = [7u8; 300];
        let mut props = [0u8; 64];
        let n = Properties::encode(&mut props, &[(b"Socket-Type", b"SUB")]).unwrap();
        let commands = [
            Command::Ready(Properties::parse(&props[..n]).unwrap()),
            Command::Error(b"bad"),
            Command::Error(&long),
            Command::Subscribe(b"topic"),
            Command::Cancel(b""),
            Command::Ping {
                ttl_ds: 100,
                context: b"ctx",
            },
            Command::Ping {
                ttl_ds: 0,
                context: &long,
            },
            Command::Pong(b"c"),
            Command::Pong(&long),
            Command::Other {
                name: b"X-MINE",
                data: b"data",
            },
        ];
        for cmd in commands {
            let mut out = [0u8; 320];
            let written = cmd.emit(&mut out).unwrap();
            assert_eq!(cmd.buffer_len(), written, "{cmd:?}");
            assert_eq!(cmd.emit(&mut out[..written]), Ok(written), "{cmd:?}");
        }
    }
}
