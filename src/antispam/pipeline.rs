//! Runs the checks stage by stage over one SMTP connection, and builds the
//! header fields a delivered message gets.
//!
//! The checks of a stage run concurrently; each stops at the stage's
//! deadline (its DNS lookups then count for nothing). The deadline starts
//! with each stage, so a client slow to send its message does not eat
//! into the time of the checks. Verdicts of connect
//! and HELO count for every message of the connection; those of MAIL,
//! RCPT and DATA for their transaction only.

use super::checks::join_all;
use super::policy::{self, Action, Folder, Policy};
use super::trusted::{is_trusted, Network};
use super::{Check, Context, Message, Recipient, Reject, Verdict};
use crate::auth::dkim::verify::Verifier;
use crate::dns::{BoxFuture, Resolver};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Most bytes of the top-level header kept for the checks; the rest of a
/// larger header is not looked at.
pub const MAX_HEADER: usize = 64 * 1024;

/// The checks and the policy, shared by all connections.
pub struct Pipeline {
    checks: Vec<Box<dyn Check>>,
    /// Turns the verdicts into an action.
    pub policy: Policy,
    /// How long the DNS work of one stage may take.
    pub deadline: Duration,
    /// DNS for the checks.
    pub resolver: Arc<dyn Resolver>,
    /// Our host name: the authserv-id of Authentication-Results.
    pub hostname: String,
    /// Networks whose clients skip the checks that say so
    /// ([`Check::for_trusted`]).
    pub trusted: Vec<Network>,
}

impl Pipeline {
    /// A pipeline over `checks`, in the order they are reported.
    pub fn new(
        checks: Vec<Box<dyn Check>>,
        policy: Policy,
        deadline: Duration,
        resolver: Arc<dyn Resolver>,
        hostname: &str,
    ) -> Pipeline {
        Pipeline {
            checks,
            policy,
            deadline,
            resolver,
            hostname: hostname.to_string(),
            trusted: Vec::new(),
        }
    }

    /// The pipeline with `networks` trusted (`antispam.trusted_networks`).
    pub fn with_trusted(mut self, networks: Vec<Network>) -> Pipeline {
        self.trusted = networks;
        self
    }

    /// The checks that run for a client, trusted or not.
    fn checks_for(&self, trusted: bool) -> impl Iterator<Item = &dyn Check> {
        self.checks
            .iter()
            .map(|c| c.as_ref())
            .filter(move |c| !trusted || c.for_trusted())
    }

    /// The scan of a new connection from `peer` to our `local` address.
    pub fn scan(
        self: &Arc<Self>,
        peer: IpAddr,
        local: Option<IpAddr>,
        local_domains: Vec<String>,
        now: u64,
    ) -> Scan {
        let mut cx = Context::new(
            peer,
            self.hostname.clone(),
            local_domains,
            self.resolver.clone(),
            now,
        );
        cx.local_ips.extend(local);
        cx.trusted = is_trusted(&self.trusted, peer);
        Scan::new(self.clone(), cx)
    }

    /// The names of the checks, in order.
    pub fn check_names(&self) -> Vec<&'static str> {
        self.checks.iter().map(|c| c.name()).collect()
    }

    /// Runs one stage of every check concurrently until `deadline`. With
    /// `until_refused` (the stages before DATA, whose first refusal is
    /// final), it stops at the first verdict that refuses: checks later
    /// in the list are then not started, so a client refused by the rate
    /// limits costs no DNS lookup.
    async fn run<'a>(
        &'a self,
        deadline: Instant,
        until_refused: bool,
        trusted: bool,
        stage: impl Fn(&'a dyn Check) -> BoxFuture<'a, Vec<Verdict>>,
    ) -> Vec<Verdict> {
        let futures: Vec<BoxFuture<'a, Vec<Verdict>>> = self
            .checks_for(trusted)
            .map(|c| {
                let name = c.name();
                let fut = stage(c);
                let timeout = async move {
                    smol::Timer::at(deadline).await;
                    log::info!("antispam: check {name} ran out of time");
                    vec![Verdict::score(
                        format!("{}_TIMEOUT", name.to_ascii_uppercase()),
                        0.0,
                        "no answer before the deadline",
                    )]
                };
                Box::pin(smol::future::or(fut, timeout)) as BoxFuture<'a, Vec<Verdict>>
            })
            .collect();
        if until_refused {
            join_until_refused(futures).await
        } else {
            join_all(futures).await.into_iter().flatten().collect()
        }
    }
}

