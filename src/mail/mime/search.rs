//! Text for SEARCH (RFC 3501 §6.4.4, RFC 9051 §6.4.4): decoded text of a
//! message, and a case-insensitive substring matcher, both streaming.
//!
//! [`TextScan`] is fed the stored message in chunks (prefix, then body
//! file) and, guided by its [`Structure`], gives UTF-8 text to a
//! [`TextSink`]:
//! - the top-level header, field by field, as `name: value` with RFC 2047
//!   encoded words decoded ([`TextKind::Header`]);
//! - the bodies of text/* parts, Content-Transfer-Encoding and charset
//!   decoded ([`TextKind::Body`]); text/html has its tags removed roughly
//!   (entities stay as written), so that markup does not match;
//! - the headers of embedded messages, decoded like the top-level one, as
//!   body text (they are in the body of the outer message).
//!
//! Other parts (images, attachments) are skipped. A match never spans two
//! header fields or two parts: [`TextSink::end`] separates them.
//!
//! Matching folds case with Unicode simple case folding as Rust's
//! lowercase mapping gives it for single characters (Latin, Greek,
//! Cyrillic and more; `ς` and `ſ` folded too), so `SEARCH CHARSET UTF-8
//! BODY "ÉTÉ"` finds "été".

use super::decode::{Base64Decoder, CharsetDecoder, QpDecoder, TagStripper};
use super::{Content, Part, Structure, MAX_FIELD};
use crate::mail::header::{decode_words, trim, Charset};

/// What a piece of text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// The top-level header.
    Header,
    /// Body text.
    Body,
}

/// Receives decoded text.
pub trait TextSink {
    /// More text of the current field or part.
    fn text(&mut self, kind: TextKind, text: &str);
    /// The current field or part ended.
    fn end(&mut self);
}

/// Folds a character for case-insensitive comparison.
pub fn fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    match c {
        '\u{3C2}' => '\u{3C3}', // final sigma
        '\u{17F}' => 's',       // long s
        '\u{1E9E}' => '\u{DF}', // capital sharp s
        _ => {
            let mut l = c.to_lowercase();
            match (l.next(), l.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        }
    }
}

/// A streaming case-insensitive substring matcher (Knuth–Morris–Pratt over
/// folded characters): memory is proportional to the needle only.
#[derive(Debug, Clone)]
pub struct Finder {
    needle: Vec<char>,
    fail: Vec<usize>,
    matched: usize,
    found: bool,
}

impl Finder {
    /// A matcher for `needle`; an empty needle matches everything.
    pub fn new(needle: &str) -> Finder {
        let needle: Vec<char> = needle.chars().map(fold).collect();
        let mut fail = vec![0usize; needle.len()];
        let mut k = 0;
        for i in 1..needle.len() {
            while k > 0 && needle.get(i) != needle.get(k) {
                k = fail.get(k - 1).copied().unwrap_or(0);
            }
            if needle.get(i) == needle.get(k) {
                k += 1;
            }
            if let Some(f) = fail.get_mut(i) {
                *f = k;
            }
        }
        Finder {
            found: needle.is_empty(),
            needle,
            fail,
            matched: 0,
        }
    }

    /// Feeds more text; returns whether the needle has been found.
    pub fn feed(&mut self, text: &str) -> bool {
        if self.found {
            return true;
        }
        for c in text.chars() {
            let c = fold(c);
            while self.matched > 0 && self.needle.get(self.matched) != Some(&c) {
                self.matched = self.fail.get(self.matched - 1).copied().unwrap_or(0);
            }
            if self.needle.get(self.matched) == Some(&c) {
                self.matched += 1;
            }
            if self.matched == self.needle.len() {
                self.found = true;
                return true;
            }
        }
        false
    }

    /// Forgets a partial match (the text it was in ended).
    pub fn reset(&mut self) {
        self.matched = 0;
    }

    /// Whether the needle has been found.
    pub fn found(&self) -> bool {
        self.found
    }
}

/// Splits a header block, fed in chunks, into fields: name and unfolded
/// value, each field cut at [`MAX_FIELD`] bytes. Stops at the empty line.
#[derive(Debug, Clone, Default)]
pub struct FieldReader {
    buf: Vec<u8>,
    line_start: bool,
    started: bool,
    done: bool,
}

