//! Tests of the test harness itself: namespaces, simulated LAN, child guards, Python peer.
//!
//! Only valid adverts are ever sent to UDP 9999 (a Python beacon dies on anything else).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use nw0_tests::*;

/// A valid Python-style advert datagram (safe to send to 9999).
fn advert(name: &str, host: &Host) -> Vec<u8> {
    format!("[\"{name}\", \"{}:60000\", 20]", host.ip).into_bytes()
}

fn bind(host: &Host, port: u16) -> UdpSocket {
    host.run(|| {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).expect("bind");
        s.set_broadcast(true).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        s
    })
}

/// Receives datagrams until one equal to `want` arrives or `timeout` passes.
fn recv_matching(sock: &UdpSocket, want: &[u8], timeout: Duration) -> Option<SocketAddr> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            if &buf[..n] == want {
                return Some(from);
            }
        }
    }
    None
}

#[test]
fn lan_hosts_have_addresses_and_default_route() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(3);
    let k = lan.subnet;
    for (i, h) in lan.hosts.iter().enumerate() {
        assert_eq!(h.ip, Ipv4Addr::new(10, 200, k, i as u8 + 1));
        assert_eq!(h.broadcast, Ipv4Addr::new(10, 200, k, 255));
        let out = h
            .command("ip")
            .args(["-4", "route", "show", "default"])
            .output()
            .unwrap();
        let routes = String::from_utf8_lossy(&out.stdout);
        assert!(
            routes.contains(&format!("default via 10.200.{k}.254")),
            "{routes}"
        );
        let out = h
            .command("ip")
            .args(["-4", "-o", "addr", "show", "dev", "eth0"])
            .output()
            .unwrap();
        let addrs = String::from_utf8_lossy(&out.stdout);
        assert!(
            addrs.contains(&format!("{}/24 brd 10.200.{k}.255", h.ip)),
            "{addrs}"
        );
    }
}

#[test]
fn two_lan_hosts_exchange_udp_broadcast_on_9999() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(2);
    let (a, b) = (&lan.hosts[0], &lan.hosts[1]);
    let rx = bind(b, 9999);
    let tx = bind(a, 9999); // like a beacon: sends from 9999, also hears itself

    for (target, label) in [
        (Ipv4Addr::BROADCAST, "limited"),
        (lan.broadcast(), "directed"),
    ] {
        let msg = advert(&format!("harness-{label}"), a);
        tx.send_to(&msg, (target, 9999)).expect("send broadcast");
        let from = recv_matching(&rx, &msg, Duration::from_secs(3))
            .unwrap_or_else(|| panic!("{label} broadcast to {target} not received on host B"));
        assert_eq!(
            from,
            SocketAddr::from((a.ip, 9999)),
            "source of the {label} broadcast"
        );
        // the sender's own host hears its broadcast too (how a beacon sees its adverts)
        assert!(
            recv_matching(&tx, &msg, Duration::from_secs(3)).is_some(),
            "{label} broadcast not looped back to the sender"
        );
    }
}

#[test]
fn isolated_host_cannot_hear_the_lan() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(2);
    let lonely = Host::isolated();
    assert!(lonely.is_isolated());
    assert_eq!(lonely.ip, Ipv4Addr::LOCALHOST);
    let lonely_rx = bind(&lonely, 9999);
    let lan_rx = bind(&lan.hosts[1], 9999);
    let tx = bind(&lan.hosts[0], 0);
    let msg = advert("harness-isolation", &lan.hosts[0]);
    tx.send_to(&msg, (Ipv4Addr::BROADCAST, 9999)).unwrap();
    assert!(
        recv_matching(&lan_rx, &msg, Duration::from_secs(3)).is_some(),
        "control: LAN host B must hear it"
    );
    assert!(
        recv_matching(&lonely_rx, &msg, Duration::from_millis(800)).is_none(),
        "isolated host heard the LAN"
    );

    // On an isolated host 127.255.255.255 reaches every socket bound to the port there.
    let local_tx = bind(&lonely, 0);
    let msg = advert("harness-loopback", &lonely);
    local_tx
        .send_to(&msg, (lonely.broadcast, 9999))
        .expect("send to 127.255.255.255");
    assert!(recv_matching(&lonely_rx, &msg, Duration::from_secs(3)).is_some());
    assert!(recv_matching(&lan_rx, &msg, Duration::from_millis(300)).is_none());
}

