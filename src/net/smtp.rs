//! The SMTP adapter: drives [`crate::proto::smtp::session`] over a TCP or
//! TLS connection, and applies the policy of each port:
//!
//! - MTA (port 25): recipients must be local users or aliases; anything else
//!   is relay and refused (RFC 5321 §3.6.1, never an open relay).
//! - Submission (587/465, RFC 6409): AUTH first; the envelope sender and the
//!   From: header must be the user's own addresses (RFC 6409 §6.1).
//!
//! Accepted messages are streamed to a blob file and delivered locally in one
//! store transaction; the 250 goes out only once that is durable.

use super::conn::{read_until, Conn};
use super::{Service, Shared};
use crate::antispam::pipeline::{AuthResultsFilter, Outcome, Scan};
use crate::antispam::policy::{Action as SpamAction, Folder};
use crate::antispam::{Message as ScannedMessage, Recipient, Reject};
use crate::auth::dkim::{key, Signer, SigningKey};
use crate::delivery::{self, ResolveError};
use crate::mail::mime;
use crate::proto::smtp::address::{Domain, ForwardPath, ReversePath};
use crate::proto::smtp::command::{self, RcptParams};
use crate::proto::smtp::data::HeaderSummary;
use crate::proto::smtp::reply::Reply;
use crate::proto::smtp::session::{self, Action, AuthOutcome, Mode, Session};
use crate::store::records::notify as queue_notify;
use crate::store::{BlobWriter, Delivery, QueueEntry, QueueRecipient, RcptState, Ret, StoreError};
use smol::io::AsyncWriteExt;
use smol::net::TcpStream;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::net::auth::Login;

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

/// A message being received: its body file, its MIME structure for IMAP,
/// and its DKIM signature when it leaves signed, all computed as the bytes
/// stream through (never holding the message).
struct Writing {
    blob: BlobWriter,
    mime: mime::Parser,
    signer: Option<Signer<Vec<SigningKey>>>,
    /// Drops forged Authentication-Results fields (RFC 8601 §5).
    filter: AuthResultsFilter,
}

impl Writing {
    /// Spools the next bytes as received: filtered, then parsed, signed
    /// and written.
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        let mut filtered = Vec::with_capacity(chunk.len());
        self.filter.feed(chunk, &mut filtered);
        self.write_filtered(&filtered)
    }

    /// The end of the message: what the filter held goes out.
    fn finish_filter(&mut self) -> std::io::Result<()> {
        let mut rest = Vec::new();
        self.filter.finish(&mut rest);
        self.write_filtered(&rest)
    }

    fn write_filtered(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.mime.feed(bytes);
        if let Some(signer) = &mut self.signer {
            signer.update(bytes);
        }
        self.blob.write(bytes)
    }
}

/// The SMTP reply for an antispam refusal.
fn reply_of(r: Reject) -> Reply {
    Reply::new(r.code, r.status, r.text)
}

/// The scan of the current transaction, unless the client authenticated
/// (RFC 6409 submissions are not inbound mail to judge).
fn scanning<'a>(scan: &'a mut Option<Scan>, s: &Session) -> Option<&'a mut Scan> {
    if s.authenticated_user().is_some() {
        return None;
    }
    scan.as_mut()
}

