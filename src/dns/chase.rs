//! Following CNAME chains (RFC 1034 §3.6.2, RFC 2181 §10.1).
//!
//! A [`Chase`] is fed the replies to the queries it asks for and says what
//! to ask next or what the final answer is. It follows the chain through
//! each reply's answer section; when a reply ends the chain on a name with
//! neither the data nor a negative answer for it (an authoritative server
//! whose zone does not hold the target), the target is asked next. Chains
//! longer than [`MAX_CNAME_CHAIN`] and loops are temporary failures, as a
//! recursive resolver reports them (SERVFAIL).

use super::message::{AnswerData, Rcode, Reply};
use super::{DnsError, RecordData, RecordType};

/// Most CNAMEs followed for one lookup, across all replies.
pub const MAX_CNAME_CHAIN: usize = 8;

/// The outcome of a lookup, with how long it may be cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The records, NODATA (`Ok(vec![])`), or the error.
    pub result: Result<Vec<RecordData>, DnsError>,
    /// Seconds this answer may be cached: the smallest TTL of the records
    /// and CNAMEs it came through, or the negative TTL (RFC 2308 §5).
    /// `None`: do not cache.
    pub ttl: Option<u32>,
}

impl Answer {
    /// An answer that must not be cached.
    pub fn uncached(result: Result<Vec<RecordData>, DnsError>) -> Answer {
        Answer { result, ttl: None }
    }
}

/// What to do after a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Ask this name (same type) next.
    Query(String),
    /// The lookup is over.
    Done(Answer),
}

/// One lookup in progress.
#[derive(Debug, Clone)]
pub struct Chase {
    rtype: RecordType,
    /// The name to ask next.
    current: String,
    /// Every name of the chain so far, to detect loops.
    seen: Vec<String>,
    /// Smallest TTL of the CNAMEs followed so far.
    ttl: u32,
}

impl Chase {
    /// Starts a lookup of `rtype` at `name` (in normal form, see
    /// [`super::normalize_name`]).
    pub fn new(name: &str, rtype: RecordType) -> Chase {
        Chase {
            rtype,
            current: name.to_string(),
            seen: vec![name.to_string()],
            ttl: u32::MAX,
        }
    }

    /// The name to ask now.
    pub fn name(&self) -> &str {
        &self.current
    }

