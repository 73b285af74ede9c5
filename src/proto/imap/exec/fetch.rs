//! The FETCH executor (RFC 3501 §6.4.5, §7.4.2; RFC 9051 §6.4.5, §7.5.2;
//! RFC 3516 BINARY; RFC 7162 §3.1.4 MODSEQ): writes `* n FETCH (...)` for
//! one message.
//!
//! Body sections are sent as literals whose content the [`Sink`] streams
//! from the store ([`Sink::message_range`]); only the HEADER.FIELDS filter
//! and BINARY decoding produce bytes here, and they are passed on chunk by
//! chunk. Both need the length before the content (a literal starts with
//! it), so they read their range twice: once to count, once to send.
//!
//! A literal carries no NUL (RFC 9051 §4.3): in BODY sections a stored NUL
//! goes out as 0x80 ([`response::without_nul`]; the sink does it for
//! message ranges); only BINARY sends NUL, in a literal8.
//!
//! A section that does not exist is sent as an empty string `""`, as the
//! [`section`] module explains; so is a partial fetch whose origin lies past
//! the end of the section (RFC 3501 §6.4.5).

use std::fmt;
use std::io;

use super::{InMemory, MessageBytes, Sink};
use crate::mail::mime::decode::{Base64Decoder, QpDecoder};
use crate::mail::mime::section::{self, ByteRange, HeaderFilter, Spec};
use crate::mail::mime::{Content, Structure};
use crate::proto::imap::command::{FetchAttr, Flag, Partial, Section, SectionText};
use crate::proto::imap::envelope::{write_bodystructure, write_envelope};
use crate::proto::imap::response;
use crate::store::{flags, MessageSummary};

/// One message to fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchMessage<'a> {
    /// Its message sequence number.
    pub seq: u32,
    /// Its UID.
    pub uid: u32,
    /// Flags, keywords, modseq, internal date and size, after any `\Seen`
    /// update the FETCH itself made.
    pub summary: &'a MessageSummary,
    /// MIME structure of the whole message (prefix included). When
    /// [`needs_structure`] is false, only its `size` is used.
    pub structure: &'a Structure,
    /// `\Recent` in this session (IMAP4rev1, RFC 3501 §2.3.2).
    pub recent: bool,
}

/// How the session is set up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// IMAP4rev2 enabled or UTF8=ACCEPT: quoted UTF-8 allowed (RFC 9051
    /// §4.3, RFC 6855 §3).
    pub utf8: bool,
    /// UID FETCH: include UID even if not asked (RFC 3501 §6.4.8).
    pub uid: bool,
    /// CONDSTORE active: include MODSEQ (RFC 7162 §3.1.4.1).
    pub modseq: bool,
    /// IMAP4rev2: no `\Recent` (RFC 9051 §2.3.2).
    pub rev2: bool,
}

/// Why a BINARY or BINARY.SIZE item cannot be answered for a message. It
/// fails the whole command, so the session checks every message with
/// [`check_binary`] before it writes anything or sets `\Seen`;
/// [`fetch_one`] also returns it (inside an [`io::Error`] of kind
/// `InvalidData`, see [`refusal`]) before writing anything for the
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryRefusal {
    /// The part's Content-Transfer-Encoding is not one we can decode:
    /// `NO [UNKNOWN-CTE]` (RFC 3516 §4.3, RFC 9051 §7.5.2, §7.1). The
    /// encoding as written in the message.
    UnknownCte(String),
    /// The part is a multipart/*: BINARY "can only be requested for leaf
    /// body parts" (RFC 9051 §6.4.5), so the command is a protocol error,
    /// `BAD` (RFC 9051 §7.1.3).
    NotLeaf,
}

impl BinaryRefusal {
    /// The tagged response that ends the command.
    pub fn response(&self, tag: &str) -> String {
        match self {
            BinaryRefusal::UnknownCte(enc) => {
                let enc: String = enc
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .take(64)
                    .collect();
                format!("{tag} NO [UNKNOWN-CTE] Cannot decode Content-Transfer-Encoding {enc}")
            }
            BinaryRefusal::NotLeaf => {
                format!("{tag} BAD BINARY is only for leaf parts, not multipart parts")
            }
        }
    }
}

