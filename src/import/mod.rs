//! `facteur import` and `facteur export`: moving a user's mail in from an
//! mbox file, a Maildir or an IMAP account, and out to a Maildir.
//!
//! Every imported message goes through [`Store::append`], as an IMAP
//! APPEND does: it is durable and indexed (its MIME structure cached) when
//! the call returns. Old folders are mapped to ours ([`folders`]), flags
//! and internal dates are kept, and a message already in its target folder
//! (same Message-ID, size and internal date) is skipped, so an interrupted
//! import is resumed by running it again, as `doveadm import` does.

pub mod export;
pub mod folders;
pub mod imap;
pub mod maildir;
pub mod mbox;

use crate::mail::mime;
use crate::store::blobs::BlobWriter;
use crate::store::records::SpecialUse;
use crate::store::{NewMessage, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Bytes of a message's header kept to read its flag fields
/// (X-Mozilla-Status, Status, X-Keywords) and Message-ID: a header longer
/// than this is still imported whole, only these fields past it are not
/// seen.
pub const MAX_HEADER: usize = 64 * 1024;

/// Most failures listed by name in the report; the rest are counted.
pub const MAX_LISTED: usize = 100;

/// Where mail is imported from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An mbox file.
    Mbox(PathBuf),
    /// A Maildir (its root: `cur`, `new`, `tmp` and `.Sub.Folder`s).
    Maildir(PathBuf),
    /// An IMAP account over TLS.
    Imap(imap::Account),
}

impl Source {
    /// Reads SOURCE as given on the command line: `imaps://user@host[:port]`,
    /// a directory (a Maildir) or a file (an mbox).
    pub fn parse(text: &str) -> Result<Source, String> {
        if text.contains("://") {
            return imap::Account::parse(text).map(Source::Imap);
        }
        let path = PathBuf::from(text);
        let meta = std::fs::metadata(&path).map_err(|e| format!("{text}: {e}"))?;
        Ok(if meta.is_dir() {
            Source::Maildir(path)
        } else {
            Source::Mbox(path)
        })
    }
}

/// What an import needs besides its source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `--folder-map OLD=NEW`, in the order given (an empty NEW skips OLD).
    pub folder_map: Vec<(String, String)>,
    /// The IMAP account's password.
    pub password: Option<String>,
    /// Extra trusted CA certificates (PEM) for the IMAP server.
    pub ca: Option<PathBuf>,
    /// Accept any IMAP server certificate (tests, self-signed boxes).
    pub insecure: bool,
    /// `limits.max_message_size`: bigger messages are imported but logged.
    pub max_message_size: u64,
}

/// The outcome of an import.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Messages stored.
    pub imported: u64,
    /// Messages already there (or deleted at the source), not stored again.
    pub skipped: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// Messages over `limits.max_message_size`, imported anyway.
    pub oversized: u64,
    /// Messages that could not be read, by name (at most [`MAX_LISTED`]).
    pub failures: Vec<String>,
    /// Failures past those listed.
    pub more_failures: u64,
}

impl Report {
    /// The summary printed at the end.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "imported {} messages ({} bytes), skipped {} already there{}",
            self.imported,
            self.bytes,
            self.skipped,
            if self.oversized > 0 {
                format!(", {} over limits.max_message_size", self.oversized)
            } else {
                String::new()
            }
        )];
        let failed = self.failures.len() as u64 + self.more_failures;
        if failed > 0 {
            out.push(format!("{failed} messages could not be read:"));
            out.extend(self.failures.iter().map(|f| format!("  {f}")));
            if self.more_failures > 0 {
                out.push(format!("  ... and {} more", self.more_failures));
            }
        }
        out
    }

    fn failed(&mut self, what: String) {
        log::warn!("import: {what}");
        if self.failures.len() < MAX_LISTED {
            self.failures.push(what);
        } else {
            self.more_failures += 1;
        }
    }
}

