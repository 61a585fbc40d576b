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

/// Under CI panic with `why`; otherwise print `SKIP: why` to stderr and record the skip
/// (with `fix`, the one command that makes the test run) in the skip log, which
/// `tests/run.sh` reads after the tests: cargo's output capture cannot swallow it. Use it
/// for any missing prerequisite so the skip/fail rule stays the same everywhere.
#[track_caller]
pub fn skip_or_panic(why: &str, fix: &str) {
    if is_ci() {
        panic!(
            "CI=true and a test prerequisite is missing (no test may be skipped in CI): {why}\n\
             fix: {fix}"
        );
    }
    eprintln!("SKIP: {why}\n  fix: {fix}");
    record_skip(why, fix);
}

/// Where skips are recorded: `$NW0_SKIP_LOG` (set by `tests/run.sh`), else
/// `nw0-skipped.txt` in the target directory.
pub fn skip_log() -> PathBuf {
    if let Some(p) = std::env::var_os("NW0_SKIP_LOG") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("nw0-skipped.txt")
}

/// One line per skip: `test binary<TAB>test name<TAB>why<TAB>fix`. The test name is
/// the test thread's name (libtest names it after the test).
fn record_skip(why: &str, fix: &str) {
    use std::io::Write;
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| match s.rsplit_once('-') {
            // cargo's `NAME-HASH` test executables
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
            _ => s,
        })
        .unwrap_or_default();
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("?");
    let flat = |s: &str| s.replace(['\t', '\n'], " ");
    let line = format!("{binary}\t{test}\t{}\t{}\n", flat(why), flat(fix));
    let path = skip_log();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // one write of one short line with O_APPEND: tests of one binary run in parallel
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("SKIP could not be recorded in {}: {e}", path.display());
    }
}

fn env_is_1(name: &str) -> bool {
    std::env::var(name)
        .map(|v| v.trim() == "1")
        .unwrap_or(false)
}

/// Why a prerequisite is missing, and the one command that fixes it.
struct Missing {
    why: String,
    fix: &'static str,
}

impl Missing {
    #[track_caller]
    fn skip_or_panic(&self) {
        skip_or_panic(&self.why, self.fix);
    }
}

/// `Ok(())` when we are inside a private network namespace (made by `tests/run.sh`,
/// `NW0_TEST_NETNS=1`, or by `/work/shared/sealed`, `NW0_SEALED=1`) in which
/// `ip netns add` works; what is missing otherwise.
fn netns_status() -> &'static Result<(), Missing> {
    static STATUS: OnceLock<Result<(), Missing>> = OnceLock::new();
    STATUS.get_or_init(|| {
        if !env_is_1("NW0_TEST_NETNS") && !env_is_1("NW0_SEALED") {
            return Err(Missing {
                why: "not inside a private network namespace (NW0_TEST_NETNS=1 is not set): \
                      the network tests never touch the real network"
                    .into(),
                fix: "bash tests/run.sh (it makes the namespace)",
            });
        }
        // Probe: can we make and delete a named namespace?
        let probe = format!("nw0-probe-{}", std::process::id());
        let add = Command::new("ip")
            .args(["netns", "add", &probe])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output();
        match add {
            Err(e) => Err(Missing {
                why: format!("cannot run `ip` (iproute2): {e}"),
                fix: "sudo apt-get install iproute2",
            }),
            Ok(out) if !out.status.success() => Err(Missing {
                why: format!(
                    "`ip netns add` fails here: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                fix: "sudo bash tests/run.sh",
            }),
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
        Err(missing) => {
            missing.skip_or_panic();
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

/// The version of Python networkzero we interoperate with, and test against.
pub const PYTHON_NETWORKZERO: &str = "1.0b1";

fn python_status() -> &'static Result<PathBuf, Missing> {
    static STATUS: OnceLock<Result<PathBuf, Missing>> = OnceLock::new();
    STATUS.get_or_init(|| {
        // the same check as tests/run.sh's py_ok: another version is no peer of ours
        let check = format!(
            "import importlib.metadata as m, networkzero, zmq\n\
             v = m.version('networkzero')\n\
             assert v == '{PYTHON_NETWORKZERO}', 'networkzero ' + v + ', not {PYTHON_NETWORKZERO}'"
        );
        let mut tried = Vec::new();
        for venv in venv_candidates() {
            let py = venv.join("bin/python");
            if !py.exists() {
                tried.push(format!("{} (missing)", py.display()));
                continue;
            }
            let out = Command::new(&py)
                .args(["-c", &check])
                .stdin(Stdio::null())
                .output();
            match out {
                Ok(o) if o.status.success() => return Ok(py),
                Ok(o) => tried.push(format!(
                    "{} ({})",
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
        Err(Missing {
            why: format!(
                "no Python venv with networkzero {PYTHON_NETWORKZERO} and pyzmq; tried: {}",
                tried.join("; ")
            ),
            fix: "bash tests/run.sh --no-run (outside any namespace, with network: it makes \
                  target/py-venv)",
        })
    })
}

/// The venv python (`target/py-venv/bin/python`, made by `tests/run.sh`) if it has
/// networkzero [`PYTHON_NETWORKZERO`] and pyzmq; found via `$NW0_PY_VENV`, `$CARGO_TARGET_DIR` or the
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
        Err(missing) => {
            missing.skip_or_panic();
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
