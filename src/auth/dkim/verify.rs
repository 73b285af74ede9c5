//! The DKIM verifier (RFC 6376 §6, RFC 8463, RFC 8301): fed a received
//! message as a stream, it checks its DKIM-Signature fields against the key
//! records published in DNS.
//!
//! Memory: the header fields are kept, at most [`MAX_HEADER_BYTES`] of them
//! (fields past that are dropped, and a signature that names a dropped
//! field's name in `h=` is not checked); at most [`MAX_SIGNATURES`]
//! signatures are checked, and the body is canonicalised and hashed as it
//! streams, by one `canon::BodyHasher` per distinct (canonicalisation,
//! `l=`) pair, so at most [`MAX_SIGNATURES`] hashers.
//!
//! ```
//! # use facteur::auth::dkim::{Signer, SigningKey, verify::{Verifier, DkimResult}};
//! # use facteur::dns::{RecordData, StaticResolver};
//! let key = SigningKey::ed25519_from_seed("example.com", "sel", &[7; 32]).unwrap();
//! let msg = b"From: a@example.com\r\nSubject: hi\r\n\r\nHello\r\n";
//! let mut s = Signer::new(std::slice::from_ref(&key), 1_700_000_000);
//! s.update(msg);
//! let signed = [s.finish().unwrap().as_bytes(), &msg[..]].concat();
//! let mut dns = StaticResolver::new();
//! dns.add(&key.record_name(), RecordData::Txt(vec![key.record().into_bytes()]));
//! let mut v = Verifier::new(1_700_000_100);
//! v.update(&signed);
//! let outcome = smol::block_on(v.finish(&dns));
//! assert_eq!(outcome.signatures[0].result, DkimResult::Pass);
//! ```

use super::canon::{BodyHash, BodyHasher, Canon};
use super::sign::signed_data;
use crate::dns::{DnsError, Resolver};
use crate::proto::base64;
use ring::signature::{
    UnparsedPublicKey, VerificationAlgorithm, ED25519,
    RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA256,
};
use std::fmt;

/// Most signatures checked per message (the topmost ones); later ones are
/// logged and counted as skipped. Each costs a DNS lookup and at most one
/// body hasher (about 300 bytes), so this bounds the work a message can ask.
pub const MAX_SIGNATURES: usize = 5;

/// Most bytes of header fields kept for verification (64 KiB, as the
/// signer: far above any real header; the field being read is bounded by
/// the same figure).
pub const MAX_HEADER_BYTES: usize = super::sign::MAX_HEADER_BYTES;

/// Names of dropped fields remembered (each a short string); past that,
/// every signature is taken as needing a dropped field.
const MAX_DROPPED_NAMES: usize = 32;

/// Smallest and largest RSA keys accepted (RFC 8301 §3.2: verifiers must
/// accept 1024 to 4096 bits and must not accept less than 1024).
const RSA_MIN_BITS: usize = 1024;
const RSA_MAX_BITS: usize = 4096;

/// The result of one signature (RFC 8601 §2.7.1, RFC 6376 §3.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimResult {
    /// The message had no signature.
    None,
    /// The signature verified.
    Pass,
    /// The signature or the body hash did not verify.
    Fail,
    /// The signature could not be processed (here: it needs header fields
    /// dropped for exceeding [`MAX_HEADER_BYTES`]).
    Neutral,
    /// The signature verified or not, but is not acceptable locally (an
    /// RSA key outside 1024–4096 bits).
    Policy,
    /// The key could not be fetched now; trying later may work.
    TempError,
    /// The signature or its key record is unusable: syntax, a missing
    /// required tag, an expired signature, a revoked or missing key, an
    /// algorithm not accepted (rsa-sha1, RFC 8301 §3.1).
    PermError,
}

impl DkimResult {
    /// The RFC 8601 word (`"permerror"`).
    pub fn as_str(self) -> &'static str {
        match self {
            DkimResult::None => "none",
            DkimResult::Pass => "pass",
            DkimResult::Fail => "fail",
            DkimResult::Neutral => "neutral",
            DkimResult::Policy => "policy",
            DkimResult::TempError => "temperror",
            DkimResult::PermError => "permerror",
        }
    }
}

impl fmt::Display for DkimResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict on one DKIM-Signature field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureResult {
    /// The result.
    pub result: DkimResult,
    /// Why, in a few words (`"body hash mismatch"`, `"key revoked"`).
    pub reason: String,
    /// `d=`, lower-cased (empty when missing).
    pub domain: String,
    /// `s=` (empty when missing).
    pub selector: String,
    /// `i=`, or `@` and `d=` when absent (RFC 6376 §3.5).
    pub identity: String,
    /// `a=` as written (empty when missing).
    pub algorithm: String,
    /// The first 8 characters of `b=`, for `header.b` (RFC 6008).
    pub b_prefix: String,
    /// The signature has an `l=` tag: content may have been appended to
    /// the body after signing (RFC 6376 §8.2).
    pub uses_l: bool,
    /// Canonical body bytes not covered by the signature (past `l=`).
    pub unsigned_body_bytes: u64,
    /// The key record says the domain is testing DKIM (`t=y`, §3.6.1):
    /// verifiers must not treat the message differently from unsigned mail.
    pub testing: bool,
}

impl SignatureResult {
    /// The `dkim=` fragment of an Authentication-Results field (RFC 8601
    /// §2.7.1, RFC 6008): `dkim=pass (reason) header.d=... header.i=...
    /// header.s=... header.b=...`.
    pub fn auth_results(&self) -> String {
        let mut out = format!("dkim={}", self.result);
        if !self.reason.is_empty() {
            out.push_str(&format!(" ({})", comment(&self.reason)));
        }
        for (name, value) in [
            ("header.d", &self.domain),
            ("header.i", &self.identity),
            ("header.s", &self.selector),
            ("header.b", &self.b_prefix),
        ] {
            if !value.is_empty() {
                out.push_str(&format!(" {name}={}", ar_value(value)));
            }
        }
        out
    }

    fn error(result: DkimResult, reason: &str, sig: &Signature) -> SignatureResult {
        SignatureResult {
            result,
            reason: reason.to_string(),
            domain: sig.domain.clone(),
            selector: sig.selector.clone(),
            identity: sig.identity.clone(),
            algorithm: sig.algorithm.clone(),
            b_prefix: sig.b_prefix.clone(),
            uses_l: sig.length.is_some(),
            unsigned_body_bytes: 0,
            testing: false,
        }
    }
}

/// Everything the verifier found in one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DkimOutcome {
    /// One verdict per checked signature, in header order (topmost first).
    /// Empty when the message has no signature: the result is then `none`.
    pub signatures: Vec<SignatureResult>,
    /// Signatures present but not checked (past [`MAX_SIGNATURES`], or too
    /// large to keep).
    pub skipped: usize,
}

impl DkimOutcome {
    /// The Authentication-Results fragments, one per signature, or
    /// `["dkim=none"]` for a message without signatures.
    pub fn auth_results(&self) -> Vec<String> {
        if self.signatures.is_empty() {
            return vec!["dkim=none".to_string()];
        }
        self.signatures
            .iter()
            .map(SignatureResult::auth_results)
            .collect()
    }

    /// The `d=` domains of the passing signatures (DMARC's DKIM input).
    pub fn passing_domains(&self) -> Vec<&str> {
        self.signatures
            .iter()
            .filter(|s| s.result == DkimResult::Pass)
            .map(|s| s.domain.as_str())
            .collect()
    }
}

/// Verifies the DKIM signatures of one message.
///
/// Feed the whole message as received, header and body, CRLF or bare LF
/// line ends, in chunks of any size with [`Verifier::update`]; then
/// [`Verifier::finish`] looks up the keys and returns the verdicts.
pub struct Verifier {
    now: i64,
    header: HeaderReader,
    /// Set when the header has ended: the parsed signatures.
    sigs: Vec<Parsed>,
    /// One hasher per distinct (canonicalisation, l=) pair.
    hashers: Vec<(Canon, Option<u64>, BodyHasher)>,
}

