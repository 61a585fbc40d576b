//! The robot: a networkzero node in one task's poll loop.
//!
//! Serves `robot` (REP, TCP 5555): the JSON strings `"forward"`, `"left"`,
//! `"right"`, `"stop"` drive the motors and get `"ack"`. Publishes
//! `robot/news` (PUB, TCP 5556): topic `distance`, data the distance in cm
//! (a JSON number), every 500 ms.

use cyw43::Control;
use defmt::{info, warn};
use embassy_net_driver::Driver;
use networkzero_core::payload::{self, Format};
use networkzero_smoltcp::{Config as NodeConfig, Event, Node, Storage};
use smoltcp::iface::{SocketSet, SocketStorage};
use smoltcp::time::Duration;

use crate::bridge::{self, with_device};
use crate::hw::{Command, Motors, Sensor};
use crate::net::{self, Net};

/// TCP sockets: two for commands (e.g. robot-remote and `nw0 command` at
/// once), one for a news subscriber.
const SLOTS: usize = 3;
const COMMAND_PEERS: usize = 2;
const NEWS_PEERS: usize = 1;
/// ZMTP buffer per direction per connection: the longest message part (our
/// messages are a few bytes; the handshake needs under 128).
const BUF: usize = 256;
/// smoltcp TCP buffer per direction per socket: no message is longer than
/// the ZMTP buffer anyway.
const TCP_BUF: usize = 256;
/// smoltcp UDP receive buffer per socket: the largest beacon datagram (under
/// 300 bytes) or eight usual ones; the default is 2048.
const UDP_BUF: usize = 512;
/// Names heard from other nodes that we keep.
const ADVERTS: usize = 4;
type Robot = Node<SLOTS, BUF, ADVERTS>;

const NAME: &str = "robot";
const PORT: u16 = 5555;
const NEWS: &str = "robot/news";
const NEWS_PORT: u16 = 5556;
const NEWS_EVERY: Duration = Duration::from_millis(500);

const ACK: &[u8] = br#""ack""#;
const UNKNOWN: &[u8] = br#""unknown command: use forward, left, right or stop""#;

fn command(data: &[u8]) -> Option<Command> {
    let mut scratch = [0u8; 16];
    let word: heapless::String<16> = payload::decode(data, &mut scratch).ok()?;
    Command::parse(&word)
}

pub async fn run<D: Driver>(
    driver: &mut D,
    control: &mut Control<'_>,
    mut motors: Motors<'_>,
    mut sensor: Sensor<'_>,
    seed: u64,
) -> ! {
    // All of this lives in the main task's future: static RAM, no heap.
    let mut storage: Storage<SLOTS, TCP_BUF, UDP_BUF> = Storage::new();
    let mut entries = [SocketStorage::EMPTY; Robot::SOCKETS + 1];
    let mut sockets = SocketSet::new(&mut entries[..]);
    let mut net = Net::new(driver, &mut sockets, seed);
    let config = NodeConfig {
        port_seed: seed as u16,
        ..NodeConfig::default()
    };
    let mut node: Robot = match Node::new(&mut storage, &mut sockets, config) {
        Ok(node) => node,
        Err(e) => defmt::panic!("node: {}", e),
    };
    let now = bridge::now();
    if let Err(e) = node.serve(NAME, PORT, COMMAND_PEERS, now) {
        defmt::panic!("serve {=str}: {}", NAME, e);
    }
    let news = match node.publish_on(NEWS, NEWS_PORT, NEWS_PEERS, now) {
        Ok(id) => id,
        Err(e) => defmt::panic!("publish_on {=str}: {}", NEWS, e),
    };
    info!(
        "node {=usize} B, socket buffers {=usize} B",
        core::mem::size_of::<Robot>(),
        core::mem::size_of::<Storage<SLOTS, TCP_BUF, UDP_BUF>>()
    );
    info!(
        "advertising {=str} (:{=u16}) and {=str} (:{=u16}) once DHCP is done",
        NAME, PORT, NEWS, NEWS_PORT
    );

    let mut next_news = now + NEWS_EVERY;
    loop {
        let now = bridge::now();
        let (link_up, tx_exhausted) = with_device(driver, |device| {
            node.poll(&mut net.iface, device, &mut sockets, now);
            device.link_up()
        })
        .await;
        let mut again = net.dhcp(&mut sockets);
        if !link_up {
            motors.drive(Command::Stop);
        }
        net.keep_link(link_up, now, control, &mut sockets).await;

        while let Some(event) = node.poll_event() {
            match event {
                Event::Request { request, data, .. } => {
                    let reply = match command(data) {
                        Some(c) => {
                            info!("command {}", c);
                            motors.drive(c);
                            ACK
                        }
                        None => {
                            warn!("not a command: {=[u8]:a}", data);
                            UNKNOWN
                        }
                    };
                    if let Err(e) = node.reply(request, reply) {
                        warn!("reply: {}", e);
                    }
                    again = true;
                }
                Event::Discovered { name, .. } => info!("heard of {=str}", name.as_str()),
                _ => {}
            }
        }

        if now >= next_news {
            next_news = now + NEWS_EVERY;
            let cm = sensor.distance_cm();
            let mut buf = [0u8; 12];
            if let Ok(n) = payload::encode(&cm, Format::Json, &mut buf) {
                if node.publish(news, b"distance", &buf[..n]).unwrap_or(0) > 0 {
                    again = true;
                }
            }
        }

        if !again {
            let at = node
                .poll_at(&mut net.iface, &sockets, now)
                .map_or(next_news, |at| at.min(next_news));
            net::wait(at, now, tx_exhausted).await;
        }
    }
}
