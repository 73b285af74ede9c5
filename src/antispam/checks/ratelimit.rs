//! Rate limits per client address (IPv6 grouped by /64, as one host
//! usually has a whole /64): connections per minute, messages per hour,
//! and refused recipients per window (directory harvesting).
//!
//! | stage          | over the limit                                    |
//! |----------------|---------------------------------------------------|
//! | connect        | `421 4.7.0` instead of the greeting (RFC 5321 §3.8) |
//! | MAIL FROM      | `450 4.7.1`: the message is tried again later      |
//! | refused RCPT   | `421 4.7.1`: the session ends                      |
//!
//! Counts are kept in fixed windows that start at a client's first event
//! (a client can get up to twice a limit across a window's end; the
//! limits are generous enough for that not to matter). The table is in
//! memory and bounded: at most [`RateLimits::max_clients`] addresses, the
//! least recently seen going first. Loopback clients (webmail, local
//! scripts) are exempt unless configured otherwise.

use crate::antispam::{Check, Context, Reject, Verdict};
use crate::dns::BoxFuture;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};

/// Default [`RateLimits::max_clients`]: an entry is about 100 bytes, so
/// the table stays under half a megabyte.
pub const MAX_CLIENTS: usize = 4096;

/// The limits; 0 switches one off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// New connections per client per minute.
    pub connections_per_minute: u32,
    /// Messages (MAIL FROM) per client per hour.
    pub messages_per_hour: u32,
    /// Refused recipients per client per `failed_rcpts_window`.
    pub failed_rcpts: u32,
    /// The window of `failed_rcpts`, in seconds.
    pub failed_rcpts_window: u64,
    /// Apply the limits to loopback clients too.
    pub loopback: bool,
    /// Most client addresses tracked.
    pub max_clients: usize,
}

impl RateLimits {
    /// The limits of the `[antispam]` section.
    pub fn from_config(a: &crate::config::Antispam) -> RateLimits {
        RateLimits {
            connections_per_minute: a.max_connections_per_minute,
            messages_per_hour: a.max_messages_per_hour,
            failed_rcpts: a.max_failed_rcpts,
            failed_rcpts_window: a.failed_rcpts_window.0.as_secs().max(1),
            loopback: a.rate_limit_loopback,
            max_clients: MAX_CLIENTS,
        }
    }
}

/// Events counted in a window that starts at the first of them.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    start: u64,
    count: u32,
}

