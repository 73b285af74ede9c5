//! Inbound antispam: independent checks, a pipeline that runs them at each
//! SMTP stage, and one policy that turns their summed score into an action.
//!
//! - [`Check`]: one check per file under [`checks`], with a method per SMTP
//!   stage (connect, HELO, MAIL FROM, RCPT, end of DATA). Each returns
//!   [`Verdict`]s: a score, the rule that fired and why, header fields to
//!   add, and optionally a hard [`Reject`].
//! - [`pipeline`]: runs the checks of a stage concurrently under the
//!   message's DNS deadline, keeps the authentication results ([`Facts`])
//!   for the `Authentication-Results` field (RFC 8601), and asks the
//!   [`policy`] for the action.
//!
//! Checks never read the clock: the stage's `now` is in the [`Context`].

pub mod bayes;
pub mod checks;
pub mod diagnose;
pub mod pipeline;
pub mod policy;
pub mod setup;
pub mod trusted;

use crate::auth::dkim::verify::DkimOutcome;
use crate::auth::dmarc::DmarcOutcome;
use crate::auth::spf::SpfOutcome;
use crate::dns::{BoxFuture, Resolver};
use crate::mail::mime::Structure;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// A refusal, given as the SMTP reply of the stage it happens at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Reply code: 550 (permanent), 450/451 (try later), 421 (closing).
    pub code: u16,
    /// Enhanced status code (RFC 3463), like `5.7.1`.
    pub status: &'static str,
    /// Human-readable text.
    pub text: String,
}

impl Reject {
    /// A refusal with the given code, status and text.
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Reject {
        Reject {
            code,
            status,
            text: text.into(),
        }
    }

    /// True for a temporary refusal (4xx).
    pub fn is_temporary(&self) -> bool {
        self.code < 500
    }
}

/// What one check concluded about one thing.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The rule that fired, in capitals: `SPF_FAIL`, `RDNS_NONE`, ...
    pub rule: String,
    /// Added to the total; negative for good signs.
    pub score: f32,
    /// Why, for the logs and `facteur check message`.
    pub reason: String,
    /// Header fields to add to the message, each a whole field ending in
    /// CR LF (`Received-SPF: pass ...\r\n`), folded under 998 columns.
    pub headers: Vec<String>,
    /// When set, the score counts only for this local account's copy (the
    /// Bayes filter is per user); otherwise for every recipient.
    pub account: Option<String>,
    /// A hard refusal, whatever the total.
    pub reject: Option<Reject>,
    /// Deliver to Junk whatever the total (DMARC p=quarantine).
    pub junk: bool,
}

impl Verdict {
    /// A scored verdict without headers or refusal.
    pub fn score(rule: impl Into<String>, score: f32, reason: impl Into<String>) -> Verdict {
        Verdict {
            rule: rule.into(),
            score,
            reason: reason.into(),
            headers: Vec::new(),
            account: None,
            reject: None,
            junk: false,
        }
    }

    /// A hard refusal (its score is 0: the refusal decides).
    pub fn reject(rule: impl Into<String>, reject: Reject) -> Verdict {
        Verdict {
            reason: reject.text.clone(),
            reject: Some(reject),
            ..Verdict::score(rule, 0.0, "")
        }
    }

    /// Adds a header field to the verdict.
    pub fn with_header(mut self, field: impl Into<String>) -> Verdict {
        self.headers.push(field.into());
        self
    }

    /// Sends the message to Junk whatever the total.
    pub fn to_junk(mut self) -> Verdict {
        self.junk = true;
        self
    }

    /// Limits the verdict to one account's copy.
    pub fn for_account(mut self, account: impl Into<String>) -> Verdict {
        self.account = Some(account.into());
        self
    }
}

/// The forward-confirmed reverse DNS of the client (RFC 8601 §3 "iprev").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iprev {
    /// `pass`, `fail`, `temperror` or `permerror` (RFC 8601 §2.7.3).
    pub result: &'static str,
    /// The confirmed name on pass, else the first name found, if any.
    pub name: Option<String>,
}

/// Authentication results gathered during a session: what goes into the
/// `Authentication-Results` field, and what DMARC builds on.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// SPF of the MAIL FROM identity (or of HELO for the null sender).
    pub spf: Option<SpfOutcome>,
    /// SPF of the HELO identity, when checked.
    pub helo_spf: Option<SpfOutcome>,
    /// Reverse DNS of the client.
    pub iprev: Option<Iprev>,
    /// DKIM signatures of the message.
    pub dkim: Option<DkimOutcome>,
    /// DMARC of the From domain.
    pub dmarc: Option<DmarcOutcome>,
}

/// A recipient being checked at RCPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address, as given (lowercase domain).
    pub address: String,
    /// The local accounts it reaches (empty for a remote forward).
    pub accounts: Vec<String>,
}

