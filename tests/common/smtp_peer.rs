//! A scripted SMTP server for outbound tests: it plays a remote MX or a
//! smarthost on a loopback address, answers as told (451 for a while, 550,
//! a bad greeting, garbage, silence), optionally offers STARTTLS and
//! requires AUTH PLAIN, and records every message it accepts.
//!
//! One thread accepts connections and serves them one at a time; it stops
//! (and is joined) when the handle is dropped.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a peer answers.
#[derive(Clone)]
pub enum Greeting {
    /// `220 <name> ESMTP`.
    Normal,
    /// This line instead (e.g. `554 go away`).
    Line(String),
    /// Bytes that are not SMTP.
    Garbage,
    /// Accept the connection and say nothing.
    Silent,
}

/// The reply to RCPT for a recipient, given the 1-based number of the
/// transaction (MAIL) on this peer.
pub type RcptRule = Arc<dyn Fn(&str, usize) -> String + Send + Sync>;

/// A peer's behaviour.
#[derive(Clone)]
pub struct Script {
    /// Host name in the greeting and EHLO.
    pub name: String,
    /// The greeting.
    pub greeting: Greeting,
    /// TLS for STARTTLS, when offered.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// AUTH PLAIN user and password that MAIL requires, when set.
    pub auth: Option<(String, String)>,
    /// RCPT replies.
    pub rcpt: RcptRule,
    /// Extra EHLO keywords (e.g. `DSN`, `CHUNKING`).
    pub extensions: Vec<String>,
}

impl Script {
    /// Accepts every message.
    pub fn accept(name: &str) -> Script {
        Script {
            name: name.to_owned(),
            greeting: Greeting::Normal,
            tls: None,
            auth: None,
            rcpt: Arc::new(|_, _| "250 2.1.5 ok".to_owned()),
            extensions: Vec::new(),
        }
    }

    /// Sets the RCPT rule.
    pub fn rcpt(mut self, f: impl Fn(&str, usize) -> String + Send + Sync + 'static) -> Script {
        self.rcpt = Arc::new(f);
        self
    }
}

/// A message the peer accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// MAIL FROM address (without brackets).
    pub from: String,
    /// The MAIL line as sent, with its parameters.
    pub mail_line: String,
    /// Accepted recipients.
    pub to: Vec<String>,
    /// The RCPT lines as sent.
    pub rcpt_lines: Vec<String>,
    /// The message, dot-unstuffed, with CRLF line ends.
    pub data: Vec<u8>,
    /// Whether the session was under TLS.
    pub tls: bool,
    /// The AUTH user, if any.
    pub user: Option<String>,
}

