//! Mailbox commands: SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE,
//! LIST, LSUB, STATUS and the commit of APPEND.

use super::{
    learn_keywords, response, store_flags, write_flags, write_flags_fetch, Selected, Session, State,
};
use crate::mail::mime;
use crate::proto::imap::command::{
    AppendMessage, ListCommand, Mailbox as MailboxArg, SelectParams, StatusItem,
};
use crate::store::{Mailbox, NewMessage, SpecialUse, StoreError, SEPARATOR};

/// Mailboxes listed at most by one LIST (each costs a name): bounds the
/// work a client can ask.
const MAX_LISTED: usize = 10_000;

impl Session {
    pub(super) fn select(
        &mut self,
        tag: &str,
        mailbox: &MailboxArg,
        params: &SelectParams,
        read_only: bool,
    ) {
        if params.qresync.is_some() && !self.qresync {
            // RFC 7162 §3.2.5: QRESYNC must be enabled first.
            return self.bad(tag, "ENABLE QRESYNC first");
        }
        let was_selected = matches!(self.state, State::Selected(_));
        // RFC 9051 §6.3.2: a failed SELECT leaves no mailbox selected.
        self.state = State::Authenticated;
        if was_selected && (self.qresync || self.rev2) {
            // RFC 7162 §3.2.11, RFC 9051 §7.1: the old mailbox is closed.
            self.line("* OK [CLOSED] Previous mailbox closed");
        }
        if params.condstore {
            self.condstore = true;
        }
        let Some(name) = self.name(mailbox) else {
            return self.line(&format!("{tag} NO [NONEXISTENT] Invalid mailbox name"));
        };
        let m = match self.store.mailbox(&self.account, &name) {
            Ok(Some(m)) => m,
            Ok(None) => return self.line(&format!("{tag} NO [NONEXISTENT] No such mailbox")),
            Err(e) => return self.store_error(tag, &e),
        };
        let mut watch = self.store.watch(m.id);
        watch.mark_seen();
        // One walk over the message records, holding one at a time: the
        // view's UIDs (as runs), the first unseen message and, under
        // QRESYNC, the messages changed since the client's modseq.
        let qresync = params
            .qresync
            .as_ref()
            .filter(|q| q.uid_validity == m.uidvalidity);
        let mut uids = super::UidList::new();
        let mut unseen = None;
        let mut changed = Vec::new();
        // RFC 9051 §7.3.5: FLAGS names the keywords the messages carry.
        let mut keywords = Vec::new();
        for s in self.store.walk_summaries(m.id) {
            let s = match s {
                Ok(s) => s,
                Err(e) => return self.store_error(tag, &e),
            };
            if !uids.push(s.uid) {
                continue;
            }
            let seq = uids.len() as u32;
            learn_keywords(&mut keywords, &s.keywords);
            if unseen.is_none() && s.flags & crate::store::flags::SEEN == 0 {
                unseen = Some(seq);
            }
            if let Some(q) = qresync {
                let known = q
                    .known_uids
                    .as_ref()
                    .is_none_or(|k| k.contains(s.uid, u32::MAX));
                if s.modseq > q.mod_seq && known {
                    changed.push((seq, s));
                }
            }
        }
        uids.shrink();
        let last_uid = m.uidnext.saturating_sub(1).max(uids.last().unwrap_or(0));
        write_flags(&mut self.out, &keywords, read_only);
        self.line(&format!("* {} EXISTS", uids.len()));
        // RFC 3501 §2.3.2, §6.3.1: the messages no session had as recent.
        let recent = super::take_recent(&self.store, self.rev2, m.id, read_only, last_uid + 1);
        if !self.rev2 {
            let n = recent.map_or(0, |(a, b)| uids.count_below(b) - uids.count_below(a));
            self.line(&format!("* {n} RECENT"));
            if let Some(n) = unseen {
                self.line(&format!("* OK [UNSEEN {n}] First unseen"));
            }
        }
        self.line(&format!("* OK [UIDVALIDITY {}] UIDs valid", m.uidvalidity));
        self.line(&format!(
            "* OK [UIDNEXT {}] Predicted next UID",
            last_uid + 1
        ));
        self.line(&format!("* OK [HIGHESTMODSEQ {}] Highest", m.highestmodseq));
        if self.rev2 {
            // RFC 9051 §6.3.2: the mailbox's LIST response.
            let sep = self.quoted_separator();
            self.out
                .extend_from_slice(format!("* LIST () {sep} ").as_bytes());
            self.write_mailbox(&m.name);
            self.out.extend_from_slice(b"\r\n");
        }
        let sel = Selected {
            id: m.id,
            name: m.name.clone(),
            read_only,
            uidvalidity: m.uidvalidity,
            uids,
            last_uid,
            modseq: m.highestmodseq,
            pending_expunge: Vec::new(),
            own_modseqs: Vec::new(),
            saved: Vec::new(),
            keywords,
            recent: recent.into_iter().collect(),
            watch,
        };
        if let Some(q) = qresync {
            self.qresync_select(&sel, q, &changed);
        }
        drop(changed);
        self.state = State::Selected(Box::new(sel));
        let mode = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        let what = if read_only { "EXAMINE" } else { "SELECT" };
        self.line(&format!("{tag} OK [{mode}] {what} completed"));
    }

