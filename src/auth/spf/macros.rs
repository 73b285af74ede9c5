//! SPF macros (RFC 7208 §7): macro strings parsed once, then expanded
//! against the values of one evaluation.
//!
//! Parsing rejects what the grammar of §7.1 does not allow (an unknown
//! letter, a bare `%`, a zero digit transformer, a bad delimiter, a
//! character outside %x21-7E); the caller turns that into a permerror.
//! Expansion is pure: the `p` macro's validated name, which needs DNS, is
//! looked up by the caller and passed in.

use std::net::IpAddr;

/// Longest expansion kept, in bytes. Domain names are cut to 253 anyway
/// (§7.3); explanations are short texts. Bounds what a hostile record
/// repeating `%{s}` can make us allocate.
pub const MAX_EXPANSION: usize = 2048;

/// Longest domain name a query is made for (RFC 7208 §7.3).
const MAX_DOMAIN: usize = 253;

/// Where a macro string appears: it decides which letters are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A domain-spec (mechanism argument, `redirect=`, `exp=`): `c`, `r`
    /// and `t` are not allowed (§7.1: "only in exp text").
    Domain,
    /// The explanation text fetched by `exp=` (§6.2): every letter, and
    /// spaces (explain-string = *( macro-string / SP )).
    Explanation,
    /// The value of a modifier we do not know (§6): only its syntax is
    /// checked.
    Unknown,
}

/// A macro letter (§7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Letter {
    /// `s`: the sender.
    S,
    /// `l`: the local-part of the sender.
    L,
    /// `o`: the domain of the sender.
    O,
    /// `d`: the current domain.
    D,
    /// `i`: the client IP, dotted (IPv4) or as dot-separated nibbles (IPv6).
    I,
    /// `p`: the validated domain name of the client IP.
    P,
    /// `v`: `in-addr` or `ip6`.
    V,
    /// `h`: the HELO/EHLO domain.
    H,
    /// `c`: the client IP in its usual text form (exp only).
    C,
    /// `r`: the receiving host's name (exp only).
    R,
    /// `t`: the current time in seconds since the epoch (exp only).
    T,
}

/// One `%{...}` expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Macro {
    /// Which value.
    pub letter: Letter,
    /// An upper-case letter asks for URL escaping (§7.3).
    pub escape: bool,
    /// Keep only this many right-hand parts (at least 1).
    pub keep: Option<usize>,
    /// Reverse the parts first.
    pub reverse: bool,
    /// Characters that split the value; empty means `.`.
    pub delimiters: String,
}

/// A piece of a macro string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// Text copied as is (`%%`, `%_` and `%-` already replaced).
    Literal(String),
    /// A macro to expand.
    Macro(Macro),
}

/// A parsed macro string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MacroString {
    /// The pieces, in order.
    pub tokens: Vec<Token>,
}

/// The values macros expand to, for one evaluation.
#[derive(Debug, Clone)]
pub struct Values<'a> {
    /// `<sender>`, with its local-part (`postmaster` if it had none).
    pub sender: &'a str,
    /// Its local-part.
    pub local: &'a str,
    /// Its domain.
    pub sender_domain: &'a str,
    /// The current domain.
    pub domain: &'a str,
    /// The client address.
    pub ip: IpAddr,
    /// The HELO/EHLO domain.
    pub helo: &'a str,
    /// This host's name (`r`).
    pub receiver: &'a str,
    /// Seconds since the epoch (`t`).
    pub now: i64,
    /// The validated name for `p`, when the string uses it.
    pub validated: Option<&'a str>,
}

