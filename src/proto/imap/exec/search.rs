//! The SEARCH executor (RFC 3501 §6.4.4, RFC 9051 §6.4.4) with ESEARCH
//! (RFC 4731), SEARCHRES `$` (RFC 5182) and MODSEQ (RFC 7162 §3.1.5).
//!
//! A search key is first compiled into a tree whose leaves are of three
//! costs: what the message summary and the context answer (flags, sizes,
//! internal dates, sets, mod-sequences), what the stored structure answers
//! (the Date field of SENTBEFORE/SENTON/SENTSINCE), and what needs the
//! message bytes (header fields, then body text). Each message is
//! evaluated in three-valued logic with the leaves it knows so far; the
//! structure is loaded, the header read, and the body read only while the
//! answer is still unknown. One pass over the header serves all header
//! keys of the message, one pass over the message all BODY/TEXT keys
//! ([`MessageSearch`]), and that pass skips the bytes of parts that hold
//! no text (attachments) and stops once every string is found.
//!
//! The cost is bounded by a [`Budget`]: each key evaluation costs
//! [`COST_KEY`], each structure loaded [`COST_STRUCTURE`], each byte read
//! one unit for every string looked for in it (each byte is fed to every
//! header or text search). Running out gives
//! [`SearchError::TooExpensive`]; a budget may also carry a deadline,
//! checked between messages and between reads ([`SearchError::TimeLimit`]).
//! A command with more than [`MAX_STRING_KEYS`] header and text keys is
//! refused before any work ([`SearchError::TooManyKeys`]).

use std::borrow::Cow;
use std::fmt;
use std::time::Instant;

use super::{InMemory, MessageBytes};
use crate::mail::address;
use crate::mail::date::DateTime;
use crate::mail::mime::search::{Finder, HeaderSearch, MessageSearch, Scope};
use crate::mail::mime::{Content, Part, Structure};
use crate::proto::imap::command::{Date, SearchKey, SearchReturn};
use crate::proto::imap::response;
use crate::proto::imap::sequence::{compact, SequenceSet};
use crate::store::{flags, MessageSummary};

/// Budget units one key evaluation costs (one node of the key tree, for
/// one message).
pub const COST_KEY: u64 = 1;

/// Budget units one message structure costs to load (decoding it from the
/// store is worth a few hundred bytes read).
pub const COST_STRUCTURE: u64 = 256;

/// Header and text keys (HEADER, FROM, SUBJECT, BODY, TEXT, ...) one
/// search may hold. Each byte read is fed to every one of them; a client
/// that wants more runs several searches.
pub const MAX_STRING_KEYS: usize = 32;

/// Bytes read at a time while searching text: between two reads the
/// budget is checked and a search whose strings are all found stops.
const WINDOW: u64 = 64 * 1024;

/// Zeros fed to the text scanner in place of the bytes of parts it skips
/// (it needs the offsets to advance, not the bytes); 16 KiB of static
/// data.
static ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];

/// One message of the mailbox, as the session knows it.
#[derive(Debug, Clone, Copy)]
pub struct SearchMessage<'a> {
    /// Message sequence number.
    pub seq: u32,
    /// UID.
    pub uid: u32,
    /// Flags, keywords, modseq, internal date and size.
    pub summary: &'a MessageSummary,
}

/// Gives the executor what it needs to look inside messages, on demand.
pub trait SearchSource {
    /// The MIME structure of message `uid`; `None` if it is gone (then no
    /// key that looks inside the message matches it).
    fn structure(&mut self, uid: u32) -> Option<Structure>;
    /// The bytes of message `uid`; `None` if it is gone.
    fn bytes(&mut self, uid: u32) -> Option<Box<dyn MessageBytes + '_>>;
}

/// What the keys refer to outside the message.
#[derive(Debug, Clone, Copy)]
pub struct SearchContext<'a> {
    /// The largest message sequence number, for `*` in sequence sets.
    pub largest_seq: u32,
    /// The largest UID in use, for `*` in UID sets.
    pub largest_uid: u32,
    /// The UIDs saved by SEARCHRES, for `$` (RFC 5182 §2.1).
    pub saved: &'a [u32],
    /// The UIDs `\Recent` in the session, as ranges `[from, to)` (see
    /// [`super::in_ranges`]); empty under IMAP4rev2.
    pub recent: &'a [(u32, u32)],
}

