//! networkzero robot firmware for the Raspberry Pi Pico W.
//!
//! Joins Wi-Fi (`WIFI_SSID` / `WIFI_PASSWORD` at build time), gets an address
//! by DHCP (embassy-net), then advertises `robot` (commands `forward`/`left`/
//! `right`/`stop`, answered `"ack"`, driving two motors by PWM) and
//! `robot/news` (`distance` news from an analog sensor every 500 ms). The LED
//! shows how far the bring-up got. See README.md for wiring, building and
//! flashing.
//!
//! Three Embassy tasks: cyw43's runner (the chip's SPI bus), embassy-net's
//! runner (the network stack, shared by everything on the board), and
//! `main`, which runs the robot task (`pico_w_robot_task::robot::run`, the
//! same source CI runs on a Linux host) on this board ([`board`]).
#![no_std]
#![no_main]

mod board;
mod hw;

use cyw43::PowerManagementMode;
use cyw43_pio::{PioSpi, DEFAULT_CLOCK_DIVIDER};
use defmt::{info, unwrap, warn};
use embassy_executor::Spawner;
use embassy_net::StackResources;
use embassy_rp::clocks::RoscRng;
use embassy_rp::gpio::{Level, Output};
use embassy_rp::peripherals::{DMA_CH0, PIO0};
use embassy_rp::pio::{self, Pio};
use embassy_rp::{bind_interrupts, dma};
use static_cell::StaticCell;
use {defmt_rtt as _, panic_probe as _};

bind_interrupts!(struct Irqs {
    PIO0_IRQ_0 => pio::InterruptHandler<PIO0>;
    DMA_IRQ_0 => dma::InterruptHandler<DMA_CH0>;
});

/// The CYW43439's firmware, country table (CLM) and board NVRAM.
#[cfg(not(feature = "placeholder-blobs"))]
mod blobs {
    use cyw43::{Aligned, A4};
    pub static FIRMWARE: &Aligned<A4, [u8]> = &Aligned(*cyw43_firmware::CYW43_43439A0);
    pub static CLM: &[u8] = cyw43_firmware::CYW43_43439A0_CLM;
    /// From the file `CYW43_NVRAM` named at build time, checked by build.rs.
    pub static NVRAM: &Aligned<A4, [u8]> =
        &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/nvram.bin")));
    pub const PLACEHOLDER: bool = false;
}

/// Empty blobs (feature `placeholder-blobs`): builds without the NVRAM file,
/// for CI and size measurements; Wi-Fi cannot come up with these.
#[cfg(feature = "placeholder-blobs")]
mod blobs {
    use cyw43::{Aligned, A4};
    pub static FIRMWARE: &Aligned<A4, [u8]> = &Aligned([]);
    pub static CLM: &[u8] = &[];
    pub static NVRAM: &Aligned<A4, [u8]> = &Aligned([]);
    pub const PLACEHOLDER: bool = true;
}

type Spi = PioSpi<'static, PIO0, 0>;

#[embassy_executor::task]
async fn cyw43_task(runner: cyw43::Runner<'static, cyw43::SpiBus<Output<'static>, Spi>>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, cyw43::NetDriver<'static>>) -> ! {
    runner.run().await
}

/// Sockets the app takes from embassy-net, plus one for DHCP.
#[cfg(not(feature = "baseline"))]
const SOCKETS: usize = pico_w_robot_task::robot::SOCKETS + 1;
#[cfg(feature = "baseline")]
const SOCKETS: usize = pico_w_robot_task::baseline::SOCKETS + 1;

/// 64 bits from the ring oscillator's random bit: TCP sequence numbers and
/// ephemeral ports differ per boot.
fn seed() -> u64 {
    (0..8).fold(0, |acc, _| (acc << 8) | u64::from(RoscRng::next_u8()))
}

/// The class keys from the passphrase given at build time: the advert key
/// and, with feature `curve`, the CURVE keys (derived once into a static) and
/// 32 bytes of the ROSC's random bits, fresh at each boot.
#[cfg(all(feature = "class-key", not(feature = "baseline")))]
fn keying() -> pico_w_robot_task::robot::ClassKeying {
    use networkzero_core::auth::ClassKey;
    #[cfg(feature = "curve")]
    use networkzero_core::zmtp::curve::ClassKeys;
    const CLASS_KEY: &str = env!(
        "NW0_CLASS_KEY",
        "the keyed builds (features class-key, curve) take the class passphrase from NW0_CLASS_KEY"
    );
    #[cfg(feature = "curve")]
    static KEYS: StaticCell<ClassKeys> = StaticCell::new();
    pico_w_robot_task::robot::ClassKeying {
        #[cfg(feature = "curve")]
        keys: KEYS.init(ClassKeys::from_passphrase(CLASS_KEY)),
        advert: ClassKey::from_passphrase(CLASS_KEY),
        #[cfg(feature = "curve")]
        entropy: core::array::from_fn(|_| RoscRng::next_u8()),
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_rp::init(Default::default());
    info!("pico-w-robot {=str}", env!("CARGO_PKG_VERSION"));
    if blobs::PLACEHOLDER {
        warn!(
            "built with placeholder CYW43 blobs (feature placeholder-blobs): Wi-Fi will not start"
        );
    }
    let motors = hw::Motors::new(
        p.PWM_SLICE0,
        p.PIN_16,
        p.PIN_17,
        p.PWM_SLICE1,
        p.PIN_18,
        p.PIN_19,
    );
    let sensor = hw::Sensor::new(p.ADC, p.PIN_26);

    // The Pico W's CYW43439 on its fixed pins: WL_ON GP23, SPI DIO GP24,
    // CS GP25, CLK GP29, driven by PIO0 state machine 0 with DMA channel 0.
    let pwr = Output::new(p.PIN_23, Level::Low);
    let cs = Output::new(p.PIN_25, Level::High);
    let mut pio = Pio::new(p.PIO0, Irqs);
    let spi = PioSpi::new(
        &mut pio.common,
        pio.sm0,
        DEFAULT_CLOCK_DIVIDER,
        pio.irq0,
        cs,
        p.PIN_24,
        p.PIN_29,
        dma::Channel::new(p.DMA_CH0, Irqs),
    );
    static STATE: StaticCell<cyw43::State> = StaticCell::new();
    let state = STATE.init(cyw43::State::new());
    let (net_device, mut control, runner) =
        cyw43::new(state, pwr, spi, blobs::FIRMWARE, blobs::NVRAM).await;
    spawner.spawn(unwrap!(cyw43_task(runner)));
    control.init(blobs::CLM).await;
    control
        .set_power_management(PowerManagementMode::PowerSave)
        .await;

    // The board's one network stack, DHCP included.
    static RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let config = embassy_net::Config::dhcpv4(Default::default());
    let (stack, runner) = embassy_net::new(
        net_device,
        config,
        RESOURCES.init(StackResources::new()),
        seed(),
    );
    spawner.spawn(unwrap!(net_task(runner)));

    let mut board = board::PicoBoard {
        control,
        motors,
        sensor,
    };
    #[cfg(not(feature = "baseline"))]
    {
        use pico_w_robot_task::robot::{self, RobotStorage};
        static STORAGE: StaticCell<RobotStorage> = StaticCell::new();
        robot::run(
            stack,
            &mut board,
            STORAGE.init(RobotStorage::new()),
            #[cfg(feature = "class-key")]
            keying(),
        )
        .await
    }
    #[cfg(feature = "baseline")]
    pico_w_robot_task::baseline::run(stack, &mut board).await
}
