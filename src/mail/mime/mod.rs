//! MIME structure of a stored message (RFC 5322, RFC 2045, RFC 2046).
//!
//! A stored message is its per-recipient prefix followed by the shared body
//! file; it is never held in memory whole. [`Parser`] is fed those bytes in
//! chunks of any size and records a [`Structure`]: the tree of parts with
//! byte offsets into the whole message, the fields BODYSTRUCTURE reports,
//! and the ENVELOPE fields of the message and of each embedded
//! message/rfc822. The structure is stored with the message ([`encode`],
//! [`decode()`]); IMAP FETCH renders it ([`crate::proto::imap::envelope`]),
//! resolves BODY[section] to byte ranges ([`section`]) and SEARCH decodes
//! text with it ([`search`]).
//!
//! # Limits
//! A hostile message must not be able to make the structure large:
//! - each kept header field value is cut at [`MAX_FIELD`] bytes;
//! - all kept strings of one message together are at most
//!   [`MAX_STRINGS`] bytes; fields past that are dropped (reported as NIL);
//! - at most [`MAX_PARTS`] parts and [`MAX_DEPTH`] levels of nesting;
//!   beyond them a multipart or message/rfc822 is kept as one opaque
//!   `application/octet-stream` part.
//!
//! # Sizes and lines
//! Offsets and sizes count the bytes as stored (bare LF ends a line and
//! counts one byte). The line count of a body is its number of LF bytes,
//! as Dovecot counts; the line end before a boundary line belongs to the
//! boundary (RFC 2046 §5.1.1), so it is in neither part.

pub mod decode;
pub mod fields;
#[cfg(test)]
pub(crate) mod fixtures;
mod parser;
pub mod search;
pub mod section;

pub use parser::Parser;

use crate::mail::header::Param;
use serde::{Deserialize, Serialize};

/// Longest header field value kept (after unfolding); longer values are
/// cut. RFC 5322 §2.1.1 limits lines to 998 bytes, but an unfolded To or
/// References field can be longer, so this allows a few lines' worth.
pub const MAX_FIELD: usize = 4096;

/// Budget for all kept strings of one message (field values, parameters),
/// so that the stored structure stays small whatever the message.
pub const MAX_STRINGS: usize = 64 * 1024;

/// Most parts recorded for one message. A part costs about 350 bytes while
/// parsing, so this bounds a parse at about 350 KiB.
pub const MAX_PARTS: usize = 1000;

/// Deepest nesting of multiparts and embedded messages recorded.
pub const MAX_DEPTH: usize = 100;

/// Longest boundary accepted (RFC 2046 §5.1.1 allows 70; some mailers
/// exceed it). A multipart with a longer one is kept opaque.
pub const MAX_BOUNDARY: usize = 200;

/// The structure of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Structure {
    /// The cached header fields (first, so that [`decode_fields`] reads
    /// them without the rest).
    pub fields: fields::Fields,
    /// Total size in bytes (prefix plus body file).
    pub size: u64,
    /// The message's ENVELOPE fields.
    pub envelope: Envelope,
    /// The message itself as a part: its header is the message header.
    pub root: Part,
}

/// The raw (unfolded, trimmed) header values ENVELOPE reports (RFC 3501
/// §7.4.2); `None` when the field is absent. Encoded words are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Date.
    pub date: Option<Vec<u8>>,
    /// Subject.
    pub subject: Option<Vec<u8>>,
    /// From.
    pub from: Option<Vec<u8>>,
    /// Sender.
    pub sender: Option<Vec<u8>>,
    /// Reply-To.
    pub reply_to: Option<Vec<u8>>,
    /// To.
    pub to: Option<Vec<u8>>,
    /// Cc.
    pub cc: Option<Vec<u8>>,
    /// Bcc.
    pub bcc: Option<Vec<u8>>,
    /// In-Reply-To.
    pub in_reply_to: Option<Vec<u8>>,
    /// Message-ID.
    pub message_id: Option<Vec<u8>>,
}

/// One MIME entity: its place in the message and its Content-* fields.
///
/// Offsets are into the whole stored message (prefix then body file). The
/// header includes the empty line that ends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Offset of the header.
    pub header_start: u64,
    /// Length of the header, with its ending empty line.
    pub header_len: u64,
    /// Offset of the body.
    pub body_start: u64,
    /// Length of the body: BODYSTRUCTURE's size.
    pub body_len: u64,
    /// LF bytes in the body: BODYSTRUCTURE's lines.
    pub body_lines: u64,
    /// Media type as written, or the RFC 2045 §5.2 default (`text`, or
    /// `message` in a multipart/digest, RFC 2046 §5.1.5).
    pub media_type: Vec<u8>,
    /// Subtype as written, or the default (`plain` / `rfc822`).
    pub subtype: Vec<u8>,
    /// Content-Type parameters (an absent charset of a text part is
    /// reported as us-ascii when rendered, not stored).
    pub params: Vec<Param>,
    /// Content-ID.
    pub id: Option<Vec<u8>>,
    /// Content-Description.
    pub description: Option<Vec<u8>>,
    /// Content-Transfer-Encoding token (absent or invalid: `None`).
    pub encoding: Option<Vec<u8>>,
    /// Content-Disposition (RFC 2183).
    pub disposition: Option<Disposition>,
    /// Content-Language tags (RFC 3282).
    pub language: Vec<Vec<u8>>,
    /// Content-Location (RFC 2557).
    pub location: Option<Vec<u8>>,
    /// Content-MD5 (RFC 1864).
    pub md5: Option<Vec<u8>>,
    /// What the body holds.
    pub content: Content,
}

