//! The core's sans-IO ZMTP engine against real libzmq (the `zmq` crate, which
//! builds libzmq from source) over loopback TCP, in every pairing networkzero
//! uses. Run inside a private network namespace:
//! `/work/shared/sealed cargo test -p nw0-tests --test zmtp_libzmq`.
//!
//! Every loop is bounded in count and time; only 127.0.0.1 and ephemeral
//! ports are used.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use networkzero_core::zmtp::{Config, Role, Sent, SocketType, ZmtpError};
use networkzero_core::Duration;
use nw0_tests::zmtp_driver::{listener, Driver, Ev, WAIT};

fn sealed() -> bool {
    nw0_tests::require_netns()
}

fn zmq_bind(ctx: &zmq::Context, kind: zmq::SocketType) -> (zmq::Socket, SocketAddr) {
    let s = ctx.socket(kind).unwrap();
    s.set_linger(0).unwrap();
    s.set_rcvtimeo(10_000).unwrap();
    s.set_sndtimeo(10_000).unwrap();
    s.bind("tcp://127.0.0.1:*").unwrap();
    let ep = s.get_last_endpoint().unwrap().unwrap();
    let addr = ep.trim_start_matches("tcp://").parse().unwrap();
    (s, addr)
}

fn zmq_connect(ctx: &zmq::Context, kind: zmq::SocketType, addr: SocketAddr) -> zmq::Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_linger(0).unwrap();
    s.set_rcvtimeo(10_000).unwrap();
    s.set_sndtimeo(10_000).unwrap();
    s.connect(&format!("tcp://{addr}")).unwrap();
    s
}

/// What a raw ZMTP 3.1 peer of type `socket_type` (`REQ`, `REP`) sends first: its
/// NULL-mechanism greeting and READY. Raw peers in these tests misbehave after it.
fn raw_handshake(socket_type: &[u8; 3]) -> Vec<u8> {
    let mut hello = vec![
        0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 1, b'N', b'U', b'L', b'L',
    ];
    hello.resize(64, 0);
    hello.extend_from_slice(b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03");
    hello.extend_from_slice(socket_type);
    hello
}

/// Reads and drops what a raw peer's stream gets until it ends (at most 3 s of silence).
fn drain(s: &mut TcpStream) {
    s.set_read_timeout(Some(StdDuration::from_secs(3))).unwrap();
    let mut sink = [0u8; 4096];
    while let Ok(n) = s.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}

/// A libzmq REP that answers `n` requests with each part upper-cased, in a thread.
fn zmq_echo_rep(
    ctx: &zmq::Context,
    n: usize,
    cfg: impl FnOnce(&zmq::Socket),
) -> (SocketAddr, thread::JoinHandle<usize>) {
    let (rep, addr) = zmq_bind(ctx, zmq::REP);
    // The thread closes the socket once it has answered: with zmq_bind's
    // linger of 0 libzmq would drop a reply still being written (a 1 MiB one
    // under load: CI saw the connection end mid-reply). Its last reply goes.
    rep.set_linger(10_000).unwrap();
    cfg(&rep);
    let h = thread::spawn(move || {
        let mut served = 0;
        for _ in 0..n {
            let Ok(parts) = rep.recv_multipart(0) else {
                break;
            };
            let reply: Vec<Vec<u8>> = parts.iter().map(|p| p.to_ascii_uppercase()).collect();
            rep.send_multipart(reply, 0).unwrap();
            served += 1;
        }
        served
    });
    (addr, h)
}

#[test]
fn our_req_to_libzmq_rep_multipart() {
    if !sealed() {
        return;
    }
    let ctx = zmq::Context::new();
    let (addr, h) = zmq_echo_rep(&ctx, 3, |_| {});
    let mut d = Driver::connect(addr, Config::new(Role::Req));
    assert_eq!(d.handshake(), SocketType::Rep);
    d.conn.send(&[b"hello"]).unwrap();
    assert_eq!(d.recv_message(), vec![b"HELLO".to_vec()]);
    d.conn.send(&[b"a", b"", b"three parts"]).unwrap();
    assert_eq!(
        d.recv_message(),
        vec![b"A".to_vec(), b"".to_vec(), b"THREE PARTS".to_vec()]
    );
    d.conn.send(&[b"{\"json\": 1}"]).unwrap();
    assert_eq!(d.recv_message(), vec![b"{\"JSON\": 1}".to_vec()]);
    assert_eq!(h.join().unwrap(), 3);
}

#[test]
fn libzmq_req_to_our_rep() {
    if !sealed() {
        return;
    }
    let ctx = zmq::Context::new();
    let (l, addr) = listener();
    let req = zmq_connect(&ctx, zmq::REQ, addr);
    let h = thread::spawn(move || {
        let mut replies = Vec::new();
        for i in 0..3 {
            req.send_multipart([format!("req {i}").into_bytes(), b"tail".to_vec()], 0)
                .unwrap();
            replies.push(req.recv_multipart(0).unwrap());
        }
        replies
    });
    let mut d = Driver::accept(&l, Config::new(Role::Rep));
    assert_eq!(d.handshake(), SocketType::Req);
    for i in 0..3 {
        let msg = d.recv_message();
        assert_eq!(msg, vec![format!("req {i}").into_bytes(), b"tail".to_vec()]);
        d.conn.send(&[b"ack", format!("{i}").as_bytes()]).unwrap();
        d.flush();
    }
    let replies = h.join().unwrap();
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r, &vec![b"ack".to_vec(), format!("{i}").into_bytes()]);
    }
}

