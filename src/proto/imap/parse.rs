//! Parsing of one complete command text into a [`Command`] (RFC 9051 §9
//! formal syntax, RFC 3501 §9 for the IMAP4rev1 forms).
//!
//! The text is what [`super::Reader`] assembled: the command line with
//! each literal inlined as `{n}` CRLF and its `n` octets, without the final
//! CRLF. Parsing works on that slice with a [`Cursor`] that also enforces
//! the nesting and item bounds.

use super::command::*;
use super::sequence;
use super::{fetch, search, store, MAX_DEPTH, MAX_ITEMS};

/// Why a command could not be accepted, with what to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The command's tag when it could be read; `None` means the answer
    /// is untagged (`* BAD`).
    pub tag: Option<String>,
    /// The class of error, which decides the response.
    pub kind: ErrorKind,
    /// Human-readable text for the response.
    pub text: String,
}

/// Classes of [`ParseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed arguments: `BAD`.
    Syntax,
    /// A command name we do not know: `BAD`.
    UnknownCommand,
    /// The command text exceeded [`super::Limits::max_command`]: `BAD`.
    LineTooLong,
    /// A literal over the limit for its place (or a `{n+}` over 4096
    /// under LITERAL-, RFC 7888 §5): `BAD [TOOBIG]`.
    LiteralTooLarge,
    /// An APPEND message over the APPENDLIMIT (RFC 7889 §4): `NO [TOOBIG]`.
    AppendTooBig,
    /// SEARCH with a charset other than UTF-8 or US-ASCII (RFC 9051
    /// §6.4.4): `NO [BADCHARSET (UTF-8 US-ASCII)]`.
    BadCharset,
}

impl ParseError {
    /// The response line to send, CRLF included.
    pub fn response(&self) -> Vec<u8> {
        let tag = self.tag.as_deref().unwrap_or("*");
        let text = self.text.replace(['\r', '\n'], " ");
        let line = match self.kind {
            ErrorKind::Syntax | ErrorKind::UnknownCommand | ErrorKind::LineTooLong => {
                format!("{tag} BAD {text}\r\n")
            }
            ErrorKind::LiteralTooLarge => format!("{tag} BAD [TOOBIG] {text}\r\n"),
            ErrorKind::AppendTooBig => format!("{tag} NO [TOOBIG] {text}\r\n"),
            ErrorKind::BadCharset => {
                format!("{tag} NO [BADCHARSET (UTF-8 US-ASCII)] {text}\r\n")
            }
        };
        line.into_bytes()
    }
}

/// An error found while parsing, before the tag is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fail {
    pub(crate) kind: ErrorKind,
    pub(crate) text: String,
}

/// Result of the parsing helpers.
pub(crate) type PResult<T> = Result<T, Fail>;

/// A syntax error with this text.
pub(crate) fn bad(text: impl Into<String>) -> Fail {
    Fail {
        kind: ErrorKind::Syntax,
        text: text.into(),
    }
}

/// A position in a command text, with the nesting depth and the count of
/// items (ranges, search keys, list entries) charged so far.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: usize,
    items: usize,
}

