//! The SMTP adapter: drives [`crate::proto::smtp::session`] over a TCP or
//! TLS connection. It moves bytes, runs TLS and the timers, and at each
//! stage asks [`crate::mta::Policy`] (who may send what to whom) and, on
//! port 25, the antispam pipeline.
//!
//! Accepted messages are streamed to a blob file and delivered locally in one
//! store transaction; the 250 goes out only once that is durable.

mod scan;
mod spool;

use super::conn::{close_within, read_until, write_within, Conn};
use super::{Service, Shared};
use crate::antispam::pipeline::{AuthResultsFilter, Scan};
use crate::antispam::policy::Action as SpamAction;
use crate::mail::mime;
use crate::mta::message::spool_failed;
use crate::mta::{Envelope, Received};
use crate::net::auth::Login;
use crate::proto::smtp::data::HeaderSummary;
use crate::proto::smtp::reply::Reply;
use crate::proto::smtp::session::{self, Action, AuthOutcome, Mode, Session};
use crate::store::StoreError;
use scan::{reply_of, scan_data, scan_mail, scan_now, scan_rcpt};
use smol::net::TcpStream;
use spool::{Spool, Writing};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Session configuration for one mode, from the config.
pub fn session_config(shared_cfg: &crate::config::Config, mode: Mode) -> session::Config {
    let l = &shared_cfg.limits;
    let mut c = session::Config::new(shared_cfg.server.hostname.0.clone(), mode);
    c.max_message_size = l.max_message_size.0;
    c.max_recipients = l.max_recipients as usize;
    c.max_command_line = l.max_command_line as usize;
    c.max_text_line = l.max_text_line.0 as usize;
    c.max_bad_commands = l.max_bad_commands;
    c.starttls_available = true;
    c.allow_plaintext_auth = shared_cfg.tls.allow_plaintext_auth;
    c.timeouts.command = shared_cfg.timeouts.smtp_command.0;
    c.timeouts.data = shared_cfg.timeouts.smtp_data_block.0;
    c.timeouts.no_progress = shared_cfg.timeouts.smtp_no_progress.0;
    c
}

/// One connection's state beside its session: the antispam scan of port
/// 25 and the message being spooled.
struct Client<'a> {
    service: Service,
    mode: Mode,
    peer: SocketAddr,
    shared: &'a Shared,
    scan: Option<Scan>,
    spool: Spool,
}

/// Serves one SMTP connection to its end.
pub async fn serve(service: Service, tcp: TcpStream, peer: SocketAddr, shared: &Shared) {
    let local_ip = tcp.local_addr().ok().map(|a| a.ip());
    let (mode, config) = match service {
        Service::Smtp => (Mode::Mta, shared.smtp_mta.clone()),
        _ => (Mode::Submission, shared.smtp_submission.clone()),
    };
    let mut conn = Conn::Plain(tcp);
    if service.implicit_tls() {
        conn = match conn
            .start_tls(shared.tls.clone(), shared.config.timeouts.tls_handshake.0)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                log::debug!("{service}: TLS handshake with {peer} failed: {e}");
                return;
            }
        };
    }
    log::debug!("{service}: connection from {peer}");
    let mut client = Client {
        service,
        mode,
        peer,
        shared,
        scan: None,
        spool: Spool::None,
    };
    if let Err(r) = client.connect(local_ip).await {
        // Refused before the greeting (RFC 5321 §3.1: 554 or 421).
        crate::stats::refused(crate::stats::Refusal::Connect);
        log::info!(
            "{service}: {peer} refused at connect: {} {}",
            r.code(),
            r.text()
        );
        let limit = shared.config.timeouts.smtp_command.0;
        let _ = write_within(&mut conn, &r.to_bytes(), limit).await;
        close_within(conn, limit).await;
        return;
    }
    let mut s = Session::new(config, peer.ip(), conn.tls_info(), Instant::now());
    let mut buf = vec![0u8; session::READ_CHUNK];
    'conn: loop {
        while let Some(action) = s.poll(Instant::now()) {
            match action {
                Action::Write(bytes) => {
                    // A client that stops reading is dropped like an idle
                    // one (it would hold its slot forever).
                    let limit = shared.config.timeouts.smtp_command.0;
                    if write_within(&mut conn, &bytes, limit).await.is_err() {
                        break 'conn;
                    }
                }
                Action::StartTls => {
                    let timeout = shared.config.timeouts.tls_handshake.0;
                    conn = match conn.start_tls(shared.tls.clone(), timeout).await {
                        Ok(c) => c,
                        Err(e) => {
                            log::debug!("{service}: STARTTLS with {peer} failed: {e}");
                            return;
                        }
                    };
                    let Some(info) = conn.tls_info() else {
                        break 'conn;
                    };
                    s.tls_established(info);
                }
                Action::Close => break 'conn,
                other => client.act(&mut s, other).await,
            }
        }
        match read_until(&mut conn, &mut buf, s.deadline()).await {
            None => s.timed_out(Instant::now()),
            Some(Ok(0)) | Some(Err(_)) => break,
            Some(Ok(n)) => {
                s.feed(&buf[..n]);
            }
        }
    }
    close_within(conn, shared.config.timeouts.smtp_command.0).await;
    log::debug!("{service}: {peer} disconnected");
}

