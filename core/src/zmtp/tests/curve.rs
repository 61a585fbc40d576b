//! CURVE through whole connections: two engines in memory, as in the NULL
//! tests above (libzmq/pyzmq peers are in `tests/tests/zmtp_curve.rs`).

use std::boxed::Box;
use std::vec;
use std::vec::Vec;

use super::super::curve::{ClassKeys, MESSAGE_OVERHEAD};
use super::*;

fn class(pass: &str) -> &'static ClassKeys {
    Box::leak(Box::new(ClassKeys::from_passphrase(pass)))
}

fn client(k: &'static ClassKeys, r: Role) -> Config {
    let mut c = Config::new(r);
    c.security = Security::CurveClient(&k.client);
    c
}

fn server(k: &'static ClassKeys, r: Role) -> Config {
    let mut c = Config::new(r);
    c.security = Security::CurveServer(&k.server);
    c
}

fn seeded(cfg: Config, seed: u8) -> Conn {
    Connection::with_seed(cfg, vec![0; 4096], vec![0; 8192], T0, [seed; 32]).unwrap()
}

/// Move bytes both ways until quiet or one side fails; each side's events
/// and error.
type Side = (Vec<Ev>, Option<ZmtpError>);
fn pump_until_error(a: &mut Conn, b: &mut Conn, now: Instant) -> (Side, Side, Vec<u8>) {
    let (mut ea, mut eb) = (vec![], vec![]);
    let (mut xa, mut xb) = (None, None);
    let mut wire = vec![];
    for _ in 0..50 {
        let ab = drain(a);
        let ba = drain(b);
        wire.extend_from_slice(&ab);
        wire.extend_from_slice(&ba);
        if ab.is_empty() && ba.is_empty() {
            break;
        }
        if xb.is_none() {
            xb = feed_at(b, &ab, now, &mut eb).err();
        }
        if xa.is_none() {
            xa = feed_at(a, &ba, now, &mut ea).err();
        }
    }
    ((ea, xa), (eb, xb), wire)
}

fn curve_pair(ca: Config, cb: Config) -> (Conn, Conn, Vec<u8>) {
    let (ra, rb) = (ca.role, cb.role);
    let (mut a, mut b) = (seeded(ca, 1), seeded(cb, 2));
    let ((ea, xa), (eb, xb), wire) = pump_until_error(&mut a, &mut b, T0);
    assert_eq!((xa, xb), (None, None));
    assert_eq!(ea, vec![Ev::Done(rb.socket_type())]);
    assert_eq!(eb, vec![Ev::Done(ra.socket_type())]);
    (a, b, wire)
}

/// A handshake done between `ca` and `cb`, each with `rx` and `tx` bytes of
/// buffer.
fn sized_pair(ca: Config, cb: Config, rx: usize, tx: usize) -> (Conn, Conn) {
    let mk = |cfg, seed| Connection::with_seed(cfg, vec![0; rx], vec![0; tx], T0, [seed; 32]);
    let (mut a, mut b) = (mk(ca, 1).unwrap(), mk(cb, 2).unwrap());
    let ((_, xa), (_, xb), _) = pump_until_error(&mut a, &mut b, T0);
    assert_eq!((xa, xb), (None, None));
    (a, b)
}

fn carry(from: &mut Conn, to: &mut Conn) -> Result<Vec<Ev>, ZmtpError> {
    let w = drain(from);
    let mut evs = vec![];
    feed_at(to, &w, T0, &mut evs)?;
    Ok(evs)
}

#[test]
fn req_rep_over_curve_both_role_assignments() {
    let k = class("blue whale");
    for (req_cfg, rep_cfg) in [
        (client(k, Role::Req), server(k, Role::Rep)),
        (server(k, Role::Req), client(k, Role::Rep)),
    ] {
        let (mut req, mut rep, hs) = curve_pair(req_cfg, rep_cfg);
        // The metadata (Socket-Type) only ever crosses the wire encrypted.
        assert!(!hs.windows(11).any(|w| w == b"Socket-Type"));
        for round in 0..3u8 {
            req.send(&[b"forward", &[round]]).unwrap();
            let w = drain(&mut req);
            assert!(
                !w.windows(7).any(|x| x == b"forward"),
                "plaintext on the wire"
            );
            let mut evs = vec![];
            feed_at(&mut rep, &w, T0, &mut evs).unwrap();
            assert_eq!(
                evs,
                vec![
                    Ev::Msg(b"forward".to_vec(), true),
                    Ev::Msg(vec![round], false)
                ]
            );
            rep.send(&[b"ack"]).unwrap();
            assert_eq!(
                carry(&mut rep, &mut req),
                Ok(vec![Ev::Msg(b"ack".to_vec(), false)])
            );
        }
    }
}