    /// The QRESYNC part of SELECT (RFC 7162 §3.2.5.1): expunges since the
    /// client's modseq as `VANISHED (EARLIER)`, then the flags of messages
    /// changed since (`changed`: by sequence number, already limited to
    /// the client's known UIDs).
    fn qresync_select(
        &mut self,
        sel: &Selected,
        q: &crate::proto::imap::command::QResync,
        changed: &[(u32, crate::store::MessageSummary)],
    ) {
        match self.store.vanished_since(sel.id, q.mod_seq) {
            Ok(ranges) => {
                let set = super::intersect(&ranges, q.known_uids.as_ref(), u32::MAX);
                if !set.is_empty() {
                    self.line(&format!("* VANISHED (EARLIER) {set}"));
                }
            }
            Err(e) => log::error!("imap: reading expunges: {e}"),
        }
        for (seq, s) in changed {
            write_flags_fetch(&mut self.out, *seq, s, true, sel.is_recent(s.uid));
        }
    }

    pub(super) fn create(&mut self, tag: &str, mailbox: &MailboxArg, special: &[String]) {
        let Some(name) = self.name(mailbox) else {
            return self.line(&format!("{tag} NO [CANNOT] Invalid mailbox name"));
        };
        let mut use_ = None;
        for s in special {
            use_ = match special_use(s) {
                Some(u) if use_.is_none() => Some(u),
                // RFC 6154 §3: one we cannot give, or more than one.
                _ => return self.line(&format!("{tag} NO [USEATTR] Unsupported special use")),
            };
        }
        match self.store.create_mailbox(&self.account, &name, use_) {
            Ok(_) => self.done(tag, "CREATE completed"),
            Err(e) => self.store_error(tag, &e),
        }
    }

    pub(super) fn delete(&mut self, tag: &str, mailbox: &MailboxArg) {
        let Some(name) = self.name(mailbox) else {
            return self.line(&format!("{tag} NO [NONEXISTENT] No such mailbox"));
        };
        if let State::Selected(sel) = &self.state {
            if sel.name == name {
                // Deleting the selected mailbox: it is closed first
                // (RFC 9051 §6.3.5 leaves it to the server).
                self.state = State::Authenticated;
            }
        }
        match self.store.delete_mailbox(&self.account, &name) {
            Ok(()) => self.done(tag, "DELETE completed"),
            Err(e) => self.store_error(tag, &e),
        }
    }

