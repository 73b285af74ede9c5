//! The index as one portable stream, for backups: written from a running
//! store at one point in time, read back record by record, and loaded
//! into a new, empty index.
//!
//! Layout (integers big-endian):
//! - header: `facteur-index\n`, u32 dump version, u32 store format,
//!   u64 the next free id (`Db::generate_id`);
//! - `1`, u16 length, name: the records that follow belong to that tree;
//! - `2`, u32 length, key, u32 length, value: one record;
//! - `0`, u64 number of records, 32 bytes: SHA-256 of every byte before
//!   this `0`. Nothing follows.
//!
//! Memory stays bounded: one record at a time, each at most
//! [`MAX_DUMP_VALUE`] bytes.

use super::records::{decode, BlobId, MessageBody, QueueEntry};
use super::{Store, StoreError, STORE_FORMAT};
use std::io::{self, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 14] = b"facteur-index\n";
const DUMP_VERSION: u32 = 1;
const TAG_END: u8 = 0;
const TAG_TREE: u8 = 1;
const TAG_RECORD: u8 = 2;
/// sled's name for the tree behind `Db` itself (the format version).
const DEFAULT_TREE: &[u8] = b"__sled__default";
/// Largest key or value a dump may hold: far above any real record (a
/// message's cached structure is the largest), and a cap on what one
/// damaged length can make the reader allocate.
pub const MAX_DUMP_VALUE: u32 = 16 << 20;
/// Records per sled batch while loading a dump.
const LOAD_BATCH: usize = 1024;

/// What a dump held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DumpInfo {
    /// Records over every tree.
    pub records: u64,
    /// Trees.
    pub trees: u32,
}

/// One record read back from a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpEntry {
    /// Its tree's name.
    pub tree: Vec<u8>,
    /// Key.
    pub key: Vec<u8>,
    /// Value.
    pub value: Vec<u8>,
}

/// How a record refers to a body file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobUse {
    /// A reference count (tree `blobrefs`): the body must be kept.
    Counted(BlobId),
    /// A message or a queue entry reads it.
    Read(BlobId),
}

impl DumpEntry {
    /// The body file this record needs, if any.
    pub fn blob(&self) -> Result<Option<BlobUse>, StoreError> {
        Ok(match self.tree.as_slice() {
            b"blobrefs" => {
                let id = <[u8; 32]>::try_from(self.key.as_slice())
                    .map_err(|_| StoreError::Corrupt("bad body reference key".into()))?;
                Some(BlobUse::Counted(BlobId(id)))
            }
            b"bodies" => Some(BlobUse::Read(decode::<MessageBody>(&self.value)?.blob)),
            b"queue" => Some(BlobUse::Read(decode::<QueueEntry>(&self.value)?.blob)),
            _ => None,
        })
    }
}

/// Keeps body files from being deleted while it lives, so that a backup
/// finds every body its index copy refers to. Deletions asked for
/// meanwhile happen when the last hold ends, for bodies still unreferenced
/// then.
pub struct BlobHold<'a> {
    store: &'a Store,
}

impl Drop for BlobHold<'_> {
    fn drop(&mut self) {
        let _guard = self.store.lock_blobs();
        for id in self.store.blobs.release() {
            match self.store.blobrefs.get(id.0) {
                Ok(None) => self.store.remove_blob_files(&[id]),
                Ok(Some(_)) => {}
                Err(e) => log::warn!("body {} left for the next start: {e}", id.hex()),
            }
        }
    }
}

