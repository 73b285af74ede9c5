//! Streaming encoders for POP3 multi-line data (RFC 1939 §3).
//!
//! Stored messages may use any line ending (CRLF, bare LF or bare CR). On
//! the wire every line ends in CRLF, a line starting with '.' gets a second
//! '.', and the data ends with ".\r\n". [`DotStuffer`] does that
//! incrementally, chunk by chunk, with a few bytes of state, so a body is
//! streamed from its file without being loaded. [`CrlfCounter`] computes the
//! size the same normalisation produces, for STAT and LIST.
//!
//! The normalised message is "every line terminated by CRLF": a final line
//! without a terminator gets one, and a CR, an LF, or a CR followed by an LF
//! each end exactly one line. Both types share that rule through
//! [`LineSplitter`], so LIST sizes match what RETR sends (before stuffing).

/// One piece of a stored message, as cut by [`LineSplitter`].
enum Piece<'a> {
    /// Bytes inside a line; never contains CR or LF.
    Text(&'a [u8]),
    /// The end of a line, whatever the stored terminator was.
    Eol,
}

/// Cuts arbitrary chunks into line text and line ends, remembering a CR at
/// the end of one chunk so that an LF at the start of the next one does not
/// count as a second line end.
#[derive(Debug, Default, Clone)]
struct LineSplitter {
    /// The previous chunk ended in CR; an LF right after it is swallowed.
    after_cr: bool,
}

impl LineSplitter {
    fn split(&mut self, mut chunk: &[u8], mut f: impl FnMut(Piece<'_>)) {
        if self.after_cr {
            if let Some((&first, rest)) = chunk.split_first() {
                self.after_cr = false;
                if first == b'\n' {
                    chunk = rest;
                }
            }
        }
        while !chunk.is_empty() {
            let Some(pos) = chunk.iter().position(|&b| b == b'\r' || b == b'\n') else {
                f(Piece::Text(chunk));
                return;
            };
            let (text, rest) = chunk.split_at(pos);
            if !text.is_empty() {
                f(Piece::Text(text));
            }
            f(Piece::Eol);
            match rest {
                [b'\r', b'\n', tail @ ..] => chunk = tail,
                [b'\r'] => {
                    self.after_cr = true;
                    return;
                }
                [_, tail @ ..] => chunk = tail,
                [] => return,
            }
        }
    }
}

/// Where a [`DotStuffer`] is in a TOP limit (RFC 1939 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// RETR: everything is sent.
    Unlimited,
    /// TOP: still in the header; the body may have this many lines.
    Headers(u32),
    /// TOP: in the body; this many more lines may be sent (at least one).
    Body(u32),
    /// TOP: the limit is reached; the rest of the input is dropped.
    Done,
}

/// Streaming encoder from stored message bytes to POP3 multi-line data.
///
/// Feed the body in chunks of any size with [`DotStuffer::encode`], then
/// call [`DotStuffer::finish`] once for the final CRLF (if the message did
/// not end with a line end) and the terminating ".\r\n". Memory use is
/// constant; the output of one call is at most twice its input plus two.
///
/// # Examples
///
/// ```
/// use facteur::proto::pop3::DotStuffer;
///
/// let mut out = Vec::new();
/// let mut ds = DotStuffer::new(None);
/// ds.encode(b"Subject: hi\n\n.hidden\r", &mut out);
/// ds.encode(b"\nlast", &mut out);
/// ds.finish(&mut out);
/// assert_eq!(out, b"Subject: hi\r\n\r\n..hidden\r\nlast\r\n.\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct DotStuffer {
    splitter: LineSplitter,
    /// No byte of the current line has been written yet.
    at_line_start: bool,
    limit: Limit,
}

impl DotStuffer {
    /// A new encoder. `top_lines` is `None` for RETR, or `Some(n)` for
    /// "TOP msg n": the header, the blank line after it and then at most
    /// `n` lines of the body (RFC 1939 §7).
    pub fn new(top_lines: Option<u32>) -> DotStuffer {
        DotStuffer {
            splitter: LineSplitter::default(),
            at_line_start: true,
            limit: top_lines.map_or(Limit::Unlimited, Limit::Headers),
        }
    }

    /// Whether a TOP limit has been reached: further input is ignored, so
    /// the caller may stop reading the body and call [`DotStuffer::finish`].
    pub fn is_done(&self) -> bool {
        self.limit == Limit::Done
    }

