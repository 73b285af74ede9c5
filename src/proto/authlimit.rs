//! Limiter for failed authentications, shared by SMTP, POP3 and IMAP.
//!
//! Failures are counted twice, separately: per client address (IPv4 per
//! address, IPv6 per /64 since one host usually holds a whole /64,
//! IPv4-mapped IPv6 as IPv4) and per target account. Either count reaching
//! its limit refuses further attempts, so one address cannot guess many
//! accounts and many addresses cannot guess one account. A success clears
//! only that account's count: a good login for one account never forgives
//! the failures against another from the same address.
//!
//! An address that has logged in to an account is remembered for
//! `known_for`, and the account's refusal does not apply to it (its own
//! address count still does): guessing an account's password from
//! elsewhere cannot lock its owner's devices out.
//!
//! Pure and bounded: it takes `now` as an argument and keeps at most
//! `max_entries` addresses and as many accounts, evicting the one seen
//! longest ago.
//!
//! How a protocol uses it:
//! 1. before verifying credentials, [`AuthLimiter::begin`]. Attempts being
//!    verified are counted apart from confirmed failures, and at most as
//!    many run at once as failures remain before the limit, so attempts
//!    running in parallel cannot get past the limit between the check and
//!    the verdict. On [`Denied::Refused`] answer with a temporary failure
//!    (SMTP 454 4.7.0) without verifying anything; on [`Denied::Busy`]
//!    (every remaining slot is being verified) wait for an attempt to
//!    settle and begin again: correct logins arriving together are
//!    verified a few at a time, never refused;
//! 2. after a failure, [`AuthLimiter::failed`] and wait the returned delay
//!    before sending the failure reply;
//! 3. after a success, [`AuthLimiter::succeeded`].
//!
//! Unknown and existing accounts are counted alike, so the limiter's
//! answers cannot reveal whether an account exists.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Longest account name kept as a key (RFC 5321 §4.5.3.1.3: a path is at
/// most 256 octets); longer names are cut, which only merges their counts.
const MAX_ACCOUNT_KEY: usize = 256;

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
    /// At this many failures in the window, the address or account is
    /// refused.
    pub refuse_after: u32,
    /// How long a refused address or account stays refused.
    pub cool_off: Duration,
    /// How long an address that logged in to an account stays exempt
    /// from that account's refusal.
    pub known_for: Duration,
    /// Most addresses, most accounts, and most known address and account
    /// pairs remembered (each entry costs about 64 bytes, plus the
    /// account name).
    pub max_entries: usize,
}

impl Default for LimitConfig {
    /// 3 free failures, then 2 s more per failure (at most 10 s), refusal
    /// for 30 minutes at 10 failures within 15 minutes; logins known for
    /// 30 days; 4096 of each kind of entry (about 2 MiB at most).
    fn default() -> LimitConfig {
        LimitConfig {
            window: Duration::from_secs(15 * 60),
            delay_after: 3,
            delay_step: Duration::from_secs(2),
            max_delay: Duration::from_secs(10),
            refuse_after: 10,
            cool_off: Duration::from_secs(30 * 60),
            known_for: Duration::from_secs(30 * 24 * 3600),
            max_entries: 4096,
        }
    }
}

/// Attempts are refused without verifying anything, until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// When the address or account may try again (at the earliest).
    pub until: Instant,
}

/// Why an attempt may not be verified now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Too many failures: refused without verifying anything.
    Refused(Refused),
    /// As many attempts are being verified as failures remain before the
    /// limit: begin again once one of them settles.
    Busy,
}

