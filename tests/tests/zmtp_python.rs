//! The core's sans-IO ZMTP engine against the Python networkzero 1.0b1 peer
//! (pyzmq/libzmq underneath) over loopback TCP: `send_message_to` → our REP,
//! our REQ → `wait_for_message_from`/`send_reply_to`, `send_news_to` → our SUB.
//!
//! Needs the venv `target/py-venv` (`python3 -m venv target/py-venv &&
//! target/py-venv/bin/pip install networkzero==1.0b1 pyzmq`); without it the
//! tests print `SKIP: …` (or panic under `CI=true`). Run inside a private
//! network namespace: `/work/shared/sealed cargo test -p nw0-tests --test zmtp_python`.
//! Addresses are explicit `127.0.0.1:port` (Python's `address()` wants a default route).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use networkzero_core::zmtp::{Config, Connection, Event, Role, SocketType, ZmtpError};
use networkzero_core::Instant;
use nw0_tests::ChildGuard;

// ---- the same small driver as in zmtp_libzmq.rs ---------------------------

const WAIT: StdDuration = StdDuration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Done(SocketType),
    Msg(Vec<u8>, bool),
    Sub(Vec<u8>),
    Unsub(Vec<u8>),
    PeerErr(Vec<u8>),
}

fn own(e: Event<'_>) -> Ev {
    match e {
        Event::HandshakeDone { peer } => Ev::Done(peer),
        Event::Message(p) => Ev::Msg(p.data.to_vec(), p.more),
        Event::Subscribed(t) => Ev::Sub(t.to_vec()),
        Event::Unsubscribed(t) => Ev::Unsub(t.to_vec()),
        Event::PeerError(r) => Ev::PeerErr(r.to_vec()),
        other => panic!("unexpected event {other:?}"),
    }
}

/// Runs one engine over one TCP stream.
struct Driver {
    conn: Connection<Vec<u8>>,
    sock: TcpStream,
    input: Vec<u8>,
    start: StdInstant,
    events: Vec<Ev>,
    eof: bool,
    err: Option<ZmtpError>,
}

impl Driver {
    fn new(sock: TcpStream, cfg: Config, rx: usize, tx: usize) -> Driver {
        sock.set_read_timeout(Some(StdDuration::from_millis(5)))
            .unwrap();
        sock.set_write_timeout(Some(StdDuration::from_secs(5)))
            .unwrap();
        sock.set_nodelay(true).unwrap();
        let conn = Connection::new(cfg, vec![0; rx], vec![0; tx], Instant::ZERO).unwrap();
        Driver {
            conn,
            sock,
            input: Vec::new(),
            start: StdInstant::now(),
            events: Vec::new(),
            eof: false,
            err: None,
        }
    }

