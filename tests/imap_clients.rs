//! IMAP against real clients and exact structures: a two-way mbsync
//! (isync) run over a 500-message mailbox, and ENVELOPE, BODYSTRUCTURE and
//! partial section fetches of mail delivered over SMTP, compared byte for
//! byte with the forms RFC 3501 §7.4.2 gives (Dovecot's style where the RFC
//! leaves a choice).
//!
//! A test whose client tool is missing prints a note and passes, unless
//! `FACTEUR_TEST_STRICT=1`, when it fails.

mod common;

use common::server::{have_tool, run_bounded, smtp_send, Server, TempDir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const ALICE: &str = "alice@example.test";
const PASSWORD: &str = "correct horse battery";

/// Python prelude: an implicit-TLS imaplib connection with certificate
/// checks off (the test server's certificate is self-signed).
const PRELUDE: &str = r#"
import imaplib, ssl, sys, os, re, json
HOST = sys.argv[1]; TLSPORT = int(sys.argv[2]); USER = sys.argv[3]; PW = sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def implicit():
    M = imaplib.IMAP4_SSL(HOST, TLSPORT, ssl_context=ctx, timeout=30)
    M.login(USER, PW)
    return M
def ok(r):
    typ, dat = r
    assert typ == 'OK', r
    return dat
def raw(dat):
    # The untagged FETCH data as sent, literals put back in place.
    out = b''
    for d in dat:
        if isinstance(d, tuple):
            out += d[0] + b'\r\n' + d[1]
        else:
            out += d
    return out
"#;

fn start() -> Server {
    let srv = Server::start("");
    srv.add_user(ALICE, PASSWORD);
    srv
}

/// Runs a Python script (after [`PRELUDE`]) with extra environment; asserts
/// success and returns stdout. `None` if Python is missing.
fn python(srv: &Server, script: &str, env: &[(&str, &str)]) -> Option<String> {
    if !have_tool("python3") {
        return None;
    }
    let imaps = srv.addr("imaps");
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(format!("{PRELUDE}\n{script}"))
        .arg(imaps.ip().to_string())
        .arg(imaps.port().to_string())
        .arg(ALICE)
        .arg(PASSWORD);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (ok, out, err) = run_bounded(&mut cmd, Duration::from_secs(120));
    assert!(
        ok,
        "python failed:\nstdout:\n{out}\nstderr:\n{err}\nserver log (tail):\n{}",
        log_tail(srv)
    );
    Some(out)
}

fn log_tail(srv: &Server) -> String {
    let log = srv.log();
    let start = log.len().saturating_sub(6000);
    let start = (start..log.len())
        .find(|&i| log.is_char_boundary(i))
        .unwrap_or(0);
    log[start..].to_string()
}

// ---------------------------------------------------------------------
// mbsync
// ---------------------------------------------------------------------

/// Maildir flags of one message: UID (from `,U=`) to the info letters.
fn maildir_state(inbox: &Path) -> BTreeMap<u32, String> {
    let mut m = BTreeMap::new();
    for sub in ["cur", "new"] {
        let Ok(rd) = std::fs::read_dir(inbox.join(sub)) else {
            continue;
        };
        for e in rd {
            let name = e.expect("dir entry").file_name();
            let name = name.to_string_lossy().into_owned();
            let uid = name
                .split(",U=")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|d| d.parse::<u32>().ok())
                .unwrap_or_else(|| panic!("no UID in maildir name {name}"));
            let flags = name.split(":2,").nth(1).unwrap_or("").to_string();
            assert!(m.insert(uid, flags).is_none(), "two files for UID {uid}");
        }
    }
    m
}

/// Path of the maildir file holding `uid`.
fn maildir_file(inbox: &Path, uid: u32) -> PathBuf {
    for sub in ["cur", "new"] {
        for e in std::fs::read_dir(inbox.join(sub)).into_iter().flatten() {
            let e = e.expect("dir entry");
            let name = e.file_name().to_string_lossy().into_owned();
            let tag = format!(",U={uid}");
            if let Some(i) = name.find(&tag) {
                let after = &name[i + tag.len()..];
                if !after.starts_with(|c: char| c.is_ascii_digit()) {
                    return e.path();
                }
            }
        }
    }
    panic!("no maildir file for UID {uid}");
}