impl fmt::Display for BinaryRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BinaryRefusal::UnknownCte(enc) => {
                write!(f, "unknown Content-Transfer-Encoding {enc}")
            }
            BinaryRefusal::NotLeaf => write!(f, "BINARY of a part that is not a leaf"),
        }
    }
}

impl std::error::Error for BinaryRefusal {}

/// The [`BinaryRefusal`] inside an error of [`fetch_one`] (nothing was
/// written for the message then), or `None` for a failure to read the
/// message.
pub fn refusal(e: &io::Error) -> Option<&BinaryRefusal> {
    e.get_ref().and_then(|inner| inner.downcast_ref())
}

/// Checks that every BINARY and BINARY.SIZE item of `attrs` can be
/// answered for a message of structure `s` (see [`BinaryRefusal`]).
pub fn check_binary(attrs: &[FetchAttr], s: &Structure) -> Result<(), BinaryRefusal> {
    for a in attrs {
        if let FetchAttr::Binary { part, .. } | FetchAttr::BinarySize { part } = a {
            binary_source(s, part)?;
        }
    }
    Ok(())
}

/// Whether any attribute is BINARY or BINARY.SIZE.
pub fn has_binary(attrs: &[FetchAttr]) -> bool {
    attrs
        .iter()
        .any(|a| matches!(a, FetchAttr::Binary { .. } | FetchAttr::BinarySize { .. }))
}

/// Whether the attributes set `\Seen` (RFC 3501 §6.4.5): BODY[...] without
/// PEEK, RFC822, RFC822.TEXT, BINARY without PEEK (RFC 3516 §4.2).
pub fn sets_seen(attrs: &[FetchAttr]) -> bool {
    attrs.iter().any(|a| match a {
        FetchAttr::BodySection { peek, .. } | FetchAttr::Binary { peek, .. } => !peek,
        FetchAttr::Rfc822 | FetchAttr::Rfc822Text => true,
        _ => false,
    })
}

/// Whether any attribute needs the MIME structure (ENVELOPE, BODY,
/// BODYSTRUCTURE, RFC822.HEADER/TEXT, sections other than the whole
/// message or a partial of it, BINARY). If false, the session may pass a
/// placeholder [`Structure`] whose `size` alone is right.
pub fn needs_structure(attrs: &[FetchAttr]) -> bool {
    attrs.iter().any(|a| match a {
        FetchAttr::Flags
        | FetchAttr::InternalDate
        | FetchAttr::Rfc822Size
        | FetchAttr::Uid
        | FetchAttr::ModSeq
        | FetchAttr::Rfc822 => false,
        FetchAttr::BodySection { section, .. } => {
            !section.part.is_empty() || section.text.is_some()
        }
        FetchAttr::Envelope
        | FetchAttr::Body
        | FetchAttr::BodyStructure
        | FetchAttr::Rfc822Header
        | FetchAttr::Rfc822Text
        | FetchAttr::Binary { .. }
        | FetchAttr::BinarySize { .. } => true,
    })
}

/// Writes `* <seq> FETCH (...)\r\n` for one message into `sink`.
///
/// Items come in the order asked for; UID is put first when `opts.uid`
/// implies it and it was not asked for, MODSEQ last when `opts.modseq`
/// implies it. Body sections are literals whose content is a
/// [`Sink::message_range`] (or bytes, for HEADER.FIELDS and decoded
/// BINARY content).
///
/// Errors: a [`BinaryRefusal`] (see [`refusal`]) before anything is
/// written, or an I/O error of `bytes`, after which the response may be cut
/// short: the connection cannot go on then.
pub fn fetch_one(
    attrs: &[FetchAttr],
    msg: &FetchMessage<'_>,
    opts: &FetchOptions,
    bytes: &mut dyn MessageBytes,
    sink: &mut dyn Sink,
) -> io::Result<()> {
    // RFC 3516 §4.3: an unknown encoding fails the command; find out before
    // the first byte of the response is written.
    check_binary(attrs, msg.structure)
        .map_err(|r| io::Error::new(io::ErrorKind::InvalidData, r))?;
    let mut w = Writer {
        buf: Vec::with_capacity(256),
        sink,
    };
    w.push(format!("* {} FETCH (", msg.seq).as_bytes());
    let mut first = true;
    let mut sep = |w: &mut Writer<'_>| {
        if !first {
            w.push(b" ");
        }
        first = false;
    };
    if opts.uid && !attrs.contains(&FetchAttr::Uid) {
        // RFC 3501 §6.4.8: UID FETCH always returns the UID.
        sep(&mut w);
        w.push(format!("UID {}", msg.uid).as_bytes());
    }
    for a in attrs {
        sep(&mut w);
        attr(&mut w, a, msg, opts, bytes)?;
    }
    if opts.modseq && !attrs.contains(&FetchAttr::ModSeq) {
        // RFC 7162 §3.1.4.1: once CONDSTORE is enabled, FETCH responses
        // carry MODSEQ.
        sep(&mut w);
        modseq(&mut w, msg.summary);
    }
    w.push(b")\r\n");
    w.flush();
    Ok(())
}

