//! Password checks shared by SMTP AUTH, POP3 and IMAP: one failure limiter
//! per server (RFC 4954 §4 leaves throttling to the server), a bound on
//! concurrent argon2 verifications, and answers that never reveal whether
//! a user exists.

use crate::config::Config;
use crate::proto::authlimit::{AuthLimiter, LimitConfig, Verdict};
use crate::store::Store;
use smol::lock::Semaphore;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Verifications running at once: each holds argon2's memory (8 MiB).
const CONCURRENT_VERIFICATIONS: usize = 2;

/// The outcome of a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// Verified; the account's address.
    Ok(String),
    /// Wrong user name or password (not said which).
    Failed,
    /// Too many failures from this client: refused without checking.
    Throttled,
    /// The store failed.
    TempFail,
}

/// The shared login checker.
pub struct Authenticator {
    store: Arc<Store>,
    limiter: Mutex<AuthLimiter>,
    permits: Semaphore,
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
            permits: Semaphore::new(CONCURRENT_VERIFICATIONS),
        }
    }

    fn limiter(&self) -> std::sync::MutexGuard<'_, AuthLimiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks `username`/`password` for a client at `ip`, sleeping the
    /// limiter's delays. `authzid` must be empty or name the same user.
    pub async fn login(&self, ip: IpAddr, authzid: &str, username: &str, password: &str) -> Login {
        let verdict = self.limiter().check(ip, Instant::now());
        match verdict {
            Verdict::Refuse { .. } => return Login::Throttled,
            Verdict::Delay(d) => {
                smol::Timer::after(d).await;
            }
            Verdict::Allow => {}
        }
        let username = username.trim().to_lowercase();
        let authz_ok = authzid.is_empty() || authzid.eq_ignore_ascii_case(&username);
        let ok = {
            let _permit = self.permits.acquire().await;
            let store = self.store.clone();
            let (user, pw) = (username.clone(), password.to_string());
            smol::unblock(move || match store.account(&user) {
                Ok(Some(a)) => Ok(crate::password::verify(&pw, &a.password_hash)),
                Ok(None) => {
                    crate::password::verify_unknown_user(&pw);
                    Ok(false)
                }
                Err(e) => Err(e),
            })
            .await
        };
        match ok {
            Ok(true) if authz_ok => {
                self.limiter().record_success(ip, Instant::now());
                Login::Ok(username)
            }
            Ok(_) => {
                let verdict = self.limiter().record_failure(ip, Instant::now());
                log::info!("failed login for {username:?} from {ip}");
                if let Verdict::Delay(d) = verdict {
                    smol::Timer::after(d).await;
                }
                Login::Failed
            }
            Err(e) => {
                log::error!("login check failed: {e}");
                Login::TempFail
            }
        }
    }
}
