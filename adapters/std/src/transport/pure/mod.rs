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
