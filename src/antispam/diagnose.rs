//! `facteur check message`: the whole inbound pipeline on a stored
//! message, with no server running, to answer "why was this marked as
//! spam?". It runs the same checks as port 25, except those that judge
//! the sender's retry behaviour (greylisting, rate limits).

use super::pipeline::Pipeline;
use super::policy::{Action, Folder};
use super::{Message, Recipient};
use crate::mail::mime;
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// The SMTP envelope to replay.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The client's address.
    pub ip: IpAddr,
    /// Its HELO name.
    pub helo: String,
    /// The MAIL FROM address ("" for the null sender).
    pub mail_from: String,
    /// Recipients, each with the local accounts it reaches.
    pub recipients: Vec<Recipient>,
}

/// Runs the pipeline on the message in `file` and returns the report, one
/// line per element: the Authentication-Results field, every rule that
/// fired with its score, and the action.
pub async fn check_message(
    pipeline: Arc<Pipeline>,
    file: &Path,
    envelope: &Envelope,
    local_domains: Vec<String>,
    now: u64,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut scan = pipeline.scan(envelope.ip, None, local_domains, now);
    let refused = |stage: &str, r: super::Reject| {
        format!(
            "action: refuse at {stage}: {} {} {}",
            r.code, r.status, r.text
        )
    };
    if let Some(r) = scan.connect(now).await {
        out.push(refused("connect", r));
        return Ok(out);
    }
    if let Some(r) = scan.helo(&envelope.helo, now).await {
        out.push(refused("HELO", r));
        return Ok(out);
    }
    if let Some(r) = scan.mail_from(&envelope.mail_from, now).await {
        out.push(refused("MAIL FROM", r));
        return Ok(out);
    }
    for rcpt in &envelope.recipients {
        if let Some(r) = scan.rcpt(rcpt.clone(), now).await {
            out.push(refused(&format!("RCPT TO {}", rcpt.address), r));
            return Ok(out);
        }
    }
    // Stream the file through the body tap (DKIM) and the MIME parser.
    scan.body_start(now);
    let mut parser = mime::Parser::new();
    let mut f = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        scan.body(chunk);
        parser.feed(chunk);
        size += n as u64;
    }
    let structure = parser.finish();
    let msg = Message {
        header: &[],
        structure: &structure,
        path: file,
        size,
    };
    let outcome = scan.data(&msg, now).await;
    out.extend(
        outcome
            .auth_results
            .trim_end()
            .split("\r\n")
            .map(str::to_string),
    );
    out.push("rules:".into());
    out.extend(outcome.report().into_iter().map(|l| format!("  {l}")));
    match &outcome.action {
        Action::Refuse(r) => out.push(format!(
            "action: refuse at end of DATA: {} {} {}",
            r.code, r.status, r.text
        )),
        Action::Deliver(list) if list.is_empty() => {
            let total = super::policy::common_total(&outcome.verdicts);
            let folder = if total >= outcome.junk_score {
                "Junk"
            } else {
                "INBOX"
            };
            out.push(format!("score: {total:.1}"));
            out.push(format!("action: deliver to {folder}"));
        }
        Action::Deliver(list) => {
            for (account, folder) in list {
                let total = super::policy::total(&outcome.verdicts, account);
                let folder = match folder {
                    Folder::Inbox => "INBOX",
                    Folder::Junk => "Junk",
                };
                out.push(format!(
                    "action: deliver to {folder} of {account} (score {total:.1})"
                ));
            }
        }
    }
    Ok(out)
}
