//! Connection-level tests: two engines through an in-memory pipe with a
//! virtual clock, and byte-array fixtures standing in for libzmq peers.

extern crate std;

use std::vec;
use std::vec::Vec;

use super::frame::encode_frame;
use super::*;
use crate::time::{Duration, Instant};

type Conn = Connection<Vec<u8>>;

#[cfg(feature = "curve")]
mod curve;

const T0: Instant = Instant::ZERO;

fn conn(cfg: Config) -> Conn {
    Connection::new(cfg, vec![0; 4096], vec![0; 8192], T0).unwrap()
}

fn role(r: Role) -> Conn {
    conn(Config::new(r))
}

#[derive(Debug, PartialEq, Eq, Clone)]
enum Ev {
    Done(SocketType),
    Msg(Vec<u8>, bool),
    Sub(Vec<u8>),
    Unsub(Vec<u8>),
    PeerErr(Vec<u8>),
    TooLarge(usize, usize),
}

fn own(e: Event<'_>) -> Ev {
    match e {
        Event::HandshakeDone { peer } => Ev::Done(peer),
        Event::Message(p) => Ev::Msg(p.data.to_vec(), p.more),
        Event::Subscribed(t) => Ev::Sub(t.to_vec()),
        Event::Unsubscribed(t) => Ev::Unsub(t.to_vec()),
        Event::PeerError(r) => Ev::PeerErr(r.to_vec()),
        Event::TooLarge(t) => Ev::TooLarge(t.size, t.limit),
    }
}

/// Feed `bytes` (all of them unless back-pressure stops it); collect events.
fn feed_at(
    c: &mut Conn,
    bytes: &[u8],
    now: Instant,
    evs: &mut Vec<Ev>,
) -> Result<usize, ZmtpError> {
    let mut off = 0;
    for _ in 0..100_000 {
        let n = c.handle_input(&bytes[off..], now)?;
        off += n;
        let mut got = false;
        while let Some(e) = c.poll_event() {
            evs.push(own(e));
            got = true;
        }
        if off == bytes.len() || (n == 0 && !got) {
            break;
        }
    }
    Ok(off)
}

fn feed(c: &mut Conn, bytes: &[u8]) -> Result<Vec<Ev>, ZmtpError> {
    let mut evs = vec![];
    let n = feed_at(c, bytes, T0, &mut evs)?;
    assert_eq!(n, bytes.len(), "input not fully consumed");
    Ok(evs)
}

fn drain(c: &mut Conn) -> Vec<u8> {
    let mut v = vec![];
    let mut buf = [0u8; 700];
    loop {
        let n = c.poll_output(&mut buf);
        if n == 0 {
            return v;
        }
        v.extend_from_slice(&buf[..n]);
    }
}

/// Move bytes both ways until neither side has output.
fn pump(a: &mut Conn, b: &mut Conn, now: Instant) -> (Vec<Ev>, Vec<Ev>) {
    let (mut ea, mut eb) = (vec![], vec![]);
    for _ in 0..50 {
        let ab = drain(a);
        let ba = drain(b);
        if ab.is_empty() && ba.is_empty() {
            break;
        }
        feed_at(b, &ab, now, &mut eb).unwrap();
        feed_at(a, &ba, now, &mut ea).unwrap();
    }
    (ea, eb)
}

fn pair(ra: Role, rb: Role) -> (Conn, Conn) {
    let (mut a, mut b) = (role(ra), role(rb));
    let (ea, eb) = pump(&mut a, &mut b, T0);
    assert_eq!(ea, vec![Ev::Done(rb.socket_type())]);
    assert_eq!(eb, vec![Ev::Done(ra.socket_type())]);
    (a, b)
}

// ---- fixtures of a libzmq 4.3.5 peer --------------------------------------

fn greeting(minor: u8) -> Vec<u8> {
    let mut g = vec![0u8; 64];
    g[0] = 0xFF;
    g[8] = 1;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = minor;
    g[12..16].copy_from_slice(b"NULL");
    g
}

fn frame(more: bool, command: bool, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; body.len() + 9];
    let n = encode_frame(&mut out, more, command, body).unwrap();
    out.truncate(n);
    out
}

fn ready(socket_type: &str) -> Vec<u8> {
    let mut body = b"\x05READY\x0bSocket-Type".to_vec();
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type.as_bytes());
    frame(false, true, &body)
}

fn peer_hello(minor: u8, socket_type: &str) -> Vec<u8> {
    let mut v = greeting(minor);
    v.extend(ready(socket_type));
    v
}

// ---- handshake ----------------------------------------------------------

#[test]
fn our_greeting_and_ready_match_libzmq() {
    let mut c = role(Role::Req);
    let out = drain(&mut c);
    assert_eq!(out, greeting(1));
    assert_eq!(c.peer_minor_version(), None, "no greeting yet");
    assert!(feed(&mut c, &greeting(1)).unwrap().is_empty());
    let out = drain(&mut c);
    // libzmq's REQ READY: Socket-Type and an empty Identity.
    assert_eq!(
        out,
        b"\x04\x26\x05READY\x0bSocket-Type\x00\x00\x00\x03REQ\x08Identity\x00\x00\x00\x00"
    );
    assert_eq!(
        feed(&mut c, &ready("REP")).unwrap(),
        vec![Ev::Done(SocketType::Rep)]
    );
    assert!(c.is_established());
    assert_eq!(c.peer_minor_version(), Some(1));
    assert_eq!(c.peer_socket_type(), Some(SocketType::Rep));
}

/// A ZMTP 3.0 peer (libzmq 4.1) is told apart from a 3.1 one; a peer of a
/// later major version speaks at least 3.1, whatever its minor.
#[test]
fn a_zmtp_3_0_peer_says_so() {
    let mut c = role(Role::Rep);
    assert_eq!(c.peer_socket_type(), None);
    assert_eq!(
        feed(&mut c, &peer_hello(0, "REQ")).unwrap(),
        vec![Ev::Done(SocketType::Req)]
    );
    assert_eq!(c.peer_minor_version(), Some(0));
    assert_eq!(c.peer_socket_type(), Some(SocketType::Req));
    let mut later = role(Role::Rep);
    let mut hello = peer_hello(0, "REQ");
    hello[10] = 4;
    assert_eq!(
        feed(&mut later, &hello).unwrap(),
        vec![Ev::Done(SocketType::Req)]
    );
    assert_eq!(later.peer_minor_version(), Some(1));
}

