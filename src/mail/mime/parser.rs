//! The streaming structure parser.
//!
//! The parser works line by line (a line ends at LF; a CR before it is part
//! of the line end). Of each line it keeps only what it needs: up to
//! [`MAX_FIELD`] bytes inside a header, the first bytes that could hold a
//! boundary inside a multipart body, nothing otherwise. The parts being
//! read form a stack of frames; a frame is closed when a boundary of an
//! enclosing multipart or the end of the message is reached.

use super::fields::{Collector, Fields};
use super::{
    Content, Disposition, Embedded, Envelope, Part, Structure, MAX_BOUNDARY, MAX_DEPTH, MAX_FIELD,
    MAX_PARTS, MAX_STRINGS,
};
use crate::mail::header::{self, is_wsp, Param};

/// Header fields the parser keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    ContentType,
    Encoding,
    Id,
    Description,
    Disposition,
    Language,
    Location,
    Md5,
    Date,
    Subject,
    From,
    Sender,
    ReplyTo,
    To,
    Cc,
    Bcc,
    InReplyTo,
    MessageId,
}

const NFIELDS: usize = 18;

impl Field {
    /// The field a header name stands for; ENVELOPE fields only in the
    /// header of a message (top-level or embedded).
    fn of(name: &[u8], message: bool) -> Option<Field> {
        let n = name.to_ascii_lowercase();
        let f = match n.as_slice() {
            b"content-type" => Field::ContentType,
            b"content-transfer-encoding" => Field::Encoding,
            b"content-id" => Field::Id,
            b"content-description" => Field::Description,
            b"content-disposition" => Field::Disposition,
            b"content-language" => Field::Language,
            b"content-location" => Field::Location,
            b"content-md5" => Field::Md5,
            _ if !message => return None,
            b"date" => Field::Date,
            b"subject" => Field::Subject,
            b"from" => Field::From,
            b"sender" => Field::Sender,
            b"reply-to" => Field::ReplyTo,
            b"to" => Field::To,
            b"cc" => Field::Cc,
            b"bcc" => Field::Bcc,
            b"in-reply-to" => Field::InReplyTo,
            b"message-id" => Field::MessageId,
            _ => return None,
        };
        Some(f)
    }
}

/// Whether the parser keeps a header field of a message's header.
pub(super) fn is_kept_field(name: &[u8]) -> bool {
    Field::of(header::trim(name), true).is_some()
}

/// Where a multipart is in its body (RFC 2046 §5.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Preamble,
    Parts,
    Epilogue,
}

#[derive(Debug)]
enum State {
    /// Reading the header.
    Header,
    /// In the body of a leaf.
    Leaf,
    /// In the body of a multipart.
    Multipart {
        boundary: Vec<u8>,
        phase: Phase,
        children: Vec<Part>,
        digest: bool,
    },
    /// In the body of a message/rfc822; the embedded message is the frame
    /// above until it is closed and stored here.
    Message { embedded: Option<Box<Embedded>> },
}

#[derive(Debug)]
struct Frame {
    part: Part,
    state: State,
    /// LF bytes before the body.
    body_lf: u64,
    /// Whether this entity is a message (collects ENVELOPE fields).
    message: bool,
    envelope: Envelope,
    /// Whether the parent is a multipart/digest (RFC 2046 §5.1.5).
    in_digest: bool,
}

impl Frame {
    fn new(start: u64, message: bool, in_digest: bool) -> Frame {
        Frame {
            part: Part {
                header_start: start,
                header_len: 0,
                body_start: start,
                body_len: 0,
                body_lines: 0,
                media_type: Vec::new(),
                subtype: Vec::new(),
                params: Vec::new(),
                id: None,
                description: None,
                encoding: None,
                disposition: None,
                language: Vec::new(),
                location: None,
                md5: None,
                content: Content::Single,
            },
            state: State::Header,
            body_lf: 0,
            message,
            envelope: Envelope::default(),
            in_digest,
        }
    }
}