#[test]
fn pub_sub_over_curve_filters_and_subscribes_inside_boxes() {
    let k = class("blue whale");
    let mut sub_cfg = client(k, Role::Sub);
    sub_cfg.max_subscriptions = 4;
    let (mut publ, mut sub) = {
        let (mut p, mut s) = (seeded(server(k, Role::Pub), 1), seeded(sub_cfg, 2));
        s.subscribe(b"news").unwrap();
        let ((ep, xp), (es, xs), wire) = pump_until_error(&mut p, &mut s, T0);
        assert_eq!((xp, xs), (None, None));
        assert_eq!(
            ep,
            vec![Ev::Done(SocketType::Sub), Ev::Sub(b"news".to_vec())]
        );
        assert_eq!(es, vec![Ev::Done(SocketType::Pub)]);
        assert!(!wire.windows(9).any(|w| w == b"SUBSCRIBE"));
        (p, s)
    };
    assert_eq!(publ.send(&[b"other", b"x"]), Ok(Sent::Filtered));
    assert_eq!(publ.send(&[b"news.robot", b"42"]), Ok(Sent::Queued));
    assert_eq!(
        carry(&mut publ, &mut sub),
        Ok(vec![
            Ev::Msg(b"news.robot".to_vec(), true),
            Ev::Msg(b"42".to_vec(), false)
        ])
    );
    sub.unsubscribe(b"news").unwrap();
    assert_eq!(
        carry(&mut sub, &mut publ),
        Ok(vec![Ev::Unsub(b"news".to_vec())])
    );
    assert_eq!(publ.send(&[b"news.robot", b"43"]), Ok(Sent::Filtered));
}

/// No passphrase in common: the server refuses the HELLO and answers
/// nothing; the client gets nothing and times out.
#[test]
fn another_class_completes_no_handshake() {
    let (ours, theirs) = (class("blue whale"), class("red fox"));
    let mut a = seeded(client(theirs, Role::Req), 1);
    let mut b = seeded(server(ours, Role::Rep), 2);
    let ((ea, xa), (eb, xb), _) = pump_until_error(&mut a, &mut b, T0);
    assert_eq!(xb, Some(ZmtpError::KeyMismatch));
    assert_eq!((ea, xa, eb), (vec![], None, vec![]));
    assert!(
        !b.has_output(),
        "the server answered a HELLO it could not open"
    );
    let t = a.poll_timeout().unwrap();
    assert_eq!(a.handle_timeout(t), Err(ZmtpError::HandshakeTimeout));
    // And the other way round: our client, their server.
    let mut a = seeded(client(ours, Role::Req), 1);
    let mut b = seeded(server(theirs, Role::Rep), 2);
    let (_, (_, xb), _) = pump_until_error(&mut a, &mut b, T0);
    assert_eq!(xb, Some(ZmtpError::KeyMismatch));
}

/// A keyed and an unkeyed program do not talk, whoever dials.
#[test]
fn curve_and_null_peers_refuse_each_other() {
    let k = class("blue whale");
    for cfg in [client(k, Role::Req), server(k, Role::Req)] {
        let mut a = seeded(cfg, 1);
        let mut b = conn(Config::new(Role::Rep));
        let ((ea, xa), (eb, xb), _) = pump_until_error(&mut a, &mut b, T0);
        assert_eq!(xa, Some(ZmtpError::MechanismMismatch));
        assert_eq!(xb, Some(ZmtpError::MechanismMismatch));
        assert!(ea.is_empty() && eb.is_empty());
    }
}

#[test]
fn two_clients_or_two_servers_refuse_each_other() {
    let k = class("blue whale");
    for (x, y) in [
        (client(k, Role::Req), client(k, Role::Rep)),
        (server(k, Role::Req), server(k, Role::Rep)),
    ] {
        let (mut a, mut b) = (seeded(x, 1), seeded(y, 2));
        let ((_, xa), (_, xb), _) = pump_until_error(&mut a, &mut b, T0);
        assert_eq!(
            (xa, xb),
            (Some(ZmtpError::RoleMismatch), Some(ZmtpError::RoleMismatch))
        );
    }
}

