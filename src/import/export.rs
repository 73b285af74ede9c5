//! `facteur export USER DIR`: a user's mail as a Maildir that Dovecot and
//! mutt read. INBOX is the root (`cur`, `new`, `tmp`); other folders are
//! Maildir++ subfolders `.Sub.Folder` (names in modified UTF-7, as Dovecot
//! writes them) with a `maildirfolder` file. Each message is one file in
//! `cur` named `TIME.MUID.facteur,S=SIZE:2,FLAGS` (flags in ASCII order,
//! keywords as `a`–`z` letters listed in the folder's `dovecot-keywords`),
//! with LF line ends as local mail files have, and its internal date as
//! its modification time. Files are written in `tmp` and renamed, so a
//! reader never sees half a message.

use crate::store::records::flags;
use crate::store::{Store, StoreError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What an export wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Exported {
    /// Folders written.
    pub folders: u64,
    /// Messages written.
    pub messages: u64,
    /// Bytes written.
    pub bytes: u64,
}

impl Exported {
    /// The summary printed at the end.
    pub fn line(&self, dir: &Path) -> String {
        format!(
            "exported {} messages ({} bytes) in {} folders to {}",
            self.messages,
            self.bytes,
            self.folders,
            dir.display()
        )
    }
}

fn err(e: StoreError) -> String {
    e.to_string()
}

/// Writes `account`'s mail to `dir`, which must be missing or empty.
pub fn export(store: &Store, account: &str, dir: &Path) -> Result<Exported, String> {
    let account = account.to_ascii_lowercase();
    if store.account(&account).map_err(err)?.is_none() {
        return Err(format!("no user {account}"));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .next()
        .is_some()
    {
        return Err(format!(
            "{}: not empty; export writes a new Maildir",
            dir.display()
        ));
    }
    let mut done = Exported::default();
    for mb in store.mailboxes(&account).map_err(err)? {
        let fdir = folder_dir(dir, &mb.name);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(fdir.join(sub))
                .map_err(|e| format!("{}: {e}", fdir.display()))?;
        }
        if mb.name != "INBOX" {
            std::fs::write(fdir.join("maildirfolder"), b"")
                .map_err(|e| format!("{}: {e}", fdir.display()))?;
        }
        let mut kw: Vec<String> = Vec::new();
        for s in store.walk_summaries(mb.id) {
            let s = s.map_err(err)?;
            let Some(m) = store.message(mb.id, s.uid).map_err(err)? else {
                continue;
            };
            let letters = flag_letters(m.flags, &m.keywords, &mut kw);
            let size = write_message(store, &fdir, &m, &letters)?;
            done.messages += 1;
            done.bytes += size;
        }
        if !kw.is_empty() {
            let text: String = kw
                .iter()
                .enumerate()
                .map(|(i, k)| format!("{i} {k}\n"))
                .collect();
            std::fs::write(fdir.join("dovecot-keywords"), text)
                .map_err(|e| format!("{}: {e}", fdir.display()))?;
        }
        done.folders += 1;
    }
    crate::store::blobs::sync_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(done)
}

/// The directory of a folder: the root for INBOX, `.A.B` for `A/B`.
pub fn folder_dir(root: &Path, name: &str) -> PathBuf {
    if name == "INBOX" {
        return root.to_path_buf();
    }
    let encoded = crate::proto::imap::utf7::encode(name).replace('/', ".");
    root.join(format!(".{encoded}"))
}

/// The info letters of a file name: D F P R S T, then a keyword letter
/// per keyword (numbered in `kw` as they are first met; past 26 keywords,
/// the rest are not written, as in Dovecot).
pub fn flag_letters(bits: u8, keywords: &[String], kw: &mut Vec<String>) -> String {
    let forwarded = keywords
        .iter()
        .any(|k| k.eq_ignore_ascii_case("$Forwarded"));
    let mut s = String::new();
    for (c, on) in [
        ('D', bits & flags::DRAFT != 0),
        ('F', bits & flags::FLAGGED != 0),
        ('P', forwarded),
        ('R', bits & flags::ANSWERED != 0),
        ('S', bits & flags::SEEN != 0),
        ('T', bits & flags::DELETED != 0),
    ] {
        if on {
            s.push(c);
        }
    }
    let mut letters = Vec::new();
    for k in keywords {
        if k.eq_ignore_ascii_case("$Forwarded") {
            continue;
        }
        let i = match kw.iter().position(|x| x == k) {
            Some(i) => i,
            None if kw.len() < 26 => {
                kw.push(k.clone());
                kw.len() - 1
            }
            None => continue,
        };
        letters.push((b'a' + i as u8) as char);
    }
    letters.sort_unstable();
    letters.dedup();
    s.extend(letters);
    s
}

/// Writes one message (prefix and body, CRLF made LF) to `tmp`, then
/// renames it into `cur`. Returns its size on disk.
fn write_message(
    store: &Store,
    fdir: &Path,
    m: &crate::store::records::Message,
    letters: &str,
) -> Result<u64, String> {
    let unique = format!(
        "{}.M{}P{}.facteur",
        m.internal_date.max(0),
        m.uid,
        std::process::id()
    );
    let tmp = fdir.join("tmp").join(&unique);
    let mut body = store.open_blob(&m.blob).map_err(err)?;
    let file = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
    let mut lf = Lf::default();
    let mut size = 0u64;
    let mut put = |bytes: &[u8], out: &mut std::io::BufWriter<std::fs::File>| {
        let mut buf = Vec::with_capacity(bytes.len());
        lf.push(bytes, &mut buf);
        size += buf.len() as u64;
        out.write_all(&buf)
    };
    let io = |e: std::io::Error| format!("{}: {e}", tmp.display());
    put(&m.prefix, &mut out).map_err(io)?;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match body.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        put(&chunk[..n], &mut out).map_err(io)?;
    }
    // A CR held back at the very end.
    put(b"", &mut out).map_err(io)?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    let mtime =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(m.internal_date.max(0) as u64);
    file.set_modified(mtime).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    let name = format!("{unique},S={size}:2,{letters}");
    let dest = fdir.join("cur").join(name);
    std::fs::rename(&tmp, &dest).map_err(io)?;
    Ok(size)
}

