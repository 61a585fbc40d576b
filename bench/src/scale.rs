//! Discovery at the scale of a class and of a school (issue 16), on real
//! processes in network namespaces:
//!
//! - **A class at once**: 20 fresh processes on 20 hosts discover one name
//!   in the same moment (released together by a wall-clock start time, so
//!   the 20 `ip netns exec` launches do not spread them); the slowest next
//!   to the fastest, and next to one discoverer alone in the same run.
//! - **A school**: 40 hosts × 10 advertising processes (400 names); a fresh
//!   `ls` (what `nw0 ls --wait W` does) on a 41st host, several times in a
//!   row, at 1 s and 0.5 s; a fresh Python process's `discover_all()` after
//!   1 s beside it.
//! - **An idle advertiser in that school**: its CPU and memory while it hears
//!   every name's advert, next to the same program idle on a host of its
//!   own, measured at the same time.
//!
//! 400 processes on this machine's 2 cores make absolute times pessimistic;
//! a lost name is a lost name all the same. `--quick` runs a class of 20 and
//! a school of 8 × 5 names, so CI keeps the rows working in seconds.

use std::process::{Command, Stdio};
use std::time::Duration;

use nw0_tests::{ChildGuard, Host, Lan};

use crate::{proc_sample, python_in, spawn_in, stats, value, wall_ms, Report};

/// The advertiser every discoverer of the class looks for.
const TEACHER: &str = "teacher";

/// One class round: each finder's time in ms from the release (those found
/// within 10 s), how late the last one woke up (the scheduler's share: on a
/// busy machine it is most of the spread), each one's time from its own
/// wake-up, and (our finders) the CPU each discover cost, in ms, and the
/// threads each process ran.
struct Round {
    times: Vec<f64>,
    last_woke: f64,
    after_waking: Vec<f64>,
    cpu: Vec<f64>,
    threads: Vec<f64>,
}

/// Discoverers on `hosts`, released at once (`ours`: our `find-at` role,
/// which also says its CPU). Each finder says READY, then reads the release
/// moment (wall-clock ms) from stdin, which it is sent once all are ready.
fn class_round<'a>(
    hosts: impl Iterator<Item = &'a Host>,
    ours: bool,
    mut command: impl FnMut(&Host) -> Command,
) -> Round {
    let mut finders: Vec<ChildGuard> = hosts
        .map(|host| {
            let child = command(host)
                .env("NW0_LOG", "off")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a finder");
            ChildGuard::new(child)
        })
        .collect();
    for f in &mut finders {
        let _ = f.expect_line(|l| l.starts_with("READY"), Duration::from_secs(60));
    }
    let release = format!("{:.3}", wall_ms() + 200.0);
    for f in &mut finders {
        crate::tell(f.child_mut(), &release);
    }
    let mut round = Round {
        times: Vec::new(),
        last_woke: 0.0,
        after_waking: Vec::new(),
        cpu: Vec::new(),
        threads: Vec::new(),
    };
    for f in &mut finders {
        let woke = value(f, "WOKE_MS", Duration::from_secs(30));
        round.last_woke = round.last_woke.max(woke.unwrap_or(0.0));
        let found = value(f, "FOUND_MS", Duration::from_secs(30)).filter(|t| *t >= 0.0);
        if ours {
            round.cpu.extend(value(f, "CPU_MS", Duration::from_secs(5)));
            round
                .threads
                .extend(value(f, "THREADS", Duration::from_secs(5)));
        }
        if let Some(found) = found {
            round.after_waking.push(found - woke.unwrap_or(0.0));
            round.times.push(found);
        }
    }
    round
}

/// Our finder of the class: a fresh process that discovers [`TEACHER`] once
/// released (the `find-at` role).
fn find_teacher(host: &Host) -> Command {
    let mut cmd = host.command(crate::me());
    cmd.args(["find-at", TEACHER]);
    cmd
}

/// Slowest, median and fastest of a round, and slowest / fastest.
fn spread(times: &[f64]) -> (f64, f64, f64, f64) {
    let s = stats(times.to_vec());
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let max = times.iter().copied().fold(0.0, f64::max);
    (min, s.median, max, if min > 0.0 { max / min } else { 0.0 })
}

