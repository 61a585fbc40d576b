//! Running the workspace's binaries, the `nw0` CLI above all, inside a [`Host`]: long
//! running ones guarded ([`spawn_bin`], [`spawn_nw0`]), one-shot ones to their end
//! ([`run_nw0`], [`Ran::wait_for`]) with what they said in a [`Ran`].
//!
//! ```no_run
//! # use nw0_tests::*; use std::time::Duration;
//! if !require_netns() { return; }
//! let host = Host::isolated();
//! let _echo = spawn_nw0(&host, &["advertise", "echo", "--echo"]);
//! run_nw0(&host, &["send", "echo", "\"hi\""], Duration::from_secs(20))
//!     .expect_code(0, "send")
//!     .expect_stdout(&["\"hi\""], "send");
//! ```

use std::process::Command;
use std::time::Duration;

use crate::{workspace_bin, ChildGuard, Host};

/// Spawns the workspace binary `name` (see [`workspace_bin`]) with `args` inside
/// `host`, guarded (killed on drop). Panics if it cannot be spawned.
pub fn spawn_bin(host: &Host, name: &str, args: &[&str]) -> ChildGuard {
    let mut cmd = host.command(workspace_bin(name));
    cmd.args(args);
    ChildGuard::spawn(&mut cmd)
        .unwrap_or_else(|e| panic!("spawn {name} {args:?} in {}: {e}", host.name))
}

/// A [`Command`] for `nw0 ARGS…` inside `host` (to add environment, then
/// [`ChildGuard::spawn`] it).
pub fn nw0_command(host: &Host, args: &[&str]) -> Command {
    let mut cmd = host.command(workspace_bin("nw0"));
    cmd.args(args);
    cmd
}

/// A long-running `nw0 ARGS…` inside `host`, killed when dropped.
pub fn spawn_nw0(host: &Host, args: &[&str]) -> ChildGuard {
    spawn_bin(host, "nw0", args)
}

/// The first stdout line of an `nw0 advertise`/`publish`: its address (waits at most
/// 15 s, else panics).
#[track_caller]
pub fn address_line(child: &mut ChildGuard) -> String {
    child
        .expect_line(|l| !l.is_empty(), Duration::from_secs(15))
        .unwrap()
}

/// Runs `nw0 ARGS…` inside `host` to its end (at most `limit`; then it is killed and
/// the test fails).
pub fn run_nw0(host: &Host, args: &[&str], limit: Duration) -> Ran {
    Ran::wait_for(spawn_nw0(host, args), limit)
}

/// What a finished program said: its exit code (`None`: killed by a signal), its
/// stdout lines and its stderr. Shown whole (`{:#?}`) when an `expect_*` check fails.
#[derive(Debug)]
pub struct Ran {
    /// The exit code.
    pub code: Option<i32>,
    /// The stdout lines.
    pub stdout: Vec<String>,
    /// All of stderr.
    pub stderr: String,
}

impl Ran {
    /// Waits at most `limit` for `child` to end (else panics, showing its stderr; the
    /// child is killed on drop), then reads its stdout to the end.
    #[track_caller]
    pub fn wait_for(mut child: ChildGuard, limit: Duration) -> Ran {
        let status = child.wait_timeout(limit).expect("wait for the child");
        let Some(status) = status else {
            panic!(
                "{child:?} still running after {limit:?}; stderr:\n{}",
                child.stderr()
            );
        };
        // The process has ended: read stdout to its end.
        let mut stdout = Vec::new();
        while let Ok(line) = child.next_line(Duration::from_secs(5)) {
            stdout.push(line);
        }
        std::thread::sleep(Duration::from_millis(50)); // let the stderr reader finish
        Ran {
            code: status.code(),
            stdout,
            stderr: child.stderr(),
        }
    }

    /// Asserts the exit code is `code` (`what` says which run, in the failure message).
    #[track_caller]
    pub fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert_eq!(self.code, Some(code), "{what}: exit status\n{self:#?}");
        self
    }

    /// Asserts nothing was printed on stdout.
    #[track_caller]
    pub fn expect_no_stdout(&self, what: &str) -> &Self {
        self.expect_stdout::<&str>(&[], what)
    }

    /// Asserts stdout was exactly `lines`.
    #[track_caller]
    pub fn expect_stdout<S: AsRef<str>>(&self, lines: &[S], what: &str) -> &Self {
        let want: Vec<&str> = lines.iter().map(AsRef::as_ref).collect();
        assert_eq!(self.stdout, want, "{what}: stdout\n{self:#?}");
        self
    }
}