/// Runs mbsync on the config; asserts success and returns its output.
fn mbsync(srv: &Server, config: &Path, extra: &[&str]) -> String {
    let (ok, out, err) = run_bounded(
        Command::new("/usr/bin/mbsync")
            .arg("-c")
            .arg(config)
            .args(extra)
            .arg("-a"),
        Duration::from_secs(180),
    );
    assert!(
        ok,
        "mbsync failed:\nstdout:\n{out}\nstderr:\n{err}\nserver log (tail):\n{}",
        log_tail(srv)
    );
    format!("{out}{err}")
}

/// Server side of the mailbox: `uid flags` per line, then the
/// HIGHESTMODSEQ on the last line.
const SERVER_STATE: &str = r#"
M = implicit()
ok(M.select('INBOX', readonly=True))
dat = ok(M.uid('FETCH', '1:*', '(UID FLAGS)'))
for d in dat:
    if d is None:
        continue
    m = re.search(rb'UID (\d+) FLAGS \(([^)]*)\)', d) or re.search(rb'FLAGS \(([^)]*)\) UID (\d+)', d)
    assert m, d
    if m.re.pattern.startswith(b'UID'):
        uid, flags = m.group(1), m.group(2)
    else:
        flags, uid = m.group(1), m.group(2)
    print(uid.decode(), ' '.join(sorted(flags.decode().split())))
st = ok(M.status('INBOX', '(HIGHESTMODSEQ MESSAGES)'))[0]
print('STATUS', st.decode())
M.logout()
"#;

/// The server's flags per UID and its STATUS line.
fn server_state(srv: &Server) -> Option<(BTreeMap<u32, String>, String)> {
    let out = python(srv, SERVER_STATE, &[])?;
    let mut m = BTreeMap::new();
    let mut status = String::new();
    for line in out.lines() {
        if let Some(s) = line.strip_prefix("STATUS ") {
            status = s.to_string();
            continue;
        }
        let (uid, flags) = line.split_once(' ').unwrap_or((line, ""));
        m.insert(uid.parse().expect("uid"), flags.to_string());
    }
    Some((m, status))
}

/// Maildir info letters for IMAP flags (the subset used here).
fn maildir_letters(imap_flags: &str) -> String {
    let mut l: Vec<char> = imap_flags
        .split_whitespace()
        .filter_map(|f| match f {
            "\\Draft" => Some('D'),
            "\\Flagged" => Some('F'),
            "\\Answered" => Some('R'),
            "\\Seen" => Some('S'),
            "\\Deleted" => Some('T'),
            _ => None,
        })
        .collect();
    l.sort();
    l.into_iter().collect()
}

