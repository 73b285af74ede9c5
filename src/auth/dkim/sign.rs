//! The DKIM signer (RFC 6376 §5): fed a message as a stream, it returns the
//! `DKIM-Signature:` fields to prepend.
//!
//! Memory: the header fields that are signed are kept, at most
//! [`MAX_HEADER_BYTES`] of them (and one field being read, bounded the
//! same way); other fields are dropped as they go by. The body is
//! canonicalised and hashed as it streams (`canon::BodyHasher`).

use super::canon::{self, BodyHasher, Canon};
use super::key::SigningKey;
use crate::proto::base64;
use std::fmt;

/// Most bytes of signed header fields kept for signing (64 KiB: far above
/// any real message's From, To, Subject, ..., and the most a signer holds
/// besides the field being read, itself bounded by the same figure).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The header fields signed when present (RFC 6376 §5.4.1's list, and the
/// list fields of RFC 2369 / RFC 8058). Each present one is also listed
/// once more than it occurs in `h=` (over-signing, §8.15 and §5.4.2), so
/// that no instance can be added without breaking the signature. From is
/// required.
pub const SIGNED_FIELDS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-id",
    "content-description",
    "resent-date",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-message-id",
    "in-reply-to",
    "references",
    "list-id",
    "list-help",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "list-subscribe",
    "list-post",
    "list-owner",
    "list-archive",
];

/// Longest line of the generated DKIM-Signature field, before its CRLF
/// (RFC 5322 §2.1.1 recommends 78).
const FOLD_AT: usize = 78;

/// Why a message could not be signed. The message can still be sent
/// unsigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignError {
    /// No key to sign with.
    NoKeys,
    /// The header has no From field (RFC 6376 §5.4: it must be signed).
    NoFrom,
    /// The signed header fields exceed [`MAX_HEADER_BYTES`].
    HeaderTooLarge,
    /// The signing operation failed.
    Crypto(String),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignError::NoKeys => f.write_str("no DKIM key to sign with"),
            SignError::NoFrom => f.write_str("the message has no From header field"),
            SignError::HeaderTooLarge => write!(
                f,
                "the signed header fields exceed {MAX_HEADER_BYTES} bytes"
            ),
            SignError::Crypto(e) => write!(f, "DKIM signing failed: {e}"),
        }
    }
}

impl std::error::Error for SignError {}

/// One kept header field: its index in [`SIGNED_FIELDS`] and its bytes,
/// folding line ends written as CRLF, without the final line end.
#[derive(Debug)]
struct Field {
    name: usize,
    raw: Vec<u8>,
}

/// Splits the header block into fields, keeping the signed ones.
///
/// Line ends are CRLF or a bare LF; a field continues on lines that begin
/// with a space or a tab (RFC 5322 §2.2.3); an empty line ends the header.
#[derive(Debug, Default)]
struct HeaderReader {
    fields: Vec<Field>,
    kept: usize,
    /// The field being read.
    current: Vec<u8>,
    /// The field being read is too long and not signed: dropped.
    skipping: bool,
    /// At the start of a line.
    line_start: bool,
    /// The last byte was a CR.
    pending_cr: bool,
    done: bool,
    error: Option<SignError>,
}

impl HeaderReader {
    fn new() -> HeaderReader {
        HeaderReader {
            line_start: true,
            ..HeaderReader::default()
        }
    }

