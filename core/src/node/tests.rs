//! Two sans-IO nodes wired back to back in memory, on a virtual clock.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV6};

use super::*;

type N = Node<2, 512, 4>;

const T0: Instant = Instant::ZERO;

fn node() -> N {
    Node::new(beacon::Config::default())
}

/// A TCP "wire" between slot `a` of one node and slot `b` of the other.
struct Pair {
    server: N,
    client: N,
    s: usize,
    c: usize,
    t: Instant,
}

impl Pair {
    /// `server` serves REP (or PUB) on 5555; the client opens `open`.
    fn new(pubsub: bool) -> (Pair, ServiceId, ClientId) {
        Pair::build(pubsub, |_, _| {})
    }

    /// Like [`Pair::new`], each node keyed with its class (`None`: NULL).
    #[cfg(feature = "curve")]
    fn keyed(
        pubsub: bool,
        server: Option<&'static crate::zmtp::curve::ClassKeys>,
        client: Option<&'static crate::zmtp::curve::ClassKeys>,
    ) -> (Pair, ServiceId, ClientId) {
        Pair::build(pubsub, |s, c| {
            s.set_class_keys(server, [1; 32]).unwrap();
            c.set_class_keys(client, [2; 32]).unwrap();
        })
    }

    /// Like [`Pair::new`], `setup` run on the server and client first.
    fn build(pubsub: bool, setup: impl FnOnce(&mut N, &mut N)) -> (Pair, ServiceId, ClientId) {
        let mut server = node();
        let mut client = node();
        setup(&mut server, &mut client);
        let service = if pubsub {
            server.publish_on("news", 5555, 1, T0).unwrap()
        } else {
            server.serve("echo", 5555, 1, T0).unwrap()
        };
        let at: SocketAddr = "10.0.0.1:5555".parse().unwrap();
        let id = if pubsub {
            client.subscriber(at, b"dist", T0).unwrap()
        } else {
            client.requester(at, T0).unwrap()
        };
        let Some(TcpAction::Connect { slot: c, remote }) = client.poll_tcp_action(T0) else {
            panic!("the client should connect");
        };
        assert_eq!(remote, at);
        let s = (0..2)
            .find(|&i| {
                matches!(
                    server.slot_use(i),
                    Some(SlotUse::Service { port: 5555, .. })
                )
            })
            .unwrap();
        server.handle_tcp_connected(s, T0);
        client.handle_tcp_connected(c, T0);
        let mut pair = Pair {
            server,
            client,
            s,
            c,
            t: T0,
        };
        pair.run();
        (pair, service, id)
    }

    /// Moves bytes both ways until nothing moves (bounded).
    fn run(&mut self) {
        for _ in 0..50 {
            let a = shift(&mut self.server, self.s, &mut self.client, self.c, self.t);
            let b = shift(&mut self.client, self.c, &mut self.server, self.s, self.t);
            self.server.handle_tcp_input(self.s, &[], self.t);
            self.client.handle_tcp_input(self.c, &[], self.t);
            if a + b == 0 {
                break;
            }
        }
    }
}

fn shift(from: &mut N, i: usize, to: &mut N, j: usize, t: Instant) -> usize {
    let out = from.tcp_output(i).to_vec();
    let n = to.handle_tcp_input(j, &out, t);
    from.consume_output(i, n);
    n
}