/// Two-way sync of 500 messages with mbsync: initial pull, then flag
/// changes and deletions on both sides, then a sync that must change
/// nothing.
#[test]
fn mbsync_two_way_sync_of_500_messages() {
    if !have_tool("/usr/bin/mbsync") || !have_tool("python3") {
        return;
    }
    let srv = start();
    let cert = srv.dir.path().join("data/tls/cert.pem");
    assert!(cert.exists(), "no server certificate at {}", cert.display());
    python(
        &srv,
        r#"
M = implicit()
for i in range(1, 501):
    msg = ("From: Bob <bob@remote.test>\r\nTo: alice@example.test\r\n"
           "Subject: message %d\r\nMessage-ID: <sync%d@remote.test>\r\n"
           "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nBody of message %d.\r\n" % (i, i, i)).encode()
    ok(M.append('INBOX', None, None, msg))
M.logout()
"#,
        &[],
    );

    let local = TempDir::new("maildir");
    let maildir = local.path().join("mail");
    std::fs::create_dir_all(&maildir).expect("maildir root");
    let inbox = maildir.join("INBOX");
    let config = local.path().join("mbsyncrc");
    let imaps = srv.addr("imaps");
    // isync 1.4 spells it SSLType; 1.5 accepts TLSType too.
    std::fs::write(
        &config,
        format!(
            "IMAPAccount facteur\nHost localhost\nPort {port}\nUser {ALICE}\n\
             Pass \"{PASSWORD}\"\nSSLType IMAPS\nCertificateFile {cert}\n\
             PipelineDepth 20\n\n\
             IMAPStore remote\nAccount facteur\n\n\
             MaildirStore local\nPath {root}/\nInbox {inbox}\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX\n\
             Sync Pull Push\nCreate Both\nExpunge Both\nSyncState *\n",
            port = imaps.port(),
            cert = cert.display(),
            root = maildir.display(),
            inbox = inbox.display(),
        ),
    )
    .expect("write mbsyncrc");

    // First sync: everything comes down.
    mbsync(&srv, &config, &[]);
    let local_state = maildir_state(&inbox);
    assert_eq!(local_state.len(), 500, "maildir after the first sync");
    assert_eq!(
        local_state.keys().copied().collect::<Vec<_>>(),
        (1..=500).collect::<Vec<_>>()
    );
    assert!(
        local_state.values().all(|f| f.is_empty()),
        "{local_state:?}"
    );
    let body = std::fs::read_to_string(maildir_file(&inbox, 123)).expect("read message");
    assert!(body.contains("Subject: message 123\r\n") || body.contains("Subject: message 123\n"));

    // Changes on both sides: the server flags 1-10 and deletes 11-15;
    // the maildir marks 21-30 seen and deletes 31-35.
    python(
        &srv,
        r#"
M = implicit()
ok(M.select('INBOX'))
ok(M.uid('STORE', '1:10', '+FLAGS.SILENT', '(\\Flagged)'))
ok(M.uid('STORE', '11:15', '+FLAGS.SILENT', '(\\Deleted)'))
ok(M.expunge())
for i in range(1, 4):
    msg = ("From: Bob <bob@remote.test>\r\nTo: alice@example.test\r\n"
           "Subject: server new %d\r\nMessage-ID: <srvnew%d@remote.test>\r\n\r\nNew on the server.\r\n" % (i, i)).encode()
    ok(M.append('INBOX', '(\\Answered)' if i == 1 else None, None, msg))
M.logout()
"#,
        &[],
    );
    // Three new messages in the maildir, one of them flagged.
    for i in 1..=3 {
        let (dir, info) = if i == 1 { ("cur", ":2,F") } else { ("new", "") };
        std::fs::write(
            inbox
                .join(dir)
                .join(format!("1700000000.local{i}.host{info}")),
            format!(
                "From: Alice <alice@example.test>\nTo: bob@remote.test\n\
                 Subject: local new {i}\nMessage-ID: <localnew{i}@example.test>\n\nNew locally.\n"
            ),
        )
        .expect("write maildir message");
    }
    for uid in 21..=30 {
        let from = maildir_file(&inbox, uid);
        let name = from.file_name().unwrap().to_string_lossy().into_owned();
        let (base, info) = name.split_once(":2,").unwrap_or((&name, ""));
        let mut letters: Vec<char> = info.chars().chain(['S']).collect();
        letters.sort();
        letters.dedup();
        let to = inbox
            .join("cur")
            .join(format!("{base}:2,{}", letters.iter().collect::<String>()));
        std::fs::rename(&from, &to).expect("rename");
    }
    for uid in 31..=35 {
        std::fs::remove_file(maildir_file(&inbox, uid)).expect("remove");
    }

    // Second sync: both sides converge.
    mbsync(&srv, &config, &[]);
    let Some((server, status)) = server_state(&srv) else {
        return;
    };
    let gone: Vec<u32> = (11..=15).chain(31..=35).collect();
    let mut expected: BTreeMap<u32, String> = (1..=500)
        .filter(|u| !gone.contains(u))
        .map(|u| {
            let f = match u {
                1..=10 => "\\Flagged",
                21..=30 => "\\Seen",
                _ => "",
            };
            (u, f.to_string())
        })
        .collect();
    // 501-503 were appended on the server, 504-506 pushed by mbsync.
    expected.insert(501, "\\Answered".into());
    expected.insert(502, String::new());
    expected.insert(503, String::new());
    let pushed: Vec<String> = server.range(504..).map(|(_, f)| f.clone()).collect();
    let mut pushed_sorted = pushed.clone();
    pushed_sorted.sort();
    assert_eq!(
        pushed_sorted,
        ["", "", "\\Flagged"],
        "pushed messages: {server:?}"
    );
    for (u, f) in (504..).zip(pushed) {
        expected.insert(u, f);
    }
    assert_eq!(server.len(), 496, "server after the second sync: {status}");
    assert_eq!(server, expected, "server flags after the second sync");
    // Maildir UIDs (`,U=`) are mbsync's own: they match the server's for
    // the first 500 (both numbered in the same order), not for messages
    // new on either side, which are compared as a set of flags.
    let split = |m: BTreeMap<u32, String>| {
        let (old, new): (Vec<_>, Vec<_>) = m.into_iter().partition(|(u, _)| *u <= 500);
        let mut new: Vec<String> = new.into_iter().map(|(_, f)| f).collect();
        new.sort();
        (old.into_iter().collect::<BTreeMap<_, _>>(), new)
    };
    let expected_local = split(
        expected
            .iter()
            .map(|(u, f)| (*u, maildir_letters(f)))
            .collect(),
    );
    assert_eq!(
        split(maildir_state(&inbox)),
        expected_local,
        "maildir after the second sync"
    );

    // Third sync: nothing to do on either side.
    let names_before = maildir_names(&inbox);
    let out = mbsync(&srv, &config, &["-V"]);
    let Some((server_after, status_after)) = server_state(&srv) else {
        return;
    };
    assert_eq!(
        server_after, server,
        "server changed by a no-op sync:\n{out}"
    );
    assert_eq!(
        status_after, status,
        "HIGHESTMODSEQ moved on a no-op sync:\n{out}"
    );
    assert_eq!(
        maildir_names(&inbox),
        names_before,
        "maildir changed by a no-op sync:\n{out}"
    );
}