impl Verifier {
    /// A verifier checking expiry (`x=`) against `now` (Unix seconds).
    pub fn new(now: i64) -> Verifier {
        Verifier {
            now,
            header: HeaderReader::new(),
            sigs: Vec::new(),
            hashers: Vec::new(),
        }
    }

    /// Feeds the next bytes of the message.
    pub fn update(&mut self, chunk: &[u8]) {
        if self.header.done {
            self.update_body(chunk);
            return;
        }
        let used = self.header.update(chunk);
        if self.header.done {
            self.start_body();
            if let Some(rest) = chunk.get(used..) {
                self.update_body(rest);
            }
        }
    }

    /// Ends the message, fetches the keys with `resolver` and checks every
    /// signature (at most [`MAX_SIGNATURES`]).
    pub async fn finish<R: Resolver + ?Sized>(mut self, resolver: &R) -> DkimOutcome {
        if !self.header.done {
            // A message without a body: the header runs to the end.
            self.header.finish();
            self.start_body();
        }
        let bodies: Vec<(Canon, Option<u64>, BodyHash)> = self
            .hashers
            .into_iter()
            .map(|(c, l, h)| (c, l, h.finish()))
            .collect();
        let fields: Vec<&[u8]> = self.header.fields.iter().map(|f| &f[..]).collect();
        let mut signatures = Vec::with_capacity(self.sigs.len());
        for parsed in &self.sigs {
            let r = match parsed {
                Parsed::Bad(r) => r.clone(),
                Parsed::Good(sig) => {
                    let body = bodies
                        .iter()
                        .find(|(c, l, _)| *c == sig.body_canon && *l == sig.length)
                        .map(|(_, _, b)| b);
                    check(sig, body, &fields, &self.header, resolver).await
                }
            };
            log::debug!(
                "dkim: d={} s={} {} ({})",
                r.domain,
                r.selector,
                r.result,
                r.reason
            );
            signatures.push(r);
        }
        DkimOutcome {
            signatures,
            skipped: self.header.skipped_sigs,
        }
    }

    fn start_body(&mut self) {
        let mut sigs = Vec::new();
        for &i in &self.header.sig_fields {
            let Some(raw) = self.header.fields.get(i) else {
                continue;
            };
            sigs.push(parse_signature(raw, self.now));
        }
        for s in &sigs {
            if let Parsed::Good(sig) = s {
                let key = (sig.body_canon, sig.length);
                if !self.hashers.iter().any(|(c, l, _)| (*c, *l) == key) {
                    self.hashers
                        .push((key.0, key.1, BodyHasher::new(key.0, key.1)));
                }
            }
        }
        self.sigs = sigs;
    }

    fn update_body(&mut self, chunk: &[u8]) {
        for (_, _, h) in &mut self.hashers {
            h.update(chunk);
        }
    }
}

/// Splits the header into fields, keeping them all up to
/// [`MAX_HEADER_BYTES`], and notes which are DKIM-Signature fields.
///
/// Line ends are CRLF or a bare LF; a field continues on lines that begin
/// with a space or a tab (RFC 5322 §2.2.3); an empty line ends the header.
#[derive(Debug, Default)]
struct HeaderReader {
    /// Kept fields, folding line ends as CRLF, without the final line end.
    fields: Vec<Vec<u8>>,
    kept: usize,
    /// Indexes in `fields` of the DKIM-Signature fields to check.
    sig_fields: Vec<usize>,
    /// DKIM-Signature fields seen but not checked.
    skipped_sigs: usize,
    /// Lower-cased names of dropped fields.
    dropped: Vec<String>,
    /// More fields were dropped than `dropped` remembers.
    dropped_many: bool,
    current: Vec<u8>,
    /// The field being read is too long: dropped.
    skipping: bool,
    /// Name of the field being skipped.
    skipping_name: Option<String>,
    line_start: bool,
    pending_cr: bool,
    done: bool,
}

impl HeaderReader {
    fn new() -> HeaderReader {
        HeaderReader {
            line_start: true,
            ..HeaderReader::default()
        }
    }

    /// Reads header bytes; returns how many were part of the header.
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

    /// The message ended inside the header.
    fn finish(&mut self) {
        if self.pending_cr {
            self.pending_cr = false;
            self.data(b'\r');
        }
        self.end_field();
        self.done = true;
    }

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
            self.skipping = true;
            self.skipping_name = Some(field_name(&self.current));
            self.current = Vec::new();
            return;
        }
        self.current.extend_from_slice(bytes);
    }

    fn end_field(&mut self) {
        let raw = std::mem::take(&mut self.current);
        if self.skipping {
            self.skipping = false;
            let name = self.skipping_name.take().unwrap_or_default();
            self.drop_field(name);
            return;
        }
        if raw.is_empty() {
            return;
        }
        let name = field_name(&raw);
        if self.kept + raw.len() > MAX_HEADER_BYTES {
            self.drop_field(name);
            return;
        }
        if name == "dkim-signature" {
            if self.sig_fields.len() >= MAX_SIGNATURES {
                // RFC 6376 §6.1: verifiers may limit how many signatures
                // they check.
                // Logged once per message: a flood of signatures must not
                // flood the log too.
                if self.skipped_sigs == 0 {
                    log::info!("dkim: more than {MAX_SIGNATURES} signatures, the others skipped");
                }
                self.skipped_sigs += 1;
            } else {
                self.sig_fields.push(self.fields.len());
            }
        }
        self.kept += raw.len();
        self.fields.push(raw);
    }

    fn drop_field(&mut self, name: String) {
        if name == "dkim-signature" {
            if self.skipped_sigs == 0 {
                log::info!("dkim: a signature field too large to keep was skipped");
            }
            self.skipped_sigs += 1;
        }
        if self.dropped.contains(&name) {
            return;
        }
        if self.dropped.len() >= MAX_DROPPED_NAMES {
            self.dropped_many = true;
        } else {
            self.dropped.push(name);
        }
    }

    /// Whether a field named `name` (lower-case) may have been dropped.
    fn was_dropped(&self, name: &str) -> bool {
        self.dropped_many || self.dropped.iter().any(|d| d == name)
    }
}

/// The lower-cased name of a field (what comes before the colon).
fn field_name(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == b':').unwrap_or(raw.len());
    String::from_utf8_lossy(raw.get(..end).unwrap_or_default().trim_ascii()).to_ascii_lowercase()
}

/// A signature as read from its field: good enough to check, or already
/// judged.
#[derive(Debug)]
enum Parsed {
    Good(Box<Signature>),
    Bad(SignatureResult),
}

/// The accepted signing algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigAlg {
    RsaSha256,
    Ed25519Sha256,
}

/// The tags of one DKIM-Signature field (RFC 6376 §3.5).
#[derive(Debug)]
struct Signature {
    /// The whole field with the value of `b=` removed (§3.7).
    unsigned: Vec<u8>,
    alg: Option<SigAlg>,
    algorithm: String,
    b: Vec<u8>,
    b_prefix: String,
    bh: Vec<u8>,
    header_canon: Option<Canon>,
    body_canon: Canon,
    domain: String,
    selector: String,
    identity: String,
    h: Vec<String>,
    length: Option<u64>,
}

impl Signature {
    fn empty() -> Signature {
        Signature {
            unsigned: Vec::new(),
            alg: None,
            algorithm: String::new(),
            b: Vec::new(),
            b_prefix: String::new(),
            bh: Vec::new(),
            header_canon: None,
            body_canon: Canon::Simple,
            domain: String::new(),
            selector: String::new(),
            identity: String::new(),
            h: Vec::new(),
            length: None,
        }
    }
}

