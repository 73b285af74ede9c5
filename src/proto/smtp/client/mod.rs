//! The SMTP client (RFC 5321 3, 4 and 5), sans-I/O: what the outbound
//! queue uses to hand a message to a remote MX host or to a smarthost.
//!
//! A [`Client`] runs one mail transaction, described by a [`Job`]. It is fed
//! the server's bytes and gives back [`Action`]s; it never touches a socket
//! or a clock. Extensions used when the server offers them: PIPELINING
//! (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531),
//! DSN (RFC 3461), CHUNKING (RFC 3030), STARTTLS (RFC 3207) and AUTH PLAIN
//! or LOGIN (RFC 4954).
//!
//! # Driving it
//!
//! ```text
//! let mut c = Client::new(job);
//! if c.phase() != Phase::Done { connect (or c.connect_failed(reason)) }
//! loop {
//!     while let Some(action) = c.poll() {
//!         match action {
//!             Action::Send(bytes) => socket.write_all(&bytes).await?,
//!             Action::StartTls => match upgrade(socket).await {
//!                 Ok(s) => { socket = s; c.tls_established() }
//!                 Err(e) => c.tls_failed(&e.to_string()),
//!             },
//!             Action::SendBody => {
//!                 let mut out = Vec::new();
//!                 while let n @ 1.. = message.read(&mut buf)? {
//!                     c.body_chunk(&buf[..n], &mut out);
//!                     socket.write_all(&out).await?; out.clear();
//!                 }
//!                 c.body_end(&mut out);
//!                 socket.write_all(&out).await?;
//!             }
//!             Action::Done(outcome) => return outcome,
//!         }
//!     }
//!     let limit = timeouts.for_phase(c.phase());
//!     match timeout(limit, socket.read(&mut buf)).await {
//!         Err(_) => c.connection_lost("no reply within ..."),
//!         Ok(0) => c.connection_lost("connection closed"),
//!         Ok(n) => c.feed(&buf[..n]),
//!     }
//! }
//! ```
//!
//! Every error the peer can cause (a refused greeting, garbage, a 421, a
//! lost connection, a timeout) ends in [`Action::Done`] with a result for
//! each recipient; nothing the server sends can panic the client.
//!
//! # Choices
//!
//! - EHLO refused with 5xx is retried as HELO (RFC 5321 4.1.4), unless it
//!   was the EHLO after STARTTLS.
//! - With PIPELINING, MAIL, every RCPT and DATA leave in one write (RFC
//!   2920 3.1). If no recipient was accepted and DATA still got 354, the
//!   client sends an empty message (just the `.` line, as RFC 2920 3.1
//!   suggests), ignores the answer and quits.
//! - BDAT (RFC 3030) is used when the server offers both CHUNKING and
//!   PIPELINING; each [`Client::body_chunk`] call becomes one `BDAT n`
//!   chunk and the replies are read after the last chunk.
//! - 8-bit content to a server without 8BITMIME fails permanently with
//!   5.6.3: RFC 6152 3 forbids sending it, and this client does not
//!   convert content to 7 bits.
//! - After the final reply the client sends QUIT and waits (briefly) for
//!   the 221 before it reports; a lost connection at that point changes
//!   nothing in the results.
//! - A client told to [`Client::keep_open`] reports each transaction with
//!   [`Action::Ready`] instead, and the connection stays open for the next
//!   one ([`Client::next_transaction`]), which starts with RSET (RFC 5321
//!   4.1.1.5) so that a server that went away while the connection was
//!   idle is noticed before anything of the new message is sent. STARTTLS
//!   and AUTH are not repeated: they hold for the whole session.

pub mod encode;
pub mod reply;

pub use encode::BodyEncoder;
pub use reply::{ReplyError, ReplyReader, ServerReply};

use super::address;
use super::command::{xtext_encode, Notify, Ret};
use crate::proto::base64;
use crate::proto::sasl::Credentials;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

/// RFC 5321 4.5.3.2.1: waiting for the 220 greeting, 5 minutes.
pub const GREETING_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// RFC 5321 4.5.3.2.2: waiting for the reply to MAIL, 5 minutes.
pub const MAIL_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// RFC 5321 4.5.3.2.3: waiting for the reply to RCPT, 5 minutes.
pub const RCPT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// RFC 5321 4.5.3.2.4: waiting for the 354 after DATA, 2 minutes.
pub const DATA_INIT_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// RFC 5321 4.5.3.2.5: sending each block of content (and waiting for
/// the reply to a non-last BDAT chunk), 3 minutes.
pub const DATA_BLOCK_TIMEOUT: Duration = Duration::from_secs(3 * 60);
/// RFC 5321 4.5.3.2.6: waiting for the reply to the end of data,
/// 10 minutes.
pub const DATA_END_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// EHLO, HELO, STARTTLS and AUTH: RFC 5321 names no value; the 5 minutes
/// of the other commands.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Waiting for the 221 after QUIT. The results are known by then, so a
/// slow server only delays the report.
pub const QUIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Waiting for the reply to the RSET that opens a transaction on a reused
/// connection: RFC 5321 names no value; Postfix's `smtp_rset_timeout` is
/// 20 s. A server that does not answer quickly is given up for a new
/// connection, at no cost to the message.
pub const RSET_TIMEOUT: Duration = Duration::from_secs(20);

/// The timeout of each [`Phase`]; [`Timeouts::default`] gives the RFC 5321
/// 4.5.3.2 values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// [`GREETING_TIMEOUT`].
    pub greeting: Duration,
    /// [`COMMAND_TIMEOUT`].
    pub command: Duration,
    /// [`MAIL_TIMEOUT`].
    pub mail: Duration,
    /// [`RCPT_TIMEOUT`].
    pub rcpt: Duration,
    /// [`DATA_INIT_TIMEOUT`].
    pub data_init: Duration,
    /// [`DATA_BLOCK_TIMEOUT`].
    pub data_block: Duration,
    /// [`DATA_END_TIMEOUT`].
    pub data_end: Duration,
    /// [`QUIT_TIMEOUT`].
    pub quit: Duration,
    /// [`RSET_TIMEOUT`].
    pub rset: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            greeting: GREETING_TIMEOUT,
            command: COMMAND_TIMEOUT,
            mail: MAIL_TIMEOUT,
            rcpt: RCPT_TIMEOUT,
            data_init: DATA_INIT_TIMEOUT,
            data_block: DATA_BLOCK_TIMEOUT,
            data_end: DATA_END_TIMEOUT,
            quit: QUIT_TIMEOUT,
            rset: RSET_TIMEOUT,
        }
    }
}

