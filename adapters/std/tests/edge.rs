//! No input to a public function or a CLI argument panics: property tests
//! over the edge of the crate.
//!
//! - Waits: every `f64` (NaN, ±inf, 1e300), every integer (u64::MAX,
//!   i64::MIN…) and every `Duration` either means a clear thing or is a
//!   hard error ([`nw0::Error::BadWait`]) — checked without the network, and
//!   then through `discover`, `send_message`, `wait_for_message` and
//!   `wait_for_news`, which open sockets.
//! - Text: addresses, names, topics and prefixes of any characters.
//! - The `nw0` CLI: any subcommand with arguments drawn from awkward
//!   numbers, options and arbitrary text; each run is killed after a short
//!   time, and must not have panicked (exit 101, "panicked" on stderr).
//!
//! The socket ones only run inside a private network namespace:
//! `/work/shared/sealed bash tests/run.sh -p networkzero --test edge`.
//! Only 127.0.0.1 is used; every case is bounded in time.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use networkzero as nw0;
use nw0::{Wait, FOREVER};
use proptest::prelude::*;

mod common;
use common::isolated;

/// Waits of every kind a program can write, the awkward ones often.
fn any_wait() -> impl Strategy<Value = Wait> {
    prop_oneof![
        Just(Wait::from(f64::NAN)),
        Just(Wait::from(f64::INFINITY)),
        Just(Wait::from(f64::NEG_INFINITY)),
        Just(Wait::from(1e300)),
        Just(Wait::from(1e20)),
        Just(Wait::from(u64::MAX)),
        Just(Wait::from(i64::MIN)),
        Just(Wait::from(i64::MAX)),
        Just(Wait::from(Duration::MAX)),
        Just(Wait::from(-0.0)),
        Just(FOREVER),
        any::<f64>().prop_map(Wait::from),
        any::<i64>().prop_map(Wait::from),
        any::<u64>().prop_map(Wait::from),
        any::<(u64, u32)>().prop_map(|(s, n)| Wait::from(Duration::new(s, n % 1_000_000_000))),
    ]
}

/// A wait that is either an error or bounded to `cap` (so socket cases end):
/// NaN stays (to test the error), and everything else is capped.
fn capped(wait: Wait, cap: f64) -> Wait {
    match wait.duration() {
        Err(_) => wait,
        Ok(Some(d)) if d.as_secs_f64() <= cap => wait,
        Ok(_) => Wait::Seconds(cap),
    }
}

/// Text of any characters, short, sometimes one of the shapes the API
/// parses.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,24}",
        "[0-9.:]{0,24}",
        Just(String::new()),
        Just("127.0.0.1:0".to_string()),
        Just("127.0.0.1:99999".to_string()),
        Just(":".to_string()),
        Just("[::1]:80".to_string()),
        Just("x".repeat(300)),
        Just("é".repeat(100)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_wait_means_one_thing(wait in any_wait()) {
        match wait.duration() {
            Ok(None) => {}
            Ok(Some(d)) => prop_assert!(d.as_secs_f64() >= 0.0),
            Err(e) => {
                let bad_wait = matches!(e, nw0::Error::BadWait { .. });
                prop_assert!(bad_wait, "{e:?}");
                prop_assert!(e.to_string().contains("FOREVER"), "{e}");
            }
        }
    }

    #[test]
    fn addresses_of_any_text(text in any_text()) {
        let _ = nw0::address(text.as_str());
        let _ = text.parse::<nw0::Address>();
        let _ = nw0::ToAddress::to_address(&text.as_str());
    }
}

proptest! {
    // Each case opens sockets or waits a little: few cases.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn discover_with_any_name_and_wait(name in any_text(), wait in any_wait()) {
        if isolated() {
            let wait = capped(wait, 0.05);
            match nw0::discover(&name, wait) {
                Err(nw0::Error::BadWait { .. }) => prop_assert!(wait.duration().is_err()),
                other => prop_assert!(wait.duration().is_ok(), "{other:?}"),
            }
        }
    }

    #[test]
    fn message_calls_with_any_wait(wait in any_wait(), text in any_text()) {
        if isolated() {
            let wait = capped(wait, 0.05);
            let here = nw0::address("127.0.0.1").expect("an address");
            let _ = nw0::wait_for_message(here, wait);
            let _ = nw0::send_message(here, &text, wait);
            let _ = nw0::send_command_within(here, &text, wait);
            let _ = nw0::wait_for_command(here, wait);
            let _ = nw0::send_message(text.as_str(), &text, wait);
            let news = nw0::address("127.0.0.1").expect("an address");
            let _ = nw0::publish_news(news, &text, &text);
            let _ = nw0::wait_for_news(news, &text, wait);
            let _ = nw0::wait_for_news(text.as_str(), &text, wait);
        }
    }

    #[test]
    fn advertise_any_name(name in any_text(), at in any_text()) {
        if isolated() {
            let _ = nw0::advertise(&name);
            let _ = nw0::advertise_at(&name, at.as_str());
            let _ = nw0::unadvertise(&name);
            let _ = nw0::discover_group_with(&name, &at, &[&name]);
        }
    }
}

