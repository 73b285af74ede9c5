//! The one policy: turns the verdicts of a message into an action per
//! recipient, driven by `[antispam]` in the config.

use super::{Facts, Reject, Verdict};

/// Where one local account's copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// The INBOX.
    Inbox,
    /// The account's Junk folder.
    Junk,
}

/// What happens to a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Accept it; each listed account's copy goes to its folder.
    Deliver(Vec<(String, Folder)>),
    /// Refuse it at DATA (5xx) or ask for a retry (4xx).
    Refuse(Reject),
}

/// The thresholds and switches of `[antispam]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// From this total a copy goes to Junk.
    pub junk_score: f32,
    /// From this total (for every recipient) the message is refused.
    pub reject_score: f32,
    /// Answer 451 when SPF or DMARC could not be evaluated because of a
    /// DNS failure (RFC 7208 §8.6, RFC 7489 §6.6.3 leave it to us).
    pub tempfail_on_dns_error: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            junk_score: 5.0,
            reject_score: 12.0,
            tempfail_on_dns_error: false,
        }
    }
}

/// The total of the verdicts that count for `account`.
pub fn total(verdicts: &[Verdict], account: &str) -> f32 {
    verdicts
        .iter()
        .filter(|v| v.account.as_deref().is_none_or(|a| a == account))
        .map(|v| v.score)
        .sum()
}

/// The total of the verdicts that count for every recipient.
pub fn common_total(verdicts: &[Verdict]) -> f32 {
    verdicts
        .iter()
        .filter(|v| v.account.is_none())
        .map(|v| v.score)
        .sum()
}

impl Policy {
    /// The action for a message to `accounts` (local copies; a message
    /// only forwarded elsewhere has none), given every verdict of the
    /// session and the authentication results.
    pub fn decide(&self, verdicts: &[Verdict], facts: &Facts, accounts: &[String]) -> Action {
        // A hard refusal wins; a permanent one over a temporary one.
        let mut hard: Option<&Reject> = None;
        for r in verdicts.iter().filter_map(|v| v.reject.as_ref()) {
            if hard.is_none_or(|h| h.is_temporary() && !r.is_temporary()) {
                hard = Some(r);
            }
        }
        if let Some(r) = hard {
            return Action::Refuse(r.clone());
        }
        if self.tempfail_on_dns_error {
            if let Some(r) = dns_failure(facts) {
                return Action::Refuse(r);
            }
        }
        let forced_junk = verdicts.iter().any(|v| v.junk && v.account.is_none());
        // Refused only when every copy would be: with several recipients
        // one user's filter does not refuse another's mail.
        let totals: Vec<f32> = if accounts.is_empty() {
            vec![common_total(verdicts)]
        } else {
            accounts.iter().map(|a| total(verdicts, a)).collect()
        };
        if totals.iter().all(|t| *t >= self.reject_score) {
            return Action::Refuse(Reject::new(550, "5.7.1", "Message refused as spam"));
        }
        Action::Deliver(
            accounts
                .iter()
                .zip(totals)
                .map(|(a, t)| {
                    let own_junk = verdicts
                        .iter()
                        .any(|v| v.junk && v.account.as_deref() == Some(a.as_str()));
                    let folder = if forced_junk || own_junk || t >= self.junk_score {
                        Folder::Junk
                    } else {
                        Folder::Inbox
                    };
                    (a.clone(), folder)
                })
                .collect(),
        )
    }
}

