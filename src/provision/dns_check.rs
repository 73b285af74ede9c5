//! The live DNS check of a domain: what the records to publish
//! ([`super::records::domain_records`]) should be, next to what DNS
//! answers now through our resolver. Uses only the [`Resolver`] trait, so
//! it runs over the stub resolver in the server and over canned answers
//! in tests.

use crate::auth::records::{Kind, Record};
use crate::dns::{DnsError, Resolver};
use std::net::IpAddr;

/// One record checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was looked up, e.g. `MX example.com`.
    pub record: String,
    /// What should be there.
    pub expected: String,
    /// What DNS answered (values joined with `; `, or the lookup error).
    pub found: String,
    /// The answer is what is expected.
    pub ok: bool,
    /// Good to have, not needed for mail to flow (autoconfig names).
    pub informational: bool,
}

impl Check {
    /// Its verdict in a word: `ok`, `info` (not needed for mail) or
    /// `WRONG`.
    pub fn label(&self) -> &'static str {
        match (self.ok, self.informational) {
            (true, _) => "ok",
            (false, true) => "info",
            (false, false) => "WRONG",
        }
    }
}

/// Checks what DNS has for the `expected` records of a domain (those of
/// [`super::records::domain_records`]), and the PTR of
/// each address `host` resolves to (RFC 1912 §2.1: the reverse name should
/// give the host name back, which receivers check, RFC 8601 §3 iprev).
pub async fn dns_check(resolver: &dyn Resolver, host: &str, expected: &[Record]) -> Vec<Check> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let mut out = Vec::new();
    let host_addrs = resolver.ip_addrs(&host).await;
    for r in expected {
        let check = match r.kind {
            Kind::Mx => mx(resolver, r, &host).await,
            Kind::Txt => txt(resolver, r).await,
            Kind::Cname => same_addresses(resolver, r, &host, &host_addrs).await,
            // SRV lookups are not in our resolver (mail needs none).
            Kind::Srv => continue,
        };
        out.push(check);
    }
    match host_addrs {
        Ok(addrs) if !addrs.is_empty() => {
            for ip in addrs {
                out.push(ptr(resolver, ip, &host).await);
            }
        }
        other => out.push(Check {
            record: format!("A/AAAA {host}"),
            expected: "this server's addresses".into(),
            found: describe_empty(other.err()),
            ok: false,
            informational: false,
        }),
    }
    out
}

fn describe_empty(e: Option<DnsError>) -> String {
    match e {
        None => "no record".into(),
        Some(DnsError::NxDomain) => "no such name".into(),
        Some(e) => e.to_string(),
    }
}

async fn mx(resolver: &dyn Resolver, r: &Record, host: &str) -> Check {
    let (found, ok) = match resolver.mx(&r.name).await {
        Ok(list) if !list.is_empty() => {
            let ok = list.iter().any(|m| m.exchange == host);
            let found: Vec<String> = list
                .iter()
                .map(|m| format!("{} {}.", m.preference, m.exchange))
                .collect();
            (found.join("; "), ok)
        }
        Ok(_) => ("no record".into(), false),
        Err(e) => (describe_empty(Some(e)), false),
    };
    Check {
        record: format!("MX {}", r.name),
        expected: r.value.clone(),
        found,
        ok,
        informational: false,
    }
}

/// TXT records: SPF, DKIM and DMARC, told apart by their tag (RFC 7208
/// §4.5: exactly one SPF record; RFC 7489 §6.6.3: exactly one DMARC
/// record).
async fn txt(resolver: &dyn Resolver, r: &Record) -> Check {
    let (label, prefix) = if r.value.starts_with("v=spf1") {
        ("SPF", "v=spf1")
    } else if r.value.starts_with("v=DMARC1") {
        ("DMARC", "v=DMARC1")
    } else {
        ("DKIM", "v=DKIM1")
    };
    let found = resolver.txt(&r.name).await.map(|list| {
        list.into_iter()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .filter(|t| label == "DKIM" || t.starts_with(prefix))
            .collect::<Vec<String>>()
    });
    let (found, ok) = match found {
        Ok(list) if !list.is_empty() => {
            let ok = list.len() == 1
                && match label {
                    // The policy is the domain owner's choice.
                    "DMARC" => true,
                    "DKIM" => tag(&list[0], "p") == tag(&r.value, "p"),
                    // A template has the provider's include to fill in.
                    _ if r.template => list[0].split_whitespace().any(|t| t == "mx"),
                    _ => squash(&list[0]) == squash(&r.value),
                };
            (list.join("; "), ok)
        }
        Ok(_) => ("no record".into(), false),
        Err(e) => (describe_empty(Some(e)), false),
    };
    Check {
        record: format!("{label} {}", r.name),
        expected: r.value.clone(),
        found,
        ok,
        informational: false,
    }
}

/// The value of `name=` in a tag list (RFC 6376 §3.2), spaces removed.
fn tag(text: &str, name: &str) -> Option<String> {
    text.split(';').find_map(|t| {
        let (k, v) = t.split_once('=')?;
        (k.trim() == name).then(|| v.split_whitespace().collect())
    })
}

