//! facteur's SMTP client end to end over loopback: against a real facteur
//! server (port 25 with opportunistic STARTTLS, submission with AUTH and
//! a verified certificate, implicit TLS), and against small TCP servers
//! that misbehave.

mod common;

use common::server::{mailbox_messages, strip_trace, Server};
use facteur::net::smtp_client::{
    deliver, opportunistic_tls, read_certificates, verified_tls, Target,
};
use facteur::proto::sasl::Credentials;
use facteur::proto::smtp::client::{Job, Outcome, RcptResult, Recipient, Timeouts, TlsPolicy};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

/// The message the tests send: dot lines that must survive stuffing, a
/// lone "." line that must not end the data, 8-bit octets, a bare LF.
const BODY: &[u8] = b"Subject: client test\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nnot the end\r\n8-bit: caf\xc3\xa9 \xff\nlast line\r\n";

fn job(sender: &str, rcpts: &[&str], tls: TlsPolicy) -> Job {
    Job {
        ehlo_name: "client.remote.example".into(),
        sender: sender.into(),
        recipients: rcpts
            .iter()
            .map(|r| Recipient {
                address: r.to_string(),
                notify: None,
                orcpt: None,
            })
            .collect(),
        size: BODY.len() as u64,
        eight_bit: true,
        smtputf8: false,
        ret: None,
        envid: None,
        tls,
        auth: None,
        implicit_tls: false,
    }
}

fn data_dir(srv: &Server) -> PathBuf {
    srv.dir.path().join("data")
}

fn kinds(o: &Outcome) -> Vec<String> {
    o.recipients
        .iter()
        .map(|r| match r {
            RcptResult::Delivered(d) => format!("D {}", d.status),
            RcptResult::Temporary(d) => format!("T {}", d.status),
            RcptResult::Permanent(d) => format!("P {}", d.status),
        })
        .collect()
}

/// The body as the server must store it: line ends made CR LF.
fn stored_form(header: &[u8]) -> Vec<u8> {
    let mut want = header.to_vec();
    want.extend_from_slice(&BODY.replace_bare_lf());
    want
}

trait BareLf {
    fn replace_bare_lf(&self) -> Vec<u8>;
}

impl BareLf for [u8] {
    fn replace_bare_lf(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut prev = 0u8;
        for &b in self {
            if b == b'\n' && prev != b'\r' {
                out.push(b'\r');
            }
            out.push(b);
            prev = b;
        }
        out
    }
}

/// The message as the queue hands it over: a prefix in memory, the rest
/// in a file.
fn message(dir: &std::path::Path, prefix: &'static [u8]) -> impl Read {
    let path = dir.join("blob");
    std::fs::write(&path, BODY).expect("write blob");
    prefix.chain(std::fs::File::open(&path).expect("open blob"))
}

#[test]
fn delivers_to_the_mta_port_over_opportunistic_starttls() {
    let mut srv = Server::start("");
    srv.add_user("alice@example.test", "alice password");
    let mut target = Target::new(
        srv.addr("smtp"),
        "mail.example.test",
        opportunistic_tls().expect("tls config"),
    );
    target.timeouts = Timeouts::uniform(Duration::from_secs(20));
    let j = job(
        "sender@remote.example",
        &["alice@example.test", "nobody@example.test"],
        TlsPolicy::Opportunistic,
    );
    let prefix: &[u8] = b"X-Queued: 1\r\n";
    let o = smol::block_on(deliver(&target, &j, message(srv.dir.path(), prefix)));
    assert_eq!(kinds(&o), ["D 2.0.0", "P 5.1.1"], "{o:?}");
    assert!(o.tls, "STARTTLS with the self-signed certificate: {o:?}");
    assert!(!o.tls_failed);
    assert_eq!(o.remote_host.as_deref(), Some("mail.example.test"));
    assert!(o.recipients[1]
        .diagnostic()
        .to_string()
        .contains("(in reply to RCPT TO command)"));

    // A handshake that fails (here: a certificate this client will not
    // accept) is followed by a second attempt in the clear (RFC 7435).
    target.tls = verified_tls(&[]).expect("system roots");
    let o = smol::block_on(deliver(&target, &j, message(srv.dir.path(), prefix)));
    assert_eq!(kinds(&o), ["D 2.0.0", "P 5.1.1"], "{o:?}");
    assert!(o.tls_failed && !o.tls, "{o:?}");

    assert!(srv.stop());
    let msgs = mailbox_messages(&data_dir(&srv), "alice@example.test", "INBOX");
    assert_eq!(msgs.len(), 2);
    let text = String::from_utf8_lossy(&msgs[0]);
    assert!(
        text.starts_with("Return-Path: <sender@remote.example>\r\n"),
        "{text}"
    );
    assert!(text.contains("with ESMTPS"), "received over TLS: {text}");
    let text = String::from_utf8_lossy(&msgs[1]);
    assert!(!text.contains("with ESMTPS"), "in the clear: {text}");
    for m in &msgs {
        assert_eq!(strip_trace(m), stored_form(prefix));
    }
}

