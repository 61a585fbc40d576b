//! A CURVE connection (client or server, any role) fed an arbitrary byte
//! stream and application calls after a valid CURVE greeting: never panics,
//! never completes a handshake (the fuzzer holds no class key), never accepts
//! input after an error, and a server never answers a HELLO it could not
//! open with more than its greeting.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use networkzero_core::zmtp::curve::ClassKeys;
use networkzero_core::zmtp::{
    Config, Connection, Greeting, GreetingRepr, Mechanism, Role, Security, GREETING_LEN,
};
use networkzero_core::Instant;

#[derive(Arbitrary, Debug)]
enum Op {
    Feed(Vec<u8>),
    Send(Vec<Vec<u8>>),
    Subscribe(Vec<u8>),
    Timeout(u32),
    Drain(u16),
}

#[derive(Arbitrary, Debug)]
struct Input {
    role: u8,
    server: bool,
    peer_as_server: bool,
    greeting: bool,
    seed: [u8; 32],
    ops: Vec<Op>,
}

fn keys() -> &'static ClassKeys {
    static K: OnceLock<ClassKeys> = OnceLock::new();
    K.get_or_init(|| ClassKeys::from_passphrase("fuzz"))
}

fn curve_greeting(as_server: bool) -> Vec<u8> {
    let mut v = vec![0u8; GREETING_LEN];
    GreetingRepr {
        major: 3,
        minor: 1,
        mechanism: Mechanism::Curve,
        as_server,
    }
    .emit(&mut Greeting::new_unchecked(&mut v[..]));
    v
}

fuzz_target!(|input: Input| {
    let role = [Role::Req, Role::Rep, Role::Pub, Role::Sub][usize::from(input.role % 4)];
    let mut cfg = Config::new(role);
    cfg.security = if input.server {
        Security::CurveServer(&keys().server)
    } else {
        Security::CurveClient(&keys().client)
    };
    let mut c =
        Connection::with_seed(cfg, [0u8; 512], [0u8; 1024], Instant::ZERO, input.seed).unwrap();
    let mut stash = if input.greeting {
        curve_greeting(input.peer_as_server)
    } else {
        Vec::new()
    };
    let mut now = 0u64;
    let mut closed = false;
    let mut sent = 0usize;
    let mut out = [0u8; 700];
    for op in input.ops.iter().take(100) {
        match op {
            Op::Feed(b) => {
                stash.extend_from_slice(b);
                for _ in 0..1000 {
                    let r = c.handle_input(&stash, Instant::from_millis(now));
                    let mut any = false;
                    while c.poll_event().is_some() {
                        any = true;
                    }
                    match r {
                        Ok(n) => {
                            assert!(!closed, "input accepted after an error");
                            stash.drain(..n);
                            if n == 0 && !any {
                                break;
                            }
                        }
                        Err(_) => {
                            closed = true;
                            break;
                        }
                    }
                }
            }
            Op::Send(parts) => {
                let refs: Vec<&[u8]> = parts.iter().take(4).map(|p| p.as_slice()).collect();
                let _ = c.send(&refs);
            }
            Op::Subscribe(t) => {
                let _ = c.subscribe(t);
            }
            Op::Timeout(dt) => {
                now += u64::from(*dt);
                if c.handle_timeout(Instant::from_millis(now)).is_err() {
                    closed = true;
                }
            }
            Op::Drain(n) => {
                let n = usize::from(*n) % out.len();
                sent += c.poll_output(&mut out[..n]);
            }
        }
        assert!(!c.is_established(), "a handshake completed without the key");
        assert_eq!(closed, c.is_closed());
    }
    while c.has_output() {
        sent += c.poll_output(&mut out);
    }
    if input.server {
        // Greeting only: a server answers only a HELLO it can open.
        assert!(sent <= 64, "server sent {sent} bytes");
    }
});
