//! Wires config, store, TLS, listeners and the admin socket together.
//! No protocol logic lives here.

use crate::admin::{self, Admin, Notify};
use crate::auth::dkim::key::KeyMaker;
use crate::config::Config;
use crate::net::{self, Service, Shared};
use crate::queue::transport::SmtpTransport;
use crate::queue::Queue;
use crate::store::Store;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Prepares the data dir: created if missing (mode 0700: it holds mail and
/// password hashes), and checked writable.
pub fn prepare_data_dir(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the data dir {}: {e}", dir.display()))?;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    }
    if !dir.is_dir() {
        return Err(format!("the data dir {} is not a directory", dir.display()));
    }
    let probe = dir.join(".write-test");
    fs::write(&probe, b"")
        .and_then(|_| fs::remove_file(&probe))
        .map_err(|e| format!("the data dir {} is not writable: {e}", dir.display()))
}

/// Opens the store as configured, adding the configured domains if missing.
pub fn open_store(cfg: &Config) -> Result<Store, String> {
    prepare_data_dir(&cfg.server.data_dir)?;
    let store =
        Store::open(&cfg.server.data_dir, cfg.store.cache_capacity.0).map_err(|e| e.to_string())?;
    store.set_default_quota(cfg.limits.mailbox_quota.0);
    store.set_min_free(cfg.store.min_free.map(|s| s.0));
    for d in &cfg.server.domains {
        store.ensure_domain(&d.0).map_err(|e| e.to_string())?;
    }
    Ok(store)
}

/// Threads of the blocking pool that runs store calls, IMAP session steps
/// and file reads (`smol::unblock`). smol's default is 500: a burst (an
/// APPEND wakes every IDLE session at once) then starts hundreds of
/// threads, each with its own malloc arena and stack, and the memory stays.
/// Nothing waits on a pool thread for the network or another task (IDLE
/// waits on the executor, message bodies are read a chunk per trip), so a
/// few threads keep the disk busy and the rest queue. IMAP steps take at
/// most [`crate::net::imap::IMAP_THREADS`] of them, so that deliveries
/// and the queue always find a thread while IMAP clients search.
pub const BLOCKING_THREADS: usize = 4;

/// Starts every service and runs until SIGTERM or SIGINT. Every check that
/// can fail happens before the first connection is accepted, so a bad
/// config, data dir, certificate or busy port means no partial start.
pub fn run(cfg: Config, source: crate::config_edit::Source) -> Result<(), String> {
    let cfg = Arc::new(cfg);
    crate::logger::init(cfg.log.level.filter());
    crate::stats::mark_start();
    if let Some(n) = std::num::NonZeroUsize::new(BLOCKING_THREADS) {
        blocking::set_max_blocking_threads(n);
    }
    let store = Arc::new(open_store(&cfg)?);
    // Before the certificate is made: it names the profile's host name.
    let cfg = first_boot_profile(cfg, &source, &store)?;
    let tls = crate::tls::server_config(&cfg)?;
    crate::store::exit_on_index_failure();
    let bound = net::bind_all(&cfg)?;
    let claimed = store.has_admin().map_err(|e| e.to_string())?;
    let setup_code = crate::setup::code::SetupCode::start(&cfg.server.data_dir, claimed)?;
    let admin_listener = bind_admin_socket(&cfg.admin_socket())?;

    let resolver: Arc<dyn crate::dns::Resolver> =
        Arc::new(crate::net::dns::StubResolver::from_config(&cfg.dns));
    let transport = SmtpTransport::new(store.clone(), cfg.clone(), resolver.clone())?;
    let queue = Arc::new(Queue::new(store.clone(), cfg.clone(), Arc::new(transport)));
    let mut shared = Shared::new(cfg.clone(), store.clone(), tls);
    shared.queue = queue.clone();
    shared.antispam = antispam(&cfg, &store, &resolver)?;
    let shared = Arc::new(shared);
    let signals = watch_signals();
    {
        let mut out = std::io::stdout().lock();
        for b in &bound {
            let _ = writeln!(out, "{} listening on {}", b.service, b.addr);
        }
        let _ = writeln!(
            out,
            "facteur {} ready (data in {})",
            env!("CARGO_PKG_VERSION"),
            cfg.server.data_dir.display()
        );
        let _ = out.flush();
    }
    log::info!("started with {} listener(s)", bound.len());

    // Domains without a DKIM key get one, in the background.
    let domains = store.domains().map_err(|e| e.to_string())?;
    let keys = KeyMaker::start(
        cfg.server.data_dir.clone(),
        domains.into_iter().map(|d| d.name).collect(),
    )
    .map_err(|e| format!("cannot start the DKIM key thread: {e}"))?;
    let live = Arc::new(net::Live::new(shared.clone()));
    let reloader = Arc::new(Reloader {
        file: source.file(),
        source,
        live,
        store: store.clone(),
        queue: queue.clone(),
        resolver,
        keys,
        listeners: Mutex::new(Vec::new()),
        reloading: Mutex::new(()),
        admin: std::sync::OnceLock::new(),
    });
    let admin = Arc::new(
        Admin::new(
            store.clone(),
            Arc::new(ServerNotify {
                queue: queue.clone(),
                reloader: reloader.clone(),
            }),
        )
        .with_password_workers(shared.auth.password_workers())
        .with_config_file(reloader.file.clone())
        .with_authenticator(shared.auth.clone())
        .with_setup_code(setup_code)
        .with_max_message_size(cfg.limits.max_message_size.0)
        .with_config_in_force({
            let live = reloader.live.clone();
            Box::new(move || live.get().config.clone())
        }),
    );
    let _ = reloader.admin.set(Arc::downgrade(&admin));
    if bound
        .iter()
        .any(|b| matches!(b.service, net::Service::Web | net::Service::WebPlain))
    {
        // The pages follow reloads: they read the config in force.
        let live = reloader.live.clone();
        let web = crate::web::Web::new(
            admin.clone(),
            Box::new(move || live.get().config.clone()),
            reloader.source.clone(),
        );
        let _ = shared.web.set(Arc::new(web));
    }

    let socket = cfg.admin_socket();
    let schedule = cfg
        .backup
        .dir
        .clone()
        .map(|dir| crate::backup::schedule::Schedule {
            dir,
            every: cfg.backup.every.0,
            keep: cfg.backup.keep as usize,
        });
    let backup_store = store.clone();
    reloader.start_listeners(&cfg, bound);
    smol::block_on(async move {
        smol::spawn(admin::serve(admin_listener, admin)).detach();
        smol::spawn(queue.run()).detach();
        if let Some(s) = schedule {
            smol::spawn(crate::backup::schedule::run(backup_store, s)).detach();
        }
        smol::spawn(trim_when_quiet()).detach();
        wait_for_signal(signals, &reloader).await;
    });
    log::info!("shutting down");
    let _ = fs::remove_file(&socket);
    store.flush().map_err(|e| e.to_string())?;
    Ok(())
}

/// Applies the first-boot profile `setup.profile` when there is one (see
/// [`crate::setup::profile`]), and returns the config in force after it.
/// A refused profile changes nothing: the server starts unclaimed.
fn first_boot_profile(
    cfg: Arc<Config>,
    source: &crate::config_edit::Source,
    store: &Arc<Store>,
) -> Result<Arc<Config>, String> {
    use crate::setup::profile::{self, Outcome};
    if cfg.setup.profile.as_os_str().is_empty() {
        return Ok(cfg);
    }
    // Its hashing memory is one worker's, and goes with it.
    let admin = Admin::new(store.clone(), Arc::new(admin::NoNotify))
        .with_config_file(source.file())
        .with_password_workers(Arc::new(crate::password::Verifier::new(1)));
    match profile::apply_at_start(&admin, &cfg.setup.profile) {
        Outcome::Applied => source
            .load()
            .map(Arc::new)
            .map_err(|e| format!("config error after the first-boot profile: {e}")),
        Outcome::Absent | Outcome::Finished | Outcome::Refused(_) => Ok(cfg),
    }
}

/// Each service with the addresses it listens on, for the dashboard.
fn services(listening: &[Listening]) -> Vec<admin::ServiceState> {
    net::Service::ALL
        .iter()
        .map(|&service| {
            let addrs: Vec<String> = listening
                .iter()
                .filter(|l| l.service == service)
                .flat_map(|l| l.bound.iter().map(|a| a.to_string()))
                .collect();
            admin::ServiceState {
                name: service.name().to_string(),
                up: !addrs.is_empty(),
                addrs,
            }
        })
        .collect()
}

/// The inbound checks of port 25 as `cfg` sets them, or none.
fn antispam(
    cfg: &Config,
    store: &Arc<Store>,
    resolver: &Arc<dyn crate::dns::Resolver>,
) -> Result<Option<Arc<crate::antispam::pipeline::Pipeline>>, String> {
    if !cfg.antispam.enabled {
        return Ok(None);
    }
    let pipeline = crate::antispam::setup::pipeline(
        cfg,
        Some(store),
        resolver.clone(),
        crate::antispam::setup::Use::Server,
    )?;
    log::info!("antispam checks: {}", pipeline.check_names().join(", "));
    Ok(Some(Arc::new(pipeline)))
}

/// Settings that take effect only at the next start: the store is open
/// with them, and the resolver and the login failure limiter keep state.
const RESTART_ONLY: &[&str] = &[
    "server.data_dir",
    "setup.",
    "store.cache_capacity",
    "dns.",
    "limits.auth_",
];

/// The accept loops of one service and the addresses they were
/// configured with.
struct Listening {
    service: Service,
    configured: Vec<std::net::SocketAddr>,
    /// The addresses it listens on (port 0 made concrete).
    bound: Vec<std::net::SocketAddr>,
    /// Dropping a task stops its accept loop (not its connections).
    _tasks: Vec<smol::Task<()>>,
}

/// Re-reads the config and applies it to the running server (`facteur
/// reload`, SIGHUP, a changed setting).
struct Reloader {
    source: crate::config_edit::Source,
    file: std::path::PathBuf,
    live: Arc<net::Live>,
    store: Arc<Store>,
    queue: Arc<Queue>,
    resolver: Arc<dyn crate::dns::Resolver>,
    /// Makes DKIM keys for new domains.
    keys: KeyMaker,
    listeners: Mutex<Vec<Listening>>,
    /// One reload at a time.
    reloading: Mutex<()>,
    /// Told which addresses the services listen on, at the start and
    /// after each re-bind (the dashboard, `facteur status`).
    admin: std::sync::OnceLock<std::sync::Weak<Admin>>,
}

impl Reloader {
    /// Starts the accept loops of `bound`, as `cfg` configured them.
    fn start_listeners(&self, cfg: &Config, bound: Vec<net::Bound>) {
        let mut all = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_service: Vec<(Service, Vec<net::Bound>)> =
            Service::ALL.iter().map(|&s| (s, Vec::new())).collect();
        for b in bound {
            if let Some((_, list)) = by_service.iter_mut().find(|(s, _)| *s == b.service) {
                list.push(b);
            }
        }
        for (service, list) in by_service {
            all.push(Listening {
                service,
                configured: service.addrs(cfg).to_vec(),
                bound: list.iter().map(|b| b.addr).collect(),
                _tasks: list
                    .into_iter()
                    .map(|b| smol::spawn(net::accept_loop(b, self.live.clone())))
                    .collect(),
            });
        }
        self.publish(&all);
    }

    /// Tells the admin engine where the services listen now.
    fn publish(&self, listening: &[Listening]) {
        if let Some(admin) = self.admin.get().and_then(std::sync::Weak::upgrade) {
            admin.set_services(services(listening));
        }
    }

    /// Re-binds the services whose addresses changed: the new addresses
    /// first, then the old loops stop. A failure keeps the old ones.
    fn rebind(&self, cfg: &Config) -> Vec<String> {
        let mut lines = Vec::new();
        let mut all = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        for l in all.iter_mut() {
            let wanted = l.service.addrs(cfg);
            if l.configured == wanted {
                continue;
            }
            match net::bind(l.service, wanted) {
                Ok(bound) => {
                    for b in &bound {
                        lines.push(format!("{} listening on {}", b.service, b.addr));
                    }
                    if bound.is_empty() {
                        lines.push(format!("{} switched off", l.service));
                    }
                    l.configured = wanted.to_vec();
                    l.bound = bound.iter().map(|b| b.addr).collect();
                    l._tasks = bound
                        .into_iter()
                        .map(|b| smol::spawn(net::accept_loop(b, self.live.clone())))
                        .collect();
                }
                Err(e) => {
                    log::warn!("reload: {e}");
                    lines.push(format!("{e}; the old listener stays"));
                }
            }
        }
        self.publish(&all);
        lines
    }

    /// Reads the config file and applies it, or changes nothing and gives
    /// the check-config errors.
    fn reload(&self) -> Result<Vec<String>, String> {
        let _one = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let cfg = self
            .source
            .load()
            .map_err(|e| format!("config error: {e}; nothing changed"))?;
        let old = self.live.get();
        let changed = crate::config_edit::changed(&old.config, &cfg);
        let cfg = Arc::new(cfg);
        // Everything that can fail, before anything changes.
        let tls = crate::tls::server_config(&cfg)?;
        let touched = |prefix: &str| changed.iter().any(|k| k.starts_with(prefix));
        let antispam = if touched("antispam.") || touched("server.") {
            antispam(&cfg, &self.store, &self.resolver)?
        } else {
            old.antispam.clone()
        };
        let transport = SmtpTransport::new(self.store.clone(), cfg.clone(), self.resolver.clone())?;
        let known: Vec<String> = self
            .store
            .domains()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|d| d.name)
            .collect();
        let mut lines = Vec::new();
        for d in &cfg.server.domains {
            self.store.ensure_domain(&d.0).map_err(|e| e.to_string())?;
            if !known.contains(&d.0) {
                lines.push(format!("added domain {d}"));
                self.keys.request(&d.0);
            }
        }
        self.store.set_default_quota(cfg.limits.mailbox_quota.0);
        self.store.set_min_free(cfg.store.min_free.map(|s| s.0));
        if std::env::var_os("RUST_LOG").is_none() {
            log::set_max_level(cfg.log.level.filter());
        }
        let mut shared = old.reconfigured(cfg.clone(), tls, antispam);
        if touched("mta.") {
            shared.mta = Arc::new(crate::mta::Policy::new(
                self.store.clone(),
                cfg.server.data_dir.clone(),
                &cfg.mta,
            ));
        }
        if touched("antispam.enabled") || touched("antispam.bayes") {
            shared.junk = crate::antispam::bayes::trainer::junk_training(&cfg, &self.store);
        }
        self.live.set(Arc::new(shared));
        self.queue.reconfigure(cfg.clone(), Arc::new(transport));
        lines.extend(self.rebind(&cfg));
        let restart: Vec<&str> = changed
            .iter()
            .filter(|k| RESTART_ONLY.iter().any(|p| k.starts_with(p)))
            .map(String::as_str)
            .collect();
        lines.insert(
            0,
            format!(
                "reloaded {}: {} setting(s) changed",
                self.file.display(),
                changed.len()
            ),
        );
        if !restart.is_empty() {
            lines.push(format!("restart needed for: {}", restart.join(", ")));
        }
        log::info!("reload: {}", lines.join("; "));
        Ok(lines)
    }
}

