//! The web listeners: HTTPS with the box's certificate (ALPN `http/1.1`,
//! RFC 7301), and plain HTTP on loopback only (config check). HTTP/1.1 is
//! hyper's; the pages are [`crate::web`]'s.
//!
//! Slow clients: a request's headers must arrive within
//! `web.header_timeout`, and a connection on which neither reading nor
//! writing makes progress for `web.idle_timeout` is closed (a body sent a
//! byte at a time, a client that stops reading, an idle keep-alive).

use super::conn::Conn;
use super::{Service, Shared};
use crate::web::{Passwords, Verdict};
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::TcpStream;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Largest request head hyper buffers (request line and headers).
/// Browsers send 1–3 KiB; hyper's minimum is 8 KiB.
const MAX_HEAD: usize = 16 * 1024;

/// Serves one web connection.
pub async fn serve(service: Service, stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let Some(web) = shared.web.get().cloned() else {
        return;
    };
    log::debug!("{service}: connection from {peer}");
    let mut conn = Conn::Plain(stream);
    if service == Service::Web {
        let mut tls = (*shared.tls).clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        conn = match conn
            .start_tls(Arc::new(tls), shared.config.timeouts.tls_handshake.0)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                log::debug!("{service}: TLS with {peer} failed: {e}");
                return;
            }
        };
    }
    let cfg = &shared.config.web;
    let io = smol_hyper::rt::FuturesIo::new(Stall::new(conn, cfg.idle_timeout.0));
    let auth = &shared.auth;
    let ip = peer.ip();
    let service_fn = hyper::service::service_fn(|req| {
        let web = web.clone();
        async move {
            Ok::<_, std::convert::Infallible>(
                web.respond(req, ip, &LoginCheck(auth, service)).await,
            )
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(smol_hyper::rt::SmolTimer::new())
        .header_read_timeout(cfg.header_timeout.0)
        .max_buf_size(MAX_HEAD)
        .keep_alive(true);
    if let Err(e) = builder.serve_connection(io, service_fn).await {
        log::debug!("{service}: connection from {peer} ended: {e}");
    }
}

/// The mail services' password check, for the web pages.
struct LoginCheck<'a>(&'a super::auth::Authenticator, Service);

impl Passwords for LoginCheck<'_> {
    fn check<'a>(
        &'a self,
        ip: IpAddr,
        user: &'a str,
        password: &'a str,
    ) -> Pin<Box<dyn Future<Output = Verdict> + Send + 'a>> {
        use super::auth::Login;
        Box::pin(async move {
            match self.0.login(ip, "", user, password).await.counted(self.1) {
                Login::Ok(address) => Verdict::Ok(address),
                Login::Failed => Verdict::Failed,
                Login::Throttled => Verdict::Throttled,
                Login::TempFail => Verdict::TempFail,
            }
        })
    }
}

/// A connection that fails with `TimedOut` once a read or write has
/// waited `limit` without progress.
struct Stall<T> {
    inner: T,
    limit: Duration,
    timer: smol::Timer,
    armed: bool,
}

impl<T> Stall<T> {
    fn new(inner: T, limit: Duration) -> Stall<T> {
        Stall {
            inner,
            limit,
            timer: smol::Timer::never(),
            armed: false,
        }
    }

    /// After a poll of the inner stream: progress disarms the timer; a
    /// wait arms it, and its expiry is an error.
    fn watch<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.armed = false;
            return poll;
        }
        if !self.armed {
            self.timer.set_after(self.limit);
            self.armed = true;
        }
        match Pin::new(&mut self.timer).poll(cx) {
            Poll::Ready(_) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "web client idle",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stall<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.watch(cx, poll)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Stall<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, poll)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, poll)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_close(cx);
        this.watch(cx, poll)
    }
}
