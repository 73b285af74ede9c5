//! What clients remember survives a restart: POP3 unique-ids (RFC 1939
//! §7, UIDL), IMAP UIDVALIDITY, UIDNEXT and message UIDs (RFC 9051 §2.3.1.1).
//! Were they reset, every client would download all mail again, or skip
//! new mail whose UID it thinks it has seen.

mod common;

use common::server::{smtp_send, Lines, Server};

const ALICE: &str = "alice@example.test";
const PASSWORD: &str = "alice password";

/// What a client keeps between sessions.
#[derive(Debug, PartialEq)]
struct Seen {
    /// POP3 `UIDL` lines: "n unique-id".
    uidl: Vec<String>,
    /// IMAP INBOX UIDVALIDITY.
    uidvalidity: u64,
    /// IMAP INBOX UIDNEXT.
    uidnext: u32,
    /// IMAP INBOX message UIDs.
    uids: Vec<u32>,
}

fn deliver(srv: &Server, n: usize) {
    let body = format!("From: b@remote.test\r\nSubject: message {n}\r\n\r\nbody {n}\r\n");
    let r = smtp_send(srv.addr("smtp"), "b@remote.test", &[ALICE], &body);
    assert!(r.starts_with("250"), "{r}");
}

/// The number in `[KEY n]` of a response line.
fn code(lines: &[String], key: &str) -> u64 {
    let tag = format!("[{key} ");
    lines
        .iter()
        .find_map(|l| {
            let rest = &l[l.find(&tag)? + tag.len()..];
            rest[..rest.find(']')?].parse().ok()
        })
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
}

fn seen(srv: &Server) -> Seen {
    let mut p = Lines::connect(srv.addr("pop3"));
    assert!(p.line().starts_with("+OK"));
    p.cmd(&format!("USER {ALICE}"));
    assert!(p.line().starts_with("+OK"));
    p.cmd(&format!("PASS {PASSWORD}"));
    let r = p.line();
    assert!(r.starts_with("+OK"), "{r}");
    p.cmd("UIDL");
    assert!(p.line().starts_with("+OK"));
    let mut uidl = Vec::new();
    loop {
        let l = p.line();
        if l == "." {
            break;
        }
        uidl.push(l);
    }
    // RSET-free QUIT with nothing marked deletes nothing.
    p.cmd("QUIT");
    assert!(p.line().starts_with("+OK"));
    p.rest();

    let mut c = Lines::connect(srv.addr("imap"));
    assert!(c.line().starts_with("* OK"));
    c.cmd(&format!("a LOGIN {ALICE} \"{PASSWORD}\""));
    c.until_ok("a");
    c.cmd("b EXAMINE INBOX");
    let select = c.until_ok("b");
    c.cmd("c UID SEARCH ALL");
    let search = c.until_ok("c");
    let uids = search
        .iter()
        .find_map(|l| l.strip_prefix("* SEARCH"))
        .unwrap_or_else(|| panic!("no SEARCH in {search:?}"))
        .split_whitespace()
        .map(|u| u.parse().expect("uid"))
        .collect();
    c.cmd("d LOGOUT");
    c.until_ok("d");
    Seen {
        uidl,
        uidvalidity: code(&select, "UIDVALIDITY"),
        uidnext: code(&select, "UIDNEXT") as u32,
        uids,
    }
}

#[test]
fn uids_survive_a_restart_and_new_mail_gets_a_fresh_one() {
    let srv = Server::start("[tls]\nallow_plaintext_auth = true\n");
    srv.add_user(ALICE, PASSWORD);
    for n in 0..3 {
        deliver(&srv, n);
    }
    let before = seen(&srv);
    assert_eq!(before.uidl.len(), 3, "{before:?}");
    assert_eq!(before.uids.len(), 3, "{before:?}");

    let srv = srv.restart();
    let after = seen(&srv);
    assert_eq!(after, before, "the same after a restart");

    // A new message: a UID and unique-id never used before, the old ones
    // unchanged.
    deliver(&srv, 3);
    let later = seen(&srv);
    assert_eq!(later.uidvalidity, before.uidvalidity);
    assert_eq!(later.uids[..3], before.uids[..]);
    assert_eq!(later.uids.len(), 4, "{later:?}");
    assert!(
        later.uids[3] >= before.uidnext,
        "{later:?} after {before:?}"
    );
    assert!(later.uidnext > later.uids[3], "{later:?}");
    assert_eq!(later.uidl[..3], before.uidl[..]);
    let new_id = later.uidl[3].split_once(' ').expect("n id").1;
    assert!(
        before
            .uidl
            .iter()
            .all(|l| l.split_once(' ').map(|x| x.1) != Some(new_id)),
        "{later:?}"
    );
}
