//! A small stderr backend for the `log` crate: one line per record with a
//! UTC timestamp, the level and the module. The level comes from the config
//! unless `RUST_LOG` names one.

use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct Stderr;

impl Log for Stderr {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        // Dependencies (sled, rustls) are only interesting when debugging.
        if !r.target().starts_with("facteur")
            && r.level() > log::Level::Warn
            && log::max_level() < LevelFilter::Trace
        {
            return;
        }
        let line = format!(
            "{} {:<5} {}: {}\n",
            crate::time::rfc3339(crate::time::unix_now()),
            r.level(),
            r.target(),
            r.args()
        );
        // One write per line keeps concurrent lines whole.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

static LOGGER: Stderr = Stderr;

/// Installs the logger with `level`, or `RUST_LOG` (error..trace) if set.
pub fn init(level: LevelFilter) {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(level);
    // A second init (tests) keeps the first logger.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
