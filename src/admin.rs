//! The admin service: one request/response API over the store, used by the
//! command line (through a unix socket while the server runs, or directly
//! when it does not), and later by the web page and the serial console.
//!
//! Wire format on the socket: each message is a 4-byte big-endian length
//! followed by a postcard-encoded [`Request`] or [`Response`].

use crate::net::auth::{Authenticator, Login};
use crate::password;
pub use crate::setup::code::ClaimState;
use crate::setup::code::SetupCode;
use crate::setup::plan::{self, FieldError, Plan};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
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
        /// Whether the account may administer the box.
        admin: bool,
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
    /// Change settings in the config file (all or none), then reload.
    ConfigSet(Vec<crate::config_edit::Edit>),
    /// Re-read the config file and apply it.
    Reload,

    // Administration of the box (admin flag, setup, log, status).
    /// Make an account an admin, or take the flag away.
    UserAdmin {
        /// Address.
        address: String,
        /// On or off.
        on: bool,
    },
    /// Set up an unclaimed box from a first-boot plan.
    SetupApply(Plan),
    /// The last lines of the server's log (at most
    /// [`crate::logger::RING_LINES`]).
    LogTail(u32),
    /// The dashboard: services, uptime, memory, disk, queue, today's mail.
    Status,
    /// Make a snapshot of the data dir in a directory (see
    /// [`crate::backup`]).
    Backup {
        /// The backup directory.
        dest: String,
        /// Snapshots kept there (0: all).
        keep: u32,
        /// Hard-link bodies from the data dir (a staging copy on its file
        /// system, for `backup --stdout`).
        link: bool,
    },
    /// The memory of the process that answers: resident set and malloc
    /// arenas (only the running server's is of interest).
    Memory,
    /// Whether the box is claimed: one line, `claimed` or `unclaimed`.
    ClaimState,
    /// What a new box's owner needs to reach it: its addresses, the web
    /// page's URLs and, while unclaimed, the setup code (see
    /// [`Admin::setup_info`]).
    SetupInfo,
    /// Checks the login of an admin account (the serial console's), through
    /// the login failure limiter; refused for other accounts.
    AdminLogin {
        /// Address.
        address: String,
        /// Password.
        password: String,
    },
    /// Changes an admin account's password (generated when none is given);
    /// refused for other accounts. The console's reset without a login.
    AdminPasswd {
        /// Address.
        address: String,
        /// Password, or none to generate one.
        password: Option<String>,
    },
    /// Import a user's mail (see [`crate::import`]).
    Import {
        /// The account.
        user: String,
        /// SOURCE as given (an absolute path, or an `imaps://` URL).
        source: String,
        /// What is needed besides the source.
        options: ImportOptions,
    },
    /// Write a user's mail to a new Maildir (an absolute path).
    Export {
        /// The account.
        user: String,
        /// The directory.
        dir: String,
    },
}

/// The options of an import as they travel on the admin socket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOptions {
    /// `--folder-map OLD=NEW` pairs.
    pub folder_map: Vec<(String, String)>,
    /// The IMAP source's password.
    pub password: Option<String>,
    /// `--ca FILE`: extra trusted CAs for the IMAP source.
    pub ca: Option<String>,
    /// `--insecure`: any certificate is accepted.
    pub insecure: bool,
}

impl Request {
    /// Whether the request is about the running server (its log, its
    /// listeners), so that a command run while it is stopped cannot
    /// answer it from the store.
    pub fn needs_server(&self) -> bool {
        matches!(
            self,
            Request::LogTail(_) | Request::Status | Request::Memory | Request::SetupInfo
        )
    }
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

    /// The config file changed: re-read and apply it. Returns what was
    /// applied and what needs a restart, or the config errors (then
    /// nothing changed).
    fn reload(&self) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }

    /// A new TLS certificate and key were installed: new connections
    /// should be offered them.
    fn tls_changed(&self) {}
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
    /// The setup code while the box is unclaimed.
    setup_code: Option<SetupCode>,
    /// The server's login checker, whose failure limiter setup codes go
    /// through; `None` in a short-lived command.
    auth: Option<Arc<Authenticator>>,
    /// The listeners, as the server bound them.
    services: std::sync::Mutex<Vec<ServiceState>>,
    /// One plan applied at a time: a second one must not put back a
    /// config file read before the first one wrote it.
    applying: std::sync::Mutex<()>,
    /// The config file that settings are written to.
    config_file: Option<std::path::PathBuf>,
    /// `limits.max_message_size` (imports log messages over it).
    max_message_size: u64,
    /// Where import progress lines go.
    import_progress: fn(&str),
    /// The configuration the running server uses; `None` in a
    /// short-lived command.
    config: Option<ConfigInForce>,
}

/// The metrics that [`Dashboard::lines`] shows in its own words.
const ON_THE_DASHBOARD: &[&str] = &[
    "facteur_queue_length",
    "facteur_resident_memory_bytes",
    "facteur_data_dir_free_bytes",
    "facteur_certificate_expiry_seconds",
];

/// Gives the configuration in force: the running server's changes with
/// each reload.
pub type ConfigInForce = Box<dyn Fn() -> Arc<crate::config::Config> + Send + Sync>;

impl Admin {
    /// A service over `store`.
    pub fn new(store: Arc<Store>, notify: Arc<dyn Notify>) -> Admin {
        Admin {
            store,
            notify,
            passwords: None,
            config_file: None,
            config: None,
            setup_code: None,
            auth: None,
            services: std::sync::Mutex::new(Vec::new()),
            applying: std::sync::Mutex::new(()),
            max_message_size: 0,
            import_progress: |line| log::info!("import: {line}"),
        }
    }