/// An attempt being verified, to be settled with [`AuthLimiter::failed`],
/// [`AuthLimiter::succeeded`] or [`AuthLimiter::abandon`]. One dropped
/// unsettled (the client went away while it was verified) keeps its slot
/// until the entry is forgotten.
#[derive(Debug)]
#[must_use = "an attempt holds a verification slot until it is settled"]
pub struct Attempt {
    addr: Addr,
    account: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Addr {
    V4(u32),
    V6Prefix(u64),
}

impl Addr {
    fn of(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(v4) => Addr::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Addr::V4(u32::from(v4)),
                None => Addr::V6Prefix((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: Instant,
    /// Confirmed failures in the window.
    failures: u32,
    /// Attempts being verified.
    pending: u32,
    refused_until: Option<Instant>,
    last_seen: Instant,
}

impl Entry {
    fn fresh(now: Instant) -> Entry {
        Entry {
            window_start: now,
            failures: 0,
            pending: 0,
            refused_until: None,
            last_seen: now,
        }
    }

    fn with_pending(self, pending: u32) -> Entry {
        Entry { pending, ..self }
    }
}

/// One count: failures per key, bounded.
#[derive(Debug)]
struct Counts<K> {
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Counts<K> {
    fn new() -> Counts<K> {
        Counts {
            entries: HashMap::new(),
        }
    }

    /// The refusal in force for `key`, forgetting an expired window or
    /// cool-off on the way (attempts being verified stay counted).
    fn refusal(&mut self, key: &K, cfg: &LimitConfig, now: Instant) -> Option<Refused> {
        let entry = self.entries.get_mut(key)?;
        match entry.refused_until {
            Some(until) if now < until => return Some(Refused { until }),
            Some(_) => *entry = Entry::fresh(now).with_pending(entry.pending),
            None if now.saturating_duration_since(entry.window_start) >= cfg.window => {
                *entry = Entry::fresh(now).with_pending(entry.pending);
            }
            None => {}
        }
        self.drop_if_empty(key);
        None
    }

    /// True when every failure left before the limit is being verified.
    fn busy(&self, key: &K, cfg: &LimitConfig) -> bool {
        self.entries
            .get(key)
            .is_some_and(|e| e.failures.saturating_add(e.pending) >= cfg.refuse_after)
    }

    /// Counts one more attempt being verified.
    fn begin(&mut self, key: &K, cfg: &LimitConfig, now: Instant) {
        if !self.entries.contains_key(key) && self.entries.len() >= cfg.max_entries {
            evict_oldest(&mut self.entries, |e| e.last_seen);
        }
        let entry = self.entries.entry(key.clone()).or_insert(Entry::fresh(now));
        entry.last_seen = now;
        entry.pending = entry.pending.saturating_add(1);
    }

    /// Turns an attempt being verified into a failure; returns the new
    /// count. The count reaching the limit starts the cool-off.
    fn confirm(&mut self, key: &K, cfg: &LimitConfig, now: Instant) -> u32 {
        let entry = self.entries.entry(key.clone()).or_insert(Entry::fresh(now));
        entry.last_seen = now;
        entry.pending = entry.pending.saturating_sub(1);
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= cfg.refuse_after && entry.refused_until.is_none() {
            entry.refused_until = Some(now + cfg.cool_off);
        }
        entry.failures
    }

    /// Ends an attempt being verified without a failure.
    fn release(&mut self, key: &K) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.pending = entry.pending.saturating_sub(1);
        }
        self.drop_if_empty(key);
    }

    /// Ends an attempt being verified and forgets the failures of `key`,
    /// unless it is in its cool-off (a right password does not lift a
    /// refusal).
    fn clear(&mut self, key: &K, now: Instant) {
        if let Some(entry) = self.entries.get_mut(key) {
            if entry.refused_until.is_none_or(|u| now >= u) {
                *entry = Entry::fresh(now).with_pending(entry.pending);
            }
        }
        self.release(key);
    }

    /// Forgets an entry that holds nothing any more.
    fn drop_if_empty(&mut self, key: &K) {
        let empty = self
            .entries
            .get(key)
            .is_some_and(|e| e.failures == 0 && e.pending == 0 && e.refused_until.is_none());
        if empty {
            self.entries.remove(key);
        }
    }
}

/// Removes the entry of `map` seen longest ago.
fn evict_oldest<K: Hash + Eq + Clone, V>(map: &mut HashMap<K, V>, seen: impl Fn(&V) -> Instant) {
    let oldest = map
        .iter()
        .min_by_key(|(_, v)| seen(v))
        .map(|(k, _)| k.clone());
    if let Some(k) = oldest {
        map.remove(&k);
    }
}

/// Failure counts per client address (or IPv6 /64) and per account.
#[derive(Debug)]
pub struct AuthLimiter {
    config: LimitConfig,
    addrs: Counts<Addr>,
    accounts: Counts<String>,
    /// Address and account pairs that logged in, and when they last did.
    known: HashMap<(Addr, String), Instant>,
}

impl AuthLimiter {
    /// An empty limiter.
    pub fn new(config: LimitConfig) -> AuthLimiter {
        AuthLimiter {
            config,
            addrs: Counts::new(),
            accounts: Counts::new(),
            known: HashMap::new(),
        }
    }

    /// Number of addresses and accounts currently remembered.
    pub fn len(&self) -> usize {
        self.addrs.entries.len() + self.accounts.entries.len()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Begins an attempt from `ip` on `account` (compared as given:
    /// the caller normalises it). Refused when the address or the account
    /// has reached its limit; busy when as many attempts are being
    /// verified as failures remain before it.
    pub fn begin(&mut self, ip: IpAddr, account: &str, now: Instant) -> Result<Attempt, Denied> {
        let cfg = &self.config;
        let addr = Addr::of(ip);
        let account = account_key(account);
        let by_addr = self.addrs.refusal(&addr, cfg, now);
        // An address that logged in to the account is spared the
        // account's limit, its refusal and its busy slots alike.
        let known = self
            .known
            .get(&(addr, account.clone()))
            .is_some_and(|&at| now.saturating_duration_since(at) < cfg.known_for);
        let by_account = self.accounts.refusal(&account, cfg, now).filter(|_| !known);
        if let Some(r) = by_addr
            .into_iter()
            .chain(by_account)
            .max_by_key(|r| r.until)
        {
            return Err(Denied::Refused(r));
        }
        if self.addrs.busy(&addr, cfg) || (!known && self.accounts.busy(&account, cfg)) {
            return Err(Denied::Busy);
        }
        self.addrs.begin(&addr, cfg, now);
        self.accounts.begin(&account, cfg, now);
        Ok(Attempt { addr, account })
    }

    /// Settles an attempt as failed; returns how long to wait before
    /// replying. The failure that reaches the limit starts the cool-off of
    /// the address, the account, or both.
    pub fn failed(&mut self, attempt: Attempt, now: Instant) -> Duration {
        let cfg = &self.config;
        let failures = self
            .addrs
            .confirm(&attempt.addr, cfg, now)
            .max(self.accounts.confirm(&attempt.account, cfg, now));
        if failures >= cfg.delay_after {
            let steps = failures - cfg.delay_after + 1;
            cfg.delay_step.saturating_mul(steps).min(cfg.max_delay)
        } else {
            Duration::ZERO
        }
    }

    /// Settles an attempt as successful: the account's failures are
    /// forgotten (unless it is in its cool-off), and the address keeps its
    /// failures against other accounts.
    pub fn succeeded(&mut self, attempt: Attempt, now: Instant) {
        self.addrs.release(&attempt.addr);
        self.accounts.clear(&attempt.account, now);
        let pair = (attempt.addr, attempt.account);
        if !self.known.contains_key(&pair) && self.known.len() >= self.config.max_entries {
            evict_oldest(&mut self.known, |at| *at);
        }
        self.known.insert(pair, now);
    }

    /// Gives an attempt back without a verdict (the check could not be
    /// made, e.g. the store failed).
    pub fn abandon(&mut self, attempt: Attempt) {
        self.addrs.release(&attempt.addr);
        self.accounts.release(&attempt.account);
    }
}

fn account_key(account: &str) -> String {
    let mut end = account.len().min(MAX_ACCOUNT_KEY);
    while !account.is_char_boundary(end) {
        end -= 1;
    }
    account[..end].to_string()
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
            known_for: Duration::from_secs(86400),
            max_entries: 3,
        }
    }

    /// One failed attempt; its delay, or the refusal.
    fn refused(until: Instant) -> Denied {
        Denied::Refused(Refused { until })
    }

    fn fail(l: &mut AuthLimiter, a: &str, user: &str, now: Instant) -> Result<u64, Denied> {
        let attempt = l.begin(ip(a), user, now)?;
        Ok(l.failed(attempt, now).as_secs())
    }

    fn succeed(l: &mut AuthLimiter, a: &str, user: &str, now: Instant) -> Result<(), Denied> {
        let attempt = l.begin(ip(a), user, now)?;
        l.succeeded(attempt, now);
        Ok(())
    }

    #[test]
    fn delays_grow_then_refuses_for_the_cool_off() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        let a = "192.0.2.1";
        let delays: Vec<_> = (0..5).map(|_| fail(&mut l, a, "bob", t0)).collect();
        assert_eq!(delays, [Ok(0), Ok(1), Ok(2), Ok(3), Ok(3)]);
        let until = t0 + Duration::from_secs(1800);
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(fail(&mut l, a, "bob", at(1799)), Err(refused(until)));
        // A correct password does not lift the refusal.
        assert_eq!(succeed(&mut l, a, "bob", at(10)), Err(refused(until)));
        assert_eq!(fail(&mut l, a, "bob", until), Ok(0));
    }

    /// Issue 13 item 2: good logins for alice between wrong passwords for
    /// bob, from one address, must not reset the count of that address.
    #[test]
    fn a_success_for_one_account_does_not_forgive_failures_for_another() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        let a = "192.0.2.1";
        for _ in 0..4 {
            fail(&mut l, a, "bob", t0).unwrap();
            succeed(&mut l, a, "alice", t0).unwrap();
        }
        assert_eq!(fail(&mut l, a, "bob", t0), Ok(3), "the fifth failure");
        let until = t0 + Duration::from_secs(1800);
        assert_eq!(succeed(&mut l, a, "alice", t0), Err(refused(until)));
        assert_eq!(fail(&mut l, a, "carol", t0), Err(refused(until)));
        // Another address may still log in as alice, but not guess bob.
        assert_eq!(succeed(&mut l, "192.0.2.2", "alice", t0), Ok(()));
        assert_eq!(fail(&mut l, "192.0.2.2", "bob", t0), Err(refused(until)));
    }

