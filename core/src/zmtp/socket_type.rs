//! Socket types as named in the READY `Socket-Type` property, and our roles.

/// Any ZeroMQ socket type a peer may announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SocketType {
    /// PAIR
    Pair,
    /// PUB
    Pub,
    /// SUB
    Sub,
    /// REQ
    Req,
    /// REP
    Rep,
    /// DEALER
    Dealer,
    /// ROUTER
    Router,
    /// PULL
    Pull,
    /// PUSH
    Push,
    /// XPUB
    XPub,
    /// XSUB
    XSub,
    /// STREAM
    Stream,
}

impl SocketType {
    /// The name sent in READY.
    pub const fn name(self) -> &'static str {
        match self {
            SocketType::Pair => "PAIR",
            SocketType::Pub => "PUB",
            SocketType::Sub => "SUB",
            SocketType::Req => "REQ",
            SocketType::Rep => "REP",
            SocketType::Dealer => "DEALER",
            SocketType::Router => "ROUTER",
            SocketType::Pull => "PULL",
            SocketType::Push => "PUSH",
            SocketType::XPub => "XPUB",
            SocketType::XSub => "XSUB",
            SocketType::Stream => "STREAM",
        }
    }

    /// Parse a `Socket-Type` value (exact, as libzmq compares it).
    pub fn from_name(name: &[u8]) -> Option<SocketType> {
        const ALL: [SocketType; 12] = [
            SocketType::Pair,
            SocketType::Pub,
            SocketType::Sub,
            SocketType::Req,
            SocketType::Rep,
            SocketType::Dealer,
            SocketType::Router,
            SocketType::Pull,
            SocketType::Push,
            SocketType::XPub,
            SocketType::XSub,
            SocketType::Stream,
        ];
        ALL.into_iter().find(|t| t.name().as_bytes() == name)
    }
}

/// The roles this engine plays (what networkzero needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Role {
    /// Requester: sends a request, then must receive the reply.
    Req,
    /// Replier: receives a request, then must send the reply.
    Rep,
    /// Publisher: sends to subscribers whose prefix matches.
    Pub,
    /// Subscriber: receives what it subscribed to.
    Sub,
}

impl Role {
    /// The socket type announced in READY.
    pub const fn socket_type(self) -> SocketType {
        match self {
            Role::Req => SocketType::Req,
            Role::Rep => SocketType::Rep,
            Role::Pub => SocketType::Pub,
            Role::Sub => SocketType::Sub,
        }
    }

    /// Whether a peer of type `peer` may talk to this role (ZMTP 23/37 table).
    pub const fn accepts(self, peer: SocketType) -> bool {
        matches!(
            (self, peer),
            (Role::Req, SocketType::Rep | SocketType::Router)
                | (Role::Rep, SocketType::Req | SocketType::Dealer)
                | (Role::Pub, SocketType::Sub | SocketType::XSub)
                | (Role::Sub, SocketType::Pub | SocketType::XPub)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_compat() {
        assert_eq!(SocketType::from_name(b"XPUB"), Some(SocketType::XPub));
        assert_eq!(SocketType::from_name(b"xpub"), None);
        assert!(Role::Req.accepts(SocketType::Rep));
        assert!(Role::Sub.accepts(SocketType::XPub));
        assert!(!Role::Req.accepts(SocketType::Pub));
        assert!(!Role::Pub.accepts(SocketType::Pub));
        assert!(!Role::Rep.accepts(SocketType::Rep));
    }
}