impl Timeouts {
    /// Every phase bounded by the same `limit` (tests).
    pub fn uniform(limit: Duration) -> Timeouts {
        Timeouts {
            greeting: limit,
            command: limit,
            mail: limit,
            rcpt: limit,
            data_init: limit,
            data_block: limit,
            data_end: limit,
            quit: limit,
            rset: limit,
        }
    }

    /// Each timeout, but none longer than `cap` (an admin's bound on how
    /// long one slow server may hold a delivery slot).
    pub fn capped(self, cap: Duration) -> Timeouts {
        Timeouts {
            greeting: self.greeting.min(cap),
            command: self.command.min(cap),
            mail: self.mail.min(cap),
            rcpt: self.rcpt.min(cap),
            data_init: self.data_init.min(cap),
            data_block: self.data_block.min(cap),
            data_end: self.data_end.min(cap),
            quit: self.quit.min(cap),
            rset: self.rset.min(cap),
        }
    }

    /// How long to wait for the server in `phase`.
    pub fn for_phase(&self, phase: Phase) -> Duration {
        match phase {
            Phase::Greeting => self.greeting,
            Phase::Ehlo | Phase::StartTls | Phase::Auth | Phase::Idle | Phase::Done => self.command,
            Phase::Mail => self.mail,
            Phase::Rcpt => self.rcpt,
            Phase::DataInit => self.data_init,
            Phase::DataBlock => self.data_block,
            Phase::DataEnd => self.data_end,
            Phase::Quit => self.quit,
            Phase::Reset => self.rset,
        }
    }
}

/// Where the transaction stands: what the client waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The 220 greeting.
    Greeting,
    /// The reply to EHLO or HELO.
    Ehlo,
    /// The reply to STARTTLS, or the handshake.
    StartTls,
    /// An AUTH exchange.
    Auth,
    /// The reply to MAIL (with PIPELINING, the first of the group).
    Mail,
    /// The reply to an RCPT.
    Rcpt,
    /// The 354 after DATA.
    DataInit,
    /// Sending content, or the reply to a non-last BDAT chunk.
    DataBlock,
    /// The reply to the end of data or to the last BDAT chunk.
    DataEnd,
    /// The reply to QUIT.
    Quit,
    /// The reply to the RSET that opens a transaction on a reused
    /// connection. A failure here means the connection is no longer
    /// usable, and nothing of the message was sent.
    Reset,
    /// A transaction is over and the connection is kept open
    /// ([`Client::keep_open`]); the client waits for
    /// [`Client::next_transaction`] or [`Client::close`].
    Idle,
    /// Finished: the outcome has been given.
    Done,
}

impl Phase {
    /// The command a reply answers, as bounce messages name it ("in reply
    /// to RCPT TO command").
    pub fn command(self) -> &'static str {
        match self {
            Phase::Greeting => "initial greeting",
            Phase::Ehlo => "EHLO command",
            Phase::StartTls => "STARTTLS command",
            Phase::Auth => "AUTH command",
            Phase::Mail => "MAIL FROM command",
            Phase::Rcpt => "RCPT TO command",
            Phase::DataInit => "DATA command",
            Phase::DataBlock => "message content",
            Phase::DataEnd => "end of data",
            Phase::Quit => "QUIT command",
            Phase::Reset => "RSET command",
            Phase::Idle => "idle session",
            Phase::Done => "end of session",
        }
    }
}

/// Whether and how to use TLS on a connection that starts in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Never STARTTLS.
    None,
    /// STARTTLS whenever the server offers it (RFC 7435 opportunistic
    /// security); go on in the clear when it does not.
    Opportunistic,
    /// STARTTLS or nothing: a server that does not offer it (or refuses
    /// it) fails the attempt temporarily.
    Required,
}

/// One recipient of a [`Job`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address, `local@domain`, without angle brackets.
    pub address: String,
    /// RFC 3461 4.1 NOTIFY; `Some` with every flag false is `NEVER`. See
    /// [`notify_from_bits`] for the queue's encoding.
    pub notify: Option<Notify>,
    /// RFC 3461 4.2 ORCPT as `addr-type;address`, decoded (not xtext), e.g.
    /// `rfc822;alice@example.com`; without a `;` the type `rfc822` is
    /// assumed.
    pub orcpt: Option<String>,
}

/// One delivery attempt: a message from one sender to recipients on one
/// server.
#[derive(Debug, Clone)]
pub struct Job {
    /// Our name in EHLO/HELO (RFC 5321 4.1.1.1).
    pub ehlo_name: String,
    /// Envelope sender, `local@domain`; empty for the null sender `<>`.
    pub sender: String,
    /// Envelope recipients; outcomes refer to them by index.
    pub recipients: Vec<Recipient>,
    /// Message size in octets, for SIZE (RFC 1870).
    pub size: u64,
    /// The content has 8-bit octets: BODY=8BITMIME (RFC 6152).
    pub eight_bit: bool,
    /// The message needs SMTPUTF8 (RFC 6531). Also assumed when an
    /// envelope address is not ASCII.
    pub smtputf8: bool,
    /// RFC 3461 4.3 RET.
    pub ret: Option<Ret>,
    /// RFC 3461 4.4 ENVID, decoded (not xtext).
    pub envid: Option<String>,
    /// STARTTLS policy.
    pub tls: TlsPolicy,
    /// AUTH credentials (a smarthost). Sent only under TLS unless `tls` is
    /// [`TlsPolicy::None`].
    pub auth: Option<Credentials>,
    /// The connection is TLS from the first byte (port 465, RFC 8314).
    pub implicit_tls: bool,
}

/// The queue's NOTIFY bits (1 SUCCESS, 2 FAILURE, 4 DELAY, 8 NEVER, 0
/// unset) as a [`Notify`].
pub fn notify_from_bits(bits: u8) -> Option<Notify> {
    if bits == 0 {
        return None;
    }
    if bits & 8 != 0 {
        return Some(Notify::default());
    }
    Some(Notify {
        success: bits & 1 != 0,
        failure: bits & 2 != 0,
        delay: bits & 4 != 0,
    })
}

/// Why a recipient got its result, for logs and delivery status
/// notifications (RFC 3464).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// RFC 3463 status code for the DSN `Status:` field, e.g. `5.1.1`. Its
    /// class always agrees with the result (a refused greeting with 554
    /// makes a temporary failure, so `4.x.x`).
    pub status: String,
    /// True when `text` is the server's reply, to be quoted as
    /// `Diagnostic-Code: smtp; <text>`; false for a reason of our own.
    pub remote: bool,
    /// The reply on one line (`550 5.1.1 No such user`) or our reason;
    /// at most [`reply::MAX_SUMMARY`] octets.
    pub text: String,
    /// What the reply answered, or where the attempt stopped.
    pub phase: Phase,
}