/// A running peer.
pub struct SmtpPeer {
    addr: SocketAddr,
    accepted: Arc<Mutex<Vec<Accepted>>>,
    connections: Arc<Mutex<usize>>,
    transactions: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SmtpPeer {
    /// Listens on `addr` (e.g. `127.0.0.2:2525`) and serves `script`.
    pub fn start(addr: SocketAddr, script: Script) -> SmtpPeer {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let transactions = Arc::new(Mutex::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (accepted, connections, transactions, stop) = (
                accepted.clone(),
                connections.clone(),
                transactions.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            *connections.lock().unwrap() += 1;
                            let _ = s.set_nonblocking(false);
                            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                            serve(s, &script, &accepted, &transactions, &stop);
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        };
        SmtpPeer {
            addr,
            accepted,
            connections,
            transactions,
            stop,
            thread: Some(thread),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The messages accepted so far.
    pub fn accepted(&self) -> Vec<Accepted> {
        self.accepted.lock().unwrap().clone()
    }

    /// Connections seen so far.
    pub fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }

    /// Transactions (MAIL commands accepted) so far.
    pub fn transactions(&self) -> usize {
        *self.transactions.lock().unwrap()
    }
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Reads one line (without CRLF), a byte at a time so that nothing is
/// buffered across a STARTTLS. `None` at EOF, error, or 4 KiB.
fn read_line(s: &mut Stream) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(1) => {}
            _ => return None,
        }
        if b[0] == b'\n' {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Some(String::from_utf8_lossy(&line).into_owned());
        }
        line.push(b[0]);
        if line.len() > 4096 {
            return None;
        }
    }
}

fn say(s: &mut Stream, line: &str) -> bool {
    s.write_all(format!("{line}\r\n").as_bytes()).is_ok() && s.flush().is_ok()
}

fn path_of(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
    arg[start..end].to_owned()
}

fn decode_plain(b64: &str) -> Option<(String, String)> {
    let bytes = facteur::proto::base64::decode(b64.trim().as_bytes()).ok()?;
    let mut parts = bytes.split(|&b| b == 0);
    let _authz = parts.next()?;
    let user = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let pass = String::from_utf8(parts.next()?.to_vec()).ok()?;
    Some((user, pass))
}

fn serve(
    tcp: TcpStream,
    script: &Script,
    accepted: &Mutex<Vec<Accepted>>,
    transactions: &Mutex<usize>,
    stop: &AtomicBool,
) {
    let mut s = Stream::Plain(tcp);
    match &script.greeting {
        Greeting::Normal => {
            if !say(&mut s, &format!("220 {} ESMTP test peer", script.name)) {
                return;
            }
        }
        Greeting::Line(l) => {
            say(&mut s, l);
            // Like a real server refusing service: wait for QUIT or close.
            while let Some(l) = read_line(&mut s) {
                if l.eq_ignore_ascii_case("QUIT") {
                    say(&mut s, "221 bye");
                    break;
                }
                say(&mut s, "503 5.5.1 no service");
            }
            return;
        }
        Greeting::Garbage => {
            let _ = s.write_all(b"\x16\x03\x01garbage that is not smtp\r\n");
            let _ = s.tcp().shutdown(Shutdown::Write);
            let mut sink = [0u8; 512];
            while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
            return;
        }
        Greeting::Silent => {
            while !stop.load(Ordering::Relaxed) {
                let mut b = [0u8; 64];
                let _ = s.tcp().set_read_timeout(Some(Duration::from_millis(100)));
                match s.read(&mut b) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => return,
                }
            }
            return;
        }
    }
    let mut tls = false;
    let mut user: Option<String> = None;
    let mut tx: Option<Accepted> = None;
    while let Some(line) = read_line(&mut s) {
        let upper = line.to_ascii_uppercase();
        let ok = if upper.starts_with("EHLO") {
            let mut lines = vec![
                format!("250-{}", script.name),
                "250-PIPELINING".into(),
                "250-8BITMIME".into(),
                "250-SIZE 10000000".into(),
            ];
            if script.tls.is_some() && !tls {
                lines.push("250-STARTTLS".into());
            }
            if script.auth.is_some() && tls {
                lines.push("250-AUTH PLAIN".into());
            }
            for e in &script.extensions {
                lines.push(format!("250-{e}"));
            }
            lines.push("250 ENHANCEDSTATUSCODES".into());
            say(&mut s, &lines.join("\r\n"))
        } else if upper.starts_with("HELO") {
            say(&mut s, &format!("250 {}", script.name))
        } else if upper == "STARTTLS" {
            let Some(cfg) = script.tls.clone().filter(|_| !tls) else {
                say(&mut s, "502 5.5.1 no");
                continue;
            };
            if !say(&mut s, "220 2.0.0 go ahead") {
                return;
            }
            let Stream::Plain(tcp) = s else { return };
            let conn = match rustls::ServerConnection::new(cfg) {
                Ok(c) => c,
                Err(_) => return,
            };
            s = Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)));
            tls = true;
            true
        } else if upper.starts_with("AUTH PLAIN") {
            let arg = line.get(10..).unwrap_or("").trim().to_owned();
            let arg = if arg.is_empty() {
                if !say(&mut s, "334 ") {
                    return;
                }
                read_line(&mut s).unwrap_or_default()
            } else {
                arg
            };
            match (decode_plain(&arg), &script.auth) {
                (Some((u, p)), Some((eu, ep))) if &u == eu && &p == ep => {
                    user = Some(u);
                    say(&mut s, "235 2.7.0 ok")
                }
                _ => say(&mut s, "535 5.7.8 bad credentials"),
            }
        } else if upper.starts_with("MAIL FROM:") {
            if script.auth.is_some() && user.is_none() {
                say(&mut s, "530 5.7.0 authentication required")
            } else {
                *transactions.lock().unwrap() += 1;
                tx = Some(Accepted {
                    from: path_of(&line[10..]),
                    mail_line: line.clone(),
                    to: Vec::new(),
                    rcpt_lines: Vec::new(),
                    data: Vec::new(),
                    tls,
                    user: user.clone(),
                });
                say(&mut s, "250 2.1.0 ok")
            }
        } else if upper.starts_with("RCPT TO:") {
            match tx.as_mut() {
                None => say(&mut s, "503 5.5.1 MAIL first"),
                Some(t) => {
                    let addr = path_of(&line[8..]);
                    let n = *transactions.lock().unwrap();
                    let reply = (script.rcpt)(&addr, n);
                    if reply.starts_with('2') {
                        t.to.push(addr);
                        t.rcpt_lines.push(line.clone());
                    }
                    say(&mut s, &reply)
                }
            }
        } else if upper == "DATA" {
            match tx.take() {
                Some(mut t) if !t.to.is_empty() => {
                    if !say(&mut s, "354 go on") {
                        return;
                    }
                    loop {
                        let Some(l) = read_line(&mut s) else { return };
                        if l == "." {
                            break;
                        }
                        let l = l.strip_prefix('.').unwrap_or(&l);
                        t.data.extend_from_slice(l.as_bytes());
                        t.data.extend_from_slice(b"\r\n");
                    }
                    accepted.lock().unwrap().push(t);
                    say(&mut s, "250 2.0.0 queued")
                }
                _ => say(&mut s, "554 5.5.1 no valid recipients"),
            }
        } else if upper == "RSET" {
            tx = None;
            say(&mut s, "250 2.0.0 ok")
        } else if upper == "NOOP" {
            say(&mut s, "250 2.0.0 ok")
        } else if upper == "QUIT" {
            say(&mut s, "221 2.0.0 bye");
            return;
        } else {
            say(&mut s, "500 5.5.2 unknown command")
        };
        if !ok {
            return;
        }
    }
}

/// A relay on loopback named `name` that offers STARTTLS and wants
/// `user`'s `password` before MAIL; returns it and its certificate as PEM,
/// written into `dir` as `relay-ca.pem` (for the client to trust).
pub fn login_relay(
    dir: &std::path::Path,
    name: &str,
    user: &str,
    password: &str,
) -> (SmtpPeer, std::path::PathBuf) {
    let (server_tls, ca_pem) = tls_for(name);
    let ca = dir.join("relay-ca.pem");
    std::fs::write(&ca, ca_pem).expect("ca");
    let peer = SmtpPeer::start(
        "127.0.0.1:0".parse().expect("addr"),
        Script {
            tls: Some(server_tls),
            auth: Some((user.into(), password.into())),
            ..Script::accept(name)
        },
    );
    (peer, ca)
}

/// A self-signed certificate for `name` and a TLS server config using it;
/// returns the config and the certificate as PEM (for a client to trust).
pub fn tls_for(name: &str) -> (Arc<rustls::ServerConfig>, String) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("cert");
    let pem = cert.pem();
    let der = cert.der().clone();
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key_der)
        .expect("server config");
    (Arc::new(cfg), pem)
}
