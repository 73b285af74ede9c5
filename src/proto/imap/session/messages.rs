//! Commands of the selected state: FETCH, STORE, SEARCH, COPY, MOVE,
//! EXPUNGE, CLOSE, UNSELECT, CHECK.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{
    expunge_view, resolve, store_flags, structure_of, Action, Pending, Selected, Session, State,
    StoredBytes, SEARCH_BUDGET,
};
use crate::mail::mime::{self, Structure};
use crate::proto::imap::command::{
    CommandBody, FetchAttr, FetchCommand, SearchCommand, SearchKey, StoreCommand, StoreMode,
};
use crate::proto::imap::exec::fetch::{self, FetchMessage, FetchOptions};
use crate::proto::imap::exec::search::{
    self, Budget, SearchContext, SearchError, SearchMessage, SearchSource,
};
use crate::proto::imap::exec::{MessageBytes, Sink};
use crate::proto::imap::{response, SequenceSet};
use crate::store::{flags, BlobId, FlagOp, FlagUpdate, SpecialUse, Store, StoreError};

/// Messages fetched per [`Session::poll`] step when their responses are
/// small; a step also ends once a body is streamed or the output is big.
const FETCH_STEP: usize = 64;

/// Told when a user files a message as spam or as not spam: APPEND into
/// Junk, COPY/MOVE into Junk (`spam`), or out of Junk to anywhere but
/// Trash (not spam). The Bayes filter learns from it.
pub trait JunkTraining: Send + Sync {
    /// The message body `blob` of `account` was filed as spam (`true`) or
    /// as ham (`false`).
    fn trained(&self, account: &str, blob: BlobId, spam: bool);
}

/// Training that does nothing (no filter to train).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTraining;

impl JunkTraining for NoTraining {
    fn trained(&self, _account: &str, _blob: BlobId, _spam: bool) {}
}

/// A FETCH being answered, one message at a time.
pub(super) struct FetchJob {
    tag: String,
    uid: bool,
    attrs: Vec<FetchAttr>,
    items: Vec<(u32, u32)>,
    pos: usize,
    changed_since: Option<u64>,
    /// This FETCH enabled CONDSTORE: its OK tells HIGHESTMODSEQ.
    enabling: bool,
    needs_structure: bool,
    needs_bytes: bool,
}

/// Collects FETCH output; message bytes become actions.
struct JobSink<'a> {
    out: &'a mut Vec<u8>,
    actions: &'a mut VecDeque<Action>,
    prefix: &'a [u8],
    store: &'a Arc<Store>,
    blob: Option<BlobId>,
    failed: bool,
    streamed: bool,
}

impl Sink for JobSink<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    fn message_range(&mut self, start: u64, len: u64) {
        let plen = self.prefix.len() as u64;
        let end = start.saturating_add(len);
        if start < plen {
            let (a, b) = (start as usize, end.min(plen) as usize);
            let prefix = self.prefix.get(a..b).unwrap_or_default();
            self.out.extend_from_slice(&response::without_nul(prefix));
        }
        if end <= plen {
            return;
        }
        let from = start.max(plen) - plen;
        let file = self
            .blob
            .ok_or(())
            .and_then(|b| self.store.open_blob(&b).map_err(|_| ()));
        match file {
            Ok(file) => {
                if !self.out.is_empty() {
                    self.actions
                        .push_back(Action::Write(std::mem::take(self.out)));
                }
                self.actions.push_back(Action::SendFile {
                    file,
                    offset: from,
                    len: end - plen - from,
                });
                self.streamed = true;
            }
            Err(()) => self.failed = true,
        }
    }
}

/// Message text for SEARCH, read on demand.
struct Source<'a> {
    store: &'a Arc<Store>,
    mailbox: u64,
}

