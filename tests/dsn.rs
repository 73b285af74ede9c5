//! Delivery status notifications read by an independent parser, Python's
//! `email` package: the report's structure (RFC 6522 multipart/report) and
//! the message/delivery-status fields per recipient (RFC 3464 §2.3), for a
//! bounce (`Action: failed`) and a delay warning (`Action: delayed`).

mod common;

use common::dns::{DnsServer, Zone};
use common::server::{mailbox_messages, run_bounded, Lines, Server};
use common::smtp_peer::{Script, SmtpPeer};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

const ALICE: &str = "alice@example.test";
const PASSWORD: &str = "secret-dsn-pass";

/// Prints the report as lines: `report-type`, the per-message fields, then
/// one line per recipient block, each `Name=value` joined by `|`.
const PARSE: &str = r#"
import email, email.policy, sys
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.compat32)
assert msg.get_content_type() == "multipart/report", msg.get_content_type()
print("report-type=" + msg.get_param("report-type"))
parts = msg.get_payload()
assert parts[0].get_content_maintype() == "text", parts[0].get_content_type()
status = [p for p in parts if p.get_content_type() == "message/delivery-status"]
assert len(status) == 1, [p.get_content_type() for p in parts]
blocks = status[0].get_payload()
for block in blocks:
    print("|".join(k + "=" + " ".join(v.split()) for k, v in block.items()))
"#;

/// The report's lines as [`PARSE`] prints them.
fn parse(dir: &std::path::Path, report: &[u8]) -> Vec<String> {
    let file = dir.join("report.eml");
    std::fs::write(&file, report).expect("write report");
    let (ok, out, err) = run_bounded(
        Command::new("python3").arg("-c").arg(PARSE).arg(&file),
        Duration::from_secs(60),
    );
    assert!(ok, "python: {err}\n{}", String::from_utf8_lossy(report));
    out.lines().map(str::to_string).collect()
}

/// A sender, example.test, delivering to port `port` through `dns`.
fn sender(dns: &DnsServer, port: u16, outbound: &str) -> Server {
    let s = Server::start(&format!(
        "[tls]\nallow_plaintext_auth = true\n\
         [dns]\nnameservers = [\"{}\"]\ntimeout = \"1s\"\nattempts = 1\n\
         [outbound]\nport = {port}\n{outbound}",
        dns.addr()
    ));
    s.add_user(ALICE, PASSWORD);
    s
}

fn submit(s: &Server, to: &[&str]) {
    let mut c = Lines::connect(s.addr("submission"));
    assert!(c.reply().starts_with("220"));
    c.cmd("EHLO client.test");
    c.reply();
    let token = facteur::proto::base64::encode(format!("\0{ALICE}\0{PASSWORD}").as_bytes());
    c.cmd(&format!("AUTH PLAIN {token}"));
    assert!(c.reply().starts_with("235"));
    c.cmd(&format!("MAIL FROM:<{ALICE}>"));
    assert!(c.reply().starts_with("250"));
    for t in to {
        c.cmd(&format!("RCPT TO:<{t}>"));
        let r = c.reply();
        assert!(r.starts_with("250"), "{t}: {r}");
    }
    c.cmd("DATA");
    assert!(c.reply().starts_with("354"));
    c.send(
        format!(
            "From: <{ALICE}>\r\nSubject: report me\r\nMessage-ID: <r1@example.test>\r\n\r\nhi\r\n.\r\n"
        )
        .as_bytes(),
    );
    let r = c.reply();
    assert!(r.starts_with("250"), "{r}");
    c.cmd("QUIT");
}

