//! What an attempt's results do to a queue entry, and which reports
//! (RFC 3464 DSNs) they call for. Pure: the worker does the I/O.

use super::schedule::{self, Next};
use crate::mail::dsn::{status_of, DsnAction, DsnRecipient};
use crate::store::records::notify;
use crate::store::{QueueEntry, QueueRecipient, RcptState};

/// The result of one recipient in one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptResult {
    /// The next hop accepted it (its reply).
    Delivered(String),
    /// Try again later (reply or reason).
    Temporary(String),
    /// Give up now (reply or reason).
    Permanent(String),
}

/// One recipient's result with what the report needs to know.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Index into the entry's recipients.
    pub index: usize,
    /// What happened.
    pub result: RcptResult,
    /// The host that answered, if one did.
    pub remote_mta: Option<String>,
    /// Whether the DSN request went on to the next hop (RFC 3461 §4.1:
    /// then it reports success itself).
    pub dsn_passed: bool,
}

/// Timing settings, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long an entry may stay queued.
    pub max_lifetime: i64,
    /// Delay warning after this long (0: never).
    pub delay_warning: i64,
}

/// What the worker must do after [`settle`].
#[derive(Debug, Default)]
pub struct Settled {
    /// Report blocks to send to the sender, grouped by report.
    pub reports: Vec<Vec<DsnRecipient>>,
    /// No recipient is pending: remove the entry.
    pub finished: bool,
}

/// Whether a report of this kind is wanted for a recipient (RFC 3461 §4.1:
/// with no NOTIFY, failures are reported and delays may be).
fn wants(r: &QueueRecipient, action: DsnAction) -> bool {
    if r.notify & notify::NEVER != 0 {
        return false;
    }
    let bit = match action {
        DsnAction::Failed => notify::FAILURE,
        DsnAction::Delayed => notify::DELAY,
        DsnAction::Delivered | DsnAction::Relayed => notify::SUCCESS,
    };
    if r.notify == 0 {
        return action == DsnAction::Failed || action == DsnAction::Delayed;
    }
    r.notify & bit != 0
}

fn block(
    r: &QueueRecipient,
    action: DsnAction,
    status: String,
    remote_mta: Option<String>,
    diagnostic: Option<String>,
    now: i64,
    until: Option<i64>,
) -> DsnRecipient {
    DsnRecipient {
        address: r.address.clone(),
        orcpt: r.orcpt.clone(),
        action,
        status,
        remote_mta,
        diagnostic,
        last_attempt: now,
        will_retry_until: until,
    }
}

