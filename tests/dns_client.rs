//! The stub resolver (src/net/dns.rs) against the test DNS server
//! (tests/common/dns.rs) over real UDP and TCP on loopback.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::dns::{DnsServer, Zone};
use facteur::dns::{DnsError, Mx, RecordData, RecordType, Resolver};
use facteur::net::dns::StubResolver;
use hickory_proto::rr::RecordType as WireType;

/// Short, so that the timeout tests stay fast; loopback answers in well
/// under a millisecond.
const TIMEOUT: Duration = Duration::from_millis(300);

fn resolver(servers: &[SocketAddr]) -> StubResolver {
    StubResolver::new(servers.to_vec(), TIMEOUT, 1, 100)
}

fn zone() -> Zone {
    let mut z = Zone::new();
    z.a("mx.remote.test", "127.0.0.2")
        .a("mx.remote.test", "127.0.0.3")
        .aaaa("mx.remote.test", "::1")
        .mx("remote.test", 20, "mx2.remote.test")
        .mx("remote.test", 10, "mx.remote.test")
        .mx("remote.test", 30, "mx3.remote.test")
        .mx("remote.test", 10, "mx1b.remote.test")
        .txt("remote.test", "v=spf1 ip4:127.0.0.5 -all")
        .txt_parts("split.remote.test", &["v=spf1 ", "ip4:127.0.0.5 ", "-all"])
        .cname("www.remote.test", "alias.remote.test")
        .cname("alias.remote.test", "host.remote.test")
        .a("host.remote.test", "127.0.0.9")
        .ptr("127.0.0.5", "mail.remote.test")
        .ptr("2001:db8::5", "mail6.remote.test")
        .nxdomain("gone.test")
        .servfail("broken.test")
        .no_answer("slow.test")
        .null_mx("nomail.test");
    z
}

fn ips(v: &[&str]) -> Vec<IpAddr> {
    v.iter().map(|s| s.parse().unwrap()).collect()
}

fn mx(preference: u16, exchange: &str) -> Mx {
    Mx {
        preference,
        exchange: exchange.into(),
    }
}

#[test]
fn addresses() {
    let dns = DnsServer::start(zone());
    let r = resolver(&[dns.addr()]);
    smol::block_on(async {
        assert_eq!(
            r.query("mx.remote.test", RecordType::A).await.unwrap(),
            [
                RecordData::A("127.0.0.2".parse().unwrap()),
                RecordData::A("127.0.0.3".parse().unwrap())
            ]
        );
        assert_eq!(
            r.query("MX.Remote.Test.", RecordType::Aaaa).await.unwrap(),
            [RecordData::Aaaa("::1".parse().unwrap())]
        );
        assert_eq!(
            r.ip_addrs("mx.remote.test").await.unwrap(),
            ips(&["127.0.0.2", "127.0.0.3", "::1"])
        );
        // Only A records: AAAA is NODATA.
        assert_eq!(
            r.ip_addrs("host.remote.test").await.unwrap(),
            ips(&["127.0.0.9"])
        );
        assert_eq!(r.ip_addrs("gone.test").await, Err(DnsError::NxDomain));
    });
}

#[test]
fn mx_sorted_by_preference() {
    let dns = DnsServer::start(zone());
    let r = resolver(&[dns.addr()]);
    smol::block_on(async {
        let list = r.mx("remote.test").await.unwrap();
        let prefs: Vec<u16> = list.iter().map(|m| m.preference).collect();
        assert_eq!(prefs, [10, 10, 20, 30]);
        let mut firsts = vec![list[0].exchange.clone(), list[1].exchange.clone()];
        firsts.sort();
        assert_eq!(firsts, ["mx.remote.test", "mx1b.remote.test"]);
        assert_eq!(list[2], mx(20, "mx2.remote.test"));
        assert_eq!(list[3], mx(30, "mx3.remote.test"));

        // RFC 7505 null MX.
        let list = r.mx("nomail.test").await.unwrap();
        assert_eq!(list, [mx(0, "")]);
        assert!(list[0].is_null());

        // No MX records: NODATA, not an error.
        assert_eq!(r.mx("mx.remote.test").await, Ok(vec![]));
        assert_eq!(r.mx("gone.test").await, Err(DnsError::NxDomain));
    });
}

