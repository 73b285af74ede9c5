use super::super::address::Mailbox;
use super::*;
use crate::proto::base64;

/// What the fake adapter saw, for comparing runs.
#[derive(Debug, Default, PartialEq, Eq)]
struct Transcript {
    output: Vec<u8>,
    events: Vec<String>,
    bodies: Vec<Vec<u8>>,
    writes: usize,
}

fn local(m: &Mailbox) -> &str {
    &m.local
}

/// A fake adapter: `reject*` senders and `unknown*` recipients are
/// refused, alice/secret logs in, `slow` is throttled.
fn answer(s: &mut Session, a: Action, t: &mut Transcript, body: &mut Vec<u8>) -> bool {
    match a {
        Action::Write(b) => {
            t.writes += 1;
            t.output.extend_from_slice(&b);
        }
        Action::StartTls => {
            t.events.push("starttls".into());
            s.tls_established(TlsInfo {
                version: "TLSv1.3".into(),
                cipher: "TLS13_AES_128_GCM_SHA256".into(),
            });
        }
        Action::Auth {
            mechanism,
            credentials,
        } => {
            t.events.push(format!(
                "auth {} {} {}",
                mechanism.name(),
                credentials.authzid,
                credentials.username
            ));
            s.auth_result(
                match (credentials.username.as_str(), credentials.password.as_str()) {
                    ("alice", "secret") => AuthOutcome::Ok,
                    ("slow", _) => AuthOutcome::Throttled,
                    _ => AuthOutcome::Failed,
                },
            );
        }
        Action::Mail { from, params } => {
            t.events.push(format!("mail {from} {params:?}"));
            let reject = matches!(&from, ReversePath::Mailbox(m) if local(m).starts_with("reject"));
            s.mail_result(if reject {
                Err(Reply::new(550, "5.7.1", "Sender refused"))
            } else {
                Ok(())
            });
        }
        Action::Rcpt { to, params } => {
            t.events.push(format!("rcpt {to} {params:?}"));
            let unknown = matches!(&to, ForwardPath::Mailbox(m) if local(m).starts_with("unknown"));
            let harvest = matches!(&to, ForwardPath::Mailbox(m) if local(m).starts_with("harvest"));
            s.rcpt_result(if unknown {
                Err(Reply::new(550, "5.1.1", "No such user"))
            } else if harvest {
                Err(Reply::new(421, "4.7.1", "Too many failed recipients"))
            } else {
                Ok(())
            });
        }
        Action::BodyStart => {
            t.events.push("body-start".into());
            body.clear();
        }
        Action::Body(c) => {
            assert!(!c.is_empty() && c.len() <= 2 * BODY_CHUNK);
            body.extend_from_slice(&c);
        }
        Action::BodyEnd { size, headers } => {
            assert_eq!(size, body.len() as u64);
            t.events
                .push(format!("body-end {size} from={:?}", headers.from));
            let rcpts: Vec<String> = s
                .recipients()
                .iter()
                .zip(s.recipient_params())
                .map(|(r, p)| format!("{r} {:?}", p.notify))
                .collect();
            t.events
                .push(format!("envelope {rcpts:?} {:?}", s.mail_params()));
            t.bodies.push(std::mem::take(body));
            s.data_result(Reply::new(250, "2.0.0", "Queued"));
        }
        Action::BodyAbort => {
            t.events.push("body-abort".into());
            body.clear();
        }
        Action::Close => {
            t.events.push("close".into());
            return false;
        }
    }
    true
}

fn run_pieces(config: &Arc<Config>, tls: bool, pieces: &[&[u8]]) -> Transcript {
    let now = Instant::now();
    let info = tls.then(|| TlsInfo {
        version: "TLSv1.3".into(),
        cipher: "X".into(),
    });
    let mut s = Session::new(config.clone(), "192.0.2.9".parse().unwrap(), info, now);
    let mut t = Transcript::default();
    let mut body = Vec::new();
    let mut open = true;
    let mut drive = |s: &mut Session, t: &mut Transcript| {
        while let Some(a) = s.poll(now) {
            if !answer(s, a, t, &mut body) {
                return false;
            }
        }
        true
    };
    open &= drive(&mut s, &mut t);
    for piece in pieces {
        let mut rest = *piece;
        while open && !rest.is_empty() {
            let n = s.feed(rest);
            rest = &rest[n..];
            open &= drive(&mut s, &mut t);
        }
    }
    t.writes = 0;
    t
}

