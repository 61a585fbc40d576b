//! Differential: whatever parts a REQ engine encodes, the zero-copy frame
//! parser and a REP engine (fed in arbitrary chunks, either input path)
//! decode back to exactly the same parts.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use networkzero_core::zmtp::{Config, Connection, Event, Frame, Role, Status};
use networkzero_core::Instant;

#[derive(Arbitrary, Debug)]
struct Input {
    parts: Vec<Vec<u8>>,
    cuts: Vec<u8>,
    borrowed: bool,
}

type Conn = Connection<Vec<u8>>;

fn conn(role: Role) -> Conn {
    let mut cfg = Config::new(role);
    cfg.max_message_size = 1 << 20;
    cfg.max_parts = 65; // 64 parts plus the REQ delimiter
    Connection::new(cfg, vec![0; 1 << 16], vec![0; 1 << 18], Instant::ZERO).unwrap()
}

fn drain(c: &mut Conn) -> Vec<u8> {
    let mut v = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = c.poll_output(&mut buf);
        if n == 0 {
            return v;
        }
        v.extend_from_slice(&buf[..n]);
    }
}

fn feed_all(c: &mut Conn, bytes: &[u8]) {
    let mut off = 0;
    for _ in 0..1000 {
        if off == bytes.len() {
            break;
        }
        off += c.handle_input(&bytes[off..], Instant::ZERO).unwrap();
        while c.poll_event().is_some() {}
    }
    assert_eq!(off, bytes.len());
}

fuzz_target!(|input: Input| {
    let parts: Vec<&[u8]> = input
        .parts
        .iter()
        .take(64)
        .map(|p| &p[..p.len().min(4096)])
        .collect();
    if parts.is_empty() {
        return;
    }
    let (mut req, mut rep) = (conn(Role::Req), conn(Role::Rep));
    // Handshake.
    let a = drain(&mut req);
    let b = drain(&mut rep);
    feed_all(&mut rep, &a);
    feed_all(&mut req, &b);
    let a = drain(&mut req);
    let b = drain(&mut rep);
    feed_all(&mut rep, &a);
    feed_all(&mut req, &b);
    assert!(req.is_established() && rep.is_established());

    req.send(&parts).unwrap();
    let wire = drain(&mut req);

    // 1. The zero-copy parser sees the delimiter and then the parts.
    let mut off = 0;
    let mut frames = Vec::new();
    while off < wire.len() {
        match Frame::parse(&wire[off..], u64::MAX).unwrap() {
            Status::Complete(f, n) => {
                assert!(!f.command);
                frames.push((f.body.to_vec(), f.more));
                off += n;
            }
            Status::Partial => panic!("encoder output ended mid-frame"),
        }
    }
    assert_eq!(frames.len(), parts.len() + 1);
    assert_eq!(frames[0], (Vec::new(), true));
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(frames[i + 1], (p.to_vec(), i + 1 < parts.len()));
    }

    // 2. The REP engine, chunked arbitrarily.
    let mut got: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut off = 0;
    let mut cuts = input.cuts.iter().cycle();
    for _ in 0..1_000_000 {
        if off == wire.len() && pending.is_empty() {
            break;
        }
        let take = usize::from(cuts.next().copied().unwrap_or(255))
            .max(1)
            .min(wire.len() - off);
        pending.extend_from_slice(&wire[off..off + take]);
        off += take;
        loop {
            let n = if input.borrowed {
                let r = rep.handle_input_borrowed(&pending, Instant::ZERO).unwrap();
                if let Some(p) = r.part {
                    got.push((p.data.to_vec(), p.more));
                }
                r.consumed
            } else {
                rep.handle_input(&pending, Instant::ZERO).unwrap()
            };
            pending.drain(..n);
            let mut any = false;
            while let Some(e) = rep.poll_event() {
                if let Event::Message(p) = e {
                    got.push((p.data.to_vec(), p.more));
                }
                any = true;
            }
            if n == 0 && !any {
                break;
            }
        }
    }
    let want: Vec<(Vec<u8>, bool)> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| (p.to_vec(), i + 1 < parts.len()))
        .collect();
    assert_eq!(got, want);
});
