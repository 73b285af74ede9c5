//! The answer cache.
//!
//! Keyed by (name, type), it holds final answers (after CNAME chasing):
//! records, NODATA and NXDOMAIN. Temporary failures and malformed answers
//! are never cached. Time is passed in as `now`, so that expiry is tested
//! without sleeping.
//!
//! - Positive answers live for the smallest TTL of the records and CNAMEs
//!   they came through (RFC 2181 §5.2), at most [`MAX_TTL`].
//! - Negative answers (NXDOMAIN and NODATA) live for min(SOA TTL, SOA
//!   MINIMUM) (RFC 2308 §5), at most [`MAX_NEGATIVE_TTL`]; without an SOA
//!   they are not cached.
//! - A TTL of 0 means "do not cache" (RFC 1035 §3.2.1).
//! - Memory: at most `capacity` entries, each at most [`MAX_ENTRY_BYTES`]
//!   (larger answers are not cached). When full, the least recently used
//!   entry is evicted (LRU); expired entries are dropped when looked up or
//!   when they reach the LRU end.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::chase::Answer;
use super::{DnsError, RecordData, RecordType};

/// Longest time a positive answer is kept: one day, so that a mistaken
/// huge TTL cannot pin stale data.
pub const MAX_TTL: u32 = 86_400;

/// Longest time a negative answer is kept: three hours (RFC 2308 §5: "one
/// to three hours have been found to work well").
pub const MAX_NEGATIVE_TTL: u32 = 3 * 3600;

/// Largest answer cached, by [`RecordData::size_estimate`]. Bounds the
/// cache at `capacity × 4 KiB` (4 MiB at the default 1024 entries); a
/// DKIM key or an SPF record is well under it.
pub const MAX_ENTRY_BYTES: usize = 4096;

type Key = (String, RecordType);

#[derive(Debug, Clone)]
enum Value {
    Records(Vec<RecordData>),
    NxDomain,
}

#[derive(Debug)]
struct Slot {
    value: Value,
    expires: Instant,
    /// Position in the LRU order.
    used: u64,
}

/// A bounded LRU cache of DNS answers.
#[derive(Debug)]
pub struct Cache {
    capacity: usize,
    map: HashMap<Key, Slot>,
    /// Use counter → key, oldest first.
    lru: BTreeMap<u64, Key>,
    tick: u64,
}

impl Cache {
    /// A cache of at most `capacity` entries; 0 disables caching.
    pub fn new(capacity: usize) -> Cache {
        Cache {
            capacity,
            map: HashMap::new(),
            lru: BTreeMap::new(),
            tick: 0,
        }
    }

    /// Entries held (some may have expired but not yet been dropped).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The cached answer for `name` (normal form) and `rtype`, if it has
    /// not expired at `now`. Marks it as recently used.
    pub fn get(
        &mut self,
        name: &str,
        rtype: RecordType,
        now: Instant,
    ) -> Option<Result<Vec<RecordData>, DnsError>> {
        let key = (name.to_string(), rtype);
        let slot = self.map.get_mut(&key)?;
        if now >= slot.expires {
            let used = slot.used;
            self.map.remove(&key);
            self.lru.remove(&used);
            return None;
        }
        self.tick += 1;
        self.lru.remove(&slot.used);
        slot.used = self.tick;
        self.lru.insert(self.tick, key);
        Some(match &slot.value {
            Value::Records(r) => Ok(r.clone()),
            Value::NxDomain => Err(DnsError::NxDomain),
        })
    }

