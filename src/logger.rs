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
            && (r.level() > log::Level::Warn || client_quirk(r))
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

/// Warnings of a dependency about what a client sent that are no event for
/// an admin: rustls warns of every client that gives an IP address as the
/// TLS server name (RFC 6066 §3 allows only host names; PHP's IMAP and
/// SMTP clients do it whenever configured with an address), once per
/// connection. Such records count as debug records.
fn client_quirk(r: &Record<'_>) -> bool {
    r.target().starts_with("rustls")
        && r.level() == log::Level::Warn
        && r.args()
            .to_string()
            .starts_with("Illegal SNI extension: ignoring IP address")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        target: &str,
        level: log::Level,
        args: std::fmt::Arguments<'_>,
        f: impl FnOnce(&Record<'_>),
    ) {
        f(&Record::builder()
            .target(target)
            .level(level)
            .args(args)
            .build());
    }

    /// A client giving an IP address as TLS server name is a debug matter,
    /// not a warning repeated for every connection.
    #[test]
    fn an_ip_address_as_server_name_is_no_warning() {
        let ip = "127.0.0.1";
        record(
            "rustls::msgs::handshake",
            log::Level::Warn,
            format_args!(
                "Illegal SNI extension: ignoring IP address presented as hostname ({ip:?})"
            ),
            |r| assert!(client_quirk(r)),
        );
        record(
            "rustls::msgs::handshake",
            log::Level::Warn,
            format_args!("Illegal SNI extension: duplicate host_name received"),
            |r| assert!(!client_quirk(r)),
        );
        record(
            "facteur::net",
            log::Level::Warn,
            format_args!("Illegal SNI extension: ignoring IP address"),
            |r| assert!(!client_quirk(r)),
        );
    }
}
