//! DNS block lists and allow lists (RFC 5782).
//!
//! Each configured list has a zone, a weight and a kind:
//! - `ip` lists are asked at connection about the client's address: its
//!   IPv4 octets reversed (§2.1) or its IPv6 address as 32 reversed nibbles
//!   (§2.4), followed by the zone;
//! - `domain` lists are asked at the end of DATA about the domains of the
//!   From field and of the envelope sender, followed by the zone (§2.3).
//!
//! A listed entry has A records in 127.0.0.0/8, from 127.0.0.2 up (§2.1,
//! §5: 127.0.0.1 is never an entry). Then the rule `DNSBL_<ZONE>` (zone in
//! capitals, dots as `_`) adds the list's weight, once per list and stage;
//! a negative weight makes the list an allow list (DNSWL). NXDOMAIN means
//! not listed (§2.1). These answers are errors, logged and not counted:
//! - 127.255.255.x: Spamhaus's "query refused" codes (public resolvers,
//!   over quota, bad query);
//! - 127.0.0.255: dnswl.org's "query refused";
//! - 127.0.0.0 and 127.0.0.1;
//! - anything outside 127.0.0.0/8: a resolver that rewrites NXDOMAIN
//!   into an advertising page, or a list that was shut down and now
//!   lists the whole internet.
//!
//! The reason given is the return code; the TXT record (§2.1) is not
//! fetched, as it would cost one more round trip under the stage's
//! deadline. All lookups of a stage run concurrently.

use super::{is_host_name, join_all, shown};
use crate::antispam::{Check, Context, Message, Verdict};
use crate::auth::dmarc;
use crate::config::{DnsList, DnsListKind};
use crate::dns::{reverse_name, BoxFuture, DnsError, RecordData, RecordType};
use std::net::{IpAddr, Ipv4Addr};

/// Most domains looked up per message in each `domain` list (the
/// distinct From domains and the envelope sender domain; a From field
/// listing hundreds of authors is cut).
pub const MAX_DOMAINS: usize = 4;

/// The DNSBL check. Build it from `antispam.dnsbl` and
/// `antispam.dnsbl_check_private`.
#[derive(Debug, Clone)]
pub struct DnsblCheck {
    lists: Vec<DnsList>,
    check_private: bool,
}

/// What one lookup said.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// Listed, with the return codes.
    Listed(Vec<Ipv4Addr>),
    /// Not listed, or an answer that does not count.
    NotListed,
}

impl DnsblCheck {
    /// A check over `lists`. With `check_private`, loopback and private
    /// client addresses are looked up too (tests against a local DNS
    /// server); otherwise they are skipped, as public lists know nothing
    /// of them.
    pub fn new(lists: Vec<DnsList>, check_private: bool) -> DnsblCheck {
        DnsblCheck {
            lists,
            check_private,
        }
    }

    fn lists(&self, kind: DnsListKind) -> impl Iterator<Item = &DnsList> {
        self.lists.iter().filter(move |l| l.kind == kind)
    }
}

