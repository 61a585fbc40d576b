//! A [`Driver`]: the core's sans-IO ZMTP [`Connection`] run over a blocking std
//! [`TcpStream`], for tests against real ZMTP peers (libzmq, pyzmq) over loopback.
//!
//! The driver reads with a 5 ms timeout, so a test steps it in bounded loops
//! ([`Driver::run_until`], [`Driver::idle`]) and inspects what it saw in
//! [`Driver::events`] (owned copies, [`Ev`]), [`Driver::err`] and [`Driver::eof`].
//! Every wait is bounded by [`WAIT`] or an explicit limit.
//!
//! ```no_run
//! # use nw0_tests::zmtp_driver::*;
//! use networkzero_core::zmtp::{Config, Role, SocketType};
//! if !nw0_tests::require_netns() { return; }
//! # let addr = "127.0.0.1:5555".parse().unwrap();
//! let mut d = Driver::connect(addr, Config::new(Role::Req));
//! assert_eq!(d.handshake(), SocketType::Rep);
//! d.conn.send(&[b"hello"]).unwrap();
//! let reply: Vec<Vec<u8>> = d.recv_message();
//! # let _ = reply;
//! ```
//!
//! (`core/src/zmtp/tests.rs` has an in-memory twin of [`Ev`] for its own unit tests:
//! the core cannot depend on this crate.)

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use networkzero_core::zmtp::{Config, Connection, Event, SocketType, ZmtpError};
use networkzero_core::Instant;

use crate::ChildGuard;

/// How long [`Driver::connect`], [`Driver::accept`], [`Driver::handshake`] and
/// [`Driver::recv_message`] wait at most.
pub const WAIT: StdDuration = StdDuration::from_secs(10);

/// An owned copy of an [`Event`] the engine reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    /// [`Event::HandshakeDone`]: the peer's socket type.
    Done(SocketType),
    /// [`Event::Message`]: one part and whether more parts follow.
    Msg(Vec<u8>, bool),
    /// [`Event::Subscribed`]: the topic prefix.
    Sub(Vec<u8>),
    /// [`Event::Unsubscribed`]: the topic prefix.
    Unsub(Vec<u8>),
    /// [`Event::PeerError`]: the peer's reason.
    PeerErr(Vec<u8>),
}

impl Ev {
    /// The owned copy of `e`. Panics on an event these tests do not expect.
    pub fn own(e: Event<'_>) -> Ev {
        match e {
            Event::HandshakeDone { peer } => Ev::Done(peer),
            Event::Message(p) => Ev::Msg(p.data.to_vec(), p.more),
            Event::Subscribed(t) => Ev::Sub(t.to_vec()),
            Event::Unsubscribed(t) => Ev::Unsub(t.to_vec()),
            Event::PeerError(r) => Ev::PeerErr(r.to_vec()),
            other => panic!("unexpected event {other:?}"),
        }
    }
}

/// Runs one engine over one TCP stream (see the module docs).
pub struct Driver {
    /// The engine: send with `conn.send`, subscribe with `conn.subscribe`, …
    pub conn: Connection<Vec<u8>>,
    /// The stream (write to it directly to send raw bytes behind the engine's back).
    pub sock: TcpStream,
    /// Bytes read but not yet taken by the engine.
    pub input: Vec<u8>,
    start: StdInstant,
    /// Events reported so far and not yet taken by [`Driver::handshake`] /
    /// [`Driver::recv_message`] (or by the test).
    pub events: Vec<Ev>,
    /// The peer closed the stream (or writing or reading failed).
    pub eof: bool,
    /// The engine's error, after which the driver stops reading.
    pub err: Option<ZmtpError>,
}

