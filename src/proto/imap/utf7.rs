//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3), used by IMAP4rev1
//! clients that have not enabled UTF8=ACCEPT (RFC 9051 §5.1, RFC 6855).
//!
//! Printable ASCII stands for itself except `&`, written `&-`; any other
//! run of characters is written `&`, their UTF-16BE code units in base64
//! with `,` instead of `/` and no padding, then `-`.
//!
//! Decoding is strict, as RFC 3501 §5.1.3 asks: a name has one encoding
//! only, so printable ASCII inside a base64 run, adjacent runs, unpaired
//! surrogates and leftover bits are errors.

use std::fmt;

/// A name that is not valid modified UTF-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf7Error;

impl fmt::Display for Utf7Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid modified UTF-7 mailbox name")
    }
}

impl std::error::Error for Utf7Error {}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encodes a name in modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut units: Vec<u16> = Vec::new();
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut out, &mut units);
            out.push(ch);
            if ch == '&' {
                out.push('-');
            }
        } else {
            let mut buf = [0u16; 2];
            units.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut units);
    out
}

/// Writes pending UTF-16 units as one `&...-` run.
fn flush(out: &mut String, units: &mut Vec<u16>) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let symbols = chunk.len() + 1;
        for i in 0..symbols {
            let v = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[v as usize]));
        }
    }
    out.push('-');
    units.clear();
}

fn value(b: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == b).map(|v| v as u32)
}

/// Decodes a modified UTF-7 name to UTF-8 text.
pub fn decode(name: &[u8]) -> Result<String, Utf7Error> {
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    // Whether the previous thing was a base64 run (two runs may not touch).
    let mut after_run = false;
    while let Some(&b) = name.get(i) {
        if !(0x20..=0x7e).contains(&b) {
            return Err(Utf7Error);
        }
        i += 1;
        if b != b'&' {
            out.push(char::from(b));
            after_run = false;
            continue;
        }
        if name.get(i) == Some(&b'-') {
            i += 1;
            out.push('&');
            after_run = false;
            continue;
        }
        if after_run {
            return Err(Utf7Error);
        }
        // A base64 run up to '-'.
        let start = i;
        while name.get(i).is_some_and(|&c| c != b'-') {
            i += 1;
        }
        if name.get(i) != Some(&b'-') {
            return Err(Utf7Error);
        }
        decode_run(&name[start..i], &mut out)?;
        i += 1;
        after_run = true;
    }
    Ok(out)
}

/// Decodes the base64 between `&` and `-`, appending the characters.
fn decode_run(run: &[u8], out: &mut String) -> Result<(), Utf7Error> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut units = Vec::with_capacity(run.len() * 6 / 16);
    for &c in run {
        bits = (bits << 6) | value(c).ok_or(Utf7Error)?;
        nbits += 6;
        if nbits >= 16 {
            nbits -= 16;
            units.push((bits >> nbits) as u16);
            bits &= (1 << nbits) - 1;
        }
    }
    // Leftover bits must be padding: fewer than 6 and all zero.
    if nbits >= 6 || bits != 0 || units.is_empty() {
        return Err(Utf7Error);
    }
    for ch in char::decode_utf16(units) {
        let ch = ch.map_err(|_| Utf7Error)?;
        // Printable ASCII must be written as itself.
        if (' '..='~').contains(&ch) {
            return Err(Utf7Error);
        }
        out.push(ch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3501_example_round_trips() {
        // RFC 3501 §5.1.3: "~peter/mail/台北/日本語".
        let text = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
        let wire = "~peter/mail/&U,BTFw-/&ZeVnLIqe-";
        assert_eq!(encode(text), wire);
        assert_eq!(decode(wire.as_bytes()).unwrap(), text);
    }

    #[test]
    fn round_trips() {
        for s in [
            "",
            "INBOX",
            "Tom & Jerry",
            "&",
            "Entw\u{fc}rfe",
            "Gel\u{f6}schte Elemente",
            "\u{1f600} emoji",
            "\u{e9}\u{e8}\u{ea}",
            "a\u{7f}b\u{0}c",
            "\u{4e2d}&\u{6587}",
        ] {
            let e = encode(s);
            assert!(e.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{e}");
            assert_eq!(decode(e.as_bytes()).unwrap(), s, "{e}");
        }
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(encode("Entw\u{fc}rfe"), "Entw&APw-rfe");
        assert_eq!(encode("\u{1f600}"), "&2D3eAA-");
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "&",                  // unterminated
            "&U,BTFw",            // unterminated
            "&AGE-",              // "a" must be written directly
            "&U,BTFw-&ZeVnLIqe-", // adjacent runs
            "&U/BTFw-",           // '/' is not in the alphabet
            "&2D0-",              // lone high surrogate
            "&U,BTF-",            // leftover bits
            "&AP-",               // incomplete unit
            "a\u{e9}",            // 8-bit
            "tab\there",
        ] {
            assert_eq!(decode(bad.as_bytes()), Err(Utf7Error), "{bad}");
        }
        assert_eq!(decode(b"&-&-").unwrap(), "&&");
        assert_eq!(decode(b"&APw-&-").unwrap(), "\u{fc}&");
    }
}