/// What checks know about the SMTP session. One per connection; the
/// pipeline fills it in stage by stage.
pub struct Context {
    /// The client's address.
    pub peer: IpAddr,
    /// Our own addresses: the one the client connected to, and any other
    /// the adapter knows (a HELO naming one of them is forged).
    pub local_ips: Vec<IpAddr>,
    /// Our host name (the authserv-id of `Authentication-Results`).
    pub hostname: String,
    /// Our mail domains.
    pub local_domains: Vec<String>,
    /// The client is on a trusted network (`antispam.trusted_networks`):
    /// greylisting, the DNS block lists and the rate limits pass it by.
    pub trusted: bool,
    /// The stage's time, Unix seconds.
    pub now: u64,
    /// The HELO/EHLO argument, once given.
    pub helo: Option<String>,
    /// The envelope sender once MAIL FROM was given: the address, or ""
    /// for the null sender.
    pub mail_from: Option<String>,
    /// Recipients accepted so far in this transaction.
    pub recipients: Vec<Recipient>,
    /// DNS for the checks.
    pub resolver: Arc<dyn Resolver>,
    facts: Mutex<Facts>,
}

impl Context {
    /// A context for a new connection.
    pub fn new(
        peer: IpAddr,
        hostname: impl Into<String>,
        local_domains: Vec<String>,
        resolver: Arc<dyn Resolver>,
        now: u64,
    ) -> Context {
        Context {
            peer,
            local_ips: Vec::new(),
            hostname: hostname.into(),
            local_domains,
            trusted: false,
            now,
            helo: None,
            mail_from: None,
            recipients: Vec::new(),
            resolver,
            facts: Mutex::new(Facts::default()),
        }
    }

    /// The authentication results so far, to read or to record into.
    pub fn facts(&self) -> MutexGuard<'_, Facts> {
        // A panic while holding the lock leaves plain data: still usable.
        self.facts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The domain of the envelope sender, lowercase; `None` for the null
    /// sender or before MAIL FROM.
    pub fn sender_domain(&self) -> Option<String> {
        let from = self.mail_from.as_deref()?;
        let (_, domain) = from.rsplit_once('@')?;
        Some(domain.trim_end_matches('.').to_ascii_lowercase())
    }

    /// True when `domain` (any case) is one of ours.
    pub fn is_local_domain(&self, domain: &str) -> bool {
        let d = domain.trim_end_matches('.');
        self.local_domains.iter().any(|l| l.eq_ignore_ascii_case(d))
    }

    /// Every local account the transaction's recipients reach, once each.
    pub fn accounts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in self.recipients.iter().flat_map(|r| &r.accounts) {
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
        out
    }

    /// Starts a new transaction (after RSET or a finished message): the
    /// envelope and the message's results go, the connection's stay.
    pub fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.recipients.clear();
        let mut f = self.facts();
        f.spf = None;
        f.dkim = None;
        f.dmarc = None;
    }
}

/// The received message, at the end of DATA.
pub struct Message<'a> {
    /// The top-level header as received (bounded by the receiver).
    pub header: &'a [u8],
    /// Its MIME structure (offsets into the file at `path`).
    pub structure: &'a Structure,
    /// The message as received, for checks that read the body (bounded
    /// reads; never the whole of a large message).
    pub path: &'a Path,
    /// Its size in bytes.
    pub size: u64,
}

/// A check: one per file in [`checks`]. Every stage method has a default
/// that finds nothing, so a check implements only its stages.
pub trait Check: Send + Sync {
    /// The check's name, for logs.
    fn name(&self) -> &'static str;

    /// A client connected (before the greeting).
    fn connect<'a>(&'a self, _cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
        nothing()
    }

    /// The client said HELO or EHLO (`cx.helo`).
    fn helo<'a>(&'a self, _cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
        nothing()
    }

    /// MAIL FROM (`cx.mail_from`).
    fn mail_from<'a>(&'a self, _cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
        nothing()
    }

    /// A RCPT TO that our recipient policy accepted; not yet in
    /// `cx.recipients`.
    fn rcpt<'a>(&'a self, _cx: &'a Context, _rcpt: &'a Recipient) -> BoxFuture<'a, Vec<Verdict>> {
        nothing()
    }

    /// A RCPT TO that our recipient policy refused (unknown user, relay).
    /// A refusal here ends the session (directory harvesting).
    fn rcpt_refused(&self, _cx: &Context) -> Option<Reject> {
        None
    }

    /// The end of DATA: the whole message is spooled. `cx.facts().dkim`
    /// is already set.
    fn data<'a>(&'a self, _cx: &'a Context, _msg: &'a Message<'a>) -> BoxFuture<'a, Vec<Verdict>> {
        nothing()
    }

    /// The message was accepted for delivery (not refused, whatever the
    /// folder). Checks with memory (greylisting history) learn here.
    fn accepted(&self, _cx: &Context) {}

    /// Whether the check also runs for clients on a trusted network
    /// ([`Context::trusted`]); greylisting, the DNS block lists and the
    /// rate limits say no.
    fn for_trusted(&self) -> bool {
        true
    }
}

/// The future of a stage that finds nothing.
pub fn nothing<'a>() -> BoxFuture<'a, Vec<Verdict>> {
    Box::pin(std::future::ready(Vec::new()))
}

impl Message<'_> {
    /// The top-level header's fields, unfolded: name (as written) and
    /// value, in order.
    pub fn fields(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let mut reader = crate::mail::mime::search::FieldReader::new();
        let mut push = |name: &[u8], value: &[u8]| out.push((name.to_vec(), value.to_vec()));
        reader.feed(self.header, &mut push);
        reader.finish(&mut push);
        out
    }

    /// The values of the fields named `name` (any case).
    pub fn field_values(&self, name: &str) -> Vec<Vec<u8>> {
        self.fields()
            .into_iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
            .collect()
    }
}
