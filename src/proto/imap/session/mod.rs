//! One IMAP server connection (IMAP4rev1, RFC 3501, by default; IMAP4rev2,
//! RFC 9051, after `ENABLE IMAP4rev2`), against the store.
//!
//! The session is fed received bytes with [`Session::feed`] and gives
//! [`Action`]s through [`Session::poll`]: bytes to write, a stored message's
//! body file to stream, TLS to start, credentials to check, the end of the
//! connection. It reads no clock (the caller passes `now`) and opens no
//! socket. It does call the store, which is synchronous: the adapter runs
//! `feed` and `poll` off the async executor (`smol::unblock`), and every
//! store call is short (one command, or one message of a FETCH, at a time).
//!
//! # Flow
//! - A command that needs the adapter (LOGIN / AUTHENTICATE, STARTTLS,
//!   LOGOUT) or that answers over several steps (FETCH streams one message
//!   per [`Session::poll`]) stops `feed` from taking more input until it is
//!   done, so responses stay in command order.
//! - IDLE: while [`Session::idle_watch`] gives a watch, the adapter waits
//!   for input or for [`crate::store::MailboxWatch::changed`], and on a
//!   change calls [`Session::mailbox_changed`].
//!
//! # Mailbox view
//! A selected mailbox is kept as the UIDs of the messages the client knows,
//! in sequence-number order (as runs of consecutive UIDs, see `uids`),
//! with the highest UID and modseq it was told about. Changes made by other sessions are read with
//! [`crate::store::Store::changes`] after each command and reported as
//! `EXISTS`, flag `FETCH`es and `EXPUNGE` (or `VANISHED` under QRESYNC),
//! except that expunges wait while FETCH, STORE or SEARCH run (RFC 3501
//! §7.4.1, RFC 9051 §7.5.1).

mod mailboxes;
mod messages;
#[cfg(test)]
mod tests;
mod uids;

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::command::{Command, CommandBody, Flag, Mailbox as MailboxArg};
use super::exec::MessageBytes;
use super::reader::{Event, Limits, Reader};
use super::{response, utf7, ErrorKind, SequenceSet};
use crate::mail::mime::{self, Structure};
use crate::proto::sasl::{self, Mechanism};
use crate::store::{flags, BlobId, MailboxWatch, MessageSummary, Store, StoreError};
use uids::UidList;

pub use messages::{JunkTraining, NoTraining};

/// Consecutive bad commands before the connection is closed, when the
/// config does not say.
pub const DEFAULT_MAX_BAD: u32 = 10;

/// Output kept before it is handed out as an [`Action::Write`]; a FETCH
/// of many messages is written in pieces of about this size. 16 KiB is
/// one TLS record (RFC 8446 §5.1) and bounds what each busy session
/// holds in the heap of the pool thread that runs it (a piece's vector
/// grows to about twice this).
const OUT_CHUNK: usize = 16 * 1024;

/// The answer to APPEND when the server's disk is down to its reserve
/// (RFC 5530 §3 OVERQUOTA: clients tell the user that deleting mail helps,
/// and expunging still works).
const NO_ROOM: &str =
    "NO [OVERQUOTA] The server is out of disk space; delete messages to make room";

/// Budget of a SEARCH: key evaluations plus bytes read.
const SEARCH_BUDGET: u64 = 2_000_000_000;

/// Session settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Server name for the greeting.
    pub hostname: String,
    /// LOGIN / AUTHENTICATE allowed without TLS.
    pub allow_plaintext_auth: bool,
    /// STARTTLS can be offered (a certificate is loaded).
    pub starttls_available: bool,
    /// Consecutive BAD responses before `* BYE`.
    pub max_bad_commands: u32,
    /// Inactivity before autologout, IDLE included (RFC 9051 §5.4: at
    /// least 30 minutes).
    pub idle_timeout: Duration,
    /// Largest APPEND message (RFC 7889 APPENDLIMIT).
    pub append_limit: u64,
    /// The hierarchy separator clients see (RFC 9051 §5.1); names are
    /// stored with [`crate::store::SEPARATOR`].
    pub separator: char,
    /// Time from the connection to a successful login, after which the
    /// session ends.
    pub login_timeout: Duration,
    /// Longest run of one SEARCH, measured with `clock`, before it is
    /// stopped with `NO [LIMIT]`.
    pub command_limit: Duration,
    /// The clock that measures `command_limit` while a command runs (the
    /// session reads no clock of its own); `None`: no time limit.
    pub clock: Option<fn() -> Instant>,
}

impl Config {
    /// Defaults for `hostname`: 30 minutes, 10 bad commands, 25 MiB, a
    /// minute to log in, no clock.
    pub fn new(hostname: String) -> Config {
        Config {
            hostname,
            allow_plaintext_auth: false,
            starttls_available: true,
            max_bad_commands: DEFAULT_MAX_BAD,
            idle_timeout: Duration::from_secs(30 * 60),
            append_limit: 25 << 20,
            separator: crate::store::SEPARATOR,
            login_timeout: Duration::from_secs(60),
            command_limit: Duration::from_secs(30),
            clock: None,
        }
    }
}

/// What the adapter must do.
#[derive(Debug)]
pub enum Action {
    /// Send these bytes.
    Write(Vec<u8>),
    /// Send `len` bytes of this body file from `offset` (part of a FETCH
    /// literal whose header was written before), each chunk passed through
    /// [`crate::proto::imap::response::without_nul`] (a literal carries no
    /// NUL). The file is open, so it stays readable even if the message is
    /// expunged meanwhile. A file shorter than announced is an error that
    /// must close the connection.
    SendFile {
        /// The body file.
        file: File,
        /// First byte.
        offset: u64,
        /// Bytes to send.
        len: u64,
    },
    /// Flush, then start TLS, then call [`Session::tls_established`]. Input
    /// received before the handshake must be dropped (RFC 9051 §6.2.1).
    StartTls,
    /// Check these credentials and call [`Session::auth_result`].
    Authenticate {
        /// SASL authorization identity (empty for none).
        authzid: String,
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// Flush and close the connection.
    Close,
}

/// The result of a credentials check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Verified; the account's address.
    Ok(String),
    /// Wrong user name or password.
    Failed,
    /// Too many failures from this client.
    Throttled,
    /// The check could not be made.
    TempFail,
}

