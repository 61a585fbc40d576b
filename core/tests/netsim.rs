//! Deterministic network simulation of several beacons: a virtual clock and a
//! seeded lossy, delaying, reordering LAN (in the spirit of smoltcp's netsim
//! and str0m's netem). These kernels have no `tc netem`, and real-time tests
//! of rare timing cases are flaky; here every run is exact and repeatable.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;

use networkzero_core::beacon::{
    AdvertiseError, Beacon, Config, DatagramError, Interface, Kind, Received, Transmit,
    MAX_TRANSMIT,
};
use networkzero_core::Instant;

const BEACON_PORT: u16 = 9999;
const EXT_PORT: u16 = 9997;

/// The beacon calls the simulation makes, for beacons of any capacity (a
/// fresh `ls` needs a table for 400 names; 400 advertisers do not).
trait Program {
    fn seed(&mut self, seed: u64);
    fn set_interfaces(&mut self, interfaces: &[Interface], now: Instant);
    fn advertise(
        &mut self,
        name: &str,
        at: SocketAddr,
        now: Instant,
    ) -> Result<SocketAddr, AdvertiseError>;
    fn unadvertise(&mut self, name: &str, now: Instant) -> bool;
    fn query(&mut self, name: Option<&str>, now: Instant);
    fn lookup(&self, name: &str, now: Instant) -> Option<SocketAddr>;
    fn live(&self, now: Instant) -> usize;
    fn handle_datagram(
        &mut self,
        datagram: &[u8],
        source: SocketAddr,
        now: Instant,
    ) -> Result<Received, DatagramError>;
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8; MAX_TRANSMIT]) -> Option<Transmit>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn drain_events(&mut self);
}

impl<const A: usize, const O: usize> Program for Beacon<A, O> {
    fn seed(&mut self, seed: u64) {
        Beacon::seed(self, seed)
    }
    fn set_interfaces(&mut self, interfaces: &[Interface], now: Instant) {
        Beacon::set_interfaces(self, interfaces, now)
    }
    fn advertise(
        &mut self,
        name: &str,
        at: SocketAddr,
        now: Instant,
    ) -> Result<SocketAddr, AdvertiseError> {
        Beacon::advertise(self, name, at, now)
    }
    fn unadvertise(&mut self, name: &str, now: Instant) -> bool {
        Beacon::unadvertise(self, name, now)
    }
    fn query(&mut self, name: Option<&str>, now: Instant) {
        Beacon::query(self, name, now)
    }
    fn lookup(&self, name: &str, now: Instant) -> Option<SocketAddr> {
        Beacon::lookup(self, name, now)
    }
    fn live(&self, now: Instant) -> usize {
        self.adverts(now).count()
    }
    fn handle_datagram(
        &mut self,
        datagram: &[u8],
        source: SocketAddr,
        now: Instant,
    ) -> Result<Received, DatagramError> {
        Beacon::handle_datagram(self, datagram, source, now)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Beacon::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8; MAX_TRANSMIT]) -> Option<Transmit> {
        Beacon::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Beacon::poll_timeout(self)
    }
    fn drain_events(&mut self) {
        while self.poll_event().is_some() {}
    }
}

/// The beacon most tests use.
type B = Beacon<64, 8>;

/// xorshift64*: small, seeded, good enough for loss and jitter.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// A process's UDP sockets: the shared beacon and extension ports, and its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Socket {
    Beacon = 0,
    Ext = 1,
    Private = 2,
}

/// One program with a beacon, on host `ip`, with its own UDP port.
struct Node {
    beacon: Box<dyn Program>,
    ip: Ipv4Addr,
    port: u16,
    up: bool,
    /// False for a program that cannot bind port 9999 (a Python beacon
    /// holds it), or one whose heard adverts do not matter to a test.
    hears_beacon_port: bool,
    /// Datagrams received but not read yet, in arrival order.
    inbox: VecDeque<(Socket, SocketAddr, Rc<[u8]>)>,
    /// Of those, how many per socket (each socket's buffer is separate).
    queued: [usize; 3],
    /// Datagrams read in millisecond `reading.0` so far (`reading.1`).
    reading: (u64, usize),
    /// Datagrams lost because a socket's receive buffer was full.
    overflowed: u64,
    /// Datagrams sent, by kind: advert, query, answer, goodbye.
    sent: [u64; 4],
    /// The beacon may have something to send, or a new deadline.
    dirty: bool,
    /// Its `poll_timeout`, as of its last change.
    wake: Option<u64>,
}

