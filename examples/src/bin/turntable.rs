//! The seed's club project, part 1 of 3: the turntable. It listens for
//! commands — `START`, `STOP`, `SPEED n` — and acknowledges each one.
//!
//! ```text
//! cargo run --bin turntable      # then, in other terminals or on other computers:
//! cargo run --bin detector
//! cargo run --bin controller
//! ```
//! `QUIT` ends it (the controller sends it with `--quit`).
use networkzero as nw0;

fn main() -> Result<(), nw0::Error> {
    let address = nw0::advertise("turntable")?;
    println!("turntable: waiting for commands at {address}");
    let mut speed = 33;
    loop {
        let Some(command) = nw0::wait_for_command(&address, nw0::FOREVER)? else {
            continue;
        };
        let command = command.as_str().unwrap_or_default().to_uppercase();
        let mut words = command.split_whitespace();
        match (words.next(), words.next()) {
            (Some("START"), _) => println!("turntable: spinning at {speed} rpm"),
            (Some("STOP"), _) => println!("turntable: stopped"),
            (Some("SPEED"), Some(n)) => {
                speed = n.parse().unwrap_or(speed);
                println!("turntable: speed set to {speed} rpm");
            }
            (Some("QUIT"), _) => {
                println!("turntable: bye");
                return Ok(());
            }
            _ => println!("turntable: I don't know the command '{command}'"),
        }
    }
}
