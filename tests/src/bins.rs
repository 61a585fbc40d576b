//! Finding the workspace's binaries (`nw0`, the examples, test peers) from a test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `target/<profile>/NAME`, next to the running test (which is
/// `target/<profile>/deps/TEST-HASH`), or under `CARGO_TARGET_DIR`. The
/// binaries must be built first: `tests/run.sh` runs
/// `cargo build --workspace --all-targets` before testing, and the test
/// namespace has no network for cargo to fetch anything.
///
/// With `NW0_BUILD_BINS=1` the binaries are built first (see [`build_bins_if_asked`]).
pub fn workspace_bin(name: &str) -> PathBuf {
    build_bins_if_asked();
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(profile_dir) = exe.parent().and_then(|deps| deps.parent()) {
            candidates.push(profile_dir.join(name));
        }
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("debug").join(name));
    }
    candidates.push(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/debug")
            .join(name),
    );
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "the {name} binary was not found (tried {candidates:?}): build it first with \
             `cargo build --workspace --all-targets` (tests/run.sh does)"
            )
        })
}

/// With `NW0_BUILD_BINS=1`, runs `cargo build --offline --workspace --bins` (plus
/// `--features $NW0_BUILD_FEATURES`) once per test process. cargo builds the binaries
/// of an integration test's own package (`nw0-peer`), but not `nw0` for this one: a
/// mutation-testing run (`tests/mutants.sh std`), which builds only what `cargo test`
/// builds, sets it so a mutated `nw0` is the one tested.
pub fn build_bins_if_asked() {
    static BUILT: OnceLock<()> = OnceLock::new();
    if std::env::var("NW0_BUILD_BINS").as_deref() != Ok("1") {
        return;
    }
    BUILT.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("tests/ has a parent");
        // the profile this test was built with, from target/<profile dir>/deps/TEST
        let profile = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.parent()?.file_name()?.to_owned()))
            .map(|dir| match dir.to_string_lossy().as_ref() {
                "debug" => "dev".to_string(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| "dev".into());
        let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cargo
            .args([
                "build",
                "--offline",
                "--workspace",
                "--bins",
                "--profile",
                &profile,
            ])
            .current_dir(workspace);
        if let Ok(features) = std::env::var("NW0_BUILD_FEATURES") {
            if !features.trim().is_empty() {
                cargo.args(["--features", features.trim()]);
            }
        }
        let status = cargo
            .status()
            .unwrap_or_else(|e| panic!("NW0_BUILD_BINS=1: cannot run cargo: {e}"));
        assert!(
            status.success(),
            "NW0_BUILD_BINS=1: cargo build --workspace --bins failed"
        );
    });
}