#[test]
fn txt_strings_kept_and_joined() {
    let long = "v=DKIM1; k=rsa; p=".to_string() + &"A".repeat(600);
    let mut z = zone();
    z.txt("sel._domainkey.remote.test", &long);
    let dns = DnsServer::start(z);
    let r = resolver(&[dns.addr()]);
    smol::block_on(async {
        assert_eq!(
            r.query("split.remote.test", RecordType::Txt).await.unwrap(),
            [RecordData::Txt(vec![
                b"v=spf1 ".to_vec(),
                b"ip4:127.0.0.5 ".to_vec(),
                b"-all".to_vec()
            ])]
        );
        assert_eq!(
            r.txt("split.remote.test").await.unwrap(),
            [b"v=spf1 ip4:127.0.0.5 -all".to_vec()]
        );
        // Over 512 bytes: fits in our EDNS size, one UDP query.
        let got = r.txt("sel._domainkey.remote.test").await.unwrap();
        assert_eq!(got, [long.as_bytes().to_vec()]);
        let log = dns.queries();
        let last = log.last().unwrap();
        assert_eq!(last.name, "sel._domainkey.remote.test");
        assert!(!last.tcp);
    });
}

#[test]
fn ptr_v4_and_v6() {
    let dns = DnsServer::start(zone());
    let r = resolver(&[dns.addr()]);
    smol::block_on(async {
        assert_eq!(
            r.ptr("127.0.0.5".parse().unwrap()).await.unwrap(),
            ["mail.remote.test"]
        );
        assert_eq!(
            r.ptr("2001:db8::5".parse().unwrap()).await.unwrap(),
            ["mail6.remote.test"]
        );
        assert_eq!(
            r.ptr("127.0.0.99".parse().unwrap()).await,
            Err(DnsError::NxDomain)
        );
    });
}

#[test]
fn cname_chain_in_one_answer() {
    let mut z = zone();
    z.cname("dangling.remote.test", "nowhere.remote.test");
    let dns = DnsServer::start(z);
    let r = resolver(&[dns.addr()]);
    smol::block_on(async {
        assert_eq!(
            r.ip_addrs("www.remote.test").await.unwrap(),
            ips(&["127.0.0.9"])
        );
        // The server gave the whole chain: the targets were not asked.
        assert_eq!(dns.query_count("alias.remote.test", WireType::A), 0);
        assert_eq!(dns.query_count("host.remote.test", WireType::A), 0);
        // A chain to a missing name is NXDOMAIN (RFC 6604).
        assert_eq!(
            r.query("dangling.remote.test", RecordType::A).await,
            Err(DnsError::NxDomain)
        );
    });
}

#[test]
fn cname_chain_continued_by_the_resolver() {
    let mut z = zone();
    z.foreign_cname("www.a.test", "cdn.b.test")
        .foreign_cname("cdn.b.test", "edge.c.test")
        .a("edge.c.test", "127.0.0.44")
        .foreign_cname("loop1.test", "loop2.test")
        .foreign_cname("loop2.test", "loop1.test");
    let dns = DnsServer::start(z);
    let r = resolver(&[dns.addr()]);
    smol::block_on(async {
        assert_eq!(
            r.query("www.a.test", RecordType::A).await.unwrap(),
            [RecordData::A("127.0.0.44".parse().unwrap())]
        );
        assert_eq!(dns.query_count("www.a.test", WireType::A), 1);
        assert_eq!(dns.query_count("cdn.b.test", WireType::A), 1);
        assert_eq!(dns.query_count("edge.c.test", WireType::A), 1);

        // A loop across servers' answers ends, as a temporary failure.
        match r.query("loop1.test", RecordType::A).await {
            Err(DnsError::Temporary(why)) => assert!(why.contains("loop"), "{why}"),
            other => panic!("expected a temporary failure, got {other:?}"),
        }
        assert_eq!(dns.query_count("loop1.test", WireType::A), 1);
        assert_eq!(dns.query_count("loop2.test", WireType::A), 1);
    });
}