/// The session state (RFC 9051 §3).
enum State {
    NotAuthenticated,
    Authenticated,
    Selected(Box<Selected>),
    Logout,
}

/// The selected mailbox as this session's client knows it.
struct Selected {
    id: u64,
    /// Name in UTF-8.
    name: String,
    read_only: bool,
    uidvalidity: u32,
    /// UIDs by sequence number (index + 1), ascending, as runs.
    uids: UidList,
    /// Highest UID the client was told about (or would have been).
    last_uid: u32,
    /// Modseq up to which changes were reported.
    modseq: u64,
    /// UIDs expunged by others, not yet reported (expunges wait during
    /// FETCH, STORE and SEARCH).
    pending_expunge: Vec<u32>,
    /// Modseqs of this session's own flag changes since the last sync,
    /// whose FETCH responses were already sent.
    own_modseqs: Vec<u64>,
    /// SEARCHRES `$` (RFC 5182), as UIDs.
    saved: Vec<u32>,
    /// Keywords the client was told of in FLAGS, beyond [`BASE_FLAGS`].
    keywords: Vec<String>,
    /// The UIDs `\Recent` in this session (RFC 3501 §2.3.2), as ascending
    /// ranges `[from, to)`: one per time the session took new messages,
    /// usually one or two. Empty under IMAP4rev2.
    recent: Vec<(u32, u32)>,
    watch: MailboxWatch,
}

/// Flags every mailbox supports (RFC 9051 §7.3.5 FLAGS); keywords the
/// mailbox's messages carry follow them.
const BASE_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $Junk $NotJunk";

/// The keywords among [`BASE_FLAGS`].
const BASE_KEYWORDS: [&str; 3] = ["$Forwarded", "$Junk", "$NotJunk"];

/// Keywords one mailbox view names in FLAGS beyond [`BASE_FLAGS`]. Each
/// costs its length (at most [`crate::store::MAX_KEYWORD_LEN`]) in every
/// session that has the mailbox selected, so this bounds a view at about
/// 64 KiB; keywords beyond it are shown in FETCH without an announcement.
const MAX_VIEW_KEYWORDS: usize = 256;

impl Selected {
    /// Whether message `uid` is `\Recent` in this session.
    fn is_recent(&self, uid: u32) -> bool {
        super::exec::in_ranges(&self.recent, uid)
    }

    /// How many messages of the view are `\Recent` in this session (RFC
    /// 3501 §7.3.2 RECENT).
    fn recent_count(&self) -> usize {
        self.recent
            .iter()
            .map(|&(a, b)| self.uids.count_below(b) - self.uids.count_below(a))
            .sum()
    }

    /// Adds the range `[from, to)` to the recent UIDs.
    fn add_recent(&mut self, range: Option<(u32, u32)>) {
        let Some((from, to)) = range else {
            return;
        };
        let from = from.max(self.recent.last().map_or(0, |r| r.1));
        match self.recent.last_mut() {
            _ if from >= to => {}
            Some(last) if last.1 == from => last.1 = to,
            _ => self.recent.push((from, to)),
        }
    }

    /// Adds the keywords of `kws` the client was not told of to the view
    /// and, if there were any, writes the new `FLAGS` and `PERMANENTFLAGS`
    /// to `out`. RFC 3501 §7.2.6 and RFC 9051 §7.3.5: a client must see a
    /// keyword in FLAGS before any response that shows it.
    fn announce(&mut self, kws: &[String], out: &mut Vec<u8>) {
        if learn_keywords(&mut self.keywords, kws) {
            write_flags(out, &self.keywords, self.read_only);
        }
    }
}

/// Adds the keywords of `kws` that `known` lacks (and [`BASE_FLAGS`]
/// does not name), up to [`MAX_VIEW_KEYWORDS`]; whether there were any.
fn learn_keywords(known: &mut Vec<String>, kws: &[String]) -> bool {
    let mut new = false;
    for k in kws {
        // RFC 9051 §2.3.2: keywords compare without case.
        let seen = BASE_KEYWORDS
            .iter()
            .copied()
            .chain(known.iter().map(String::as_str))
            .any(|x| x.eq_ignore_ascii_case(k));
        if !seen && known.len() < MAX_VIEW_KEYWORDS {
            known.push(k.clone());
            new = true;
        }
    }
    new
}

