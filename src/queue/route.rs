//! Where mail for a domain goes (RFC 5321 §5.1, RFC 7505).

use crate::dns::{DnsError, Resolver};

/// Why a domain cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// Give up: the text starts with an RFC 3463 status code.
    Permanent(String),
    /// Try again later.
    Temporary(String),
}

/// The hosts to try for `domain`, best first: its MX hosts by preference
/// (equal ones shuffled by the resolver), or the domain itself when it has
/// no MX records (the implicit MX, RFC 5321 §5.1). A null MX (RFC 7505)
/// and a domain that does not exist fail permanently, at once.
pub async fn mx_hosts(
    resolver: &dyn Resolver,
    domain: &str,
    our_hostname: &str,
) -> Result<Vec<String>, RouteError> {
    let list = match resolver.mx(domain).await {
        Ok(list) => list,
        Err(DnsError::NxDomain) => {
            return Err(RouteError::Permanent(format!(
                "5.1.2 domain {domain} does not exist (DNS NXDOMAIN)"
            )))
        }
        Err(e) => {
            return Err(RouteError::Temporary(format!(
                "MX lookup for {domain} failed: {e}"
            )))
        }
    };
    if list.is_empty() {
        // RFC 5321 §5.1: no MX records, so the domain itself is the
        // implicit MX, if it has an address.
        return match resolver.ip_addrs(domain).await {
            Ok(a) if !a.is_empty() => Ok(vec![domain.to_ascii_lowercase()]),
            Ok(_) => Err(RouteError::Permanent(format!(
                "5.1.2 domain {domain} has no MX or address records"
            ))),
            Err(DnsError::NxDomain) => Err(RouteError::Permanent(format!(
                "5.1.2 domain {domain} does not exist (DNS NXDOMAIN)"
            ))),
            Err(e) => Err(RouteError::Temporary(format!(
                "address lookup for {domain} failed: {e}"
            ))),
        };
    }
    // RFC 7505 §3: a null MX says the domain takes no mail; §4.2 asks for
    // the 5.1.10 status. A null MX mixed with real ones is a broken record
    // set: the real ones are used.
    let hosts: Vec<String> = list
        .iter()
        .filter(|m| !m.is_null())
        .map(|m| m.exchange.clone())
        .collect();
    if hosts.is_empty() {
        return Err(RouteError::Permanent(format!(
            "5.1.10 domain {domain} accepts no mail (null MX, RFC 7505)"
        )));
    }
    // RFC 5321 §5.1: when we are one of the MX hosts, only better ones may
    // be used; we hold no mail for the domain, so the list ends before us.
    let ours = our_hostname.to_ascii_lowercase();
    let hosts: Vec<String> = hosts.into_iter().take_while(|h| *h != ours).collect();
    if hosts.is_empty() {
        return Err(RouteError::Permanent(format!(
            "5.4.6 mail for {domain} loops back to this host ({ours} is its MX)"
        )));
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{RecordData, RecordType, StaticResolver};

    fn mx(r: &mut StaticResolver, name: &str, preference: u16, exchange: &str) {
        r.add(
            name,
            RecordData::Mx {
                preference,
                exchange: exchange.into(),
            },
        );
    }

    fn route(r: &StaticResolver, domain: &str) -> Result<Vec<String>, RouteError> {
        smol::block_on(mx_hosts(r, domain, "mail.example.test"))
    }

    #[test]
    fn mx_hosts_come_by_preference() {
        let mut r = StaticResolver::new();
        mx(&mut r, "a.test", 20, "backup.a.test");
        mx(&mut r, "a.test", 10, "main.a.test");
        assert_eq!(
            route(&r, "a.test").unwrap(),
            ["main.a.test", "backup.a.test"]
        );
    }

    #[test]
    fn no_mx_means_the_implicit_mx_if_the_domain_has_an_address() {
        let mut r = StaticResolver::new();
        r.add("b.test", RecordData::A("192.0.2.1".parse().unwrap()));
        assert_eq!(route(&r, "B.test").unwrap(), ["b.test"]);
        r.nodata("c.test");
        assert!(
            matches!(route(&r, "c.test"), Err(RouteError::Permanent(e)) if e.starts_with("5.1.2"))
        );
    }

    #[test]
    fn null_mx_and_nxdomain_fail_at_once_and_dns_trouble_waits() {
        let mut r = StaticResolver::new();
        mx(&mut r, "null.test", 0, "");
        assert!(
            matches!(route(&r, "null.test"), Err(RouteError::Permanent(e)) if e.starts_with("5.1.10"))
        );
        assert!(
            matches!(route(&r, "nowhere.test"), Err(RouteError::Permanent(e)) if e.starts_with("5.1.2"))
        );
        r.fail(
            "flaky.test",
            RecordType::Mx,
            DnsError::Temporary("timeout".into()),
        );
        assert!(
            matches!(route(&r, "flaky.test"), Err(RouteError::Temporary(e)) if e.contains("timeout"))
        );
        r.fail_all("bad.test", DnsError::Malformed("junk".into()));
        assert!(matches!(
            route(&r, "bad.test"),
            Err(RouteError::Temporary(_))
        ));
    }

    #[test]
    fn a_null_mx_among_real_ones_is_ignored_and_we_are_never_our_own_next_hop() {
        let mut r = StaticResolver::new();
        mx(&mut r, "mixed.test", 0, "");
        mx(&mut r, "mixed.test", 10, "mx.mixed.test");
        assert_eq!(route(&r, "mixed.test").unwrap(), ["mx.mixed.test"]);
        mx(&mut r, "loop.test", 10, "mail.example.test");
        assert!(
            matches!(route(&r, "loop.test"), Err(RouteError::Permanent(e)) if e.starts_with("5.4.6"))
        );
        mx(&mut r, "backup.test", 5, "primary.backup.test");
        mx(&mut r, "backup.test", 10, "mail.example.test");
        mx(&mut r, "backup.test", 20, "worse.backup.test");
        assert_eq!(route(&r, "backup.test").unwrap(), ["primary.backup.test"]);
    }
}
