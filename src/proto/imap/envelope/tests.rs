use super::*;
use crate::mail::mime::fixtures::{crlf, dovecot, nested};
use crate::mail::mime::parse;

fn render(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    String::from_utf8(out).unwrap()
}

/// Dovecot's expected output for its test message (lib-imap
/// test-imap-bodystructure.c), which it writes without the outer
/// parentheses.
const DOVECOT_BODYSTRUCTURE: &str = concat!(
    r#"("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\"string") "<foo@example.com>" "hellodescription" "7bit" 7 1 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("inline" ("foo" "bar")) ("en" "fi" "se") "http://example.com/test.txt")"#,
    r#"("message" "rfc822" NIL NIL NIL "7bit" 412 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub-to1" "domain.org")(NIL NIL "sub-to2" "domain.org")) NIL NIL NIL NIL) "#,
    r#"(("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1 NIL NIL NIL NIL)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1 NIL NIL NIL NIL) "alternative" ("boundary" "sub1") NIL NIL NIL) 21 NIL NIL NIL NIL)"#,
    r#" "mixed" ("boundary" "foo bar") NIL NIL NIL"#
);

const DOVECOT_BODY: &str = concat!(
    r#"("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\"string") "<foo@example.com>" "hellodescription" "7bit" 7 1)"#,
    r#"("message" "rfc822" NIL NIL NIL "7bit" 412 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub-to1" "domain.org")(NIL NIL "sub-to2" "domain.org")) NIL NIL NIL NIL) "#,
    r#"(("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1) "alternative") 21)"#,
    r#" "mixed""#
);

#[test]
fn matches_dovecot_reference_output() {
    let s = parse(&dovecot());
    assert_eq!(
        render(|o| write_bodystructure(o, &s, true, false)),
        format!("({DOVECOT_BODYSTRUCTURE})")
    );
    assert_eq!(
        render(|o| write_bodystructure(o, &s, false, false)),
        format!("({DOVECOT_BODY})")
    );
    assert_eq!(
        render(|o| write_envelope(o, &s.envelope, false)),
        r#"("Sat, 24 Mar 2007 23:00:00 +0200" NIL ((NIL NIL "user" "domain.org")) ((NIL NIL "user" "domain.org")) ((NIL NIL "user" "domain.org")) NIL NIL NIL NIL NIL)"#
    );
}

#[test]
fn matches_rfc3501_example() {
    // RFC 3501 §8, the FETCH of message 12.
    let mut msg = crlf(concat!(
        "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\n",
        "From: Terry Gray <gray@cac.washington.edu>\n",
        "Subject: IMAP4rev1 WG mtg summary and minutes\n",
        "To: imap@cac.washington.edu\n",
        "cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\n",
        "Message-Id: <B27397-0100000@cac.washington.edu>\n",
        "MIME-Version: 1.0\n",
        "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n",
        "Content-Transfer-Encoding: 7BIT\n",
        "\n",
    ));
    // 92 lines, 3028 bytes.
    for _ in 0..91 {
        msg.extend_from_slice(&[b'x'; 31]);
        msg.extend_from_slice(b"\r\n");
    }
    msg.extend_from_slice(&[b'y'; 23]);
    msg.extend_from_slice(b"\r\n");
    let s = parse(&msg);
    assert_eq!(
        render(|o| write_envelope(o, &s.envelope, false)),
        concat!(
            r#"("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" "#,
            r#"(("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) "#,
            r#"(("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) "#,
            r#"((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL "#,
            r#""<B27397-0100000@cac.washington.edu>")"#
        )
    );
    assert_eq!(
        render(|o| write_bodystructure(o, &s, false, false)),
        r#"("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)"#
    );
}

#[test]
fn defaults_for_a_bare_message() {
    let s = parse(b"\r\nabc");
    assert_eq!(
        render(|o| write_bodystructure(o, &s, true, false)),
        r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 3 0 NIL NIL NIL NIL)"#
    );
    assert_eq!(
        render(|o| write_envelope(o, &s.envelope, false)),
        "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    );
    // A charset is added after the given parameters.
    let s = parse(b"Content-Type: text/plain; format=flowed\r\n\r\n");
    assert_eq!(
        render(|o| write_bodystructure(o, &s, false, false)),
        r#"("text" "plain" ("format" "flowed" "charset" "us-ascii") NIL NIL "7bit" 0 0)"#
    );
    // A multipart with no parts shows one empty part.
    let s = parse(b"Content-Type: multipart/mixed; boundary=x\r\n\r\nnothing\r\n");
    assert_eq!(
        render(|o| write_bodystructure(o, &s, true, false)),
        r#"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" ("boundary" "x") NIL NIL NIL)"#
    );
    assert_eq!(
        render(|o| write_bodystructure(o, &s, false, false)),
        r#"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")"#
    );
}

