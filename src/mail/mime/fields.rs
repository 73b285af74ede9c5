//! The header fields clients list, search, sort and thread on, kept with
//! a message's structure so that `BODY.PEEK[HEADER.FIELDS (...)]`,
//! `SEARCH FROM/TO/CC/SUBJECT/HEADER`, SORT and THREAD need not open the
//! body file.
//!
//! The record holds the raw lines of the [`CACHED`] fields of the message
//! header, as they stand (folding, repeated fields and encoded words
//! kept), in order, followed by the empty line that ends the header. It
//! is the output of the very [`HeaderFilter`] that answers
//! `HEADER.FIELDS` from the file, so filtering it again, or searching it,
//! gives the same bytes and the same answers as the file does.
//!
//! # Limits
//! - At most [`MAX_CACHED`] bytes are kept per message; when the fields
//!   are longer, the longest fields are left out whole and marked, and a
//!   lookup of a left-out field reads the file.
//! - While a message is parsed, at most [`MAX_COLLECT`] bytes are held;
//!   past that nothing is cached for the message.
//! - When the filter and the structure parser disagree on where the header
//!   ends (odd line ends), nothing is cached: the file is read.

use super::search::FieldReader;
use super::section::HeaderFilter;
use super::Structure;
use serde::{Deserialize, Serialize};

/// The cached fields (lower case): what webmail clients list, search,
/// sort and thread on (RFC 5256 §3 needs Subject, Date, Message-ID,
/// In-Reply-To and References; SORT also From, To and Cc).
pub const CACHED: [&str; 10] = [
    "subject",
    "from",
    "to",
    "cc",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "list-id",
    "content-type",
];

/// Most bytes of cached lines per message. A typical message has 400 to
/// 800 bytes of these fields; a long References field of a deep thread is
/// what gets left out (and read from the file) first.
pub const MAX_CACHED: usize = 2048;

/// Most bytes of cached lines held while a message is parsed.
pub const MAX_COLLECT: usize = 16 * 1024;

/// The cached header fields of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fields {
    /// Whether the record was made (`false`: ask the file for everything).
    known: bool,
    /// Bit `i` set: field `CACHED[i]` was left out; ask the file for it.
    dropped: u16,
    /// The kept lines, then the header's ending empty line (if it has one).
    lines: Vec<u8>,
}

impl Fields {
    /// The index of `name` (case-insensitive, trimmed) in [`CACHED`].
    fn index(name: &[u8]) -> Option<usize> {
        let name = crate::mail::header::trim(name);
        CACHED
            .iter()
            .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
    }

    /// Whether `name` is one of the [`CACHED`] fields.
    pub fn is_cached(name: &[u8]) -> bool {
        Fields::index(name).is_some()
    }

    /// Whether every field of `names` can be answered from the record:
    /// each is cached, and was not left out of this message's record.
    pub fn covers<N: AsRef<[u8]>>(&self, names: &[N]) -> bool {
        self.known
            && names.iter().all(|n| match Fields::index(n.as_ref()) {
                Some(i) => self.dropped & (1 << i) == 0,
                None => false,
            })
    }

    /// The value of the first `name` field, unfolded and trimmed as
    /// [`FieldReader`] gives it: what SORT and THREAD read (`None` when
    /// absent). Only for a field the record [`covers`](Fields::covers).
    pub fn first(&self, name: &str) -> Option<Vec<u8>> {
        let mut found = None;
        let mut take = |n: &[u8], v: &[u8]| {
            if found.is_none() && n.eq_ignore_ascii_case(name.as_bytes()) {
                found = Some(v.to_vec());
            }
        };
        let mut r = FieldReader::new();
        r.feed(&self.lines, &mut take);
        r.finish(&mut take);
        found
    }

    /// The kept lines: a header block holding only the cached fields,
    /// to be fed to [`HeaderFilter`] or a header search.
    pub fn lines(&self) -> &[u8] {
        &self.lines
    }
}