/// All file names under the maildir's cur/ and new/.
fn maildir_names(inbox: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for sub in ["cur", "new"] {
        for e in std::fs::read_dir(inbox.join(sub)).into_iter().flatten() {
            let e = e.expect("dir entry");
            v.push(format!("{sub}/{}", e.file_name().to_string_lossy()));
        }
    }
    v.sort();
    v
}

// ---------------------------------------------------------------------
// ENVELOPE, BODYSTRUCTURE and partial fetches
// ---------------------------------------------------------------------

/// Joins lines with CRLF (every line ends with CRLF).
fn crlf(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

fn plain_message() -> String {
    crlf(&[
        "From: Bob <bob@remote.test>",
        "To: alice@example.test",
        "Subject: plain",
        "Date: Mon, 1 Jan 2024 10:00:00 +0000",
        "Message-ID: <a@remote.test>",
        "",
        "Hello Alice.",
        "Second line.",
    ])
}

fn alternative_message() -> String {
    crlf(&[
        "From: Bob <bob@remote.test>",
        "To: alice@example.test",
        "Subject: alternative",
        "Date: Mon, 1 Jan 2024 10:01:00 +0000",
        "Message-ID: <b@remote.test>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/alternative; boundary=\"alt\"",
        "",
        "--alt",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 7bit",
        "",
        "Plain version.",
        "",
        "--alt",
        "Content-Type: text/html; charset=utf-8",
        "",
        "<p>HTML version.</p>",
        "",
        "--alt--",
    ])
}

/// The base64 attachment body of [`mixed_message`].
const ATTACHMENT: &str =
    "JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4Kc3RyZWFtCg==\r\n\
                          SGVsbG8gd29ybGQK\r\n";

fn mixed_message() -> String {
    let mut m = crlf(&[
        "From: Bob <bob@remote.test>",
        "To: alice@example.test",
        "Cc: Carol <carol@remote.test>, dave@remote.test",
        "Reply-To: list@remote.test",
        "Subject: report",
        "Date: Mon, 1 Jan 2024 10:02:00 +0000",
        "Message-ID: <c@remote.test>",
        "In-Reply-To: <b@remote.test>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=\"outer\"",
        "",
        "This is a multi-part message in MIME format.",
        "--outer",
        "Content-Type: multipart/alternative; boundary=\"inner\"",
        "",
        "--inner",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "See the attached file.",
        "",
        "--inner",
        "Content-Type: text/html; charset=us-ascii",
        "",
        "<p>See the attached file.</p>",
        "",
        "--inner--",
        "",
        "--outer",
        "Content-Type: application/pdf; name=\"report.pdf\"",
        "Content-Transfer-Encoding: base64",
        "Content-Disposition: attachment; filename=\"report.pdf\"",
        "Content-Description: Quarterly report",
        "",
    ]);
    m.push_str(ATTACHMENT);
    m.push_str("\r\n--outer--\r\n");
    m
}

/// The embedded message of [`rfc822_message`].
fn embedded_message() -> String {
    crlf(&[
        "From: Dave <dave@remote.test>",
        "To: Erin <erin@remote.test>, frank@remote.test",
        "Cc: undisclosed-recipients:;",
        "Subject: original",
        "Date: Sun, 31 Dec 2023 09:00:00 +0100",
        "Message-ID: <orig@remote.test>",
        "In-Reply-To: <prev@remote.test>",
        "",
        "Original body.",
        "Second line.",
    ])
}

fn rfc822_message() -> String {
    let mut m = crlf(&[
        "From: Carol <carol@remote.test>",
        "To: alice@example.test",
        "Subject: fwd",
        "Date: Mon, 1 Jan 2024 10:03:00 +0000",
        "Message-ID: <d@remote.test>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=\"fwd\"",
        "",
        "--fwd",
        "Content-Type: text/plain",
        "",
        "Forwarded below.",
        "",
        "--fwd",
        "Content-Type: message/rfc822",
        "",
    ]);
    m.push_str(&embedded_message());
    m.push_str("\r\n--fwd--\r\n");
    m
}

fn encoded_words_message() -> String {
    crlf(&[
        "From: =?UTF-8?Q?Ren=C3=A9e?= <renee@remote.test>",
        "To: =?ISO-8859-1?Q?J=F6rg?= <jorg@remote.test>",
        "Subject: =?UTF-8?B?Q2Fmw6kgbWVldGluZw==?=",
        "Date: Mon, 1 Jan 2024 10:04:00 +0000",
        "Message-ID: <e@remote.test>",
        "",
        "Encoded words.",
    ])
}

fn utf8_message() -> String {
    crlf(&[
        "From: Renée <renee@remote.test>",
        "To: alice@example.test",
        "Subject: Café ☕",
        "Date: Mon, 1 Jan 2024 10:05:00 +0000",
        "Message-ID: <f@remote.test>",
        "",
        "Raw UTF-8.",
    ])
}

/// The body of a message or part: what follows the first empty line.
fn body_of(msg: &str) -> &str {
    &msg[msg.find("\r\n\r\n").expect("header end") + 4..]
}

/// Number of CRLF-terminated lines.
fn lines(s: &str) -> usize {
    s.matches("\r\n").count()
}

/// Delivers the six test messages over SMTP, in order (sequence numbers
/// 1 to 6).
fn deliver_all(srv: &Server) {
    for m in [
        plain_message(),
        alternative_message(),
        mixed_message(),
        rfc822_message(),
        encoded_words_message(),
        utf8_message(),
    ] {
        let r = smtp_send(srv.addr("smtp"), "bob@remote.test", &[ALICE], &m);
        assert!(r.starts_with("250"), "{r}");
    }
}

/// Fetches `(seq, items)` on one connection, after `ENABLE <enable>` when
/// given; returns each FETCH response as sent, without `* `, literals in
/// place.
fn fetch_raw(srv: &Server, enable: &str, reqs: &[(u32, &str)]) -> Option<Vec<Vec<u8>>> {
    let reqs_json = format!(
        "[{}]",
        reqs.iter()
            .map(|(s, i)| format!("[{s}, \"{}\"]", i.replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(",")
    );
    let out = python(
        srv,
        r#"
M = implicit()
mode = os.environ['ENABLE']
if mode:
    dat = ok(M._simple_command('ENABLE', mode))
    en = b' '.join(M.untagged_responses.pop('ENABLED', []))
    assert mode.encode() in en, en
ok(M.select('INBOX', readonly=True))
for seq, items in json.loads(os.environ['REQS']):
    M.untagged_responses.pop('FETCH', None)
    dat = ok(M.fetch(str(seq), items))
    print(raw(dat).hex())
M.logout()
"#,
        &[("ENABLE", enable), ("REQS", &reqs_json)],
    )?;
    Some(
        out.lines()
            .map(|l| {
                (0..l.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&l[i..i + 2], 16).expect("hex"))
                    .collect()
            })
            .collect(),
    )
}

/// Asserts each response equals the expected text, showing both on failure.
fn assert_responses(got: &[Vec<u8>], want: &[String]) {
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            String::from_utf8_lossy(g),
            w.as_str(),
            "\n got: {}\nwant: {w}",
            String::from_utf8_lossy(g)
        );
    }
}

