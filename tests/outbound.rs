//! Outbound delivery end to end: a real facteur queues submitted mail and
//! delivers it over loopback to remote MX hosts found through the test DNS
//! server: another facteur instance, or scripted peers that defer, refuse,
//! or misbehave. Each test uses its own loopback addresses (127.0.0.x) so
//! that tests can run in parallel with one outbound port per sender.

mod common;

use common::dkim::{have_verifier, verify};
use common::dns::{DnsServer, Zone};
use common::server::{mailbox_messages, Lines, Server, TempDir};
use common::smtp_peer::{tls_for, Greeting, Script, SmtpPeer};
use facteur::auth::dkim::key;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

const PLAINTEXT: &str = "[tls]\nallow_plaintext_auth = true\n";

/// A port free on every address we will use it on.
fn free_port(ips: &[&str]) -> u16 {
    for _ in 0..50 {
        let l = TcpListener::bind((ips[0], 0)).expect("bind");
        let port = l.local_addr().expect("addr").port();
        drop(l);
        if ips.iter().all(|ip| TcpListener::bind((*ip, port)).is_ok()) {
            return port;
        }
    }
    panic!("no common free port on {ips:?}");
}

fn sock(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().expect("socket address")
}

/// The sending instance: example.test, delivering to port `port` and
/// resolving through `dns`.
fn sender(dns: &DnsServer, port: u16, extra: &str) -> Server {
    let s = Server::start(&format!(
        "{PLAINTEXT}[dns]\nnameservers = [\"{}\"]\ntimeout = \"1s\"\nattempts = 1\n\
         [outbound]\nport = {port}\n{extra}",
        dns.addr()
    ));
    s.add_user("alice@example.test", "alice secret");
    s
}

/// A second facteur, the MX of `domain`, with its SMTP port on `ip:port`.
fn remote_instance(ip: &str, port: u16, hostname: &str, domain: &str) -> Server {
    let dir = TempDir::new("remote");
    let config = dir.path().join("facteur.toml");
    let text = format!(
        "[server]\nhostname = \"{hostname}\"\ndata_dir = \"{}\"\ndomains = [\"{domain}\"]\n\n\
         [listen]\nsmtp = \"{ip}:{port}\"\nsubmission = \"\"\nsubmissions = \"\"\npop3 = \"\"\n\
         pop3s = \"\"\nimap = \"\"\nimaps = \"\"\nweb = \"\"\n\n[antispam]\nenabled = false\n",
        dir.path().join("data").display()
    );
    std::fs::write(&config, text).expect("config");
    Server::start_with(dir, config)
}

/// Submits a message as alice over the submission port.
fn submit(s: &Server, to: &[&str], body: &str) -> String {
    let mut c = Lines::connect(s.addr("submission"));
    assert!(c.reply().starts_with("220"));
    c.cmd("EHLO client.test");
    c.reply();
    let token = facteur::proto::base64::encode(b"\0alice@example.test\0alice secret");
    c.cmd(&format!("AUTH PLAIN {token}"));
    let r = c.reply();
    assert!(r.starts_with("235"), "{r}");
    c.cmd("MAIL FROM:<alice@example.test>");
    assert!(c.reply().starts_with("250"));
    for t in to {
        c.cmd(&format!("RCPT TO:<{t}>"));
        let r = c.reply();
        assert!(r.starts_with("250"), "{t}: {r}");
    }
    c.cmd("DATA");
    assert!(c.reply().starts_with("354"));
    c.send(body.as_bytes());
    c.send(b".\r\n");
    let r = c.reply();
    c.cmd("QUIT");
    r
}

fn message(subject: &str) -> String {
    format!(
        "From: Alice <alice@example.test>\r\nTo: someone@remote.test\r\nSubject: {subject}\r\n\
         Date: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@example.test>\r\n\r\n\
         Hello,\r\n..leading dot\r\nbye\r\n"
    )
}

fn queue_list(s: &Server) -> String {
    let (ok, out, err) = s.cli(&["queue", "list"], None);
    assert!(ok, "{err}");
    out
}

/// Waits until `f` is true, at most `limit`.
fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

fn queue_empty(s: &Server) -> bool {
    queue_list(s).trim().is_empty()
}

/// alice's INBOX on a stopped sender.
fn inbox(s: &Server) -> Vec<String> {
    mailbox_messages(&s.dir.path().join("data"), "alice@example.test", "INBOX")
        .into_iter()
        .map(|m| String::from_utf8_lossy(&m).into_owned())
        .collect()
}

