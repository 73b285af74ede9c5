//! The MTA and submission policy: who may send what to whom, decided once
//! per SMTP stage from plain values (the authenticated user, the
//! addresses, the header summary, the time), with no socket in sight.
//!
//! - MTA (port 25): recipients must be local users or aliases; anything
//!   else is relay and refused (RFC 5321 §3.6.1, never an open relay).
//! - Submission (587/465, RFC 6409): AUTH first; the envelope sender and
//!   the From: header must be the user's own addresses (RFC 6409 §6.1).
//!
//! The SMTP adapter (`crate::net::smtp`) calls [`Policy::connect`],
//! [`Policy::mail_from`], [`Policy::rcpt_to`], [`Policy::data_start`] and
//! [`Policy::data_end`] as the session reaches each stage, and turns
//! every refusal into the reply given here. The inbound antispam checks
//! are a separate pipeline, called next to these.

pub mod message;
pub mod rate;
pub mod recipient;
pub mod sender;

use crate::antispam::pipeline::Outcome;
use crate::auth::dkim::{Signer, SigningKey};
use crate::mail::mime::Structure;
use crate::proto::smtp::address::{ForwardPath, ReversePath};
use crate::proto::smtp::command::{MailParams, RcptParams};
use crate::proto::smtp::data::HeaderSummary;
use crate::proto::smtp::reply::Reply;
use crate::proto::smtp::session::Mode;
use crate::store::{Store, StoreError};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use message::Plan;
pub use recipient::Accepted;

/// The policy of both SMTP ports over one store.
pub struct Policy {
    store: Arc<Store>,
    /// Where the DKIM keys live (`<data_dir>/dkim`).
    data_dir: PathBuf,
    /// `[mta] postmaster`, lower case.
    postmaster: Vec<String>,
    /// Per-account sending limits.
    rates: rate::RateBook,
}

/// The transaction as the session holds it at the end of DATA.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// Which port the message came in on.
    pub mode: Mode,
    /// The authenticated user (submission).
    pub user: Option<&'a str>,
    /// MAIL FROM.
    pub sender: Option<&'a ReversePath>,
    /// The MAIL FROM parameters (RFC 3461 DSN, RFC 6152, RFC 6531).
    pub params: Option<&'a MailParams>,
    /// Every accepted RCPT TO, in order.
    pub recipients: &'a [ForwardPath],
    /// Their parameters, index for index.
    pub rcpt_params: &'a [RcptParams],
}

/// The message as received, at the end of DATA.
pub struct Received<'a> {
    /// What the header scan found (the From: field).
    pub headers: &'a HeaderSummary,
    /// The MIME structure of the body as spooled.
    pub structure: &'a Structure,
    /// Our Received: header field, CRLF-terminated.
    pub trace: &'a str,
    /// The antispam verdict on port 25.
    pub outcome: Option<&'a Outcome>,
    /// The DKIM signer fed with the body, when the message leaves signed.
    pub signer: Option<Signer<Vec<SigningKey>>>,
    /// Unix time.
    pub now: i64,
}

impl Policy {
    /// The policy over `store`, with the DKIM keys under `data_dir`.
    pub fn new(store: Arc<Store>, data_dir: PathBuf, config: &crate::config::Mta) -> Policy {
        Policy {
            store,
            data_dir,
            postmaster: config.postmaster.iter().map(|a| a.to_lowercase()).collect(),
            rates: rate::RateBook::new(
                config.max_messages_per_hour,
                config.max_recipients_per_hour,
            ),
        }
    }

    /// A client connects. Every client may open a session here; on port 25
    /// the antispam pipeline judges it next.
    pub fn connect(&self, _mode: Mode, _peer: IpAddr) -> Result<(), Reply> {
        Ok(())
    }

    /// MAIL FROM: who may use this envelope sender (see [`sender`]), and
    /// the sending limit of the authenticated user ([`rate`]). `room` says
    /// whether the store has room for new mail; without it, new mail is
    /// refused for now (RFC 3463 §3.4: 4.3.1).
    pub fn mail_from(
        &self,
        mode: Mode,
        user: Option<&str>,
        from: &ReversePath,
        room: bool,
        now: u64,
    ) -> Result<(), Reply> {
        if !room {
            return Err(storage_full());
        }
        sender::check_sender(&self.store, mode, user, from)?;
        self.within_limit(user, rate::Kind::Messages, now)
    }

    /// RCPT TO: local, alias, plus-address, catch-all, postmaster, relay or
    /// refuse (see [`recipient`]), and the recipient limit of the
    /// authenticated user. `size` is the size MAIL FROM declared.
    pub fn rcpt_to(
        &self,
        mode: Mode,
        user: Option<&str>,
        to: &ForwardPath,
        size: u64,
        now: u64,
    ) -> Result<Accepted, Reply> {
        let accepted = recipient::check_recipient(self, mode, to, size)?;
        self.within_limit(user, rate::Kind::Recipients, now)?;
        Ok(accepted)
    }

    /// Counts one message or recipient of an authenticated user: 450 4.7.1
    /// over the hourly limit (RFC 3463 §3.8: delivery not authorized).
    fn within_limit(&self, user: Option<&str>, kind: rate::Kind, now: u64) -> Result<(), Reply> {
        let Some(user) = user else {
            return Ok(());
        };
        if self.rates.take(user, kind, now) {
            return Ok(());
        }
        let what = match kind {
            rate::Kind::Messages => "messages",
            rate::Kind::Recipients => "recipients",
        };
        log::warn!("mta: {user} reached the hourly limit of {what}");
        Err(Reply::new(
            450,
            "4.7.1",
            format!("Too many {what} from {user} this hour, try again later"),
        ))
    }

