//! The POP3 adapter: drives [`crate::proto::pop3::Session`] over a TCP or
//! TLS connection (port 110 with STLS, port 995 with implicit TLS,
//! RFC 8314) against the store.
//!
//! - A login locks the account's maildrop for the whole session (RFC 1939
//!   §8): a second POP3 login gets `[IN-USE]` until the first connection
//!   ends, however it ends.
//! - The maildrop is the INBOX as it was at login. Sizes are the
//!   CRLF-normalised sizes of the message as clients see it (the
//!   per-recipient prefix, then the shared body), and the unique ids
//!   combine UIDVALIDITY and UID, so they never change and never come back.
//! - Bodies are streamed from their files in small chunks, so memory does
//!   not grow with the message size.
//! - Deletions happen only on QUIT, in one store transaction; a connection
//!   that drops or times out deletes nothing.

use super::auth::Login;
use super::conn::{read_until, ChunkedFile, Conn};
use super::{Service, Shared};
use crate::proto::pop3::{
    self, Action, AuthResult, DotStuffer, Maildrop, MaildropMessage, Retrieved, Session,
};
use crate::store::{Store, StoreError};
use smol::io::AsyncWriteExt;
use smol::net::TcpStream;
use std::collections::HashSet;
use std::fs::File;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Chunk size for reading bodies for RETR and TOP.
const CHUNK: usize = 8 * 1024;

/// Network read buffer; the session keeps at most 4 KiB of input itself.
const READ_BUFFER: usize = 4 * 1024;

/// The mailbox POP3 serves (RFC 1939 knows only one per user).
const MAILBOX: &str = "INBOX";

/// Session settings from the config.
pub fn session_config(cfg: &crate::config::Config) -> pop3::Config {
    let mut c = pop3::Config::new(cfg.server.hostname.0.clone());
    c.max_bad_commands = cfg.limits.max_bad_commands;
    c.idle_timeout = cfg.timeouts.pop3_idle.0;
    c.allow_plaintext_auth = cfg.tls.allow_plaintext_auth;
    // A certificate is always there: configured, or generated at start.
    c.stls_available = true;
    c
}

/// The accounts whose maildrop a POP3 session holds, process-wide.
#[derive(Debug, Default)]
pub struct MaildropLocks {
    held: Mutex<HashSet<String>>,
}

impl MaildropLocks {
    /// No maildrop locked.
    pub fn new() -> MaildropLocks {
        MaildropLocks::default()
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // The set stays consistent even if a holder panicked.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Locks `account`'s maildrop, or `None` if a session holds it already.
    /// The lock lasts as long as the returned guard.
    pub fn try_lock(&self, account: &str) -> Option<MaildropLock<'_>> {
        let account = account.to_ascii_lowercase();
        if !self.held().insert(account.clone()) {
            return None;
        }
        Some(MaildropLock {
            locks: self,
            account,
        })
    }

    /// Whether `account`'s maildrop is locked.
    pub fn is_locked(&self, account: &str) -> bool {
        self.held().contains(&account.to_ascii_lowercase())
    }
}

/// A held maildrop lock; dropping it (at QUIT, on disconnect, or while a
/// panic unwinds the connection) unlocks.
#[derive(Debug)]
pub struct MaildropLock<'a> {
    locks: &'a MaildropLocks,
    account: String,
}

impl MaildropLock<'_> {
    /// The locked account.
    pub fn account(&self) -> &str {
        &self.account
    }
}

impl Drop for MaildropLock<'_> {
    fn drop(&mut self) {
        self.locks.held().remove(&self.account);
    }
}

/// The logged-in state the adapter keeps beside the session.
struct Held<'a> {
    lock: MaildropLock<'a>,
    /// The INBOX id at login; messages are looked up in it by UID.
    mailbox: u64,
}

