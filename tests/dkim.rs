//! DKIM signatures made by facteur, checked by another implementation:
//! Debian's python3-dkim (dkimpy), which fetches the key records from the
//! test DNS server over loopback (with dnslib). Also the key commands of
//! the CLI, whose printed records must be the ones verifiers accept.
//!
//! Without /usr/bin/python3 and its dkim, dnslib and nacl modules the tests
//! print a note and pass, unless `FACTEUR_TEST_STRICT=1`, when they fail.

mod common;

use common::dkim::{have_verifier, verify};
use common::dns::{DnsServer, Zone};
use common::server::{cli, test_config, Server, TempDir};
use facteur::auth::dkim::{key, Algorithm, Signer, SigningKey};
use std::path::Path;
use std::time::Duration;

/// A DNS server publishing the records of `keys`.
fn dns_for(keys: &[SigningKey]) -> DnsServer {
    let mut z = Zone::new();
    for k in keys {
        z.txt(&k.record_name(), &k.record());
    }
    DnsServer::start(z)
}

/// Signs `msg` fed in `chunk`-byte pieces; returns signature fields + msg.
fn signed(keys: &[SigningKey], msg: &[u8], chunk: usize) -> Vec<u8> {
    let mut s = Signer::new(keys, facteur::time::unix_now());
    for c in msg.chunks(chunk) {
        s.update(c);
    }
    let mut out = s.finish().expect("sign").into_bytes();
    out.extend_from_slice(msg);
    out
}

fn new_key(dir: &Path, domain: &str, algorithm: Algorithm, selector: &str) -> SigningKey {
    key::generate(
        dir,
        domain,
        algorithm,
        Some(selector),
        facteur::time::unix_now(),
    )
    .expect("generate key")
}

/// Changes one byte of the body (the last letter before the final CRLF).
fn tamper(msg: &[u8]) -> Vec<u8> {
    let mut m = msg.to_vec();
    let i = m
        .iter()
        .rposition(u8::is_ascii_alphabetic)
        .expect("a letter");
    m[i] ^= 0x20;
    m
}

const SIMPLE: &[u8] = b"From: Alice <alice@example.test>\r\n\
To: Bob <bob@example.net>\r\n\
Subject: Lunch\r\n\
Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\
Message-ID: <1@example.test>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello Bob,\r\n\
\r\n\
Noon at the usual place?\r\n";

#[test]
fn rsa_signature_verifies_and_tampering_fails() {
    if !have_verifier() {
        return;
    }
    let dir = TempDir::new("dkim-rsa");
    let k = new_key(dir.path(), "example.test", Algorithm::RsaSha256, "r1");
    let dns = dns_for(std::slice::from_ref(&k));
    let msg = signed(std::slice::from_ref(&k), SIMPLE, 64);
    assert!(msg.starts_with(b"DKIM-Signature: v=1; a=rsa-sha256;"));
    assert_eq!(verify(dir.path(), &dns, &msg), ["pass"]);
    assert_eq!(verify(dir.path(), &dns, &tamper(&msg)), ["fail"]);
}

#[test]
fn ed25519_signature_verifies_and_tampering_fails() {
    if !have_verifier() {
        return;
    }
    let dir = TempDir::new("dkim-ed");
    let k = new_key(dir.path(), "example.test", Algorithm::Ed25519Sha256, "e1");
    let dns = dns_for(std::slice::from_ref(&k));
    let msg = signed(std::slice::from_ref(&k), SIMPLE, 5);
    assert!(msg.starts_with(b"DKIM-Signature: v=1; a=ed25519-sha256;"));
    assert_eq!(verify(dir.path(), &dns, &msg), ["pass"]);
    assert_eq!(verify(dir.path(), &dns, &tamper(&msg)), ["fail"]);
}

