use super::*;
use crate::proto::pop3::{crlf_size, DotStuffer, MAX_COMMAND_LINE};
use std::time::Duration;

const MSG1: &[u8] = b"Subject: one\r\n\r\nHello\r\n.dot line\r\n";
const MSG2: &[u8] = b"Subject: two\n\nbare lf\n..two dots\nno newline at end";
const MSG3: &[u8] = b"Subject: three\r\rcr only\r.\r";

/// An in-memory adapter: answers actions and records them.
struct Fake {
    bodies: Vec<(u32, &'static [u8])>,
    /// UIDs in the maildrop whose body is missing from the store.
    missing: Vec<u32>,
    update_error: Option<String>,
    log: Vec<String>,
    output: Vec<u8>,
    closed: bool,
    /// TLS started during the current plaintext segment.
    tls_started: bool,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            bodies: vec![(10, MSG1), (20, MSG2), (30, MSG3)],
            missing: Vec::new(),
            update_error: None,
            log: Vec::new(),
            output: Vec::new(),
            closed: false,
            tls_started: false,
        }
    }

    fn maildrop(&self) -> Maildrop {
        let mut messages: Vec<MaildropMessage> = self
            .bodies
            .iter()
            .map(|(uid, body)| MaildropMessage {
                uid: *uid,
                size: crlf_size(body),
                uidl: format!("v1.{uid}"),
            })
            .collect();
        messages.extend(self.missing.iter().map(|&uid| MaildropMessage {
            uid,
            size: 1,
            uidl: format!("v1.{uid}"),
        }));
        Maildrop { messages }
    }

    fn auth(&self, user: &str, pass: &str) -> AuthResult {
        match (user, pass) {
            ("alice", "secret") => AuthResult::Ok(self.maildrop()),
            ("élise", "motdepasse") => AuthResult::Ok(Maildrop::default()),
            ("locked", "pw") => AuthResult::InUse,
            ("slow", "pw") => AuthResult::Throttled,
            ("broken", "pw") => AuthResult::TempFail,
            _ => AuthResult::Failed,
        }
    }

    /// Carries out every action the session has, in order.
    fn drain(&mut self, s: &mut Session, now: Instant) {
        while let Some(action) = s.poll(now) {
            match action {
                Action::Write(bytes) => self.output.extend_from_slice(&bytes),
                Action::StartTls => {
                    self.log.push("tls".into());
                    self.tls_started = true;
                    s.tls_established();
                }
                Action::Auth { username, password } => {
                    self.log.push(format!("auth {username}"));
                    let result = self.auth(&username, &password);
                    s.auth_result(result);
                }
                Action::Retrieve {
                    uid,
                    top_lines,
                    status,
                } => {
                    self.log.push(format!("retrieve {uid} {top_lines:?}"));
                    let body = self.bodies.iter().find(|(u, _)| *u == uid);
                    match body {
                        Some((_, body)) => {
                            self.output.extend_from_slice(&status);
                            let mut ds = DotStuffer::new(top_lines);
                            for chunk in body.chunks(3) {
                                ds.encode(chunk, &mut self.output);
                            }
                            ds.finish(&mut self.output);
                            s.retrieve_done(Retrieved::Sent);
                        }
                        None => s.retrieve_done(Retrieved::Missing),
                    }
                }
                Action::Update { delete } => {
                    self.log.push(format!("update {delete:?}"));
                    s.update_done(self.update_error.clone().map_or(Ok(()), Err));
                }
                Action::Close => {
                    self.log.push("close".into());
                    self.closed = true;
                }
            }
        }
    }
}

fn config() -> Config {
    Config {
        stls_available: true,
        ..Config::new("mail.example")
    }
}

/// Runs one connection. `segments` are the client's bytes before and
/// after each TLS start, each cut into chunks. Bytes of a segment after
/// the STLS that starts TLS never reach the session as commands.
fn run(fake: &mut Fake, cfg: &Config, tls: bool, segments: &[Vec<&[u8]>], now: Instant) -> Session {
    let mut s = Session::new(Arc::new(cfg.clone()), tls, now);
    fake.drain(&mut s, now);
    for segment in segments {
        fake.tls_started = false;
        for chunk in segment {
            let mut rest: &[u8] = chunk;
            while !rest.is_empty() && !fake.closed && !fake.tls_started {
                let n = s.feed(rest);
                rest = rest.get(n..).unwrap_or_default();
                fake.drain(&mut s, now);
                assert!(n > 0 || fake.closed || fake.tls_started, "input stuck");
            }
        }
    }
    s
}