    /// Takes the reply to the query for [`Chase::name`]. Replies with a
    /// response code other than NOERROR and NXDOMAIN are the transport's to
    /// handle (another server); given here they end the lookup as temporary
    /// failures.
    pub fn feed(&mut self, reply: &Reply) -> Step {
        match reply.rcode {
            Rcode::NoError | Rcode::NxDomain => {}
            other => {
                return Step::Done(Answer::uncached(Err(DnsError::Temporary(format!(
                    "server answered {other:?}"
                )))))
            }
        }
        let asked = self.current.clone();
        loop {
            let data: Vec<(u32, RecordData)> = reply
                .answers
                .iter()
                .filter(|a| a.owner == self.current)
                .filter_map(|a| match &a.data {
                    AnswerData::Record(r) if r.record_type() == self.rtype => {
                        Some((a.ttl, r.clone()))
                    }
                    _ => None,
                })
                .collect();
            if !data.is_empty() {
                // RFC 2181 §5.2: the TTLs of an RRset should be equal; use
                // the smallest if they are not.
                let ttl = data.iter().map(|(t, _)| *t).fold(self.ttl, u32::min);
                let records = data.into_iter().map(|(_, r)| r).collect();
                return Step::Done(Answer {
                    result: Ok(records),
                    ttl: Some(ttl),
                });
            }
            let cname = reply.answers.iter().find_map(|a| match &a.data {
                AnswerData::Cname(target) if a.owner == self.current => Some((a.ttl, target)),
                _ => None,
            });
            if let Some((ttl, target)) = cname {
                if self.seen.iter().any(|n| n == target) {
                    return Step::Done(Answer::uncached(Err(DnsError::Temporary(format!(
                        "CNAME loop at {target}"
                    )))));
                }
                if self.seen.len() > MAX_CNAME_CHAIN {
                    return Step::Done(Answer::uncached(Err(DnsError::Temporary(format!(
                        "CNAME chain from {} longer than {MAX_CNAME_CHAIN}",
                        self.seen.first().map_or("", |s| s.as_str())
                    )))));
                }
                self.ttl = self.ttl.min(ttl);
                self.current = target.clone();
                self.seen.push(target.clone());
                continue;
            }
            // Neither data nor an alias at the end of the chain.
            let negative_ttl = reply.negative_ttl.map(|t| t.min(self.ttl));
            return match (reply.rcode, reply.negative_ttl) {
                // RFC 6604 §3: the code is that of the last name of the
                // chain.
                (Rcode::NxDomain, _) => Step::Done(Answer {
                    result: Err(DnsError::NxDomain),
                    ttl: negative_ttl,
                }),
                // NODATA, with an SOA saying for how long (RFC 2308 §2.2).
                (_, Some(_)) => Step::Done(Answer {
                    result: Ok(Vec::new()),
                    ttl: negative_ttl,
                }),
                // The chain left the server's data: ask for the target.
                (_, None) if self.current != asked => Step::Query(self.current.clone()),
                // An empty answer without SOA: NODATA, not to be cached
                // (RFC 2308 §5).
                (_, None) => Step::Done(Answer::uncached(Ok(Vec::new()))),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::message::AnswerRecord;

    fn rec(owner: &str, ttl: u32, data: AnswerData) -> AnswerRecord {
        AnswerRecord {
            owner: owner.into(),
            ttl,
            data,
        }
    }

    fn cname(owner: &str, ttl: u32, target: &str) -> AnswerRecord {
        rec(owner, ttl, AnswerData::Cname(target.into()))
    }

    fn a(owner: &str, ttl: u32, ip: &str) -> AnswerRecord {
        rec(
            owner,
            ttl,
            AnswerData::Record(RecordData::A(ip.parse().unwrap())),
        )
    }

    fn reply(rcode: Rcode, answers: Vec<AnswerRecord>, negative_ttl: Option<u32>) -> Reply {
        Reply {
            rcode,
            truncated: false,
            edns: true,
            answers,
            negative_ttl,
        }
    }

    fn ips(v: &[&str]) -> Vec<RecordData> {
        v.iter()
            .map(|s| RecordData::A(s.parse().unwrap()))
            .collect()
    }

    #[test]
    fn direct_answer() {
        let mut c = Chase::new("h.test", RecordType::A);
        assert_eq!(c.name(), "h.test");
        let r = reply(
            Rcode::NoError,
            vec![
                a("h.test", 300, "192.0.2.1"),
                a("h.test", 200, "192.0.2.2"),
                a("other.test", 5, "192.0.2.3"),
            ],
            None,
        );
        assert_eq!(
            c.feed(&r),
            Step::Done(Answer {
                result: Ok(ips(&["192.0.2.1", "192.0.2.2"])),
                ttl: Some(200)
            })
        );
    }

    #[test]
    fn whole_chain_in_one_reply_in_any_order() {
        let mut c = Chase::new("www.test", RecordType::A);
        let r = reply(
            Rcode::NoError,
            vec![
                a("host.test", 300, "192.0.2.9"),
                cname("alias.test", 100, "host.test"),
                cname("www.test", 3600, "alias.test"),
            ],
            None,
        );
        assert_eq!(
            c.feed(&r),
            Step::Done(Answer {
                result: Ok(ips(&["192.0.2.9"])),
                ttl: Some(100)
            })
        );
    }

    #[test]
    fn chain_continued_by_asking_the_target() {
        let mut c = Chase::new("www.test", RecordType::A);
        let r = reply(
            Rcode::NoError,
            vec![cname("www.test", 50, "cdn.other")],
            None,
        );
        assert_eq!(c.feed(&r), Step::Query("cdn.other".into()));
        assert_eq!(c.name(), "cdn.other");
        let r = reply(Rcode::NoError, vec![a("cdn.other", 300, "192.0.2.7")], None);
        assert_eq!(
            c.feed(&r),
            Step::Done(Answer {
                result: Ok(ips(&["192.0.2.7"])),
                ttl: Some(50)
            })
        );
    }

    #[test]
    fn chain_to_missing_name_or_type() {
        // RFC 6604: NXDOMAIN with the chain refers to the target.
        let mut c = Chase::new("www.test", RecordType::A);
        let r = reply(
            Rcode::NxDomain,
            vec![cname("www.test", 300, "gone.test")],
            Some(60),
        );
        assert_eq!(
            c.feed(&r),
            Step::Done(Answer {
                result: Err(DnsError::NxDomain),
                ttl: Some(60)
            })
        );
        // NODATA at the target: SOA present, so no further query.
        let mut c = Chase::new("www.test", RecordType::A);
        let r = reply(
            Rcode::NoError,
            vec![cname("www.test", 30, "v6only.test")],
            Some(60),
        );
        assert_eq!(
            c.feed(&r),
            Step::Done(Answer {
                result: Ok(vec![]),
                ttl: Some(30)
            })
        );
    }

    #[test]
    fn negative_answers() {
        let mut c = Chase::new("x.test", RecordType::Mx);
        assert_eq!(
            c.feed(&reply(Rcode::NxDomain, vec![], Some(42))),
            Step::Done(Answer {
                result: Err(DnsError::NxDomain),
                ttl: Some(42)
            })
        );
        let mut c = Chase::new("x.test", RecordType::Mx);
        assert_eq!(
            c.feed(&reply(Rcode::NxDomain, vec![], None)),
            Step::Done(Answer::uncached(Err(DnsError::NxDomain)))
        );
        let mut c = Chase::new("x.test", RecordType::Mx);
        assert_eq!(
            c.feed(&reply(Rcode::NoError, vec![], Some(42))),
            Step::Done(Answer {
                result: Ok(vec![]),
                ttl: Some(42)
            })
        );
        let mut c = Chase::new("x.test", RecordType::Mx);
        assert_eq!(
            c.feed(&reply(
                Rcode::NoError,
                vec![a("x.test", 9, "192.0.2.1")],
                None
            )),
            Step::Done(Answer::uncached(Ok(vec![])))
        );
        let mut c = Chase::new("x.test", RecordType::Mx);
        assert!(matches!(
            c.feed(&reply(Rcode::ServFail, vec![], None)),
            Step::Done(Answer {
                result: Err(DnsError::Temporary(_)),
                ttl: None
            })
        ));
    }

    #[test]
    fn loops_are_detected() {
        // Within one reply.
        let mut c = Chase::new("l1.test", RecordType::A);
        let r = reply(
            Rcode::NoError,
            vec![
                cname("l1.test", 300, "l2.test"),
                cname("l2.test", 300, "l1.test"),
            ],
            None,
        );
        assert!(
            matches!(c.feed(&r), Step::Done(Answer { result: Err(DnsError::Temporary(e)), ttl: None }) if e.contains("loop"))
        );
        // Across replies.
        let mut c = Chase::new("l1.test", RecordType::A);
        assert_eq!(
            c.feed(&reply(
                Rcode::NoError,
                vec![cname("l1.test", 300, "l2.test")],
                None
            )),
            Step::Query("l2.test".into())
        );
        assert!(matches!(
            c.feed(&reply(
                Rcode::NoError,
                vec![cname("l2.test", 300, "l1.test")],
                None
            )),
            Step::Done(Answer {
                result: Err(DnsError::Temporary(_)),
                ..
            })
        ));
        // A self-loop.
        let mut c = Chase::new("s.test", RecordType::A);
        assert!(matches!(
            c.feed(&reply(
                Rcode::NoError,
                vec![cname("s.test", 300, "s.test")],
                None
            )),
            Step::Done(Answer {
                result: Err(DnsError::Temporary(_)),
                ..
            })
        ));
    }

    #[test]
    fn chain_length_is_capped() {
        let chain = |n: usize| -> Vec<AnswerRecord> {
            let mut v: Vec<AnswerRecord> = (0..n)
                .map(|i| cname(&format!("c{i}.test"), 300, &format!("c{}.test", i + 1)))
                .collect();
            v.push(a(&format!("c{n}.test"), 300, "192.0.2.1"));
            v
        };
        let mut c = Chase::new("c0.test", RecordType::A);
        assert_eq!(
            c.feed(&reply(Rcode::NoError, chain(MAX_CNAME_CHAIN), None)),
            Step::Done(Answer {
                result: Ok(ips(&["192.0.2.1"])),
                ttl: Some(300)
            })
        );
        let mut c = Chase::new("c0.test", RecordType::A);
        assert!(matches!(
            c.feed(&reply(Rcode::NoError, chain(MAX_CNAME_CHAIN + 1), None)),
            Step::Done(Answer { result: Err(DnsError::Temporary(e)), .. }) if e.contains("longer")
        ));
        // The cap also holds across replies: one CNAME per reply.
        let mut c = Chase::new("c0.test", RecordType::A);
        let mut steps = 0;
        loop {
            let name = c.name().to_string();
            let i: usize = name[1..name.len() - 5].parse().unwrap();
            let r = reply(
                Rcode::NoError,
                vec![cname(&name, 300, &format!("c{}.test", i + 1))],
                None,
            );
            steps += 1;
            match c.feed(&r) {
                Step::Query(_) => assert!(steps <= MAX_CNAME_CHAIN),
                Step::Done(ans) => {
                    assert!(matches!(ans.result, Err(DnsError::Temporary(_))));
                    break;
                }
            }
        }
        assert_eq!(steps, MAX_CNAME_CHAIN + 1);
    }

    #[test]
    fn asking_for_cname_target_data_ignores_unrelated_records() {
        // Data for another owner than the chain's end is not taken.
        let mut c = Chase::new("www.test", RecordType::A);
        let r = reply(
            Rcode::NoError,
            vec![
                cname("www.test", 300, "host.test"),
                a("evil.test", 300, "192.0.2.66"),
            ],
            Some(10),
        );
        assert_eq!(
            c.feed(&r),
            Step::Done(Answer {
                result: Ok(vec![]),
                ttl: Some(10)
            })
        );
    }
}
