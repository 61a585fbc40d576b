//! What the node tells the application, and the queue it keeps for it.

use core::net::SocketAddr;

use super::ids::{ClientId, RequestId, ServiceId};
use super::services::Service;
use super::{Node, INPUT_STEPS, MAX_TOPIC};
use crate::advert::Name;
use crate::beacon;
use crate::payload::ErrorReply;
use crate::socket::{self, SocketId};
use crate::zmtp::Role;

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
    /// it was dropped, and polling this event answered its sender with an
    /// error reply saying so (a [`crate::payload::ErrorReply`], written at
    /// the next [`Node::tcp_output`]). Nothing to answer; worth a log line.
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
    /// A peer completed no handshake over the class key (feature `curve`):
    /// it has no key or another class's (this node keyed), or it wants a
    /// key (this node unkeyed), or it hung up in a keyed handshake. Told at most once per slot every
    /// [`super::KEY_RETRY`]; [`Node::key_refusals`] counts them all.
    #[cfg(feature = "curve")]
    KeyRefused {
        /// The TCP slot.
        slot: usize,
        /// What the slot is for (`None`: closed since).
        at: Option<super::SlotUse>,
        /// [`crate::zmtp::ZmtpError::MechanismMismatch`]: one side has no
        /// key; [`crate::zmtp::ZmtpError::KeyMismatch`] or
        /// [`crate::zmtp::ZmtpError::ClientKeyRefused`]: another class's;
        /// `None`: the peer hung up in the handshake (libzmq with NULL
        /// does, on seeing a CURVE greeting).
        error: Option<crate::zmtp::ZmtpError>,
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

/// Where the news item in the making is: `[topic, data]` as Python
/// networkzero sends it. A subscriber's topic part is taken off its
/// connection as it arrives and kept here, so its data part can come too;
/// the item is told once the data part has. One item is made at a time
/// (one topic buffer for the node); other subscribers' parts wait in their
/// connections meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// No item: the next topic part may start one.
    Free,
    /// The topic is kept; the data part is the application's.
    Data,
    /// A one-part item (its topic is kept) waits for the application.
    TopicOnly,
    /// Parts of an item that is not told (extra parts, or a topic longer
    /// than [`MAX_TOPIC`]).
    Skip,
}

/// The news item in the making, of one subscriber slot.
pub(crate) struct News {
    topic: heapless::Vec<u8, MAX_TOPIC>,
    slot: usize,
    stage: Stage,
}

impl News {
    pub(crate) const fn new() -> News {
        News {
            topic: heapless::Vec::new(),
            slot: 0,
            stage: Stage::Free,
        }
    }

    /// Whether slot `i`'s item is in the making and its data part is next.
    pub(crate) fn assembling(&self, i: usize) -> bool {
        self.slot == i && self.stage == Stage::Data
    }

    /// Whether slot `i`'s one-part item waits to be told.
    pub(crate) fn waits(&self, i: usize) -> bool {
        self.slot == i && self.stage == Stage::TopicOnly
    }

    /// Slot `i`'s connection ended: its item is gone.
    pub(crate) fn forget(&mut self, i: usize) {
        if self.slot == i {
            self.stage = Stage::Free;
        }
    }

    /// Whether slot `i` may take a topic part (or one to skip) now.
    fn takes(&self, i: usize) -> bool {
        self.stage == Stage::Free || (self.slot == i && self.stage == Stage::Skip)
    }

    /// Takes one more part of slot `i`: a topic (kept if it fits), or one
    /// to skip.
    fn part(&mut self, i: usize, data: &[u8], more: bool) {
        self.slot = i;
        self.stage = match self.stage {
            Stage::Free => {
                self.topic.clear();
                let fits = self.topic.extend_from_slice(data).is_ok();
                match (fits, more) {
                    (true, true) => Stage::Data,
                    (true, false) => Stage::TopicOnly,
                    (false, true) => Stage::Skip,
                    (false, false) => Stage::Free,
                }
            }
            Stage::Skip if !more => Stage::Free,
            other => other,
        };
    }
}

