//! Test harness shared by the integration tests in `tests/tests/`.
//!
//! # Network safety
//! Every test that opens a socket must run inside a private network namespace, never
//! in the machine's root namespace: `tests/run.sh` (the project test command) makes
//! one and exports `NW0_TEST_NETNS=1`; `/work/shared/sealed COMMAND` does the same
//! and exports `NW0_SEALED=1`. Tests call [`require_netns`] first and return early
//! when it says `false`:
//!
//! ```no_run
//! # use nw0_tests::*;
//! if !require_netns() { return; }
//! let lan = Lan::new(2);                       // hosts 10.200.K.1 and 10.200.K.2
//! let got = lan.hosts[1].run(|| {
//!     // sockets made here live in host 1's namespace
//!     std::net::UdpSocket::bind("0.0.0.0:0").unwrap().local_addr().unwrap()
//! });
//! # let _ = got;
//! ```
//!
//! # Skip or fail
//! Outside CI a test whose prerequisites (namespaces, python3, the Python networkzero
//! peer, QEMU, nftables) are missing prints `SKIP: …` to stderr, records the skip and
//! the command that fixes it in [`skip_log`] (which `tests/run.sh` lists, loudly, at
//! the end: cargo's output capture hides the stderr of passing tests), and passes.
//! With `CI=true` nothing may be skipped: [`skip_or_panic`] and the `require_*`
//! functions panic instead.
//!
//! # Modules
//! - [`env`](mod@env): [`require_netns`], [`python`], [`require_python`], [`is_ci`];
//!   [`require_python_lan`] and [`require_lan_maybe_python`] for tests on a [`Lan`].
//! - [`netns`]: [`Host`] (one network namespace) and [`Lan`] (hosts on a bridge).
//! - [`child`]: [`ChildGuard`], a child process killed on drop whose output lines can
//!   be awaited with a timeout.
//! - [`bins`]: [`workspace_bin`] finds `nw0`, the examples and test peers.
//! - [`cli`]: run them inside a [`Host`]: [`spawn_nw0`], [`run_nw0`] (what a run said:
//!   [`Ran`], with its `expect_*` checks), [`spawn_bin`].
//! - [`browser`]: a headless Chromium driven over WebDriver ([`Browser`],
//!   [`require_browser`]), for the `nw0 dashboard` tests.
//! - [`py`]: run Python snippets (with the venv's networkzero 1.0b1) inside a [`Host`].
//! - [`node`]: the scenario shared by the embedded-style node binaries
//!   (`smoltcp-node`, `enal-node`) against Rust and Python peers.
//! - [`zmtp_driver`]: the core's ZMTP engine over a std `TcpStream`, for tests against
//!   libzmq and pyzmq.
//! - [`wine`]: Windows programs (`nw0.exe`, examples) under Wine inside a [`Host`]:
//!   [`Wine`], one Windows PC.

pub mod bins;
pub mod browser;
pub mod child;
pub mod cli;
pub mod env;
pub mod netns;
pub mod node;
pub mod py;
pub mod robot;
pub mod wine;
pub mod zmtp_driver;

pub use bins::workspace_bin;
pub use browser::{require_browser, Browser};
pub use child::{ChildGuard, Wanted};
pub use cli::{address_line, nw0_command, run_nw0, spawn_bin, spawn_nw0, Ran};
pub use env::{
    is_ci, python, require_lan_maybe_python, require_netns, require_python, require_python_lan,
    skip_log, skip_or_panic, PYTHON_NETWORKZERO,
};
pub use netns::{Host, Lan};
pub use wine::Wine;
