//! `facteur check spf` end to end: the real binary, with no server and no
//! data directory, asking the test DNS server on loopback.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::dns::{DnsServer, Zone};
use common::server::{bin, run_bounded, test_config, TempDir};

/// Bound on one run; a run against loopback takes milliseconds.
const LIMIT: Duration = Duration::from_secs(20);

fn zone() -> Zone {
    let mut z = Zone::new();
    z.txt("pass.test", "v=spf1 a:mail.pass.test -all")
        .a("mail.pass.test", "192.0.2.1")
        .txt("fail.test", "v=spf1 mx -all exp=why.%{d}")
        .mx("fail.test", 10, "mx.fail.test")
        .a("mx.fail.test", "192.0.2.2")
        .txt_parts("why.fail.test", &["%{i} may not send ", "mail for %{d}"])
        .txt("plain-fail.test", "v=spf1 ip4:192.0.2.0/24 -all")
        .txt("soft.test", "v=spf1 ip4:192.0.2.1 ~all")
        .txt("helo.test", "v=spf1 ip6:2001:db8::/32 -all")
        .txt("nospf.test", "google-site-verification=x")
        .txt("perm.test", "v=spf1 -all")
        .txt("perm.test", "v=spf1 +all")
        .txt("broken.test", "v=spf1 +all")
        .servfail("broken.test");
    z
}

/// Runs `facteur check spf ARGS --dns ADDR` with the embedded default
/// config in an empty directory; returns (success, stdout, stderr).
fn check(dns: &DnsServer, args: &[&str]) -> (bool, String, String) {
    let dir = TempDir::new("spf");
    let dns_addr = dns.addr().to_string();
    let out = run_bounded(
        Command::new(bin())
            .current_dir(dir.path())
            .args(["check", "spf"])
            .args(args)
            .args(["--dns", &dns_addr]),
        LIMIT,
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "check spf must not create a data directory"
    );
    out
}

/// The lines printed for a MAIL FROM check from `ip`.
fn lines(dns: &DnsServer, ip: &str, mail_from: &str) -> Vec<String> {
    let (ok, out, err) = check(
        dns,
        &[
            "--ip",
            ip,
            "--helo",
            "client.example",
            "--mail-from",
            mail_from,
        ],
    );
    assert!(ok, "exit status 0 whatever the result; stderr: {err}");
    out.lines().map(String::from).collect()
}

#[test]
fn results_and_explanations() {
    let dns = DnsServer::start(zone());
    assert_eq!(lines(&dns, "192.0.2.1", "joe@pass.test"), ["pass"]);
    assert_eq!(
        lines(&dns, "192.0.2.9", "joe@pass.test"),
        [
            "fail",
            "192.0.2.9 is not one of pass.test's designated mail servers"
        ]
    );
    assert_eq!(lines(&dns, "192.0.2.2", "joe@fail.test"), ["pass"]);
    assert_eq!(
        lines(&dns, "192.0.2.9", "joe@fail.test"),
        ["fail", "192.0.2.9 may not send mail for fail.test"]
    );
    assert_eq!(lines(&dns, "192.0.2.9", "joe@soft.test"), ["softfail"]);
    assert_eq!(lines(&dns, "192.0.2.9", "joe@nospf.test"), ["none"]);
    assert_eq!(lines(&dns, "192.0.2.9", "joe@nowhere.test"), ["none"]);
    let perm = lines(&dns, "192.0.2.9", "joe@perm.test");
    assert_eq!(perm.len(), 2, "{perm:?}");
    assert_eq!(perm[0], "permerror");
    assert!(perm[1].contains("more than one SPF record"), "{perm:?}");
    let temp = lines(&dns, "192.0.2.9", "joe@broken.test");
    assert_eq!(temp.len(), 2, "{temp:?}");
    assert_eq!(temp[0], "temperror");
    assert!(temp[1].contains("broken.test"), "{temp:?}");
}

#[test]
fn null_sender_checks_the_helo_name() {
    let dns = DnsServer::start(zone());
    for extra in [
        &[][..],
        &["--mail-from", ""][..],
        &["--mail-from", "<>"][..],
    ] {
        let mut args = vec!["--ip", "2001:db8::7", "--helo", "helo.test"];
        args.extend_from_slice(extra);
        let (ok, out, _) = check(&dns, &args);
        assert!(ok);
        assert_eq!(out, "pass\n", "{extra:?}");
    }
    let (_, out, _) = check(&dns, &["--ip", "192.0.2.1", "--helo", "helo.test"]);
    assert_eq!(
        out,
        "fail\n192.0.2.1 is not one of helo.test's designated mail servers\n"
    );
}