/// Polls the checks' futures concurrently on the current task, in list
/// order, until all are done or one gives a refusal; futures not done by
/// then are dropped (their lookups cancelled), and those never polled
/// never start.
async fn join_until_refused(mut futures: Vec<BoxFuture<'_, Vec<Verdict>>>) -> Vec<Verdict> {
    let mut done: Vec<Option<Vec<Verdict>>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|task| {
        let mut pending = false;
        for (fut, slot) in futures.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match Pin::as_mut(fut).poll(task) {
                    Poll::Ready(v) => {
                        let refused = v.iter().any(|x| x.reject.is_some());
                        *slot = Some(v);
                        if refused {
                            return Poll::Ready(());
                        }
                    }
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    done.into_iter().flatten().flatten().collect()
}

/// The scan of one SMTP connection.
pub struct Scan {
    pipeline: Arc<Pipeline>,
    /// What the checks know.
    pub cx: Context,
    connection: Vec<Verdict>,
    helo: Vec<Verdict>,
    transaction: Vec<Verdict>,
    deadline: Instant,
    tap: Option<BodyTap>,
}

impl Scan {
    /// The scan of a new connection.
    pub fn new(pipeline: Arc<Pipeline>, cx: Context) -> Scan {
        let deadline = Instant::now() + pipeline.deadline;
        Scan {
            pipeline,
            cx,
            connection: Vec::new(),
            helo: Vec::new(),
            transaction: Vec::new(),
            deadline,
            tap: None,
        }
    }

    /// The pipeline scanned with.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    fn restart_clock(&mut self, now: u64) {
        self.cx.now = now;
        self.deadline = Instant::now() + self.pipeline.deadline;
    }

    /// Connect stage. A refusal should be sent instead of the greeting
    /// (421 closes the connection).
    pub async fn connect(&mut self, now: u64) -> Option<Reject> {
        self.restart_clock(now);
        let p = self.pipeline.clone();
        let cx = &self.cx;
        let v = p
            .run(self.deadline, true, cx.trusted, |c| c.connect(cx))
            .await;
        let reject = first_reject(&v);
        self.connection = v;
        reject
    }

    /// HELO stage, when the client names itself (again: the name and its
    /// verdicts replace the earlier ones).
    pub async fn helo(&mut self, name: &str, now: u64) -> Option<Reject> {
        self.restart_clock(now);
        self.cx.helo = Some(name.to_string());
        let p = self.pipeline.clone();
        let cx = &self.cx;
        let v = p.run(self.deadline, true, cx.trusted, |c| c.helo(cx)).await;
        let reject = first_reject(&v);
        self.helo = v;
        reject
    }

    /// MAIL FROM stage: starts a transaction. `from` is the address, ""
    /// for the null sender.
    pub async fn mail_from(&mut self, from: &str, now: u64) -> Option<Reject> {
        self.cx.reset_transaction();
        self.transaction.clear();
        self.tap = None;
        self.restart_clock(now);
        self.cx.mail_from = Some(from.to_string());
        let p = self.pipeline.clone();
        let cx = &self.cx;
        let v = p
            .run(self.deadline, true, cx.trusted, |c| c.mail_from(cx))
            .await;
        let reject = first_reject(&v);
        self.transaction.extend(v);
        reject
    }

    /// RCPT stage for a recipient our policy accepted; on no refusal it
    /// joins the transaction.
    pub async fn rcpt(&mut self, rcpt: Recipient, now: u64) -> Option<Reject> {
        self.restart_clock(now);
        let p = self.pipeline.clone();
        let cx = &self.cx;
        let r = &rcpt;
        let v = p
            .run(self.deadline, true, cx.trusted, |c| c.rcpt(cx, r))
            .await;
        let reject = first_reject(&v);
        if reject.is_none() {
            self.cx.recipients.push(rcpt);
            self.transaction.extend(v);
        }
        reject
    }

    /// A recipient our policy refused: a refusal returned here replaces
    /// the 550 and ends the session.
    pub fn rcpt_refused(&mut self, now: u64) -> Option<Reject> {
        self.cx.now = now;
        self.pipeline
            .checks_for(self.cx.trusted)
            .find_map(|c| c.rcpt_refused(&self.cx))
    }

    /// The message body starts: the bytes given to [`Scan::body`] are the
    /// message exactly as received.
    pub fn body_start(&mut self, now: u64) {
        self.tap = Some(BodyTap::new(now as i64));
    }

    /// More of the message as received.
    pub fn body(&mut self, chunk: &[u8]) {
        if let Some(t) = &mut self.tap {
            t.feed(chunk);
        }
    }

    /// The end of DATA: verifies DKIM, runs the data stage and decides.
    /// `msg.header` may be empty: the header seen by [`Scan::body`] is
    /// used then.
    pub async fn data(&mut self, msg: &Message<'_>, now: u64) -> Outcome {
        // The clock starts again: the client may take long to send DATA.
        self.restart_clock(now);
        let tap = self.tap.take();
        let mut header_kept = Vec::new();
        if let Some(tap) = tap {
            header_kept = tap.header;
            let resolver = self.cx.resolver.clone();
            let deadline = self.deadline;
            let dkim = smol::future::or(
                async { Some(tap.verifier.finish(&*resolver).await) },
                async {
                    smol::Timer::at(deadline).await;
                    None
                },
            )
            .await;
            match &dkim {
                None => log::info!("antispam: DKIM keys not found before the deadline"),
                Some(d) if d.skipped > 0 => log::info!(
                    "antispam: {} DKIM signatures past the first {} not checked",
                    d.skipped,
                    d.signatures.len()
                ),
                Some(_) => {}
            }
            self.cx.facts().dkim = dkim;
        }
        let msg = Message {
            header: if msg.header.is_empty() {
                &header_kept
            } else {
                msg.header
            },
            structure: msg.structure,
            path: msg.path,
            size: msg.size,
        };
        let p = self.pipeline.clone();
        let cx = &self.cx;
        let m = &msg;
        let v = p
            .run(self.deadline, false, cx.trusted, |c| c.data(cx, m))
            .await;
        self.transaction.extend(v);
        let verdicts: Vec<Verdict> = self
            .connection
            .iter()
            .chain(&self.helo)
            .chain(&self.transaction)
            .cloned()
            .collect();
        let accounts = self.cx.accounts();
        let action = {
            let facts = self.cx.facts();
            p.policy.decide(&verdicts, &facts, &accounts)
        };
        let auth_results = self.authentication_results();
        Outcome {
            action,
            verdicts,
            auth_results,
            junk_score: p.policy.junk_score,
        }
    }

    /// Tells the checks the message was accepted.
    pub fn accepted(&self) {
        for c in self.pipeline.checks_for(self.cx.trusted) {
            c.accepted(&self.cx);
        }
    }

    /// The `Authentication-Results` field (RFC 8601 §2.2) of what was
    /// found so far, ending in CR LF.
    pub fn authentication_results(&self) -> String {
        let facts = self.cx.facts();
        let mut results: Vec<String> = Vec::new();
        if let Some(i) = &facts.iprev {
            let mut r = format!("iprev={} policy.iprev={}", i.result, self.cx.peer);
            if let Some(name) = &i.name {
                r.push_str(&format!(" ({})", safe_comment(name)));
            }
            results.push(r);
        }
        if let Some(s) = &facts.spf {
            results.push(s.auth_results());
        }
        if let Some(h) = &facts.helo_spf {
            results.push(h.auth_results());
        }
        if let Some(d) = &facts.dkim {
            results.extend(d.auth_results());
        }
        if let Some(d) = &facts.dmarc {
            results.push(d.auth_results());
        }
        let mut field = format!("Authentication-Results: {}", self.cx.hostname);
        if results.is_empty() {
            // RFC 8601 §2.2: "none" when no method was applied.
            field.push_str("; none");
        }
        let n = results.len();
        for (i, r) in results.into_iter().enumerate() {
            field.push_str(";\r\n\t");
            field.push_str(&r);
            if i + 1 == n {
                break;
            }
        }
        field.push_str("\r\n");
        field
    }
}

/// Keeps only characters safe inside a header comment.
fn safe_comment(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| {
            if c.is_ascii_graphic() && c != '(' && c != ')' && c != '\\' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

/// The most serious refusal among verdicts: permanent over temporary.
fn first_reject(verdicts: &[Verdict]) -> Option<Reject> {
    let mut best: Option<&Reject> = None;
    for r in verdicts.iter().filter_map(|v| v.reject.as_ref()) {
        if best.is_none_or(|b| b.is_temporary() && !r.is_temporary()) {
            best = Some(r);
        }
    }
    best.cloned()
}

/// What became of a message, and the header fields it gets.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The decision.
    pub action: Action,
    /// Every verdict that counted.
    pub verdicts: Vec<Verdict>,
    /// The `Authentication-Results` field.
    pub auth_results: String,
    /// The Junk threshold, reported in `X-Spam-Status`.
    pub junk_score: f32,
}

impl Outcome {
    /// The folder of `account`'s copy (INBOX when not decided).
    pub fn folder(&self, account: &str) -> Folder {
        match &self.action {
            Action::Deliver(list) => list
                .iter()
                .find(|(a, _)| a == account)
                .map_or(Folder::Inbox, |(_, f)| *f),
            Action::Refuse(_) => Folder::Junk,
        }
    }

    /// The header fields `account`'s copy gets, in order: what checks
    /// add, `Authentication-Results`, `X-Spam-Score` and `X-Spam-Status`
    /// with the rules that fired. For a copy that only goes elsewhere
    /// (forwarding), `account` is "".
    pub fn headers_for(&self, account: &str) -> String {
        let mut out = String::new();
        for v in &self.verdicts {
            for h in &v.headers {
                out.push_str(h);
            }
        }
        out.push_str(&self.auth_results);
        let total = policy::total(&self.verdicts, account);
        let junk = self.folder(account) == Folder::Junk && !account.is_empty();
        out.push_str(&format!("X-Spam-Score: {total:.1}\r\n"));
        let mut status = format!(
            "X-Spam-Status: {}, score={total:.1} required={:.1} tests=",
            if junk { "Yes" } else { "No" },
            self.junk_score
        );
        let mut line_len = status.len();
        let mut first = true;
        for v in self
            .verdicts
            .iter()
            .filter(|v| v.account.as_deref().is_none_or(|a| a == account))
            .filter(|v| v.score != 0.0 || v.reject.is_some() || v.junk)
        {
            let item = format!("{}({:.1})", v.rule, v.score);
            if !first {
                status.push(',');
                line_len += 1;
            }
            if line_len + item.len() > 76 {
                status.push_str("\r\n\t");
                line_len = 1;
            }
            status.push_str(&item);
            line_len += item.len();
            first = false;
        }
        if first {
            status.push_str("none");
        }
        status.push_str("\r\n");
        out.push_str(&status);
        out
    }

    /// One line per verdict, for `facteur check message` and the logs.
    pub fn report(&self) -> Vec<String> {
        self.verdicts
            .iter()
            .map(|v| {
                let mut line = format!("{:>6.1} {}", v.score, v.rule);
                if let Some(a) = &v.account {
                    line.push_str(&format!(" [{a}]"));
                }
                if !v.reason.is_empty() {
                    line.push_str(&format!(": {}", v.reason));
                }
                if let Some(r) = &v.reject {
                    line.push_str(&format!(" (refuse {} {})", r.code, r.status));
                }
                if v.junk {
                    line.push_str(" (to Junk)");
                }
                line
            })
            .collect()
    }
}

/// Watches the message as received: its DKIM signatures, and its header.
struct BodyTap {
    verifier: Verifier,
    header: Vec<u8>,
    header_done: bool,
}

impl BodyTap {
    fn new(now: i64) -> BodyTap {
        BodyTap {
            verifier: Verifier::new(now),
            header: Vec::new(),
            header_done: false,
        }
    }

    fn feed(&mut self, chunk: &[u8]) {
        self.verifier.update(chunk);
        if self.header_done {
            return;
        }
        let from = self.header.len().saturating_sub(3);
        let room = MAX_HEADER.saturating_sub(self.header.len());
        self.header
            .extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if let Some(end) = header_end(self.header.get(from..).unwrap_or_default()) {
            self.header.truncate(from + end);
            self.header_done = true;
        } else if self.header.len() >= MAX_HEADER {
            self.header_done = true;
        }
    }
}

/// Where the header ends in `bytes` (just after its empty line), if it
/// does: the first LF CR LF or LF LF. Also true at the very start of a
/// message that has no header.
fn header_end(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i) == Some(&b'\n') {
            match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(b'\n'), _) => return Some(i + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Removes, while the message streams, the fields of the top-level header
/// that only we may write:
/// - every `Authentication-Results` whose authserv-id, as a token or a
///   quoted string, is our host name: RFC 8601 §5, "MUST delete any
///   discovered instance of this header field that claims, by virtue of
///   its authentication service identifier, to have been added within its
///   trust boundary";
/// - every `X-Spam-*` field (score, status, flag, level), which clients
///   and filters read as our verdict, as SpamAssassin removes earlier
///   markup and rspamd's milter_headers `remove` does;
/// - every `Received-SPF` (RFC 7208 §9.1), which looks alike to a reader
///   whether we wrote it or the sender did.
///
/// Ours are added above the message afterwards.
pub struct AuthResultsFilter {
    hostname: String,
    /// The field being held, in [`Mode::Hold`].
    field: Vec<u8>,
    mode: Mode,
    line_start: bool,
    in_body: bool,
}

/// What the filter does with the current field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Holding it until it is complete, to judge it.
    Hold,
    /// Passing an over-long field through.
    Pass,
    /// Dropping an over-long `Authentication-Results`.
    Drop,
}

/// Longest field the filter holds to look at; an `Authentication-Results`
/// longer than that is dropped whoever it claims to be from (and an
/// `X-Spam-*` or `Received-SPF` of any length is dropped anyway).
const MAX_FILTERED_FIELD: usize = 8 * 1024;

impl AuthResultsFilter {
    /// A filter for fields claiming `hostname`.
    pub fn new(hostname: &str) -> AuthResultsFilter {
        AuthResultsFilter {
            hostname: hostname.trim_end_matches('.').to_ascii_lowercase(),
            field: Vec::new(),
            mode: Mode::Hold,
            line_start: true,
            in_body: false,
        }
    }

    /// Filters the next bytes of the message into `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        for &b in chunk {
            if self.in_body {
                out.push(b);
                continue;
            }
            if self.line_start {
                self.line_start = false;
                if b != b' ' && b != b'\t' {
                    // The previous field is complete.
                    self.flush_field(out);
                    self.mode = Mode::Hold;
                    if b == b'\r' || b == b'\n' {
                        // The empty line: the body follows.
                        out.push(b);
                        self.in_body = true;
                        continue;
                    }
                }
            }
            match self.mode {
                Mode::Hold => {
                    self.field.push(b);
                    if self.field.len() > MAX_FILTERED_FIELD {
                        if is_auth_results(&self.field) || is_ours_only(&self.field) {
                            self.mode = Mode::Drop;
                            self.field.clear();
                        } else {
                            self.mode = Mode::Pass;
                            out.append(&mut self.field);
                        }
                    }
                }
                Mode::Pass => out.push(b),
                Mode::Drop => {}
            }
            if b == b'\n' {
                self.line_start = true;
            }
        }
    }

    /// The message ended: what is held goes out.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.flush_field(out);
        self.in_body = true;
    }

    fn flush_field(&mut self, out: &mut Vec<u8>) {
        if self.mode == Mode::Hold && !self.forged(&self.field) {
            out.extend_from_slice(&self.field);
        }
        self.field.clear();
    }

    fn forged(&self, field: &[u8]) -> bool {
        if is_ours_only(field) {
            return true;
        }
        if !is_auth_results(field) {
            return false;
        }
        let Some(colon) = field.iter().position(|&b| b == b':') else {
            return false;
        };
        let value = String::from_utf8_lossy(field.get(colon + 1..).unwrap_or_default());
        authserv_id(&value).eq_ignore_ascii_case(&self.hostname)
    }
}

