//! The sans-IO node as firmware drives it (a `Node<3, 256, 4>`, the Pico W
//! robot's shape), through its public surface only: datagrams, TCP slots
//! connecting, bytes, EOF, resets, time, and the application's calls
//! (serve, publish, requesters, subscribers, replies, sends, closes). A
//! slot's bytes may start with a valid greeting and READY so the fuzzer
//! gets past the handshake.
//!
//! Checks: no panic; every call returns in bounded work (actions, events
//! and datagrams per drain are bounded); slots named by actions and events
//! are in range; `poll_timeout(now)` is never before `now`; no busy loop
//! (after a full turn of the drive order at one instant, the node does not
//! ask to be woken at that instant again more than a few times); a reply
//! to a request is refused once answered.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use networkzero_core::beacon::Config;
use networkzero_core::node::{Event, Node, RequestId, TcpAction, MAX_DATAGRAM};
use networkzero_core::{Duration, Instant};
use std::net::{Ipv4Addr, SocketAddr};

#[path = "peer_hello.rs"]
mod peer_hello;
use peer_hello::hello;

type Robot = Node<3, 256, 4>;

#[derive(Arbitrary, Debug)]
enum Op {
    Serve {
        port: u8,
        peers: u8,
    },
    PublishOn {
        port: u8,
        peers: u8,
    },
    Requester {
        name: bool,
        port: u8,
    },
    Subscriber {
        name: bool,
        port: u8,
        prefix: Vec<u8>,
    },
    Datagram {
        bytes: Vec<u8>,
        from: u8,
    },
    Connected {
        slot: u8,
    },
    Input {
        slot: u8,
        hello: bool,
        kind: u8,
        bytes: Vec<u8>,
    },
    Eof {
        slot: u8,
    },
    Closed {
        slot: u8,
    },
    Reply {
        data: Vec<u8>,
    },
    Publish {
        topic: Vec<u8>,
        data: Vec<u8>,
    },
    Send {
        client: u8,
        data: Vec<u8>,
    },
    Close {
        client: u8,
    },
    Discover,
    SetInterface(u8),
    Time(u16),
}

