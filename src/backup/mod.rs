//! Backups of the data dir, their check, and restore, as Dovecot's
//! `doveadm backup` and mox's `backup` do it: the index copied at one
//! point in time while the server runs, plus every body file it refers to.
//!
//! A snapshot is a directory `DEST/facteur-YYYYMMDDTHHMMSSZ/` holding:
//! - `index.dump`: the index as a portable stream ([`crate::store::dump`]);
//! - `blobs/xx/<sha256>`: the bodies, named by their SHA-256 as in the data
//!   dir. A body already in the previous snapshot is hard-linked from it,
//!   so an incremental backup copies only new bodies;
//! - `files/`: the DKIM keys and the TLS certificate (`dkim/`, `tls/`);
//! - `MANIFEST`, written last: the index copy's size and SHA-256, and
//!   each file of `files/`. A directory without it is unfinished.
//!
//! A snapshot is first written as `<name>.partial` and renamed once whole;
//! only the newest `backup.keep` snapshots are kept.

pub mod schedule;
pub mod tar;

use crate::store::dump::{BlobUse, DumpReader};
use crate::store::{BlobId, Store, StoreError, RESTORE_MARKER};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The manifest's first line.
const MANIFEST_HEAD: &str = "facteur-backup 1";
/// Snapshot directory names start with this.
const PREFIX: &str = "facteur-";
const PARTIAL: &str = ".partial";
/// Data dir subdirectories copied as plain files.
const FILE_DIRS: [&str; 2] = ["dkim", "tls"];
/// Write buffer of the index copy: fewer, larger writes to a slow stick.
const DUMP_BUFFER: usize = 256 << 10;

/// The data dirs being backed up: one backup at a time of each.
static RUNNING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A data dir's place in [`RUNNING`], given up on drop.
struct Running(PathBuf);

impl Running {
    fn start(data_dir: &Path) -> Result<Running, String> {
        let mut all = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        if all.iter().any(|d| d == data_dir) {
            return Err("a backup is already running".into());
        }
        all.push(data_dir.to_path_buf());
        Ok(Running(data_dir.to_path_buf()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut all = RUNNING.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|d| d != &self.0);
    }
}

/// What a backup did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The snapshot directory.
    pub snapshot: PathBuf,
    /// Index records copied.
    pub records: u64,
    /// Bodies copied.
    pub copied: u64,
    /// Bodies hard-linked from the previous snapshot.
    pub linked: u64,
    /// Bytes of the bodies copied.
    pub bytes: u64,
    /// Older snapshots removed (`backup.keep`).
    pub removed: usize,
}

impl Report {
    /// One line for the log and the command line.
    pub fn line(&self) -> String {
        format!(
            "backup {}: {} index records, {} bodies copied ({} bytes), {} linked from the previous snapshot, {} old snapshots removed",
            self.snapshot.display(),
            self.records,
            self.copied,
            self.bytes,
            self.linked,
            self.removed
        )
    }
}

