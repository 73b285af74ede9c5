//! check_host() (RFC 7208 §4): the evaluation of a domain's record, with
//! its includes and redirects, under the processing limits of §4.6.4.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::Poll;

use super::macros::{MacroString, Place, Values};
use super::parse::{is_spf_record, parse_record, Mechanism, Qualifier};
use super::SpfResult;
use crate::dns::{BoxFuture, DnsError, RecordData, RecordType, Resolver};

/// Terms that query DNS, per evaluation (§4.6.4: "MUST limit the total
/// number of those terms to 10").
pub const MAX_DNS_TERMS: u32 = 10;
/// Void lookups per evaluation (§4.6.4: "SHOULD limit 'void lookups' to
/// two").
pub const MAX_VOID_LOOKUPS: u32 = 2;
/// MX names per `mx` term, and PTR names per `ptr` term or `%{p}`
/// (§4.6.4).
pub const MAX_NAMES: usize = 10;

/// The explanation when a failing record has none (§6.2 leaves it to the
/// receiver), as an explain-string.
const DEFAULT_EXPLANATION: &str = "%{i} is not one of %{d}'s designated mail servers";

/// A result that ends the evaluation at once: temperror or permerror.
#[derive(Debug)]
pub struct Abort {
    /// [`SpfResult::TempError`] or [`SpfResult::PermError`].
    pub result: SpfResult,
    /// What went wrong.
    pub problem: String,
}

fn permerror(problem: impl Into<String>) -> Abort {
    Abort {
        result: SpfResult::PermError,
        problem: problem.into(),
    }
}

fn temperror(name: &str, e: &DnsError) -> Abort {
    Abort {
        result: SpfResult::TempError,
        problem: format!("lookup of {name}: {e}"),
    }
}

/// The result of one record's evaluation.
#[derive(Debug)]
pub struct Verdict {
    /// None, neutral, pass, fail or softfail (errors are [`Abort`]).
    pub result: SpfResult,
    /// The directive that matched, as written.
    pub mechanism: Option<String>,
    /// On fail: where the explanation comes from.
    pub exp: Option<ExpSource>,
}

/// The `exp=` of the record that failed, with that record's domain (the
/// `%{d}` of the explanation).
#[derive(Debug)]
pub struct ExpSource {
    /// The record's domain.
    pub domain: String,
    /// Its `exp=`, if any.
    pub spec: Option<MacroString>,
}

/// One evaluation: the inputs and the counters shared by every record it
/// visits.
pub struct Eval<'r> {
    /// The resolver.
    pub resolver: &'r dyn Resolver,
    /// `<ip>`.
    pub ip: IpAddr,
    /// `<sender>`, with a local-part.
    pub sender: String,
    /// The local-part of `sender`.
    pub local: String,
    /// The domain of `sender`.
    pub sender_domain: String,
    /// The HELO/EHLO name.
    pub helo: String,
    /// This host's name.
    pub receiver: String,
    /// Seconds since the epoch.
    pub now: i64,
    /// DNS-querying terms evaluated so far.
    pub dns_terms: u32,
    /// Void lookups so far.
    pub voids: u32,
}

