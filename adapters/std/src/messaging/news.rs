//! News kept for the call that asks for it ([`Backlog`]), and the byte
//! comparisons a news loop makes per item.

use std::collections::VecDeque;

use log::warn;
use serde_json::Value;

use crate::address::Address;
use crate::transport::NEWS_HIGH_WATER_MARK;

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
