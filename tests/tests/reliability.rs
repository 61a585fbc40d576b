//! Fault injection, short enough for CI (issue 9): packet loss on a simulated LAN,
//! restarts with measured recovery times, hostile input at ZMTP ports, and a slow
//! subscriber. Deterministic loss/jitter/reorder of the core state machines is in
//! `core/tests/netsim.rs`; kill/restart of an advertiser, a REP server killed
//! mid-conversation, hostile UDP datagrams and Python RPC takeover are in
//! `discovery.rs`, `messaging.rs` and `python_interop.rs`.
//!
//! Every measured figure is printed as one parseable line, `FIGURE key value` (and
//! `RECOVERY name ms` for restarts), and appended to
//! `target/tmp/reliability-figures.txt`. See them with
//! `bash tests/run.sh -p nw0-tests --test reliability -- --nocapture`.
//!
//! Packet loss needs `nft` (nftables; `tests/reliability/setup.sh` installs it, outside
//! the namespace): without it these tests SKIP, or fail under `CI=true`. The rules live
//! only in the tests' own host namespaces. Hostile TCP traffic only ever goes to a node
//! on a [`Host::isolated`] (loopback only), with every loop bounded in count and time.

#[path = "../src/bin/nw0-peer/drive.rs"]
mod drive;

use std::collections::HashSet;
use std::fmt::Display;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use drive::{address, expect, expect_any, secs, spawn, split, Repl};
use nw0_tests::*;

// ---- figures ----------------------------------------------------------------------

/// Prints `FIGURE key value` and appends it to target/tmp/reliability-figures.txt.
fn figure(key: &str, value: impl Display) {
    let line = format!("FIGURE {key} {value}");
    println!("{line}");
    record(&line);
}

/// Prints `RECOVERY name ms` and the same as a figure.
fn recovery(name: &str, took: Duration) {
    let ms = took.as_millis();
    let line = format!("RECOVERY {name} {ms}");
    println!("{line}");
    record(&line);
    figure(&format!("recovery.{name}_ms"), ms);
}

fn record(line: &str) {
    static FILE: OnceLock<Mutex<Option<std::fs::File>>> = OnceLock::new();
    let file = FILE.get_or_init(|| {
        let path =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability-figures.txt");
        Mutex::new(std::fs::File::create(path).ok())
    });
    if let Some(f) = file.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        let _ = writeln!(f, "{line}");
    }
}

/// The `q` quantile (nearest rank) of sorted values.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    let n = sorted.len();
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted[rank - 1]
}

/// Prints n, min, p50, p90, p99 and max of `values` (milliseconds) as figures under
/// `key`; returns them sorted.
fn distribution(key: &str, values: &[u64]) -> Vec<u64> {
    let mut v = values.to_vec();
    v.sort_unstable();
    figure(&format!("{key}.n"), v.len());
    if v.is_empty() {
        return v;
    }
    figure(&format!("{key}.min_ms"), v[0]);
    figure(&format!("{key}.p50_ms"), quantile(&v, 0.50));
    figure(&format!("{key}.p90_ms"), quantile(&v, 0.90));
    figure(&format!("{key}.p99_ms"), quantile(&v, 0.99));
    figure(&format!("{key}.max_ms"), v[v.len() - 1]);
    v
}

/// A `/proc/PID/status` field in KiB (`VmHWM`: peak resident memory; `VmRSS`).
fn proc_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// `REPLY <json> <ms>`'s rest as (json, ms).
fn reply_parts(rest: &str) -> (serde_json::Value, u64) {
    let (json, ms) = rest
        .rsplit_once(' ')
        .unwrap_or_else(|| panic!("bad REPLY line: {rest}"));
    (
        serde_json::from_str(json).unwrap_or_else(|e| panic!("reply not JSON ({e}): {rest}")),
        ms.parse().unwrap_or_else(|_| panic!("bad ms in {rest}")),
    )
}

/// Asserts a node process is alive and has not panicked.
#[track_caller]
fn assert_alive(node: &mut ChildGuard, what: &str) {
    let status = node.child_mut().try_wait().expect("try_wait");
    assert!(
        status.is_none(),
        "{what} exited ({status:?}): {}",
        node.stderr()
    );
    assert!(
        !node.stderr().contains("panicked"),
        "{what} panicked: {}",
        node.stderr()
    );
}

// ---- packet loss with nftables -----------------------------------------------------

/// The p99 of a fresh discover under 30 % loss may reach (ms). README: ≈ 310 ms; a lost
/// query is repeated after 100, 200, 400 ms… Without that retry path a run whose query
/// or answer was lost waits for a periodic advert (every 2 s, itself lossy): p99 ≈ 2 s.
const LOSS_P99_MS: u64 = 1000;

/// `nft`, from PATH or /usr/sbin (not always in a non-root PATH); `None` if missing.
fn nft_program() -> Option<&'static str> {
    static FOUND: OnceLock<Option<&'static str>> = OnceLock::new();
    *FOUND.get_or_init(|| {
        ["nft", "/usr/sbin/nft", "/sbin/nft"].into_iter().find(|p| {
            Command::new(p)
                .arg("--version")
                .stdin(Stdio::null())
                .output()
                .is_ok_and(|o| o.status.success())
        })
    })
}

/// True when `nft` can be run; else SKIP (or panic under CI=true).
fn require_nft() -> bool {
    if nft_program().is_some() {
        return true;
    }
    skip_or_panic(
        "`nft` (nftables) is missing",
        "bash tests/reliability/setup.sh (outside the namespace)",
    );
    false
}

