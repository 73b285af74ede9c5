//! Checks the test DNS server (tests/common/dns.rs) over real UDP and TCP on
//! loopback, with queries built by hickory-proto.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::dns::{DnsServer, Zone};
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

const TIMEOUT: Duration = Duration::from_secs(3);

fn build_query(name: &str, rtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m
}

fn check_reply(query: &Message, reply: &Message) {
    assert_eq!(reply.metadata.id, query.metadata.id, "reply id");
    assert_eq!(reply.queries, query.queries, "question echoed");
}

fn udp_with(addr: SocketAddr, name: &str, rtype: RecordType, edns: Option<u16>) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    let q = build_query(name, rtype, edns);
    sock.send_to(&q.to_vec().unwrap(), addr).unwrap();
    let mut buf = [0u8; 4096];
    let (n, from) = sock.recv_from(&mut buf).expect("UDP reply within timeout");
    assert_eq!(from, addr);
    let reply = Message::from_vec(&buf[..n]).unwrap();
    check_reply(&q, &reply);
    reply
}

fn udp(addr: SocketAddr, name: &str, rtype: RecordType) -> Message {
    udp_with(addr, name, rtype, None)
}

fn tcp_exchange(stream: &mut TcpStream, name: &str, rtype: RecordType) -> Message {
    let q = build_query(name, rtype, None);
    let wire = q.to_vec().unwrap();
    let mut framed = (wire.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&wire);
    stream.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).expect("TCP reply length");
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).expect("TCP reply body");
    let reply = Message::from_vec(&buf).unwrap();
    check_reply(&q, &reply);
    reply
}

fn tcp_connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s
}

fn tcp(addr: SocketAddr, name: &str, rtype: RecordType) -> Message {
    tcp_exchange(&mut tcp_connect(addr), name, rtype)
}

fn ips(reply: &Message) -> Vec<String> {
    reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

fn txt_strings(reply: &Message) -> Vec<Vec<Vec<u8>>> {
    reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(t.txt_data.iter().map(|s| s.to_vec()).collect()),
            _ => None,
        })
        .collect()
}

fn soa_ttl(reply: &Message) -> u32 {
    let soa = reply
        .authorities
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
        .expect("SOA in authority section");
    let RData::SOA(data) = &soa.data else {
        unreachable!()
    };
    assert_eq!(data.minimum, soa.ttl);
    soa.ttl
}

fn zone() -> Zone {
    let mut z = Zone::new();
    z.a("mx.remote.test", "127.0.0.2")
        .a("mx.remote.test", "127.0.0.3")
        .aaaa("mx.remote.test", "::1")
        .mx("remote.test", 10, "mx.remote.test")
        .mx("remote.test", 20, "mx2.remote.test")
        .txt("remote.test", "v=spf1 ip4:127.0.0.5 -all")
        .cname("www.remote.test", "alias.remote.test")
        .cname("alias.remote.test", "host.remote.test")
        .a("host.remote.test", "127.0.0.9")
        .ptr("127.0.0.5", "mail.remote.test")
        .ptr("2001:db8::5", "mail6.remote.test")
        .a("sub.deep.remote.test", "127.0.0.10")
        .nxdomain("gone.test")
        .servfail("broken.test")
        .null_mx("nomail.test");
    z
}

#[test]
fn a_and_aaaa_over_udp_and_tcp() {
    let dns = DnsServer::start(zone());
    for reply in [
        udp(dns.addr(), "mx.remote.test.", RecordType::A),
        tcp(dns.addr(), "mx.remote.test.", RecordType::A),
    ] {
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.metadata.authoritative);
        assert!(!reply.metadata.truncation);
        assert_eq!(ips(&reply), ["127.0.0.2", "127.0.0.3"]);
        assert_eq!(reply.answers[0].ttl, 300);
    }
    let reply = udp(dns.addr(), "MX.Remote.TEST.", RecordType::AAAA);
    assert_eq!(ips(&reply), ["::1"]);
    // The owner name keeps the case of the question.
    assert_eq!(reply.answers[0].name.to_ascii(), "MX.Remote.TEST.");
}

