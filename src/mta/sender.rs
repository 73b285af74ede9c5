//! Sender ownership on submission (RFC 6409 §6.1): the envelope sender and
//! every From: author must be addresses the authenticated user owns.

use super::temp_failure;
use crate::delivery::{self, ResolveError};
use crate::proto::smtp::address::{Domain, ReversePath};
use crate::proto::smtp::data::HeaderSummary;
use crate::proto::smtp::reply::Reply;
use crate::proto::smtp::session::Mode;
use crate::store::{Store, StoreError};

/// RFC 6409 §6.1: on submission, the sender must be one of the user's own
/// addresses. On the MTA port every sender is accepted here (SPF and the
/// other checks judge it).
pub fn check_sender(
    store: &Store,
    mode: Mode,
    user: Option<&str>,
    from: &ReversePath,
) -> Result<(), Reply> {
    if mode == Mode::Mta {
        return Ok(());
    }
    let Some(user) = user else {
        return Err(Reply::new(530, "5.7.0", "Authentication required"));
    };
    let denied = || Reply::new(553, "5.7.1", format!("Sender address not owned by {user}"));
    let ReversePath::Mailbox(m) = from else {
        return Err(denied());
    };
    let Domain::Name(_) = m.domain else {
        return Err(denied());
    };
    match may_send_as(store, user, &m.to_string()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(denied()),
        Err(e) => {
            log::error!("sender check failed: {e}");
            Err(temp_failure())
        }
    }
}

/// RFC 6409 §6.1 leaves the From: check to local policy; ours: every
/// author address must be one the user may send as.
pub fn check_from_header(store: &Store, user: &str, headers: &HeaderSummary) -> Result<(), Reply> {
    let denied = |why: &str| Reply::new(553, "5.7.1", format!("From: header {why}"));
    // Fail closed: the scan did not see every author, or the message has
    // more than the one From: field RFC 5322 §3.6 allows.
    if headers.truncated || headers.from_fields > 1 {
        return Err(Reply::new(
            550,
            "5.7.1",
            "From: header repeated or too long to check",
        ));
    }
    if headers.from.is_empty() {
        return Err(denied("missing or unreadable"));
    }
    for addr in &headers.from {
        match may_send_as(store, user, addr) {
            Ok(true) => {}
            Ok(false) => return Err(denied(&format!("address {addr} is not owned by {user}"))),
            Err(e) => {
                log::error!("From check failed: {e}");
                return Err(temp_failure());
            }
        }
    }
    Ok(())
}