#[test]
fn nxdomain_and_nodata() {
    let dns = DnsServer::start(zone());
    let r = resolver(&[dns.addr()]);
    smol::block_on(async {
        assert_eq!(
            r.query("gone.test", RecordType::A).await,
            Err(DnsError::NxDomain)
        );
        assert_eq!(
            r.query("never.remote.test", RecordType::Mx).await,
            Err(DnsError::NxDomain)
        );
        assert_eq!(r.query("remote.test", RecordType::Aaaa).await, Ok(vec![]));
        assert_eq!(r.txt("mx.remote.test").await, Ok(vec![]));
    });
}

#[test]
fn servfail_is_temporary() {
    let dns = DnsServer::start(zone());
    let r = StubResolver::new(vec![dns.addr()], TIMEOUT, 2, 100);
    smol::block_on(async {
        // The reason is the answer, not a timeout.
        match r.query("broken.test", RecordType::Mx).await {
            Err(DnsError::Temporary(why)) => assert!(why.contains("ServFail"), "{why}"),
            other => panic!("expected a temporary failure, got {other:?}"),
        }
        // One query per attempt.
        assert_eq!(dns.query_count("broken.test", WireType::MX), 2);
        // Not cached: the next lookup asks again.
        let _ = r.query("broken.test", RecordType::Mx).await;
        assert_eq!(dns.query_count("broken.test", WireType::MX), 4);
    });
}

#[test]
fn silence_is_temporary_after_the_timeout() {
    let dns = DnsServer::start(zone());
    let r = StubResolver::new(vec![dns.addr()], TIMEOUT, 2, 100);
    smol::block_on(async {
        let started = Instant::now();
        let got = r.query("slow.test", RecordType::A).await;
        let took = started.elapsed();
        assert!(matches!(got, Err(DnsError::Temporary(_))), "{got:?}");
        // Two attempts, each waiting TIMEOUT. (A lower bound only: a
        // loaded machine makes it longer, never shorter.)
        assert!(took >= 2 * TIMEOUT, "gave up after {took:?}");
        assert_eq!(dns.query_count("slow.test", WireType::A), 2);
    });
}

