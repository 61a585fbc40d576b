//! Every Python networkzero 1.0b1 beacon behaviour a Python program gets from our
//! beacon RPC (tcp 127.0.0.1:9998, served by a Rust program that came first on the
//! box), and the goodbye a Python peer understands (issue 16), against real Python
//! processes.
//!
//! What goes on the wire is read on another host of the LAN by a plain socket sharing
//! UDP 9999 (never sending there). Python's own beacon is never on that host.

#[path = "../src/bin/nw0-peer/drive.rs"]
mod drive;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use drive::{expect, secs, Repl};
use nw0_tests::*;

/// The adverts heard on UDP 9999 of `host` for `secs` seconds, as text.
fn adverts_heard(host: &Host, secs: f64) -> Vec<String> {
    host.run(|| {
        let socket = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )
        .unwrap();
        socket.set_reuse_address(true).unwrap();
        socket.set_reuse_port(true).unwrap();
        socket
            .bind(&SocketAddr::from(([0, 0, 0, 0], 9999)).into())
            .unwrap();
        let socket = std::net::UdpSocket::from(socket);
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let started = Instant::now();
        let mut heard = Vec::new();
        let mut buf = [0u8; 512];
        while started.elapsed().as_secs_f64() < secs {
            if let Ok(n) = socket.recv(&mut buf) {
                heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        heard
    })
}

fn mentioning<'a>(heard: &'a [String], name: &str) -> Vec<&'a String> {
    let quoted = format!("[\"{name}\",");
    heard.iter().filter(|d| d.starts_with(&quoted)).collect()
}

/// A Python program on `host` running `code` after a Rust program there took the
/// beacon (so Python uses our RPC); both are returned. The Python program's stdin is
/// a pipe (see [`tell`]).
fn python_beside_rust(host: &Host, code: &str) -> (Repl, ChildGuard) {
    let mut rust = Repl::start(host, "rust");
    rust.advertise("rpc/rust");
    let python = py::python_script(host, code)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python");
    (rust, ChildGuard::new(python))
}

/// `advertise` carries the `ttl_s` a Python program gives (a number, or None: `null`,
/// never expires); `fail_if_exists` refuses a name already advertised here, and only
/// such a name; an unknown action gets an answer (a Python beacon thread would die on
/// it), and so does a request far longer than a name; `discover` waits as long as
/// asked for a name not heard yet.
#[test]
fn rpc_advertise_honours_ttl_and_fail_if_exists() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let (rust, mut python) = python_beside_rust(
        &lan.hosts[0],
        "print('FIVE', nw0.advertise('ttl/five', ttl_s=5), flush=True)\n\
         print('EVER', nw0.advertise('ttl/ever', ttl_s=None), flush=True)\n\
         print('AGAIN', nw0.advertise('ttl/five', fail_if_exists=True), flush=True)\n\
         print('FRESH', nw0.advertise('ttl/fresh', fail_if_exists=True), flush=True)\n\
         print('UNKNOWN', json.dumps(nw0.discovery._rpc('fly', 1, 2)), flush=True)\n\
         print('LONG', json.dumps(nw0.discovery._rpc('discover', 'x' * 4000, 0)), flush=True)\n\
         print('STILL', nw0.discover('rpc/rust', 5), flush=True)\n\
         print('ASKING', flush=True)\n\
         print('LATE', nw0.discovery._rpc('discover', 'late/rust', 15, wait_for_s=20), flush=True)\n\
         time.sleep(30)\n",
    );
    let five = expect(&mut python, "FIVE", secs(20.0));
    let ever = expect(&mut python, "EVER", secs(10.0));
    assert_eq!(expect(&mut python, "AGAIN", secs(10.0)), "None");
    assert_ne!(
        expect(&mut python, "FRESH", secs(10.0)),
        "None",
        "fail_if_exists with a name nobody advertises"
    );
    assert_eq!(expect(&mut python, "UNKNOWN", secs(10.0)), "null");
    assert_eq!(
        expect(&mut python, "LONG", secs(10.0)),
        "null",
        "a request of 4 000 bytes is answered (MAX_REQUEST)"
    );
    assert_ne!(
        expect(&mut python, "STILL", secs(10.0)),
        "None",
        "the RPC still serves"
    );
    // One RPC `discover` (Python's own calls ask in 0.5 s slices) for a name that
    // is advertised only after it was asked: the answer waits for it.
    let _ = expect(&mut python, "ASKING", secs(10.0));
    let mut late = Repl::start(&lan.hosts[1], "late");
    let late_at = late.advertise("late/rust");
    assert_eq!(expect(&mut python, "LATE", secs(25.0)), late_at);
    let heard = adverts_heard(&lan.hosts[1], 2.5);
    assert!(
        mentioning(&heard, "ttl/five")
            .iter()
            .all(|d| **d == format!("[\"ttl/five\", \"{five}\", 5]")),
        "{heard:?}"
    );
    assert!(!mentioning(&heard, "ttl/five").is_empty(), "{heard:?}");
    let forever = format!("[\"ttl/ever\", \"{ever}\", null]");
    assert!(heard.contains(&forever), "no {forever} in {heard:?}");
    assert!(!rust.stderr().contains("panicked"), "{}", rust.stderr());
}

