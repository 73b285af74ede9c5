//! Migration of older store formats, run once at open.

use super::records::{decode, encode, v1, Mailbox, MessageBody, MessageMeta};
use super::{modseq_key, new_mailbox, Store, StoreError, FORMAT_KEY, STORE_FORMAT};
use sled::transaction::ConflictableTransactionError;
use sled::Transactional;
use std::collections::BTreeMap;

impl Store {
    /// Brings a store of format `from` to [`STORE_FORMAT`] in one
    /// transaction (the format key included), so a crash leaves the old
    /// format whole and the next start migrates again.
    pub(super) fn migrate(&self, from: u32) -> Result<(), StoreError> {
        if from != 1 {
            return Err(StoreError::Corrupt(format!(
                "no migration from store format {from}"
            )));
        }
        log::info!("migrating the store from format 1 to {STORE_FORMAT}");
        // Format 1: one record per message, mailboxes without counters,
        // subscriptions as a mailbox flag.
        let mut boxes = Vec::new();
        for kv in self.mailboxes.iter() {
            let (k, v) = kv?;
            boxes.push((k, decode::<v1::Mailbox>(&v)?));
        }
        let mut messages = Vec::new();
        for kv in self.messages.iter() {
            let (k, v) = kv?;
            let mailbox = k
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| StoreError::Corrupt("bad message key".into()))?;
            messages.push((k, mailbox, decode::<v1::Message>(&v)?));
        }
        let mut new_boxes: BTreeMap<u64, Mailbox> = BTreeMap::new();
        for (_, b) in &boxes {
            let mut m = new_mailbox(b.id, &b.account, &b.name, b.special_use);
            m.name = b.name.clone();
            m.uidvalidity = b.uidvalidity;
            m.uidnext = b.uidnext;
            m.highestmodseq = b.highestmodseq;
            new_boxes.insert(b.id, m);
        }
        let mut usage: BTreeMap<String, u64> = BTreeMap::new();
        for (_, mailbox, msg) in &messages {
            if let Some(m) = new_boxes.get_mut(mailbox) {
                m.count_in(msg.flags, msg.size);
                *usage.entry(m.account.clone()).or_default() += msg.size;
            }
        }
        let trees = (
            &self.mailboxes,
            &self.mailbox_ids,
            &self.messages,
            &self.bodies,
            &self.modseqs,
            &self.usage,
            &self.subscriptions,
            &*self.db,
        );
        let r: Result<(), sled::transaction::TransactionError<StoreError>> =
            trees.transaction(|(mbx, ids, msg, body, mods, use_, subs, db)| {
                for (k, b) in &boxes {
                    let Some(m) = new_boxes.get(&b.id) else {
                        continue;
                    };
                    mbx.insert(k, encode(m))?;
                    ids.insert(&b.id.to_be_bytes(), k)?;
                    if b.subscribed {
                        subs.insert(k, &[])?;
                    }
                }
                for (k, mailbox, m) in &messages {
                    let meta = MessageMeta {
                        flags: m.flags,
                        keywords: m.keywords.clone(),
                        modseq: m.modseq,
                        internal_date: m.internal_date,
                        size: m.size,
                    };
                    let b = MessageBody {
                        blob: m.blob,
                        prefix: m.prefix.clone(),
                        cache: m.cache.clone(),
                    };
                    msg.insert(k, encode(&meta))?;
                    body.insert(k, encode(&b))?;
                    mods.insert(&modseq_key(*mailbox, m.modseq, m.uid), &[])?;
                }
                for (account, bytes) in &usage {
                    use_.insert(account.as_bytes(), &bytes.to_be_bytes())?;
                }
                db.insert(FORMAT_KEY, &STORE_FORMAT.to_be_bytes())?;
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            });
        r?;
        self.flush()
    }
}
