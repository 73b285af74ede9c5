//! DNS messages: the queries we send and what we read from replies.
//!
//! hickory-proto does the wire format (RFC 1035 §4); this module turns its
//! messages into the few facts the resolver needs, and checks that a reply
//! answers our question (RFC 5452 §9.1: ID, question and source must all
//! match, the source being checked by the caller).

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, DecodeError};

use super::{normalize_name, DnsError, RecordData, RecordType};

/// The UDP payload size we advertise with EDNS0 (RFC 6891 §6.2.5): 1232
/// bytes avoids IP fragmentation on any path (the DNS Flag Day 2020 value).
pub const EDNS_PAYLOAD: u16 = 1232;

/// Longest name in presentation form without the trailing dot (RFC 1035
/// §2.3.4: 255 octets on the wire).
const MAX_NAME_LEN: usize = 253;

/// Longest label (RFC 1035 §2.3.4).
const MAX_LABEL_LEN: usize = 63;

/// The response code of a reply (RFC 1035 §4.1.1, RFC 6895 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// No error: an answer, or NODATA.
    NoError,
    /// The query could not be read by the server.
    FormErr,
    /// The server failed (often: could not reach the authoritative servers).
    ServFail,
    /// The name does not exist.
    NxDomain,
    /// The server does not do this kind of query.
    NotImp,
    /// The server will not answer us.
    Refused,
    /// Any other code.
    Other(u16),
}

/// One record of the answer section that the resolver can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRecord {
    /// The owner name, lowercase, without the trailing dot.
    pub owner: String,
    /// Time to live, in seconds.
    pub ttl: u32,
    /// The data.
    pub data: AnswerData,
}

/// The data of an [`AnswerRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerData {
    /// A record of one of the types we ask for.
    Record(RecordData),
    /// An alias to the canonical name (RFC 1034 §3.6.2), lowercase, without
    /// the trailing dot.
    Cname(String),
}

/// What a reply says, once checked to be ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The response code.
    pub rcode: Rcode,
    /// TC: the answer did not fit in UDP; ask again over TCP (RFC 1035
    /// §4.2.1, RFC 7766 §5).
    pub truncated: bool,
    /// Whether the reply carried an EDNS OPT record.
    pub edns: bool,
    /// The usable records of the answer section (class IN, known types);
    /// others are dropped.
    pub answers: Vec<AnswerRecord>,
    /// For a negative answer (NXDOMAIN or NODATA), how long it may be
    /// cached: min(SOA TTL, SOA MINIMUM) of the SOA in the authority
    /// section (RFC 2308 §5). `None` when there is no SOA, which also tells
    /// a NODATA apart from a referral-like partial answer (RFC 2308 §2.2).
    pub negative_ttl: Option<u32>,
}

/// The outcome of reading a datagram or TCP message that came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadReply {
    /// A reply to our query.
    Ours(Reply),
    /// Something else (another ID, another question, not a response):
    /// ignore it and keep waiting (RFC 5452 §9.1).
    NotOurs,
    /// It carries our ID but cannot be decoded.
    Malformed(String),
}

/// Builds the wire query for `name` and `rtype` with this ID: RD set
/// (RFC 1035 §4.1.1), and an EDNS0 OPT record advertising
/// [`EDNS_PAYLOAD`] when `edns` is true (RFC 6891 §6.1.1).
pub fn build_query(
    id: u16,
    name: &str,
    rtype: RecordType,
    edns: bool,
) -> Result<Vec<u8>, DnsError> {
    let qname = query_name(name)?;
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(qname, hickory_type(rtype)));
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(EDNS_PAYLOAD);
        opt.set_version(0);
        msg.set_edns(opt);
    }
    msg.to_vec()
        .map_err(|e| DnsError::Malformed(format!("cannot encode query for {name}: {e}")))
}

/// Checks that `name` can be written as a DNS name (RFC 1035 §2.3.4: labels
/// of 1 to 63 bytes, 255 bytes in all; printable ASCII without a space or
/// backslash, since callers pass host names, not zone-file text, except
/// that any byte may be written `\DDD` as in RFC 1035 §5.1, which is how
/// an SPF domain-spec's space is looked up), and returns it in normal form:
/// lowercase, escaped as [`name_string`] writes it. A name that cannot
/// exist is NXDOMAIN.
pub fn check_name(name: &str) -> Result<String, DnsError> {
    query_name(name).map(|n| name_string(&n))
}