/// `* FLAGS (...)` and `* OK [PERMANENTFLAGS (...)]` of a view with these
/// keywords (RFC 9051 §7.3.5, §7.1).
fn write_flags(out: &mut Vec<u8>, keywords: &[String], read_only: bool) {
    let mut list = String::from(BASE_FLAGS);
    for k in keywords {
        list.push(' ');
        list.push_str(k);
    }
    out.extend_from_slice(format!("* FLAGS ({list})\r\n").as_bytes());
    if read_only {
        out.extend_from_slice(b"* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
    } else {
        out.extend_from_slice(
            format!("* OK [PERMANENTFLAGS ({list} \\*)] Flags permitted\r\n").as_bytes(),
        );
    }
}

/// What a pending literal or line belongs to.
enum Pending {
    /// An AUTHENTICATE exchange waiting for a response line.
    Sasl {
        tag: String,
        exchange: sasl::Exchange,
    },
    /// Credentials sent to the adapter.
    Auth { tag: String },
    /// IDLE waiting for DONE.
    Idle { tag: String },
    /// STARTTLS sent: nothing more until the handshake.
    Tls,
    /// A multi-step command (FETCH) under way.
    Job(messages::FetchJob),
}

/// An APPEND message being received.
struct Incoming {
    writer: Option<crate::store::BlobWriter>,
    parser: mime::Parser,
    flags: Vec<Flag>,
    date: Option<i64>,
    failed: bool,
}

/// APPEND messages received, waiting for the end of the command.
struct AppendState {
    current: Option<Incoming>,
    done: Vec<(
        crate::store::FinishedBlob,
        Structure,
        Vec<Flag>,
        Option<i64>,
    )>,
    failed: bool,
}

/// One IMAP connection.
pub struct Session {
    cfg: Arc<Config>,
    store: Arc<Store>,
    junk: Arc<dyn JunkTraining>,
    reader: Reader,
    state: State,
    account: String,
    tls: bool,
    rev2: bool,
    utf8: bool,
    condstore: bool,
    qresync: bool,
    bad: u32,
    out: Vec<u8>,
    actions: VecDeque<Action>,
    pending: Option<Pending>,
    append: Option<AppendState>,
    deadline: Instant,
    /// When a client that has not logged in is disconnected.
    login_by: Instant,
    unix_now: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("account", &self.account)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A new connection: queues the greeting. `tls` is true on the
    /// implicit-TLS port; `unix_now` is the wall clock (for APPEND dates).
    pub fn new(
        cfg: Arc<Config>,
        store: Arc<Store>,
        junk: Arc<dyn JunkTraining>,
        tls: bool,
        now: Instant,
        unix_now: i64,
    ) -> Session {
        let reader = Reader::new(Limits::new(cfg.append_limit));
        let mut s = Session {
            deadline: now + cfg.idle_timeout,
            login_by: now + cfg.login_timeout,
            cfg,
            store,
            junk,
            reader,
            state: State::NotAuthenticated,
            account: String::new(),
            tls,
            rev2: false,
            utf8: false,
            condstore: false,
            qresync: false,
            bad: 0,
            out: Vec::new(),
            actions: VecDeque::new(),
            pending: None,
            append: None,
            unix_now,
        };
        let caps = s.capabilities();
        s.line(&format!(
            "* OK [CAPABILITY {caps}] {} IMAP ready",
            s.cfg.hostname
        ));
        s
    }

    /// When the session times out if nothing comes (autologout), or, before
    /// login, when the time to log in is up (counted from the connection,
    /// whatever the client sends meanwhile).
    pub fn deadline(&self) -> Instant {
        match self.state {
            State::NotAuthenticated => self.deadline.min(self.login_by),
            _ => self.deadline,
        }
    }

    /// The logged-in account, or empty.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The mailbox watch to wait on while the client IDLEs in a selected
    /// mailbox.
    pub fn idle_watch(&self) -> Option<&MailboxWatch> {
        match (&self.pending, &self.state) {
            (Some(Pending::Idle { .. }), State::Selected(sel)) => Some(&sel.watch),
            _ => None,
        }
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Logout)
    }

    /// Takes as much of `input` as can be handled now and returns how many
    /// bytes were taken; call [`Session::poll`] afterwards. Input is not
    /// taken while a command waits for the adapter or is still answering.
    pub fn feed(&mut self, input: &[u8], now: Instant, unix_now: i64) -> usize {
        self.unix_now = unix_now;
        if !input.is_empty() {
            self.deadline = now + self.cfg.idle_timeout;
        }
        let mut pos = 0;
        while !self.blocked() {
            let rest = input.get(pos..).unwrap_or_default();
            let (n, event) = self.reader.next(rest);
            pos += n;
            match event {
                Event::Incomplete => break,
                Event::AwaitingDecision => break,
                Event::Command(cmd) => self.command(cmd),
                Event::Line(line) => self.raw_line(&line),
                Event::LiteralRequest { tag, size } => self.literal_request(&tag, size),
                Event::AppendBegin {
                    tag,
                    mailbox,
                    message,
                    sync,
                } => self.append_begin(&tag, &mailbox, message, sync),
                Event::AppendData(data) => self.append_data(data),
                Event::AppendEnd => self.append_end(),
                Event::Error(e) => {
                    self.append = None;
                    self.out.extend_from_slice(&e.response());
                    let bad = !matches!(e.kind, ErrorKind::AppendTooBig | ErrorKind::BadCharset);
                    if bad {
                        self.count_bad();
                    }
                }
            }
            self.flush_if_big();
        }
        self.flush();
        pos
    }

    /// The next thing to do, or `None` when the session needs input (or
    /// an answer from the adapter).
    pub fn poll(&mut self) -> Option<Action> {
        loop {
            if let Some(a) = self.actions.pop_front() {
                return Some(a);
            }
            if matches!(self.pending, Some(Pending::Job(_))) {
                self.run_job();
                self.flush_if_big();
                if !matches!(self.pending, Some(Pending::Job(_))) {
                    self.flush();
                }
                continue;
            }
            self.flush();
            if self.out.capacity() > OUT_CHUNK {
                self.out = Vec::new();
            }
            return self.actions.pop_front();
        }
    }

    /// The adapter's answer to [`Action::Authenticate`].
    pub fn auth_result(&mut self, outcome: AuthOutcome) {
        let Some(Pending::Auth { tag }) = self.pending.take() else {
            return;
        };
        match outcome {
            AuthOutcome::Ok(account) => {
                self.account = account;
                self.state = State::Authenticated;
                self.bad = 0;
                let caps = self.capabilities();
                self.line(&format!("{tag} OK [CAPABILITY {caps}] Logged in"));
            }
            // RFC 5530 §3: the same answer whatever was wrong.
            AuthOutcome::Failed => self.line(&format!(
                "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials"
            )),
            AuthOutcome::Throttled => self.line(&format!(
                "{tag} NO [AUTHENTICATIONFAILED] Too many failures, try again later"
            )),
            AuthOutcome::TempFail => self.line(&format!("{tag} NO [UNAVAILABLE] Try again later")),
        }
        self.flush();
    }

    /// TLS is up after [`Action::StartTls`].
    pub fn tls_established(&mut self) {
        self.tls = true;
        self.reader.reset();
        if matches!(self.pending, Some(Pending::Tls)) {
            self.pending = None;
        }
    }

    /// The selected mailbox changed while the client IDLEs: reports it.
    pub fn mailbox_changed(&mut self) {
        if matches!(self.pending, Some(Pending::Idle { .. })) {
            self.sync(true);
            self.flush();
        }
    }

    /// Nothing came before [`Session::deadline`]: autologout (RFC 9051
    /// §5.4).
    pub fn timed_out(&mut self, now: Instant) {
        if now < self.deadline() || self.is_closed() {
            return;
        }
        if matches!(self.state, State::NotAuthenticated) && now >= self.login_by {
            self.line("* BYE Login timeout");
        } else {
            self.line("* BYE Autologout; idle for too long");
        }
        self.close();
    }

    // ----- internals -----

    fn blocked(&self) -> bool {
        matches!(self.state, State::Logout)
            || matches!(
                self.pending,
                Some(Pending::Auth { .. } | Pending::Tls | Pending::Job(_))
            )
    }

    fn line(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    fn flush(&mut self) {
        if !self.out.is_empty() {
            let bytes = std::mem::take(&mut self.out);
            self.actions.push_back(Action::Write(bytes));
        }
    }

    fn flush_if_big(&mut self) {
        if self.out.len() >= OUT_CHUNK {
            self.flush();
        }
    }

    fn close(&mut self) {
        self.state = State::Logout;
        self.pending = None;
        self.append = None;
        self.flush();
        self.actions.push_back(Action::Close);
    }

    fn count_bad(&mut self) {
        self.bad += 1;
        if self.bad >= self.cfg.max_bad_commands.max(1) {
            self.line("* BYE Too many invalid commands");
            self.close();
        }
    }

    fn bad(&mut self, tag: &str, text: &str) {
        self.line(&format!("{tag} BAD {text}"));
        self.count_bad();
    }

    fn capabilities(&self) -> String {
        let mut c = String::from("IMAP4rev1 IMAP4rev2");
        if matches!(self.state, State::NotAuthenticated) {
            if !self.tls && self.cfg.starttls_available {
                c.push_str(" STARTTLS");
            }
            if self.tls || self.cfg.allow_plaintext_auth {
                c.push_str(" AUTH=PLAIN");
            } else {
                c.push_str(" LOGINDISABLED");
            }
        }
        c.push_str(
            " LITERAL+ SASL-IR ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN \
             LIST-EXTENDED LIST-STATUS SPECIAL-USE CREATE-SPECIAL-USE ESEARCH SEARCHRES \
             CONDSTORE QRESYNC STATUS=SIZE QUOTA QUOTA=RES-STORAGE ID UTF8=ACCEPT BINARY \
             MULTIAPPEND",
        );
        c.push_str(&format!(" APPENDLIMIT={}", self.cfg.append_limit));
        c
    }

    fn auth_allowed(&self) -> bool {
        self.tls || self.cfg.allow_plaintext_auth
    }

    /// A mailbox name from the client in UTF-8 (modified UTF-7 unless
    /// UTF8=ACCEPT / IMAP4rev2, RFC 3501 §5.1.3, RFC 9051 §5.1).
    fn name(&self, m: &MailboxArg) -> Option<String> {
        if m.is_inbox() {
            return Some("INBOX".into());
        }
        let s = m.as_str();
        let decoded = if self.utf8 {
            // UTF-8 clients may still send modified UTF-7 names.
            match utf7::decode(s.as_bytes()) {
                Ok(d) if s.contains('&') => d,
                _ => s.to_string(),
            }
        } else {
            utf7::decode(s.as_bytes()).ok()?
        };
        if decoded.eq_ignore_ascii_case("INBOX") {
            return Some("INBOX".into());
        }
        self.stored_name(&decoded)
    }

    /// A client's name in stored form: its separators become the store's.
    /// `None` when it holds the store's separator as an ordinary character
    /// (possible only with another client separator).
    fn stored_name(&self, client: &str) -> Option<String> {
        let sep = self.cfg.separator;
        if sep == crate::store::SEPARATOR {
            return Some(client.to_string());
        }
        if client.contains(crate::store::SEPARATOR) {
            return None;
        }
        Some(client.replace(sep, &crate::store::SEPARATOR.to_string()))
    }

    /// A LIST pattern in stored form. A store separator written as an
    /// ordinary character matches nothing (no name can hold it).
    fn stored_pattern(&self, client: &str) -> String {
        let sep = self.cfg.separator;
        if sep == crate::store::SEPARATOR {
            return client.to_string();
        }
        client
            .chars()
            .map(|c| {
                if c == sep {
                    crate::store::SEPARATOR
                } else if c == crate::store::SEPARATOR {
                    '\u{0}'
                } else {
                    c
                }
            })
            .collect()
    }

    /// A stored name as clients see it.
    fn client_name(&self, stored: &str) -> String {
        let sep = self.cfg.separator;
        if sep == crate::store::SEPARATOR {
            stored.to_string()
        } else {
            stored.replace(crate::store::SEPARATOR, &sep.to_string())
        }
    }

    /// The separator as a quoted string, for LIST, LSUB and NAMESPACE.
    fn quoted_separator(&self) -> String {
        match self.cfg.separator {
            c @ ('"' | '\\') => format!("\"\\{c}\""),
            c => format!("\"{c}\""),
        }
    }

    fn write_mailbox(&mut self, name: &str) {
        let shown = self.client_name(name);
        response::mailbox(&mut self.out, &shown, self.utf8);
    }

    fn literal_request(&mut self, tag: &str, size: u64) {
        // The reader checked the size against its bounds.
        let _ = (tag, size);
        self.line("+ Ready for literal data");
        self.reader.accept_literal();
    }

    fn raw_line(&mut self, line: &[u8]) {
        match self.pending.take() {
            Some(Pending::Idle { tag }) => {
                if line.eq_ignore_ascii_case(b"DONE") {
                    self.sync(true);
                    self.line(&format!("{tag} OK IDLE terminated"));
                    self.bad = 0;
                } else {
                    self.bad(&tag, "Expected DONE");
                }
            }
            Some(Pending::Sasl { tag, mut exchange }) => {
                let step = exchange.respond(line);
                self.sasl_step(tag, exchange, step);
            }
            other => self.pending = other,
        }
    }

    fn sasl_step(&mut self, tag: String, exchange: sasl::Exchange, step: sasl::Step) {
        match step {
            sasl::Step::Challenge(c) => {
                self.line(&format!("+ {c}"));
                self.reader.expect_line();
                self.pending = Some(Pending::Sasl { tag, exchange });
            }
            sasl::Step::Done(creds) => {
                self.actions.push_back(Action::Authenticate {
                    authzid: creds.authzid.clone(),
                    username: creds.username.clone(),
                    password: creds.password.clone(),
                });
                self.pending = Some(Pending::Auth { tag });
            }
            sasl::Step::Failed(sasl::SaslError::Cancelled) => {
                self.line(&format!("{tag} BAD Authentication cancelled"));
            }
            sasl::Step::Failed(_) => self.bad(&tag, "Invalid SASL response"),
        }
    }

    fn command(&mut self, cmd: Command) {
        let Command { tag, body } = cmd;
        let ok_so_far = self.bad;
        match (&self.state, body) {
            (_, CommandBody::Capability) => {
                let caps = self.capabilities();
                self.line(&format!("* CAPABILITY {caps}"));
                self.done(&tag, "CAPABILITY completed");
            }
            (_, CommandBody::Noop) => self.done(&tag, "NOOP completed"),
            (_, CommandBody::Logout) => {
                self.line("* BYE Logging out");
                self.line(&format!("{tag} OK LOGOUT completed"));
                self.close();
            }
            (_, CommandBody::Id(_)) => {
                self.line("* ID (\"name\" \"facteur\")");
                self.done(&tag, "ID completed");
            }
            (State::NotAuthenticated, CommandBody::StartTls) => {
                if self.tls || !self.cfg.starttls_available {
                    self.bad(&tag, "TLS is already active or not available");
                } else {
                    self.line(&format!("{tag} OK Begin TLS negotiation now"));
                    self.flush();
                    self.actions.push_back(Action::StartTls);
                    self.pending = Some(Pending::Tls);
                }
            }
            (State::NotAuthenticated, CommandBody::Login { username, password }) => {
                if !self.auth_allowed() {
                    // RFC 9051 §6.2.3 / RFC 3501 §6.2.3: LOGINDISABLED.
                    self.line(&format!("{tag} NO [PRIVACYREQUIRED] Use STARTTLS first"));
                } else {
                    self.actions.push_back(Action::Authenticate {
                        authzid: String::new(),
                        username,
                        password: password.0,
                    });
                    self.pending = Some(Pending::Auth { tag });
                }
            }
            (State::NotAuthenticated, CommandBody::Authenticate { mechanism, initial }) => {
                if !self.auth_allowed() {
                    self.line(&format!("{tag} NO [PRIVACYREQUIRED] Use STARTTLS first"));
                } else if mechanism != "PLAIN" {
                    self.line(&format!("{tag} NO Unsupported mechanism"));
                } else {
                    let (exchange, step) = sasl::Exchange::start(
                        Mechanism::Plain,
                        initial.as_ref().map(|s| s.0.as_bytes()),
                    );
                    self.sasl_step(tag, exchange, step);
                }
            }
            (
                _,
                CommandBody::StartTls
                | CommandBody::Login { .. }
                | CommandBody::Authenticate { .. },
            ) => self.bad(&tag, "Already authenticated"),
            (State::NotAuthenticated, _) => self.bad(&tag, "Log in first"),
            (_, CommandBody::Enable(caps)) => self.enable(&tag, &caps),
            (_, CommandBody::Namespace) => {
                let sep = self.quoted_separator();
                self.line(&format!("* NAMESPACE ((\"\" {sep})) NIL NIL"));
                self.done(&tag, "NAMESPACE completed");
            }
            (_, CommandBody::Idle) => {
                self.sync(true);
                self.line("+ idling");
                self.reader.expect_line();
                self.pending = Some(Pending::Idle { tag });
            }
            (_, CommandBody::Select { mailbox, params }) => {
                self.select(&tag, &mailbox, &params, false)
            }
            (_, CommandBody::Examine { mailbox, params }) => {
                self.select(&tag, &mailbox, &params, true)
            }
            (
                _,
                CommandBody::Create {
                    mailbox,
                    special_use,
                },
            ) => self.create(&tag, &mailbox, &special_use),
            (_, CommandBody::Delete(m)) => self.delete(&tag, &m),
            (_, CommandBody::Rename { from, to }) => self.rename(&tag, &from, &to),
            (_, CommandBody::Subscribe(m)) => self.subscribe(&tag, &m, true),
            (_, CommandBody::Unsubscribe(m)) => self.subscribe(&tag, &m, false),
            (_, CommandBody::List(l)) => self.list(&tag, &l),
            (_, CommandBody::Lsub { reference, pattern }) => self.lsub(&tag, &reference, &pattern),
            (_, CommandBody::Status { mailbox, items }) => self.status(&tag, &mailbox, &items),
            (_, CommandBody::Append { mailbox, messages }) => {
                self.append_commit(&tag, &mailbox, &messages)
            }
            (_, CommandBody::GetQuota(root)) => self.get_quota(&tag, Some(&root), None),
            (_, CommandBody::GetQuotaRoot(m)) => self.get_quota(&tag, None, Some(&m)),
            (_, CommandBody::SetQuota { .. }) => self.line(&format!(
                "{tag} NO [NOPERM] Quotas are set by the administrator"
            )),
            (State::Selected(_), body) => self.selected_command(&tag, body),
            (_, _) => self.bad(&tag, "No mailbox selected"),
        }
        if self.bad == ok_so_far && self.bad > 0 && !self.is_closed() {
            // A command that was not BAD ends the run of bad ones.
            self.bad = 0;
        }
    }

    /// Reports changes and sends `tag OK text`.
    fn done(&mut self, tag: &str, text: &str) {
        self.sync(true);
        self.line(&format!("{tag} OK {text}"));
    }

    fn enable(&mut self, tag: &str, caps: &[String]) {
        if matches!(self.state, State::Selected(_)) {
            // RFC 5161 §3.1: only in the authenticated state.
            return self.bad(tag, "ENABLE is only valid before SELECT");
        }
        let mut enabled = Vec::new();
        for c in caps {
            let known = match c.as_str() {
                "IMAP4REV2" => {
                    self.rev2 = true;
                    self.utf8 = true;
                    "IMAP4rev2"
                }
                "CONDSTORE" => {
                    self.condstore = true;
                    "CONDSTORE"
                }
                "QRESYNC" => {
                    // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
                    self.qresync = true;
                    self.condstore = true;
                    "QRESYNC"
                }
                "UTF8=ACCEPT" => {
                    self.utf8 = true;
                    "UTF8=ACCEPT"
                }
                _ => continue,
            };
            if !enabled.contains(&known) {
                enabled.push(known);
            }
        }
        let mut l = String::from("* ENABLED");
        for e in enabled {
            l.push(' ');
            l.push_str(e);
        }
        self.line(&l);
        self.line(&format!("{tag} OK ENABLE completed"));
    }

    /// GETQUOTA and GETQUOTAROOT (RFC 9208). An account has one quota root,
    /// "", and only when it has a limit: the grammar's quota-list holds at
    /// least one resource, so an account without a limit has no root, and
    /// its mailboxes' QUOTAROOT lists none.
    fn get_quota(&mut self, tag: &str, root: Option<&str>, mailbox: Option<&MailboxArg>) {
        let quota = match self.store.quota(&self.account) {
            Ok(q) => q,
            Err(e) => return self.store_error(tag, &e),
        };
        let has_root = quota.limit > 0;
        if let Some(m) = mailbox {
            let exists = self
                .name(m)
                .and_then(|n| self.store.mailbox(&self.account, &n).ok().flatten())
                .is_some();
            if !exists {
                return self.line(&format!("{tag} NO [NONEXISTENT] No such mailbox"));
            }
            self.out.extend_from_slice(b"* QUOTAROOT ");
            self.write_mailbox(&m.0.clone());
            if has_root {
                self.out.extend_from_slice(b" \"\"");
            }
            self.out.extend_from_slice(b"\r\n");
        } else if root != Some("") || !has_root {
            return self.line(&format!("{tag} NO [NONEXISTENT] No such quota root"));
        }
        if has_root {
            // STORAGE is in units of 1024 octets; usage rounds up.
            self.line(&format!(
                "* QUOTA \"\" (STORAGE {} {})",
                quota.used.div_ceil(1024),
                quota.limit / 1024
            ));
        }
        self.done(tag, "GETQUOTA completed");
    }

    /// Answers a store failure; internal details go to the log only.
    fn store_error(&mut self, tag: &str, e: &StoreError) {
        match e {
            StoreError::NotFound(_) => {
                self.line(&format!("{tag} NO [NONEXISTENT] No such mailbox"))
            }
            StoreError::Exists(_) => self.line(&format!("{tag} NO [ALREADYEXISTS] Mailbox exists")),
            StoreError::Invalid(s) => {
                let s = s.replace(['\r', '\n'], " ");
                self.line(&format!("{tag} NO [CANNOT] {s}"))
            }
            StoreError::OverQuota(_) => self.line(&format!("{tag} NO [OVERQUOTA] Quota exceeded")),
            StoreError::InsufficientStorage { .. } => self.line(&format!("{tag} {NO_ROOM}")),
            StoreError::Conflict(_) => self.line(&format!("{tag} NO [INUSE] Try again")),
            other => {
                log::error!("imap: store error for {}: {other}", self.account);
                self.line(&format!("{tag} NO [SERVERBUG] Internal error"))
            }
        }
    }

    // ----- APPEND -----

    fn append_begin(
        &mut self,
        tag: &str,
        mailbox: &MailboxArg,
        message: super::AppendMessage,
        sync: bool,
    ) {
        let refuse = |s: &mut Session, line: String| {
            s.append = None;
            s.line(&line);
            s.reader.reject_literal();
        };
        if matches!(self.state, State::NotAuthenticated | State::Logout) {
            return refuse(self, format!("{tag} BAD Log in first"));
        }
        let Some(name) = self.name(mailbox) else {
            return refuse(self, format!("{tag} NO Invalid mailbox name"));
        };
        match self.store.mailbox(&self.account, &name) {
            Ok(Some(_)) => {}
            // RFC 9051 §6.3.12: TRYCREATE when the mailbox does not exist.
            Ok(None) => return refuse(self, format!("{tag} NO [TRYCREATE] No such mailbox")),
            Err(e) => {
                log::error!("imap: {e}");
                return refuse(self, format!("{tag} NO [SERVERBUG] Internal error"));
            }
        }
        let already: u64 = self
            .append
            .as_ref()
            .map(|a| a.done.iter().map(|d| d.0.size).sum())
            .unwrap_or(0);
        if let Err(StoreError::OverQuota(_)) = self
            .store
            .check_quota(&self.account, message.size + already)
        {
            return refuse(self, format!("{tag} NO [OVERQUOTA] Quota exceeded"));
        }
        // Refused before the literal is taken, like the quota.
        if let Err(e @ StoreError::InsufficientStorage { .. }) = self.store.check_room() {
            log::warn!("imap: APPEND by {} refused: {e}", self.account);
            return refuse(self, format!("{tag} {NO_ROOM}"));
        }
        let writer = match self.store.blob_writer() {
            Ok(w) => w,
            Err(e) => {
                log::error!("imap: cannot store an APPEND: {e}");
                return refuse(self, format!("{tag} NO [SERVERBUG] Internal error"));
            }
        };
        let state = self.append.get_or_insert(AppendState {
            current: None,
            done: Vec::new(),
            failed: false,
        });
        state.current = Some(Incoming {
            writer: Some(writer),
            parser: mime::Parser::new(),
            flags: message.flags,
            date: message.date,
            failed: false,
        });
        if sync {
            self.line("+ Ready for literal data");
        }
        self.reader.accept_literal();
    }

    fn append_data(&mut self, data: &[u8]) {
        let Some(inc) = self.append.as_mut().and_then(|a| a.current.as_mut()) else {
            return;
        };
        inc.parser.feed(data);
        if let Some(w) = inc.writer.as_mut() {
            if let Err(e) = w.write(data) {
                log::error!("imap: writing an APPEND failed: {e}");
                inc.failed = true;
                inc.writer = None;
            }
        }
    }

    fn append_end(&mut self) {
        let Some(state) = self.append.as_mut() else {
            return;
        };
        let Some(inc) = state.current.take() else {
            return;
        };
        let structure = inc.parser.finish();
        match inc.writer.map(|w| w.finish()) {
            Some(Ok(blob)) if !inc.failed => {
                state.done.push((blob, structure, inc.flags, inc.date))
            }
            Some(Err(e)) => {
                log::error!("imap: finishing an APPEND failed: {e}");
                state.failed = true;
            }
            _ => state.failed = true,
        }
    }

    // ----- mailbox view -----

    /// Reads the changes of the selected mailbox and reports them. With
    /// `expunge` false (FETCH, STORE, SEARCH), expunges are held back.
    fn sync(&mut self, expunge: bool) {
        let State::Selected(sel) = &mut self.state else {
            return;
        };
        sel.watch.mark_seen();
        let ch = match self.store.changes(sel.id, sel.last_uid, sel.modseq) {
            Ok(ch) => ch,
            Err(StoreError::NotFound(_)) => {
                self.line("* BYE The selected mailbox was deleted");
                return self.close();
            }
            Err(e) => {
                log::error!("imap: reading changes: {e}");
                return;
            }
        };
        if ch.uidvalidity != sel.uidvalidity {
            self.line("* BYE The selected mailbox was recreated");
            return self.close();
        }
        for (lo, hi) in &ch.vanished {
            let a = sel.uids.count_below(*lo);
            let b = sel.uids.count_upto(*hi);
            sel.pending_expunge.extend(sel.uids.range(a, b));
        }
        sel.pending_expunge.sort_unstable();
        sel.pending_expunge.dedup();
        let mut out = Vec::new();
        if expunge && !sel.pending_expunge.is_empty() {
            let gone = std::mem::take(&mut sel.pending_expunge);
            expunge_view(sel, &gone, self.qresync, &mut out);
        }
        let mut fetches = Vec::new();
        for s in &ch.changed {
            if sel.own_modseqs.contains(&s.modseq)
                || sel.pending_expunge.binary_search(&s.uid).is_ok()
            {
                continue;
            }
            if let Ok(i) = sel.uids.position(s.uid) {
                fetches.push((i as u32 + 1, s.clone()));
            }
        }
        sel.own_modseqs.clear();
        let before = sel.uids.len();
        for s in &ch.added {
            sel.uids.push(s.uid);
        }
        if sel.uids.len() != before {
            // RFC 3501 §2.3.2: new messages are recent in the session
            // that is first told of them.
            let upto = sel.uids.last().unwrap_or(0).saturating_add(1);
            let range = take_recent(&self.store, self.rev2, sel.id, sel.read_only, upto);
            sel.add_recent(range);
        }
        let kws = fetches.iter().map(|(_, s)| s).chain(&ch.added);
        if kws.fold(false, |new, s| {
            learn_keywords(&mut sel.keywords, &s.keywords) | new
        }) {
            write_flags(&mut out, &sel.keywords, sel.read_only);
        }
        if sel.uids.len() != before {
            out.extend_from_slice(format!("* {} EXISTS\r\n", sel.uids.len()).as_bytes());
            if !self.rev2 {
                // RFC 3501 §7.3.2: RECENT goes with EXISTS.
                out.extend_from_slice(format!("* {} RECENT\r\n", sel.recent_count()).as_bytes());
            }
        }
        sel.last_uid = sel.last_uid.max(ch.uidnext.saturating_sub(1));
        sel.modseq = sel.modseq.max(ch.highestmodseq);
        let modseq = self.condstore;
        for (seq, s) in fetches {
            write_flags_fetch(&mut out, seq, &s, modseq, sel.is_recent(s.uid));
        }
        self.out.extend_from_slice(&out);
    }

    fn selected(&mut self) -> Option<&mut Selected> {
        match &mut self.state {
            State::Selected(s) => Some(s),
            _ => None,
        }
    }
}

/// Removes `gone` UIDs from the view, writing `* n EXPUNGE` (highest
/// sequence number first, so no number shifts under the client, RFC 9051
/// §7.5.1) or one `* VANISHED` under QRESYNC (RFC 7162 §3.2.10).
fn expunge_view(sel: &mut Selected, gone: &[u32], qresync: bool, out: &mut Vec<u8>) {
    let mut seqs: Vec<usize> = gone
        .iter()
        .filter_map(|&u| sel.uids.position(u).ok())
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    if seqs.is_empty() {
        return;
    }
    if qresync {
        let uids: Vec<u32> = seqs.iter().filter_map(|&i| sel.uids.get(i)).collect();
        out.extend_from_slice(
            format!("* VANISHED {}\r\n", response::sequence_set(uids)).as_bytes(),
        );
    } else {
        for &i in seqs.iter().rev() {
            out.extend_from_slice(format!("* {} EXPUNGE\r\n", i + 1).as_bytes());
        }
    }
    let mut uids: Vec<u32> = gone.to_vec();
    uids.sort_unstable();
    sel.uids.remove(&uids);
}

/// `* seq FETCH (UID n FLAGS (...) [MODSEQ (m)])`.
fn write_flags_fetch(out: &mut Vec<u8>, seq: u32, s: &MessageSummary, modseq: bool, recent: bool) {
    out.extend_from_slice(format!("* {seq} FETCH (UID {} FLAGS ", s.uid).as_bytes());
    response::flag_list(out, &flag_list(s.flags, &s.keywords), recent);
    if modseq {
        out.extend_from_slice(format!(" MODSEQ ({})", s.modseq).as_bytes());
    }
    out.extend_from_slice(b")\r\n");
}

/// The UIDs below `upto` of mailbox `mailbox` that become `\Recent` in a
/// session (RFC 3501 §2.3.2), as a range `[from, upto)`: none under
/// IMAP4rev2 (RFC 9051 has no `\Recent`); read-write, those no session has
/// taken yet, which this one takes; read-only (EXAMINE), those no session
/// has taken yet, left for the next SELECT (as Dovecot does).
fn take_recent(
    store: &Store,
    rev2: bool,
    mailbox: u64,
    read_only: bool,
    upto: u32,
) -> Option<(u32, u32)> {
    if rev2 {
        return None;
    }
    let first = if read_only {
        store.first_recent(mailbox)
    } else {
        store.take_recent(mailbox, upto)
    };
    match first {
        Ok(from) => (from < upto).then_some((from, upto)),
        Err(e) => {
            log::error!("imap: reading the recent messages: {e}");
            None
        }
    }
}

/// Store flags as parser flags.
fn flag_list(bits: u8, keywords: &[String]) -> Vec<Flag> {
    let mut v = Vec::new();
    for (bit, f) in [
        (flags::SEEN, Flag::Seen),
        (flags::ANSWERED, Flag::Answered),
        (flags::FLAGGED, Flag::Flagged),
        (flags::DELETED, Flag::Deleted),
        (flags::DRAFT, Flag::Draft),
    ] {
        if bits & bit != 0 {
            v.push(f);
        }
    }
    v.extend(keywords.iter().map(|k| Flag::Keyword(k.clone())));
    v
}

/// Parser flags as store bits and keywords; extension flags are dropped
/// (RFC 9051 §2.3.2 lets a server refuse to keep them).
fn store_flags(fl: &[Flag]) -> (u8, Vec<String>) {
    let mut bits = 0;
    let mut kw = Vec::new();
    for f in fl {
        match f {
            Flag::Seen => bits |= flags::SEEN,
            Flag::Answered => bits |= flags::ANSWERED,
            Flag::Flagged => bits |= flags::FLAGGED,
            Flag::Deleted => bits |= flags::DELETED,
            Flag::Draft => bits |= flags::DRAFT,
            Flag::Keyword(k) => kw.push(k.clone()),
            Flag::Extension(_) => {}
        }
    }
    (bits, kw)
}

/// Reads a stored message (prefix, then body file) by offset.
struct StoredBytes {
    prefix: Vec<u8>,
    file: Option<File>,
    store: Arc<Store>,
    blob: BlobId,
}

impl StoredBytes {
    fn new(store: &Arc<Store>, prefix: Vec<u8>, blob: BlobId) -> StoredBytes {
        StoredBytes {
            prefix,
            file: None,
            store: store.clone(),
            blob,
        }
    }
}

impl MessageBytes for StoredBytes {
    fn read_range(
        &mut self,
        start: u64,
        len: u64,
        out: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let plen = self.prefix.len() as u64;
        let end = start.saturating_add(len);
        if start < plen {
            let a = start as usize;
            let b = end.min(plen) as usize;
            out(self.prefix.get(a..b).unwrap_or_default());
        }
        if end <= plen {
            return Ok(());
        }
        let from = start.max(plen) - plen;
        let mut left = end - plen - from;
        if self.file.is_none() {
            self.file = Some(
                self.store
                    .open_blob(&self.blob)
                    .map_err(|e| std::io::Error::other(e.to_string()))?,
            );
        }
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        f.seek(SeekFrom::Start(from))?;
        let mut buf = vec![0u8; 16 * 1024];
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = f.read(buf.get_mut(..want).unwrap_or_default())?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            out(buf.get(..n).unwrap_or_default());
            left -= n as u64;
        }
        Ok(())
    }
}

