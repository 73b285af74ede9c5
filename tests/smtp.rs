//! SMTP and submission end to end: real clients (Python's smtplib, swaks,
//! Postfix's smtp-source), relay refusal, load, and a crash during delivery.

mod common;

use common::server::{
    have_tool, mailbox_messages, run_bounded, smtp_send, strip_trace, Lines, Server,
};
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

fn server_with_users() -> Server {
    let srv = Server::start("[limits]\nmax_connections = 400\nmax_connections_per_ip = 300\n");
    srv.add_user("alice@example.test", "alice password");
    srv.add_user("bob@example.test", "bob password");
    srv
}

fn data_dir(srv: &Server) -> std::path::PathBuf {
    srv.dir.path().join("data")
}

fn python(script: &str, args: &[String]) -> (bool, String, String) {
    run_bounded(
        Command::new("python3").arg("-c").arg(script).args(args),
        Duration::from_secs(60),
    )
}

const SMTPLIB: &str = r#"
import smtplib, ssl, sys
mode, port, cafile, mech = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
if mode == "starttls":
    s = smtplib.SMTP("localhost", port, timeout=20)
    s.starttls(context=ctx)
else:
    s = smtplib.SMTP_SSL("localhost", port, context=ctx, timeout=20)
s.ehlo()
s.user, s.password = "alice@example.test", "alice password"
code, text = s.auth(mech, s.auth_plain if mech == "PLAIN" else s.auth_login, initial_response_ok=True)
assert code == 235, (code, text)
msg = ("From: Alice <alice@example.test>\r\nTo: bob@example.test\r\nSubject: via " + mode + " " + mech +
       "\r\n\r\nHello Bob.\r\n.leading dot\r\n")
refused = s.sendmail("alice@example.test", ["bob@example.test"], msg.encode())
assert refused == {}, refused
try:
    s.sendmail("alice@example.test", ["bob@example.test"], b"From: bob@example.test\r\n\r\nforged\r\n")
    raise SystemExit("forged From was accepted")
except smtplib.SMTPDataError as e:
    assert e.smtp_code == 553, e
try:
    s.sendmail("bob@example.test", ["bob@example.test"], b"From: bob@example.test\r\n\r\nx\r\n")
    raise SystemExit("foreign sender was accepted")
except smtplib.SMTPSenderRefused as e:
    assert e.smtp_code == 553, e
s.quit()
print("ok")
"#;

#[test]
fn smtplib_submits_over_starttls_and_implicit_tls_with_plain_and_login() {
    let mut srv = server_with_users();
    let cert = data_dir(&srv).join("tls/cert.pem");
    for (mode, svc) in [("starttls", "submission"), ("tls", "submissions")] {
        for mech in ["PLAIN", "LOGIN"] {
            let (ok, out, err) = python(
                SMTPLIB,
                &[
                    mode.into(),
                    srv.addr(svc).port().to_string(),
                    cert.display().to_string(),
                    mech.into(),
                ],
            );
            assert!(ok && out.contains("ok"), "{mode} {mech}: {out}\n{err}");
        }
    }
    assert!(srv.stop());
    let msgs = mailbox_messages(&data_dir(&srv), "bob@example.test", "INBOX");
    assert_eq!(msgs.len(), 4);
    for m in &msgs {
        let text = String::from_utf8_lossy(m);
        assert!(text.starts_with("Return-Path: <alice@example.test>\r\nDelivered-To: bob@example.test\r\nReceived: from "), "{text}");
        assert!(text.contains("with ESMTPSA"), "{text}");
        assert!(
            text.contains("TLSv1.3"),
            "the Received header names TLS: {text}"
        );
        assert!(strip_trace(m).ends_with(b"\r\n\r\nHello Bob.\r\n.leading dot\r\n"));
    }
}