impl SearchSource for Source<'_> {
    fn structure(&mut self, uid: u32) -> Option<Structure> {
        structure_of(self.store, self.mailbox, uid).map(|s| s.0)
    }

    fn bytes(&mut self, uid: u32) -> Option<Box<dyn MessageBytes + '_>> {
        let m = self.store.message(self.mailbox, uid).ok()??;
        Some(Box::new(StoredBytes::new(self.store, m.prefix, m.blob)))
    }
}

/// What a SEARCH found.
struct Found {
    /// Sequence numbers, or UIDs for UID SEARCH, ascending.
    numbers: Vec<u32>,
    /// UIDs, kept only for SEARCHRES SAVE.
    uids: Vec<u32>,
    /// The highest modseq of the matches, when a MODSEQ key was used.
    modseq: Option<u64>,
    /// The modseqs of the first and of the last match, with `modseq`.
    ends: Option<(u64, u64)>,
}

/// Why a SEARCH failed.
enum Failure {
    Store(StoreError),
    Search(SearchError),
}

/// Runs a search over the view: the store's records and the view's UIDs,
/// both ascending by UID, are walked together, one message at a time, so
/// a search holds its matches and not a list of the mailbox.
fn search_view(
    store: &Arc<Store>,
    mut budget: Budget,
    sel: &Selected,
    key: &SearchKey,
    uid: bool,
    modseq_key: bool,
    save: bool,
) -> Result<Found, Failure> {
    let ctx = SearchContext {
        largest_seq: sel.uids.len() as u32,
        largest_uid: sel.uids.last().unwrap_or(0),
        saved: &sel.saved,
        recent: &sel.recent,
    };
    let matcher = search::Matcher::new(key, ctx).map_err(Failure::Search)?;
    let mut src = Source {
        store,
        mailbox: sel.id,
    };
    let mut found = Found {
        numbers: Vec::new(),
        uids: Vec::new(),
        modseq: None,
        ends: None,
    };
    let mut view = sel.uids.iter().zip(1u32..).peekable();
    for s in store.walk_summaries(sel.id) {
        let s = s.map_err(Failure::Store)?;
        // Messages of the view the store no longer has are skipped (an
        // expunge not reported yet); so are new ones the view lacks.
        while view.next_if(|&(u, _)| u < s.uid).is_some() {}
        let Some(&(u, seq)) = view.peek() else {
            break;
        };
        if u != s.uid {
            continue;
        }
        view.next();
        let m = SearchMessage {
            seq,
            uid: u,
            summary: &s,
        };
        if matcher
            .matches(&m, &mut src, &mut budget)
            .map_err(Failure::Search)?
        {
            found.numbers.push(if uid { u } else { seq });
            if save {
                found.uids.push(u);
            }
            if modseq_key {
                found.modseq = found.modseq.max(Some(s.modseq));
                let first = found.ends.map_or(s.modseq, |e| e.0);
                found.ends = Some((first, s.modseq));
            }
        }
    }
    Ok(found)
}

fn has_modseq(keys: &[SearchKey]) -> bool {
    keys.iter().any(|k| match k {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => has_modseq(std::slice::from_ref(k)),
        SearchKey::Or(a, b) => {
            has_modseq(std::slice::from_ref(a)) || has_modseq(std::slice::from_ref(b))
        }
        SearchKey::And(v) => has_modseq(v),
        _ => false,
    })
}

impl Session {
    pub(super) fn selected_command(&mut self, tag: &str, body: CommandBody) {
        match body {
            CommandBody::Check => self.done(tag, "CHECK completed"),
            CommandBody::Unselect => {
                self.state = State::Authenticated;
                self.line(&format!("{tag} OK UNSELECT completed"));
            }
            CommandBody::Close => {
                if let State::Selected(sel) = &self.state {
                    if !sel.read_only {
                        // RFC 9051 §6.4.1: expunge without EXPUNGE responses.
                        if let Err(e) = self.store.expunge_deleted(sel.id, None) {
                            log::error!("imap: CLOSE expunge: {e}");
                        }
                    }
                }
                self.state = State::Authenticated;
                self.line(&format!("{tag} OK CLOSE completed"));
            }
            CommandBody::Expunge { uids } => self.expunge(tag, uids.as_ref()),
            CommandBody::Search(s) => self.search(tag, &s),
            CommandBody::Fetch(f) => self.fetch(tag, f),
            CommandBody::Store(s) => self.store_cmd(tag, &s),
            CommandBody::Copy { uid, set, mailbox } => self.copy(tag, uid, &set, &mailbox, false),
            CommandBody::Move { uid, set, mailbox } => self.copy(tag, uid, &set, &mailbox, true),
            _ => self.bad(tag, "Command not valid in this state"),
        }
    }

