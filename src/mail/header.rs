//! Header field values: MIME parameters (RFC 2045 §5.1, RFC 2231), the
//! Content-* fields BODYSTRUCTURE reports, encoded words (RFC 2047) and the
//! few charsets search decodes.
//!
//! Everything here works on one unfolded field value, which the callers
//! bound (see [`crate::mail::mime::MAX_FIELD`]), so these functions may
//! allocate in proportion to their input.

use serde::{Deserialize, Serialize};

/// Longest type, subtype or parameter name kept; longer ones are cut
/// (no registered name comes near).
pub const MAX_TOKEN: usize = 127;

/// Most parameters kept from one Content-Type or Content-Disposition field
/// (a hostile field could otherwise list thousands).
pub const MAX_PARAMS: usize = 32;

/// A MIME parameter, as BODYSTRUCTURE reports it: the name as written, the
/// value unquoted; RFC 2231 continuations are joined (see [`parse_params`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Attribute name as written (`charset`, `filename*`).
    pub name: Vec<u8>,
    /// Value with quoting removed.
    pub value: Vec<u8>,
}

/// A parsed Content-Type (RFC 2045 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// Top-level type as written (`text`).
    pub media_type: Vec<u8>,
    /// Subtype as written (`plain`).
    pub subtype: Vec<u8>,
    /// Parameters, continuations joined.
    pub params: Vec<Param>,
}

/// A small cursor over a field value, following the RFC 5322 §3.2.2 rule
/// that comments and folding white space may appear between tokens.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a [u8]) -> Self {
        Cursor { s, i: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    /// Skips white space and (nested) comments: CFWS, RFC 5322 §3.2.2.
    fn skip_cfws(&mut self) {
        while let Some(b) = self.peek() {
            if is_wsp(b) || b == b'\r' || b == b'\n' {
                self.i += 1;
            } else if b == b'(' {
                self.comment();
            } else {
                break;
            }
        }
    }

    /// Reads a comment starting at `(`, returns its text.
    fn comment(&mut self) -> Vec<u8> {
        let mut depth = 0usize;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'(' => {
                    if depth > 0 {
                        out.push(b);
                    }
                    depth += 1;
                }
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                    out.push(b);
                }
                b'\\' => {
                    if let Some(n) = self.peek() {
                        self.i += 1;
                        out.push(n);
                    }
                }
                _ => out.push(b),
            }
        }
        out
    }

    /// An RFC 2045 token (strict: no tspecials, no 8-bit).
    fn token(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        while let Some(b) = self.peek() {
            if is_token_char(b) {
                self.i += 1;
            } else {
                break;
            }
        }
        (self.i > start).then(|| self.s.get(start..self.i).unwrap_or_default())
    }

    /// A quoted string starting at `"` (RFC 5322 §3.2.4), unescaped. An
    /// unterminated string runs to the end of the value.
    fn quoted(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.i += 1;
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        self.i += 1;
                        out.push(n);
                    }
                }
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
        out
    }

    /// A parameter value: a quoted string, or (leniently) anything up to
    /// white space or `;`, since values like `----=_Part_1` are common.
    fn value(&mut self) -> Vec<u8> {
        if self.peek() == Some(b'"') {
            return self.quoted();
        }
        let start = self.i;
        while let Some(b) = self.peek() {
            if is_wsp(b) || b == b';' || b == b'\r' || b == b'\n' || b == b'"' {
                break;
            }
            self.i += 1;
        }
        self.s.get(start..self.i).unwrap_or_default().to_vec()
    }

    /// Skips to just after the next `;` (error recovery).
    fn skip_past_semicolon(&mut self) {
        while let Some(b) = self.peek() {
            self.i += 1;
            if b == b';' {
                return;
            }
        }
    }
}

/// RFC 5234 WSP.
pub fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 2045 §5.1 token characters.
fn is_token_char(b: u8) -> bool {
    b > b' '
        && b < 0x7f
        && !matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b'@'
                | b','
                | b';'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'='
        )
}

