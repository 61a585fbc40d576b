//! The default build's transport: libzmq for unkeyed sockets, the core's
//! engine (the pure transport) for keyed ones.
//!
//! The vendored libzmq (the `zmq` crate's build) has no CurveZMQ: that needs
//! libsodium, another C library to build on every platform, Windows
//! included. The core's engine speaks CURVE already (and is what the
//! `pure-rust` build and the firmware use), so a socket opened with a class
//! key goes to it, and one without stays on libzmq, unchanged. Both speak
//! the same ZMTP on the wire. The pure transport's I/O thread starts only
//! when the first keyed socket opens.

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use networkzero_core::zmtp::curve::ClassKeys;

use super::{
    libzmq, pure, Deadline, Endpoint, Received, Role, Subscribers, Transport, TransportSocket,
};
use crate::address::Address;
use crate::error::{Error, Result};

/// libzmq's context, and the pure transport's I/O thread once a keyed
/// socket needed it.
pub(crate) struct Both {
    zmq: libzmq::Context,
    pure: OnceLock<pure::Io>,
    /// Serialises starting the I/O thread.
    starting: Mutex<()>,
}

impl Both {
    fn pure(&self) -> Result<&pure::Io> {
        if let Some(io) = self.pure.get() {
            return Ok(io);
        }
        let _one = self.starting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(io) = self.pure.get() {
            return Ok(io);
        }
        let io = pure::Io::start()?;
        Ok(self.pure.get_or_init(|| io))
    }
}

impl Transport for Both {
    fn start() -> Result<Self> {
        Ok(Both {
            zmq: libzmq::Context::start()?,
            pure: OnceLock::new(),
            starting: Mutex::new(()),
        })
    }

    fn is_running(&self) -> bool {
        self.zmq.is_running() && self.pure.get().is_none_or(Transport::is_running)
    }
}

/// A socket on libzmq (unkeyed) or on the core's engine (keyed).
pub(crate) enum Socket {
    Zmq(libzmq::Socket),
    Pure(pure::Socket),
}

/// Whom a REP answers, on either transport.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Peer {
    Zmq(<libzmq::Socket as TransportSocket>::Peer),
    Pure(<pure::Socket as TransportSocket>::Peer),
}

fn received<P>(r: Option<Received<P>>, peer: impl Fn(P) -> Peer) -> Option<Received<Peer>> {
    r.map(|r| Received {
        parts: r.parts,
        from: peer(r.from),
    })
}

impl TransportSocket for Socket {
    type Peer = Peer;
    type Transport = Both;

    fn open(
        transport: &Both,
        role: Role,
        endpoint: Endpoint,
        max_message: usize,
        address: Address,
        class: Option<&'static ClassKeys>,
    ) -> Result<Self> {
        match class {
            None => {
                libzmq::Socket::open(&transport.zmq, role, endpoint, max_message, address, None)
                    .map(Socket::Zmq)
            }
            Some(_) => pure::Socket::open(
                transport.pure()?,
                role,
                endpoint,
                max_message,
                address,
                class,
            )
            .map(Socket::Pure),
        }
    }

    fn request(
        &mut self,
        payload: Vec<u8>,
        deadline: &mut Deadline,
        address: Address,
    ) -> Result<bool> {
        match self {
            Socket::Zmq(s) => s.request(payload, deadline, address),
            Socket::Pure(s) => s.request(payload, deadline, address),
        }
    }

    #[inline]
    fn receive(
        &mut self,
        deadline: &mut Deadline,
        address: Address,
    ) -> Result<Option<Received<Peer>>> {
        Ok(match self {
            Socket::Zmq(s) => received(s.receive(deadline, address)?, Peer::Zmq),
            Socket::Pure(s) => received(s.receive(deadline, address)?, Peer::Pure),
        })
    }

    #[inline]
    fn recycle(&mut self, parts: Vec<Vec<u8>>) {
        match self {
            Socket::Zmq(s) => s.recycle(parts),
            Socket::Pure(s) => s.recycle(parts),
        }
    }

    #[inline]
    fn buffer(&mut self) -> Vec<u8> {
        match self {
            Socket::Zmq(s) => s.buffer(),
            Socket::Pure(s) => s.buffer(),
        }
    }

    fn reply(&mut self, to: Peer, payload: Vec<u8>, address: Address) -> Result<()> {
        match (self, to) {
            (Socket::Zmq(s), Peer::Zmq(p)) => s.reply(p, payload, address),
            (Socket::Pure(s), Peer::Pure(p)) => s.reply(p, payload, address),
            // A socket's peers come from its own receive: cannot happen.
            _ => Err(Error::network(
                format!("replying on {address}"),
                "the message came from another socket",
            )),
        }
    }

    #[inline]
    fn publish(&mut self, n: u64, topic: &str, payload: Vec<u8>, address: Address) -> Result<()> {
        match self {
            Socket::Zmq(s) => s.publish(n, topic, payload, address),
            Socket::Pure(s) => s.publish(n, topic, payload, address),
        }
    }

    fn subscribe(&mut self, prefix: &[u8], address: Address) -> Result<()> {
        match self {
            Socket::Zmq(s) => s.subscribe(prefix, address),
            Socket::Pure(s) => s.subscribe(prefix, address),
        }
    }

    fn subscribers(&mut self, seen: Subscribers, deadline: Instant) -> Subscribers {
        match self {
            Socket::Zmq(s) => s.subscribers(seen, deadline),
            Socket::Pure(s) => s.subscribers(seen, deadline),
        }
    }

    fn flush_and_close(transport: &Both, sockets: Vec<Self>, deadline: Instant) {
        let (mut zmq, mut keyed) = (Vec::new(), Vec::new());
        for s in sockets {
            match s {
                Socket::Zmq(s) => zmq.push(s),
                Socket::Pure(s) => keyed.push(s),
            }
        }
        if let Some(io) = transport.pure.get() {
            pure::Socket::flush_and_close(io, keyed, deadline);
        }
        libzmq::Socket::flush_and_close(&transport.zmq, zmq, deadline);
    }
}