pub(crate) fn class(report: &mut Report, python: Option<&std::path::Path>) {
    const N: usize = 20;
    let rounds = if report.quick { 1 } else { 5 };
    let lan = Lan::new(N + 1);
    let mut teacher = spawn_in(Some(&lan.hosts[0]), &["advertise", TEACHER]);
    let _ = teacher.expect_line(|l| l.starts_with("ADDRESS"), Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));

    let (mut ratios, mut found, mut slowest, mut woke) = (Vec::new(), 0, Vec::new(), Vec::new());
    // Slowest / fastest of the times from each finder's own wake-up.
    let mut awake = Vec::new();
    // No protocol can beat the last wake-up / the fastest find.
    let mut floors = Vec::new();
    let mut all = Vec::new();
    let (mut cpu, mut threads) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let round = class_round(lan.hosts[1..].iter(), true, find_teacher);
        found += round.times.len();
        let (min, _, max, ratio) = spread(&round.times);
        ratios.push(format!("{ratio:.2}"));
        awake.push(format!("{:.2}", spread(&round.after_waking).3));
        floors.push(format!("{:.2}", round.last_woke / min.max(1e-9)));
        slowest.push(max);
        woke.push(format!("{:.0}", round.last_woke));
        all.extend(round.times);
        cpu.extend(round.cpu);
        threads.extend(round.threads);
    }
    // The baseline: one fresh discoverer alone, on the same LAN, same run.
    let (mut alone, mut alone_cpu) = (Vec::new(), Vec::new());
    for _ in 0..rounds * 3 {
        let round = class_round(lan.hosts[1..2].iter(), true, find_teacher);
        alone.extend(round.times);
        alone_cpu.extend(round.cpu);
    }
    let alone = stats(alone);
    let (min, median, max, _) = spread(&all);
    let threads = threads.iter().copied().fold(0.0, f64::max);
    report.add(
        &format!("{N} fresh processes on {N} hosts discover one name at once ({rounds} rounds)"),
        format!(
            "{found}/{} found; {min:.1} ms fastest, {median:.1} ms median, {max:.1} ms slowest; \
             slowest/fastest by round {} (the scheduler's floor, last wake-up/fastest: {}; \
             last wake-up after the release: {} ms; counted from each one's wake-up: {}); \
             CPU per discover {:.2} ms median ({threads:.0} threads)",
            N * rounds,
            ratios.join(", "),
            floors.join(", "),
            woke.join(", "),
            awake.join(", "),
            stats(cpu).median,
        ),
        format!(
            "one alone: {:.1} ms median (n={}), CPU {:.2} ms",
            alone.median,
            alone.n,
            stats(alone_cpu).median
        ),
        format!(
            "slowest of {N} at once {:.1}× one alone",
            stats(slowest).median / alone.median.max(1e-9)
        ),
    );
    let Some(py) = python else { return };
    if report.quick {
        return;
    }
    // Python networkzero 1.0b1: each host's fresh process hears the teacher's
    // next periodic advert (every 2 s).
    let code = "print('READY', flush=True)\nat = float(sys.stdin.readline()) / 1000\n\
                time.sleep(max(0, at - time.time()))\n\
                print('WOKE_MS', (time.time() - at) * 1000, flush=True)\n\
                a = nw0.discover('teacher', 10)\n\
                print('FOUND_MS', (time.time() - at) * 1000 if a else -1, flush=True)";
    let Round {
        times, last_woke, ..
    } = class_round(lan.hosts[1..].iter(), false, |host| {
        nw0_tests::py::python_script_with(py, host, code)
    });
    let (min, median, max, ratio) = spread(&times);
    report.add(
        &format!("{N} fresh Python networkzero processes discover one name at once"),
        "(the row above)".into(),
        format!(
            "Python: {}/{N} found; {min:.0} ms fastest, {median:.0} ms median, {max:.0} ms slowest; \
             slowest/fastest {ratio:.1}; last wake-up {last_woke:.0} ms",
            times.len()
        ),
        "—".into(),
    );
    drop(teacher);
}

