//! The pure-Rust transport (feature `pure-rust`): the core's sans-IO
//! sockets (`networkzero_core::socket`, which hold every socket rule) over
//! mio TCP sockets ([`io`]). No C or C++ compiler is needed; the wire is the
//! one libzmq and Python networkzero use. A call drives its socket itself
//! (sends, and on Unix waits on its own TCP sockets); one background I/O
//! thread, owned by the runtime ([`Io`]), drives sockets between calls.
//! News is dropped the way libzmq drops it: per subscriber, once
//! [`NEWS_HIGH_WATER_MARK`](super::NEWS_HIGH_WATER_MARK) items wait
//! for it, the newest are dropped for that subscriber (exactly at that
//! count: no 500-item reporting step as in libzmq).

mod io;
mod keyed;
mod sys;

use std::sync::Arc;

use super::{
    Deadline, Endpoint, Received, Role, Subscribers, Transport, TransportSocket, MAX_MESSAGE,
};
use crate::address::Address;
use crate::error::{Error, Result};
use io::Kind;
use networkzero_core::socket::PeerId;
use networkzero_core::zmtp::curve::ClassKeys;
use std::time::Instant;

/// Longest subscription prefix the engine takes (ZMTP's SUBSCRIBE limit here).
const MAX_PREFIX: usize = 255;

fn io_error(doing: &str, address: Address, e: std::io::Error) -> Error {
    // On Windows a port another program holds exclusively refuses with
    // WSAEACCES, not WSAEADDRINUSE.
    if crate::ports::is_held_by_another_program(&e) {
        return Error::PortInUse {
            address: address.socket_addr(),
        };
    }
    match e.kind() {
        std::io::ErrorKind::AddrNotAvailable => Error::NotLocal {
            address: address.socket_addr(),
        },
        _ => Error::network(format!("{doing} {address}"), e),
    }
}

/// The pure transport's I/O thread, shared by its sockets.
pub(crate) struct Io(Arc<io::Io>);

impl Transport for Io {
    fn start() -> Result<Self> {
        io::start()
            .map(Io)
            .map_err(|e| Error::network("starting networkzero's I/O thread", e))
    }

    fn is_running(&self) -> bool {
        self.0.is_running()
    }
}

/// A socket of the pure-Rust transport.
pub(crate) struct Socket(io::Socket);

impl TransportSocket for Socket {
    /// The connection a REP's request came in on.
    type Peer = PeerId;
    type Transport = Io;

    /// (`_max_message`: the engine's limit is [`MAX_MESSAGE`].)
    fn open(
        transport: &Io,
        role: Role,
        endpoint: Endpoint,
        _max_message: usize,
        address: Address,
        class: Option<&'static ClassKeys>,
    ) -> Result<Self> {
        let kind = match role {
            Role::Request => Kind::Req,
            Role::Reply => Kind::Rep,
            Role::Publish => Kind::Pub,
            Role::Subscribe => Kind::Sub,
        };
        let doing = if role.binds() {
            "listening on"
        } else {
            "connecting to"
        };
        io::Socket::open(&transport.0, kind, endpoint, class)
            .map(Socket)
            .map_err(|e| io_error(doing, address, e))
    }

    #[inline]
    fn request(&mut self, payload: Vec<u8>, _: &mut Deadline, address: Address) -> Result<bool> {
        // Queued in the socket until a peer connects: `receive` waits.
        self.0
            .request(payload)
            .map(|()| true)
            .map_err(|e| io_error("sending to", address, e))
    }

    #[inline]
    fn receive(&mut self, deadline: &mut Deadline, _: Address) -> Result<Option<Received<PeerId>>> {
        Ok(self.0.next(|| deadline.get()).map(|m| Received {
            parts: m.parts,
            from: m.from,
        }))
    }

    #[inline]
    fn recycle(&mut self, parts: Vec<Vec<u8>>) {
        self.0.recycle(parts);
    }

    /// A sent payload's buffer (the engine copied it into its output).
    #[inline]
    fn buffer(&mut self) -> Vec<u8> {
        self.0.buffer()
    }

    #[inline]
    fn reply(&mut self, to: PeerId, payload: Vec<u8>, address: Address) -> Result<()> {
        self.0
            .reply(to, payload)
            .map_err(|e| io_error("replying on", address, e))
    }