struct Script {
    /// Client bytes per segment (split at "T:" lines).
    segments: Vec<Vec<u8>>,
    /// Client lines per segment, for the one-line-at-a-time run.
    lines: Vec<Vec<Vec<u8>>>,
    expected: String,
}

/// Reads "S: server line", "C: client line" (with "\0" standing for a
/// NUL octet) and "T:" (TLS starts here).
fn script(text: &str) -> Script {
    let mut s = Script {
        segments: vec![Vec::new()],
        lines: vec![Vec::new()],
        expected: String::new(),
    };
    for line in text.lines().map(str::trim_start).filter(|l| !l.is_empty()) {
        if let Some(server) = line.strip_prefix("S: ") {
            s.expected.push_str(server);
            s.expected.push_str("\r\n");
        } else if let Some(client) = line.strip_prefix("C: ") {
            let bytes = format!("{}\r\n", client.replace("\\0", "\0")).into_bytes();
            s.segments.last_mut().unwrap().extend_from_slice(&bytes);
            s.lines.last_mut().unwrap().push(bytes);
        } else if line == "T:" {
            s.segments.push(Vec::new());
            s.lines.push(Vec::new());
        } else {
            panic!("bad script line {line:?}");
        }
    }
    s
}

/// Plays a conversation fed whole (pipelined), a line at a time, split
/// at every byte position, and byte by byte. Every run must produce
/// the expected output and the same adapter log, which is returned.
fn converse_with(cfg: &Config, tls: bool, fake: impl Fn() -> Fake, text: &str) -> Vec<String> {
    let sc = script(text);
    let now = Instant::now();
    let mut runs: Vec<(String, Vec<Vec<&[u8]>>)> = Vec::new();
    runs.push((
        "whole".into(),
        sc.segments.iter().map(|seg| vec![seg.as_slice()]).collect(),
    ));
    runs.push((
        "line by line".into(),
        sc.lines
            .iter()
            .map(|seg| seg.iter().map(Vec::as_slice).collect())
            .collect(),
    ));
    runs.push((
        "byte by byte".into(),
        sc.segments
            .iter()
            .map(|seg| seg.chunks(1).collect())
            .collect(),
    ));
    for (k, seg) in sc.segments.iter().enumerate() {
        for i in 0..=seg.len() {
            let mut segments: Vec<Vec<&[u8]>> =
                sc.segments.iter().map(|s| vec![s.as_slice()]).collect();
            let (a, b) = seg.split_at(i);
            segments[k] = vec![a, b];
            runs.push((format!("segment {k} split at {i}"), segments));
        }
    }
    let mut first_log: Option<Vec<String>> = None;
    for (name, segments) in runs {
        let mut f = fake();
        run(&mut f, cfg, tls, &segments, now);
        assert_eq!(
            String::from_utf8_lossy(&f.output),
            sc.expected,
            "output of run {name}"
        );
        match &first_log {
            None => first_log = Some(f.log),
            Some(log) => assert_eq!(&f.log, log, "log of run {name}"),
        }
    }
    first_log.unwrap_or_default()
}

fn converse(cfg: &Config, tls: bool, text: &str) -> Vec<String> {
    converse_with(cfg, tls, Fake::new, text)
}

const CAPA_CLEAR: &str = "
    S: +OK capability list follows
    S: TOP
    S: UIDL
    S: RESP-CODES
    S: AUTH-RESP-CODE
    S: PIPELINING
    S: STLS
    S: UTF8
    S: IMPLEMENTATION facteur
    S: .";

const CAPA_TLS: &str = "
    S: +OK capability list follows
    S: TOP
    S: UIDL
    S: USER
    S: SASL PLAIN
    S: RESP-CODES
    S: AUTH-RESP-CODE
    S: PIPELINING
    S: UTF8
    S: IMPLEMENTATION facteur
    S: .";

#[test]
fn message_sizes_are_crlf_sizes() {
    assert_eq!(crlf_size(MSG1), 34);
    assert_eq!(crlf_size(MSG2), 56);
    assert_eq!(crlf_size(MSG3), 30);
}