/// Makes a snapshot of the store in `dest`, keeping the newest `keep`
/// snapshots there (0: keep all). `link_live` hard-links bodies from the
/// data dir instead of copying them (for a staging copy on the same file
/// system, as `backup --stdout` makes).
pub fn snapshot(
    store: &Store,
    dest: &Path,
    keep: usize,
    link_live: bool,
) -> Result<Report, String> {
    let _one = Running::start(store.data_dir())?;
    fs::create_dir_all(dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let previous = snapshots(dest)?.pop();
    let name = unique_name(dest, crate::time::unix_now());
    let part = dest.join(format!("{name}{PARTIAL}"));
    let io = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    fs::create_dir_all(part.join("blobs")).map_err(|e| io("cannot create the snapshot", &e))?;
    let mut report = Report::default();

    // The index, while every body stays in place.
    let hold = store.hold_blobs();
    let dump_path = part.join("index.dump");
    {
        let file = File::create(&dump_path).map_err(|e| io("cannot write the index copy", &e))?;
        let mut w = BufWriter::with_capacity(DUMP_BUFFER, file);
        report.records = store
            .dump_index(&mut w)
            .map_err(|e| io("cannot copy the index", &e))?
            .records;
        let file = w
            .into_inner()
            .map_err(|e| io("cannot write the index copy", &e))?;
        file.sync_all()
            .map_err(|e| io("cannot write the index copy", &e))?;
    }

    // The bodies it counts.
    let blob_root = store.data_dir().join("blobs");
    let mut reader = DumpReader::new(BufReader::new(
        File::open(&dump_path).map_err(|e| io("cannot read the index copy", &e))?,
    ))
    .map_err(|e| e.to_string())?;
    while let Some(entry) = reader.next_entry().map_err(|e| e.to_string())? {
        let Some(BlobUse::Counted(id)) = entry.blob().map_err(|e| e.to_string())? else {
            continue;
        };
        let rel = blob_rel(&id);
        let to = part.join(&rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| io("cannot create a body dir", &e))?;
        }
        let from_prev = previous.as_ref().map(|p| p.join(&rel));
        if let Some(prev) = from_prev.filter(|p| p.exists()) {
            if fs::hard_link(&prev, &to).is_ok() {
                report.linked += 1;
                continue;
            }
        }
        let from = blob_root.join(&rel[6..]);
        if link_live && fs::hard_link(&from, &to).is_ok() {
            report.linked += 1;
            continue;
        }
        report.bytes +=
            copy_synced(&from, &to).map_err(|e| format!("cannot copy body {}: {e}", id.hex()))?;
        report.copied += 1;
    }
    drop(hold);

    // Keys and certificate, then the manifest that marks the end.
    let mut manifest = format!(
        "{MANIFEST_HEAD}\ncreated {}\nindex index.dump {}\n",
        crate::time::rfc3339(crate::time::unix_now()),
        hash_file(&dump_path).map_err(|e| io("cannot read the index copy", &e))?
    );
    for dir in FILE_DIRS {
        copy_tree(
            &store.data_dir().join(dir),
            &part.join("files").join(dir),
            Path::new(dir),
            &mut manifest,
        )
        .map_err(|e| io(&format!("cannot copy {dir}"), &e))?;
    }
    write_synced(&part.join("MANIFEST"), manifest.as_bytes())
        .map_err(|e| io("cannot write the manifest", &e))?;
    sync_tree(&part).map_err(|e| io("cannot sync the snapshot", &e))?;
    let done = dest.join(&name);
    fs::rename(&part, &done).map_err(|e| io("cannot name the snapshot", &e))?;
    crate::store::blobs::sync_dir(dest).map_err(|e| io("cannot sync", &e))?;
    report.snapshot = done;
    report.removed = prune(dest, keep)?;
    Ok(report)
}

/// The complete snapshots in `dest`, oldest first.
pub fn snapshots(dest: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let list = match fs::read_dir(dest) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(format!("cannot list {}: {e}", dest.display())),
    };
    for entry in list.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(PREFIX)
            && !name.ends_with(PARTIAL)
            && entry.path().join("MANIFEST").is_file()
        {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// When the newest complete snapshot in `dest` was made (its manifest's
/// modification time), for the schedule and the dashboard.
pub fn last_backup(dest: &Path) -> Option<std::time::SystemTime> {
    let last = snapshots(dest).ok()?.pop()?;
    fs::metadata(last.join("MANIFEST")).ok()?.modified().ok()
}

/// Removes unfinished snapshots and all but the newest `keep` complete
/// ones. Returns how many complete ones were removed.
fn prune(dest: &Path, keep: usize) -> Result<usize, String> {
    if let Ok(list) = fs::read_dir(dest) {
        for entry in list.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(PREFIX) && name.ends_with(PARTIAL) {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }
    let all = snapshots(dest)?;
    if keep == 0 || all.len() <= keep {
        return Ok(0);
    }
    let old = &all[..all.len() - keep];
    for p in old {
        fs::remove_dir_all(p).map_err(|e| format!("cannot remove {}: {e}", p.display()))?;
    }
    Ok(old.len())
}

/// `facteur-YYYYMMDDTHHMMSSZ`, with a suffix when that second is taken.
fn unique_name(dest: &Path, now: i64) -> String {
    let stamp: String = crate::time::rfc3339(now)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let base = format!("{PREFIX}{stamp}");
    let mut name = base.clone();
    let mut n = 1;
    while dest.join(&name).exists() || dest.join(format!("{name}{PARTIAL}")).exists() {
        n += 1;
        name = format!("{base}-{n}");
    }
    name
}

/// `blobs/xx/<hex>`: where a body lives in a snapshot.
fn blob_rel(id: &BlobId) -> String {
    let hex = id.hex();
    format!("blobs/{}/{hex}", &hex[..2])
}

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Index records read.
    pub records: u64,
    /// Bodies whose hash was checked.
    pub bodies: u64,
    /// What is missing or damaged, the first found first.
    pub problems: Vec<String>,
}

/// Most problems listed by [`verify`]; the rest are counted.
const MAX_PROBLEMS: usize = 100;

impl Verified {
    fn problem(&mut self, p: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        }
    }
}

