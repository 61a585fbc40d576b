//! `nw0-bench`: networkzero measured next to its baselines in one run.
//!
//! ```text
//! ../shared/sealed cargo run --release -p nw0-bench            # full run, writes bench/results.md
//! ../shared/sealed cargo run --release -p nw0-bench -- --quick # seconds; CI runs this so it never rots
//! ```
//! It must run inside a private network namespace (it broadcasts and builds
//! a simulated 3-host LAN); it refuses otherwise. Every figure is printed
//! next to its baseline from the same run, as a ratio.
//!
//! The binary is also its own helper processes: `nw0-bench ROLE …`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use networkzero as nw0;
use nw0_tests::{ChildGuard, Host, Lan};

mod pubsub;
mod roles;
mod scale;

/// Median, p99 and count of a set of samples (any unit).
#[derive(Clone, Copy, Default)]
struct Stats {
    median: f64,
    p99: f64,
    n: usize,
}

fn stats(mut v: Vec<f64>) -> Stats {
    if v.is_empty() {
        return Stats::default();
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    Stats {
        median: at(0.5),
        p99: at(0.99),
        n: v.len(),
    }
}

pub(crate) fn wall_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

pub(crate) fn me() -> String {
    std::env::current_exe()
        .expect("own path")
        .display()
        .to_string()
}

/// A table row: what, ours, baseline, ratio text.
struct Row {
    what: String,
    ours: String,
    baseline: String,
    ratio: String,
}

pub(crate) struct Report {
    pub(crate) quick: bool,
    rows: Vec<Row>,
}

impl Report {
    pub(crate) fn add(&mut self, what: &str, ours: String, baseline: String, ratio: String) {
        println!("{what:<58} {ours:<28} {baseline:<34} {ratio}");
        self.rows.push(Row {
            what: what.into(),
            ours,
            baseline,
            ratio,
        });
    }

    fn markdown(&self) -> String {
        let mut s = String::from("| measurement | networkzero (Rust) | baseline, same run | ratio |\n|---|---|---|---|\n");
        for r in &self.rows {
            s += &format!(
                "| {} | {} | {} | {} |\n",
                r.what, r.ours, r.baseline, r.ratio
            );
        }
        s
    }
}

fn ms(s: Stats) -> String {
    format!("{:.2} ms median, {:.2} ms p99 (n={})", s.median, s.p99, s.n)
}

fn us(s: Stats) -> String {
    format!("{:.1} µs median, {:.1} µs p99", s.median, s.p99)
}

fn faster(ours: f64, theirs: f64) -> String {
    if ours <= 0.0 {
        return "—".into();
    }
    format!("{:.1}× faster", theirs / ours)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(role) = args.first().filter(|a| !a.starts_with("--")) {
        roles::run(role, &args[1..]);
        return;
    }
    if std::env::var("NW0_SEALED").as_deref() != Ok("1")
        && std::env::var("NW0_TEST_NETNS").as_deref() != Ok("1")
    {
        eprintln!("nw0-bench broadcasts and builds simulated LANs: run it inside ../shared/sealed (or tests/run.sh's namespace)");
        std::process::exit(2);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let python = nw0_tests::python();
    if python.is_none() {
        eprintln!(
            "note: no Python networkzero venv (target/py-venv): Python baselines are skipped"
        );
    }
    let mut report = Report {
        quick,
        rows: Vec::new(),
    };
    println!(
        "{:<58} {:<28} {:<34} ratio",
        "measurement", "networkzero (Rust)", "baseline"
    );
    if args.iter().any(|a| a == "--scale-only") {
        // Just the class and school rows (printed, not written).
        scale::class(&mut report, python.as_deref());
        scale::school(&mut report, python.as_deref(), None, false);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--school-only") {
        // Only the school's rows, with RUNS fresh `ls` runs at each wait;
        // `busy` after RUNS: the `ls` runs start as soon as the 400
        // programs are up (see scale::school).
        let runs = args.get(i + 1).and_then(|r| r.parse().ok()).unwrap_or(10);
        let busy = args.get(i + 2).is_some_and(|a| a == "busy");
        scale::school(&mut report, python.as_deref(), Some(runs), busy);
        return;
    }
    if args.iter().any(|a| a == "--discovery-only") {
        // Only the discovery rows (a fresh process finds a running service…).
        discovery(&mut report, python.as_deref());
        return;
    }
    if args.iter().any(|a| a == "--class-only") {
        // Only the class row (and one discoverer alone beside it).
        scale::class(&mut report, python.as_deref());
        return;
    }
    if args.iter().any(|a| a == "--pubsub-only") {
        // Just the PUB/SUB rows (e.g. to compare transports); not written to a file.
        pubsub(&mut report, python.as_deref());
        return;
    }
    if args.iter().any(|a| a == "--reqrep-only") {
        // Just the REQ/REP rows; not written to a file.
        reqrep(&mut report, None);
        return;
    }
    discovery(&mut report, python.as_deref());
    scale::class(&mut report, python.as_deref());
    scale::school(&mut report, python.as_deref(), None, false);
    messaging(&mut report, python.as_deref());
    beacon_throughput(&mut report);
    idle(&mut report, python.as_deref());
    let table = report.markdown();
    let out = if quick {
        "target/bench-quick.md"
    } else {
        "bench/results.md"
    };
    let header = format!(
        "# networkzero benchmark results\n\nMade by `bash bench/run.sh{}` on {} cores: both transports (the pure-Rust \
         rows by the pure-Rust build of the same benchmark); every baseline is measured in the same run.\n\n",
        if quick { " --quick" } else { "" },
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if let Err(e) = std::fs::write(out, header + &table) {
        eprintln!("cannot write {out}: {e}");
    } else {
        println!("\nwritten to {out}");
    }
}

/// The transport this binary's networkzero uses.
const TRANSPORT: &str = if cfg!(feature = "pure-rust") {
    "pure-Rust"
} else {
    "libzmq"
};

/// The pure-Rust build of this benchmark, which runs the pure-Rust rows as
/// this one's helper: `NW0_BENCH_PURE`, or `nw0-bench-pure` beside this
/// binary (bench/run.sh puts it there). `None` in the pure-Rust build.
fn pure_exe() -> Option<String> {
    if cfg!(feature = "pure-rust") {
        return None;
    }
    let path = std::env::var_os("NW0_BENCH_PURE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(me()).with_file_name("nw0-bench-pure"));
    path.is_file().then(|| path.display().to_string())
}

/// Says, loudly, that the pure-Rust rows are missing; fails under CI.
fn missing_pure() {
    eprintln!(
        "\n!!! no pure-Rust build of nw0-bench (nw0-bench-pure beside this binary, or \
         NW0_BENCH_PURE): its rows are missing. `bash bench/run.sh` builds it.\n"
    );
    if std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false")) {
        std::process::exit(1);
    }
}

/// The 10 % and 90 % quantiles of some ratios.
fn spread(v: &[f64]) -> (f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        v.get(((v.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (at(0.1), at(0.9))
}

/// A helper of another binary (the pure-Rust build).
fn spawn_exe(exe: &str, args: &[&str]) -> ChildGuard {
    let mut cmd = Command::new(exe);
    cmd.args(args).env("NW0_LOG", "off");
    ChildGuard::spawn(&mut cmd).expect("spawn helper")
}

/// A helper driven over its stdin (the pure-Rust REQ client).
struct Helper(std::process::Child, BufReader<std::process::ChildStdout>);

impl Helper {
    fn new(exe: &str, args: &[&str]) -> Helper {
        let (child, out) = spawn_piped(exe, args);
        Helper(child, out)
    }

    /// `n` round trips, in µs, from a `req-rtts` helper.
    fn rtts(&mut self, n: usize) -> Vec<f64> {
        tell(&mut self.0, &n.to_string());
        read_value(&mut self.1, "RTTS ")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn spawn_in(host: Option<&Host>, args: &[&str]) -> ChildGuard {
    let mut cmd = match host {
        Some(h) => {
            let mut c = h.command(me());
            c.args(args);
            c
        }
        None => {
            let mut c = Command::new(me());
            c.args(args);
            c
        }
    };
    cmd.env("NW0_LOG", "off");
    ChildGuard::spawn(&mut cmd).expect("spawn helper")
}

pub(crate) fn python_in(python: &std::path::Path, host: &Host, code: &str) -> ChildGuard {
    let mut cmd = nw0_tests::py::python_script_with(python, host, code);
    ChildGuard::spawn(&mut cmd).expect("spawn python")
}

/// Reads `KEY value` lines from a child until KEY appears.
pub(crate) fn value(child: &mut ChildGuard, key: &str, timeout: Duration) -> Option<f64> {
    let line = child.expect_line(|l| l.starts_with(key), timeout).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn discovery(report: &mut Report, python: Option<&std::path::Path>) {
    let lan = Lan::new(3);
    let runs = if report.quick { 5 } else { 20 };
    let py_runs = if report.quick { 2 } else { 20 };

    // 1. A fresh process on another host finds a service that is already running.
    let mut adv = spawn_in(Some(&lan.hosts[0]), &["advertise", "svc"]);
    let _ = adv.expect_line(|l| l.starts_with("ADDRESS"), Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let ours: Vec<f64> = (0..runs)
        .filter_map(|_| {
            value(
                &mut spawn_in(Some(&lan.hosts[1]), &["find", "svc"]),
                "FOUND_MS",
                Duration::from_secs(15),
            )
        })
        .collect();
    let ours = stats(ours);
    let theirs = python.map(|py| {
        let mut padv = python_in(py, &lan.hosts[0], &nw0_tests::py::advertiser("pysvc", None, None, 600.0));
        let _ = padv.expect_line(|l| l.starts_with("ADDRESS"), Duration::from_secs(20));
        let code = "t = time.time()\na = nw0.discover('pysvc', 10)\nprint('FOUND_MS', (time.time() - t) * 1000 if a else -1, flush=True)";
        let v: Vec<f64> = (0..py_runs)
            .filter_map(|_| value(&mut python_in(py, &lan.hosts[2], code), "FOUND_MS", Duration::from_secs(20)))
            .filter(|v| *v >= 0.0)
            .collect();
        stats(v)
    });
    let (base, ratio) = theirs.map_or(("(no Python)".into(), "—".into()), |t| {
        (format!("Python: {}", ms(t)), faster(ours.median, t.median))
    });
    report.add(
        "fresh process discovers a running service, other host",
        ms(ours),
        base,
        ratio,
    );
    drop(adv);

    // 2. Cold: the discoverer waits first; the advertiser starts later.
    let cold = |name: &str,
                finder: &mut dyn FnMut() -> ChildGuard,
                advertiser: &mut dyn FnMut() -> ChildGuard|
     -> Option<f64> {
        let mut f = finder();
        f.expect_line(|l| l.starts_with("WAITING"), Duration::from_secs(20))
            .ok()?;
        std::thread::sleep(Duration::from_millis(200));
        let launched = wall_ms();
        let _a = advertiser();
        let found = value(&mut f, "FOUND_AT", Duration::from_secs(30))?;
        let _ = name;
        Some(found - launched)
    };
    let ours: Vec<f64> = (0..runs)
        .filter_map(|i| {
            let name = format!("cold{i}");
            cold(
                &name,
                &mut || spawn_in(Some(&lan.hosts[1]), &["find-cold", &name]),
                &mut || spawn_in(Some(&lan.hosts[0]), &["advertise", &name]),
            )
        })
        .collect();
    let ours = stats(ours);
    let theirs = python.map(|py| {
        let v: Vec<f64> = (0..py_runs)
            .filter_map(|i| {
                let name = format!("pycold{i}");
                let finder = format!(
                    "print('WAITING', flush=True)\na = nw0.discover({n}, 30)\nprint('FOUND_AT', time.time() * 1000, flush=True)",
                    n = nw0_tests::py::str_lit(&name)
                );
                let advertiser = nw0_tests::py::advertiser(&name, None, None, 60.0);
                cold(&name, &mut || python_in(py, &lan.hosts[1], &finder), &mut || python_in(py, &lan.hosts[0], &advertiser))
            })
            .collect();
        stats(v)
    });
    let (base, ratio) = theirs.map_or(("(no Python)".into(), "—".into()), |t| {
        (format!("Python: {}", ms(t)), faster(ours.median, t.median))
    });
    report.add(
        "cold: advertiser launched after the discoverer waits",
        ms(ours),
        base,
        ratio,
    );

    // 3. Warm: the name is already known to this process.
    let n = if report.quick { "1000" } else { "100000" };
    let mut w = spawn_in(Some(&lan.hosts[2]), &["warm", n]);
    let line = w
        .expect_line(|l| l.starts_with("WARM_US"), Duration::from_secs(60))
        .unwrap_or_default();
    let nums: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let warm = match nums[..] {
        [median, p99] => Stats {
            median,
            p99,
            n: n.parse().unwrap_or(0),
        },
        _ => Stats::default(),
    };
    let py_warm = python.map(|py| {
        let code = "nw0.advertise('pywarm')\nnw0.discover('pywarm', 5)\nts = []\nfor i in range(5):\n    t = time.time(); nw0.discover('pywarm', 5); ts.append((time.time() - t) * 1e6)\nts.sort()\nprint('WARM_US', ts[len(ts)//2], flush=True)";
        value(&mut python_in(py, &lan.hosts[1], code), "WARM_US", Duration::from_secs(30)).unwrap_or(-1.0)
    });
    let (base, ratio) = py_warm.map_or(("(no Python)".into(), "—".into()), |t| {
        (format!("Python: {t:.0} µs median"), faster(warm.median, t))
    });
    report.add(
        "warm: discover a name this process already heard",
        us(warm),
        base,
        ratio,
    );

    // 4. Disappearance after a clean exit (Ctrl-C says goodbye).
    let mut gone = Vec::new();
    for i in 0..runs.min(5) {
        let name = format!("bye{i}");
        let mut adv = spawn_in(Some(&lan.hosts[0]), &["advertise", &name]);
        let _ = adv.expect_line(|l| l.starts_with("ADDRESS"), Duration::from_secs(10));
        let mut watcher = spawn_in(Some(&lan.hosts[1]), &["watch-gone", &name]);
        if watcher
            .expect_line(|l| l.starts_with("SEEN"), Duration::from_secs(10))
            .is_err()
        {
            continue;
        }
        let t = wall_ms();
        let _ = adv.interrupt();
        if let Some(at) = value(&mut watcher, "GONE_AT", Duration::from_secs(30)) {
            gone.push(at - t);
        }
    }
    report.add(
        "advert gone at peers after Ctrl-C (goodbye)",
        ms(stats(gone)),
        "Python: after its ttl, 20 s".into(),
        "—".into(),
    );
    if !report.quick {
        let mut adv = spawn_in(Some(&lan.hosts[0]), &["advertise", "killed"]);
        let _ = adv.expect_line(|l| l.starts_with("ADDRESS"), Duration::from_secs(10));
        let mut watcher = spawn_in(Some(&lan.hosts[1]), &["watch-gone", "killed"]);
        let _ = watcher.expect_line(|l| l.starts_with("SEEN"), Duration::from_secs(10));
        let t = wall_ms();
        adv.kill();
        let at = value(&mut watcher, "GONE_AT", Duration::from_secs(40))
            .map_or(-1.0, |at| (at - t) / 1000.0);
        report.add(
            "advert gone at peers after kill -9 (ttl)",
            format!("{at:.1} s"),
            "ttl 20 s".into(),
            "—".into(),
        );
    }
}

fn messaging(report: &mut Report, python: Option<&std::path::Path>) {
    reqrep(report, python);
    pubsub(report, python);
}

/// The address a `serve-echo` helper printed (empty if none in 10 s).
fn address_of(server: &mut ChildGuard) -> String {
    server
        .expect_line(|l| l.starts_with("ADDRESS"), Duration::from_secs(10))
        .ok()
        .and_then(|l| l.split_whitespace().nth(1).map(String::from))
        .unwrap_or_default()
}

/// REQ/REP round trips: both transports, raw libzmq, the TCP floor, Python.
fn reqrep(report: &mut Report, python: Option<&std::path::Path>) {
    let n = if report.quick { 600 } else { 10_000 };
    // REQ/REP round trips on one host (loopback), in interleaved rounds so a
    // burst of load on this shared machine hits all alike: the API over
    // this binary's transport (libzmq), over the pure-Rust one (the other
    // binary, client and server), raw libzmq, and plain TCP carrying the
    // same bytes (the floor); then Python.
    let rounds = if report.quick { 3 } else { 10 };
    let mut server = spawn_in(None, &["serve-echo", "echo"]);
    let address = address_of(&mut server);
    let mut pure = pure_exe().map(|exe| {
        let mut server = spawn_exe(&exe, &["serve-echo", "echo-pure"]);
        let address = address_of(&mut server);
        let client = Helper::new(&exe, &["req-rtts", &address]);
        (server, client)
    });
    // Keyed (CurveZMQ), client and server: this build's, which runs keyed
    // sockets on the core's engine whichever the build.
    let mut keyed = {
        let mut server = spawn_in(None, &["serve-echo-keyed", "echo-keyed"]);
        let address = address_of(&mut server);
        let client = Helper::new(&me(), &["req-rtts-keyed", &address]);
        (server, client)
    };
    let mut raw = spawn_in(None, &["raw-rep"]);
    let port = value(&mut raw, "PORT", Duration::from_secs(10)).unwrap_or(0.0) as u16;
    let raw_req = roles::RawReq::connect(port);
    let mut tcp = spawn_in(None, &["tcp-echo"]);
    let tcp_port = value(&mut tcp, "PORT", Duration::from_secs(10)).unwrap_or(0.0) as u16;
    let mut floor = roles::TcpFloor::connect(tcp_port);
    let _ = nw0::send_message(address.as_str(), "warm-up", 5);
    let _ = raw_req.rtts(10);
    let _ = floor.rtts(10);
    if let Some((_, client)) = pure.as_mut() {
        let _ = client.rtts(10);
    }
    let _ = keyed.1.rtts(10);
    let (mut keyeds, mut keyed_vs) = (vec![], vec![]);
    let (mut ours, mut pures, mut theirs, mut floors) = (vec![], vec![], vec![], vec![]);
    let (mut ours_raw, mut ours_floor, mut pure_raw, mut pure_floor, mut raw_floor) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let mine: Vec<f64> = (0..n / rounds)
            .map(|i| {
                let t = Instant::now();
                let _ = nw0::send_message(
                    address.as_str(),
                    serde_json::json!({"i": i, "text": "hello"}),
                    5,
                );
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        let other = pure
            .as_mut()
            .map(|(_, client)| client.rtts(n / rounds))
            .unwrap_or_default();
        let keyed_round = keyed.1.rtts(n / rounds);
        let raw_round = raw_req.rtts(n / rounds);
        let floor_round = floor.rtts(n / rounds);
        let m = |v: &[f64]| stats(v.to_vec()).median.max(1e-9);
        // Against the same engine unkeyed: the pure-Rust rows (this build's
        // own without them).
        let unkeyed = if other.is_empty() { &mine } else { &other };
        keyed_vs.push(m(&keyed_round) / m(unkeyed));
        keyeds.extend(keyed_round);
        ours_raw.push(m(&mine) / m(&raw_round));
        ours_floor.push(m(&mine) / m(&floor_round));
        raw_floor.push(m(&raw_round) / m(&floor_round));
        if !other.is_empty() {
            pure_raw.push(m(&other) / m(&raw_round));
            pure_floor.push(m(&other) / m(&floor_round));
        }
        ours.extend(mine);
        pures.extend(other);
        theirs.extend(raw_round);
        floors.extend(floor_round);
    }
    drop(server);
    drop(pure);
    drop(keyed);
    drop(raw);
    drop(tcp);
    let ours = stats(ours);
    let raw_rtt = stats(theirs);
    let ratios = |vs_raw: &[f64], vs_floor: &[f64]| {
        let (r, f) = (stats(vs_raw.to_vec()), stats(vs_floor.to_vec()));
        let (lo, hi) = spread(vs_raw);
        format!(
            "{:.2}× raw libzmq, {:.2}× the TCP floor (medians of {rounds} interleaved rounds; \
             vs raw {lo:.2}–{hi:.2})",
            r.median, f.median
        )
    };
    report.add(
        &format!("REQ/REP round trip, small JSON, one host: {TRANSPORT} transport"),
        us(ours),
        format!("raw libzmq: {}", us(raw_rtt)),
        ratios(&ours_raw, &ours_floor),
    );
    if pures.is_empty() {
        missing_pure();
    } else {
        report.add(
            "REQ/REP round trip, small JSON, one host: pure-Rust transport",
            us(stats(pures)),
            format!("raw libzmq: {}", us(raw_rtt)),
            ratios(&pure_raw, &pure_floor),
        );
    }
    let (lo, hi) = spread(&keyed_vs);
    report.add(
        "REQ/REP round trip, small JSON, one host: keyed (CurveZMQ, the core's engine)",
        us(stats(keyeds)),
        format!("raw libzmq: {}", us(raw_rtt)),
        format!(
            "{:.2}× the same engine unkeyed (medians of {rounds} interleaved rounds; \
             {lo:.2}–{hi:.2})",
            stats(keyed_vs).median
        ),
    );
    report.add(
        "plain TCP ping-pong of the same bytes, one host (the floor)",
        us(stats(floors)),
        format!("raw libzmq: {}", us(raw_rtt)),
        format!(
            "raw libzmq is {:.2}× the floor",
            stats(raw_floor.clone()).median
        ),
    );

    if let Some(py) = python {
        let host = Host::isolated();
        let code = format!(
            "import threading\naddr = nw0.address('127.0.0.1:0'.replace(':0', ':55123'))\n\
             def serve():\n    while True:\n        m = nw0.wait_for_message_from(addr)\n        nw0.send_reply_to(addr, m)\n\
             threading.Thread(target=serve, daemon=True).start()\ntime.sleep(0.3)\nts = []\n\
             for i in range({n}):\n    t = time.time(); nw0.send_message_to(addr, {{'i': i, 'text': 'hello'}}); ts.append((time.time() - t) * 1e6)\n\
             ts.sort()\nprint('RTT_US', ts[len(ts)//2], ts[int(len(ts)*0.99)], flush=True)",
            n = n.min(5_000)
        );
        let mut p = python_in(py, &host, &code);
        let line = p
            .expect_line(|l| l.starts_with("RTT_US"), Duration::from_secs(120))
            .unwrap_or_default();
        let nums: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [median, p99] = nums[..] {
            report.add(
                &format!("REQ/REP round trip, {TRANSPORT} transport, vs Python networkzero (Python↔Python)"),
                us(ours),
                format!("Python: {median:.1} µs median, {p99:.1} µs p99"),
                faster(ours.median, median),
            );
        }
    }
}

/// The `q` quantile of the paired ratios ours/raw.
fn quantile(ours: &[pubsub::Summary], raw: &[pubsub::Summary], q: f64) -> f64 {
    let v: Vec<f64> = ours
        .iter()
        .zip(raw)
        .filter(|(_, r)| r.rate > 0.0)
        .map(|(o, r)| o.rate / r.rate)
        .collect();
    if v.is_empty() {
        return 0.0;
    }
    let (lo, hi) = spread(&v);
    if q < 0.5 {
        lo
    } else {
        hi
    }
}

/// `a`'s rate over `b`'s, run by run: the median, and its middle 80 %, as text.
/// Each run's ratio to the run beside it is robust to the machine's load changing.
fn paired(a: &[pubsub::Summary], b: &[pubsub::Summary], baseline: &str) -> String {
    let ratio = stats(
        a.iter()
            .zip(b)
            .filter(|(_, r)| r.rate > 0.0)
            .map(|(o, r)| o.rate / r.rate)
            .collect(),
    );
    format!(
        "{:.2}× {baseline} (median of {} paired runs; {:.2}–{:.2} over the middle 80 %)",
        ratio.median,
        ratio.n,
        quantile(a, b, 0.1),
        quantile(a, b, 0.9)
    )
}

/// One PUB/SUB run of a helper (publisher and subscriber): `role`
/// `pubsub-run` of the pure-Rust build, or `pubsub-run-keyed` (a class key).
fn helper_run(exe: &str, role: &str, items: u64, window: u64, inflight: u64) -> pubsub::Summary {
    let (i, w, f) = (items.to_string(), window.to_string(), inflight.to_string());
    let mut h = Helper::new(exe, &[role, &i, &w, &f]);
    read_value(&mut h.1, "RUN ")
        .and_then(|line| pubsub::Summary::from_json(&line))
        .unwrap_or_default()
}

/// PUB/SUB: lossless throughput under flow control (both transports, raw
/// libzmq, Python; typed items as postcard and as JSON), then what the
/// high-water mark drops with none.
fn pubsub(report: &mut Report, python: Option<&std::path::Path>) {
    use pubsub::{rate_stats, Kind, Summary};
    let items: u64 = if report.quick { 10_000 } else { 100_000 };
    // NW0_BENCH_RUNS=N: N paired runs, each printed (stderr).
    let runs_env = std::env::var("NW0_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok());
    let runs = runs_env.unwrap_or(if report.quick { 3 } else { 15 });
    // Two windows of 200 in flight (NW0_BENCH_FLOW=2x200): 402 messages with the
    // marks; over libzmq, drops can start from ~470 in flight (see bench/README.md).
    let (window, inflight) = std::env::var("NW0_BENCH_FLOW")
        .ok()
        .and_then(|f| {
            let (n, w) = f.split_once('x')?;
            Some((w.parse().ok()?, n.parse().ok()?))
        })
        .unwrap_or((200, 2));
    let exe = me();
    let pure = pure_exe();
    // A/A check: the "ours" slot runs raw libzmq, so the paired ratio shows
    // what the pairing itself gives two identical programs (should be 1.0).
    let aa = std::env::var_os("NW0_BENCH_AA").is_some();
    let ours_kind = if aa { Kind::Raw } else { Kind::Ours };
    let (mut ours, mut pures, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    let mut keyed = Vec::new();
    for _ in 0..runs {
        // Interleaved, so all see the same machine.
        ours.push(pubsub::run(&exe, ours_kind, items, window, inflight).summary(items));
        if let Some(p) = &pure {
            pures.push(helper_run(p, "pubsub-run", items, window, inflight));
        }
        keyed.push(helper_run(
            &exe,
            "pubsub-run-keyed",
            items,
            window,
            inflight,
        ));
        raw.push(pubsub::run(&exe, Kind::Raw, items, window, inflight).summary(items));
    }
    let flow = |v: &[Summary]| -> (f64, String) {
        let rate = stats(v.iter().map(|r| r.rate).collect()).median;
        let windows: Vec<f64> = v
            .iter()
            .flat_map(|r| r.window_rates.iter().copied())
            .collect();
        let w = rate_stats(&windows);
        let received: u64 = v.iter().map(|r| r.received).sum();
        let lost: u64 = v.iter().map(|r| r.lost).sum();
        let sent: u64 = v.iter().map(|r| r.sent.unwrap_or(0)).sum();
        let marks: u64 = v.iter().map(|r| r.marks.0).sum();
        let all_marks: u64 = v.iter().map(|r| r.marks.1).sum();
        (
            rate,
            format!(
                "{:.0} k msg/s (median of {} runs); windows {:.0} k median, {:.0} k p99-slowest (n={}); \
                 {received} received of {sent} sent, {lost} lost, marks {marks}/{all_marks}",
                rate / 1000.0,
                v.len(),
                w.median / 1000.0,
                w.p99 / 1000.0,
                w.n
            ),
        )
    };
    if runs_env.is_some() {
        for (i, (o, r)) in ours.iter().zip(&raw).enumerate() {
            let p = pures.get(i).map_or(0.0, |p| p.rate);
            eprintln!(
                "RUN {i} ours {:.0} pure {p:.0} raw {:.0} ours/raw {:.3} pure/raw {:.3}",
                o.rate,
                r.rate,
                o.rate / r.rate.max(1.0),
                p / r.rate.max(1.0)
            );
        }
    }
    let (ours_rate, ours_text) = flow(&ours);
    let (_, raw_text) = flow(&raw);
    let what = format!(
        "PUB/SUB throughput, {items} small news items, flow-controlled ({inflight}×{window} in flight, lossless)"
    );
    report.add(
        &format!("{what}: {TRANSPORT} transport"),
        ours_text.clone(),
        format!("raw libzmq: {raw_text}"),
        paired(&ours, &raw, "raw libzmq"),
    );
    if aa {
        eprintln!("A/A: the libzmq transport's slot ran raw libzmq");
    }
    if pures.is_empty() {
        missing_pure();
    } else {
        report.add(
            &format!("{what}: pure-Rust transport"),
            flow(&pures).1,
            format!("raw libzmq: {raw_text}"),
            paired(&pures, &raw, "raw libzmq"),
        );
    }
    // Keyed against the same engine unkeyed, run by run (this build's own
    // rows without a pure-Rust build).
    let unkeyed = if pures.is_empty() { &ours } else { &pures };
    report.add(
        &format!("{what}: keyed (CurveZMQ, the core's engine)"),
        flow(&keyed).1,
        format!("raw libzmq: {raw_text}"),
        paired(&keyed, unkeyed, "the same engine unkeyed"),
    );
    if aa {
        return;
    }
    // The same items as a Rust enum read with wait_for_news_as: postcard, and
    // JSON ({TRANSPORT} transport).
    let (mut postcard, mut typed) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        postcard.push(pubsub::run(&exe, Kind::Postcard, items, window, inflight).summary(items));
        typed.push(pubsub::run(&exe, Kind::Typed, items, window, inflight).summary(items));
    }
    report.add(
        &format!("{what}, typed (wait_for_news_as): nw0::Postcard vs JSON"),
        flow(&postcard).1,
        format!("typed JSON: {}", flow(&typed).1),
        paired(&postcard, &typed, "typed JSON"),
    );
    if let Some(py) = python {
        let host = Host::isolated();
        let py_flow = |inflight: u64| -> Option<Vec<f64>> {
            let mut p = python_in(py, &host, &pubsub::python_code(items, window, inflight));
            let line = p
                .expect_line(|l| l.starts_with("PYFLOW"), Duration::from_secs(120))
                .ok()?;
            Some(
                line.split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect(),
            )
        };
        if let Some([got, lost, rate, med, slow, n, sent]) = py_flow(inflight).as_deref() {
            report.add(
                &format!("{what}, {TRANSPORT} transport, vs Python networkzero (Python↔Python)"),
                ours_text,
                format!(
                    "Python: {:.1} k msg/s; windows {:.1} k median, {:.1} k p99-slowest (n={n}); \
                     {got} received of {sent} sent, {lost} lost",
                    rate / 1000.0,
                    med / 1000.0,
                    slow / 1000.0
                ),
                faster(1.0 / ours_rate.max(1.0), 1.0 / rate.max(1.0)),
            );
        }
    }

    // No flow control: the publisher outruns the subscriber.
    let blast = |r: &Summary| {
        format!(
            "{:.0} k msg/s, {} received of {} sent: {}",
            r.rate / 1000.0,
            r.received,
            r.sent.unwrap_or(0),
            r.drops
        )
    };
    let ours = pubsub::run(&exe, Kind::Ours, items, window, 0).summary(items);
    let raw = pubsub::run(&exe, Kind::Raw, items, window, 0).summary(items);
    let what =
        format!("PUB/SUB, {items} items, no flow control: what the high-water mark (1000) drops");
    report.add(
        &format!("{what}: {TRANSPORT} transport"),
        blast(&ours),
        format!("raw libzmq: {}", blast(&raw)),
        "—".into(),
    );
    if let Some(p) = &pure {
        report.add(
            &format!("{what}: pure-Rust transport"),
            blast(&helper_run(p, "pubsub-run", items, window, 0)),
            format!("raw libzmq: {}", blast(&raw)),
            "—".into(),
        );
    }
    if let Some(py) = python {
        let host = Host::isolated();
        let mut p = python_in(py, &host, &pubsub::python_code(items, window, 0));
        let nums: Vec<f64> = p
            .expect_line(|l| l.starts_with("PYFLOW"), Duration::from_secs(120))
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        if let [got, lost, rate, _, _, _, sent] = nums[..] {
            report.add(
                &format!("PUB/SUB, {items} items, no flow control, {TRANSPORT} transport, vs Python networkzero (Python↔Python)"),
                blast(&ours),
                format!("Python: {:.1} k msg/s, {got} received of {sent} sent, {lost} lost", rate / 1000.0),
                "—".into(),
            );
        }
    }
}

fn beacon_throughput(report: &mut Report) {
    use networkzero_core::beacon::{Beacon, Config};
    use networkzero_core::Instant as CoreInstant;
    let n: u64 = if report.quick { 200_000 } else { 2_000_000 };
    let mut beacon: Beacon<512, 4> = Beacon::new(Config::default());
    let datagrams: Vec<Vec<u8>> = (0..256)
        .map(|i| {
            format!(
                "[\"svc{i}\", \"10.200.0.{}:{}\", 20]",
                i % 250 + 1,
                50_000 + i
            )
            .into_bytes()
        })
        .collect();
    let source = "10.200.0.9:9999".parse().expect("literal");
    let t = Instant::now();
    for i in 0..n {
        let d = &datagrams[(i % 256) as usize];
        let _ = beacon.handle_datagram(d, source, CoreInstant::from_millis(i / 1000));
        while beacon.poll_event().is_some() {}
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    report.add(
        "core beacon: adverts handled per second, one core",
        format!("{:.2} M/s", rate / 1e6),
        "—".into(),
        "—".into(),
    );
}

/// CPU, wake-ups and memory of an idle advertiser, from /proc.
fn idle(report: &mut Report, python: Option<&std::path::Path>) {
    let secs = if report.quick { 3 } else { 30 };
    let host = Host::isolated();
    let measure = |child: &mut ChildGuard| -> Option<(f64, f64, f64)> {
        child
            .expect_line(|l| l.starts_with("ADDRESS"), Duration::from_secs(20))
            .ok()?;
        std::thread::sleep(Duration::from_secs(1));
        let pid = child.id();
        let before = proc_sample(pid)?;
        std::thread::sleep(Duration::from_secs(secs));
        let after = proc_sample(pid)?;
        let cpu = (after.0 - before.0) / (secs as f64) * 100.0;
        let wakeups = (after.1 - before.1) / secs as f64;
        Some((cpu, wakeups, after.2))
    };
    let ours = measure(&mut spawn_in(Some(&host), &["advertise", "idle"]));
    let theirs = python.and_then(|py| {
        measure(&mut python_in(
            py,
            &host,
            &nw0_tests::py::advertiser("pyidle", None, None, 600.0),
        ))
    });
    let fmt = |m: Option<(f64, f64, f64)>| {
        m.map_or("—".into(), |(cpu, w, rss)| {
            format!("{cpu:.3} % CPU, {w:.1} wake-ups/s, {rss:.1} MiB RSS")
        })
    };
    report.add(
        &format!("idle advertiser over {secs} s"),
        fmt(ours),
        format!("Python: {}", fmt(theirs)),
        "—".into(),
    );
}

/// (CPU seconds, context switches, RSS MiB) of a process and its threads.
/// CPU time is each thread's `schedstat` (nanoseconds; `stat`'s ticks are
/// 10 ms, too coarse for an idle process).
pub(crate) fn proc_sample(pid: u32) -> Option<(f64, f64, f64)> {
    let (mut cpu_ns, mut switches) = (0.0, 0.0);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path();
        cpu_ns += schedstat_ns(&path.join("schedstat"));
        let status = std::fs::read_to_string(path.join("status")).unwrap_or_default();
        for line in status.lines() {
            if line.starts_with("voluntary_ctxt_switches")
                || line.starts_with("nonvoluntary_ctxt_switches")
            {
                switches += line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0);
            }
        }
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((cpu_ns / 1e9, switches, rss_kb / 1024.0))
}

/// The CPU nanoseconds a thread has used: the first field of its
/// `schedstat` file (0 if it cannot be read, e.g. the thread has ended).
pub(crate) fn schedstat_ns(path: &std::path::Path) -> f64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
}

/// Writes one line to a child's stdin.
pub(crate) fn tell(child: &mut std::process::Child, line: &str) {
    if let Some(stdin) = child.stdin.as_mut() {
        let _ = writeln!(stdin, "{line}");
        let _ = stdin.flush();
    }
}

/// Spawns a helper role with piped stdin and stdout.
pub(crate) fn spawn_piped(
    exe: &str,
    args: &[&str],
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(exe)
        .args(args)
        .env("NW0_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn helper");
    let out = BufReader::new(child.stdout.take().expect("piped"));
    (child, out)
}

pub(crate) fn read_value(
    out: &mut BufReader<std::process::ChildStdout>,
    key: &str,
) -> Option<String> {
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        if out.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(rest) = line.strip_prefix(key) {
            return Some(rest.trim().to_string());
        }
    }
    None
}
