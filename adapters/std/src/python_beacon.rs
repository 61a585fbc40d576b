//! Living with Python networkzero on the same computer.
//!
//! A Python networkzero process hosts one beacon per computer: the first one
//! binds UDP 9999 *without* SO_REUSEADDR and serves an RPC on
//! tcp://127.0.0.1:9998 (ZeroMQ REQ/REP, a JSON array `[action, args…]` in,
//! a JSON value out) through which later Python processes advertise and
//! discover. Two cases follow:
//!
//! - **We came first.** We share 9999, so a Python process cannot bind it
//!   and calls the RPC instead: one of our processes must serve it. Only one
//!   can own the port: every other one holds a TCP connection to the owner
//!   open, and when that connection ends (the owner exited) tries to take
//!   the port over.
//! - **Python came first.** We cannot bind 9999, so we do not hear adverts
//!   sent there. We still advertise (our adverts reach the Python beacon on
//!   loopback like everyone else's), networkzero programs still answer our
//!   queries on 9997, and for Python's names we ask its beacon over the RPC.
//!
//! The RPC speaks ZMTP, so this module sits above both [`crate::discovery`]
//! (what it answers with) and [`crate::transport`] (how); the runtime starts
//! the server thread and hands discovery the lookups.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use networkzero_core::beacon::Ttl;
use networkzero_core::Duration as CoreDuration;
use serde_json::{json, Value};

use crate::address::Address;
use crate::discovery::Discovery;
use crate::transport::{Deadline, Role, Running, Socket, Transport, TransportSocket};
use crate::wait::Wait;

/// Where Python's beacon RPC listens (tcp://127.0.0.1:9998).
const ENDPOINT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9998);

/// Largest RPC request taken.
const MAX_REQUEST: usize = 64 * 1024;

/// Starts the RPC server thread (it waits its turn for the port).
pub(crate) fn serve_in_background(
    discovery: std::sync::Arc<Discovery>,
    transport: std::sync::Arc<Running>,
) -> Option<thread::JoinHandle<()>> {
    let spawned = thread::Builder::new()
        .name("networkzero-python-rpc".into())
        .spawn(move || serve(&discovery, &transport));
    match spawned {
        Ok(thread) => Some(thread),
        Err(e) => {
            warn!("cannot serve Python networkzero's beacon RPC: {e}");
            None
        }
    }
}

/// Serves the RPC while the transport runs: takes the port, or waits for
/// its owner to go ([`wait_for_owner_to_go`]) and tries again.
fn serve(discovery: &Discovery, transport: &Running) {
    let address = Address::from(ENDPOINT);
    let mut refused = 0;
    // Each pass serves until the transport stops, or waits for an event
    // (the owner's connection ending); a port that is taken but refuses
    // connections twice in a row (not an RPC server) ends it.
    while transport.is_running() && refused < 2 {
        match Socket::open(
            transport,
            Role::Reply,
            ENDPOINT.into(),
            MAX_REQUEST,
            address,
            None,
        ) {
            Ok(socket) => {
                refused = 0;
                serve_on(socket, discovery, address);
            }
            Err(_) if wait_for_owner_to_go() => refused = 0,
            // Perhaps the owner went just now: try the port once more.
            Err(_) => refused += 1,
        }
    }
    if refused >= 2 {
        debug!("tcp://{ENDPOINT} is held by a program that does not serve the RPC");
    }
}

/// Answers every request until the socket fails (the transport shut down).
fn serve_on(mut socket: Socket, discovery: &Discovery, address: Address) {
    info!("serving Python networkzero's beacon RPC on tcp://{ENDPOINT}");
    loop {
        let request = match socket.receive(&mut Deadline::new(Wait::Forever), address) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                debug!("beacon RPC: {e}");
                return;
            }
        };
        let reply = answer(discovery, request.first());
        debug!(
            "beacon RPC {} -> {reply}",
            String::from_utf8_lossy(request.first())
        );
        let bytes = serde_json::to_vec(&reply).unwrap_or_else(|_| b"null".to_vec());
        if let Err(e) = socket.reply(request.from, bytes, address) {
            debug!("beacon RPC reply: {e}");
        }
    }
}

