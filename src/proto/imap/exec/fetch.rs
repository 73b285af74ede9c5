//! FETCH executor.
// PLACEHOLDER: replaced by the real executor. It writes FLAGS, UID,
// RFC822.SIZE, MODSEQ, INTERNALDATE and whole-message BODY[] / RFC822 only.

use super::{MessageBytes, Sink};
use crate::mail::mime::Structure;
use crate::proto::imap::command::{FetchAttr, Flag, Section};
use crate::proto::imap::response;
use crate::store::{flags, MessageSummary};

/// One message to fetch.
pub struct FetchMessage<'a> {
    /// Sequence number.
    pub seq: u32,
    /// UID.
    pub uid: u32,
    /// Flags and sizes, after any `\Seen` update.
    pub summary: &'a MessageSummary,
    /// MIME structure of the whole message.
    pub structure: &'a Structure,
}

/// How to render.
pub struct FetchOptions {
    /// Quoted UTF-8 allowed.
    pub utf8: bool,
    /// UID FETCH.
    pub uid: bool,
    /// CONDSTORE active.
    pub modseq: bool,
    /// IMAP4rev2.
    pub rev2: bool,
}

/// Whether the attributes set `\Seen`.
pub fn sets_seen(attrs: &[FetchAttr]) -> bool {
    attrs.iter().any(|a| {
        matches!(
            a,
            FetchAttr::Rfc822
                | FetchAttr::Rfc822Text
                | FetchAttr::BodySection { peek: false, .. }
                | FetchAttr::Binary { peek: false, .. }
        )
    })
}

/// Whether any attribute needs the MIME structure.
pub fn needs_structure(attrs: &[FetchAttr]) -> bool {
    attrs.iter().any(|a| {
        matches!(
            a,
            FetchAttr::Envelope
                | FetchAttr::Body
                | FetchAttr::BodyStructure
                | FetchAttr::Rfc822Header
                | FetchAttr::Rfc822Text
                | FetchAttr::Binary { .. }
                | FetchAttr::BinarySize { .. }
        ) || matches!(a, FetchAttr::BodySection { section, .. } if *section != Section::default())
    })
}

/// The flags of a summary as parser flags.
fn flag_list(s: &MessageSummary) -> Vec<Flag> {
    let mut v = Vec::new();
    for (bit, f) in [
        (flags::SEEN, Flag::Seen),
        (flags::ANSWERED, Flag::Answered),
        (flags::FLAGGED, Flag::Flagged),
        (flags::DELETED, Flag::Deleted),
        (flags::DRAFT, Flag::Draft),
    ] {
        if s.flags & bit != 0 {
            v.push(f);
        }
    }
    v.extend(s.keywords.iter().map(|k| Flag::Keyword(k.clone())));
    v
}

/// Writes `* <seq> FETCH (...)` for one message.
pub fn fetch_one(
    attrs: &[FetchAttr],
    msg: &FetchMessage<'_>,
    opts: &FetchOptions,
    _bytes: &mut dyn MessageBytes,
    sink: &mut dyn Sink,
) -> std::io::Result<()> {
    let mut out = format!("* {} FETCH (", msg.seq).into_bytes();
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !first {
            out.push(b' ');
        }
        first = false;
    };
    if opts.uid && !attrs.contains(&FetchAttr::Uid) {
        sep(&mut out);
        out.extend_from_slice(format!("UID {}", msg.uid).as_bytes());
    }
    for a in attrs {
        match a {
            FetchAttr::Uid => {
                sep(&mut out);
                out.extend_from_slice(format!("UID {}", msg.uid).as_bytes());
            }
            FetchAttr::Flags => {
                sep(&mut out);
                out.extend_from_slice(b"FLAGS ");
                response::flag_list(&mut out, &flag_list(msg.summary), false);
            }
            FetchAttr::Rfc822Size => {
                sep(&mut out);
                out.extend_from_slice(format!("RFC822.SIZE {}", msg.summary.size).as_bytes());
            }
            FetchAttr::InternalDate => {
                sep(&mut out);
                out.extend_from_slice(b"INTERNALDATE ");
                out.extend_from_slice(response::date_time(msg.summary.internal_date, 0).as_bytes());
            }
            FetchAttr::ModSeq => {
                sep(&mut out);
                out.extend_from_slice(format!("MODSEQ ({})", msg.summary.modseq).as_bytes());
            }
            FetchAttr::Rfc822 | FetchAttr::BodySection { .. } => {
                let name: &[u8] = match a {
                    FetchAttr::Rfc822 => b"RFC822",
                    _ => b"BODY[]",
                };
                let (start, len) = match a {
                    FetchAttr::BodySection {
                        partial: Some(p), ..
                    } => {
                        let o = u64::from(p.origin).min(msg.summary.size);
                        (o, u64::from(p.count).min(msg.summary.size - o))
                    }
                    _ => (0, msg.summary.size),
                };
                sep(&mut out);
                out.extend_from_slice(name);
                if let FetchAttr::BodySection {
                    partial: Some(p), ..
                } = a
                {
                    out.pop();
                    out.extend_from_slice(format!("]<{}>", p.origin).as_bytes());
                }
                out.extend_from_slice(format!(" {{{len}}}\r\n").as_bytes());
                sink.bytes(&out);
                out.clear();
                sink.message_range(start, len);
            }
            _ => {}
        }
    }
    if opts.modseq && !attrs.contains(&FetchAttr::ModSeq) {
        sep(&mut out);
        out.extend_from_slice(format!("MODSEQ ({})", msg.summary.modseq).as_bytes());
    }
    out.extend_from_slice(b")\r\n");
    sink.bytes(&out);
    Ok(())
}
