//! The retry schedule: a pure function of `now` and an entry's history.
//!
//! RFC 5321 §4.5.4.1 asks for a retry interval of at least 30 minutes
//! after the first failures and a give-up time of 4–5 days. We retry
//! sooner at first (greylisting peers usually accept after a few minutes),
//! then back off exponentially to a ceiling, and always make one last
//! attempt at the expiry time itself.

/// Delay before the attempt that follows the n-th failed one (n from 1):
/// 5, 10, 20, 40, 80, 160 minutes, then every 4 hours.
const FIRST_DELAY: i64 = 5 * 60;
/// The longest wait between two attempts.
const MAX_DELAY: i64 = 4 * 3600;

/// Seconds to wait after `attempts` failed attempts (at least one).
pub fn retry_delay(attempts: u32) -> i64 {
    let doublings = attempts.saturating_sub(1).min(16);
    (FIRST_DELAY << doublings).min(MAX_DELAY)
}

/// What to do with an entry whose attempt just failed temporarily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this Unix time.
    RetryAt(i64),
    /// The lifetime is over: fail the remaining recipients.
    Expire,
}

/// The decision after a temporary failure at `now`, for an entry queued
/// at `created` that has now failed `attempts` times in all, with a
/// lifetime of `max_lifetime` seconds.
pub fn after_failure(created: i64, attempts: u32, now: i64, max_lifetime: i64) -> Next {
    let expiry = created.saturating_add(max_lifetime);
    if now >= expiry {
        return Next::Expire;
    }
    Next::RetryAt(now.saturating_add(retry_delay(attempts)).min(expiry))
}

/// Whether a delay warning (RFC 3461 §4.1 NOTIFY=DELAY, RFC 3464
/// `Action: delayed`) is due: the entry has waited `delay_warning`
/// seconds (0 turns warnings off) and none was sent yet.
pub fn delay_warning_due(created: i64, now: i64, delay_warning: i64, warned: bool) -> bool {
    !warned && delay_warning > 0 && now.saturating_sub(created) >= delay_warning
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86400;

    #[test]
    fn delays_grow_from_minutes_to_hours_and_stop_growing() {
        let d: Vec<i64> = (1..=9).map(retry_delay).collect();
        assert_eq!(d, [300, 600, 1200, 2400, 4800, 9600, 14400, 14400, 14400]);
        assert_eq!(retry_delay(0), 300);
        assert_eq!(retry_delay(u32::MAX), MAX_DELAY);
    }

    /// The whole life of an entry that never gets through, without
    /// sleeping: every attempt time, the last attempt at the expiry, and
    /// the expiry decision after it.
    #[test]
    fn a_hopeless_entry_is_retried_then_expires_after_its_lifetime() {
        let created = 1_700_000_000;
        let lifetime = 5 * DAY;
        let mut now = created;
        let mut attempts = 0;
        let mut times = Vec::new();
        loop {
            attempts += 1;
            times.push(now);
            match after_failure(created, attempts, now, lifetime) {
                Next::RetryAt(t) => {
                    assert!(t > now, "time moves forward");
                    assert!(t - now <= MAX_DELAY);
                    now = t;
                }
                Next::Expire => break,
            }
        }
        // First retries come quickly...
        assert_eq!(times[1] - times[0], 300);
        assert_eq!(times[2] - times[1], 600);
        // ...the last attempt is exactly at the expiry, and then it expires.
        assert_eq!(*times.last().unwrap(), created + lifetime);
        // 5, 10, 20, 40, 80, 160 min = 315 min, then every 4 h to 5 days.
        let expected = 7 + (lifetime - 315 * 60) / MAX_DELAY + 1;
        assert_eq!(times.len() as i64, expected);
        assert!(times.windows(2).all(|w| w[1] - w[0] <= MAX_DELAY));
    }

    #[test]
    fn a_short_lifetime_clamps_the_retry_to_the_expiry() {
        assert_eq!(after_failure(1000, 1, 1000, 60), Next::RetryAt(1060));
        assert_eq!(after_failure(1000, 2, 1060, 60), Next::Expire);
        assert_eq!(after_failure(1000, 1, 5000, 60), Next::Expire);
    }

    #[test]
    fn delay_warnings_fire_once_after_the_configured_wait() {
        let c = 10_000;
        assert!(!delay_warning_due(c, c + 3599, 3600, false));
        assert!(delay_warning_due(c, c + 3600, 3600, false));
        assert!(!delay_warning_due(c, c + 7200, 3600, true));
        assert!(!delay_warning_due(c, c + 7200, 0, false));
    }
}