    pub(super) fn rename(&mut self, tag: &str, from: &MailboxArg, to: &MailboxArg) {
        let (Some(f), Some(t)) = (self.name(from), self.name(to)) else {
            return self.line(&format!("{tag} NO [CANNOT] Invalid mailbox name"));
        };
        match self.store.rename_mailbox(&self.account, &f, &t) {
            Ok(()) => {
                if let State::Selected(sel) = &mut self.state {
                    if sel.name == f || sel.name.starts_with(&format!("{f}{SEPARATOR}")) {
                        sel.name = format!("{t}{}", sel.name.get(f.len()..).unwrap_or(""));
                    }
                }
                self.done(tag, "RENAME completed")
            }
            Err(e) => self.store_error(tag, &e),
        }
    }

    pub(super) fn subscribe(&mut self, tag: &str, mailbox: &MailboxArg, on: bool) {
        let Some(name) = self.name(mailbox) else {
            return self.line(&format!("{tag} NO [CANNOT] Invalid mailbox name"));
        };
        let r = if on {
            self.store.subscribe(&self.account, &name)
        } else {
            self.store.unsubscribe(&self.account, &name)
        };
        match r {
            Ok(()) => self.done(
                tag,
                if on {
                    "SUBSCRIBE completed"
                } else {
                    "UNSUBSCRIBE completed"
                },
            ),
            Err(e) => self.store_error(tag, &e),
        }
    }

