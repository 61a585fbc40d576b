//! The Pico W as the robot task's [`Board`]: Wi-Fi join and the LED through
//! the CYW43439 (the LED hangs off the Wi-Fi chip's GPIO 0), motors and
//! sensor through the RP2040 ([`crate::hw`]).

use cyw43::{Control, JoinOptions};
use embassy_time::{with_timeout, Duration};
use pico_w_robot_task::{Board, Command, JoinError};

use crate::hw::{Motors, Sensor};

/// Wi-Fi network to join, from the build environment (`WIFI_SSID=… build.sh`).
pub const WIFI_SSID: &str = match option_env!("WIFI_SSID") {
    Some(s) => s,
    None => "",
};
/// Its WPA2 passphrase; empty for an open network.
pub const WIFI_PASSWORD: &str = match option_env!("WIFI_PASSWORD") {
    Some(s) => s,
    None => "",
};
/// How long one join attempt may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);

/// The robot's hardware.
pub struct PicoBoard {
    pub control: Control<'static>,
    pub motors: Motors<'static>,
    pub sensor: Sensor<'static>,
}

impl Board for PicoBoard {
    async fn join(&mut self) -> Result<(), JoinError> {
        if WIFI_SSID.is_empty() {
            return Err(JoinError::NoNetworkName);
        }
        let options = if WIFI_PASSWORD.is_empty() {
            JoinOptions::new_open()
        } else {
            JoinOptions::new(WIFI_PASSWORD.as_bytes())
        };
        match with_timeout(JOIN_TIMEOUT, self.control.join(WIFI_SSID, options)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                defmt::warn!("cyw43 join {=str}: {}", WIFI_SSID, e);
                Err(JoinError::Refused)
            }
            Err(_) => Err(JoinError::TimedOut),
        }
    }

    async fn set_led(&mut self, on: bool) {
        self.control.gpio_set(0, on).await;
    }

    fn drive(&mut self, command: Command) {
        self.motors.drive(command);
    }

    fn distance_cm(&mut self) -> u32 {
        self.sensor.distance_cm()
    }
}