impl Client<'_> {
    /// The connect stage: the policy, then on port 25 the antispam scan.
    async fn connect(&mut self, local_ip: Option<std::net::IpAddr>) -> Result<(), Reply> {
        let shared = self.shared;
        shared.mta.connect(self.mode, self.peer.ip())?;
        let (Some(p), Mode::Mta) = (&shared.antispam, self.mode) else {
            return Ok(());
        };
        let domains = shared
            .store
            .domains()
            .map(|list| list.into_iter().map(|d| d.name).collect())
            .unwrap_or_default();
        let sc = self
            .scan
            .insert(p.scan(self.peer.ip(), local_ip, domains, scan_now()));
        match sc.connect(scan_now()).await {
            Some(r) => Err(reply_of(r)),
            None => Ok(()),
        }
    }

    /// The scan of the current transaction, unless the client
    /// authenticated (RFC 6409 submissions are not inbound mail to judge).
    fn scanning(&mut self, s: &Session) -> Option<&mut Scan> {
        if s.authenticated_user().is_some() {
            return None;
        }
        self.scan.as_mut()
    }

    /// Answers one action of the session (writes, TLS and close are the
    /// caller's).
    async fn act(&mut self, s: &mut Session, action: Action) {
        let (shared, mode) = (self.shared, self.mode);
        match action {
            Action::Auth { credentials, .. } => {
                let login = shared.auth.login(
                    self.peer.ip(),
                    &credentials.authzid,
                    &credentials.username,
                    &credentials.password,
                );
                s.auth_result(match login.await.counted(self.service) {
                    Login::Ok(_) => AuthOutcome::Ok,
                    Login::Failed => AuthOutcome::Failed,
                    Login::Throttled => AuthOutcome::Throttled,
                    Login::TempFail => AuthOutcome::TempFail,
                });
            }
            Action::Mail { from, .. } => {
                // New mail stays out of the disk's reserve (store.min_free),
                // as Postfix's queue_minfree: 452 4.3.1 (RFC 3463 §3.4).
                let room = match shared.store.check_room() {
                    Ok(()) => true,
                    Err(e) => {
                        log::warn!("smtp: new mail from {} refused: {e}", s.peer());
                        false
                    }
                };
                let (user, now) = (s.authenticated_user(), scan_now());
                let mut r = shared.mta.mail_from(mode, user, &from, room, now);
                let helo = s.helo_name().unwrap_or_default().to_string();
                if let (Ok(()), Some(sc)) = (&r, self.scanning(s)) {
                    let address = crate::mta::message::sender_address(Some(&from));
                    r = scan_mail(sc, &helo, &address).await;
                }
                if r.is_err() {
                    crate::stats::refused(crate::stats::Refusal::Sender);
                }
                s.mail_result(r);
            }
            Action::Rcpt { to, .. } => {
                let size = s.mail_params().and_then(|p| p.size).unwrap_or(0);
                let user = s.authenticated_user();
                let r = shared.mta.rcpt_to(mode, user, &to, size, scan_now());
                let r = match self.scanning(s) {
                    Some(sc) => scan_rcpt(sc, r).await,
                    None => r.map(drop),
                };
                if r.is_err() {
                    crate::stats::refused(crate::stats::Refusal::Recipient);
                }
                s.rcpt_result(r);
            }
            Action::BodyStart => self.body_start(s),
            Action::Body(chunk) => {
                if let Some(sc) = self.scanning(s) {
                    sc.body(&chunk);
                }
                if let Spool::Writing(w) = &mut self.spool {
                    if let Err(e) = w.write(&chunk) {
                        self.spool = Spool::Failed(spool_failed(&e));
                    }
                }
            }
            Action::BodyEnd { headers, .. } => {
                let reply = self.finish_message(s, &headers).await;
                s.data_result(reply);
            }
            // Dropping the writer removes its temp file.
            Action::BodyAbort => self.spool = Spool::None,
            Action::Write(_) | Action::StartTls | Action::Close => {}
        }
    }

    /// DATA begins: a body file, the MIME parser and the DKIM signer.
    fn body_start(&mut self, s: &Session) {
        let shared = self.shared;
        if let Some(sc) = self.scanning(s) {
            sc.body_start(scan_now());
        }
        self.spool = match shared.store.blob_writer() {
            Ok(blob) => Spool::Writing(Box::new(Writing {
                blob,
                mime: mime::Parser::new(),
                signer: shared
                    .mta
                    .data_start(self.mode, s.sender(), crate::time::unix_now()),
                filter: AuthResultsFilter::new(&shared.config.server.hostname.0),
            })),
            Err(e) => Spool::Failed(shared.mta.store_failed("a new message", &e)),
        };
    }

    /// The end of DATA: the antispam verdict, the policy's plan, and the
    /// commit of the body to every recipient in one transaction.
    async fn finish_message(&mut self, s: &Session, headers: &HeaderSummary) -> Reply {
        let shared = self.shared;
        let mut w = match std::mem::replace(&mut self.spool, Spool::None) {
            Spool::Writing(w) => *w,
            Spool::Failed(reply) => return reply,
            Spool::None => return crate::mta::temp_failure(),
        };
        if let Err(e) = w.finish_filter() {
            return spool_failed(&e);
        }
        let Writing {
            blob, mime, signer, ..
        } = w;
        let structure = mime.finish();
        let id = message_id();
        let now = crate::time::unix_now();
        let mut outcome = None;
        if let Some(sc) = self.scanning(s) {
            let o = scan_data(sc, s, &id, &blob, &structure).await;
            if let SpamAction::Refuse(r) = &o.action {
                use crate::stats::{refused, Refusal};
                refused(if r.is_temporary() {
                    Refusal::Temporary
                } else {
                    Refusal::Content
                });
                return reply_of(r.clone());
            }
            outcome = Some(o);
        }
        let env = Envelope {
            mode: self.mode,
            user: s.authenticated_user(),
            sender: s.sender(),
            params: s.mail_params(),
            recipients: s.recipients(),
            rcpt_params: s.recipient_params(),
        };
        let msg = Received {
            headers,
            structure: &structure,
            trace: &s.received_header(&id, &crate::time::rfc5322(now)),
            outcome: outcome.as_ref(),
            signer,
            now,
        };
        let plan = match shared.mta.data_end(&env, msg) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let (count, queued) = (plan.deliveries.len(), plan.entry.is_some());
        let junked = plan
            .deliveries
            .iter()
            .filter(|d| d.mailbox == "Junk")
            .count();
        let return_path = plan.return_path.clone();
        let store = shared.store.clone();
        let result = smol::unblock(move || {
            let blob = blob.finish().map_err(|e| StoreError::Io(e.to_string()))?;
            let size = blob.size;
            // The message may have grown into the reserve while it came in.
            store.check_room()?;
            let entry = plan.entry.map(|mut e| {
                e.size = size + e.prefix.len() as u64;
                e
            });
            store
                .deliver(blob, &plan.deliveries, entry, now)
                .map(|_| size)
        })
        .await;
        let size = match result {
            Ok(size) => size,
            Err(e) => return shared.mta.store_failed(&id, &e),
        };
        {
            use crate::stats::{add, Event};
            add(Event::Received, 1);
            add(Event::Delivered, count as u64);
            add(Event::Junked, junked as u64);
        }
        log::info!(
            "smtp: {id} from {return_path} ({}) delivered to {count} mailbox(es){}, {size} bytes",
            s.peer(),
            if queued { " and queued" } else { "" }
        );
        if queued {
            shared.queue.queue_changed();
        }
        if let Some(sc) = self.scanning(s) {
            sc.accepted();
        }
        Reply::new(250, "2.0.0", format!("OK: queued as {id}"))
    }
}

static MESSAGE_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A short id for logs and Received headers.
fn message_id() -> String {
    format!(
        "{:x}{:04x}",
        crate::time::unix_now(),
        MESSAGE_COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff
    )
}
