//! RCPT TO: which recipients are local, aliased, remote or refused.
//!
//! Local addresses resolve through [`crate::delivery`] (accounts, aliases,
//! plus-addresses, catch-alls). A domain that is not ours is relay:
//! refused on port 25 (RFC 5321 §3.6.1), queued for authenticated
//! submission.

use super::temp_failure;
use crate::delivery::{self, ResolveError};
use crate::proto::smtp::address::{Domain, ForwardPath};
use crate::proto::smtp::reply::Reply;
use crate::proto::smtp::session::Mode;
use crate::store::{Store, StoreError};
use std::collections::BTreeSet;

/// An accepted recipient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// The address it stands for (lower case).
    pub address: String,
    /// The local accounts it reaches (empty for a remote one).
    pub accounts: BTreeSet<String>,
}

/// The recipient policy (see the module comment). `size` is the size the
/// client declared, checked against each account's quota.
pub fn check_recipient(
    store: &Store,
    mode: Mode,
    to: &ForwardPath,
    size: u64,
) -> Result<Accepted, Reply> {
    let relay_denied = || Reply::new(554, "5.7.1", "Relay access denied");
    let address = match recipient_address(store, to) {
        Some(Some(a)) => a,
        Some(None) => return Err(relay_denied()),
        None => return Err(Reply::new(550, "5.1.1", "No such user here")),
    };
    match delivery::resolve(store, &address) {
        // Local accounts, and remote targets of our aliases (forwarding):
        // the remote ones go to the outbound queue. A full mailbox is
        // refused here already (RFC 3463 4.2.2), for the declared size.
        Ok(r) => {
            for account in &r.accounts {
                if let Err(StoreError::OverQuota(_)) = store.check_quota(account, size.max(1)) {
                    return Err(Reply::new(452, "4.2.2", format!("Mailbox full: {address}")));
                }
            }
            Ok(Accepted {
                address,
                accounts: r.accounts,
            })
        }
        Err(ResolveError::Unknown) => Err(Reply::new(550, "5.1.1", "No such user here")),
        // RFC 5321 §3.6.1: relaying only for authenticated submission.
        Err(ResolveError::NotLocal) => match mode {
            Mode::Mta => Err(relay_denied()),
            Mode::Submission => Ok(Accepted {
                address,
                accounts: BTreeSet::new(),
            }),
        },
        Err(ResolveError::TooComplex) => Err(Reply::new(
            550,
            "5.4.6",
            "Alias expansion too deep or too wide",
        )),
        Err(ResolveError::Store(e)) => {
            log::error!("recipient check failed: {e}");
            Err(temp_failure())
        }
    }
}

/// The address a forward path stands for: `Some(Some(addr))` for a name
/// domain, `Some(None)` for a domain literal (never ours to accept: relay),
/// `None` when `<postmaster>` has no mailbox configured.
pub fn recipient_address(store: &Store, to: &ForwardPath) -> Option<Option<String>> {
    match to {
        // RFC 5321 §4.5.1: <postmaster> is the postmaster of our first
        // domain that has one.
        ForwardPath::Postmaster => {
            let domains = store.domains().ok()?;
            domains
                .iter()
                .map(|d| format!("postmaster@{}", d.name))
                .find(|a| delivery::resolve(store, a).is_ok())
                .map(Some)
        }
        ForwardPath::Mailbox(m) => match &m.domain {
            Domain::Name(_) => Some(Some(m.to_string().to_lowercase())),
            _ => Some(None),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mta::testing::{code, TestStore};
    use crate::proto::smtp::address::parse_forward_path;

    fn rcpt(store: &Store, mode: Mode, path: &str) -> String {
        let to = parse_forward_path(path.as_bytes(), false).unwrap();
        code(check_recipient(store, mode, &to, 0))
    }

    /// The relay matrix of port 25 (tests/smtp.rs), without a socket.
    #[test]
    fn the_mta_port_accepts_local_recipients_and_refuses_relay() {
        let t = TestStore::new("relay");
        let s = &t.store;
        let cases = [
            ("<victim@remote.test>", "554 5.7.1"),
            ("<victim%remote.test@example.test>", "550 5.1.1"),
            ("<\"victim@remote.test\"@example.test>", "550 5.1.1"),
            ("<@example.test:victim@remote.test>", "554 5.7.1"),
            ("<victim@[127.0.0.1]>", "554 5.7.1"),
            ("<victim@[IPv6:::1]>", "554 5.7.1"),
            ("<victim!remote.test@example.test>", "550 5.1.1"),
            ("<nobody@example.test>", "550 5.1.1"),
            ("<postmaster>", "550 5.1.1"),
            ("<alice@example.test>", "ok"),
            ("<ALICE+tag@Example.Test>", "ok"),
            ("<carol@other.test>", "ok"),
        ];
        for (path, want) in cases {
            assert_eq!(rcpt(s, Mode::Mta, path), want, "RCPT TO:{path}");
        }
    }

    #[test]
    fn submission_relays_to_remote_domains_but_never_to_literals() {
        let t = TestStore::new("submit");
        let s = &t.store;
        assert_eq!(rcpt(s, Mode::Submission, "<x@remote.test>"), "ok");
        assert_eq!(rcpt(s, Mode::Submission, "<x@[127.0.0.1]>"), "554 5.7.1");
        assert_eq!(
            rcpt(s, Mode::Submission, "<nobody@example.test>"),
            "550 5.1.1"
        );
        let to = parse_forward_path(b"<x@Remote.test>", false).unwrap();
        let a = check_recipient(s, Mode::Submission, &to, 0).unwrap();
        assert_eq!(a.address, "x@remote.test");
        assert!(a.accounts.is_empty());
    }

    #[test]
    fn aliases_postmaster_and_quota() {
        let t = TestStore::new("alias");
        let s = &t.store;
        s.add_alias(
            "team@example.test",
            &["alice@example.test".into(), "bob@example.test".into()],
        )
        .unwrap();
        s.add_alias("postmaster@other.test", &["carol@other.test".into()])
            .unwrap();
        let to = parse_forward_path(b"<team@example.test>", false).unwrap();
        let a = check_recipient(s, Mode::Mta, &to, 0).unwrap();
        assert_eq!(
            a.accounts.into_iter().collect::<Vec<_>>(),
            ["alice@example.test", "bob@example.test"]
        );
        let pm = check_recipient(s, Mode::Mta, &ForwardPath::Postmaster, 0).unwrap();
        assert_eq!(pm.address, "postmaster@other.test");
        s.set_quota("bob@example.test", 10).unwrap();
        assert_eq!(rcpt(s, Mode::Mta, "<team@example.test>"), "ok");
        let to = parse_forward_path(b"<team@example.test>", false).unwrap();
        assert_eq!(
            code(check_recipient(s, Mode::Mta, &to, 100)),
            "452 4.2.2",
            "a declared size over a member's quota"
        );
    }
}
