//! The typed form of IMAP client commands (RFC 3501 §6, RFC 9051 §6 and the
//! extensions facteur implements).
//!
//! Values are owned and already checked: numbers are in range, dates are
//! real dates, flags that cannot be set are refused by the parser. Mailbox
//! names stay as received (modified UTF-7 or UTF-8); see
//! [`super::utf7`] for the conversion.

use std::fmt;

use super::sequence::SequenceSet;

/// One complete client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The tag the response must carry (RFC 9051 §2.2.1).
    pub tag: String,
    /// What the client asks for.
    pub body: CommandBody,
}

/// A mailbox name as received, INBOX normalised to upper case
/// (RFC 9051 §5.1: INBOX is case-insensitive).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mailbox(pub String);

impl Mailbox {
    /// Wraps a received name, turning any case of `inbox` into `INBOX`.
    pub fn new(name: String) -> Mailbox {
        if name.eq_ignore_ascii_case("INBOX") {
            Mailbox(String::from("INBOX"))
        } else {
            Mailbox(name)
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the INBOX.
    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A password or other secret; its `Debug` form never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A calendar date of SEARCH (RFC 9051 §9 `date`), e.g. `1-Feb-1994`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Year, e.g. 1994.
    pub year: u16,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of month, 1 to 31 (checked against the month).
    pub day: u8,
}

/// A message flag (RFC 9051 §2.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `\Seen`
    Seen,
    /// `\Answered`
    Answered,
    /// `\Flagged`
    Flagged,
    /// `\Deleted`
    Deleted,
    /// `\Draft`
    Draft,
    /// A keyword (an atom without backslash), e.g. `$Forwarded`, `$Junk`.
    /// Kept as sent; keywords compare case-insensitively.
    Keyword(String),
    /// Another backslash flag (`flag-extension`), without the backslash.
    /// Servers may ignore these.
    Extension(String),
}

/// A command and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    /// `CAPABILITY` (RFC 9051 §6.1.1).
    Capability,
    /// `NOOP` (RFC 9051 §6.1.2).
    Noop,
    /// `LOGOUT` (RFC 9051 §6.1.3).
    Logout,
    /// `STARTTLS` (RFC 9051 §6.2.1).
    StartTls,
    /// `AUTHENTICATE mechanism [initial-response]` (RFC 9051 §6.2.2,
    /// RFC 4959). Further responses come as [`super::Event::Line`] after
    /// [`super::Reader::expect_line`].
    Authenticate {
        /// Mechanism name, upper-cased.
        mechanism: String,
        /// SASL-IR initial response: base64 text, or `=` for empty.
        initial: Option<Secret>,
    },
    /// `LOGIN user password` (RFC 9051 §6.2.3).
    Login {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// `ENABLE cap...` (RFC 5161 §3.1), capability names upper-cased.
    Enable(Vec<String>),
    /// `SELECT` (RFC 9051 §6.3.2) with optional parameters.
    Select {
        /// Mailbox to open.
        mailbox: Mailbox,
        /// CONDSTORE / QRESYNC parameters.
        params: SelectParams,
    },
    /// `EXAMINE` (RFC 9051 §6.3.3): SELECT read-only.
    Examine {
        /// Mailbox to open.
        mailbox: Mailbox,
        /// CONDSTORE / QRESYNC parameters.
        params: SelectParams,
    },
    /// `CREATE mailbox [(USE (attrs))]` (RFC 9051 §6.3.4, RFC 6154 §3).
    Create {
        /// Name to create.
        mailbox: Mailbox,
        /// Special-use attributes asked for, e.g. `\Sent` (backslash kept).
        special_use: Vec<String>,
    },
    /// `DELETE` (RFC 9051 §6.3.5).
    Delete(Mailbox),
    /// `RENAME from to` (RFC 9051 §6.3.6).
    Rename {
        /// Existing name.
        from: Mailbox,
        /// New name.
        to: Mailbox,
    },
    /// `SUBSCRIBE` (RFC 9051 §6.3.7).
    Subscribe(Mailbox),
    /// `UNSUBSCRIBE` (RFC 9051 §6.3.8).
    Unsubscribe(Mailbox),
    /// `LIST` (RFC 9051 §6.3.9, RFC 5258, RFC 6154, RFC 5819).
    List(ListCommand),
    /// `LSUB reference pattern` (RFC 3501 §6.3.9).
    Lsub {
        /// Reference name.
        reference: String,
        /// Pattern with `*` and `%`.
        pattern: String,
    },
    /// `NAMESPACE` (RFC 9051 §6.3.10).
    Namespace,
    /// `STATUS mailbox (items)` (RFC 9051 §6.3.11).
    Status {
        /// Mailbox asked about.
        mailbox: Mailbox,
        /// Items asked for, in order.
        items: Vec<StatusItem>,
    },
    /// A complete `APPEND` (RFC 9051 §6.3.12, RFC 3502 MULTIAPPEND). The
    /// message data was streamed before as [`super::Event::AppendData`];
    /// this arrives once the command line has ended, when the messages
    /// may be committed.
    Append {
        /// Target mailbox.
        mailbox: Mailbox,
        /// One entry per message, in order.
        messages: Vec<AppendMessage>,
    },
    /// `IDLE` (RFC 2177, RFC 9051 §6.3.13): the `DONE` line is read with
    /// [`super::Reader::expect_line`].
    Idle,
    /// `CHECK` (RFC 3501 §6.4.1).
    Check,
    /// `CLOSE` (RFC 9051 §6.4.1).
    Close,
    /// `UNSELECT` (RFC 9051 §6.4.2).
    Unselect,
    /// `EXPUNGE`, or `UID EXPUNGE set` (RFC 9051 §6.4.3, RFC 4315 §2.1).
    Expunge {
        /// The UID set of UID EXPUNGE.
        uids: Option<SequenceSet>,
    },
    /// `[UID] SEARCH` (RFC 9051 §6.4.4).
    Search(SearchCommand),
    /// `[UID] FETCH` (RFC 9051 §6.4.5).
    Fetch(FetchCommand),
    /// `[UID] STORE` (RFC 9051 §6.4.6).
    Store(StoreCommand),
    /// `[UID] COPY set mailbox` (RFC 9051 §6.4.7).
    Copy {
        /// UIDs rather than sequence numbers.
        uid: bool,
        /// Messages to copy.
        set: SequenceSet,
        /// Destination.
        mailbox: Mailbox,
    },
    /// `[UID] MOVE set mailbox` (RFC 6851 §3.1, RFC 9051 §6.4.8).
    Move {
        /// UIDs rather than sequence numbers.
        uid: bool,
        /// Messages to move.
        set: SequenceSet,
        /// Destination.
        mailbox: Mailbox,
    },
    /// `ID (field value ...)` or `ID NIL` (RFC 2971 §3.1).
    Id(Vec<(String, Option<String>)>),
    /// `GETQUOTA root` (RFC 9208 §4.1.1).
    GetQuota(String),
    /// `GETQUOTAROOT mailbox` (RFC 9208 §4.1.2).
    GetQuotaRoot(Mailbox),
    /// `SETQUOTA root (resource limit ...)` (RFC 9208 §4.1.3).
    SetQuota {
        /// Quota root.
        root: String,
        /// Resource names (upper-cased) and limits.
        limits: Vec<(String, u64)>,
    },
}

/// Parameters of SELECT and EXAMINE (RFC 7162 §3.1.8, §3.2.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectParams {
    /// `(CONDSTORE)` was given.
    pub condstore: bool,
    /// `(QRESYNC (...))` was given.
    pub qresync: Option<QResync>,
}

