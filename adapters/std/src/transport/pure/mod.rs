//! The pure-Rust transport (feature `pure-rust`): the core's sans-IO ZMTP
//! engine driven over mio TCP sockets by one background I/O thread ([`io`]).
//! No C or C++ compiler is needed. Each step of the message calls becomes a
//! command to that thread or a wait on a socket's inbox; the wire is the one
//! libzmq and Python networkzero use. The runtime owns the thread ([`Io`]).
//! News is dropped the way libzmq drops it: per subscriber, once
//! [`NEWS_HIGH_WATER_MARK`](super::NEWS_HIGH_WATER_MARK) items wait
//! for it, the newest are dropped for that subscriber (exactly at that
//! count: no 500-item reporting step as in libzmq).

mod io;

use std::net::SocketAddr;
use std::sync::Arc;

use super::{Deadline, Received, Role, Subscribers, Transport, TransportSocket, MAX_MESSAGE};
use crate::address::Address;
use crate::error::{Error, Result};
use io::Kind;
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

/// A socket run by the I/O thread.
pub(crate) struct Socket(io::Socket);

impl TransportSocket for Socket {
    /// The connection a REP's request came in on.
    type Peer = u64;
    type Transport = Io;

    /// (`_max_message`: the engine's limit is [`MAX_MESSAGE`].)
    fn open(
        transport: &Io,
        role: Role,
        endpoint: SocketAddr,
        _max_message: usize,
        address: Address,
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
        io::Socket::open(&transport.0, kind, endpoint)
            .map(Socket)
            .map_err(|e| io_error(doing, address, e))
    }

    #[inline]
    fn request(&mut self, payload: Vec<u8>, address: Address) -> Result<()> {
        self.0
            .request(payload)
            .map_err(|e| io_error("sending to", address, e))
    }

    #[inline]
    fn receive(&mut self, deadline: &mut Deadline, _: Address) -> Result<Option<Received<u64>>> {
        Ok(self.0.next(deadline.get()).map(|m| Received {
            parts: m.parts,
            from: m.from,
        }))
    }

    #[inline]
    fn reply(&mut self, to: u64, payload: Vec<u8>, address: Address) -> Result<()> {
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
            .publish(vec![topic.as_bytes().to_vec(), payload])
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

    /// The I/O thread writes out what every connection queued (news, and
    /// replies, which [`io::Socket::reply`] already waits for), then the
    /// sockets close.
    fn flush_and_close(transport: &Io, sockets: Vec<Self>, deadline: Instant) {
        if !transport.0.flush(deadline) {
            log::debug!("networkzero: not everything sent before exit was written in time");
        }
        drop(sockets);
    }
}