#[test]
fn handshake_byte_by_byte() {
    let mut c = role(Role::Rep);
    let mut bytes = peer_hello(1, "REQ");
    bytes.extend(frame(true, false, b""));
    bytes.extend(frame(false, false, b"hi"));
    let mut evs = vec![];
    for b in &bytes {
        assert_eq!(
            feed_at(&mut c, core::slice::from_ref(b), T0, &mut evs).unwrap(),
            1
        );
    }
    assert_eq!(
        evs,
        vec![Ev::Done(SocketType::Req), Ev::Msg(b"hi".to_vec(), false)]
    );
}

/// A greeting in two reads, the second carrying its rest and what follows (READY, a
/// request): only the greeting's own bytes are taken as greeting.
#[test]
fn a_greeting_split_across_reads_takes_only_its_own_bytes() {
    let mut bytes = peer_hello(1, "REQ");
    bytes.extend(frame(true, false, b""));
    bytes.extend(frame(false, false, b"hi"));
    for at in [1, 5, 10, 11, 63] {
        let mut c = role(Role::Rep);
        drain(&mut c);
        let mut evs = vec![];
        assert_eq!(feed_at(&mut c, &bytes[..at], T0, &mut evs).unwrap(), at);
        let rest = &bytes[at..];
        assert_eq!(feed_at(&mut c, rest, T0, &mut evs).unwrap(), rest.len());
        assert_eq!(
            evs,
            vec![Ev::Done(SocketType::Req), Ev::Msg(b"hi".to_vec(), false)],
            "split at {at}"
        );
    }
}

#[test]
fn garbage_fails_fast() {
    let mut c = role(Role::Rep);
    assert_eq!(
        c.handle_input(b"GET / HTTP/1.1\r\n", T0),
        Err(ZmtpError::BadSignature)
    );
    assert_eq!(c.handle_input(b"", T0), Err(ZmtpError::BadSignature));
    // At the first byte, not only once the ten-byte signature is in.
    let mut c = role(Role::Rep);
    assert_eq!(c.handle_input(b"G", T0), Err(ZmtpError::BadSignature));
    let mut c = role(Role::Rep);
    let mut g = greeting(1);
    g[10] = 2;
    assert_eq!(
        c.handle_input(&g[..11], T0),
        Err(ZmtpError::UnsupportedVersion)
    );
    let mut c = role(Role::Rep);
    let mut g = greeting(1);
    g[12..17].copy_from_slice(b"CURVE");
    assert_eq!(c.handle_input(&g, T0), Err(ZmtpError::MechanismMismatch));
}

#[test]
fn incompatible_socket_type_sends_error() {
    let mut c = role(Role::Req);
    drain(&mut c);
    assert_eq!(
        feed(&mut c, &peer_hello(1, "PUB")),
        Err(ZmtpError::IncompatibleSocketType)
    );
    let out = drain(&mut c);
    assert!(
        out.ends_with(&frame(false, true, b"\x05ERROR\x13Invalid socket type")),
        "{out:?}"
    );
    assert!(c.is_closed());
    assert_eq!(c.send(&[b"x"]), Err(SendError::Closed));
    // Two engines: REQ to PUB fails on both sides.
    let (mut a, mut b) = (role(Role::Req), role(Role::Pub));
    let ga = drain(&mut a);
    let gb = drain(&mut b);
    let _ = feed(&mut a, &gb);
    let _ = feed(&mut b, &ga);
    let ra = drain(&mut a);
    let rb = drain(&mut b);
    assert_eq!(feed(&mut b, &ra), Err(ZmtpError::IncompatibleSocketType));
    assert_eq!(feed(&mut a, &rb), Err(ZmtpError::IncompatibleSocketType));
}

/// A peer's Identity (which only a ROUTER would keep) is checked against ZMTP's 255
/// bytes: one of 255 is taken, a longer one ends the handshake.
#[test]
fn a_peers_identity_of_up_to_255_bytes_is_taken() {
    for (len, want) in [
        (255, Ok(vec![Ev::Done(SocketType::Req)])),
        (256, Err(ZmtpError::MalformedMetadata)),
    ] {
        let mut body = b"\x05READY\x0bSocket-Type\x00\x00\x00\x03REQ\x08Identity".to_vec();
        body.extend_from_slice(&(len as u32).to_be_bytes());
        body.extend(std::iter::repeat_n(7u8, len));
        let mut bytes = greeting(1);
        bytes.extend(frame(false, true, &body));
        let mut c = role(Role::Rep);
        drain(&mut c);
        assert_eq!(feed(&mut c, &bytes), want, "an identity of {len} bytes");
    }
}

/// READY belongs to the handshake: a second one, once traffic flows, is a
/// peer that has lost its place in the protocol, and the connection ends
/// rather than guess what it meant.
#[test]
fn a_second_ready_ends_the_connection() {
    let (_, mut rep) = pair(Role::Req, Role::Rep);
    assert_eq!(
        feed(&mut rep, &ready("REQ")),
        Err(ZmtpError::UnexpectedFrame)
    );
}

#[test]
fn missing_socket_type_and_data_before_ready() {
    let mut c = role(Role::Rep);
    let mut bytes = greeting(1);
    bytes.extend(frame(false, true, b"\x05READY"));
    assert_eq!(feed(&mut c, &bytes), Err(ZmtpError::MissingSocketType));
    let mut c = role(Role::Rep);
    let mut bytes = greeting(1);
    bytes.extend(frame(false, false, b"early"));
    assert_eq!(feed(&mut c, &bytes), Err(ZmtpError::UnexpectedFrame));
    let mut c = role(Role::Rep);
    let mut bytes = greeting(1);
    bytes.extend(frame(false, true, b"\x04PING\x00\x00"));
    assert_eq!(feed(&mut c, &bytes), Err(ZmtpError::UnexpectedFrame));
}

#[test]
fn peer_error_command() {
    let mut c = role(Role::Req);
    let mut bytes = greeting(1);
    bytes.extend(frame(false, true, b"\x05ERROR\x04nope"));
    assert_eq!(c.handle_input(&bytes, T0), Err(ZmtpError::PeerError));
    assert_eq!(c.poll_event().map(own), Some(Ev::PeerErr(b"nope".to_vec())));
    assert_eq!(c.error(), Some(ZmtpError::PeerError));
}

#[test]
fn handshake_timeout() {
    let mut c = role(Role::Rep);
    assert_eq!(c.poll_timeout(), Some(Instant::from_millis(30_000)));
    assert_eq!(c.handle_timeout(Instant::from_millis(29_999)), Ok(()));
    assert_eq!(
        c.handle_timeout(Instant::from_millis(30_000)),
        Err(ZmtpError::HandshakeTimeout)
    );
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(
        c.handle_input(&greeting(1), T0),
        Err(ZmtpError::HandshakeTimeout)
    );
}

