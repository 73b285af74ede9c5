//! `facteur import` and `facteur export` on the real binary: an mbox as
//! Thunderbird writes it (quoted `From ` lines, CR-only line ends, no
//! final newline, X-Mozilla-Status flags), a Maildir as Dovecot writes it
//! (flag letters, dovecot-keywords, Maildir++ folders, files that cannot
//! be read), an export imported again into another account, and a second
//! run that imports nothing.

mod common;

use common::server::{cli, test_config, Server, TempDir};
use facteur::store::records::flags;
use facteur::store::Store;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
const PASSWORD: &str = "correct horse battery";

/// What is compared of a message: subject, flags, keywords (sorted),
/// internal date and body (CRLF).
type Msg = (String, u8, Vec<String>, i64, Vec<u8>);

/// Folder → messages (sorted by subject) of an account, read from a
/// stopped server's store.
fn state(data: &Path, account: &str) -> BTreeMap<String, Vec<Msg>> {
    let store = Store::open(data, 1 << 20).expect("open store");
    let mut out = BTreeMap::new();
    for mb in store.mailboxes(account).unwrap() {
        let mut msgs = Vec::new();
        for m in store.messages(mb.id).unwrap() {
            let mut body = m.prefix.clone();
            store
                .open_blob(&m.blob)
                .unwrap()
                .read_to_end(&mut body)
                .unwrap();
            let text = String::from_utf8_lossy(&body).into_owned();
            let subject = text
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))
                .unwrap_or("")
                .trim()
                .to_string();
            let mut kw = m.keywords.clone();
            kw.sort();
            msgs.push((subject, m.flags, kw, m.internal_date, body));
        }
        msgs.sort();
        if !msgs.is_empty() {
            out.insert(mb.name.clone(), msgs);
        }
    }
    out
}

/// A stopped box with alice and bob: its config file.
fn offline_box(dir: &TempDir, extra: &str) -> std::path::PathBuf {
    let config = dir.path().join("facteur.toml");
    std::fs::write(&config, test_config(dir.path(), extra)).unwrap();
    for who in [ALICE, BOB] {
        let (ok, out, err) = cli(
            &config,
            &["user", "add", who, "--password-stdin"],
            Some(PASSWORD),
        );
        assert!(ok, "{out} {err}");
    }
    config
}

fn subjects(msgs: &[Msg]) -> Vec<&str> {
    msgs.iter().map(|m| m.0.as_str()).collect()
}

const JAN1: i64 = 1_704_103_200; // Mon Jan  1 10:00:00 2024 UTC

#[test]
fn thunderbird_mbox_through_the_running_server_then_again_imports_nothing() {
    let mut srv = Server::start("[limits]\nmax_message_size = \"2 KiB\"\n");
    srv.add_user(ALICE, PASSWORD);
    let src = TempDir::new("mbox");
    // Inbox: LF line ends, a quoted From line in a body, a message
    // Thunderbird deleted but did not compact, one over the size limit,
    // and a last message without a final newline.
    let big = "x".repeat(3000);
    let inbox = format!(
        "From - Mon Jan  1 10:00:00 2024\nX-Mozilla-Status: 0001\nX-Mozilla-Keys: todo\n\
         Message-ID: <a@old.test>\nSubject: first\n\nHello\n>From the start\n>>From quoted\n\n\
         From - Mon Jan  1 10:00:01 2024\nX-Mozilla-Status: 0009\nMessage-ID: <gone@old.test>\n\
         Subject: deleted\n\ngone\n\n\
         From - Mon Jan  1 10:00:02 2024\nX-Mozilla-Status: 0000\nMessage-ID: <big@old.test>\n\
         Subject: big\n\n{big}\n\n\
         From - Mon Jan  1 10:00:03 2024\nX-Mozilla-Status: 0005\nMessage-ID: <c@old.test>\n\
         Subject: last\n\nno newline at the end"
    );
    std::fs::write(src.path().join("Inbox"), &inbox).unwrap();
    // Sent: CR-only line ends, as old Mac mail programs wrote.
    let sent =
        "From - Mon Jan  1 11:00:00 2024\nX-Mozilla-Status: 0003\nMessage-ID: <s@old.test>\n\
                Subject: sent one\n\nbody\n"
            .replace('\n', "\r");
    std::fs::write(src.path().join("Sent"), sent).unwrap();
    for file in ["Inbox", "Sent"] {
        let path = src.path().join(file);
        let (ok, out, err) = srv.cli(&["import", ALICE, path.to_str().unwrap()], None);
        assert!(ok, "{out} {err}");
    }
    let path = src.path().join("Inbox");
    let (ok, out, err) = srv.cli(&["import", ALICE, path.to_str().unwrap()], None);
    assert!(ok, "{out} {err}");
    assert!(
        out.contains("imported 0 messages (0 bytes), skipped 4 already there"),
        "{out}"
    );
    assert!(srv.log().contains("over limits.max_message_size"));
    assert!(srv.stop());
    let st = state(&srv.dir.path().join("data"), ALICE);
    let inbox = &st["INBOX"];
    assert_eq!(subjects(inbox), ["big", "first", "last"]);
    let first = &inbox[1];
    assert_eq!(
        (first.1, first.2.clone(), first.3),
        (flags::SEEN, vec!["todo".to_string()], JAN1)
    );
    let body = String::from_utf8_lossy(&first.4);
    assert!(
        body.ends_with("\r\n\r\nHello\r\nFrom the start\r\n>From quoted\r\n"),
        "{body:?}"
    );
    let last = &inbox[2];
    assert_eq!((last.1, last.3), (flags::SEEN | flags::FLAGGED, JAN1 + 3));
    assert!(last.4.ends_with(b"no newline at the end\r\n"));
    assert_eq!(inbox[0].4.len(), inbox[0].4.len().max(3000));
    let sent = &st["Sent"];
    assert_eq!(subjects(sent), ["sent one"]);
    assert_eq!(sent[0].1, flags::SEEN | flags::ANSWERED);
    assert!(sent[0].4.ends_with(b"Subject: sent one\r\n\r\nbody\r\n"));
}