    /// Reads header bytes; returns how many were part of the header (the
    /// rest is body) once the empty line is seen, else the whole length.
    fn update(&mut self, chunk: &[u8]) -> usize {
        for (i, &b) in chunk.iter().enumerate() {
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    if self.end_line() {
                        return i + 1;
                    }
                    continue;
                }
                self.data(b'\r');
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => {
                    if self.end_line() {
                        return i + 1;
                    }
                }
                _ => self.data(b),
            }
        }
        chunk.len()
    }

    /// A line ended; true if it was the empty line that ends the header.
    fn end_line(&mut self) -> bool {
        if self.line_start {
            self.end_field();
            self.done = true;
            return true;
        }
        self.line_start = true;
        false
    }

    fn data(&mut self, b: u8) {
        if self.line_start {
            self.line_start = false;
            if b == b' ' || b == b'\t' {
                // RFC 5322 §2.2.3: a continuation line.
                self.push(b"\r\n");
            } else {
                self.end_field();
            }
        }
        self.push(&[b]);
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.skipping {
            return;
        }
        if self.current.len() + bytes.len() > MAX_HEADER_BYTES {
            if field_index(&self.current).is_some() {
                self.error.get_or_insert(SignError::HeaderTooLarge);
            }
            self.skipping = true;
            self.current = Vec::new();
            return;
        }
        self.current.extend_from_slice(bytes);
    }

    fn end_field(&mut self) {
        let raw = std::mem::take(&mut self.current);
        self.skipping = false;
        let Some(name) = field_index(&raw) else {
            return;
        };
        self.kept += raw.len();
        if self.kept > MAX_HEADER_BYTES {
            self.error.get_or_insert(SignError::HeaderTooLarge);
            return;
        }
        self.fields.push(Field { name, raw });
    }
}

/// The index in [`SIGNED_FIELDS`] of a field's name, if it is signed.
fn field_index(raw: &[u8]) -> Option<usize> {
    let colon = raw.iter().position(|&b| b == b':')?;
    let name = raw[..colon].trim_ascii_end();
    SIGNED_FIELDS
        .iter()
        .position(|n| n.as_bytes().eq_ignore_ascii_case(name))
}

/// Signs one message with one or more keys (relaxed/relaxed, RFC 6376
/// §3.4.2 and §3.4.4).
///
/// Feed the whole message, header and body, in chunks of any size with
/// [`Signer::update`]; [`Signer::finish`] returns the fields to prepend.
///
/// ```
/// # use facteur::auth::dkim::{Signer, SigningKey};
/// let key = SigningKey::ed25519_from_seed("example.com", "sel", &[7; 32]).unwrap();
/// let mut s = Signer::new(std::slice::from_ref(&key), 1_700_000_000);
/// s.update(b"From: a@example.com\r\nSubject: hi\r\n\r\nHello\r\n");
/// let fields = s.finish().unwrap();
/// assert!(fields.starts_with("DKIM-Signature: v=1; a=ed25519-sha256;"));
/// ```
pub struct Signer<K: AsRef<[SigningKey]>> {
    keys: K,
    now: i64,
    header: HeaderReader,
    body: BodyHasher,
}

impl<K: AsRef<[SigningKey]>> Signer<K> {
    /// A signer with these keys (typically `key::load_active` of the From
    /// domain), stamping `t=` with `now` (Unix seconds).
    ///
    /// The keys may be borrowed (`&[SigningKey]`) or owned (`Vec`, `Arc<[_]>`).
    pub fn new(keys: K, now: i64) -> Signer<K> {
        Signer {
            keys,
            now,
            header: HeaderReader::new(),
            body: BodyHasher::new(Canon::Relaxed, None),
        }
    }

    /// Feeds the next bytes of the message, as they will be sent (before
    /// any dot-stuffing).
    pub fn update(&mut self, chunk: &[u8]) {
        if self.header.done {
            self.body.update(chunk);
            return;
        }
        let used = self.header.update(chunk);
        if let Some(rest) = chunk.get(used..) {
            if self.header.done {
                self.body.update(rest);
            }
        }
    }

