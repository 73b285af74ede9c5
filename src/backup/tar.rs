//! A snapshot as one tar stream (POSIX ustar, as `tar` reads it), for
//! `facteur backup --stdout`, and its extraction for restore. Only
//! regular files and directories are written or accepted.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path};

const BLOCK: usize = 512;
/// Largest file accepted from a stream (ustar's 11 octal digits).
const MAX_SIZE: u64 = (1 << 33) - 1;

/// Writes the snapshot directory `snapshot` as a tar stream, every entry
/// under its directory name, its `MANIFEST` last.
pub fn write(snapshot: &Path, out: &mut dyn Write) -> io::Result<()> {
    let top = snapshot
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::other("snapshot name is not UTF-8"))?
        .to_string();
    let mut files = Vec::new();
    list(snapshot, "", &mut files)?;
    files.sort_by_key(|f| (f == "MANIFEST", f != "index.dump", f.clone()));
    for rel in files {
        let path = snapshot.join(&rel);
        let mut f = File::open(&path)?;
        let meta = f.metadata()?;
        out.write_all(&header(&format!("{top}/{rel}"), meta.len())?)?;
        let n = io::copy(&mut (&mut f).take(meta.len()), out)?;
        if n != meta.len() {
            return Err(io::Error::other(format!("{rel} changed while written")));
        }
        out.write_all(&vec![0u8; padding(n)])?;
    }
    out.write_all(&[0u8; 2 * BLOCK])?;
    out.flush()
}

/// Extracts a stream written by [`write`] into `into` (which must not
/// exist), dropping the top directory of every name.
pub fn extract(mut input: impl Read, into: &Path) -> Result<(), String> {
    fs::create_dir_all(into).map_err(|e| format!("cannot create {}: {e}", into.display()))?;
    let bad = |why: &str| format!("the tar stream {why}");
    let mut block = [0u8; BLOCK];
    loop {
        read_block(&mut input, &mut block).map_err(|_| bad("is cut short"))?;
        if block.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let sum: u64 = block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if octal(&block[148..156]) != Some(sum) {
            return Err(bad("has a damaged header"));
        }
        let size = octal(&block[124..136])
            .filter(|&s| s <= MAX_SIZE)
            .ok_or_else(|| bad("has a bad size"))?;
        let name = format!(
            "{}{}",
            field(&block[345..500], true),
            field(&block[0..100], false)
        );
        let rel: Option<&str> = name.split_once('/').map(|(_, r)| r);
        let rel = rel
            .filter(|r| !r.is_empty())
            .filter(|r| {
                Path::new(r)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)))
            })
            .ok_or_else(|| bad(&format!("names an unsafe path {name:?}")))?;
        let dest = into.join(rel);
        match block[156] {
            b'0' | 0 => {
                if let Some(parent) = dest.parent() {
                    fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                let mut f = File::create(&dest).map_err(|e| format!("{rel}: {e}"))?;
                let n = io::copy(&mut (&mut input).take(size), &mut f)
                    .map_err(|e| format!("{rel}: {e}"))?;
                if n != size {
                    return Err(bad("is cut short"));
                }
                let mut pad = vec![0u8; padding(size)];
                input
                    .read_exact(&mut pad)
                    .map_err(|_| bad("is cut short"))?;
            }
            b'5' => fs::create_dir_all(&dest).map_err(|e| e.to_string())?,
            t => return Err(bad(&format!("holds an entry of type {:?}", t as char))),
        }
    }
}

fn read_block(input: &mut impl Read, block: &mut [u8; BLOCK]) -> io::Result<()> {
    input.read_exact(block)
}

fn list(dir: &Path, rel: &str, out: &mut Vec<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| io::Error::other("a file name is not UTF-8"))?;
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if entry.file_type()?.is_dir() {
            list(&entry.path(), &r, out)?;
        } else {
            out.push(r);
        }
    }
    Ok(())
}

fn padding(n: u64) -> usize {
    (BLOCK - (n % BLOCK as u64) as usize) % BLOCK
}

/// A ustar header of a regular file, the name split into prefix and name.
fn header(path: &str, size: u64) -> io::Result<[u8; BLOCK]> {
    if size > MAX_SIZE {
        return Err(io::Error::other(format!(
            "{path}: too large for a tar entry"
        )));
    }
    let mut h = [0u8; BLOCK];
    let (prefix, name) = if path.len() <= 100 {
        ("", path)
    } else {
        let cut = path
            .char_indices()
            .filter(|&(i, c)| c == '/' && i <= 155 && path.len() - i - 1 <= 100)
            .map(|(i, _)| i)
            .next()
            .ok_or_else(|| io::Error::other(format!("{path}: too long for a tar name")))?;
        (&path[..cut], &path[cut + 1..])
    };
    h[..name.len()].copy_from_slice(name.as_bytes());
    put_octal(&mut h[100..108], 0o600);
    put_octal(&mut h[108..116], 0);
    put_octal(&mut h[116..124], 0);
    put_octal(&mut h[124..136], size);
    put_octal(&mut h[136..148], 0);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    put_octal(&mut h[148..155], sum);
    Ok(h)
}

/// Octal digits filling the field but its last byte, which is NUL.
fn put_octal(field: &mut [u8], v: u64) {
    let last = field.len() - 1;
    let s = format!("{v:0last$o}");
    field[..last].copy_from_slice(s.as_bytes());
    field[last] = 0;
}

fn octal(field: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    u64::from_str_radix(s, 8).ok()
}

/// A NUL-terminated name field; a non-empty prefix gets its `/`.
fn field(bytes: &[u8], prefix: bool) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let s = String::from_utf8_lossy(&bytes[..end]).into_owned();
    if prefix && !s.is_empty() {
        s + "/"
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::temp_dir;

    #[test]
    fn a_snapshot_goes_through_tar_and_back() {
        let dir = temp_dir("tar");
        let snap = dir.join("facteur-20261207T000000Z");
        let long = format!("files/dkim/{}/key.pem", "d".repeat(90));
        fs::create_dir_all(snap.join(&long).parent().unwrap()).unwrap();
        fs::write(snap.join("index.dump"), b"index").unwrap();
        fs::write(snap.join("MANIFEST"), vec![7u8; 1000]).unwrap();
        fs::write(snap.join(&long), b"").unwrap();
        let mut out = Vec::new();
        write(&snap, &mut out).unwrap();
        assert_eq!(out.len() % BLOCK, 0);
        let back = dir.join("back");
        extract(out.as_slice(), &back).unwrap();
        assert_eq!(fs::read(back.join("index.dump")).unwrap(), b"index");
        assert_eq!(fs::read(back.join("MANIFEST")).unwrap(), vec![7u8; 1000]);
        assert!(back.join(&long).is_file());
        // `tar` reads it too.
        let t = dir.join("x.tar");
        fs::write(&t, &out).unwrap();
        let listed = std::process::Command::new("tar").arg("tf").arg(&t).output();
        if let Ok(o) = listed {
            assert!(o.status.success());
            assert!(String::from_utf8_lossy(&o.stdout).contains(&long));
        }
        for cut in [100, BLOCK + 3, out.len() - BLOCK - 1] {
            assert!(extract(&out[..cut], &dir.join(format!("cut{cut}"))).is_err());
        }
    }
}
