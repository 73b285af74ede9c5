//! The tokeniser: words of the subject and of the decoded text parts
//! (HTML tags stripped), lowercased, plus a few header tokens. Bounded:
//! at most [`MAX_TEXT`] bytes of decoded text and [`MAX_TOKENS`] distinct
//! tokens per message; the message is streamed, never loaded whole.

use crate::mail::mime::search::{TextKind, TextScan, TextSink};
use crate::mail::mime::{Parser, Structure};
use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

/// Decoded text looked at per message (64 KiB; spam says what it sells
/// early, and it bounds the work per message).
pub const MAX_TEXT: usize = 64 * 1024;
/// Distinct tokens kept per message (each 8 bytes in the set, so ~64 KiB
/// at most with the set's overhead).
pub const MAX_TOKENS: usize = 4000;
/// Shortest word kept, in characters.
const MIN_WORD: usize = 3;
/// Longest word kept as itself; longer ones become a `skip:` token.
const MAX_WORD: usize = 24;
/// Read size when streaming a message file.
const CHUNK: usize = 16 * 1024;

/// The distinct token hashes of one message, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens(pub Vec<u64>);

impl Tokens {
    /// The tokens of one text (all of it counted as body), for tests and
    /// tools.
    pub fn of_text(text: &str) -> Tokens {
        let mut t = Tokeniser::new();
        t.text(TextKind::Body, text);
        t.end();
        t.tokens()
    }

    /// Number of distinct tokens.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the message gave no token.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The stable 64-bit hash of a token (FNV-1a): the key in the token store.
pub fn token_hash(token: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in token.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A [`TextSink`] that collects token hashes.
#[derive(Debug)]
pub struct Tokeniser {
    budget: usize,
    set: HashSet<u64>,
    word: String,
    chars: usize,
}

impl Default for Tokeniser {
    fn default() -> Self {
        Tokeniser::new()
    }
}

impl Tokeniser {
    /// An empty tokeniser with the full text budget.
    pub fn new() -> Tokeniser {
        Tokeniser {
            budget: MAX_TEXT,
            set: HashSet::new(),
            word: String::new(),
            chars: 0,
        }
    }

    /// The tokens collected.
    pub fn tokens(self) -> Tokens {
        let mut v: Vec<u64> = self.set.into_iter().collect();
        v.sort_unstable();
        Tokens(v)
    }

    fn add(&mut self, token: &str) {
        if self.set.len() < MAX_TOKENS {
            self.set.insert(token_hash(token));
        }
    }

    fn flush_word(&mut self, prefix: &str) {
        if self.chars >= MIN_WORD {
            let word = std::mem::take(&mut self.word);
            if self.chars > MAX_WORD {
                let first = word.chars().next().unwrap_or('_');
                self.add(&format!("skip:{first}:{}", self.chars / 10 * 10));
            } else if word.chars().all(|c| c.is_ascii_digit()) {
                self.add(&format!("{prefix}num:{}", self.chars));
            } else {
                self.add(&format!("{prefix}{word}"));
            }
            self.word = word;
        }
        self.word.clear();
        self.chars = 0;
    }

    fn words(&mut self, text: &str, prefix: &str) {
        for c in text.chars() {
            if c.is_alphanumeric() || c == '$' || c == '€' || c == '£' {
                if self.chars <= MAX_WORD {
                    self.word.extend(c.to_lowercase());
                }
                self.chars += 1;
            } else if (c == '\'' || c == '-') && self.chars > 0 {
                // Inside a word (don't, e-mail): keep it whole.
                if self.chars <= MAX_WORD {
                    self.word.push(c);
                }
                self.chars += 1;
            } else {
                self.flush_word(prefix);
            }
        }
    }

    fn header(&mut self, field: &str) {
        let (name, value) = field.split_once(':').unwrap_or((field, ""));
        if name.eq_ignore_ascii_case("subject") {
            self.words(value, "");
            self.flush_word("");
            self.words(value, "subject:");
            self.flush_word("subject:");
        } else if name.eq_ignore_ascii_case("from") || name.eq_ignore_ascii_case("reply-to") {
            if let Some((_, after)) = value.rsplit_once('@') {
                let domain: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '.' || *c == '-')
                    .flat_map(char::to_lowercase)
                    .take(64)
                    .collect();
                if !domain.is_empty() {
                    let tag = name.to_ascii_lowercase();
                    self.add(&format!("{tag}-domain:{domain}"));
                }
            }
        } else if name.eq_ignore_ascii_case("content-type") {
            let value = value.trim();
            let media: String = value
                .chars()
                .take_while(|c| *c != ';')
                .take(48)
                .flat_map(char::to_lowercase)
                .collect();
            self.add(&format!("content-type:{media}"));
        }
    }
}

impl TextSink for Tokeniser {
    fn text(&mut self, kind: TextKind, text: &str) {
        match kind {
            TextKind::Header => self.header(text),
            TextKind::Body => {
                if self.budget == 0 {
                    return;
                }
                let mut take = text.len().min(self.budget);
                while !text.is_char_boundary(take) {
                    take -= 1;
                }
                self.budget -= take;
                if let Some(t) = text.get(..take) {
                    self.words(t, "");
                }
            }
        }
    }

