//! The footprint baseline (feature `baseline`): the same Wi-Fi bring-up,
//! interface, DHCP, bridge, poll loop and hardware, with a bare UDP protocol
//! on port 9999 in place of networkzero: a datagram `forward`/`left`/`right`/
//! `stop` drives the motors (answered `ack`), `distance` is answered with the
//! reading in cm, anything else is echoed. `robot` minus this is what
//! networkzero costs.

use cyw43::Control;
use defmt::info;
use embassy_net_driver::Driver;
use smoltcp::iface::{SocketSet, SocketStorage};
use smoltcp::socket::udp;

use crate::bridge::{self, with_device};
use crate::hw::{Command, Motors, Sensor};
use crate::net::{self, Net};

pub async fn run<D: Driver>(
    driver: &mut D,
    control: &mut Control<'_>,
    mut motors: Motors<'_>,
    mut sensor: Sensor<'_>,
    seed: u64,
) -> ! {
    let mut rx_meta = [udp::PacketMetadata::EMPTY; 4];
    let mut tx_meta = [udp::PacketMetadata::EMPTY; 4];
    let mut rx_data = [0u8; 512];
    let mut tx_data = [0u8; 512];
    let mut entries = [SocketStorage::EMPTY; 2];
    let mut sockets = SocketSet::new(&mut entries[..]);
    let mut net = Net::new(driver, &mut sockets, seed);
    let mut echo = udp::Socket::new(
        udp::PacketBuffer::new(&mut rx_meta[..], &mut rx_data[..]),
        udp::PacketBuffer::new(&mut tx_meta[..], &mut tx_data[..]),
    );
    let _ = echo.bind(9999);
    let echo = sockets.add(echo);
    info!("baseline: UDP commands/echo on 9999 once DHCP is done");
    let mut buf = [0u8; 256];
    loop {
        let now = bridge::now();
        let (link_up, tx_exhausted) = with_device(driver, |device| {
            let _ = net.iface.poll(now, device, &mut sockets);
            device.link_up()
        })
        .await;
        let mut again = net.dhcp(&mut sockets);
        if !link_up {
            motors.drive(Command::Stop);
        }
        net.keep_link(link_up, now, control, &mut sockets).await;
        let socket = sockets.get_mut::<udp::Socket>(echo);
        if let Ok((n, meta)) = socket.recv_slice(&mut buf) {
            let word = core::str::from_utf8(&buf[..n]).unwrap_or("").trim();
            if let Some(c) = Command::parse(word) {
                motors.drive(c);
                let _ = socket.send_slice(b"ack", meta.endpoint);
            } else if word == "distance" {
                let mut text: heapless::String<12> = heapless::String::new();
                let _ = core::fmt::write(&mut text, format_args!("{}", sensor.distance_cm()));
                let _ = socket.send_slice(text.as_bytes(), meta.endpoint);
            } else {
                let _ = socket.send_slice(&buf[..n], meta.endpoint);
            }
            again = true;
        }
        if !again {
            let at = net
                .iface
                .poll_at(now, &sockets)
                .unwrap_or(now + smoltcp::time::Duration::from_secs(1));
            net::wait(at, now, tx_exhausted).await;
        }
    }
}
