//! Windows programs (`nw0.exe`, examples built for `x86_64-pc-windows-gnu`) run under
//! Wine inside a simulated [`Host`]: one Windows PC of the LAN.
//!
//! Wine runs a Windows program as a Linux process, but its sockets are opened by
//! `wineserver`, in the network namespace where *that* was started. So each simulated
//! Windows PC gets a prefix (a Wine "C: drive") of its own and a `wineserver` started
//! inside its host ([`Wine::start`]); every program of that PC runs in the same host
//! and prefix, and [`Wine`]'s drop runs `wineserver -k` there. Wine is never started
//! outside a namespace.
//!
//! `tests/windows/setup.sh` (outside the namespace; `.ci/run` runs it) installs Wine
//! and mingw-w64, builds the `.exe` files into `target/cross/x86_64-pc-windows-gnu/debug`
//! (and [`require`] rebuilds them, offline, when stale), the C helpers into
//! `target/wine/`, and makes the prefixes once in `target/wine/prefixes/` (with the
//! `bcryptprimitives.dll` that Wine 8.0 lacks). A prefix serves one host at a time: a
//! lock file next to it is held while its `wineserver` runs.
//!
//! ```no_run
//! # use nw0_tests::*; use std::time::Duration;
//! if !require_netns() { return; }
//! let Some(exes) = wine::require() else { return };
//! let lan = Lan::new(2);
//! let pc = Wine::start(&exes, &lan.hosts[0]);
//! let _echo = pc.spawn("nw0", &["advertise", "echo", "--echo"]);
//! run_nw0(&lan.hosts[1], &["send", "echo", "1"], Duration::from_secs(30)).expect_code(0, "send");
//! ```

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{skip_or_panic, ChildGuard, Host, Ran};

/// The Wine loader (Debian's `wine64` package); called directly, not through the
/// `/usr/bin/wine` script, which only adds a hint about 32-bit Wine.
const WINE: &str = "/usr/lib/wine/wine64";
/// Debian's `wineserver` script adds `-p0`; the binary takes our options as given.
const WINESERVER: &str = "/usr/lib/wine/wineserver64";
/// How many prefixes `tests/windows/setup.sh` makes: one per Windows PC that can run
/// at the same time.
const PREFIXES: usize = 2;
/// How long a test waits for a free prefix.
const PREFIX_WAIT: Duration = Duration::from_secs(600);

/// Where the Windows test programs and the Wine prefixes are, checked by [`require`].
#[derive(Debug, Clone)]
pub struct WindowsExes {
    /// `target/cross/x86_64-pc-windows-gnu/debug`: nw0.exe and the examples.
    pub bin_dir: PathBuf,
    /// `target/wine`: the C helpers (`hold-port.exe`) and `prefixes/`.
    pub wine_dir: PathBuf,
}

impl WindowsExes {
    /// The path of `NAME.exe`: a Rust program of the workspace, or a helper built
    /// from tests/windows/*.c.
    pub fn exe(&self, name: &str) -> PathBuf {
        let file = format!("{name}.exe");
        let rust = self.bin_dir.join(&file);
        if rust.is_file() {
            rust
        } else {
            self.wine_dir.join(file)
        }
    }

    fn prefixes(&self) -> PathBuf {
        self.wine_dir.join("prefixes")
    }
}

/// `target/`, found from this test executable (`target/debug/deps/TEST`) or the
/// workspace.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .filter(|t| t.join("cross").is_dir() || t.join("wine").is_dir())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Builds the Windows programs (offline; a no-op when they are up to date), so a test
/// never runs a stale `nw0.exe`.
fn build() -> Result<(), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("windows/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--offline")
        .env_remove("RUSTFLAGS")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "tests/windows/build.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn status() -> &'static Result<WindowsExes, String> {
    static STATUS: OnceLock<Result<WindowsExes, String>> = OnceLock::new();
    STATUS.get_or_init(|| {
        let target = target_dir();
        let exes = WindowsExes {
            bin_dir: target.join("cross/x86_64-pc-windows-gnu/debug"),
            wine_dir: target.join("wine"),
        };
        let fix = "run `bash tests/windows/setup.sh` outside the namespace (.ci/run does)";
        if !Path::new(WINE).is_file() || !Path::new(WINESERVER).is_file() {
            return Err(format!(
                "Wine is not installed ({WINE}): apt-get install wine wine64, or {fix}"
            ));
        }
        build().map_err(|e| format!("{e}\n{fix}"))?;
        for name in ["nw0", "hello", "turntable", "hold-port"] {
            if !exes.exe(name).is_file() {
                return Err(format!("{} is missing: {fix}", exes.exe(name).display()));
            }
        }
        for i in 1..=PREFIXES {
            let ready = exes.prefixes().join(format!("pc{i}/.nw0-ready"));
            if !ready.is_file() {
                return Err(format!(
                    "the Wine prefix {} is not made: {fix}",
                    ready.display()
                ));
            }
        }
        Ok(exes)
    })
}

