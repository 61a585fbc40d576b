//! Discovery between separate processes (each its own networkzero node, driven by the
//! `nw0-peer` test binary): several on one isolated host (loopback only), and across
//! the hosts of a simulated LAN.
//!
//! Only valid adverts are sent to UDP 9999 except in the hostile-datagram test, which
//! runs on an isolated host with no Python beacon.

#[path = "../src/bin/nw0-peer/drive.rs"]
mod drive;

use std::io::IoSliceMut;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn};
use nix::sys::time::TimeSpec;

use drive::{address, expect, expect_any, ip_of, secs, spawn, Repl};
use nw0_tests::*;

fn names(list: &[(String, String)]) -> Vec<&str> {
    list.iter().map(|(n, _)| n.as_str()).collect()
}

/// Runs a fresh `nw0-peer ARGS…` listing (`discover_all`, `discover_group G`) on `host`
/// and returns the pairs of its `KIND …` line.
fn fresh_listing(host: &Host, args: &[&str], kind: &str) -> Vec<(String, String)> {
    let (lines, code, stderr) = drive::run(host, args, secs(10.0));
    assert_eq!(code, Some(0), "{lines:?} {stderr}");
    let pairs = lines
        .first()
        .and_then(|l| l.strip_prefix(kind))
        .and_then(|l| l.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {kind} line: {lines:?} {stderr}"));
    drive::parse_pairs(pairs)
}

/// Instant discovery, i.e. the beacons' answers to queries: fresh processes on `host`,
/// started one after another well after `name`'s advert burst, find it at `want` within
/// [`ANSWERED_MS`] — all but at most one of them ([`SLOW_ALLOWED`]). Periodic adverts
/// (every 2 s) cannot do that: a trial is that fast only if an advert comes within
/// [`ANSWERED_MS`] of its start, and the next trial starts after that advert (its 450 ms
/// pause comes after the name was found), so each advert makes at most one trial fast.
/// Two fast trials in a row would then need the second to start more than a second
/// late (its advert 2 s after the first's, which it follows by at most 500 + 450 ms), so
/// five fast of six need three such late starts; were a loaded machine's late starts to
/// make the phases random, each trial is fast one time in four: five of six, about one
/// run in two hundred.
/// One slow trial is allowed because a process on a loaded machine (CI: load 15-17 on
/// 2 cores) can be descheduled for that long anywhere in its run, not because of the
/// protocol: traced, 220 trials at load 25-28 were all found by the beacon's answer,
/// 325 ms at worst. (How fast is the benchmarks' business; this bound only tells an
/// answer from an advert.)
fn fresh_processes_find_at_once(host: &Host, name: &str, want: &str) {
    const TRIALS: usize = 6;
    let mut took = Vec::new();
    for _ in 0..TRIALS {
        let (lines, code, stderr) = drive::run(host, &["discover", name, "5"], secs(10.0));
        assert_eq!(code, Some(0), "{lines:?} {stderr}");
        let (addr, ms) = drive::split(
            lines[0]
                .strip_prefix("FOUND ")
                .unwrap_or_else(|| panic!("{lines:?}")),
        );
        assert_eq!(addr, want, "a fresh process's discover of {name}");
        took.push(ms.parse::<u64>().expect("FOUND ms"));
        // spread the trials' starts over the advert interval
        std::thread::sleep(Duration::from_millis(450));
    }
    eprintln!("fresh processes found {name} after {took:?} ms");
    assert!(
        slow_trials(&took) <= SLOW_ALLOWED,
        "fresh processes found {name} after {took:?} ms: more than {SLOW_ALLOWED} not within \
         {ANSWERED_MS} ms, as an answer to their query would be (were they waiting for \
         periodic adverts?)"
    );
}

/// How many trials took [`ANSWERED_MS`] or longer.
fn slow_trials(took: &[u64]) -> usize {
    took.iter().filter(|&&ms| ms >= ANSWERED_MS).count()
}

/// Trials of [`fresh_processes_find_at_once`] that may be slow: one, a process
/// descheduled on a loaded machine (see there).
const SLOW_ALLOWED: usize = 1;

/// Far above an answer to a query on this loaded machine (milliseconds), far below
/// the 2 s between adverts.
const ANSWERED_MS: u64 = 500;

#[test]
fn two_processes_on_one_box_advertise_and_discover_each_other() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut a = Repl::start(&host, "a");
    let mut b = Repl::start(&host, "b");
    let addr_a = a.advertise("box/a");
    let addr_b = b.advertise("box/b");
    let start = Instant::now();
    assert_eq!(
        a.discover("box/b", 5.0).as_deref(),
        Some(addr_b.as_str()),
        "a discovers b"
    );
    assert_eq!(
        b.discover("box/a", 5.0).as_deref(),
        Some(addr_a.as_str()),
        "b discovers a"
    );
    assert!(
        start.elapsed() < secs(2.0),
        "discovery on one box took {:?}",
        start.elapsed()
    );
    assert_ne!(addr_a, addr_b);
    assert_eq!(
        ip_of(&addr_a),
        "127.0.0.1",
        "a loopback-only host advertises 127.0.0.1"
    );
    // a and b heard each other's advert burst; a process started later must ask
    fresh_processes_find_at_once(&host, "box/a", &addr_a);
}