    /// Imports mail into `user`'s mailboxes; progress goes to the log
    /// (the command line prints it when it runs the import itself).
    pub fn import(
        &self,
        user: &str,
        source: &str,
        options: ImportOptions,
    ) -> Result<Vec<String>, String> {
        let user = crate::mail::idna::address_to_ascii(user);
        let source = crate::import::Source::parse(source)?;
        let opts = crate::import::Options {
            folder_map: options.folder_map,
            password: options.password,
            ca: options.ca.map(Into::into),
            insecure: options.insecure,
            max_message_size: self.max_message_size,
        };
        let mut progress = |line: &str| (self.import_progress)(line);
        let r = crate::import::run(&self.store, &user, &source, &opts, &mut progress)?;
        let lines = r.lines();
        log::info!("import for {user}: {}", lines.join("; "));
        Ok(lines)
    }

    /// Where import progress lines go (the log by default).
    pub fn with_import_progress(mut self, f: fn(&str)) -> Admin {
        self.import_progress = f;
        self
    }

    /// Sets `limits.max_message_size`, over which imported messages are
    /// logged.
    pub fn with_max_message_size(mut self, bytes: u64) -> Admin {
        self.max_message_size = bytes;
        self
    }

    /// Claims the box with `code` (see [`SetupCode`]): it is forgotten,
    /// and its file removed, once an admin account exists.
    pub fn with_setup_code(mut self, code: SetupCode) -> Admin {
        self.setup_code = Some(code);
        self
    }

    /// Checks setup codes through the server's login failure limiter.
    pub fn with_authenticator(mut self, auth: Arc<Authenticator>) -> Admin {
        self.auth = Some(auth);
        self
    }

    /// Settings are changed in `file` (see [`crate::config_edit`]).
    pub fn with_config_file(mut self, file: std::path::PathBuf) -> Admin {
        self.config_file = Some(file);
        self
    }

    /// Reads the server's configuration in force through `config` (the
    /// certificate and backups the dashboard and metrics report on).
    pub fn with_config_in_force(mut self, config: ConfigInForce) -> Admin {
        self.config = Some(config);
        self
    }

    /// Writes `edits` into the config file (all or none, checked as
    /// `check-config` does), then applies the new file.
    pub fn config_set(&self, edits: &[crate::config_edit::Edit]) -> Result<Vec<String>, String> {
        let file = self
            .config_file
            .as_ref()
            .ok_or("this server has no config file to change")?;
        let mut lines = crate::config_edit::apply(file, edits)?;
        lines.extend(self.reload()?);
        Ok(lines)
    }

    /// Re-reads the config file and applies it.
    pub fn reload(&self) -> Result<Vec<String>, String> {
        self.notify.reload()
    }

    /// Checks an uploaded PEM chain and key (they match, and are valid at
    /// `now`) and installs them where `cfg` reads them; the server then
    /// presents them on new connections. Refused, nothing changes.
    pub fn install_certificate(
        &self,
        cfg: &crate::config::Config,
        chain_pem: &[u8],
        key_pem: &[u8],
        now: i64,
    ) -> Result<crate::provision::cert::CertInfo, String> {
        crate::provision::cert::install(cfg, chain_pem, key_pem, now, self.notify.as_ref())
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

    /// A plan's password: an argon2id hash given in a profile is stored
    /// as it is (see [`plan::check_password`]); anything else is a
    /// [`Admin::new_password`].
    fn plan_password(
        &self,
        address: &str,
        given: Option<String>,
    ) -> Result<(String, bool, String), String> {
        match given {
            Some(hash) if password::is_hash(&hash) => {
                password::check_hash(&hash)?;
                Ok((String::new(), false, hash))
            }
            given => self.new_password(address, given),
        }
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
            Request::UserAdd {
                address,
                password,
                admin,
            } => {
                let added = self.add_user(&address, password, admin)?;
                let mut out = vec![format!(
                    "added {} {}",
                    if admin { "admin" } else { "user" },
                    added.address
                )];
                if let Some(pw) = added.generated_password {
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
            Request::UserList => Ok(self
                .users()?
                .into_iter()
                .map(|u| {
                    if u.admin {
                        format!("{} (admin)", u.address)
                    } else {
                        u.address
                    }
                })
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
            Request::ConfigSet(edits) => self.config_set(&edits),
            Request::Reload => self.reload(),
            Request::SetupApply(plan) => {
                let done = self.apply_plan(plan).map_err(|e| e.to_string())?;
                let mut out = vec!["the box is set up".to_string()];
                for (address, pw) in done.generated_passwords {
                    out.push(format!("password of {address}: {pw}"));
                }
                out.extend(done.notes);
                for (_, text) in done.dns_records {
                    out.extend(text.lines().map(String::from));
                }
                Ok(out)
            }
            Request::LogTail(n) => Ok(self.log_tail(n as usize)),
            Request::Status => {
                let mut lines = self.dashboard()?.lines();
                // The metrics the dashboard's lines do not already give.
                let rest: Vec<_> = self
                    .metrics()
                    .into_iter()
                    .filter(|f| !ON_THE_DASHBOARD.contains(&f.name))
                    .collect();
                let text = crate::metrics::render_human(&rest);
                lines.extend(text.lines().map(String::from));
                Ok(lines)
            }
            Request::UserAdmin { address, on } => {
                let address = crate::mail::idna::address_to_ascii(&address);
                self.set_admin(&address, on)?;
                Ok(vec![if on {
                    format!("{address} is an admin")
                } else {
                    format!("{address} is no longer an admin")
                }])
            }
            Request::Backup { dest, keep, link } => {
                let r = crate::backup::snapshot(s, dest.as_ref(), keep as usize, link)?;
                log::info!("{}", r.line());
                Ok(vec![r.line()])
            }
            Request::Memory => Ok(memory_report()),
            Request::Import {
                user,
                source,
                options,
            } => self.import(&user, &source, options),
            Request::Export { user, dir } => {
                let user = crate::mail::idna::address_to_ascii(&user);
                let r = crate::import::export::export(s, &user, dir.as_ref())?;
                let line = r.line(dir.as_ref());
                log::info!("{user}: {line}");
                Ok(vec![line])
            }
            Request::ClaimState => Ok(vec![match self.claim_state()? {
                ClaimState::Claimed => "claimed".to_string(),
                ClaimState::Unclaimed => "unclaimed".to_string(),
            }]),
            Request::SetupInfo => Ok(self.setup_info(&host_addresses())),
            Request::AdminLogin { address, password } => {
                self.check_admin_login(&address, &password)?;
                Ok(vec![format!("{} logged in", address.trim())])
            }
            Request::AdminPasswd { address, password } => {
                if !self.is_admin(&address)? {
                    return Err(format!("{} is not an admin account", address.trim()));
                }
                self.run(Request::UserPasswd { address, password })
            }
        }
    }
}

/// An account as the users page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// `local@domain`.
    pub address: String,
    /// Whether it may administer the box.
    pub admin: bool,
    /// Storage limit in bytes (its own or the default; 0: unlimited).
    pub quota: u64,
    /// Bytes stored.
    pub used: u64,
}

/// The verdict on a setup code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The right code: the client may claim the box.
    Accepted,
    /// Not the code (after the failure delay).
    Wrong,
    /// Too many failures from this client: refused without checking.
    Throttled,
    /// No code to check: the box is claimed (or no server runs).
    NoCode,
}

/// One network service on the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceState {
    /// Its config name (`smtp`, `imaps`, `web`...).
    pub name: String,
    /// The addresses it listens on.
    pub addrs: Vec<String>,
    /// Whether it listens at all.
    pub up: bool,
}