    fn expunge(&mut self, tag: &str, uids: Option<&SequenceSet>) {
        let State::Selected(sel) = &mut self.state else {
            return;
        };
        if sel.read_only {
            return self.line(&format!("{tag} NO [READ-ONLY] Mailbox is read-only"));
        }
        let within: Option<Vec<u32>> = match uids {
            Some(set) => match resolve(sel, set, true) {
                Ok(v) => Some(v.into_iter().map(|(_, u)| u).collect()),
                Err(()) => return self.bad(tag, "Invalid UID set"),
            },
            None => None,
        };
        let id = sel.id;
        match self.store.expunge_deleted(id, within.as_deref()) {
            Ok(ex) => {
                let qresync = self.qresync;
                let mut out = Vec::new();
                if let Some(sel) = self.selected() {
                    expunge_view(sel, &ex.uids, qresync, &mut out);
                }
                self.out.extend_from_slice(&out);
                self.done(tag, "EXPUNGE completed");
            }
            Err(e) => self.store_error(tag, &e),
        }
    }

    fn search(&mut self, tag: &str, cmd: &SearchCommand) {
        let modseq_key = has_modseq(&cmd.criteria);
        let enabling = modseq_key && !self.condstore;
        if modseq_key {
            self.condstore = true;
        }
        let State::Selected(sel) = &mut self.state else {
            return;
        };
        let key = match cmd.criteria.as_slice() {
            [one] => one.clone(),
            many => SearchKey::And(many.to_vec()),
        };
        let save = cmd.ret.as_ref().is_some_and(|r| r.save);
        let mut budget = Budget::new(SEARCH_BUDGET);
        if let Some(clock) = self.cfg.clock {
            budget = budget.until(clock() + self.cfg.command_limit, clock);
        }
        let found = match search_view(&self.store, budget, sel, &key, cmd.uid, modseq_key, save) {
            Ok(f) => f,
            Err(Failure::Store(e)) => return self.store_error(tag, &e),
            // RFC 5530 §3: LIMIT, an operation beyond what the server allows.
            Err(Failure::Search(SearchError::TooExpensive)) => {
                return self.line(&format!("{tag} NO [LIMIT] Search too expensive"))
            }
            Err(Failure::Search(SearchError::TimeLimit)) => {
                return self.line(&format!("{tag} NO [LIMIT] Search took too long"))
            }
            Err(Failure::Search(SearchError::TooManyKeys)) => {
                return self.line(&format!(
                    "{tag} NO [LIMIT] At most {} header and text keys in one search",
                    search::MAX_STRING_KEYS
                ))
            }
            Err(Failure::Search(SearchError::Io(e))) => {
                log::error!("imap: SEARCH: {e}");
                return self.line(&format!("{tag} NO [SERVERBUG] Internal error"));
            }
        };
        let Found {
            numbers,
            uids,
            modseq,
            ends,
        } = found;
        // RFC 7162 §3.1.5: with MIN or MAX and neither ALL nor COUNT, the
        // MODSEQ is that of the message(s) returned.
        let modseq = match (&cmd.ret, ends) {
            (Some(r), Some((first, last))) if !r.all && !r.count => match (r.min, r.max) {
                (true, false) => Some(first),
                (false, true) => Some(last),
                (true, true) => Some(first.max(last)),
                (false, false) => modseq,
            },
            _ => modseq,
        };
        if let Some(r) = &cmd.ret {
            if r.save {
                // RFC 5182 §2.1: `$` now names these messages.
                sel.saved = uids;
            }
        }
        let silent = cmd
            .ret
            .as_ref()
            .is_some_and(|r| r.save && !(r.min || r.max || r.all || r.count));
        if !silent {
            let resp = search::search_response(tag, cmd.uid, cmd.ret.as_ref(), &numbers, modseq);
            self.out.extend_from_slice(&resp);
        }
        self.sync(cmd.uid);
        let code = self.highestmodseq_code(enabling);
        self.line(&format!("{tag} OK {code}SEARCH completed"));
    }

