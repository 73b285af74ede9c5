//! The records kept in the index, and their encoding.
//!
//! Each value is one version byte followed by the postcard encoding of the
//! record. A record type that changes gets a new version number (its
//! [`Record::VERSION`]); the store migrates old records when it opens an
//! older format (see `migrate.rs`), and the old layouts stay here in [`v1`].

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt;

/// A value kept in the index, with the version byte of its layout.
pub trait Record: Serialize + DeserializeOwned {
    /// The version byte this binary writes for the type.
    const VERSION: u8 = 1;
}

/// Encodes a record with its version byte.
pub fn encode<T: Record>(value: &T) -> Vec<u8> {
    let out = vec![T::VERSION];
    // postcard only fails on writer errors or unsupported types (none here:
    // every record is plain data), so an error here is a programming bug.
    match postcard::to_extend(value, out) {
        Ok(v) => v,
        Err(e) => unreachable!("postcard cannot encode a record: {e}"),
    }
}

/// Decodes a record, checking its version byte.
pub fn decode<T: Record>(bytes: &[u8]) -> Result<T, RecordError> {
    match bytes.split_first() {
        Some((&v, rest)) if v == T::VERSION => {
            postcard::from_bytes(rest).map_err(|e| RecordError(format!("corrupt record: {e}")))
        }
        Some((v, _)) => Err(RecordError(format!(
            "record version {v} is not known to this binary"
        ))),
        None => Err(RecordError("empty record".into())),
    }
}

/// A record that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError(pub String);

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mail domain we accept mail for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// Lower-case domain name.
    pub name: String,
    /// Unix time of creation.
    pub created: i64,
}

impl Record for Domain {}

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The account's address, lower-case, `local@domain`.
    pub address: String,
    /// argon2id hash in PHC string format.
    pub password_hash: String,
    /// Storage quota in bytes (0: the configured default).
    pub quota: u64,
    /// Unix time of creation.
    pub created: i64,
}

impl Record for Account {}

/// An alias: mail to `address` goes to every target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// `local@domain`, or `@domain` for a catch-all.
    pub address: String,
    /// Local accounts, other aliases or remote addresses.
    pub targets: Vec<String>,
}

impl Record for Alias {}

/// The special use of a mailbox (RFC 6154).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpecialUse {
    /// `\Sent`
    Sent,
    /// `\Drafts`
    Drafts,
    /// `\Junk`
    Junk,
    /// `\Trash`
    Trash,
    /// `\Archive`
    Archive,
}

impl SpecialUse {
    /// The RFC 6154 attribute.
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Archive => "\\Archive",
        }
    }
}

/// A mailbox (folder) of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// Internal id; messages are keyed by it, so renames keep them.
    pub id: u64,
    /// Owner address.
    pub account: String,
    /// Full name; `/` separates hierarchy levels.
    pub name: String,
    /// RFC 9051 §2.3.1.1: changes only when the mailbox is recreated.
    pub uidvalidity: u32,
    /// The UID the next message gets; UIDs are never reused.
    pub uidnext: u32,
    /// RFC 7162: the modseq of the latest change in this mailbox.
    pub highestmodseq: u64,
    /// Special-use attribute, if any.
    pub special_use: Option<SpecialUse>,
    /// Number of messages (STATUS MESSAGES).
    pub messages: u32,
    /// Messages without `\Seen` (STATUS UNSEEN).
    pub unseen: u32,
    /// Messages with `\Deleted` (STATUS DELETED, RFC 9051).
    pub deleted: u32,
    /// Sum of message sizes (STATUS SIZE, RFC 8438).
    pub size: u64,
    /// Tombstone records kept for this mailbox (bounded, see
    /// `Store::vanished_since`).
    pub tombstones: u32,
}

impl Record for Mailbox {
    // 2: counters added, `subscribed` moved to the subscriptions tree.
    const VERSION: u8 = 2;
}