#[test]
fn nested_message_renders() {
    let s = parse(&nested());
    assert_eq!(
        render(|o| write_bodystructure(o, &s, true, false)),
        concat!(
            r#"((("text" "plain" ("charset" "iso-8859-1") NIL NIL "quoted-printable" 18 0 NIL NIL NIL NIL)"#,
            r#"("text" "html" ("charset" "utf-8") NIL NIL "7bit" 29 0 NIL NIL NIL NIL) "alternative" ("boundary" "inner") NIL NIL NIL)"#,
            r#"("application" "pdf" ("name" "menu.pdf") NIL NIL "base64" 28 NIL ("attachment" ("filename*" "utf-8''men%C3%BA.pdf")) NIL NIL)"#,
            r#" "mixed" ("boundary" "outer") NIL NIL NIL)"#
        )
    );
}

#[test]
fn envelope_addresses_groups_and_defaults() {
    let s = parse(
        concat!(
            "From: \"Smith, J.\" <j@x.test>\r\n",
            "Reply-To:\r\n",
            "To: Team: a@x.test, b@x.test;, c@y.test\r\n",
            "Bcc: undisclosed-recipients:;\r\n",
            "Subject: =?utf-8?Q?caf=C3=A9?= \"quoted\"\r\n",
            "In-Reply-To: <1@x.test>\r\n",
            "\r\n",
        )
        .as_bytes(),
    );
    assert_eq!(
        render(|o| write_envelope(o, &s.envelope, false)),
        concat!(
            r#"(NIL "=?utf-8?Q?caf=C3=A9?= \"quoted\"" (("Smith, J." NIL "j" "x.test")) (("Smith, J." NIL "j" "x.test")) "#,
            r#"(("Smith, J." NIL "j" "x.test")) "#,
            r#"((NIL NIL "Team" NIL)(NIL NIL "a" "x.test")(NIL NIL "b" "x.test")(NIL NIL NIL NIL)(NIL NIL "c" "y.test")) NIL "#,
            r#"((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) "<1@x.test>" NIL)"#
        )
    );
}

#[test]
fn eight_bit_values_are_literals_unless_utf8() {
    let s = parse("Subject: caf\u{e9}\r\nFrom: J\u{f6}rg <j@x.test>\r\n\r\n".as_bytes());
    assert_eq!(
        render(|o| write_envelope(o, &s.envelope, true)),
        "(NIL \"caf\u{e9}\" ((\"J\u{f6}rg\" NIL \"j\" \"x.test\")) ((\"J\u{f6}rg\" NIL \"j\" \"x.test\")) ((\"J\u{f6}rg\" NIL \"j\" \"x.test\")) NIL NIL NIL NIL NIL)"
    );
    let plain = render(|o| write_envelope(o, &s.envelope, false));
    assert!(
        plain.starts_with("(NIL {5}\r\ncaf\u{e9} (({5}\r\nJ\u{f6}rg NIL \"j\" \"x.test\"))"),
        "{plain}"
    );
}

#[test]
fn strings_quote_or_go_literal() {
    let w = |v: &[u8], utf8| {
        let mut o = Vec::new();
        write_string(&mut o, v, utf8);
        o
    };
    assert_eq!(w(b"plain", false), b"\"plain\"");
    assert_eq!(w(b"", false), b"\"\"");
    assert_eq!(w(b"a\"b\\c", false), b"\"a\\\"b\\\\c\"");
    assert_eq!(w(b"a\r\nb", true), b"{4}\r\na\r\nb");
    assert_eq!(w("\u{e9}".as_bytes(), false), b"{2}\r\n\xc3\xa9");
    assert_eq!(w("\u{e9}".as_bytes(), true), "\"\u{e9}\"".as_bytes());
    assert_eq!(w(b"\xff", true), b"{1}\r\n\xff");
    assert_eq!(w(b"a\0b", false), b"\"ab\"");
    let mut o = Vec::new();
    write_nstring(&mut o, None, false);
    assert_eq!(o, b"NIL");
}
