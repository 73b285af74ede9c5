//! IMAP end to end: the real binary on loopback, driven by Python's
//! imaplib over STARTTLS and implicit TLS, by curl, and by raw
//! conversations; mail delivered over SMTP shows up.
//!
//! A test whose client tool is missing prints a note and passes, unless
//! `FACTEUR_TEST_STRICT=1`, when it fails.

mod common;

use common::server::{have_tool, run_bounded, smtp_send, Lines, Server};
use std::process::Command;
use std::time::Duration;

const ALICE: &str = "alice@example.test";
const PASSWORD: &str = "correct horse battery";
const PLAINTEXT: &str = "[tls]\nallow_plaintext_auth = true\n";

/// Common Python prelude: connection helpers with certificate checks off
/// (the test server's certificate is self-signed).
const PRELUDE: &str = r#"
import imaplib, ssl, sys, time, re, socket
HOST = sys.argv[1]; PORT = int(sys.argv[2]); TLSPORT = int(sys.argv[3])
USER = sys.argv[4]; PW = sys.argv[5]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def starttls():
    M = imaplib.IMAP4(HOST, PORT, timeout=20)
    assert 'LOGINDISABLED' in M.capabilities, M.capabilities
    assert 'STARTTLS' in M.capabilities, M.capabilities
    M.starttls(ssl_context=ctx)
    assert 'AUTH=PLAIN' in M.capabilities, M.capabilities
    M.login(USER, PW)
    return M
def implicit():
    M = imaplib.IMAP4_SSL(HOST, TLSPORT, ssl_context=ctx, timeout=20)
    M.login(USER, PW)
    return M
def ok(r):
    typ, dat = r
    assert typ == 'OK', r
    return dat