/// Checks a snapshot: the manifest, the index copy's checksum and
/// records, each body's SHA-256, and the copied files.
pub fn verify(snapshot: &Path) -> Verified {
    let mut v = Verified::default();
    let manifest = match fs::read_to_string(snapshot.join("MANIFEST")) {
        Ok(m) => m,
        Err(e) => {
            v.problem(format!("MANIFEST: {e} (an unfinished or cut-short backup)"));
            return v;
        }
    };
    let mut lines = manifest.lines();
    if lines.next() != Some(MANIFEST_HEAD) {
        v.problem("MANIFEST: not a facteur backup of this version".into());
        return v;
    }
    for line in lines {
        let parts: Vec<&str> = line.split(' ').collect();
        if let ["index" | "file", path, sum] = parts.as_slice() {
            let at = if parts[0] == "index" {
                snapshot.join(path)
            } else {
                snapshot.join("files").join(path)
            };
            match hash_file(&at) {
                Ok(h) if h == *sum => {}
                Ok(_) => v.problem(format!("{path}: damaged (its SHA-256 differs)")),
                Err(e) => v.problem(format!("{path}: {e}")),
            }
        }
    }
    if !v.problems.is_empty() {
        return v;
    }
    let file = match File::open(snapshot.join("index.dump")) {
        Ok(f) => f,
        Err(e) => {
            v.problem(format!("index.dump: {e}"));
            return v;
        }
    };
    let mut reader = match DumpReader::new(BufReader::new(file)) {
        Ok(r) => r,
        Err(e) => {
            v.problem(format!("index.dump: {e}"));
            return v;
        }
    };
    loop {
        let entry = match reader.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => {
                v.problem(format!("index.dump: {e}"));
                break;
            }
        };
        v.records += 1;
        match entry.blob() {
            Ok(Some(BlobUse::Counted(id))) => {
                let rel = blob_rel(&id);
                match hash_file(&snapshot.join(&rel)) {
                    Ok(h) if h == id.hex() => v.bodies += 1,
                    Ok(_) => v.problem(format!("{rel}: damaged (its SHA-256 differs)")),
                    Err(e) => v.problem(format!("{rel}: {e}")),
                }
            }
            Ok(Some(BlobUse::Read(id))) => {
                let rel = blob_rel(&id);
                if !snapshot.join(&rel).is_file() {
                    v.problem(format!("{rel}: missing, a message refers to it"));
                }
            }
            Ok(None) => {}
            Err(e) => v.problem(format!(
                "index.dump: a record of {}: {e}",
                String::from_utf8_lossy(&entry.tree)
            )),
        }
    }
    v
}