/// The dashboard's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    /// facteur's version.
    pub version: String,
    /// Seconds since the server started.
    pub uptime_secs: u64,
    /// Resident memory of the server in bytes (`None` if unreadable).
    pub rss_bytes: Option<u64>,
    /// Bytes free on the data disk.
    pub disk_free: Option<u64>,
    /// Bytes of it kept in reserve (`store.min_free`).
    pub disk_reserve: Option<u64>,
    /// Entries in the outbound queue.
    pub queue_length: usize,
    /// Each service, up or down.
    pub services: Vec<ServiceState>,
    /// Today's mail (UTC day).
    pub today: crate::stats::Today,
    /// When the TLS certificate expires (Unix time), once read.
    pub certificate_expiry: Option<i64>,
    /// Whether the box has an admin.
    pub claim: ClaimState,
}

impl Dashboard {
    /// The dashboard as text lines (`facteur status`).
    pub fn lines(&self) -> Vec<String> {
        let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64);
        let opt = |b: Option<u64>| b.map(mib).unwrap_or_else(|| "unknown".into());
        let up = self.uptime_secs;
        let mut out = vec![
            format!("facteur {}", self.version),
            format!(
                "uptime: {}d {:02}h {:02}m {:02}s",
                up / 86_400,
                up / 3600 % 24,
                up / 60 % 60,
                up % 60
            ),
            format!("memory (RSS): {}", opt(self.rss_bytes)),
            format!(
                "data disk: {} free, {} kept in reserve",
                opt(self.disk_free),
                opt(self.disk_reserve)
            ),
            format!("queue: {} message(s)", self.queue_length),
            format!(
                "today: {} received, {} delivered, {} refused, {} to Junk",
                self.today.received, self.today.delivered, self.today.refused, self.today.junked
            ),
            format!(
                "certificate expires: {}",
                self.certificate_expiry
                    .map(crate::time::rfc3339)
                    .unwrap_or_else(|| "unknown".into())
            ),
            format!(
                "setup: {}",
                match self.claim {
                    ClaimState::Claimed => "claimed",
                    ClaimState::Unclaimed => "unclaimed (see DATA_DIR/setup-code)",
                }
            ),
        ];
        for svc in &self.services {
            out.push(format!(
                "service {}: {}{}",
                svc.name,
                if svc.up { "up" } else { "off" },
                if svc.addrs.is_empty() {
                    String::new()
                } else {
                    format!(" on {}", svc.addrs.join(", "))
                }
            ));
        }
        out
    }
}

/// This process's resident memory, from `/proc/self/status` (`VmRSS`, in
/// kB whatever the page size).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What [`Admin::apply_plan`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The staff accounts whose password was generated, with it (shown
    /// once).
    pub generated_passwords: Vec<(String, String)>,
    /// Lines about the new domains' DKIM keys.
    pub notes: Vec<String>,
    /// For each domain, the zone text to publish (as `facteur
    /// dns-records` prints it).
    pub dns_records: Vec<(String, String)>,
}

/// Why a plan was not applied; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// Fields to correct, each with its error.
    Fields(Vec<FieldError>),
    /// Refused or failed as a whole.
    Failed(String),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::Fields(errors) => {
                let all: Vec<String> = errors.iter().map(|(k, e)| format!("{k}: {e}")).collect();
                f.write_str(&all.join("; "))
            }
            PlanError::Failed(e) => f.write_str(e),
        }
    }
}

/// An account just added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedUser {
    /// The stored address (lower case, A-labels).
    pub address: String,
    /// The password, when it was generated (to be shown once).
    pub generated_password: Option<String>,
}

