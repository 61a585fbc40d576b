//! What CURVE costs RP2040 firmware, measured the way the Pico W robot would
//! pay it: the robot's three server connections (two command peers and one
//! news peer, examples/pico-w-robot/src/robot.rs) live in static RAM and are
//! driven through input, events, a reply, output and timers. Built without
//! features they speak NULL with the robot's 256-byte buffers; with
//! `class-key` the advert key is also derived from a passphrase at boot (what
//! a keyed robot needs to seal its adverts); with `curve` the connections are
//! CURVE servers with the class's CURVE keys and buffers of
//! `MIN_RX_BUFFER_CURVE` (INITIATE must fit).
//!
//! The input is opaque (`black_box`), so the compiler keeps every path a real
//! network could reach. The image does not run anything useful: it exists to
//! be measured by ./footprint.sh.
#![no_std]
#![no_main]
#![deny(unsafe_code)] // cortex-m's singleton! allows it inside its own expansion

use core::hint::black_box;

use cortex_m::singleton;
use cortex_m_rt::entry;
#[cfg(feature = "class-key")]
use networkzero_core::auth::ClassKey;
#[cfg(feature = "curve")]
use networkzero_core::zmtp::{curve::ClassKeys, Security, MIN_RX_BUFFER_CURVE};
use networkzero_core::zmtp::{Config, Connection, Event, Role};
use networkzero_core::{Duration, Instant};

/// The class passphrase (from the firmware's configuration).
#[cfg(feature = "class-key")]
const PASSPHRASE: &str = "class passphrase";

/// The robot's connection slots.
const SLOTS: usize = 3;
/// Receive and output buffer per connection.
#[cfg(not(feature = "curve"))]
const BUF: usize = 256;
#[cfg(feature = "curve")]
const BUF: usize = MIN_RX_BUFFER_CURVE;
/// As core::node's connections.
type Conn = Connection<[u8; BUF], [u8; BUF], 128>;

#[entry]
fn main() -> ! {
    let slots = singleton!(: [Option<Conn>; SLOTS] = [None, None, None]).unwrap_or_else(|| halt());
    #[cfg(feature = "class-key")]
    black_box(
        singleton!(: ClassKey = ClassKey::from_passphrase(black_box(PASSPHRASE)))
            .unwrap_or_else(|| halt()),
    );
    #[cfg(feature = "curve")]
    let keys: &'static ClassKeys =
        singleton!(: ClassKeys = ClassKeys::from_passphrase(black_box(PASSPHRASE)))
            .unwrap_or_else(|| halt());
    let mut round: u64 = 0;
    loop {
        let now = Instant::from_millis(round);
        for (i, slot) in slots.iter_mut().enumerate() {
            let mut cfg = Config::new(if i < 2 { Role::Rep } else { Role::Pub });
            cfg.heartbeat_interval = Some(Duration::from_secs(5));
            #[cfg(feature = "curve")]
            {
                cfg.security = Security::CurveServer(&keys.server);
            }
            let seed = black_box([round as u8; 32]);
            let conn = match slot {
                Some(c) if !c.is_closed() => c,
                _ => match Connection::with_subscription_store_and_seed(
                    cfg, [0; BUF], [0; BUF], now, seed,
                ) {
                    Ok(c) => slot.insert(c),
                    Err(_) => halt(),
                },
            };
            let input = black_box([round as u8; 600]);
            if conn.handle_input(&input, now).is_ok() {
                while let Some(e) = conn.poll_event() {
                    if let Event::Message(p) = e {
                        black_box(p.data);
                    }
                }
            }
            let _ = black_box(conn.send(&[b"\"ack\""]));
            let mut out = [0u8; 128];
            let n = conn.poll_output(&mut out);
            black_box(&out[..n]);
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                let _ = conn.handle_timeout(now);
            }
        }
        round = black_box(round + 1);
    }
}

fn halt() -> ! {
    loop {
        cortex_m::asm::nop();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    halt()
}