/// RFC 9051 §9 `atom-specials` plus CTL and non-ASCII: what may not
/// appear in an atom. `]` is left to the callers that allow it.
fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// `ASTRING-CHAR = ATOM-CHAR / resp-specials`.
fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// `list-char = ATOM-CHAR / list-wildcards / resp-specials`.
fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor {
            buf,
            pos: 0,
            depth: 0,
            items: 0,
        }
    }

    /// The next octet.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// The octet `n` places after the next one.
    pub(crate) fn peek_at(&self, n: usize) -> Option<u8> {
        self.buf.get(self.pos + n).copied()
    }

    /// Whether everything has been read.
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Consumes `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Requires `b` next.
    pub(crate) fn expect(&mut self, b: u8) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(bad(format!("expected '{}'", char::from(b))))
        }
    }

    /// Requires one space.
    pub(crate) fn sp(&mut self) -> PResult<()> {
        if self.eat(b' ') {
            Ok(())
        } else if self.at_end() {
            Err(bad("missing argument"))
        } else {
            Err(bad("expected a space"))
        }
    }

    /// Requires the end of the command.
    pub(crate) fn end(&self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(bad("unexpected text after the arguments"))
        }
    }

    /// Consumes the case-insensitive word `w` when it is next and not
    /// followed by another atom character.
    pub(crate) fn eat_word(&mut self, w: &str) -> bool {
        let end = self.pos + w.len();
        match self.buf.get(self.pos..end) {
            Some(s) if s.eq_ignore_ascii_case(w.as_bytes()) => {
                if self.buf.get(end).is_some_and(|&b| is_atom_char(b)) {
                    return false;
                }
                self.pos = end;
                true
            }
            _ => false,
        }
    }

    /// Enters one level of nesting (RFC 9051 §9 allows unbounded nesting
    /// of search keys; we stop at [`MAX_DEPTH`]).
    pub(crate) fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(bad("too deeply nested"));
        }
        Ok(())
    }

    /// Leaves one level of nesting.
    pub(crate) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Charges `n` items against [`MAX_ITEMS`].
    pub(crate) fn charge(&mut self, n: usize) -> PResult<()> {
        self.items += n;
        if self.items > MAX_ITEMS {
            return Err(bad("too many items in one command"));
        }
        Ok(())
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    /// `atom = 1*ATOM-CHAR`.
    pub(crate) fn atom(&mut self) -> PResult<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return Err(bad(if self.at_end() {
                "missing argument"
            } else {
                "expected an atom"
            }));
        }
        Ok(a)
    }

    /// An atom, upper-cased, as text.
    pub(crate) fn atom_upper(&mut self) -> PResult<String> {
        // Atoms are ASCII, so this cannot lose anything.
        Ok(String::from_utf8_lossy(self.atom()?).to_ascii_uppercase())
    }

    /// `astring = 1*ASTRING-CHAR / string`.
    pub(crate) fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    return Err(bad(if self.at_end() {
                        "missing argument"
                    } else {
                        "expected a string"
                    }));
                }
                Ok(a.to_vec())
            }
        }
    }

    /// An astring that must be UTF-8 text.
    pub(crate) fn astring_text(&mut self) -> PResult<String> {
        utf8(self.astring()?)
    }

    /// `string = quoted / literal`.
    pub(crate) fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal().map(<[u8]>::to_vec),
            _ => Err(bad("expected a string")),
        }
    }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`; `\` escapes only `"` and
    /// `\` (RFC 9051 §9 `quoted-specials`). UTF-8 is allowed (RFC 9051
    /// `QUOTED-CHAR` includes UTF8-2..4).
    pub(crate) fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(bad("unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b @ (b'"' | b'\\')) => {
                            out.push(b);
                            self.pos += 1;
                        }
                        _ => return Err(bad("invalid escape in quoted string")),
                    }
                }
                Some(0 | b'\r' | b'\n') => return Err(bad("invalid octet in quoted string")),
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// `literal = "{" number64 ["+"] "}" CRLF *CHAR8` (RFC 9051 §9,
    /// RFC 7888): the reader has already placed the octets inline.
    pub(crate) fn literal(&mut self) -> PResult<&'a [u8]> {
        self.expect(b'{')?;
        let n = self.number64()?;
        self.eat(b'+');
        self.expect(b'}')?;
        if !self.eat(b'\r') || !self.eat(b'\n') {
            return Err(bad("a literal must end its line"));
        }
        let n = usize::try_from(n).map_err(|_| bad("literal too large"))?;
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(bad("truncated literal"));
        };
        let data = &self.buf[self.pos..end];
        self.pos = end;
        Ok(data)
    }

    /// `nstring = string / nil`.
    pub(crate) fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.eat_word("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// `number64 = 1*DIGIT`, up to 2^63 - 1 (RFC 9051 §9).
    pub(crate) fn number64(&mut self) -> PResult<u64> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(bad("expected a number"));
        }
        let mut n: u64 = 0;
        for &d in digits {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .filter(|&n| n <= i64::MAX as u64)
                .ok_or_else(|| bad("number too large"))?;
        }
        Ok(n)
    }

    /// `number = 1*DIGIT` fitting 32 bits.
    pub(crate) fn number(&mut self) -> PResult<u32> {
        u32::try_from(self.number64()?).map_err(|_| bad("number too large"))
    }

    /// `nz-number`.
    pub(crate) fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => Err(bad("zero is not allowed here")),
            n => Ok(n),
        }
    }

    /// `mod-sequence-value = 1*DIGIT` from 1 to 2^63-1 (RFC 7162 §7).
    pub(crate) fn mod_seq(&mut self) -> PResult<u64> {
        match self.number64()? {
            0 => Err(bad("zero is not a mod-sequence")),
            n => Ok(n),
        }
    }

    /// `mailbox = "INBOX" / astring`, as UTF-8 text without control
    /// characters (RFC 9051 §5.1: names are text; a NUL or line break
    /// could never be written back safely).
    pub(crate) fn mailbox(&mut self) -> PResult<Mailbox> {
        let name = self.astring_text()?;
        if name.chars().any(char::is_control) {
            return Err(bad("control character in mailbox name"));
        }
        Ok(Mailbox::new(name))
    }

    /// `list-mailbox = 1*list-char / string`.
    fn list_mailbox(&mut self) -> PResult<String> {
        match self.peek() {
            Some(b'"') | Some(b'{') => utf8(self.string()?),
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    return Err(bad("expected a mailbox pattern"));
                }
                utf8(a.to_vec())
            }
        }
    }

    /// Parses `"(" [item *(SP item)] ")"`, charging each item.
    pub(crate) fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Cursor<'a>) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        if self.eat(b')') {
            return Ok(out);
        }
        loop {
            self.charge(1)?;
            out.push(item(self)?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    /// `flag` (RFC 9051 §9) as a settable flag: `\Recent` is refused
    /// (RFC 3501 §2.3.2: the client cannot alter it) and so is `\*`.
    pub(crate) fn flag(&mut self) -> PResult<Flag> {
        if self.eat(b'\\') {
            let name = self.atom().map_err(|_| bad("invalid flag"))?;
            let upper = name.to_ascii_uppercase();
            return Ok(match upper.as_slice() {
                b"SEEN" => Flag::Seen,
                b"ANSWERED" => Flag::Answered,
                b"FLAGGED" => Flag::Flagged,
                b"DELETED" => Flag::Deleted,
                b"DRAFT" => Flag::Draft,
                b"RECENT" => return Err(bad("\\Recent cannot be set")),
                _ => Flag::Extension(String::from_utf8_lossy(name).into_owned()),
            });
        }
        let name = self.atom().map_err(|_| bad("invalid flag"))?;
        Ok(Flag::Keyword(String::from_utf8_lossy(name).into_owned()))
    }

    /// `flag-list = "(" [flag *(SP flag)] ")"`.
    pub(crate) fn flag_list(&mut self) -> PResult<Vec<Flag>> {
        self.list(Cursor::flag)
    }

    /// `date = date-text / DQUOTE date-text DQUOTE` (RFC 9051 §9).
    pub(crate) fn date(&mut self) -> PResult<Date> {
        let quoted = self.eat(b'"');
        let day = self.digits(1, 2)?;
        self.expect(b'-')?;
        let month = self.month()?;
        self.expect(b'-')?;
        let year = self.digits(4, 4)?;
        if quoted {
            self.expect(b'"')?;
        }
        make_date(year, month, day)
    }

    /// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP
    /// time SP zone DQUOTE` (RFC 9051 §9), as a Unix timestamp. A
    /// one-digit day without its leading space is accepted too.
    pub(crate) fn date_time(&mut self) -> PResult<i64> {
        self.expect(b'"')?;
        self.eat(b' ');
        let day = self.digits(1, 2)?;
        self.expect(b'-')?;
        let month = self.month()?;
        self.expect(b'-')?;
        let year = self.digits(4, 4)?;
        let date = make_date(year, month, day)?;
        self.expect(b' ')?;
        let h = self.digits(2, 2)?;
        self.expect(b':')?;
        let m = self.digits(2, 2)?;
        self.expect(b':')?;
        let s = self.digits(2, 2)?;
        self.expect(b' ')?;
        let sign: i64 = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return Err(bad("invalid time zone"));
        };
        let zh = self.digits(2, 2)?;
        let zm = self.digits(2, 2)?;
        self.expect(b'"')?;
        if h > 23 || m > 59 || s > 60 || zm > 59 {
            return Err(bad("invalid time"));
        }
        let local = days_from_civil(date) * 86_400 + i64::from(h * 3600 + m * 60 + s);
        Ok(local - sign * i64::from(zh * 3600 + zm * 60))
    }

    fn digits(&mut self, min: usize, max: usize) -> PResult<u32> {
        let start = self.pos;
        while self.pos - start < max && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let d = &self.buf[start..self.pos];
        if d.len() < min {
            return Err(bad("invalid date"));
        }
        Ok(d.iter().fold(0, |n, &b| n * 10 + u32::from(b - b'0')))
    }

    fn month(&mut self) -> PResult<u32> {
        let name = self
            .buf
            .get(self.pos..self.pos + 3)
            .ok_or_else(|| bad("invalid date"))?;
        let i = MONTHS
            .iter()
            .position(|m| m.as_bytes().eq_ignore_ascii_case(name))
            .ok_or_else(|| bad("invalid month"))?;
        self.pos += 3;
        Ok(i as u32 + 1)
    }
}