/// Typed calls for the faces that render their own answers (web pages,
/// console). The CLI's [`Request`]s call the same methods.
impl Admin {
    /// Adds an account, an admin when `admin`; a password is generated
    /// when none is given.
    pub fn add_user(
        &self,
        address: &str,
        password: Option<String>,
        admin: bool,
    ) -> Result<AddedUser, String> {
        let (pw, shown, hash) = self.new_password(address, password)?;
        let account = crate::store::NewAccount {
            address: address.to_string(),
            password_hash: hash,
            admin,
        };
        let a = self
            .store
            .setup(&[], &[account])
            .map_err(|e| e.to_string())?
            .pop()
            .ok_or("the account was not added")?;
        if admin {
            self.claimed();
        }
        Ok(AddedUser {
            address: a.address,
            generated_password: shown.then_some(pw),
        })
    }

    /// Every account with its admin flag, quota and usage, sorted.
    pub fn users(&self) -> Result<Vec<UserInfo>, String> {
        let s = &self.store;
        let e = |e: StoreError| e.to_string();
        let admins = s.admins().map_err(e)?;
        s.accounts()
            .map_err(e)?
            .into_iter()
            .map(|a| {
                let q = s.quota(&a.address).map_err(e)?;
                Ok(UserInfo {
                    admin: admins.binary_search(&a.address).is_ok(),
                    address: a.address,
                    quota: q.limit,
                    used: q.used,
                })
            })
            .collect()
    }

    /// Whether `address` is an admin account.
    pub fn is_admin(&self, address: &str) -> Result<bool, String> {
        let address = crate::mail::idna::address_to_ascii(address.trim());
        self.store.is_admin(&address).map_err(|e| e.to_string())
    }

    /// Makes an account an admin, or takes the flag away; the last
    /// admin's flag stays.
    pub fn set_admin(&self, address: &str, on: bool) -> Result<(), String> {
        let address = crate::mail::idna::address_to_ascii(address.trim());
        self.store
            .set_admin(&address, on)
            .map_err(|e| e.to_string())?;
        self.claimed();
        Ok(())
    }

