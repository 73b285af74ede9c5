//! Streaming decoders for body text: Content-Transfer-Encoding (RFC 2045
//! §6.7 quoted-printable, §6.8 base64), charsets to UTF-8, and rough HTML
//! tag removal. Each is fed chunks of any size and keeps only a few bytes
//! of state between them.

use crate::mail::header::{hex, single_byte_char, Charset};

/// Base64 (RFC 2045 §6.8) decoder: characters outside the alphabet are
/// ignored, as the RFC says; decoding stops at the first `=`.
#[derive(Debug, Default, Clone)]
pub struct Base64Decoder {
    acc: u32,
    bits: u32,
    ended: bool,
}

impl Base64Decoder {
    /// Decodes `input`, appending bytes to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if self.ended {
                return;
            }
            let v = match b {
                b'A'..=b'Z' => b - b'A',
                b'a'..=b'z' => b - b'a' + 26,
                b'0'..=b'9' => b - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' => {
                    self.ended = true;
                    continue;
                }
                _ => continue,
            };
            self.acc = (self.acc << 6) | u32::from(v);
            self.bits += 6;
            if self.bits >= 8 {
                self.bits -= 8;
                out.push((self.acc >> self.bits) as u8);
                self.acc &= (1 << self.bits) - 1;
            }
        }
    }
}

/// Quoted-printable (RFC 2045 §6.7) decoder. `=XX` gives a byte, `=` at a
/// line end is a soft line break; a malformed `=` is kept as written;
/// white space at the end of a line is deleted (rule 3).
#[derive(Debug, Default, Clone)]
pub struct QpDecoder {
    /// Bytes after a pending `=` (a few: white space, CR, hex digits).
    pending: Vec<u8>,
    in_escape: bool,
    /// Literal white space (then perhaps a CR) held until it is known
    /// whether a line break follows it.
    held: Vec<u8>,
}

/// White space a [`QpDecoder`] holds at most; a longer run is written out
/// (RFC 2045 §6.7 rule 5 keeps encoded lines to 76 characters, so a run
/// this long is not an encoder's trailing space).
const MAX_HELD_SPACE: usize = 1024;

impl QpDecoder {
    /// Decodes `input`, appending bytes to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            if !self.in_escape {
                let cr = self.held.last() == Some(&b'\r');
                match b {
                    b' ' | b'\t' if !cr && self.held.len() < MAX_HELD_SPACE => self.held.push(b),
                    b'\r' if !cr => self.held.push(b),
                    // RFC 2045 §6.7 rule 3: trailing white space is deleted
                    // when decoding (a bare LF ends a line too).
                    b'\n' => {
                        self.held.clear();
                        if cr {
                            out.push(b'\r');
                        }
                        out.push(b'\n');
                    }
                    _ => {
                        out.append(&mut self.held);
                        match b {
                            b'\r' => self.held.push(b),
                            b'=' => {
                                self.in_escape = true;
                                self.pending.clear();
                            }
                            _ => out.push(b),
                        }
                    }
                }
                continue;
            }
            self.pending.push(b);
            let p = self.pending.as_slice();
            let ws = p.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
            match (ws, p.get(ws..).unwrap_or_default()) {
                // Soft line break, possibly after white space (bare LF too).
                (_, [b'\n'] | [b'\r', b'\n']) => self.in_escape = false,
                (_, [b'\r']) => {}
                (1..=16, []) => {}
                (0, [h]) if hex(*h).is_some() => {}
                (0, [h, l]) if hex(*h).is_some() && hex(*l).is_some() => {
                    out.push((hex(*h).unwrap_or(0) << 4) | hex(*l).unwrap_or(0));
                    self.in_escape = false;
                }
                _ => {
                    out.push(b'=');
                    out.extend_from_slice(p);
                    self.in_escape = false;
                }
            }
        }
    }
}

/// Converts bytes in a charset to UTF-8, streaming: an incomplete UTF-8
/// sequence at the end of a chunk waits for the next one.
#[derive(Debug, Clone)]
pub struct CharsetDecoder {
    charset: Charset,
    carry: Vec<u8>,
}

impl CharsetDecoder {
    /// A decoder for `charset`.
    pub fn new(charset: Charset) -> Self {
        CharsetDecoder {
            charset,
            carry: Vec::new(),
        }
    }