/// The bytes of one label in presentation form, `\DDD` escapes decoded;
/// `None` for a raw byte that is not printable ASCII, a bare backslash or
/// an escape over 255.
fn label_bytes(label: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(label.len());
    let mut bytes = label.bytes();
    while let Some(b) = bytes.next() {
        if b == b'\\' {
            let mut value = 0u32;
            for _ in 0..3 {
                let d = bytes.next().filter(u8::is_ascii_digit)?;
                value = value * 10 + u32::from(d - b'0');
            }
            out.push(u8::try_from(value).ok()?);
        } else if b.is_ascii_graphic() {
            out.push(b);
        } else {
            return None;
        }
    }
    Some(out)
}

/// The hickory name of a name in presentation form.
fn query_name(name: &str) -> Result<Name, DnsError> {
    let n = normalize_name(name);
    let labels: Option<Vec<Vec<u8>>> = n.split('.').map(label_bytes).collect();
    let labels = labels.ok_or(DnsError::NxDomain)?;
    let wire_len = labels.iter().map(|l| l.len() + 1).sum::<usize>();
    let valid = !n.is_empty()
        && wire_len <= MAX_NAME_LEN + 1
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.len() <= MAX_LABEL_LEN);
    if !valid {
        return Err(DnsError::NxDomain);
    }
    Name::from_labels(labels).map_err(|_| DnsError::NxDomain)
}

/// hickory's code for our record type.
fn hickory_type(rtype: RecordType) -> hickory_proto::rr::RecordType {
    use hickory_proto::rr::RecordType as H;
    match rtype {
        RecordType::A => H::A,
        RecordType::Aaaa => H::AAAA,
        RecordType::Mx => H::MX,
        RecordType::Txt => H::TXT,
        RecordType::Ptr => H::PTR,
    }
}

/// Reads a message received for the query (`id`, `name`, `rtype`). The
/// caller has already checked that it came from the server asked.
pub fn read_reply(packet: &[u8], id: u16, name: &str, rtype: RecordType) -> ReadReply {
    let [hi, lo, ..] = *packet else {
        return ReadReply::NotOurs;
    };
    let got_id = u16::from_be_bytes([hi, lo]);
    if got_id != id {
        return ReadReply::NotOurs;
    }
    let msg = match decode(packet) {
        Ok(m) => m,
        Err(e) => return ReadReply::Malformed(format!("undecodable reply: {e}")),
    };
    if msg.metadata.message_type != MessageType::Response || msg.metadata.op_code != OpCode::Query {
        return ReadReply::NotOurs;
    }
    let rcode = rcode(msg.metadata.response_code);
    // RFC 1035 §7.3: the question must be ours. A server that could not
    // read the query may send FORMERR or NOTIMP without it (RFC 6891 §7).
    let question_ok = match msg.queries.as_slice() {
        [q] => {
            q.query_type() == hickory_type(rtype)
                && q.query_class() == DNSClass::IN
                && check_name(name).is_ok_and(|n| n == name_string(q.name()))
        }
        [] => matches!(rcode, Rcode::FormErr | Rcode::NotImp),
        _ => false,
    };
    if !question_ok {
        return ReadReply::NotOurs;
    }
    let answers = msg
        .answers
        .iter()
        .filter(|r| r.dns_class == DNSClass::IN)
        .filter_map(|r| {
            let data = match &r.data {
                RData::A(a) => AnswerData::Record(RecordData::A(a.0)),
                RData::AAAA(a) => AnswerData::Record(RecordData::Aaaa(a.0)),
                RData::MX(mx) => AnswerData::Record(RecordData::Mx {
                    preference: mx.preference,
                    exchange: name_string(&mx.exchange),
                }),
                RData::TXT(txt) => AnswerData::Record(RecordData::Txt(
                    txt.txt_data.iter().map(|s| s.to_vec()).collect(),
                )),
                // Empty RDATA: a TXT record of zero strings.
                RData::Update0(hickory_proto::rr::RecordType::TXT) => {
                    AnswerData::Record(RecordData::Txt(Vec::new()))
                }
                RData::PTR(ptr) => AnswerData::Record(RecordData::Ptr(name_string(&ptr.0))),
                RData::CNAME(c) => AnswerData::Cname(name_string(&c.0)),
                _ => return None,
            };
            Some(AnswerRecord {
                owner: name_string(&r.name),
                ttl: r.ttl,
                data,
            })
        })
        .collect();
    let negative_ttl = msg.authorities.iter().find_map(|r| match &r.data {
        // RFC 2308 §5: the TTL of a negative answer is the minimum of the
        // SOA record's TTL and its MINIMUM field.
        RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
        _ => None,
    });
    ReadReply::Ours(Reply {
        rcode,
        truncated: msg.metadata.truncation,
        edns: msg.edns.is_some(),
        answers,
        negative_ttl,
    })
}