fn submission() -> Arc<Config> {
    Arc::new(Config::new("mx.example.org", Mode::Submission))
}

fn mta() -> Arc<Config> {
    Arc::new(Config::new("mx.example.org", Mode::Mta))
}

/// Runs the script whole, byte by byte, and split in two at every
/// position; all runs must give the same transcript.
fn check(config: &Arc<Config>, tls: bool, script: &[u8]) -> Transcript {
    let whole = run_pieces(config, tls, &[script]);
    let bytes: Vec<&[u8]> = script.chunks(1).collect();
    assert_eq!(run_pieces(config, tls, &bytes), whole, "byte by byte");
    for i in 1..script.len() {
        let (a, b) = script.split_at(i);
        assert_eq!(run_pieces(config, tls, &[a, b]), whole, "split at {i}");
    }
    whole
}

/// "250 2.1.0"-style summary of each reply (last line), or just the code.
fn codes(t: &Transcript) -> Vec<String> {
    let text = String::from_utf8_lossy(&t.output);
    text.split("\r\n")
        .filter(|l| l.len() >= 4 && l.as_bytes()[3] == b' ')
        .map(|l| {
            let mut w = l.split(' ');
            let code = w.next().unwrap_or("");
            match w.next() {
                Some(st) if st.len() >= 5 && st.as_bytes()[1] == b'.' => format!("{code} {st}"),
                _ => code.to_owned(),
            }
        })
        .collect()
}

const SIMPLE: &[u8] = b"EHLO client.example\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<b@mx.example.org>\r\nDATA\r\nSubject: t\r\n\r\nhello\r\n.\r\nQUIT\r\n";

#[test]
fn a_421_answer_closes_the_session() {
    // RFC 5321 §3.8: after 421 the server closes; later commands are
    // never read.
    let t = check(
        &mta(),
        false,
        b"EHLO c.example\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<harvest@mx.example.org>\r\nRCPT TO:<b@mx.example.org>\r\n",
    );
    assert_eq!(codes(&t), ["220", "250", "250 2.1.0", "421 4.7.1"]);
    assert_eq!(t.events.last().map(String::as_str), Some("close"));
}

#[test]
fn simple_delivery_on_the_mta_port() {
    let t = check(&mta(), false, SIMPLE);
    assert_eq!(
        codes(&t),
        [
            "220",
            "250",
            "250 2.1.0",
            "250 2.1.5",
            "354",
            "250 2.0.0",
            "221 2.0.0"
        ]
    );
    assert_eq!(t.bodies, [b"Subject: t\r\n\r\nhello\r\n".to_vec()]);
    assert_eq!(t.events.last().map(String::as_str), Some("close"));
    let text = String::from_utf8_lossy(&t.output);
    assert!(text.starts_with("220 mx.example.org ESMTP"));
    for ext in [
        "PIPELINING",
        "SIZE 26214400",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
        "DSN",
        "CHUNKING",
    ] {
        assert!(
            text.contains(&format!("250-{ext}\r\n")) || text.contains(&format!("250 {ext}\r\n")),
            "{ext}"
        );
    }
    assert!(!text.contains("AUTH"), "no AUTH on port 25");
}

#[test]
fn pipelined_replies_leave_together() {
    let now = Instant::now();
    let mut s = Session::new(mta(), "192.0.2.9".parse().unwrap(), None, now);
    let mut t = Transcript::default();
    let mut body = Vec::new();
    while let Some(a) = s.poll(now) {
        answer(&mut s, a, &mut t, &mut body);
    }
    s.feed(b"EHLO c\r\n");
    while let Some(a) = s.poll(now) {
        answer(&mut s, a, &mut t, &mut body);
    }
    let before = t.writes;
    s.feed(b"MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nRCPT TO:<unknown@y.example>\r\nDATA\r\n");
    while let Some(a) = s.poll(now) {
        answer(&mut s, a, &mut t, &mut body);
    }
    assert_eq!(t.writes - before, 1, "one write for the whole group");
    assert_eq!(
        codes(&t)[2..],
        ["250 2.1.0", "250 2.1.5", "550 5.1.1", "354"]
    );
}