/// The rule name of a list: `DNSBL_ZEN_SPAMHAUS_ORG`.
pub fn rule_name(zone: &str) -> String {
    let mut rule = String::from("DNSBL_");
    rule.extend(zone.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    rule
}

/// The name to look up for `ip` in `zone` (RFC 5782 §2.1, §2.4): the
/// reverse-DNS labels without `in-addr.arpa`/`ip6.arpa`.
pub fn ip_query_name(ip: IpAddr, zone: &str) -> String {
    let rev = reverse_name(ip.to_canonical());
    let labels = rev
        .strip_suffix("in-addr.arpa")
        .or_else(|| rev.strip_suffix("ip6.arpa"))
        .unwrap_or(&rev);
    format!("{labels}{zone}")
}

/// Whether an address is one public lists cannot know: loopback, private
/// (RFC 1918, RFC 4193 unique local), link-local, shared (RFC 6598),
/// unspecified or broadcast. Documentation ranges are not excluded.
fn is_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments().first().copied().unwrap_or(0);
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Reads the A records of a DNSxL lookup (RFC 5782 §2.1).
fn interpret(zone: &str, name: &str, answer: Result<Vec<RecordData>, DnsError>) -> Answer {
    let records = match answer {
        Ok(r) => r,
        // §2.1: a name that is not listed does not exist.
        Err(DnsError::NxDomain) => return Answer::NotListed,
        Err(e) => {
            log::debug!("dnsbl: {name}: {e}");
            return Answer::NotListed;
        }
    };
    let mut codes = Vec::new();
    for r in records {
        let RecordData::A(ip) = r else { continue };
        let octets = ip.octets();
        let [a, b, c, d] = octets;
        // §2.1: listed entries are 127.0.0.2 and up in 127.0.0.0/8.
        let in_range = a == 127 && octets >= [127, 0, 0, 2];
        let refused = (b, c) == (255, 255) || (b, c, d) == (0, 0, 255);
        if in_range && !refused {
            codes.push(ip);
        } else {
            log::warn!("dnsbl: {zone} answered {ip} for {name}: an error code, not a listing");
        }
    }
    if codes.is_empty() {
        Answer::NotListed
    } else {
        Answer::Listed(codes)
    }
}

fn codes_text(codes: &[Ipv4Addr]) -> String {
    codes
        .iter()
        .take(8)
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Check for DnsblCheck {
    fn name(&self) -> &'static str {
        "dnsbl"
    }

    fn for_trusted(&self) -> bool {
        false
    }

    fn connect<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
        Box::pin(async move {
            let peer = cx.peer.to_canonical();
            if is_private(peer) && !self.check_private {
                return Vec::new();
            }
            let lists: Vec<&DnsList> = self.lists(DnsListKind::Ip).collect();
            let names: Vec<String> = lists
                .iter()
                .map(|l| ip_query_name(peer, &l.zone.0))
                .collect();
            let lookups: Vec<BoxFuture<'_, _>> = names
                .iter()
                .map(|n| cx.resolver.query(n, RecordType::A))
                .collect();
            let answers = join_all(lookups).await;
            let mut out = Vec::new();
            for ((list, name), answer) in lists.iter().zip(&names).zip(answers) {
                if let Answer::Listed(codes) = interpret(&list.zone.0, name, answer) {
                    let weight = list.weight_of(&codes);
                    if weight != 0.0 {
                        out.push(Verdict::score(
                            rule_name(&list.zone.0),
                            weight,
                            format!("{peer} is listed in {} ({})", list.zone, codes_text(&codes)),
                        ));
                    }
                }
            }
            out
        })
    }

    fn data<'a>(&'a self, cx: &'a Context, msg: &'a Message<'a>) -> BoxFuture<'a, Vec<Verdict>> {
        Box::pin(async move {
            let lists: Vec<&DnsList> = self.lists(DnsListKind::Domain).collect();
            if lists.is_empty() {
                return Vec::new();
            }
            let domains = message_domains(cx, msg);
            // One lookup per (list, domain); §2.3: the domain is put
            // before the zone as it is.
            let mut queries: Vec<(usize, &str, String)> = Vec::new();
            for (i, list) in lists.iter().enumerate() {
                for d in &domains {
                    let name = format!("{d}.{}", list.zone);
                    if name.len() <= 253 {
                        queries.push((i, d, name));
                    }
                }
            }
            let lookups: Vec<BoxFuture<'_, _>> = queries
                .iter()
                .map(|(_, _, n)| cx.resolver.query(n, RecordType::A))
                .collect();
            let answers = join_all(lookups).await;
            let mut hit: Vec<Option<(f32, String)>> = vec![None; lists.len()];
            for ((i, domain, name), answer) in queries.iter().zip(answers) {
                let (Some(list), Some(slot)) = (lists.get(*i), hit.get_mut(*i)) else {
                    continue;
                };
                if let Answer::Listed(codes) = interpret(&list.zone.0, name, answer) {
                    let weight = list.weight_of(&codes);
                    if slot.is_none() && weight != 0.0 {
                        *slot = Some((
                            weight,
                            format!(
                                "{domain} is listed in {} ({})",
                                list.zone,
                                codes_text(&codes)
                            ),
                        ));
                    }
                }
            }
            lists
                .iter()
                .zip(hit)
                .filter_map(|(list, hit)| {
                    hit.map(|(weight, why)| Verdict::score(rule_name(&list.zone.0), weight, why))
                })
                .collect()
        })
    }
}

