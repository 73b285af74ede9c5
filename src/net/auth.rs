//! Password checks shared by SMTP AUTH, POP3 and IMAP: one failure limiter
//! per server, counting per client address and per account (RFC 4954 §4
//! leaves throttling to the server), argon2
//! verifications on a few dedicated workers ([`crate::password::Verifier`],
//! which bounds their memory), and answers that never reveal whether a user
//! exists.

use crate::config::Config;
use crate::proto::authlimit::{Attempt, AuthLimiter, Denied, LimitConfig};
use crate::store::Store;
use event_listener::Event;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest wait for a verification slot while other attempts from the same
/// address or on the same account are verified; past it the login gets a
/// temporary failure. Slots free as fast as the password workers verify.
const MAX_SLOT_WAIT: Duration = Duration::from_secs(60);

/// The outcome of a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// Verified; the account's address.
    Ok(String),
    /// Wrong user name or password (not said which).
    Failed,
    /// Too many failures from this client or against this account:
    /// refused without checking.
    Throttled,
    /// The store failed.
    TempFail,
}

impl Login {
    /// Counts the outcome as a login to `service` ([`crate::stats`]); a
    /// refusal for too many failures counts as a failed one.
    pub fn counted(self, service: super::Service) -> Login {
        match self {
            Login::Ok(_) => crate::stats::login(service.name(), true),
            Login::Failed | Login::Throttled => crate::stats::login(service.name(), false),
            Login::TempFail => {}
        }
        self
    }
}

/// The shared login checker.
pub struct Authenticator {
    store: Arc<Store>,
    limiter: Mutex<AuthLimiter>,
    /// Notified whenever an attempt settles and frees its slot.
    settled: Event,
    verifier: Arc<crate::password::Verifier>,
}

impl Authenticator {
    /// A checker with the configured failure limits.
    pub fn new(store: Arc<Store>, cfg: &Config) -> Authenticator {
        let l = &cfg.limits;
        let limits = LimitConfig {
            delay_after: l.auth_failures_before_delay,
            refuse_after: l.auth_failures_before_refusal,
            cool_off: l.auth_refusal_period.0,
            ..LimitConfig::default()
        };
        Authenticator {
            store,
            limiter: Mutex::new(AuthLimiter::new(limits)),
            settled: Event::new(),
            verifier: Arc::new(crate::password::Verifier::new(
                crate::password::Verifier::default_workers(),
            )),
        }
    }