impl FieldReader {
    /// A reader at the start of a header.
    pub fn new() -> Self {
        FieldReader {
            line_start: true,
            ..Default::default()
        }
    }

    fn emit(&mut self, f: &mut impl FnMut(&[u8], &[u8])) {
        if let Some(colon) = self.buf.iter().position(|&b| b == b':') {
            let (name, value) = self.buf.split_at(colon);
            f(trim(name), trim(value.get(1..).unwrap_or_default()));
        }
        self.buf.clear();
    }

    /// Feeds header bytes; `f` gets each complete field.
    pub fn feed(&mut self, input: &[u8], f: &mut impl FnMut(&[u8], &[u8])) {
        for &b in input {
            if self.done {
                return;
            }
            if self.line_start {
                self.line_start = false;
                match b {
                    b' ' | b'\t' => {}
                    b'\r' | b'\n' => {
                        self.emit(f);
                        self.done = true;
                        return;
                    }
                    _ => {
                        if self.started {
                            self.emit(f);
                        }
                        self.started = true;
                    }
                }
            }
            if b == b'\n' {
                // Unfolding (RFC 5322 §2.2.3) drops the line break.
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
                self.line_start = true;
            } else if self.buf.len() < MAX_FIELD {
                self.buf.push(b);
            }
        }
    }

    /// Ends the header (one that lacks its empty line).
    pub fn finish(&mut self, f: &mut impl FnMut(&[u8], &[u8])) {
        if !self.done {
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
            self.emit(f);
            self.done = true;
        }
    }
}

/// Searches one header field (`HEADER name string`, and SUBJECT, FROM, TO,
/// CC, BCC, RFC 3501 §6.4.4) in a header block fed in chunks: the field's
/// value, encoded words decoded, must contain the string. An empty string
/// matches any message that has the field.
#[derive(Debug, Clone)]
pub struct HeaderSearch {
    name: Vec<u8>,
    needle: Finder,
    reader: FieldReader,
    found: bool,
}

impl HeaderSearch {
    /// Searches field `name` (case-insensitive) for `needle`.
    pub fn new(name: &[u8], needle: &str) -> Self {
        HeaderSearch {
            name: name.to_vec(),
            needle: Finder::new(needle),
            reader: FieldReader::new(),
            found: false,
        }
    }

    fn check(name: &[u8], want: &[u8], value: &[u8], finder: &mut Finder, found: &mut bool) {
        if !*found && name.eq_ignore_ascii_case(want) {
            finder.reset();
            *found = finder.feed(&decode_words(value));
        }
    }

    /// Feeds header bytes (such as the range of [`super::section::Spec::Header`]).
    pub fn feed(&mut self, input: &[u8]) {
        let (want, finder, found) = (&self.name, &mut self.needle, &mut self.found);
        self.reader
            .feed(input, &mut |n, v| Self::check(n, want, v, finder, found));
    }

    /// Ends the header and tells whether the field matched.
    pub fn finish(mut self) -> bool {
        let (want, finder, found) = (&self.name, &mut self.needle, &mut self.found);
        self.reader
            .finish(&mut |n, v| Self::check(n, want, v, finder, found));
        self.found
    }
}

/// The Content-Transfer-Encoding decoder of a part.
#[derive(Debug, Clone)]
enum Cte {
    Identity,
    Qp(QpDecoder),
    Base64(Base64Decoder),
}

#[derive(Debug, Clone, Copy)]
enum SegKind {
    Header(TextKind),
    Text,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    start: u64,
    end: u64,
    kind: SegKind,
    /// Index of the part (for text segments).
    part: usize,
}

#[derive(Debug)]
enum Active {
    Header(FieldReader, TextKind),
    Text {
        cte: Cte,
        charset: CharsetDecoder,
        html: Option<TagStripper>,
    },
}

/// Decodes the searchable text of a message fed in chunks; see the module
/// documentation.
#[derive(Debug)]
pub struct TextScan {
    segments: Vec<Segment>,
    /// Transfer encoding, charset and html flag of the text parts.
    parts: Vec<(Cte, Charset, bool)>,
    idx: usize,
    pos: u64,
    active: Option<Active>,
}

