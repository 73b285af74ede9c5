//! The SMTP server session: a state machine fed bytes and `now`, giving
//! back [`Action`]s. The same session serves the MTA port and submission.
//!
//! # Driving it
//!
//! The I/O adapter owns the socket, TLS, the store and the clock:
//!
//! ```text
//! let mut s = Session::new(config, peer_ip, tls_info, Instant::now());
//! let mut buf = [0u8; READ_CHUNK];
//! 'conn: loop {
//!     while let Some(action) = s.poll(Instant::now()) {
//!         match action {
//!             Action::Write(bytes) => socket.write_all(&bytes).await?,
//!             Action::StartTls => { let info = upgrade(&mut socket).await?; s.tls_established(info) }
//!             Action::Auth { mechanism, credentials } => {
//!                 // consult the AuthLimiter, verify, sleep the limiter's delay on failure
//!                 s.auth_result(outcome)
//!             }
//!             Action::Mail { from, params } => s.mail_result(policy.sender(&from, &params)),
//!             Action::Rcpt { to, params } => s.rcpt_result(policy.recipient(&to, &params)),
//!             Action::BodyStart => spool = store.begin()?,   // write s.received_header(..) first
//!             Action::Body(chunk) => spool.write(&chunk)?,
//!             Action::BodyEnd { headers, .. } => s.data_result(store.commit(spool, &headers)),
//!             Action::BodyAbort => spool.discard(),
//!             Action::Close => break 'conn,
//!         }
//!     }
//!     match timeout_at(s.deadline(), socket.read(&mut buf)).await {
//!         Err(_elapsed) => s.timed_out(Instant::now()),
//!         Ok(0) => break,                       // peer closed; drop any open spool
//!         Ok(n) => { s.feed(&buf[..n]); }
//!     }
//! }
//! ```
//!
//! Actions that need an answer (`StartTls`, `Auth`, `Mail`, `Rcpt`,
//! `BodyEnd`) stop the session until the matching method is called; input
//! pipelined behind them (RFC 2920) waits in the buffer and is processed in
//! order afterwards. Replies are collected and written in one
//! [`Action::Write`] when the session runs out of input, so the replies to a
//! pipelined group leave together (RFC 2920 3.1).
//!
//! After `BodyStart`, exactly one of `BodyEnd` or `BodyAbort` follows,
//! unless the session closes first (then the adapter drops the spool).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::address::{ForwardPath, ReversePath};
use super::command::{MailParams, RcptParams};
use super::data::{DataProgress, DataReceiver, HeaderScanner, HeaderSummary, LfNormaliser};
pub use super::received::TlsInfo;
use super::received::{self, Trace};
use super::reply::Reply;
use crate::proto::line::{Frame, LineFramer};
use crate::proto::sasl::{self, Credentials, Exchange, Mechanism, SaslError};

mod body;
mod commands;

/// A read size the session always accepts whole after `poll` returned
/// `None`.
pub const READ_CHUNK: usize = 8 * 1024;
/// Bound of the input buffer (a bounded buffer is what keeps a flood of
/// pipelined commands from growing memory).
const INPUT_CAPACITY: usize = 32 * 1024;
/// Size of one `Action::Body` chunk: 16 KiB per session in flight.
const BODY_CHUNK: usize = 16 * 1024;
/// RFC 4954 4: lines of an AUTH exchange may be up to 12288 octets.
const AUTH_LINE_MAX: usize = 12288 + 2;

/// Which service the session provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Port 25: mail from other servers; no AUTH.
    Mta,
    /// Ports 587 and 465 (RFC 6409): authenticated users only.
    Submission,
}

