//! The class key on messages, commands and news (issue 17, items 3 and 4): with
//! `NW0_CLASS_KEY` set, every connection is CurveZMQ with the class's derived keys.
//! Keyed std programs talk to each other and to pyzmq CURVE peers holding the derived
//! keys, both directions; unkeyed programs, another class's programs and plain pyzmq
//! (NULL, what Python networkzero speaks) get nothing, and each side is told why.
//!
//! Real `nw0` and `nw0-peer` processes on the hosts of a simulated LAN. Runs on
//! whichever transport the workspace builds: `bash tests/run.sh -p nw0-tests --test
//! curve_messaging` (libzmq for unkeyed sockets, the core's engine for keyed ones),
//! and with `--features networkzero/pure-rust` (the core's engine for all).

#[path = "../src/bin/nw0-peer/drive.rs"]
mod drive;

use std::time::Duration;

use drive::{expect, secs, Repl, PEER};
use nw0_tests::*;

const KEY: &str = "correct horse battery staple";

const OTHER: &str = "tr0ub4dor&3";

/// How long a Python peer's script may take to print its next line: a guard
/// against a hang, not a timing claim. On this 2-core machine under load,
/// starting Python (imports, keys) alone took 14 s and one pyzmq CURVE
/// request and its reply 5 s (load average ~50: every step of the handshake
/// waits its turn for a core), so a tighter bound fails healthy runs.
const PY_LINE: f64 = 60.0;

/// `cmd` with `NW0_CLASS_KEY` set to `key` (or unset).
fn keyed(mut cmd: std::process::Command, key: Option<&str>) -> ChildGuard {
    match key {
        Some(k) => cmd.env("NW0_CLASS_KEY", k),
        None => cmd.env_remove("NW0_CLASS_KEY"),
    };
    ChildGuard::spawn(&mut cmd).expect("spawn")
}

/// `nw0 ARGS…` in `host` with the class key `key`.
fn nw0(host: &Host, key: Option<&str>, args: &[&str]) -> ChildGuard {
    keyed(nw0_command(host, args), key)
}

/// `nw0 ARGS…` run to its end (at most 20 s).
fn nw0_ran(host: &Host, key: Option<&str>, args: &[&str]) -> Ran {
    Ran::wait_for(nw0(host, key, args), Duration::from_secs(20))
}

/// `nw0-peer ARGS…` in `host` with the class key `key`.
fn peer(host: &Host, key: Option<&str>, args: &[&str]) -> ChildGuard {
    let mut cmd = host.command(PEER);
    cmd.args(args);
    keyed(cmd, key)
}

/// A keyed echo server (`nw0 advertise NAME --echo`) and its address.
fn echo(host: &Host, key: Option<&str>, name: &str) -> (ChildGuard, String) {
    let mut server = nw0(host, key, &["advertise", name, "--echo"]);
    let at = address_line(&mut server);
    (server, at)
}

/// A publisher of `"tick"` on topic `t` every 0.2 s, and its address.
fn publisher(host: &Host, key: Option<&str>, name: &str) -> (ChildGuard, String) {
    let mut p = nw0(
        host,
        key,
        &["publish", name, "t", "\"tick\"", "--every", "0.2"],
    );
    let at = address_line(&mut p);
    (p, at)
}

/// Waits (bounded) until `child`'s stderr contains `text`; panics otherwise.
#[track_caller]
fn warned(child: &ChildGuard, text: &str, what: &str) {
    for _ in 0..50 {
        if child.stderr().contains(text) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{what}: no warning {text:?} within 5 s; stderr:\n{}",
        child.stderr()
    );
}

