//! The footprint baseline: the same bring-up (join, LED, DHCP from
//! embassy-net), motors and sensor, with a bare UDP protocol on port 9999
//! in place of networkzero: a datagram `forward`/`left`/`right`/`stop`
//! drives the motors (answered `ack`), `distance` is answered with the
//! reading in cm, anything else is echoed. The robot minus this is what
//! networkzero costs.

use core::future::poll_fn;
use core::task::Poll;

use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::Stack;
use embassy_time::{Duration, Instant, Timer};

use crate::board::{Board, Command};
use crate::link::Bringup;

/// Sockets the baseline takes from the stack.
pub const SOCKETS: usize = 1;

/// Runs the baseline for ever on `stack` and `board`.
pub async fn run<B: Board>(stack: Stack<'_>, board: &mut B) -> ! {
    let mut bringup = Bringup::new();
    let mut rx_meta = [PacketMetadata::EMPTY; 4];
    let mut tx_meta = [PacketMetadata::EMPTY; 4];
    let mut rx_data = [0u8; 512];
    let mut tx_data = [0u8; 512];
    let mut echo = UdpSocket::new(
        stack,
        &mut rx_meta,
        &mut rx_data,
        &mut tx_meta,
        &mut tx_data,
    );
    let _ = echo.bind(9999);
    info!("baseline: UDP commands/echo on 9999 once there is an address");
    let mut buf = [0u8; 256];
    loop {
        bringup.step(stack, board).await;
        let got = poll_fn(|cx| match echo.poll_recv_from(&mut buf, cx) {
            Poll::Ready(r) => Poll::Ready(r.ok()),
            Poll::Pending => Poll::Ready(None),
        })
        .await;
        if let Some((n, meta)) = got {
            let word = core::str::from_utf8(buf.get(..n).unwrap_or(&[])).unwrap_or("");
            let to = meta.endpoint;
            if let Some(c) = Command::parse(word.trim()) {
                board.drive(c);
                let _ = echo.send_to(b"ack", to).await;
            } else if word.trim() == "distance" {
                let mut text: heapless::String<12> = heapless::String::new();
                let _ = core::fmt::write(&mut text, format_args!("{}", board.distance_cm()));
                let _ = echo.send_to(text.as_bytes(), to).await;
            } else {
                let _ = echo.send_to(buf.get(..n).unwrap_or(&[]), to).await;
            }
            continue;
        }
        let until = bringup
            .next()
            .unwrap_or(Instant::now() + Duration::from_secs(1));
        let ready = echo.wait_recv_ready();
        let timer = Timer::at(until);
        embassy_futures::select::select(ready, timer).await;
    }
}