#[test]
fn submits_with_auth_plain_and_a_verified_certificate() {
    let mut srv = Server::start("");
    srv.add_user("alice@example.test", "alice password");
    srv.add_user("bob@example.test", "bob password");
    let cert = read_certificates(&data_dir(&srv).join("tls/cert.pem")).expect("server cert");
    let tls = verified_tls(&cert).expect("tls config");
    let mut j = job(
        "alice@example.test",
        &["bob@example.test", "carol@remote.example"],
        TlsPolicy::Required,
    );
    j.auth = Some(Credentials {
        authzid: String::new(),
        username: "alice@example.test".into(),
        password: "alice password".into(),
    });
    let prefix: &[u8] = b"From: alice@example.test\r\n";
    // STARTTLS on submission, then implicit TLS on submissions.
    for (service, implicit) in [("submission", false), ("submissions", true)] {
        let mut target = Target::new(srv.addr(service), "localhost", tls.clone());
        target.timeouts = Timeouts::uniform(Duration::from_secs(20));
        j.implicit_tls = implicit;
        let o = smol::block_on(deliver(&target, &j, message(srv.dir.path(), prefix)));
        // The local recipient is delivered, the remote one queued.
        assert_eq!(kinds(&o), ["D 2.0.0", "D 2.0.0"], "{service}: {o:?}");
        assert!(o.tls && o.authenticated, "{service}: {o:?}");
    }

    // Implicit TLS that fails.
    let target = Target::new(srv.addr("submissions"), "wrong.example", tls.clone());
    let o = smol::block_on(deliver(&target, &j, message(srv.dir.path(), prefix)));
    assert!(o.tls_failed && !o.tls, "{o:?}");
    assert_eq!(kinds(&o), ["T 4.7.0", "T 4.7.0"]);
    j.implicit_tls = false;

    // A wrong password: deferred, nothing delivered.
    j.auth = Some(Credentials {
        authzid: String::new(),
        username: "alice@example.test".into(),
        password: "wrong".into(),
    });
    let target = Target::new(srv.addr("submission"), "localhost", tls.clone());
    let o = smol::block_on(deliver(&target, &j, message(srv.dir.path(), prefix)));
    assert_eq!(kinds(&o), ["T 4.7.8", "T 4.7.8"], "{o:?}");

    // The certificate is really checked: without the server's certificate
    // as a root, or under another name, the handshake fails.
    let strict = verified_tls(&[]).expect("system roots");
    let target = Target::new(srv.addr("submission"), "localhost", strict);
    let o = smol::block_on(deliver(&target, &j, message(srv.dir.path(), prefix)));
    assert!(o.tls_failed && !o.tls, "{o:?}");
    assert_eq!(kinds(&o), ["T 4.7.0", "T 4.7.0"]);
    let target = Target::new(srv.addr("submission"), "wrong.example", tls);
    let o = smol::block_on(deliver(&target, &j, message(srv.dir.path(), prefix)));
    assert!(o.tls_failed, "{o:?}");

    assert!(srv.stop());
    let msgs = mailbox_messages(&data_dir(&srv), "bob@example.test", "INBOX");
    assert_eq!(msgs.len(), 2);
    for m in &msgs {
        let text = String::from_utf8_lossy(m);
        assert!(text.contains("with ESMTPSA"), "{text}");
        assert_eq!(strip_trace(m), stored_form(prefix));
    }
}

/// A one-connection TCP server that plays `script` (None: never says
/// anything), then closes when `hold` is false, or else reads until the
/// client leaves, bounded in time.
fn fake_server(script: Option<&'static [u8]>, hold: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        if let Some(bytes) = script {
            let _ = s.write_all(bytes);
        }
        if !hold {
            // Let the client's EHLO arrive first, so the close is clean.
            let mut line = [0u8; 64];
            let _ = s.read(&mut line);
            return;
        }
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = s.read(&mut buf) {
            let _ = n;
        }
    });
    addr
}

