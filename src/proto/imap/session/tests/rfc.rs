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
    let fetch = r
        .find("* 1 FETCH (UID 1 FLAGS ($hello \\Recent))")
        .expect(&r);
    assert!(flags < fetch, "{r}");
    // Announced once only.
    let r = a.run(b"f FETCH 1 FLAGS\r\n");
    assert_eq!(
        r,
        "* 1 FETCH (FLAGS ($hello \\Recent))\r\nf OK FETCH completed\r\n"
    );
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

/// The `MODSEQ (n)` of message `seq` in `r`.
fn modseq_of(r: &str, seq: u32) -> u64 {
    let at = r.find(&format!("* {seq} FETCH (")).expect(r);
    let m = r[at..].find("MODSEQ (").expect(r) + at + 8;
    r[m..].split(')').next().unwrap().parse().unwrap()
}

/// RFC 7162 §3.1: the first CONDSTORE-enabling FETCH of a session with a
/// mailbox selected tells the mailbox's HIGHESTMODSEQ; §3.1.5: with MIN or
/// MAX alone, the ESEARCH MODSEQ is that of the message returned.
#[test]
fn condstore_enabling_fetch_and_min_max_modseq() {
    let st = store();
    for _ in 0..3 {
        deliver(&st, b"Subject: a\r\n\r\na\r\n");
    }
    let mut c = client(&st);
    c.login();
    c.run(b"s SELECT INBOX\r\nt STORE 3 +FLAGS.SILENT (\\Flagged)\r\n");
    let r = c.run(b"f FETCH 1:3 (MODSEQ)\r\n");
    let (first, last) = (modseq_of(&r, 1), modseq_of(&r, 3));
    assert!(first < last, "{r}");
    assert!(
        r.ends_with(&format!("f OK [HIGHESTMODSEQ {last}] FETCH completed\r\n")),
        "{r}"
    );
    // Only the first enabling command carries it.
    let r = c.run(b"g FETCH 1 (MODSEQ)\r\n");
    assert!(r.ends_with("g OK FETCH completed\r\n"), "{r}");
    let r = c.run(b"m SEARCH RETURN (MIN) MODSEQ 1\r\n");
    assert!(
        r.starts_with(&format!("* ESEARCH (TAG \"m\") MIN 1 MODSEQ {first}\r\n")),
        "{r}"
    );
    let r = c.run(b"x SEARCH RETURN (MAX) MODSEQ 1\r\n");
    assert!(
        r.starts_with(&format!("* ESEARCH (TAG \"x\") MAX 3 MODSEQ {last}\r\n")),
        "{r}"
    );
    let r = c.run(b"y UID SEARCH RETURN (MIN MAX) MODSEQ 1\r\n");
    assert!(r.contains(&format!("MIN 1 MAX 3 MODSEQ {last}\r\n")), "{r}");
    let r = c.run(b"a SEARCH RETURN (MIN COUNT) MODSEQ 1\r\n");
    assert!(
        r.contains(&format!("MIN 1 COUNT 3 MODSEQ {last}\r\n")),
        "{r}"
    );
}

/// RFC 7162 §3.1: a STORE with UNCHANGEDSINCE that enables CONDSTORE tells
/// HIGHESTMODSEQ too.
#[test]
fn condstore_enabling_store_tells_highestmodseq() {
    let st = store();
    deliver(&st, b"Subject: a\r\n\r\na\r\n");
    let mut c = client(&st);
    c.login();
    c.run(b"s SELECT INBOX\r\n");
    let r = c.run(b"t STORE 1 (UNCHANGEDSINCE 100) +FLAGS.SILENT (\\Seen)\r\n");
    let m = modseq_of(&r, 1);
    assert!(
        r.ends_with(&format!("t OK [HIGHESTMODSEQ {m}] STORE completed\r\n")),
        "{r}"
    );
}

/// RFC 3516 §4.2 with RFC 2045 §6.7 rule 3: BINARY gives the decoded
/// content, whose lines lose their trailing white space; BINARY.SIZE and
/// partial fetches agree with it.
#[test]
fn binary_of_quoted_printable_drops_trailing_white_space() {
    let st = store();
    deliver(
        &st,
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
          line one  \r\nx=3Dy\t\r\n",
    );
    let mut c = client(&st);
    c.login();
    c.run(b"s EXAMINE INBOX\r\n");
    let r = c.run(b"f FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.PEEK[1]<5.6>)\r\n");
    assert_eq!(
        r,
        "* 1 FETCH (BINARY.SIZE[1] 15 BINARY[1] {15}\r\nline one\r\nx=y\r\n \
         BINARY[1]<5> {6}\r\none\r\nx)\r\nf OK FETCH completed\r\n"
    );
}