    /// Encodes the next chunk of the stored message, appending to `out`.
    pub fn encode(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let mut splitter = std::mem::take(&mut self.splitter);
        splitter.split(chunk, |piece| self.piece(piece, out));
        self.splitter = splitter;
    }

    /// Ends the data: a CRLF if the last line had no terminator, then the
    /// ".\r\n" that ends every multi-line response (RFC 1939 §3).
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start && self.limit != Limit::Done {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }

    fn piece(&mut self, piece: Piece<'_>, out: &mut Vec<u8>) {
        if self.limit == Limit::Done {
            return;
        }
        match piece {
            Piece::Text(text) => {
                // RFC 1939 §3: a line starting with the termination octet
                // is byte-stuffed by pre-pending another one.
                if self.at_line_start && text.first() == Some(&b'.') {
                    out.push(b'.');
                }
                self.at_line_start = false;
                out.extend_from_slice(text);
            }
            Piece::Eol => {
                out.extend_from_slice(b"\r\n");
                let blank = self.at_line_start;
                self.at_line_start = true;
                self.limit = match self.limit {
                    Limit::Headers(0) if blank => Limit::Done,
                    Limit::Headers(n) if blank => Limit::Body(n),
                    Limit::Body(1) => Limit::Done,
                    Limit::Body(n) => Limit::Body(n - 1),
                    other => other,
                };
            }
        }
    }
}

/// Streaming size of a message after CRLF normalisation: the size POP3
/// reports in STAT and LIST (RFC 1939 §5: "exact size" counted with CRLF
/// line ends, without byte-stuffing).
///
/// # Examples
///
/// ```
/// use facteur::proto::pop3::CrlfCounter;
///
/// let mut c = CrlfCounter::new();
/// c.update(b"a\nb\r");
/// c.update(b"\nc");
/// assert_eq!(c.finish(), 9); // "a\r\nb\r\nc\r\n"
/// ```
#[derive(Debug, Clone, Default)]
pub struct CrlfCounter {
    splitter: LineSplitter,
    at_line_start: bool,
    size: u64,
}

impl CrlfCounter {
    /// A counter at zero.
    pub fn new() -> CrlfCounter {
        CrlfCounter {
            splitter: LineSplitter::default(),
            at_line_start: true,
            size: 0,
        }
    }

    /// Counts the next chunk of the stored message.
    pub fn update(&mut self, chunk: &[u8]) {
        let mut splitter = std::mem::take(&mut self.splitter);
        splitter.split(chunk, |piece| match piece {
            Piece::Text(text) => {
                self.at_line_start = false;
                self.size = self.size.saturating_add(text.len() as u64);
            }
            Piece::Eol => {
                self.at_line_start = true;
                self.size = self.size.saturating_add(2);
            }
        });
        self.splitter = splitter;
    }

    /// The normalised size, including the CRLF added to a last line that
    /// had none (as [`DotStuffer::finish`] sends it).
    pub fn finish(self) -> u64 {
        if self.at_line_start {
            self.size
        } else {
            self.size.saturating_add(2)
        }
    }
}