#[test]
fn our_pub_to_libzmq_sub_with_prefixes_and_unsubscribe() {
    if !sealed() {
        return;
    }
    let ctx = zmq::Context::new();
    let (l, addr) = listener();
    let sub = zmq_connect(&ctx, zmq::SUB, addr);
    sub.set_subscribe(b"data").unwrap();
    sub.set_subscribe(b"x.").unwrap();
    let mut d = Driver::accept(&l, Config::new(Role::Pub));
    assert_eq!(d.handshake(), SocketType::Sub);
    assert!(
        d.run_until(WAIT, |d| d.conn.subscription_count() == 2),
        "{:?}",
        d.events
    );
    assert_eq!(
        d.events.drain(..).collect::<Vec<_>>(),
        vec![Ev::Sub(b"data".to_vec()), Ev::Sub(b"x.".to_vec())]
    );
    assert_eq!(
        d.conn.send(&[b"data.temp", b"{\"i\": 1}"]),
        Ok(Sent::Queued)
    );
    assert_eq!(d.conn.send(&[b"other", b"{}"]), Ok(Sent::Filtered));
    assert_eq!(d.conn.send(&[b"x.1", b"{}"]), Ok(Sent::Queued));
    d.flush();
    assert_eq!(
        sub.recv_multipart(0).unwrap(),
        vec![b"data.temp".to_vec(), b"{\"i\": 1}".to_vec()]
    );
    assert_eq!(
        sub.recv_multipart(0).unwrap(),
        vec![b"x.1".to_vec(), b"{}".to_vec()]
    );
    sub.set_unsubscribe(b"data").unwrap();
    assert!(d.run_until(WAIT, |d| !d.events.is_empty()));
    assert_eq!(d.events.remove(0), Ev::Unsub(b"data".to_vec()));
    assert_eq!(d.conn.send(&[b"data.2", b"{}"]), Ok(Sent::Filtered));
    assert_eq!(d.conn.send(&[b"x.2", b"{}"]), Ok(Sent::Queued));
    d.flush();
    assert_eq!(
        sub.recv_multipart(0).unwrap(),
        vec![b"x.2".to_vec(), b"{}".to_vec()]
    );
}