impl<const SLOTS: usize, const BUF: usize, const ADVERTS: usize> Node<SLOTS, BUF, ADVERTS> {
    /// The next event; `None` when drained. Discovery events come first,
    /// then connection events and messages, one peer at a time in turn.
    /// A message borrows from its connection until the next call.
    #[must_use]
    #[inline(never)]
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if self.news.stage == Stage::TopicOnly {
            self.news.stage = Stage::Free;
            let socket = self.sockets.peer_socket(self.news.slot)?;
            return Some(Event::News {
                client: ClientId(u8::try_from(socket.index()).ok()?),
                topic: &self.news.topic,
                data: b"null",
            });
        }
        #[cfg(feature = "curve")]
        if let Some((slot, at, error)) = self.poll_refusal() {
            return Some(Event::KeyRefused { slot, at, error });
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
        for slot in 0..SLOTS {
            self.take_topics(slot);
            if let Some((socket, peer, t)) = self.sockets.poll_too_large_of(slot) {
                return self.too_large(socket, peer, t.size, t.limit);
            }
        }
        let mut held = [false; SLOTS];
        for (i, h) in held.iter_mut().enumerate() {
            *h = self.held(i);
        }
        let event = self
            .sockets
            .poll_event_where(|i| held.get(i).copied().unwrap_or(false))?;
        let (socket, peer, part) = match event {
            socket::Event::Connected { socket, peer }
            | socket::Event::Disconnected { socket, peer, .. } => (socket, peer, None),
            socket::Event::Message(m) => (m.socket, m.peer, Some(m.part)),
            _ => return None,
        };
        let connected = matches!(event, socket::Event::Connected { .. });
        if let Some(service) = service_index(&self.services, socket) {
            let part = part?;
            return Some(Event::Request {
                request: RequestId {
                    slot: u8::try_from(peer.index()).unwrap_or(u8::MAX),
                    generation: peer.generation,
                    service: ServiceId(service),
                },
                data: part.data,
                more: part.more,
            });
        }
        let c = self.clients.get(socket.index())?.as_ref()?;
        let client = ClientId(u8::try_from(socket.index()).ok()?);
        match (part, c.role) {
            (None, _) if connected => Some(Event::Connected { client }),
            (None, _) => {
                self.news.forget(peer.index());
                Some(Event::Disconnected { client })
            }
            (Some(part), Role::Sub) => {
                self.news.stage = if part.more { Stage::Skip } else { Stage::Free };
                Some(Event::News {
                    client,
                    topic: &self.news.topic,
                    data: part.data,
                })
            }
            (Some(part), _) => Some(Event::Reply {
                client,
                data: part.data,
                more: part.more,
            }),
        }
    }

    /// A message larger than `BUF` was dropped: a request's sender gets an
    /// error reply (an answer, not silence), a subscriber's news item in
    /// the making is gone.
    fn too_large(
        &mut self,
        socket: SocketId,
        peer: socket::PeerId,
        size: usize,
        limit: usize,
    ) -> Option<Event<'_>> {
        if let Some(service) = service_index(&self.services, socket) {
            let mut reply = [0u8; 96];
            let n = ErrorReply::too_large(size, limit)
                .encode(&mut reply)
                .unwrap_or(0);
            let _ = self.sockets.reply(peer, &[reply.get(..n).unwrap_or(&[])]);
            return Some(Event::RequestTooLarge {
                service: ServiceId(service),
                size,
                limit,
            });
        }
        self.news.forget(peer.index());
        Some(Event::TooLarge {
            client: ClientId(u8::try_from(socket.index()).ok()?),
            size,
            limit,
        })
    }

    /// A subscriber slot: takes its topic part (and parts to skip) off the
    /// connection as they come, so the data part can follow.
    pub(crate) fn take_topics(&mut self, slot: usize) {
        if !self.sub_slot(slot) {
            return;
        }
        // Each pass takes a part; bounded like the input it came from.
        for _ in 0..INPUT_STEPS {
            if !self.news.takes(slot) {
                return;
            }
            let Some(m) = self.sockets.poll_message_of(slot) else {
                return;
            };
            self.news.part(slot, m.part.data, m.part.more);
        }
    }
}

/// The index of the service whose socket this is.
fn service_index(services: &[Option<Service>], socket: SocketId) -> Option<u8> {
    let i = services
        .iter()
        .position(|s| s.as_ref().is_some_and(|s| s.socket == socket))?;
    u8::try_from(i).ok()
}