#[test]
fn three_processes_on_one_box_all_see_each_other() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut peers: Vec<Repl> = (0..3)
        .map(|i| Repl::start(&host, &format!("p{i}")))
        .collect();
    let addrs: Vec<String> = peers
        .iter_mut()
        .enumerate()
        .map(|(i, p)| p.advertise(&format!("trio/{i}")))
        .collect();
    for (i, p) in peers.iter_mut().enumerate() {
        for (j, addr) in addrs.iter().enumerate() {
            if i != j {
                assert_eq!(
                    p.discover(&format!("trio/{j}"), 5.0).as_deref(),
                    Some(addr.as_str()),
                    "p{i} discovers trio/{j}"
                );
            }
        }
        let group = p.discover_group("trio");
        assert_eq!(
            names(&group),
            ["trio/0", "trio/1", "trio/2"],
            "p{i}'s discover_group: {group:?}"
        );
    }
}

#[test]
fn one_of_two_processes_exits_and_the_other_keeps_working() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    // The first process on the box (the one that bound the shared ports first) is the
    // one that goes: killed without a chance to say goodbye.
    let mut first = Repl::start(&host, "first");
    first.advertise("pair/first");
    let mut second = Repl::start(&host, "second");
    let addr_second = second.advertise("pair/second");
    assert!(second.discover("pair/first", 5.0).is_some());
    first.child.kill();

    // A process started afterwards finds the survivor at once, and the survivor
    // finds the newcomer.
    let mut third = Repl::start(&host, "third");
    let addr_third = third.advertise("pair/third");
    assert_eq!(
        third.discover("pair/second", 3.0).as_deref(),
        Some(addr_second.as_str()),
        "newcomer finds the survivor"
    );
    assert_eq!(
        second.discover("pair/third", 3.0).as_deref(),
        Some(addr_third.as_str()),
        "survivor finds the newcomer"
    );

    // The survivor's periodic adverts still go out: a discover_all started after a
    // full advert round (> 2 s) lists it.
    std::thread::sleep(secs(2.5));
    let all = third.discover_all();
    assert!(names(&all).contains(&"pair/second"), "{all:?}");

    // And a normal exit of the newcomer says goodbye: the survivor, which knew the
    // name, drops it at once (its ttl is 20 s), and keeps working.
    third.close();
    assert!(
        third.child.wait_timeout(secs(5.0)).unwrap().is_some(),
        "repl did not exit on end of input"
    );
    let gone = second.time_until_gone("pair/third", secs(5.0));
    eprintln!("a normally exited process's name gone from its peer after {gone:?}");
    let gone = gone.expect("the survivor still listed the name of an exited process after 5 s");
    assert!(gone < secs(1.0), "gone only after {gone:?}");
    let mut fourth = Repl::start(&host, "fourth");
    assert_eq!(
        fourth.discover("pair/second", 3.0).as_deref(),
        Some(addr_second.as_str())
    );
    assert_eq!(
        fourth.discover("pair/third", 1.0),
        None,
        "a normal exit unadvertises"
    );
}

#[test]
fn killed_advertiser_expires_within_its_ttl() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut doomed = spawn(&host, &["advertise", "doomed", "--for", "60"]);
    address(&mut doomed);
    let mut watcher = Repl::start(&host, "watcher");
    assert!(watcher.discover("doomed", 5.0).is_some());
    doomed.kill(); // SIGKILL: no goodbye
    let gone = watcher.time_until_gone("doomed", secs(24.0));
    eprintln!("killed advertiser gone after {gone:?}");
    let gone = gone.expect("the advert of a killed process did not expire within 24 s (ttl 20 s)");
    assert!(gone <= secs(22.5), "expired after {gone:?}, ttl is 20 s");
    assert!(
        gone >= secs(2.0),
        "gone after only {gone:?} although no goodbye was sent?"
    );
}