#[test]
fn dual_signature_both_verify_and_added_headers_break_them() {
    if !have_verifier() {
        return;
    }
    let dir = TempDir::new("dkim-dual");
    new_key(dir.path(), "example.test", Algorithm::RsaSha256, "r1");
    new_key(dir.path(), "example.test", Algorithm::Ed25519Sha256, "e1");
    let keys = key::load_active(dir.path(), "example.test").unwrap();
    assert_eq!(keys.len(), 2);
    let dns = dns_for(&keys);
    let msg = signed(&keys, SIMPLE, 1);
    assert_eq!(verify(dir.path(), &dns, &msg), ["pass", "pass"]);

    // Over-signing: a second Subject (or From) added anywhere in the header
    // breaks both signatures.
    let text = String::from_utf8(msg.clone()).unwrap();
    let extra_subject = text.replace("Subject: Lunch\r\n", "Subject: Lunch\r\nSubject: Win!\r\n");
    assert_eq!(
        verify(dir.path(), &dns, extra_subject.as_bytes()),
        ["fail", "fail"]
    );
    let extra_from = text.replace("To: Bob", "From: eve@evil.test\r\nTo: Bob");
    assert_eq!(
        verify(dir.path(), &dns, extra_from.as_bytes()),
        ["fail", "fail"]
    );
    // A field that is not signed may be added (as relays add Received).
    let received = format!("Received: from relay.test by mx.test\r\n{text}");
    assert_eq!(
        verify(dir.path(), &dns, received.as_bytes()),
        ["pass", "pass"]
    );
}

#[test]
fn long_body_in_small_chunks() {
    if !have_verifier() {
        return;
    }
    let dir = TempDir::new("dkim-long");
    let k = new_key(dir.path(), "example.test", Algorithm::Ed25519Sha256, "e1");
    let dns = dns_for(std::slice::from_ref(&k));
    let mut msg =
        b"From: alice@example.test\r\nTo: bob@example.net\r\nSubject: report\r\n\r\n".to_vec();
    for i in 0..20_000 {
        // Whitespace runs, trailing blanks and empty lines, which relaxed
        // canonicalisation rewrites.
        msg.extend(format!("line {i}  with\t\tspaces   \r\n").as_bytes());
        if i % 97 == 0 {
            msg.extend(b"\r\n  \r\n");
        }
    }
    msg.extend(b"\r\n\r\n\r\n");
    assert!(msg.len() > 500_000);
    let signed_msg = signed(std::slice::from_ref(&k), &msg, 7);
    assert_eq!(verify(dir.path(), &dns, &signed_msg), ["pass"]);
    assert_eq!(verify(dir.path(), &dns, &tamper(&signed_msg)), ["fail"]);
}

#[test]
fn eight_bit_body_and_folded_headers() {
    if !have_verifier() {
        return;
    }
    let dir = TempDir::new("dkim-8bit");
    let k = new_key(dir.path(), "example.test", Algorithm::RsaSha256, "r1");
    let dns = dns_for(std::slice::from_ref(&k));
    let mut msg = b"From: \"Alice\r\n\t Martin\" <alice@example.test>\r\n\
To: bob@example.net,\r\n  carol@example.net,\r\n\tdave@example.net\r\n\
Subject: =?utf-8?q?R=C3=A9union?=\r\n   du   lundi\r\n\
Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n"
        .to_vec();
    msg.extend("Réunion à 10h, café offert. Grüße.\r\n".as_bytes());
    msg.extend(b"Latin-1: caf\xe9 \xe0 \xff\xfe\r\n");
    let signed_msg = signed(std::slice::from_ref(&k), &msg, 3);
    assert_eq!(verify(dir.path(), &dns, &signed_msg), ["pass"]);
    assert_eq!(verify(dir.path(), &dns, &tamper(&signed_msg)), ["fail"]);
}