// ---- REQ / REP ----------------------------------------------------------

#[test]
fn req_rep_round_trip_multipart() {
    let (mut req, mut rep) = pair(Role::Req, Role::Rep);
    assert!(req.can_send() && !rep.can_send());
    assert_eq!(rep.send(&[b"x"]), Err(SendError::InvalidState));
    assert_eq!(req.send(&[b"hello", b"world"]), Ok(Sent::Queued));
    assert_eq!(req.send(&[b"again"]), Err(SendError::InvalidState));
    let wire = drain(&mut req);
    assert_eq!(
        wire,
        [&b"\x01\x00"[..], b"\x01\x05hello", b"\x00\x05world"].concat()
    );
    let evs = feed(&mut rep, &wire).unwrap();
    assert_eq!(
        evs,
        vec![
            Ev::Msg(b"hello".to_vec(), true),
            Ev::Msg(b"world".to_vec(), false)
        ]
    );
    assert!(rep.can_send());
    rep.send(&[b"reply"]).unwrap();
    let wire = drain(&mut rep);
    assert_eq!(wire, b"\x01\x00\x00\x05reply");
    assert_eq!(
        feed(&mut req, &wire).unwrap(),
        vec![Ev::Msg(b"reply".to_vec(), false)]
    );
    assert!(req.can_send());
}

#[test]
fn rep_restores_router_envelope() {
    // A DEALER-style request with routing frames before the delimiter.
    let mut rep = role(Role::Rep);
    drain(&mut rep);
    let mut bytes = peer_hello(1, "DEALER");
    bytes.extend(frame(true, false, b"id-1"));
    bytes.extend(frame(true, false, b"id-2"));
    bytes.extend(frame(true, false, b""));
    bytes.extend(frame(false, false, b"q"));
    let evs = feed(&mut rep, &bytes).unwrap();
    assert_eq!(evs[1..], [Ev::Msg(b"q".to_vec(), false)]);
    drain(&mut rep);
    rep.send(&[b"a"]).unwrap();
    assert_eq!(
        drain(&mut rep),
        b"\x01\x04id-1\x01\x04id-2\x01\x00\x00\x01a"
    );
}

#[test]
fn rep_drops_request_without_delimiter_and_backpressures() {
    let mut rep = role(Role::Rep);
    drain(&mut rep);
    let mut bytes = peer_hello(1, "DEALER");
    bytes.extend(frame(false, false, b"no-delimiter"));
    bytes.extend(frame(true, false, b""));
    bytes.extend(frame(false, false, b"one"));
    let second = [frame(true, false, b""), frame(false, false, b"two")].concat();
    bytes.extend(&second);
    let mut evs = vec![];
    let used = feed_at(&mut rep, &bytes, T0, &mut evs).unwrap();
    assert_eq!(evs[1..], [Ev::Msg(b"one".to_vec(), false)]);
    // The second request waits until the first is answered.
    assert_eq!(used, bytes.len() - second.len());
    assert_eq!(rep.handle_input(&second, T0), Ok(0));
    drain(&mut rep);
    // A PING is still answered while the reply is owed.
    assert_eq!(
        feed(&mut rep, &frame(false, true, b"\x04PING\x00\x00ab")).unwrap(),
        vec![]
    );
    assert_eq!(drain(&mut rep), frame(false, true, b"\x04PONGab"));
    rep.send(&[b"r1"]).unwrap();
    assert_eq!(
        feed(&mut rep, &second).unwrap(),
        vec![Ev::Msg(b"two".to_vec(), false)]
    );
}

#[test]
fn req_drops_bad_replies() {
    let (mut req, _) = pair(Role::Req, Role::Rep);
    // Unsolicited message: dropped.
    assert_eq!(
        feed(
            &mut req,
            &[frame(true, false, b""), frame(false, false, b"x")].concat()
        )
        .unwrap(),
        vec![]
    );
    req.send(&[b"q"]).unwrap();
    // Reply without the delimiter: dropped; REQ still waits.
    assert_eq!(
        feed(&mut req, &frame(false, false, b"bad")).unwrap(),
        vec![]
    );
    assert!(!req.can_send());
    // A reply of several parts whose first is not empty: all of it dropped.
    assert_eq!(
        feed(
            &mut req,
            &[frame(true, false, b"bad"), frame(false, false, b"x")].concat()
        )
        .unwrap(),
        vec![]
    );
    assert!(!req.can_send());
    assert_eq!(
        feed(
            &mut req,
            &[frame(true, false, b""), frame(false, false, b"")].concat()
        )
        .unwrap(),
        vec![Ev::Msg(vec![], false)]
    );
    assert!(req.can_send());
}

#[test]
fn zero_copy_borrowed_part() {
    let (mut req, mut rep) = pair(Role::Req, Role::Rep);
    req.send(&[b"borrow me"]).unwrap();
    let wire = drain(&mut req);
    let r = rep.handle_input_borrowed(&wire, T0).unwrap();
    let part = r.part.unwrap();
    assert_eq!(part.data, b"borrow me");
    assert!(!part.more);
    assert_eq!(r.consumed, wire.len());
    // The slice points into the input, not into the connection.
    let range = wire.as_ptr_range();
    assert!(range.contains(&part.data.as_ptr()));
    assert!(rep.can_send());
}

// ---- PUB / SUB ----------------------------------------------------------

#[test]
fn pub_accepts_libzmq_subscribe_command() {
    let mut p = role(Role::Pub);
    drain(&mut p);
    let mut bytes = peer_hello(1, "SUB");
    bytes.extend_from_slice(b"\x04\x0e\x09SUBSCRIBEdata");
    let evs = feed(&mut p, &bytes).unwrap();
    assert_eq!(
        evs,
        vec![Ev::Done(SocketType::Sub), Ev::Sub(b"data".to_vec())]
    );
    drain(&mut p);
    assert_eq!(p.send(&[b"data.temp", b"{}"]), Ok(Sent::Queued));
    assert_eq!(drain(&mut p), b"\x01\x09data.temp\x00\x02{}");
    assert_eq!(p.send(&[b"dat", b"{}"]), Ok(Sent::Filtered));
    assert_eq!(
        feed(&mut p, b"\x04\x0b\x06CANCELdata").unwrap(),
        vec![Ev::Unsub(b"data".to_vec())]
    );
    assert_eq!(p.send(&[b"data.temp"]), Ok(Sent::Filtered));
}