impl Diagnostic {
    /// A server reply, with its status class made `class`.
    fn remote(r: &ServerReply, class: u16, phase: Phase) -> Diagnostic {
        let status = match r.status() {
            Some(s) => format!("{class}{}", s.get(1..).unwrap_or(".0.0")),
            None => format!("{class}.0.0"),
        };
        Diagnostic {
            status,
            remote: true,
            text: r.summary(),
            phase,
        }
    }

    fn local(status: &str, text: impl Into<String>, phase: Phase) -> Diagnostic {
        let mut text = text.into();
        reply::truncate(&mut text, reply::MAX_SUMMARY);
        Diagnostic {
            status: status.to_string(),
            remote: false,
            text,
            phase,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.remote {
            write!(f, "{} (in reply to {})", self.text, self.phase.command())
        } else {
            f.write_str(&self.text)
        }
    }
}

/// The result for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptResult {
    /// The server took responsibility (2xx to the end of data).
    Delivered(Diagnostic),
    /// Try again later.
    Temporary(Diagnostic),
    /// Will never work: bounce.
    Permanent(Diagnostic),
}

impl RcptResult {
    /// The reason, whatever the result.
    pub fn diagnostic(&self) -> &Diagnostic {
        match self {
            RcptResult::Delivered(d) | RcptResult::Temporary(d) | RcptResult::Permanent(d) => d,
        }
    }

    /// True for [`RcptResult::Delivered`].
    pub fn is_delivered(&self) -> bool {
        matches!(self, RcptResult::Delivered(_))
    }

    /// True for [`RcptResult::Temporary`].
    pub fn is_temporary(&self) -> bool {
        matches!(self, RcptResult::Temporary(_))
    }

    /// True for [`RcptResult::Permanent`].
    pub fn is_permanent(&self) -> bool {
        matches!(self, RcptResult::Permanent(_))
    }
}

/// What came of the attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// One result per [`Job::recipients`] entry, same order.
    pub recipients: Vec<RcptResult>,
    /// The session ran under TLS (implicit or STARTTLS) when it ended.
    pub tls: bool,
    /// A TLS handshake failed. Under [`TlsPolicy::Opportunistic`] a new
    /// attempt with [`TlsPolicy::None`] may get through (RFC 7435 3).
    pub tls_failed: bool,
    /// AUTH succeeded.
    pub authenticated: bool,
    /// The server's greeting on one line, when one came.
    pub greeting: Option<String>,
    /// The host name the server gave in its greeting (its first word).
    pub remote_host: Option<String>,
    /// The job had DSN parameters and the server offered DSN, so NOTIFY,
    /// ORCPT, RET and ENVID were passed on and it is now responsible for
    /// notifications (RFC 3461 4). When false, a delivered recipient with
    /// NOTIFY=SUCCESS should get a "relayed" notification from us (RFC
    /// 3461 4.1, RFC 3464 2.3.3 Action: relayed).
    pub dsn_passed: bool,
}

/// What the adapter must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes to the server.
    Send(Vec<u8>),
    /// Run the TLS handshake now, then call [`Client::tls_established`]
    /// or [`Client::tls_failed`]. Bytes already received are discarded
    /// (RFC 3207 4.2).
    StartTls,
    /// Send the message content now: [`Client::body_chunk`] for each piece
    /// in order, then [`Client::body_end`], writing what they produce.
    SendBody,
    /// The transaction is over and, as [`Client::keep_open`] asked, the
    /// connection stays open: keep it for [`Client::next_transaction`],
    /// or [`Client::close`] it.
    Ready(Outcome),
    /// The attempt is over; close the connection.
    Done(Outcome),
}

/// What the server offered in its EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Caps {
    pipelining: bool,
    /// SIZE offered, with its limit (0: none stated).
    size: Option<u64>,
    eight_bit: bool,
    smtputf8: bool,
    dsn: bool,
    chunking: bool,
    starttls: bool,
    auth_plain: bool,
    auth_login: bool,
}