    #[test]
    fn a_success_clears_its_account_but_not_the_address() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        let a = "192.0.2.1";
        for _ in 0..4 {
            fail(&mut l, a, "alice", t0).unwrap();
        }
        succeed(&mut l, a, "alice", t0).unwrap();
        // alice's count is gone: from elsewhere she starts afresh.
        assert_eq!(fail(&mut l, "192.0.2.9", "alice", t0), Ok(0));
        // The address keeps its four failures: the fifth refuses it.
        assert_eq!(fail(&mut l, a, "dave", t0), Ok(3));
        assert!(fail(&mut l, a, "erin", t0).is_err());
    }

    /// Issue 13 item 2: many addresses guessing one account are refused
    /// together.
    #[test]
    fn failures_against_one_account_count_across_addresses() {
        let t0 = Instant::now();
        let mut cfg = small();
        cfg.max_entries = 16;
        let mut l = AuthLimiter::new(cfg);
        for i in 1..=5 {
            assert!(fail(&mut l, &format!("198.51.100.{i}"), "bob", t0).is_ok());
        }
        assert!(fail(&mut l, "198.51.100.77", "bob", t0).is_err());
        assert_eq!(fail(&mut l, "198.51.100.77", "alice", t0), Ok(0));
    }

    /// Issue 13 item 2: attempts verified in parallel are reserved before
    /// any verdict, so no more than the limit are ever verified.
    #[test]
    fn parallel_attempts_cannot_exceed_the_limit() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        let mut pending = Vec::new();
        let mut denied = 0;
        for _ in 0..21 {
            match l.begin(ip("192.0.2.1"), "bob", t0) {
                Ok(a) => pending.push(a),
                Err(_) => denied += 1,
            }
        }
        assert_eq!((pending.len(), denied), (5, 16));
        for a in pending {
            l.failed(a, t0);
        }
        let until = t0 + Duration::from_secs(1800);
        assert_eq!(fail(&mut l, "192.0.2.1", "x", t0), Err(refused(until)));
    }

    /// Correct logins arriving together from one address, more than the
    /// limit, are verified a few at a time and never refused.
    #[test]
    fn parallel_correct_attempts_wait_for_a_slot_and_all_succeed() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        let mut waiting = 30;
        let mut rounds = 0;
        while waiting > 0 {
            let mut batch = Vec::new();
            for _ in 0..waiting {
                match l.begin(ip("192.0.2.1"), "bob", t0) {
                    Ok(a) => batch.push(a),
                    Err(d) => assert_eq!(d, Denied::Busy),
                }
            }
            assert_eq!(batch.len(), 5.min(waiting));
            waiting -= batch.len();
            for a in batch {
                l.succeeded(a, t0);
            }
            rounds += 1;
        }
        assert_eq!(rounds, 6);
        assert_eq!(l.len(), 0, "nothing counted against the address");
        // Failures already confirmed leave fewer slots.
        for _ in 0..3 {
            fail(&mut l, "192.0.2.1", "eve", t0).unwrap();
        }
        let slots: Vec<_> = (0..5)
            .map_while(|_| l.begin(ip("192.0.2.1"), "bob", t0).ok())
            .collect();
        assert_eq!(slots.len(), 2);
    }

    /// Waiting attempts are refused once the ones being verified fail.
    #[test]
    fn waiting_attempts_are_refused_when_the_verified_ones_fail() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        let pending: Vec<_> = (0..5)
            .map(|_| l.begin(ip("192.0.2.1"), "bob", t0).unwrap())
            .collect();
        assert_eq!(
            l.begin(ip("192.0.2.1"), "bob", t0).unwrap_err(),
            Denied::Busy
        );
        let mut last = 0;
        for a in pending {
            last = l.failed(a, t0).as_secs();
        }
        assert_eq!(last, 3, "delays grow with the confirmed failures");
        let until = t0 + Duration::from_secs(1800);
        assert_eq!(
            l.begin(ip("192.0.2.1"), "bob", t0).unwrap_err(),
            refused(until)
        );
    }

    /// Guessing an account's password from elsewhere does not lock out
    /// the addresses its owner logged in from.
    #[test]
    fn an_account_refusal_spares_the_addresses_that_logged_in_to_it() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(LimitConfig {
            max_entries: 16,
            ..small()
        });
        let home = "192.0.2.1";
        succeed(&mut l, home, "alice", t0).unwrap();
        for i in 1..=5 {
            fail(&mut l, &format!("198.51.100.{i}"), "alice", t0).unwrap();
        }
        let until = t0 + Duration::from_secs(1800);
        assert_eq!(
            succeed(&mut l, "198.51.100.9", "alice", t0),
            Err(refused(until))
        );
        assert_eq!(succeed(&mut l, home, "alice", t0), Ok(()));
        // Only for that account, and not for ever.
        assert!(fail(&mut l, home, "bob", t0).is_ok());
        assert!(fail(&mut l, "198.51.100.1", "alice", t0).is_err());
        assert_eq!(l.known.len(), 1);
        let later = t0 + Duration::from_secs(86400);
        for i in 11..=15 {
            fail(&mut l, &format!("198.51.100.{i}"), "alice", later).unwrap();
        }
        assert!(succeed(&mut l, home, "alice", later).is_err());
    }

    #[test]
    fn abandoned_attempts_and_successes_give_the_reservation_back() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        for _ in 0..10 {
            let a = l.begin(ip("192.0.2.1"), "bob", t0).unwrap();
            l.abandon(a);
            succeed(&mut l, "192.0.2.1", "alice", t0).unwrap();
        }
        assert!(l.is_empty());
    }

    #[test]
    fn window_expiry_forgets_failures() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        let a = "192.0.2.1";
        fail(&mut l, a, "bob", t0).unwrap();
        assert_eq!(fail(&mut l, a, "bob", t0), Ok(1));
        let later = t0 + Duration::from_secs(600);
        assert_eq!(fail(&mut l, a, "bob", later), Ok(0));
    }

    #[test]
    fn ipv6_is_grouped_by_64_and_mapped_v4_by_address() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(LimitConfig {
            max_entries: 16,
            ..small()
        });
        fail(&mut l, "2001:db8:1:2::1", "a", t0).unwrap();
        assert_eq!(fail(&mut l, "2001:db8:1:2:ffff::9", "b", t0), Ok(1));
        assert_eq!(fail(&mut l, "2001:db8:1:3::1", "c", t0), Ok(0));
        fail(&mut l, "198.51.100.7", "d", t0).unwrap();
        assert_eq!(fail(&mut l, "::ffff:198.51.100.7", "e", t0), Ok(1));
        // Neighbouring IPv4 addresses are separate clients.
        assert_eq!(fail(&mut l, "198.51.100.8", "f", t0), Ok(0));
    }

    #[test]
    fn bounded_and_evicts_the_least_recently_seen() {
        let t0 = Instant::now();
        let mut l = AuthLimiter::new(small());
        let at = |s| t0 + Duration::from_secs(s);
        for (i, a) in ["10.0.0.1", "10.0.0.2", "10.0.0.3"].iter().enumerate() {
            fail(&mut l, a, &format!("u{i}"), at(i as u64)).unwrap();
        }
        // Touch .1 and u0 so that .2 and u1 become the oldest.
        fail(&mut l, "10.0.0.1", "u0", at(5)).unwrap();
        fail(&mut l, "10.0.0.4", "u4", at(6)).unwrap();
        assert_eq!(l.len(), 6);
        assert_eq!(fail(&mut l, "10.0.0.2", "u1", at(7)), Ok(0));
        assert_eq!(fail(&mut l, "10.0.0.1", "u0", at(8)), Ok(2));
        // Account names are bounded too.
        let long = "x".repeat(10_000);
        fail(&mut l, "10.0.0.5", &long, at(9)).unwrap();
        assert!(l
            .accounts
            .entries
            .keys()
            .all(|k| k.len() <= MAX_ACCOUNT_KEY));
    }
}