#[test]
fn pub_accepts_zmtp30_subscription_messages() {
    let mut p = role(Role::Pub);
    drain(&mut p);
    let mut bytes = peer_hello(0, "SUB");
    bytes.extend(frame(false, false, b"\x01news"));
    bytes.extend(frame(false, false, b"\x01"));
    bytes.extend(frame(false, false, b"\x00news"));
    bytes.extend(frame(false, false, b"not a subscription"));
    let evs = feed(&mut p, &bytes).unwrap();
    assert_eq!(
        evs,
        vec![
            Ev::Done(SocketType::Sub),
            Ev::Sub(b"news".to_vec()),
            Ev::Sub(vec![]),
            Ev::Unsub(b"news".to_vec())
        ]
    );
    assert_eq!(p.subscription_count(), 1);
    assert!(p.matches(b"anything"));
}

/// What a PUB's connection tells its socket about the peer's subscriptions: the
/// socket set skips a peer whose subscriptions do not match before it looks at that
/// peer's high-water mark, and a firmware node asks whether a prefix is held.
#[test]
fn a_pub_connection_tells_which_topics_its_subscriber_wants() {
    let mut p = role(Role::Pub);
    drain(&mut p);
    let mut bytes = peer_hello(0, "SUB");
    bytes.extend(frame(false, false, b"\x01news"));
    feed(&mut p, &bytes).unwrap();
    drain(&mut p); // our READY
    assert_eq!(p.subscription_count(), 1);
    assert!(p.is_subscribed(b"news"));
    assert!(
        !p.is_subscribed(b"new"),
        "a prefix of a subscription is not one"
    );
    assert!(p.matches(b"news.weather"));
    assert!(!p.matches(b"sports"));
    feed(&mut p, &frame(false, false, b"\x01sports")).unwrap();
    assert_eq!(drain(&mut p), b"");
    assert_eq!(p.output(), b"", "a PUB sends no subscriptions of its own");
    assert_eq!(p.subscription_count(), 2);
    assert!(p.matches(b"sports"));
    feed(&mut p, &frame(false, false, b"\x00news")).unwrap();
    feed(&mut p, &frame(false, false, b"\x00sports")).unwrap();
    assert_eq!(p.subscription_count(), 0);
    assert!(!p.matches(b"news"));
}

#[test]
fn sub_sends_subscriptions_after_handshake() {
    // ZMTP 3.1 peer: SUBSCRIBE / CANCEL commands, exactly libzmq's bytes.
    let mut s = role(Role::Sub);
    s.subscribe(b"data").unwrap();
    s.subscribe(b"data").unwrap();
    drain(&mut s);
    assert_eq!(
        feed(&mut s, &peer_hello(1, "PUB")).unwrap(),
        vec![Ev::Done(SocketType::Pub)]
    );
    let out = drain(&mut s);
    assert!(out.ends_with(b"\x04\x0e\x09SUBSCRIBEdata"), "{out:?}");
    s.unsubscribe(b"data").unwrap();
    assert_eq!(drain(&mut s), b"");
    s.unsubscribe(b"data").unwrap();
    assert_eq!(drain(&mut s), b"\x04\x0b\x06CANCELdata");
    // What goes out next counts from what is left: a subscription made after a
    // cancel goes out, and so does one made after an earlier one was cancelled.
    s.subscribe(b"a").unwrap();
    s.subscribe(b"b").unwrap();
    assert_eq!(
        drain(&mut s),
        b"\x04\x0b\x09SUBSCRIBEa\x04\x0b\x09SUBSCRIBEb"
    );
    s.unsubscribe(b"a").unwrap();
    assert_eq!(drain(&mut s), b"\x04\x08\x06CANCELa");
    s.subscribe(b"c").unwrap();
    assert_eq!(drain(&mut s), b"\x04\x0b\x09SUBSCRIBEc");
    // ZMTP 3.0 peer: subscription messages.
    let mut s = role(Role::Sub);
    drain(&mut s);
    feed(&mut s, &peer_hello(0, "PUB")).unwrap();
    drain(&mut s);
    s.subscribe(b"t").unwrap();
    assert_eq!(drain(&mut s), b"\x00\x02\x01t");
    s.unsubscribe(b"t").unwrap();
    assert_eq!(drain(&mut s), b"\x00\x02\x00t");
    assert_eq!(s.send(&[b"x"]), Err(SendError::InvalidState));
}

/// A SUB (256-byte output) whose subscription to `abcd` has gone out, with
/// a longer one queued behind it so that exactly `free` bytes of output are
/// left.
fn sub_with_free_output(free: usize) -> Conn {
    let mut cfg = Config::new(Role::Sub);
    cfg.max_subscription_len = MAX_TOPIC_LEN;
    let mut s = Connection::new(cfg, vec![0; 4096], vec![0; MIN_TX_BUFFER], T0).unwrap();
    drain(&mut s);
    feed(&mut s, &peer_hello(1, "PUB")).unwrap();
    drain(&mut s);
    s.subscribe(b"abcd").unwrap();
    assert_eq!(drain(&mut s), b"\x04\x0e\x09SUBSCRIBEabcd");
    // A short frame: 2 header bytes, then "\x09SUBSCRIBE" and the topic.
    let filler = vec![b'f'; MIN_TX_BUFFER - free - 12];
    s.subscribe(&filler).unwrap();
    assert_eq!(s.output().len(), MIN_TX_BUFFER - free);
    s
}

/// A CANCEL that cannot be queued is refused as `BufferFull` (the topic stays
/// subscribed, to be cancelled once output drains) rather than dropped while
/// the PUB goes on sending its news; one that fits exactly goes out; and a
/// subscription that never went out is cancelled without a word to the peer.
#[test]
fn a_cancel_waits_for_room_in_the_output() {
    let cancel_abcd = b"\x04\x0b\x06CANCELabcd";
    let mut s = sub_with_free_output(cancel_abcd.len() - 1);
    assert_eq!(s.unsubscribe(b"abcd"), Err(SendError::BufferFull));
    assert!(s.is_subscribed(b"abcd"));
    drain(&mut s);
    assert_eq!(s.unsubscribe(b"abcd"), Ok(()));
    assert_eq!(drain(&mut s), cancel_abcd);

    let mut s = sub_with_free_output(cancel_abcd.len());
    // Not room for its SUBSCRIBE (14 bytes): queued in the store only.
    s.subscribe(b"zz").unwrap();
    let before = s.output().len();
    assert_eq!(s.unsubscribe(b"zz"), Ok(()));
    assert!(!s.is_subscribed(b"zz"));
    assert_eq!(
        s.output().len(),
        before,
        "no CANCEL for what never went out"
    );
    assert_eq!(s.unsubscribe(b"abcd"), Ok(()));
    assert!(s.output().ends_with(cancel_abcd));
    assert_eq!(s.output().len(), MIN_TX_BUFFER);
}