#[test]
fn helo_vrfy_help_noop_rset_and_unknown() {
    let t = check(&mta(), false, b"HELO c\r\nVRFY root\r\nHELP\r\nNOOP\r\nRSET\r\nEXPN list\r\nFOO\r\nRSET x\r\nMAIL FROM:<a@b.example> SIZE=10\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n");
    assert_eq!(
        codes(&t),
        [
            "220",
            "250",
            "252 2.5.2",
            "214 2.0.0",
            "250 2.0.0",
            "250 2.0.0",
            "502 5.5.1",
            "500 5.5.1",
            "501 5.5.4",
            "555 5.5.4",
            "250 2.1.0",
            "221 2.0.0"
        ]
    );
    assert!(
        !String::from_utf8_lossy(&t.output).contains("250-PIPELINING"),
        "HELO lists no extensions"
    );
}

#[test]
fn sequence_errors() {
    let t = check(&mta(), false, b"MAIL FROM:<a@b.example>\r\nEHLO c\r\nRCPT TO:<b@c.example>\r\nDATA\r\nMAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\nDATA\r\nRCPT TO:<unknown@c.example>\r\nDATA\r\nBDAT 3 LAST\r\nabcRCPT TO:<>\r\nQUIT\r\n");
    assert_eq!(
        codes(&t),
        [
            "220",
            "503 5.5.1",
            "250",
            "503 5.5.1",
            "503 5.5.1",
            "250 2.1.0",
            "503 5.5.1",
            "554 5.5.1",
            "550 5.1.1",
            "554 5.5.1",
            "554 5.5.1",
            "501 5.1.3",
            "221 2.0.0"
        ]
    );
    assert!(!t.events.iter().any(|e| e == "body-start"));
}

#[test]
fn sender_rejection_and_params_reach_the_adapter() {
    let t = check(&mta(), false, b"EHLO c\r\nMAIL FROM:<reject@b.example>\r\nMAIL FROM:<> RET=FULL ENVID=id+2B1 BODY=8BITMIME\r\nRCPT TO:<u@c.example> NOTIFY=FAILURE,DELAY ORCPT=rfc822;u@c.example\r\nRCPT TO:<postmaster>\r\nRSET\r\n");
    assert_eq!(
        codes(&t),
        [
            "220",
            "250",
            "550 5.7.1",
            "250 2.1.0",
            "250 2.1.5",
            "250 2.1.5",
            "250 2.0.0"
        ]
    );
    assert!(t.events.iter().any(|e| e.starts_with("mail <> ")
        && e.contains("ret: Some(Full)")
        && e.contains("envid: Some(\"id+1\")")
        && e.contains("EightBitMime")));
    assert!(t
        .events
        .iter()
        .any(|e| e.contains("failure: true, delay: true") && e.contains("addr_type: \"rfc822\"")));
    assert!(t.events.iter().any(|e| e.starts_with("rcpt <postmaster>")));
}

#[test]
fn recipient_params_stay_in_step_with_accepted_recipients() {
    let t = check(&mta(), false, b"EHLO c\r\nMAIL FROM:<a@b.example> RET=HDRS\r\nRCPT TO:<x@c.example> NOTIFY=NEVER\r\nRCPT TO:<unknown@c.example> NOTIFY=SUCCESS\r\nRCPT TO:<y@c.example> NOTIFY=FAILURE\r\nDATA\r\nhi\r\n.\r\n");
    let env = t
        .events
        .iter()
        .find(|e| e.starts_with("envelope "))
        .expect("envelope event");
    assert!(
        env.contains("\"<x@c.example> Some(Notify { success: false, failure: false, delay: false })\", \"<y@c.example> Some(Notify { success: false, failure: true, delay: false })\"]"),
        "{env}"
    );
    assert!(env.contains("ret: Some(Headers)"), "{env}");
}

