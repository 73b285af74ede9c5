//! SMTP replies (RFC 5321 4.2) with enhanced status codes (RFC 2034,
//! RFC 3463).

/// A reply: a three-digit code, an optional enhanced status code and text.
///
/// Text with `\n` in it is sent as a multi-line reply (RFC 5321 4.2.1).
/// Control characters in the text are replaced when written, so a reply can
/// never inject a line of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    /// RFC 3463 §2 bounds the code: class "x", subject and detail of at
    /// most three digits each, so "x.xxx.xxx" (9 octets) fits inline.
    status: Option<heapless::String<9>>,
    text: String,
}

impl Reply {
    /// A reply with an enhanced status code such as `"5.1.1"`.
    ///
    /// RFC 2034 section 4 requires the enhanced code on every 2xx, 4xx and
    /// 5xx reply except the greeting and the EHLO/HELO answer.
    pub fn new(code: u16, status: &str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            // Our own codes are literals; one that does not fit is dropped
            // rather than truncated.
            status: (!status.is_empty())
                .then(|| heapless::String::try_from(status).ok())
                .flatten(),
            text: text.into(),
        }
    }

    /// A reply without an enhanced code (greeting, EHLO, 334, 354).
    pub fn plain(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status: None,
            text: text.into(),
        }
    }

    /// The three-digit reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The enhanced status code, if any.
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// The reply text (lines separated by `\n`).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True for 2xx and 3xx replies.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// Appends the wire form, CRLF-terminated, to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let code = self.code.clamp(200, 599).to_string();
        let mut lines = self.text.split('\n').peekable();
        while let Some(line) = lines.next() {
            out.extend_from_slice(code.as_bytes());
            out.push(if lines.peek().is_some() { b'-' } else { b' ' });
            if let Some(s) = &self.status {
                push_clean(out, s);
                out.push(b' ');
            }
            push_clean(out, line);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The wire form as a vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }
}

fn push_clean(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        if c.is_control() {
            out.push(b'?');
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line() {
        assert_eq!(
            Reply::new(250, "2.0.0", "OK").to_bytes(),
            b"250 2.0.0 OK\r\n"
        );
        assert_eq!(
            Reply::plain(250, "mx\nPIPELINING\nSIZE 10").to_bytes(),
            b"250-mx\r\n250-PIPELINING\r\n250 SIZE 10\r\n"
        );
    }

    #[test]
    fn text_cannot_inject_lines() {
        let r = Reply::new(550, "5.1.1", "no\r\n250 OK");
        assert_eq!(r.to_bytes(), b"550-5.1.1 no?\r\n550 5.1.1 250 OK\r\n");
        let r = Reply::new(550, "5.1.1", "a\x00b\rc");
        assert_eq!(r.to_bytes(), b"550 5.1.1 a?b?c\r\n");
    }
}