/// How often the server looks whether it has gone quiet.
const QUIET_CHECK: Duration = Duration::from_secs(10);

/// CPU time (in clock ticks, 1/100 s on Linux) under which a
/// [`QUIET_CHECK`] period counts as quiet: 0.5% of one core.
const QUIET_TICKS: u64 = 5;

/// Gives the allocator's free memory back to the system once the server
/// has been quiet for a whole [`QUIET_CHECK`] after being busy, so that
/// idle RSS returns near where it started after a burst. The trim walks
/// every arena under its lock, so it runs only when nothing is going on,
/// never on a request's path.
async fn trim_when_quiet() {
    let mut last = cpu_ticks();
    let mut busy = false;
    loop {
        smol::Timer::after(QUIET_CHECK).await;
        let now = cpu_ticks();
        let used = now.saturating_sub(last);
        last = now;
        if used > QUIET_TICKS {
            busy = true;
        } else if busy {
            busy = false;
            crate::malloc::trim();
            // The trim's own work is not activity.
            last = cpu_ticks();
            log::debug!("quiet: free memory given back to the system");
        }
    }
}

/// CPU time used by this process so far, user and system, in clock ticks
/// (proc(5): fields 14 and 15 of /proc/self/stat); 0 when unreadable.
fn cpu_ticks() -> u64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) may hold spaces: count after its ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum()
}