#[test]
fn parallel_lans_do_not_hear_each_other() {
    if !require_netns() {
        return;
    }
    let (l1, l2) = (Lan::new(2), Lan::new(1));
    assert_ne!(l1.subnet, l2.subnet);
    let rx1 = bind(&l1.hosts[1], 9999);
    let rx2 = bind(&l2.hosts[0], 9999);
    let tx1 = bind(&l1.hosts[0], 0);
    let msg = advert("harness-other-lan", &l1.hosts[0]);
    tx1.send_to(&msg, (Ipv4Addr::BROADCAST, 9999)).unwrap();
    assert!(
        recv_matching(&rx1, &msg, Duration::from_secs(3)).is_some(),
        "control: the sender's own LAN must hear it"
    );
    assert!(
        recv_matching(&rx2, &msg, Duration::from_millis(800)).is_none(),
        "another LAN heard the broadcast"
    );
}

#[test]
fn spawned_thread_and_unplugged_cable() {
    if !require_netns() {
        return;
    }
    let mut lan = Lan::new(1);
    lan.add_host();
    let b_ip = lan.hosts[1].ip;
    let rx = bind(&lan.hosts[1], 9999);
    let tx = bind(&lan.hosts[0], 0);
    // Host::spawn: a 'static background thread in host B's namespace
    let t = lan.hosts[1].spawn(move || {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        s.local_addr().unwrap();
        s.send_to(b"[\"harness-spawn\", \"10.0.0.1:1\", 1]", (b_ip, 9999))
            .map(|_| ())
    });
    t.join().unwrap().expect("send from spawned thread");
    assert!(recv_matching(
        &rx,
        b"[\"harness-spawn\", \"10.0.0.1:1\", 1]",
        Duration::from_secs(3)
    )
    .is_some());

    lan.set_link(1, false).unwrap();
    let msg = advert("harness-unplugged", &lan.hosts[0]);
    let _ = tx.send_to(&msg, (Ipv4Addr::BROADCAST, 9999));
    assert!(
        recv_matching(&rx, &msg, Duration::from_millis(600)).is_none(),
        "unplugged host heard a broadcast"
    );
    lan.set_link(1, true).unwrap();
    let msg = advert("harness-replugged", &lan.hosts[0]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut heard = false;
    while !heard && Instant::now() < deadline {
        let _ = tx.send_to(&msg, (Ipv4Addr::BROADCAST, 9999));
        heard = recv_matching(&rx, &msg, Duration::from_millis(300)).is_some();
    }
    assert!(heard, "re-plugged host did not hear the LAN again");
}

#[test]
fn child_guard_lines_timeout_and_kill() {
    // No sockets: runs anywhere.
    let mut c = ChildGuard::spawn(
        Command::new("sh").args(["-c", "echo one; echo two >&2; echo three; sleep 30"]),
    )
    .expect("spawn sh");
    assert_eq!(
        c.expect_line(|l| l.starts_with("th"), Duration::from_secs(5))
            .unwrap(),
        "three"
    );
    assert_eq!(c.stdout_seen(), ["one", "three"]);
    let err = c.next_line(Duration::from_millis(200)).unwrap_err();
    assert!(err.contains("within"), "{err}");
    let pid = c.id();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(c.stderr().contains("two"));
    drop(c);
    // killed and reaped: the pid is gone (or, rarely, reused by an unrelated process)
    let stat = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(!stat.contains("sleep"), "child survived its guard");

    let mut c = ChildGuard::spawn(Command::new("sh").args(["-c", "echo bye"])).unwrap();
    assert_eq!(c.next_line(Duration::from_secs(5)).unwrap(), "bye");
    let err = c.next_line(Duration::from_secs(5)).unwrap_err();
    assert!(err.contains("stdout ended"), "{err}");
    assert!(c
        .wait_timeout(Duration::from_secs(5))
        .unwrap()
        .unwrap()
        .success());
}

#[test]
fn python_advertise_on_a_is_discovered_on_b() {
    if !require_netns() {
        return;
    }
    let Some(_python) = require_python() else {
        return;
    };
    let lan = Lan::new(2);
    let (a, b) = (&lan.hosts[0], &lan.hosts[1]);
    let mut adv = py::spawn(a, &py::advertiser("x", None, None, 30.0));
    let line = adv
        .expect_line(|l| l.starts_with("ADDRESS "), Duration::from_secs(15))
        .unwrap();
    let address = line.trim_start_matches("ADDRESS ").to_string();
    assert!(
        address.starts_with(&format!("{}:", a.ip)),
        "advertised address {address} is not on host A"
    );

    let mut disc = py::spawn(b, &py::discoverer("x", 15.0));
    let found = disc
        .expect_line(|l| l.starts_with("FOUND "), Duration::from_secs(25))
        .unwrap();
    assert_eq!(
        found,
        format!("FOUND {address}"),
        "B's stderr:\n{}",
        disc.stderr()
    );
    assert!(disc
        .wait_timeout(Duration::from_secs(10))
        .unwrap()
        .is_some_and(|s| s.success()));
}
