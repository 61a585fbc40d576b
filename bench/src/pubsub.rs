//! PUB/SUB throughput: a publisher child (`nw0-bench pub KIND ITEMS WINDOW INFLIGHT`)
//! and the parent subscribing, for networkzero (`publish_news` → `wait_for_news`),
//! raw libzmq (PUB → SUB) and Python networkzero 1.0b1 (publisher and subscriber
//! both Python). Every item is JSON-encoded by the publisher and decoded by the
//! subscriber, and carries its sequence number, so a lost item is seen.
//!
//! Flow-controlled (lossless): items go in windows of WINDOW, each followed by a
//! `mark` item; the publisher never has more than INFLIGHT windows unacknowledged,
//! and the subscriber acknowledges each mark over the publisher's stdin. The
//! default, 2 windows of 200 (402 messages with the marks), stays under what
//! libzmq can really hold: it drops from ~470 items queued although its
//! high-water mark is 1000 (bench/README.md, "Why rounds of news stalled").
//!
//! INFLIGHT 0 is the blast: no flow control, the publisher outruns the subscriber
//! and the high-water mark drops items; the record of what arrived says which.
//!
//! Every subscriber uses the prefix `""` and dispatches on the topic.
//!
//! The typed kinds send the same content as a Rust enum ([`Out`], read back as
//! [`In`] with `wait_for_news_as`): as JSON ([`Kind::Typed`]) and as postcard
//! ([`Kind::Postcard`]), so the two formats compare with nothing else changed.

use std::cell::Cell;
use std::io::BufReader;
use std::process::{Child, ChildStdout};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use networkzero as nw0;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{read_value, spawn_piped, stats, tell, Stats};

/// How long a subscriber waits for the next item, or a publisher for an ack,
/// before it calls the run stalled.
const PATIENCE: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// networkzero: `publish_news` and `wait_for_news`.
    Ours,
    /// libzmq from Rust: a PUB and a SUB socket, default options.
    Raw,
    /// networkzero with a typed item ([`Out`]/[`In`]) as JSON.
    Typed,
    /// networkzero with the same typed item as `nw0::Postcard`.
    Postcard,
    /// networkzero with a class key (CurveZMQ): the publisher sets it; the
    /// subscribing process must have set it already (see `roles::CLASS_KEY`).
    Keyed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Raw => "raw",
            Kind::Keyed => "keyed",
            Kind::Typed => "typed",
            Kind::Postcard => "postcard",
        }
    }
}

/// An item as the typed kinds publish it: what the JSON kinds send as
/// `null`, `{"i": SEQ, "topic": "data.temp"}` and `{"w": W, "next": N}`.
#[derive(Clone, Copy, Serialize)]
enum Out<'a> {
    Tick,
    Data { i: u64, topic: &'a str },
    Mark { w: u64, next: u64 },
    End,
}

/// [`Out`] as a subscriber reads it.
#[derive(Deserialize)]
enum In {
    Tick,
    Data {
        i: u64,
        #[allow(dead_code)] // read, as a program would, but not needed here
        topic: String,
    },
    Mark {
        w: u64,
        next: u64,
    },
    End,
}

impl Out<'_> {
    fn topic(self) -> &'static str {
        match self {
            Out::Tick => "tick",
            Out::Data { .. } => "data",
            Out::Mark { .. } => "mark",
            Out::End => "end",
        }
    }

    /// What the JSON kinds send for it.
    fn json(self) -> Value {
        match self {
            Out::Tick | Out::End => Value::Null,
            Out::Data { i, topic } => json!({"i": i, "topic": topic}),
            Out::Mark { w, next } => json!({"w": w, "next": next}),
        }
    }
}

/// What the run loop takes from an item.
enum Got {
    Tick,
    Data(u64),
    Mark(u64, u64),
    End,
    Other,
}

