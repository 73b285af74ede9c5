//! The POP3 session state machine (RFC 1939 §3-§6).
//!
//! States are AUTHORIZATION, TRANSACTION and UPDATE. Input is framed into
//! lines here, each line is parsed and executed in order (RFC 2449 §6.6:
//! pipelined commands are answered in order), and whenever the adapter must
//! act (authenticate, start TLS, stream a body, apply deletions) processing
//! stops until it answers.

use std::mem;
use std::sync::Arc;
use std::time::Instant;

use super::command::{self, AuthArgs, Command, ParseError};
use super::{Action, AuthResult, Config, Maildrop, MaildropMessage, MIN_IDLE_TIMEOUT};
use crate::proto::sasl;

/// Longest SASL response line. The 255-octet limit of RFC 2449 §4 is for
/// commands, and RFC 5034 §4 has clients send a response too long for the
/// AUTH line as a continuation instead. PLAIN with three 255-octet fields
/// is 1024 octets of base64, so this is ample.
const MAX_SASL_LINE: usize = 2048;

/// Input kept while pipelined commands wait for their turn; this is the
/// per-connection input memory (4 KiB). When full, `feed` accepts nothing
/// and the adapter stops reading, which pushes back on the client.
const INPUT_BUFFER: usize = 4096;

/// Longest text from the adapter or the configuration put in a reply.
const MAX_REPLY_TEXT: usize = 200;

/// RFC 1939 §3 session states, plus the end.
enum State {
    /// Not logged in. `user` holds the name from a USER command that was
    /// just accepted: RFC 1939 §7 wants PASS immediately after it.
    Authorization { user: Option<String> },
    /// Logged in with the maildrop snapshot and the deletion marks.
    Transaction {
        messages: Vec<MaildropMessage>,
        deleted: Vec<bool>,
    },
    /// QUIT received in TRANSACTION; deletions are being applied.
    Update { remaining: usize },
    /// The connection is to be closed; nothing more is read.
    Closed,
}

/// What the session is waiting for before reading the next command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Nothing: the next line is a command.
    Command,
    /// The next line is a SASL PLAIN response (RFC 5034 §4).
    SaslResponse,
    /// [`Session::auth_result`].
    Auth,
    /// [`Session::tls_established`].
    Tls,
    /// [`Session::retrieve_done`].
    Retrieve,
    /// [`Session::update_done`].
    Update,
}

/// A line taken from the input.
enum Line {
    Complete(Vec<u8>),
    TooLong,
}

/// One POP3 connection, from greeting to close.
///
/// The adapter feeds received bytes with [`Session::feed`] and then calls
/// [`Session::poll`] until it returns `None`, carrying out each
/// [`Action`] in order. Actions other than `Write` and `Close` expect an
/// answer through the matching method; until then no further command is
/// processed, and the input buffer fills up and stops accepting bytes.
pub struct Session {
    cfg: Arc<Config>,
    tls: bool,
    utf8: bool,
    state: State,
    wait: Wait,
    /// Received bytes not yet processed (at most [`INPUT_BUFFER`], or one
    /// command line if the configuration allows longer).
    input: Vec<u8>,
    /// The rest of an over-long line is being discarded.
    skipping: bool,
    /// Replies not yet handed to the adapter.
    out: Vec<u8>,
    /// The action to hand out once `out` is drained.
    action: Option<Action>,
    /// Errors so far, for `max_bad_commands`.
    errors: u32,
    last_activity: Instant,
    /// The adapter answered; restart the idle timer at the next `poll`.
    touch: bool,
}

impl Session {
    /// A new session for a connection accepted at `now`; `tls_active` is
    /// true on an implicit-TLS port (995). Queues the greeting. APOP is
    /// not offered, so the greeting has no timestamp (RFC 1939 §4, §7).
    pub fn new(cfg: Arc<Config>, tls_active: bool, now: Instant) -> Session {
        let mut s = Session {
            cfg,
            tls: tls_active,
            utf8: false,
            state: State::Authorization { user: None },
            wait: Wait::Command,
            input: Vec::new(),
            skipping: false,
            out: Vec::new(),
            action: None,
            errors: 0,
            last_activity: now,
            touch: false,
        };
        let greeting = format!("+OK {} POP3 ready", clean(&s.cfg.hostname));
        s.reply(&greeting);
        s
    }

