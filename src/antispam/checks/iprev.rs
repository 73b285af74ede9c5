//! iprev: forward-confirmed reverse DNS of the client (RFC 8601 §3).
//!
//! The client's address is looked up as a PTR name; the names found are
//! looked up for addresses; the check passes when one of them maps back to
//! the client. The result goes into `cx.facts().iprev` for the
//! `Authentication-Results` field, and scores:
//!
//! | result      | when (RFC 8601 §3)                                  | rule            | score |
//! |-------------|-----------------------------------------------------|-----------------|-------|
//! | `pass`      | a name maps back to the client                      | -               | 0     |
//! | `permerror` | no PTR data (NXDOMAIN or no answer)                 | `RDNS_NONE`     | +1.0  |
//! | `fail`      | names found, none maps back (NXDOMAIN, no address, another address) | `RDNS_MISMATCH` | +0.5  |
//! | `temperror` | a lookup failed for now (timeout, SERVFAIL)         | `RDNS_TEMPERROR`| 0     |

use super::{is_host_name, join_all, shown};
use crate::antispam::{Check, Context, Iprev, Verdict};
use crate::dns::{normalize_name, BoxFuture, DnsError};
use std::net::IpAddr;

/// Most PTR names whose addresses are looked up. RFC 8601 §3 sets no
/// number; this is the limit RFC 7208 §4.6.4 puts on SPF's `ptr`, and it
/// bounds the DNS work a client's reverse zone can cause.
pub const MAX_NAMES: usize = 10;

/// Score of a client without reverse DNS.
pub const RDNS_NONE: f32 = 1.0;
/// Score of a reverse name that does not map back to the client.
pub const RDNS_MISMATCH: f32 = 0.5;

/// The iprev check, at connection.
#[derive(Debug, Clone, Default)]
pub struct IprevCheck;

impl IprevCheck {
    /// The check (it has no settings).
    pub fn new() -> IprevCheck {
        IprevCheck
    }
}

impl Check for IprevCheck {
    fn name(&self) -> &'static str {
        "iprev"
    }

    fn connect<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
        Box::pin(async move {
            let peer = cx.peer.to_canonical();
            let iprev = evaluate(cx, peer).await;
            let verdict = match iprev.result {
                "permerror" => Some(Verdict::score(
                    "RDNS_NONE",
                    RDNS_NONE,
                    format!("no reverse DNS for {peer}"),
                )),
                "fail" => Some(Verdict::score(
                    "RDNS_MISMATCH",
                    RDNS_MISMATCH,
                    match &iprev.name {
                        Some(n) => format!("{n} does not resolve to {peer}"),
                        None => format!("no valid reverse name for {peer}"),
                    },
                )),
                "temperror" => Some(Verdict::score(
                    "RDNS_TEMPERROR",
                    0.0,
                    format!("reverse DNS of {peer} failed for now"),
                )),
                _ => None,
            };
            cx.facts().iprev = Some(iprev);
            verdict.into_iter().collect()
        })
    }
}

/// The iprev result for `peer` (RFC 8601 §3).
async fn evaluate(cx: &Context, peer: IpAddr) -> Iprev {
    let names = match cx.resolver.ptr(peer).await {
        // §3: "permerror: ... no PTR data are published for the connecting
        // IP address, e.g., ... NXDOMAIN, or an RCODE of 0 (NOERROR) in a
        // reply containing no answers".
        Err(DnsError::NxDomain) => return result("permerror", None),
        Ok(names) if names.is_empty() => return result("permerror", None),
        // §3: "temperror: ... a temporary DNS error, e.g., a DNS RCODE of
        // 2, commonly known as SERVFAIL, or other error condition".
        Err(e) => {
            log::debug!("iprev: PTR of {peer}: {e}");
            return result("temperror", None);
        }
        Ok(names) => names,
    };
    // Garbage in a reverse zone (spaces, empty labels, an address written
    // as a name) is not looked up, and never recorded.
    let mut valid: Vec<String> = Vec::new();
    for n in names.iter().map(|n| normalize_name(n)) {
        if is_host_name(&n) && n.parse::<IpAddr>().is_err() && !valid.contains(&n) {
            valid.push(n);
        }
    }
    if valid.is_empty() {
        log::debug!(
            "iprev: no valid name among the PTR records of {peer}: {}",
            shown(&names.join(" "), 200)
        );
        return result("fail", None);
    }
    valid.truncate(MAX_NAMES);
    let lookups: Vec<BoxFuture<'_, Result<Vec<IpAddr>, DnsError>>> =
        valid.iter().map(|n| cx.resolver.ip_addrs(n)).collect();
    let answers = join_all(lookups).await;
    let mut temporary = false;
    for (name, answer) in valid.iter().zip(&answers) {
        match answer {
            Ok(addrs) if addrs.iter().any(|a| a.to_canonical() == peer) => {
                return result("pass", Some(name.clone()));
            }
            Ok(_) | Err(DnsError::NxDomain) => {}
            Err(_) => temporary = true,
        }
    }
    let first = valid.into_iter().next();
    if temporary {
        result("temperror", first)
    } else {
        // §3: "fail: ... the 'reverse' and 'forward' lookups each produced
        // results, but they were not in agreement, or the 'forward' query
        // completed but produced no result".
        result("fail", first)
    }
}

