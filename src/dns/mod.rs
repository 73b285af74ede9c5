//! DNS: the resolver trait shared by outbound delivery and antispam, and its
//! answer types.
//!
//! Everything here is pure: no sockets and no clock reads. The stub resolver
//! that talks to name servers is [`crate::net::dns::StubResolver`]; it uses
//! the pieces of this module:
//! - [`message`]: building queries and reading replies (hickory-proto does the
//!   wire format);
//! - [`chase`]: following CNAME chains (RFC 1034 §3.6.2);
//! - [`cache`]: the answer cache, with TTLs and negative caching (RFC 2308);
//! - [`resolv_conf`]: reading `/etc/resolv.conf`;
//! - [`static_resolver`]: canned answers, for testing code that uses DNS.
//!
//! Names are given and returned as lowercase ASCII without the trailing dot
//! (`mx.example.com`); callers convert internationalised names to A-labels
//! first.

pub mod cache;
pub mod chase;
pub mod message;
pub mod resolv_conf;
pub mod static_resolver;

pub use static_resolver::StaticResolver;

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;

/// A boxed future returned by [`Resolver`] methods, usable from smol tasks.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The record types facteur asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    /// IPv4 address (RFC 1035 §3.4.1).
    A,
    /// IPv6 address (RFC 3596 §2.1).
    Aaaa,
    /// Mail exchanger (RFC 1035 §3.3.9).
    Mx,
    /// Text strings (RFC 1035 §3.3.14): SPF, DKIM keys, DMARC.
    Txt,
    /// Domain name pointer (RFC 1035 §3.3.12), for reverse lookups.
    Ptr,
}

impl RecordType {
    /// The name used in zone files and logs (`"AAAA"`).
    pub fn name(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
            RecordType::Ptr => "PTR",
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The data of one answer record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A mail exchanger. A null MX (RFC 7505: the domain accepts no mail)
    /// has preference 0 and the empty exchange `""` (the root).
    Mx {
        /// Lower is tried first (RFC 5321 §5.1).
        preference: u16,
        /// The host name, lowercase, without the trailing dot.
        exchange: String,
    },
    /// One TXT record: its character-strings, each at most 255 bytes, kept
    /// apart as received. [`join_txt`] gives the text most users want.
    Txt(Vec<Vec<u8>>),
    /// The host name of a reverse name, lowercase, without the trailing dot.
    Ptr(String),
}

impl RecordData {
    /// The type of this record.
    pub fn record_type(&self) -> RecordType {
        match self {
            RecordData::A(_) => RecordType::A,
            RecordData::Aaaa(_) => RecordType::Aaaa,
            RecordData::Mx { .. } => RecordType::Mx,
            RecordData::Txt(_) => RecordType::Txt,
            RecordData::Ptr(_) => RecordType::Ptr,
        }
    }

    /// A rough count of the heap and inline bytes this record holds, for
    /// the cache's per-entry size limit.
    pub fn size_estimate(&self) -> usize {
        let inline = std::mem::size_of::<RecordData>();
        inline
            + match self {
                RecordData::A(_) | RecordData::Aaaa(_) => 0,
                RecordData::Mx { exchange, .. } => exchange.len(),
                RecordData::Txt(strings) => strings
                    .iter()
                    .map(|s| s.len() + std::mem::size_of::<Vec<u8>>())
                    .sum(),
                RecordData::Ptr(host) => host.len(),
            }
    }
}

/// Concatenates the character-strings of one TXT record, as SPF (RFC 7208
/// §3.3) and DKIM (RFC 6376 §3.6.2.2) read them: with nothing in between.
pub fn join_txt(strings: &[Vec<u8>]) -> Vec<u8> {
    strings.concat()
}

/// Why a lookup gave no answer. An existing name with no records of the
/// type asked (NODATA) is not an error: it is `Ok` with no records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// The name does not exist (NXDOMAIN, RFC 1035 §4.1.1 RCODE 3; RFC
    /// 8020: nothing exists below it either). Names that cannot be written
    /// in DNS at all (an empty label, a label over 63 bytes, a space) are
    /// reported this way too, without asking a server.
    NxDomain,
    /// No answer now; asking later may work: timeout, SERVFAIL, REFUSED,
    /// network error, CNAME loop.
    Temporary(String),
    /// A server answered with something that could not be read.
    Malformed(String),
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::NxDomain => f.write_str("no such domain"),
            DnsError::Temporary(why) => write!(f, "temporary DNS failure: {why}"),
            DnsError::Malformed(why) => write!(f, "malformed DNS answer: {why}"),
        }
    }
}

