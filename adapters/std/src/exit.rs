//! Unadvertise at exit, as Python networkzero does with `atexit`: peers
//! forget our names at once instead of after the 20 s ttl.
//!
//! Two ways a classroom program ends are covered: returning from `main` (or
//! `std::process::exit`), through the C library's `atexit`, and Ctrl-C or a
//! kill (SIGINT/SIGTERM), through a signal handler that says goodbye and then
//! exits with the usual code 130. A program that installs its own Ctrl-C
//! handler keeps it; networkzero then only covers the normal exit.

use std::sync::Once;

use log::debug;

extern "C" fn at_exit() {
    crate::discovery::unadvertise_all();
}

/// Arranges for every advertised name to be withdrawn when the process ends.
pub(crate) fn unadvertise_at_exit() {
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