/// Messages in alice's INBOX, counted over POP3 while the server runs.
fn inbox_count(s: &Server) -> usize {
    let mut c = Lines::connect(s.addr("pop3"));
    c.line();
    c.cmd(&format!("USER {ALICE}"));
    c.line();
    c.cmd(&format!("PASS {PASSWORD}"));
    if !c.line().starts_with("+OK") {
        return 0; // a session just closed may still hold the lock
    }
    c.cmd("STAT");
    let stat = c.line();
    c.cmd("QUIT");
    c.line();
    c.rest();
    stat.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Polls `f` until it holds; fails after a bound far above any load.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < end, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A peer on 127.0.0.4 for `domain`, answering RCPT with `rcpt`.
fn peer(domain: &str, rcpt: fn(&str, usize) -> String) -> (DnsServer, SmtpPeer, u16) {
    let port = {
        let l = TcpListener::bind(("127.0.0.4", 0)).expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mx = format!("mx.{domain}");
    let mut zone = Zone::new();
    zone.mx(domain, 10, &mx).a(&mx, "127.0.0.4");
    let dns = DnsServer::start(zone);
    let peer = SmtpPeer::start(
        format!("127.0.0.4:{port}").parse().expect("addr"),
        Script::accept(&mx).rcpt(rcpt),
    );
    (dns, peer, port)
}

#[test]
fn a_bounce_parses_with_one_block_per_failed_recipient() {
    if !common::server::have_tool("python3") {
        return;
    }
    let (dns, _peer, port) = peer("strict.test", |a, _| {
        if a.starts_with("ok") {
            "250 2.1.5 ok".into()
        } else {
            format!("550 5.1.1 <{a}>: no such user")
        }
    });
    let mut s = sender(&dns, port, "");
    submit(
        &s,
        &["nobody@strict.test", "ok@strict.test", "gone@strict.test"],
    );
    wait_until("a report arrives", || inbox_count(&s) == 1);
    assert!(s.stop());
    let inbox = mailbox_messages(&s.dir.path().join("data"), ALICE, "INBOX");
    let lines = parse(s.dir.path(), &inbox[0]);
    assert_eq!(lines[0], "report-type=delivery-status");
    assert!(
        lines[1].contains("Reporting-MTA=dns; mail.example.test"),
        "{lines:?}"
    );
    let recipients = &lines[2..];
    assert_eq!(recipients.len(), 2, "{lines:?}");
    for (block, rcpt) in recipients.iter().zip(["nobody", "gone"]) {
        let fields: Vec<&str> = block.split('|').collect();
        for want in [
            format!("Final-Recipient=rfc822; {rcpt}@strict.test"),
            "Action=failed".to_string(),
            "Status=5.1.1".to_string(),
            format!("Diagnostic-Code=smtp; 550 5.1.1 <{rcpt}@strict.test>: no such user"),
        ] {
            assert!(fields.contains(&want.as_str()), "{want} in {block}");
        }
    }
}

#[test]
fn a_delay_warning_says_delayed_and_keeps_trying() {
    if !common::server::have_tool("python3") {
        return;
    }
    let (dns, peer, port) = peer("slow.test", |_, _| "451 4.3.0 try later".into());
    // A warning after one second: due at the first retry after it.
    let mut s = sender(&dns, port, "delay_warning = \"1s\"\n");
    submit(&s, &["carol@slow.test"]);
    wait_until("the first attempt", || peer.connections() >= 1);
    // Retried until a retry comes after the second has passed.
    wait_until("a warning arrives", || {
        let (ok, _, err) = s.cli(&["queue", "retry", "all"], None);
        assert!(ok, "{err}");
        inbox_count(&s) == 1
    });
    let (ok, queue, _) = s.cli(&["queue", "list"], None);
    assert!(
        ok && queue.contains("carol@slow.test"),
        "still queued: {queue}"
    );
    assert!(s.stop());
    let inbox = mailbox_messages(&s.dir.path().join("data"), ALICE, "INBOX");
    assert_eq!(inbox.len(), 1);
    let lines = parse(s.dir.path(), &inbox[0]);
    assert_eq!(lines[0], "report-type=delivery-status");
    assert_eq!(lines.len(), 3, "{lines:?}");
    let fields: Vec<&str> = lines[2].split('|').collect();
    for want in [
        "Final-Recipient=rfc822; carol@slow.test",
        "Action=delayed",
        "Status=4.3.0",
    ] {
        assert!(fields.contains(&want), "{want} in {}", lines[2]);
    }
}