impl std::error::Error for DnsError {}

/// One mail exchanger, as returned by [`Resolver::mx`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mx {
    /// Lower is tried first (RFC 5321 §5.1).
    pub preference: u16,
    /// The host name, lowercase, without the trailing dot; `""` for a null
    /// MX.
    pub exchange: String,
}

impl Mx {
    /// Whether this is a null MX (RFC 7505 §3: exchange ".", the domain
    /// accepts no mail).
    pub fn is_null(&self) -> bool {
        self.exchange.is_empty()
    }
}

/// A DNS resolver, shared by outbound delivery and antispam. Object safe:
/// hold it as `Arc<dyn Resolver>`.
///
/// `query` follows CNAME chains and returns the records of the type asked
/// at the end of the chain. The provided methods build on it.
pub trait Resolver: Send + Sync {
    /// The records of type `rtype` at `name` (any case, trailing dot or
    /// not). `Ok(vec![])` is NODATA: the name exists without such records.
    fn query<'a>(
        &'a self,
        name: &'a str,
        rtype: RecordType,
    ) -> BoxFuture<'a, Result<Vec<RecordData>, DnsError>>;

    /// The mail exchangers of a domain, lowest preference first; those of
    /// equal preference are shuffled (RFC 5321 §5.1: "randomize them to
    /// spread the load"). An empty list means the domain has no MX records
    /// (then RFC 5321 §5.1 says to use its address records: that is the
    /// caller's policy). A null MX is returned as is ([`Mx::is_null`]).
    fn mx<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<Mx>, DnsError>> {
        Box::pin(async move {
            let records = self.query(name, RecordType::Mx).await?;
            let mut list: Vec<Mx> = records
                .into_iter()
                .filter_map(|r| match r {
                    RecordData::Mx {
                        preference,
                        exchange,
                    } => Some(Mx {
                        preference,
                        exchange,
                    }),
                    _ => None,
                })
                .collect();
            sort_mx(&mut list, &mut random_u32);
            Ok(list)
        })
    }

    /// The IPv4 then IPv6 addresses of a host, asked for in parallel. Any
    /// address found is returned even if the other lookup failed; otherwise
    /// NXDOMAIN wins over a temporary failure, which wins over a malformed
    /// answer; `Ok(vec![])` when the name exists without addresses.
    fn ip_addrs<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<IpAddr>, DnsError>> {
        Box::pin(async move {
            let (v4, v6) = smol::future::zip(
                self.query(name, RecordType::A),
                self.query(name, RecordType::Aaaa),
            )
            .await;
            merge_addrs(v4, v6)
        })
    }

    /// The TXT records at a name, each with its character-strings joined
    /// ([`join_txt`]). Use [`Resolver::query`] to see the strings apart.
    fn txt<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Vec<Vec<u8>>, DnsError>> {
        Box::pin(async move {
            let records = self.query(name, RecordType::Txt).await?;
            Ok(records
                .into_iter()
                .filter_map(|r| match r {
                    RecordData::Txt(strings) => Some(join_txt(&strings)),
                    _ => None,
                })
                .collect())
        })
    }

    /// The host names an address points back to (RFC 1035 §3.5, RFC 3596
    /// §2.5): a PTR lookup of [`reverse_name`].
    fn ptr<'a>(&'a self, ip: IpAddr) -> BoxFuture<'a, Result<Vec<String>, DnsError>> {
        Box::pin(async move {
            let name = reverse_name(ip);
            let records = self.query(&name, RecordType::Ptr).await?;
            Ok(records
                .into_iter()
                .filter_map(|r| match r {
                    RecordData::Ptr(host) => Some(host),
                    _ => None,
                })
                .collect())
        })
    }
}