fn result(result: &'static str, name: Option<String>) -> Iprev {
    Iprev { result, name }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{RecordData, RecordType, StaticResolver};
    use std::sync::Arc;

    fn run(dns: StaticResolver, peer: &str) -> (Vec<Verdict>, Option<Iprev>) {
        let cx = Context::new(
            peer.parse().unwrap(),
            "mx.example.net",
            vec!["example.net".into()],
            Arc::new(dns),
            1_000_000,
        );
        let verdicts = smol::block_on(IprevCheck::new().connect(&cx));
        let iprev = cx.facts().iprev.clone();
        (verdicts, iprev)
    }

    fn rules(v: &[Verdict]) -> Vec<(&str, f32)> {
        v.iter().map(|v| (v.rule.as_str(), v.score)).collect()
    }

    fn a(ip: &str) -> RecordData {
        RecordData::A(ip.parse().unwrap())
    }

    fn ptr(name: &str) -> RecordData {
        RecordData::Ptr(name.into())
    }

    #[test]
    fn confirmed_name_passes() {
        let mut dns = StaticResolver::new();
        dns.add("7.100.51.198.in-addr.arpa", ptr("other.example.org"))
            .add("7.100.51.198.in-addr.arpa", ptr("Mail.Example.org."))
            .add("other.example.org", a("192.0.2.1"))
            .add("mail.example.org", a("198.51.100.7"));
        let (v, iprev) = run(dns, "198.51.100.7");
        assert!(v.is_empty(), "{v:?}");
        assert_eq!(
            iprev,
            Some(Iprev {
                result: "pass",
                name: Some("mail.example.org".into())
            })
        );
    }

    #[test]
    fn ipv6_and_mapped_ipv4_clients() {
        let mut dns = StaticResolver::new();
        let rev = crate::dns::reverse_name("2001:db8::25".parse().unwrap());
        dns.add(&rev, ptr("v6.example.org")).add(
            "v6.example.org",
            RecordData::Aaaa("2001:db8::25".parse().unwrap()),
        );
        dns.add("7.100.51.198.in-addr.arpa", ptr("v4.example.org"))
            .add("v4.example.org", a("198.51.100.7"));
        let dns = Arc::new(dns);
        for peer in ["2001:db8::25", "::ffff:198.51.100.7"] {
            let cx = Context::new(peer.parse().unwrap(), "mx", vec![], dns.clone(), 0);
            let v = smol::block_on(IprevCheck.connect(&cx));
            assert!(v.is_empty(), "{peer}: {v:?}");
            assert_eq!(cx.facts().iprev.as_ref().unwrap().result, "pass", "{peer}");
        }
    }

    #[test]
    fn no_ptr_is_permerror_and_scores_rdns_none() {
        let (v, iprev) = run(StaticResolver::new(), "198.51.100.7");
        assert_eq!(rules(&v), [("RDNS_NONE", RDNS_NONE)]);
        assert_eq!(iprev.unwrap().result, "permerror");

        let mut dns = StaticResolver::new();
        dns.nodata("7.100.51.198.in-addr.arpa");
        let (v, iprev) = run(dns, "198.51.100.7");
        assert_eq!(rules(&v), [("RDNS_NONE", RDNS_NONE)]);
        assert_eq!(iprev.unwrap().result, "permerror");
    }

    #[test]
    fn unconfirmed_names_fail() {
        // The name points elsewhere.
        let mut dns = StaticResolver::new();
        dns.add("7.100.51.198.in-addr.arpa", ptr("liar.example.org"))
            .add("liar.example.org", a("192.0.2.1"));
        let (v, iprev) = run(dns, "198.51.100.7");
        assert_eq!(rules(&v), [("RDNS_MISMATCH", RDNS_MISMATCH)]);
        assert_eq!(
            iprev,
            Some(Iprev {
                result: "fail",
                name: Some("liar.example.org".into())
            })
        );
        // The name does not exist.
        let mut dns = StaticResolver::new();
        dns.add("7.100.51.198.in-addr.arpa", ptr("gone.example.org"));
        let (v, iprev) = run(dns, "198.51.100.7");
        assert_eq!(rules(&v), [("RDNS_MISMATCH", RDNS_MISMATCH)]);
        assert_eq!(iprev.unwrap().result, "fail");
    }

    #[test]
    fn temporary_failures_are_temperror_without_score() {
        let mut dns = StaticResolver::new();
        dns.fail(
            "7.100.51.198.in-addr.arpa",
            RecordType::Ptr,
            DnsError::Temporary("SERVFAIL".into()),
        );
        let (v, iprev) = run(dns, "198.51.100.7");
        assert_eq!(rules(&v), [("RDNS_TEMPERROR", 0.0)]);
        assert_eq!(iprev.unwrap().result, "temperror");

        // The forward lookup times out for the only name.
        let mut dns = StaticResolver::new();
        dns.add("7.100.51.198.in-addr.arpa", ptr("slow.example.org"))
            .fail_all("slow.example.org", DnsError::Temporary("timeout".into()));
        let (v, iprev) = run(dns, "198.51.100.7");
        assert_eq!(rules(&v), [("RDNS_TEMPERROR", 0.0)]);
        assert_eq!(
            iprev,
            Some(Iprev {
                result: "temperror",
                name: Some("slow.example.org".into())
            })
        );

        // One name times out but another confirms: pass.
        let mut dns = StaticResolver::new();
        dns.add("7.100.51.198.in-addr.arpa", ptr("slow.example.org"))
            .add("7.100.51.198.in-addr.arpa", ptr("ok.example.org"))
            .fail_all("slow.example.org", DnsError::Temporary("timeout".into()))
            .add("ok.example.org", a("198.51.100.7"));
        let (v, iprev) = run(dns, "198.51.100.7");
        assert!(v.is_empty());
        assert_eq!(iprev.unwrap().result, "pass");
    }

    #[test]
    fn garbage_ptr_names_are_not_looked_up() {
        let mut dns = StaticResolver::new();
        let long = format!("{}.example.org", "a".repeat(70));
        for bad in [
            "bad name.example.org",
            "..",
            "198.51.100.7",
            "-x-.example.org",
            long.as_str(),
            "caf\u{e9}.example.org",
        ] {
            dns.add("7.100.51.198.in-addr.arpa", ptr(bad));
        }
        dns.add("198.51.100.7", a("198.51.100.7"));
        let dns = Arc::new(dns);
        let cx = Context::new(
            "198.51.100.7".parse().unwrap(),
            "mx",
            vec![],
            dns.clone(),
            0,
        );
        let v = smol::block_on(IprevCheck.connect(&cx));
        assert_eq!(rules(&v), [("RDNS_MISMATCH", RDNS_MISMATCH)]);
        assert_eq!(
            cx.facts().iprev,
            Some(Iprev {
                result: "fail",
                name: None
            })
        );
        // Only the PTR query was made.
        assert_eq!(dns.query_count(), 1, "{:?}", dns.queries());
    }

    #[test]
    fn at_most_ten_names_are_looked_up() {
        let mut dns = StaticResolver::new();
        for i in 0..30 {
            dns.add(
                "7.100.51.198.in-addr.arpa",
                ptr(&format!("h{i}.example.org")),
            );
        }
        // Only the 30th name would confirm.
        dns.add("h29.example.org", a("198.51.100.7"));
        let dns = Arc::new(dns);
        let cx = Context::new(
            "198.51.100.7".parse().unwrap(),
            "mx",
            vec![],
            dns.clone(),
            0,
        );
        let v = smol::block_on(IprevCheck.connect(&cx));
        assert_eq!(rules(&v), [("RDNS_MISMATCH", RDNS_MISMATCH)]);
        // One PTR query, then A and AAAA for ten names.
        assert_eq!(dns.query_count(), 1 + 2 * MAX_NAMES);
    }
}