#[test]
fn mail_reaches_a_remote_facteur_through_its_mx() {
    let port = free_port(&["127.0.0.2"]);
    let mut zone = Zone::new();
    zone.mx("remote.test", 10, "mx.remote.test")
        .a("mx.remote.test", "127.0.0.2");
    let dns = DnsServer::start(zone);
    let mut remote = remote_instance("127.0.0.2", port, "mx.remote.test", "remote.test");
    remote.add_user("bob@remote.test", "bob password");
    let mut s = sender(&dns, port, "");
    // The server makes an RSA key for its domain as it starts; add an
    // Ed25519 one so that the message leaves with both signatures, and
    // publish them.
    let data = s.dir.path().join("data");
    wait_for(Duration::from_secs(60), || {
        !key::load_active(&data, "example.test")
            .unwrap_or_default()
            .is_empty()
    });
    let (ok, _, err) = s.cli(
        &["dkim", "generate", "example.test", "--algorithm", "ed25519"],
        None,
    );
    assert!(ok, "{err}");
    let keys = key::load_active(&data, "example.test").expect("keys");
    assert_eq!(keys.len(), 2);
    dns.update(|z| {
        for k in &keys {
            z.txt(&k.record_name(), &k.record());
        }
    });
    let r = submit(&s, &["bob@remote.test"], &message("mx-test"));
    assert!(r.starts_with("250"), "{r}");
    assert!(
        wait_for(Duration::from_secs(20), || queue_empty(&s)),
        "still queued: {}",
        queue_list(&s)
    );
    s.stop();
    remote.stop();
    let got = mailbox_messages(&remote.dir.path().join("data"), "bob@remote.test", "INBOX");
    assert_eq!(got.len(), 1);
    let text = String::from_utf8_lossy(&got[0]);
    assert!(text.contains("Subject: mx-test\r\n"), "{text}");
    assert!(text.contains("\r\n.leading dot\r\nbye\r\n"), "{text}");
    // The sender's Received header travelled with it.
    assert!(text.contains("by mail.example.test"), "{text}");
    assert!(inbox(&s).is_empty(), "no bounce");
    // Both signatures verify with an independent verifier.
    assert_eq!(text.matches("DKIM-Signature:").count(), 2, "{text}");
    if have_verifier() {
        assert_eq!(verify(s.dir.path(), &dns, &got[0]), ["pass", "pass"]);
    }
}

#[test]
fn a_deferring_peer_gets_the_message_once_after_retries() {
    let ip = "127.0.0.3";
    let port = free_port(&[ip]);
    let mut zone = Zone::new();
    zone.mx("slow.test", 10, "mx.slow.test")
        .a("mx.slow.test", ip);
    let dns = DnsServer::start(zone);
    let peer = SmtpPeer::start(
        sock(ip, port),
        Script::accept("mx.slow.test").rcpt(|_, n| {
            if n <= 2 {
                "451 4.7.1 greylisted, try again".into()
            } else {
                "250 2.1.5 ok".into()
            }
        }),
    );
    let s = sender(&dns, port, "");
    assert!(submit(&s, &["carol@slow.test"], &message("retry")).starts_with("250"));
    for round in 1..=2 {
        assert!(
            wait_for(Duration::from_secs(20), || queue_list(&s)
                .contains("greylisted")
                && peer.transactions() >= round),
            "round {round}: {}",
            queue_list(&s)
        );
        assert!(peer.accepted().is_empty());
        let (ok, _, err) = s.cli(&["queue", "retry", "all"], None);
        assert!(ok, "{err}");
    }
    assert!(
        wait_for(Duration::from_secs(20), || queue_empty(&s)),
        "{}",
        queue_list(&s)
    );
    let got = peer.accepted();
    assert_eq!(got.len(), 1, "delivered exactly once");
    assert_eq!(got[0].to, ["carol@slow.test"]);
    assert_eq!(got[0].from, "alice@example.test");
    assert_eq!(peer.transactions(), 3);
}

