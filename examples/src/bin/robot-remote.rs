//! Drive the robot from the keyboard: type `w` (forward), `a` (left), `d`
//! (right), `s` or space (stop), or the words, and press Enter; `q` quits.
//! Works with the Pico W robot firmware and with the simulated `robot`.
//!
//! ```text
//! cargo run --bin robot-remote
//! ```
use networkzero as nw0;
use std::io::BufRead;

fn main() -> Result<(), nw0::Error> {
    let Some(robot) = nw0::discover("robot", 30)? else {
        std::process::exit(1)
    };
    let news = nw0::discover("robot/news", 5)?;
    println!("remote: robot at {robot}; w/a/s/d then Enter, q to quit");
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let command = match line.trim() {
            "w" | "forward" => "forward",
            "a" | "left" => "left",
            "d" | "right" => "right",
            "s" | "" | "stop" => "stop",
            "q" | "quit" => break,
            other => {
                println!("remote: '{other}' is not a command");
                continue;
            }
        };
        if nw0::send_command(&robot, command)? {
            let distance = match &news {
                Some(news) => nw0::wait_for_news(news, "distance", 1)?,
                None => None,
            };
            match distance {
                Some((_, d)) => println!("remote: {command} ok, distance {d}"),
                None => println!("remote: {command} ok"),
            }
        }
    }
    Ok(())
}
