//! Provisioning commands end to end: the real binary's `dns-records`,
//! `dns-check`, `relay test` and `tls` commands, against test servers on
//! loopback.

mod common;

use common::server::{cli, TempDir};
use std::path::{Path, PathBuf};

/// A config (written to `dir`) for `mail.example.test` with the given
/// `[listen]` lines and more tables; nothing is started from it.
fn write_config(dir: &Path, listen: &str, extra: &str) -> PathBuf {
    let path = dir.join("facteur.toml");
    let text = format!(
        "[server]\nhostname = \"mail.example.test\"\ndata_dir = \"{}\"\n\
         domains = [\"example.test\"]\n\n[listen]\n{listen}\n{extra}\n",
        dir.join("data").display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn dns_records_include_client_discovery() {
    let dir = TempDir::new("records");
    let config = write_config(
        dir.path(),
        "imaps = \"127.0.0.1:993\"\nimap = []\npop3 = []\npop3s = []\n\
         submissions = \"127.0.0.1:465\"\nsubmission = \"127.0.0.1:587\"",
        "",
    );
    let (ok, out, err) = cli(&config, &["dns-records", "Example.TEST"], None);
    assert!(ok, "{out}{err}");
    let records: Vec<&str> = out.lines().filter(|l| !l.starts_with(';')).collect();
    for want in [
        "example.test. IN MX 10 mail.example.test.",
        "_imaps._tcp.example.test. IN SRV 0 1 993 mail.example.test.",
        "_imap._tcp.example.test. IN SRV 0 0 0 .",
        "_pop3s._tcp.example.test. IN SRV 0 0 0 .",
        "_pop3._tcp.example.test. IN SRV 0 0 0 .",
        "_submissions._tcp.example.test. IN SRV 0 1 465 mail.example.test.",
        "_submission._tcp.example.test. IN SRV 10 1 587 mail.example.test.",
        "autoconfig.example.test. IN CNAME mail.example.test.",
        "autodiscover.example.test. IN CNAME mail.example.test.",
    ] {
        assert!(records.contains(&want), "{want} missing from:\n{out}");
    }
    assert!(out.contains("facteur dkim generate example.test"), "{out}");
    let (ok, _, err) = cli(&config, &["dns-records", "not a domain"], None);
    assert!(!ok && err.contains("not a domain name"), "{err}");
}
