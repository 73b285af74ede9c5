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
use super::{Action, AuthResult, Config, Maildrop, MaildropMessage, Retrieved, MIN_IDLE_TIMEOUT};
use crate::proto::sasl;

mod authorization;
mod transaction;

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
    /// [`Session::retrieve_done`] for message number `n`.
    Retrieve(u32),
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

    /// The answer to [`Action::Retrieve`]. A message that could not be
    /// opened gets -ERR and the session goes on, its deletion marks kept;
    /// a failure after the "+OK" cannot be reported in the protocol, so the
    /// session closes, without deletions.
    pub fn retrieve_done(&mut self, result: Retrieved) {
        let Wait::Retrieve(n) = self.wait else {
            return;
        };
        self.wait = Wait::Command;
        self.touch = true;
        match result {
            Retrieved::Sent => {}
            Retrieved::Missing => self.reply(&format!("-ERR message {n} no longer exists")),
            Retrieved::Failed => self.close(),
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
mod tests;