fuzz_target!(|ops: Vec<Op>| {
    let mut node: Box<Robot> = Box::new(Node::new(Config::default()));
    let mut now = 0u64;
    let mut services = vec![];
    let mut clients = vec![];
    let mut requests: Vec<RequestId> = vec![];
    let mut answered: Vec<RequestId> = vec![];
    let mut stash: [Vec<u8>; 3] = Default::default();
    let mut wakes_at_now = 0;
    let mut last_wake = u64::MAX;
    for op in ops.iter().take(200) {
        let t = Instant::from_millis(now);
        match op {
            Op::Serve { port, peers } => {
                if let Ok(id) =
                    node.serve("robot", 5000 + u16::from(*port), usize::from(peers % 4), t)
                {
                    services.push(id);
                }
            }
            Op::PublishOn { port, peers } => {
                if let Ok(id) =
                    node.publish_on("news", 5000 + u16::from(*port), usize::from(peers % 4), t)
                {
                    services.push(id);
                }
            }
            Op::Requester { name, port } => {
                let r = if *name {
                    node.requester("robot", t)
                } else {
                    node.requester(
                        SocketAddr::from(([10, 0, 0, 2], 5000 + u16::from(*port))),
                        t,
                    )
                };
                if let Ok(id) = r {
                    clients.push(id);
                }
            }
            Op::Subscriber { name, port, prefix } => {
                let r = if *name {
                    node.subscriber("news", prefix, t)
                } else {
                    let at = SocketAddr::from(([10, 0, 0, 2], 5000 + u16::from(*port)));
                    node.subscriber(at, prefix, t)
                };
                if let Ok(id) = r {
                    clients.push(id);
                }
            }
            Op::Datagram { bytes, from } => {
                let source = SocketAddr::from(([10, 0, 0, *from], 9999));
                let _ = node.handle_datagram(bytes, source, t);
            }
            Op::Connected { slot } => {
                let i = usize::from(slot % 4);
                if let Some(s) = stash.get_mut(i) {
                    s.clear();
                }
                node.handle_tcp_connected(i, t);
            }
            Op::Input {
                slot,
                hello: h,
                kind,
                bytes,
            } => {
                let i = usize::from(slot % 4);
                let Some(s) = stash.get_mut(i) else {
                    node.handle_tcp_input(i, bytes, t);
                    continue;
                };
                if *h {
                    let peer = ["REQ", "REP", "SUB", "PUB"][usize::from(kind % 4)];
                    s.extend(hello(kind % 2, peer));
                }
                s.extend_from_slice(bytes);
                for _ in 0..1000 {
                    let n = node.handle_tcp_input(i, s, t);
                    assert!(n <= s.len());
                    s.drain(..n);
                    drain_events(&mut node, &mut requests);
                    if n == 0 {
                        break;
                    }
                }
            }
            Op::Eof { slot } => node.handle_tcp_eof(usize::from(slot % 4)),
            Op::Closed { slot } => node.handle_tcp_closed(usize::from(slot % 4), t),
            Op::Reply { data } => {
                if let Some(r) = requests.pop() {
                    if node.reply(r, data).is_ok() {
                        answered.push(r);
                    }
                }
            }
            Op::Publish { topic, data } => {
                for &s in &services {
                    let _ = node.publish(s, topic, data);
                }
            }
            Op::Send { client, data } => {
                if let Some(&c) = clients.get(usize::from(*client) % clients.len().max(1)) {
                    let _ = node.send(c, data);
                }
            }
            Op::Close { client } => {
                if !clients.is_empty() {
                    let c = clients.remove(usize::from(*client) % clients.len());
                    assert!(node.close(c));
                    assert!(!node.close(c));
                }
            }
            Op::Discover => node.discover("robot", t),
            Op::SetInterface(last) => node.set_interface(Ipv4Addr::new(10, 0, 0, *last), 24, t),
            Op::Time(dt) => now += u64::from(*dt),
        }
        for r in &answered {
            assert!(node.reply(*r, b"again").is_err(), "answered twice");
        }
        // One turn of the drive order.
        let t = Instant::from_millis(now);
        node.handle_timeout(t);
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut sent = 0;
        while let Some(tx) = node.poll_transmit(t, &mut buf) {
            assert!(tx.len <= MAX_DATAGRAM);
            sent += 1;
            assert!(sent < 1000, "datagrams never end");
        }
        for i in 0..3 {
            let n = node.tcp_output(i).len();
            node.consume_output(i, n / 2 + 1);
        }
        let mut actions = 0;
        while let Some(a) = node.poll_tcp_action(t) {
            actions += 1;
            assert!(actions < 100, "actions never end");
            match a {
                TcpAction::Close { slot } | TcpAction::Abort { slot } => assert!(slot < 3),
                TcpAction::Connect { slot, .. } => {
                    assert!(slot < 3);
                    // Refused: nothing listens there.
                    node.handle_tcp_closed(slot, t);
                }
                _ => {}
            }
        }
        drain_events(&mut node, &mut requests);
        if let Some(at) = node.poll_timeout(t) {
            assert!(at >= t);
            if at == t && last_wake == now {
                wakes_at_now += 1;
                assert!(wakes_at_now < 8, "busy loop at {now} ms");
            } else {
                wakes_at_now = 0;
            }
            last_wake = now;
        }
        let _ = Duration::ZERO;
    }
});

/// Takes every event (bounded), keeping the requests to answer.
fn drain_events(node: &mut Robot, requests: &mut Vec<RequestId>) {
    let mut told = 0;
    while let Some(e) = node.poll_event() {
        told += 1;
        assert!(told < 1000, "events never end");
        if let Event::Request { request, .. } = e {
            requests.push(request);
        }
    }
}