#[test]
fn interrupted_advertiser_is_gone_at_once() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut ctrl_c = spawn(&host, &["advertise", "ctrl-c", "--for", "60"]);
    address(&mut ctrl_c);
    let mut watcher = Repl::start(&host, "watcher");
    assert!(watcher.discover("ctrl-c", 5.0).is_some());
    ctrl_c.interrupt().unwrap(); // SIGINT, as Ctrl-C
    let gone = watcher.time_until_gone("ctrl-c", secs(5.0));
    let status = ctrl_c.wait_timeout(secs(5.0)).unwrap();
    eprintln!("interrupted advertiser gone after {gone:?}, exit {status:?}");
    let gone = gone.expect("the name of an interrupted process was still listed after 5 s");
    assert!(gone < secs(1.0), "gone only after {gone:?}");
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(130),
        "exit status after Ctrl-C"
    );
}

#[test]
fn clean_unadvertise_is_seen_by_peers_at_once() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut owner = Repl::start(&host, "owner");
    owner.advertise("leaving");
    let addr_staying = owner.advertise("staying");
    let mut watcher = Repl::start(&host, "watcher");
    assert!(watcher.discover("leaving", 5.0).is_some());
    assert!(watcher.discover("staying", 5.0).is_some());
    let (kind, _) = owner.run_expect(
        "unadvertise\tleaving",
        &["UNADVERTISED", "ERROR"],
        secs(5.0),
    );
    assert_eq!(kind, "UNADVERTISED");
    let gone = watcher.time_until_gone("leaving", secs(5.0));
    eprintln!("unadvertised name gone after {gone:?}");
    let gone = gone.expect("an unadvertised name was still listed after 5 s");
    assert!(gone < secs(1.0), "gone only after {gone:?}");
    // only that name went; a fresh process does not find it, but finds the other
    let mut fresh = Repl::start(&host, "fresh");
    assert_eq!(fresh.discover("leaving", 1.0), None);
    assert_eq!(
        fresh.discover("staying", 3.0).as_deref(),
        Some(addr_staying.as_str())
    );
    assert!(names(&watcher.discover_all()).contains(&"staying"));
}

/// A process that listed every name (`discover_all`, as `nw0 ls` and the dashboard do)
/// drops a name at its goodbye and does not list it again: the answers to its query's
/// repeats, which come after the listing returned, are read as they come, not left
/// in its socket to bring the name back (with a fresh ttl) after the goodbye.
///
/// The lister lists until it has the name. Its first listing waits 255 ms for the
/// answers to its query (`a_fresh_listing_waits_for_a_late_answer` pins that), and on a
/// loaded machine the owner can answer later: traced at load 19, an answer due at most
/// 173 ms after the query went out at 252 ms (the owner's thread woken late), and one
/// run at load 15-25 found its first listing empty. A later answer is heard all the
/// same, by the loop or the next listing; what this test is about comes after it.
#[test]
fn a_name_gone_by_goodbye_stays_gone_for_a_process_that_listed_it() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut owner = Repl::start(&host, "owner");
    owner.advertise("leaving");
    let addr_staying = owner.advertise("staying");
    // started after the owner's first adverts went out: it hears the names by the
    // answers to its query (its first listing asks), or by the next adverts
    let mut lister = Repl::start(&host, "lister");
    let listed = lister.time_until_listed("leaving", secs(5.0));
    eprintln!("a fresh process listed the name after {listed:?}");
    listed.expect("a fresh process did not list a name advertised on its host within 5 s");
    // the query's repeats (310 and 930 ms after it) and their answers (within 155 ms)
    std::thread::sleep(secs(2.0));
    let (kind, _) = owner.run_expect(
        "unadvertise\tleaving",
        &["UNADVERTISED", "ERROR"],
        secs(5.0),
    );
    assert_eq!(kind, "UNADVERTISED");
    let gone = lister.time_until_gone("leaving", secs(5.0));
    let gone = gone.expect("a name that said goodbye was still listed after 5 s");
    assert!(gone < secs(1.0), "gone only after {gone:?}");
    let all = lister.discover_all();
    assert_eq!(
        all,
        vec![("staying".to_string(), addr_staying)],
        "listed again after its goodbye"
    );
}

