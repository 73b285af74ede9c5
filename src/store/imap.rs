//! Message operations for IMAP: flags with RFC 7162 modseqs, APPEND, COPY
//! and MOVE (RFC 4315 UIDPLUS, RFC 6851), expunge with tombstones, the
//! light listing for SELECT, and the change feed for selected mailboxes.
//!
//! Modseqs: every operation raises the mailbox's `highestmodseq` by one
//! and gives that value to every message it changes, so one STORE or one
//! COPY gives all its messages the same modseq (RFC 7162 §3.1 allows it:
//! modseqs are per mailbox and need not be unique per message). Messages an
//! operation leaves as they were keep their modseq.
//!
//! Tombstones: each expunge records its UIDs as ranges under its modseq.
//! A mailbox keeps at most [`MAX_TOMBSTONES`] such records; past that, the
//! older half is merged into one record under the newest of their modseqs.
//! A question about a modseq older than that merged record's is answered
//! with all of its UIDs, some of which may have vanished before the asked
//! modseq: that is allowed (RFC 7162 §3.2.5.2, a server may report UIDs the
//! client already knows to be gone), and clients ignore UIDs they do not
//! have. A merged record has at most one range per live message below it
//! plus one, so the bound holds however often the mailbox is expunged.

use super::records::{
    decode, encode, flags, BlobId, MessageBody, MessageMeta, PendingCopy, Tombstone,
};
use super::{
    abort, add_ref, message_key, modseq_key, next_modseq, uid_of_key, unref_blobs, vanished_key,
    FinishedBlob, Store, StoreError,
};
use std::collections::BTreeMap;

/// An inclusive range of UIDs.
pub type UidRange = (u32, u32);

/// Most keywords one message may carry. Each costs its length in every
/// message record that has it; 32 is far above what clients set.
pub const MAX_KEYWORDS: usize = 32;

/// Longest keyword in bytes.
pub const MAX_KEYWORD_LEN: usize = 64;

/// Tombstone records kept per mailbox before the older half is merged
/// (about 40 bytes each: at most ~10 KiB of index per mailbox).
pub const MAX_TOMBSTONES: u32 = 256;

/// What SELECT, FETCH FLAGS and the change feed need of a message, read
/// from the small record only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    /// UID.
    pub uid: u32,
    /// System flags ([`flags`]).
    pub flags: u8,
    /// Keywords.
    pub keywords: Vec<String>,
    /// RFC 7162 modseq of its last change.
    pub modseq: u64,
    /// Internal date (Unix time).
    pub internal_date: i64,
    /// RFC822.SIZE.
    pub size: u64,
}

impl MessageSummary {
    fn new(uid: u32, m: MessageMeta) -> MessageSummary {
        MessageSummary {
            uid,
            flags: m.flags,
            keywords: m.keywords,
            modseq: m.modseq,
            internal_date: m.internal_date,
            size: m.size,
        }
    }
}

/// The attributes of an appended message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMessage {
    /// Initial system flags.
    pub flags: u8,
    /// Initial keywords.
    pub keywords: Vec<String>,
    /// Internal date (Unix time).
    pub internal_date: i64,
    /// The IMAP module's cached structure, if already computed.
    pub cache: Option<Vec<u8>>,
}

/// Where an APPEND landed (RFC 4315 APPENDUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Mailbox id.
    pub mailbox: u64,
    /// The mailbox's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The new message's UID.
    pub uid: u32,
    /// Its modseq.
    pub modseq: u64,
}

/// How STORE changes flags (RFC 9051 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

/// One STORE request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagUpdate {
    /// Replace, add or remove.
    pub op: FlagOp,
    /// System flags ([`flags`]).
    pub flags: u8,
    /// Keywords (compared without regard to case).
    pub keywords: Vec<String>,
    /// RFC 7162 §3.1.3 UNCHANGEDSINCE: messages whose modseq is greater
    /// are left alone and reported in [`StoreFlagsResult::failed`].
    pub unchanged_since: Option<u64>,
}

/// The state of one message after a STORE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagResult {
    /// UID.
    pub uid: u32,
    /// System flags now.
    pub flags: u8,
    /// Keywords now.
    pub keywords: Vec<String>,
    /// Modseq now (new if changed).
    pub modseq: u64,
    /// Whether this STORE changed the message.
    pub changed: bool,
}

/// The outcome of a STORE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreFlagsResult {
    /// Every message of the set that exists and did not fail, by UID.
    pub results: Vec<FlagResult>,
    /// UIDs that failed the UNCHANGEDSINCE test (RFC 7162 §3.1.3: the
    /// MODIFIED response code), ascending.
    pub failed: Vec<u32>,
    /// The mailbox's highest modseq after the STORE.
    pub highestmodseq: u64,
}

/// The outcome of COPY or MOVE (RFC 4315 COPYUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Destination mailbox id.
    pub mailbox: u64,
    /// Destination UIDVALIDITY.
    pub uidvalidity: u32,
    /// Source UIDs copied, ascending.
    pub source: Vec<u32>,
    /// Their new UIDs, in the same order.
    pub dest: Vec<u32>,
}

