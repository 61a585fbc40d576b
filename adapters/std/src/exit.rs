//! Unadvertise at exit, as Python networkzero does with `atexit`: peers
//! forget our names at once instead of after the 20 s ttl.
//!
//! Two ways a classroom program ends are covered: returning from `main` (or
//! `std::process::exit`), through the C library's `atexit`, and Ctrl-C or a
//! kill (SIGINT/SIGTERM), through a signal handler that says goodbye and then
//! exits with the usual code 130. A program that installs its own Ctrl-C
//! handler keeps it; networkzero then only covers the normal exit.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;
use std::time::Duration;

use log::debug;

/// When this process last handed a reply or news item to the transport
/// (milliseconds of the discovery clock, 0 for never).
static LAST_SEND: AtomicU64 = AtomicU64::new(0);

/// A reply or news item was queued after [`LAST_SEND`] was last stamped
/// (see [`note_send_unstamped`]).
static UNSTAMPED: AtomicBool = AtomicBool::new(false);

/// How long a reply or news item sent just before exit is given to leave.
const FLUSH: Duration = Duration::from_millis(200);

/// Records that a reply or news item was just queued for sending.
pub(crate) fn note_send() {
    // Cleared before the clock is read: an unstamped send racing with this
    // one stays counted.
    UNSTAMPED.store(false, Ordering::Relaxed);
    LAST_SEND.store(
        crate::discovery::now().as_millis().max(1),
        Ordering::Relaxed,
    );
    install_exit_hooks();
}

/// Records a send without reading the clock, for a loop that sends hundreds of
/// thousands of items a second (reading the clock was a seventh of the cost of
/// `publish_news`): between two [`note_send`]s. At exit such a send counts as
/// just made, so the flush wait is given.
pub(crate) fn note_send_unstamped() {
    UNSTAMPED.store(true, Ordering::Relaxed);
}

extern "C" fn at_exit() {
    crate::discovery::unadvertise_all();
    // The transport sends from a background thread that dies with the
    // process: an ack sent just before `main` returns would be lost (Python
    // networkzero delivers it). Give recent sends a moment to leave.
    let last = LAST_SEND.load(Ordering::Relaxed);
    let since = crate::discovery::now().as_millis().saturating_sub(last);
    let recent = since < FLUSH.as_millis() as u64 || UNSTAMPED.load(Ordering::Relaxed);
    if last != 0 && recent {
        std::thread::sleep(FLUSH);
    }
}

/// Arranges for every advertised name to be withdrawn, and recent replies
/// flushed, when the process ends.
pub(crate) fn install_exit_hooks() {
    static HOOKS: Once = Once::new();
    HOOKS.call_once(|| {
        // SAFETY: `atexit` only stores the function pointer; `at_exit` is an
        // `extern "C" fn()` that never unwinds across the boundary (it only
        // locks, encodes and sends, none of which panics).
        #[allow(unsafe_code)]
        let registered = unsafe { libc::atexit(at_exit) } == 0;
        if !registered {
            debug!("could not register the exit hook; names will expire after their ttl");
        }
        let handler = ctrlc::set_handler(|| {
            crate::discovery::unadvertise_all();
            std::process::exit(130);
        });
        if let Err(e) = handler {
            debug!("not handling Ctrl-C ({e}); names will be withdrawn at normal exit only");
        }
    });
}
