//! The admin service: one request/response API over the store, used by the
//! command line (through a unix socket while the server runs, or directly
//! when it does not), and later by the web page and the serial console.
//!
//! Wire format on the socket: each message is a 4-byte big-endian length
//! followed by a postcard-encoded [`Request`] or [`Response`].

use crate::password;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Largest admin message accepted (a few KiB covers any real request).
pub const MAX_FRAME: u32 = 64 * 1024;
/// Largest admin response the command line accepts: listings are capped
/// at [`MAX_LIST`] lines, which stays well below this.
pub const MAX_RESPONSE: u32 = 4 * 1024 * 1024;
/// Most lines of a queue listing; the rest are counted in a last line.
pub const MAX_LIST: usize = 1000;

/// An admin request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Add a mail domain.
    DomainAdd(String),
    /// List domains.
    DomainList,
    /// Remove a domain with no users or aliases.
    DomainRemove(String),
    /// Add a user; a password is generated and returned when none is given.
    UserAdd {
        /// Address.
        address: String,
        /// Password, or none to generate one.
        password: Option<String>,
    },
    /// Change a user's password; generated when none is given.
    UserPasswd {
        /// Address.
        address: String,
        /// Password, or none to generate one.
        password: Option<String>,
    },
    /// List users.
    UserList,
    /// Remove a user and their mail.
    UserRemove(String),
    /// Add an alias.
    AliasAdd {
        /// `local@domain` or `@domain`.
        alias: String,
        /// Where mail goes.
        targets: Vec<String>,
    },
    /// List aliases.
    AliasList,
    /// Remove an alias.
    AliasRemove(String),
    /// List the outbound queue.
    QueueList,
    /// Retry a queue entry now.
    QueueRetry(u64),
    /// Remove a queue entry without delivering it.
    QueueRemove(u64),
    /// Retry every queue entry now (like flushing a queue).
    QueueRetryAll,
    /// The memory of the process that answers: resident set and malloc
    /// arenas (only the running server's is of interest).
    Memory,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Done; lines to print (possibly none).
    Ok(Vec<String>),
    /// Refused or failed; the reason.
    Error(String),
}

/// Something the running server wants to hear about after an admin change
/// (e.g. the queue worker on `queue retry`).
pub trait Notify: Send + Sync {
    /// The queue changed and should be looked at now.
    fn queue_changed(&self) {}

    /// The admin asked for entries to be retried now: an attempt in
    /// progress must not push them back to their old schedule.
    fn queue_retry(&self) {
        self.queue_changed();
    }

    /// A domain was added; returns lines to add to the answer.
    fn domain_added(&self, _name: &str) -> Vec<String> {
        Vec::new()
    }
}

/// No one to notify (the CLI without a server).
pub struct NoNotify;
impl Notify for NoNotify {}

/// The admin service.
pub struct Admin {
    store: Arc<Store>,
    notify: Arc<dyn Notify>,
    /// The server's password workers; `None` in a short-lived command.
    passwords: Option<Arc<password::Verifier>>,
}

impl Admin {
    /// A service over `store`.
    pub fn new(store: Arc<Store>, notify: Arc<dyn Notify>) -> Admin {
        Admin {
            store,
            notify,
            passwords: None,
        }
    }

    /// Hashes new passwords on the server's password workers, whose argon2
    /// memory is allocated once and reused: hashing on whichever thread
    /// ran the request left each of them with its own 8 MiB.
    pub fn with_password_workers(mut self, workers: Arc<password::Verifier>) -> Admin {
        self.passwords = Some(workers);
        self
    }

    /// The new password (generated when none is given, then shown) after
    /// the strength rule, and its hash.
    fn new_password(
        &self,
        address: &str,
        given: Option<String>,
    ) -> Result<(String, bool, String), String> {
        let (pw, shown) = match given {
            Some(p) => (p, false),
            None => (password::generate(), true),
        };
        password::check_strength(address, &pw)?;
        let hash = match &self.passwords {
            Some(workers) => smol::block_on(workers.hash(&pw))?,
            None => password::hash(&pw)?,
        };
        Ok((pw, shown, hash))
    }