/// WELCOME is what a server sends: a server handed one (by a peer whose
/// greeting, like libzmq's, did not say it was a server) names the real
/// fault, two servers, rather than a frame out of place.
#[test]
fn a_server_handed_a_welcome_says_both_are_servers() {
    let k = class("blue whale");
    let (mut c, mut s) = (
        seeded(client(k, Role::Req), 1),
        seeded(server(k, Role::Rep), 2),
    );
    let client_greeting = drain(&mut c);
    carry(&mut s, &mut c).unwrap(); // the server's greeting: the client says HELLO
    feed(&mut s, &client_greeting).unwrap();
    carry(&mut c, &mut s).unwrap(); // HELLO: the server answers WELCOME
    let welcome = drain(&mut s);
    let mut other = seeded(server(k, Role::Rep), 3);
    drain(&mut other);
    feed(&mut other, &client_greeting).unwrap();
    assert_eq!(feed(&mut other, &welcome), Err(ZmtpError::RoleMismatch));
}

/// After the handshake every frame must be a MESSAGE box: altered, replayed
/// or plain frames close the connection.
#[test]
fn altered_replayed_or_plain_frames_after_the_handshake() {
    let k = class("blue whale");
    let fresh = || curve_pair(client(k, Role::Req), server(k, Role::Rep));
    // Altered ciphertext.
    let (mut req, mut rep, _) = fresh();
    req.send(&[b"forward"]).unwrap();
    let mut w = drain(&mut req);
    let last = w.len() - 1;
    w[last] ^= 1;
    let mut evs = vec![];
    assert_eq!(
        feed_at(&mut rep, &w, T0, &mut evs),
        Err(ZmtpError::BadMessageBox)
    );
    assert!(evs.is_empty());
    // Replayed: the same MESSAGE frames again.
    let (mut req, mut rep, _) = fresh();
    req.send(&[b"forward"]).unwrap();
    let w = drain(&mut req);
    feed(&mut rep, &w).unwrap();
    rep.send(&[b"ack"]).unwrap();
    carry(&mut rep, &mut req).unwrap();
    let mut evs = vec![];
    assert_eq!(
        feed_at(&mut rep, &w, T0, &mut evs),
        Err(ZmtpError::NonceReplayed)
    );
    // A plain data frame or a plain command (PING) in place of a MESSAGE.
    for plain in [
        frame(false, false, b"forward"),
        frame(false, true, b"\x04PING\x00\x00"),
    ] {
        let (_, mut rep, _) = fresh();
        let r = feed(&mut rep, &plain);
        assert!(
            matches!(
                r,
                Err(ZmtpError::MalformedCurve | ZmtpError::UnexpectedFrame)
            ),
            "{r:?}"
        );
    }
    // A MESSAGE frame with MORE outside the box.
    let (mut req, mut rep, _) = fresh();
    req.send(&[b"forward"]).unwrap();
    let mut w = drain(&mut req);
    w[0] |= 1;
    assert_eq!(feed(&mut rep, &w), Err(ZmtpError::MalformedCurve));
}

#[test]
fn heartbeats_travel_sealed() {
    let k = class("blue whale");
    let mut cfg = client(k, Role::Req);
    cfg.heartbeat_interval = Some(Duration::from_millis(100));
    let (mut a, mut b, _) = curve_pair(cfg, server(k, Role::Rep));
    a.handle_timeout(Instant::from_millis(100)).unwrap();
    let ping = drain(&mut a);
    assert!(!ping.windows(4).any(|w| w == b"PING"));
    assert_eq!(ping.len(), 2 + MESSAGE_OVERHEAD + 7);
    feed(&mut b, &ping).unwrap();
    // The PONG comes back sealed and counts as traffic.
    let pong = drain(&mut b);
    assert_eq!(pong.len(), 2 + MESSAGE_OVERHEAD + 5);
    feed(&mut a, &pong).unwrap();
    assert_eq!(a.poll_timeout(), Some(Instant::from_millis(200)));
}

/// Socket types are checked on the metadata inside INITIATE: the server
/// sends a plain ERROR and no READY.
#[test]
fn incompatible_socket_types_under_curve() {
    let k = class("blue whale");
    let mut a = seeded(client(k, Role::Req), 1);
    let mut b = seeded(server(k, Role::Pub), 2);
    let ((ea, xa), (_, xb), _) = pump_until_error(&mut a, &mut b, T0);
    assert_eq!(xb, Some(ZmtpError::IncompatibleSocketType));
    assert_eq!((ea, xa), (vec![], Some(ZmtpError::PeerError)));
    assert_eq!(
        a.poll_event().map(own),
        Some(Ev::PeerErr(b"Invalid socket type".to_vec()))
    );
}

