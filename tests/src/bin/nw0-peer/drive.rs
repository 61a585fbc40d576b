//! The test side of `nw0-peer`: spawning it in a [`Host`] and reading its lines.
//!
//! Not part of the binary (`src/bin/nw0-peer.rs`; cargo makes no binary of a directory
//! without `main.rs`): the integration tests include this file with
//! `#[path = "../src/bin/nw0-peer/drive.rs"] mod drive;` (it needs
//! `CARGO_BIN_EXE_nw0-peer`, which cargo sets only for integration tests).
#![allow(dead_code)] // each test file uses a different part

use std::io::Write;
use std::process::{ChildStdin, Stdio};
use std::time::{Duration, Instant};

use nw0_tests::{ChildGuard, Host};

/// The peer binary, built by cargo for the integration tests.
pub const PEER: &str = env!("CARGO_BIN_EXE_nw0-peer");

/// `s` seconds.
pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Spawns `nw0-peer ARGS…` inside `host`, guarded (SIGKILLed on drop).
pub fn spawn(host: &Host, args: &[&str]) -> ChildGuard {
    let mut cmd = host.command(PEER);
    cmd.args(args);
    ChildGuard::spawn(&mut cmd)
        .unwrap_or_else(|e| panic!("cannot spawn nw0-peer {args:?} in {}: {e}", host.name))
}

/// Splits `line` into its first word and the rest.
pub fn split(line: &str) -> (&str, &str) {
    match line.split_once(' ') {
        Some((kind, rest)) => (kind, rest),
        None => (line, ""),
    }
}

/// Waits for a line whose first word is one of `kinds` and returns (kind, rest).
/// Panics, showing the child's output, on timeout or end of output.
#[track_caller]
pub fn expect_any(child: &mut ChildGuard, kinds: &[&str], timeout: Duration) -> (String, String) {
    let line = child
        .expect_line(|l| kinds.contains(&split(l).0), timeout)
        .unwrap_or_else(|e| panic!("waiting for {kinds:?}: {e}"));
    let (kind, rest) = split(&line);
    (kind.to_string(), rest.to_string())
}

/// Waits for a line starting with the word `kind` and returns the rest of it.
#[track_caller]
pub fn expect(child: &mut ChildGuard, kind: &str, timeout: Duration) -> String {
    expect_any(child, &[kind], timeout).1
}

/// Waits for `ADDRESS <addr>` and returns the address.
#[track_caller]
pub fn address(child: &mut ChildGuard) -> String {
    expect(child, "ADDRESS", secs(10.0))
}

/// Runs `nw0-peer ARGS…` in `host` to its end (killed after `timeout`) and returns its
/// stdout lines and exit code (`None`: killed at the timeout), plus its stderr.
pub fn run(host: &Host, args: &[&str], timeout: Duration) -> (Vec<String>, Option<i32>, String) {
    let deadline = Instant::now() + timeout;
    let mut child = spawn(host, args);
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match child.next_line(left) {
            Ok(line) => lines.push(line),
            Err(_) => break, // end of output, or the timeout
        }
    }
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(200));
    let code = child
        .wait_timeout(left)
        .ok()
        .flatten()
        .and_then(|s| s.code());
    let stderr = child.stderr();
    (lines, code, stderr)
}

/// A `nw0-peer repl`: one process (one networkzero node) that runs a command per line.
pub struct Repl {
    /// The process.
    pub child: ChildGuard,
    stdin: Option<ChildStdin>,
    label: String,
}

impl Repl {
    /// Starts `nw0-peer repl` in `host`.
    pub fn start(host: &Host, label: &str) -> Repl {
        let mut cmd = host.command(PEER);
        cmd.arg("repl")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn nw0-peer repl in {}: {e}", host.name));
        let stdin = child.stdin.take();
        Repl {
            child: ChildGuard::new(child),
            stdin,
            label: format!("{label} (repl in {})", host.name),
        }
    }

