//! The seed's two-computer example: one program advertises "hello" and
//! answers every name it is sent with "Hello, NAME"; another discovers it
//! and says hello.
//!
//! Run on one computer in two terminals, or on two computers on one network:
//!
//! ```text
//! cargo run --bin hello -- serve          # computer (or terminal) A
//! cargo run --bin hello -- ask World      # computer (or terminal) B
//! cargo run --bin hello                   # both at once, for a first try
//! ```
use networkzero as nw0;

fn serve() -> Result<(), nw0::Error> {
    let address = nw0::advertise("hello")?;
    println!("hello is advertised at {address}");
    loop {
        if let Some(name) = nw0::wait_for_message(&address, nw0::FOREVER)? {
            let name = name
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| name.to_string());
            println!("got a message from {name}");
            nw0::send_reply(&address, format!("Hello, {name}"))?;
        }
    }
}

fn ask(name: &str) -> Result<bool, nw0::Error> {
    let Some(hello) = nw0::discover("hello", 10)? else {
        return Ok(false);
    };
    println!("found hello at {hello}");
    let Some(reply) = nw0::send_message(&hello, name, 10)? else {
        return Ok(false);
    };
    println!("{}", reply.as_str().unwrap_or_default());
    Ok(true)
}

/// Runs the server as a second process and asks it twice, as the seed does.
fn demo() -> Result<bool, Box<dyn std::error::Error>> {
    let mut server = std::process::Command::new(std::env::current_exe()?)
        .arg("serve")
        .spawn()?;
    let ok = ask("World")? && ask("Tim")?;
    server.kill()?;
    server.wait()?;
    Ok(ok)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve().map(|_| true).map_err(Into::into),
        Some("ask") => ask(args.get(1).map_or("World", String::as_str)).map_err(Into::into),
        None | Some("demo") => demo(),
        Some(other) => {
            eprintln!("usage: hello [serve | ask NAME | demo]  (not '{other}')");
            std::process::exit(2);
        }
    };
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