impl<'r> Eval<'r> {
    /// check_host() for `domain` (§4): the record is fetched, selected,
    /// parsed and evaluated. A domain that is malformed or has no SPF record
    /// gives none (§4.3, §4.5).
    pub fn check<'a>(&'a mut self, domain: String) -> BoxFuture<'a, Result<Verdict, Abort>> {
        Box::pin(async move {
            let none = Verdict {
                result: SpfResult::None,
                mechanism: None,
                exp: None,
            };
            if !is_valid_domain(&domain) {
                return Ok(none);
            }
            // §4.4: NXDOMAIN is none, other errors temperror.
            let txts = match self.resolver.txt(&domain).await {
                Ok(t) => t,
                Err(DnsError::NxDomain) => return Ok(none),
                Err(e) => return Err(temperror(&domain, &e)),
            };
            let mut spf = txts.iter().filter(|t| is_spf_record(t));
            let Some(text) = spf.next() else {
                return Ok(none);
            };
            if spf.next().is_some() {
                return Err(permerror(format!("{domain} has more than one SPF record")));
            }
            let record = parse_record(text).map_err(|e| permerror(format!("{domain}: {e}")))?;

            // §4.6.2: the first matching mechanism decides.
            for d in &record.directives {
                if d.mechanism.queries_dns() {
                    self.count_dns_term()?;
                }
                if self.matches(&d.mechanism, &domain).await? {
                    let result = match d.qualifier {
                        Qualifier::Pass => SpfResult::Pass,
                        Qualifier::Fail => SpfResult::Fail,
                        Qualifier::SoftFail => SpfResult::SoftFail,
                        Qualifier::Neutral => SpfResult::Neutral,
                    };
                    let exp = (result == SpfResult::Fail).then(|| ExpSource {
                        domain: domain.clone(),
                        spec: record.exp.clone(),
                    });
                    return Ok(Verdict {
                        result,
                        mechanism: Some(d.text.clone()),
                        exp,
                    });
                }
            }
            // §6.1: redirect applies when no mechanism matched (an `all`
            // always matches, so there is none here). The target's own
            // exp= is the one used (§6.2).
            if let Some(spec) = &record.redirect {
                self.count_dns_term()?;
                let target = self.expand_domain(spec, &domain).await;
                let verdict = self.check(target.clone()).await?;
                if verdict.result == SpfResult::None {
                    return Err(permerror(format!(
                        "redirect={target} in {domain}: no SPF record there"
                    )));
                }
                return Ok(verdict);
            }
            // §4.7: nothing matched and no redirect.
            Ok(Verdict {
                result: SpfResult::Neutral,
                mechanism: None,
                exp: None,
            })
        })
    }

    /// The explanation for a fail (§6.2): the TXT record at the expanded
    /// `exp=`, macro-expanded; the default one if there is no `exp=` or
    /// anything about it goes wrong.
    pub async fn explanation(&mut self, source: &ExpSource) -> String {
        if let Some(spec) = &source.spec {
            let name = self.expand_domain(spec, &source.domain).await;
            // "if there are any DNS processing errors ..., or if no records
            // are returned, or if more than one record is returned, or if
            // there are syntax errors in the explanation string, then
            // proceed as if no 'exp' modifier was given" (§6.2).
            if let Ok(txts) = self.resolver.txt(&name).await {
                if let [txt] = txts.as_slice() {
                    let parsed = std::str::from_utf8(txt)
                        .ok()
                        .and_then(|t| MacroString::parse(t, Place::Explanation).ok());
                    if let Some(text) = parsed {
                        return self.expand(&text, &source.domain).await;
                    }
                }
            }
        }
        match MacroString::parse(DEFAULT_EXPLANATION, Place::Explanation) {
            Ok(text) => self.expand(&text, &source.domain).await,
            Err(_) => String::new(),
        }
    }

    /// §4.6.4: the 11th DNS-querying term is a permerror.
    fn count_dns_term(&mut self) -> Result<(), Abort> {
        self.dns_terms += 1;
        if self.dns_terms > MAX_DNS_TERMS {
            return Err(permerror(format!(
                "more than {MAX_DNS_TERMS} DNS-querying terms"
            )));
        }
        Ok(())
    }

    /// A term's own lookup. NXDOMAIN and NODATA are a void lookup, counted
    /// against the limit of §4.6.4, and give no records; other errors are
    /// temperror (§5: "some other error or timeout").
    async fn lookup(&mut self, name: &str, rtype: RecordType) -> Result<Vec<RecordData>, Abort> {
        let records = match self.resolver.query(name, rtype).await {
            Ok(r) => r,
            Err(DnsError::NxDomain) => Vec::new(),
            Err(e) => return Err(temperror(name, &e)),
        };
        if records.is_empty() {
            self.voids += 1;
            if self.voids > MAX_VOID_LOOKUPS {
                return Err(permerror(format!(
                    "more than {MAX_VOID_LOOKUPS} lookups found nothing"
                )));
            }
        }
        Ok(records)
    }

    /// Whether a mechanism matches (§5).
    async fn matches(&mut self, m: &Mechanism, domain: &str) -> Result<bool, Abort> {
        let rtype = match self.ip {
            IpAddr::V4(_) => RecordType::A,
            IpAddr::V6(_) => RecordType::Aaaa,
        };
        match m {
            Mechanism::All => Ok(true),
            Mechanism::Ip4(net, len) => Ok(in_network(self.ip, IpAddr::V4(*net), *len)),
            Mechanism::Ip6(net, len) => Ok(in_network(self.ip, IpAddr::V6(*net), *len)),
            // §5.2: pass matches; fail, softfail and neutral do not;
            // temperror and permerror end the evaluation (they are Abort
            // here); none is a permerror.
            Mechanism::Include(spec) => {
                let target = self.expand_domain(spec, domain).await;
                let inner = self.check(target.clone()).await?;
                match inner.result {
                    SpfResult::Pass => Ok(true),
                    SpfResult::None => Err(permerror(format!(
                        "include:{target} in {domain}: no SPF record there"
                    ))),
                    _ => Ok(false),
                }
            }
            // §5.3: the addresses of the client's family.
            Mechanism::A {
                domain: spec,
                v4,
                v6,
            } => {
                let target = self.target(spec.as_ref(), domain).await;
                let records = self.lookup(&target, rtype).await?;
                Ok(records
                    .iter()
                    .any(|r| record_in_network(self.ip, r, *v4, *v6)))
            }
            // §5.4: the addresses of the MX hosts (no implicit MX).
            Mechanism::Mx {
                domain: spec,
                v4,
                v6,
            } => {
                let target = self.target(spec.as_ref(), domain).await;
                let records = self.lookup(&target, RecordType::Mx).await?;
                let hosts: Vec<String> = records
                    .into_iter()
                    .filter_map(|r| match r {
                        RecordData::Mx { exchange, .. } => Some(exchange),
                        _ => None,
                    })
                    .collect();
                // §4.6.4: more than 10 MX records is a permerror.
                if hosts.len() > MAX_NAMES {
                    return Err(permerror(format!(
                        "{target} has more than {MAX_NAMES} MX records"
                    )));
                }
                // A null MX (RFC 7505) has no addresses to look up.
                let hosts: Vec<&String> = hosts.iter().filter(|h| !h.is_empty()).collect();
                let resolver = self.resolver;
                let lookups = hosts.iter().map(|h| resolver.query(h, rtype)).collect();
                let mut failure = None;
                for (answer, host) in join_all(lookups).await.into_iter().zip(hosts) {
                    match answer {
                        Ok(records) => {
                            if records
                                .iter()
                                .any(|r| record_in_network(self.ip, r, *v4, *v6))
                            {
                                return Ok(true);
                            }
                        }
                        Err(DnsError::NxDomain) => {}
                        Err(e) => failure = failure.or(Some(temperror(host, &e))),
                    }
                }
                failure.map_or(Ok(false), Err)
            }
            // §5.5: a validated name of the client at or below the target.
            Mechanism::Ptr(spec) => {
                let target = self.target(spec.as_ref(), domain).await;
                let names = self.validated_names(Some(&target)).await;
                Ok(!names.is_empty())
            }
            // §5.7: an A lookup, whatever the client's family.
            Mechanism::Exists(spec) => {
                let target = self.expand_domain(spec, domain).await;
                Ok(!self.lookup(&target, RecordType::A).await?.is_empty())
            }
        }
    }

    /// The target of `a`, `mx` or `ptr`: the expanded argument, or the
    /// current domain.
    async fn target(&mut self, spec: Option<&MacroString>, domain: &str) -> String {
        match spec {
            Some(s) => self.expand_domain(s, domain).await,
            None => domain.to_string(),
        }
    }

    /// The client's validated names (§5.5): of its first 10 PTR names,
    /// those whose forward lookup gives the client's address back. With a
    /// `within` domain, only names equal to it or below it are checked.
    /// DNS errors only make names drop out.
    async fn validated_names(&mut self, within: Option<&str>) -> Vec<String> {
        let Ok(mut names) = self.resolver.ptr(self.ip).await else {
            // "If a DNS error occurs while doing the PTR RR lookup, then
            // this mechanism fails to match."
            return Vec::new();
        };
        // "all records other than the first 10 MUST be ignored" (§4.6.4).
        names.truncate(MAX_NAMES);
        if let Some(within) = within {
            names.retain(|n| is_at_or_below(n, within));
        }
        let rtype = match self.ip {
            IpAddr::V4(_) => RecordType::A,
            IpAddr::V6(_) => RecordType::Aaaa,
        };
        let resolver = self.resolver;
        let lookups = names.iter().map(|n| resolver.query(n, rtype)).collect();
        let answers = join_all(lookups).await;
        let ip = self.ip;
        names
            .into_iter()
            .zip(answers)
            .filter(|(_, a)| {
                a.as_ref()
                    .is_ok_and(|records| records.iter().any(|r| record_in_network(ip, r, 32, 128)))
            })
            .map(|(n, _)| n)
            .collect()
    }

    /// Expands a domain-spec with `d` = `domain`, cut to 253 characters.
    /// The name is looked up as it is (§7.1): a space from `%_`, or any
    /// other byte that is not a visible character, and a backslash, are
    /// given to the resolver as `\DDD` (RFC 1035 §5.1).
    async fn expand_domain(&mut self, spec: &MacroString, domain: &str) -> String {
        let name = self.expand(spec, domain).await;
        let mut out = String::with_capacity(name.len());
        for b in super::macros::truncate_domain(&name).bytes() {
            if b.is_ascii_graphic() && b != b'\\' {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("\\{b:03}"));
            }
        }
        out
    }

    /// Expands a macro string with `d` = `domain`, looking up the `p` value
    /// only when the string uses it.
    async fn expand(&mut self, text: &MacroString, domain: &str) -> String {
        let validated = if text.uses_validated_name() {
            Some(self.p_value(domain).await)
        } else {
            None
        };
        text.expand(&Values {
            sender: &self.sender,
            local: &self.local,
            sender_domain: &self.sender_domain,
            domain,
            ip: self.ip,
            helo: &self.helo,
            receiver: &self.receiver,
            now: self.now,
            validated: validated.as_deref(),
        })
    }

    /// The `p` macro (§7.3): a validated name equal to the domain, else one
    /// below it, else any; "unknown" when there is none.
    async fn p_value(&mut self, domain: &str) -> String {
        let names = self.validated_names(None).await;
        let pick = names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(domain))
            .or_else(|| names.iter().find(|n| is_at_or_below(n, domain)))
            .or_else(|| names.first());
        pick.cloned().unwrap_or_else(|| "unknown".into())
    }
}

