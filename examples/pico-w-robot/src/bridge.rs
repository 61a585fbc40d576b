//! An async network driver as a smoltcp device, for a poll loop in one task.
//!
//! cyw43 hands out an `embassy_net_driver::Driver`: `receive`/`transmit` take
//! a `core::task::Context` and, when they have nothing (no frame received, no
//! room to send), register its waker so the driver wakes the task when that
//! changes. smoltcp's `phy::Device` has the same shape without the context.
//! [`Bridge`] pairs the driver with the context of the current poll of our
//! task, so `iface.poll` / `Node::poll` run synchronously and leave the
//! task's waker with the driver (embassy-net does the same internally).
//!
//! The loop is then: inside [`with_device`], poll the node; act on its events;
//! [`sleep_until`] its `poll_at` deadline, which ends early when the driver
//! wakes the task (frame in, room to send, link change).

use core::future::{poll_fn, Future};
use core::pin::Pin;
use core::task::{Context, Poll};

use embassy_futures::select::select;
use embassy_net_driver::{Checksum, Driver, LinkState, RxToken, TxToken};
use embassy_time::Timer;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// A driver and the context of the current poll: a `phy::Device`.
pub struct Bridge<'d, 'c, D: Driver> {
    driver: &'d mut D,
    cx: Option<&'d mut Context<'c>>,
    /// The last `transmit` found the driver's TX queue full.
    pub tx_exhausted: bool,
}

impl<'d, 'c, D: Driver> Bridge<'d, 'c, D> {
    /// Without a context: only for `capabilities` (e.g. `Interface::new`);
    /// it neither receives nor transmits.
    pub fn detached(driver: &'d mut D) -> Self {
        Bridge {
            driver,
            cx: None,
            tx_exhausted: false,
        }
    }

    /// The driver's link state (registers the waker for a change).
    pub fn link_up(&mut self) -> bool {
        match self.cx.as_deref_mut() {
            Some(cx) => self.driver.link_state(cx) == LinkState::Up,
            None => false,
        }
    }
}

/// Runs `f` with the driver as a `phy::Device` bound to the current task's
/// context; returns `f`'s result and whether the driver's TX queue was full.
pub async fn with_device<D: Driver, R>(
    driver: &mut D,
    f: impl FnOnce(&mut Bridge<'_, '_, D>) -> R,
) -> (R, bool) {
    let mut f = Some(f);
    poll_fn(|cx| {
        let mut device = Bridge {
            driver: &mut *driver,
            cx: Some(cx),
            tx_exhausted: false,
        };
        match f.take() {
            Some(f) => {
                let r = f(&mut device);
                Poll::Ready(Some((r, device.tx_exhausted)))
            }
            // Polled again after Ready: cannot happen with `.await`.
            None => Poll::Ready(None),
        }
    })
    .await
    .unwrap_or_else(|| defmt::panic!("with_device polled after completion"))
}

/// Pending on its first poll, ready on the next: the task was woken (by the
/// driver, whose waker [`with_device`] registered, or anything else).
struct Woken(bool);

impl Future for Woken {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

/// Sleeps until `deadline` or until the task is woken, whichever is first.
/// A wake that came while the task ran (after [`with_device`]) is not lost:
/// the executor polls the task again at once.
pub async fn sleep_until(deadline: Instant) {
    let micros = u64::try_from(deadline.total_micros()).unwrap_or(0);
    let at = embassy_time::Instant::from_micros(micros);
    if at <= embassy_time::Instant::now() {
        return;
    }
    select(Timer::at(at), Woken(false)).await;
}

/// smoltcp's clock from embassy-time's.
pub fn now() -> Instant {
    Instant::from_micros(embassy_time::Instant::now().as_micros() as i64)
}

impl<D: Driver> phy::Device for Bridge<'_, '_, D> {
    type RxToken<'a>
        = Rx<D::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = Tx<D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let cx = self.cx.as_deref_mut()?;
        self.driver.receive(cx).map(|(rx, tx)| (Rx(rx), Tx(tx)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let cx = self.cx.as_deref_mut()?;
        let token = self.driver.transmit(cx).map(Tx);
        self.tx_exhausted = token.is_none();
        token
    }

    fn capabilities(&self) -> DeviceCapabilities {
        fn convert(c: Checksum) -> phy::Checksum {
            match c {
                Checksum::Both => phy::Checksum::Both,
                Checksum::Tx => phy::Checksum::Tx,
                Checksum::Rx => phy::Checksum::Rx,
                Checksum::None => phy::Checksum::None,
            }
        }
        let caps = self.driver.capabilities();
        let mut smol = DeviceCapabilities::default();
        smol.medium = Medium::Ethernet;
        smol.max_transmission_unit = caps.max_transmission_unit;
        smol.max_burst_size = caps.max_burst_size;
        smol.checksum.ipv4 = convert(caps.checksum.ipv4);
        smol.checksum.udp = convert(caps.checksum.udp);
        smol.checksum.tcp = convert(caps.checksum.tcp);
        smol.checksum.icmpv4 = convert(caps.checksum.icmpv4);
        smol
    }
}

/// A received frame.
pub struct Rx<T>(T);

impl<T: RxToken> phy::RxToken for Rx<T> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        self.0.consume(|buf| f(buf))
    }
}

/// Room for one frame to send.
pub struct Tx<T>(T);

impl<T: TxToken> phy::TxToken for Tx<T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.0.consume(len, f)
    }
}
