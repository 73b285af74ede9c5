//! The real [`Transport`]: finds the next hop (the smarthost, or the
//! domain's MX hosts through DNS) and runs the SMTP client against each
//! address in turn until one answers.
//!
//! A session that ends well stays open for a short while in a small
//! cache, under the job's destination, and the next job to the same
//! destination runs its transaction there (after RSET) instead of
//! connecting, greeting, and doing TLS and AUTH again: the model is
//! Postfix's connection cache. A cached session that has gone stale is
//! dropped and a new connection made, at no cost to the message.

use super::route::{self, RouteError};
use super::settle::{Outcome, RcptResult};
use super::{BoxFuture, Job, Transport};
use crate::config::{Config, RelayTls};
use crate::dns::Resolver;
use crate::net::smtp_client::{self, CacheLimits, ConnectionCache, Reused, Target};
use crate::proto::sasl::Credentials;
use crate::proto::smtp::client::{self, notify_from_bits, Diagnostic, Recipient, TlsPolicy};
use crate::proto::smtp::command;
use crate::store::{Ret, Store};
use rustls::ClientConfig;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// At most this many addresses are tried in one attempt (RFC 5321 §5.1
/// asks for at least two; a cap keeps a domain with dozens of dead hosts
/// from holding a delivery slot for hours).
const MAX_ADDRESSES: usize = 8;

/// SMTP over TCP to the next hop.
pub struct SmtpTransport {
    store: Arc<Store>,
    config: Arc<Config>,
    resolver: Arc<dyn Resolver>,
    opportunistic: Arc<ClientConfig>,
    relay_tls: Arc<ClientConfig>,
    cache: Arc<ConnectionCache>,
}

impl SmtpTransport {
    /// Builds the TLS settings once: opportunistic (any certificate, RFC
    /// 7435) for MX hosts, and for the smarthost the system roots plus
    /// `relay.ca_file`, unless `relay.verify_certificate` is off.
    pub fn new(
        store: Arc<Store>,
        config: Arc<Config>,
        resolver: Arc<dyn Resolver>,
    ) -> Result<SmtpTransport, String> {
        let opportunistic = smtp_client::opportunistic_tls()?;
        let relay = &config.relay;
        let relay_tls = if relay.verify_certificate {
            let extra = if relay.ca_file.is_empty() {
                Vec::new()
            } else {
                smtp_client::read_certificates(std::path::Path::new(&relay.ca_file))
                    .map_err(|e| format!("relay.ca_file: {e}"))?
            };
            smtp_client::verified_tls(&extra)?
        } else {
            opportunistic.clone()
        };
        let o = &config.outbound;
        let cache = ConnectionCache::new(CacheLimits {
            idle: o.connection_idle.0,
            max_transactions: o.messages_per_connection.max(1),
            max_age: o.connection_max_age.0,
            max_idle: o.idle_connections as usize,
        });
        Ok(SmtpTransport {
            cache,
            store,
            config,
            resolver,
            opportunistic,
            relay_tls,
        })
    }

    /// The client job for some recipients of an entry.
    fn client_job(&self, job: &Job<'_>, tls: TlsPolicy, auth: Option<Credentials>) -> client::Job {
        let e = job.entry;
        client::Job {
            ehlo_name: self.config.server.hostname.0.clone(),
            sender: e.sender.clone(),
            recipients: job
                .recipients
                .iter()
                .filter_map(|&i| e.recipients.get(i))
                .map(|r| Recipient {
                    address: r.address.clone(),
                    notify: notify_from_bits(r.notify),
                    orcpt: r.orcpt.clone(),
                })
                .collect(),
            size: e.size,
            eight_bit: e.eight_bit,
            smtputf8: e.smtputf8,
            ret: e.ret.map(|r| match r {
                Ret::Full => command::Ret::Full,
                Ret::Hdrs => command::Ret::Headers,
            }),
            envid: e.envid.clone(),
            tls,
            auth,
            implicit_tls: false,
        }
    }