/// What the running server does after admin changes.
struct ServerNotify {
    queue: Arc<Queue>,
    reloader: Arc<Reloader>,
}

impl Notify for ServerNotify {
    fn queue_changed(&self) {
        self.queue.wake();
    }

    fn queue_retry(&self) {
        self.queue.retry_requested();
    }

    fn domain_added(&self, name: &str) -> Vec<String> {
        if self.reloader.keys.request(name) {
            vec![format!(
                "a DKIM key is being generated; see `facteur dns-records {name}` in a moment"
            )]
        } else {
            vec![format!(
                "no DKIM key yet (busy); run `facteur dkim generate {name}` or restart"
            )]
        }
    }

    fn reload(&self) -> Result<Vec<String>, String> {
        self.reloader.reload()
    }

    /// The TLS settings are part of the config: a reload offers the new
    /// certificate to new connections.
    fn tls_changed(&self) {
        match self.reloader.reload() {
            Ok(lines) => log::info!("new certificate installed; {}", lines.join("; ")),
            Err(e) => log::warn!("new certificate installed but not applied: {e}"),
        }
    }
}

/// Binds the admin socket, mode 0600, replacing a stale one. The store is
/// already open (sled's lock), so no other server owns it.
fn bind_admin_socket(path: &Path) -> Result<smol::net::unix::UnixListener, String> {
    if path.exists() {
        fs::remove_file(path).map_err(|e| {
            format!(
                "cannot remove the stale admin socket {}: {e}",
                path.display()
            )
        })?;
    }
    let l = std::os::unix::net::UnixListener::bind(path)
        .map_err(|e| format!("cannot create the admin socket {}: {e}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict the admin socket {}: {e}", path.display()))?;
    smol::net::unix::UnixListener::try_from(l)
        .map_err(|e| format!("cannot use the admin socket {}: {e}", path.display()))
}

/// Takes over SIGTERM, SIGINT and SIGHUP. Done before "ready" is
/// printed, so that a stop request right after it is a clean stop, not the
/// default death.
fn watch_signals() -> std::io::Result<async_signal::Signals> {
    use async_signal::Signal;
    async_signal::Signals::new([Signal::Term, Signal::Int, Signal::Hup])
}

/// Runs until SIGTERM or SIGINT; SIGHUP reloads the config.
async fn wait_for_signal(
    signals: std::io::Result<async_signal::Signals>,
    reloader: &Arc<Reloader>,
) {
    use smol::stream::StreamExt;
    match signals {
        Ok(mut signals) => {
            while let Some(Ok(sig)) = signals.next().await {
                log::info!("received {sig:?}");
                if sig != async_signal::Signal::Hup {
                    break;
                }
                let r = reloader.clone();
                smol::spawn(async move {
                    if let Err(e) = smol::unblock(move || r.reload()).await {
                        log::error!("reload: {e}");
                    }
                })
                .detach();
            }
        }
        Err(e) => {
            log::warn!("cannot watch for signals ({e}); stop with SIGKILL");
            smol::future::pending::<()>().await;
        }
    }
}