#[test]
fn capa_changes_with_stls_and_stays_after_login() {
    let text = format!(
        "S: +OK mail.example POP3 ready
         C: CAPA
         {CAPA_CLEAR}
         C: USER alice
         S: -ERR [AUTH] plaintext login requires TLS, use STLS first
         C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
         S: -ERR [AUTH] plaintext login requires TLS, use STLS first
         C: AUTH
         S: +OK
         S: .
         C: STLS
         S: +OK begin TLS negotiation
         T:
         C: CAPA
         {CAPA_TLS}
         C: STLS
         S: -ERR already using TLS
         C: USER alice
         S: +OK send PASS
         C: PASS secret
         S: +OK maildrop has 3 messages (120 octets)
         C: CAPA
         {CAPA_TLS}
         C: STLS
         S: -ERR already logged in
         C: QUIT
         S: +OK mail.example POP3 server signing off (3 messages left)"
    );
    let log = converse(&config(), false, &text);
    assert_eq!(log, ["tls", "auth alice", "update []", "close"]);
}

#[test]
fn capa_without_stls_or_implementation() {
    let cfg = Config {
        stls_available: false,
        implementation: String::new(),
        ..config()
    };
    converse(
        &cfg,
        false,
        "S: +OK mail.example POP3 ready
         C: CAPA
         S: +OK capability list follows
         S: TOP
         S: UIDL
         S: RESP-CODES
         S: AUTH-RESP-CODE
         S: PIPELINING
         S: UTF8
         S: .
         C: STLS
         S: -ERR STLS not available
         C: USER alice
         S: -ERR [AUTH] plaintext login not allowed",
    );
}

#[test]
fn plaintext_allowed_by_config() {
    let cfg = Config {
        allow_plaintext_auth: true,
        ..config()
    };
    converse(
        &cfg,
        false,
        "S: +OK mail.example POP3 ready
         C: CAPA
         S: +OK capability list follows
         S: TOP
         S: UIDL
         S: USER
         S: SASL PLAIN
         S: RESP-CODES
         S: AUTH-RESP-CODE
         S: PIPELINING
         S: STLS
         S: UTF8
         S: IMPLEMENTATION facteur
         S: .
         C: USER alice
         S: +OK send PASS
         C: PASS secret
         S: +OK maildrop has 3 messages (120 octets)",
    );
}

#[test]
fn stls_forgets_user_given_in_clear() {
    let cfg = Config {
        allow_plaintext_auth: true,
        ..config()
    };
    let log = converse(
        &cfg,
        false,
        "S: +OK mail.example POP3 ready
         C: USER alice
         S: +OK send PASS
         C: STLS
         S: +OK begin TLS negotiation
         C: PASS secret
         T:
         C: PASS secret
         S: -ERR send USER first",
    );
    assert_eq!(log, ["tls"]);
}

#[test]
fn stls_discards_pipelined_input() {
    let now = Instant::now();
    let mut s = Session::new(Arc::new(config()), false, now);
    let mut f = Fake::new();
    f.drain(&mut s, now);
    let injected = b"STLS\r\nUSER alice\r\nPASS secret\r\n";
    assert_eq!(s.feed(injected), injected.len());
    assert_eq!(
        s.poll(now),
        Some(Action::Write(b"+OK begin TLS negotiation\r\n".to_vec()))
    );
    assert_eq!(s.poll(now), Some(Action::StartTls));
    // Bytes arriving before the handshake completes are dropped too.
    assert_eq!(s.feed(b"CAPA\r\n"), 6);
    assert_eq!(s.poll(now), None);
    s.tls_established();
    assert_eq!(s.poll(now), None, "injected commands must not run");
    assert_eq!(s.feed(b"PASS secret\r\n"), 13);
    assert_eq!(
        s.poll(now),
        Some(Action::Write(b"-ERR send USER first\r\n".to_vec()))
    );
}

