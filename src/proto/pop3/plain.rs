//! SASL PLAIN decoding (RFC 4616) for AUTH (RFC 5034).
//!
//! Kept private and minimal so POP3 builds on its own; it can be replaced
//! by the crate's shared base64 and SASL code without touching the session.

/// Credentials from a PLAIN message.
#[derive(PartialEq, Eq)]
pub(crate) struct Plain {
    pub(crate) authcid: String,
    pub(crate) password: String,
}

/// Decodes a base64 PLAIN response and splits `authzid NUL authcid NUL
/// passwd` (RFC 4616 §2). The authorization identity must be empty or equal
/// to the authentication identity: acting as another user is not offered.
pub(crate) fn decode(response: &[u8]) -> Option<Plain> {
    let raw = base64_decode(response)?;
    let mut parts = raw.split(|&b| b == 0);
    let authzid = parts.next()?;
    let authcid = parts.next()?;
    let password = parts.next()?;
    if parts.next().is_some() || authcid.is_empty() || password.is_empty() {
        return None;
    }
    if !authzid.is_empty() && authzid != authcid {
        return None;
    }
    Some(Plain {
        authcid: String::from_utf8(authcid.to_vec()).ok()?,
        password: String::from_utf8(password.to_vec()).ok()?,
    })
}

/// Strict standard base64 (RFC 4648 §4) with padding; no whitespace.
fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    if !input.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let quads = input.chunks_exact(4);
    let last = quads.len().checked_sub(1)?;
    for (i, quad) in quads.enumerate() {
        let pad = quad.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && i != last) {
            return None;
        }
        let mut acc: u32 = 0;
        for &b in &quad[..4 - pad] {
            acc = (acc << 6) | u32::from(sextet(b)?);
        }
        acc <<= 6 * pad as u32;
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_vectors() {
        // RFC 4648 §10.
        let cases: &[(&[u8], &[u8])] = &[
            (b"Zg==", b"f"),
            (b"Zm8=", b"fo"),
            (b"Zm9v", b"foo"),
            (b"Zm9vYg==", b"foob"),
            (b"Zm9vYmE=", b"fooba"),
            (b"Zm9vYmFy", b"foobar"),
        ];
        for (enc, dec) in cases {
            assert_eq!(base64_decode(enc).as_deref(), Some(*dec));
        }
    }

    #[test]
    fn base64_rejects_malformed() {
        for bad in [
            &b""[..],
            b"Zg=",
            b"Zg=a",
            b"Z===",
            b"Zg==Zg==",
            b"Zm9v\r\n",
            b"Zm-v",
        ] {
            assert_eq!(base64_decode(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn plain_splits_and_checks_authzid() {
        // "\0alice\0secret"
        let p = decode(b"AGFsaWNlAHNlY3JldA==").expect("valid");
        assert_eq!(
            (p.authcid.as_str(), p.password.as_str()),
            ("alice", "secret")
        );
        // "alice\0alice\0secret"
        assert!(decode(b"YWxpY2UAYWxpY2UAc2VjcmV0").is_some());
        // "bob\0alice\0secret": acting as someone else is refused.
        assert!(decode(b"Ym9iAGFsaWNlAHNlY3JldA==").is_none());
        // "alice\0secret": one NUL only.
        assert!(decode(b"YWxpY2UAc2VjcmV0").is_none());
        // "\0alice\0": empty password.
        assert!(decode(b"AGFsaWNlAA==").is_none());
    }
}