    /// Stores the answer to `name` (normal form) and `rtype` at `now`, if
    /// it may be cached (see the module documentation).
    pub fn insert(&mut self, name: &str, rtype: RecordType, answer: &Answer, now: Instant) {
        let Some(ttl) = answer.ttl else { return };
        let (value, cap) = match &answer.result {
            Ok(records) if records.is_empty() => (Value::Records(Vec::new()), MAX_NEGATIVE_TTL),
            Ok(records) => {
                let size: usize = records.iter().map(RecordData::size_estimate).sum();
                if size > MAX_ENTRY_BYTES {
                    return;
                }
                (Value::Records(records.clone()), MAX_TTL)
            }
            Err(DnsError::NxDomain) => (Value::NxDomain, MAX_NEGATIVE_TTL),
            Err(_) => return,
        };
        let ttl = ttl.min(cap);
        if ttl == 0 || self.capacity == 0 {
            return;
        }
        let Some(expires) = now.checked_add(Duration::from_secs(u64::from(ttl))) else {
            return;
        };
        let key = (name.to_string(), rtype);
        if let Some(old) = self.map.remove(&key) {
            self.lru.remove(&old.used);
        }
        while self.map.len() >= self.capacity {
            let Some((_, oldest)) = self.lru.pop_first() else {
                break;
            };
            self.map.remove(&oldest);
        }
        self.tick += 1;
        self.lru.insert(self.tick, key.clone());
        self.map.insert(
            key,
            Slot {
                value,
                expires,
                used: self.tick,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(ip: &str) -> RecordData {
        RecordData::A(ip.parse().unwrap())
    }

    fn ans(result: Result<Vec<RecordData>, DnsError>, ttl: Option<u32>) -> Answer {
        Answer { result, ttl }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn positive_answer_expires_with_ttl() {
        let t0 = Instant::now();
        let mut c = Cache::new(10);
        c.insert(
            "h.test",
            RecordType::A,
            &ans(Ok(vec![a("192.0.2.1")]), Some(60)),
            t0,
        );
        assert_eq!(
            c.get("h.test", RecordType::A, t0),
            Some(Ok(vec![a("192.0.2.1")]))
        );
        assert_eq!(
            c.get("h.test", RecordType::A, t0 + 59 * S),
            Some(Ok(vec![a("192.0.2.1")]))
        );
        // Keyed by type too.
        assert_eq!(c.get("h.test", RecordType::Aaaa, t0), None);
        assert_eq!(c.get("other.test", RecordType::A, t0), None);
        assert_eq!(c.get("h.test", RecordType::A, t0 + 60 * S), None);
        assert!(c.is_empty(), "expired entry dropped on lookup");
    }

    #[test]
    fn ttls_are_capped_and_zero_is_not_cached() {
        let t0 = Instant::now();
        let mut c = Cache::new(10);
        c.insert(
            "big.test",
            RecordType::A,
            &ans(Ok(vec![a("192.0.2.1")]), Some(u32::MAX)),
            t0,
        );
        assert!(c
            .get("big.test", RecordType::A, t0 + (MAX_TTL - 1) * S)
            .is_some());
        assert!(c.get("big.test", RecordType::A, t0 + MAX_TTL * S).is_none());

        c.insert(
            "nx.test",
            RecordType::A,
            &ans(Err(DnsError::NxDomain), Some(1_000_000)),
            t0,
        );
        assert!(c
            .get("nx.test", RecordType::A, t0 + (MAX_NEGATIVE_TTL - 1) * S)
            .is_some());
        assert!(c
            .get("nx.test", RecordType::A, t0 + MAX_NEGATIVE_TTL * S)
            .is_none());

        c.insert(
            "zero.test",
            RecordType::A,
            &ans(Ok(vec![a("192.0.2.1")]), Some(0)),
            t0,
        );
        c.insert(
            "none.test",
            RecordType::A,
            &ans(Ok(vec![a("192.0.2.1")]), None),
            t0,
        );
        assert!(c.is_empty());
    }

    #[test]
    fn negative_caching() {
        let t0 = Instant::now();
        let mut c = Cache::new(10);
        c.insert(
            "nx.test",
            RecordType::Mx,
            &ans(Err(DnsError::NxDomain), Some(30)),
            t0,
        );
        c.insert(
            "nodata.test",
            RecordType::Mx,
            &ans(Ok(vec![]), Some(30)),
            t0,
        );
        assert_eq!(
            c.get("nx.test", RecordType::Mx, t0 + 29 * S),
            Some(Err(DnsError::NxDomain))
        );
        assert_eq!(
            c.get("nodata.test", RecordType::Mx, t0 + 29 * S),
            Some(Ok(vec![]))
        );
        assert_eq!(c.get("nx.test", RecordType::Mx, t0 + 30 * S), None);
        assert_eq!(c.get("nodata.test", RecordType::Mx, t0 + 30 * S), None);
    }

    #[test]
    fn failures_are_never_cached() {
        let t0 = Instant::now();
        let mut c = Cache::new(10);
        c.insert(
            "t.test",
            RecordType::A,
            &ans(Err(DnsError::Temporary("x".into())), Some(300)),
            t0,
        );
        c.insert(
            "m.test",
            RecordType::A,
            &ans(Err(DnsError::Malformed("x".into())), Some(300)),
            t0,
        );
        assert!(c.is_empty());
    }

    #[test]
    fn bounded_with_lru_eviction() {
        let t0 = Instant::now();
        let mut c = Cache::new(3);
        for n in ["a", "b", "c"] {
            c.insert(
                n,
                RecordType::A,
                &ans(Ok(vec![a("192.0.2.1")]), Some(300)),
                t0,
            );
        }
        // Using "a" makes "b" the least recently used.
        assert!(c.get("a", RecordType::A, t0).is_some());
        c.insert(
            "d",
            RecordType::A,
            &ans(Ok(vec![a("192.0.2.4")]), Some(300)),
            t0,
        );
        assert_eq!(c.len(), 3);
        assert!(c.get("b", RecordType::A, t0).is_none());
        for n in ["a", "c", "d"] {
            assert!(c.get(n, RecordType::A, t0).is_some(), "{n}");
        }
        // Replacing an entry does not evict another.
        c.insert(
            "a",
            RecordType::A,
            &ans(Ok(vec![a("192.0.2.9")]), Some(300)),
            t0,
        );
        assert_eq!(c.len(), 3);
        assert_eq!(
            c.get("a", RecordType::A, t0),
            Some(Ok(vec![a("192.0.2.9")]))
        );
        // Many inserts stay within the bound.
        for i in 0..100 {
            c.insert(
                &format!("n{i}"),
                RecordType::Txt,
                &ans(Ok(vec![]), Some(300)),
                t0,
            );
            assert!(c.len() <= 3);
            assert_eq!(c.lru.len(), c.map.len());
        }
    }

    #[test]
    fn capacity_zero_disables() {
        let t0 = Instant::now();
        let mut c = Cache::new(0);
        c.insert(
            "a",
            RecordType::A,
            &ans(Ok(vec![a("192.0.2.1")]), Some(300)),
            t0,
        );
        assert!(c.get("a", RecordType::A, t0).is_none());
    }

    #[test]
    fn oversized_answers_are_not_cached() {
        let t0 = Instant::now();
        let mut c = Cache::new(10);
        let big = RecordData::Txt(vec![vec![b'x'; 255]; 20]);
        c.insert(
            "big.test",
            RecordType::Txt,
            &ans(Ok(vec![big]), Some(300)),
            t0,
        );
        assert!(c.is_empty());
        let small = RecordData::Txt(vec![vec![b'x'; 255]; 4]);
        c.insert(
            "ok.test",
            RecordType::Txt,
            &ans(Ok(vec![small]), Some(300)),
            t0,
        );
        assert_eq!(c.len(), 1);
    }
}