    /// Carries out one request. Blocking (store and password hashing).
    pub fn handle(&self, req: Request) -> Response {
        match self.run(req) {
            Ok(lines) => Response::Ok(lines),
            Err(e) => Response::Error(e),
        }
    }

    fn run(&self, req: Request) -> Result<Vec<String>, String> {
        let s = &self.store;
        let e = |e: StoreError| e.to_string();
        match req {
            Request::DomainAdd(name) => {
                let d = s.add_domain(&name).map_err(e)?;
                let mut out = vec![format!("added domain {}", d.name)];
                out.extend(self.notify.domain_added(&d.name));
                Ok(out)
            }
            Request::DomainList => Ok(s
                .domains()
                .map_err(e)?
                .into_iter()
                .map(|d| d.name)
                .collect()),
            Request::DomainRemove(name) => {
                s.remove_domain(&name).map_err(e)?;
                Ok(vec![format!("removed domain {name}")])
            }
            Request::UserAdd { address, password } => {
                let (pw, shown, hash) = self.new_password(&address, password)?;
                let a = s.add_account(&address, &hash).map_err(e)?;
                let mut out = vec![format!("added user {}", a.address)];
                if shown {
                    out.push(format!("password: {pw}"));
                }
                Ok(out)
            }
            Request::UserPasswd { address, password } => {
                let address = crate::mail::idna::address_to_ascii(&address);
                if s.account(&address).map_err(e)?.is_none() {
                    return Err(format!("user {address} does not exist"));
                }
                let (pw, shown, hash) = self.new_password(&address, password)?;
                s.set_password(&address, &hash).map_err(e)?;
                let mut out = vec![format!("changed the password of {address}")];
                if shown {
                    out.push(format!("password: {pw}"));
                }
                Ok(out)
            }
            Request::UserList => Ok(s
                .accounts()
                .map_err(e)?
                .into_iter()
                .map(|a| a.address)
                .collect()),
            Request::UserRemove(address) => {
                let address = crate::mail::idna::address_to_ascii(&address);
                s.remove_account(&address).map_err(e)?;
                Ok(vec![format!("removed user {address} and their mail")])
            }
            Request::AliasAdd { alias, targets } => {
                let a = s.add_alias(&alias, &targets).map_err(e)?;
                Ok(vec![format!(
                    "added alias {} -> {}",
                    a.address,
                    a.targets.join(",")
                )])
            }
            Request::AliasList => Ok(s
                .aliases()
                .map_err(e)?
                .into_iter()
                .map(|a| format!("{} -> {}", a.address, a.targets.join(",")))
                .collect()),
            Request::AliasRemove(alias) => {
                let alias = crate::mail::idna::address_to_ascii(&alias);
                s.remove_alias(&alias).map_err(e)?;
                Ok(vec![format!("removed alias {alias}")])
            }
            Request::QueueList => {
                let entries = s.queue_entries().map_err(e)?;
                let total = entries.len();
                let mut lines: Vec<String> = entries
                    .into_iter()
                    .take(MAX_LIST)
                    .map(|q| {
                        let rcpts: Vec<String> = q
                            .recipients
                            .iter()
                            .map(|r| match &r.last_error {
                                Some(why) => format!("{} ({:?}: {why})", r.address, r.state),
                                None => format!("{} ({:?})", r.address, r.state),
                            })
                            .collect();
                        format!(
                            "{} from <{}> {} bytes, {} attempt(s), next {}: {}",
                            q.id,
                            q.sender,
                            q.size,
                            q.attempts,
                            crate::time::rfc3339(q.next_attempt),
                            rcpts.join(", ")
                        )
                    })
                    .collect();
                if total > MAX_LIST {
                    lines.push(format!("... and {} more entries", total - MAX_LIST));
                }
                Ok(lines)
            }
            Request::QueueRetry(id) => {
                let mut q = s
                    .queue_entry(id)
                    .map_err(e)?
                    .ok_or_else(|| format!("queue entry {id} does not exist"))?;
                q.next_attempt = crate::time::unix_now();
                s.update_queue_entry(&q).map_err(e)?;
                self.notify.queue_retry();
                Ok(vec![format!("queue entry {id} will be retried now")])
            }
            Request::QueueRetryAll => {
                let now = crate::time::unix_now();
                let mut n = 0;
                for mut q in s.queue_entries().map_err(e)? {
                    q.next_attempt = now;
                    // Removed meanwhile (delivered): nothing to retry.
                    if s.update_queue_entry(&q).is_ok() {
                        n += 1;
                    }
                }
                self.notify.queue_retry();
                Ok(vec![format!("{n} queue entries will be retried now")])
            }
            Request::QueueRemove(id) => {
                s.remove_queue_entry(id).map_err(e)?;
                Ok(vec![format!("removed queue entry {id}")])
            }
            Request::Memory => Ok(memory_report()),
        }
    }
}

