//! Metrics: counters and gauges as the Prometheus text exposition format
//! (version 0.0.4, what `GET /metrics` answers) and as plain lines for
//! `facteur status`. The values come from their owners; [`health`] reads
//! the gauges that need no counting (RSS, free disk, age of the last good
//! backup).
//!
//! # Examples
//!
//! ```
//! use facteur::metrics::{render_prometheus, Family};
//!
//! let refused = Family::counter("facteur_messages_refused_total", "Messages refused.")
//!     .with(&[("reason", "spam")], 3.0);
//! let text = render_prometheus(&[refused]);
//! let lines: Vec<&str> = text.lines().collect();
//! assert_eq!(lines[0], "# HELP facteur_messages_refused_total Messages refused.");
//! assert_eq!(lines[1], "# TYPE facteur_messages_refused_total counter");
//! assert_eq!(lines[2], "facteur_messages_refused_total{reason=\"spam\"} 3");
//! ```

use crate::store::Store;
use std::fmt::Write;
use std::path::Path;
use std::time::SystemTime;

/// Whether a metric only grows or goes up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only grows (from the start of the process).
    Counter,
    /// A value now.
    Gauge,
}

/// One metric and its samples (one per set of labels).
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total`.
    pub name: &'static str,
    /// One line saying what it counts.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// Label pairs and value of each sample.
    pub samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    /// A counter with no samples yet.
    pub fn counter(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            kind: Kind::Counter,
            samples: Vec::new(),
        }
    }

    /// A gauge with no samples yet.
    pub fn gauge(name: &'static str, help: &'static str) -> Family {
        Family {
            kind: Kind::Gauge,
            ..Family::counter(name, help)
        }
    }

    /// Adds a sample.
    pub fn with(mut self, labels: &[(&'static str, &str)], value: f64) -> Family {
        let labels = labels.iter().map(|&(k, v)| (k, v.to_string())).collect();
        self.samples.push((labels, value));
        self
    }
}

/// The families in the Prometheus text format: `# HELP`, `# TYPE`, then
/// one line per sample. A family without samples is left out.
pub fn render_prometheus(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let kind = match f.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        // HELP text escapes backslash and line feed; label values also
        // the double quote.
        let help = f.help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(out, "# HELP {} {help}", f.name);
        let _ = writeln!(out, "# TYPE {} {kind}", f.name);
        for (labels, value) in &f.samples {
            out.push_str(f.name);
            if !labels.is_empty() {
                let pairs: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| {
                        let v = v
                            .replace('\\', "\\\\")
                            .replace('"', "\\\"")
                            .replace('\n', "\\n");
                        format!("{k}=\"{v}\"")
                    })
                    .collect();
                let _ = write!(out, "{{{}}}", pairs.join(","));
            }
            let _ = writeln!(out, " {}", number(*value));
        }
    }
    out
}

/// The families as lines for people: `help: value`, labels in brackets.
pub fn render_human(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        let what = f.help.trim_end_matches('.');
        for (labels, value) in &f.samples {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k} {v}")).collect();
            if labels.is_empty() {
                let _ = writeln!(out, "{what}: {}", number(*value));
            } else {
                let _ = writeln!(out, "{what} ({}): {}", labels.join(", "), number(*value));
            }
        }
    }
    out
}

/// A sample value: whole numbers without a fraction.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The counters of [`crate::stats`] since the start, and the connections
/// open now per service.
pub fn counters() -> Vec<Family> {
    use crate::stats::{connections, logins, refused_total, total, Event, Refusal, SERVICES};
    let event = |name, help, e| Family::counter(name, help).with(&[], total(e) as f64);
    let mut refused = Family::counter(
        "facteur_refused_total",
        "Messages and recipients refused (reason: the SMTP stage).",
    );
    for r in Refusal::ALL {
        refused = refused.with(&[("reason", r.label())], refused_total(r) as f64);
    }
    let mut ok = Family::counter("facteur_logins_total", "Logins.");
    let mut failed = Family::counter("facteur_logins_failed_total", "Failed logins.");
    let mut open = Family::gauge("facteur_connections", "Connections open now.");
    for s in SERVICES {
        let (good, bad) = logins(s);
        ok = ok.with(&[("service", s)], good as f64);
        failed = failed.with(&[("service", s)], bad as f64);
        open = open.with(&[("service", s)], connections(s) as f64);
    }
    vec![
        event(
            "facteur_messages_received_total",
            "Messages accepted over SMTP.",
            Event::Received,
        ),
        event(
            "facteur_messages_delivered_total",
            "Deliveries to local mailboxes and remote recipients.",
            Event::Delivered,
        ),
        event(
            "facteur_messages_junked_total",
            "Copies filed in a Junk folder.",
            Event::Junked,
        ),
        refused,
        event(
            "facteur_messages_sent_total",
            "Recipients accepted by remote servers.",
            Event::SentOut,
        ),
        event(
            "facteur_messages_deferred_total",
            "Remote deliveries to one recipient that failed for now.",
            Event::Deferred,
        ),
        event(
            "facteur_messages_bounced_total",
            "Remote deliveries to one recipient that failed for good.",
            Event::Bounced,
        ),
        ok,
        failed,
        open,
    ]
}

