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
//!   can own the port, so every process keeps trying to bind it every 2 s;
//!   when the owner exits another takes over.
//! - **Python came first.** We cannot bind 9999, so we do not hear adverts
//!   sent there. We still advertise (our adverts reach the Python beacon on
//!   loopback like everyone else's), networkzero programs still answer our
//!   queries on 9997, and for Python's names we ask its beacon over the RPC.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, warn};
use serde_json::{json, Value};

use crate::address::Address;
use crate::discovery;
use crate::sockets as transport;

/// Where Python's beacon RPC listens (tcp://127.0.0.1:9998).
const ENDPOINT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9998);

/// How often a process that does not own the RPC port tries to take it over.
const ELECTION_RETRY: Duration = Duration::from_secs(2);

/// Starts the RPC server thread (it waits its turn for the port).
pub(crate) fn serve_in_background() {
    let spawned = thread::Builder::new()
        .name("networkzero-python-rpc".into())
        .spawn(serve);
    if let Err(e) = spawned {
        warn!("cannot serve Python networkzero's beacon RPC: {e}");
    }
}

fn serve() {
    transport::serve_requests(
        ENDPOINT,
        "Python networkzero's beacon RPC",
        64 * 1024,
        ELECTION_RETRY,
        |request| {
            let reply = answer(request);
            debug!("beacon RPC {} -> {reply}", String::from_utf8_lossy(request));
            serde_json::to_vec(&reply).unwrap_or_else(|_| b"null".to_vec())
        },
    );
}

/// Does what a Python beacon would for one request. Anything malformed gets
/// `null` (a Python beacon thread dies instead).
pub(crate) fn answer(request: &[u8]) -> Value {
    let Ok(Value::Array(parts)) = serde_json::from_slice::<Value>(request) else {
        debug!(
            "beacon RPC: not a JSON array: {}",
            String::from_utf8_lossy(request)
        );
        return Value::Null;
    };
    let text = |i: usize| parts.get(i).and_then(Value::as_str);
    let Some(action) = text(0) else {
        return Value::Null;
    };
    match (action, text(1)) {
        ("advertise", Some(name)) => {
            let address = text(2).unwrap_or("");
            let fail_if_exists = parts.get(3).and_then(Value::as_bool).unwrap_or(false);
            if fail_if_exists && discovery::is_advertised(name) {
                warn!("a Python program asked to advertise '{name}', which is already advertised here");
                return Value::Null;
            }
            match crate::address::address(address)
                .and_then(|a| discovery::advertise_exactly(name, a))
            {
                Ok(a) => Value::String(a.to_string()),
                Err(e) => {
                    warn!("a Python program asked to advertise '{name}': {e}");
                    Value::Null
                }
            }
        }
        ("unadvertise", Some(name)) => {
            let _ = discovery::unadvertise(name);
            Value::Null
        }
        ("discover", Some(name)) => {
            let wait = parts
                .get(2)
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
                .clamp(0.0, 5.0);
            discovery::find_locally(name, Duration::from_secs_f64(wait))
                .map_or(Value::Null, |a| Value::String(a.to_string()))
        }
        ("discover_all", _) => discovery::discover_all()
            .map(|all| {
                all.into_iter()
                    .map(|(n, a)| json!([n, a.to_string()]))
                    .collect()
            })
            .unwrap_or(Value::Null),
        // reset, pause, resume, stop: a Python program must not stop the
        // discovery every networkzero program here relies on.
        _ => Value::Null,
    }
}

/// Asks the Python beacon on this computer; `None` if it does not answer.
pub(crate) fn ask(request: Value, wait: Duration) -> Option<Value> {
    let request = serde_json::to_vec(&request).ok()?;
    let reply = transport::ask(ENDPOINT, request, 1024 * 1024, wait)?;
    serde_json::from_slice(&reply).ok()
}

/// Asks the Python beacon for `name`, for up to `wait`.
pub(crate) fn discover(name: &str, wait: Duration) -> Option<Address> {
    let started = Instant::now();
    let secs = wait.as_secs_f64().min(0.5);
    let reply = ask(
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
pub(crate) fn discover_all() -> Vec<(String, Address)> {
    let Some(Value::Array(all)) = ask(json!(["discover_all"]), Duration::from_secs(2)) else {
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
                answer(bad),
                Value::Null,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