/// Parses a tag-list (RFC 6376 §3.2): `name=value` pairs separated by
/// `;`, with folding whitespace around names, `=` and values; a trailing
/// `;` is allowed. Values keep their inner whitespace. A tag that occurs
/// twice, or a malformed name, makes the whole list invalid.
///
/// DMARC records use the same syntax (RFC 7489 §6.4).
pub fn parse_tag_list(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut tags: Vec<(String, String)> = Vec::new();
    let specs: Vec<&str> = text.split(';').collect();
    let last = specs.len().saturating_sub(1);
    for (i, spec) in specs.into_iter().enumerate() {
        let spec = spec.trim_matches(is_fws);
        if spec.is_empty() {
            if i == last {
                break;
            }
            return Err("empty tag".into());
        }
        let Some((name, value)) = spec.split_once('=') else {
            return Err(format!("tag without '=': {}", short(spec)));
        };
        let name = name.trim_matches(is_fws);
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("bad tag name: {}", short(name)));
        }
        if tags.iter().any(|(n, _)| n == name) {
            // §3.2: "the entire tag-list is invalid".
            return Err(format!("duplicate tag {name}="));
        }
        tags.push((name.to_string(), value.trim_matches(is_fws).to_string()));
    }
    Ok(tags)
}

fn is_fws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// A string cut to 40 characters, for reasons.
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Removes folding whitespace everywhere (base64 values, §3.5 b= and bh=).
fn strip_fws(s: &str) -> String {
    s.chars().filter(|&c| !is_fws(c)).collect()
}

/// The field with the value of its `b=` tag removed (RFC 6376 §3.7: the
/// value, "including all surrounding whitespace", is the empty string).
fn remove_b_value(raw: &[u8]) -> Vec<u8> {
    let Some(colon) = raw.iter().position(|&b| b == b':') else {
        return raw.to_vec();
    };
    let mut start = colon + 1;
    while start <= raw.len() {
        let end = raw
            .get(start..)
            .and_then(|r| r.iter().position(|&b| b == b';'))
            .map_or(raw.len(), |p| start + p);
        let spec = raw.get(start..end).unwrap_or_default();
        if let Some(eq) = spec.iter().position(|&b| b == b'=') {
            let name = spec.get(..eq).unwrap_or_default();
            if name.trim_ascii() == b"b" {
                let cut = start + eq + 1;
                let mut out = raw.get(..cut).unwrap_or_default().to_vec();
                out.extend_from_slice(raw.get(end..).unwrap_or_default());
                return out;
            }
        }
        start = end + 1;
    }
    raw.to_vec()
}

/// Reads one DKIM-Signature field (RFC 6376 §3.5, §6.1.1).
fn parse_signature(raw: &[u8], now: i64) -> Parsed {
    let mut sig = Signature::empty();
    let value = match raw.iter().position(|&b| b == b':') {
        Some(i) => raw.get(i + 1..).unwrap_or_default(),
        None => raw,
    };
    let text = String::from_utf8_lossy(value);
    let tags = match parse_tag_list(&text) {
        Ok(t) => t,
        Err(e) => {
            return Parsed::Bad(SignatureResult::error(
                DkimResult::PermError,
                &format!("bad tag list: {e}"),
                &sig,
            ))
        }
    };
    let get = |n: &str| tags.iter().find(|(t, _)| t == n).map(|(_, v)| v.as_str());
    // Fill in what the result reports first, so errors carry it.
    sig.domain = get("d").unwrap_or("").to_ascii_lowercase();
    sig.selector = get("s").unwrap_or("").to_string();
    sig.algorithm = get("a").unwrap_or("").to_string();
    let b64 = strip_fws(get("b").unwrap_or(""));
    sig.b_prefix = b64.chars().take(8).collect();
    sig.identity = match get("i") {
        Some(i) => i.to_string(),
        None if !sig.domain.is_empty() => format!("@{}", sig.domain),
        None => String::new(),
    };
    let bad = |why: &str, sig: &Signature| {
        Parsed::Bad(SignatureResult::error(DkimResult::PermError, why, sig))
    };
    // §6.1.1: v=, a=, b=, bh=, d=, h=, s= are required.
    for t in ["v", "a", "b", "bh", "d", "h", "s"] {
        if get(t).is_none() {
            return bad(&format!("missing tag {t}="), &sig);
        }
    }
    if get("v") != Some("1") {
        return bad("unsupported version", &sig);
    }
    if sig.domain.is_empty() || sig.domain.contains(|c: char| is_fws(c) || c == '@') {
        return bad("bad d=", &sig);
    }
    if sig.selector.is_empty() || sig.selector.contains(|c: char| is_fws(c) || c == '@') {
        return bad("bad s=", &sig);
    }
    sig.length = match get("l") {
        None => None,
        Some(l) => match l.parse::<u64>() {
            Ok(n) if l.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return bad("bad l=", &sig),
        },
    };
    sig.alg = match sig.algorithm.to_ascii_lowercase().as_str() {
        "rsa-sha256" => Some(SigAlg::RsaSha256),
        "ed25519-sha256" => Some(SigAlg::Ed25519Sha256),
        // RFC 8301 §3.1: rsa-sha1 must not be accepted.
        "rsa-sha1" => return bad("rsa-sha1 is not accepted (RFC 8301)", &sig),
        _ => return bad("unknown algorithm", &sig),
    };
    let c = get("c").unwrap_or("simple/simple");
    let (hc, bc) = c.split_once('/').unwrap_or((c, "simple"));
    match (Canon::parse(hc.trim()), Canon::parse(bc.trim())) {
        (Some(h), Some(b)) => {
            sig.header_canon = Some(h);
            sig.body_canon = b;
        }
        _ => return bad("bad c=", &sig),
    }
    sig.b = match base64::decode(b64.as_bytes()) {
        Ok(b) if !b.is_empty() => b,
        _ => return bad("bad b=", &sig),
    };
    sig.bh = match base64::decode(strip_fws(get("bh").unwrap_or("")).as_bytes()) {
        Ok(b) if !b.is_empty() => b,
        _ => return bad("bad bh=", &sig),
    };
    sig.h = get("h")
        .unwrap_or("")
        .split(':')
        .map(|n| n.trim_matches(is_fws).to_ascii_lowercase())
        .collect();
    if sig.h.iter().any(|n| n.is_empty()) {
        return bad("bad h=", &sig);
    }
    // §6.1.1: the From field must be signed.
    if !sig.h.iter().any(|n| n == "from") {
        return bad("From is not signed", &sig);
    }
    // §6.1.1: the i= domain must be d= or a subdomain of it.
    if let Some(i) = get("i") {
        let Some((_, idom)) = i.rsplit_once('@') else {
            return bad("bad i=", &sig);
        };
        if !is_same_or_sub(idom, &sig.domain) {
            return bad("i= is not within d=", &sig);
        }
    }
    if let Some(q) = get("q") {
        // §3.5: dns/txt is the only method defined.
        if !q
            .split(':')
            .any(|m| m.trim_matches(is_fws).eq_ignore_ascii_case("dns/txt"))
        {
            return bad("no supported q= method", &sig);
        }
    }
    let number = |t: &str| -> Result<Option<i64>, ()> {
        match get(t) {
            None => Ok(None),
            Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                // Values too large for i64 are far in the future.
                Ok(Some(v.parse::<i64>().unwrap_or(i64::MAX)))
            }
            Some(_) => Err(()),
        }
    };
    let (Ok(t), Ok(x)) = (number("t"), number("x")) else {
        return bad("bad t= or x=", &sig);
    };
    if let Some(x) = x {
        // §3.5: x= must be greater than t=.
        if t.is_some_and(|t| x < t) {
            return bad("x= is before t=", &sig);
        }
        // §3.5 and §6.1.1: an expired signature is a PERMFAIL.
        if x < now {
            return bad("signature expired", &sig);
        }
    }
    sig.unsigned = remove_b_value(raw);
    Parsed::Good(Box::new(sig))
}

/// `sub` equals `domain` or is a subdomain of it, ignoring case.
fn is_same_or_sub(sub: &str, domain: &str) -> bool {
    let sub = sub.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    sub == domain || sub.ends_with(&format!(".{domain}"))
}

/// A key record (RFC 6376 §3.6.1).
#[derive(Debug, PartialEq, Eq)]
struct KeyRecord {
    ed25519: bool,
    /// The decoded `p=`; empty when the key is revoked.
    public: Vec<u8>,
    testing: bool,
    strict: bool,
}