/// Trims leading and trailing white space (including CR and LF).
pub fn trim(v: &[u8]) -> &[u8] {
    let ws = |b: &u8| is_wsp(*b) || *b == b'\r' || *b == b'\n';
    let start = v.iter().position(|b| !ws(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or_default()
}

fn cut(v: &[u8], max: usize) -> Vec<u8> {
    v.get(..max).unwrap_or(v).to_vec()
}

/// Parses a Content-Type value (RFC 2045 §5.1). `None` when the type or
/// subtype is missing or malformed: RFC 2045 §5.2 then says to treat the
/// part as `text/plain; charset=us-ascii`, which is the caller's default.
pub fn parse_content_type(value: &[u8]) -> Option<ContentType> {
    let mut c = Cursor::new(value);
    c.skip_cfws();
    let media_type = cut(c.token()?, MAX_TOKEN);
    c.skip_cfws();
    if c.peek() != Some(b'/') {
        return None;
    }
    c.i += 1;
    c.skip_cfws();
    let subtype = cut(c.token()?, MAX_TOKEN);
    let params = params_from(&mut c);
    Some(ContentType {
        media_type,
        subtype,
        params,
    })
}

/// Parses a Content-Disposition value (RFC 2183 §2): the disposition type
/// and its parameters; `None` if there is no type token.
pub fn parse_disposition(value: &[u8]) -> Option<(Vec<u8>, Vec<Param>)> {
    let mut c = Cursor::new(value);
    c.skip_cfws();
    let kind = cut(c.token()?, MAX_TOKEN);
    Some((kind, params_from(&mut c)))
}

/// Parses `*(";" parameter)` as found after a type (RFC 2045 §5.1), joining
/// RFC 2231 continuations: `name*0`, `name*1`... become `name`; if any
/// piece is extended (`name*0*`), they become one `name*` whose value keeps
/// the RFC 2231 form (`charset'lang'%XX...`), the plain pieces
/// percent-encoded. Values are otherwise kept as given (RFC 3501 reports
/// them undecoded).
pub fn parse_params(value: &[u8]) -> Vec<Param> {
    let mut c = Cursor::new(value);
    params_from(&mut c)
}

fn params_from(c: &mut Cursor<'_>) -> Vec<Param> {
    let mut raw: Vec<Param> = Vec::new();
    loop {
        c.skip_cfws();
        if c.at_end() {
            break;
        }
        if c.peek() != Some(b';') {
            // Junk between parameters: skip to the next one.
            c.skip_past_semicolon();
            continue;
        }
        c.i += 1;
        c.skip_cfws();
        let Some(name) = c.token() else {
            c.skip_past_semicolon();
            continue;
        };
        c.skip_cfws();
        if c.peek() != Some(b'=') {
            continue;
        }
        c.i += 1;
        c.skip_cfws();
        let value = c.value();
        if raw.len() < MAX_PARAMS * 4 {
            raw.push(Param {
                name: cut(name, MAX_TOKEN),
                value,
            });
        }
    }
    let mut params = join_continuations(raw);
    params.truncate(MAX_PARAMS);
    params
}

/// Splits `name*3*` into (`name`, Some(3), extended).
fn split_2231(name: &[u8]) -> (&[u8], Option<u32>, bool) {
    let (name, extended) = match name.strip_suffix(b"*") {
        Some(n) => (n, true),
        None => (name, false),
    };
    if let Some(star) = name.iter().rposition(|&b| b == b'*') {
        let digits = name.get(star + 1..).unwrap_or_default();
        let base = name.get(..star).unwrap_or_default();
        let ok = !digits.is_empty()
            && digits.len() <= 4
            && digits.iter().all(u8::is_ascii_digit)
            && !(digits.len() > 1 && digits.first() == Some(&b'0'));
        if ok {
            let n = digits
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
            return (base, Some(n), extended);
        }
    }
    (name, None, extended)
}

/// RFC 2231 §3: joins `name*0`, `name*1`... in order, stopping at the first
/// missing number.
fn join_continuations(raw: Vec<Param>) -> Vec<Param> {
    let mut out: Vec<Param> = Vec::new();
    let mut done: Vec<Vec<u8>> = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let (base, num, _) = split_2231(&p.name);
        if num.is_none() {
            out.push(p.clone());
            continue;
        }
        let key = base.to_ascii_lowercase();
        if done.contains(&key) {
            continue;
        }
        done.push(key.clone());
        // Collect every piece of this base, from here on.
        let mut pieces: Vec<(u32, bool, &[u8])> = raw
            .get(i..)
            .unwrap_or_default()
            .iter()
            .filter_map(|q| {
                let (b, n, ext) = split_2231(&q.name);
                (b.eq_ignore_ascii_case(base))
                    .then_some(n.map(|n| (n, ext, q.value.as_slice())))
                    .flatten()
            })
            .collect();
        pieces.sort_by_key(|p| p.0);
        let mut value = Vec::new();
        let any_ext = pieces.iter().any(|p| p.1);
        let mut expect = 0u32;
        for (n, ext, v) in pieces {
            if n != expect {
                break;
            }
            expect += 1;
            if any_ext && !ext {
                // A plain piece inside an extended value: encode it so the
                // whole stays one RFC 2231 extended value.
                for &b in v {
                    if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                        value.push(b);
                    } else {
                        value.extend_from_slice(format!("%{b:02X}").as_bytes());
                    }
                }
            } else {
                value.extend_from_slice(v);
            }
        }
        if expect == 0 {
            continue;
        }
        let mut name = base.to_vec();
        if any_ext {
            name.push(b'*');
        }
        out.push(Param { name, value });
    }
    out
}

