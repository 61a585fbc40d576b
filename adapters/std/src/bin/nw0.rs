//! `nw0`: networkzero from the command line — for teachers, for scripts, and
//! for testing. Run `nw0 help` for the commands.
//!
//! Output on stdout is exactly as documented in [`USAGE`], so scripts can rely
//! on it; everything else (warnings, explanations) goes to stderr. Exit codes:
//! 0 success, 1 timeout or not found (or another failure), 2 bad usage.

#[path = "nw0/args.rs"]
mod args;
#[path = "nw0/dashboard.rs"]
mod dashboard;
#[path = "nw0/doctor.rs"]
mod doctor;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use networkzero::{self as nw0, Address, Error, Value, Wait, FOREVER};

use args::{is_help, Args, Spec};

const USAGE: &str = "\
nw0 — networkzero from the command line

Usage:
  nw0 ls [--wait S]
      Every name advertised on the network: one 'name<TAB>address' line
      each, sorted by name. Listens S seconds first (default 1; Python
      networkzero programs announce themselves every 2 s: use --wait 2).
  nw0 discover NAME [--wait S]
      Finds NAME and prints its address (ip:port). Default wait 5 s.
  nw0 advertise NAME [--address A] [--echo]
      Advertises NAME (at address A if given, like 8080 or 10.0.0.5:8080),
      prints the address, and stays up until stopped (Ctrl-C). With --echo
      it replies to every message with the message itself.
  nw0 send NAME|ADDR JSON [--wait S]
      Sends a message and prints the reply as one line of JSON. JSON that
      does not parse is sent as text: 'nw0 send x hello' sends \"hello\".
      Waits up to S seconds (default 5) to discover NAME, then again for
      the reply.
  nw0 command NAME|ADDR TEXT [--wait S]
      Sends TEXT as a command; succeeds when it is acknowledged within S
      seconds (default 5).
  nw0 publish NAME TOPIC JSON [--every S] [--count N]
      Advertises NAME, prints its address, and publishes the item (topic
      TOPIC, data JSON, or text as for send) every S seconds (default 1),
      N times (default: until stopped). The first item goes out S seconds
      after the start: news sent before a subscriber has connected is lost
      (ZeroMQ's \"slow joiner\"), so give subscribers a moment.
  nw0 watch NAME|ADDR [PREFIX] [--count N] [--wait S]
      Prints 'topic<TAB>json' for each news item on a topic starting with
      PREFIX (default: every topic); stops after N items (default: never).
      Fails if no item arrives within S seconds (default: wait for ever).
  nw0 doctor
      Checks this computer for what breaks classroom networking and says
      what to fix.
  nw0 dashboard [--port P] [--listen IP]
      Shows the network in a web browser, live: every name by machine,
      alive or gone; click one to watch its news or send it a message.
      Prints the address to open (default http://127.0.0.1:9990/; --port 0
      picks a free port). Only this computer can open it unless --listen
      says where else (0.0.0.0: every network): then anyone who can reach
      it can use its send buttons.
  nw0 help [COMMAND]

NAME|ADDR: text like 192.168.1.5:4567 is used as the address; anything else
is a name, discovered first (waiting as --wait says).
S: seconds (5, 0.5) or 'forever'. Put -- before an argument that starts
with -- (nw0 send x -- '--not-an-option').
Control characters in names and topics are shown as \\t, \\n, \\r or \\u{..},
so every item stays on its line.
Set NW0_LOG=debug to see what networkzero does.

Exit status: 0 success, 1 timeout or not found (or a network failure),
2 bad usage.
";

/// Why a command did not succeed.
enum Fail {
    /// Bad usage: the message, then the usage text; exit 2.
    Usage(String),
    /// Something was not found or did not come in time: exit 1. The message
    /// (if not empty) goes to stderr.
    NotFound(String),
    /// A hard error from networkzero.
    Nw(Error),
    /// Stdout was closed (`nw0 watch x | head -1`): stop quietly.
    StdoutClosed,
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Nw(e)
    }
}

type Outcome = Result<(), Fail>;