#[test]
fn mx_and_null_mx() {
    let dns = DnsServer::start(zone());
    let reply = udp(dns.addr(), "remote.test.", RecordType::MX);
    let mut mx: Vec<(u16, String)> = reply
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::MX(m) => (m.preference, m.exchange.to_ascii()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    mx.sort();
    assert_eq!(
        mx,
        [
            (10, "mx.remote.test.".to_string()),
            (20, "mx2.remote.test.".to_string())
        ]
    );

    let reply = udp(dns.addr(), "nomail.test.", RecordType::MX);
    let RData::MX(m) = &reply.answers[0].data else {
        panic!("no MX")
    };
    assert_eq!(m.preference, 0);
    assert!(m.exchange.is_root());
}

#[test]
fn txt_short_and_long() {
    let long = "v=DKIM1; k=rsa; p=".to_string() + &"A".repeat(600);
    let mut z = zone();
    z.txt("sel._domainkey.remote.test", &long);
    let dns = DnsServer::start(z);

    let reply = udp(dns.addr(), "remote.test.", RecordType::TXT);
    assert_eq!(
        txt_strings(&reply),
        [vec![b"v=spf1 ip4:127.0.0.5 -all".to_vec()]]
    );

    // Over 512 bytes: TCP (or a large EDNS size) is needed.
    for reply in [
        tcp(dns.addr(), "sel._domainkey.remote.test.", RecordType::TXT),
        udp_with(
            dns.addr(),
            "sel._domainkey.remote.test.",
            RecordType::TXT,
            Some(1232),
        ),
    ] {
        assert!(!reply.metadata.truncation);
        let strings = &txt_strings(&reply)[0];
        assert_eq!(
            strings.iter().map(|s| s.len()).collect::<Vec<_>>(),
            [255, 255, 108]
        );
        assert_eq!(strings.concat(), long.as_bytes());
    }
    let reply = udp(dns.addr(), "sel._domainkey.remote.test.", RecordType::TXT);
    assert!(
        reply.metadata.truncation,
        "oversized UDP answer must set TC"
    );
    assert!(reply.answers.is_empty());

    // Strings split by the publisher keep their boundaries; two records
    // at one name stay two records.
    dns.update(|z| {
        z.txt_parts("split.remote.test", &["v=spf1 ", "ip4:127.0.0.5 ", "-all"])
            .txt("split.remote.test", "other");
    });
    let reply = udp(dns.addr(), "split.remote.test.", RecordType::TXT);
    let mut records = txt_strings(&reply);
    records.sort();
    assert_eq!(
        records,
        [
            vec![b"other".to_vec()],
            vec![
                b"v=spf1 ".to_vec(),
                b"ip4:127.0.0.5 ".to_vec(),
                b"-all".to_vec()
            ],
        ]
    );
}

#[test]
fn ptr_v4_and_v6() {
    let dns = DnsServer::start(zone());
    let reply = udp(dns.addr(), "5.0.0.127.in-addr.arpa.", RecordType::PTR);
    let RData::PTR(p) = &reply.answers[0].data else {
        panic!("no PTR")
    };
    assert_eq!(p.0.to_ascii(), "mail.remote.test.");

    let v6 = Name::from(std::net::IpAddr::from(
        "2001:db8::5".parse::<std::net::Ipv6Addr>().unwrap(),
    ));
    let reply = tcp(dns.addr(), &v6.to_ascii(), RecordType::PTR);
    let RData::PTR(p) = &reply.answers[0].data else {
        panic!("no PTR")
    };
    assert_eq!(p.0.to_ascii(), "mail6.remote.test.");
}

#[test]
fn cname_chain_is_followed() {
    let mut z = zone();
    z.cname("dangling.remote.test", "nowhere.remote.test");
    z.cname("loop1.remote.test", "loop2.remote.test");
    z.cname("loop2.remote.test", "loop1.remote.test");
    let dns = DnsServer::start(z);

    let reply = udp(dns.addr(), "www.remote.test.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    let types: Vec<RecordType> = reply.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types, [RecordType::CNAME, RecordType::CNAME, RecordType::A]);
    assert_eq!(reply.answers[2].name.to_ascii(), "host.remote.test.");
    assert_eq!(ips(&reply), ["127.0.0.9"]);

    // Asking for the CNAME itself does not follow it.
    let reply = udp(dns.addr(), "www.remote.test.", RecordType::CNAME);
    assert_eq!(reply.answers.len(), 1);

    // A chain to a missing name ends in NXDOMAIN, chain included.
    let reply = udp(dns.addr(), "dangling.remote.test.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(reply.answers.len(), 1);

    // A loop terminates.
    let reply = udp(dns.addr(), "loop1.remote.test.", RecordType::A);
    assert!(reply.answers.len() <= 9);
}

#[test]
fn nxdomain_nodata_and_servfail() {
    let mut z = zone();
    z.negative_ttl(42);
    let dns = DnsServer::start(z);

    for name in ["gone.test.", "never-declared.remote.test."] {
        let reply = udp(dns.addr(), name, RecordType::A);
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::NXDomain,
            "{name}"
        );
        assert!(reply.metadata.authoritative);
        assert!(reply.answers.is_empty());
        assert_eq!(soa_ttl(&reply), 42);
    }

    // NODATA: the name exists, not with this type.
    let reply = udp(dns.addr(), "remote.test.", RecordType::AAAA);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());
    assert_eq!(soa_ttl(&reply), 42);
    assert_eq!(reply.authorities[0].name.to_ascii(), "remote.test.");

    // An empty non-terminal is NODATA too, not NXDOMAIN.
    let reply = udp(dns.addr(), "deep.remote.test.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.answers.is_empty());

    for reply in [
        udp(dns.addr(), "broken.test.", RecordType::MX),
        tcp(dns.addr(), "broken.test.", RecordType::TXT),
    ] {
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        assert!(reply.answers.is_empty());
    }
}

#[test]
fn truncate_udp_forces_tcp() {
    let mut z = zone();
    z.truncate_udp("remote.test");
    let dns = DnsServer::start(z);

    let reply = udp(dns.addr(), "remote.test.", RecordType::MX);
    assert!(reply.metadata.truncation);
    assert!(reply.answers.is_empty());

    let reply = tcp(dns.addr(), "remote.test.", RecordType::MX);
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.answers.len(), 2);

    let log = dns.queries();
    assert_eq!(log.len(), 2);
    assert!(!log[0].tcp && log[1].tcp);
    assert_eq!(dns.query_count("REMOTE.test.", RecordType::MX), 2);

    // Other names still answer over UDP.
    let reply = udp(dns.addr(), "mx.remote.test.", RecordType::A);
    assert!(!reply.metadata.truncation);
}

#[test]
fn several_queries_on_one_tcp_connection() {
    let dns = DnsServer::start(zone());
    let mut conn = tcp_connect(dns.addr());
    for _ in 0..3 {
        let reply = tcp_exchange(&mut conn, "host.remote.test.", RecordType::A);
        assert_eq!(ips(&reply), ["127.0.0.9"]);
    }
}

#[test]
fn changes_while_running() {
    let dns = DnsServer::start(zone());
    assert_eq!(
        ips(&udp(dns.addr(), "mx.remote.test.", RecordType::A)).len(),
        2
    );

    dns.update(|z| {
        z.remove_type("mx.remote.test", RecordType::A)
            .a("mx.remote.test", "127.0.0.7");
    });
    assert_eq!(
        ips(&udp(dns.addr(), "mx.remote.test.", RecordType::A)),
        ["127.0.0.7"]
    );

    dns.update(|z| {
        z.servfail("mx.remote.test");
    });
    let reply = tcp(dns.addr(), "mx.remote.test.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);

    dns.update(|z| {
        z.clear_fault("mx.remote.test");
    });
    assert_eq!(
        ips(&tcp(dns.addr(), "mx.remote.test.", RecordType::A)),
        ["127.0.0.7"]
    );

    dns.update(|z| {
        z.nxdomain("mx.remote.test");
    });
    let reply = udp(dns.addr(), "mx.remote.test.", RecordType::A);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);

    // Through the shared handle, from another thread.
    let handle = dns.zone();
    std::thread::spawn(move || {
        handle.lock().unwrap().a("late.remote.test", "127.0.0.8");
    })
    .join()
    .unwrap();
    assert_eq!(
        ips(&tcp(dns.addr(), "late.remote.test.", RecordType::A)),
        ["127.0.0.8"]
    );

    dns.set_zone(Zone::new());
    let reply = udp(dns.addr(), "remote.test.", RecordType::MX);
    assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn no_answer_stays_silent() {
    let mut z = zone();
    z.no_answer("slow.test");
    let dns = DnsServer::start(z);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let q = build_query("slow.test.", RecordType::A, None);
    sock.send_to(&q.to_vec().unwrap(), dns.addr()).unwrap();
    let mut buf = [0u8; 512];
    assert!(sock.recv_from(&mut buf).is_err(), "expected no reply");
    assert_eq!(dns.query_count("slow.test", RecordType::A), 1);
}

#[test]
fn edns_is_echoed() {
    let dns = DnsServer::start(zone());
    let reply = udp_with(dns.addr(), "host.remote.test.", RecordType::A, Some(4096));
    assert!(reply.edns.is_some());
    let reply = udp(dns.addr(), "host.remote.test.", RecordType::A);
    assert!(reply.edns.is_none());
}

#[test]
fn drop_stops_promptly() {
    let dns = DnsServer::start(zone());
    let addr = dns.addr();
    // An idle client connection must not hold the server up.
    let _idle = tcp_connect(addr);
    // Dropped on a thread, so that a server that hangs fails the test
    // (after a bound far above any load) instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(dns);
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(60)).is_ok(),
        "drop did not return"
    );
    assert!(TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}
