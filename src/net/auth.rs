//! Password checks shared by SMTP AUTH, POP3 and IMAP: one failure limiter
//! per server, counting per client address and per account (RFC 4954 §4
//! leaves throttling to the server), argon2
//! verifications on a few dedicated workers ([`crate::password::Verifier`],
//! which bounds their memory), and answers that never reveal whether a user
//! exists.

use crate::config::Config;
use crate::proto::authlimit::{Attempt, AuthLimiter, LimitConfig};
use crate::store::Store;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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

/// The shared login checker.
pub struct Authenticator {
    store: Arc<Store>,
    limiter: Mutex<AuthLimiter>,
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
    /// The attempt is reserved in the limiter before the password is
    /// verified, so parallel attempts cannot get past the limit.
    pub async fn login(&self, ip: IpAddr, authzid: &str, username: &str, password: &str) -> Login {
        // A user may type the domain in U-labels; the store keeps A-labels.
        let username = crate::mail::idna::address_to_ascii(username.trim()).to_lowercase();
        let attempt = match self.limiter().begin(ip, &username, Instant::now()) {
            Ok(a) => a,
            Err(_) => {
                log::info!("refused login for {username:?} from {ip}: too many failures");
                return Login::Throttled;
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
            Ok(ok) => self.settle(attempt, ok && authz_ok, ip, username).await,
            Err(e) => {
                self.limiter().abandon(attempt);
                log::error!("login check failed: {e}");
                Login::TempFail
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
        let attempt = match self.limiter().begin(ip, name, Instant::now()) {
            Ok(a) => a,
            Err(_) => {
                log::info!("refused {name} from {ip}: too many failures");
                return Login::Throttled;
            }
        };
        self.settle(attempt, check(), ip, name.to_string()).await
    }

    /// Settles a verified attempt, sleeping the failure delay.
    async fn settle(&self, attempt: Attempt, ok: bool, ip: IpAddr, username: String) -> Login {
        if ok {
            self.limiter().succeeded(attempt, Instant::now());
            return Login::Ok(username);
        }
        let delay = self.limiter().failed(attempt, Instant::now());
        log::info!("failed login for {username:?} from {ip}");
        if !delay.is_zero() {
            smol::Timer::after(delay).await;
        }
        Login::Failed
    }
}