impl Caps {
    /// RFC 5321 4.1.1.1: the lines after the first are `keyword params`.
    fn parse(lines: &[String]) -> Caps {
        let mut caps = Caps::default();
        for line in lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => caps.pipelining = true,
                // RFC 1870 4: `SIZE [limit]`, 0 or absent for no limit.
                "SIZE" => caps.size = Some(words.next().and_then(|w| w.parse().ok()).unwrap_or(0)),
                "8BITMIME" => caps.eight_bit = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "DSN" => caps.dsn = true,
                "CHUNKING" => caps.chunking = true,
                "STARTTLS" => caps.starttls = true,
                "AUTH" => caps.add_auth(words),
                // The pre-standard `AUTH=PLAIN LOGIN` form some servers send.
                k if k.starts_with("AUTH=") => caps.add_auth(k.get(5..).into_iter().chain(words)),
                _ => {}
            }
        }
        caps
    }

    fn add_auth<'a>(&mut self, mechanisms: impl Iterator<Item = &'a str>) {
        for m in mechanisms {
            self.auth_plain |= m.eq_ignore_ascii_case("PLAIN");
            self.auth_login |= m.eq_ignore_ascii_case("LOGIN");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthStep {
    /// `AUTH PLAIN <initial response>` sent; 235 expected.
    Plain,
    /// `AUTH LOGIN` sent; 334 expected.
    LoginStart,
    /// User name sent; 334 expected.
    LoginUser,
    /// Password sent; 235 expected.
    LoginPassword,
}

/// A reply the client waits for, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth(AuthStep),
    Mail,
    Rcpt(usize),
    Data,
    /// The reply to the end of data; `discard` for the empty message sent
    /// when no recipient was accepted.
    DataEnd {
        discard: bool,
    },
    Bdat {
        last: bool,
    },
    Quit,
    Rset,
}

impl Expect {
    fn phase(self) -> Phase {
        match self {
            Expect::Greeting => Phase::Greeting,
            Expect::Ehlo | Expect::Helo => Phase::Ehlo,
            Expect::StartTls => Phase::StartTls,
            Expect::Auth(_) => Phase::Auth,
            Expect::Mail => Phase::Mail,
            Expect::Rcpt(_) => Phase::Rcpt,
            Expect::Data => Phase::DataInit,
            Expect::DataEnd { .. } | Expect::Bdat { last: true } => Phase::DataEnd,
            Expect::Bdat { last: false } => Phase::DataBlock,
            Expect::Quit => Phase::Quit,
            Expect::Rset => Phase::Reset,
        }
    }
}

#[derive(Debug, Clone)]
enum Rcpt {
    /// Not answered yet (or not sent yet).
    Pending,
    /// RCPT accepted; waiting for the content's verdict.
    Accepted,
    /// Decided.
    Final(RcptResult),
}

/// How the content goes out.
#[derive(Debug)]
struct Body {
    encoder: BodyEncoder,
    chunking: bool,
    scratch: Vec<u8>,
}

/// One SMTP client session. See the module documentation.
#[derive(Debug)]
pub struct Client {
    job: Job,
    /// `<sender>` as sent, or why it cannot be.
    sender: Result<String, Diagnostic>,
    /// `<address>` per recipient, for the valid ones.
    paths: Vec<Option<String>>,
    smtputf8: bool,
    reader: ReplyReader,
    expect: VecDeque<Expect>,
    actions: VecDeque<Action>,
    caps: Caps,
    esmtp: bool,
    tls: bool,
    tls_tried: bool,
    tls_failed: bool,
    waiting_tls: bool,
    authenticated: bool,
    dsn_passed: bool,
    /// The next recipient to send RCPT for, without PIPELINING.
    next_rcpt: usize,
    rcpts: Vec<Rcpt>,
    body: Option<Body>,
    /// The first failed BDAT chunk's reply (RFC 3030 2: the transaction
    /// has failed; later chunks get errors too).
    bdat_failure: Option<RcptResult>,
    greeting: Option<String>,
    remote_host: Option<String>,
    /// End transactions with [`Action::Ready`] rather than QUIT.
    keep_open: bool,
    /// Between transactions of a kept connection.
    idle: bool,
    done: bool,
}

impl Client {
    /// A session for `job`, waiting for the greeting. Invalid addresses
    /// are decided at once (5.1.7 for the sender, 5.1.3 for a recipient);
    /// when nothing is left to send, the client is already
    /// [`Phase::Done`] and [`Client::poll`] gives the outcome without a
    /// connection being needed.
    pub fn new(job: Job) -> Client {
        let mut c = Client {
            tls: job.implicit_tls,
            job: job.clone(),
            sender: Ok(String::new()),
            paths: Vec::new(),
            smtputf8: false,
            reader: ReplyReader::new(),
            expect: VecDeque::from([Expect::Greeting]),
            actions: VecDeque::new(),
            caps: Caps::default(),
            esmtp: false,
            tls_tried: false,
            tls_failed: false,
            waiting_tls: false,
            authenticated: false,
            dsn_passed: false,
            next_rcpt: 0,
            rcpts: Vec::new(),
            body: None,
            bdat_failure: None,
            greeting: None,
            remote_host: None,
            keep_open: false,
            idle: false,
            done: false,
        };
        if !c.load(job) {
            c.finish();
        }
        c
    }

    /// Makes `job` the transaction to run; returns whether any recipient
    /// is left to send to.
    fn load(&mut self, job: Job) -> bool {
        self.smtputf8 = job.smtputf8
            || !job.sender.is_ascii()
            || job.recipients.iter().any(|r| !r.address.is_ascii());
        self.sender = if job.sender.is_empty() {
            Ok("<>".to_string())
        } else {
            match address::parse_mailbox(&job.sender, true) {
                Ok(m) => Ok(format!("<{m}>")),
                // RFC 3463 3.2: X.1.7 bad sender's mailbox address syntax.
                Err(_) => Err(Diagnostic::local(
                    "5.1.7",
                    format!("invalid sender address {:?}", job.sender),
                    Phase::Mail,
                )),
            }
        };
        self.rcpts = Vec::with_capacity(job.recipients.len());
        self.paths = Vec::with_capacity(job.recipients.len());
        for r in &job.recipients {
            match address::parse_mailbox(&r.address, true) {
                Ok(m) => {
                    self.paths.push(Some(format!("<{m}>")));
                    self.rcpts.push(Rcpt::Pending);
                }
                Err(_) => {
                    self.paths.push(None);
                    // RFC 3463 3.2: X.1.3 bad destination mailbox syntax.
                    self.rcpts
                        .push(Rcpt::Final(RcptResult::Permanent(Diagnostic::local(
                            "5.1.3",
                            format!("invalid recipient address {:?}", r.address),
                            Phase::Rcpt,
                        ))));
                }
            }
        }
        self.job = job;
        self.next_rcpt = 0;
        self.body = None;
        self.bdat_failure = None;
        self.dsn_passed = false;
        if let Err(d) = self.sender.clone() {
            self.settle_pending(|| RcptResult::Permanent(d.clone()));
        }
        self.rcpts.iter().any(|r| matches!(r, Rcpt::Pending))
    }

    /// Keeps the connection open after each transaction: the client gives
    /// [`Action::Ready`] where it would have sent QUIT. Failures of the
    /// session itself (a 421, a lost connection, a refused RSET) still end
    /// it with [`Action::Done`].
    pub fn keep_open(&mut self) {
        self.keep_open = true;
    }

    /// Starts another transaction on a kept connection (in
    /// [`Phase::Idle`]), with `job`'s sender and recipients; the session's
    /// settings (TLS, AUTH, EHLO name) stay those of the first job. RSET
    /// goes first (RFC 5321 4.1.1.5). A job with nothing left to send
    /// gives [`Action::Ready`] at once. Returns false, changing nothing,
    /// when the client is not idle.
    pub fn next_transaction(&mut self, mut job: Job) -> bool {
        if !self.idle || self.done {
            return false;
        }
        job.ehlo_name = std::mem::take(&mut self.job.ehlo_name);
        job.tls = self.job.tls;
        job.auth = self.job.auth.take();
        job.implicit_tls = self.job.implicit_tls;
        if !self.load(job) {
            let outcome = self.outcome();
            self.actions.push_back(Action::Ready(outcome));
            return true;
        }
        self.idle = false;
        self.reader.clear();
        self.send(b"RSET\r\n");
        self.expect.push_back(Expect::Rset);
        true
    }

    /// Ends a kept connection (in [`Phase::Idle`]): QUIT, then
    /// [`Action::Done`] with no recipients once the server answers or the
    /// connection goes.
    pub fn close(&mut self) {
        if !self.idle || self.done {
            return;
        }
        self.idle = false;
        self.quit();
    }

    /// Takes bytes from the server. Whole replies are handled at once;
    /// a partial one waits for the rest. Ignored while the TLS handshake
    /// is pending and after the end. Replies that come while the content
    /// is being sent wait for [`Client::body_end`].
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.done || self.waiting_tls || self.idle {
            return;
        }
        self.reader.push(bytes);
        self.process();
    }

    /// Handles buffered replies, except while the content is being sent:
    /// replies that arrive early wait until [`Client::body_end`].
    fn process(&mut self) {
        while !self.done && !self.waiting_tls && self.body.is_none() {
            match self.reader.next_reply() {
                None => break,
                Some(Ok(r)) => self.on_reply(r),
                Some(Err(e)) => {
                    let phase = self.phase();
                    // RFC 3463 3.6: X.5.0 other protocol status.
                    let d = Diagnostic::local("4.5.0", format!("protocol error: {e}"), phase);
                    self.fail(d, true);
                }
            }
        }
    }

    /// The next action, or `None` when the client waits for the server
    /// (or for the adapter's answer to [`Action::StartTls`] or
    /// [`Action::SendBody`]).
    pub fn poll(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// What the client waits for; the adapter bounds the wait with
    /// [`Timeouts::for_phase`].
    pub fn phase(&self) -> Phase {
        if self.done {
            Phase::Done
        } else if self.idle {
            Phase::Idle
        } else if self.body.is_some() {
            Phase::DataBlock
        } else if self.waiting_tls {
            Phase::StartTls
        } else {
            self.expect.front().map_or(Phase::Quit, |e| e.phase())
        }
    }

    /// Answer to [`Action::StartTls`]: TLS is up. The client forgets what
    /// the server said in the clear and sends EHLO again (RFC 3207 4.2).
    pub fn tls_established(&mut self) {
        if !std::mem::take(&mut self.waiting_tls) {
            return;
        }
        self.tls = true;
        self.caps = Caps::default();
        self.reader.clear();
        self.send_ehlo();
    }

    /// Answer to [`Action::StartTls`], or for implicit TLS the news before
    /// the greeting: the handshake failed. Every undecided recipient is
    /// deferred; [`Outcome::tls_failed`] is set.
    pub fn tls_failed(&mut self, reason: &str) {
        let implicit_start =
            self.job.implicit_tls && !self.done && self.expect.front() == Some(&Expect::Greeting);
        if !std::mem::take(&mut self.waiting_tls) && !implicit_start {
            return;
        }
        self.tls = false;
        self.tls_failed = true;
        // RFC 3463 3.8: X.7.0 other security status.
        let d = Diagnostic::local(
            "4.7.0",
            format!("TLS handshake failed: {reason}"),
            Phase::StartTls,
        );
        self.fail(d, false);
    }

    /// Encodes one piece of the content into `out` (after
    /// [`Action::SendBody`]). Appends at most
    /// `BodyEncoder::max_output(input.len()) + 24` octets.
    pub fn body_chunk(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let Some(body) = self.body.as_mut() else {
            return;
        };
        if !body.chunking {
            body.encoder.push(input, out);
            return;
        }
        body.scratch.clear();
        body.encoder.push(input, &mut body.scratch);
        if body.scratch.is_empty() {
            return;
        }
        // RFC 3030 2: BDAT <chunk-size>, then exactly that many octets.
        out.extend_from_slice(format!("BDAT {}\r\n", body.scratch.len()).as_bytes());
        out.extend_from_slice(&body.scratch);
        self.expect.push_back(Expect::Bdat { last: false });
    }

    /// Ends the content: the `.` line for DATA, or the `BDAT n LAST`
    /// chunk. The client then waits for the final reply.
    pub fn body_end(&mut self, out: &mut Vec<u8>) {
        let Some(mut body) = self.body.take() else {
            return;
        };
        if body.chunking {
            body.scratch.clear();
            body.encoder.finish(&mut body.scratch);
            out.extend_from_slice(format!("BDAT {} LAST\r\n", body.scratch.len()).as_bytes());
            out.extend_from_slice(&body.scratch);
            self.expect.push_back(Expect::Bdat { last: true });
        } else {
            body.encoder.finish(out);
            self.expect.push_back(Expect::DataEnd { discard: false });
        }
        self.process();
    }

    /// The TCP connection could not be made: undecided recipients are
    /// deferred with 4.4.1 (RFC 3463 3.5: no answer from host).
    pub fn connect_failed(&mut self, reason: &str) {
        if self.done {
            return;
        }
        let d = Diagnostic::local("4.4.1", reason, Phase::Greeting);
        self.fail(d, false);
    }

    /// The connection broke, closed or timed out (`reason` says which).
    /// After the final reply this only ends the session; before it,
    /// undecided recipients are deferred with 4.4.2 (RFC 3463 3.5: bad
    /// connection).
    pub fn connection_lost(&mut self, reason: &str) {
        if self.done {
            return;
        }
        if self.idle || self.expect.front() == Some(&Expect::Quit) {
            return self.finish();
        }
        let d = Diagnostic::local("4.4.2", reason, self.phase());
        self.fail(d, false);
    }

    /// The adapter cannot go on for a reason of its own (the queued
    /// message cannot be read): undecided recipients are deferred with
    /// 4.3.0 (RFC 3463 3.4: other mail system status). The adapter closes
    /// the connection without ending the content, so the server discards
    /// what it got (RFC 5321 4.1.1.4).
    pub fn local_failure(&mut self, reason: &str) {
        if self.done {
            return;
        }
        let d = Diagnostic::local("4.3.0", reason, self.phase());
        self.fail(d, false);
    }

    // ---- replies ----

    fn on_reply(&mut self, r: ServerReply) {
        let Some(expect) = self.expect.pop_front() else {
            let d = Diagnostic::local(
                "4.5.0",
                format!("protocol error: unexpected reply {}", r.summary()),
                self.phase(),
            );
            return self.fail(d, true);
        };
        let phase = expect.phase();
        // RFC 5321 3.8: 421 means the server is closing the channel.
        if r.code() == 421 && expect != Expect::Quit {
            return self.fail(Diagnostic::remote(&r, 4, phase), false);
        }
        match expect {
            Expect::Greeting => self.on_greeting(r),
            Expect::Ehlo => match r.class() {
                2 => {
                    self.esmtp = true;
                    self.caps = Caps::parse(r.lines());
                    self.remember_host(&r);
                    self.after_hello();
                }
                // RFC 5321 4.1.4 / 3.2: an old server; try HELO.
                5 if !self.tls_tried => {
                    self.send(format!("HELO {}\r\n", self.ehlo_name()).as_bytes());
                    self.expect.push_back(Expect::Helo);
                }
                _ => self.fail(Diagnostic::remote(&r, 4, phase), true),
            },
            Expect::Helo => match r.class() {
                2 => {
                    self.esmtp = false;
                    self.caps = Caps::default();
                    self.remember_host(&r);
                    self.after_hello();
                }
                _ => self.fail(Diagnostic::remote(&r, 4, phase), true),
            },
            Expect::StartTls => {
                if r.code() == 220 {
                    // RFC 3207 4.2: anything after the 220 came in the
                    // clear and must not be read as a reply under TLS.
                    self.reader.clear();
                    self.waiting_tls = true;
                    self.actions.push_back(Action::StartTls);
                } else if self.job.tls == TlsPolicy::Required {
                    self.fail(Diagnostic::remote(&r, 4, phase), true);
                } else {
                    // Opportunistic: go on in the clear (RFC 7435 3).
                    self.after_hello();
                }
            }
            Expect::Auth(step) => self.on_auth(step, r),
            Expect::Mail => self.on_mail(r),
            Expect::Rcpt(i) => self.on_rcpt(i, r),
            Expect::Data => self.on_data(r),
            Expect::DataEnd { discard } => {
                if !discard {
                    self.settle_content(&r, phase);
                }
                if !self.done {
                    self.end_transaction();
                }
            }
            Expect::Bdat { last } => self.on_bdat(last, r),
            Expect::Quit => self.finish(),
            Expect::Rset => match r.class() {
                2 => self.start_transaction(),
                // The connection is of no more use; a new one may work.
                _ => self.fail(Diagnostic::remote(&r, 4, Phase::Reset), true),
            },
        }
    }

    fn on_greeting(&mut self, r: ServerReply) {
        let mut greeting = r.summary();
        reply::truncate(&mut greeting, 255);
        self.greeting = Some(greeting);
        self.remember_host(&r);
        if r.code() == 220 {
            self.send_ehlo();
        } else {
            // RFC 5321 3.1: a 554 greeting means no service here; the
            // client should QUIT. Another host or a later try may work.
            self.fail(Diagnostic::remote(&r, 4, Phase::Greeting), true);
        }
    }

    fn on_auth(&mut self, step: AuthStep, r: ServerReply) {
        let Some(creds) = self.job.auth.clone() else {
            return self.protocol_error(&r, Phase::Auth);
        };
        match (step, r.code()) {
            // RFC 4954 4: 235 when authentication succeeded.
            (AuthStep::Plain | AuthStep::LoginPassword, 235) => {
                self.authenticated = true;
                self.start_transaction();
            }
            (AuthStep::LoginStart, 334) => {
                let line = format!("{}\r\n", base64::encode(creds.username.as_bytes()));
                self.send(line.as_bytes());
                self.expect.push_back(Expect::Auth(AuthStep::LoginUser));
            }
            (AuthStep::LoginUser, 334) => {
                let line = format!("{}\r\n", base64::encode(creds.password.as_bytes()));
                self.send(line.as_bytes());
                self.expect.push_back(Expect::Auth(AuthStep::LoginPassword));
            }
            // A refusal (535 5.7.8 and the like) is a configuration problem
            // on our side or theirs: defer, do not bounce.
            (_, 400..=599) => self.fail(Diagnostic::remote(&r, 4, Phase::Auth), true),
            _ => self.protocol_error(&r, Phase::Auth),
        }
    }

    fn on_mail(&mut self, r: ServerReply) {
        match r.class() {
            2 => {}
            // RFC 5321 4.2.5 / 3.3: the whole transaction failed, for
            // every recipient alike.
            4 => {
                let d = Diagnostic::remote(&r, 4, Phase::Mail);
                self.settle_pending(|| RcptResult::Temporary(d.clone()));
            }
            5 => {
                let d = Diagnostic::remote(&r, 5, Phase::Mail);
                self.settle_pending(|| RcptResult::Permanent(d.clone()));
            }
            _ => return self.protocol_error(&r, Phase::Mail),
        }
        if !self.caps.pipelining {
            if r.class() == 2 {
                self.send_next_rcpt();
            } else {
                self.end_transaction();
            }
        }
    }

    fn on_rcpt(&mut self, i: usize, r: ServerReply) {
        let result = match r.class() {
            2 => None,
            4 => Some(RcptResult::Temporary(Diagnostic::remote(
                &r,
                4,
                Phase::Rcpt,
            ))),
            5 => Some(RcptResult::Permanent(Diagnostic::remote(
                &r,
                5,
                Phase::Rcpt,
            ))),
            _ => return self.protocol_error(&r, Phase::Rcpt),
        };
        // With PIPELINING the replies to RCPT still come after a failed
        // MAIL; that failure already decided them.
        if let Some(slot @ Rcpt::Pending) = self.rcpts.get_mut(i) {
            *slot = match result {
                None => Rcpt::Accepted,
                Some(res) => Rcpt::Final(res),
            };
        }
        if !self.caps.pipelining {
            self.send_next_rcpt();
        } else if self.expect.is_empty() {
            // Pipelined without DATA in the group: BDAT follows.
            self.after_rcpts();
        }
    }

    fn on_data(&mut self, r: ServerReply) {
        let accepted = self.accepted();
        match r.code() {
            // RFC 5321 4.1.1.4: 354, then the content.
            354 if accepted => {
                self.body = Some(Body {
                    encoder: BodyEncoder::data(),
                    chunking: false,
                    scratch: Vec::new(),
                });
                self.actions.push_back(Action::SendBody);
            }
            354 => {
                // RFC 2920 3.1: every RCPT failed but DATA was accepted:
                // end it with an empty message and forget the answer.
                self.send(b".\r\n");
                self.expect.push_back(Expect::DataEnd { discard: true });
            }
            400..=599 => {
                if accepted {
                    self.settle_content(&r, Phase::DataInit);
                }
                self.end_transaction();
            }
            _ => self.protocol_error(&r, Phase::DataInit),
        }
    }

    fn on_bdat(&mut self, last: bool, r: ServerReply) {
        let phase = Expect::Bdat { last }.phase();
        match r.class() {
            2 => {}
            4 | 5 => {
                if self.bdat_failure.is_none() {
                    let class = r.class();
                    let d = Diagnostic::remote(&r, class, phase);
                    self.bdat_failure = Some(if class == 4 {
                        RcptResult::Temporary(d)
                    } else {
                        RcptResult::Permanent(d)
                    });
                }
            }
            _ => return self.protocol_error(&r, phase),
        }
        if !last {
            return;
        }
        match self.bdat_failure.take() {
            Some(failure) => self.settle_accepted(|| failure.clone()),
            None => self.settle_content(&r, phase),
        }
        self.end_transaction();
    }

    /// Applies the verdict on the content to the accepted recipients.
    fn settle_content(&mut self, r: &ServerReply, phase: Phase) {
        match r.class() {
            2 => {
                let d = Diagnostic::remote(r, 2, phase);
                self.settle_accepted(|| RcptResult::Delivered(d.clone()));
            }
            4 => {
                let d = Diagnostic::remote(r, 4, phase);
                self.settle_accepted(|| RcptResult::Temporary(d.clone()));
            }
            5 => {
                let d = Diagnostic::remote(r, 5, phase);
                self.settle_accepted(|| RcptResult::Permanent(d.clone()));
            }
            _ => self.protocol_error(r, phase),
        }
    }

    // ---- commands ----

    fn ehlo_name(&self) -> String {
        // Never let a configured name add words or lines to the command.
        let name: String = self
            .job
            .ehlo_name
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(255)
            .collect();
        if name.is_empty() {
            "localhost".to_string()
        } else {
            name
        }
    }

    fn send_ehlo(&mut self) {
        self.send(format!("EHLO {}\r\n", self.ehlo_name()).as_bytes());
        self.expect.push_back(Expect::Ehlo);
    }

    /// After a successful EHLO or HELO: STARTTLS, AUTH, then MAIL.
    fn after_hello(&mut self) {
        let policy = self.job.tls;
        if !self.tls && policy != TlsPolicy::None && self.caps.starttls && !self.tls_tried {
            self.tls_tried = true;
            self.send(b"STARTTLS\r\n");
            self.expect.push_back(Expect::StartTls);
            return;
        }
        if !self.tls && policy == TlsPolicy::Required {
            // RFC 3463 / RFC 5248: X.7.10 encryption needed.
            let d = Diagnostic::local(
                "4.7.10",
                "TLS is required but the server does not offer STARTTLS",
                Phase::StartTls,
            );
            return self.fail(d, true);
        }
        let Some(creds) = self.job.auth.clone() else {
            return self.start_transaction();
        };
        if !self.tls && policy != TlsPolicy::None {
            let d = Diagnostic::local(
                "4.7.10",
                "credentials are sent only under TLS, and the server does not offer STARTTLS",
                Phase::Auth,
            );
            return self.fail(d, true);
        }
        if self.caps.auth_plain {
            // RFC 4616 2: [authzid] NUL authcid NUL passwd, sent as an
            // initial response (RFC 4954 4).
            let mut msg = creds.authzid.into_bytes();
            msg.push(0);
            msg.extend_from_slice(creds.username.as_bytes());
            msg.push(0);
            msg.extend_from_slice(creds.password.as_bytes());
            let line = format!("AUTH PLAIN {}\r\n", base64::encode(&msg));
            self.send(line.as_bytes());
            self.expect.push_back(Expect::Auth(AuthStep::Plain));
        } else if self.caps.auth_login {
            self.send(b"AUTH LOGIN\r\n");
            self.expect.push_back(Expect::Auth(AuthStep::LoginStart));
        } else {
            let d = Diagnostic::local(
                "4.7.0",
                "the server offers neither AUTH PLAIN nor AUTH LOGIN",
                Phase::Auth,
            );
            self.fail(d, true);
        }
    }

    /// MAIL, and with PIPELINING every RCPT (and DATA) in the same write.
    fn start_transaction(&mut self) {
        if let Some(d) = self.refusal_before_mail() {
            self.settle_pending(|| RcptResult::Permanent(d.clone()));
            return self.end_transaction();
        }
        let Ok(sender) = self.sender.clone() else {
            return self.end_transaction();
        };
        let mut line = format!("MAIL FROM:{sender}");
        // RFC 1870 3: SIZE=<octets> only when the server offers SIZE.
        if self.caps.size.is_some() {
            line.push_str(&format!(" SIZE={}", self.job.size));
        }
        // RFC 6152 2: BODY=8BITMIME for 8-bit content.
        if self.job.eight_bit {
            line.push_str(" BODY=8BITMIME");
        }
        // RFC 6531 3.4: SMTPUTF8 on MAIL.
        if self.smtputf8 {
            line.push_str(" SMTPUTF8");
        }
        // RFC 3461 4: the DSN parameters only to a server that offers DSN.
        let wants_dsn = self.job.ret.is_some()
            || self.job.envid.is_some()
            || self
                .job
                .recipients
                .iter()
                .any(|r| r.notify.is_some() || r.orcpt.is_some());
        self.dsn_passed = self.caps.dsn && wants_dsn;
        if self.caps.dsn {
            match self.job.ret {
                Some(Ret::Full) => line.push_str(" RET=FULL"),
                Some(Ret::Headers) => line.push_str(" RET=HDRS"),
                None => {}
            }
            // RFC 3461 4.4: ENVID is xtext, at most 100 characters.
            if let Some(envid) = &self.job.envid {
                let x = xtext_encode(envid);
                if x.len() <= 100 {
                    line.push_str(&format!(" ENVID={x}"));
                }
            }
        }
        line.push_str("\r\n");
        self.send(line.as_bytes());
        self.expect.push_back(Expect::Mail);
        if !self.caps.pipelining {
            return;
        }
        // RFC 2920 3.1: MAIL, RCPT... and DATA may go in one group.
        for i in 0..self.rcpts.len() {
            self.push_rcpt(i);
        }
        if !self.use_chunking() {
            self.send(b"DATA\r\n");
            self.expect.push_back(Expect::Data);
        }
    }

    /// Refusals known from the EHLO reply alone.
    fn refusal_before_mail(&self) -> Option<Diagnostic> {
        // RFC 1870 6.1: do not send a message larger than the limit.
        if let Some(limit) = self.caps.size.filter(|&l| l > 0 && self.job.size > l) {
            return Some(Diagnostic::local(
                "5.3.4",
                format!(
                    "message of {} octets exceeds the server's limit of {limit} octets",
                    self.job.size
                ),
                Phase::Mail,
            ));
        }
        // RFC 6531 3.2: no SMTPUTF8, no UTF-8 message; 5.6.7 (RFC 6531 3.5).
        if self.smtputf8 && !self.caps.smtputf8 {
            return Some(Diagnostic::local(
                "5.6.7",
                "the message needs SMTPUTF8 and the server does not support it",
                Phase::Mail,
            ));
        }
        // RFC 6152 3: 8-bit content only to an 8BITMIME server; 5.6.3
        // conversion required but not supported (RFC 3463 3.7).
        if self.job.eight_bit && !self.caps.eight_bit {
            return Some(Diagnostic::local(
                "5.6.3",
                "the message has 8-bit content and the server does not support 8BITMIME",
                Phase::Mail,
            ));
        }
        None
    }

    fn use_chunking(&self) -> bool {
        self.caps.chunking && self.caps.pipelining
    }

    /// Queues `RCPT TO` for recipient `i` if it is still undecided.
    fn push_rcpt(&mut self, i: usize) -> bool {
        let (Some(Rcpt::Pending), Some(Some(path)), Some(r)) = (
            self.rcpts.get(i),
            self.paths.get(i),
            self.job.recipients.get(i),
        ) else {
            return false;
        };
        let mut line = format!("RCPT TO:{path}");
        if self.caps.dsn {
            // RFC 3461 4.1: NOTIFY=NEVER or a list of SUCCESS/FAILURE/DELAY.
            if let Some(n) = r.notify {
                let mut kinds = Vec::new();
                if n.success {
                    kinds.push("SUCCESS");
                }
                if n.failure {
                    kinds.push("FAILURE");
                }
                if n.delay {
                    kinds.push("DELAY");
                }
                if kinds.is_empty() {
                    kinds.push("NEVER");
                }
                line.push_str(&format!(" NOTIFY={}", kinds.join(",")));
            }
            // RFC 3461 4.2: ORCPT=addr-type;xtext.
            if let Some(orcpt) = &r.orcpt {
                let (kind, addr) = orcpt.split_once(';').unwrap_or(("rfc822", orcpt));
                let atom = !kind.is_empty()
                    && kind
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if atom {
                    line.push_str(&format!(" ORCPT={kind};{}", xtext_encode(addr)));
                }
            }
        }
        line.push_str("\r\n");
        self.send(line.as_bytes());
        self.expect.push_back(Expect::Rcpt(i));
        true
    }

    /// Without PIPELINING: the next RCPT, or what follows the last one.
    fn send_next_rcpt(&mut self) {
        while self.next_rcpt < self.rcpts.len() {
            let i = self.next_rcpt;
            self.next_rcpt += 1;
            if self.push_rcpt(i) {
                return;
            }
        }
        self.after_rcpts();
    }

    /// Every RCPT answered: the content, or QUIT when nobody is left.
    fn after_rcpts(&mut self) {
        if !self.accepted() {
            return self.end_transaction();
        }
        if self.use_chunking() {
            self.body = Some(Body {
                encoder: BodyEncoder::chunking(),
                chunking: true,
                scratch: Vec::new(),
            });
            self.actions.push_back(Action::SendBody);
        } else {
            self.send(b"DATA\r\n");
            self.expect.push_back(Expect::Data);
        }
    }

    /// The transaction is over: QUIT, or with [`Client::keep_open`] the
    /// outcome now and the connection kept.
    fn end_transaction(&mut self) {
        if self.done {
            return;
        }
        if self.keep_open && self.expect.is_empty() {
            self.idle = true;
            let outcome = self.outcome();
            self.actions.push_back(Action::Ready(outcome));
            return;
        }
        self.quit();
    }

    fn quit(&mut self) {
        if self.done {
            return;
        }
        // RFC 5321 4.1.1.10.
        self.send(b"QUIT\r\n");
        self.expect.clear();
        self.expect.push_back(Expect::Quit);
    }

    // ---- endings ----

    fn protocol_error(&mut self, r: &ServerReply, phase: Phase) {
        let d = Diagnostic::local(
            "4.5.0",
            format!(
                "protocol error: unexpected reply {} to {}",
                r.summary(),
                phase.command()
            ),
            phase,
        );
        self.fail(d, true);
    }

    /// Ends the session early: undecided recipients get `d` as a temporary
    /// failure. `quit` sends a QUIT first (not after a 421 or a broken
    /// connection).
    fn fail(&mut self, d: Diagnostic, quit: bool) {
        if self.done {
            return;
        }
        self.settle_pending(|| RcptResult::Temporary(d.clone()));
        self.settle_accepted(|| RcptResult::Temporary(d.clone()));
        if quit {
            self.send(b"QUIT\r\n");
        }
        self.finish();
    }

    fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.idle = false;
        self.body = None;
        self.expect.clear();
        let outcome = self.outcome();
        self.actions.push_back(Action::Done(outcome));
    }

    /// The results so far, undecided recipients deferred; the recipients
    /// are taken.
    fn outcome(&mut self) -> Outcome {
        let leftover = Diagnostic::local(
            "4.4.2",
            "the session ended without a result for this recipient",
            Phase::Done,
        );
        let recipients = std::mem::take(&mut self.rcpts)
            .into_iter()
            .map(|r| match r {
                Rcpt::Final(res) => res,
                Rcpt::Pending | Rcpt::Accepted => RcptResult::Temporary(leftover.clone()),
            })
            .collect();
        Outcome {
            recipients,
            tls: self.tls,
            tls_failed: self.tls_failed,
            authenticated: self.authenticated,
            greeting: self.greeting.clone(),
            remote_host: self.remote_host.clone(),
            dsn_passed: self.dsn_passed,
        }
    }

    // ---- helpers ----

    fn send(&mut self, bytes: &[u8]) {
        if let Some(Action::Send(v)) = self.actions.back_mut() {
            v.extend_from_slice(bytes);
        } else {
            self.actions.push_back(Action::Send(bytes.to_vec()));
        }
    }

    fn accepted(&self) -> bool {
        self.rcpts.iter().any(|r| matches!(r, Rcpt::Accepted))
    }

    fn settle_pending(&mut self, result: impl Fn() -> RcptResult) {
        for r in &mut self.rcpts {
            if matches!(r, Rcpt::Pending) {
                *r = Rcpt::Final(result());
            }
        }
    }

    fn settle_accepted(&mut self, result: impl Fn() -> RcptResult) {
        for r in &mut self.rcpts {
            if matches!(r, Rcpt::Accepted) {
                *r = Rcpt::Final(result());
            }
        }
    }

    /// The host name from the greeting (or EHLO reply, RFC 5321 4.1.1.1:
    /// its first word is the server's domain).
    fn remember_host(&mut self, r: &ServerReply) {
        if self.remote_host.is_some() {
            return;
        }
        let word = r
            .lines()
            .first()
            .and_then(|l| l.split(' ').next())
            .unwrap_or("");
        let plausible = !word.is_empty()
            && word.len() <= 255
            && word
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
        if plausible {
            self.remote_host = Some(word.to_string());
        }
    }
}

#[cfg(test)]
mod tests;