#[test]
fn dot_stuffing_and_bare_lf_normalisation() {
    let t = check(&mta(), false, b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nDATA\r\n..lead\r\nbare\nlf\r\n.\r\nNOOP\r\n");
    assert_eq!(t.bodies, [b".lead\r\nbare\r\nlf\r\n".to_vec()]);
    assert_eq!(codes(&t).last().map(String::as_str), Some("250 2.0.0"));
}

#[test]
fn smuggled_commands_stay_in_the_body() {
    for trick in [&b"\n.\n"[..], b"\r.\r", b"\r\n.\n", b"\n.\r\n", b"\r\n.\r"] {
        let mut script =
            b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nDATA\r\nhi".to_vec();
        script.extend_from_slice(trick);
        script.extend_from_slice(
            b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@c.example>\r\nDATA\r\nforged\r\n.\r\n",
        );
        let t = check(&mta(), false, &script);
        assert_eq!(t.bodies.len(), 1, "{trick:?}");
        assert!(t.bodies[0].windows(4).any(|w| w == b"MAIL"), "{trick:?}");
        assert!(!t.events.iter().any(|e| e.contains("evil")), "{trick:?}");
    }
}

#[test]
fn declared_and_streamed_size_limits() {
    let mut c = Config::new("mx.example.org", Mode::Mta);
    c.max_message_size = 20;
    c.max_text_line = 8;
    let c = Arc::new(c);
    let t = check(&c, false, b"EHLO c\r\nMAIL FROM:<a@b.example> SIZE=21\r\nMAIL FROM:<a@b.example> SIZE=20\r\nRCPT TO:<u@c.example>\r\nDATA\r\n0123456\r\n0123456\r\n0123456\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nDATA\r\n012345678\r\n.\r\nNOOP\r\n");
    assert_eq!(
        codes(&t),
        [
            "220",
            "250",
            "552 5.3.4",
            "250 2.1.0",
            "250 2.1.5",
            "354",
            "552 5.3.4",
            "250 2.1.0",
            "250 2.1.5",
            "354",
            "552 5.3.4",
            "250 2.0.0"
        ]
    );
    assert_eq!(t.events.iter().filter(|e| *e == "body-abort").count(), 2);
    assert!(t.bodies.is_empty());
}

#[test]
fn long_command_lines_and_nul_bytes() {
    let mut script = b"EHLO c\r\n".to_vec();
    script.extend_from_slice(&[b'A'; 600]);
    script.extend_from_slice(b"\r\nNO\0OP\r\nNOOP\r\n");
    let t = check(&mta(), false, &script);
    assert_eq!(
        codes(&t),
        ["220", "250", "500 5.5.2", "500 5.5.2", "250 2.0.0"]
    );
}

#[test]
fn too_many_bad_commands_disconnects() {
    let mut c = Config::new("mx.example.org", Mode::Mta);
    c.max_bad_commands = 3;
    let c = Arc::new(c);
    // A TLS ClientHello on the plaintext port counts as garbage.
    let t = check(
        &c,
        false,
        b"\x16\x03\x01\x02\x00\x01\r\nFOO\r\nBAR\r\nNOOP\r\n",
    );
    assert_eq!(
        codes(&t),
        ["220", "500 5.5.2", "500 5.5.1", "500 5.5.1", "421 4.7.0"]
    );
    assert_eq!(t.events, ["close"]);
}

#[test]
fn too_many_recipients() {
    let mut c = Config::new("mx.example.org", Mode::Mta);
    c.max_recipients = 2;
    let t = check(&Arc::new(c), false, b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nRCPT TO:<v@c.example>\r\nRCPT TO:<w@c.example>\r\n");
    assert_eq!(codes(&t)[4..], ["250 2.1.5", "452 4.5.3"]);
}

#[test]
fn utf8_addresses_need_smtputf8() {
    let script = "EHLO c\r\nMAIL FROM:<jö@b.example>\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<ü@c.example>\r\nRSET\r\nMAIL FROM:<jö@b.example> SMTPUTF8\r\nRCPT TO:<ü@c.example>\r\nRCPT TO:<\u{fffd}@c.example>\r\n";
    let mut bytes = script.as_bytes().to_vec();
    bytes.extend_from_slice(b"RCPT TO:<\xff@c.example>\r\n");
    let t = check(&mta(), false, &bytes);
    assert_eq!(
        codes(&t),
        [
            "220",
            "250",
            "553 5.6.7",
            "250 2.1.0",
            "553 5.6.7",
            "250 2.0.0",
            "250 2.1.0",
            "250 2.1.5",
            "250 2.1.5",
            "501 5.1.3"
        ]
    );
}

#[test]
fn bdat_chunks_last_and_zero() {
    let t = check(&mta(), false, b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nBDAT 9\r\nFrom: a@\nBDAT 13\r\n b.example\r\n\nBDAT 0 LAST\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nBDAT 3 LAST\r\n.\r\nNOOP\r\n");
    assert_eq!(
        codes(&t),
        [
            "220",
            "250",
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0",
            "250 2.0.0",
            "250 2.0.0",
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0",
            "250 2.0.0"
        ]
    );
    // Bare LF became CR LF; nothing else changed, dots included.
    assert_eq!(
        t.bodies,
        [
            b"From: a@\r\n b.example\r\n\r\n".to_vec(),
            b".\r\n".to_vec()
        ]
    );
    assert!(t
        .events
        .iter()
        .any(|e| e.contains("from=[\"a@b.example\"]")));
    assert!(String::from_utf8_lossy(&t.output).contains("250 2.0.0 10 octets received"));
}

#[test]
fn bdat_errors_consume_the_chunk() {
    let mut c = Config::new("mx.example.org", Mode::Mta);
    c.max_message_size = 5;
    let t = check(&Arc::new(c), false, b"EHLO c\r\nBDAT 4\r\nNOOPMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nBDAT 4\r\nabcdBDAT 4\r\nefghBDAT 1 LAST\r\nxNOOP\r\n");
    assert_eq!(
        codes(&t),
        [
            "220",
            "250",
            "503 5.5.1",
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0",
            "552 5.3.4",
            "552 5.3.4",
            "250 2.0.0"
        ]
    );
    assert_eq!(t.events.iter().filter(|e| *e == "body-abort").count(), 1);
    assert!(t.bodies.is_empty());
}

/// Hardening item 12: BDAT applies `max_text_line` as DATA does, to lines
/// that span chunks too (RFC 5322 §2.1.1), with 552 5.3.4 for the chunk
/// and the transaction failed until LAST.
#[test]
fn bdat_refuses_lines_over_the_text_line_limit() {
    let mut c = Config::new("mx.example.org", Mode::Mta);
    c.max_text_line = 8;
    let t = check(&Arc::new(c), false, b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nBDAT 10\r\n01234567\r\nBDAT 4\r\n0123BDAT 6\r\n45678\nBDAT 3 LAST\r\nx\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nBDAT 10 LAST\r\n01234567\r\nNOOP\r\n");
    assert_eq!(
        codes(&t),
        [
            "220",
            "250",
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0",
            "250 2.0.0",
            "552 5.3.4",
            "552 5.3.4",
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0",
            "250 2.0.0"
        ]
    );
    assert_eq!(t.events.iter().filter(|e| *e == "body-abort").count(), 1);
    assert_eq!(t.bodies, [b"01234567\r\n".to_vec()]);
    assert!(String::from_utf8_lossy(&t.output).contains("Message line too long"));
}

#[test]
fn starttls_discards_pipelined_plaintext_and_resets() {
    let t = run_pieces(
        &submission(),
        false,
        &[
            b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@b.example>\r\n",
            b"MAIL FROM:<a@b.example>\r\nEHLO c\r\nSTARTTLS\r\n",
        ],
    );
    assert_eq!(
        codes(&t),
        ["220", "250", "220 2.0.0", "503 5.5.1", "250", "503 5.5.1"]
    );
    assert_eq!(t.events, ["starttls"]);
    let text = String::from_utf8_lossy(&t.output);
    let (before, after) = text.split_once("220 2.0.0").unwrap();
    assert!(before.contains("STARTTLS") && !before.contains("AUTH"));
    assert!(after.contains("AUTH PLAIN LOGIN") && !after.contains("250-STARTTLS"));
}

fn plain(user: &str, pass: &str) -> String {
    base64::encode(format!("\0{user}\0{pass}").as_bytes())
}

#[test]
fn submission_requires_auth_and_tls() {
    let t = check(
        &submission(),
        false,
        b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@b.example>\r\n",
    );
    assert_eq!(codes(&t), ["220", "250", "538 5.7.11", "530 5.7.0"]);
    let t = check(
        &mta(),
        true,
        b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
    );
    assert_eq!(codes(&t), ["220", "250", "502 5.5.1"]);
}

#[test]
fn auth_plain_and_login_variants() {
    let ok = plain("alice", "secret");
    let bad = plain("bob", "guess");
    let script = format!(
        "EHLO c\r\nAUTH PLAIN {bad}\r\nAUTH PLAIN\r\n*\r\nAUTH LOGIN\r\nYWxpY2U=\r\n*\r\nAUTH PLAIN !!\r\nAUTH PLAIN =\r\nAUTH PLAIN\r\n{ok}\r\nAUTH PLAIN {ok}\r\nMAIL FROM:<alice@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\nFrom: Alice <alice@b.example>\r\n\r\nhi\r\n.\r\n"
    );
    let t = check(&submission(), true, script.as_bytes());
    assert_eq!(
        codes(&t),
        [
            "220",
            "250",
            "535 5.7.8",
            "334",
            "501 5.0.0",
            "334",
            "334",
            "501 5.0.0",
            "501 5.5.2",
            "501 5.5.2",
            "334",
            "235 2.7.0",
            "503 5.5.1",
            "250 2.1.0",
            "250 2.1.5",
            "354",
            "250 2.0.0"
        ]
    );
    assert!(t
        .events
        .iter()
        .any(|e| e == "body-end 37 from=[\"alice@b.example\"]"));
    let text = String::from_utf8_lossy(&t.output);
    assert!(
        text.contains("334 \r\n")
            && text.contains("334 VXNlcm5hbWU6\r\n")
            && text.contains("334 UGFzc3dvcmQ6\r\n")
    );

    let script = "EHLO c\r\nAUTH LOGIN YWxpY2U=\r\nc2VjcmV0\r\nNOOP\r\n";
    let t = check(&submission(), true, script.as_bytes());
    assert_eq!(codes(&t), ["220", "250", "334", "235 2.7.0", "250 2.0.0"]);
    assert!(t.events.iter().any(|e| e == "auth LOGIN  alice"));

    let script = format!("EHLO c\r\nAUTH PLAIN {}\r\n", plain("slow", "x"));
    assert_eq!(
        codes(&check(&submission(), true, script.as_bytes())),
        ["220", "250", "454 4.7.0"]
    );
}

#[test]
fn auth_not_allowed_during_a_transaction() {
    let ok = plain("alice", "secret");
    let script =
        format!("EHLO c\r\nAUTH PLAIN {ok}\r\nMAIL FROM:<a@b.example>\r\nAUTH PLAIN {ok}\r\n");
    let t = check(&submission(), true, script.as_bytes());
    assert_eq!(
        codes(&t),
        ["220", "250", "235 2.7.0", "250 2.1.0", "503 5.5.1"]
    );
}

#[test]
fn timeout_aborts_the_body_and_closes() {
    let now = Instant::now();
    let mut s = Session::new(mta(), "192.0.2.9".parse().unwrap(), None, now);
    let mut t = Transcript::default();
    let mut body = Vec::new();
    s.feed(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nDATA\r\npartial");
    while let Some(a) = s.poll(now) {
        answer(&mut s, a, &mut t, &mut body);
    }
    assert_eq!(s.deadline(), now + Duration::from_secs(180));
    s.timed_out(now + Duration::from_secs(179));
    assert!(s.poll(now).is_none());
    s.timed_out(now + Duration::from_secs(180));
    while let Some(a) = s.poll(now) {
        answer(&mut s, a, &mut t, &mut body);
    }
    assert_eq!(codes(&t).last().map(String::as_str), Some("421 4.4.2"));
    assert_eq!(t.events[t.events.len() - 2..], ["body-abort", "close"]);
}

/// Hardening item 5: commands that never progress (NOOP, RSET, HELP,
/// VRFY, EHLO again) end the session with 421 4.4.2 after
/// `max_idle_commands` of them; an accepted message starts the count
/// again.
#[test]
fn commands_without_progress_are_counted() {
    let mut c = Config::new("mx.example.org", Mode::Mta);
    c.max_idle_commands = 4;
    let t = check(&Arc::new(c), false, b"EHLO c\r\nNOOP\r\nRSET\r\nVRFY x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nDATA\r\nhi\r\n.\r\nHELP\r\nEHLO c\r\nNOOP\r\nRSET\r\nNOOP\r\n");
    assert_eq!(
        codes(&t),
        [
            "220",
            "250",
            "250 2.0.0",
            "250 2.0.0",
            "252 2.5.2",
            "250 2.1.0",
            "250 2.1.5",
            "354",
            "250 2.0.0",
            "214 2.0.0",
            "250",
            "250 2.0.0",
            "250 2.0.0",
            "421 4.4.2"
        ]
    );
    assert_eq!(t.events.last().map(String::as_str), Some("close"));
}

/// Hardening item 5: a session whose commands never progress is ended
/// with 421 4.4.2 once `timeouts.no_progress` has passed since it began
/// or last progressed, whether it keeps sending NOOPs or stays silent.
#[test]
fn commands_without_progress_are_timed() {
    let mut c = Config::new("mx.example.org", Mode::Mta);
    c.timeouts.no_progress = Duration::from_secs(600);
    let c = Arc::new(c);
    let start = Instant::now();
    let at = |secs| start + Duration::from_secs(secs);
    let run = |s: &mut Session, t: &mut Transcript, input: &[u8], now: Instant| {
        s.feed(input);
        let mut body = Vec::new();
        while let Some(a) = s.poll(now) {
            answer(s, a, t, &mut body);
        }
    };
    let mut s = Session::new(c.clone(), "192.0.2.9".parse().unwrap(), None, start);
    let mut t = Transcript::default();
    run(&mut s, &mut t, b"EHLO c\r\n", at(0));
    for i in 1..=3 {
        run(&mut s, &mut t, b"NOOP\r\n", at(i * 180));
    }
    // The command timeout alone would wait until 540 + 300 seconds.
    assert_eq!(s.deadline(), at(600));
    run(&mut s, &mut t, b"NOOP\r\n", at(600));
    assert_eq!(
        codes(&t),
        [
            "220",
            "250",
            "250 2.0.0",
            "250 2.0.0",
            "250 2.0.0",
            "421 4.4.2"
        ]
    );
    assert!(s.is_closed());

    // An accepted message is progress; a silent session times out at the
    // bound too.
    let mut s = Session::new(c, "192.0.2.9".parse().unwrap(), None, start);
    let mut t = Transcript::default();
    run(&mut s, &mut t, b"EHLO c\r\n", at(0));
    run(
        &mut s,
        &mut t,
        b"MAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nDATA\r\nhi\r\n.\r\n",
        at(500),
    );
    run(&mut s, &mut t, b"RSET\r\n", at(700));
    run(&mut s, &mut t, b"NOOP\r\n", at(1000));
    assert_eq!(s.deadline(), at(1100));
    s.timed_out(at(1100));
    run(&mut s, &mut t, b"", at(1100));
    assert_eq!(
        codes(&t),
        [
            "220",
            "250",
            "250 2.1.0",
            "250 2.1.5",
            "354",
            "250 2.0.0",
            "250 2.0.0",
            "250 2.0.0",
            "421 4.4.2"
        ]
    );
}

#[test]
fn input_buffer_is_bounded() {
    let now = Instant::now();
    let mut s = Session::new(mta(), "192.0.2.9".parse().unwrap(), None, now);
    s.feed(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\n");
    // Without answering the Mail action, input piles up only so far.
    while let Some(a) = s.poll(now) {
        if matches!(a, Action::Mail { .. }) {
            break;
        }
    }
    let flood = vec![b'x'; 100_000];
    let pending = s.input.len() - s.start;
    assert_eq!(s.feed(&flood), INPUT_CAPACITY - pending);
    assert_eq!(s.feed(&flood), 0);
    assert!(s.input.len() <= INPUT_CAPACITY);
}

#[test]
fn received_header_for_the_transaction() {
    let now = Instant::now();
    let tls = TlsInfo {
        version: "TLSv1.3".into(),
        cipher: "TLS13_AES_128_GCM_SHA256".into(),
    };
    let mut s = Session::new(submission(), "192.0.2.9".parse().unwrap(), Some(tls), now);
    let script = format!("EHLO c.example\r\nAUTH PLAIN {}\r\nMAIL FROM:<alice@b.example>\r\nRCPT TO:<x@y.example>\r\n", plain("alice", "secret"));
    s.feed(script.as_bytes());
    let (mut t, mut body) = (Transcript::default(), Vec::new());
    while let Some(a) = s.poll(now) {
        answer(&mut s, a, &mut t, &mut body);
    }
    let r = s
        .received_header("abc", "Tue, 3 Nov 2026 10:00:00 +0000")
        .replace("\r\n\t", " ");
    assert!(
        r.starts_with("Received: from c.example ([192.0.2.9]) by mx.example.org"),
        "{r}"
    );
    assert!(
        r.contains("with ESMTPSA (TLSv1.3 TLS13_AES_128_GCM_SHA256)")
            && r.contains("for <x@y.example>;"),
        "{r}"
    );
}