/// Blocks until the program serving the RPC has gone: holds a TCP
/// connection to it until the connection ends (the owner exited, or its
/// handshake timeout closed this silent peer: then the caller finds the
/// port still taken and comes back). False if nothing accepts connections
/// there, so no owner will ever go.
fn wait_for_owner_to_go() -> bool {
    let Ok(mut owner) = TcpStream::connect(ENDPOINT) else {
        return false;
    };
    let mut buf = [0u8; 256];
    // Each read takes bytes the owner sent (its greeting) or ends.
    while matches!(owner.read(&mut buf), Ok(n) if n > 0) {}
    true
}

/// A request to the beacon RPC that we act on.
#[derive(Debug, PartialEq)]
enum Request {
    Advertise {
        name: String,
        address: String,
        fail_if_exists: bool,
        ttl: Ttl,
    },
    Unadvertise(String),
    Discover(String, Duration),
    DiscoverAll,
    /// Stop broadcasting the names advertised through the RPC.
    Pause,
    /// Broadcast them again.
    Resume,
    /// Forget every name heard and every name advertised through the RPC.
    Reset,
}

/// The longest `ttl_s` taken from a Python caller: a year (a larger one
/// would make the advert longer than a Python beacon can read).
const MAX_TTL_S: f64 = 365.0 * 24.0 * 3600.0;

impl Request {
    /// `[action, args…]`; `None` for anything malformed, an unknown action,
    /// and `stop`: a Python program must not stop the discovery every
    /// networkzero program here relies on. Each gets a `null` reply.
    fn parse(request: &[u8]) -> Option<Request> {
        let Ok(Value::Array(parts)) = serde_json::from_slice::<Value>(request) else {
            debug!(
                "beacon RPC: not a JSON array: {}",
                String::from_utf8_lossy(request)
            );
            return None;
        };
        let text = |i: usize| parts.get(i).and_then(Value::as_str);
        let name = text(1).map(str::to_string);
        Some(match text(0)? {
            "advertise" => Request::Advertise {
                name: name?,
                address: text(2).unwrap_or("").to_string(),
                fail_if_exists: parts.get(3).and_then(Value::as_bool).unwrap_or(false),
                // Python always passes ttl_s: seconds, or None for ever.
                ttl: match parts.get(4) {
                    None => Ttl::Default,
                    Some(Value::Null) => Ttl::Forever,
                    Some(v) => {
                        let secs = v.as_f64().unwrap_or(0.0).clamp(0.0, MAX_TTL_S);
                        Ttl::For(CoreDuration::from_millis((secs * 1000.0) as u64))
                    }
                },
            },
            "unadvertise" => Request::Unadvertise(name?),
            "discover" => {
                let secs = parts.get(2).and_then(Value::as_f64).unwrap_or(0.0);
                // At most 5 s; NaN and negative waits are none.
                let wait = Duration::from_millis((secs.clamp(0.0, 5.0) * 1000.0) as u64);
                Request::Discover(name?, wait)
            }
            "discover_all" => Request::DiscoverAll,
            "pause" => Request::Pause,
            "resume" => Request::Resume,
            "reset" => Request::Reset,
            _ => return None,
        })
    }
}

