//! A small IMAP client over TLS (RFC 9051, RFC 3501), for importing mail
//! from another server: LOGIN, LIST, EXAMINE and UID FETCH, with message
//! bodies passed on in pieces as they arrive ([`crate::proto::imap::client`]
//! reads the responses). Every read and write has a time limit.

use crate::proto::imap::client::{self as proto, Event, Reader, Response, Value};
use futures_rustls::client::TlsStream;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for the server to connect, answer or send more bytes.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 32 * 1024;

/// A logged-in connection.
pub struct Client {
    stream: TlsStream<TcpStream>,
    reader: Reader,
    /// Responses read but not yet taken.
    pending: std::collections::VecDeque<Vec<u8>>,
    tag: u32,
}

/// A folder as LIST gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// Its name with `/` between levels.
    pub name: String,
    /// Its attributes (`\Noselect`, `\Sent`...).
    pub attributes: Vec<String>,
}

/// What FETCH gives of a message before its body is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// UID.
    pub uid: u32,
    /// System flags.
    pub flags: u8,
    /// Keywords.
    pub keywords: Vec<String>,
    /// INTERNALDATE (Unix time).
    pub internal_date: i64,
    /// RFC822.SIZE.
    pub size: u64,
    /// The message's Message-ID header field lines, as fetched.
    pub message_id_header: Option<Vec<u8>>,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl Client {
    /// Connects to `host:port` over TLS and logs in.
    pub async fn login(
        host: &str,
        port: u16,
        tls: Arc<ClientConfig>,
        user: &str,
        password: &str,
    ) -> io::Result<Client> {
        let tcp = timeout(TcpStream::connect((host, port))).await?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| bad(format!("{host}: not a host name")))?;
        let stream = timeout(futures_rustls::TlsConnector::from(tls).connect(name, tcp)).await?;
        let mut c = Client {
            stream,
            reader: Reader::new(),
            pending: Default::default(),
            tag: 0,
        };
        let greeting = c.next_line(&mut |_| Ok(())).await?;
        if !greeting.starts_with(b"* OK") && !greeting.starts_with(b"* ok") {
            return Err(bad(format!(
                "the server did not greet: {}",
                String::from_utf8_lossy(&greeting)
            )));
        }
        let (Some(u), Some(p)) = (proto::quoted(user), proto::quoted(password)) else {
            return Err(bad("the login or password holds a line break"));
        };
        c.command(&format!("LOGIN {u} {p}"), &mut |_| Ok(()))
            .await
            .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, format!("login: {e}")))?;
        Ok(c)
    }

    /// The folders (LIST "" "*"), names decoded and with `/` between
    /// levels.
    pub async fn folders(&mut self) -> io::Result<Vec<Folder>> {
        let lines = self.command("LIST \"\" \"*\"", &mut |_| Ok(())).await?;
        let mut out = Vec::new();
        for l in lines {
            let Some(Response::Untagged(v)) = proto::response(&l) else {
                continue;
            };
            let Some((attributes, delim, name)) = proto::list_item(&v) else {
                continue;
            };
            let name = match delim {
                Some(d) if d != b'/' => name.replace(d as char, "/"),
                _ => name,
            };
            out.push(Folder { name, attributes });
        }
        Ok(out)
    }

    /// Opens a folder read-only (EXAMINE); returns its message count.
    pub async fn examine(&mut self, name: &str) -> io::Result<u32> {
        let encoded = crate::proto::imap::utf7::encode(name);
        let arg = proto::quoted(&encoded).ok_or_else(|| bad("bad folder name"))?;
        let lines = self
            .command(&format!("EXAMINE {arg}"), &mut |_| Ok(()))
            .await?;
        let mut exists = 0;
        for l in lines {
            if let Some(Response::Untagged(v)) = proto::response(&l) {
                if let [n, Value::Atom(k)] = v.as_slice() {
                    if k.eq_ignore_ascii_case(b"EXISTS") {
                        exists = n.number().unwrap_or(0) as u32;
                    }
                }
            }
        }
        Ok(exists)
    }

    /// Flags, date, size and Message-ID of the messages `first:last` (by
    /// sequence number) of the open folder.
    pub async fn summaries(&mut self, first: u32, last: u32) -> io::Result<Vec<Summary>> {
        let cmd = format!(
            "FETCH {first}:{last} (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
        );
        let lines = self.command(&cmd, &mut |_| Ok(())).await?;
        let mut out = Vec::new();
        for l in lines {
            let Some(Response::Untagged(v)) = proto::response(&l) else {
                continue;
            };
            let Some((_, items)) = proto::fetch_items(&v) else {
                continue;
            };
            let mut s = Summary {
                uid: 0,
                flags: 0,
                keywords: Vec::new(),
                internal_date: 0,
                size: 0,
                message_id_header: None,
            };
            for (k, v) in &items {
                match k.as_str() {
                    "UID" => s.uid = v.number().unwrap_or(0) as u32,
                    "FLAGS" => (s.flags, s.keywords) = proto::flags(v),
                    "INTERNALDATE" => {
                        s.internal_date = v.bytes().and_then(proto::internal_date).unwrap_or(0)
                    }
                    "RFC822.SIZE" => s.size = v.number().unwrap_or(0),
                    k if k.starts_with("BODY[HEADER.FIELDS") => {
                        s.message_id_header = v.bytes().map(<[u8]>::to_vec);
                    }
                    _ => {}
                }
            }
            if s.uid > 0 {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Fetches one message of the open folder by UID; its bytes go to
    /// `body` in pieces as they arrive. Returns false when the server
    /// has no such message any more.
    pub async fn fetch_body(
        &mut self,
        uid: u32,
        body: &mut dyn FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<bool> {
        let mut got = false;
        let mut sink = |e: Event<'_>| -> io::Result<()> {
            match e {
                Event::Literal(_) => got = true,
                Event::Data(d) => body(d)?,
                Event::Response(_) => {}
            }
            Ok(())
        };
        let lines = self
            .command(&format!("UID FETCH {uid} (BODY.PEEK[])"), &mut sink)
            .await?;
        // A small message came inline.
        for l in lines {
            let Some(Response::Untagged(v)) = proto::response(&l) else {
                continue;
            };
            let Some((_, items)) = proto::fetch_items(&v) else {
                continue;
            };
            for (k, v) in items {
                if k == "BODY[]" && !got {
                    if let Value::Str(b) = v {
                        body(&b)?;
                        got = true;
                    }
                }
            }
        }
        Ok(got)
    }

    /// Logs out (errors are of no interest then).
    pub async fn logout(mut self) {
        let _ = self.command("LOGOUT", &mut |_| Ok(())).await;
    }

    /// Sends a command and reads until its tagged answer; returns the
    /// untagged lines. Big literals go to `sink`.
    async fn command(
        &mut self,
        cmd: &str,
        sink: &mut dyn FnMut(Event<'_>) -> io::Result<()>,
    ) -> io::Result<Vec<Vec<u8>>> {
        self.tag += 1;
        let tag = format!("a{}", self.tag);
        timeout(async {
            self.stream
                .write_all(format!("{tag} {cmd}\r\n").as_bytes())
                .await?;
            self.stream.flush().await
        })
        .await?;
        let mut lines = Vec::new();
        loop {
            let line = self.next_line(sink).await?;
            match proto::response(&line) {
                Some(Response::Tagged { tag: t, ok, text }) if t == tag.as_bytes() => {
                    if ok {
                        return Ok(lines);
                    }
                    return Err(bad(text));
                }
                _ => lines.push(line),
            }
        }
    }

    async fn next_line(
        &mut self,
        sink: &mut dyn FnMut(Event<'_>) -> io::Result<()>,
    ) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            if let Some(l) = self.pending.pop_front() {
                return Ok(l);
            }
            let n = timeout(self.stream.read(&mut buf)).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            let mut err = None;
            let pending = &mut self.pending;
            self.reader
                .feed(&buf[..n], &mut |e| match e {
                    Event::Response(l) => pending.push_back(l),
                    other => {
                        if err.is_none() {
                            if let Err(e) = sink(other) {
                                err = Some(e);
                            }
                        }
                    }
                })
                .map_err(|_| bad("a response line is too long"))?;
            if let Some(e) = err {
                return Err(e);
            }
        }
    }
}

async fn timeout<T>(fut: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    crate::net::smtp_client::timeout(TIMEOUT, fut).await
}
