//! A networkzero node on an embedded-nal stack: the `networkzero-embedded-nal` adapter
//! exactly as firmware would run it (one poll loop, fixed storage), here on std sockets
//! through embedded-nal 0.9. Used by `tests/tests/embedded_nal.rs`.
//!
//! ```text
//! enal-node --ip 10.200.K.N [--prefix 24] [--seconds S]
//!           [--ask NAME JSON]... [--watch NAME PREFIX]...
//! ```
//!
//! It serves `robot` (TCP 5555, request/reply: the commands `"forward"`, `"left"`,
//! `"right"`, `"stop"` are answered `"ack"`, anything else `{"got": MESSAGE}`) and
//! publishes `robot/news` (TCP 5556, topic `distance`, data `{"cm": N}` every 300 ms).
//! Each `--ask` opens a requester to NAME, sends JSON once connected and prints the
//! reply; each `--watch` subscribes to NAME. Prints one line per event:
//! `READY`, `DISCOVERED name addr`, `REQUEST json`, `REPLY name json`,
//! `NEWS name topic json`, `DISCONNECTED name`. Exits after S seconds (default 60).
//! Run it only inside a network namespace (tests/run.sh, ../shared/sealed).
//!
//! # The stack
//! [`TestStack`] is a minimal embedded-nal 0.9 implementation on std sockets, set up
//! with socket2. `std-embedded-nal` 0.4 (the existing implementation of embedded-nal
//! 0.9 for std) cannot run networkzero:
//! - UDP: it binds every socket to `[::]:port` with neither `SO_BROADCAST` (so
//!   `send_to` 255.255.255.255 or 10.200.K.255 is refused) nor `SO_REUSEADDR` (so port
//!   9999 cannot be shared with the `nw0` CLI or Python on the same host).
//! - TCP: `accept` hands out a *blocking* socket (accept(2) does not pass O_NONBLOCK
//!   on), so the first `receive` on a served connection blocks the whole poll loop;
//!   `connect` blocks too (`TcpStream::connect`).
//!
//! Here UDP sockets are IPv4 with `SO_BROADCAST`, `SO_REUSEADDR` + `SO_REUSEPORT`
//! (as the std `networkzero` crate sets them), TCP sockets are non-blocking
//! throughout, and `connect` is a real non-blocking connect (`WouldBlock` until the
//! handshake is done), so the adapter's retry path is exercised.

use std::io;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket as StdUdp};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use embedded_nal::{nb, TcpClientStack, TcpErrorKind, TcpFullStack, UdpClientStack, UdpFullStack};
use networkzero_core::beacon;
use networkzero_core::node::Node;
use networkzero_embedded_nal::{Config, Duration, Instant, Sockets};
use nw0_tests::robot::{Robot, RobotArgs};
use socket2::{Domain, Protocol, Socket, Type};

/// embedded-nal 0.9 UDP and TCP over std sockets set up with socket2 (see the module docs).
struct TestStack;

/// A UDP socket of [`TestStack`]: made by `socket`, opened by `bind` or `connect`.
struct UdpSocket(Option<StdUdp>);

fn nb_io(e: io::Error) -> nb::Error<io::Error> {
    match e.kind() {
        io::ErrorKind::WouldBlock => nb::Error::WouldBlock,
        _ => nb::Error::Other(e),
    }
}

fn not_open() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "UDP socket not bound")
}

/// An IPv4 UDP socket set up with socket2, then used through std's safe API.
fn open_udp(port: u16) -> io::Result<StdUdp> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_broadcast(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    Ok(s.into())
}

impl UdpClientStack for TestStack {
    type UdpSocket = UdpSocket;
    type Error = io::Error;

    fn socket(&mut self) -> io::Result<UdpSocket> {
        Ok(UdpSocket(None))
    }

    fn connect(&mut self, socket: &mut UdpSocket, remote: SocketAddr) -> io::Result<()> {
        let s = open_udp(0)?;
        s.connect(remote)?;
        socket.0 = Some(s);
        Ok(())
    }

    fn send(&mut self, socket: &mut UdpSocket, buffer: &[u8]) -> nb::Result<(), io::Error> {
        let s = socket.0.as_ref().ok_or_else(not_open)?;
        s.send(buffer).map(drop).map_err(nb_io)
    }

    fn receive(
        &mut self,
        socket: &mut UdpSocket,
        buffer: &mut [u8],
    ) -> nb::Result<(usize, SocketAddr), io::Error> {
        let s = socket.0.as_ref().ok_or_else(not_open)?;
        s.recv_from(buffer).map_err(nb_io)
    }