/// Timeouts of RFC 5321 4.5.3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Waiting for a command (4.5.3.2.7: at least 5 minutes).
    pub command: Duration,
    /// Waiting for the next block of message content (4.5.3.2.5: 3 minutes).
    pub data: Duration,
    /// Longest time without progress (a message accepted or a BDAT chunk
    /// received, authentication, TLS): a session that only sends NOOP,
    /// RSET, HELP, VRFY or EHLO, or whose commands are all refused, ends
    /// with 421 4.4.2 instead of holding its connection slot.
    pub no_progress: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            command: Duration::from_secs(5 * 60),
            data: Duration::from_secs(3 * 60),
            no_progress: Duration::from_secs(10 * 60),
        }
    }
}

/// Session configuration, shared by all sessions of a listener.
#[derive(Debug, Clone)]
pub struct Config {
    /// Our host name, used in the greeting and replies.
    pub hostname: String,
    /// MTA or submission.
    pub mode: Mode,
    /// SIZE limit in octets (RFC 1870).
    pub max_message_size: u64,
    /// Most recipients per transaction (RFC 5321 4.5.3.1.8 wants >= 100).
    pub max_recipients: usize,
    /// Longest command line, CR LF included (RFC 5321 4.5.3.1.4: 512).
    pub max_command_line: usize,
    /// Longest line inside the content, terminator excluded; a hard bound,
    /// well above the 998 of RFC 5322 2.1.1.
    pub max_text_line: usize,
    /// Protocol errors tolerated before 421 4.7.0 and close.
    pub max_bad_commands: u32,
    /// Commands that do not move the session on (NOOP, RSET, HELP, VRFY,
    /// EHLO, HELO) tolerated between two progresses (see
    /// [`Timeouts::no_progress`]) before 421 4.4.2 and close; Postfix's
    /// `smtpd_junk_command_limit` is the model.
    pub max_idle_commands: u32,
    /// The adapter can do STARTTLS.
    pub starttls_available: bool,
    /// Offer AUTH without TLS (tests, or a trusted local network).
    pub allow_plaintext_auth: bool,
    /// Timeouts.
    pub timeouts: Timeouts,
}

impl Config {
    /// Defaults: 25 MiB messages, 100 recipients, 512-octet commands,
    /// 64 KiB content lines, 10 bad commands, 100 idle commands, STARTTLS
    /// available.
    pub fn new(hostname: impl Into<String>, mode: Mode) -> Config {
        Config {
            hostname: hostname.into(),
            mode,
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_command_line: 512,
            max_text_line: 64 * 1024,
            max_bad_commands: 10,
            max_idle_commands: 100,
            starttls_available: true,
            allow_plaintext_auth: false,
            timeouts: Timeouts::default(),
        }
    }
}

/// The adapter's answer to [`Action::Auth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Credentials verified: 235 2.7.0.
    Ok,
    /// Wrong user or password (never says which): 535 5.7.8.
    Failed,
    /// The failure limiter refused the client: 454 4.7.0.
    Throttled,
    /// The user store is unavailable: 454 4.7.0.
    TempFail,
}

/// What the adapter must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes to the client.
    Write(Vec<u8>),
    /// Start the TLS handshake now, then call [`Session::tls_established`].
    /// Bytes received before the handshake must be thrown away.
    StartTls,
    /// Verify credentials, then call [`Session::auth_result`].
    Auth {
        /// The mechanism used.
        mechanism: Mechanism,
        /// What the client sent.
        credentials: Credentials,
    },
    /// Check the sender, then call [`Session::mail_result`].
    Mail {
        /// The reverse path.
        from: ReversePath,
        /// Its parameters (stored with the message for DSN and relay).
        params: MailParams,
    },
    /// Check the recipient, then call [`Session::rcpt_result`].
    Rcpt {
        /// The forward path.
        to: ForwardPath,
        /// Its parameters (stored with the message for DSN).
        params: RcptParams,
    },
    /// Message content starts: open a spool file.
    BodyStart,
    /// Content, CR LF normalised and dot-unstuffed, at most 16 KiB.
    Body(Vec<u8>),
    /// Content is complete: commit, then call [`Session::data_result`].
    BodyEnd {
        /// Octets of content.
        size: u64,
        /// The From: addresses found in the header section.
        headers: HeaderSummary,
    },
    /// The content was refused or the transaction ended: discard it.
    BodyAbort,
    /// Close the connection.
    Close,
}