/// Writes a Maildir as Dovecot does: `new`, `cur` with flag letters and
/// keyword letters, `dovecot-keywords`, Maildir++ folders with
/// `maildirfolder`, LF line ends, delivery times as mtimes.
fn dovecot_maildir(root: &Path) {
    let put = |dir: &str, name: &str, subject: &str, mtime: i64| {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        let text = format!(
            "Message-ID: <{subject}@old.test>\nFrom: x@old.test\nSubject: {subject}\n\nbody of {subject}\n"
        );
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime as u64))
            .unwrap();
    };
    for d in [
        "tmp",
        ".Sent/tmp",
        ".Work.Projects/tmp",
        ".Work.Projects/new",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    put("new", "1704103200.M1P1.old", "new one", JAN1);
    put(
        "cur",
        "1704103201.M2P1.old,S=70,W=74:2,RSa",
        "replied",
        JAN1 + 1,
    );
    put("cur", "1704103202.M3P1.old,S=70:2,FSc", "flagged", JAN1 + 2);
    put(".Sent/cur", "1704103203.M4P1.old:2,S", "sent", JAN1 + 3);
    put(
        ".Work.Projects/cur",
        "1704103204.M5P1.old:2,DT",
        "draft",
        JAN1 + 4,
    );
    put("tmp", "1704103205.M6P1.old", "unfinished", JAN1 + 5);
    std::fs::write(root.join("dovecot-keywords"), "0 $Label1\n2 todo\n").unwrap();
    std::fs::write(root.join(".Sent/maildirfolder"), "").unwrap();
    std::fs::write(root.join(".Work.Projects/maildirfolder"), "").unwrap();
}