/// Whether `domain` can be looked up as check_host()'s `<domain>` (§4.3):
/// at most 253 characters, two labels or more, none empty or over 63, and
/// not an address literal (`[192.0.2.1]`).
pub fn is_valid_domain(domain: &str) -> bool {
    let d = domain.strip_suffix('.').unwrap_or(domain);
    !d.starts_with('[')
        && d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

/// Whether `name` is `domain` or a name below it, ignoring case and a
/// trailing dot.
fn is_at_or_below(name: &str, domain: &str) -> bool {
    let name = crate::dns::normalize_name(name);
    let domain = crate::dns::normalize_name(domain);
    name == domain
        || name
            .strip_suffix(&domain)
            .is_some_and(|head| head.ends_with('.'))
}

/// Whether an address record holds an address in the client's network
/// (the client's family only; `v4`/`v6` are the prefix lengths).
fn record_in_network(ip: IpAddr, record: &RecordData, v4: u8, v6: u8) -> bool {
    match record {
        RecordData::A(a) => in_network(ip, IpAddr::V4(*a), v4),
        RecordData::Aaaa(a) => in_network(ip, IpAddr::V6(*a), v6),
        _ => false,
    }
}

/// Whether `ip` is in `net/len`; false across families (§5.6).
pub fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Runs lookups concurrently and returns their answers in order, so that
/// the ten MX or PTR names of one term cost one round trip, not ten.
async fn join_all<'a, T>(futures: Vec<BoxFuture<'a, T>>) -> Vec<T> {
    let mut pending: Vec<Option<Pin<Box<dyn Future<Output = T> + Send + 'a>>>> =
        futures.into_iter().map(Some).collect();
    let mut done: Vec<Option<T>> = pending.iter().map(|_| None).collect();
    smol::future::poll_fn(|cx| {
        let mut waiting = false;
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    done.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_network(ip("192.0.2.129"), ip("192.0.2.128"), 28));
        assert!(!in_network(ip("192.0.2.65"), ip("192.0.2.128"), 28));
        assert!(in_network(ip("10.1.2.3"), ip("192.0.2.1"), 0));
        assert!(in_network(ip("192.0.2.1"), ip("192.0.2.1"), 32));
        assert!(!in_network(ip("192.0.2.2"), ip("192.0.2.1"), 32));
        assert!(in_network(ip("2001:db8::1"), ip("2001:db8::"), 32));
        assert!(!in_network(ip("2001:db9::1"), ip("2001:db8::"), 32));
        assert!(in_network(ip("::1"), ip("2001:db8::"), 0));
        assert!(!in_network(ip("192.0.2.1"), ip("::"), 0));
        assert!(!in_network(ip("::"), ip("0.0.0.0"), 0));
    }

    #[test]
    fn domains() {
        for good in [
            "example.com",
            "example.com.",
            "a.b.c.d",
            &format!("{}.com", "a".repeat(63)),
        ] {
            assert!(is_valid_domain(good), "{good}");
        }
        for bad in [
            "",
            "com",
            "com.",
            ".com",
            "a..com",
            "[192.0.2.1]",
            &format!("{}.com", "a".repeat(64)),
            &format!("{}com", "a.".repeat(130)),
        ] {
            assert!(!is_valid_domain(bad), "{bad}");
        }
        assert!(is_at_or_below("mail.Example.com.", "example.COM"));
        assert!(is_at_or_below("example.com", "example.com"));
        assert!(!is_at_or_below("badexample.com", "example.com"));
        assert!(!is_at_or_below("example.com", "mail.example.com"));
    }
}
