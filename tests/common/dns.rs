//! A small authoritative DNS server for end-to-end tests.
//!
//! Tests declare the records they need in a [`Zone`], start a [`DnsServer`]
//! on loopback, and point the code under test at [`DnsServer::addr`]. UDP and
//! TCP listen on the same port. The server answers from background threads and
//! stops (joining them) when the handle is dropped.
//!
//! ```ignore
//! let mut z = Zone::new();
//! z.mx("remote.test", 10, "mx.remote.test").a("mx.remote.test", "127.0.0.2");
//! let dns = DnsServer::start(z);
//! // ... use dns.addr() ...
//! dns.update(|z| { z.remove("mx.remote.test"); });
//! ```
//!
//! Semantics, kept close to a real authoritative server:
//! - every answer but SERVFAIL has AA set; names are matched
//!   case-insensitively and the question is echoed as asked;
//! - a name with no records of the asked type gets NOERROR with an empty
//!   answer (NODATA) if the name or any name below it exists, NXDOMAIN
//!   otherwise (the server holds every name: undeclared ones do not exist);
//!   both carry an SOA in the authority section whose TTL and MINIMUM are
//!   [`Zone::negative_ttl`], owned by the last two labels of the name
//!   (`remote.test` for `x.mx.remote.test`);
//! - CNAMEs are followed within the zone (up to 8 steps) and the whole chain
//!   is returned; the response code is that of the last name in the chain
//!   (a [`Zone::foreign_cname`] ends the chain there, without SOA);
//! - a UDP answer that does not fit the client's payload size (512 bytes, or
//!   the EDNS size it advertised) is sent truncated (TC set, no records), and
//!   names marked with [`Zone::truncate_udp`] are always truncated over UDP.

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, PTR, SOA, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// TTL given to records unless [`Zone::default_ttl`] says otherwise.
pub const DEFAULT_TTL: u32 = 300;
/// SOA TTL and MINIMUM in negative answers unless changed.
pub const DEFAULT_NEGATIVE_TTL: u32 = 60;
/// How long a worker waits on a socket before checking whether to stop.
const POLL: Duration = Duration::from_millis(100);
/// Longest CNAME chain followed.
const MAX_CNAME_CHAIN: usize = 8;
/// Payload size advertised in our EDNS OPT record.
const OUR_EDNS_PAYLOAD: u16 = 1232;

/// One record's data, as stored in a [`Zone`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// Preference and exchange host ("" or "." for a null MX).
    Mx(u16, String),
    /// The character-strings of one TXT record (each at most 255 bytes).
    Txt(Vec<Vec<u8>>),
    /// The canonical name.
    Cname(String),
    /// The host name a reverse name points to.
    Ptr(String),
}

impl Data {
    fn record_type(&self) -> RecordType {
        match self {
            Data::A(_) => RecordType::A,
            Data::Aaaa(_) => RecordType::AAAA,
            Data::Mx(..) => RecordType::MX,
            Data::Txt(_) => RecordType::TXT,
            Data::Cname(_) => RecordType::CNAME,
            Data::Ptr(_) => RecordType::PTR,
        }
    }

    fn to_rdata(&self) -> RData {
        match self {
            Data::A(ip) => RData::A(A(*ip)),
            Data::Aaaa(ip) => RData::AAAA(AAAA(*ip)),
            Data::Mx(pref, host) => RData::MX(MX::new(*pref, fqdn(host))),
            Data::Txt(strings) => {
                RData::TXT(TXT::from_bytes(strings.iter().map(|s| &s[..]).collect()))
            }
            Data::Cname(target) => RData::CNAME(CNAME(fqdn(target))),
            Data::Ptr(host) => RData::PTR(PTR(fqdn(host))),
        }
    }
}

/// A stored record.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    ttl: u32,
    data: Data,
}

/// Special behaviour for a name, overriding its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    NxDomain,
    ServFail,
    NoAnswer,
}

/// The records a [`DnsServer`] serves. Every builder method returns `&mut Self`
/// so declarations can be chained. Names are case-insensitive and may carry a
/// trailing dot. Addresses are parsed from strings and panic when malformed
/// (a mistake in the test itself).
#[derive(Clone, Debug)]
pub struct Zone {
    entries: Vec<Entry>,
    faults: HashMap<String, Fault>,
    truncated: HashSet<String>,
    /// Names whose CNAME is returned alone (see [`Zone::foreign_cname`]).
    foreign: HashSet<String>,
    ttl: u32,
    negative_ttl: u32,
}