impl Got {
    /// From a JSON item: its topic says which.
    fn of_json(topic: &str, data: &Value) -> Got {
        let n = |k: &str| data.get(k).and_then(Value::as_u64);
        match topic {
            "tick" => Got::Tick,
            "data" => n("i").map_or(Got::Other, Got::Data),
            "mark" => match (n("w"), n("next")) {
                (Some(w), Some(next)) => Got::Mark(w, next),
                _ => Got::Other,
            },
            "end" => Got::End,
            _ => Got::Other,
        }
    }

    fn of_typed(item: In) -> Got {
        match item {
            In::Tick => Got::Tick,
            In::Data { i, .. } => Got::Data(i),
            In::Mark { w, next } => Got::Mark(w, next),
            In::End => Got::End,
        }
    }
}

enum Publisher {
    /// The address, and the kind (ours, typed or postcard).
    Ours(nw0::Address, Kind),
    /// The socket, items sent, and whether to read libzmq's drain notices
    /// every [`READ_CREDIT_EVERY`] items.
    Raw(zmq::Socket, Cell<u64>, bool),
}

/// As networkzero's libzmq transport does (messenger.rs): without it a fast
/// PUB socket counts items the subscriber already took as queued, and drops
/// news under the high-water mark (set `NW0_BENCH_RAW_NO_EVENTS=1` to see).
const READ_CREDIT_EVERY: u64 = 32;

impl Publisher {
    /// A bound publisher on loopback and its `ip:port`.
    fn open(kind: &str, ctx: &zmq::Context) -> Option<(Publisher, String)> {
        match kind {
            "ours" | "typed" | "postcard" | "keyed" => {
                let kind = match kind {
                    "typed" => Kind::Typed,
                    "postcard" => Kind::Postcard,
                    "keyed" => {
                        nw0::set_class_key(crate::roles::CLASS_KEY).ok()?;
                        Kind::Keyed
                    }
                    _ => Kind::Ours,
                };
                let a = nw0::address("127.0.0.1").ok()?;
                Some((Publisher::Ours(a, kind), a.to_string()))
            }
            "raw" => {
                let s = ctx.socket(zmq::PUB).ok()?;
                s.bind("tcp://127.0.0.1:*").ok()?;
                let endpoint = s.get_last_endpoint().ok()?.ok()?;
                let address = endpoint.trim_start_matches("tcp://").to_string();
                let credit = std::env::var_os("NW0_BENCH_RAW_NO_EVENTS").is_none();
                Some((Publisher::Raw(s, Cell::new(0), credit), address))
            }
            _ => None,
        }
    }

    fn send(&self, item: Out<'_>) {
        let topic = item.topic();
        match self {
            Publisher::Ours(a, Kind::Typed) => {
                let _ = nw0::publish_news(*a, topic, item);
            }
            Publisher::Ours(a, Kind::Postcard) => {
                let _ = nw0::publish_news(*a, topic, nw0::Postcard(item));
            }
            Publisher::Ours(a, _) => {
                let _ = nw0::publish_news(*a, topic, item.json());
            }
            Publisher::Raw(s, sent, credit) => {
                sent.set(sent.get() + 1);
                if *credit && sent.get().is_multiple_of(READ_CREDIT_EVERY) {
                    let _ = s.get_events();
                }
                let bytes = serde_json::to_vec(&item.json()).unwrap_or_default();
                let _ = s.send_multipart([topic.as_bytes(), bytes.as_slice()], 0);
            }
        }
    }
}

enum Subscriber {
    Ours(nw0::Address),
    Typed(nw0::Address),
    Raw(zmq::Socket),
}

impl Subscriber {
    fn connect(kind: Kind, ctx: &zmq::Context, address: &str) -> Option<Subscriber> {
        match kind {
            // As a program would: the address parsed once (from discover), not per call.
            Kind::Ours | Kind::Keyed => Some(Subscriber::Ours(address.parse().ok()?)),
            Kind::Typed | Kind::Postcard => Some(Subscriber::Typed(address.parse().ok()?)),
            Kind::Raw => {
                let s = ctx.socket(zmq::SUB).ok()?;
                // libzmq's default high-water mark (1000), as networkzero uses.
                s.set_subscribe(b"").ok()?;
                s.set_rcvtimeo(PATIENCE.as_millis() as i32).ok()?;
                s.connect(&format!("tcp://{address}")).ok()?;
                Some(Subscriber::Raw(s))
            }
        }
    }

