//! `BODY[section]` (RFC 3501 §6.4.5, RFC 9051 §6.4.5): which bytes of the
//! stored message a section names, and the HEADER.FIELDS filter.
//!
//! Part numbers follow RFC 3501 §6.4.5: the parts of a multipart are
//! numbered from 1; part 1 of a message that is not multipart is its body;
//! the parts of a message/rfc822 part are those of the message it holds.
//! HEADER, HEADER.FIELDS and TEXT after a part number name the header and
//! body of the message held by a message/rfc822 part; MIME names the
//! part's own header.
//!
//! A section that does not exist (a part number past the end, HEADER of a
//! part that is not a message, MIME without a part number) resolves to an
//! empty range: the client gets an empty string, as Dovecot answers and as
//! RFC 9051 §6.4.5 permits, rather than an error for a whole FETCH.

use super::{Content, Part, Structure};

/// The text part of a section specifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// No text specifier: the whole message (empty path) or the part's body.
    Body,
    /// `HEADER`.
    Header,
    /// `HEADER.FIELDS` or `HEADER.FIELDS.NOT`: the same range as `Header`,
    /// to be passed through a [`HeaderFilter`].
    HeaderFields,
    /// `TEXT`.
    Text,
    /// `MIME` (only after a part number).
    Mime,
}

/// A range of bytes of the whole message (prefix then body file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Number of bytes.
    pub len: u64,
}

impl ByteRange {
    /// The empty range (a section that does not exist).
    pub const EMPTY: ByteRange = ByteRange { start: 0, len: 0 };

    /// Applies a partial fetch `<origin.count>` (RFC 3501 §6.4.5): the
    /// bytes from `origin`, at most `count` of them; empty if `origin` is
    /// past the end.
    pub fn partial(self, origin: u64, count: u64) -> ByteRange {
        if origin >= self.len {
            return ByteRange {
                start: self.start + self.len,
                len: 0,
            };
        }
        ByteRange {
            start: self.start + origin,
            len: count.min(self.len - origin),
        }
    }

    /// One past the last byte.
    pub fn end(self) -> u64 {
        self.start + self.len
    }
}

fn header_of(p: &Part) -> ByteRange {
    ByteRange {
        start: p.header_start,
        len: p.header_len,
    }
}

fn body_of(p: &Part) -> ByteRange {
    ByteRange {
        start: p.body_start,
        len: p.body_len,
    }
}

/// Steps one part number down from a message whose top-level entity is
/// `root`.
fn in_message(root: &Part, n: u32) -> Option<&Part> {
    match &root.content {
        Content::Multipart(children) => children.get(usize::try_from(n).ok()?.checked_sub(1)?),
        // RFC 3501 §6.4.5: part 1 of a non-multipart message is its body.
        _ if n == 1 => Some(root),
        _ => None,
    }
}

/// The part a path names, or `None` if there is none.
pub fn part<'a>(s: &'a Structure, path: &[u32]) -> Option<&'a Part> {
    let (&first, rest) = path.split_first()?;
    let mut cur = in_message(&s.root, first)?;
    for &n in rest {
        cur = match &cur.content {
            Content::Multipart(children) => {
                children.get(usize::try_from(n).ok()?.checked_sub(1)?)?
            }
            Content::Message(m) => in_message(&m.root, n)?,
            Content::Single => return None,
        };
    }
    Some(cur)
}

/// The bytes a section names; see the module documentation for the rules.
/// For [`Spec::HeaderFields`] the range is the header to filter.
pub fn resolve(s: &Structure, path: &[u32], spec: Spec) -> ByteRange {
    if path.is_empty() {
        return match spec {
            Spec::Body => ByteRange {
                start: 0,
                len: s.size,
            },
            Spec::Header | Spec::HeaderFields => header_of(&s.root),
            Spec::Text => body_of(&s.root),
            Spec::Mime => ByteRange::EMPTY,
        };
    }
    let Some(p) = part(s, path) else {
        return ByteRange::EMPTY;
    };
    match (spec, &p.content) {
        (Spec::Body, _) => body_of(p),
        (Spec::Mime, _) => header_of(p),
        (Spec::Header | Spec::HeaderFields, Content::Message(m)) => header_of(&m.root),
        (Spec::Text, Content::Message(m)) => body_of(&m.root),
        _ => ByteRange::EMPTY,
    }
}

/// Most bytes of a field name the filter looks at; a longer name matches
/// no requested name.
const MAX_NAME: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FilterState {
    LineStart,
    Name,
    Copy,
    Skip,
    /// In the empty line that ends the header.
    Blank,
    Done,
}

/// Filters a header block for `HEADER.FIELDS (names)` or
/// `HEADER.FIELDS.NOT (names)` (RFC 3501 §6.4.5), streaming: whole fields
/// (with their continuation lines) are passed or dropped, and the empty
/// line ending the header is passed. A field name is held (at most
/// 256 bytes) until its colon decides.
///
/// The response needs the length before the bytes, so a server runs the
/// filter once to count (see [`HeaderFilter::count`]) and again to send.
#[derive(Debug, Clone)]
pub struct HeaderFilter {
    names: Vec<Vec<u8>>,
    not: bool,
    state: FilterState,
    name: Vec<u8>,
    /// Whether the current field passes (for its continuation lines).
    pass: bool,
}

