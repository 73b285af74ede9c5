//! SPF, the Sender Policy Framework (RFC 7208): whether a client address
//! may send mail for the domain of the MAIL FROM or HELO identity.
//!
//! [`check_host`] is the function of §4; [`check_mail_from`] and
//! [`check_helo`] choose its arguments for the two identities (§2.3, §2.4).
//! The outcome gives the result word, the explanation of a fail (§6.2),
//! the problem of an error, and the `Received-SPF:` field (§9.1) and the
//! Authentication-Results method (RFC 8601 §2.7.2) that report it.
//!
//! The code is pure apart from DNS, which goes through [`Resolver`]: no
//! clock reads (`now` is passed in for `%{t}`). An overall deadline is the
//! caller's (§4.6.4 suggests at least 20 seconds, then temperror).
//!
//! - `macros`: macro strings (§7);
//! - `parse`: record selection and syntax (§4.5, §12);
//! - `eval`: evaluation and processing limits (§4.6, §5, §6).
//!
//! ```
//! use facteur::auth::spf::{check_mail_from, SpfResult};
//! use facteur::dns::{RecordData, StaticResolver};
//! let mut dns = StaticResolver::new();
//! dns.add("example.com", RecordData::Txt(vec![b"v=spf1 ip4:192.0.2.0/24 -all".to_vec()]));
//! let ip = "198.51.100.7".parse().unwrap();
//! let out = smol::block_on(check_mail_from(&dns, ip, "joe@example.com", "mx.example.org", "mx.example.net", 0));
//! assert_eq!(out.result, SpfResult::Fail);
//! assert_eq!(out.auth_results(), "spf=fail smtp.mailfrom=example.com");
//! ```

mod eval;
mod macros;
mod parse;

use std::fmt;
use std::net::IpAddr;

use crate::dns::Resolver;
pub use eval::in_network;
use eval::Eval;
pub use macros::{MacroString, Place, Values as MacroValues};
pub use parse::{is_spf_record, parse_record, Record};

/// The result of an SPF check (RFC 7208 §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpfResult {
    /// No SPF record, or no domain to check (§2.6.1).
    None,
    /// The domain states nothing about the address (§2.6.2).
    Neutral,
    /// The address may send for the domain (§2.6.3).
    Pass,
    /// The address may not send for the domain (§2.6.4).
    Fail,
    /// Probably not allowed; weaker than fail (§2.6.5).
    SoftFail,
    /// A transient DNS error; trying later may work (§2.6.6).
    TempError,
    /// The record cannot be interpreted (§2.6.7).
    PermError,
}

impl SpfResult {
    /// The RFC's word for the result (`"softfail"`), as written in
    /// Received-SPF and Authentication-Results.
    pub fn as_str(self) -> &'static str {
        match self {
            SpfResult::None => "none",
            SpfResult::Neutral => "neutral",
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::TempError => "temperror",
            SpfResult::PermError => "permerror",
        }
    }
}

impl fmt::Display for SpfResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity checked (§2.3, §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    /// The MAIL FROM (or `postmaster@` the HELO name for a null sender).
    MailFrom,
    /// The HELO/EHLO name.
    Helo,
}

impl Identity {
    /// The word of Received-SPF's `identity=` (§9.1).
    pub fn as_str(self) -> &'static str {
        match self {
            Identity::MailFrom => "mailfrom",
            Identity::Helo => "helo",
        }
    }
}

/// Everything a check found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfOutcome {
    /// The result.
    pub result: SpfResult,
    /// The identity checked.
    pub identity: Identity,
    /// The domain whose record was checked (`""` when there was none, as
    /// for a HELO address literal).
    pub domain: String,
    /// The `<sender>` used, with a local-part (`postmaster@...` when the
    /// MAIL FROM was null or had none).
    pub sender: String,
    /// The client address.
    pub client_ip: IpAddr,
    /// The HELO/EHLO name.
    pub helo: String,
    /// This host's name.
    pub receiver: String,
    /// The directive that decided, as written (`-all`); `None` when no
    /// mechanism matched or there was an error.
    pub mechanism: Option<String>,
    /// On fail: the domain's explanation (§6.2), or a default one.
    pub explanation: Option<String>,
    /// On temperror or permerror: what went wrong.
    pub problem: Option<String>,
}