#[test]
fn keyed_programs_send_command_and_publish() {
    if !require_netns() {
        return;
    }
    let lan = Lan::new(2);
    let [server, client] = &lan.hosts[..] else {
        unreachable!()
    };
    let (echo_server, robot_at) = echo(server, Some(KEY), "robot");
    let mut arm = peer(
        server,
        Some(KEY),
        &["advertise", "arm", "--serve", "commands", "--for", "30"],
    );
    expect(&mut arm, "ADDRESS", secs(10.0));
    let (news, _) = publisher(server, Some(KEY), "weather");

    nw0_ran(client, Some(KEY), &["send", "robot", "\"hi\""])
        .expect_code(0, "keyed send")
        .expect_stdout(&["\"hi\""], "keyed send");
    nw0_ran(client, Some(KEY), &["command", "arm", "forward"]).expect_code(0, "keyed command");
    assert_eq!(expect(&mut arm, "COMMAND", secs(5.0)), "\"forward\"");
    nw0_ran(
        client,
        Some(KEY),
        &["watch", "weather", "--count", "2", "--wait", "10"],
    )
    .expect_code(0, "keyed watch")
    .expect_stdout(&["t\t\"tick\"", "t\t\"tick\""], "keyed watch");

    for (who, child) in [("echo", &echo_server), ("arm", &arm), ("news", &news)] {
        assert!(
            !child.stderr().contains("class key"),
            "{who} warned about the key of a member of the class:\n{}",
            child.stderr()
        );
    }

    // set_class_key, in a program that already has a socket for the address:
    // nothing without the key, a reply with it.
    let mut program = Repl::start(client, "set_class_key");
    let send = format!("send\t{robot_at}\t\"again\"\t1");
    let (kind, _) = program.run_expect(&send, &["REPLY", "NOREPLY"], secs(10.0));
    assert_eq!(kind, "NOREPLY", "an unkeyed program got a reply");
    program.run(&format!("class-key\t{KEY}"), secs(5.0));
    // With the key: a new socket, its CURVE handshake (a debug build's crypto) and the
    // reply, which under load took longer than the unkeyed try's 1 s once; the send
    // ends as soon as the reply comes.
    let send = format!("send\t{robot_at}\t\"again\"\t10");
    let (kind, rest) = program.run_expect(&send, &["REPLY", "NOREPLY"], secs(20.0));
    assert_eq!(kind, "REPLY", "{}", program.stderr());
    assert!(rest.starts_with("\"again\""), "{rest}");
}

