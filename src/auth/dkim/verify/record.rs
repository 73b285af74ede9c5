//! Reading a key record (RFC 6376 §3.6.1) and the RSA key in its `p=`.

use super::signature::{is_fws, strip_fws};
use super::*;

/// A key record (RFC 6376 §3.6.1).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct KeyRecord {
    pub(super) ed25519: bool,
    /// The decoded `p=`; empty when the key is revoked.
    pub(super) public: Vec<u8>,
    pub(super) testing: bool,
    pub(super) strict: bool,
}

/// Reads a key record; `Err` says why it is not one.
pub(super) fn parse_key_record(text: &str) -> Result<KeyRecord, String> {
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

/// One DER element: (tag, content, rest).
pub(super) fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
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
pub(super) fn rsa_public_key(p: &[u8]) -> Option<(&[u8], usize)> {
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