    #[inline]
    fn publish(&mut self, _: u64, topic: &str, payload: Vec<u8>, address: Address) -> Result<()> {
        let size = topic.len() + payload.len();
        if size as i64 > MAX_MESSAGE {
            return Err(Error::BadMessage {
                reason: format!("topic and data are {size} bytes; the most is {MAX_MESSAGE}"),
            });
        }
        self.0
            .publish(topic.as_bytes(), payload)
            .map_err(|e| io_error("publishing on", address, e))
    }

    #[inline]
    fn subscribe(&mut self, prefix: &[u8], address: Address) -> Result<()> {
        if prefix.len() > MAX_PREFIX {
            return Err(Error::BadMessage {
                reason: format!(
                    "the news prefix is {} bytes; the most is {MAX_PREFIX}",
                    prefix.len()
                ),
            });
        }
        self.0
            .subscribe(prefix)
            .map_err(|e| io_error("subscribing to", address, e))
    }

    fn subscribers(&mut self, seen: Subscribers, deadline: Instant) -> Subscribers {
        self.0.subscribers(seen, deadline)
    }

    /// Every socket writes out what its connections queued (news, and
    /// replies, which [`io::Socket::reply`] already waits for), then the
    /// sockets close.
    fn flush_and_close(_: &Io, sockets: Vec<Self>, deadline: Instant) {
        if !sockets.iter().all(|s| s.0.flush(deadline)) {
            log::debug!("networkzero: not everything sent before exit was written in time");
        }
        drop(sockets);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::Duration;

    /// A socket of `role` on (or to) `at`, through the transport's calls.
    fn open(io: &Io, role: Role, endpoint: Endpoint) -> Socket {
        let address = Address::from(endpoint.at);
        Socket::open(io, role, endpoint, MAX_MESSAGE as usize, address, None).expect("a socket")
    }

    /// A REP listening on a loopback port of its own, and that address.
    fn listening(io: &Io, role: Role) -> (Socket, SocketAddr) {
        let held = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let at = held.local_addr().expect("its address");
        let endpoint = Endpoint {
            at,
            held: Some(held),
        };
        (open(io, role, endpoint), at)
    }

    /// A deadline far enough on for any step on a loaded machine.
    fn in_20s() -> Instant {
        Instant::now() + Duration::from_secs(20)
    }

    /// `publisher`'s subscribers once they are `want`: each wait ends when
    /// they change or at the deadline (20 s).
    fn subscribers_become(publisher: &mut Socket, want: Subscribers) -> Subscribers {
        let by = in_20s();
        let mut seen = Subscribers::default();
        for _ in 0..100 {
            seen = publisher.subscribers(seen, by);
            if seen == want || Instant::now() >= by {
                break;
            }
        }
        seen
    }

    /// A publisher counts a connection that has not subscribed as joining
    /// (the first news item waits for it: it would miss the item) and one
    /// that has as joined; a wait for them ends when they change.
    #[test]
    fn a_publisher_counts_connections_joining_and_subscribers_joined() {
        let io = Io::start().expect("an I/O thread");
        let (mut publisher, at) = listening(&io, Role::Publish);
        // A TCP connection that says nothing: joining for ever.
        let _silent = std::net::TcpStream::connect(at).expect("a connection");
        let one_joining = Subscribers {
            joining: 1,
            joined: 0,
        };
        assert_eq!(subscribers_become(&mut publisher, one_joining), one_joining);
        let mut subscriber = open(&io, Role::Subscribe, at.into());
        subscriber
            .subscribe(b"", Address::from(at))
            .expect("subscribed");
        let and_one_joined = Subscribers {
            joining: 1,
            joined: 1,
        };
        assert_eq!(
            subscribers_become(&mut publisher, and_one_joined),
            and_one_joined
        );
        drop(subscriber);
        assert_eq!(subscribers_become(&mut publisher, one_joining), one_joining);
    }

    /// An address this computer does not have is `NotLocal`, a port
    /// another program holds `PortInUse`, anything else a network error:
    /// what the message calls tell a beginner.
    #[test]
    fn a_failure_to_listen_or_connect_keeps_its_kind() {
        use std::io::{Error as IoError, ErrorKind};
        let address = Address::from(SocketAddr::from(([10, 200, 0, 9], 5555)));
        let not_here = io_error(
            "listening on",
            address,
            IoError::from(ErrorKind::AddrNotAvailable),
        );
        assert!(matches!(not_here, Error::NotLocal { .. }), "{not_here:?}");
        let held = io_error("listening on", address, IoError::from(ErrorKind::AddrInUse));
        assert!(matches!(held, Error::PortInUse { .. }), "{held:?}");
        let refused = io_error(
            "connecting to",
            address,
            IoError::from(ErrorKind::ConnectionRefused),
        );
        assert!(
            !matches!(refused, Error::NotLocal { .. } | Error::PortInUse { .. }),
            "{refused:?}"
        );
    }

    /// What a publisher or a subscriber is given is bounded as the engine
    /// bounds what it takes: a topic and payload of [`MAX_MESSAGE`] bytes
    /// together go, one byte more is refused with a `BadMessage` (not sent,
    /// nor an error of the network); a prefix of [`MAX_PREFIX`] bytes is
    /// taken, one more refused.
    #[test]
    fn news_and_prefixes_up_to_their_limits_go_and_one_byte_more_is_refused() {
        let io = Io::start().expect("an I/O thread");
        let (mut publisher, at) = listening(&io, Role::Publish);
        let address = Address::from(at);
        let most = MAX_MESSAGE as usize;
        let fits = publisher.publish(1, "t", vec![7; most - 1], address);
        assert!(fits.is_ok(), "{fits:?}");
        for (topic, payload) in [("t", most), ("", most + 1), ("tt", most - 1)] {
            let over = publisher.publish(2, topic, vec![7; payload], address);
            assert!(
                matches!(over, Err(Error::BadMessage { .. })),
                "{} bytes of topic and {payload} of payload: {over:?}",
                topic.len()
            );
        }
        let mut subscriber = open(&io, Role::Subscribe, at.into());
        let longest = subscriber.subscribe(&[b'p'; MAX_PREFIX], address);
        assert!(longest.is_ok(), "{longest:?}");
        let over = subscriber.subscribe(&[b'p'; MAX_PREFIX + 1], address);
        assert!(matches!(over, Err(Error::BadMessage { .. })), "{over:?}");
    }

    /// A subscriber started before its publisher (nothing listens yet:
    /// its connect is refused) joins once the publisher listens, with no
    /// call of its own meanwhile: the I/O thread runs its reconnect timer.
    #[test]
    fn a_subscriber_started_first_joins_a_later_publisher_between_calls() {
        let io = Io::start().expect("an I/O thread");
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let at = free.local_addr().expect("its address");
        drop(free);
        let mut subscriber = open(&io, Role::Subscribe, at.into());
        subscriber
            .subscribe(b"", Address::from(at))
            .expect("subscribed");
        let held = std::net::TcpListener::bind(at).expect("the port again");
        let endpoint = Endpoint {
            at,
            held: Some(held),
        };
        let mut publisher = open(&io, Role::Publish, endpoint);
        let joined = Subscribers {
            joining: 0,
            joined: 1,
        };
        assert_eq!(subscribers_become(&mut publisher, joined), joined);
    }

    /// News goes to a subscriber whole and in order, only what matches its
    /// prefix: items under a write's batch (left to the I/O thread, which
    /// the publisher kicks), one of several reads' worth, and the last one
    /// with nothing published after it (written by the I/O thread alone).
    #[test]
    fn news_reaches_a_subscriber_whole_in_order_and_only_what_it_asked_for() {
        let io = Io::start().expect("an I/O thread");
        let (mut publisher, at) = listening(&io, Role::Publish);
        let address = Address::from(at);
        let mut subscriber = open(&io, Role::Subscribe, at.into());
        subscriber.subscribe(b"a", address).expect("subscribed");
        let joined = Subscribers {
            joining: 0,
            joined: 1,
        };
        assert_eq!(subscribers_become(&mut publisher, joined), joined);
        let large: Vec<u8> = (0..200_000u32).map(|n| n as u8).collect();
        let items: [(&str, &[u8]); 4] = [
            ("a1", b"first"),
            ("b", b"not asked for"),
            ("a2", &large),
            ("a3", b"last"),
        ];
        for (n, (topic, payload)) in (1..).zip(items) {
            publisher
                .publish(n, topic, payload.to_vec(), address)
                .expect("published");
        }
        let mut deadline = Deadline::within(Some(Duration::from_secs(20)));
        for (topic, payload) in items.into_iter().filter(|(t, _)| t.starts_with('a')) {
            let got = subscriber
                .receive(&mut deadline, address)
                .expect("a receive")
                .unwrap_or_else(|| panic!("{topic} never came"));
            assert_eq!(got.parts, vec![topic.as_bytes().to_vec(), payload.to_vec()]);
        }
        assert!(publisher.0.flush(in_20s()), "all of it was written");
    }

    /// A subscriber by hand on a TCP connection to `at`: a ZMTP 3.0 NULL
    /// greeting, READY as a SUB and a subscription to everything, then
    /// nothing: it never reads what it is sent.
    fn deaf_subscriber(at: SocketAddr) -> std::net::TcpStream {
        use std::io::Write;
        let mut greeting = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0];
        greeting.extend_from_slice(b"NULL");
        greeting.resize(64, 0);
        let mut ready = vec![0x04, 25, 5];
        ready.extend_from_slice(b"READY");
        ready.push(11);
        ready.extend_from_slice(b"Socket-Type");
        ready.extend_from_slice(&3u32.to_be_bytes());
        ready.extend_from_slice(b"SUB");
        let subscribe = [0x00, 1, 1];
        let mut tcp = std::net::TcpStream::connect(at).expect("a connection");
        for bytes in [&greeting[..], &ready, &subscribe] {
            tcp.write_all(bytes).expect("written");
        }
        tcp
    }