    fn close(&mut self, _socket: UdpSocket) -> io::Result<()> {
        Ok(()) // dropping the socket closes it
    }
}

impl UdpFullStack for TestStack {
    fn bind(&mut self, socket: &mut UdpSocket, local_port: u16) -> io::Result<()> {
        socket.0 = Some(open_udp(local_port)?);
        Ok(())
    }

    fn send_to(
        &mut self,
        socket: &mut UdpSocket,
        remote: SocketAddr,
        buffer: &[u8],
    ) -> nb::Result<(), io::Error> {
        let s = socket.0.as_ref().ok_or_else(not_open)?;
        s.send_to(buffer, remote).map(drop).map_err(nb_io)
    }
}

/// A TCP socket of [`TestStack`].
enum TcpSocket {
    /// Made by `socket`, not yet bound or connecting.
    New,
    /// A non-blocking connect in progress.
    Connecting(Socket),
    /// Connected (dialled or accepted).
    Stream(TcpStream),
    /// Bound and listening.
    Listener(TcpListener),
}

/// A TCP error, with the kind embedded-nal asks for.
#[derive(Debug)]
struct TcpError(io::Error);

impl embedded_nal::TcpError for TcpError {
    fn kind(&self) -> TcpErrorKind {
        match self.0.kind() {
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted => TcpErrorKind::PipeClosed,
            _ => TcpErrorKind::Other,
        }
    }
}

fn nb_tcp(e: io::Error) -> nb::Error<TcpError> {
    match e.kind() {
        io::ErrorKind::WouldBlock => nb::Error::WouldBlock,
        _ => nb::Error::Other(TcpError(e)),
    }
}

fn out_of_order() -> TcpError {
    TcpError(io::Error::new(
        io::ErrorKind::NotConnected,
        "TCP socket in the wrong state",
    ))
}

/// EINPROGRESS: a non-blocking connect has started.
const EINPROGRESS: i32 = 115;

impl TcpClientStack for TestStack {
    type TcpSocket = TcpSocket;
    type Error = TcpError;

    fn socket(&mut self) -> Result<TcpSocket, TcpError> {
        Ok(TcpSocket::New)
    }

    fn connect(&mut self, socket: &mut TcpSocket, remote: SocketAddr) -> nb::Result<(), TcpError> {
        match socket {
            TcpSocket::New => {
                let s = Socket::new(
                    Domain::for_address(remote),
                    Type::STREAM,
                    Some(Protocol::TCP),
                )
                .map_err(TcpError)?;
                s.set_nonblocking(true).map_err(TcpError)?;
                s.set_tcp_nodelay(true).map_err(TcpError)?;
                match s.connect(&remote.into()) {
                    Ok(()) => {
                        *socket = TcpSocket::Stream(s.into());
                        Ok(())
                    }
                    Err(e)
                        if e.raw_os_error() == Some(EINPROGRESS)
                            || e.kind() == io::ErrorKind::WouldBlock =>
                    {
                        *socket = TcpSocket::Connecting(s);
                        Err(nb::Error::WouldBlock)
                    }
                    Err(e) => Err(nb::Error::Other(TcpError(e))),
                }
            }
            TcpSocket::Connecting(s) => {
                if let Some(e) = s.take_error().map_err(TcpError)? {
                    return Err(nb::Error::Other(TcpError(e)));
                }
                match s.peer_addr() {
                    Ok(_) => {
                        let TcpSocket::Connecting(s) = std::mem::replace(socket, TcpSocket::New)
                        else {
                            return Err(nb::Error::Other(out_of_order()));
                        };
                        *socket = TcpSocket::Stream(s.into());
                        Ok(())
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(nb::Error::WouldBlock),
                    Err(e) => Err(nb::Error::Other(TcpError(e))),
                }
            }
            TcpSocket::Stream(_) => Ok(()),
            TcpSocket::Listener(_) => Err(nb::Error::Other(out_of_order())),
        }
    }

    fn send(&mut self, socket: &mut TcpSocket, buffer: &[u8]) -> nb::Result<usize, TcpError> {
        match socket {
            TcpSocket::Stream(s) => s.write(buffer).map_err(nb_tcp),
            TcpSocket::Connecting(_) => Err(nb::Error::WouldBlock),
            _ => Err(nb::Error::Other(out_of_order())),
        }
    }

    fn receive(
        &mut self,
        socket: &mut TcpSocket,
        buffer: &mut [u8],
    ) -> nb::Result<usize, TcpError> {
        match socket {
            TcpSocket::Stream(s) => s.read(buffer).map_err(nb_tcp),
            TcpSocket::Connecting(_) => Err(nb::Error::WouldBlock),
            _ => Err(nb::Error::Other(out_of_order())),
        }
    }

    fn close(&mut self, _socket: TcpSocket) -> Result<(), TcpError> {
        Ok(()) // dropping the socket closes it
    }
}

impl TcpFullStack for TestStack {
    fn bind(&mut self, socket: &mut TcpSocket, local_port: u16) -> Result<(), TcpError> {
        // std sets SO_REUSEADDR on listeners, so a restarted node can bind again at once
        let l = TcpListener::bind((Ipv4Addr::UNSPECIFIED, local_port)).map_err(TcpError)?;
        l.set_nonblocking(true).map_err(TcpError)?;
        *socket = TcpSocket::Listener(l);
        Ok(())
    }

