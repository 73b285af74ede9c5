//! The spool of a message being received: its body file, filtered and
//! parsed as it streams.

use crate::antispam::pipeline::AuthResultsFilter;
use crate::auth::dkim::{Signer, SigningKey};
use crate::mail::mime;
use crate::proto::smtp::reply::Reply;
use crate::store::BlobWriter;

/// The spool of the message being received.
pub(super) enum Spool {
    /// No message is being received.
    None,
    /// The message being received.
    Writing(Box<Writing>),
    /// Writing failed; the message will get this reply.
    Failed(Reply),
}

/// A message being received: its body file, its MIME structure for IMAP,
/// and its DKIM signature when it leaves signed, all computed as the bytes
/// stream through (never holding the message).
pub(super) struct Writing {
    pub(super) blob: BlobWriter,
    pub(super) mime: mime::Parser,
    pub(super) signer: Option<Signer<Vec<SigningKey>>>,
    /// Drops forged Authentication-Results fields (RFC 8601 §5).
    pub(super) filter: AuthResultsFilter,
}

impl Writing {
    /// Spools the next bytes as received: filtered, then parsed, signed
    /// and written.
    pub(super) fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        let mut filtered = Vec::with_capacity(chunk.len());
        self.filter.feed(chunk, &mut filtered);
        self.write_filtered(&filtered)
    }

    /// The end of the message: what the filter held goes out.
    pub(super) fn finish_filter(&mut self) -> std::io::Result<()> {
        let mut rest = Vec::new();
        self.filter.finish(&mut rest);
        self.write_filtered(&rest)
    }

    fn write_filtered(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.mime.feed(bytes);
        if let Some(signer) = &mut self.signer {
            signer.update(bytes);
        }
        self.blob.write(bytes)
    }
}