#[test]
fn login_failures_do_not_reveal_users() {
    let log = converse(
        &config(),
        true,
        "S: +OK mail.example POP3 ready
         C: USER nobody
         S: +OK send PASS
         C: PASS secret
         S: -ERR [AUTH] invalid user name or password
         C: USER alice
         S: +OK send PASS
         C: PASS wrong
         S: -ERR [AUTH] invalid user name or password
         C: PASS secret
         S: -ERR send USER first
         C: USER locked
         S: +OK send PASS
         C: PASS pw
         S: -ERR [IN-USE] maildrop already locked
         C: USER slow
         S: +OK send PASS
         C: PASS pw
         S: -ERR [SYS/TEMP] too many failures, try later
         C: USER broken
         S: +OK send PASS
         C: PASS pw
         S: -ERR [SYS/TEMP] temporary failure, try later
         C: STAT
         S: -ERR not logged in
         C: APOP alice 0123456789abcdef0123456789abcdef
         S: -ERR APOP not supported
         C: USER alice
         S: +OK send PASS
         C: NOOP
         S: -ERR not logged in
         C: PASS secret
         S: -ERR send USER first
         C: USER alice
         S: +OK send PASS
         C: PASS secret
         S: +OK maildrop has 3 messages (120 octets)",
    );
    assert_eq!(
        log,
        [
            "auth nobody",
            "auth alice",
            "auth locked",
            "auth slow",
            "auth broken",
            "auth alice"
        ]
    );
}

#[test]
fn password_may_contain_spaces() {
    let fake = || Fake::new();
    let log = converse_with(
        &config(),
        true,
        fake,
        "S: +OK mail.example POP3 ready
         C: USER alice
         S: +OK send PASS
         C: PASS sec ret
         S: -ERR [AUTH] invalid user name or password",
    );
    assert_eq!(log, ["auth alice"]);
}

#[test]
fn auth_plain_forms() {
    let log = converse(
        &config(),
        true,
        "S: +OK mail.example POP3 ready
         C: AUTH
         S: +OK
         S: PLAIN
         S: .
         C: AUTH CRAM-MD5
         S: -ERR unsupported authentication mechanism
         C: AUTH PLAIN
         S: + 
         C: *
         S: -ERR authentication cancelled
         C: AUTH PLAIN
         S: + 
         C: not base64!
         S: -ERR invalid SASL PLAIN response
         C: AUTH PLAIN =
         S: -ERR invalid SASL PLAIN response
         C: AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==
         S: -ERR invalid SASL PLAIN response
         C: AUTH PLAIN AGFsaWNlAHdyb25n
         S: -ERR [AUTH] invalid user name or password
         C: AUTH PLAIN
         S: + 
         C: AGFsaWNlAHdyb25n
         S: -ERR [AUTH] invalid user name or password
         C: auth plain
         S: + 
         C: AGFsaWNlAHNlY3JldA==
         S: +OK maildrop has 3 messages (120 octets)
         C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
         S: -ERR already logged in",
    );
    assert_eq!(log, ["auth alice", "auth alice", "auth alice"]);
}

#[test]
fn auth_plain_with_authzid_and_utf8() {
    let log = converse(
        &config(),
        true,
        "S: +OK mail.example POP3 ready
         C: UTF8
         S: +OK UTF8 enabled
         C: AUTH PLAIN YWxpY2UAYWxpY2UAc2VjcmV0
         S: +OK maildrop has 3 messages (120 octets)
         C: UTF8
         S: -ERR already logged in",
    );
    assert_eq!(log, ["auth alice"]);
    let log = converse(
        &config(),
        true,
        "S: +OK mail.example POP3 ready
         C: AUTH PLAIN AMOpbGlzZQBtb3RkZXBhc3Nl
         S: +OK maildrop has 0 messages (0 octets)
         C: STAT
         S: +OK 0 0
         C: LIST
         S: +OK 0 messages (0 octets)
         S: .",
    );
    assert_eq!(log, ["auth élise"]);
}

#[test]
fn utf8_is_reported_and_reset_by_tls() {
    let now = Instant::now();
    let mut s = Session::new(Arc::new(config()), false, now);
    let mut f = Fake::new();
    assert!(!s.utf8_enabled());
    assert_eq!(s.feed(b"UTF8\r\n"), 6);
    f.drain(&mut s, now);
    assert!(s.utf8_enabled());
    assert_eq!(s.feed(b"STLS\r\n"), 6);
    f.drain(&mut s, now);
    assert!(!s.utf8_enabled());
}

const LOGIN: &str = "
    S: +OK mail.example POP3 ready
    C: USER alice
    S: +OK send PASS
    C: PASS secret
    S: +OK maildrop has 3 messages (120 octets)";