/// `pause` stops our broadcasts of the names Python programs advertised through the
/// RPC (not of our own), and a fresh program elsewhere cannot find them; `resume`
/// brings them back at once.
#[test]
fn rpc_pause_holds_python_names_until_resume() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let (_rust, mut python) = python_beside_rust(
        &lan.hosts[0],
        "print('ADDRESS', nw0.advertise('held/py'), flush=True)\n\
         sys.stdin.readline()\nnw0.discovery._pause()\nprint('PAUSED', flush=True)\n\
         sys.stdin.readline()\nnw0.discovery._resume()\nprint('RESUMED', flush=True)\n\
         time.sleep(30)\n",
    );
    let _ = expect(&mut python, "ADDRESS", secs(20.0));
    let before = adverts_heard(&lan.hosts[1], 2.5);
    assert!(!mentioning(&before, "held/py").is_empty(), "{before:?}");

    tell(&mut python, "");
    let _ = expect(&mut python, "PAUSED", secs(10.0));
    let paused = adverts_heard(&lan.hosts[1], 4.5);
    assert!(mentioning(&paused, "held/py").is_empty(), "{paused:?}");
    assert!(
        !mentioning(&paused, "rpc/rust").is_empty(),
        "our own names go on: {paused:?}"
    );
    let mut fresh = Repl::start(&lan.hosts[1], "fresh");
    assert_eq!(
        fresh.discover("held/py", 1.5),
        None,
        "a paused name is not answered"
    );

    tell(&mut python, "");
    let _ = expect(&mut python, "RESUMED", secs(10.0));
    let mut again = Repl::start(&lan.hosts[1], "again");
    assert!(again.discover("held/py", 3.0).is_some());
}

/// `reset` forgets every advert heard and every name advertised through the RPC;
/// the serving program's own names stay, others' come back with their next advert.
#[test]
fn rpc_reset_forgets_what_python_s_does() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let mut elsewhere = Repl::start(&lan.hosts[1], "elsewhere");
    elsewhere.advertise("reset/elsewhere");
    let names = "sorted(n for n, a in nw0.discover_all() if n.startswith(('reset/', 'rpc/')))";
    let (_rust, mut python) = python_beside_rust(
        &lan.hosts[0],
        &format!(
            "nw0.advertise('reset/py')\n\
             for _ in range(100):\n    if 'reset/elsewhere' in {names}: break\n    time.sleep(0.1)\n\
             print('BEFORE', json.dumps({names}), flush=True)\n\
             nw0.discovery.reset_beacon()\n\
             print('AFTER', json.dumps({names}), flush=True)\n\
             t = time.time()\n\
             while 'reset/elsewhere' not in {names} and time.time() - t < 5: time.sleep(0.05)\n\
             print('LATER', json.dumps({names}), time.time() - t, flush=True)\n\
             time.sleep(30)\n"
        ),
    );
    let list = |s: &str| -> Vec<String> {
        let json = s.rsplit_once(']').map_or(s, |(j, _)| j).to_string() + "]";
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {s}"))
    };
    assert_eq!(
        list(&expect(&mut python, "BEFORE", secs(20.0))),
        ["reset/elsewhere", "reset/py", "rpc/rust"]
    );
    assert_eq!(
        list(&expect(&mut python, "AFTER", secs(10.0))),
        ["rpc/rust"],
        "after reset only the serving program's own names"
    );
    let later = expect(&mut python, "LATER", secs(10.0));
    assert_eq!(list(&later), ["reset/elsewhere", "rpc/rust"], "{later}");
}