/// The response being built: small pieces are gathered in `buf` and given
/// to the sink before anything streamed.
struct Writer<'s> {
    buf: Vec<u8>,
    sink: &'s mut dyn Sink,
}

impl Writer<'_> {
    fn push(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            self.sink.bytes(&self.buf);
            self.buf.clear();
        }
    }

    /// A literal of message bytes; `""` when empty.
    fn range_literal(&mut self, r: ByteRange, literal8: bool) {
        if r.len == 0 {
            self.push(b"\"\"");
            return;
        }
        self.literal_head(r.len, literal8);
        self.flush();
        self.sink.message_range(r.start, r.len);
    }

    /// `{n}\r\n`, or `~{n}\r\n` for a literal8 (RFC 3516 §4.3).
    fn literal_head(&mut self, len: u64, literal8: bool) {
        if literal8 {
            self.push(b"~");
        }
        self.push(format!("{{{len}}}\r\n").as_bytes());
    }
}

fn attr(
    w: &mut Writer<'_>,
    a: &FetchAttr,
    msg: &FetchMessage<'_>,
    opts: &FetchOptions,
    bytes: &mut dyn MessageBytes,
) -> io::Result<()> {
    let s = msg.structure;
    match a {
        FetchAttr::Flags => {
            w.push(b"FLAGS ");
            flag_list(&mut w.buf, msg.summary, msg.recent && !opts.rev2);
        }
        FetchAttr::InternalDate => {
            w.push(b"INTERNALDATE ");
            w.push(response::date_time(msg.summary.internal_date, 0).as_bytes());
        }
        FetchAttr::Rfc822Size => w.push(format!("RFC822.SIZE {}", msg.summary.size).as_bytes()),
        FetchAttr::Envelope => {
            w.push(b"ENVELOPE ");
            write_envelope(&mut w.buf, &s.envelope, opts.utf8);
        }
        FetchAttr::Body => {
            w.push(b"BODY ");
            write_bodystructure(&mut w.buf, s, false, opts.utf8);
        }
        FetchAttr::BodyStructure => {
            w.push(b"BODYSTRUCTURE ");
            write_bodystructure(&mut w.buf, s, true, opts.utf8);
        }
        FetchAttr::Uid => w.push(format!("UID {}", msg.uid).as_bytes()),
        FetchAttr::ModSeq => modseq(w, msg.summary),
        // RFC 3501 §6.4.5: RFC822 is BODY[], RFC822.HEADER is
        // BODY.PEEK[HEADER], RFC822.TEXT is BODY[TEXT], under their own
        // names.
        FetchAttr::Rfc822 => {
            w.push(b"RFC822 ");
            w.range_literal(section::resolve(s, &[], Spec::Body), false);
        }
        FetchAttr::Rfc822Header => {
            w.push(b"RFC822.HEADER ");
            w.range_literal(section::resolve(s, &[], Spec::Header), false);
        }
        FetchAttr::Rfc822Text => {
            w.push(b"RFC822.TEXT ");
            w.range_literal(section::resolve(s, &[], Spec::Text), false);
        }
        FetchAttr::BodySection {
            section, partial, ..
        } => body_section(w, s, section, *partial, bytes)?,
        FetchAttr::Binary { part, partial, .. } => binary(w, s, part, *partial, bytes)?,
        FetchAttr::BinarySize { part } => binary_size(w, s, part, bytes)?,
    }
    Ok(())
}

