//! Socket sets wired together in memory on a virtual clock, as quinn-proto
//! tests its endpoints: every rule of the module docs, driven through the
//! drain contract exactly as a driver would.

use std::collections::HashMap;
use std::vec::Vec;

use super::*;
use crate::zmtp::ZmtpError;

type Set = Fixed<8, 4, 1024>;

const T0: Instant = Instant::ZERO;

/// An event, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Up(SocketId, PeerId),
    Down(SocketId, PeerId, Option<ZmtpError>),
    Msg(SocketId, PeerId, Vec<u8>, bool),
    Sub(SocketId, PeerId, Vec<u8>),
    Unsub(SocketId, PeerId, Vec<u8>),
    Limit(SocketId),
    TooLarge(SocketId, PeerId, usize, usize),
}

fn own(e: Event<'_>) -> Ev {
    match e {
        Event::Connected { socket, peer } => Ev::Up(socket, peer),
        Event::Disconnected {
            socket,
            peer,
            error,
        } => Ev::Down(socket, peer, error),
        Event::Message(m) => Ev::Msg(m.socket, m.peer, m.part.data.to_vec(), m.part.more),
        Event::Subscribed {
            socket,
            peer,
            topic,
        } => Ev::Sub(socket, peer, topic.to_vec()),
        Event::Unsubscribed {
            socket,
            peer,
            topic,
        } => Ev::Unsub(socket, peer, topic.to_vec()),
        Event::PeerLimit { socket } => Ev::Limit(socket),
        Event::TooLarge {
            socket,
            peer,
            size,
            limit,
        } => Ev::TooLarge(socket, peer, size, limit),
    }
}

/// One end of a transport: (set, peer index).
type End = (usize, usize);

/// Sets joined by in-memory transports, and the driver that moves bytes,
/// actions and time between them.
struct World {
    sets: Vec<Set>,
    /// Open transports: each end and the bytes in flight towards it.
    wires: HashMap<End, (End, Vec<u8>)>,
    /// Where a dialled peer connects: a listening socket of some set.
    targets: HashMap<End, (usize, SocketId)>,
    /// Listening sockets that are up.
    listening: Vec<(usize, SocketId)>,
    /// Ends whose transport moves no bytes (a stalled peer).
    frozen: Vec<End>,
    /// Every event so far, per set.
    events: Vec<Vec<Ev>>,
    /// Every action so far, per set.
    actions: Vec<Vec<Action>>,
    now: Instant,
}

impl World {
    fn new(n: usize, settings: Settings) -> World {
        World {
            sets: (0..n).map(|_| Set::new(settings.clone())).collect(),
            wires: HashMap::new(),
            targets: HashMap::new(),
            listening: vec![],
            frozen: vec![],
            events: vec![vec![]; n],
            actions: vec![vec![]; n],
            now: T0,
        }
    }

    fn listen(&mut self, set: usize, role: Role) -> SocketId {
        let s = self.sets[set].open(role).unwrap();
        self.listening.push((set, s));
        s
    }

    fn dial(&mut self, set: usize, socket: SocketId, to: (usize, SocketId)) -> usize {
        let i = self.sets[set].connect(socket, self.now).unwrap();
        self.targets.insert((set, i), to);
        i
    }

    /// One turn of every set's drain contract, until nothing moves.
    fn run(&mut self) {
        for _ in 0..200 {
            let mut moved = false;
            for s in 0..self.sets.len() {
                moved |= self.turn(s);
            }
            if !moved {
                // Quiet: no set claims work it does not have.
                for (s, set) in self.sets.iter().enumerate() {
                    assert!(!set.has_work(self.now), "set {s} is quiet but has work");
                }
                return;
            }
        }
        panic!("the world never went quiet");
    }

    fn turn(&mut self, s: usize) -> bool {
        let mut moved = false;
        // Input: bytes in flight towards this set's ends.
        let ends: Vec<End> = self.wires.keys().filter(|e| e.0 == s).copied().collect();
        for end in &ends {
            if self.frozen.contains(end) {
                continue;
            }
            let Some((_, bytes)) = self.wires.get_mut(end) else {
                continue;
            };
            let mut input = std::mem::take(bytes);
            let mut off = 0;
            for _ in 0..1000 {
                let n = self.sets[s].handle_input(end.1, &input[off..], self.now);
                off += n;
                moved |= n > 0;
                let mut any = false;
                while let Some(e) = self.sets[s].poll_event() {
                    self.events[s].push(own(e));
                    any = true;
                }
                if n == 0 && !any {
                    break;
                }
            }
            input.drain(..off);
            if let Some((_, bytes)) = self.wires.get_mut(end) {
                input.extend_from_slice(bytes);
                *bytes = input;
            }
        }
        // Output.
        for end in ends {
            if self.frozen.contains(&end) {
                continue;
            }
            let out = self.sets[s].output(end.1).to_vec();
            if out.is_empty() {
                continue;
            }
            self.sets[s].consume_output(end.1, out.len());
            let Some(&(other, _)) = self.wires.get(&end) else {
                continue;
            };
            if let Some((_, bytes)) = self.wires.get_mut(&other) {
                bytes.extend_from_slice(&out);
                moved = true;
            }
        }
        // A set without work has no action, no timer due and no event.
        let idle = !self.sets[s].has_work(self.now);
        // Actions.
        while let Some(a) = self.sets[s].poll_action(self.now) {
            assert!(!idle, "set {s} said it had no work, then asked for {a:?}");
            moved = true;
            self.actions[s].push(a);
            self.act(s, a);
        }
        if self.sets[s].poll_timeout().is_some_and(|t| t <= self.now) {
            assert!(!idle, "set {s} said it had no work, with a timer due");
            self.sets[s].handle_timeout(self.now);
            moved = true;
        }
        while let Some(e) = self.sets[s].poll_event() {
            let e = own(e);
            assert!(!idle, "set {s} said it had no work, then reported {e:?}");
            self.events[s].push(e);
            moved = true;
        }
        moved
    }

    fn act(&mut self, s: usize, a: Action) {
        let now = self.now;
        match a {
            Action::Connect { peer, .. } => {
                let target = self.targets.get(&(s, peer)).copied();
                match target.filter(|t| self.listening.contains(t)) {
                    Some((ts, tsock)) => match self.sets[ts].accept(tsock, now) {
                        Ok(j) => {
                            self.wires.insert((s, peer), ((ts, j), vec![]));
                            self.wires.insert((ts, j), ((s, peer), vec![]));
                            self.sets[s].handle_connected(peer, now);
                        }
                        Err(_) => self.sets[s].handle_closed(peer, now),
                    },
                    None => self.sets[s].handle_closed(peer, now),
                }
            }
            Action::Close { peer } => {
                // Graceful: what was sent arrives, then the other end sees EOF.
                if let Some((other, _)) = self.wires.remove(&(s, peer)) {
                    let pending = self
                        .wires
                        .get(&other)
                        .map(|w| w.1.clone())
                        .unwrap_or_default();
                    let mut off = 0;
                    for _ in 0..100 {
                        let n = self.sets[other.0].handle_input(other.1, &pending[off..], now);
                        off += n;
                        while let Some(e) = self.sets[other.0].poll_event() {
                            self.events[other.0].push(own(e));
                        }
                        if n == 0 {
                            break;
                        }
                    }
                    self.wires.remove(&other);
                    self.sets[other.0].handle_eof(other.1);
                    self.sets[other.0].handle_closed(other.1, now);
                }
            }
            Action::Abort { peer } => {
                if let Some((other, _)) = self.wires.remove(&(s, peer)) {
                    self.wires.remove(&other);
                    self.sets[other.0].handle_closed(other.1, now);
                }
            }
        }
    }

    /// Cuts a transport as a reset would: both ends hear it at once.
    fn cut(&mut self, end: End) {
        if let Some((other, _)) = self.wires.remove(&end) {
            self.wires.remove(&other);
            self.sets[end.0].handle_closed(end.1, self.now);
            self.sets[other.0].handle_closed(other.1, self.now);
        }
    }

    /// Moves the clock to `t` and runs.
    fn at(&mut self, t: u64) {
        self.now = Instant::from_millis(t);
        self.run();
    }

    fn take(&mut self, s: usize) -> Vec<Ev> {
        std::mem::take(&mut self.events[s])
    }

    /// News received by set `s`: (topic, data) per two-part message.
    fn news(&mut self, s: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = vec![];
        let mut topic = None;
        for e in self.take(s) {
            if let Ev::Msg(_, _, d, more) = e {
                match topic.take() {
                    None if more => topic = Some(d),
                    Some(t) => out.push((t, d)),
                    None => out.push((d, vec![])),
                }
            }
        }
        out
    }