#[test]
fn transaction_commands() {
    let text = format!(
        "{LOGIN}
         C: STAT
         S: +OK 3 120
         C: LIST
         S: +OK 3 messages (120 octets)
         S: 1 34
         S: 2 56
         S: 3 30
         S: .
         C: LIST 2
         S: +OK 2 56
         C: UIDL
         S: +OK unique-id listing follows
         S: 1 v1.10
         S: 2 v1.20
         S: 3 v1.30
         S: .
         C: UIDL 3
         S: +OK 3 v1.30
         C: NOOP
         S: +OK
         C: LIST 4
         S: -ERR no such message
         C: LIST 0
         S: -ERR no such message
         C: UIDL 4294967295
         S: -ERR no such message
         C: RETR 9
         S: -ERR no such message
         C: TOP 0 1
         S: -ERR no such message
         C: DELE 4
         S: -ERR no such message
         C: list 1
         S: +OK 1 34
         C: QUIT
         S: +OK mail.example POP3 server signing off (3 messages left)"
    );
    let log = converse(&config(), true, &text);
    assert_eq!(log, ["auth alice", "update []", "close"]);
}

#[test]
fn retr_streams_dot_stuffed_crlf_bodies() {
    let text = format!(
        "{LOGIN}
         C: RETR 1
         S: +OK 34 octets
         S: Subject: one
         S: 
         S: Hello
         S: ..dot line
         S: .
         C: RETR 2
         S: +OK 56 octets
         S: Subject: two
         S: 
         S: bare lf
         S: ...two dots
         S: no newline at end
         S: .
         C: RETR 3
         S: +OK 30 octets
         S: Subject: three
         S: 
         S: cr only
         S: ..
         S: .
         C: NOOP
         S: +OK"
    );
    let log = converse(&config(), true, &text);
    assert_eq!(
        log,
        [
            "auth alice",
            "retrieve 10 None",
            "retrieve 20 None",
            "retrieve 30 None"
        ]
    );
}

#[test]
fn top_sends_header_and_some_lines() {
    let text = format!(
        "{LOGIN}
         C: TOP 1 0
         S: +OK top of message follows
         S: Subject: one
         S: 
         S: .
         C: TOP 2 2
         S: +OK top of message follows
         S: Subject: two
         S: 
         S: bare lf
         S: ...two dots
         S: .
         C: TOP 3 100
         S: +OK top of message follows
         S: Subject: three
         S: 
         S: cr only
         S: ..
         S: .
         C: TOP 1
         S: -ERR usage: TOP msg lines
         C: TOP 1 -1
         S: -ERR invalid number"
    );
    let log = converse(&config(), true, &text);
    assert_eq!(
        log,
        [
            "auth alice",
            "retrieve 10 Some(0)",
            "retrieve 20 Some(2)",
            "retrieve 30 Some(100)"
        ]
    );
}

#[test]
fn dele_rset_and_quit_update() {
    let text = format!(
        "{LOGIN}
         C: DELE 2
         S: +OK message 2 deleted
         C: DELE 2
         S: -ERR message 2 already deleted
         C: RETR 2
         S: -ERR message 2 already deleted
         C: TOP 2 0
         S: -ERR message 2 already deleted
         C: LIST 2
         S: -ERR message 2 already deleted
         C: UIDL 2
         S: -ERR message 2 already deleted
         C: STAT
         S: +OK 2 64
         C: LIST
         S: +OK 2 messages (64 octets)
         S: 1 34
         S: 3 30
         S: .
         C: UIDL
         S: +OK unique-id listing follows
         S: 1 v1.10
         S: 3 v1.30
         S: .
         C: RSET
         S: +OK maildrop has 3 messages (120 octets)
         C: STAT
         S: +OK 3 120
         C: DELE 1
         S: +OK message 1 deleted
         C: DELE 3
         S: +OK message 3 deleted
         C: QUIT
         S: +OK mail.example POP3 server signing off (1 messages left)
         C: STAT"
    );
    let log = converse(&config(), true, &text);
    assert_eq!(log, ["auth alice", "update [10, 30]", "close"]);
}

