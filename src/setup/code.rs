//! The setup code that claims a new box.
//!
//! While no admin account exists the box is unclaimed: at every start a
//! new one-time code is made, logged, and written to `DATA_DIR/setup-code`
//! (mode 0600), so that only someone with the console, the serial line or
//! a shell can read it and claim the box from the web page, as appliances
//! such as FreedomBox do. Once an admin exists, the code is forgotten and
//! the file deleted.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file in the data directory that holds the code.
pub const CODE_FILE: &str = "setup-code";

/// Characters of a code: no 0/O, 1/l/I, so that it is typed as read
/// (32 characters, 5 bits each).
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Characters in a code: 12 × 5 = 60 bits of ring's system randomness.
const CODE_LEN: usize = 12;

/// Characters per group of the shown code (`7KQ4-XM2P-9RTA`).
const GROUP: usize = 4;

/// Whether the box has been claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ClaimState {
    /// No admin account yet: the web page shows only the setup wizard.
    Unclaimed,
    /// An admin account exists.
    Claimed,
}

/// The setup code of this run, when the box is unclaimed.
#[derive(Debug)]
pub struct SetupCode {
    data_dir: PathBuf,
    /// The code without separators; `None` once claimed (or in a command
    /// that runs without the server).
    code: Mutex<Option<String>>,
}

impl SetupCode {
    /// At server start: for an unclaimed box, makes a new code, writes it
    /// to [`CODE_FILE`] and logs it; for a claimed one, removes a file
    /// left over.
    pub fn start(data_dir: &Path, claimed: bool) -> Result<SetupCode, String> {
        let this = SetupCode::offline(data_dir);
        if claimed {
            this.forget();
            return Ok(this);
        }
        let code = crate::password::random_chars(ALPHABET, CODE_LEN);
        let shown = show(&code);
        let path = this.path();
        crate::config_edit::write_atomic(&path, format!("{shown}\n").as_bytes(), 0o600)?;
        log::warn!(
            "this box is unclaimed: open the web page and give the setup code {shown} \
             (also in {})",
            path.display()
        );
        *this.lock() = Some(code);
        Ok(this)
    }

    /// Without a code (a command run while the server is stopped):
    /// claiming the box still removes the file.
    pub fn offline(data_dir: &Path) -> SetupCode {
        SetupCode {
            data_dir: data_dir.to_path_buf(),
            code: Mutex::new(None),
        }
    }

    fn path(&self) -> PathBuf {
        self.data_dir.join(CODE_FILE)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // Plain data: usable after a panic.
        self.code.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The code as shown (grouped), while there is one.
    pub fn shown(&self) -> Option<String> {
        self.lock().as_deref().map(show)
    }

    /// Whether `typed` is the code: case, spaces and dashes do not
    /// matter. Compared in constant time.
    pub fn matches(&self, typed: &str) -> bool {
        let typed: Vec<u8> = typed
            .bytes()
            .filter(|b| !matches!(b, b'-' | b' ' | b'\t'))
            .map(|b| b.to_ascii_uppercase())
            .collect();
        match self.lock().as_deref() {
            Some(code) if code.len() == typed.len() => {
                code.bytes()
                    .zip(&typed)
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
            }
            _ => false,
        }
    }

    /// The box is claimed: the code no longer works and its file is
    /// removed.
    pub fn forget(&self) {
        *self.lock() = None;
        let path = self.path();
        match fs::remove_file(&path) {
            Ok(()) => log::info!("the box is claimed; removed {}", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("cannot remove {}: {e}", path.display()),
        }
    }
}

/// `7KQ4XM2P9RTA` as `7KQ4-XM2P-9RTA`.
fn show(code: &str) -> String {
    let mut out = String::with_capacity(code.len() + code.len() / GROUP);
    for (i, c) in code.chars().enumerate() {
        if i > 0 && i % GROUP == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_code_is_written_private_shown_grouped_and_forgotten() {
        let dir = crate::testing::temp_dir("setup-code");
        let c = SetupCode::start(&dir, false).unwrap();
        let shown = c.shown().unwrap();
        assert_eq!(shown.len(), 14, "{shown}");
        assert_eq!(shown.matches('-').count(), 2, "{shown}");
        assert!(shown.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)));
        let file = dir.join(CODE_FILE);
        assert_eq!(fs::read_to_string(&file).unwrap(), format!("{shown}\n"));
        let mode = fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Typed loosely, it matches; anything else does not.
        assert!(c.matches(&shown));
        assert!(c.matches(&shown.replace('-', " ").to_lowercase()));
        assert!(!c.matches(""));
        assert!(!c.matches(&shown[..13]));
        assert!(!c.matches(&format!("{shown}2")));
        // A new start, a new code.
        let again = SetupCode::start(&dir, false).unwrap();
        assert_ne!(again.shown(), Some(shown.clone()));
        assert!(!again.matches(&shown));
        again.forget();
        assert!(!file.exists());
        assert!(!again.matches(&again.shown().unwrap_or_default()));
        assert_eq!(again.shown(), None);
        // A claimed box makes no code and removes a stale file.
        fs::write(&file, "old\n").unwrap();
        let claimed = SetupCode::start(&dir, true).unwrap();
        assert_eq!(claimed.shown(), None);
        assert!(!file.exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn codes_use_the_whole_alphabet_and_differ() {
        let mut seen = std::collections::HashSet::new();
        let mut chars = std::collections::HashSet::new();
        for _ in 0..200 {
            let c = crate::password::random_chars(ALPHABET, CODE_LEN);
            chars.extend(c.bytes());
            assert!(seen.insert(c));
        }
        assert_eq!(chars.len(), ALPHABET.len());
    }
}