/// Records the [`Structure`] of a message fed in chunks.
///
/// ```
/// use facteur::mail::mime::Parser;
/// let mut p = Parser::new();
/// p.feed(b"Subject: hi\r\n\r\nhel");
/// p.feed(b"lo\r\n");
/// let s = p.finish();
/// assert_eq!((s.root.body_start, s.root.body_len, s.root.body_lines), (15, 7, 1));
/// ```
#[derive(Debug)]
pub struct Parser {
    /// Bytes fed so far.
    offset: u64,
    /// LF bytes in complete lines so far.
    lfs: u64,
    /// Kept start of the current line.
    line: Vec<u8>,
    /// Offset of the current line.
    line_start: u64,
    /// Full length of the current line so far.
    line_len: u64,
    /// How much of the current line to keep.
    line_keep: usize,
    /// The last two bytes fed (to see a CR before LF).
    last: [u8; 2],
    /// Length of the line end of the previous line.
    prev_eol: u64,
    stack: Vec<Frame>,
    done: Option<(Envelope, Part)>,
    /// Parts created.
    parts: usize,
    /// What is left of [`MAX_STRINGS`].
    budget: usize,
    /// Kept fields of the header being read.
    fields: [Option<Vec<u8>>; NFIELDS],
    /// The field whose continuation lines are being collected.
    current: Option<Field>,
    /// The cached header fields of the message.
    cached: Collector,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new()
    }
}

impl Parser {
    /// A parser at the start of a message.
    pub fn new() -> Parser {
        Parser {
            offset: 0,
            lfs: 0,
            line: Vec::new(),
            line_start: 0,
            line_len: 0,
            line_keep: MAX_FIELD,
            last: [0; 2],
            prev_eol: 0,
            stack: vec![Frame::new(0, true, false)],
            done: None,
            parts: 1,
            budget: MAX_STRINGS,
            fields: Default::default(),
            current: None,
            cached: Collector::new(),
        }
    }

    /// Feeds the next bytes of the message.
    pub fn feed(&mut self, mut data: &[u8]) {
        self.cached.feed(data);
        while !data.is_empty() {
            let (piece, rest) = match data.iter().position(|&b| b == b'\n') {
                Some(i) => data.split_at(i + 1),
                None => (data, &[][..]),
            };
            self.push(piece);
            if piece.last() == Some(&b'\n') {
                self.end_line();
            }
            data = rest;
        }
    }

    /// Ends the message and returns its structure.
    pub fn finish(mut self) -> Structure {
        if self.line_len > 0 {
            // A last line without a line end (often a close boundary).
            let line = std::mem::take(&mut self.line);
            let keep = line
                .len()
                .min(usize::try_from(self.line_len).unwrap_or(usize::MAX));
            let lfs = self.lfs;
            self.on_line(
                self.line_start,
                line.get(..keep).unwrap_or_default(),
                self.line_len,
                0,
                lfs,
            );
        }
        let (end, lfs) = (self.offset, self.lfs);
        self.close_above(0, end, lfs);
        let (envelope, root) = self.done.take().unwrap_or_else(|| {
            let f = Frame::new(0, true, false);
            (f.envelope, f.part)
        });
        let mut s = Structure {
            fields: Fields::default(),
            size: self.offset,
            envelope,
            root,
        };
        s.fields = self.cached.finish(&s);
        s
    }

    fn push(&mut self, piece: &[u8]) {
        let room = self.line_keep.saturating_sub(self.line.len());
        self.line
            .extend_from_slice(piece.get(..room.min(piece.len())).unwrap_or(piece));
        let n = piece.len() as u64;
        self.line_len += n;
        self.offset += n;
        match piece {
            [.., a, b] => self.last = [*a, *b],
            [b] => self.last = [self.last[1], *b],
            [] => {}
        }
    }