    /// Ends the message and returns one `DKIM-Signature:` field per key,
    /// folded, each ending in CRLF, to put in front of the message.
    pub fn finish(mut self) -> Result<String, SignError> {
        if !self.header.done {
            // A message with no body: the header runs to the end.
            if self.header.pending_cr {
                self.header.pending_cr = false;
                self.header.data(b'\r');
            }
            self.header.end_field();
        }
        if let Some(e) = self.header.error.take() {
            return Err(e);
        }
        if self.keys.as_ref().is_empty() {
            return Err(SignError::NoKeys);
        }
        let fields = &self.header.fields;
        if !fields.iter().any(|f| f.name == 0) {
            return Err(SignError::NoFrom);
        }
        let body = self.body.finish();
        let bh = base64::encode(body.digest.as_ref());
        // h=: each signed field present, once more than it occurs.
        let mut names = Vec::new();
        for (i, name) in SIGNED_FIELDS.iter().enumerate() {
            let n = fields.iter().filter(|f| f.name == i).count();
            if n > 0 {
                names.extend(std::iter::repeat_n(*name, n + 1));
            }
        }
        let raw: Vec<&[u8]> = fields.iter().map(|f| &f.raw[..]).collect();
        let mut out = String::new();
        for key in self.keys.as_ref() {
            let tags = vec![
                "v=1".to_string(),
                format!("a={}", key.algorithm().tag()),
                "c=relaxed/relaxed".to_string(),
                format!("d={}", key.domain()),
                format!("s={}", key.selector()),
                format!("t={}", self.now),
                format!("bh={bh}"),
            ];
            let unsigned = unsigned_field(&tags, &names);
            let data = signed_data(Canon::Relaxed, &raw, &names, unsigned.as_bytes());
            let sig = key.sign(&data).map_err(SignError::Crypto)?;
            out.push_str(&unsigned);
            fold_base64(&base64::encode(&sig), &mut out);
            out.push_str("\r\n");
        }
        Ok(out)
    }
}

/// The DKIM-Signature field up to its empty `b=`, folded: tags separated
/// by `; `, a line break (CRLF and a space) before a tag that would pass
/// [`FOLD_AT`], `h=` broken after colons, and `b=` on a line of its own.
fn unsigned_field(tags: &[String], h: &[&str]) -> String {
    let mut out = String::from("DKIM-Signature:");
    let mut line = out.len();
    let put = |out: &mut String, line: &mut usize, word: &str| {
        if *line + 1 + word.len() > FOLD_AT {
            out.push_str("\r\n");
            *line = 0;
        }
        out.push(' ');
        out.push_str(word);
        *line += 1 + word.len();
    };
    for t in tags {
        put(&mut out, &mut line, &format!("{t};"));
    }
    // h= in pieces that each end with a colon, or the final semicolon.
    let mut pieces: Vec<String> = h.iter().map(|n| format!("{n}:")).collect();
    if let Some(last) = pieces.last_mut() {
        last.pop();
        last.push(';');
    }
    let mut first = true;
    for p in pieces {
        let piece = if first { format!("h={p}") } else { p };
        if first {
            put(&mut out, &mut line, &piece);
            first = false;
        } else if line + piece.len() > FOLD_AT {
            out.push_str("\r\n ");
            out.push_str(&piece);
            line = 1 + piece.len();
        } else {
            out.push_str(&piece);
            line += piece.len();
        }
    }
    out.push_str("\r\n b=");
    out
}

/// Appends a base64 signature, continuing on new lines (CRLF, space) as
/// needed; the `b=` line is " b=" so far.
fn fold_base64(b64: &str, out: &mut String) {
    let mut line = 3;
    for chunk in b64.as_bytes().chunks(FOLD_AT - 1) {
        let room = FOLD_AT - line;
        let (head, tail) = chunk.split_at(chunk.len().min(room));
        out.push_str(&String::from_utf8_lossy(head));
        line += head.len();
        if !tail.is_empty() {
            out.push_str("\r\n ");
            out.push_str(&String::from_utf8_lossy(tail));
            line = 1 + tail.len();
        }
    }
}

/// The data a signature covers (RFC 6376 §3.7, §5.4.2): the fields named
/// in `h`, each name taking the last instance not yet used (bottom up; a
/// name with no instance left adds nothing), canonicalised, then the
/// DKIM-Signature field with an empty `b=`, canonicalised, without its
/// final CRLF.
///
/// `fields` holds whole header fields in message order (without their
/// final line end); `sig_field` is the whole DKIM-Signature field, name
/// included, with the value of `b=` removed. The verifier builds the same.
pub fn signed_data(canon: Canon, fields: &[&[u8]], h: &[&str], sig_field: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut used = vec![false; fields.len()];
    for name in h {
        let pick = fields
            .iter()
            .enumerate()
            .rev()
            .find(|(i, f)| !used.get(*i).copied().unwrap_or(true) && field_name_is(f, name));
        if let Some((i, f)) = pick {
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
            canon::header(canon, f, &mut out);
        }
    }
    canon::header(canon, sig_field, &mut out);
    out.truncate(out.len().saturating_sub(2));
    out
}