/// What one search may spend: budget units (see the module
/// documentation) and, when given, time up to a deadline. The clock is the
/// caller's: this module reads none.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Units left.
    pub units: u64,
    deadline: Option<(Instant, fn() -> Instant)>,
}

impl Budget {
    /// `units` to spend, with no deadline.
    pub fn new(units: u64) -> Budget {
        Budget {
            units,
            deadline: None,
        }
    }

    /// The same, stopped once `clock` reads `deadline` or later.
    pub fn until(self, deadline: Instant, clock: fn() -> Instant) -> Budget {
        Budget {
            deadline: Some((deadline, clock)),
            ..self
        }
    }

    fn charge(&mut self, n: u64) -> Result<(), SearchError> {
        self.units = self.units.checked_sub(n).ok_or(SearchError::TooExpensive)?;
        Ok(())
    }

    fn check_time(&self) -> Result<(), SearchError> {
        match self.deadline {
            Some((at, clock)) if clock() >= at => Err(SearchError::TimeLimit),
            _ => Ok(()),
        }
    }
}

/// Why a search failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchError {
    /// The budget ran out.
    TooExpensive,
    /// The deadline passed.
    TimeLimit,
    /// More than [`MAX_STRING_KEYS`] header and text keys.
    TooManyKeys,
    /// A message could not be read.
    Io(String),
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SearchError::TooExpensive => f.write_str("search too expensive"),
            SearchError::TimeLimit => f.write_str("search took too long"),
            SearchError::TooManyKeys => write!(
                f,
                "more than {MAX_STRING_KEYS} header and text keys in one search"
            ),
            SearchError::Io(e) => write!(f, "cannot read a message: {e}"),
        }
    }
}

impl std::error::Error for SearchError {}

/// Indexes into `msgs` of the messages that match `key`, ascending. Cost
/// is bounded: each key evaluation, structure loaded and byte read counts
/// against `budget` (see the module documentation); exceeding it gives
/// [`SearchError::TooExpensive`].
///
/// Several top-level keys of a command are passed as one
/// [`SearchKey::And`].
pub fn search(
    key: &SearchKey,
    msgs: &[SearchMessage<'_>],
    ctx: &SearchContext<'_>,
    src: &mut dyn SearchSource,
    budget: &mut Budget,
) -> Result<Vec<usize>, SearchError> {
    let matcher = Matcher::new(key, *ctx)?;
    let mut found = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        if matcher.matches(m, src, budget)? {
            found.push(i);
        }
    }
    Ok(found)
}

/// A search key compiled once, to test the messages of a mailbox one at
/// a time: the session walks the store's records and its view together
/// and holds one message, not a list of the mailbox. [`search`] is the
/// same over a list.
#[derive(Debug)]
pub struct Matcher<'k> {
    plan: Plan<'k>,
    root: Node<'k>,
    ctx: SearchContext<'k>,
    /// The saved UIDs, sorted.
    saved: Cow<'k, [u32]>,
}

impl<'k> Matcher<'k> {
    /// Compiles `key` for messages of the mailbox `ctx` describes; more
    /// than [`MAX_STRING_KEYS`] header and text keys are refused.
    pub fn new(key: &'k SearchKey, ctx: SearchContext<'k>) -> Result<Matcher<'k>, SearchError> {
        let mut plan = Plan::default();
        let root = plan.compile(key);
        if plan.headers.len() + plan.texts.len() > MAX_STRING_KEYS {
            return Err(SearchError::TooManyKeys);
        }
        let saved: Cow<'k, [u32]> = if ctx.saved.is_sorted() {
            Cow::Borrowed(ctx.saved)
        } else {
            let mut v = ctx.saved.to_vec();
            v.sort_unstable();
            Cow::Owned(v)
        };
        Ok(Matcher {
            plan,
            root,
            ctx,
            saved,
        })
    }

    /// Whether message `m` matches, reading no more of it than needed;
    /// the cost is charged to `budget` as [`search`] does.
    pub fn matches(
        &self,
        m: &SearchMessage<'_>,
        src: &mut dyn SearchSource,
        budget: &mut Budget,
    ) -> Result<bool, SearchError> {
        budget.check_time()?;
        let env = Env {
            ctx: &self.ctx,
            saved: &self.saved,
        };
        matches(&self.root, &self.plan, m, &env, src, budget)
    }
}