#[test]
fn request_and_reply_cross_the_wire() {
    let (mut p, service, client) = Pair::new(false);
    assert_eq!(p.client.poll_event(), Some(Event::Connected { client }));
    assert!(p.client.is_connected(client));
    assert_eq!(p.server.peers(service), 1);
    p.client.send(client, br#""hello""#).unwrap();
    p.run();
    // Its own name, straight from the beacon: nothing copied it anywhere.
    match p.server.poll_event() {
        Some(Event::Discovered { name, address }) => {
            assert_eq!((name.as_str(), address.port()), ("echo", 5555))
        }
        other => panic!("{other:?}"),
    }
    let request = match p.server.poll_event() {
        Some(Event::Request {
            request,
            data,
            more,
        }) => {
            assert_eq!((data, more), (&br#""hello""#[..], false));
            request
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(request.service(), service);
    p.server.reply(request, br#""hi""#).unwrap();
    assert_eq!(
        p.server.reply(request, b"again"),
        Err(Error::StaleRequest),
        "a request is answered once"
    );
    p.run();
    match p.client.poll_event() {
        Some(Event::Reply { data, .. }) => assert_eq!(data, br#""hi""#),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.client.poll_event(), None);
}

#[test]
fn news_reaches_matching_subscribers_only() {
    let (mut p, service, client) = Pair::new(true);
    assert_eq!(p.client.poll_event(), Some(Event::Connected { client }));
    p.run();
    assert_eq!(p.server.publish(service, b"distance", b"12").unwrap(), 1);
    assert_eq!(p.server.publish(service, b"speed", b"3").unwrap(), 0);
    p.run();
    match p.client.poll_event() {
        Some(Event::News { topic, data, .. }) => {
            assert_eq!((topic, data), (&b"distance"[..], &b"12"[..]))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.client.poll_event(), None, "PUB filters by prefix");
}

#[test]
fn a_lost_connection_is_told_and_retried_later() {
    let (mut p, _, client) = Pair::new(false);
    let _ = p.client.poll_event();
    p.client.handle_tcp_eof(p.c);
    assert_eq!(
        p.client.poll_tcp_action(T0),
        Some(TcpAction::Close { slot: p.c })
    );
    assert_eq!(p.client.poll_event(), Some(Event::Disconnected { client }));
    assert_eq!(p.client.poll_tcp_action(T0), None, "not before the pause");
    let later = T0 + crate::socket::RECONNECT;
    assert_eq!(p.client.poll_timeout(T0), Some(later));
    assert!(matches!(
        p.client.poll_tcp_action(later),
        Some(TcpAction::Connect { .. })
    ));
}

/// A socket that is gone (reset, refused) is forgotten at once, without a
/// Close to do: the client is told and dials again after the pause.
#[test]
fn a_reset_connection_is_told_and_redialled_later() {
    let (mut p, _, client) = Pair::new(false);
    let _ = p.client.poll_event();
    p.client.handle_tcp_closed(p.c, T0);
    assert_eq!(p.client.poll_event(), Some(Event::Disconnected { client }));
    assert_eq!(p.client.poll_tcp_action(T0), None, "not before the pause");
    let later = T0 + crate::socket::RECONNECT;
    assert!(matches!(
        p.client.poll_tcp_action(later),
        Some(TcpAction::Connect { .. })
    ));
}

#[test]
fn closing_a_client_aborts_its_socket() {
    let (mut p, _, client) = Pair::new(false);
    assert!(p.client.close(client));
    assert!(!p.client.close(client));
    assert_eq!(p.client.slot_use(p.c), None);
    assert_eq!(
        p.client.poll_tcp_action(T0),
        Some(TcpAction::Abort { slot: p.c })
    );
    assert_eq!(p.client.poll_tcp_action(T0), None);
    assert_eq!(p.client.send(client, b"x"), Err(Error::UnknownClient));
}

/// The drain hands each action over as its slot and what to do, the
/// same actions `poll_tcp_action` gives, abort before connect.
#[test]
fn drain_tcp_actions_yields_each_slot_once() {
    let at: SocketAddr = "10.0.0.1:5555".parse().unwrap();
    let mut n = node();
    let a = n.requester(at, T0).unwrap();
    n.requester(at, T0).unwrap();
    let Some(TcpAction::Connect { slot: first, .. }) = n.poll_tcp_action(T0) else {
        panic!("the first requester should connect");
    };
    n.handle_tcp_connected(first, T0);
    assert!(n.close(a));
    let mut seen = std::vec::Vec::new();
    n.drain_tcp_actions(T0, |_, slot, what| seen.push((slot, what)));
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0], (first, SlotAction::Abort));
    assert!(matches!(seen[1], (s, SlotAction::Connect(r)) if s != first && r == at));
    n.drain_tcp_actions(T0, |_, _, _| panic!("nothing is left"));
}

#[test]
fn refusals_are_typed() {
    let mut n = node();
    assert_eq!(n.serve("a", 0, 1, T0), Err(Error::BadPort));
    let rep = n.serve("a", 1, 1, T0).unwrap();
    assert_eq!(n.serve("b", 1, 1, T0), Err(Error::BadPort));
    assert_eq!(n.serve("b", 2, 2, T0), Err(Error::NoFreeSocket));
    assert_eq!(n.publish(rep, b"t", b"d"), Err(Error::NotAPublisher));
    let c = n.requester("elsewhere", T0).unwrap();
    assert_eq!(n.send(c, b"x"), Err(Error::NotConnected));
    assert_eq!(
        n.subscriber("x", &[b'a'; MAX_TOPIC + 1], T0),
        Err(Error::TopicTooLong)
    );
    // A client keeps a slot: with one serving and one asking, none is left.
    assert_eq!(n.requester("x", T0), Err(Error::NoFreeSocket));
    assert!(n.close(c));
    n.requester("x", T0).unwrap();
    assert!(!Error::NoFreeSocket.to_string().is_empty());
}

#[test]
fn a_name_is_discovered_from_a_mapped_source_and_resolved() {
    let mut n = node();
    let from = SocketAddr::V6(SocketAddrV6::new(
        Ipv4Addr::new(10, 0, 0, 7).to_ipv6_mapped(),
        9999,
        0,
        0,
    ));
    n.handle_datagram(br#"["py-echo", "10.0.0.7:1234", 20]"#, from, T0)
        .unwrap();
    n.handle_timeout(T0);
    let want: SocketAddr = "10.0.0.7:1234".parse().unwrap();
    match n.poll_event() {
        Some(Event::Discovered { name, address }) => {
            assert_eq!((name.as_str(), address), ("py-echo", want));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(n.lookup("py-echo", T0), Some(want));
    let _ = n.requester("py-echo", T0).unwrap();
    assert_eq!(
        n.poll_tcp_action(T0),
        Some(TcpAction::Connect {
            slot: 0,
            remote: want
        })
    );
}

/// `adverts` lists every live name the node knows, its own and those heard,
/// each with its address.
#[test]
fn adverts_lists_own_and_heard_names() {
    let mut n = node();
    n.set_interface(Ipv4Addr::new(10, 0, 0, 5), 24, T0);
    n.serve("robot", 5555, 1, T0).unwrap();
    let from: SocketAddr = "10.0.0.7:9999".parse().unwrap();
    n.handle_datagram(br#"["py-echo", "10.0.0.7:1234", 20]"#, from, T0)
        .unwrap();
    let mut names: Vec<(&str, SocketAddr)> = n.adverts(T0).collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("py-echo", "10.0.0.7:1234".parse().unwrap()),
            ("robot", "10.0.0.5:5555".parse().unwrap())
        ]
    );
}

#[test]
fn a_requester_waits_for_its_name_then_connects() {
    // Asked for before anyone advertised it: the client is parked, and
    // the advert that names it is what starts the connection.
    let mut n = node();
    let _ = n.requester("late-echo", T0).unwrap();
    assert_eq!(n.poll_tcp_action(T0), None, "no address yet");
    let from: SocketAddr = "10.0.0.8:9999".parse().unwrap();
    n.handle_datagram(br#"["late-echo", "10.0.0.8:4321", 20]"#, from, T0)
        .unwrap();
    n.handle_timeout(T0);
    while n.poll_event().is_some() {}
    let mut buf = [0; MAX_DATAGRAM];
    for _ in 0..16 {
        if n.poll_transmit(T0, &mut buf).is_none() {
            break;
        }
    }
    // With the beacon's datagrams sent, what is due now is the connect.
    assert_eq!(n.poll_timeout(T0), Some(T0));
    assert_eq!(
        n.poll_tcp_action(T0),
        Some(TcpAction::Connect {
            slot: 0,
            remote: "10.0.0.8:4321".parse().unwrap()
        })
    );
}

/// Runs the node's timers at `at` and returns every datagram it sends then.
fn sent(n: &mut N, at: Instant) -> Vec<(Transmit, Vec<u8>)> {
    n.handle_timeout(at);
    let mut buf = [0; MAX_DATAGRAM];
    let mut out = Vec::new();
    while let Some(tx) = n.poll_transmit(at, &mut buf) {
        out.push((tx, buf[..tx.len].to_vec()));
        assert!(out.len() < 64, "a bounded burst");
    }
    out
}

/// Whether `datagram` carries `text`.
fn carries(datagram: &[u8], text: &str) -> bool {
    datagram.windows(text.len()).any(|w| w == text.as_bytes())
}

/// Told its interface, a node advertises its names at the interface's
/// address, to the subnet's broadcast and to 255.255.255.255; a name served
/// before the interface came up (recorded at 127.0.0.1) moves to it. Told
/// the same interface again, as a driver does every turn, it sends nothing.
#[test]
fn set_interface_gives_adverts_its_address_once() {
    let mut n = node();
    n.serve("robot", 5555, 1, T0).unwrap();
    assert_eq!(
        n.lookup("robot", T0),
        Some("127.0.0.1:5555".parse().unwrap())
    );
    let _ = sent(&mut n, T0);
    let t = T0 + crate::Duration::from_millis(10);
    n.set_interface(Ipv4Addr::new(10, 0, 0, 5), 24, t);
    let here: SocketAddr = "10.0.0.5:5555".parse().unwrap();
    assert_eq!(n.lookup("robot", t), Some(here));
    let adverts = sent(&mut n, t);
    let to: Vec<SocketAddr> = adverts.iter().map(|(tx, _)| tx.destination).collect();
    assert!(to.contains(&"10.0.0.255:9999".parse().unwrap()), "{to:?}");
    assert!(
        to.contains(&"255.255.255.255:9999".parse().unwrap()),
        "{to:?}"
    );
    assert!(adverts.iter().all(|(_, d)| carries(d, "10.0.0.5:5555")));
    assert_eq!(
        n.advertise("turntable", 6000, t),
        Ok("10.0.0.5:6000".parse().unwrap())
    );
    let _ = sent(&mut n, t);

    n.set_interface(Ipv4Addr::new(10, 0, 0, 5), 24, t);
    assert_eq!(sent(&mut n, t), [], "the same interface changes nothing");
}

/// Several interfaces: each advert carries the address of the interface it
/// goes out of, the first is the node's main address; an empty list forgets
/// them.
#[test]
fn set_interfaces_advertises_on_each() {
    let mut n = node();
    n.serve("robot", 5555, 1, T0).unwrap();
    let _ = sent(&mut n, T0);
    let wired = beacon::Interface {
        ip: Ipv4Addr::new(10, 0, 0, 5),
        prefix_len: 24,
    };
    let wifi = beacon::Interface {
        ip: Ipv4Addr::new(192, 168, 4, 2),
        prefix_len: 24,
    };
    let t = T0 + crate::Duration::from_millis(10);
    n.set_interfaces(&[wired, wifi], t);
    assert_eq!(n.beacon().interfaces(), [wired, wifi]);
    assert_eq!(n.lookup("robot", t), Some("10.0.0.5:5555".parse().unwrap()));
    let adverts = sent(&mut n, t);
    let on = |subnet: &str, address: &str| {
        let subnet: SocketAddr = subnet.parse().unwrap();
        adverts
            .iter()
            .any(|(tx, d)| tx.destination == subnet && carries(d, address))
    };
    assert!(on("10.0.0.255:9999", "10.0.0.5:5555"), "{adverts:?}");
    assert!(on("192.168.4.255:9999", "192.168.4.2:5555"), "{adverts:?}");

    n.set_interfaces(&[], t);
    assert_eq!(n.beacon().interfaces(), []);
}

/// Unadvertising says whether this node advertised the name (once), drops
/// it here and tells peers at once with a goodbye from the extension socket.
#[test]
fn unadvertise_says_whether_the_name_was_advertised_and_says_goodbye() {
    let mut n = node();
    n.set_interface(Ipv4Addr::new(10, 0, 0, 5), 24, T0);
    n.advertise("robot", 5555, T0).unwrap();
    let _ = sent(&mut n, T0);
    assert!(!n.unadvertise("turntable", T0), "never advertised");
    assert!(n.unadvertise("robot", T0));
    assert_eq!(n.lookup("robot", T0), None);
    let goodbyes = sent(&mut n, T0);
    assert!(!goodbyes.is_empty());
    for (tx, d) in &goodbyes {
        assert_eq!(tx.socket, UdpSocket::Ext);
        assert!(carries(d, "robot"), "{d:?}");
    }
    assert!(!n.unadvertise("robot", T0), "already unadvertised");
}

/// `discover_all` asks the LAN for every name: a query with no name, out of
/// the query socket to the extension port (9997).
#[test]
fn discover_all_asks_for_every_name() {
    let mut n = node();
    n.set_interface(Ipv4Addr::new(10, 0, 0, 5), 24, T0);
    let mut every = [0; MAX_DATAGRAM];
    let len = crate::ext::encode_query("", &mut every).unwrap();
    n.discover_all(T0);
    let queries = sent(&mut n, T0);
    assert!(!queries.is_empty());
    for (tx, d) in &queries {
        assert_eq!((tx.socket, tx.destination.port()), (UdpSocket::Query, 9997));
        assert_eq!(d[..], every[..len]);
    }
}

/// Drivers keep their three UDP sockets in an array indexed by
/// [`UdpSocket::index`]: the indices are 0, 1, 2 in the order of `ALL`.
#[test]
fn udp_socket_indices_follow_all() {
    for (i, socket) in UdpSocket::ALL.into_iter().enumerate() {
        assert_eq!(socket.index(), i, "{socket:?}");
    }
}

/// With a class key and no wall clock a node seals nothing, so it sends no
/// advert (a board learns its class's time first, see `crate::auth`); given
/// the wall clock, its adverts go out sealed.
#[cfg(feature = "class-key")]
#[test]
fn a_keyed_node_advertises_sealed_and_only_with_a_clock() {
    let datagrams = |n: &mut N, at| sent(n, at).into_iter().map(|(_, d)| d);
    let mut n = node();
    n.set_interface(Ipv4Addr::new(10, 0, 0, 5), 24, T0);
    n.set_class_key(Some(crate::auth::ClassKey::from_passphrase("class")), T0);
    n.serve("robot", 5555, 1, T0).unwrap();
    assert_eq!(sent(&mut n, T0), []);
    let later = T0 + crate::Duration::from_secs(1);
    n.set_wall_clock(later, 1_800_000_000_000);
    let mut adverts: Vec<_> = datagrams(&mut n, later).collect();
    for s in 2..=5 {
        adverts.extend(datagrams(&mut n, T0 + crate::Duration::from_secs(s)));
    }
    assert!(!adverts.is_empty(), "given the time, it advertises");
    assert!(adverts.iter().all(|d| d.starts_with(b"NW0\x01k")), "sealed");
}

#[test]
fn adverts_go_out_of_the_beacon_socket_queries_out_of_the_query_socket() {
    let mut n = node();
    n.set_interface(Ipv4Addr::new(10, 0, 0, 5), 24, T0);
    n.serve("robot", 5555, 1, T0).unwrap();
    n.handle_timeout(T0);
    let mut buf = [0; MAX_DATAGRAM];
    let mut seen = 0;
    for _ in 0..16 {
        let Some(tx) = n.poll_transmit(T0, &mut buf) else {
            break;
        };
        assert_eq!(tx.socket, UdpSocket::Beacon);
        seen += 1;
    }
    assert!(seen > 0);
    n.discover("elsewhere", T0);
    let tx = n.poll_transmit(T0, &mut buf).unwrap();
    assert_eq!((tx.socket, tx.destination.port()), (UdpSocket::Query, 9997));
}

#[test]
fn unmap_leaves_plain_addresses_alone() {
    let v6 = SocketAddr::from((core::net::Ipv6Addr::LOCALHOST, 1));
    assert_eq!(unmap(v6), v6);
    let v4: SocketAddr = "10.1.2.3:4".parse().unwrap();
    assert_eq!(unmap(v4), v4);
}

/// A slot carries a connection from `handle_tcp_connected` until its
/// socket is gone: what a driver asks before it reads or writes the socket.
#[test]
fn a_slot_has_a_connection_from_connected_to_closed() {
    let mut n = node();
    n.serve("echo", 5555, 1, T0).unwrap();
    let s = (0..2).find(|&i| n.slot_use(i).is_some()).unwrap();
    assert!(!n.has_connection(s), "listening, nobody yet");
    n.handle_tcp_connected(s, T0);
    assert!(n.has_connection(s));
    n.handle_tcp_closed(s, T0);
    assert!(!n.has_connection(s), "gone");
}

#[test]
fn out_of_range_slots_are_ignored() {
    let mut n = node();
    n.handle_tcp_connected(9, T0);
    n.handle_tcp_closed(9, T0);
    n.handle_tcp_eof(9);
    n.consume_output(9, 3);
    assert_eq!(n.handle_tcp_input(9, b"xx", T0), 0);
    assert!(n.tcp_output(9).is_empty());
    assert_eq!(n.slot_use(9), None);
}

#[test]
fn two_subscribers_each_get_their_news() {
    // One topic buffer for the node: a second subscriber's item waits in
    // its connection while the first is made, and nothing is lost.
    let mut server = node();
    let mut client: Node<3, 512, 4> = Node::new(beacon::Config::default());
    let a = server.publish_on("a", 5555, 1, T0).unwrap();
    let b = server.publish_on("b", 5556, 1, T0).unwrap();
    let sa = client
        .subscriber(SocketAddr::from(([10, 0, 0, 1], 5555)), b"", T0)
        .unwrap();
    let sb = client
        .subscriber(SocketAddr::from(([10, 0, 0, 1], 5556)), b"", T0)
        .unwrap();
    let mut wires = vec![];
    for port in [5555, 5556] {
        let Some(TcpAction::Connect { slot: c, remote }) = client.poll_tcp_action(T0) else {
            panic!("connect");
        };
        assert_eq!(remote.port(), port);
        let s = (0..2)
            .find(|&i| matches!(server.slot_use(i), Some(SlotUse::Service { port: p, .. }) if p == port))
            .unwrap();
        server.handle_tcp_connected(s, T0);
        client.handle_tcp_connected(c, T0);
        wires.push((s, c));
    }
    let run = |server: &mut N,
               client: &mut Node<3, 512, 4>,
               got: &mut Vec<(ClientId, Vec<u8>, Vec<u8>)>| {
        for _ in 0..50 {
            let mut moved = 0;
            for &(s, c) in &wires {
                let out = server.tcp_output(s).to_vec();
                let n = client.handle_tcp_input(c, &out, T0);
                server.consume_output(s, n);
                let out = client.tcp_output(c).to_vec();
                let m = server.handle_tcp_input(s, &out, T0);
                client.consume_output(c, m);
                moved += n + m;
            }
            while server.poll_event().is_some() {}
            take_news(client, got);
            if moved == 0 {
                break;
            }
        }
    };
    let mut got = vec![];
    run(&mut server, &mut client, &mut got);
    assert!(client.is_connected(sa) && client.is_connected(sb));
    for k in 0..3u8 {
        assert_eq!(server.publish(a, b"ta", &[b'0' + k]).unwrap(), 1);
        assert_eq!(server.publish(b, b"tb", &[b'0' + k]).unwrap(), 1);
    }
    assert_eq!(server.publish(a, b"one-part", b"").unwrap(), 1);
    run(&mut server, &mut client, &mut got);
    let of = |id: ClientId| -> Vec<(Vec<u8>, Vec<u8>)> {
        got.iter()
            .filter(|g| g.0 == id)
            .map(|g| (g.1.clone(), g.2.clone()))
            .collect()
    };
    assert_eq!(
        of(sa),
        vec![
            (b"ta".to_vec(), b"0".to_vec()),
            (b"ta".to_vec(), b"1".to_vec()),
            (b"ta".to_vec(), b"2".to_vec()),
            (b"one-part".to_vec(), b"".to_vec()),
        ]
    );
    // Each item whole, under its own topic: a part of one subscriber's item
    // is never told as another's.
    assert_eq!(
        of(sb),
        vec![
            (b"tb".to_vec(), b"0".to_vec()),
            (b"tb".to_vec(), b"1".to_vec()),
            (b"tb".to_vec(), b"2".to_vec()),
        ]
    );
}

/// Polls every event of `client`, keeping its news items (client, topic, data).
fn take_news<const SLOTS: usize>(
    client: &mut Node<SLOTS, 512, 4>,
    got: &mut Vec<(ClientId, Vec<u8>, Vec<u8>)>,
) {
    while let Some(e) = client.poll_event() {
        if let Event::News {
            client,
            topic,
            data,
        } = e
        {
            got.push((client, topic.to_vec(), data.to_vec()));
        }
    }
}

/// Moves `publisher`'s items to the node's `slot` and polls the node's
/// events (bounded rounds): the news items told (client, topic, data).
fn news_from(
    client: &mut N,
    slot: usize,
    publisher: &mut zmtp::Connection<Vec<u8>>,
) -> Vec<(ClientId, Vec<u8>, Vec<u8>)> {
    let mut got = Vec::new();
    for _ in 0..8 {
        shuttle(client, slot, publisher);
        take_news(client, &mut got);
    }
    got
}

/// Moves bytes between a node's slot and a bare ZMTP connection until quiet;
/// returns the connection's message parts.
fn shuttle(node: &mut N, slot: usize, peer: &mut zmtp::Connection<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    for _ in 0..50 {
        let out = peer.output().to_vec();
        let a = node.handle_tcp_input(slot, &out, T0);
        peer.consume_output(a);
        node.handle_tcp_input(slot, &[], T0);
        let back = node.tcp_output(slot).to_vec();
        let b = peer.handle_input(&back, T0).unwrap();
        node.consume_output(slot, b);
        while let Some(e) = peer.poll_event() {
            if let zmtp::Event::Message(part) = e {
                got.push(part.data.to_vec());
            }
        }
        if a + b == 0 {
            break;
        }
    }
    got
}

/// A node serving "echo" on 5555, its slot, and a bare ZMTP REQ connected to it.
fn rep_and_bare_req() -> (N, ServiceId, usize, zmtp::Connection<Vec<u8>>) {
    let mut server = node();
    let service = server.serve("echo", 5555, 1, T0).unwrap();
    let s = (0..2).find(|&i| server.slot_use(i).is_some()).unwrap();
    server.handle_tcp_connected(s, T0);
    let cfg = zmtp::Config::new(zmtp::Role::Req);
    let mut req = zmtp::Connection::new(cfg, vec![0; 4096], vec![0; 4096], T0).unwrap();
    shuttle(&mut server, s, &mut req);
    assert!(req.is_established());
    (server, service, s, req)
}

/// The connection goes on: the next request is delivered and answered.
fn the_next_request_is_answered(server: &mut N, s: usize, req: &mut zmtp::Connection<Vec<u8>>) {
    req.send(&[br#""hi""#]).unwrap();
    shuttle(server, s, req);
    let got = loop {
        match server.poll_event() {
            Some(Event::Request { request, data, .. }) => break (request, data.to_vec()),
            Some(_) => continue,
            None => panic!("the next request did not arrive"),
        }
    };
    assert_eq!(got.1, br#""hi""#);
    server.reply(got.0, b"1").unwrap();
    assert_eq!(shuttle(server, s, req), [b"1".to_vec()]);
}

#[test]
fn a_request_over_buf_gets_an_error_reply_and_an_event() {
    let (mut server, service, s, mut req) = rep_and_bare_req();
    req.send(&[&[b'x'; 1000]]).unwrap();
    shuttle(&mut server, s, &mut req);
    // The drive order's step 7 (the application polls) answers it.
    let mut events = Vec::new();
    while let Some(e) = server.poll_event() {
        events.push(format!("{e:?}"));
    }
    let replies = shuttle(&mut server, s, &mut req);
    assert_eq!(
        replies,
        [br#"{"networkzero_error":"message too large","size":1000,"limit":512}"#.to_vec()]
    );
    let want = format!(
        "{:?}",
        Event::RequestTooLarge {
            service,
            size: 1000,
            limit: 512
        }
    );
    assert!(events.contains(&want), "{events:?}");
    the_next_request_is_answered(&mut server, s, &mut req);
}

/// The largest request the std crate sends (32 MiB) is read through and
/// dropped like any other over `BUF`, not a reason to close the connection:
/// a laptop that sends a firmware node too much gets an error, and the
/// node keeps serving it.
#[test]
fn a_32_mib_request_is_skipped_and_the_connection_goes_on() {
    const SIZE: usize = 32 * 1024 * 1024;
    let (mut server, service, s, mut req) = rep_and_bare_req();
    // What a REQ sends: an empty delimiter frame, then the body in a long
    // frame (flags 0x02, 8-byte length), written here to spare 32 MiB.
    let mut head = vec![0x01, 0x00, 0x02];
    head.extend_from_slice(&(SIZE as u64).to_be_bytes());
    assert_eq!(server.handle_tcp_input(s, &head, T0), head.len());
    let body = vec![b'x'; 1 << 20];
    let (mut left, mut events) = (SIZE, Vec::new());
    for _ in 0..1000 {
        let n = server.handle_tcp_input(s, &body[..left.min(body.len())], T0);
        left -= n;
        while let Some(e) = server.poll_event() {
            events.push(format!("{e:?}"));
        }
        if left == 0 {
            break;
        }
    }
    assert_eq!(left, 0, "the node reads the whole request");
    assert!(server.has_connection(s), "the connection stays");
    let want = format!(
        "{:?}",
        Event::RequestTooLarge {
            service,
            size: SIZE,
            limit: 512
        }
    );
    assert!(events.contains(&want), "{events:?}");
    // The error reply goes to a REQ that did not send this request itself
    // (it skips it); what it sends next is served.
    shuttle(&mut server, s, &mut req);
    the_next_request_is_answered(&mut server, s, &mut req);
}

/// A node subscribed on `prefix` to 10.0.0.1:5555, its client and slot, and
/// a bare ZMTP PUB connected to it.
fn sub_and_bare_pub(prefix: &[u8]) -> (N, ClientId, usize, zmtp::Connection<Vec<u8>>) {
    let mut client = node();
    let (id, c, publisher) = bare_pub(&mut client, 5555, prefix);
    (client, id, c, publisher)
}

/// Subscribes `client` on `prefix` to 10.0.0.1:`port` and connects it to a
/// bare ZMTP PUB: the subscriber, its slot and the PUB.
fn bare_pub(
    client: &mut N,
    port: u16,
    prefix: &[u8],
) -> (ClientId, usize, zmtp::Connection<Vec<u8>>) {
    let at = SocketAddr::from(([10, 0, 0, 1], port));
    let id = client.subscriber(at, prefix, T0).unwrap();
    let Some(TcpAction::Connect { slot: c, .. }) = client.poll_tcp_action(T0) else {
        panic!("the client should connect");
    };
    client.handle_tcp_connected(c, T0);
    let publisher = greeted_pub(client, c);
    assert_eq!(client.poll_event(), Some(Event::Connected { client: id }));
    (id, c, publisher)
}

/// A bare ZMTP PUB whose handshake with the node's slot `c` is done.
fn greeted_pub(client: &mut N, c: usize) -> zmtp::Connection<Vec<u8>> {
    let cfg = zmtp::Config::new(zmtp::Role::Pub);
    let mut publisher = zmtp::Connection::new(cfg, vec![0; 4096], vec![0; 4096], T0).unwrap();
    shuttle(client, c, &mut publisher);
    assert!(publisher.is_established());
    publisher
}

/// A client is connected only from the end of its handshake until its
/// connection goes: not while it dials or greets, not after a reset, and
/// never once it is closed.
#[test]
fn a_client_is_connected_only_while_its_handshake_is_done() {
    let mut client = node();
    let at = SocketAddr::from(([10, 0, 0, 1], 5555));
    let id = client.subscriber(at, b"", T0).unwrap();
    assert!(!client.is_connected(id), "dialling");
    let Some(TcpAction::Connect { slot: c, .. }) = client.poll_tcp_action(T0) else {
        panic!("the client should connect");
    };
    client.handle_tcp_connected(c, T0);
    assert!(!client.is_connected(id), "greeting");
    let cfg = zmtp::Config::new(zmtp::Role::Pub);
    let mut publisher = zmtp::Connection::new(cfg, vec![0; 4096], vec![0; 4096], T0).unwrap();
    shuttle(&mut client, c, &mut publisher);
    assert!(client.is_connected(id), "handshake done");
    client.handle_tcp_closed(c, T0);
    assert!(!client.is_connected(id), "reset");
    assert!(client.close(id));
    assert!(!client.is_connected(id), "closed");
}

/// The node makes one news item at a time: while the second subscriber's
/// item is told, the first's waits whole in its connection, and is not
/// told as a part of the other's (whichever slot the node visits first).
#[test]
fn a_subscribers_item_waits_while_anothers_is_told() {
    let mut client = node();
    let (a, sa, mut pa) = bare_pub(&mut client, 5555, b"");
    let (b, sb, mut pb) = bare_pub(&mut client, 5556, b"");
    pb.send(&[b"tb", b"1"]).unwrap();
    shuttle(&mut client, sb, &mut pb);
    pa.send(&[b"ta", b"1"]).unwrap();
    shuttle(&mut client, sa, &mut pa);
    let mut got = Vec::new();
    for _ in 0..8 {
        take_news(&mut client, &mut got);
        shuttle(&mut client, sa, &mut pa);
        shuttle(&mut client, sb, &mut pb);
    }
    assert_eq!(
        got,
        [
            (b, b"tb".to_vec(), b"1".to_vec()),
            (a, b"ta".to_vec(), b"1".to_vec())
        ]
    );
}

/// A subscriber's prefix may be as long as [`MAX_TOPIC`]: the node keeps
/// it, tells the publisher, and hands on news under it.
#[test]
fn a_subscriber_prefix_of_max_topic_bytes_gets_its_news() {
    let prefix = [b'a'; MAX_TOPIC];
    let (mut client, id, c, mut publisher) = sub_and_bare_pub(&prefix);
    assert!(publisher.is_subscribed(&prefix));
    publisher.send(&[&prefix, b"1"]).unwrap();
    shuttle(&mut client, c, &mut publisher);
    assert_eq!(
        client.poll_event(),
        Some(Event::News {
            client: id,
            topic: &prefix,
            data: b"1"
        })
    );
}

#[test]
fn a_one_part_news_item_holds_its_slot_until_told() {
    // Python networkzero may publish a topic alone: the node keeps it and
    // reads nothing more from that slot until the application has it.
    let (mut client, id, c, mut publisher) = sub_and_bare_pub(b"");
    assert!(client.wants_input(c), "an idle subscriber reads");

    publisher.send(&[b"alarm"]).unwrap();
    shuttle(&mut client, c, &mut publisher);
    assert!(!client.wants_input(c), "the item waits for the application");
    assert_eq!(
        client.poll_event(),
        Some(Event::News {
            client: id,
            topic: b"alarm",
            data: b"null"
        })
    );
    assert!(client.wants_input(c), "told: the slot reads again");
}

/// Parts of an item that is not told are skipped to its end, and the next
/// item is told whole: a topic longer than [`MAX_TOPIC`] (with two more
/// parts), and extra parts after an item's data (two of them).
#[test]
fn a_too_long_topic_and_extra_parts_are_skipped_and_news_goes_on() {
    let (mut client, id, c, mut publisher) = sub_and_bare_pub(b"");
    let long = [b'a'; MAX_TOPIC + 1];
    publisher.send(&[&long, b"x", b"y"]).unwrap();
    publisher.send(&[b"t", b"1", b"e1", b"e2"]).unwrap();
    publisher.send(&[b"u", b"2"]).unwrap();
    let got = news_from(&mut client, c, &mut publisher);
    assert_eq!(
        got,
        [
            (id, b"t".to_vec(), b"1".to_vec()),
            (id, b"u".to_vec(), b"2".to_vec())
        ]
    );
}

/// A subscriber whose connection ends between its item's topic and data
/// takes that item with it: the other subscriber's news still comes (it
/// is not held behind an item that will never end), and the first one's
/// next item after it reconnects is told under its own topic.
#[test]
fn a_connection_ended_mid_item_holds_back_no_news() {
    let mut client = node();
    let (a, sa, mut pa) = bare_pub(&mut client, 5555, b"");
    let (b, sb, mut pb) = bare_pub(&mut client, 5556, b"");
    pa.send(&[b"ta", b"1"]).unwrap();
    shuttle(&mut client, sa, &mut pa);
    assert!(
        client.news.assembling(sa),
        "a's topic is taken, its data waits"
    );
    client.handle_tcp_closed(sa, T0);
    pb.send(&[b"tb", b"1"]).unwrap();
    let got = news_from(&mut client, sb, &mut pb);
    assert_eq!(got, [(b, b"tb".to_vec(), b"1".to_vec())]);
    // a reconnects (to a new PUB) and its news is told as it was sent.
    let later = T0 + crate::Duration::from_secs(60);
    client.handle_timeout(later);
    let Some(TcpAction::Connect { slot, .. }) = client.poll_tcp_action(later) else {
        panic!("a should redial");
    };
    assert_eq!(slot, sa);
    client.handle_tcp_connected(sa, later);
    let mut pa = greeted_pub(&mut client, sa);
    pa.send(&[b"ta", b"2"]).unwrap();
    assert_eq!(
        news_from(&mut client, sa, &mut pa),
        [(a, b"ta".to_vec(), b"2".to_vec())]
    );
}

/// A name heard that lapses is told lost (a firmware node's only word that
/// a peer has gone).
#[test]
fn a_heard_name_that_lapses_is_told_lost() {
    let mut n = node();
    let from: SocketAddr = "10.0.0.7:9999".parse().unwrap();
    n.handle_datagram(br#"["py-echo", "10.0.0.7:1234", 20]"#, from, T0)
        .unwrap();
    let want: SocketAddr = "10.0.0.7:1234".parse().unwrap();
    let mut t = T0;
    let mut events = Vec::new();
    for _ in 0..100 {
        n.handle_timeout(t);
        while let Some(e) = n.poll_event() {
            events.push(format!("{e:?}"));
        }
        match n.poll_timeout(t) {
            Some(next) if next > t && next < T0 + crate::Duration::from_secs(120) => t = next,
            _ => break,
        }
    }
    let name = Name::try_from("py-echo").unwrap();
    let lost = format!(
        "{:?}",
        Event::Lost {
            name,
            address: want
        }
    );
    assert!(events.contains(&lost), "{events:?}");
    assert_eq!(n.lookup("py-echo", t), None);
}

/// Each service's index is its own, from 0: a driver keeps per-service
/// state by it.
#[test]
fn each_service_has_its_own_index() {
    let mut n = node();
    let a = n.serve("a", 5555, 1, T0).unwrap();
    let b = n.publish_on("b", 5556, 1, T0).unwrap();
    assert_eq!([a.index(), b.index()], [0, 1]);
}

/// A class key on the node (feature `curve`): keyed nodes talk CURVE with
/// each other and with the socket layer as the std crate keys it; a peer
/// without the key, or with another class's, completes no handshake, is
/// counted and told (once per slot per `KEY_RETRY`), and a refused client
/// waits `KEY_RETRY` before it dials again.
#[cfg(feature = "curve")]
mod keyed {
    use super::*;
    use crate::socket::{self, Secure};
    use crate::zmtp::curve::ClassKeys;
    use crate::zmtp::{Security, ZmtpError};
    use crate::Duration;

    fn class(pass: &str) -> &'static ClassKeys {
        std::boxed::Box::leak(std::boxed::Box::new(ClassKeys::from_passphrase(pass)))
    }

    fn keyed(n: &mut N, class: Option<&'static ClassKeys>, entropy: u8) {
        n.set_class_keys(class, [entropy; 32]).unwrap();
    }

    /// A node keyed with `class` serving `echo` at 5555 (slot 0).
    fn keyed_server(class: Option<&'static ClassKeys>, entropy: u8) -> N {
        let mut server = node();
        keyed(&mut server, class, entropy);
        server.serve("echo", 5555, 1, T0).unwrap();
        server
    }

    #[test]
    fn a_small_buf_cannot_be_keyed() {
        let mut n: Node<1, 256> = Node::new(beacon::Config::default());
        let k = class("blue whale");
        assert_eq!(
            n.set_class_keys(Some(k), [1; 32]),
            Err(Error::KeyNeedsBuffer)
        );
        assert!(!n.is_keyed());
        assert_eq!(n.set_class_keys(None, [1; 32]), Ok(()));
        // The least it needs is enough.
        let mut n: Node<1, 384> = Node::new(beacon::Config::default());
        assert_eq!(n.set_class_keys(Some(k), [1; 32]), Ok(()));
        assert!(n.is_keyed());
    }

    #[test]
    fn keyed_nodes_ask_and_answer_in_curve() {
        let k = class("blue whale");
        let (mut p, _, client) = Pair::keyed(false, Some(k), Some(k));
        assert_eq!(p.client.poll_event(), Some(Event::Connected { client }));
        p.client.send(client, br#""secret""#).unwrap();
        let wire = p.client.tcp_output(p.c).to_vec();
        assert!(!wire.is_empty());
        assert!(
            !wire.windows(6).any(|w| w == b"secret"),
            "the request crossed the wire in clear"
        );
        p.run();
        let request = loop {
            match p.server.poll_event() {
                Some(Event::Request { request, data, .. }) => {
                    assert_eq!(data, br#""secret""#);
                    break request;
                }
                Some(_) => {}
                None => panic!("no request"),
            }
        };
        p.server.reply(request, br#""ok""#).unwrap();
        p.run();
        assert!(
            matches!(p.client.poll_event(), Some(Event::Reply { data, .. }) if data == br#""ok""#)
        );
        assert_eq!((p.server.key_refusals(), p.client.key_refusals()), (0, 0));
        // An established connection's end is no refusal.
        p.server.handle_tcp_eof(p.s);
        p.server.handle_tcp_closed(p.s, T0);
        assert_eq!(p.server.key_refusals(), 0);
    }

    #[test]
    fn keyed_news_reaches_a_keyed_subscriber() {
        let k = class("blue whale");
        let (mut p, service, client) = Pair::keyed(true, Some(k), Some(k));
        assert_eq!(p.client.poll_event(), Some(Event::Connected { client }));
        p.run();
        assert_eq!(p.server.publish(service, b"distance", b"12").unwrap(), 1);
        let wire = p.server.tcp_output(p.s).to_vec();
        assert!(!wire.windows(8).any(|w| w == b"distance"), "news in clear");
        p.run();
        assert_eq!(
            p.client.poll_event(),
            Some(Event::News {
                client,
                topic: b"distance",
                data: b"12"
            })
        );
    }

    /// The std crate's keyed sockets are the socket layer with
    /// `Secure` per connection: a keyed node answers one.
    #[test]
    fn a_keyed_node_answers_the_keyed_engine() {
        let k = class("blue whale");
        let mut server = keyed_server(Some(k), 7);
        let s = 0;
        server.handle_tcp_connected(s, T0);
        let mut set: socket::Fixed<1, 1, 1024> = socket::Fixed::new(socket::Settings::new());
        let req = set.open(zmtp::Role::Req).unwrap();
        let c = set.connect(req, T0).unwrap();
        let _ = set.poll_action(T0);
        let secure = Secure {
            security: Security::CurveClient(&k.client),
            seed: [9; 32],
        };
        set.handle_connected_secured(c, T0, secure);
        let mut sent = false;
        let mut answer = None;
        for _ in 0..20 {
            let out = set.output(c).to_vec();
            let n = server.handle_tcp_input(s, &out, T0);
            set.consume_output(c, n);
            let back = server.tcp_output(s).to_vec();
            server.consume_output(s, back.len());
            set.handle_input(c, &back, T0);
            while let Some(e) = set.poll_event() {
                if let socket::Event::Message(m) = e {
                    answer = Some(m.part.data.to_vec());
                }
            }
            if !sent && set.is_established(c) {
                set.send(req, &[b"\"ping\""]).unwrap();
                sent = true;
            }
            while let Some(e) = server.poll_event() {
                if let Event::Request { request, .. } = e {
                    server.reply(request, b"\"pong\"").unwrap();
                }
            }
        }
        assert_eq!(answer.as_deref(), Some(&b"\"pong\""[..]));
        assert_eq!(server.key_refusals(), 0);
    }

    /// The server's refusal as the application sees it.
    fn refused(n: &mut N) -> Option<(usize, Option<SlotUse>, Option<ZmtpError>)> {
        loop {
            match n.poll_event()? {
                Event::KeyRefused { slot, at, error } => return Some((slot, at, error)),
                Event::Connected { .. } | Event::Request { .. } | Event::News { .. } => {
                    panic!("a refused peer got through")
                }
                _ => {}
            }
        }
    }

    #[test]
    fn a_keyed_node_refuses_unkeyed_and_other_class_peers() {
        let k = class("blue whale");
        let (mut p, service, _) = Pair::keyed(false, Some(k), None);
        assert!(!p.server.sockets.is_established(p.s));
        let (slot, at, error) = refused(&mut p.server).expect("told");
        assert_eq!(slot, p.s);
        assert_eq!(
            at,
            Some(SlotUse::Service {
                service,
                port: 5555
            })
        );
        assert_eq!(error, Some(ZmtpError::MechanismMismatch));
        assert_eq!(p.server.key_refusals(), 1);
        // The unkeyed side (with the feature) says the peer wants a key.
        assert_eq!(p.client.key_refusals(), 1);
        assert!(matches!(
            refused(&mut p.client),
            Some((_, _, Some(ZmtpError::MechanismMismatch)))
        ));

        let (mut p, _, _) = Pair::keyed(true, Some(k), Some(class("red fox")));
        assert_eq!(
            refused(&mut p.server).map(|r| r.2),
            Some(Some(ZmtpError::KeyMismatch))
        );
        assert!(!p.client.sockets.is_established(p.c));

        // …and a keyed client refuses an unkeyed server.
        let (mut p, _, client) = Pair::keyed(false, None, Some(k));
        assert_eq!(
            refused(&mut p.client),
            Some((
                p.c,
                Some(SlotUse::Client(client)),
                Some(ZmtpError::MechanismMismatch)
            ))
        );
    }

    /// An unkeyed peer dials the keyed server's slot `s` at `t` afresh.
    fn unkeyed_try(server: &mut N, s: usize, t: Instant) {
        server.handle_tcp_closed(s, t);
        server.handle_tcp_connected(s, t);
        let mut client = node();
        client
            .requester("10.0.0.1:5555".parse::<SocketAddr>().unwrap(), t)
            .unwrap();
        let Some(TcpAction::Connect { slot: c, .. }) = client.poll_tcp_action(t) else {
            panic!("the client should connect");
        };
        client.handle_tcp_connected(c, t);
        for _ in 0..8 {
            shift(&mut client, c, server, s, t);
            shift(server, s, &mut client, c, t);
        }
    }

    /// libzmq with NULL may close on our CURVE greeting before it sends
    /// its mechanism: a keyed node counts that hang-up once; an unkeyed
    /// node does not (nothing says it is the key).
    #[test]
    fn a_hang_up_in_a_keyed_handshake_is_a_refusal() {
        let k = class("blue whale");
        for key in [Some(k), None] {
            let mut server = keyed_server(key, 5);
            server.handle_tcp_connected(0, T0);
            // The signature and the major version, then the end.
            let partial = [0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3];
            assert_eq!(server.handle_tcp_input(0, &partial, T0), partial.len());
            server.handle_tcp_eof(0);
            server.handle_tcp_eof(0);
            server.handle_tcp_closed(0, T0);
            if key.is_some() {
                assert_eq!(refused(&mut server), Some((0, server.slot_use(0), None)));
                assert_eq!(server.key_refusals(), 1, "counted once");
            } else {
                assert_eq!(refused(&mut server), None);
                assert_eq!(server.key_refusals(), 0);
            }
        }
    }

    /// An untold refusal alone makes the node due at once: a driver that
    /// sleeps until `poll_timeout` must wake to tell it.
    #[test]
    fn an_untold_refusal_is_work_for_now() {
        let k = class("blue whale");
        let mut server = keyed_server(Some(k), 5);
        let t = T0 + Duration::from_millis(1);
        // Nothing else due at `t`: the beacon's opening adverts sent.
        let mut buf = [0; MAX_DATAGRAM];
        for _ in 0..64 {
            server.handle_timeout(t);
            if server.poll_transmit(t, &mut buf).is_none() {
                break;
            }
        }
        assert_ne!(server.poll_timeout(t), Some(t), "idle before");
        server.handle_tcp_connected(0, t);
        let partial = [0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3];
        assert_eq!(server.handle_tcp_input(0, &partial, t), partial.len());
        server.handle_tcp_eof(0);
        server.handle_tcp_closed(0, t);
        assert_eq!(server.poll_timeout(t), Some(t), "a refusal to tell");
        assert!(refused(&mut server).is_some());
        assert_ne!(server.poll_timeout(t), Some(t), "told: idle again");
    }

    #[test]
    fn refusals_are_all_counted_and_told_once_per_slot_per_key_retry() {
        let k = class("blue whale");
        let mut server = keyed_server(Some(k), 3);
        let s = 0;
        let second = T0 + crate::Duration::from_secs(1);
        let later = second + KEY_RETRY;
        unkeyed_try(&mut server, s, T0);
        assert_eq!(server.poll_timeout(T0), Some(T0), "a refusal to tell");
        assert!(refused(&mut server).is_some());
        unkeyed_try(&mut server, s, second);
        assert_eq!(refused(&mut server), None, "told already");
        unkeyed_try(&mut server, s, later);
        assert!(refused(&mut server).is_some(), "told again after KEY_RETRY");
        assert_eq!(server.key_refusals(), 3);
    }

    #[test]
    fn a_refused_client_redials_after_key_retry_not_at_once() {
        let k = class("blue whale");
        let (mut p, _, _) = Pair::keyed(false, None, Some(k));
        assert!(refused(&mut p.client).is_some());
        // The connection closes once its last bytes are sent…
        let n = p.client.tcp_output(p.c).len();
        p.client.consume_output(p.c, n);
        let mut closed = false;
        for _ in 0..4 {
            if p.client.poll_tcp_action(T0) == Some(TcpAction::Close { slot: p.c }) {
                closed = true;
                break;
            }
        }
        assert!(closed, "the refused connection closes");
        // …and the next dial waits KEY_RETRY, not RECONNECT.
        let soon = T0 + crate::socket::RECONNECT;
        assert_eq!(p.client.poll_tcp_action(soon), None);
        assert_eq!(p.client.poll_timeout(soon), Some(T0 + KEY_RETRY));
        assert_eq!(
            p.client
                .poll_tcp_action(T0 + KEY_RETRY - Duration::from_millis(1)),
            None
        );
        assert!(matches!(
            p.client.poll_tcp_action(T0 + KEY_RETRY),
            Some(TcpAction::Connect { slot, .. }) if slot == p.c
        ));
        // That dial fails at TCP: an ordinary reconnect, RECONNECT later;
        // the hold-back, over, no longer makes the node due.
        let t1 = T0 + KEY_RETRY + Duration::from_millis(1);
        p.client.handle_tcp_closed(p.c, t1);
        assert_eq!(p.client.poll_tcp_action(t1), None);
        let due = p.client.poll_timeout(t1);
        assert!(due.is_some_and(|d| d > t1), "{due:?}");
    }

    /// A client by name, refused, whose name then expires: once the
    /// hold-back is over it waits for an advert, and nothing is due.
    #[test]
    fn a_refused_client_whose_name_expired_waits_quietly() {
        let k = class("blue whale");
        let mut server = keyed_server(Some(k), 5);
        let mut client = node();
        let _ = client.requester("robot", T0).unwrap();
        let from: SocketAddr = "10.0.0.8:9999".parse().unwrap();
        client
            .handle_datagram(br#"["robot", "10.0.0.8:5555", 1]"#, from, T0)
            .unwrap();
        client.handle_timeout(T0);
        let Some(TcpAction::Connect { slot: c, .. }) = client.poll_tcp_action(T0) else {
            panic!("the client should connect");
        };
        client.handle_tcp_connected(c, T0);
        server.handle_tcp_connected(0, T0);
        for _ in 0..8 {
            shift(&mut client, c, &mut server, 0, T0);
            shift(&mut server, 0, &mut client, c, T0);
        }
        assert_eq!(client.key_refusals(), 1, "the server wants a key");
        while client.poll_event().is_some() {}
        let n = client.tcp_output(c).len();
        client.consume_output(c, n);
        for _ in 0..4 {
            if client.poll_tcp_action(T0).is_none() {
                break;
            }
        }
        client.handle_tcp_closed(c, T0);
        // Past the hold-back and the advert's 1 s: parked for want of an
        // address, with only the beacon's own timers to run.
        let t = T0 + KEY_RETRY + Duration::from_secs(2);
        let mut buf = [0; MAX_DATAGRAM];
        for _ in 0..64 {
            client.handle_timeout(t);
            while client.poll_event().is_some() {}
            if client.poll_tcp_action(t).is_none() && client.poll_transmit(t, &mut buf).is_none() {
                break;
            }
        }
        assert_eq!(client.lookup("robot", t), None, "the name expired");
        let due = client.poll_timeout(t);
        assert!(due.is_none_or(|d| d > t), "nothing due at once: {due:?}");
    }

    /// Each connection gets its own seed, from the caller's entropy.
    #[test]
    fn seeds_differ_per_connection_and_per_entropy() {
        let k = class("blue whale");
        let mut a = node();
        keyed(&mut a, Some(k), 1);
        let mut b = node();
        keyed(&mut b, Some(k), 2);
        a.serve("x", 1, 2, T0).unwrap();
        b.serve("x", 1, 2, T0).unwrap();
        let (a0, a1) = (a.secure(0).unwrap().seed, a.secure(1).unwrap().seed);
        let b0 = b.secure(0).unwrap().seed;
        assert_ne!(a0, a1);
        assert_ne!(a0, b0);
        assert_ne!(a0, [1; 32]);
    }
}
