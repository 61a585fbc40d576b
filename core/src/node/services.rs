//! Served names: REP and PUB services, replies and news.

use super::ids::{RequestId, ServiceId};
use super::slot::Owner;
use super::{Error, Node};
use crate::zmtp::{self, Role};
use crate::Instant;

/// One service: the TCP port it listens on and its ZMTP role.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) port: u16,
    pub(crate) role: Role,
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
        let free = self.slots.iter().filter(|s| s.owner == Owner::Free).count();
        if free < peers.max(1) {
            return Err(Error::NoFreeSocket);
        }
        self.advertise(name, port, now)?;
        let id = u8::try_from(index).map_err(|_| Error::TooManyServices)?;
        for slot in self
            .slots
            .iter_mut()
            .filter(|s| s.owner == Owner::Free)
            .take(peers.max(1))
        {
            slot.owner = Owner::Service(id);
        }
        if let Some(s) = self.services.get_mut(index) {
            *s = Some(Service { port, role });
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
        let slot = self
            .slots
            .get_mut(usize::from(request.slot))
            .filter(|s| {
                s.generation == request.generation && s.owner == Owner::Service(request.service.0)
            })
            .ok_or(Error::StaleRequest)?;
        let conn = slot.conn.as_mut().ok_or(Error::StaleRequest)?;
        if !conn.can_send() {
            return Err(Error::StaleRequest);
        }
        conn.send(&[data]).map_err(Error::Send)?;
        slot.stalled = false;
        Ok(())
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
        match self.services.get(usize::from(service.0)) {
            Some(Some(s)) if s.role == Role::Pub => {}
            _ => return Err(Error::NotAPublisher),
        }
        let mut queued = 0;
        for slot in &mut self.slots {
            if slot.owner != Owner::Service(service.0) {
                continue;
            }
            if let Some(conn) = slot.conn.as_mut().filter(|c| c.is_established()) {
                if let Ok(zmtp::Sent::Queued) = conn.send(&[topic, data]) {
                    queued += 1;
                }
            }
        }
        Ok(queued)
    }

    /// Subscribers (or requesters) connected to a service now.
    pub fn peers(&self, service: ServiceId) -> usize {
        self.slots
            .iter()
            .filter(|s| s.owner == Owner::Service(service.0))
            .filter(|s| s.conn.as_ref().is_some_and(|c| c.is_established()))
            .count()
    }
}
