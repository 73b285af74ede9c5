//! POP3 end to end: the real binary on loopback, mail delivered over SMTP,
//! and read back with real clients (Python's poplib, fetchmail, curl) over
//! STLS and implicit TLS, plus raw conversations for locking, deletion and
//! login failures.
//!
//! A test whose client tool is missing prints a note and passes, unless
//! `FACTEUR_TEST_STRICT=1`, when it fails.

mod common;

use common::server::{Lines, Server, TempDir};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
const PASSWORD: &str = "correct horse battery";
const PLAINTEXT: &str = "[tls]\nallow_plaintext_auth = true\n";

// ----- helpers -----

/// Whether `tool` can be used; if not, says so, and fails in strict mode.
fn have(tool: &str, probe: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(probe)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        common::missing(tool);
    }
    ok
}

fn have_python() -> bool {
    have("python3", &["-c", "import poplib, ssl"])
}

/// Runs a command with output to files, killed after `limit`.
fn run_bounded(cmd: &mut Command, dir: &Path, limit: Duration) -> Output {
    let out_path = dir.join("cmd.stdout");
    let err_path = dir.join("cmd.stderr");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} took longer than {limit:?}; stderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap(),
        stderr: std::fs::read(&err_path).unwrap(),
    }
}

fn cert(srv: &Server) -> PathBuf {
    srv.dir.path().join("data/tls/cert.pem")
}

fn start(extra: &str) -> Server {
    let srv = Server::start(extra);
    srv.add_user(ALICE, PASSWORD);
    srv
}

/// Delivers `messages` to `rcpts` over SMTP, one transaction each, on one
/// connection. Messages use CRLF line ends; dot-stuffing is done here.
fn deliver(srv: &Server, rcpts: &[&str], messages: &[Vec<u8>]) {
    let mut c = Lines::connect(srv.addr("smtp"));
    let greeting = c.line();
    assert!(greeting.starts_with("220 "), "{greeting}");
    c.cmd("EHLO client.remote.test");
    assert!(c.reply().starts_with("250"));
    for m in messages {
        c.cmd("MAIL FROM:<sender@remote.test>");
        let r = c.reply();
        assert!(r.starts_with("250"), "{r}");
        for rcpt in rcpts {
            c.cmd(&format!("RCPT TO:<{rcpt}>"));
            let r = c.reply();
            assert!(r.starts_with("250"), "{r}");
        }
        c.cmd("DATA");
        let r = c.reply();
        assert!(r.starts_with("354"), "{r}");
        let mut data = Vec::with_capacity(m.len() + m.len() / 64 + 8);
        for line in m.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                data.push(b'.');
            }
            data.extend_from_slice(line);
        }
        data.extend_from_slice(b".\r\n");
        c.send(&data);
        let r = c.reply();
        assert!(r.starts_with("250"), "{r}");
    }
    c.cmd("QUIT");
    c.reply();
}

/// A small message with lines that need care: a leading dot, a lone dot,
/// a blank line, 8-bit text, a long line.
fn sample(n: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Sender <sender@remote.test>\r\nTo: {ALICE}\r\nSubject: sample {n}\r\n\
         Message-ID: <sample-{n}@remote.test>\r\n\r\nFirst line of {n}.\r\n.leading dot\r\n\
         .\r\n..two dots\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice("caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e\r\n".as_bytes());
    m.extend_from_slice(&[b'x'; 900]);
    m.extend_from_slice(b"\r\nend\r\n");
    m
}

/// The message as sent, from a message as retrieved: drops the header
/// lines the server prepends (Return-Path, Delivered-To, Received, with
/// their continuation lines).
fn strip_trace(retrieved: &[u8]) -> &[u8] {
    let mut rest = retrieved;
    let mut in_trace = false;
    loop {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |p| p + 1);
        let line = &rest[..end];
        let lower = line.to_ascii_lowercase();
        let trace = lower.starts_with(b"return-path:")
            || lower.starts_with(b"delivered-to:")
            || lower.starts_with(b"received:");
        let continuation = in_trace && (line.starts_with(b" ") || line.starts_with(b"\t"));
        if !(trace || continuation) {
            return rest;
        }
        in_trace = true;
        rest = &rest[end..];
    }
}