#[test]
fn bare_lf_input_signs_what_goes_on_the_wire() {
    if !have_verifier() {
        return;
    }
    let dir = TempDir::new("dkim-lf");
    let k = new_key(dir.path(), "example.test", Algorithm::Ed25519Sha256, "e1");
    let dns = dns_for(std::slice::from_ref(&k));
    // Signed as stored (LF line ends); sent with CRLF, as SMTP requires.
    let lf: Vec<u8> = String::from_utf8(SIMPLE.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
        .into_bytes();
    let mut s = Signer::new(std::slice::from_ref(&k), facteur::time::unix_now());
    s.update(&lf);
    let mut wire = s.finish().unwrap().into_bytes();
    wire.extend_from_slice(SIMPLE);
    assert_eq!(verify(dir.path(), &dns, &wire), ["pass"]);
}

/// The record text of a zone file line: its quoted strings, joined.
fn zone_txt(line: &str) -> String {
    line.split('"').skip(1).step_by(2).collect()
}

#[test]
fn cli_keys_and_printed_records_verify() {
    if !have_verifier() {
        return;
    }
    let dir = TempDir::new("dkim-cli");
    let config = dir.path().join("facteur.toml");
    std::fs::write(&config, test_config(dir.path(), "")).unwrap();
    let data = dir.path().join("data");

    let (ok, out, err) = cli(
        &config,
        &[
            "dkim",
            "generate",
            "example.test",
            "--algorithm",
            "ed25519",
            "--selector",
            "ed1",
        ],
        None,
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("ed1._domainkey.example.test. IN TXT \"v=DKIM1; k=ed25519; p="),
        "{out}"
    );
    let (ok, out, err) = cli(&config, &["dkim", "generate", "example.test"], None);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("._domainkey.example.test. IN TXT ( \"v=DKIM1; k=rsa; p="),
        "{out}"
    );
    // The same selector twice is refused.
    let (ok, _, err) = cli(
        &config,
        &["dkim", "generate", "example.test", "--selector", "ed1"],
        None,
    );
    assert!(!ok && err.contains("exists"), "{err}");

    // A domain added without a key gets one (no server running: the CLI
    // opens the store itself).
    let (ok, out, err) = cli(&config, &["domain", "add", "new.example"], None);
    assert!(ok, "{out}{err}");
    assert!(out.contains("generated the DKIM key rsa-"), "{out}");
    assert_eq!(key::load_active(&data, "new.example").unwrap().len(), 1);

    let (ok, out, err) = cli(&config, &["dns-records", "example.test"], None);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("example.test. IN MX 10 mail.example.test."),
        "{out}"
    );
    assert!(
        out.contains("example.test. IN TXT \"v=spf1 mx -all\""),
        "{out}"
    );
    assert!(
        out.contains("_dmarc.example.test. IN TXT \"v=DMARC1;"),
        "{out}"
    );
    let mut z = Zone::new();
    let mut published = 0;
    for line in out.lines().filter(|l| l.contains("._domainkey.")) {
        let name = line.split_whitespace().next().unwrap();
        for s in line.split('"').skip(1).step_by(2) {
            assert!(s.len() <= 255, "{s}");
        }
        z.txt(name, &zone_txt(line));
        published += 1;
    }
    assert_eq!(published, 2, "{out}");
    let dns = DnsServer::start(z);

    // Mail signed with the active keys verifies against what was printed.
    let keys = key::load_active(&data, "example.test").unwrap();
    assert_eq!(keys.len(), 2);
    let msg = signed(&keys, SIMPLE, 100);
    assert_eq!(verify(dir.path(), &dns, &msg), ["pass", "pass"]);

    // With a relay, SPF is left for the administrator to complete.
    std::fs::write(
        &config,
        test_config(dir.path(), "[relay]\nhost = \"smtp.provider.test\"\n"),
    )
    .unwrap();
    let (ok, out, err) = cli(&config, &["dns-records", "example.test"], None);
    assert!(ok, "{out}{err}");
    assert!(
        !out.lines().any(|l| l.starts_with("example.test. IN TXT")),
        "{out}"
    );
    assert!(out.contains("smtp.provider.test"), "{out}");
}

/// Polls until `domain` has an active key under `data`, for at most 60 s.
fn wait_for_key(data: &Path, domain: &str) -> Vec<SigningKey> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let keys = key::load_active(data, domain).unwrap();
        if !keys.is_empty() || std::time::Instant::now() > deadline {
            return keys;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn running_server_makes_keys_for_its_domains() {
    let srv = Server::start("");
    let data = srv.dir.path().join("data");
    // The configured domain gets a key at the first start, in the background.
    let keys = wait_for_key(&data, "example.test");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].algorithm(), Algorithm::RsaSha256);
    // So does a domain added while the server runs.
    let (ok, out, err) = srv.cli(&["domain", "add", "added.test"], None);
    assert!(ok, "{out}{err}");
    assert!(out.contains("DKIM key is being generated"), "{out}");
    assert_eq!(wait_for_key(&data, "added.test").len(), 1);
    // A later start keeps the keys it has.
    let srv = srv.restart();
    // The key thread sees the known domains before later requests, so
    // once a new domain has its key, example.test has been looked at.
    let (ok, out, err) = srv.cli(&["domain", "add", "third.test"], None);
    assert!(ok, "{out}{err}");
    assert_eq!(wait_for_key(&data, "third.test").len(), 1);
    let again = key::load_all(&srv.dir.path().join("data"), "example.test").unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].public_key(), keys[0].public_key());
}