    fn messages(&mut self, s: usize) -> Vec<(PeerId, Vec<u8>)> {
        self.take(s)
            .into_iter()
            .filter_map(|e| match e {
                Ev::Msg(_, p, d, _) => Some((p, d)),
                _ => None,
            })
            .collect()
    }
}

/// A REP (set 0) and `n` REQ sets dialled to it, all connected.
fn rep_with_requesters(n: usize) -> (World, SocketId, Vec<SocketId>) {
    let mut w = World::new(n + 1, Settings::new());
    let rep = w.listen(0, Role::Rep);
    let reqs = (1..=n)
        .map(|s| {
            let req = w.sets[s].open(Role::Req).unwrap();
            w.dial(s, req, (0, rep));
            req
        })
        .collect();
    w.run();
    (w, rep, reqs)
}

// ---- REQ / REP ----------------------------------------------------------

#[test]
fn a_request_and_its_reply() {
    let (mut w, rep, reqs) = rep_with_requesters(1);
    let ups = w.take(0);
    assert!(matches!(ups[..], [Ev::Up(s, _)] if s == rep), "{ups:?}");
    assert!(matches!(w.take(1)[..], [Ev::Up(..)]));
    let to = w.sets[1].send(reqs[0], &[b"ping"]).unwrap();
    assert_eq!(
        w.sets[1].send(reqs[0], &[b"again"]),
        Err(Error::AwaitingReply),
        "one request at a time"
    );
    w.run();
    let got = w.messages(0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, b"ping");
    w.sets[0].reply(got[0].0, &[b"pong"]).unwrap();
    assert_eq!(
        w.sets[0].reply(got[0].0, &[b"twice"]),
        Err(Error::UnknownPeer),
        "a request is answered once"
    );
    w.run();
    let back = w.messages(1);
    assert_eq!(back, vec![(to, b"pong".to_vec())]);
    // The reply freed the REQ for its next request.
    w.sets[1].send(reqs[0], &[b"next"]).unwrap();
}

/// A REP (set 0) and a REQ (set 1) connected, each taking messages of at most
/// 100 bytes and skipping longer ones (up to 4 KiB); set 0's events taken.
fn rep_and_req_skipping_over_100_bytes() -> (World, SocketId, SocketId) {
    let mut settings = Settings::new();
    settings.max_message_size = 100;
    settings.max_skipped_message = 4096;
    let mut w = World::new(2, settings);
    let rep = w.listen(0, Role::Rep);
    let req = w.sets[1].open(Role::Req).unwrap();
    w.dial(1, req, (0, rep));
    w.run();
    w.take(0);
    (w, rep, req)
}

#[test]
fn a_message_over_the_limit_is_skipped_and_its_exchange_goes_on() {
    let (mut w, rep, req) = rep_and_req_skipping_over_100_bytes();
    w.take(1);
    // A request over the REP's limit: reported, and still owed a reply.
    w.sets[1].send(req, &[&[b'x'; 500]]).unwrap();
    w.run();
    let evs = w.take(0);
    let [Ev::TooLarge(s, asker, 500, 100)] = evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!(s, rep);
    // A reply over the REQ's limit: reported, and it ends the request.
    w.sets[0].reply(asker, &[&[b'y'; 300]]).unwrap();
    w.run();
    let evs = w.take(1);
    assert!(
        matches!(evs[..], [Ev::TooLarge(s, _, 300, 100)] if s == req),
        "{evs:?}"
    );
    // Both connections go on.
    w.sets[1].send(req, &[b"hi"]).unwrap();
    w.run();
    let got = w.messages(0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, b"hi");
    w.sets[0].reply(got[0].0, &[b"ok"]).unwrap();
    w.run();
    assert_eq!(w.messages(1).len(), 1);
}

#[test]
fn rep_takes_requests_from_peers_in_turn_and_routes_each_reply() {
    let (mut w, _, reqs) = rep_with_requesters(3);
    w.take(0);
    for (k, &req) in reqs.iter().enumerate() {
        w.sets[k + 1]
            .send(req, &[format!("q{k}").as_bytes()])
            .unwrap();
    }
    w.run();
    let got = w.messages(0);
    assert_eq!(got.len(), 3);
    // Each peer's request once; answer each with its own text.
    let mut texts: Vec<_> = got.iter().map(|g| g.1.clone()).collect();
    texts.sort();
    assert_eq!(texts, [b"q0".to_vec(), b"q1".to_vec(), b"q2".to_vec()]);
    for (peer, data) in &got {
        let mut answer = b"re:".to_vec();
        answer.extend_from_slice(data);
        w.sets[0].reply(*peer, &[&answer]).unwrap();
    }
    w.run();
    for k in 0..3 {
        let back = w.messages(k + 1);
        assert_eq!(back.len(), 1);
        assert_eq!(
            back[0].1,
            format!("re:q{k}").into_bytes(),
            "routed to its asker"
        );
    }
}

#[test]
fn a_chatty_requester_cannot_starve_the_others() {
    let (mut w, _, reqs) = rep_with_requesters(2);
    w.take(0);
    // Peer 1 keeps a request waiting; peer 2's requests come one after
    // another as fast as they are answered.
    w.sets[1].send(reqs[0], &[b"slow"]).unwrap();
    w.sets[2].send(reqs[1], &[b"fast"]).unwrap();
    w.run();
    let first = w.messages(0);
    assert_eq!(first.len(), 2, "both requests were taken: {first:?}");
    let answered = first.iter().find(|m| m.1 == b"fast").unwrap().0;
    let waiting = first.iter().find(|m| m.1 == b"slow").unwrap().0;
    // The fast peer's next request is read only after its reply...
    w.sets[0].reply(answered, &[b"ok"]).unwrap();
    w.run();
    w.take(2);
    w.sets[2].send(reqs[1], &[b"fast again"]).unwrap();
    w.run();
    assert_eq!(w.messages(0).len(), 1);
    // ...and the slow peer's request is still there to answer.
    w.sets[0].reply(waiting, &[b"ok"]).unwrap();
    w.run();
    assert_eq!(w.messages(1).len(), 1);
}

#[test]
fn rep_polls_peers_round_robin() {
    // Three requests waiting at once in the REP's connections (copy path):
    // poll_event hands them out one peer after another.
    let (mut w, _, reqs) = rep_with_requesters(3);
    w.take(0);
    let mut wires = vec![];
    for (k, &req) in reqs.iter().enumerate() {
        w.sets[k + 1].send(req, &[b"q"]).unwrap();
        let i = 0;
        let out = w.sets[k + 1].output(i).to_vec();
        w.sets[k + 1].consume_output(i, out.len());
        let (other, _) = w.wires[&(k + 1, i)].clone();
        wires.push((other.1, out));
    }
    // Feed all three without polling in between: each stops at its message.
    for (j, out) in &wires {
        assert_eq!(w.sets[0].handle_input(*j, out, w.now), out.len());
    }
    let mut order = vec![];
    while let Some(e) = w.sets[0].poll_event() {
        if let Event::Message(m) = e {
            order.push(m.peer.index());
        }
    }
    let mut sorted = order.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 3, "one from each: {order:?}");
}

#[test]
fn req_sends_to_its_peers_in_turn() {
    // One REQ dialled to two REPs: requests alternate between them, and
    // only the peer that took a request may answer it.
    let mut w = World::new(3, Settings::new());
    let rep_a = w.listen(1, Role::Rep);
    let rep_b = w.listen(2, Role::Rep);
    let req = w.sets[0].open(Role::Req).unwrap();
    w.dial(0, req, (1, rep_a));
    w.dial(0, req, (2, rep_b));
    w.run();
    let mut served = vec![];
    for round in 0..4 {
        w.sets[0]
            .send(req, &[format!("r{round}").as_bytes()])
            .unwrap();
        w.run();
        let (a, b) = (w.messages(1), w.messages(2));
        assert_eq!(a.len() + b.len(), 1);
        let (s, m) = if a.is_empty() { (2, &b[0]) } else { (1, &a[0]) };
        served.push(s);
        w.sets[s].reply(m.0, &[b"ok"]).unwrap();
        w.run();
        assert_eq!(w.messages(0).len(), 1);
    }
    assert!(
        served == [1, 2, 1, 2] || served == [2, 1, 2, 1],
        "{served:?}"
    );
}

