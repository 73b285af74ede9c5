//! RCPT TO: which recipients are local, aliased, remote or refused.
//!
//! Local addresses resolve through [`crate::delivery`] (accounts, aliases,
//! plus-addresses, catch-alls). A domain that is not ours is relay:
//! refused on port 25 (RFC 5321 §3.6.1), queued for authenticated
//! submission.

use super::{temp_failure, Policy};
use crate::delivery::{self, ResolveError, Resolved};
use crate::proto::smtp::address::{Domain, ForwardPath};
use crate::proto::smtp::reply::Reply;
use crate::proto::smtp::session::Mode;
use crate::store::StoreError;
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
    policy: &Policy,
    mode: Mode,
    to: &ForwardPath,
    size: u64,
) -> Result<Accepted, Reply> {
    let relay_denied = || Reply::new(554, "5.7.1", "Relay access denied");
    let store = &policy.store;
    let address = match recipient_address(policy, to) {
        Some(Some(a)) => a,
        Some(None) => return Err(relay_denied()),
        None => return Err(Reply::new(550, "5.1.1", "No such user here")),
    };
    match policy.resolve(&address) {
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
/// `None` when `<postmaster>` has no domain to stand for.
pub fn recipient_address(policy: &Policy, to: &ForwardPath) -> Option<Option<String>> {
    match to {
        // RFC 5321 §4.5.1: <postmaster> is the postmaster of our first
        // domain that has one of its own, else of our first domain (which
        // reaches the admins).
        ForwardPath::Postmaster => {
            let domains = policy.store.domains().ok()?;
            let mut all = domains.iter().map(|d| format!("postmaster@{}", d.name));
            let first = all.clone().next();
            all.find(|a| delivery::resolve(&policy.store, a).is_ok())
                .or(first)
                .map(Some)
        }
        ForwardPath::Mailbox(m) => match &m.domain {
            Domain::Name(_) => Some(Some(m.to_string().to_lowercase())),
            _ => Some(None),
        },
    }
}

impl Policy {
    /// Where a local address goes: [`delivery::resolve`], and for a
    /// `postmaster@` that nothing else takes, the admins.
    pub fn resolve(&self, address: &str) -> Result<Resolved, ResolveError> {
        match delivery::resolve(&self.store, address) {
            Err(ResolveError::Unknown) if is_postmaster(address) => self.admins(),
            r => r,
        }
    }

    /// RFC 5321 §4.5.1: postmaster@ every local domain must be accepted.
    /// Without an account or alias of that name, it reaches the addresses
    /// of `[mta] postmaster` or, when none is set, the oldest account
    /// (normally the one made at setup), as Postfix sends it to root.
    fn admins(&self) -> Result<Resolved, ResolveError> {
        let mut out = Resolved::default();
        if self.postmaster.is_empty() {
            let oldest = self
                .store
                .accounts()?
                .into_iter()
                .min_by(|a, b| (a.created, &a.address).cmp(&(b.created, &b.address)));
            out.accounts.extend(oldest.map(|a| a.address));
        }
        for admin in &self.postmaster {
            match delivery::resolve(&self.store, admin) {
                Ok(r) => {
                    out.accounts.extend(r.accounts);
                    out.remote.extend(r.remote);
                }
                Err(ResolveError::NotLocal) => {
                    out.remote.insert(admin.clone());
                }
                Err(ResolveError::Store(e)) => return Err(ResolveError::Store(e)),
                Err(e) => log::warn!("[mta] postmaster {admin} does not resolve: {e:?}"),
            }
        }
        if out.is_empty() {
            return Err(ResolveError::Unknown);
        }
        Ok(out)
    }
}

/// Whether the local part is `postmaster`, in any case (RFC 5321 §4.5.1).
fn is_postmaster(address: &str) -> bool {
    address
        .rsplit_once('@')
        .is_some_and(|(local, _)| local.eq_ignore_ascii_case("postmaster"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mta;
    use crate::mta::testing::{code, policy, TestStore};
    use crate::proto::smtp::address::parse_forward_path;

    fn rcpt(p: &Policy, mode: Mode, path: &str) -> String {
        let to = parse_forward_path(path.as_bytes(), false).unwrap();
        code(check_recipient(p, mode, &to, 0))
    }

    /// The relay matrix of port 25 (tests/smtp.rs), without a socket.
    #[test]
    fn the_mta_port_accepts_local_recipients_and_refuses_relay() {
        let t = TestStore::new("relay");
        let p = &policy(&t, &Mta::default());
        let cases = [
            ("<victim@remote.test>", "554 5.7.1"),
            ("<victim%remote.test@example.test>", "550 5.1.1"),
            ("<\"victim@remote.test\"@example.test>", "550 5.1.1"),
            ("<@example.test:victim@remote.test>", "554 5.7.1"),
            ("<victim@[127.0.0.1]>", "554 5.7.1"),
            ("<victim@[IPv6:::1]>", "554 5.7.1"),
            ("<victim!remote.test@example.test>", "550 5.1.1"),
            ("<nobody@example.test>", "550 5.1.1"),
            ("<postmaster>", "ok"),
            ("<alice@example.test>", "ok"),
            ("<ALICE+tag@Example.Test>", "ok"),
            ("<carol@other.test>", "ok"),
        ];
        for (path, want) in cases {
            assert_eq!(rcpt(p, Mode::Mta, path), want, "RCPT TO:{path}");
        }
    }

    #[test]
    fn submission_relays_to_remote_domains_but_never_to_literals() {
        let t = TestStore::new("submit");
        let p = &policy(&t, &Mta::default());
        assert_eq!(rcpt(p, Mode::Submission, "<x@remote.test>"), "ok");
        assert_eq!(rcpt(p, Mode::Submission, "<x@[127.0.0.1]>"), "554 5.7.1");
        assert_eq!(
            rcpt(p, Mode::Submission, "<nobody@example.test>"),
            "550 5.1.1"
        );
        let to = parse_forward_path(b"<x@Remote.test>", false).unwrap();
        let a = check_recipient(p, Mode::Submission, &to, 0).unwrap();
        assert_eq!(a.address, "x@remote.test");
        assert!(a.accounts.is_empty());
    }

    #[test]
    fn aliases_postmaster_and_quota() {
        let t = TestStore::new("alias");
        let p = &policy(&t, &Mta::default());
        let s = &t.store;
        s.add_alias(
            "team@example.test",
            &["alice@example.test".into(), "bob@example.test".into()],
        )
        .unwrap();
        s.add_alias("postmaster@other.test", &["carol@other.test".into()])
            .unwrap();
        let to = parse_forward_path(b"<team@example.test>", false).unwrap();
        let a = check_recipient(p, Mode::Mta, &to, 0).unwrap();
        assert_eq!(
            a.accounts.into_iter().collect::<Vec<_>>(),
            ["alice@example.test", "bob@example.test"]
        );
        let pm = check_recipient(p, Mode::Mta, &ForwardPath::Postmaster, 0).unwrap();
        assert_eq!(pm.address, "postmaster@other.test");
        s.set_quota("bob@example.test", 10).unwrap();
        assert_eq!(rcpt(p, Mode::Mta, "<team@example.test>"), "ok");
        let to = parse_forward_path(b"<team@example.test>", false).unwrap();
        assert_eq!(
            code(check_recipient(p, Mode::Mta, &to, 100)),
            "452 4.2.2",
            "a declared size over a member's quota"
        );
    }

    /// Hardening: postmaster@ every local domain is always accepted
    /// (RFC 5321 §4.5.1) and reaches the admins when no account or alias
    /// has the address: `[mta] postmaster`, else the oldest account.
    #[test]
    fn postmaster_of_every_local_domain_reaches_the_admins() {
        let t = TestStore::new("postmaster");
        let s = &t.store;
        let p = &policy(&t, &Mta::default());
        let accounts = |a: Result<Accepted, Reply>| -> Vec<String> {
            a.map(|a| a.accounts.into_iter().collect())
                .unwrap_or_default()
        };
        for path in ["<postmaster@example.test>", "<PostMaster@Other.Test>"] {
            let to = parse_forward_path(path.as_bytes(), false).unwrap();
            assert_eq!(
                accounts(check_recipient(p, Mode::Mta, &to, 0)),
                ["alice@example.test"],
                "{path}: the oldest account"
            );
        }
        let pm = check_recipient(p, Mode::Mta, &ForwardPath::Postmaster, 0).unwrap();
        assert_eq!(pm.address, "postmaster@example.test");
        assert_eq!(rcpt(p, Mode::Mta, "<postmaster@remote.test>"), "554 5.7.1");
        // Configured admins, and an alias of the domain before them.
        let config = Mta {
            postmaster: vec!["Bob@example.test".into(), "carol@other.test".into()],
            ..Mta::default()
        };
        let p = &policy(&t, &config);
        let to = parse_forward_path(b"<postmaster@example.test>", false).unwrap();
        assert_eq!(
            accounts(check_recipient(p, Mode::Mta, &to, 0)),
            ["bob@example.test", "carol@other.test"]
        );
        s.add_alias("postmaster@example.test", &["alice@example.test".into()])
            .unwrap();
        assert_eq!(
            accounts(check_recipient(p, Mode::Mta, &to, 0)),
            ["alice@example.test"]
        );
        // The plan at the end of DATA goes the same way.
        assert_eq!(
            p.resolve("postmaster@other.test")
                .unwrap()
                .accounts
                .into_iter()
                .collect::<Vec<_>>(),
            ["bob@example.test", "carol@other.test"]
        );
    }
}
