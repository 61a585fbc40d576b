//! Warnings a beginner sees without setting anything up.
//!
//! networkzero logs through the `log` crate. If the program has installed no
//! logger by the time networkzero first runs, a small one is installed that
//! prints warnings and errors to stderr (and more with `NW0_LOG=debug`), as
//! Python networkzero's warnings appear by default.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Info => "info",
                Level::Debug => "debug",
                Level::Trace => "trace",
            };
            eprintln!("networkzero {level}: {}", record.args());
        }
    }

    fn flush(&self) {}
}

/// Installs the stderr logger unless a logger (the program's, or ours from
/// an earlier call) is installed; the `log` crate keeps it, so this module
/// needs no global of its own. (`Stderr` has no fields: the box allocates
/// nothing.)
pub(crate) fn init() {
    if log::set_boxed_logger(Box::new(Stderr)).is_ok() {
        let level = match std::env::var("NW0_LOG").as_deref() {
            Ok("debug") => LevelFilter::Debug,
            Ok("trace") => LevelFilter::Trace,
            Ok("info") => LevelFilter::Info,
            Ok("off") => LevelFilter::Off,
            Ok("error") => LevelFilter::Error,
            _ => LevelFilter::Warn,
        };
        log::set_max_level(level);
    }
}