/// Decodes a reply as hickory's `Message::from_vec` does, but keeps
/// records with empty RDATA, which hickory refuses outside UPDATE
/// messages: a TXT record of zero strings is one, and RFC 7208 §3.3 says
/// to ignore it beside an SPF record, not to fail the lookup. They come
/// out as `RData::Update0`.
fn decode(packet: &[u8]) -> Result<Message, DecodeError> {
    let mut d = BinDecoder::new(packet);
    let Header {
        mut metadata,
        counts,
    } = Header::read(&mut d)?;
    let mut msg = Message::new(metadata.id, metadata.message_type, metadata.op_code);
    for _ in 0..counts.queries {
        msg.queries.push(Query::read(&mut d)?);
    }
    for _ in 0..counts.answers {
        msg.answers.push(Record::read(&mut d)?);
    }
    for _ in 0..counts.authorities {
        msg.authorities.push(Record::read(&mut d)?);
    }
    for _ in 0..counts.additionals {
        let r = Record::read(&mut d)?;
        if r.record_type() == hickory_proto::rr::RecordType::OPT {
            let edns = Edns::from(&r);
            // RFC 6891 §6.1.3: the upper bits of the response code.
            metadata.merge_response_code(edns.rcode_high());
            msg.edns = Some(edns);
        } else {
            msg.additionals.push(r);
        }
    }
    msg.metadata = metadata;
    Ok(msg)
}

fn rcode(code: ResponseCode) -> Rcode {
    match code {
        ResponseCode::NoError => Rcode::NoError,
        ResponseCode::FormErr => Rcode::FormErr,
        ResponseCode::ServFail => Rcode::ServFail,
        ResponseCode::NXDomain => Rcode::NxDomain,
        ResponseCode::NotImp => Rcode::NotImp,
        ResponseCode::Refused => Rcode::Refused,
        other => Rcode::Other(u16::from(other)),
    }
}

