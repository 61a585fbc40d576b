//! The robot: a networkzero node in the task's loop.
//!
//! Serves `robot` (REP, TCP 5555): the JSON strings `"forward"`, `"left"`,
//! `"right"`, `"stop"` drive the motors and get `"ack"`; anything else gets
//! `"unknown command: …"`. Publishes `robot/news` (PUB, TCP 5556): topic
//! `distance`, data the distance in cm (a JSON number), every 500 ms.
//! A request larger than the node's 256-byte buffers is answered by the
//! node with an error reply naming the limit, and logged here.

use embassy_net::Stack;
use embassy_time::{Duration, Instant};
use networkzero_core::beacon;
use networkzero_core::node::{Error, Event, Node};
use networkzero_core::payload::{self, Format};
use networkzero_embassy_net::{now, Config, Sockets, Storage};

use crate::board::{Board, Command};
use crate::link::Bringup;

/// TCP slots: two for commands (e.g. robot-remote and `nw0 command` at
/// once), one for a news subscriber.
pub const SLOTS: usize = 3;
const COMMAND_PEERS: usize = 2;
const NEWS_PEERS: usize = 1;
/// ZMTP buffer per direction per connection: the longest message part the
/// robot takes (its messages are a few bytes; the handshake needs under 128).
#[cfg(not(feature = "curve"))]
pub const BUF: usize = 256;
/// ZMTP buffer per direction per connection: CURVE's handshake needs 384.
#[cfg(feature = "curve")]
pub const BUF: usize = networkzero_core::zmtp::MIN_RX_BUFFER_CURVE;
/// TCP buffer per direction per socket: no message is longer than the ZMTP
/// buffer anyway.
pub const TCP_BUF: usize = 192;
/// UDP receive buffer per socket: the largest beacon datagram (under 300
/// bytes) or eight usual ones.
pub const UDP_BUF: usize = 512;
/// Names heard from other nodes that we keep.
pub const ADVERTS: usize = 4;

/// What a keyed robot runs with: its advert key (feature `class-key`) and,
/// with feature `curve`, the class's CURVE keys, derived once into a
/// `static`, and 32 bytes of entropy fresh at this boot (the RP2040's ROSC;
/// see networkzero_core's `node::keyed` docs for why it must not repeat).
#[cfg(feature = "class-key")]
pub struct ClassKeying {
    /// The class's CURVE keys.
    #[cfg(feature = "curve")]
    pub keys: &'static networkzero_core::zmtp::curve::ClassKeys,
    /// The class's advert key: adverts sealed once the class's time is
    /// learned (the board has no clock).
    pub advert: networkzero_core::auth::ClassKey,
    /// Fresh entropy for the connections' transient keys.
    #[cfg(feature = "curve")]
    pub entropy: [u8; 32],
}

/// The robot's node.
pub type RobotNode = Node<SLOTS, BUF, ADVERTS>;
/// Its socket buffers.
pub type RobotStorage = Storage<SLOTS, TCP_BUF, UDP_BUF>;
/// Sockets the robot takes from the stack's `StackResources`.
pub const SOCKETS: usize = Sockets::<SLOTS>::COUNT;

/// The commands' name and port.
pub const NAME: &str = "robot";
/// TCP port of [`NAME`].
pub const PORT: u16 = 5555;
/// The news' name.
pub const NEWS: &str = "robot/news";
/// TCP port of [`NEWS`].
pub const NEWS_PORT: u16 = 5556;
const NEWS_EVERY: Duration = Duration::from_millis(500);

const ACK: &[u8] = br#""ack""#;
const UNKNOWN: &[u8] = br#""unknown command: use forward, left, right or stop""#;

/// The command in a request: a JSON string, exactly as networkzero peers
/// (Python's `json.dumps`, nw0, the Rust crate) send these four words.
/// Matched as bytes, not decoded: a JSON decoder would cost the board more
/// flash than the rest of this file.
fn command(data: &[u8]) -> Option<Command> {
    let word = data.trim_ascii().strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    Command::parse(core::str::from_utf8(word).ok()?)
}

