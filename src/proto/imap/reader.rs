//! The incremental command reader: bytes in, [`Event`]s out.
//!
//! IMAP commands are lines that may carry literals (RFC 9051 §4.3): a line
//! ending in `{n}` announces `n` octets that follow, after which the
//! command line goes on. The reader assembles a command's text (lines and
//! literals) in a bounded buffer and parses it when the final line ends.
//!
//! Literals need the session's word:
//! - A synchronising literal `{n}` (RFC 9051 §7.5) waits for the server's
//!   `+` before the client sends it. The reader reports
//!   [`Event::LiteralRequest`] (or [`Event::AppendBegin`] with `sync`) and
//!   stops until the session calls [`Reader::accept_literal`] (after
//!   writing `+ ...`) or [`Reader::reject_literal`] (after writing a tagged
//!   `NO` or `BAD`; the client then abandons the command).
//! - A non-synchronising literal `{n+}` (RFC 7888) is sent at once. Under
//!   LITERAL- (RFC 7888 §5) only up to 4096 octets may be sent this way.
//!
//! A literal8 `~{n}` or `~{n+}` (RFC 3516 §4.4, RFC 4466 §4, RFC 9051 §4.3)
//! may carry any octet, NUL included; it is only allowed for APPEND
//! message data, where it is handled exactly like a literal (the same
//! APPENDLIMIT, the same streaming), and is a syntax error anywhere else.
//!
//! APPEND message data (RFC 9051 §6.3.12) is never buffered: it is handed
//! out as [`Event::AppendData`] slices of the caller's input, between
//! [`Event::AppendBegin`] and [`Event::AppendEnd`]. The APPEND command
//! itself ([`CommandBody::Append`]) arrives once its line has ended.
//!
//! Errors resynchronise at the next command line. A literal that is too
//! large is refused before the client sends it when it is synchronising;
//! a non-synchronising one arrives anyway, so the reader skips its octets
//! (and any further `{n+}` literals of that command) and only then reports
//! the error. RFC 7888 §4 also lets a server close the connection there;
//! we prefer to stay in step and answer, which costs only reading time.
//!
//! AUTHENTICATE responses (RFC 9051 §6.2.2) and the `DONE` of IDLE
//! (RFC 2177 §3) are not commands: after [`Reader::expect_line`] the next
//! line comes out raw as [`Event::Line`].

use super::command::{AppendMessage, Command, CommandBody, Mailbox};
use super::parse::{self, ErrorKind, LiteralContext, ParseError};

/// Octets of command text (lines and literals, excluding APPEND message
/// data) held for one command. Each connection may hold this much while a
/// command is being read, so it bounds per-connection parser memory.
pub const MAX_COMMAND: usize = 64 * 1024;

/// Largest literal accepted outside APPEND's message (a login, a search
/// string, a mailbox name); it is held in the command buffer.
pub const MAX_LITERAL: u64 = 64 * 1024;

/// Largest `{n+}` literal under LITERAL- (RFC 7888 §5).
pub const LITERAL_MINUS_MAX: u64 = 4096;

/// Messages in one MULTIAPPEND (RFC 3502); each costs a small record
/// (flags, date, size) until the command ends.
pub const MAX_APPEND_MESSAGES: usize = 1000;

/// Bytes of a skipped line kept to spot a literal announced at its end
/// (`{` + 20 digits + `+}` fits).
const TAIL: usize = 32;

/// Limits of a [`Reader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Command text bound (see [`MAX_COMMAND`]).
    pub max_command: usize,
    /// Literal bound outside APPEND (see [`MAX_LITERAL`]).
    pub max_literal: u64,
    /// Largest APPEND message (the APPENDLIMIT, RFC 7889).
    pub append_limit: u64,
    /// LITERAL- is advertised instead of LITERAL+: `{n+}` only up to
    /// [`LITERAL_MINUS_MAX`].
    pub literal_minus: bool,
}

impl Limits {
    /// The default bounds with the given APPENDLIMIT, advertising LITERAL+.
    pub fn new(append_limit: u64) -> Limits {
        Limits {
            max_command: MAX_COMMAND,
            max_literal: MAX_LITERAL,
            append_limit,
            literal_minus: false,
        }
    }
}