fn field_name_is(field: &[u8], name: &str) -> bool {
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return false;
    };
    field[..colon]
        .trim_ascii_end()
        .eq_ignore_ascii_case(name.trim().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::dkim::canon::BodyHasher;
    use ring::signature::{
        UnparsedPublicKey, ED25519, RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
    };

    // RFC 8463 Appendix A: the Ed25519 key (the RFC 8032 §7.1 test 1 seed),
    // the RSA public key, and the signed example message.
    const RFC8463_SEED: &str = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
    const RFC8463_ED25519_PUBLIC: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    const RFC8463_RSA_PUBLIC: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";
    const RFC8463_ED25519_SIG: &str = "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n d=football.example.com; i=@football.example.com;\r\n q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n subject : date : message-id : from : subject : date;\r\n bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";
    const RFC8463_RSA_SIG: &str = "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n d=football.example.com; i=@football.example.com;\r\n q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n date : message-id : from : subject : date;\r\n bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=";
    const RFC_FIELDS: [&str; 5] = [
        "From: Joe SixPack <joe@football.example.com>",
        "To: Suzie Q <suzie@shopping.example.net>",
        "Subject: Is dinner ready?",
        "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)",
        "Message-ID: <20030712040037.46341.5F8J@football.example.com>",
    ];
    const RFC_BODY: &str = "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n";
    const RFC_H: [&str; 8] = [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "from",
        "subject",
        "date",
    ];

    fn rfc_fields() -> Vec<&'static [u8]> {
        RFC_FIELDS.iter().map(|f| f.as_bytes()).collect()
    }

    /// A signature field split into (field with b= emptied, b= bytes).
    fn split_b(field: &str) -> (String, Vec<u8>) {
        let at = field.find(" b=").unwrap() + 3;
        let b64: String = field[at..].chars().filter(|c| !c.is_whitespace()).collect();
        (
            field[..at].to_string(),
            base64::decode(b64.as_bytes()).unwrap(),
        )
    }

    #[test]
    fn rfc8463_ed25519_signature_is_reproduced() {
        let key = SigningKey::ed25519_from_seed(
            "football.example.com",
            "brisbane",
            &base64::decode(RFC8463_SEED.as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(base64::encode(&key.public_key()), RFC8463_ED25519_PUBLIC);
        let (unsigned, want) = split_b(RFC8463_ED25519_SIG);
        let data = signed_data(Canon::Relaxed, &rfc_fields(), &RFC_H, unsigned.as_bytes());
        // Ed25519 is deterministic: our signature is the RFC's, byte for byte.
        assert_eq!(key.sign(&data).unwrap(), want);
        let mut bh = BodyHasher::new(Canon::Relaxed, None);
        bh.update(RFC_BODY.as_bytes());
        assert_eq!(
            base64::encode(bh.finish().digest.as_ref()),
            "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="
        );
    }

    #[test]
    fn rfc8463_rsa_signature_verifies() {
        // The RFC's RSA key is 1024 bits, which ring does not sign with; its
        // signature checks our header canonicalisation all the same.
        let spki = base64::decode(RFC8463_RSA_PUBLIC.as_bytes()).unwrap();
        // SubjectPublicKeyInfo -> RSAPublicKey: skip the 22-byte prefix
        // (SEQUENCE, AlgorithmIdentifier, BIT STRING header).
        let pkcs1 = &spki[22..];
        let (unsigned, sig) = split_b(RFC8463_RSA_SIG);
        let data = signed_data(Canon::Relaxed, &rfc_fields(), &RFC_H, unsigned.as_bytes());
        let pk = UnparsedPublicKey::new(&RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, pkcs1);
        pk.verify(&data, &sig).unwrap();
        let mut bad = data.clone();
        bad[3] ^= 1;
        assert!(pk.verify(&bad, &sig).is_err());
    }

    fn ed_key(domain: &str, selector: &str) -> SigningKey {
        SigningKey::ed25519_from_seed(domain, selector, &[42; 32]).unwrap()
    }

    /// Signs `msg` fed in chunks of `chunk` bytes.
    fn sign(keys: &[SigningKey], msg: &[u8], chunk: usize) -> Result<String, SignError> {
        let mut s = Signer::new(keys, 1_700_000_000);
        for c in msg.chunks(chunk.max(1)) {
            s.update(c);
        }
        s.finish()
    }

    /// Checks an Ed25519 signature field against the message, as a
    /// verifier would: rebuild the signed data from the field's h= and
    /// verify b=; and check bh=.
    fn check(field: &str, key: &SigningKey, fields: &[&[u8]], body: &[u8]) {
        let (unsigned, sig) = split_b(field);
        let unfolded = unsigned.replace("\r\n", "");
        let tag = |name: &str| -> String {
            unfolded
                .split(';')
                .map(str::trim)
                .find_map(|t| t.strip_prefix(&format!("{name}=")))
                .unwrap()
                .to_string()
        };
        let h = tag("h");
        let h: Vec<&str> = h.split(':').collect();
        let data = signed_data(Canon::Relaxed, fields, &h, unsigned.as_bytes());
        let hash = ring::digest::digest(&ring::digest::SHA256, &data);
        UnparsedPublicKey::new(&ED25519, key.public_key())
            .verify(hash.as_ref(), &sig)
            .unwrap();
        let mut bh = BodyHasher::new(Canon::Relaxed, None);
        bh.update(body);
        assert_eq!(tag("bh"), base64::encode(bh.finish().digest.as_ref()));
        assert_eq!(tag("d"), key.domain());
        assert_eq!(tag("s"), key.selector());
        assert_eq!(tag("t"), "1700000000");
        assert_eq!(tag("c"), "relaxed/relaxed");
    }

    const MSG: &[u8] = b"Received: from x by y\r\nFrom: Alice <alice@example.com>\r\n\
To: bob@example.org,\r\n  carol@example.org\r\nSubject: Lunch\r\nX-Mailer: test\r\n\
Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\nHello  Bob,\r\n\r\nsee you.\r\n\r\n";

    #[test]
    fn signature_structure_and_oversigning() {
        let key = ed_key("example.com", "sel");
        let out = sign(std::slice::from_ref(&key), MSG, MSG.len()).unwrap();
        assert!(out.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;"));
        assert!(out.ends_with("\r\n"));
        assert_eq!(out.matches("DKIM-Signature:").count(), 1);
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= FOLD_AT, "{line:?}");
        }
        // Every line after the first is a continuation line.
        assert!(out
            .trim_end()
            .split("\r\n")
            .skip(1)
            .all(|l| l.starts_with(' ')));
        let unfolded = out.replace("\r\n ", "").replace("\r\n", "");
        assert!(
            unfolded.contains(" h=from:from:subject:subject:date:date:to:to;"),
            "{unfolded}"
        );
        assert!(!unfolded.contains("received") && !unfolded.contains("x-mailer"));
        let fields: Vec<&[u8]> = vec![
            b"From: Alice <alice@example.com>",
            b"To: bob@example.org,\r\n  carol@example.org",
            b"Subject: Lunch",
            b"Date: Sat, 28 Nov 2026 12:00:00 +0000",
        ];
        check(&out, &key, &fields, b"Hello  Bob,\r\n\r\nsee you.\r\n");
    }

    #[test]
    fn split_at_every_byte_gives_the_same_fields() {
        let keys = [ed_key("example.com", "a")];
        let whole = sign(&keys, MSG, MSG.len()).unwrap();
        for cut in 0..=MSG.len() {
            let mut s = Signer::new(&keys, 1_700_000_000);
            s.update(&MSG[..cut]);
            s.update(&MSG[cut..]);
            assert_eq!(s.finish().unwrap(), whole, "cut at {cut}");
        }
        assert_eq!(sign(&keys, MSG, 1).unwrap(), whole);
        // Bare LF line ends sign as CRLF ones do.
        let lf: Vec<u8> = String::from_utf8_lossy(MSG)
            .replace("\r\n", "\n")
            .into_bytes();
        assert_eq!(sign(&keys, &lf, 3).unwrap(), whole);
    }

    #[test]
    fn several_keys_sign_at_once() {
        let a = ed_key("example.com", "one");
        let b = SigningKey::ed25519_from_seed("example.com", "two", &[9; 32]).unwrap();
        let keys = [a, b];
        let out = sign(&keys, MSG, 7).unwrap();
        assert_eq!(out.matches("DKIM-Signature:").count(), 2);
        let second = out.rfind("DKIM-Signature:").unwrap();
        let fields: Vec<&[u8]> = vec![
            b"From: Alice <alice@example.com>",
            b"To: bob@example.org,\r\n  carol@example.org",
            b"Subject: Lunch",
            b"Date: Sat, 28 Nov 2026 12:00:00 +0000",
        ];
        let body = b"Hello  Bob,\r\n\r\nsee you.\r\n";
        check(&out[..second], &keys[0], &fields, body);
        check(&out[second..], &keys[1], &fields, body);
    }

    #[test]
    fn refusals() {
        let keys = [ed_key("example.com", "a")];
        assert_eq!(
            sign(&keys, b"Subject: x\r\n\r\nbody", 5),
            Err(SignError::NoFrom)
        );
        assert_eq!(sign(&[], MSG, 5), Err(SignError::NoKeys));
        // A huge signed field is refused; a huge unsigned one is skipped.
        let mut big = b"From: a@example.com\r\nSubject: ".to_vec();
        big.extend(std::iter::repeat_n(b'x', MAX_HEADER_BYTES + 10));
        big.extend(b"\r\n\r\nbody\r\n");
        assert_eq!(sign(&keys, &big, 4096), Err(SignError::HeaderTooLarge));
        let mut skipped = b"From: a@example.com\r\nX-Junk: ".to_vec();
        skipped.extend(std::iter::repeat_n(b'x', 3 * MAX_HEADER_BYTES));
        skipped.extend(b"\r\nSubject: s\r\n\r\nbody\r\n");
        let out = sign(&keys, &skipped, 4096).unwrap();
        check(
            &out,
            &keys[0],
            &[b"From: a@example.com", b"Subject: s"],
            b"body\r\n",
        );
        // Many small signed fields add up to the limit too.
        let mut many = b"From: a@example.com\r\n".to_vec();
        for _ in 0..(MAX_HEADER_BYTES / 8) {
            many.extend(b"To: b@c.d\r\n");
        }
        many.extend(b"\r\n");
        assert_eq!(sign(&keys, &many, 4096), Err(SignError::HeaderTooLarge));
    }

    #[test]
    fn header_only_message() {
        let keys = [ed_key("example.com", "a")];
        let out = sign(&keys, b"From: a@example.com\r\nSubject: s", 2).unwrap();
        check(
            &out,
            &keys[0],
            &[b"From: a@example.com", b"Subject: s"],
            b"",
        );
    }

    #[test]
    fn long_h_list_folds_after_colons() {
        let tags = vec!["v=1;".to_string()];
        let names = ["content-transfer-encoding"; 8];
        let f = unsigned_field(&tags, &names);
        for line in f.split("\r\n") {
            assert!(line.len() <= FOLD_AT, "{line:?}");
        }
        let unfolded = f.replace("\r\n ", "").replace("\r\n", "");
        assert!(
            unfolded.contains(&format!("h={};", names.join(":"))),
            "{unfolded}"
        );
        assert!(f.ends_with("\r\n b="));
    }
}
