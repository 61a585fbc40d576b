//! News kept for the call that asks for it ([`Backlog`]), and the byte
//! comparisons a news loop makes per item.

use std::collections::VecDeque;

use log::warn;

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
/// past [`NEWS_HIGH_WATER_MARK`] items the oldest go, with a warning. Data
/// is kept as it came (JSON or postcard): the call that takes it reads it
/// as the type it asks for.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    items: VecDeque<Item>,
    dropped: u64,
}

/// A news item: its topic, and its data's bytes.
pub(crate) type Item = (String, Vec<u8>);

/// A news message's data: its second part, or `null` (JSON) if it has none.
pub(crate) fn data(parts: &[Vec<u8>]) -> &[u8] {
    parts.get(1).map_or(b"null", Vec::as_slice)
}

impl Backlog {
    /// The oldest kept item on a topic that starts with `prefix`. Inlined
    /// to the empty check, the usual case: a news loop on one prefix
    /// keeps nothing, and calling for that cost ~20 instructions an item.
    #[inline]
    pub(crate) fn take(&mut self, prefix: &str) -> Option<Item> {
        if self.items.is_empty() {
            return None;
        }
        self.take_kept(prefix)
    }

    #[inline(never)]
    fn take_kept(&mut self, prefix: &str) -> Option<Item> {
        let i = self.items.iter().position(|(t, _)| has_prefix(t, prefix))?;
        self.items.remove(i)
    }

    /// A received news message (`[topic, data]`): its topic if it is on
    /// `prefix` (its data is [`data`]`(parts)`); `None` if it was kept for
    /// another prefix. What is kept (the topic, and a kept item's data) is
    /// copied at its own size: the parts' buffers go back to the socket
    /// for reuse (a small part may have come in a large buffer).
    pub(crate) fn sort(
        &mut self,
        parts: &[Vec<u8>],
        prefix: &str,
        address: Address,
    ) -> Option<String> {
        let topic = String::from_utf8_lossy(parts.first()?).into_owned();
        if has_prefix(&topic, prefix) {
            return Some(topic);
        }
        let data = data(parts).to_vec();
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

    fn item(topic: &str, n: i64) -> Option<Item> {
        Some((topic.into(), n.to_string().into_bytes()))
    }

    /// What `sort` hands its caller: the topic and the data, if on `prefix`.
    fn sort(b: &mut Backlog, parts: Vec<Vec<u8>>, prefix: &str, at: Address) -> Option<Item> {
        let topic = b.sort(&parts, prefix, at)?;
        Some((topic, data(&parts).to_vec()))
    }

    #[test]
    fn news_for_another_prefix_is_kept_in_order() {
        let at: Address = "127.0.0.1:5556".parse().unwrap();
        let mut b = Backlog::default();
        assert_eq!(sort(&mut b, news("wind", 1), "temp", at), None);
        assert_eq!(sort(&mut b, news("wind", 2), "temp", at), None);
        assert_eq!(sort(&mut b, news("temp", 3), "temp", at), item("temp", 3));
        // kept as they came, to be read as whatever type the taker asks for
        let postcard = vec![b"wind".to_vec(), vec![0xFF, 7]];
        assert_eq!(sort(&mut b, postcard, "temp", at), None);
        assert_eq!(
            sort(&mut b, vec![b"temp".to_vec()], "", at),
            Some(("temp".into(), b"null".to_vec())),
            "no data part: null"
        );
        assert_eq!(b.take("temp"), None);
        assert_eq!(b.take("wi"), item("wind", 1));
        assert_eq!(b.take(""), item("wind", 2));
        assert_eq!(b.take(""), Some(("wind".into(), vec![0xFF, 7])));
        assert_eq!(b.take(""), None);
    }

    #[test]
    fn the_backlog_is_bounded() {
        let at: Address = "127.0.0.1:5556".parse().unwrap();
        let mut b = Backlog::default();
        for n in 0..1500 {
            assert_eq!(sort(&mut b, news("other", n), "mine", at), None);
        }
        assert_eq!(b.items.len(), NEWS_HIGH_WATER_MARK as usize);
        assert_eq!(
            b.dropped, 500,
            "counted, so that only the first is warned of"
        );
        assert_eq!(b.take(""), item("other", 500), "the oldest went");
    }

    #[test]
    fn same_bytes_is_equality() {
        assert!(same_bytes(b"", b""));
        assert!(same_bytes(b"temp", b"temp"));
        assert!(!same_bytes(b"temp", b"wind"), "same length, other bytes");
        assert!(!same_bytes(b"temp", b"tempo"));
        assert!(!same_bytes(b"", b"t"));
    }
}