/// What the reader found in the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Everything given was consumed (or is kept) and more input is needed.
    Incomplete,
    /// A complete command.
    Command(Command),
    /// A complete line after [`Reader::expect_line`], without its CRLF.
    Line(Vec<u8>),
    /// The client announced a synchronising literal of `size` octets for
    /// an argument. Answer with [`Reader::accept_literal`] after sending
    /// `+ ...`, or [`Reader::reject_literal`] after sending
    /// `tag NO/BAD ...`.
    LiteralRequest {
        /// The command's tag.
        tag: String,
        /// Announced size.
        size: u64,
    },
    /// An APPEND message begins (one per message under MULTIAPPEND). It
    /// must be answered like a literal request: [`Reader::accept_literal`]
    /// (after sending `+ ...` when `sync`) or [`Reader::reject_literal`]
    /// (after sending the tagged response: the reader then drops the
    /// command, skipping data that is already on its way).
    AppendBegin {
        /// The command's tag.
        tag: String,
        /// Target mailbox.
        mailbox: Mailbox,
        /// Flags, date and size of this message.
        message: AppendMessage,
        /// A synchronising literal: the client waits for `+`.
        sync: bool,
    },
    /// A piece of the current APPEND message, borrowed from the input.
    AppendData(&'a [u8]),
    /// The current APPEND message is complete. More messages or the end
    /// of the command follow.
    AppendEnd,
    /// The reader waits for [`Reader::accept_literal`] or
    /// [`Reader::reject_literal`]; nothing was consumed.
    AwaitingDecision,
    /// A bad command; [`ParseError::response`] is the line to send.
    Error(ParseError),
}

/// An APPEND whose messages are being received.
#[derive(Debug)]
struct AppendProgress {
    tag: String,
    mailbox: Mailbox,
    messages: Vec<AppendMessage>,
}

#[derive(Debug)]
enum State {
    /// Reading a line into the buffer.
    Line,
    /// Copying literal octets into the buffer.
    Literal { remaining: usize },
    /// A literal waits for the session's decision.
    Decide { size: u64, append: bool, sync: bool },
    /// Handing out APPEND message data.
    AppendData { remaining: u64 },
    /// The APPEND message has been handed out; report its end.
    AppendEnd,
    /// Dropping input up to the end of a bad command, then reporting
    /// `error` (if any).
    Skip {
        literal: u64,
        tail: Vec<u8>,
        error: Option<ParseError>,
    },
}

/// The incremental command reader of one connection.
#[derive(Debug)]
pub struct Reader {
    limits: Limits,
    state: State,
    /// The command text so far.
    buf: Vec<u8>,
    /// Where the line being read starts in `buf`.
    line_start: usize,
    append: Option<AppendProgress>,
    raw_line: bool,
}

impl Reader {
    /// A reader with these limits.
    pub fn new(limits: Limits) -> Reader {
        Reader {
            limits,
            state: State::Line,
            buf: Vec::new(),
            line_start: 0,
            append: None,
            raw_line: false,
        }
    }

    /// Changes the APPEND limit (e.g. once the user is known).
    pub fn set_append_limit(&mut self, limit: u64) {
        self.limits.append_limit = limit;
    }

    /// The current limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The next line is to be returned raw as [`Event::Line`] (an
    /// AUTHENTICATE response, or `DONE` after IDLE). Call it right after
    /// the command event, before feeding more input; it applies to one
    /// line. An over-long line gives an untagged [`ErrorKind::LineTooLong`]
    /// error instead.
    pub fn expect_line(&mut self) {
        self.raw_line = true;
    }

    /// Forgets everything (after STARTTLS, whose caller must also drop any
    /// input buffered before the handshake, RFC 9051 §6.2.1).
    pub fn reset(&mut self) {
        self.state = State::Line;
        self.buf = Vec::new();
        self.line_start = 0;
        self.append = None;
        self.raw_line = false;
    }

    /// Octets of command text held now (for tests and memory accounting).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Accepts the literal of the last [`Event::LiteralRequest`] or
    /// [`Event::AppendBegin`]. For a synchronising literal the session
    /// has sent `+ ...`. Does nothing when no decision is pending.
    pub fn accept_literal(&mut self) {
        if let State::Decide { size, append, .. } = self.state {
            self.state = if append {
                if size == 0 {
                    State::AppendEnd
                } else {
                    State::AppendData { remaining: size }
                }
            } else if size == 0 {
                State::Line
            } else {
                // `literal_announced` checked the size against the buffer.
                State::Literal {
                    remaining: usize::try_from(size).unwrap_or(0),
                }
            };
        }
    }