#[test]
fn dovecot_maildir_imports_the_readable_files_and_export_gives_it_back() {
    let dir = TempDir::new("maildir");
    let config = offline_box(&dir, "");
    let src = dir.path().join("old");
    dovecot_maildir(&src);
    // Files that cannot be read: a directory where a message should be
    // and a link to nothing.
    std::fs::create_dir_all(src.join("cur/1704103209.M9P1.old:2,S")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", src.join("cur/1704103210.M10P1.old:2,")).unwrap();
    let (ok, out, err) = cli(&config, &["import", ALICE, src.to_str().unwrap()], None);
    assert!(ok, "{out} {err}");
    assert!(out.contains("imported 5 messages"), "{out}");
    assert!(out.contains("2 messages could not be read"), "{out}");
    assert!(out.contains("1704103209.M9P1.old") && out.contains("1704103210.M10P1.old"));
    assert!(err.contains("5/7 messages"), "progress: {err}");
    let data = dir.path().join("data");
    let st = state(&data, ALICE);
    let names: Vec<&String> = st.keys().collect();
    assert_eq!(names, ["INBOX", "Sent", "Work/Projects"]);
    let inbox: Vec<(&str, u8, Vec<String>, i64)> = st["INBOX"]
        .iter()
        .map(|m| (m.0.as_str(), m.1, m.2.clone(), m.3))
        .collect();
    assert_eq!(
        inbox,
        [
            (
                "flagged",
                flags::FLAGGED | flags::SEEN,
                vec!["todo".to_string()],
                JAN1 + 2
            ),
            ("new one", 0, vec![], JAN1),
            (
                "replied",
                flags::ANSWERED | flags::SEEN,
                vec!["$Label1".to_string()],
                JAN1 + 1
            ),
        ]
    );
    assert_eq!(st["Work/Projects"][0].1, flags::DRAFT | flags::DELETED);
    assert!(st["Sent"][0].4.ends_with(b"\r\n\r\nbody of sent\r\n"));

    // Export, then import the export into bob: the same folders,
    // messages, flags, keywords and dates.
    let out_dir = dir.path().join("export");
    let (ok, out, err) = cli(&config, &["export", ALICE, out_dir.to_str().unwrap()], None);
    assert!(ok, "{out} {err}");
    assert!(out.contains("exported 5 messages"), "{out}");
    assert!(out_dir.join(".Work.Projects/maildirfolder").exists());
    let files: Vec<String> = std::fs::read_dir(out_dir.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.iter().any(|f| f.ends_with(":2,RSa")), "{files:?}");
    assert!(files.iter().all(|f| f.contains(",S=")), "{files:?}");
    let (ok, out, err) = cli(&config, &["export", ALICE, out_dir.to_str().unwrap()], None);
    assert!(!ok && err.contains("not empty"), "{out} {err}");
    let (ok, out, err) = cli(&config, &["import", BOB, out_dir.to_str().unwrap()], None);
    assert!(ok, "{out} {err}");
    assert!(out.contains("imported 5 messages"), "{out}");
    assert_eq!(state(&data, BOB), st);
    // Run again: nothing new.
    let (ok, out, err) = cli(&config, &["import", BOB, out_dir.to_str().unwrap()], None);
    assert!(ok, "{out} {err}");
    assert!(
        out.contains("imported 0 messages (0 bytes), skipped 5"),
        "{out}"
    );
}

#[test]
fn folder_map_sends_a_folder_elsewhere_or_skips_it() {
    let dir = TempDir::new("foldermap");
    let config = offline_box(&dir, "");
    let src = dir.path().join("old");
    dovecot_maildir(&src);
    let (ok, out, err) = cli(
        &config,
        &[
            "import",
            ALICE,
            src.to_str().unwrap(),
            "--folder-map",
            "Sent=Old/Sent",
            "--folder-map=Work/Projects=",
        ],
        None,
    );
    assert!(ok, "{out} {err}");
    let st = state(&dir.path().join("data"), ALICE);
    let names: Vec<&String> = st.keys().collect();
    assert_eq!(names, ["INBOX", "Old/Sent"]);
    let (ok, _, err) = cli(&config, &["import", ALICE, "/nonexistent/box"], None);
    assert!(!ok && err.contains("/nonexistent/box"), "{err}");
    let (ok, _, err) = cli(
        &config,
        &["import", "nobody@example.test", src.to_str().unwrap()],
        None,
    );
    assert!(!ok && err.contains("no user"), "{err}");
}

/// A message of the IMAP source: about 4 KB, so that a cut connection
/// is most likely cut inside a body.
fn source_message(i: usize) -> String {
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n".repeat(70);
    format!(
        "From: x@old.test\r\nTo: {ALICE}\r\nSubject: m{i:04}\r\nMessage-ID: <m{i}@old.test>\r\n\r\n{filler}"
    )
}

/// Fills a source server's account: 700 messages in INBOX (every third
/// seen, every seventh flagged with a keyword), 200 in "Sent Items" and
/// 100 in "Projects/2024", with dates a minute apart.
fn fill_source(srv: &Server) {
    let mut c = common::server::Lines::connect(srv.addr("imap"));
    c.line();
    c.cmd(&format!("a LOGIN {ALICE} \"{PASSWORD}\""));
    c.until_ok("a");
    c.cmd("b CREATE \"Sent Items\"");
    c.until_ok("b");
    c.cmd("c CREATE Projects/2024");
    c.until_ok("c");
    for batch in 0..10 {
        let mut out = Vec::new();
        for i in batch * 100..(batch + 1) * 100 {
            let (folder, flags) = match i {
                0..700 if i % 7 == 0 => ("INBOX", "\\Flagged $Label1"),
                0..700 if i % 3 == 0 => ("INBOX", "\\Seen"),
                0..700 => ("INBOX", ""),
                700..900 => ("\"Sent Items\"", "\\Seen"),
                _ => ("Projects/2024", "\\Answered"),
            };
            let msg = source_message(i);
            let (h, m) = (i / 60, i % 60);
            out.extend_from_slice(
                format!(
                    "t{i} APPEND {folder} ({flags}) \"01-Jan-2024 {h:02}:{m:02}:00 +0000\" {{{}+}}\r\n{msg}\r\n",
                    msg.len()
                )
                .as_bytes(),
            );
        }
        c.send(&out);
        for i in batch * 100..(batch + 1) * 100 {
            c.until_ok(&format!("t{i}"));
        }
    }
}

/// Forwards loopback connections to `to`; the first one is cut after
/// `cut` bytes from the server. Returns its address and whether the cut
/// happened.
fn cutting_proxy(
    to: std::net::SocketAddr,
    cut: usize,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use std::io::Write;
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let was_cut = std::sync::Arc::new(AtomicBool::new(false));
    let flag = was_cut.clone();
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().take(8).enumerate() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(to) else {
                return;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut &c2, &mut &s2);
                let _ = s2.shutdown(Shutdown::Both);
            });
            let flag = flag.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                let mut sent = 0;
                loop {
                    let k = match (&server).read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => k,
                    };
                    let k = if n == 0 { k.min(cut - sent) } else { k };
                    if (&client).write_all(&buf[..k]).is_err() {
                        break;
                    }
                    sent += k;
                    if n == 0 && sent >= cut {
                        flag.store(true, Ordering::SeqCst);
                        break;
                    }
                }
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            });
        }
    });
    (addr, was_cut)
}