/// Reads a POP3 multi-line response body after its "+OK" line, undoing
/// dot-stuffing; returns it with CRLF line ends.
fn multiline(c: &mut Lines) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let l = c.line();
        if l == "." {
            return out;
        }
        let l = l.strip_prefix('.').unwrap_or(&l);
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// A plain-text POP3 login (test servers allow it); returns the reply.
fn login(srv: &Server, user: &str) -> (Lines, String) {
    let mut c = Lines::connect(srv.addr("pop3"));
    let greeting = c.line();
    assert!(
        greeting.starts_with("+OK mail.example.test POP3"),
        "{greeting}"
    );
    c.cmd(&format!("USER {user}"));
    assert!(c.line().starts_with("+OK"));
    c.cmd(&format!("PASS {PASSWORD}"));
    let reply = c.line();
    (c, reply)
}

/// Logs in, retrying while a just-closed session still holds the lock.
fn login_when_free(srv: &Server, user: &str) -> Lines {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (c, reply) = login(srv, user);
        if reply.starts_with("+OK") {
            return c;
        }
        assert!(reply.starts_with("-ERR [IN-USE]"), "{reply}");
        assert!(Instant::now() < deadline, "the maildrop stayed locked");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Body files in the store (`data/blobs/<2 hex>/<64 hex>`).
fn blob_files(srv: &Server) -> usize {
    let root = srv.dir.path().join("data/blobs");
    let mut n = 0;
    for dir in std::fs::read_dir(root).unwrap().flatten() {
        if dir.file_name().len() != 2 {
            continue;
        }
        n += std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|f| f.file_name().len() == 64)
            .count();
    }
    n
}

fn open_store(srv: &Server) -> facteur::store::Store {
    facteur::store::Store::open(&srv.dir.path().join("data"), 1 << 20).expect("open store")
}

fn inbox_uids(store: &facteur::store::Store, account: &str) -> Vec<u32> {
    let inbox = store.mailbox(account, "INBOX").unwrap().expect("INBOX");
    store
        .messages(inbox.id)
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect()
}

// ----- real clients -----

/// Logs in with poplib (STLS or implicit TLS, verifying the certificate),
/// runs STAT, LIST, UIDL, TOP and RETR on every message, deletes message 1
/// and quits; then logs in again for STAT. Prints a JSON report and writes
/// each retrieved message to `<out>/<n>` and each TOP to `<out>/top<n>`.
const POPLIB_SCRIPT: &str = r#"
import json, poplib, ssl, sys
mode, host, port, cafile, user, password, out = sys.argv[1:]
ctx = ssl.create_default_context(cafile=cafile)
def connect():
    if mode == "stls":
        p = poplib.POP3(host, int(port), timeout=20)
        caps = p.capa()
        assert "STLS" in caps, caps
        p.stls(ctx)
    else:
        p = poplib.POP3_SSL(host, int(port), context=ctx, timeout=20)
    return p
p = connect()
report = {"capa": sorted(p.capa().keys())}
report["user"] = p.user(user).decode()
report["pass"] = p.pass_(password).decode()
report["stat"] = list(p.stat())
report["list"] = [l.decode() for l in p.list()[1]]
report["uidl"] = [l.decode() for l in p.uidl()[1]]
report["uidl1"] = p.uidl(1).decode()
for n in range(1, report["stat"][0] + 1):
    resp, lines, octets = p.retr(n)
    with open(f"{out}/{n}", "wb") as f:
        f.write(b"".join(l + b"\r\n" for l in lines))
    resp, lines, octets = p.top(n, 1)
    with open(f"{out}/top{n}", "wb") as f:
        f.write(b"".join(l + b"\r\n" for l in lines))
report["dele"] = p.dele(1).decode()
report["quit"] = p.quit().decode()
p = connect()
p.user(user)
p.pass_(password)
report["stat_after"] = list(p.stat())
report["uidl_after"] = [l.decode() for l in p.uidl()[1]]
p.quit()
print(json.dumps(report))
"#;