/// The QRESYNC select parameter (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    /// The UIDVALIDITY the client last knew.
    pub uid_validity: u32,
    /// The last known mod-sequence.
    pub mod_seq: u64,
    /// UIDs the client knows.
    pub known_uids: Option<SequenceSet>,
    /// `(known-sequence-set known-uid-set)`.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// LIST arguments (RFC 5258 §3, RFC 9051 §6.3.9).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListCommand {
    /// Selection options (RFC 5258 §3.1).
    pub select: ListSelect,
    /// Reference name (as received).
    pub reference: String,
    /// One or more patterns with `*` and `%`.
    pub patterns: Vec<String>,
    /// Return options (RFC 5258 §3.2, RFC 6154 §5.1, RFC 5819).
    pub ret: ListReturn,
    /// The command used the extended syntax (selection options, several
    /// patterns or RETURN), so the extended response rules apply.
    pub extended: bool,
}

/// LIST selection options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListSelect {
    /// `SUBSCRIBED`
    pub subscribed: bool,
    /// `REMOTE`
    pub remote: bool,
    /// `RECURSIVEMATCH`
    pub recursive_match: bool,
    /// `SPECIAL-USE`
    pub special_use: bool,
}

/// LIST return options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListReturn {
    /// `CHILDREN`
    pub children: bool,
    /// `SUBSCRIBED`
    pub subscribed: bool,
    /// `SPECIAL-USE`
    pub special_use: bool,
    /// `STATUS (items)` (RFC 5819).
    pub status: Option<Vec<StatusItem>>,
}

