//! DMARC evaluation (RFC 7489): does the From domain of a message line up
//! with a domain that SPF or DKIM authenticated, and what does the From
//! domain's owner ask receivers to do when it does not.
//!
//! Pure over the [`Resolver`] trait: the caller gives the From domains
//! ([`from_domains`] reads them from the From fields), the SPF outcome of
//! the MAIL FROM identity, the DKIM outcome, and a random sample for
//! `pct=`; [`evaluate`] looks up the policy and returns the verdict.
//!
//! Several From addresses: RFC 7489 §6.6.1 leaves the choice to the
//! receiver. Here each distinct domain (at most [`MAX_FROM_DOMAINS`]) is
//! evaluated and the worst verdict is kept (fail, then temperror, then
//! permerror, then none, then pass; between two fails, the strictest
//! policy), so that adding a From address can never weaken a verdict.
//!
//! Organisational domains (§3.2) come from the public suffix list bundled
//! in the `psl` crate.

use super::dkim::verify::{ar_value, parse_tag_list, DkimOutcome};
use super::spf::{SpfOutcome, SpfResult};
use crate::dns::{DnsError, Resolver};
use crate::mail::address::{self, Address};
use std::fmt;

/// Most distinct From domains evaluated; a message with more gets a
/// permerror. Each costs up to two DNS lookups.
pub const MAX_FROM_DOMAINS: usize = 4;

/// Most DMARC records read at one name; any more than one means no policy
/// (§6.6.3), so a few suffice to tell.
const MAX_RECORDS: usize = 8;

/// The DMARC result (RFC 7489 §11.2, RFC 8601 §2.7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DmarcResult {
    /// Aligned and authenticated by SPF or DKIM.
    Pass,
    /// No policy was published (or it could not be used).
    None,
    /// The message could not be evaluated: no or unusable From.
    PermError,
    /// The policy could not be fetched now.
    TempError,
    /// A policy exists and neither SPF nor DKIM passed aligned.
    Fail,
}

impl DmarcResult {
    /// The RFC 8601 word (`"temperror"`).
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcResult::Pass => "pass",
            DmarcResult::None => "none",
            DmarcResult::PermError => "permerror",
            DmarcResult::TempError => "temperror",
            DmarcResult::Fail => "fail",
        }
    }
}

impl fmt::Display for DmarcResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A requested policy (§6.3 `p=`, `sp=`), least strict first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Policy {
    /// Take no action.
    None,
    /// Treat as suspicious (spam folder).
    Quarantine,
    /// Reject during the SMTP transaction.
    Reject,
}

impl Policy {
    /// The tag value (`"quarantine"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }

    fn parse(s: &str) -> Option<Policy> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(Policy::None),
            "quarantine" => Some(Policy::Quarantine),
            "reject" => Some(Policy::Reject),
            _ => None,
        }
    }

    /// The next less strict policy, applied to messages left out by
    /// `pct=` (§6.6.4).
    fn weaker(self) -> Policy {
        match self {
            Policy::Reject => Policy::Quarantine,
            Policy::Quarantine | Policy::None => Policy::None,
        }
    }
}

/// An identifier alignment mode (§3.1, `adkim=` and `aspf=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alignment {
    /// Same organisational domain (the default).
    Relaxed,
    /// The very same domain.
    Strict,
}

/// A DMARC record (§6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `p=`: the policy for the domain.
    pub policy: Policy,
    /// `sp=`: the policy for its subdomains, when given.
    pub subdomain_policy: Option<Policy>,
    /// `pct=`: the percentage of failing mail the policy applies to
    /// (0–100, default 100).
    pub pct: u8,
    /// `adkim=`.
    pub adkim: Alignment,
    /// `aspf=`.
    pub aspf: Alignment,
    /// `rua=`: where aggregate reports go (not sent by facteur).
    pub rua: Vec<String>,
    /// `ruf=`: where failure reports go (not sent by facteur).
    pub ruf: Vec<String>,
    /// `fo=`, as written (default `"0"`).
    pub fo: String,
    /// `ri=`: the aggregate report interval in seconds (default 86400).
    pub ri: u32,
}