impl Window {
    /// Counts one event at `now` in a window of `len` seconds; returns
    /// the count so far in the current window.
    fn hit(&mut self, now: u64, len: u64) -> u32 {
        if self.count == 0 || now >= self.start.saturating_add(len) || now < self.start {
            self.start = now;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        self.count
    }
}

#[derive(Debug, Clone, Default)]
struct Client {
    connections: Window,
    messages: Window,
    failed_rcpts: Window,
    last_seen: u64,
}

/// The rate limit check. Methods take `&self`; the table is behind a
/// mutex held only for a few map operations.
#[derive(Debug)]
pub struct RateLimit {
    limits: RateLimits,
    clients: Mutex<HashMap<IpAddr, Client>>,
}

/// Which counter an event goes to.
#[derive(Debug, Clone, Copy)]
enum Event {
    Connection,
    Message,
    FailedRcpt,
}

/// The key of a client: its IPv4 address, or its IPv6 /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

impl RateLimit {
    /// A check enforcing `limits`.
    pub fn new(limits: RateLimits) -> RateLimit {
        RateLimit {
            limits,
            clients: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Client>> {
        // A panic while holding the lock leaves plain counters: usable.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many client addresses are tracked.
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    /// Counts an event of the client of `cx`; true when it is over the
    /// limit.
    fn over(&self, cx: &Context, event: Event) -> bool {
        let (limit, window) = match event {
            Event::Connection => (self.limits.connections_per_minute, 60),
            Event::Message => (self.limits.messages_per_hour, 3600),
            Event::FailedRcpt => (self.limits.failed_rcpts, self.limits.failed_rcpts_window),
        };
        if limit == 0 || (cx.peer.to_canonical().is_loopback() && !self.limits.loopback) {
            return false;
        }
        let key = client_key(cx.peer);
        let now = cx.now;
        let mut clients = self.lock();
        if !clients.contains_key(&key) && clients.len() >= self.limits.max_clients.max(1) {
            self.make_room(&mut clients, now);
        }
        let client = clients.entry(key).or_default();
        client.last_seen = now;
        let w = match event {
            Event::Connection => &mut client.connections,
            Event::Message => &mut client.messages,
            Event::FailedRcpt => &mut client.failed_rcpts,
        };
        w.hit(now, window) > limit
    }

    /// Frees at least one slot: first every client whose windows have all
    /// ended, else the least recently seen one.
    fn make_room(&self, clients: &mut HashMap<IpAddr, Client>, now: u64) {
        let longest = self.limits.failed_rcpts_window.max(3600);
        clients.retain(|_, c| now < c.last_seen.saturating_add(longest));
        if clients.len() >= self.limits.max_clients.max(1) {
            let oldest = clients
                .iter()
                .min_by_key(|(_, c)| c.last_seen)
                .map(|(k, _)| *k);
            if let Some(k) = oldest {
                clients.remove(&k);
            }
        }
    }
}

impl Check for RateLimit {
    fn name(&self) -> &'static str {
        "ratelimit"
    }

    fn for_trusted(&self) -> bool {
        false
    }

    fn connect<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
        let mut out = Vec::new();
        if self.over(cx, Event::Connection) {
            // RFC 5321 §3.8: a server may answer the connection with 421
            // and close it.
            out.push(Verdict::reject(
                "RATELIMIT_CONNECTIONS",
                Reject::new(
                    421,
                    "4.7.0",
                    format!(
                        "Too many connections from {}, try again later",
                        cx.peer.to_canonical()
                    ),
                ),
            ));
        }
        Box::pin(std::future::ready(out))
    }

    fn mail_from<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Vec<Verdict>> {
        let mut out = Vec::new();
        if self.over(cx, Event::Message) {
            // RFC 3463 §3.8: X.7.1 "delivery not authorized"; 450 makes
            // the client queue the message and retry.
            out.push(Verdict::reject(
                "RATELIMIT_MESSAGES",
                Reject::new(
                    450,
                    "4.7.1",
                    format!(
                        "Too many messages from {}, try again later",
                        cx.peer.to_canonical()
                    ),
                ),
            ));
        }
        Box::pin(std::future::ready(out))
    }

    fn rcpt_refused(&self, cx: &Context) -> Option<Reject> {
        self.over(cx, Event::FailedRcpt).then(|| {
            Reject::new(
                421,
                "4.7.1",
                "Too many unknown recipients, closing the connection",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::StaticResolver;
    use std::sync::Arc;

    fn limits() -> RateLimits {
        RateLimits {
            connections_per_minute: 3,
            messages_per_hour: 2,
            failed_rcpts: 2,
            failed_rcpts_window: 600,
            loopback: false,
            max_clients: 100,
        }
    }

    fn cx(peer: &str, now: u64) -> Context {
        Context::new(
            peer.parse().unwrap(),
            "mx",
            vec![],
            Arc::new(StaticResolver::new()),
            now,
        )
    }

    fn connect(r: &RateLimit, peer: &str, now: u64) -> Option<Reject> {
        smol::block_on(r.connect(&cx(peer, now)))
            .into_iter()
            .find_map(|v| v.reject)
    }

    fn mail(r: &RateLimit, peer: &str, now: u64) -> Option<Reject> {
        smol::block_on(r.mail_from(&cx(peer, now)))
            .into_iter()
            .find_map(|v| v.reject)
    }

    #[test]
    fn connections_per_minute() {
        let r = RateLimit::new(limits());
        for i in 0..3 {
            assert_eq!(connect(&r, "198.51.100.7", 1000 + i), None);
        }
        let refused = connect(&r, "198.51.100.7", 1010).unwrap();
        assert_eq!((refused.code, refused.status), (421, "4.7.0"));
        // Another client is not affected.
        assert_eq!(connect(&r, "198.51.100.8", 1010), None);
        // A minute after the window started, the count starts again.
        assert_eq!(connect(&r, "198.51.100.7", 1059), Some(refused.clone()));
        assert_eq!(connect(&r, "198.51.100.7", 1060), None);
    }

    #[test]
    fn messages_per_hour() {
        let r = RateLimit::new(limits());
        assert_eq!(mail(&r, "198.51.100.7", 0), None);
        assert_eq!(mail(&r, "198.51.100.7", 100), None);
        let refused = mail(&r, "198.51.100.7", 200).unwrap();
        assert_eq!((refused.code, refused.status), (450, "4.7.1"));
        assert!(refused.is_temporary());
        assert!(mail(&r, "198.51.100.7", 3599).is_some());
        assert_eq!(mail(&r, "198.51.100.7", 3600), None);
    }

    #[test]
    fn failed_recipients_end_the_session() {
        let r = RateLimit::new(limits());
        let c = cx("198.51.100.7", 0);
        assert_eq!(r.rcpt_refused(&c), None);
        assert_eq!(r.rcpt_refused(&c), None);
        let refused = r.rcpt_refused(&c).unwrap();
        assert_eq!((refused.code, refused.status), (421, "4.7.1"));
        // The count is per client, across connections, within the window.
        assert!(r.rcpt_refused(&cx("198.51.100.7", 599)).is_some());
        assert_eq!(r.rcpt_refused(&cx("198.51.100.7", 600)), None);
    }

    #[test]
    fn ipv6_clients_are_grouped_by_64() {
        let r = RateLimit::new(limits());
        for (i, peer) in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"]
            .iter()
            .enumerate()
        {
            assert_eq!(connect(&r, peer, i as u64), None);
        }
        assert!(connect(&r, "2001:db8:1:2:abcd::9", 5).is_some());
        assert_eq!(connect(&r, "2001:db8:1:3::1", 5), None);
        // IPv4-mapped addresses count as the IPv4 client.
        let r = RateLimit::new(limits());
        for _ in 0..3 {
            assert_eq!(connect(&r, "::ffff:198.51.100.7", 0), None);
        }
        assert!(connect(&r, "198.51.100.7", 0).is_some());
    }

    #[test]
    fn loopback_exempt_unless_configured() {
        let r = RateLimit::new(limits());
        for _ in 0..10 {
            assert_eq!(connect(&r, "127.0.0.1", 0), None);
            assert_eq!(connect(&r, "::1", 0), None);
        }
        assert_eq!(r.tracked(), 0);
        let r = RateLimit::new(RateLimits {
            loopback: true,
            ..limits()
        });
        for _ in 0..3 {
            assert_eq!(connect(&r, "127.0.0.1", 0), None);
        }
        assert!(connect(&r, "127.0.0.1", 0).is_some());
    }

    #[test]
    fn zero_switches_a_limit_off() {
        let r = RateLimit::new(RateLimits {
            connections_per_minute: 0,
            messages_per_hour: 0,
            failed_rcpts: 0,
            ..limits()
        });
        for _ in 0..100 {
            assert_eq!(connect(&r, "198.51.100.7", 0), None);
            assert_eq!(mail(&r, "198.51.100.7", 0), None);
            assert_eq!(r.rcpt_refused(&cx("198.51.100.7", 0)), None);
        }
    }

    #[test]
    fn table_is_bounded_and_drops_the_least_recent() {
        let r = RateLimit::new(RateLimits {
            max_clients: 10,
            ..limits()
        });
        // A busy client seen recently...
        for _ in 0..3 {
            assert_eq!(connect(&r, "198.51.100.7", 10), None);
        }
        // ...among many others, all within the hour.
        for i in 0..50u64 {
            let _ = connect(&r, &format!("192.0.2.{i}"), 11 + i);
            assert!(r.tracked() <= 10);
        }
        // The busy client was the least recently seen, so it was dropped.
        assert_eq!(connect(&r, "198.51.100.7", 70), None);
        // An hour later, stale clients go all at once.
        let _ = connect(&r, "203.0.113.1", 10_000);
        assert_eq!(r.tracked(), 1);
    }

    #[test]
    fn clock_going_backwards_does_not_lock_out() {
        let r = RateLimit::new(limits());
        for _ in 0..4 {
            let _ = connect(&r, "198.51.100.7", 5000);
        }
        assert!(connect(&r, "198.51.100.7", 5001).is_some());
        assert_eq!(connect(&r, "198.51.100.7", 100), None);
    }

    #[test]
    fn from_config_defaults() {
        let l = RateLimits::from_config(&crate::config::Antispam::default());
        assert_eq!(l.connections_per_minute, 30);
        assert_eq!(l.messages_per_hour, 120);
        assert_eq!(l.failed_rcpts, 10);
        assert_eq!(l.failed_rcpts_window, 3600);
        assert!(!l.loopback);
        assert_eq!(l.max_clients, MAX_CLIENTS);
    }
}