fn squash(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// A name that should lead to this host: its addresses (after any CNAME,
/// which the resolver follows) must be the host's.
async fn same_addresses(
    resolver: &dyn Resolver,
    r: &Record,
    host: &str,
    host_addrs: &Result<Vec<IpAddr>, DnsError>,
) -> Check {
    let (found, ok) = match resolver.ip_addrs(&r.name).await {
        Ok(list) if !list.is_empty() => {
            let ok = matches!(host_addrs, Ok(h) if !h.is_empty()
                && list.iter().all(|a| h.contains(a)));
            let found: Vec<String> = list.iter().map(IpAddr::to_string).collect();
            (found.join("; "), ok)
        }
        Ok(_) => ("no record".into(), false),
        Err(e) => (describe_empty(Some(e)), false),
    };
    Check {
        record: format!("{} {}", r.kind.name(), r.name),
        expected: format!("{} (the addresses of {host})", r.value),
        found,
        ok,
        informational: true,
    }
}

async fn ptr(resolver: &dyn Resolver, ip: IpAddr, host: &str) -> Check {
    let (found, ok) = match resolver.ptr(ip).await {
        Ok(list) if !list.is_empty() => {
            let ok = list.iter().any(|p| p == host);
            let found: Vec<String> = list.iter().map(|p| format!("{p}.")).collect();
            (found.join("; "), ok)
        }
        Ok(_) => ("no record".into(), false),
        Err(e) => (describe_empty(Some(e)), false),
    };
    Check {
        record: format!("PTR {ip}"),
        expected: format!("{host}."),
        found,
        ok,
        informational: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::records::{auth_records, DkimRecord, DomainSetup};
    use crate::dns::{RecordData, StaticResolver};

    fn expected() -> Vec<Record> {
        let dkim = [DkimRecord {
            selector: "s1".into(),
            text: "v=DKIM1; k=ed25519; p=KEY".into(),
        }];
        let mut r = auth_records(&DomainSetup {
            domain: "example.com",
            mx_host: "mail.example.com",
            relay_host: None,
            dkim: &dkim,
        });
        r.push(Record {
            name: "autoconfig.example.com".into(),
            kind: Kind::Cname,
            value: "mail.example.com.".into(),
            purpose: String::new(),
            template: false,
        });
        r
    }

    fn txt(s: &str) -> RecordData {
        RecordData::Txt(vec![s.as_bytes().to_vec()])
    }

    /// The zone, correct or with wrong MX, SPF, DKIM, autoconfig and PTR
    /// records.
    fn zone(wrong: bool, host_addr: bool) -> StaticResolver {
        let mut z = StaticResolver::new();
        let pick = |good: &'static str, bad: &'static str| if wrong { bad } else { good };
        z.add(
            "example.com",
            RecordData::Mx {
                preference: 10,
                exchange: pick("mail.example.com", "other.example.net").into(),
            },
        );
        if wrong {
            z.add("example.com", txt("v=spf1 a -all"));
        }
        z.add("example.com", txt("v=spf1 mx -all"));
        z.add("example.com", txt("google-site-verification=x"));
        let dkim = if wrong {
            RecordData::Txt(vec![b"v=DKIM1; k=ed25519; p=OLD".to_vec()])
        } else {
            RecordData::Txt(vec![b"v=DKIM1; k=ed25519; p=K".to_vec(), b"EY".to_vec()])
        };
        z.add("s1._domainkey.example.com", dkim);
        z.add("_dmarc.example.com", txt("v=DMARC1; p=reject"));
        if host_addr {
            z.add("mail.example.com", RecordData::A([192, 0, 2, 1].into()));
        } else {
            z.nodata("mail.example.com");
        }
        if !wrong {
            z.add(
                "autoconfig.example.com",
                RecordData::A([192, 0, 2, 1].into()),
            );
        }
        let ptr = pick("mail.example.com", "dsl-1.isp.example");
        z.add("1.2.0.192.in-addr.arpa", RecordData::Ptr(ptr.into()));
        z
    }

    fn run(z: &StaticResolver) -> Vec<Check> {
        smol::block_on(dns_check(z, "mail.example.com", &expected()))
    }

    #[test]
    fn a_correct_zone_passes() {
        let checks = run(&zone(false, true));
        let names: Vec<&str> = checks.iter().map(|c| c.record.as_str()).collect();
        assert_eq!(
            names,
            [
                "MX example.com",
                "SPF example.com",
                "DKIM s1._domainkey.example.com",
                "DMARC _dmarc.example.com",
                "CNAME autoconfig.example.com",
                "PTR 192.0.2.1"
            ]
        );
        assert!(checks.iter().all(|c| c.ok), "{checks:#?}");
        assert_eq!(checks[0].found, "10 mail.example.com.");
        assert_eq!(checks[5].expected, "mail.example.com.");
    }

    #[test]
    fn wrong_records_fail_one_by_one() {
        let checks = run(&zone(true, true));
        let ok: Vec<(&str, bool)> = checks.iter().map(|c| (c.record.as_str(), c.ok)).collect();
        assert_eq!(
            ok,
            [
                ("MX example.com", false),
                ("SPF example.com", false),
                ("DKIM s1._domainkey.example.com", false),
                ("DMARC _dmarc.example.com", true),
                ("CNAME autoconfig.example.com", false),
                ("PTR 192.0.2.1", false),
            ]
        );
        assert_eq!(checks[0].found, "10 other.example.net.");
        assert_eq!(checks[1].found, "v=spf1 a -all; v=spf1 mx -all");
        assert!(checks[4].informational);
        assert_eq!(checks[5].found, "dsl-1.isp.example.");
    }

    #[test]
    fn a_host_without_addresses_is_reported() {
        let checks = run(&zone(false, false));
        let last = checks.last().expect("checks");
        assert_eq!(last.record, "A/AAAA mail.example.com");
        assert!(!last.ok);
    }
}