    /// Converts `input`, appending to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut String) {
        if self.charset != Charset::Utf8 {
            out.extend(input.iter().map(|&b| single_byte_char(self.charset, b)));
            return;
        }
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(input);
        let mut rest = buf.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    return;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(good).unwrap_or_default());
                    match e.error_len() {
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = bad.get(n..).unwrap_or_default();
                        }
                        None => {
                            // Incomplete at the end: wait for more.
                            self.carry = bad.to_vec();
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Ends the input: a dangling partial sequence becomes U+FFFD.
    pub fn finish(&mut self, out: &mut String) {
        if !self.carry.is_empty() {
            self.carry.clear();
            out.push('\u{FFFD}');
        }
    }
}

/// Removes HTML tags roughly: text between `<` and `>` is dropped and
/// replaced by a space. Entities (`&amp;`) are left as written.
#[derive(Debug, Default, Clone)]
pub struct TagStripper {
    in_tag: bool,
}

impl TagStripper {
    /// Strips tags from `input`, appending the text to `out`.
    pub fn feed(&mut self, input: &str, out: &mut String) {
        for c in input.chars() {
            match (self.in_tag, c) {
                (false, '<') => self.in_tag = true,
                (false, _) => out.push(c),
                (true, '>') => {
                    self.in_tag = false;
                    out.push(' ');
                }
                (true, _) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a byte decoder over `input` split at every position.
    fn every_split(input: &[u8], mut run: impl FnMut(&[&[u8]]) -> Vec<u8>) -> Vec<u8> {
        let whole = run(&[input]);
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(run(&[a, b]), whole, "split at {i}");
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(&bytes), whole, "byte by byte");
        whole
    }

    #[test]
    fn base64_streams() {
        let out = every_split(b"aGVs\r\nbG8g\r\nd29y bGQ=\r\nignored", |chunks| {
            let mut d = Base64Decoder::default();
            let mut out = Vec::new();
            for c in chunks {
                d.feed(c, &mut out);
            }
            out
        });
        assert_eq!(out, b"hello world");
    }

    #[test]
    fn quoted_printable_streams() {
        let out = every_split(
            b"caf=C3=A9 =3D ok=\r\nsoft=\nbare =zz end=  \r\nx\r\n",
            |chunks| {
                let mut d = QpDecoder::default();
                let mut out = Vec::new();
                for c in chunks {
                    d.feed(c, &mut out);
                }
                out
            },
        );
        assert_eq!(out, "caf\u{e9} = oksoftbare =zz endx\r\n".as_bytes());
    }

    /// RFC 2045 §6.7 rule 3: white space at the end of an encoded line is
    /// deleted when decoding; encoded or inner white space is kept.
    #[test]
    fn quoted_printable_drops_trailing_white_space() {
        let out = every_split(b"a \t \r\nb  \nc=20 \r\nd e\r \rf\r\r\ng", |chunks| {
            let mut d = QpDecoder::default();
            let mut out = Vec::new();
            for c in chunks {
                d.feed(c, &mut out);
            }
            out
        });
        assert_eq!(out, b"a\r\nb\nc \r\nd e\r \rf\r\r\ng");
    }

    #[test]
    fn utf8_decoder_waits_for_split_characters() {
        let input = "a\u{e9}\u{20ac}\u{1F600}z".as_bytes();
        let out = every_split(input, |chunks| {
            let mut d = CharsetDecoder::new(Charset::Utf8);
            let mut out = String::new();
            for c in chunks {
                d.feed(c, &mut out);
            }
            d.finish(&mut out);
            out.into_bytes()
        });
        assert_eq!(out, input);
        let mut d = CharsetDecoder::new(Charset::Utf8);
        let mut out = String::new();
        d.feed(b"a\xffb\xe2\x82", &mut out);
        d.finish(&mut out);
        assert_eq!(out, "a\u{fffd}b\u{fffd}");
    }

    #[test]
    fn tags_are_stripped() {
        let mut t = TagStripper::default();
        let mut out = String::new();
        t.feed("<p class=\"x\">Hello <b>wor", &mut out);
        t.feed("ld</b></p", &mut out);
        t.feed(">", &mut out);
        assert_eq!(out, " Hello  world  ");
    }
}