    /// Hands received bytes to the session and returns how many it took.
    /// Bytes not taken must be fed again after the pending actions are
    /// carried out and `poll` has returned `None`. After STLS until
    /// [`Session::tls_established`], and after QUIT or close, input is
    /// discarded (all of it is reported as taken).
    #[must_use = "bytes not taken must be fed again later"]
    pub fn feed(&mut self, input: &[u8]) -> usize {
        if self.discards_input() {
            return input.len();
        }
        let capacity = INPUT_BUFFER.max(self.cfg.max_line.saturating_add(1));
        let n = capacity.saturating_sub(self.input.len()).min(input.len());
        self.input
            .extend_from_slice(input.get(..n).unwrap_or_default());
        n
    }

    /// Processes buffered input and returns the next thing to do, or
    /// `None` when the session needs more input or an answer.
    pub fn poll(&mut self, now: Instant) -> Option<Action> {
        if mem::take(&mut self.touch) {
            self.last_activity = now;
        }
        while self.action.is_none() && self.reads_lines() {
            let Some(line) = self.next_line() else {
                break;
            };
            // RFC 1939 §3: receiving any command resets the autologout timer.
            self.last_activity = now;
            self.handle_line(line);
        }
        if !self.out.is_empty() {
            return Some(Action::Write(mem::take(&mut self.out)));
        }
        self.action.take()
    }

    /// The answer to [`Action::Auth`]. Ignored at any other time.
    pub fn auth_result(&mut self, result: AuthResult) {
        if self.wait != Wait::Auth {
            return;
        }
        self.wait = Wait::Command;
        self.touch = true;
        match result {
            AuthResult::Ok(Maildrop { messages }) => {
                let reply = format!(
                    "+OK maildrop has {} messages ({} octets)",
                    messages.len(),
                    total_size(&messages, &[])
                );
                let deleted = vec![false; messages.len()];
                self.state = State::Transaction { messages, deleted };
                self.reply(&reply);
            }
            // RFC 3206 §4 and AUTH-RESP-CODE: credential problems carry
            // [AUTH]; the text is the same for unknown users and wrong
            // passwords so that names cannot be probed.
            AuthResult::Failed => self.error("-ERR [AUTH] invalid user name or password"),
            // RFC 2449 §8.1.2.
            AuthResult::InUse => self.reply("-ERR [IN-USE] maildrop already locked"),
            // RFC 3206 §3.
            AuthResult::Throttled => self.reply("-ERR [SYS/TEMP] too many failures, try later"),
            AuthResult::TempFail => self.reply("-ERR [SYS/TEMP] temporary failure, try later"),
        }
    }

    /// The TLS handshake requested by [`Action::StartTls`] succeeded.
    ///
    /// RFC 2595 §4: everything learnt before TLS is forgotten (a USER
    /// name, UTF8), input received in clear is dropped, and CAPA now omits
    /// STLS and may offer USER and SASL PLAIN. No new greeting is sent.
    pub fn tls_established(&mut self) {
        if self.wait != Wait::Tls {
            return;
        }
        self.wait = Wait::Command;
        self.tls = true;
        self.utf8 = false;
        self.state = State::Authorization { user: None };
        self.input.clear();
        self.skipping = false;
        self.touch = true;
    }

    /// The body requested by [`Action::Retrieve`] has been written with its
    /// terminator (`ok`), or could not be read. The "+OK" was already sent,
    /// so a failure cannot be reported in the protocol: the session closes,
    /// without deletions.
    pub fn retrieve_done(&mut self, ok: bool) {
        if self.wait != Wait::Retrieve {
            return;
        }
        self.wait = Wait::Command;
        self.touch = true;
        if !ok {
            self.close();
        }
    }