impl MacroString {
    /// Parses `text` (RFC 7208 §7.1 macro-string, or explain-string for
    /// [`Place::Explanation`]).
    pub fn parse(text: &str, place: Place) -> Result<MacroString, String> {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => match chars.next() {
                    Some('%') => literal.push('%'),
                    Some('_') => literal.push(' '),
                    Some('-') => literal.push_str("%20"),
                    Some('{') => {
                        let mut body = String::new();
                        loop {
                            match chars.next() {
                                Some('}') => break,
                                Some(c) => body.push(c),
                                None => return Err(format!("unterminated macro in {text:?}")),
                            }
                        }
                        if !literal.is_empty() {
                            tokens.push(Token::Literal(std::mem::take(&mut literal)));
                        }
                        tokens.push(Token::Macro(parse_macro(&body, place)?));
                    }
                    _ => return Err(format!("invalid use of % in {text:?}")),
                },
                // macro-literal = %x21-24 / %x26-7E (§7.1).
                '!'..='~' => literal.push(c),
                ' ' if place == Place::Explanation => literal.push(c),
                _ => return Err(format!("invalid character {c:?} in {text:?}")),
            }
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(MacroString { tokens })
    }

    /// Whether some macro needs the validated name of the client (`p`).
    pub fn uses_validated_name(&self) -> bool {
        self.tokens
            .iter()
            .any(|t| matches!(t, Token::Macro(m) if m.letter == Letter::P))
    }

    /// Whether this string is a domain-spec: it ends with a macro or with
    /// `.` toplabel and an optional dot (§4.6.1 domain-end). An empty
    /// string is not. A lone dot after a macro (`%{d}.`) is taken too: a
    /// trailing dot is ignored in domains, and records use it.
    pub fn is_domain_spec(&self) -> bool {
        let mut tail = String::new();
        for t in self.tokens.iter().rev() {
            match t {
                Token::Literal(s) => tail.insert_str(0, s),
                Token::Macro(_) => break,
            }
        }
        let after_macro = self.tokens.iter().any(|t| matches!(t, Token::Macro(_)));
        if tail.is_empty() || (tail == "." && after_macro) {
            return !self.tokens.is_empty();
        }
        let tail = tail.strip_suffix('.').unwrap_or(&tail);
        match tail.rsplit_once('.') {
            Some((_, top)) => is_toplabel(top),
            None => false,
        }
    }

    /// The expansion (§7.3), at most [`MAX_EXPANSION`] bytes.
    pub fn expand(&self, v: &Values<'_>) -> String {
        let mut out = String::new();
        for t in &self.tokens {
            match t {
                Token::Literal(s) => out.push_str(s),
                Token::Macro(m) => out.push_str(&expand_macro(m, v)),
            }
            if out.len() > MAX_EXPANSION {
                let mut cut = MAX_EXPANSION;
                while !out.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.truncate(cut);
                break;
            }
        }
        out
    }
}

/// Removes labels from the left of `name` until it is at most 253
/// characters (§7.3). A single longer label is left as is (the lookup
/// then finds nothing).
pub fn truncate_domain(mut name: &str) -> &str {
    while name.len() > MAX_DOMAIN {
        match name.split_once('.') {
            Some((_, rest)) => name = rest,
            None => break,
        }
    }
    name
}

/// toplabel = ( *alphanum ALPHA *alphanum ) /
///            ( 1*alphanum "-" *( alphanum / "-" ) alphanum )  (§4.6.1)
fn is_toplabel(label: &str) -> bool {
    let b = label.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && b.iter().any(|c| c.is_ascii_alphabetic() || *c == b'-')
}

/// Parses the inside of `%{...}`: letter, digits, `r`, delimiters (§7.1).
fn parse_macro(body: &str, place: Place) -> Result<Macro, String> {
    let mut chars = body.chars().peekable();
    let c = chars.next().ok_or("empty macro %{}")?;
    let letter = match c.to_ascii_lowercase() {
        's' => Letter::S,
        'l' => Letter::L,
        'o' => Letter::O,
        'd' => Letter::D,
        'i' => Letter::I,
        'p' => Letter::P,
        'v' => Letter::V,
        'h' => Letter::H,
        'c' => Letter::C,
        'r' => Letter::R,
        't' => Letter::T,
        _ => return Err(format!("unknown macro letter in %{{{body}}}")),
    };
    if place == Place::Domain && matches!(letter, Letter::C | Letter::R | Letter::T) {
        return Err(format!("%{{{body}}} is allowed only in explanations"));
    }
    let mut digits = String::new();
    while let Some(d) = chars.next_if(char::is_ascii_digit) {
        digits.push(d);
    }
    let keep = if digits.is_empty() {
        None
    } else {
        // "If a DIGIT is specified, the value MUST be at least 1" (§7.1).
        // A number too large for usize keeps every part anyway.
        let n = digits.parse::<usize>().unwrap_or(usize::MAX);
        if n == 0 {
            return Err(format!("zero transformer in %{{{body}}}"));
        }
        Some(n)
    };
    let reverse = chars.next_if(|c| c.eq_ignore_ascii_case(&'r')).is_some();
    let mut delimiters = String::new();
    for d in chars {
        if !".-+,/_=".contains(d) {
            return Err(format!("invalid delimiter {d:?} in %{{{body}}}"));
        }
        delimiters.push(d);
    }
    Ok(Macro {
        letter,
        escape: c.is_ascii_uppercase(),
        keep,
        reverse,
        delimiters,
    })
}