#[test]
fn a_request_in_flight_is_lost_with_its_peer_and_a_reply_to_a_gone_peer_is_refused() {
    let (mut w, _, reqs) = rep_with_requesters(1);
    w.take(0);
    w.take(1);
    let to = w.sets[1].send(reqs[0], &[b"q"]).unwrap();
    w.run();
    let asked = w.messages(0)[0].0;
    w.cut((1, to.index()));
    w.run();
    assert!(w
        .take(1)
        .iter()
        .any(|e| matches!(e, Ev::Down(_, p, None) if *p == to)));
    assert!(w.take(0).iter().any(|e| matches!(e, Ev::Down(..))));
    assert_eq!(w.sets[0].reply(asked, &[b"late"]), Err(Error::UnknownPeer));
    // The lost request freed the REQ: once reconnected it may ask again.
    assert_eq!(w.sets[1].send(reqs[0], &[b"q2"]), Err(Error::NotConnected));
    w.at(RECONNECT.as_millis());
    let again = w.sets[1].send(reqs[0], &[b"q2"]).unwrap();
    assert_eq!(again.index(), to.index());
    assert_ne!(again, to, "a new connection on the same index");
    w.run();
    assert_eq!(w.messages(0)[0].1, b"q2");
}

#[test]
fn zero_copy_input_hands_a_whole_part_back_at_once() {
    let (mut w, _, reqs) = rep_with_requesters(1);
    w.take(0);
    w.sets[1].send(reqs[0], &[b"hello"]).unwrap();
    let out = w.sets[1].output(0).to_vec();
    w.sets[1].consume_output(0, out.len());
    let j = w.wires[&(1, 0)].0 .1;
    let got = w.sets[0].handle_input_borrowed(j, &out, w.now);
    assert_eq!(got.consumed, out.len());
    let m = got.message.expect("a contiguous part");
    assert_eq!(m.part.data, b"hello");
    assert!(w.sets[0].poll_event().is_none(), "not delivered twice");
    w.sets[0].reply(m.peer, &[b"hi"]).unwrap();
    let back = w.sets[0].output(j).to_vec();
    w.sets[0].consume_output(j, back.len());
    let got = w.sets[1].handle_input_borrowed(0, &back, w.now);
    assert_eq!(got.message.map(|m| m.part.data), Some(&b"hi"[..]));
    // The zero-copy reply freed the REQ too.
    w.sets[1].send(reqs[0], &[b"more"]).unwrap();
}

// ---- PUB / SUB ----------------------------------------------------------

/// A PUB (set 0) and `n` SUB sets subscribed to `prefix`, all connected.
fn pub_with_subscribers(n: usize, settings: Settings, prefix: &[u8]) -> (World, SocketId) {
    let mut w = World::new(n + 1, settings);
    let publ = w.listen(0, Role::Pub);
    for s in 1..=n {
        let sub = w.sets[s].open(Role::Sub).unwrap();
        w.sets[s].subscribe(sub, prefix).unwrap();
        w.dial(s, sub, (0, publ));
    }
    w.run();
    (w, publ)
}

/// A PUB reads only subscriptions from its peers: at most `PUB_INPUT` bytes
/// in one message, whatever the message size for news. A peer that sends it
/// more is disconnected, and the other subscribers' news goes on.
#[test]
fn a_pub_disconnects_a_peer_that_sends_it_more_than_a_subscription() {
    let (mut w, publ) = pub_with_subscribers(2, Settings::new(), b"");
    w.take(0);
    let bad = w.wires[&(1, 0)].0;
    // A long frame (flags 0x02, 8-byte length) that is no subscription.
    let mut frame = vec![0x02];
    frame.extend_from_slice(&((PUB_INPUT + 1) as u64).to_be_bytes());
    frame.extend_from_slice(&[0x02; PUB_INPUT + 1]);
    w.sets[0].handle_input(bad.1, &frame, w.now);
    w.run();
    assert!(w.actions[0].contains(&Action::Close { peer: bad.1 }));
    assert!(w.take(0).iter().any(|e| matches!(
        e,
        Ev::Down(_, p, Some(ZmtpError::MessageTooLarge)) if p.index() == bad.1
    )));
    w.sets[0].publish(publ, &[b"t", b"1"]).unwrap();
    w.run();
    assert_eq!(w.news(2), vec![(b"t".to_vec(), b"1".to_vec())]);
}

#[test]
fn news_reaches_matching_subscribers_only() {
    let mut w = World::new(3, Settings::new());
    let publ = w.listen(0, Role::Pub);
    for (s, prefix) in [(1, &b"temp"[..]), (2, b"wind")] {
        let sub = w.sets[s].open(Role::Sub).unwrap();
        w.sets[s].subscribe(sub, prefix).unwrap();
        w.dial(s, sub, (0, publ));
    }
    w.run();
    let subs: Vec<_> = w
        .take(0)
        .into_iter()
        .filter(|e| matches!(e, Ev::Sub(..)))
        .collect();
    assert_eq!(subs.len(), 2, "each subscription told to the PUB");
    let r = w.sets[0].publish(publ, &[b"temp.c", b"21"]).unwrap();
    assert_eq!(
        r,
        PublishReport {
            queued: 1,
            filtered: 1,
            dropped: 0
        }
    );
    w.run();
    assert_eq!(w.news(1), vec![(b"temp.c".to_vec(), b"21".to_vec())]);
    assert_eq!(w.news(2), vec![]);
}