    /// Whether the box has an admin yet.
    pub fn claim_state(&self) -> Result<ClaimState, String> {
        match self.store.has_admin() {
            Ok(true) => Ok(ClaimState::Claimed),
            Ok(false) => Ok(ClaimState::Unclaimed),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Checks a setup code typed by a client at `peer`, through the same
    /// failure limiter as logins: a wrong code is a failed login for that
    /// address, delayed and then refused alike.
    pub async fn check_setup_code(&self, code: &str, peer: IpAddr) -> CodeCheck {
        let (Some(auth), Some(setup)) = (&self.auth, &self.setup_code) else {
            return CodeCheck::NoCode;
        };
        if setup.shown().is_none() {
            return CodeCheck::NoCode;
        }
        // Counted under a name of the client's own, not one shared by all:
        // wrong codes from one client must not lock the owner out.
        let name = format!("setup code from {peer}");
        match auth.check_secret(peer, &name, || setup.matches(code)).await {
            Login::Ok(_) => CodeCheck::Accepted,
            Login::Failed | Login::TempFail => CodeCheck::Wrong,
            Login::Throttled => CodeCheck::Throttled,
        }
    }

    /// Forgets the setup code once an admin exists.
    fn claimed(&self) {
        if let (Some(code), Ok(true)) = (&self.setup_code, self.store.has_admin()) {
            code.forget();
        }
    }

    /// Sets up an unclaimed box from a wizard's [`Plan`], all of it or
    /// nothing: first the config file (`server.hostname`,
    /// `server.domains`, `[relay]`; checked as `check-config` checks it),
    /// then the domains, the admin and staff accounts in one store
    /// transaction; when that fails, the config file is put back as it
    /// was. Then the new config is applied. Refused once the box is
    /// claimed. Returns the generated passwords and the DNS records to
    /// publish.
    pub fn apply_plan(&self, plan: Plan) -> Result<Applied, PlanError> {
        let plan = plan.normalised();
        let errors = plan.validate();
        if !errors.is_empty() {
            return Err(PlanError::Fields(errors));
        }
        let failed = |e: String| PlanError::Failed(e);
        let _one_at_a_time = self.applying.lock().unwrap_or_else(|p| p.into_inner());
        if self.claim_state().map_err(failed)? == ClaimState::Claimed {
            return Err(failed("the box is already set up".into()));
        }
        let mut accounts = Vec::with_capacity(plan.staff.len() + 1);
        let mut generated = Vec::new();
        let mut fields = vec![("admin.address".to_string(), plan.admin.address.clone())];
        let (_, _, hash) = self
            .plan_password(&plan.admin.address, Some(plan.admin.password.clone()))
            .map_err(failed)?;
        accounts.push(crate::store::NewAccount {
            address: crate::mail::idna::address_to_ascii(&plan.admin.address),
            password_hash: hash,
            admin: true,
        });
        for (i, staff) in plan.staff.iter().enumerate() {
            let (pw, shown, hash) = self
                .plan_password(&staff.address, staff.password.clone())
                .map_err(failed)?;
            let address = crate::mail::idna::address_to_ascii(&staff.address);
            if shown {
                generated.push((address.to_ascii_lowercase(), pw));
            }
            fields.push((format!("staff.{i}.address"), address.clone()));
            accounts.push(crate::store::NewAccount {
                address,
                password_hash: hash,
                admin: false,
            });
        }
        let s = &self.store;
        let mut new_domains = Vec::new();
        for d in &plan.domains {
            if !s.is_local_domain(d).map_err(|e| failed(e.to_string()))? {
                new_domains.push(d.clone());
            }
        }
        let file = self
            .config_file
            .clone()
            .ok_or_else(|| failed("this server has no config file to write".into()))?;
        let before = match std::fs::read(&file) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(failed(format!("cannot read {}: {e}", file.display()))),
        };
        let edits = plan.config_edits();
        if let Err(msg) = crate::config_edit::apply(&file, &edits) {
            // A value the config refuses: shown beside its field.
            let field = edits
                .iter()
                .map(|e| e.key())
                .find(|k| msg.contains(*k))
                .map(|k| plan::field_of(k).to_string());
            return Err(match field {
                Some(field) => PlanError::Fields(vec![(field, msg)]),
                None => failed(msg),
            });
        }
        if let Err(e) = s.setup(&plan.domains, &accounts) {
            let restored = match &before {
                Some(text) => {
                    let mode =
                        std::fs::metadata(&file).map_or(0o600, |m| m.permissions().mode() & 0o7777);
                    crate::config_edit::write_atomic(&file, text, mode)
                }
                None => std::fs::remove_file(&file).map_err(|e| e.to_string()),
            };
            if let Err(r) = restored {
                log::error!(
                    "cannot put back {} after a failed setup: {r}",
                    file.display()
                );
            }
            // An account that exists already: shown beside its field.
            let msg = e.to_string();
            let field = fields
                .into_iter()
                .find(|(_, a)| msg.contains(&a.to_ascii_lowercase()));
            return Err(match field {
                Some((field, _)) => PlanError::Fields(vec![(field, msg)]),
                None => failed(msg),
            });
        }
        self.claimed();
        let mut notes = match self.reload() {
            Ok(lines) => lines,
            Err(e) => vec![format!("the new settings are not applied yet: {e}")],
        };
        for d in &new_domains {
            notes.extend(self.notify.domain_added(d));
        }
        let cfg = crate::config::Config::load(&file).map_err(|e| failed(e.to_string()))?;
        let mut dns_records = Vec::new();
        for d in &plan.domains {
            let list = crate::provision::records::domain_records(&cfg, d).map_err(failed)?;
            dns_records.push((d.clone(), crate::auth::records::zone_text(d, &list)));
        }
        Ok(Applied {
            generated_passwords: generated,
            notes,
            dns_records,
        })
    }

    /// The last `n` lines of the log (at most
    /// [`crate::logger::RING_LINES`]), oldest first.
    pub fn log_tail(&self, n: usize) -> Vec<String> {
        crate::logger::tail(n)
    }

    /// Records the listeners the server bound (at start, and again when
    /// they are re-bound).
    pub fn set_services(&self, services: Vec<ServiceState>) {
        *self.services.lock().unwrap_or_else(|p| p.into_inner()) = services;
    }

    /// What the dashboard shows. Cheap: no listing is loaded (the queue
    /// is counted, the disk space is at most a second old).
    pub fn dashboard(&self) -> Result<Dashboard, String> {
        let s = &self.store;
        let space = s.space();
        Ok(Dashboard {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_secs: crate::stats::uptime().as_secs(),
            rss_bytes: rss_bytes(),
            disk_free: space.map(|sp| sp.available),
            disk_reserve: space.map(|sp| sp.reserve),
            queue_length: s.queue_len(),
            services: self
                .services
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            today: crate::stats::today(),
            certificate_expiry: self.certificate_expiry(),
            claim: self.claim_state()?,
        })
    }

    /// When the certificate in force expires (Unix time), if readable.
    fn certificate_expiry(&self) -> Option<i64> {
        let cfg = (self.config.as_ref()?)();
        crate::provision::cert::current(&cfg)
            .ok()
            .map(|c| c.not_after)
    }

    /// Everything `GET /metrics` reports: the counters since the start,
    /// the connections open, the queue's length, memory, disk, the
    /// certificate's expiry and the age of the last good backup.
    pub fn metrics(&self) -> Vec<crate::metrics::Family> {
        use crate::metrics::Family;
        let mut out = crate::metrics::counters();
        out.push(
            Family::gauge("facteur_queue_length", "Entries in the outbound queue.")
                .with(&[], self.store.queue_len() as f64),
        );
        let cfg = self.config.as_ref().map(|c| c());
        let backups = cfg.as_ref().and_then(|c| c.backup.dir.as_deref());
        out.extend(crate::metrics::health(
            &self.store,
            backups,
            std::time::SystemTime::now(),
        ));
        if let Some(t) = self.certificate_expiry() {
            out.push(
                Family::gauge(
                    "facteur_certificate_expiry_seconds",
                    "When the TLS certificate expires, in Unix seconds.",
                )
                .with(&[], t as f64),
            );
        }
        out
    }

    /// What the learning filter knows: the shared pool's counts (under an
    /// empty name), then each account's (messages learned as spam and as
    /// ham, tokens).
    pub fn bayes_stats(&self) -> Result<Vec<(String, crate::antispam::bayes::PoolStats)>, String> {
        use crate::antispam::bayes::Bayes;
        let e = |e: StoreError| e.to_string();
        let bayes = Bayes::open(&self.store, Default::default()).map_err(e)?;
        let mut out = vec![(String::new(), bayes.global_stats().map_err(e)?)];
        for a in self.store.accounts().map_err(e)? {
            let stats = bayes.stats(&a.address).map_err(e)?;
            out.push((a.address, stats));
        }
        Ok(out)
    }

    /// Sets an account's own storage quota from what a person typed: a
    /// size as the config writes it (`500 MiB`), or empty or `0` for the
    /// default. Returns what was done.
    pub fn set_quota_text(&self, address: &str, typed: &str) -> Result<String, String> {
        let typed = typed.trim();
        let bytes = if typed.is_empty() {
            0
        } else {
            crate::config::parse_size(typed)
                .ok_or_else(|| {
                    format!("{typed:?} is not a size such as \"500 MiB\" (0 or empty: the default)")
                })?
                .0
        };
        self.set_quota(address, bytes)?;
        let address = address.trim();
        Ok(if bytes == 0 {
            format!("{address} has the default quota")
        } else {
            format!("the quota of {address} is {typed}")
        })
    }

    /// Sets an account's own storage quota in bytes (0: the default).
    pub fn set_quota(&self, address: &str, bytes: u64) -> Result<(), String> {
        let address = crate::mail::idna::address_to_ascii(address.trim());
        self.store
            .set_quota(&address, bytes)
            .map_err(|e| e.to_string())
    }
}

/// Where the failure limiter counts console logins: the console has no
/// peer address, and no network client has this one.
const CONSOLE_PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

/// The serial console's calls.
impl Admin {
    /// Checks an admin's login: the password through the server's failure
    /// limiter (as a mail client's), then the admin flag. One refusal for
    /// a wrong password and a staff account, so that it tells nothing.
    pub fn check_admin_login(&self, address: &str, password: &str) -> Result<(), String> {
        let refused = || "wrong address or password, or not an admin account".to_string();
        let address = crate::mail::idna::address_to_ascii(address.trim()).to_ascii_lowercase();
        match &self.auth {
            Some(auth) => match smol::block_on(auth.login(CONSOLE_PEER, "", &address, password)) {
                Login::Ok(_) => {}
                Login::Failed => return Err(refused()),
                Login::Throttled => return Err("too many failed logins: wait and retry".into()),
                Login::TempFail => return Err("the login cannot be checked now: retry".into()),
            },
            None => {
                let account = self.store.account(&address).map_err(|e| e.to_string())?;
                if !account.is_some_and(|a| password::verify(password, &a.password_hash)) {
                    return Err(refused());
                }
            }
        }
        match self.is_admin(&address)? {
            true => Ok(()),
            false => Err(refused()),
        }
    }