/// Collects the [`Fields`] of the top-level header while a message is
/// parsed.
#[derive(Debug, Clone)]
pub(super) struct Collector {
    filter: HeaderFilter,
    /// Bytes fed so far.
    pos: u64,
    /// Whether the next byte starts a line.
    line_start: bool,
    /// Whether the current line is the empty line ending the header.
    blank: bool,
    /// Where the header ended, once it did.
    end: Option<u64>,
    buf: Vec<u8>,
    overflow: bool,
}

impl Collector {
    pub(super) fn new() -> Collector {
        Collector {
            filter: HeaderFilter::new(&CACHED, false),
            pos: 0,
            line_start: true,
            blank: false,
            end: None,
            buf: Vec::new(),
            overflow: false,
        }
    }

    /// Feeds the next bytes of the message; cheap once the header ended.
    pub(super) fn feed(&mut self, mut data: &[u8]) {
        while self.end.is_none() && !data.is_empty() {
            let (piece, rest) = match data.iter().position(|&b| b == b'\n') {
                Some(i) => data.split_at(i + 1),
                None => (data, &[][..]),
            };
            if self.line_start {
                // The filter's own rule: a line starting with CR or LF
                // ends the header.
                self.blank = matches!(piece.first(), Some(b'\r' | b'\n'));
            }
            let (buf, overflow) = (&mut self.buf, &mut self.overflow);
            self.filter.feed(piece, &mut |b| {
                if buf.len() + b.len() > MAX_COLLECT {
                    *overflow = true;
                } else if !*overflow {
                    buf.extend_from_slice(b);
                }
            });
            self.pos += piece.len() as u64;
            self.line_start = piece.last() == Some(&b'\n');
            if self.line_start && self.blank {
                self.end = Some(self.pos);
            }
            data = rest;
        }
    }

    /// The record for the message whose structure is `s`: unknown when
    /// the header the parser found is not the one the filter read.
    pub(super) fn finish(self, s: &Structure) -> Fields {
        let parsed_end = s.root.header_start + s.root.header_len;
        if self.overflow || s.root.header_start != 0 || self.end.unwrap_or(self.pos) != parsed_end {
            return Fields::default();
        }
        let mut f = Fields {
            known: true,
            dropped: 0,
            lines: self.buf,
        };
        if f.lines.len() > MAX_CACHED {
            shrink(&mut f);
        }
        f
    }
}

/// One field of a kept header block: its [`CACHED`] index and its bytes.
fn split(lines: &[u8]) -> Vec<(Option<usize>, &[u8])> {
    let mut out: Vec<(Option<usize>, &[u8])> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut name: Option<usize> = None;
    while i < lines.len() {
        let end = lines
            .get(i..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
            .map_or(lines.len(), |p| i + p + 1);
        let line = lines.get(i..end).unwrap_or_default();
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            if i > start {
                out.push((name, lines.get(start..i).unwrap_or_default()));
            }
            start = i;
            let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
            name = Fields::index(line.get(..colon).unwrap_or_default());
        }
        i = end;
    }
    if i > start {
        out.push((name, lines.get(start..i).unwrap_or_default()));
    }
    out
}

