//! Reading a Maildir as Dovecot writes it: `cur`, `new` and `tmp` at the
//! root for INBOX, Maildir++ subfolders `.Sub.Folder` (names in modified
//! UTF-7, RFC 3501 §5.1.3), flags in the file name after `:2,` (D draft,
//! F flagged, P passed, R replied, S seen, T trashed; `a`–`z` are the
//! keywords listed in the folder's `dovecot-keywords`), and the file's
//! modification time as the internal date. `tmp` holds unfinished
//! deliveries and is left alone. A file that cannot be read is listed in
//! the report and the rest is imported.

use super::Target;
use crate::store::records::flags;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Bytes read from a message file at a time.
const CHUNK: usize = 64 * 1024;

/// One folder of a Maildir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// Its name with `/` between levels (INBOX for the root).
    pub name: String,
    /// Its directory (holding `cur`, `new`, `tmp`).
    pub dir: PathBuf,
}

/// The folders of the Maildir at `root`, INBOX first.
pub fn folders(root: &Path) -> Result<Vec<Folder>, String> {
    let mut out = Vec::new();
    if root.join("cur").is_dir() || root.join("new").is_dir() {
        out.push(Folder {
            name: "INBOX".to_string(),
            dir: root.to_path_buf(),
        });
    }
    let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    let mut subs = Vec::new();
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(name) = file.to_str() else { continue };
        let Some(rest) = name.strip_prefix('.') else {
            continue;
        };
        if rest.is_empty() || rest == "." || !e.path().join("cur").is_dir() {
            continue;
        }
        let decoded =
            crate::proto::imap::utf7::decode(rest.as_bytes()).unwrap_or_else(|_| rest.to_string());
        subs.push(Folder {
            name: decoded.replace('.', "/"),
            dir: e.path(),
        });
    }
    subs.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(subs);
    if out.is_empty() {
        return Err(format!(
            "{}: not a Maildir (no cur/ or new/ and no .Folder/)",
            root.display()
        ));
    }
    Ok(out)
}

/// The keywords of a folder's `dovecot-keywords` (line `N name`), by index.
pub fn keywords(dir: &Path) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::new();
    let Ok(text) = std::fs::read_to_string(dir.join("dovecot-keywords")) else {
        return out;
    };
    for line in text.lines() {
        let Some((n, name)) = line.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else { continue };
        if n < 26 {
            if out.len() <= n {
                out.resize(n + 1, None);
            }
            out[n] = Some(name.trim().to_string());
        }
    }
    out
}

/// The flags and keywords in a message file's name (`unique:2,FRS`, or
/// `!2,` where `:` is not allowed in names).
pub fn name_flags(name: &str, keywords: &[Option<String>]) -> (u8, Vec<String>) {
    let Some(info) = name
        .rsplit_once(":2,")
        .or_else(|| name.rsplit_once("!2,"))
        .map(|(_, i)| i)
    else {
        return (0, Vec::new());
    };
    let mut bits = 0;
    let mut kw = Vec::new();
    for c in info.chars() {
        match c {
            'D' => bits |= flags::DRAFT,
            'F' => bits |= flags::FLAGGED,
            'R' => bits |= flags::ANSWERED,
            'S' => bits |= flags::SEEN,
            'T' => bits |= flags::DELETED,
            'P' => kw.push("$Forwarded".to_string()),
            'a'..='z' => {
                if let Some(Some(k)) = keywords.get((c as u8 - b'a') as usize) {
                    kw.push(k.clone());
                }
            }
            _ => {}
        }
    }
    (bits, kw)
}

/// Imports every folder of the Maildir at `root`.
pub fn import(root: &Path, target: &mut Target<'_>) -> Result<(), String> {
    let list = folders(root)?;
    let mut files = Vec::new();
    for f in &list {
        let mut these = Vec::new();
        for sub in ["cur", "new"] {
            let dir = f.dir.join(sub);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let size = e.metadata().map(|m| m.len()).unwrap_or(0);
                these.push((e.path(), name, size));
            }
        }
        // Unique names start with the delivery time: oldest first.
        these.sort_by(|a, b| a.1.cmp(&b.1));
        target
            .progress
            .add_total(these.len() as u64, these.iter().map(|t| t.2).sum());
        files.push(these);
    }
    for (f, these) in list.iter().zip(files) {
        let Some(folder) = target.folder(&f.name, None)? else {
            for (_, _, size) in these {
                target.skipped(size);
            }
            continue;
        };
        let kw = keywords(&f.dir);
        for (path, name, _) in these {
            let (bits, keywords) = name_flags(&name, &kw);
            if let Err(e) = one(target, &folder, &path, bits, keywords) {
                target.failed(e);
            }
        }
    }
    Ok(())
}

fn one(
    target: &mut Target<'_>,
    folder: &str,
    path: &Path,
    bits: u8,
    keywords: Vec<String>,
) -> Result<(), String> {
    let label = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(|e| format!("{label}: {e}"))?;
    let date = file
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(crate::time::unix_now, |d| d.as_secs() as i64);
    let mut msg = target.begin()?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => msg.write(&buf[..n]).map_err(|e| format!("{label}: {e}"))?,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("{label}: {e}")),
        }
    }
    target.commit(folder, msg, bits, keywords, date, &label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_keywords_from_file_names() {
        let kw = vec![Some("$Label1".to_string()), None, Some("todo".to_string())];
        assert_eq!(
            name_flags("1700000000.M1P2.host,S=120,W=123:2,FRSac", &kw),
            (
                flags::FLAGGED | flags::ANSWERED | flags::SEEN,
                vec!["$Label1".to_string(), "todo".to_string()]
            )
        );
        assert_eq!(
            name_flags("1700000000.M1P2.host!2,DPT", &kw),
            (
                flags::DRAFT | flags::DELETED,
                vec!["$Forwarded".to_string()]
            )
        );
        assert_eq!(name_flags("1700000000.M1P2.host", &kw), (0, vec![]));
    }

    #[test]
    fn maildir_plus_plus_folders_are_found_and_decoded() {
        let root = crate::testing::temp_dir("maildir-folders");
        for d in [
            "cur",
            ".Sent/cur",
            ".Work.2024/cur",
            ".Entw&APw-rfe/cur",
            ".notes",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("dovecot-keywords"), "0 $Label1\n2 todo\n").unwrap();
        let names: Vec<String> = folders(&root)
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["INBOX", "Entwürfe", "Sent", "Work/2024"]);
        assert_eq!(
            keywords(&root),
            vec![Some("$Label1".to_string()), None, Some("todo".to_string())]
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