/// Runs the robot for ever on `stack` (which must have [`SOCKETS`] sockets
/// free) and `board`, with the node's socket buffers in `storage`.
pub async fn run<B: Board>(
    stack: Stack<'_>,
    board: &mut B,
    storage: &mut RobotStorage,
    #[cfg(feature = "class-key")] keying: ClassKeying,
) -> ! {
    let mut bringup = Bringup::new();
    let mut node: RobotNode = Node::new(beacon::Config::default());
    #[cfg(feature = "class-key")]
    {
        #[cfg(feature = "curve")]
        if let Err(e) = node.set_class_keys(Some(keying.keys), keying.entropy) {
            fail(board, "class keys", e).await
        }
        node.set_class_key(Some(keying.advert), now());
        info!("keyed: adverts wait for the class's time");
    }
    let started = Sockets::new(stack, storage, &node, Config::default())
        .map_err(|e| ("sockets", e))
        .and_then(|sockets| {
            let t = now();
            node.serve(NAME, PORT, COMMAND_PEERS, t)
                .map_err(|e| (NAME, e))?;
            let news = node
                .publish_on(NEWS, NEWS_PORT, NEWS_PEERS, t)
                .map_err(|e| (NEWS, e))?;
            Ok((sockets, news))
        });
    let (mut sockets, news) = match started {
        Ok(started) => started,
        Err((what, e)) => fail(board, what, e).await,
    };
    info!(
        "node {} B, socket buffers {} B",
        core::mem::size_of::<RobotNode>(),
        core::mem::size_of::<RobotStorage>()
    );
    info!(
        "serving {} (:{}) and {} (:{}), advertised once there is an address",
        NAME, PORT, NEWS, NEWS_PORT
    );

    let mut next_news = Instant::now() + NEWS_EVERY;
    loop {
        bringup.step(stack, board).await;
        sockets.poll(&mut node).await;
        while let Some(event) = node.poll_event() {
            match event {
                Event::Request { request, data, .. } => {
                    let reply = match command(data) {
                        Some(c) => {
                            info!("command {}", c);
                            board.drive(c);
                            ACK
                        }
                        None => {
                            warn!("not a command ({} bytes)", data.len());
                            UNKNOWN
                        }
                    };
                    if let Err(e) = node.reply(request, reply) {
                        warn!("reply: {}", e);
                    }
                }
                Event::RequestTooLarge { size, limit, .. } => warn!(
                    "a request of {} bytes is larger than this robot takes ({} bytes): answered with an error reply",
                    size, limit
                ),
                Event::Discovered { name, .. } => info!("heard of {}", name.as_str()),
                _ => {}
            }
        }

        if Instant::now() >= next_news {
            next_news = Instant::now() + NEWS_EVERY;
            let cm = board.distance_cm();
            let mut buf = [0u8; 12];
            if let Ok(n) = payload::encode(&cm, Format::Json, &mut buf) {
                let _ = node.publish(news, b"distance", buf.get(..n).unwrap_or(&[]));
            }
            // Sent on the next turn, at once.
            continue;
        }
        let until = bringup.next().map_or(next_news, |b| b.min(next_news));
        sockets.wait(&node, Some(until)).await;
    }
}

/// A start-up step failed (a build with an impossible configuration):
/// logged, and the LED blinks fast for ever.
async fn fail<B: Board>(board: &mut B, what: &str, e: Error) -> ! {
    warn!("{}: {}", what, e);
    loop {
        board.set_led(true).await;
        embassy_time::Timer::after_millis(100).await;
        board.set_led(false).await;
        embassy_time::Timer::after_millis(100).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_the_json_strings_peers_send() {
        assert_eq!(command(br#""forward""#), Some(Command::Forward));
        assert_eq!(command(b" \"stop\"\n"), Some(Command::Stop));
        for other in [
            &b"forward"[..],
            br#""jump""#,
            br#""left"#,
            b"",
            br#"["left"]"#,
        ] {
            assert_eq!(command(other), None, "{other:?}");
        }
    }
}