#[test]
fn libzmq_pub_to_our_sub() {
    if !sealed() {
        return;
    }
    let ctx = zmq::Context::new();
    let (pubs, addr) = zmq_bind(&ctx, zmq::PUB);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let h = thread::spawn(move || {
        // Publish until told to stop (slow-joiner safe), bounded to 10 s.
        let deadline = StdInstant::now() + WAIT;
        let mut i = 0u32;
        while !stop2.load(Ordering::Relaxed) && StdInstant::now() < deadline {
            pubs.send_multipart([b"other".to_vec(), b"{}".to_vec()], 0)
                .unwrap();
            pubs.send_multipart(
                [
                    b"news.temp".to_vec(),
                    format!("{{\"i\": {i}}}").into_bytes(),
                ],
                0,
            )
            .unwrap();
            i += 1;
            thread::sleep(StdDuration::from_millis(10));
        }
    });
    let mut d = Driver::connect(addr, Config::new(Role::Sub));
    d.conn.subscribe(b"news").unwrap();
    assert_eq!(d.handshake(), SocketType::Pub);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(d.recv_message());
    }
    stop.store(true, Ordering::Relaxed);
    h.join().unwrap();
    for m in &got {
        assert_eq!(m.len(), 2);
        assert_eq!(m[0], b"news.temp");
        assert!(m[1].starts_with(b"{\"i\": "));
    }
}

#[test]
fn one_mib_message_both_ways() {
    if !sealed() {
        return;
    }
    let ctx = zmq::Context::new();
    let (addr, h) = zmq_echo_rep(&ctx, 1, |_| {});
    let mut cfg = Config::new(Role::Req);
    cfg.max_message_size = 2 << 20;
    let sock = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    let mut d = Driver::new(sock, cfg, (1 << 20) + 16, (1 << 20) + 4096);
    d.handshake();
    let big: Vec<u8> = (0..1 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    d.conn.send(&[&big]).unwrap();
    let reply = d.recv_message();
    assert_eq!(reply.len(), 1);
    assert_eq!(reply[0], big.to_ascii_uppercase());
    assert_eq!(h.join().unwrap(), 1);
}

#[test]
fn heartbeats_with_libzmq() {
    if !sealed() {
        return;
    }
    let ctx = zmq::Context::new();
    // libzmq pings us every 50 ms and drops us if no PONG within 150 ms.
    let (addr, h) = zmq_echo_rep(&ctx, 1, |s| {
        s.set_heartbeat_ivl(50).unwrap();
        s.set_heartbeat_timeout(150).unwrap();
        s.set_heartbeat_ttl(1000).unwrap();
    });
    // We ping libzmq too, and would close if its PONGs did not come.
    let mut cfg = Config::new(Role::Req);
    cfg.heartbeat_interval = Some(Duration::from_millis(50));
    cfg.heartbeat_timeout = Some(Duration::from_millis(150));
    let mut d = Driver::connect(addr, cfg);
    d.handshake();
    d.idle(StdDuration::from_millis(800));
    assert_eq!((d.err, d.eof), (None, false), "heartbeats failed");
    // Still the same connection (our REQ never reconnects).
    d.conn.send(&[b"still here"]).unwrap();
    assert_eq!(d.recv_message(), vec![b"STILL HERE".to_vec()]);
    assert_eq!(h.join().unwrap(), 1);
}

#[test]
fn heartbeat_timeout_against_a_silent_peer() {
    if !sealed() {
        return;
    }
    // A raw peer that completes the handshake, then never answers PINGs.
    let (l, addr) = listener();
    let t = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.write_all(&raw_handshake(b"REP")).unwrap();
        drain(&mut s);
    });
    let mut cfg = Config::new(Role::Req);
    cfg.heartbeat_interval = Some(Duration::from_millis(50));
    let mut d = Driver::connect(addr, cfg);
    d.handshake();
    assert!(d.run_until(WAIT, |d| d.err.is_some()));
    assert_eq!(d.err, Some(ZmtpError::HeartbeatTimeout));
    drop(d);
    t.join().unwrap();
}