/// CRLF made LF as bytes stream by (a CR not before an LF is kept).
#[derive(Debug, Default)]
struct Lf {
    cr: bool,
}

impl Lf {
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if input.is_empty() && self.cr {
            self.cr = false;
            out.push(b'\r');
            return;
        }
        for &b in input {
            if self.cr {
                self.cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                self.cr = true;
            } else {
                out.push(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_letters_are_sorted_and_keywords_numbered() {
        let mut kw = Vec::new();
        let l = flag_letters(
            flags::SEEN | flags::ANSWERED | flags::FLAGGED,
            &["todo".into(), "$Forwarded".into(), "$Label1".into()],
            &mut kw,
        );
        assert_eq!(l, "FPRSab");
        assert_eq!(kw, ["todo", "$Label1"]);
        let l = flag_letters(flags::DRAFT | flags::DELETED, &["$Label1".into()], &mut kw);
        assert_eq!(l, "DTb");
    }

    #[test]
    fn folder_dirs_are_maildir_plus_plus() {
        let r = Path::new("/m");
        assert_eq!(folder_dir(r, "INBOX"), Path::new("/m"));
        assert_eq!(folder_dir(r, "Work/2024"), Path::new("/m/.Work.2024"));
        assert_eq!(folder_dir(r, "Entwürfe"), Path::new("/m/.Entw&APw-rfe"));
    }

    #[test]
    fn crlf_becomes_lf_split_anywhere() {
        let input = b"a\r\nb\rc\r\n\r\n";
        for i in 0..=input.len() {
            let mut lf = Lf::default();
            let mut out = Vec::new();
            lf.push(&input[..i], &mut out);
            lf.push(&input[i..], &mut out);
            lf.push(b"", &mut out);
            assert_eq!(out, b"a\nb\rc\n\n", "split at {i}");
        }
    }
}
