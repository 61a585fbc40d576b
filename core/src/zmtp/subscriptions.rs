//! A fixed-capacity multiset of subscription prefixes (no heap, no recursion).
//!
//! Entries are packed as `len(1) refcount(1) topic` in one array; like
//! libzmq's trie, subscribing twice needs two cancels.

/// Bytes of packed storage per connection, unless the connection's type
/// says otherwise ([`super::Connection::with_subscription_store`]).
pub const SUBSCRIPTION_STORE: usize = 1024;
/// Longest topic the store can hold.
pub const MAX_TOPIC_LEN: usize = 255;

#[derive(Debug, Clone)]
pub(crate) struct Subscriptions<const N: usize = SUBSCRIPTION_STORE> {
    buf: [u8; N],
    used: usize,
    count: usize,
}

/// Outcome of adding a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddError {
    TooLong,
    Full,
}

impl<const N: usize> Subscriptions<N> {
    pub(crate) const fn new() -> Self {
        Subscriptions {
            buf: [0; N],
            used: 0,
            count: 0,
        }
    }

    /// Number of distinct topics.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    fn used(&self) -> &[u8] {
        self.buf.get(..self.used).unwrap_or(&[])
    }

    /// Iterate `(offset, topic)` pairs.
    pub(crate) fn iter(&self) -> SubIter<'_> {
        SubIter {
            store: self.used(),
            pos: 0,
        }
    }

    fn find(&self, topic: &[u8]) -> Option<usize> {
        self.iter().find(|(_, t)| *t == topic).map(|(off, _)| off)
    }

    /// Add one reference to `topic`; `Ok(true)` if it is new.
    pub(crate) fn add(&mut self, topic: &[u8], max_count: usize) -> Result<bool, AddError> {
        if topic.len() > MAX_TOPIC_LEN {
            return Err(AddError::TooLong);
        }
        if let Some(off) = self.find(topic) {
            if let Some(rc) = self.buf.get_mut(off + 1) {
                *rc = rc.saturating_add(1);
            }
            return Ok(false);
        }
        let need = topic.len() + 2;
        if self.count >= max_count || self.used + need > N {
            return Err(AddError::Full);
        }
        let dst = self
            .buf
            .get_mut(self.used..self.used + need)
            .ok_or(AddError::Full)?;
        let (hdr, body) = dst.split_at_mut(2);
        hdr.copy_from_slice(&[topic.len() as u8, 1]);
        body.copy_from_slice(topic);
        self.used += need;
        self.count += 1;
        Ok(true)
    }

    /// Drop one reference; `true` if the topic is now gone.
    pub(crate) fn remove(&mut self, topic: &[u8]) -> bool {
        let Some(off) = self.find(topic) else {
            return false;
        };
        let rc = self.buf.get(off + 1).copied().unwrap_or(1);
        if rc > 1 {
            if let Some(r) = self.buf.get_mut(off + 1) {
                *r = rc - 1;
            }
            return false;
        }
        let len = topic.len() + 2;
        self.buf.copy_within(off + len..self.used, off);
        self.used -= len;
        self.count -= 1;
        true
    }

    /// References held on `topic` (0 if absent).
    pub(crate) fn refs(&self, topic: &[u8]) -> u8 {
        self.find(topic)
            .and_then(|off| self.buf.get(off + 1).copied())
            .unwrap_or(0)
    }

    /// Whether the store holds exactly `topic`.
    pub(crate) fn contains(&self, topic: &[u8]) -> bool {
        self.find(topic).is_some()
    }

    /// Whether some subscription is a prefix of `data`.
    pub(crate) fn matches(&self, data: &[u8]) -> bool {
        self.iter().any(|(_, t)| data.starts_with(t))
    }
}

pub(crate) struct SubIter<'a> {
    store: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for SubIter<'a> {
    type Item = (usize, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let off = self.pos;
        let len = usize::from(*self.store.get(off)?);
        let topic = self.store.get(off + 2..off + 2 + len)?;
        self.pos = off + 2 + len;
        Some((off, topic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiset_and_prefix() {
        let mut s: Subscriptions = Subscriptions::new();
        assert_eq!(s.add(b"data", 4), Ok(true));
        assert_eq!(s.add(b"data", 4), Ok(false));
        assert_eq!(s.refs(b"data"), 2);
        assert_eq!(s.add(b"", 4), Ok(true));
        assert_eq!(s.refs(b""), 1);
        assert_eq!(s.refs(b"dat"), 0);
        assert!(s.matches(b"anything"));
        assert!(s.remove(b""));
        assert!(s.matches(b"data.temp"));
        assert!(!s.matches(b"dat"));
        assert!(!s.remove(b"data"));
        assert_eq!(s.refs(b"data"), 1);
        assert!(s.matches(b"data"));
        assert!(s.remove(b"data"));
        assert!(!s.matches(b"data"));
        assert_eq!(s.len(), 0);
        assert!(!s.remove(b"nope"));
    }

    #[test]
    fn limits() {
        let mut s: Subscriptions = Subscriptions::new();
        assert_eq!(s.add(&[0u8; 256], 4), Err(AddError::TooLong));
        for i in 0..4u8 {
            assert_eq!(s.add(&[i], 4), Ok(true));
        }
        assert_eq!(s.add(b"x", 4), Err(AddError::Full));
        let mut s: Subscriptions = Subscriptions::new();
        for i in 0..3u8 {
            assert_eq!(s.add(&[i; 255], 100), Ok(true));
        }
        assert_eq!(s.add(&[9; 255], 100), Err(AddError::Full));
        assert!(s.contains(&[1; 255]));
        // A topic that fills the store exactly fits; one byte more does not.
        let mut s: Subscriptions<8> = Subscriptions::new();
        assert_eq!(s.add(&[1; 7], 4), Err(AddError::Full));
        assert_eq!(s.add(&[1; 6], 4), Ok(true));
        assert_eq!(s.add(b"", 4), Err(AddError::Full));
    }
}
