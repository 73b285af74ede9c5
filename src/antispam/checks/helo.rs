//! The HELO/EHLO argument: its syntax (RFC 5321 §4.1.1.1, §4.1.3) and
//! whether the client claims to be us.
//!
//! RFC 5321 §4.1.4 forbids refusing a message because the HELO name does
//! not match the client's address, so these only score:
//!
//! | rule           | when                                                      | score |
//! |----------------|-----------------------------------------------------------|-------|
//! | `HELO_SYNTAX`  | neither a domain nor an address literal (§4.1.1.1)        | +1.5  |
//! | `HELO_BARE_IP` | an address without the brackets of §4.1.3                 | +1.5  |
//! | `HELO_FORGED`  | our host name, one of our domains, or one of our addresses, from a client that is not us | +3.0 |
//! | `HELO_NO_DOT`  | a name without a dot (`WORKSTATION`, `localhost`)        | +0.5  |
//!
//! A forged claim is the strongest sign: only spam software names the
//! receiving server as itself. A syntax error or bare address is typical of
//! home-grown bulk senders and of infected desktops; a dotless name also
//! comes from badly configured but honest hosts, hence its small score.

use super::{is_host_name, shown};
use crate::antispam::{Check, Context, Verdict};
use crate::dns::BoxFuture;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Score of a HELO argument that is neither a domain nor an address literal.
pub const HELO_SYNTAX: f32 = 1.5;
/// Score of an address given without brackets.
pub const HELO_BARE_IP: f32 = 1.5;
/// Score of a HELO naming us, from a client that is not us.
pub const HELO_FORGED: f32 = 3.0;
/// Score of a dotless name.
pub const HELO_NO_DOT: f32 = 0.5;

/// The HELO check.
#[derive(Debug, Clone, Default)]
pub struct HeloCheck;

impl HeloCheck {
    /// The check (it has no settings).
    pub fn new() -> HeloCheck {
        HeloCheck
    }
}

/// What a HELO argument is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Helo {
    /// A domain name (lowercase, without a trailing dot).
    Domain(String),
    /// An address literal, `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    Literal(IpAddr),
    /// An address without brackets.
    BareIp(IpAddr),
    /// Anything else.
    Invalid,
}

/// Reads a HELO argument by RFC 5321 §4.1.1.1 (`Domain / address-literal`)
/// and §4.1.3 (address literals).
fn parse(arg: &str) -> Helo {
    if let Some(inner) = arg.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        // §4.1.3: IPv4-address-literal = Snum 3("." Snum)
        if inner.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return match inner.parse::<Ipv4Addr>() {
                Ok(ip) => Helo::Literal(IpAddr::V4(ip)),
                Err(_) => Helo::Invalid,
            };
        }
        // §4.1.3: IPv6-address-literal = "IPv6:" IPv6-addr (the tag is
        // matched without regard to case, §2.4).
        if let Some(v6) = inner
            .get(..5)
            .filter(|t| t.eq_ignore_ascii_case("IPv6:"))
            .and_then(|_| inner.get(5..))
        {
            return match v6.parse::<Ipv6Addr>() {
                Ok(ip) => Helo::Literal(IpAddr::V6(ip)),
                Err(_) => Helo::Invalid,
            };
        }
        // General-address-literal: no other tag is registered.
        return Helo::Invalid;
    }
    if let Ok(ip) = arg.parse::<IpAddr>() {
        return Helo::BareIp(ip);
    }
    // Many clients end the name with a dot; the dot is not in the grammar
    // but harmless.
    let name = arg.strip_suffix('.').unwrap_or(arg).to_ascii_lowercase();
    // §4.1.2: sub-domain = Let-dig [Ldh-str]; `_` is tolerated (see
    // `is_host_name`).
    if is_host_name(&name) {
        Helo::Domain(name)
    } else {
        Helo::Invalid
    }
}

impl Check for HeloCheck {
    fn name(&self) -> &'static str {
        "helo"
    }

    fn helo<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
        let out = match cx.helo.as_deref() {
            Some(arg) => judge(cx, arg.trim()),
            None => Vec::new(),
        };
        Box::pin(std::future::ready(out))
    }
}