/// The outcome of an expunge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expunged {
    /// UIDs removed, ascending.
    pub uids: Vec<u32>,
    /// The mailbox's highest modseq after it (the expunge's modseq when
    /// something was removed).
    pub highestmodseq: u64,
}

/// What changed in a mailbox since a session last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// UIDVALIDITY (a session that sees it change must start over).
    pub uidvalidity: u32,
    /// UIDNEXT at the time of the read: the session's new "last UID" is
    /// `uidnext - 1`.
    pub uidnext: u32,
    /// HIGHESTMODSEQ at the time of the read: the session's new "last
    /// modseq".
    pub highestmodseq: u64,
    /// Number of messages now.
    pub messages: u32,
    /// Messages with a UID above the session's last one, ascending.
    pub added: Vec<MessageSummary>,
    /// Known messages (UID at most the last one) changed after the last
    /// modseq, ascending.
    pub changed: Vec<MessageSummary>,
    /// Known UIDs expunged after the last modseq (may name UIDs the session
    /// never saw or already removed: ignore those).
    pub vanished: Vec<UidRange>,
}

/// Ascending, disjoint ranges of ascending `uids`.
pub(super) fn ranges(uids: &[u32]) -> Vec<UidRange> {
    let mut out: Vec<UidRange> = Vec::new();
    for &u in uids {
        match out.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(u) => *hi = u,
            Some((_, hi)) if *hi >= u => {}
            _ => out.push((u, u)),
        }
    }
    out
}

/// Sorts and merges overlapping or adjacent ranges.
pub(super) fn merge_ranges(mut r: Vec<UidRange>) -> Vec<UidRange> {
    r.sort_unstable();
    let mut out: Vec<UidRange> = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        match out.last_mut() {
            Some((_, last)) if lo <= last.saturating_add(1) => *last = (*last).max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Checks keywords and drops duplicates (compared without case, RFC 9051
/// §2.3.2), keeping the first spelling.
fn clean_keywords(keywords: &[String]) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = Vec::with_capacity(keywords.len());
    for k in keywords {
        // RFC 9051 §9 flag-keyword = atom: no specials, no `\`.
        let ok = !k.is_empty()
            && k.len() <= MAX_KEYWORD_LEN
            && k.bytes()
                .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b));
        if !ok {
            return Err(StoreError::Invalid(format!("bad keyword {k:?}")));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(k)) {
            out.push(k.clone());
        }
    }
    if out.len() > MAX_KEYWORDS {
        return Err(StoreError::Invalid(format!(
            "at most {MAX_KEYWORDS} keywords per message"
        )));
    }
    Ok(out)
}

/// Whether two keyword lists name the same set.
fn same_keywords(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter()
            .all(|k| b.iter().any(|o| o.eq_ignore_ascii_case(k)))
}

/// Applies a STORE to one message's flags; `None` if over the keyword limit.
fn apply(op: FlagOp, cur: &MessageMeta, fl: u8, kw: &[String]) -> Option<(u8, Vec<String>)> {
    let (f, k) = match op {
        FlagOp::Replace => (fl, kw.to_vec()),
        FlagOp::Add => {
            let mut k = cur.keywords.clone();
            for w in kw {
                if !k.iter().any(|o| o.eq_ignore_ascii_case(w)) {
                    k.push(w.clone());
                }
            }
            (cur.flags | fl, k)
        }
        FlagOp::Remove => {
            let k = cur
                .keywords
                .iter()
                .filter(|o| !kw.iter().any(|w| w.eq_ignore_ascii_case(o)))
                .cloned()
                .collect();
            (cur.flags & !fl, k)
        }
    };
    (k.len() <= MAX_KEYWORDS).then_some((f, k))
}

/// Messages per transaction of a bulk command. A sled transaction keeps
/// every record it reads and writes in memory until it commits (with the
/// whole set in one transaction, `STORE 1:* +FLAGS (\Seen)` on 10,000
/// messages took the server from 31 to 128 MiB), so bulk commands work in
/// batches of this many. Measured on 10,000 messages
/// (`scripts/bench/imap.sh`, docs/BENCHMARKS.md): batches of 256 added
/// 6.7 MiB for STORE, 9.9 for COPY and 11-16 for MOVE; batches of 64
/// added 3.2, 5.9 and 7.4 MiB, for 100-250 ms more per command (one
/// fsync per batch).
pub const BATCH: usize = 64;