/// `(\Seen ... keyword ... [\Recent])`.
fn flag_list(out: &mut Vec<u8>, m: &MessageSummary, recent: bool) {
    let mut list = Vec::with_capacity(5 + m.keywords.len());
    for (bit, f) in [
        (flags::SEEN, Flag::Seen),
        (flags::ANSWERED, Flag::Answered),
        (flags::FLAGGED, Flag::Flagged),
        (flags::DELETED, Flag::Deleted),
        (flags::DRAFT, Flag::Draft),
    ] {
        if m.flags & bit != 0 {
            list.push(f);
        }
    }
    list.extend(m.keywords.iter().map(|k| Flag::Keyword(k.clone())));
    response::flag_list(out, &list, recent);
}

/// `MODSEQ (n)` (RFC 7162 §3.1.4.1).
fn modseq(w: &mut Writer<'_>, m: &MessageSummary) {
    w.push(format!("MODSEQ ({})", m.modseq).as_bytes());
}

/// Writes the section spec as the response echoes it (RFC 3501 §7.4.2):
/// `1.2.HEADER.FIELDS (FROM SUBJECT)`.
fn write_section(out: &mut Vec<u8>, sec: &Section) {
    write_part(out, &sec.part);
    let Some(text) = &sec.text else { return };
    if !sec.part.is_empty() {
        out.push(b'.');
    }
    let names = match text {
        SectionText::Header => {
            out.extend_from_slice(b"HEADER");
            return;
        }
        SectionText::Text => {
            out.extend_from_slice(b"TEXT");
            return;
        }
        SectionText::Mime => {
            out.extend_from_slice(b"MIME");
            return;
        }
        SectionText::HeaderFields(names) => {
            out.extend_from_slice(b"HEADER.FIELDS (");
            names
        }
        SectionText::HeaderFieldsNot(names) => {
            out.extend_from_slice(b"HEADER.FIELDS.NOT (");
            names
        }
    };
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        response::astring(out, n.as_bytes());
    }
    out.push(b')');
}

fn write_part(out: &mut Vec<u8>, part: &[u32]) {
    for (i, n) in part.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        out.extend_from_slice(n.to_string().as_bytes());
    }
}

/// The bytes `[from, to)` of a stream given in pieces, counted from its
/// start: which pass, and how many did.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: u64,
    to: u64,
    pos: u64,
    passed: u64,
}

impl Window {
    fn new(partial: Option<Partial>) -> Window {
        let (from, to) = match partial {
            Some(p) => (
                u64::from(p.origin),
                u64::from(p.origin) + u64::from(p.count),
            ),
            None => (0, u64::MAX),
        };
        Window {
            from,
            to,
            pos: 0,
            passed: 0,
        }
    }

    /// The part of `piece` inside the window.
    fn clip<'b>(&mut self, piece: &'b [u8]) -> &'b [u8] {
        let start = self.pos;
        let end = start + piece.len() as u64;
        self.pos = end;
        let lo = start.max(self.from);
        let hi = end.min(self.to);
        if lo >= hi {
            return &[];
        }
        let (a, b) = ((lo - start) as usize, (hi - start) as usize);
        let inside = piece.get(a..b).unwrap_or_default();
        self.passed += inside.len() as u64;
        inside
    }
}

/// The error when a second read of a range gives other bytes than the
/// first: the literal already announced cannot be completed.
fn changed() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "message changed while it was being sent",
    )
}

/// `BODY[section]<origin> ...` (RFC 3501 §6.4.5, §7.4.2).
fn body_section(
    w: &mut Writer<'_>,
    s: &Structure,
    sec: &Section,
    partial: Option<Partial>,
    bytes: &mut dyn MessageBytes,
) -> io::Result<()> {
    w.push(b"BODY[");
    write_section(&mut w.buf, sec);
    w.push(b"]");
    if let Some(p) = partial {
        // RFC 3501 §7.4.2: the origin is echoed, the count is not.
        w.push(format!("<{}>", p.origin).as_bytes());
    }
    w.push(b" ");
    let (spec, filter) = match &sec.text {
        None => (Spec::Body, None),
        Some(SectionText::Header) => (Spec::Header, None),
        Some(SectionText::Text) => (Spec::Text, None),
        Some(SectionText::Mime) => (Spec::Mime, None),
        Some(SectionText::HeaderFields(names)) => (Spec::HeaderFields, Some((names, false))),
        Some(SectionText::HeaderFieldsNot(names)) => (Spec::HeaderFields, Some((names, true))),
    };
    let range = section::resolve(s, &sec.part, spec);
    match filter {
        None => {
            let r = match partial {
                Some(p) => range.partial(u64::from(p.origin), u64::from(p.count)),
                None => range,
            };
            w.range_literal(r, false);
            Ok(())
        }
        // The top-level header's cached fields answer without the file.
        Some((names, false)) if sec.part.is_empty() && s.fields.covers(names) => {
            let lines = s.fields.lines();
            let all = ByteRange {
                start: 0,
                len: lines.len() as u64,
            };
            header_fields(w, all, names, false, partial, &mut InMemory(lines))
        }
        Some((names, not)) => header_fields(w, range, names, not, partial, bytes),
    }
}