    /// Refuses the pending literal; the session has sent the tagged
    /// response, and the command is dropped. A synchronising literal will
    /// not be sent; a non-synchronising one is skipped with the rest of
    /// its command. Does nothing when no decision is pending.
    pub fn reject_literal(&mut self) {
        if let State::Decide { size, sync, .. } = self.state {
            self.clear();
            self.state = if sync {
                State::Line
            } else {
                State::Skip {
                    literal: size,
                    tail: Vec::new(),
                    error: None,
                }
            };
        }
    }

    /// Looks at `input` (the caller's unconsumed bytes) and returns how
    /// many octets to drop from its front, with the next event.
    ///
    /// [`Event::Incomplete`] means every octet was used (the count then
    /// equals `input.len()`) and more are needed; any other event may
    /// leave octets, so call again with the rest.
    pub fn next<'a>(&mut self, input: &'a [u8]) -> (usize, Event<'a>) {
        let mut pos = 0;
        loop {
            let rest = input.get(pos..).unwrap_or_default();
            match &mut self.state {
                State::Decide { .. } => return (pos, Event::AwaitingDecision),
                State::AppendEnd => {
                    self.state = State::Line;
                    return (pos, Event::AppendEnd);
                }
                State::AppendData { remaining } => {
                    if rest.is_empty() {
                        return (pos, Event::Incomplete);
                    }
                    let n = rest
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        self.state = State::AppendEnd;
                    }
                    return (pos + n, Event::AppendData(&rest[..n]));
                }
                State::Literal { remaining } => {
                    if rest.is_empty() {
                        return (pos, Event::Incomplete);
                    }
                    let n = rest.len().min(*remaining);
                    self.buf.extend_from_slice(&rest[..n]);
                    *remaining -= n;
                    pos += n;
                    if *remaining == 0 {
                        self.state = State::Line;
                        self.line_start = self.buf.len();
                    }
                }
                State::Skip {
                    literal,
                    tail,
                    error,
                } => {
                    if *literal > 0 {
                        let n = rest
                            .len()
                            .min(usize::try_from(*literal).unwrap_or(usize::MAX));
                        *literal -= n as u64;
                        pos += n;
                        if *literal > 0 || pos == input.len() {
                            return (pos, Event::Incomplete);
                        }
                        continue;
                    }
                    let Some(i) = rest.iter().position(|&b| b == b'\n') else {
                        keep_tail(tail, rest);
                        return (input.len(), Event::Incomplete);
                    };
                    keep_tail(tail, &rest[..i]);
                    pos += i + 1;
                    if tail.last() == Some(&b'\r') {
                        tail.pop();
                    }
                    // RFC 7888 §4: a `{n+}` literal comes whatever we said;
                    // skip it and the rest of its command too. A `{n}` one
                    // will not come: the client waits for `+`.
                    match literal_marker(tail) {
                        Some(Marker {
                            size, sync: false, ..
                        }) => {
                            *literal = size;
                            tail.clear();
                        }
                        _ => {
                            let error = error.take();
                            self.state = State::Line;
                            if let Some(e) = error {
                                return (pos, Event::Error(e));
                            }
                        }
                    }
                }
                State::Line => {
                    let newline = rest.iter().position(|&b| b == b'\n');
                    let len = newline.unwrap_or(rest.len());
                    if self.buf.len() + len > self.limits.max_command {
                        // Keep what fits, so that the tag can be read.
                        let room = self.limits.max_command.saturating_sub(self.buf.len());
                        let room = room.min(rest.len());
                        self.buf.extend_from_slice(&rest[..room]);
                        pos += room;
                        self.too_long();
                        continue;
                    }
                    let Some(i) = newline else {
                        self.buf.extend_from_slice(rest);
                        return (input.len(), Event::Incomplete);
                    };
                    self.buf.extend_from_slice(&rest[..i]);
                    pos += i + 1;
                    if self.buf.last() == Some(&b'\r') {
                        self.buf.pop();
                    }
                    if let Some(event) = self.line_end() {
                        return (pos, event);
                    }
                }
            }
        }
    }

    /// The line being read is over the limit: skip it, then report.
    fn too_long(&mut self) {
        let tag = if self.raw_line { None } else { self.tag() };
        let mut tail = Vec::new();
        keep_tail(
            &mut tail,
            self.buf.get(self.line_start..).unwrap_or_default(),
        );
        let error = ParseError {
            tag,
            kind: ErrorKind::LineTooLong,
            text: String::from("command line too long"),
        };
        self.raw_line = false;
        self.clear();
        self.state = State::Skip {
            literal: 0,
            tail,
            error: Some(error),
        };
    }

    /// The tag of the command being read, when known.
    fn tag(&self) -> Option<String> {
        match &self.append {
            Some(a) => Some(a.tag.clone()),
            None => parse::tag_of(&self.buf),
        }
    }

    /// Drops the command being read.
    fn clear(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > 4 * 1024 {
            // Give back the memory of an unusually large command.
            self.buf = Vec::new();
        }
        self.line_start = 0;
        self.append = None;
    }

    /// A line has ended (its text is `buf[line_start..]`).
    fn line_end(&mut self) -> Option<Event<'static>> {
        if self.raw_line {
            self.raw_line = false;
            let line = std::mem::take(&mut self.buf);
            self.clear();
            return Some(Event::Line(line));
        }
        let line = self.buf.get(self.line_start..).unwrap_or_default();
        if let Some(m) = literal_marker(line) {
            let at = self.line_start + m.at;
            self.buf.extend_from_slice(b"\r\n");
            return self.literal_announced(at, m.size, m.sync, m.binary);
        }
        if let Some(append) = self.append.take() {
            let event = if self.buf.is_empty() {
                Event::Command(Command {
                    tag: append.tag,
                    body: CommandBody::Append {
                        mailbox: append.mailbox,
                        messages: append.messages,
                    },
                })
            } else {
                Event::Error(ParseError {
                    tag: Some(append.tag),
                    kind: ErrorKind::Syntax,
                    text: String::from("unexpected text after the APPEND message"),
                })
            };
            self.clear();
            return Some(event);
        }
        if self.buf.is_empty() {
            // An empty line between commands is ignored.
            return None;
        }
        let event = match parse::parse_command(&self.buf) {
            Ok(cmd) => Event::Command(cmd),
            Err(e) => Event::Error(e),
        };
        self.clear();
        Some(event)
    }

    /// A line ended with a literal announcement that starts at `at` (its
    /// `{`, or the `~` of a literal8 when `binary`).
    fn literal_announced(
        &mut self,
        at: usize,
        size: u64,
        sync: bool,
        binary: bool,
    ) -> Option<Event<'static>> {
        let before = self.buf.get(..at).unwrap_or_default();
        let context = match &self.append {
            Some(a) => match parse::append_next(before) {
                Ok(meta) => Ok(LiteralContext::AppendMessage {
                    tag: a.tag.clone(),
                    mailbox: a.mailbox.clone(),
                    meta,
                }),
                Err(f) => Err(ParseError {
                    tag: Some(a.tag.clone()),
                    kind: f.kind,
                    text: f.text,
                }),
            },
            None => parse::literal_context(before),
        };
        let too_big = |tag: Option<String>, kind, text: &str| ParseError {
            tag,
            kind,
            text: String::from(text),
        };
        let minus_violation = !sync && self.limits.literal_minus && size > LITERAL_MINUS_MAX;
        match context {
            Err(e) => self.fail(e, size, sync),
            Ok(LiteralContext::AppendMessage {
                tag,
                mailbox,
                mut meta,
            }) => {
                let count = self.append.as_ref().map_or(0, |a| a.messages.len());
                if size > self.limits.append_limit {
                    // RFC 7889 §4 / RFC 4469 §5: TOOBIG.
                    let e = too_big(Some(tag), ErrorKind::AppendTooBig, "message too large");
                    return self.fail(e, size, sync);
                }
                if minus_violation {
                    let e = too_big(
                        Some(tag),
                        ErrorKind::LiteralTooLarge,
                        "non-synchronizing literal over 4096 octets",
                    );
                    return self.fail(e, size, sync);
                }
                if count >= MAX_APPEND_MESSAGES {
                    let e = too_big(Some(tag), ErrorKind::Syntax, "too many messages");
                    return self.fail(e, size, sync);
                }
                meta.size = size;
                let progress = self.append.get_or_insert_with(|| AppendProgress {
                    tag: tag.clone(),
                    mailbox: mailbox.clone(),
                    messages: Vec::new(),
                });
                progress.messages.push(meta.clone());
                self.buf.clear();
                self.line_start = 0;
                self.state = State::Decide {
                    size,
                    append: true,
                    sync,
                };
                Some(Event::AppendBegin {
                    tag,
                    mailbox,
                    message: meta,
                    sync,
                })
            }
            Ok(LiteralContext::Argument) if binary => {
                // RFC 3516 §4.5, RFC 9051 §9: a literal8 is only APPEND
                // message data (append-data); elsewhere it is a syntax
                // error.
                let e = too_big(
                    parse::tag_of(&self.buf),
                    ErrorKind::Syntax,
                    "a literal8 (~{n}) is only allowed for APPEND message data",
                );
                self.fail(e, size, sync)
            }
            Ok(LiteralContext::Argument) => {
                let tag = parse::tag_of(&self.buf);
                let room =
                    (self.limits.max_command - self.buf.len().min(self.limits.max_command)) as u64;
                if size > self.limits.max_literal || size > room {
                    let e = too_big(tag, ErrorKind::LiteralTooLarge, "literal too large");
                    return self.fail(e, size, sync);
                }
                if minus_violation {
                    let e = too_big(
                        tag,
                        ErrorKind::LiteralTooLarge,
                        "non-synchronizing literal over 4096 octets",
                    );
                    return self.fail(e, size, sync);
                }
                let Some(tag) = tag else {
                    let e = too_big(None, ErrorKind::Syntax, "missing tag");
                    return self.fail(e, size, sync);
                };
                self.line_start = self.buf.len();
                if sync {
                    self.state = State::Decide {
                        size,
                        append: false,
                        sync,
                    };
                    return Some(Event::LiteralRequest { tag, size });
                }
                self.state = State::Literal {
                    remaining: size as usize,
                };
                if size == 0 {
                    self.state = State::Line;
                }
                None
            }
        }
    }

    /// Drops the command over a literal of `size`: a synchronising one
    /// will not be sent, so report now; a non-synchronising one is
    /// skipped first.
    fn fail(&mut self, error: ParseError, size: u64, sync: bool) -> Option<Event<'static>> {
        self.clear();
        if sync {
            self.state = State::Line;
            return Some(Event::Error(error));
        }
        self.state = State::Skip {
            literal: size,
            tail: Vec::new(),
            error: Some(error),
        };
        None
    }
}

