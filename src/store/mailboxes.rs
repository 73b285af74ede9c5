//! Mailbox operations: hierarchy-aware CREATE, DELETE and RENAME (RFC 9051
//! §6.3.4-6.3.6), subscriptions, special use, quota (RFC 9208) and the watches
//! that wake sessions.

use super::records::{decode, encode, Account, Mailbox, SpecialUse};
use super::{
    abort, canonical_mailbox, check_unchanged, mailbox_key, new_mailbox, next_modseq, quota_limit,
    ref_count, tx_decode, values, MailboxWatch, Store, StoreError,
};
use std::sync::atomic::Ordering;

/// The hierarchy separator of mailbox names (RFC 9051 §5.1.1).
pub const SEPARATOR: char = '/';

/// Longest mailbox name in bytes. Names are part of index keys and of LIST
/// replies; 512 bytes is far above what clients use.
pub const MAX_MAILBOX_NAME: usize = 512;

/// Deepest hierarchy: CREATE makes every missing superior, so this bounds
/// the mailboxes one command creates.
pub const MAX_MAILBOX_DEPTH: usize = 16;

/// An account's storage use and limit (RFC 9208 STORAGE, in bytes; IMAP
/// reports KiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Bytes stored: the sum of the sizes of the account's messages.
    pub used: u64,
    /// The limit; 0 when there is none.
    pub limit: u64,
}

/// Checks a mailbox name from a client and gives its canonical form: no
/// trailing separator (RFC 9051 §6.3.4, CREATE: it only declares the intent to
/// create inferiors), `INBOX` in upper case.
pub fn mailbox_name(name: &str) -> Result<String, StoreError> {
    let bad = |why: &str| Err(StoreError::Invalid(format!("bad mailbox name: {why}")));
    let name = name.strip_suffix(SEPARATOR).unwrap_or(name);
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_MAILBOX_NAME {
        return bad("too long");
    }
    if name.chars().any(|c| c.is_control() || c == '*' || c == '%') {
        // RFC 9051 §5.1: `*` and `%` are LIST wildcards.
        return bad("control or wildcard character");
    }
    if name.split(SEPARATOR).any(str::is_empty) {
        return bad("empty hierarchy level");
    }
    if name.split(SEPARATOR).count() > MAX_MAILBOX_DEPTH {
        return bad("too deep");
    }
    Ok(canonical_mailbox(name))
}

/// The superiors of a name, outermost first: `a`, `a/b` for `a/b/c`.
fn superiors(name: &str) -> Vec<&str> {
    name.char_indices()
        .filter(|&(_, c)| c == SEPARATOR)
        .filter_map(|(i, _)| name.get(..i))
        .collect()
}

/// Whether `name` is `parent` or below it.
fn is_under(name: &str, parent: &str) -> bool {
    name.strip_prefix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(SEPARATOR))
}

impl Store {
    /// All mailboxes of an account, sorted by name.
    pub fn mailboxes(&self, account: &str) -> Result<Vec<Mailbox>, StoreError> {
        let mut prefix = account.to_ascii_lowercase().into_bytes();
        prefix.push(0);
        values(&self.mailboxes, &prefix)
    }

