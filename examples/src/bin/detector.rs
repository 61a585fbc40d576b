//! The seed's club project, part 2 of 3: the detector. It publishes a `hit`
//! news item each time a target is hit — here simulated: target 1–4, every
//! half second.
//!
//! ```text
//! cargo run --bin detector               # runs until stopped
//! cargo run --bin detector -- 20         # publishes 20 hits, then stops
//! ```
use networkzero as nw0;
use std::time::Duration;

fn main() -> Result<(), nw0::Error> {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    let address = nw0::advertise("detector")?;
    println!("detector: publishing hits at {address}");
    for hit in 0..count {
        // A stand-in for a real sensor: targets in turn, 1 to 4.
        let target = hit % 4 + 1;
        nw0::publish_news(
            &address,
            "hit",
            nw0::json!({ "target": target, "points": target * 10 }),
        )?;
        std::thread::sleep(Duration::from_millis(500));
    }
    println!("detector: done");
    Ok(())
}
