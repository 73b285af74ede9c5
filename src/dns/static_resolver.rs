//! A resolver with canned answers, for testing code that uses DNS (SPF,
//! DKIM, DMARC, MX routing) without a network.
//!
//! It behaves like a small authoritative zone seen through a recursive
//! resolver: a name with records of other types gives NODATA, a name never
//! declared gives NXDOMAIN, and CNAMEs are followed with the same code as
//! the real resolver ([`super::chase`]). Failures can be set per name and
//! type.
//!
//! ```
//! use facteur::dns::{DnsError, RecordData, RecordType, Resolver, StaticResolver};
//! let mut r = StaticResolver::new();
//! r.add("example.com", RecordData::Txt(vec![b"v=spf1 -all".to_vec()]))
//!     .fail("broken.example", RecordType::Txt, DnsError::Temporary("SERVFAIL".into()));
//! smol::block_on(async {
//!     assert_eq!(r.txt("example.com").await.unwrap(), [b"v=spf1 -all".to_vec()]);
//!     assert_eq!(r.txt("nowhere.example").await, Err(DnsError::NxDomain));
//!     assert!(matches!(r.txt("broken.example").await, Err(DnsError::Temporary(_))));
//! });
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use super::chase::{Chase, Step};
use super::message::{AnswerData, AnswerRecord, Rcode, Reply};
use super::{normalize_name, BoxFuture, DnsError, RecordData, RecordType, Resolver};

/// Queries remembered by [`StaticResolver::queries`]; later ones are only
/// counted. Keeps a long-running test from growing without bound.
const MAX_LOGGED_QUERIES: usize = 4096;

/// TTL of the canned answers (they are not cached, but the chase code
/// reads it).
const TTL: u32 = 300;

/// Canned DNS answers. See the module documentation.
#[derive(Debug, Default)]
pub struct StaticResolver {
    records: HashMap<String, Vec<AnswerData>>,
    /// Failures by name, for one type or (None) for all.
    failures: HashMap<(String, Option<RecordType>), DnsError>,
    /// Names that exist without records (NODATA for every type).
    existing: HashSet<String>,
    log: Mutex<Log>,
}

#[derive(Debug, Default)]
struct Log {
    queries: Vec<(String, RecordType)>,
    count: usize,
}

impl StaticResolver {
    /// A resolver where no name exists.
    pub fn new() -> StaticResolver {
        StaticResolver::default()
    }

    /// Adds a record at `name`.
    pub fn add(&mut self, name: &str, data: RecordData) -> &mut Self {
        self.records
            .entry(normalize_name(name))
            .or_default()
            .push(AnswerData::Record(data));
        self
    }

    /// Makes `name` an alias of `target` (RFC 1034 §3.6.2).
    pub fn cname(&mut self, name: &str, target: &str) -> &mut Self {
        self.records
            .entry(normalize_name(name))
            .or_default()
            .push(AnswerData::Cname(normalize_name(target)));
        self
    }

    /// Makes `name` exist without records: every type gives NODATA.
    pub fn nodata(&mut self, name: &str) -> &mut Self {
        self.existing.insert(normalize_name(name));
        self
    }

    /// Makes lookups of `rtype` at `name` fail with `error`. `NxDomain`
    /// makes that one type answer NXDOMAIN even where the name has records
    /// of other types.
    pub fn fail(&mut self, name: &str, rtype: RecordType, error: DnsError) -> &mut Self {
        self.failures
            .insert((normalize_name(name), Some(rtype)), error);
        self
    }

    /// Makes every lookup at `name` fail with `error`.
    pub fn fail_all(&mut self, name: &str, error: DnsError) -> &mut Self {
        self.failures.insert((normalize_name(name), None), error);
        self
    }

    /// The queries made so far (normal-form name and type), oldest first;
    /// at most the first 4096.
    pub fn queries(&self) -> Vec<(String, RecordType)> {
        self.lock().queries.clone()
    }