/// Leaves out whole fields, the longest first, until the record fits in
/// [`MAX_CACHED`].
fn shrink(f: &mut Fields) {
    let mut sizes = [0usize; CACHED.len()];
    for (idx, bytes) in split(&f.lines) {
        if let Some(i) = idx {
            sizes[i] += bytes.len();
        }
    }
    let mut total = f.lines.len();
    while total > MAX_CACHED {
        let Some((i, &n)) = sizes.iter().enumerate().max_by_key(|(_, n)| **n) else {
            break;
        };
        if n == 0 {
            break;
        }
        f.dropped |= 1 << i;
        sizes[i] = 0;
        total -= n;
    }
    let mut kept = Vec::with_capacity(total);
    for (idx, bytes) in split(&f.lines) {
        if idx.is_none_or(|i| f.dropped & (1 << i) == 0) {
            kept.extend_from_slice(bytes);
        }
    }
    f.lines = kept;
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn filter(header: &[u8], names: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        HeaderFilter::new(names, false).feed(header, &mut |b| out.extend_from_slice(b));
        out
    }

    #[test]
    fn keeps_the_raw_lines_of_the_cached_fields() {
        let msg = b"Received: x\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n  folded\r\n\
                    X-A: 1\r\nTo: a@b\r\nTo: c@d\r\n\r\nbody\r\n";
        let s = parse(msg);
        assert_eq!(
            s.fields.lines(),
            b"Subject: =?utf-8?q?caf=C3=A9?=\r\n  folded\r\nTo: a@b\r\nTo: c@d\r\n\r\n"
        );
        assert!(s.fields.covers(&["TO", "subject"]));
        assert_eq!(s.fields.first("to").as_deref(), Some(&b"a@b"[..]));
        assert_eq!(
            s.fields.first("Subject").as_deref(),
            Some(&b"=?utf-8?q?caf=C3=A9?=  folded"[..])
        );
        assert_eq!(s.fields.first("cc"), None);
        assert!(!s.fields.covers(&["x-a"]));
    }

    #[test]
    fn long_fields_are_left_out_whole() {
        let refs = format!("References: {}\r\n", "<a@b> ".repeat(600));
        let msg = format!("Subject: s\r\n{refs}From: f@g\r\n\r\nbody");
        let s = parse(msg.as_bytes());
        assert!(s.fields.covers(&["subject", "from"]));
        assert!(!s.fields.covers(&["references"]));
        assert_eq!(s.fields.lines(), b"Subject: s\r\nFrom: f@g\r\n\r\n");
        assert!(s.fields.lines().len() <= MAX_CACHED);
    }

    #[test]
    fn filtering_the_record_equals_filtering_the_header() {
        let header = b"From: a\r\nSubject: one\r\n\ttwo\r\nDate: x\r\nSubject: again\r\n\r\n";
        let s = parse(header);
        for names in [
            &["subject"][..],
            &["from", "date"],
            &["cc"],
            &["SUBJECT", "to"],
        ] {
            assert_eq!(filter(s.fields.lines(), names), filter(header, names));
        }
    }

    #[test]
    fn the_record_answers_as_the_header_whatever_the_line_ends() {
        let odd: [&[u8]; 6] = [
            b"Subject: a\r\n\rX: y\r\n\r\nbody",
            b"Subject: a\nFrom: b\n\nbody",
            b"Subject: a\r\nFrom: b",
            b" folded first\r\nSubject: a\r\n\r\n",
            b"Subject a\r\nTo: x\r\n\r\n",
            b"",
        ];
        let mut cached = 0;
        for msg in odd {
            let s = parse(msg);
            let r = super::super::section::resolve(&s, &[], super::super::section::Spec::Header);
            let header = &msg[r.start as usize..r.end() as usize];
            for names in [&["subject"][..], &["to", "from"]] {
                if s.fields.covers(names) {
                    cached += 1;
                    assert_eq!(filter(s.fields.lines(), names), filter(header, names));
                }
            }
        }
        assert!(cached >= 6, "{cached}");
    }

    #[test]
    fn stored_with_the_structure_and_read_alone() {
        let s = parse(b"Subject: a\r\nX: b\r\n\r\nbody");
        let bytes = super::super::encode(&s);
        assert_eq!(super::super::decode(&bytes), Some(s.clone()));
        assert_eq!(super::super::decode_fields(&bytes), Some(s.fields));
        // A record of the first layout (variant 0, before the fields) is
        // parsed again rather than misread.
        let old = [0u8, 20, 0, 0, 0];
        assert_eq!(super::super::decode(&old), None);
        assert_eq!(super::super::decode_fields(&old), None);
    }
}