const DEFAULT_WAIT: Wait = Wait::Seconds(5.0);

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = argv.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    if command == "--version" || command == "-V" {
        println!("nw0 {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if is_help(command) {
        match rest.first().and_then(|c| section(c)) {
            Some(text) => eprintln!("Usage:\n{text}"),
            None => eprint!("{USAGE}"),
        }
        return ExitCode::from(2);
    }
    let Some(usage) = section(command) else {
        eprintln!("nw0: unknown command '{command}'\n");
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    // Help asked for anywhere before a `--`.
    if rest
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--help" || a == "-h")
    {
        eprintln!("Usage:\n{usage}");
        return ExitCode::from(2);
    }
    let outcome = match command.as_str() {
        "ls" => ls(rest),
        "discover" => discover(rest),
        "advertise" => advertise(rest),
        "send" => send(rest),
        "command" => command_(rest),
        "publish" => publish(rest),
        "watch" => watch(rest),
        "doctor" => doctor(rest),
        "dashboard" => dashboard(rest),
        _ => Err(Fail::Usage(format!("unknown command '{command}'"))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Usage(why)) => {
            eprintln!("nw0 {command}: {why}\n\nUsage:\n{usage}");
            ExitCode::from(2)
        }
        Err(Fail::NotFound(why)) => {
            if !why.is_empty() {
                eprintln!("nw0 {command}: {why}");
            }
            ExitCode::from(1)
        }
        Err(Fail::Nw(e)) => {
            eprintln!("nw0 {command}: {e}");
            ExitCode::from(if is_input_error(&e) { 2 } else { 1 })
        }
        Err(Fail::StdoutClosed) => ExitCode::SUCCESS,
    }
}

/// The usage lines of one command (from [`USAGE`]).
fn section(command: &str) -> Option<String> {
    let head = format!("  nw0 {command}");
    let mut lines = USAGE.lines().skip_while(|l| {
        !(l.starts_with(&head) && l[head.len()..].chars().next().is_none_or(|c| c == ' '))
    });
    let first = lines.next()?;
    let mut text = String::from(first);
    for line in lines.take_while(|l| l.starts_with("      ")) {
        text.push('\n');
        text.push_str(line);
    }
    Some(text)
}

/// Errors caused by what was typed (bad address, name, message).
fn is_input_error(e: &Error) -> bool {
    matches!(
        e,
        Error::InvalidAddress { .. }
            | Error::UnknownHost { .. }
            | Error::CannotAdvertise { .. }
            | Error::BadMessage { .. }
            | Error::NotLocal { .. }
    )
}

fn parse(rest: &[String], spec: &Spec) -> Result<Args, Fail> {
    Args::parse(rest, spec).map_err(Fail::Usage)
}

fn usage(why: String) -> Fail {
    Fail::Usage(why)
}

/// Prints one line on stdout and flushes it (scripts read lines as they come).
fn out(line: &str) -> Outcome {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|_| Fail::StdoutClosed)
}

/// Control characters shown as escapes, so each item stays on one line and
/// tabs separate fields only.
fn one_line(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => shown.push_str("\\t"),
            '\n' => shown.push_str("\\n"),
            '\r' => shown.push_str("\\r"),
            c if c.is_control() => shown.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => shown.push(c),
        }
    }
    shown
}

