//! The store: the only module that knows sled.
//!
//! The index (domains, accounts, aliases, mailboxes, per-message records, the
//! outbound queue) is kept in sled; message bodies are files (see [`blobs`]).
//! Operations that acknowledge mail commit the body file first, then the
//! index in one sled transaction, then flush sled, and only then return: a
//! crash at any point leaves either nothing or the whole change.

pub mod blobs;
pub mod records;

pub use blobs::{BlobWriter, FinishedBlob};
pub use records::{
    flags, Account, Alias, BlobId, Domain, Mailbox, Message, QueueEntry, QueueRecipient, RcptState,
    Ret, SpecialUse,
};

use records::{decode, encode, RecordError};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::path::Path;
use std::sync::Mutex;

/// The on-disk format this binary reads and writes. Raise it when the
/// layout changes in a way older binaries cannot read.
pub const STORE_FORMAT: u32 = 1;

const FORMAT_KEY: &[u8] = b"format_version";

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
            StoreError::Corrupt(s) => write!(f, "corrupt store: {s}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Io(e.to_string())
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

fn tx_decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> TxResult<T> {
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
    messages: sled::Tree,
    blobrefs: sled::Tree,
    queue: sled::Tree,
    blobs: blobs::BlobDir,
    /// Serialises reference-count changes with blob file creation and
    /// removal, so a body being re-delivered is never deleted under it.
    blob_lock: Mutex<()>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating) the store in `data_dir` with an explicit sled cache.
    pub fn open(data_dir: &Path, cache_capacity: u64) -> Result<Store, StoreError> {
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
        match db.get(FORMAT_KEY)? {
            Some(v) => {
                let v = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("bad format version".into()))?;
                if v > STORE_FORMAT {
                    return Err(StoreError::TooNew(v));
                }
            }
            None => {
                db.insert(FORMAT_KEY, &STORE_FORMAT.to_be_bytes())?;
                db.flush()?;
            }
        }
        let store = Store {
            domains: db.open_tree("domains")?,
            accounts: db.open_tree("accounts")?,
            aliases: db.open_tree("aliases")?,
            mailboxes: db.open_tree("mailboxes")?,
            messages: db.open_tree("messages")?,
            blobrefs: db.open_tree("blobrefs")?,
            queue: db.open_tree("queue")?,
            blobs: blobs::BlobDir::open(&data_dir.join("blobs"))?,
            blob_lock: Mutex::new(()),
            db,
        };
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

    /// Adds an account in a local domain, with the default mailboxes.
    pub fn add_account(&self, address: &str, password_hash: &str) -> Result<Account, StoreError> {
        let address = normalise_address(address)?;
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        if !self.is_local_domain(domain)? {
            return Err(StoreError::Invalid(format!(
                "{domain} is not a local domain; add it first with `facteur domain add {domain}`"
            )));
        }
        let account = Account {
            address: address.clone(),
            password_hash: password_hash.to_string(),
            quota: 0,
            created: unix_now(),
        };
        let ids: Vec<u64> = DEFAULT_MAILBOXES
            .iter()
            .map(|_| self.db.generate_id())
            .collect::<Result<_, _>>()?;
        (&self.accounts, &self.aliases, &self.mailboxes).transaction(|(acc, ali, mbx)| {
            if acc.get(address.as_bytes())?.is_some() {
                return abort(StoreError::Exists(format!("user {address}")));
            }
            if ali.get(address.as_bytes())?.is_some() {
                return abort(StoreError::Exists(format!("alias {address}")));
            }
            acc.insert(address.as_bytes(), encode(&account))?;
            for ((name, special), id) in DEFAULT_MAILBOXES.iter().zip(&ids) {
                let m = new_mailbox(*id, &address, name, *special);
                mbx.insert(mailbox_key(&address, name), encode(&m))?;
            }
            Ok(())
        })?;
        self.flush()?;
        Ok(account)
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

    /// Removes an account with its mailboxes and messages.
    pub fn remove_account(&self, address: &str) -> Result<(), StoreError> {
        let address = address.to_ascii_lowercase();
        let _guard = self.lock_blobs();
        let boxes = self.mailboxes(&address)?;
        let mut keys = Vec::new();
        let mut unref: BTreeMap<BlobId, u64> = BTreeMap::new();
        for b in &boxes {
            for m in self.messages(b.id)? {
                keys.push(message_key(b.id, m.uid));
                *unref.entry(m.blob).or_default() += 1;
            }
        }
        let freed = (
            &self.accounts,
            &self.mailboxes,
            &self.messages,
            &self.blobrefs,
        )
            .transaction(|(acc, mbx, msg, refs)| {
                if acc.remove(address.as_bytes())?.is_none() {
                    return abort(StoreError::NotFound(format!("user {address}")));
                }
                for b in &boxes {
                    mbx.remove(mailbox_key(&address, &b.name))?;
                }
                for k in &keys {
                    msg.remove(k.as_slice())?;
                }
                unref_blobs(refs, &unref)
            })?;
        self.flush()?;
        self.remove_blob_files(&freed);
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

    // ----- mailboxes -----

    /// All mailboxes of an account, sorted by name.
    pub fn mailboxes(&self, account: &str) -> Result<Vec<Mailbox>, StoreError> {
        let mut prefix = account.to_ascii_lowercase().into_bytes();
        prefix.push(0);
        values(&self.mailboxes, &prefix)
    }

    /// One mailbox by name (`INBOX` in any case).
    pub fn mailbox(&self, account: &str, name: &str) -> Result<Option<Mailbox>, StoreError> {
        match self
            .mailboxes
            .get(mailbox_key(&account.to_ascii_lowercase(), name))?
        {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Creates a mailbox.
    pub fn create_mailbox(
        &self,
        account: &str,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox, StoreError> {
        let account = account.to_ascii_lowercase();
        if name.is_empty() || name.contains('\0') {
            return Err(StoreError::Invalid("bad mailbox name".into()));
        }
        let m = new_mailbox(self.db.generate_id()?, &account, name, special_use);
        let key = mailbox_key(&account, name);
        (&self.accounts, &self.mailboxes).transaction(|(acc, mbx)| {
            if acc.get(account.as_bytes())?.is_none() {
                return abort(StoreError::NotFound(format!("user {account}")));
            }
            if mbx.get(&key)?.is_some() {
                return abort(StoreError::Exists(format!("mailbox {name}")));
            }
            mbx.insert(key.as_slice(), encode(&m))?;
            Ok(())
        })?;
        self.flush()?;
        Ok(m)
    }

    // ----- messages -----

    /// Starts writing a message body.
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        Ok(self.blobs.writer()?)
    }

    /// Commits a body: to each local delivery, and to the outbound queue
    /// when `queue` is given, in one transaction. Returns once the body
    /// and the index are durable. Either every delivery happens or none.
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
        let _guard = self.lock_blobs();
        self.blobs.publish(&mut blob)?;
        let id = blob.id;
        let size = blob.size;
        let result = (&self.mailboxes, &self.messages, &self.blobrefs, &self.queue).transaction(
            |(mbx, msg, refs, q)| {
                let mut out = Vec::with_capacity(deliveries.len());
                for d in deliveries {
                    let account = d.account.to_ascii_lowercase();
                    let key = match mbx.get(mailbox_key(&account, &d.mailbox))? {
                        Some(_) => mailbox_key(&account, &d.mailbox),
                        None => mailbox_key(&account, "INBOX"),
                    };
                    let Some(v) = mbx.get(&key)? else {
                        return abort(StoreError::NotFound(format!("INBOX of {account}")));
                    };
                    let mut m: Mailbox = tx_decode(&v)?;
                    let uid = m.uidnext;
                    m.uidnext = m.uidnext.checked_add(1).ok_or_else(|| {
                        ConflictableTransactionError::Abort(StoreError::Invalid(
                            "mailbox UID space exhausted".into(),
                        ))
                    })?;
                    m.highestmodseq += 1;
                    let rec = Message {
                        uid,
                        flags: d.flags,
                        keywords: d.keywords.clone(),
                        internal_date,
                        size: size + d.prefix.len() as u64,
                        modseq: m.highestmodseq,
                        prefix: d.prefix.clone(),
                        blob: id,
                        cache: None,
                    };
                    mbx.insert(key.as_slice(), encode(&m))?;
                    msg.insert(message_key(m.id, uid).as_slice(), encode(&rec))?;
                    out.push(Delivered { mailbox: m.id, uid });
                }
                if let Some(entry) = &queue {
                    q.insert(&entry.id.to_be_bytes(), encode(entry))?;
                }
                add_ref(refs, &id, refs_added)?;
                Ok(out)
            },
        );
        let result: Result<Vec<Delivered>, StoreError> = result.map_err(Into::into);
        match result {
            Ok(out) => {
                self.flush()?;
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

    /// The messages of a mailbox, by UID.
    pub fn messages(&self, mailbox: u64) -> Result<Vec<Message>, StoreError> {
        values(&self.messages, &mailbox.to_be_bytes())
    }

    /// One message.
    pub fn message(&self, mailbox: u64, uid: u32) -> Result<Option<Message>, StoreError> {
        match self.messages.get(message_key(mailbox, uid))? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Opens a message body for reading. The caller sends `message.prefix`
    /// first. The open file stays readable even if the message is expunged
    /// meanwhile.
    pub fn open_blob(&self, id: &BlobId) -> Result<File, StoreError> {
        File::open(self.blobs.path(id))
            .map_err(|e| StoreError::Io(format!("cannot open body {}: {e}", id.hex())))
    }

    /// Removes messages from a mailbox, freeing bodies that lose their last
    /// reference. Returns the UIDs actually removed.
    pub fn expunge(
        &self,
        account: &str,
        mailbox: &str,
        uids: &[u32],
    ) -> Result<Vec<u32>, StoreError> {
        let account = account.to_ascii_lowercase();
        let key = mailbox_key(&account, mailbox);
        let _guard = self.lock_blobs();
        let (removed, freed) =
            (&self.mailboxes, &self.messages, &self.blobrefs).transaction(|(mbx, msg, refs)| {
                let Some(v) = mbx.get(&key)? else {
                    return abort(StoreError::NotFound(format!("mailbox {mailbox}")));
                };
                let mut m: Mailbox = tx_decode(&v)?;
                let mut removed = Vec::new();
                let mut unref: BTreeMap<BlobId, u64> = BTreeMap::new();
                for &uid in uids {
                    if let Some(v) = msg.remove(message_key(m.id, uid).as_slice())? {
                        let rec: Message = tx_decode(&v)?;
                        *unref.entry(rec.blob).or_default() += 1;
                        removed.push(uid);
                    }
                }
                if !removed.is_empty() {
                    m.highestmodseq += 1;
                    mbx.insert(key.as_slice(), encode(&m))?;
                }
                let freed = unref_blobs(refs, &unref)?;
                Ok((removed, freed))
            })?;
        self.flush()?;
        self.remove_blob_files(&freed);
        Ok(removed)
    }

    // ----- outbound queue -----

    /// All queue entries, oldest id first.
    pub fn queue_entries(&self) -> Result<Vec<QueueEntry>, StoreError> {
        values(&self.queue, &[])
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

fn values<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    prefix: &[u8],
) -> Result<Vec<T>, StoreError> {
    tree.scan_prefix(prefix)
        .map(|kv| {
            let (_, v) = kv?;
            Ok(decode(&v)?)
        })
        .collect()
}

fn new_mailbox(id: u64, account: &str, name: &str, special_use: Option<SpecialUse>) -> Mailbox {
    Mailbox {
        id,
        account: account.to_string(),
        name: canonical_mailbox(name).to_string(),
        // RFC 9051 §2.3.1.1: a new value whenever a mailbox is (re)created.
        // Ids are unique and increasing, so id+1 is too (and never 0).
        uidvalidity: (id as u32).wrapping_add(1).max(1),
        uidnext: 1,
        highestmodseq: 1,
        special_use,
        subscribed: true,
    }
}

/// INBOX is case-insensitive (RFC 9051 §5.1); other names are not.
fn canonical_mailbox(name: &str) -> &str {
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX"
    } else {
        name
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