    /// The result of applying [`Action::Update`]. An error text is shown to
    /// the client after `-ERR [SYS/TEMP]`, so it should be short and say
    /// nothing internal. The session then closes (RFC 1939 §6).
    pub fn update_done(&mut self, result: Result<(), String>) {
        let State::Update { remaining } = self.state else {
            return;
        };
        if self.wait != Wait::Update {
            return;
        }
        self.wait = Wait::Command;
        match result {
            Ok(()) => {
                let reply = format!(
                    "+OK {} POP3 server signing off ({remaining} messages left)",
                    clean(&self.cfg.hostname)
                );
                self.reply(&reply);
            }
            Err(text) => {
                let text = clean(&text);
                let text = if text.is_empty() {
                    "some deleted messages not removed"
                } else {
                    &text
                };
                self.reply(&format!("-ERR [SYS/TEMP] {text}"));
            }
        }
        self.close();
    }

    /// When the autologout timer expires if no command arrives.
    pub fn deadline(&self) -> Instant {
        self.last_activity
            .checked_add(self.cfg.idle_timeout)
            .or_else(|| self.last_activity.checked_add(MIN_IDLE_TIMEOUT))
            .unwrap_or(self.last_activity)
    }

    /// The adapter's timer fired. If `now` is past [`Session::deadline`]
    /// and the session is waiting for the client (not for the adapter),
    /// it replies "-ERR" and closes. RFC 1939 §3: an autologout does not
    /// enter UPDATE, so nothing is deleted.
    pub fn timed_out(&mut self, now: Instant) {
        let client_turn = matches!(self.wait, Wait::Command | Wait::SaslResponse);
        if now < self.deadline() || !client_turn || matches!(self.state, State::Closed) {
            return;
        }
        self.reply("-ERR autologout timer expired, closing connection");
        self.close();
    }

    /// Whether the client sent UTF8 (RFC 6856 §2) before logging in, so it
    /// accepts UTF-8 in message headers.
    pub fn utf8_enabled(&self) -> bool {
        self.utf8
    }

    fn discards_input(&self) -> bool {
        self.wait == Wait::Tls || matches!(self.state, State::Update { .. } | State::Closed)
    }

    fn reads_lines(&self) -> bool {
        matches!(self.wait, Wait::Command | Wait::SaslResponse)
            && matches!(
                self.state,
                State::Authorization { .. } | State::Transaction { .. }
            )
    }

    /// The longest line accepted now, CRLF included.
    fn line_limit(&self) -> usize {
        if self.wait == Wait::SaslResponse {
            MAX_SASL_LINE.max(self.cfg.max_line)
        } else {
            self.cfg.max_line
        }
    }

