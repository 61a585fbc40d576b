//! A socket set with a REP and a SUB, fed arbitrary peers' bytes, driven
//! through the drain contract as a driver would: peers accepted and
//! dialled, connected, fed (copying and zero-copy), closed and reset, time
//! passing; replies, subscriptions. Each peer's bytes may start with a valid
//! greeting and READY so the fuzzer reaches the established states fast.
//!
//! Checks, after every op: no panic; events name live sockets and peers of
//! the right socket; a message part fits the message limit; each peer is
//! told `Connected` once per connection, and `Disconnected` only after it;
//! actions and events per drain are bounded; no busy loop (after
//! `handle_timeout(now)` and draining actions, `poll_timeout` is later
//! than `now`); memory stays bounded (buffers at most their limits).
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use networkzero_core::socket::{Action, Event, Growing, PeerId, Settings, SocketId};
use networkzero_core::zmtp::Role;
use networkzero_core::{Duration, Instant};

#[path = "peer_hello.rs"]
mod peer_hello;
use peer_hello::hello;

#[derive(Arbitrary, Debug)]
enum Op {
    /// A peer connects to the REP (or the SUB's dialled peer comes up).
    Accept {
        to_sub: bool,
    },
    /// The SUB dials another publisher.
    Dial,
    /// Bytes from a peer; `hello` puts a valid greeting and READY first.
    Feed {
        peer: u8,
        hello: bool,
        minor: u8,
        bytes: Vec<u8>,
        borrowed: bool,
    },
    /// The peer's transport finished sending.
    Eof {
        peer: u8,
    },
    /// The peer's transport was reset.
    Reset {
        peer: u8,
    },
    /// Answer the last request (or an old one).
    Reply {
        back: u8,
        parts: Vec<Vec<u8>>,
    },
    Subscribe(Vec<u8>),
    Unsubscribe(Vec<u8>),
    /// Write some of a peer's output.
    Write {
        peer: u8,
        n: u16,
    },
    /// Time passes (up to 65 s).
    Time(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    small_limits: bool,
    heartbeats: bool,
    ops: Vec<Op>,
}

/// What the driver knows of each peer index.
#[derive(Default)]
struct Driver {
    /// Open transports: index -> bytes not yet taken by the set.
    open: HashMap<usize, Vec<u8>>,
    /// Peers told `Connected` and not yet `Disconnected`, by index.
    up: HashMap<usize, PeerId>,
    /// Dialled peers whose transport the driver is opening.
    connecting: Vec<usize>,
    /// Requests received, newest last.
    requests: Vec<PeerId>,
}

fuzz_target!(|input: Input| {
    let mut settings = Settings::new();
    settings.max_peers = 4;
    settings.high_water_mark = 8;
    if input.small_limits {
        settings.max_message_size = 300;
        settings.max_parts = 3;
        settings.max_subscriptions = 2;
        settings.max_subscription_len = 4;
    }
    if input.heartbeats {
        settings.heartbeat_interval = Some(Duration::from_millis(100));
    }
    settings.handshake_timeout = Some(Duration::from_secs(5));
    let limit = settings.max_message_size;
    let mut set = Growing::new(settings);
    let rep = set.open(Role::Rep).unwrap();
    let sub = set.open(Role::Sub).unwrap();
    let _ = set.subscribe(sub, b"");
    set.connect(sub, Instant::ZERO).unwrap();
    let mut d = Driver::default();
    let mut now = 0u64;
    let roles = |s: SocketId| if s == rep { "REQ" } else { "PUB" };
    for op in input.ops.iter().take(300) {
        let t = Instant::from_millis(now);
        match op {
            Op::Accept { to_sub } => {
                if *to_sub {
                    // A dialled SUB peer's transport comes up.
                    if let Some(peer) = d.connecting.pop() {
                        set.handle_connected(peer, t);
                        d.open.insert(peer, vec![]);
                    }
                } else if let Ok(i) = set.accept(rep, t) {
                    d.open.insert(i, vec![]);
                }
            }
            Op::Dial => {
                let _ = set.connect(sub, t);
            }
            Op::Feed {
                peer,
                hello: h,
                minor,
                bytes,
                borrowed,
            } => {
                let Some(i) = pick(&d, *peer) else { continue };
                let Some(socket) = set.peer_socket(i) else {
                    continue;
                };
                let stash = d.open.entry(i).or_default();
                if *h {
                    stash.extend(hello(minor % 3, roles(socket)));
                }
                stash.extend_from_slice(bytes);
                let mut input = std::mem::take(stash);
                let mut off = 0;
                for _ in 0..10_000 {
                    let n = if *borrowed {
                        let got = set.handle_input_borrowed(i, &input[off..], t);
                        if let Some(m) = got.message {
                            assert_eq!(m.socket, socket);
                            assert!(m.part.data.len() <= limit);
                            if m.socket == rep && !m.part.more {
                                d.requests.push(m.peer);
                            }
                        }
                        got.consumed
                    } else {
                        set.handle_input(i, &input[off..], t)
                    };
                    assert!(n <= input.len() - off);
                    off += n;
                    let told = drain_events(&mut set, &mut d, rep, sub, limit);
                    if n == 0 && told == 0 {
                        break;
                    }
                }
                input.drain(..off);
                if let Some(stash) = d.open.get_mut(&i) {
                    *stash = input;
                }
            }
            Op::Eof { peer } => {
                if let Some(i) = pick(&d, *peer) {
                    set.handle_eof(i);
                }
            }
            Op::Reset { peer } => {
                if let Some(i) = pick(&d, *peer) {
                    d.open.remove(&i);
                    set.handle_closed(i, t);
                } else if let Some(i) = d.connecting.pop() {
                    // Refused: the publisher is not there.
                    set.handle_closed(i, t);
                }
            }
            Op::Reply { back, parts } => {
                let k = usize::from(*back);
                if let Some(&to) = d.requests.iter().rev().nth(k % 4) {
                    let refs: Vec<&[u8]> = parts.iter().take(4).map(|p| p.as_slice()).collect();
                    let _ = set.reply(to, &refs);
                }
            }
            Op::Subscribe(topic) => {
                let _ = set.subscribe(sub, topic);
            }
            Op::Unsubscribe(topic) => {
                let _ = set.unsubscribe(sub, topic);
            }
            Op::Write { peer, n } => {
                if let Some(i) = pick(&d, *peer) {
                    let out = set.output(i).len();
                    set.consume_output(i, out.min(usize::from(*n)));
                }
            }
            Op::Time(dt) => {
                now += u64::from(*dt);
                let t = Instant::from_millis(now);
                set.handle_timeout(t);
            }
        }
        // The rest of the drain contract.
        let t = Instant::from_millis(now);
        let mut actions = 0;
        while let Some(a) = set.poll_action(t) {
            actions += 1;
            assert!(actions < 1000, "actions never end");
            match a {
                Action::Abort { peer } | Action::Close { peer } => {
                    d.open.remove(&peer);
                    assert!(!set.has_connection(peer));
                }
                Action::Connect { socket, peer } => {
                    assert_eq!(socket, sub);
                    assert!(!d.connecting.contains(&peer));
                    d.connecting.push(peer);
                }
                _ => {}
            }
        }
        drain_events(&mut set, &mut d, rep, sub, limit);
        if let Some(at) = set.poll_timeout() {
            if at <= t {
                set.handle_timeout(t);
                while let Some(a) = set.poll_action(t) {
                    match a {
                        Action::Connect { peer, .. } => d.connecting.push(peer),
                        Action::Abort { peer } | Action::Close { peer } => {
                            d.open.remove(&peer);
                        }
                        _ => {}
                    }
                }
                drain_events(&mut set, &mut d, rep, sub, limit);
                assert!(set.poll_timeout().is_none_or(|at| at > t), "busy loop");
            }
        }
    }
});

/// The `n`th open transport, if any.
fn pick(d: &Driver, n: u8) -> Option<usize> {
    let mut open: Vec<usize> = d.open.keys().copied().collect();
    open.sort_unstable();
    (!open.is_empty()).then(|| open[usize::from(n) % open.len()])
}

fn drain_events(
    set: &mut Growing,
    d: &mut Driver,
    rep: SocketId,
    sub: SocketId,
    limit: usize,
) -> usize {
    let mut told = 0;
    while let Some(e) = set.poll_event() {
        told += 1;
        assert!(told < 10_000, "events never end");
        match e {
            Event::Connected { socket, peer } => {
                assert!(socket == rep || socket == sub);
                assert_eq!(d.up.insert(peer.index(), peer), None, "told twice");
            }
            Event::Disconnected { socket, peer, .. } => {
                assert!(socket == rep || socket == sub);
                assert_eq!(
                    d.up.remove(&peer.index()),
                    Some(peer),
                    "told before Connected"
                );
            }
            Event::Message(m) => {
                assert!(m.part.data.len() <= limit);
                if m.socket == rep && !m.part.more {
                    d.requests.push(m.peer);
                }
            }
            _ => {}
        }
    }
    told
}
