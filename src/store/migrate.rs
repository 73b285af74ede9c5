//! Migration of older store formats, run once at open.

use super::blobs::LineEnds;
use super::records::{decode, encode, v1, v2, Mailbox, MessageBody, MessageMeta, Record};
use super::{modseq_key, new_mailbox, Store, StoreError, FORMAT_KEY, STORE_FORMAT};
use sled::transaction::ConflictableTransactionError;
use sled::Transactional;
use std::collections::BTreeMap;
use std::io::Read;

impl Store {
    /// Brings a store of format `from` to [`STORE_FORMAT`], one format at
    /// a time. Each step records its format when it is complete, so a
    /// crash leaves the store at the last finished step, and the next
    /// start goes on from there.
    pub(super) fn migrate(&self, from: u32) -> Result<(), StoreError> {
        let mut at = from;
        if at == 1 {
            log::info!("migrating the store from format 1 to 2");
            self.migrate_1_to_2()?;
            at = 2;
        }
        if at == 2 {
            log::info!("migrating the store from format 2 to 3");
            self.migrate_2_to_3()?;
            at = 3;
        }
        if at != STORE_FORMAT {
            return Err(StoreError::Corrupt(format!(
                "no migration from store format {from}"
            )));
        }
        Ok(())
    }

    /// Format 1 to 2 in one transaction (the format key included).
    fn migrate_1_to_2(&self) -> Result<(), StoreError> {
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
                    let meta = v2::MessageMeta {
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
                db.insert(FORMAT_KEY, &2u32.to_be_bytes())?;
                Ok::<(), ConflictableTransactionError<StoreError>>(())
            });
        r?;
        self.flush()
    }

    /// Format 2 to 3: each message record gains its CRLF-counted size,
    /// read once from its prefix and body file. Records are rewritten one
    /// by one (memory stays flat however big the store); one already in
    /// the new layout is skipped, so a run cut short by a crash resumes.
    fn migrate_2_to_3(&self) -> Result<(), StoreError> {
        let mut chunk = vec![0u8; 8 * 1024];
        for kv in self.messages.iter() {
            let (k, v) = kv?;
            if v.first() == Some(&MessageMeta::VERSION) {
                continue;
            }
            let old: v2::MessageMeta = decode(&v)?;
            let body: MessageBody = match self.bodies.get(&k)? {
                Some(b) => decode(&b)?,
                None => return Err(StoreError::Corrupt("a message has no body record".into())),
            };
            let pop3_size = match std::fs::File::open(self.blobs.path(&body.blob)) {
                Ok(mut f) => {
                    let mut ends = LineEnds::of(&body.prefix);
                    loop {
                        match f.read(&mut chunk) {
                            Ok(0) => break,
                            Ok(n) => ends.update(&chunk[..n]),
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(e) => return Err(e.into()),
                        }
                    }
                    ends.crlf_size()
                }
                Err(e) => {
                    // The message cannot be read anyway; its stored size
                    // is the best estimate.
                    log::warn!("body {} unreadable: {e}", body.blob.hex());
                    old.size
                }
            };
            let meta = MessageMeta {
                flags: old.flags,
                keywords: old.keywords,
                modseq: old.modseq,
                internal_date: old.internal_date,
                size: old.size,
                pop3_size,
            };
            self.messages.insert(k, encode(&meta))?;
        }
        self.flush()?;
        self.db.insert(FORMAT_KEY, &3u32.to_be_bytes())?;
        self.flush()
    }
}