#[test]
fn failover_to_the_second_server() {
    let mut first = zone();
    first
        .no_answer("mx.remote.test")
        .servfail("host.remote.test");
    let first = DnsServer::start(first);
    let second = DnsServer::start(zone());
    let r = resolver(&[first.addr(), second.addr()]);
    smol::block_on(async {
        // Silence from the first: asked once, then the second.
        assert_eq!(
            r.query("mx.remote.test", RecordType::A)
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(first.query_count("mx.remote.test", WireType::A), 1);
        assert_eq!(second.query_count("mx.remote.test", WireType::A), 1);

        // SERVFAIL moves on too, asking the first server once.
        assert_eq!(
            r.ip_addrs("host.remote.test").await.unwrap(),
            ips(&["127.0.0.9"])
        );
        assert_eq!(first.query_count("host.remote.test", WireType::A), 1);
        assert_eq!(second.query_count("host.remote.test", WireType::A), 1);
    });
}

#[test]
fn truncated_udp_falls_back_to_tcp() {
    let huge = "x".repeat(2000);
    let mut z = zone();
    z.truncate_udp("remote.test").txt("big.remote.test", &huge);
    let dns = DnsServer::start(z);
    let r = resolver(&[dns.addr()]);
    smol::block_on(async {
        let list = r.mx("remote.test").await.unwrap();
        assert_eq!(list.len(), 4);
        let log = dns.queries();
        assert_eq!(log.len(), 2);
        assert!(!log[0].tcp && log[1].tcp, "{log:?}");

        // Larger than our EDNS size: the server truncates by itself.
        dns.clear_queries();
        assert_eq!(
            r.txt("big.remote.test").await.unwrap(),
            [huge.as_bytes().to_vec()]
        );
        let tcp: Vec<bool> = dns.queries().iter().map(|q| q.tcp).collect();
        assert_eq!(tcp, [false, true]);
    });
}

#[test]
fn answers_are_cached() {
    let dns = DnsServer::start(zone());
    let r = resolver(&[dns.addr()]);
    smol::block_on(async {
        for _ in 0..3 {
            assert_eq!(r.mx("remote.test").await.unwrap().len(), 4);
            assert_eq!(
                r.ip_addrs("www.remote.test").await.unwrap(),
                ips(&["127.0.0.9"])
            );
        }
        assert_eq!(dns.query_count("remote.test", WireType::MX), 1);
        assert_eq!(dns.query_count("www.remote.test", WireType::A), 1);
        assert_eq!(dns.query_count("www.remote.test", WireType::AAAA), 1);
        // Names are cached in normal form.
        let _ = r.mx("REMOTE.test.").await.unwrap();
        assert_eq!(dns.query_count("remote.test", WireType::MX), 1);
    });
}

#[test]
fn negative_answers_are_cached() {
    let dns = DnsServer::start(zone());
    let r = resolver(&[dns.addr()]);
    smol::block_on(async {
        for _ in 0..3 {
            assert_eq!(r.mx("gone.test").await, Err(DnsError::NxDomain));
            assert_eq!(r.query("remote.test", RecordType::Aaaa).await, Ok(vec![]));
        }
        assert_eq!(dns.query_count("gone.test", WireType::MX), 1);
        assert_eq!(dns.query_count("remote.test", WireType::AAAA), 1);
    });

    // A negative TTL of 0 must not be cached.
    let mut z = zone();
    z.negative_ttl(0);
    let dns = DnsServer::start(z);
    let r = resolver(&[dns.addr()]);
    smol::block_on(async {
        for _ in 0..2 {
            assert_eq!(r.mx("gone.test").await, Err(DnsError::NxDomain));
        }
        assert_eq!(dns.query_count("gone.test", WireType::MX), 2);
    });
}

/// The TTL on the wire reaches the cache: a record with TTL 0 is asked for
/// every time (RFC 1035 §3.2.1), one with a TTL once. Expiry after the TTL
/// is checked on an injected clock by the unit tests in `dns::cache`.
#[test]
fn the_ttl_on_the_wire_decides_caching() {
    let mut z = zone();
    z.default_ttl(0).a("zero.remote.test", "127.0.0.7");
    z.default_ttl(300).a("kept.remote.test", "127.0.0.8");
    let dns = DnsServer::start(z);
    let r = resolver(&[dns.addr()]);
    smol::block_on(async {
        for (name, ip, asked) in [
            ("zero.remote.test", "127.0.0.7", 3),
            ("kept.remote.test", "127.0.0.8", 1),
        ] {
            let want = [RecordData::A(ip.parse().unwrap())];
            for _ in 0..3 {
                assert_eq!(r.query(name, RecordType::A).await.unwrap(), want);
            }
            assert_eq!(dns.query_count(name, WireType::A), asked, "{name}");
        }
    });
}

/// A UDP "server" that answers every datagram with `reply(query)`, for at
/// most `count` datagrams or 20 seconds.
fn bad_server(count: usize, reply: fn(&[u8]) -> Vec<u8>) -> (SocketAddr, JoinHandle<usize>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = 0;
        let mut buf = [0u8; 2048];
        while seen < count && Instant::now() < deadline {
            if let Ok((n, peer)) = sock.recv_from(&mut buf) {
                seen += 1;
                let _ = sock.send_to(&reply(&buf[..n]), peer);
            }
        }
        seen
    });
    (addr, handle)
}