#[test]
fn swaks_submits_with_starttls_and_tls_and_auth() {
    if !have_tool("swaks") {
        return;
    }
    let mut srv = server_with_users();
    let cert = data_dir(&srv).join("tls/cert.pem");
    let cases = [
        ("--tls", "submission", "PLAIN"),
        ("--tls", "submission", "LOGIN"),
        ("--tlsc", "submissions", "PLAIN"),
        ("--tlsc", "submissions", "LOGIN"),
    ];
    for (tls, svc, mech) in cases {
        let (ok, out, err) = run_bounded(
            Command::new("swaks")
                .args(["--server", "localhost", "--port"])
                .arg(srv.addr(svc).port().to_string())
                .args([tls, "--tls-verify", "--tls-ca-path"])
                .arg(&cert)
                .args(["--auth", mech, "--auth-user", "alice@example.test"])
                .args(["--auth-password", "alice password"])
                .args(["--from", "alice@example.test", "--to", "bob@example.test"])
                .args(["--header", "From: alice@example.test"])
                .args(["--header", &format!("Subject: swaks {tls} {mech}")]),
            Duration::from_secs(60),
        );
        assert!(ok, "swaks {tls} {mech}:\n{out}\n{err}");
        assert!(out.contains("250 2.0.0"), "{out}");
    }
    // A wrong password is refused.
    let (ok, out, _) = run_bounded(
        Command::new("swaks")
            .args(["--server", "localhost", "--port"])
            .arg(srv.addr("submission").port().to_string())
            .args(["--tls", "--tls-verify", "--tls-ca-path"])
            .arg(&cert)
            .args(["--auth", "PLAIN", "--auth-user", "alice@example.test"])
            .args(["--auth-password", "wrong", "--from", "alice@example.test"])
            .args(["--to", "bob@example.test"]),
        Duration::from_secs(60),
    );
    assert!(!ok);
    assert!(out.contains("535 5.7.8"), "{out}");
    assert!(srv.stop());
    assert_eq!(
        mailbox_messages(&data_dir(&srv), "bob@example.test", "INBOX").len(),
        4
    );
}

#[test]
fn the_mta_port_is_never_an_open_relay() {
    let mut srv = server_with_users();
    srv.cli(&["domain", "add", "other.test"], None);
    let mut c = Lines::connect(srv.addr("smtp"));
    c.reply();
    c.cmd("EHLO relay-tester.test");
    let ehlo = c.reply();
    assert!(!ehlo.contains("AUTH"));
    c.cmd("MAIL FROM:<spammer@remote.test>");
    assert!(c.reply().starts_with("250"));
    let cases = [
        ("<victim@remote.test>", "554 5.7.1"),
        ("<victim%remote.test@example.test>", "550 5.1.1"),
        ("<\"victim@remote.test\"@example.test>", "550 5.1.1"),
        ("<@example.test:victim@remote.test>", "554 5.7.1"),
        ("<victim@remote.test@example.test>", "501"),
        ("<victim@[127.0.0.1]>", "554 5.7.1"),
        ("<victim@[IPv6:::1]>", "554 5.7.1"),
        ("<victim!remote.test@example.test>", "550 5.1.1"),
        ("<nobody@example.test>", "550 5.1.1"),
        ("<alice@example.test>", "250"),
        ("<ALICE+tag@Example.Test>", "250"),
    ];
    for (rcpt, want) in cases {
        c.cmd(&format!("RCPT TO:{rcpt}"));
        let r = c.reply();
        assert!(
            r.starts_with(want),
            "RCPT TO:{rcpt} gave {r:?}, want {want}"
        );
    }
    c.cmd("QUIT");
    // Submission without AUTH: MAIL needs authentication.
    let mut s = Lines::connect(srv.addr("submission"));
    s.reply();
    s.cmd("EHLO x.test");
    s.reply();
    s.cmd("MAIL FROM:<alice@example.test>");
    assert!(s.reply().starts_with("530 5.7.0"));
    drop(s);
    assert!(srv.stop());
}

