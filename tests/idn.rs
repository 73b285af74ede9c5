//! Internationalised domain names end to end: a domain, a user and an
//! alias added by the CLI in U-labels are kept as A-labels, and SMTPUTF8
//! mail to the U-label addresses reaches them.

mod common;

use common::server::{mailbox_messages, Lines, Server};

/// Hardening item 15: `a@bücher.test`, where `xn--bcher-kva.test` is ours,
/// was refused with 554 (relay denied), and the CLI refused the domain;
/// the user logs in with the address as they know it, U-labels and all.
#[test]
fn smtputf8_mail_to_a_u_label_domain_is_delivered() {
    let mut s = Server::start("[tls]\nallow_plaintext_auth = true\n");
    let (ok, out, err) = s.cli(&["domain", "add", "Bücher.test"], None);
    assert!(ok, "domain add: {out}{err}");
    assert!(out.contains("xn--bcher-kva.test"), "{out}");
    s.add_user("a@bücher.test", "correct horse battery");
    let (ok, out, err) = s.cli(&["alias", "add", "b@BÜCHER.test", "a@bücher.test"], None);
    assert!(ok, "alias add: {out}{err}");
    let (_, users, _) = s.cli(&["user", "list"], None);
    assert!(users.contains("a@xn--bcher-kva.test"), "{users}");
    let (ok, out, err) = s.cli(
        &["user", "passwd", "a@Bücher.test", "--password-stdin"],
        Some("another long password"),
    );
    assert!(ok, "user passwd: {out}{err}");
    let mut c = Lines::connect(s.addr("submission"));
    assert!(c.reply().starts_with("220"));
    c.cmd("EHLO client.test");
    assert!(c.reply().starts_with("250"));
    let token = facteur::proto::base64::encode("\0a@Bücher.test\0another long password".as_bytes());
    c.cmd(&format!("AUTH PLAIN {token}"));
    let r = c.reply();
    assert!(r.starts_with("235"), "login with a U-label domain: {r}");
    c.cmd("QUIT");
    let (ok, out, err) = s.cli(&["alias", "add", "c@bücher.test", "a@bücher.test"], None);
    assert!(ok, "alias add: {out}{err}");
    let (ok, out, err) = s.cli(&["alias", "remove", "c@bücher.test"], None);
    assert!(ok, "alias remove: {out}{err}");

    let mut c = Lines::connect(s.addr("smtp"));
    assert!(c.reply().starts_with("220"));
    c.cmd("EHLO client.test");
    assert!(c.reply().starts_with("250"));
    c.cmd("MAIL FROM:<jörg@sender.test> SMTPUTF8");
    assert!(c.reply().starts_with("250"));
    c.cmd("RCPT TO:<a@bücher.test>");
    let r = c.reply();
    assert!(r.starts_with("250"), "U-label recipient: {r}");
    c.cmd("RCPT TO:<b@Bücher.test>");
    let r = c.reply();
    assert!(r.starts_with("250"), "U-label alias: {r}");
    c.cmd("DATA");
    assert!(c.reply().starts_with("354"));
    c.send(
        "From: jörg@sender.test\r\nTo: a@bücher.test\r\nSubject: Grüße\r\n\r\nHallo.\r\n.\r\n"
            .as_bytes(),
    );
    let r = c.reply();
    assert!(r.starts_with("250"), "DATA: {r}");
    c.cmd("QUIT");
    assert!(s.stop());
    let inbox = mailbox_messages(&s.dir.path().join("data"), "a@xn--bcher-kva.test", "INBOX");
    assert_eq!(inbox.len(), 1, "one copy for the user and its alias");
}
