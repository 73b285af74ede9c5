//! A full disk, end to end: the data dir on a small tmpfs, filled and
//! freed under the real server.
//!
//! - Down to the reserve (`store.min_free`), APPEND is refused with
//!   `NO [OVERQUOTA]` while reading, flagging and expunging still work, and
//!   once space is freed mail flows again without a restart.
//! - Filled to the last byte, sled's own writes fail and sled keeps that
//!   error; the server then exits with status 75 for systemd to restart it,
//!   rather than stay up refusing everything. Started again after space is
//!   freed, it has every message it acknowledged.
//!
//! Mounting needs root: without it the test says so and passes, unless
//! `FACTEUR_TEST_STRICT` is set, when it fails.

mod common;

use common::server::{smtp_send, test_config, Lines, Server, TempDir};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ALICE: &str = "alice@example.test";
const PASSWORD: &str = "correct horse battery";
const SIZE_MIB: u64 = 64;
const CONFIG: &str = "[tls]\nallow_plaintext_auth = true\n\n[store]\nmin_free = \"24 MiB\"\n";

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, mib: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).expect("mount point");
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            assert!(
                std::env::var("FACTEUR_TEST_STRICT").is_err(),
                "cannot mount a tmpfs (the disk-full test needs root)"
            );
            eprintln!("skipping: cannot mount a tmpfs (needs root)");
            return None;
        }
        Some(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
        if let Some(parent) = self.0.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

fn available(dir: &Path) -> u64 {
    let st = rustix::fs::statvfs(dir).expect("statvfs");
    st.f_bavail * st.f_frsize
}

/// Writes `file` until at most `leave` bytes are free, or the disk is full.
fn fill(dir: &Path, file: &Path, leave: u64) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("filler");
    let chunk = vec![0x55u8; 64 << 10];
    while available(dir) > leave {
        let room = (available(dir) - leave).min(chunk.len() as u64) as usize;
        if f.write_all(&chunk[..room.max(1)]).is_err() {
            break;
        }
    }
    let _ = f.sync_all();
}

/// Fills every last byte (including blocks a smaller write still fits in).
fn fill_completely(dir: &Path, file: &Path) {
    fill(dir, file, 0);
    let mut f = OpenOptions::new().append(true).open(file).expect("filler");
    while f.write_all(&[0u8; 512]).is_ok() {}
    while f.write_all(&[0u8]).is_ok() {}
}

/// An IMAP connection logged in as Alice.
struct Imap {
    c: Lines,
    n: u32,
}

impl Imap {
    fn login(srv: &Server) -> Imap {
        let mut c = Lines::connect(srv.addr("imap"));
        let g = c.line();
        assert!(g.starts_with("* OK"), "{g}");
        let mut i = Imap { c, n: 0 };
        let r = i.cmd(&format!("LOGIN {ALICE} \"{PASSWORD}\""));
        assert!(r.1.contains(" OK"), "{r:?}");
        let r = i.cmd("SELECT INBOX");
        assert!(r.1.contains(" OK"), "{r:?}");
        i
    }

    fn tag(&mut self) -> String {
        self.n += 1;
        format!("t{}", self.n)
    }

    /// Untagged lines and the tagged reply; an empty reply at EOF.
    fn read(&mut self, tag: &str) -> (Vec<String>, String) {
        let mut untagged = Vec::new();
        loop {
            let l = self.c.line();
            if l.is_empty() || l.starts_with(&format!("{tag} ")) {
                return (untagged, l);
            }
            untagged.push(l);
        }
    }

    fn cmd(&mut self, command: &str) -> (Vec<String>, String) {
        let tag = self.tag();
        self.c.cmd(&format!("{tag} {command}"));
        self.read(&tag)
    }

    /// APPENDs with a synchronising literal; the tagged reply.
    fn append(&mut self, text: &str) -> String {
        let tag = self.tag();
        self.c
            .cmd(&format!("{tag} APPEND INBOX {{{}}}", text.len()));
        loop {
            let l = self.c.line();
            if l.starts_with('+') {
                break;
            }
            if l.is_empty() || l.starts_with(&format!("{tag} ")) {
                return l;
            }
        }
        self.c.send(text.as_bytes());
        self.c.send(b"\r\n");
        self.read(&tag).1
    }

    /// The number of messages in INBOX.
    fn count(&mut self) -> usize {
        // NOOP first: the session learns of new mail between commands.
        let (_, r) = self.cmd("NOOP");
        assert!(r.contains(" OK"), "{r}");
        let (lines, r) = self.cmd("SEARCH ALL");
        assert!(r.contains(" OK"), "{r}");
        lines
            .iter()
            .find_map(|l| l.strip_prefix("* SEARCH"))
            .map(|s| s.split_whitespace().count())
            .unwrap_or(0)
    }
}

/// Sends message `n` to Alice over SMTP; the final reply.
fn send(srv: &Server, n: usize) -> String {
    smtp_send(srv.addr("smtp"), "bob@example.test", &[ALICE], &message(n))
}

fn message(n: usize) -> String {
    format!("From: bob@example.test\r\nSubject: m{n}\r\n\r\nbody {n}\r\n")
}