#[test]
fn aliases_catch_all_and_postmaster_deliver_once_per_account() {
    let mut srv = server_with_users();
    srv.cli(
        &[
            "alias",
            "add",
            "team@example.test",
            "alice@example.test,bob@example.test,sales@example.test",
        ],
        None,
    );
    srv.cli(
        &["alias", "add", "sales@example.test", "bob@example.test"],
        None,
    );
    srv.cli(
        &[
            "alias",
            "add",
            "postmaster@example.test",
            "alice@example.test",
        ],
        None,
    );
    let r = smtp_send(
        srv.addr("smtp"),
        "x@remote.test",
        &["team@example.test", "bob+tag@example.test"],
        "Subject: team\r\n\r\nfor the team\r\n",
    );
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let r = smtp_send(
        srv.addr("smtp"),
        "x@remote.test",
        &["postmaster"],
        "Subject: pm\r\n\r\nhi\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    let r = smtp_send(
        srv.addr("smtp"),
        "x@remote.test",
        &["unknown@example.test"],
        "x\r\n",
    );
    assert!(r.starts_with("550 5.1.1"), "{r}");
    srv.cli(&["alias", "add", "@example.test", "bob@example.test"], None);
    let r = smtp_send(
        srv.addr("smtp"),
        "x@remote.test",
        &["unknown@example.test"],
        "Subject: c\r\n\r\ncatch\r\n",
    );
    assert!(
        r.starts_with("250"),
        "the catch-all takes unknown addresses: {r}"
    );
    assert!(srv.stop());
    let dir = data_dir(&srv);
    let alice = mailbox_messages(&dir, "alice@example.test", "INBOX");
    let bob = mailbox_messages(&dir, "bob@example.test", "INBOX");
    assert_eq!(alice.len(), 2, "team + postmaster");
    assert_eq!(bob.len(), 2, "team once (despite three routes) + catch-all");
    assert!(String::from_utf8_lossy(&bob[0]).contains("Delivered-To: team@example.test"));
}