/// The value of a parameter, by case-insensitive name.
pub fn param<'a>(params: &'a [Param], name: &[u8]) -> Option<&'a [u8]> {
    params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.value.as_slice())
}

/// Content-Transfer-Encoding (RFC 2045 §6.1): the mechanism token, or
/// `None` if the value is not a token (BODYSTRUCTURE then says `7bit`).
pub fn parse_token_field(value: &[u8]) -> Option<Vec<u8>> {
    let mut c = Cursor::new(value);
    c.skip_cfws();
    let t = c.token()?;
    c.skip_cfws();
    c.at_end().then(|| cut(t, MAX_TOKEN))
}

/// Content-Language (RFC 3282 §2): the comma-separated language tags.
pub fn parse_language(value: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut c = Cursor::new(value);
    loop {
        c.skip_cfws();
        if c.at_end() || out.len() >= MAX_PARAMS {
            break;
        }
        match c.token() {
            Some(t) => out.push(cut(t, MAX_TOKEN)),
            None => c.i += 1,
        }
    }
    out
}

/// A charset search can convert to UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8, and US-ASCII or unknown charsets read as UTF-8, invalid bytes
    /// replaced by U+FFFD (RFC 6532 allows raw UTF-8 in headers).
    Utf8,
    /// windows-1252; ISO-8859-1 is read as windows-1252 too, as browsers do
    /// (WHATWG Encoding), since mislabelled mail is common.
    Windows1252,
    /// ISO-8859-15.
    Latin9,
}

impl Charset {
    /// The decoder for a charset label (case-insensitive); unknown labels
    /// are read as lossy UTF-8.
    pub fn from_label(label: &[u8]) -> Charset {
        // RFC 2231 §5 allows a language suffix: `utf-8*en`.
        let label = label.split(|&b| b == b'*').next().unwrap_or_default();
        let l = trim(label).to_ascii_lowercase();
        match l.as_slice() {
            b"iso-8859-1" | b"iso8859-1" | b"iso_8859-1" | b"latin1" | b"l1" | b"windows-1252"
            | b"cp1252" | b"x-cp1252" => Charset::Windows1252,
            b"iso-8859-15" | b"iso8859-15" | b"latin9" | b"latin-9" => Charset::Latin9,
            _ => Charset::Utf8,
        }
    }
}

/// windows-1252 code points for bytes 0x80..=0x9F (WHATWG index); the five
/// undefined ones map to the C1 control of the same value.
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{81}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{8D}', '\u{017D}', '\u{8F}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{9D}', '\u{017E}', '\u{0178}',
];

/// One byte of a single-byte charset as a char.
pub fn single_byte_char(cs: Charset, b: u8) -> char {
    match (cs, b) {
        (Charset::Windows1252, 0x80..=0x9f) => CP1252_HIGH
            .get(usize::from(b - 0x80))
            .copied()
            .unwrap_or('\u{FFFD}'),
        (Charset::Latin9, 0xa4) => '\u{20AC}',
        (Charset::Latin9, 0xa6) => '\u{0160}',
        (Charset::Latin9, 0xa8) => '\u{0161}',
        (Charset::Latin9, 0xb4) => '\u{017D}',
        (Charset::Latin9, 0xb8) => '\u{017E}',
        (Charset::Latin9, 0xbc) => '\u{0152}',
        (Charset::Latin9, 0xbd) => '\u{0153}',
        (Charset::Latin9, 0xbe) => '\u{0178}',
        _ => char::from(b),
    }
}

