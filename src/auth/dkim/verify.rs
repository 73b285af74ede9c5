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

mod header;
mod record;
mod signature;

use header::HeaderReader;
use record::{parse_key_record, rsa_public_key};
pub use signature::parse_tag_list;
use signature::{parse_signature, short, Parsed, SigAlg, Signature};

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
mod tests;