/// Reads a DMARC record (§6.3, §6.4). Tags other than `v=` and `p=` that
/// are invalid take their default values ("syntax errors in the remainder
/// of the record SHOULD be discarded in favor of default values"); a
/// missing or invalid `p=` gives `p=none` when `rua=` names a valid URI
/// (§6.6.3 step 6 and §6.3 `rua`), and an error otherwise.
pub fn parse_record(text: &str) -> Result<Record, String> {
    let tags = parse_tag_list(text)?;
    // §6.4: v=DMARC1 must come first.
    match tags.first() {
        Some((n, v)) if n == "v" && v == "DMARC1" => {}
        _ => return Err("does not start with v=DMARC1".into()),
    }
    let get = |n: &str| tags.iter().find(|(t, _)| t == n).map(|(_, v)| v.as_str());
    let uris = |t: &str| -> Vec<String> {
        get(t)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|u| u.contains(':') && !u.contains(char::is_whitespace))
            .map(str::to_string)
            .collect()
    };
    let rua = uris("rua");
    let policy = match get("p").and_then(Policy::parse) {
        Some(p) => p,
        None if !rua.is_empty() => Policy::None,
        None => return Err("missing or invalid p=".into()),
    };
    let align = |t: &str| match get(t).map(str::to_ascii_lowercase).as_deref() {
        Some("s") => Alignment::Strict,
        _ => Alignment::Relaxed,
    };
    Ok(Record {
        policy,
        subdomain_policy: get("sp").and_then(Policy::parse),
        pct: get("pct")
            .and_then(|p| p.parse::<u8>().ok())
            .filter(|&p| p <= 100)
            .unwrap_or(100),
        adkim: align("adkim"),
        aspf: align("aspf"),
        rua,
        ruf: uris("ruf"),
        fo: get("fo").unwrap_or("0").to_string(),
        ri: get("ri").and_then(|r| r.parse().ok()).unwrap_or(86_400),
    })
}

/// The organisational domain of a domain (§3.2): its public suffix (from
/// the public suffix list, the `*` rule for unknown ones) and one more
/// label; the domain itself when it is a public suffix.
pub fn organizational_domain(domain: &str) -> String {
    let d = normalise(domain);
    match psl::domain_str(&d) {
        Some(org) => org.to_string(),
        None => d,
    }
}

