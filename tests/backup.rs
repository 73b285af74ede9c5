//! Backups and restore on the real binary: a backup while 20 clients
//! deliver and 10 read, restored into a new data dir that starts with the
//! same UIDs, flags and UIDVALIDITY; incremental snapshots; `verify` and
//! `restore` on a damaged backup; a tar stream restored under an mbsync
//! client that then sees no change.
//!
//! The mbsync test prints a note and passes when mbsync is missing, unless
//! `FACTEUR_TEST_STRICT=1`, when it fails.

mod common;

use common::server::{cli, have_tool, run_bounded, smtp_send, test_config, Lines, Server, TempDir};
use facteur::store::Store;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ALICE: &str = "alice@example.test";
const PASSWORD: &str = "correct horse battery";
const PLAIN: &str =
    "[tls]\nallow_plaintext_auth = true\n[limits]\nmax_connections = 200\nmax_connections_per_ip = 100\n";

fn message(token: &str) -> String {
    format!(
        "From: bob@remote.test\r\nTo: {ALICE}\r\nSubject: {token}\r\n\
         Message-ID: <{token}@remote.test>\r\n\r\nBody of {token}.\r\n"
    )
}

fn start() -> Server {
    let srv = Server::start(PLAIN);
    srv.add_user(ALICE, PASSWORD);
    srv
}

fn deliver(srv: &Server, token: &str) {
    let r = smtp_send(
        srv.addr("smtp"),
        "bob@remote.test",
        &[ALICE],
        &message(token),
    );
    assert!(r.starts_with("250"), "{token}: {r}");
}

fn imap_login(srv: &Server) -> Lines {
    let mut c = Lines::connect(srv.addr("imap"));
    c.line();
    c.cmd(&format!("a LOGIN {ALICE} \"{PASSWORD}\""));
    c.until_ok("a");
    c
}

/// A message as compared: flags, keywords, subject.
type Seen = (u8, Vec<String>, String);

/// UID → what is seen of it in a stopped server's INBOX, and its
/// UIDVALIDITY.
fn inbox_state(data: &Path) -> (u32, BTreeMap<u32, Seen>) {
    let store = Store::open(data, 1 << 20).expect("open store");
    let mbox = store.mailbox(ALICE, "INBOX").unwrap().expect("INBOX");
    let mut out = BTreeMap::new();
    for m in store.messages(mbox.id).unwrap() {
        let mut body = Vec::new();
        use std::io::Read;
        store
            .open_blob(&m.blob)
            .unwrap()
            .read_to_end(&mut body)
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        let token = text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or("")
            .trim()
            .to_string();
        out.insert(m.uid, (m.flags, m.keywords.clone(), token));
    }
    (mbox.uidvalidity, out)
}

/// A config for a second data dir in `dir`.
fn second_config(dir: &TempDir) -> PathBuf {
    let config = dir.path().join("facteur.toml");
    std::fs::write(&config, test_config(dir.path(), PLAIN)).unwrap();
    config
}