/// One macro's value, split, reversed, cut and escaped (§7.3).
fn expand_macro(m: &Macro, v: &Values<'_>) -> String {
    let value = match m.letter {
        Letter::S => v.sender.to_string(),
        Letter::L => v.local.to_string(),
        Letter::O => v.sender_domain.to_string(),
        Letter::D => v.domain.to_string(),
        Letter::I => dotted_ip(v.ip),
        Letter::P => v.validated.unwrap_or("unknown").to_string(),
        Letter::V => match v.ip {
            IpAddr::V4(_) => "in-addr".into(),
            IpAddr::V6(_) => "ip6".into(),
        },
        Letter::H => v.helo.to_string(),
        Letter::C => v.ip.to_string(),
        // "if one does not exist ... the word 'unknown' SHOULD be
        // substituted" (§7.3).
        Letter::R if v.receiver.is_empty() => "unknown".into(),
        Letter::R => v.receiver.to_string(),
        Letter::T => v.now.to_string(),
    };
    let transformed = if m.keep.is_none() && !m.reverse && m.delimiters.is_empty() {
        value
    } else {
        let delims: &str = if m.delimiters.is_empty() {
            "."
        } else {
            &m.delimiters
        };
        let mut parts: Vec<&str> = value.split(|c| delims.contains(c)).collect();
        if m.reverse {
            parts.reverse();
        }
        let skip = m.keep.map_or(0, |n| parts.len().saturating_sub(n));
        parts.get(skip..).unwrap_or_default().join(".")
    };
    if m.escape {
        url_escape(&transformed)
    } else {
        transformed
    }
}

/// The `i` macro: dotted quad, or 32 dot-separated nibbles (§7.3).
fn dotted_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(63);
            for byte in v6.octets() {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(&format!("{:x}.{:x}", byte >> 4, byte & 0xf));
            }
            s
        }
    }
}

