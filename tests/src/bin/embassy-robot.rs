//! The Pico W robot's task on a Linux host: `pico_w_robot_task::robot::run`, the very
//! source the firmware runs, on Embassy's std executor and embassy-net over a TAP
//! device, with DHCP from embassy-net. Used by `tests/tests/embassy_robot.rs`.
//!
//! ```text
//! embassy-robot --tap TAP [--seconds S] [--baseline]
//! ```
//!
//! The board is simulated: motor commands are printed (`MOTORS forward`), the LED too
//! (`LED on`/`LED off`), the distance sensor counts 10…80 cm. The "cable" is the TAP
//! device's place on the LAN's bridge: while `TAP` has a master (`ip link set TAP master
//! br0`) the link is up, and detaching it (`ip link set TAP nomaster`) is a link loss,
//! seen as a Wi-Fi chip reports one: embassy-net drops its address and asks DHCP again
//! once the link is back. Joining waits up to 10 s for the cable.
//!
//! Logs go to stdout, one line each: `INFO …`, `WARN …`. Exits after S seconds
//! (default 120) with `DONE`. Run it only inside a network namespace (tests/run.sh,
//! ../shared/sealed), where it opens TAP.

use std::path::PathBuf;
use std::task::Context;

use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_net_driver::{Capabilities, Driver, HardwareAddress, LinkState};
use embassy_net_tuntap::TunTapDevice;
use embassy_time::{with_timeout, Duration, Timer};
use pico_w_robot_task::robot::{self, RobotStorage};
use pico_w_robot_task::{baseline, Board, Command, JoinError};
use static_cell::StaticCell;

/// How often the "cable" is looked at: a PHY's link poll.
const CABLE_POLL: Duration = Duration::from_millis(100);
/// How long a join waits for the cable.
const JOIN_WAIT: Duration = Duration::from_secs(10);
/// The robot's sockets, DHCP's, and the baseline's.
const SOCKETS: usize = robot::SOCKETS + 1 + baseline::SOCKETS;

/// A TAP device whose link is up while it sits on a bridge (see the module docs).
struct Cable<D> {
    inner: D,
    master: PathBuf,
    up: bool,
    check: Timer,
}

impl<D: Driver> Cable<D> {
    fn new(inner: D, tap: &str) -> Self {
        let master = PathBuf::from("/sys/class/net").join(tap).join("master");
        let up = master.exists();
        Cable {
            inner,
            master,
            up,
            check: Timer::after(CABLE_POLL),
        }
    }
}

impl<D: Driver> Driver for Cable<D> {
    type RxToken<'a>
        = D::RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = D::TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, cx: &mut Context) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if self.up {
            self.inner.receive(cx)
        } else {
            None
        }
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<Self::TxToken<'_>> {
        if self.up {
            self.inner.transmit(cx)
        } else {
            None
        }
    }

    fn link_state(&mut self, cx: &mut Context) -> LinkState {
        use std::future::Future;
        use std::pin::Pin;
        if Pin::new(&mut self.check).poll(cx).is_ready() {
            self.up = self.master.exists();
            self.check = Timer::after(CABLE_POLL);
            let _ = Pin::new(&mut self.check).poll(cx); // wakes the stack for the next look
        }
        if self.up {
            LinkState::Up
        } else {
            LinkState::Down
        }
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn hardware_address(&self) -> HardwareAddress {
        self.inner.hardware_address()
    }
}

/// The simulated board: prints what a real one would do.
struct HostBoard {
    stack: Stack<'static>,
    cm: u32,
}

impl Board for HostBoard {
    async fn join(&mut self) -> Result<(), JoinError> {
        with_timeout(JOIN_WAIT, self.stack.wait_link_up())
            .await
            .map_err(|_| JoinError::TimedOut)
    }

    async fn set_led(&mut self, on: bool) {
        println!("LED {}", if on { "on" } else { "off" });
    }

    fn drive(&mut self, command: Command) {
        println!("MOTORS {command}");
    }

    fn distance_cm(&mut self) -> u32 {
        self.cm = if self.cm >= 80 { 10 } else { self.cm + 1 };
        self.cm
    }
}

/// `log` to stdout, a line each (`INFO …`), for the test to read.
struct Stdout;

impl log::Log for Stdout {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) && record.target().starts_with("pico_w_robot_task") {
            println!("{} {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

static LOGGER: Stdout = Stdout;

fn arg_error(msg: &str) -> ! {
    eprintln!("embassy-robot: {msg}");
    std::process::exit(2);
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Cable<TunTapDevice>>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn stop_after(seconds: u64) {
    Timer::after_secs(seconds).await;
    println!("DONE");
    std::process::exit(0);
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let mut args = std::env::args().skip(1);
    let (mut tap, mut seconds, mut run_baseline) = (None, 120, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tap" => tap = args.next(),
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| arg_error("bad --seconds"))
            }
            "--baseline" => run_baseline = true,
            other => arg_error(&format!("unknown argument {other}")),
        }
    }
    let tap = tap.unwrap_or_else(|| arg_error("--tap TAP is required"));
    log::set_logger(&LOGGER).unwrap_or_else(|_| arg_error("logger"));
    log::set_max_level(log::LevelFilter::Info);

    let mut device =
        TunTapDevice::new(&tap).unwrap_or_else(|e| arg_error(&format!("cannot open {tap}: {e}")));
    let pid = std::process::id().to_be_bytes();
    device.set_hardware_address([0x02, 0x4e, 0x57, pid[1], pid[2], pid[3]]);
    let cable = Cable::new(device, &tap);

    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let config = embassy_net::Config::dhcpv4(Default::default());
    let seed = u64::from(std::process::id()) << 16 ^ 0x6e77_305f_726f_626f;
    let (stack, runner) =
        embassy_net::new(cable, config, RESOURCES.init(StackResources::new()), seed);
    spawner.spawn(net_task(runner).unwrap_or_else(|_| arg_error("spawn net_task")));
    spawner.spawn(stop_after(seconds).unwrap_or_else(|_| arg_error("spawn stop_after")));

    let mut board = HostBoard { stack, cm: 9 };
    println!("READY {tap}");
    if run_baseline {
        baseline::run(stack, &mut board).await
    }
    static STORAGE: StaticCell<RobotStorage> = StaticCell::new();
    robot::run(stack, &mut board, STORAGE.init(RobotStorage::new())).await
}