impl SpfOutcome {
    /// A one-line account of the result, the comment of Received-SPF
    /// (§9.1): "domain of joe@example.com designates 192.0.2.1 as
    /// permitted sender".
    pub fn reason(&self) -> String {
        let (s, ip) = (&self.sender, self.client_ip);
        match self.result {
            SpfResult::Pass => format!("domain of {s} designates {ip} as permitted sender"),
            SpfResult::Fail => {
                format!("domain of {s} does not designate {ip} as permitted sender")
            }
            SpfResult::SoftFail => {
                format!("transitioning domain of {s} does not designate {ip} as permitted sender")
            }
            SpfResult::Neutral => {
                format!("{ip} is neither permitted nor denied by domain of {s}")
            }
            SpfResult::None => {
                format!("domain of {s} does not designate permitted sender hosts")
            }
            SpfResult::TempError => format!(
                "error in processing during lookup of {s}: {}",
                self.problem.as_deref().unwrap_or("DNS error")
            ),
            SpfResult::PermError => format!(
                "permanent error in processing domain of {s}: {}",
                self.problem.as_deref().unwrap_or("bad record")
            ),
        }
    }

    /// The Authentication-Results method and property (RFC 8601 §2.7.2):
    /// `spf=pass smtp.mailfrom=example.com`, or `smtp.helo=` for the HELO
    /// identity.
    pub fn auth_results(&self) -> String {
        let (ptype, value) = match self.identity {
            Identity::MailFrom => ("smtp.mailfrom", &self.domain),
            Identity::Helo => ("smtp.helo", &self.helo),
        };
        format!("spf={} {ptype}={}", self.result, header_value(value))
    }
}

/// Most columns of a folded line (RFC 5322 §2.1.1 recommends 78).
const FOLD_AT: usize = 78;

/// Longest piece of peer-given text (sender, HELO, problem) copied into a
/// header; the rest is cut. Keeps the field well under 998 columns.
const MAX_HEADER_TEXT: usize = 200;

/// The complete `Received-SPF:` field (RFC 7208 §9.1), folded under 78
/// columns where its tokens allow, ending in CR LF:
///
/// ```text
/// Received-SPF: pass (mx.example.net: domain of joe@example.com designates
///     192.0.2.1 as permitted sender) client-ip=192.0.2.1;
///     envelope-from="joe@example.com"; helo=mx.example.org; ...
/// ```
///
/// Peer-given text is made safe for a header: controls and non-ASCII
/// become `?`, parentheses in the comment too.
pub fn received_spf_header(o: &SpfOutcome) -> String {
    let mut groups: Vec<String> = vec![o.result.as_str().to_string()];
    let comment = format!(
        "({}: {})",
        comment_text(&o.receiver),
        comment_text(&o.reason())
    );
    groups.extend(comment.split(' ').map(String::from));
    let mut pairs = vec![
        ("client-ip", header_value(&o.client_ip.to_string())),
        ("envelope-from", quoted(&o.sender)),
        ("helo", header_value(&o.helo)),
        ("receiver", header_value(&o.receiver)),
        ("identity", o.identity.as_str().to_string()),
    ];
    match (&o.mechanism, o.result) {
        (Some(m), _) => pairs.push(("mechanism", quoted(m))),
        (None, SpfResult::Neutral) => pairs.push(("mechanism", "default".into())),
        _ => {}
    }
    if let Some(p) = &o.problem {
        pairs.push(("problem", quoted(p)));
    }
    groups.extend(pairs.into_iter().map(|(k, v)| format!("{k}={v};")));

    let mut out = String::from("Received-SPF:");
    let mut col = out.len();
    for g in groups {
        if col + 1 + g.len() > FOLD_AT && col > 8 {
            out.push_str("\r\n\t");
            col = 8; // a tab counts as up to 8 columns
        } else {
            out.push(' ');
            col += 1;
        }
        col += g.len();
        out.push_str(&g);
    }
    out.push_str("\r\n");
    out
}

