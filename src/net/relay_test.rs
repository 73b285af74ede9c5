//! The smarthost test behind the relay settings' "test" button and
//! `facteur relay test`: connect, EHLO, TLS as configured (implicit or
//! STARTTLS), AUTH, QUIT. No mail is sent. The report holds the server's
//! answers; the credentials are never written into it.

use super::conn::MaybeTls;
use super::smtp_client::{opportunistic_tls, read_certificates, verified_tls, Target};
use crate::config::{Relay, RelayTls};
use crate::dns::Resolver;
use futures_rustls::client::TlsStream;
use rustls::pki_types::ServerName;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Bound on each step (connect, handshake, one reply).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest reply kept (RFC 5321 §4.5.3.1.5: 512-byte reply lines; a few
/// EHLO lines).
const MAX_REPLY: usize = 8 * 1024;

/// What the test found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Every step worked.
    pub ok: bool,
    /// `S: ` server lines, `C: ` commands (AUTH without its argument),
    /// and `-- ` notes (TLS, errors).
    pub transcript: Vec<String>,
}

/// Tests the smarthost of `relay`, announcing `ehlo_name`, finding its
/// address through `resolver` as the queue does.
pub async fn relay_test(relay: &Relay, ehlo_name: &str, resolver: &dyn Resolver) -> Report {
    let mut t = Vec::new();
    let ok = match run(relay, ehlo_name, resolver, &mut t).await {
        Ok(()) => true,
        Err(e) => {
            t.push(format!("-- failed: {e}"));
            false
        }
    };
    Report { ok, transcript: t }
}

type Stream = MaybeTls<TlsStream<TcpStream>>;

async fn run(
    relay: &Relay,
    ehlo: &str,
    resolver: &dyn Resolver,
    t: &mut Vec<String>,
) -> io::Result<()> {
    if relay.host.is_empty() {
        return Err(other("no relay host is configured"));
    }
    let tls = if relay.verify_certificate {
        let extra = if relay.ca_file.is_empty() {
            Vec::new()
        } else {
            read_certificates(std::path::Path::new(&relay.ca_file)).map_err(other)?
        };
        verified_tls(&extra).map_err(other)?
    } else {
        opportunistic_tls().map_err(other)?
    };
    let ip = match relay.host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => resolver
            .ip_addrs(&relay.host)
            .await
            .map_err(|e| other(format!("{}: {e}", relay.host)))?
            .into_iter()
            .next()
            .ok_or_else(|| other(format!("{} has no address", relay.host)))?,
    };
    let addr = SocketAddr::new(ip, relay.port);
    let target = Target::new(addr, relay.host.clone(), tls);
    t.push(format!("-- connecting to {} ({addr})", relay.host));
    let tcp = step(TcpStream::connect(addr)).await?;
    let mut s: Stream = Stream::Plain(tcp);
    if relay.tls == RelayTls::Tls {
        s = handshake(&target, s, t).await?;
    }
    let mut buf = Vec::new();
    expect(&mut s, &mut buf, t, 220).await?;
    command(&mut s, &mut buf, t, &format!("EHLO {ehlo}"), 250).await?;
    if relay.tls == RelayTls::Starttls {
        command(&mut s, &mut buf, t, "STARTTLS", 220).await?;
        s = handshake(&target, s, t).await?;
        buf.clear();
        command(&mut s, &mut buf, t, &format!("EHLO {ehlo}"), 250).await?;
    }
    if !relay.username.is_empty() {
        // RFC 4616: authzid NUL authcid NUL passwd.
        let creds = format!("\0{}\0{}", relay.username, relay.password);
        let line = format!(
            "AUTH PLAIN {}",
            crate::proto::base64::encode(creds.as_bytes())
        );
        t.push(format!("C: AUTH PLAIN (credentials of {})", relay.username));
        send(&mut s, &line).await?;
        expect(&mut s, &mut buf, t, 235).await?;
    }
    command(&mut s, &mut buf, t, "QUIT", 221).await?;
    let _ = step(s.close()).await;
    Ok(())
}

async fn handshake(target: &Target, s: Stream, t: &mut Vec<String>) -> io::Result<Stream> {
    let Stream::Plain(tcp) = s else {
        return Err(other("TLS is already active"));
    };
    let name = ServerName::try_from(target.host.trim_end_matches('.').to_string())
        .map_err(|e| other(format!("{}: {e}", target.host)))?;
    let connector = futures_rustls::TlsConnector::from(target.tls.clone());
    let tls = step(connector.connect(name, tcp))
        .await
        .map_err(|e| other(format!("TLS handshake failed: {e}")))?;
    let version = tls.get_ref().1.protocol_version();
    t.push(format!("-- TLS established ({version:?})"));
    Ok(Stream::Tls(Box::new(tls)))
}

async fn send(s: &mut Stream, line: &str) -> io::Result<()> {
    step(async {
        s.write_all(format!("{line}\r\n").as_bytes()).await?;
        s.flush().await
    })
    .await
}

async fn command(
    s: &mut Stream,
    buf: &mut Vec<u8>,
    t: &mut Vec<String>,
    line: &str,
    want: u16,
) -> io::Result<()> {
    t.push(format!("C: {line}"));
    send(s, line).await?;
    expect(s, buf, t, want).await
}

/// Reads one reply (RFC 5321 §4.2.1: lines `NNN-` then `NNN `), adds its
/// lines to the transcript, and fails unless its code is `want`.
async fn expect(
    s: &mut Stream,
    buf: &mut Vec<u8>,
    t: &mut Vec<String>,
    want: u16,
) -> io::Result<()> {
    loop {
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line).trim_end().to_string();
            t.push(format!("S: {line}"));
            let code = line.get(..3).and_then(|c| c.parse::<u16>().ok());
            let last = line.as_bytes().get(3) != Some(&b'-');
            match code {
                None => return Err(other("the server's answer is not SMTP")),
                Some(c) if last && c == want => return Ok(()),
                Some(c) if last => return Err(other(format!("expected {want}, got {c}"))),
                Some(_) => {}
            }
        }
        if buf.len() > MAX_REPLY {
            return Err(other("the server's answer is too long"));
        }
        let mut chunk = [0u8; 1024];
        let n = step(s.read(&mut chunk)).await?;
        if n == 0 {
            return Err(other("the server closed the connection"));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// Runs `fut` unless [`STEP_TIMEOUT`] passes first.
async fn step<T>(fut: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    smol::future::or(fut, async {
        smol::Timer::after(STEP_TIMEOUT).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {} s", STEP_TIMEOUT.as_secs()),
        ))
    })
    .await
}

fn other(e: impl ToString) -> io::Error {
    io::Error::other(e.to_string())
}
