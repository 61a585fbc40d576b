//! networkzero robot firmware for the Raspberry Pi Pico W.
//!
//! Joins Wi-Fi (`WIFI_SSID` / `WIFI_PASSWORD` at build time), gets an address
//! by DHCP, then advertises `robot` (commands `forward`/`left`/`right`/`stop`,
//! answered `"ack"`, driving two motors by PWM) and `robot/news` (`distance`
//! news from an analog sensor every 500 ms). See README.md for wiring,
//! building and flashing.
//!
//! Two Embassy tasks: cyw43's own runner (the chip's SPI bus, async), and
//! `main`, which after joining runs networkzero's poll-based node over
//! smoltcp through [`bridge`] — networkzero itself has no async.
#![no_std]
#![no_main]

mod bridge;
mod hw;
mod net;

#[cfg(feature = "baseline")]
#[path = "baseline.rs"]
mod app;
#[cfg(not(feature = "baseline"))]
#[path = "robot.rs"]
mod app;

use cyw43::PowerManagementMode;
use cyw43_pio::{PioSpi, DEFAULT_CLOCK_DIVIDER};
use defmt::{info, unwrap, warn};
use embassy_executor::Spawner;
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
    /// From the file `CYW43_NVRAM` named at build time (build.rs).
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

/// 64 bits from the ring oscillator's random bit: TCP sequence numbers and
/// ephemeral ports differ per boot.
fn seed() -> u64 {
    (0..8).fold(0, |acc, _| (acc << 8) | u64::from(RoscRng::next_u8()))
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
    let (mut driver, mut control, runner) =
        cyw43::new(state, pwr, spi, blobs::FIRMWARE, blobs::NVRAM).await;
    spawner.spawn(unwrap!(cyw43_task(runner)));
    control.init(blobs::CLM).await;
    control
        .set_power_management(PowerManagementMode::PowerSave)
        .await;
    net::join(&mut control).await;

    app::run(&mut driver, &mut control, motors, sensor, seed()).await
}