/// Fills the empty data dir `data_dir` from `src`: a snapshot, a backup
/// directory (its newest snapshot), or a tar stream of one
/// (`backup --stdout`; `-` reads stdin). Refuses a non-empty data dir and
/// a damaged backup. Until it ends, the data dir holds a marker that stops
/// the server from starting on half a restore.
pub fn restore(src: &str, data_dir: &Path) -> Result<String, String> {
    if let Ok(mut list) = fs::read_dir(data_dir) {
        if list.next().is_some() {
            return Err(format!(
                "{} is not empty: restore only into an empty data dir",
                data_dir.display()
            ));
        }
    }
    fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    write_synced(&data_dir.join(RESTORE_MARKER), b"")
        .map_err(|e| format!("cannot write in {}: {e}", data_dir.display()))?;
    crate::store::blobs::sync_dir(data_dir).map_err(|e| e.to_string())?;
    match restore_into(src, data_dir) {
        Ok(line) => {
            fs::remove_file(data_dir.join(RESTORE_MARKER)).map_err(|e| e.to_string())?;
            crate::store::blobs::sync_dir(data_dir).map_err(|e| e.to_string())?;
            Ok(line)
        }
        Err(e) => {
            // Leave only the marker: the dir does not start, and the
            // next attempt is told to empty it.
            if let Ok(list) = fs::read_dir(data_dir) {
                for entry in list.flatten() {
                    if entry.file_name() != RESTORE_MARKER {
                        let p = entry.path();
                        let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
                    }
                }
            }
            Err(e)
        }
    }
}

fn restore_into(src: &str, data_dir: &Path) -> Result<String, String> {
    let staging = data_dir.join("restore-staging");
    let snapshot = if src == "-" {
        tar::extract(io::stdin().lock(), &staging)?;
        staging.clone()
    } else if Path::new(src).is_file() {
        let f = File::open(src).map_err(|e| format!("cannot open {src}: {e}"))?;
        tar::extract(BufReader::new(f), &staging)?;
        staging.clone()
    } else if Path::new(src).join("MANIFEST").exists() || Path::new(src).join("index.dump").exists()
    {
        PathBuf::from(src)
    } else {
        snapshots(Path::new(src))?
            .pop()
            .ok_or_else(|| format!("{src}: no finished backup there"))?
    };
    let checked = verify(&snapshot);
    if let Some(first) = checked.problems.first() {
        return Err(format!(
            "refusing a damaged backup ({} problems), first: {first}",
            checked.problems.len()
        ));
    }
    let same_fs = snapshot.starts_with(data_dir);
    let mut bodies = 0u64;
    move_or_copy_tree(
        &snapshot.join("blobs"),
        &data_dir.join("blobs"),
        same_fs,
        &mut bodies,
    )
    .map_err(|e| format!("cannot restore the bodies: {e}"))?;
    let files = snapshot.join("files");
    if files.exists() {
        let mut n = 0;
        move_or_copy_tree(&files, data_dir, same_fs, &mut n)
            .map_err(|e| format!("cannot restore the keys: {e}"))?;
    }
    let dump = File::open(snapshot.join("index.dump")).map_err(|e| e.to_string())?;
    let info = Store::load_index(&data_dir.join("index"), BufReader::new(dump))
        .map_err(|e: StoreError| format!("cannot restore the index: {e}"))?;
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(|e| e.to_string())?;
    }
    sync_tree(data_dir).map_err(|e| e.to_string())?;
    Ok(format!(
        "restored {} into {}: {} index records, {bodies} bodies",
        snapshot.display(),
        data_dir.display(),
        info.records
    ))
}

/// The SHA-256 of a file, in lower-case hex, read in pieces.
fn hash_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Copies a file and syncs the copy; returns its size.
fn copy_synced(from: &Path, to: &Path) -> io::Result<u64> {
    let n = fs::copy(from, to)?;
    File::open(to)?.sync_all()?;
    Ok(n)
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Copies the files under `from` (absent: nothing) to `to`, adding a
/// manifest line for each, named from `rel`.
fn copy_tree(from: &Path, to: &Path, rel: &Path, manifest: &mut String) -> io::Result<()> {
    let list = match fs::read_dir(from) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    fs::create_dir_all(to)?;
    for entry in list {
        let entry = entry?;
        let name = entry.file_name();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(&name), &rel.join(&name), manifest)?;
        } else if kind.is_file() {
            let Some(shown) = rel.join(&name).to_str().map(String::from) else {
                continue;
            };
            if shown.contains(' ') {
                continue;
            }
            copy_synced(&entry.path(), &to.join(&name))?;
            manifest.push_str(&format!("file {shown} {}\n", hash_file(&to.join(&name))?));
        }
    }
    Ok(())
}