/// Retries `f` until it returns true, for at most `limit`.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether the process has exited (a zombie, not yet waited for).
fn exited(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
                .unwrap_or(true)
        })
        .unwrap_or(true)
}

/// A full disk must not wedge the store until a restart.
#[test]
fn a_full_disk_refuses_new_mail_and_mail_flows_again_once_freed() {
    let dir = TempDir::new("disk-full");
    let data = dir.path().join("data");
    let Some(_fs) = Tmpfs::mount(&data, SIZE_MIB) else {
        return;
    };
    let config = dir.path().join("facteur.toml");
    std::fs::write(&config, test_config(dir.path(), CONFIG)).expect("config");
    let srv = Server::start_with(dir, config);
    srv.add_user(ALICE, PASSWORD);
    let filler = data.join("filler");
    let mut acked = 0;
    for n in 0..3 {
        let r = send(&srv, n);
        assert!(r.starts_with("250"), "{r}");
        acked += 1;
    }
    let mut imap = Imap::login(&srv);
    let r = imap.append(&message(3));
    assert!(r.contains(" OK"), "{r}");
    acked += 1;
    let r = imap.append("Subject: delete me\r\n\r\nx\r\n");
    assert!(r.contains(" OK"), "{r}");
    assert_eq!(imap.count(), acked + 1);

    // Down into the reserve: APPEND is refused (once the cached free
    // space is a second old at most), before its literal is sent.
    fill(&data, &filler, 12 << 20);
    let mut refusal = String::new();
    let refused = within(Duration::from_secs(5), || {
        refusal = imap.append(&message(100 + acked));
        if refusal.contains(" OK") {
            acked += 1;
        }
        refusal.contains("NO [OVERQUOTA]")
    });
    assert!(refused, "APPEND with 12 MiB free: {refusal}");
    assert!(!refusal.contains('+'), "{refusal}");
    // Reading, flagging and expunging still work: users can make room.
    let (lines, r) = imap.cmd("FETCH 1 (BODY.PEEK[TEXT])");
    assert!(r.contains(" OK"), "{r}");
    assert!(lines.iter().any(|l| l == "body 0"), "{lines:?}");
    let (_, r) = imap.cmd("STORE 1 +FLAGS (\\Flagged)");
    assert!(r.contains(" OK"), "{r}");
    let (lines, _) = imap.cmd("SEARCH SUBJECT \"delete me\"");
    let doomed = lines[0].trim_start_matches("* SEARCH ").to_string();
    let (_, r) = imap.cmd(&format!("STORE {doomed} +FLAGS (\\Deleted)"));
    assert!(r.contains(" OK"), "{r}");
    let (lines, r) = imap.cmd("EXPUNGE");
    assert!(r.contains(" OK"), "{r}");
    assert!(lines.iter().any(|l| l.ends_with("EXPUNGE")), "{lines:?}");
    // SMTP refuses new mail at MAIL FROM as well: 452 4.3.1, insufficient
    // system storage (RFC 3463 §3.4), a temporary failure.
    let r = send(&srv, 200);
    assert!(r.starts_with("452 4.3.1"), "{r}");

    // Space is freed: mail flows again, no restart.
    std::fs::remove_file(&filler).expect("free");
    let mut reply = String::new();
    let flows = within(Duration::from_secs(5), || {
        reply = imap.append(&message(300));
        reply.contains(" OK")
    });
    assert!(flows, "APPEND after space was freed: {reply}");
    acked += 1;
    let r = send(&srv, 301);
    assert!(r.starts_with("250"), "{r}");
    acked += 1;
    assert_eq!(imap.count(), acked);

    // Filled to the last byte, bodies cannot be written: refused, not lost.
    fill_completely(&data, &filler);
    let r = send(&srv, 400);
    assert!(r.starts_with("452 4.3.1"), "{r}");
    // Changing a flag writes the index; when sled's write fails, sled keeps
    // the error and the server exits to be restarted.
    let pid = srv.pid();
    let mut seen = 0;
    let gone = within(Duration::from_secs(20), || {
        if exited(pid) {
            return true;
        }
        seen ^= 1;
        let flag = if seen == 1 { "+FLAGS" } else { "-FLAGS" };
        let (_, r) = imap.cmd(&format!("STORE 1 {flag} (\\Seen)"));
        r.is_empty() || exited(pid)
    });
    assert!(gone, "the server kept running with a failed index");
    assert!(within(Duration::from_secs(10), || exited(pid)));
    std::fs::remove_file(&filler).expect("free");
    let mut srv = srv;
    assert!(!srv.stop(), "exit status 75, a failure");
    assert!(
        srv.log().contains("exiting with status 75"),
        "{}",
        srv.log()
    );

    // Started again (as systemd does), with everything acknowledged.
    let srv = srv.restart();
    let mut imap = Imap::login(&srv);
    assert_eq!(imap.count(), acked);
    let r = send(&srv, 500);
    assert!(r.starts_with("250"), "{r}");
    let r = imap.append(&message(501));
    assert!(r.contains(" OK"), "{r}");
    assert_eq!(imap.count(), acked + 2);
}
