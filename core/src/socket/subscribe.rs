//! SUB: the socket's prefixes, on every connection.
//!
//! The socket keeps its prefixes (counted: subscribing twice needs two
//! cancels, as in libzmq); each connection subscribes to all of them when
//! it starts, so a peer that reconnects, or a new one, gets them again. A
//! SUBSCRIBE or CANCEL goes out only when a prefix is new or gone.

use super::{Error, NewBuffer, Peer, Slots, Socket, SocketId, Sockets};
use crate::zmtp::subscriptions::AddError;
use crate::zmtp::{Role, SendError, MAX_TOPIC_LEN};

impl<R, T, P, S, const SUBS: usize, const TOPICS: usize> Sockets<R, T, P, S, SUBS, TOPICS>
where
    R: NewBuffer,
    T: NewBuffer,
    P: Slots<Peer<R, T, SUBS>>,
    S: Slots<Socket<TOPICS>>,
{
    /// SUB: subscribes to messages whose first part starts with `topic`
    /// (`b""`: all), on every connection, present and future.
    pub fn subscribe(&mut self, socket: SocketId, topic: &[u8]) -> Result<(), Error> {
        let longest = self.settings.max_subscription_len.min(MAX_TOPIC_LEN);
        let most = self.settings.max_subscriptions;
        let s = self.sub_socket(socket)?;
        if topic.len() > longest {
            return Err(Error::Send(SendError::TopicTooLong));
        }
        match s.topics.add(topic, most) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(AddError::TooLong) => return Err(Error::Send(SendError::TopicTooLong)),
            Err(AddError::Full) => return Err(Error::Send(SendError::TooManySubscriptions)),
        }
        for p in self.peers.as_mut_slice().iter_mut().flatten() {
            if p.socket != socket {
                continue;
            }
            if let Some(conn) = p.conn.as_mut() {
                // A connection that cannot take it now gets it when it
                // next starts.
                let _ = conn.subscribe(topic);
            }
        }
        Ok(())
    }

    /// SUB: drops one reference to `topic`; the CANCEL goes out when the
    /// last one is gone.
    pub fn unsubscribe(&mut self, socket: SocketId, topic: &[u8]) -> Result<(), Error> {
        let s = self.sub_socket(socket)?;
        if !s.topics.remove(topic) {
            return Ok(());
        }
        for p in self.peers.as_mut_slice().iter_mut().flatten() {
            if p.socket != socket {
                continue;
            }
            if let Some(conn) = p.conn.as_mut() {
                let _ = conn.unsubscribe(topic);
            }
        }
        Ok(())
    }

    /// The prefixes a SUB socket keeps.
    pub fn topics(&self, socket: SocketId) -> impl Iterator<Item = &[u8]> + '_ {
        self.socket(socket)
            .into_iter()
            .flat_map(|s| s.topics.iter().map(|(_, t)| t))
    }

    fn sub_socket(&mut self, socket: SocketId) -> Result<&mut Socket<TOPICS>, Error> {
        super::socket_as(&mut self.sockets, socket, Role::Sub)
    }
}