impl Mailbox {
    /// Counts a message into the STATUS counters.
    pub(crate) fn count_in(&mut self, flags: u8, size: u64) {
        self.messages = self.messages.saturating_add(1);
        if flags & flags::SEEN == 0 {
            self.unseen = self.unseen.saturating_add(1);
        }
        if flags & flags::DELETED != 0 {
            self.deleted = self.deleted.saturating_add(1);
        }
        self.size = self.size.saturating_add(size);
    }

    /// Counts a message out of the STATUS counters.
    pub(crate) fn count_out(&mut self, flags: u8, size: u64) {
        self.messages = self.messages.saturating_sub(1);
        if flags & flags::SEEN == 0 {
            self.unseen = self.unseen.saturating_sub(1);
        }
        if flags & flags::DELETED != 0 {
            self.deleted = self.deleted.saturating_sub(1);
        }
        self.size = self.size.saturating_sub(size);
    }
}

/// System flags as bits.
pub mod flags {
    /// `\Seen`
    pub const SEEN: u8 = 1;
    /// `\Answered`
    pub const ANSWERED: u8 = 2;
    /// `\Flagged`
    pub const FLAGGED: u8 = 4;
    /// `\Deleted`
    pub const DELETED: u8 = 8;
    /// `\Draft`
    pub const DRAFT: u8 = 16;
}

/// The id of a message body: the SHA-256 of its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// Lower-case hex, the blob's file name.
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<BlobId> {
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(BlobId(out))
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", self.hex())
    }
}

/// One message in one mailbox: the whole view, assembled from its
/// [`MessageMeta`] and [`MessageBody`] records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Unique in the mailbox, increasing.
    pub uid: u32,
    /// System flags ([`flags`]).
    pub flags: u8,
    /// Keywords (user flags), such as `$Junk` or `$Forwarded`.
    pub keywords: Vec<String>,
    /// Internal date: Unix time of delivery or APPEND.
    pub internal_date: i64,
    /// Size of the message as clients see it: prefix plus body.
    pub size: u64,
    /// RFC 7162 modseq of the latest change to this message.
    pub modseq: u64,
    /// The size with CRLF line ends, as POP3 reports it.
    pub pop3_size: u64,
    /// Per-recipient header lines prepended to the shared body
    /// (Return-Path, Delivered-To, Received).
    pub prefix: Vec<u8>,
    /// The shared body file.
    pub blob: BlobId,
    /// Cached IMAP ENVELOPE and BODYSTRUCTURE, filled at delivery or on
    /// first use; the encoding belongs to the IMAP module.
    pub cache: Option<Vec<u8>>,
}

impl Message {
    /// Joins the two records of a message.
    pub fn from_parts(uid: u32, meta: MessageMeta, body: MessageBody) -> Message {
        Message {
            uid,
            flags: meta.flags,
            keywords: meta.keywords,
            internal_date: meta.internal_date,
            size: meta.size,
            modseq: meta.modseq,
            pop3_size: meta.pop3_size,
            prefix: body.prefix,
            blob: body.blob,
            cache: body.cache,
        }
    }
}

/// The small per-message record (tree `messages`, key mailbox id + UID):
/// what SELECT, FETCH FLAGS, STORE and the change feed read. The heavy parts
/// live in [`MessageBody`], so listing 10,000 messages decodes only these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// System flags ([`flags`]).
    pub flags: u8,
    /// Keywords (user flags).
    pub keywords: Vec<String>,
    /// RFC 7162 modseq of the latest change to this message.
    pub modseq: u64,
    /// Internal date: Unix time of delivery or APPEND.
    pub internal_date: i64,
    /// Size as clients see it: prefix plus body.
    pub size: u64,
    /// The size with every line ending in CRLF (a final line without one
    /// gets one): what POP3 STAT and LIST report (RFC 1939 §5, §11), kept
    /// so that a login need not read the bodies.
    pub pop3_size: u64,
}

impl Record for MessageMeta {
    // 2: the version-1 record of this tree was the whole message.
    // 3: `pop3_size` added.
    const VERSION: u8 = 3;
}