/// The name to look up for the PTR of an address: `d.c.b.a.in-addr.arpa`
/// (RFC 1035 §3.5) or the 32 reversed nibbles under `ip6.arpa` (RFC 3596
/// §2.5). No trailing dot.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            // 32 nibbles of "x." plus "ip6.arpa".
            let mut s = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// Lowercases a name and drops one trailing dot: the form names are
/// compared and returned in.
pub fn normalize_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Sorts mail exchangers by preference and shuffles each run of equal
/// preference with `random` (RFC 5321 §5.1).
pub fn sort_mx(list: &mut [Mx], random: &mut dyn FnMut() -> u32) {
    list.sort_by_key(|m| m.preference);
    let mut start = 0;
    while start < list.len() {
        let pref = list.get(start).map(|m| m.preference);
        let end = list
            .iter()
            .skip(start)
            .position(|m| Some(m.preference) != pref)
            .map_or(list.len(), |n| start + n);
        if let Some(run) = list.get_mut(start..end) {
            // Fisher-Yates; the modulo bias is irrelevant for a handful.
            for i in (1..run.len()).rev() {
                let j = (random() as usize) % (i + 1);
                run.swap(i, j);
            }
        }
        start = end;
    }
}

/// A random number from the system's generator (ring); 0 if it fails,
/// which only makes the shuffle a no-op.
pub fn random_u32() -> u32 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 4];
    match ring::rand::SystemRandom::new().fill(&mut b) {
        Ok(()) => u32::from_ne_bytes(b),
        Err(_) => 0,
    }
}