impl Store {
    /// Keeps every body file in place until the hold is dropped.
    pub fn hold_blobs(&self) -> BlobHold<'_> {
        let _guard = self.lock_blobs();
        self.blobs.hold();
        BlobHold { store: self }
    }

    /// Writes the whole index to `out` as it is at one point in time:
    /// changes wait for the copy to end (reading the index does not), and
    /// take their turn in the order they came. Take a [`Store::hold_blobs`]
    /// first to copy the bodies it refers to afterwards.
    pub fn dump_index(&self, out: &mut dyn Write) -> Result<DumpInfo, StoreError> {
        let _gate = self.index_gate.write().unwrap_or_else(|p| p.into_inner());
        let mut w = Hashing::new(out);
        w.put(MAGIC)?;
        w.put(&DUMP_VERSION.to_be_bytes())?;
        w.put(&self.format_version()?.to_be_bytes())?;
        w.put(&self.db.generate_id()?.to_be_bytes())?;
        let mut info = DumpInfo::default();
        let mut names = self.db.tree_names();
        names.sort();
        for name in names {
            let tree = if name.as_ref() == DEFAULT_TREE {
                (*self.db).clone()
            } else {
                self.db.open_tree(&name)?
            };
            let len = u16::try_from(name.len())
                .map_err(|_| StoreError::Invalid("tree name too long".into()))?;
            w.put(&[TAG_TREE])?;
            w.put(&len.to_be_bytes())?;
            w.put(&name)?;
            info.trees += 1;
            for kv in tree.iter() {
                let (k, v) = kv?;
                w.put(&[TAG_RECORD])?;
                for part in [&k, &v] {
                    let len = u32::try_from(part.len())
                        .ok()
                        .filter(|&l| l <= MAX_DUMP_VALUE)
                        .ok_or_else(|| StoreError::Invalid("record too large to copy".into()))?;
                    w.put(&len.to_be_bytes())?;
                    w.put(part)?;
                }
                info.records += 1;
            }
        }
        let digest = w.hash.clone().finish();
        w.out.write_all(&[TAG_END])?;
        w.out.write_all(&info.records.to_be_bytes())?;
        w.out.write_all(digest.as_ref())?;
        w.out.flush()?;
        Ok(info)
    }

    /// Fills a new index at `index_dir` (which must not exist) from a
    /// dump, and makes it durable. The caller removes `index_dir` when
    /// this fails.
    pub fn load_index(index_dir: &Path, input: impl Read) -> Result<DumpInfo, StoreError> {
        if index_dir.exists() {
            return Err(StoreError::Exists(index_dir.display().to_string()));
        }
        let mut reader = DumpReader::new(input)?;
        if reader.store_format > STORE_FORMAT {
            return Err(StoreError::TooNew(reader.store_format));
        }
        let db = sled::Config::new()
            .path(index_dir)
            .cache_capacity(1 << 20)
            .open()?;
        let mut info = DumpInfo::default();
        let mut current: Option<(Vec<u8>, sled::Tree)> = None;
        let mut batch = sled::Batch::default();
        let mut pending = 0;
        while let Some(e) = reader.next_entry()? {
            if current.as_ref().map(|(n, _)| n) != Some(&e.tree) {
                if let Some((_, t)) = current.take() {
                    t.apply_batch(std::mem::take(&mut batch))?;
                    pending = 0;
                }
                let tree = if e.tree == DEFAULT_TREE {
                    (*db).clone()
                } else {
                    db.open_tree(&e.tree)?
                };
                info.trees += 1;
                current = Some((e.tree.clone(), tree));
            }
            batch.insert(e.key, e.value);
            pending += 1;
            info.records += 1;
            if pending == LOAD_BATCH {
                if let Some((_, t)) = &current {
                    t.apply_batch(std::mem::take(&mut batch))?;
                }
                pending = 0;
            }
        }
        if let Some((_, t)) = &current {
            t.apply_batch(batch)?;
        }
        // Ids (mailboxes, queue entries) go on from where the copied
        // index stopped: one reused would name two mailboxes.
        while db.generate_id()? < reader.next_id {}
        db.flush()?;
        Ok(info)
    }
}

/// Reads a dump back record by record, checking its end: a dump cut
/// short or changed anywhere fails at [`DumpReader::next_entry`].
pub struct DumpReader<R> {
    input: R,
    hash: ring::digest::Context,
    tree: Option<Vec<u8>>,
    records: u64,
    done: bool,
    /// The store format of the copied index.
    pub store_format: u32,
    /// The next free id of the copied index.
    pub next_id: u64,
}

impl<R: Read> DumpReader<R> {
    /// Reads the header.
    pub fn new(input: R) -> Result<DumpReader<R>, StoreError> {
        let mut r = DumpReader {
            input,
            hash: ring::digest::Context::new(&ring::digest::SHA256),
            tree: None,
            records: 0,
            done: false,
            store_format: 0,
            next_id: 0,
        };
        let mut magic = [0u8; 14];
        r.take(&mut magic)?;
        if &magic != MAGIC {
            return Err(corrupt("not an index copy"));
        }
        let version = r.u32()?;
        if version != DUMP_VERSION {
            return Err(corrupt(&format!("unknown index copy version {version}")));
        }
        r.store_format = r.u32()?;
        let mut id = [0u8; 8];
        r.take(&mut id)?;
        r.next_id = u64::from_be_bytes(id);
        Ok(r)
    }

