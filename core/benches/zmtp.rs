//! ZMTP decode throughput: 64-byte and 64 KiB frames, through the zero-copy
//! frame parser and through a SUB connection (borrowed and copying paths).
//!
//! `cargo bench -p networkzero-core --features curve --bench zmtp` (plain
//! `harness = false`, std::time only; one core). Targets: ≥ 10 M small
//! frames/s, ≥ 1 GB/s large.
//!
//! The mechanism rows send PUB → SUB through an in-memory pair (`send`,
//! `poll_output`, `handle_input`, `poll_event`) with NULL and with CURVE in
//! the same run: the CURVE row's extra time is one seal and one open per
//! message (XSalsa20-Poly1305 over the frame, 33 bytes more on the wire).
//! Without the `curve` feature only the NULL row runs.
//!
//! The zero-copy rows hand out slices without reading the body, so their MB/s
//! is "bytes delivered", not memory bandwidth; the copying rows move every
//! byte into the connection's receive buffer.

use std::hint::black_box;
use std::time::Instant as StdInstant;

use networkzero_core::zmtp::frame::encode_frame;
#[cfg(feature = "curve")]
use networkzero_core::zmtp::{curve::ClassKeys, Security};
use networkzero_core::zmtp::{Config, Connection, Event, Frame, Role, Status};
use networkzero_core::Instant;

/// `count` single-part messages of `size` bytes, encoded back to back.
fn stream(size: usize, count: usize) -> Vec<u8> {
    let body: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let mut out = vec![0u8; (size + 9) * count];
    let mut pos = 0;
    for _ in 0..count {
        pos += encode_frame(&mut out[pos..], false, false, &body).unwrap();
    }
    out.truncate(pos);
    out
}

