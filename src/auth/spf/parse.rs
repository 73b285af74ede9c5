//! SPF records: selection among TXT records (RFC 7208 §4.5) and parsing
//! (§4.6, §5, §6, grammar in §12).
//!
//! A record is parsed whole before it is evaluated: "If there are any
//! syntax errors anywhere in the record, check_host() returns immediately
//! with the result 'permerror'" (§4.6).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::macros::{MacroString, Place};

/// A qualifier (§4.6.2): the result a matching mechanism gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// `+` (the default).
    Pass,
    /// `-`.
    Fail,
    /// `~`.
    SoftFail,
    /// `?`.
    Neutral,
}

/// A mechanism (§5) with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// `all` (§5.1).
    All,
    /// `include:domain-spec` (§5.2).
    Include(MacroString),
    /// `a[:domain-spec][/v4][//v6]` (§5.3).
    A {
        /// The target; the current domain when absent.
        domain: Option<MacroString>,
        /// IPv4 prefix length (32 by default).
        v4: u8,
        /// IPv6 prefix length (128 by default).
        v6: u8,
    },
    /// `mx[:domain-spec][/v4][//v6]` (§5.4).
    Mx {
        /// The target; the current domain when absent.
        domain: Option<MacroString>,
        /// IPv4 prefix length (32 by default).
        v4: u8,
        /// IPv6 prefix length (128 by default).
        v6: u8,
    },
    /// `ptr[:domain-spec]` (§5.5).
    Ptr(Option<MacroString>),
    /// `ip4:network[/len]` (§5.6).
    Ip4(Ipv4Addr, u8),
    /// `ip6:network[/len]` (§5.6).
    Ip6(Ipv6Addr, u8),
    /// `exists:domain-spec` (§5.7).
    Exists(MacroString),
}

impl Mechanism {
    /// Whether evaluating it queries DNS, and so counts towards the limit
    /// of 10 (§4.6.4).
    pub fn queries_dns(&self) -> bool {
        !matches!(
            self,
            Mechanism::All | Mechanism::Ip4(..) | Mechanism::Ip6(..)
        )
    }
}

/// A qualifier and a mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The result on a match.
    pub qualifier: Qualifier,
    /// What is tested.
    pub mechanism: Mechanism,
    /// The term as written, for Received-SPF's `mechanism=`.
    pub text: String,
}

/// A parsed SPF record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The directives, evaluated left to right.
    pub directives: Vec<Directive>,
    /// `redirect=` (§6.1).
    pub redirect: Option<MacroString>,
    /// `exp=` (§6.2).
    pub exp: Option<MacroString>,
}

/// Whether a TXT record is an SPF record: it starts with `v=spf1`
/// followed by a space or its end (§4.5). Case-insensitive, as ABNF
/// strings are.
pub fn is_spf_record(txt: &[u8]) -> bool {
    match txt.get(..6) {
        Some(v) if v.eq_ignore_ascii_case(b"v=spf1") => matches!(txt.get(6), None | Some(b' ')),
        _ => false,
    }
}

/// Parses an SPF record (one that [`is_spf_record`] accepted). The error
/// says what is wrong, for the permerror's `problem`.
pub fn parse_record(txt: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(txt).map_err(|_| "SPF record is not ASCII".to_string())?;
    let Some(terms) = text.get(6..).filter(|_| is_spf_record(txt)) else {
        return Err("not an SPF record".into());
    };
    let mut record = Record::default();
    // terms = *( 1*SP ( directive / modifier ) ), then *SP (§12).
    for term in terms.split(' ').filter(|t| !t.is_empty()) {
        if let Some((name, value)) = modifier(term) {
            if name.eq_ignore_ascii_case("redirect") || name.eq_ignore_ascii_case("exp") {
                let spec = domain_spec(value, term)?;
                let slot = if name.eq_ignore_ascii_case("redirect") {
                    &mut record.redirect
                } else {
                    &mut record.exp
                };
                // "MUST NOT appear in a record more than once each" (§6).
                if slot.replace(spec).is_some() {
                    return Err(format!("{name}= appears twice"));
                }
            } else {
                // Unknown modifiers are ignored, once their syntax is
                // checked (§6: name "=" macro-string).
                MacroString::parse(value, Place::Unknown)
                    .map_err(|e| format!("in {term:?}: {e}"))?;
            }
        } else {
            record.directives.push(directive(term)?);
        }
    }
    Ok(record)
}