    /// LIST (RFC 9051 §6.3.9) with the extensions of RFC 5258 (selection
    /// and return options), RFC 6154 (special use) and RFC 5819 (STATUS).
    pub(super) fn list(&mut self, tag: &str, l: &ListCommand) {
        if l.patterns.len() == 1 && l.patterns.first().is_some_and(|p| p.is_empty()) && !l.extended
        {
            // RFC 9051 §6.3.9: the hierarchy delimiter and root.
            let sep = self.quoted_separator();
            self.line(&format!("* LIST (\\Noselect) {sep} \"\""));
            return self.done(tag, "LIST completed");
        }
        let boxes = match self.store.mailboxes(&self.account) {
            Ok(b) => b,
            Err(e) => return self.store_error(tag, &e),
        };
        let subs = if l.select.subscribed || l.ret.subscribed {
            match self.store.subscriptions(&self.account) {
                Ok(s) => s,
                Err(e) => return self.store_error(tag, &e),
            }
        } else {
            Vec::new()
        };
        let patterns: Vec<Vec<char>> = l
            .patterns
            .iter()
            .filter_map(|p| {
                let full = format!("{}{}", l.reference, p);
                let full = if self.utf8 {
                    full
                } else {
                    crate::proto::imap::utf7::decode(full.as_bytes()).ok()?
                };
                Some(
                    canonical_pattern(&self.stored_pattern(&full))
                        .chars()
                        .collect(),
                )
            })
            .collect();
        // The selection criteria of RFC 5258 §3.1 and RFC 6154 §3.
        let meets = |name: &str| {
            (!l.select.subscribed || subs.iter().any(|s| s == name))
                && (!l.select.special_use
                    || boxes
                        .iter()
                        .any(|b| b.name == name && b.special_use.is_some()))
        };
        let recursive = l.select.recursive_match;
        let mut all = candidates(&boxes, &subs, l.select.subscribed);
        if recursive {
            // RFC 5258 §3.5: a name that does not meet the criteria is
            // listed when a descendant does; parents of subscribed names
            // count even when they exist nowhere.
            all.extend(candidates(&boxes, &subs, false));
            for sub in &subs {
                all.extend(ancestors(sub));
            }
            all.sort();
            all.dedup();
        }
        let mut names = all.clone();
        names.retain(|n| patterns.iter().any(|p| matches(p, n)));
        names.truncate(MAX_LISTED);
        let rev1_base = !l.extended && !self.rev2;
        for name in names {
            let m = boxes.iter().find(|b| b.name == name);
            // RFC 5258 §3.5: CHILDINFO tells of a descendant that meets
            // the criteria but is not listed itself; one that matches a
            // pattern is listed for itself, and CHILDINFO would be
            // redundant (the "SHOULD NOT" of example 9 in §5).
            let child_meets = recursive
                && all.iter().any(|c| {
                    is_child(c, &name) && meets(c) && !patterns.iter().any(|p| matches(p, c))
                });
            if !meets(&name) && !child_meets {
                continue;
            }
            let subscribed = subs.contains(&name);
            let has_children = boxes.iter().any(|b| is_child(&b.name, &name));
            let mut attrs: Vec<&str> = Vec::new();
            if m.is_none() {
                attrs.push(if rev1_base {
                    "\\Noselect"
                } else {
                    "\\NonExistent"
                });
            }
            attrs.push(if has_children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            if subscribed && (l.select.subscribed || l.ret.subscribed) {
                attrs.push("\\Subscribed");
            }
            if let Some(u) = m.and_then(|m| m.special_use) {
                attrs.push(u.attribute());
            }
            let sep = self.quoted_separator();
            self.out
                .extend_from_slice(format!("* LIST ({}) {sep} ", attrs.join(" ")).as_bytes());
            self.write_mailbox(&name);
            if child_meets {
                // RFC 5258 §3.5 (CHILDINFO): which criteria a descendant
                // meets.
                let mut info = Vec::new();
                if l.select.subscribed {
                    info.push("\"SUBSCRIBED\"");
                }
                if l.select.special_use {
                    info.push("\"SPECIAL-USE\"");
                }
                self.out
                    .extend_from_slice(format!(" (\"CHILDINFO\" ({}))", info.join(" ")).as_bytes());
            }
            self.out.extend_from_slice(b"\r\n");
            if let (Some(items), Some(m)) = (&l.ret.status, m) {
                self.status_line(m, items);
            }
        }
        self.done(tag, "LIST completed");
    }

    pub(super) fn lsub(&mut self, tag: &str, reference: &str, pattern: &str) {
        let (boxes, subs) = match (
            self.store.mailboxes(&self.account),
            self.store.subscriptions(&self.account),
        ) {
            (Ok(b), Ok(s)) => (b, s),
            (Err(e), _) | (_, Err(e)) => return self.store_error(tag, &e),
        };
        let full = format!("{reference}{pattern}");
        let full = if self.utf8 {
            full
        } else {
            crate::proto::imap::utf7::decode(full.as_bytes()).unwrap_or(full)
        };
        let p: Vec<char> = canonical_pattern(&self.stored_pattern(&full))
            .chars()
            .collect();
        // RFC 3501 §6.3.9: a level above a subscribed name that `%` hides
        // is listed with \Noselect when it is not subscribed itself.
        let mut names: Vec<(String, bool)> = subs.iter().map(|n| (n.clone(), true)).collect();
        for sub in subs.iter().filter(|n| !matches(&p, n)) {
            names.extend(
                ancestors(sub)
                    .filter(|a| !subs.contains(a))
                    .map(|a| (a, false)),
            );
        }
        names.sort_unstable();
        names.dedup();
        for (name, subscribed) in names.iter().filter(|(n, _)| matches(&p, n)) {
            let exists = boxes.iter().any(|b| &b.name == name);
            let attrs = if exists && *subscribed {
                ""
            } else {
                "\\Noselect"
            };
            let sep = self.quoted_separator();
            self.out
                .extend_from_slice(format!("* LSUB ({attrs}) {sep} ").as_bytes());
            self.write_mailbox(name);
            self.out.extend_from_slice(b"\r\n");
        }
        self.done(tag, "LSUB completed");
    }

    pub(super) fn status(&mut self, tag: &str, mailbox: &MailboxArg, items: &[StatusItem]) {
        let Some(name) = self.name(mailbox) else {
            return self.line(&format!("{tag} NO [NONEXISTENT] No such mailbox"));
        };
        match self.store.mailbox(&self.account, &name) {
            Ok(Some(m)) => {
                if items.contains(&StatusItem::HighestModSeq) {
                    // RFC 7162 §3.1: a CONDSTORE enabling command.
                    self.condstore = true;
                }
                self.status_line(&m, items);
                self.done(tag, "STATUS completed");
            }
            Ok(None) => self.line(&format!("{tag} NO [NONEXISTENT] No such mailbox")),
            Err(e) => self.store_error(tag, &e),
        }
    }

    /// `* STATUS name (items)` from the mailbox's counters (RFC 9051
    /// §7.3.4), no scan needed.
    fn status_line(&mut self, m: &Mailbox, items: &[StatusItem]) {
        let mut parts = Vec::new();
        for it in items {
            parts.push(match it {
                StatusItem::Messages => format!("MESSAGES {}", m.messages),
                // RFC 3501 §6.3.10: the messages the next session to
                // select the mailbox gets as recent.
                StatusItem::Recent => match self.store.recent_count(m.id) {
                    Ok(n) => format!("RECENT {n}"),
                    Err(e) => {
                        log::error!("imap: counting recent messages: {e}");
                        "RECENT 0".to_string()
                    }
                },
                StatusItem::UidNext => format!("UIDNEXT {}", m.uidnext),
                StatusItem::UidValidity => format!("UIDVALIDITY {}", m.uidvalidity),
                StatusItem::Unseen => format!("UNSEEN {}", m.unseen),
                StatusItem::Deleted => format!("DELETED {}", m.deleted),
                StatusItem::Size => format!("SIZE {}", m.size),
                StatusItem::HighestModSeq => format!("HIGHESTMODSEQ {}", m.highestmodseq),
                StatusItem::AppendLimit => format!("APPENDLIMIT {}", self.cfg.append_limit),
            });
        }
        self.out.extend_from_slice(b"* STATUS ");
        self.write_mailbox(&m.name);
        self.out
            .extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
    }

    /// The end of an APPEND command: commits the received messages
    /// (RFC 9051 §6.3.12) and answers with APPENDUID (RFC 4315 §3).
    pub(super) fn append_commit(
        &mut self,
        tag: &str,
        mailbox: &MailboxArg,
        msgs: &[AppendMessage],
    ) {
        let Some(state) = self.append.take() else {
            return self.line(&format!("{tag} NO Message data missing"));
        };
        if state.failed || state.done.len() != msgs.len() {
            return self.line(&format!(
                "{tag} NO [SERVERBUG] The message could not be stored"
            ));
        }
        let Some(name) = self.name(mailbox) else {
            return self.line(&format!("{tag} NO [TRYCREATE] No such mailbox"));
        };
        let junk = matches!(
            self.store.mailbox(&self.account, &name),
            Ok(Some(Mailbox {
                special_use: Some(SpecialUse::Junk),
                ..
            }))
        );
        // RFC 3502 §3: all the messages are added, or none.
        let mut ids = Vec::with_capacity(state.done.len());
        let messages = state
            .done
            .into_iter()
            .map(|(blob, structure, fl, date)| {
                let (bits, keywords) = store_flags(&fl);
                ids.push(blob.id);
                let msg = NewMessage {
                    flags: bits,
                    keywords,
                    internal_date: date.unwrap_or(self.unix_now),
                    cache: Some(mime::encode(&structure)),
                };
                (blob, msg)
            })
            .collect();
        let added = match self.store.append_all(&self.account, &name, messages) {
            Ok(a) => a,
            Err(StoreError::NotFound(_)) => {
                return self.line(&format!("{tag} NO [TRYCREATE] No such mailbox"))
            }
            Err(e) => return self.store_error(tag, &e),
        };
        if junk {
            for id in ids {
                self.junk.trained(&self.account, id, true);
            }
        }
        let validity = added.first().map_or(0, |a| a.uidvalidity);
        let uids: Vec<u32> = added.iter().map(|a| a.uid).collect();
        self.done(
            tag,
            &format!(
                "[APPENDUID {validity} {}] APPEND completed",
                response::sequence_set(uids)
            ),
        );
    }
}

/// The special use named by a CREATE USE attribute.
fn special_use(attr: &str) -> Option<SpecialUse> {
    let a = attr.to_ascii_lowercase();
    Some(match a.as_str() {
        "\\sent" => SpecialUse::Sent,
        "\\drafts" => SpecialUse::Drafts,
        "\\junk" => SpecialUse::Junk,
        "\\trash" => SpecialUse::Trash,
        "\\archive" => SpecialUse::Archive,
        _ => return None,
    })
}

/// `INBOX` at the start of a pattern in any case is INBOX (RFC 9051 §5.1).
fn canonical_pattern(p: &str) -> String {
    match p.get(..5) {
        Some(head) if head.eq_ignore_ascii_case("INBOX") => {
            let rest = p.get(5..).unwrap_or("");
            if rest.is_empty() || rest.starts_with(SEPARATOR) || rest.starts_with(['*', '%']) {
                return format!("INBOX{rest}");
            }
            p.to_string()
        }
        _ => p.to_string(),
    }
}

/// Names LIST may show: every mailbox and the levels above them (which
/// may not exist), or the subscriptions (with their levels above).
fn candidates(boxes: &[Mailbox], subs: &[String], subscribed_only: bool) -> Vec<String> {
    let mut names: Vec<String> = if subscribed_only {
        subs.to_vec()
    } else {
        let mut v: Vec<String> = boxes.iter().map(|b| b.name.clone()).collect();
        for b in boxes {
            for (i, c) in b.name.char_indices() {
                if c == SEPARATOR {
                    if let Some(p) = b.name.get(..i) {
                        v.push(p.to_string());
                    }
                }
            }
        }
        v
    };
    names.sort();
    names.dedup();
    names
}

/// The names above `name` in the hierarchy: `a` and `a/b` for `a/b/c`.
fn ancestors(name: &str) -> impl Iterator<Item = String> + '_ {
    name.char_indices()
        .filter(|(_, c)| *c == SEPARATOR)
        .filter_map(|(i, _)| name.get(..i).map(str::to_string))
}

