//! Conformance cases taken from the RFCs' rules, each naming its section.

use super::*;

/// The `* FLAGS` line of `r`, if any.
fn flags_line(r: &str) -> Option<&str> {
    r.lines().find(|l| l.starts_with("* FLAGS "))
}

/// RFC 3501 §7.2.6, RFC 9051 §7.3.5: a keyword new to the mailbox is
/// announced with FLAGS (and PERMANENTFLAGS) to every session that has it
/// selected, before any FETCH that shows it.
#[test]
fn new_keyword_is_announced_before_fetch_shows_it() {
    let st = store();
    deliver(&st, b"Subject: a\r\n\r\na\r\n");
    let mut a = client(&st);
    let mut b = client(&st);
    a.login();
    b.login();
    let r = a.run(b"s SELECT INBOX\r\n");
    assert!(!flags_line(&r).unwrap().contains("$hello"), "{r}");
    b.run(b"s SELECT INBOX\r\n");
    // The storing session: FLAGS first, then its own FETCH.
    let r = b.run(b"x STORE 1 +FLAGS ($hello)\r\n");
    let flags = r.find("* FLAGS (").expect(&r);
    let perm = r.find("* OK [PERMANENTFLAGS (").expect(&r);
    let fetch = r.find("* 1 FETCH").expect(&r);
    assert!(flags < fetch && perm < fetch, "{r}");
    assert!(flags_line(&r).unwrap().contains("$hello"), "{r}");
    assert!(r.contains("$hello \\*)]"), "{r}");
    // The other session learns it at its next command.
    let r = a.run(b"n NOOP\r\n");
    let flags = r.find("* FLAGS (").expect(&r);
    let fetch = r.find("* 1 FETCH (UID 1 FLAGS ($hello))").expect(&r);
    assert!(flags < fetch, "{r}");
    // Announced once only.
    let r = a.run(b"f FETCH 1 FLAGS\r\n");
    assert_eq!(r, "* 1 FETCH (FLAGS ($hello))\r\nf OK FETCH completed\r\n");
    let r = b.run(b"y STORE 1 -FLAGS ($HELLO)\r\nz STORE 1 +FLAGS ($Hello)\r\n");
    assert!(flags_line(&r).is_none(), "{r}");
}

/// RFC 3501 §7.2.6: keywords that come with APPEND, COPY or new mail are
/// announced too, and SELECT lists those the mailbox already has.
#[test]
fn keywords_of_new_messages_are_announced() {
    let st = store();
    deliver(&st, b"Subject: a\r\n\r\na\r\n");
    let mut a = client(&st);
    let mut b = client(&st);
    a.login();
    b.login();
    a.run(b"s SELECT INBOX\r\n");
    b.run(b"c CREATE Other\r\n");
    let msg = b"Subject: b\r\n\r\nb\r\n";
    for (mailbox, kw) in [("Other", "$Label1"), ("INBOX", "$Label2")] {
        let mut cmd = format!("a APPEND {mailbox} ({kw}) {{{}+}}\r\n", msg.len()).into_bytes();
        cmd.extend_from_slice(msg);
        cmd.extend_from_slice(b"\r\n");
        let r = b.run(&cmd);
        assert!(r.contains("a OK [APPENDUID"), "{r}");
    }
    let r = a.run(b"n NOOP\r\n");
    assert!(flags_line(&r).unwrap().contains("$Label2"), "{r}");
    let r = a.run(b"e EXAMINE Other\r\n");
    let flags = flags_line(&r).unwrap();
    assert!(
        flags.contains("$Label1") && !flags.contains("$Label2"),
        "{r}"
    );
    let r = b.run(b"s SELECT Other\r\nc UID COPY 1 INBOX\r\n");
    assert!(r.contains("c OK [COPYUID"), "{r}");
    let r = a.run(b"s SELECT INBOX\r\n");
    let flags = flags_line(&r).unwrap();
    assert!(
        flags.contains("$Label1") && flags.contains("$Label2"),
        "{r}"
    );
}