/// Does what a Python beacon would for one request. Anything malformed gets
/// `null` (a Python beacon thread dies instead).
fn answer(discovery: &Discovery, request: &[u8]) -> Value {
    match Request::parse(request) {
        None => Value::Null,
        Some(Request::Advertise {
            name,
            address,
            fail_if_exists,
            ttl,
        }) => {
            if fail_if_exists && discovery.is_advertised(&name) {
                warn!("a Python program asked to advertise '{name}', which is already advertised here");
                return Value::Null;
            }
            match crate::address::address(&address)
                .and_then(|a| discovery.advertise_for_python(&name, a, ttl))
            {
                Ok(a) => Value::String(a.to_string()),
                Err(e) => {
                    warn!("a Python program asked to advertise '{name}': {e}");
                    Value::Null
                }
            }
        }
        Some(Request::Unadvertise(name)) => {
            discovery.unadvertise(&name);
            Value::Null
        }
        Some(Request::Discover(name, wait)) => discovery
            .find_locally(&name, wait)
            .map_or(Value::Null, |a| Value::String(a.to_string())),
        Some(Request::DiscoverAll) => discovery
            .known()
            .into_iter()
            .map(|(n, a)| json!([n, a.to_string()]))
            .collect(),
        Some(Request::Pause) => {
            discovery.pause_python(true);
            Value::Null
        }
        Some(Request::Resume) => {
            discovery.pause_python(false);
            Value::Null
        }
        Some(Request::Reset) => {
            discovery.reset_python();
            Value::Null
        }
    }
}

/// Asks the Python beacon on this computer, on a fresh socket, waiting up
/// to `wait`; `None` if it does not answer.
fn ask(transport: &Running, request: Value, wait: Duration) -> Option<Value> {
    ask_at(transport, ENDPOINT, request, wait)
}

/// [`ask`] of a beacon RPC at `endpoint` (a test's, on a port of its own).
fn ask_at(
    transport: &Running,
    endpoint: SocketAddr,
    request: Value,
    wait: Duration,
) -> Option<Value> {
    let request = serde_json::to_vec(&request).ok()?;
    let address = Address::from(endpoint);
    let mut socket = Socket::open(
        transport,
        Role::Request,
        endpoint.into(),
        1024 * 1024,
        address,
        None,
    )
    .ok()?;
    let mut deadline = Deadline::new(Wait::from(wait));
    if !socket.request(request, &mut deadline, address).ok()? {
        return None;
    }
    let reply = socket.receive(&mut deadline, address).ok()??;
    serde_json::from_slice(reply.first()).ok()
}

/// Asks the Python beacon for `name`, for up to `wait`.
pub(crate) fn discover(transport: &Running, name: &str, wait: Duration) -> Option<Address> {
    let started = Instant::now();
    let secs = wait.as_secs_f64().min(0.5);
    let reply = ask(
        transport,
        json!(["discover", name, secs]),
        wait + Duration::from_secs(1),
    )?;
    debug!(
        "Python beacon discover '{name}' -> {reply} after {:?}",
        started.elapsed()
    );
    reply.as_str()?.parse().ok()
}