/// Moves (same file system) or copies the files under `from` into `to`,
/// counting them.
fn move_or_copy_tree(from: &Path, to: &Path, same_fs: bool, count: &mut u64) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            move_or_copy_tree(&entry.path(), &dest, same_fs, count)?;
        } else {
            if !(same_fs && fs::rename(entry.path(), &dest).is_ok()) {
                copy_synced(&entry.path(), &dest)?;
            }
            *count += 1;
        }
    }
    Ok(())
}

/// Syncs every file and directory under `dir` (renamed files included).
fn sync_tree(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree(&entry.path())?;
        } else if entry.file_type()?.is_file() {
            File::open(entry.path())?.sync_all()?;
        }
    }
    crate::store::blobs::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{deliver_to_a, store_with_account as store, temp_dir};

    fn deliver(s: &Store, body: &str) {
        deliver_to_a(s, body.as_bytes());
    }

    #[test]
    fn incremental_snapshots_copy_only_new_bodies_and_keep_the_newest() {
        let dir = temp_dir("backup-incr");
        let s = store(&dir.join("data"));
        for i in 0..5 {
            deliver(&s, &format!("Subject: {i}\r\n\r\nbody {i}\r\n"));
        }
        let dest = dir.join("dest");
        let first = snapshot(&s, &dest, 2, false).unwrap();
        assert_eq!((first.copied, first.linked), (5, 0));
        for i in 5..8 {
            deliver(&s, &format!("Subject: {i}\r\n\r\nbody {i}\r\n"));
        }
        let second = snapshot(&s, &dest, 2, false).unwrap();
        assert_eq!((second.copied, second.linked), (3, 5));
        assert!(verify(&second.snapshot).problems.is_empty());
        let third = snapshot(&s, &dest, 2, false).unwrap();
        assert_eq!(third.removed, 1);
        assert_eq!(snapshots(&dest).unwrap(), [second.snapshot, third.snapshot]);
    }

    #[test]
    fn verify_names_a_flipped_byte_and_restore_refuses_it() {
        let dir = temp_dir("backup-flip");
        let s = store(&dir.join("data"));
        deliver(&s, "Subject: x\r\n\r\nhello\r\n");
        let r = snapshot(&s, &dir.join("dest"), 0, false).unwrap();
        let body = fs::read_dir(r.snapshot.join("blobs"))
            .unwrap()
            .flatten()
            .flat_map(|d| fs::read_dir(d.path()).unwrap().flatten())
            .next()
            .unwrap()
            .path();
        let mut bytes = fs::read(&body).unwrap();
        bytes[3] ^= 0x20;
        fs::write(&body, bytes).unwrap();
        let v = verify(&r.snapshot);
        assert_eq!(v.problems.len(), 1, "{v:?}");
        assert!(v.problems[0].contains("damaged"), "{v:?}");
        let target = dir.join("restored");
        let e = restore(r.snapshot.to_str().unwrap(), &target).unwrap_err();
        assert!(e.contains("damaged"), "{e}");
        assert!(
            Store::open(&target, 1 << 20).is_err(),
            "a refused restore does not start"
        );
    }

    #[test]
    fn restore_gives_the_same_index_and_refuses_a_non_empty_dir() {
        let dir = temp_dir("backup-restore");
        let s = store(&dir.join("data"));
        deliver(&s, "Subject: a\r\n\r\none\r\n");
        deliver(&s, "Subject: b\r\n\r\ntwo\r\n");
        let inbox = s.mailbox("a@example.com", "INBOX").unwrap().unwrap();
        let r = snapshot(&s, &dir.join("dest"), 0, false).unwrap();
        let target = dir.join("restored");
        restore(dir.join("dest").to_str().unwrap(), &target).unwrap();
        let t = Store::open(&target, 1 << 20).unwrap();
        let again = t.mailbox("a@example.com", "INBOX").unwrap().unwrap();
        assert_eq!(again.uidvalidity, inbox.uidvalidity);
        assert_eq!(t.messages(again.id).unwrap(), s.messages(inbox.id).unwrap());
        let e = restore(r.snapshot.to_str().unwrap(), &target).unwrap_err();
        assert!(e.contains("not empty"), "{e}");
    }
}
