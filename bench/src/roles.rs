//! The helper processes the benchmark spawns: `nw0-bench ROLE ARGS…`.
//! Each prints `KEY value` lines the parent reads.

use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use networkzero as nw0;

use crate::{stats, wall_ms};

pub(crate) fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Lines typed on stdin, read on their own thread.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The class passphrase of the keyed rows: a role named `ROLE-keyed` is
/// `ROLE` with it set (every connection CurveZMQ).
pub(crate) const CLASS_KEY: &str = "bench class passphrase";

pub(crate) fn run(role: &str, args: &[String]) {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let started = Instant::now();
    let keyed = role.ends_with("-keyed");
    let role = match role.strip_suffix("-keyed") {
        Some(plain) => {
            nw0::set_class_key(CLASS_KEY).expect("class key");
            plain
        }
        None => role,
    };
    match role {
        "advertise" => {
            let address = nw0::advertise(arg(0)).expect("advertise");
            say(format!("ADDRESS {address}"));
            std::thread::sleep(Duration::from_secs(600));
        }
        "find" => {
            let found = nw0::discover(arg(0), 10).ok().flatten();
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            say(format!(
                "FOUND_MS {}",
                if found.is_some() { ms } else { -1.0 }
            ));
        }
        "warm" => {
            let _ = nw0::advertise("warm").expect("advertise");
            let n: usize = arg(0).parse().unwrap_or(1000);
            let v: Vec<f64> = (0..n)
                .map(|_| {
                    let t = Instant::now();
                    let _ = nw0::discover("warm", 1);
                    t.elapsed().as_secs_f64() * 1e6
                })
                .collect();
            let s = stats(v);
            say(format!("WARM_US {} {}", s.median, s.p99));
        }
        "find-at" => {
            // Released at a wall-clock moment given on stdin once every
            // finder is ready, so processes launched one by one start
            // together; the time counts from that moment.
            // The wait (10 s unless given): a missing name with 0 measures
            // the discover until its query has left.
            let wait: f64 = args.get(1).and_then(|w| w.parse().ok()).unwrap_or(10.0);
            // Read before the release: the reading costs nothing measured.
            let (_, cpu_before) = cpu_now();
            let caller_before = thread_cpu_ms();
            say("READY".into());
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            let at: f64 = line.trim().parse().unwrap_or(0.0);
            let left = at - wall_ms();
            if left > 0.0 {
                std::thread::sleep(Duration::from_secs_f64(left / 1000.0));
            }
            let woke = wall_ms() - at.max(0.0);
            let found = nw0::discover(arg(0), wait).ok().flatten();
            let ms = wall_ms() - at.max(0.0);
            say(format!("WOKE_MS {woke:.1}"));
            say(format!(
                "FOUND_MS {}",
                if found.is_some() { ms } else { -1.0 }
            ));
            // What the discover cost this process in CPU, every thread
            // (none has ended yet), and how many threads it runs.
            let (threads, cpu) = cpu_now();
            say(format!("CPU_MS {:.3}", cpu - cpu_before));
            // The calling thread's share: with WAIT 0, what it spent until
            // its query left.
            say(format!(
                "CALLER_CPU_MS {:.3}",
                thread_cpu_ms() - caller_before
            ));
            say(format!("THREADS {threads}"));
        }
        "ls" => {
            // What `nw0 ls --wait W` does: start listening (and ask), wait W
            // from the start, list.
            let wait: f64 = arg(0).parse().unwrap_or(1.0);
            let _ = nw0::discover_all();
            // When the first query went out: a late start (a loaded machine)
            // leaves less of the wait for the answers.
            let asked = started.elapsed();
            let left = Duration::from_secs_f64(wait).saturating_sub(asked);
            std::thread::sleep(left);
            let count = || {
                let all = nw0::discover_all().unwrap_or_default();
                all.iter().filter(|(n, _)| n.starts_with(arg(1))).count()
            };
            let n = count();
            say(format!("ASKED_MS {}", asked.as_secs_f64() * 1000.0));
            say(format!("COUNT {n}"));
            // Why a listing is short: datagrams the kernel dropped on this
            // host's UDP sockets (a full receive buffer), and what the same
            // process lists a moment later (late answers, not lost ones).
            say(format!("DROPS {}", udp_drops()));
            std::thread::sleep(Duration::from_millis(500));
            say(format!("LATER {}", count()));
        }
        "count-adverts" => {
            // Datagrams arriving on UDP 9999 (shared, as our beacons share it).
            let secs: f64 = arg(0).parse().unwrap_or(3.0);
            let socket = socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::DGRAM,
                Some(socket2::Protocol::UDP),
            )
            .expect("socket");
            let _ = socket.set_reuse_address(true);
            let _ = socket.set_reuse_port(true);
            let any = std::net::SocketAddr::from(([0, 0, 0, 0], 9999));
            socket.bind(&any.into()).expect("bind 9999");
            let socket = std::net::UdpSocket::from(socket);
            let _ = socket.set_read_timeout(Some(Duration::from_millis(100)));
            let mut buf = [0u8; 512];
            let mut n = 0u64;
            while started.elapsed().as_secs_f64() < secs {
                if socket.recv(&mut buf).is_ok() {
                    n += 1;
                }
            }
            say(format!(
                "PER_SEC {}",
                n as f64 / started.elapsed().as_secs_f64()
            ));
        }
        "find-cold" => {
            // Start the node first, so "waiting" means waiting for the name.
            let _ = nw0::discover_all();
            say("WAITING".into());
            if nw0::discover(arg(0), 30).ok().flatten().is_some() {
                say(format!("FOUND_AT {}", wall_ms()));
            }
        }
        "watch-gone" => {
            if nw0::discover(arg(0), 10).ok().flatten().is_none() {
                return;
            }
            let _ = nw0::discover_all(); // past the start-up wait, so it does not count
            say("SEEN".into());
            for _ in 0..40_000 {
                let all = nw0::discover_all().unwrap_or_default();
                if !all.iter().any(|(n, _)| n == arg(0)) {
                    say(format!("GONE_AT {}", wall_ms()));
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        "serve-echo" => {
            let address = nw0::advertise(arg(0)).expect("advertise");
            say(format!("ADDRESS {address}"));
            for _ in 0..10_000_000u64 {
                if let Ok(Some(m)) = nw0::wait_for_message(address, 60) {
                    let _ = nw0::send_reply(address, m);
                } else {
                    return;
                }
            }
        }
        "raw-rep" => {
            let ctx = zmq::Context::new();
            let rep = ctx.socket(zmq::REP).expect("socket");
            rep.bind("tcp://127.0.0.1:*").expect("bind");
            let endpoint = rep
                .get_last_endpoint()
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            let port = endpoint.rsplit(':').next().unwrap_or("0").to_string();
            say(format!("PORT {port}"));
            let _ = rep.set_rcvtimeo(60_000);
            while let Ok(m) = rep.recv_bytes(0) {
                if rep.send(m, 0).is_err() {
                    return;
                }
            }
        }
        "pub" => crate::pubsub::publish(args, stdin_lines()),
        "req-rtts" => {
            // `N` on stdin: N round trips to ADDRESS, answered `RTTS µs µs …`.
            let address = arg(0).to_string();
            for line in stdin_lines() {
                let n: usize = line.trim().parse().unwrap_or(0);
                let v: Vec<String> = (0..n)
                    .map(|i| {
                        let t = Instant::now();
                        let _ = nw0::send_message(
                            address.as_str(),
                            serde_json::json!({"i": i, "text": "hello"}),
                            5,
                        );
                        format!("{:.1}", t.elapsed().as_secs_f64() * 1e6)
                    })
                    .collect();
                say(format!("RTTS {}", v.join(" ")));
            }
        }
        "tcp-echo" => tcp_echo(),
        "pubsub-run" => {
            let n = |i: usize| arg(i).parse::<u64>().unwrap_or(0);
            let kind = if keyed {
                crate::pubsub::Kind::Keyed
            } else {
                crate::pubsub::Kind::Ours
            };
            let run = crate::pubsub::run(&crate::me(), kind, n(0), n(1), n(2));
            say(format!("RUN {}", run.summary(n(0)).to_json()));
        }
        other => {
            eprintln!("unknown role {other}");
            std::process::exit(2);
        }
    }
}

/// A raw libzmq REQ connected to the raw REP helper.
pub(crate) struct RawReq {
    _ctx: zmq::Context,
    req: Option<zmq::Socket>,
}

impl RawReq {
    pub(crate) fn connect(port: u16) -> RawReq {
        let ctx = zmq::Context::new();
        let req = ctx.socket(zmq::REQ).ok().filter(|req| {
            req.connect(&format!("tcp://127.0.0.1:{port}")).is_ok()
                && req.set_rcvtimeo(5_000).is_ok()
        });
        RawReq { _ctx: ctx, req }
    }

    /// `n` round trips of a small JSON message, in µs (fewer if one fails).
    pub(crate) fn rtts(&self, n: usize) -> Vec<f64> {
        let Some(req) = &self.req else {
            return Vec::new();
        };
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            let t = Instant::now();
            let msg = serde_json::to_vec(&serde_json::json!({"i": i, "text": "hello"}))
                .unwrap_or_default();
            if req.send(msg, 0).is_err() || req.recv_bytes(0).is_err() {
                break;
            }
            v.push(t.elapsed().as_secs_f64() * 1e6);
        }
        v
    }
}

/// The floor: plain TCP ping-pong of the same bytes. Each message is a
/// 2-byte length and the bytes; the server writes them back.
fn tcp_echo() {
    use std::io::Read;
    let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
        return;
    };
    let port = listener.local_addr().map_or(0, |a| a.port());
    say(format!("PORT {port}"));
    for stream in listener.incoming().take(16) {
        let Ok(mut s) = stream else { continue };
        let _ = s.set_nodelay(true);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536 + 2];
            // Each pass echoes one message; ends with the connection.
            loop {
                if s.read_exact(&mut buf[..2]).is_err() {
                    return;
                }
                let n = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
                if s.read_exact(&mut buf[2..2 + n]).is_err() || s.write_all(&buf[..2 + n]).is_err()
                {
                    return;
                }
            }
        });
    }
}