/// HEADER.FIELDS[.NOT]: the filtered header, counted then sent.
fn header_fields(
    w: &mut Writer<'_>,
    range: ByteRange,
    names: &[String],
    not: bool,
    partial: Option<Partial>,
    bytes: &mut dyn MessageBytes,
) -> io::Result<()> {
    let mut window = Window::new(partial);
    let mut filter = HeaderFilter::new(names, not);
    bytes.read_range(range.start, range.len, &mut |chunk| {
        filter.feed(chunk, &mut |piece| {
            window.clip(piece);
        });
    })?;
    let len = window.passed;
    if len == 0 {
        w.push(b"\"\"");
        return Ok(());
    }
    w.literal_head(len, false);
    w.flush();
    let mut window = Window::new(partial);
    let mut filter = HeaderFilter::new(names, not);
    let sink = &mut *w.sink;
    bytes.read_range(range.start, range.len, &mut |chunk| {
        filter.feed(chunk, &mut |piece| {
            let inside = window.clip(piece);
            if !inside.is_empty() {
                sink.bytes(&response::without_nul(inside));
            }
        });
    })?;
    if window.passed != len {
        return Err(changed());
    }
    Ok(())
}

/// The Content-Transfer-Encoding to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cte {
    /// 7bit, 8bit, binary, none (RFC 2045 §6.2: identity encodings), and
    /// the whole message, which is not transfer-encoded as a whole.
    Identity,
    /// Base64 (RFC 2045 §6.8).
    Base64,
    /// Quoted-printable (RFC 2045 §6.7).
    Qp,
}

/// The body range and decoding of a BINARY section; a part that does not
/// exist is an empty range (as for BODY, see [`section`]).
///
/// - No part number (`BINARY[]`): the whole message as stored. RFC 3516
///   §4.5 allows an empty section-binary; a message as a whole has no
///   transfer encoding to remove, so it goes as it is, in a literal8 when
///   it holds NUL (a message appended as a literal8, RFC 3516 §4.4).
/// - A multipart/* part: refused, for RFC 9051 §6.4.5 says BINARY "can
///   only be requested for leaf body parts" (RFC 3516 had no such rule;
///   IMAP4rev2 has).
/// - A message/rfc822 or message/global part: its content, the embedded
///   message, as BODY[part] gives it (as Dovecot answers; RFC 3516 §4.2
///   defines BINARY for any part, and a message part's body is a whole
///   message with no transfer encoding of its own, RFC 2046 §5.2.1).
/// - A leaf: its body, decoded: exactly the bytes the transfer encoding
///   stands for, whatever the media type. RFC 3516 §4.2 defines BINARY as
///   the content "after removing any Content-Transfer-Encoding-related
///   encoding", and a text attachment must come back as the file that was
///   sent, bare LFs and all (as Dovecot answers).
fn binary_source(s: &Structure, path: &[u32]) -> Result<(ByteRange, Cte), BinaryRefusal> {
    if path.is_empty() {
        return Ok((section::resolve(s, path, Spec::Body), Cte::Identity));
    }
    let Some(p) = section::part(s, path) else {
        return Ok((ByteRange::EMPTY, Cte::Identity));
    };
    if matches!(p.content, Content::Multipart(_)) {
        return Err(BinaryRefusal::NotLeaf);
    }
    let range = ByteRange {
        start: p.body_start,
        len: p.body_len,
    };
    // RFC 3516 §3: a part without Content-Transfer-Encoding is 7bit.
    let enc = p.encoding.as_deref().unwrap_or(b"7bit");
    let is = |name: &[u8]| enc.eq_ignore_ascii_case(name);
    let cte = if is(b"base64") {
        Cte::Base64
    } else if is(b"quoted-printable") {
        Cte::Qp
    } else if is(b"7bit") || is(b"8bit") || is(b"binary") {
        Cte::Identity
    } else {
        return Err(BinaryRefusal::UnknownCte(
            String::from_utf8_lossy(enc).into_owned(),
        ));
    };
    Ok((range, cte))
}

