//! Running the Python networkzero 1.0b1 peer (the venv made by `tests/run.sh`) inside a
//! [`Host`].
//!
//! Snippets get [`PRELUDE`] prepended and run unbuffered (`python -u -c CODE`), so
//! their `print`s reach [`ChildGuard::expect_line`] at once. Call
//! [`crate::require_python`] (and [`crate::require_netns`]) first.
//!
//! Remember: a Python beacon thread dies on any datagram to UDP 9999 that is not a
//! valid advert (see PROTOCOL.md). Never send anything else to 9999 where it listens.
//!
//! ```no_run
//! # use nw0_tests::*; use std::time::Duration;
//! if !require_netns() { return; }
//! let Some(_) = require_python() else { return };
//! let lan = Lan::new(2);
//! let mut a = py::spawn(&lan.hosts[0], &py::advertiser("echo", None, None, 30.0));
//! let line = a.expect_line(|l| l.starts_with("ADDRESS "), Duration::from_secs(10)).unwrap();
//! ```

use std::path::Path;
use std::process::Command;

use crate::{ChildGuard, Host};

/// Python code run before every snippet: makes networkzero 1.0b1 work on Python ≥ 3.13
/// (it calls the removed `Logger.warn`) and imports `networkzero as nw0`, `sys`,
/// `time`, `json`.
pub const PRELUDE: &str = "\
import logging, sys, time, json
if not hasattr(logging.Logger, 'warn'):
    logging.Logger.warn = logging.Logger.warning
import networkzero as nw0
";

/// pyzmq with CURVE keys from a class passphrase, derived by the recipe in
/// `core/src/kdf.rs` (HKDF-SHA256 with Python's `hmac`, public keys with libzmq's
/// `zmq.curve_public`). `server(sock, p)` makes a CURVE server
/// whose ZAP handler admits only the class client key; `client(sock, p)` a client of
/// the class server.
pub const CURVE: &str = r#"
import hmac, hashlib, zmq
from zmq.utils import z85
from zmq.auth.thread import ThreadAuthenticator
ctx = zmq.Context()
def kdf(p, label):
    prk = hmac.new(b"networkzero class passphrase v1", p.encode(), hashlib.sha256).digest()
    return hmac.new(prk, label + b"\x01", hashlib.sha256).digest()
def keys(p):
    ss = z85.encode(kdf(p, b"curve server"))
    cs = z85.encode(kdf(p, b"curve client"))
    return ss, zmq.curve_public(ss), cs, zmq.curve_public(cs)
class Only:
    def __init__(self, key): self.key = key
    def callback(self, domain, key): return key == self.key
auth = None
def server(sock, p):
    global auth
    ss, sp, cs, cp = keys(p)
    if auth is None:
        auth = ThreadAuthenticator(ctx)
        auth.start()
    auth.configure_curve_callback('*', Only(cp))
    sock.curve_server = True
    sock.curve_secretkey = ss
def client(sock, p):
    ss, sp, cs, cp = keys(p)
    sock.curve_serverkey = sp
    sock.curve_publickey = cp
    sock.curve_secretkey = cs
def sock(kind):
    s = ctx.socket(kind)
    s.linger = 0
    return s
"#;

/// A `Command` running `python -u -c PRELUDE+code` with the venv python inside `host`.
/// Panics if there is no venv python: call [`crate::require_python`] first.
pub fn python_script(host: &Host, code: &str) -> Command {
    let py = crate::python().unwrap_or_else(|| {
        panic!("py::python_script: no Python venv with networkzero (call require_python() first)")
    });
    python_script_with(&py, host, code)
}

/// [`python_script`] with an explicit interpreter.
pub fn python_script_with(python: &Path, host: &Host, code: &str) -> Command {
    script_args(host.command(python), code)
}

/// Like [`python_script_with`], but in the calling process's own network namespace
/// (no [`Host`]): for a test that itself runs inside `/work/shared/sealed` or
/// `tests/run.sh` and talks to Python over its loopback.
pub fn local_script(python: &Path, code: &str) -> Command {
    script_args(Command::new(python), code)
}

/// `cmd` (a python interpreter) made to run `PRELUDE+code` unbuffered.
fn script_args(mut cmd: Command, code: &str) -> Command {
    cmd.arg("-u")
        .arg("-c")
        .arg(format!("{PRELUDE}{code}"))
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    cmd
}

/// Spawns [`python_script`] guarded (killed on drop), stdout lines readable with
/// [`ChildGuard::expect_line`]. Panics if it cannot be spawned.
pub fn spawn(host: &Host, code: &str) -> ChildGuard {
    ChildGuard::spawn(&mut python_script(host, code))
        .unwrap_or_else(|e| panic!("cannot spawn python in {}: {e}", host.name))
}

/// `s` as a Python string literal (double-quoted, escaped; non-ASCII kept as is).
pub fn str_lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A snippet that advertises `name` (optionally at `address` "ip:port" and with
/// `ttl_s`), prints `ADDRESS <address>` (or `ADDRESS None` on failure), then stays
/// alive for `lifetime_s` seconds (so its beacon keeps broadcasting) and exits.
pub fn advertiser(
    name: &str,
    address: Option<&str>,
    ttl_s: Option<u32>,
    lifetime_s: f64,
) -> String {
    let address = address.map(str_lit).unwrap_or_else(|| "None".into());
    let ttl = ttl_s.map(|t| format!(", ttl_s={t}")).unwrap_or_default();
    format!(
        "addr = nw0.advertise({}, {address}{ttl})\nprint('ADDRESS', addr, flush=True)\ntime.sleep({lifetime_s})\n",
        str_lit(name)
    )
}

/// A snippet that calls `nw0.discover(name, wait_s)` and prints `FOUND <address>` or
/// `FOUND None`, then exits.
pub fn discoverer(name: &str, wait_s: f64) -> String {
    format!(
        "addr = nw0.discover({}, {wait_s})\nprint('FOUND', addr, flush=True)\n",
        str_lit(name)
    )
}