/// Combines an A and an AAAA lookup (see [`Resolver::ip_addrs`]).
pub fn merge_addrs(
    v4: Result<Vec<RecordData>, DnsError>,
    v6: Result<Vec<RecordData>, DnsError>,
) -> Result<Vec<IpAddr>, DnsError> {
    let mut addrs = Vec::new();
    let mut errors = Vec::new();
    for result in [v4, v6] {
        match result {
            Ok(records) => addrs.extend(records.into_iter().filter_map(|r| match r {
                RecordData::A(ip) => Some(IpAddr::V4(ip)),
                RecordData::Aaaa(ip) => Some(IpAddr::V6(ip)),
                _ => None,
            })),
            Err(e) => errors.push(e),
        }
    }
    if !addrs.is_empty() {
        return Ok(addrs);
    }
    let rank = |e: &DnsError| match e {
        DnsError::NxDomain => 0,
        DnsError::Temporary(_) => 1,
        DnsError::Malformed(_) => 2,
    };
    match errors.into_iter().min_by_key(rank) {
        Some(e) => Err(e),
        None => Ok(addrs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.5".parse().unwrap()),
            "5.2.0.192.in-addr.arpa"
        );
        // RFC 3596 §2.5's example address.
        assert_eq!(
            reverse_name("4321:0:1:2:3:4:567:89ab".parse().unwrap()),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa"
        );
        assert_eq!(
            reverse_name("::1".parse().unwrap()),
            format!("1.{}ip6.arpa", "0.".repeat(31))
        );
    }

    #[test]
    fn txt_strings_join_without_separator() {
        assert_eq!(
            join_txt(&[b"v=spf1 ".to_vec(), b"-all".to_vec()]),
            b"v=spf1 -all"
        );
        assert_eq!(join_txt(&[]), b"");
    }

    fn mx(p: u16, h: &str) -> Mx {
        Mx {
            preference: p,
            exchange: h.into(),
        }
    }

    #[test]
    fn mx_sorted_by_preference_with_ties_shuffled() {
        let input = vec![
            mx(20, "c"),
            mx(10, "a"),
            mx(30, "e"),
            mx(10, "b"),
            mx(20, "d"),
        ];
        let mut seen_orders = std::collections::HashSet::new();
        let mut counter = 0u32;
        for _ in 0..50 {
            let mut list = input.clone();
            let mut rnd = || {
                counter = counter.wrapping_mul(1_103_515_245).wrapping_add(12345);
                counter >> 8
            };
            sort_mx(&mut list, &mut rnd);
            let prefs: Vec<u16> = list.iter().map(|m| m.preference).collect();
            assert_eq!(prefs, [10, 10, 20, 20, 30]);
            let mut firsts: Vec<&str> = list[..2].iter().map(|m| &m.exchange[..]).collect();
            seen_orders.insert(firsts.join(","));
            firsts.sort();
            assert_eq!(firsts, ["a", "b"]);
            assert_eq!(list[4].exchange, "e");
        }
        assert_eq!(seen_orders.len(), 2, "ties are shuffled");
    }

    #[test]
    fn merge_addrs_precedence() {
        let a = || Ok(vec![RecordData::A("192.0.2.1".parse().unwrap())]);
        let aaaa = || Ok(vec![RecordData::Aaaa("2001:db8::1".parse().unwrap())]);
        let tmp = || Err(DnsError::Temporary("t".into()));
        let bad = || Err(DnsError::Malformed("m".into()));
        let ips = |v: &[&str]| -> Vec<IpAddr> { v.iter().map(|s| s.parse().unwrap()).collect() };

        assert_eq!(
            merge_addrs(a(), aaaa()).unwrap(),
            ips(&["192.0.2.1", "2001:db8::1"])
        );
        assert_eq!(merge_addrs(a(), tmp()).unwrap(), ips(&["192.0.2.1"]));
        assert_eq!(merge_addrs(bad(), aaaa()).unwrap(), ips(&["2001:db8::1"]));
        assert_eq!(merge_addrs(Ok(vec![]), Ok(vec![])), Ok(vec![]));
        assert_eq!(
            merge_addrs(Err(DnsError::NxDomain), tmp()),
            Err(DnsError::NxDomain)
        );
        assert_eq!(
            merge_addrs(bad(), tmp()),
            Err(DnsError::Temporary("t".into()))
        );
        assert_eq!(
            merge_addrs(Ok(vec![]), bad()),
            Err(DnsError::Malformed("m".into()))
        );
    }

    #[test]
    fn normalize() {
        assert_eq!(normalize_name("MX.Example.COM."), "mx.example.com");
        assert_eq!(normalize_name("a.b"), "a.b");
        assert_eq!(normalize_name("."), "");
    }

    #[test]
    fn provided_methods_over_static_resolver() {
        let mut r = StaticResolver::new();
        r.add(
            "example.com",
            RecordData::Mx {
                preference: 20,
                exchange: "b.example.com".into(),
            },
        )
        .add(
            "example.com",
            RecordData::Mx {
                preference: 10,
                exchange: "a.example.com".into(),
            },
        )
        .add(
            "example.com",
            RecordData::Txt(vec![b"v=spf1 ".to_vec(), b"-all".to_vec()]),
        )
        .add("a.example.com", RecordData::A("192.0.2.1".parse().unwrap()))
        .add(
            "a.example.com",
            RecordData::Aaaa("2001:db8::1".parse().unwrap()),
        )
        .add(
            "1.2.0.192.in-addr.arpa",
            RecordData::Ptr("a.example.com".into()),
        );
        let r: &dyn Resolver = &r;
        smol::block_on(async {
            let got = r.mx("Example.com.").await.unwrap();
            assert_eq!(got, [mx(10, "a.example.com"), mx(20, "b.example.com")]);
            assert_eq!(
                r.txt("example.com").await.unwrap(),
                [b"v=spf1 -all".to_vec()]
            );
            assert_eq!(
                r.ip_addrs("a.example.com").await.unwrap(),
                [
                    "192.0.2.1".parse::<IpAddr>().unwrap(),
                    "2001:db8::1".parse().unwrap()
                ]
            );
            assert_eq!(
                r.ptr("192.0.2.1".parse().unwrap()).await.unwrap(),
                ["a.example.com"]
            );
            assert_eq!(r.ip_addrs("nowhere.example").await, Err(DnsError::NxDomain));
            assert_eq!(r.mx("a.example.com").await, Ok(vec![]));
        });
    }
}
