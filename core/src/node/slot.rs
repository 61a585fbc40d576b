//! One TCP slot: who owns it, its ZMTP connection, and the message it holds
//! for the application.

use super::{MAX_SKIPPED_MESSAGE, MAX_TOPIC, SUBSCRIPTIONS};
use crate::payload::ErrorReply;
use crate::zmtp::{self, Connection, Role, TooLarge};
use crate::Instant;

/// Who a slot works for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Free,
    Service(u8),
    Client(u8),
}

/// Whether a message waits for [`super::Node::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ready {
    No,
    /// A message part waits in the connection.
    InConn,
    /// A single-part news item: its topic is in `Slot::topic`.
    TopicOnly,
}

/// What one step of [`Slot::pump`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pumped {
    /// Nothing the node tells anyone (a subscription, a skipped part).
    Nothing,
    /// The handshake finished.
    Handshake,
    /// A message now waits for the application.
    Ready,
    /// A message larger than `BUF` was dropped (a REP has answered it
    /// with an error reply).
    TooLarge(TooLarge),
}

pub(crate) struct Slot<const BUF: usize> {
    pub(crate) owner: Owner,
    pub(crate) conn: Option<Connection<[u8; BUF], [u8; BUF], SUBSCRIPTIONS>>,
    /// Bumped per connection, so a [`super::RequestId`] outlives nothing.
    pub(crate) generation: u16,
    pub(crate) handshake_seen: bool,
    pub(crate) ready: Ready,
    /// Input waits that the connection will not take until we send (REP).
    pub(crate) stalled: bool,
    /// The peer closed its side, or the socket failed.
    pub(crate) eof: bool,
    /// The application closed the client: the driver must drop the socket.
    pub(crate) abort: bool,
    /// SUB: 0 before a topic, 1 after it, 2 skipping extra parts.
    pub(crate) sub_part: u8,
    pub(crate) topic: heapless::Vec<u8, MAX_TOPIC>,
}

impl<const BUF: usize> Slot<BUF> {
    pub(crate) fn new() -> Self {
        Slot {
            owner: Owner::Free,
            conn: None,
            generation: 0,
            handshake_seen: false,
            ready: Ready::No,
            stalled: false,
            eof: false,
            abort: false,
            sub_part: 0,
            topic: heapless::Vec::new(),
        }
    }

    /// Starts a ZMTP connection on a socket that has just connected.
    #[inline(never)]
    pub(crate) fn start(&mut self, mut config: zmtp::Config, t: Instant) {
        config.max_skipped_message = MAX_SKIPPED_MESSAGE;
        self.conn = Connection::with_subscription_store(config, [0; BUF], [0; BUF], t).ok();
        self.generation = self.generation.wrapping_add(1);
        self.handshake_seen = false;
        self.ready = Ready::No;
        self.stalled = false;
        self.eof = false;
        self.sub_part = 0;
        self.topic.clear();
    }

    /// Forgets the connection (the socket has gone or is going).
    pub(crate) fn reset(&mut self) {
        self.conn = None;
        self.ready = Ready::No;
        self.stalled = false;
        self.eof = false;
        self.sub_part = 0;
    }

    /// Whether the connection is over and nothing waits for the app.
    pub(crate) fn finished(&self) -> bool {
        let Some(conn) = &self.conn else {
            return false;
        };
        let failed = conn.is_closed() && !conn.has_output();
        let peer_done = self.eof && !conn.has_event();
        (failed || peer_done) && self.ready == Ready::No
    }

    /// Whether the connection would take bytes now.
    pub(crate) fn wants_input(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.is_closed())
            && !self.stalled
            && !self.eof
            && self.ready == Ready::No
    }

    /// Takes one event off the connection (call only if it has one).
    pub(crate) fn pump(&mut self) -> Pumped {
        let Some(conn) = self.conn.as_mut() else {
            return Pumped::Nothing;
        };
        if conn.is_closed() {
            let _ = conn.poll_event(); // PeerError: nothing to tell the app
            return Pumped::Nothing;
        }
        if !self.handshake_seen {
            let _ = conn.poll_event();
            self.handshake_seen = true;
            return Pumped::Handshake;
        }
        if !conn.has_message() {
            let Some(zmtp::Event::TooLarge(t)) = conn.poll_event() else {
                return Pumped::Nothing; // (un)subscriptions
            };
            self.sub_part = 0;
            if conn.role() == Role::Rep {
                // The request's sender gets an answer, not silence.
                let mut reply = [0u8; 112];
                let n = ErrorReply::too_large(t.size, t.limit)
                    .encode(&mut reply)
                    .unwrap_or(0);
                let _ = conn.send(&[reply.get(..n).unwrap_or(&[])]);
            }
            return Pumped::TooLarge(t);
        }
        match conn.role() {
            Role::Pub => {
                let _ = conn.poll_event(); // PUB receives no messages
                Pumped::Nothing
            }
            Role::Sub if self.sub_part != 1 => {
                let Some(zmtp::Event::Message(part)) = conn.poll_event() else {
                    return Pumped::Nothing;
                };
                if self.sub_part == 2 {
                    if !part.more {
                        self.sub_part = 0;
                    }
                    return Pumped::Nothing;
                }
                self.topic.clear();
                let fits = self.topic.extend_from_slice(part.data).is_ok();
                self.sub_part = match (fits, part.more) {
                    (true, true) => 1,
                    (false, true) => 2,
                    (_, false) => 0,
                };
                if fits && !part.more {
                    self.ready = Ready::TopicOnly;
                    return Pumped::Ready;
                }
                Pumped::Nothing
            }
            _ => {
                self.ready = Ready::InConn;
                Pumped::Ready
            }
        }
    }
}
