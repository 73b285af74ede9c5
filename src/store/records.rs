//! The records kept in the index, and their encoding.
//!
//! Each value is one version byte followed by the postcard encoding of the
//! record. A record type that changes gets a new version number and a
//! decoder for the old one, so stores written by older binaries keep opening.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt;

/// Version byte of every record this binary writes.
pub const RECORD_VERSION: u8 = 1;

/// Encodes a record with its version byte.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let out = vec![RECORD_VERSION];
    // postcard only fails on writer errors or unsupported types (none here:
    // every record is plain data), so an error here is a programming bug.
    match postcard::to_extend(value, out) {
        Ok(v) => v,
        Err(e) => unreachable!("postcard cannot encode a record: {e}"),
    }
}

/// Decodes a record, checking its version byte.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, RecordError> {
    match bytes.split_first() {
        Some((&RECORD_VERSION, rest)) => {
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

/// An alias: mail to `address` goes to every target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// `local@domain`, or `@domain` for a catch-all.
    pub address: String,
    /// Local accounts, other aliases or remote addresses.
    pub targets: Vec<String>,
}

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
    /// Full name, with the configured hierarchy separator.
    pub name: String,
    /// RFC 9051 §2.3.1.1: changes only when the mailbox is recreated.
    pub uidvalidity: u32,
    /// The UID the next message gets; UIDs are never reused.
    pub uidnext: u32,
    /// RFC 7162: the modseq of the latest change in this mailbox.
    pub highestmodseq: u64,
    /// Special-use attribute, if any.
    pub special_use: Option<SpecialUse>,
    /// Listed by LSUB / LIST (SUBSCRIBED).
    pub subscribed: bool,
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

/// One message in one mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Per-recipient header lines prepended to the shared body
    /// (Return-Path, Delivered-To, Received).
    pub prefix: Vec<u8>,
    /// The shared body file.
    pub blob: BlobId,
    /// Cached IMAP ENVELOPE and BODYSTRUCTURE, filled at delivery or on
    /// first use; the encoding belongs to the IMAP module.
    pub cache: Option<Vec<u8>>,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_version_byte() {
        let m = Message {
            uid: 7,
            flags: flags::SEEN | flags::FLAGGED,
            keywords: vec!["$Junk".into()],
            internal_date: 1_700_000_000,
            size: 1234,
            modseq: 9,
            prefix: b"Delivered-To: a@b\r\n".to_vec(),
            blob: BlobId([7; 32]),
            cache: None,
        };
        let bytes = encode(&m);
        assert_eq!(bytes[0], RECORD_VERSION);
        assert_eq!(decode::<Message>(&bytes).unwrap(), m);
    }

    #[test]
    fn unknown_versions_and_garbage_are_errors() {
        let mut bytes = encode(&Domain {
            name: "a.test".into(),
            created: 1,
        });
        bytes[0] = RECORD_VERSION + 1;
        assert!(decode::<Domain>(&bytes).unwrap_err().0.contains("version"));
        assert!(decode::<Domain>(&[]).is_err());
        assert!(decode::<Domain>(&[RECORD_VERSION, 0xff, 0xff]).is_err());
    }

    #[test]
    fn blob_id_hex_round_trip() {
        let id = BlobId([0xab; 32]);
        assert_eq!(BlobId::from_hex(&id.hex()), Some(id));
        assert_eq!(BlobId::from_hex("zz"), None);
    }
}