const BOB: &str = "((\"Bob\" NIL \"bob\" \"remote.test\"))";
const ALICE_ADDR: &str = "((NIL NIL \"alice\" \"example.test\"))";

#[test]
fn envelope_and_bodystructure_of_delivered_mail() {
    let srv = start();
    deliver_all(&srv);
    let Some(got) = fetch_raw(
        &srv,
        "",
        &[
            (1, "(ENVELOPE BODYSTRUCTURE)"),
            (2, "(BODYSTRUCTURE)"),
            (2, "(BODY)"),
            (3, "(ENVELOPE BODYSTRUCTURE)"),
            (4, "(BODYSTRUCTURE)"),
            (5, "(ENVELOPE)"),
        ],
    ) else {
        return;
    };

    let plain_body = body_of(&plain_message()).to_string();
    let mut want = vec![format!(
        "1 (ENVELOPE (\"Mon, 1 Jan 2024 10:00:00 +0000\" \"plain\" {BOB} {BOB} {BOB} {ALICE_ADDR} \
         NIL NIL NIL \"<a@remote.test>\") \
         BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" {} {} NIL NIL NIL NIL))",
        plain_body.len(),
        lines(&plain_body)
    )];
    assert_eq!((plain_body.len(), lines(&plain_body)), (28, 2));

    // Each part body ends before the CRLF that precedes the boundary
    // (RFC 2046 §5.1.1).
    let alt_text = "Plain version.\r\n";
    let alt_html = "<p>HTML version.</p>\r\n";
    want.push(format!(
        "2 (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" {} 1 NIL NIL NIL NIL)\
         (\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" {} 1 NIL NIL NIL NIL) \
         \"alternative\" (\"boundary\" \"alt\") NIL NIL NIL))",
        alt_text.len(),
        alt_html.len()
    ));
    // BODY is the non-extensible form: no extension data at any level.
    want.push(format!(
        "2 (BODY ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" {} 1)\
         (\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" {} 1) \"alternative\"))",
        alt_text.len(),
        alt_html.len()
    ));

    let inner_text = "See the attached file.\r\n";
    let inner_html = "<p>See the attached file.</p>\r\n";
    want.push(format!(
        "3 (ENVELOPE (\"Mon, 1 Jan 2024 10:02:00 +0000\" \"report\" {BOB} {BOB} \
         ((NIL NIL \"list\" \"remote.test\")) {ALICE_ADDR} \
         ((\"Carol\" NIL \"carol\" \"remote.test\")(NIL NIL \"dave\" \"remote.test\")) NIL \
         \"<b@remote.test>\" \"<c@remote.test>\") \
         BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" {} 1 NIL NIL NIL NIL)\
         (\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" {} 1 NIL NIL NIL NIL) \
         \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)\
         (\"application\" \"pdf\" (\"name\" \"report.pdf\") NIL \"Quarterly report\" \"base64\" {} \
         NIL (\"attachment\" (\"filename\" \"report.pdf\")) NIL NIL) \
         \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL))",
        inner_text.len(),
        inner_html.len(),
        ATTACHMENT.len()
    ));

    // message/rfc822: size and lines of the whole embedded message, its
    // ENVELOPE and its BODYSTRUCTURE (RFC 3501 §7.4.2).
    let emb = embedded_message();
    let emb_body = body_of(&emb);
    assert_eq!(lines(&emb), 10);
    want.push(format!(
        "4 (BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" {} 1 NIL NIL NIL NIL)\
         (\"message\" \"rfc822\" NIL NIL NIL \"7bit\" {} \
         (\"Sun, 31 Dec 2023 09:00:00 +0100\" \"original\" \
         ((\"Dave\" NIL \"dave\" \"remote.test\")) ((\"Dave\" NIL \"dave\" \"remote.test\")) \
         ((\"Dave\" NIL \"dave\" \"remote.test\")) \
         ((\"Erin\" NIL \"erin\" \"remote.test\")(NIL NIL \"frank\" \"remote.test\")) \
         ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL \
         \"<prev@remote.test>\" \"<orig@remote.test>\") \
         (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" {} {} NIL NIL NIL NIL) \
         {} NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"fwd\") NIL NIL NIL))",
        "Forwarded below.\r\n".len(),
        emb.len(),
        emb_body.len(),
        lines(emb_body),
        lines(&emb)
    ));

    // RFC 2047 encoded words stay encoded in the ENVELOPE.
    want.push(
        "5 (ENVELOPE (\"Mon, 1 Jan 2024 10:04:00 +0000\" \"=?UTF-8?B?Q2Fmw6kgbWVldGluZw==?=\" \
         ((\"=?UTF-8?Q?Ren=C3=A9e?=\" NIL \"renee\" \"remote.test\")) \
         ((\"=?UTF-8?Q?Ren=C3=A9e?=\" NIL \"renee\" \"remote.test\")) \
         ((\"=?UTF-8?Q?Ren=C3=A9e?=\" NIL \"renee\" \"remote.test\")) \
         ((\"=?ISO-8859-1?Q?J=F6rg?=\" NIL \"jorg\" \"remote.test\")) NIL NIL NIL \"<e@remote.test>\"))"
            .to_string(),
    );
    assert_responses(&got, &want);
}

