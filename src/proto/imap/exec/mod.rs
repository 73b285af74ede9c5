//! FETCH and SEARCH executors.
// PLACEHOLDER: replaced by the real executor

pub mod fetch;
pub mod search;

/// Reads bytes of one stored message (prefix followed by body file), by
/// offset in the whole message as clients see it.
pub trait MessageBytes {
    /// Calls `out` with the bytes of `[start, start+len)` in order.
    fn read_range(
        &mut self,
        start: u64,
        len: u64,
        out: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<()>;
}

/// Where a FETCH response goes.
pub trait Sink {
    /// Response bytes.
    fn bytes(&mut self, b: &[u8]);
    /// `len` bytes of the message from `start`, streamed by the caller.
    fn message_range(&mut self, start: u64, len: u64);
}