MSG = (b"From: Bob <bob@remote.test>\r\nTo: alice@example.test\r\n"
       b"Subject: hello there\r\nMessage-ID: <m1@remote.test>\r\n"
       b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nBody line one.\r\nLine two.\r\n")
"#;

fn start(extra: &str) -> Server {
    let srv = Server::start(extra);
    srv.add_user(ALICE, PASSWORD);
    srv
}

/// Runs a Python script (after [`PRELUDE`]) against the server; asserts it
/// exits with success and returns its stdout. `None` if Python is missing.
fn python(srv: &Server, script: &str) -> Option<String> {
    if !have_tool("python3") {
        return None;
    }
    let imap = srv.addr("imap");
    let imaps = srv.addr("imaps");
    let (ok, out, err) = run_bounded(
        Command::new("python3")
            .arg("-c")
            .arg(format!("{PRELUDE}\n{script}"))
            .arg(imap.ip().to_string())
            .arg(imap.port().to_string())
            .arg(imaps.port().to_string())
            .arg(ALICE)
            .arg(PASSWORD),
        Duration::from_secs(60),
    );
    assert!(
        ok,
        "python failed:\nstdout:\n{out}\nstderr:\n{err}\nserver log:\n{}",
        srv.log()
    );
    Some(out)
}

#[test]
fn mailbox_commands_over_starttls() {
    let srv = start("");
    python(
        &srv,
        r#"
M = starttls()
caps = ok(M.capability())[0].decode()
for c in ['IMAP4rev1', 'IMAP4rev2', 'IDLE', 'UIDPLUS', 'MOVE', 'CONDSTORE', 'QRESYNC', 'SPECIAL-USE']:
    assert c in caps.split(), (c, caps)
assert 'STARTTLS' not in caps.split()
lst = b'\n'.join(ok(M.list()))
for name in [b'INBOX', b'Sent', b'Drafts', b'Junk', b'Trash', b'Archive']:
    assert name in lst, lst
assert b'\\Junk' in lst and b'\\Sent' in lst, lst
ok(M.create('Projects/2024'))
lst = b'\n'.join(ok(M.list('""', 'Projects/%')))
assert b'"Projects/2024"' in lst or b'Projects/2024' in lst, lst
lst = b'\n'.join(ok(M.list('""', '%')))
assert re.search(rb'\(\\HasChildren\) "/" Projects', lst), lst
ok(M.rename('Projects/2024', 'Projects/Done'))
lst = b'\n'.join(ok(M.list('""', '*')))
assert b'Projects/Done' in lst and b'Projects/2024' not in lst, lst
ok(M.subscribe('Projects/Done'))
lsub = b'\n'.join(ok(M.lsub()))
assert b'Projects/Done' in lsub, lsub
ok(M.unsubscribe('Projects/Done'))
assert b'Projects/Done' not in b'\n'.join(x or b'' for x in ok(M.lsub()))
# Non-ASCII names go as modified UTF-7.
ok(M.create('&AOk-t&AOk-'))
assert b'&AOk-t&AOk-' in b'\n'.join(ok(M.list('""', '*')))
st = ok(M.status('INBOX', '(MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ APPENDLIMIT DELETED)'))[0]
assert b'MESSAGES 0' in st and b'UIDNEXT 1' in st and b'SIZE 0' in st and b'APPENDLIMIT' in st, st
ok(M.delete('Projects/Done'))
assert b'Projects/Done' not in b'\n'.join(ok(M.list('""', '*')))
typ, dat = M.delete('Nope')
assert typ == 'NO', dat
typ, dat = M.create('INBOX')
assert typ == 'NO', dat
typ, dat = M.select('Nope')
assert typ == 'NO', dat
# LIST-EXTENDED with STATUS and SPECIAL-USE selection.
typ, dat = M._simple_command('LIST', '(SPECIAL-USE)', '""', '*', 'RETURN', '(STATUS (MESSAGES))')
assert typ == 'OK', dat
lines = b'\n'.join(M.untagged_responses.pop('LIST', []))
assert b'INBOX' not in lines and b'\\Junk' in lines, lines
sts = b'\n'.join(M.untagged_responses.pop('STATUS', []))
assert b'MESSAGES 0' in sts, sts
typ, dat = M.getquotaroot('INBOX')
assert typ == 'OK', dat
typ, dat = M._simple_command('NAMESPACE')
assert typ == 'OK'
ns = M.untagged_responses.pop('NAMESPACE', [b''])[0]
assert ns.startswith(b'(("" "/"))'), ns
# ID (RFC 2971): the server names itself.
imaplib.Commands.setdefault('ID', ('NONAUTH', 'AUTH', 'SELECTED'))
typ, dat = M._simple_command('ID', '("name" "imaplib")')
assert typ == 'OK', dat
ident = M.untagged_responses.pop('ID', [b''])[0]
assert b'"name" "facteur"' in ident, ident
# EXAMINE opens read-only; CHECK is a no-op that succeeds.
typ, dat = M.select('INBOX', readonly=True)
assert typ == 'OK', dat
assert 'READ-ONLY' in M.untagged_responses, M.untagged_responses
ok(M.check())
typ, dat = M.append('INBOX', None, None, MSG)
assert typ == 'OK', dat
typ, dat = M.store('1', '+FLAGS', '(\\Seen)')
assert typ == 'NO', (typ, dat)
ok(M.unselect())
# No limit, so no quota root (RFC 9208: a quota-list is never empty).
typ, dat = M.getquota('""')
assert typ == 'NO' and b'[NONEXISTENT]' in dat[0], (typ, dat)
M.logout()
# AUTHENTICATE PLAIN (with SASL-IR when imaplib sends it) and ENABLE.
M = imaplib.IMAP4(HOST, PORT, timeout=20)
M.starttls(ssl_context=ctx)
ok(M.authenticate('PLAIN', lambda _: ('\0%s\0%s' % (USER, PW)).encode()))
assert M.state == 'AUTH', M.state
ok(M.enable('IMAP4rev2'))
en = M.untagged_responses.pop('ENABLED', [b''])[0]
assert b'IMAP4rev2' in en, en
M.logout()
N = imaplib.IMAP4(HOST, PORT, timeout=20)
N.starttls(ssl_context=ctx)
try:
    N.authenticate('PLAIN', lambda _: ('\0%s\0wrong' % USER).encode())
    assert False, 'a wrong password was accepted'
except imaplib.IMAP4.error:
    pass
N.logout()
print("done")
"#,
    );
}

#[test]
fn messages_over_implicit_tls() {
    let srv = start("");
    python(
        &srv,
        r#"
M = implicit()
dat = ok(M.append('INBOX', '(\\Flagged)', None, MSG))
m = re.search(rb'APPENDUID (\d+) (\d+)', dat[0])
assert m and m.group(2) == b'1', dat
uidvalidity = int(m.group(1))
ok(M.append('INBOX', None, None, MSG.replace(b'hello there', b'second')))
typ, dat = M.append('Missing', None, None, MSG)
assert typ == 'NO' and b'TRYCREATE' in dat[0], dat
n = ok(M.select('INBOX'))[0]
assert n == b'2', n
dat = ok(M.uid('FETCH', '1:*', '(UID FLAGS RFC822.SIZE)'))
assert b'UID 1' in dat[0] and b'\\Flagged' in dat[0] and ('RFC822.SIZE %d' % len(MSG)).encode() in dat[0], dat
dat = ok(M.fetch('1', '(BODY.PEEK[])'))
assert dat[0][1] == MSG, dat
dat = ok(M.fetch('1', '(FLAGS)'))
assert b'\\Seen' not in dat[0], dat
dat = ok(M.fetch('1', '(BODY.PEEK[]<0.4>)'))
assert dat[0][1] == MSG[:4], dat
# A non-PEEK body fetch sets \Seen and reports it.
dat = ok(M.fetch('2', '(BODY[])'))
assert b'\\Seen' in b' '.join(x if isinstance(x, bytes) else x[0] for x in dat), dat
dat = ok(M.store('1', '+FLAGS', '(\\Deleted $Label1)'))
assert b'\\Deleted' in dat[0] and b'$Label1' in dat[0], dat
dat = ok(M.store('1', '-FLAGS.SILENT', '($Label1)'))
dat = ok(M.search(None, 'DELETED'))
assert dat[0] == b'1', dat
dat = ok(M.search(None, 'UNSEEN'))
assert dat[0] == b'1', dat
dat = ok(M.uid('SEARCH', 'ALL'))
assert dat[0] == b'1 2', dat
dat = ok(M._simple_command('UID', 'COPY', '2', 'Archive'))
assert re.search(rb'\[COPYUID \d+ 2 1\]', dat[0]), dat
dat = ok(M.uid('MOVE', '2', 'Junk'))
assert M.untagged_responses.get('EXPUNGE') == [b'2'], M.untagged_responses
M.untagged_responses.clear()
dat = ok(M.uid('EXPUNGE', '1'))
assert M.untagged_responses.get('EXPUNGE') == [b'1'], M.untagged_responses
n = ok(M.select('Junk'))[0]
assert n == b'1', n
n = ok(M.select('Archive', readonly=True))[0]
assert n == b'1', n
typ, dat = M.store('1', '+FLAGS', '(\\Deleted)')
assert typ == 'NO', dat
ok(M.close())
M.logout()
print("done")
"#,
    );
}

#[test]
fn delivered_mail_and_idle_across_sessions() {
    let srv = start("");
    let r = smtp_send(
        srv.addr("smtp"),
        "bob@remote.test",
        &[ALICE],
        "From: bob@remote.test\r\nTo: alice@example.test\r\nSubject: by smtp\r\n\r\nhi\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    python(
        &srv,
        r#"
A = implicit()
n = ok(A.select('INBOX'))[0]
assert n == b'1', n
dat = ok(A.fetch('1', '(BODY.PEEK[])'))
assert b'Subject: by smtp' in dat[0][1] and b'Delivered-To' in dat[0][1], dat
tag = A._new_tag()
A.send(tag + b' IDLE\r\n')
line = A.readline()
assert line.startswith(b'+'), line
B = starttls()
ok(B.append('INBOX', None, None, MSG))
A.sock.settimeout(10)
line = A.readline()
assert line == b'* 2 EXISTS\r\n', line
# RFC 3501 §7.3.2: RECENT goes with EXISTS; A was told first, so the new
# message is recent in A, as the first was since its SELECT.
line = A.readline()
assert line == b'* 2 RECENT\r\n', line
# Flag changes by B are pushed too.
ok(B.select('INBOX'))
ok(B.store('1', '+FLAGS', '(\\Answered)'))
line = A.readline()
assert b'FETCH' in line and b'\\Answered' in line, line
# An expunge by B shows as EXPUNGE during IDLE.
ok(B.store('2', '+FLAGS', '(\\Deleted)'))
line = A.readline()
assert b'FETCH' in line, line
ok(B.expunge())
line = A.readline()
assert line == b'* 2 EXPUNGE\r\n', line
A.send(b'DONE\r\n')
line = A.readline()
assert line.startswith(tag + b' OK'), line
B.logout(); A.logout()
print("done")
"#,
    );
}

#[test]
fn qresync_resynchronisation() {
    let srv = start("");
    python(
        &srv,
        r#"
A = implicit()
ok(A.enable('QRESYNC'))
for i in range(4):
    ok(A.append('INBOX', None, None, MSG))
typ, dat = A._simple_command('SELECT', 'INBOX')
assert typ == 'OK', dat
uv = int(A.untagged_responses['UIDVALIDITY'][0])
ms = int(A.untagged_responses['HIGHESTMODSEQ'][0])
A.untagged_responses.clear()
A.state = 'SELECTED'
ok(A._simple_command('UNSELECT'))
# Another session changes flags and expunges while A is "offline".
B = starttls()
ok(B.select('INBOX'))
ok(B.uid('STORE', '2', '+FLAGS', '(\\Flagged)'))
ok(B.uid('STORE', '3', '+FLAGS', '(\\Deleted)'))
ok(B.expunge())
B.logout()
A.untagged_responses.clear()
typ, dat = A._simple_command('SELECT', 'INBOX', '(QRESYNC (%d %d 1:4))' % (uv, ms))
assert typ == 'OK', dat
v = A.untagged_responses.get('VANISHED')
assert v == [b'(EARLIER) 3'], A.untagged_responses
f = b' '.join(A.untagged_responses.get('FETCH', []))
assert b'UID 2' in f and b'\\Flagged' in f and b'MODSEQ' in f, A.untagged_responses
assert b'UID 1' not in f, f
A.state = 'SELECTED'
# UID FETCH with CHANGEDSINCE and VANISHED.
A.untagged_responses.clear()
typ, dat = A._simple_command('UID', 'FETCH', '1:*', '(FLAGS)', '(CHANGEDSINCE %d VANISHED)' % ms)
assert typ == 'OK', dat
assert A.untagged_responses.get('VANISHED') == [b'(EARLIER) 3'], A.untagged_responses
A.logout()
print("done")
"#,
    );
}

#[test]
fn bad_commands_and_login_failures() {
    let srv = start(PLAINTEXT);
    let mut c = Lines::connect(srv.addr("imap"));
    let g = c.line();
    assert!(g.starts_with("* OK [CAPABILITY IMAP4rev1"), "{g}");
    assert!(g.contains("AUTH=PLAIN"), "{g}");
    c.cmd("a1 SELECT INBOX");
    assert!(c.line().starts_with("a1 BAD"));
    c.cmd("a2 LOGIN alice@example.test wrong");
    assert_eq!(c.line(), "a2 NO [AUTHENTICATIONFAILED] Invalid credentials");
    c.cmd(&format!("a3 LOGIN {ALICE} \"{PASSWORD}\""));
    let l = c.line();
    assert!(l.starts_with("a3 OK"), "{l}");
    c.cmd("a4 FROB");
    assert!(c.line().starts_with("a4 BAD"));
    c.cmd("a5 FETCH 1 (FLAGS)");
    assert!(c.line().starts_with("a5 BAD"));
    // Two bad commands so far (a4, a5): eight more make ten in a row.
    for i in 0..8 {
        c.cmd(&format!("b{i} NOSUCHCOMMAND"));
        let l = c.line();
        assert!(l.starts_with(&format!("b{i} BAD")), "{l}");
    }
    assert_eq!(c.line(), "* BYE Too many invalid commands");
    assert_eq!(c.rest(), "");
}

#[test]
fn curl_fetches_a_message() {
    if !have_tool("curl") {
        return;
    }
    let srv = start("");
    let r = smtp_send(
        srv.addr("smtp"),
        "bob@remote.test",
        &[ALICE],
        "From: bob@remote.test\r\nTo: alice@example.test\r\nSubject: for curl\r\n\r\ncurl body\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    let a = srv.addr("imaps");
    let (ok, out, err) = run_bounded(
        Command::new("curl").args([
            "-s",
            "-S",
            "-k",
            "--max-time",
            "20",
            "-u",
            &format!("{ALICE}:{PASSWORD}"),
            &format!("imaps://{}:{}/INBOX;UID=1", a.ip(), a.port()),
        ]),
        Duration::from_secs(30),
    );
    assert!(ok, "curl failed: {err}\n{}", srv.log());
    assert!(out.contains("Subject: for curl"), "{out}");
    assert!(out.contains("curl body"), "{out}");
}

/// ENVELOPE, BODYSTRUCTURE, header sections and text SEARCH.
#[test]
fn fetch_structure_and_text_search() {
    let srv = start("");
    python(
        &srv,
        r#"
M = implicit()
ok(M.append('INBOX', None, None, MSG))
ok(M.select('INBOX'))
dat = ok(M.fetch('1', '(ENVELOPE)'))
assert b'"hello there"' in dat[0] and b'"m1@remote.test"' not in dat[0] and b'<m1@remote.test>' in dat[0], dat
assert b'("Bob" NIL "bob" "remote.test")' in dat[0], dat
dat = ok(M.fetch('1', '(BODYSTRUCTURE)'))
assert b'("TEXT" "PLAIN"' in dat[0].upper(), dat
dat = ok(M.fetch('1', '(BODY.PEEK[HEADER.FIELDS (SUBJECT)])'))
assert dat[0][1] == b'Subject: hello there\r\n\r\n', dat
dat = ok(M.fetch('1', '(BODY.PEEK[TEXT])'))
assert dat[0][1] == b'Body line one.\r\nLine two.\r\n', dat
assert ok(M.search(None, 'SUBJECT', 'hello'))[0] == b'1'
assert ok(M.search(None, 'BODY', '"line two"'))[0] == b'1'
assert ok(M.search(None, 'FROM', 'nobody'))[0] == b''
M.logout()
print("done")
"#,
    );
}

#[test]
fn fetchmail_downloads_over_imap() {
    if !have_tool("fetchmail") {
        return;
    }
    let srv = start(PLAINTEXT);
    for i in 0..2 {
        let r = smtp_send(
            srv.addr("smtp"),
            "bob@remote.test",
            &[ALICE],
            &format!("From: bob@remote.test\r\nTo: alice@example.test\r\nSubject: fm {i}\r\n\r\nbody {i}\r\n"),
        );
        assert!(r.starts_with("250"), "{r}");
    }
    let dir = srv.dir.path();
    let out = dir.join("fetched.mbox");
    let rc = dir.join("fetchmailrc");
    let a = srv.addr("imap");
    std::fs::write(
        &rc,
        format!(
            "poll {} protocol IMAP port {} user \"{ALICE}\" password \"{PASSWORD}\" sslproto '' \
             keep mda \"/bin/sh -c 'cat >> {}'\"\n",
            a.ip(),
            a.port(),
            out.display()
        ),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&rc).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o600);
    std::fs::set_permissions(&rc, perm).unwrap();
    let (ok, o, e) = run_bounded(
        Command::new("fetchmail")
            .args(["-f"])
            .arg(&rc)
            .args(["--nosyslog", "--nodetach", "-v"])
            .env("HOME", dir)
            .env("FETCHMAILHOME", dir),
        Duration::from_secs(60),
    );
    let got = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        ok && got.contains("Subject: fm 0") && got.contains("Subject: fm 1"),
        "fetchmail: {o}\n{e}\n{got}\n{}",
        srv.log()
    );
}

