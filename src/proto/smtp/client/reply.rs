//! Server replies as a client reads them (RFC 5321 4.2), with their
//! enhanced status codes (RFC 2034, RFC 3463).
//!
//! [`ReplyReader`] takes the bytes as they arrive, in pieces of any size,
//! and gives back whole replies. A multi-line reply (`250-...` lines ended
//! by `250 ...`, RFC 5321 4.2.1) comes back as one [`ServerReply`]. Memory
//! is bounded: one partial line of at most [`MAX_REPLY_LINE`] octets, and
//! of a long reply only the first [`MAX_REPLY_LINES`] lines are kept (the
//! rest is read and dropped).

use crate::proto::line::{Frame, LineFramer};

/// Longest reply line accepted, CR LF included. RFC 5321 4.5.3.1.5 sets
/// 512; real servers sometimes send longer text, so allow four times that.
/// Costs at most this much buffer per connection.
pub const MAX_REPLY_LINE: usize = 2048;
/// Lines of one reply that are kept (an EHLO answer lists about a dozen
/// extensions); later lines are read and dropped. Bounds a reply to
/// 64 x 2 KiB.
pub const MAX_REPLY_LINES: usize = 64;
/// Longest one-line summary of a reply kept for logs and bounce messages.
pub const MAX_SUMMARY: usize = 512;

/// One complete reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    code: u16,
    status: Option<heapless::String<11>>,
    lines: Vec<String>,
}

impl ServerReply {
    /// The three-digit code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The first digit of the code: 2, 3, 4 or 5.
    pub fn class(&self) -> u16 {
        self.code / 100
    }

    /// The enhanced status code of the first line (RFC 3463), when it has
    /// one whose class matches the reply code (RFC 2034 4).
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// The text of each line, after the code and separator (the enhanced
    /// code stays in it). Control characters are replaced by `?`.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The reply on one line, code first, as a bounce quotes it
    /// (`550 5.1.1 No such user`): the lines joined by spaces, the
    /// enhanced code repeated on continuation lines left out, at most
    /// [`MAX_SUMMARY`] octets.
    pub fn summary(&self) -> String {
        let mut out = self.code.to_string();
        for (i, line) in self.lines.iter().enumerate() {
            let mut text = line.as_str();
            if i > 0 {
                if let Some(st) = self.status() {
                    text = text.strip_prefix(st).map_or(text, str::trim_start);
                }
            }
            if text.is_empty() {
                continue;
            }
            out.push(' ');
            out.push_str(text);
            if out.len() > MAX_SUMMARY {
                break;
            }
        }
        truncate(&mut out, MAX_SUMMARY);
        out
    }
}

/// Why the reply stream cannot be read further. All of these end the
/// connection: after garbage, nothing the peer sends can be trusted to
/// line up with our commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// A line longer than [`MAX_REPLY_LINE`].
    TooLong,
    /// A line that is not `code[-| ]text` with a code of 200 to 599.
    Syntax(String),
    /// A continuation line with another code than the first line
    /// (RFC 5321 4.2.1: all lines carry the same code).
    MixedCodes(u16, u16),
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::TooLong => write!(
                f,
                "reply line longer than {MAX_REPLY_LINE} octets (RFC 5321 4.5.3.1.5)"
            ),
            ReplyError::Syntax(line) => write!(f, "malformed reply line {line:?}"),
            ReplyError::MixedCodes(a, b) => {
                write!(f, "multi-line reply mixes codes {a} and {b}")
            }
        }
    }
}

/// Incremental reply reader. See the module documentation.
#[derive(Debug)]
pub struct ReplyReader {
    framer: LineFramer,
    buf: Vec<u8>,
    pending: Option<ServerReply>,
    failed: bool,
}

impl Default for ReplyReader {
    fn default() -> ReplyReader {
        ReplyReader::new()
    }
}

impl ReplyReader {
    /// A reader with the [`MAX_REPLY_LINE`] limit.
    pub fn new() -> ReplyReader {
        ReplyReader {
            framer: LineFramer::new(MAX_REPLY_LINE),
            buf: Vec::new(),
            pending: None,
            failed: false,
        }
    }