impl HeaderFilter {
    /// A filter passing the `names` fields (case-insensitive), or all the
    /// others when `not`.
    pub fn new<N: AsRef<[u8]>>(names: &[N], not: bool) -> Self {
        HeaderFilter {
            names: names
                .iter()
                .map(|n| n.as_ref().to_ascii_lowercase())
                .collect(),
            not,
            state: FilterState::LineStart,
            name: Vec::new(),
            pass: false,
        }
    }

    fn wanted(&self, name: &[u8]) -> bool {
        let name = crate::mail::header::trim(name);
        let listed =
            name.len() < MAX_NAME && self.names.iter().any(|n| n.eq_ignore_ascii_case(name));
        listed != self.not
    }

    /// Filters the next bytes of the header, giving what passes to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut impl FnMut(&[u8])) {
        let mut i = 0;
        while i < input.len() {
            let rest = input.get(i..).unwrap_or_default();
            match self.state {
                FilterState::Done => return,
                FilterState::LineStart => match rest.first() {
                    Some(b' ' | b'\t') => {
                        // A continuation line goes with the field above.
                        self.state = if self.pass {
                            FilterState::Copy
                        } else {
                            FilterState::Skip
                        };
                    }
                    Some(b'\r' | b'\n') => self.state = FilterState::Blank,
                    _ => {
                        self.name.clear();
                        self.state = FilterState::Name;
                    }
                },
                FilterState::Name => {
                    let stop = rest
                        .iter()
                        .position(|&b| b == b':' || b == b'\n')
                        .unwrap_or(rest.len());
                    let room = MAX_NAME.saturating_sub(self.name.len());
                    let take = stop.min(room);
                    self.name
                        .extend_from_slice(rest.get(..take).unwrap_or_default());
                    i += take;
                    if take == stop && stop == rest.len() {
                        continue;
                    }
                    // Decided: at the colon, at a line end, or too long.
                    let pass = self.wanted(&self.name);
                    if pass {
                        out(&self.name);
                    }
                    self.pass = pass;
                    self.state = if pass {
                        FilterState::Copy
                    } else {
                        FilterState::Skip
                    };
                    self.name.clear();
                }
                FilterState::Copy | FilterState::Skip => {
                    let (line, eol) = match rest.iter().position(|&b| b == b'\n') {
                        Some(p) => (rest.get(..=p).unwrap_or(rest), true),
                        None => (rest, false),
                    };
                    if self.state == FilterState::Copy {
                        out(line);
                    }
                    i += line.len();
                    if eol {
                        self.state = FilterState::LineStart;
                    }
                }
                FilterState::Blank => {
                    let (line, eol) = match rest.iter().position(|&b| b == b'\n') {
                        Some(p) => (rest.get(..=p).unwrap_or(rest), true),
                        None => (rest, false),
                    };
                    out(line);
                    i += line.len();
                    if eol {
                        self.state = FilterState::Done;
                    }
                }
            }
        }
    }

    /// The number of bytes the filter passes from a header given in
    /// chunks.
    pub fn count<'c>(
        names: &[impl AsRef<[u8]>],
        not: bool,
        chunks: impl IntoIterator<Item = &'c [u8]>,
    ) -> u64 {
        let mut f = HeaderFilter::new(names, not);
        let mut n = 0u64;
        for c in chunks {
            f.feed(c, &mut |b| n += b.len() as u64);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::dovecot;
    use super::super::parse;
    use super::*;

    fn get(msg: &[u8], s: &Structure, path: &[u32], spec: Spec) -> Vec<u8> {
        let r = resolve(s, path, spec);
        msg[r.start as usize..r.end() as usize].to_vec()
    }

    #[test]
    fn sections_of_a_nested_message() {
        let msg = dovecot();
        let s = parse(&msg);
        let g = |path: &[u32], spec| String::from_utf8(get(&msg, &s, path, spec)).unwrap();
        assert_eq!(g(&[], Spec::Body).len(), msg.len());
        assert!(g(&[], Spec::Header).starts_with("From: user@domain.org\r\n"));
        assert!(g(&[], Spec::Header).ends_with(" bar\"\r\n\r\n"));
        assert!(g(&[], Spec::Text).starts_with("Root MIME prologue\r\n"));
        assert!(g(&[], Spec::Text).ends_with("Root MIME epilogue\r\n"));
        assert_eq!(g(&[1], Spec::Body), "hello\r\n");
        assert!(g(&[1], Spec::Mime).starts_with("Content-Type: text/x-myown;"));
        assert!(g(&[1], Spec::Mime).ends_with("test.txt\r\n\r\n"));
        // HEADER and TEXT of a part that is not a message: empty.
        assert_eq!(g(&[1], Spec::Header), "");
        assert_eq!(g(&[1], Spec::Text), "");
        // Part 2 is a message/rfc822.
        assert!(g(&[2], Spec::Body).starts_with("From: sub@domain.org\r\n"));
        assert!(g(&[2], Spec::Body).ends_with("Sub MIME epilogue\r\n"));
        assert_eq!(g(&[2], Spec::Mime), "Content-Type: message/rfc822\r\n\r\n");
        assert!(g(&[2], Spec::Header).starts_with("From: sub@domain.org\r\n"));
        assert!(g(&[2], Spec::Header).ends_with("boundary=\"sub1\"\r\n\r\n"));
        assert_eq!(g(&[2], Spec::HeaderFields), g(&[2], Spec::Header));
        assert!(g(&[2], Spec::Text).starts_with("Sub MIME prologue\r\n--sub1\r\n"));
        assert_eq!(g(&[2, 1], Spec::Body), "<p>Hello world</p>\r\n");
        assert_eq!(
            g(&[2, 1], Spec::Mime),
            "Content-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        );
        assert_eq!(g(&[2, 2], Spec::Body), "Hello another world\r\n");
        // Sections that do not exist.
        for path in [&[3][..], &[0], &[2, 3], &[1, 1], &[2, 1, 1], &[u32::MAX]] {
            assert_eq!(resolve(&s, path, Spec::Body), ByteRange::EMPTY, "{path:?}");
        }
        assert_eq!(resolve(&s, &[], Spec::Mime), ByteRange::EMPTY);
    }

    #[test]
    fn part_one_of_a_single_part_message_is_its_body() {
        let msg = b"Subject: x\r\n\r\nbody\r\n";
        let s = parse(msg);
        assert_eq!(get(msg, &s, &[1], Spec::Body), b"body\r\n");
        assert_eq!(get(msg, &s, &[1], Spec::Mime), b"Subject: x\r\n\r\n");
        assert_eq!(get(msg, &s, &[2], Spec::Body), b"");
        assert_eq!(get(msg, &s, &[1, 1], Spec::Body), b"");
        // An embedded single-part message: part 1.1 is its body.
        let msg = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ninner\r\n--b--\r\n";
        let s = parse(msg);
        assert_eq!(get(msg, &s, &[1, 1], Spec::Body), b"inner");
        assert_eq!(get(msg, &s, &[1, 1], Spec::Mime), b"Subject: in\r\n\r\n");
        assert_eq!(get(msg, &s, &[1], Spec::Text), b"inner");
    }

    #[test]
    fn partial_ranges() {
        let r = ByteRange { start: 10, len: 5 };
        assert_eq!(r.partial(0, 100), r);
        assert_eq!(r.partial(2, 2), ByteRange { start: 12, len: 2 });
        assert_eq!(r.partial(4, 9), ByteRange { start: 14, len: 1 });
        assert_eq!(r.partial(5, 1).len, 0);
        assert_eq!(r.partial(u64::MAX, u64::MAX).len, 0);
    }

    fn filter_every_way(header: &[u8], names: &[&str], not: bool) -> Vec<u8> {
        let run = |chunks: &[&[u8]]| {
            let mut f = HeaderFilter::new(names, not);
            let mut out = Vec::new();
            for c in chunks {
                f.feed(c, &mut |b| out.extend_from_slice(b));
            }
            out
        };
        let whole = run(&[header]);
        for i in 0..=header.len() {
            let (a, b) = header.split_at(i);
            assert_eq!(run(&[a, b]), whole, "split at {i}");
        }
        let bytes: Vec<&[u8]> = header.chunks(1).collect();
        assert_eq!(run(&bytes), whole);
        assert_eq!(
            HeaderFilter::count(names, not, [header]),
            whole.len() as u64
        );
        whole
    }

    #[test]
    fn header_fields_filter() {
        let h = b"From: a@b\r\nSubject: one\r\n two\r\nTo: c@d\r\nsubject : again\r\nX-Long: v\r\n\r\nbody not seen\r\n";
        assert_eq!(
            filter_every_way(h, &["SUBJECT", "to"], false),
            b"Subject: one\r\n two\r\nTo: c@d\r\nsubject : again\r\n\r\n"
        );
        assert_eq!(
            filter_every_way(h, &["subject"], true),
            b"From: a@b\r\nTo: c@d\r\nX-Long: v\r\n\r\n"
        );
        assert_eq!(filter_every_way(h, &["absent"], false), b"\r\n");
        // Bare LF, a line without colon, and a name too long to match.
        let long = format!("{}: v\n\n", "N".repeat(MAX_NAME + 10));
        assert_eq!(filter_every_way(long.as_bytes(), &["n"], false), b"\n");
        assert_eq!(
            filter_every_way(long.as_bytes(), &["n"], true),
            long.as_bytes()
        );
        assert_eq!(
            filter_every_way(b"junk line\nA: 1\n\n", &["a"], false),
            b"A: 1\n\n"
        );
        assert_eq!(filter_every_way(b"", &["a"], false), b"");
    }
}