/// The Windows programs and Wine prefixes, when `tests/windows/setup.sh` has made them.
/// Otherwise, under `CI=true` it panics; else it prints `SKIP: …` and returns `None`
/// (the test should return at once).
#[track_caller]
pub fn require() -> Option<WindowsExes> {
    match status() {
        Ok(exes) => Some(exes.clone()),
        Err(why) => {
            skip_or_panic(why, "bash tests/windows/setup.sh (outside the namespace)");
            None
        }
    }
}

/// A prefix held for this process (an exclusive lock on `pcN.lock`; released when
/// the file is closed, also when the test process dies).
fn take_prefix(exes: &WindowsExes) -> (PathBuf, File) {
    let deadline = Instant::now() + PREFIX_WAIT;
    loop {
        for i in 1..=PREFIXES {
            let lock_path = exes.prefixes().join(format!("pc{i}.lock"));
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .unwrap_or_else(|e| panic!("open {}: {e}", lock_path.display()));
            if rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
                .is_ok()
            {
                return (exes.prefixes().join(format!("pc{i}")), lock);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no Wine prefix came free within {PREFIX_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One Windows PC: a Wine prefix whose `wineserver` runs inside a [`Host`]. Dropping
/// it runs `wineserver -k` inside that host (ending every program of the prefix) and
/// releases the prefix.
pub struct Wine {
    exes: WindowsExes,
    prefix: PathBuf,
    netns: String,
    server: Option<ChildGuard>,
    _lock: File,
}

impl std::fmt::Debug for Wine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wine")
            .field("prefix", &self.prefix)
            .field("netns", &self.netns)
            .finish()
    }
}

impl Wine {
    /// Takes a free prefix and starts its `wineserver` inside `host` (ending one left
    /// over from an earlier, killed run first), then boots the prefix (Wine's services
    /// start once, not with each program). Panics on failure.
    pub fn start(exes: &WindowsExes, host: &Host) -> Wine {
        let (prefix, lock) = take_prefix(exes);
        let mut wine = Wine {
            exes: exes.clone(),
            prefix,
            netns: host.name.clone(),
            server: None,
            _lock: lock,
        };
        // A server left by a killed run may live in a namespace that is gone: end it
        // (`-k` reaches it through its socket in /tmp, not the network).
        let _ = wine.in_host(WINESERVER).arg("-k").status();
        let mut server = wine.in_host(WINESERVER);
        server.args(["--foreground", "--persistent"]);
        wine.server = Some(
            ChildGuard::spawn(&mut server)
                .unwrap_or_else(|e| panic!("start wineserver in {}: {e}", host.name)),
        );
        let boot = || {
            Ran::wait_for(
                ChildGuard::spawn(wine.in_host(WINE).arg("wineboot"))
                    .unwrap_or_else(|e| panic!("wineboot in {}: {e}", host.name)),
                Duration::from_secs(120),
            )
        };
        // Wine's own start-up, not ours: once in a CI run (2026-12-01) wineboot
        // exited 1 with nothing on stdout or stderr, and the same suite then passed
        // 3 of 3. It gets one more try; a second failure is a real one.
        let mut booted = boot();
        if booted.code != Some(0) {
            eprintln!("wineboot failed once ({booted:?}); trying again");
            booted = boot();
        }
        assert_eq!(booted.code, Some(0), "wineboot: {booted:#?}");
        wine
    }

    /// `program` inside the host, with this prefix's environment.
    fn in_host(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, program])
            .env("WINEPREFIX", &self.prefix)
            // Quiet, and no prompts to download Mono or Gecko (nothing needs them).
            .env("WINEDEBUG", "-all")
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=;winemenubuilder.exe=d")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    }

    /// A [`Command`] running the Windows program `NAME.exe` with `args` on this PC
    /// (add environment, e.g. `NW0_LOG`, then [`ChildGuard::spawn`] it).
    pub fn command(&self, name: &str, args: &[&str]) -> Command {
        let mut cmd = self.in_host(WINE);
        cmd.arg(self.exes.exe(name)).args(args);
        cmd
    }

    /// A long-running `NAME.exe ARGS…` on this PC, killed when dropped (and ended by
    /// `wineserver -k` with the [`Wine`]).
    pub fn spawn(&self, name: &str, args: &[&str]) -> ChildGuard {
        ChildGuard::spawn(&mut self.command(name, args))
            .unwrap_or_else(|e| panic!("spawn {name}.exe {args:?} in {}: {e}", self.netns))
    }

    /// Runs `NAME.exe ARGS…` on this PC to its end (at most `limit`).
    #[track_caller]
    pub fn run(&self, name: &str, args: &[&str], limit: Duration) -> Ran {
        Ran::wait_for(self.spawn(name, args), limit)
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        let _ = self.in_host(WINESERVER).arg("-k").status();
        if let Some(mut server) = self.server.take() {
            if server
                .wait_timeout(Duration::from_secs(10))
                .ok()
                .flatten()
                .is_none()
            {
                server.kill();
            }
        }
    }
}