    fn fetch(&mut self, tag: &str, f: FetchCommand) {
        let mut enabling = false;
        if f.changed_since.is_some() || f.attrs.contains(&FetchAttr::ModSeq) {
            // RFC 7162 §3.1: CONDSTORE enabling.
            enabling = !self.condstore;
            self.condstore = true;
        }
        if f.vanished && (!self.qresync || !f.uid || f.changed_since.is_none()) {
            // RFC 7162 §3.2.6.
            return self.bad(tag, "VANISHED needs QRESYNC, UID FETCH and CHANGEDSINCE");
        }
        let qresync = self.qresync;
        let State::Selected(sel) = &mut self.state else {
            return;
        };
        let items = match resolve(sel, &f.set, f.uid) {
            Ok(v) => v,
            Err(()) => return self.bad(tag, "Invalid message sequence number"),
        };
        let mut attrs = f.attrs;
        if fetch::has_binary(&attrs) {
            // RFC 3516 §4.3: a BINARY item that cannot be answered fails
            // the command; find out before any response or \Seen change.
            // This reads each structure once more, only for BINARY.
            let refused = items.iter().find_map(|&(_, uid)| {
                let (s, _, _) = structure_of(&self.store, sel.id, uid)?;
                fetch::check_binary(&attrs, &s).err()
            });
            if let Some(r) = refused {
                return self.refuse(tag, &r);
            }
        }
        let mut out = Vec::new();
        if fetch::sets_seen(&attrs) && !sel.read_only {
            let uids: Vec<u32> = items.iter().map(|&(_, u)| u).collect();
            let update = FlagUpdate {
                op: FlagOp::Add,
                flags: flags::SEEN,
                keywords: Vec::new(),
                unchanged_since: None,
            };
            match self.store.store_flags(sel.id, &uids, &update) {
                Ok(r) => {
                    for x in r.results.iter().filter(|x| x.changed) {
                        if sel.own_modseqs.last() != Some(&x.modseq) {
                            sel.own_modseqs.push(x.modseq);
                        }
                    }
                }
                Err(e) => log::error!("imap: setting \\Seen: {e}"),
            }
            // RFC 9051 §6.4.5: report the changed flags.
            if !attrs.contains(&FetchAttr::Flags) {
                attrs.push(FetchAttr::Flags);
            }
        }
        if let (true, Some(since)) = (f.vanished && qresync, f.changed_since) {
            // RFC 7162 §3.2.6: expunged UIDs of the set, before the FETCHes.
            if let Ok(ranges) = self.store.vanished_since(sel.id, since) {
                let set = super::intersect(&ranges, Some(&f.set), sel.last_uid);
                if !set.is_empty() {
                    out.extend_from_slice(format!("* VANISHED (EARLIER) {set}\r\n").as_bytes());
                }
            }
        }
        self.out.extend_from_slice(&out);
        let needs_bytes = attrs.iter().any(|a| {
            matches!(
                a,
                FetchAttr::Rfc822
                    | FetchAttr::Rfc822Header
                    | FetchAttr::Rfc822Text
                    | FetchAttr::BodySection { .. }
                    | FetchAttr::Binary { .. }
                    | FetchAttr::BinarySize { .. }
            )
        });
        self.pending = Some(Pending::Job(FetchJob {
            tag: tag.to_string(),
            uid: f.uid,
            needs_structure: fetch::needs_structure(&attrs),
            needs_bytes,
            attrs,
            items,
            pos: 0,
            changed_since: f.changed_since,
            enabling,
        }));
    }

