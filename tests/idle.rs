//! IMAP IDLE (RFC 2177) told of mail that arrives over SMTP: the delivery
//! path, not only another IMAP session, wakes an idling client.

mod common;

use common::server::{smtp_send, Lines, Server};

const ALICE: &str = "alice@example.test";
const PASSWORD: &str = "alice password";

/// Sends `cmd` tagged `tag`; returns the untagged lines before the tagged OK.
fn command(c: &mut Lines, tag: &str, cmd: &str) -> Vec<String> {
    c.cmd(&format!("{tag} {cmd}"));
    c.until_ok(tag)
}

#[test]
fn mail_arriving_over_smtp_reaches_an_idling_client() {
    let srv = Server::start("[tls]\nallow_plaintext_auth = true\n");
    srv.add_user(ALICE, PASSWORD);
    let first = smtp_send(
        srv.addr("smtp"),
        "b@remote.test",
        &[ALICE],
        "Subject: before\r\n\r\nbefore\r\n",
    );
    assert!(first.starts_with("250"), "{first}");

    let mut c = Lines::connect(srv.addr("imap"));
    assert!(c.line().starts_with("* OK"));
    command(&mut c, "a", &format!("LOGIN {ALICE} \"{PASSWORD}\""));
    let select = command(&mut c, "b", "SELECT INBOX");
    assert!(select.iter().any(|l| l == "* 1 EXISTS"), "{select:?}");
    c.cmd("c IDLE");
    assert!(c.line().starts_with("+ "), "continuation");

    let r = smtp_send(
        srv.addr("smtp"),
        "b@remote.test",
        &[ALICE],
        "Subject: during\r\n\r\nduring\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    // Unprompted: the client has sent nothing since IDLE. Lines::line
    // fails after its read timeout if nothing comes.
    let mut told = Vec::new();
    loop {
        let l = c.line();
        assert!(!l.is_empty(), "closed while idling; so far {told:?}");
        told.push(l.clone());
        if l == "* 2 EXISTS" {
            break;
        }
        assert!(l.starts_with("* "), "{told:?}");
    }
    c.cmd("DONE");
    let mut l = c.line();
    while l.starts_with("* ") {
        l = c.line();
    }
    assert!(l.starts_with("c OK"), "{l}");
    let search = command(&mut c, "d", "SEARCH SUBJECT during");
    assert_eq!(search, ["* SEARCH 2"]);
}
