//! The store: the only module that knows sled.
//!
//! The index (domains, accounts, aliases, mailboxes, per-message records, the
//! outbound queue) is kept in sled; message bodies are files (see [`blobs`]).
//! Operations that acknowledge mail commit the body file first, then the
//! index in one sled transaction, then flush sled, and only then return: a
//! crash at any point leaves either nothing or the whole change.

//!
//! Trees of the index (keys are big-endian so that they sort):
//! - `accounts`, `domains`, `aliases`, `queue`: one record per key.
//! - `mailboxes`: `account \0 name` → [`Mailbox`] (with its STATUS counters);
//!   `mailbox_ids`: mailbox id → that key, so a selected mailbox is found by
//!   id whatever its name becomes.
//! - `messages`: mailbox id, UID → [`MessageMeta`] (flags, modseq, sizes: the
//!   small part); `bodies`: same key → [`MessageBody`] (blob, prefix, cache).
//! - `modseqs`: mailbox id, modseq, UID → nothing: the RFC 7162 change index.
//! - `vanished`: mailbox id, modseq → UID ranges expunged at that modseq.
//! - `usage`: account → bytes stored (RFC 9208 STORAGE).
//! - `subscriptions`: `account \0 name` → nothing (RFC 9051 §6.3.7).
//! - `blobrefs`: blob id → reference count.
//! - `admins`: account → nothing: the accounts that may administer the box
//!   (a tree of its own, so account records written before it stay as
//!   they are; see `admins.rs`).
//! - `copies`: copy id → [`records::PendingCopy`]: a COPY that spans
//!   several transactions and has not finished; undone at open.
//! - `recent`: mailbox id → the first UID still `\Recent` (see `recent.rs`).
//!
//! Everything that changes several trees does so in one sled transaction.

mod admins;
pub mod blobs;
pub mod dump;
mod imap;
mod mailboxes;
mod migrate;
mod recent;
pub mod records;
mod room;
mod watch;

pub use admins::NewAccount;
pub use blobs::{BlobWriter, FinishedBlob, LineEnds};
pub use imap::{
    Appended, Changes, Copied, Expunged, FlagOp, FlagResult, FlagUpdate, MessageSummary,
    NewMessage, StoreFlagsResult, UidRange, MAX_KEYWORDS, MAX_KEYWORD_LEN, MAX_TOMBSTONES,
};
pub use mailboxes::{mailbox_name, Quota, MAX_MAILBOX_DEPTH, MAX_MAILBOX_NAME, SEPARATOR};
pub use records::{
    flags, Account, Alias, BlobId, Domain, Mailbox, Message, MessageBody, MessageMeta, QueueEntry,
    QueueRecipient, RcptState, Ret, SpecialUse,
};
pub use room::{Space, MIN_FREE_FLOOR};
pub use watch::MailboxWatch;

use records::{decode, encode, Record, RecordError};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

/// The on-disk format this binary reads and writes. Raise it when the
/// layout changes in a way older binaries cannot read.
///
/// 2: mailbox counters, split message records, modseq index, tombstones,
/// quota usage, subscriptions.
/// 3: each message record keeps its CRLF-counted (POP3) size.
///
/// Older formats are migrated at open, one step at a time (`migrate.rs`).
pub const STORE_FORMAT: u32 = 3;

/// How many times an operation that reads a listing before its transaction
/// starts over when the mailbox changed in between.
const CONFLICT_RETRIES: u32 = 16;

const FORMAT_KEY: &[u8] = b"format_version";

/// A file in the data dir while a restore fills it: the store refuses to
/// open a half-restored dir.
pub const RESTORE_MARKER: &str = "restore-in-progress";

/// The mailboxes every new account gets (RFC 6154 special uses).
pub const DEFAULT_MAILBOXES: [(&str, Option<SpecialUse>); 6] = [
    ("INBOX", None),
    ("Sent", Some(SpecialUse::Sent)),
    ("Drafts", Some(SpecialUse::Drafts)),
    ("Junk", Some(SpecialUse::Junk)),
    ("Trash", Some(SpecialUse::Trash)),
    ("Archive", Some(SpecialUse::Archive)),
];

/// What went wrong in a store operation.
#[derive(Debug)]
pub enum StoreError {
    /// The named thing does not exist.
    NotFound(String),
    /// The named thing exists already.
    Exists(String),
    /// The request is not valid (bad name, wrong domain...).
    Invalid(String),
    /// The store on disk is newer than this binary.
    TooNew(u32),
    /// Another process has the store open.
    Locked(String),
    /// Disk or sled failure.
    Io(String),
    /// The account's storage quota would be exceeded (RFC 9208 STORAGE;
    /// SMTP answers 452 4.2.2, RFC 3463; IMAP NO [OVERQUOTA]).
    OverQuota(String),
    /// The mailbox kept changing while the operation ran; nothing was done.
    Conflict(String),
    /// The file system holding the store has less free space than the
    /// reserve (`store.min_free`), so new mail is refused until space is
    /// freed; see [`Store::check_room`]. Answer SMTP with `452 4.3.1`
    /// (RFC 5321 §4.2.5, RFC 3463 §3.4 "mail system full") and IMAP APPEND
    /// with `NO [OVERQUOTA]` (RFC 5530 §3). Reading, flag changes,
    /// expunge and deletion go on working, so users can make room.
    InsufficientStorage {
        /// Bytes available when last looked at.
        available: u64,
        /// Bytes kept in reserve.
        reserve: u64,
    },
    /// A record could not be decoded.
    Corrupt(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound(s) => write!(f, "{s} does not exist"),
            StoreError::Exists(s) => write!(f, "{s} already exists"),
            StoreError::Invalid(s) => f.write_str(s),
            StoreError::TooNew(v) => write!(
                f,
                "the store has format version {v}, newer than this binary's {STORE_FORMAT}; \
                 run a newer facteur (the store was left untouched)"
            ),
            StoreError::Locked(p) => {
                write!(f, "the store at {p} is in use by another facteur process")
            }
            StoreError::Io(s) => write!(f, "storage error: {s}"),
            StoreError::OverQuota(a) => write!(f, "the storage quota of {a} is exceeded"),
            StoreError::Conflict(s) => write!(f, "{s} changed too often; try again"),
            StoreError::InsufficientStorage { available, reserve } => write!(
                f,
                "insufficient storage: {} MiB free, {} MiB kept in reserve (store.min_free)",
                available >> 20,
                reserve >> 20
            ),
            StoreError::Corrupt(s) => write!(f, "corrupt store: {s}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        if let sled::Error::Io(_) = e {
            index_failed(&e);
        }
        StoreError::Io(e.to_string())
    }
}