/// The heavy per-message record (tree `bodies`, same key as the meta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageBody {
    /// The shared body file.
    pub blob: BlobId,
    /// Per-recipient header lines prepended to the body.
    pub prefix: Vec<u8>,
    /// Cached IMAP structure (opaque to the store).
    pub cache: Option<Vec<u8>>,
}

impl Record for MessageBody {}

/// UIDs expunged at one modseq (tree `vanished`, key mailbox id +
/// modseq), as ascending, disjoint, inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tombstone {
    /// The expunged UIDs.
    pub uids: Vec<(u32, u32)>,
}

impl Record for Tombstone {}

/// A COPY that spans several transactions and has not finished (tree
/// `copies`, key: an id of the copy). Each batch of the copy adds its new
/// UIDs here in its own transaction, and the last batch removes the
/// record; one left at open is a COPY that never completed, whose
/// messages are removed again (RFC 9051 §6.4.7: an unsuccessful COPY
/// leaves the destination as it was).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCopy {
    /// The destination mailbox's id.
    pub mailbox: u64,
    /// The UIDs copied there so far, as ascending, disjoint, inclusive
    /// ranges.
    pub uids: Vec<(u32, u32)>,
}

impl Record for PendingCopy {}

/// DSN RET parameter (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ret {
    /// Return the full message.
    Full,
    /// Return the headers only.
    Hdrs,
}

/// Delivery state of one queued recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RcptState {
    /// Not yet delivered; will be tried again.
    Pending,
    /// Accepted by the next hop.
    Delivered,
    /// Permanently failed; a DSN is or was sent.
    Failed,
}

/// RFC 3461 §4.1 NOTIFY values as bits of [`QueueRecipient::notify`].
pub mod notify {
    /// NOTIFY=SUCCESS.
    pub const SUCCESS: u8 = 1;
    /// NOTIFY=FAILURE.
    pub const FAILURE: u8 = 2;
    /// NOTIFY=DELAY.
    pub const DELAY: u8 = 4;
    /// NOTIFY=NEVER.
    pub const NEVER: u8 = 8;
}

/// One recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRecipient {
    /// Envelope address.
    pub address: String,
    /// RFC 3461 NOTIFY as [`notify`] bits; 0 when not given.
    pub notify: u8,
    /// RFC 3461 ORCPT, as given.
    pub orcpt: Option<String>,
    /// Where delivery stands.
    pub state: RcptState,
    /// The last reply or error, for `queue list` and the DSN.
    pub last_error: Option<String>,
}

/// A message waiting for outbound delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// Queue id.
    pub id: u64,
    /// Envelope sender; empty for the null sender.
    pub sender: String,
    /// The body.
    pub blob: BlobId,
    /// Header lines to prepend (Received).
    pub prefix: Vec<u8>,
    /// Size of prefix plus body.
    pub size: u64,
    /// Unix time it was queued.
    pub created: i64,
    /// RFC 3461 ENVID.
    pub envid: Option<String>,
    /// RFC 3461 RET.
    pub ret: Option<Ret>,
    /// BODY=8BITMIME was declared.
    pub eight_bit: bool,
    /// SMTPUTF8 was declared.
    pub smtputf8: bool,
    /// Recipients and their states.
    pub recipients: Vec<QueueRecipient>,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Unix time of the next attempt.
    pub next_attempt: i64,
    /// A delay warning was sent (RFC 3464 `Action: delayed`).
    pub delay_warned: bool,
}

impl Record for QueueEntry {}

/// Layouts of store format 2, read only by the migration.
pub mod v2 {
    use super::Record;
    use serde::{Deserialize, Serialize};

    /// A format-2 message meta record (no `pop3_size`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct MessageMeta {
        /// System flags.
        pub flags: u8,
        /// Keywords.
        pub keywords: Vec<String>,
        /// Modseq.
        pub modseq: u64,
        /// Internal date.
        pub internal_date: i64,
        /// Size.
        pub size: u64,
    }

    impl Record for MessageMeta {
        const VERSION: u8 = 2;
    }
}