/// The gauges read from the system and the store: resident memory, free
/// space in the data dir, and the age of the newest complete backup in
/// `backup_dir` (none there: no sample).
pub fn health(store: &Store, backup_dir: Option<&Path>, now: SystemTime) -> Vec<Family> {
    let mut out = Vec::new();
    if let Some(kib) = resident_kib() {
        out.push(
            Family::gauge("facteur_resident_memory_bytes", "Resident memory in bytes.")
                .with(&[], (kib * 1024) as f64),
        );
    }
    if let Some(space) = store.space() {
        out.push(
            Family::gauge(
                "facteur_data_dir_free_bytes",
                "Free space in the data dir in bytes.",
            )
            .with(&[], space.available as f64),
        );
    }
    let age = backup_dir
        .and_then(crate::backup::last_backup)
        .and_then(|t| now.duration_since(t).ok());
    if let Some(age) = age {
        out.push(
            Family::gauge(
                "facteur_last_backup_age_seconds",
                "Age of the last good backup in seconds.",
            )
            .with(&[], age.as_secs() as f64),
        );
    }
    out
}

/// `VmRSS` of this process, from `/proc/self/status`.
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks one exposition against the text format's grammar: HELP and
    /// TYPE before a family's samples, each family once, names and label
    /// names well formed, label values properly quoted, values numbers.
    fn check_exposition(text: &str) -> Result<usize, String> {
        fn name_ok(n: &str) -> bool {
            let mut c = n.chars();
            matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
                && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
        }
        let mut typed: Vec<String> = Vec::new();
        let mut samples = 0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or("");
                if !name_ok(name) || typed.iter().any(|t| t == name) {
                    return Err(format!("bad HELP {line}"));
                }
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').ok_or(line)?;
                if !matches!(kind, "counter" | "gauge") || typed.iter().any(|t| t == name) {
                    return Err(format!("bad TYPE {line}"));
                }
                typed.push(name.to_string());
            } else {
                let end = line.find(['{', ' ']).ok_or(line)?;
                let name = &line[..end];
                if typed.last().map(String::as_str) != Some(name) {
                    return Err(format!("sample outside its family: {line}"));
                }
                let mut rest = &line[end..];
                if let Some(r) = rest.strip_prefix('{') {
                    rest = r;
                    loop {
                        let (k, r) = rest.split_once("=\"").ok_or(line)?;
                        if !name_ok(k) {
                            return Err(format!("bad label name {k}"));
                        }
                        let mut chars = r.char_indices();
                        let close = loop {
                            match chars.next() {
                                Some((_, '\\')) => {
                                    let (_, e) = chars.next().ok_or(line)?;
                                    if !matches!(e, '\\' | '"' | 'n') {
                                        return Err(format!("bad escape in {line}"));
                                    }
                                }
                                Some((i, '"')) => break i,
                                Some((_, '\n')) | None => return Err(format!("open {line}")),
                                Some(_) => {}
                            }
                        };
                        rest = &r[close + 1..];
                        if let Some(r) = rest.strip_prefix(',') {
                            rest = r;
                        } else if let Some(r) = rest.strip_prefix('}') {
                            rest = r;
                            break;
                        } else {
                            return Err(format!("bad labels {line}"));
                        }
                    }
                }
                let value = rest.strip_prefix(' ').ok_or(line)?;
                if value.parse::<f64>().is_err() && !matches!(value, "NaN" | "+Inf" | "-Inf") {
                    return Err(format!("bad value {line}"));
                }
                samples += 1;
            }
        }
        Ok(samples)
    }

    #[test]
    fn renders_the_text_format() {
        let families = [
            Family::counter("facteur_logins_failed_total", "Failed logins.")
                .with(&[("service", "imap")], 2.0)
                .with(&[("service", "pop3")], 0.0),
            Family::counter("facteur_messages_refused_total", "Refused \\ messages.")
                .with(&[("reason", "a \"quoted\"\nback\\slash")], 1.0),
            Family::gauge("facteur_queue_length", "Messages waiting.").with(&[], 0.5),
            Family::gauge("facteur_empty", "No samples: left out."),
        ];
        let text = render_prometheus(&families);
        assert_eq!(check_exposition(&text), Ok(4), "{text}");
        assert!(text.contains("{reason=\"a \\\"quoted\\\"\\nback\\\\slash\"} 1\n"));
        assert!(text.contains("# HELP facteur_messages_refused_total Refused \\\\ messages.\n"));
        assert!(text.contains("facteur_queue_length 0.5\n"));
        assert!(!text.contains("facteur_empty"));
        let human = render_human(&families);
        assert!(
            human.contains("Failed logins (service imap): 2\n"),
            "{human}"
        );
    }

    #[test]
    fn the_checker_catches_bad_expositions() {
        for bad in [
            "x 1\n",
            "# TYPE x counter\nx{a=\"b} 1\n",
            "# TYPE x counter\nx{a=\"\\q\"} 1\n",
            "# TYPE x counter\nx one\n",
            "# TYPE x counter\n# TYPE x counter\n",
        ] {
            assert!(check_exposition(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn health_reads_memory_disk_and_backup_age() {
        let dir = crate::testing::temp_dir("metrics");
        let store = crate::testing::store_with_account(&dir.join("data"));
        let dest = dir.join("backups");
        let none = health(&store, Some(&dest), SystemTime::now());
        assert!(!none
            .iter()
            .any(|f| f.name == "facteur_last_backup_age_seconds"));
        crate::backup::snapshot(&store, &dest, 0, false).unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(3600);
        let all = health(&store, Some(&dest), later);
        let text = render_prometheus(&all);
        assert_eq!(check_exposition(&text), Ok(3), "{text}");
        let age = all
            .iter()
            .find(|f| f.name == "facteur_last_backup_age_seconds")
            .unwrap();
        assert!((3599.0..3700.0).contains(&age.samples[0].1), "{age:?}");
    }
}