    /// The password workers, for hashing new passwords on the same reused
    /// memory as the verifications.
    pub fn password_workers(&self) -> Arc<crate::password::Verifier> {
        self.verifier.clone()
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, AuthLimiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks `username`/`password` for a client at `ip`, sleeping the
    /// limiter's delays. `authzid` must be empty or name the same user.
    /// The attempt takes a slot in the limiter before the password is
    /// verified, so parallel attempts cannot get past the limit; when all
    /// slots are taken it waits for one.
    pub async fn login(&self, ip: IpAddr, authzid: &str, username: &str, password: &str) -> Login {
        // A user may type the domain in U-labels; the store keeps A-labels.
        let username = crate::mail::idna::address_to_ascii(username.trim()).to_lowercase();
        let attempt = match self.slot(ip, &username).await {
            Ok(a) => a,
            Err(Denied::Refused(_)) => {
                log::info!("refused login for {username:?} from {ip}: too many failures");
                return Login::Throttled;
            }
            Err(Denied::Busy) => {
                log::info!("login for {username:?} from {ip}: no verification slot in time");
                return Login::TempFail;
            }
        };
        let authz_ok = authzid.is_empty()
            || crate::mail::idna::address_to_ascii(authzid).eq_ignore_ascii_case(&username);
        let store = self.store.clone();
        let user = username.clone();
        let ok = match smol::unblock(move || store.account(&user)).await {
            // An unknown user costs the same work as a wrong password.
            Ok(account) => Ok(self
                .verifier
                .verify(password, account.as_ref().map(|a| a.password_hash.as_str()))
                .await),
            Err(e) => Err(e),
        };
        match ok {
            Ok(true) if authz_ok => {
                attempt.settle(Verdict::Succeeded);
                Login::Ok(username)
            }
            Ok(_) => {
                let delay = attempt.settle(Verdict::Failed);
                log::info!("failed login for {username:?} from {ip}");
                if !delay.is_zero() {
                    smol::Timer::after(delay).await;
                }
                Login::Failed
            }
            Err(e) => {
                attempt.settle(Verdict::Abandoned);
                log::error!("login check failed: {e}");
                Login::TempFail
            }
        }
    }

    /// Begins an attempt, waiting (at most [`MAX_SLOT_WAIT`]) while every
    /// slot of the address or account is being verified.
    async fn slot(&self, ip: IpAddr, username: &str) -> Result<Pending<'_>, Denied> {
        let deadline = Instant::now() + MAX_SLOT_WAIT;
        loop {
            // Listen before trying, so a settlement in between is not missed.
            let listener = self.settled.listen();
            match self.limiter().begin(ip, username, Instant::now()) {
                Err(Denied::Busy) => {}
                other => {
                    return other.map(|attempt| Pending {
                        auth: self,
                        attempt: Some(attempt),
                    })
                }
            }
            let wait = async {
                listener.await;
                true
            };
            let timeout = async {
                smol::Timer::at(deadline).await;
                false
            };
            if !smol::future::or(wait, timeout).await {
                return Err(Denied::Busy);
            }
        }
    }

    /// Checks a secret that is no account's password (the setup code
    /// that claims the box) through the same limiter as logins, counted
    /// under the pseudo-account `name`: a wrong secret is a failure for
    /// `ip` like a wrong password, delayed and refused alike.
    pub async fn check_secret(
        &self,
        ip: IpAddr,
        name: &str,
        check: impl FnOnce() -> bool,
    ) -> Login {
        let attempt = match self.slot(ip, name).await {
            Ok(a) => a,
            Err(Denied::Refused(_)) => {
                log::info!("refused {name} from {ip}: too many failures");
                return Login::Throttled;
            }
            Err(Denied::Busy) => return Login::TempFail,
        };
        if check() {
            attempt.settle(Verdict::Succeeded);
            return Login::Ok(name.to_string());
        }
        let delay = attempt.settle(Verdict::Failed);
        log::info!("wrong {name} from {ip}");
        if !delay.is_zero() {
            smol::Timer::after(delay).await;
        }
        Login::Failed
    }
}

/// The verdict on an attempt.
enum Verdict {
    Succeeded,
    Failed,
    /// No verdict: the check could not be made.
    Abandoned,
}

/// An attempt holding its slot in the limiter. Settling it, or dropping it
/// unsettled (the client went away while it was verified: counted as a
/// failure), frees the slot and wakes the logins waiting for one.
struct Pending<'a> {
    auth: &'a Authenticator,
    attempt: Option<Attempt>,
}

impl Pending<'_> {
    /// Settles the attempt; returns how long to wait before replying.
    fn settle(mut self, verdict: Verdict) -> Duration {
        self.finish(verdict)
    }

    fn finish(&mut self, verdict: Verdict) -> Duration {
        let Some(attempt) = self.attempt.take() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let delay = {
            let mut limiter = self.auth.limiter();
            match verdict {
                Verdict::Succeeded => {
                    limiter.succeeded(attempt, now);
                    Duration::ZERO
                }
                Verdict::Failed => limiter.failed(attempt, now),
                Verdict::Abandoned => {
                    limiter.abandon(attempt);
                    Duration::ZERO
                }
            }
        };
        self.auth.settled.notify(usize::MAX);
        delay
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.finish(Verdict::Failed);
    }
}