/// Layouts of store format 1, read only by the migration.
pub mod v1 {
    use super::{BlobId, Record, SpecialUse};
    use serde::{Deserialize, Serialize};

    /// A format-1 mailbox record.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Mailbox {
        /// Internal id.
        pub id: u64,
        /// Owner address.
        pub account: String,
        /// Full name.
        pub name: String,
        /// UIDVALIDITY.
        pub uidvalidity: u32,
        /// Next UID.
        pub uidnext: u32,
        /// Highest modseq.
        pub highestmodseq: u64,
        /// Special use.
        pub special_use: Option<SpecialUse>,
        /// Subscribed.
        pub subscribed: bool,
    }

    impl Record for Mailbox {}

    /// A format-1 message record (everything in one value).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Message {
        /// UID.
        pub uid: u32,
        /// System flags.
        pub flags: u8,
        /// Keywords.
        pub keywords: Vec<String>,
        /// Internal date.
        pub internal_date: i64,
        /// Size.
        pub size: u64,
        /// Modseq.
        pub modseq: u64,
        /// Prefix.
        pub prefix: Vec<u8>,
        /// Body.
        pub blob: BlobId,
        /// Cache.
        pub cache: Option<Vec<u8>>,
    }

    impl Record for Message {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_version_byte() {
        let m = MessageMeta {
            flags: flags::SEEN | flags::FLAGGED,
            keywords: vec!["$Junk".into()],
            internal_date: 1_700_000_000,
            size: 1234,
            modseq: 9,
            pop3_size: 1250,
        };
        let bytes = encode(&m);
        assert_eq!(bytes[0], 3);
        assert_eq!(decode::<MessageMeta>(&bytes).unwrap(), m);
        let b = MessageBody {
            blob: BlobId([7; 32]),
            prefix: b"Delivered-To: a@b\r\n".to_vec(),
            cache: Some(vec![1, 2]),
        };
        let bytes = encode(&b);
        assert_eq!(bytes[0], 1);
        assert_eq!(decode::<MessageBody>(&bytes).unwrap(), b);
    }

    #[test]
    fn unknown_versions_and_garbage_are_errors() {
        let mut bytes = encode(&Domain {
            name: "a.test".into(),
            created: 1,
        });
        bytes[0] = Domain::VERSION + 1;
        assert!(decode::<Domain>(&bytes).unwrap_err().0.contains("version"));
        assert!(decode::<Domain>(&[]).is_err());
        assert!(decode::<Domain>(&[Domain::VERSION, 0xff, 0xff]).is_err());
        // An old-layout message is not mistaken for the new small record.
        let old = encode(&v1::Message {
            uid: 1,
            flags: 0,
            keywords: vec![],
            internal_date: 0,
            size: 1,
            modseq: 1,
            prefix: vec![],
            blob: BlobId([0; 32]),
            cache: None,
        });
        assert!(decode::<MessageMeta>(&old).is_err());
    }

    #[test]
    fn blob_id_hex_round_trip() {
        let id = BlobId([0xab; 32]);
        assert_eq!(BlobId::from_hex(&id.hex()), Some(id));
        assert_eq!(BlobId::from_hex("zz"), None);
    }

    #[test]
    fn counters_follow_flags() {
        let mut m = Mailbox {
            id: 1,
            account: "a@b.test".into(),
            name: "INBOX".into(),
            uidvalidity: 1,
            uidnext: 1,
            highestmodseq: 1,
            special_use: None,
            messages: 0,
            unseen: 0,
            deleted: 0,
            size: 0,
            tombstones: 0,
        };
        m.count_in(flags::SEEN, 10);
        m.count_in(flags::DELETED, 5);
        assert_eq!((m.messages, m.unseen, m.deleted, m.size), (2, 1, 1, 15));
        m.count_out(flags::DELETED, 5);
        assert_eq!((m.messages, m.unseen, m.deleted, m.size), (1, 0, 0, 10));
    }
}