fn nft(host: &Host, command: &str) -> String {
    let out = host
        .command(nft_program().expect("nft (call require_nft first)"))
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run nft in {}: {e}", host.name));
    assert!(
        out.status.success(),
        "`nft {command}` in {} failed: {}",
        host.name,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Drops 30 % of the incoming packets of `protocols` (`udp`, or `{ udp, tcp }`) on
/// `host`, counting the drops.
fn add_loss(host: &Host, protocols: &str) {
    nft(host, "add table inet nw0loss");
    nft(
        host,
        "add chain inet nw0loss in { type filter hook input priority 0; policy accept; }",
    );
    nft(
        host,
        &format!("add rule inet nw0loss in meta l4proto {protocols} numgen random mod 10 < 3 counter drop"),
    );
}

/// Packets dropped so far by [`add_loss`]'s rule on `host`.
fn dropped(host: &Host) -> u64 {
    let listing = nft(host, "list chain inet nw0loss in");
    listing
        .split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// 30 % UDP loss on every host of a LAN: 300 fresh processes each discover a running
/// service, at p99 within [`LOSS_P99_MS`].
#[test]
fn loss_30_percent_fresh_processes_discover_within_1s_p99() {
    if !require_netns() || !require_nft() {
        return;
    }
    const RUNS: usize = 300;
    const PARALLEL: usize = 4;
    // 300 runs take about 16 s on this loaded 2-core machine; the budget only stops a
    // hung run
    const BUDGET: Duration = Duration::from_secs(90);
    let lan = Lan::new(1 + PARALLEL);
    for host in &lan.hosts {
        add_loss(host, "udp");
    }
    let mut service = spawn(
        &lan.hosts[0],
        &["advertise", "lossy/svc", "--serve", "echo", "--for", "60"],
    );
    let want = address(&mut service);

    let start = Instant::now();
    let mut found_ms = Vec::new();
    let mut process_ms = Vec::new();
    let mut failures = Vec::new();
    while found_ms.len() + failures.len() < RUNS && start.elapsed() < BUDGET {
        // one fresh process on each discoverer host at once
        let round: Vec<(String, String, Duration)> = thread::scope(|s| {
            let handles: Vec<_> = lan.hosts[1..]
                .iter()
                .map(|host| {
                    s.spawn(move || {
                        let t0 = Instant::now();
                        let mut child = spawn(host, &["discover", "lossy/svc", "10"]);
                        let (kind, rest) =
                            expect_any(&mut child, &["FOUND", "NOTFOUND"], secs(20.0));
                        (kind, rest, t0.elapsed())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (kind, rest, wall) in round {
            let (addr, ms) = split(&rest);
            if kind == "FOUND" && addr == want {
                found_ms.push(ms.parse::<u64>().expect("FOUND ms"));
                process_ms.push(wall.as_millis() as u64);
            } else {
                failures.push(format!("{kind} {rest}"));
            }
        }
    }
    let drops: u64 = lan.hosts.iter().map(dropped).sum();
    figure("loss.discovery.loss_percent", 30);
    figure("loss.discovery.packets_dropped", drops);
    figure("loss.discovery.failures", failures.len());
    figure(
        "loss.discovery.test_s",
        format!("{:.1}", start.elapsed().as_secs_f64()),
    );
    let sorted = distribution("loss.discovery.discover_call", &found_ms);
    distribution("loss.discovery.fresh_process_wall", &process_ms);
    for (lo, hi) in [
        (0, 100),
        (100, 500),
        (500, 1000),
        (1000, 2000),
        (2000, 3000),
        (3000, u64::MAX),
    ] {
        let n = sorted.iter().filter(|&&v| v >= lo && v < hi).count();
        let hi = if hi == u64::MAX {
            "inf".to_string()
        } else {
            hi.to_string()
        };
        figure(&format!("loss.discovery.histogram_ms.{lo}-{hi}"), n);
    }
    assert!(
        failures.is_empty(),
        "not discovered under 30 % loss: {failures:?}"
    );
    assert!(drops > 0, "the loss rule dropped nothing: is it in force?");
    assert_eq!(
        found_ms.len(),
        RUNS,
        "only {} of {RUNS} runs within {BUDGET:?}",
        found_ms.len()
    );
    let p99 = quantile(&sorted, 0.99);
    assert!(
        p99 <= LOSS_P99_MS,
        "discovery p99 under 30 % loss is {p99} ms (> {LOSS_P99_MS} ms): {sorted:?}"
    );
    assert_alive(&mut service, "the service");
}

/// 30 % loss of UDP and TCP on both hosts: every acknowledged send_message was
/// delivered exactly once; the client retries (with a new attempt number) only when
/// send_message returned None.
#[test]
fn loss_30_percent_messages_are_delivered_exactly_once_per_successful_send() {
    if !require_netns() || !require_nft() {
        return;
    }
    const MESSAGES: u64 = 50;
    const TRIES: u64 = 6;
    const WAIT_S: f64 = 3.0;
    const BUDGET: Duration = Duration::from_secs(45);
    let lan = Lan::new(2);
    for host in &lan.hosts {
        add_loss(host, "{ udp, tcp }");
    }
    let mut server = spawn(
        &lan.hosts[0],
        &["advertise", "lossy/rpc", "--serve", "echo", "--for", "90"],
    );
    let addr = address(&mut server);
    let mut client = Repl::start(&lan.hosts[1], "client");
    let t_discover = Instant::now();
    assert_eq!(
        client.discover("lossy/rpc", 10.0).as_deref(),
        Some(addr.as_str()),
        "discovery under loss"
    );
    figure(
        "loss.messages.discover_ms",
        t_discover.elapsed().as_millis(),
    );

    let start = Instant::now();
    let mut acked: Vec<(u64, u64)> = Vec::new();
    let mut latencies = Vec::new();
    let mut noreplies = 0u64;
    'messages: for id in 0..MESSAGES {
        for attempt in 0..TRIES {
            if start.elapsed() > BUDGET {
                break 'messages;
            }
            let message = serde_json::json!({"id": id, "try": attempt});
            let (kind, rest) = client.run_expect(
                &format!("send\t{addr}\t{message}\t{WAIT_S}"),
                &["REPLY", "NOREPLY"],
                secs(WAIT_S + 10.0),
            );
            if kind == "REPLY" {
                let (reply, ms) = reply_parts(&rest);
                assert_eq!(reply, message, "the echo answers this very message");
                acked.push((id, attempt));
                latencies.push(ms);
                continue 'messages;
            }
            noreplies += 1;
        }
    }
    let took = start.elapsed();
    // everything the server received, including late copies of unacknowledged tries
    let mut received: Vec<(u64, u64)> = Vec::new();
    while let Ok(line) = server.expect_line(|l| l.starts_with("MESSAGE "), secs(1.5)) {
        let v: serde_json::Value =
            serde_json::from_str(line.trim_start_matches("MESSAGE ")).expect("MESSAGE json");
        received.push((v["id"].as_u64().unwrap(), v["try"].as_u64().unwrap()));
    }
    let drops: u64 = lan.hosts.iter().map(dropped).sum();
    let unique: HashSet<_> = received.iter().copied().collect();
    let duplicates = received.len() - unique.len();
    let acked_set: HashSet<_> = acked.iter().copied().collect();
    let delivered_unacked = unique.difference(&acked_set).count();
    figure("loss.messages.loss_percent", 30);
    figure("loss.messages.packets_dropped", drops);
    figure("loss.messages.acknowledged", acked.len());
    figure("loss.messages.send_calls", acked.len() as u64 + noreplies);
    figure("loss.messages.none_then_retried", noreplies);
    figure("loss.messages.received_by_server", received.len());
    figure("loss.messages.duplicates", duplicates);
    figure(
        "loss.messages.delivered_but_unacknowledged",
        delivered_unacked,
    );
    figure("loss.messages.test_s", format!("{:.1}", took.as_secs_f64()));
    distribution("loss.messages.send_message", &latencies);

    assert!(drops > 0, "the loss rule dropped nothing: is it in force?");
    assert_eq!(duplicates, 0, "a message was delivered twice: {received:?}");
    let missing: Vec<_> = acked.iter().filter(|a| !unique.contains(a)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but never received: {missing:?}"
    );
    assert_eq!(
        acked.len() as u64,
        MESSAGES,
        "not every message got through within {TRIES} tries and {BUDGET:?} ({noreplies} Nones): {}",
        client.stderr()
    );
    assert_alive(&mut server, "the server");
}

// ---- restarts ----------------------------------------------------------------------

/// A child's stdout lines, each stamped with the instant it was read, on a thread of
/// its own (so the test can kill and spawn other processes meanwhile).
struct Stamped {
    lines: mpsc::Receiver<(Instant, String)>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<ChildGuard>>,
}

impl Stamped {
    /// Reads `child`'s lines for at most `limit`.
    fn start(mut child: ChildGuard, limit: Duration) -> Stamped {
        let (tx, lines) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let reader = thread::spawn(move || {
            let end = Instant::now() + limit;
            while !flag.load(Ordering::Relaxed) && Instant::now() < end {
                if let Ok(line) = child.next_line(Duration::from_millis(100)) {
                    let _ = tx.send((Instant::now(), line));
                }
            }
            child
        });
        Stamped {
            lines,
            stop,
            reader: Some(reader),
        }
    }

    /// The next line matching `pred` within `timeout`, with its instant; every line
    /// read on the way is passed to `seen`.
    fn until(
        &self,
        mut pred: impl FnMut(&str) -> bool,
        mut seen: impl FnMut(Instant, &str),
        timeout: Duration,
    ) -> Option<(Instant, String)> {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            let (at, line) = self.lines.recv_timeout(left).ok()?;
            seen(at, &line);
            if pred(&line) {
                return Some((at, line));
            }
        }
    }

    /// Stops reading and returns the child (still guarded).
    fn finish(mut self) -> ChildGuard {
        self.stop.store(true, Ordering::Relaxed);
        self.reader
            .take()
            .expect("reader")
            .join()
            .expect("reader thread")
    }
}

/// A publisher killed mid-stream and restarted on the same address: a subscriber that
/// keeps calling wait_for_news gets news again with no action of its own.
#[test]
fn restart_publisher_mid_stream_subscriber_gets_news_again() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(2);
    let at = format!("{}:47210", lan.hosts[0].ip);
    let publish = |generation: &str| {
        spawn(
            &lan.hosts[0],
            &[
                "publish",
                &at,
                "tick",
                &format!("\"{generation}\""),
                "600",
                "50",
            ],
        )
    };
    let first = publish("gen1");
    // one watch process: 2000 items at most, each waited for up to 10 s
    let watcher = Stamped::start(
        spawn(&lan.hosts[1], &["watch", &at, "", "2000", "10"]),
        secs(40.0),
    );
    let mut last_gen1 = None;
    let mut gen1 = 0;
    let mut note = |at: Instant, line: &str| {
        if line.contains("gen1") {
            last_gen1 = Some(at);
            gen1 += 1;
        }
    };
    let mut n = 0;
    watcher
        .until(
            |l| {
                n += l.contains("gen1") as usize;
                n >= 5
            },
            &mut note,
            secs(15.0),
        )
        .expect("the subscriber gets the first publisher's news");

    let mut first = first;
    first.kill();
    let killed = Instant::now();
    let mut second = publish("gen2");
    let back = watcher.until(|l| l.contains("gen2"), &mut note, secs(15.0));
    let Some((back_at, line)) = back else {
        let mut w = watcher.finish();
        w.kill();
        panic!(
            "no news from the restarted publisher within 15 s\nsubscriber: {:?}\n{}\npublisher: {}",
            w.stdout_seen(),
            w.stderr(),
            second.stderr()
        )
    };
    assert!(line.starts_with("NEWS "), "{line}");
    let last_gen1 = last_gen1.expect("gen1 news seen");
    recovery("pub_restart", back_at - killed);
    figure("restart.pub.items_before_the_kill", gen1);
    figure(
        "restart.pub.news_gap_ms",
        back_at.saturating_duration_since(last_gen1).as_millis(),
    );
    // and it keeps flowing
    let mut more = 0;
    watcher.until(
        |l| {
            more += l.contains("gen2") as usize;
            more >= 3
        },
        |_, _| {},
        secs(5.0),
    );
    let mut w = watcher.finish();
    assert!(more >= 3, "news stopped again: {:?}", w.stdout_seen());
    assert_alive(&mut w, "the subscriber");
    // README: ≈ 305 ms (a new process's start, then the subscriber's reconnect, every
    // 100-500 ms); a subscriber that stopped reconnecting, or backed off to seconds,
    // would miss this
    assert!(
        back_at - killed < secs(2.0),
        "the subscriber needed {:?} to get news again",
        back_at - killed
    );
    expect(&mut second, "PUBLISHED", secs(1.0));
}

/// A discoverer killed while it waits, and a fresh one started on the same host (which
/// another node shares): the fresh process finds every name at once, also one
/// advertised while no discoverer ran.
#[test]
fn restart_discoverer_fresh_process_finds_everything_at_once() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(3);
    let mut zero = Repl::start(&lan.hosts[0], "zero");
    let a = zero.advertise("again/a");
    let b = zero.advertise("again/b");
    let mut one = Repl::start(&lan.hosts[1], "one"); // shares the discoverer's host
    let c = one.advertise("again/c");
    let mut waiting = spawn(&lan.hosts[2], &["discover", "again/late", "30"]);
    thread::sleep(secs(0.5));
    waiting.kill();
    let killed = Instant::now();
    let late = zero.advertise("again/late");
    let mut want = vec![
        ("again/a".to_string(), a),
        ("again/b".to_string(), b),
        ("again/c".to_string(), c),
        ("again/late".to_string(), late.clone()),
    ];
    want.sort();

    for (i, host) in [(2, &lan.hosts[2]), (1, &lan.hosts[1])] {
        let started = Instant::now();
        let (lines, code, stderr) = drive::run(host, &["discover_all"], secs(10.0));
        let took = started.elapsed();
        assert_eq!(code, Some(0), "{lines:?} {stderr}");
        let all = drive::parse_pairs(
            lines[0]
                .strip_prefix("ALL ")
                .unwrap_or_else(|| panic!("{lines:?}")),
        );
        assert_eq!(all, want, "a fresh discover_all on host {i}");
        figure(
            &format!("restart.discoverer.host{i}.discover_all_process_ms"),
            took.as_millis(),
        );
        // "at once": within an advert interval (2 s), so from answers to its query,
        // not from listening to a round of adverts
        assert!(
            took < secs(2.0),
            "a fresh discover_all on host {i} took {took:?} (process start to exit)"
        );
        if i == 2 {
            recovery("discoverer_restart", killed.elapsed());
        }
        let (lines, code, stderr) = drive::run(host, &["discover", "again/late", "5"], secs(10.0));
        assert_eq!(code, Some(0), "{lines:?} {stderr}");
        let (addr, ms) = split(
            lines[0]
                .strip_prefix("FOUND ")
                .unwrap_or_else(|| panic!("{lines:?}")),
        );
        assert_eq!(addr, late);
        figure(&format!("restart.discoverer.host{i}.discover_call_ms"), ms);
        assert!(
            ms.parse::<u64>().unwrap() < 1000,
            "a fresh discover took {ms} ms for a live name"
        );
    }
}

fn py_line(child: &mut ChildGuard, word: &str, timeout: Duration) -> String {
    let line = child
        .expect_line(|l| l.starts_with(&format!("{word} ")), timeout)
        .unwrap_or_else(|e| panic!("python: waiting for {word}: {e}"));
    line[word.len() + 1..].to_string()
}

/// The Python process hosting a box's beacon (it holds UDP 9999 and the RPC, a Rust
/// node runs beside it) is killed and a new Python process starts: the Rust node's
/// discover of a Python name works again with no action of its own.
#[test]
fn restart_python_beacon_host_rust_node_discovers_python_again() {
    if !require_netns() {
        return;
    }
    let Some(_py) = require_python() else { return };
    let lan = Lan::new(2);
    let box_ = &lan.hosts[0];
    let mut first = py::spawn(box_, &py::advertiser("pyre/first", None, None, 60.0));
    let first_addr = py_line(&mut first, "ADDRESS", secs(15.0));
    assert_ne!(first_addr, "None", "{}", first.stderr());
    let mut rust = Repl::start(box_, "rust");
    let rust_addr = rust.advertise("pyre/rust");
    assert_eq!(
        rust.discover("pyre/first", 6.0).as_deref(),
        Some(first_addr.as_str()),
        "Rust finds Python through its beacon"
    );

    first.kill();
    let killed = Instant::now();
    let mut second = py::spawn(
        box_,
        "a = nw0.advertise('pyre/second')\nprint('ADDRESS', a, flush=True)\n\
         print('FOUND', nw0.discover('pyre/rust', 10), flush=True)\ntime.sleep(60)\n",
    );
    // Python's own start (about 1.4 s on this loaded machine) is not ours to bound:
    // time the Rust node from the moment the new Python program has advertised
    let second_addr = py_line(&mut second, "ADDRESS", secs(15.0));
    let advertised = Instant::now();
    assert_ne!(second_addr, "None", "{}", second.stderr());
    let found = rust.discover("pyre/second", 20.0);
    let took = advertised.elapsed();
    assert_eq!(
        found.as_deref(),
        Some(second_addr.as_str()),
        "the Rust node finds the new Python process's name: {}",
        rust.stderr()
    );
    recovery("python_beacon_restart", killed.elapsed());
    figure(
        "restart.python_beacon.python_start_ms",
        (advertised - killed).as_millis(),
    );
    figure(
        "restart.python_beacon.found_after_python_advertised_ms",
        took.as_millis(),
    );
    // the Rust node takes the beacon over, or asks the new Python beacon, at once:
    // well within one 2 s election round plus a discover
    assert!(
        took < secs(3.0),
        "the Rust node found the new Python name {took:?} after it was advertised"
    );
    assert_eq!(
        py_line(&mut second, "FOUND", secs(15.0)),
        rust_addr,
        "the new Python beacon hears the Rust node"
    );
    // and the name of a Python program on another host, through the new beacon
    let mut remote = py::spawn(
        &lan.hosts[1],
        &py::advertiser("pyre/remote", None, None, 60.0),
    );
    let remote_addr = py_line(&mut remote, "ADDRESS", secs(15.0));
    let t = Instant::now();
    assert_eq!(
        rust.discover("pyre/remote", 10.0).as_deref(),
        Some(remote_addr.as_str())
    );
    figure(
        "restart.python_beacon.remote_name_ms",
        t.elapsed().as_millis(),
    );
}

// ---- hostile input at ZMTP ports ---------------------------------------------------

/// Just enough ZMTP 3.0 (NULL security) to be a hostile peer.
mod zmtp {
    use super::*;

    /// A valid ZMTP 3.0 greeting (NULL mechanism, as client).
    pub fn greeting() -> [u8; 64] {
        let mut g = [0u8; 64];
        g[0] = 0xFF;
        g[9] = 0x7F;
        g[10] = 3;
        g[12..16].copy_from_slice(b"NULL");
        g
    }

    /// A READY command for `socket_type`.
    pub fn ready(socket_type: &str) -> Vec<u8> {
        let mut body = vec![5u8];
        body.extend_from_slice(b"READY");
        body.push(11);
        body.extend_from_slice(b"Socket-Type");
        body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
        body.extend_from_slice(socket_type.as_bytes());
        let mut frame = vec![0x04, body.len() as u8];
        frame.extend(body);
        frame
    }

    /// Reads one frame: (flags, body). Refuses bodies over 1 MiB.
    pub fn read_frame(s: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
        let mut flags = [0u8; 1];
        s.read_exact(&mut flags)?;
        let len = if flags[0] & 0x02 != 0 {
            let mut l = [0u8; 8];
            s.read_exact(&mut l)?;
            u64::from_be_bytes(l)
        } else {
            let mut l = [0u8; 1];
            s.read_exact(&mut l)?;
            u64::from(l[0])
        };
        if len > 1 << 20 {
            return Err(io::Error::other(format!("frame of {len} bytes")));
        }
        let mut body = vec![0u8; len as usize];
        s.read_exact(&mut body)?;
        Ok((flags[0], body))
    }

    /// Connects and completes the handshake as `socket_type`.
    pub fn handshake(stream: TcpStream, socket_type: &str) -> io::Result<TcpStream> {
        let mut s = stream;
        s.set_read_timeout(Some(secs(3.0)))?;
        s.set_write_timeout(Some(secs(3.0)))?;
        s.set_nodelay(true)?;
        s.write_all(&greeting())?;
        s.write_all(&ready(socket_type))?;
        let mut g = [0u8; 64];
        s.read_exact(&mut g)?;
        if g[0] != 0xFF || g[9] & 1 != 1 || &g[12..16] != b"NULL" {
            return Err(io::Error::other(format!("unexpected greeting {g:?}")));
        }
        let (flags, body) = read_frame(&mut s)?;
        if flags & 0x04 == 0 || !body.starts_with(b"\x05READY") {
            return Err(io::Error::other(format!("not READY: {flags:#x} {body:?}")));
        }
        Ok(s)
    }

    pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_timeout(&addr, secs(3.0))
    }

    /// How the peer reacted within `limit`: `closed after N ms` or `left open`.
    pub fn reaction(s: &mut TcpStream, limit: Duration) -> String {
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        let mut got = 0usize;
        while start.elapsed() < limit {
            let left = limit
                .saturating_sub(start.elapsed())
                .max(Duration::from_millis(1));
            let _ = s.set_read_timeout(Some(left));
            match s.read(&mut buf) {
                Ok(0) => {
                    return format!(
                        "closed_after_{}ms(read_{got}B)",
                        start.elapsed().as_millis()
                    )
                }
                Ok(n) => got += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(_) => {
                    return format!("reset_after_{}ms(read_{got}B)", start.elapsed().as_millis())
                }
            }
        }
        format!("left_open_{}ms(read_{got}B)", limit.as_millis())
    }
}

/// Each malformed input on its own connection; (input, reaction).
fn malformed_inputs(target: SocketAddr) -> Vec<(&'static str, String)> {
    let limit = secs(1.5);
    let mut out = Vec::new();
    let mut attempt = |what: &'static str, run: &dyn Fn() -> io::Result<String>| {
        out.push((what, run().unwrap_or_else(|e| format!("error:{e}"))));
    };
    attempt("http_request", &|| {
        let mut s = zmtp::connect(target)?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: robot\r\n\r\n")?;
        Ok(zmtp::reaction(&mut s, limit))
    });
    attempt("wrong_signature", &|| {
        let mut s = zmtp::connect(target)?;
        let mut g = zmtp::greeting();
        g[0] = 0xFE;
        g[9] = 0x00;
        s.write_all(&g)?;
        Ok(zmtp::reaction(&mut s, limit))
    });
    attempt("wrong_mechanism", &|| {
        let mut s = zmtp::connect(target)?;
        let mut g = zmtp::greeting();
        g[12..17].copy_from_slice(b"CURVE");
        s.write_all(&g)?;
        Ok(zmtp::reaction(&mut s, limit))
    });
    attempt("frame_len_u64_max", &|| {
        let mut s = zmtp::handshake(zmtp::connect(target)?, "REQ")?;
        s.write_all(&[0x02])?;
        s.write_all(&u64::MAX.to_be_bytes())?;
        Ok(zmtp::reaction(&mut s, limit))
    });
    attempt("command_len_u64_max", &|| {
        let mut s = zmtp::handshake(zmtp::connect(target)?, "REQ")?;
        s.write_all(&[0x06])?;
        s.write_all(&u64::MAX.to_be_bytes())?;
        Ok(zmtp::reaction(&mut s, limit))
    });
    attempt("frame_len_i64_max_plus_1", &|| {
        let mut s = zmtp::handshake(zmtp::connect(target)?, "REQ")?;
        s.write_all(&[0x02])?;
        s.write_all(&(1u64 << 63).to_be_bytes())?;
        Ok(zmtp::reaction(&mut s, limit))
    });
    attempt("over_limit_frame_16MiB_plus_1", &|| {
        let mut s = zmtp::handshake(zmtp::connect(target)?, "REQ")?;
        s.write_all(&[0x01, 0x00])?; // the REQ envelope delimiter
        s.write_all(&[0x02])?;
        s.write_all(&((16u64 << 20) + 1).to_be_bytes())?;
        // then stream some of it (bounded; a closed peer ends it early)
        let chunk = vec![b'7'; 64 * 1024];
        for _ in 0..16 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        Ok(zmtp::reaction(&mut s, limit))
    });
    attempt("ready_with_bad_property_length", &|| {
        let mut s = zmtp::connect(target)?;
        s.write_all(&zmtp::greeting())?;
        // READY whose property value claims 4 GiB
        let mut body = vec![5u8];
        body.extend_from_slice(b"READY");
        body.push(11);
        body.extend_from_slice(b"Socket-Type");
        body.extend_from_slice(&u32::MAX.to_be_bytes());
        body.extend_from_slice(b"REQ");
        s.write_all(&[0x04, body.len() as u8])?;
        s.write_all(&body)?;
        Ok(zmtp::reaction(&mut s, limit))
    });
    attempt("wrong_socket_type_pair", &|| {
        let mut s = zmtp::connect(target)?;
        s.write_all(&zmtp::greeting())?;
        s.write_all(&zmtp::ready("PUB"))?;
        Ok(zmtp::reaction(&mut s, limit))
    });
    out
}

/// Many connections that send one byte of a greeting and stall, held for `hold`:
/// (made, failed, closed by the node meanwhile).
fn slowloris(target: SocketAddr, connections: usize, hold: Duration) -> (usize, usize, usize) {
    let mut open = Vec::new();
    let mut failed = 0;
    let start = Instant::now();
    for _ in 0..connections {
        if start.elapsed() > secs(5.0) {
            break;
        }
        match zmtp::connect(target).and_then(|mut s| s.write_all(&[0xFF]).map(|_| s)) {
            Ok(s) => open.push(s),
            Err(_) => failed += 1,
        }
    }
    thread::sleep(hold);
    // how many the node has closed meanwhile (a read that ends at once)
    let closed = open
        .iter_mut()
        .filter_map(|s| {
            let _ = s.set_nonblocking(true);
            let mut b = [0u8; 64];
            loop {
                match s.read(&mut b) {
                    Ok(0) => return Some(()),
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                    Err(_) => return Some(()),
                }
            }
        })
        .count();
    (open.len(), failed, closed)
}

/// Connection attempts from `threads` threads at up to `rate` per second in all, for
/// `duration`, at most `cap` in all; each closes at once with a reset. Returns
/// (connected, failed, seconds).
fn connection_flood(
    target: SocketAddr,
    threads: usize,
    rate: u64,
    duration: Duration,
    cap: u64,
) -> (u64, u64, f64) {
    use socket2::{Domain, Protocol, Socket, Type};
    let start = Instant::now();
    let per_thread_rate = rate / threads as u64;
    let per_thread_cap = cap / threads as u64;
    let results: Vec<(u64, u64)> = thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(move || {
                    let (mut ok, mut failed) = (0u64, 0u64);
                    let mut n = 0u64;
                    while n < per_thread_cap && start.elapsed() < duration {
                        // pace: never ahead of the rate
                        let due = Duration::from_micros(n * 1_000_000 / per_thread_rate);
                        if let Some(wait) = due.checked_sub(start.elapsed()) {
                            thread::sleep(wait);
                        }
                        n += 1;
                        let socket =
                            match Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)) {
                                Ok(s) => s,
                                Err(_) => {
                                    failed += 1;
                                    continue;
                                }
                            };
                        let _ = socket.set_linger(Some(Duration::ZERO));
                        match socket.connect_timeout(&target.into(), Duration::from_millis(250)) {
                            Ok(()) => ok += 1,
                            Err(_) => failed += 1,
                        }
                    }
                    (ok, failed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = results.iter().map(|r| r.0).sum();
    let failed = results.iter().map(|r| r.1).sum();
    (ok, failed, start.elapsed().as_secs_f64())
}

/// A good client's send_message round trips while `busy` is running; latencies in ms
/// (`None` for a send that got no reply within 5 s).
fn good_client_while<T>(
    client: &mut Repl,
    target: &str,
    label: &str,
    busy: JoinHandle<T>,
) -> (T, Vec<Option<u64>>) {
    let mut results = Vec::new();
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        let message = serde_json::json!({"good": label, "n": n});
        n += 1;
        let (kind, rest) = client.run_expect(
            &format!("send\t{target}\t{message}\t5"),
            &["REPLY", "NOREPLY"],
            secs(20.0),
        );
        results.push(if kind == "REPLY" {
            let (reply, ms) = reply_parts(&rest);
            assert_eq!(reply, message);
            Some(ms)
        } else {
            None
        });
        if busy.is_finished() || n >= 500 || start.elapsed() > secs(30.0) {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let out = busy.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    (out, results)
}

/// How slow a good client's round trip may be at p99 during an attack (ms). README:
/// p99 ≤ 10 ms, on an idle machine; this loaded 2-core one has shown up to 1042 ms
/// (slowloris, pure-Rust transport, load average far above 20). A node whose I/O
/// waited on hostile connections (a blocking greeting read, a stall per bad
/// connection: 3 s seen with a 1.5 s one) shows more, or failures.
const GOOD_P99_MS: u64 = 2500;

fn report_good(label: &str, results: &[Option<u64>]) {
    let ok: Vec<u64> = results.iter().flatten().copied().collect();
    figure(&format!("hostile.{label}.good_sends"), results.len());
    figure(
        &format!("hostile.{label}.good_failures"),
        results.len() - ok.len(),
    );
    let sorted = distribution(&format!("hostile.{label}.good_latency"), &ok);
    assert_eq!(
        ok.len(),
        results.len(),
        "a good client's send_message failed during {label}: {results:?}"
    );
    assert!(!sorted.is_empty(), "no good send during {label}");
    let p99 = quantile(&sorted, 0.99);
    assert!(
        p99 <= GOOD_P99_MS,
        "a good client's p99 during {label} is {p99} ms (> {GOOD_P99_MS} ms): {sorted:?}"
    );
}

/// Malformed inputs a node may leave open until its handshake timeout: their first
/// bytes are also the start of a ZMTP 1.0 peer's greeting (a length and a flags byte,
/// not 0xFF), which libzmq accepts for backward compatibility, so nothing yet says
/// they are wrong. Every other malformed input must be dropped at once.
const MAY_LOOK_LIKE_ZMTP_1_0: [&str; 2] = ["http_request", "wrong_signature"];

/// Hostile input at the ZMTP port of a Rust node (an echo server): malformed
/// greetings and frames, slowloris, a connection flood. Meanwhile a good client's
/// send_message keeps succeeding, the node never panics and its peak memory stays
/// bounded.
#[test]
fn hostile_zmtp_input_node_stays_responsive_and_bounded() {
    if !require_netns() {
        return;
    }
    // README: peak RSS 8 MiB (8.0 MiB here with libzmq, 12.5 MiB with the pure-Rust
    // transport) on a quiet machine. Under heavy load more flood connections are open at
    // once and peaks of 28-31 MiB were seen (both transports, the same binary passing
    // minutes earlier), so 24 MiB failed for load alone. A buffer that grew with a
    // claimed frame length (16 MiB or 2^63, on several connections) is still over this.
    const PEAK_LIMIT_KIB: u64 = 40 * 1024;
    let host = Host::isolated();
    let mut node = spawn(
        &host,
        &[
            "advertise",
            "hostile/echo",
            "--serve",
            "echo",
            "--for",
            "90",
        ],
    );
    let addr = address(&mut node);
    let target: SocketAddr = addr.parse().expect("ip:port");
    let pid = node.id();
    let mut good = Repl::start(&host, "good client");
    let idle = host.spawn(|| thread::sleep(secs(0.3)));
    let (_, results) = good_client_while(&mut good, &addr, "baseline", idle);
    report_good("baseline", &results);
    figure(
        "hostile.node.rss_before_kib",
        proc_kib(pid, "VmRSS").unwrap_or(0),
    );
    figure("hostile.node.fds_before", open_fds(pid));

    // 1. malformed greetings and frames, one connection each
    let attack = host.spawn(move || malformed_inputs(target));
    let (reactions, results) = good_client_while(&mut good, &addr, "malformed", attack);
    for (what, reaction) in &reactions {
        figure(&format!("hostile.malformed.{what}"), reaction);
    }
    report_good("malformed", &results);
    for (what, reaction) in &reactions {
        assert!(
            !reaction.starts_with("error"),
            "{what}: the attack itself failed: {reaction}"
        );
        assert!(
            !reaction.starts_with("left_open") || MAY_LOOK_LIKE_ZMTP_1_0.contains(what),
            "{what}: the node kept a malformed connection open: {reaction}"
        );
    }
    assert_alive(&mut node, "the node after malformed input");

    // 2. slowloris: 256 connections that send 1 byte and stall for 3 s
    let attack = host.spawn(move || slowloris(target, 256, secs(3.0)));
    let fds_probe = host.spawn(move || {
        thread::sleep(secs(2.0));
        open_fds(pid)
    });
    let ((open, failed, closed), results) =
        good_client_while(&mut good, &addr, "slowloris", attack);
    figure("hostile.slowloris.connections", open);
    figure("hostile.slowloris.failed", failed);
    figure("hostile.slowloris.closed_by_node_within_3s", closed);
    figure(
        "hostile.slowloris.node_fds_during",
        fds_probe.join().unwrap(),
    );
    report_good("slowloris", &results);
    assert!(open >= 200, "only {open} slowloris connections were made");
    assert_alive(&mut node, "the node after slowloris");

    // 3. a connection flood: 10 000 attempts/s for 3 s (at most 30 000)
    let attack = host.spawn(move || connection_flood(target, 4, 10_000, secs(3.0), 30_000));
    let ((ok, failed, took), results) = good_client_while(&mut good, &addr, "flood", attack);
    figure("hostile.flood.connected", ok);
    figure("hostile.flood.failed", failed);
    figure("hostile.flood.seconds", format!("{took:.2}"));
    figure(
        "hostile.flood.per_second",
        format!("{:.0}", (ok + failed) as f64 / took),
    );
    report_good("flood", &results);
    assert!(ok > 1000, "the flood made only {ok} connections");

    // afterwards: still answering, bounded, no panic
    let idle = host.spawn(|| thread::sleep(secs(0.5)));
    let (_, results) = good_client_while(&mut good, &addr, "after", idle);
    report_good("after", &results);
    let peak = proc_kib(pid, "VmHWM").expect("VmHWM of the node");
    figure("hostile.node.peak_rss_kib", peak);
    figure(
        "hostile.node.rss_after_kib",
        proc_kib(pid, "VmRSS").unwrap_or(0),
    );
    figure("hostile.node.fds_after", open_fds(pid));
    assert_alive(&mut node, "the node after every attack");
    assert!(
        peak < PEAK_LIMIT_KIB,
        "the node's peak RSS is {peak} KiB (limit {PEAK_LIMIT_KIB} KiB)"
    );
}

// ---- a slow subscriber -------------------------------------------------------------

/// A raw ZMTP SUB that subscribes to everything and then never reads (with a small
/// receive buffer). Connects as soon as the publisher listens (within `limit`).
fn stalled_subscriber(target: SocketAddr, limit: Duration) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let start = Instant::now();
    loop {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_recv_buffer_size(4096)?;
        match socket.connect_timeout(&target.into(), secs(1.0)) {
            Ok(()) => {
                let mut s = zmtp::handshake(socket.into(), "SUB")?;
                s.write_all(&[0x00, 0x01, 0x01])?; // subscribe to "" (ZMTP 3.0 style)
                return Ok(s);
            }
            Err(e) if start.elapsed() > limit => return Err(e),
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// The `seq` of a flood item (`{"pad":"xxx…","seq":N}`), read from its end: a JSON
/// parse of every 1 KiB item would make the fast subscriber the bottleneck.
fn seq_of(data: &[u8]) -> Option<u64> {
    let at = data.windows(6).rposition(|w| w == b"\"seq\":")?;
    let digits = &data[at + 6..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// What a subscriber was sent: how many items, and the lowest and highest `seq`.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    items: u64,
    first: u64,
    top: u64,
}

impl Seen {
    fn add(&mut self, seq: u64) {
        if self.items == 0 {
            self.first = seq;
        }
        self.items += 1;
        self.top = self.top.max(seq);
    }

    /// Every item from `first` to `top`, once each: nothing in between was dropped.
    fn gapless(&self) -> bool {
        self.items > 0 && self.items == self.top - self.first + 1
    }
}

/// Reads what the stalled subscriber was sent, for at most `limit`.
fn drain_news(s: &mut TcpStream, limit: Duration) -> Seen {
    let start = Instant::now();
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reader = io::BufReader::new(s);
    let mut seen = Seen::default();
    while start.elapsed() < limit {
        // topic frame (MORE), then the data frame
        let Ok((flags, _topic)) = zmtp::read_frame(&mut reader) else {
            break;
        };
        if flags & 0x01 == 0 {
            continue;
        }
        let Ok((_, data)) = zmtp::read_frame(&mut reader) else {
            break;
        };
        seen.add(seq_of(&data).unwrap_or(0));
    }
    seen
}

/// A subscriber that connects, subscribes and never reads while the publisher
/// publishes 200 000 items of 1 KiB (5 000 a second): the publisher's memory stays
/// bounded (the high-water mark drops the newest items for that subscriber) and a fast
/// subscriber still gets every item.
#[test]
fn slow_subscriber_does_not_grow_the_publishers_memory() {
    if !require_netns() {
        return;
    }
    const ITEMS: u64 = 200_000;
    // README: 7.7 MiB (8.0 MiB here); every item kept would be over 200 MiB, and a
    // high-water mark ten times the documented 1000 items adds 10 MiB
    const PEAK_LIMIT_KIB: u64 = 16 * 1024;
    // the documented high-water mark: items queued for one subscriber
    const HWM: u64 = 1000;
    // The publisher's pace. The fast subscriber (a debug build, like the publisher)
    // keeps up with it; unpaced, a publisher that outruns it (9 000 items/s here when
    // the machine is quiet) drops items for it at its own high-water mark too, which
    // says nothing about the stalled one.
    const PER_S: u64 = 5000;
    let host = Host::isolated();
    let at = "127.0.0.1:47311";
    let target: SocketAddr = at.parse().unwrap();
    // the fast subscriber (libzmq, in this host) and the stalled one wait for the
    // publisher to listen; the publisher's first item waits for them
    let stop = Arc::new(AtomicBool::new(false));
    let stop_fast = Arc::clone(&stop);
    let fast_seen = Arc::new(Mutex::new(Seen::default()));
    let fast_progress = Arc::clone(&fast_seen);
    let fast = host.spawn(move || -> u64 {
        let ctx = zmq::Context::new();
        let sub = ctx.socket(zmq::SUB).unwrap();
        sub.set_linger(0).unwrap();
        sub.set_rcvtimeo(200).unwrap();
        sub.connect(&format!("tcp://{target}")).unwrap();
        sub.set_subscribe(b"").unwrap();
        let mut bytes = 0u64;
        let start = Instant::now();
        // bounded by the stop flag, the last item, and 10 minutes
        while !stop_fast.load(Ordering::Relaxed) && start.elapsed() < secs(600.0) {
            let Ok(parts) = sub.recv_multipart(0) else {
                continue;
            };
            let data = parts.get(1).map_or(&[][..], Vec::as_slice);
            bytes += data.len() as u64;
            let seq = seq_of(data).unwrap_or(0);
            let mut seen = fast_progress.lock().unwrap();
            seen.add(seq);
            if seq == ITEMS {
                break;
            }
        }
        bytes
    });
    let slow = host.spawn(move || stalled_subscriber(target, secs(20.0)));
    let started = Instant::now();
    let mut publisher = spawn(
        &host,
        &[
            "flood",
            at,
            "news",
            "1024",
            &ITEMS.to_string(),
            "20",
            &PER_S.to_string(),
        ],
    );
    let pid = publisher.id();
    let mut slow = slow
        .join()
        .unwrap()
        .expect("the stalled subscriber connects");
    let mut peak_during = 0;
    let mut published = 0u64;
    while published < ITEMS {
        let line = publisher
            .expect_line(|l| l.starts_with("PUBLISHED ") || l == "BYE", secs(40.0))
            .unwrap_or_else(|e| panic!("the publisher: {e}"));
        peak_during = peak_during.max(proc_kib(pid, "VmRSS").unwrap_or(0));
        if line == "BYE" {
            break;
        }
        published = line["PUBLISHED ".len()..].parse().unwrap();
    }
    let took = started.elapsed();
    expect(&mut publisher, "BYE", secs(5.0));
    // the fast subscriber empties its queue: until the last item, or 5 s with none
    let mut last = (Instant::now(), 0);
    loop {
        let now = fast_seen.lock().unwrap().items;
        if fast.is_finished() || now != last.1 {
            last = (Instant::now(), now);
        }
        if fast.is_finished() || last.0.elapsed() > secs(5.0) {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    let peak = proc_kib(pid, "VmHWM").expect("VmHWM of the publisher");
    stop.store(true, Ordering::Relaxed);
    let fast_bytes = fast.join().unwrap();
    let fast = *fast_seen.lock().unwrap();
    let slow = drain_news(&mut slow, secs(5.0));
    figure("slow_sub.items_published", published);
    figure("slow_sub.item_bytes", 1024);
    figure(
        "slow_sub.publish_seconds",
        format!("{:.2}", took.as_secs_f64()),
    );
    figure("slow_sub.publisher_peak_rss_kib", peak);
    figure("slow_sub.publisher_rss_max_sampled_kib", peak_during);
    figure("slow_sub.stalled_subscriber_items_received", slow.items);
    figure("slow_sub.stalled_subscriber_first_seq", slow.first);
    figure("slow_sub.stalled_subscriber_highest_seq", slow.top);
    figure("slow_sub.fast_subscriber_items_received", fast.items);
    figure("slow_sub.fast_subscriber_first_seq", fast.first);
    figure("slow_sub.fast_subscriber_highest_seq", fast.top);
    figure("slow_sub.fast_subscriber_mib", fast_bytes >> 20);
    assert_eq!(published, ITEMS, "the publisher did not finish");
    assert!(
        peak < PEAK_LIMIT_KIB,
        "the publisher's peak RSS is {peak} KiB with a stalled subscriber (limit {PEAK_LIMIT_KIB})"
    );
    // The stalled subscriber got the oldest items (from when it joined), then only
    // the odd newer one: the newest were dropped for it while its queue (HWM items,
    // plus what the kernel's socket buffers hold: a few thousand 1 KiB items) was
    // full, as libzmq does. Not always gapless: whenever a little room opens in the
    // kernel's buffers a newer item gets in (CI, pure-Rust transport: 3825 items up to
    // seq 20524 of 200 000). Dropping the oldest instead would end near the last.
    assert!(
        slow.first <= ITEMS / 100 && slow.top < ITEMS / 2,
        "the stalled subscriber did not keep the oldest items and lose the newest: {slow:?}"
    );
    assert!(
        (HWM..=10 * HWM).contains(&slow.items),
        "the stalled subscriber was sent {} items, not its {HWM}-item queue and the socket \
         buffers' worth: {slow:?}",
        slow.items
    );
    // Every item from the one it joined at to the last. It joins while the publisher
    // starts (libzmq reconnects every 100 ms); the first item waits for subscribers
    // already retrying (`FIRST_NEWS_JOIN`), but one descheduled past that misses
    // what was published before it joined (49 items here once, before that wait).
    assert!(
        fast.first <= ITEMS / 100 && fast.top == ITEMS && fast.gapless(),
        "the fast subscriber did not get every item from the first 1 % of the stream on: {fast:?}"
    );
    assert_alive(&mut publisher, "the publisher");
}