/// RFC 3501 §6.3.9: LSUB with `%` lists a parent of a subscribed mailbox
/// that is not subscribed itself, marked `\Noselect`; with `*` the
/// subscribed child is listed and the parent is not.
#[test]
fn lsub_percent_lists_an_unsubscribed_parent_as_noselect() {
    let st = store();
    let mut c = client(&st);
    c.login();
    let r = c.run(b"a CREATE foo/bar\r\nb SUBSCRIBE foo/bar\r\n");
    assert!(r.ends_with("b OK SUBSCRIBE completed\r\n"), "{r}");
    let r = c.run(b"l LSUB \"\" f%\r\n");
    assert_eq!(
        r,
        "* LSUB (\\Noselect) \"/\" foo\r\nl OK LSUB completed\r\n"
    );
    let r = c.run(b"m LSUB \"\" f*\r\n");
    assert_eq!(r, "* LSUB () \"/\" foo/bar\r\nm OK LSUB completed\r\n");
    // A parent subscribed itself is listed as any other.
    let r = c.run(b"n SUBSCRIBE foo\r\no LSUB \"\" f%\r\n");
    assert!(
        r.ends_with("* LSUB () \"/\" foo\r\no OK LSUB completed\r\n"),
        "{r}"
    );
}

/// RFC 3502 §3, §6.3.11: MULTIAPPEND is advertised, adds all of its
/// messages with consecutive UIDs, and adds none when one of them fails
/// (here the third, over the APPENDLIMIT).
#[test]
fn multiappend_adds_all_or_none() {
    let st = store();
    let mut c = client(&st);
    c.login();
    let r = c.run(b"c CAPABILITY\r\n");
    assert!(r.contains(" MULTIAPPEND "), "{r}");
    let r = c.run(b"a APPEND INBOX {5+}\r\nfirst (\\Seen) {6+}\r\nsecond {20000}\r\n");
    assert!(r.starts_with("a NO [TOOBIG]"), "{r}");
    let r = c.run(b"s STATUS INBOX (MESSAGES UIDNEXT)\r\n");
    assert!(r.contains("(MESSAGES 0 UIDNEXT 1)"), "{r}");
    let r = c.run(b"b APPEND INBOX {5+}\r\nfirst (\\Seen) {6+}\r\nsecond {5+}\r\nthird\r\n");
    assert!(r.contains("b OK [APPENDUID "), "{r}");
    assert!(r.ends_with(" 1:3] APPEND completed\r\n"), "{r}");
    let r = c.run(b"e EXAMINE INBOX\r\nf FETCH 1:3 (FLAGS BODY[])\r\n");
    assert!(
        r.contains("* 2 FETCH (FLAGS (\\Seen \\Recent) BODY[] {6}\r\nsecond)"),
        "{r}"
    );
    assert!(
        r.contains("* 3 FETCH (FLAGS (\\Recent) BODY[] {5}\r\nthird)"),
        "{r}"
    );
}

/// RFC 3501 §2.3.2: a message is `\Recent` in one session only, the first
/// to SELECT its mailbox after it arrived; EXAMINE looks without taking
/// (as Dovecot does). §6.3.1 `* n RECENT`, §6.3.10 STATUS RECENT, §6.4.4
/// SEARCH RECENT, NEW and OLD, §7.3.2 RECENT with new mail; COPY makes the
/// copies recent for the next session. RFC 9051 §2.3.2: none of it under
/// IMAP4rev2, whose sessions take nothing.
#[test]
fn recent_belongs_to_one_session() {
    let st = store();
    deliver(&st, b"Subject: a\r\n\r\na\r\n");
    deliver(&st, b"Subject: b\r\n\r\nb\r\n");
    let [mut a, mut b, mut c, mut d] = [0; 4].map(|_| client(&st));
    for x in [&mut a, &mut b, &mut c, &mut d] {
        x.login();
    }
    let r = a.run(b"s STATUS INBOX (MESSAGES RECENT)\r\n");
    assert!(r.contains("(MESSAGES 2 RECENT 2)"), "{r}");
    let r = a.run(b"e EXAMINE INBOX\r\nf SEARCH RECENT\r\n");
    assert!(r.contains("* 2 RECENT\r\n"), "{r}");
    assert!(r.contains("* SEARCH 1 2\r\n"), "{r}");
    let r = b.run(b"s SELECT INBOX\r\n");
    assert!(r.contains("* 2 RECENT\r\n"), "{r}");
    let r = b.run(b"f FETCH 1:2 FLAGS\r\ng STORE 1 +FLAGS (\\Seen)\r\n");
    assert!(r.contains("* 2 FETCH (FLAGS (\\Recent))\r\n"), "{r}");
    assert!(r.contains("* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n"), "{r}");
    let r = b.run(b"n SEARCH NEW\r\no SEARCH OLD\r\nr SEARCH RECENT\r\n");
    assert!(r.contains("* SEARCH 2\r\nn OK"), "{r}");
    assert!(r.contains("* SEARCH\r\no OK"), "{r}");
    assert!(r.contains("* SEARCH 1 2\r\nr OK"), "{r}");
    // B took them: nobody else gets them.
    let r = c.run(b"s STATUS INBOX (RECENT)\r\nt SELECT INBOX\r\nu FETCH 2 FLAGS\r\n");
    assert!(r.contains("(RECENT 0)"), "{r}");
    assert!(r.contains("* 0 RECENT\r\n"), "{r}");
    assert!(r.contains("* 2 FETCH (FLAGS ())\r\n"), "{r}");
    // New mail: recent for the first session told of it.
    deliver(&st, b"Subject: c\r\n\r\nc\r\n");
    let r = c.run(b"n NOOP\r\n");
    assert!(r.starts_with("* 3 EXISTS\r\n* 1 RECENT\r\n"), "{r}");
    let r = b.run(b"n NOOP\r\nr SEARCH RECENT\r\n");
    assert!(r.starts_with("* 3 EXISTS\r\n* 2 RECENT\r\n"), "{r}");
    assert!(r.contains("* SEARCH 1 2\r\n"), "{r}");
    // A copy is recent for the next session to select the mailbox; an
    // IMAP4rev2 session neither sees nor takes it.
    let r = b.run(b"k CREATE Other\r\nl COPY 3 Other\r\n");
    assert!(r.contains("l OK [COPYUID"), "{r}");
    let r = d.run(b"e ENABLE IMAP4rev2\r\ns SELECT Other\r\nf FETCH 1 FLAGS\r\n");
    assert!(!r.contains("RECENT") && !r.contains("\\Recent"), "{r}");
    let r = a.run(b"s STATUS Other (RECENT)\r\nt SELECT Other\r\n");
    assert!(r.contains("(RECENT 1)"), "{r}");
    assert!(r.contains("* 1 RECENT\r\n"), "{r}");
}