    /// Takes the next line from the input. A line ends with LF, with an
    /// optional CR before it. A line longer than the limit is reported
    /// once, as soon as it is known to be too long, and the rest of it is
    /// discarded as it arrives (RFC 2449 §4).
    fn next_line(&mut self) -> Option<Line> {
        let limit = self.line_limit();
        loop {
            match self.input.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let mut line: Vec<u8> = self.input.drain(..=end).collect();
                    if mem::take(&mut self.skipping) {
                        continue;
                    }
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.len().saturating_add(2) > limit {
                        return Some(Line::TooLong);
                    }
                    return Some(Line::Complete(line));
                }
                None if self.skipping => {
                    self.input.clear();
                    return None;
                }
                // Even a trailing CR leaves the line over the limit.
                None if !self.input.is_empty() && self.input.len() >= limit => {
                    self.input.clear();
                    self.skipping = true;
                    return Some(Line::TooLong);
                }
                None => return None,
            }
        }
    }

    fn handle_line(&mut self, line: Line) {
        let sasl = self.wait == Wait::SaslResponse;
        self.wait = Wait::Command;
        let bytes = match line {
            Line::TooLong => return self.error("-ERR line too long"),
            Line::Complete(bytes) => bytes,
        };
        if bytes.contains(&0) {
            return self.error("-ERR NUL octet in command");
        }
        if sasl {
            return self.sasl_response(&bytes);
        }
        match command::parse(&bytes) {
            Ok(cmd) => self.command(cmd),
            Err(ParseError::Unknown) => self.error("-ERR unknown command"),
            Err(ParseError::Syntax(why)) => self.error(&format!("-ERR {why}")),
        }
    }

    fn command(&mut self, cmd: Command) {
        // RFC 1939 §7: PASS is only valid right after a successful USER.
        let user = match &mut self.state {
            State::Authorization { user } => user.take(),
            _ => None,
        };
        match cmd {
            // RFC 2449 §5: CAPA is valid in both states.
            Command::Capa => self.capa(),
            Command::Quit => self.quit(),
            cmd if matches!(self.state, State::Authorization { .. }) => {
                self.authorization(cmd, user)
            }
            cmd => self.transaction(cmd),
        }
    }

    fn authorization(&mut self, cmd: Command, user: Option<String>) {
        match cmd {
            Command::User(name) => {
                if let Some(refusal) = self.plaintext_refusal() {
                    return self.reply(refusal);
                }
                self.state = State::Authorization { user: Some(name) };
                self.reply("+OK send PASS");
            }
            Command::Pass(password) => match user {
                Some(username) => self.request_auth(username, password),
                None => self.error("-ERR send USER first"),
            },
            Command::Apop => self.error("-ERR APOP not supported"),
            // RFC 5034 §4 leaves AUTH without a mechanism undefined; like
            // most servers, list the mechanisms as a multi-line reply.
            Command::Auth(None) => {
                if self.auth_allowed() {
                    self.reply("+OK\r\nPLAIN\r\n.");
                } else {
                    self.reply("+OK\r\n.");
                }
            }
            Command::Auth(Some(AuthArgs { mechanism, initial })) => {
                if mechanism != "PLAIN" {
                    return self.error("-ERR unsupported authentication mechanism");
                }
                if let Some(refusal) = self.plaintext_refusal() {
                    return self.reply(refusal);
                }
                match initial {
                    Some(response) => self.sasl_response(response.as_bytes()),
                    // RFC 5034 §4: an empty challenge is "+ ".
                    None => {
                        self.reply("+ ");
                        self.wait = Wait::SaslResponse;
                    }
                }
            }
            // RFC 2595 §4: STLS only in AUTHORIZATION and only once.
            Command::Stls if self.tls => self.error("-ERR already using TLS"),
            Command::Stls if !self.cfg.stls_available => self.error("-ERR STLS not available"),
            Command::Stls => {
                self.reply("+OK begin TLS negotiation");
                // Anything pipelined after STLS was sent in clear and could
                // have been injected: it must not run after the handshake.
                self.input.clear();
                self.skipping = false;
                self.wait = Wait::Tls;
                self.action = Some(Action::StartTls);
            }
            // RFC 6856 §2: valid in AUTHORIZATION only. User names and
            // passwords are taken as UTF-8 whether or not it was sent.
            Command::Utf8 => {
                self.utf8 = true;
                self.reply("+OK UTF8 enabled");
            }
            Command::Stat
            | Command::List(_)
            | Command::Uidl(_)
            | Command::Retr(_)
            | Command::Top(..)
            | Command::Dele(_)
            | Command::Noop
            | Command::Rset => self.error("-ERR not logged in"),
            Command::Capa | Command::Quit => {}
        }
    }

    /// A SASL PLAIN response line (RFC 5034 §4), or its initial response.
    fn sasl_response(&mut self, response: &[u8]) {
        // RFC 5034 §4: "*" cancels, and the server must answer -ERR.
        if response == b"*" {
            return self.reply("-ERR authentication cancelled");
        }
        // "=" is an empty response, which PLAIN cannot use.
        // The shared PLAIN decoder (RFC 4616 §2). Acting as another user
        // (an authzid other than the authcid) is not offered.
        match sasl::Exchange::start(sasl::Mechanism::Plain, Some(response)).1 {
            sasl::Step::Done(c) if c.authzid.is_empty() || c.authzid == c.username => {
                self.request_auth(c.username, c.password)
            }
            _ => self.error("-ERR invalid SASL PLAIN response"),
        }
    }

    fn request_auth(&mut self, username: String, password: String) {
        self.wait = Wait::Auth;
        self.action = Some(Action::Auth { username, password });
    }

    fn transaction(&mut self, cmd: Command) {
        let State::Transaction { messages, deleted } = &mut self.state else {
            return;
        };
        let out = &mut self.out;
        match cmd {
            Command::Stat => {
                let count = deleted.iter().filter(|d| !**d).count();
                let size = total_size(messages, deleted);
                push_line(out, &format!("+OK {count} {size}"));
            }
            Command::List(None) => {
                let count = deleted.iter().filter(|d| !**d).count();
                let size = total_size(messages, deleted);
                push_line(out, &format!("+OK {count} messages ({size} octets)"));
                for (n, m) in visible(messages, deleted) {
                    push_line(out, &format!("{n} {}", m.size));
                }
                push_line(out, ".");
            }
            Command::List(Some(n)) => match lookup(messages, deleted, n) {
                Ok(i) => {
                    let size = messages.get(i).map_or(0, |m| m.size);
                    push_line(out, &format!("+OK {n} {size}"));
                }
                Err(e) => push_line(out, &e),
            },
            Command::Uidl(None) => {
                push_line(out, "+OK unique-id listing follows");
                for (n, m) in visible(messages, deleted) {
                    push_line(out, &format!("{n} {}", m.uidl));
                }
                push_line(out, ".");
            }
            Command::Uidl(Some(n)) => match lookup(messages, deleted, n) {
                Ok(i) => {
                    let uidl = messages.get(i).map_or("", |m| m.uidl.as_str());
                    push_line(out, &format!("+OK {n} {uidl}"));
                }
                Err(e) => push_line(out, &e),
            },
            Command::Retr(n) | Command::Top(n, _) => match lookup(messages, deleted, n) {
                Ok(i) => {
                    let Some(m) = messages.get(i) else { return };
                    let top_lines = match cmd {
                        Command::Top(_, lines) => Some(lines),
                        _ => None,
                    };
                    if top_lines.is_some() {
                        push_line(out, "+OK top of message follows");
                    } else {
                        push_line(out, &format!("+OK {} octets", m.size));
                    }
                    self.action = Some(Action::Retrieve {
                        uid: m.uid,
                        top_lines,
                    });
                    self.wait = Wait::Retrieve;
                }
                Err(e) => push_line(out, &e),
            },
            Command::Dele(n) => match lookup(messages, deleted, n) {
                Ok(i) => {
                    if let Some(d) = deleted.get_mut(i) {
                        *d = true;
                    }
                    push_line(out, &format!("+OK message {n} deleted"));
                }
                Err(e) => push_line(out, &e),
            },
            Command::Noop => push_line(out, "+OK"),
            // RFC 1939 §5: RSET unmarks every message marked as deleted.
            Command::Rset => {
                deleted.iter_mut().for_each(|d| *d = false);
                let size = total_size(messages, deleted);
                push_line(
                    out,
                    &format!(
                        "+OK maildrop has {} messages ({size} octets)",
                        messages.len()
                    ),
                );
            }
            Command::User(_)
            | Command::Pass(_)
            | Command::Apop
            | Command::Auth(_)
            | Command::Stls
            | Command::Utf8 => self.error("-ERR already logged in"),
            Command::Capa | Command::Quit => {}
        }
    }

    fn quit(&mut self) {
        match &self.state {
            State::Transaction { messages, deleted } => {
                // RFC 1939 §6: QUIT in TRANSACTION enters UPDATE.
                let delete: Vec<u32> = messages
                    .iter()
                    .zip(deleted)
                    .filter(|(_, d)| **d)
                    .map(|(m, _)| m.uid)
                    .collect();
                let remaining = messages.len().saturating_sub(delete.len());
                self.state = State::Update { remaining };
                self.wait = Wait::Update;
                self.input.clear();
                self.action = Some(Action::Update { delete });
            }
            _ => {
                // RFC 1939 §4: QUIT in AUTHORIZATION closes, no UPDATE.
                let reply = format!("+OK {} POP3 server signing off", clean(&self.cfg.hostname));
                self.reply(&reply);
                self.close();
            }
        }
    }

    /// RFC 2449 §5: capabilities available in AUTHORIZATION are announced
    /// in both states, so the list depends only on TLS.
    fn capa(&mut self) {
        let mut caps = String::from("+OK capability list follows\r\nTOP\r\nUIDL\r\n");
        if self.auth_allowed() {
            caps.push_str("USER\r\nSASL PLAIN\r\n");
        }
        caps.push_str("RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
        if self.cfg.stls_available && !self.tls {
            caps.push_str("STLS\r\n");
        }
        caps.push_str("UTF8\r\n");
        let implementation = clean(&self.cfg.implementation);
        if !implementation.is_empty() {
            caps.push_str("IMPLEMENTATION ");
            caps.push_str(&implementation);
            caps.push_str("\r\n");
        }
        caps.push('.');
        self.reply(&caps);
    }

    /// Passwords travel in clear unless TLS is on or the administrator
    /// allowed it.
    fn auth_allowed(&self) -> bool {
        self.tls || self.cfg.allow_plaintext_auth
    }

    /// The reply refusing a plaintext login, if it must be refused.
    fn plaintext_refusal(&self) -> Option<&'static str> {
        if self.auth_allowed() {
            None
        } else if self.cfg.stls_available {
            Some("-ERR [AUTH] plaintext login requires TLS, use STLS first")
        } else {
            Some("-ERR [AUTH] plaintext login not allowed")
        }
    }

    fn reply(&mut self, line: &str) {
        push_line(&mut self.out, line);
    }

    /// Replies to a client error and counts it; at `max_bad_commands`
    /// the reply says so (keeping any response code) and the session
    /// closes.
    fn error(&mut self, line: &str) {
        self.errors = self.errors.saturating_add(1);
        if self.errors < self.cfg.max_bad_commands {
            return self.reply(line);
        }
        let code = line
            .strip_prefix("-ERR [")
            .and_then(|rest| rest.split_once(']'))
            .map(|(code, _)| format!("[{code}] "))
            .unwrap_or_default();
        self.reply(&format!("-ERR {code}too many errors, closing connection"));
        self.close();
    }

    fn close(&mut self) {
        self.state = State::Closed;
        self.wait = Wait::Command;
        self.input.clear();
        self.action = Some(Action::Close);
    }
}