impl Default for Zone {
    fn default() -> Self {
        Self::new()
    }
}

impl Zone {
    /// An empty zone: every name is NXDOMAIN.
    pub fn new() -> Self {
        Zone {
            entries: Vec::new(),
            faults: HashMap::new(),
            truncated: HashSet::new(),
            foreign: HashSet::new(),
            ttl: DEFAULT_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
        }
    }

    /// TTL for the records added after this call.
    pub fn default_ttl(&mut self, ttl: u32) -> &mut Self {
        self.ttl = ttl;
        self
    }

    /// TTL (and SOA MINIMUM) of the SOA sent with NXDOMAIN and NODATA answers.
    pub fn negative_ttl(&mut self, ttl: u32) -> &mut Self {
        self.negative_ttl = ttl;
        self
    }

    /// Adds any record.
    pub fn add(&mut self, name: &str, data: Data) -> &mut Self {
        let name = normalize(name);
        self.faults.remove(&name);
        self.entries.push(Entry {
            name,
            ttl: self.ttl,
            data,
        });
        self
    }

    /// Adds an A record.
    pub fn a(&mut self, name: &str, ip: &str) -> &mut Self {
        let ip = ip
            .parse()
            .unwrap_or_else(|_| panic!("bad IPv4 address {ip:?}"));
        self.add(name, Data::A(ip))
    }

    /// Adds an AAAA record.
    pub fn aaaa(&mut self, name: &str, ip: &str) -> &mut Self {
        let ip = ip
            .parse()
            .unwrap_or_else(|_| panic!("bad IPv6 address {ip:?}"));
        self.add(name, Data::Aaaa(ip))
    }

    /// Adds an MX record.
    pub fn mx(&mut self, name: &str, preference: u16, exchange: &str) -> &mut Self {
        self.add(name, Data::Mx(preference, exchange.to_string()))
    }

    /// Adds a null MX (RFC 7505: preference 0, exchange "."): the domain
    /// accepts no mail.
    pub fn null_mx(&mut self, name: &str) -> &mut Self {
        self.add(name, Data::Mx(0, ".".to_string()))
    }

    /// Adds a TXT record; text longer than 255 bytes is split into several
    /// character-strings, which a reader must concatenate.
    pub fn txt(&mut self, name: &str, text: &str) -> &mut Self {
        let strings = if text.is_empty() {
            vec![Vec::new()]
        } else {
            text.as_bytes().chunks(255).map(<[u8]>::to_vec).collect()
        };
        self.add(name, Data::Txt(strings))
    }

    /// Adds a TXT record made of exactly these character-strings, for
    /// records split at places of the publisher's choosing (an SPF record
    /// in several strings, say). Each must be at most 255 bytes.
    pub fn txt_parts(&mut self, name: &str, parts: &[&str]) -> &mut Self {
        assert!(!parts.is_empty(), "a TXT record has at least one string");
        for p in parts {
            assert!(p.len() <= 255, "TXT character-string over 255 bytes: {p:?}");
        }
        let strings = parts.iter().map(|p| p.as_bytes().to_vec()).collect();
        self.add(name, Data::Txt(strings))
    }

    /// Adds a CNAME record. A CNAME should be the only record at its name.
    pub fn cname(&mut self, name: &str, target: &str) -> &mut Self {
        self.add(name, Data::Cname(target.to_string()))
    }

    /// Adds a CNAME that the server returns alone: not followed, and with
    /// no SOA, as a server does when the target lies in a zone it does not
    /// hold. The client must ask for the target itself.
    pub fn foreign_cname(&mut self, name: &str, target: &str) -> &mut Self {
        self.foreign.insert(normalize(name));
        self.cname(name, target)
    }

    /// Adds a PTR record for an IPv4 or IPv6 address (the reverse name under
    /// in-addr.arpa or ip6.arpa is derived from `ip`).
    pub fn ptr(&mut self, ip: &str, host: &str) -> &mut Self {
        let ip: IpAddr = ip
            .parse()
            .unwrap_or_else(|_| panic!("bad IP address {ip:?}"));
        self.add(&reverse_name(ip), Data::Ptr(host.to_string()))
    }