fn poplib_session(mode: &str, host: &str, service: &str) {
    if !have_python() {
        return;
    }
    let srv = start("");
    let sent: Vec<Vec<u8>> = (1..=3).map(sample).collect();
    deliver(&srv, &[ALICE], &sent);
    let work = TempDir::new("poplib");
    let script = work.path().join("pop.py");
    std::fs::write(&script, POPLIB_SCRIPT).unwrap();
    let out = run_bounded(
        Command::new("python3")
            .arg(&script)
            .arg(mode)
            .arg(host)
            .arg(srv.addr(service).port().to_string())
            .arg(cert(&srv))
            .arg(ALICE)
            .arg(PASSWORD)
            .arg(work.path()),
        work.path(),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "poplib failed: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        srv.log()
    );
    let report = stdout.trim();
    let field = |name: &str| -> String {
        let key = format!("\"{name}\": ");
        let at = report
            .find(&key)
            .unwrap_or_else(|| panic!("{name} in {report}"))
            + key.len();
        let rest = &report[at..];
        let end = if rest.starts_with('[') {
            rest.find(']').unwrap() + 1
        } else {
            rest[1..].find('"').unwrap() + 2
        };
        rest[..end].to_string()
    };
    assert!(
        field("pass").contains("+OK maildrop has 3 messages"),
        "{report}"
    );

    let mut sizes = Vec::new();
    for (i, m) in sent.iter().enumerate() {
        let n = i + 1;
        let got = std::fs::read(work.path().join(n.to_string())).unwrap();
        assert_eq!(
            strip_trace(&got),
            &m[..],
            "message {n} byte for byte:\n{}",
            String::from_utf8_lossy(&got)
        );
        assert!(got.starts_with(b"Return-Path: <sender@remote.test>\r\n"));
        sizes.push(got.len());
        // TOP n 1: the whole header, the blank line, one body line.
        let top = std::fs::read(work.path().join(format!("top{n}"))).unwrap();
        let head_len = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let mut expected = got[..head_len].to_vec();
        expected.extend_from_slice(format!("First line of {n}.\r\n").as_bytes());
        assert_eq!(
            String::from_utf8_lossy(&top),
            String::from_utf8_lossy(&expected)
        );
    }
    // STAT and LIST report the sizes RETR delivers.
    let total: usize = sizes.iter().sum();
    assert_eq!(field("stat"), format!("[3, {total}]"));
    let list: Vec<String> = sizes
        .iter()
        .enumerate()
        .map(|(i, s)| format!("\"{} {s}\"", i + 1))
        .collect();
    assert_eq!(field("list"), format!("[{}]", list.join(", ")));
    // UIDL: 16 hex digits, distinct, stable across sessions.
    let uidl = field("uidl");
    let ids: Vec<&str> = uidl
        .trim_matches(['[', ']'])
        .split(", ")
        .map(|s| s.trim_matches('"').split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    for id in &ids {
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
    }
    assert!(ids[0] != ids[1] && ids[1] != ids[2]);
    assert_eq!(field("uidl1"), format!("\"+OK 1 {}\"", ids[0]));
    assert!(field("dele").starts_with("\"+OK"));
    assert!(
        field("quit").contains("signing off (2 messages left)"),
        "{report}"
    );
    // DELE + QUIT removed message 1; the others keep their ids.
    assert_eq!(field("stat_after"), format!("[2, {}]", sizes[1] + sizes[2]));
    assert_eq!(
        field("uidl_after"),
        format!("[\"1 {}\", \"2 {}\"]", ids[1], ids[2])
    );
    // STLS was offered before TLS; USER only after.
    assert!(field("capa").contains("\"USER\""), "{report}");
    assert!(!field("capa").contains("\"STLS\""), "{report}");
}

#[test]
fn poplib_over_stls() {
    poplib_session("stls", "127.0.0.1", "pop3");
}

#[test]
fn poplib_over_implicit_tls() {
    poplib_session("ssl", "localhost", "pop3s");
}

#[test]
fn fetchmail_over_stls_fetches_200_messages_once_and_empties_the_mailbox() {
    if !have("fetchmail", &["--version"]) {
        return;
    }
    let mut srv = start("");
    let count = 200;
    let sent: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            format!(
                "From: sender@remote.test\r\nTo: {ALICE}\r\nSubject: batch {i}\r\n\
                 Message-ID: <batch-{i}@remote.test>\r\nX-Seq: {i}\r\n\r\nbody {i}\r\n.dot\r\n"
            )
            .into_bytes()
        })
        .collect();
    deliver(&srv, &[ALICE], &sent);

    let home = TempDir::new("fetchmail");
    let maildir = home.path().join("got");
    std::fs::create_dir(&maildir).unwrap();
    let mda = home.path().join("mda.sh");
    std::fs::write(
        &mda,
        format!(
            "#!/bin/sh\nexec cat > \"$(mktemp {}/m.XXXXXXXX)\"\n",
            maildir.display()
        ),
    )
    .unwrap();
    let rc = home.path().join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\n\
             poll mail.example.test via 127.0.0.1 port {port} protocol pop3 timeout 30\n\
             \tuser \"{ALICE}\" there with password \"{PASSWORD}\" is root here\n\
             \tsslproto 'TLS1.2+' sslcertck sslcertfile \"{cert}\" sslcommonname mail.example.test\n\
             \tfetchall nokeep mda \"sh {mda}\"\n",
            port = srv.addr("pop3").port(),
            cert = cert(&srv).display(),
            mda = mda.display(),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run_bounded(
        Command::new("fetchmail")
            .arg("-f")
            .arg(&rc)
            .args(["--nosyslog", "--nodetach", "-v"])
            .env("HOME", home.path())
            .env("FETCHMAILHOME", home.path()),
        home.path(),
        Duration::from_secs(180),
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "fetchmail failed ({:?}):\n{stdout}\n{err}",
        out.status
    );
    let all = format!("{stdout}{err}");
    assert!(all.contains("STLS"), "fetchmail used STLS:\n{all}");

    // Each message arrived exactly once.
    let mut seen: HashMap<usize, usize> = HashMap::new();
    for f in std::fs::read_dir(&maildir).unwrap().flatten() {
        let text = std::fs::read_to_string(f.path()).unwrap();
        let seq = text
            .lines()
            .find_map(|l| l.strip_prefix("X-Seq: "))
            .unwrap_or_else(|| panic!("no X-Seq in {text}"));
        *seen.entry(seq.trim().parse().unwrap()).or_default() += 1;
        assert!(text.contains("\n.dot"), "dot-stuffing undone: {text}");
    }
    assert_eq!(seen.len(), count, "every message arrived");
    assert!(seen.values().all(|&n| n == 1), "no duplicates: {seen:?}");

    // Without --keep the mailbox is empty now, and the bodies are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while blob_files(&srv) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(blob_files(&srv), 0);
    assert!(srv.stop());
    let store = open_store(&srv);
    assert!(inbox_uids(&store, ALICE).is_empty());
}