/// Whether an I/O failure of the index ends the process; see
/// [`exit_on_index_failure`].
static EXIT_ON_INDEX_FAILURE: AtomicBool = AtomicBool::new(false);

/// The exit status after an index failure: EX_TEMPFAIL (sysexits.h), a
/// failure the service manager answers with a restart
/// (`Restart=on-failure` in board/facteur.service).
pub const INDEX_FAILURE_EXIT: i32 = 75;

/// Makes an I/O failure of the index end the process with
/// [`INDEX_FAILURE_EXIT`], for the server. Once one of sled's log writes
/// fails (a full disk), sled returns that error for every later operation
/// until the database is reopened, and it cannot be reopened while any of
/// its trees is in use. Staying up would refuse all mail while looking
/// healthy; a restart reopens it once space is back. Nothing acknowledged
/// is lost: acknowledged mail was flushed before its reply.
pub fn exit_on_index_failure() {
    EXIT_ON_INDEX_FAILURE.store(true, Ordering::SeqCst);
}

fn index_failed(e: &sled::Error) {
    if EXIT_ON_INDEX_FAILURE.load(Ordering::SeqCst) {
        log::error!(
            "the mail index failed ({e}) and stays failed until it is reopened: \
             exiting with status {INDEX_FAILURE_EXIT} to be restarted"
        );
        log::logger().flush();
        std::process::exit(INDEX_FAILURE_EXIT);
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e.to_string())
    }
}

impl From<RecordError> for StoreError {
    fn from(e: RecordError) -> Self {
        StoreError::Corrupt(e.0)
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        }
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn tx_decode<T: Record>(bytes: &[u8]) -> TxResult<T> {
    decode(bytes).or_else(|e| abort(e.into()))
}

/// One local delivery of a committed body.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Recipient account.
    pub account: String,
    /// Target mailbox; INBOX when it does not exist.
    pub mailbox: String,
    /// Header lines prepended for this recipient.
    pub prefix: Vec<u8>,
    /// Initial system flags.
    pub flags: u8,
    /// Initial keywords.
    pub keywords: Vec<String>,
    /// The encoded MIME structure for IMAP (`Message.cache`), when the
    /// deliverer computed it while the body streamed.
    pub cache: Option<Vec<u8>>,
}

/// Where a delivered message landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Mailbox id.
    pub mailbox: u64,
    /// UID in it.
    pub uid: u32,
}

/// The store. Cheap to share behind an `Arc`; every method is blocking, so
/// async code calls it through `smol::unblock`.
pub struct Store {
    db: sled::Db,
    domains: sled::Tree,
    accounts: sled::Tree,
    aliases: sled::Tree,
    mailboxes: sled::Tree,
    mailbox_ids: sled::Tree,
    messages: sled::Tree,
    bodies: sled::Tree,
    modseqs: sled::Tree,
    vanished: sled::Tree,
    usage: sled::Tree,
    subscriptions: sled::Tree,
    blobrefs: sled::Tree,
    queue: sled::Tree,
    admins: sled::Tree,
    copies: sled::Tree,
    recent: sled::Tree,
    blobs: blobs::BlobDir,
    /// Serialises reference-count changes with blob file creation and
    /// removal, so a body being re-delivered is never deleted under it.
    blob_lock: Mutex<()>,
    /// Serialises changes to who is an admin, so that the last admin
    /// cannot be removed by two changes racing (a transaction cannot
    /// count the admins).
    admin_lock: Mutex<()>,
    /// Taken shared by every change that spans trees, and exclusively by
    /// [`Store::dump_index`] for a copy at one point in time.
    index_gate: RwLock<()>,
    /// Quota for accounts whose own quota is 0 (0: unlimited).
    default_quota: AtomicU64,
    /// Wakes sessions waiting on a mailbox (IDLE).
    watchers: std::sync::Arc<watch::Watchers>,
    /// The disk reserve.
    room: room::Room,
}

