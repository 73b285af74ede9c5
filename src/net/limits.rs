//! Connection counting: per service and per client address (IPv6 per
//! /64).
//!
//! `limits.max_connections` is shared out among the services, so that
//! clients of one cannot take the slots of another: idle connections to
//! port 25 from many addresses leave submission, IMAP and POP3 served
//! (as Postfix's per-service process limits and Dovecot's per-service
//! client limits do).

use super::Service;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The services that share one pool of slots: a protocol's plain and
/// implicit-TLS ports count together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    Smtp,
    Submission,
    Imap,
    Pop3,
    Web,
}

impl Pool {
    const ALL: [Pool; 5] = [
        Pool::Smtp,
        Pool::Submission,
        Pool::Imap,
        Pool::Pop3,
        Pool::Web,
    ];

    fn of(service: Service) -> Pool {
        match service {
            Service::Smtp => Pool::Smtp,
            Service::Submission | Service::Submissions => Pool::Submission,
            Service::Imap | Service::Imaps => Pool::Imap,
            Service::Pop3 | Service::Pop3s => Pool::Pop3,
            Service::Web | Service::WebPlain => Pool::Web,
        }
    }

    /// Sixteenths of `max_connections` the pool gets: IMAP clients keep
    /// several connections open each, port 25 takes short sessions from
    /// strangers.
    fn sixteenths(self) -> u32 {
        match self {
            Pool::Smtp => 4,
            Pool::Submission => 2,
            Pool::Imap => 8,
            Pool::Pop3 | Pool::Web => 1,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counts open connections against the configured limits.
#[derive(Clone)]
pub struct ConnLimits {
    inner: Arc<Mutex<Counts>>,
    /// Slots of each pool, by [`Pool::index`].
    max_pool: [u32; 5],
    max_per_ip: u32,
}

struct Counts {
    pool: [u32; 5],
    per_ip: HashMap<IpAddr, u32>,
}

/// Held while a connection is open; releases its slot on drop.
pub struct ConnGuard {
    limits: ConnLimits,
    pool: Pool,
    key: IpAddr,
}

/// The key an address is counted under: IPv4 as is, IPv6 by its /64, as
/// one host usually owns a whole /64.
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl ConnLimits {
    /// Limits of `max_total` connections shared out among the services
    /// (each gets at least one), `max_per_ip` from one address.
    pub fn new(max_total: u32, max_per_ip: u32) -> ConnLimits {
        let share = |p: Pool| (u64::from(max_total) * u64::from(p.sixteenths()) / 16) as u32;
        let mut max_pool = Pool::ALL.map(|p| share(p).max(1));
        // What the division leaves over goes to IMAP, the largest share.
        let given: u32 = Pool::ALL.iter().map(|&p| share(p)).sum();
        if let Some(imap) = max_pool.get_mut(Pool::Imap.index()) {
            *imap = imap.saturating_add(max_total.saturating_sub(given));
        }
        ConnLimits {
            inner: Arc::new(Mutex::new(Counts {
                pool: [0; 5],
                per_ip: HashMap::new(),
            })),
            max_pool,
            max_per_ip,
        }
    }

    /// The same counts under new totals. Connections open under the old
    /// ones release their slots into these counts; while more are open
    /// than a smaller total allows, new ones wait for room.
    pub fn resized(&self, max_total: u32, max_per_ip: u32) -> ConnLimits {
        let fresh = ConnLimits::new(max_total, max_per_ip);
        ConnLimits {
            inner: self.inner.clone(),
            ..fresh
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a slot of `service`'s share for a connection from `ip`, or
    /// says why not.
    pub fn acquire(&self, service: Service, ip: IpAddr) -> Result<ConnGuard, &'static str> {
        let key = ip_key(ip);
        let pool = Pool::of(service);
        let max = self.max_pool.get(pool.index()).copied().unwrap_or(0);
        let mut c = self.counts();
        if c.pool.get(pool.index()).is_none_or(|&n| n >= max) {
            return Err("too many connections");
        }
        let n = c.per_ip.entry(key).or_insert(0);
        if *n >= self.max_per_ip {
            return Err("too many connections from your address");
        }
        *n += 1;
        if let Some(n) = c.pool.get_mut(pool.index()) {
            *n += 1;
        }
        Ok(ConnGuard {
            limits: self.clone(),
            pool,
            key,
        })
    }

    /// Open connections in total.
    pub fn open(&self) -> u32 {
        self.counts().pool.iter().sum()
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut c = self.limits.counts();
        if let Some(n) = c.pool.get_mut(self.pool.index()) {
            *n = n.saturating_sub(1);
        }
        if let Some(n) = c.per_ip.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAP: Service = Service::Imap;

    #[test]
    fn limits_total_and_per_address() {
        // 12 in total: IMAP's share is 6 + 2 left over by the division.
        let l = ConnLimits::new(12, 5);
        let ip = |i: u8| IpAddr::from([192, 0, 2, i]);
        let g1 = l.acquire(IMAP, ip(1)).unwrap();
        let mut held: Vec<_> = (0..4).map(|_| l.acquire(IMAP, ip(1)).unwrap()).collect();
        assert_eq!(
            l.acquire(IMAP, ip(1)).err(),
            Some("too many connections from your address")
        );
        held.extend((0..3).map(|_| l.acquire(Service::Imaps, ip(2)).unwrap()));
        assert_eq!(l.acquire(IMAP, ip(3)).err(), Some("too many connections"));
        drop(g1);
        let _g = l.acquire(IMAP, ip(1)).unwrap();
        assert_eq!(l.open(), 8);
    }

    /// Issue item: idle SMTP connections from many addresses locked
    /// every service out, as all shared one pool.
    #[test]
    fn one_service_cannot_take_the_slots_of_another() {
        let l = ConnLimits::new(256, 20);
        let mut smtp = Vec::new();
        for i in 0..=255u8 {
            match l.acquire(Service::Smtp, IpAddr::from([198, 51, 100, i])) {
                Ok(g) => smtp.push(g),
                Err(e) => assert_eq!(e, "too many connections"),
            }
        }
        assert_eq!(smtp.len(), 64);
        let other = IpAddr::from([203, 0, 113, 1]);
        for s in [
            Service::Submission,
            Service::Submissions,
            Service::Imap,
            Service::Imaps,
            Service::Pop3,
            Service::Pop3s,
            Service::Web,
        ] {
            assert!(l.acquire(s, other).is_ok(), "{s}");
        }
        // Each service gets a slot even from a tiny total.
        let l = ConnLimits::new(1, 1);
        assert!(l.acquire(Service::Web, other).is_ok());
        assert!(l
            .acquire(Service::Pop3, IpAddr::from([203, 0, 113, 2]))
            .is_ok());
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = ConnLimits::new(10, 1);
        let _g = l.acquire(IMAP, "2001:db8::1".parse().unwrap()).unwrap();
        assert!(l.acquire(IMAP, "2001:db8::2".parse().unwrap()).is_err());
        assert!(l.acquire(IMAP, "2001:db8:0:1::1".parse().unwrap()).is_ok());
    }
}
