//! The robot's hardware: two DC motors through an H-bridge driver and an
//! analog distance sensor.
//!
//! | GPIO (Pico pin) | function                         | PWM / ADC       |
//! |-----------------|----------------------------------|-----------------|
//! | GP16 (21)       | left motor  IN1 (forward)        | PWM slice 0 A   |
//! | GP17 (22)       | left motor  IN2 (reverse)        | PWM slice 0 B   |
//! | GP18 (24)       | right motor IN1 (forward)        | PWM slice 1 A   |
//! | GP19 (25)       | right motor IN2 (reverse)        | PWM slice 1 B   |
//! | GP26 (31)       | distance sensor analog output    | ADC0            |
//!
//! Any two-input-per-motor driver fits (DRV8833, TB6612 in IN/IN mode with
//! PWMA/B high, L9110S, L298N with ENA/ENB jumpered): PWM on IN1 with IN2 low
//! drives forward, the other way round reverse, both low coasts.

use embassy_rp::adc::{self, Adc, Blocking};
use embassy_rp::gpio::Pull;
use embassy_rp::peripherals::{
    ADC, PIN_16, PIN_17, PIN_18, PIN_19, PIN_26, PWM_SLICE0, PWM_SLICE1,
};
use embassy_rp::pwm::{self, Pwm};
use embassy_rp::Peri;
use pico_w_robot_task::Command;

/// PWM period: 125 MHz / (TOP + 1) = 10 kHz, above hearing for most motors.
const TOP: u16 = 12_499;
/// Duty while driving: 70 %.
const DUTY: u16 = (TOP as u32 * 7 / 10) as u16;

/// Two motors, each on one PWM slice (A = forward input, B = reverse input).
pub struct Motors<'d> {
    left: Pwm<'d>,
    right: Pwm<'d>,
}

impl<'d> Motors<'d> {
    /// Both motors stopped.
    pub fn new(
        left: Peri<'d, PWM_SLICE0>,
        left_fwd: Peri<'d, PIN_16>,
        left_rev: Peri<'d, PIN_17>,
        right: Peri<'d, PWM_SLICE1>,
        right_fwd: Peri<'d, PIN_18>,
        right_rev: Peri<'d, PIN_19>,
    ) -> Self {
        Motors {
            left: Pwm::new_output_ab(left, left_fwd, left_rev, config(0)),
            right: Pwm::new_output_ab(right, right_fwd, right_rev, config(0)),
        }
    }

    /// Drives both motors for `command` (turns spin the wheels opposite ways).
    pub fn drive(&mut self, command: Command) {
        let (left, right) = match command {
            Command::Forward => (1, 1),
            Command::Left => (-1, 1),
            Command::Right => (1, -1),
            Command::Stop => (0, 0),
        };
        self.left.set_config(&config(left));
        self.right.set_config(&config(right));
    }
}

/// `direction` 1 forward (PWM on A), -1 reverse (PWM on B), 0 coast.
fn config(direction: i8) -> pwm::Config {
    let mut c = pwm::Config::default();
    c.top = TOP;
    c.compare_a = if direction > 0 { DUTY } else { 0 };
    c.compare_b = if direction < 0 { DUTY } else { 0 };
    c
}

/// An analog distance sensor on ADC0 (GP26), e.g. a Sharp GP2Y0A21YK0F
/// (5 V supply, output 0.4–3.1 V: safe for the 3.3 V ADC).
pub struct Sensor<'d> {
    adc: Adc<'d, Blocking>,
    pin: adc::Channel<'d>,
}

impl<'d> Sensor<'d> {
    pub fn new(adc: Peri<'d, ADC>, pin: Peri<'d, PIN_26>) -> Self {
        Sensor {
            adc: Adc::new_blocking(adc, adc::Config::default()),
            pin: adc::Channel::new_pin(pin, Pull::None),
        }
    }

    /// The sensor's output in millivolts (a blocking conversion takes ~2 µs).
    pub fn millivolts(&mut self) -> u32 {
        let raw = self.adc.blocking_read(&mut self.pin).unwrap_or(0);
        u32::from(raw) * 3300 / 4095
    }

    /// Distance in centimetres for a GP2Y0A21 (about 27.86 V·cm / output,
    /// valid 10–80 cm; clamped to that range).
    pub fn distance_cm(&mut self) -> u32 {
        (27_860 / self.millivolts().max(1)).clamp(10, 80)
    }
}