/// A datagram on the wire: (deliver at, sequence, to node, socket, from, bytes).
type InFlight = Reverse<(u64, u64, usize, Socket, SocketAddr, Rc<[u8]>)>;

/// One LAN, 10.200.1.0/24; host h is 10.200.1.(h+1) and runs one or more
/// programs (nodes).
struct Sim {
    nodes: Vec<Node>,
    now: u64,
    flying: BinaryHeap<InFlight>,
    seq: u64,
    rng: Rng,
    loss_percent: u64,
    max_delay_ms: u64,
    /// Datagrams one socket buffers before dropping (`None`: unlimited).
    rx_capacity: Option<usize>,
    /// Datagrams a program reads per millisecond (`None`: all at once).
    rx_per_ms: Option<usize>,
    next_port: u16,
    sent: u64,
}

impl Sim {
    /// `n` hosts with one program each.
    fn new(n: usize, seed: u64, loss_percent: u64, max_delay_ms: u64) -> Sim {
        let mut sim = Sim {
            nodes: Vec::new(),
            now: 0,
            flying: BinaryHeap::new(),
            seq: 0,
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            loss_percent,
            max_delay_ms,
            rx_capacity: None,
            rx_per_ms: None,
            next_port: 40000,
            sent: 0,
        };
        for host in 0..n {
            sim.add(host, Box::new(B::new(Config::default())));
        }
        sim
    }

    /// Receive buffers of `capacity` datagrams per socket, read at
    /// `per_ms` datagrams per millisecond by each program.
    fn with_receive_buffers(mut self, capacity: usize, per_ms: usize) -> Sim {
        self.rx_capacity = Some(capacity);
        self.rx_per_ms = Some(per_ms);
        self
    }