    fn end_line(&mut self) {
        let eol = if self.line_len >= 2 && self.last[0] == b'\r' {
            2
        } else {
            1
        };
        let content_len = self.line_len - eol;
        let mut line = std::mem::take(&mut self.line);
        let keep = line
            .len()
            .min(usize::try_from(content_len).unwrap_or(usize::MAX));
        let lfs = self.lfs;
        self.on_line(
            self.line_start,
            line.get(..keep).unwrap_or_default(),
            self.line_len,
            eol,
            lfs,
        );
        self.lfs += 1;
        self.line_start += self.line_len;
        self.line_len = 0;
        line.clear();
        self.line = line;
        self.line_keep = self.keep_limit();
    }

    /// How much of the next line is needed.
    fn keep_limit(&self) -> usize {
        if matches!(self.stack.last().map(|f| &f.state), Some(State::Header)) {
            return MAX_FIELD;
        }
        let boundary_active =
            self.stack.iter().rev().any(
                |f| matches!(f.state, State::Multipart { phase, .. } if phase != Phase::Epilogue),
            );
        if boundary_active {
            2 + MAX_BOUNDARY + 2
        } else {
            0
        }
    }

    /// Handles one complete line: `content` is its kept start without the
    /// line end, `total` its full length, `eol` the line end's length.
    fn on_line(&mut self, start: u64, content: &[u8], total: u64, eol: u64, lf_before: u64) {
        if let Some(rest) = content.strip_prefix(b"--") {
            if let Some((k, blen)) = self.find_boundary(rest) {
                let close = rest.get(blen..).is_some_and(|r| r.starts_with(b"--"));
                // RFC 2046 §5.1.1: the line end before the boundary line
                // belongs to the boundary.
                let (end, lf_end) = if self.prev_eol > 0 && start >= self.prev_eol {
                    (start - self.prev_eol, lf_before.saturating_sub(1))
                } else {
                    (start, lf_before)
                };
                self.close_above(k + 1, end, lf_end);
                let next = start + total;
                let full = self.parts >= MAX_PARTS;
                let mut child = None;
                if let Some(Frame {
                    state: State::Multipart { phase, digest, .. },
                    ..
                }) = self.stack.get_mut(k)
                {
                    if close || full {
                        // After the close delimiter comes the epilogue;
                        // past the part limit the rest is opaque.
                        *phase = Phase::Epilogue;
                    } else {
                        *phase = Phase::Parts;
                        child = Some(*digest);
                    }
                }
                if let Some(in_digest) = child {
                    self.parts += 1;
                    self.stack.push(Frame::new(next, false, in_digest));
                }
                self.prev_eol = eol;
                return;
            }
        }
        if matches!(self.stack.last().map(|f| &f.state), Some(State::Header)) {
            self.header_line(start, content, total, eol, lf_before);
        }
        self.prev_eol = eol;
    }

    /// The innermost open multipart whose boundary starts `rest` (the line
    /// after `--`), preferring the longest boundary when several match, as
    /// only the start of the line has to match.
    fn find_boundary(&self, rest: &[u8]) -> Option<(usize, usize)> {
        let mut best: Option<(usize, usize)> = None;
        for (k, f) in self.stack.iter().enumerate().rev() {
            if let State::Multipart {
                boundary, phase, ..
            } = &f.state
            {
                if *phase != Phase::Epilogue
                    && rest.starts_with(boundary)
                    && best.is_none_or(|(_, l)| boundary.len() > l)
                {
                    best = Some((k, boundary.len()));
                }
            }
        }
        best
    }

