//! Finding the workspace's binaries (`nw0`, the examples, test peers) from a test.

use std::path::PathBuf;

/// `target/<profile>/NAME`, next to the running test (which is
/// `target/<profile>/deps/TEST-HASH`), or under `CARGO_TARGET_DIR`. The
/// binaries must be built first: `tests/run.sh` runs
/// `cargo build --workspace --all-targets` before testing, and the test
/// namespace has no network for cargo to fetch anything.
pub fn workspace_bin(name: &str) -> PathBuf {
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
