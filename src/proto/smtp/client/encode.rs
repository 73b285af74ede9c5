//! The message content on its way out: line ends made CR LF (RFC 5321
//! 2.3.8: bare CR and bare LF must not be sent) and, for DATA, the
//! transparency procedure (RFC 5321 4.5.2) and the end-of-data line.
//!
//! [`BodyEncoder`] streams: it takes the message in pieces of any size and
//! appends at most twice the piece's length plus 3 octets per call, so the
//! caller bounds the output by bounding what it reads. The result does not
//! depend on where the pieces are cut.

/// Streaming encoder for message content. See the module documentation.
#[derive(Debug, Clone)]
pub struct BodyEncoder {
    dots: bool,
    line_start: bool,
    pending_cr: bool,
}

impl BodyEncoder {
    /// The DATA encoder: CR LF line ends, a leading `.` doubled (RFC 5321
    /// 4.5.2), and `.` CR LF at the end.
    pub fn data() -> BodyEncoder {
        BodyEncoder {
            dots: true,
            line_start: true,
            pending_cr: false,
        }
    }

    /// The BDAT encoder (RFC 3030): CR LF line ends only; the content is
    /// otherwise sent as it is and nothing is added at the end.
    pub fn chunking() -> BodyEncoder {
        BodyEncoder {
            dots: false,
            line_start: true,
            pending_cr: false,
        }
    }

    /// Most octets [`BodyEncoder::push`] appends for `input_len` octets.
    pub fn max_output(input_len: usize) -> usize {
        input_len.saturating_mul(2).saturating_add(3)
    }

    /// Appends the encoding of the next piece of the message to `out`. A
    /// CR at the end of the piece is held back until the next octet shows
    /// whether it starts CR LF.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut rest = input;
        while !rest.is_empty() {
            if self.pending_cr {
                self.pending_cr = false;
                self.newline(out);
                if rest.first() == Some(&b'\n') {
                    rest = rest.get(1..).unwrap_or_default();
                }
                continue;
            }
            let end = rest
                .iter()
                .position(|&b| b == b'\r' || b == b'\n')
                .unwrap_or(rest.len());
            let (text, tail) = rest.split_at(end);
            if !text.is_empty() {
                if self.dots && self.line_start && text.first() == Some(&b'.') {
                    out.push(b'.');
                }
                out.extend_from_slice(text);
                self.line_start = false;
            }
            match tail.first() {
                Some(b'\r') => self.pending_cr = true,
                Some(_) => self.newline(out),
                None => {}
            }
            rest = tail.get(1..).unwrap_or_default();
        }
    }

    /// Ends the content: a held-back CR becomes CR LF, and for DATA a
    /// missing final CR LF is added before the `.` CR LF line (RFC 5321
    /// 4.1.1.4).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            self.newline(out);
        }
        if self.dots {
            if !self.line_start {
                self.newline(out);
            }
            out.extend_from_slice(b".\r\n");
        }
    }

    fn newline(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\r\n");
        self.line_start = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(mut enc: BodyEncoder, pieces: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces {
            let before = out.len();
            enc.push(p, &mut out);
            assert!(out.len() - before <= BodyEncoder::max_output(p.len()));
        }
        enc.finish(&mut out);
        out
    }

    /// Encodes whole, byte by byte and split in two at every position;
    /// all must agree.
    fn encode(make: fn() -> BodyEncoder, input: &[u8]) -> Vec<u8> {
        let whole = run(make(), &[input]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(make(), &bytes), whole, "byte by byte");
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(run(make(), &[a, b]), whole, "split at {i}");
        }
        whole
    }

    #[test]
    fn data_doubles_leading_dots_and_terminates() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b".\r\n"),
            (b"a\r\n", b"a\r\n.\r\n"),
            (b"a", b"a\r\n.\r\n"),
            (b".\r\n", b"..\r\n.\r\n"),
            (b".", b"..\r\n.\r\n"),
            (
                b"a\r\n.b\r\n..c\r\nd.e\r\n",
                b"a\r\n..b\r\n...c\r\nd.e\r\n.\r\n",
            ),
            // SMTP smuggling shapes become plain content.
            (b"a\n.\nb", b"a\r\n..\r\nb\r\n.\r\n"),
            (b"a\r.\rb\r\n", b"a\r\n..\r\nb\r\n.\r\n"),
            (
                b"a\r\n.\nMAIL FROM:<x@y>\r\n",
                b"a\r\n..\r\nMAIL FROM:<x@y>\r\n.\r\n",
            ),
            (b"x\r\r\ny", b"x\r\n\r\ny\r\n.\r\n"),
            (b"x\r", b"x\r\n.\r\n"),
            (b"\n\n", b"\r\n\r\n.\r\n"),
            (b"8bit \xc3\xa9\xff\r\n", b"8bit \xc3\xa9\xff\r\n.\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(
                encode(BodyEncoder::data, input),
                *want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn chunking_only_fixes_line_ends() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b".a\n.\n", b".a\r\n.\r\n"),
            (b"no end", b"no end"),
            (b"cr\r", b"cr\r\n"),
            (b"a\rb\r\nc", b"a\r\nb\r\nc"),
        ];
        for (input, want) in cases {
            assert_eq!(encode(BodyEncoder::chunking, input), *want);
        }
    }

    #[test]
    fn large_input_streams_in_pieces() {
        let mut input = Vec::new();
        for i in 0..5000 {
            input.extend_from_slice(format!(".line {i}\n").as_bytes());
        }
        let out = run(BodyEncoder::data(), &input.chunks(4096).collect::<Vec<_>>());
        assert_eq!(out.len(), input.len() + 2 * 5000 + 3);
        assert!(out.starts_with(b"..line 0\r\n..line 1\r\n"));
        assert!(out.ends_with(b"..line 4999\r\n.\r\n"));
    }
}