    fn accept(listener: &TcpListener, cfg: Config) -> Driver {
        listener.set_nonblocking(true).unwrap();
        let deadline = StdInstant::now() + WAIT;
        loop {
            match listener.accept() {
                Ok((sock, _)) => {
                    sock.set_nonblocking(false).unwrap();
                    return Driver::new(sock, cfg, 64 * 1024, 64 * 1024);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock && StdInstant::now() < deadline => {
                    thread::sleep(StdDuration::from_millis(5))
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    fn now(&self) -> Instant {
        Instant::from_millis(self.start.elapsed().as_millis() as u64)
    }

    fn flush(&mut self) {
        for _ in 0..100_000 {
            if !self.conn.has_output() || self.eof {
                return;
            }
            match self.sock.write(self.conn.output()) {
                Ok(0) => self.eof = true,
                Ok(n) => self.conn.consume_output(n),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return,
                Err(_) => self.eof = true,
            }
        }
    }

    fn feed(&mut self) {
        let now = self.now();
        for _ in 0..100_000 {
            match self.conn.handle_input(&self.input, now) {
                Ok(n) => {
                    self.input.drain(..n);
                    let mut any = false;
                    while let Some(e) = self.conn.poll_event() {
                        self.events.push(own(e));
                        any = true;
                    }
                    if n == 0 && !any {
                        return;
                    }
                }
                Err(e) => {
                    self.err = Some(e);
                    while let Some(ev) = self.conn.poll_event() {
                        self.events.push(own(ev));
                    }
                    return;
                }
            }
        }
    }

    /// One round: write, timers, read (up to 5 ms), decode, write.
    fn step(&mut self) {
        self.flush();
        let now = self.now();
        if self.err.is_none() && self.conn.poll_timeout().is_some_and(|t| now >= t) {
            if let Err(e) = self.conn.handle_timeout(now) {
                self.err = Some(e);
            }
        }
        if !self.eof && self.err.is_none() {
            let mut tmp = vec![0u8; 256 * 1024];
            match self.sock.read(&mut tmp) {
                Ok(0) => self.eof = true,
                Ok(n) => self.input.extend_from_slice(&tmp[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => self.eof = true,
            }
            self.feed();
        }
        self.flush();
    }

    /// Step until `pred` holds (true) or the time is up / the connection ended (false).
    fn run_until(&mut self, limit: StdDuration, mut pred: impl FnMut(&mut Driver) -> bool) -> bool {
        let deadline = StdInstant::now() + limit;
        while StdInstant::now() < deadline {
            if pred(self) {
                return true;
            }
            if self.eof || self.err.is_some() {
                return pred(self);
            }
            self.step();
        }
        false
    }

    fn handshake(&mut self) -> SocketType {
        assert!(
            self.run_until(WAIT, |d| d.conn.is_established()),
            "handshake: {:?} {:?}",
            d_err(self),
            self.events
        );
        match self.events.remove(0) {
            Ev::Done(t) => t,
            other => panic!("first event {other:?}"),
        }
    }

    /// Wait for a whole message (until a part without MORE).
    fn recv_message(&mut self) -> Vec<Vec<u8>> {
        let ok = self.run_until(WAIT, |d| {
            d.events.iter().any(|e| matches!(e, Ev::Msg(_, false)))
        });
        assert!(
            ok,
            "no message: err={:?} eof={} events={:?}",
            self.err, self.eof, self.events
        );
        let mut parts = Vec::new();
        while !self.events.is_empty() {
            match self.events.remove(0) {
                Ev::Msg(p, more) => {
                    parts.push(p);
                    if !more {
                        break;
                    }
                }
                other => panic!("unexpected {other:?} in a message"),
            }
        }
        parts
    }
}

fn d_err(d: &Driver) -> (Option<ZmtpError>, bool) {
    (d.err, d.eof)
}

// ---- Python peer ------------------------------------------------------------

/// The venv python, or `None` after printing SKIP (panics under CI=true).
fn setup() -> Option<PathBuf> {
    if !nw0_tests::require_netns() {
        return None;
    }
    nw0_tests::require_python()
}

fn python(py: &PathBuf, code: &str) -> ChildGuard {
    let mut cmd = Command::new(py);
    cmd.arg("-u")
        .arg("-c")
        .arg(format!("{}{code}", nw0_tests::py::PRELUDE))
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    ChildGuard::spawn(&mut cmd).expect("spawn python")
}

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// A port that was free a moment ago (for a Python peer that binds).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connect to a Python peer that binds a little later; bounded by WAIT.
fn connect_retry(addr: SocketAddr, cfg: Config, py: &mut ChildGuard) -> Driver {
    let deadline = StdInstant::now() + WAIT;
    loop {
        match TcpStream::connect_timeout(&addr, StdDuration::from_millis(200)) {
            Ok(sock) => return Driver::new(sock, cfg, 64 * 1024, 64 * 1024),
            Err(e) if StdInstant::now() < deadline => {
                if let Ok(Some(status)) = py.wait_timeout(StdDuration::from_millis(50)) {
                    panic!("python exited ({status}) before binding: {}", py.stderr());
                }
                let _ = e;
            }
            Err(e) => panic!(
                "cannot connect to the Python peer at {addr}: {e}; stderr: {}",
                py.stderr()
            ),
        }
    }
}

#[test]
fn python_send_message_to_our_rep() {
    let Some(py) = setup() else { return };
    let (l, addr) = listener();
    let mut child = python(
        &py,
        &format!(
            "r = nw0.send_message_to('{addr}', {{'q': 'hi', 'n': [1, 2]}}, wait_for_reply_s=10)\n\
             print('REPLY', json.dumps(r))\n"
        ),
    );
    let mut d = Driver::accept(&l, Config::new(Role::Rep));
    assert_eq!(d.handshake(), SocketType::Req);
    let msg = d.recv_message();
    assert_eq!(msg, vec![br#"{"q": "hi", "n": [1, 2]}"#.to_vec()]);
    d.conn.send(&[br#"{"a": 42}"#]).unwrap();
    d.flush();
    let line = child
        .expect_line(|l| l.starts_with("REPLY "), WAIT)
        .unwrap_or_else(|e| panic!("{e}; stderr: {}", child.stderr()));
    assert_eq!(line, r#"REPLY {"a": 42}"#);
    // Drive the connection until Python closes it.
    d.run_until(StdDuration::from_secs(2), |d| d.eof);
}

#[test]
fn our_req_to_python_wait_for_message_from() {
    let Some(py) = setup() else { return };
    let port = free_port();
    let mut child = python(
        &py,
        &format!(
            "addr = '127.0.0.1:{port}'\n\
             m = nw0.wait_for_message_from(addr, wait_for_s=10)\n\
             print('GOT', json.dumps(m))\n\
             nw0.send_reply_to(addr, {{'echo': m, 'ok': True}})\n\
             time.sleep(1)\n"
        ),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut d = connect_retry(addr, Config::new(Role::Req), &mut child);
    assert_eq!(d.handshake(), SocketType::Rep);
    d.conn.send(&[br#"["hello", 3]"#]).unwrap();
    let reply = d.recv_message();
    assert_eq!(
        reply,
        vec![br#"{"echo": ["hello", 3], "ok": true}"#.to_vec()]
    );
    let line = child.expect_line(|l| l.starts_with("GOT "), WAIT).unwrap();
    assert_eq!(line, r#"GOT ["hello", 3]"#);
}

#[test]
fn python_send_news_to_our_sub() {
    let Some(py) = setup() else { return };
    let port = free_port();
    let mut child = python(
        &py,
        &format!(
            "addr = '127.0.0.1:{port}'\n\
             for i in range(200):\n\
             \x20   nw0.send_news_to(addr, 'other', i)\n\
             \x20   nw0.send_news_to(addr, 'data.temp', {{'i': i, 'topic': 'data.temp'}})\n\
             \x20   time.sleep(0.05)\n"
        ),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut d = connect_retry(addr, Config::new(Role::Sub), &mut child);
    d.conn.subscribe(b"data").unwrap();
    assert_eq!(d.handshake(), SocketType::Pub);
    let mut last = None;
    for _ in 0..3 {
        let m = d.recv_message();
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0], b"data.temp");
        let text = String::from_utf8(m[1].clone()).unwrap();
        assert!(
            text.starts_with(r#"{"i": "#) && text.ends_with(r#", "topic": "data.temp"}"#),
            "{text}"
        );
        let i: u32 = text[6..text.find(',').unwrap()].parse().unwrap();
        if let Some(prev) = last {
            assert!(i > prev);
        }
        last = Some(i);
    }
    drop(child);
}
