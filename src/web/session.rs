//! Signed-in web sessions, kept on the server: a random 128-bit token in
//! a cookie names one, with its own CSRF token. Sans-I/O: `now` is passed
//! in and tokens are made by the caller, so tests need no clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "facteur_session";

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account, or empty while the setup wizard runs (a setup code
    /// was given, no account exists yet).
    pub user: String,
    /// The token every POST of this session must carry.
    pub csrf: String,
    /// A message for the next page shown (after a redirect).
    pub flash: Option<String>,
    /// The setup wizard's progress, in a session started by the setup
    /// code.
    pub wizard: Option<Box<Wizard>>,
    created: Instant,
    last_used: Instant,
}

/// The setup wizard's progress: the plan so far and the step shown.
#[derive(Debug, Clone, Default)]
pub struct Wizard {
    /// What was given so far.
    pub plan: crate::setup::plan::Plan,
    /// The step shown, from 0.
    pub step: usize,
}

/// Expiry rules of the table.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most sessions; a new one past it ends the least recently used.
    pub max: usize,
    /// Unused this long: ended.
    pub idle: Duration,
    /// This long after creation: ended.
    pub lifetime: Duration,
}

/// The table of sessions.
#[derive(Debug)]
pub struct Sessions {
    limits: Limits,
    by_token: HashMap<String, Session>,
}

impl Sessions {
    /// An empty table.
    pub fn new(limits: Limits) -> Sessions {
        Sessions {
            limits,
            by_token: HashMap::new(),
        }
    }

    /// Starts a session for `user` under `token`, ending expired ones and,
    /// when full, the least recently used.
    pub fn create(&mut self, token: String, user: &str, csrf: String, now: Instant) {
        self.expire(now);
        while self.by_token.len() >= self.limits.max.max(1) {
            let oldest = self
                .by_token
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(t, _)| t.clone());
            match oldest {
                Some(t) => self.by_token.remove(&t),
                None => break,
            };
        }
        self.by_token.insert(
            token,
            Session {
                user: user.to_string(),
                csrf,
                flash: None,
                wizard: None,
                created: now,
                last_used: now,
            },
        );
    }

    /// The live session under `token`, marked used; an expired one is
    /// ended and not returned.
    pub fn get(&mut self, token: &str, now: Instant) -> Option<&mut Session> {
        let live = self.by_token.get(token).is_some_and(|s| self.alive(s, now));
        if !live {
            self.by_token.remove(token);
            return None;
        }
        let s = self.by_token.get_mut(token)?;
        s.last_used = now;
        Some(s)
    }

    /// Ends the session under `token`.
    pub fn remove(&mut self, token: &str) {
        self.by_token.remove(token);
    }

    /// Ends every session of `user` (e.g. removed).
    pub fn remove_user(&mut self, user: &str) {
        self.by_token.retain(|_, s| s.user != user);
    }

    /// Live sessions.
    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }

    fn alive(&self, s: &Session, now: Instant) -> bool {
        now.saturating_duration_since(s.last_used) < self.limits.idle
            && now.saturating_duration_since(s.created) < self.limits.lifetime
    }

    fn expire(&mut self, now: Instant) {
        let (idle, lifetime) = (self.limits.idle, self.limits.lifetime);
        self.by_token.retain(|_, s| {
            now.saturating_duration_since(s.last_used) < idle
                && now.saturating_duration_since(s.created) < lifetime
        });
    }
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(max: usize) -> Sessions {
        Sessions::new(Limits {
            max,
            idle: Duration::from_secs(30 * 60),
            lifetime: Duration::from_secs(12 * 3600),
        })
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let t0 = Instant::now();
        let mut s = table(10);
        s.create("a".into(), "u@x", "c".into(), t0);
        // Used every 20 minutes: kept alive by use...
        let mut now = t0;
        for _ in 0..35 {
            now += Duration::from_secs(20 * 60);
            assert!(s.get("a", now).is_some());
        }
        // ...until 12 hours after login.
        now = t0 + Duration::from_secs(12 * 3600);
        assert!(s.get("a", now).is_none());
        s.create("b".into(), "u@x", "c".into(), now);
        assert!(s.get("b", now + Duration::from_secs(30 * 60)).is_none());
        assert!(s.is_empty());
    }

    #[test]
    fn full_table_ends_the_least_recently_used() {
        let t0 = Instant::now();
        let mut s = table(2);
        s.create("a".into(), "a@x", "c".into(), t0);
        s.create("b".into(), "b@x", "c".into(), t0 + Duration::from_secs(1));
        assert!(s.get("a", t0 + Duration::from_secs(2)).is_some());
        s.create("c".into(), "c@x", "c".into(), t0 + Duration::from_secs(3));
        assert_eq!(s.len(), 2);
        let now = t0 + Duration::from_secs(4);
        assert!(s.get("b", now).is_none());
        assert!(s.get("a", now).is_some());
        s.remove_user("a@x");
        s.remove("c");
        assert!(s.is_empty());
    }

    #[test]
    fn tokens_compare() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("", ""));
    }
}