/// Converts a whole byte string from `cs` to UTF-8.
pub fn to_utf8(cs: Charset, bytes: &[u8]) -> String {
    match cs {
        Charset::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        _ => bytes.iter().map(|&b| single_byte_char(cs, b)).collect(),
    }
}

/// Decodes RFC 2047 encoded words (`=?charset?B|Q?text?=`) in an unfolded
/// header value; text outside them is read as UTF-8 (RFC 6532), invalid
/// bytes replaced. White space between two adjacent encoded words is
/// dropped (RFC 2047 §6.2), and adjacent words in one charset are joined
/// before conversion, so a character split across words survives.
pub fn decode_words(value: &[u8]) -> String {
    let mut out = String::new();
    let mut plain: Vec<u8> = Vec::new();
    let mut word_bytes: Vec<u8> = Vec::new();
    let mut word_cs: Option<Charset> = None;
    // True while `plain` holds only white space that follows a word.
    let mut after_word = false;
    let mut i = 0;
    let flush_word = |out: &mut String, wb: &mut Vec<u8>, cs: &mut Option<Charset>| {
        if let Some(c) = cs.take() {
            out.push_str(&to_utf8(c, wb));
        }
        wb.clear();
    };
    while i < value.len() {
        if let Some((cs, bytes, len)) = encoded_word(value.get(i..).unwrap_or_default()) {
            if after_word {
                plain.clear();
            }
            if !plain.is_empty() || word_cs != Some(cs) {
                flush_word(&mut out, &mut word_bytes, &mut word_cs);
                out.push_str(&String::from_utf8_lossy(&plain));
                plain.clear();
            }
            word_cs = Some(cs);
            word_bytes.extend_from_slice(&bytes);
            after_word = true;
            i += len;
            continue;
        }
        if let Some(&b) = value.get(i) {
            plain.push(b);
            if !is_wsp(b) {
                after_word = false;
            }
        }
        i += 1;
    }
    flush_word(&mut out, &mut word_bytes, &mut word_cs);
    out.push_str(&String::from_utf8_lossy(&plain));
    out
}

/// Recognises one encoded word at the start of `s` (RFC 2047 §2): returns
/// its charset, decoded bytes and length.
fn encoded_word(s: &[u8]) -> Option<(Charset, Vec<u8>, usize)> {
    let rest = s.strip_prefix(b"=?")?;
    let q1 = rest.iter().position(|&b| b == b'?')?;
    let charset = rest.get(..q1)?;
    let enc = *rest.get(q1 + 1)?;
    if rest.get(q1 + 2) != Some(&b'?') {
        return None;
    }
    let text_start = q1 + 3;
    let text_rest = rest.get(text_start..)?;
    let end = text_rest.windows(2).position(|w| w == b"?=")?;
    let text = text_rest.get(..end)?;
    if charset.is_empty() || text.iter().any(|&b| b == b' ' || b == b'\t') {
        return None;
    }
    let bytes = match enc {
        b'B' | b'b' => {
            let mut d = crate::mail::mime::decode::Base64Decoder::default();
            let mut out = Vec::new();
            d.feed(text, &mut out);
            out
        }
        b'Q' | b'q' => decode_q(text),
        _ => return None,
    };
    Some((
        Charset::from_label(charset),
        bytes,
        2 + text_start + end + 2,
    ))
}