#[test]
fn update_failure_is_reported() {
    let fake = || Fake {
        update_error: Some("disk\r\nfull".into()),
        ..Fake::new()
    };
    let text = format!(
        "{LOGIN}
         C: DELE 1
         S: +OK message 1 deleted
         C: QUIT
         S: -ERR [SYS/TEMP] diskfull"
    );
    let log = converse_with(&config(), true, fake, &text);
    assert_eq!(log, ["auth alice", "update [10]", "close"]);
    let fake = || Fake {
        update_error: Some(String::new()),
        ..Fake::new()
    };
    let text = format!(
        "{LOGIN}
         C: QUIT
         S: -ERR [SYS/TEMP] some deleted messages not removed"
    );
    converse_with(&config(), true, fake, &text);
}

#[test]
fn quit_before_login_deletes_nothing() {
    let log = converse(
        &config(),
        false,
        "S: +OK mail.example POP3 ready
         C: QUIT
         S: +OK mail.example POP3 server signing off
         C: CAPA",
    );
    assert_eq!(log, ["close"]);
}

#[test]
fn dropped_connection_deletes_nothing() {
    let text = format!(
        "{LOGIN}
         C: DELE 1
         S: +OK message 1 deleted
         C: DELE 2
         S: +OK message 2 deleted"
    );
    let log = converse(&config(), true, &text);
    assert_eq!(log, ["auth alice"]);
    // Even a half-sent QUIT is not a QUIT.
    let now = Instant::now();
    let mut f = Fake::new();
    let input: &[u8] = b"USER alice\r\nPASS secret\r\nDELE 1\r\nQUIT";
    let mut s = run(&mut f, &config(), true, &[vec![input]], now);
    assert_eq!(s.poll(now), None);
    assert_eq!(f.log, ["auth alice"]);
}

#[test]
/// Hardening item 8: a message gone before it could be opened (expunged
/// over IMAP) gets -ERR instead of "+OK" and a dropped connection; the
/// session goes on and its DELE marks are applied at QUIT.
fn missing_body_is_an_error_and_the_session_goes_on() {
    let fake = || Fake {
        missing: vec![40],
        ..Fake::new()
    };
    let text = "S: +OK mail.example POP3 ready
         C: USER alice
         S: +OK send PASS
         C: PASS secret
         S: +OK maildrop has 4 messages (121 octets)
         C: DELE 1
         S: +OK message 1 deleted
         C: RETR 4
         S: -ERR message 4 no longer exists
         C: TOP 4 0
         S: -ERR message 4 no longer exists
         C: QUIT
         S: +OK mail.example POP3 server signing off (3 messages left)";
    let log = converse_with(&config(), true, fake, text);
    assert_eq!(
        log,
        [
            "auth alice",
            "retrieve 40 None",
            "retrieve 40 Some(0)",
            "update [10]",
            "close"
        ]
    );
}

#[test]
fn wrong_arguments_are_errors() {
    let text = format!(
        "{LOGIN}
         C: RETR
         S: -ERR one message number expected
         C: RETR 1 2
         S: -ERR one message number expected
         C: RETR +1
         S: -ERR invalid number
         C: DELE  1
         S: -ERR arguments are separated by one space
         C: STAT 1
         S: -ERR no argument expected
         C: LIST 99999999999
         S: -ERR number too large
         C: XTND XMIT
         S: -ERR unknown command
         C: USER bob
         S: -ERR already logged in
         C: STAT
         S: +OK 3 120"
    );
    converse(&config(), true, &text);
}

#[test]
fn too_many_errors_closes() {
    let cfg = Config {
        max_bad_commands: 3,
        ..config()
    };
    let log = converse(
        &cfg,
        false,
        "S: +OK mail.example POP3 ready
         C: FOO
         S: -ERR unknown command
         C: CAPA 1
         S: -ERR no argument expected
         C: BAR
         S: -ERR too many errors, closing connection
         C: CAPA",
    );
    assert_eq!(log, ["close"]);
    // Failed logins count, and the last reply keeps its code.
    let log = converse(
        &cfg,
        true,
        "S: +OK mail.example POP3 ready
         C: USER alice
         S: +OK send PASS
         C: PASS a
         S: -ERR [AUTH] invalid user name or password
         C: USER alice
         S: +OK send PASS
         C: PASS b
         S: -ERR [AUTH] invalid user name or password
         C: USER alice
         S: +OK send PASS
         C: PASS c
         S: -ERR [AUTH] too many errors, closing connection
         C: USER alice
         C: PASS secret",
    );
    assert_eq!(log, ["auth alice", "auth alice", "auth alice", "close"]);
}