#[test]
fn curve_configs_need_a_seed_and_room_for_initiate() {
    let k = class("blue whale");
    assert_eq!(
        Connection::new(client(k, Role::Req), vec![0; 4096], vec![0; 4096], T0).err(),
        Some(ConfigError::NeedsSeed)
    );
    let small = |rx: usize, tx: usize| {
        Connection::with_seed(client(k, Role::Req), vec![0; rx], vec![0; tx], T0, [0; 32]).err()
    };
    assert_eq!(
        small(MIN_RX_BUFFER_CURVE - 1, 4096),
        Some(ConfigError::RxBufferTooSmall)
    );
    assert_eq!(
        small(4096, MIN_TX_BUFFER_CURVE - 1),
        Some(ConfigError::TxBufferTooSmall)
    );
    assert_eq!(small(MIN_RX_BUFFER_CURVE, MIN_TX_BUFFER_CURVE), None);
    // The smallest buffers still carry a libzmq-sized handshake and a message.
    let mk = |cfg, seed| {
        Connection::with_seed(
            cfg,
            vec![0; MIN_RX_BUFFER_CURVE],
            vec![0; MIN_TX_BUFFER_CURVE],
            T0,
            [seed; 32],
        )
        .unwrap()
    };
    let (mut a, mut b) = (mk(client(k, Role::Req), 1), mk(server(k, Role::Rep), 2));
    let ((_, xa), (_, xb), _) = pump_until_error(&mut a, &mut b, T0);
    assert_eq!((xa, xb), (None, None));
    assert!(a.is_established() && b.is_established());
    a.send(&[&[7u8; 100]]).unwrap();
    assert_eq!(
        carry(&mut a, &mut b).unwrap(),
        vec![Ev::Msg(vec![7; 100], false)]
    );
}

/// A server whose client never sends INITIATE drops the cookie key when it
/// expires, even with no handshake timeout set.
#[test]
fn cookie_expiry_ends_a_stalled_handshake() {
    let k = class("blue whale");
    let mut cfg = server(k, Role::Rep);
    cfg.handshake_timeout = None;
    let mut s = seeded(cfg, 2);
    let mut c = seeded(client(k, Role::Req), 1);
    // Greeting and HELLO to the server; WELCOME back, but no INITIATE follows.
    carry(&mut c, &mut s).unwrap();
    carry(&mut s, &mut c).unwrap();
    carry(&mut c, &mut s).unwrap();
    assert!(s.has_output());
    let t = s.poll_timeout().unwrap();
    assert_eq!(t, T0 + super::super::curve::COOKIE_LIFETIME);
    assert_eq!(s.handle_timeout(t), Err(ZmtpError::HandshakeTimeout));
}

/// A REP keeps a DEALER's routing frames and seals each one back, in
/// order, ahead of its reply (as without CURVE: `rep_restores_router_envelope`).
#[test]
fn a_keyed_rep_seals_a_router_envelope_back_in_front_of_its_reply() {
    let k = class("blue whale");
    let (mut dealer, mut rep, _) = curve_pair(client(k, Role::Req), server(k, Role::Rep));
    for (more, body) in [
        (true, &b"id-1"[..]),
        (true, b"id-2"),
        (true, b""),
        (false, b"q"),
    ] {
        assert!(dealer.push_sealed_frame(more, body));
    }
    assert_eq!(
        carry(&mut dealer, &mut rep),
        Ok(vec![Ev::Msg(b"q".to_vec(), false)])
    );
    rep.send(&[b"a"]).unwrap();
    let reply = drain(&mut rep);
    assert_eq!(
        dealer.open_sealed_frames(&reply),
        Ok(vec![
            (true, false, b"id-1".to_vec()),
            (true, false, b"id-2".to_vec()),
            (true, false, vec![]),
            (false, false, b"a".to_vec()),
        ])
    );
}