/// Everything the Python beacon knows.
pub(crate) fn discover_all(transport: &Running) -> Vec<(String, Address)> {
    let Some(Value::Array(all)) = ask(transport, json!(["discover_all"]), Duration::from_secs(2))
    else {
        return Vec::new();
    };
    all.iter()
        .filter_map(|pair| {
            let name = pair.get(0)?.as_str()?;
            let address = pair.get(1)?.as_str()?.parse().ok()?;
            Some((name.to_string(), address))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_requests_get_null() {
        for bad in [
            &b""[..],
            b"not json",
            b"{}",
            b"[]",
            b"[1, 2]",
            b"[\"advertise\"]",
            b"[\"stop\"]",
        ] {
            assert_eq!(
                Request::parse(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn advertise_takes_python_s_ttl() {
        let parse = |ttl: &str| match Request::parse(
            format!("[\"advertise\", \"x\", null, false{ttl}]").as_bytes(),
        ) {
            Some(Request::Advertise { ttl, .. }) => ttl,
            other => panic!("{other:?}"),
        };
        let secs = |ms| Ttl::For(CoreDuration::from_millis(ms));
        assert_eq!(parse(", 20"), secs(20_000));
        assert_eq!(parse(", 2.5"), secs(2_500));
        assert_eq!(parse(", null"), Ttl::Forever);
        assert_eq!(parse(""), Ttl::Default);
        assert_eq!(parse(", -4"), secs(0));
        assert_eq!(parse(", 1e300"), secs(365 * 24 * 3600 * 1000));
        for action in ["pause", "resume", "reset"] {
            assert!(Request::parse(format!("[\"{action}\"]").as_bytes()).is_some());
        }
        assert_eq!(
            Request::parse(b"[\"unadvertise\", \"x\"]"),
            Some(Request::Unadvertise("x".into()))
        );
        assert_eq!(
            Request::parse(b"[\"fly\", 1]"),
            None,
            "unknown: a null reply"
        );
    }

    /// The RPC's port, 127.0.0.1:9998 (so one test, in steps: opens sockets,
    /// run inside /work/shared/sealed). Held by a program that does not
    /// listen there, no owner will ever go: `serve` tries the port twice and
    /// returns, where retrying would spin for the program's life. Then
    /// `wait_for_owner_to_go` is false at once where nothing listens, and
    /// true once the owner's connection ends. Last, `ask` takes a long
    /// answer from a beacon (on another port).
    #[test]
    fn a_server_waits_for_an_owner_that_listens_and_gives_up_on_one_that_does_not() {
        use std::io::Write;
        let squatter = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .expect("a socket");
        squatter
            .bind(&ENDPOINT.into())
            .expect("9998 is free in this namespace");
        let (discovery, _thread) = Discovery::start().expect("discovery");
        let transport = std::sync::Arc::new(Running::start().expect("a transport"));
        let (done, gave_up) = std::sync::mpsc::channel();
        let serving = (discovery, std::sync::Arc::clone(&transport));
        thread::spawn(move || {
            serve(&serving.0, &serving.1);
            let _ = done.send(());
        });
        // Bounded, so that a serve that retries fails the test, not hangs it.
        assert!(
            gave_up.recv_timeout(Duration::from_secs(60)).is_ok(),
            "serve gives up on a port that no RPC server holds"
        );
        drop(squatter);

        assert!(
            !wait_for_owner_to_go(),
            "nothing listens: nobody to wait for"
        );
        let owner = std::net::TcpListener::bind(ENDPOINT).expect("9998 is free again");
        let leaving = thread::spawn(move || {
            let (mut connection, _) = owner.accept().expect("the waiter connects");
            connection.write_all(b"a greeting").expect("sent");
            // Reset, not closed: a closed connection would keep 9998 in
            // TIME_WAIT for a minute, and the next run's squatter (which
            // binds without SO_REUSEADDR) could not bind it.
            socket2::SockRef::from(&connection)
                .set_linger(Some(Duration::ZERO))
                .expect("no linger");
        });
        assert!(wait_for_owner_to_go(), "the owner's connection ended");
        leaving.join().expect("the owner's thread");

        // A Python beacon's answer longer than a few names (`discover_all`
        // on a busy computer): `ask` takes it whole. (On a port of its own,
        // for the same reason.)
        let long = Value::String("x".repeat(4000));
        let at = SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            crate::address::free_port().expect("a free port"),
        ));
        let address = Address::from(at);
        let mut beacon = Socket::open(
            &transport,
            Role::Reply,
            at.into(),
            MAX_REQUEST,
            address,
            None,
        )
        .expect("a beacon on a port of its own");
        let answer = long.clone();
        let answering = thread::spawn(move || {
            let request = beacon
                .receive(&mut Deadline::new(Wait::Forever), address)
                .expect("a request")
                .expect("no deadline");
            let bytes = serde_json::to_vec(&answer).expect("JSON");
            beacon.reply(request.from, bytes, address).expect("replied");
            beacon
        });
        assert_eq!(
            ask_at(
                &transport,
                at,
                json!(["discover_all"]),
                Duration::from_secs(10)
            ),
            Some(long)
        );
        drop(answering.join().expect("the beacon's thread"));
    }

    #[test]
    fn discover_waits_at_most_5_s() {
        for (request, wait) in [
            (&b"[\"discover\", \"x\", 1e300]"[..], 5000),
            (b"[\"discover\", \"x\", -3]", 0),
            (b"[\"discover\", \"x\", 0.25]", 250),
            (b"[\"discover\", \"x\"]", 0),
        ] {
            assert_eq!(
                Request::parse(request),
                Some(Request::Discover("x".into(), Duration::from_millis(wait)))
            );
        }
    }
}
