//! Outbound SMTP connections: drives the client core
//! ([`crate::proto::smtp::client`]) over TCP and TLS.
//!
//! [`deliver`] makes one attempt at one server: connect, run the
//! transaction, stream the message, and report an [`Outcome`] with a
//! result per recipient. It never fails as a whole: a refused connection,
//! a timeout or a broken TLS handshake defers every undecided recipient
//! with the reason.
//!
//! [`deliver_keeping`] may keep the session open afterwards as a
//! [`Connection`], which carries further transactions to the same server
//! ([`Connection::deliver`]) until it is closed.
//!
//! TLS trust comes in two kinds (see [`Target::tls`]):
//! - [`opportunistic_tls`] for MX hosts: encrypt, but accept any
//!   certificate (RFC 7435).
//! - [`verified_tls`] for a smarthost, where credentials are sent: the
//!   certificate must chain to the system roots or to CA certificates the
//!   caller adds, and carry the host name.

use super::conn::MaybeTls;
use crate::proto::smtp::client::{Action, Client, Job, Outcome, Phase, Timeouts, TlsPolicy};
use futures_rustls::client::TlsStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use std::future::Future;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use std::time::{Duration, Instant};

/// The Debian/Raspberry Pi OS bundle of trusted CA certificates.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Bound on the TCP connect (Postfix uses 30 s too).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on a TLS handshake.
pub const TLS_TIMEOUT: Duration = Duration::from_secs(60);
/// Read size for replies.
const READ_CHUNK: usize = 4 * 1024;
/// Read size for the message: one BDAT chunk or one DATA write. Costs this
/// plus up to twice as much of encoded output per delivery in flight. With
/// BDAT the replies are read after the last chunk; at this size a 25 MiB
/// message leaves about 800 short replies (~30 KB) in the socket's
/// receive buffer, well under its default size, so the server is never
/// blocked writing them.
const BODY_CHUNK: usize = 32 * 1024;
/// Bound on closing the connection (TLS close_notify) after the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where to deliver and how.
#[derive(Clone)]
pub struct Target {
    /// The server's address.
    pub addr: SocketAddr,
    /// The server's host name: sent as SNI and, with [`verified_tls`],
    /// the name its certificate must carry. An IP address works too.
    pub host: String,
    /// TLS client settings: [`opportunistic_tls`] or [`verified_tls`].
    pub tls: Arc<ClientConfig>,
    /// Bound on the TCP connect.
    pub connect_timeout: Duration,
    /// Bound on a TLS handshake.
    pub tls_timeout: Duration,
    /// Reply timeouts per phase (RFC 5321 4.5.3.2 by default).
    pub timeouts: Timeouts,
}