#[test]
fn long_lines_are_refused_and_skipped() {
    let ok_name = "a".repeat(MAX_COMMAND_LINE - 2 - "USER ".len());
    let long_name = format!("{ok_name}b");
    let very_long = "x".repeat(3 * INPUT_BUFFER);
    let text = format!(
        "S: +OK mail.example POP3 ready
         C: USER {long_name}
         S: -ERR line too long
         C: USER {very_long}
         S: -ERR line too long
         C: USER {ok_name}
         S: +OK send PASS
         C: PASS secret
         S: -ERR [AUTH] invalid user name or password
         C: NOOP {very_long}
         S: -ERR line too long
         C: STAT
         S: -ERR not logged in"
    );
    let log = converse(&config(), true, &text);
    assert_eq!(log, [format!("auth {ok_name}")]);
}

#[test]
fn absurd_line_limit_does_not_loop() {
    let cfg = Config {
        max_line: 0,
        ..config()
    };
    let log = converse(
        &cfg,
        true,
        "S: +OK mail.example POP3 ready
         C: NOOP
         S: -ERR line too long",
    );
    assert!(log.is_empty());
}

#[test]
fn sasl_responses_may_exceed_the_command_limit() {
    // A 300-octet password: too long for a command line, fine as a
    // SASL response (RFC 5034 §4).
    let password = "p".repeat(300);
    let mut raw = b"\0alice\0".to_vec();
    raw.extend_from_slice(password.as_bytes());
    let b64 = encode_base64(&raw);
    let text = format!(
        "S: +OK mail.example POP3 ready
         C: AUTH PLAIN {b64}
         S: -ERR line too long
         C: AUTH PLAIN
         S: + 
         C: {b64}
         S: -ERR [AUTH] invalid user name or password"
    );
    let log = converse(&config(), true, &text);
    assert_eq!(log, ["auth alice"]);
}

#[test]
fn nul_octets_are_refused() {
    let text = format!(
        "{LOGIN}
         C: STAT\\0
         S: -ERR NUL octet in command
         C: NOOP
         S: +OK"
    );
    converse(&config(), true, &text);
    converse(
        &config(),
        true,
        "S: +OK mail.example POP3 ready
         C: AUTH PLAIN
         S: + 
         C: AGFsaWNl\\0AHNlY3JldA==
         S: -ERR NUL octet in command
         C: CAPA
         S: +OK capability list follows
         S: TOP
         S: UIDL
         S: USER
         S: SASL PLAIN
         S: RESP-CODES
         S: AUTH-RESP-CODE
         S: PIPELINING
         S: UTF8
         S: IMPLEMENTATION facteur
         S: .",
    );
}

#[test]
fn bare_lf_ends_commands_too() {
    let now = Instant::now();
    let mut f = Fake::new();
    let input: &[u8] = b"CAPA 1\nNOOP\r\n";
    run(&mut f, &config(), true, &[vec![input]], now);
    assert_eq!(
        String::from_utf8_lossy(&f.output),
        "+OK mail.example POP3 ready\r\n-ERR no argument expected\r\n-ERR not logged in\r\n"
    );
}

#[test]
fn pipelined_input_is_held_while_an_action_is_pending() {
    let now = Instant::now();
    let mut s = Session::new(Arc::new(config()), true, now);
    let mut input = b"USER alice\r\nPASS secret\r\n".to_vec();
    for _ in 0..2000 {
        input.extend_from_slice(b"NOOP\r\n");
    }
    input.extend_from_slice(b"QUIT\r\n");
    assert!(matches!(s.poll(now), Some(Action::Write(_))));
    let mut taken = s.feed(&input);
    assert!(taken < input.len(), "the input buffer is bounded");
    assert!(matches!(s.poll(now), Some(Action::Write(_))));
    assert!(matches!(s.poll(now), Some(Action::Auth { .. })));
    assert_eq!(s.poll(now), None);
    // USER and PASS left the buffer; the NOOPs wait behind the login.
    taken += s.feed(&input[taken..]);
    assert_eq!(s.feed(&input[taken..]), 0, "nothing taken while blocked");
    assert_eq!(s.poll(now), None);
    // The fake adapter takes over, feeding the rest as room appears.
    let mut f = Fake::new();
    s.auth_result(f.auth("alice", "secret"));
    let mut rest = &input[taken..];
    f.drain(&mut s, now);
    while !rest.is_empty() {
        let n = s.feed(rest);
        assert!(n > 0);
        rest = &rest[n..];
        f.drain(&mut s, now);
    }
    let out = String::from_utf8_lossy(&f.output).into_owned();
    assert!(out.starts_with("+OK maildrop has 3 messages (120 octets)\r\n+OK\r\n"));
    assert_eq!(out.matches("+OK\r\n").count(), 2000);
    assert!(out.ends_with("+OK mail.example POP3 server signing off (3 messages left)\r\n"));
    assert_eq!(f.log, ["update []", "close"]);
}