    /// The next item; `None` after [`PATIENCE`] with nothing.
    fn next(&self) -> Option<Got> {
        match self {
            Subscriber::Ours(a) => {
                let (topic, data) = nw0::wait_for_news(*a, "", PATIENCE).ok().flatten()?;
                Some(Got::of_json(&topic, &data))
            }
            Subscriber::Typed(a) => {
                let (_, item) = nw0::wait_for_news_as::<In>(*a, "", PATIENCE)
                    .ok()
                    .flatten()?;
                Some(Got::of_typed(item))
            }
            Subscriber::Raw(s) => {
                let parts = s.recv_multipart(0).ok()?;
                let data: Value = serde_json::from_slice(parts.get(1)?).ok()?;
                let topic = String::from_utf8_lossy(parts.first()?).into_owned();
                Some(Got::of_json(&topic, &data))
            }
        }
    }
}

/// This process's threads' CPU time and run-queue wait (ns) and time slices,
/// from their `schedstat`, by thread (id and name): counts that do not
/// depend on the machine's load as the rates do (`NW0_BENCH_SCHED=1` prints
/// them per item). By thread, because on two cores how the work splits
/// across threads says as much as its sum (a thread that sleeps on a lock
/// shows as slices).
fn sched() -> Vec<(String, [f64; 4])> {
    let mut threads = Vec::new();
    if std::env::var_os("NW0_BENCH_SCHED").is_none() {
        return threads;
    }
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let s = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let mut t = [0.0; 4];
        for (x, v) in t.iter_mut().zip(s.split_whitespace()) {
            *x = v.parse::<f64>().unwrap_or(0.0);
        }
        // Of the slices, those the thread ended itself (a wait).
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        if let Some(v) = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        {
            t[3] = v.trim().parse().unwrap_or(0.0);
        }
        let id = task.file_name().to_string_lossy().into_owned();
        threads.push((format!("{}/{id}", name.trim()), t));
    }
    threads
}

/// With `NW0_BENCH_SCHED` set: what [`sched`] counted since `t0`, per item,
/// on stderr (a publisher child's goes to the bench's stderr too): the
/// process's sum, then each thread that ran since (CPU µs, slices, and of
/// those the waits: the slices it ended itself rather than was preempted).
fn sched_say(who: &str, kind: &str, t0: Vec<(String, [f64; 4])>, items: u64) {
    if std::env::var_os("NW0_BENCH_SCHED").is_none() {
        return;
    }
    let per = items.max(1) as f64;
    let mut sum = [0.0; 3];
    let mut each = String::new();
    for (name, t) in sched() {
        let before = t0
            .iter()
            .find(|(n, _)| *n == name)
            .map_or([0.0; 4], |x| x.1);
        let d: Vec<f64> = t.iter().zip(before).map(|(a, b)| a - b).collect();
        for (s, x) in sum.iter_mut().zip(&d) {
            *s += x;
        }
        if d.get(2).is_some_and(|s| *s > 0.0) {
            each.push_str(&format!(
                " | {name} cpu {:.2} slices {:.3} (waits {:.3})",
                d[0] / 1e3 / per,
                d[2] / per,
                d[3] / per
            ));
        }
    }
    eprintln!(
        "SCHED {who} {kind} cpu {:.2} wait {:.2} µs/item, slices {:.3}/item{each}",
        sum[0] / 1e3 / per,
        sum[1] / 1e3 / per,
        sum[2] / per
    );
}