    fn header_line(&mut self, start: u64, content: &[u8], total: u64, eol: u64, lf_before: u64) {
        if content.is_empty() && eol > 0 {
            // The empty line ending the header (RFC 5322 §2.1).
            self.end_header(start + total, lf_before + 1);
            return;
        }
        if content.first().is_some_and(|&b| is_wsp(b)) {
            // RFC 5322 §2.2.3: unfolding removes the line break only.
            if let Some(f) = self.current {
                if let Some(Some(v)) = self.fields.get_mut(f as usize) {
                    let room = MAX_FIELD.saturating_sub(v.len());
                    v.extend_from_slice(content.get(..room.min(content.len())).unwrap_or_default());
                }
            }
            return;
        }
        self.current = None;
        let Some(colon) = content.iter().position(|&b| b == b':') else {
            return;
        };
        let message = self.stack.last().is_some_and(|f| f.message);
        let name = header::trim(content.get(..colon).unwrap_or_default());
        if let Some(f) = Field::of(name, message) {
            if let Some(slot @ None) = self.fields.get_mut(f as usize) {
                // The first occurrence counts.
                let value = content.get(colon + 1..).unwrap_or_default();
                *slot = Some(value.get(..MAX_FIELD).unwrap_or(value).to_vec());
                self.current = Some(f);
            }
        }
    }

    fn keep(&mut self, v: Option<&[u8]>) -> Option<Vec<u8>> {
        let v = header::trim(v?);
        if v.len() > self.budget {
            return None;
        }
        self.budget -= v.len();
        Some(v.to_vec())
    }

    fn keep_params(&mut self, params: Vec<Param>) -> Vec<Param> {
        let mut out = Vec::new();
        for p in params {
            let cost = p.name.len() + p.value.len();
            if cost <= self.budget {
                self.budget -= cost;
                out.push(p);
            }
        }
        out
    }

    /// The header of the top frame ends at `at` (`lf_at` LF bytes before):
    /// interpret its fields and start its body.
    fn end_header(&mut self, at: u64, lf_at: u64) {
        let mut fields: [Option<Vec<u8>>; NFIELDS] = Default::default();
        std::mem::swap(&mut fields, &mut self.fields);
        self.current = None;
        let get = |f: Field| fields.get(f as usize).and_then(|v| v.as_deref());
        let depth = self.stack.len();
        let (message, in_digest) = match self.stack.last() {
            Some(f) => (f.message, f.in_digest),
            None => return,
        };

        let ct = get(Field::ContentType).and_then(header::parse_content_type);
        let (mut media_type, mut subtype, params) = match ct {
            Some(ct) => (ct.media_type, ct.subtype, ct.params),
            // RFC 2046 §5.1.5: in a digest the default is message/rfc822;
            // RFC 2045 §5.2: otherwise text/plain; charset=us-ascii.
            None if in_digest => (b"message".to_vec(), b"rfc822".to_vec(), Vec::new()),
            None => (b"text".to_vec(), b"plain".to_vec(), Vec::new()),
        };
        let mut state = State::Leaf;
        let mut embedded = false;
        if media_type.eq_ignore_ascii_case(b"multipart") {
            let boundary = header::param(&params, b"boundary")
                .filter(|b| !b.is_empty() && b.len() <= MAX_BOUNDARY && depth < MAX_DEPTH);
            // A multipart without a usable boundary keeps its type and has
            // no parts (rendered with one empty part, as Dovecot does).
            state = State::Multipart {
                boundary: boundary.unwrap_or_default().to_vec(),
                phase: if boundary.is_some() {
                    Phase::Preamble
                } else {
                    Phase::Epilogue
                },
                children: Vec::new(),
                digest: subtype.eq_ignore_ascii_case(b"digest"),
            };
        } else if media_type.eq_ignore_ascii_case(b"message")
            && (subtype.eq_ignore_ascii_case(b"rfc822") || subtype.eq_ignore_ascii_case(b"global"))
        {
            if depth < MAX_DEPTH && self.parts < MAX_PARTS {
                state = State::Message { embedded: None };
                embedded = true;
            } else {
                // Too deep or too many parts: an opaque leaf.
                media_type = b"application".to_vec();
                subtype = b"octet-stream".to_vec();
            }
        }
        let params = self.keep_params(params);
        let id = self.keep(get(Field::Id));
        let description = self.keep(get(Field::Description));
        let encoding = get(Field::Encoding)
            .and_then(header::parse_token_field)
            .and_then(|t| self.keep(Some(&t)));
        let disposition = get(Field::Disposition)
            .and_then(header::parse_disposition)
            .map(|(kind, ps)| (self.keep(Some(&kind)), ps));
        let disposition = match disposition {
            Some((Some(kind), ps)) => Some(Disposition {
                kind,
                params: self.keep_params(ps),
            }),
            _ => None,
        };
        let language = get(Field::Language)
            .map(header::parse_language)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|l| self.keep(Some(&l)))
            .collect();
        let location = self.keep(get(Field::Location));
        let md5 = self.keep(get(Field::Md5));
        let envelope = if message {
            Envelope {
                date: self.keep(get(Field::Date)),
                subject: self.keep(get(Field::Subject)),
                from: self.keep(get(Field::From)),
                sender: self.keep(get(Field::Sender)),
                reply_to: self.keep(get(Field::ReplyTo)),
                to: self.keep(get(Field::To)),
                cc: self.keep(get(Field::Cc)),
                bcc: self.keep(get(Field::Bcc)),
                in_reply_to: self.keep(get(Field::InReplyTo)),
                message_id: self.keep(get(Field::MessageId)),
            }
        } else {
            Envelope::default()
        };

