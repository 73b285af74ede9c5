//! The end of DATA: where an accepted message goes. Each local account
//! once, with its trace fields and spam verdict; each remote address once,
//! to the outbound queue with its DSN parameters and DKIM signatures.

use super::{storage_full, temp_failure, Envelope, Policy, Received};
use crate::antispam::pipeline::Outcome;
use crate::antispam::policy::Folder;
use crate::auth::dkim::{key, Signer, SigningKey};
use crate::delivery::ResolveError;
use crate::mail::mime;
use crate::proto::smtp::address::{ForwardPath, ReversePath};
use crate::proto::smtp::command::{self, RcptParams};
use crate::proto::smtp::reply::Reply;
use crate::proto::smtp::session::Mode;
use crate::store::records::notify as queue_notify;
use crate::store::{Delivery, QueueEntry, QueueRecipient, RcptState, Ret, StoreError};
use std::path::Path;

/// What to commit for one message, in one store transaction.
#[derive(Debug)]
pub struct Plan {
    /// One per local account.
    pub deliveries: Vec<Delivery>,
    /// The outbound queue entry for remote recipients (its `size` is set
    /// once the body is complete).
    pub entry: Option<QueueEntry>,
    /// The envelope sender in angle brackets, for the log.
    pub return_path: String,
}

/// Builds the deliveries and the queue entry. Every recipient is resolved
/// again: one that no longer resolves makes the whole message a 451
/// (nothing is half-delivered).
pub fn plan(policy: &Policy, env: &Envelope<'_>, msg: Received<'_>) -> Result<Plan, Reply> {
    let sender = env.sender.map(|p| p.to_string()).unwrap_or_default();
    let return_path = if sender.starts_with('<') {
        sender.clone()
    } else {
        format!("<{sender}>")
    };
    // Each account once, with the recipient address that reached it first;
    // each remote address once, for the outbound queue.
    let mut deliveries: Vec<Delivery> = Vec::new();
    let mut remote: Vec<QueueRecipient> = Vec::new();
    let no_params = RcptParams::default();
    for (i, rcpt) in env.recipients.iter().enumerate() {
        let params = env.rcpt_params.get(i).unwrap_or(&no_params);
        let Some(Some(address)) = super::recipient::recipient_address(policy, rcpt) else {
            return Err(temp_failure());
        };
        let resolved = match policy.resolve(&address) {
            Ok(r) => r,
            Err(ResolveError::NotLocal) if env.mode == Mode::Submission => {
                // Keep the local part's case: only the remote host may
                // interpret it (RFC 5321 §2.4).
                let original = match rcpt {
                    ForwardPath::Mailbox(m) => m.to_string(),
                    ForwardPath::Postmaster => address.clone(),
                };
                add_remote(&mut remote, original, params, None);
                continue;
            }
            Err(e) => {
                log::warn!("recipient {address} no longer resolves at end of data: {e:?}");
                return Err(temp_failure());
            }
        };
        for target in resolved.remote {
            add_remote(&mut remote, target, params, Some(&address));
        }
        for account in resolved.accounts {
            if deliveries.iter().any(|d| d.account == account) {
                continue;
            }
            let prefix = format!("Return-Path: {return_path}\r\nDelivered-To: {address}\r\n");
            deliveries.push(local_delivery(account, prefix.into_bytes(), &msg));
        }
    }
    if deliveries.is_empty() && remote.is_empty() {
        return Err(temp_failure());
    }
    let entry = (!remote.is_empty()).then(|| {
        let params = env.params.cloned().unwrap_or_default();
        QueueEntry {
            id: 0,
            sender: sender_address(env.sender),
            blob: crate::store::BlobId([0; 32]),
            prefix: queue_prefix(msg.outcome, msg.trace, msg.signer),
            size: 0,
            created: msg.now,
            envid: params.envid,
            ret: params.ret.map(|r| match r {
                command::Ret::Full => Ret::Full,
                command::Ret::Headers => Ret::Hdrs,
            }),
            eight_bit: params.body == command::BodyType::EightBitMime,
            smtputf8: params.smtputf8,
            recipients: remote,
            attempts: 0,
            next_attempt: msg.now,
            delay_warned: false,
        }
    });
    Ok(Plan {
        deliveries,
        entry,
        return_path,
    })
}

/// One account's copy: its trace fields and verdict headers before the
/// body, filed in Junk when the verdict says so.
fn local_delivery(account: String, mut prefix: Vec<u8>, msg: &Received<'_>) -> Delivery {
    let mut mailbox = "INBOX";
    if let Some(o) = msg.outcome {
        prefix.extend_from_slice(o.headers_for(&account).as_bytes());
        if o.folder(&account) == Folder::Junk {
            mailbox = "Junk";
        }
    }
    prefix.extend_from_slice(msg.trace.as_bytes());
    // The structure was parsed without the prefix; shifted here.
    let cache = msg
        .structure
        .with_prefix(&prefix)
        .map(|st| mime::encode(&st));
    Delivery {
        account,
        mailbox: mailbox.into(),
        prefix,
        flags: 0,
        keywords: Vec::new(),
        cache,
    }
}

/// The reply when storing failed.
pub fn store_failed(id: &str, e: &StoreError) -> Reply {
    match e {
        // RFC 3463 §3.3: 4.2.2, mailbox full; the sender may retry after
        // the user makes room.
        StoreError::OverQuota(account) => {
            log::info!("smtp: {id} refused: {account} is over quota");
            Reply::new(452, "4.2.2", format!("Mailbox full: {account}"))
        }
        StoreError::InsufficientStorage { .. } => {
            log::warn!("smtp: {id} refused: {e}");
            storage_full()
        }
        e => {
            log::error!("smtp: {id} could not be stored: {e}");
            let full = matches!(e, StoreError::Io(text) if storage_full_text(text));
            if full {
                storage_full()
            } else {
                temp_failure()
            }
        }
    }
}

