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
//! peer) are missing prints `SKIP: …` to stderr and passes. With `CI=true` nothing may
//! be skipped: the `require_*` functions panic instead.
//!
//! # Modules
//! - [`env`](mod@env): [`require_netns`], [`python`], [`require_python`], [`is_ci`].
//! - [`netns`]: [`Host`] (one network namespace) and [`Lan`] (hosts on a bridge).
//! - [`child`]: [`ChildGuard`], a child process killed on drop whose output lines can
//!   be awaited with a timeout.
//! - [`bins`]: [`workspace_bin`] finds `nw0`, the examples and test peers.
//! - [`py`]: run Python snippets (with the venv's networkzero 1.0b1) inside a [`Host`].

pub mod bins;
pub mod child;
pub mod env;
pub mod netns;
pub mod py;

pub use bins::workspace_bin;
pub use child::ChildGuard;
pub use env::{is_ci, python, require_netns, require_python, skip_or_panic};
pub use netns::{Host, Lan};
