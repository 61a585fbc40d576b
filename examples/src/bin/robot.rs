//! A simulated robot, for when the Pico W robot is not at hand: it advertises
//! `robot`, obeys `forward`, `left`, `right` and `stop` (acknowledged), and
//! publishes `distance` news as `robot/news` — one address serves one job, so
//! commands and news each get a name.
//!
//! ```text
//! cargo run --bin robot            # then: cargo run --bin robot-remote
//! ```
use networkzero as nw0;
use std::time::{Duration, Instant};

fn main() -> Result<(), nw0::Error> {
    let address = nw0::advertise("robot")?;
    let news = nw0::advertise("robot/news")?;
    println!("robot: ready at {address}, news at {news}");
    let mut distance: i64 = 100;
    let mut moving = "stop".to_string();
    let mut next_news = Instant::now();
    loop {
        if let Some(command) = nw0::wait_for_command(&address, 0.1)? {
            moving = command.as_str().unwrap_or_default().to_lowercase();
            match moving.as_str() {
                "forward" | "left" | "right" | "stop" => println!("robot: {moving}"),
                "quit" => return Ok(()),
                other => println!("robot: unknown command '{other}'"),
            }
        }
        if Instant::now() >= next_news {
            if moving == "forward" {
                distance = (distance - 5).max(0);
            }
            nw0::publish_news(&news, "distance", distance)?;
            next_news = Instant::now() + Duration::from_millis(500);
        }
    }
}