#[test]
fn curl_lists_and_retrieves_over_pop3s_and_stls() {
    if !have("curl", &["--version"]) {
        return;
    }
    let srv = start("");
    let sent = [sample(1), sample(2)];
    deliver(&srv, &[ALICE], &sent);
    let work = TempDir::new("curl");
    let curl = |url: String, extra: &[&str]| -> Vec<u8> {
        let out = run_bounded(
            Command::new("curl")
                .args(["--silent", "--show-error", "--max-time", "30", "--cacert"])
                .arg(cert(&srv))
                .args(["--user", &format!("{ALICE}:{PASSWORD}")])
                .args(extra)
                .arg(&url),
            work.path(),
            Duration::from_secs(45),
        );
        assert!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let pop3s = srv.addr("pop3s").port();
    let listing = String::from_utf8(curl(format!("pop3s://127.0.0.1:{pop3s}/"), &[])).unwrap();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 2, "{listing}");
    for (i, m) in sent.iter().enumerate() {
        let got = curl(format!("pop3s://127.0.0.1:{pop3s}/{}", i + 1), &[]);
        assert_eq!(strip_trace(&got), &m[..]);
        assert_eq!(lines[i], format!("{} {}", i + 1, got.len()));
    }
    // The same over port 110 with STLS required.
    let pop3 = srv.addr("pop3").port();
    let got = curl(
        format!("pop3://localhost:{pop3}/2"),
        &[
            "--ssl-reqd",
            "--resolve",
            &format!("localhost:{pop3}:127.0.0.1"),
        ],
    );
    assert_eq!(strip_trace(&got), &sent[1][..]);
}