/// Imports `source` into `account`'s mailboxes. `progress` is called
/// with a progress line at most about once a second.
pub fn run(
    store: &Store,
    account: &str,
    source: &Source,
    opts: &Options,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, String> {
    let account = account.to_ascii_lowercase();
    if store.account(&account).map_err(err)?.is_none() {
        return Err(format!("no user {account}"));
    }
    let mut target = Target::new(store, &account, opts, progress);
    match source {
        Source::Mbox(path) => mbox::import(path, &mut target)?,
        Source::Maildir(path) => maildir::import(path, &mut target)?,
        Source::Imap(acct) => imap::import(acct, opts, &mut target)?,
    }
    target.progress.print(true);
    Ok(target.report)
}

fn err(e: StoreError) -> String {
    e.to_string()
}

/// What identifies a message for the duplicate check: its Message-ID (or,
/// without one, its body's hash), its size and its internal date.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DupKey {
    id: Vec<u8>,
    size: u64,
    date: i64,
}

impl DupKey {
    /// The key of a message with this Message-ID field value (raw), size
    /// (with CRLF line ends) and internal date.
    pub fn new(message_id: Option<&[u8]>, size: u64, date: i64) -> Option<DupKey> {
        Some(DupKey {
            id: message_id.and_then(message_id_value)?,
            size,
            date,
        })
    }

    fn of_body(blob: &crate::store::records::BlobId, size: u64, date: i64) -> DupKey {
        DupKey {
            id: blob.hex().into_bytes(),
            size,
            date,
        }
    }

    /// A 64-bit digest: the sets of keys hold 8 bytes per message.
    fn digest(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

/// The msg-id of a Message-ID field value (RFC 5322 §3.6.4): the first
/// `<...>`, or the trimmed unfolded value when there are no brackets.
pub fn message_id_value(raw: &[u8]) -> Option<Vec<u8>> {
    let text: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|b| !matches!(b, b'\r' | b'\n'))
        .collect();
    let id = match (
        text.iter().position(|&b| b == b'<'),
        text.iter().position(|&b| b == b'>'),
    ) {
        (Some(a), Some(b)) if a < b => text[a..=b].to_vec(),
        _ => text.trim_ascii().to_vec(),
    };
    (!id.is_empty()).then_some(id)
}

/// Progress of an import: messages and bytes, rate and time left.
pub struct Progress<'a> {
    out: &'a mut dyn FnMut(&str),
    start: Instant,
    last: Option<Instant>,
    /// Messages and bytes to do, when the source tells.
    pub total: Option<(u64, u64)>,
    messages: u64,
    bytes: u64,
}

impl Progress<'_> {
    /// Counts a message done (imported or skipped).
    fn done(&mut self, bytes: u64) {
        self.messages += 1;
        self.bytes += bytes;
        self.print(false);
    }

    /// Adds to the totals (a source that counts folder by folder).
    pub fn add_total(&mut self, messages: u64, bytes: u64) {
        let (m, b) = self.total.unwrap_or((0, 0));
        self.total = Some((m + messages, b + bytes));
    }

    fn print(&mut self, last: bool) {
        let now = Instant::now();
        if !last && self.last.is_some_and(|t| now - t < Duration::from_secs(1)) {
            return;
        }
        self.last = Some(now);
        let line = progress_line(
            self.messages,
            self.bytes,
            self.total,
            now.duration_since(self.start),
        );
        (self.out)(&line);
    }
}

/// "120/1000 messages, 1.2/10.0 MB, 0.6 MB/s, 15s left".
pub fn progress_line(
    messages: u64,
    bytes: u64,
    total: Option<(u64, u64)>,
    elapsed: Duration,
) -> String {
    let mb = |b: u64| b as f64 / 1e6;
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = bytes as f64 / secs;
    match total {
        Some((tm, tb)) => {
            let left = if rate > 0.0 {
                format!(
                    "{}s left",
                    (tb.saturating_sub(bytes) as f64 / rate).round() as u64
                )
            } else {
                "time left unknown".to_string()
            };
            format!(
                "{messages}/{tm} messages, {:.1}/{:.1} MB, {:.1} MB/s, {left}",
                mb(bytes),
                mb(tb),
                rate / 1e6
            )
        }
        None => format!(
            "{messages} messages, {:.1} MB, {:.1} MB/s",
            mb(bytes),
            rate / 1e6
        ),
    }
}