    /// A flush waits until what the socket queued is handed to the kernel,
    /// and says whether it was: true once written, false at its deadline
    /// when a subscriber that does not read leaves news unwritten.
    #[test]
    fn a_flush_says_whether_what_was_queued_is_written() {
        let io = Io::start().expect("an I/O thread");
        let (mut publisher, at) = listening(&io, Role::Publish);
        let address = Address::from(at);
        assert!(publisher.0.flush(in_20s()), "nothing queued: written");
        let deaf = deaf_subscriber(at);
        let joined = Subscribers {
            joining: 0,
            joined: 1,
        };
        assert_eq!(subscribers_become(&mut publisher, joined), joined);
        // Far more than the kernel's buffers take (a few MiB on loopback),
        // and under the high-water mark: the rest stays queued.
        for n in 1..=400 {
            publisher
                .publish(n, "t", vec![0; 64 * 1024], address)
                .expect("published");
        }
        let soon = Instant::now() + Duration::from_millis(100);
        assert!(!publisher.0.flush(soon), "a deaf subscriber read it all");
        // Now it reads: the kernel takes the rest as room comes (the
        // socket waits to be writable), and the flush says it was written.
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut deaf = deaf;
            deaf.set_read_timeout(Some(Duration::from_secs(20)))
                .expect("a read timeout");
            let mut buffer = vec![0; 64 * 1024];
            // To the publisher's end, or 20 s of silence (bounded).
            for _ in 0..100_000 {
                if matches!(deaf.read(&mut buffer), Ok(0) | Err(_)) {
                    break;
                }
            }
        });
        assert!(publisher.0.flush(in_20s()), "the rest was written");
        drop(publisher);
        reader.join().expect("the reader");
    }

    /// A message's buffers given back ([`TransportSocket::recycle`]) come
    /// out again, emptied, as the buffer for the next payload
    /// ([`TransportSocket::buffer`]): a loop of calls allocates nothing.
    #[test]
    fn a_recycled_buffer_is_the_next_payloads_buffer_and_empty() {
        let io = Io::start().expect("an I/O thread");
        let (mut rep, _) = listening(&io, Role::Reply);
        // The socket has no peer and no timer: the I/O thread does not
        // take it, so neither call finds it held. Bounded anyway: a call
        // that finds it held gives a new buffer and frees the old.
        let reused = (0..1000).any(|_| {
            let mut part = Vec::with_capacity(1000);
            part.extend_from_slice(b"a message read");
            rep.recycle(vec![part]);
            let buffer = rep.buffer();
            assert!(buffer.is_empty(), "a payload's buffer starts empty");
            buffer.capacity() >= 1000
        });
        assert!(reused, "the recycled buffer never came back");
    }
}