fn quick_target(addr: SocketAddr) -> Target {
    let mut t = Target::new(addr, "mx.remote.example", opportunistic_tls().expect("tls"));
    t.connect_timeout = Duration::from_secs(2);
    t.timeouts = Timeouts::uniform(Duration::from_secs(1));
    t
}

fn attempt(addr: SocketAddr) -> Outcome {
    let j = job(
        "a@x.example",
        &["b@y.example", "c@y.example"],
        TlsPolicy::Opportunistic,
    );
    smol::block_on(deliver(&quick_target(addr), &j, BODY))
}

#[test]
fn misbehaving_servers_give_temporary_failures() {
    let o = attempt(fake_server(Some(b"SSH-2.0-OpenSSH_9.6\r\n"), true));
    assert_eq!(kinds(&o), ["T 4.5.0", "T 4.5.0"]);
    assert!(o.recipients[0]
        .diagnostic()
        .text
        .contains("malformed reply"));

    let o = attempt(fake_server(Some(b"554 5.7.1 no mail from you\r\n"), true));
    assert_eq!(kinds(&o), ["T 4.7.1", "T 4.7.1"]);
    assert_eq!(
        o.recipients[0].diagnostic().text,
        "554 5.7.1 no mail from you"
    );

    let o = attempt(fake_server(None, true));
    assert_eq!(kinds(&o), ["T 4.4.2", "T 4.4.2"]);
    let text = &o.recipients[0].diagnostic().text;
    assert!(
        text.contains("no reply") && text.contains("greeting"),
        "{text}"
    );

    // Closed after the greeting.
    let o = attempt(fake_server(Some(b"220 mx ready\r\n250-mx\r\n"), false));
    assert_eq!(kinds(&o), ["T 4.4.2", "T 4.4.2"]);
    let text = &o.recipients[0].diagnostic().text;
    assert!(
        text.contains("closed the connection") && text.contains("EHLO"),
        "{text}"
    );

    // Nobody listening.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let o = attempt(port);
    assert_eq!(kinds(&o), ["T 4.4.1", "T 4.4.1"]);
    assert!(o.recipients[0].diagnostic().text.contains("cannot connect"));
}

/// A scripted server without CHUNKING, so the client uses DATA; returns
/// the raw bytes of the content as they came over the wire.
fn data_server() -> (SocketAddr, std::sync::mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        // Reads until `needle` has arrived; false on EOF or timeout.
        let mut wait_for = |s: &mut std::net::TcpStream, got: &mut Vec<u8>, needle: &[u8]| loop {
            if got.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
            match s.read(&mut buf) {
                Ok(n @ 1..) => got.extend_from_slice(&buf[..n]),
                _ => return false,
            }
        };
        let _ = s.write_all(b"220 fake ESMTP\r\n");
        if !wait_for(&mut s, &mut got, b"\r\n") {
            return;
        }
        let _ = s.write_all(b"250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
        if !wait_for(&mut s, &mut got, b"DATA\r\n") {
            return;
        }
        let _ = s.write_all(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go on\r\n");
        let start = got.len();
        if !wait_for(&mut s, &mut got, b"\r\n.\r\n") {
            return;
        }
        let _ = s.write_all(b"250 2.0.0 queued\r\n");
        let _ = tx.send(got.split_off(start));
        let mut rest = Vec::new();
        if wait_for(&mut s, &mut rest, b"QUIT\r\n") {
            let _ = s.write_all(b"221 2.0.0 bye\r\n");
        }
    });
    (addr, rx)
}

#[test]
fn data_goes_out_dot_stuffed_in_bounded_chunks() {
    let (addr, rx) = data_server();
    // Large enough for many read chunks, with dots at line starts all
    // through it and a last line without its line end.
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    for i in 0..20_000 {
        body.extend_from_slice(format!(".line {i}\n").as_bytes());
    }
    body.extend_from_slice(b"no final line end");
    let mut j = job("a@x.example", &["b@y.example"], TlsPolicy::Opportunistic);
    j.size = body.len() as u64;
    let o = smol::block_on(deliver(&quick_target(addr), &j, body.as_slice()));
    assert_eq!(kinds(&o), ["D 2.0.0"], "{o:?}");
    assert!(!o.tls);
    let wire = rx.recv_timeout(Duration::from_secs(10)).expect("content");
    let mut want = b"Subject: big\r\n\r\n".to_vec();
    for i in 0..20_000 {
        want.extend_from_slice(format!("..line {i}\r\n").as_bytes());
    }
    want.extend_from_slice(b"no final line end\r\n.\r\n");
    assert_eq!(wire.len(), want.len());
    assert!(wire == want, "the content on the wire differs");
}
