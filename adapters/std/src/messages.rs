//! What both transports share: the message rules of Python networkzero
//! (JSON payloads, commands acknowledged with "ack", news as topic + JSON),
//! the limits, and the functions built only on the transport's own
//! `send_message`, `wait_for_message` and `send_reply`.

use std::collections::VecDeque;
use std::time::Duration;

use log::warn;
use serde::Serialize;
use serde_json::Value;

use crate::address::{Address, ToAddress};
use crate::error::{Error, Result};
use crate::sockets::{send_message, send_reply, wait_for_message};
use crate::wait::Wait;

/// The reply a command gets, as in Python networkzero's design.
pub const COMMAND_ACK: &str = "ack";

/// How long [`send_command`] waits for its acknowledgement.
pub const COMMAND_WAIT_S: f64 = 5.0;

/// Largest message we accept from the network, 16 MiB (libzmq's default is
/// unlimited): a peer cannot make us allocate without bound.
pub const MAX_MESSAGE: i64 = 16 * 1024 * 1024;

/// News items queued per subscriber before the newest are dropped (libzmq's
/// high-water mark): a slow subscriber cannot grow the publisher's memory.
pub const NEWS_HIGH_WATER_MARK: i32 = 1000;

/// How long the first `publish_news` on an address waits for subscribers to
/// connect: news sent before a subscriber has connected is dropped, and
/// programs already waiting retry their connection every 100–200 ms.
pub const FIRST_NEWS_DELAY: Duration = Duration::from_millis(300);

/// A message as its JSON bytes, refusing what no peer would accept.
pub(crate) fn to_json(message: &(impl Serialize + ?Sized)) -> Result<Vec<u8>> {
    let bytes = serde_json::to_vec(message).map_err(|e| Error::BadMessage {
        reason: e.to_string(),
    })?;
    if bytes.len() as i64 > MAX_MESSAGE {
        return Err(Error::BadMessage {
            reason: format!("it is {} bytes; the most is {MAX_MESSAGE}", bytes.len()),
        });
    }
    Ok(bytes)
}

/// Whether two byte strings are equal. Empty ones are told apart by length
/// alone: Rust compares them with `memcmp(p, q, 0)`, and glibc's AVX-512
/// `memcmp` then does a fully masked load from the empty slice's dangling
/// pointer (0x1), which costs a microcode assist, 150–250 ns measured: more
/// than the rest of receiving a news item.
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// Whether `topic` starts with `prefix`; `""`, the usual prefix, without a
/// byte comparison (see [`same_bytes`]).
fn has_prefix(topic: &str, prefix: &str) -> bool {
    prefix.is_empty() || topic.starts_with(prefix)
}

/// News a subscriber socket received on a topic the waiting call did not ask
/// for. A socket keeps every prefix it was ever asked for (as libzmq and
/// Python networkzero do), so a program that alternates
/// `wait_for_news(a, "temp")` and `wait_for_news(a, "wind")` receives both
/// kinds on each call. Python hands whatever comes next to either call; we
/// give each call only its own topics and keep the others here for the call
/// that asks for them, so nothing is lost. Bounded like the socket's queue:
/// past [`NEWS_HIGH_WATER_MARK`] items the oldest go, with a warning.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    items: VecDeque<(String, Value)>,
    dropped: u64,
}

impl Backlog {
    /// The oldest kept item on a topic that starts with `prefix`.
    pub(crate) fn take(&mut self, prefix: &str) -> Option<(String, Value)> {
        let i = self.items.iter().position(|(t, _)| has_prefix(t, prefix))?;
        self.items.remove(i)
    }

    /// A received news message (`[topic, JSON]`) as `(topic, data)` if it is
    /// on `prefix`; `None` if it was kept for another prefix, or skipped
    /// because its data is not JSON (warned about).
    pub(crate) fn sort(
        &mut self,
        parts: &[Vec<u8>],
        prefix: &str,
        address: Address,
    ) -> Option<(String, Value)> {
        let topic = parts.first()?;
        let topic = String::from_utf8_lossy(topic).into_owned();
        let data = match parts.get(1) {
            None => Value::Null,
            Some(bytes) => match serde_json::from_slice(bytes) {
                Ok(v) => v,
                Err(e) => {
                    warn!("news on '{topic}' from {address} was not JSON ({e}); skipped");
                    return None;
                }
            },
        };
        if has_prefix(&topic, prefix) {
            return Some((topic, data));
        }
        if self.items.len() >= NEWS_HIGH_WATER_MARK as usize {
            self.items.pop_front();
            if self.dropped == 0 {
                warn!(
                    "news from {address} on topics no call is waiting for has piled up to \
                     {NEWS_HIGH_WATER_MARK} items; the oldest are dropped: wait for their \
                     prefix (or \"\" for every topic) to take them"
                );
            }
            self.dropped += 1;
        }
        self.items.push_back((topic, data));
        None
    }
}

/// Sends a command and waits up to 5 s for its acknowledgement. Returns
/// whether it was acknowledged; warns if not.
pub fn send_command(address: impl ToAddress, command: impl Serialize) -> Result<bool> {
    send_command_within(address, command, COMMAND_WAIT_S)
}

/// [`send_command`] with your own wait for the acknowledgement.
pub fn send_command_within(
    address: impl ToAddress,
    command: impl Serialize,
    wait: impl Into<Wait>,
) -> Result<bool> {
    let address = address.to_address()?;
    match send_message(address, command, wait)? {
        Some(Value::String(ack)) if ack == COMMAND_ACK => Ok(true),
        Some(other) => {
            warn!(
                "the command to {address} was answered with {other} instead of \"{COMMAND_ACK}\": \
                 is the program there using wait_for_command?"
            );
            Ok(false)
        }
        None => Ok(false),
    }
}

/// Waits for a command at `address` and acknowledges it automatically.
pub fn wait_for_command(address: impl ToAddress, wait: impl Into<Wait>) -> Result<Option<Value>> {
    let address = address.to_address()?;
    let command = wait_for_message(address, wait)?;
    if command.is_some() {
        send_reply(address, COMMAND_ACK)?;
    }
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn news(topic: &str, n: i64) -> Vec<Vec<u8>> {
        vec![topic.as_bytes().to_vec(), n.to_string().into_bytes()]
    }

    #[test]
    fn news_for_another_prefix_is_kept_in_order() {
        let at: Address = "127.0.0.1:5556".parse().unwrap();
        let mut b = Backlog::default();
        assert_eq!(b.sort(&news("wind", 1), "temp", at), None);
        assert_eq!(b.sort(&news("wind", 2), "temp", at), None);
        assert_eq!(
            b.sort(&news("temp", 3), "temp", at),
            Some(("temp".into(), 3.into()))
        );
        assert_eq!(
            b.sort(&[b"temp".to_vec(), b"{".to_vec()], "", at),
            None,
            "not JSON"
        );
        assert_eq!(b.take("temp"), None);
        assert_eq!(b.take("wi"), Some(("wind".into(), 1.into())));
        assert_eq!(b.take(""), Some(("wind".into(), 2.into())));
        assert_eq!(b.take(""), None);
    }

    #[test]
    fn the_backlog_is_bounded() {
        let at: Address = "127.0.0.1:5556".parse().unwrap();
        let mut b = Backlog::default();
        for n in 0..1500 {
            assert_eq!(b.sort(&news("other", n), "mine", at), None);
        }
        assert_eq!(b.items.len(), NEWS_HIGH_WATER_MARK as usize);
        assert_eq!(
            b.take(""),
            Some(("other".into(), 500.into())),
            "the oldest went"
        );
    }
}