/// The Rust program serving the RPC exits: another one on the computer, which waited
/// its turn holding a connection to the first, takes the port over, so a Python program
/// started later still advertises through the RPC. (Without the wait, the second gives
/// up on the port while the first holds it, and nobody serves Python any more.)
#[test]
fn a_second_rust_program_takes_the_rpc_over_when_the_first_exits() {
    let Some(lan) = require_python_lan(1) else {
        return;
    };
    let host = &lan.hosts[0];
    let advertiser = |name: &str| {
        py::python_script(
            host,
            &format!("print('ADDRESS', nw0.advertise('{name}'), flush=True)\ntime.sleep(30)\n"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python")
    };
    let mut first = Repl::start(host, "first");
    first.advertise("rpc/first");
    let mut early = ChildGuard::new(advertiser("rpc/early"));
    assert_ne!(
        expect(&mut early, "ADDRESS", secs(20.0)),
        "None",
        "the first program serves the RPC"
    );
    let mut second = Repl::start(host, "second");
    second.advertise("rpc/second");
    assert!(second.discover("rpc/early", 3.0).is_some());
    first.close();
    assert!(
        first
            .child
            .wait_timeout(secs(10.0))
            .expect("wait")
            .is_some(),
        "the first program exits when its stdin closes"
    );
    let mut late = ChildGuard::new(advertiser("rpc/late"));
    assert_ne!(
        expect(&mut late, "ADDRESS", secs(20.0)),
        "None",
        "the second program serves the RPC now"
    );
}

/// A Rust program stopped with Ctrl-C says goodbye with a ttl-0 advert to UDP 9999
/// too: a Python program polling `discover_all()` on another host sees its name go
/// within 1 s (it used to stay 20 s), and its beacon neither dies nor prints a
/// traceback, only the line it prints for any name that expires.
#[test]
fn python_sees_a_rust_name_go_at_ctrl_c() {
    let Some(lan) = require_python_lan(2) else {
        return;
    };
    let mut rust = Repl::start(&lan.hosts[0], "leaver");
    rust.advertise("bye/rust");
    let mut python = py::spawn(
        &lan.hosts[1],
        "def names(): return [n for n, a in nw0.discover_all()]\n\
         t = time.time()\n\
         while 'bye/rust' not in names() and time.time() - t < 10: time.sleep(0.05)\n\
         print('SEEN', flush=True)\n\
         t = time.time()\n\
         while 'bye/rust' in names() and time.time() - t < 30: time.sleep(0.02)\n\
         print('GONE', time.time(), flush=True)\n\
         print('ALIVE', nw0.discover('bye/never', 0.5), flush=True)\n",
    );
    let _ = expect(&mut python, "SEEN", secs(20.0));
    let stopped = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    rust.child.interrupt().unwrap();
    let gone: f64 = expect(&mut python, "GONE", secs(40.0)).parse().unwrap();
    let took = gone - stopped;
    println!("FIGURE goodbye.python_sees_rust_gone_s {took:.3}");
    assert!(
        took < 1.0,
        "Python still listed the name {took:.2} s after Ctrl-C"
    );
    assert_eq!(
        expect(&mut python, "ALIVE", secs(10.0)),
        "None",
        "Python's beacon still answers"
    );
    let stderr = python.stderr();
    println!("Python's stderr:\n{stderr}");
    assert!(!stderr.contains("Traceback"), "{stderr}");
    // The goodbye is a ttl-0 advert: Python's beacon drops it as it drops any name
    // that expires, with its usual line.
    assert!(
        stderr.contains("Removing advert for bye/rust which expired at"),
        "Python's beacon did not say it dropped the name:\n{stderr}"
    );
}

/// Writes one line to a child's stdin.
fn tell(child: &mut ChildGuard, line: &str) {
    use std::io::Write;
    let stdin = child.child_mut().stdin.as_mut().expect("piped stdin");
    writeln!(stdin, "{line}").unwrap();
    stdin.flush().unwrap();
}