fn sorted(uids: &[u32]) -> Vec<u32> {
    let mut v = uids.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

/// `uids` in batches of [`BATCH`]; one empty batch when there are none
/// (a command on no message still answers with the mailbox's state).
fn batches(uids: &[u32]) -> impl Iterator<Item = &[u32]> {
    uids.chunks(BATCH).chain(uids.is_empty().then_some(&[][..]))
}

/// The first `n` UIDs of ascending ranges, and the ranges left after them.
pub(super) fn split_ranges(r: &[UidRange], n: usize) -> (Vec<u32>, Vec<UidRange>) {
    let mut take = Vec::with_capacity(n);
    let mut rest = Vec::new();
    for &(lo, hi) in r {
        let room = n - take.len();
        if room == 0 || lo > hi {
            if lo <= hi {
                rest.push((lo, hi));
            }
            continue;
        }
        let end = hi.min(lo.saturating_add((room - 1) as u32));
        take.extend(lo..=end);
        if end < hi {
            rest.push((end + 1, hi));
        }
    }
    (take, rest)
}

impl Copied {
    /// Appends a later batch's outcome.
    fn extend(&mut self, batch: Copied) {
        self.mailbox = batch.mailbox;
        self.uidvalidity = batch.uidvalidity;
        self.source.extend(batch.source);
        self.dest.extend(batch.dest);
    }
}

impl Store {
    /// The messages of a mailbox as SELECT needs them (UID, flags,
    /// keywords, modseq, date, size), ascending by UID. Reads only the
    /// small per-message records, not prefixes or caches. Holds the whole
    /// list: walking a big mailbox is [`Store::walk_summaries`].
    pub fn summaries(&self, mailbox: u64) -> Result<Vec<MessageSummary>, StoreError> {
        self.walk_summaries(mailbox).collect()
    }

    /// The same summaries read one record at a time, ascending by UID:
    /// SELECT and SEARCH on a 10,000-message mailbox hold one summary at
    /// a time instead of a list of about 600 KB.
    pub fn walk_summaries(
        &self,
        mailbox: u64,
    ) -> impl Iterator<Item = Result<MessageSummary, StoreError>> {
        self.messages.scan_prefix(mailbox.to_be_bytes()).map(|kv| {
            let (k, v) = kv?;
            Ok(MessageSummary::new(uid_of_key(&k)?, decode(&v)?))
        })
    }

    /// One message's summary.
    pub fn summary(&self, mailbox: u64, uid: u32) -> Result<Option<MessageSummary>, StoreError> {
        match self.messages.get(message_key(mailbox, uid))? {
            Some(v) => Ok(Some(MessageSummary::new(uid, decode(&v)?))),
            None => Ok(None),
        }
    }

    /// Replaces the cached IMAP structure of a message. Not a change a
    /// client can see: no modseq, no notification, no flush (a lost cache
    /// is computed again).
    pub fn set_cache(
        &self,
        mailbox: u64,
        uid: u32,
        cache: Option<Vec<u8>>,
    ) -> Result<bool, StoreError> {
        let key = message_key(mailbox, uid);
        self.transact(|tx| {
            let Some(v) = tx.body.get(key)? else {
                return Ok(false);
            };
            let mut b: MessageBody = super::tx_decode(&v)?;
            b.cache = cache.clone();
            tx.body.insert(&key, encode(&b))?;
            Ok(true)
        })
    }

    /// STORE: changes the flags of the messages `uids` of a mailbox (by
    /// id) as RFC 7162 §3.1.3 says. Messages that change get a new modseq
    /// (one per batch of [`BATCH`] messages); messages left as they were
    /// keep theirs; messages whose modseq is above `unchanged_since` are
    /// not touched and are listed in `failed`; UIDs that do not exist are
    /// ignored. Durable when it returns.
    ///
    /// Each batch is one transaction, so the memory of a STORE over a
    /// whole mailbox ("mark all as read") does not grow with the mailbox.
    /// IMAP asks for no transaction over the whole set: each message's
    /// change is atomic, and an error stops the STORE with the batches
    /// before it done (RFC 9051 §6.4.6 lets a failed STORE leave some
    /// messages changed).
    pub fn store_flags(
        &self,
        mailbox: u64,
        uids: &[u32],
        update: &FlagUpdate,
    ) -> Result<StoreFlagsResult, StoreError> {
        let keywords = clean_keywords(&update.keywords)?;
        let uids = sorted(uids);
        let mut out = StoreFlagsResult {
            results: Vec::with_capacity(uids.len()),
            failed: Vec::new(),
            highestmodseq: 0,
        };
        let mut changed = false;
        let mut result = Ok(());
        for batch in batches(&uids) {
            match self.store_flags_batch(mailbox, batch, update, &keywords) {
                Ok((r, any)) => {
                    changed |= any;
                    out.results.extend(r.results);
                    out.failed.extend(r.failed);
                    out.highestmodseq = r.highestmodseq;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        // Sessions waiting on the mailbox wake once for the whole STORE,
        // not once a batch.
        if changed {
            self.notify(&[mailbox]);
        }
        result.map(|()| out)
    }

    /// One batch of [`Store::store_flags`], in one transaction, flushed;
    /// with whether it changed anything. Does not notify.
    fn store_flags_batch(
        &self,
        mailbox: u64,
        uids: &[u32],
        update: &FlagUpdate,
        keywords: &[String],
    ) -> Result<(StoreFlagsResult, bool), StoreError> {
        let fl = update.flags;
        let result = self.transact(|tx| {
            let Some((key, mut m)) = tx.mailbox_by_id(mailbox)? else {
                return abort(StoreError::NotFound(format!("mailbox {mailbox}")));
            };
            let modseq = m.highestmodseq + 1;
            let mut results = Vec::with_capacity(uids.len());
            let mut failed = Vec::new();
            let mut any = false;
            for &uid in uids {
                let Some(cur) = tx.meta(m.id, uid)? else {
                    continue;
                };
                if update.unchanged_since.is_some_and(|u| cur.modseq > u) {
                    failed.push(uid);
                    continue;
                }
                let Some((f, k)) = apply(update.op, &cur, fl, keywords) else {
                    return abort(StoreError::Invalid(format!(
                        "at most {MAX_KEYWORDS} keywords per message"
                    )));
                };
                if f == cur.flags && same_keywords(&k, &cur.keywords) {
                    results.push(FlagResult {
                        uid,
                        flags: cur.flags,
                        keywords: cur.keywords,
                        modseq: cur.modseq,
                        changed: false,
                    });
                    continue;
                }
                let new = MessageMeta {
                    flags: f,
                    keywords: k,
                    modseq,
                    ..cur.clone()
                };
                m.count_out(cur.flags, cur.size);
                m.count_in(new.flags, new.size);
                tx.set_meta(m.id, uid, &cur, &new)?;
                any = true;
                results.push(FlagResult {
                    uid,
                    flags: new.flags,
                    keywords: new.keywords,
                    modseq,
                    changed: true,
                });
            }
            if any {
                m.highestmodseq = modseq;
                tx.put_mailbox(&key, &m)?;
            }
            Ok((
                StoreFlagsResult {
                    results,
                    failed,
                    highestmodseq: m.highestmodseq,
                },
                any,
            ))
        })?;
        if result.1 {
            self.flush()?;
        }
        Ok(result)
    }

    /// APPEND: stores a finished body as a new message of a mailbox (by
    /// name) with the given flags, keywords, date and cache. Checks the
    /// quota ([`StoreError::OverQuota`]) and the disk reserve
    /// ([`StoreError::InsufficientStorage`]); a missing mailbox is
    /// [`StoreError::NotFound`] (IMAP answers NO [TRYCREATE]). Durable
    /// when it returns.
    pub fn append(
        &self,
        account: &str,
        mailbox: &str,
        blob: FinishedBlob,
        msg: NewMessage,
    ) -> Result<Appended, StoreError> {
        let mut added = self.append_all(account, mailbox, vec![(blob, msg)])?;
        added
            .pop()
            .ok_or_else(|| StoreError::Corrupt("APPEND added nothing".into()))
    }

    /// MULTIAPPEND (RFC 3502 §3): [`Store::append`] of several messages,
    /// all or none: one transaction adds them in order (consecutive UIDs)
    /// and charges the quota for all of them, and one flush makes them
    /// durable before it returns. On an error nothing is added and the
    /// bodies are removed.
    pub fn append_all(
        &self,
        account: &str,
        mailbox: &str,
        mut messages: Vec<(FinishedBlob, NewMessage)>,
    ) -> Result<Vec<Appended>, StoreError> {
        self.check_room()?;
        let account = account.to_ascii_lowercase();
        let keywords = messages
            .iter()
            .map(|(_, msg)| clean_keywords(&msg.keywords))
            .collect::<Result<Vec<_>, _>>()?;
        let key = super::mailbox_key(&account, mailbox);
        let default_quota = self.default_quota();
        let _guard = self.lock_blobs();
        let mut published = Vec::with_capacity(messages.len());
        let mut result = Ok(Vec::new());
        for (blob, _) in messages.iter_mut() {
            if let Err(e) = self.blobs.publish(blob) {
                result = Err(e.into());
                break;
            }
            published.push(blob.id);
        }
        if result.is_ok() {
            result = self.transact(|tx| {
                let Some(mut m) = tx.mailbox(&key)? else {
                    return abort(StoreError::NotFound(format!("mailbox {mailbox}")));
                };
                let total = messages.iter().map(|(b, _)| b.size).sum();
                tx.charge(&account, total, default_quota)?;
                let mut added = Vec::with_capacity(messages.len());
                for ((blob, msg), keywords) in messages.iter().zip(&keywords) {
                    let modseq = next_modseq(&mut m);
                    let meta = MessageMeta {
                        flags: msg.flags,
                        keywords: keywords.clone(),
                        modseq,
                        internal_date: msg.internal_date,
                        size: blob.size,
                        pop3_size: blob.line_ends.crlf_size(),
                    };
                    let body = MessageBody {
                        blob: blob.id,
                        prefix: Vec::new(),
                        cache: msg.cache.clone(),
                    };
                    let uid = tx.add_message(&mut m, &meta, &body)?;
                    add_ref(tx.refs, &blob.id, 1)?;
                    added.push(Appended {
                        mailbox: m.id,
                        uidvalidity: m.uidvalidity,
                        uid,
                        modseq,
                    });
                }
                tx.put_mailbox(&key, &m)?;
                Ok(added)
            });
        }
        match result {
            Ok(added) => {
                self.flush()?;
                if let Some(a) = added.first() {
                    self.notify(&[a.mailbox]);
                }
                Ok(added)
            }
            Err(e) => {
                for id in published {
                    if self.blobrefs.get(id.0)?.is_none() {
                        let _ = self.blobs.remove(&id);
                    }
                }
                Err(e)
            }
        }
    }

    /// COPY: copies messages of a mailbox (by id) to another mailbox of
    /// the same account (by name), in UID order, with new UIDs there and
    /// the same flags, keywords, internal date and cache; bodies are
    /// shared. Checks the quota. UIDs that do not exist are skipped; with
    /// none left nothing changes. A missing destination is
    /// [`StoreError::NotFound`] (NO [TRYCREATE]). Durable when it returns.
    ///
    /// Works in batches of [`BATCH`] messages, one transaction each, so
    /// its memory does not grow with the set; each batch gives its
    /// messages one new modseq of the destination. RFC 9051 §6.4.7 asks a
    /// failed COPY to leave the destination as it was: the quota is
    /// checked for the whole set first, and a COPY of more than one batch
    /// keeps a [`PendingCopy`] record of the UIDs it added, written in
    /// each batch's transaction and removed by the last one. When a batch
    /// fails, or at the next open after a crash, the messages it lists are
    /// removed again (as an expunge: other sessions may have seen them).
    pub fn copy(&self, mailbox: u64, uids: &[u32], dest: &str) -> Result<Copied, StoreError> {
        let uids = sorted(uids);
        let journal = if uids.len() > BATCH {
            self.check_copy_quota(mailbox, &uids)?;
            Some(self.db.generate_id()?.to_be_bytes())
        } else {
            None
        };
        let mut copied = Copied {
            mailbox: 0,
            uidvalidity: 0,
            source: Vec::with_capacity(uids.len()),
            dest: Vec::with_capacity(uids.len()),
        };
        let last = uids.len().saturating_sub(1) / BATCH;
        for (i, batch) in batches(&uids).enumerate() {
            let batch =
                self.transfer_batch(mailbox, batch, dest, false, journal.as_ref(), i == last);
            match batch {
                Ok((c, _, _)) => copied.extend(c),
                Err(e) => {
                    if let Some(j) = journal {
                        self.undo_copy(&j)?;
                    }
                    if !copied.source.is_empty() {
                        self.notify(&[copied.mailbox]);
                    }
                    return Err(e);
                }
            }
        }
        if !copied.source.is_empty() {
            self.notify(&[copied.mailbox]);
        }
        Ok(copied)
    }

    /// MOVE (RFC 6851): [`Store::copy`] and the expunge of the source
    /// messages. Needs no quota (the account's usage does not change).
    /// Returns the copy and the expunge. Durable when it returns.
    ///
    /// Works in batches of [`BATCH`] messages: each batch copies its
    /// messages and expunges them from the source in one transaction, so
    /// every message is either moved or left where it was, never lost nor
    /// in both mailboxes (RFC 6851 §3.3), also when a later batch fails or
    /// the process stops; a failure leaves the batches before it done.
    pub fn move_messages(
        &self,
        mailbox: u64,
        uids: &[u32],
        dest: &str,
    ) -> Result<(Copied, Expunged), StoreError> {
        let uids = sorted(uids);
        let mut copied = Copied {
            mailbox: 0,
            uidvalidity: 0,
            source: Vec::with_capacity(uids.len()),
            dest: Vec::with_capacity(uids.len()),
        };
        let mut expunged = Expunged {
            uids: Vec::with_capacity(uids.len()),
            highestmodseq: 0,
        };
        let mut touched: Vec<u64> = Vec::new();
        let mut result = Ok(());
        for batch in batches(&uids) {
            match self.transfer_batch(mailbox, batch, dest, true, None, true) {
                Ok((c, e, t)) => {
                    copied.extend(c);
                    expunged.uids.extend(e.uids);
                    expunged.highestmodseq = e.highestmodseq;
                    for id in t {
                        if !touched.contains(&id) {
                            touched.push(id);
                        }
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if !touched.is_empty() {
            self.notify(&touched);
            self.compact_tombstones(mailbox)?;
        }
        result.map(|()| (copied, expunged))
    }

    /// Fails with [`StoreError::OverQuota`] when copying `uids` (ascending)
    /// of a mailbox would take its account over its quota.
    fn check_copy_quota(&self, mailbox: u64, uids: &[u32]) -> Result<(), StoreError> {
        let Some(m) = self.mailbox_by_id(mailbox)? else {
            return Err(StoreError::NotFound(format!("mailbox {mailbox}")));
        };
        let mut bytes = 0u64;
        for &uid in uids {
            if let Some(v) = self.messages.get(message_key(mailbox, uid))? {
                bytes = bytes.saturating_add(decode::<MessageMeta>(&v)?.size);
            }
        }
        self.check_quota(&m.account, bytes)
    }

    /// One batch of COPY or MOVE, in one transaction, flushed. For a COPY
    /// with a `journal`, records the new UIDs in it, or removes it when
    /// this is the `last` batch. Returns the mailboxes changed.
    fn transfer_batch(
        &self,
        mailbox: u64,
        uids: &[u32],
        dest: &str,
        is_move: bool,
        journal: Option<&[u8; 8]>,
        last: bool,
    ) -> Result<(Copied, Expunged, Vec<u64>), StoreError> {
        let default_quota = self.default_quota();
        let (copied, expunged, touched) = self.transact(|tx| {
            let Some((skey, mut src)) = tx.mailbox_by_id(mailbox)? else {
                return abort(StoreError::NotFound(format!("mailbox {mailbox}")));
            };
            let dkey = super::mailbox_key(&src.account, dest);
            let same = dkey == skey;
            let mut dst = if same {
                src.clone()
            } else {
                match tx.mailbox(&dkey)? {
                    Some(d) => d,
                    None => return abort(StoreError::NotFound(format!("mailbox {dest}"))),
                }
            };
            let src_before = src.highestmodseq;
            let dmodseq = next_modseq(&mut dst);
            let smodseq = if is_move && !same {
                next_modseq(&mut src)
            } else {
                dmodseq
            };
            let mut source = Vec::with_capacity(uids.len());
            let mut new_uids = Vec::with_capacity(uids.len());
            let mut bytes = 0u64;
            let mut refs: BTreeMap<BlobId, u64> = BTreeMap::new();
            for &uid in uids {
                let (meta, body) = if is_move {
                    let from = if same { &mut dst } else { &mut src };
                    match tx.remove_message(from, uid)? {
                        Some(mb) => mb,
                        None => continue,
                    }
                } else {
                    let Some(meta) = tx.meta(src.id, uid)? else {
                        continue;
                    };
                    let Some(b) = tx.body.get(message_key(src.id, uid))? else {
                        return abort(StoreError::Corrupt(format!(
                            "message {uid} has no body record"
                        )));
                    };
                    let body: MessageBody = super::tx_decode(&b)?;
                    *refs.entry(body.blob).or_default() += 1;
                    bytes = bytes.saturating_add(meta.size);
                    (meta, body)
                };
                let meta = MessageMeta {
                    modseq: dmodseq,
                    ..meta
                };
                new_uids.push(tx.add_message(&mut dst, &meta, &body)?);
                source.push(uid);
            }
            if let Some(j) = journal {
                tx.note_copy(j, dst.id, &new_uids, last)?;
            }
            let copied = Copied {
                mailbox: dst.id,
                uidvalidity: dst.uidvalidity,
                source: source.clone(),
                dest: new_uids,
            };
            if source.is_empty() {
                let expunged = Expunged {
                    uids: Vec::new(),
                    highestmodseq: src_before,
                };
                return Ok((copied, expunged, Vec::new()));
            }
            if is_move {
                let from = if same { &mut dst } else { &mut src };
                tx.record_vanished(from, smodseq, &source)?;
            } else {
                tx.charge(&dst.account, bytes, default_quota)?;
                for (id, n) in &refs {
                    add_ref(tx.refs, id, *n)?;
                }
            }
            tx.put_mailbox(&dkey, &dst)?;
            let mut touched = vec![dst.id];
            let src_modseq = if same {
                dst.highestmodseq
            } else {
                if is_move {
                    tx.put_mailbox(&skey, &src)?;
                    touched.push(src.id);
                }
                src.highestmodseq
            };
            let expunged = Expunged {
                uids: if is_move { source } else { Vec::new() },
                highestmodseq: src_modseq,
            };
            Ok((copied, expunged, touched))
        })?;
        if !touched.is_empty() || journal.is_some() {
            self.flush()?;
        }
        Ok((copied, expunged, touched))
    }

    /// Removes what an unfinished COPY added to its destination (see
    /// [`PendingCopy`]), [`BATCH`] messages per transaction, each of which
    /// shortens the record; the last removes it. Safe to run again after
    /// a crash part way.
    fn undo_copy(&self, journal: &[u8; 8]) -> Result<(), StoreError> {
        while let Some(v) = self.copies.get(journal)? {
            let p: PendingCopy = decode(&v)?;
            let (take, rest) = split_ranges(&p.uids, BATCH);
            if take.is_empty() || self.mailbox_by_id(p.mailbox)?.is_none() {
                self.copies.remove(journal)?;
                self.flush()?;
                break;
            }
            let rest = PendingCopy {
                mailbox: p.mailbox,
                uids: rest,
            };
            match self.remove_batch(p.mailbox, &take, false, Some((journal, &rest))) {
                Ok(_) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            self.notify(&[p.mailbox]);
        }
        Ok(())
    }

    /// Undoes the COPYs a crash interrupted (see [`PendingCopy`]), at open.
    pub(super) fn undo_unfinished_copies(&self) -> Result<(), StoreError> {
        let keys = self.copies.iter().keys().collect::<Result<Vec<_>, _>>()?;
        for k in keys {
            let Ok(j) = <[u8; 8]>::try_from(k.as_ref()) else {
                self.copies.remove(&k)?;
                continue;
            };
            log::info!("removing the messages of an unfinished COPY");
            self.undo_copy(&j)?;
        }
        Ok(())
    }

    /// Expunges messages of a mailbox (by id), whatever their flags (POP3
    /// DELE, and the IMAP layer's own choice of UIDs). Records tombstones,
    /// frees bodies that lose their last reference and releases quota.
    pub fn expunge_uids(&self, mailbox: u64, uids: &[u32]) -> Result<Expunged, StoreError> {
        self.remove_messages(mailbox, &sorted(uids), false)
    }

    /// EXPUNGE / CLOSE (RFC 9051 §6.4.3), or UID EXPUNGE (RFC 4315 §2.1)
    /// when `within` is given: removes the messages flagged `\Deleted`.
    pub fn expunge_deleted(
        &self,
        mailbox: u64,
        within: Option<&[u32]>,
    ) -> Result<Expunged, StoreError> {
        let Some(m) = self.mailbox_by_id(mailbox)? else {
            return Err(StoreError::NotFound(format!("mailbox {mailbox}")));
        };
        if m.deleted == 0 {
            return Ok(Expunged {
                uids: Vec::new(),
                highestmodseq: m.highestmodseq,
            });
        }
        let within = within.map(sorted);
        // Candidates from a scan; the transaction checks each flag again,
        // so a message undeleted meanwhile stays.
        let mut uids: Vec<u32> = Vec::new();
        for s in self.walk_summaries(mailbox) {
            let s = s?;
            if s.flags & flags::DELETED != 0
                && within
                    .as_ref()
                    .is_none_or(|w| w.binary_search(&s.uid).is_ok())
            {
                uids.push(s.uid);
            }
        }
        self.remove_messages(mailbox, &uids, true)
    }

    /// Removes messages in batches of [`BATCH`], one transaction and one
    /// new modseq each (RFC 7162 §3.2: the tombstones of each batch keep
    /// its modseq). A failure leaves the batches before it done: each
    /// message is either expunged or kept, and the UIDs it removed are
    /// reported to the sessions through the change feed.
    fn remove_messages(
        &self,
        mailbox: u64,
        uids: &[u32],
        only_deleted: bool,
    ) -> Result<Expunged, StoreError> {
        let mut out = Expunged {
            uids: Vec::with_capacity(uids.len()),
            highestmodseq: 0,
        };
        let mut result = Ok(());
        for batch in batches(uids) {
            match self.remove_batch(mailbox, batch, only_deleted, None) {
                Ok(e) => {
                    out.uids.extend(e.uids);
                    out.highestmodseq = e.highestmodseq;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if !out.uids.is_empty() {
            self.notify(&[mailbox]);
            self.compact_tombstones(mailbox)?;
        }
        result.map(|()| out)
    }

    /// One batch of [`Store::remove_messages`] in one transaction,
    /// flushed before the bodies it frees are deleted. With a `journal`,
    /// also replaces that [`PendingCopy`] record by what is left of it
    /// (removing it when nothing is). Does not notify.
    fn remove_batch(
        &self,
        mailbox: u64,
        uids: &[u32],
        only_deleted: bool,
        journal: Option<(&[u8; 8], &PendingCopy)>,
    ) -> Result<Expunged, StoreError> {
        let _guard = self.lock_blobs();
        let (out, freed) = self.transact(|tx| {
            let Some((key, mut m)) = tx.mailbox_by_id(mailbox)? else {
                return abort(StoreError::NotFound(format!("mailbox {mailbox}")));
            };
            if let Some((j, rest)) = journal {
                if rest.uids.is_empty() {
                    tx.copies.remove(j)?;
                } else {
                    tx.copies.insert(j, encode(rest))?;
                }
            }
            let modseq = m.highestmodseq + 1;
            let mut removed = Vec::with_capacity(uids.len());
            let mut unref: BTreeMap<BlobId, u64> = BTreeMap::new();
            let mut bytes = 0u64;
            for &uid in uids {
                if only_deleted {
                    match tx.meta(m.id, uid)? {
                        Some(meta) if meta.flags & flags::DELETED != 0 => {}
                        _ => continue,
                    }
                }
                if let Some((meta, body)) = tx.remove_message(&mut m, uid)? {
                    *unref.entry(body.blob).or_default() += 1;
                    bytes = bytes.saturating_add(meta.size);
                    removed.push(uid);
                }
            }
            if removed.is_empty() {
                let hm = m.highestmodseq;
                return Ok((
                    Expunged {
                        uids: removed,
                        highestmodseq: hm,
                    },
                    Vec::new(),
                ));
            }
            // RFC 7162 §3.2: an expunge raises the modseq, which is kept
            // with the expunged UIDs.
            m.highestmodseq = modseq;
            tx.record_vanished(&mut m, modseq, &removed)?;
            tx.release(&m.account, bytes)?;
            tx.put_mailbox(&key, &m)?;
            let freed = unref_blobs(tx.refs, &unref)?;
            Ok((
                Expunged {
                    uids: removed,
                    highestmodseq: modseq,
                },
                freed,
            ))
        })?;
        if !out.uids.is_empty() || journal.is_some() {
            self.flush()?;
            self.remove_blob_files(&freed);
        }
        Ok(out)
    }

    /// UIDs expunged from a mailbox after `modseq` (QRESYNC SELECT and UID
    /// FETCH VANISHED, RFC 7162 §3.2.5-3.2.6), as ascending ranges. For a
    /// modseq older than the merged tombstones (see the module doc), this
    /// includes UIDs expunged earlier too.
    pub fn vanished_since(&self, mailbox: u64, modseq: u64) -> Result<Vec<UidRange>, StoreError> {
        self.vanished_between(mailbox, modseq, u64::MAX)
    }

    fn vanished_between(
        &self,
        mailbox: u64,
        after: u64,
        upto: u64,
    ) -> Result<Vec<UidRange>, StoreError> {
        if after >= upto {
            return Ok(Vec::new());
        }
        let lo = vanished_key(mailbox, after + 1);
        let hi = vanished_key(mailbox, upto);
        let mut all = Vec::new();
        for kv in self.vanished.range(lo..=hi) {
            let (_, v) = kv?;
            all.extend(decode::<Tombstone>(&v)?.uids);
        }
        Ok(merge_ranges(all))
    }

    /// What changed in a mailbox (by id) since a session's last look: it
    /// knew the UIDs up to `since_uid` and every change up to
    /// `since_modseq`. New messages are found by UID, changed ones through
    /// the modseq index and expunged ones through the tombstones, so the
    /// cost follows the size of the change, not of the mailbox.
    /// [`StoreError::NotFound`] once the mailbox is deleted.
    ///
    /// The answer is consistent with its `uidnext` and `highestmodseq`: a
    /// change made while it is read is reported in the next call (with the
    /// returned values as the new `since_*`), never lost.
    pub fn changes(
        &self,
        mailbox: u64,
        since_uid: u32,
        since_modseq: u64,
    ) -> Result<Changes, StoreError> {
        let Some(m) = self.mailbox_by_id(mailbox)? else {
            return Err(StoreError::NotFound(format!("mailbox {mailbox}")));
        };
        let (h, next) = (m.highestmodseq, m.uidnext);
        let mut added = Vec::new();
        if let Some(first) = since_uid.checked_add(1).filter(|f| *f < next) {
            let lo = message_key(mailbox, first);
            let hi = message_key(mailbox, next);
            for kv in self.messages.range(lo..hi) {
                let (k, v) = kv?;
                added.push(MessageSummary::new(uid_of_key(&k)?, decode(&v)?));
            }
        }
        let mut changed = Vec::new();
        if since_modseq < h {
            let lo = modseq_key(mailbox, since_modseq + 1, 0);
            let hi = modseq_key(mailbox, h, u32::MAX);
            let mut uids = Vec::new();
            for k in self.modseqs.range(lo..=hi).keys() {
                let k = k?;
                let uid = k
                    .get(16..20)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes)
                    .ok_or_else(|| StoreError::Corrupt("bad modseq key".into()))?;
                if uid <= since_uid {
                    uids.push(uid);
                }
            }
            uids.sort_unstable();
            uids.dedup();
            for uid in uids {
                // Gone meanwhile: the next call reports it vanished.
                if let Some(s) = self.summary(mailbox, uid)? {
                    changed.push(s);
                }
            }
        }
        let vanished = self
            .vanished_between(mailbox, since_modseq, h)?
            .into_iter()
            .filter(|&(lo, _)| lo <= since_uid)
            .map(|(lo, hi)| (lo, hi.min(since_uid)))
            .collect();
        Ok(Changes {
            uidvalidity: m.uidvalidity,
            uidnext: next,
            highestmodseq: h,
            messages: m.messages,
            added,
            changed,
            vanished,
        })
    }

    /// Bounds the tombstones of a mailbox: past [`MAX_TOMBSTONES`] records
    /// the older half is merged into one (see the module doc). Not flushed:
    /// lost on a crash, the records are merged again later, and either
    /// state answers correctly.
    pub(super) fn compact_tombstones(&self, mailbox: u64) -> Result<(), StoreError> {
        let Some(m) = self.mailbox_by_id(mailbox)? else {
            return Ok(());
        };
        if m.tombstones <= MAX_TOMBSTONES {
            return Ok(());
        }
        let take = (m.tombstones / 2).max(2) as usize;
        let keys = self
            .vanished
            .scan_prefix(mailbox.to_be_bytes())
            .keys()
            .take(take)
            .collect::<Result<Vec<_>, _>>()?;
        let Some(last) = keys.last() else {
            return Ok(());
        };
        self.transact(|tx| {
            let Some((key, mut m)) = tx.mailbox_by_id(mailbox)? else {
                return Ok(());
            };
            let mut all = Vec::new();
            let mut removed = 0u32;
            for k in &keys {
                if let Some(v) = tx.gone.remove(k)? {
                    all.extend(super::tx_decode::<Tombstone>(&v)?.uids);
                    removed += 1;
                }
            }
            if removed == 0 {
                return Ok(());
            }
            let merged = Tombstone {
                uids: merge_ranges(all),
            };
            tx.gone.insert(last, encode(&merged))?;
            m.tombstones = m.tombstones.saturating_sub(removed) + 1;
            tx.put_mailbox(&key, &m)
        })
    }
}