/// A name as lowercase text without the trailing dot. Bytes that are not
/// printable ASCII, and dots or backslashes inside a label, are written as
/// `\DDD` (RFC 1035 §5.1), so a hostile label cannot pass for two.
pub fn name_string(name: &Name) -> String {
    let mut s = String::with_capacity(name.len());
    for (i, label) in name.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        for &b in label {
            if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                s.push(char::from(b.to_ascii_lowercase()));
            } else {
                s.push_str(&format!("\\{b:03}"));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME, MX, SOA, TXT};

    fn fqdn(s: &str) -> Name {
        Name::from_ascii(format!("{s}.")).unwrap()
    }

    fn reply_to(query: &[u8]) -> Message {
        let q = Message::from_vec(query).unwrap();
        let mut m = Message::response(q.metadata.id, OpCode::Query);
        m.add_queries(q.queries.iter().cloned());
        m
    }

    #[test]
    fn query_has_rd_edns_and_question() {
        let wire = build_query(0xbeef, "Mail.Example.COM.", RecordType::Mx, true).unwrap();
        let m = Message::from_vec(&wire).unwrap();
        assert_eq!(m.metadata.id, 0xbeef);
        assert!(m.metadata.recursion_desired);
        assert_eq!(m.metadata.message_type, MessageType::Query);
        assert_eq!(m.edns.as_ref().map(|e| e.max_payload()), Some(1232));
        assert_eq!(m.queries.len(), 1);
        assert_eq!(name_string(m.queries[0].name()), "mail.example.com");
        assert_eq!(m.queries[0].query_type(), hickory_proto::rr::RecordType::MX);

        let wire = build_query(1, "a.b", RecordType::Aaaa, false).unwrap();
        assert!(Message::from_vec(&wire).unwrap().edns.is_none());
    }

    #[test]
    fn impossible_names_are_nxdomain() {
        let long_label = "a".repeat(64);
        let long_name = ["abcdefghi"; 26].join(".");
        for bad in [
            "",
            ".",
            "a..b",
            "a b.com",
            "é.com",
            "a\\.b",
            &long_label,
            &long_name,
        ] {
            assert_eq!(
                build_query(1, bad, RecordType::A, true),
                Err(DnsError::NxDomain),
                "{bad:?}"
            );
        }
        assert!(build_query(1, &"a".repeat(63), RecordType::A, true).is_ok());
        assert!(build_query(1, "_dmarc.example.com", RecordType::Txt, true).is_ok());
    }

    #[test]
    fn reads_answers_cname_and_soa() {
        let q = build_query(7, "www.example.com", RecordType::A, true).unwrap();
        let mut m = reply_to(&q);
        m.add_answer(Record::from_rdata(
            fqdn("WWW.example.com"),
            300,
            RData::CNAME(CNAME(fqdn("Host.example.com"))),
        ));
        m.add_answer(Record::from_rdata(
            fqdn("host.example.com"),
            60,
            RData::A(A("192.0.2.1".parse().unwrap())),
        ));
        m.add_authority(Record::from_rdata(
            fqdn("example.com"),
            900,
            RData::SOA(SOA::new(
                fqdn("ns.example.com"),
                fqdn("h.example.com"),
                1,
                2,
                3,
                4,
                120,
            )),
        ));
        let ReadReply::Ours(r) =
            read_reply(&m.to_vec().unwrap(), 7, "www.example.com.", RecordType::A)
        else {
            panic!("not ours")
        };
        assert_eq!(r.rcode, Rcode::NoError);
        assert!(!r.truncated);
        assert_eq!(r.negative_ttl, Some(120));
        assert_eq!(
            r.answers,
            [
                AnswerRecord {
                    owner: "www.example.com".into(),
                    ttl: 300,
                    data: AnswerData::Cname("host.example.com".into())
                },
                AnswerRecord {
                    owner: "host.example.com".into(),
                    ttl: 60,
                    data: AnswerData::Record(RecordData::A("192.0.2.1".parse().unwrap()))
                },
            ]
        );
    }

    #[test]
    fn reads_mx_txt_and_null_mx() {
        let q = build_query(9, "example.com", RecordType::Mx, true).unwrap();
        let mut m = reply_to(&q);
        m.add_answer(Record::from_rdata(
            fqdn("example.com"),
            300,
            RData::MX(MX::new(10, fqdn("MX.example.com"))),
        ));
        m.add_answer(Record::from_rdata(
            fqdn("example.com"),
            300,
            RData::MX(MX::new(0, Name::root())),
        ));
        // A TXT in an MX answer is kept: the resolver filters by type.
        m.add_answer(Record::from_rdata(
            fqdn("example.com"),
            300,
            RData::TXT(TXT::from_bytes(vec![b"a", b"bc"])),
        ));
        let ReadReply::Ours(r) = read_reply(&m.to_vec().unwrap(), 9, "example.com", RecordType::Mx)
        else {
            panic!("not ours")
        };
        let data: Vec<_> = r.answers.into_iter().map(|a| a.data).collect();
        assert_eq!(
            data,
            [
                AnswerData::Record(RecordData::Mx {
                    preference: 10,
                    exchange: "mx.example.com".into()
                }),
                AnswerData::Record(RecordData::Mx {
                    preference: 0,
                    exchange: String::new()
                }),
                AnswerData::Record(RecordData::Txt(vec![b"a".to_vec(), b"bc".to_vec()])),
            ]
        );
        assert_eq!(r.negative_ttl, None);
    }

    #[test]
    fn rejects_replies_that_are_not_ours() {
        let q = build_query(5, "example.com", RecordType::A, true).unwrap();
        let good = reply_to(&q).to_vec().unwrap();
        assert!(matches!(
            read_reply(&good, 5, "EXAMPLE.com", RecordType::A),
            ReadReply::Ours(_)
        ));
        // Another ID, another name, another type.
        assert_eq!(
            read_reply(&good, 6, "example.com", RecordType::A),
            ReadReply::NotOurs
        );
        assert_eq!(
            read_reply(&good, 5, "example.org", RecordType::A),
            ReadReply::NotOurs
        );
        assert_eq!(
            read_reply(&good, 5, "example.com", RecordType::Aaaa),
            ReadReply::NotOurs
        );
        // Our own query echoed back is not a response.
        assert_eq!(
            read_reply(&q, 5, "example.com", RecordType::A),
            ReadReply::NotOurs
        );
        // Too short to carry an ID.
        assert_eq!(
            read_reply(&[5], 5, "example.com", RecordType::A),
            ReadReply::NotOurs
        );
        assert_eq!(
            read_reply(&[], 5, "example.com", RecordType::A),
            ReadReply::NotOurs
        );
    }

    #[test]
    fn garbage_with_our_id_is_malformed() {
        let q = build_query(0x1234, "example.com", RecordType::A, true).unwrap();
        let good = reply_to(&q).to_vec().unwrap();
        // Every cut of a valid reply either decodes or is malformed: no panic.
        for n in 2..good.len() {
            match read_reply(&good[..n], 0x1234, "example.com", RecordType::A) {
                ReadReply::Malformed(_) | ReadReply::NotOurs | ReadReply::Ours(_) => {}
            }
        }
        let mut junk = vec![0x12, 0x34];
        junk.extend_from_slice(b"\xff\xffthis is not a DNS message at all");
        assert!(matches!(
            read_reply(&junk, 0x1234, "example.com", RecordType::A),
            ReadReply::Malformed(_)
        ));
    }

    #[test]
    fn rcodes_and_truncation() {
        let q = build_query(3, "example.com", RecordType::Txt, true).unwrap();
        for (code, want) in [
            (ResponseCode::NXDomain, Rcode::NxDomain),
            (ResponseCode::ServFail, Rcode::ServFail),
            (ResponseCode::Refused, Rcode::Refused),
            (ResponseCode::NotImp, Rcode::NotImp),
        ] {
            let mut m = reply_to(&q);
            m.metadata.response_code = code;
            m.metadata.truncation = true;
            let ReadReply::Ours(r) =
                read_reply(&m.to_vec().unwrap(), 3, "example.com", RecordType::Txt)
            else {
                panic!("not ours")
            };
            assert_eq!(r.rcode, want);
            assert!(r.truncated);
        }
        // FORMERR without the question is still ours.
        let m = Message::error_msg(3, OpCode::Query, ResponseCode::FormErr);
        let ReadReply::Ours(r) =
            read_reply(&m.to_vec().unwrap(), 3, "example.com", RecordType::Txt)
        else {
            panic!("not ours")
        };
        assert_eq!(r.rcode, Rcode::FormErr);
    }

    #[test]
    fn a_txt_record_of_zero_strings_is_read() {
        // RFC 7208 §3.3: ignored beside the SPF record, not an error.
        let q = build_query(9, "example.com", RecordType::Txt, true).unwrap();
        let mut m = reply_to(&q);
        for strings in [vec![&b"v=spf1 -all"[..]], vec![]] {
            m.add_answer(Record::from_rdata(
                fqdn("example.com"),
                60,
                RData::TXT(TXT::from_bytes(strings)),
            ));
        }
        let ReadReply::Ours(r) =
            read_reply(&m.to_vec().unwrap(), 9, "example.com", RecordType::Txt)
        else {
            panic!("not read")
        };
        let texts: Vec<_> = r.answers.into_iter().map(|a| a.data).collect();
        assert_eq!(
            texts,
            [
                AnswerData::Record(RecordData::Txt(vec![b"v=spf1 -all".to_vec()])),
                AnswerData::Record(RecordData::Txt(Vec::new())),
            ]
        );
    }

    #[test]
    fn escaped_bytes_are_queried_and_matched() {
        assert_eq!(check_name("A\\032b.Example.").unwrap(), "a\\032b.example");
        assert_eq!(check_name("%:/.example").unwrap(), "%:/.example");
        for bad in ["a\\32.example", "a\\256.example", "a\\", "a\\0x1.b"] {
            assert_eq!(check_name(bad), Err(DnsError::NxDomain), "{bad:?}");
        }
        assert!(check_name(&format!("{}.b", "\\097".repeat(63))).is_ok());
        assert!(check_name(&format!("{}.b", "\\097".repeat(64))).is_err());
        let q = build_query(5, "a\\032b.example", RecordType::A, false).unwrap();
        let m = reply_to(&q);
        assert_eq!(m.queries[0].name().iter().next(), Some(&b"a b"[..]));
        assert!(matches!(
            read_reply(&m.to_vec().unwrap(), 5, "A\\032B.example.", RecordType::A),
            ReadReply::Ours(_)
        ));
    }

    #[test]
    fn odd_bytes_in_names_are_escaped() {
        let name = Name::from_labels(vec![&b"a.b"[..], &b"C\x00"[..], &b"com"[..]]).unwrap();
        assert_eq!(name_string(&name), "a\\046b.c\\000.com");
        assert_eq!(name_string(&Name::root()), "");
    }
}
