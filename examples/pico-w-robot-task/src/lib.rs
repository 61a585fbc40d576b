//! The Pico W robot's networked task, independent of the board.
//!
//! [`robot::run`] is the firmware's main loop: it keeps the link up
//! ([`Board::join`], e.g. Wi-Fi), shows the bring-up on the LED
//! ([`status`]), and runs a networkzero node over embassy-net
//! (`networkzero-embassy-net`) that serves `robot` (commands `"forward"`,
//! `"left"`, `"right"`, `"stop"` drive the motors and get `"ack"`) and
//! publishes `robot/news` (topic `distance`, the distance in cm every
//! 500 ms). [`baseline::run`] is the same loop with a bare UDP protocol
//! instead of networkzero: the firmware's footprint baseline.
//!
//! Everything board-specific is behind [`Board`]: the Pico W implements it
//! with cyw43 (join, the LED on the Wi-Fi chip) and embassy-rp (PWM motors,
//! ADC sensor); the host build (tests/src/bin/embassy-robot.rs) with a TAP
//! "cable" and printed motor commands, so CI runs this very source.
//!
//! Logs go to defmt (feature `defmt`, the firmware) or the `log` crate
//! (feature `log`, the host build).
#![no_std]

#[macro_use]
mod logging;

pub mod baseline;
pub mod board;
pub mod link;
pub mod robot;
pub mod status;

pub use board::{Board, Command, JoinError};
pub use status::Status;