    /// Runs one command line (words separated by tabs, or by spaces when there is no
    /// tab) and returns its output lines, up to its `DONE`.
    #[track_caller]
    pub fn run(&mut self, line: &str, timeout: Duration) -> Vec<String> {
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("{}: stdin already closed", self.label));
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| {
                panic!(
                    "{}: writing `{line}`: {e}\n{}",
                    self.label,
                    self.child.stderr()
                )
            });
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.child.next_line(left) {
                Ok(l) if l == "DONE" => return out,
                Ok(l) => out.push(l),
                Err(e) => panic!("{}: `{line}` did not finish: {e}", self.label),
            }
        }
    }

    /// Runs `line` and returns the rest of its first output line whose first word is
    /// one of `kinds`, as (kind, rest); panics if there is none.
    #[track_caller]
    pub fn run_expect(
        &mut self,
        line: &str,
        kinds: &[&str],
        timeout: Duration,
    ) -> (String, String) {
        let out = self.run(line, timeout);
        out.iter()
            .map(|l| split(l))
            .find(|(k, _)| kinds.contains(k))
            .map(|(k, r)| (k.to_string(), r.to_string()))
            .unwrap_or_else(|| {
                panic!(
                    "{}: `{line}` printed none of {kinds:?}: {out:?}\n{}",
                    self.label,
                    self.child.stderr()
                )
            })
    }

    /// `advertise NAME --for 0` (the name stays advertised while the repl lives);
    /// returns the address.
    #[track_caller]
    pub fn advertise(&mut self, name: &str) -> String {
        self.run_expect(
            &format!("advertise\t{name}\t--for\t0"),
            &["ADDRESS"],
            secs(10.0),
        )
        .1
    }

    /// `discover NAME WAIT`: `Some(address)` or `None`.
    #[track_caller]
    pub fn discover(&mut self, name: &str, wait_s: f64) -> Option<String> {
        let (kind, rest) = self.run_expect(
            &format!("discover\t{name}\t{wait_s}"),
            &["FOUND", "NOTFOUND"],
            secs(wait_s + 10.0),
        );
        (kind == "FOUND").then(|| split(&rest).0.to_string())
    }

    /// `discover_all`: the (name, address) pairs.
    #[track_caller]
    pub fn discover_all(&mut self) -> Vec<(String, String)> {
        let (_, json) = self.run_expect("discover_all", &["ALL"], secs(10.0));
        parse_pairs(&json)
    }

    /// Asks `discover_all` every 50 ms until `name` is gone from this node's table
    /// (or `limit` passes); how long that took.
    pub fn time_until_gone(&mut self, name: &str, limit: Duration) -> Option<Duration> {
        self.time_until_listed_is(name, false, limit)
    }

    /// Asks `discover_all` every 50 ms until `name` is listed (or `limit` passes); how
    /// long that took. Only the first listing of a process asks the network; the later
    /// ones list what came since: answers to that query, or adverts.
    pub fn time_until_listed(&mut self, name: &str, limit: Duration) -> Option<Duration> {
        self.time_until_listed_is(name, true, limit)
    }

    fn time_until_listed_is(
        &mut self,
        name: &str,
        listed: bool,
        limit: Duration,
    ) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.discover_all().iter().any(|(n, _)| n == name) == listed {
                return Some(start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// `discover_group GROUP`.
    #[track_caller]
    pub fn discover_group(&mut self, group: &str) -> Vec<(String, String)> {
        let (_, json) =
            self.run_expect(&format!("discover_group\t{group}"), &["GROUP"], secs(10.0));
        parse_pairs(&json)
    }

    /// Closes stdin: the repl finishes its commands and exits normally.
    pub fn close(&mut self) {
        self.stdin = None;
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.child.stderr()
    }

    /// Waits at most `timeout` for `needle` in stderr: [`ChildGuard::stderr_has`].
    pub fn stderr_has(&self, needle: &str, timeout: std::time::Duration) -> bool {
        self.child.stderr_has(needle, timeout)
    }
}

/// `[["name","addr"],…]` as pairs.
pub fn parse_pairs(json: &str) -> Vec<(String, String)> {
    let v: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"));
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {json}"))
        .iter()
        .map(|p| {
            let s = |i: usize| {
                p.get(i)
                    .and_then(|x| x.as_str())
                    .unwrap_or_else(|| panic!("bad pair {p} in {json}"))
                    .to_string()
            };
            (s(0), s(1))
        })
        .collect()
}

/// The IP part of `ip:port`.
pub fn ip_of(address: &str) -> &str {
    address.rsplit_once(':').map_or(address, |(ip, _)| ip)
}

/// The port part of `ip:port`.
pub fn port_of(address: &str) -> &str {
    address.rsplit_once(':').map_or("", |(_, port)| port)
}