/// Numbers (and an address) that break naive parsing.
const AWKWARD: [&str; 13] = [
    "1e20",
    "1e300",
    "-1",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "forever",
    "0",
    "0.01",
    "18446744073709551616",
    "-9223372036854775809",
    "127.0.0.1:99999",
];

/// Values for options: awkward numbers, and any text a shell could pass (no
/// NUL byte).
fn cli_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(AWKWARD.to_vec()).prop_map(str::to_string),
        "[^\u{0}]{0,12}",
    ]
}

/// Arguments for `nw0`: options, a few other shapes, and any value.
fn cli_arg() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "--wait",
            "--every",
            "--count",
            "--address",
            "--echo",
            "--",
            "-h",
            "127.0.0.1:1",
            "{\"a\":",
            "null",
        ])
        .prop_map(str::to_string),
        cli_value(),
    ]
}

/// Well-formed commands (each subcommand with its number of arguments and one
/// of its options, with an awkward value), and free-form ones.
fn cli_command() -> impl Strategy<Value = Vec<String>> {
    // (subcommand, positional arguments, its options)
    let commands = prop::sample::select(vec![
        ("ls", 0, &["--wait"][..]),
        ("discover", 1, &["--wait"][..]),
        ("advertise", 1, &["--address"][..]),
        ("send", 2, &["--wait"][..]),
        ("command", 2, &["--wait"][..]),
        ("publish", 3, &["--every", "--count"][..]),
        ("watch", 1, &["--count", "--wait"][..]),
        ("doctor", 0, &[][..]),
    ]);
    let shaped = (
        commands,
        prop::collection::vec(cli_arg(), 3),
        any::<prop::sample::Index>(),
        cli_value(),
        any::<bool>(),
    )
        .prop_map(|((command, n, options), texts, pick, value, inline)| {
            let mut args = vec![command.to_string()];
            args.extend(texts.into_iter().take(n));
            if !options.is_empty() {
                let option = options[pick.index(options.len())];
                if inline {
                    args.push(format!("{option}={value}"));
                } else {
                    args.extend([option.to_string(), value]);
                }
            }
            args
        });
    let free = (
        prop::sample::select(vec![
            "ls",
            "discover",
            "advertise",
            "send",
            "command",
            "publish",
            "watch",
            "doctor",
            "help",
            "--version",
            "nope",
        ]),
        prop::collection::vec(cli_arg(), 0..5),
    )
        .prop_map(|(c, mut args)| {
            args.insert(0, c.to_string());
            args
        });
    prop_oneof![3 => shaped, 1 => free].prop_map(|mut args| {
        // Keep each run short: a short wait unless the case gives its own (a
        // long one is killed at the limit, which is no failure).
        if !args.iter().any(|a| a.starts_with("--wait")) {
            args.extend(["--wait".to_string(), "0.05".to_string()]);
        }
        args
    })
}

/// Runs `nw0 ARGS` for at most `limit`; its exit code (`None`: it was still
/// running and was killed, or ended by a signal) and stderr.
fn run_nw0(args: &[String], limit: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nw0"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nw0 starts");
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("waiting for nw0") {
            break status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        // A test's poll of a child process, not library code.
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    (code, stderr)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_cli_argument_panics(args in cli_command()) {
        if isolated() {
            let (code, stderr) = run_nw0(&args, Duration::from_millis(1500));
            prop_assert!(code != Some(101) && !stderr.contains("panicked"), "nw0 {args:?}: {stderr}");
        }
    }
}

/// The two the issue names, by hand: they panicked before.
#[test]
fn huge_waits_mean_for_ever_not_a_panic() {
    if !isolated() {
        return;
    }
    assert_eq!(Wait::from(u64::MAX).duration(), Ok(None));
    // Panicked at once before; now it waits for ever (the thread is left
    // waiting when the test ends).
    let waiting = std::thread::spawn(|| nw0::discover("nobody-runs-this", u64::MAX));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiting.is_finished(), "{:?}", waiting.join());
    let (code, stderr) = run_nw0(
        &[
            "discover".into(),
            "x".into(),
            "--wait".into(),
            "1e20".into(),
        ],
        Duration::from_millis(1500),
    );
    assert!(
        code != Some(101) && !stderr.contains("panicked"),
        "{stderr}"
    );
}