/// With `NW0_BENCH_SCHED` set: where a subscriber's time went, window by
/// window: receiving one (its first item to its mark) and waiting for the
/// next (a mark to the next window's first item), in µs, on stderr.
fn windows_say(kind: &str, inside: Vec<f64>, gaps: Vec<f64>) {
    if std::env::var_os("NW0_BENCH_SCHED").is_none() {
        return;
    }
    let text = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let i = ((v.len().max(1) - 1) as f64 * q) as usize;
            v.get(i).copied().unwrap_or(0.0)
        };
        let long = v.iter().filter(|x| **x > 1000.0).count();
        format!(
            "sum {:.0} ms, median {:.0} µs, p90 {:.0}, p99 {:.0}, {long} over 1 ms",
            v.iter().sum::<f64>() / 1e3,
            at(0.5),
            at(0.9),
            at(0.99)
        )
    };
    eprintln!(
        "WINDOWS {kind} receiving: {} | waiting: {}",
        text(inside),
        text(gaps)
    );
}

/// The publisher role: `pub KIND ITEMS WINDOW INFLIGHT`. Publishes `tick`s until
/// told `go` on stdin, then the items in windows (each closed by a `mark`),
/// waiting for `ack W` lines to keep at most INFLIGHT windows unacknowledged
/// (0: no waiting, then `end`s). Prints `ADDRESS a`, then `SENT n` or `STALLED …`.
pub(crate) fn publish(args: &[String], stdin: Receiver<String>) {
    let arg = |i: usize| args.get(i).and_then(|a| a.parse::<u64>().ok());
    let (Some(items), Some(window), Some(inflight)) = (arg(1), arg(2), arg(3)) else {
        crate::roles::say("USAGE pub ours|raw ITEMS WINDOW INFLIGHT".into());
        return;
    };
    let window = window.max(1);
    let ctx = zmq::Context::new();
    let kind = args.first().map_or("", String::as_str);
    let Some((publisher, address)) = Publisher::open(kind, &ctx) else {
        crate::roles::say("ERROR cannot publish".into());
        return;
    };
    crate::roles::say(format!("ADDRESS {address}"));
    // Ticks until the subscriber has heard one (its connection and subscription
    // are in place, and our first publish_news has had its 0.3 s wait).
    let mut go = false;
    for _ in 0..3000 {
        publisher.send(Out::Tick);
        if stdin.recv_timeout(Duration::from_millis(10)).is_ok() {
            go = true;
            break;
        }
    }
    if !go {
        return;
    }
    let t0 = sched();
    let windows = items.div_ceil(window);
    let mut acked = 0u64; // windows acknowledged, counted from the first
    let mut seq = 0u64;
    for w in 0..windows {
        let deadline = Instant::now() + PATIENCE;
        while inflight > 0 && w - acked >= inflight {
            match stdin.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => acked = acked.max(acked_through(&line)),
                Err(_) => {
                    crate::roles::say(format!("STALLED window {w}, {acked} acknowledged"));
                    return;
                }
            }
        }
        let end = (seq + window).min(items);
        while seq < end {
            publisher.send(Out::Data {
                i: seq,
                topic: "data.temp",
            });
            seq += 1;
        }
        publisher.send(Out::Mark { w, next: seq });
    }
    sched_say("pub", kind, t0, items);
    crate::roles::say(format!("SENT {seq}"));
    if inflight == 0 {
        // No acks: repeat the end until the subscriber has drained its queue.
        for _ in 0..400 {
            publisher.send(Out::End);
            std::thread::sleep(Duration::from_millis(5));
        }
    } else {
        // Stay until the last window is acknowledged (or the parent is gone).
        let deadline = Instant::now() + PATIENCE;
        while acked < windows {
            match stdin.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => acked = acked.max(acked_through(&line)),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
    }
}

/// One subscriber run: what arrived, and when.
#[derive(Default)]
pub(crate) struct Run {
    /// Items the publisher says it sent (`None`: it stalled or failed).
    pub sent: Option<u64>,
    /// Sequence numbers of the data items received, in arrival order.
    pub seqs: Vec<u64>,
    /// Items per second, first → last data item at the subscriber.
    pub rate: f64,
    /// Items per second of each window (mark to mark) after the first.
    pub window_rates: Vec<f64>,
    /// Marks received, of how many sent.
    pub marks: (u64, u64),
}