#[test]
fn imap_source_with_folders_flags_and_1000_messages_a_cut_and_a_second_run() {
    let source =
        Server::start("[tls]\nallow_plaintext_auth = true\n[limits]\nmax_connections = 50\n");
    source.add_user(ALICE, PASSWORD);
    fill_source(&source);
    let dir = TempDir::new("imapdest");
    let config = offline_box(&dir, "");
    let (proxy, was_cut) = cutting_proxy(source.addr("imaps"), 1_500_000);
    let url = format!("imaps://{ALICE}@127.0.0.1:{}", proxy.port());
    let (ok, out, err) = cli(
        &config,
        &["import", BOB, &url, "--insecure"],
        Some(PASSWORD),
    );
    assert!(ok, "{out} {err}");
    assert!(was_cut.load(std::sync::atomic::Ordering::SeqCst));
    assert!(out.contains("imported 1000 messages"), "{out}");
    assert!(err.contains("/1000 messages"), "progress: {err}");
    let url = format!("imaps://{ALICE}@127.0.0.1:{}", source.addr("imaps").port());
    let (ok, out, err) = cli(
        &config,
        &["import", BOB, &url, "--insecure"],
        Some(PASSWORD),
    );
    assert!(ok, "{out} {err}");
    assert!(
        out.contains("imported 0 messages (0 bytes), skipped 1000 already there"),
        "{out}"
    );
    // Without --insecure, the source's self-signed certificate is refused.
    let (ok, _, err) = cli(&config, &["import", BOB, &url], Some(PASSWORD));
    assert!(!ok && err.contains("certificate"), "{err}");
    let (ok, _, err) = cli(
        &config,
        &["import", BOB, &url, "--insecure"],
        Some("wrong password!"),
    );
    assert!(!ok && err.contains("login"), "{err}");

    let st = state(&dir.path().join("data"), BOB);
    let count = |f: &str| st.get(f).map_or(0, Vec::len);
    assert_eq!(
        (count("INBOX"), count("Sent"), count("Projects/2024")),
        (700, 200, 100),
        "{:?}",
        st.keys().collect::<Vec<_>>()
    );
    let inbox = &st["INBOX"];
    for (i, m) in inbox.iter().enumerate() {
        assert_eq!(m.0, format!("m{i:04}"));
        assert_eq!(m.3, JAN1 - 10 * 3600 + (i as i64) * 60, "m{i:04}");
        assert_eq!(m.4, source_message(i).into_bytes(), "m{i:04}");
        let want = if i % 7 == 0 {
            (flags::FLAGGED, vec!["$Label1".to_string()])
        } else if i % 3 == 0 {
            (flags::SEEN, vec![])
        } else {
            (0, vec![])
        };
        assert_eq!((m.1, m.2.clone()), want, "m{i:04}");
    }
    assert!(st["Sent"].iter().all(|m| m.1 == flags::SEEN));
    assert!(st["Projects/2024"].iter().all(|m| m.1 == flags::ANSWERED));
}
