//! Wi-Fi join, the smoltcp interface and DHCP: shared by the robot and the
//! footprint baseline.

use cyw43::{Control, JoinOptions};
use defmt::{info, warn};
use embassy_net_driver::{Driver, HardwareAddress};
use embassy_time::{with_timeout, Duration, Timer};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::dhcpv4;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpCidr};

use crate::bridge::{self, Bridge};

/// Wi-Fi network to join, from the build environment (`WIFI_SSID=… cargo build`).
pub const WIFI_SSID: &str = match option_env!("WIFI_SSID") {
    Some(s) => s,
    None => "",
};
/// Its WPA2 passphrase; empty for an open network.
pub const WIFI_PASSWORD: &str = match option_env!("WIFI_PASSWORD") {
    Some(s) => s,
    None => "",
};

/// Joins [`WIFI_SSID`], retrying with back-off until it works.
pub async fn join(control: &mut Control<'_>) {
    let mut backoff = 1;
    loop {
        if WIFI_SSID.is_empty() {
            warn!(
                "WIFI_SSID was empty at build time: rebuild with WIFI_SSID and WIFI_PASSWORD set"
            );
        }
        info!("joining Wi-Fi {=str}", WIFI_SSID);
        let options = if WIFI_PASSWORD.is_empty() {
            JoinOptions::new_open()
        } else {
            JoinOptions::new(WIFI_PASSWORD.as_bytes())
        };
        match with_timeout(Duration::from_secs(20), control.join(WIFI_SSID, options)).await {
            Ok(Ok(())) => {
                info!("joined {=str}", WIFI_SSID);
                return;
            }
            Ok(Err(e)) => warn!("join failed: {}; retry in {=u64} s", e, backoff),
            Err(_) => warn!("join timed out; retry in {=u64} s", backoff),
        }
        Timer::after_secs(backoff).await;
        backoff = (backoff * 2).min(30);
    }
}

/// A link down this long (after a join, or after it was up) means: join again.
const REJOIN_AFTER: smoltcp::time::Duration = smoltcp::time::Duration::from_secs(10);

/// The interface (Ethernet medium: cyw43 passes Ethernet frames) and its
/// DHCP client.
pub struct Net {
    pub iface: Interface,
    dhcp: SocketHandle,
    /// The link was up at the last poll.
    was_up: bool,
    /// The link has been down since.
    down_since: Option<Instant>,
}

impl Net {
    /// Builds the interface with the chip's MAC and adds a DHCP socket to
    /// `sockets` (one entry).
    pub fn new<D: Driver>(driver: &mut D, sockets: &mut SocketSet<'_>, seed: u64) -> Self {
        let mac = match driver.hardware_address() {
            HardwareAddress::Ethernet(mac) => mac,
            _ => defmt::panic!("cyw43 is an Ethernet device"),
        };
        info!("MAC {=[u8]:02x}", mac);
        let mut config = Config::new(EthernetAddress(mac).into());
        config.random_seed = seed;
        let iface = Interface::new(config, &mut Bridge::detached(driver), bridge::now());
        let dhcp = sockets.add(dhcpv4::Socket::new());
        Net {
            iface,
            dhcp,
            was_up: false,
            down_since: None,
        }
    }

    /// Applies what the DHCP client learned in the last poll; returns whether
    /// the address changed (then poll again at once: the node re-advertises).
    pub fn dhcp(&mut self, sockets: &mut SocketSet<'_>) -> bool {
        match sockets.get_mut::<dhcpv4::Socket>(self.dhcp).poll() {
            Some(dhcpv4::Event::Configured(config)) => {
                info!("DHCP: address {}, router {}", config.address, config.router);
                self.iface.update_ip_addrs(|addrs| {
                    addrs.clear();
                    let _ = addrs.push(IpCidr::Ipv4(config.address));
                });
                match config.router {
                    Some(router) => {
                        let _ = self.iface.routes_mut().add_default_ipv4_route(router);
                    }
                    None => {
                        self.iface.routes_mut().remove_default_ipv4_route();
                    }
                }
                true
            }
            Some(dhcpv4::Event::Deconfigured) => {
                warn!("DHCP: lease lost");
                self.forget_address();
                true
            }
            None => false,
        }
    }

    /// Notes the link state seen in the last poll. When the link goes down
    /// the address is dropped (the DHCP client starts over once it is back);
    /// if it stays down for [`REJOIN_AFTER`], joins again.
    pub async fn keep_link(
        &mut self,
        link_up: bool,
        now: Instant,
        control: &mut Control<'_>,
        sockets: &mut SocketSet<'_>,
    ) {
        if link_up {
            self.was_up = true;
            self.down_since = None;
            return;
        }
        if self.was_up {
            warn!("Wi-Fi link down");
            self.was_up = false;
            self.forget_address();
            sockets.get_mut::<dhcpv4::Socket>(self.dhcp).reset();
        }
        let since = *self.down_since.get_or_insert(now);
        if now - since >= REJOIN_AFTER {
            join(control).await;
            self.down_since = None;
        }
    }

    fn forget_address(&mut self) {
        self.iface.update_ip_addrs(|addrs| addrs.clear());
        self.iface.routes_mut().remove_default_ipv4_route();
    }
}

/// Sleeps until `at` (or a wake from the driver). When the driver's TX queue
/// was full, a deadline of "now" would spin: wait for the driver instead
/// (it wakes us when there is room), at most a couple of milliseconds.
pub async fn wait(at: Instant, now: Instant, tx_exhausted: bool) {
    let at = if tx_exhausted {
        at.max(now + smoltcp::time::Duration::from_millis(2))
    } else {
        at
    };
    bridge::sleep_until(at).await;
}
