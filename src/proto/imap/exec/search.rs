//! SEARCH executor.
// PLACEHOLDER: replaced by the real executor. It matches sequence sets,
// UID sets, flags, ALL, NOT/OR/AND, sizes and MODSEQ; any key that needs the
// message text matches nothing.

use super::MessageBytes;
use crate::mail::mime::Structure;
use crate::proto::imap::command::{SearchKey, SearchReturn};
use crate::proto::imap::sequence::compact;
use crate::store::{flags, MessageSummary};

/// One message to search.
pub struct SearchMessage<'a> {
    /// Sequence number.
    pub seq: u32,
    /// UID.
    pub uid: u32,
    /// Flags and sizes.
    pub summary: &'a MessageSummary,
}

/// Gives the executor what it needs to look inside messages.
pub trait SearchSource {
    /// The MIME structure of a message.
    fn structure(&mut self, uid: u32) -> Option<Structure>;
    /// The bytes of a message.
    fn bytes(&mut self, uid: u32) -> Option<Box<dyn MessageBytes + '_>>;
}

/// What `*` and `$` stand for.
pub struct SearchContext<'a> {
    /// Largest sequence number.
    pub largest_seq: u32,
    /// Largest UID.
    pub largest_uid: u32,
    /// SEARCHRES `$` (UIDs).
    pub saved: &'a [u32],
}

/// Why a search failed.
#[derive(Debug)]
pub enum SearchError {
    /// Over budget.
    TooExpensive,
    /// Reading a message failed.
    Io(String),
}

fn matches(key: &SearchKey, m: &SearchMessage<'_>, ctx: &SearchContext<'_>) -> bool {
    let f = m.summary.flags;
    match key {
        SearchKey::All => true,
        SearchKey::SequenceSet(crate::proto::imap::SequenceSet::Saved) => {
            ctx.saved.contains(&m.uid)
        }
        SearchKey::SequenceSet(s) => s.contains(m.seq, ctx.largest_seq),
        SearchKey::Uid(crate::proto::imap::SequenceSet::Saved) => ctx.saved.contains(&m.uid),
        SearchKey::Uid(s) => s.contains(m.uid, ctx.largest_uid),
        SearchKey::Seen => f & flags::SEEN != 0,
        SearchKey::Unseen => f & flags::SEEN == 0,
        SearchKey::Deleted => f & flags::DELETED != 0,
        SearchKey::Undeleted => f & flags::DELETED == 0,
        SearchKey::Flagged => f & flags::FLAGGED != 0,
        SearchKey::Unflagged => f & flags::FLAGGED == 0,
        SearchKey::Answered => f & flags::ANSWERED != 0,
        SearchKey::Unanswered => f & flags::ANSWERED == 0,
        SearchKey::Draft => f & flags::DRAFT != 0,
        SearchKey::Undraft => f & flags::DRAFT == 0,
        SearchKey::Keyword(k) => m.summary.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)),
        SearchKey::Unkeyword(k) => !m.summary.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)),
        SearchKey::Larger(n) => m.summary.size > *n,
        SearchKey::Smaller(n) => m.summary.size < *n,
        SearchKey::ModSeq { mod_seq, .. } => m.summary.modseq >= *mod_seq,
        SearchKey::Not(k) => !matches(k, m, ctx),
        SearchKey::Or(a, b) => matches(a, m, ctx) || matches(b, m, ctx),
        SearchKey::And(keys) => keys.iter().all(|k| matches(k, m, ctx)),
        SearchKey::Old => true,
        _ => false,
    }
}

/// Indexes into `msgs` of the messages that match `key`.
pub fn search(
    key: &SearchKey,
    msgs: &[SearchMessage<'_>],
    ctx: &SearchContext<'_>,
    _src: &mut dyn SearchSource,
    budget: &mut u64,
) -> Result<Vec<usize>, SearchError> {
    let mut out = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        *budget = budget.checked_sub(1).ok_or(SearchError::TooExpensive)?;
        if matches(key, m, ctx) {
            out.push(i);
        }
    }
    Ok(out)
}

/// The untagged SEARCH or ESEARCH response.
pub fn search_response(
    tag: &str,
    uid: bool,
    ret: Option<&SearchReturn>,
    numbers: &[u32],
    modseq: Option<u64>,
) -> Vec<u8> {
    let mut out = Vec::new();
    match ret {
        None => {
            out.extend_from_slice(b"* SEARCH");
            for n in numbers {
                out.extend_from_slice(format!(" {n}").as_bytes());
            }
            if let (Some(m), false) = (modseq, numbers.is_empty()) {
                out.extend_from_slice(format!(" (MODSEQ {m})").as_bytes());
            }
        }
        Some(r) => {
            out.extend_from_slice(format!("* ESEARCH (TAG \"{tag}\")").as_bytes());
            if uid {
                out.extend_from_slice(b" UID");
            }
            if let (true, Some(n)) = (r.min, numbers.first()) {
                out.extend_from_slice(format!(" MIN {n}").as_bytes());
            }
            if let (true, Some(n)) = (r.max, numbers.last()) {
                out.extend_from_slice(format!(" MAX {n}").as_bytes());
            }
            if r.count {
                out.extend_from_slice(format!(" COUNT {}", numbers.len()).as_bytes());
            }
            if r.all && !numbers.is_empty() {
                out.extend_from_slice(b" ALL ");
                out.extend_from_slice(compact(numbers.iter().copied()).as_bytes());
            }
            if let (Some(m), false) = (modseq, numbers.is_empty()) {
                out.extend_from_slice(format!(" MODSEQ {m}").as_bytes());
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}