    /// Removes the records of a name and answers NXDOMAIN for it. (Names
    /// that were never declared are NXDOMAIN already; this states it, or
    /// makes an existing name disappear.)
    pub fn nxdomain(&mut self, name: &str) -> &mut Self {
        let name = normalize(name);
        self.entries.retain(|e| e.name != name);
        self.faults.insert(name, Fault::NxDomain);
        self
    }

    /// Answers SERVFAIL for every query of this name (its records stay, and
    /// come back after [`Zone::clear_fault`]).
    pub fn servfail(&mut self, name: &str) -> &mut Self {
        self.faults.insert(normalize(name), Fault::ServFail);
        self
    }

    /// Never answers queries for this name, over UDP or TCP, so that a
    /// client's timeout can be tested.
    pub fn no_answer(&mut self, name: &str) -> &mut Self {
        self.faults.insert(normalize(name), Fault::NoAnswer);
        self
    }

    /// Removes a `servfail`, `no_answer` or `nxdomain` mark.
    pub fn clear_fault(&mut self, name: &str) -> &mut Self {
        self.faults.remove(&normalize(name));
        self
    }

    /// Answers queries for this name over UDP with the TC bit and no
    /// records, so that the client must retry over TCP.
    pub fn truncate_udp(&mut self, name: &str) -> &mut Self {
        self.truncated.insert(normalize(name));
        self
    }

    /// Removes every record and mark of a name.
    pub fn remove(&mut self, name: &str) -> &mut Self {
        let name = normalize(name);
        self.entries.retain(|e| e.name != name);
        self.faults.remove(&name);
        self.truncated.remove(&name);
        self.foreign.remove(&name);
        self
    }

    /// Removes the records of one type at a name.
    pub fn remove_type(&mut self, name: &str, rtype: RecordType) -> &mut Self {
        let name = normalize(name);
        self.entries
            .retain(|e| !(e.name == name && e.data.record_type() == rtype));
        self
    }

    /// The records stored at a name, of one type.
    pub fn records(&self, name: &str, rtype: RecordType) -> Vec<Data> {
        let name = normalize(name);
        self.lookup(&name, rtype).map(|e| e.data.clone()).collect()
    }

    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> impl Iterator<Item = &'a Entry> {
        self.entries
            .iter()
            .filter(move |e| e.name == name && e.data.record_type() == rtype)
    }

    /// Whether a name exists: it has records, or a name below it does (an
    /// empty non-terminal, which answers NODATA rather than NXDOMAIN).
    fn exists(&self, name: &str) -> bool {
        let suffix = format!(".{name}");
        self.entries
            .iter()
            .any(|e| e.name == name || e.name.ends_with(&suffix))
    }

    fn fault(&self, name: &str) -> Option<Fault> {
        self.faults.get(name).copied()
    }

    fn soa(&self, qname: &str) -> Record {
        // The apex is taken to be the last two labels of the name asked.
        let labels: Vec<&str> = qname.split('.').filter(|l| !l.is_empty()).collect();
        let apex = labels[labels.len().saturating_sub(2)..].join(".");
        let mname = if apex.is_empty() {
            "ns.test".to_string()
        } else {
            format!("ns.{apex}")
        };
        let rname = if apex.is_empty() {
            "hostmaster.test".to_string()
        } else {
            format!("hostmaster.{apex}")
        };
        let soa = SOA::new(
            fqdn(&mname),
            fqdn(&rname),
            1,
            3600,
            600,
            86400,
            self.negative_ttl,
        );
        Record::from_rdata(fqdn(&apex), self.negative_ttl, RData::SOA(soa))
    }
}

/// One query the server received, for tests that check what a client asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryLog {
    /// The name asked, lowercased, without the trailing dot.
    pub name: String,
    /// The type asked.
    pub rtype: RecordType,
    /// Whether it came over TCP.
    pub tcp: bool,
}