#[test]
fn a_refusing_peer_produces_a_bounce_in_the_senders_inbox() {
    let ip = "127.0.0.4";
    let port = free_port(&[ip]);
    let mut zone = Zone::new();
    zone.mx("strict.test", 10, "mx.strict.test")
        .a("mx.strict.test", ip);
    let dns = DnsServer::start(zone);
    let _peer = SmtpPeer::start(
        sock(ip, port),
        Script::accept("mx.strict.test").rcpt(|a, _| {
            if a.starts_with("nobody") {
                "550 5.1.1 <nobody@strict.test>: no such user".into()
            } else {
                "250 2.1.5 ok".into()
            }
        }),
    );
    let mut s = sender(&dns, port, "");
    assert!(submit(
        &s,
        &["nobody@strict.test", "dave@strict.test"],
        &message("bounce")
    )
    .starts_with("250"));
    assert!(
        wait_for(Duration::from_secs(20), || queue_empty(&s)),
        "{}",
        queue_list(&s)
    );
    s.stop();
    let inbox = inbox(&s);
    assert_eq!(inbox.len(), 1, "one report");
    let dsn = &inbox[0];
    assert!(dsn.contains("Return-Path: <>\r\n"), "{dsn}");
    assert!(
        dsn.contains("Content-Type: multipart/report; report-type=delivery-status"),
        "{dsn}"
    );
    assert!(
        dsn.contains(
            "Final-Recipient: rfc822; nobody@strict.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        ),
        "{dsn}"
    );
    assert!(
        dsn.contains("Diagnostic-Code: smtp; 550 5.1.1 <nobody@strict.test>: no such user"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Subject: bounce\r\n"),
        "original headers returned: {dsn}"
    );
    assert!(
        !dsn.contains("leading dot"),
        "RET defaults to headers: {dsn}"
    );
    assert!(!dsn.contains("dave@strict.test"), "{dsn}");
}

#[test]
fn null_mx_and_nonexistent_domains_bounce_at_once() {
    let mut zone = Zone::new();
    zone.null_mx("nomail.test");
    let dns = DnsServer::start(zone);
    // Nothing listens anywhere: no connection may be needed.
    let mut s = sender(&dns, free_port(&["127.0.0.1"]), "");
    assert!(
        submit(&s, &["x@nomail.test", "y@nowhere.test"], &message("nullmx")).starts_with("250")
    );
    assert!(
        wait_for(Duration::from_secs(20), || queue_empty(&s)),
        "{}",
        queue_list(&s)
    );
    s.stop();
    let inbox = inbox(&s);
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    let dsn = &inbox[0];
    // RFC 7505 §4.2: 5.1.10 for a null MX.
    assert!(
        dsn.contains(
            "Final-Recipient: rfc822; x@nomail.test\r\nAction: failed\r\nStatus: 5.1.10\r\n"
        ),
        "{dsn}"
    );
    assert!(
        dsn.contains(
            "Final-Recipient: rfc822; y@nowhere.test\r\nAction: failed\r\nStatus: 5.1.2\r\n"
        ),
        "{dsn}"
    );
}

#[test]
fn misbehaving_peers_are_temporary_failures_with_a_clear_note() {
    let ips = ["127.0.0.5", "127.0.0.6", "127.0.0.7"];
    let port = free_port(&ips);
    let mut zone = Zone::new();
    zone.mx("garbage.test", 10, "mx.garbage.test")
        .a("mx.garbage.test", ips[0])
        .mx("refuse.test", 10, "mx.refuse.test")
        .a("mx.refuse.test", ips[1])
        .mx("silent.test", 10, "mx.silent.test")
        .a("mx.silent.test", ips[2])
        .servfail("broken.test");
    let dns = DnsServer::start(zone);
    let _g = SmtpPeer::start(
        sock(ips[0], port),
        Script {
            greeting: Greeting::Garbage,
            ..Script::accept("g")
        },
    );
    let _r = SmtpPeer::start(
        sock(ips[1], port),
        Script {
            greeting: Greeting::Line("554 5.3.2 not accepting mail".into()),
            ..Script::accept("r")
        },
    );
    let _s = SmtpPeer::start(
        sock(ips[2], port),
        Script {
            greeting: Greeting::Silent,
            ..Script::accept("s")
        },
    );
    let s = sender(&dns, port, "timeout = \"2s\"\n");
    for d in ["garbage.test", "refuse.test", "silent.test", "broken.test"] {
        let to = format!("u@{d}");
        assert!(submit(&s, &[&to], &message(d)).starts_with("250"));
    }
    assert!(
        wait_for(Duration::from_secs(30), || {
            let l = queue_list(&s);
            l.lines().filter(|l| l.contains("1 attempt(s)")).count() == 4
        }),
        "{}\n{}",
        queue_list(&s),
        s.log()
    );
    let list = queue_list(&s);
    for d in ["garbage.test", "refuse.test", "silent.test", "broken.test"] {
        let line = list
            .lines()
            .find(|l| l.contains(&format!("u@{d}")))
            .expect(d);
        assert!(line.contains("(Pending: "), "{line}");
    }
    assert!(list.contains("554 5.3.2 not accepting mail"), "{list}");
}

#[test]
fn a_full_queue_survives_kill_and_is_delivered_after_restart() {
    let ip = "127.0.0.8";
    let port = free_port(&[ip]);
    let mut zone = Zone::new();
    zone.mx("later.test", 10, "mx.later.test")
        .a("mx.later.test", ip);
    let dns = DnsServer::start(zone);
    let mut s = sender(&dns, port, "");
    // The peer is down: every message stays queued.
    for i in 0..5 {
        let to = format!("u{i}@later.test");
        assert!(submit(&s, &[&to], &message(&format!("restart{i}"))).starts_with("250"));
    }
    assert!(wait_for(Duration::from_secs(20), || queue_list(&s)
        .lines()
        .filter(|l| l.contains("1 attempt(s)"))
        .count()
        == 5));
    s.kill();
    let peer = SmtpPeer::start(sock(ip, port), Script::accept("mx.later.test"));
    let s = s.restart();
    let (ok, _, err) = s.cli(&["queue", "retry", "all"], None);
    assert!(ok, "{err}");
    assert!(
        wait_for(Duration::from_secs(30), || queue_empty(&s)),
        "{}",
        queue_list(&s)
    );
    let mut got: Vec<String> = peer.accepted().iter().flat_map(|a| a.to.clone()).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "u0@later.test",
            "u1@later.test",
            "u2@later.test",
            "u3@later.test",
            "u4@later.test"
        ]
    );
}