/// The name of a raw field: what comes before its colon, blanks trimmed
/// at the end; `None` when the line has no colon.
fn field_name(field: &[u8]) -> Option<&[u8]> {
    let colon = field.iter().position(|&b| b == b':')?;
    let name = field.get(..colon)?;
    let end = name
        .iter()
        .rposition(|b| *b != b' ' && *b != b'\t')
        .map_or(0, |i| i + 1);
    name.get(..end)
}

/// True when a raw field is named Authentication-Results.
fn is_auth_results(field: &[u8]) -> bool {
    field_name(field).is_some_and(|n| n.eq_ignore_ascii_case(b"authentication-results"))
}

/// True for a field only we may write whatever it says: `X-Spam-*` and
/// `Received-SPF`.
fn is_ours_only(field: &[u8]) -> bool {
    field_name(field).is_some_and(|n| {
        n.eq_ignore_ascii_case(b"received-spf")
            || n.get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"x-spam-"))
    })
}

/// The authserv-id of an Authentication-Results value (RFC 8601 §2.2):
/// the first value, after comments and blanks, before `;` or a blank. A
/// value is a token or a quoted string (RFC 2045 §5.1), which is
/// unquoted: `"mx.example.org"` names mx.example.org.
fn authserv_id(value: &str) -> String {
    let mut depth = 0u32;
    let mut id = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            '\\' if depth > 0 => {
                chars.next();
            }
            _ if depth > 0 => {}
            '"' => {
                // RFC 5322 §3.2.4: a quoted-string, `\` quoting a character.
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => id.extend(chars.next()),
                        '\r' | '\n' => {}
                        q => id.push(q),
                    }
                }
            }
            ';' => break,
            c if c.is_whitespace() => {
                if !id.is_empty() {
                    break;
                }
            }
            c => id.push(c),
        }
    }
    id.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::antispam::checks::{dkim::DkimCheck, dmarc::DmarcCheck, spf::SpfCheck};
    use crate::dns::static_resolver::StaticResolver;
    use crate::dns::RecordData;

    fn filter_in_pieces(input: &[u8], pieces: usize) -> Vec<u8> {
        let mut f = AuthResultsFilter::new("mx.example.org");
        let mut out = Vec::new();
        let step = input.len().div_ceil(pieces.max(1)).max(1);
        for chunk in input.chunks(step) {
            f.feed(chunk, &mut out);
        }
        f.finish(&mut out);
        out
    }

    #[test]
    fn forged_authentication_results_are_removed() {
        let msg =
            b"Authentication-Results: MX.example.org.;\r\n\tspf=pass smtp.mailfrom=x.example\r\n\
Authentication-Results: other.example; dkim=pass\r\n\
Subject: hi\r\n\
authentication-results : (comment) mx.example.org; none\r\n\
From: a@x.example\r\n\r\n\
Authentication-Results: mx.example.org; in the body\r\n";
        let want: &[u8] = b"Authentication-Results: other.example; dkim=pass\r\n\
Subject: hi\r\n\
From: a@x.example\r\n\r\n\
Authentication-Results: mx.example.org; in the body\r\n";
        for pieces in [1, 2, 3, 7, msg.len()] {
            assert_eq!(
                String::from_utf8_lossy(&filter_in_pieces(msg, pieces)),
                String::from_utf8_lossy(want),
                "in {pieces} pieces"
            );
        }
    }

    #[test]
    fn quoted_ids_and_fields_only_we_write_are_removed() {
        // Issue item 14: a quoted authserv-id is ours too; X-Spam-* and
        // Received-SPF from outside never stay.
        let msg = b"Authentication-Results: \"mx.example.org\"; dkim=pass\r\n\
Authentication-Results: (c) \"MX.Example\\.org.\" 1;\r\n\tspf=pass\r\n\
Authentication-Results: \"other.example\"; dkim=pass\r\n\
X-Spam-Status: No, score=-5.0\r\n\
x-spam-score:-5\r\n\
X-Spam-Flag : NO\r\n\
Received-SPF: pass (mx.example.org: forged)\r\n\tidentity=mailfrom\r\n\
X-Spamming: kept\r\n\
Subject: hi\r\n\r\n\
X-Spam-Status: in the body\r\n";
        let want: &[u8] = b"Authentication-Results: \"other.example\"; dkim=pass\r\n\
X-Spamming: kept\r\n\
Subject: hi\r\n\r\n\
X-Spam-Status: in the body\r\n";
        for pieces in [1, 2, 5, msg.len()] {
            assert_eq!(
                String::from_utf8_lossy(&filter_in_pieces(msg, pieces)),
                String::from_utf8_lossy(want),
                "in {pieces} pieces"
            );
        }
        let long = format!(
            "X-Spam-Report: {}\r\nA: b\r\n\r\n",
            "x".repeat(MAX_FILTERED_FIELD)
        );
        assert_eq!(filter_in_pieces(long.as_bytes(), 3), b"A: b\r\n\r\n");
    }

    #[test]
    fn over_long_fields_pass_or_drop_whole() {
        let long = "x".repeat(MAX_FILTERED_FIELD + 100);
        let msg = format!(
            "X-Long: {long}\r\n\tmore\r\nAuthentication-Results: ({long}) anything\r\n\tnext\r\nSubject: s\r\n\r\nbody"
        );
        let out = filter_in_pieces(msg.as_bytes(), 5);
        let want = format!("X-Long: {long}\r\n\tmore\r\nSubject: s\r\n\r\nbody");
        assert_eq!(String::from_utf8_lossy(&out), want);
    }

    #[test]
    fn bare_lf_and_headerless_messages() {
        let msg = b"Authentication-Results: mx.example.org; x\nA: b\n\nbody\n";
        assert_eq!(filter_in_pieces(msg, 3), b"A: b\n\nbody\n");
        assert_eq!(filter_in_pieces(b"\r\njust body", 1), b"\r\njust body");
        assert_eq!(
            filter_in_pieces(b"No-Blank-Line: x", 1),
            b"No-Blank-Line: x"
        );
    }

    #[test]
    fn authserv_id_skips_comments() {
        assert_eq!(
            authserv_id(" (c) host.example. 1; spf=pass"),
            "host.example"
        );
        assert_eq!(authserv_id("host.example;spf=pass"), "host.example");
        assert_eq!(
            authserv_id(" (a \\) b) \"host\\.example.\";spf=pass"),
            "host.example"
        );
        assert_eq!(authserv_id(""), "");
    }

    fn pipeline(resolver: StaticResolver) -> Arc<Pipeline> {
        Arc::new(Pipeline::new(
            vec![
                Box::new(SpfCheck {
                    softfail_to_junk: true,
                }),
                Box::new(DkimCheck),
                Box::new(DmarcCheck {
                    honour_reject: true,
                    honour_quarantine: true,
                    sample: || 0,
                }),
            ],
            Policy::default(),
            Duration::from_secs(5),
            Arc::new(resolver),
            "mx.example.org",
        ))
    }

    fn txt(text: &str) -> RecordData {
        RecordData::Txt(vec![text.as_bytes().to_vec()])
    }

    /// Runs a whole session: HELO, MAIL FROM, one recipient, the message.
    fn run(p: &Arc<Pipeline>, ip: &str, from: &str, message: &[u8]) -> Outcome {
        let dir = std::env::temp_dir().join(format!(
            "facteur-pipeline-{}-{}",
            std::process::id(),
            crate::dns::random_u32()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("msg");
        std::fs::write(&path, message).unwrap();
        let mut scan = p.scan(
            ip.parse().unwrap(),
            None,
            vec!["example.org".into()],
            1_700_000_000,
        );
        let outcome = smol::block_on(async {
            assert!(scan.connect(1_700_000_000).await.is_none());
            assert!(scan
                .helo("client.example.net", 1_700_000_000)
                .await
                .is_none());
            assert!(scan.mail_from(from, 1_700_000_000).await.is_none());
            let rcpt = Recipient {
                address: "ann@example.org".into(),
                accounts: vec!["ann@example.org".into()],
            };
            assert!(scan.rcpt(rcpt, 1_700_000_000).await.is_none());
            scan.body_start(1_700_000_000);
            for chunk in message.chunks(7) {
                scan.body(chunk);
            }
            let structure = crate::mail::mime::parse(message);
            let msg = Message {
                header: &[],
                structure: &structure,
                path: &path,
                size: message.len() as u64,
            };
            scan.data(&msg, 1_700_000_000).await
        });
        let _ = std::fs::remove_dir_all(&dir);
        outcome
    }

    const MESSAGE: &[u8] =
        b"From: Joe <joe@sender.example>\r\nTo: ann@example.org\r\nSubject: hi\r\n\r\nhello\r\n";

    #[test]
    fn spf_pass_with_dmarc_pass_goes_to_inbox_with_results() {
        let mut r = StaticResolver::new();
        r.add("sender.example", txt("v=spf1 ip4:192.0.2.5 -all"));
        r.add("_dmarc.sender.example", txt("v=DMARC1; p=reject"));
        let o = run(&pipeline(r), "192.0.2.5", "joe@sender.example", MESSAGE);
        assert_eq!(
            o.action,
            Action::Deliver(vec![("ann@example.org".into(), Folder::Inbox)])
        );
        assert!(o
            .auth_results
            .starts_with("Authentication-Results: mx.example.org;\r\n\t"));
        assert!(o
            .auth_results
            .contains("spf=pass smtp.mailfrom=sender.example"));
        assert!(o.auth_results.contains("dkim=none"));
        assert!(o.auth_results.contains("dmarc=pass"));
        let headers = o.headers_for("ann@example.org");
        assert!(headers.starts_with("Received-SPF: pass"), "{headers}");
        assert!(headers.contains("X-Spam-Status: No, score="), "{headers}");
        assert!(headers.contains("SPF_PASS(-0.5)"), "{headers}");
    }

    #[test]
    fn dmarc_reject_refuses_and_softfail_goes_to_junk() {
        let mut r = StaticResolver::new();
        r.add("sender.example", txt("v=spf1 ip4:192.0.2.5 -all"));
        r.add("_dmarc.sender.example", txt("v=DMARC1; p=reject"));
        let p = pipeline(r);
        let o = run(&p, "192.0.2.6", "joe@sender.example", MESSAGE);
        assert!(
            matches!(&o.action, Action::Refuse(r) if r.code == 550 && r.status == "5.7.1"),
            "{:?}",
            o.action
        );
        let mut r = StaticResolver::new();
        r.add("soft.example", txt("v=spf1 ip4:192.0.2.5 ~all"));
        let o = run(
            &pipeline(r),
            "192.0.2.6",
            "joe@soft.example",
            b"From: joe@soft.example\r\n\r\nx\r\n",
        );
        assert_eq!(
            o.action,
            Action::Deliver(vec![("ann@example.org".into(), Folder::Junk)])
        );
        assert!(o
            .headers_for("ann@example.org")
            .contains("X-Spam-Status: Yes"));
    }

    #[test]
    fn a_check_past_the_deadline_counts_for_nothing() {
        struct Slow;
        impl Check for Slow {
            fn name(&self) -> &'static str {
                "slow"
            }
            fn connect<'a>(&'a self, _cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
                Box::pin(async {
                    smol::Timer::after(Duration::from_secs(60)).await;
                    vec![Verdict::score("NEVER", 50.0, "")]
                })
            }
        }
        struct Quick;
        impl Check for Quick {
            fn name(&self) -> &'static str {
                "quick"
            }
            fn connect<'a>(&'a self, _cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
                Box::pin(std::future::ready(vec![Verdict::score("QUICK", 1.0, "")]))
            }
        }
        let p = Arc::new(Pipeline::new(
            vec![Box::new(Slow), Box::new(Quick)],
            Policy::default(),
            Duration::from_millis(50),
            Arc::new(StaticResolver::new()),
            "mx.example.org",
        ));
        let mut scan = p.scan("192.0.2.1".parse().unwrap(), None, vec![], 0);
        assert!(smol::block_on(scan.connect(0)).is_none());
        let rules: Vec<&str> = scan.connection.iter().map(|v| v.rule.as_str()).collect();
        assert_eq!(rules, ["SLOW_TIMEOUT", "QUICK"]);
    }

    #[test]
    fn trusted_clients_skip_the_checks_that_say_so() {
        struct Grey;
        impl Check for Grey {
            fn name(&self) -> &'static str {
                "grey"
            }
            fn connect<'a>(&'a self, _cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
                Box::pin(std::future::ready(vec![Verdict::reject(
                    "GREY",
                    Reject::new(451, "4.7.1", "later"),
                )]))
            }
            fn for_trusted(&self) -> bool {
                false
            }
        }
        struct Auth;
        impl Check for Auth {
            fn name(&self) -> &'static str {
                "auth"
            }
            fn connect<'a>(&'a self, _cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
                Box::pin(std::future::ready(vec![Verdict::score("AUTH", 0.5, "")]))
            }
        }
        let p = Arc::new(
            Pipeline::new(
                vec![Box::new(Grey), Box::new(Auth)],
                Policy::default(),
                Duration::from_secs(5),
                Arc::new(StaticResolver::new()),
                "mx.example.org",
            )
            .with_trusted(vec!["192.0.2.0/24".parse().unwrap()]),
        );
        let mut trusted = p.scan("192.0.2.9".parse().unwrap(), None, vec![], 0);
        assert!(trusted.cx.trusted);
        assert!(smol::block_on(trusted.connect(0)).is_none());
        let rules: Vec<&str> = trusted.connection.iter().map(|v| v.rule.as_str()).collect();
        assert_eq!(rules, ["AUTH"]);
        let mut other = p.scan("198.51.100.1".parse().unwrap(), None, vec![], 0);
        assert!(!other.cx.trusted);
        assert_eq!(smol::block_on(other.connect(0)).map(|r| r.code), Some(451));
    }

    #[test]
    fn a_refusal_before_data_starts_no_later_check() {
        use std::sync::atomic::{AtomicBool, Ordering};
        struct Refuse;
        impl Check for Refuse {
            fn name(&self) -> &'static str {
                "refuse"
            }
            fn connect<'a>(&'a self, _cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
                Box::pin(std::future::ready(vec![Verdict::reject(
                    "FLOOD",
                    Reject::new(421, "4.7.0", "too many connections"),
                )]))
            }
        }
        struct Lookup(Arc<AtomicBool>);
        impl Check for Lookup {
            fn name(&self) -> &'static str {
                "lookup"
            }
            fn connect<'a>(&'a self, _cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
                Box::pin(async move {
                    self.0.store(true, Ordering::SeqCst);
                    vec![Verdict::score("LOOKED_UP", 1.0, "")]
                })
            }
        }
        let started = Arc::new(AtomicBool::new(false));
        let p = Arc::new(Pipeline::new(
            vec![Box::new(Refuse), Box::new(Lookup(started.clone()))],
            Policy::default(),
            Duration::from_secs(5),
            Arc::new(StaticResolver::new()),
            "mx.example.org",
        ));
        let mut scan = p.scan("192.0.2.1".parse().unwrap(), None, vec![], 0);
        let refused = smol::block_on(scan.connect(0)).expect("refused");
        assert_eq!(refused.code, 421);
        assert!(!started.load(Ordering::SeqCst), "the lookup never started");
        let rules: Vec<&str> = scan.connection.iter().map(|v| v.rule.as_str()).collect();
        assert_eq!(rules, ["FLOOD"]);
    }
}