impl TextScan {
    /// A scan of the message whose structure is `s`.
    pub fn new(s: &Structure) -> TextScan {
        let mut scan = TextScan {
            segments: Vec::new(),
            parts: Vec::new(),
            idx: 0,
            pos: 0,
            active: None,
        };
        scan.header(&s.root, TextKind::Header);
        scan.walk(&s.root);
        scan
    }

    fn header(&mut self, p: &Part, kind: TextKind) {
        self.segments.push(Segment {
            start: p.header_start,
            end: p.header_start + p.header_len,
            kind: SegKind::Header(kind),
            part: 0,
        });
    }

    fn walk(&mut self, p: &Part) {
        match &p.content {
            Content::Single if p.is_text() => {
                let enc = p.encoding.as_deref().unwrap_or_default();
                let cte = if enc.eq_ignore_ascii_case(b"quoted-printable") {
                    Cte::Qp(QpDecoder::default())
                } else if enc.eq_ignore_ascii_case(b"base64") {
                    Cte::Base64(Base64Decoder::default())
                } else {
                    Cte::Identity
                };
                let charset = Charset::from_label(p.charset().unwrap_or(b"utf-8"));
                let html = p.subtype.eq_ignore_ascii_case(b"html");
                self.segments.push(Segment {
                    start: p.body_start,
                    end: p.body_start + p.body_len,
                    kind: SegKind::Text,
                    part: self.parts.len(),
                });
                self.parts.push((cte, charset, html));
            }
            Content::Single => {}
            Content::Multipart(children) => children.iter().for_each(|c| self.walk(c)),
            Content::Message(m) => {
                self.header(&m.root, TextKind::Body);
                self.walk(&m.root);
            }
        }
    }

    /// Feeds the next bytes of the message.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut impl TextSink) {
        let base = self.pos;
        let end = base + chunk.len() as u64;
        let mut at = base;
        while let Some(seg) = self.segments.get(self.idx).copied() {
            if seg.end <= at {
                self.end_segment(sink);
                continue;
            }
            if seg.start >= end || at >= end {
                break;
            }
            let from = seg.start.max(at);
            let to = seg.end.min(end);
            let bytes = usize::try_from(from - base)
                .ok()
                .zip(usize::try_from(to - base).ok())
                .and_then(|(a, b)| chunk.get(a..b))
                .unwrap_or_default();
            self.decode(seg, bytes, sink);
            at = to;
        }
        self.pos = end;
    }

    /// Ends the message (flushing a part cut short).
    pub fn finish(&mut self, sink: &mut impl TextSink) {
        while self.idx < self.segments.len() {
            self.end_segment(sink);
        }
    }

    fn decode(&mut self, seg: Segment, bytes: &[u8], sink: &mut impl TextSink) {
        if self.active.is_none() {
            self.active = Some(match seg.kind {
                SegKind::Header(kind) => Active::Header(FieldReader::new(), kind),
                SegKind::Text => {
                    let (cte, cs, html) = self.parts.get(seg.part).cloned().unwrap_or((
                        Cte::Identity,
                        Charset::Utf8,
                        false,
                    ));
                    Active::Text {
                        cte,
                        charset: CharsetDecoder::new(cs),
                        html: html.then(TagStripper::default),
                    }
                }
            });
        }
        match &mut self.active {
            Some(Active::Header(reader, kind)) => {
                let kind = *kind;
                reader.feed(bytes, &mut |n, v| field_text(n, v, kind, sink));
            }
            Some(Active::Text { cte, charset, html }) => {
                let mut raw = Vec::new();
                let decoded = match cte {
                    Cte::Identity => bytes,
                    Cte::Qp(d) => {
                        d.feed(bytes, &mut raw);
                        &raw
                    }
                    Cte::Base64(d) => {
                        d.feed(bytes, &mut raw);
                        &raw
                    }
                };
                let mut text = String::new();
                charset.feed(decoded, &mut text);
                emit_body(html, &text, sink);
            }
            None => {}
        }
    }

    fn end_segment(&mut self, sink: &mut impl TextSink) {
        match self.active.take() {
            Some(Active::Header(mut reader, kind)) => {
                reader.finish(&mut |n, v| field_text(n, v, kind, sink));
            }
            Some(Active::Text {
                mut charset,
                mut html,
                ..
            }) => {
                let mut text = String::new();
                charset.finish(&mut text);
                emit_body(&mut html, &text, sink);
                sink.end();
            }
            None => {}
        }
        self.idx += 1;
    }
}