impl Run {
    pub fn received(&self) -> u64 {
        self.seqs.len() as u64
    }

    /// Items lost (gaps in the sequence), counting each sequence number once.
    pub fn lost(&self, items: u64) -> u64 {
        let mut seen = vec![false; items as usize];
        for &s in &self.seqs {
            if let Some(x) = seen.get_mut(s as usize) {
                *x = true;
            }
        }
        seen.iter().filter(|x| !**x).count() as u64
    }

    /// Which items were dropped, in words: the first item missing, the
    /// number of separate gaps, and whether the last item arrived.
    pub fn drops(&self, items: u64) -> String {
        let mut seen = vec![false; items as usize];
        for &s in &self.seqs {
            if let Some(x) = seen.get_mut(s as usize) {
                *x = true;
            }
        }
        let Some(first_missing) = seen.iter().position(|x| !x) else {
            return "none dropped".into();
        };
        let gaps = seen.windows(2).filter(|p| p[0] && !p[1]).count()
            + usize::from(seen.first() == Some(&false));
        let in_order = self.seqs.windows(2).all(|p| p[0] < p[1]);
        format!(
            "items 0–{} all arrived, then {gaps} gap(s) of newer items dropped; last item {}; {}",
            first_missing.saturating_sub(1),
            if seen.last().copied().unwrap_or(false) {
                "arrived"
            } else {
                "dropped"
            },
            if in_order {
                "the rest in order"
            } else {
                "OUT OF ORDER"
            }
        )
    }
}

/// What the report needs of a run, so a run made by the other transport's
/// binary (`nw0-bench pubsub-run …`) comes back as one line.
#[derive(Clone, Default)]
pub(crate) struct Summary {
    pub rate: f64,
    pub window_rates: Vec<f64>,
    pub received: u64,
    pub lost: u64,
    pub sent: Option<u64>,
    pub marks: (u64, u64),
    pub drops: String,
}

impl Run {
    pub fn summary(&self, items: u64) -> Summary {
        Summary {
            rate: self.rate,
            window_rates: self.window_rates.clone(),
            received: self.received(),
            lost: self.lost(items),
            sent: self.sent,
            marks: self.marks,
            drops: self.drops(items),
        }
    }
}

impl Summary {
    pub fn to_json(&self) -> String {
        json!({
            "rate": self.rate,
            "window_rates": self.window_rates,
            "received": self.received,
            "lost": self.lost,
            "sent": self.sent,
            "marks": [self.marks.0, self.marks.1],
            "drops": self.drops,
        })
        .to_string()
    }

    pub fn from_json(line: &str) -> Option<Summary> {
        let v: Value = serde_json::from_str(line).ok()?;
        let u = |k: &str| v.get(k).and_then(Value::as_u64);
        Some(Summary {
            rate: v.get("rate")?.as_f64()?,
            window_rates: v
                .get("window_rates")?
                .as_array()?
                .iter()
                .filter_map(Value::as_f64)
                .collect(),
            received: u("received")?,
            lost: u("lost")?,
            sent: u("sent"),
            marks: (
                v.get("marks")?.get(0)?.as_u64()?,
                v.get("marks")?.get(1)?.as_u64()?,
            ),
            drops: v.get("drops")?.as_str()?.to_string(),
        })
    }
}