/// Keeps the last [`TAIL`] octets of a skipped line in `tail`.
fn keep_tail(tail: &mut Vec<u8>, more: &[u8]) {
    let more = &more[more.len().saturating_sub(TAIL)..];
    tail.extend_from_slice(more);
    let excess = tail.len().saturating_sub(TAIL);
    tail.drain(..excess);
}

/// A literal announced at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Marker {
    /// Where it starts: the `{`, or the `~` of a literal8.
    at: usize,
    /// Announced size; `u64::MAX` when too large for u64 (no limit
    /// accepts it).
    size: u64,
    /// `{n}` rather than `{n+}`.
    sync: bool,
    /// A literal8 `~{n}` (RFC 3516 §4.5, RFC 4466 §4, RFC 9051 §4.3).
    binary: bool,
}

/// A literal announcement `{n}`, `{n+}`, `~{n}` or `~{n+}` at the end of
/// `line`.
fn literal_marker(line: &[u8]) -> Option<Marker> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let binary = open > 0 && inner.get(open - 1) == Some(&b'~');
    let mut digits = &inner[open + 1..];
    let sync = match digits.strip_suffix(b"+") {
        Some(d) => {
            digits = d;
            false
        }
        None => true,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = digits.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    });
    Some(Marker {
        at: if binary { open - 1 } else { open },
        size: size.unwrap_or(u64::MAX),
        sync,
        binary,
    })
}

#[cfg(test)]
mod tests;