fn field_text(name: &[u8], value: &[u8], kind: TextKind, sink: &mut impl TextSink) {
    let mut text = String::from_utf8_lossy(name).into_owned();
    text.push_str(": ");
    text.push_str(&decode_words(value));
    sink.text(kind, &text);
    sink.end();
}

fn emit_body(html: &mut Option<TagStripper>, text: &str, sink: &mut impl TextSink) {
    if text.is_empty() {
        return;
    }
    match html {
        Some(t) => {
            let mut stripped = String::new();
            t.feed(text, &mut stripped);
            sink.text(TextKind::Body, &stripped);
        }
        None => sink.text(TextKind::Body, text),
    }
}

/// Where a SEARCH string is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `BODY`: the body text only.
    Body,
    /// `TEXT`: header and body.
    Text,
}

#[derive(Debug)]
struct Keys(Vec<(Scope, Finder)>);

impl TextSink for Keys {
    fn text(&mut self, kind: TextKind, text: &str) {
        for (scope, f) in &mut self.0 {
            if *scope == Scope::Text || kind == TextKind::Body {
                f.feed(text);
            }
        }
    }

    fn end(&mut self) {
        self.0.iter_mut().for_each(|(_, f)| f.reset());
    }
}

/// Looks for several BODY / TEXT strings in one pass over a message.
///
/// ```
/// use facteur::mail::mime::{parse, search::{MessageSearch, Scope}};
/// let msg = b"Subject: Hello\r\n\r\nCaf=C3=A9\r\n";
/// let s = parse(msg);
/// let mut m = MessageSearch::new(&s, &[(Scope::Body, "hello"), (Scope::Text, "HELLO")]);
/// m.feed(msg);
/// assert_eq!(m.finish(), vec![false, true]);
/// ```
#[derive(Debug)]
pub struct MessageSearch {
    scan: TextScan,
    keys: Keys,
}

impl MessageSearch {
    /// A search of the message whose structure is `s` for `keys`.
    pub fn new(s: &Structure, keys: &[(Scope, &str)]) -> Self {
        MessageSearch {
            scan: TextScan::new(s),
            keys: Keys(keys.iter().map(|(s, k)| (*s, Finder::new(k))).collect()),
        }
    }

