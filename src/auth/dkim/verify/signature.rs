//! Reading a DKIM-Signature field (RFC 6376 §3.5) and its tag-list (§3.2).

use super::*;

/// A signature as read from its field: good enough to check, or already
/// judged.
#[derive(Debug)]
pub(super) enum Parsed {
    Good(Box<Signature>),
    Bad(SignatureResult),
}

/// The accepted signing algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SigAlg {
    RsaSha256,
    Ed25519Sha256,
}

/// The tags of one DKIM-Signature field (RFC 6376 §3.5).
#[derive(Debug)]
pub(super) struct Signature {
    /// The whole field with the value of `b=` removed (§3.7).
    pub(super) unsigned: Vec<u8>,
    pub(super) alg: Option<SigAlg>,
    pub(super) algorithm: String,
    pub(super) b: Vec<u8>,
    pub(super) b_prefix: String,
    pub(super) bh: Vec<u8>,
    pub(super) header_canon: Option<Canon>,
    pub(super) body_canon: Canon,
    pub(super) domain: String,
    pub(super) selector: String,
    pub(super) identity: String,
    pub(super) h: Vec<String>,
    pub(super) length: Option<u64>,
}

impl Signature {
    pub(super) fn empty() -> Signature {
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

pub(super) fn is_fws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// A string cut to 40 characters, for reasons.
pub(super) fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Removes folding whitespace everywhere (base64 values, §3.5 b= and bh=).
pub(super) fn strip_fws(s: &str) -> String {
    s.chars().filter(|&c| !is_fws(c)).collect()
}

/// The field with the value of its `b=` tag removed (RFC 6376 §3.7: the
/// value, "including all surrounding whitespace", is the empty string).
pub(super) fn remove_b_value(raw: &[u8]) -> Vec<u8> {
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
pub(super) fn parse_signature(raw: &[u8], now: i64) -> Parsed {
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