    /// Every recipient of the job with the same result.
    fn all(job: &Job<'_>, result: RcptResult, remote_mta: Option<String>) -> Vec<Outcome> {
        job.recipients
            .iter()
            .map(|&index| Outcome {
                index,
                result: result.clone(),
                remote_mta: remote_mta.clone(),
                dsn_passed: false,
            })
            .collect()
    }

    /// The addresses of a host name (or the address it is).
    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        match self.resolver.ip_addrs(host).await {
            Ok(a) if a.is_empty() => Err(format!("{host} has no address")),
            Ok(a) => Ok(a),
            Err(e) => Err(format!("cannot resolve {host}: {e}")),
        }
    }

    async fn send_job(&self, job: &Job<'_>) -> Vec<Outcome> {
        while let Some(connection) = self.cache.take(&job.destination) {
            match self.send_again(job, connection).await {
                Some(outcomes) => return outcomes,
                // Stale: the next cached one, or a new connection.
                None => continue,
            }
        }
        self.send_new(job).await
    }

    /// Runs the job on a cached session; `None` when that session turned
    /// out unusable and nothing was sent.
    async fn send_again(
        &self,
        job: &Job<'_>,
        connection: smtp_client::Connection,
    ) -> Option<Vec<Outcome>> {
        let target = connection.target();
        let (host, ip) = (target.host.clone(), target.addr.ip());
        // TLS and AUTH are the session's, done once when it was opened.
        let client_job = self.client_job(job, TlsPolicy::None, None);
        let mut message = match self.open_message(job) {
            Ok(m) => m,
            Err(why) => {
                log::error!("queue: {}: {why}", job.entry.id);
                self.cache.put(&job.destination, connection);
                let why = RcptResult::Temporary(format!("4.3.0 {why}"));
                return Some(Self::all(job, why, None));
            }
        };
        log::debug!(
            "queue: {} reusing the session with {host} [{ip}]",
            job.entry.id
        );
        match connection.deliver(&client_job, &mut message).await {
            Reused::Ran(outcome, kept) => {
                if let Some(c) = kept {
                    self.cache.put(&job.destination, *c);
                }
                Some(convert(job, &outcome, Some(format!("{host} ({ip})"))))
            }
            Reused::Stale(why) => {
                log::debug!("queue: session with {host} [{ip}] is stale: {why}");
                None
            }
        }
    }

    async fn send_new(&self, job: &Job<'_>) -> Vec<Outcome> {
        let relay = &self.config.relay;
        let (hosts, port, tls_config, client_job) = if relay.host.is_empty() {
            let hosts = match route::mx_hosts(
                &*self.resolver,
                &job.destination,
                &self.config.server.hostname.0,
            )
            .await
            {
                Ok(h) => h,
                Err(RouteError::Permanent(why)) => {
                    return Self::all(job, RcptResult::Permanent(why), None)
                }
                Err(RouteError::Temporary(why)) => {
                    return Self::all(job, RcptResult::Temporary(format!("4.4.3 {why}")), None)
                }
            };
            let cj = self.client_job(job, TlsPolicy::Opportunistic, None);
            (
                hosts,
                self.config.outbound.port,
                self.opportunistic.clone(),
                cj,
            )
        } else {
            let auth = (!relay.username.is_empty()).then(|| Credentials {
                authzid: String::new(),
                username: relay.username.clone(),
                password: relay.password.clone(),
            });
            let policy = match relay.tls {
                RelayTls::Starttls => TlsPolicy::Required,
                RelayTls::Tls => TlsPolicy::None,
                RelayTls::None => TlsPolicy::None,
            };
            let mut cj = self.client_job(job, policy, auth);
            cj.implicit_tls = relay.tls == RelayTls::Tls;
            (
                vec![relay.host.to_ascii_lowercase()],
                relay.port,
                self.relay_tls.clone(),
                cj,
            )
        };
        let mut last = String::from("4.4.1 no host could be reached");
        let mut tried = 0;
        for host in &hosts {
            let addrs = match self.addresses(host).await {
                Ok(a) => a,
                Err(why) => {
                    last = format!("4.4.3 {why}");
                    continue;
                }
            };
            for ip in addrs {
                if tried >= MAX_ADDRESSES {
                    break;
                }
                tried += 1;
                let mut target =
                    Target::new(SocketAddr::new(ip, port), host.clone(), tls_config.clone());
                let cap = self.config.outbound.timeout.0;
                target.timeouts = target.timeouts.capped(cap);
                target.connect_timeout = target.connect_timeout.min(cap);
                target.tls_timeout = target.tls_timeout.min(cap);
                let mut message = match self.open_message(job) {
                    Ok(m) => m,
                    Err(why) => {
                        log::error!("queue: {}: {why}", job.entry.id);
                        return Self::all(job, RcptResult::Temporary(format!("4.3.0 {why}")), None);
                    }
                };
                log::debug!("queue: {} trying {host} [{ip}]:{port}", job.entry.id);
                let keep = self.cache.enabled();
                let (outcome, kept) =
                    smtp_client::deliver_keeping(&target, &client_job, &mut message, keep).await;
                log::debug!(
                    "queue: {} {host} [{ip}]: {:?}",
                    job.entry.id,
                    outcome.recipients
                );
                let remote = Some(format!("{host} ({ip})"));
                if reached(&outcome) {
                    if let Some(c) = kept {
                        self.cache.put(&job.destination, c);
                    }
                    return convert(job, &outcome, remote);
                }
                if let Some(c) = kept {
                    smol::spawn(c.close()).detach();
                }
                if let Some(d) = outcome.recipients.first().map(|r| r.diagnostic()) {
                    last = format!("{} (at {host} [{ip}])", text_of(d));
                }
            }
        }
        Self::all(job, RcptResult::Temporary(last), None)
    }

    /// The stored message: the entry's prefix, then its body file.
    fn open_message(&self, job: &Job<'_>) -> Result<impl Read + Send + 'static, String> {
        let e = job.entry;
        let file = self
            .store
            .open_blob(&e.blob)
            .map_err(|err| format!("cannot open the queued body: {err}"))?;
        Ok(std::io::Cursor::new(e.prefix.clone()).chain(file))
    }
}