#[test]
fn timeout_closes_without_update() {
    let t0 = Instant::now();
    let cfg = config();
    let mut f = Fake::new();
    let input: &[u8] = b"USER alice\r\nPASS secret\r\nDELE 1\r\n";
    let mut s = run(&mut f, &cfg, true, &[vec![input]], t0);
    assert_eq!(s.deadline(), t0 + Duration::from_secs(600));
    f.output.clear();
    // Activity moves the deadline.
    let t1 = t0 + Duration::from_secs(300);
    assert_eq!(s.feed(b"NOOP\r\n"), 6);
    f.drain(&mut s, t1);
    assert_eq!(s.deadline(), t1 + Duration::from_secs(600));
    // Too early: nothing happens.
    s.timed_out(t0 + Duration::from_secs(700));
    f.drain(&mut s, t1);
    assert_eq!(f.output, b"+OK\r\n");
    s.timed_out(t1 + Duration::from_secs(600));
    f.drain(&mut s, t1);
    assert_eq!(
        String::from_utf8_lossy(&f.output),
        "+OK\r\n-ERR autologout timer expired, closing connection\r\n"
    );
    assert_eq!(f.log, ["auth alice", "close"]);
    // After close nothing is read.
    assert_eq!(s.feed(b"QUIT\r\n"), 6);
    f.drain(&mut s, t1);
    assert_eq!(f.log, ["auth alice", "close"]);
}

#[test]
fn timeout_waits_while_the_adapter_works() {
    let t0 = Instant::now();
    let mut s = Session::new(Arc::new(config()), true, t0);
    assert_eq!(s.feed(b"USER alice\r\nPASS secret\r\n"), 25);
    while let Some(a) = s.poll(t0) {
        if matches!(a, Action::Auth { .. }) {
            break;
        }
    }
    let late = t0 + Duration::from_secs(3600);
    s.timed_out(late);
    assert_eq!(s.poll(late), None, "no reply while the adapter is busy");
    s.auth_result(AuthResult::Failed);
    assert!(matches!(s.poll(late), Some(Action::Write(_))));
    // The answer restarted the timer.
    assert_eq!(s.deadline(), late + Duration::from_secs(600));
}

#[test]
fn answers_at_the_wrong_time_are_ignored() {
    let now = Instant::now();
    let mut s = Session::new(Arc::new(config()), false, now);
    assert!(matches!(s.poll(now), Some(Action::Write(_))));
    s.auth_result(AuthResult::Ok(Maildrop::default()));
    s.tls_established();
    s.retrieve_done(Retrieved::Failed);
    s.update_done(Ok(()));
    assert_eq!(s.poll(now), None);
    assert_eq!(s.feed(b"STAT\r\nCAPA\r\n"), 12);
    let Some(Action::Write(out)) = s.poll(now) else {
        panic!("expected replies");
    };
    let out = String::from_utf8_lossy(&out).into_owned();
    assert!(out.starts_with("-ERR not logged in\r\n"), "{out}");
    assert!(out.contains("STLS\r\n"), "TLS state unchanged: {out}");
}

#[test]
fn debug_hides_passwords() {
    let a = Action::Auth {
        username: "alice".into(),
        password: "secret".into(),
    };
    let shown = format!("{a:?}");
    assert!(
        shown.contains("alice") && !shown.contains("secret"),
        "{shown}"
    );
}

fn encode_base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from_be_bytes([0, b[0], b[1], b[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
