//! The outbound queue: its schedule and the delivery worker.
//!
//! Entries live in the store (sled) and reference their body file. The
//! worker looks for due entries, delivers each one's pending recipients
//! grouped by destination (one SMTP transaction per domain, or one through
//! the smarthost), records the results, and sends the reports the sender
//! asked for. Concurrency is capped in total (`outbound.max_concurrent`
//! entries in flight) and per destination (`outbound.max_per_domain`
//! transactions at once).
//!
//! Durability: a recipient the next hop accepted is written down as
//! delivered before anything else happens, so a crash afterwards never
//! sends it again; the only window for a duplicate is the unavoidable one
//! between the final dot and the peer's reply (RFC 5321 §6.1 accepts it).

pub mod route;
pub mod schedule;
pub mod settle;
pub mod transport;

use crate::config::Config;
use crate::mail::dsn::{Dsn, OriginalCopy, Returned};
use crate::store::{Delivery, QueueEntry, QueueRecipient, RcptState, Ret, Store};
use settle::{Outcome, Settled, Timing};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest the worker sleeps without looking at the queue, in case a
/// clock jump or a missed wake-up hides a due entry.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Bytes read from a body at a time when copying it into a report.
const COPY_CHUNK: usize = 16 * 1024;

/// One SMTP transaction's worth of work: some pending recipients of an
/// entry that share a destination.
#[derive(Debug)]
pub struct Job<'a> {
    /// The entry.
    pub entry: &'a QueueEntry,
    /// Indexes of the recipients to deliver, all pending.
    pub recipients: Vec<usize>,
    /// Their domain (lowercase), or the smarthost's name.
    pub destination: String,
}

/// A boxed future, as [`Transport`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Carries a [`Job`] to its next hop: routing (MX or smarthost) and SMTP.
/// It must give one [`Outcome`] per recipient of the job; a recipient left
/// out counts as a temporary failure.
pub trait Transport: Send + Sync {
    /// Delivers one job.
    fn send<'a>(&'a self, job: &'a Job<'a>) -> BoxFuture<'a, Vec<Outcome>>;
}

/// The delivery worker. Cheap to share; [`Queue::run`] is its loop.
pub struct Queue {
    store: Arc<Store>,
    /// The config and transport in force: a reload replaces them, and
    /// attempts in progress finish with the ones they started with.
    current: std::sync::RwLock<(Arc<Config>, Arc<dyn Transport>)>,
    bell_tx: smol::channel::Sender<()>,
    bell_rx: smol::channel::Receiver<()>,
    in_flight: Mutex<HashSet<u64>>,
    /// Entries in flight per destination (`outbound.max_per_domain`).
    domains: Mutex<HashMap<String, usize>>,
    /// Counts admin retry requests, so that an attempt that was in
    /// progress during one keeps the entry due instead of rescheduling it.
    retries: AtomicU64,
}

impl crate::admin::Notify for Queue {
    fn queue_changed(&self) {
        self.wake();
    }
}

impl Queue {
    /// A worker over `store`, delivering through `transport`.
    pub fn new(store: Arc<Store>, config: Arc<Config>, transport: Arc<dyn Transport>) -> Queue {
        let (bell_tx, bell_rx) = smol::channel::bounded(1);
        Queue {
            store,
            current: std::sync::RwLock::new((config, transport)),
            bell_tx,
            bell_rx,
            in_flight: Mutex::new(HashSet::new()),
            domains: Mutex::new(HashMap::new()),
            retries: AtomicU64::new(0),
        }
    }

    /// Asks the worker to look at the queue now.
    pub fn wake(&self) {
        // A full channel already holds a wake-up.
        let _ = self.bell_tx.try_send(());
    }

    /// The admin made entries due now (`queue retry`); wakes the worker.
    pub fn retry_requested(&self) {
        self.retries.fetch_add(1, Ordering::SeqCst);
        self.wake();
    }

