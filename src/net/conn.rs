//! A client connection, plain or TLS, as one async byte stream.

use crate::proto::smtp::received::TlsInfo;
use futures_rustls::server::TlsStream;
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::TcpStream;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// A TCP connection, before or after TLS; `T` is the TLS stream (server
/// or client side).
pub enum MaybeTls<T> {
    /// No TLS (yet).
    Plain(TcpStream),
    /// TLS established.
    Tls(Box<T>),
}

/// A connection a client made to us.
pub type Conn = MaybeTls<TlsStream<TcpStream>>;

impl Conn {
    /// Runs the server side of a TLS handshake, bounded by `timeout`.
    pub async fn start_tls(
        self,
        config: Arc<rustls::ServerConfig>,
        timeout: Duration,
    ) -> io::Result<Conn> {
        let tcp = match self {
            Conn::Plain(tcp) => tcp,
            Conn::Tls(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "TLS already active",
                ))
            }
        };
        let accept = futures_rustls::TlsAcceptor::from(config).accept(tcp);
        let tls = smol::future::or(accept, async {
            smol::Timer::after(timeout).await;
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            ))
        })
        .await?;
        Ok(Conn::Tls(Box::new(tls)))
    }

    /// The negotiated version and cipher, when TLS is up.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let Conn::Tls(tls) = self else { return None };
        let (_, session) = tls.get_ref();
        let version = match session.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
            other => format!("{other:?}"),
        };
        let cipher = session
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        Some(TlsInfo { version, cipher })
    }

    /// Whether TLS is active.
    pub fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for MaybeTls<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for MaybeTls<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_close(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_close(cx),
        }
    }
}

/// Reads into `buf` unless `deadline` passes first (`None` on timeout).
pub async fn read_until(
    conn: &mut Conn,
    buf: &mut [u8],
    deadline: std::time::Instant,
) -> Option<io::Result<usize>> {
    use smol::io::AsyncReadExt;
    smol::future::or(async { Some(conn.read(buf).await) }, async {
        smol::Timer::at(deadline).await;
        None
    })
    .await
}

/// Writes and flushes `bytes` unless the client reads nothing for `limit`.
pub async fn write_within(
    conn: &mut Conn,
    bytes: &[u8],
    limit: std::time::Duration,
) -> io::Result<()> {
    use smol::io::AsyncWriteExt;
    let write = async {
        conn.write_all(bytes).await?;
        conn.flush().await
    };
    smol::future::or(write, async {
        smol::Timer::after(limit).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "client not reading",
        ))
    })
    .await
}

/// Closes the connection (TLS sends its close_notify), giving up after
/// `limit` on a client that reads nothing.
pub async fn close_within(mut conn: Conn, limit: std::time::Duration) {
    use smol::io::AsyncWriteExt;
    let close = async {
        let _ = conn.close().await;
    };
    let timer = async {
        smol::Timer::after(limit).await;
    };
    smol::future::or(close, timer).await;
}

/// A file read in chunks on the blocking thread pool, one trip per read.
/// Unlike `smol::Unblock`, whose reader task waits on its pipe, no pool
/// thread is held while a slow client takes the data: the pool is small
/// (see `crate::app`), so a few clients that stop reading must not
/// starve it.
pub struct ChunkedFile {
    file: Option<std::fs::File>,
    buf: Vec<u8>,
}

impl ChunkedFile {
    /// Reads `file` from its current position, `chunk` bytes at most at a
    /// time.
    pub fn new(file: std::fs::File, chunk: usize) -> ChunkedFile {
        ChunkedFile {
            file: Some(file),
            buf: vec![0u8; chunk.max(1)],
        }
    }

    /// The next bytes, at most `max` of them; empty at the end of the file.
    pub async fn next(&mut self, max: usize) -> io::Result<&[u8]> {
        use std::io::Read;
        let Some(mut file) = self.file.take() else {
            return Err(io::Error::other("file lost by an interrupted read"));
        };
        let mut buf = std::mem::take(&mut self.buf);
        let want = max.min(buf.len());
        let (file, buf, read) = smol::unblock(move || {
            let read = file.read(buf.get_mut(..want).unwrap_or_default());
            (file, buf, read)
        })
        .await;
        self.file = Some(file);
        self.buf = buf;
        let n = read?;
        Ok(self.buf.get(..n).unwrap_or_default())
    }
}
