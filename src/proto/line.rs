//! An incremental line framer for text protocols (SMTP, POP3, IMAP).
//!
//! The framer does not own a buffer: the caller keeps its input bytes and
//! asks [`LineFramer::next`] for the next line in them. The answer says how
//! many bytes to drop from the front of the buffer. A line longer than the
//! limit is never buffered whole: the framer swallows it up to its line end
//! and reports [`Frame::TooLong`] once, so memory stays bounded whatever the
//! peer sends.
//!
//! A line ends at LF. The line handed back has the LF and one CR before it
//! removed; [`Line::bare_lf`] tells the caller when the CR was missing, so a
//! protocol can decide whether to accept bare LF.

/// One result of [`LineFramer::next`].
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line.
    Line(Line<'a>),
    /// A line exceeded the limit; it has been discarded through its end.
    TooLong,
    /// No complete line yet: read more input.
    Incomplete,
}

/// A complete line borrowed from the caller's buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line without its terminator.
    pub text: &'a [u8],
    /// True when the line ended with LF not preceded by CR.
    pub bare_lf: bool,
}

/// Incremental CRLF line framer with a maximum line length.
#[derive(Debug, Clone)]
pub struct LineFramer {
    max: usize,
    skipping: bool,
}

impl LineFramer {
    /// A framer accepting lines of at most `max` octets, terminator
    /// included (the way RFC 5321 4.5.3.1 counts).
    pub fn new(max: usize) -> LineFramer {
        LineFramer {
            max: max.max(2),
            skipping: false,
        }
    }

    /// The current limit, terminator included.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Changes the limit for the following lines (e.g. longer SASL lines).
    pub fn set_max(&mut self, max: usize) {
        self.max = max.max(2);
    }

    /// Forgets a partly skipped over-long line (after the input was
    /// discarded, e.g. on a TLS upgrade).
    pub fn reset(&mut self) {
        self.skipping = false;
    }

    /// Looks for the next line at the start of `buf`.
    ///
    /// Returns the number of bytes the caller must drop from the front of
    /// its buffer, and the frame. With [`Frame::Incomplete`] the count may
    /// be non-zero: bytes of an over-long line are dropped as they arrive.
    pub fn next<'a>(&mut self, buf: &'a [u8]) -> (usize, Frame<'a>) {
        let newline = buf.iter().position(|&b| b == b'\n');
        if self.skipping {
            return match newline {
                Some(i) => {
                    self.skipping = false;
                    (i + 1, Frame::TooLong)
                }
                None => (buf.len(), Frame::Incomplete),
            };
        }
        match newline {
            Some(i) if i < self.max => {
                let (text, bare_lf) = match buf[..i].strip_suffix(b"\r") {
                    Some(t) => (t, false),
                    None => (&buf[..i], true),
                };
                (i + 1, Frame::Line(Line { text, bare_lf }))
            }
            // A line of exactly `max` octets may still end in CR LF: the
            // terminator counts, so `i + 1 == max` is the longest allowed.
            Some(i) => (i + 1, Frame::TooLong),
            None if buf.len() >= self.max => {
                self.skipping = true;
                (buf.len(), Frame::Incomplete)
            }
            None => (0, Frame::Incomplete),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes and collects the frames.
    fn frames(input: &[u8], max: usize, step: usize) -> Vec<Result<(Vec<u8>, bool), ()>> {
        let mut framer = LineFramer::new(max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                let (n, frame) = framer.next(&buf);
                let done = match frame {
                    Frame::Line(l) => {
                        out.push(Ok((l.text.to_vec(), l.bare_lf)));
                        false
                    }
                    Frame::TooLong => {
                        out.push(Err(()));
                        false
                    }
                    Frame::Incomplete => true,
                };
                buf.drain(..n);
                if done {
                    assert!(buf.len() < max, "framer let the buffer grow");
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn splits_crlf_and_bare_lf_lines() {
        let input = b"EHLO a\r\nNOOP\n\r\nQUIT\r\npartial";
        let want = vec![
            Ok((b"EHLO a".to_vec(), false)),
            Ok((b"NOOP".to_vec(), true)),
            Ok((b"".to_vec(), false)),
            Ok((b"QUIT".to_vec(), false)),
        ];
        for step in 1..=input.len() {
            assert_eq!(frames(input, 64, step), want, "step {step}");
        }
    }

    #[test]
    fn limit_counts_the_terminator() {
        // 8 octets including CRLF fit in max 8; 9 do not.
        let input = b"123456\r\n1234567\r\nok\r\n";
        let want = vec![
            Ok((b"123456".to_vec(), false)),
            Err(()),
            Ok((b"ok".to_vec(), false)),
        ];
        for step in 1..=input.len() {
            assert_eq!(frames(input, 8, step), want, "step {step}");
        }
    }

    #[test]
    fn very_long_line_is_skipped_once_with_bounded_memory() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        let want = vec![Err(()), Ok((b"NOOP".to_vec(), false))];
        for step in [1, 7, 100, 4096, input.len()] {
            assert_eq!(frames(&input, 512, step), want, "step {step}");
        }
    }
}
