//! The stub resolver: DNS over UDP and TCP on smol.
//!
//! [`StubResolver`] sends recursive queries (RD set) to the configured name
//! servers, or to those of `/etc/resolv.conf`, and implements
//! [`Resolver`]. The pure parts (messages, CNAME chasing, the cache,
//! resolv.conf) are in [`crate::dns`].
//!
//! For each query (RFC 1536 §1, as the C library does): up to `attempts`
//! rounds; in each, every name server in turn, each given `timeout` to
//! answer. A SERVFAIL, REFUSED or other error code, a timeout, a network
//! error or an unreadable reply moves on to the next server. A UDP query
//! goes from a fresh socket on an ephemeral port with a random ID (RFC 5452
//! §9.2), and only a reply from that server with the same ID and question
//! is taken; anything else is ignored. A truncated reply (TC) is asked again
//! over TCP (RFC 1035 §4.2.2, RFC 7766 §5).

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpStream, UdpSocket};

use crate::config;
use crate::dns::cache::Cache;
use crate::dns::chase::{Answer, Chase, Step};
use crate::dns::message::{build_query, check_name, read_reply, Rcode, ReadReply, Reply};
use crate::dns::{resolv_conf, BoxFuture, DnsError, RecordData, RecordType, Resolver};

/// Where the system's name servers are listed.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The name server used when none is configured or found.
pub const FALLBACK_NAMESERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53);

/// Largest resolv.conf read; the rest is ignored (a real one is a few
/// hundred bytes).
const MAX_RESOLV_CONF: u64 = 64 * 1024;

/// Receive buffer for one UDP reply, allocated per query in flight. We
/// advertise 1232 bytes (EDNS0); the margin tolerates servers that ignore
/// it rather than reading a cut datagram.
const UDP_BUFFER: usize = 4096;

/// A DNS stub resolver with a cache. Queries run concurrently: the cache
/// lock is never held across I/O.
#[derive(Debug)]
pub struct StubResolver {
    servers: Vec<SocketAddr>,
    timeout: Duration,
    attempts: u32,
    cache: Mutex<Cache>,
    rng: SystemRandom,
}

impl StubResolver {
    /// A resolver asking `nameservers` in turn, waiting `timeout` for each
    /// answer, for `attempts` rounds (at least 1), caching up to
    /// `cache_entries` answers. An empty list means the servers of
    /// `/etc/resolv.conf`, whose `options timeout:N attempts:N` then replace
    /// `timeout` and `attempts`; if it lists none, 127.0.0.1:53.
    pub fn new(
        nameservers: Vec<SocketAddr>,
        timeout: Duration,
        attempts: u32,
        cache_entries: usize,
    ) -> StubResolver {
        let (mut servers, mut timeout, mut attempts) = (nameservers, timeout, attempts);
        if servers.is_empty() {
            let conf = read_resolv_conf();
            servers = conf.nameservers;
            timeout = conf.timeout.unwrap_or(timeout);
            attempts = conf.attempts.unwrap_or(attempts);
            if servers.is_empty() {
                log::warn!("dns: no name server in {RESOLV_CONF}; using {FALLBACK_NAMESERVER}");
                servers.push(FALLBACK_NAMESERVER);
            }
        }
        log::debug!("dns: name servers {servers:?}, timeout {timeout:?}, {attempts} attempts");
        StubResolver {
            servers,
            timeout,
            attempts: attempts.max(1),
            cache: Mutex::new(Cache::new(cache_entries)),
            rng: SystemRandom::new(),
        }
    }

    /// The resolver the `[dns]` section describes.
    pub fn from_config(cfg: &config::Dns) -> StubResolver {
        StubResolver::new(
            cfg.nameservers.iter().map(|n| n.0).collect(),
            cfg.timeout.0,
            cfg.attempts,
            usize::try_from(cfg.cache_entries).unwrap_or(usize::MAX),
        )
    }