/// One message being received from a source: its body streams to a blob
/// file with CRLF line ends, its MIME structure is parsed on the way, and
/// the start of its header is kept for the flag fields.
pub struct Incoming {
    blob: BlobWriter,
    parser: mime::Parser,
    crlf: Crlf,
    header: Vec<u8>,
    header_done: bool,
    buf: Vec<u8>,
}

impl Incoming {
    /// Adds bytes of the message (any line ends).
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buf.clear();
        self.crlf.push(bytes, &mut self.buf);
        self.take()
    }

    fn take(&mut self) -> std::io::Result<()> {
        if !self.header_done {
            let room = MAX_HEADER.saturating_sub(self.header.len());
            self.header
                .extend_from_slice(&self.buf[..room.min(self.buf.len())]);
            if let Some(end) = find(&self.header, b"\r\n\r\n") {
                self.header.truncate(end + 2);
                self.header_done = true;
            } else if self.header.len() >= MAX_HEADER {
                self.header_done = true;
            }
        }
        self.parser.feed(&self.buf);
        self.blob.write(&self.buf)
    }

    /// The value of a header field of the message (first occurrence,
    /// unfolded), if it was within the first [`MAX_HEADER`] bytes.
    pub fn field(&self, name: &str) -> Option<Vec<u8>> {
        header_field(&self.header, name)
    }

    fn finish(mut self) -> std::io::Result<(crate::store::FinishedBlob, mime::Structure)> {
        self.buf.clear();
        self.crlf.finish(&mut self.buf);
        self.take()?;
        Ok((self.blob.finish()?, self.parser.finish()))
    }
}

/// The first field `name` of a header block, unfolded.
pub fn header_field(header: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut value: Option<Vec<u8>> = None;
    for line in header.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(v) = value.as_mut() {
            if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                v.extend_from_slice(line);
                continue;
            }
            break;
        }
        if line.len() > name.len()
            && line[name.len()] == b':'
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes())
        {
            value = Some(line[name.len() + 1..].trim_ascii().to_vec());
        }
    }
    value.map(|v| v.trim_ascii().to_vec())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Line ends made CRLF as bytes stream by: a lone LF or a lone CR (old Mac
/// mbox files) each become CRLF (RFC 5322 §2.3: CR and LF appear only
/// together), and a missing final line end is added.
#[derive(Debug, Default)]
pub struct Crlf {
    cr: bool,
    any: bool,
    last: u8,
}

impl Crlf {
    /// Appends `input` with CRLF line ends to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &b in input {
            self.any = true;
            if self.cr {
                self.cr = false;
                out.push(b'\n');
                if b == b'\n' {
                    self.last = b'\n';
                    continue;
                }
            }
            match b {
                b'\r' => {
                    out.push(b'\r');
                    self.cr = true;
                }
                b'\n' => out.extend_from_slice(b"\r\n"),
                _ => out.push(b),
            }
            self.last = b;
        }
    }

    /// Ends the input: a pending CR gets its LF, and a last line without
    /// an end gets one.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.cr {
            self.cr = false;
            out.push(b'\n');
        } else if self.any && self.last != b'\n' {
            out.extend_from_slice(b"\r\n");
        }
        self.any = false;
    }
}

/// The writing side of an import: target folders, the duplicate check,
/// the report and the progress line.
pub struct Target<'a> {
    store: &'a Store,
    account: String,
    map: Vec<(String, String)>,
    /// Target folder → digests of the messages in it.
    seen: HashMap<String, HashSet<u64>>,
    max_size: u64,
    /// The report so far.
    pub report: Report,
    /// The progress line.
    pub progress: Progress<'a>,
}

