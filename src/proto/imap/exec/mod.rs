//! FETCH and SEARCH executors (RFC 3501 §6.4.4, §6.4.5; RFC 9051 §6.4.4,
//! §6.4.5): given parsed commands and stored messages, they write the
//! untagged responses and find the matching messages.
//!
//! They are pure: message bytes come through [`MessageBytes`], which the
//! session implements over the store (the per-recipient prefix followed by
//! the shared body file), and FETCH output goes to a [`Sink`] that streams
//! message ranges from the store itself, so a body is never held in memory.
//!
//! - [`fetch`]: `* n FETCH (...)` for one message.
//! - [`search`]: which messages match a search key, within a cost budget,
//!   and the `* SEARCH` / `* ESEARCH` responses.

pub mod fetch;
pub mod search;

/// Whether `uid` is in one of `ranges`, each `[from, to)`: how the
/// session's `\Recent` messages are given to the executors.
pub fn in_ranges(ranges: &[(u32, u32)], uid: u32) -> bool {
    ranges.iter().any(|&(from, to)| (from..to).contains(&uid))
}

/// Reads bytes of one stored message (prefix followed by body file), by
/// offset in the whole message as clients see it (offset 0 = first byte of
/// the prefix).
pub trait MessageBytes {
    /// Calls `out` with the bytes of `[start, start+len)` in order, in
    /// chunks of any size.
    fn read_range(
        &mut self,
        start: u64,
        len: u64,
        out: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<()>;
}

/// Bytes already in memory as a message: the cached header fields
/// ([`crate::mail::mime::fields`]), read in place of the file.
pub struct InMemory<'a>(pub &'a [u8]);

impl MessageBytes for InMemory<'_> {
    fn read_range(
        &mut self,
        start: u64,
        len: u64,
        out: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<()> {
        let a = usize::try_from(start).unwrap_or(usize::MAX);
        let b = usize::try_from(start.saturating_add(len)).unwrap_or(usize::MAX);
        out(self.0.get(a..b.min(self.0.len())).unwrap_or_default());
        Ok(())
    }
}

/// Where a FETCH response goes.
pub trait Sink {
    /// Response bytes.
    fn bytes(&mut self, b: &[u8]);
    /// `len` bytes of the message from `start` (prefix+body offsets), inside
    /// a literal: the caller streams them from the store without holding
    /// them in memory, with each NUL sent as 0x80
    /// ([`super::response::without_nul`]).
    fn message_range(&mut self, start: u64, len: u64);
}

#[cfg(test)]
pub(crate) mod testing;