    /// Answers the next messages of a FETCH; ends it with the tagged OK.
    pub(super) fn run_job(&mut self) {
        let Some(Pending::Job(mut job)) = self.pending.take() else {
            return;
        };
        let State::Selected(sel) = &self.state else {
            return;
        };
        let id = sel.id;
        let opts = FetchOptions {
            utf8: self.utf8,
            uid: job.uid,
            modseq: self.condstore,
            rev2: self.rev2,
        };
        let mut n = 0;
        while let Some(&(seq, uid)) = job.items.get(job.pos) {
            if n >= FETCH_STEP || self.out.len() >= super::OUT_CHUNK || !self.actions.is_empty() {
                self.pending = Some(Pending::Job(job));
                return;
            }
            job.pos += 1;
            n += 1;
            let Ok(Some(summary)) = self.store.summary(id, uid) else {
                // Expunged meanwhile: RFC 9051 §7.5.1 lets it be left out.
                continue;
            };
            if job.changed_since.is_some_and(|c| summary.modseq <= c) {
                continue;
            }
            if job.attrs.contains(&FetchAttr::Flags) {
                if let State::Selected(sel) = &mut self.state {
                    sel.announce(&summary.keywords, &mut self.out);
                }
            }
            let (structure, prefix, blob) = if job.needs_structure {
                match structure_of(&self.store, id, uid) {
                    Some((s, p, b)) => (s, p, Some(b)),
                    None => continue,
                }
            } else if job.needs_bytes {
                match self.store.message(id, uid) {
                    Ok(Some(m)) => (size_only(m.size), m.prefix, Some(m.blob)),
                    _ => continue,
                }
            } else {
                (size_only(summary.size), Vec::new(), None)
            };
            let msg = FetchMessage {
                seq,
                uid,
                summary: &summary,
                structure: &structure,
                recent: matches!(&self.state, State::Selected(sel) if sel.is_recent(uid)),
            };
            let mut bytes =
                StoredBytes::new(&self.store, prefix.clone(), blob.unwrap_or(BlobId([0; 32])));
            let mut sink = JobSink {
                out: &mut self.out,
                actions: &mut self.actions,
                prefix: &prefix,
                store: &self.store,
                blob,
                failed: false,
                streamed: false,
            };
            let r = fetch::fetch_one(&job.attrs, &msg, &opts, &mut bytes, &mut sink);
            if let Some(refusal) = r.as_ref().err().and_then(fetch::refusal) {
                // Found before anything was written for this message (the
                // check in `fetch` makes it unlikely).
                let refusal = refusal.clone();
                self.sync(job.uid);
                return self.refuse(&job.tag, &refusal);
            }
            if r.is_err() || sink.failed {
                // A literal may be half written: the stream cannot go on.
                log::error!("imap: FETCH of UID {uid} for {} failed", self.account);
                self.line("* BYE Internal error reading a message");
                return self.close();
            }
        }
        self.sync(job.uid);
        let code = self.highestmodseq_code(job.enabling);
        self.line(&format!("{} OK {code}FETCH completed", job.tag));
    }

    /// `[HIGHESTMODSEQ n] ` for the tagged OK of the command that enabled
    /// CONDSTORE with a mailbox selected (RFC 7162 §3.1), or nothing.
    fn highestmodseq_code(&self, enabling: bool) -> String {
        match &self.state {
            State::Selected(sel) if enabling => format!("[HIGHESTMODSEQ {}] ", sel.modseq),
            _ => String::new(),
        }
    }

