//! Message content as it streams in: the DATA receiver (RFC 5321 4.1.1.4
//! and 4.5.2), the line-ending policy shared with BDAT (RFC 3030), and a
//! bounded scan of the header section for the From: addresses (RFC 5322
//! 3.6.2, 3.4).
//!
//! # Line endings
//!
//! Only `CR LF . CR LF` ends DATA. A bare LF or bare CR never starts or ends
//! a line for the purposes of the terminator or of dot-unstuffing, so
//! `\n.\n`, `\r.\r`, `\r\n.\n` and `\n.\r\n` are all message content (the
//! SMTP smuggling attacks of 2023).
//!
//! Stored content is normalised so that every line ends in CR LF: a bare LF
//! is written as CR LF. A bare CR is kept as it is (it is not a line end in
//! RFC 5322 either, and rewriting it could change binary-looking content).
//! BDAT chunks get the same LF treatment and nothing else: no dot handling.
//! The normalisation happens after the terminator is recognised, so it
//! cannot create a terminator.

/// What [`DataReceiver::process`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataProgress {
    /// All input was consumed (or the output chunk is full); continue.
    More,
    /// The end-of-data line was consumed; the message is complete.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line that follows a real CR LF.
    LineStart,
    /// A '.' at the start of such a line.
    Dot,
    /// ".\r" at the start of such a line.
    DotCr,
    /// Inside a line.
    Mid,
    /// A CR inside a line, not yet known to start CR LF.
    Cr,
}

/// Incremental DATA receiver: removes dot-stuffing, finds the end of data,
/// normalises bare LF, and keeps counts for the size and line limits.
#[derive(Debug, Clone)]
pub struct DataReceiver {
    state: State,
    line_len: usize,
    max_line: usize,
    max_size: u64,
    size: u64,
    line_too_long: bool,
    too_big: bool,
}

impl DataReceiver {
    /// A receiver for a message of at most `max_size` octets with lines of
    /// at most `max_line` octets (terminator excluded).
    pub fn new(max_size: u64, max_line: usize) -> DataReceiver {
        DataReceiver {
            state: State::LineStart,
            line_len: 0,
            max_line,
            max_size,
            size: 0,
            line_too_long: false,
            too_big: false,
        }
    }

    /// Octets of content seen so far (after unstuffing and normalisation).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A line exceeded the limit.
    pub fn line_too_long(&self) -> bool {
        self.line_too_long
    }

    /// The message exceeded the size limit; content is no longer output.
    pub fn too_big(&self) -> bool {
        self.too_big
    }

    /// Consumes input until the end of data, the end of `input`, or until
    /// `out` holds `chunk` octets. Returns the octets consumed.
    pub fn process(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        chunk: usize,
    ) -> (usize, DataProgress) {
        for (i, &b) in input.iter().enumerate() {
            if out.len() >= chunk {
                return (i, DataProgress::More);
            }
            match (self.state, b) {
                (State::LineStart, b'.') => self.state = State::Dot,
                (State::LineStart | State::Mid, b'\r') => self.state = State::Cr,
                (State::Dot, b'\r') => self.state = State::DotCr,
                // RFC 5321 4.1.1.4: CR LF . CR LF ends the mail data.
                (State::DotCr, b'\n') => return (i + 1, DataProgress::End),
                // ".\r" then something else: the line has other characters,
                // so the leading dot is dropped (RFC 5321 4.5.2) and the CR
                // is pending as in the middle of a line.
                (State::DotCr, _) => {
                    self.state = State::Cr;
                    self.mid_after_cr(b, out);
                }
                // "." then bare LF: not an end (smuggling); keep the line.
                (State::Dot, b'\n') => {
                    self.content(b'.', out);
                    self.line_end(out);
                    self.state = State::Mid;
                }
                // RFC 5321 4.5.2: a leading dot is removed.
                (State::Dot, _) => {
                    self.state = State::Mid;
                    self.content(b, out);
                }
                (State::Cr, _) => self.mid_after_cr(b, out),
                // Bare LF: written as CR LF, but not a line start.
                (State::LineStart | State::Mid, b'\n') => {
                    self.line_end(out);
                    self.state = State::Mid;
                }
                (State::LineStart | State::Mid, _) => {
                    self.state = State::Mid;
                    self.content(b, out);
                }
            }
        }
        (input.len(), DataProgress::More)
    }