/// RFC 3516 §4.2: BINARY[n] and BINARY.SIZE[n] of a message/rfc822 part
/// give the part's content, the embedded message (as Dovecot answers), and
/// the connection goes on; a multipart stays a protocol error (RFC 9051
/// §6.4.5). Base64 sizes and partial fetches count decoded bytes.
#[test]
fn binary_of_a_message_part_and_of_base64() {
    let st = store();
    deliver(
        &st,
        concat!(
            "Content-Type: multipart/mixed; boundary=b\r\n",
            "\r\n",
            "--b\r\n",
            "Content-Type: text/plain\r\n",
            "Content-Transfer-Encoding: base64\r\n",
            "\r\n",
            "aGVsbG8g\r\nd29ybGQ=\r\n",
            "--b\r\n",
            "Content-Type: message/rfc822\r\n",
            "\r\n",
            "Subject: in\r\n\r\ninner\r\n",
            "--b--\r\n",
        )
        .as_bytes(),
    );
    let mut c = client(&st);
    c.login();
    c.run(b"s EXAMINE INBOX\r\n");
    let r = c.run(b"a FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])\r\n");
    assert_eq!(
        r,
        "* 1 FETCH (BINARY.SIZE[2] 20 BINARY[2] {20}\r\nSubject: in\r\n\r\ninner)\r\n\
         a OK FETCH completed\r\n"
    );
    let r = c.run(b"b FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.PEEK[1]<6.3>)\r\n");
    assert_eq!(
        r,
        "* 1 FETCH (BINARY.SIZE[1] 11 BINARY[1] {11}\r\nhello world \
         BINARY[1]<6> {3}\r\nwor)\r\nb OK FETCH completed\r\n"
    );
    let r = c.run(b"c FETCH 1 BINARY.SIZE[]\r\nd NOOP\r\n");
    assert!(r.contains("c OK"), "{r}");
    assert!(r.ends_with("d OK NOOP completed\r\n"), "{r}");
}

/// RFC 5258 §3.5 with several patterns (the multiple-pattern examples of
/// §5): a subscribed mailbox that matches one of the patterns is listed
/// for itself, and its parent is not listed again for it with CHILDINFO;
/// with a pattern that does not reach the child, the parent carries it.
#[test]
fn list_recursivematch_with_several_patterns() {
    let st = store();
    let mut c = client(&st);
    c.login();
    let r = c.run(b"a CREATE Fruit/Apple\r\nb SUBSCRIBE Fruit/Apple\r\n");
    assert!(r.ends_with("b OK SUBSCRIBE completed\r\n"), "{r}");
    let r = c.run(b"l LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"Fruit\" \"Fruit/*\")\r\n");
    assert_eq!(
        r,
        "* LIST (\\HasNoChildren \\Subscribed) \"/\" Fruit/Apple\r\nl OK LIST completed\r\n"
    );
    let r = c.run(b"m LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"Fruit\" \"Veg*\")\r\n");
    assert!(
        r.starts_with("* LIST (\\HasChildren) \"/\" Fruit (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"),
        "{r}"
    );
    let r = c.run(
        b"n SUBSCRIBE Fruit\r\no LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"Fruit/*\" \"Fruit\")\r\n",
    );
    assert!(
        r.ends_with(
            "* LIST (\\HasChildren \\Subscribed) \"/\" Fruit\r\n\
             * LIST (\\HasNoChildren \\Subscribed) \"/\" Fruit/Apple\r\no OK LIST completed\r\n"
        ),
        "{r}"
    );
}
