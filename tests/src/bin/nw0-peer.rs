//! `nw0-peer`: a scripted networkzero peer for the integration tests (not for users; the
//! user-facing tool is `nw0`). Each run is one process with its own networkzero node, so
//! a test can put several on one simulated host, kill them, restart them…
//!
//! Run it only inside a private network namespace (see the crate docs).
//!
//! ```text
//! nw0-peer advertise NAME [--at ADDR] [--serve none|echo|hello|silent|commands]
//!                         [--count N] [--for S] [--unadvertise-after S]
//! nw0-peer discover NAME WAIT_S
//! nw0-peer discover_all [WARM_MS]
//! nw0-peer discover_group GROUP [WARM_MS]
//! nw0-peer send TARGET JSON WAIT_S
//! nw0-peer command TARGET TEXT [WAIT_S]
//! nw0-peer serve-commands NAME COUNT [FOR_S]
//! nw0-peer publish TARGET TOPIC[,TOPIC…] JSON COUNT EVERY_MS
//! nw0-peer flood TARGET TOPIC BYTES COUNT HOLD_S [PER_S]
//! nw0-peer watch TARGET PREFIX COUNT WAIT_S
//! nw0-peer unadvertise NAME
//! nw0-peer robot [FOR_S]            # typed calls and postcard (nw0-peer/robot.rs): the
//! nw0-peer drive-robot [WAIT_S]     #   QEMU firmware's robot as a std program, the side
//! nw0-peer odometry TARGET COUNT WAIT_S  # that drives it, its news read as Odometry,
//! nw0-peer send-postcard TARGET JSON WAIT_S  # and `send` with a Postcard message
//! nw0-peer thread-check TARGET
//! nw0-peer sleep MS
//! nw0-peer class-key PASSPHRASE   # set_class_key (empty: none), for the calls after it
//! nw0-peer repl            # one of the commands above per stdin line (tab- or space-separated)
//! ```
//!
//! TARGET is an `ip:port` address, or a name that is discovered first (10 s). JSON that
//! does not parse is sent as a string. Every event is one flushed stdout line:
//!
//! ```text
//! ADDRESS <addr>            advertised (advertise, serve-commands, publish NAME)
//! FOUND <addr> <ms>         discovered, after <ms> milliseconds
//! NOTFOUND <ms>
//! ALL <json>                discover_all: [["name","ip:port"],…]
//! GROUP <json>              discover_group
//! MESSAGE <json>            a message arrived at an advertised name (then replied to,
//!                           except by --serve silent, which takes one and never replies)
//! COMMAND <json>            a command arrived (and was acknowledged)
//! REPLY <json> <ms>         send: the reply, after <ms>
//! NOREPLY <ms>
//! ACKED / NOTACKED          command
//! PUBLISHED <n>             publish: n items published so far (flood: every 10 000th
//!                           item and the last, then BYE, then it stays alive HOLD_S
//!                           seconds so its peak memory can be read)
//! NEWS <json>               watch: ["topic", data]
//! NEWS-ADDRESS <addr>       robot: where it publishes its news
//! ACKED <what> / NOTACKED <what>, STATUS postcard|json <json>, ODOMETRY <json>
//!                           drive-robot (see nw0-peer/robot.rs); ODOMETRY: odometry too
//! NONEWS                    watch: nothing more within the wait
//! UNADVERTISED <name>
//! SAME <result> / OTHER <result>   thread-check
//! ERROR <message>           a hard networkzero error (exit 3)
//! BYE                       a server's lifetime or count is over
//! DONE                      repl: the line is finished
//! ```
//! Exit codes: 0 success, 1 timeout / not found, 2 bad usage, 3 networkzero error.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use networkzero as nw0;
use nw0::{Address, Value};

#[path = "nw0-peer/robot.rs"]
mod robot;

/// Exit code of a command: 0 ok, 1 soft failure, 2 usage, 3 hard error.
type Outcome = Result<u8, Fail>;

enum Fail {
    Usage(String),
    Nw0(nw0::Error),
}

impl From<nw0::Error> for Fail {
    fn from(e: nw0::Error) -> Self {
        Fail::Nw0(e)
    }
}

fn say(line: impl AsRef<str>) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

fn usage(what: impl Into<String>) -> Fail {
    Fail::Usage(what.into())
}

fn arg<'a>(args: &'a [String], i: usize, what: &str) -> Result<&'a str, Fail> {
    args.get(i)
        .map(String::as_str)
        .ok_or_else(|| usage(format!("missing {what}")))
}

fn num<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, Fail> {
    arg(args, i, what)?
        .parse()
        .map_err(|_| usage(format!("{what} must be a number")))
}