/// Serves one POP3 connection to its end.
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
    let idle = shared.pop3.idle_timeout;
    let mut s = Session::new(shared.pop3.clone(), conn.is_tls(), Instant::now());
    let mut login: Option<Held<'_>> = None;
    let mut buf = vec![0u8; READ_BUFFER];
    // Received bytes the session has not taken yet: buf[start..end].
    let (mut start, mut end) = (0, 0);
    'conn: loop {
        while let Some(action) = s.poll(Instant::now()) {
            match action {
                Action::Write(bytes) => {
                    if send(&mut conn, &bytes, idle, true).await.is_err() {
                        break 'conn;
                    }
                }
                Action::StartTls => {
                    // RFC 2595 §4 (and CVE-2011-0411): nothing sent in clear
                    // after STLS may be taken as a command under TLS.
                    start = end;
                    conn = match conn.start_tls(shared.tls.clone(), handshake).await {
                        Ok(c) => c,
                        Err(e) => {
                            log::debug!("{service}: STLS with {peer} failed: {e}");
                            return;
                        }
                    };
                    s.tls_established();
                }
                Action::Auth { username, password } => {
                    let (result, held) =
                        authenticate(shared, service, peer, &username, &password).await;
                    login = held;
                    s.auth_result(result);
                }
                Action::Retrieve {
                    uid,
                    top_lines,
                    status,
                } => {
                    let result = match &login {
                        Some(l) => {
                            let msg = (l.mailbox, uid, top_lines);
                            retrieve(shared, &mut conn, idle, msg, &status, service, peer).await
                        }
                        None => Retrieved::Failed,
                    };
                    s.retrieve_done(result);
                }
                Action::Update { delete } => {
                    let result = match login.take() {
                        Some(l) => update(shared, l.lock.account(), delete).await,
                        None => Ok(()),
                    };
                    s.update_done(result);
                }
                Action::Close => break 'conn,
            }
        }
        if start < end {
            let taken = s.feed(&buf[start..end]);
            if taken == 0 {
                // The session asked for nothing yet takes no input: it
                // cannot make progress, so end rather than spin.
                log::warn!("{service}: session with {peer} stalled, closing");
                break;
            }
            start += taken;
            continue;
        }
        match read_until(&mut conn, &mut buf, s.deadline()).await {
            None => s.timed_out(Instant::now()),
            Some(Ok(0)) | Some(Err(_)) => break,
            Some(Ok(n)) => (start, end) = (0, n),
        }
    }
    // Unlocks the maildrop (without deleting anything) if still held.
    drop(login);
    let _ = conn.close().await;
    log::debug!("{service}: {peer} disconnected");
}

/// Checks the credentials, locks the maildrop and takes its snapshot.
async fn authenticate<'a>(
    shared: &'a Shared,
    service: Service,
    peer: SocketAddr,
    username: &str,
    password: &str,
) -> (AuthResult, Option<Held<'a>>) {
    let login = shared.auth.login(peer.ip(), "", username, password).await;
    let account = match login.counted(service) {
        Login::Ok(account) => account,
        Login::Failed => return (AuthResult::Failed, None),
        Login::Throttled => return (AuthResult::Throttled, None),
        Login::TempFail => return (AuthResult::TempFail, None),
    };
    let Some(lock) = shared.pop3_locks.try_lock(&account) else {
        log::info!("pop3: {account} from {peer}: maildrop in use");
        return (AuthResult::InUse, None);
    };
    let store = shared.store.clone();
    let user = account.clone();
    match smol::unblock(move || snapshot(&store, &user)).await {
        Ok((mailbox, maildrop)) => {
            log::info!(
                "pop3: {account} logged in from {peer}, {} messages",
                maildrop.messages.len()
            );
            (AuthResult::Ok(maildrop), Some(Held { lock, mailbox }))
        }
        Err(e) => {
            log::error!("pop3: cannot read the maildrop of {account}: {e}");
            (AuthResult::TempFail, None)
        }
    }
}

/// The INBOX id and its messages in UID order, with their sizes and
/// unique ids. Blocking, but reads only the index: each message's
/// CRLF-counted size was recorded when it was stored.
fn snapshot(store: &Store, account: &str) -> Result<(u64, Maildrop), StoreError> {
    let mailbox = store
        .mailbox(account, MAILBOX)?
        .ok_or_else(|| StoreError::NotFound(format!("INBOX of {account}")))?;
    let messages = store
        .pop3_sizes(mailbox.id)?
        .into_iter()
        .map(|(uid, size)| MaildropMessage {
            uid,
            size,
            uidl: unique_id(mailbox.uidvalidity, uid),
        })
        .collect();
    Ok((mailbox.id, Maildrop { messages }))
}

/// The UIDL of a message: fixed for its life, never reused in the mailbox
/// (UIDs only grow, and a recreated mailbox has a new UIDVALIDITY), and the
/// same pair IMAP reports.
pub fn unique_id(uidvalidity: u32, uid: u32) -> String {
    format!("{uidvalidity:08x}{uid:08x}")
}

