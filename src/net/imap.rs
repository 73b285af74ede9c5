//! The IMAP adapter: drives [`crate::proto::imap::session::Session`] over
//! a TCP or TLS connection (port 143 with STARTTLS, port 993 with implicit
//! TLS, RFC 8314).
//!
//! The session calls the store, which blocks, so each step of it (taking
//! input and producing the next actions) runs on the blocking thread pool
//! with `smol::unblock`; the session moves there and back. The pool is
//! small (`crate::app::BLOCKING_THREADS`), so nothing here waits on a pool
//! thread: message bodies are streamed from their files one chunk per
//! trip, and while the client IDLEs the adapter waits on the executor for
//! input or for a change of the selected mailbox, then has the session
//! report the change at once (RFC 2177).
//!
//! IMAP steps hold at most [`IMAP_THREADS`] of the pool's threads at once
//! ([`Shared::imap_steps`]): a SEARCH through large messages runs for up
//! to `timeouts.imap_command`, and mail delivery and the outbound queue
//! must not wait behind it.

use super::auth::Login;
use super::conn::{read_until, ChunkedFile, Conn};
use super::{Service, Shared};
use crate::proto::imap::response;
use crate::proto::imap::session::{self, Action, AuthOutcome, Session};
use smol::io::AsyncWriteExt;
use smol::net::TcpStream;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Network read buffer. Commands longer than this are assembled by the
/// session's reader (bounded by its own limits), so this is all the
/// adapter holds per idle connection besides the session.
const READ_BUFFER: usize = 4 * 1024;

/// Chunk for streaming body files.
const CHUNK: usize = 16 * 1024;

/// Output collected from the session in one step before it is written:
/// bounds what a big FETCH holds at once (two of the session's 16 KiB
/// pieces; a step is one trip to the thread pool and back).
const STEP_BYTES: usize = 32 * 1024;

/// Threads of the blocking pool that IMAP session steps may hold at once;
/// the others stay free for delivery, the queue, POP3 and logins.
pub const IMAP_THREADS: usize = 2;

