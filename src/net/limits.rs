//! Connection counting: in total and per client address (IPv6 per /64).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open connections against the configured limits.
#[derive(Clone)]
pub struct ConnLimits {
    inner: Arc<Mutex<Counts>>,
    max_total: u32,
    max_per_ip: u32,
}

struct Counts {
    total: u32,
    per_ip: HashMap<IpAddr, u32>,
}

/// Held while a connection is open; releases its slot on drop.
pub struct ConnGuard {
    limits: ConnLimits,
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
    /// Limits of `max_total` connections, `max_per_ip` from one address.
    pub fn new(max_total: u32, max_per_ip: u32) -> ConnLimits {
        ConnLimits {
            inner: Arc::new(Mutex::new(Counts {
                total: 0,
                per_ip: HashMap::new(),
            })),
            max_total,
            max_per_ip,
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a slot for a connection from `ip`, or says why not.
    pub fn acquire(&self, ip: IpAddr) -> Result<ConnGuard, &'static str> {
        let key = ip_key(ip);
        let mut c = self.counts();
        if c.total >= self.max_total {
            return Err("too many connections");
        }
        let n = c.per_ip.entry(key).or_insert(0);
        if *n >= self.max_per_ip {
            return Err("too many connections from your address");
        }
        *n += 1;
        c.total += 1;
        Ok(ConnGuard {
            limits: self.clone(),
            key,
        })
    }

    /// Open connections in total.
    pub fn open(&self) -> u32 {
        self.counts().total
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut c = self.limits.counts();
        c.total = c.total.saturating_sub(1);
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

    #[test]
    fn limits_total_and_per_address() {
        let l = ConnLimits::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let g1 = l.acquire(a).unwrap();
        let _g2 = l.acquire(a).unwrap();
        assert_eq!(
            l.acquire(a).err(),
            Some("too many connections from your address")
        );
        let _g3 = l.acquire(b).unwrap();
        assert_eq!(l.acquire(b).err(), Some("too many connections"));
        drop(g1);
        let _g4 = l.acquire(a).unwrap();
        assert_eq!(l.open(), 3);
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = ConnLimits::new(10, 1);
        let _g = l.acquire("2001:db8::1".parse().unwrap()).unwrap();
        assert!(l.acquire("2001:db8::2".parse().unwrap()).is_err());
        assert!(l.acquire("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }
}
