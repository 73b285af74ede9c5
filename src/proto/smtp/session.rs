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
use super::command::{self, Command, MailParams, RcptParams};
use super::data::{DataProgress, DataReceiver, HeaderScanner, HeaderSummary, LfNormaliser};
pub use super::received::TlsInfo;
use super::received::{self, Trace};
use super::reply::Reply;
use crate::proto::line::{Frame, LineFramer};
use crate::proto::sasl::{self, Credentials, Exchange, Mechanism, SaslError};

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
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            command: Duration::from_secs(5 * 60),
            data: Duration::from_secs(3 * 60),
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
    /// The adapter can do STARTTLS.
    pub starttls_available: bool,
    /// Offer AUTH without TLS (tests, or a trusted local network).
    pub allow_plaintext_auth: bool,
    /// Timeouts.
    pub timeouts: Timeouts,
}

impl Config {
    /// Defaults: 25 MiB messages, 100 recipients, 512-octet commands,
    /// 64 KiB content lines, 10 bad commands, STARTTLS available.
    pub fn new(hostname: impl Into<String>, mode: Mode) -> Config {
        Config {
            hostname: hostname.into(),
            mode,
            max_message_size: 25 * 1024 * 1024,
            max_recipients: 100,
            max_command_line: 512,
            max_text_line: 64 * 1024,
            max_bad_commands: 10,
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
        self.refuse(reply);
    }

    /// Answer to [`Action::StartTls`]: the handshake succeeded. The session
    /// forgets everything learnt before, EHLO and AUTH included (RFC 3207
    /// 4.2), and expects a new EHLO.
    pub fn tls_established(&mut self, tls: TlsInfo) {
        if !matches!(self.waiting.take(), Some(Waiting::Tls)) {
            return self.misuse();
        }
        self.tls = Some(tls);
        self.helo = None;
        self.auth = None;
        self.tx = None;
        self.discard_input();
    }

    /// When the session times out unless input arrives (RFC 5321 4.5.3.2).
    pub fn deadline(&self) -> Instant {
        let t = match self.phase {
            Phase::Data(_) | Phase::Bdat { .. } => self.config.timeouts.data,
            _ => self.config.timeouts.command,
        };
        self.last_activity + t
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

    fn step_data(&mut self) -> bool {
        let Phase::Data(rx) = &mut self.phase else {
            return false;
        };
        let before = self.chunk.len();
        let (n, progress) = rx.process(&self.input[self.start..], &mut self.chunk, BODY_CHUNK);
        self.start += n;
        self.headers.push(&self.chunk[before..]);
        if progress == DataProgress::More {
            if self.chunk.len() >= BODY_CHUNK {
                self.emit_chunk();
                return true;
            }
            return n > 0;
        }
        let (size, too_big, too_long) = (rx.size(), rx.too_big(), rx.line_too_long());
        self.phase = Phase::Command;
        if too_big || too_long {
            // RFC 1870 6.2: 552 once the content has been received.
            self.reset_transaction();
            let text = if too_big {
                "Message size exceeds fixed maximum message size"
            } else {
                "Message line too long"
            };
            self.reply(Reply::new(552, "5.3.4", text));
        } else {
            self.finish_body(size);
        }
        true
    }

    fn finish_body(&mut self, size: u64) {
        self.emit_chunk();
        self.body_open = false;
        let headers = std::mem::take(&mut self.headers).finish();
        self.actions.push_back(Action::BodyEnd { size, headers });
        self.waiting = Some(Waiting::BodyEnd);
    }

    fn step_bdat(&mut self) -> bool {
        let Phase::Bdat {
            remaining, error, ..
        } = &mut self.phase
        else {
            return false;
        };
        if *remaining > 0 {
            let avail = &self.input[self.start..];
            let n = avail
                .len()
                .min(BODY_CHUNK)
                .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
            if n == 0 {
                return false;
            }
            *remaining -= n as u64;
            if error.is_none() {
                let bdat = self.tx.as_mut().and_then(|t| t.bdat.as_mut());
                if let Some(bdat) = bdat {
                    let before = self.chunk.len();
                    bdat.norm.push(&avail[..n], &mut self.chunk);
                    self.body_size += (self.chunk.len() - before) as u64;
                    self.headers.push(&self.chunk[before..]);
                    if self.body_size > self.config.max_message_size {
                        // RFC 3030 2 / RFC 1870: 552 for this chunk.
                        *error = Some(Reply::new(
                            552,
                            "5.3.4",
                            "Message size exceeds fixed maximum message size",
                        ));
                        self.chunk.clear();
                    }
                }
            }
            self.start += n;
            if self.chunk.len() >= BODY_CHUNK {
                self.emit_chunk();
            }
            return true;
        }
        let Phase::Bdat { last, error, .. } = std::mem::replace(&mut self.phase, Phase::Command)
        else {
            return false;
        };
        match error {
            Some(e) => {
                if last {
                    self.reset_transaction();
                } else if let Some(b) = self.tx.as_mut().and_then(|t| t.bdat.as_mut()) {
                    // RFC 3030 2: after a failed chunk the transaction has
                    // failed; later chunks get the same answer until LAST.
                    b.error = Some(e.clone());
                    self.abort_body();
                }
                self.reply(e);
            }
            None if last => {
                let size = self.body_size;
                self.finish_body(size);
            }
            None => {
                self.emit_chunk();
                let text = format!("{} octets received", self.body_size);
                self.reply(Reply::new(250, "2.0.0", text));
            }
        }
        true
    }

    fn sasl_step(&mut self, ex: Exchange, mechanism: Mechanism, step: sasl::Step) {
        match step {
            sasl::Step::Challenge(c) => {
                // RFC 4954 4: "334 " followed by the base64 challenge.
                self.reply(Reply::plain(334, c));
                self.framer.set_max(AUTH_LINE_MAX);
                self.phase = Phase::Sasl(ex, mechanism);
            }
            sasl::Step::Done(credentials) => {
                self.waiting = Some(Waiting::Auth(credentials.username.clone()));
                self.actions.push_back(Action::Auth {
                    mechanism,
                    credentials,
                });
            }
            // RFC 4954 4: 501 when the client cancels or sends bad base64.
            sasl::Step::Failed(SaslError::Cancelled) => {
                self.bad_command(Reply::new(501, "5.0.0", "Authentication cancelled"))
            }
            sasl::Step::Failed(SaslError::BadBase64) => {
                self.bad_command(Reply::new(501, "5.5.2", "Invalid base64 data"))
            }
            sasl::Step::Failed(SaslError::Malformed) => self.bad_command(Reply::new(
                501,
                "5.5.2",
                "Malformed authentication response",
            )),
        }
    }

    fn sequence(&mut self, text: &str) {
        self.bad_command(Reply::new(503, "5.5.1", text));
    }

    fn command_line(&mut self, line: &[u8]) {
        if line.contains(&0) {
            return self.bad_command(Reply::new(500, "5.5.2", "NUL characters are not allowed"));
        }
        let utf8 = self.tx.as_ref().is_some_and(|t| t.params.smtputf8);
        let cmd = match command::parse(line, utf8) {
            Ok(c) => c,
            Err(r) => return self.bad_command(r),
        };
        let esmtp = self.helo.as_ref().is_some_and(|h| h.esmtp);
        match cmd {
            Command::Ehlo(name) => {
                // RFC 5321 4.1.4: EHLO also resets the transaction.
                self.reset_transaction();
                self.helo = Some(Helo { name, esmtp: true });
                let ehlo = self.ehlo_reply();
                self.reply(ehlo);
            }
            Command::Helo(name) => {
                self.reset_transaction();
                self.helo = Some(Helo { name, esmtp: false });
                self.reply(Reply::plain(250, self.config.hostname.clone()));
            }
            Command::Mail { from, params } => self.mail(from, params, esmtp),
            Command::Rcpt { to, params } => self.rcpt(to, params, esmtp),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.reset_transaction();
                self.reply(Reply::new(250, "2.0.0", "OK"));
            }
            Command::Noop => self.reply(Reply::new(250, "2.0.0", "OK")),
            Command::Quit => {
                self.reset_transaction();
                let text = format!("{} closing connection", self.config.hostname);
                self.reply(Reply::new(221, "2.0.0", text));
                self.close();
            }
            // RFC 5321 3.5.3: 252 without confirming anything.
            Command::Vrfy => self.reply(Reply::new(
                252,
                "2.5.2",
                "Cannot VRFY user, but will accept message and attempt delivery",
            )),
            Command::Expn => self.bad_command(Reply::new(502, "5.5.1", "EXPN not available")),
            Command::Help => self.reply(Reply::new(
                214,
                "2.0.0",
                "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
            )),
            Command::StartTls => self.starttls(),
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial),
        }
    }

