//! Per-client limiter for failed authentications, shared by SMTP, POP3 and
//! IMAP.
//!
//! Pure and bounded: it takes `now` as an argument and keeps at most
//! `max_entries` clients, evicting the one seen longest ago. IPv4 clients
//! are counted per address; IPv6 clients per /64, since one host usually
//! holds a whole /64. IPv4-mapped IPv6 addresses count as IPv4.
//!
//! How a protocol uses it:
//! 1. before verifying credentials, [`AuthLimiter::check`]; on
//!    [`Verdict::Refuse`] answer with a temporary failure (SMTP 454 4.7.0)
//!    without verifying anything;
//! 2. after a failure, [`AuthLimiter::record_failure`] and wait the
//!    returned delay before sending the failure reply;
//! 3. after a success, [`AuthLimiter::record_success`].
//!
//! The limiter never looks at the user name, so its answers cannot reveal
//! whether an account exists.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Thresholds of the limiter.
#[derive(Debug, Clone)]
pub struct LimitConfig {
    /// Failures older than this (counted from the first one) are forgotten.
    pub window: Duration,
    /// From this many failures in the window on, replies are delayed.
    pub delay_after: u32,
    /// Delay added per failure beyond `delay_after`, up to `max_delay`.
    pub delay_step: Duration,
    /// Upper bound of the delay.
    pub max_delay: Duration,
    /// At this many failures in the window, the client is refused.
    pub refuse_after: u32,
    /// How long a refused client stays refused.
    pub cool_off: Duration,
    /// Most clients remembered (each entry costs about 64 bytes).
    pub max_entries: usize,
}

impl Default for LimitConfig {
    /// 3 free failures, then 2 s more per failure (at most 10 s), refusal
    /// for 30 minutes at 10 failures within 15 minutes; 4096 clients
    /// (about 256 KiB at most).
    fn default() -> LimitConfig {
        LimitConfig {
            window: Duration::from_secs(15 * 60),
            delay_after: 3,
            delay_step: Duration::from_secs(2),
            max_delay: Duration::from_secs(10),
            refuse_after: 10,
            cool_off: Duration::from_secs(30 * 60),
            max_entries: 4096,
        }
    }
}

/// The limiter's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Wait this long before replying.
    Delay(Duration),
    /// Refuse without verifying, until the given time.
    Refuse {
        /// End of the cool-off period.
        until: Instant,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    V4(u32),
    V6Prefix(u64),
}