struct Shared {
    zone: Arc<Mutex<Zone>>,
    log: Mutex<Vec<QueryLog>>,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock must not break the others.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running DNS server. Dropping it stops the server and joins its threads.
pub struct DnsServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl DnsServer {
    /// Binds UDP and TCP on 127.0.0.1, on one ephemeral port, and starts
    /// answering from `zone`.
    pub fn start(zone: Zone) -> DnsServer {
        let (udp, tcp) = bind_pair();
        let addr = udp.local_addr().expect("udp local addr");
        udp.set_read_timeout(Some(POLL)).expect("udp timeout");
        let shared = Arc::new(Shared {
            zone: Arc::new(Mutex::new(zone)),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let connections = Arc::new(Mutex::new(Vec::new()));

        let s = shared.clone();
        let udp_thread = std::thread::Builder::new()
            .name("test-dns-udp".into())
            .spawn(move || serve_udp(udp, s))
            .expect("spawn udp thread");
        let s = shared.clone();
        let c = connections.clone();
        let tcp_thread = std::thread::Builder::new()
            .name("test-dns-tcp".into())
            .spawn(move || serve_tcp(tcp, s, c))
            .expect("spawn tcp thread");

        DnsServer {
            shared,
            addr,
            threads: vec![udp_thread, tcp_thread],
            connections,
        }
    }

    /// The address to send queries to, over UDP or TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port, for configuration files.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Changes the zone while the server runs; the next query sees the change.
    pub fn update<R>(&self, f: impl FnOnce(&mut Zone) -> R) -> R {
        f(&mut lock(&self.shared.zone))
    }

    /// A handle on the zone the server answers from, for changing it from
    /// code that does not hold the server (another thread, a callback).
    /// Lock it briefly: queries wait while it is held.
    pub fn zone(&self) -> Arc<Mutex<Zone>> {
        self.shared.zone.clone()
    }

    /// Replaces the whole zone.
    pub fn set_zone(&self, zone: Zone) {
        *lock(&self.shared.zone) = zone;
    }

    /// The queries received so far, oldest first.
    pub fn queries(&self) -> Vec<QueryLog> {
        lock(&self.shared.log).clone()
    }

    /// How many queries for this name and type were received.
    pub fn query_count(&self, name: &str, rtype: RecordType) -> usize {
        let name = normalize(name);
        lock(&self.shared.log)
            .iter()
            .filter(|q| q.name == name && q.rtype == rtype)
            .count()
    }

    /// Forgets the queries received so far.
    pub fn clear_queries(&self) {
        lock(&self.shared.log).clear();
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the TCP accept loop; the UDP loop wakes on its read timeout.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let conns: Vec<_> = lock(&self.connections).drain(..).collect();
        for t in conns {
            let _ = t.join();
        }
    }
}

/// Binds a UDP socket and a TCP listener on the same loopback port.
fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp on 127.0.0.1");
        let addr = udp.local_addr().expect("udp local addr");
        if let Ok(tcp) = TcpListener::bind(addr) {
            return (udp, tcp);
        }
    }
    panic!("could not bind UDP and TCP on one port of 127.0.0.1");
}

fn serve_udp(sock: UdpSocket, shared: Arc<Shared>) {
    let mut buf = [0u8; 4096];
    while !shared.stop.load(Ordering::SeqCst) {
        let (n, peer) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => continue,
        };
        if let Some(reply) = answer(&shared, &buf[..n], false) {
            let _ = sock.send_to(&reply, peer);
        }
    }
}

fn serve_tcp(listener: TcpListener, shared: Arc<Shared>, conns: Arc<Mutex<Vec<JoinHandle<()>>>>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("test-dns-conn".into())
            .spawn(move || serve_tcp_conn(stream, s));
        if let Ok(h) = handle {
            let mut list = lock(&conns);
            list.retain(|h| !h.is_finished());
            list.push(h);
        }
    }
}