    /// In state Cr, with the next octet `b`.
    fn mid_after_cr(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            b'\n' => {
                self.line_end(out);
                self.state = State::LineStart;
            }
            b'\r' => self.content(b'\r', out),
            _ => {
                self.content(b'\r', out);
                self.content(b, out);
                self.state = State::Mid;
            }
        }
    }

    fn content(&mut self, b: u8, out: &mut Vec<u8>) {
        self.line_len += 1;
        if self.line_len > self.max_line {
            self.line_too_long = true;
        }
        self.emit(&[b], out);
    }

    fn line_end(&mut self, out: &mut Vec<u8>) {
        self.line_len = 0;
        self.emit(b"\r\n", out);
    }

    fn emit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.size += bytes.len() as u64;
        if self.size > self.max_size {
            self.too_big = true;
        }
        if !self.too_big {
            out.extend_from_slice(bytes);
        }
    }
}

/// The BDAT line-ending policy: bare LF becomes CR LF, everything else
/// passes unchanged. Keeps a little state across chunks, and measures
/// lines as [`DataReceiver`] does (terminator excluded).
#[derive(Debug, Clone, Default)]
pub struct LfNormaliser {
    prev_cr: bool,
    line_len: usize,
    longest: usize,
}

impl LfNormaliser {
    /// Appends `input` to `out` with bare LF replaced by CR LF.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if b == b'\n' {
                if !self.prev_cr {
                    out.push(b'\r');
                }
                self.line_len = 0;
            } else {
                // A CR counts once it is known not to end the line.
                let lone_cr = usize::from(self.prev_cr);
                let this = usize::from(b != b'\r');
                self.line_len = self.line_len.saturating_add(lone_cr + this);
                self.longest = self.longest.max(self.line_len);
            }
            out.push(b);
            self.prev_cr = b == b'\r';
        }
    }

    /// The longest line pushed so far, in octets without its terminator.
    pub fn longest_line(&self) -> usize {
        self.longest
    }
}

/// Most From: fields kept, and most addresses reported.
const MAX_FROM_FIELDS: usize = 4;
const MAX_ADDRESSES: usize = 32;
/// Longest unfolded From: field kept (longer ones set `truncated`).
const MAX_FROM_LEN: usize = 4096;
/// Header sections longer than this are not scanned further.
const MAX_HEADER_SECTION: usize = 256 * 1024;

/// What the header scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderSummary {
    /// addr-specs of the From: field(s), in order.
    pub from: Vec<String>,
    /// How many From: fields there were (RFC 5322 3.6 wants exactly one).
    pub from_fields: usize,
    /// The header section or a From: field exceeded the scan's bounds, so
    /// `from` may be incomplete.
    pub truncated: bool,
}

/// Bounded scanner of the header section, fed the normalised content.
#[derive(Debug, Clone, Default)]
pub struct HeaderScanner {
    done: bool,
    seen: usize,
    /// The current physical line, only while it may matter (bounded).
    line: Vec<u8>,
    line_overflow: bool,
    in_from: bool,
    from_value: Vec<u8>,
    summary: HeaderSummary,
}

impl HeaderScanner {
    /// Feeds content octets (CR LF line ends).
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.done {
                return;
            }
            self.seen += 1;
            if self.seen > MAX_HEADER_SECTION {
                self.summary.truncated = true;
                self.finish_field();
                self.done = true;
                return;
            }
            if b == b'\n' {
                if self.line.last() == Some(&b'\r') {
                    self.line.pop();
                }
                self.end_line();
            } else if self.line.len() < MAX_FROM_LEN + 8 {
                self.line.push(b);
            } else {
                self.line_overflow = true;
            }
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let overflow = std::mem::replace(&mut self.line_overflow, false);
        if line.is_empty() {
            // RFC 5322 2.1: an empty line ends the header section.
            self.finish_field();
            self.done = true;
        } else if line[0] == b' ' || line[0] == b'\t' {
            // RFC 5322 2.2.3: unfolding removes the CR LF only.
            if self.in_from {
                self.append_from(&line, overflow);
            }
        } else {
            self.finish_field();
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let name = line[..colon].trim_ascii_end();
                if name.eq_ignore_ascii_case(b"From") {
                    self.in_from = true;
                    self.summary.from_fields += 1;
                    self.append_from(&line[colon + 1..], overflow);
                }
            }
        }
    }

    fn append_from(&mut self, part: &[u8], overflow: bool) {
        if overflow || self.from_value.len() + part.len() > MAX_FROM_LEN {
            self.summary.truncated = true;
            return;
        }
        self.from_value.extend_from_slice(part);
    }

    fn finish_field(&mut self) {
        if !std::mem::replace(&mut self.in_from, false) {
            return;
        }
        let value = std::mem::take(&mut self.from_value);
        if self.summary.from_fields > MAX_FROM_FIELDS {
            self.summary.truncated = true;
            return;
        }
        let text = String::from_utf8_lossy(&value);
        if !address_list(&text, &mut self.summary.from, MAX_ADDRESSES) {
            self.summary.truncated = true;
        }
    }

    /// The result; call after the end of the message. A message without a
    /// blank line has only a header section, which is fine.
    pub fn finish(mut self) -> HeaderSummary {
        if !self.done {
            if !self.line.is_empty() {
                self.end_line();
            }
            self.finish_field();
        }
        self.summary
    }
}

