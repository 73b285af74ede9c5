//! `application/x-www-form-urlencoded` bodies and query strings (the
//! WHATWG URL standard's "application/x-www-form-urlencoded parser"), as
//! the pages post them.

/// The fields of a form, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Parses a body or query string; bytes that are not UTF-8 after
    /// decoding become U+FFFD.
    pub fn parse(input: &[u8]) -> Form {
        Form(
            input
                .split(|&b| b == b'&')
                .filter(|part| !part.is_empty())
                .map(|part| {
                    let mut kv = part.splitn(2, |&b| b == b'=');
                    let k = decode(kv.next().unwrap_or_default());
                    let v = decode(kv.next().unwrap_or_default());
                    (k, v)
                })
                .collect(),
        )
    }

    /// The first value of `name`, or "" when absent.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Whether `name` was sent (a checked checkbox).
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}

/// Percent-decodes and turns `+` into a space.
fn decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => match (s.get(i + 1).and_then(hex), s.get(i + 2).and_then(hex)) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                // A lone `%` stays as it is.
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_fields() {
        let f = Form::parse(b"a=1&name=J%C3%A9r%C3%B4me+X&empty=&flag&bad=%zz%4");
        assert_eq!(f.get("a"), "1");
        assert_eq!(f.get("name"), "Jérôme X");
        assert_eq!(f.get("empty"), "");
        assert!(f.has("flag"));
        assert!(!f.has("other"));
        assert_eq!(f.get("bad"), "%zz%4");
        assert_eq!(Form::parse(b"x=%FF").get("x"), "\u{FFFD}");
    }

    #[test]
    fn encode_round_trips() {
        let s = "a b&c=d/é@x";
        let f = Form::parse(format!("k={}", encode(s)).as_bytes());
        assert_eq!(f.get("k"), s);
    }
}