// ----- locking, deletion, failures -----

#[test]
fn a_second_session_gets_in_use_until_the_first_ends() {
    let srv = start(PLAINTEXT);
    srv.add_user(BOB, PASSWORD);
    deliver(&srv, &[ALICE], &[sample(1)]);
    let (mut first, reply) = login(&srv, ALICE);
    assert!(reply.starts_with("+OK maildrop has 1 messages"), "{reply}");
    let (mut second, reply) = login(&srv, ALICE);
    assert_eq!(reply, "-ERR [IN-USE] maildrop already locked");
    // The refused session may try again, and other users are not affected.
    second.cmd("QUIT");
    assert!(second.line().starts_with("+OK"));
    let (_bob, reply) = login(&srv, BOB);
    assert!(reply.starts_with("+OK maildrop has 0 messages"), "{reply}");
    // A clean QUIT releases the lock...
    first.cmd("QUIT");
    assert!(first.line().starts_with("+OK"));
    let mut third = login_when_free(&srv, ALICE);
    third.cmd("STAT");
    assert!(third.line().starts_with("+OK 1 "));
    // ...and so does a dropped connection.
    drop(third);
    let mut fourth = login_when_free(&srv, ALICE);
    fourth.cmd("QUIT");
    assert!(fourth.line().starts_with("+OK"));
}

#[test]
fn only_quit_deletes_and_the_last_reference_frees_the_body() {
    let mut srv = start(PLAINTEXT);
    srv.add_user(BOB, PASSWORD);
    // One body shared by two mailboxes, and one for Alice alone.
    deliver(&srv, &[ALICE, BOB], &[sample(1)]);
    deliver(&srv, &[ALICE], &[sample(2)]);
    assert_eq!(blob_files(&srv), 2);

    // DELE then a dropped connection: nothing is deleted.
    let mut c = login_when_free(&srv, ALICE);
    c.cmd("DELE 1");
    assert!(c.line().starts_with("+OK"));
    c.cmd("DELE 2");
    assert!(c.line().starts_with("+OK"));
    drop(c);
    let mut c = login_when_free(&srv, ALICE);
    c.cmd("STAT");
    assert!(c.line().starts_with("+OK 2 "));
    // RSET undoes marks too; then DELE + QUIT removes.
    c.cmd("DELE 1");
    assert!(c.line().starts_with("+OK"));
    c.cmd("RSET");
    assert!(c.line().starts_with("+OK maildrop has 2 messages"));
    c.cmd("DELE 1");
    assert!(c.line().starts_with("+OK"));
    c.cmd("DELE 2");
    assert!(c.line().starts_with("+OK"));
    c.cmd("QUIT");
    assert_eq!(
        c.line(),
        "+OK mail.example.test POP3 server signing off (0 messages left)"
    );
    assert_eq!(c.rest(), "", "closed after QUIT");
    // Alice's own body is gone; the shared one stays for Bob.
    assert_eq!(blob_files(&srv), 1);

    let mut b = login_when_free(&srv, BOB);
    b.cmd("RETR 1");
    assert!(b.line().starts_with("+OK"));
    assert_eq!(strip_trace(&multiline(&mut b)), &sample(1)[..]);
    b.cmd("DELE 1");
    assert!(b.line().starts_with("+OK"));
    b.cmd("QUIT");
    assert!(b.line().starts_with("+OK"));
    assert_eq!(b.rest(), "");
    assert_eq!(blob_files(&srv), 0);

    assert!(srv.stop());
    let store = open_store(&srv);
    assert!(inbox_uids(&store, ALICE).is_empty());
    assert!(inbox_uids(&store, BOB).is_empty());
}