#[test]
fn pub_sub_pair_filters() {
    let (mut p, mut s) = pair(Role::Pub, Role::Sub);
    s.subscribe(b"a.").unwrap();
    let (ep, es) = pump(&mut p, &mut s, T0);
    assert_eq!((ep, es), (vec![Ev::Sub(b"a.".to_vec())], vec![]));
    p.send(&[b"a.1", b"x"]).unwrap();
    assert_eq!(p.send(&[b"b.1", b"y"]), Ok(Sent::Filtered));
    let (_, es) = pump(&mut p, &mut s, T0);
    assert_eq!(
        es,
        vec![
            Ev::Msg(b"a.1".to_vec(), true),
            Ev::Msg(b"x".to_vec(), false)
        ]
    );
}

#[test]
fn sub_filters_locally() {
    let mut s = role(Role::Sub);
    s.subscribe(b"keep").unwrap();
    drain(&mut s);
    feed(&mut s, &peer_hello(1, "PUB")).unwrap();
    let bytes = [
        frame(true, false, b"drop"),
        frame(false, false, b"1"),
        frame(false, false, b"keep.x"),
    ]
    .concat();
    assert_eq!(
        feed(&mut s, &bytes).unwrap(),
        vec![Ev::Msg(b"keep.x".to_vec(), false)]
    );
}

#[test]
fn subscription_limits() {
    let mut cfg = Config::new(Role::Pub);
    cfg.max_subscription_len = 8;
    cfg.max_subscriptions = 2;
    let mut p = conn(cfg.clone());
    let mut bytes = peer_hello(1, "SUB");
    bytes.extend(frame(false, true, b"\x09SUBSCRIBE12345678"));
    assert_eq!(
        feed(&mut p, &bytes),
        Ok(vec![
            Ev::Done(SocketType::Sub),
            Ev::Sub(b"12345678".to_vec())
        ]),
        "a topic of exactly the limit"
    );
    assert_eq!(
        feed(&mut p, &frame(false, true, b"\x09SUBSCRIBE123456789")),
        Err(ZmtpError::SubscriptionTooLong)
    );
    let mut p = conn(cfg);
    let mut bytes = peer_hello(1, "SUB");
    for t in [&b"a"[..], b"b", b"c"] {
        bytes.extend(frame(false, true, &[&b"\x09SUBSCRIBE"[..], t].concat()));
    }
    assert_eq!(feed(&mut p, &bytes), Err(ZmtpError::TooManySubscriptions));
    let mut s = role(Role::Sub);
    assert_eq!(s.subscribe(&[0u8; 129]), Err(SendError::TopicTooLong));
    assert_eq!(
        s.subscribe(&[0u8; 128]),
        Ok(()),
        "a topic of exactly the limit"
    );
}

// ---- limits -------------------------------------------------------------

#[test]
fn over_limit_frames_close_before_reading() {
    for len in [u64::MAX, 1 << 40, 65 * 1024] {
        let mut rep = role(Role::Rep);
        feed(&mut rep, &peer_hello(1, "REQ")).unwrap();
        let mut hdr = vec![0x03u8];
        hdr.extend_from_slice(&len.to_be_bytes());
        assert_eq!(rep.handle_input(&hdr, T0), Err(ZmtpError::MessageTooLarge));
    }
    // Commands are bounded by the receive buffer.
    let mut rep = role(Role::Rep);
    let mut bytes = peer_hello(1, "REQ");
    bytes.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 0, 0x10, 0x01]);
    assert_eq!(feed(&mut rep, &bytes), Err(ZmtpError::MessageTooLarge));
    // Whole-message size: two parts that each fit but not together.
    let mut cfg = Config::new(Role::Rep);
    cfg.max_message_size = 300;
    let mut rep = conn(cfg);
    let mut bytes = peer_hello(1, "REQ");
    bytes.extend(frame(true, false, b""));
    bytes.extend(frame(true, false, &[1; 200]));
    bytes.extend(frame(false, false, &[1; 200]));
    let mut evs = vec![];
    assert_eq!(
        feed_at(&mut rep, &bytes, T0, &mut evs),
        Err(ZmtpError::MessageTooLarge)
    );
}

#[test]
fn over_limit_messages_are_skipped_when_allowed() {
    // 512-byte receive buffers; a REP that skips up to 4 KiB.
    let conn = |cfg: Config| Conn::new(cfg, vec![0; 512], vec![0; 1024], T0).unwrap();
    let mut cfg = Config::new(Role::Rep);
    cfg.max_skipped_message = 4096;
    let mut rep = conn(cfg.clone());
    let mut bytes = peer_hello(1, "REQ");
    bytes.extend(frame(true, false, b""));
    bytes.extend(frame(false, false, &[7; 1000]));
    let evs = feed(&mut rep, &bytes).unwrap();
    assert_eq!(
        evs,
        vec![Ev::Done(SocketType::Req), Ev::TooLarge(1000, 512)]
    );
    // It owes a reply: the next request waits, the reply carries the envelope.
    let next = [frame(true, false, b""), frame(false, false, b"next")].concat();
    assert_eq!(rep.handle_input(&next, T0), Ok(0));
    drain(&mut rep);
    rep.send(&[b"too big"]).unwrap();
    assert_eq!(
        drain(&mut rep),
        [frame(true, false, b""), frame(false, false, b"too big")].concat()
    );
    assert_eq!(
        feed(&mut rep, &next).unwrap(),
        vec![Ev::Msg(b"next".to_vec(), false)]
    );
    // Parts after the one over the limit are skipped and counted too.
    let mut rep = conn(cfg.clone());
    let mut bytes = peer_hello(1, "REQ");
    bytes.extend(frame(true, false, b""));
    bytes.extend(frame(true, false, &[1; 600]));
    bytes.extend(frame(false, false, &[1; 10]));
    let evs = feed(&mut rep, &bytes).unwrap();
    assert_eq!(evs[1..], [Ev::TooLarge(610, 512)]);
    // Over max_skipped_message: closed, as without skipping.
    let mut rep = conn(cfg.clone());
    let mut bytes = peer_hello(1, "REQ");
    bytes.extend(frame(true, false, b""));
    let mut hdr = vec![0x02u8];
    hdr.extend_from_slice(&5000u64.to_be_bytes());
    bytes.extend(hdr);
    assert_eq!(feed(&mut rep, &bytes), Err(ZmtpError::MessageTooLarge));
    // An envelope frame over the limit cannot be skipped: it is needed to reply.
    let mut rep = conn(cfg);
    let mut bytes = peer_hello(1, "REQ");
    bytes.extend(frame(true, false, &[2; 600]));
    bytes.extend(frame(true, false, b""));
    bytes.extend(frame(false, false, b"x"));
    assert_eq!(feed(&mut rep, &bytes), Err(ZmtpError::MessageTooLarge));
    // SUB: an oversized news item is dropped and reported (its topic, which
    // fit, was delivered already: TooLarge ends that message); the next arrives.
    let mut cfg = Config::new(Role::Sub);
    cfg.max_skipped_message = 4096;
    let mut sub = conn(cfg);
    sub.subscribe(b"").unwrap();
    let mut bytes = peer_hello(1, "PUB");
    bytes.extend(frame(true, false, b"t"));
    bytes.extend(frame(false, false, &[3; 700]));
    bytes.extend(frame(true, false, b"t"));
    bytes.extend(frame(false, false, b"ok"));
    let evs = feed(&mut sub, &bytes).unwrap();
    assert_eq!(
        evs[1..],
        [
            Ev::Msg(b"t".to_vec(), true),
            Ev::TooLarge(701, 512),
            Ev::Msg(b"t".to_vec(), true),
            Ev::Msg(b"ok".to_vec(), false)
        ]
    );
}