fn judge(cx: &Context, arg: &str) -> Vec<Verdict> {
    let peer = cx.peer.to_canonical();
    let peer_is_us = peer.is_loopback() || cx.local_ips.iter().any(|l| l.to_canonical() == peer);
    let ours = |ip: &IpAddr| {
        let ip = ip.to_canonical();
        cx.local_ips.iter().any(|l| l.to_canonical() == ip)
    };
    let mut out = Vec::new();
    let claimed_us = match parse(arg) {
        Helo::Invalid => {
            out.push(Verdict::score(
                "HELO_SYNTAX",
                HELO_SYNTAX,
                format!(
                    "HELO {:?} is neither a domain nor an address literal",
                    shown(arg, 100)
                ),
            ));
            false
        }
        Helo::BareIp(ip) => {
            out.push(Verdict::score(
                "HELO_BARE_IP",
                HELO_BARE_IP,
                format!("HELO {ip} is an address without brackets"),
            ));
            ours(&ip)
        }
        Helo::Literal(ip) => ours(&ip),
        Helo::Domain(name) => {
            let us = name.eq_ignore_ascii_case(cx.hostname.trim_end_matches('.'))
                || cx.is_local_domain(&name);
            if !name.contains('.') && !us {
                out.push(Verdict::score(
                    "HELO_NO_DOT",
                    HELO_NO_DOT,
                    format!("HELO {name} is not a fully-qualified name"),
                ));
            }
            us
        }
    };
    if claimed_us && !peer_is_us {
        out.push(Verdict::score(
            "HELO_FORGED",
            HELO_FORGED,
            format!("HELO {} names this server, from {peer}", shown(arg, 100)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::StaticResolver;
    use std::sync::Arc;

    fn rules_from(peer: &str, helo: &str) -> Vec<(String, f32)> {
        let mut cx = Context::new(
            peer.parse().unwrap(),
            "mx.example.net",
            vec!["example.net".into(), "Other.Example".into()],
            Arc::new(StaticResolver::new()),
            0,
        );
        cx.local_ips = vec![
            "203.0.113.5".parse().unwrap(),
            "2001:db8::5".parse().unwrap(),
        ];
        cx.helo = Some(helo.into());
        smol::block_on(HeloCheck::new().helo(&cx))
            .into_iter()
            .map(|v| (v.rule, v.score))
            .collect()
    }

    fn rules(helo: &str) -> Vec<(String, f32)> {
        rules_from("198.51.100.7", helo)
    }

    fn one(rule: &str, score: f32) -> Vec<(String, f32)> {
        vec![(rule.to_string(), score)]
    }

    #[test]
    fn valid_names_and_literals_score_nothing() {
        for ok in [
            "mail.example.org",
            "Mail.Example.ORG.",
            "a-b.c1.example",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
            "[ipv6:::1]",
            "host_name.example.org",
        ] {
            assert!(rules(ok).is_empty(), "{ok}: {:?}", rules(ok));
        }
    }

    #[test]
    fn syntax_errors() {
        let long = format!("{}.example.org", "a".repeat(64));
        let huge = "x.".repeat(5000);
        for bad in [
            "",
            "-bad.example.org",
            "bad-.example.org",
            "two..dots.example",
            "with space.example",
            "[192.0.2]",
            "[192.0.2.256]",
            "[IPv6:2001:db8::g]",
            "[2001:db8::1]",
            "[tag:content]",
            "[]",
            "[",
            "caf\u{e9}.example",
            "a@b.example",
            long.as_str(),
            huge.as_str(),
        ] {
            assert_eq!(rules(bad), one("HELO_SYNTAX", HELO_SYNTAX), "{bad:?}");
        }
    }

    #[test]
    fn bare_addresses() {
        assert_eq!(rules("192.0.2.1"), one("HELO_BARE_IP", HELO_BARE_IP));
        assert_eq!(rules("2001:db8::1"), one("HELO_BARE_IP", HELO_BARE_IP));
        // A bare address of ours is also forged.
        assert_eq!(
            rules("203.0.113.5"),
            vec![
                ("HELO_BARE_IP".to_string(), HELO_BARE_IP),
                ("HELO_FORGED".to_string(), HELO_FORGED)
            ]
        );
    }

    #[test]
    fn dotless_names() {
        assert_eq!(rules("WORKSTATION"), one("HELO_NO_DOT", HELO_NO_DOT));
        assert_eq!(rules("localhost"), one("HELO_NO_DOT", HELO_NO_DOT));
    }

    #[test]
    fn claiming_to_be_us_is_forged() {
        for forged in [
            "mx.example.net",
            "MX.EXAMPLE.NET.",
            "example.net",
            "other.example",
            "[203.0.113.5]",
            "[IPv6:2001:db8::5]",
        ] {
            assert_eq!(rules(forged), one("HELO_FORGED", HELO_FORGED), "{forged}");
        }
        // A name under our domain is not a claim to be us.
        assert!(rules("pc1.example.net").is_empty());
    }

    #[test]
    fn our_own_addresses_may_name_us() {
        for peer in [
            "127.0.0.1",
            "::1",
            "203.0.113.5",
            "::ffff:203.0.113.5",
            "2001:db8::5",
        ] {
            assert!(rules_from(peer, "mx.example.net").is_empty(), "{peer}");
            assert!(rules_from(peer, "[203.0.113.5]").is_empty(), "{peer}");
        }
    }

    #[test]
    fn no_helo_no_verdict() {
        let cx = Context::new(
            "198.51.100.7".parse().unwrap(),
            "mx",
            vec![],
            Arc::new(StaticResolver::new()),
            0,
        );
        assert!(smol::block_on(HeloCheck.helo(&cx)).is_empty());
    }
}