    /// Adds received bytes. Whole replies are then taken with
    /// [`ReplyReader::next_reply`]. The buffer holds at most one partial
    /// line plus what is given here.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Forgets everything buffered (after STARTTLS, RFC 3207 4.2: nothing
    /// received in the clear may be used under TLS).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pending = None;
        self.framer.reset();
    }

    /// True when bytes are buffered that do not yet make a whole reply.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.pending.is_some()
    }

    /// The next whole reply, `None` when more input is needed. After an
    /// error every later call returns `None`.
    pub fn next_reply(&mut self) -> Option<Result<ServerReply, ReplyError>> {
        if self.failed {
            return None;
        }
        loop {
            let (n, frame) = self.framer.next(&self.buf);
            let result = match frame {
                Frame::Incomplete => {
                    self.buf.drain(..n);
                    return None;
                }
                Frame::TooLong => Some(Err(ReplyError::TooLong)),
                Frame::Line(line) => {
                    let text = line.text.to_vec();
                    self.line(&text)
                }
            };
            self.buf.drain(..n);
            match result {
                None => continue,
                Some(Err(e)) => {
                    self.failed = true;
                    self.buf = Vec::new();
                    self.pending = None;
                    return Some(Err(e));
                }
                Some(Ok(r)) => return Some(Ok(r)),
            }
        }
    }

    /// One line: `None` when it continues a reply.
    fn line(&mut self, text: &[u8]) -> Option<Result<ServerReply, ReplyError>> {
        // RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF )
        //                Reply-code [ SP textstring ] CRLF
        let code = match text {
            [a @ b'2'..=b'5', b @ b'0'..=b'9', c @ b'0'..=b'9', ..] => {
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
            }
            _ => return Some(Err(ReplyError::Syntax(quote(text)))),
        };
        let (last, rest) = match text.get(3..) {
            Some([]) | None => (true, &b""[..]),
            Some([b' ', rest @ ..]) => (true, rest),
            Some([b'-', rest @ ..]) => (false, rest),
            Some(_) => return Some(Err(ReplyError::Syntax(quote(text)))),
        };
        let reply = self.pending.get_or_insert_with(|| ServerReply {
            code,
            status: None,
            lines: Vec::new(),
        });
        if reply.code != code {
            return Some(Err(ReplyError::MixedCodes(reply.code, code)));
        }
        if reply.lines.len() < MAX_REPLY_LINES {
            let line = clean(rest);
            if reply.lines.is_empty() {
                reply.status = enhanced_status(code, &line);
            }
            reply.lines.push(line);
        }
        if last {
            self.pending.take().map(Ok)
        } else {
            None
        }
    }
}