    /// Ends a FETCH whose BINARY item cannot be answered.
    fn refuse(&mut self, tag: &str, r: &fetch::BinaryRefusal) {
        self.line(&r.response(tag));
        if *r == fetch::BinaryRefusal::NotLeaf {
            self.count_bad();
        }
    }

    fn store_cmd(&mut self, tag: &str, s: &StoreCommand) {
        let enabling = s.unchanged_since.is_some() && !self.condstore;
        if s.unchanged_since.is_some() {
            self.condstore = true;
        }
        let condstore = self.condstore;
        let State::Selected(sel) = &mut self.state else {
            return;
        };
        if sel.read_only {
            return self.line(&format!("{tag} NO [READ-ONLY] Mailbox is read-only"));
        }
        let items = match resolve(sel, &s.set, s.uid) {
            Ok(v) => v,
            Err(()) => return self.bad(tag, "Invalid message sequence number"),
        };
        let (bits, keywords) = store_flags(&s.action.flags);
        let update = FlagUpdate {
            op: match s.action.mode {
                StoreMode::Replace => FlagOp::Replace,
                StoreMode::Add => FlagOp::Add,
                StoreMode::Remove => FlagOp::Remove,
            },
            flags: bits,
            keywords,
            unchanged_since: s.unchanged_since,
        };
        let uids: Vec<u32> = items.iter().map(|&(_, u)| u).collect();
        let res = match self.store.store_flags(sel.id, &uids, &update) {
            Ok(r) => r,
            Err(StoreError::Invalid(t)) => return self.line(&format!("{tag} NO [LIMIT] {t}")),
            Err(e) => return self.store_error(tag, &e),
        };
        // `items` is ascending by sequence number, so by UID too.
        let seq_of = |u: u32| {
            items
                .binary_search_by_key(&u, |x| x.1)
                .ok()
                .and_then(|i| items.get(i))
                .map_or(0, |x| x.0)
        };
        let mut out = Vec::new();
        for r in &res.results {
            sel.announce(&r.keywords, &mut out);
        }
        for r in &res.results {
            if r.changed && sel.own_modseqs.last() != Some(&r.modseq) {
                sel.own_modseqs.push(r.modseq);
            }
            // RFC 9051 §6.4.6: .SILENT asks for no FETCH of the new flags.
            // Under CONDSTORE a changed message still gets one with its
            // new MODSEQ, so that the client's cache stays right (RFC 7162
            // §3.1.3).
            if s.action.silent {
                if condstore && r.changed {
                    let seq = seq_of(r.uid);
                    out.extend_from_slice(
                        format!("* {seq} FETCH (UID {} MODSEQ ({}))\r\n", r.uid, r.modseq)
                            .as_bytes(),
                    );
                }
                continue;
            }
            out.extend_from_slice(format!("* {} FETCH (", seq_of(r.uid)).as_bytes());
            if s.uid {
                out.extend_from_slice(format!("UID {} ", r.uid).as_bytes());
            }
            out.extend_from_slice(b"FLAGS ");
            let recent = sel.is_recent(r.uid);
            response::flag_list(&mut out, &super::flag_list(r.flags, &r.keywords), recent);
            if condstore {
                out.extend_from_slice(format!(" MODSEQ ({})", r.modseq).as_bytes());
            }
            out.extend_from_slice(b")\r\n");
        }
        let modified = if res.failed.is_empty() {
            String::new()
        } else {
            let nums: Vec<u32> = if s.uid {
                res.failed.clone()
            } else {
                res.failed.iter().map(|&u| seq_of(u)).collect()
            };
            format!("[MODIFIED {}] ", response::sequence_set(nums))
        };
        self.out.extend_from_slice(&out);
        self.sync(s.uid);
        let mut code = self.highestmodseq_code(enabling);
        if !modified.is_empty() && !code.is_empty() {
            // One response code per response: HIGHESTMODSEQ goes untagged.
            self.line(&format!("* OK {code}Highest"));
            code = modified;
        } else {
            code.push_str(&modified);
        }
        self.line(&format!("{tag} OK {code}STORE completed"));
    }