/// Each limit takes exactly its size: a part that fills the receive
/// buffer, a message of exactly `max_message_size` and a command that fills
/// the receive buffer are taken; a message of exactly
/// `max_skipped_message` is skipped (told as `TooLarge`), not fatal.
#[test]
fn each_limit_takes_exactly_its_size() {
    let conn = |cfg: Config| Conn::new(cfg, vec![0; 512], vec![0; 1024], T0).unwrap();
    let request = |parts: &[&[u8]]| {
        let mut bytes = peer_hello(1, "REQ");
        bytes.extend(frame(true, false, b""));
        for (i, p) in parts.iter().enumerate() {
            bytes.extend(frame(i + 1 < parts.len(), false, p));
        }
        bytes
    };
    let mut rep = conn(Config::new(Role::Rep));
    let evs = feed(&mut rep, &request(&[&[7; 512]])).unwrap();
    assert_eq!(evs[1..], [Ev::Msg(vec![7; 512], false)]);

    let mut cfg = Config::new(Role::Rep);
    cfg.max_message_size = 300;
    let mut rep = conn(cfg);
    let evs = feed(&mut rep, &request(&[&[1; 100], &[2; 200]])).unwrap();
    assert_eq!(
        evs[1..],
        [Ev::Msg(vec![1; 100], true), Ev::Msg(vec![2; 200], false)]
    );

    let mut rep = conn(Config::new(Role::Rep));
    let mut bytes = peer_hello(1, "REQ");
    let ping = [&b"\x04PING\x00\x00"[..], &[9; 505]].concat();
    bytes.extend(frame(false, true, &ping));
    feed(&mut rep, &bytes).unwrap();
    let pong = [&b"\x04PONG"[..], &[9; 16]].concat();
    assert!(drain(&mut rep).ends_with(&frame(false, true, &pong)));

    let mut cfg = Config::new(Role::Rep);
    cfg.max_skipped_message = 1000;
    let mut rep = conn(cfg);
    let evs = feed(&mut rep, &request(&[&[7; 1000]])).unwrap();
    assert_eq!(evs[1..], [Ev::TooLarge(1000, 512)]);
}

#[test]
fn too_many_parts_and_reserved_flags() {
    let mut cfg = Config::new(Role::Rep);
    cfg.max_parts = 3;
    let mut rep = conn(cfg);
    let mut bytes = peer_hello(1, "REQ");
    for _ in 0..4 {
        bytes.extend(frame(true, false, b""));
    }
    assert_eq!(feed(&mut rep, &bytes), Err(ZmtpError::TooManyParts));
    let mut rep = role(Role::Rep);
    let mut bytes = peer_hello(1, "REQ");
    bytes.extend_from_slice(&[0x10, 0]);
    assert_eq!(feed(&mut rep, &bytes), Err(ZmtpError::ReservedFlags));
    let mut rep = role(Role::Rep);
    let mut bytes = peer_hello(1, "REQ");
    bytes.extend(frame(true, true, b"\x04PING\x00\x00"));
    assert_eq!(feed(&mut rep, &bytes), Err(ZmtpError::MalformedCommand));
}

/// A PUB with a 1 KiB output buffer (messages up to 1 MiB), its SUB peer
/// subscribed to everything.
fn pub_with_small_output() -> Conn {
    let mut cfg = Config::new(Role::Pub);
    cfg.max_message_size = 1 << 20;
    let mut p = Connection::new(cfg, vec![0; 512], vec![0; 1024], T0).unwrap();
    feed_at(
        &mut p,
        &[peer_hello(1, "SUB"), frame(false, true, b"\x09SUBSCRIBE")].concat(),
        T0,
        &mut vec![],
    )
    .unwrap();
    p
}

#[test]
fn send_back_pressure() {
    let mut p = pub_with_small_output();
    assert_eq!(p.send(&[&[0u8; 2000]]), Err(SendError::TooLarge));
    assert_eq!(p.send(&[&[0u8; 500]]), Ok(Sent::Queued));
    assert_eq!(p.send(&[&[0u8; 500]]), Err(SendError::BufferFull));
    let out = drain(&mut p);
    assert!(out.len() > 500);
    assert_eq!(p.send(&[&[0u8; 500]]), Ok(Sent::Queued));
    assert_eq!(p.send(&[]), Err(SendError::EmptyMessage));
    assert!(Connection::new(Config::new(Role::Pub), vec![0; 512], vec![0; 100], T0).is_err());
}

/// Output written but not yet taken by the transport sits in the middle of the buffer
/// once its front has gone: a message that fits only when that output moves to the
/// front is queued (not refused as BufferFull), and goes out after it, intact.
#[test]
fn a_message_that_fits_once_sent_output_is_moved_is_queued() {
    let mut p = pub_with_small_output();
    drain(&mut p);
    assert_eq!(p.send(&[&[1u8; 300]]), Ok(Sent::Queued));
    assert_eq!(p.send(&[&[2u8; 300]]), Ok(Sent::Queued));
    let first = frame(false, false, &[1u8; 300]);
    let mut taken = vec![0u8; first.len()];
    assert_eq!(p.poll_output(&mut taken), first.len());
    assert_eq!(taken, first);
    // 1024 - 2 * 309 = 406 bytes free at the end: too few for 409 more.
    assert_eq!(p.send(&[&[3u8; 400]]), Ok(Sent::Queued));
    assert_eq!(
        drain(&mut p),
        [
            frame(false, false, &[2u8; 300]),
            frame(false, false, &[3u8; 400])
        ]
        .concat()
    );
}