/// check_host() (RFC 7208 §4): the SPF result for `ip` sending as
/// `sender` (its local-part defaults to `postmaster`, §4.3) with
/// `domain`'s record. `helo` and `receiver_hostname` are for macros
/// (`%{h}`, `%{r}`), `now` (seconds since the epoch) for `%{t}`.
pub async fn check_host(
    resolver: &dyn Resolver,
    ip: IpAddr,
    domain: &str,
    sender: &str,
    helo: &str,
    receiver_hostname: &str,
    now: i64,
) -> SpfOutcome {
    // An IPv4 client seen through an IPv6 socket is an IPv4 client.
    let ip = ip.to_canonical();
    let (local, sender_domain) = match sender.rsplit_once('@') {
        Some((l, d)) => (l, d),
        None => ("", sender),
    };
    let sender_domain = if sender_domain.is_empty() {
        domain
    } else {
        sender_domain
    };
    // §4.3: "If the <sender> has no local-part, substitute the string
    // 'postmaster' for the local-part."
    let local = if local.is_empty() {
        "postmaster"
    } else {
        local
    };
    let mut eval = Eval {
        resolver,
        ip,
        sender: format!("{local}@{sender_domain}"),
        local: local.to_string(),
        sender_domain: sender_domain.to_string(),
        helo: helo.to_string(),
        receiver: receiver_hostname.to_string(),
        now,
        dns_terms: 0,
        voids: 0,
    };
    let mut outcome = SpfOutcome {
        result: SpfResult::None,
        identity: Identity::MailFrom,
        domain: domain.to_string(),
        sender: eval.sender.clone(),
        client_ip: ip,
        helo: helo.to_string(),
        receiver: receiver_hostname.to_string(),
        mechanism: None,
        explanation: None,
        problem: None,
    };
    match eval.check(domain.to_string()).await {
        Ok(verdict) => {
            outcome.result = verdict.result;
            outcome.mechanism = verdict.mechanism;
            if let Some(source) = verdict.exp {
                outcome.explanation = Some(eval.explanation(&source).await);
            }
        }
        Err(abort) => {
            outcome.result = abort.result;
            outcome.problem = Some(abort.problem);
        }
    }
    outcome
}

/// The MAIL FROM check (§2.4): the domain of `mail_from`, or for a null
/// reverse-path (`""` or `"<>"`) `postmaster@` the HELO name.
pub async fn check_mail_from(
    resolver: &dyn Resolver,
    ip: IpAddr,
    mail_from: &str,
    helo: &str,
    receiver_hostname: &str,
    now: i64,
) -> SpfOutcome {
    let mail_from = mail_from
        .strip_prefix('<')
        .and_then(|m| m.strip_suffix('>'))
        .unwrap_or(mail_from);
    if mail_from.is_empty() {
        let sender = format!("postmaster@{helo}");
        return check_host(resolver, ip, helo, &sender, helo, receiver_hostname, now).await;
    }
    let domain = mail_from.rsplit_once('@').map_or(mail_from, |(_, d)| d);
    check_host(
        resolver,
        ip,
        domain,
        mail_from,
        helo,
        receiver_hostname,
        now,
    )
    .await
}

/// The HELO check (§2.3): the HELO name's record, with `postmaster@` the
/// HELO name as sender. An address literal (`[192.0.2.1]`) has no record:
/// none.
pub async fn check_helo(
    resolver: &dyn Resolver,
    ip: IpAddr,
    helo: &str,
    receiver_hostname: &str,
    now: i64,
) -> SpfOutcome {
    let sender = format!("postmaster@{helo}");
    let domain = if helo.starts_with('[') || helo.parse::<IpAddr>().is_ok() {
        ""
    } else {
        helo
    };
    let mut o = check_host(resolver, ip, domain, &sender, helo, receiver_hostname, now).await;
    o.identity = Identity::Helo;
    o.domain = domain.to_string();
    o
}

/// Peer-given text made safe for a header, cut to [`MAX_HEADER_TEXT`]:
/// controls and non-ASCII become `?`.
fn safe_text(s: &str) -> String {
    s.chars()
        .take(MAX_HEADER_TEXT)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// Text for inside a comment (RFC 5322 §3.2.2): no parentheses or
/// backslashes.
fn comment_text(s: &str) -> String {
    safe_text(s).replace(['(', ')', '\\'], "?")
}

/// A quoted-string (RFC 5322 §3.2.4).
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in safe_text(s).chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A dot-atom when `s` is one (RFC 5322 §3.2.3), else a quoted-string.
fn header_value(s: &str) -> String {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom = !s.is_empty()
        && s.len() <= MAX_HEADER_TEXT
        && s.split('.').all(|p| !p.is_empty() && p.chars().all(atext));
    if dot_atom {
        s.to_string()
    } else {
        quoted(s)
    }
}

#[cfg(test)]
mod tests;
