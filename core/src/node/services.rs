//! Served names: REP and PUB services, replies and news. Each is a socket
//! listening on the TCP slots it keeps, one peer per slot.

use super::ids::{RequestId, ServiceId};
use super::{Error, Node};
use crate::socket::{self, PeerId, SocketId};
use crate::zmtp::Role;
use crate::Instant;

/// One service: the TCP port it listens on and its socket.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) port: u16,
    pub(crate) socket: SocketId,
}

impl<const SLOTS: usize, const BUF: usize, const ADVERTS: usize> Node<SLOTS, BUF, ADVERTS> {
    /// Serves requests at TCP `port` with up to `peers` peers at once (each
    /// takes one of the `SLOTS` slots) and advertises `name` there.
    /// Requests arrive as [`super::Event::Request`].
    pub fn serve(
        &mut self,
        name: &str,
        port: u16,
        peers: usize,
        now: Instant,
    ) -> Result<ServiceId, Error> {
        self.add_service(name, port, peers, Role::Rep, now)
    }

    /// Publishes news at TCP `port` for up to `peers` subscribers at once and
    /// advertises `name` there; send with [`Self::publish`].
    pub fn publish_on(
        &mut self,
        name: &str,
        port: u16,
        peers: usize,
        now: Instant,
    ) -> Result<ServiceId, Error> {
        self.add_service(name, port, peers, Role::Pub, now)
    }

    fn add_service(
        &mut self,
        name: &str,
        port: u16,
        peers: usize,
        role: Role,
        now: Instant,
    ) -> Result<ServiceId, Error> {
        if port == 0 || self.services.iter().flatten().any(|s| s.port == port) {
            return Err(Error::BadPort);
        }
        let index = self
            .services
            .iter()
            .position(Option::is_none)
            .ok_or(Error::TooManyServices)?;
        let id = u8::try_from(index).map_err(|_| Error::TooManyServices)?;
        let free = (0..SLOTS).filter(|&i| self.sockets.is_free(i)).count();
        if free < peers.max(1) {
            return Err(Error::NoFreeSocket);
        }
        self.advertise(name, port, now)?;
        let socket = self.sockets.open(role).map_err(|_| Error::NoFreeSocket)?;
        // The application hears of requests, not of peers coming and going.
        self.sockets.set_quiet(socket, true);
        let mut kept = 0;
        for i in 0..SLOTS {
            if kept == peers.max(1) {
                break;
            }
            if self.sockets.listen_at(i, socket).is_ok() {
                kept += 1;
            }
        }
        if let Some(s) = self.services.get_mut(index) {
            *s = Some(Service { port, socket });
        }
        Ok(ServiceId(id))
    }

    /// Every service with its TCP port, for a driver that listens.
    pub fn services(&self) -> impl Iterator<Item = (ServiceId, u16)> + '_ {
        self.services
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((ServiceId(u8::try_from(i).ok()?), s.as_ref()?.port)))
    }

    /// Answers a request with one message part.
    pub fn reply(&mut self, request: RequestId, data: &[u8]) -> Result<(), Error> {
        let socket = self.service(request.service).ok_or(Error::StaleRequest)?;
        if self.sockets.peer_socket(usize::from(request.slot)) != Some(socket) {
            return Err(Error::StaleRequest);
        }
        let peer = PeerId {
            index: u16::from(request.slot),
            generation: request.generation,
        };
        match self.sockets.reply(peer, &[data]) {
            Ok(()) => Ok(()),
            Err(socket::Error::Send(e)) => Err(Error::Send(e)),
            Err(_) => Err(Error::StaleRequest),
        }
    }

    /// Publishes `data` under `topic` to every subscriber whose prefix
    /// matches; returns how many it was queued for. Subscribers whose
    /// output is full miss it (as ZeroMQ PUB drops at its high-water mark).
    pub fn publish(
        &mut self,
        service: ServiceId,
        topic: &[u8],
        data: &[u8],
    ) -> Result<usize, Error> {
        let socket = self.service(service).ok_or(Error::NotAPublisher)?;
        self.sockets
            .publish(socket, &[topic, data])
            .map(|r| r.queued)
            .map_err(|_| Error::NotAPublisher)
    }

    /// Subscribers (or requesters) connected to a service now.
    pub fn peers(&self, service: ServiceId) -> usize {
        self.service(service)
            .map_or(0, |s| self.sockets.connected_peers(s))
    }

    fn service(&self, service: ServiceId) -> Option<SocketId> {
        self.services
            .get(usize::from(service.0))
            .and_then(Option::as_ref)
            .map(|s| s.socket)
    }
}
