//! The only code with sockets and TLS: listeners, connection limits, and
//! the drivers that connect protocol cores to TCP and rustls.

pub mod auth;
pub mod conn;
pub mod dns;
pub mod imap;
pub mod imap_client;
pub mod limits;
pub mod pop3;
pub mod relay_test;
pub mod smtp;
pub mod smtp_client;
pub mod web;

use crate::config::Config;
use crate::store::Store;
use limits::ConnLimits;
use smol::net::{TcpListener, TcpStream};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// A network service facteur offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// SMTP for incoming mail.
    Smtp,
    /// Submission with STARTTLS.
    Submission,
    /// Submission over implicit TLS.
    Submissions,
    /// POP3 with STLS.
    Pop3,
    /// POP3 over implicit TLS.
    Pop3s,
    /// IMAP with STARTTLS.
    Imap,
    /// IMAP over implicit TLS.
    Imaps,
    /// The web pages over HTTPS.
    Web,
    /// The web pages over plain HTTP, on loopback only.
    WebPlain,
}

impl Service {
    /// Every service, in config order.
    pub const ALL: [Service; 9] = [
        Service::Smtp,
        Service::Submission,
        Service::Submissions,
        Service::Pop3,
        Service::Pop3s,
        Service::Imap,
        Service::Imaps,
        Service::Web,
        Service::WebPlain,
    ];

