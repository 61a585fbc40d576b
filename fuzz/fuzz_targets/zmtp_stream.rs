//! The ZMTP engine fed arbitrary byte streams and application calls, for
//! every role, as server and client, with and without a valid handshake
//! prefix (so the fuzzer reaches the post-handshake states quickly).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use networkzero_core::zmtp::{Config, Connection, Role};
use networkzero_core::{Duration, Instant};

#[path = "peer_hello.rs"]
mod peer_hello;
use peer_hello::hello as peer_prefix;

#[derive(Arbitrary, Debug)]
enum Op {
    Feed(Vec<u8>),
    FeedBorrowed(Vec<u8>),
    Send(Vec<Vec<u8>>),
    Subscribe(Vec<u8>),
    Unsubscribe(Vec<u8>),
    Timeout(u16),
    Drain(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    role: u8,
    minor: u8,
    handshake: bool,
    heartbeat: bool,
    small_limits: bool,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let (role, peer) = [
        (Role::Req, "REP"),
        (Role::Rep, "REQ"),
        (Role::Pub, "SUB"),
        (Role::Sub, "PUB"),
    ][usize::from(input.role % 4)];
    let mut cfg = Config::new(role);
    if input.heartbeat {
        cfg.heartbeat_interval = Some(Duration::from_millis(100));
        cfg.heartbeat_ttl = Duration::from_millis(500);
    }
    if input.small_limits {
        cfg.max_message_size = 300;
        cfg.max_parts = 3;
        cfg.max_subscriptions = 2;
        cfg.max_subscription_len = 4;
    }
    let mut c = Connection::new(cfg, [0u8; 512], [0u8; 1024], Instant::ZERO).unwrap();
    let mut now = 0u64;
    let mut stash: Vec<u8> = Vec::new();
    if input.handshake {
        stash = peer_prefix(input.minor % 3, peer);
    }
    let mut out = [0u8; 300];
    let mut closed = false;
    for op in input.ops.iter().take(200) {
        match op {
            Op::Feed(b) | Op::FeedBorrowed(b) => {
                stash.extend_from_slice(b);
                for _ in 0..10_000 {
                    let before = stash.len();
                    let r = if matches!(op, Op::FeedBorrowed(_)) {
                        c.handle_input_borrowed(&stash, Instant::from_millis(now))
                            .map(|r| {
                                if let Some(p) = r.part {
                                    // A borrowed part lies inside the input.
                                    assert!(p.data.len() <= before);
                                }
                                r.consumed
                            })
                    } else {
                        c.handle_input(&stash, Instant::from_millis(now))
                    };
                    let mut any = false;
                    while c.poll_event().is_some() {
                        any = true;
                    }
                    match r {
                        Ok(n) => {
                            assert!(n <= before);
                            assert!(!closed, "input accepted after an error");
                            stash.drain(..n);
                            if n == 0 && !any {
                                break;
                            }
                        }
                        Err(_) => {
                            closed = true;
                            assert!(c.is_closed());
                            break;
                        }
                    }
                }
            }
            Op::Send(parts) => {
                let refs: Vec<&[u8]> = parts.iter().take(8).map(|p| p.as_slice()).collect();
                let _ = c.send(&refs);
            }
            Op::Subscribe(t) => {
                let _ = c.subscribe(t);
            }
            Op::Unsubscribe(t) => {
                let _ = c.unsubscribe(t);
            }
            Op::Timeout(dt) => {
                now += u64::from(*dt);
                if let Some(t) = c.poll_timeout() {
                    assert!(!closed);
                    let _ = t;
                }
                if c.handle_timeout(Instant::from_millis(now)).is_err() {
                    closed = true;
                }
            }
            Op::Drain(n) => {
                let n = usize::from(*n) % out.len();
                let got = c.poll_output(&mut out[..n]);
                assert!(got <= n);
            }
        }
        assert_eq!(closed, c.is_closed());
    }
});