/// Moves bytes both ways between two connections of any buffer types until
/// quiet; returns what each side received as events.
fn pump_any<A, B, C, D, const S: usize, const U: usize>(
    a: &mut Connection<A, B, S>,
    b: &mut Connection<C, D, U>,
) -> (Vec<Ev>, Vec<Ev>)
where
    A: Buffer,
    B: Buffer,
    C: Buffer,
    D: Buffer,
{
    let (mut ea, mut eb) = (vec![], vec![]);
    let mut buf = [0u8; 64];
    for _ in 0..10_000 {
        let n = a.poll_output(&mut buf);
        assert_eq!(b.handle_input(&buf[..n], T0), Ok(n));
        while let Some(e) = b.poll_event() {
            eb.push(own(e));
        }
        let m = b.poll_output(&mut buf);
        assert_eq!(a.handle_input(&buf[..m], T0), Ok(m));
        while let Some(e) = a.poll_event() {
            ea.push(own(e));
        }
        if n == 0 && m == 0 {
            break;
        }
    }
    (ea, eb)
}

#[test]
fn smallest_buffers_carry_a_round_trip() {
    // A board's REP: the smallest buffers and a tiny subscription store.
    let mut rep: Connection<[u8; MIN_RX_BUFFER], [u8; MIN_TX_BUFFER], 16> =
        Connection::with_subscription_store(
            Config::new(Role::Rep),
            [0; MIN_RX_BUFFER],
            [0; MIN_TX_BUFFER],
            T0,
        )
        .unwrap();
    let mut req = role(Role::Req);
    let (eq, ep) = pump_any(&mut req, &mut rep);
    assert_eq!(eq, vec![Ev::Done(SocketType::Rep)]);
    assert_eq!(ep, vec![Ev::Done(SocketType::Req)]);
    req.send(&[b"\"forward\""]).unwrap();
    let (_, ep) = pump_any(&mut req, &mut rep);
    assert_eq!(ep, vec![Ev::Msg(b"\"forward\"".to_vec(), false)]);
    rep.send(&[b"\"ack\""]).unwrap();
    let (eq, _) = pump_any(&mut req, &mut rep);
    assert_eq!(eq, vec![Ev::Msg(b"\"ack\"".to_vec(), false)]);
    // The longest reply that leaves the control reserve free.
    req.send(&[b"x"]).unwrap();
    let _ = pump_any(&mut req, &mut rep);
    // Frame headers of the empty delimiter and of the reply: 2 bytes each.
    let longest = MIN_TX_BUFFER - CONTROL_RESERVE - 4;
    assert_eq!(
        rep.send(&[&[b'a'; 200][..longest + 1]]),
        Err(SendError::TooLarge)
    );
    assert_eq!(rep.send(&[&[b'a'; 200][..longest]]), Ok(Sent::Queued));
}

#[test]
fn an_identity_needs_room_in_the_output_buffer() {
    let mut cfg = Config::new(Role::Req);
    assert!(!cfg.set_identity(&[7; 256]), "longer than READY can carry");
    assert!(cfg.set_identity(&[7; 255]));
    assert_eq!(cfg.identity(), &[7; 255]);
    let rx = || vec![0; MIN_RX_BUFFER];
    assert_eq!(
        Connection::new(cfg.clone(), rx(), vec![0; MIN_TX_BUFFER], T0).err(),
        Some(ConfigError::TxBufferTooSmall)
    );
    // Exactly enough: greeting, READY with the identity, control reserve; a byte less
    // is refused (the identity's room is its property, 13 + 255, and a long header, 7).
    assert_eq!(
        Connection::new(cfg.clone(), rx(), vec![0; MIN_TX_BUFFER + 274], T0).err(),
        Some(ConfigError::TxBufferTooSmall)
    );
    let mut req = Connection::new(cfg, rx(), vec![0; MIN_TX_BUFFER + 275], T0).unwrap();
    let mut rep = role(Role::Rep);
    let (eq, ep) = pump_any(&mut req, &mut rep);
    assert_eq!(eq, vec![Ev::Done(SocketType::Rep)]);
    assert_eq!(ep, vec![Ev::Done(SocketType::Req)]);
}

/// A growable receive buffer grows when a part longer than it is begins, whatever
/// pieces the part arrives in: the first piece alone may be longer than the buffer
/// (a 5 000-byte request in 3 000-byte reads, on a 1 024-byte start).
#[cfg(feature = "alloc")]
#[test]
fn a_growable_buffer_grows_for_a_part_that_arrives_in_pieces() {
    let mut rep: Connection<Growable, Growable> = Connection::new(
        Config::new(Role::Rep),
        Growable::new(64 * 1024),
        Growable::new(64 * 1024),
        T0,
    )
    .unwrap();
    let body: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let mut bytes = peer_hello(1, "REQ");
    bytes.extend(frame(true, false, b""));
    bytes.extend(frame(false, false, &body));
    let mut evs = vec![];
    for piece in bytes.chunks(3000) {
        let mut off = 0;
        for _ in 0..10 {
            off += rep.handle_input(&piece[off..], T0).unwrap();
            while let Some(e) = rep.poll_event() {
                evs.push(own(e));
            }
            if off == piece.len() {
                break;
            }
        }
        assert_eq!(off, piece.len());
    }
    assert_eq!(evs, vec![Ev::Done(SocketType::Req), Ev::Msg(body, false)]);
    const { assert!(Growable::INITIAL < 3000) };
}

#[test]
fn a_small_subscription_store_refuses_what_does_not_fit() {
    let mut p: Connection<Vec<u8>, Vec<u8>, 8> =
        Connection::with_subscription_store(Config::new(Role::Pub), vec![0; 512], vec![0; 512], T0)
            .unwrap();
    assert!(p.handle_input(&peer_hello(1, "SUB"), T0).is_ok());
    while p.poll_event().is_some() {}
    // "abc" takes 5 bytes of 8; "def" would need 5 more.
    let sub = |t: &[u8]| frame(false, true, &[&b"\x09SUBSCRIBE"[..], t].concat());
    let mut feed_small = |bytes: &[u8]| -> Result<(), ZmtpError> {
        let mut off = 0;
        for _ in 0..100 {
            off += p.handle_input(&bytes[off..], T0)?;
            while p.poll_event().is_some() {}
            if off == bytes.len() {
                break;
            }
        }
        Ok(())
    };
    assert_eq!(feed_small(&sub(b"abc")), Ok(()));
    assert_eq!(
        feed_small(&sub(b"def")),
        Err(ZmtpError::TooManySubscriptions)
    );
}