/// Applies an attempt's outcomes at `now`: updates recipient states, the
/// attempt count and the next attempt time, expires the entry when its
/// lifetime is over, and lists the reports to send. An entry from the null
/// sender never gets a report (RFC 3461 §6.2: never bounce a bounce).
pub fn settle(entry: &mut QueueEntry, outcomes: &[Outcome], now: i64, t: Timing) -> Settled {
    let mut failed = Vec::new();
    let mut succeeded = Vec::new();
    for o in outcomes {
        let Some(r) = entry.recipients.get_mut(o.index) else {
            continue;
        };
        if r.state != RcptState::Pending {
            continue;
        }
        match &o.result {
            RcptResult::Delivered(reply) => {
                r.state = RcptState::Delivered;
                r.last_error = None;
                if !o.dsn_passed && wants(r, DsnAction::Relayed) {
                    succeeded.push(block(
                        r,
                        DsnAction::Relayed,
                        status_of(reply),
                        o.remote_mta.clone(),
                        Some(reply.clone()),
                        now,
                        None,
                    ));
                }
            }
            RcptResult::Temporary(why) => r.last_error = Some(why.clone()),
            RcptResult::Permanent(why) => {
                r.state = RcptState::Failed;
                r.last_error = Some(why.clone());
                if wants(r, DsnAction::Failed) {
                    let mut status = status_of(why);
                    if !status.starts_with('5') {
                        status = "5.0.0".into();
                    }
                    failed.push(block(
                        r,
                        DsnAction::Failed,
                        status,
                        o.remote_mta.clone(),
                        Some(why.clone()),
                        now,
                        None,
                    ));
                }
            }
        }
    }
    entry.attempts = entry.attempts.saturating_add(1);
    let pending = entry
        .recipients
        .iter()
        .any(|r| r.state == RcptState::Pending);
    let mut delayed = Vec::new();
    if pending {
        match schedule::after_failure(entry.created, entry.attempts, now, t.max_lifetime) {
            Next::RetryAt(at) => {
                entry.next_attempt = at;
                if schedule::delay_warning_due(
                    entry.created,
                    now,
                    t.delay_warning,
                    entry.delay_warned,
                ) {
                    entry.delay_warned = true;
                    let until = entry.created.saturating_add(t.max_lifetime);
                    for r in entry
                        .recipients
                        .iter()
                        .filter(|r| r.state == RcptState::Pending)
                    {
                        if wants(r, DsnAction::Delayed) {
                            let why = r.last_error.clone();
                            let mut status = why.as_deref().map(status_of).unwrap_or_default();
                            if !status.starts_with('4') {
                                status = "4.0.0".into();
                            }
                            delayed.push(block(
                                r,
                                DsnAction::Delayed,
                                status,
                                None,
                                why,
                                now,
                                Some(until),
                            ));
                        }
                    }
                }
            }
            Next::Expire => {
                // RFC 3463 §3.5: X.4.7, delivery time expired.
                for r in entry.recipients.iter_mut() {
                    if r.state != RcptState::Pending {
                        continue;
                    }
                    r.state = RcptState::Failed;
                    let why = match &r.last_error {
                        Some(e) => format!("delivery time expired; last error: {e}"),
                        None => "delivery time expired".to_owned(),
                    };
                    r.last_error = Some(why.clone());
                    if wants(r, DsnAction::Failed) {
                        failed.push(block(
                            r,
                            DsnAction::Failed,
                            "5.4.7".into(),
                            None,
                            Some(why),
                            now,
                            None,
                        ));
                    }
                }
            }
        }
    }
    let finished = !entry
        .recipients
        .iter()
        .any(|r| r.state == RcptState::Pending);
    let mut reports = Vec::new();
    if !entry.sender.is_empty() {
        reports.extend(
            [failed, delayed, succeeded]
                .into_iter()
                .filter(|v| !v.is_empty()),
        );
    }
    Settled { reports, finished }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BlobId;

    const T: Timing = Timing {
        max_lifetime: 5 * 86400,
        delay_warning: 4 * 3600,
    };

    fn entry(sender: &str, notifies: &[u8]) -> QueueEntry {
        QueueEntry {
            id: 1,
            sender: sender.into(),
            blob: BlobId([0; 32]),
            prefix: Vec::new(),
            size: 10,
            created: 1_000_000,
            envid: None,
            ret: None,
            eight_bit: false,
            smtputf8: false,
            recipients: notifies
                .iter()
                .enumerate()
                .map(|(i, &n)| QueueRecipient {
                    address: format!("r{i}@remote.test"),
                    notify: n,
                    orcpt: None,
                    state: RcptState::Pending,
                    last_error: None,
                })
                .collect(),
            attempts: 0,
            next_attempt: 1_000_000,
            delay_warned: false,
        }
    }

    fn out(index: usize, result: RcptResult) -> Outcome {
        Outcome {
            index,
            result,
            remote_mta: Some("mx.remote.test".into()),
            dsn_passed: false,
        }
    }

    #[test]
    fn mixed_results_bounce_the_failures_and_retry_the_rest() {
        let mut e = entry("alice@example.test", &[0, 0, 0]);
        let s = settle(
            &mut e,
            &[
                out(0, RcptResult::Delivered("250 2.0.0 ok".into())),
                out(1, RcptResult::Permanent("550 5.1.1 no such user".into())),
                out(2, RcptResult::Temporary("451 4.7.1 later".into())),
            ],
            1_000_010,
            T,
        );
        assert!(!s.finished);
        assert_eq!(e.attempts, 1);
        assert_eq!(e.next_attempt, 1_000_010 + 300);
        assert_eq!(e.recipients[0].state, RcptState::Delivered);
        assert_eq!(e.recipients[1].state, RcptState::Failed);
        assert_eq!(e.recipients[2].state, RcptState::Pending);
        assert_eq!(
            e.recipients[2].last_error.as_deref(),
            Some("451 4.7.1 later")
        );
        assert_eq!(s.reports.len(), 1);
        let r = &s.reports[0][0];
        assert_eq!(
            (r.address.as_str(), r.action, r.status.as_str()),
            ("r1@remote.test", DsnAction::Failed, "5.1.1")
        );
        assert_eq!(r.remote_mta.as_deref(), Some("mx.remote.test"));
    }

    #[test]
    fn the_null_sender_never_gets_a_report() {
        let mut e = entry("", &[0]);
        let s = settle(
            &mut e,
            &[out(0, RcptResult::Permanent("550 no".into()))],
            1_000_001,
            T,
        );
        assert!(s.finished);
        assert!(s.reports.is_empty());
    }

    #[test]
    fn notify_never_and_success_are_honoured() {
        let mut e = entry(
            "a@example.test",
            &[notify::NEVER, notify::SUCCESS, notify::SUCCESS],
        );
        let mut passed = out(2, RcptResult::Delivered("250 ok".into()));
        passed.dsn_passed = true;
        let s = settle(
            &mut e,
            &[
                out(0, RcptResult::Permanent("550 5.1.1 no".into())),
                out(1, RcptResult::Delivered("250 2.0.0 ok".into())),
                passed,
            ],
            1_000_001,
            T,
        );
        assert!(s.finished);
        // No failure report (NEVER), a "relayed" one for r1 only: r2's next
        // hop took over the DSN request.
        assert_eq!(s.reports.len(), 1);
        assert_eq!(s.reports[0].len(), 1);
        assert_eq!(s.reports[0][0].action, DsnAction::Relayed);
        assert_eq!(s.reports[0][0].address, "r1@remote.test");
    }

    #[test]
    fn a_delay_warning_is_sent_once_then_the_entry_expires_with_a_bounce() {
        let mut e = entry("a@example.test", &[0, notify::FAILURE]);
        let temp = |i| out(i, RcptResult::Temporary("451 4.4.1 try later".into()));
        let mut now = e.created;
        let mut warnings = 0;
        let mut bounces = Vec::new();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let s = settle(&mut e, &[temp(0), temp(1)], now, T);
            for rep in &s.reports {
                match rep[0].action {
                    DsnAction::Delayed => {
                        warnings += 1;
                        // Only r0 (no NOTIFY) asked for delays by default;
                        // r1 said FAILURE only.
                        assert_eq!(rep.len(), 1);
                        assert_eq!(rep[0].status, "4.4.1");
                        assert!(now - e.created >= T.delay_warning);
                    }
                    _ => bounces.push(rep.clone()),
                }
            }
            if s.finished {
                break;
            }
            assert!(attempts < 100);
            now = e.next_attempt;
        }
        assert_eq!(warnings, 1);
        assert_eq!(now, e.created + T.max_lifetime);
        assert_eq!(bounces.len(), 1);
        assert_eq!(bounces[0].len(), 2);
        assert!(bounces[0].iter().all(|b| b.status == "5.4.7"
            && b.diagnostic
                .as_deref()
                .is_some_and(|d| d.contains("451 4.4.1 try later"))));
    }
}