    fn host_ip(host: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 200, 1, host as u8 + 1)
    }

    /// Starts a program on `host` with `beacon`; returns its node index.
    fn add(&mut self, host: usize, beacon: Box<dyn Program>) -> usize {
        let ip = Sim::host_ip(host);
        let port = self.next_port;
        self.next_port += 1;
        self.nodes.push(Node {
            beacon,
            ip,
            port,
            up: true,
            hears_beacon_port: true,
            inbox: VecDeque::new(),
            queued: [0; 3],
            reading: (0, 0),
            overflowed: 0,
            sent: [0; 4],
            dirty: true,
            wake: None,
        });
        let i = self.nodes.len() - 1;
        self.reset_beacon(i, None);
        i
    }

    /// Node `i` is restarted: a fresh program, on a new port, that has heard
    /// nothing yet.
    fn restart(&mut self, i: usize) {
        self.reset_beacon(i, Some(Box::new(B::new(Config::default()))));
    }

    /// Like [`Self::restart`], with this beacon.
    fn reset_beacon(&mut self, i: usize, beacon: Option<Box<dyn Program>>) {
        let now = self.ms();
        let port = self.next_port;
        self.next_port += 1;
        let n = &mut self.nodes[i];
        if let Some(b) = beacon {
            n.beacon = b;
            n.port = port;
        }
        n.up = true;
        n.inbox.clear();
        n.queued = [0; 3];
        n.dirty = true;
        // What an adapter does first: seed the beacon, tell it its interface.
        n.beacon.seed(self.rng.next());
        let ip = n.ip;
        n.beacon
            .set_interfaces(&[Interface { ip, prefix_len: 24 }], now);
    }

    fn advertise(&mut self, i: usize, name: &str, at: SocketAddr) {
        let now = self.ms();
        self.nodes[i].beacon.advertise(name, at, now).unwrap();
        self.nodes[i].dirty = true;
    }

    fn query(&mut self, i: usize, name: &str) {
        let now = self.ms();
        let name = (!name.is_empty()).then_some(name);
        self.nodes[i].beacon.query(name, now);
        self.nodes[i].dirty = true;
    }

    fn unadvertise(&mut self, i: usize, name: &str) -> bool {
        let now = self.ms();
        self.nodes[i].dirty = true;
        self.nodes[i].beacon.unadvertise(name, now)
    }

    fn ms(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    /// Who hears a datagram from node `from` to `to`, on which socket.
    fn receivers(&self, from: usize, to: SocketAddr) -> Vec<(usize, Socket)> {
        let socket = match to.port() {
            BEACON_PORT => Socket::Beacon,
            EXT_PORT => Socket::Ext,
            _ => Socket::Private,
        };
        let IpAddr::V4(dst) = to.ip() else {
            return Vec::new();
        };
        let same_host = |j: usize| self.nodes[j].ip == self.nodes[from].ip;
        let broadcast = dst == Ipv4Addr::BROADCAST || dst == Ipv4Addr::new(10, 200, 1, 255);
        let mut out: Vec<(usize, Socket)> = (0..self.nodes.len())
            .filter(|&j| {
                let n = &self.nodes[j];
                if !n.up || (socket == Socket::Beacon && !n.hears_beacon_port) {
                    return false;
                }
                if dst.is_loopback() {
                    same_host(j)
                } else if broadcast {
                    true
                } else {
                    n.ip == dst && (socket != Socket::Private || n.port == to.port())
                }
            })
            .map(|j| (j, socket))
            .collect();
        // A unicast to a shared port reaches one of the programs sharing it.
        if !broadcast && !dst.is_loopback() && socket != Socket::Private {
            out.truncate(1);
        }
        out
    }

    /// Sends what every node has to send, through the lossy LAN.
    fn transmit(&mut self) {
        let mut buf = [0u8; MAX_TRANSMIT];
        let now = self.ms();
        for from in 0..self.nodes.len() {
            if !self.nodes[from].up || !self.nodes[from].dirty {
                continue;
            }
            while let Some(t) = self.nodes[from].beacon.poll_transmit(now, &mut buf) {
                self.sent += 1;
                let kind = match t.kind {
                    Kind::Advert => 0,
                    Kind::Query => 1,
                    Kind::Answer => 2,
                    _ => 3,
                };
                self.nodes[from].sent[kind] += 1;
                let bytes: Rc<[u8]> = Rc::from(&buf[..t.len]);
                let src_port = match t.kind {
                    Kind::Query => self.nodes[from].port,
                    Kind::Advert => BEACON_PORT,
                    _ => EXT_PORT,
                };
                let src = SocketAddr::from((self.nodes[from].ip, src_port));
                for (to, socket) in self.receivers(from, t.destination) {
                    let local = self.nodes[to].ip == self.nodes[from].ip;
                    if !local && self.rng.chance(self.loss_percent) {
                        continue;
                    }
                    let delay = if local {
                        0
                    } else {
                        1 + self.rng.below(self.max_delay_ms)
                    };
                    self.seq += 1;
                    self.flying.push(Reverse((
                        self.now + delay,
                        self.seq,
                        to,
                        socket,
                        src,
                        bytes.clone(),
                    )));
                }
            }
            let n = &mut self.nodes[from];
            n.beacon.drain_events();
            n.wake = n.beacon.poll_timeout().map(|t| t.as_millis());
            n.dirty = false;
        }
    }

    /// Advances the virtual clock to the next event, at most to `until`.
    fn step(&mut self, until: u64) {
        self.transmit();
        let next_timer = self
            .nodes
            .iter()
            .filter(|n| n.up)
            .filter_map(|n| n.wake)
            .min();
        let next_datagram = self.flying.peek().map(|Reverse((t, ..))| *t);
        let backlog = self
            .nodes
            .iter()
            .any(|n| n.up && !n.inbox.is_empty())
            .then_some(self.now + 1);
        let next = [next_timer, next_datagram, backlog, Some(until)]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        self.now = next.max(self.now + 1).min(until.max(self.now));
        while let Some(Reverse((t, ..))) = self.flying.peek() {
            if *t > self.now {
                break;
            }
            let Reverse((_, _, to, socket, src, bytes)) = self.flying.pop().unwrap();
            let n = &mut self.nodes[to];
            if !n.up {
                continue;
            }
            if self
                .rx_capacity
                .is_some_and(|c| n.queued[socket as usize] >= c)
            {
                n.overflowed += 1;
                continue;
            }
            n.queued[socket as usize] += 1;
            n.inbox.push_back((socket, src, bytes));
        }
        let now = self.ms();
        for n in self.nodes.iter_mut().filter(|n| n.up) {
            if n.reading.0 != self.now {
                n.reading = (self.now, 0);
            }
            while self.rx_per_ms.is_none_or(|r| n.reading.1 < r) {
                let Some((socket, src, bytes)) = n.inbox.pop_front() else {
                    break;
                };
                n.queued[socket as usize] -= 1;
                n.reading.1 += 1;
                n.beacon.handle_datagram(&bytes, src, now).unwrap();
                n.dirty = true;
            }
            if n.wake.is_some_and(|w| w <= self.now) {
                n.beacon.handle_timeout(now);
                n.dirty = true;
            }
        }
    }

    fn run_until(&mut self, until: u64) {
        let mut guard = 0;
        while self.now < until {
            self.step(until);
            guard += 1;
            assert!(guard < 1_000_000, "simulation did not advance");
        }
    }

    /// Runs until `node` knows `name` at `want`; returns the time taken.
    fn time_to_find(
        &mut self,
        node: usize,
        name: &str,
        want: SocketAddr,
        limit: u64,
    ) -> Option<u64> {
        let start = self.now;
        while self.now < start + limit {
            if self.nodes[node].beacon.lookup(name, self.ms()) == Some(want) {
                return Some(self.now - start);
            }
            self.step(start + limit);
        }
        None
    }
}