/// The RFC 2047 §4.2 "Q" encoding: `_` is a space, `=XX` a byte.
fn decode_q(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        match b {
            b'_' => out.push(b' '),
            b'=' => {
                let hi = text.get(i + 1).and_then(|&h| hex(h));
                let lo = text.get(i + 2).and_then(|&l| hex(l));
                if let (Some(h), Some(l)) = (hi, lo) {
                    out.push(h << 4 | l);
                    i += 2;
                } else {
                    out.push(b);
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// A hexadecimal digit's value.
pub fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: &str) -> Param {
        Param {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn content_type_with_quoted_and_lenient_values() {
        let ct = parse_content_type(
            b" Multipart/Mixed (comment); boundary=\"foo bar\"; x=----=_Part_1 ;y=\"a\\\"b\"",
        )
        .unwrap();
        assert_eq!(ct.media_type, b"Multipart");
        assert_eq!(ct.subtype, b"Mixed");
        assert_eq!(
            ct.params,
            vec![
                p("boundary", "foo bar"),
                p("x", "----=_Part_1"),
                p("y", "a\"b")
            ]
        );
    }

    #[test]
    fn malformed_content_type_is_none() {
        assert_eq!(parse_content_type(b"text"), None);
        assert_eq!(parse_content_type(b"/plain"), None);
        assert_eq!(parse_content_type(b""), None);
    }

    #[test]
    fn rfc2231_continuations_are_joined() {
        // RFC 2231 §3 and §4.1 examples.
        let ps = parse_params(
            b"; URL*0=\"ftp://\"; URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
        );
        assert_eq!(
            ps,
            vec![p(
                "URL",
                "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"
            )]
        );
        let ps = parse_params(
            b"; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
        );
        assert_eq!(
            ps,
            vec![p(
                "title*",
                "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn%27t%20it!"
            )]
        );
        // Out of order pieces are sorted; a gap ends the value.
        let ps = parse_params(b"; a*1=b; a*0=a; a*3=d; c=1");
        assert_eq!(ps, vec![p("a", "ab"), p("c", "1")]);
        // A single extended value stays as written.
        let ps = parse_params(b"; filename*=utf-8''%C3%A9t%C3%A9.txt");
        assert_eq!(ps, vec![p("filename*", "utf-8''%C3%A9t%C3%A9.txt")]);
    }

    #[test]
    fn parameter_count_is_bounded() {
        let mut v = Vec::new();
        for i in 0..1000 {
            v.extend_from_slice(format!("; p{i}=v").as_bytes());
        }
        assert_eq!(parse_params(&v).len(), MAX_PARAMS);
    }

    #[test]
    fn disposition_language_and_tokens() {
        assert_eq!(
            parse_disposition(b"attachment; filename=\"a b.txt\""),
            Some((b"attachment".to_vec(), vec![p("filename", "a b.txt")]))
        );
        assert_eq!(
            parse_language(b"en, fi (finnish),se"),
            vec![b"en".to_vec(), b"fi".to_vec(), b"se".to_vec()]
        );
        assert_eq!(parse_token_field(b" Base64 "), Some(b"Base64".to_vec()));
        assert_eq!(parse_token_field(b"?invalid"), None);
        assert_eq!(parse_token_field(b"7bit junk"), None);
    }

    #[test]
    fn encoded_words_are_decoded() {
        // RFC 2047 §8 examples.
        assert_eq!(decode_words(b"=?ISO-8859-1?Q?a?="), "a");
        assert_eq!(decode_words(b"=?ISO-8859-1?Q?a?= b"), "a b");
        assert_eq!(decode_words(b"=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
        assert_eq!(
            decode_words(b"=?ISO-8859-1?Q?a?=  \t =?ISO-8859-1?Q?b?="),
            "ab"
        );
        assert_eq!(decode_words(b"=?ISO-8859-1?Q?a_b?="), "a b");
        assert_eq!(
            decode_words(b"=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>"),
            "Keith Moore <moore@cs.utk.edu>"
        );
        assert_eq!(
            decode_words(b"=?ISO-8859-1?Q?Andr=E9?= Pirard"),
            "Andr\u{e9} Pirard"
        );
        assert_eq!(decode_words(b"=?utf-8?B?w6l0w6k=?= x"), "\u{e9}t\u{e9} x");
        // A UTF-8 character split across two words.
        assert_eq!(decode_words(b"=?utf-8?Q?=C3?= =?utf-8?Q?=A9?="), "\u{e9}");
        // Raw UTF-8 (RFC 6532) and broken words pass through.
        assert_eq!(decode_words("caf\u{e9} =?x".as_bytes()), "caf\u{e9} =?x");
        assert_eq!(decode_words(b"=?utf-8?X?abc?="), "=?utf-8?X?abc?=");
        assert_eq!(decode_words(b"a =?utf-8?Q?b?= c"), "a b c");
    }

    #[test]
    fn charsets_convert() {
        assert_eq!(
            to_utf8(Charset::from_label(b"windows-1252"), b"\x80 \x93q\x94 \xe9"),
            "\u{20ac} \u{201c}q\u{201d} \u{e9}"
        );
        assert_eq!(
            to_utf8(Charset::from_label(b"ISO-8859-15"), b"\xa4"),
            "\u{20ac}"
        );
        assert_eq!(
            to_utf8(Charset::from_label(b"koi8-r"), b"a\xff"),
            "a\u{fffd}"
        );
    }
}