    /// DATA begins: the DKIM signer that the body is fed to as it streams,
    /// for mail that leaves signed.
    pub fn data_start(
        &self,
        mode: Mode,
        sender: Option<&ReversePath>,
        now: i64,
    ) -> Option<Signer<Vec<SigningKey>>> {
        message::signer_for(&self.data_dir, mode, sender, now)
    }

    /// The end of DATA: the From: check of submission, then where the
    /// message goes: each local account once, remote recipients to the
    /// outbound queue with the trace and DKIM signatures.
    pub fn data_end(&self, env: &Envelope<'_>, msg: Received<'_>) -> Result<Plan, Reply> {
        if env.mode == Mode::Submission {
            let user = env.user.unwrap_or_default();
            sender::check_from_header(&self.store, user, msg.headers)?;
        }
        message::plan(self, env, msg)
    }

    /// The reply when the message could not be stored.
    pub fn store_failed(&self, id: &str, e: &StoreError) -> Reply {
        message::store_failed(id, e)
    }
}

/// 451 4.3.0: a local error the client may retry (RFC 3463 §3.4).
pub fn temp_failure() -> Reply {
    Reply::new(451, "4.3.0", "Temporary failure, try again later")
}

/// 452 4.3.1: the mail system is full (RFC 3463 §3.4); the client may
/// retry once room is made.
pub fn storage_full() -> Reply {
    Reply::new(452, "4.3.1", "Insufficient system storage, try again later")
}

#[cfg(test)]
mod tests {
    use super::testing::{code, policy, TestStore};
    use super::*;
    use crate::proto::smtp::address::{parse_forward_path, parse_mailbox};

    /// Hardening: authenticated sending has per-account limits on
    /// messages and recipients per hour, answered 450 4.7.1.
    #[test]
    fn authenticated_sending_is_limited_per_account_and_hour() {
        let t = TestStore::new("limits");
        let config = crate::config::Mta {
            max_messages_per_hour: 2,
            max_recipients_per_hour: 3,
            ..Default::default()
        };
        let p = policy(&t, &config);
        let now = 1_800_000_000;
        let alice = Some("alice@example.test");
        let from = ReversePath::Mailbox(parse_mailbox("alice@example.test", false).unwrap());
        let to = parse_forward_path(b"<x@remote.test>", false).unwrap();
        let mail = |user, t| code(p.mail_from(Mode::Submission, user, &from, true, t));
        let rcpt = |user, t| code(p.rcpt_to(Mode::Submission, user, &to, 0, t));
        assert_eq!(mail(alice, now), "ok");
        for _ in 0..3 {
            assert_eq!(rcpt(alice, now), "ok");
        }
        assert_eq!(rcpt(alice, now + 1), "450 4.7.1");
        assert_eq!(mail(alice, now + 2), "ok");
        assert_eq!(mail(alice, now + 3), "450 4.7.1");
        let bob = Some("bob@example.test");
        let from_bob = ReversePath::Mailbox(parse_mailbox("bob@example.test", false).unwrap());
        assert_eq!(
            code(p.mail_from(Mode::Submission, bob, &from_bob, true, now + 3)),
            "ok",
            "each account has its own count"
        );
        // Port 25 is not counted: its senders are judged by the antispam
        // pipeline.
        let local = parse_forward_path(b"<bob@example.test>", false).unwrap();
        for _ in 0..5 {
            assert_eq!(code(p.rcpt_to(Mode::Mta, None, &local, 0, now)), "ok");
        }
        // Two hours later alice may send again.
        assert_eq!(mail(alice, now + 7200), "ok");
        assert_eq!(rcpt(alice, now + 7200), "ok");
    }

    /// Without room in the store, new mail waits (452 4.3.1).
    #[test]
    fn no_room_for_new_mail_is_452_4_3_1() {
        let t = TestStore::new("room");
        let p = policy(&t, &crate::config::Mta::default());
        let from = ReversePath::Mailbox(parse_mailbox("x@remote.test", false).unwrap());
        assert_eq!(
            code(p.mail_from(Mode::Mta, None, &from, false, 0)),
            "452 4.3.1"
        );
        assert_eq!(code(p.mail_from(Mode::Mta, None, &from, true, 0)), "ok");
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A real store in a temp dir, for the policy's unit tests.

    use crate::proto::smtp::reply::Reply;
    use crate::store::Store;
    use std::path::PathBuf;
    use std::sync::Arc;

    /// A store with example.test and other.test, alice and bob on the
    /// first and carol on the second. Removed on drop.
    pub struct TestStore {
        pub store: Arc<Store>,
        pub dir: PathBuf,
    }

    /// The policy over `t` with `config`.
    pub fn policy(t: &TestStore, config: &crate::config::Mta) -> super::Policy {
        super::Policy::new(t.store.clone(), t.dir.clone(), config)
    }

    impl TestStore {
        pub fn new(name: &str) -> TestStore {
            let dir = std::env::temp_dir().join(format!(
                "facteur-mta-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            let s = Store::open(&dir, 1 << 20).unwrap();
            s.add_domain("example.test").unwrap();
            s.add_domain("other.test").unwrap();
            for u in ["alice@example.test", "bob@example.test", "carol@other.test"] {
                s.add_account(u, "h").unwrap();
            }
            TestStore {
                store: Arc::new(s),
                dir,
            }
        }
    }

    /// "ok", or a refusal's code and enhanced code: "553 5.7.1".
    pub fn code<T>(r: Result<T, Reply>) -> String {
        match r {
            Ok(_) => "ok".into(),
            Err(r) => format!("{} {}", r.code(), r.status().unwrap_or_default()),
        }
    }

    impl Drop for TestStore {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