fn sub_connection(rx: usize) -> Connection<Vec<u8>> {
    let mut cfg = Config::new(Role::Sub);
    cfg.max_message_size = 1 << 20;
    let mut c = Connection::new(cfg, vec![0; rx], vec![0; 4096], Instant::ZERO).unwrap();
    c.subscribe(b"").unwrap();
    let mut hello = vec![0u8; 64];
    hello[0] = 0xFF;
    hello[9] = 0x7F;
    hello[10] = 3;
    hello[11] = 1;
    hello[12..16].copy_from_slice(b"NULL");
    hello.extend_from_slice(b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03PUB");
    let n = c.handle_input(&hello, Instant::ZERO).unwrap();
    assert_eq!(n, hello.len());
    assert!(matches!(c.poll_event(), Some(Event::HandshakeDone { .. })));
    let mut sink = [0u8; 4096];
    let _ = c.poll_output(&mut sink);
    c
}

fn report(name: &str, frames: usize, bytes: usize, secs: f64) {
    println!(
        "{name:<46} {:>8.2} M frames/s {:>9.2} MB/s ({frames} frames in {:.3} s)",
        frames as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6,
        secs
    );
}

fn bench_parser(size: usize, count: usize, rounds: usize) {
    let wire = stream(size, count);
    let t = StdInstant::now();
    let mut total = 0usize;
    for _ in 0..rounds {
        let mut off = 0;
        while let Ok(Status::Complete(f, n)) = Frame::parse(black_box(&wire[off..]), 1 << 20) {
            total += black_box(f.body).len();
            off += n;
        }
    }
    report(
        &format!("Frame::parse {size} B (zero-copy)"),
        count * rounds,
        total,
        t.elapsed().as_secs_f64(),
    );
}

fn bench_connection(size: usize, count: usize, rounds: usize, borrowed: bool) {
    let wire = stream(size, count);
    let mut c = sub_connection(size.max(256));
    let now = Instant::ZERO;
    let t = StdInstant::now();
    let mut total = 0usize;
    let mut frames = 0usize;
    for _ in 0..rounds {
        let mut off = 0;
        while off < wire.len() {
            if borrowed {
                let r = c.handle_input_borrowed(&wire[off..], now).unwrap();
                off += r.consumed;
                if let Some(p) = r.part {
                    total += black_box(p.data).len();
                    frames += 1;
                }
            } else {
                off += c.handle_input(&wire[off..], now).unwrap();
            }
            while let Some(e) = c.poll_event() {
                if let Event::Message(p) = e {
                    total += black_box(p.data).len();
                    frames += 1;
                }
            }
        }
    }
    let path = if borrowed {
        "borrowed, zero-copy"
    } else {
        "copying into rx"
    };
    report(
        &format!("Connection (SUB, {path}) {size} B"),
        frames,
        total,
        t.elapsed().as_secs_f64(),
    );
}

/// A PUB and a SUB (subscribed to everything) with the handshake done.
fn pub_sub_pair(curve: bool) -> (Connection<Vec<u8>>, Connection<Vec<u8>>) {
    #[cfg_attr(not(feature = "curve"), allow(unused_mut))]
    let mut p = Config::new(Role::Pub);
    let mut s = Config::new(Role::Sub);
    s.max_message_size = 1 << 20;
    #[cfg(feature = "curve")]
    if curve {
        let k: &'static ClassKeys = Box::leak(Box::new(ClassKeys::from_passphrase("bench")));
        p.security = Security::CurveServer(&k.server);
        s.security = Security::CurveClient(&k.client);
    }
    #[cfg(not(feature = "curve"))]
    assert!(!curve);
    let buf = 1 << 18;
    let now = Instant::ZERO;
    let mut p = Connection::with_seed(p, vec![0; buf], vec![0; buf], now, [1; 32]).unwrap();
    let mut s = Connection::with_seed(s, vec![0; buf], vec![0; buf], now, [2; 32]).unwrap();
    s.subscribe(b"").unwrap();
    let mut wire = vec![0u8; buf];
    let mut carry = |a: &mut Connection<Vec<u8>>, b: &mut Connection<Vec<u8>>| {
        let n = a.poll_output(&mut wire);
        let mut off = 0;
        while off < n {
            off += b.handle_input(&wire[off..n], now).unwrap();
            while b.poll_event().is_some() {}
        }
    };
    for _ in 0..10 {
        carry(&mut p, &mut s);
        carry(&mut s, &mut p);
    }
    assert!(p.is_established() && s.is_established());
    (p, s)
}

/// Seconds per message of `size` bytes, PUB to SUB in memory.
fn bench_mechanism(curve: bool, size: usize, count: usize) -> f64 {
    let (mut p, mut s) = pub_sub_pair(curve);
    let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let mut wire = vec![0u8; 1 << 18];
    let now = Instant::ZERO;
    let mut got = 0usize;
    let t = StdInstant::now();
    for _ in 0..count {
        p.send(&[black_box(&payload)]).unwrap();
        let n = p.poll_output(&mut wire);
        let mut off = 0;
        while off < n {
            off += s.handle_input(&wire[off..n], now).unwrap();
            while let Some(e) = s.poll_event() {
                if let Event::Message(m) = e {
                    got += black_box(m.data).len();
                }
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(got, size * count);
    secs / count as f64
}

/// NULL and CURVE in alternating rounds, each row the best round: on a
/// loaded machine the minimum is the closest to the real cost.
fn mechanism_rows(quick: bool) {
    let curve = cfg!(feature = "curve");
    for (size, count) in [(64, 20_000), (16 * 1024, 1_000)] {
        let count = if quick { count / 20 } else { count };
        let (mut null, mut sealed) = (f64::MAX, f64::MAX);
        for _ in 0..if quick { 1 } else { 5 } {
            null = null.min(bench_mechanism(false, size, count));
            if curve {
                sealed = sealed.min(bench_mechanism(true, size, count));
            }
        }
        println!(
            "{:<46} {:>9.2} µs/message ({count} messages, best of rounds)",
            format!("PUB->SUB {size} B, NULL"),
            null * 1e6
        );
        if curve {
            println!(
                "{:<46} {:>9.2} µs/message, {:.0}x NULL: +{:.2} µs to seal and open ({:.0} MB/s)",
                format!("PUB->SUB {size} B, CURVE"),
                sealed * 1e6,
                sealed / null,
                (sealed - null) * 1e6,
                size as f64 / (sealed - null) / 1e6
            );
        } else {
            println!("(CURVE rows need --features curve)");
        }
    }
}

fn main() {
    // `cargo test --benches` passes --bench-less args; keep it quick there.
    let quick =
        std::env::args().any(|a| a == "--quick") || !std::env::args().any(|a| a == "--bench");
    let (small, large) = if quick { (10_000, 16) } else { (100_000, 256) };
    let rounds = if quick { 1 } else { 50 };
    bench_parser(64, small, rounds);
    bench_parser(64 * 1024, large, rounds);
    for borrowed in [true, false] {
        bench_connection(64, small, rounds, borrowed);
        bench_connection(64 * 1024, large, rounds, borrowed);
    }
    mechanism_rows(quick);
}