/// The structure of a stored message: from its cache, or parsed from its
/// bytes (and then cached).
fn structure_of(
    store: &Arc<Store>,
    mailbox: u64,
    uid: u32,
) -> Option<(Structure, Vec<u8>, BlobId)> {
    let m = store.message(mailbox, uid).ok()??;
    if let Some(s) = m.cache.as_deref().and_then(mime::decode) {
        return Some((s, m.prefix, m.blob));
    }
    let mut p = mime::Parser::new();
    let mut bytes = StoredBytes::new(store, m.prefix.clone(), m.blob);
    bytes.read_range(0, m.size, &mut |b| p.feed(b)).ok()?;
    let s = p.finish();
    let _ = store.set_cache(mailbox, uid, Some(mime::encode(&s)));
    Some((s, m.prefix, m.blob))
}

/// UID ranges (ascending, disjoint) within `set` (all when `None`), as a
/// sequence set; the cost follows the number of ranges, not of UIDs.
fn intersect(ranges: &[(u32, u32)], set: Option<&SequenceSet>, largest: u32) -> String {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &(lo, hi) in ranges {
        match set {
            None => out.push((lo, hi)),
            Some(s) => {
                for (a, b) in s.bounds(largest) {
                    let (x, y) = (lo.max(a), hi.min(b));
                    if x <= y {
                        out.push((x, y));
                    }
                }
            }
        }
    }
    out.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::new();
    for (a, b) in out {
        match merged.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    let parts: Vec<String> = merged
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}:{b}")
            }
        })
        .collect();
    parts.join(",")
}