    /// The config key and log name.
    pub fn name(self) -> &'static str {
        match self {
            Service::Smtp => "smtp",
            Service::Submission => "submission",
            Service::Submissions => "submissions",
            Service::Pop3 => "pop3",
            Service::Pop3s => "pop3s",
            Service::Imap => "imap",
            Service::Imaps => "imaps",
            Service::Web => "web",
            Service::WebPlain => "web_plain",
        }
    }

    /// Whether TLS starts before the first byte (RFC 8314).
    pub fn implicit_tls(self) -> bool {
        matches!(
            self,
            Service::Submissions | Service::Pop3s | Service::Imaps | Service::Web
        )
    }

    /// The configured addresses.
    pub fn addrs(self, cfg: &Config) -> &[SocketAddr] {
        let l = &cfg.listen;
        let a = match self {
            Service::Smtp => &l.smtp,
            Service::Submission => &l.submission,
            Service::Submissions => &l.submissions,
            Service::Pop3 => &l.pop3,
            Service::Pop3s => &l.pop3s,
            Service::Imap => &l.imap,
            Service::Imaps => &l.imaps,
            Service::Web => &l.web,
            Service::WebPlain => &l.web_plain,
        };
        &a.0
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What every connection handler may use.
pub struct Shared {
    /// The configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: Arc<Store>,
    /// TLS for STARTTLS and implicit TLS.
    pub tls: Arc<rustls::ServerConfig>,
    /// Connection counting.
    pub limits: ConnLimits,
    /// Password checks with the shared failure limiter.
    pub auth: Arc<auth::Authenticator>,
    /// SMTP session settings for port 25.
    pub smtp_mta: Arc<crate::proto::smtp::session::Config>,
    /// SMTP session settings for submission.
    pub smtp_submission: Arc<crate::proto::smtp::session::Config>,
    /// POP3 session settings.
    pub pop3: Arc<crate::proto::pop3::Config>,
    /// Maildrops held by POP3 sessions.
    pub pop3_locks: Arc<pop3::MaildropLocks>,
    /// IMAP session settings.
    pub imap: Arc<crate::proto::imap::session::Config>,
    /// Permits to run an IMAP session step on the blocking pool
    /// ([`imap::IMAP_THREADS`]).
    pub imap_steps: Arc<smol::lock::Semaphore>,
    /// Told when IMAP users file messages into or out of Junk.
    pub junk: Arc<dyn crate::proto::imap::session::JunkTraining>,
    /// Told when a message was queued for outbound delivery.
    pub queue: Arc<dyn crate::admin::Notify>,
    /// The inbound checks of port 25, when enabled.
    pub antispam: Option<Arc<crate::antispam::pipeline::Pipeline>>,
    /// The MTA and submission policy.
    pub mta: Arc<crate::mta::Policy>,
    /// The web pages, when the server runs them.
    pub web: std::sync::OnceLock<Arc<crate::web::Web>>,
}

impl Shared {
    /// Everything connections need, from the config.
    pub fn new(config: Arc<Config>, store: Arc<Store>, tls: Arc<rustls::ServerConfig>) -> Shared {
        use crate::proto::smtp::session::Mode;
        Shared {
            limits: ConnLimits::new(
                config.limits.max_connections,
                config.limits.max_connections_per_ip,
            ),
            auth: Arc::new(auth::Authenticator::new(store.clone(), &config)),
            smtp_mta: Arc::new(smtp::session_config(&config, Mode::Mta)),
            smtp_submission: Arc::new(smtp::session_config(&config, Mode::Submission)),
            pop3: Arc::new(pop3::session_config(&config)),
            pop3_locks: Arc::new(pop3::MaildropLocks::new()),
            imap: Arc::new(imap::session_config(&config)),
            imap_steps: Arc::new(smol::lock::Semaphore::new(imap::IMAP_THREADS)),
            junk: crate::antispam::bayes::trainer::junk_training(&config, &store),
            queue: Arc::new(crate::admin::NoNotify),
            antispam: None,
            mta: Arc::new(crate::mta::Policy::new(
                store.clone(),
                config.server.data_dir.clone(),
                &config.mta,
            )),
            web: std::sync::OnceLock::new(),
            config,
            store,
            tls,
        }
    }
}

impl Shared {
    /// The same server under a new config: connection counts, the login
    /// failure limiter, POP3 maildrop locks, IMAP step permits, the queue,
    /// the store, Junk training and the sending limits are kept; the
    /// session settings, TLS and antispam come from `config`. Connections
    /// in progress keep the `Shared` they started with.
    pub fn reconfigured(
        &self,
        config: Arc<Config>,
        tls: Arc<rustls::ServerConfig>,
        antispam: Option<Arc<crate::antispam::pipeline::Pipeline>>,
    ) -> Shared {
        use crate::proto::smtp::session::Mode;
        Shared {
            limits: self.limits.resized(
                config.limits.max_connections,
                config.limits.max_connections_per_ip,
            ),
            auth: self.auth.clone(),
            smtp_mta: Arc::new(smtp::session_config(&config, Mode::Mta)),
            smtp_submission: Arc::new(smtp::session_config(&config, Mode::Submission)),
            pop3: Arc::new(pop3::session_config(&config)),
            pop3_locks: self.pop3_locks.clone(),
            imap: Arc::new(imap::session_config(&config)),
            imap_steps: self.imap_steps.clone(),
            junk: self.junk.clone(),
            queue: self.queue.clone(),
            antispam,
            mta: self.mta.clone(),
            store: self.store.clone(),
            web: match self.web.get() {
                Some(web) => std::sync::OnceLock::from(web.clone()),
                None => std::sync::OnceLock::new(),
            },
            config,
            tls,
        }
    }
}

/// The current [`Shared`]: each new connection takes the one in force
/// when it is accepted, and a reload puts in a new one.
pub struct Live {
    current: std::sync::RwLock<Arc<Shared>>,
}

impl Live {
    /// Starts with `shared`.
    pub fn new(shared: Arc<Shared>) -> Live {
        Live {
            current: std::sync::RwLock::new(shared),
        }
    }

    /// The `Shared` in force.
    pub fn get(&self) -> Arc<Shared> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Puts `shared` in force for new connections.
    pub fn set(&self, shared: Arc<Shared>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = shared;
    }
}

/// A bound listener.
pub struct Bound {
    /// Which service.
    pub service: Service,
    /// The actual address (port 0 in the config gives an ephemeral port).
    pub addr: SocketAddr,
    listener: TcpListener,
}

/// Binds every configured listener, or none: the first failure is returned
/// as a one-line error naming the service and address.
pub fn bind_all(cfg: &Config) -> Result<Vec<Bound>, String> {
    let mut out = Vec::new();
    for service in Service::ALL {
        out.extend(bind(service, service.addrs(cfg))?);
    }
    Ok(out)
}

/// Binds every address of one service, or none.
pub fn bind(service: Service, addrs: &[SocketAddr]) -> Result<Vec<Bound>, String> {
    let mut out = Vec::new();
    for addr in addrs {
        let std_listener = std::net::TcpListener::bind(addr).map_err(|e| {
            format!("cannot listen on {addr} for {service} (listen.{service}): {e}")
        })?;
        let actual = std_listener.local_addr().unwrap_or(*addr);
        let listener = TcpListener::try_from(std_listener)
            .map_err(|e| format!("cannot listen on {addr} for {service}: {e}"))?;
        out.push(Bound {
            service,
            addr: actual,
            listener,
        });
    }
    Ok(out)
}

/// Accepts connections until the task is dropped, each in its own task
/// with the [`Shared`] in force when it was accepted. Dropping the task
/// closes the listener; accepted connections go on.
pub async fn accept_loop(bound: Bound, live: Arc<Live>) {
    loop {
        let (stream, peer) = match bound.listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                log::warn!("{}: accept failed: {e}", bound.service);
                smol::Timer::after(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = bound.service;
        let shared = live.get();
        smol::spawn(guarded(service, peer, async move {
            let guard = match shared.limits.acquire(service, peer.ip()) {
                Ok(g) => g,
                Err(why) => {
                    log::info!("{service}: refusing {peer}: {why}");
                    refuse(service, stream, why).await;
                    return;
                }
            };
            let counted = crate::stats::connection(service.name());
            handle(service, stream, peer, &shared).await;
            drop((counted, guard));
        }))
        .detach();
    }
}

/// Runs a connection future so that a panic in it ends only that
/// connection: it is logged and the server goes on.
pub async fn guarded<F: std::future::Future<Output = ()>>(
    service: Service,
    peer: SocketAddr,
    fut: F,
) {
    use smol::future::FutureExt;
    if let Err(panic) = std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        log::error!("{service}: connection from {peer} failed with an internal error: {what}");
    }
}

async fn handle(service: Service, stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    match service {
        Service::Smtp | Service::Submission | Service::Submissions => {
            smtp::serve(service, stream, peer, shared).await
        }
        Service::Pop3 | Service::Pop3s => pop3::serve(service, stream, peer, shared).await,
        Service::Imap | Service::Imaps => imap::serve(service, stream, peer, shared).await,
        Service::Web | Service::WebPlain => web::serve(service, stream, peer, shared).await,
    }
}

/// Tells a client over the limit to come back later (RFC 5321 §3.8: 421
/// before closing), in its protocol; implicit-TLS ports are just closed.
async fn refuse(service: Service, mut stream: TcpStream, why: &str) {
    use smol::io::AsyncWriteExt;
    let msg = match service {
        Service::Smtp | Service::Submission => format!("421 4.7.0 {why}, try again later\r\n"),
        Service::Pop3 => format!("-ERR [SYS/TEMP] {why}, try again later\r\n"),
        Service::Imap => format!("* BYE [UNAVAILABLE] {why}, try again later\r\n"),
        Service::WebPlain => "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 60\r\n\r\n".to_string(),
        Service::Submissions | Service::Pop3s | Service::Imaps | Service::Web => return,
    };
    let _ = stream.write_all(msg.as_bytes()).await;
    let _ = stream.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_is_counted_under_its_name() {
        for s in Service::ALL {
            assert!(crate::stats::SERVICES.contains(&s.name()), "{s}");
        }
        assert_eq!(crate::stats::SERVICES.len(), Service::ALL.len());
    }

    #[test]
    fn a_panicking_connection_does_not_stop_the_others() {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        smol::block_on(async {
            let bad = smol::spawn(guarded(Service::Smtp, peer, async {
                panic!("boom");
            }));
            let good = smol::spawn(async { 42 });
            bad.await;
            assert_eq!(good.await, 42);
        });
    }
}