#[test]
fn garbage_replies_do_not_panic() {
    // Bytes that are not DNS at all (and so not our ID): ignored, and the
    // lookup times out.
    let (addr, server) = bad_server(1, |_| b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec());
    let r = resolver(&[addr]);
    let got = smol::block_on(r.query("remote.test", RecordType::Mx));
    assert!(matches!(got, Err(DnsError::Temporary(_))), "{got:?}");
    assert_eq!(server.join().unwrap(), 1);

    // Our ID followed by junk: malformed, at once.
    let (addr, server) = bad_server(1, |q| {
        let mut v = q[..2].to_vec();
        v.extend_from_slice(&[0x81, 0x80, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
        v
    });
    let r = resolver(&[addr]);
    let got = smol::block_on(r.query("remote.test", RecordType::Mx));
    assert!(matches!(got, Err(DnsError::Malformed(_))), "{got:?}");
    assert_eq!(server.join().unwrap(), 1);

    // A garbage server first, a good one second: the good one answers.
    let dns = DnsServer::start(zone());
    let (addr, server) = bad_server(1, |q| q[..2].to_vec());
    let r = resolver(&[addr, dns.addr()]);
    let got = smol::block_on(r.mx("remote.test"));
    assert_eq!(got.unwrap().len(), 4);
    assert_eq!(server.join().unwrap(), 1);
}

#[test]
fn concurrent_lookups_through_a_shared_trait_object() {
    let mut z = zone();
    for i in 0..20 {
        z.a(&format!("h{i}.remote.test"), &format!("127.0.1.{i}"));
    }
    let dns = DnsServer::start(z);
    let r: Arc<dyn Resolver> = Arc::new(resolver(&[dns.addr()]));
    smol::block_on(async {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let r = r.clone();
                smol::spawn(async move { r.ip_addrs(&format!("h{i}.remote.test")).await })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), ips(&[&format!("127.0.1.{i}")]));
        }
    });
}

/// The reply of a server that does not know EDNS (RFC 6891 §7): FORMERR
/// without OPT to a query with OPT, an answer to one without.
fn no_edns_reply(query: &[u8]) -> Vec<u8> {
    use hickory_proto::op::{Message, ResponseCode};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};
    let Ok(q) = Message::from_vec(query) else {
        return Vec::new();
    };
    let mut m = Message::response(q.metadata.id, q.metadata.op_code);
    m.add_queries(q.queries.iter().cloned());
    if q.edns.is_some() {
        m.metadata.response_code = ResponseCode::FormErr;
    } else if let Some(question) = q.queries.first() {
        let ip = "127.0.0.77".parse().unwrap();
        m.add_answer(Record::from_rdata(
            question.name().clone(),
            60,
            RData::A(A(ip)),
        ));
    }
    m.to_vec().unwrap()
}

/// A server that refuses every query.
fn refused_reply(query: &[u8]) -> Vec<u8> {
    use hickory_proto::op::{Message, ResponseCode};
    let Ok(q) = Message::from_vec(query) else {
        return Vec::new();
    };
    let mut m = Message::response(q.metadata.id, q.metadata.op_code);
    m.add_queries(q.queries.iter().cloned());
    m.metadata.response_code = ResponseCode::Refused;
    m.to_vec().unwrap()
}

#[test]
fn server_without_edns_is_asked_again_without_it() {
    let (addr, server) = bad_server(2, no_edns_reply);
    let r = resolver(&[addr]);
    let got = smol::block_on(r.query("old.test", RecordType::A));
    assert_eq!(got, Ok(vec![RecordData::A("127.0.0.77".parse().unwrap())]));
    assert_eq!(server.join().unwrap(), 2);
}

#[test]
fn refused_moves_to_the_next_server() {
    let (addr, server) = bad_server(1, refused_reply);
    let dns = DnsServer::start(zone());
    let r = resolver(&[addr, dns.addr()]);
    let got = smol::block_on(r.query("host.remote.test", RecordType::A));
    assert_eq!(got, Ok(vec![RecordData::A("127.0.0.9".parse().unwrap())]));
    assert_eq!(server.join().unwrap(), 1);
    assert_eq!(dns.query_count("host.remote.test", WireType::A), 1);

    // Refused by the only server: temporary.
    let (addr, server) = bad_server(1, refused_reply);
    let r = resolver(&[addr]);
    match smol::block_on(r.query("remote.test", RecordType::Mx)) {
        Err(DnsError::Temporary(why)) => assert!(why.contains("Refused"), "{why}"),
        other => panic!("expected a temporary failure, got {other:?}"),
    }
    assert_eq!(server.join().unwrap(), 1);
}