#[derive(Debug)]
enum Phase {
    Command,
    Sasl(Exchange, Mechanism),
    Data(DataReceiver),
    Bdat {
        remaining: u64,
        last: bool,
        error: Option<Reply>,
    },
}

#[derive(Debug)]
enum Waiting {
    Auth(String),
    Mail(ReversePath, MailParams),
    Rcpt(ForwardPath, RcptParams),
    BodyEnd,
    Tls,
}

#[derive(Debug)]
struct Helo {
    name: String,
    esmtp: bool,
}

#[derive(Debug)]
struct Transaction {
    from: ReversePath,
    params: MailParams,
    rcpts: Vec<ForwardPath>,
    /// Parameters of each accepted recipient, in step with `rcpts`.
    rcpt_params: Vec<RcptParams>,
    data_used: bool,
    bdat: Option<Bdat>,
}

#[derive(Debug, Default)]
struct Bdat {
    norm: LfNormaliser,
    error: Option<Reply>,
}

/// One SMTP server session. See the module documentation for the loop
/// that drives it.
#[derive(Debug)]
pub struct Session {
    config: Arc<Config>,
    peer: IpAddr,
    tls: Option<TlsInfo>,
    input: Vec<u8>,
    start: usize,
    framer: LineFramer,
    out: Vec<u8>,
    actions: VecDeque<Action>,
    phase: Phase,
    waiting: Option<Waiting>,
    helo: Option<Helo>,
    auth: Option<String>,
    tx: Option<Transaction>,
    body_open: bool,
    body_size: u64,
    chunk: Vec<u8>,
    headers: HeaderScanner,
    bad: u32,
    closed: bool,
    fed: bool,
    last_activity: Instant,
    /// The `now` of the latest `poll`.
    now: Instant,
    /// When the session began or last progressed.
    progress_at: Instant,
    /// Idle commands since then.
    idle_commands: u32,
}

impl Session {
    /// A new session; the 220 greeting is queued. `tls` is set for implicit
    /// TLS (port 465).
    pub fn new(config: Arc<Config>, peer: IpAddr, tls: Option<TlsInfo>, now: Instant) -> Session {
        let framer = LineFramer::new(config.max_command_line);
        let mut s = Session {
            config,
            peer,
            tls,
            input: Vec::new(),
            start: 0,
            framer,
            out: Vec::new(),
            actions: VecDeque::new(),
            phase: Phase::Command,
            waiting: None,
            helo: None,
            auth: None,
            tx: None,
            body_open: false,
            body_size: 0,
            chunk: Vec::new(),
            headers: HeaderScanner::default(),
            bad: 0,
            closed: false,
            fed: false,
            last_activity: now,
            now,
            progress_at: now,
            idle_commands: 0,
        };
        // RFC 5321 4.2 / RFC 2034 4: the greeting needs no enhanced code.
        let greeting = Reply::plain(220, format!("{} ESMTP ready", s.config.hostname));
        s.reply(greeting);
        s
    }