impl<'a> Target<'a> {
    /// A target for `account` (which exists).
    pub fn new(
        store: &'a Store,
        account: &str,
        opts: &Options,
        out: &'a mut dyn FnMut(&str),
    ) -> Target<'a> {
        Target {
            store,
            account: account.to_string(),
            map: opts.folder_map.clone(),
            seen: HashMap::new(),
            max_size: opts.max_message_size,
            report: Report::default(),
            progress: Progress {
                out,
                start: Instant::now(),
                last: None,
                total: None,
                messages: 0,
                bytes: 0,
            },
        }
    }

    /// Our folder for a source folder (`/` as its separator) with an
    /// RFC 6154 special use if the source gave one; `None`: skipped.
    /// The folder is created when missing.
    pub fn folder(
        &mut self,
        source: &str,
        special: Option<&str>,
    ) -> Result<Option<String>, String> {
        let Some(target) = folders::map(source, special, &self.map) else {
            return Ok(None);
        };
        let name = match target {
            folders::Target::Special(use_) => self.special(use_)?,
            folders::Target::Named(n) => n,
        };
        if !self.seen.contains_key(&name) {
            if self
                .store
                .mailbox(&self.account, &name)
                .map_err(err)?
                .is_none()
            {
                match self.store.create_mailbox(&self.account, &name, None) {
                    Ok(_) | Err(StoreError::Exists(_)) => {}
                    Err(e) => return Err(format!("cannot create folder {name}: {e}")),
                }
                let _ = self.store.subscribe(&self.account, &name);
            }
            let set = self.known(&name)?;
            self.seen.insert(name.clone(), set);
        }
        Ok(Some(name))
    }

    /// Our mailbox with a special use (the default name when none has it).
    fn special(&self, use_: SpecialUse) -> Result<String, String> {
        let boxes = self.store.mailboxes(&self.account).map_err(err)?;
        Ok(boxes
            .into_iter()
            .find(|m| m.special_use == Some(use_))
            .map(|m| m.name)
            .unwrap_or_else(|| folders::default_name(use_).to_string()))
    }

    /// The duplicate-check digests of a folder's messages, read one
    /// message at a time.
    fn known(&self, name: &str) -> Result<HashSet<u64>, String> {
        let mut set = HashSet::new();
        let Some(mb) = self.store.mailbox(&self.account, name).map_err(err)? else {
            return Ok(set);
        };
        for s in self.store.walk_summaries(mb.id) {
            let s = s.map_err(err)?;
            let Some(m) = self.store.message(mb.id, s.uid).map_err(err)? else {
                continue;
            };
            let id = match m.cache.as_deref().and_then(mime::decode) {
                Some(st) => st.envelope.message_id,
                None => self.stored_message_id(&m),
            };
            let key = DupKey::new(id.as_deref(), m.size, m.internal_date)
                .unwrap_or_else(|| DupKey::of_body(&m.blob, m.size, m.internal_date));
            set.insert(key.digest());
        }
        Ok(set)
    }

    fn stored_message_id(&self, m: &crate::store::records::Message) -> Option<Vec<u8>> {
        use std::io::Read;
        let mut head = m.prefix.clone();
        let mut f = self.store.open_blob(&m.blob).ok()?.take(MAX_HEADER as u64);
        f.read_to_end(&mut head).ok()?;
        let end = find(&head, b"\r\n\r\n").map_or(head.len(), |e| e + 2);
        header_field(&head[..end], "Message-ID")
    }

    /// Whether a message with this key is in `folder` already (counted as
    /// skipped then).
    pub fn has(&mut self, folder: &str, key: &DupKey, size: u64) -> bool {
        let there = self
            .seen
            .get(folder)
            .is_some_and(|s| s.contains(&key.digest()));
        if there {
            self.skipped(size);
        }
        there
    }

    /// Counts a message not imported (there already, or deleted at the
    /// source).
    pub fn skipped(&mut self, size: u64) {
        self.report.skipped += 1;
        self.progress.done(size);
    }

    /// Counts a message that could not be read.
    pub fn failed(&mut self, what: String) {
        self.report.failed(what);
    }

    /// Starts receiving a message.
    pub fn begin(&self) -> Result<Incoming, String> {
        Ok(Incoming {
            blob: self.store.blob_writer().map_err(err)?,
            parser: mime::Parser::new(),
            crlf: Crlf::default(),
            header: Vec::new(),
            header_done: false,
            buf: Vec::new(),
        })
    }

    /// Stores a received message in `folder` (from [`Target::folder`])
    /// unless it is there already; `label` names it in the log.
    pub fn commit(
        &mut self,
        folder: &str,
        msg: Incoming,
        flags: u8,
        keywords: Vec<String>,
        internal_date: i64,
        label: &str,
    ) -> Result<(), String> {
        let (blob, structure) = msg.finish().map_err(|e| format!("{label}: {e}"))?;
        let size = blob.size;
        let key = DupKey::new(
            structure.envelope.message_id.as_deref(),
            size,
            internal_date,
        )
        .unwrap_or_else(|| DupKey::of_body(&blob.id, size, internal_date));
        if self.has(folder, &key, size) {
            return Ok(());
        }
        if self.max_size > 0 && size > self.max_size {
            self.report.oversized += 1;
            log::warn!(
                "import: {label} ({size} bytes) is over limits.max_message_size ({}), imported anyway",
                self.max_size
            );
        }
        let new = NewMessage {
            flags,
            keywords,
            internal_date,
            cache: Some(mime::encode(&structure)),
        };
        self.store
            .append(&self.account, folder, blob, new)
            .map_err(|e| format!("{label}: cannot store it in {folder}: {e}"))?;
        if let Some(s) = self.seen.get_mut(folder) {
            s.insert(key.digest());
        }
        self.report.imported += 1;
        self.report.bytes += size;
        self.progress.done(size);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crlf(parts: &[&[u8]]) -> Vec<u8> {
        let mut c = Crlf::default();
        let mut out = Vec::new();
        for p in parts {
            c.push(p, &mut out);
        }
        c.finish(&mut out);
        out
    }

    #[test]
    fn line_ends_become_crlf_split_anywhere() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"a\nb\n", b"a\r\nb\r\n"),
            (b"a\rb\r", b"a\r\nb\r\n"),
            (b"a\r\nb\r\n", b"a\r\nb\r\n"),
            (b"a\nb", b"a\r\nb\r\n"),
            (b"a\r\rb\n\n", b"a\r\n\r\nb\r\n\r\n"),
        ];
        for (input, want) in cases {
            assert_eq!(crlf(&[input]), want, "{input:?}");
            for i in 0..input.len() {
                assert_eq!(crlf(&[&input[..i], &input[i..]]), want, "{input:?} at {i}");
            }
        }
        assert_eq!(crlf(&[b""]), b"");
    }

    #[test]
    fn message_ids_are_compared_without_comments_or_folding() {
        assert_eq!(
            message_id_value(b" (c) <a@b>\r\n "),
            Some(b"<a@b>".to_vec())
        );
        assert_eq!(message_id_value(b"  x@y "), Some(b"x@y".to_vec()));
        assert_eq!(message_id_value(b"  "), None);
    }

    #[test]
    fn header_fields_are_unfolded_and_end_at_the_next_field() {
        let h = b"Subject: a\r\n b\r\nX-Mozilla-Status: 0001\r\nx: y\r\n\r\n";
        assert_eq!(header_field(h, "subject"), Some(b"a b".to_vec()));
        assert_eq!(header_field(h, "X-Mozilla-Status"), Some(b"0001".to_vec()));
        assert_eq!(header_field(h, "Status"), None);
    }

    #[test]
    fn the_progress_line_has_counts_rate_and_time_left() {
        let l = progress_line(
            100,
            2_000_000,
            Some((1000, 20_000_000)),
            Duration::from_secs(2),
        );
        assert_eq!(l, "100/1000 messages, 2.0/20.0 MB, 1.0 MB/s, 18s left");
        let l = progress_line(5, 1_000_000, None, Duration::from_secs(1));
        assert_eq!(l, "5 messages, 1.0 MB, 1.0 MB/s");
    }
}