    /// What the owner of a new box needs to reach it: the addresses
    /// `hosts` of the box, the web page's URLs (a listener on every
    /// address gives one URL per host address), and the setup code while
    /// the box is unclaimed.
    pub fn setup_info(&self, hosts: &[IpAddr]) -> Vec<String> {
        let shown: Vec<String> = hosts.iter().map(IpAddr::to_string).collect();
        let mut out = vec![format!(
            "addresses: {}",
            if shown.is_empty() {
                "none (no network)".to_string()
            } else {
                shown.join(", ")
            }
        )];
        let services = self
            .services
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for svc in services.iter().filter(|s| s.up) {
            let (scheme, default_port) = match svc.name.as_str() {
                "web" => ("https", 443),
                "web_plain" => ("http", 80),
                _ => continue,
            };
            for addr in svc
                .addrs
                .iter()
                .filter_map(|a| a.parse::<SocketAddr>().ok())
            {
                let ips: Vec<IpAddr> = match addr.ip() {
                    IpAddr::V4(ip) if ip.is_unspecified() => {
                        hosts.iter().filter(|h| h.is_ipv4()).copied().collect()
                    }
                    ip if ip.is_unspecified() => hosts.to_vec(),
                    ip => vec![ip],
                };
                for ip in ips {
                    let host = match ip {
                        IpAddr::V4(v4) => v4.to_string(),
                        IpAddr::V6(v6) => format!("[{v6}]"),
                    };
                    let port = match addr.port() {
                        p if p == default_port => String::new(),
                        p => format!(":{p}"),
                    };
                    out.push(format!("web page: {scheme}://{host}{port}/"));
                }
            }
        }
        let unclaimed = self.claim_state() == Ok(ClaimState::Unclaimed);
        if let Some(code) = self.setup_code.as_ref().and_then(|c| c.shown()) {
            if unclaimed {
                out.push(format!("setup code: {code}"));
            }
        }
        out
    }
}

/// The box's own addresses, but loopback and IPv6 link-local ones: IPv4
/// from the kernel's local routes (`/proc/net/fib_trie`), IPv6 from
/// `/proc/net/if_inet6`. Empty when neither is readable.
pub fn host_addresses() -> Vec<IpAddr> {
    let fib = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let inet6 = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    parse_host_addresses(&fib, &inet6)
}

/// [`host_addresses`] from the two files' text.
fn parse_host_addresses(fib_trie: &str, if_inet6: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut last: Option<IpAddr> = None;
    // A leaf `|-- 192.0.2.2` is one of ours when the next line says
    // `/32 host LOCAL`.
    for line in fib_trie.lines() {
        let line = line.trim();
        if let Some(ip) = line.strip_prefix("|-- ") {
            last = ip.parse().ok();
        } else if line.starts_with("/32 host LOCAL") {
            if let Some(ip) = last.take().filter(|ip| !ip.is_loopback()) {
                if !out.contains(&ip) {
                    out.push(ip);
                }
            }
        }
    }
    // `fd000000000000000000000000000002 04 40 00 82 eth0`: the address in
    // hex, then the interface index, prefix length and scope (0: global).
    for line in if_inet6.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(hex), Some(&"00")) = (fields.first(), fields.get(3)) else {
            continue;
        };
        if let Ok(n) = u128::from_str_radix(hex, 16) {
            let ip = IpAddr::V6(std::net::Ipv6Addr::from(n));
            if hex.len() == 32 && !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// The relay of a setup plan as the server's `[relay]` would have it,
/// with the rest (trusted CAs, certificate checks) from `base`: what the
/// wizard's test button tries.
pub fn relay_of_plan(
    r: &crate::setup::plan::Relay,
    base: &crate::config::Relay,
) -> crate::config::Relay {
    use crate::config::RelayTls;
    crate::config::Relay {
        host: r.host.clone(),
        port: r.port,
        tls: match r.tls.as_str() {
            "tls" => RelayTls::Tls,
            "none" => RelayTls::None,
            _ => RelayTls::Starttls,
        },
        username: r.username.clone(),
        password: r.password.clone(),
        ..base.clone()
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
        Request::UserAdd { address, admin, .. } => {
            format!("user add {address}{}", if *admin { " --admin" } else { "" })
        }
        Request::UserPasswd { address, .. } => format!("user passwd {address}"),
        Request::Import { user, source, .. } => format!("import {user} {source}"),
        Request::AdminPasswd { address, .. } => format!("admin passwd {address}"),
        Request::AdminLogin { address, .. } => format!("admin login {address}"),
        // Only the keys: a value may be a password.
        Request::ConfigSet(edits) => {
            let keys: Vec<&str> = edits.iter().map(|e| e.key()).collect();
            format!("config change {}", keys.join(" "))
        }
        Request::SetupApply(plan) => format!(
            "setup apply {} ({})",
            plan.hostname,
            plan.domains.join(", ")
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with `example.test` and the admin service over it, with
    /// the server's setup code and login limiter (3 failures refused).
    fn admin(claimed: bool) -> (Admin, std::path::PathBuf) {
        let dir = crate::testing::temp_dir("admin");
        let store = Arc::new(Store::open(&dir, 1 << 20).unwrap());
        store.add_domain("example.test").unwrap();
        let text = format!(
            "# the box\n[server]\nhostname = \"mail.example.test\"\ndata_dir = \"{}\"\n\
             [limits]\nauth_failures_before_delay = 3\nauth_failures_before_refusal = 3\n",
            dir.display()
        );
        let file = dir.join("facteur.toml");
        std::fs::write(&file, &text).unwrap();
        let cfg = crate::config::Config::parse(&text, "test").unwrap();
        let auth = Arc::new(Authenticator::new(store.clone(), &cfg));
        let code = SetupCode::start(&dir, claimed).unwrap();
        let admin = Admin::new(store, Arc::new(NoNotify))
            .with_authenticator(auth)
            .with_setup_code(code)
            .with_config_file(file);
        (admin, dir)
    }

    fn lines(r: Response) -> Vec<String> {
        match r {
            Response::Ok(l) => l,
            Response::Error(e) => panic!("{e}"),
        }
    }

    #[test]
    fn users_show_the_admin_flag_quota_and_usage() {
        let (a, dir) = admin(false);
        let boss = a
            .add_user("boss@example.test", Some("a long password".into()), true)
            .unwrap();
        assert_eq!(boss.generated_password, None);
        let staff = a.add_user("staff@example.test", None, false).unwrap();
        assert_eq!(staff.generated_password.map(|p| p.len()), Some(20));
        a.set_quota("staff@example.test", 5 << 20).unwrap();
        let users = a.users().unwrap();
        assert_eq!(
            users,
            [
                UserInfo {
                    address: "boss@example.test".into(),
                    admin: true,
                    quota: 0,
                    used: 0
                },
                UserInfo {
                    address: "staff@example.test".into(),
                    admin: false,
                    quota: 5 << 20,
                    used: 0
                },
            ]
        );
        assert!(a.is_admin("Boss@example.test").unwrap());
        assert!(!a.is_admin("staff@example.test").unwrap());
        assert!(!a.is_admin("nobody@example.test").unwrap());
        // The CLI's requests go through the same calls.
        let out = lines(a.handle(Request::UserList));
        assert_eq!(out, ["boss@example.test (admin)", "staff@example.test"]);
        let r = a.handle(Request::UserAdmin {
            address: "boss@example.test".into(),
            on: false,
        });
        assert!(
            matches!(&r, Response::Error(e) if e.contains("last admin")),
            "{r:?}"
        );
        lines(a.handle(Request::UserAdmin {
            address: "staff@example.test".into(),
            on: true,
        }));
        lines(a.handle(Request::UserAdmin {
            address: "boss@example.test".into(),
            on: false,
        }));
        let out = lines(a.handle(Request::UserList));
        assert_eq!(out, ["boss@example.test", "staff@example.test (admin)"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_setup_code_claims_once_and_wrong_ones_are_limited() {
        let (a, dir) = admin(false);
        let file = dir.join(crate::setup::code::CODE_FILE);
        assert_eq!(a.claim_state().unwrap(), ClaimState::Unclaimed);
        let code = std::fs::read_to_string(&file).unwrap();
        let code = code.trim();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        smol::block_on(async {
            assert_eq!(a.check_setup_code(code, ip).await, CodeCheck::Accepted);
            // Wrong codes are failures of that client: the third is
            // delayed and the client refused, even with the right code.
            for _ in 0..3 {
                assert_eq!(
                    a.check_setup_code("AAAA-AAAA-AAAA", ip).await,
                    CodeCheck::Wrong
                );
            }
            assert_eq!(a.check_setup_code(code, ip).await, CodeCheck::Throttled);
            // Another client is not locked out by them.
            assert_eq!(a.check_setup_code(code, other).await, CodeCheck::Accepted);
        });
        // A staff account does not claim the box; an admin does.
        a.add_user("staff@example.test", None, false).unwrap();
        assert!(file.exists());
        assert_eq!(a.claim_state().unwrap(), ClaimState::Unclaimed);
        a.set_admin("staff@example.test", true).unwrap();
        assert_eq!(a.claim_state().unwrap(), ClaimState::Claimed);
        assert!(!file.exists());
        let r = smol::block_on(a.check_setup_code(code, other));
        assert_eq!(r, CodeCheck::NoCode);
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn plan() -> Plan {
        Plan::from_toml(
            r#"
            hostname = "mail.new.test"
            domains = ["new.test", "example.test"]
            admin = { address = "boss@new.test", password = "a long password" }
            [[staff]]
            address = "ann@new.test"
            [[staff]]
            address = "bob@example.test"
            password = "another long one"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn a_plan_is_applied_whole_or_not_at_all() {
        let (a, dir) = admin(false);
        let code_file = dir.join(crate::setup::code::CODE_FILE);
        let config_file = dir.join("facteur.toml");
        let config = std::fs::read(&config_file).unwrap();
        // A bad field: nothing is done, and the field is named.
        let mut bad = plan();
        bad.staff[1].address = "bob@nowhere.test".into();
        match a.apply_plan(bad) {
            Err(PlanError::Fields(f)) => assert_eq!(f[0].0, "staff.1.address"),
            other => panic!("{other:?}"),
        }
        // An account that exists: found in the store, and still nothing
        // is done (not the domain, not the admin).
        a.add_user("bob@example.test", None, false).unwrap();
        match a.apply_plan(plan()) {
            Err(PlanError::Fields(f)) => assert_eq!(f[0].0, "staff.1.address", "{f:?}"),
            other => panic!("{other:?}"),
        }
        assert!(!a.store.is_local_domain("new.test").unwrap());
        assert!(a.store.account("boss@new.test").unwrap().is_none());
        assert_eq!(a.claim_state().unwrap(), ClaimState::Unclaimed);
        assert!(code_file.exists());
        assert_eq!(std::fs::read(&config_file).unwrap(), config);
        a.store.remove_account("bob@example.test").unwrap();
        // Good: every part, the box claimed, the code gone.
        let done = a.apply_plan(plan()).unwrap();
        assert_eq!(done.generated_passwords.len(), 1);
        assert_eq!(done.generated_passwords[0].0, "ann@new.test");
        let names: Vec<&str> = done.dns_records.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(names, ["new.test", "example.test"]);
        assert!(done.dns_records[0].1.contains("mail.new.test"), "{done:?}");
        assert_eq!(a.claim_state().unwrap(), ClaimState::Claimed);
        assert!(!code_file.exists());
        // The settings are in the config file, its comments kept.
        let cfg = crate::config::Config::load(&config_file).unwrap();
        assert_eq!(cfg.server.hostname.0, "mail.new.test");
        assert_eq!(cfg.server.domains.len(), 2);
        let text = std::fs::read_to_string(&config_file).unwrap();
        assert!(text.starts_with("# the box\n"), "{text}");
        let users: Vec<(String, bool)> = a
            .users()
            .unwrap()
            .into_iter()
            .map(|u| (u.address, u.admin))
            .collect();
        assert_eq!(
            users,
            [
                ("ann@new.test".to_string(), false),
                ("bob@example.test".to_string(), false),
                ("boss@new.test".to_string(), true),
            ]
        );
        // Once claimed, a plan is refused.
        assert!(matches!(a.apply_plan(plan()), Err(PlanError::Failed(_))));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_box_addresses_are_its_own_but_loopback_and_link_local() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n\
                   |-- 127.0.0.1\n   /32 host LOCAL\n   +-- 192.0.2.0/24 2 0 2\n\
                   |-- 192.0.2.0\n   /24 link UNICAST\n   |-- 192.0.2.2\n   /32 host LOCAL\n\
                   |-- 192.0.2.255\n   /32 link BROADCAST\nLocal:\n   |-- 192.0.2.2\n   /32 host LOCAL\n";
        let inet6 = "00000000000000000000000000000001 01 80 10 80       lo\n\
                     fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n\
                     20010db8000000000000000000000002 04 40 00 80     eth0\n";
        let got: Vec<String> = parse_host_addresses(fib, inet6)
            .iter()
            .map(IpAddr::to_string)
            .collect();
        assert_eq!(got, ["192.0.2.2", "2001:db8::2"]);
        assert!(parse_host_addresses("", "garbage\nzz 1 2 00\n").is_empty());
    }

    #[test]
    fn setup_info_gives_the_web_urls_and_the_code_until_claimed() {
        let (a, dir) = admin(false);
        let state = |name: &str, addrs: &[&str]| ServiceState {
            name: name.into(),
            addrs: addrs.iter().map(|s| s.to_string()).collect(),
            up: !addrs.is_empty(),
        };
        a.set_services(vec![
            state("smtp", &["0.0.0.0:25"]),
            state("web", &["0.0.0.0:443", "[::]:8443"]),
            state("web_plain", &["127.0.0.1:8080"]),
        ]);
        let hosts: Vec<IpAddr> = vec!["192.0.2.2".parse().unwrap(), "2001:db8::2".parse().unwrap()];
        let code = std::fs::read_to_string(dir.join(crate::setup::code::CODE_FILE)).unwrap();
        assert_eq!(
            a.setup_info(&hosts),
            [
                "addresses: 192.0.2.2, 2001:db8::2".to_string(),
                "web page: https://192.0.2.2/".into(),
                "web page: https://192.0.2.2:8443/".into(),
                "web page: https://[2001:db8::2]:8443/".into(),
                "web page: http://127.0.0.1:8080/".into(),
                format!("setup code: {}", code.trim()),
            ]
        );
        // Claimed: no code; a staff account cannot log in as an admin.
        a.add_user("boss@example.test", Some("a long password".into()), true)
            .unwrap();
        a.add_user("ann@example.test", Some("a long password".into()), false)
            .unwrap();
        let info = a.setup_info(&[]);
        assert_eq!(info[0], "addresses: none (no network)");
        assert!(!info.iter().any(|l| l.contains("setup code")), "{info:?}");
        assert!(a
            .check_admin_login(" Boss@example.test", "a long password")
            .is_ok());
        let staff = a.check_admin_login("ann@example.test", "a long password");
        let wrong = a.check_admin_login("boss@example.test", "not it at all");
        assert_eq!(staff, wrong);
        let r = a.handle(Request::AdminPasswd {
            address: "ann@example.test".into(),
            password: None,
        });
        assert!(
            matches!(&r, Response::Error(e) if e.contains("not an admin")),
            "{r:?}"
        );
        assert_eq!(lines(a.handle(Request::ClaimState)), ["claimed"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