    fn end(&mut self) {
        self.flush_word("");
    }
}

/// Tokenises a stored message whose structure is known, streaming it.
pub fn tokenise(mut input: impl Read, structure: &Structure) -> io::Result<Tokens> {
    let mut scan = TextScan::new(structure);
    let mut sink = Tokeniser::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = input.read(&mut buf)?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        scan.feed(chunk, &mut sink);
        if sink.budget == 0 {
            break;
        }
    }
    scan.finish(&mut sink);
    Ok(sink.tokens())
}

/// Tokenises a message file of unknown structure: one pass through the
/// MIME parser, a second through the tokeniser. Also returns the SHA-256
/// of the bytes, the message's identity for training.
pub fn tokenise_unparsed(mut input: impl Read + Seek) -> io::Result<(Tokens, [u8; 32])> {
    let mut parser = Parser::new();
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = input.read(&mut buf)?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        parser.feed(chunk);
        digest.update(chunk);
    }
    let structure = parser.finish();
    input.seek(SeekFrom::Start(0))?;
    let tokens = tokenise(input, &structure)?;
    let mut id = [0u8; 32];
    id.copy_from_slice(digest.finish().as_ref());
    Ok((tokens, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn has(t: &Tokens, token: &str) -> bool {
        t.0.binary_search(&token_hash(token)).is_ok()
    }

    #[test]
    fn words_are_lowercased_and_bounded() {
        let t =
            Tokens::of_text("Hello WORLD, an été 12345 don't aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert!(has(&t, "hello"));
        assert!(has(&t, "world"));
        assert!(has(&t, "été"));
        assert!(has(&t, "don't"));
        assert!(has(&t, "num:5"));
        assert!(!has(&t, "an"), "short words are dropped");
        assert!(has(&t, "skip:a:30"));
    }

    #[test]
    fn message_subject_from_and_html_parts() {
        let msg = b"From: Bank <alerts@Secure-Bank.example>\r\n\
Subject: Verify your ACCOUNT\r\n\
Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Click here to conf=\r\nirm now\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<p><b>Urgent</b> action</p>\r\n--b--\r\n";
        let (t, id) = tokenise_unparsed(Cursor::new(&msg[..])).unwrap();
        assert!(has(&t, "from-domain:secure-bank.example"));
        assert!(has(&t, "subject:verify"));
        assert!(has(&t, "account"));
        assert!(has(&t, "confirm"), "quoted-printable soft break joined");
        assert!(has(&t, "urgent"));
        assert!(!has(&t, "<p>") && !has(&t, "p"));
        let (_, id2) = tokenise_unparsed(Cursor::new(&msg[..])).unwrap();
        assert_eq!(id, id2);
    }

    #[test]
    fn text_budget_is_bounded() {
        let mut body = String::from("Subject: x\r\n\r\n");
        for i in 0..40_000 {
            body.push_str(&format!("w{i}x "));
        }
        let (t, _) = tokenise_unparsed(Cursor::new(body.as_bytes())).unwrap();
        assert!(t.len() <= MAX_TOKENS);
        // Words past the budget are not seen.
        assert!(!has(&t, "w39999x"));
    }
}