/// A STATUS data item (RFC 9051 §6.3.11, RFC 7162, RFC 7889, RFC 8438).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    /// `MESSAGES`
    Messages,
    /// `RECENT` (IMAP4rev1 only)
    Recent,
    /// `UIDNEXT`
    UidNext,
    /// `UIDVALIDITY`
    UidValidity,
    /// `UNSEEN`
    Unseen,
    /// `DELETED`
    Deleted,
    /// `SIZE`
    Size,
    /// `HIGHESTMODSEQ` (RFC 7162 §3.1.6)
    HighestModSeq,
    /// `APPENDLIMIT` (RFC 7889 §4)
    AppendLimit,
}

/// The description of one APPEND message (its data is streamed apart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags to set on the new message.
    pub flags: Vec<Flag>,
    /// INTERNALDATE as a Unix timestamp, when given.
    pub date: Option<i64>,
    /// Octets of message data.
    pub size: u64,
}

/// `[UID] SEARCH` arguments (RFC 9051 §6.4.4, RFC 4731, RFC 5182).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchCommand {
    /// UID SEARCH.
    pub uid: bool,
    /// `RETURN (...)`: ESEARCH response wanted (RFC 4731 §3).
    pub ret: Option<SearchReturn>,
    /// `CHARSET` as given, upper-cased (only UTF-8 and US-ASCII pass the
    /// parser).
    pub charset: Option<String>,
    /// The criteria; several top-level keys are ANDed.
    pub criteria: Vec<SearchKey>,
}

/// ESEARCH return options (RFC 4731 §3.1, RFC 5182 §2). `RETURN ()`
/// means `RETURN (ALL)` and is parsed as such.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchReturn {
    /// `MIN`
    pub min: bool,
    /// `MAX`
    pub max: bool,
    /// `ALL`
    pub all: bool,
    /// `COUNT`
    pub count: bool,
    /// `SAVE` (RFC 5182): remember the result as `$`.
    pub save: bool,
}

/// A search criterion (RFC 9051 §6.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// A message set (sequence numbers), including `$`.
    SequenceSet(SequenceSet),
    /// `ALL`
    All,
    /// `ANSWERED`
    Answered,
    /// `BCC string`
    Bcc(String),
    /// `BEFORE date` (internal date)
    Before(Date),
    /// `BODY string`
    Body(String),
    /// `CC string`
    Cc(String),
    /// `DELETED`
    Deleted,
    /// `DRAFT`
    Draft,
    /// `FLAGGED`
    Flagged,
    /// `FROM string`
    From(String),
    /// `HEADER field-name string`
    Header(String, String),
    /// `KEYWORD flag`
    Keyword(String),
    /// `LARGER n`
    Larger(u64),
    /// `NEW` (RFC 3501)
    New,
    /// `NOT key`
    Not(Box<SearchKey>),
    /// `OLD` (RFC 3501)
    Old,
    /// `ON date`
    On(Date),
    /// `OR key key`
    Or(Box<SearchKey>, Box<SearchKey>),
    /// `RECENT` (RFC 3501)
    Recent,
    /// `SEEN`
    Seen,
    /// `SENTBEFORE date`
    SentBefore(Date),
    /// `SENTON date`
    SentOn(Date),
    /// `SENTSINCE date`
    SentSince(Date),
    /// `SINCE date`
    Since(Date),
    /// `SMALLER n`
    Smaller(u64),
    /// `SUBJECT string`
    Subject(String),
    /// `TEXT string`
    Text(String),
    /// `TO string`
    To(String),
    /// `UID set`
    Uid(SequenceSet),
    /// `UNANSWERED`
    Unanswered,
    /// `UNDELETED`
    Undeleted,
    /// `UNDRAFT`
    Undraft,
    /// `UNFLAGGED`
    Unflagged,
    /// `UNKEYWORD flag`
    Unkeyword(String),
    /// `UNSEEN`
    Unseen,
    /// A parenthesised group: all keys must match.
    And(Vec<SearchKey>),
    /// `MODSEQ [entry-name entry-type] modseq` (RFC 7162 §3.1.5).
    ModSeq {
        /// The optional metadata entry (name, `priv`/`shared`/`all`).
        entry: Option<(String, String)>,
        /// Matches messages with a mod-sequence at least this.
        mod_seq: u64,
    },
}