/// The argument as JSON, or as text when it is not JSON.
fn json_or_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// One line of compact JSON.
fn compact(value: &Value) -> String {
    // Serializing a `Value` cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// An `ip:port` is used as given; anything else is a name to discover.
fn target(spec: &str, wait: Wait) -> Result<Address, Fail> {
    if let Ok(address) = spec.parse::<SocketAddr>() {
        return Ok(address.into());
    }
    match nw0::discover(spec, wait)? {
        Some(address) => Ok(address),
        // networkzero has said why on stderr already.
        None => Err(Fail::NotFound(String::new())),
    }
}

fn ls(rest: &[String]) -> Outcome {
    let args = parse(
        rest,
        &Spec {
            values: &["--wait"],
            flags: &[],
            positional: (0, 0),
        },
    )?;
    let wait = args.seconds("--wait", 1.0).map_err(usage)?;
    let start = Instant::now();
    // Starts listening (and asks every networkzero program to answer now).
    nw0::discover_all()?;
    let listen = Duration::from_secs_f64(wait.min(86_400.0));
    if let Some(left) = listen.checked_sub(start.elapsed()) {
        thread::sleep(left);
    }
    let all = nw0::discover_all()?;
    if all.is_empty() {
        eprintln!("nw0 ls: no names heard within {wait} s");
    }
    for (name, address) in all {
        out(&format!("{}\t{address}", one_line(&name)))?;
    }
    Ok(())
}

fn discover(rest: &[String]) -> Outcome {
    let args = parse(
        rest,
        &Spec {
            values: &["--wait"],
            flags: &[],
            positional: (1, 1),
        },
    )?;
    let wait = args.wait("--wait", DEFAULT_WAIT).map_err(usage)?;
    let name = args.arg(0).unwrap_or_default();
    match nw0::discover(name, wait)? {
        Some(address) => out(&address.to_string()),
        None => Err(Fail::NotFound(String::new())),
    }
}

fn advertise(rest: &[String]) -> Outcome {
    let args = parse(
        rest,
        &Spec {
            values: &["--address"],
            flags: &["--echo"],
            positional: (1, 1),
        },
    )?;
    let name = args.arg(0).unwrap_or_default();
    let address = match args.value("--address") {
        Some(at) => nw0::advertise_at(name, at)?,
        None => nw0::advertise(name)?,
    };
    out(&address.to_string())?;
    // networkzero unadvertises the name when Ctrl-C (or a kill) ends us.
    if args.flag("--echo") {
        loop {
            if let Some(message) = nw0::wait_for_message(address, FOREVER)? {
                nw0::send_reply(address, &message)?;
            }
        }
    }
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

fn send(rest: &[String]) -> Outcome {
    let args = parse(
        rest,
        &Spec {
            values: &["--wait"],
            flags: &[],
            positional: (2, 2),
        },
    )?;
    let wait = args.wait("--wait", DEFAULT_WAIT).map_err(usage)?;
    let to = target(args.arg(0).unwrap_or_default(), wait)?;
    let message = json_or_text(args.arg(1).unwrap_or_default());
    match nw0::send_message(to, &message, wait)? {
        Some(reply) => out(&compact(&reply)),
        None => Err(Fail::NotFound(String::new())),
    }
}

fn command_(rest: &[String]) -> Outcome {
    let args = parse(
        rest,
        &Spec {
            values: &["--wait"],
            flags: &[],
            positional: (2, 2),
        },
    )?;
    let wait = args.wait("--wait", DEFAULT_WAIT).map_err(usage)?;
    let to = target(args.arg(0).unwrap_or_default(), wait)?;
    let text = args.arg(1).unwrap_or_default();
    if nw0::send_command_within(to, text, wait)? {
        Ok(())
    } else {
        Err(Fail::NotFound(String::new()))
    }
}

fn publish(rest: &[String]) -> Outcome {
    let args = parse(
        rest,
        &Spec {
            values: &["--every", "--count"],
            flags: &[],
            positional: (3, 3),
        },
    )?;
    let every = args.seconds("--every", 1.0).map_err(usage)?;
    let every = Duration::from_secs_f64(every.min(86_400.0));
    let count = args.count("--count").map_err(usage)?;
    let name = args.arg(0).unwrap_or_default();
    let topic = args.arg(1).unwrap_or_default();
    let data = json_or_text(args.arg(2).unwrap_or_default());
    let address = nw0::advertise(name)?;
    out(&address.to_string())?;
    let start = Instant::now();
    let mut sent: u64 = 0;
    while count.is_none_or(|n| sent < n) {
        sent += 1;
        let due = start + every.saturating_mul(u32::try_from(sent).unwrap_or(u32::MAX));
        if let Some(left) = due.checked_duration_since(Instant::now()) {
            thread::sleep(left);
        }
        nw0::publish_news(address, topic, &data)?;
    }
    // Let libzmq's I/O thread hand the last item to the subscribers before
    // the process (and with it that thread) ends.
    thread::sleep(Duration::from_millis(500));
    Ok(())
}

fn watch(rest: &[String]) -> Outcome {
    let args = parse(
        rest,
        &Spec {
            values: &["--count", "--wait"],
            flags: &[],
            positional: (1, 2),
        },
    )?;
    let wait = args.wait("--wait", FOREVER).map_err(usage)?;
    let count = args.count("--count").map_err(usage)?;
    let from = target(args.arg(0).unwrap_or_default(), wait)?;
    let prefix = args.arg(1).unwrap_or(nw0::EVERYTHING);
    let mut seen: u64 = 0;
    while count.is_none_or(|n| seen < n) {
        match nw0::wait_for_news(from, prefix, wait)? {
            Some((topic, data)) => {
                seen += 1;
                out(&format!("{}\t{}", one_line(&topic), compact(&data)))?;
            }
            None => return Err(Fail::NotFound(String::new())),
        }
    }
    Ok(())
}

fn doctor(rest: &[String]) -> Outcome {
    parse(
        rest,
        &Spec {
            values: &[],
            flags: &[],
            positional: (0, 0),
        },
    )?;
    let report = doctor::run()?;
    for line in &report.lines {
        out(line)?;
    }
    if report.problems.is_empty() {
        out("")?;
        out("All good: networkzero programs on this computer should find each other and the rest of the network.")?;
        return Ok(());
    }
    out("")?;
    out("What to fix:")?;
    for (i, problem) in report.problems.iter().enumerate() {
        out(&format!("{}. {problem}", i + 1))?;
    }
    Err(Fail::NotFound(String::new()))
}

fn dashboard(rest: &[String]) -> Outcome {
    let args = parse(
        rest,
        &Spec {
            values: &["--port", "--listen"],
            flags: &[],
            positional: (0, 0),
        },
    )?;
    let port = match args.value("--port") {
        None => dashboard::DEFAULT_PORT,
        Some(text) => text.parse::<u16>().map_err(|_| {
            usage(format!(
                "--port needs a port number (0 to 65535), not '{text}'"
            ))
        })?,
    };
    let ip = match args.value("--listen") {
        None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Some(text) => text.parse::<IpAddr>().map_err(|_| {
            usage(format!(
                "--listen needs an IP address of this computer (like 0.0.0.0 or 192.168.1.5), not '{text}'"
            ))
        })?,
    };
    let (listener, urls) = dashboard::listen(ip, port).map_err(|e| {
        // (On Windows a port held exclusively says WSAEACCES, not "in use".)
        let why = if networkzero::diagnostics::is_held_by_another_program(&e) {
            format!("port {port} is in use on this computer (another dashboard?): pick another with --port, or --port 0 for any free one")
        } else {
            format!("cannot listen on {ip} port {port}: {e}")
        };
        Fail::NotFound(why)
    })?;
    if !ip.is_loopback() {
        eprintln!(
            "nw0 dashboard: WARNING: listening on {ip}: anyone on the network who can reach this computer \
             can open the dashboard and use its send buttons to send messages and commands to your programs. \
             Leave out --listen to allow only this computer."
        );
    }
    for url in &urls {
        out(url)?;
    }
    eprintln!(
        "nw0 dashboard: open {} in a web browser; Ctrl-C to stop",
        urls.first().map_or("", String::as_str)
    );
    dashboard::serve(listener).map_err(|e| Fail::NotFound(format!("stopped: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_found() {
        assert!(section("ls").unwrap().starts_with("  nw0 ls [--wait S]"));
        assert!(section("send").unwrap().contains("sends \"hello\""));
        assert!(section("watch").unwrap().contains("PREFIX"));
        assert!(section("command").unwrap().contains("acknowledged"));
        assert!(section("nope").is_none());
        for c in [
            "ls",
            "discover",
            "advertise",
            "send",
            "command",
            "publish",
            "watch",
            "doctor",
            "dashboard",
        ] {
            assert!(section(c).is_some(), "{c}");
        }
    }

    #[test]
    fn json_text_and_lines() {
        assert_eq!(json_or_text("\"hi\""), Value::String("hi".into()));
        assert_eq!(json_or_text("hello"), Value::String("hello".into()));
        assert_eq!(json_or_text("[1, 2]"), serde_json::json!([1, 2]));
        assert_eq!(
            compact(&serde_json::json!({"a": [1, "b"]})),
            r#"{"a":[1,"b"]}"#
        );
        assert_eq!(one_line("a\tb\nc\u{1}"), "a\\tb\\nc\\u{1}");
    }
}