/// Raw UTF-8 headers (RFC 6532): literals for an IMAP4rev1 client, quoted
/// strings once the client has enabled IMAP4rev2 or UTF8=ACCEPT (RFC 9051
/// §4.3, RFC 6855 §3).
#[test]
fn utf8_headers_in_envelope() {
    let srv = start();
    deliver_all(&srv);
    let renee = "Renée";
    let subject = "Café ☕";
    let Some(rev1) = fetch_raw(&srv, "", &[(6, "(ENVELOPE)")]) else {
        return;
    };
    let date = "\"Mon, 1 Jan 2024 10:05:00 +0000\"";
    let lit = |s: &str| format!("{{{}}}\r\n{s}", s.len());
    let who = |n: &str| format!("(({n} NIL \"renee\" \"remote.test\"))");
    let rest = format!("{ALICE_ADDR} NIL NIL NIL \"<f@remote.test>\"");
    let want_rev1 = format!(
        "6 (ENVELOPE ({date} {} {} {} {} {rest}))",
        lit(subject),
        who(&lit(renee)),
        who(&lit(renee)),
        who(&lit(renee))
    );
    assert_responses(&rev1, &[want_rev1]);
    let q = |s: &str| format!("\"{s}\"");
    let want_utf8 = format!(
        "6 (ENVELOPE ({date} {} {} {} {} {rest}))",
        q(subject),
        who(&q(renee)),
        who(&q(renee)),
        who(&q(renee))
    );
    for mode in ["IMAP4rev2", "UTF8=ACCEPT"] {
        let got = fetch_raw(&srv, mode, &[(6, "(ENVELOPE)")]).expect("python");
        assert_responses(&got, std::slice::from_ref(&want_utf8));
    }
}