/// The retry answer when SPF or DMARC ended in a temporary DNS error:
/// 451 4.7.24 for SPF (RFC 7372 §3.2, RFC 7208 §8.6), 451 4.7.0 for DMARC
/// (RFC 7489 §6.6.3 leaves it to the receiver).
fn dns_failure(facts: &Facts) -> Option<Reject> {
    use crate::auth::dmarc::DmarcResult;
    use crate::auth::spf::SpfResult;
    if facts
        .spf
        .as_ref()
        .is_some_and(|s| s.result == SpfResult::TempError)
    {
        return Some(Reject::new(
            451,
            "4.7.24",
            "Temporary DNS failure during the SPF check, try again later",
        ));
    }
    if facts
        .dmarc
        .as_ref()
        .is_some_and(|d| d.result == DmarcResult::TempError)
    {
        return Some(Reject::new(
            451,
            "4.7.0",
            "Temporary DNS failure during the DMARC check, try again later",
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn totals_pick_the_folder() {
        let p = Policy::default();
        let facts = Facts::default();
        let v = vec![Verdict::score("A", 3.0, ""), Verdict::score("B", 1.0, "")];
        assert_eq!(
            p.decide(&v, &facts, &accounts(&["ann"])),
            Action::Deliver(vec![("ann".into(), Folder::Inbox)])
        );
        let v = vec![Verdict::score("A", 3.0, ""), Verdict::score("B", 2.0, "")];
        assert_eq!(
            p.decide(&v, &facts, &accounts(&["ann"])),
            Action::Deliver(vec![("ann".into(), Folder::Junk)])
        );
        let v = vec![Verdict::score("A", 12.5, "")];
        assert!(matches!(
            p.decide(&v, &facts, &accounts(&["ann"])),
            Action::Refuse(r) if r.code == 550 && r.status == "5.7.1"
        ));
    }

    #[test]
    fn per_account_scores_count_only_for_their_account() {
        let p = Policy::default();
        let v = vec![
            Verdict::score("A", 2.0, ""),
            Verdict::score("BAYES", 4.0, "").for_account("ann"),
            Verdict::score("BAYES", 20.0, "").for_account("bob"),
        ];
        assert_eq!(
            p.decide(&v, &Facts::default(), &accounts(&["ann", "bob", "cat"])),
            Action::Deliver(vec![
                ("ann".into(), Folder::Junk),
                ("bob".into(), Folder::Junk),
                ("cat".into(), Folder::Inbox),
            ])
        );
    }

    #[test]
    fn hard_refusals_and_forced_junk() {
        let p = Policy::default();
        let facts = Facts::default();
        let v = vec![
            Verdict::score("GOOD", -10.0, ""),
            Verdict::reject("GREY", Reject::new(451, "4.7.1", "later")),
            Verdict::reject("DMARC", Reject::new(550, "5.7.1", "no")),
        ];
        assert!(matches!(
            p.decide(&v, &facts, &accounts(&["ann"])),
            Action::Refuse(r) if r.code == 550
        ));
        let v = vec![Verdict::score("DMARC_QUARANTINE", 0.0, "").to_junk()];
        assert_eq!(
            p.decide(&v, &facts, &accounts(&["ann"])),
            Action::Deliver(vec![("ann".into(), Folder::Junk)])
        );
    }

    #[test]
    fn dns_failures_ask_for_a_retry_only_when_configured() {
        use crate::auth::spf::{Identity, SpfOutcome, SpfResult};
        let facts = Facts {
            spf: Some(SpfOutcome {
                result: SpfResult::TempError,
                identity: Identity::MailFrom,
                domain: "x.example".into(),
                sender: "a@x.example".into(),
                client_ip: "192.0.2.1".parse().unwrap(),
                helo: "h".into(),
                receiver: "mx".into(),
                mechanism: None,
                explanation: None,
                problem: Some("timeout".into()),
            }),
            ..Facts::default()
        };
        let v = vec![Verdict::score("SPF_TEMPERROR", 0.0, "")];
        let mut p = Policy::default();
        assert_eq!(
            p.decide(&v, &facts, &accounts(&["ann"])),
            Action::Deliver(vec![("ann".into(), Folder::Inbox)])
        );
        p.tempfail_on_dns_error = true;
        assert!(matches!(
            p.decide(&v, &facts, &accounts(&["ann"])),
            Action::Refuse(r) if r.code == 451 && r.status == "4.7.24"
        ));
    }

    #[test]
    fn forced_junk_in_a_second_case() {
        let p = Policy::default();
        let facts = Facts::default();
        let v = vec![
            Verdict::score("GOOD", -3.0, ""),
            Verdict::score("DMARC_QUARANTINE", 0.0, "").to_junk(),
        ];
        assert_eq!(
            p.decide(&v, &facts, &accounts(&["ann"])),
            Action::Deliver(vec![("ann".into(), Folder::Junk)])
        );
    }
}
