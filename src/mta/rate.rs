//! Per-account sending limits: messages and recipients per hour, for
//! authenticated submission. A compromised account must not be able to
//! send a flood from our address.
//!
//! Counted as Postfix's anvil counts them: each MAIL FROM is a message and
//! each accepted RCPT TO a recipient, whether or not the message is then
//! delivered. The hour slides: the count of the previous clock hour is
//! weighted by how much of it is still inside the last 60 minutes, and
//! added to the count of the current one. Two counters per account, for
//! the accounts that sent in the last two hours only.

use std::collections::HashMap;
use std::sync::Mutex;

const HOUR: u64 = 3600;

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Messages (MAIL FROM).
    Messages,
    /// Recipients (RCPT TO).
    Recipients,
}

/// The counts of one kind for one account.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    /// The clock hour (`now / 3600`) of `current`.
    hour: u64,
    current: u32,
    previous: u32,
}

impl Window {
    /// Moves the window to `now`'s hour.
    fn advance(&mut self, now: u64) {
        let hour = now / HOUR;
        if hour == self.hour + 1 {
            self.previous = self.current;
        } else if hour != self.hour {
            self.previous = 0;
        }
        if hour != self.hour {
            self.hour = hour;
            self.current = 0;
        }
    }

    /// The estimated count over the 60 minutes before `now`.
    fn estimate(&self, now: u64) -> u64 {
        let into = now % HOUR;
        // Rounded up: a limit reached stays reached until a whole one
        // has slid out.
        u64::from(self.current) + (u64::from(self.previous) * (HOUR - into)).div_ceil(HOUR)
    }
}

/// The counters of every account that sent lately.
#[derive(Debug, Default)]
pub struct RateBook {
    limits: [u32; 2],
    accounts: Mutex<HashMap<String, [Window; 2]>>,
}

impl RateBook {
    /// Limits per hour for messages and recipients (0: none).
    pub fn new(max_messages: u32, max_recipients: u32) -> RateBook {
        RateBook {
            limits: [max_messages, max_recipients],
            accounts: Mutex::default(),
        }
    }

    /// Counts one more of `kind` for `account` at `now` (Unix seconds),
    /// unless that would pass the limit: then nothing is counted and the
    /// answer is false.
    pub fn take(&self, account: &str, kind: Kind, now: u64) -> bool {
        let i = kind as usize;
        let limit = self.limits[i];
        if limit == 0 {
            return true;
        }
        let mut map = match self.accounts.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !map.contains_key(account) {
            // Forget the accounts quiet for two hours: they count nothing.
            map.retain(|_, w| now / HOUR <= w.iter().map(|x| x.hour).max().unwrap_or(0) + 1);
        }
        let windows = map.entry(account.to_string()).or_default();
        let w = &mut windows[i];
        w.advance(now);
        if w.estimate(now) >= u64::from(limit) {
            return false;
        }
        w.current = w.current.saturating_add(1);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_800_000_000 / HOUR * HOUR;

    #[test]
    fn the_limit_holds_within_the_hour_and_per_account() {
        let book = RateBook::new(3, 0);
        for _ in 0..3 {
            assert!(book.take("a@x", Kind::Messages, T0 + 10));
        }
        assert!(!book.take("a@x", Kind::Messages, T0 + 20));
        assert!(!book.take("a@x", Kind::Messages, T0 + 3000));
        assert!(book.take("b@x", Kind::Messages, T0 + 20), "per account");
        assert!(book.take("a@x", Kind::Recipients, T0 + 20), "0 is no limit");
    }

    #[test]
    fn the_hour_slides() {
        let book = RateBook::new(0, 10);
        for _ in 0..10 {
            assert!(book.take("a@x", Kind::Recipients, T0 + HOUR - 60));
        }
        // Just after the clock hour, nearly all of them still count.
        assert!(!book.take("a@x", Kind::Recipients, T0 + HOUR + 60));
        // Half an hour later, half of them do.
        let mut more = 0;
        while book.take("a@x", Kind::Recipients, T0 + HOUR + HOUR / 2) {
            more += 1;
        }
        assert_eq!(more, 5);
        // Two hours on, everything is forgotten.
        let mut fresh = 0;
        while book.take("a@x", Kind::Recipients, T0 + 3 * HOUR + 1) {
            fresh += 1;
        }
        assert_eq!(fresh, 10);
    }
}