/// Kills the helper when the run ends, however it ends.
struct Helper(Child, BufReader<ChildStdout>);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One run: a `kind` publisher child sending `items` in windows of `window`
/// with at most `inflight` unacknowledged (0: no flow control); this process
/// subscribes with the same kind.
pub(crate) fn run(exe: &str, kind: Kind, items: u64, window: u64, inflight: u64) -> Run {
    let (i, w, f) = (items.to_string(), window.to_string(), inflight.to_string());
    // Which side makes a difference: `NW0_BENCH_PUBKIND=raw` gives a networkzero
    // run a raw libzmq publisher, `NW0_BENCH_SUBKIND=raw` a raw subscriber
    // (the wire is the same: `[topic, JSON]`).
    let mix = |v: &str| std::env::var(v).ok().filter(|_| kind == Kind::Ours);
    let pub_kind = mix("NW0_BENCH_PUBKIND").unwrap_or(kind.name().to_string());
    let kind = match mix("NW0_BENCH_SUBKIND").as_deref() {
        Some("raw") => Kind::Raw,
        _ => kind,
    };
    let (child, out) = spawn_piped(exe, &["pub", &pub_kind, &i, &w, &f]);
    let mut h = Helper(child, out);
    let mut r = Run::default();
    let Some(address) = read_value(&mut h.1, "ADDRESS ") else {
        return r;
    };
    let ctx = zmq::Context::new();
    let Some(sub) = Subscriber::connect(kind, &ctx, &address) else {
        return r;
    };
    let ready = Instant::now() + Duration::from_secs(10);
    let heard =
        (0..10_000).any(|_| matches!(sub.next(), Some(Got::Tick)) || Instant::now() > ready);
    if !heard || Instant::now() > ready {
        return r;
    }
    let t0 = sched();
    tell(&mut h.0, "go");
    let windows = items.div_ceil(window.max(1));
    r.marks.1 = windows;
    r.seqs.reserve(items as usize);
    let (mut first, mut last) = (None, Instant::now());
    let mut prev_mark: Option<(Instant, u64)> = None;
    let (mut win_first, mut inside, mut gaps) = (None::<Instant>, Vec::new(), Vec::new());
    // Bounded: every pass takes one item or ends the run.
    for _ in 0..(items + windows) * 2 + 10_000 {
        let Some(got) = sub.next() else {
            break;
        };
        match got {
            Got::Data(i) => {
                let now = Instant::now();
                if win_first.is_none() {
                    win_first = Some(now);
                    if let Some((t, _)) = prev_mark {
                        gaps.push(now.duration_since(t).as_secs_f64() * 1e6);
                    }
                }
                first.get_or_insert(now);
                last = now;
                r.seqs.push(i);
            }
            Got::Mark(w, next) => {
                let now = Instant::now();
                if let Some(f) = win_first.take() {
                    inside.push(now.duration_since(f).as_secs_f64() * 1e6);
                }
                if inflight > 0 {
                    tell(&mut h.0, &format!("ack {w}"));
                }
                if let Some((t, n)) = prev_mark {
                    let secs = now.duration_since(t).as_secs_f64();
                    if secs > 0.0 {
                        r.window_rates.push(next.saturating_sub(n) as f64 / secs);
                    }
                }
                prev_mark = Some((now, next));
                r.marks.0 += 1;
                if inflight > 0 && w + 1 == windows {
                    break;
                }
            }
            Got::End => break,
            Got::Tick | Got::Other => {}
        }
    }
    sched_say("sub", kind.name(), t0, items);
    windows_say(kind.name(), inside, gaps);
    let secs = first.map_or(0.0, |f| last.duration_since(f).as_secs_f64());
    r.rate = if secs > 0.0 {
        r.received() as f64 / secs
    } else {
        0.0
    };
    r.sent = read_value(&mut h.1, "SENT ").and_then(|v| v.parse().ok());
    r
}

/// Median and the slow tail of a set of rates: `p99` here is the rate the
/// slowest 1 % of windows fall below (the 99th percentile of window time).
pub(crate) fn rate_stats(rates: &[f64]) -> Stats {
    let s = stats(rates.to_vec());
    let low = stats(rates.iter().map(|r| -r).collect());
    Stats {
        median: s.median,
        p99: -low.p99,
        n: s.n,
    }
}