/// Hardening item 8: RETR of a message expunged over IMAP meanwhile is
/// answered -ERR; the session goes on, and its earlier DELE takes effect
/// at QUIT.
#[test]
fn retr_of_a_message_expunged_over_imap_keeps_the_session() {
    let mut srv = start(PLAINTEXT);
    deliver(&srv, &[ALICE], &[sample(1), sample(2), sample(3)]);
    let mut c = login_when_free(&srv, ALICE);
    c.cmd("DELE 1");
    assert!(c.line().starts_with("+OK"));

    let mut imap = Lines::connect(srv.addr("imap"));
    assert!(imap.line().starts_with("* OK"));
    for (tag, command) in [
        ("a", format!("LOGIN {ALICE} \"{PASSWORD}\"")),
        ("b", "SELECT INBOX".to_string()),
        ("c", "STORE 2 +FLAGS.SILENT (\\Deleted)".to_string()),
        ("d", "EXPUNGE".to_string()),
        ("e", "LOGOUT".to_string()),
    ] {
        imap.cmd(&format!("{tag} {command}"));
        let done = loop {
            let line = imap.line();
            if line.starts_with(&format!("{tag} ")) {
                break line;
            }
        };
        assert!(done.starts_with(&format!("{tag} OK")), "{done}");
    }

    c.cmd("RETR 2");
    let reply = c.line();
    assert!(reply.starts_with("-ERR"), "{reply}");
    c.cmd("TOP 2 0");
    let reply = c.line();
    assert!(reply.starts_with("-ERR"), "{reply}");
    c.cmd("RETR 3");
    assert!(c.line().starts_with("+OK"));
    assert_eq!(strip_trace(&multiline(&mut c)), &sample(3)[..]);
    c.cmd("QUIT");
    assert!(c.line().starts_with("+OK"));
    assert_eq!(c.rest(), "", "closed after QUIT");

    assert!(srv.stop());
    let store = open_store(&srv);
    assert_eq!(inbox_uids(&store, ALICE).len(), 1, "DELE 1 took effect");
}

#[test]
fn failed_logins_do_not_say_which_part_was_wrong() {
    let srv = start(PLAINTEXT);
    let mut c = Lines::connect(srv.addr("pop3"));
    c.line();
    c.cmd("USER nobody@example.test");
    assert!(c.line().starts_with("+OK"));
    c.cmd(&format!("PASS {PASSWORD}"));
    let unknown = c.line();
    c.cmd(&format!("USER {ALICE}"));
    assert!(c.line().starts_with("+OK"));
    c.cmd("PASS wrong password");
    let wrong = c.line();
    assert_eq!(unknown, "-ERR [AUTH] invalid user name or password");
    assert_eq!(wrong, unknown);
    // The failures did not lock anything.
    let (_c, reply) = login(&srv, ALICE);
    assert!(reply.starts_with("+OK"), "{reply}");
}

#[test]
fn passwords_wait_for_tls_by_default() {
    let srv = start("");
    let mut c = Lines::connect(srv.addr("pop3"));
    c.line();
    c.cmd("CAPA");
    let capa = multiline(&mut c);
    let capa = String::from_utf8_lossy(&capa);
    assert!(capa.contains("STLS\r\n"), "{capa}");
    c.cmd(&format!("USER {ALICE}"));
    let reply = c.line();
    assert!(reply.starts_with("-ERR"), "{reply}");
    // Bytes pipelined after STLS are not taken as commands.
    c.send(b"STLS\r\nNOOP\r\n");
    assert!(c.line().starts_with("+OK"));
    c.send(b"garbage that is no TLS hello\r\n");
    let rest = c.rest();
    assert!(
        !rest.contains("+OK"),
        "the handshake fails and the server closes: {rest}"
    );
}