#[test]
fn libzmq_peer_types_are_checked() {
    if !sealed() {
        return;
    }
    let ctx = zmq::Context::new();
    let (_pubs, addr) = zmq_bind(&ctx, zmq::PUB);
    let mut d = Driver::connect(addr, Config::new(Role::Req));
    assert!(d.run_until(WAIT, |d| d.err.is_some()));
    assert_eq!(d.err, Some(ZmtpError::IncompatibleSocketType));
    assert!(!d.conn.is_established());
}

#[test]
fn peer_closing_mid_frame() {
    if !sealed() {
        return;
    }
    // (a) A raw peer sends half a request, then closes: no error, no message.
    let (l, addr) = listener();
    let t = thread::spawn(move || {
        let mut s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
        let mut hello = raw_handshake(b"REQ");
        hello.extend_from_slice(b"\x01\x00\x02\x00\x00\x00\x00\x00\x00\x10\x00half a frame");
        s.write_all(&hello).unwrap();
    });
    let mut d = Driver::accept(&l, Config::new(Role::Rep));
    d.handshake();
    assert!(d.run_until(WAIT, |d| d.eof));
    assert_eq!(d.err, None);
    assert!(d.events.is_empty());
    assert!(
        d.input.is_empty(),
        "the partial frame is buffered inside the engine"
    );
    t.join().unwrap();

    // (b) We close mid-frame towards libzmq REP; it survives and serves the next peer.
    let ctx = zmq::Context::new();
    let (addr, h) = zmq_echo_rep(&ctx, 1, |_| {});
    let mut d = Driver::connect(addr, Config::new(Role::Req));
    d.handshake();
    d.sock
        .write_all(b"\x01\x00\x02\x00\x00\x00\x00\x00\x00\x10\x00partial")
        .unwrap();
    drop(d);
    let mut d = Driver::connect(addr, Config::new(Role::Req));
    d.handshake();
    d.conn.send(&[b"after"]).unwrap();
    assert_eq!(d.recv_message(), vec![b"AFTER".to_vec()]);
    assert_eq!(h.join().unwrap(), 1);
}

#[test]
fn over_limit_frames_close_the_connection() {
    if !sealed() {
        return;
    }
    // (a) libzmq REQ sends 100 KiB to our REP limited to 64 KiB.
    let ctx = zmq::Context::new();
    let (l, addr) = listener();
    let req = zmq_connect(&ctx, zmq::REQ, addr);
    req.set_rcvtimeo(1000).unwrap();
    let h = thread::spawn(move || {
        req.send(vec![7u8; 100 * 1024], 0).unwrap();
        req.recv_bytes(0).is_ok()
    });
    let mut d = Driver::accept(&l, Config::new(Role::Rep));
    d.handshake();
    assert!(d.run_until(WAIT, |d| d.err.is_some()));
    assert_eq!(d.err, Some(ZmtpError::MessageTooLarge));
    assert!(d.events.is_empty());
    drop(d);
    drop(l);
    assert!(!h.join().unwrap(), "no reply may come");

    // (b) A raw peer announces a u64::MAX frame (CVE-2019-6250 shape).
    let (l, addr) = listener();
    let t = thread::spawn(move || {
        let mut s = TcpStream::connect_timeout(&addr, WAIT).unwrap();
        let mut hello = raw_handshake(b"REQ");
        hello.extend_from_slice(&[0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        s.write_all(&hello).unwrap();
        drain(&mut s);
    });
    let mut d = Driver::accept(&l, Config::new(Role::Rep));
    // Handshake and the bad header may arrive in one read: no handshake() here.
    assert!(d.run_until(WAIT, |d| d.err.is_some()));
    assert_eq!(d.err, Some(ZmtpError::MessageTooLarge));
    assert_eq!(d.events, vec![Ev::Done(SocketType::Req)]);
    drop(d);
    t.join().unwrap();
}