/// RFC 3463 2: `class "." subject "." detail`, class 2, 4 or 5 and equal
/// to the reply's first digit (RFC 2034 4), subject and detail 1 to 3
/// digits, followed by a space or the end of the line.
fn enhanced_status(code: u16, text: &str) -> Option<heapless::String<11>> {
    let word = text.split(' ').next()?;
    let mut parts = word.split('.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    let class_ok = matches!(class, "2" | "4" | "5") && class == (code / 100).to_string();
    if parts.next().is_some() || !class_ok || !digits(subject) || !digits(detail) {
        return None;
    }
    heapless::String::try_from(word).ok()
}

/// Reply text as a printable string: invalid UTF-8 and control characters
/// become `?`, so the text can go into logs and bounce messages.
fn clean(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| {
            if c.is_control() || c == char::REPLACEMENT_CHARACTER {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// A bad line, shortened, for an error message.
fn quote(text: &[u8]) -> String {
    let mut s = clean(text);
    truncate(&mut s, 80);
    s
}

/// Cuts `s` to at most `max` octets at a character boundary.
pub(crate) fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` octets; collects replies and the
    /// first error.
    fn read(input: &[u8], step: usize) -> (Vec<ServerReply>, Option<ReplyError>) {
        let mut r = ReplyReader::new();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            r.push(piece);
            while let Some(x) = r.next_reply() {
                match x {
                    Ok(reply) => out.push(reply),
                    Err(e) => return (out, Some(e)),
                }
            }
            assert!(r.buf.len() <= MAX_REPLY_LINE + step, "buffer bounded");
        }
        (out, None)
    }

    /// The same result whole, byte by byte and split at every position.
    fn read_all_ways(input: &[u8]) -> (Vec<ServerReply>, Option<ReplyError>) {
        let whole = read(input, input.len().max(1));
        assert_eq!(read(input, 1), whole, "byte by byte");
        for i in 1..input.len() {
            let mut r = ReplyReader::new();
            let mut out = Vec::new();
            let mut err = None;
            for piece in [&input[..i], &input[i..]] {
                r.push(piece);
                while let Some(x) = r.next_reply() {
                    match x {
                        Ok(reply) => out.push(reply),
                        Err(e) => err = Some(e),
                    }
                }
            }
            assert_eq!((out, err), whole, "split at {i}");
        }
        whole
    }

    #[test]
    fn single_and_multi_line_replies() {
        let input = b"220 mx.example.org ESMTP\r\n250-mx.example.org\r\n250-PIPELINING\r\n250 SIZE 1000\r\n550 5.1.1 No such user\r\n354\r\n";
        let (replies, err) = read_all_ways(input);
        assert_eq!(err, None);
        assert_eq!(replies.len(), 4);
        assert_eq!(replies[0].code(), 220);
        assert_eq!(replies[0].status(), None);
        assert_eq!(
            replies[1].lines(),
            ["mx.example.org", "PIPELINING", "SIZE 1000"]
        );
        assert_eq!(replies[2].status(), Some("5.1.1"));
        assert_eq!(replies[2].summary(), "550 5.1.1 No such user");
        assert_eq!(replies[3].code(), 354);
        assert_eq!(replies[3].summary(), "354");
    }

    #[test]
    fn enhanced_codes_must_match_the_class() {
        let (r, _) = read_all_ways(b"550 4.1.1 odd\r\n250 2.1.0 ok\r\n451 4.7.1x no\r\n250 2.1234.0 no\r\n452 4.5.3 Too many\r\n");
        let st: Vec<_> = r.iter().map(|r| r.status()).collect();
        assert_eq!(st, [None, Some("2.1.0"), None, None, Some("4.5.3")]);
    }

    #[test]
    fn summary_joins_lines_and_drops_repeated_codes() {
        let (r, _) = read_all_ways(b"550-5.7.1 Message refused\r\n550-5.7.1 see https://x.example/\r\n550 5.7.1 policy\r\n");
        assert_eq!(
            r[0].summary(),
            "550 5.7.1 Message refused see https://x.example/ policy"
        );
    }

    #[test]
    fn bare_lf_and_control_characters() {
        let (r, err) = read_all_ways(b"250 ok\n221 bye\x01\xff\r\n");
        assert_eq!(err, None);
        assert_eq!(r[0].summary(), "250 ok");
        assert_eq!(r[1].lines(), ["bye??"]);
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            &b"hello\r\n"[..],
            b"1234 x\r\n",
            b"099 x\r\n",
            b"600 x\r\n",
            b"25 x\r\n",
            b"\r\n",
            b"HTTP/1.1 400 Bad Request\r\n",
        ] {
            let (r, err) = read_all_ways(bad);
            assert!(r.is_empty());
            assert!(matches!(err, Some(ReplyError::Syntax(_))), "{bad:?}");
        }
        let (r, err) = read_all_ways(b"250-a\r\n550 b\r\n250 ok\r\n");
        assert!(r.is_empty());
        assert_eq!(err, Some(ReplyError::MixedCodes(250, 550)));
    }

    #[test]
    fn overlong_line_is_an_error_with_bounded_memory() {
        let mut input = b"250-".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10 * MAX_REPLY_LINE));
        input.extend_from_slice(b"\r\n250 ok\r\n");
        for step in [1, 100, 4096, input.len()] {
            let (r, err) = read(&input, step);
            assert!(r.is_empty());
            assert_eq!(err, Some(ReplyError::TooLong), "step {step}");
        }
        // The longest allowed line still passes.
        let mut ok = b"250 ".to_vec();
        ok.extend(std::iter::repeat_n(b'y', MAX_REPLY_LINE - 6));
        ok.extend_from_slice(b"\r\n");
        let (r, err) = read(&ok, ok.len());
        assert_eq!((r.len(), err), (1, None));
    }

    #[test]
    fn long_replies_keep_a_bounded_number_of_lines() {
        let mut input = Vec::new();
        for i in 0..1000 {
            input.extend_from_slice(format!("250-line {i}\r\n").as_bytes());
        }
        input.extend_from_slice(b"250 end\r\n");
        let (r, err) = read(&input, 7);
        assert_eq!(err, None);
        assert_eq!(r[0].lines().len(), MAX_REPLY_LINES);
        assert!(r[0].summary().len() <= MAX_SUMMARY);
    }
}