    fn auth_offered(&self) -> bool {
        self.config.mode == Mode::Submission
            && (self.tls.is_some() || self.config.allow_plaintext_auth)
    }

    fn ehlo_reply(&self) -> Reply {
        let c = &self.config;
        let mut lines = vec![
            c.hostname.clone(),
            "PIPELINING".to_owned(),
            format!("SIZE {}", c.max_message_size),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
        ];
        if c.starttls_available && self.tls.is_none() {
            lines.push("STARTTLS".to_owned());
        }
        lines.push("DSN".to_owned());
        lines.push("CHUNKING".to_owned());
        if self.auth_offered() {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        Reply::plain(250, lines.join("\n"))
    }

    fn mail(&mut self, from: ReversePath, params: MailParams, esmtp: bool) {
        if self.helo.is_none() {
            return self.sequence("Send EHLO first");
        }
        if self.tx.is_some() {
            return self.sequence("Nested MAIL command");
        }
        // RFC 4954 6 / RFC 6409 4.3: submission needs authentication.
        if self.config.mode == Mode::Submission && self.auth.is_none() {
            return self.bad_command(Reply::new(530, "5.7.0", "Authentication required"));
        }
        if !esmtp && params != MailParams::default() {
            return self.bad_command(Reply::new(555, "5.5.4", "Parameters need EHLO"));
        }
        // RFC 1870 6.1: a declared size over the limit is refused at once.
        if params
            .size
            .is_some_and(|s| s > self.config.max_message_size)
        {
            return self.reply(Reply::new(
                552,
                "5.3.4",
                "Message size exceeds fixed maximum message size",
            ));
        }
        self.actions.push_back(Action::Mail {
            from: from.clone(),
            params: params.clone(),
        });
        self.waiting = Some(Waiting::Mail(from, params));
    }

    fn rcpt(&mut self, to: ForwardPath, params: RcptParams, esmtp: bool) {
        let Some(tx) = &self.tx else {
            return self.sequence("Need MAIL before RCPT");
        };
        if tx.data_used || tx.bdat.is_some() {
            return self.sequence("RCPT not allowed during message content");
        }
        if !esmtp && params != RcptParams::default() {
            return self.bad_command(Reply::new(555, "5.5.4", "Parameters need EHLO"));
        }
        // RFC 5321 4.5.3.1.10: 452 for too many recipients.
        if tx.rcpts.len() >= self.config.max_recipients {
            return self.reply(Reply::new(452, "4.5.3", "Too many recipients"));
        }
        self.actions.push_back(Action::Rcpt {
            to: to.clone(),
            params: params.clone(),
        });
        self.waiting = Some(Waiting::Rcpt(to, params));
    }

    fn data(&mut self) {
        let Some(tx) = &mut self.tx else {
            return self.sequence("Need MAIL before DATA");
        };
        if tx.bdat.is_some() {
            return self.sequence("DATA not allowed after BDAT");
        }
        // RFC 5321 3.3: 554 when no recipient was accepted.
        if tx.rcpts.is_empty() {
            return self.bad_command(Reply::new(554, "5.5.1", "No valid recipients"));
        }
        tx.data_used = true;
        self.reply(Reply::plain(
            354,
            "Start mail input; end with <CRLF>.<CRLF>",
        ));
        self.open_body();
        let rx = DataReceiver::new(self.config.max_message_size, self.config.max_text_line);
        self.phase = Phase::Data(rx);
    }

    /// RFC 3030 2: the chunk is read whatever the verdict on the command,
    /// and the reply comes after it.
    fn bdat(&mut self, size: u64, last: bool) {
        let error = match &mut self.tx {
            None => Some(Reply::new(503, "5.5.1", "Need MAIL before BDAT")),
            Some(tx) if tx.data_used => {
                Some(Reply::new(503, "5.5.1", "BDAT not allowed after DATA"))
            }
            Some(tx) if tx.rcpts.is_empty() => {
                Some(Reply::new(554, "5.5.1", "No valid recipients"))
            }
            Some(tx) => match &tx.bdat {
                Some(b) => b.error.clone(),
                None => {
                    tx.bdat = Some(Bdat::default());
                    self.open_body();
                    None
                }
            },
        };
        self.phase = Phase::Bdat {
            remaining: size,
            last,
            error,
        };
    }

    fn starttls(&mut self) {
        if self.tls.is_some() {
            return self.sequence("Already in TLS");
        }
        if !self.config.starttls_available {
            return self.bad_command(Reply::new(502, "5.5.1", "STARTTLS not available"));
        }
        self.reset_transaction();
        self.reply(Reply::new(220, "2.0.0", "Ready to start TLS"));
        // RFC 3207 4.2 (CVE-2011-0411): input pipelined after STARTTLS was
        // sent in plaintext and must not be executed after the handshake.
        self.discard_input();
        self.flush();
        self.actions.push_back(Action::StartTls);
        self.waiting = Some(Waiting::Tls);
    }

    fn auth(&mut self, mechanism: Mechanism, initial: Option<Vec<u8>>) {
        if self.config.mode != Mode::Submission {
            return self.bad_command(Reply::new(502, "5.5.1", "AUTH not available"));
        }
        if !self.helo.as_ref().is_some_and(|h| h.esmtp) {
            return self.sequence("Send EHLO first");
        }
        if self.auth.is_some() {
            return self.sequence("Already authenticated");
        }
        if self.tx.is_some() {
            return self.sequence("AUTH not allowed during a mail transaction");
        }
        if !self.auth_offered() {
            // RFC 4954 6: 538 5.7.11 encryption required.
            return self.bad_command(Reply::new(
                538,
                "5.7.11",
                "Encryption required for requested authentication mechanism",
            ));
        }
        let (ex, step) = Exchange::start(mechanism, initial.as_deref());
        self.sasl_step(ex, mechanism, step);
    }
}

#[cfg(test)]
mod tests {
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
                let reject =
                    matches!(&from, ReversePath::Mailbox(m) if local(m).starts_with("reject"));
                s.mail_result(if reject {
                    Err(Reply::new(550, "5.7.1", "Sender refused"))
                } else {
                    Ok(())
                });
            }
            Action::Rcpt { to, params } => {
                t.events.push(format!("rcpt {to} {params:?}"));
                let unknown =
                    matches!(&to, ForwardPath::Mailbox(m) if local(m).starts_with("unknown"));
                let harvest =
                    matches!(&to, ForwardPath::Mailbox(m) if local(m).starts_with("harvest"));
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
                text.contains(&format!("250-{ext}\r\n"))
                    || text.contains(&format!("250 {ext}\r\n")),
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
        assert!(t.events.iter().any(
            |e| e.contains("failure: true, delay: true") && e.contains("addr_type: \"rfc822\"")
        ));
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
                b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@c.example>\r\nDATA\r\nhi"
                    .to_vec();
            script.extend_from_slice(trick);
            script.extend_from_slice(b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@c.example>\r\nDATA\r\nforged\r\n.\r\n");
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
}