#[test]
fn backup_while_20_deliver_and_10_read_then_restore() {
    let srv = start();
    for i in 0..20 {
        deliver(&srv, &format!("pre{i}"));
    }
    let mut c = imap_login(&srv);
    c.cmd("b SELECT INBOX");
    c.until_ok("b");
    c.cmd("c UID STORE 1:10 +FLAGS.SILENT (\\Flagged $Work)");
    c.until_ok("c");
    c.cmd("d LOGOUT");

    let srv = Arc::new(srv);
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let mut threads = Vec::new();
    for t in 0..20 {
        let (srv, stop, acked) = (srv.clone(), stop.clone(), acked.clone());
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let token = format!("t{t}-{n}");
                let r = smtp_send(
                    srv.addr("smtp"),
                    "bob@remote.test",
                    &[ALICE],
                    &message(&token),
                );
                if r.starts_with("250") {
                    acked.lock().unwrap().push((Instant::now(), token));
                }
                n += 1;
            }
        }));
    }
    for r in 0..10 {
        let (srv, stop) = (srv.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let mut c = imap_login(&srv);
                c.cmd("s SELECT INBOX");
                c.until_ok("s");
                c.cmd("f UID FETCH 1:* (FLAGS)");
                c.until_ok("f");
                c.cmd("q LOGOUT");
                std::thread::sleep(Duration::from_millis(20 + r));
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(800));
    let dest = TempDir::new("dest");
    let started = Instant::now();
    let (ok, out, err) = srv.cli(&["backup", dest.path().to_str().unwrap()], None);
    assert!(ok, "backup: {out} {err}");
    let ended = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("client thread");
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let during = acked
        .iter()
        .filter(|(t, _)| *t > started && *t < ended)
        .count();
    let mut srv = Arc::into_inner(srv).expect("clients gone");
    assert!(srv.stop());
    let (validity, original) = inbox_state(&srv.dir.path().join("data"));
    assert!(original.len() > 40, "mail flowed: {}", original.len());

    let second = TempDir::new("restored");
    let config = second_config(&second);
    let (ok, out, err) = cli(&config, &["restore", dest.path().to_str().unwrap()], None);
    assert!(ok, "restore: {out} {err}");
    // It starts and serves the mail.
    let mut restored_srv = Server::start_with(second, config);
    let mut c = imap_login(&restored_srv);
    c.cmd("s SELECT INBOX");
    let lines = c.until_ok("s");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("[UIDVALIDITY {validity}]"))),
        "{lines:?}"
    );
    c.cmd("q LOGOUT");
    assert!(restored_srv.stop());
    let (validity2, restored) = inbox_state(&restored_srv.dir.path().join("data"));
    assert_eq!(validity2, validity);
    // Every message acknowledged before the backup started is there...
    let tokens: std::collections::HashSet<&str> =
        restored.values().map(|(_, _, t)| t.as_str()).collect();
    for (at, token) in &acked {
        if *at < started {
            assert!(
                tokens.contains(token.as_str()),
                "{token} acknowledged before the backup is missing"
            );
        }
    }
    for i in 0..20 {
        assert!(tokens.contains(format!("pre{i}").as_str()));
    }
    // ...with its UID and flags, and nothing that did not exist.
    for (uid, m) in &restored {
        assert_eq!(original.get(uid), Some(m), "UID {uid}");
    }
    assert_eq!(
        restored[&1].0 & facteur::store::flags::FLAGGED,
        facteur::store::flags::FLAGGED
    );
    assert_eq!(restored[&1].1, ["$Work"]);
    eprintln!(
        "{} messages at the end, {} in the backup, {during} acknowledged while it ran",
        original.len(),
        restored.len()
    );
}

#[test]
fn incremental_backup_copies_only_new_bodies_and_verify_finds_a_flipped_byte() {
    let srv = start();
    for i in 0..20 {
        deliver(&srv, &format!("first{i}"));
    }
    let dest = TempDir::new("dest");
    let d = dest.path().to_str().unwrap();
    let (ok, out, err) = srv.cli(&["backup", d], None);
    assert!(ok, "{out} {err}");
    assert!(out.contains(" 20 bodies copied"), "{out}");
    for i in 0..100 {
        deliver(&srv, &format!("second{i}"));
    }
    let (ok, out, err) = srv.cli(&["backup", d, "--keep", "2"], None);
    assert!(ok, "{out} {err}");
    assert!(
        out.contains(" 100 bodies copied") && out.contains(" 20 linked"),
        "{out}"
    );
    let (ok, out, _) = srv.cli(&["backup", "verify", d], None);
    assert!(ok, "{out}");
    assert_eq!(out.matches(": ok (").count(), 2, "{out}");

    // Flip one byte of a body only the newest snapshot has.
    let newest = facteur::backup::snapshots(dest.path())
        .unwrap()
        .pop()
        .unwrap();
    let body = std::fs::read_dir(newest.join("blobs"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|e| e.path())
        .find(|p| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(p).unwrap().nlink() == 1
        })
        .expect("a body copied once");
    let mut bytes = std::fs::read(&body).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&body, bytes).unwrap();
    let name = body.file_name().unwrap().to_str().unwrap().to_string();
    let (ok, out, _) = srv.cli(&["backup", "verify", newest.to_str().unwrap()], None);
    assert!(!ok, "{out}");
    assert!(out.contains(&name) && out.contains("damaged"), "{out}");

    // Restore refuses it, and leaves a dir that does not start.
    let second = TempDir::new("restored");
    let config = second_config(&second);
    let (ok, _, err) = cli(&config, &["restore", newest.to_str().unwrap()], None);
    assert!(!ok);
    assert!(err.contains(&name), "{err}");
    let (ok, _, err) = cli(&config, &["user", "list"], None);
    assert!(!ok && err.contains("unfinished restore"), "{err}");
}