/// RFC 3516 BINARY: decoded sections, their sizes and partials, \Seen,
/// UNKNOWN-CTE, leaf parts only, and APPEND of a literal8 holding NUL
/// (which BODY[] sends as 0x80).
#[test]
fn binary_fetch_and_literal8_append() {
    let srv = start("");
    python(
        &srv,
        r#"
import base64
ATT = bytes(range(256)) * 8
B64 = base64.encodebytes(ATT).replace(b'\n', b'\r\n').rstrip(b'\r\n')
MIXED = (b"From: Bob <bob@remote.test>\r\nTo: alice@example.test\r\nSubject: parts\r\n"
         b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
         b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
         b"caf=C3=A9 =3D soft=\r\nbreak\r\nline two\r\n"
         b"--b1\r\nContent-Type: application/octet-stream\r\n"
         b"Content-Transfer-Encoding: base64\r\n\r\n" + B64 + b"\r\n"
         b"--b1\r\nContent-Type: application/x-thing\r\n"
         b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n"
         b"--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n"
         b"--b1--\r\n")
M = implicit()
assert 'BINARY' in M.capabilities, M.capabilities
ok(M.append('INBOX', None, None, MIXED))
ok(M.select('INBOX'))
# The base64 attachment comes back as its bytes, in a literal8 (it has NUL).
dat = ok(M.fetch('1', '(BINARY.PEEK[2])'))
assert dat[0][0].endswith(b'BINARY[2] ~{%d}' % len(ATT)), dat[0][0]
assert dat[0][1] == ATT
dat = ok(M.fetch('1', '(BINARY.SIZE[2] BINARY.SIZE[1])'))
assert b'BINARY.SIZE[2] %d' % len(ATT) in dat[0], dat
# Partial fetches count decoded bytes; a window without NUL is a literal.
dat = ok(M.fetch('1', '(BINARY.PEEK[2]<100.50>)'))
assert dat[0][0].endswith(b'BINARY[2]<100> {50}'), dat[0][0]
assert dat[0][1] == ATT[100:150]
dat = ok(M.fetch('1', '(BINARY.PEEK[2]<250.20>)'))
assert dat[0][0].endswith(b'~{20}'), dat[0][0]
assert dat[0][1] == ATT[250:270]
dat = ok(M.fetch('1', '(BINARY.PEEK[2]<2040.100>)'))
assert dat[0][1] == ATT[2040:], dat
# Quoted-printable decoded, soft line break and all.
dat = ok(M.fetch('1', '(BINARY.PEEK[1])'))
want = 'caf\u00e9 = softbreak\r\nline two'.encode()
assert dat[0][1] == want, dat
assert b'BINARY.SIZE[1] %d' % len(want) in ok(M.fetch('1', '(BINARY.SIZE[1])'))[0]
# PEEK leaves \Seen alone; BINARY sets it and reports the flags.
dat = ok(M.fetch('1', '(FLAGS)'))
assert b'\\Seen' not in dat[0], dat
dat = ok(M.fetch('1', '(BINARY[1])'))
assert b'\\Seen' in b' '.join(x if isinstance(x, bytes) else x[0] for x in dat), dat
ok(M.store('1', '-FLAGS', '(\\Seen)'))
# An unknown transfer encoding: NO [UNKNOWN-CTE], nothing sent, no \Seen.
typ, dat = M.fetch('1', '(BINARY[3])')
assert typ == 'NO' and dat[0].startswith(b'[UNKNOWN-CTE]'), (typ, dat)
typ, dat = M.fetch('1', '(BINARY.SIZE[3])')
assert typ == 'NO' and b'UNKNOWN-CTE' in dat[0], (typ, dat)
assert b'\\Seen' not in ok(M.fetch('1', '(FLAGS)'))[0]
# BODY[3] of the same part is fine.
assert ok(M.fetch('1', '(BODY.PEEK[3])'))[0][1] == b'begin 644 x'
# BINARY of a message/rfc822 part gives the embedded message, as BODY
# does (RFC 3516 §4.2, as Dovecot answers).
part = ok(M.fetch('1', '(BINARY.PEEK[4])'))[0][1]
assert part == ok(M.fetch('1', '(BODY.PEEK[4])'))[0][1], part
assert part.endswith(b'inner body'), part
assert ok(M.fetch('1', '(BINARY.PEEK[4.1])'))[0][1] == b'inner body'

# APPEND of a literal8 holding NUL (RFC 3516 §4.4), synchronising and
# not (LITERAL+), and it comes back identical.
def raw_append(head, data):
    tag = M._new_tag()
    M.send(tag + b' APPEND INBOX ' + head + b'\r\n')
    if not head.endswith(b'+}'):
        line = M.readline()
        assert line.startswith(b'+ '), line
    M.send(data + b'\r\n')
    while True:
        line = M.readline()
        if line.startswith(tag + b' '):
            return line
BIN = (b"From: a@remote.test\r\nSubject: raw\r\nContent-Type: application/octet-stream\r\n"
       b"Content-Transfer-Encoding: binary\r\n\r\n" + bytes(range(256)) + b"\r\nend\x00")
line = raw_append(b'~{%d}' % len(BIN), BIN)
assert b' OK [APPENDUID ' in line, line
line = raw_append(b'~{%d+}' % len(BIN), BIN.replace(b'raw', b'two'))
assert b' OK [APPENDUID ' in line, line
ok(M.noop())
for n, data in [('2', BIN), ('3', BIN.replace(b'raw', b'two'))]:
    dat = ok(M.fetch(n, '(RFC822.SIZE BINARY.PEEK[])'))
    assert b'RFC822.SIZE %d' % len(data) in dat[0][0], dat
    assert dat[0][0].endswith(b'~{%d}' % len(data)), dat[0][0]
    assert dat[0][1] == data
    dat = ok(M.fetch(n, '(BINARY.PEEK[1])'))
    assert dat[0][1] == bytes(range(256)) + b"\r\nend\x00", dat
    # BODY[] is a plain literal, which may not carry NUL: 0x80 stands in.
    dat = ok(M.fetch(n, '(BODY.PEEK[])'))
    assert dat[0][0].endswith(b'BODY[] {%d}' % len(data)), dat[0][0]
    assert dat[0][1] == data.replace(b'\x00', b'\x80')
# The APPENDLIMIT holds for a literal8 too.
tag = M._new_tag()
M.send(tag + b' APPEND INBOX ~{999999999999}\r\n')
line = M.readline()
assert line.startswith(tag + b' NO [TOOBIG]'), line
# A literal8 is only for APPEND data.
tag = M._new_tag()
M.send(tag + b' SELECT ~{5}\r\n')
line = M.readline()
assert line.startswith(tag + b' BAD'), line
ok(M.noop())
M.logout()
print("done")
"#,
    );
}