/// Reads exactly `buf.len()` bytes, giving up when the server stops.
/// Returns false on EOF, error or stop.
fn read_full(stream: &mut TcpStream, buf: &mut [u8], shared: &Shared) -> bool {
    let mut got = 0;
    while got < buf.len() {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        match stream.read(&mut buf[got..]) {
            Ok(0) => return false,
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

fn serve_tcp_conn(mut stream: TcpStream, shared: Arc<Shared>) {
    if stream.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    loop {
        let mut len = [0u8; 2];
        if !read_full(&mut stream, &mut len, &shared) {
            break;
        }
        let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
        if !read_full(&mut stream, &mut msg, &shared) {
            break;
        }
        let Some(reply) = answer(&shared, &msg, true) else {
            // A no_answer name: hold the connection silent until the client
            // gives up or the server stops.
            continue;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

/// Builds the wire reply to one query, or None to stay silent.
fn answer(shared: &Shared, packet: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let query = match Message::from_vec(packet) {
        Ok(q) => q,
        Err(_) => {
            // Answer FORMERR if at least the ID is there.
            if packet.len() < 12 {
                return None;
            }
            let id = u16::from_be_bytes([packet[0], packet[1]]);
            let reply = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
            return reply.to_vec().ok();
        }
    };
    if query.metadata.message_type != MessageType::Query {
        return None;
    }

    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.checking_disabled = query.metadata.checking_disabled;
    reply.add_queries(query.queries.iter().cloned());
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(OUR_EDNS_PAYLOAD);
        reply.set_edns(edns);
    }

    if query.metadata.op_code != OpCode::Query {
        reply.metadata.response_code = ResponseCode::NotImp;
        return reply.to_vec().ok();
    }
    let [question] = query.queries.as_slice() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply.to_vec().ok();
    };
    let qname = normalize(&question.name().to_ascii());
    let qtype = question.query_type();
    lock(&shared.log).push(QueryLog {
        name: qname.clone(),
        rtype: qtype,
        tcp,
    });
    if question.query_class() != DNSClass::IN {
        reply.metadata.response_code = ResponseCode::Refused;
        return reply.to_vec().ok();
    }

    let zone = lock(&shared.zone);
    if zone.fault(&qname) == Some(Fault::NoAnswer) {
        return None;
    }
    reply.metadata.authoritative = true;
    if !tcp && zone.truncated.contains(&qname) {
        reply.metadata.truncation = true;
        return reply.to_vec().ok();
    }

    let mut name = qname.clone();
    let mut owner = question.name().clone();
    let mut seen = HashSet::new();
    loop {
        match zone.fault(&name) {
            Some(Fault::ServFail) => {
                // A server failure carries no data, and is not authoritative.
                reply.answers.clear();
                reply.metadata.authoritative = false;
                reply.metadata.response_code = ResponseCode::ServFail;
                break;
            }
            Some(Fault::NoAnswer) => return None,
            Some(Fault::NxDomain) => {
                reply.metadata.response_code = ResponseCode::NXDomain;
                reply.add_authority(zone.soa(&name));
                break;
            }
            None => {}
        }
        let records: Vec<&Entry> = zone.lookup(&name, qtype).collect();
        if !records.is_empty() {
            for e in records {
                reply.add_answer(Record::from_rdata(owner.clone(), e.ttl, e.data.to_rdata()));
            }
            break;
        }
        let cname = zone.lookup(&name, RecordType::CNAME).next().cloned();
        if let Some(e) = cname {
            let Data::Cname(target) = &e.data else {
                unreachable!()
            };
            reply.add_answer(Record::from_rdata(owner.clone(), e.ttl, e.data.to_rdata()));
            if zone.foreign.contains(&name) {
                break;
            }
            name = normalize(target);
            owner = fqdn(target);
            if !seen.insert(name.clone()) || seen.len() > MAX_CNAME_CHAIN {
                break;
            }
            continue;
        }
        if zone.exists(&name) {
            // NODATA (also at the end of a CNAME chain).
            reply.add_authority(zone.soa(&name));
        } else {
            // Every name not declared is taken not to exist, including the
            // target of a CNAME; the chain stays in the answer (RFC 6604).
            reply.metadata.response_code = ResponseCode::NXDomain;
            reply.add_authority(zone.soa(&name));
        }
        break;
    }
    drop(zone);

    let wire = reply.to_vec().ok()?;
    let limit = query
        .edns
        .as_ref()
        .map(|e| e.max_payload().max(512))
        .unwrap_or(512) as usize;
    if !tcp && wire.len() > limit {
        let mut short = reply.truncate();
        short.metadata.truncation = true;
        return short.to_vec().ok();
    }
    Some(wire)
}

/// Lowercase, without the trailing dot: how names are keyed here.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A fully qualified hickory name; "" and "." are the root.
fn fqdn(name: &str) -> Name {
    let n = name.trim_end_matches('.');
    if n.is_empty() {
        return Name::root();
    }
    Name::from_ascii(format!("{n}.")).unwrap_or_else(|e| panic!("bad DNS name {name:?}: {e}"))
}

/// The reverse-lookup name of an address, without the trailing dot.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}
