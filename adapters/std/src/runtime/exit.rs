//! Unadvertise at exit, as Python networkzero does with `atexit`: peers
//! forget our names at once instead of after the 20 s ttl.
//!
//! Two ways a classroom program ends are covered: returning from `main` (or
//! `std::process::exit`), through the C library's `atexit`, and Ctrl-C or a
//! kill (SIGINT/SIGTERM), through a signal handler that says goodbye and then
//! exits with the usual code 130. A program that installs its own Ctrl-C
//! handler keeps it; networkzero then only covers the normal exit.

use log::debug;

use super::Runtime;

extern "C" fn at_exit() {
    super::get().at_exit();
}

impl Runtime {
    /// Says goodbye for every advertised name, and gives what was just sent
    /// time to leave.
    fn at_exit(&self) {
        let (discovery, messaging) = self.started();
        if let Some(discovery) = discovery {
            discovery.unadvertise_all();
        }
        if let Some(messaging) = messaging {
            messaging.flush_at_exit();
        }
    }

    /// Arranges for every advertised name to be withdrawn, and recent
    /// replies flushed, when the process ends.
    pub(super) fn install_exit_hooks(&self) {
        self.exit_hooks.call_once(|| {
            // SAFETY: `atexit` only stores the function pointer; `at_exit` is an
            // `extern "C" fn()` that never unwinds across the boundary (it only
            // locks, encodes and sends, none of which panics).
            #[allow(unsafe_code)]
            let registered = unsafe { libc::atexit(at_exit) } == 0;
            if !registered {
                debug!("could not register the exit hook; names will expire after their ttl");
            }
            let handler = ctrlc::set_handler(|| {
                if let (Some(discovery), _) = super::get().started() {
                    discovery.unadvertise_all();
                }
                std::process::exit(130);
            });
            if let Err(e) = handler {
                debug!("not handling Ctrl-C ({e}); names will be withdrawn at normal exit only");
            }
        });
    }
}