    /// The name servers asked, in order.
    pub fn nameservers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// The time given to each server to answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Rounds over the name servers.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<RecordData>, DnsError> {
        let name = match check_name(name) {
            Ok(n) => n,
            Err(e) => {
                log::debug!("dns: {rtype} {name:?}: not a valid name");
                return Err(e);
            }
        };
        let cached = self.cache().get(&name, rtype, Instant::now());
        if let Some(result) = cached {
            log::debug!("dns: {rtype} {name}: {} (cached)", describe(&result));
            return result;
        }
        let mut chase = Chase::new(&name, rtype);
        let answer = loop {
            let asked = chase.name().to_string();
            let reply = match self.exchange(&asked, rtype).await {
                Ok(r) => r,
                Err(e) => break Answer::uncached(Err(e)),
            };
            match chase.feed(&reply) {
                Step::Query(_) => continue,
                Step::Done(a) => break a,
            }
        };
        self.cache().insert(&name, rtype, &answer, Instant::now());
        log::debug!("dns: {rtype} {name}: {}", describe(&answer.result));
        answer.result
    }

    /// Asks the servers in turn until one gives NOERROR or NXDOMAIN.
    async fn exchange(&self, name: &str, rtype: RecordType) -> Result<Reply, DnsError> {
        let mut last = DnsError::Temporary("no name server".into());
        for _ in 0..self.attempts {
            for &server in &self.servers {
                let outcome = self.ask(server, name, rtype).await;
                match outcome {
                    Ok(reply) if matches!(reply.rcode, Rcode::NoError | Rcode::NxDomain) => {
                        log::debug!("dns: {server}: {rtype} {name}: {:?}", reply.rcode);
                        return Ok(reply);
                    }
                    Ok(reply) => {
                        log::debug!("dns: {server}: {rtype} {name}: {:?}", reply.rcode);
                        last = DnsError::Temporary(format!("{server} answered {:?}", reply.rcode));
                    }
                    Err(e) => {
                        log::debug!("dns: {server}: {rtype} {name}: {e}");
                        last = e;
                    }
                }
            }
        }
        Err(last)
    }

    /// One question to one server: UDP, then TCP if truncated.
    async fn ask(
        &self,
        server: SocketAddr,
        name: &str,
        rtype: RecordType,
    ) -> Result<Reply, DnsError> {
        let id = self.random_id()?;
        let mut query = build_query(id, name, rtype, true)?;
        let mut reply = udp_exchange(server, &query, id, name, rtype, self.timeout).await?;
        let mut id = id;
        if reply.rcode == Rcode::FormErr && !reply.edns {
            // RFC 6891 §7: a server that does not know EDNS answers FORMERR
            // without an OPT record; ask it again without one.
            id = self.random_id()?;
            query = build_query(id, name, rtype, false)?;
            reply = udp_exchange(server, &query, id, name, rtype, self.timeout).await?;
        }
        if reply.truncated {
            log::debug!("dns: {server}: {rtype} {name}: truncated, asking over TCP");
            reply = tcp_exchange(server, &query, id, name, rtype, self.timeout).await?;
        }
        Ok(reply)
    }

    fn random_id(&self) -> Result<u16, DnsError> {
        let mut b = [0u8; 2];
        self.rng
            .fill(&mut b)
            .map_err(|_| DnsError::Temporary("no random numbers for the query ID".into()))?;
        Ok(u16::from_ne_bytes(b))
    }
}

impl Resolver for StubResolver {
    fn query<'a>(
        &'a self,
        name: &'a str,
        rtype: RecordType,
    ) -> BoxFuture<'a, Result<Vec<RecordData>, DnsError>> {
        Box::pin(self.lookup(name, rtype))
    }
}

/// The name servers and options of `/etc/resolv.conf`; nothing if it
/// cannot be read.
fn read_resolv_conf() -> resolv_conf::ResolvConf {
    let mut text = String::new();
    let read = std::fs::File::open(RESOLV_CONF)
        .and_then(|f| f.take(MAX_RESOLV_CONF).read_to_string(&mut text));
    if let Err(e) = read {
        log::warn!("dns: cannot read {RESOLV_CONF}: {e}");
        return resolv_conf::ResolvConf::default();
    }
    resolv_conf::parse(&text)
}

fn describe(result: &Result<Vec<RecordData>, DnsError>) -> String {
    match result {
        Ok(r) if r.is_empty() => "no records".into(),
        Ok(r) => format!("{} records", r.len()),
        Err(e) => e.to_string(),
    }
}

fn net_error(server: SocketAddr, e: std::io::Error) -> DnsError {
    DnsError::Temporary(format!("{server}: {e}"))
}

/// Runs `work`, giving up after `timeout`.
async fn within<T>(
    server: SocketAddr,
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, DnsError>>,
) -> Result<T, DnsError> {
    smol::future::or(work, async {
        smol::Timer::after(timeout).await;
        Err(DnsError::Temporary(format!(
            "{server}: no answer within {timeout:?}"
        )))
    })
    .await
}