/// A small deterministic generator of junk (no rand crate needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u8
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next()).collect()
    }
}

fn hostile_datagrams() -> Vec<Vec<u8>> {
    let mut rng = Lcg(0x5eed);
    let mut all: Vec<Vec<u8>> = Vec::new();
    for len in [
        0usize, 1, 3, 5, 16, 255, 256, 257, 600, 1400, 2047, 2048, 4000,
    ] {
        all.push(rng.bytes(len));
    }
    let long_name = "x".repeat(270);
    let json: [&[u8]; 18] = [
        b"[\"sturdy\", \"127.0.0.1:",
        b"[\"sturdy\", \"127.0.0.1:1\"",
        b"[",
        b"{}",
        b"null",
        b"[\"a\", \"b\", \"c\", \"d\"]",
        b"[1, 2, 3]",
        b"[\"sturdy\", \"not an address\", 20]",
        b"[\"sturdy\", \"300.1.1.1:5\", 20]",
        b"[\"sturdy\", \"127.0.0.1:99999\", 20]",
        b"[\"sturdy\", \"127.0.0.1:1\", -5]",
        b"[\"sturdy\", \"127.0.0.1:1\", 1e400]",
        b"[\"\\ud800\", \"127.0.0.1:1\", 20]",
        b"[\"\xff\xfe\", \"127.0.0.1:1\", 20]",
        b"NW0\x01",
        b"NW0\x01Q",
        b"NW0\x01A[",
        b"NW0\x01B{\"x\"",
    ];
    all.extend(json.iter().map(|d| d.to_vec()));
    all.push(format!("[\"{long_name}\", \"127.0.0.1:1\", 20]").into_bytes()); // 300 bytes
    for kind in [b'Q', b'A', b'B', b'Z', 0, 0xff] {
        let mut d = b"NW0\x01".to_vec();
        d.push(kind);
        d.extend(rng.bytes(300));
        all.push(d);
    }
    all.push(
        b"NW0\x01Q"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'q', 1000))
            .collect(),
    );
    all.push(b"NW0\x02Qsturdy".to_vec());
    all
}

#[test]
fn hostile_datagrams_do_not_stop_discovery() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut sturdy = spawn(&host, &["advertise", "sturdy", "--for", "60"]);
    let addr_sturdy = address(&mut sturdy);
    let mut watcher = Repl::start(&host, "watcher");
    assert!(watcher.discover("sturdy", 5.0).is_some());

    let junk = hostile_datagrams();
    let sent = host.run(|| {
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        s.set_broadcast(true).unwrap();
        let mut sent = 0;
        for round in 0..3 {
            for d in &junk {
                for port in [9999u16, 9997] {
                    // unicast reaches one of the sharing sockets; the loopback broadcast all
                    for ip in [Ipv4Addr::LOCALHOST, Ipv4Addr::new(127, 255, 255, 255)] {
                        if s.send_to(d, (ip, port)).is_ok() {
                            sent += 1;
                        }
                    }
                }
            }
            if round == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        sent
    });
    assert!(sent > 200, "only {sent} hostile datagrams could be sent");

    assert!(
        sturdy.child_mut().try_wait().unwrap().is_none(),
        "the advertiser died: {}",
        sturdy.stderr()
    );
    // the watcher still knows sturdy at its real address, and still hears new adverts
    assert_eq!(
        watcher.discover("sturdy", 3.0).as_deref(),
        Some(addr_sturdy.as_str())
    );
    let mut late = Repl::start(&host, "late");
    let addr_late = late.advertise("late");
    assert_eq!(
        watcher.discover("late", 3.0).as_deref(),
        Some(addr_late.as_str()),
        "watcher hears a new name"
    );
    // a fresh process finds sturdy (its beacon answers queries and still advertises)
    assert_eq!(
        late.discover("sturdy", 3.0).as_deref(),
        Some(addr_sturdy.as_str()),
        "sturdy still answers"
    );
    fresh_processes_find_at_once(&host, "sturdy", &addr_sturdy);
    // and the junk names did not get in
    let all = watcher.discover_all();
    for (name, addr) in &all {
        assert!(
            ["sturdy", "late"].contains(&name.as_str()),
            "junk advert accepted: {name} at {addr}"
        );
    }
    assert!(
        sturdy.child_mut().try_wait().unwrap().is_none(),
        "the advertiser died: {}",
        sturdy.stderr()
    );
}