#[test]
fn outsiders_get_nothing_and_each_side_is_told_why() {
    let Some((lan, python)) = require_lan_maybe_python(4) else {
        return;
    };
    let [ours, nokey, other, py_host] = &lan.hosts[..] else {
        unreachable!()
    };
    let (robot, robot_at) = echo(ours, Some(KEY), "robot");
    let (news, news_at) = publisher(ours, Some(KEY), "weather");

    // No key: sending, reading news.
    let ran = nw0_ran(nokey, None, &["send", &robot_at, "\"hi\"", "--wait", "2"]);
    ran.expect_code(1, "send without the key")
        .expect_stdout::<&str>(&[], "send without the key");
    assert!(
        ran.stderr
            .contains(&format!("{robot_at} wants a class key")),
        "the unkeyed sender is told the server wants a key:\n{}",
        ran.stderr
    );
    warned(
        &robot,
        &format!("{} tried to send messages without the class key", nokey.ip),
        "the keyed server",
    );
    let ran = nw0_ran(
        nokey,
        None,
        &["watch", &news_at, "--count", "1", "--wait", "2"],
    );
    ran.expect_code(1, "watch without the key")
        .expect_stdout::<&str>(&[], "watch without the key");
    assert!(
        ran.stderr.contains(&format!("{news_at} wants a class key")),
        "the unkeyed subscriber is told the publisher wants a key:\n{}",
        ran.stderr
    );
    warned(
        &news,
        &format!("{} tried to read news without the class key", nokey.ip),
        "the keyed publisher",
    );

    // Another class's key.
    let ran = nw0_ran(
        other,
        Some(OTHER),
        &["send", &robot_at, "\"hi\"", "--wait", "2"],
    );
    ran.expect_code(1, "send with another key")
        .expect_stdout::<&str>(&[], "send with another key");
    assert!(
        ran.stderr
            .contains(&format!("{robot_at} refused this program's class key")),
        "the sender with another key is told:\n{}",
        ran.stderr
    );
    warned(
        &robot,
        &format!(
            "{} tried to send messages with another class's key",
            other.ip
        ),
        "the keyed server",
    );
    let ran = nw0_ran(
        other,
        Some(OTHER),
        &["watch", &news_at, "--count", "1", "--wait", "2"],
    );
    ran.expect_code(1, "watch with another key")
        .expect_stdout::<&str>(&[], "watch with another key");

    // A keyed program does not talk to an unkeyed server either. First the
    // control: an unkeyed client is served, and no one warns.
    let (plain, plain_at) = echo(nokey, None, "plain");
    nw0_ran(ours, None, &["send", &plain_at, "\"hi\""])
        .expect_code(0, "unkeyed send to an unkeyed server")
        .expect_stdout(&["\"hi\""], "unkeyed send to an unkeyed server");
    assert!(
        !plain.stderr().contains("class key"),
        "the unkeyed server warned about an unkeyed client:\n{}",
        plain.stderr()
    );
    let ran = nw0_ran(
        ours,
        Some(KEY),
        &["send", &plain_at, "\"hi\"", "--wait", "2"],
    );
    ran.expect_code(1, "keyed send to an unkeyed server")
        .expect_stdout::<&str>(&[], "keyed send to an unkeyed server");
    // libzmq (the default build's unkeyed sockets) may close before its greeting
    // says it has no key.
    assert!(
        ran.stderr.contains(&format!("{plain_at} has no class key"))
            || ran.stderr.contains(&format!(
                "{plain_at} refused this program's class key: it has another class's key, or none"
            )),
        "the keyed sender is told the server has no key:\n{}",
        ran.stderr
    );
    // The unkeyed server is told too: the core's engine names the peer; libzmq
    // (the default build's unkeyed sockets) does not say who it was, so it names
    // its own address, once.
    let tried = if networkzero::diagnostics::transport() == "pure-rust" {
        format!("{} tried to send messages with a class key", ours.ip)
    } else {
        format!("a program (connecting to {plain_at}) tried to send messages with a class key")
    };
    let tried = format!("{tried}, and this program has none: refused; set NW0_CLASS_KEY");
    warned(&plain, &tried, "the unkeyed server");
    nw0_ran(
        ours,
        Some(KEY),
        &["send", &plain_at, "\"again\"", "--wait", "1"],
    )
    .expect_code(1, "keyed send to an unkeyed server, again");
    assert_eq!(
        plain.stderr().matches(&tried).count(),
        1,
        "the unkeyed server warned more than once:\n{}",
        plain.stderr()
    );

    // Plain pyzmq (NULL, as Python networkzero speaks): no reply, no news.
    if python.is_some() {
        let mut p = py::spawn(
            py_host,
            &format!(
                r#"
import zmq
ctx = zmq.Context()
req = ctx.socket(zmq.REQ); req.linger = 0
req.connect("tcp://{robot_at}")
req.send(b'"hi"')
print("REPLY" if req.poll(2000) else "NOREPLY", flush=True)
sub = ctx.socket(zmq.SUB); sub.linger = 0
sub.setsockopt(zmq.SUBSCRIBE, b"")
sub.connect("tcp://{news_at}")
print("NEWS" if sub.poll(2000) else "NONEWS", flush=True)
"#
            ),
        );
        let said = |p: &mut ChildGuard| {
            p.next_line(secs(PY_LINE))
                .unwrap_or_else(|e| panic!("python: {e}\n{}", p.stderr()))
        };
        assert_eq!(said(&mut p), "NOREPLY", "plain pyzmq got a reply");
        assert_eq!(said(&mut p), "NONEWS", "plain pyzmq got news");
        warned(
            &robot,
            &format!(
                "{} tried to send messages without the class key",
                py_host.ip
            ),
            "the keyed server, of plain pyzmq",
        );
    }
    // Once per peer: the unkeyed sender retried every 100 ms, one warning.
    let once = format!("{} tried to send messages without the class key", nokey.ip);
    assert_eq!(
        robot.stderr().matches(&once).count(),
        1,
        "warned more than once per peer:\n{}",
        robot.stderr()
    );
}