    /// Buffers bytes from the client. Returns how many were taken: all of
    /// them when called after `poll` returned `None` with at most
    /// [`READ_CHUNK`] bytes. Keep and feed again any rest.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        if self.closed || matches!(self.waiting, Some(Waiting::Tls)) {
            // RFC 3207 4.2 / CVE-2011-0411: nothing sent in plaintext
            // before the handshake may be used afterwards.
            return input.len();
        }
        if self.start > 0 {
            self.input.drain(..self.start);
            self.start = 0;
        }
        let room = INPUT_CAPACITY.saturating_sub(self.input.len());
        let n = room.min(input.len());
        self.input.extend_from_slice(&input[..n]);
        if n > 0 {
            self.fed = true;
        }
        n
    }

    /// The next action, or `None` when the session needs input (or an
    /// answer to the previous action, or is closed).
    pub fn poll(&mut self, now: Instant) -> Option<Action> {
        self.now = now;
        if std::mem::take(&mut self.fed) {
            self.last_activity = now;
        }
        loop {
            if let Some(a) = self.actions.pop_front() {
                return Some(a);
            }
            if self.closed || self.waiting.is_some() {
                return None;
            }
            if !self.step() {
                if self.out.is_empty() {
                    return None;
                }
                return Some(Action::Write(std::mem::take(&mut self.out)));
            }
        }
    }

    /// Answer to [`Action::Auth`].
    pub fn auth_result(&mut self, outcome: AuthOutcome) {
        let Some(Waiting::Auth(user)) = self.waiting.take() else {
            return self.misuse();
        };
        match outcome {
            AuthOutcome::Ok => {
                self.progress();
                self.auth = Some(user);
                self.reply(Reply::new(235, "2.7.0", "Authentication successful"));
            }
            // RFC 4954 6: 535 5.7.8, the same whether or not the user exists.
            AuthOutcome::Failed => self.bad_command(Reply::new(
                535,
                "5.7.8",
                "Authentication credentials invalid",
            )),
            AuthOutcome::Throttled => self.reply(Reply::new(
                454,
                "4.7.0",
                "Too many failed authentications, try again later",
            )),
            AuthOutcome::TempFail => {
                self.reply(Reply::new(454, "4.7.0", "Temporary authentication failure"))
            }
        }
    }

    /// Answer to [`Action::Mail`]: `Ok` accepts the sender.
    pub fn mail_result(&mut self, result: Result<(), Reply>) {
        let Some(Waiting::Mail(from, params)) = self.waiting.take() else {
            return self.misuse();
        };
        match result {
            Ok(()) => {
                self.tx = Some(Transaction {
                    from,
                    params,
                    rcpts: Vec::new(),
                    rcpt_params: Vec::new(),
                    data_used: false,
                    bdat: None,
                });
                self.reply(Reply::new(250, "2.1.0", "Sender OK"));
            }
            Err(r) => self.refuse(r),
        }
    }

    /// Answer to [`Action::Rcpt`]: `Ok` accepts the recipient.
    pub fn rcpt_result(&mut self, result: Result<(), Reply>) {
        let Some(Waiting::Rcpt(to, params)) = self.waiting.take() else {
            return self.misuse();
        };
        match (result, self.tx.as_mut()) {
            (Ok(()), Some(tx)) => {
                tx.rcpts.push(to);
                tx.rcpt_params.push(params);
                self.reply(Reply::new(250, "2.1.5", "Recipient OK"));
            }
            (Ok(()), None) => self.misuse(),
            (Err(r), _) => self.refuse(r),
        }
    }

    /// Answer to [`Action::BodyEnd`]: the final reply for the message (250
    /// when it was stored; 451, 552, 554... otherwise). The transaction
    /// ends either way (RFC 5321 4.1.1.4).
    pub fn data_result(&mut self, reply: Reply) {
        if !matches!(self.waiting.take(), Some(Waiting::BodyEnd)) {
            return self.misuse();
        }
        self.tx = None;
        if reply.code() < 300 {
            self.progress();
        }
        self.refuse(reply);
    }

    /// Answer to [`Action::StartTls`]: the handshake succeeded. The session
    /// forgets everything learnt before, EHLO and AUTH included (RFC 3207
    /// 4.2), and expects a new EHLO.
    pub fn tls_established(&mut self, tls: TlsInfo) {
        if !matches!(self.waiting.take(), Some(Waiting::Tls)) {
            return self.misuse();
        }
        self.progress();
        self.tls = Some(tls);
        self.helo = None;
        self.auth = None;
        self.tx = None;
        self.discard_input();
    }

    /// When the session times out unless input arrives (RFC 5321
    /// 4.5.3.2), or, between messages, [`Timeouts::no_progress`] after it
    /// last progressed.
    pub fn deadline(&self) -> Instant {
        match self.phase {
            Phase::Data(_) | Phase::Bdat { .. } => self.last_activity + self.config.timeouts.data,
            _ => (self.last_activity + self.config.timeouts.command).min(self.progress_deadline()),
        }
    }

    /// Tells the session that `deadline()` passed: 421 4.4.2 and close.
    /// Does nothing if the deadline has not passed at `now`.
    pub fn timed_out(&mut self, now: Instant) {
        if self.closed || now < self.deadline() {
            return;
        }
        let text = format!("{} Timeout, closing connection", self.config.hostname);
        self.shutdown(Reply::new(421, "4.4.2", text));
    }

    /// Ends the session with `reply` (e.g. 421 4.3.2 at server shutdown).
    pub fn shutdown(&mut self, reply: Reply) {
        if self.closed {
            return;
        }
        self.abort_body();
        self.reply(reply);
        self.close();
    }

    /// True once `Close` was queued.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The client's address.
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// TLS parameters, once encrypted.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_ref()
    }

    /// The EHLO/HELO argument, once given.
    pub fn helo_name(&self) -> Option<&str> {
        self.helo.as_ref().map(|h| h.name.as_str())
    }

    /// The sender of the current transaction, once MAIL was accepted.
    pub fn sender(&self) -> Option<&ReversePath> {
        self.tx.as_ref().map(|t| &t.from)
    }

    /// The accepted recipients of the current transaction.
    pub fn recipients(&self) -> &[ForwardPath] {
        self.tx.as_ref().map_or(&[], |t| t.rcpts.as_slice())
    }

    /// The MAIL parameters of the current transaction (RFC 3461 RET and
    /// ENVID, BODY, SMTPUTF8), once MAIL was accepted.
    pub fn mail_params(&self) -> Option<&MailParams> {
        self.tx.as_ref().map(|t| &t.params)
    }

    /// The parameters of each accepted recipient, in the order of
    /// [`Session::recipients`].
    pub fn recipient_params(&self) -> &[RcptParams] {
        self.tx.as_ref().map_or(&[], |t| t.rcpt_params.as_slice())
    }

    /// The authenticated user name (submission).
    pub fn authenticated_user(&self) -> Option<&str> {
        self.auth.as_deref()
    }

    /// The Received: field for the current transaction (RFC 5321 4.4),
    /// to be written before the content. `date` is an RFC 5322 date-time.
    pub fn received_header(&self, id: &str, date: &str) -> String {
        let rcpt = self.tx.as_ref().and_then(|tx| match tx.rcpts.as_slice() {
            [one] => Some(one.to_string()),
            _ => None,
        });
        received::received(&Trace {
            helo: self.helo_name().unwrap_or("unknown"),
            peer: self.peer,
            by: &self.config.hostname,
            esmtp: self.helo.as_ref().is_some_and(|h| h.esmtp),
            tls: self.tls.as_ref(),
            authenticated: self.auth.is_some(),
            utf8: self.tx.as_ref().is_some_and(|t| t.params.smtputf8),
            id,
            recipient: rcpt
                .as_deref()
                .map(|r| r.trim_start_matches('<').trim_end_matches('>')),
            date,
        })
    }

    // ---- internals ----

    fn progress_deadline(&self) -> Instant {
        self.progress_at + self.config.timeouts.no_progress
    }

    /// The session moved on: the bounds on idle commands start again.
    fn progress(&mut self) {
        self.progress_at = self.now;
        self.idle_commands = 0;
    }

    /// An answer method called out of turn: a bug in the adapter. Closing
    /// is safer than guessing what it meant.
    fn misuse(&mut self) {
        log::error!("smtp session: adapter answer out of sequence");
        self.shutdown(Reply::new(
            421,
            "4.3.0",
            "Internal error, closing connection",
        ));
    }

    fn reply(&mut self, r: Reply) {
        r.write_to(&mut self.out);
    }

    /// The adapter's answer to a command: a 421 closes the connection
    /// after it is sent (RFC 5321 §3.8: the service is closing).
    fn refuse(&mut self, r: Reply) {
        if r.code() == 421 {
            self.shutdown(r);
        } else {
            self.reply(r);
        }
    }

    fn flush(&mut self) {
        if !self.out.is_empty() {
            let bytes = std::mem::take(&mut self.out);
            self.actions.push_back(Action::Write(bytes));
        }
    }

    fn close(&mut self) {
        self.flush();
        self.actions.push_back(Action::Close);
        self.closed = true;
    }

    fn bad_command(&mut self, r: Reply) {
        self.reply(r);
        self.bad += 1;
        if self.bad >= self.config.max_bad_commands {
            self.abort_body();
            self.reply(Reply::new(
                421,
                "4.7.0",
                format!(
                    "{} Too many errors, closing connection",
                    self.config.hostname
                ),
            ));
            self.close();
        }
    }

    fn discard_input(&mut self) {
        self.input.clear();
        self.start = 0;
        self.framer.reset();
        self.framer.set_max(self.config.max_command_line);
        self.phase = Phase::Command;
    }

    fn abort_body(&mut self) {
        if std::mem::replace(&mut self.body_open, false) {
            self.chunk.clear();
            self.actions.push_back(Action::BodyAbort);
        }
    }

    /// RSET semantics (RFC 5321 4.1.1.5).
    fn reset_transaction(&mut self) {
        self.abort_body();
        self.tx = None;
    }

    fn open_body(&mut self) {
        self.body_open = true;
        self.body_size = 0;
        self.chunk.clear();
        self.headers = HeaderScanner::default();
        self.actions.push_back(Action::BodyStart);
    }

    fn emit_chunk(&mut self) {
        if !self.chunk.is_empty() {
            let c = std::mem::take(&mut self.chunk);
            self.actions.push_back(Action::Body(c));
        }
    }

    /// Processes some input; false when nothing could be done.
    fn step(&mut self) -> bool {
        match &mut self.phase {
            Phase::Command | Phase::Sasl(..) => self.step_line(),
            Phase::Data(_) => self.step_data(),
            Phase::Bdat { .. } => self.step_bdat(),
        }
    }

    /// Command and SASL lines. A command line ending in bare LF is
    /// accepted (many hand-typed and scripted clients send it); this is
    /// harmless here because DATA content never ends at a bare LF.
    fn step_line(&mut self) -> bool {
        let (n, frame) = self.framer.next(&self.input[self.start..]);
        let line = match frame {
            Frame::Line(l) => Some(l.text.to_vec()),
            Frame::TooLong => None,
            Frame::Incomplete => {
                self.start += n;
                return false;
            }
        };
        self.start += n;
        match (std::mem::replace(&mut self.phase, Phase::Command), line) {
            (Phase::Sasl(mut ex, mechanism), line) => {
                self.framer.set_max(self.config.max_command_line);
                match line {
                    Some(l) => {
                        let step = ex.respond(&l);
                        self.sasl_step(ex, mechanism, step);
                    }
                    // RFC 4954 6: 500 5.5.6, authentication exchange line too long.
                    None => self.bad_command(Reply::new(
                        500,
                        "5.5.6",
                        "Authentication exchange line is too long",
                    )),
                }
            }
            (_, Some(l)) => self.command_line(&l),
            // RFC 5321 4.5.3.1.4: 500 line too long.
            (_, None) => self.bad_command(Reply::new(500, "5.5.2", "Line too long")),
        }
        true
    }
}

#[cfg(test)]
mod tests;