/// One UDP query and its reply (RFC 1035 §4.2.1).
async fn udp_exchange(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    name: &str,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Reply, DnsError> {
    within(server, timeout, async {
        let local = match server {
            SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
        };
        let sock = UdpSocket::bind(local)
            .await
            .map_err(|e| net_error(server, e))?;
        // Connected: the kernel drops datagrams from other addresses, and
        // an ICMP "port unreachable" ends the wait at once.
        sock.connect(server)
            .await
            .map_err(|e| net_error(server, e))?;
        sock.send(query).await.map_err(|e| net_error(server, e))?;
        let mut buf = vec![0u8; UDP_BUFFER];
        loop {
            let (n, from) = sock
                .recv_from(&mut buf)
                .await
                .map_err(|e| net_error(server, e))?;
            if from != server {
                continue;
            }
            match read_reply(buf.get(..n).unwrap_or_default(), id, name, rtype) {
                ReadReply::Ours(reply) => return Ok(reply),
                ReadReply::NotOurs => {
                    log::debug!("dns: {server}: ignoring a reply that is not ours")
                }
                ReadReply::Malformed(e) => {
                    return Err(DnsError::Malformed(format!("{server}: {e}")))
                }
            }
        }
    })
    .await
}

/// One TCP query and its reply, each framed by a two-byte length (RFC 1035
/// §4.2.2, RFC 7766 §8). The length prefix bounds the reply at 64 KiB.
async fn tcp_exchange(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    name: &str,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Reply, DnsError> {
    within(server, timeout, async {
        let mut stream = TcpStream::connect(server)
            .await
            .map_err(|e| net_error(server, e))?;
        let len = u16::try_from(query.len())
            .map_err(|_| DnsError::Malformed("query too long for TCP".into()))?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        stream
            .write_all(&framed)
            .await
            .map_err(|e| net_error(server, e))?;
        stream.flush().await.map_err(|e| net_error(server, e))?;
        loop {
            let mut len = [0u8; 2];
            stream
                .read_exact(&mut len)
                .await
                .map_err(|e| net_error(server, e))?;
            let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream
                .read_exact(&mut buf)
                .await
                .map_err(|e| net_error(server, e))?;
            match read_reply(&buf, id, name, rtype) {
                ReadReply::Ours(reply) => return Ok(reply),
                ReadReply::NotOurs => {
                    log::debug!("dns: {server}: ignoring a TCP reply that is not ours")
                }
                ReadReply::Malformed(e) => {
                    return Err(DnsError::Malformed(format!("{server}: {e}")))
                }
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_servers_are_kept_and_attempts_at_least_one() {
        let s: SocketAddr = "127.0.0.1:5353".parse().unwrap();
        let r = StubResolver::new(vec![s], Duration::from_millis(300), 0, 10);
        assert_eq!(r.nameservers(), [s]);
        assert_eq!(r.timeout(), Duration::from_millis(300));
        assert_eq!(r.attempts(), 1);
    }

    #[test]
    fn empty_list_reads_resolv_conf_or_falls_back() {
        let r = StubResolver::new(vec![], Duration::from_secs(5), 2, 10);
        assert!(!r.nameservers().is_empty());
        let conf = read_resolv_conf();
        if conf.nameservers.is_empty() {
            assert_eq!(r.nameservers(), [FALLBACK_NAMESERVER]);
        } else {
            assert_eq!(r.nameservers(), conf.nameservers.as_slice());
        }
    }

    #[test]
    fn from_config() {
        let cfg = config::Dns {
            nameservers: vec![config::NameServer("127.0.0.1:5300".parse().unwrap())],
            timeout: config::Dur(Duration::from_secs(3)),
            attempts: 4,
            cache_entries: 7,
        };
        let r = StubResolver::from_config(&cfg);
        assert_eq!(
            r.nameservers(),
            ["127.0.0.1:5300".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(r.timeout(), Duration::from_secs(3));
        assert_eq!(r.attempts(), 4);
    }

    #[test]
    fn invalid_names_are_not_sent() {
        // A port nothing listens on: any query sent would fail as temporary.
        let r = StubResolver::new(
            vec!["127.0.0.1:9".parse().unwrap()],
            Duration::from_millis(100),
            1,
            10,
        );
        let got = smol::block_on(r.query("bad name.example", RecordType::A));
        assert_eq!(got, Err(DnsError::NxDomain));
    }
}