/// The untagged response (RFC 3501 §7.2.5, RFC 4731 §3.1):
/// - without RETURN options, `* SEARCH 1 2 3`, with ` (MODSEQ n)` when
///   `modseq` is given and something matched (RFC 7162 §3.1.5);
/// - with them, `* ESEARCH (TAG "x") [UID] MIN a MAX b COUNT c ALL set`
///   with the items asked for; when nothing matched, only `COUNT 0`
///   (RFC 4731 §3.1), and ` MODSEQ n` after the others when `modseq` is
///   given and something matched;
/// - nothing at all (an empty vector) for `RETURN (SAVE)` alone
///   (RFC 5182 §2.1).
///
/// `numbers` are the sequence numbers or UIDs to report, ascending.
pub fn search_response(
    tag: &str,
    uid: bool,
    ret: Option<&SearchReturn>,
    numbers: &[u32],
    modseq: Option<u64>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let modseq = modseq.filter(|_| !numbers.is_empty());
    let Some(r) = ret else {
        out.extend_from_slice(b"* SEARCH");
        for n in numbers {
            out.extend_from_slice(format!(" {n}").as_bytes());
        }
        if let Some(m) = modseq {
            out.extend_from_slice(format!(" (MODSEQ {m})").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        return out;
    };
    if !(r.min || r.max || r.all || r.count) {
        return out;
    }
    out.extend_from_slice(b"* ESEARCH (TAG ");
    response::string(&mut out, tag.as_bytes());
    out.push(b')');
    if uid {
        out.extend_from_slice(b" UID");
    }
    if let (Some(min), Some(max)) = (numbers.iter().min(), numbers.iter().max()) {
        if r.min {
            out.extend_from_slice(format!(" MIN {min}").as_bytes());
        }
        if r.max {
            out.extend_from_slice(format!(" MAX {max}").as_bytes());
        }
    }
    if r.count {
        out.extend_from_slice(format!(" COUNT {}", numbers.len()).as_bytes());
    }
    if r.all && !numbers.is_empty() {
        out.extend_from_slice(b" ALL ");
        out.extend_from_slice(compact(numbers.iter().copied()).as_bytes());
    }
    if let Some(m) = modseq {
        out.extend_from_slice(format!(" MODSEQ {m}").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The calendar date of an RFC 5322 date-time (§3.3, with the obsolete
/// forms of §4.3: comments anywhere, no day of week, two- or three-digit
/// years, full month names), in the field's own time zone, as SENTBEFORE,
/// SENTON and SENTSINCE compare it (RFC 3501 §6.4.4). The time must be
/// there and valid; the zone is not needed. `None` when not a date.
pub fn sent_date(value: &[u8]) -> Option<Date> {
    let d = DateTime::parse(value)?;
    Some(Date {
        year: u16::try_from(d.year).ok()?,
        month: u8::try_from(d.month).ok()?,
        day: u8::try_from(d.day).ok()?,
    })
}

/// Everything about the compiled key that is shared by all messages.
#[derive(Debug, Default)]
struct Plan<'k> {
    /// Header field searches: field name and string.
    headers: Vec<(&'k [u8], &'k str)>,
    /// BODY and TEXT strings.
    texts: Vec<(Scope, &'k str)>,
    /// Whether a SENT* key is used.
    sent: bool,
    /// FROM, TO, CC and BCC searches: field and string.
    addresses: Vec<(AddressField, &'k str)>,
}

/// The address fields SEARCH names, read from the cached envelope.
#[derive(Debug, Clone, Copy)]
enum AddressField {
    From,
    To,
    Cc,
    Bcc,
}

impl AddressField {
    fn value(self, e: &crate::mail::mime::Envelope) -> Option<&[u8]> {
        match self {
            AddressField::From => e.from.as_deref(),
            AddressField::To => e.to.as_deref(),
            AddressField::Cc => e.cc.as_deref(),
            AddressField::Bcc => e.bcc.as_deref(),
        }
    }
}

/// How a date key compares (RFC 3501 §6.4.4: BEFORE is strictly earlier,
/// SINCE is on or after).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateCmp {
    Before,
    On,
    Since,
}

impl DateCmp {
    fn test(self, got: Date, want: Date) -> bool {
        match self {
            DateCmp::Before => got < want,
            DateCmp::On => got == want,
            DateCmp::Since => got >= want,
        }
    }
}

/// A compiled key.
#[derive(Debug)]
enum Node<'k> {
    Const(bool),
    Seq(&'k SequenceSet),
    Uid(&'k SequenceSet),
    /// A system flag bit, set (`true`) or not.
    Flag(u8, bool),
    /// A keyword, present (`true`) or not.
    Keyword(&'k str, bool),
    Internal(DateCmp, Date),
    Larger(u64),
    Smaller(u64),
    ModSeq(u64),
    Sent(DateCmp, Date),
    /// `\Recent` in the session.
    Recent,
    /// Index into [`Plan::headers`].
    Header(usize),
    /// Index into [`Plan::addresses`].
    Address(usize),
    /// Index into [`Plan::texts`].
    Text(usize),
    Not(Box<Node<'k>>),
    And(Vec<Node<'k>>),
    Or(Box<Node<'k>>, Box<Node<'k>>),
}

impl<'k> Plan<'k> {
    fn header(&mut self, name: &'k str, needle: &'k str) -> Node<'k> {
        self.headers.push((name.as_bytes(), needle));
        Node::Header(self.headers.len() - 1)
    }

    fn address(&mut self, field: AddressField, needle: &'k str) -> Node<'k> {
        self.addresses.push((field, needle));
        Node::Address(self.addresses.len() - 1)
    }

    /// The field names of the header keys.
    fn header_names(&self) -> Vec<&'k [u8]> {
        self.headers.iter().map(|(n, _)| *n).collect()
    }

    fn text(&mut self, scope: Scope, needle: &'k str) -> Node<'k> {
        self.texts.push((scope, needle));
        Node::Text(self.texts.len() - 1)
    }

    fn compile(&mut self, key: &'k SearchKey) -> Node<'k> {
        use SearchKey as K;
        match key {
            K::SequenceSet(set) => Node::Seq(set),
            K::Uid(set) => Node::Uid(set),
            // RFC 3501 §6.4.4: OLD is NOT RECENT; NEW is RECENT UNSEEN.
            K::All => Node::Const(true),
            K::Recent => Node::Recent,
            K::Old => Node::Not(Box::new(Node::Recent)),
            K::New => Node::And(vec![Node::Recent, Node::Flag(flags::SEEN, false)]),
            K::Answered => Node::Flag(flags::ANSWERED, true),
            K::Deleted => Node::Flag(flags::DELETED, true),
            K::Draft => Node::Flag(flags::DRAFT, true),
            K::Flagged => Node::Flag(flags::FLAGGED, true),
            K::Seen => Node::Flag(flags::SEEN, true),
            K::Unanswered => Node::Flag(flags::ANSWERED, false),
            K::Undeleted => Node::Flag(flags::DELETED, false),
            K::Undraft => Node::Flag(flags::DRAFT, false),
            K::Unflagged => Node::Flag(flags::FLAGGED, false),
            K::Unseen => Node::Flag(flags::SEEN, false),
            K::Keyword(k) => Node::Keyword(k, true),
            K::Unkeyword(k) => Node::Keyword(k, false),
            K::Before(d) => Node::Internal(DateCmp::Before, *d),
            K::On(d) => Node::Internal(DateCmp::On, *d),
            K::Since(d) => Node::Internal(DateCmp::Since, *d),
            K::SentBefore(d) => self.sent(DateCmp::Before, *d),
            K::SentOn(d) => self.sent(DateCmp::On, *d),
            K::SentSince(d) => self.sent(DateCmp::Since, *d),
            K::Larger(n) => Node::Larger(*n),
            K::Smaller(n) => Node::Smaller(*n),
            // RFC 7162 §3.1.5: mod-sequence at least the value; the entry
            // name and type only matter with per-flag mod-sequences,
            // which this server does not keep.
            K::ModSeq { mod_seq, .. } => Node::ModSeq(*mod_seq),
            K::Header(name, value) => self.header(name, value),
            K::Subject(v) => self.header("subject", v),
            // RFC 3501 §6.4.4: the string is looked for in the field as a
            // client shows it (decoded display name and addr-spec, as
            // Dovecot matches), not in its raw form.
            K::From(v) => self.address(AddressField::From, v),
            K::To(v) => self.address(AddressField::To, v),
            K::Cc(v) => self.address(AddressField::Cc, v),
            K::Bcc(v) => self.address(AddressField::Bcc, v),
            K::Body(v) => self.text(Scope::Body, v),
            K::Text(v) => self.text(Scope::Text, v),
            K::Not(k) => Node::Not(Box::new(self.compile(k))),
            K::Or(a, b) => Node::Or(Box::new(self.compile(a)), Box::new(self.compile(b))),
            K::And(keys) => Node::And(keys.iter().map(|k| self.compile(k)).collect()),
        }
    }

    fn sent(&mut self, cmp: DateCmp, d: Date) -> Node<'k> {
        self.sent = true;
        Node::Sent(cmp, d)
    }
}

/// The search's surroundings.
struct Env<'a> {
    ctx: &'a SearchContext<'a>,
    /// The saved UIDs, sorted.
    saved: &'a [u32],
}

/// What is known of one message's contents so far (`None`: not yet).
#[derive(Debug)]
struct Facts {
    /// The Date field's date, if the structure was loaded (inner `None`:
    /// absent or not a date).
    sent: Option<Option<Date>>,
    address: Vec<Option<bool>>,
    header: Vec<Option<bool>>,
    text: Vec<Option<bool>>,
}

impl Facts {
    /// Everything not known yet is false: the message cannot be read.
    fn settle(&mut self) {
        self.sent.get_or_insert(None);
        for v in self
            .address
            .iter_mut()
            .chain(self.header.iter_mut())
            .chain(self.text.iter_mut())
        {
            v.get_or_insert(false);
        }
    }
}

fn charge(budget: &mut Budget, n: u64) -> Result<(), SearchError> {
    budget.charge(n)
}

fn io_error(e: std::io::Error) -> SearchError {
    SearchError::Io(e.to_string())
}

/// Whether one message matches, reading no more of it than needed.
fn matches(
    root: &Node<'_>,
    plan: &Plan<'_>,
    m: &SearchMessage<'_>,
    env: &Env<'_>,
    src: &mut dyn SearchSource,
    budget: &mut Budget,
) -> Result<bool, SearchError> {
    let mut facts = Facts {
        sent: None,
        address: vec![None; plan.addresses.len()],
        header: vec![None; plan.headers.len()],
        text: vec![None; plan.texts.len()],
    };
    if let Some(r) = eval(root, m, env, &facts, budget)? {
        return Ok(r);
    }
    charge(budget, COST_STRUCTURE)?;
    let Some(s) = src.structure(m.uid) else {
        facts.settle();
        return Ok(eval(root, m, env, &facts, budget)?.unwrap_or(false));
    };
    if plan.sent {
        facts.sent = Some(s.envelope.date.as_deref().and_then(sent_date));
        if let Some(r) = eval(root, m, env, &facts, budget)? {
            return Ok(r);
        }
    }
    facts.sent.get_or_insert(None);
    if !plan.addresses.is_empty() {
        charge(budget, COST_STRUCTURE)?;
        facts.address = plan
            .addresses
            .iter()
            .map(|(field, needle)| {
                let shown = field
                    .value(&s.envelope)
                    .map(|v| address::display(&address::parse_list(v)));
                Some(shown.is_some_and(|v| Finder::new(needle).feed(&v)))
            })
            .collect();
        if let Some(r) = eval(root, m, env, &facts, budget)? {
            return Ok(r);
        }
    }
    if plan.headers.is_empty() && plan.texts.is_empty() {
        return Ok(eval(root, m, env, &facts, budget)?.unwrap_or(false));
    }
    // Header keys on cached fields are answered without the file.
    if !plan.headers.is_empty() && s.fields.covers(&plan.header_names()) {
        let lines = s.fields.lines();
        let found = search_header(
            (0, lines.len() as u64),
            &plan.headers,
            &mut InMemory(lines),
            budget,
        )?;
        facts.header = found.into_iter().map(Some).collect();
        if let Some(r) = eval(root, m, env, &facts, budget)? {
            return Ok(r);
        }
    }
    if plan.texts.is_empty() && facts.header.iter().all(Option::is_some) {
        facts.settle();
        return Ok(eval(root, m, env, &facts, budget)?.unwrap_or(false));
    }
    let Some(mut bytes) = src.bytes(m.uid) else {
        facts.settle();
        return Ok(eval(root, m, env, &facts, budget)?.unwrap_or(false));
    };
    if facts.header.iter().any(Option::is_none) {
        let found = search_header(
            (s.root.header_start, s.root.header_len),
            &plan.headers,
            bytes.as_mut(),
            budget,
        )?;
        facts.header = found.into_iter().map(Some).collect();
        if let Some(r) = eval(root, m, env, &facts, budget)? {
            return Ok(r);
        }
    }
    if !plan.texts.is_empty() {
        let found = search_text(&s, &plan.texts, bytes.as_mut(), budget)?;
        facts.text = found.into_iter().map(Some).collect();
    }
    facts.settle();
    Ok(eval(root, m, env, &facts, budget)?.unwrap_or(false))
}

/// Evaluates `n` in three-valued logic (Kleene): `None` when it depends on
/// what is not known yet.
fn eval(
    n: &Node<'_>,
    m: &SearchMessage<'_>,
    env: &Env<'_>,
    facts: &Facts,
    budget: &mut Budget,
) -> Result<Option<bool>, SearchError> {
    charge(budget, COST_KEY)?;
    let sum = m.summary;
    let known = match n {
        Node::Const(b) => *b,
        Node::Seq(SequenceSet::Saved) | Node::Uid(SequenceSet::Saved) => {
            // RFC 5182 §2.1: `$` is the saved set of messages, which we
            // keep as UIDs.
            env.saved.binary_search(&m.uid).is_ok()
        }
        Node::Seq(set) => set.contains(m.seq, env.ctx.largest_seq),
        Node::Uid(set) => set.contains(m.uid, env.ctx.largest_uid),
        Node::Flag(bit, set) => (sum.flags & bit != 0) == *set,
        // RFC 9051 §2.3.2: keywords compare case-insensitively.
        Node::Keyword(k, set) => sum.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) == *set,
        Node::Internal(cmp, d) => cmp.test(utc_date(sum.internal_date), *d),
        Node::Larger(n) => sum.size > *n,
        Node::Smaller(n) => sum.size < *n,
        Node::ModSeq(n) => sum.modseq >= *n,
        Node::Recent => super::in_ranges(env.ctx.recent, m.uid),
        Node::Sent(cmp, d) => match facts.sent {
            None => return Ok(None),
            Some(None) => false,
            Some(Some(got)) => cmp.test(got, *d),
        },
        Node::Header(i) => return Ok(facts.header.get(*i).copied().flatten()),
        Node::Address(i) => return Ok(facts.address.get(*i).copied().flatten()),
        Node::Text(i) => return Ok(facts.text.get(*i).copied().flatten()),
        Node::Not(k) => return Ok(eval(k, m, env, facts, budget)?.map(|b| !b)),
        Node::And(keys) => {
            let mut all = Some(true);
            for k in keys {
                match eval(k, m, env, facts, budget)? {
                    Some(false) => return Ok(Some(false)),
                    None => all = None,
                    Some(true) => {}
                }
            }
            return Ok(all);
        }
        Node::Or(a, b) => {
            let a = eval(a, m, env, facts, budget)?;
            if a == Some(true) {
                return Ok(a);
            }
            return Ok(match (a, eval(b, m, env, facts, budget)?) {
                (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            });
        }
    };
    Ok(Some(known))
}

/// Reads `range` in windows, charging each to the budget once for each of
/// the `searches` it is fed to, until `done`.
#[allow(clippy::too_many_arguments)]
fn read_windows(
    bytes: &mut dyn MessageBytes,
    start: u64,
    len: u64,
    searches: usize,
    budget: &mut Budget,
    feed: &mut dyn FnMut(&[u8]),
    done: &mut dyn FnMut() -> bool,
) -> Result<(), SearchError> {
    let end = start + len;
    let mut at = start;
    while at < end && !done() {
        let n = WINDOW.min(end - at);
        charge(budget, n.saturating_mul(searches as u64))?;
        budget.check_time()?;
        bytes.read_range(at, n, feed).map_err(io_error)?;
        at += n;
    }
    Ok(())
}

/// Looks for every header key in the top-level header (its first `len`
/// bytes, from the file or the cached fields), read once.
fn search_header(
    (start, len): (u64, u64),
    keys: &[(&[u8], &str)],
    bytes: &mut dyn MessageBytes,
    budget: &mut Budget,
) -> Result<Vec<bool>, SearchError> {
    let mut searches: Vec<HeaderSearch> = keys
        .iter()
        .map(|(name, needle)| HeaderSearch::new(name, needle))
        .collect();
    read_windows(
        bytes,
        start,
        len,
        keys.len(),
        budget,
        &mut |chunk| searches.iter_mut().for_each(|h| h.feed(chunk)),
        &mut || false,
    )?;
    Ok(searches.into_iter().map(HeaderSearch::finish).collect())
}

/// Looks for every BODY/TEXT string in one pass over the message.
fn search_text(
    s: &Structure,
    keys: &[(Scope, &str)],
    bytes: &mut dyn MessageBytes,
    budget: &mut Budget,
) -> Result<Vec<bool>, SearchError> {
    let mut search = MessageSearch::new(s, keys);
    let mut pos = 0u64;
    for (start, end) in text_ranges(s) {
        if search.all_found() {
            break;
        }
        // The scanner ignores bytes outside its text; it only counts them.
        while pos < start {
            let n = (start - pos).min(ZEROS.len() as u64) as usize;
            search.feed(ZEROS.get(..n).unwrap_or_default());
            pos += n as u64;
        }
        let cell = std::cell::RefCell::new(&mut search);
        read_windows(
            bytes,
            start,
            end - start,
            keys.len(),
            budget,
            &mut |chunk| cell.borrow_mut().feed(chunk),
            &mut || cell.borrow().all_found(),
        )?;
        pos = end;
    }
    Ok(search.finish())
}

/// The byte ranges the text scan of [`MessageSearch`] looks at, sorted and
/// merged: the top-level header, text/* bodies, and the headers of
/// embedded messages (the same walk as
/// [`crate::mail::mime::search::TextScan`]).
fn text_ranges(s: &Structure) -> Vec<(u64, u64)> {
    fn header(p: &Part, out: &mut Vec<(u64, u64)>) {
        out.push((p.header_start, p.header_start + p.header_len));
    }
    fn walk(p: &Part, out: &mut Vec<(u64, u64)>) {
        match &p.content {
            Content::Single if p.is_text() => out.push((p.body_start, p.body_start + p.body_len)),
            Content::Single => {}
            Content::Multipart(children) => children.iter().for_each(|c| walk(c, out)),
            Content::Message(m) => {
                header(&m.root, out);
                walk(&m.root, out);
            }
        }
    }
    let mut ranges = Vec::new();
    header(&s.root, &mut ranges);
    walk(&s.root, &mut ranges);
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    // Never past the end of the message, whatever the structure says.
    merged
        .into_iter()
        .map(|(a, b)| (a.min(s.size), b.min(s.size)))
        .filter(|(a, b)| a < b)
        .collect()
}

/// The UTC calendar date of a Unix time (RFC 3501 §6.4.4 compares
/// internal dates by date; they carry no zone here, so UTC).
fn utc_date(secs: i64) -> Date {
    let (year, month, day) = crate::time::civil(secs.div_euclid(86_400));
    Date {
        year: year.clamp(0, i64::from(u16::MAX)) as u16,
        month: month as u8,
        day: day as u8,
    }
}

#[cfg(test)]
mod tests;