/// CPU time (user and system, in clock ticks: 1/100 s) a process has used, from /proc.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command's closing parenthesis start at field 3 (state);
    // utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The discovery thread sleeps until it has something to do: an idle process with a
/// name advertised uses next to no CPU (a busy loop would take a core from every
/// program in a classroom of Raspberry Pis). It also checks the interfaces every 2 s.
#[test]
fn an_idle_process_sleeps() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut idle = Repl::start(&host, "idle");
    idle.advertise("idle/one");
    let pid = idle.child.id();
    let before = cpu_ticks(pid);
    // A window to measure over, not a wait for anything.
    std::thread::sleep(Duration::from_secs(5));
    let used = cpu_ticks(pid) - before;
    println!("FIGURE discovery.idle_cpu_ticks_in_5_s {used}");
    assert!(
        used < 10,
        "an idle process used {used} ticks (1/100 s) of CPU in 5 s"
    );
}

/// Datagrams that queued up while a process could not run (stopped here) are all
/// read when it runs again, more than one turn of its loop reads: the last of 300 on
/// UDP 9997, a goodbye, takes its name away though nothing arrives after it.
#[test]
fn a_backlog_of_datagrams_is_read_to_its_end() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    let mut backlogged = Repl::start(&host, "backlogged");
    let advert = |ttl: u32| format!("[\"backlog/x\", \"127.0.0.1:6000\", {ttl}]").into_bytes();
    let send = |datagrams: Vec<Vec<u8>>, port: u16| {
        host.run(|| {
            let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            for d in &datagrams {
                s.send_to(d, (Ipv4Addr::LOCALHOST, port)).unwrap();
            }
        })
    };
    // Its discovery starts with its first call: then it hears the advert.
    backlogged.advertise("backlog/own");
    send(vec![advert(20)], 9999);
    assert!(backlogged.discover("backlog/x", 5.0).is_some());

    backlogged.child.pause().unwrap();
    let mut backlog: Vec<Vec<u8>> = (0..299).map(|i| format!("junk {i}").into_bytes()).collect();
    backlog.push(advert(0));
    // Only this process shares 9997 on this host: every datagram is for it.
    send(backlog, 9997);
    backlogged.child.resume().unwrap();
    // A lookup that finds the name sends nothing (no query to wake the loop).
    let gone = (0..100).any(|_| {
        let gone = backlogged.discover("backlog/x", 0.0).is_none();
        if !gone {
            std::thread::sleep(Duration::from_millis(100));
        }
        gone
    });
    assert!(gone, "the goodbye at the end of the backlog was not read");
}

/// An answer and the goodbye sent after it, waiting together in a process's sockets (it
/// could not run meanwhile: stopped here, descheduled on a loaded machine), leave the
/// name gone: the answer, on the process's own port, is read first. Read the other way
/// round (9999 and 9997 first), the answer brought the name back for its 20 s ttl, and
/// `interrupted_advertiser_is_gone_at_once` failed so under load: the watcher's listing
/// was answered just before the Ctrl-C'd program said goodbye.
#[test]
fn an_answer_and_the_goodbye_after_it_read_together_leave_the_name_gone() {
    if !require_netns() {
        return;
    }
    let host = Host::isolated();
    // A peer sharing 9997 as every process does: it hears the lister's query (from the
    // lister's own port) and sends a goodbye as a beacon does, to 9997 and 9999.
    let peer: UdpSocket = host.run(|| {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        s.set_reuse_address(true).unwrap();
        s.set_reuse_port(true).unwrap();
        s.set_broadcast(true).unwrap();
        s.bind(&std::net::SocketAddr::from((Ipv4Addr::UNSPECIFIED, 9997)).into())
            .expect("bind 9997");
        s.into()
    });
    peer.set_read_timeout(Some(secs(5.0))).unwrap();
    let mut lister = Repl::start(&host, "lister");
    // its first listing asks every program
    assert_eq!(lister.discover_all(), vec![]);
    let mut buf = [0u8; 512];
    let port = (0..20)
        .find_map(|_| {
            let (n, from) = peer.recv_from(&mut buf).ok()?;
            (buf[..n] == *b"NW0\x01Q").then_some(from)
        })
        .expect("the lister's query for every name");
    let answer = b"NW0\x01A[\"late\", \"127.0.0.1:6000\", 20]";
    peer.send_to(answer, port).unwrap();
    assert!(
        lister.time_until_listed("late", secs(5.0)).is_some(),
        "an answer lists the name"
    );

    lister.child.pause().unwrap();
    peer.send_to(answer, port).unwrap();
    let goodbye = b"[\"late\", \"127.0.0.1:6000\", 0]";
    let mut ext_goodbye = b"NW0\x01B".to_vec();
    ext_goodbye.extend_from_slice(goodbye);
    peer.send_to(&ext_goodbye, (Ipv4Addr::new(127, 255, 255, 255), 9997))
        .unwrap();
    peer.send_to(goodbye, (Ipv4Addr::new(127, 255, 255, 255), 9999))
        .unwrap();
    lister.child.resume().unwrap();
    let all = lister.discover_all();
    assert!(
        !names(&all).contains(&"late"),
        "listed after a goodbye sent after its answer: {all:?}"
    );
}