    fn copy(
        &mut self,
        tag: &str,
        uid: bool,
        set: &SequenceSet,
        mailbox: &crate::proto::imap::command::Mailbox,
        is_move: bool,
    ) {
        let Some(dest) = self.name(mailbox) else {
            return self.line(&format!("{tag} NO [TRYCREATE] No such mailbox"));
        };
        let qresync = self.qresync;
        let account = self.account.clone();
        let store = self.store.clone();
        let junk = self.junk.clone();
        let State::Selected(sel) = &mut self.state else {
            return;
        };
        if is_move && sel.read_only {
            return self.line(&format!("{tag} NO [READ-ONLY] Mailbox is read-only"));
        }
        let items = match resolve(sel, set, uid) {
            Ok(v) => v,
            Err(()) => return self.bad(tag, "Invalid message sequence number"),
        };
        let what = if is_move { "MOVE" } else { "COPY" };
        if items.is_empty() {
            // RFC 9051 §6.4.9: a UID set naming nothing is not an error.
            return self.done(tag, &format!("{what} completed"));
        }
        let uids: Vec<u32> = items.iter().map(|&(_, u)| u).collect();
        // Junk training: into Junk is spam; out of Junk is ham, unless to
        // Trash (deleting spam says nothing about it).
        let src_use = store
            .mailbox_by_id(sel.id)
            .ok()
            .flatten()
            .and_then(|m| m.special_use);
        let dst_use = store
            .mailbox(&account, &dest)
            .ok()
            .flatten()
            .and_then(|m| m.special_use);
        let is_junk = |u: Option<SpecialUse>| u == Some(SpecialUse::Junk);
        let train = if is_junk(dst_use) && !is_junk(src_use) {
            Some(true)
        } else if is_junk(src_use) && !is_junk(dst_use) && dst_use != Some(SpecialUse::Trash) {
            Some(false)
        } else {
            None
        };
        let blobs: Vec<BlobId> = if train.is_some() {
            uids.iter()
                .filter_map(|&u| store.message(sel.id, u).ok().flatten().map(|m| m.blob))
                .collect()
        } else {
            Vec::new()
        };
        let result = if is_move {
            store.move_messages(sel.id, &uids, &dest)
        } else {
            store.copy(sel.id, &uids, &dest).map(|c| {
                let ex = crate::store::Expunged {
                    uids: Vec::new(),
                    highestmodseq: 0,
                };
                (c, ex)
            })
        };
        let (copied, expunged) = match result {
            Ok(x) => x,
            Err(StoreError::NotFound(_)) => {
                return self.line(&format!("{tag} NO [TRYCREATE] No such mailbox"))
            }
            Err(e) => return self.store_error(tag, &e),
        };
        if let Some(spam) = train {
            for b in blobs {
                junk.trained(&account, b, spam);
            }
        }
        let code = if copied.source.is_empty() {
            String::new()
        } else {
            format!(
                "[COPYUID {} {} {}] ",
                copied.uidvalidity,
                response::sequence_set(copied.source.iter().copied()),
                response::sequence_set(copied.dest.iter().copied())
            )
        };
        if is_move {
            // RFC 6851 §4.3: COPYUID in an untagged OK before the expunges.
            let mut out = Vec::new();
            if !code.is_empty() {
                out.extend_from_slice(format!("* OK {code}Moved\r\n").as_bytes());
            }
            expunge_view(sel, &expunged.uids, qresync, &mut out);
            self.out.extend_from_slice(&out);
            self.done(tag, "MOVE completed");
        } else {
            self.done(tag, &format!("{code}COPY completed"));
        }
    }
}

/// A structure that only knows the size, for FETCHes that need no more.
fn size_only(size: u64) -> Structure {
    let mut s = mime::parse(b"");
    s.size = size;
    s.fields = mime::fields::Fields::default();
    s
}
