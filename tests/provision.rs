//! Provisioning commands end to end: the real binary's `dns-records`,
//! `dns-check`, `relay test` and `tls` commands, against test servers on
//! loopback.

mod common;

use common::dns::{DnsServer, Zone};
use common::server::{cli, TempDir};
use common::smtp_peer;
use facteur::auth::dkim::{key, Algorithm};
use std::path::{Path, PathBuf};
use std::time::Duration;

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

/// The zone of `example.test` as `dns-records` asks, or with wrong MX,
/// SPF, DKIM and PTR records.
fn zone(dkim: &str, wrong: bool) -> Zone {
    let mut z = Zone::new();
    let host = if wrong {
        "mx.elsewhere.test"
    } else {
        "mail.example.test"
    };
    z.mx("example.test", 10, host)
        .txt(
            "example.test",
            if wrong {
                "v=spf1 a -all"
            } else {
                "v=spf1 mx -all"
            },
        )
        .txt("example.test", "unrelated=1")
        .txt(
            "ed1._domainkey.example.test",
            if wrong {
                "v=DKIM1; k=ed25519; p=b2xk"
            } else {
                dkim
            },
        )
        .txt("_dmarc.example.test", "v=DMARC1; p=none")
        .a("mail.example.test", "192.0.2.10")
        .cname("autoconfig.example.test", "mail.example.test")
        .ptr(
            "192.0.2.10",
            if wrong {
                "host-10.isp.test"
            } else {
                "mail.example.test"
            },
        );
    z
}

#[test]
fn dns_check_compares_published_records() {
    let dir = TempDir::new("dnscheck");
    let config = write_config(dir.path(), "", "");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let k = key::generate(
        &data,
        "example.test",
        Algorithm::Ed25519Sha256,
        Some("ed1"),
        0,
    )
    .expect("key");
    let keys = [k];
    let dkim = keys[0].record();

    let dns = DnsServer::start(zone(&dkim, false));
    let addr = dns.addr().to_string();
    let (ok, out, err) = cli(
        &config,
        &["dns-check", "example.test", "--dns", &addr],
        None,
    );
    assert!(ok, "{out}{err}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        lines,
        [
            "ok    MX example.test",
            "ok    SPF example.test",
            "ok    DKIM ed1._domainkey.example.test",
            "ok    DMARC _dmarc.example.test",
            "ok    CNAME autoconfig.example.test",
            "info  CNAME autodiscover.example.test",
            "ok    PTR 192.0.2.10",
        ],
        "{out}"
    );

    dns.set_zone(zone(&dkim, true));
    // A fresh process: nothing cached.
    let (ok, out, _) = cli(
        &config,
        &["dns-check", "example.test", "--dns", &addr],
        None,
    );
    assert!(!ok, "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(
        lines,
        [
            "WRONG MX example.test",
            "WRONG SPF example.test",
            "WRONG DKIM ed1._domainkey.example.test",
            "ok    DMARC _dmarc.example.test",
            "ok    CNAME autoconfig.example.test",
            "info  CNAME autodiscover.example.test",
            "WRONG PTR 192.0.2.10",
        ],
        "{out}"
    );
    assert!(out.contains("found:    10 mx.elsewhere.test."), "{out}");
    assert!(out.contains("found:    host-10.isp.test."), "{out}");
    assert!(out.contains("expected: v=spf1 mx -all"), "{out}");
}

/// A self-signed certificate for `name` valid from yesterday for `days`,
/// and its key, written as PEM files in `dir`.
fn cert_files(dir: &Path, name: &str, days: i64) -> (PathBuf, PathBuf) {
    let now = facteur::time::unix_now();
    let at = |t: i64| rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(t as u64);
    let mut p = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p.not_before = at(now - 86_400);
    p.not_after = at(now + days * 86_400);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = p.self_signed(&key).expect("cert");
    let (c, k) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert.pem()).expect("cert");
    std::fs::write(&k, key.serialize_pem()).expect("key");
    (c, k)
}

#[test]
fn tls_show_and_install() {
    let dir = TempDir::new("tls");
    let config = write_config(dir.path(), "", "");
    let (cert, key) = cert_files(dir.path(), "new.example.test", 90);
    let (_, other_key) = cert_files(dir.path(), "other.example.test", 90);
    let arg = |p: &Path| p.display().to_string();

    let (ok, _, err) = cli(
        &config,
        &["tls", "install", &arg(&cert), &arg(&other_key)],
        None,
    );
    assert!(!ok && err.contains("does not belong"), "{err}");
    assert!(!dir.path().join("data/tls/cert.pem").exists());

    let (ok, out, err) = cli(&config, &["tls", "install", &arg(&cert), &arg(&key)], None);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = cli(&config, &["tls", "show"], None);
    assert!(ok, "{out}{err}");
    assert!(out.contains("subject:    CN=new.example.test"), "{out}");
    assert!(out.contains("names:      new.example.test"), "{out}");
    let days: i64 = out
        .lines()
        .find_map(|l| l.strip_prefix("days left:"))
        .and_then(|d| d.trim().parse().ok())
        .expect("days left");
    assert!((89..=90).contains(&days), "{out}");
    assert_eq!(
        std::fs::read(dir.path().join("data/tls/cert.pem")).expect("installed"),
        std::fs::read(&cert).expect("cert")
    );
}

#[test]
fn relay_test_authenticates_without_sending() {
    let dir = TempDir::new("relaytest");
    let mut zone = Zone::new();
    zone.a("relay.example.test", "127.0.0.1");
    let dns = DnsServer::start(zone);
    let (peer, ca) = smtp_peer::login_relay(
        dir.path(),
        "relay.example.test",
        "office",
        "s3cret-relay-pw",
    );
    let config = |password: &str| {
        write_config(
            dir.path(),
            "",
            &format!(
                "[dns]\nnameservers = [\"{}\"]\ntimeout = \"2s\"\nattempts = 1\n\
                 [relay]\nhost = \"relay.example.test\"\nport = {}\ntls = \"starttls\"\n\
                 username = \"office\"\npassword = \"{password}\"\nca_file = \"{}\"\n",
                dns.addr(),
                peer.addr().port(),
                ca.display()
            ),
        )
    };

    let (ok, out, err) = cli(&config("s3cret-relay-pw"), &["relay", "test"], None);
    assert!(ok, "{out}{err}");
    assert!(out.contains("S: 220 "), "{out}");
    assert!(out.contains("C: STARTTLS"), "{out}");
    assert!(out.contains("-- TLS established"), "{out}");
    assert!(
        out.contains("C: AUTH PLAIN (credentials of office)"),
        "{out}"
    );
    assert!(out.contains("S: 235"), "{out}");
    assert!(out.contains("S: 221"), "{out}");
    assert!(out.ends_with("the relay works\n"), "{out}");

    let (ok, out, err) = cli(&config("wrong-password"), &["relay", "test"], None);
    assert!(!ok, "{out}{err}");
    assert!(out.contains("S: 535"), "{out}");
    assert!(out.contains("-- failed: expected 235, got 535"), "{out}");
    for o in [&out, &err] {
        assert!(
            !o.contains("wrong-password") && !o.contains("s3cret"),
            "{o}"
        );
    }
    assert!(peer.accepted().is_empty(), "no mail was sent");
}
