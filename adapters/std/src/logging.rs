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
        log::set_max_level(level(std::env::var("NW0_LOG").ok().as_deref()));
    }
}

/// What `NW0_LOG` asks for: warnings and errors unless it names another level.
fn level(nw0_log: Option<&str>) -> LevelFilter {
    match nw0_log {
        Some("debug") => LevelFilter::Debug,
        Some("trace") => LevelFilter::Trace,
        Some("info") => LevelFilter::Info,
        Some("off") => LevelFilter::Off,
        Some("error") => LevelFilter::Error,
        _ => LevelFilter::Warn,
    }
}

#[cfg(test)]
mod tests {
    use log::Level;

    use super::*;

    #[test]
    fn nw0_log_names_a_level_and_anything_else_means_warnings() {
        for (setting, wanted) in [
            (Some("debug"), LevelFilter::Debug),
            (Some("trace"), LevelFilter::Trace),
            (Some("info"), LevelFilter::Info),
            (Some("off"), LevelFilter::Off),
            (Some("error"), LevelFilter::Error),
            (Some("warn"), LevelFilter::Warn),
            (Some("DEBUG"), LevelFilter::Warn),
            (None, LevelFilter::Warn),
        ] {
            assert_eq!(level(setting), wanted, "{setting:?}");
        }
    }

    /// Once networkzero has run, its logger passes what `NW0_LOG` asks for
    /// (warnings when it is unset) and nothing more. No other logger is
    /// installed in this crate's tests, so the first `init` installs ours.
    #[test]
    fn the_logger_passes_the_levels_nw0_log_asks_for() {
        init();
        let wanted = level(std::env::var("NW0_LOG").ok().as_deref());
        assert_eq!(log::max_level(), wanted);
        for l in [
            Level::Error,
            Level::Warn,
            Level::Info,
            Level::Debug,
            Level::Trace,
        ] {
            let metadata = Metadata::builder().level(l).build();
            assert_eq!(Stderr.enabled(&metadata), l <= wanted, "{l}");
        }
    }
}