/// Month names of `date-month` (RFC 9051 §9).
pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn make_date(year: u32, month: u32, day: u32) -> PResult<Date> {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day == 0 || day > days {
        return Err(bad("invalid date"));
    }
    Ok(Date {
        year: year as u16,
        month: month as u8,
        day: day as u8,
    })
}

/// Days since 1970-01-01 of a date (proleptic Gregorian; Howard
/// Hinnant's days_from_civil).
pub(crate) fn days_from_civil(d: Date) -> i64 {
    let (m, dd) = (i64::from(d.month), i64::from(d.day));
    let y = i64::from(d.year) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn utf8(bytes: Vec<u8>) -> PResult<String> {
    String::from_utf8(bytes).map_err(|_| bad("invalid UTF-8"))
}

/// `tag = 1*<any ASTRING-CHAR except "+">`.
fn tag(c: &mut Cursor<'_>) -> PResult<String> {
    let t = c.take_while(|b| is_astring_char(b) && b != b'+');
    if t.is_empty() {
        return Err(bad("missing tag"));
    }
    Ok(String::from_utf8_lossy(t).into_owned())
}

/// The tag at the start of a command text, when it is followed by a
/// space (otherwise the line is not a tagged command at all).
pub(crate) fn tag_of(text: &[u8]) -> Option<String> {
    let mut c = Cursor::new(text);
    let t = tag(&mut c).ok()?;
    c.eat(b' ').then_some(t)
}

/// Parses a complete command text.
pub fn parse_command(text: &[u8]) -> Result<Command, ParseError> {
    let mut c = Cursor::new(text);
    let Ok(tag) = tag(&mut c) else {
        return Err(ParseError {
            tag: None,
            kind: ErrorKind::Syntax,
            text: String::from("missing tag"),
        });
    };
    if !c.eat(b' ') {
        return Err(ParseError {
            tag: None,
            kind: ErrorKind::Syntax,
            text: String::from("missing command"),
        });
    }
    match body(&mut c) {
        Ok(body) => Ok(Command { tag, body }),
        Err(f) => Err(ParseError {
            tag: Some(tag),
            kind: f.kind,
            text: f.text,
        }),
    }
}

/// The command name and its arguments, through the end of the text.
fn body(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    let name = c.atom().map_err(|_| Fail {
        kind: ErrorKind::UnknownCommand,
        text: String::from("missing command"),
    })?;
    let name = name.to_ascii_uppercase();
    let body = match name.as_slice() {
        b"CAPABILITY" => CommandBody::Capability,
        b"NOOP" => CommandBody::Noop,
        b"LOGOUT" => CommandBody::Logout,
        b"STARTTLS" => CommandBody::StartTls,
        b"AUTHENTICATE" => authenticate(c)?,
        b"LOGIN" => {
            c.sp()?;
            let username = c.astring_text()?;
            c.sp()?;
            let password = Secret(c.astring_text()?);
            CommandBody::Login { username, password }
        }
        b"ENABLE" => {
            let mut caps = Vec::new();
            while c.eat(b' ') {
                c.charge(1)?;
                caps.push(c.atom_upper()?);
            }
            if caps.is_empty() {
                return Err(bad("ENABLE needs a capability"));
            }
            CommandBody::Enable(caps)
        }
        b"SELECT" | b"EXAMINE" => {
            c.sp()?;
            let mailbox = c.mailbox()?;
            let params = select_params(c)?;
            if name == b"SELECT" {
                CommandBody::Select { mailbox, params }
            } else {
                CommandBody::Examine { mailbox, params }
            }
        }
        b"CREATE" => create(c)?,
        b"DELETE" => CommandBody::Delete(one_mailbox(c)?),
        b"SUBSCRIBE" => CommandBody::Subscribe(one_mailbox(c)?),
        b"UNSUBSCRIBE" => CommandBody::Unsubscribe(one_mailbox(c)?),
        b"RENAME" => {
            c.sp()?;
            let from = c.mailbox()?;
            c.sp()?;
            let to = c.mailbox()?;
            CommandBody::Rename { from, to }
        }
        b"LIST" => CommandBody::List(list(c)?),
        b"LSUB" => {
            c.sp()?;
            let reference = c.astring_text()?;
            c.sp()?;
            let pattern = c.list_mailbox()?;
            CommandBody::Lsub { reference, pattern }
        }
        b"NAMESPACE" => CommandBody::Namespace,
        b"STATUS" => {
            c.sp()?;
            let mailbox = c.mailbox()?;
            c.sp()?;
            let items = c.list(status_item)?;
            if items.is_empty() {
                return Err(bad("STATUS needs at least one item"));
            }
            CommandBody::Status { mailbox, items }
        }
        b"APPEND" => return Err(bad("APPEND needs a message literal")),
        b"IDLE" => CommandBody::Idle,
        b"CHECK" => CommandBody::Check,
        b"CLOSE" => CommandBody::Close,
        b"UNSELECT" => CommandBody::Unselect,
        b"EXPUNGE" => CommandBody::Expunge { uids: None },
        b"SEARCH" => CommandBody::Search(search::parse(c, false)?),
        b"FETCH" => CommandBody::Fetch(fetch::parse(c, false)?),
        b"STORE" => CommandBody::Store(store::parse(c, false)?),
        b"COPY" | b"MOVE" => copy_move(c, false, name == b"MOVE")?,
        b"UID" => uid(c)?,
        b"ID" => id(c)?,
        b"GETQUOTA" => {
            c.sp()?;
            CommandBody::GetQuota(c.astring_text()?)
        }
        b"GETQUOTAROOT" => CommandBody::GetQuotaRoot(one_mailbox(c)?),
        b"SETQUOTA" => {
            c.sp()?;
            let root = c.astring_text()?;
            c.sp()?;
            let limits = c.list(|c| {
                let name = c.atom_upper()?;
                c.sp()?;
                Ok((name, c.number64()?))
            })?;
            CommandBody::SetQuota { root, limits }
        }
        _ => {
            return Err(Fail {
                kind: ErrorKind::UnknownCommand,
                text: format!(
                    "unknown command {}",
                    String::from_utf8_lossy(&name[..name.len().min(32)])
                ),
            })
        }
    };
    c.end()?;
    Ok(body)
}

fn one_mailbox(c: &mut Cursor<'_>) -> PResult<Mailbox> {
    c.sp()?;
    c.mailbox()
}

/// `authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp]`
/// (RFC 9051 §6.2.2, RFC 4959 §7).
fn authenticate(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    let mechanism = c.atom_upper()?;
    let initial = if c.eat(b' ') {
        // initial-resp = base64 / "="
        let text = c.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if text.is_empty() {
            return Err(bad("invalid initial response"));
        }
        Some(Secret(String::from_utf8_lossy(text).into_owned()))
    } else {
        None
    };
    Ok(CommandBody::Authenticate { mechanism, initial })
}

/// `select-params` (RFC 7162 §7, RFC 4466 §2.1).
fn select_params(c: &mut Cursor<'_>) -> PResult<SelectParams> {
    let mut params = SelectParams::default();
    if !c.eat(b' ') {
        return Ok(params);
    }
    let items = c.list(|c| {
        if c.eat_word("CONDSTORE") {
            return Ok(None);
        }
        if !c.eat_word("QRESYNC") {
            return Err(bad("unknown SELECT parameter"));
        }
        c.sp()?;
        c.expect(b'(')?;
        let uid_validity = c.nz_number()?;
        c.sp()?;
        let mod_seq = c.mod_seq()?;
        let mut q = QResync {
            uid_validity,
            mod_seq,
            known_uids: None,
            seq_match: None,
        };
        if c.eat(b' ') {
            if c.peek() != Some(b'(') {
                q.known_uids = Some(sequence::parse(c, false)?);
                if !c.eat(b' ') {
                    c.expect(b')')?;
                    return Ok(Some(q));
                }
            }
            c.expect(b'(')?;
            let seqs = sequence::parse(c, false)?;
            c.sp()?;
            let uids = sequence::parse(c, false)?;
            c.expect(b')')?;
            q.seq_match = Some((seqs, uids));
        }
        c.expect(b')')?;
        Ok(Some(q))
    })?;
    for item in items {
        match item {
            None => params.condstore = true,
            Some(q) => {
                if params.qresync.replace(q).is_some() {
                    return Err(bad("QRESYNC given twice"));
                }
            }
        }
    }
    Ok(params)
}

/// `create = "CREATE" SP mailbox [create-params]` (RFC 6154 §6).
fn create(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut special_use = Vec::new();
    if c.eat(b' ') {
        let params = c.list(|c| {
            if !c.eat_word("USE") {
                return Err(bad("unknown CREATE parameter"));
            }
            c.sp()?;
            c.list(|c| {
                c.expect(b'\\')?;
                let a = c.atom()?;
                Ok(format!("\\{}", String::from_utf8_lossy(a)))
            })
        })?;
        special_use = params.into_iter().flatten().collect();
    }
    Ok(CommandBody::Create {
        mailbox,
        special_use,
    })
}

/// `list` (RFC 5258 §6, RFC 9051 §9).
fn list(c: &mut Cursor<'_>) -> PResult<ListCommand> {
    let mut cmd = ListCommand::default();
    c.sp()?;
    if c.peek() == Some(b'(') {
        cmd.extended = true;
        let opts = c.list(|c| c.atom_upper())?;
        for o in opts {
            match o.as_str() {
                "SUBSCRIBED" => cmd.select.subscribed = true,
                "REMOTE" => cmd.select.remote = true,
                "RECURSIVEMATCH" => cmd.select.recursive_match = true,
                "SPECIAL-USE" => cmd.select.special_use = true,
                // RFC 5258 §3: unknown selection options are an error.
                _ => return Err(bad(format!("unknown LIST selection option {o}"))),
            }
        }
        // RFC 5258 §3.1: RECURSIVEMATCH alone is an error.
        let s = cmd.select;
        if s.recursive_match && !(s.subscribed || s.special_use) {
            return Err(bad("RECURSIVEMATCH needs another selection option"));
        }
        c.sp()?;
    }
    cmd.reference = c.astring_text()?;
    c.sp()?;
    if c.peek() == Some(b'(') {
        cmd.extended = true;
        cmd.patterns = c.list(Cursor::list_mailbox)?;
        if cmd.patterns.is_empty() {
            return Err(bad("empty pattern list"));
        }
    } else {
        cmd.patterns.push(c.list_mailbox()?);
    }
    if c.eat(b' ') {
        cmd.extended = true;
        if !c.eat_word("RETURN") {
            return Err(bad("expected RETURN"));
        }
        c.sp()?;
        let mut ret = ListReturn::default();
        c.list(|c| {
            let o = c.atom_upper()?;
            match o.as_str() {
                "CHILDREN" => ret.children = true,
                "SUBSCRIBED" => ret.subscribed = true,
                "SPECIAL-USE" => ret.special_use = true,
                "STATUS" => {
                    c.sp()?;
                    ret.status = Some(c.list(status_item)?);
                }
                _ => return Err(bad(format!("unknown LIST return option {o}"))),
            }
            Ok(())
        })?;
        cmd.ret = ret;
    }
    Ok(cmd)
}

/// `status-att` (RFC 9051 §9, RFC 7162 §7, RFC 7889 §4, RFC 3501).
fn status_item(c: &mut Cursor<'_>) -> PResult<StatusItem> {
    let a = c.atom_upper()?;
    Ok(match a.as_str() {
        "MESSAGES" => StatusItem::Messages,
        "RECENT" => StatusItem::Recent,
        "UIDNEXT" => StatusItem::UidNext,
        "UIDVALIDITY" => StatusItem::UidValidity,
        "UNSEEN" => StatusItem::Unseen,
        "DELETED" => StatusItem::Deleted,
        "SIZE" => StatusItem::Size,
        "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
        "APPENDLIMIT" => StatusItem::AppendLimit,
        _ => return Err(bad(format!("unknown STATUS item {a}"))),
    })
}

fn copy_move(c: &mut Cursor<'_>, uid: bool, is_move: bool) -> PResult<CommandBody> {
    c.sp()?;
    let set = sequence::parse(c, true)?;
    c.sp()?;
    let mailbox = c.mailbox()?;
    Ok(if is_move {
        CommandBody::Move { uid, set, mailbox }
    } else {
        CommandBody::Copy { uid, set, mailbox }
    })
}

/// `uid = "UID" SP (copy / move / fetch / search / store / uid-expunge)`.
fn uid(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    let name = c.atom_upper()?;
    Ok(match name.as_str() {
        "FETCH" => CommandBody::Fetch(fetch::parse(c, true)?),
        "SEARCH" => CommandBody::Search(search::parse(c, true)?),
        "STORE" => CommandBody::Store(store::parse(c, true)?),
        "COPY" => copy_move(c, true, false)?,
        "MOVE" => copy_move(c, true, true)?,
        // RFC 4315 §2.1
        "EXPUNGE" => {
            c.sp()?;
            CommandBody::Expunge {
                uids: Some(sequence::parse(c, true)?),
            }
        }
        _ => {
            return Err(Fail {
                kind: ErrorKind::UnknownCommand,
                text: String::from("unknown UID command"),
            })
        }
    })
}

/// `id = "ID" SP id-params-list` (RFC 2971 §4): at most 30 pairs, fields
/// of at most 30 octets and values of at most 1024 (RFC 2971 §3.3).
fn id(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    c.sp()?;
    if c.eat_word("NIL") {
        return Ok(CommandBody::Id(Vec::new()));
    }
    let pairs = c.list(|c| {
        let field = utf8(c.string()?)?;
        c.sp()?;
        let value = c.nstring()?.map(utf8).transpose()?;
        if field.len() > 30 || value.as_ref().is_some_and(|v| v.len() > 1024) {
            return Err(bad("ID field or value too long"));
        }
        Ok((field, value))
    })?;
    if pairs.len() > 30 {
        return Err(bad("too many ID fields"));
    }
    Ok(CommandBody::Id(pairs))
}

/// Every command name [`parse_command`] knows.
const KNOWN_COMMANDS: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "ENABLE",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "NAMESPACE",
    "STATUS",
    "APPEND",
    "IDLE",
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "SEARCH",
    "FETCH",
    "STORE",
    "COPY",
    "MOVE",
    "UID",
    "ID",
    "GETQUOTA",
    "GETQUOTAROOT",
    "SETQUOTA",
];