/// Sends message `uid` as multi-line data (the "+OK" line is already out),
/// terminator included. An error leaves the data unfinished; the session
/// then closes the connection.
/// Opens message `uid` of `mailbox`, then sends `status` and the message
/// (all of it, or its top for `Some(lines)`), dot-stuffed.
async fn retrieve(
    shared: &Shared,
    conn: &mut Conn,
    idle: Duration,
    (mailbox, uid, top_lines): (u64, u32, Option<u32>),
    status: &[u8],
    service: impl std::fmt::Display,
    peer: SocketAddr,
) -> Retrieved {
    let store = shared.store.clone();
    let opened = smol::unblock(move || -> Result<_, StoreError> {
        let m = store
            .message(mailbox, uid)?
            .ok_or_else(|| StoreError::NotFound(format!("message UID {uid}")))?;
        // Once open, the file stays readable even if expunged meanwhile.
        let file = store.open_blob(&m.blob)?;
        Ok((m.prefix, file))
    })
    .await;
    // Opened before "+OK" is sent: a message expunged by another session
    // meanwhile still gets -ERR, and this session goes on.
    let (prefix, file) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            log::info!("{service}: RETR/TOP of UID {uid} to {peer}: {e}");
            return Retrieved::Missing;
        }
    };
    match send_message(conn, idle, status, prefix, file, top_lines).await {
        Ok(()) => Retrieved::Sent,
        Err(e) => {
            log::info!("{service}: RETR/TOP to {peer}: {e}");
            Retrieved::Failed
        }
    }
}

/// Sends `status`, then the message (`prefix` and body `file`) dot-stuffed.
async fn send_message(
    conn: &mut Conn,
    idle: Duration,
    status: &[u8],
    prefix: Vec<u8>,
    file: File,
    top_lines: Option<u32>,
) -> Result<(), String> {
    let mut ds = DotStuffer::new(top_lines);
    let mut out = Vec::with_capacity(2 * CHUNK + 2 + status.len());
    out.extend_from_slice(status);
    ds.encode(&prefix, &mut out);
    let mut body = ChunkedFile::new(file, CHUNK);
    while !ds.is_done() {
        if !out.is_empty() {
            send(conn, &out, idle, false)
                .await
                .map_err(|e| e.to_string())?;
            out.clear();
        }
        let chunk = body.next(CHUNK).await.map_err(|e| e.to_string())?;
        if chunk.is_empty() {
            break;
        }
        ds.encode(chunk, &mut out);
    }
    ds.finish(&mut out);
    send(conn, &out, idle, true)
        .await
        .map_err(|e| e.to_string())
}

/// Writes `bytes` (and flushes if asked) unless the client reads nothing
/// for `idle`: a client that stops reading must not hold its maildrop
/// lock forever.
async fn send(conn: &mut Conn, bytes: &[u8], idle: Duration, flush: bool) -> std::io::Result<()> {
    let write = async {
        conn.write_all(bytes).await?;
        if flush {
            conn.flush().await?;
        }
        Ok(())
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

/// Applies the deletions of a QUIT in one transaction. The text of an error
/// is shown to the client, so it says nothing internal.
async fn update(shared: &Shared, account: &str, delete: Vec<u32>) -> Result<(), String> {
    if delete.is_empty() {
        return Ok(());
    }
    let store = shared.store.clone();
    let user = account.to_string();
    let count = delete.len();
    match smol::unblock(move || store.expunge(&user, MAILBOX, &delete)).await {
        Ok(removed) => {
            log::info!(
                "pop3: {account} deleted {} of {count} messages",
                removed.len()
            );
            Ok(())
        }
        Err(e) => {
            log::error!("pop3: deleting messages of {account} failed: {e}");
            Err(String::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maildrop_locks_are_exclusive_and_released_on_drop() {
        let locks = MaildropLocks::new();
        let a = locks.try_lock("alice@example.test").expect("first lock");
        assert!(locks.try_lock("ALICE@example.test").is_none());
        let b = locks.try_lock("bob@example.test").expect("other account");
        assert!(locks.is_locked("alice@example.test"));
        drop(a);
        assert!(!locks.is_locked("alice@example.test"));
        assert!(locks.try_lock("alice@example.test").is_some());
        drop(b);
        assert!(!locks.is_locked("bob@example.test"));
    }

    #[test]
    fn a_panic_releases_the_lock() {
        let locks = MaildropLocks::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = locks.try_lock("alice@example.test");
            panic!("connection failed");
        }));
        assert!(r.is_err());
        assert!(!locks.is_locked("alice@example.test"));
    }

    #[test]
    fn unique_ids_are_fixed_width_and_distinct() {
        assert_eq!(unique_id(1, 1), "0000000100000001");
        assert_eq!(unique_id(0xdead_beef, u32::MAX), "deadbeefffffffff");
        assert_ne!(unique_id(1, 0x10), unique_id(0x10, 1));
    }
}