    /// Feeds the next bytes of the message.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.scan.feed(chunk, &mut self.keys);
    }

    /// Whether every string has been found (the rest need not be read).
    pub fn all_found(&self) -> bool {
        self.keys.0.iter().all(|(_, f)| f.found())
    }

    /// Ends the message; for each key, whether it was found.
    pub fn finish(mut self) -> Vec<bool> {
        self.scan.finish(&mut self.keys);
        self.keys.0.iter().map(|(_, f)| f.found()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{dovecot, nested};
    use super::super::parse;
    use super::*;

    /// Collects text per kind, with `|` where a field or part ends.
    #[derive(Default)]
    struct Collect {
        header: String,
        body: String,
    }

    impl TextSink for Collect {
        fn text(&mut self, kind: TextKind, text: &str) {
            match kind {
                TextKind::Header => self.header.push_str(text),
                TextKind::Body => self.body.push_str(text),
            }
        }
        fn end(&mut self) {
            self.header.push('|');
            self.body.push('|');
        }
    }

    /// Scans `msg` whole, split in two at every byte, and byte by byte.
    fn scan_every_way(msg: &[u8]) -> (String, String) {
        let s = parse(msg);
        let run = |chunks: &[&[u8]]| {
            let mut scan = TextScan::new(&s);
            let mut c = Collect::default();
            for ch in chunks {
                scan.feed(ch, &mut c);
            }
            scan.finish(&mut c);
            // Collapse the separators to compare what matters.
            (c.header.replace("||", "|"), c.body.replace("||", "|"))
        };
        let whole = run(&[msg]);
        for i in 0..=msg.len() {
            let (a, b) = msg.split_at(i);
            assert_eq!(run(&[a, b]), whole, "split at {i}");
        }
        let bytes: Vec<&[u8]> = msg.chunks(1).collect();
        assert_eq!(run(&bytes), whole, "byte by byte");
        whole
    }

    #[test]
    fn decodes_text_parts_and_headers() {
        let (header, body) = scan_every_way(&nested());
        assert!(header.contains("Subject: caf\u{e9} menu|"), "{header}");
        assert!(header.contains("From: \"Ann\" <ann@example.org>|"));
        // Quoted-printable latin-1, then html with tags removed; the pdf
        // attachment is skipped.
        assert!(body.contains("Cr\u{e8}me br\u{fb}l\u{e9}e"), "{body}");
        assert!(body.contains(" Cr\u{e8}me  br\u{fb}l\u{e9}e"), "{body}");
        assert!(!body.contains("<p>"));
        assert!(!body.contains("secret"));
        assert!(!body.contains("JVBER"));
    }

    #[test]
    fn embedded_message_headers_are_body_text() {
        let (header, body) = scan_every_way(&dovecot());
        assert!(header.contains("From: user@domain.org"));
        assert!(!header.contains("submsg"));
        assert!(body.contains("Subject: submsg|"), "{body}");
        assert!(body.contains("hello"));
        assert!(body.contains("Hello another world"));
        // Only text parts: the preamble and epilogue are not searched.
        assert!(!body.contains("prologue"));
    }

    #[test]
    fn base64_utf8_body() {
        let msg = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nw4l0w6kg\r\nZW4gR3LDqGNl\r\n";
        let (_, body) = scan_every_way(msg);
        assert_eq!(body.trim_matches('|'), "\u{c9}t\u{e9} en Gr\u{e8}ce");
    }

    #[test]
    fn finder_folds_case_and_spans_chunks() {
        let mut f = Finder::new("\u{c9}T\u{c9}");
        assert!(!f.feed("l'\u{e9}"));
        assert!(f.feed("t\u{e9} !"));
        let mut f = Finder::new("\u{3a3}OS");
        assert!(f.feed("\u{3c2}os"));
        let mut f = Finder::new("aab");
        assert!(!f.feed("aaa"));
        assert!(f.feed("b"));
        let mut f = Finder::new("ab");
        assert!(!f.feed("a"));
        f.reset();
        assert!(!f.feed("b"));
        assert!(Finder::new("").found());
        // KMP restarts correctly inside a partial match.
        let mut f = Finder::new("abac");
        assert!(f.feed("ababac"));
    }

    #[test]
    fn message_search_scopes() {
        let msg = nested();
        let s = parse(&msg);
        let keys = [
            (Scope::Body, "BR\u{db}L\u{c9}E"),
            (Scope::Body, "menu"),
            (Scope::Text, "CAF\u{c9}"),
            (Scope::Text, "secret"),
            (Scope::Body, "me br"),
            (Scope::Text, "menu.pdf"),
        ];
        let mut m = MessageSearch::new(&s, &keys);
        for c in msg.chunks(5) {
            m.feed(c);
        }
        assert!(!m.all_found());
        assert_eq!(m.finish(), vec![true, false, true, false, true, false]);
    }

    #[test]
    fn header_search() {
        let h = b"Subject: =?iso-8859-1?Q?Caf=E9?=\r\n au lait\r\nFrom: x@y\r\n\r\n";
        let find = |name: &[u8], needle: &str| {
            let mut hs = HeaderSearch::new(name, needle);
            for c in h.chunks(3) {
                hs.feed(c);
            }
            hs.finish()
        };
        assert!(find(b"subject", "caf\u{c9} AU"));
        assert!(find(b"SUBJECT", ""));
        assert!(!find(b"subject", "x@y"));
        assert!(find(b"from", "X@Y"));
        assert!(!find(b"cc", ""));
    }
}