/// All the trees of one transaction (see [`Store::transact`]).
struct Tx<'a> {
    acc: &'a TransactionalTree,
    mbx: &'a TransactionalTree,
    ids: &'a TransactionalTree,
    msg: &'a TransactionalTree,
    body: &'a TransactionalTree,
    mods: &'a TransactionalTree,
    gone: &'a TransactionalTree,
    usage: &'a TransactionalTree,
    subs: &'a TransactionalTree,
    refs: &'a TransactionalTree,
    queue: &'a TransactionalTree,
    admins: &'a TransactionalTree,
    copies: &'a TransactionalTree,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating) the store in `data_dir` with an explicit sled cache.
    pub fn open(data_dir: &Path, cache_capacity: u64) -> Result<Store, StoreError> {
        if data_dir.join(RESTORE_MARKER).exists() {
            return Err(StoreError::Invalid(format!(
                "{} holds an unfinished restore: empty it and restore again",
                data_dir.display()
            )));
        }
        let index = data_dir.join("index");
        let db = sled::Config::new()
            .path(&index)
            .cache_capacity(cache_capacity)
            .flush_every_ms(Some(500))
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    StoreError::Locked(index.display().to_string())
                }
                sled::Error::Io(ref io) if io.to_string().contains("lock") => {
                    StoreError::Locked(index.display().to_string())
                }
                e => StoreError::Io(format!("cannot open {}: {e}", index.display())),
            })?;
        let found = match db.get(FORMAT_KEY)? {
            Some(v) => {
                let v = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("bad format version".into()))?;
                if v > STORE_FORMAT {
                    return Err(StoreError::TooNew(v));
                }
                v
            }
            None => {
                db.insert(FORMAT_KEY, &STORE_FORMAT.to_be_bytes())?;
                db.flush()?;
                STORE_FORMAT
            }
        };
        let store = Store {
            domains: db.open_tree("domains")?,
            accounts: db.open_tree("accounts")?,
            aliases: db.open_tree("aliases")?,
            mailboxes: db.open_tree("mailboxes")?,
            mailbox_ids: db.open_tree("mailbox_ids")?,
            messages: db.open_tree("messages")?,
            bodies: db.open_tree("bodies")?,
            modseqs: db.open_tree("modseqs")?,
            vanished: db.open_tree("vanished")?,
            usage: db.open_tree("usage")?,
            subscriptions: db.open_tree("subscriptions")?,
            blobrefs: db.open_tree("blobrefs")?,
            queue: db.open_tree("queue")?,
            admins: db.open_tree("admins")?,
            copies: db.open_tree("copies")?,
            recent: db.open_tree("recent")?,
            blobs: blobs::BlobDir::open(&data_dir.join("blobs"))?,
            blob_lock: Mutex::new(()),
            admin_lock: Mutex::new(()),
            index_gate: RwLock::new(()),
            default_quota: AtomicU64::new(0),
            watchers: std::sync::Arc::new(watch::Watchers::default()),
            room: room::Room::new(data_dir.to_path_buf()),
            db,
        };
        if found < STORE_FORMAT {
            store.migrate(found)?;
        }
        store.undo_unfinished_copies()?;
        store.sweep_blobs()?;
        Ok(store)
    }

    /// The format version recorded in the store.
    pub fn format_version(&self) -> Result<u32, StoreError> {
        let v = self
            .db
            .get(FORMAT_KEY)?
            .ok_or_else(|| StoreError::Corrupt("no format version".into()))?;
        <[u8; 4]>::try_from(v.as_ref())
            .map(u32::from_be_bytes)
            .map_err(|_| StoreError::Corrupt("bad format version".into()))
    }

    #[doc(hidden)]
    /// Test support: records another format version.
    pub fn set_format_version_for_tests(&self, v: u32) -> Result<(), StoreError> {
        self.db.insert(FORMAT_KEY, &v.to_be_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// A tree of its own for a component that keeps state beside the
    /// mail (greylisting, the Bayes filter's tokens): `antispam_` and the
    /// given name. Opening it again gives the same tree.
    pub fn antispam_tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(format!("antispam_{name}"))?)
    }

    /// Makes every change so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Removes blob files that no record references (left by a crash
    /// between writing a body and committing its index), and reports
    /// references to missing files.
    fn sweep_blobs(&self) -> Result<(), StoreError> {
        let _guard = self.lock_blobs();
        for id in self.blobs.list()? {
            if self.blobrefs.get(id.0)?.is_none() {
                log::info!("removing unreferenced body {}", id.hex());
                self.blobs.remove(&id)?;
            }
        }
        Ok(())
    }

    /// Runs `f` in one sled transaction over every tree that holds mail.
    /// `f` may run several times (sled retries on conflict), so it has no
    /// side effects outside the transaction.
    fn transact<T>(&self, f: impl Fn(&Tx<'_>) -> TxResult<T>) -> Result<T, StoreError> {
        let trees = (
            &self.accounts,
            &self.mailboxes,
            &self.mailbox_ids,
            &self.messages,
            &self.bodies,
            &self.modseqs,
            &self.vanished,
            &self.usage,
            &self.subscriptions,
            &self.blobrefs,
            &self.queue,
            &self.admins,
            &self.copies,
        );
        let _gate = self.index_gate.read().unwrap_or_else(|p| p.into_inner());
        let r: Result<T, TransactionError<StoreError>> = trees.transaction(
            |(acc, mbx, ids, msg, body, mods, gone, usage, subs, refs, queue, admins, copies)| {
                f(&Tx {
                    acc,
                    mbx,
                    ids,
                    msg,
                    body,
                    mods,
                    gone,
                    usage,
                    subs,
                    refs,
                    queue,
                    admins,
                    copies,
                })
            },
        );
        r.map_err(Into::into)
    }

    /// Runs `attempt` until it does not fail with [`StoreError::Conflict`]
    /// (it read a listing outside its transaction and the mailbox changed
    /// before the transaction; see [`check_unchanged`]).
    fn retrying<T>(
        &self,
        mut attempt: impl FnMut() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tries = 0;
        loop {
            match attempt() {
                Err(StoreError::Conflict(_)) if tries < CONFLICT_RETRIES => tries += 1,
                r => return r,
            }
        }
    }

    fn lock_blobs(&self) -> std::sync::MutexGuard<'_, ()> {
        // A panic while holding the lock leaves no partial state (the
        // index changes are transactional), so a poisoned lock is usable.
        self.blob_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ----- domains -----

    /// Adds a mail domain.
    pub fn add_domain(&self, name: &str) -> Result<Domain, StoreError> {
        let name = normalise_domain(name)?;
        let d = Domain {
            name: name.clone(),
            created: unix_now(),
        };
        let prev =
            self.domains
                .compare_and_swap(name.as_bytes(), None::<&[u8]>, Some(encode(&d)))?;
        if prev.is_err() {
            return Err(StoreError::Exists(format!("domain {name}")));
        }
        self.flush()?;
        Ok(d)
    }

    /// Adds a domain unless it exists.
    pub fn ensure_domain(&self, name: &str) -> Result<(), StoreError> {
        match self.add_domain(name) {
            Ok(_) | Err(StoreError::Exists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// All domains, sorted.
    pub fn domains(&self) -> Result<Vec<Domain>, StoreError> {
        values(&self.domains, &[])
    }

    /// Whether mail for `name` is ours.
    pub fn is_local_domain(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .domains
            .contains_key(name.trim_end_matches('.').to_ascii_lowercase())?)
    }

    /// Removes a domain that has no accounts or aliases left.
    pub fn remove_domain(&self, name: &str) -> Result<(), StoreError> {
        let name = normalise_domain(name)?;
        let suffix = format!("@{name}");
        let used = self
            .accounts()?
            .iter()
            .map(|a| a.address.clone())
            .chain(self.aliases()?.into_iter().map(|a| a.address))
            .filter(|a| a.ends_with(&suffix))
            .count();
        if used > 0 {
            return Err(StoreError::Invalid(format!(
                "domain {name} still has {used} user(s) or alias(es); remove them first"
            )));
        }
        if self.domains.remove(name.as_bytes())?.is_none() {
            return Err(StoreError::NotFound(format!("domain {name}")));
        }
        self.flush()
    }

    // ----- accounts -----

    /// Adds an account in a local domain, with the default mailboxes
    /// (subscribed).
    pub fn add_account(&self, address: &str, password_hash: &str) -> Result<Account, StoreError> {
        let account = NewAccount {
            address: address.to_string(),
            password_hash: password_hash.to_string(),
            admin: false,
        };
        self.setup(&[], &[account])?
            .pop()
            .ok_or_else(|| StoreError::Io("the account was not added".into()))
    }

    /// One account.
    pub fn account(&self, address: &str) -> Result<Option<Account>, StoreError> {
        let address = address.to_ascii_lowercase();
        match self.accounts.get(address.as_bytes())? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// All accounts, sorted by address.
    pub fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        values(&self.accounts, &[])
    }

    /// Replaces an account's password hash.
    pub fn set_password(&self, address: &str, password_hash: &str) -> Result<(), StoreError> {
        let address = address.to_ascii_lowercase();
        self.accounts.transaction(|acc| {
            let Some(v) = acc.get(address.as_bytes())? else {
                return abort(StoreError::NotFound(format!("user {address}")));
            };
            let mut a: Account = tx_decode(&v)?;
            a.password_hash = password_hash.to_string();
            acc.insert(address.as_bytes(), encode(&a))?;
            Ok(())
        })?;
        self.flush()
    }

    /// Removes an account with its mailboxes, messages, subscriptions and
    /// quota usage.
    pub fn remove_account(&self, address: &str) -> Result<(), StoreError> {
        let address = address.to_ascii_lowercase();
        let _admins = self.lock_admins();
        self.refuse_last_admin(&address)?;
        let _guard = self.lock_blobs();
        let (ids, freed) = self.retrying(|| {
            let boxes = self.mailboxes(&address)?;
            let contents = boxes
                .iter()
                .map(|b| self.contents(b))
                .collect::<Result<Vec<_>, _>>()?;
            let mut subs_prefix = address.as_bytes().to_vec();
            subs_prefix.push(0);
            let subs = self
                .subscriptions
                .scan_prefix(&subs_prefix)
                .keys()
                .collect::<Result<Vec<_>, _>>()?;
            self.transact(|tx| {
                if tx.acc.remove(address.as_bytes())?.is_none() {
                    return abort(StoreError::NotFound(format!("user {address}")));
                }
                let mut freed = Vec::new();
                for (b, c) in boxes.iter().zip(&contents) {
                    let key = mailbox_key(&address, &b.name);
                    let Some(m) = tx.mailbox(&key)? else {
                        return abort(StoreError::Conflict(format!("mailbox {}", b.name)));
                    };
                    check_unchanged(&m, b)?;
                    freed.extend(tx.purge(&m, c)?);
                    tx.mbx.remove(key.as_slice())?;
                    tx.ids.remove(&m.id.to_be_bytes())?;
                }
                for k in &subs {
                    tx.subs.remove(k)?;
                }
                tx.usage.remove(address.as_bytes())?;
                tx.admins.remove(address.as_bytes())?;
                let ids: Vec<u64> = boxes.iter().map(|b| b.id).collect();
                Ok((ids, freed))
            })
        })?;
        self.flush()?;
        self.remove_blob_files(&freed);
        self.notify(&ids);
        Ok(())
    }

    // ----- aliases -----

    /// Adds an alias (`local@domain`, or `@domain` for a catch-all).
    pub fn add_alias(&self, address: &str, targets: &[String]) -> Result<Alias, StoreError> {
        let address = normalise_alias(address)?;
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        if !self.is_local_domain(domain)? {
            return Err(StoreError::Invalid(format!(
                "{domain} is not a local domain; add it first with `facteur domain add {domain}`"
            )));
        }
        if targets.is_empty() {
            return Err(StoreError::Invalid(
                "an alias needs at least one target".into(),
            ));
        }
        let targets = targets
            .iter()
            .map(|t| normalise_address(t))
            .collect::<Result<Vec<_>, _>>()?;
        let alias = Alias {
            address: address.clone(),
            targets,
        };
        (&self.accounts, &self.aliases).transaction(|(acc, ali)| {
            if acc.get(address.as_bytes())?.is_some() {
                return abort(StoreError::Exists(format!("user {address}")));
            }
            if ali.get(address.as_bytes())?.is_some() {
                return abort(StoreError::Exists(format!("alias {address}")));
            }
            ali.insert(address.as_bytes(), encode(&alias))?;
            Ok(())
        })?;
        self.flush()?;
        Ok(alias)
    }

    /// One alias.
    pub fn alias(&self, address: &str) -> Result<Option<Alias>, StoreError> {
        match self.aliases.get(address.to_ascii_lowercase().as_bytes())? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// All aliases, sorted.
    pub fn aliases(&self) -> Result<Vec<Alias>, StoreError> {
        values(&self.aliases, &[])
    }

    /// Removes an alias.
    pub fn remove_alias(&self, address: &str) -> Result<(), StoreError> {
        let address = address.to_ascii_lowercase();
        if self.aliases.remove(address.as_bytes())?.is_none() {
            return Err(StoreError::NotFound(format!("alias {address}")));
        }
        self.flush()
    }

    // ----- messages -----

    /// Starts writing a message body.
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        Ok(self.blobs.writer()?)
    }

    /// Commits a body: to each local delivery, and to the outbound queue
    /// when `queue` is given, in one transaction. Returns once the body
    /// and the index are durable. Either every delivery happens or none:
    /// a recipient over quota fails the whole call with
    /// [`StoreError::OverQuota`] (check [`Store::check_quota`] per
    /// recipient first to deliver to the others).
    pub fn deliver(
        &self,
        mut blob: FinishedBlob,
        deliveries: &[Delivery],
        queue: Option<QueueEntry>,
        internal_date: i64,
    ) -> Result<Vec<Delivered>, StoreError> {
        let refs_added = deliveries.len() as u64 + u64::from(queue.is_some());
        if refs_added == 0 {
            return Ok(Vec::new());
        }
        let queue = match queue {
            Some(mut q) => {
                q.blob = blob.id;
                if q.id == 0 {
                    q.id = self.db.generate_id()? + 1;
                }
                Some(q)
            }
            None => None,
        };
        let default_quota = self.default_quota();
        let _guard = self.lock_blobs();
        self.blobs.publish(&mut blob)?;
        let id = blob.id;
        let size = blob.size;
        let body_ends = blob.line_ends;
        let result = self.transact(|tx| {
            let mut out = Vec::with_capacity(deliveries.len());
            for d in deliveries {
                let account = d.account.to_ascii_lowercase();
                let key = match tx.mbx.get(mailbox_key(&account, &d.mailbox))? {
                    Some(_) => mailbox_key(&account, &d.mailbox),
                    None => mailbox_key(&account, "INBOX"),
                };
                let Some(mut m) = tx.mailbox(&key)? else {
                    return abort(StoreError::NotFound(format!("INBOX of {account}")));
                };
                let msg_size = size + d.prefix.len() as u64;
                tx.charge(&account, msg_size, default_quota)?;
                let modseq = next_modseq(&mut m);
                let meta = MessageMeta {
                    flags: d.flags,
                    keywords: d.keywords.clone(),
                    modseq,
                    internal_date,
                    size: msg_size,
                    pop3_size: LineEnds::of(&d.prefix).then(&body_ends).crlf_size(),
                };
                let body = MessageBody {
                    blob: id,
                    prefix: d.prefix.clone(),
                    cache: d.cache.clone(),
                };
                let uid = tx.add_message(&mut m, &meta, &body)?;
                tx.put_mailbox(&key, &m)?;
                out.push(Delivered { mailbox: m.id, uid });
            }
            if let Some(entry) = &queue {
                tx.queue.insert(&entry.id.to_be_bytes(), encode(entry))?;
            }
            add_ref(tx.refs, &id, refs_added)?;
            Ok(out)
        });
        match result {
            Ok(out) => {
                self.flush()?;
                let ids: Vec<u64> = out.iter().map(|d| d.mailbox).collect();
                self.notify(&ids);
                Ok(out)
            }
            Err(e) => {
                // Nothing references the file we may just have published
                // unless an earlier delivery did.
                if self.blobrefs.get(id.0)?.is_none() {
                    let _ = self.blobs.remove(&id);
                }
                Err(e)
            }
        }
    }

    /// The messages of a mailbox, by UID, whole (prefix and cache too).
    /// For flags and sizes only, [`Store::summaries`] reads much less.
    pub fn messages(&self, mailbox: u64) -> Result<Vec<Message>, StoreError> {
        let prefix = mailbox.to_be_bytes();
        let mut out = Vec::new();
        for kv in self.messages.scan_prefix(prefix) {
            let (k, v) = kv?;
            let meta: MessageMeta = decode(&v)?;
            // A body missing here was expunged since the meta was read.
            if let Some(b) = self.bodies.get(&k)? {
                out.push(Message::from_parts(uid_of_key(&k)?, meta, decode(&b)?));
            }
        }
        Ok(out)
    }

    /// The UID and CRLF-counted size (POP3 STAT and LIST, RFC 1939 §5) of
    /// every message of a mailbox, ascending by UID. Reads only the small
    /// records: no body file is opened.
    pub fn pop3_sizes(&self, mailbox: u64) -> Result<Vec<(u32, u64)>, StoreError> {
        self.messages
            .scan_prefix(mailbox.to_be_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((uid_of_key(&k)?, decode::<MessageMeta>(&v)?.pop3_size))
            })
            .collect()
    }

    /// One message, whole.
    pub fn message(&self, mailbox: u64, uid: u32) -> Result<Option<Message>, StoreError> {
        let key = message_key(mailbox, uid);
        let (Some(m), Some(b)) = (self.messages.get(key)?, self.bodies.get(key)?) else {
            return Ok(None);
        };
        Ok(Some(Message::from_parts(uid, decode(&m)?, decode(&b)?)))
    }

    /// Opens a message body for reading. The caller sends `message.prefix`
    /// first. The open file stays readable even if the message is expunged
    /// meanwhile.
    pub fn open_blob(&self, id: &BlobId) -> Result<File, StoreError> {
        File::open(self.blobs.path(id))
            .map_err(|e| StoreError::Io(format!("cannot open body {}: {e}", id.hex())))
    }

    /// Removes messages from a mailbox by name, freeing bodies that lose
    /// their last reference. Returns the UIDs actually removed. Like every
    /// expunge it leaves tombstones for QRESYNC (see [`Store::expunge_uids`]).
    pub fn expunge(
        &self,
        account: &str,
        mailbox: &str,
        uids: &[u32],
    ) -> Result<Vec<u32>, StoreError> {
        let Some(m) = self.mailbox(account, mailbox)? else {
            return Err(StoreError::NotFound(format!("mailbox {mailbox}")));
        };
        Ok(self.expunge_uids(m.id, uids)?.uids)
    }

    // ----- outbound queue -----

    /// All queue entries, oldest id first.
    pub fn queue_entries(&self) -> Result<Vec<QueueEntry>, StoreError> {
        values(&self.queue, &[])
    }

    /// How many entries the outbound queue holds, without decoding them.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// One queue entry.
    pub fn queue_entry(&self, id: u64) -> Result<Option<QueueEntry>, StoreError> {
        match self.queue.get(id.to_be_bytes())? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Replaces a queue entry (after an attempt, or to retry now).
    pub fn update_queue_entry(&self, entry: &QueueEntry) -> Result<(), StoreError> {
        let key = entry.id.to_be_bytes();
        self.queue.transaction(|q| {
            if q.get(key)?.is_none() {
                return abort(StoreError::NotFound(format!("queue entry {}", entry.id)));
            }
            q.insert(&key, encode(entry))?;
            Ok(())
        })?;
        self.flush()
    }

    /// Removes a queue entry and releases its body.
    pub fn remove_queue_entry(&self, id: u64) -> Result<(), StoreError> {
        let key = id.to_be_bytes();
        let _guard = self.lock_blobs();
        let _gate = self.index_gate.read().unwrap_or_else(|p| p.into_inner());
        let freed = (&self.queue, &self.blobrefs).transaction(|(q, refs)| {
            let Some(v) = q.remove(&key)? else {
                return abort(StoreError::NotFound(format!("queue entry {id}")));
            };
            let e: QueueEntry = tx_decode(&v)?;
            unref_blobs(refs, &BTreeMap::from([(e.blob, 1)]))
        })?;
        self.flush()?;
        self.remove_blob_files(&freed);
        Ok(())
    }

    /// Deletes the files of bodies whose last reference was just removed.
    /// Called with the blob lock held; a failure only leaves a file that
    /// the next start sweeps away.
    fn remove_blob_files(&self, freed: &[BlobId]) {
        for id in freed {
            if let Err(e) = self.blobs.remove(id) {
                log::warn!("cannot remove body {}: {e}", id.hex());
            }
        }
    }

    /// Reference count of a body (tests and diagnostics).
    pub fn blob_refs(&self, id: &BlobId) -> Result<u64, StoreError> {
        Ok(ref_count(self.blobrefs.get(id.0)?))
    }

    /// Whether the body file exists (tests and diagnostics).
    pub fn blob_exists(&self, id: &BlobId) -> bool {
        self.blobs.path(id).exists()
    }
}

/// A stored reference count (absent: zero).
fn ref_count(v: Option<sled::IVec>) -> u64 {
    v.and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

fn add_ref(
    refs: &TransactionalTree,
    id: &BlobId,
    n: u64,
) -> Result<(), UnabortableTransactionError> {
    let cur = ref_count(refs.get(id.0)?);
    refs.insert(&id.0, &(cur + n).to_be_bytes())?;
    Ok(())
}

/// Decrements reference counts; returns the bodies that reached zero.
fn unref_blobs(refs: &TransactionalTree, unref: &BTreeMap<BlobId, u64>) -> TxResult<Vec<BlobId>> {
    let mut freed = Vec::new();
    for (id, n) in unref {
        let cur = ref_count(refs.get(id.0)?);
        if cur <= *n {
            refs.remove(&id.0)?;
            freed.push(*id);
        } else {
            refs.insert(&id.0, &(cur - n).to_be_bytes())?;
        }
    }
    Ok(freed)
}

fn values<T: Record>(tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<T>, StoreError> {
    tree.scan_prefix(prefix)
        .map(|kv| {
            let (_, v) = kv?;
            Ok(decode(&v)?)
        })
        .collect()
}

/// What a mailbox holds, read outside a transaction so that the
/// transaction can remove it all (it cannot scan). Valid while the mailbox's
/// `highestmodseq` and `uidnext` are those of `seen`.
struct Contents {
    /// UID and modseq of every message (for the modseq index).
    messages: Vec<(u32, u64)>,
    /// Keys of the tombstone records.
    vanished: Vec<sled::IVec>,
}

impl Store {
    /// Reads what [`Tx::purge`] needs to empty `m`.
    fn contents(&self, m: &Mailbox) -> Result<Contents, StoreError> {
        let prefix = m.id.to_be_bytes();
        let mut messages = Vec::new();
        for kv in self.messages.scan_prefix(prefix) {
            let (k, v) = kv?;
            let meta: MessageMeta = decode(&v)?;
            messages.push((uid_of_key(&k)?, meta.modseq));
        }
        let vanished = self
            .vanished
            .scan_prefix(prefix)
            .keys()
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Contents { messages, vanished })
    }

    /// The quota of accounts whose own quota is 0.
    fn default_quota(&self) -> u64 {
        self.default_quota.load(Ordering::Relaxed)
    }
}

/// Fails with [`StoreError::Conflict`] when the mailbox changed since `seen`
/// was read (every change to its messages raises `highestmodseq`).
fn check_unchanged(now: &Mailbox, seen: &Mailbox) -> TxResult<()> {
    if now.id != seen.id || now.highestmodseq != seen.highestmodseq || now.uidnext != seen.uidnext {
        return abort(StoreError::Conflict(format!("mailbox {}", seen.name)));
    }
    Ok(())
}

/// Gives the next modseq of a mailbox (RFC 7162 §3.1: strictly increasing
/// per mailbox).
fn next_modseq(m: &mut Mailbox) -> u64 {
    m.highestmodseq += 1;
    m.highestmodseq
}

impl Tx<'_> {
    fn mailbox(&self, key: &[u8]) -> TxResult<Option<Mailbox>> {
        match self.mbx.get(key)? {
            Some(v) => Ok(Some(tx_decode(&v)?)),
            None => Ok(None),
        }
    }

    /// A mailbox and its key by id.
    fn mailbox_by_id(&self, id: u64) -> TxResult<Option<(Vec<u8>, Mailbox)>> {
        let Some(key) = self.ids.get(id.to_be_bytes())? else {
            return Ok(None);
        };
        Ok(self.mailbox(&key)?.map(|m| (key.to_vec(), m)))
    }

    fn put_mailbox(&self, key: &[u8], m: &Mailbox) -> TxResult<()> {
        self.mbx.insert(key, encode(m))?;
        Ok(())
    }

    /// Adds a message at `m.uidnext` with `meta.modseq` (the caller raised
    /// `m.highestmodseq` to it), indexing it and counting it in. The caller
    /// stores `m` and takes care of blob references and quota.
    fn add_message(
        &self,
        m: &mut Mailbox,
        meta: &MessageMeta,
        body: &MessageBody,
    ) -> TxResult<u32> {
        let uid = m.uidnext;
        m.uidnext = match m.uidnext.checked_add(1) {
            Some(n) => n,
            None => return abort(StoreError::Invalid("mailbox UID space exhausted".into())),
        };
        self.msg.insert(&message_key(m.id, uid), encode(meta))?;
        self.body.insert(&message_key(m.id, uid), encode(body))?;
        self.mods.insert(&modseq_key(m.id, meta.modseq, uid), &[])?;
        m.count_in(meta.flags, meta.size);
        Ok(uid)
    }

    fn meta(&self, mailbox: u64, uid: u32) -> TxResult<Option<MessageMeta>> {
        match self.msg.get(message_key(mailbox, uid))? {
            Some(v) => Ok(Some(tx_decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Replaces a message's meta, moving its modseq index entry.
    fn set_meta(
        &self,
        mailbox: u64,
        uid: u32,
        old: &MessageMeta,
        new: &MessageMeta,
    ) -> TxResult<()> {
        if old.modseq != new.modseq {
            self.mods.remove(&modseq_key(mailbox, old.modseq, uid))?;
            self.mods
                .insert(&modseq_key(mailbox, new.modseq, uid), &[])?;
        }
        self.msg.insert(&message_key(mailbox, uid), encode(new))?;
        Ok(())
    }

    /// Removes a message's records and index entry and counts it out.
    /// The caller records the tombstone, stores `m`, and releases the blob
    /// and quota.
    fn remove_message(
        &self,
        m: &mut Mailbox,
        uid: u32,
    ) -> TxResult<Option<(MessageMeta, MessageBody)>> {
        let key = message_key(m.id, uid);
        let Some(v) = self.msg.remove(&key)? else {
            return Ok(None);
        };
        let meta: MessageMeta = tx_decode(&v)?;
        let body: MessageBody = match self.body.remove(&key)? {
            Some(b) => tx_decode(&b)?,
            None => {
                return abort(StoreError::Corrupt(format!(
                    "message {uid} has no body record"
                )))
            }
        };
        self.mods.remove(&modseq_key(m.id, meta.modseq, uid))?;
        m.count_out(meta.flags, meta.size);
        Ok(Some((meta, body)))
    }

    /// Records that `uids` (ascending) vanished at `modseq` (RFC 7162
    /// §3.2.5: the modseq of the expunge is kept with the UIDs).
    fn record_vanished(&self, m: &mut Mailbox, modseq: u64, uids: &[u32]) -> TxResult<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let key = vanished_key(m.id, modseq);
        let mut ranges = match self.gone.get(key)? {
            Some(v) => tx_decode::<records::Tombstone>(&v)?.uids,
            None => {
                m.tombstones = m.tombstones.saturating_add(1);
                Vec::new()
            }
        };
        ranges.extend(imap::ranges(uids));
        let ranges = imap::merge_ranges(ranges);
        self.gone
            .insert(&key, encode(&records::Tombstone { uids: ranges }))?;
        Ok(())
    }

    /// Adds the UIDs a COPY batch gave (`uids`, ascending) to the
    /// COPY's [`records::PendingCopy`] record, or removes the record after
    /// the `last` batch. Aborts when the destination is no longer the
    /// mailbox the first batch wrote to (deleted and created again).
    fn note_copy(&self, key: &[u8; 8], mailbox: u64, uids: &[u32], last: bool) -> TxResult<()> {
        let mut p = match self.copies.get(key)? {
            Some(v) => tx_decode::<records::PendingCopy>(&v)?,
            None => records::PendingCopy {
                mailbox,
                uids: Vec::new(),
            },
        };
        if p.mailbox != mailbox {
            return abort(StoreError::NotFound(format!("mailbox {}", p.mailbox)));
        }
        if last {
            self.copies.remove(key)?;
        } else if !uids.is_empty() {
            p.uids.extend(imap::ranges(uids));
            p.uids = imap::merge_ranges(p.uids);
            self.copies.insert(key, encode(&p))?;
        }
        Ok(())
    }

    /// Bytes stored by an account.
    fn used(&self, account: &str) -> TxResult<u64> {
        Ok(ref_count(self.usage.get(account.as_bytes())?))
    }

    /// Adds `bytes` to an account's usage, failing with
    /// [`StoreError::OverQuota`] past its quota (RFC 9208 §5.1 STORAGE).
    fn charge(&self, account: &str, bytes: u64, default_quota: u64) -> TxResult<()> {
        let used = self.used(account)?;
        let limit = match self.acc.get(account.as_bytes())? {
            Some(v) => quota_limit(&tx_decode::<Account>(&v)?, default_quota),
            None => return abort(StoreError::NotFound(format!("user {account}"))),
        };
        let after = used.saturating_add(bytes);
        if limit != 0 && after > limit {
            return abort(StoreError::OverQuota(account.to_string()));
        }
        self.usage
            .insert(account.as_bytes(), &after.to_be_bytes())?;
        Ok(())
    }

    /// Takes `bytes` off an account's usage.
    fn release(&self, account: &str, bytes: u64) -> TxResult<()> {
        let after = self.used(account)?.saturating_sub(bytes);
        self.usage
            .insert(account.as_bytes(), &after.to_be_bytes())?;
        Ok(())
    }

    /// Removes every message and tombstone of `m` as listed in `c` (the
    /// caller checked `m` is unchanged since), releasing blobs and quota.
    /// Returns the bodies that lost their last reference.
    fn purge(&self, m: &Mailbox, c: &Contents) -> TxResult<Vec<BlobId>> {
        let mut unref: BTreeMap<BlobId, u64> = BTreeMap::new();
        let mut scratch = m.clone();
        let mut bytes = 0u64;
        for &(uid, _) in &c.messages {
            if let Some((meta, body)) = self.remove_message(&mut scratch, uid)? {
                *unref.entry(body.blob).or_default() += 1;
                bytes = bytes.saturating_add(meta.size);
            }
        }
        for k in &c.vanished {
            self.gone.remove(k)?;
        }
        if bytes > 0 {
            self.release(&m.account, bytes)?;
        }
        unref_blobs(self.refs, &unref)
    }
}

/// The quota that applies to an account (0: unlimited).
fn quota_limit(a: &Account, default_quota: u64) -> u64 {
    if a.quota != 0 {
        a.quota
    } else {
        default_quota
    }
}

fn new_mailbox(id: u64, account: &str, name: &str, special_use: Option<SpecialUse>) -> Mailbox {
    Mailbox {
        id,
        account: account.to_string(),
        name: canonical_mailbox(name),
        // RFC 9051 §2.3.1.1: a new value whenever a mailbox is (re)created.
        // Ids are unique and increasing, so id+1 is too (and never 0).
        uidvalidity: (id as u32).wrapping_add(1).max(1),
        uidnext: 1,
        highestmodseq: 1,
        special_use,
        messages: 0,
        unseen: 0,
        deleted: 0,
        size: 0,
        tombstones: 0,
    }
}

/// INBOX is case-insensitive (RFC 9051 §5.1), also as the first level of
/// a hierarchical name; other names are not.
fn canonical_mailbox(name: &str) -> String {
    let (first, rest) = match name.split_once(mailboxes::SEPARATOR) {
        Some((f, r)) => (f, Some(r)),
        None => (name, None),
    };
    match rest {
        _ if !first.eq_ignore_ascii_case("INBOX") => name.to_string(),
        Some(r) => format!("INBOX{}{r}", mailboxes::SEPARATOR),
        None => "INBOX".to_string(),
    }
}

fn mailbox_key(account: &str, name: &str) -> Vec<u8> {
    let mut k = account.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(canonical_mailbox(name).as_bytes());
    k
}

fn message_key(mailbox: u64, uid: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&mailbox.to_be_bytes());
    k[8..].copy_from_slice(&uid.to_be_bytes());
    k
}

/// The UID at the end of a `messages`/`bodies` key.
fn uid_of_key(k: &[u8]) -> Result<u32, StoreError> {
    k.get(8..12)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt("bad message key".into()))
}

fn modseq_key(mailbox: u64, modseq: u64, uid: u32) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..8].copy_from_slice(&mailbox.to_be_bytes());
    k[8..16].copy_from_slice(&modseq.to_be_bytes());
    k[16..].copy_from_slice(&uid.to_be_bytes());
    k
}

fn vanished_key(mailbox: u64, modseq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&mailbox.to_be_bytes());
    k[8..].copy_from_slice(&modseq.to_be_bytes());
    k
}

fn normalise_domain(name: &str) -> Result<String, StoreError> {
    crate::config::Hostname::parse(name)
        .filter(|h| h.0.contains('.'))
        .map(|h| h.0)
        .ok_or_else(|| {
            StoreError::Invalid(format!(
                "{name:?} is not a domain name (expected e.g. example.com)"
            ))
        })
}

/// Checks `local@domain` and lower-cases it.
pub fn normalise_address(address: &str) -> Result<String, StoreError> {
    let bad = || {
        StoreError::Invalid(format!(
            "{address:?} is not a mail address (expected local@domain)"
        ))
    };
    let (local, domain) = address.trim().rsplit_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"@<>()[]\\,;:\"".contains(c));
    if !local_ok {
        return Err(bad());
    }
    let domain = normalise_domain(domain).map_err(|_| bad())?;
    Ok(format!("{}@{domain}", local.to_lowercase()))
}

fn normalise_alias(address: &str) -> Result<String, StoreError> {
    match address.trim().strip_prefix('@') {
        Some(domain) => Ok(format!("@{}", normalise_domain(domain)?)),
        None => normalise_address(address),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