/// `[UID] FETCH` arguments (RFC 9051 §6.4.5, RFC 7162 §3.1.4, §3.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchCommand {
    /// UID FETCH.
    pub uid: bool,
    /// Messages.
    pub set: SequenceSet,
    /// Data items, macros expanded (ALL, FAST, FULL).
    pub attrs: Vec<FetchAttr>,
    /// `CHANGEDSINCE modseq`.
    pub changed_since: Option<u64>,
    /// `VANISHED` (UID FETCH with CHANGEDSINCE only).
    pub vanished: bool,
}

/// A FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttr {
    /// `ENVELOPE`
    Envelope,
    /// `FLAGS`
    Flags,
    /// `INTERNALDATE`
    InternalDate,
    /// `RFC822.SIZE`
    Rfc822Size,
    /// `RFC822` (same data as `BODY[]`, sets `\Seen`)
    Rfc822,
    /// `RFC822.HEADER` (same as `BODY.PEEK[HEADER]`)
    Rfc822Header,
    /// `RFC822.TEXT` (same as `BODY[TEXT]`, sets `\Seen`)
    Rfc822Text,
    /// `BODY`: the body structure without extension data.
    Body,
    /// `BODYSTRUCTURE`
    BodyStructure,
    /// `UID`
    Uid,
    /// `MODSEQ` (RFC 7162 §3.1.4)
    ModSeq,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    BodySection {
        /// `.PEEK`: do not set `\Seen`.
        peek: bool,
        /// Which part.
        section: Section,
        /// `<origin.count>`.
        partial: Option<Partial>,
    },
    /// `BINARY[part]<partial>` or `BINARY.PEEK` (RFC 3516 §4.2).
    Binary {
        /// `.PEEK`
        peek: bool,
        /// Part path (empty: the whole message).
        part: Vec<u32>,
        /// `<origin.count>`.
        partial: Option<Partial>,
    },
    /// `BINARY.SIZE[part]` (RFC 3516 §4.2).
    BinarySize {
        /// Part path.
        part: Vec<u32>,
    },
}

/// A body section spec (RFC 9051 §6.4.5 `section`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// Part numbers, e.g. `[1, 2]` for `1.2`; empty for the whole message.
    pub part: Vec<u32>,
    /// What of that part; `None` for the whole part.
    pub text: Option<SectionText>,
}

/// The text specifier of a section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`
    Header,
    /// `HEADER.FIELDS (names)`, names upper-cased.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (names)`, names upper-cased.
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`
    Text,
    /// `MIME` (only after a part number).
    Mime,
}

/// `<origin.count>` of a partial fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    /// First octet, counted from 0.
    pub origin: u32,
    /// Number of octets (non-zero).
    pub count: u32,
}

/// `[UID] STORE` arguments (RFC 9051 §6.4.6, RFC 7162 §3.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCommand {
    /// UID STORE.
    pub uid: bool,
    /// Messages.
    pub set: SequenceSet,
    /// `UNCHANGEDSINCE modseq`.
    pub unchanged_since: Option<u64>,
    /// What to do with the flags.
    pub action: StoreAction,
}

/// How STORE changes flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreAction {
    /// Replace, add or remove.
    pub mode: StoreMode,
    /// `.SILENT`: no untagged FETCH for the change.
    pub silent: bool,
    /// The flags.
    pub flags: Vec<Flag>,
}

/// `FLAGS`, `+FLAGS` or `-FLAGS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `FLAGS`
    Replace,
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
}