    /// The next record, or `None` after a complete, undamaged dump.
    pub fn next_entry(&mut self) -> Result<Option<DumpEntry>, StoreError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let mut tag = [0u8; 1];
            let digest = self.hash.clone().finish();
            self.take(&mut tag)?;
            match tag[0] {
                TAG_TREE => {
                    let mut len = [0u8; 2];
                    self.take(&mut len)?;
                    let mut name = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    self.take(&mut name)?;
                    self.tree = Some(name);
                }
                TAG_RECORD => {
                    let tree = self
                        .tree
                        .clone()
                        .ok_or_else(|| corrupt("a record before any tree"))?;
                    let key = self.chunk()?;
                    let value = self.chunk()?;
                    self.records += 1;
                    return Ok(Some(DumpEntry { tree, key, value }));
                }
                TAG_END => {
                    let mut end = [0u8; 40];
                    self.input.read_exact(&mut end).map_err(truncated)?;
                    let (count, sum) = end.split_at(8);
                    if count != self.records.to_be_bytes() || sum != digest.as_ref() {
                        return Err(corrupt("its checksum does not match"));
                    }
                    let mut extra = [0u8; 1];
                    if self.input.read(&mut extra)? != 0 {
                        return Err(corrupt("bytes after its end"));
                    }
                    self.done = true;
                }
                t => return Err(corrupt(&format!("unknown item {t}"))),
            }
        }
    }

    fn take(&mut self, buf: &mut [u8]) -> Result<(), StoreError> {
        self.input.read_exact(buf).map_err(truncated)?;
        self.hash.update(buf);
        Ok(())
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        let mut b = [0u8; 4];
        self.take(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn chunk(&mut self) -> Result<Vec<u8>, StoreError> {
        let len = self.u32()?;
        if len > MAX_DUMP_VALUE {
            return Err(corrupt("a record longer than any the store writes"));
        }
        let mut v = vec![0u8; len as usize];
        self.take(&mut v)?;
        Ok(v)
    }
}

fn corrupt(why: &str) -> StoreError {
    StoreError::Corrupt(format!("index copy: {why}"))
}

fn truncated(e: io::Error) -> StoreError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        corrupt("cut short")
    } else {
        StoreError::Io(e.to_string())
    }
}

/// A writer that hashes what goes through it.
struct Hashing<'a> {
    out: &'a mut dyn Write,
    hash: ring::digest::Context,
}

impl<'a> Hashing<'a> {
    fn new(out: &'a mut dyn Write) -> Hashing<'a> {
        Hashing {
            out,
            hash: ring::digest::Context::new(&ring::digest::SHA256),
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hash.update(bytes);
        self.out.write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{deliver_to_a, store_with_account, temp_dir as tempdir};

    fn store_with_mail(dir: &Path) -> Store {
        let s = store_with_account(dir);
        deliver_to_a(&s, b"Subject: hi\r\n\r\nbody\r\n");
        s
    }

    fn dump(s: &Store) -> Vec<u8> {
        let mut out = Vec::new();
        s.dump_index(&mut out).unwrap();
        out
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<DumpEntry>, StoreError> {
        let mut r = DumpReader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            out.push(e);
        }
        Ok(out)
    }

    #[test]
    fn a_dump_loads_into_an_equal_index() {
        let dir = tempdir("dump-equal");
        let s = store_with_mail(&dir.join("a"));
        let bytes = dump(&s);
        let entries = read_all(&bytes).unwrap();
        assert!(entries.iter().any(|e| e.tree == b"messages"));
        let blobs: Vec<BlobUse> = entries.iter().filter_map(|e| e.blob().unwrap()).collect();
        assert_eq!(blobs.len(), 2, "one count and one message: {blobs:?}");

        let b = dir.join("b");
        std::fs::create_dir_all(&b).unwrap();
        let info = Store::load_index(&b.join("index"), bytes.as_slice()).unwrap();
        assert_eq!(info.records as usize, entries.len());
        let next_id = s.db.generate_id().unwrap();
        drop(s);
        let r = Store::open(&b, 1 << 20).unwrap();
        assert_eq!(read_all(&dump(&r)).unwrap(), entries);
        assert!(r.db.generate_id().unwrap() >= next_id, "ids are not reused");
    }

    #[test]
    fn a_damaged_or_short_dump_is_refused() {
        let dir = tempdir("dump-damaged");
        let s = store_with_mail(&dir);
        let bytes = dump(&s);
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(read_all(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for at in [20, bytes.len() / 2, bytes.len() - 5] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x01;
            assert!(read_all(&bad).is_err(), "flipped at {at}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(read_all(&long).is_err());
        assert!(read_all(&bytes).is_ok());
    }

    #[test]
    fn bodies_stay_while_held() {
        let dir = tempdir("dump-hold");
        let s = store_with_mail(&dir);
        let inbox = s.mailbox("a@example.com", "INBOX").unwrap().unwrap();
        let id = s.messages(inbox.id).unwrap()[0].blob;
        let hold = s.hold_blobs();
        s.expunge("a@example.com", "INBOX", &[1]).unwrap();
        assert!(s.blob_exists(&id), "kept while held");
        drop(hold);
        assert!(!s.blob_exists(&id), "removed once released");
    }
}