#[test]
fn a_smarthost_gets_everything_over_verified_starttls_with_auth() {
    let (peer, s, _dns, _dir) = smarthost_sender("127.0.0.9", Script::accept("smarthost.test"));
    assert!(submit(&s, &["a@one.test", "b@two.test"], &message("relay")).starts_with("250"));
    assert!(
        wait_for(Duration::from_secs(20), || queue_empty(&s)),
        "{}",
        queue_list(&s)
    );
    let got = peer.accepted();
    assert_eq!(got.len(), 1, "one transaction for all domains");
    assert!(got[0].tls, "STARTTLS was used");
    assert_eq!(got[0].user.as_deref(), Some("office"));
    assert_eq!(got[0].to, ["a@one.test", "b@two.test"]);
}

#[test]
fn a_smarthost_with_an_untrusted_certificate_is_not_used() {
    let ip = "127.0.0.10";
    let port = free_port(&[ip]);
    let mut zone = Zone::new();
    zone.a("smarthost.test", ip);
    let dns = DnsServer::start(zone);
    let (tls, _pem) = tls_for("smarthost.test");
    let peer = SmtpPeer::start(
        sock(ip, port),
        Script {
            tls: Some(tls),
            auth: Some(("office".into(), "relay-secret".into())),
            ..Script::accept("smarthost.test")
        },
    );
    let s = sender(
        &dns,
        1,
        &format!(
            "[relay]\nhost = \"smarthost.test\"\nport = {port}\ntls = \"starttls\"\n\
             username = \"office\"\npassword = \"relay-secret\"\n"
        ),
    );
    assert!(submit(&s, &["a@one.test"], &message("untrusted")).starts_with("250"));
    assert!(
        wait_for(Duration::from_secs(20), || queue_list(&s)
            .contains("1 attempt(s)")),
        "{}",
        queue_list(&s)
    );
    assert!(
        peer.accepted().is_empty(),
        "the password must not go to an unverified host"
    );
}

/// A smarthost wanting STARTTLS and AUTH at `ip`, with a sender that uses
/// it and keeps idle connections long enough for a test to be slow.
fn smarthost_sender(ip: &str, script: Script) -> (SmtpPeer, Server, DnsServer, TempDir) {
    let port = free_port(&[ip]);
    let mut zone = Zone::new();
    zone.a("smarthost.test", ip);
    let dns = DnsServer::start(zone);
    let (tls, pem) = tls_for("smarthost.test");
    let peer = SmtpPeer::start(
        sock(ip, port),
        Script {
            tls: Some(tls),
            auth: Some(("office".into(), "relay-secret".into())),
            ..script
        },
    );
    let dir = TempDir::new("ca");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).expect("ca");
    let s = sender(
        &dns,
        1,
        &format!(
            "connection_idle = \"60s\"\n\
             [relay]\nhost = \"smarthost.test\"\nport = {port}\ntls = \"starttls\"\n\
             username = \"office\"\npassword = \"relay-secret\"\nca_file = \"{}\"\n",
            ca.display()
        ),
    );
    (peer, s, dns, dir)
}

