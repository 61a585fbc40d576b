//! A networkzero node on smoltcp over a Linux TAP device: the `networkzero-smoltcp`
//! adapter exactly as firmware would run it (one poll loop, fixed storage), on std only
//! for the TAP device, the clock and printing. Used by `tests/tests/smoltcp_tap.rs`.
//!
//! ```text
//! smoltcp-node --tap TAP --ip 10.200.K.50 --gateway 10.200.K.254 [--seconds S]
//!              [--ask NAME JSON]... [--watch NAME PREFIX]...
//! ```
//!
//! It serves `robot` (TCP 5555, request/reply: the commands `"forward"`, `"left"`,
//! `"right"`, `"stop"` are answered `"ack"`, anything else `{"got": MESSAGE}`) and
//! publishes `robot-news` (TCP 5556, topic `distance`, data `{"cm": N}` every 300 ms).
//! Each `--ask` opens a requester to NAME, sends JSON once connected and prints the
//! reply; each `--watch` subscribes to NAME. Prints one line per event:
//! `READY`, `DISCOVERED name addr`, `REQUEST json`, `REPLY name json`,
//! `NEWS name topic json`, `DISCONNECTED name`. Exits after S seconds (default 60).
//! Run it only inside a network namespace (tests/run.sh, ../shared/sealed).

use std::os::fd::AsRawFd;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use networkzero_core::beacon;
use networkzero_core::node::Node;
use networkzero_smoltcp::{core_instant, Config, Sockets, Storage};
use nw0_tests::robot::{Robot, RobotArgs};
use smoltcp::iface::{self, Interface, SocketSet, SocketStorage};
use smoltcp::phy::{Medium, TunTapInterface};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Address};

const SLOTS: usize = 10;
type RobotNode = Node<SLOTS, 1024, 16>;

fn arg_error(msg: &str) -> ! {
    eprintln!("smoltcp-node: {msg}");
    std::process::exit(2);
}

fn main() {
    let args = RobotArgs::from_env("smoltcp-node", &["--tap", "--gateway"]);
    let tap = args
        .option("--tap")
        .unwrap_or_else(|| arg_error("--tap is required"))
        .to_string();
    let gateway: Option<Ipv4Address> = args.option("--gateway").and_then(|g| g.parse().ok());
    let (ip, seconds) = (args.ip, args.seconds);

    let mut device = TunTapInterface::new(&tap, Medium::Ethernet)
        .unwrap_or_else(|e| arg_error(&format!("cannot open tap {tap}: {e}")));
    let start = StdInstant::now();
    let clock = || Instant::from_micros(start.elapsed().as_micros() as i64);

    let octets = ip.octets();
    let mac = EthernetAddress([0x02, 0x4e, 0x57, octets[1], octets[2], octets[3]]);
    let mut config = iface::Config::new(mac.into());
    config.random_seed = u64::from(std::process::id());
    let mut iface = Interface::new(config, &mut device, clock());
    iface.update_ip_addrs(|addrs| {
        let _ = addrs.push(IpCidr::new(ip.into(), 24));
    });
    if let Some(gw) = gateway {
        let _ = iface.routes_mut().add_default_ipv4_route(gw);
    }

    // Fixed storage, as on firmware (boxed here only to keep it off the main stack).
    let mut node: Box<RobotNode> = Box::new(Node::new(beacon::Config::default()));
    let storage: &'static mut Storage<SLOTS> = Box::leak(Box::new(Storage::new()));
    let entries: &'static mut [SocketStorage<'static>] =
        Box::leak(Box::new([SocketStorage::EMPTY; Sockets::<SLOTS>::COUNT]));
    let mut set = SocketSet::new(entries);
    let config = Config {
        port_seed: std::process::id() as u16,
        ..Config::default()
    };
    let mut sockets = Sockets::new(storage, &mut set, &node, config)
        .unwrap_or_else(|e| arg_error(&format!("sockets: {e}")));

    let now = core_instant(clock());
    node.serve("robot", 5555, 3, now).expect("serve robot");
    let news = node
        .publish_on("robot-news", 5556, 2, now)
        .expect("publish robot-news");
    let mut robot = Robot::default();
    for (name, json) in args.asks {
        let id = node.requester(name.as_str(), now).expect("requester");
        robot.add_client(id, &name, Some(json));
    }
    for (name, prefix) in &args.watches {
        let id = node
            .subscriber(name.as_str(), prefix.as_bytes(), now)
            .expect("subscriber");
        robot.add_client(id, name, None);
    }
    println!("READY {ip}");

    let end = start + StdDuration::from_secs(seconds);
    let mut next_news = clock();
    while StdInstant::now() < end {
        let now = clock();
        sockets.poll(&mut node, &mut iface, &mut device, &mut set, now);
        if now >= next_news {
            robot.publish_distance(&mut node, news);
            next_news = now + Duration::from_millis(300);
        }
        robot.handle_events(&mut node);
        let now = clock();
        let at = sockets.poll_at(&node, &mut iface, &set, now);
        let mut delay = at.map_or(Duration::from_millis(50), |at| {
            if at <= now {
                Duration::ZERO
            } else {
                at - now
            }
        });
        delay = delay.min(Duration::from_millis(50));
        if next_news > now {
            delay = delay.min(next_news - now);
        }
        let _ = smoltcp::phy::wait(device.as_raw_fd(), Some(delay));
    }
    println!("DONE");
}