/// Every frame of a message takes a short nonce of its own (a REQ's
/// delimiter and a REP's envelope too): with exactly enough left the
/// message goes; with one fewer the connection closes, NonceExhausted,
/// and nothing of the message is queued.
#[test]
fn a_message_goes_only_while_each_of_its_frames_has_a_nonce() {
    let k = class("blue whale");
    let (mut req, mut rep, _) = curve_pair(client(k, Role::Req), server(k, Role::Rep));
    req.set_nonces_left(3);
    assert_eq!(req.send(&[b"a", b"b"]), Ok(Sent::Queued));
    assert_eq!(
        carry(&mut req, &mut rep),
        Ok(vec![
            Ev::Msg(b"a".to_vec(), true),
            Ev::Msg(b"b".to_vec(), false)
        ])
    );
    rep.set_nonces_left(2);
    assert_eq!(rep.send(&[b"r"]), Ok(Sent::Queued));
    assert_eq!(
        carry(&mut rep, &mut req),
        Ok(vec![Ev::Msg(b"r".to_vec(), false)])
    );
    // One nonce short, on either side.
    req.set_nonces_left(2);
    assert_eq!(req.send(&[b"a", b"b"]), Err(SendError::Closed));
    assert_eq!(req.error(), Some(ZmtpError::NonceExhausted));
    assert!(!req.has_output());
    let (mut req, mut rep, _) = curve_pair(client(k, Role::Req), server(k, Role::Rep));
    req.send(&[b"a"]).unwrap();
    carry(&mut req, &mut rep).unwrap();
    rep.set_nonces_left(1);
    assert_eq!(rep.send(&[b"r"]), Err(SendError::Closed));
    assert_eq!(rep.error(), Some(ZmtpError::NonceExhausted));
    assert!(!rep.has_output());
}

/// A MESSAGE box may fill the receive buffer: its part is the buffer less
/// `MESSAGE_OVERHEAD`. A box one byte longer is too large.
#[test]
fn a_message_box_may_fill_the_receive_buffer() {
    let k = class("blue whale");
    let fresh = || sized_pair(client(k, Role::Req), server(k, Role::Rep), 1024, 4096);
    let (mut req, mut rep) = fresh();
    let part = vec![7u8; 1024 - MESSAGE_OVERHEAD];
    req.send(&[&part]).unwrap();
    assert_eq!(carry(&mut req, &mut rep), Ok(vec![Ev::Msg(part, false)]));
    let (mut req, mut rep) = fresh();
    req.send(&[&[7u8; 1024 - MESSAGE_OVERHEAD + 1]]).unwrap();
    assert_eq!(carry(&mut req, &mut rep), Err(ZmtpError::MessageTooLarge));
}

/// A keyed message counts every box it sends against the output buffer:
/// a REQ's delimiter, a REP's envelope (here a REQ's one delimiter) and each
/// part, each `MESSAGE_OVERHEAD` bytes more than its frame plus its own
/// header. One that leaves exactly `CONTROL_RESERVE` free is queued; a byte
/// more is too large.
#[test]
fn a_keyed_message_counts_its_envelope_and_boxes_against_the_output_buffer() {
    let k = class("blue whale");
    let (mut req, mut rep) = sized_pair(client(k, Role::Req), server(k, Role::Rep), 4096, 1024);
    // The delimiter's box (a short frame: 2 header bytes) and the part's (a
    // long frame: 9), 1024 - CONTROL_RESERVE bytes in all.
    let part = 1024 - CONTROL_RESERVE - (2 + MESSAGE_OVERHEAD) - (9 + MESSAGE_OVERHEAD);
    assert_eq!(req.send(&[&vec![1; part + 1]]), Err(SendError::TooLarge));
    assert_eq!(req.send(&[&vec![1; part]]), Ok(Sent::Queued));
    assert_eq!(
        carry(&mut req, &mut rep),
        Ok(vec![Ev::Msg(vec![1; part], false)])
    );
    assert_eq!(rep.send(&[&vec![2; part + 1]]), Err(SendError::TooLarge));
    assert_eq!(rep.send(&[&vec![2; part]]), Ok(Sent::Queued));
    assert_eq!(
        carry(&mut rep, &mut req),
        Ok(vec![Ev::Msg(vec![2; part], false)])
    );
}

/// A keyed SUB's subscription goes out sealed, its box counted as its
/// own length: the longest prefix goes out, and is known to the publisher.
#[test]
fn a_keyed_subscription_of_the_longest_prefix_goes_out() {
    let k = class("blue whale");
    let cfg = client(k, Role::Sub);
    let topic = vec![b't'; cfg.max_subscription_len];
    let (mut sub, mut publ) = sized_pair(cfg, server(k, Role::Pub), 4096, 4096);
    sub.subscribe(&topic).unwrap();
    assert_eq!(carry(&mut sub, &mut publ), Ok(vec![Ev::Sub(topic)]));
}