fn normalise(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Whether two domains are aligned in `mode` (§3.1.1, §3.1.2).
pub fn aligned(a: &str, b: &str, mode: Alignment) -> bool {
    let (a, b) = (normalise(a), normalise(b));
    match mode {
        Alignment::Strict => a == b,
        Alignment::Relaxed => {
            !a.is_empty() && organizational_domain(&a) == organizational_domain(&b)
        }
    }
}

/// The distinct domains of the From addresses, lower-cased, in order.
/// `fields` are the values of the From fields (unfolded or not).
pub fn from_domains(fields: &[&[u8]]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in fields {
        for a in address::parse_list(value) {
            let Address::Mailbox { host, .. } = a else {
                continue;
            };
            let d = if host == address::MISSING_DOMAIN {
                String::new()
            } else {
                normalise(&String::from_utf8_lossy(&host))
            };
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out
}

/// The authentication results DMARC builds on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthInputs {
    /// The domain SPF authenticated: the MAIL FROM domain, only when SPF
    /// passed (§4.2; the HELO identity does not count).
    pub spf_domain: Option<String>,
    /// The `d=` domains of the passing DKIM signatures.
    pub dkim_domains: Vec<String>,
}

impl AuthInputs {
    /// The inputs from the SPF check of MAIL FROM (if any) and the DKIM
    /// outcome.
    pub fn new(spf: Option<&SpfOutcome>, dkim: &DkimOutcome) -> AuthInputs {
        AuthInputs {
            spf_domain: spf
                .filter(|s| s.result == SpfResult::Pass && !s.domain.is_empty())
                .map(|s| s.domain.clone()),
            dkim_domains: dkim
                .passing_domains()
                .into_iter()
                .map(str::to_string)
                .collect(),
        }
    }
}

/// The DMARC verdict on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcOutcome {
    /// The result.
    pub result: DmarcResult,
    /// The From domain evaluated (the deciding one when there were several).
    pub from_domain: String,
    /// Its organisational domain.
    pub org_domain: String,
    /// The record used, if one was found.
    pub record: Option<Record>,
    /// The policy the record asks for this domain (`sp=` for a subdomain
    /// when the record was the organisational domain's); `None` without a
    /// record.
    pub policy: Policy,
    /// What to do with the message after `pct=` sampling: the policy on
    /// fail (or the next weaker one when sampled out), `None` otherwise.
    pub disposition: Policy,
    /// SPF passed aligned.
    pub spf_aligned: bool,
    /// A DKIM signature passed aligned.
    pub dkim_aligned: bool,
    /// Why, in a few words.
    pub reason: String,
}

impl DmarcOutcome {
    fn new(result: DmarcResult, from: &str, reason: &str) -> DmarcOutcome {
        DmarcOutcome {
            result,
            from_domain: from.to_string(),
            org_domain: if from.is_empty() {
                String::new()
            } else {
                organizational_domain(from)
            },
            record: None,
            policy: Policy::None,
            disposition: Policy::None,
            spf_aligned: false,
            dkim_aligned: false,
            reason: reason.to_string(),
        }
    }

    /// The `dmarc=` fragment of an Authentication-Results field (RFC 8601
    /// §2.7.4, RFC 7489 §11.2): `dmarc=fail (p=reject dis=quarantine)
    /// header.from=example.com`.
    pub fn auth_results(&self) -> String {
        let mut out = format!("dmarc={}", self.result);
        if self.record.is_some() {
            out.push_str(&format!(
                " (p={} dis={})",
                self.policy.as_str(),
                self.disposition.as_str()
            ));
        } else if !self.reason.is_empty() {
            let reason: String = self
                .reason
                .chars()
                .map(|c| {
                    if matches!(c, '(' | ')' | '\\') {
                        ' '
                    } else {
                        c
                    }
                })
                .collect();
            out.push_str(&format!(" ({reason})"));
        }
        if !self.from_domain.is_empty() {
            out.push_str(&format!(" header.from={}", ar_value(&self.from_domain)));
        }
        out
    }

    /// How bad a verdict is, for choosing among several From domains.
    fn severity(&self) -> (DmarcResult, Policy) {
        (self.result, self.disposition)
    }
}

/// Evaluates DMARC for a message (§6.6).
///
/// `from_domains` are the From header's domains ([`from_domains`]).
/// `sample` is a uniformly random number in 0..100 supplied by the
/// caller: the policy applies to a failing message when `sample < pct`
/// (§6.6.4); values of 100 and above are never sampled in.
pub async fn evaluate<R: Resolver + ?Sized>(
    resolver: &R,
    from_domains: &[String],
    auth: &AuthInputs,
    sample: u8,
) -> DmarcOutcome {
    // §6.6.1: the message must have a From domain.
    if from_domains.is_empty() {
        return DmarcOutcome::new(DmarcResult::PermError, "", "no From address");
    }
    if from_domains.len() > MAX_FROM_DOMAINS {
        return DmarcOutcome::new(DmarcResult::PermError, "", "too many From domains");
    }
    let mut worst: Option<DmarcOutcome> = None;
    for from in from_domains {
        let o = evaluate_one(resolver, from, auth, sample).await;
        if worst.as_ref().is_none_or(|w| o.severity() > w.severity()) {
            worst = Some(o);
        }
    }
    worst.unwrap_or_else(|| DmarcOutcome::new(DmarcResult::PermError, "", "no From address"))
}

/// Where a policy was found.
enum Discovery {
    Found(Record, String),
    NoPolicy(String),
    TempError(String),
}

async fn evaluate_one<R: Resolver + ?Sized>(
    resolver: &R,
    from: &str,
    auth: &AuthInputs,
    sample: u8,
) -> DmarcOutcome {
    let from = normalise(from);
    if from.is_empty() || !from.contains('.') || from.contains(char::is_whitespace) {
        return DmarcOutcome::new(DmarcResult::PermError, &from, "bad From domain");
    }
    let mut out = DmarcOutcome::new(DmarcResult::None, &from, "");
    let (record, at) = match discover(resolver, &from, &out.org_domain).await {
        Discovery::Found(r, at) => (r, at),
        Discovery::NoPolicy(why) => {
            out.reason = why;
            return out;
        }
        Discovery::TempError(why) => {
            out.result = DmarcResult::TempError;
            out.reason = why;
            return out;
        }
    };
    // §6.3 sp=: for a subdomain whose policy came from the organisational
    // domain's record.
    out.policy = if at != from {
        record.subdomain_policy.unwrap_or(record.policy)
    } else {
        record.policy
    };
    // §4.2: pass when SPF or DKIM passed for an aligned domain.
    out.spf_aligned = auth
        .spf_domain
        .as_deref()
        .is_some_and(|d| aligned(d, &from, record.aspf));
    out.dkim_aligned = auth
        .dkim_domains
        .iter()
        .any(|d| aligned(d, &from, record.adkim));
    if out.spf_aligned || out.dkim_aligned {
        out.result = DmarcResult::Pass;
        out.reason = if out.dkim_aligned {
            "dkim aligned".into()
        } else {
            "spf aligned".into()
        };
    } else {
        out.result = DmarcResult::Fail;
        out.reason = "no aligned authentication".into();
        // §6.6.4: pct= selects the messages the policy applies to.
        out.disposition = if sample < record.pct {
            out.policy
        } else {
            out.policy.weaker()
        };
    }
    out.record = Some(record);
    out
}

/// Policy discovery (§6.6.3): the From domain's record, else the
/// organisational domain's.
async fn discover<R: Resolver + ?Sized>(resolver: &R, from: &str, org: &str) -> Discovery {
    match lookup(resolver, from).await {
        Lookup::Records(r) => return choose(r, from),
        Lookup::Temp(e) => return Discovery::TempError(e),
        Lookup::Empty => {}
    }
    if org == from {
        return Discovery::NoPolicy("no record".into());
    }
    match lookup(resolver, org).await {
        Lookup::Records(r) => choose(r, org),
        Lookup::Temp(e) => Discovery::TempError(e),
        Lookup::Empty => Discovery::NoPolicy("no record".into()),
    }
}

enum Lookup {
    Records(Vec<String>),
    Empty,
    Temp(String),
}

/// The TXT records at `_dmarc.<domain>` that start with `v=DMARC1`
/// (§6.6.3 step 2: others are discarded).
async fn lookup<R: Resolver + ?Sized>(resolver: &R, domain: &str) -> Lookup {
    let name = format!("_dmarc.{domain}");
    match resolver.txt(&name).await {
        Ok(records) => {
            let r: Vec<String> = records
                .iter()
                .map(|r| String::from_utf8_lossy(r).into_owned())
                .filter(|t| is_dmarc(t))
                .take(MAX_RECORDS)
                .collect();
            if r.is_empty() {
                Lookup::Empty
            } else {
                Lookup::Records(r)
            }
        }
        Err(DnsError::NxDomain) => Lookup::Empty,
        Err(DnsError::Temporary(e)) | Err(DnsError::Malformed(e)) => Lookup::Temp(format!(
            "policy lookup: {}",
            e.chars().take(40).collect::<String>()
        )),
    }
}

/// A record that starts with the `v=DMARC1` tag, spaces allowed.
fn is_dmarc(text: &str) -> bool {
    let first = text.split(';').next().unwrap_or("");
    match first.split_once('=') {
        Some((n, v)) => n.trim() == "v" && v.trim() == "DMARC1",
        None => false,
    }
}

/// §6.6.3 steps 5 and 6: exactly one record, which must read.
fn choose(records: Vec<String>, at: &str) -> Discovery {
    let [only] = records.as_slice() else {
        return Discovery::NoPolicy("several records".into());
    };
    match parse_record(only) {
        Ok(r) => Discovery::Found(r, at.to_string()),
        Err(e) => Discovery::NoPolicy(format!("invalid record: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{RecordData, RecordType, StaticResolver};

    fn txt(s: &str) -> RecordData {
        RecordData::Txt(vec![s.as_bytes().to_vec()])
    }

    fn dns(records: &[(&str, &str)]) -> StaticResolver {
        let mut r = StaticResolver::new();
        for (name, text) in records {
            r.add(name, txt(text));
        }
        r
    }

    fn dkim(domains: &[&str]) -> AuthInputs {
        AuthInputs {
            spf_domain: None,
            dkim_domains: domains.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn spf(domain: &str) -> AuthInputs {
        AuthInputs {
            spf_domain: Some(domain.to_string()),
            dkim_domains: Vec::new(),
        }
    }

    fn eval(r: &StaticResolver, from: &[&str], auth: &AuthInputs, sample: u8) -> DmarcOutcome {
        let from: Vec<String> = from.iter().map(|d| d.to_string()).collect();
        smol::block_on(evaluate(r, &from, auth, sample))
    }

    #[test]
    fn organizational_domains() {
        for (d, org) in [
            ("example.com", "example.com"),
            ("mail.Example.COM.", "example.com"),
            ("a.b.example.co.uk", "example.co.uk"),
            ("co.uk", "co.uk"),
            ("x.y.unknown-tld-zz", "y.unknown-tld-zz"),
            ("com", "com"),
        ] {
            assert_eq!(organizational_domain(d), org, "{d}");
        }
        assert!(aligned(
            "mail.example.com",
            "example.com",
            Alignment::Relaxed
        ));
        assert!(!aligned(
            "mail.example.com",
            "example.com",
            Alignment::Strict
        ));
        assert!(aligned("Example.com", "example.com.", Alignment::Strict));
        assert!(!aligned("a.co.uk", "b.co.uk", Alignment::Relaxed));
        assert!(!aligned("", "", Alignment::Relaxed));
    }

    #[test]
    fn records() {
        let r = parse_record(
            "v=DMARC1; p=Reject; sp=quarantine; pct=20; adkim=s; aspf=r; \
             rua=mailto:a@example.com,mailto:b@example.com; ruf=mailto:f@example.com; \
             fo=1:d; rf=afrf; ri=3600; future=yes",
        )
        .unwrap();
        assert_eq!(r.policy, Policy::Reject);
        assert_eq!(r.subdomain_policy, Some(Policy::Quarantine));
        assert_eq!(r.pct, 20);
        assert_eq!((r.adkim, r.aspf), (Alignment::Strict, Alignment::Relaxed));
        assert_eq!(r.rua, ["mailto:a@example.com", "mailto:b@example.com"]);
        assert_eq!(r.ruf, ["mailto:f@example.com"]);
        assert_eq!((r.fo.as_str(), r.ri), ("1:d", 3600));
        // Defaults, and invalid optional tags falling back to them.
        let r = parse_record("v=DMARC1;p=none").unwrap();
        assert_eq!(
            (r.pct, r.adkim, r.aspf, r.subdomain_policy, r.ri),
            (100, Alignment::Relaxed, Alignment::Relaxed, None, 86_400)
        );
        let r = parse_record("v=DMARC1; p=quarantine; pct=150; adkim=x; sp=maybe").unwrap();
        assert_eq!(
            (r.pct, r.adkim, r.subdomain_policy),
            (100, Alignment::Relaxed, None)
        );
        assert_eq!(parse_record("v=DMARC1; p=none; pct=0").unwrap().pct, 0);
        // p= missing or invalid: none if there is a report address.
        assert_eq!(
            parse_record("v=DMARC1; p=bogus; rua=mailto:r@example.com")
                .unwrap()
                .policy,
            Policy::None
        );
        for bad in [
            "v=DMARC1",
            "v=DMARC1; p=bogus",
            "p=reject; v=DMARC1",
            "v=DMARC2; p=reject",
            "v=DMARC1; p=reject; p=none",
            "",
        ] {
            assert!(parse_record(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn exact_domain_policy() {
        let r = dns(&[("_dmarc.example.com", "v=DMARC1; p=reject")]);
        let o = eval(&r, &["example.com"], &dkim(&["example.com"]), 0);
        assert_eq!(o.result, DmarcResult::Pass);
        assert!(o.dkim_aligned && !o.spf_aligned);
        assert_eq!((o.policy, o.disposition), (Policy::Reject, Policy::None));
        assert_eq!(
            o.auth_results(),
            "dmarc=pass (p=reject dis=none) header.from=example.com"
        );
        let o = eval(&r, &["example.com"], &dkim(&["other.org"]), 99);
        assert_eq!(o.result, DmarcResult::Fail);
        assert_eq!((o.policy, o.disposition), (Policy::Reject, Policy::Reject));
        assert_eq!(
            o.auth_results(),
            "dmarc=fail (p=reject dis=reject) header.from=example.com"
        );
        assert_eq!(o.org_domain, "example.com");
        assert_eq!(r.queries().len(), 2);
    }

    #[test]
    fn org_domain_fallback_and_sp() {
        let r = dns(&[("_dmarc.example.co.uk", "v=DMARC1; p=reject; sp=quarantine")]);
        let o = eval(&r, &["news.mail.example.co.uk"], &dkim(&[]), 0);
        assert_eq!(o.result, DmarcResult::Fail);
        assert_eq!(o.from_domain, "news.mail.example.co.uk");
        assert_eq!(o.org_domain, "example.co.uk");
        assert_eq!(
            (o.policy, o.disposition),
            (Policy::Quarantine, Policy::Quarantine)
        );
        let asked: Vec<String> = r.queries().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            asked,
            ["_dmarc.news.mail.example.co.uk", "_dmarc.example.co.uk"]
        );
        // The organisational domain itself gets p=.
        let o = eval(&r, &["example.co.uk"], &dkim(&[]), 0);
        assert_eq!(o.policy, Policy::Reject);
        // Without sp=, subdomains get p=.
        let r = dns(&[("_dmarc.example.com", "v=DMARC1; p=quarantine")]);
        assert_eq!(
            eval(&r, &["a.example.com"], &dkim(&[]), 0).policy,
            Policy::Quarantine
        );
        // A subdomain's own record wins, even when it is p=none.
        let r = dns(&[
            ("_dmarc.example.com", "v=DMARC1; p=reject"),
            ("_dmarc.a.example.com", "v=DMARC1; p=none"),
        ]);
        let o = eval(&r, &["a.example.com"], &dkim(&[]), 0);
        assert_eq!((o.result, o.disposition), (DmarcResult::Fail, Policy::None));
        // Non-DMARC TXT records at _dmarc are ignored.
        let mut r = dns(&[("_dmarc.example.com", "v=DMARC1; p=reject")]);
        r.add("_dmarc.a.example.com", txt("v=spf1 -all"));
        assert_eq!(
            eval(&r, &["a.example.com"], &dkim(&[]), 0).policy,
            Policy::Reject
        );
    }

    #[test]
    fn alignment_modes() {
        let relaxed = dns(&[("_dmarc.example.com", "v=DMARC1; p=reject")]);
        let strict = dns(&[("_dmarc.example.com", "v=DMARC1; p=reject; adkim=s; aspf=s")]);
        let cases = [
            (dkim(&["mail.example.com"]), true, false),
            (dkim(&["example.com"]), true, true),
            (dkim(&["example.org", "mail.example.com"]), true, false),
            (dkim(&["example.org"]), false, false),
            (spf("bounce.example.com"), true, false),
            (spf("example.com"), true, true),
            (spf("example.net"), false, false),
        ];
        for (auth, pass_relaxed, pass_strict) in cases {
            let want = |p: bool| {
                if p {
                    DmarcResult::Pass
                } else {
                    DmarcResult::Fail
                }
            };
            assert_eq!(
                eval(&relaxed, &["example.com"], &auth, 0).result,
                want(pass_relaxed),
                "{auth:?}"
            );
            assert_eq!(
                eval(&strict, &["example.com"], &auth, 0).result,
                want(pass_strict),
                "{auth:?}"
            );
        }
        let o = eval(&relaxed, &["example.com"], &spf("example.com"), 0);
        assert!(o.spf_aligned && !o.dkim_aligned);
        assert_eq!(o.reason, "spf aligned");
    }

    #[test]
    fn pct_sampling() {
        let r = dns(&[("_dmarc.example.com", "v=DMARC1; p=reject; pct=30")]);
        let none = dkim(&[]);
        assert_eq!(
            eval(&r, &["example.com"], &none, 0).disposition,
            Policy::Reject
        );
        assert_eq!(
            eval(&r, &["example.com"], &none, 29).disposition,
            Policy::Reject
        );
        assert_eq!(
            eval(&r, &["example.com"], &none, 30).disposition,
            Policy::Quarantine
        );
        assert_eq!(
            eval(&r, &["example.com"], &none, 99).disposition,
            Policy::Quarantine
        );
        let r = dns(&[("_dmarc.example.com", "v=DMARC1; p=quarantine; pct=0")]);
        let o = eval(&r, &["example.com"], &none, 0);
        assert_eq!(
            (o.result, o.policy, o.disposition),
            (DmarcResult::Fail, Policy::Quarantine, Policy::None)
        );
        let r = dns(&[("_dmarc.example.com", "v=DMARC1; p=reject")]);
        assert_eq!(
            eval(&r, &["example.com"], &none, 99).disposition,
            Policy::Reject
        );
        assert_eq!(
            eval(&r, &["example.com"], &none, 255).disposition,
            Policy::Quarantine
        );
    }

    #[test]
    fn no_or_unusable_policy() {
        let auth = dkim(&[]);
        let o = eval(&StaticResolver::new(), &["example.com"], &auth, 0);
        assert_eq!(
            (o.result, o.reason.as_str()),
            (DmarcResult::None, "no record")
        );
        assert_eq!(
            o.auth_results(),
            "dmarc=none (no record) header.from=example.com"
        );
        let r = dns(&[("_dmarc.example.com", "v=DMARC1; p=bogus")]);
        let o = eval(&r, &["example.com"], &auth, 0);
        assert_eq!(o.result, DmarcResult::None);
        assert!(o.reason.starts_with("invalid record"), "{}", o.reason);
        let r = dns(&[
            ("_dmarc.example.com", "v=DMARC1; p=reject"),
            ("_dmarc.example.com", "v=DMARC1; p=none"),
        ]);
        let o = eval(&r, &["example.com"], &auth, 0);
        assert_eq!(
            (o.result, o.reason.as_str()),
            (DmarcResult::None, "several records")
        );
        // An invalid record at the From domain does not fall back.
        let r = dns(&[
            ("_dmarc.example.com", "v=DMARC1; p=reject"),
            ("_dmarc.a.example.com", "v=DMARC1; p=bogus"),
        ]);
        assert_eq!(
            eval(&r, &["a.example.com"], &auth, 0).result,
            DmarcResult::None
        );
        // Temporary failures, at either step.
        let mut r = StaticResolver::new();
        r.fail(
            "_dmarc.example.com",
            RecordType::Txt,
            DnsError::Temporary("SERVFAIL".into()),
        );
        assert_eq!(
            eval(&r, &["example.com"], &auth, 0).result,
            DmarcResult::TempError
        );
        assert_eq!(
            eval(&r, &["a.example.com"], &auth, 0).result,
            DmarcResult::TempError
        );
        let o = eval(&r, &["example.com"], &auth, 0);
        assert_eq!(
            o.auth_results(),
            "dmarc=temperror (policy lookup: SERVFAIL) header.from=example.com"
        );
    }

    #[test]
    fn from_handling() {
        let r = dns(&[
            ("_dmarc.example.com", "v=DMARC1; p=reject"),
            ("_dmarc.example.org", "v=DMARC1; p=quarantine"),
        ]);
        // No From: permerror.
        let o = eval(&r, &[], &dkim(&["example.com"]), 0);
        assert_eq!(o.result, DmarcResult::PermError);
        assert_eq!(o.auth_results(), "dmarc=permerror (no From address)");
        assert_eq!(
            eval(&r, &[""], &dkim(&[]), 0).result,
            DmarcResult::PermError
        );
        // Several domains: the worst verdict.
        let o = eval(
            &r,
            &["example.com", "example.org"],
            &dkim(&["example.com"]),
            0,
        );
        assert_eq!(
            (o.result, o.from_domain.as_str()),
            (DmarcResult::Fail, "example.org")
        );
        let o = eval(
            &r,
            &["example.com", "example.org"],
            &dkim(&["example.com", "example.org"]),
            0,
        );
        assert_eq!(o.result, DmarcResult::Pass);
        let o = eval(&r, &["example.org", "example.com"], &dkim(&[]), 0);
        assert_eq!(
            (o.disposition, o.from_domain.as_str()),
            (Policy::Reject, "example.com")
        );
        let o = eval(
            &r,
            &["example.com", "nopolicy.example"],
            &dkim(&["example.com"]),
            0,
        );
        assert_eq!(o.result, DmarcResult::None);
        let many = [
            "a.example",
            "b.example",
            "c.example",
            "d.example",
            "e.example",
        ];
        assert_eq!(
            eval(&r, &many, &dkim(&[]), 0).result,
            DmarcResult::PermError
        );
    }

    #[test]
    fn from_fields() {
        let fields: [&[u8]; 2] = [
            b"Alice <alice@Example.COM>, \"Bob, Jr\" <bob@example.org>",
            b"carol@example.com (Carol)",
        ];
        assert_eq!(from_domains(&fields), ["example.com", "example.org"]);
        assert_eq!(
            from_domains(&[b"Friends: a@x.example, b@y.example;"]),
            ["x.example", "y.example"]
        );
        assert_eq!(from_domains(&[b"Undisclosed"]), [""]);
        assert!(from_domains(&[]).is_empty());
    }

    #[test]
    fn inputs_from_spf_and_dkim() {
        use crate::auth::dkim::verify::{DkimResult, SignatureResult};
        let sig = |d: &str, result| SignatureResult {
            result,
            reason: String::new(),
            domain: d.to_string(),
            selector: "s".into(),
            identity: format!("@{d}"),
            algorithm: "ed25519-sha256".into(),
            b_prefix: String::new(),
            uses_l: false,
            unsigned_body_bytes: 0,
            testing: false,
        };
        let dkim = DkimOutcome {
            signatures: vec![
                sig("a.example", DkimResult::Fail),
                sig("b.example", DkimResult::Pass),
            ],
            skipped: 0,
        };
        let inputs = AuthInputs::new(None, &dkim);
        assert_eq!(inputs.dkim_domains, ["b.example"]);
        assert_eq!(inputs.spf_domain, None);
    }
}
