//! What the crate's own socket tests share.

/// Whether this test process runs in a private network namespace (tests/run.sh
/// exports NW0_TEST_NETNS, ../shared/sealed NW0_SEALED). Outside one a test that
/// opens sockets skips, saying so, except under CI=true, where it fails.
pub fn isolated() -> bool {
    if std::env::var_os("NW0_TEST_NETNS").is_some() || std::env::var_os("NW0_SEALED").is_some() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false" | "no"));
    assert!(
        !ci,
        "these tests open sockets: run them in a private network namespace (tests/run.sh)"
    );
    eprintln!("SKIP: not in a private network namespace (run tests/run.sh)");
    false
}