        let Some(frame) = self.stack.last_mut() else {
            return;
        };
        let p = &mut frame.part;
        p.header_len = at.saturating_sub(p.header_start);
        p.body_start = at;
        p.media_type = media_type;
        p.subtype = subtype;
        p.params = params;
        p.id = id;
        p.description = description;
        p.encoding = encoding;
        p.disposition = disposition;
        p.language = language;
        p.location = location;
        p.md5 = md5;
        frame.envelope = envelope;
        frame.body_lf = lf_at;
        frame.state = state;
        if embedded {
            self.parts += 1;
            let mut child = Frame::new(at, true, false);
            child.body_lf = lf_at;
            self.stack.push(child);
        }
    }

    /// Closes every frame at index `keep` and above: their bodies end at
    /// `end`, with `lf_end` LF bytes before it.
    fn close_above(&mut self, keep: usize, end: u64, lf_end: u64) {
        while self.stack.len() > keep {
            let Some(top) = self.stack.last() else {
                return;
            };
            if matches!(top.state, State::Header) {
                // The header never ended: it ends here, the body is empty.
                let at = end.max(top.part.header_start);
                self.end_header(at, lf_end);
                continue;
            }
            let Some(mut frame) = self.stack.pop() else {
                return;
            };
            let p = &mut frame.part;
            let e = end.max(p.body_start);
            p.body_len = e - p.body_start;
            p.body_lines = if end > p.body_start {
                lf_end.saturating_sub(frame.body_lf)
            } else {
                0
            };
            self.attach(frame);
        }
    }

    /// Hands a closed frame to its parent.
    fn attach(&mut self, frame: Frame) {
        let Frame {
            mut part,
            state,
            envelope,
            ..
        } = frame;
        part.content = match state {
            State::Header | State::Leaf => Content::Single,
            State::Multipart { children, .. } => Content::Multipart(children),
            State::Message { embedded } => Content::Message(embedded.unwrap_or_else(|| {
                let f = Frame::new(part.body_start, true, false);
                Box::new(Embedded {
                    envelope: f.envelope,
                    root: f.part,
                })
            })),
        };
        match self.stack.last_mut().map(|f| &mut f.state) {
            Some(State::Multipart { children, .. }) => children.push(part),
            Some(State::Message { embedded }) => {
                *embedded = Some(Box::new(Embedded {
                    envelope,
                    root: part,
                }))
            }
            Some(_) => {}
            None => self.done = Some((envelope, part)),
        }
    }
}

#[cfg(test)]
mod tests;