#[test]
fn a_client_gone_mid_data_delivers_nothing_and_leaves_no_file() {
    let mut srv = server_with_users();
    {
        let mut c = Lines::connect(srv.addr("smtp"));
        c.reply();
        c.cmd("EHLO x.test");
        c.reply();
        c.cmd("MAIL FROM:<x@remote.test>");
        c.reply();
        c.cmd("RCPT TO:<alice@example.test>");
        c.reply();
        c.cmd("DATA");
        assert!(c.reply().starts_with("354"));
        c.send(&vec![b'a'; 100_000]);
        c.send(b"\r\nmore\r\n");
    }
    // Garbage and TLS bytes on the plain port: an error, and the server goes on.
    let mut c = Lines::connect(srv.addr("smtp"));
    c.reply();
    c.send(&[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, b'\r', b'\n']);
    assert!(c.reply().starts_with("500"));
    c.cmd("NOOP");
    assert!(c.reply().starts_with("250"));
    drop(c);
    let r = smtp_send(
        srv.addr("smtp"),
        "x@remote.test",
        &["bob@example.test"],
        "Subject: ok\r\n\r\nok\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    assert!(srv.stop());
    let dir = data_dir(&srv);
    assert!(mailbox_messages(&dir, "alice@example.test", "INBOX").is_empty());
    assert_eq!(std::fs::read_dir(dir.join("blobs/tmp")).unwrap().count(), 0);
}

#[test]
fn too_many_connections_from_one_address_get_421() {
    let srv = Server::start("[limits]\nmax_connections = 50\nmax_connections_per_ip = 3\n");
    let mut held: Vec<Lines> = (0..3).map(|_| Lines::connect(srv.addr("smtp"))).collect();
    for c in &mut held {
        assert!(c.reply().starts_with("220"));
    }
    let mut extra = Lines::connect(srv.addr("smtp"));
    let r = extra.reply();
    assert!(r.starts_with("421 4.7.0"), "{r}");
    drop(held.pop());
    // The slot frees once the server sees the close: polled for.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut again = Lines::connect(srv.addr("smtp"));
        let r = again.reply();
        if r.starts_with("220") {
            break;
        }
        assert!(r.starts_with("421 4.7.0"), "{r}");
        assert!(std::time::Instant::now() < deadline, "the slot never freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// 50 concurrent sessions each send 20 messages; each arrives exactly once.
#[test]
fn fifty_concurrent_sessions_of_twenty_messages_arrive_exactly_once() {
    let mut srv = server_with_users();
    let addr = srv.addr("smtp");
    let workers: Vec<_> = (0..50)
        .map(|w| {
            std::thread::spawn(move || {
                let mut c = Lines::connect(addr);
                assert!(c.reply().starts_with("220"));
                c.cmd("EHLO load.test");
                c.reply();
                for i in 0..20 {
                    // Pipelined (RFC 2920): the envelope in one write.
                    c.send(
                        format!(
                            "MAIL FROM:<load{w}@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"
                        )
                        .as_bytes(),
                    );
                    for _ in 0..2 {
                        assert!(c.reply().starts_with("250"));
                    }
                    assert!(c.reply().starts_with("354"));
                    c.send(format!("Subject: load {w}-{i}\r\n\r\nbody {w}-{i}\r\n.\r\n").as_bytes());
                    let r = c.reply();
                    assert!(r.starts_with("250"), "{r}");
                }
                c.cmd("QUIT");
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert!(srv.stop());
    let msgs = mailbox_messages(&data_dir(&srv), "alice@example.test", "INBOX");
    let mut seen: HashMap<String, u32> = HashMap::new();
    for m in &msgs {
        let text = String::from_utf8_lossy(strip_trace(m)).into_owned();
        let subject = text.lines().next().unwrap_or_default().to_string();
        *seen.entry(subject).or_default() += 1;
    }
    assert_eq!(msgs.len(), 1000);
    assert_eq!(seen.len(), 1000);
    assert!(seen.values().all(|&n| n == 1));
}

/// kill -9 while messages stream in: every message that got its 250 is in
/// the mailbox exactly once, whole, and nothing half-written is visible.
#[test]
fn every_acknowledged_message_survives_sigkill_exactly_once() {
    let mut srv = server_with_users();
    let addr = srv.addr("smtp");
    let body_of = |w: usize, i: usize| {
        // Big enough that a kill often lands mid-message.
        format!(
            "Subject: crash {w}-{i}\r\n\r\n{}\r\n",
            format!("line {w}-{i} ").repeat(4000)
        )
    };
    let acked_so_far = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..5)
        .map(|w| {
            let acked_so_far = acked_so_far.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let Ok(s) = std::net::TcpStream::connect(addr) else {
                    return acked;
                };
                drop(s);
                let mut c = Lines::connect(addr);
                c.reply();
                c.cmd("EHLO crash.test");
                c.reply();
                for i in 0..40 {
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        c.cmd("MAIL FROM:<c@remote.test>");
                        c.reply();
                        c.cmd("RCPT TO:<bob@example.test>");
                        c.reply();
                        c.cmd("DATA");
                        c.reply();
                        c.send(body_of(w, i).as_bytes());
                        c.send(b".\r\n");
                        c.reply()
                    }));
                    match r {
                        Ok(reply) if reply.starts_with("250") => {
                            acked.push(i);
                            acked_so_far.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    // Killed once the burst is under way: some messages acknowledged,
    // others in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked_so_far.load(std::sync::atomic::Ordering::SeqCst) < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "no message acknowledged"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    srv.kill();
    let acked: Vec<Vec<usize>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let total: usize = acked.iter().map(Vec::len).sum();
    assert!(total > 0, "the burst was under way");

    let mut srv = srv.restart();
    assert!(srv.stop());
    let msgs = mailbox_messages(&data_dir(&srv), "bob@example.test", "INBOX");
    let mut count: HashMap<(usize, usize), u32> = HashMap::new();
    for m in &msgs {
        let body = String::from_utf8_lossy(strip_trace(m)).into_owned();
        let subject = body.lines().next().unwrap_or_default();
        let id = subject.trim_start_matches("Subject: crash ");
        let (w, i) = id.split_once('-').unwrap();
        let (w, i) = (w.parse().unwrap(), i.parse().unwrap());
        assert_eq!(body, body_of(w, i), "a stored message is whole");
        *count.entry((w, i)).or_default() += 1;
    }
    for (w, list) in acked.iter().enumerate() {
        for &i in list {
            assert_eq!(
                count.get(&(w, i)),
                Some(&1),
                "message {w}-{i} was acknowledged"
            );
        }
    }
    assert!(count.values().all(|&n| n == 1), "nothing delivered twice");
    assert_eq!(
        std::fs::read_dir(data_dir(&srv).join("blobs/tmp"))
            .unwrap()
            .count(),
        0,
        "temp files of the interrupted messages are gone"
    );
}

/// A real MTA's client side delivers to us: Postfix's smtp-source.
#[test]
fn postfix_smtp_source_delivers() {
    if !have_tool("/usr/sbin/smtp-source") {
        return;
    }
    let mut srv = server_with_users();
    let (ok, out, err) = run_bounded(
        Command::new("/usr/sbin/smtp-source")
            .args([
                "-s",
                "4",
                "-m",
                "40",
                "-l",
                "2048",
                "-f",
                "source@remote.test",
            ])
            .args(["-t", "alice@example.test", "-M", "client.remote.test"])
            .arg(srv.addr("smtp").to_string()),
        Duration::from_secs(120),
    );
    assert!(ok, "smtp-source failed: {out}\n{err}");
    assert!(srv.stop());
    let msgs = mailbox_messages(&data_dir(&srv), "alice@example.test", "INBOX");
    assert_eq!(msgs.len(), 40);
}

fn auth_plain(c: &mut Lines, user: &str, pass: &str) -> String {
    let token = {
        let raw = format!("\0{user}\0{pass}");
        facteur::proto::base64::encode(raw.as_bytes())
    };
    c.cmd(&format!("AUTH PLAIN {token}"));
    c.reply()
}

/// Repeated failures slow replies down, then refuse even a right password,
/// and never say whether the user exists.
#[test]
fn auth_failures_are_throttled_then_refused_without_revealing_users() {
    let srv = Server::start(
        "[tls]\nallow_plaintext_auth = true\n[limits]\nauth_failures_before_delay = 1\nauth_failures_before_refusal = 3\n",
    );
    srv.add_user("alice@example.test", "alice password");
    let mut c = Lines::connect(srv.addr("submission"));
    c.reply();
    c.cmd("EHLO x.test");
    assert!(c.reply().starts_with("250"));
    let unknown = auth_plain(&mut c, "nobody@example.test", "x");
    // From the first failure on (auth_failures_before_delay = 1), replies
    // wait the limiter's delay (seconds, far above argon2's few ms).
    let t = std::time::Instant::now();
    let wrong = auth_plain(&mut c, "alice@example.test", "x");
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "repeated failures are slowed down"
    );
    assert_eq!(
        unknown, wrong,
        "the same answer for unknown users and wrong passwords"
    );
    assert!(unknown.starts_with("535 5.7.8"), "{unknown}");
    // The third failure reaches auth_failures_before_refusal.
    let third = auth_plain(&mut c, "alice@example.test", "y");
    assert!(third.starts_with("535"), "{third}");
    let refused = auth_plain(&mut c, "alice@example.test", "alice password");
    assert!(
        refused.starts_with("454 4.7.0"),
        "refused even with the right password: {refused}"
    );
}

#[test]
fn sizes_over_the_limit_get_552_declared_or_streamed() {
    let mut srv = Server::start("[limits]\nmax_message_size = \"2 KiB\"\n");
    srv.add_user("alice@example.test", "alice password");
    let mut c = Lines::connect(srv.addr("smtp"));
    c.reply();
    c.cmd("EHLO x.test");
    let mut ehlo = Vec::new();
    loop {
        let l = c.line();
        let last = l.as_bytes().get(3) != Some(&b'-');
        ehlo.push(l);
        if last {
            break;
        }
    }
    assert!(ehlo.iter().any(|l| l.ends_with("SIZE 2048")), "{ehlo:?}");
    c.cmd("MAIL FROM:<x@remote.test> SIZE=5000");
    assert!(c.reply().starts_with("552 5.3.4"));
    c.cmd("MAIL FROM:<x@remote.test>");
    c.reply();
    c.cmd("RCPT TO:<alice@example.test>");
    c.reply();
    c.cmd("DATA");
    c.reply();
    c.send(format!("Subject: big\r\n\r\n{}\r\n.\r\n", "x".repeat(3000)).as_bytes());
    let r = c.reply();
    assert!(r.starts_with("552 5.3.4"), "{r}");
    c.cmd("QUIT");
    assert!(srv.stop());
    assert!(mailbox_messages(&data_dir(&srv), "alice@example.test", "INBOX").is_empty());
}

/// Logs in on the submission port (plaintext AUTH allowed by the config).
fn submission_login(srv: &Server, user: &str, pass: &str) -> Lines {
    let mut c = Lines::connect(srv.addr("submission"));
    c.reply();
    c.cmd("EHLO client.test");
    c.reply();
    let r = auth_plain(&mut c, user, pass);
    assert!(r.starts_with("235"), "{r}");
    c
}

/// One message over an open submission session; the reply to its data.
fn submit_message(c: &mut Lines, from: &str, to: &str, body: &str) -> String {
    c.cmd(&format!("MAIL FROM:<{from}>"));
    let r = c.reply();
    assert!(r.starts_with("250"), "{r}");
    c.cmd(&format!("RCPT TO:<{to}>"));
    let r = c.reply();
    assert!(r.starts_with("250"), "{r}");
    c.cmd("DATA");
    assert!(c.reply().starts_with("354"));
    c.send(body.as_bytes());
    c.send(b".\r\n");
    c.reply()
}

/// Hardening: From check fails closed. A fifth From field, a folded From
/// over 4 KiB that ends in a foreign address, and a second From after
/// 256 KiB of header fields are refused, not judged on what was seen.
#[test]
fn the_submission_from_check_fails_closed() {
    let mut srv = Server::start("[tls]\nallow_plaintext_auth = true\n");
    srv.add_user("alice@example.test", "alice password");
    srv.add_user("bob@example.test", "bob password");
    let mine = "From: alice@example.test\r\n";
    let fifth = format!("{}From: bob@example.test\r\n\r\nx\r\n", mine.repeat(4));
    let folded = format!(
        "From: alice@example.test,\r\n{} bob@example.test\r\n\r\nx\r\n",
        " alice@example.test,\r\n".repeat(200)
    );
    let padding = format!("X-Pad: {}\r\n", "p".repeat(990)).repeat(270);
    let late = format!("{mine}{padding}From: bob@example.test\r\n\r\nx\r\n");
    let mut c = submission_login(&srv, "alice@example.test", "alice password");
    for (name, body) in [("fifth", &fifth), ("folded", &folded), ("late", &late)] {
        let r = submit_message(&mut c, "alice@example.test", "bob@example.test", body);
        assert!(r.starts_with("550 5.7.1"), "{name}: {r}");
    }
    let r = submit_message(
        &mut c,
        "alice@example.test",
        "bob@example.test",
        &format!("{mine}\r\nfine\r\n"),
    );
    assert!(r.starts_with("250"), "{r}");
    c.cmd("QUIT");
    assert!(srv.stop());
    assert_eq!(
        mailbox_messages(&data_dir(&srv), "bob@example.test", "INBOX").len(),
        1
    );
}

/// Hardening: authenticated sending is limited per account: messages and
/// recipients per hour, answered 450 4.7.1 and logged.
#[test]
fn authenticated_sending_has_hourly_limits() {
    let srv = Server::start(
        "[tls]\nallow_plaintext_auth = true\n\
         [mta]\nmax_messages_per_hour = 2\nmax_recipients_per_hour = 3\n",
    );
    srv.add_user("alice@example.test", "alice password");
    srv.add_user("bob@example.test", "bob password");
    let mut c = submission_login(&srv, "alice@example.test", "alice password");
    c.cmd("MAIL FROM:<alice@example.test>");
    assert!(c.reply().starts_with("250"));
    for i in 0..3 {
        c.cmd(&format!("RCPT TO:<bob+{i}@example.test>"));
        assert!(c.reply().starts_with("250"));
    }
    c.cmd("RCPT TO:<bob+3@example.test>");
    let r = c.reply();
    assert!(r.starts_with("450 4.7.1"), "{r}");
    c.cmd("DATA");
    assert!(c.reply().starts_with("354"));
    c.send(b"From: alice@example.test\r\n\r\nhi\r\n.\r\n");
    assert!(c.reply().starts_with("250"));
    c.cmd("MAIL FROM:<alice@example.test>");
    assert!(c.reply().starts_with("250"));
    c.cmd("RCPT TO:<bob@example.test>");
    let r = c.reply();
    assert!(r.starts_with("450 4.7.1"), "{r}");
    c.cmd("RSET");
    c.reply();
    c.cmd("MAIL FROM:<alice@example.test>");
    let r = c.reply();
    assert!(r.starts_with("450 4.7.1"), "{r}");
    // Another account is not affected.
    let mut b = submission_login(&srv, "bob@example.test", "bob password");
    let r = submit_message(
        &mut b,
        "bob@example.test",
        "alice@example.test",
        "From: bob@example.test\r\n\r\nhi\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    assert!(srv
        .log()
        .contains("alice@example.test reached the hourly limit"));
}

/// Hardening: postmaster@ every local domain is always accepted (RFC 5321
/// §4.5.1); with no account or alias of that name it reaches the oldest
/// account.
#[test]
fn postmaster_is_always_accepted_and_reaches_the_admin() {
    let mut srv = server_with_users();
    srv.cli(&["domain", "add", "other.test"], None);
    for to in [
        "postmaster@example.test",
        "POSTMASTER@other.test",
        "postmaster",
    ] {
        let r = smtp_send(
            srv.addr("smtp"),
            "x@remote.test",
            &[to],
            "Subject: pm\r\n\r\nhi\r\n",
        );
        assert!(r.starts_with("250"), "{to}: {r}");
    }
    assert!(srv.stop());
    let alice = mailbox_messages(&data_dir(&srv), "alice@example.test", "INBOX");
    assert_eq!(alice.len(), 3);
}

/// Hardening: SMTP write timeout. A client that pipelines NOOPs and never
/// reads the replies is dropped once writing to it stalls for the command
/// timeout.
#[test]
fn a_client_that_never_reads_is_dropped() {
    use std::io::{Read, Write};
    let srv = Server::start("[timeouts]\nsmtp_command = \"2s\"\n");
    let mut s = std::net::TcpStream::connect(srv.addr("smtp")).unwrap();
    let mut greeting = [0u8; 512];
    let _ = s.read(&mut greeting).unwrap();
    s.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = "NOOP\r\n".repeat(10_000);
    let start = std::time::Instant::now();
    let mut dropped = false;
    while start.elapsed() < Duration::from_secs(40) {
        match s.write(chunk.as_bytes()) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                dropped = true;
                break;
            }
        }
    }
    assert!(dropped, "still connected after {:?}", start.elapsed());
}
