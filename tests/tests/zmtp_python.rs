//! The core's sans-IO ZMTP engine against the Python networkzero 1.0b1 peer
//! (pyzmq/libzmq underneath) over loopback TCP: `send_message_to` → our REP,
//! our REQ → `wait_for_message_from`/`send_reply_to`, `send_news_to` → our SUB.
//!
//! Needs the venv `target/py-venv` (`python3 -m venv target/py-venv &&
//! target/py-venv/bin/pip install networkzero==1.0b1 pyzmq`); without it the
//! tests print `SKIP: …` (or panic under `CI=true`). Run inside a private
//! network namespace: `/work/shared/sealed cargo test -p nw0-tests --test zmtp_python`.
//! Addresses are explicit `127.0.0.1:port` (Python's `address()` wants a default route).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration as StdDuration;

use networkzero_core::zmtp::{Config, Role, SocketType};
use nw0_tests::zmtp_driver::{connect_when_bound, free_port, listener, Driver, WAIT};
use nw0_tests::{py, ChildGuard};

// ---- Python peer ------------------------------------------------------------

/// The venv python, or `None` after printing SKIP (panics under CI=true).
fn setup() -> Option<PathBuf> {
    if !nw0_tests::require_netns() {
        return None;
    }
    nw0_tests::require_python()
}

fn python(py: &Path, code: &str) -> ChildGuard {
    ChildGuard::spawn(&mut py::local_script(py, code)).expect("spawn python")
}

/// Runs the Python snippet `code` with `addr` set to `'127.0.0.1:PORT'`, a port that
/// was free a moment ago, for Python to bind; connects a `role` driver to it, retrying
/// until Python has bound (bounded by WAIT).
fn python_bound_peer(py: &Path, role: Role, code: &str) -> (ChildGuard, Driver) {
    let port = free_port();
    let mut child = python(py, &format!("addr = '127.0.0.1:{port}'\n{code}"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let sock = connect_when_bound(&mut child, addr);
    (
        child,
        Driver::new(sock, Config::new(role), 64 * 1024, 64 * 1024),
    )
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
    let (mut child, mut d) = python_bound_peer(
        &py,
        Role::Req,
        "m = nw0.wait_for_message_from(addr, wait_for_s=10)\n\
         print('GOT', json.dumps(m))\n\
         nw0.send_reply_to(addr, {'echo': m, 'ok': True})\n\
         time.sleep(1)\n",
    );
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
    let (child, mut d) = python_bound_peer(
        &py,
        Role::Sub,
        "for i in range(200):\n\
         \x20   nw0.send_news_to(addr, 'other', i)\n\
         \x20   nw0.send_news_to(addr, 'data.temp', {'i': i, 'topic': 'data.temp'})\n\
         \x20   time.sleep(0.05)\n",
    );
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
