//! The adapter's side of the antispam pipeline of port 25: each SMTP
//! stage through its checks, and refusals as SMTP replies.

use crate::antispam::pipeline::{Outcome, Scan};
use crate::antispam::policy::{Action as SpamAction, Folder};
use crate::antispam::{Message as ScannedMessage, Recipient, Reject};
use crate::mail::mime;
use crate::proto::smtp::reply::Reply;
use crate::proto::smtp::session::Session;
use crate::store::BlobWriter;

/// The SMTP reply for an antispam refusal.
pub(super) fn reply_of(r: Reject) -> Reply {
    Reply::new(r.code, r.status, r.text)
}

/// MAIL FROM through the antispam stages: HELO when the client named
/// itself anew, then MAIL FROM.
pub(super) async fn scan_mail(sc: &mut Scan, helo: &str, from: &str) -> Result<(), Reply> {
    let now = scan_now();
    if sc.cx.helo.as_deref() != Some(helo) {
        if let Some(r) = sc.helo(helo, now).await {
            return Err(reply_of(r));
        }
    }
    match sc.mail_from(from, now).await {
        Some(r) => Err(reply_of(r)),
        None => Ok(()),
    }
}

/// RCPT TO through the antispam stage: an accepted recipient is checked
/// (greylisting), a refused one counted (directory harvesting).
pub(super) async fn scan_rcpt(
    sc: &mut Scan,
    policy: Result<crate::mta::Accepted, Reply>,
) -> Result<(), Reply> {
    let now = scan_now();
    let accepted = match policy {
        Ok(a) => a,
        Err(refusal) => {
            return match sc.rcpt_refused(now) {
                Some(r) => Err(reply_of(r)),
                None => Err(refusal),
            }
        }
    };
    let rcpt = Recipient {
        address: accepted.address,
        accounts: accepted.accounts.into_iter().collect(),
    };
    match sc.rcpt(rcpt, now).await {
        Some(r) => Err(reply_of(r)),
        None => Ok(()),
    }
}

/// A log line's account of an antispam outcome.
fn summary(o: &Outcome) -> String {
    let rules: Vec<String> = o
        .verdicts
        .iter()
        .filter(|v| v.score != 0.0 || v.reject.is_some() || v.junk)
        .map(|v| format!("{}({:.1})", v.rule, v.score))
        .collect();
    let action = match &o.action {
        SpamAction::Refuse(r) => format!("refused {} {}", r.code, r.status),
        SpamAction::Deliver(list) => {
            let junk = list.iter().filter(|(_, f)| *f == Folder::Junk).count();
            format!("delivered ({junk} of {} to Junk)", list.len())
        }
    };
    format!("{action}; {}", rules.join(" "))
}

/// The time for the antispam checks, Unix seconds.
pub(super) fn scan_now() -> u64 {
    u64::try_from(crate::time::unix_now()).unwrap_or(0)
}

/// DATA through the antispam stage, logged.
pub(super) async fn scan_data(
    sc: &mut Scan,
    s: &Session,
    id: &str,
    blob: &BlobWriter,
    structure: &mime::Structure,
) -> Outcome {
    let msg = ScannedMessage {
        header: &[],
        structure,
        path: blob.path(),
        size: blob.size(),
    };
    let outcome = sc.data(&msg, scan_now()).await;
    log::info!(
        "antispam: {id} from {} ({}): {}",
        sc.cx.mail_from.as_deref().unwrap_or(""),
        s.peer(),
        summary(&outcome)
    );
    outcome
}