/// Extracts the addr-specs of an RFC 5322 3.4 address-list into `out`:
/// display names, comments, quoted strings, groups and obsolete routes are
/// understood. Returns false when `max` addresses were reached.
pub fn address_list(value: &str, out: &mut Vec<String>, max: usize) -> bool {
    let mut plain = String::new();
    let mut angle = String::new();
    let mut in_angle = false;
    let mut has_angle = false;
    let mut chars = value.chars();
    let mut push = |plain: &mut String, angle: &mut String, has_angle: &mut bool| -> bool {
        let addr = if *has_angle {
            std::mem::take(angle)
        } else {
            std::mem::take(plain)
        };
        plain.clear();
        angle.clear();
        *has_angle = false;
        if addr.is_empty() {
            return true;
        }
        if out.len() >= max {
            return false;
        }
        out.push(addr);
        true
    };
    while let Some(c) = chars.next() {
        let target = if in_angle { &mut angle } else { &mut plain };
        match c {
            '(' => {
                // Comments nest (RFC 5322 3.2.2) and are dropped.
                let mut depth = 1;
                while depth > 0 {
                    match chars.next() {
                        Some('\\') => {
                            chars.next();
                        }
                        Some('(') => depth += 1,
                        Some(')') => depth -= 1,
                        Some(_) => {}
                        None => break,
                    }
                }
            }
            '"' => {
                target.push('"');
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            target.push('\\');
                            if let Some(n) = chars.next() {
                                target.push(n);
                            }
                        }
                        '"' => break,
                        _ => target.push(q),
                    }
                }
                target.push('"');
            }
            '[' => {
                target.push('[');
                for d in chars.by_ref() {
                    target.push(d);
                    if d == ']' {
                        break;
                    }
                }
            }
            '<' if !in_angle => {
                in_angle = true;
                angle.clear();
            }
            '>' if in_angle => {
                in_angle = false;
                has_angle = true;
            }
            // obs-route "@a,@b:" inside angle brackets is dropped.
            ':' if in_angle => angle.clear(),
            ',' if in_angle => angle.push(','),
            // group = display-name ":" [group-list] ";": the name goes.
            ':' => plain.clear(),
            ',' | ';' => {
                if !push(&mut plain, &mut angle, &mut has_angle) {
                    return false;
                }
            }
            c if c.is_whitespace() => {}
            c => target.push(c),
        }
    }
    push(&mut plain, &mut angle, &mut has_angle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the receiver over `input` fed in pieces of `step` octets.
    fn receive(input: &[u8], step: usize) -> (Vec<u8>, usize, DataReceiver) {
        let mut r = DataReceiver::new(1 << 20, 1000);
        let mut out = Vec::new();
        let mut consumed = 0;
        for piece in input.chunks(step) {
            let (n, p) = r.process(piece, &mut out, usize::MAX);
            consumed += n;
            if p == DataProgress::End {
                return (out, consumed, r);
            }
        }
        panic!("no end of data in {input:?}");
    }

    #[test]
    fn unstuffs_and_stops_at_the_terminator_only() {
        let input = b"Subject: x\r\n\r\n..dot\r\n.\r\nNEXT";
        for step in 1..=input.len() {
            let (out, n, _) = receive(input, step);
            assert_eq!(out, b"Subject: x\r\n\r\n.dot\r\n");
            assert_eq!(n, input.len() - 4);
        }
    }

    #[test]
    fn smuggling_sequences_are_content() {
        for (seq, stored) in [
            (&b"\n.\n"[..], &b"\r\n.\r\n"[..]),
            (b"\r.\r", b"\r.\r"),
            (b"\r\n.\n", b"\r\n.\r\n"),
            (b"\n.\r\n", b"\r\n.\r\n"),
            (b"\r\n.\r", b"\r\n\r"),
        ] {
            let mut input = b"a".to_vec();
            input.extend_from_slice(seq);
            input.extend_from_slice(b"MAIL FROM:<x@y>\r\n.\r\n");
            let mut want = b"a".to_vec();
            want.extend_from_slice(stored);
            want.extend_from_slice(b"MAIL FROM:<x@y>\r\n");
            for step in 1..=input.len() {
                let (out, n, _) = receive(&input, step);
                assert_eq!(out, want, "{seq:?} step {step}");
                assert_eq!(n, input.len());
            }
        }
    }

    #[test]
    fn empty_message_and_bare_lf_normalisation() {
        assert_eq!(receive(b".\r\n", 1).0, b"");
        assert_eq!(receive(b"a\nb\r\n.\r\n", 1).0, b"a\r\nb\r\n");
        // A leading dot after a bare LF is not unstuffed: that line did not
        // start after a real line end.
        assert_eq!(receive(b"a\n..b\r\n.\r\n", 2).0, b"a\r\n..b\r\n");
    }

    #[test]
    fn limits_are_counted_while_streaming() {
        let mut r = DataReceiver::new(10, 4);
        let mut out = Vec::new();
        let (_, p) = r.process(b"abcd\r\nabcde\r\n.\r\n", &mut out, usize::MAX);
        assert_eq!(p, DataProgress::End);
        assert!(r.line_too_long() && r.too_big());
        assert_eq!(out, b"abcd\r\nabcd", "output stops at the size limit");
        assert_eq!(r.size(), 13);
    }

    #[test]
    fn output_chunks_are_bounded() {
        let mut r = DataReceiver::new(1 << 20, 1000);
        let mut out = Vec::new();
        let (n, p) = r.process(b"0123456789\r\n.\r\n", &mut out, 4);
        assert_eq!(
            (n, p, out.as_slice()),
            (4, DataProgress::More, &b"0123"[..])
        );
    }

    #[test]
    fn lf_normaliser_works_across_chunks() {
        let mut n = LfNormaliser::default();
        let mut out = Vec::new();
        for piece in [&b"a\r"[..], b"\nb\n", b"\r", b"x\n"] {
            n.push(piece, &mut out);
        }
        assert_eq!(out, b"a\r\nb\r\n\rx\r\n");
    }

    fn scan(header: &str, step: usize) -> HeaderSummary {
        let mut s = HeaderScanner::default();
        for piece in header.as_bytes().chunks(step) {
            s.push(piece);
        }
        s.finish()
    }

    #[test]
    fn from_addresses_with_folding_comments_and_groups() {
        let h = "Received: x\r\nFROM : \"Doe, John\" (boss)\r\n <john@example.org>,\r\n\tjane@example.org (Jane)\r\nSubject: hi\r\n\r\nFrom: body@not.header\r\n";
        for step in [1, 3, h.len()] {
            let s = scan(h, step);
            assert_eq!(s.from, ["john@example.org", "jane@example.org"]);
            assert_eq!(s.from_fields, 1);
            assert!(!s.truncated);
        }
        let mut out = Vec::new();
        assert!(address_list(
            "Team: a@x.org, B <b@y.org>;, <@route,@r2:c@z.org>, \"q u\"@w.org",
            &mut out,
            10
        ));
        assert_eq!(out, ["a@x.org", "b@y.org", "c@z.org", "\"q u\"@w.org"]);
    }

    #[test]
    fn counts_several_from_fields_and_bounds_work() {
        let s = scan("From: a@x.org\r\nFrom: b@y.org\r\n\r\n", 2);
        assert_eq!((s.from_fields, s.from.len()), (2, 2));
        let long = format!("From: {}@x.org\r\n\r\n", "a".repeat(10_000));
        let s = scan(&long, 512);
        assert!(s.truncated && s.from.is_empty());
        let many = format!("From: {}\r\n\r\n", vec!["a@b.c"; 40].join(", "));
        let s = scan(&many, 7);
        assert!(s.truncated);
        assert_eq!(s.from.len(), MAX_ADDRESSES);
    }
}