impl Target {
    /// A target with the default timeouts.
    pub fn new(addr: SocketAddr, host: impl Into<String>, tls: Arc<ClientConfig>) -> Target {
        Target {
            addr,
            host: host.into(),
            tls,
            connect_timeout: CONNECT_TIMEOUT,
            tls_timeout: TLS_TIMEOUT,
            timeouts: Timeouts::default(),
        }
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("addr", &self.addr)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

/// TLS for MX hosts: any certificate is accepted. RFC 7435 (opportunistic
/// security): most MX certificates are self-signed or name another host,
/// and refusing them would only send the mail in the clear instead.
/// Handshake signatures are still checked, so the session is encrypted
/// to whoever holds the presented key.
pub fn opportunistic_tls() -> Result<Arc<ClientConfig>, String> {
    let provider = crate::tls::provider();
    let verifier = Arc::new(AcceptAnyCertificate(provider.clone()));
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// TLS for a smarthost: the certificate must chain to a root of
/// [`SYSTEM_CA_BUNDLE`] or to one of `extra_roots` (DER; e.g. a private
/// CA, or a self-signed server certificate) and carry [`Target::host`].
pub fn verified_tls(extra_roots: &[CertificateDer<'static>]) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    if let Ok(iter) = CertificateDer::pem_file_iter(SYSTEM_CA_BUNDLE) {
        roots.add_parsable_certificates(iter.filter_map(Result::ok));
    }
    for cert in extra_roots {
        roots
            .add(cert.clone())
            .map_err(|e| format!("cannot trust the given CA certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "no trusted CA certificates: {SYSTEM_CA_BUNDLE} is missing and none were given"
        ));
    }
    let config = ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Reads the certificates of a PEM file (for [`verified_tls`]).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no PEM certificate in {}", path.display()));
    }
    Ok(certs)
}

/// Makes one delivery attempt of `message` for `job` at `target`.
///
/// `message` yields the message bytes in order, e.g.
/// `prefix.as_slice().chain(blob_file)`; it is read in bounded chunks,
/// only once the server has accepted a recipient. Reading is blocking
/// `std::io` (a local file): each read is short.
///
/// Under [`TlsPolicy::Opportunistic`], a failed STARTTLS handshake is
/// followed by one more attempt in the clear (RFC 7435 3); the outcome
/// then has `tls_failed` set and `tls` false.
pub async fn deliver<R: Read>(target: &Target, job: &Job, mut message: R) -> Outcome {
    deliver_keeping(target, job, &mut message, false).await.0
}

/// As [`deliver`], but when `keep` the session stays open after the
/// transaction, when the server allows, and comes back as a
/// [`Connection`] for the next message to the same server.
pub async fn deliver_keeping<R: Read>(
    target: &Target,
    job: &Job,
    message: &mut R,
    keep: bool,
) -> (Outcome, Option<Connection>) {
    let (outcome, kept) = attempt(target, job.clone(), message, keep).await;
    if outcome.tls_failed && job.tls == TlsPolicy::Opportunistic && !job.implicit_tls {
        log::info!(
            "smtp client: TLS with {} ({}) failed; retrying without TLS",
            target.host,
            target.addr
        );
        let mut plain = job.clone();
        plain.tls = TlsPolicy::None;
        let (mut retry, kept) = attempt(target, plain, message, keep).await;
        retry.tls_failed = true;
        return (retry, kept);
    }
    (outcome, kept)
}

/// An SMTP session kept open between transactions (RFC 5321 3.3: a
/// session may carry several). It holds a socket and its TLS state, so a
/// cache of them must be bounded.
pub struct Connection {
    client: Client,
    stream: Stream,
    target: Target,
    opened: Instant,
    transactions: u32,
}

/// What came of a transaction on a kept [`Connection`].
pub enum Reused {
    /// The transaction ran (whatever its results); the connection comes
    /// back if it is still open.
    Ran(Outcome, Option<Box<Connection>>),
    /// The connection was no longer usable (closed while idle, or RSET
    /// refused): nothing of the message was sent, so a new connection
    /// may carry it. The text says why.
    Stale(String),
}

impl Connection {
    /// Where it goes.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Transactions run on it so far.
    pub fn transactions(&self) -> u32 {
        self.transactions
    }

    /// Time since it was opened.
    pub fn age(&self) -> Duration {
        self.opened.elapsed()
    }

    /// Runs one more transaction, `job`'s sender and recipients (its
    /// session settings are those the connection was opened with).
    pub async fn deliver<R: Read>(self, job: &Job, message: &mut R) -> Reused {
        let Connection {
            mut client,
            stream,
            target,
            opened,
            transactions,
        } = self;
        client.next_transaction(job.clone());
        match drive(&target, &mut client, stream, message).await {
            Ended::Ready(outcome, stream) => Reused::Ran(
                outcome,
                Some(Box::new(Connection {
                    client,
                    stream,
                    target,
                    opened,
                    transactions: transactions.saturating_add(1),
                })),
            ),
            Ended::Done(outcome) => match outcome.recipients.first() {
                Some(r)
                    if outcome
                        .recipients
                        .iter()
                        .all(|r| r.diagnostic().phase == Phase::Reset) =>
                {
                    Reused::Stale(r.diagnostic().text.clone())
                }
                _ => Reused::Ran(outcome, None),
            },
        }
    }

    /// Ends the session: QUIT, a short wait for the reply, and close.
    pub async fn close(self) {
        let Connection {
            mut client,
            stream,
            target,
            ..
        } = self;
        client.close();
        drive(&target, &mut client, stream, &mut io::empty()).await;
    }
}

/// Limits of a [`ConnectionCache`], after Postfix's
/// `smtp_connection_cache_time_limit`, `smtp_connection_reuse_count_limit`
/// and `smtp_connection_reuse_time_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// How long a connection waits, idle, for the next message (zero: no
    /// reuse). Keep it short: the server holds a process or a slot for it.
    pub idle: Duration,
    /// Transactions on one connection, at most.
    pub max_transactions: u32,
    /// No new transaction on a connection older than this.
    pub max_age: Duration,
    /// Idle connections kept in all, over every destination.
    pub max_idle: usize,
}

/// Idle sessions kept for the next message to the same next hop, each
/// under a destination key (a domain, or the smarthost). A connection
/// busy with a transaction is not in the cache, so there are never more
/// idle ones for a destination than transactions that ran to it at once.
pub struct ConnectionCache {
    limits: CacheLimits,
    idle: std::sync::Mutex<Vec<IdleConnection>>,
}

struct IdleConnection {
    key: String,
    connection: Connection,
    since: Instant,
}

impl ConnectionCache {
    /// An empty cache.
    pub fn new(limits: CacheLimits) -> Arc<ConnectionCache> {
        Arc::new(ConnectionCache {
            limits,
            idle: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Whether connections are kept at all.
    pub fn enabled(&self) -> bool {
        !self.limits.idle.is_zero() && self.limits.max_idle > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<IdleConnection>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The most recently used idle connection for `key`, if one is left.
    pub fn take(&self, key: &str) -> Option<Connection> {
        self.expire();
        let mut idle = self.lock();
        let i = idle.iter().rposition(|c| c.key == key)?;
        Some(idle.remove(i).connection)
    }

    /// Keeps `connection` for `key`, unless it has carried its share; it
    /// is closed when it has waited [`CacheLimits::idle`] unused, and the
    /// longest-waiting one goes when the cache is full.
    pub fn put(self: &Arc<Self>, key: &str, connection: Connection) {
        let worn = connection.transactions() >= self.limits.max_transactions
            || connection.age() >= self.limits.max_age;
        if !self.enabled() || worn {
            smol::spawn(connection.close()).detach();
            return;
        }
        let evicted = {
            let mut idle = self.lock();
            idle.push(IdleConnection {
                key: key.to_owned(),
                connection,
                since: Instant::now(),
            });
            let over = idle.len().saturating_sub(self.limits.max_idle);
            idle.drain(..over).collect::<Vec<_>>()
        };
        for c in evicted {
            smol::spawn(c.connection.close()).detach();
        }
        let cache = Arc::downgrade(self);
        let wait = self.limits.idle;
        smol::spawn(async move {
            smol::Timer::after(wait).await;
            if let Some(cache) = cache.upgrade() {
                cache.expire();
            }
        })
        .detach();
    }

    /// Closes the connections that waited too long.
    fn expire(&self) {
        let limit = self.limits.idle;
        let expired: Vec<IdleConnection> = {
            let mut idle = self.lock();
            let (old, kept) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|c| c.since.elapsed() >= limit);
            *idle = kept;
            old
        };
        for c in expired {
            smol::spawn(c.connection.close()).detach();
        }
    }

    /// Idle connections now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no connection is idle.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How [`drive`] ended.
enum Ended {
    /// The session is over and the stream closed.
    Done(Outcome),
    /// The transaction is over and the session kept.
    Ready(Outcome, Stream),
}

/// One connection.
async fn attempt<R: Read>(
    target: &Target,
    job: Job,
    message: &mut R,
    keep: bool,
) -> (Outcome, Option<Connection>) {
    let addr = target.addr;
    let implicit = job.implicit_tls;
    let mut client = Client::new(job);
    if keep {
        client.keep_open();
    }
    if client.phase() == Phase::Done {
        return (finish(&mut client, None).await, None);
    }
    let opened = Instant::now();
    let tcp = match timeout(target.connect_timeout, TcpStream::connect(addr)).await {
        Ok(tcp) => tcp,
        Err(e) => {
            client.connect_failed(&format!("cannot connect to {addr}: {e}"));
            return (finish(&mut client, None).await, None);
        }
    };
    let _ = tcp.set_nodelay(true);
    log::debug!(
        "smtp client: connected to {addr} (greeting timeout {} s)",
        target.timeouts.greeting.as_secs()
    );
    let stream = if implicit {
        match handshake(target, tcp).await {
            Ok(tls) => Stream::Tls(Box::new(tls)),
            Err(e) => {
                client.tls_failed(&format!("{e} ({addr})"));
                return (finish(&mut client, None).await, None);
            }
        }
    } else {
        Stream::Plain(tcp)
    };
    match drive(target, &mut client, stream, message).await {
        Ended::Done(outcome) => (outcome, None),
        Ended::Ready(outcome, stream) => {
            let kept = Connection {
                client,
                stream,
                target: target.clone(),
                opened,
                transactions: 1,
            };
            (outcome, Some(kept))
        }
    }
}

/// Runs the client over `stream` until the transaction or the session
/// ends.
async fn drive<R: Read>(
    target: &Target,
    client: &mut Client,
    mut stream: Stream,
    message: &mut R,
) -> Ended {
    let addr = target.addr;
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        while let Some(action) = client.poll() {
            match action {
                Action::Send(bytes) => {
                    let limit = target.timeouts.for_phase(client.phase());
                    if let Err(e) = write(&mut stream, &bytes, limit).await {
                        client.connection_lost(&format!("cannot write to {addr}: {e}"));
                    }
                }
                Action::StartTls => {
                    let tcp = match stream {
                        Stream::Plain(tcp) => tcp,
                        tls @ Stream::Tls(_) => {
                            client.tls_failed("TLS is already active");
                            return Ended::Done(finish(client, Some(tls)).await);
                        }
                    };
                    match handshake(target, tcp).await {
                        Ok(tls) => {
                            stream = Stream::Tls(Box::new(tls));
                            client.tls_established();
                        }
                        Err(e) => {
                            log::debug!("smtp client: STARTTLS with {addr} failed: {e}");
                            client.tls_failed(&e.to_string());
                            return Ended::Done(finish(client, None).await);
                        }
                    }
                }
                Action::SendBody => {
                    send_body(target, client, &mut stream, message).await;
                }
                Action::Ready(outcome) => return Ended::Ready(outcome, stream),
                Action::Done(outcome) => {
                    close(stream).await;
                    return Ended::Done(outcome);
                }
            }
        }
        let phase = client.phase();
        let limit = target.timeouts.for_phase(phase);
        match timeout(limit, stream.read(&mut buf)).await {
            Ok(0) => client.connection_lost(&format!(
                "{addr} closed the connection (waiting for the reply to the {})",
                phase.command()
            )),
            Ok(n) => client.feed(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => client.connection_lost(&format!(
                "no reply from {addr} within {} s to the {}",
                limit.as_secs(),
                phase.command()
            )),
            Err(e) => client.connection_lost(&format!("cannot read from {addr}: {e}")),
        }
    }
}

/// Streams the message through the client's encoder (RFC 5321 4.5.3.2.5:
/// each block bounded by the data block timeout).
async fn send_body<R: Read>(
    target: &Target,
    client: &mut Client,
    stream: &mut Stream,
    message: &mut R,
) {
    let addr = target.addr;
    let limit = target.timeouts.data_block;
    let mut input = vec![0u8; BODY_CHUNK];
    let mut out = Vec::with_capacity(2 * BODY_CHUNK + 64);
    loop {
        let n = match message.read(&mut input) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Closing without the end of data makes the server drop
                // the partial message.
                client.local_failure(&format!("cannot read the queued message: {e}"));
                return;
            }
        };
        out.clear();
        client.body_chunk(input.get(..n).unwrap_or_default(), &mut out);
        if let Err(e) = write(stream, &out, limit).await {
            client.connection_lost(&format!("cannot send the message to {addr}: {e}"));
            return;
        }
    }
    out.clear();
    client.body_end(&mut out);
    if let Err(e) = write(stream, &out, limit).await {
        client.connection_lost(&format!("cannot send the message to {addr}: {e}"));
    }
}

/// Takes the outcome once the client is done (every failure ends it at
/// once), closing the stream if there is one.
async fn finish(client: &mut Client, stream: Option<Stream>) -> Outcome {
    if let Some(s) = stream {
        close(s).await;
    }
    // A no-op when the client is done, as it is on every path here.
    client.local_failure("the session ended without an outcome");
    while let Some(action) = client.poll() {
        if let Action::Done(o) = action {
            return o;
        }
    }
    Outcome::default()
}

async fn handshake(target: &Target, tcp: TcpStream) -> io::Result<TlsStream<TcpStream>> {
    // A name from DNS may end in the root's dot; SNI carries none (RFC
    // 6066 3).
    let host = target.host.trim_end_matches('.').to_string();
    let name = ServerName::try_from(host)
        .unwrap_or_else(|_| ServerName::IpAddress(target.addr.ip().into()));
    let connector = futures_rustls::TlsConnector::from(target.tls.clone());
    timeout(target.tls_timeout, connector.connect(name, tcp)).await
}

async fn write(stream: &mut Stream, bytes: &[u8], limit: Duration) -> io::Result<()> {
    timeout(limit, async {
        stream.write_all(bytes).await?;
        stream.flush().await
    })
    .await
}

async fn close(mut stream: Stream) {
    let _ = timeout(CLOSE_TIMEOUT, stream.close()).await;
}

/// Runs `fut` unless `limit` passes first (then `TimedOut`).
pub(crate) async fn timeout<T>(
    limit: Duration,
    fut: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    smol::future::or(fut, async {
        smol::Timer::after(limit).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("timed out after {} s", limit.as_secs()),
        ))
    })
    .await
}

/// The connection, before or after TLS.
type Stream = MaybeTls<TlsStream<TcpStream>>;

/// Accepts any server certificate; see [`opportunistic_tls`].
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
