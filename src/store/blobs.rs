//! Message bodies as files under `<data_dir>/blobs/`, named by SHA-256.
//!
//! A body is streamed into a temp file while its SHA-256 is computed; on
//! commit the file is fsynced, renamed to `blobs/<2 hex>/<64 hex>`, and the
//! directory is fsynced, so a crash leaves either no blob or a whole one.
//! Reference counts live in the index (see [`super::Store`]).

use super::records::BlobId;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The blob directory.
#[derive(Debug)]
pub struct BlobDir {
    root: PathBuf,
    tmp: PathBuf,
    counter: AtomicU64,
    /// Backups holding every file in place, and the removals put off.
    held: std::sync::Mutex<(u32, Vec<BlobId>)>,
}

impl BlobDir {
    /// Opens (creating) `root` and its `tmp/`, removing temp files left by a
    /// crash: they were never acknowledged.
    pub fn open(root: &Path) -> io::Result<BlobDir> {
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp)?;
        for entry in fs::read_dir(&tmp)? {
            let entry = entry?;
            if let Err(e) = fs::remove_file(entry.path()) {
                log::warn!(
                    "cannot remove stale temp blob {}: {e}",
                    entry.path().display()
                );
            }
        }
        Ok(BlobDir {
            root: root.to_path_buf(),
            tmp,
            counter: AtomicU64::new(0),
            held: std::sync::Mutex::new((0, Vec::new())),
        })
    }

    /// Where the blob `id` lives.
    pub fn path(&self, id: &BlobId) -> PathBuf {
        let hex = id.hex();
        self.root.join(&hex[..2]).join(hex)
    }

    /// Starts a new body.
    pub fn writer(&self) -> io::Result<BlobWriter> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let path = self.tmp.join(format!("{}-{n}", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(BlobWriter {
            file: Some(file),
            path,
            hash: ring::digest::Context::new(&ring::digest::SHA256),
            size: 0,
            line_ends: LineEnds::default(),
        })
    }

    /// Moves a finished temp file into place and makes the rename durable.
    /// The caller holds the store's blob lock.
    pub(super) fn publish(&self, blob: &mut FinishedBlob) -> io::Result<()> {
        let dest = self.path(&blob.id);
        let dir = dest.parent().unwrap_or(&self.root).to_path_buf();
        let created_dir = !dir.exists();
        if created_dir {
            fs::create_dir_all(&dir)?;
            sync_dir(&self.root)?;
        }
        if dest.exists() {
            // Same bytes already stored: the temp copy is not needed.
            fs::remove_file(&blob.tmp)?;
        } else {
            fs::rename(&blob.tmp, &dest)?;
            sync_dir(&dir)?;
        }
        blob.published = true;
        Ok(())
    }

    /// Deletes a blob whose last reference is gone. The caller holds the
    /// store's blob lock.
    pub(super) fn remove(&self, id: &BlobId) -> io::Result<()> {
        {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            if held.0 > 0 {
                held.1.push(*id);
                return Ok(());
            }
        }
        match fs::remove_file(self.path(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Puts off removals until [`BlobDir::release`].
    pub(super) fn hold(&self) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).0 += 1;
    }

    /// Ends one hold; after the last, returns the removals put off (the
    /// caller removes those still unreferenced).
    pub(super) fn release(&self) -> Vec<BlobId> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.0 = held.0.saturating_sub(1);
        if held.0 == 0 {
            std::mem::take(&mut held.1)
        } else {
            Vec::new()
        }
    }

    /// Every blob file present, for the consistency sweep at start.
    pub fn list(&self) -> io::Result<Vec<BlobId>> {
        let mut out = Vec::new();
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            if dir.file_name() == "tmp" || !dir.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(dir.path())? {
                let f = f?;
                if let Some(id) = f.file_name().to_str().and_then(BlobId::from_hex) {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }
}

/// Streams a body to a temp file, hashing it on the way.
pub struct BlobWriter {
    file: Option<File>,
    path: PathBuf,
    hash: ring::digest::Context,
    size: u64,
    line_ends: LineEnds,
}

impl BlobWriter {
    /// The file being written: what was written so far can be read there.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends bytes.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        file.write_all(bytes)?;
        self.hash.update(bytes);
        self.line_ends.update(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes the file to disk and names it by its hash. The blob is not
    /// visible until a store operation commits it.
    pub fn finish(mut self) -> io::Result<FinishedBlob> {
        let file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        file.sync_all()?;
        drop(file);
        let digest = self.hash.clone().finish();
        let mut id = [0u8; 32];
        id.copy_from_slice(digest.as_ref());
        Ok(FinishedBlob {
            tmp: std::mem::take(&mut self.path),
            id: BlobId(id),
            size: self.size,
            line_ends: self.line_ends,
            published: false,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // An abandoned body (client gone mid-DATA, size exceeded): remove it.
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A durable temp file waiting to be committed by a store operation.
#[derive(Debug)]
pub struct FinishedBlob {
    tmp: PathBuf,
    /// SHA-256 of the bytes.
    pub id: BlobId,
    /// Length in bytes.
    pub size: u64,
    /// Its line ends, for the CRLF-counted size.
    pub line_ends: LineEnds,
    published: bool,
}

impl Drop for FinishedBlob {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// What the CRLF-counted size of some bytes depends on, gathered as they
/// stream by: the size they have once every line ends in CRLF (RFC 5322
/// §2.1, and what POP3 LIST reports, RFC 1939 §11). A CR, an LF, or a CR
/// followed by an LF each end one line, and a last line without an end
/// gets one. Two counts combine ([`LineEnds::then`]), so the size of a
/// per-recipient prefix followed by a shared body needs no second pass.
///
/// # Examples
///
/// ```
/// use facteur::store::blobs::LineEnds;
///
/// let prefix = LineEnds::of(b"X: 1\r");
/// let body = LineEnds::of(b"\nbody");
/// assert_eq!(prefix.then(&body).crlf_size(), 12); // "X: 1\r\nbody\r\n"
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineEnds {
    len: u64,
    cr: u64,
    lf: u64,
    /// CR LF pairs, each one line end counted in both `cr` and `lf`.
    crlf: u64,
    first: Option<u8>,
    last: Option<u8>,
}

impl LineEnds {
    /// The counts of `bytes`.
    pub fn of(bytes: &[u8]) -> LineEnds {
        let mut l = LineEnds::default();
        l.update(bytes);
        l
    }

    /// Counts the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut prev = self.last;
        for &b in bytes {
            match b {
                b'\r' => self.cr += 1,
                b'\n' => {
                    self.lf += 1;
                    if prev == Some(b'\r') {
                        self.crlf += 1;
                    }
                }
                _ => {}
            }
            prev = Some(b);
        }
        if let Some(&b) = bytes.first() {
            self.first = self.first.or(Some(b));
            self.last = prev.or(Some(b));
        }
        self.len += bytes.len() as u64;
    }

    /// The counts of these bytes followed by `next`'s.
    pub fn then(&self, next: &LineEnds) -> LineEnds {
        let joined = u64::from(self.last == Some(b'\r') && next.first == Some(b'\n'));
        LineEnds {
            len: self.len + next.len,
            cr: self.cr + next.cr,
            lf: self.lf + next.lf,
            crlf: self.crlf + next.crlf + joined,
            first: self.first.or(next.first),
            last: next.last.or(self.last),
        }
    }

    /// The size once every line ends in CRLF: each line end becomes two
    /// bytes, and an unterminated last line gains two.
    pub fn crlf_size(&self) -> u64 {
        let text = self.len - self.cr - self.lf;
        let ends = self.cr + self.lf - self.crlf;
        let open = match self.last {
            Some(b'\r' | b'\n') | None => 0,
            Some(_) => 2,
        };
        text + 2 * ends + open
    }
}

/// fsyncs a directory so that a rename or creation in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
