//! The console's adapter: a terminal (a serial device or the current
//! one) in raw mode, its bytes fed to [`Console`], its answers written
//! back. A session ends when the user quits, or when the line ends (end
//! of file, a hang-up): then nothing is held until the next one.

use super::core::{Console, Engine, Settings};
use super::sys::{self, RawMode, Ready};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Instant;

/// Bytes read at a time: a paste or a burst of line noise is taken in
/// several reads.
const READ_CHUNK: usize = 256;

/// The terminal a session runs on.
pub struct Terminal {
    input: File,
    output: File,
    /// The speed to set (a serial line), or none.
    baud: Option<u32>,
}

impl Terminal {
    /// The serial device at `path` (or a pty), at `baud`; it does not
    /// become this process's controlling terminal.
    pub fn device(path: &Path, baud: u32) -> Result<Terminal, String> {
        if !sys::valid_baud(baud) {
            return Err(format!("--baud {baud}: not a serial line speed"));
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let output = file
            .try_clone()
            .map_err(|e| format!("cannot use {}: {e}", path.display()))?;
        Ok(Terminal {
            input: file,
            output,
            baud: Some(baud),
        })
    }

    /// The terminal on standard input and output.
    pub fn current() -> Result<Terminal, String> {
        let dup = |fd: std::os::fd::BorrowedFd<'_>| {
            fd.try_clone_to_owned()
                .map(File::from)
                .map_err(|e| format!("cannot use the terminal: {e}"))
        };
        Ok(Terminal {
            input: dup(io::stdin().as_fd())?,
            output: dup(io::stdout().as_fd())?,
            baud: None,
        })
    }

    /// Runs one session until the user quits or the line ends. The
    /// terminal's settings are put back after.
    pub fn session(&mut self, settings: Settings, engine: &mut dyn Engine) -> Result<(), String> {
        let _raw = RawMode::enter(self.input.as_fd(), self.baud)
            .map_err(|e| format!("cannot set the terminal to raw mode: {e}"))?;
        let mut console = Console::new(settings, Instant::now());
        let first = console.start(engine);
        if !self.write(&first) {
            return Ok(());
        }
        let mut buf = [0u8; READ_CHUNK];
        while !console.ended() {
            let wait = console.deadline().saturating_duration_since(Instant::now());
            let ready = sys::wait_input(self.input.as_fd(), wait)
                .map_err(|e| format!("cannot wait for the terminal: {e}"))?;
            let out = match ready {
                Ready::TimedOut => console.tick(Instant::now(), engine),
                Ready::HungUp => return Ok(()),
                Ready::Input => match (&self.input).read(&mut buf) {
                    // End of file, or EIO from a line that hung up.
                    Ok(0) => return Ok(()),
                    Err(e) if e.raw_os_error() == Some(libc::EIO) => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("cannot read the terminal: {e}")),
                    Ok(n) => console.input(&buf[..n], Instant::now(), engine),
                },
            };
            if !self.write(&out) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Writes to the terminal; false once it is gone.
    fn write(&self, bytes: &[u8]) -> bool {
        let mut out = &self.output;
        bytes.is_empty() || out.write_all(bytes).and_then(|()| out.flush()).is_ok()
    }
}

/// Whether the locale of this process says the terminal speaks UTF-8
/// (the first of `LC_ALL`, `LC_CTYPE` and `LANG` that is set).
pub fn locale_is_utf8() -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
}