/// One fresh `ls` run: what it listed, when it first asked (ms after its
/// start), datagrams its host's kernel dropped, and what it listed 0.5 s
/// later.
struct Listing {
    count: f64,
    asked: f64,
    drops: f64,
    later: f64,
}

/// Names a fresh `ls` process on `host` lists after `wait_s` (as `nw0 ls
/// --wait` does), counting those under `prefix`.
fn ls(host: &Host, wait_s: f64, prefix: &str) -> Option<Listing> {
    let mut p = spawn_in(Some(host), &["ls", &format!("{wait_s}"), prefix]);
    let mut next = |key| value(&mut p, key, Duration::from_secs(30));
    Some(Listing {
        asked: next("ASKED_MS")?,
        count: next("COUNT")?,
        drops: next("DROPS")?,
        later: next("LATER")?,
    })
}

/// The school; `runs` fresh `ls` runs at each wait instead of 10, to show
/// "every time" with many runs. The idle row comes first, and its 30 s let
/// the start of 400 programs settle before the first `ls`; with `busy`,
/// there is no idle row and the first `ls` starts as soon as the last
/// program says it advertises (the machine still busy starting them).
pub(crate) fn school(
    report: &mut Report,
    python: Option<&std::path::Path>,
    runs: Option<usize>,
    busy: bool,
) {
    let (hosts, per_host) = if report.quick { (8, 5) } else { (40, 10) };
    let names = hosts * per_host;
    let runs = runs.unwrap_or(if report.quick { 2 } else { 10 });
    let lan = Lan::new(hosts + 1);
    let lister = &lan.hosts[hosts];
    let started = std::time::Instant::now();
    let mut programs: Vec<ChildGuard> = Vec::with_capacity(names);
    for p in 0..per_host {
        for (h, host) in lan.hosts.iter().take(hosts).enumerate() {
            programs.push(spawn_in(
                Some(host),
                &["advertise", &format!("school/h{h}/p{p}")],
            ));
        }
    }
    let up = programs
        .iter_mut()
        .map(|c| c.expect_line(|l| l.starts_with("ADDRESS"), Duration::from_secs(60)))
        .filter(Result::is_ok)
        .count();
    println!(
        "({up} of {names} advertisers up after {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    if busy {
        fresh_ls(report, python, lister, names, hosts, up, runs);
        return;
    }
    // Let every program's first adverts pass: from here on, the network is
    // in its steady state (each name every 2 s).
    std::thread::sleep(Duration::from_secs(3));

    // The datagrams one process hears on port 9999 per second.
    let heard = {
        let mut c = spawn_in(Some(lister), &["count-adverts", "3"]);
        value(&mut c, "PER_SEC", Duration::from_secs(20)).unwrap_or(-1.0)
    };

    idle_in_school(report, python, &lan, &programs, names, heard);
    fresh_ls(report, python, lister, names, hosts, up, runs);
    drop(programs);
}

