//! Message sources of `facteur spam train`: a directory of message files
//! (Maildir `cur`/`new` included) or an mbox file.

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::path::{Path, PathBuf};

/// Most bytes of one mbox message kept for training; the rest is
/// skipped (the tokeniser looks at the start only).
const MAX_MBOX_MESSAGE: usize = 4 << 20;
/// Directory depth searched for message files.
const MAX_DEPTH: usize = 4;

/// What a bulk training did.
#[derive(Debug, Default)]
pub struct Counts {
    /// Newly trained.
    pub new: u64,
    /// Trained before as the other class.
    pub reversed: u64,
    /// Trained before as this class.
    pub already: u64,
    /// Not readable.
    pub unreadable: u64,
}

/// A message to read, from the start.
pub trait Source: Read + Seek {}
impl<T: Read + Seek> Source for T {}

/// Calls `f` with each message of `path`: every file under a directory
/// (hidden ones skipped), or each message of an mbox, or the one file.
pub fn each_message(
    path: &Path,
    f: &mut dyn FnMut(&mut dyn Source) -> Result<(), String>,
) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_dir() {
        let mut files = Vec::new();
        walk(path, 0, &mut files)?;
        files.sort();
        for file in files {
            match File::open(&file) {
                Ok(fh) => f(&mut BufReader::new(fh))?,
                Err(e) => eprintln!("facteur: {}: {e}", file.display()),
            }
        }
        return Ok(());
    }
    let mut file =
        BufReader::new(File::open(path).map_err(|e| format!("{}: {e}", path.display()))?);
    let is_mbox = file
        .fill_buf()
        .map_err(|e| e.to_string())?
        .starts_with(b"From ");
    if is_mbox {
        mbox(file, f)
    } else {
        f(&mut file)
    }
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| e.to_string())?;
        if kind.is_dir() {
            // Maildir: messages are in cur/ and new/, never in tmp/.
            if depth < MAX_DEPTH && entry.file_name() != "tmp" {
                walk(&path, depth + 1, out)?;
            }
        } else if kind.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// Splits an mbox at its "From " lines, undoing ">From " quoting
/// (mboxrd: one '>' goes from each `>*From ` line).
fn mbox(
    mut input: impl BufRead,
    f: &mut dyn FnMut(&mut dyn Source) -> Result<(), String>,
) -> Result<(), String> {
    let mut msg: Vec<u8> = Vec::new();
    let mut started = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = input
            .by_ref()
            .take(MAX_MBOX_MESSAGE as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        if line.starts_with(b"From ") {
            if started {
                f(&mut Cursor::new(std::mem::take(&mut msg)))?;
            }
            started = true;
            continue;
        }
        let quoted = line.iter().take_while(|b| **b == b'>').count();
        let body = if quoted > 0 && line.get(quoted..).is_some_and(|l| l.starts_with(b"From ")) {
            line.get(1..).unwrap_or_default()
        } else {
            &line[..]
        };
        if msg.len() + body.len() <= MAX_MBOX_MESSAGE {
            msg.extend_from_slice(body);
        }
    }
    if started {
        f(&mut Cursor::new(msg))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_and_unquotes() {
        let data = b"From a@x Mon Jan  1 00:00:00 2024\nSubject: one\n\n>From here\n>>From there\n\nFrom b@x Mon Jan  1 00:00:00 2024\nSubject: two\n\nbody\n";
        let mut got = Vec::new();
        mbox(&data[..], &mut |r| {
            let mut s = String::new();
            r.read_to_string(&mut s).unwrap();
            got.push(s);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            vec![
                "Subject: one\n\nFrom here\n>From there\n\n".to_string(),
                "Subject: two\n\nbody\n".to_string()
            ]
        );
    }
}