#[test]
fn two_messages_to_the_smarthost_go_over_one_connection() {
    let (peer, s, _dns, _dir) = smarthost_sender("127.0.0.11", Script::accept("smarthost.test"));
    for (i, to) in ["a@one.test", "b@two.test"].iter().enumerate() {
        assert!(submit(&s, &[to], &message(&format!("reuse{i}"))).starts_with("250"));
        assert!(
            wait_for(Duration::from_secs(20), || queue_empty(&s)),
            "{}",
            queue_list(&s)
        );
    }
    let got = peer.accepted();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].to, ["a@one.test"]);
    assert_eq!(got[1].to, ["b@two.test"]);
    // TLS and AUTH held for both transactions of the one session.
    assert!(got
        .iter()
        .all(|a| a.tls && a.user.as_deref() == Some("office")));
    assert_eq!(peer.connections(), 1, "one session for both messages");
}

#[test]
fn a_failure_of_the_second_transaction_does_not_fail_the_first() {
    // The second transaction ends with the server closing the session.
    let script = Script::accept("smarthost.test").rcpt(|_, n| {
        if n == 2 {
            "421 4.3.2 shutting down".into()
        } else {
            "250 2.1.5 ok".into()
        }
    });
    let (peer, mut s, _dns, _dir) = smarthost_sender("127.0.0.12", script);
    assert!(submit(&s, &["a@one.test"], &message("first")).starts_with("250"));
    assert!(wait_for(Duration::from_secs(20), || queue_empty(&s)));
    assert!(submit(&s, &["b@two.test"], &message("second")).starts_with("250"));
    assert!(
        wait_for(Duration::from_secs(20), || queue_list(&s)
            .contains("421 4.3.2")),
        "{}",
        queue_list(&s)
    );
    assert_eq!(peer.connections(), 1);
    let list = queue_list(&s);
    assert!(
        list.contains("b@two.test") && !list.contains("a@one.test"),
        "{list}"
    );
    // The retry goes over a new session; the first message is not sent again.
    let (ok, _, err) = s.cli(&["queue", "retry", "all"], None);
    assert!(ok, "{err}");
    assert!(
        wait_for(Duration::from_secs(20), || queue_empty(&s)),
        "{}",
        queue_list(&s)
    );
    let to: Vec<Vec<String>> = peer.accepted().into_iter().map(|a| a.to).collect();
    assert_eq!(to, [vec!["a@one.test"], vec!["b@two.test"]]);
    assert_eq!(peer.connections(), 2);
    s.stop();
    assert!(inbox(&s).is_empty(), "no report");
}

#[test]
fn three_recipients_at_one_domain_go_in_one_transaction_and_a_4xx_retries_only_one() {
    let ip = "127.0.0.13";
    let port = free_port(&[ip]);
    let mut zone = Zone::new();
    zone.mx("far.test", 10, "mx.far.test").a("mx.far.test", ip);
    let dns = DnsServer::start(zone);
    let peer = SmtpPeer::start(
        sock(ip, port),
        Script::accept("mx.far.test").rcpt(|a, n| {
            if a.starts_with("busy") && n == 1 {
                "452 4.2.2 mailbox full, try later".into()
            } else {
                "250 2.1.5 ok".into()
            }
        }),
    );
    let s = sender(&dns, port, "");
    let to = ["ann@far.test", "busy@far.test", "cat@far.test"];
    assert!(submit(&s, &to, &message("three")).starts_with("250"));
    assert!(
        wait_for(Duration::from_secs(20), || queue_list(&s)
            .contains("1 attempt(s)")),
        "{}",
        queue_list(&s)
    );
    let got = peer.accepted();
    assert_eq!(got.len(), 1, "one transaction");
    assert_eq!(got[0].to, ["ann@far.test", "cat@far.test"]);
    assert_eq!(got[0].rcpt_lines.len(), 2);
    assert_eq!(peer.transactions(), 1);
    let list = queue_list(&s);
    assert!(list.contains("busy@far.test (Pending: 452 4.2.2"), "{list}");
    assert!(list.contains("ann@far.test (Delivered)"), "{list}");
    assert!(list.contains("cat@far.test (Delivered)"), "{list}");
    let (ok, _, err) = s.cli(&["queue", "retry", "all"], None);
    assert!(ok, "{err}");
    assert!(
        wait_for(Duration::from_secs(20), || queue_empty(&s)),
        "{}",
        queue_list(&s)
    );
    let got = peer.accepted();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].to, ["busy@far.test"], "only the deferred one again");
}
