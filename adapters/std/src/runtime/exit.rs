//! The only code that runs after `main` returns, and what it does: as
//! Python networkzero does with `atexit`,
//!
//! 1. says goodbye for every advertised name, so peers forget them at once
//!    instead of after the 20 s ttl (one UDP datagram per name and
//!    interface, sent from the exiting thread);
//! 2. flushes what the program queued — a reply or an ack sent just before
//!    exit, the last news items — and closes the sockets, waiting at most
//!    [`EXIT_FLUSH`](crate::messaging::EXIT_FLUSH) (libzmq: its linger and
//!    the context's end; pure-Rust: its I/O thread's drain). It ends as
//!    soon as everything is written; sockets another thread is still
//!    using are left to that thread.
//!
//! Nothing is started here: a part of the runtime that never ran is
//! skipped. Two ways a classroom program ends are covered: returning from
//! `main` (or `std::process::exit`), through the C library's `atexit`, and
//! Ctrl-C or a kill (SIGINT/SIGTERM), through a signal handler that says
//! goodbye and then exits with the usual code 130 (running the same hook).
//! A program that installs its own Ctrl-C handler keeps it; networkzero
//! then only covers the normal exit. Tested by `tests/tests/messaging.rs`
//! (`ack_sent_just_before_exit_is_delivered`, `last_news_before_exit_is_delivered`)
//! and the goodbye tests of `tests/tests/discovery.rs`.

use std::sync::atomic::Ordering;

use log::debug;

use super::Runtime;

extern "C" fn at_exit() {
    super::get().at_exit();
}

impl Runtime {
    /// Says goodbye for every advertised name, then flushes what was queued.
    fn at_exit(&self) {
        self.exiting.store(true, Ordering::Relaxed);
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