/// Reads `range` and gives its decoded content, piece by piece, holding
/// no more than one chunk of `bytes` (decoded) at a time.
fn decode_range(
    bytes: &mut dyn MessageBytes,
    range: ByteRange,
    cte: Cte,
    out: &mut dyn FnMut(&[u8]),
) -> io::Result<()> {
    let mut b64 = Base64Decoder::default();
    let mut qp = QpDecoder::default();
    let mut buf = Vec::new();
    bytes.read_range(range.start, range.len, &mut |chunk| {
        buf.clear();
        let decoded = match cte {
            Cte::Identity => chunk,
            Cte::Base64 => {
                b64.feed(chunk, &mut buf);
                &buf
            }
            Cte::Qp => {
                qp.feed(chunk, &mut buf);
                &buf
            }
        };
        out(decoded);
    })
}

/// `BINARY[part]<origin> ...` (RFC 3516 §4.2, §4.3; RFC 9051 §6.4.5,
/// §7.5.2).
///
/// A literal announces its length first, and which kind of literal it is
/// depends on whether the content holds NUL, so the section is decoded
/// twice: once to count its bytes and look for NUL, once to send it.
/// Nothing is buffered beyond one chunk.
fn binary(
    w: &mut Writer<'_>,
    s: &Structure,
    path: &[u32],
    partial: Option<Partial>,
    bytes: &mut dyn MessageBytes,
) -> io::Result<()> {
    w.push(b"BINARY[");
    write_part(&mut w.buf, path);
    w.push(b"]");
    if let Some(p) = partial {
        // RFC 3516 §4.3 and RFC 9051 §7.5.2 describe the response as
        // BINARY[...]<<number>>, the origin "within the DECODED section
        // data", as BODY[...]<origin> echoes it.
        w.push(format!("<{}>", p.origin).as_bytes());
    }
    w.push(b" ");
    let (range, d) =
        binary_source(s, path).map_err(|r| io::Error::new(io::ErrorKind::InvalidData, r))?;
    // RFC 3516 §4.2: a partial fetch counts decoded bytes.
    let mut window = Window::new(partial);
    let mut nul = false;
    decode_range(bytes, range, d, &mut |piece| {
        nul |= window.clip(piece).contains(&0);
    })?;
    let len = window.passed;
    if len == 0 {
        w.push(b"\"\"");
        return Ok(());
    }
    // RFC 3516 §4.3, RFC 9051 §7.5.2: a string when the decoded data holds
    // no NUL, so that the client knows it has none; a literal8 otherwise
    // (a literal may not carry NUL, RFC 9051 §4.3).
    w.literal_head(len, nul);
    w.flush();
    let mut window = Window::new(partial);
    let sink = &mut *w.sink;
    decode_range(bytes, range, d, &mut |piece| {
        let inside = window.clip(piece);
        if !inside.is_empty() {
            sink.bytes(inside);
        }
    })?;
    if window.passed != len {
        return Err(changed());
    }
    Ok(())
}

/// `BINARY.SIZE[part] n` (RFC 3516 §4.2, §4.3): the size BINARY[part]
/// sends. It is computed by a streaming decode pass each time it is asked
/// for, not cached: clients ask for it rarely (RFC 3516 §4.2 warns it may
/// be expensive), and a cache would grow every stored structure.
fn binary_size(
    w: &mut Writer<'_>,
    s: &Structure,
    path: &[u32],
    bytes: &mut dyn MessageBytes,
) -> io::Result<()> {
    w.push(b"BINARY.SIZE[");
    write_part(&mut w.buf, path);
    w.push(b"] ");
    let (range, d) =
        binary_source(s, path).map_err(|r| io::Error::new(io::ErrorKind::InvalidData, r))?;
    let size = if d == Cte::Identity {
        range.len
    } else {
        let mut n = 0u64;
        decode_range(bytes, range, d, &mut |piece| n += piece.len() as u64)?;
        n
    };
    w.push(size.to_string().as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests;
