//! In-memory [`MessageBytes`] and [`Sink`] for the executor tests: the
//! sink resolves message ranges from the same bytes, so a FETCH response
//! can be compared as bytes.

use super::{MessageBytes, Sink};

/// A message held in a vector, read back in chunks of `chunk` bytes.
pub(crate) struct MemMessage<'a> {
    pub data: &'a [u8],
    pub chunk: usize,
    /// Bytes given out so far.
    pub read: u64,
    /// Fail every read (to test error paths).
    pub fail: bool,
}

impl<'a> MemMessage<'a> {
    pub fn new(data: &'a [u8], chunk: usize) -> Self {
        MemMessage {
            data,
            chunk: chunk.max(1),
            read: 0,
            fail: false,
        }
    }
}

impl MessageBytes for MemMessage<'_> {
    fn read_range(
        &mut self,
        start: u64,
        len: u64,
        out: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<()> {
        if self.fail {
            return Err(std::io::Error::other("disk on fire"));
        }
        let start = start as usize;
        let end = start + len as usize;
        assert!(end <= self.data.len(), "read past the end: {start}+{len}");
        for c in self.data[start..end].chunks(self.chunk) {
            self.read += c.len() as u64;
            out(c);
        }
        Ok(())
    }
}

/// Collects a response, copying message ranges from `data`.
pub(crate) struct MemSink<'a> {
    pub data: &'a [u8],
    pub out: Vec<u8>,
    /// Bytes that came as message ranges rather than response bytes.
    pub ranged: u64,
}

impl<'a> MemSink<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        MemSink {
            data,
            out: Vec::new(),
            ranged: 0,
        }
    }
}

impl Sink for MemSink<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    fn message_range(&mut self, start: u64, len: u64) {
        let (s, e) = (start as usize, (start + len) as usize);
        let range = &self.data[s..e];
        self.out
            .extend_from_slice(&crate::proto::imap::response::without_nul(range));
        self.ranged += len;
    }
}