/// The CRLF-normalised size of a whole message held in memory.
pub fn crlf_size(message: &[u8]) -> u64 {
    let mut c = CrlfCounter::new();
    c.update(message);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes `input` cut into pieces at `cuts` (sorted positions).
    fn stuff_cut(input: &[u8], cuts: &[usize], top: Option<u32>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut ds = DotStuffer::new(top);
        let mut start = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            ds.encode(&input[start..c], &mut out);
            start = c;
        }
        ds.finish(&mut out);
        out
    }

    fn count_cut(input: &[u8], cuts: &[usize]) -> u64 {
        let mut c = CrlfCounter::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            c.update(&input[start..cut]);
            start = cut;
        }
        c.finish()
    }

    /// Checks whole, every single split, and byte-by-byte encoding.
    fn check(input: &[u8], top: Option<u32>, expected: &[u8]) {
        let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert_eq!(
            show(&stuff_cut(input, &[], top)),
            show(expected),
            "whole input"
        );
        for i in 0..=input.len() {
            assert_eq!(
                show(&stuff_cut(input, &[i], top)),
                show(expected),
                "split at {i}"
            );
        }
        let every: Vec<usize> = (0..=input.len()).collect();
        assert_eq!(
            show(&stuff_cut(input, &every, top)),
            show(expected),
            "byte by byte"
        );
    }

    /// Removes the terminator and the stuffing, as a client does.
    fn unstuff(data: &[u8]) -> Vec<u8> {
        let body = data.strip_suffix(b".\r\n").unwrap_or(data);
        let mut out = Vec::new();
        for line in body.split_inclusive(|&b| b == b'\n') {
            out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        }
        out
    }

    #[test]
    fn crlf_passes_through() {
        check(b"a\r\nb\r\n", None, b"a\r\nb\r\n.\r\n");
    }

    #[test]
    fn bare_lf_and_bare_cr_become_crlf() {
        check(b"a\nb\rc\r\n", None, b"a\r\nb\r\nc\r\n.\r\n");
        // CR CR LF is a bare CR (empty line follows) then a CRLF.
        check(b"a\r\r\nb", None, b"a\r\n\r\nb\r\n.\r\n");
        // CRLF then LF: the LF after a CR is swallowed only once, even
        // when the chunks end right after each of them.
        check(b"a\r\n\nb", None, b"a\r\n\r\nb\r\n.\r\n");
        // LF CR is two line ends too.
        check(b"a\n\rb", None, b"a\r\n\r\nb\r\n.\r\n");
    }

    #[test]
    fn leading_dots_are_doubled() {
        check(
            b".\n..x\nmid.dle\r\n.",
            None,
            b"..\r\n...x\r\nmid.dle\r\n..\r\n.\r\n",
        );
        check(b"a\r.b", None, b"a\r\n..b\r\n.\r\n");
    }

    #[test]
    fn missing_final_newline_is_added() {
        check(b"no newline", None, b"no newline\r\n.\r\n");
        check(b"ends in cr\r", None, b"ends in cr\r\n.\r\n");
    }

    #[test]
    fn empty_message_is_just_the_terminator() {
        check(b"", None, b".\r\n");
        check(b"", Some(3), b".\r\n");
    }

    #[test]
    fn top_zero_sends_header_and_blank_line() {
        let msg = b"A: 1\nB: 2\n\nbody 1\nbody 2\n";
        check(msg, Some(0), b"A: 1\r\nB: 2\r\n\r\n.\r\n");
    }

    #[test]
    fn top_n_sends_n_body_lines() {
        let msg = b"A: 1\r\n\r\none\r\n.two\r\nthree\r\n";
        check(msg, Some(2), b"A: 1\r\n\r\none\r\n..two\r\n.\r\n");
        check(msg, Some(3), b"A: 1\r\n\r\none\r\n..two\r\nthree\r\n.\r\n");
        check(msg, Some(99), b"A: 1\r\n\r\none\r\n..two\r\nthree\r\n.\r\n");
        // A last body line without terminator still counts as a line.
        check(b"A: 1\n\none", Some(1), b"A: 1\r\n\r\none\r\n.\r\n");
    }

    #[test]
    fn top_without_body_sends_whole_header() {
        check(b"A: 1\nB: 2", Some(0), b"A: 1\r\nB: 2\r\n.\r\n");
    }

    #[test]
    fn is_done_after_top_limit() {
        let mut out = Vec::new();
        let mut ds = DotStuffer::new(Some(1));
        ds.encode(b"H: v\n\nline", &mut out);
        assert!(!ds.is_done());
        ds.encode(b"\nmore\n", &mut out);
        assert!(ds.is_done());
        assert!(!DotStuffer::new(None).is_done());
    }

    #[test]
    fn counter_matches_what_is_sent() {
        let samples: &[&[u8]] = &[
            b"",
            b"x",
            b"a\nb\rc\r\n",
            b"a\r\r\nb",
            b"\r",
            b"\n\n",
            b".dot\n..\r\nz",
            b"ends in cr\r",
        ];
        for s in samples {
            let sent = unstuff(&stuff_cut(s, &[], None));
            let expected = sent.len() as u64;
            assert_eq!(crlf_size(s), expected, "{:?}", String::from_utf8_lossy(s));
            for i in 0..=s.len() {
                assert_eq!(count_cut(s, &[i]), expected, "split at {i}");
            }
            let every: Vec<usize> = (0..=s.len()).collect();
            assert_eq!(count_cut(s, &every), expected);
        }
    }

    #[test]
    fn counter_known_values() {
        assert_eq!(crlf_size(b""), 0);
        assert_eq!(crlf_size(b"abc"), 5);
        assert_eq!(crlf_size(b"a\nb\n"), 6);
        assert_eq!(crlf_size(b"a\r\nb\r\n"), 6);
        assert_eq!(crlf_size(b"a\rb\r"), 6);
    }
}
