//! What the test environment offers: an isolated network namespace, the Python peer.
//!
//! Each check is made once per test process and cached.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::Lan;

/// True when the environment variable `CI` says we run in continuous integration
/// (set and not empty, `0` or `false`). Then no test may be skipped.
pub fn is_ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => {
            let v = v.trim().to_ascii_lowercase();
            !(v.is_empty() || v == "0" || v == "false" || v == "no")
        }
        Err(_) => false,
    }
}

/// Under CI panic with `why`; otherwise print `SKIP: why` to stderr. Use it for any
/// other missing prerequisite so the skip/fail rule stays the same everywhere.
#[track_caller]
pub fn skip_or_panic(why: &str) {
    if is_ci() {
        panic!("CI=true and a test prerequisite is missing (no test may be skipped in CI): {why}");
    }
    eprintln!("SKIP: {why}");
}

fn env_is_1(name: &str) -> bool {
    std::env::var(name)
        .map(|v| v.trim() == "1")
        .unwrap_or(false)
}

/// `Ok(())` when we are inside a private network namespace (made by `tests/run.sh`,
/// `NW0_TEST_NETNS=1`, or by `/work/shared/sealed`, `NW0_SEALED=1`) in which
/// `ip netns add` works; `Err(reason)` otherwise.
fn netns_status() -> &'static Result<(), String> {
    static STATUS: OnceLock<Result<(), String>> = OnceLock::new();
    STATUS.get_or_init(|| {
        if !env_is_1("NW0_TEST_NETNS") && !env_is_1("NW0_SEALED") {
            return Err(
                "not inside a private network namespace (NW0_TEST_NETNS=1 is not set): \
                        run the tests with `bash tests/run.sh` (or inside /work/shared/sealed) \
                        so they never touch the real network"
                    .into(),
            );
        }
        // Probe: can we make and delete a named namespace?
        let probe = format!("nw0-probe-{}", std::process::id());
        let add = Command::new("ip")
            .args(["netns", "add", &probe])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match add {
            Err(e) => Err(format!("cannot run `ip` (iproute2): {e}")),
            Ok(out) if !out.status.success() => Err(format!(
                "`ip netns add` fails here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Ok(_) => {
                let _ = Command::new("ip")
                    .args(["netns", "del", &probe])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                Ok(())
            }
        }
    })
}

/// Call first in every test that opens a socket or builds a [`crate::Host`]/[`crate::Lan`].
///
/// Returns `true` when the test runs in an isolated network namespace
/// (`NW0_TEST_NETNS=1` from `tests/run.sh`, or `NW0_SEALED=1` from
/// `/work/shared/sealed`) where `ip netns` works. Otherwise, with `CI=true`, it panics
/// with the reason; without CI it prints `SKIP: …` and returns `false`, and the test
/// should return at once:
///
/// ```no_run
/// if !nw0_tests::require_netns() { return; }
/// ```
#[track_caller]
pub fn require_netns() -> bool {
    match netns_status() {
        Ok(()) => true,
        Err(why) => {
            skip_or_panic(why);
            false
        }
    }
}

/// Candidate locations of the Python venv made by `tests/run.sh`, best first:
/// `$NW0_PY_VENV`, `$CARGO_TARGET_DIR/py-venv`, `<workspace>/target/py-venv`.
fn venv_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("NW0_PY_VENV") {
        v.push(PathBuf::from(p));
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        let t = PathBuf::from(t);
        v.push(t.join("py-venv"));
        // a per-engineer target dir such as target/harness: also try its parent
        if let Some(parent) = t.parent() {
            v.push(parent.join("py-venv"));
        }
    }
    v.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/py-venv"));
    v
}

fn python_status() -> &'static Result<PathBuf, String> {
    static STATUS: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    STATUS.get_or_init(|| {
        let mut tried = Vec::new();
        for venv in venv_candidates() {
            let py = venv.join("bin/python");
            if !py.exists() {
                tried.push(format!("{} (missing)", py.display()));
                continue;
            }
            let out = Command::new(&py)
                .args(["-c", "import networkzero, zmq"])
                .stdin(Stdio::null())
                .output();
            match out {
                Ok(o) if o.status.success() => return Ok(py),
                Ok(o) => tried.push(format!(
                    "{} (`import networkzero, zmq` fails: {})",
                    py.display(),
                    String::from_utf8_lossy(&o.stderr)
                        .trim()
                        .lines()
                        .last()
                        .unwrap_or("")
                )),
                Err(e) => tried.push(format!("{} ({e})", py.display())),
            }
        }
        Err(format!(
            "no Python venv with networkzero 1.0b1 and pyzmq (run `bash tests/run.sh` once with \
             network access to make target/py-venv); tried: {}",
            tried.join("; ")
        ))
    })
}

/// The venv python (`target/py-venv/bin/python`, made by `tests/run.sh`) if it can
/// `import networkzero, zmq`; found via `$NW0_PY_VENV`, `$CARGO_TARGET_DIR` or the
/// workspace's `target/`. No skip or panic: see [`require_python`] for that.
pub fn python() -> Option<PathBuf> {
    python_status().as_ref().ok().cloned()
}

/// Like [`python`], but when the Python peer is missing: panics under `CI=true`, else
/// prints `SKIP: …` and returns `None` (the test should return at once).
#[track_caller]
pub fn require_python() -> Option<PathBuf> {
    match python_status() {
        Ok(p) => Some(p.clone()),
        Err(why) => {
            skip_or_panic(why);
            None
        }
    }
}

/// For a test that needs the Python peer on a simulated LAN: [`require_netns`], then
/// [`require_python`], then a [`Lan`] of `n` hosts. `None` when a prerequisite is
/// missing (after `SKIP: …`; under CI they panic): the test should return at once.
///
/// ```no_run
/// let Some(lan) = nw0_tests::require_python_lan(2) else { return };
/// ```
#[track_caller]
pub fn require_python_lan(n: usize) -> Option<Lan> {
    if !require_netns() {
        return None;
    }
    require_python()?;
    Some(Lan::new(n))
}

/// For a test whose Python part is optional: [`require_netns`] (`None`: return at
/// once), then a [`Lan`] of `n` hosts and [`require_python`]'s answer (`None`: run
/// without the Python peer).
#[track_caller]
pub fn require_lan_maybe_python(n: usize) -> Option<(Lan, Option<PathBuf>)> {
    if !require_netns() {
        return None;
    }
    let python = require_python();
    Some((Lan::new(n), python))
}