fn is_child(name: &str, parent: &str) -> bool {
    name.len() > parent.len()
        && name.starts_with(parent)
        && name
            .get(parent.len()..)
            .is_some_and(|r| r.starts_with(SEPARATOR))
}

/// Matches a LIST pattern: `*` matches anything, `%` anything but the
/// separator (RFC 9051 §6.3.9). Dynamic programming, so the cost is
/// bounded by the product of the lengths whatever the pattern.
fn matches(pattern: &[char], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    let mut row = vec![false; name.len() + 1];
    row[0] = true;
    for &pc in pattern {
        let mut next = vec![false; name.len() + 1];
        match pc {
            '*' | '%' => {
                let mut reach = false;
                for j in 0..=name.len() {
                    if row[j] {
                        reach = true;
                    }
                    next[j] = reach;
                    if pc == '%' && name.get(j) == Some(&SEPARATOR) {
                        reach = false;
                    }
                }
            }
            c => {
                for j in 0..name.len() {
                    next[j + 1] = row[j] && name[j] == c;
                }
            }
        }
        row = next;
    }
    row[name.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        matches(&p.chars().collect::<Vec<_>>(), n)
    }

    #[test]
    fn list_patterns() {
        assert!(m("*", "a/b/c"));
        assert!(m("%", "INBOX"));
        assert!(!m("%", "a/b"));
        assert!(m("a/%", "a/b"));
        assert!(!m("a/%", "a/b/c"));
        assert!(m("a/*", "a/b/c"));
        assert!(m("S%t", "Sent"));
        assert!(!m("S%t", "Sen/t"));
        assert!(m("", ""));
        assert!(!m("Sent", "Sent/x"));
        assert_eq!(canonical_pattern("inbox/*"), "INBOX/*");
        assert_eq!(canonical_pattern("inboxes"), "inboxes");
    }
}