#[test]
fn discovery_across_hosts_both_ways() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(3);
    let mut zero = Repl::start(&lan.hosts[0], "zero");
    let mut one = Repl::start(&lan.hosts[1], "one");
    let addr_zero = zero.advertise("lan/zero");
    let addr_one = one.advertise("lan/one");
    assert_eq!(
        ip_of(&addr_zero),
        lan.hosts[0].ip.to_string(),
        "advertised address of host 0"
    );
    assert_eq!(
        ip_of(&addr_one),
        lan.hosts[1].ip.to_string(),
        "advertised address of host 1"
    );
    let start = Instant::now();
    assert_eq!(
        zero.discover("lan/one", 5.0).as_deref(),
        Some(addr_one.as_str())
    );
    assert_eq!(
        one.discover("lan/zero", 5.0).as_deref(),
        Some(addr_zero.as_str())
    );
    assert!(
        start.elapsed() < secs(2.0),
        "discovery across the LAN took {:?}",
        start.elapsed()
    );
    // zero and one heard each other's advert burst; one-shot processes on the third
    // host, started later, must ask across the LAN
    fresh_processes_find_at_once(&lan.hosts[2], "lan/zero", &addr_zero);
}

/// A fresh listing waits for late answers too: a peer answers a query for every name
/// within the answer delay and spread (5 + 150 ms); a listing waits twice
/// `query_retry` (100 ms) more for one that travels or is sent late (a busy peer): 255 ms
/// from its query. Here a bare UDP peer (holding port 9997 alone, so it hears the query)
/// answers midway between that wait and one without the margin (155 ms): 205 ms after
/// the query, computed from the beacon's defaults so that it stays midway when they
/// change: a fresh process's `discover_all` lists its name.
///
/// The peer's 205 ms are counted from when the query went out (the kernel's timestamp
/// of its arrival: see [`answer_late`]), not from when the peer's thread woke to read
/// it, and when the answer really went out is measured. A peer that slept 205 ms after
/// waking failed this test 9 times in 100 at load 11-21 on 2 cores: traced (load
/// 12-17, 100 runs), its thread woke up to 125 ms after the query and its sleep ran
/// up to 64 ms over, so its answers went out 205-389 ms after the query; the 3
/// failures were answers sent 263-279 ms after it, and all 94 sent within 255 ms were
/// listed (the listing also reads what waits in its sockets when it ends, so a
/// starved lister misses nothing that came in time). Even timed from the query an
/// answer can go out after the listing's wait on a loaded machine; such a round tests
/// nothing, so it is run again with a fresh process, up to [`LATE_ANSWER_ROUNDS`]
/// times. A round whose answer went out within the wait must list it.
#[test]
fn a_fresh_listing_waits_for_a_late_answer() {
    if !require_netns() {
        return;
    }
    let beacon = networkzero_core::beacon::Config::default();
    let late = Duration::from_millis(
        beacon.answer_delay.as_millis()
            + beacon.everything_spread.as_millis()
            + beacon.query_retry.as_millis(),
    );
    // the listing's wait for answers, from its query
    let wait = late + Duration::from_millis(beacon.query_retry.as_millis());
    let host = Host::isolated();
    // made in the host's namespace, used from this one (a socket keeps its namespace)
    let peer = host.run(|| UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 9997)).expect("bind 9997"));
    peer.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    setsockopt(&peer, sockopt::ReceiveTimestampns, &true).expect("SO_TIMESTAMPNS");
    for round in 1..=LATE_ANSWER_ROUNDS {
        // the query's repeats from the last round's process, which has exited
        drop_waiting(&peer);
        let (all, answered) = std::thread::scope(|s| {
            let answerer = s.spawn(|| answer_late(&peer, late));
            let all = fresh_listing(&host, &["discover_all"], "ALL");
            (all, answerer.join().unwrap())
        });
        let answered = answered.expect("no query for every name came");
        eprintln!("round {round}: the answer went out {answered:?} after the query");
        if answered > wait {
            eprintln!(
                "  after the listing's {wait:?} wait (a loaded machine): this round tests nothing"
            );
            continue;
        }
        assert_eq!(
            all,
            vec![("late".to_string(), "127.0.0.1:6000".to_string())],
            "a fresh discover_all, with an answer {answered:?} after its query"
        );
        return;
    }
    panic!(
        "in {LATE_ANSWER_ROUNDS} rounds the peer never answered within the listing's {wait:?} \
         wait (a machine too loaded to test this): nothing was tested"
    );
}

