//! Wires config, store, TLS, listeners and the admin socket together.
//! No protocol logic lives here.

use crate::admin::{self, Admin, Notify};
use crate::auth::dkim::key::KeyMaker;
use crate::config::Config;
use crate::net::{self, Shared};
use crate::queue::transport::SmtpTransport;
use crate::queue::Queue;
use crate::store::Store;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

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
    let tls = {
        prepare_data_dir(&cfg.server.data_dir)?;
        crate::tls::server_config(&cfg)?
    };
    let store = Arc::new(open_store(&cfg)?);
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
    if cfg.antispam.enabled {
        let pipeline = crate::antispam::setup::pipeline(
            &cfg,
            Some(&store),
            resolver,
            crate::antispam::setup::Use::Server,
        )?;
        log::info!("antispam checks: {}", pipeline.check_names().join(", "));
        shared.antispam = Some(Arc::new(pipeline));
    }
    // Domains without a DKIM key get one, in the background.
    let domains = store.domains().map_err(|e| e.to_string())?;
    let keys = KeyMaker::start(
        cfg.server.data_dir.clone(),
        domains.into_iter().map(|d| d.name).collect(),
    )
    .map_err(|e| format!("cannot start the DKIM key thread: {e}"))?;
    let admin = Arc::new(
        Admin::new(
            store.clone(),
            Arc::new(ServerNotify {
                keys,
                queue: queue.clone(),
            }),
        )
        .with_password_workers(shared.auth.password_workers())
        .with_config_file(source.file())
        .with_authenticator(shared.auth.clone())
        .with_setup_code(setup_code),
    );
    admin.set_services(services(&bound));
    if bound
        .iter()
        .any(|b| matches!(b.service, net::Service::Web | net::Service::WebPlain))
    {
        shared.web = Some(Arc::new(crate::web::Web::new(
            admin.clone(),
            cfg.clone(),
            source.clone(),
        )));
    }
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

    let socket = cfg.admin_socket();
    smol::block_on(async move {
        for b in bound {
            smol::spawn(net::accept_loop(b, shared.clone())).detach();
        }
        smol::spawn(admin::serve(admin_listener, admin)).detach();
        smol::spawn(queue.run()).detach();
        wait_for_signal(signals).await;
    });
    log::info!("shutting down");
    let _ = fs::remove_file(&socket);
    store.flush().map_err(|e| e.to_string())?;
    Ok(())
}

/// Each service with the addresses it was bound to, for the dashboard.
fn services(bound: &[net::Bound]) -> Vec<admin::ServiceState> {
    net::Service::ALL
        .iter()
        .map(|&service| {
            let addrs: Vec<String> = bound
                .iter()
                .filter(|b| b.service == service)
                .map(|b| b.addr.to_string())
                .collect();
            admin::ServiceState {
                name: service.name().to_string(),
                up: !addrs.is_empty(),
                addrs,
            }
        })
        .collect()
}

/// What the running server does after admin changes.
struct ServerNotify {
    keys: KeyMaker,
    queue: Arc<Queue>,
}

impl Notify for ServerNotify {
    fn queue_changed(&self) {
        self.queue.wake();
    }

    fn queue_retry(&self) {
        self.queue.retry_requested();
    }

    fn domain_added(&self, name: &str) -> Vec<String> {
        if self.keys.request(name) {
            vec![format!(
                "a DKIM key is being generated; see `facteur dns-records {name}` in a moment"
            )]
        } else {
            vec![format!(
                "no DKIM key yet (busy); run `facteur dkim generate {name}` or restart"
            )]
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

/// Takes over SIGTERM and SIGINT. Done before "ready" is printed, so that
/// a stop request right after it is a clean stop, not the default death.
fn watch_signals() -> std::io::Result<async_signal::Signals> {
    async_signal::Signals::new([async_signal::Signal::Term, async_signal::Signal::Int])
}

async fn wait_for_signal(signals: std::io::Result<async_signal::Signals>) {
    use smol::stream::StreamExt;
    match signals {
        Ok(mut signals) => {
            if let Some(Ok(sig)) = signals.next().await {
                log::info!("received {sig:?}");
            }
        }
        Err(e) => {
            log::warn!("cannot watch for signals ({e}); stop with SIGKILL");
            smol::future::pending::<()>().await;
        }
    }
}