/// A raw IMAP connection that can tell whether anything has arrived.
struct Raw {
    reader: std::io::BufReader<std::net::TcpStream>,
    writer: std::net::TcpStream,
}

impl Raw {
    /// Connects to plain IMAP and logs in as Alice (plaintext allowed).
    fn login(srv: &Server) -> Raw {
        let s = std::net::TcpStream::connect(srv.addr("imap")).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut c = Raw {
            reader: std::io::BufReader::new(s.try_clone().expect("clone")),
            writer: s,
        };
        assert!(c.line().starts_with("* OK"));
        c.send(format!("l LOGIN {ALICE} \"{PASSWORD}\"\r\n").as_bytes());
        c.until("l ");
        c
    }

    fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.writer.write_all(bytes).expect("send");
    }

    fn line(&mut self) -> String {
        use std::io::BufRead;
        let mut l = String::new();
        self.reader.read_line(&mut l).expect("read line");
        l.trim_end().to_string()
    }

    /// Reads up to the line that starts with `prefix` and returns it.
    fn until(&mut self, prefix: &str) -> String {
        loop {
            let l = self.line();
            assert!(!l.is_empty(), "connection closed before {prefix}");
            if l.starts_with(prefix) {
                return l;
            }
        }
    }

    /// Whether the server has sent anything not read yet.
    fn has_input(&mut self) -> bool {
        if !self.reader.buffer().is_empty() {
            return true;
        }
        self.writer.set_nonblocking(true).expect("nonblocking");
        let got = self.writer.peek(&mut [0u8; 1]);
        self.writer.set_nonblocking(false).expect("blocking");
        !matches!(got, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Appends `msg` to INBOX.
    fn append(&mut self, msg: &[u8]) {
        self.send(format!("ap APPEND INBOX {{{}}}\r\n", msg.len()).as_bytes());
        assert!(self.line().starts_with("+ "));
        self.send(msg);
        self.send(b"\r\n");
        let r = self.until("ap ");
        assert!(r.starts_with("ap OK"), "{r}");
    }
}

/// A text message of about `size` bytes in which no `zq<n>x` occurs.
fn big_text_message(size: usize) -> Vec<u8> {
    let mut m =
        b"From: bob@remote.test\r\nTo: alice@example.test\r\nSubject: long read\r\n\r\n".to_vec();
    let line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n";
    while m.len() < size {
        m.extend_from_slice(line);
    }
    m
}

/// A SEARCH of `n` BODY keys that match nothing.
fn hostile_search(tag: &str, n: usize) -> String {
    let keys: Vec<String> = (0..n).map(|i| format!("BODY zq{i}x")).collect();
    format!("{tag} SEARCH {}\r\n", keys.join(" "))
}

/// Hardening, one IMAP user stalling mail delivery for everyone: four
/// searches through large messages, each feeding every byte to 32 keys, are
/// running, and a delivery over SMTP still completes before any of them
/// answers: IMAP work cannot take every thread delivery needs.
#[test]
fn delivery_completes_while_hostile_searches_run() {
    let srv = start(PLAINTEXT);
    let mut c = Raw::login(&srv);
    let big = big_text_message(10 << 20);
    c.append(&big);
    c.append(&big);
    let mut searches: Vec<Raw> = (0..4)
        .map(|_| {
            let mut s = Raw::login(&srv);
            s.send(b"s SELECT INBOX\r\n");
            s.until("s OK");
            s
        })
        .collect();
    for (i, s) in searches.iter_mut().enumerate() {
        s.send(hostile_search(&format!("h{i}"), 32).as_bytes());
    }
    let r = smtp_send(
        srv.addr("smtp"),
        "bob@remote.test",
        &[ALICE],
        "Subject: urgent\r\n\r\nPlease call.\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    let answered = searches
        .iter_mut()
        .map(|s| s.has_input())
        .filter(|&b| b)
        .count();
    assert_eq!(answered, 0, "a search answered before the delivery did");
    for (i, s) in searches.iter_mut().enumerate() {
        let r = s.until(&format!("h{i} "));
        assert!(
            r == format!("h{i} OK SEARCH completed") || r.contains("NO [LIMIT]"),
            "{r}"
        );
    }
    c.send(b"n STATUS INBOX (MESSAGES)\r\n");
    assert_eq!(c.line(), "* STATUS INBOX (MESSAGES 3)");
}

/// Hardening, one IMAP user stalling mail delivery: a search that runs
/// past `timeouts.imap_command` is stopped with NO [LIMIT], and one with
/// more string keys than allowed is refused at once.
#[test]
fn long_and_wide_searches_are_limited() {
    let srv = start(&format!("{PLAINTEXT}[timeouts]\nimap_command = \"1s\"\n"));
    let mut c = Raw::login(&srv);
    let big = big_text_message(10 << 20);
    for _ in 0..4 {
        c.append(&big);
    }
    c.send(b"s SELECT INBOX\r\n");
    c.until("s OK");
    c.send(hostile_search("t", 32).as_bytes());
    assert_eq!(c.until("t "), "t NO [LIMIT] Search took too long");
    c.send(hostile_search("w", 33).as_bytes());
    assert_eq!(
        c.until("w "),
        "w NO [LIMIT] At most 32 header and text keys in one search"
    );
    c.send(b"k SEARCH BODY fox\r\n");
    assert_eq!(c.line(), "* SEARCH 1 2 3 4");
}

/// Hardening, idle connections locking every service out: port 25 takes
/// only its share of `max_connections`, and IMAP, submission and POP3
/// still greet new clients.
#[test]
fn idle_smtp_connections_leave_other_services_their_slots() {
    let srv = start("[limits]\nmax_connections = 16\nmax_connections_per_ip = 16\n");
    let mut held = Vec::new();
    loop {
        let mut c = Lines::connect(srv.addr("smtp"));
        let g = c.reply();
        if g.starts_with("421") {
            break;
        }
        assert!(g.starts_with("220"), "{g}");
        held.push(c);
        assert!(held.len() < 16, "SMTP took every slot");
    }
    assert_eq!(held.len(), 4);
    let mut imap = Lines::connect(srv.addr("imap"));
    let g = imap.line();
    assert!(g.starts_with("* OK"), "{g}");
    let mut sub = Lines::connect(srv.addr("submission"));
    let g = sub.reply();
    assert!(g.starts_with("220"), "{g}");
    let mut pop = Lines::connect(srv.addr("pop3"));
    let g = pop.line();
    assert!(g.starts_with("+OK"), "{g}");
}

/// Hardening, idle connections locking services out: a client that does
/// not log in is disconnected after `timeouts.imap_login`, however often
/// it sends NOOP.
#[test]
fn imap_clients_that_do_not_log_in_are_disconnected() {
    let srv = start("[timeouts]\nimap_login = \"2s\"\n");
    let mut c = Lines::connect(srv.addr("imap"));
    assert!(c.line().starts_with("* OK"));
    c.cmd("a NOOP");
    assert_eq!(c.line(), "a OK NOOP completed");
    assert_eq!(c.line(), "* BYE Login timeout");
    assert_eq!(c.rest(), "");
}

/// Attachments come back byte for byte: BINARY.PEEK of each kind of part
/// gives exactly the bytes its transfer encoding stands for (RFC 3516
/// §4.2), whatever the media type, with no line ends rewritten, and
/// BINARY.SIZE is the length BINARY sends.
#[test]
fn attachments_come_back_byte_for_byte() {
    let srv = start("");
    python(
        &srv,
        r#"
import base64, hashlib
def qp(data):
    # Quoted-printable by hand (RFC 2045 §6.7): trailing white space
    # encoded, long lines cut with soft line breaks, CRLF hard breaks.
    out = []
    for line in data.split(b"\r\n"):
        enc = b""
        for i, c in enumerate(line):
            last = i == len(line) - 1
            if c == 61 or c > 126 or (c in (32, 9) and last) or (c < 32 and c != 9):
                piece = b"=%02X" % c
            else:
                piece = bytes([c])
            if len(enc) + len(piece) > 72:
                out.append(enc + b"=")
                enc = b""
            enc += piece
        out.append(enc)
    return b"\r\n".join(out)
def b64(data):
    return base64.encodebytes(data).replace(b"\n", b"\r\n").rstrip(b"\r\n")
csv_lf = b"".join(b"%d,item %d,%d.50\n" % (i, i, i * 3) for i in range(300))
csv_crlf = csv_lf.replace(b"\n", b"\r\n")
qp_text = (b"Trailing spaces here   \r\nand a tab\t\r\n" + b"long line " * 30
           + b"\r\n= sign, caf\xc3\xa9\r\n   \r\nlast line  ")
eight = "Grüße aus Köln\r\nzweite Zeile\r\nend".encode()
blob = bytes(range(256)) * 16 + b"\x00\x00\n\r\n\rend"
parts = [
    (b"text/csv", b"base64", b64(csv_lf), csv_lf),
    (b"text/csv", b"base64", b64(csv_crlf), csv_crlf),
    (b"text/plain; charset=utf-8", b"quoted-printable", qp(qp_text), qp_text),
    (b"text/plain; charset=utf-8", b"8bit", eight, eight),
    (b"application/octet-stream", b"base64", b64(blob), blob),
]
msg = (b"From: Bob <bob@remote.test>\r\nTo: alice@example.test\r\nSubject: files\r\n"
       b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=sep\r\n\r\n")
for ctype, cte, body, _ in parts:
    msg += (b"--sep\r\nContent-Type: " + ctype + b"\r\nContent-Transfer-Encoding: "
            + cte + b"\r\nContent-Disposition: attachment\r\n\r\n" + body + b"\r\n")
msg += b"--sep--\r\n"
M = implicit()
ok(M.append('INBOX', None, None, msg))
ok(M.select('INBOX'))
for i, (ctype, cte, _, original) in enumerate(parts, 1):
    dat = ok(M.fetch('1', '(BINARY.PEEK[%d])' % i))
    got = dat[0][1]
    assert hashlib.sha256(got).digest() == hashlib.sha256(original).digest(), (i, ctype, cte, got[:80], original[:80])
    assert dat[0][0].endswith(b'~{%d}' % len(got)) == (b"\x00" in original), dat[0][0]
    size = ok(M.fetch('1', '(BINARY.SIZE[%d])' % i))[0]
    assert b'BINARY.SIZE[%d] %d)' % (i, len(got)) in size, (size, len(got))
# BODY[] is the message as stored.
assert ok(M.fetch('1', '(BODY.PEEK[])'))[0][1] == msg
M.logout()
print("done")
"#,
    );
}

/// RFC 3501 §7.2.6, RFC 9051 §7.3.5: a keyword new to the mailbox, stored
/// by one session, reaches another session with the mailbox selected as
/// `FLAGS` before the `FETCH` that shows it.
#[test]
fn new_keyword_reaches_other_session_as_flags_before_fetch() {
    let srv = start("");
    python(
        &srv,
        r#"
def lines_until_tagged(M, cmd):
    tag = M._new_tag()
    M.send(tag + b' ' + cmd + b'\r\n')
    out = []
    while True:
        line = M.readline()
        if line.startswith(tag + b' '):
            assert line.startswith(tag + b' OK'), line
            return out
        out.append(line)
A = implicit(); B = implicit()
ok(A.append('INBOX', None, None, MSG))
ok(A.select('INBOX')); ok(B.select('INBOX'))
got = lines_until_tagged(B, b'STORE 1 +FLAGS ($hello)')
assert got[0].startswith(b'* FLAGS (') and b'$hello' in got[0], got
assert got[1].startswith(b'* OK [PERMANENTFLAGS (') and b'$hello' in got[1], got
assert got[2].startswith(b'* 1 FETCH'), got
got = lines_until_tagged(A, b'NOOP')
flags = [i for i, l in enumerate(got) if l.startswith(b'* FLAGS (') and b'$hello' in l]
fetch = [i for i, l in enumerate(got) if b'FETCH' in l and b'$hello' in l]
assert flags and fetch and flags[0] < fetch[0], got
A.logout(); B.logout()
print("done")
"#,
    );
}

/// The IMAP4rev1 conformance rules, through imaplib as a client sees them:
/// RFC 3501 §2.3.2 and §6.3.10 (`\Recent`, STATUS RECENT, SEARCH NEW),
/// §6.3.9 (LSUB `%` with an unsubscribed parent), §6.4.4 (SEARCH FROM on
/// the address as shown), RFC 3516 §4.2 (BINARY of a message/rfc822 part)
/// and RFC 3502 §3 (MULTIAPPEND, all or none).
#[test]
fn rev1_recent_lsub_search_binary_and_multiappend() {
    let srv = start(PLAINTEXT);
    python(
        &srv,
        r#"
def plain():
    M = imaplib.IMAP4(HOST, PORT, timeout=20)
    M.login(USER, PW)
    return M
A = plain()
assert 'MULTIAPPEND' in ok(A.capability())[0].decode().split()
inner = b"Subject: in\r\n\r\ninner\r\n"
outer = (b"From: =?utf-8?q?User_From?= <\"user-from\"@domain.org>\r\nSubject: o\r\n"
         b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
         b"Content-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
         + inner + b"--b--\r\n")
ok(A.append('INBOX', None, None, outer))
ok(A.append('INBOX', None, None, MSG))
st = ok(A.status('INBOX', '(MESSAGES RECENT)'))[0]
assert b'RECENT 2' in st, st
B = plain()
sel = B.select('INBOX')
assert B.untagged_responses.get('RECENT') == [b'2'], B.untagged_responses
assert ok(B.search(None, 'NEW')) == [b'1 2']
assert ok(B.search(None, 'FROM', '"user-from@domain.org"')) == [b'1']
assert ok(B.search(None, 'FROM', '"User From"')) == [b'1']
f = ok(B.fetch('1', '(FLAGS BINARY.SIZE[2] BINARY.PEEK[2])'))
assert b'\\Recent' in f[0][0], f
assert f[0][1] == inner.rstrip(b"\r\n"), f
assert ok(B.noop())
st = ok(A.status('INBOX', '(RECENT)'))[0]
assert b'RECENT 0' in st, st
ok(A.create('foo/bar')); ok(A.subscribe('foo/bar'))
lsub = ok(A.lsub('""', 'f%'))
assert lsub == [b'(\\Noselect) "/" foo'], lsub
# MULTIAPPEND: the third message is over APPENDLIMIT, so none is added.
limit = int(re.search(r'APPENDLIMIT=(\d+)', ' '.join(A.capabilities)).group(1))
tag = A._new_tag()
A.send(tag + b' APPEND Archive {2}\r\n')
assert A.readline().startswith(b'+')
A.send(b'm1 {2}\r\n')
assert A.readline().startswith(b'+')
A.send(b'm2 {%d}\r\n' % (limit + 1))
end = A.readline()
while not end.startswith(tag):
    end = A.readline()
assert b' NO [TOOBIG]' in end, end
st = ok(A.status('Archive', '(MESSAGES)'))[0]
assert b'MESSAGES 0' in st, st
A.logout(); B.logout()
print("done")
"#,
    );
}