impl Driver {
    /// Drives `sock` (5 ms read timeout, 5 s write timeout, no Nagle) with an engine
    /// made from `cfg` with `rx`/`tx` byte buffers (and, for CURVE, a seed from the
    /// OS's random source).
    pub fn new(sock: TcpStream, cfg: Config, rx: usize, tx: usize) -> Driver {
        sock.set_read_timeout(Some(StdDuration::from_millis(5)))
            .unwrap();
        sock.set_write_timeout(Some(StdDuration::from_secs(5)))
            .unwrap();
        sock.set_nodelay(true).unwrap();
        let conn =
            Connection::with_seed(cfg, vec![0; rx], vec![0; tx], Instant::ZERO, seed()).unwrap();
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

    /// Connects to `addr` (within [`WAIT`]), with 64 KiB buffers.
    pub fn connect(addr: SocketAddr, cfg: Config) -> Driver {
        let sock = TcpStream::connect_timeout(&addr, WAIT).unwrap();
        Driver::new(sock, cfg, 64 * 1024, 64 * 1024)
    }

    /// Accepts one connection on `listener` (within [`WAIT`], else panics), with
    /// 64 KiB buffers.
    pub fn accept(listener: &TcpListener, cfg: Config) -> Driver {
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

    /// The engine's clock: time since the driver was made.
    pub fn now(&self) -> Instant {
        Instant::from_millis(self.start.elapsed().as_millis() as u64)
    }

    /// Writes what the engine has queued, as far as the stream takes it now.
    pub fn flush(&mut self) {
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

    /// Gives the engine the buffered input and collects its events (and its error).
    fn feed(&mut self) {
        let now = self.now();
        for _ in 0..100_000 {
            match self.conn.handle_input(&self.input, now) {
                Ok(n) => {
                    self.input.drain(..n);
                    let mut any = false;
                    while let Some(e) = self.conn.poll_event() {
                        self.events.push(Ev::own(e));
                        any = true;
                    }
                    if n == 0 && !any {
                        return;
                    }
                }
                Err(e) => {
                    self.err = Some(e);
                    while let Some(ev) = self.conn.poll_event() {
                        self.events.push(Ev::own(ev));
                    }
                    return;
                }
            }
        }
    }

    /// One round: write, timers, read (up to 5 ms), decode, write.
    pub fn step(&mut self) {
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
    pub fn run_until(
        &mut self,
        limit: StdDuration,
        mut pred: impl FnMut(&mut Driver) -> bool,
    ) -> bool {
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

    /// Waits (at most [`WAIT`]) for the handshake and returns the peer's socket type,
    /// taken from the first event; panics if there is none. A connection the peer's
    /// next bytes already closed (an over-limit frame arriving with the handshake)
    /// still counts: its handshake-done event came first.
    pub fn handshake(&mut self) -> SocketType {
        let done = |d: &mut Driver| {
            d.conn.is_established() || d.events.iter().any(|e| matches!(e, Ev::Done(_)))
        };
        assert!(
            self.run_until(WAIT, done),
            "handshake: {:?} {:?}",
            (self.err, self.eof),
            self.events
        );
        match self.events.remove(0) {
            Ev::Done(t) => t,
            other => panic!("first event {other:?}"),
        }
    }

    /// Wait (at most [`WAIT`]) for a whole message (until a part without MORE) and
    /// take its parts from [`Driver::events`]; panics if none comes.
    pub fn recv_message(&mut self) -> Vec<Vec<u8>> {
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

    /// Idle (but keep servicing the connection) for `d`.
    pub fn idle(&mut self, d: StdDuration) {
        let deadline = StdInstant::now() + d;
        while StdInstant::now() < deadline && !self.eof && self.err.is_none() {
            self.step();
        }
    }
}

/// 32 bytes from the OS's random source (a connection's seed).
pub fn seed() -> [u8; 32] {
    let mut s = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut s))
        .expect("/dev/urandom");
    s
}

/// A port on 127.0.0.1 that was free a moment ago (for a peer process to bind).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects to `addr` as soon as `child` has bound it, retrying within [`WAIT`];
/// panics (with the child's stderr) if the child exits first or time runs out.
pub fn connect_when_bound(child: &mut ChildGuard, addr: SocketAddr) -> TcpStream {
    let deadline = StdInstant::now() + WAIT;
    loop {
        match TcpStream::connect_timeout(&addr, StdDuration::from_millis(200)) {
            Ok(sock) => return sock,
            Err(_) if StdInstant::now() < deadline => {
                if let Ok(Some(status)) = child.wait_timeout(StdDuration::from_millis(50)) {
                    panic!("peer exited ({status}) before binding: {}", child.stderr());
                }
            }
            Err(e) => panic!(
                "cannot connect to the peer at {addr}: {e}; stderr: {}",
                child.stderr()
            ),
        }
    }
}

/// A TCP listener on 127.0.0.1 at an ephemeral port, and its address.
pub fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}