/// The spool of the message being received.
enum Spool {
    None,
    Writing(Box<Writing>),
    /// Writing failed; the message will get a 451.
    Failed,
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
    let mut scan = match (&shared.antispam, mode) {
        (Some(p), Mode::Mta) => {
            let domains = shared
                .store
                .domains()
                .map(|list| list.into_iter().map(|d| d.name).collect())
                .unwrap_or_default();
            Some(p.scan(peer.ip(), local_ip, domains, scan_now()))
        }
        _ => None,
    };
    if let Some(sc) = &mut scan {
        if let Some(r) = sc.connect(scan_now()).await {
            // Refused before the greeting (RFC 5321 §3.1: 554 or 421).
            log::info!(
                "{service}: {peer} refused at connect: {} {}",
                r.code,
                r.text
            );
            let mut out = Vec::new();
            reply_of(r).write_to(&mut out);
            let _ = conn.write_all(&out).await;
            let _ = conn.flush().await;
            let _ = conn.close().await;
            return;
        }
    }
    let mut s = Session::new(config, peer.ip(), conn.tls_info(), Instant::now());
    let mut spool = Spool::None;
    let mut buf = vec![0u8; session::READ_CHUNK];
    'conn: loop {
        while let Some(action) = s.poll(Instant::now()) {
            match action {
                Action::Write(bytes) => {
                    if conn.write_all(&bytes).await.is_err() || conn.flush().await.is_err() {
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
                Action::Auth { credentials, .. } => {
                    let outcome = match shared
                        .auth
                        .login(
                            peer.ip(),
                            &credentials.authzid,
                            &credentials.username,
                            &credentials.password,
                        )
                        .await
                    {
                        Login::Ok(_) => AuthOutcome::Ok,
                        Login::Failed => AuthOutcome::Failed,
                        Login::Throttled => AuthOutcome::Throttled,
                        Login::TempFail => AuthOutcome::TempFail,
                    };
                    s.auth_result(outcome);
                }
                Action::Mail { from, .. } => {
                    let mut r = check_sender(shared, mode, s.authenticated_user(), &from);
                    let helo = s.helo_name().unwrap_or_default().to_string();
                    if let (Ok(()), Some(sc)) = (&r, scanning(&mut scan, &s)) {
                        r = scan_mail(sc, &helo, &sender_address(Some(&from))).await;
                    }
                    s.mail_result(r);
                }
                Action::Rcpt { to, .. } => {
                    let size = s.mail_params().and_then(|p| p.size).unwrap_or(0);
                    let mut r = check_recipient(shared, mode, &to, size);
                    if let Some(sc) = scanning(&mut scan, &s) {
                        r = scan_rcpt(shared, sc, &to, r).await;
                    }
                    s.rcpt_result(r);
                }
                Action::BodyStart => {
                    if let Some(sc) = scanning(&mut scan, &s) {
                        sc.body_start(scan_now());
                    }
                    spool = match shared.store.blob_writer() {
                        Ok(blob) => Spool::Writing(Box::new(Writing {
                            blob,
                            mime: mime::Parser::new(),
                            signer: signer_for(shared, mode, s.sender()),
                            filter: AuthResultsFilter::new(&shared.config.server.hostname.0),
                        })),
                        Err(e) => {
                            log::error!("{service}: cannot spool a message: {e}");
                            Spool::Failed
                        }
                    };
                }
                Action::Body(chunk) => {
                    if let Some(sc) = scanning(&mut scan, &s) {
                        sc.body(&chunk);
                    }
                    if let Spool::Writing(w) = &mut spool {
                        if let Err(e) = w.write(&chunk) {
                            log::error!("{service}: cannot spool a message: {e}");
                            spool = Spool::Failed;
                        }
                    }
                }
                Action::BodyEnd { headers, .. } => {
                    let taken = std::mem::replace(&mut spool, Spool::None);
                    let sc = if s.authenticated_user().is_some() {
                        None
                    } else {
                        scan.as_mut()
                    };
                    let reply = finish_message(shared, mode, &s, taken, &headers, sc).await;
                    s.data_result(reply);
                }
                Action::BodyAbort => {
                    // Dropping the writer removes its temp file.
                    spool = Spool::None;
                }
                Action::Close => break 'conn,
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
    let _ = conn.close().await;
    log::debug!("{service}: {peer} disconnected");
}

/// RFC 6409 §6.1: on submission, the sender must be one of the user's own
/// addresses. On the MTA port every sender is accepted here (SPF and the
/// other checks judge it).
fn check_sender(
    shared: &Shared,
    mode: Mode,
    user: Option<&str>,
    from: &ReversePath,
) -> Result<(), Reply> {
    if mode == Mode::Mta {
        return Ok(());
    }
    let Some(user) = user else {
        return Err(Reply::new(530, "5.7.0", "Authentication required"));
    };
    let denied = || Reply::new(553, "5.7.1", format!("Sender address not owned by {user}"));
    let ReversePath::Mailbox(m) = from else {
        return Err(denied());
    };
    let Domain::Name(_) = m.domain else {
        return Err(denied());
    };
    match delivery::may_send_as(&shared.store, user, &m.to_string()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(denied()),
        Err(e) => {
            log::error!("sender check failed: {e}");
            Err(Reply::new(
                451,
                "4.3.0",
                "Temporary failure, try again later",
            ))
        }
    }
}

/// The recipient policy (see the module comment).
fn check_recipient(shared: &Shared, mode: Mode, to: &ForwardPath, size: u64) -> Result<(), Reply> {
    let relay_denied = || Reply::new(554, "5.7.1", "Relay access denied");
    let address = match recipient_address(shared, to) {
        Some(Some(a)) => a,
        Some(None) => return Err(relay_denied()),
        None => return Err(Reply::new(550, "5.1.1", "No such user here")),
    };
    match delivery::resolve(&shared.store, &address) {
        // Local accounts, and remote targets of our aliases (forwarding):
        // the remote ones go to the outbound queue. A full mailbox is
        // refused here already (RFC 3463 4.2.2), for the declared size.
        Ok(r) => {
            for account in &r.accounts {
                if let Err(StoreError::OverQuota(_)) =
                    shared.store.check_quota(account, size.max(1))
                {
                    return Err(Reply::new(452, "4.2.2", format!("Mailbox full: {address}")));
                }
            }
            Ok(())
        }
        Err(ResolveError::Unknown) => Err(Reply::new(550, "5.1.1", "No such user here")),
        // RFC 5321 §3.6.1: relaying only for authenticated submission.
        Err(ResolveError::NotLocal) => match mode {
            Mode::Mta => Err(relay_denied()),
            Mode::Submission => Ok(()),
        },
        Err(ResolveError::TooComplex) => Err(Reply::new(
            550,
            "5.4.6",
            "Alias expansion too deep or too wide",
        )),
        Err(ResolveError::Store(e)) => {
            log::error!("recipient check failed: {e}");
            Err(Reply::new(
                451,
                "4.3.0",
                "Temporary failure, try again later",
            ))
        }
    }
}

/// The address a forward path stands for: `Some(Some(addr))` for a name
/// domain, `Some(None)` for a domain literal (never ours to accept: relay),
/// `None` when `<postmaster>` has no mailbox configured.
fn recipient_address(shared: &Shared, to: &ForwardPath) -> Option<Option<String>> {
    match to {
        // RFC 5321 §4.5.1: <postmaster> is the postmaster of our first
        // domain that has one.
        ForwardPath::Postmaster => {
            let domains = shared.store.domains().ok()?;
            domains
                .iter()
                .map(|d| format!("postmaster@{}", d.name))
                .find(|a| delivery::resolve(&shared.store, a).is_ok())
                .map(Some)
        }
        ForwardPath::Mailbox(m) => match &m.domain {
            Domain::Name(_) => Some(Some(m.to_string().to_lowercase())),
            _ => Some(None),
        },
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

/// Checks the header, commits the body to every recipient, and gives the
/// final reply. Nothing is half-delivered: one transaction or none.
async fn finish_message(
    shared: &Shared,
    mode: Mode,
    s: &Session,
    spool: Spool,
    headers: &HeaderSummary,
    scan: Option<&mut Scan>,
) -> Reply {
    let temp = || Reply::new(451, "4.3.0", "Temporary failure, try again later");
    let mut w = match spool {
        Spool::Writing(w) => *w,
        _ => return temp(),
    };
    if let Err(e) = w.finish_filter() {
        log::error!("smtp: cannot spool a message: {e}");
        return temp();
    }
    let Writing {
        blob: writer,
        mime: parser,
        signer,
        ..
    } = w;
    let structure = parser.finish();
    if mode == Mode::Submission {
        let user = s.authenticated_user().unwrap_or_default();
        if let Err(reply) = check_from_header(shared, user, headers) {
            return reply;
        }
    }
    let id = message_id();
    let now = crate::time::unix_now();
    let mut scanned: Option<(Outcome, &Scan)> = None;
    if let Some(sc) = scan {
        let msg = ScannedMessage {
            header: &[],
            structure: &structure,
            path: writer.path(),
            size: writer.size(),
        };
        let outcome = sc.data(&msg, scan_now()).await;
        log::info!(
            "antispam: {id} from {} ({}): {}",
            sc.cx.mail_from.as_deref().unwrap_or(""),
            s.peer(),
            summary(&outcome)
        );
        if let SpamAction::Refuse(r) = &outcome.action {
            return reply_of(r.clone());
        }
        scanned = Some((outcome, sc));
    }
    let outcome = scanned.as_ref().map(|(o, _)| o);
    let received = s.received_header(&id, &crate::time::rfc5322(now));
    let sender = s.sender().map(|p| p.to_string()).unwrap_or_default();
    let return_path = if sender.starts_with('<') {
        sender.clone()
    } else {
        format!("<{sender}>")
    };
    // Each account once, with the recipient address that reached it first;
    // each remote address once, for the outbound queue.
    let mut deliveries: Vec<Delivery> = Vec::new();
    let mut remote: Vec<QueueRecipient> = Vec::new();
    let no_params = RcptParams::default();
    for (i, rcpt) in s.recipients().iter().enumerate() {
        let params = s.recipient_params().get(i).unwrap_or(&no_params);
        let Some(Some(address)) = recipient_address(shared, rcpt) else {
            return temp();
        };
        let resolved = match delivery::resolve(&shared.store, &address) {
            Ok(r) => r,
            Err(ResolveError::NotLocal) if mode == Mode::Submission => {
                // Keep the local part's case: only the remote host may
                // interpret it (RFC 5321 §2.4).
                let original = match rcpt {
                    ForwardPath::Mailbox(m) => m.to_string(),
                    ForwardPath::Postmaster => address.clone(),
                };
                add_remote(&mut remote, original, params, None);
                continue;
            }
            Err(e) => {
                log::warn!("recipient {address} no longer resolves at end of data: {e:?}");
                return temp();
            }
        };
        for target in resolved.remote {
            add_remote(&mut remote, target, params, Some(&address));
        }
        for account in resolved.accounts {
            if deliveries.iter().any(|d| d.account == account) {
                continue;
            }
            let mut prefix =
                format!("Return-Path: {return_path}\r\nDelivered-To: {address}\r\n").into_bytes();
            let mut mailbox = "INBOX";
            if let Some(o) = outcome {
                prefix.extend_from_slice(o.headers_for(&account).as_bytes());
                if o.folder(&account) == Folder::Junk {
                    mailbox = "Junk";
                }
            }
            prefix.extend_from_slice(received.as_bytes());
            // The structure was parsed without the prefix; shifted here.
            let cache = structure.with_prefix(&prefix).map(|st| mime::encode(&st));
            deliveries.push(Delivery {
                account,
                mailbox: mailbox.into(),
                prefix,
                flags: 0,
                keywords: Vec::new(),
                cache,
            });
        }
    }
    if deliveries.is_empty() && remote.is_empty() {
        return temp();
    }
    let queued = !remote.is_empty();
    let entry = queued.then(|| {
        let params = s.mail_params().cloned().unwrap_or_default();
        QueueEntry {
            id: 0,
            sender: sender_address(s.sender()),
            blob: crate::store::BlobId([0; 32]),
            prefix: queue_prefix(outcome, &received, signer),
            size: 0,
            created: now,
            envid: params.envid,
            ret: params.ret.map(|r| match r {
                command::Ret::Full => Ret::Full,
                command::Ret::Headers => Ret::Hdrs,
            }),
            eight_bit: params.body == command::BodyType::EightBitMime,
            smtputf8: params.smtputf8,
            recipients: remote,
            attempts: 0,
            next_attempt: now,
            delay_warned: false,
        }
    });
    let store = shared.store.clone();
    let count = deliveries.len();
    let result = smol::unblock(move || {
        let blob = writer.finish().map_err(|e| StoreError::Io(e.to_string()))?;
        let size = blob.size;
        let entry = entry.map(|mut e| {
            e.size = size + e.prefix.len() as u64;
            e
        });
        store.deliver(blob, &deliveries, entry, now).map(|_| size)
    })
    .await;
    match result {
        Ok(size) => {
            log::info!(
                "smtp: {id} from {return_path} ({}) delivered to {count} mailbox(es){}, {size} bytes",
                s.peer(),
                if queued { " and queued" } else { "" }
            );
            if queued {
                shared.queue.queue_changed();
            }
            if let Some((_, sc)) = &scanned {
                sc.accepted();
            }
            Reply::new(250, "2.0.0", format!("OK: queued as {id}"))
        }
        // RFC 3463 §3.3: 4.2.2, mailbox full; the sender may retry after
        // the user makes room.
        Err(StoreError::OverQuota(account)) => {
            log::info!("smtp: {id} refused: {account} is over quota");
            Reply::new(452, "4.2.2", format!("Mailbox full: {account}"))
        }
        Err(e) => {
            log::error!("smtp: {id} could not be stored: {e}");
            temp()
        }
    }
}

/// The trace header of a queued message and, for mail from our own
/// domains, its DKIM signatures (RFC 6376 §5: added by the signer as new
/// header fields at the top).
fn queue_prefix(
    outcome: Option<&Outcome>,
    received: &str,
    signer: Option<Signer<Vec<SigningKey>>>,
) -> Vec<u8> {
    let mut prefix = Vec::new();
    if let Some(o) = outcome {
        // Forwarded mail carries our verdict to the next hop.
        prefix.extend_from_slice(o.headers_for("").as_bytes());
    }
    prefix.extend_from_slice(received.as_bytes());
    if let Some(signer) = signer {
        match signer.finish() {
            Ok(sig) => prefix.extend_from_slice(sig.as_bytes()),
            Err(e) => log::warn!("smtp: message leaves unsigned: {e}"),
        }
    }
    prefix
}

/// Keys to sign a submitted message with: those of the envelope sender's
/// domain, which RFC 6409 policy has already checked is the user's own.
/// Mail arriving on port 25 is not signed (it is not ours, even when an
/// alias forwards it).
fn signer_for(
    shared: &Shared,
    mode: Mode,
    sender: Option<&ReversePath>,
) -> Option<Signer<Vec<SigningKey>>> {
    if mode != Mode::Submission {
        return None;
    }
    let Some(ReversePath::Mailbox(m)) = sender else {
        return None;
    };
    let domain = m.domain.to_string().to_ascii_lowercase();
    match key::load_active(&shared.config.server.data_dir, &domain) {
        Ok(keys) if !keys.is_empty() => Some(Signer::new(keys, crate::time::unix_now())),
        Ok(_) => None,
        Err(e) => {
            log::warn!("smtp: cannot load the DKIM keys of {domain}: {e}");
            None
        }
    }
}

/// The envelope sender as a plain address, empty for the null sender.
fn sender_address(from: Option<&ReversePath>) -> String {
    match from {
        Some(ReversePath::Mailbox(m)) => m.to_string(),
        _ => String::new(),
    }
}

/// Adds a remote recipient to the queue list once, with its RFC 3461
/// parameters. `via` is the local address an alias expanded from: it
/// becomes the ORCPT when the client gave none (RFC 3461 §4.2).
fn add_remote(
    list: &mut Vec<QueueRecipient>,
    address: String,
    params: &RcptParams,
    via: Option<&str>,
) {
    if list
        .iter()
        .any(|q| q.address.eq_ignore_ascii_case(&address))
    {
        return;
    }
    let notify = params.notify.map_or(0, |n| {
        if !(n.success || n.failure || n.delay) {
            queue_notify::NEVER
        } else {
            (if n.success { queue_notify::SUCCESS } else { 0 })
                | (if n.failure { queue_notify::FAILURE } else { 0 })
                | (if n.delay { queue_notify::DELAY } else { 0 })
        }
    });
    let orcpt = match &params.orcpt {
        Some(o) => Some(format!("{};{}", o.addr_type, o.address)),
        None => via.map(|v| format!("rfc822;{v}")),
    };
    list.push(QueueRecipient {
        address,
        notify,
        orcpt,
        state: RcptState::Pending,
        last_error: None,
    });
}

/// RFC 6409 §6.1 leaves the From: check to local policy; ours: every
/// author address must be one the user may send as.
fn check_from_header(shared: &Shared, user: &str, headers: &HeaderSummary) -> Result<(), Reply> {
    let denied = |why: &str| Reply::new(553, "5.7.1", format!("From: header {why}"));
    if headers.from.is_empty() {
        return Err(denied("missing or unreadable"));
    }
    for addr in &headers.from {
        match delivery::may_send_as(&shared.store, user, addr) {
            Ok(true) => {}
            Ok(false) => return Err(denied(&format!("address {addr} is not owned by {user}"))),
            Err(e) => {
                log::error!("From check failed: {e}");
                return Err(Reply::new(
                    451,
                    "4.3.0",
                    "Temporary failure, try again later",
                ));
            }
        }
    }
    Ok(())
}

/// MAIL FROM through the antispam stages: HELO when the client named
/// itself anew, then MAIL FROM.
async fn scan_mail(sc: &mut Scan, helo: &str, from: &str) -> Result<(), Reply> {
    let now = scan_now();
    if sc.cx.helo.as_deref() != Some(helo) {
        if let Some(r) = sc.helo(helo, now).await {
            return Err(reply_of(r));
        }
    }
    match sc.mail_from(from, now).await {
        Some(r) => Err(reply_of(r)),
        None => Ok(()),
    }
}

/// RCPT TO through the antispam stage: an accepted recipient is checked
/// (greylisting), a refused one counted (directory harvesting).
async fn scan_rcpt(
    shared: &Shared,
    sc: &mut Scan,
    to: &ForwardPath,
    policy: Result<(), Reply>,
) -> Result<(), Reply> {
    let now = scan_now();
    if policy.is_err() {
        return match sc.rcpt_refused(now) {
            Some(r) => Err(reply_of(r)),
            None => policy,
        };
    }
    let address = recipient_address(shared, to).flatten().unwrap_or_default();
    let accounts = delivery::resolve(&shared.store, &address)
        .map(|r| r.accounts.into_iter().collect())
        .unwrap_or_default();
    match sc.rcpt(Recipient { address, accounts }, now).await {
        Some(r) => Err(reply_of(r)),
        None => Ok(()),
    }
}

/// A log line's account of an antispam outcome.
fn summary(o: &Outcome) -> String {
    let rules: Vec<String> = o
        .verdicts
        .iter()
        .filter(|v| v.score != 0.0 || v.reject.is_some() || v.junk)
        .map(|v| format!("{}({:.1})", v.rule, v.score))
        .collect();
    let action = match &o.action {
        SpamAction::Refuse(r) => format!("refused {} {}", r.code, r.status),
        SpamAction::Deliver(list) => {
            let junk = list.iter().filter(|(_, f)| *f == Folder::Junk).count();
            format!("delivered ({junk} of {} to Junk)", list.len())
        }
    };
    format!("{action}; {}", rules.join(" "))
}

/// The time for the antispam checks, Unix seconds.
fn scan_now() -> u64 {
    u64::try_from(crate::time::unix_now()).unwrap_or(0)
}