/// Runs mbsync on the config; asserts success.
fn mbsync(config: &Path) -> String {
    let (ok, out, err) = run_bounded(
        Command::new("/usr/bin/mbsync")
            .arg("-c")
            .arg(config)
            .arg("-a"),
        Duration::from_secs(120),
    );
    assert!(ok, "mbsync failed:\n{out}\n{err}");
    format!("{out}{err}")
}

/// The maildir's file names (UIDs and flags are in them).
fn maildir_names(inbox: &Path) -> Vec<String> {
    let mut names: Vec<String> = ["cur", "new"]
        .iter()
        .flat_map(|s| {
            std::fs::read_dir(inbox.join(s))
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn mbsync_config(srv: &Server, local: &Path, cert: &Path) -> PathBuf {
    let config = local.join("mbsyncrc");
    let maildir = local.join("mail");
    std::fs::create_dir_all(&maildir).unwrap();
    std::fs::write(
        &config,
        format!(
            "IMAPAccount facteur\nHost localhost\nPort {port}\nUser {ALICE}\n\
             Pass \"{PASSWORD}\"\nSSLType IMAPS\nCertificateFile {cert}\n\n\
             IMAPStore remote\nAccount facteur\n\n\
             MaildirStore local\nPath {root}/\nInbox {root}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX\n\
             Sync Pull Push\nCreate Both\nExpunge Both\nSyncState *\n",
            port = srv.addr("imaps").port(),
            cert = cert.display(),
            root = maildir.display(),
        ),
    )
    .unwrap();
    config
}

#[test]
fn a_tar_stream_restores_and_mbsync_sees_no_change() {
    if !have_tool("/usr/bin/mbsync") {
        return;
    }
    let mut srv = start();
    for i in 0..30 {
        deliver(&srv, &format!("sync{i}"));
    }
    let mut c = imap_login(&srv);
    c.cmd("b SELECT INBOX");
    c.until_ok("b");
    c.cmd("c UID STORE 2:6 +FLAGS.SILENT (\\Seen)");
    c.until_ok("c");
    c.cmd("d LOGOUT");
    let local = TempDir::new("maildir");
    let cert = local.path().join("cert.pem");
    std::fs::copy(srv.dir.path().join("data/tls/cert.pem"), &cert).unwrap();
    mbsync(&mbsync_config(&srv, local.path(), &cert));
    let inbox = local.path().join("mail/INBOX");
    let before = maildir_names(&inbox);
    assert_eq!(before.len(), 30);

    let tar = local.path().join("office.tar");
    let out = Command::new(common::server::bin())
        .args(["backup", "--stdout", "--config"])
        .arg(&srv.config)
        .stdout(std::fs::File::create(&tar).unwrap())
        .status()
        .unwrap();
    assert!(out.success());
    assert!(srv.stop());
    let staged: Vec<_> = std::fs::read_dir(srv.dir.path().join("data"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("backup-stream"))
        .collect();
    assert!(staged.is_empty(), "the staging copy is removed");

    // A cut stream is refused; the whole one restores.
    let bytes = std::fs::read(&tar).unwrap();
    let cut = local.path().join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let refused = TempDir::new("refused");
    let (ok, _, err) = cli(
        &second_config(&refused),
        &["restore", cut.to_str().unwrap()],
        None,
    );
    assert!(!ok, "a cut stream: {err}");

    let second = TempDir::new("restored");
    let config = second_config(&second);
    let (ok, out, err) = cli(&config, &["restore", tar.to_str().unwrap()], None);
    assert!(ok, "{out} {err}");
    let restored = Server::start_with(second, config);
    let sync = mbsync(&mbsync_config(&restored, local.path(), &cert));
    assert_eq!(maildir_names(&inbox), before, "{sync}");
}

#[test]
fn scheduled_backups_run_and_are_logged() {
    let dest = TempDir::new("scheduled");
    let srv = Server::start(&format!(
        "{PLAIN}[backup]\ndir = \"{}\"\nevery = \"1h\"\nkeep = 2\n",
        dest.path().display()
    ));
    srv.add_user(ALICE, PASSWORD);
    // No snapshot yet: the first runs at once.
    let deadline = Instant::now() + Duration::from_secs(30);
    while facteur::backup::snapshots(dest.path()).unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no scheduled snapshot: {}",
            srv.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !srv.log().contains("scheduled backup") {
        assert!(Instant::now() < deadline, "not logged: {}", srv.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, out, _) = srv.cli(&["backup", "verify", dest.path().to_str().unwrap()], None);
    assert!(ok, "{out}");
}