/// Partial fetches of sections of a multipart message, byte for byte
/// against the section text taken from the message as sent.
#[test]
fn partial_section_fetches_are_byte_exact() {
    let srv = start();
    deliver_all(&srv);
    let msg = mixed_message();
    let text = body_of(&msg);
    // Part 1 (the inner multipart) spans from after its header to the
    // CRLF before `--outer`; part 1.2 is the html body.
    let p1_start = msg.find("--inner\r\n").expect("inner");
    let p1_end = msg
        .find("\r\n--outer\r\nContent-Type: application")
        .expect("outer");
    let part1 = &msg[p1_start..p1_end];
    let part12 = "<p>See the attached file.</p>\r\n";
    let part2 = ATTACHMENT;
    let part2_mime = "Content-Type: application/pdf; name=\"report.pdf\"\r\n\
                      Content-Transfer-Encoding: base64\r\n\
                      Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
                      Content-Description: Quarterly report\r\n\r\n";
    let reqs: Vec<(u32, &str)> = vec![
        (3, "(BODY.PEEK[2]<10.20>)"),
        (3, "(BODY.PEEK[2]<0.100000>)"),
        (3, "(BODY.PEEK[2]<70.10>)"),
        (3, "(BODY.PEEK[2]<500.10>)"),
        (3, "(BODY.PEEK[1.2]<3.10>)"),
        (3, "(BODY.PEEK[1]<0.30>)"),
        (3, "(BODY.PEEK[1])"),
        (3, "(BODY.PEEK[2.MIME])"),
        (3, "(BODY.PEEK[TEXT]<5.40>)"),
        (3, "(BINARY.PEEK[2]<0.12>)"),
    ];
    let reqs: Vec<(u32, &str)> = reqs
        .into_iter()
        .chain([
            (4, "(BODY.PEEK[2.HEADER.FIELDS (SUBJECT FROM)])"),
            (4, "(BODY.PEEK[2.TEXT]<9.5>)"),
            (4, "(BODY.PEEK[2.1])"),
            (1, "(BODY.PEEK[1]<6.5>)"),
        ])
        .collect();
    let Some(got) = fetch_raw(&srv, "", &reqs) else {
        return;
    };
    let lit = |item: &str, s: &str| format!("3 ({item} {{{}}}\r\n{s})", s.len());
    let want = vec![
        lit("BODY[2]<10>", &part2[10..30]),
        lit("BODY[2]<0>", part2),
        lit("BODY[2]<70>", &part2[70..80]),
        // Origin past the end: an empty string (RFC 3501 §6.4.5).
        "3 (BODY[2]<500> \"\")".to_string(),
        lit("BODY[1.2]<3>", &part12[3..13]),
        lit("BODY[1]<0>", &part1[..30]),
        lit("BODY[1]", part1),
        lit("BODY[2.MIME]", part2_mime),
        lit("BODY[TEXT]<5>", &text[5..45]),
        // BINARY decodes the base64 (RFC 3516): "%PDF-1.4\n%\xc3\xa4"; no
        // NUL in it, so a plain literal carries it.
        "3 (BINARY[2]<0> {12}\r\n%PDF-1.4\n%\u{e4})".to_string(),
    ];
    // Sections inside the attached message/rfc822 (RFC 3501 §6.4.5).
    let emb = embedded_message();
    let emb_body = body_of(&emb);
    let lit4 = |item: &str, s: &str| format!("4 ({item} {{{}}}\r\n{s})", s.len());
    let want: Vec<String> = want
        .into_iter()
        .chain([
            lit4(
                "BODY[2.HEADER.FIELDS (SUBJECT FROM)]",
                "From: Dave <dave@remote.test>\r\nSubject: original\r\n\r\n",
            ),
            lit4("BODY[2.TEXT]<9>", &emb_body[9..14]),
            lit4("BODY[2.1]", emb_body),
            // Part 1 of a single-part message is its body.
            format!(
                "1 (BODY[1]<6> {{5}}\r\n{})",
                &body_of(&plain_message())[6..11]
            ),
        ])
        .collect();
    assert_responses(&got, &want);
}

