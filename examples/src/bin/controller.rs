//! The seed's club project, part 3 of 3: the controller. It finds the
//! turntable and the detector, starts the turntable, adds up the points from
//! the detector's hits, then stops the turntable.
//!
//! ```text
//! cargo run --bin controller                 # a 10-second game
//! cargo run --bin controller -- 5 --quit     # a 5-second game, then tell the turntable to quit
//! ```
use networkzero as nw0;
use std::time::{Duration, Instant};

fn main() -> Result<(), nw0::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let quit = args.iter().any(|a| a == "--quit");

    let Some(turntable) = nw0::discover("turntable", 30)? else {
        std::process::exit(1)
    };
    let Some(detector) = nw0::discover("detector", 30)? else {
        std::process::exit(1)
    };
    println!("controller: turntable at {turntable}, detector at {detector}");

    nw0::send_command(&turntable, "START")?;
    let mut score = 0;
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        if let Some((_, hit)) = nw0::wait_for_news(&detector, "hit", left)? {
            score += hit["points"].as_u64().unwrap_or(0);
            println!("controller: hit target {} — score {score}", hit["target"]);
        }
    }
    nw0::send_command(&turntable, "STOP")?;
    println!("controller: final score {score}");
    if quit {
        nw0::send_command(&turntable, "QUIT")?;
    }
    Ok(())
}