/// The domains a `domain` list is asked about: the envelope sender's,
/// then those of the From field; valid host names with a dot that are not
/// ours, each once, at most [`MAX_DOMAINS`].
fn message_domains(cx: &Context, msg: &Message<'_>) -> Vec<String> {
    let from_values = msg.field_values("From");
    let refs: Vec<&[u8]> = from_values.iter().map(|v| &v[..]).collect();
    let mut candidates: Vec<String> = cx.sender_domain().into_iter().collect();
    candidates.extend(dmarc::from_domains(&refs));
    let mut out: Vec<String> = Vec::new();
    for d in candidates {
        if out.len() >= MAX_DOMAINS {
            break;
        }
        let d = d.trim_end_matches('.').to_ascii_lowercase();
        if !is_host_name(&d) {
            if !d.is_empty() {
                log::debug!(
                    "dnsbl: not looking up the invalid domain {}",
                    shown(&d, 100)
                );
            }
            continue;
        }
        if d.contains('.') && !cx.is_local_domain(&d) && !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Hostname;
    use crate::dns::StaticResolver;
    use crate::mail::mime;
    use std::path::Path;
    use std::sync::Arc;

    fn list(zone: &str, weight: f32, kind: DnsListKind) -> DnsList {
        DnsList {
            zone: Hostname(zone.into()),
            weight,
            kind,
            codes: Default::default(),
        }
    }

    fn check() -> DnsblCheck {
        DnsblCheck::new(
            vec![
                list("bl.example", 3.5, DnsListKind::Ip),
                list("other.example", 2.0, DnsListKind::Ip),
                list("wl.example", -1.5, DnsListKind::Ip),
                list("dbl.example", 3.0, DnsListKind::Domain),
            ],
            false,
        )
    }

    fn a(ip: &str) -> RecordData {
        RecordData::A(ip.parse().unwrap())
    }

    fn context(dns: StaticResolver, peer: &str) -> (Context, Arc<StaticResolver>) {
        let dns = Arc::new(dns);
        let cx = Context::new(
            peer.parse().unwrap(),
            "mx.example.net",
            vec!["example.net".into()],
            dns.clone(),
            0,
        );
        (cx, dns)
    }

    fn rules(v: &[Verdict]) -> Vec<(&str, f32)> {
        v.iter().map(|v| (v.rule.as_str(), v.score)).collect()
    }

    #[test]
    fn query_names() {
        // RFC 5782 §2.1 and §2.4 examples.
        assert_eq!(
            ip_query_name("192.168.42.23".parse().unwrap(), "dnsxl.example.com"),
            "23.42.168.192.dnsxl.example.com"
        );
        assert_eq!(
            ip_query_name(
                "2001:db8:1:2:3:4:567:89ab".parse().unwrap(),
                "ugly.example.com"
            ),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com"
        );
        assert_eq!(
            ip_query_name("::ffff:192.0.2.1".parse().unwrap(), "bl.example"),
            "1.2.0.192.bl.example"
        );
        assert_eq!(rule_name("zen.spamhaus.org"), "DNSBL_ZEN_SPAMHAUS_ORG");
    }

    #[test]
    fn listed_ip_scores_each_list_once() {
        let mut dns = StaticResolver::new();
        dns.add("7.100.51.198.bl.example", a("127.0.0.2"))
            .add("7.100.51.198.bl.example", a("127.0.0.4"))
            .add("7.100.51.198.wl.example", a("127.0.10.1"));
        let (cx, dns) = context(dns, "198.51.100.7");
        let v = smol::block_on(check().connect(&cx));
        assert_eq!(
            rules(&v),
            [("DNSBL_BL_EXAMPLE", 3.5), ("DNSBL_WL_EXAMPLE", -1.5)]
        );
        assert!(
            v[0].reason.contains("127.0.0.2, 127.0.0.4"),
            "{}",
            v[0].reason
        );
        // One A query per ip list, none for the domain list.
        let mut q = dns.queries();
        q.sort();
        assert_eq!(
            q,
            [
                ("7.100.51.198.bl.example".to_string(), RecordType::A),
                ("7.100.51.198.other.example".to_string(), RecordType::A),
                ("7.100.51.198.wl.example".to_string(), RecordType::A),
            ]
        );
    }

    #[test]
    fn return_codes_weigh_what_the_list_says_they_mean() {
        let mut zen = list("bl.example", 3.5, DnsListKind::Ip);
        zen.codes = [
            (Ipv4Addr::new(127, 0, 0, 10), 1.5),
            (Ipv4Addr::new(127, 0, 0, 3), 0.0),
        ]
        .into();
        let mut dbl = list("dbl.example", 3.0, DnsListKind::Domain);
        dbl.codes = [(Ipv4Addr::new(127, 0, 1, 102), 1.0)].into();
        let check = DnsblCheck::new(vec![zen, dbl], false);
        // A PBL-like code alone weighs its own weight.
        let mut dns = StaticResolver::new();
        dns.add("7.100.51.198.bl.example", a("127.0.0.10"));
        let (cx, _) = context(dns, "198.51.100.7");
        let v = smol::block_on(check.connect(&cx));
        assert_eq!(rules(&v), [("DNSBL_BL_EXAMPLE", 1.5)]);
        // With a code of the list's own weight as well, the heavier counts.
        let mut dns = StaticResolver::new();
        dns.add("7.100.51.198.bl.example", a("127.0.0.10"))
            .add("7.100.51.198.bl.example", a("127.0.0.2"));
        let (cx, _) = context(dns, "198.51.100.7");
        let v = smol::block_on(check.connect(&cx));
        assert_eq!(rules(&v), [("DNSBL_BL_EXAMPLE", 3.5)]);
        // A code weighing 0 is ignored.
        let mut dns = StaticResolver::new();
        dns.add("7.100.51.198.bl.example", a("127.0.0.3"));
        let (cx, _) = context(dns, "198.51.100.7");
        assert!(smol::block_on(check.connect(&cx)).is_empty());
        // Domain lists too.
        let mut dns = StaticResolver::new();
        dns.add("spam.example.dbl.example", a("127.0.1.102"));
        let (mut cx, _) = context(dns, "198.51.100.7");
        cx.mail_from = Some("x@spam.example".into());
        let v = message_verdicts(&check, &cx, b"From: x@spam.example\r\n\r\n");
        assert_eq!(rules(&v), [("DNSBL_DBL_EXAMPLE", 1.0)]);
    }

    #[test]
    fn ipv6_client() {
        let mut dns = StaticResolver::new();
        let name = ip_query_name("2001:db8::25".parse().unwrap(), "other.example");
        dns.add(&name, a("127.0.0.2"));
        let (cx, _) = context(dns, "2001:db8::25");
        let v = smol::block_on(check().connect(&cx));
        assert_eq!(rules(&v), [("DNSBL_OTHER_EXAMPLE", 2.0)]);
    }

    #[test]
    fn error_codes_and_odd_answers_do_not_count() {
        let mut dns = StaticResolver::new();
        // Spamhaus: query from a public resolver.
        dns.add("7.100.51.198.bl.example", a("127.255.255.254"))
            // A resolver that turns NXDOMAIN into a web page.
            .add("7.100.51.198.other.example", a("192.0.2.80"))
            .add("7.100.51.198.other.example", a("127.0.0.1"))
            // dnswl.org: query refused.
            .add("7.100.51.198.wl.example", a("127.0.0.255"));
        let (cx, _) = context(dns, "198.51.100.7");
        assert!(smol::block_on(check().connect(&cx)).is_empty());

        // Failures and odd record types are not listings either.
        let mut dns = StaticResolver::new();
        dns.fail_all(
            "7.100.51.198.bl.example",
            DnsError::Temporary("SERVFAIL".into()),
        )
        .fail_all(
            "7.100.51.198.other.example",
            DnsError::Malformed("x".into()),
        )
        .cname("7.100.51.198.wl.example", "nowhere.example");
        let (cx, _) = context(dns, "198.51.100.7");
        assert!(smol::block_on(check().connect(&cx)).is_empty());
    }

    #[test]
    fn private_clients_are_skipped_unless_asked() {
        for peer in [
            "127.0.0.5",
            "10.1.2.3",
            "192.168.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "100.64.0.1",
        ] {
            let mut dns = StaticResolver::new();
            dns.add(
                &ip_query_name(peer.parse().unwrap(), "bl.example"),
                a("127.0.0.2"),
            );
            let (cx, dns) = context(dns, peer);
            assert!(smol::block_on(check().connect(&cx)).is_empty(), "{peer}");
            assert_eq!(dns.query_count(), 0, "{peer}");
        }
        let mut dns = StaticResolver::new();
        dns.add("5.0.0.127.bl.example", a("127.0.0.2"));
        let (cx, _) = context(dns, "127.0.0.5");
        let mut c = check();
        c.check_private = true;
        assert_eq!(
            rules(&smol::block_on(c.connect(&cx))),
            [("DNSBL_BL_EXAMPLE", 3.5)]
        );
    }

    fn message_verdicts(c: &DnsblCheck, cx: &Context, header: &[u8]) -> Vec<Verdict> {
        let structure = mime::parse(header);
        let msg = Message {
            header,
            structure: &structure,
            path: Path::new("/nonexistent"),
            size: header.len() as u64,
        };
        smol::block_on(c.data(cx, &msg))
    }

    #[test]
    fn listed_domains_at_data() {
        let mut dns = StaticResolver::new();
        dns.add("spam.example.org.dbl.example", a("127.0.1.2"));
        let (mut cx, dns) = context(dns, "198.51.100.7");
        cx.mail_from = Some("bounce@Spam.Example.ORG".into());
        // Listed as the envelope sender's domain.
        let v = message_verdicts(&check(), &cx, b"From: a@clean.example.org\r\n\r\n");
        assert_eq!(rules(&v), [("DNSBL_DBL_EXAMPLE", 3.0)]);
        assert!(
            v[0].reason.starts_with("spam.example.org"),
            "{}",
            v[0].reason
        );
        let mut q = dns.queries();
        q.sort();
        assert_eq!(
            q,
            [
                ("clean.example.org.dbl.example".to_string(), RecordType::A),
                ("spam.example.org.dbl.example".to_string(), RecordType::A),
            ]
        );
        // Listed as the From domain too: still one verdict.
        let v = message_verdicts(&check(), &cx, b"From: \"X\" <x@spam.example.org>\r\n\r\n");
        assert_eq!(rules(&v), [("DNSBL_DBL_EXAMPLE", 3.0)]);
        // The ip lists are not asked at DATA.
        assert!(dns
            .queries()
            .iter()
            .all(|(n, _)| n.ends_with(".dbl.example")));
    }

    #[test]
    fn domains_that_are_ours_invalid_or_too_many_are_skipped() {
        let (mut cx, dns) = context(StaticResolver::new(), "198.51.100.7");
        cx.mail_from = Some(String::new());
        let mut header = b"From: me@example.net, bad@[192.0.2.1], x@in valid, y@nodot".to_vec();
        for i in 0..100 {
            header.extend_from_slice(format!(", u{i}@d{i}.example").as_bytes());
        }
        header.extend_from_slice(b"\r\n\r\n");
        let v = message_verdicts(&check(), &cx, &header);
        assert!(v.is_empty());
        let q: Vec<String> = dns.queries().into_iter().map(|(n, _)| n).collect();
        assert_eq!(q.len(), MAX_DOMAINS, "{q:?}");
        assert!(q.iter().all(|n| n.starts_with('d')), "{q:?}");

        // The envelope sender's domain is always among those asked.
        let (mut cx, dns) = context(StaticResolver::new(), "198.51.100.7");
        cx.mail_from = Some("x@env.example".into());
        assert!(message_verdicts(&check(), &cx, &header).is_empty());
        let q: Vec<String> = dns.queries().into_iter().map(|(n, _)| n).collect();
        assert_eq!(q.len(), MAX_DOMAINS, "{q:?}");
        assert!(q.contains(&"env.example.dbl.example".to_string()), "{q:?}");

        // A domain so long that the query name would not fit.
        let (mut cx, dns) = context(StaticResolver::new(), "198.51.100.7");
        let long = format!(
            "{}.{}.{}.{}",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(60)
        );
        cx.mail_from = Some(format!("x@{long}"));
        assert!(message_verdicts(&check(), &cx, b"\r\n").is_empty());
        assert_eq!(dns.query_count(), 0);
    }
}