/// Splits `name=value` when `term` is a modifier: name = ALPHA *( ALPHA /
/// DIGIT / "-" / "_" / "." ) (§12).
fn modifier(term: &str) -> Option<(&str, &str)> {
    let (name, value) = term.split_once('=')?;
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    ok.then_some((name, value))
}

/// Parses one directive: [qualifier] mechanism (§4.6.2, §5).
fn directive(term: &str) -> Result<Directive, String> {
    let (qualifier, rest) = match term.chars().next() {
        Some('+') => (Qualifier::Pass, term.get(1..)),
        Some('-') => (Qualifier::Fail, term.get(1..)),
        Some('~') => (Qualifier::SoftFail, term.get(1..)),
        Some('?') => (Qualifier::Neutral, term.get(1..)),
        _ => (Qualifier::Pass, Some(term)),
    };
    let rest = rest.unwrap_or_default();
    let end = rest.find([':', '/']).unwrap_or(rest.len());
    let (name, args) = rest.split_at(end);
    let unexpected = || format!("unexpected argument in {term:?}");
    let value = || {
        args.strip_prefix(':')
            .ok_or_else(|| format!("{term:?} needs a value"))
    };
    let mechanism = match name.to_ascii_lowercase().as_str() {
        "all" if args.is_empty() => Mechanism::All,
        "all" => return Err(unexpected()),
        "include" => Mechanism::Include(domain_spec(value()?, term)?),
        "exists" => Mechanism::Exists(domain_spec(value()?, term)?),
        "ptr" => match args.strip_prefix(':') {
            Some(spec) => Mechanism::Ptr(Some(domain_spec(spec, term)?)),
            None if args.is_empty() => Mechanism::Ptr(None),
            None => return Err(unexpected()),
        },
        m @ ("a" | "mx") => {
            let (spec, cidr) = match args.strip_prefix(':') {
                Some(v) => {
                    let cut = cidr_start(v).unwrap_or(v.len());
                    let (spec, cidr) = v.split_at(cut);
                    (Some(domain_spec(spec, term)?), cidr)
                }
                None => (None, args),
            };
            let (v4, v6) =
                dual_cidr(cidr).ok_or_else(|| format!("bad prefix length in {term:?}"))?;
            if m == "a" {
                Mechanism::A {
                    domain: spec,
                    v4,
                    v6,
                }
            } else {
                Mechanism::Mx {
                    domain: spec,
                    v4,
                    v6,
                }
            }
        }
        "ip4" => {
            let v = value()?;
            let (net, len) =
                split_prefix(v, 32).ok_or_else(|| format!("bad prefix length in {term:?}"))?;
            let net = net
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("bad IPv4 network in {term:?}"))?;
            Mechanism::Ip4(net, len)
        }
        "ip6" => {
            let v = value()?;
            let (net, len) =
                split_prefix(v, 128).ok_or_else(|| format!("bad prefix length in {term:?}"))?;
            let net = net
                .parse::<Ipv6Addr>()
                .map_err(|_| format!("bad IPv6 network in {term:?}"))?;
            Mechanism::Ip6(net, len)
        }
        _ => return Err(format!("unknown mechanism in {term:?}")),
    };
    Ok(Directive {
        qualifier,
        mechanism,
        text: term.to_string(),
    })
}