#[test]
fn a_sub_takes_news_from_its_publishers_in_turn() {
    let mut w = World::new(3, Settings::new());
    let pa = w.listen(1, Role::Pub);
    let pb = w.listen(2, Role::Pub);
    let sub = w.sets[0].open(Role::Sub).unwrap();
    w.sets[0].subscribe(sub, b"").unwrap();
    let ia = w.dial(0, sub, (1, pa));
    let ib = w.dial(0, sub, (2, pb));
    w.run();
    w.take(0);
    // A burst from each. Each SUB connection holds one part at a time;
    // taking one event at a time (feeding both between events), messages
    // complete from one publisher, then the other, in turn.
    for k in 0..3u8 {
        w.sets[1].publish(pa, &[b"a", &[k]]).unwrap();
        w.sets[2].publish(pb, &[b"b", &[k]]).unwrap();
    }
    let mut input = vec![];
    for (s, i) in [(1, 0), (2, 0)] {
        let out = w.sets[s].output(i).to_vec();
        w.sets[s].consume_output(i, out.len());
        input.push((w.wires[&(s, i)].0 .1, out));
    }
    let mut done = vec![];
    for _ in 0..100 {
        for (j, bytes) in input.iter_mut() {
            let n = w.sets[0].handle_input(*j, bytes, w.now);
            bytes.drain(..n);
        }
        match w.sets[0].poll_event().map(own) {
            Some(Ev::Msg(_, p, _, false)) => done.push(p.index()),
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(done.len(), 6, "{done:?}");
    for pair in done.windows(2) {
        assert_ne!(pair[0], pair[1], "in turn: {done:?}");
    }
    assert!(done.contains(&ia) && done.contains(&ib));
}

#[test]
fn a_slow_subscriber_misses_the_newest_news_alone() {
    // Without a count (high-water mark 0, or no alloc), output room limits
    // a peer: 1 KiB buffers hold a few dozen items.
    let mut settings = Settings::new();
    settings.high_water_mark = 0;
    let (mut w, publ) = pub_with_subscribers(2, settings, b"");
    w.take(1);
    w.take(2);
    let slow = w.wires[&(2, 0)].0;
    w.frozen.push(slow);
    let mut report = PublishReport::default();
    for k in 0..200u32 {
        let r = w.sets[0].publish(publ, &[b"n", &k.to_be_bytes()]).unwrap();
        report.queued += r.queued;
        report.dropped += r.dropped;
        w.run();
    }
    assert_eq!(w.news(1).len(), 200, "the fast subscriber got everything");
    assert!(report.dropped > 100, "{report:?}");
    w.frozen.clear();
    w.run();
    let got: Vec<u32> = w
        .news(2)
        .into_iter()
        .map(|(_, d)| u32::from_be_bytes(d.try_into().unwrap()))
        .collect();
    assert!(got.len() < 100);
    // The oldest arrived, in order, with nothing between them lost: the
    // newest were the ones dropped.
    assert_eq!(got, (0..got.len() as u32).collect::<Vec<_>>());
}

#[cfg(feature = "alloc")]
#[test]
fn the_high_water_mark_counts_unwritten_messages_exactly() {
    let mut settings = Settings::new();
    settings.high_water_mark = 3;
    let (mut w, publ) = pub_with_subscribers(2, settings, b"");
    let slow = w.wires[&(2, 0)].0;
    w.frozen.push(slow);
    let mut dropped = 0;
    for k in 0..10u8 {
        dropped += w.sets[0].publish(publ, &[b"n", &[k]]).unwrap().dropped;
        w.run();
    }
    assert_eq!(dropped, 7, "exactly 3 wait for the slow peer");
    // Its transport takes two messages and a half: two count no more.
    let out = w.sets[0].output(slow.1).to_vec();
    let item = out.len() / 3;
    w.sets[0].consume_output(slow.1, item * 2 + item / 2);
    for room in [b"x", b"y"] {
        assert_eq!(w.sets[0].publish(publ, &[b"n", room]).unwrap().queued, 2);
    }
    assert_eq!(w.sets[0].publish(publ, &[b"n", b"z"]).unwrap().dropped, 1);
    assert_eq!(w.news(1).len(), 10);
}

#[test]
fn subscriptions_are_sent_again_when_a_subscriber_reconnects() {
    let (mut w, publ) = pub_with_subscribers(1, Settings::new(), b"t");
    let sub = SocketId(0);
    w.sets[1].subscribe(sub, b"u").unwrap();
    w.run();
    w.take(0);
    let end = w.wires[&(1, 0)].0;
    w.cut(end);
    w.run();
    assert!(w.take(1).iter().any(|e| matches!(e, Ev::Down(..))));
    assert_eq!(w.sets[1].poll_timeout(), Some(w.now + RECONNECT));
    w.at(RECONNECT.as_millis());
    let subs: Vec<Vec<u8>> = w
        .take(0)
        .into_iter()
        .filter_map(|e| match e {
            Ev::Sub(_, _, t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(
        subs,
        vec![b"t".to_vec(), b"u".to_vec()],
        "both, on the new connection"
    );
    w.sets[0].publish(publ, &[b"u1", b"x"]).unwrap();
    w.run();
    assert_eq!(w.news(1), vec![(b"u1".to_vec(), b"x".to_vec())]);
    // A prefix subscribed twice needs two cancels.
    w.sets[1].subscribe(sub, b"u").unwrap();
    w.sets[1].unsubscribe(sub, b"u").unwrap();
    w.run();
    assert!(!w.take(0).iter().any(|e| matches!(e, Ev::Unsub(..))));
    w.sets[1].unsubscribe(sub, b"u").unwrap();
    w.run();
    assert!(w
        .take(0)
        .iter()
        .any(|e| matches!(e, Ev::Unsub(_, _, t) if t == b"u")));
}

// ---- reconnects, deadlines, limits --------------------------------------

#[test]
fn a_dialled_peer_retries_every_reconnect_interval_until_its_peer_is_back() {
    let mut w = World::new(2, Settings::new());
    let rep = w.sets[1].open(Role::Rep).unwrap(); // not listening yet
    let req = w.sets[0].open(Role::Req).unwrap();
    w.dial(0, req, (1, rep));
    w.run();
    let connects = |w: &World| {
        w.actions[0]
            .iter()
            .filter(|a| matches!(a, Action::Connect { .. }))
            .count()
    };
    assert_eq!(connects(&w), 1, "refused once");
    assert_eq!(w.sets[0].poll_timeout(), Some(w.now + RECONNECT));
    w.at(50);
    assert_eq!(connects(&w), 1, "not before the interval");
    w.at(100);
    assert_eq!(connects(&w), 2);
    w.listening.push((1, rep));
    w.at(200);
    assert_eq!(connects(&w), 3);
    assert!(w.take(0).iter().any(|e| matches!(e, Ev::Up(..))));
    assert_eq!(w.sets[0].poll_timeout(), None, "connected: no timer left");
}

#[test]
fn a_parked_peer_waits_for_redial() {
    let mut w = World::new(2, Settings::new());
    let rep = w.listen(1, Role::Rep);
    let req = w.sets[0].open(Role::Req).unwrap();
    let i = w.sets[0].connect(req, T0).unwrap();
    assert!(w.sets[0].park(i));
    assert!(w.sets[0].is_parked(i));
    assert_eq!(w.sets[0].poll_timeout(), None);
    assert_eq!(w.sets[0].poll_action(T0), None);
    w.targets.insert((0, i), (1, rep));
    w.sets[0].redial(i, T0);
    w.run();
    assert!(w.sets[0].is_established(i));
}

#[test]
fn a_handshake_that_never_finishes_times_out() {
    let mut settings = Settings::new();
    settings.handshake_timeout = Some(Duration::from_secs(2));
    let mut w = World::new(2, settings);
    let rep = w.listen(0, Role::Rep);
    let req = w.sets[1].open(Role::Req).unwrap();
    let i = w.dial(1, req, (0, rep));
    // The REQ's transport connects but never moves a byte.
    w.frozen.push((1, i));
    w.run();
    let j = w.wires[&(1, i)].0 .1;
    assert!(w.sets[0].has_connection(j));
    assert_eq!(w.sets[0].poll_timeout(), Some(Instant::from_millis(2000)));
    w.at(1999);
    assert!(w.sets[0].has_connection(j));
    w.at(2000);
    assert!(w.actions[0].contains(&Action::Close { peer: j }));
    assert!(!w.sets[0].has_connection(j));
    assert_eq!(w.take(0), vec![], "it never connected: nothing to tell");
    // The dialled side heard its transport close, and reconnects.
    assert_eq!(
        w.sets[1].poll_timeout(),
        Some(Instant::from_millis(2000) + RECONNECT)
    );
}

#[test]
fn garbage_from_one_peer_closes_only_its_connection() {
    let (mut w, _, reqs) = rep_with_requesters(2);
    w.take(0);
    // The good peer's request is in the REP's connection...
    w.sets[2].send(reqs[1], &[b"good"]).unwrap();
    w.run();
    // ...when the other peer sends bytes no ZMTP peer would.
    let bad = w.wires[&(1, 0)].0;
    w.sets[0].handle_input(bad.1, &[0x7f; 64], w.now);
    w.run();
    assert!(w.actions[0].contains(&Action::Close { peer: bad.1 }));
    let events = w.take(0);
    assert!(events.iter().any(
        |e| matches!(e, Ev::Down(_, p, Some(ZmtpError::ReservedFlags)) if p.index() == bad.1)
    ));
    let good: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Ev::Msg(_, p, d, _) => Some((*p, d.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(good.len(), 1);
    assert_eq!(good[0].1, b"good");
    w.sets[0].reply(good[0].0, &[b"ok"]).unwrap();
    w.run();
    assert_eq!(w.messages(2).len(), 1, "nothing lost for the good peer");
    w.sets[2].send(reqs[1], &[b"again"]).unwrap();
    w.run();
    assert_eq!(w.messages(0).len(), 1);
}

#[test]
fn a_listener_takes_at_most_max_peers() {
    let mut settings = Settings::new();
    settings.max_peers = 2;
    let mut w = World::new(1, settings);
    let rep = w.sets[0].open(Role::Rep).unwrap();
    let a = w.sets[0].accept(rep, T0).unwrap();
    let b = w.sets[0].accept(rep, Instant::from_millis(1)).unwrap();
    // At the limit, a new connection replaces the oldest still in its
    // handshake, and the application hears of the limit once.
    let c = w.sets[0].accept(rep, Instant::from_millis(2)).unwrap();
    assert_eq!(
        w.sets[0].poll_action(w.now),
        Some(Action::Abort { peer: a })
    );
    assert_eq!(
        w.sets[0].poll_event(),
        Some(Event::PeerLimit { socket: rep })
    );
    let d = w.sets[0].accept(rep, Instant::from_millis(3)).unwrap();
    assert_eq!(
        w.sets[0].poll_action(w.now),
        Some(Action::Abort { peer: b })
    );
    assert!(w.sets[0].poll_event().is_none(), "told once");
    assert!(w.sets[0].has_connection(c) && w.sets[0].has_connection(d));
}

#[test]
fn a_full_listener_with_every_peer_connected_refuses() {
    let mut settings = Settings::new();
    settings.max_peers = 1;
    let (mut w, rep, _) = {
        let mut w = World::new(2, settings);
        let rep = w.listen(0, Role::Rep);
        let req = w.sets[1].open(Role::Req).unwrap();
        w.dial(1, req, (0, rep));
        w.run();
        (w, rep, req)
    };
    assert_eq!(w.sets[0].connected_peers(rep), 1);
    assert_eq!(w.sets[0].accept(rep, w.now), Err(Error::Full));
    w.run();
    assert!(w.take(0).contains(&Ev::Limit(rep)));
}

/// An accepted peer that goes before the application heard of it (reset
/// in its handshake) leaves nothing behind: no event, and its index takes
/// the next connection, so clients that never finish cannot use the table
/// up (here, three times over).
#[test]
fn a_peer_gone_in_its_handshake_frees_its_index() {
    let mut set = Set::new(Settings::new());
    let rep = set.open(Role::Rep).unwrap();
    let first = set.accept(rep, T0).unwrap();
    set.handle_closed(first, T0);
    for _ in 0..3 * 8 {
        let i = set.accept(rep, T0).unwrap();
        assert_eq!(i, first);
        set.handle_closed(i, T0);
        assert!(set.poll_event().is_none());
    }
}

/// A socket counts its own peers that are past their handshake, and only
/// those: another socket of the set, with none, has none.
#[test]
fn connected_peers_counts_a_sockets_own_established_peers() {
    let (mut w, rep, _) = rep_with_requesters(2);
    let other = w.sets[0].open(Role::Pub).unwrap();
    assert_eq!(w.sets[0].connected_peers(rep), 2);
    assert_eq!(w.sets[0].connected_peers(other), 0);
    let fresh = w.sets[0].accept(other, w.now).unwrap();
    assert!(w.sets[0].has_connection(fresh));
    assert_eq!(w.sets[0].connected_peers(other), 0, "in its handshake");
}

/// A socket says its role while it is open, and none once closed.
#[test]
fn a_sockets_role_is_known_while_it_is_open() {
    let mut set = Set::new(Settings::new());
    let sub = set.open(Role::Sub).unwrap();
    assert_eq!(set.role(sub), Some(Role::Sub));
    assert!(set.close(sub));
    assert_eq!(set.role(sub), None);
}

/// A REP listener that takes one peer, with peer `a` being aborted (replaced
/// at the limit by `b`, still in its handshake): (set, REP, a, b).
fn rep_with_a_peer_being_aborted() -> (Set, SocketId, usize, usize) {
    let mut settings = Settings::new();
    settings.max_peers = 1;
    let mut set = Set::new(settings);
    let rep = set.open(Role::Rep).unwrap();
    let a = set.accept(rep, T0).unwrap();
    let b = set.accept(rep, Instant::from_millis(1)).unwrap();
    (set, rep, a, b)
}

/// Closing a listener whose peer was already being aborted (replaced at
/// the peer limit) still hands the driver that peer's abort: every
/// transport of a closed socket is dropped, none is leaked.
#[test]
fn closing_a_socket_aborts_a_peer_already_being_aborted() {
    let (mut set, rep, a, b) = rep_with_a_peer_being_aborted();
    assert!(set.close(rep));
    let mut aborted = Vec::new();
    while let Some(action) = set.poll_action(T0) {
        aborted.push(action);
        assert!(aborted.len() <= 4, "{aborted:?}");
    }
    aborted.sort_by_key(|a| format!("{a:?}"));
    assert_eq!(
        aborted,
        [Action::Abort { peer: a }, Action::Abort { peer: b }]
    );
}

#[test]
fn closing_a_socket_aborts_its_transports() {
    let (mut w, rep, _) = rep_with_requesters(2);
    assert!(w.sets[0].close(rep));
    w.run();
    let aborts = w.actions[0]
        .iter()
        .filter(|a| matches!(a, Action::Abort { .. }))
        .count();
    assert_eq!(aborts, 2);
    assert!(!w.sets[0].close(rep));
    assert_eq!(w.sets[0].poll_timeout(), None);
}

#[test]
fn a_peer_that_finishes_is_closed_after_its_last_message() {
    let (mut w, _, reqs) = rep_with_requesters(1);
    w.take(0);
    w.sets[1].send(reqs[0], &[b"last words"]).unwrap();
    let out = w.sets[1].output(0).to_vec();
    w.sets[1].consume_output(0, out.len());
    let j = w.wires[&(1, 0)].0 .1;
    w.sets[0].handle_input(j, &out, w.now);
    w.sets[0].handle_eof(j);
    assert_eq!(w.sets[0].poll_action(w.now), None, "a message waits");
    assert!(matches!(w.sets[0].poll_event(), Some(Event::Message(_))));
    assert_eq!(
        w.sets[0].poll_action(w.now),
        Some(Action::Close { peer: j })
    );
}

#[test]
fn a_connection_wants_input_while_nothing_waits_for_the_application() {
    let (mut w, _, reqs) = rep_with_requesters(1);
    w.take(0);
    let j = w.wires[&(1, 0)].0 .1;
    assert!(w.sets[0].wants_input(j) && w.sets[1].wants_input(0));
    w.sets[1].send(reqs[0], &[b"ping"]).unwrap();
    let out = w.sets[1].output(0).to_vec();
    w.sets[1].consume_output(0, out.len());
    w.sets[0].handle_input(j, &out, w.now);
    assert!(!w.sets[0].wants_input(j), "a request waits to be polled");
    assert!(matches!(w.sets[0].poll_event(), Some(Event::Message(_))));
    assert!(w.sets[0].wants_input(j), "told: it reads again");
    w.sets[0].handle_eof(j);
    assert!(!w.sets[0].wants_input(j), "the peer has finished");
}

/// A REP that owes its reply takes no next request: offered one (copied or
/// borrowed), it takes nothing and says it wants no input until it has
/// replied.
#[test]
fn a_rep_owing_its_reply_wants_no_input_until_it_replies() {
    for borrowed in [false, true] {
        let (mut w, _, reqs) = rep_with_requesters(1);
        w.take(0);
        let j = w.wires[&(1, 0)].0 .1;
        w.sets[1].send(reqs[0], &[b"ping"]).unwrap();
        let request = w.sets[1].output(0).to_vec();
        w.sets[1].consume_output(0, request.len());
        assert_eq!(w.sets[0].handle_input(j, &request, w.now), request.len());
        let Some(Event::Message(m)) = w.sets[0].poll_event() else {
            panic!("the request")
        };
        let peer = m.peer;
        // A second request (as a peer that does not wait would send it).
        let taken = if borrowed {
            w.sets[0].handle_input_borrowed(j, &request, w.now).consumed
        } else {
            w.sets[0].handle_input(j, &request, w.now)
        };
        assert_eq!(taken, 0);
        assert!(!w.sets[0].wants_input(j), "a reply is owed ({borrowed})");
        w.sets[0].reply(peer, &[b"pong"]).unwrap();
        assert!(w.sets[0].wants_input(j), "replied: it reads again");
    }
}

/// A request that comes borrowed in two pieces is taken whole: the first
/// piece leaves the connection wanting the rest.
#[test]
fn a_request_borrowed_in_two_pieces_arrives() {
    let (mut w, _, reqs) = rep_with_requesters(1);
    w.take(0);
    let j = w.wires[&(1, 0)].0 .1;
    w.sets[1].send(reqs[0], &[b"a longer request"]).unwrap();
    let request = w.sets[1].output(0).to_vec();
    w.sets[1].consume_output(0, request.len());
    let (head, tail) = request.split_at(request.len() - 4);
    assert_eq!(
        w.sets[0].handle_input_borrowed(j, head, w.now).consumed,
        head.len()
    );
    assert!(w.sets[0].wants_input(j), "the rest is wanted");
    let rest = w.sets[0].handle_input_borrowed(j, tail, w.now);
    assert_eq!(rest.consumed, tail.len());
    let data = match (rest.message, w.sets[0].poll_event()) {
        (Some(m), _) | (None, Some(Event::Message(m))) => m.part.data.to_vec(),
        other => panic!("{other:?}"),
    };
    assert_eq!(data, b"a longer request");
}

/// Only a dialled peer whose time has come is connected: established
/// connections, at either end, have no action to take, however late.
#[test]
fn established_peers_have_no_action() {
    let (mut w, _, _) = rep_with_requesters(1);
    let later = w.now + RECONNECT;
    assert_eq!(w.sets[0].poll_action(later), None);
    assert_eq!(w.sets[1].poll_action(later), None);
}

/// A connect that fails is tried again after [`RECONNECT`], not at once.
#[test]
fn a_failed_connect_is_retried_after_the_reconnect_pause() {
    let t = Instant::from_millis(10_000);
    let mut set = Set::new(Settings::new());
    let req = set.open(Role::Req).unwrap();
    let i = set.connect(req, t).unwrap();
    assert!(matches!(set.poll_action(t), Some(Action::Connect { .. })));
    set.handle_closed(i, t);
    assert_eq!(set.poll_action(t), None, "not at once");
    assert_eq!(set.poll_timeout(), Some(t + RECONNECT));
    assert!(matches!(
        set.poll_action(t + RECONNECT),
        Some(Action::Connect { .. })
    ));
}

/// Feeding a connection no bytes (borrowed or not) changes nothing: it
/// still wants input.
#[test]
fn no_bytes_leave_a_connection_wanting_input() {
    let (mut w, _, _) = rep_with_requesters(1);
    w.take(0);
    let j = w.wires[&(1, 0)].0 .1;
    assert_eq!(w.sets[0].handle_input(j, &[], w.now), 0);
    assert_eq!(w.sets[0].handle_input_borrowed(j, &[], w.now).consumed, 0);
    assert!(w.sets[0].wants_input(j));
}

/// A peer being aborted (replaced at the peer limit) stays aborted when its
/// transport reports connected meanwhile: no connection starts on it, and
/// the listener keeps to its limit.
#[test]
fn a_peer_being_aborted_stays_aborted_when_connected() {
    let (mut set, _, a, b) = rep_with_a_peer_being_aborted();
    set.handle_connected(a, T0);
    assert!(!set.has_connection(a));
    assert!(set.has_connection(b));
    assert_eq!(set.poll_action(T0), Some(Action::Abort { peer: a }));
}

/// A new transport on an index whose connection is up replaces it: the
/// application is told the old one went, and the new one starts.
#[test]
fn a_new_transport_over_an_open_connection_tells_the_old_one_gone() {
    let (mut w, _, reqs) = rep_with_requesters(1);
    w.take(1);
    w.sets[1].handle_connected(0, w.now);
    let mut events = Vec::new();
    while let Some(e) = w.sets[1].poll_event() {
        events.push(own(e));
        assert!(events.len() < 8, "{events:?}");
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Ev::Down(s, _, None) if *s == reqs[0])),
        "{events:?}"
    );
    assert!(w.sets[1].has_connection(0), "the new connection starts");
}

#[cfg(feature = "alloc")]
#[test]
fn growing_sockets_with_tiny_limits_still_connect() {
    // Output buffers are sized from the limits (a SUB's from its
    // subscriptions, the others' from the message size); however small
    // those are, a buffer must still hold the greeting, READY and the
    // control reserve, or the connection could never start.
    let mut settings = Settings::new();
    settings.max_subscriptions = 1;
    settings.max_subscription_len = 4;
    settings.max_message_size = 16;
    settings.max_parts = 1;
    let mut set = Growing::new(settings);
    for role in [Role::Sub, Role::Req] {
        let socket = set.open(role).unwrap();
        let i = set.connect(socket, T0).unwrap();
        assert!(matches!(set.poll_action(T0), Some(Action::Connect { peer, .. }) if peer == i));
        set.handle_connected(i, T0);
        assert!(set.has_connection(i), "{role:?}");
        assert!(!set.output(i).is_empty(), "{role:?}: the greeting goes out");
    }
}

/// Moves bytes between two growing sets' ends `a` and `b` (polling their
/// events) until nothing moves; bounded.
#[cfg(feature = "alloc")]
fn shuttle(x: &mut Growing, a: usize, y: &mut Growing, b: usize) {
    fn pass(from: &mut Growing, i: usize, to: &mut Growing, j: usize) -> usize {
        let out = from.output(i).to_vec();
        let mut off = 0;
        for _ in 0..100 {
            off += to.handle_input(j, &out[off..], T0);
            let mut any = false;
            while to.poll_event().is_some() {
                any = true;
            }
            if off == out.len() || !any {
                break;
            }
        }
        from.consume_output(i, off);
        off
    }
    for _ in 0..50 {
        if pass(x, a, y, b) + pass(y, b, x, a) == 0 {
            return;
        }
    }
    panic!("the sets never went quiet");
}

/// A growing PUB and SUB (`keys`: secured, the server's then the client's),
/// with messages of up to `max` bytes in `parts` parts; the subscriber stops
/// reading after the handshake and the publisher sends two-part news until
/// its output to it is full. Returns the bytes queued and the news dropped.
#[cfg(feature = "alloc")]
fn stall_a_subscriber(max: usize, parts: usize, keys: Option<(Secure, Secure)>) -> (usize, usize) {
    let mut settings = Settings::new();
    settings.max_message_size = max;
    settings.max_parts = parts;
    settings.high_water_mark = 10_000;
    let mut publisher = Growing::new(settings.clone());
    let mut subscriber = Growing::new(settings);
    let news = publisher.open(Role::Pub).unwrap();
    let sub = subscriber.open(Role::Sub).unwrap();
    subscriber.subscribe(sub, b"").unwrap();
    let j = subscriber.connect(sub, T0).unwrap();
    assert!(matches!(
        subscriber.poll_action(T0),
        Some(Action::Connect { .. })
    ));
    let i = match keys {
        Some((server, client)) => {
            subscriber.handle_connected_secured(j, T0, client);
            publisher.accept_secured(news, T0, server).unwrap()
        }
        None => {
            subscriber.handle_connected(j, T0);
            publisher.accept(news, T0).unwrap()
        }
    };
    shuttle(&mut publisher, i, &mut subscriber, j);
    let first = publisher.publish(news, &[b"topic", b"data"]).unwrap();
    assert_eq!(first.queued, 1, "subscribed and connected");
    // The subscriber reads no more.
    let mut dropped = 0;
    for _ in 0..100 {
        dropped += publisher
            .publish(news, &[b"topic", b"data"])
            .unwrap()
            .dropped;
    }
    (publisher.output(i).len(), dropped)
}

#[cfg(feature = "alloc")]
#[test]
fn a_stalled_subscriber_costs_a_growing_publisher_one_bounded_buffer() {
    // A PUB's output to one subscriber grows to hold its largest message
    // plus the envelope, control reserve and minimum, and no further:
    // past that, news for a subscriber that stopped reading is dropped.
    let (queued, dropped) = stall_a_subscriber(16, 2, None);
    let limit = 16 + 2 * 9 + MAX_ENVELOPE + CONTROL_RESERVE + MIN_TX_BUFFER;
    // News may fill all but the control reserve; an item is two short frames.
    let room = limit - CONTROL_RESERVE;
    let item = (2 + 5) + (2 + 4);
    assert!(
        queued <= room && queued + item > room,
        "{queued} bytes queued, room {room}"
    );
    assert!(dropped > 0);
}

#[test]
fn kept_indices_take_the_next_connection() {
    // Firmware: one transport per index, kept for a listening socket.
    let mut set = Set::new(Settings::new());
    let rep = set.open_at(2, Role::Rep).unwrap();
    assert_eq!(rep.index(), 2);
    set.listen_at(5, rep).unwrap();
    assert_eq!(set.listen_at(5, rep), Err(Error::Taken));
    assert_eq!(set.peer_socket(5), Some(rep));
    assert!(!set.has_connection(5));
    set.handle_connected(5, T0);
    assert!(set.has_connection(5));
    set.handle_closed(5, T0);
    assert!(!set.has_connection(5));
    assert_eq!(set.peer_socket(5), Some(rep), "still the socket's");
    assert_eq!(set.poll_action(T0), None);
}

/// Each requester of `rep_with_requesters` sends "q", and the REP's set
/// takes it in (not polled): the REP's peer index of each, in order.
fn a_request_from_each(w: &mut World, reqs: &[SocketId]) -> Vec<usize> {
    let mut js = vec![];
    for (k, &req) in reqs.iter().enumerate() {
        w.sets[k + 1].send(req, &[b"q"]).unwrap();
        let out = w.sets[k + 1].output(0).to_vec();
        w.sets[k + 1].consume_output(0, out.len());
        let j = w.wires[&(k + 1, 0)].0 .1;
        w.sets[0].handle_input(j, &out, w.now);
        js.push(j);
    }
    js
}

#[test]
fn held_peers_keep_their_messages_but_not_their_reports() {
    let (mut w, _, reqs) = rep_with_requesters(2);
    let js = a_request_from_each(&mut w, &reqs);
    let held = js[0];
    let mut got = vec![];
    while let Some(e) = w.sets[0].poll_event_where(|i| i == held).map(own) {
        got.push(e);
    }
    // The message of the other only...
    let msgs: Vec<_> = got
        .iter()
        .filter_map(|e| match e {
            Ev::Msg(_, p, ..) => Some(p.index()),
            _ => None,
        })
        .collect();
    assert_eq!(msgs, vec![js[1]]);
    assert!(!w.sets[0].has_events_where(|i| i == held));
    assert!(w.sets[0].has_events_where(|_| false));
    // ...while a held peer's other events still come.
    w.sets[0].handle_closed(held, w.now);
    assert!(matches!(
        w.sets[0].poll_event_where(|i| i == held).map(own),
        Some(Ev::Down(_, p, None)) if p.index() == held
    ));
}

/// A driver that takes message parts itself (`poll_message_of`) or holds a peer's
/// messages back (`poll_event_where`) leaves every other report of that peer, here a
/// request over the limit, for `poll_event`: neither may swallow it.
#[test]
fn only_message_parts_are_taken_or_held_back() {
    let (mut w, rep, req) = rep_and_req_skipping_over_100_bytes();
    w.sets[1].send(req, &[&[b'x'; 500]]).unwrap();
    let out = w.sets[1].output(0).to_vec();
    w.sets[1].consume_output(0, out.len());
    let j = w.wires[&(1, 0)].0 .1;
    w.sets[0].handle_input(j, &out, w.now);
    assert!(w.sets[0].poll_message_of(j).is_none(), "not a message part");
    let held = w.sets[0].poll_event_where(|i| i == j).map(own);
    assert!(
        matches!(held, Some(Ev::TooLarge(s, p, 500, 100)) if s == rep && p.index() == j),
        "{held:?}"
    );
}

/// A driver can drain one peer's events alone (as it reads that peer's
/// transport): `poll_event_of` gives that peer's event, not the one of the
/// peer whose turn it is, and `None` once it has no more.
#[test]
fn poll_event_of_gives_that_peers_events_only() {
    let (mut w, _, reqs) = rep_with_requesters(2);
    w.take(0);
    let js = a_request_from_each(&mut w, &reqs);
    let second = js[1];
    assert!(matches!(
        w.sets[0].poll_event_of(second).map(own),
        Some(Ev::Msg(_, p, d, false)) if p.index() == second && d == b"q"
    ));
    assert_eq!(w.sets[0].poll_event_of(second).map(own), None);
    assert!(matches!(
        w.sets[0].poll_event().map(own),
        Some(Ev::Msg(_, p, ..)) if p.index() == js[0]
    ));
}

#[test]
fn a_quiet_socket_reports_messages_only() {
    let mut w = World::new(2, Settings::new());
    let publ = w.listen(0, Role::Pub);
    w.sets[0].set_quiet(publ, true);
    let sub = w.sets[1].open(Role::Sub).unwrap();
    w.sets[1].subscribe(sub, b"").unwrap();
    w.dial(1, sub, (0, publ));
    w.run();
    assert_eq!(w.take(0), vec![], "no Connected, no Subscribed");
    assert_eq!(w.sets[0].connected_peers(publ), 1);
    w.sets[0].publish(publ, &[b"t", b"d"]).unwrap();
    w.run();
    assert_eq!(w.news(1), vec![(b"t".to_vec(), b"d".to_vec())]);
    let end = w.wires[&(1, 0)].0;
    w.cut(end);
    w.run();
    assert_eq!(w.take(0), vec![], "no Disconnected either");
}

#[test]
fn an_error_from_the_peer_ends_its_connection_with_that_error() {
    let (mut w, _, _) = rep_with_requesters(1);
    w.take(0);
    let j = w.wires[&(1, 0)].0 .1;
    // ERROR "bye" (a command frame: flags 0x04, length, name, reason).
    let mut error = vec![0x04, 10, 5];
    error.extend_from_slice(b"ERROR\x03bye");
    w.sets[0].handle_input(j, &error, w.now);
    w.run();
    let events = w.take(0);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Ev::Down(_, p, Some(ZmtpError::PeerError)) if p.index() == j)),
        "{events:?}"
    );
}

/// A ZMTP 3.1 greeting naming `mechanism` and `as_server` (its bytes, as
/// libzmq's, are pinned in `zmtp::greeting`'s tests).
fn greeting(mechanism: zmtp::Mechanism, as_server: bool) -> [u8; 64] {
    let mut g = [0u8; 64];
    zmtp::GreetingRepr {
        major: 3,
        minor: 1,
        mechanism,
        as_server,
    }
    .emit(&mut zmtp::Greeting::new_unchecked(&mut g[..]));
    g
}

/// A new connection's greeting at peer `i` of `set`.
fn greeting_of(set: &Set, i: usize) -> [u8; 64] {
    set.output(i)[..64].try_into().unwrap()
}

/// 23/ZMTP and 37/ZMTP: "When a peer uses the NULL security mechanism, the
/// as-server field MUST be zero", whichever side dialled; libzmq sends
/// exactly these bytes.
#[test]
fn a_null_greeting_says_as_server_zero_on_either_side() {
    let mut set = Set::new(Settings::new());
    let rep = set.open(Role::Rep).unwrap();
    let req = set.open(Role::Req).unwrap();
    let dialled = set.connect(req, T0).unwrap();
    assert!(matches!(set.poll_action(T0), Some(Action::Connect { .. })));
    set.handle_connected(dialled, T0);
    let accepted = set.accept(rep, T0).unwrap();
    let null = greeting(zmtp::Mechanism::Null, false);
    assert_eq!(greeting_of(&set, dialled), null, "dialled");
    assert_eq!(greeting_of(&set, accepted), null, "accepted");
}

/// The security hook: a driver that passes CURVE keys and a seed per
/// connection gets a CURVE conversation; a NULL peer of a keyed listener,
/// or a peer with another class's keys, completes no handshake, and
/// [`Sockets::error`] says why while the connection is still open.
#[cfg(feature = "curve")]
mod secured {
    use super::*;
    use crate::zmtp::curve::ClassKeys;

    type Pair = Fixed<2, 2, 1024>;

    fn keys(pass: &str) -> &'static ClassKeys {
        std::boxed::Box::leak(std::boxed::Box::new(ClassKeys::from_passphrase(pass)))
    }

    /// A class's server and client security, each with its own seed.
    fn secures(k: &'static ClassKeys) -> (Secure, Secure) {
        let server = Secure {
            security: Security::CurveServer(&k.server),
            seed: [1; 32],
        };
        let client = Secure {
            security: Security::CurveClient(&k.client),
            seed: [2; 32],
        };
        (server, client)
    }

    /// A REP (listening) set and a REQ (dialling) set joined by one
    /// in-memory transport; `server`/`client`: each side's class, `None`
    /// for NULL. Returns the sets, their peer indices and the REQ socket.
    fn pair(
        server: Option<&'static ClassKeys>,
        client: Option<&'static ClassKeys>,
    ) -> (Pair, Pair, usize, usize, SocketId) {
        let (mut a, mut b) = (Pair::new(Settings::new()), Pair::new(Settings::new()));
        let rep = a.open(Role::Rep).unwrap();
        let req = b.open(Role::Req).unwrap();
        let c = b.connect(req, T0).unwrap();
        assert!(matches!(b.poll_action(T0), Some(Action::Connect { .. })));
        let s = match server {
            Some(k) => a.accept_secured(
                rep,
                T0,
                Secure {
                    security: Security::CurveServer(&k.server),
                    seed: [1; 32],
                },
            ),
            None => a.accept(rep, T0),
        }
        .unwrap();
        match client {
            Some(k) => b.handle_connected_secured(
                c,
                T0,
                Secure {
                    security: Security::CurveClient(&k.client),
                    seed: [2; 32],
                },
            ),
            None => b.handle_connected(c, T0),
        }
        (a, b, s, c, req)
    }

    /// Moves bytes both ways until quiet (bounded); the last errors seen.
    fn pump(
        a: &mut Pair,
        b: &mut Pair,
        s: usize,
        c: usize,
    ) -> (Option<ZmtpError>, Option<ZmtpError>) {
        let mut errors = (None, None);
        for _ in 0..16 {
            carry(a, s, b, c);
            carry(b, c, a, s);
            errors.0 = errors.0.or(a.error(s));
            errors.1 = errors.1.or(b.error(c));
            while a.poll_event().is_some() {}
            while b.poll_event().is_some() {}
        }
        errors
    }

    /// Hands what `from`'s peer `i` has written to `to`'s peer `j`.
    fn carry(from: &mut Pair, i: usize, to: &mut Pair, j: usize) {
        let wire = from.output(i).to_vec();
        from.consume_output(i, wire.len());
        to.handle_input(j, &wire, T0);
    }

    #[test]
    fn same_class_talks_curve() {
        let k = keys("blue whale");
        let (mut a, mut b, s, c, req) = pair(Some(k), Some(k));
        assert_eq!(pump(&mut a, &mut b, s, c), (None, None));
        assert!(a.is_established(s) && b.is_established(c));
        b.send(req, &[b"secret"]).unwrap();
        let n = b.output(c).len();
        let wire = b.output(c).to_vec();
        b.consume_output(c, n);
        assert!(
            !wire.windows(6).any(|w| w == b"secret"),
            "the request crossed the wire in clear"
        );
        a.handle_input(s, &wire, T0);
        let Some(Event::Message(m)) = a.poll_event() else {
            panic!("no request")
        };
        assert_eq!(m.part.data, b"secret");
    }

    /// A keyed subscriber that stops reading costs a growing publisher one
    /// bounded buffer too: room for its largest message with each of its
    /// parts sealed in a CURVE MESSAGE (its header and box, `SECURE_FRAME`
    /// each), and no more. (Many parts, so that a few bytes per frame show.)
    #[cfg(feature = "alloc")]
    #[test]
    fn a_stalled_keyed_subscriber_costs_a_growing_publisher_one_bounded_buffer() {
        let k = keys("blue whale");
        let (server, client) = secures(k);
        let (max, parts) = (400, 16);
        let (queued, dropped) = stall_a_subscriber(max, parts, Some((server, client)));
        let frame = 9 + zmtp::curve::MESSAGE_OVERHEAD + 9;
        let limit = max + parts * frame + MAX_ENVELOPE + CONTROL_RESERVE + MIN_TX_BUFFER;
        let room = limit - CONTROL_RESERVE;
        // Each part a short frame carrying a MESSAGE.
        let item =
            (2 + zmtp::curve::MESSAGE_OVERHEAD + 5) + (2 + zmtp::curve::MESSAGE_OVERHEAD + 4);
        assert!(
            queued <= room && queued + item > room,
            "{queued} bytes queued, room {room}"
        );
        assert!(dropped > 0);
    }

    /// The message limit is for messages, not for CURVE's own commands
    /// (HELLO 200 bytes, WELCOME 168, INITIATE at least 257: RFC 26 sizes):
    /// growing sets with a limit far below them still finish a keyed
    /// handshake, for every pair of roles, and carry a message.
    #[cfg(feature = "alloc")]
    #[test]
    fn a_keyed_handshake_finishes_whatever_the_message_limit() {
        let (server_side, client_side) = secures(keys("blue whale"));
        for (server, client) in [(Role::Rep, Role::Req), (Role::Pub, Role::Sub)] {
            for max in [0, 16, 400] {
                let mut settings = Settings::new();
                settings.max_message_size = max;
                settings.max_subscriptions = 1;
                settings.max_subscription_len = 1;
                let mut a = Growing::new(settings.clone());
                let mut b = Growing::new(settings);
                let listener = a.open(server).unwrap();
                let dialler = b.open(client).unwrap();
                if client == Role::Sub {
                    b.subscribe(dialler, b"").unwrap();
                }
                let c = b.connect(dialler, T0).unwrap();
                assert!(matches!(b.poll_action(T0), Some(Action::Connect { .. })));
                let s = a.accept_secured(listener, T0, server_side).unwrap();
                b.handle_connected_secured(c, T0, client_side);
                shuttle(&mut a, s, &mut b, c);
                let what = (server, max);
                assert_eq!((a.error(s), b.error(c)), (None, None), "{what:?}");
                assert!(a.is_established(s) && b.is_established(c), "{what:?}");
                if server == Role::Pub {
                    a.publish(listener, &[b""]).unwrap();
                } else {
                    b.send(dialler, &[b""]).unwrap();
                }
                let (from, i, to, j) = if server == Role::Pub {
                    (&mut a, s, &mut b, c)
                } else {
                    (&mut b, c, &mut a, s)
                };
                let wire = from.output(i).to_vec();
                from.consume_output(i, wire.len());
                to.handle_input(j, &wire, T0);
                assert!(
                    matches!(to.poll_event(), Some(Event::Message(_))),
                    "{what:?}"
                );
            }
        }
    }

    /// A fixed set whose buffers cannot hold CURVE's handshake never leaves
    /// a transport waiting on a connection that was never made: an accept
    /// is refused with a typed error (the driver closes the transport), a
    /// dialled transport is aborted. NULL connections of the same set work.
    #[test]
    fn fixed_buffers_too_small_for_a_key_are_refused_not_left_waiting() {
        type Small = Fixed<2, 2, { zmtp::MIN_RX_BUFFER_CURVE - 1 }>;
        let mut a = Small::new(Settings::new());
        let rep = a.open(Role::Rep).unwrap();
        let (server, client) = secures(keys("blue whale"));
        assert_eq!(
            a.accept_secured(rep, T0, server),
            Err(Error::BuffersTooSmall)
        );
        assert!(a.is_free(0) && a.is_free(1), "no index is kept");
        assert_eq!(a.poll_action(T0), None);
        let s = a.accept(rep, T0).unwrap();
        assert!(a.has_connection(s), "NULL fits");

        let mut b = Small::new(Settings::new());
        let req = b.open(Role::Req).unwrap();
        let c = b.connect(req, T0).unwrap();
        assert!(matches!(b.poll_action(T0), Some(Action::Connect { .. })));
        b.handle_connected_secured(c, T0, client);
        assert!(!b.has_connection(c));
        assert_eq!(b.poll_action(T0), Some(Action::Abort { peer: c }));
    }

    /// A keyed handshake that stops half way (the server's WELCOME never
    /// arrives) ends at the handshake deadline with a typed error and its
    /// transport closed, as a NULL one does.
    #[test]
    fn a_keyed_handshake_that_stops_half_way_times_out() {
        let k = keys("blue whale");
        let (mut a, mut b, s, c, _) = pair(Some(k), Some(k));
        // Greetings both ways and HELLO; the WELCOME is never carried.
        carry(&mut a, s, &mut b, c);
        carry(&mut b, c, &mut a, s);
        assert!(!a.output(s).is_empty(), "WELCOME waits");
        assert!(b.in_handshake(c));
        let deadline = T0 + Duration::from_secs(30);
        assert_eq!(b.poll_timeout(), Some(deadline));
        b.handle_timeout(deadline);
        assert_eq!(b.error(c), Some(ZmtpError::HandshakeTimeout));
        let n = b.output(c).len();
        b.consume_output(c, n);
        assert_eq!(b.poll_action(deadline), Some(Action::Close { peer: c }));
    }

    /// CURVE's server says so in its greeting (23/ZMTP: as-server is 1 for
    /// server peers), its client does not, whichever side dialled.
    #[test]
    fn a_curve_greeting_says_as_server_for_the_server_only() {
        let k = keys("blue whale");
        let (server, client) = secures(k);
        for (dialled_side, accepted_side) in [(client, server), (server, client)] {
            let mut set = Set::new(Settings::new());
            let listener = set.open(Role::Rep).unwrap();
            let dialler = set.open(Role::Req).unwrap();
            let dialled = set.connect(dialler, T0).unwrap();
            assert!(matches!(set.poll_action(T0), Some(Action::Connect { .. })));
            set.handle_connected_secured(dialled, T0, dialled_side);
            let accepted = set.accept_secured(listener, T0, accepted_side).unwrap();
            let expected = |s: Secure| greeting(zmtp::Mechanism::Curve, s == server);
            assert_eq!(greeting_of(&set, dialled), expected(dialled_side));
            assert_eq!(greeting_of(&set, accepted), expected(accepted_side));
        }
    }

    #[test]
    fn keyed_listener_refuses_null_and_other_classes() {
        let k = keys("blue whale");
        let (mut a, mut b, s, c, _) = pair(Some(k), None);
        let (server, client) = pump(&mut a, &mut b, s, c);
        assert_eq!(server, Some(ZmtpError::MechanismMismatch));
        assert_eq!(client, Some(ZmtpError::MechanismMismatch));
        assert!(!a.is_established(s) && !b.is_established(c));

        let (mut a, mut b, s, c, _) = pair(Some(k), Some(keys("red fox")));
        let (server, _) = pump(&mut a, &mut b, s, c);
        assert_eq!(server, Some(ZmtpError::KeyMismatch));
        assert!(!a.is_established(s) && !b.is_established(c));

        // …and a keyed client refuses a NULL server.
        let (mut a, mut b, s, c, _) = pair(None, Some(k));
        let (_, client) = pump(&mut a, &mut b, s, c);
        assert_eq!(client, Some(ZmtpError::MechanismMismatch));
    }
}

/// Each role's buffers hold what it reads and writes, and no more: a PUB
/// reads only subscriptions, so whatever the message size its receive buffer
/// stays small (a subscriber cannot make it grow to a message); a SUB writes
/// only subscriptions, so its output buffer holds its subscriptions at their
/// longest, a SUBSCRIBE command's framing (≤ 12 bytes) each, plus the
/// connection's fixed reserve.
#[test]
fn each_roles_buffers_hold_what_it_reads_and_writes() {
    let s = Settings::new();
    let (pub_rx, pub_tx) = s.buffers(Role::Pub, false);
    assert_eq!(pub_rx, PUB_INPUT.max(MIN_RX_BUFFER));
    assert!(pub_rx < s.max_message_size);
    assert!(pub_tx > s.max_message_size, "a PUB writes whole messages");
    let (sub_rx, sub_tx) = s.buffers(Role::Sub, false);
    assert!(sub_rx >= s.max_message_size, "a SUB reads whole messages");
    let subscriptions = s.max_subscriptions * (s.max_subscription_len + 12);
    assert!(sub_tx >= subscriptions + MIN_TX_BUFFER);
    assert!(sub_tx <= subscriptions + MIN_TX_BUFFER + CONTROL_RESERVE);
}