/// Rounds of [`a_fresh_listing_waits_for_a_late_answer`], at most: one more is run
/// only when the answer went out after the listing's wait. Traced at load 8-18 on 2
/// cores, the answer timed from the query's timestamp: 15 of 215 rounds (the peer's
/// sleep overrunning by 50 ms or more; 13 of 113 in the worse of two runs of 100),
/// never more than two in a row. At that worse rate eight in a row would come about
/// once in 30 million runs, were rounds independent.
const LATE_ANSWER_ROUNDS: usize = 8;

/// Answers the first query for every name (`NW0 1 'Q'` with no name) that comes to
/// `peer` within 10 s, `late` after that query went out, and returns how long after it
/// the answer really went out (`None`: no query came). When the query went out is the
/// kernel's receive timestamp (`SO_TIMESTAMPNS`, set on `peer`): loopback delivers a
/// datagram within its sender's `send_to`, so this thread waking late to read it does
/// not delay the answer (unless by more than `late`), and what does (the sleep
/// overrunning on a loaded machine) is measured after the answer was sent: it is in
/// the asker's socket by then, and the asker's wait began after its query went out.
fn answer_late(peer: &UdpSocket, late: Duration) -> Option<Duration> {
    let deadline = Instant::now() + secs(10.0);
    let mut buf = [0u8; 1024];
    // bounded by the deadline (each read by the socket's timeout)
    while Instant::now() < deadline {
        let mut control = nix::cmsg_space!(TimeSpec);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let Ok(msg) = recvmsg::<SockaddrIn>(
            peer.as_raw_fd(),
            &mut iov,
            Some(&mut control),
            MsgFlags::empty(),
        ) else {
            continue;
        };
        let len = msg.bytes;
        let asker = msg.address.map(SocketAddrV4::from);
        let queried = msg.cmsgs().ok().and_then(|mut c| {
            c.find_map(|c| match c {
                ControlMessageOwned::ScmTimestampns(t) => Some(UNIX_EPOCH + Duration::from(t)),
                _ => None,
            })
        });
        let (Some(asker), Some(queried)) = (asker, queried) else {
            continue;
        };
        if buf.get(..len) != Some(b"NW0\x01Q".as_slice()) {
            continue;
        }
        let since = |t: SystemTime| t.duration_since(queried).unwrap_or_default();
        std::thread::sleep(late.saturating_sub(since(SystemTime::now())));
        let answer = b"NW0\x01A[\"late\", \"127.0.0.1:6000\", 20]";
        peer.send_to(answer, asker).expect("answer");
        return Some(since(SystemTime::now()));
    }
    None
}

/// Reads and drops what waits in `socket` (at most 1000 datagrams).
fn drop_waiting(socket: &UdpSocket) {
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 1024];
    for _ in 0..1000 {
        match socket.recv_from(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // a datagram, or an answer's ICMP error (its asker had gone): read on
            _ => {}
        }
    }
    socket.set_nonblocking(false).unwrap();
}