/// Reads a key record; `Err` says why it is not one.
fn parse_key_record(text: &str) -> Result<KeyRecord, String> {
    let tags = parse_tag_list(text)?;
    let get = |n: &str| tags.iter().find(|(t, _)| t == n).map(|(_, v)| v.as_str());
    if let Some(v) = get("v") {
        // §3.6.1: if present, v= must be first and "DKIM1".
        if tags.first().map(|(n, _)| n.as_str()) != Some("v") || v != "DKIM1" {
            return Err("bad v=".into());
        }
    }
    let ed25519 = match get("k").map(str::to_ascii_lowercase).as_deref() {
        None | Some("rsa") => false,
        Some("ed25519") => true,
        Some(_) => return Err("unknown k=".into()),
    };
    let Some(p) = get("p") else {
        return Err("missing p=".into());
    };
    let public = base64::decode(strip_fws(p).as_bytes()).map_err(|_| "bad p=".to_string())?;
    if let Some(h) = get("h") {
        // §3.6.1: the hash algorithms the key may be used with.
        if !h
            .split(':')
            .any(|a| a.trim_matches(is_fws).eq_ignore_ascii_case("sha256"))
        {
            return Err("key not for sha256 (h=)".into());
        }
    }
    if let Some(s) = get("s") {
        if !s
            .split(':')
            .map(|t| t.trim_matches(is_fws))
            .any(|t| t == "*" || t.eq_ignore_ascii_case("email"))
        {
            return Err("key not for email (s=)".into());
        }
    }
    let flags: Vec<&str> = get("t")
        .unwrap_or("")
        .split(':')
        .map(|f| f.trim_matches(is_fws))
        .collect();
    Ok(KeyRecord {
        ed25519,
        public,
        testing: flags.iter().any(|f| f.eq_ignore_ascii_case("y")),
        strict: flags.iter().any(|f| f.eq_ignore_ascii_case("s")),
    })
}

/// Fetches the key of a signature and checks it (RFC 6376 §6.1.2, §6.1.3).
async fn check<R: Resolver + ?Sized>(
    sig: &Signature,
    body: Option<&BodyHash>,
    fields: &[&[u8]],
    header: &HeaderReader,
    resolver: &R,
) -> SignatureResult {
    let mut r = SignatureResult::error(DkimResult::PermError, "", sig);
    let set = |mut r: SignatureResult, result: DkimResult, why: &str| {
        r.result = result;
        r.reason = why.to_string();
        r
    };
    if sig.h.iter().any(|n| header.was_dropped(n)) {
        return set(r, DkimResult::Neutral, "signed header too large to check");
    }
    let Some(body) = body else {
        return set(r, DkimResult::PermError, "internal: no body hash");
    };
    // §6.1.2: the key is a TXT record at <s>._domainkey.<d>.
    let name = format!("{}._domainkey.{}", sig.selector, sig.domain);
    let records = match resolver.txt(&name).await {
        Ok(r) => r,
        Err(DnsError::NxDomain) => return set(r, DkimResult::PermError, "no key"),
        Err(DnsError::Temporary(e)) | Err(DnsError::Malformed(e)) => {
            return set(
                r,
                DkimResult::TempError,
                &format!("key lookup: {}", short(&e)),
            )
        }
    };
    // Several records: the first that reads as a key record.
    let mut last_err = "no key".to_string();
    let mut key = None;
    for rec in &records {
        match parse_key_record(&String::from_utf8_lossy(rec)) {
            Ok(k) => {
                key = Some(k);
                break;
            }
            Err(e) => last_err = format!("bad key record: {e}"),
        }
    }
    let Some(key) = key else {
        return set(r, DkimResult::PermError, &last_err);
    };
    r.testing = key.testing;
    if key.public.is_empty() {
        // §3.6.1: an empty p= means the key was revoked.
        return set(r, DkimResult::PermError, "key revoked");
    }
    if key.ed25519 != (sig.alg == Some(SigAlg::Ed25519Sha256)) {
        return set(r, DkimResult::PermError, "key type does not match a=");
    }
    if key.strict {
        // §3.6.1 t=s: the i= domain must be d= itself.
        let idom = sig.identity.rsplit_once('@').map_or("", |(_, d)| d);
        if !idom.eq_ignore_ascii_case(&sig.domain) {
            return set(
                r,
                DkimResult::PermError,
                "key has t=s and i= is a subdomain",
            );
        }
    }
    // §6.1.3: the body hash first.
    if let Some(l) = sig.length {
        if l > body.total {
            return set(r, DkimResult::Fail, "l= is longer than the body");
        }
        r.unsigned_body_bytes = body.total - l;
    }
    if body.digest.as_ref() != sig.bh.as_slice() {
        return set(r, DkimResult::Fail, "body hash mismatch");
    }
    let Some(canon) = sig.header_canon else {
        return set(r, DkimResult::PermError, "bad c=");
    };
    let h: Vec<&str> = sig.h.iter().map(String::as_str).collect();
    let data = signed_data(canon, fields, &h, &sig.unsigned);
    let verified = if key.ed25519 {
        // RFC 8463 §3: p= is the raw 32-byte key; Ed25519 signs the
        // SHA-256 hash of the data.
        if key.public.len() != 32 {
            return set(r, DkimResult::PermError, "bad ed25519 key");
        }
        let hash = ring::digest::digest(&ring::digest::SHA256, &data);
        UnparsedPublicKey::new(&ED25519, &key.public)
            .verify(hash.as_ref(), &sig.b)
            .is_ok()
    } else {
        let Some((pkcs1, bits)) = rsa_public_key(&key.public) else {
            return set(r, DkimResult::PermError, "bad rsa key");
        };
        if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
            // RFC 8301 §3.2.
            return set(r, DkimResult::Policy, &format!("rsa key of {bits} bits"));
        }
        let alg: &dyn VerificationAlgorithm = if bits >= 2048 {
            &RSA_PKCS1_2048_8192_SHA256
        } else {
            &RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
        };
        UnparsedPublicKey::new(alg, pkcs1)
            .verify(&data, &sig.b)
            .is_ok()
    };
    if !verified {
        return set(r, DkimResult::Fail, "signature did not verify");
    }
    let why = if sig.length.is_some() {
        "good signature, l= used"
    } else {
        "good signature"
    };
    set(r, DkimResult::Pass, why)
}

/// One DER element: (tag, content, rest).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, tail) = rest.split_at_checked(n)?;
        rest = tail;
        bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b))
    };
    let (content, tail) = rest.split_at_checked(len)?;
    Some((tag, content, tail))
}

/// The RSAPublicKey (PKCS#1) in a `p=` value and its modulus size in
/// bits. `p=` is a SubjectPublicKeyInfo (RFC 6376 §3.6.1, RFC 5280
/// §4.1.2.7); a bare RSAPublicKey, which some publish, is taken too.
fn rsa_public_key(p: &[u8]) -> Option<(&[u8], usize)> {
    /// rsaEncryption, 1.2.840.113549.1.1.1 (RFC 3279 §2.3.1).
    const RSA_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let (tag, outer, _) = der(p)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, first, rest) = der(outer)?;
    let pkcs1 = match tag {
        // SubjectPublicKeyInfo: AlgorithmIdentifier, BIT STRING.
        0x30 => {
            let (t, oid, _) = der(first)?;
            if t != 0x06 || oid != RSA_OID {
                return None;
            }
            let (t, bits, _) = der(rest)?;
            let (&unused, key) = bits.split_first()?;
            if t != 0x03 || unused != 0 {
                return None;
            }
            key
        }
        // RSAPublicKey itself: INTEGER modulus, INTEGER exponent.
        0x02 => p,
        _ => return None,
    };
    let (t, seq, _) = der(pkcs1)?;
    let (ti, modulus, _) = der(seq)?;
    if t != 0x30 || ti != 0x02 {
        return None;
    }
    let significant = modulus.iter().position(|&b| b != 0)?;
    let m = modulus.get(significant..)?;
    let bits = m.len() * 8 - m.first()?.leading_zeros() as usize;
    Some((pkcs1, bits))
}