// ---- heartbeats ---------------------------------------------------------

#[test]
fn heartbeats_ping_pong_and_timeout() {
    let mut cfg = Config::new(Role::Req);
    cfg.heartbeat_interval = Some(Duration::from_millis(100));
    cfg.heartbeat_ttl = Duration::from_millis(1000);
    let mut a = conn(cfg);
    let mut b = role(Role::Rep);
    pump(&mut a, &mut b, T0);
    assert_eq!(a.poll_timeout(), Some(Instant::from_millis(100)));
    a.handle_timeout(Instant::from_millis(100)).unwrap();
    assert_eq!(a.output(), frame(false, true, b"\x04PING\x00\x0a"));
    let t = Instant::from_millis(150);
    let (ea, eb) = pump(&mut a, &mut b, t);
    assert!(ea.is_empty() && eb.is_empty());
    // The PONG counted as traffic: only the next PING is due.
    assert_eq!(a.poll_timeout(), Some(Instant::from_millis(200)));
    // b learned a's TTL of 1 s: quiet a moment short of it, it stays open.
    assert_eq!(b.poll_timeout(), Some(Instant::from_millis(1150)));
    assert_eq!(b.handle_timeout(Instant::from_millis(1149)), Ok(()));
    assert_eq!(
        b.handle_timeout(Instant::from_millis(1150)),
        Err(ZmtpError::HeartbeatTimeout)
    );
    // a pings at 200 and hears nothing: closed at 300 (being fed no bytes
    // is no sign of life).
    a.handle_timeout(Instant::from_millis(200)).unwrap();
    drain(&mut a);
    assert_eq!(a.handle_input(&[], Instant::from_millis(250)), Ok(0));
    assert_eq!(a.poll_timeout(), Some(Instant::from_millis(300)));
    assert_eq!(
        a.handle_timeout(Instant::from_millis(300)),
        Err(ZmtpError::HeartbeatTimeout)
    );
}

/// A PING whose TTL is 0 (libzmq's default: no TTL) sets no deadline: a
/// peer that pings without one is never timed out for going quiet, and a
/// PONG still answers it.
#[test]
fn a_ping_without_a_ttl_sets_no_deadline() {
    let (_, mut rep) = pair(Role::Req, Role::Rep);
    assert_eq!(rep.poll_timeout(), None);
    assert!(feed(&mut rep, &frame(false, true, b"\x04PING\x00\x00"))
        .unwrap()
        .is_empty());
    assert_eq!(drain(&mut rep), frame(false, true, b"\x04PONG"));
    assert_eq!(rep.poll_timeout(), None);
    assert_eq!(rep.handle_timeout(Instant::from_millis(3_600_000)), Ok(()));
}

// ---- property tests -----------------------------------------------------

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Any message a REQ encodes reaches the REP intact, whatever the
        /// transport's chunking, through both input paths.
        #[test]
        fn req_to_rep_round_trip(
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 1..6),
            cuts in proptest::collection::vec(1usize..97, 1..40),
            borrowed in any::<bool>(),
        ) {
            let (mut req, mut rep) = pair(Role::Req, Role::Rep);
            let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
            req.send(&refs).unwrap();
            let wire = drain(&mut req);
            let mut got: Vec<(Vec<u8>, bool)> = vec![];
            let mut off = 0;
            let mut cut = cuts.iter().cycle();
            let mut pending: Vec<u8> = vec![];
            for _ in 0..100_000 {
                if off == wire.len() && pending.is_empty() { break; }
                let take = (*cut.next().unwrap()).min(wire.len() - off);
                pending.extend_from_slice(&wire[off..off + take]);
                off += take;
                loop {
                    let n = if borrowed {
                        let r = rep.handle_input_borrowed(&pending, T0).unwrap();
                        if let Some(p) = r.part { got.push((p.data.to_vec(), p.more)); }
                        r.consumed
                    } else {
                        rep.handle_input(&pending, T0).unwrap()
                    };
                    pending.drain(..n);
                    let mut any = false;
                    while let Some(e) = rep.poll_event() {
                        if let Event::Message(p) = e { got.push((p.data.to_vec(), p.more)); }
                        any = true;
                    }
                    if n == 0 && !any { break; }
                }
            }
            let want: Vec<(Vec<u8>, bool)> =
                parts.iter().enumerate().map(|(i, p)| (p.clone(), i + 1 < parts.len())).collect();
            prop_assert_eq!(got, want);
        }

        /// Arbitrary bytes after a valid handshake never panic, for every role.
        #[test]
        fn arbitrary_input_never_panics(
            role_ix in 0usize..4,
            minor in 0u8..2,
            junk in proptest::collection::vec(any::<u8>(), 0..2000),
        ) {
            let (r, peer) = [(Role::Req, "REP"), (Role::Rep, "REQ"), (Role::Pub, "SUB"), (Role::Sub, "PUB")][role_ix];
            let mut c = role(r);
            let _ = c.subscribe(b"");
            let mut bytes = peer_hello(minor, peer);
            bytes.extend(junk);
            let mut off = 0;
            for _ in 0..10_000 {
                match c.handle_input(&bytes[off..], T0) {
                    Ok(n) => off += n,
                    Err(_) => break,
                }
                while c.poll_event().is_some() {}
                if c.can_send() { let _ = c.send(&[b"r"]); }
                let _ = drain(&mut c);
                if off == bytes.len() { break; }
            }
            let _ = c.handle_timeout(Instant::from_millis(u64::MAX));
        }

        /// Frame encoder output parses back to the same frame.
        #[test]
        fn frame_round_trip(more: bool, command: bool, body in proptest::collection::vec(any::<u8>(), 0..1000)) {
            let mut out = vec![0u8; body.len() + 9];
            let n = encode_frame(&mut out, more, command, &body).unwrap();
            match Frame::parse(&out[..n], u64::MAX) {
                Ok(Status::Complete(f, used)) => {
                    prop_assert_eq!(used, n);
                    prop_assert_eq!(f, Frame { more, command, body: &body });
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