/// `advertise_at` with another computer's address (a program that names a service
/// running elsewhere) advertises exactly that address; only an address of this
/// computer is replaced by each interface's own. A peer finds the name at the address
/// given, on a LAN where the advertiser has one interface.
#[test]
fn an_address_of_another_computer_is_advertised_as_given() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(2);
    let elsewhere = format!("{}:7000", lan.hosts[1].ip);
    let mut proxy = spawn(
        &lan.hosts[0],
        &[
            "advertise",
            "lan/proxied",
            "--at",
            &elsewhere,
            "--for",
            "60",
        ],
    );
    assert_eq!(address(&mut proxy), elsewhere, "advertise_at's answer");
    // positive control: an address of the advertiser itself is advertised too
    let own = format!("{}:7001", lan.hosts[0].ip);
    let mut direct = spawn(
        &lan.hosts[0],
        &["advertise", "lan/direct", "--at", &own, "--for", "60"],
    );
    assert_eq!(address(&mut direct), own);
    let mut peer = Repl::start(&lan.hosts[1], "peer");
    assert_eq!(
        peer.discover("lan/direct", 5.0).as_deref(),
        Some(own.as_str())
    );
    assert_eq!(
        peer.discover("lan/proxied", 5.0).as_deref(),
        Some(elsewhere.as_str()),
        "a name advertised at another computer's address, found at"
    );
}

#[test]
fn fresh_process_on_another_host_sees_all_names_and_groups() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(3);
    let mut zero = Repl::start(&lan.hosts[0], "zero");
    let alice = zero.advertise("class/alice");
    let bob = zero.advertise("class/bob");
    let mut one = Repl::start(&lan.hosts[1], "one");
    let carol = one.advertise("other/carol");
    let dave = one.advertise("class/dave");
    let want_all = vec![
        ("class/alice".to_string(), alice.clone()),
        ("class/bob".to_string(), bob.clone()),
        ("class/dave".to_string(), dave.clone()),
        ("other/carol".to_string(), carol),
    ];

    let all = fresh_listing(&lan.hosts[2], &["discover_all"], "ALL");
    assert_eq!(all, want_all, "a fresh process's discover_all");

    let group = fresh_listing(&lan.hosts[2], &["discover_group", "class"], "GROUP");
    assert_eq!(
        group,
        want_all[..3].to_vec(),
        "a fresh process's discover_group"
    );
}

#[test]
fn node_killed_mid_conversation_restarted_next_call_succeeds() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(3);
    let server_host = &lan.hosts[0];
    let mut server = spawn(
        server_host,
        &["advertise", "phoenix", "--serve", "echo", "--for", "60"],
    );
    let first = address(&mut server);
    let mut client = Repl::start(&lan.hosts[1], "client");
    let (kind, rest) = client.run_expect(
        "send\tphoenix\t\"one\"\t5",
        &["REPLY", "NOREPLY"],
        secs(20.0),
    );
    assert_eq!((kind.as_str(), drive::split(&rest).0), ("REPLY", "\"one\""));

    // killed mid-conversation: the next request gets no reply, and returns
    server.kill();
    let (kind, _) = client.run_expect(
        &format!("send\t{first}\t\"two\"\t1"),
        &["REPLY", "NOREPLY"],
        secs(10.0),
    );
    assert_eq!(kind, "NOREPLY");

    // restarted at the same address: the very next call succeeds
    let mut server = spawn(
        server_host,
        &[
            "advertise",
            "phoenix",
            "--at",
            &first,
            "--serve",
            "echo",
            "--for",
            "60",
        ],
    );
    assert_eq!(address(&mut server), first);
    let (kind, rest) = client.run_expect(
        "send\tphoenix\t\"three\"\t5",
        &["REPLY", "NOREPLY"],
        secs(20.0),
    );
    assert_eq!(
        (kind.as_str(), drive::split(&rest).0),
        ("REPLY", "\"three\""),
        "{}",
        client.stderr()
    );
    expect(&mut server, "MESSAGE", secs(1.0));

    // killed again and restarted on a new port: discovery follows the new advert
    server.kill();
    let mut server = spawn(
        server_host,
        &["advertise", "phoenix", "--serve", "echo", "--for", "60"],
    );
    let second = address(&mut server);
    assert_ne!(second, first);
    let deadline = Instant::now() + secs(3.0);
    let mut seen = client.discover("phoenix", 3.0);
    while seen.as_deref() != Some(second.as_str()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        seen = client.discover("phoenix", 3.0);
    }
    assert_eq!(
        seen.as_deref(),
        Some(second.as_str()),
        "discover after the restart"
    );
    let (kind, rest) = client.run_expect(
        "send\tphoenix\t\"four\"\t5",
        &["REPLY", "NOREPLY"],
        secs(20.0),
    );
    assert_eq!(
        (kind.as_str(), drive::split(&rest).0),
        ("REPLY", "\"four\""),
        "{}",
        client.stderr()
    );
    let (kind, _) = expect_any(&mut server, &["MESSAGE"], secs(1.0));
    assert_eq!(kind, "MESSAGE");
}