impl Key {
    fn of(ip: IpAddr) -> Key {
        match ip {
            IpAddr::V4(v4) => Key::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Key::V4(u32::from(v4)),
                None => Key::V6Prefix((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    failures: u32,
    refused_until: Option<Instant>,
    last_seen: Instant,
}

/// Failure counts per client address (or IPv6 /64).
#[derive(Debug)]
pub struct AuthLimiter {
    config: LimitConfig,
    entries: HashMap<Key, Entry>,
}

impl AuthLimiter {
    /// An empty limiter.
    pub fn new(config: LimitConfig) -> AuthLimiter {
        AuthLimiter {
            config,
            entries: HashMap::new(),
        }
    }

    /// Number of clients currently remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether an attempt from `ip` may be verified now.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        let key = Key::of(ip);
        let Some(entry) = self.entries.get_mut(&key) else {
            return Verdict::Allow;
        };
        if let Some(until) = entry.refused_until {
            if now < until {
                return Verdict::Refuse { until };
            }
            // Cool-off over: start afresh.
            self.entries.remove(&key);
            return Verdict::Allow;
        }
        if now.saturating_duration_since(entry.window_start) >= self.config.window {
            self.entries.remove(&key);
        }
        Verdict::Allow
    }

    /// Records a failed attempt; returns how long to wait before replying,
    /// or [`Verdict::Refuse`] once the refusal threshold is reached.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        let key = Key::of(ip);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.config.max_entries {
            self.evict_oldest();
        }
        let cfg = &self.config;
        let entry = self.entries.entry(key).or_insert(Entry {
            window_start: now,
            failures: 0,
            refused_until: None,
            last_seen: now,
        });
        let expired_window = now.saturating_duration_since(entry.window_start) >= cfg.window;
        let cool_off_over = entry.refused_until.is_some_and(|u| now >= u);
        if expired_window || cool_off_over {
            *entry = Entry {
                window_start: now,
                failures: 0,
                refused_until: None,
                last_seen: now,
            };
        }
        entry.last_seen = now;
        entry.failures = entry.failures.saturating_add(1);
        if let Some(until) = entry.refused_until {
            return Verdict::Refuse { until };
        }
        if entry.failures >= cfg.refuse_after {
            let until = now + cfg.cool_off;
            entry.refused_until = Some(until);
            return Verdict::Refuse { until };
        }
        if entry.failures >= cfg.delay_after {
            let steps = entry.failures - cfg.delay_after + 1;
            let delay = cfg.delay_step.saturating_mul(steps).min(cfg.max_delay);
            return Verdict::Delay(delay);
        }
        Verdict::Allow
    }

    /// Forgets the failures of `ip` after a successful login, unless it is
    /// in its cool-off period.
    pub fn record_success(&mut self, ip: IpAddr, now: Instant) {
        let key = Key::of(ip);
        if let Some(e) = self.entries.get(&key) {
            if e.refused_until.is_some_and(|u| now < u) {
                return;
            }
            self.entries.remove(&key);
        }
    }

    fn evict_oldest(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.last_seen)
            .map(|(k, _)| *k);
        if let Some(k) = oldest {
            self.entries.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn small() -> LimitConfig {
        LimitConfig {
            window: Duration::from_secs(600),
            delay_after: 2,
            delay_step: Duration::from_secs(1),
            max_delay: Duration::from_secs(3),
            refuse_after: 5,
            cool_off: Duration::from_secs(1800),
            max_entries: 3,
        }
    }

    #[test]
    fn delays_grow_then_refuses_for_the_cool_off() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        let a = ip("192.0.2.1");
        assert_eq!(l.check(a, t0), Verdict::Allow);
        assert_eq!(l.record_failure(a, t0), Verdict::Allow);
        assert_eq!(
            l.record_failure(a, t0),
            Verdict::Delay(Duration::from_secs(1))
        );
        assert_eq!(
            l.record_failure(a, t0),
            Verdict::Delay(Duration::from_secs(2))
        );
        assert_eq!(
            l.record_failure(a, t0),
            Verdict::Delay(Duration::from_secs(3))
        );
        let until = t0 + Duration::from_secs(1800);
        assert_eq!(l.record_failure(a, t0), Verdict::Refuse { until });
        assert_eq!(
            l.check(a, t0 + Duration::from_secs(1799)),
            Verdict::Refuse { until }
        );
        // A correct password does not lift the refusal.
        l.record_success(a, t0 + Duration::from_secs(10));
        assert_eq!(
            l.check(a, t0 + Duration::from_secs(11)),
            Verdict::Refuse { until }
        );
        assert_eq!(l.check(a, until), Verdict::Allow);
        assert_eq!(l.record_failure(a, until), Verdict::Allow);
    }

    #[test]
    fn window_expiry_and_success_forget_failures() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        let a = ip("192.0.2.1");
        l.record_failure(a, t0);
        assert!(matches!(l.record_failure(a, t0), Verdict::Delay(_)));
        let later = t0 + Duration::from_secs(600);
        assert_eq!(l.record_failure(a, later), Verdict::Allow);
        l.record_success(a, later);
        assert!(l.is_empty());
    }

    #[test]
    fn ipv6_is_grouped_by_64_and_mapped_v4_by_address() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        l.record_failure(ip("2001:db8:1:2::1"), t0);
        assert!(matches!(
            l.record_failure(ip("2001:db8:1:2:ffff::9"), t0),
            Verdict::Delay(_)
        ));
        assert_eq!(l.record_failure(ip("2001:db8:1:3::1"), t0), Verdict::Allow);
        l.record_failure(ip("198.51.100.7"), t0);
        assert!(matches!(
            l.record_failure(ip("::ffff:198.51.100.7"), t0),
            Verdict::Delay(_)
        ));
        // Neighbouring IPv4 addresses are separate clients.
        assert_eq!(l.record_failure(ip("198.51.100.8"), t0), Verdict::Allow);
    }

    #[test]
    fn bounded_and_evicts_the_least_recently_seen() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        for (i, a) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            l.record_failure(ip(a), t0 + Duration::from_secs(i as u64));
        }
        // Touch .1 so that .2 becomes the oldest.
        l.record_failure(ip("10.0.0.1"), t0 + Duration::from_secs(5));
        l.record_failure(ip("10.0.0.4"), t0 + Duration::from_secs(6));
        assert_eq!(l.len(), 3);
        assert_eq!(
            l.record_failure(ip("10.0.0.2"), t0 + Duration::from_secs(7)),
            Verdict::Allow
        );
        assert!(matches!(
            l.record_failure(ip("10.0.0.1"), t0 + Duration::from_secs(8)),
            Verdict::Delay(_) | Verdict::Refuse { .. }
        ));
    }
}
