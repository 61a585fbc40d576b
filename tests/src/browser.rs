//! A real browser for the `nw0 dashboard` tests: Debian's headless Chromium,
//! driven over WebDriver by selenium (`tests/browser/page_driver.py`, in the
//! Python venv `tests/run.sh` makes), inside a [`Host`]. The test sends one
//! JSON command a line and reads one JSON answer a line: the checks stay in
//! Rust, beside the simulated LAN.
//!
//! Needs `apt-get install chromium chromium-driver` and selenium in the venv
//! (`tests/run.sh` installs selenium; `.ci/run` installs both). Call
//! [`require_browser`] first: without them a test skips, or under `CI=true`
//! fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::{python, skip_or_panic, ChildGuard, Host};

/// Where Debian puts them (`NW0_CHROMIUM` / `NW0_CHROMEDRIVER` override).
fn chromium() -> PathBuf {
    std::env::var_os("NW0_CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from)
}

fn chromedriver() -> PathBuf {
    std::env::var_os("NW0_CHROMEDRIVER")
        .map_or_else(|| "/usr/bin/chromedriver".into(), PathBuf::from)
}

fn browser_status() -> &'static Result<PathBuf, String> {
    static STATUS: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    STATUS.get_or_init(|| {
        for (path, package) in [(chromium(), "chromium"), (chromedriver(), "chromium-driver")] {
            if !path.is_file() {
                return Err(format!(
                    "{} not found: `apt-get install {package}` (Debian's; tests/run.sh says how)",
                    path.display()
                ));
            }
        }
        let py = python().ok_or("no Python venv (tests/run.sh makes target/py-venv)")?;
        let has_selenium = Command::new(&py)
            .args(["-c", "import selenium"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_selenium {
            return Err(format!(
                "selenium is not in the venv of {}: run `bash tests/run.sh` once with network access",
                py.display()
            ));
        }
        Ok(py)
    })
}

/// `true` when Chromium, ChromeDriver and selenium are here; otherwise under
/// `CI=true` panics, else prints `SKIP: …` and returns `false`.
#[track_caller]
pub fn require_browser() -> bool {
    match browser_status() {
        Ok(_) => true,
        Err(why) => {
            skip_or_panic(
                why,
                "bash tests/run.sh --no-run (outside any namespace, with network: as root it \
                 installs chromium and chromium-driver and adds selenium to target/py-venv)",
            );
            false
        }
    }
}

/// A headless Chromium under WebDriver in one [`Host`], closed when dropped.
pub struct Browser {
    driver: ChildGuard,
    commands: ChildStdin,
}

/// How long one command may take (a `wait_*` command: its own timeout more).
const ANSWER: Duration = Duration::from_secs(60);

impl Browser {
    /// Starts the driver and the browser inside `host`. Panics if they do not
    /// start (call [`require_browser`] first).
    pub fn start(host: &Host) -> Browser {
        let Ok(py) = browser_status() else {
            panic!("Browser::start: call require_browser() first");
        };
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/page_driver.py");
        let mut cmd = host.command(py);
        cmd.arg("-u")
            .arg(script)
            .env("NW0_CHROMIUM", chromium())
            .env("NW0_CHROMEDRIVER", chromedriver())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the page driver in {}: {e}", host.name));
        let commands = child.stdin.take().expect("piped stdin");
        let mut driver = ChildGuard::new(child);
        let ready = driver
            .next_line(ANSWER)
            .unwrap_or_else(|e| panic!("the browser did not start: {e}"));
        assert!(ready.contains("\"ready\""), "browser start: {ready}");
        Browser { driver, commands }
    }

    /// Sends `command` and returns the answer, whatever it says.
    #[track_caller]
    pub fn call(&mut self, command: Value) -> Value {
        let line = command.to_string();
        writeln!(self.commands, "{line}")
            .and_then(|()| self.commands.flush())
            .unwrap_or_else(|e| panic!("page driver gone: {e}\n{}", self.driver.stderr()));
        let answer = self
            .driver
            .next_line(ANSWER)
            .unwrap_or_else(|e| panic!("no answer to {line}: {e}"));
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("answer to {line}: {e}: {answer}"))
    }

    /// [`Self::call`], asserting the answer is `"ok": true` (else panics
    /// showing what `what` was and what the page had).
    #[track_caller]
    pub fn ok(&mut self, what: &str, command: Value) -> Value {
        let answer = self.call(command);
        assert_eq!(answer["ok"], true, "{what}: {answer:#}");
        answer
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Let the driver close Chromium itself; the guard kills it if not.
        let _ = writeln!(self.commands, "{{\"cmd\": \"quit\"}}");
        let _ = self.commands.flush();
        let _ = self.driver.wait_timeout(Duration::from_secs(10));
    }
}