/// pyzmq CURVE peers configured with the keys derived from the passphrase (by the
/// KDF's documented recipe, see `py::CURVE`) talk to keyed std programs, as client and
/// as server, REQ/REP and PUB/SUB.
#[test]
fn pyzmq_curve_peers_with_the_derived_keys_talk_both_ways() {
    if !require_netns() {
        return;
    }
    let Some(_) = require_python() else {
        return;
    };
    let lan = Lan::new(2);
    let [ours, theirs] = &lan.hosts[..] else {
        unreachable!()
    };
    // With its debug log, shown if pyzmq gets no reply: whether the
    // connection ended (and why) or the request simply had not come yet.
    let mut robot = keyed(
        {
            let mut cmd = nw0_command(ours, &["advertise", "robot", "--echo"]);
            cmd.env("NW0_LOG", "debug");
            cmd
        },
        Some(KEY),
    );
    let robot_at = address_line(&mut robot);
    let (_news, news_at) = publisher(ours, Some(KEY), "weather");
    let pass = py::str_lit(KEY);
    // pyzmq as the client of our REP and the subscriber of our PUB; then as a REP
    // and a PUB server for our keyed nw0.
    let mut p = py::spawn(
        theirs,
        &format!(
            r#"{curve}
def took(what, t0):
    sys.stderr.write("%s after %.3f s\n" % (what, time.time() - t0))
req = sock(zmq.REQ); client(req, {pass}); req.connect("tcp://{robot_at}")
t0 = time.time()
req.send(b'"from pyzmq"')
got = req.poll({wait})
took("REQ -> REP: " + ("a reply" if got else "no reply"), t0)
print("REPLY " + (req.recv().decode() if got else "none"), flush=True)
sub = sock(zmq.SUB); client(sub, {pass}); sub.setsockopt(zmq.SUBSCRIBE, b"t")
t0 = time.time()
sub.connect("tcp://{news_at}")
got = sub.poll({wait})
took("SUB: " + ("news" if got else "no news"), t0)
print("NEWS " + (" ".join(f.decode() for f in sub.recv_multipart()) if got else "none"), flush=True)
rep = sock(zmq.REP); server(rep, {pass}); rep.bind("tcp://0.0.0.0:7001")
pub = sock(zmq.PUB); server(pub, {pass}); pub.bind("tcp://0.0.0.0:7002")
print("SERVING", flush=True)
end = time.time() + {serve}
while time.time() < end:
    if rep.poll(100):
        got = rep.recv()
        rep.send(b'"pong"')
        print("ASKED " + got.decode(), flush=True)
    pub.send_multipart([b"py", b'"news from pyzmq"'])
"#,
            curve = py::CURVE,
            // Python's own waits end before the test's, so it says what it
            // missed; it serves until the test is done with it.
            wait = (PY_LINE * 1000.0 / 2.0) as u64,
            serve = PY_LINE * 2.0,
        ),
    );
    // Both sides' stderr: pyzmq's timings, our server's debug log.
    let sides = |p: &ChildGuard| {
        format!(
            "pyzmq:\n{}\nour keyed echo server:\n{}",
            p.stderr(),
            robot.stderr()
        )
    };
    let line = |p: &mut ChildGuard| {
        p.next_line(secs(PY_LINE))
            .unwrap_or_else(|e| panic!("pyzmq: {e}\n{}", sides(p)))
    };
    let reply = line(&mut p);
    assert_eq!(
        reply,
        "REPLY \"from pyzmq\"",
        "pyzmq CURVE REQ -> our keyed REP\n{}",
        sides(&p)
    );
    assert_eq!(
        line(&mut p),
        "NEWS t \"tick\"",
        "our keyed PUB -> pyzmq CURVE SUB"
    );
    assert_eq!(line(&mut p), "SERVING");
    let rep_at = format!("{}:7001", theirs.ip);
    let pub_at = format!("{}:7002", theirs.ip);
    // Our side's waits are hang guards too (the same handshakes, the other
    // way round).
    let wait = (PY_LINE / 2.0).to_string();
    let ran = |args: &[&str]| Ran::wait_for(nw0(ours, Some(KEY), args), secs(PY_LINE));
    ran(&["send", &rep_at, "\"ping\"", "--wait", &wait])
        .expect_code(0, "our keyed REQ -> pyzmq CURVE REP")
        .expect_stdout(&["\"pong\""], "our keyed REQ -> pyzmq CURVE REP");
    assert_eq!(line(&mut p), "ASKED \"ping\"");
    ran(&["watch", &pub_at, "--count", "1", "--wait", &wait])
        .expect_code(0, "pyzmq CURVE PUB -> our keyed SUB")
        .expect_stdout(
            &["py\t\"news from pyzmq\""],
            "pyzmq CURVE PUB -> our keyed SUB",
        );
}