impl Transport for SmtpTransport {
    fn send<'a>(&'a self, job: &'a Job<'a>) -> BoxFuture<'a, Vec<Outcome>> {
        Box::pin(self.send_job(job))
    }
}

/// Whether the attempt got as far as a transaction with this host, so
/// that its answers stand. Failures before MAIL (no connection, a bad
/// greeting, a failed EHLO, TLS or AUTH) move on to the next address
/// (RFC 5321 §5.1: "continue ... until ... all addresses have been tried").
fn reached(o: &client::Outcome) -> bool {
    o.recipients.iter().any(|r| {
        let d = r.diagnostic();
        !matches!(r, client::RcptResult::Temporary(_))
            || (d.remote
                && !matches!(
                    d.phase,
                    client::Phase::Greeting
                        | client::Phase::Ehlo
                        | client::Phase::StartTls
                        | client::Phase::Auth
                ))
    })
}

/// A diagnostic as the queue keeps it: the server's reply as sent, or our
/// reason after its status code (so that the report finds the code).
fn text_of(d: &Diagnostic) -> String {
    if d.remote {
        d.text.clone()
    } else {
        format!("{} {}", d.status, d.text)
    }
}

fn convert(job: &Job<'_>, o: &client::Outcome, remote: Option<String>) -> Vec<Outcome> {
    job.recipients
        .iter()
        .zip(&o.recipients)
        .map(|(&index, r)| {
            let text = text_of(r.diagnostic());
            Outcome {
                index,
                result: match r {
                    client::RcptResult::Delivered(_) => RcptResult::Delivered(text),
                    client::RcptResult::Temporary(_) => RcptResult::Temporary(text),
                    client::RcptResult::Permanent(_) => RcptResult::Permanent(text),
                },
                remote_mta: remote.clone(),
                dsn_passed: o.dsn_passed,
            }
        })
        .collect()
}