/// Sends a command pipelined after STLS in the same packet, then checks
/// that under TLS the first reply answers the first command sent in TLS.
const STLS_INJECTION_SCRIPT: &str = r#"
import socket, ssl, sys
port, cafile = sys.argv[1:]
s = socket.create_connection(("127.0.0.1", int(port)), timeout=20)
f = s.makefile("rb")
print(f.readline().decode().strip())
s.sendall(b"STLS\r\nCAPA\r\n")
print(f.readline().decode().strip())
ctx = ssl.create_default_context(cafile=cafile)
t = ctx.wrap_socket(s, server_hostname="mail.example.test")
t.sendall(b"STAT\r\n")
print(t.makefile("rb").readline().decode().strip())
"#;

#[test]
fn commands_pipelined_after_stls_are_dropped() {
    if !have_python() {
        return;
    }
    let srv = start("");
    let work = TempDir::new("inject");
    let script = work.path().join("inject.py");
    std::fs::write(&script, STLS_INJECTION_SCRIPT).unwrap();
    let out = run_bounded(
        Command::new("python3")
            .arg(&script)
            .arg(srv.addr("pop3").port().to_string())
            .arg(cert(&srv)),
        work.path(),
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "+OK mail.example.test POP3 ready",
            "+OK begin TLS negotiation",
            "-ERR not logged in"
        ]
    );
}

#[test]
fn a_20_mib_message_is_retrieved_intact_in_bounded_memory() {
    if !have("curl", &["--version"]) {
        return;
    }
    let srv = start(&format!(
        "[limits]\nmax_message_size = \"24 MiB\"\n{PLAINTEXT}"
    ));
    let mut big = b"From: sender@remote.test\r\nSubject: big\r\n\r\n".to_vec();
    let mut i = 0u64;
    while big.len() < 20 << 20 {
        // Every 97th line starts with a dot, to be stuffed and unstuffed.
        let lead = if i.is_multiple_of(97) { "." } else { "" };
        big.extend_from_slice(
            format!("{lead}{i:010} the quick brown fox jumps over the lazy dog 0123456789\r\n")
                .as_bytes(),
        );
        i += 1;
    }
    deliver(&srv, &[ALICE], std::slice::from_ref(&big));

    // Intact over TLS, with a real client.
    let work = TempDir::new("big");
    let file = work.path().join("big.eml");
    let started = Instant::now();
    let out = run_bounded(
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "120", "--cacert"])
            .arg(cert(&srv))
            .args(["--user", &format!("{ALICE}:{PASSWORD}"), "--output"])
            .arg(&file)
            .arg(format!("pop3s://127.0.0.1:{}/1", srv.addr("pop3s").port())),
        work.path(),
        Duration::from_secs(150),
    );
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = std::fs::read(&file).unwrap();
    let body = strip_trace(&got);
    assert_eq!(body.len(), big.len());
    assert!(body == &big[..], "20 MiB message differs");

    // Memory while sending, measured after the login (whose password
    // check has a memory peak of its own): the kernel's high-water mark,
    // reset to the current RSS once logged in (proc(5), clear_refs 5).
    let pid = srv.pid();
    let status_kb = move |key: &str| -> u64 {
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {path}"))
    };
    let mut c = login_when_free(&srv, ALICE);
    let clear_refs = format!("/proc/{pid}/clear_refs");
    std::fs::write(&clear_refs, "5").unwrap_or_else(|e| panic!("{clear_refs}: {e}"));
    let before = status_kb("VmRSS:");
    c.cmd("RETR 1");
    let status = c.line();
    assert!(status.starts_with("+OK"), "{status}");
    let plain = multiline(&mut c);
    // Read before QUIT: the server is still in the session that sent it.
    let peak = status_kb("VmHWM:");
    assert!(strip_trace(&plain) == &big[..], "20 MiB message differs");
    c.cmd("QUIT");
    assert!(c.line().starts_with("+OK"));
    println!(
        "20 MiB RETR over TLS (curl) in {took:?}; server RSS during a plain RETR: \
         {before} kB before, peak {peak} kB"
    );
    // Streaming: the server never holds the message (20 MiB) in memory.
    assert!(
        peak < before + 6 * 1024,
        "RSS grew from {before} kB to {peak} kB while sending"
    );
}
