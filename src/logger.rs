//! A small stderr backend for the `log` crate: one line per record with a
//! UTC timestamp, the level and the module. The level comes from the config
//! unless `RUST_LOG` names one. When stderr is the journal (under systemd),
//! a line starts with its syslog priority instead of the timestamp.
//!
//! The last [`RING_LINES`] lines are also kept in memory, for the admin
//! pages and `facteur log` ([`tail`]).

use log::{LevelFilter, Log, Metadata, Record};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Lines kept in memory.
pub const RING_LINES: usize = 500;

/// Longest line kept in memory, in bytes; longer ones are cut. With
/// [`RING_LINES`], the ring holds at most 500 × 512 bytes (256 KiB); a
/// line is usually about 120.
pub const RING_LINE_MAX: usize = 512;

/// The last lines, oldest first. When full, the oldest line's buffer is
/// reused for the newest, so the ring stops allocating once it is full.
static RING: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// Keeps `line` (without its newline) in the ring.
fn remember(line: &str) {
    let mut cut = line.len().min(RING_LINE_MAX);
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    let line = &line[..cut];
    let mut ring = RING.lock().unwrap_or_else(|p| p.into_inner());
    if ring.capacity() < RING_LINES {
        let len = ring.len();
        ring.reserve_exact(RING_LINES - len);
    }
    let mut slot = if ring.len() >= RING_LINES {
        ring.pop_front().unwrap_or_default()
    } else {
        String::with_capacity(line.len())
    };
    slot.clear();
    slot.push_str(line);
    ring.push_back(slot);
}

/// The last `n` lines kept (at most [`RING_LINES`]), oldest first.
pub fn tail(n: usize) -> Vec<String> {
    let ring = RING.lock().unwrap_or_else(|p| p.into_inner());
    let skip = ring.len().saturating_sub(n);
    ring.iter().skip(skip).cloned().collect()
}

struct Stderr {
    /// Stderr is systemd's journal stream: "<N>" prefixes, no timestamp.
    journal: AtomicBool,
}

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
        let journal = self.journal.load(Ordering::Relaxed);
        let line = format_line(r, journal);
        // One write per line keeps concurrent lines whole.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
        // The ring keeps the timestamped form, which the journal's lines lack.
        if journal {
            remember(format_line(r, false).trim_end_matches('\n'));
        } else {
            remember(line.trim_end_matches('\n'));
        }
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

/// One log line. For the journal, it starts with the record's syslog
/// priority as "<N>" (sd-daemon(3); journald reads it while the unit keeps
/// SyslogLevelPrefix=yes, the default), and journald adds the time.
fn format_line(r: &Record<'_>, journal: bool) -> String {
    if journal {
        format!(
            "<{}>{:<5} {}: {}\n",
            syslog_priority(r.level()),
            r.level(),
            r.target(),
            r.args()
        )
    } else {
        format!(
            "{} {:<5} {}: {}\n",
            crate::time::rfc3339(crate::time::unix_now()),
            r.level(),
            r.target(),
            r.args()
        )
    }
}

/// The syslog severity of a level (RFC 5424 §6.2.1): err, warning, info,
/// debug.
fn syslog_priority(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// Whether stderr is the stream systemd connected to the journal: systemd
/// sets JOURNAL_STREAM to its "DEVICE:INODE" (systemd.exec(5)). A process
/// that inherited the variable but writes elsewhere (a command run from a
/// shell the unit started) must not match, hence the fstat.
fn stderr_is_journal() -> bool {
    let Ok(var) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    match rustix::fs::fstat(std::io::stderr()) {
        Ok(st) => journal_stream_matches(&var, st.st_dev, st.st_ino),
        Err(_) => false,
    }
}

fn journal_stream_matches(var: &str, dev: u64, ino: u64) -> bool {
    let Some((d, i)) = var.split_once(':') else {
        return false;
    };
    d.parse::<u64>().ok() == Some(dev) && i.parse::<u64>().ok() == Some(ino)
}

static LOGGER: Stderr = Stderr {
    journal: AtomicBool::new(false),
};

/// Installs the logger with `level`, or `RUST_LOG` (error..trace) if set.
pub fn init(level: LevelFilter) {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(level);
    LOGGER.journal.store(stderr_is_journal(), Ordering::Relaxed);
    // A second init (tests) keeps the first logger.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ring keeps the last 500 lines, cut to their limit, and once
    /// full it reuses its buffers instead of allocating.
    #[test]
    fn the_ring_keeps_the_last_lines_in_bounded_memory() {
        for i in 0..RING_LINES + 20 {
            remember(&format!("ring line {i}"));
        }
        let last = tail(3);
        assert_eq!(
            last,
            [
                format!("ring line {}", RING_LINES + 17),
                format!("ring line {}", RING_LINES + 18),
                format!("ring line {}", RING_LINES + 19),
            ]
        );
        let all = tail(usize::MAX);
        assert_eq!(all.len(), RING_LINES);
        assert_eq!(all[0], "ring line 20");
        remember(&"é".repeat(RING_LINE_MAX));
        let long = tail(1).remove(0);
        assert!(long.len() <= RING_LINE_MAX && long.len() >= RING_LINE_MAX - 1);
        // Full: another line costs no new buffer (the ring's buffers are
        // the same allocations, rotated).
        let ring = RING.lock().unwrap();
        let capacity = ring.capacity();
        let before: Vec<*const u8> = ring.iter().map(|s| s.as_ptr()).collect();
        drop(ring);
        remember("one more");
        let ring = RING.lock().unwrap();
        assert_eq!(ring.capacity(), capacity);
        let after: std::collections::HashSet<*const u8> = ring.iter().map(|s| s.as_ptr()).collect();
        assert!(before.iter().all(|p| after.contains(p)));
    }

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

    /// Under systemd, each line starts with its syslog priority for
    /// journald, and journald's own timestamp replaces ours.
    #[test]
    fn journal_lines_carry_their_priority() {
        let cases = [
            (log::Level::Error, "<3>ERROR"),
            (log::Level::Warn, "<4>WARN "),
            (log::Level::Info, "<6>INFO "),
            (log::Level::Debug, "<7>DEBUG"),
            (log::Level::Trace, "<7>TRACE"),
        ];
        for (level, start) in cases {
            record("facteur::net", level, format_args!("x"), |r| {
                let l = format_line(r, true);
                assert!(l.starts_with(start), "{l:?}");
                assert!(l.ends_with(" facteur::net: x\n"), "{l:?}");
                let plain = format_line(r, false);
                assert!(plain.starts_with("20"), "{plain:?}");
                assert!(!plain.starts_with('<'), "{plain:?}");
            });
        }
    }

    /// JOURNAL_STREAM names the stream systemd connected; a process that
    /// inherited the variable with another stderr keeps the plain format.
    #[test]
    fn journal_stream_must_name_this_stderr() {
        assert!(journal_stream_matches("8:1234", 8, 1234));
        assert!(!journal_stream_matches("8:1234", 8, 1235));
        assert!(!journal_stream_matches("9:1234", 8, 1234));
        assert!(!journal_stream_matches("", 8, 1234));
        assert!(!journal_stream_matches("8", 8, 1234));
        assert!(!journal_stream_matches("8:x", 8, 1234));
    }
}