#[test]
fn the_configured_resolver_is_used_without_dns_option() {
    let dns = DnsServer::start(zone());
    let dir = TempDir::new("spf-config");
    let config = dir.path().join("facteur.toml");
    let extra = format!("[dns]\nnameservers = [\"{}\"]\n", dns.addr());
    std::fs::write(&config, test_config(dir.path(), &extra)).unwrap();
    let (ok, out, err) = run_bounded(
        Command::new(bin()).args([
            "check",
            "spf",
            "--ip",
            "192.0.2.9",
            "--helo",
            "client.example",
            "--mail-from",
            "joe@fail.test",
            "--config",
            &config.display().to_string(),
        ]),
        LIMIT,
    );
    assert!(ok, "{err}");
    assert_eq!(out, "fail\n192.0.2.9 may not send mail for fail.test\n");
    assert!(!Path::new(&dir.path().join("data")).exists());
}

#[test]
fn argument_errors_give_usage_and_failure() {
    let dns = DnsServer::start(zone());
    for args in [
        &["--helo", "h.test", "--mail-from", "a@pass.test"][..],
        &["--ip", "192.0.2.1", "--mail-from", "a@pass.test"][..],
        &["--ip", "not-an-ip", "--helo", "h.test"][..],
        &["--ip", "192.0.2.1", "--helo", "h.test", "stray"][..],
        &["--ip", "192.0.2.1", "--helo"][..],
    ] {
        let (ok, out, err) = check(&dns, args);
        assert!(!ok, "{args:?}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains("usage:"), "{args:?}: {err}");
    }
    let (ok, _, err) = run_bounded(
        Command::new(bin()).args([
            "check",
            "spf",
            "--ip",
            "192.0.2.1",
            "--helo",
            "h.test",
            "--dns",
            "nowhere",
        ]),
        LIMIT,
    );
    assert!(!ok);
    assert!(err.contains("--dns"), "{err}");
}

/// RFC 7208 conformance: a TXT record of zero strings beside the SPF
/// record (§3.3, issue item 19), domain-specs with any visible character
/// but `%` (§7.1, item 20), and the `%%`, `%_`, `%-` escapes (§7.1, item
/// 21), each name then looked up exactly as written.
#[test]
fn zero_string_txt_odd_names_and_escapes() {
    use common::dns::Data;
    let mut z = Zone::new();
    z.txt("zero.test", "v=spf1 ip4:192.0.2.1 -all")
        .add("zero.test", Data::Txt(Vec::new()))
        .txt("colon.test", "v=spf1 a:foo:bar/baz.colon.test -all")
        // The test server names labels as hickory writes them: `\:`.
        .a("foo\\:bar\\/baz.colon.test", "192.0.2.1")
        .txt("cidr.test", "v=spf1 a:x/y.cidr.test/24 -all")
        .a("x\\/y.cidr.test", "192.0.2.1")
        .txt("esc.test", "v=spf1 exists:%%%_%-.esc.test -all")
        .a("\\%\\040\\%20.esc.test", "127.0.0.2");
    let dns = DnsServer::start(z);
    assert_eq!(lines(&dns, "192.0.2.1", "joe@zero.test"), ["pass"]);
    assert_eq!(lines(&dns, "192.0.2.1", "joe@colon.test"), ["pass"]);
    assert_eq!(lines(&dns, "192.0.2.9", "joe@colon.test")[0], "fail");
    assert_eq!(lines(&dns, "192.0.2.200", "joe@cidr.test"), ["pass"]);
    assert_eq!(lines(&dns, "192.0.3.1", "joe@cidr.test")[0], "fail");
    assert_eq!(lines(&dns, "192.0.2.1", "joe@esc.test"), ["pass"]);
    let names: Vec<String> = dns.queries().into_iter().map(|q| q.name).collect();
    for name in ["foo\\:bar\\/baz.colon.test", "\\%\\040\\%20.esc.test"] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
}