    /// How many queries were made.
    pub fn query_count(&self) -> usize {
        self.lock().count
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reply an authoritative server for every name would give, without
    /// following CNAMEs itself.
    fn reply(&self, name: &str, rtype: RecordType) -> Result<Reply, DnsError> {
        let failure = self
            .failures
            .get(&(name.to_string(), Some(rtype)))
            .or_else(|| self.failures.get(&(name.to_string(), None)));
        let negative = |rcode| Reply {
            rcode,
            truncated: false,
            edns: false,
            answers: Vec::new(),
            negative_ttl: Some(TTL),
        };
        match failure {
            Some(DnsError::NxDomain) => return Ok(negative(Rcode::NxDomain)),
            Some(e) => return Err(e.clone()),
            None => {}
        }
        let Some(data) = self.records.get(name) else {
            return Ok(negative(if self.existing.contains(name) {
                Rcode::NoError
            } else {
                Rcode::NxDomain
            }));
        };
        let record = |d: &AnswerData| AnswerRecord {
            owner: name.to_string(),
            ttl: TTL,
            data: d.clone(),
        };
        let wanted: Vec<AnswerRecord> = data
            .iter()
            .filter(|d| matches!(d, AnswerData::Record(r) if r.record_type() == rtype))
            .map(record)
            .collect();
        if !wanted.is_empty() {
            return Ok(Reply {
                answers: wanted,
                ..negative(Rcode::NoError)
            });
        }
        if let Some(alias) = data.iter().find(|d| matches!(d, AnswerData::Cname(_))) {
            // Only the alias, no SOA: the chase asks for the target.
            return Ok(Reply {
                answers: vec![record(alias)],
                negative_ttl: None,
                ..negative(Rcode::NoError)
            });
        }
        Ok(negative(Rcode::NoError))
    }

    fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<RecordData>, DnsError> {
        let name = normalize_name(name);
        {
            let mut log = self.lock();
            log.count += 1;
            if log.queries.len() < MAX_LOGGED_QUERIES {
                log.queries.push((name.clone(), rtype));
            }
        }
        let mut chase = Chase::new(&name, rtype);
        loop {
            let reply = self.reply(chase.name(), rtype)?;
            match chase.feed(&reply) {
                Step::Query(_) => continue,
                Step::Done(answer) => return answer.result,
            }
        }
    }
}

impl Resolver for StaticResolver {
    fn query<'a>(
        &'a self,
        name: &'a str,
        rtype: RecordType,
    ) -> BoxFuture<'a, Result<Vec<RecordData>, DnsError>> {
        let result = self.lookup(name, rtype);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(ip: &str) -> RecordData {
        RecordData::A(ip.parse().unwrap())
    }

    fn q(r: &StaticResolver, name: &str, t: RecordType) -> Result<Vec<RecordData>, DnsError> {
        smol::block_on(r.query(name, t))
    }

    #[test]
    fn records_nodata_and_nxdomain() {
        let mut r = StaticResolver::new();
        r.add("h.test", a("192.0.2.1"))
            .add("H.test.", a("192.0.2.2"))
            .nodata("empty.test");
        assert_eq!(
            q(&r, "h.TEST", RecordType::A),
            Ok(vec![a("192.0.2.1"), a("192.0.2.2")])
        );
        assert_eq!(q(&r, "h.test", RecordType::Mx), Ok(vec![]));
        assert_eq!(q(&r, "empty.test", RecordType::Txt), Ok(vec![]));
        assert_eq!(q(&r, "nope.test", RecordType::A), Err(DnsError::NxDomain));
    }

    #[test]
    fn failures_per_type_and_for_all() {
        let mut r = StaticResolver::new();
        r.add("h.test", a("192.0.2.1"))
            .fail(
                "h.test",
                RecordType::Txt,
                DnsError::Temporary("timeout".into()),
            )
            .fail_all("bad.test", DnsError::Malformed("junk".into()))
            .fail("h.test", RecordType::Mx, DnsError::NxDomain);
        assert_eq!(q(&r, "h.test", RecordType::A), Ok(vec![a("192.0.2.1")]));
        assert_eq!(
            q(&r, "h.test", RecordType::Txt),
            Err(DnsError::Temporary("timeout".into()))
        );
        assert_eq!(q(&r, "h.test", RecordType::Mx), Err(DnsError::NxDomain));
        assert_eq!(
            q(&r, "bad.test", RecordType::Ptr),
            Err(DnsError::Malformed("junk".into()))
        );
    }

    #[test]
    fn cnames_are_chased() {
        let mut r = StaticResolver::new();
        r.cname("www.test", "alias.test")
            .cname("alias.test", "host.test")
            .add("host.test", a("192.0.2.9"))
            .cname("dangling.test", "gone.test")
            .cname("l1.test", "l2.test")
            .cname("l2.test", "l1.test")
            .cname("tmp.test", "down.test")
            .fail("down.test", RecordType::A, DnsError::Temporary("x".into()));
        assert_eq!(q(&r, "www.test", RecordType::A), Ok(vec![a("192.0.2.9")]));
        assert_eq!(q(&r, "www.test", RecordType::Aaaa), Ok(vec![]));
        assert_eq!(
            q(&r, "dangling.test", RecordType::A),
            Err(DnsError::NxDomain)
        );
        assert!(matches!(
            q(&r, "l1.test", RecordType::A),
            Err(DnsError::Temporary(_))
        ));
        assert!(matches!(
            q(&r, "tmp.test", RecordType::A),
            Err(DnsError::Temporary(_))
        ));
    }

    #[test]
    fn queries_are_logged() {
        let r = StaticResolver::new();
        let _ = q(&r, "A.test", RecordType::Txt);
        let _ = q(&r, "b.test.", RecordType::Mx);
        assert_eq!(
            r.queries(),
            [
                ("a.test".to_string(), RecordType::Txt),
                ("b.test".to_string(), RecordType::Mx)
            ]
        );
        assert_eq!(r.query_count(), 2);
    }
}