/// A plain TCP client of the `tcp-echo` helper.
pub(crate) struct TcpFloor {
    stream: Option<std::net::TcpStream>,
}

impl TcpFloor {
    pub(crate) fn connect(port: u16) -> TcpFloor {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .filter(|s| s.set_nodelay(true).is_ok());
        TcpFloor { stream }
    }

    /// `n` round trips of the same small JSON message, in µs.
    pub(crate) fn rtts(&mut self, n: usize) -> Vec<f64> {
        use std::io::Read;
        let Some(s) = self.stream.as_mut() else {
            return Vec::new();
        };
        let mut v = Vec::with_capacity(n);
        let mut back = vec![0u8; 65_536 + 2];
        for i in 0..n {
            let t = Instant::now();
            let msg = serde_json::to_vec(&serde_json::json!({"i": i, "text": "hello"}))
                .unwrap_or_default();
            let mut frame = (msg.len() as u16).to_be_bytes().to_vec();
            frame.extend_from_slice(&msg);
            if s.write_all(&frame).is_err() || s.read_exact(&mut back[..frame.len()]).is_err() {
                break;
            }
            v.push(t.elapsed().as_secs_f64() * 1e6);
        }
        v
    }
}

/// Datagrams dropped so far on the UDP sockets of this network namespace
/// (the last column of /proc/net/udp), 0 where there is no such file.
fn udp_drops() -> u64 {
    std::fs::read_to_string("/proc/net/udp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// Lets the calling thread be scheduled out for a moment: the kernel adds a
/// running thread's time to its `schedstat` only then (or at a tick, every
/// few ms), so without it its own reading would lag by up to a tick.
fn settle() {
    std::thread::sleep(Duration::from_micros(1));
}

/// The CPU milliseconds the calling thread has used (its `schedstat`).
fn thread_cpu_ms() -> f64 {
    settle();
    crate::schedstat_ns(std::path::Path::new("/proc/thread-self/schedstat")) / 1e6
}

/// This process's threads and the CPU milliseconds they have used (their
/// `schedstat`, in nanoseconds: exact, unlike `stat`'s 10 ms ticks).
fn cpu_now() -> (usize, f64) {
    settle();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0.0);
    };
    tasks.flatten().fold((0, 0.0), |(n, ms), task| {
        (
            n + 1,
            ms + crate::schedstat_ns(&task.path().join("schedstat")) / 1e6,
        )
    })
}