/// The Python networkzero 1.0b1 run: a Python subscriber with a Python
/// publisher child, the same protocol. Prints
/// `PYFLOW received lost rate window_median window_p99slow windows sent`.
pub(crate) fn python_code(items: u64, window: u64, inflight: u64) -> String {
    let publisher = format!(
        "{prelude}import threading, queue
items, W, inflight = {items}, {window}, {inflight}
addr = nw0.address('127.0.0.1')
print('ADDRESS', addr, flush=True)
q = queue.Queue()
def read():
    for line in sys.stdin:
        q.put(line.split())
threading.Thread(target=read, daemon=True).start()
go = False
for _ in range(3000):
    nw0.send_news_to(addr, 'tick', None)
    try:
        q.get(timeout=0.01)
        go = True
        break
    except queue.Empty:
        pass
if not go:
    sys.exit(1)
windows = -(-items // W)
acked = seq = 0
for w in range(windows):
    deadline = time.time() + 5
    while inflight and w - acked >= inflight:
        try:
            m = q.get(timeout=max(0.0, deadline - time.time()))
        except queue.Empty:
            print('STALLED', w, flush=True)
            sys.exit(1)
        if m and m[0] == 'ack':
            acked = max(acked, int(m[1]) + 1)
    end = min(seq + W, items)
    while seq < end:
        nw0.send_news_to(addr, 'data', {{'i': seq, 'topic': 'data.temp'}})
        seq += 1
    nw0.send_news_to(addr, 'mark', {{'w': w, 'next': seq}})
print('SENT', seq, flush=True)
if not inflight:
    for _ in range(400):
        nw0.send_news_to(addr, 'end', None)
        time.sleep(0.005)
else:
    deadline = time.time() + 5
    while acked < windows and time.time() < deadline:
        try:
            m = q.get(timeout=max(0.0, deadline - time.time()))
        except queue.Empty:
            break
        if m and m[0] == 'ack':
            acked = max(acked, int(m[1]) + 1)
",
        prelude = nw0_tests::py::PRELUDE
    );
    format!(
        "import subprocess
items, W, inflight = {items}, {window}, {inflight}
pub = subprocess.Popen([sys.executable, '-u', '-c', {code}], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
addr = None
for _ in range(100):
    line = pub.stdout.readline()
    if not line:
        break
    if line.startswith('ADDRESS '):
        addr = line.split()[1]
        break
ready = False
t0 = time.time()
while addr and time.time() - t0 < 10:
    topic, data = nw0.wait_for_news_from(addr, '', 5)
    if topic == 'tick':
        ready = True
        break
if not ready:
    pub.kill()
    print('PYFLOW 0 0 0 0 0 0 0', flush=True)
    sys.exit(0)
pub.stdin.write('go\\n')
pub.stdin.flush()
windows = -(-items // W)
seen = set()
first = last = prev = None
prev_next = 0
rates = []
for _ in range((items + windows) * 2 + 10000):
    topic, data = nw0.wait_for_news_from(addr, '', 5)
    if topic is None:
        break
    now = time.perf_counter()
    if topic == 'data':
        seen.add(data['i'])
        if first is None:
            first = now
        last = now
    elif topic == 'mark':
        if inflight:
            pub.stdin.write('ack %d\\n' % data['w'])
            pub.stdin.flush()
        if prev is not None and now > prev:
            rates.append((data['next'] - prev_next) / (now - prev))
        prev, prev_next = now, data['next']
        if inflight and data['w'] + 1 == windows:
            break
    elif topic == 'end':
        break
sent = 0
for _ in range(100):
    line = pub.stdout.readline()
    if not line:
        break
    if line.startswith('SENT '):
        sent = int(line.split()[1])
        break
pub.kill()
rate = len(seen) / (last - first) if first is not None and last > first else 0
rates.sort()
med = rates[len(rates) // 2] if rates else 0
slow = rates[min(len(rates) - 1, int(len(rates) * 0.01))] if rates else 0
print('PYFLOW', len(seen), items - len(seen), rate, med, slow, len(rates), sent, flush=True)
",
        code = nw0_tests::py::str_lit(&publisher)
    )
}

/// Windows acknowledged by an `ack N` line (N + 1); 0 for any other line.
fn acked_through(line: &str) -> u64 {
    line.strip_prefix("ack ")
        .and_then(|n| n.parse::<u64>().ok())
        .map_or(0, |n| n + 1)
}