/// Encodes one frame.
pub fn frame<T: Serialize>(msg: &T) -> Vec<u8> {
    let body = postcard::to_stdvec(msg).unwrap_or_default();
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Reads one frame from a blocking or async reader's bytes.
pub async fn read_frame<R, T>(r: &mut R) -> std::io::Result<T>
where
    R: smol::io::AsyncRead + Unpin,
    T: serde::de::DeserializeOwned,
{
    use smol::io::AsyncReadExt;
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "admin message too large",
        ));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf).await?;
    postcard::from_bytes(&buf)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}

/// Serves the admin socket until the listener fails. Each connection
/// carries one request and its response.
pub async fn serve(listener: smol::net::unix::UnixListener, admin: Arc<Admin>) {
    loop {
        let (mut stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                log::warn!("admin socket accept failed: {e}");
                smol::Timer::after(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let admin = admin.clone();
        smol::spawn(async move {
            use smol::io::AsyncWriteExt;
            let resp = match read_frame::<_, Request>(&mut stream).await {
                Ok(req) => {
                    log::info!("admin: {}", describe(&req));
                    let a = admin.clone();
                    smol::unblock(move || a.handle(req)).await
                }
                Err(e) => Response::Error(format!("bad admin request: {e}")),
            };
            let _ = stream.write_all(&frame(&resp)).await;
        })
        .detach();
    }
}

/// `facteur memory`: this process's resident set (from /proc) and what
/// the allocator holds, in arenas and bytes.
fn memory_report() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let mut lines = Vec::new();
    for (label, name) in [("resident", "VmRSS:"), ("peak resident", "VmHWM:")] {
        if let Some(v) = field(name) {
            lines.push(format!("{label}: {v}"));
        }
    }
    match crate::malloc::info().and_then(|r| crate::malloc::usage(&r)) {
        Some(u) => {
            lines.push(format!(
                "malloc arenas: {} (at most {})",
                u.arenas,
                crate::malloc::ARENAS
            ));
            lines.push(format!("malloc held: {} kB", u.held / 1024));
        }
        None => lines.push("malloc arenas: unknown (not glibc)".to_string()),
    }
    lines
}

/// A log line for a request, without passwords.
fn describe(req: &Request) -> String {
    match req {
        Request::UserAdd { address, .. } => format!("user add {address}"),
        Request::UserPasswd { address, .. } => format!("user passwd {address}"),
        other => format!("{other:?}"),
    }
}

/// Sends a request to a running server. `Ok(None)` means no server is
/// listening on `socket` (the caller opens the store itself).
pub fn call(socket: &std::path::Path, req: &Request) -> std::io::Result<Option<Response>> {
    use std::io::{Read, Write};
    let mut stream = match std::os::unix::net::UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    stream.write_all(&frame(req))?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len > MAX_RESPONSE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "admin response too large",
        ));
    }
    let mut buf = vec![0u8; len as usize];
    stream.read_exact(&mut buf)?;
    postcard::from_bytes(&buf)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
}
