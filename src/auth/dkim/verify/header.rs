//! Reading the header: its fields, kept up to [`MAX_HEADER_BYTES`], and
//! which of them are DKIM-Signature fields.

use super::*;

/// Splits the header into fields, keeping them all up to
/// [`MAX_HEADER_BYTES`], and notes which are DKIM-Signature fields.
///
/// Line ends are CRLF or a bare LF; a field continues on lines that begin
/// with a space or a tab (RFC 5322 §2.2.3); an empty line ends the header.
#[derive(Debug, Default)]
pub(super) struct HeaderReader {
    /// Kept fields, folding line ends as CRLF, without the final line end.
    pub(super) fields: Vec<Vec<u8>>,
    pub(super) kept: usize,
    /// Indexes in `fields` of the DKIM-Signature fields to check.
    pub(super) sig_fields: Vec<usize>,
    /// DKIM-Signature fields seen but not checked.
    pub(super) skipped_sigs: usize,
    /// Lower-cased names of dropped fields.
    pub(super) dropped: Vec<String>,
    /// More fields were dropped than `dropped` remembers.
    pub(super) dropped_many: bool,
    pub(super) current: Vec<u8>,
    /// The field being read is too long: dropped.
    pub(super) skipping: bool,
    /// Name of the field being skipped.
    pub(super) skipping_name: Option<String>,
    pub(super) line_start: bool,
    pub(super) pending_cr: bool,
    pub(super) done: bool,
}

impl HeaderReader {
    pub(super) fn new() -> HeaderReader {
        HeaderReader {
            line_start: true,
            ..HeaderReader::default()
        }
    }

    /// Reads header bytes; returns how many were part of the header.
    pub(super) fn update(&mut self, chunk: &[u8]) -> usize {
        for (i, &b) in chunk.iter().enumerate() {
            if self.pending_cr {
                self.pending_cr = false;
                if b == b'\n' {
                    if self.end_line() {
                        return i + 1;
                    }
                    continue;
                }
                self.data(b'\r');
            }
            match b {
                b'\r' => self.pending_cr = true,
                b'\n' => {
                    if self.end_line() {
                        return i + 1;
                    }
                }
                _ => self.data(b),
            }
        }
        chunk.len()
    }

    /// The message ended inside the header.
    pub(super) fn finish(&mut self) {
        if self.pending_cr {
            self.pending_cr = false;
            self.data(b'\r');
        }
        self.end_field();
        self.done = true;
    }

    pub(super) fn end_line(&mut self) -> bool {
        if self.line_start {
            self.end_field();
            self.done = true;
            return true;
        }
        self.line_start = true;
        false
    }

    pub(super) fn data(&mut self, b: u8) {
        if self.line_start {
            self.line_start = false;
            if b == b' ' || b == b'\t' {
                self.push(b"\r\n");
            } else {
                self.end_field();
            }
        }
        self.push(&[b]);
    }

    pub(super) fn push(&mut self, bytes: &[u8]) {
        if self.skipping {
            return;
        }
        if self.current.len() + bytes.len() > MAX_HEADER_BYTES {
            self.skipping = true;
            self.skipping_name = Some(field_name(&self.current));
            self.current = Vec::new();
            return;
        }
        self.current.extend_from_slice(bytes);
    }

    pub(super) fn end_field(&mut self) {
        let raw = std::mem::take(&mut self.current);
        if self.skipping {
            self.skipping = false;
            let name = self.skipping_name.take().unwrap_or_default();
            self.drop_field(name);
            return;
        }
        if raw.is_empty() {
            return;
        }
        let name = field_name(&raw);
        if self.kept + raw.len() > MAX_HEADER_BYTES {
            self.drop_field(name);
            return;
        }
        if name == "dkim-signature" {
            if self.sig_fields.len() >= MAX_SIGNATURES {
                // RFC 6376 §6.1: verifiers may limit how many signatures
                // they check.
                // Logged once per message: a flood of signatures must not
                // flood the log too.
                if self.skipped_sigs == 0 {
                    log::info!("dkim: more than {MAX_SIGNATURES} signatures, the others skipped");
                }
                self.skipped_sigs += 1;
            } else {
                self.sig_fields.push(self.fields.len());
            }
        }
        self.kept += raw.len();
        self.fields.push(raw);
    }

    pub(super) fn drop_field(&mut self, name: String) {
        if name == "dkim-signature" {
            if self.skipped_sigs == 0 {
                log::info!("dkim: a signature field too large to keep was skipped");
            }
            self.skipped_sigs += 1;
        }
        if self.dropped.contains(&name) {
            return;
        }
        if self.dropped.len() >= MAX_DROPPED_NAMES {
            self.dropped_many = true;
        } else {
            self.dropped.push(name);
        }
    }

    /// Whether a field named `name` (lower-case) may have been dropped.
    pub(super) fn was_dropped(&self, name: &str) -> bool {
        self.dropped_many || self.dropped.iter().any(|d| d == name)
    }
}

/// The lower-cased name of a field (what comes before the colon).
fn field_name(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == b':').unwrap_or(raw.len());
    String::from_utf8_lossy(raw.get(..end).unwrap_or_default().trim_ascii()).to_ascii_lowercase()
}