/// An idle advertiser in the school, and one alone on a host of its own,
/// measured at the same time (and Python's, beside them).
fn idle_in_school(
    report: &mut Report,
    python: Option<&std::path::Path>,
    lan: &Lan,
    programs: &[ChildGuard],
    names: usize,
    heard: f64,
) {
    let lister = &lan.hosts[lan.hosts.len() - 1];
    let idle_secs = if report.quick { 3 } else { 30 };
    let isolated = Host::isolated();
    let mut alone = spawn_in(Some(&isolated), &["advertise", "idle-alone"]);
    let mut py_idle = python.filter(|_| !report.quick).map(|py| {
        python_in(
            py,
            lister,
            &nw0_tests::py::advertiser("pyidle", None, None, 600.0),
        )
    });
    let _ = alone.expect_line(|l| l.starts_with("ADDRESS"), Duration::from_secs(20));
    if let Some(p) = py_idle.as_mut() {
        let _ = p.expect_line(|l| l.starts_with("ADDRESS"), Duration::from_secs(30));
    }
    std::thread::sleep(Duration::from_secs(1));
    let watched: Vec<u32> = [
        Some(programs[0].id()),
        Some(alone.id()),
        py_idle.as_ref().map(ChildGuard::id),
    ]
    .into_iter()
    .flatten()
    .collect();
    let before: Vec<_> = watched.iter().map(|&pid| proc_sample(pid)).collect();
    std::thread::sleep(Duration::from_secs(idle_secs));
    let usage: Vec<Option<(f64, f64, f64)>> = watched
        .iter()
        .zip(before)
        .map(|(&pid, b)| {
            let (b, a) = (b?, proc_sample(pid)?);
            Some((
                (a.0 - b.0) / idle_secs as f64 * 100.0,
                (a.1 - b.1) / idle_secs as f64,
                a.2,
            ))
        })
        .collect();
    drop(alone);
    drop(py_idle);
    let show = |u: Option<&Option<(f64, f64, f64)>>| match u {
        Some(Some((cpu, w, rss))) => {
            format!("{cpu:.3} % of a core, {w:.0} wake-ups/s, {rss:.1} MiB RSS")
        }
        _ => "—".into(),
    };
    let cpu = |u: Option<&Option<(f64, f64, f64)>>| u.and_then(|u| u.map(|u| u.0));
    let ratio = match (cpu(usage.first()), cpu(usage.get(1))) {
        (Some(s), Some(a)) if a > 0.0 => format!("{:.1}× the CPU of one alone", s / a),
        _ => "—".into(),
    };
    report.add(
        &format!("idle advertiser among {names} names ({heard:.0} datagrams/s heard on 9999), over {idle_secs} s"),
        show(usage.first()),
        format!(
            "alone on a host: {}{}",
            show(usage.get(1)),
            if usage.len() > 2 {
                format!("; Python among the {names}: {}", show(usage.get(2)))
            } else {
                String::new()
            }
        ),
        ratio,
    );
}

/// Fresh `ls` runs back to back, at 1 s and at 0.5 s.
fn fresh_ls(
    report: &mut Report,
    python: Option<&std::path::Path>,
    lister: &Host,
    names: usize,
    hosts: usize,
    up: usize,
    runs: usize,
) {
    for wait_s in [1.0, 0.5] {
        let listings: Vec<Listing> = (0..runs)
            .filter_map(|_| ls(lister, wait_s, "school/"))
            .collect();
        let counts: Vec<f64> = listings.iter().map(|l| l.count).collect();
        let asked: Vec<f64> = listings.iter().map(|l| l.asked).collect();
        // Short runs: how many the kernel dropped, and what came later.
        let short: Vec<String> = listings
            .iter()
            .filter(|l| (l.count as usize) < names)
            .map(|l| {
                format!(
                    "{:.0} (dropped {:.0}, {:.0} 0.5 s later)",
                    l.count, l.drops, l.later
                )
            })
            .collect();
        let each = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let complete = counts.iter().filter(|c| **c as usize == names).count();
        let lowest = counts.iter().copied().fold(f64::INFINITY, f64::min);
        let baseline = python.map(|py| {
            let code = format!(
                "nw0.discover_all()\ntime.sleep({wait_s})\n\
                 print('COUNT', sum(1 for n, a in nw0.discover_all() if n.startswith('school/')), flush=True)"
            );
            value(&mut python_in(py, lister, &code), "COUNT", Duration::from_secs(30))
        });
        report.add(
            &format!(
                "fresh `ls --wait {wait_s}` among {names} names ({up} up) on {hosts} hosts, \
                 {runs} runs back to back"
            ),
            format!(
                "{complete}/{} runs listed all {names}; fewest {lowest:.0} ({:.1} %); \
                 by run {} (asked {} ms after the process started){}",
                counts.len(),
                lowest / names as f64 * 100.0,
                each(&counts),
                each(&asked),
                if short.is_empty() {
                    String::new()
                } else {
                    format!("; short runs: {}", short.join(", "))
                }
            ),
            match baseline {
                Some(Some(b)) => format!("Python discover_all after {wait_s} s: {b:.0} of {names}"),
                Some(None) => "Python: no answer".into(),
                None => "(no Python)".into(),
            },
            match baseline {
                Some(Some(b)) if b > 0.0 => format!("fewest {:.1}× Python's", lowest / b),
                _ => "—".into(),
            },
        );
    }
}