    /// Delivers with `config` and `transport` from now on (a reload).
    pub fn reconfigure(&self, config: Arc<Config>, transport: Arc<dyn Transport>) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = (config, transport);
        self.wake();
    }

    fn config(&self) -> Arc<Config> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    fn transport(&self) -> Arc<dyn Transport> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    fn timing(&self) -> Timing {
        let config = self.config();
        let o = &config.outbound;
        Timing {
            max_lifetime: o.max_lifetime.0.as_secs() as i64,
            delay_warning: o.delay_warning.0.as_secs() as i64,
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs forever: starts due entries, then sleeps until the next one is
    /// due or someone calls [`Queue::wake`].
    pub async fn run(self: Arc<Self>) {
        loop {
            let sleep = self.start_due();
            let timer = async {
                smol::Timer::after(sleep).await;
            };
            let bell = async {
                let _ = self.bell_rx.recv().await;
            };
            smol::future::or(timer, bell).await;
        }
    }

    /// Starts the due entries there is room for; returns how long to sleep.
    fn start_due(self: &Arc<Self>) -> Duration {
        let now = crate::time::unix_now();
        let entries = match self.store.queue_entries() {
            Ok(e) => e,
            Err(e) => {
                log::error!("queue: cannot read the queue: {e}");
                return MAX_SLEEP;
            }
        };
        let max = self.config().outbound.max_concurrent.max(1) as usize;
        let mut next = now.saturating_add(MAX_SLEEP.as_secs() as i64);
        for e in entries {
            if e.next_attempt > now {
                next = next.min(e.next_attempt);
                continue;
            }
            let mut flying = self.in_flight();
            if flying.contains(&e.id) {
                continue;
            }
            if flying.len() >= max {
                // A finishing entry rings the bell.
                break;
            }
            // An entry waits while any of its destinations is at its cap,
            // without holding a slot that others could use.
            let destinations: Vec<String> =
                self.jobs(&e).into_iter().map(|j| j.destination).collect();
            if !self.take_destinations(&destinations) {
                continue;
            }
            flying.insert(e.id);
            drop(flying);
            let q = self.clone();
            smol::spawn(async move {
                let id = e.id;
                q.process(e).await;
                q.release_destinations(&destinations);
                q.in_flight().remove(&id);
                q.wake();
            })
            .detach();
        }
        Duration::from_secs(next.saturating_sub(now).max(1) as u64)
    }

    /// The pending recipients grouped by destination.
    fn jobs<'a>(&self, e: &'a QueueEntry) -> Vec<Job<'a>> {
        let mut jobs: Vec<Job<'a>> = Vec::new();
        let config = self.config();
        let relay = &config.relay.host;
        for (i, r) in e.recipients.iter().enumerate() {
            if r.state != RcptState::Pending {
                continue;
            }
            let destination = if relay.is_empty() {
                domain_of(&r.address)
            } else {
                relay.to_ascii_lowercase()
            };
            match jobs.iter_mut().find(|j| j.destination == destination) {
                Some(j) => j.recipients.push(i),
                None => jobs.push(Job {
                    entry: e,
                    recipients: vec![i],
                    destination,
                }),
            }
        }
        jobs
    }

    fn domains(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.domains
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts an entry against each of its destinations, if all of them
    /// are under `outbound.max_per_domain`.
    fn take_destinations(&self, destinations: &[String]) -> bool {
        let cap = self.config().outbound.max_per_domain.max(1) as usize;
        let mut d = self.domains();
        if destinations
            .iter()
            .any(|x| d.get(x).copied().unwrap_or(0) >= cap)
        {
            return false;
        }
        for x in destinations {
            *d.entry(x.clone()).or_default() += 1;
        }
        true
    }

    fn release_destinations(&self, destinations: &[String]) {
        let mut d = self.domains();
        for x in destinations {
            if let Some(n) = d.get_mut(x) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    d.remove(x);
                }
            }
        }
    }

    /// One attempt at an entry: every destination, then the bookkeeping.
    async fn process(&self, mut entry: QueueEntry) {
        let retries = self.retries.load(Ordering::SeqCst);
        // The admin may have removed or changed it since the scan.
        match self.store.queue_entry(entry.id) {
            Ok(Some(e)) => entry = e,
            Ok(None) => return,
            Err(e) => {
                log::error!("queue: cannot read entry {}: {e}", entry.id);
                return;
            }
        }
        let mut outcomes: Vec<Outcome> = Vec::new();
        let mut durable = entry.clone();
        let transport = self.transport();
        for job in self.jobs(&entry) {
            let mut got = transport.send(&job).await;
            for &i in &job.recipients {
                if !got.iter().any(|o| o.index == i) {
                    got.push(Outcome {
                        index: i,
                        result: settle::RcptResult::Temporary("no result from delivery".into()),
                        remote_mta: None,
                        dsn_passed: false,
                    });
                }
            }
            // Write down deliveries at once: never send them twice.
            let mut changed = false;
            for o in &got {
                if let (settle::RcptResult::Delivered(_), Some(r)) =
                    (&o.result, durable.recipients.get_mut(o.index))
                {
                    r.state = RcptState::Delivered;
                    changed = true;
                }
            }
            if changed {
                if let Err(e) = self.write(durable.clone(), false).await {
                    log::error!("queue: cannot record deliveries of {}: {e}", entry.id);
                }
            }
            for o in &got {
                log_outcome(&entry, o, &job.destination);
            }
            outcomes.extend(got);
        }
        let now = crate::time::unix_now();
        let Settled { reports, finished } =
            settle::settle(&mut entry, &outcomes, now, self.timing());
        if self.retries.load(Ordering::SeqCst) != retries {
            // `queue retry` came while we were busy: it stands.
            entry.next_attempt = entry.next_attempt.min(now);
        }
        for blocks in reports {
            if let Err(e) = self.send_report(&entry, blocks, now).await {
                log::error!("queue: cannot create a report for {}: {e}", entry.id);
            }
        }
        let result = self.write(entry.clone(), finished).await;
        match result {
            Ok(()) if finished => log::info!("queue: {} done", entry.id),
            Ok(()) => log::info!(
                "queue: {} deferred, next attempt in {} s",
                entry.id,
                entry.next_attempt - now
            ),
            Err(crate::store::StoreError::NotFound(_)) => {
                log::info!("queue: {} was removed meanwhile", entry.id)
            }
            Err(e) => log::error!("queue: cannot update {}: {e}", entry.id),
        }
    }

    /// Updates (or, when `remove`, removes) an entry off the executor
    /// thread: each write waits for the disk.
    async fn write(&self, entry: QueueEntry, remove: bool) -> Result<(), crate::store::StoreError> {
        let store = self.store.clone();
        smol::unblock(move || {
            if remove {
                store.remove_queue_entry(entry.id)
            } else {
                store.update_queue_entry(&entry)
            }
        })
        .await
    }

    /// Builds a report to the entry's sender and commits it: into the
    /// sender's own mailbox when the address is local, else to the queue
    /// from the null sender.
    async fn send_report(
        &self,
        entry: &QueueEntry,
        recipients: Vec<crate::mail::dsn::DsnRecipient>,
        now: i64,
    ) -> Result<(), String> {
        let store = self.store.clone();
        let hostname = self.config().server.hostname.0.clone();
        let entry = entry.clone();
        smol::unblock(move || build_and_commit_report(&store, &hostname, &entry, recipients, now))
            .await?;
        self.wake();
        Ok(())
    }
}