/// Session settings from the config.
pub fn session_config(cfg: &crate::config::Config) -> session::Config {
    let mut c = session::Config::new(cfg.server.hostname.0.clone());
    c.max_bad_commands = cfg.limits.max_bad_commands;
    // RFC 9051 §5.4: at least 30 minutes, checked with the config.
    c.idle_timeout = cfg.timeouts.imap_idle.0;
    c.login_timeout = cfg.timeouts.imap_login.0;
    c.command_limit = cfg.timeouts.imap_command.0;
    c.clock = Some(Instant::now);
    c.allow_plaintext_auth = cfg.tls.allow_plaintext_auth;
    // A certificate is always there: configured, or generated at start.
    c.starttls_available = true;
    c.append_limit = cfg.limits.max_message_size.0;
    c.separator = cfg.imap.separator;
    c
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// What one step of the session gave.
struct Step {
    session: Box<Session>,
    buf: Vec<u8>,
    taken: usize,
    actions: Vec<Action>,
}

/// Feeds `buf[start..end]` and collects actions, up to one that needs the
/// adapter (a file to stream, TLS, credentials, the end) or
/// [`STEP_BYTES`] of output. Blocking: runs on the thread pool.
fn step(mut s: Box<Session>, buf: Vec<u8>, start: usize, end: usize) -> Step {
    let taken = match buf.get(start..end) {
        Some(input) if !input.is_empty() => s.feed(input, Instant::now(), unix_now()),
        _ => 0,
    };
    let mut actions = Vec::new();
    let mut bytes = 0;
    while let Some(a) = s.poll() {
        let stop = !matches!(a, Action::Write(_));
        if let Action::Write(b) = &a {
            bytes += b.len();
        }
        actions.push(a);
        if stop || bytes >= STEP_BYTES {
            break;
        }
    }
    Step {
        session: s,
        buf,
        taken,
        actions,
    }
}

/// Serves one IMAP connection to its end.
pub async fn serve(service: Service, tcp: TcpStream, peer: SocketAddr, shared: &Shared) {
    let mut conn = Conn::Plain(tcp);
    let handshake = shared.config.timeouts.tls_handshake.0;
    if service.implicit_tls() {
        conn = match conn.start_tls(shared.tls.clone(), handshake).await {
            Ok(c) => c,
            Err(e) => {
                log::debug!("{service}: TLS handshake with {peer} failed: {e}");
                return;
            }
        };
    }
    log::debug!("{service}: connection from {peer}");
    let idle = shared.imap.idle_timeout;
    let mut s = Box::new(Session::new(
        shared.imap.clone(),
        shared.store.clone(),
        shared.junk.clone(),
        conn.is_tls(),
        Instant::now(),
        unix_now(),
    ));
    let mut buf = vec![0u8; READ_BUFFER];
    // Received bytes the session has not taken yet: buf[start..end].
    let (mut start, mut end) = (0, 0);
    'conn: loop {
        let permit = shared.imap_steps.acquire().await;
        let st = smol::unblock(move || step(s, buf, start, end)).await;
        drop(permit);
        s = st.session;
        buf = st.buf;
        start += st.taken;
        let acted = !st.actions.is_empty();
        for action in st.actions {
            match action {
                Action::Write(bytes) => {
                    if send(&mut conn, &bytes, idle).await.is_err() {
                        break 'conn;
                    }
                }
                Action::SendFile { file, offset, len } => {
                    if let Err(e) = send_file(&mut conn, file, offset, len, idle).await {
                        log::info!("{service}: sending a message to {peer} failed: {e}");
                        break 'conn;
                    }
                }
                Action::StartTls => {
                    // RFC 9051 §6.2.1: nothing received before the
                    // handshake may be taken as a command under TLS.
                    start = end;
                    conn = match conn.start_tls(shared.tls.clone(), handshake).await {
                        Ok(c) => c,
                        Err(e) => {
                            log::debug!("{service}: STARTTLS with {peer} failed: {e}");
                            return;
                        }
                    };
                    s.tls_established();
                }
                Action::Authenticate {
                    authzid,
                    username,
                    password,
                } => {
                    let outcome = match shared
                        .auth
                        .login(peer.ip(), &authzid, &username, &password)
                        .await
                        .counted(service)
                    {
                        Login::Ok(account) => {
                            log::info!("{service}: {account} logged in from {peer}");
                            AuthOutcome::Ok(account)
                        }
                        Login::Failed => AuthOutcome::Failed,
                        Login::Throttled => AuthOutcome::Throttled,
                        Login::TempFail => AuthOutcome::TempFail,
                    };
                    s.auth_result(outcome);
                }
                Action::Close => break 'conn,
            }
        }
        if acted || (st.taken > 0 && start < end) {
            continue;
        }
        // The session needs input.
        if start == end {
            (start, end) = (0, 0);
        } else if start > 0 {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        if end == buf.len() {
            // Cannot happen with the reader taking all it is given; do
            // not spin if it ever does.
            log::warn!("{service}: session with {peer} stalled, closing");
            break;
        }
        let deadline = s.deadline();
        let got = {
            let read = async {
                Some(read_until(&mut conn, buf.get_mut(end..).unwrap_or_default(), deadline).await)
            };
            match s.idle_watch() {
                Some(w) => {
                    smol::future::or(read, async {
                        w.changed().await;
                        None
                    })
                    .await
                }
                None => read.await,
            }
        };
        match got {
            None => {
                let permit = shared.imap_steps.acquire().await;
                s = smol::unblock(move || {
                    s.mailbox_changed();
                    s
                })
                .await;
                drop(permit);
            }
            Some(None) => s.timed_out(Instant::now()),
            Some(Some(Ok(0))) | Some(Some(Err(_))) => break,
            Some(Some(Ok(n))) => end += n,
        }
    }
    let _ = conn.close().await;
    log::debug!("{service}: {peer} disconnected");
}

/// Writes and flushes `bytes` unless the client reads nothing for `idle`.
async fn send(conn: &mut Conn, bytes: &[u8], idle: Duration) -> std::io::Result<()> {
    let write = async {
        conn.write_all(bytes).await?;
        conn.flush().await
    };
    smol::future::or(write, async {
        smol::Timer::after(idle).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "client not reading",
        ))
    })
    .await
}

/// Streams `len` bytes of a body file from `offset`.
async fn send_file(
    conn: &mut Conn,
    mut file: File,
    offset: u64,
    len: u64,
    idle: Duration,
) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    let mut body = ChunkedFile::new(file, CHUNK);
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX);
        let chunk = body.next(want).await?;
        if chunk.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "message file shorter than its size",
            ));
        }
        // A literal carries no NUL (RFC 9051 §4.3).
        send(conn, &response::without_nul(chunk), idle).await?;
        let n = chunk.len();
        left -= n as u64;
    }
    Ok(())
}