/// The addresses an account may send as: its own, every alias that
/// delivers to it (catch-alls excluded: they would let a user claim any
/// address of the domain), and its plus-addresses where no account or
/// alias has that exact address (an exact account or alias owns it).
pub fn may_send_as(store: &Store, account: &str, address: &str) -> Result<bool, StoreError> {
    let account = account.to_lowercase();
    let address = address.to_lowercase();
    if address == account {
        return Ok(true);
    }
    if store.account(&address)?.is_some() {
        return Ok(false);
    }
    if store.alias(&address)?.is_some() {
        return match delivery::resolve(store, &address) {
            Ok(r) => Ok(r.accounts.contains(&account)),
            Err(ResolveError::Store(e)) => Err(e),
            Err(_) => Ok(false),
        };
    }
    let (Some((local, domain)), Some((alocal, adomain))) =
        (address.rsplit_once('@'), account.rsplit_once('@'))
    else {
        return Ok(false);
    };
    Ok(domain == adomain && local.split_once('+').is_some_and(|(b, _)| b == alocal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mta::testing::{code, TestStore};
    use crate::proto::smtp::address::parse_mailbox;

    fn path(a: &str) -> ReversePath {
        ReversePath::Mailbox(parse_mailbox(a, false).unwrap())
    }

    fn summary(from: &[&str]) -> HeaderSummary {
        HeaderSummary {
            from: from.iter().map(|s| s.to_string()).collect(),
            from_fields: 1,
            truncated: false,
        }
    }

    #[test]
    fn senders_may_use_own_plus_and_alias_addresses_only() {
        let t = TestStore::new("sendas");
        let s = &t.store;
        s.add_alias("sales@example.test", &["alice@example.test".into()])
            .unwrap();
        s.add_alias("@example.test", &["alice@example.test".into()])
            .unwrap();
        let a = "alice@example.test";
        assert!(may_send_as(s, a, "ALICE@example.test").unwrap());
        assert!(may_send_as(s, a, "alice+x@example.test").unwrap());
        assert!(may_send_as(s, a, "sales@example.test").unwrap());
        assert!(!may_send_as(s, a, "bob@example.test").unwrap());
        assert!(
            !may_send_as(s, a, "random@example.test").unwrap(),
            "not via the catch-all"
        );
        assert!(!may_send_as(s, a, "alice@other.test").unwrap());
    }

    #[test]
    fn submission_needs_auth_and_an_owned_envelope_sender() {
        let t = TestStore::new("mailfrom");
        let s = &t.store;
        let alice = Some("alice@example.test");
        assert_eq!(
            code(check_sender(
                s,
                Mode::Submission,
                None,
                &path("alice@example.test")
            )),
            "530 5.7.0"
        );
        assert_eq!(
            code(check_sender(
                s,
                Mode::Submission,
                alice,
                &path("alice@example.test")
            )),
            "ok"
        );
        assert_eq!(
            code(check_sender(
                s,
                Mode::Submission,
                alice,
                &path("bob@example.test")
            )),
            "553 5.7.1"
        );
        assert_eq!(
            code(check_sender(s, Mode::Submission, alice, &ReversePath::Null)),
            "553 5.7.1",
            "no bounces from users"
        );
        assert_eq!(
            code(check_sender(s, Mode::Mta, None, &path("bob@example.test"))),
            "ok",
            "port 25 leaves the sender to SPF"
        );
    }

    #[test]
    fn the_from_header_must_name_only_owned_addresses() {
        let t = TestStore::new("fromhdr");
        let s = &t.store;
        let a = "alice@example.test";
        let from = |list: &[&str]| code(check_from_header(s, a, &summary(list)));
        assert_eq!(from(&["alice@example.test"]), "ok");
        assert_eq!(from(&["bob@example.test"]), "553 5.7.1");
        assert_eq!(
            from(&["alice@example.test", "bob@example.test"]),
            "553 5.7.1",
            "every author is checked"
        );
        assert_eq!(from(&[]), "553 5.7.1", "a missing From: is refused");
    }

    /// Hardening: From check fails closed. A scan that could not see the
    /// whole From: (too many fields, a field too long, a header section
    /// too long) or more than one From: field is refused, even when every
    /// address seen is the user's own.
    #[test]
    fn an_incomplete_or_repeated_from_is_refused() {
        let t = TestStore::new("fromclosed");
        let s = &t.store;
        let a = "alice@example.test";
        let mut h = summary(&["alice@example.test"]);
        h.truncated = true;
        assert_eq!(code(check_from_header(s, a, &h)), "550 5.7.1");
        let mut h = summary(&["alice@example.test", "alice@example.test"]);
        h.from_fields = 2;
        assert_eq!(code(check_from_header(s, a, &h)), "550 5.7.1");
    }

    /// Hardening: plus-addresses and ownership. An exact account or alias
    /// owns its address; the plus rule applies only where neither exists.
    #[test]
    fn exact_accounts_and_aliases_own_their_plus_addresses() {
        let t = TestStore::new("plusown");
        let s = &t.store;
        s.add_account("alice+boss@example.test", "h").unwrap();
        s.add_alias("bob+team@example.test", &["carol@other.test".into()])
            .unwrap();
        let alice = "alice@example.test";
        assert!(!may_send_as(s, alice, "alice+boss@example.test").unwrap());
        assert!(may_send_as(s, "alice+boss@example.test", "alice+boss@example.test").unwrap());
        assert!(may_send_as(s, alice, "alice+other@example.test").unwrap());
        assert!(!may_send_as(s, "bob@example.test", "bob+team@example.test").unwrap());
        assert!(may_send_as(s, "carol@other.test", "bob+team@example.test").unwrap());
        assert_eq!(
            code(check_sender(
                s,
                Mode::Submission,
                Some(alice),
                &path("alice+boss@example.test")
            )),
            "553 5.7.1"
        );
    }
}