    fn listen(&mut self, socket: &mut TcpSocket) -> Result<(), TcpError> {
        match socket {
            TcpSocket::Listener(_) => Ok(()), // std listens when it binds
            _ => Err(out_of_order()),
        }
    }

    fn accept(&mut self, socket: &mut TcpSocket) -> nb::Result<(TcpSocket, SocketAddr), TcpError> {
        let TcpSocket::Listener(l) = socket else {
            return Err(nb::Error::Other(out_of_order()));
        };
        let (stream, peer) = l.accept().map_err(nb_tcp)?;
        // accept(2) does not pass O_NONBLOCK on to the new socket
        stream.set_nonblocking(true).map_err(TcpError)?;
        stream.set_nodelay(true).map_err(TcpError)?;
        Ok((TcpSocket::Stream(stream), peer))
    }
}

const SLOTS: usize = 8;
type RobotNode = Node<SLOTS, 1024, 16>;

fn arg_error(msg: &str) -> ! {
    eprintln!("enal-node: {msg}");
    std::process::exit(2);
}

fn main() {
    let args = RobotArgs::from_env("enal-node", &["--prefix"]);
    let prefix: u8 = args
        .option("--prefix")
        .map_or(Some(24), |p| p.parse().ok())
        .unwrap_or_else(|| arg_error("bad --prefix"));
    let (ip, seconds) = (args.ip, args.seconds);

    let start = StdInstant::now();
    let clock = || Instant::from_millis(start.elapsed().as_millis() as u64);
    let mut stack = TestStack;
    let config = Config {
        // its own port for query answers, so two nodes on a host do not share one
        query_port: 40000 + (std::process::id() % 20000) as u16,
        loopback: true, // std has a loopback interface
        ..Config::default()
    };
    let mut node: Box<RobotNode> = Box::new(Node::new(beacon::Config::default()));
    let mut sockets: Sockets<TestStack, SLOTS> = Sockets::new(&mut stack, &node, config)
        .unwrap_or_else(|e| arg_error(&format!("sockets: {e}")));
    let now = clock();
    node.set_interface(ip, prefix, now);
    node.serve("robot", 5555, 3, now).expect("serve robot");
    let news = node
        .publish_on("robot/news", 5556, 2, now)
        .expect("publish robot/news");
    let mut robot = Robot::default();
    for (name, json) in args.asks {
        let id = node.requester(name.as_str(), now).expect("requester");
        robot.add_client(id, &name, Some(json));
    }
    for (name, prefix) in &args.watches {
        let id = node
            .subscriber(name.as_str(), prefix.as_bytes(), now)
            .expect("subscriber");
        robot.add_client(id, name, None);
    }
    println!("READY {ip}");

    let end = start + StdDuration::from_secs(seconds);
    let mut next_news = clock();
    while StdInstant::now() < end {
        let now = clock();
        sockets.poll(&mut node, &mut stack, now);
        if now >= next_news {
            robot.publish_distance(&mut node, news);
            next_news = now + Duration::from_millis(300);
        }
        robot.handle_events(&mut node);
        let now = clock();
        let mut at = sockets.poll_at(&node, now);
        if next_news > now {
            at = at.min(next_news);
        }
        let wait = at.as_millis().saturating_sub(now.as_millis());
        std::thread::sleep(StdDuration::from_millis(wait.min(50)));
    }
    sockets.close_all(&mut stack);
    println!("DONE");
}
