//! Buffers of messages a caller has read, kept by its socket for the next
//! messages' parts ([`Spare`]), in both transports: in steady state a
//! message costs no allocation in the transport, only the copy out of the
//! connection's input (the pure-Rust engine's) or out of libzmq's message
//! (the caller owns what it gets). The pure transport also keeps the
//! payloads it sent (its engine copied them into its output) and hands
//! them out to be written into again ([`Spare::buffer`]).

/// Most buffers (and lists of parts) kept: a full inbox's worth twice
/// over, since news is delivered in bursts of up to a read's worth of
/// messages before its caller reads any.
const MAX_KEPT: usize = 2 * super::NEWS_HIGH_WATER_MARK as usize;

/// Most bytes of capacity kept, all buffers together: memory follows use,
/// so a burst of large messages does not stay held.
const MAX_BYTES: usize = 256 * 1024;

/// Largest buffer kept, and longest list of parts.
const MAX_BUFFER: usize = 64 * 1024;
const MAX_PARTS: usize = 4;

/// The buffers a socket keeps (see the module docs).
#[derive(Debug, Default)]
pub(in crate::transport) struct Spare {
    buffers: Vec<Vec<u8>>,
    lists: Vec<Vec<Vec<u8>>>,
    /// The buffers' capacity, together.
    bytes: usize,
}

impl Spare {
    /// `data` in a kept buffer, or in a new one.
    pub(in crate::transport) fn part(&mut self, data: &[u8]) -> Vec<u8> {
        let mut buffer = self.buffer();
        buffer.extend_from_slice(data);
        buffer
    }

    /// An empty buffer, kept or new.
    pub(in crate::transport) fn buffer(&mut self) -> Vec<u8> {
        let mut buffer = match self.buffers.pop() {
            Some(b) => {
                self.bytes -= b.capacity();
                b
            }
            None => Vec::new(),
        };
        buffer.clear();
        buffer
    }

    /// An empty list for a message's parts, kept or new.
    pub(in crate::transport) fn list(&mut self) -> Vec<Vec<u8>> {
        self.lists.pop().unwrap_or_default()
    }

    /// Keeps a read message's buffers and list, within the limits; frees
    /// the rest.
    pub(in crate::transport) fn keep(&mut self, mut parts: Vec<Vec<u8>>) {
        for buffer in parts.drain(..) {
            self.keep_buffer(buffer);
        }
        if self.lists.len() < MAX_KEPT && parts.capacity() <= MAX_PARTS {
            self.lists.push(parts);
        }
    }

    /// Keeps one buffer (a read part, or a payload sent by copying it),
    /// within the limits; frees it otherwise.
    pub(in crate::transport) fn keep_buffer(&mut self, buffer: Vec<u8>) {
        let size = buffer.capacity();
        if self.buffers.len() < MAX_KEPT
            && (1..=MAX_BUFFER).contains(&size)
            && self.bytes + size <= MAX_BYTES
        {
            self.bytes += size;
            self.buffers.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_buffer_is_reused_and_holds_only_the_new_bytes() {
        let mut spare = Spare::default();
        let first = spare.part(b"a long first message");
        let at = first.as_ptr();
        let mut list = spare.list();
        list.push(first);
        spare.keep(list);
        assert_eq!(spare.buffers.len(), 1);
        let second = spare.part(b"short");
        assert_eq!(second, b"short");
        assert_eq!(second.as_ptr(), at, "the same allocation");
        assert_eq!(spare.bytes, 0);
        assert!(spare.list().capacity() >= 1, "the list came back too");
    }

    #[test]
    fn a_sent_payload_is_kept_and_handed_out_empty() {
        let mut spare = Spare::default();
        let mut sent = Vec::with_capacity(128);
        sent.extend_from_slice(br#"{"i": 1}"#);
        let at = sent.as_ptr();
        spare.keep_buffer(sent);
        assert_eq!(spare.bytes, 128);
        let next = spare.buffer();
        assert!(next.is_empty(), "no old bytes");
        assert_eq!(next.as_ptr(), at, "the same allocation");
        assert_eq!(spare.bytes, 0);
        assert_eq!(spare.buffer().capacity(), 0, "none left: a new one");
    }

    #[test]
    fn what_is_kept_is_bounded() {
        let mut spare = Spare::default();
        // Too large to keep, and empty (nothing to reuse).
        spare.keep(vec![vec![0; MAX_BUFFER + 1], Vec::new()]);
        assert!(spare.buffers.is_empty());
        // Many small ones: up to MAX_KEPT, and MAX_BYTES together.
        for _ in 0..3 * MAX_KEPT {
            spare.keep(vec![vec![0; 200]]);
        }
        assert!(spare.buffers.len() <= MAX_KEPT);
        assert!(spare.lists.len() <= MAX_KEPT);
        assert!(spare.bytes <= MAX_BYTES);
        assert_eq!(
            spare.bytes,
            spare.buffers.iter().map(Vec::capacity).sum::<usize>()
        );
        // A long list of parts is not kept.
        let before = spare.lists.len();
        spare.lists.clear();
        spare.keep(Vec::with_capacity(MAX_PARTS + 1));
        assert!(spare.lists.is_empty(), "{before} lists before");
    }
}
