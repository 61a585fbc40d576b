//! What the node tells the application, and the queue it keeps for it.

use core::mem;
use core::net::SocketAddr;

use super::ids::{ClientId, RequestId, ServiceId};
use super::slot::{Owner, Ready};
use super::Node;
use crate::advert::Name;
use crate::beacon;
use crate::zmtp::TooLarge;
use crate::zmtp::{self, Role};

/// What happened, from [`Node::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'n> {
    /// A name was heard for the first time, or at a new address.
    Discovered {
        /// The name.
        name: Name,
        /// Where it is served.
        address: SocketAddr,
    },
    /// A name lapsed or said goodbye.
    Lost {
        /// The name.
        name: Name,
        /// Its last address.
        address: SocketAddr,
    },
    /// A requester or subscriber finished its handshake.
    Connected {
        /// Which one.
        client: ClientId,
    },
    /// A requester or subscriber lost its connection. It reconnects by
    /// itself (a request in flight is lost: send it again after
    /// [`Event::Connected`]); [`Node::close`] it to stop.
    Disconnected {
        /// Which one.
        client: ClientId,
    },
    /// A message to a served name; answer it with [`Node::reply`].
    Request {
        /// Pass to [`Node::reply`].
        request: RequestId,
        /// The message as sent (JSON text from networkzero peers).
        data: &'n [u8],
        /// More parts of the same message follow (not from networkzero peers).
        more: bool,
    },
    /// The answer to a [`Node::send`] from a requester.
    Reply {
        /// Which requester.
        client: ClientId,
        /// The reply as sent.
        data: &'n [u8],
        /// More parts follow.
        more: bool,
    },
    /// A request to a served name was larger than this node takes (`BUF`):
    /// it was dropped and its sender got an error reply saying so (a
    /// [`crate::payload::ErrorReply`]). Nothing to answer; worth a log line.
    RequestTooLarge {
        /// Which service.
        service: ServiceId,
        /// The request's length (as far as it was read).
        size: usize,
        /// The longest message part this node takes.
        limit: usize,
    },
    /// A reply or news item for a requester or subscriber was larger than
    /// this node takes (`BUF`) and was dropped. A requester's request is
    /// over: it may send again.
    TooLarge {
        /// Which requester or subscriber.
        client: ClientId,
        /// The message's length (as far as it was read).
        size: usize,
        /// The longest message part this node takes.
        limit: usize,
    },
    /// A news item for a subscriber.
    News {
        /// Which subscriber.
        client: ClientId,
        /// The topic.
        topic: &'n [u8],
        /// The data (JSON text from networkzero peers; `null` if none was sent).
        data: &'n [u8],
    },
}

/// The events the node queues itself. Discovery events wait in the beacon
/// and messages in their connections: no name or message is copied here.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Queued {
    Connected(ClientId),
    Disconnected(ClientId),
    RequestTooLarge(ServiceId, TooLarge),
    TooLarge(ClientId, TooLarge),
}

impl<const SLOTS: usize, const BUF: usize, const ADVERTS: usize> Node<SLOTS, BUF, ADVERTS> {
    /// The next event; `None` when drained. Connection events come first,
    /// then discovery events, then one message part per connection in turn.
    /// A message borrows from its connection until the next call.
    #[must_use]
    #[inline(never)]
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if let Some(q) = self.queue.pop_front() {
            return Some(match q {
                Queued::Connected(client) => Event::Connected { client },
                Queued::Disconnected(client) => Event::Disconnected { client },
                Queued::RequestTooLarge(service, TooLarge { size, limit }) => {
                    Event::RequestTooLarge {
                        service,
                        size,
                        limit,
                    }
                }
                Queued::TooLarge(client, TooLarge { size, limit }) => Event::TooLarge {
                    client,
                    size,
                    limit,
                },
            });
        }
        while let Some(event) = self.beacon.poll_event() {
            match event {
                beacon::Event::Appeared { name, address }
                | beacon::Event::Moved {
                    name, to: address, ..
                } => return Some(Event::Discovered { name, address }),
                beacon::Event::Expired { name, address } => {
                    return Some(Event::Lost { name, address })
                }
                _ => {}
            }
        }
        let start = self.next_slot;
        let i = (0..SLOTS)
            .map(|k| (start + k) % SLOTS)
            .find(|&i| self.slots.get(i).is_some_and(|s| s.ready != Ready::No))?;
        self.next_slot = (i + 1) % SLOTS;
        let slot = self.slots.get_mut(i)?;
        let ready = mem::replace(&mut slot.ready, Ready::No);
        let generation = slot.generation;
        let owner = slot.owner;
        if ready == Ready::TopicOnly {
            let Owner::Client(c) = owner else { return None };
            return Some(Event::News {
                client: ClientId(c),
                topic: &slot.topic,
                data: b"null",
            });
        }
        let conn = slot.conn.as_mut()?;
        let role = conn.role();
        let zmtp::Event::Message(part) = conn.poll_event()? else {
            return None;
        };
        match (owner, role) {
            (Owner::Service(s), _) => Some(Event::Request {
                request: RequestId {
                    slot: u8::try_from(i).unwrap_or(u8::MAX),
                    generation,
                    service: ServiceId(s),
                },
                data: part.data,
                more: part.more,
            }),
            (Owner::Client(c), Role::Sub) => {
                slot.sub_part = if part.more { 2 } else { 0 };
                Some(Event::News {
                    client: ClientId(c),
                    topic: &slot.topic,
                    data: part.data,
                })
            }
            (Owner::Client(c), _) => Some(Event::Reply {
                client: ClientId(c),
                data: part.data,
                more: part.more,
            }),
            (Owner::Free, _) => None,
        }
    }

    /// Queues an event, dropping the oldest if the queue is full.
    pub(crate) fn push(&mut self, q: Queued) {
        if self.queue.is_full() {
            self.queue.pop_front();
        }
        let _ = self.queue.push_back(q);
    }
}