/// Whether an error's text says the disk or the store is full: ENOSPC,
/// EDQUOT, or the store's own "insufficient space".
fn storage_full_text(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["os error 28)", "os error 122)", "insufficient space"]
        .iter()
        .any(|s| lower.contains(s))
}

/// The reply when the body could not be spooled.
pub fn spool_failed(e: &std::io::Error) -> Reply {
    log::error!("smtp: cannot spool a message: {e}");
    // ENOSPC and EDQUOT (Linux).
    if matches!(e.raw_os_error(), Some(28 | 122)) || storage_full_text(&e.to_string()) {
        storage_full()
    } else {
        temp_failure()
    }
}

/// The trace header of a queued message and, for mail from our own
/// domains, its DKIM signatures (RFC 6376 §5: added by the signer as new
/// header fields at the top).
fn queue_prefix(
    outcome: Option<&Outcome>,
    received: &str,
    signer: Option<Signer<Vec<SigningKey>>>,
) -> Vec<u8> {
    let mut prefix = Vec::new();
    if let Some(o) = outcome {
        // Forwarded mail carries our verdict to the next hop.
        prefix.extend_from_slice(o.headers_for("").as_bytes());
    }
    prefix.extend_from_slice(received.as_bytes());
    if let Some(signer) = signer {
        match signer.finish() {
            Ok(sig) => prefix.extend_from_slice(sig.as_bytes()),
            Err(e) => log::warn!("smtp: message leaves unsigned: {e}"),
        }
    }
    prefix
}

/// Keys to sign a submitted message with: those of the envelope sender's
/// domain, which RFC 6409 policy has already checked is the user's own.
/// Mail arriving on port 25 is not signed (it is not ours, even when an
/// alias forwards it).
pub fn signer_for(
    data_dir: &Path,
    mode: Mode,
    sender: Option<&ReversePath>,
    now: i64,
) -> Option<Signer<Vec<SigningKey>>> {
    if mode != Mode::Submission {
        return None;
    }
    let Some(ReversePath::Mailbox(m)) = sender else {
        return None;
    };
    let domain = m.domain.to_string().to_ascii_lowercase();
    match key::load_active(data_dir, &domain) {
        Ok(keys) if !keys.is_empty() => Some(Signer::new(keys, now)),
        Ok(_) => None,
        Err(e) => {
            log::warn!("smtp: cannot load the DKIM keys of {domain}: {e}");
            None
        }
    }
}

/// The envelope sender as a plain address, empty for the null sender.
pub fn sender_address(from: Option<&ReversePath>) -> String {
    match from {
        Some(ReversePath::Mailbox(m)) => m.to_string(),
        _ => String::new(),
    }
}

/// Adds a remote recipient to the queue list once, with its RFC 3461
/// parameters. `via` is the local address an alias expanded from: it
/// becomes the ORCPT when the client gave none (RFC 3461 §4.2).
fn add_remote(
    list: &mut Vec<QueueRecipient>,
    address: String,
    params: &RcptParams,
    via: Option<&str>,
) {
    if list
        .iter()
        .any(|q| q.address.eq_ignore_ascii_case(&address))
    {
        return;
    }
    let notify = params.notify.map_or(0, |n| {
        if !(n.success || n.failure || n.delay) {
            queue_notify::NEVER
        } else {
            (if n.success { queue_notify::SUCCESS } else { 0 })
                | (if n.failure { queue_notify::FAILURE } else { 0 })
                | (if n.delay { queue_notify::DELAY } else { 0 })
        }
    });
    let orcpt = match &params.orcpt {
        Some(o) => Some(format!("{};{}", o.addr_type, o.address)),
        None => via.map(|v| format!("rfc822;{v}")),
    };
    list.push(QueueRecipient {
        address,
        notify,
        orcpt,
        state: RcptState::Pending,
        last_error: None,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mta::testing::code;

    /// Hardening: a full disk answers 452 4.3.1 (RFC 3463 §3.4), other
    /// local errors 451 4.3.0, a full mailbox 452 4.2.2.
    #[test]
    fn a_full_disk_is_452_4_3_1() {
        let full = std::io::Error::from_raw_os_error(28);
        let e = StoreError::Io(full.to_string());
        assert_eq!(code::<()>(Err(store_failed("id", &e))), "452 4.3.1");
        assert_eq!(code::<()>(Err(spool_failed(&full))), "452 4.3.1");
        let quota = std::io::Error::from_raw_os_error(122);
        assert_eq!(code::<()>(Err(spool_failed(&quota))), "452 4.3.1");
        let e = StoreError::Io("insufficient space for new mail".into());
        assert_eq!(code::<()>(Err(store_failed("id", &e))), "452 4.3.1");
        let e = StoreError::InsufficientStorage {
            available: 1 << 20,
            reserve: 64 << 20,
        };
        assert_eq!(code::<()>(Err(store_failed("id", &e))), "452 4.3.1");
        let other = std::io::Error::from_raw_os_error(5);
        assert_eq!(code::<()>(Err(spool_failed(&other))), "451 4.3.0");
        let e = StoreError::Io(other.to_string());
        assert_eq!(code::<()>(Err(store_failed("id", &e))), "451 4.3.0");
        let e = StoreError::OverQuota("alice@example.test".into());
        assert_eq!(code::<()>(Err(store_failed("id", &e))), "452 4.2.2");
    }
}