    /// One mailbox by name (`INBOX` in any case), with its STATUS counters
    /// (messages, unseen, deleted, size, uidnext, uidvalidity,
    /// highestmodseq), kept up to date by every change: no scan.
    pub fn mailbox(&self, account: &str, name: &str) -> Result<Option<Mailbox>, StoreError> {
        match self
            .mailboxes
            .get(mailbox_key(&account.to_ascii_lowercase(), name))?
        {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// One mailbox by id, whatever its name now; `None` once deleted.
    pub fn mailbox_by_id(&self, id: u64) -> Result<Option<Mailbox>, StoreError> {
        let Some(key) = self.mailbox_ids.get(id.to_be_bytes())? else {
            return Ok(None);
        };
        match self.mailboxes.get(key)? {
            Some(v) => Ok(Some(decode(&v)?)),
            None => Ok(None),
        }
    }

    /// Creates a mailbox, and its missing superiors (RFC 9051 §6.3.4: the
    /// server SHOULD create them). Fails with [`StoreError::Exists`] if the
    /// name exists (INBOX always does). Not subscribed.
    pub fn create_mailbox(
        &self,
        account: &str,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox, StoreError> {
        let account = account.to_ascii_lowercase();
        let name = mailbox_name(name)?;
        let parents = superiors(&name);
        let ids: Vec<u64> = (0..=parents.len())
            .map(|_| self.db.generate_id())
            .collect::<Result<_, _>>()?;
        let (m, created) = self.transact(|tx| {
            if tx.acc.get(account.as_bytes())?.is_none() {
                return abort(StoreError::NotFound(format!("user {account}")));
            }
            let key = mailbox_key(&account, &name);
            if tx.mbx.get(&key)?.is_some() {
                return abort(StoreError::Exists(format!("mailbox {name}")));
            }
            let mut created = Vec::new();
            for (parent, id) in parents.iter().zip(&ids) {
                let pkey = mailbox_key(&account, parent);
                if tx.mbx.get(&pkey)?.is_none() {
                    let p = new_mailbox(*id, &account, parent, None);
                    tx.put_mailbox(&pkey, &p)?;
                    tx.ids.insert(&id.to_be_bytes(), pkey.as_slice())?;
                    created.push(*id);
                }
            }
            let id = ids.last().copied().unwrap_or_default();
            let m = new_mailbox(id, &account, &name, special_use);
            tx.put_mailbox(&key, &m)?;
            tx.ids.insert(&id.to_be_bytes(), key.as_slice())?;
            created.push(id);
            Ok((m, created))
        })?;
        self.flush()?;
        log::debug!("created {} mailbox(es) for {account}", created.len());
        Ok(m)
    }

    /// Deletes a mailbox and its messages, freeing their bodies and quota
    /// (RFC 9051 §6.3.5). INBOX cannot be deleted. Inferior names are not
    /// removed: they stay, and the deleted name is then only a level of
    /// the hierarchy (LIST shows it `\NonExistent`). Subscriptions are left
    /// alone (RFC 9051 §6.3.7). A mailbox created again under the name gets
    /// a new UIDVALIDITY, so old UIDs are never taken for new messages.
    pub fn delete_mailbox(&self, account: &str, name: &str) -> Result<(), StoreError> {
        let account = account.to_ascii_lowercase();
        let name = mailbox_name(name)?;
        if name == "INBOX" {
            return Err(StoreError::Invalid("INBOX cannot be deleted".into()));
        }
        let key = mailbox_key(&account, &name);
        let _guard = self.lock_blobs();
        let (id, freed) = self.retrying(|| {
            let Some(seen) = self.mailbox(&account, &name)? else {
                return Err(StoreError::NotFound(format!("mailbox {name}")));
            };
            let contents = self.contents(&seen)?;
            self.transact(|tx| {
                let Some(m) = tx.mailbox(&key)? else {
                    return abort(StoreError::NotFound(format!("mailbox {name}")));
                };
                check_unchanged(&m, &seen)?;
                let freed = tx.purge(&m, &contents)?;
                tx.mbx.remove(key.as_slice())?;
                tx.ids.remove(&m.id.to_be_bytes())?;
                Ok((m.id, freed))
            })
        })?;
        self.flush()?;
        self.remove_blob_files(&freed);
        self.forget_recent(id)?;
        self.notify(&[id]);
        Ok(())
    }

    /// Renames a mailbox and its inferiors (RFC 9051 §6.3.6), creating
    /// missing superiors of the new name. Mailboxes keep their ids,
    /// UIDVALIDITY and UIDs: a renamed mailbox is the same mailbox, and
    /// the new names were not in use (renaming onto an existing name fails
    /// with [`StoreError::Exists`]).
    ///
    /// Renaming INBOX is special (RFC 9051 §6.3.6): all its messages move
    /// to a new mailbox of the new name (new UIDVALIDITY, UIDs from 1, in
    /// UID order) and INBOX stays, empty, with its UIDVALIDITY and UIDNEXT
    /// (so no UID is reused); the moved messages are expunged from INBOX
    /// with tombstones, and INBOX's inferiors are not renamed.
    /// Subscriptions are left alone.
    pub fn rename_mailbox(&self, account: &str, from: &str, to: &str) -> Result<(), StoreError> {
        let account = account.to_ascii_lowercase();
        let from = mailbox_name(from)?;
        let to = mailbox_name(to)?;
        if to == "INBOX" || from == to {
            return Err(StoreError::Exists(format!("mailbox {to}")));
        }
        if from == "INBOX" {
            return self.rename_inbox(&account, &to);
        }
        if is_under(&to, &from) {
            return Err(StoreError::Invalid(format!(
                "cannot rename {from} into its own hierarchy"
            )));
        }
        let moving: Vec<Mailbox> = self
            .mailboxes(&account)?
            .into_iter()
            .filter(|m| is_under(&m.name, &from))
            .collect();
        if !moving.iter().any(|m| m.name == from) {
            return Err(StoreError::NotFound(format!("mailbox {from}")));
        }
        let renamed = |old: &str| format!("{to}{}", old.get(from.len()..).unwrap_or(""));
        let parents = superiors(&to);
        let ids: Vec<u64> = parents
            .iter()
            .map(|_| self.db.generate_id())
            .collect::<Result<_, _>>()?;
        let changed = self.transact(|tx| {
            for m in &moving {
                if tx
                    .mbx
                    .get(mailbox_key(&account, &renamed(&m.name)))?
                    .is_some()
                {
                    return abort(StoreError::Exists(format!("mailbox {}", renamed(&m.name))));
                }
            }
            let mut changed = Vec::new();
            for m in &moving {
                let old_key = mailbox_key(&account, &m.name);
                // Fresh from the transaction: counters may have moved.
                let Some(mut cur) = tx.mailbox(&old_key)? else {
                    continue;
                };
                let new_name = renamed(&m.name);
                let new_key = mailbox_key(&account, &new_name);
                cur.name = new_name;
                tx.mbx.remove(old_key.as_slice())?;
                tx.put_mailbox(&new_key, &cur)?;
                tx.ids.insert(&cur.id.to_be_bytes(), new_key.as_slice())?;
                changed.push(cur.id);
            }
            for (parent, id) in parents.iter().zip(&ids) {
                let pkey = mailbox_key(&account, parent);
                if tx.mbx.get(&pkey)?.is_none() {
                    tx.put_mailbox(&pkey, &new_mailbox(*id, &account, parent, None))?;
                    tx.ids.insert(&id.to_be_bytes(), pkey.as_slice())?;
                }
            }
            Ok(changed)
        })?;
        self.flush()?;
        self.notify(&changed);
        Ok(())
    }

    /// RENAME INBOX: moves every message to a new mailbox `to`.
    fn rename_inbox(&self, account: &str, to: &str) -> Result<(), StoreError> {
        let parents = superiors(to);
        let ids: Vec<u64> = (0..=parents.len())
            .map(|_| self.db.generate_id())
            .collect::<Result<_, _>>()?;
        let inbox_key = mailbox_key(account, "INBOX");
        let inbox_id = self.retrying(|| {
            let Some(seen) = self.mailbox(account, "INBOX")? else {
                return Err(StoreError::NotFound(format!("INBOX of {account}")));
            };
            let uids: Vec<u32> = self
                .walk_summaries(seen.id)
                .map(|s| s.map(|s| s.uid))
                .collect::<Result<_, _>>()?;
            self.transact(|tx| {
                let Some(mut inbox) = tx.mailbox(&inbox_key)? else {
                    return abort(StoreError::NotFound(format!("INBOX of {account}")));
                };
                check_unchanged(&inbox, &seen)?;
                let key = mailbox_key(account, to);
                if tx.mbx.get(&key)?.is_some() {
                    return abort(StoreError::Exists(format!("mailbox {to}")));
                }
                for (parent, id) in parents.iter().zip(&ids) {
                    let pkey = mailbox_key(account, parent);
                    if tx.mbx.get(&pkey)?.is_none() {
                        tx.put_mailbox(&pkey, &new_mailbox(*id, account, parent, None))?;
                        tx.ids.insert(&id.to_be_bytes(), pkey.as_slice())?;
                    }
                }
                let id = ids.last().copied().unwrap_or_default();
                let mut dest = new_mailbox(id, account, to, None);
                let dmodseq = next_modseq(&mut dest);
                let smodseq = next_modseq(&mut inbox);
                let mut moved = Vec::with_capacity(uids.len());
                for &uid in &uids {
                    let Some((mut meta, body)) = tx.remove_message(&mut inbox, uid)? else {
                        continue;
                    };
                    meta.modseq = dmodseq;
                    tx.add_message(&mut dest, &meta, &body)?;
                    moved.push(uid);
                }
                tx.record_vanished(&mut inbox, smodseq, &moved)?;
                tx.put_mailbox(&key, &dest)?;
                tx.ids.insert(&id.to_be_bytes(), key.as_slice())?;
                tx.put_mailbox(&inbox_key, &inbox)?;
                Ok(inbox.id)
            })
        })?;
        self.flush()?;
        self.notify(&[inbox_id]);
        self.compact_tombstones(inbox_id)?;
        Ok(())
    }

    /// Subscribes to a name, which need not exist (RFC 9051 §6.3.7).
    pub fn subscribe(&self, account: &str, name: &str) -> Result<(), StoreError> {
        let account = account.to_ascii_lowercase();
        let key = mailbox_key(&account, &mailbox_name(name)?);
        self.transact(|tx| {
            if tx.acc.get(account.as_bytes())?.is_none() {
                return abort(StoreError::NotFound(format!("user {account}")));
            }
            tx.subs.insert(key.as_slice(), &[])?;
            Ok(())
        })?;
        self.flush()
    }

    /// Removes a subscription; [`StoreError::NotFound`] if there was none.
    pub fn unsubscribe(&self, account: &str, name: &str) -> Result<(), StoreError> {
        let account = account.to_ascii_lowercase();
        let name = mailbox_name(name)?;
        if self
            .subscriptions
            .remove(mailbox_key(&account, &name))?
            .is_none()
        {
            return Err(StoreError::NotFound(format!("subscription {name}")));
        }
        self.flush()
    }

    /// The subscribed names of an account, sorted (LSUB, LIST SUBSCRIBED).
    pub fn subscriptions(&self, account: &str) -> Result<Vec<String>, StoreError> {
        let mut prefix = account.to_ascii_lowercase().into_bytes();
        prefix.push(0);
        self.subscriptions
            .scan_prefix(&prefix)
            .keys()
            .map(|k| {
                let k = k?;
                let name = k.get(prefix.len()..).unwrap_or_default();
                String::from_utf8(name.to_vec())
                    .map_err(|_| StoreError::Corrupt("subscription name not UTF-8".into()))
            })
            .collect()
    }

    /// Sets or clears a mailbox's special use (RFC 6154).
    pub fn set_special_use(
        &self,
        account: &str,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<(), StoreError> {
        let account = account.to_ascii_lowercase();
        let key = mailbox_key(&account, &mailbox_name(name)?);
        self.transact(|tx| {
            let Some(mut m) = tx.mailbox(&key)? else {
                return abort(StoreError::NotFound(format!("mailbox {name}")));
            };
            m.special_use = special_use;
            tx.put_mailbox(&key, &m)
        })?;
        self.flush()
    }

    // ----- quota -----

    /// Sets the quota for accounts whose own quota is 0 (0: unlimited).
    /// Not persistent: the configuration sets it at every start.
    pub fn set_default_quota(&self, bytes: u64) {
        self.default_quota.store(bytes, Ordering::Relaxed);
    }

    /// Sets an account's own quota in bytes (0: the default).
    pub fn set_quota(&self, account: &str, bytes: u64) -> Result<(), StoreError> {
        let account = account.to_ascii_lowercase();
        self.transact(|tx| {
            let Some(v) = tx.acc.get(account.as_bytes())? else {
                return abort(StoreError::NotFound(format!("user {account}")));
            };
            let mut a: Account = tx_decode(&v)?;
            a.quota = bytes;
            tx.acc.insert(account.as_bytes(), encode(&a))?;
            Ok(())
        })?;
        self.flush()
    }

    /// An account's usage and limit (RFC 9208 GETQUOTA / GETQUOTAROOT).
    pub fn quota(&self, account: &str) -> Result<Quota, StoreError> {
        let account = account.to_ascii_lowercase();
        let Some(a) = self.account(&account)? else {
            return Err(StoreError::NotFound(format!("user {account}")));
        };
        Ok(Quota {
            used: ref_count(self.usage.get(account.as_bytes())?),
            limit: quota_limit(&a, self.default_quota()),
        })
    }

    /// Fails with [`StoreError::OverQuota`] if `extra` more bytes would not
    /// fit (SMTP checks each recipient with it before [`Store::deliver`]).
    pub fn check_quota(&self, account: &str, extra: u64) -> Result<(), StoreError> {
        let q = self.quota(account)?;
        if q.limit != 0 && q.used.saturating_add(extra) > q.limit {
            return Err(StoreError::OverQuota(account.to_ascii_lowercase()));
        }
        Ok(())
    }

    // ----- change notification -----

    /// Watches a mailbox for changes (see [`MailboxWatch`]).
    pub fn watch(&self, mailbox: u64) -> MailboxWatch {
        MailboxWatch::new(&self.watchers, mailbox)
    }

    /// Wakes the watchers of the given mailboxes; called after a change is
    /// durable.
    pub(super) fn notify(&self, ids: &[u64]) {
        for &id in ids {
            self.watchers.notify(id);
        }
    }
}