/// A Content-Disposition field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disposition {
    /// `inline`, `attachment`...
    pub kind: Vec<u8>,
    /// Its parameters.
    pub params: Vec<Param>,
}

/// The body of a part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Content {
    /// A leaf: text, image, application, or anything kept opaque.
    Single,
    /// A multipart and its parts (RFC 2046 §5.1), possibly none when no
    /// boundary line was found.
    Multipart(Vec<Part>),
    /// A message/rfc822 or message/global (RFC 6532 §3.5) part and the
    /// message it holds, which spans the whole body.
    Message(Box<Embedded>),
}

/// An embedded message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Embedded {
    /// Its ENVELOPE fields.
    pub envelope: Envelope,
    /// Its top-level entity (header is the embedded message's header).
    pub root: Part,
}

impl Structure {
    /// The structure of `prefix` followed by the message this structure
    /// describes, without reading the message again: each recipient's
    /// prefix (Return-Path, Delivered-To, Received) differs, but the body
    /// file is shared and parsed once.
    ///
    /// `None` when the prefix is not made of complete header lines that
    /// the parser ignores (it must end with a line end, hold no empty
    /// line, start with a field, and hold no Content-* or ENVELOPE field):
    /// parse prefix and body together then.
    pub fn with_prefix(&self, prefix: &[u8]) -> Option<Structure> {
        if prefix.is_empty() {
            return Some(self.clone());
        }
        if !prefix.ends_with(b"\n") {
            return None;
        }
        for (i, line) in prefix.split_inclusive(|&b| b == b'\n').enumerate() {
            let content = line.strip_suffix(b"\n").unwrap_or(line);
            let content = content.strip_suffix(b"\r").unwrap_or(content);
            match content.first() {
                None => return None,
                Some(b' ' | b'\t') if i == 0 => return None,
                Some(b' ' | b'\t') => {}
                Some(_) => {
                    let colon = content.iter().position(|&b| b == b':')?;
                    let name = content.get(..colon).unwrap_or_default();
                    if parser::is_kept_field(name) || fields::Fields::is_cached(name) {
                        return None;
                    }
                }
            }
        }
        let n = prefix.len() as u64;
        let mut s = self.clone();
        s.size += n;
        shift(&mut s.root, n);
        s.root.header_start = 0;
        s.root.header_len += n;
        Some(s)
    }
}

/// Moves a part and everything in it `n` bytes further.
fn shift(p: &mut Part, n: u64) {
    p.header_start += n;
    p.body_start += n;
    match &mut p.content {
        Content::Single => {}
        Content::Multipart(children) => children.iter_mut().for_each(|c| shift(c, n)),
        Content::Message(m) => shift(&mut m.root, n),
    }
}

impl Part {
    /// Whether the media type is `text` (case-insensitive).
    pub fn is_text(&self) -> bool {
        self.media_type.eq_ignore_ascii_case(b"text")
    }

    /// The `charset` parameter, if given.
    pub fn charset(&self) -> Option<&[u8]> {
        crate::mail::header::param(&self.params, b"charset")
    }
}

/// How a stored structure is versioned: postcard writes the variant index
/// first, so it acts as the version byte.
#[derive(Deserialize)]
enum Stored {
    /// Before the cached header fields: reparsed when read.
    V1,
    V2(Box<Structure>),
}

/// The writing side of [`Stored`] (same layout, borrowed).
#[derive(Serialize)]
enum StoredRef<'a> {
    _V1,
    V2(&'a Structure),
}

/// The head of [`Stored`]: the header fields alone.
#[derive(Deserialize)]
enum StoredFields {
    V1,
    V2(fields::Fields),
}

/// The version [`encode`] writes; a changed layout gets a new variant and
/// [`decode()`] keeps reading the old ones (or the caller reparses).
pub const ENCODING_VERSION: u8 = 1;

/// Encodes a structure for `Message.cache`.
pub fn encode(s: &Structure) -> Vec<u8> {
    // postcard only fails on writer errors or unsupported types; a
    // structure is plain data written to a Vec.
    postcard::to_stdvec(&StoredRef::V2(s)).unwrap_or_default()
}

/// Decodes a structure written by [`encode`]; `None` if the bytes are not
/// one (corrupt, or written by a newer binary): reparse the message then.
pub fn decode(bytes: &[u8]) -> Option<Structure> {
    match postcard::take_from_bytes::<Stored>(bytes).ok()?.0 {
        Stored::V1 => None,
        Stored::V2(s) => Some(*s),
    }
}

/// The cached header fields of a structure written by [`encode`], read
/// without decoding the rest; `None` as for [`decode()`].
pub fn decode_fields(bytes: &[u8]) -> Option<fields::Fields> {
    match postcard::take_from_bytes::<StoredFields>(bytes).ok()?.0 {
        StoredFields::V1 => None,
        StoredFields::V2(f) => Some(f),
    }
}

/// Parses a whole message given as one slice (tests and small messages;
/// delivery should feed [`Parser`] as it writes the body).
pub fn parse(message: &[u8]) -> Structure {
    let mut p = Parser::new();
    p.feed(message);
    p.finish()
}
