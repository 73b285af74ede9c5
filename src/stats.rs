//! Today's mail counters for the dashboard: a few atomics, bumped where
//! mail is accepted, delivered, refused or filed in Junk. "Today" is the
//! UTC day: the counters start again from zero at midnight UTC. They are
//! not kept across restarts.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Accepted over SMTP (inbound or submission), after it was stored.
    Received,
    /// Put in a local mailbox, or handed to a remote server by the queue
    /// (one per mailbox or remote recipient).
    Delivered,
    /// Refused by the inbound checks at the end of DATA.
    Refused,
    /// Filed in a recipient's Junk folder (one per mailbox).
    Junked,
}

/// Today's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Today {
    /// Messages accepted.
    pub received: u64,
    /// Deliveries made.
    pub delivered: u64,
    /// Messages refused by the checks.
    pub refused: u64,
    /// Copies filed in Junk.
    pub junked: u64,
}

/// The counters of one UTC day.
struct Counters {
    /// Days since the Unix epoch the counts are of.
    day: AtomicI64,
    counts: [AtomicU64; 4],
}

static COUNTERS: Counters = Counters {
    day: AtomicI64::new(0),
    counts: [
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    ],
};

static STARTED: OnceLock<Instant> = OnceLock::new();

/// Notes the server's start, for [`uptime`].
pub fn mark_start() {
    let _ = STARTED.set(Instant::now());
}

/// Time since [`mark_start`] (zero when it was not called).
pub fn uptime() -> std::time::Duration {
    STARTED.get().map(Instant::elapsed).unwrap_or_default()
}

fn index(event: Event) -> usize {
    match event {
        Event::Received => 0,
        Event::Delivered => 1,
        Event::Refused => 2,
        Event::Junked => 3,
    }
}

fn day_of(now: i64) -> i64 {
    now.div_euclid(86_400)
}

impl Counters {
    /// Starts a new day when `now` is past the counted one. One caller
    /// wins the switch and clears; a count racing it may land on either
    /// side of midnight.
    fn roll(&self, now: i64) {
        let today = day_of(now);
        let day = self.day.load(Ordering::Relaxed);
        if day != today
            && self
                .day
                .compare_exchange(day, today, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            for c in &self.counts {
                c.store(0, Ordering::Relaxed);
            }
        }
    }

    fn add(&self, event: Event, n: u64, now: i64) {
        self.roll(now);
        self.counts[index(event)].fetch_add(n, Ordering::Relaxed);
    }

    fn today(&self, now: i64) -> Today {
        self.roll(now);
        let get = |e| self.counts[index(e)].load(Ordering::Relaxed);
        Today {
            received: get(Event::Received),
            delivered: get(Event::Delivered),
            refused: get(Event::Refused),
            junked: get(Event::Junked),
        }
    }
}

/// Counts `n` events now.
pub fn add(event: Event, n: u64) {
    COUNTERS.add(event, n, crate::time::unix_now());
}

/// Today's counts.
pub fn today() -> Today {
    COUNTERS.today(crate::time::unix_now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters() -> Counters {
        Counters {
            day: AtomicI64::new(0),
            counts: Default::default(),
        }
    }

    #[test]
    fn counts_start_again_at_midnight_utc() {
        let c = counters();
        let day = 20_000 * 86_400;
        c.add(Event::Received, 1, day + 10);
        c.add(Event::Delivered, 2, day + 11);
        c.add(Event::Junked, 1, day + 12);
        c.add(Event::Refused, 3, day + 86_399);
        assert_eq!(
            c.today(day + 86_399),
            Today {
                received: 1,
                delivered: 2,
                refused: 3,
                junked: 1
            }
        );
        assert_eq!(c.today(day + 86_400), Today::default());
        c.add(Event::Received, 1, day + 86_401);
        assert_eq!(c.today(day + 90_000).received, 1);
    }
}