/// What precedes a literal announced at the end of a line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LiteralContext {
    /// The literal is an ordinary argument.
    Argument,
    /// The literal is the message of an APPEND.
    AppendMessage {
        /// The command's tag.
        tag: String,
        /// The target mailbox.
        mailbox: Mailbox,
        /// Flags and date of the message (size not yet set).
        meta: AppendMessage,
    },
}

/// Decides whether a literal announced after `text` (the command so far,
/// up to the `{`) is an APPEND message: `tag SP "APPEND" SP mailbox [SP
/// flag-list] [SP date-time] SP` (RFC 9051 §6.3.12).
pub(crate) fn literal_context(text: &[u8]) -> Result<LiteralContext, ParseError> {
    let mut c = Cursor::new(text);
    let Ok(tag) = tag(&mut c) else {
        return Ok(LiteralContext::Argument);
    };
    if !c.eat(b' ') {
        return Ok(LiteralContext::Argument);
    }
    let with_tag = |f: Fail| ParseError {
        tag: Some(tag.clone()),
        kind: f.kind,
        text: f.text,
    };
    // No literal is worth a round trip for a command we will refuse.
    let name = c.atom_upper().unwrap_or_default();
    if !KNOWN_COMMANDS.contains(&name.as_str()) {
        return Err(with_tag(Fail {
            kind: ErrorKind::UnknownCommand,
            text: format!("unknown command {}", &name[..name.len().min(32)]),
        }));
    }
    if name != "APPEND" || !c.eat(b' ') || c.at_end() {
        return Ok(LiteralContext::Argument);
    }
    let mailbox = c.mailbox().map_err(with_tag)?;
    if c.at_end() {
        return Err(with_tag(bad("expected a space before the message")));
    }
    let meta = append_meta(&mut c).map_err(with_tag)?;
    Ok(LiteralContext::AppendMessage { tag, mailbox, meta })
}

/// The part of a MULTIAPPEND line between two messages (RFC 3502 §6:
/// `SP [flag-list SP] [date-time SP]`).
pub(crate) fn append_next(text: &[u8]) -> PResult<AppendMessage> {
    let mut c = Cursor::new(text);
    append_meta(&mut c)
}

/// `SP [flag-list SP] [date-time SP]` through the end of `c`.
fn append_meta(c: &mut Cursor<'_>) -> PResult<AppendMessage> {
    c.sp()?;
    let mut meta = AppendMessage {
        flags: Vec::new(),
        date: None,
        size: 0,
    };
    if c.peek() == Some(b'(') {
        meta.flags = c.flag_list()?;
        c.sp()?;
    }
    if c.peek() == Some(b'"') {
        meta.date = Some(c.date_time()?);
        c.sp()?;
    }
    if !c.at_end() {
        return Err(bad(
            "CATENATE and other APPEND extensions are not supported",
        ));
    }
    Ok(meta)
}

#[cfg(test)]
mod tests;