/// Messages of the view a sequence set names, as (seq, uid), ascending.
/// `Err` for a sequence number beyond the view (RFC 9051 §9: invalid).
fn resolve(sel: &Selected, set: &SequenceSet, uid: bool) -> Result<Vec<(u32, u32)>, ()> {
    let mut idx: Vec<usize> = Vec::new();
    match set {
        SequenceSet::Saved => {
            for u in &sel.saved {
                if let Ok(i) = sel.uids.position(*u) {
                    idx.push(i);
                }
            }
        }
        SequenceSet::Ranges(r) => {
            if uid {
                let largest = sel.uids.last().unwrap_or(0);
                for (lo, hi) in set.bounds(largest) {
                    let a = sel.uids.count_below(lo);
                    let b = sel.uids.count_upto(hi);
                    idx.extend(a..b);
                }
            } else {
                let n = sel.uids.len() as u32;
                if n == 0 && !r.is_empty() {
                    return Err(());
                }
                for (lo, hi) in set.bounds(n) {
                    if lo == 0 || hi > n {
                        return Err(());
                    }
                    idx.extend((lo as usize - 1)..(hi as usize));
                }
            }
        }
    }
    idx.sort_unstable();
    idx.dedup();
    Ok(idx
        .into_iter()
        .filter_map(|i| sel.uids.get(i).map(|u| (i as u32 + 1, u)))
        .collect())
}