fn opt_num<T: std::str::FromStr>(
    args: &[String],
    i: usize,
    what: &str,
    default: T,
) -> Result<T, Fail> {
    match args.get(i) {
        None => Ok(default),
        Some(_) => num(args, i, what),
    }
}

fn ms(since: Instant) -> u128 {
    since.elapsed().as_millis()
}

fn json_arg(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "?".into())
}

fn list_json(list: &[(String, Address)]) -> String {
    let v: Vec<Value> = list
        .iter()
        .map(|(n, a)| nw0::json!([n, a.to_string()]))
        .collect();
    compact(&Value::Array(v))
}

/// An `ip:port` address as is, or a name discovered within 10 s.
fn target(text: &str) -> Result<Option<Address>, Fail> {
    if text.contains(':') && text.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(Some(nw0::address(text)?));
    }
    let start = Instant::now();
    match nw0::discover(text, 10)? {
        Some(a) => {
            say(format!("FOUND {a} {}", ms(start)));
            Ok(Some(a))
        }
        None => {
            say(format!("NOTFOUND {}", ms(start)));
            Ok(None)
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Serve {
    None,
    Echo,
    Hello,
    Silent,
    Commands,
}

fn advertise(args: &[String]) -> Outcome {
    let name = arg(args, 1, "NAME")?;
    let mut at = None;
    let mut serve = Serve::None;
    let mut count = u64::MAX;
    let mut lifetime = 60.0f64;
    let mut unadvertise_after: Option<f64> = None;
    let mut i = 2;
    while i < args.len() {
        let flag = args[i].as_str();
        let value = arg(args, i + 1, flag)?;
        match flag {
            "--at" => at = Some(value.to_string()),
            "--serve" => {
                serve = match value {
                    "none" => Serve::None,
                    "echo" => Serve::Echo,
                    "hello" => Serve::Hello,
                    "silent" => Serve::Silent,
                    "commands" => Serve::Commands,
                    other => return Err(usage(format!("unknown --serve {other}"))),
                }
            }
            "--count" => count = num(args, i + 1, flag)?,
            "--for" => lifetime = num(args, i + 1, flag)?,
            "--unadvertise-after" => unadvertise_after = Some(num(args, i + 1, flag)?),
            other => return Err(usage(format!("unknown option {other}"))),
        }
        i += 2;
    }
    let address = match &at {
        Some(a) => nw0::advertise_at(name, a.as_str())?,
        None => nw0::advertise(name)?,
    };
    say(format!("ADDRESS {address}"));
    serve_loop(name, address, serve, count, lifetime, unadvertise_after)
}

fn serve_loop(
    name: &str,
    address: Address,
    serve: Serve,
    count: u64,
    lifetime: f64,
    unadvertise_after: Option<f64>,
) -> Outcome {
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(lifetime);
    let mut unadvertise_at = unadvertise_after.map(|s| start + Duration::from_secs_f64(s));
    let mut handled = 0u64;
    while handled < count {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if let Some(t) = unadvertise_at {
            if now >= t {
                nw0::unadvertise(name)?;
                say(format!("UNADVERTISED {name}"));
                unadvertise_at = None;
                continue;
            }
        }
        let next = unadvertise_at.map_or(end, |t| t.min(end));
        let wait = next.saturating_duration_since(now);
        match serve {
            Serve::None => std::thread::sleep(wait.min(Duration::from_millis(200))),
            Serve::Commands => {
                if let Some(command) = nw0::wait_for_command(address, wait)? {
                    say(format!("COMMAND {}", compact(&command)));
                    handled += 1;
                }
            }
            Serve::Echo | Serve::Hello | Serve::Silent => {
                if let Some(message) = nw0::wait_for_message(address, wait)? {
                    say(format!("MESSAGE {}", compact(&message)));
                    handled += 1;
                    match serve {
                        Serve::Echo => nw0::send_reply(address, &message)?,
                        Serve::Hello => {
                            let who = message
                                .as_str()
                                .map_or_else(|| compact(&message), str::to_owned);
                            nw0::send_reply(address, format!("Hello, {who}"))?
                        }
                        _ => {
                            // silent: never reply. Another wait_for_message would
                            // answer null for us, so only sleep from now on.
                            while Instant::now() < end {
                                std::thread::sleep(
                                    end.saturating_duration_since(Instant::now())
                                        .min(Duration::from_millis(200)),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    say("BYE");
    Ok(0)
}

fn discover(args: &[String]) -> Outcome {
    let name = arg(args, 1, "NAME")?;
    let wait: f64 = num(args, 2, "WAIT_S")?;
    let start = Instant::now();
    match nw0::discover(name, wait)? {
        Some(a) => {
            say(format!("FOUND {a} {}", ms(start)));
            Ok(0)
        }
        None => {
            say(format!("NOTFOUND {}", ms(start)));
            Ok(1)
        }
    }
}

fn discover_all(args: &[String]) -> Outcome {
    let warm: u64 = opt_num(args, 1, "WARM_MS", 0)?;
    std::thread::sleep(Duration::from_millis(warm));
    say(format!("ALL {}", list_json(&nw0::discover_all()?)));
    Ok(0)
}

fn discover_group(args: &[String]) -> Outcome {
    let group = arg(args, 1, "GROUP")?;
    let warm: u64 = opt_num(args, 2, "WARM_MS", 0)?;
    std::thread::sleep(Duration::from_millis(warm));
    say(format!("GROUP {}", list_json(&nw0::discover_group(group)?)));
    Ok(0)
}

fn send(args: &[String]) -> Outcome {
    let Some(address) = target(arg(args, 1, "TARGET")?)? else {
        return Ok(1);
    };
    let message = json_arg(arg(args, 2, "JSON")?);
    let wait: f64 = num(args, 3, "WAIT_S")?;
    let start = Instant::now();
    match nw0::send_message(address, &message, wait)? {
        Some(reply) => {
            say(format!("REPLY {} {}", compact(&reply), ms(start)));
            Ok(0)
        }
        None => {
            say(format!("NOREPLY {}", ms(start)));
            Ok(1)
        }
    }
}

fn command(args: &[String]) -> Outcome {
    let Some(address) = target(arg(args, 1, "TARGET")?)? else {
        return Ok(1);
    };
    let text = arg(args, 2, "TEXT")?;
    let wait: f64 = opt_num(args, 3, "WAIT_S", 5.0)?;
    if nw0::send_command_within(address, text, wait)? {
        say("ACKED");
        Ok(0)
    } else {
        say("NOTACKED");
        Ok(1)
    }
}

fn serve_commands(args: &[String]) -> Outcome {
    let name = arg(args, 1, "NAME")?;
    let count: u64 = num(args, 2, "COUNT")?;
    let lifetime: f64 = opt_num(args, 3, "FOR_S", 60.0)?;
    let address = nw0::advertise(name)?;
    say(format!("ADDRESS {address}"));
    serve_loop(name, address, Serve::Commands, count, lifetime, None)
}

fn publish(args: &[String]) -> Outcome {
    let where_ = arg(args, 1, "TARGET")?;
    let topics: Vec<&str> = arg(args, 2, "TOPIC")?.split(',').collect();
    let data = json_arg(arg(args, 3, "JSON")?);
    let count: u64 = num(args, 4, "COUNT")?;
    let every: u64 = num(args, 5, "EVERY_MS")?;
    let address = if where_.contains(':') {
        nw0::address(where_)?
    } else {
        let a = nw0::advertise(where_)?;
        say(format!("ADDRESS {a}"));
        a
    };
    for n in 1..=count {
        for topic in &topics {
            nw0::publish_news(address, topic, &data)?;
        }
        say(format!("PUBLISHED {n}"));
        std::thread::sleep(Duration::from_millis(every));
    }
    say("BYE");
    Ok(0)
}

/// Publishes COUNT items `{"seq": n, "pad": "xxx…"}` (BYTES of padding) under TOPIC as
/// fast as it can, for the slow-subscriber test (tests/tests/reliability.rs).
fn flood(args: &[String]) -> Outcome {
    let address = nw0::address(arg(args, 1, "TARGET")?)?;
    let topic = arg(args, 2, "TOPIC")?;
    let bytes: usize = num(args, 3, "BYTES")?;
    let count: u64 = num(args, 4, "COUNT")?;
    let hold: f64 = num(args, 5, "HOLD_S")?;
    // at most PER_S items a second (0: as fast as it can), paced from the start
    let per_s: u64 = opt_num(args, 6, "PER_S", 0)?;
    let pad = "x".repeat(bytes);
    let start = Instant::now();
    for n in 1..=count {
        if let Some(us) = n.saturating_mul(1_000_000).checked_div(per_s) {
            let due = Duration::from_micros(us);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        nw0::publish_news(address, topic, nw0::json!({"seq": n, "pad": pad}))?;
        if n % 10_000 == 0 || n == count {
            say(format!("PUBLISHED {n}"));
        }
    }
    say("BYE");
    std::thread::sleep(Duration::from_secs_f64(hold));
    Ok(0)
}

fn watch(args: &[String]) -> Outcome {
    let Some(address) = target(arg(args, 1, "TARGET")?)? else {
        return Ok(1);
    };
    let prefix = arg(args, 2, "PREFIX")?;
    let count: u64 = num(args, 3, "COUNT")?;
    let wait: f64 = num(args, 4, "WAIT_S")?;
    // Its first wait starts connecting: a test starts a publisher after this
    // to have a subscriber already waiting.
    say(format!("WATCHING {address}"));
    for _ in 0..count {
        match nw0::wait_for_news(address, prefix, wait)? {
            Some((topic, data)) => say(format!("NEWS {}", compact(&nw0::json!([topic, data])))),
            None => {
                say("NONEWS");
                return Ok(1);
            }
        }
    }
    Ok(0)
}

fn unadvertise(args: &[String]) -> Outcome {
    let name = arg(args, 1, "NAME")?;
    nw0::unadvertise(name)?;
    say(format!("UNADVERTISED {name}"));
    Ok(0)
}

fn describe<T: std::fmt::Debug>(r: &nw0::Result<T>) -> String {
    match r {
        Ok(v) => format!("OK {v:?}"),
        Err(e @ nw0::Error::DifferentThread { .. }) => format!("DifferentThread {e}"),
        Err(e) => format!("ERROR {e}"),
    }
}

/// Uses one REQ socket (and, when advertised here, one REP socket) from this thread,
/// then from a second thread: the second must get `DifferentThread`, not hang.
fn thread_check(args: &[String]) -> Outcome {
    let Some(address) = target(arg(args, 1, "TARGET")?)? else {
        return Ok(1);
    };
    let first = nw0::send_message(address, "from the first thread", 5);
    say(format!("SAME {}", describe(&first)));
    let other = std::thread::spawn(move || nw0::send_message(address, "from another thread", 1))
        .join()
        .map_err(|_| usage("the second thread panicked"))?;
    say(format!("OTHER {}", describe(&other)));
    let mine = nw0::advertise("thread-check/listener")?;
    let _ = nw0::wait_for_message(mine, 0.01)?;
    let other = std::thread::spawn(move || nw0::wait_for_message(mine, 0.5))
        .join()
        .map_err(|_| usage("the second thread panicked"))?;
    say(format!("OTHER-LISTEN {}", describe(&other)));
    // and the first thread can still use its socket afterwards
    let again = nw0::send_message(address, "again from the first thread", 5);
    say(format!("SAME-AGAIN {}", describe(&again)));
    Ok(0)
}

fn sleep(args: &[String]) -> Outcome {
    let ms: u64 = num(args, 1, "MS")?;
    std::thread::sleep(Duration::from_millis(ms));
    Ok(0)
}

fn class_key(args: &[String]) -> Outcome {
    nw0::set_class_key(args.get(1).map_or("", String::as_str))?;
    Ok(0)
}

fn repl() -> Outcome {
    let stdin = io::stdin();
    let mut last = 0;
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            continue;
        }
        let args: Vec<String> = if line.contains('\t') {
            line.split('\t').map(str::to_owned).collect()
        } else {
            line.split_whitespace().map(str::to_owned).collect()
        };
        if args.first().map(String::as_str) == Some("repl") {
            return Err(usage("repl inside repl"));
        }
        last = report(run(&args));
        say("DONE");
    }
    Ok(last)
}

fn run(args: &[String]) -> Outcome {
    match args.first().map(String::as_str) {
        Some("advertise") => advertise(args),
        Some("discover") => discover(args),
        Some("discover_all") => discover_all(args),
        Some("discover_group") => discover_group(args),
        Some("send") => send(args),
        Some("command") => command(args),
        Some("serve-commands") => serve_commands(args),
        Some("publish") => publish(args),
        Some("flood") => flood(args),
        Some("watch") => watch(args),
        Some("unadvertise") => unadvertise(args),
        Some("thread-check") => thread_check(args),
        Some("sleep") => sleep(args),
        Some("robot") => robot::robot(args),
        Some("drive-robot") => robot::drive_robot(args),
        Some("odometry") => robot::odometry(args),
        Some("send-postcard") => robot::send_postcard(args),
        Some("class-key") => class_key(args),
        Some("repl") => repl(),
        Some(other) => Err(usage(format!("unknown command {other}"))),
        None => Err(usage("no command")),
    }
}

fn report(outcome: Outcome) -> u8 {
    match outcome {
        Ok(code) => code,
        Err(Fail::Usage(why)) => {
            eprintln!("nw0-peer: {why} (see the top of tests/src/bin/nw0-peer.rs)");
            2
        }
        Err(Fail::Nw0(e)) => {
            say(format!("ERROR {e}"));
            3
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    ExitCode::from(report(run(&args)))
}