fn push_line(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Maps a 1-based message number to an index, or gives the RFC 1939 §5
/// error reply.
fn lookup(messages: &[MaildropMessage], deleted: &[bool], n: u32) -> Result<usize, String> {
    let index = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .filter(|&i| i < messages.len());
    match index {
        None => Err(String::from("-ERR no such message")),
        Some(i) if deleted.get(i).copied().unwrap_or(false) => {
            Err(format!("-ERR message {n} already deleted"))
        }
        Some(i) => Ok(i),
    }
}

/// Messages not marked as deleted, with their 1-based numbers.
fn visible<'a>(
    messages: &'a [MaildropMessage],
    deleted: &'a [bool],
) -> impl Iterator<Item = (usize, &'a MaildropMessage)> + 'a {
    messages
        .iter()
        .zip(deleted.iter().chain(std::iter::repeat(&false)))
        .enumerate()
        .filter(|(_, (_, d))| !**d)
        .map(|(i, (m, _))| (i + 1, m))
}

fn total_size(messages: &[MaildropMessage], deleted: &[bool]) -> u64 {
    visible(messages, deleted).fold(0u64, |acc, (_, m)| acc.saturating_add(m.size))
}

/// Text safe to put in a reply line: no control characters, bounded.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_REPLY_TEXT)
        .collect()
}

#[cfg(test)]
mod tests {
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
                    Action::Retrieve { uid, top_lines } => {
                        self.log.push(format!("retrieve {uid} {top_lines:?}"));
                        let body = self.bodies.iter().find(|(u, _)| *u == uid);
                        match body {
                            Some((_, body)) => {
                                let mut ds = DotStuffer::new(top_lines);
                                for chunk in body.chunks(3) {
                                    ds.encode(chunk, &mut self.output);
                                }
                                ds.finish(&mut self.output);
                                s.retrieve_done(true);
                            }
                            None => s.retrieve_done(false),
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
    fn run(
        fake: &mut Fake,
        cfg: &Config,
        tls: bool,
        segments: &[Vec<&[u8]>],
        now: Instant,
    ) -> Session {
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
    fn missing_body_closes_without_update() {
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
             S: +OK 1 octets
             C: QUIT";
        let log = converse_with(&config(), true, fake, text);
        assert_eq!(log, ["auth alice", "retrieve 40 None", "close"]);
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
        s.retrieve_done(false);
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
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
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
}