fn percentile(mut v: Vec<u64>, p: usize) -> u64 {
    v.sort_unstable();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

/// Issue 9: with 30 % loss, a fresh process discovers a running service
/// within 1 s at the 99th percentile (the README quotes this run's p99,
/// 510 ms). A lost query is asked again after 100, 200, 400 ms…; without
/// that retry path a lost query or answer waits for a periodic advert
/// (every 2 s, itself lossy): p99 1760 ms.
#[test]
fn discovery_survives_thirty_percent_loss() {
    let mut times = Vec::new();
    for seed in 0..300 {
        let mut sim = Sim::new(3, seed, 30, 20);
        sim.advertise(0, "svc", "0.0.0.0:6000".parse().unwrap());
        sim.run_until(5_000 + seed * 7 % 2_000);
        sim.restart(2);
        sim.query(2, "svc");
        let t = sim.time_to_find(2, "svc", "10.200.1.1:6000".parse().unwrap(), 30_000);
        times.push(t.expect("never discovered"));
    }
    let (p50, p99) = (percentile(times.clone(), 50), percentile(times.clone(), 99));
    println!(
        "30% loss: discovery p50 {p50} ms, p99 {p99} ms, max {} ms",
        times.iter().max().unwrap()
    );
    assert!(p99 <= 1_000, "p99 {p99} ms");
}

/// Without loss a lone query is answered at once: one round trip,
/// milliseconds, not the 2 s a Python beacon makes a fresh process wait
/// (nor the answer delay that shares an answer among a class's queries).
#[test]
fn lossless_discovery_is_one_round_trip() {
    // Each way takes 1 to 5 ms here.
    let most = 2 * 5;
    for seed in 0..50 {
        let mut sim = Sim::new(3, seed, 0, 5);
        sim.advertise(1, "svc", "0.0.0.0:6000".parse().unwrap());
        sim.run_until(3_000);
        sim.restart(0);
        sim.query(0, "svc");
        let t = sim
            .time_to_find(0, "svc", "10.200.1.2:6000".parse().unwrap(), 5_000)
            .unwrap();
        assert!(t <= most, "took {t} ms");
    }
}

/// Reordering and jitter: adverts for an old address may arrive after new
/// ones, yet every node settles on the latest address within a few rounds.
#[test]
fn jitter_and_reordering_settle_on_the_latest_address() {
    for seed in 0..100 {
        let mut sim = Sim::new(4, seed, 10, 400);
        sim.advertise(0, "svc", "0.0.0.0:6000".parse().unwrap());
        sim.run_until(3_000);
        assert!(sim.unadvertise(0, "svc"));
        sim.advertise(0, "svc", "0.0.0.0:7000".parse().unwrap());
        sim.run_until(13_000);
        for i in 1..4 {
            assert_eq!(
                sim.nodes[i].beacon.lookup("svc", sim.ms()),
                Some("10.200.1.1:7000".parse().unwrap()),
                "seed {seed} node {i}"
            );
        }
    }
}

/// A node that dies without a goodbye is forgotten once its ttl lapses; a
/// clean unadvertise is forgotten at once.
#[test]
fn dead_nodes_expire_and_goodbyes_are_immediate() {
    let mut sim = Sim::new(3, 7, 0, 5);
    sim.advertise(0, "dies", "0.0.0.0:6000".parse().unwrap());
    sim.advertise(1, "leaves", "0.0.0.0:6001".parse().unwrap());
    sim.run_until(4_000);
    assert!(sim.nodes[2].beacon.lookup("dies", sim.ms()).is_some());
    sim.nodes[0].up = false;
    let died = sim.now;
    sim.unadvertise(1, "leaves");
    sim.run_until(died + 50);
    assert_eq!(
        sim.nodes[2].beacon.lookup("leaves", sim.ms()),
        None,
        "goodbye was not immediate"
    );
    assert!(sim.nodes[2].beacon.lookup("dies", sim.ms()).is_some());
    sim.run_until(died + 20_001);
    assert_eq!(
        sim.nodes[2].beacon.lookup("dies", sim.ms()),
        None,
        "expired after ttl"
    );
}

/// Many restarts of the advertiser: every other node follows each new port.
#[test]
fn restarted_advertisers_are_followed() {
    let mut sim = Sim::new(3, 11, 20, 50);
    for round in 0..10u16 {
        sim.restart(0);
        let port = 6000 + round;
        sim.advertise(0, "svc", SocketAddr::from(([0, 0, 0, 0], port)));
        let want = SocketAddr::from(([10, 200, 1, 1], port));
        // The discoverer asks again, as `discover` does when its entry is stale.
        sim.query(2, "svc");
        let t = sim.time_to_find(2, "svc", want, 10_000);
        assert!(t.is_some_and(|t| t <= 3_000), "round {round}: {t:?}");
        sim.run_until(sim.now + 1_000);
    }
}

/// A default UDP receive buffer (212 992 bytes on Linux) holds 256 small
/// datagrams (measured); a program reads about 20 a millisecond while it
/// has a core of the machine's two.
const RX_CAPACITY: usize = 256;
const RX_PER_MS: usize = 20;

/// 21 hosts on one LAN, host 0 advertising "teacher" for a while (a
/// seed-dependent 3–5 s) before the class of hosts 1..=20 starts.
fn class_with_a_teacher(seed: u64) -> Sim {
    let mut sim = Sim::new(21, seed, 0, 2).with_receive_buffers(RX_CAPACITY, RX_PER_MS);
    sim.advertise(0, "teacher", "0.0.0.0:6000".parse().unwrap());
    sim.run_until(3_000 + seed * 37 % 2_000);
    sim
}

/// Issue 16: the whole class presses Run at once. One host advertises
/// `teacher`; 20 fresh programs on 20 other hosts ask for it in the same
/// millisecond. All find it, the slowest within 2.5× the fastest (answers
/// used to be rate-limited and the askers retried with back-off: 100, 190,
/// 400, 800 ms), and the advertiser answers them all with one broadcast
/// (or a few).
#[test]
fn a_whole_class_discovers_one_name_at_once() {
    let want: SocketAddr = "10.200.1.1:6000".parse().unwrap();
    let mut worst: (f64, u64) = (0.0, 0);
    let mut slowest = 0;
    for seed in 0..40 {
        let mut sim = class_with_a_teacher(seed);
        let answers_before = sim.nodes[0].sent[2];
        let start = sim.now;
        for i in 1..=20 {
            sim.restart(i);
            sim.query(i, "teacher");
        }
        let mut found = [None; 21];
        while sim.now < start + 5_000 && found[1..].iter().any(Option::is_none) {
            sim.step(start + 5_000);
            for (i, f) in found.iter_mut().enumerate().skip(1) {
                if f.is_none() && sim.nodes[i].beacon.lookup("teacher", sim.ms()) == Some(want) {
                    *f = Some(sim.now - start);
                }
            }
        }
        let times: Vec<u64> = found[1..]
            .iter()
            .map(|f| f.unwrap_or_else(|| panic!("seed {seed}: not found in 5 s: {found:?}")))
            .collect();
        let (min, max) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
        let ratio = max as f64 / min as f64;
        assert!(ratio <= 2.5, "seed {seed}: {min}..{max} ms: {times:?}");
        // One broadcast goes to three addresses (the subnet's, 255.255.255.255
        // and this host's loopback).
        sim.run_until(start + 1_000);
        let broadcasts = (sim.nodes[0].sent[2] - answers_before) / 3;
        assert!(
            broadcasts <= 2,
            "seed {seed}: {broadcasts} answer broadcasts"
        );
        if ratio > worst.0 {
            worst = (ratio, seed);
        }
        slowest = slowest.max(max);
    }
    println!(
        "20 simultaneous fresh discoverers: slowest/fastest at most {:.2} (seed {}), slowest {slowest} ms",
        worst.0, worst.1
    );
}

/// A class whose programs start over 30 ms (as a busy computer's scheduler
/// wakes them): the first query is answered at once, the rest share a few
/// broadcasts, one `answer_delay` (+ jitter) apart at most, so nobody waits
/// more than that plus a round trip after asking.
#[test]
fn a_class_starting_over_30_ms_shares_a_few_answers() {
    let config = Config::default();
    let most = (config.answer_delay + config.answer_jitter).as_millis() + 2 * 2;
    let want: SocketAddr = "10.200.1.1:6000".parse().unwrap();
    let mut worst = (0, 0);
    for seed in 0..40 {
        let mut sim = class_with_a_teacher(seed);
        let answers_before = sim.nodes[0].sent[2];
        let start = sim.now;
        let mut starts: Vec<(u64, usize)> = (1..=20).map(|i| (sim.rng.below(30), i)).collect();
        starts.sort();
        let mut asked = [None; 21];
        let mut found = [None; 21];
        let mut pending = starts.iter().peekable();
        while sim.now < start + 5_000 && found[1..].iter().any(Option::is_none) {
            while let Some(&(_, i)) = pending.next_if(|(at, _)| start + at <= sim.now) {
                sim.restart(i);
                sim.query(i, "teacher");
                asked[i] = Some(sim.now);
            }
            let next_start = pending.peek().map_or(start + 5_000, |(at, _)| start + at);
            sim.step(next_start);
            for i in 1..=20 {
                if let (Some(a), None) = (asked[i], found[i]) {
                    if sim.nodes[i].beacon.lookup("teacher", sim.ms()) == Some(want) {
                        found[i] = Some(sim.now - a);
                    }
                }
            }
        }
        let waits: Vec<u64> = found[1..]
            .iter()
            .map(|f| f.unwrap_or_else(|| panic!("seed {seed}: not found in 5 s: {found:?}")))
            .collect();
        let max = *waits.iter().max().unwrap();
        assert!(
            max <= most,
            "seed {seed}: waited {max} ms after asking: {waits:?}"
        );
        sim.run_until(start + 1_000);
        // One broadcast goes to three addresses; a name's answers are at
        // least `answer_delay` apart.
        let broadcasts = (sim.nodes[0].sent[2] - answers_before) / 3;
        assert!(
            broadcasts <= 1 + 30 / config.answer_delay.as_millis(),
            "seed {seed}: {broadcasts} answer broadcasts for 20 askers over 30 ms"
        );
        worst = worst.max((max, broadcasts));
    }
    println!(
        "20 discoverers over 30 ms: longest wait after asking {} ms, at most {} answer broadcasts",
        worst.0, worst.1
    );
}

/// Hosts and programs per host of the school scenarios: 400 names.
const HOSTS: usize = 40;
const PROGRAMS: usize = 10;

/// A school: 40 hosts run 10 advertising programs each, started at random
/// moments of a few seconds as time runs ([`School::run_until`]).
///
/// The 400 advertisers do not listen on port 9999 here: what they hear does
/// not change how they answer, and it keeps the simulation fast (every
/// periodic advert would otherwise be handled 800 times).
struct School {
    sim: Sim,
    /// Programs not started yet: when, node, name, port.
    starts: VecDeque<(u64, usize, String, u16)>,
    /// Whether each program asks for every name as it starts.
    each_asks: bool,
}

impl School {
    /// The programs start over `start_ms`; with `each_asks`, each asks for
    /// every name as it starts.
    fn new(seed: u64, start_ms: u64, each_asks: bool) -> School {
        let mut sim = Sim::new(0, seed, 0, 2).with_receive_buffers(RX_CAPACITY, RX_PER_MS);
        let mut starts = Vec::new();
        for host in 0..HOSTS {
            for p in 0..PROGRAMS {
                let i = sim.add(host, Box::new(Beacon::<8, 1>::new(Config::default())));
                sim.nodes[i].hears_beacon_port = false;
                let name = format!("school/h{host}/p{p}");
                starts.push((sim.rng.below(start_ms), i, name, 6000 + p as u16));
            }
        }
        starts.sort();
        School {
            sim,
            starts: starts.into(),
            each_asks,
        }
    }

    fn run_until(&mut self, until: u64) {
        while self.starts.front().is_some_and(|s| s.0 <= until) {
            let (at, i, name, port) = self.starts.pop_front().unwrap();
            self.sim.run_until(at);
            if self.each_asks {
                self.sim.query(i, "");
            }
            self.sim
                .advertise(i, &name, SocketAddr::from(([0, 0, 0, 0], port)));
        }
        self.sim.run_until(until);
    }

    /// A fresh `ls` (program `ls`, restarted on a new port) asks for every
    /// name: how many it lists 0.5 s and 1 s later.
    fn fresh_ls(&mut self, ls: usize) -> (usize, usize) {
        let beacon = Box::new(Beacon::<512, 1>::new(Config::default()));
        self.sim.reset_beacon(ls, Some(beacon));
        let start = self.sim.now;
        self.sim.query(ls, "");
        self.run_until(start + 500);
        let half = self.sim.nodes[ls].beacon.live(self.sim.ms());
        self.run_until(start + 1_000);
        (half, self.sim.nodes[ls].beacon.live(self.sim.ms()))
    }
}

/// A school: 40 hosts run 10 advertising programs each (400 names). A fresh
/// `ls` on another host asks for everything; it lists all 400 within 1 s,
/// every time, also when run again right after, and at least 95 % within
/// 0.5 s; its receive buffer never overflows (answers used to arrive in one
/// burst of 800 and overflow it).
#[test]
fn a_fresh_ls_lists_a_whole_school() {
    let mut at_half = Vec::new();
    for seed in 0..4 {
        // Programs start over two seconds, as a class's would.
        let mut school = School::new(seed, 2_000, false);
        school.run_until(2_500);
        let ls = school.sim.add(HOSTS, Box::new(B::new(Config::default())));
        // Run twice, the second right after the first: a new process on a
        // new port each time.
        for round in 0..2 {
            let (half, all) = school.fresh_ls(ls);
            println!("seed {seed} ls {round}: {half} names at 0.5 s, {all} at 1 s");
            assert_eq!(all, HOSTS * PROGRAMS, "seed {seed} ls {round}: at 1 s");
            assert!(
                half * 100 >= HOSTS * PROGRAMS * 95,
                "seed {seed} ls {round}: {half} at 0.5 s"
            );
            at_half.push(half);
        }
        assert_eq!(
            school.sim.nodes[ls].overflowed, 0,
            "seed {seed}: the ls's receive buffer overflowed"
        );
    }
    println!("400 names: at 0.5 s a fresh ls lists {at_half:?}");
}

/// A busy school: the 400 programs each ask for every name as they start
/// (over 3 s, as a loaded machine starts them; each asks three times, over
/// 1 s), and a fresh `ls` asks as the last one starts, and again right
/// after. Each advertiser answers only a few askers of every name one by
/// one; a crowd of them must not leave the `ls` unanswered (it used to list
/// 307 of 400 at 1 s, waiting for a free place among those few): it lists
/// all 400 within 1 s.
#[test]
fn a_late_ls_in_a_busy_school_lists_everything() {
    for seed in 0..2 {
        let mut school = School::new(seed, 3_000, true);
        let ls = school.sim.add(HOSTS, Box::new(B::new(Config::default())));
        school.run_until(3_000);
        for round in 0..2 {
            let at = school.sim.now;
            let (half, all) = school.fresh_ls(ls);
            println!("seed {seed}, ls at {at} ms: {half} names at 0.5 s, {all} at 1 s");
            assert_eq!(all, HOSTS * PROGRAMS, "seed {seed}, ls {round} at {at} ms");
        }
    }
}

/// A keyed beacon of class "blue whale"; with a wall clock (`Some`, Unix
/// ms at time zero) as a laptop has, or none, as a board without SNTP.
#[cfg(feature = "class-key")]
fn keyed(unix_ms_at_zero: Option<u64>) -> Box<dyn Program> {
    let mut b = B::new(Config::default());
    b.set_class_key(Some(networkzero_core::auth::ClassKey::from_passphrase(
        "blue whale",
    )));
    if let Some(unix_ms) = unix_ms_at_zero {
        b.set_wall_clock(Instant::from_millis(0), unix_ms);
    }
    Box::new(b)
}

/// Issue 17's sealed queries: a keyed board with no clock has sealed (so
/// sent) nothing, and no keyed program advertises anything to learn the
/// class's time from. A keyed program that only discovers finds it as fast
/// as an unkeyed one does through 30 % loss (p99 within 1 s, as
/// `discovery_survives_thirty_percent_loss`): its sealed query teaches the
/// board the time, the board answers at once, and a lost query or answer
/// is asked again. Without sealed queries it is never found.
#[cfg(feature = "class-key")]
#[test]
fn a_keyed_discoverer_finds_a_keyed_board_that_has_no_clock() {
    const T: u64 = 1_764_000_000_000;
    let mut times = Vec::new();
    for seed in 0..300 {
        let mut sim = Sim::new(2, seed, 30, 20);
        sim.reset_beacon(0, Some(keyed(None)));
        sim.advertise(0, "robot", "0.0.0.0:5555".parse().unwrap());
        sim.run_until(5_000 + seed * 7 % 2_000);
        assert_eq!(
            sim.nodes[0].sent, [0; 4],
            "seed {seed}: the board sent something"
        );
        sim.reset_beacon(1, Some(keyed(Some(T + seed * 1_000))));
        sim.query(1, "robot");
        let t = sim.time_to_find(1, "robot", "10.200.1.1:5555".parse().unwrap(), 30_000);
        times.push(t.unwrap_or_else(|| panic!("seed {seed}: never discovered")));
    }
    let (p50, p99) = (percentile(times.clone(), 50), percentile(times.clone(), 99));
    println!(
        "keyed, 30% loss: discovery p50 {p50} ms, p99 {p99} ms, max {} ms",
        times.iter().max().unwrap()
    );
    assert!(p99 <= 1_000, "p99 {p99} ms");
}
