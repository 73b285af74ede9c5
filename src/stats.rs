//! Mail counters: a few atomics, bumped where mail is accepted,
//! delivered, refused or filed in Junk, sent out, logged in to. Two views:
//! today's counts for the dashboard ("today" is the UTC day: they start
//! again from zero at midnight UTC), and totals since the start for
//! `/metrics`. Neither is kept across restarts. Connections open per
//! service are counted here too.
//!
//! The network code calls in here, never the other way round: services
//! are named by their config names ([`SERVICES`]).

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
    /// Accepted by a remote server for one recipient (the queue).
    SentOut,
    /// A remote delivery to one recipient failed for now; retried later.
    Deferred,
    /// A remote delivery to one recipient failed for good (a bounce).
    Bounced,
}

/// Events counted since the start.
const EVENTS: usize = 7;

/// Why a message or a recipient was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// At connect (a DNS list, the client's address).
    Connect,
    /// At MAIL FROM (the sender).
    Sender,
    /// At RCPT TO (unknown user, relaying denied, rate).
    Recipient,
    /// At the end of DATA for good: spam, a failed policy check.
    Content,
    /// At the end of DATA for now: greylisting, a DNS failure.
    Temporary,
}

impl Refusal {
    /// Every reason, in label order.
    pub const ALL: [Refusal; 5] = [
        Refusal::Connect,
        Refusal::Sender,
        Refusal::Recipient,
        Refusal::Content,
        Refusal::Temporary,
    ];

    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Connect => "connect",
            Refusal::Sender => "sender",
            Refusal::Recipient => "recipient",
            Refusal::Content => "content",
            Refusal::Temporary => "temporary",
        }
    }
}

/// The services counted, by their config names (`listen.NAME`).
pub const SERVICES: [&str; 9] = [
    "smtp",
    "submission",
    "submissions",
    "pop3",
    "pop3s",
    "imap",
    "imaps",
    "web",
    "web_plain",
];

/// Counts since the start of the process.
struct Totals {
    events: [AtomicU64; EVENTS],
    refused: [AtomicU64; Refusal::ALL.len()],
    logins: [AtomicU64; SERVICES.len()],
    failed_logins: [AtomicU64; SERVICES.len()],
    connections: [AtomicU64; SERVICES.len()],
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);

static TOTALS: Totals = Totals {
    events: [ZERO; EVENTS],
    refused: [ZERO; Refusal::ALL.len()],
    logins: [ZERO; SERVICES.len()],
    failed_logins: [ZERO; SERVICES.len()],
    connections: [ZERO; SERVICES.len()],
};

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

/// The event's place among the totals; the first four are also counted
/// by day.
fn index(event: Event) -> usize {
    match event {
        Event::Received => 0,
        Event::Delivered => 1,
        Event::Refused => 2,
        Event::Junked => 3,
        Event::SentOut => 4,
        Event::Deferred => 5,
        Event::Bounced => 6,
    }
}

/// The place of service `name` in [`SERVICES`].
fn service_index(name: &str) -> Option<usize> {
    SERVICES.iter().position(|s| *s == name)
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
        if let Some(c) = self.counts.get(index(event)) {
            self.roll(now);
            c.fetch_add(n, Ordering::Relaxed);
        }
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
    TOTALS.events[index(event)].fetch_add(n, Ordering::Relaxed);
    COUNTERS.add(event, n, crate::time::unix_now());
}

/// Counts a refusal. One at the end of DATA is also a refused message
/// ([`Event::Refused`]).
pub fn refused(reason: Refusal) {
    TOTALS.refused[reason as usize].fetch_add(1, Ordering::Relaxed);
    if matches!(reason, Refusal::Content | Refusal::Temporary) {
        add(Event::Refused, 1);
    }
}

/// Counts a login to `service` (a name of [`SERVICES`]), good or failed.
pub fn login(service: &str, ok: bool) {
    if let Some(i) = service_index(service) {
        let c = if ok {
            &TOTALS.logins
        } else {
            &TOTALS.failed_logins
        };
        c[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a connection to `service` as open while the guard lives.
pub fn connection(service: &str) -> Option<Connection> {
    let i = service_index(service)?;
    TOTALS.connections[i].fetch_add(1, Ordering::Relaxed);
    Some(Connection(i))
}

/// An open connection, counted until dropped.
#[derive(Debug)]
pub struct Connection(usize);

impl Drop for Connection {
    fn drop(&mut self) {
        TOTALS.connections[self.0].fetch_sub(1, Ordering::Relaxed);
    }
}

/// How many `event`s since the start.
pub fn total(event: Event) -> u64 {
    TOTALS.events[index(event)].load(Ordering::Relaxed)
}

/// How many refusals for `reason` since the start.
pub fn refused_total(reason: Refusal) -> u64 {
    TOTALS.refused[reason as usize].load(Ordering::Relaxed)
}

/// Logins to `service` since the start: good ones and failed ones.
pub fn logins(service: &str) -> (u64, u64) {
    service_index(service).map_or((0, 0), |i| {
        (
            TOTALS.logins[i].load(Ordering::Relaxed),
            TOTALS.failed_logins[i].load(Ordering::Relaxed),
        )
    })
}

/// Connections to `service` open now.
pub fn connections(service: &str) -> u64 {
    service_index(service).map_or(0, |i| TOTALS.connections[i].load(Ordering::Relaxed))
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
        c.add(Event::Bounced, 1, day + 90_001);
        assert_eq!(c.today(day + 90_002).received, 1, "not a daily count");
    }

    #[test]
    fn totals_count_by_reason_and_service() {
        // The totals are the process's: compare before and after.
        let (ok, failed) = logins("pop3s");
        let refusals = refused_total(Refusal::Recipient);
        let messages = total(Event::Refused);
        let bounced = total(Event::Bounced);
        login("pop3s", false);
        login("pop3s", true);
        login("pop3s", false);
        login("no such service", false);
        refused(Refusal::Recipient);
        add(Event::Bounced, 2);
        assert_eq!(logins("pop3s"), (ok + 1, failed + 2));
        assert_eq!(refused_total(Refusal::Recipient), refusals + 1);
        assert_eq!(total(Event::Refused), messages, "not a refused message");
        assert_eq!(total(Event::Bounced), bounced + 2);
        let open = connections("submissions");
        let c = connection("submissions");
        assert_eq!(connections("submissions"), open + 1);
        drop(c);
        assert_eq!(connections("submissions"), open);
        assert!(connection("nothing").is_none());
    }
}