fn log_outcome(entry: &QueueEntry, o: &Outcome, destination: &str) {
    let Some(r) = entry.recipients.get(o.index) else {
        return;
    };
    let via = o.remote_mta.as_deref().unwrap_or(destination);
    match &o.result {
        settle::RcptResult::Delivered(reply) => {
            crate::stats::add(crate::stats::Event::Delivered, 1);
            crate::stats::add(crate::stats::Event::SentOut, 1);
            log::info!(
                "queue: {} to <{}> delivered via {via}: {reply}",
                entry.id,
                r.address
            )
        }
        settle::RcptResult::Temporary(why) => {
            crate::stats::add(crate::stats::Event::Deferred, 1);
            log::info!(
                "queue: {} to <{}> deferred ({via}): {why}",
                entry.id,
                r.address
            )
        }
        settle::RcptResult::Permanent(why) => {
            crate::stats::add(crate::stats::Event::Bounced, 1);
            log::info!(
                "queue: {} to <{}> failed ({via}): {why}",
                entry.id,
                r.address
            )
        }
    }
}

/// The lowercase domain of an address (empty if it has none).
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default()
}

fn build_and_commit_report(
    store: &Store,
    hostname: &str,
    entry: &QueueEntry,
    recipients: Vec<crate::mail::dsn::DsnRecipient>,
    now: i64,
) -> Result<(), String> {
    let returned = match entry.ret {
        Some(Ret::Full) => Returned::Full,
        _ => Returned::Headers,
    };
    let dsn = Dsn {
        reporting_mta: hostname.to_owned(),
        to: entry.sender.clone(),
        envid: entry.envid.clone(),
        arrival: entry.created,
        recipients,
        returned,
        token: format!("{:x}.{:x}", entry.id, now),
        now,
    };
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let mut w = store.blob_writer().map_err(|e| err(&e))?;
    w.write(&dsn.head()).map_err(|e| err(&e))?;
    let mut copy = OriginalCopy::new(returned);
    let mut out = Vec::with_capacity(COPY_CHUNK);
    copy.take(&entry.prefix, &mut out);
    w.write(&out).map_err(|e| err(&e))?;
    let mut body = store.open_blob(&entry.blob).map_err(|e| err(&e))?;
    let mut buf = vec![0u8; COPY_CHUNK];
    while !copy.done() {
        let n = body.read(&mut buf).map_err(|e| err(&e))?;
        if n == 0 {
            break;
        }
        out.clear();
        copy.take(&buf[..n], &mut out);
        w.write(&out).map_err(|e| err(&e))?;
    }
    w.write(&dsn.tail(copy.ends_with_newline()))
        .map_err(|e| err(&e))?;
    let blob = w.finish().map_err(|e| err(&e))?;
    let size = blob.size;
    // A local sender gets the report straight into the INBOX.
    let local = crate::delivery::resolve(store, &entry.sender).ok();
    let received = format!(
        "Received: from localhost by {hostname} (facteur) id {:x};\r\n\t{}\r\n",
        entry.id,
        crate::time::rfc5322(now)
    );
    let (deliveries, queued) = match local {
        Some(r) if r.remote.is_empty() => {
            let d = r
                .accounts
                .into_iter()
                .map(|account| Delivery {
                    account,
                    mailbox: "INBOX".into(),
                    prefix: format!(
                        "Return-Path: <>\r\nDelivered-To: {}\r\n{received}",
                        entry.sender
                    )
                    .into_bytes(),
                    flags: 0,
                    keywords: Vec::new(),
                    // The IMAP server computes the structure on first use.
                    cache: None,
                })
                .collect();
            (d, None)
        }
        _ => {
            let prefix = received.into_bytes();
            let q = QueueEntry {
                id: 0,
                sender: String::new(),
                blob: entry.blob,
                size: size + prefix.len() as u64,
                prefix,
                created: now,
                envid: None,
                ret: None,
                eight_bit: entry.eight_bit && returned == Returned::Full,
                smtputf8: false,
                recipients: vec![QueueRecipient {
                    address: entry.sender.clone(),
                    notify: 0,
                    orcpt: None,
                    state: RcptState::Pending,
                    last_error: None,
                }],
                attempts: 0,
                next_attempt: now,
                delay_warned: false,
            };
            (Vec::new(), Some(q))
        }
    };
    store
        .deliver(blob, &deliveries, queued, now)
        .map_err(|e| err(&e))?;
    log::info!(
        "queue: report on {} ({size} bytes) for <{}>",
        entry.id,
        entry.sender
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::settle::RcptResult;
    use super::*;
    use crate::store::BlobId;

    fn tmp() -> std::path::PathBuf {
        crate::testing::temp_dir("queue")
    }

    /// Answers by the recipient's local part: `ok*` delivered, `bad*`
    /// refused, anything else deferred. Records the destinations it saw.
    struct Scripted {
        seen: Mutex<Vec<(String, Vec<String>)>>,
    }

    impl Transport for Scripted {
        fn send<'a>(&'a self, job: &'a Job<'a>) -> BoxFuture<'a, Vec<Outcome>> {
            Box::pin(async move {
                let addrs: Vec<String> = job
                    .recipients
                    .iter()
                    .map(|&i| job.entry.recipients[i].address.clone())
                    .collect();
                self.seen
                    .lock()
                    .unwrap()
                    .push((job.destination.clone(), addrs.clone()));
                job.recipients
                    .iter()
                    .zip(addrs)
                    .map(|(&index, a)| Outcome {
                        index,
                        result: if a.starts_with("ok") {
                            RcptResult::Delivered("250 2.0.0 ok".into())
                        } else if a.starts_with("bad") {
                            RcptResult::Permanent("550 5.1.1 no such user".into())
                        } else {
                            RcptResult::Temporary("451 4.3.0 later".into())
                        },
                        remote_mta: Some(format!("mx.{}", domain_of(&a))),
                        dsn_passed: false,
                    })
                    .collect()
            })
        }
    }

    fn queued(store: &Store, sender: &str, rcpts: &[&str]) -> u64 {
        let mut w = store.blob_writer().unwrap();
        w.write(b"Subject: hello\r\nFrom: alice@example.test\r\n\r\nthe body\r\n")
            .unwrap();
        let blob = w.finish().unwrap();
        let now = crate::time::unix_now();
        let e = QueueEntry {
            id: 0,
            sender: sender.into(),
            blob: BlobId([0; 32]),
            prefix: b"Received: test\r\n".to_vec(),
            size: 0,
            created: now,
            envid: None,
            ret: None,
            eight_bit: false,
            smtputf8: false,
            recipients: rcpts
                .iter()
                .map(|a| QueueRecipient {
                    address: (*a).into(),
                    notify: 0,
                    orcpt: None,
                    state: RcptState::Pending,
                    last_error: None,
                })
                .collect(),
            attempts: 0,
            next_attempt: now,
            delay_warned: false,
        };
        store.deliver(blob, &[], Some(e), now).unwrap();
        store.queue_entries().unwrap()[0].id
    }

    #[test]
    fn an_attempt_groups_by_domain_records_results_and_bounces_to_the_local_sender() {
        let dir = tmp();
        let store = Arc::new(Store::open(&dir, 1 << 20).unwrap());
        store.add_domain("example.test").unwrap();
        store.add_account("alice@example.test", "x").unwrap();
        let id = queued(
            &store,
            "alice@example.test",
            &["ok1@a.test", "bad@b.test", "later@a.test", "ok2@B.test"],
        );
        let transport = Arc::new(Scripted {
            seen: Mutex::new(Vec::new()),
        });
        let q = Arc::new(Queue::new(
            store.clone(),
            Arc::new(Config::embedded()),
            transport.clone(),
        ));
        let entry = store.queue_entry(id).unwrap().unwrap();
        smol::block_on(q.process(entry));
        let seen = transport.seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                (
                    "a.test".to_owned(),
                    vec!["ok1@a.test".to_owned(), "later@a.test".to_owned()]
                ),
                (
                    "b.test".to_owned(),
                    vec!["bad@b.test".to_owned(), "ok2@B.test".to_owned()]
                ),
            ]
        );
        let e = store
            .queue_entry(id)
            .unwrap()
            .expect("still queued for later@");
        let states: Vec<RcptState> = e.recipients.iter().map(|r| r.state.clone()).collect();
        assert_eq!(
            states,
            [
                RcptState::Delivered,
                RcptState::Failed,
                RcptState::Pending,
                RcptState::Delivered
            ]
        );
        assert_eq!(e.attempts, 1);
        assert!(e.next_attempt > crate::time::unix_now());
        // The bounce for bad@ is in alice's INBOX, from the null sender.
        let inbox = store
            .mailbox("alice@example.test", "INBOX")
            .unwrap()
            .unwrap();
        let msgs = store.messages(inbox.id).unwrap();
        assert_eq!(msgs.len(), 1);
        let mut text = String::from_utf8(msgs[0].prefix.clone()).unwrap();
        store
            .open_blob(&msgs[0].blob)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.starts_with("Return-Path: <>\r\n"), "{text}");
        assert!(text.contains("Final-Recipient: rfc822; bad@b.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.b.test\r\n"));
        assert!(text.contains("Subject: hello\r\n"));
        assert!(!text.contains("the body"));
        assert!(!text.contains("later@a.test"));

        // The next attempt delivers the last one: the entry goes, and its
        // body with it (the report has its own).
        let mut e = store.queue_entry(id).unwrap().unwrap();
        e.recipients[2].address = "ok3@a.test".into();
        store.update_queue_entry(&e).unwrap();
        let blob = e.blob;
        smol::block_on(q.process(e));
        assert!(store.queue_entry(id).unwrap().is_none());
        assert!(!store.blob_exists(&blob));
        assert_eq!(transport.seen.lock().unwrap().len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_remote_sender_gets_a_queued_report_and_a_bounce_gets_none() {
        let dir = tmp();
        let store = Arc::new(Store::open(&dir, 1 << 20).unwrap());
        let transport = Arc::new(Scripted {
            seen: Mutex::new(Vec::new()),
        });
        let q = Queue::new(store.clone(), Arc::new(Config::embedded()), transport);
        let id = queued(&store, "someone@far.test", &["bad@b.test"]);
        smol::block_on(q.process(store.queue_entry(id).unwrap().unwrap()));
        let left = store.queue_entries().unwrap();
        assert_eq!(left.len(), 1, "only the report is queued");
        let report = &left[0];
        assert_eq!(report.sender, "");
        assert_eq!(report.recipients[0].address, "someone@far.test");
        // The report itself fails: nothing more is generated.
        let mut r = report.clone();
        r.recipients[0].address = "bad@far.test".into();
        store.update_queue_entry(&r).unwrap();
        smol::block_on(q.process(r));
        assert!(store.queue_entries().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
    /// Delivers everything after a short pause, counting the transactions
    /// in flight, in all and for `busy.test`.
    struct Slow {
        now: Mutex<(usize, usize)>,
        peak: Mutex<(usize, usize)>,
    }

    impl Transport for Slow {
        fn send<'a>(&'a self, job: &'a Job<'a>) -> BoxFuture<'a, Vec<Outcome>> {
            Box::pin(async move {
                let busy = job.destination == "busy.test";
                {
                    let mut n = self.now.lock().unwrap();
                    n.0 += 1;
                    n.1 += usize::from(busy);
                    let mut p = self.peak.lock().unwrap();
                    *p = (p.0.max(n.0), p.1.max(n.1));
                }
                smol::Timer::after(std::time::Duration::from_millis(30)).await;
                let mut n = self.now.lock().unwrap();
                n.0 -= 1;
                n.1 -= usize::from(busy);
                job.recipients
                    .iter()
                    .map(|&index| Outcome {
                        index,
                        result: RcptResult::Delivered("250 ok".into()),
                        remote_mta: None,
                        dsn_passed: false,
                    })
                    .collect()
            })
        }
    }

    #[test]
    fn concurrency_is_capped_in_total_and_per_destination() {
        let dir = tmp();
        let store = Arc::new(Store::open(&dir, 1 << 20).unwrap());
        for i in 0..8 {
            queued(&store, "a@far.test", &[&format!("u{i}@busy.test")]);
            queued(&store, "a@far.test", &[&format!("u{i}@other{i}.test")]);
        }
        let mut config = Config::embedded();
        config.outbound.max_concurrent = 5;
        config.outbound.max_per_domain = 2;
        let transport = Arc::new(Slow {
            now: Mutex::new((0, 0)),
            peak: Mutex::new((0, 0)),
        });
        let q = Arc::new(Queue::new(
            store.clone(),
            Arc::new(config),
            transport.clone(),
        ));
        smol::block_on(async {
            let worker = smol::spawn(q.clone().run());
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while !store.queue_entries().unwrap().is_empty() {
                assert!(std::time::Instant::now() < deadline, "queue not drained");
                smol::Timer::after(std::time::Duration::from_millis(10)).await;
            }
            drop(worker);
        });
        let peak = *transport.peak.lock().unwrap();
        assert_eq!(peak.1, 2, "per-destination cap reached, not passed");
        assert!(peak.0 <= 5 && peak.0 >= 3, "total cap: {peak:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