/// Parses a domain-spec (§4.8, §7.1): a macro string ending like a domain.
fn domain_spec(text: &str, term: &str) -> Result<MacroString, String> {
    let spec = MacroString::parse(text, Place::Domain).map_err(|e| format!("in {term:?}: {e}"))?;
    if spec.is_domain_spec() {
        Ok(spec)
    } else {
        Err(format!("bad domain in {term:?}"))
    }
}

/// Where the CIDR suffix of an `a` or `mx` argument starts: the first `/`
/// outside `%{...}` (a delimiter may be `/`) followed by nothing but the
/// shape of a dual-cidr-length (`/D`, `//D`, `/D//D`). Any other `/` is
/// part of the domain-spec, whose macro-literals may be any visible
/// character but `%` (RFC 7208 §7.1): `a:foo/bar.example.com/24`.
fn cidr_start(v: &str) -> Option<usize> {
    let mut chars = v.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '/' if v.get(i..).is_some_and(is_cidr_shape) => return Some(i),
            // `%%`, `%_`, `%-` are skipped whole; `%{` up to its `}`.
            '%' => {
                if let Some((_, '{')) = chars.next() {
                    for (_, c) in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// `/digits`, `//digits` or `/digits//digits`: a dual-cidr-length in
/// shape, its values checked by [`dual_cidr`].
fn is_cidr_shape(s: &str) -> bool {
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    match s.strip_prefix("//") {
        Some(v6) => digits(v6),
        None => s
            .strip_prefix('/')
            .is_some_and(|rest| match rest.split_once("//") {
                Some((v4, v6)) => digits(v4) && digits(v6),
                None => digits(rest),
            }),
    }
}

/// dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ] (§5.6).
/// Empty gives the defaults 32 and 128.
fn dual_cidr(s: &str) -> Option<(u8, u8)> {
    if s.is_empty() {
        return Some((32, 128));
    }
    if let Some(v6) = s.strip_prefix("//") {
        return Some((32, prefix_len(v6, 128)?));
    }
    let s = s.strip_prefix('/')?;
    match s.split_once("//") {
        Some((v4, v6)) => Some((prefix_len(v4, 32)?, prefix_len(v6, 128)?)),
        None => Some((prefix_len(s, 32)?, 128)),
    }
}

/// Splits `network[/len]` for ip4 and ip6.
fn split_prefix(v: &str, max: u8) -> Option<(&str, u8)> {
    match v.split_once('/') {
        Some((net, len)) => Some((net, prefix_len(len, max)?)),
        None => Some((v, max)),
    }
}

/// "0" / %x31-39 0*2DIGIT, at most `max` (§12: no leading zeros).
fn prefix_len(s: &str, max: u8) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse::<u8>().ok().filter(|n| *n <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Record, String> {
        parse_record(s.as_bytes())
    }

    fn mechs(s: &str) -> Vec<Mechanism> {
        parse(s)
            .unwrap()
            .directives
            .into_iter()
            .map(|d| d.mechanism)
            .collect()
    }

    fn ds(s: &str) -> MacroString {
        MacroString::parse(s, Place::Domain).unwrap()
    }

    #[test]
    fn selection() {
        assert!(is_spf_record(b"v=spf1"));
        assert!(is_spf_record(b"v=spf1 -all"));
        assert!(is_spf_record(b"V=SPF1 -all"));
        assert!(!is_spf_record(b"v=spf10 -all"));
        assert!(!is_spf_record(b"v=spf1-all"));
        assert!(!is_spf_record(b" v=spf1 -all"));
        assert!(!is_spf_record(b"v=spf"));
        assert!(!is_spf_record(b"spf2.0/pra -all"));
    }

    #[test]
    fn every_mechanism() {
        let got = parse(
            "v=spf1 +all -include:_spf.example.com ~a ?a:h.example.com/24//64 a//96 mx/30 \
             mx:example.org mx:%{d}/24 ptr ptr:example.com ip4:192.0.2.0/24 ip4:192.0.2.1 \
             ip6:2001:db8::/32 ip6:::1 exists:%{ir}.%{v}._spf.%{d}  ",
        )
        .unwrap();
        let q: Vec<Qualifier> = got.directives.iter().map(|d| d.qualifier).collect();
        assert_eq!(
            q[..4],
            [
                Qualifier::Pass,
                Qualifier::Fail,
                Qualifier::SoftFail,
                Qualifier::Neutral
            ]
        );
        assert_eq!(got.directives[3].text, "?a:h.example.com/24//64");
        let m: Vec<Mechanism> = got.directives.into_iter().map(|d| d.mechanism).collect();
        assert_eq!(
            m,
            [
                Mechanism::All,
                Mechanism::Include(ds("_spf.example.com")),
                Mechanism::A {
                    domain: None,
                    v4: 32,
                    v6: 128
                },
                Mechanism::A {
                    domain: Some(ds("h.example.com")),
                    v4: 24,
                    v6: 64
                },
                Mechanism::A {
                    domain: None,
                    v4: 32,
                    v6: 96
                },
                Mechanism::Mx {
                    domain: None,
                    v4: 30,
                    v6: 128
                },
                Mechanism::Mx {
                    domain: Some(ds("example.org")),
                    v4: 32,
                    v6: 128
                },
                Mechanism::Mx {
                    domain: Some(ds("%{d}")),
                    v4: 24,
                    v6: 128
                },
                Mechanism::Ptr(None),
                Mechanism::Ptr(Some(ds("example.com"))),
                Mechanism::Ip4("192.0.2.0".parse().unwrap(), 24),
                Mechanism::Ip4("192.0.2.1".parse().unwrap(), 32),
                Mechanism::Ip6("2001:db8::".parse().unwrap(), 32),
                Mechanism::Ip6("::1".parse().unwrap(), 128),
                Mechanism::Exists(ds("%{ir}.%{v}._spf.%{d}")),
            ]
        );
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(
            mechs("v=spf1 A MX:Example.COM IP4:192.0.2.1 ALL"),
            [
                Mechanism::A {
                    domain: None,
                    v4: 32,
                    v6: 128
                },
                Mechanism::Mx {
                    domain: Some(ds("Example.COM")),
                    v4: 32,
                    v6: 128
                },
                Mechanism::Ip4("192.0.2.1".parse().unwrap(), 32),
                Mechanism::All,
            ]
        );
        let r = parse("v=spf1 REDIRECT=example.com EXP=exp.example.com").unwrap();
        assert_eq!(r.redirect, Some(ds("example.com")));
        assert_eq!(r.exp, Some(ds("exp.example.com")));
    }

    #[test]
    fn a_slash_inside_a_macro_is_a_delimiter() {
        assert_eq!(
            mechs("v=spf1 a:%{l/}.example.com/24"),
            [Mechanism::A {
                domain: Some(ds("%{l/}.example.com")),
                v4: 24,
                v6: 128
            }]
        );
    }

    #[test]
    fn a_domain_spec_holds_any_visible_character_but_percent() {
        // RFC 7208 §7.1: macro-literal = %x21-24 / %x26-7E; a `/` not
        // starting a trailing prefix length is part of the name.
        assert_eq!(
            mechs("v=spf1 a:foo:bar/baz.example.com mx:a/b.example.com/24//64 a:x/1y.example.com"),
            [
                Mechanism::A {
                    domain: Some(ds("foo:bar/baz.example.com")),
                    v4: 32,
                    v6: 128
                },
                Mechanism::Mx {
                    domain: Some(ds("a/b.example.com")),
                    v4: 24,
                    v6: 64
                },
                Mechanism::A {
                    domain: Some(ds("x/1y.example.com")),
                    v4: 32,
                    v6: 128
                },
            ]
        );
        assert_eq!(
            mechs("v=spf1 exists:%%%_%-.example.com"),
            [Mechanism::Exists(MacroString {
                tokens: vec![super::super::macros::Token::Literal(
                    "% %20.example.com".into()
                )]
            })]
        );
        assert!(parse("v=spf1 a:foo.example.com/33").is_err());
        assert!(parse("v=spf1 a:foo.example.com//24/").is_err());
    }

    #[test]
    fn modifiers() {
        let r =
            parse("v=spf1 -all moo=bar foo.bar-baz_1=%{d} redirect=_spf.example.com exp=e.%{d}")
                .unwrap();
        assert_eq!(r.directives.len(), 1);
        assert_eq!(r.redirect, Some(ds("_spf.example.com")));
        assert_eq!(r.exp, Some(ds("e.%{d}")));
        assert!(parse("v=spf1").unwrap().directives.is_empty());
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "v=spf1 -all redirect=a.example.com redirect=b.example.com",
            "v=spf1 exp=a.example.com exp=b.example.com",
            "v=spf1 redirect=",
            "v=spf1 redirect=museum",
            "v=spf1 exp=%{c}.example.com",
            "v=spf1 foo=%z",
            "v=spf1 foo=bar\u{e9}",
            "v=spf1 -redirect=example.com",
            "v=spf1 =all",
            "v=spf1 all:example.com",
            "v=spf1 all/24",
            "v=spf1 -alll",
            "v=spf1 include",
            "v=spf1 include:",
            "v=spf1 include:museum",
            "v=spf1 exists",
            "v=spf1 a:",
            "v=spf1 a:/24",
            "v=spf1 a/33",
            "v=spf1 a/024",
            "v=spf1 a//129",
            "v=spf1 a/24/64",
            "v=spf1 a///64",
            "v=spf1 a/",
            "v=spf1 a/x",
            "v=spf1 a:1.2.3.4",
            "v=spf1 a:example.com:25",
            "v=spf1 mx:foo.example.com/24/",
            "v=spf1 ptr/24",
            "v=spf1 ptrx",
            "v=spf1 ip4",
            "v=spf1 ip4:",
            "v=spf1 ip4:192.0.2.300",
            "v=spf1 ip4:192.0.2.1/33",
            "v=spf1 ip4:192.0.2.01",
            "v=spf1 ip4:garbage",
            "v=spf1 ip4:192.0.2.0/",
            "v=spf1 ip4:2001:db8::1",
            "v=spf1 ip6:192.0.2.1",
            "v=spf1 ip6:2001:db8::/129",
            "v=spf1 ip6:2001:db8::%eth0",
            "v=spf1 foo:bar",
            "v=spf1 \t-all",
            "v=spf1 a:%{x}.example.com",
            "v=spf1 -all\u{a0}",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn prefix_lengths() {
        assert_eq!(dual_cidr(""), Some((32, 128)));
        assert_eq!(dual_cidr("/0"), Some((0, 128)));
        assert_eq!(dual_cidr("//0"), Some((32, 0)));
        assert_eq!(dual_cidr("/32//128"), Some((32, 128)));
        assert_eq!(dual_cidr("/7//33"), Some((7, 33)));
        for bad in [
            "/", "//", "/00", "/1//", "/1///2", "/1/2", "x", "/-1", "/1000",
        ] {
            assert_eq!(dual_cidr(bad), None, "{bad}");
        }
    }

    #[test]
    fn split_at_every_byte_gives_the_same_record() {
        // A record arrives as character-strings that are joined (§3.3);
        // wherever the split, the joined text parses alike.
        let text = "v=spf1 a:%{d}/24//64 ip4:192.0.2.0/24 exists:%{ir}.x.example ~all exp=e.%{d}";
        let whole = parse(text).unwrap();
        for cut in 0..=text.len() {
            let (a, b) = text.split_at(cut);
            let joined = crate::dns::join_txt(&[a.as_bytes().to_vec(), b.as_bytes().to_vec()]);
            assert_eq!(parse_record(&joined).unwrap(), whole);
        }
    }
}
