//! An honest CURVE client and server (any REQ/REP or PUB/SUB pairing, either
//! side the CURVE server) with the fuzzer's damage to the bytes in flight:
//! one byte changed, dropped or inserted at a chosen offset of the stream, or
//! the stream cut into arbitrary chunks. Undamaged, the handshake completes
//! and every message arrives intact; damaged, a side fails with a typed
//! error or the damage had no effect. Never a panic, never a wrong message.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use networkzero_core::zmtp::curve::ClassKeys;
use networkzero_core::zmtp::{Config, Connection, Event, Role, Security};
use networkzero_core::Instant;

#[derive(Arbitrary, Debug)]
enum Damage {
    None,
    Flip { at: u16, bit: u8 },
    Drop { at: u16 },
    Insert { at: u16, byte: u8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    pubsub: bool,
    swap_curve_roles: bool,
    damage: Damage,
    /// Which direction the damage hits (true: a to b).
    a_to_b: bool,
    chunk: u8,
    messages: Vec<Vec<u8>>,
}

type Conn = Connection<Vec<u8>>;

fn keys() -> &'static ClassKeys {
    static K: OnceLock<ClassKeys> = OnceLock::new();
    K.get_or_init(|| ClassKeys::from_passphrase("fuzz"))
}

fn conn(role: Role, server: bool, seed: u8) -> Conn {
    let mut cfg = Config::new(role);
    cfg.security = if server {
        Security::CurveServer(&keys().server)
    } else {
        Security::CurveClient(&keys().client)
    };
    Connection::with_seed(
        cfg,
        vec![0; 8192],
        vec![0; 16384],
        Instant::ZERO,
        [seed; 32],
    )
    .unwrap()
}

fn drain(c: &mut Conn) -> Vec<u8> {
    let mut v = c.output().to_vec();
    c.consume_output(v.len());
    v.extend_from_slice(c.output());
    let n = c.output().len();
    c.consume_output(n);
    v
}

/// Feeds `bytes` in chunks; collects message parts. Err once the side failed.
fn feed(c: &mut Conn, bytes: &[u8], chunk: usize, got: &mut Vec<Vec<u8>>) -> Result<(), ()> {
    let mut off = 0;
    for _ in 0..100_000 {
        if off == bytes.len() {
            return Ok(());
        }
        let end = (off + chunk).min(bytes.len());
        let n = c
            .handle_input(&bytes[off..end], Instant::ZERO)
            .map_err(|_| ())?;
        off += n;
        let mut any = false;
        while let Some(e) = c.poll_event() {
            any = true;
            if let Event::Message(p) = e {
                got.push(p.data.to_vec());
            }
        }
        if n == 0 && !any {
            // Back-pressure (a REP owing a reply): no progress possible.
            return Ok(());
        }
    }
    Ok(())
}

fn damage(bytes: &mut Vec<u8>, d: &Damage, done: &mut bool) {
    if *done || bytes.is_empty() {
        return;
    }
    match *d {
        Damage::None => return,
        Damage::Flip { at, bit } => {
            let i = usize::from(at) % bytes.len();
            bytes[i] ^= 1 << (bit % 8);
        }
        Damage::Drop { at } => {
            bytes.remove(usize::from(at) % bytes.len());
        }
        Damage::Insert { at, byte } => {
            let i = usize::from(at) % (bytes.len() + 1);
            bytes.insert(i, byte);
        }
    }
    *done = true;
}

/// One side of the pair: its engine, whether it failed, what it received.
struct End {
    conn: Conn,
    failed: bool,
    got: Vec<Vec<u8>>,
}

/// Both sides and the damage, applied once to the bytes going one way.
struct Pair<'a> {
    a: End,
    b: End,
    input: &'a Input,
    damaged: bool,
}

impl Pair<'_> {
    /// Moves bytes both ways until quiet (bounded).
    fn pump(&mut self) {
        let chunk = usize::from(self.input.chunk).max(1);
        for _ in 0..20 {
            let mut ab = drain(&mut self.a.conn);
            let mut ba = drain(&mut self.b.conn);
            if ab.is_empty() && ba.is_empty() {
                return;
            }
            let hit = if self.input.a_to_b { &mut ab } else { &mut ba };
            damage(hit, &self.input.damage, &mut self.damaged);
            for (to, bytes) in [(&mut self.b, &ab), (&mut self.a, &ba)] {
                if !to.failed && feed(&mut to.conn, bytes, chunk, &mut to.got).is_err() {
                    to.failed = true;
                }
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let (ra, rb) = if input.pubsub {
        (Role::Pub, Role::Sub)
    } else {
        (Role::Req, Role::Rep)
    };
    let end = |conn| End {
        conn,
        failed: false,
        got: Vec::new(),
    };
    let mut p = Pair {
        a: end(conn(ra, !input.swap_curve_roles, 1)),
        b: end(conn(rb, input.swap_curve_roles, 2)),
        input: &input,
        damaged: false,
    };
    if input.pubsub {
        p.b.conn.subscribe(b"").unwrap();
    }
    p.pump();
    if matches!(input.damage, Damage::None) || !p.damaged {
        assert!(
            p.a.conn.is_established() && p.b.conn.is_established(),
            "honest handshake failed"
        );
    }
    let mut expected = Vec::new();
    for m in input.messages.iter().take(8) {
        let m = &m[..m.len().min(2000)];
        if !p.a.conn.is_established() || p.a.conn.send(&[m]).is_err() {
            break;
        }
        expected.push(m.to_vec());
        p.pump();
        if !input.pubsub && p.b.conn.can_send() {
            let _ = p.b.conn.send(&[b"ack"]);
            p.pump();
        }
    }
    // Whatever arrived is exactly what was sent, in order: damage can stop
    // messages, never change them.
    let got = &p.b.got;
    assert!(got.len() <= expected.len());
    assert_eq!(got[..], expected[..got.len()]);
    if matches!(input.damage, Damage::None) {
        assert_eq!(*got, expected, "an undamaged message was lost");
        assert!(!p.a.failed && !p.b.failed);
    }
    assert!(p.a.got.iter().all(|m| m == b"ack"));
});
