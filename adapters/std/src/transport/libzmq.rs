//! The libzmq transport (the default `libzmq` feature): each step of the
//! message calls on a `zmq` crate socket.

use std::net::SocketAddr;

use super::{Deadline, Received, Role, Transport, TransportSocket, NEWS_HIGH_WATER_MARK};
use crate::address::Address;
use crate::error::{Error, Result};
use crate::wait;

/// A publish socket reads libzmq's command mailbox at least once every this
/// many news items. libzmq learns how far a subscriber's queue has drained from
/// notices its I/O thread posts every 500 items (half the high-water mark), and
/// a sending thread reads its notices at most once per 3 million CPU clock
/// ticks (about 1 ms). A publisher as fast as this one (several hundred
/// thousand items a second; Python's is about 40 thousand) would count up to
/// ~1200 items as still queued that the subscriber already has, and drop news
/// with only a hundred really waiting: a flow-controlled publisher, 2 windows
/// of 200 in flight, lost items within the first 2000. Asking for ZMQ_EVENTS
/// reads the notices at once, so the count is at most 499 + this behind.
const READ_CREDIT_EVERY: u64 = 32;

/// libzmq's context: its I/O thread and every socket made in it.
pub(crate) struct Context(zmq::Context);

impl Transport for Context {
    fn start() -> Result<Self> {
        Ok(Context(zmq::Context::new()))
    }

    fn is_running(&self) -> bool {
        true
    }
}

fn zmq_error(doing: &str, address: Address, e: zmq::Error) -> Error {
    match e {
        zmq::Error::EADDRINUSE => Error::PortInUse {
            address: address.socket_addr(),
        },
        zmq::Error::EADDRNOTAVAIL => Error::NotLocal {
            address: address.socket_addr(),
        },
        other => Error::network(format!("{doing} {address}"), other),
    }
}

/// A libzmq socket.
pub(crate) struct Socket {
    socket: zmq::Socket,
}

impl Socket {
    /// Waits until the socket has something to read; false on timeout.
    fn readable(&self, deadline: Option<std::time::Instant>, address: Address) -> Result<bool> {
        loop {
            let timeout = wait::remaining(deadline)
                .map_or(-1, |d| d.as_millis().min(i64::MAX as u128) as i64);
            match self.socket.poll(zmq::POLLIN, timeout) {
                Ok(n) => return Ok(n > 0),
                // A signal (Ctrl-C being handled, say): keep waiting until the deadline.
                Err(zmq::Error::EINTR) if timeout != 0 => continue,
                Err(zmq::Error::EINTR) => return Ok(false),
                Err(e) => return Err(zmq_error("waiting on", address, e)),
            }
        }
    }
}

/// Whom a REP answers: libzmq's REP remembers it itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LastSender;

impl TransportSocket for Socket {
    type Peer = LastSender;
    type Transport = Context;

    fn open(
        context: &Context,
        role: Role,
        endpoint: SocketAddr,
        max_message: usize,
        address: Address,
    ) -> Result<Self> {
        let kind = match role {
            Role::Request => zmq::REQ,
            Role::Reply => zmq::REP,
            Role::Publish => zmq::PUB,
            Role::Subscribe => zmq::SUB,
        };
        let socket = context
            .0
            .socket(kind)
            .map_err(|e| zmq_error("making a socket for", address, e))?;
        let configure = || -> zmq::Result<()> {
            socket.set_linger(0)?;
            socket.set_maxmsgsize(i64::try_from(max_message).unwrap_or(i64::MAX))?;
            socket.set_sndhwm(NEWS_HIGH_WATER_MARK)?;
            socket.set_rcvhwm(NEWS_HIGH_WATER_MARK)?;
            Ok(())
        };
        configure().map_err(|e| zmq_error("configuring the socket for", address, e))?;
        let endpoint = format!("tcp://{endpoint}");
        if role.binds() {
            socket
                .bind(&endpoint)
                .map_err(|e| zmq_error("listening on", address, e))?;
        } else {
            socket
                .connect(&endpoint)
                .map_err(|e| zmq_error("connecting to", address, e))?;
        }
        Ok(Socket { socket })
    }

    #[inline]
    fn request(&mut self, payload: Vec<u8>, address: Address) -> Result<()> {
        self.socket
            .send(payload, 0)
            .map_err(|e| zmq_error("sending to", address, e))
    }

    /// Something already queued is taken without a poll system call or a
    /// clock reading.
    #[inline]
    fn receive(
        &mut self,
        deadline: &mut Deadline,
        address: Address,
    ) -> Result<Option<Received<LastSender>>> {
        // Each pass either returns or waits (with a shrinking timeout) first.
        loop {
            match self.socket.recv_multipart(zmq::DONTWAIT) {
                Ok(parts) => {
                    return Ok(Some(Received {
                        parts,
                        from: LastSender,
                    }))
                }
                Err(zmq::Error::EAGAIN) => {}
                Err(e) => return Err(zmq_error("receiving from", address, e)),
            }
            if !self.readable(deadline.get(), address)? {
                return Ok(None);
            }
        }
    }

    #[inline]
    fn reply(&mut self, _to: LastSender, payload: Vec<u8>, address: Address) -> Result<()> {
        self.socket
            .send(payload, 0)
            .map_err(|e| zmq_error("replying on", address, e))
    }

    #[inline]
    fn publish(&mut self, n: u64, topic: &str, payload: Vec<u8>, address: Address) -> Result<()> {
        if n.is_multiple_of(READ_CREDIT_EVERY) {
            // Reads libzmq's notices of what subscribers have taken (see
            // READ_CREDIT_EVERY); only its side effect matters.
            let _ = self.socket.get_events();
        }
        self.socket
            .send_multipart([topic.as_bytes(), payload.as_slice()], 0)
            .map_err(|e| zmq_error("publishing on", address, e))
    }

    #[inline]
    fn subscribe(&mut self, prefix: &[u8], address: Address) -> Result<()> {
        self.socket
            .set_subscribe(prefix)
            .map_err(|e| zmq_error("subscribing to", address, e))
    }
}