/// A comment for Authentication-Results: no parentheses or backslashes.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '(' | ')' | '\\') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// An Authentication-Results property value: a token, or a quoted string
/// when it holds characters a token cannot (RFC 8601 §2.2, RFC 2045 §5.1
/// tspecials; `@` is allowed in a mailbox-like value).
pub(crate) fn ar_value(s: &str) -> String {
    let special = |c: char| {
        c.is_ascii_control() || c == ' ' || !c.is_ascii() || "()<>,;:\\\"/[]?=".contains(c)
    };
    if !s.is_empty() && !s.chars().any(special) {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if !c.is_ascii_control() {
            out.push(c);
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::dkim::{Signer, SigningKey};
    use crate::dns::{RecordData, RecordType, StaticResolver};

    /// A 2048-bit RSA key made for these tests (PKCS#8, base64).
    const RSA_PKCS8: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCXbdYxd4E1L5qtP2TdUtkaepJzKWPowN1MBCNwZoA57//y83irkWk3aJoNU4Opvg7y4lEVeoGMWm2vqSKdU8eup1lHChA6vixg5PlOUL52H0yHA6NezcgU71N7IYxlk+dFZCHH3qs127HLj7yr6ct4nf3Dqq5UyfPboyB9emi1GXw2K9dbuJ0a9p/o89QGCgMZfwCqExT8f6gizh6fHl0wD6WaEnawshB6CnOGuUeLroL1LkQa5b/1WYZ7vAxuJ7eizTlQt2OQLSecht+FsQzcl2/SxlK63dRRAz/Ey8dXSdO4Xug2zs0QrIlSsF+Qs26LXaajDA1lo/4tjC9gNRrNAgMBAAECggEAFZ9bbGjSDFQl1AMvVeMUmRFThBou5/dSIh6dKNmaCavZckmNu4Hh8kV/adO5Ay3eWJQ0W8rIYNAwxVpzVN+3rZq7xscLFjg9ggBwENy6tYc2mDjOxSTBIywhUX2y3HZIGcJ4iF+lNuWN97EokauqoCh/KcdfaUAFECG06/Xkqacnm8IZ9Ka6Ki8YcU8Jd/RBpV2Q6XU4dwJ2wIukVbSvHX7sRnX8f03SmqcclLlfqe0LSe4zwpxd53CgckOAE3DereRY/UVWszX/maWR9g1Vtzd1AOp7uQ27UIErZlcVCCc+TESabhDxL1ZR7X0Uu0PTELD5ylhqb3lbeMQ/h9EnAQKBgQDRzpZIeXpQEYrLdOWWTfO9Y6WpK1PJ7Xb6E0RpAvCYRSNePfuaxRzcXq/bLFTRAjfkvvJT3G+O3bBSfiZWIDK8N9mHjSqKLWTBmnvnU69et25/f/UxDPMT+QF/82CCZuA6TrHNWQyufyNOkIJW7Ux9E9JlvmAAtpUGZ91E1Fi37QKBgQC4xOCFq+Um4JI4kPVFWgstNZ/U0EPrJC6oLch+zlKDef7HIWAlzTVnhg0Wolc2RNWe13xl9pDgnZUucLOTbUgITyE+7sOeAfoqKYNnDaRY1U1fDS6QKBrjaHZKJQ+ymp2eWazr9ZNOUy1jJEB3QfGhaI01wB5SnAYwH2tkjbPSYQKBgQDKfRrX+b4NltCgykJmzPcn2wtgePuWEIRamMvWmcrA+0FGTIYPepv/J7eLzX5SdlShhZR1UXOtq9Hn2+5+AvdUZoagZ6Md1u++Vq2stjy0Kk8P6NwoqfnUVeeXqLmFQWq5e4foy0ANDZFy2s+gu8etk7rlDVa0eYLcutN4AYVahQKBgFLHGVOppDsbp0aiYtAUPCef+6BLQfJpvmFoSYfOBZeTozoxULL+0as0mk6Goo3UnuPP5JKFuXh4AOrSYRFuhzP5x4o7S/ZRKnOTL6SOrw+BWG16KV86KHmzRjOHkRXSQUU9JcR8u+b+Sro89oi3SXqnrYPkM3GNJxSOLv3YojRhAoGAJOLOBEcEe1RV4zhVO4bmlcUr3AN9RZDNn+oHSqmusiHE9LPEw4E55fkyeEcn1LwCrwk8vSRJxyLcQYrQlYEGgab/zQrfA+iq1JhzppAHDvPnAALIGjPbtIeimjxQtJdhjgahHjJKx5v7gUuwprvdtwk1Od8lbB5q0YQalE1ACo4=";
    /// A 512-bit RSA public key (SubjectPublicKeyInfo), too short to accept.
    const RSA_512_SPKI: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKcD7Y3CVOs6IAQe/spvWp82H9o75fb+H/2o/BHw0BhSRuk8QA+km4+6c7P21Z7aYvVBNcF2EctRQt2NqqkxPjkCAwEAAQ==";

    // RFC 8463 Appendix A: the example message, its two signatures and the
    // published keys.
    const RFC8463_ED25519_PUBLIC: &str = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
    const RFC8463_RSA_PUBLIC: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";
    const RFC8463_MESSAGE: &str = "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n d=football.example.com; i=@football.example.com;\r\n q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n subject : date : message-id : from : subject : date;\r\n bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n\
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n d=football.example.com; i=@football.example.com;\r\n q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n date : message-id : from : subject : date;\r\n bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n\
From: Joe SixPack <joe@football.example.com>\r\n\
To: Suzie Q <suzie@shopping.example.net>\r\n\
Subject: Is dinner ready?\r\n\
Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n\
Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n\
\r\n\
Hi.\r\n\
\r\n\
We lost the game.  Are you hungry yet?\r\n\
\r\n\
Joe.\r\n";
    const RFC8463_NOW: i64 = 1_528_637_909 + 3600;

    const NOW: i64 = 1_700_000_000;

    fn rfc8463_dns() -> StaticResolver {
        let mut r = StaticResolver::new();
        r.add(
            "brisbane._domainkey.football.example.com",
            txt(&format!("v=DKIM1; k=ed25519; p={RFC8463_ED25519_PUBLIC}")),
        )
        .add(
            "test._domainkey.football.example.com",
            txt(&format!("v=DKIM1; k=rsa; p={RFC8463_RSA_PUBLIC}")),
        );
        r
    }

    fn txt(s: &str) -> RecordData {
        // Split in 255-byte strings, as published.
        RecordData::Txt(s.as_bytes().chunks(255).map(<[u8]>::to_vec).collect())
    }

    fn run(dns: &StaticResolver, chunks: &[&[u8]], now: i64) -> DkimOutcome {
        let mut v = Verifier::new(now);
        for c in chunks {
            v.update(c);
        }
        smol::block_on(v.finish(dns))
    }

    fn verify(dns: &StaticResolver, msg: &[u8], now: i64) -> DkimOutcome {
        run(dns, &[msg], now)
    }

    /// Verifies whole, split in two at every byte and byte by byte, and
    /// checks that all give the same outcome.
    fn verify_split(dns: &StaticResolver, msg: &[u8], now: i64) -> DkimOutcome {
        let whole = verify(dns, msg, now);
        for cut in 0..=msg.len() {
            let (a, b) = msg.split_at(cut);
            assert_eq!(run(dns, &[a, b], now), whole, "split at {cut}");
        }
        let bytes: Vec<&[u8]> = msg.chunks(1).collect();
        assert_eq!(run(dns, &bytes, now), whole, "byte by byte");
        whole
    }

    fn results(o: &DkimOutcome) -> Vec<DkimResult> {
        o.signatures.iter().map(|s| s.result).collect()
    }

    fn ed_key(selector: &str) -> SigningKey {
        SigningKey::ed25519_from_seed("example.com", selector, &[42; 32]).unwrap()
    }

    fn rsa_key(selector: &str) -> SigningKey {
        let der = base64::decode(RSA_PKCS8.as_bytes()).unwrap();
        SigningKey::from_pkcs8("example.com", selector, &der).unwrap()
    }

    fn dns_for(keys: &[&SigningKey]) -> StaticResolver {
        let mut r = StaticResolver::new();
        for k in keys {
            r.add(&k.record_name(), txt(&k.record()));
        }
        r
    }

    const MSG: &[u8] = b"Received: from x by y\r\nFrom: Alice <alice@example.com>\r\n\
To: bob@example.org,\r\n  carol@example.org\r\nSubject: Lunch\r\n\
Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\nHello  Bob,\r\n\r\nsee you.\r\n\r\n";

    /// `msg` signed by our signer with `keys`, the fields in front.
    fn signed(keys: &[SigningKey], msg: &[u8]) -> Vec<u8> {
        let mut s = Signer::new(keys, NOW);
        s.update(msg);
        [s.finish().unwrap().as_bytes(), msg].concat()
    }

    /// A signature built by hand: `c=` given, `extra` tags inserted, `h=`
    /// from:subject, and optionally `l=` the whole canonical body.
    fn hand_sign(
        key: &SigningKey,
        hc: Canon,
        bc: Canon,
        header: &[&str],
        body: &[u8],
        extra: &str,
        with_l: bool,
    ) -> Vec<u8> {
        let mut bh = BodyHasher::new(bc, None);
        bh.update(body);
        let hash = bh.finish();
        let l = if with_l {
            format!(" l={};", hash.total)
        } else {
            String::new()
        };
        let unsigned = format!(
            "DKIM-Signature: v=1; a={}; c={}/{};\r\n d={}; s={};{extra}{l}\r\n h=From : Subject;\r\n bh={};\r\n b=",
            key.algorithm().tag(),
            hc.name(),
            bc.name(),
            key.domain(),
            key.selector(),
            base64::encode(hash.digest.as_ref()),
        );
        let fields: Vec<&[u8]> = header.iter().map(|f| f.as_bytes()).collect();
        let data = signed_data(hc, &fields, &["from", "subject"], unsigned.as_bytes());
        let sig = key.sign(&data).unwrap();
        let mut out = unsigned.into_bytes();
        out.extend_from_slice(base64::encode(&sig).as_bytes());
        out.extend_from_slice(b"\r\n");
        for f in header {
            out.extend_from_slice(f.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out
    }

    const HEADER: [&str; 3] = [
        "From:  Alice <alice@example.com> ",
        "Subject: Hello\r\n\tthere",
        "To: bob@example.org",
    ];
    const BODY: &[u8] = b"Line one  \r\n\r\nLine\ttwo\r\n\r\n";

    #[test]
    fn rfc8463_example_both_signatures_pass() {
        let dns = rfc8463_dns();
        let o = verify_split(&dns, RFC8463_MESSAGE.as_bytes(), RFC8463_NOW);
        assert_eq!(results(&o), [DkimResult::Pass, DkimResult::Pass]);
        let ed = &o.signatures[0];
        assert_eq!(ed.domain, "football.example.com");
        assert_eq!(ed.selector, "brisbane");
        assert_eq!(ed.algorithm, "ed25519-sha256");
        assert_eq!(ed.identity, "@football.example.com");
        assert_eq!(ed.b_prefix, "/gCrinpc");
        assert!(!ed.uses_l);
        assert_eq!(
            ed.auth_results(),
            "dkim=pass (good signature) header.d=football.example.com \
             header.i=@football.example.com header.s=brisbane header.b=\"/gCrinpc\""
        );
        assert_eq!(o.signatures[1].selector, "test");
        assert_eq!(o.passing_domains(), ["football.example.com"; 2]);
        // The same message with bare LF line ends.
        let lf = RFC8463_MESSAGE.replace("\r\n", "\n");
        let o = verify(&dns, lf.as_bytes(), RFC8463_NOW);
        assert_eq!(results(&o), [DkimResult::Pass, DkimResult::Pass]);
    }

    #[test]
    fn rfc8463_example_tampered() {
        let dns = rfc8463_dns();
        let body = RFC8463_MESSAGE.replace("hungry", "angry");
        let o = verify(&dns, body.as_bytes(), RFC8463_NOW);
        assert_eq!(results(&o), [DkimResult::Fail, DkimResult::Fail]);
        assert_eq!(o.signatures[0].reason, "body hash mismatch");
        let header = RFC8463_MESSAGE.replace("dinner", "lunch");
        let o = verify(&dns, header.as_bytes(), RFC8463_NOW);
        assert_eq!(results(&o), [DkimResult::Fail, DkimResult::Fail]);
        assert_eq!(o.signatures[1].reason, "signature did not verify");
    }

    #[test]
    fn our_signer_ed25519_and_rsa() {
        let keys = [ed_key("ed"), rsa_key("rsa")];
        let dns = dns_for(&[&keys[0], &keys[1]]);
        let msg = signed(&keys, MSG);
        let o = verify_split(&dns, &msg, NOW + 10);
        assert_eq!(results(&o), [DkimResult::Pass, DkimResult::Pass]);
        assert_eq!(o.signatures[1].algorithm, "rsa-sha256");
        assert_eq!(o.skipped, 0);

        // A changed body byte, an added body line, a changed header.
        let tampered = String::from_utf8_lossy(&msg).replace("see you", "see yoU");
        let o = verify(&dns, tampered.as_bytes(), NOW);
        assert_eq!(results(&o), [DkimResult::Fail, DkimResult::Fail]);
        let mut appended = msg.clone();
        appended.extend_from_slice(b"P.S. buy now\r\n");
        let o = verify(&dns, &appended, NOW);
        assert_eq!(results(&o), [DkimResult::Fail, DkimResult::Fail]);
        let tampered = String::from_utf8_lossy(&msg).replace("Subject: Lunch", "Subject: Dinner");
        let o = verify(&dns, tampered.as_bytes(), NOW);
        assert_eq!(results(&o), [DkimResult::Fail, DkimResult::Fail]);
        assert_eq!(o.signatures[0].reason, "signature did not verify");
        // Over-signing: an added Subject breaks the signature.
        let added = String::from_utf8_lossy(&msg)
            .replace("Subject: Lunch", "Subject: Lunch\r\nSubject: Win");
        assert_eq!(
            results(&verify(&dns, added.as_bytes(), NOW)),
            [DkimResult::Fail, DkimResult::Fail]
        );
        // Unsigned fields may change, and relaxed canonicalisation
        // tolerates whitespace changes.
        let relaxed = String::from_utf8_lossy(&msg)
            .replace("Received: from x by y", "Received: from z")
            .replace("Hello  Bob,", "Hello Bob,  ")
            .replace("\r\n", "\n");
        assert_eq!(
            results(&verify(&dns, relaxed.as_bytes(), NOW)),
            [DkimResult::Pass, DkimResult::Pass]
        );
    }

    #[test]
    fn simple_simple_by_hand() {
        for key in [ed_key("ed"), rsa_key("rsa")] {
            let dns = dns_for(&[&key]);
            let msg = hand_sign(&key, Canon::Simple, Canon::Simple, &HEADER, BODY, "", false);
            let o = verify_split(&dns, &msg, NOW);
            assert_eq!(results(&o), [DkimResult::Pass], "{:?}", o);
            // Simple does not tolerate a whitespace change, in the header
            // or the body.
            let s = String::from_utf8_lossy(&msg).into_owned();
            let ws = s.replace("Alice <alice", "Alice  <alice");
            assert_eq!(
                results(&verify(&dns, ws.as_bytes(), NOW)),
                [DkimResult::Fail]
            );
            let ws = s.replace("Line\ttwo", "Line two");
            assert_eq!(
                results(&verify(&dns, ws.as_bytes(), NOW)),
                [DkimResult::Fail]
            );
            // Trailing empty lines do not count.
            let more = [&msg[..], b"\r\n\r\n"].concat();
            assert_eq!(results(&verify(&dns, &more, NOW)), [DkimResult::Pass]);
            // relaxed/simple and simple/relaxed too.
            for (hc, bc) in [
                (Canon::Relaxed, Canon::Simple),
                (Canon::Simple, Canon::Relaxed),
            ] {
                let msg = hand_sign(&key, hc, bc, &HEADER, BODY, "", false);
                assert_eq!(results(&verify(&dns, &msg, NOW)), [DkimResult::Pass]);
            }
        }
    }

    #[test]
    fn body_length_limit_is_honoured_and_flagged() {
        let key = ed_key("ed");
        let dns = dns_for(&[&key]);
        let msg = hand_sign(&key, Canon::Simple, Canon::Simple, &HEADER, BODY, "", true);
        let o = verify(&dns, &msg, NOW);
        assert_eq!(results(&o), [DkimResult::Pass]);
        assert!(o.signatures[0].uses_l);
        assert_eq!(o.signatures[0].unsigned_body_bytes, 0);
        let appended = [&msg[..], b"Click here!\r\n"].concat();
        let o = verify_split(&dns, &appended, NOW);
        assert_eq!(results(&o), [DkimResult::Pass]);
        assert!(o.signatures[0].uses_l);
        // The empty line that ended the signed body now counts too.
        assert_eq!(o.signatures[0].unsigned_body_bytes, 15);
        assert_eq!(o.signatures[0].reason, "good signature, l= used");
        // An l= longer than the body fails.
        let short = hand_sign(
            &key,
            Canon::Simple,
            Canon::Simple,
            &HEADER,
            BODY,
            " l=999;",
            false,
        );
        let o = verify(&dns, &short, NOW);
        assert_eq!(results(&o), [DkimResult::Fail]);
        assert!(o.signatures[0].uses_l);
    }

    fn one(dns: &StaticResolver, msg: &[u8]) -> SignatureResult {
        let o = verify(dns, msg, NOW);
        assert_eq!(o.signatures.len(), 1, "{o:?}");
        o.signatures.into_iter().next().unwrap()
    }

    #[test]
    fn expiry() {
        let key = ed_key("ed");
        let dns = dns_for(&[&key]);
        let sign = |extra: &str| {
            hand_sign(
                &key,
                Canon::Relaxed,
                Canon::Relaxed,
                &HEADER,
                BODY,
                extra,
                false,
            )
        };
        let ok = sign(&format!(" t={}; x={};", NOW - 10, NOW + 10));
        assert_eq!(one(&dns, &ok).result, DkimResult::Pass);
        let expired = sign(&format!(" t={}; x={};", NOW - 20, NOW - 10));
        let r = one(&dns, &expired);
        assert_eq!(
            (r.result, r.reason.as_str()),
            (DkimResult::PermError, "signature expired")
        );
        let inverted = sign(&format!(" t={}; x={};", NOW + 20, NOW + 10));
        let r = one(&dns, &inverted);
        assert_eq!(
            (r.result, r.reason.as_str()),
            (DkimResult::PermError, "x= is before t=")
        );
        let bad = sign(" x=soon;");
        assert_eq!(one(&dns, &bad).result, DkimResult::PermError);
    }

    #[test]
    fn key_record_variants() {
        let key = ed_key("ed");
        let p = base64::encode(&key.public_key());
        let msg = hand_sign(
            &key,
            Canon::Relaxed,
            Canon::Relaxed,
            &HEADER,
            BODY,
            " i=joe@sub.example.com;",
            false,
        );
        let name = key.record_name();
        let check = |record: &str| {
            let mut dns = StaticResolver::new();
            dns.add(&name, txt(record));
            one(&dns, &msg)
        };
        assert_eq!(
            check(&format!("v=DKIM1; k=ed25519; p={p}")).result,
            DkimResult::Pass
        );
        // Whitespace and folding in the record, no v=, trailing ';'.
        assert_eq!(
            check(&format!(" k = ed25519 ;\tp= {} {} ;", &p[..10], &p[10..])).result,
            DkimResult::Pass
        );
        let r = check("v=DKIM1; k=ed25519; p=");
        assert_eq!(
            (r.result, r.reason.as_str()),
            (DkimResult::PermError, "key revoked")
        );
        // t=s: i= must be in d= itself.
        let r = check(&format!("v=DKIM1; k=ed25519; t=s; p={p}"));
        assert_eq!(r.result, DkimResult::PermError);
        assert!(r.reason.contains("t=s"), "{}", r.reason);
        // t=y: testing, result unchanged but flagged.
        let r = check(&format!("v=DKIM1; k=ed25519; t=y:x; p={p}"));
        assert_eq!(r.result, DkimResult::Pass);
        assert!(r.testing);
        // h= without sha256, s= without email, v= not first, k= mismatch.
        for bad in [
            format!("v=DKIM1; k=ed25519; h=sha1; p={p}"),
            format!("v=DKIM1; k=ed25519; s=other; p={p}"),
            format!("k=ed25519; v=DKIM1; p={p}"),
            format!("v=DKIM2; k=ed25519; p={p}"),
            format!("v=DKIM1; k=dsa; p={p}"),
            "v=DKIM1; k=ed25519".to_string(),
            "v=DKIM1; k=ed25519; p=!!!".to_string(),
        ] {
            let r = check(&bad);
            assert_eq!(r.result, DkimResult::PermError, "{bad}");
            assert!(
                r.reason.starts_with("bad key record"),
                "{bad}: {}",
                r.reason
            );
        }
        assert_eq!(
            check(&format!(
                "v=DKIM1; k=ed25519; h=sha1:sha256; s=email; p={p}"
            ))
            .result,
            DkimResult::Pass
        );
        let r = check(&format!("v=DKIM1; k=rsa; p={p}"));
        assert_eq!(
            (r.result, r.reason.as_str()),
            (DkimResult::PermError, "key type does not match a=")
        );
        // A wrong Ed25519 key, and one of the wrong size.
        let other_key = SigningKey::ed25519_from_seed("example.com", "o", &[1; 32]).unwrap();
        let other2 = base64::encode(&other_key.public_key());
        assert_eq!(
            check(&format!("k=ed25519; p={other2}")).result,
            DkimResult::Fail
        );
        assert_eq!(check("k=ed25519; p=AAAA").result, DkimResult::PermError);
        // Several records: the first that reads as a key.
        let mut dns = StaticResolver::new();
        dns.add(&name, txt("hello world"))
            .add(&name, txt(&format!("v=DKIM1; k=ed25519; p={p}")));
        assert_eq!(one(&dns, &msg).result, DkimResult::Pass);
    }

    #[test]
    fn rsa_key_sizes() {
        let key = rsa_key("rsa");
        let msg = hand_sign(
            &key,
            Canon::Relaxed,
            Canon::Relaxed,
            &HEADER,
            BODY,
            "",
            false,
        );
        let mut dns = StaticResolver::new();
        dns.add(
            &key.record_name(),
            txt(&format!("v=DKIM1; p={RSA_512_SPKI}")),
        );
        let r = one(&dns, &msg);
        assert_eq!(
            (r.result, r.reason.as_str()),
            (DkimResult::Policy, "rsa key of 512 bits")
        );
        // A bare RSAPublicKey in p= is taken too.
        let spki = key.public_key();
        let (pkcs1, bits) = rsa_public_key(&spki).unwrap();
        assert_eq!(bits, 2048);
        let mut dns = StaticResolver::new();
        dns.add(
            &key.record_name(),
            txt(&format!("p={}", base64::encode(pkcs1))),
        );
        assert_eq!(one(&dns, &msg).result, DkimResult::Pass);
        let mut dns = StaticResolver::new();
        dns.add(
            &key.record_name(),
            txt("p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"),
        );
        assert_eq!(one(&dns, &msg).reason, "bad rsa key");
    }

    #[test]
    fn dns_failures() {
        let key = ed_key("ed");
        let msg = hand_sign(
            &key,
            Canon::Relaxed,
            Canon::Relaxed,
            &HEADER,
            BODY,
            "",
            false,
        );
        let r = one(&StaticResolver::new(), &msg);
        assert_eq!(
            (r.result, r.reason.as_str()),
            (DkimResult::PermError, "no key")
        );
        let mut dns = StaticResolver::new();
        dns.fail(
            &key.record_name(),
            RecordType::Txt,
            DnsError::Temporary("timeout".into()),
        );
        let r = one(&dns, &msg);
        assert_eq!(r.result, DkimResult::TempError);
        assert_eq!(r.auth_results(), "dkim=temperror (key lookup: timeout) header.d=example.com header.i=@example.com header.s=ed header.b=".to_string() + &ar_value(&r.b_prefix));
        let mut dns = StaticResolver::new();
        dns.nodata(&key.record_name());
        assert_eq!(one(&dns, &msg).reason, "no key");
    }

    /// Replaces the tag list of a valid signature field with `tags`.
    fn with_tags(tags: &str) -> SignatureResult {
        let key = ed_key("ed");
        let dns = dns_for(&[&key]);
        let msg =
            format!("DKIM-Signature: {tags}\r\nFrom: a@example.com\r\nSubject: s\r\n\r\nbody\r\n");
        one(&dns, msg.as_bytes())
    }

    #[test]
    fn missing_and_garbage_tags() {
        let all = "v=1; a=ed25519-sha256; d=example.com; s=ed; h=from; bh=AAAA; b=AAAA";
        // The tags are fine (but the signature is not).
        assert_eq!(with_tags(all).result, DkimResult::Fail);
        for tag in ["v", "a", "b", "bh", "d", "h", "s"] {
            let tags: Vec<&str> = all
                .split("; ")
                .filter(|t| !t.starts_with(&format!("{tag}=")))
                .collect();
            let r = with_tags(&tags.join("; "));
            assert_eq!(r.result, DkimResult::PermError, "{tag}");
            assert_eq!(r.reason, format!("missing tag {tag}="));
        }
        for (tags, why) in [
            ("garbage", "bad tag list"),
            ("", "missing tag v="),
            (
                "v=1; v=1; a=ed25519-sha256",
                "bad tag list: duplicate tag v=",
            ),
            ("v=1;; a=x", "bad tag list: empty tag"),
            ("1v=1", "bad tag list: bad tag name"),
            (&all.replace("v=1", "v=2"), "unsupported version"),
            (
                &all.replace("ed25519-sha256", "rsa-sha1"),
                "rsa-sha1 is not accepted (RFC 8301)",
            ),
            (
                &all.replace("ed25519-sha256", "rsa-md5"),
                "unknown algorithm",
            ),
            (&all.replace("h=from", "h=subject"), "From is not signed"),
            (&all.replace("h=from", "h=from::to"), "bad h="),
            (&format!("{all}; i=a@example.org"), "i= is not within d="),
            (&format!("{all}; i=a@notexample.com"), "i= is not within d="),
            (&format!("{all}; i=nobody"), "bad i="),
            (&format!("{all}; c=fancy/simple"), "bad c="),
            (&format!("{all}; l=12a"), "bad l="),
            (&format!("{all}; l=99999999999999999999999"), "bad l="),
            (&format!("{all}; q=http"), "no supported q= method"),
            (&all.replace("bh=AAAA", "bh=!!"), "bad bh="),
            (&all.replace("b=AAAA", "b="), "bad b="),
            (&all.replace("d=example.com", "d="), "bad d="),
        ] {
            let r = with_tags(tags);
            assert_eq!(r.result, DkimResult::PermError, "{tags}");
            assert!(r.reason.starts_with(why), "{tags}: {}", r.reason);
        }
        // What could be read is reported.
        let r = with_tags(&all.replace("h=from", "h=subject"));
        assert_eq!(
            (r.domain.as_str(), r.selector.as_str()),
            ("example.com", "ed")
        );
        // Subdomain identities are accepted.
        assert_eq!(
            with_tags(&format!("{all}; i=a@mail.EXAMPLE.com")).reason,
            "body hash mismatch"
        );
        assert_eq!(
            with_tags(&format!("{all}; q=dns/txt; c=relaxed")).reason,
            "body hash mismatch"
        );
    }

    #[test]
    fn only_the_first_signatures_are_checked() {
        let keys: Vec<SigningKey> = (0..MAX_SIGNATURES + 2)
            .map(|i| ed_key(&format!("s{i}")))
            .collect();
        let refs: Vec<&SigningKey> = keys.iter().collect();
        let dns = dns_for(&refs);
        let msg = signed(&keys, MSG);
        let o = verify(&dns, &msg, NOW);
        assert_eq!(results(&o), [DkimResult::Pass; MAX_SIGNATURES]);
        assert_eq!(o.skipped, 2);
        assert_eq!(dns.query_count(), MAX_SIGNATURES);
        let sels: Vec<&str> = o.signatures.iter().map(|s| s.selector.as_str()).collect();
        assert_eq!(sels, ["s0", "s1", "s2", "s3", "s4"]);
    }

    #[test]
    fn no_signature_is_none() {
        let o = verify(&StaticResolver::new(), MSG, NOW);
        assert!(o.signatures.is_empty());
        assert_eq!(o.auth_results(), ["dkim=none"]);
        let o = verify(&StaticResolver::new(), b"", NOW);
        assert!(o.signatures.is_empty());
    }

    #[test]
    fn header_only_message() {
        let key = ed_key("ed");
        let dns = dns_for(&[&key]);
        let msg = signed(
            std::slice::from_ref(&key),
            b"From: a@example.com\r\nSubject: s",
        );
        assert_eq!(results(&verify_split(&dns, &msg, NOW)), [DkimResult::Pass]);
    }

    #[test]
    fn oversized_header_fields() {
        let key = ed_key("ed");
        let dns = dns_for(&[&key]);
        let junk = "x".repeat(MAX_HEADER_BYTES + 10);
        // An unsigned huge field is dropped without harm.
        let mut msg = signed(std::slice::from_ref(&key), MSG);
        let at = msg.len() - MSG.len();
        msg.splice(at..at, format!("X-Junk: {junk}\r\n").into_bytes());
        let o = run(&dns, &msg.chunks(1000).collect::<Vec<_>>(), NOW);
        assert_eq!(results(&o), [DkimResult::Pass]);
        // A signature needing a dropped field is not checked.
        let big = format!("Subject: {junk}");
        let msg = hand_sign(
            &key,
            Canon::Relaxed,
            Canon::Relaxed,
            &["From: a@example.com", &big],
            BODY,
            "",
            false,
        );
        let r = one(&dns, &msg);
        assert_eq!(r.result, DkimResult::Neutral);
        // Many fields adding up past the limit.
        let mut msg = signed(std::slice::from_ref(&key), MSG);
        let filler = format!("X-Filler: {}\r\n", "y".repeat(1000)).repeat(70);
        msg.splice(at..at, filler.into_bytes());
        assert_eq!(results(&verify(&dns, &msg, NOW)), [DkimResult::Pass]);
        let mut msg = signed(std::slice::from_ref(&key), MSG);
        let filler = format!("To: {}\r\n", "y".repeat(1000)).repeat(70);
        msg.splice(at..at, filler.into_bytes());
        assert_eq!(results(&verify(&dns, &msg, NOW)), [DkimResult::Neutral]);
    }

    #[test]
    fn tag_lists() {
        let t = parse_tag_list(" a = 1 ;\r\n\tb=x y ; c=").unwrap();
        assert_eq!(
            t,
            [
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), String::new())
            ]
        );
        assert_eq!(parse_tag_list("a=1;").unwrap().len(), 1);
        assert!(parse_tag_list("").unwrap().is_empty());
        assert!(parse_tag_list("a=1;;").is_err());
        assert!(parse_tag_list("a=1; a=2").is_err());
        assert!(parse_tag_list("a b=1").is_err());
        assert!(parse_tag_list("_a=1").is_err());
        assert!(parse_tag_list("a_1=1").is_ok());
    }

    #[test]
    fn b_value_removal() {
        assert_eq!(
            remove_b_value(b"DKIM-Signature: v=1; bh=abc; b = ab\r\n cd ; d=x"),
            b"DKIM-Signature: v=1; bh=abc; b =; d=x"
        );
        assert_eq!(
            remove_b_value(b"DKIM-Signature: b=abc"),
            b"DKIM-Signature: b="
        );
        assert_eq!(
            remove_b_value(b"DKIM-Signature: bh=1"),
            b"DKIM-Signature: bh=1"
        );
    }

    #[test]
    fn ar_values() {
        assert_eq!(ar_value("example.com"), "example.com");
        assert_eq!(ar_value("@example.com"), "@example.com");
        assert_eq!(ar_value("ab/c+d="), "\"ab/c+d=\"");
        assert_eq!(ar_value("a\"b"), "\"a\\\"b\"");
        assert_eq!(ar_value(""), "\"\"");
    }
}