/// Address and header details: folded Subject, quoted display names with
/// escapes, comments, groups, an explicit Sender, and every BODYSTRUCTURE
/// extension field of a single part.
#[test]
fn envelope_and_extension_fields_in_detail() {
    let srv = start();
    let msg = crlf(&[
        "From: \"Doe, John \\\"JD\\\"\" <jd@remote.test> (work)",
        "Sender: assistant@remote.test",
        "To: Team: ann@remote.test, ben@remote.test;, zed@remote.test",
        "Subject: a long subject",
        " folded over two lines",
        "Date: Mon, 1 Jan 2024 10:06:00 +0000",
        "Message-ID: <g@remote.test>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=\"ISO-8859-1\"; format=flowed",
        "Content-Transfer-Encoding: quoted-printable",
        "Content-ID: <part@remote.test>",
        "Content-Description: A note",
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==",
        "Content-Language: en, fr",
        "Content-Location: http://remote.test/note",
        "Content-Disposition: inline",
        "",
        "caf=E9",
    ]);
    let r = smtp_send(srv.addr("smtp"), "bob@remote.test", &[ALICE], &msg);
    assert!(r.starts_with("250"), "{r}");
    let Some(got) = fetch_raw(&srv, "", &[(1, "(ENVELOPE BODYSTRUCTURE)")]) else {
        return;
    };
    let jd = "((\"Doe, John \\\"JD\\\"\" NIL \"jd\" \"remote.test\"))";
    let want = format!(
        "1 (ENVELOPE (\"Mon, 1 Jan 2024 10:06:00 +0000\" \"a long subject folded over two lines\" \
         {jd} ((NIL NIL \"assistant\" \"remote.test\")) {jd} \
         ((NIL NIL \"Team\" NIL)(NIL NIL \"ann\" \"remote.test\")(NIL NIL \"ben\" \"remote.test\")\
         (NIL NIL NIL NIL)(NIL NIL \"zed\" \"remote.test\")) NIL NIL NIL \"<g@remote.test>\") \
         BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"ISO-8859-1\" \"format\" \"flowed\") \
         \"<part@remote.test>\" \"A note\" \"quoted-printable\" 8 1 \"Q2hlY2sgSW50ZWdyaXR5IQ==\" \
         (\"inline\" NIL) (\"en\" \"fr\") \"http://remote.test/note\"))"
    );
    assert_responses(&got, &[want]);
}