/// Escapes every byte but the unreserved characters of RFC 3986 §2.3, as
/// §7.3 asks for upper-case macro letters.
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(ip: &str) -> Values<'static> {
        Values {
            sender: "strong-bad@email.example.com",
            local: "strong-bad",
            sender_domain: "email.example.com",
            domain: "email.example.com",
            ip: ip.parse().unwrap(),
            helo: "mx.example.org",
            receiver: "mx.example.net",
            now: 1_700_000_000,
            validated: Some("mx.example.org"),
        }
    }

    fn x(text: &str, ip: &str) -> String {
        MacroString::parse(text, Place::Explanation)
            .unwrap()
            .expand(&values(ip))
    }

    /// RFC 7208 §7.4, every example.
    #[test]
    fn rfc_examples() {
        let v4 = "192.0.2.3";
        for (m, want) in [
            ("%{s}", "strong-bad@email.example.com"),
            ("%{o}", "email.example.com"),
            ("%{d}", "email.example.com"),
            ("%{d4}", "email.example.com"),
            ("%{d3}", "email.example.com"),
            ("%{d2}", "example.com"),
            ("%{d1}", "com"),
            ("%{dr}", "com.example.email"),
            ("%{d2r}", "example.email"),
            ("%{l}", "strong-bad"),
            ("%{l-}", "strong.bad"),
            ("%{lr}", "strong-bad"),
            ("%{lr-}", "bad.strong"),
            ("%{l1r-}", "strong"),
            (
                "%{ir}.%{v}._spf.%{d2}",
                "3.2.0.192.in-addr._spf.example.com",
            ),
            ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
            (
                "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
                "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
            ),
            (
                "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
                "3.2.0.192.in-addr.strong.lp._spf.example.com",
            ),
            (
                "%{d2}.trusted-domains.example.net",
                "example.com.trusted-domains.example.net",
            ),
        ] {
            assert_eq!(x(m, v4), want, "{m}");
        }
        assert_eq!(
            x("%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01"),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        );
    }

    #[test]
    fn other_letters_escapes_and_transformers() {
        assert_eq!(x("%{i}", "2001:db8::cb01").len(), 63);
        assert_eq!(
            x("%{c} %{C}", "2001:db8::cb01"),
            "2001:db8::cb01 2001%3Adb8%3A%3Acb01"
        );
        assert_eq!(
            x("%{h} %{r} %{t} %{p}", "192.0.2.3"),
            "mx.example.org mx.example.net 1700000000 mx.example.org"
        );
        assert_eq!(x("%{v}", "::1"), "ip6");
        assert_eq!(x("%%%_%-", "192.0.2.3"), "% %20");
        assert_eq!(x("%{S}", "192.0.2.3"), "strong-bad%40email.example.com");
        assert_eq!(x("%{L}", "192.0.2.3"), "strong-bad");
        assert_eq!(
            x("%{d99999999999999999999999}", "192.0.2.3"),
            "email.example.com"
        );
        assert_eq!(x("%{dR}", "192.0.2.3"), "com.example.email");
        assert_eq!(x("%{s2r.-}", "192.0.2.3"), "bad@email.strong");
        let mut v = values("192.0.2.3");
        v.validated = None;
        v.receiver = "";
        let m = MacroString::parse("%{p}/%{r}", Place::Explanation).unwrap();
        assert!(m.uses_validated_name());
        assert_eq!(m.expand(&v), "unknown/unknown");
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "%",
            "%x",
            "%{",
            "%{d",
            "%{}",
            "%{x}",
            "%{d0}",
            "%{d2rr}",
            "%{d2:}",
            "a b",
            "é.com",
            "tab\there",
            "%{s.@}",
        ] {
            assert!(MacroString::parse(bad, Place::Domain).is_err(), "{bad:?}");
        }
        for exp_only in ["%{c}", "%{r}.x.com", "%{T}"] {
            assert!(MacroString::parse(exp_only, Place::Domain).is_err());
            assert!(MacroString::parse(exp_only, Place::Explanation).is_ok());
            assert!(MacroString::parse(exp_only, Place::Unknown).is_ok());
        }
        assert!(MacroString::parse("a b", Place::Explanation).is_ok());
    }

    #[test]
    fn domain_end() {
        let spec = |s: &str| {
            MacroString::parse(s, Place::Domain)
                .unwrap()
                .is_domain_spec()
        };
        for good in [
            "example.com",
            "example.com.",
            "%{d}",
            "x.%{d}",
            "%{d}.com",
            "%{d}.",
            "a.b-c",
            "a.xn--p1ai",
            ".com",
        ] {
            assert!(spec(good), "{good}");
        }
        for bad in [
            "", "museum", "museum.", "1.2.3.4", "a.com-", "a.-com", "%{d}..", "%{d}com", "a.b_c",
            "a.com..",
        ] {
            assert!(!spec(bad), "{bad}");
        }
    }

    #[test]
    fn domains_are_cut_from_the_left() {
        let long = format!("{}.example.com", "abcdefghi.".repeat(30));
        let cut = truncate_domain(&long);
        assert!(cut.len() <= 253);
        assert!(long.ends_with(cut) && cut.starts_with("abcdefghi."));
        assert_eq!(truncate_domain("a.b"), "a.b");
        let one = "x".repeat(300);
        assert_eq!(truncate_domain(&one), one);
    }

    #[test]
    fn expansion_is_bounded() {
        let m = MacroString::parse(&"%{s}".repeat(500), Place::Domain).unwrap();
        assert!(m.expand(&values("192.0.2.3")).len() <= MAX_EXPANSION);
    }
}
