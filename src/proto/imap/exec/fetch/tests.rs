use super::super::testing::{MemMessage, MemSink};
use super::*;
use crate::mail::mime::fixtures::dovecot;
use crate::mail::mime::parse;
use crate::proto::imap::{parse_command, CommandBody};

/// The header of the test message: a delivery prefix (Return-Path and two
/// Received fields, one folded) followed by the message's own header.
const HEADER: &str = concat!(
    "Return-Path: <ann@example.org>\r\n",
    "Received: from mx.example.org by facteur;\r\n",
    " Mon, 1 Jan 2024 10:00:00 +0000\r\n",
    "From: Ann <ann@example.org>\r\n",
    "To: bob@example.org\r\n",
    "Subject: Lunch\r\n",
    "Received: from client by mx.example.org\r\n",
    "Date: Mon, 1 Jan 2024 09:59:00 +0100\r\n",
    "MIME-Version: 1.0\r\n",
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n",
    "\r\n",
);

const PART1_MIME: &str = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n";
const PART1: &str = "Caf=C3=A9 at noon=3F=00end=\r\n!";
/// PART1 decoded.
const PART1_DECODED: &[u8] = b"Caf\xc3\xa9 at noon?\x00end!";

const INNER_HEADER: &str = concat!(
    "From: Carl <carl@example.org>\r\n",
    "Subject: Inner\r\n",
    "Content-Type: multipart/alternative; boundary=\"b2\"\r\n",
    "\r\n",
);
const INNER_TEXT: &str = concat!(
    "--b2\r\n",
    "Content-Type: text/plain\r\n",
    "\r\n",
    "inner plain\r\n",
    "--b2\r\n",
    "Content-Type: text/html\r\n",
    "\r\n",
    "<p>inner html</p>\r\n",
    "--b2--\r\n",
);

const PART3: &str = "AAECAwQFBgcICQ==";

/// A multipart/mixed: a quoted-printable text part, an embedded
/// multipart/alternative message, a base64 attachment and a part in an
/// unknown transfer encoding.
fn text() -> String {
    format!(
        concat!(
            "preamble\r\n",
            "--b1\r\n",
            "{p1m}{p1}\r\n",
            "--b1\r\n",
            "Content-Type: message/rfc822\r\n",
            "\r\n",
            "{ih}{it}\r\n",
            "--b1\r\n",
            "Content-Type: application/octet-stream\r\n",
            "Content-Transfer-Encoding: base64\r\n",
            "\r\n",
            "{p3}\r\n",
            "--b1\r\n",
            "Content-Type: application/x-thing\r\n",
            "Content-Transfer-Encoding: x-uuencode\r\n",
            "\r\n",
            "begin 644 x\r\n",
            "--b1--\r\n",
            "epilogue\r\n",
        ),
        p1m = PART1_MIME,
        p1 = PART1,
        ih = INNER_HEADER,
        it = INNER_TEXT,
        p3 = PART3,
    )
}

fn message() -> Vec<u8> {
    format!("{HEADER}{}", text()).into_bytes()
}

fn summary(size: u64) -> MessageSummary {
    MessageSummary {
        uid: 12,
        flags: flags::SEEN | flags::FLAGGED | flags::DRAFT,
        keywords: vec!["$Forwarded".into(), "Junk".into()],
        modseq: 42,
        internal_date: 837_596_665,
        size,
    }
}

/// The attributes of `FETCH 1 <items>` as the parser gives them.
fn attrs(items: &str) -> Vec<FetchAttr> {
    let cmd = parse_command(format!("a FETCH 1 {items}").as_bytes());
    match cmd.map(|c| c.body) {
        Ok(CommandBody::Fetch(f)) => f.attrs,
        other => panic!("{items}: {other:?}"),
    }
}

const PLAIN: FetchOptions = FetchOptions {
    utf8: false,
    uid: false,
    modseq: false,
    rev2: false,
};

/// Fetches `items` of `msg` (as message 7, UID 12), reading the message in
/// chunks of several sizes, which must all give the same response.
fn fetch_with(msg: &[u8], items: &str, opts: FetchOptions) -> io::Result<Vec<u8>> {
    let s = parse(msg);
    let sum = summary(msg.len() as u64);
    let m = FetchMessage {
        seq: 7,
        uid: 12,
        summary: &sum,
        structure: &s,
        recent: false,
    };
    let a = attrs(items);
    let mut first: Option<Vec<u8>> = None;
    for chunk in [1, 3, 64, 1 << 20] {
        let mut bytes = MemMessage::new(msg, chunk);
        let mut sink = MemSink::new(msg);
        fetch_one(&a, &m, &opts, &mut bytes, &mut sink)?;
        match &first {
            None => first = Some(sink.out),
            Some(f) => assert_eq!(&sink.out, f, "{items} in chunks of {chunk}"),
        }
    }
    Ok(first.unwrap_or_default())
}

fn fetch(items: &str) -> String {
    let out = fetch_with(&message(), items, PLAIN).unwrap();
    String::from_utf8(out).unwrap()
}

fn lit(s: &str) -> String {
    format!("{{{}}}\r\n{s}", s.len())
}

#[test]
fn flags_date_size_uid_modseq() {
    let msg = message();
    let n = msg.len();
    assert_eq!(
        fetch("(FLAGS INTERNALDATE RFC822.SIZE UID MODSEQ)"),
        format!(
            "* 7 FETCH (FLAGS (\\Seen \\Flagged \\Draft $Forwarded Junk) \
             INTERNALDATE \"17-Jul-1996 09:44:25 +0000\" RFC822.SIZE {n} UID 12 MODSEQ (42))\r\n"
        )
    );
    // UID FETCH puts the UID first unless asked; CONDSTORE adds MODSEQ last.
    let opts = FetchOptions {
        uid: true,
        modseq: true,
        ..PLAIN
    };
    let got = |items| String::from_utf8(fetch_with(&msg, items, opts).unwrap()).unwrap();
    assert_eq!(
        got("FAST"),
        format!(
            "* 7 FETCH (UID 12 FLAGS (\\Seen \\Flagged \\Draft $Forwarded Junk) \
             INTERNALDATE \"17-Jul-1996 09:44:25 +0000\" RFC822.SIZE {n} MODSEQ (42))\r\n"
        )
    );
    assert_eq!(got("(MODSEQ UID)"), "* 7 FETCH (MODSEQ (42) UID 12)\r\n");
    // No flags at all; \Recent is never sent, under either revision.
    let s = parse(&msg);
    let mut sum = summary(1);
    sum.flags = 0;
    sum.keywords.clear();
    for rev2 in [false, true] {
        let m = FetchMessage {
            seq: 1,
            uid: 1,
            summary: &sum,
            structure: &s,
            recent: false,
        };
        let mut sink = MemSink::new(&msg);
        let opts = FetchOptions { rev2, ..PLAIN };
        fetch_one(
            &attrs("FLAGS"),
            &m,
            &opts,
            &mut MemMessage::new(&msg, 9),
            &mut sink,
        )
        .unwrap();
        assert_eq!(sink.out, b"* 1 FETCH (FLAGS ())\r\n");
    }
}

#[test]
fn envelope_and_bodystructure_match_the_renderer() {
    let msg = dovecot();
    let s = parse(&msg);
    let mut env = Vec::new();
    write_envelope(&mut env, &s.envelope, false);
    let mut body = Vec::new();
    write_bodystructure(&mut body, &s, false, false);
    let mut bs = Vec::new();
    write_bodystructure(&mut bs, &s, true, false);
    let got = fetch_with(&msg, "(ENVELOPE BODY BODYSTRUCTURE)", PLAIN).unwrap();
    let mut want = b"* 7 FETCH (ENVELOPE ".to_vec();
    want.extend_from_slice(&env);
    want.extend_from_slice(b" BODY ");
    want.extend_from_slice(&body);
    want.extend_from_slice(b" BODYSTRUCTURE ");
    want.extend_from_slice(&bs);
    want.extend_from_slice(b")\r\n");
    assert_eq!(
        String::from_utf8(got).unwrap(),
        String::from_utf8(want).unwrap()
    );
    // And on our own message: the part list is what we built.
    let inner = INNER_HEADER.len() + INNER_TEXT.len();
    assert_eq!(
        fetch("BODY"),
        format!(
            concat!(
                "* 7 FETCH (BODY (",
                "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"quoted-printable\" {p1} 1)",
                "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" {inner} ",
                "(NIL \"Inner\" ((\"Carl\" NIL \"carl\" \"example.org\")) ((\"Carl\" NIL \"carl\" \"example.org\")) ",
                "((\"Carl\" NIL \"carl\" \"example.org\")) NIL NIL NIL NIL NIL) ",
                "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0)",
                "(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 17 0) \"alternative\") 13)",
                "(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 16)",
                "(\"application\" \"x-thing\" NIL NIL NIL \"x-uuencode\" 11) \"mixed\"))\r\n"
            ),
            p1 = PART1.len(),
            inner = inner
        )
    );
    // ALL and FULL expand to what RFC 3501 §6.4.5 says.
    assert!(fetch("FULL").contains(" ENVELOPE (\"Mon, 1 Jan 2024 09:59:00 +0100\" \"Lunch\" ((\"Ann\" NIL \"ann\" \"example.org\"))"));
}

#[test]
fn whole_message_header_and_text() {
    let msg = message();
    let whole = String::from_utf8(msg.clone()).unwrap();
    assert_eq!(
        fetch("BODY[]"),
        format!("* 7 FETCH (BODY[] {})\r\n", lit(&whole))
    );
    assert_eq!(
        fetch("BODY.PEEK[HEADER]"),
        format!("* 7 FETCH (BODY[HEADER] {})\r\n", lit(HEADER))
    );
    assert_eq!(
        fetch("BODY[TEXT]"),
        format!("* 7 FETCH (BODY[TEXT] {})\r\n", lit(&text()))
    );
    assert_eq!(
        fetch("(RFC822.HEADER RFC822.TEXT RFC822)"),
        format!(
            "* 7 FETCH (RFC822.HEADER {} RFC822.TEXT {} RFC822 {})\r\n",
            lit(HEADER),
            lit(&text()),
            lit(&whole)
        )
    );
    // Sections are streamed from the store, not copied.
    let s = parse(&msg);
    let sum = summary(msg.len() as u64);
    let m = FetchMessage {
        seq: 7,
        uid: 12,
        summary: &sum,
        structure: &s,
        recent: false,
    };
    let mut bytes = MemMessage::new(&msg, 5);
    let mut sink = MemSink::new(&msg);
    fetch_one(
        &attrs("(BODY[] BODY[TEXT])"),
        &m,
        &PLAIN,
        &mut bytes,
        &mut sink,
    )
    .unwrap();
    assert_eq!(bytes.read, 0);
    assert_eq!(sink.ranged, (msg.len() + text().len()) as u64);
}

#[test]
fn parts_of_a_multipart_with_an_embedded_message() {
    let inner = format!("{INNER_HEADER}{INNER_TEXT}");
    let cases: &[(&str, &str, String)] = &[
        ("BODY[1]", "BODY[1]", PART1.to_string()),
        ("BODY[1.MIME]", "BODY[1.MIME]", PART1_MIME.to_string()),
        ("BODY[2]", "BODY[2]", inner.clone()),
        (
            "BODY[2.MIME]",
            "BODY[2.MIME]",
            "Content-Type: message/rfc822\r\n\r\n".to_string(),
        ),
        ("BODY[2.HEADER]", "BODY[2.HEADER]", INNER_HEADER.to_string()),
        ("BODY[2.TEXT]", "BODY[2.TEXT]", INNER_TEXT.to_string()),
        ("BODY[2.1]", "BODY[2.1]", "inner plain".to_string()),
        (
            "BODY[2.1.MIME]",
            "BODY[2.1.MIME]",
            "Content-Type: text/plain\r\n\r\n".to_string(),
        ),
        ("BODY[2.2]", "BODY[2.2]", "<p>inner html</p>".to_string()),
        (
            "BODY[2.HEADER.FIELDS (subject)]",
            "BODY[2.HEADER.FIELDS (SUBJECT)]",
            "Subject: Inner\r\n\r\n".to_string(),
        ),
        ("BODY[3]", "BODY[3]", PART3.to_string()),
        ("BODY[4]", "BODY[4]", "begin 644 x".to_string()),
    ];
    for (ask, name, want) in cases {
        assert_eq!(
            fetch(ask),
            format!("* 7 FETCH ({name} {})\r\n", lit(want)),
            "{ask}"
        );
    }
    // Sections that do not exist are empty strings.
    for (ask, name) in [
        ("BODY[5]", "BODY[5]"),
        ("BODY[2.3]", "BODY[2.3]"),
        ("BODY[1.HEADER]", "BODY[1.HEADER]"),
        ("BODY[1.1.1]", "BODY[1.1.1]"),
    ] {
        assert_eq!(fetch(ask), format!("* 7 FETCH ({name} \"\")\r\n"), "{ask}");
    }
}

#[test]
fn nested_sections_byte_exact_against_the_dovecot_message() {
    let msg = dovecot();
    let whole = String::from_utf8(msg.clone()).unwrap();
    let get = |items: &str| String::from_utf8(fetch_with(&msg, items, PLAIN).unwrap()).unwrap();
    let body_of = |items: &str, name: &str| {
        let r = get(items);
        let head = format!("* 7 FETCH ({name} {{");
        assert!(r.starts_with(&head), "{r}");
        let rest = &r[head.len()..];
        let close = rest.find("}\r\n").unwrap();
        let n: usize = rest[..close].parse().unwrap();
        let content = &rest[close + 3..close + 3 + n];
        assert_eq!(&rest[close + 3 + n..], ")\r\n");
        content.to_string()
    };
    assert_eq!(
        body_of("BODY[2.1.MIME]", "BODY[2.1.MIME]"),
        "Content-Type: text/html\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    );
    assert_eq!(body_of("BODY[2.1]", "BODY[2.1]"), "<p>Hello world</p>\r\n");
    assert_eq!(body_of("BODY[2.2]", "BODY[2.2]"), "Hello another world\r\n");
    assert_eq!(body_of("BODY[1]", "BODY[1]"), "hello\r\n");
    let part2 = body_of("BODY[2]", "BODY[2]");
    let start = whole.find("From: sub@domain.org").unwrap();
    let end = whole.find("\r\n--foo bar--").unwrap();
    assert_eq!(part2, &whole[start..end]);
    assert_eq!(
        body_of("BODY[2.HEADER]", "BODY[2.HEADER]"),
        &whole[start..whole.find("Sub MIME prologue").unwrap()]
    );
    assert_eq!(
        body_of("BODY[2.TEXT]", "BODY[2.TEXT]"),
        &whole[whole.find("Sub MIME prologue").unwrap()..end]
    );
}

#[test]
fn header_fields_filtered() {
    assert_eq!(
        fetch("BODY.PEEK[HEADER.FIELDS (From Subject)]"),
        format!(
            "* 7 FETCH (BODY[HEADER.FIELDS (FROM SUBJECT)] {})\r\n",
            lit("From: Ann <ann@example.org>\r\nSubject: Lunch\r\n\r\n")
        )
    );
    let not = HEADER
        .replace(
            "Received: from mx.example.org by facteur;\r\n Mon, 1 Jan 2024 10:00:00 +0000\r\n",
            "",
        )
        .replace("Received: from client by mx.example.org\r\n", "");
    assert!(!not.contains("Received") && not.contains("Return-Path"));
    assert_eq!(
        fetch("BODY[HEADER.FIELDS.NOT (Received)]"),
        format!(
            "* 7 FETCH (BODY[HEADER.FIELDS.NOT (RECEIVED)] {})\r\n",
            lit(&not)
        )
    );
    // Partial of a filtered header counts in the filtered bytes.
    assert_eq!(
        fetch("BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]<6.3>"),
        "* 7 FETCH (BODY[HEADER.FIELDS (FROM SUBJECT)]<6> {3}\r\nAnn)\r\n"
    );
    assert_eq!(
        fetch("BODY.PEEK[HEADER.FIELDS (FROM)]<29.100>"),
        "* 7 FETCH (BODY[HEADER.FIELDS (FROM)]<29> {2}\r\n\r\n)\r\n"
    );
    assert_eq!(
        fetch("BODY.PEEK[HEADER.FIELDS (FROM)]<31.100>"),
        "* 7 FETCH (BODY[HEADER.FIELDS (FROM)]<31> \"\")\r\n"
    );
    // A name that is no atom is echoed as a string.
    assert_eq!(
        fetch("BODY.PEEK[HEADER.FIELDS (\"x{y\")]"),
        "* 7 FETCH (BODY[HEADER.FIELDS (\"X{Y\")] {2}\r\n\r\n)\r\n"
    );
}

#[test]
fn partial_fetches_exact_to_the_byte() {
    let msg = message();
    let whole = String::from_utf8(msg.clone()).unwrap();
    assert_eq!(
        fetch("BODY[]<0.10>"),
        format!("* 7 FETCH (BODY[]<0> {})\r\n", lit(&whole[..10]))
    );
    assert_eq!(
        fetch("BODY[TEXT]<5.1000>"),
        format!("* 7 FETCH (BODY[TEXT]<5> {})\r\n", lit(&text()[5..]))
    );
    assert_eq!(
        fetch("BODY[1]<5.1000>"),
        format!("* 7 FETCH (BODY[1]<5> {})\r\n", lit(&PART1[5..]))
    );
    let past = PART1.len();
    assert_eq!(
        fetch(&format!("BODY[1]<{past}.5>")),
        format!("* 7 FETCH (BODY[1]<{past}> \"\")\r\n")
    );
    assert_eq!(
        fetch("BODY[1]<4294967295.5>"),
        "* 7 FETCH (BODY[1]<4294967295> \"\")\r\n"
    );
    assert_eq!(
        fetch(&format!("BODY.PEEK[1]<{}.5>", past - 1)),
        format!("* 7 FETCH (BODY[1]<{}> {{1}}\r\n!)\r\n", past - 1)
    );
    assert_eq!(
        fetch("BODY[2.1.MIME]<0.12>"),
        "* 7 FETCH (BODY[2.1.MIME]<0> {12}\r\nContent-Type)\r\n"
    );
}

#[test]
fn binary_decodes_leaf_parts() {
    let msg = message();
    let get = |items: &str| fetch_with(&msg, items, PLAIN).unwrap();
    let with = |head: &str, content: &[u8]| {
        let mut v = head.as_bytes().to_vec();
        v.extend_from_slice(content);
        v.extend_from_slice(b")\r\n");
        v
    };
    // Quoted-printable with a NUL: literal8.
    assert_eq!(
        get("BINARY[1]"),
        with(
            &format!("* 7 FETCH (BINARY[1] ~{{{}}}\r\n", PART1_DECODED.len()),
            PART1_DECODED
        )
    );
    // A window without the NUL is an ordinary literal.
    assert_eq!(
        get("BINARY.PEEK[1]<0.5>"),
        with("* 7 FETCH (BINARY[1]<0> {5}\r\n", b"Caf\xc3\xa9")
    );
    assert_eq!(
        get("BINARY[1]<14.100>"),
        with("* 7 FETCH (BINARY[1]<14> ~{5}\r\n", b"\x00end!")
    );
    assert_eq!(
        get("BINARY[1]<100.1>"),
        with("* 7 FETCH (BINARY[1]<100> \"\"", b"")
    );
    // Base64.
    assert_eq!(
        get("BINARY[3]"),
        with(
            "* 7 FETCH (BINARY[3] ~{10}\r\n",
            b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"
        )
    );
    assert_eq!(
        get("BINARY[3]<7.10>"),
        with("* 7 FETCH (BINARY[3]<7> {3}\r\n", b"\x07\x08\x09")
    );
    // 7bit parts go as they are; the whole message too.
    assert_eq!(
        get("BINARY[2.1]"),
        with("* 7 FETCH (BINARY[2.1] {11}\r\n", b"inner plain")
    );
    assert_eq!(
        get("BINARY.PEEK[]<0.6>"),
        with("* 7 FETCH (BINARY[]<0> {6}\r\n", b"Return")
    );
    assert_eq!(get("BINARY[9]"), with("* 7 FETCH (BINARY[9] \"\"", b""));
    assert_eq!(
        String::from_utf8(get("(BINARY.SIZE[1] BINARY.SIZE[3] BINARY.SIZE[2.1] BINARY.SIZE[9])")).unwrap(),
        format!(
            "* 7 FETCH (BINARY.SIZE[1] {} BINARY.SIZE[3] 10 BINARY.SIZE[2.1] 11 BINARY.SIZE[9] 0)\r\n",
            PART1_DECODED.len()
        )
    );
    // "binary" is sent as a literal8 without decoding.
    let bin = b"Content-Transfer-Encoding: binary\r\n\r\nab\x00c";
    assert_eq!(
        fetch_with(bin, "BINARY[1]", PLAIN).unwrap(),
        b"* 7 FETCH (BINARY[1] ~{4}\r\nab\x00c)\r\n"
    );
}

#[test]
fn unknown_transfer_encoding_fails_before_writing() {
    let msg = message();
    let s = parse(&msg);
    let sum = summary(msg.len() as u64);
    let m = FetchMessage {
        seq: 7,
        uid: 12,
        summary: &sum,
        structure: &s,
        recent: false,
    };
    let cte = BinaryRefusal::UnknownCte("x-uuencode".into());
    for (items, want) in [("(FLAGS BINARY[4])", &cte), ("(UID BINARY.SIZE[4])", &cte)] {
        let mut sink = MemSink::new(&msg);
        let a = attrs(items);
        assert_eq!(check_binary(&a, &s).as_ref().err(), Some(want), "{items}");
        let err = fetch_one(&a, &m, &PLAIN, &mut MemMessage::new(&msg, 8), &mut sink).unwrap_err();
        assert_eq!(refusal(&err), Some(want), "{err}");
        assert!(sink.out.is_empty());
    }
    assert!(err_text(&cte).contains("x-uuencode"));
    assert_eq!(
        cte.response("t1"),
        "t1 NO [UNKNOWN-CTE] Cannot decode Content-Transfer-Encoding x-uuencode"
    );
    assert!(BinaryRefusal::NotLeaf.response("t2").starts_with("t2 BAD "));
    for ok in [
        "(BINARY[1] BINARY[2] BINARY[2.1] BINARY.SIZE[3] BINARY[] BINARY[9])",
        "BODY[2]",
    ] {
        assert_eq!(check_binary(&attrs(ok), &s), Ok(()), "{ok}");
    }
    // BODY[4] of the same part is fine.
    assert!(fetch("BODY[4]").contains("begin 644 x"));
    // A read error is not an UNKNOWN-CTE.
    let mut bytes = MemMessage::new(&msg, 8);
    bytes.fail = true;
    let err = fetch_one(
        &attrs("BODY[HEADER.FIELDS (RECEIVED)]"),
        &m,
        &PLAIN,
        &mut bytes,
        &mut MemSink::new(&msg),
    )
    .unwrap_err();
    assert!(refusal(&err).is_none());
}

fn err_text(r: &BinaryRefusal) -> String {
    r.to_string()
}

#[test]
fn binary_of_a_multipart_is_refused_and_of_a_message_part_is_its_content() {
    // RFC 9051 §6.4.5: no multipart, whatever the nesting; the whole
    // message (no part number) is not a part and goes as stored. A
    // message/rfc822 part gives its content, as BODY[part] does (as
    // Dovecot answers).
    let msg = dovecot();
    let s = parse(&msg);
    let check = |items: &str, s: &Structure| check_binary(&attrs(items), s);
    assert_eq!(check("BINARY[2]", &s), Ok(()));
    assert_eq!(check("BINARY.SIZE[2]", &s), Ok(()));
    let body = String::from_utf8(fetch_with(&msg, "BODY.PEEK[2]", PLAIN).unwrap()).unwrap();
    let binary = String::from_utf8(fetch_with(&msg, "BINARY.PEEK[2]", PLAIN).unwrap()).unwrap();
    assert_eq!(binary.replacen("BINARY[2]", "BODY[2]", 1), body);
    let len = body.split('{').nth(1).unwrap().split('}').next().unwrap();
    assert_eq!(
        String::from_utf8(fetch_with(&msg, "BINARY.SIZE[2]", PLAIN).unwrap()).unwrap(),
        format!("* 7 FETCH (BINARY.SIZE[2] {len})\r\n")
    );
    // 2.1 is the first part of the embedded multipart (RFC 3501 §6.4.5).
    assert_eq!(check("BINARY[2.1]", &s), Ok(()));
    assert_eq!(check("BINARY[1]", &s), Ok(()));
    // A multipart nested in a multipart has a number of its own.
    let nested = parse(&crate::mail::mime::fixtures::nested());
    assert_eq!(
        check("BINARY.PEEK[1]", &nested),
        Err(BinaryRefusal::NotLeaf)
    );
    assert_eq!(check("BINARY.PEEK[1.1]", &nested), Ok(()));
    let whole = fetch_with(&msg, "BINARY.PEEK[]", PLAIN).unwrap();
    assert!(whole.starts_with(format!("* 7 FETCH (BINARY[] {{{}}}\r\n", msg.len()).as_bytes()));
    // A single-part message/rfc822 message: part 1 is its body, a message.
    let m = b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nx\r\n";
    assert_eq!(
        fetch_with(m, "(BINARY.SIZE[1] BINARY.PEEK[1])", PLAIN).unwrap(),
        b"* 7 FETCH (BINARY.SIZE[1] 18 BINARY[1] {18}\r\nSubject: in\r\n\r\nx\r\n)\r\n"
    );
}

#[test]
fn binary_gives_the_decoded_bytes_and_nul_means_literal8() {
    // A base64 text part written on Unix comes back as those bytes, bare
    // LFs and all: BINARY removes the transfer encoding and nothing more
    // (RFC 3516 §4.2), in BINARY, its partials and BINARY.SIZE alike.
    let body = b"one\ntwo\r\nthree\n";
    let b64 = crate::proto::base64::encode(body);
    let msg =
        format!("Content-Type: text/csv\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}\r\n");
    let get =
        |items: &str| String::from_utf8(fetch_with(msg.as_bytes(), items, PLAIN).unwrap()).unwrap();
    assert_eq!(
        get("(BINARY.SIZE[1] BINARY[1])"),
        "* 7 FETCH (BINARY.SIZE[1] 15 BINARY[1] {15}\r\none\ntwo\r\nthree\n)\r\n"
    );
    assert_eq!(
        get("BINARY.PEEK[1]<3.2>"),
        "* 7 FETCH (BINARY[1]<3> {2}\r\n\nt)\r\n"
    );
    // The same bytes in an application part: the same answer.
    let app = msg.replace("text/csv", "application/octet-stream");
    assert_eq!(
        fetch_with(app.as_bytes(), "(BINARY.SIZE[1] BINARY[1])", PLAIN).unwrap(),
        b"* 7 FETCH (BINARY.SIZE[1] 15 BINARY[1] {15}\r\none\ntwo\r\nthree\n)\r\n"
    );
    // 8bit text with bare LF, stored as is, goes as stored.
    let eight = b"Content-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9\nend";
    assert_eq!(
        fetch_with(eight, "(BINARY[1] BINARY.SIZE[1])", PLAIN).unwrap(),
        b"* 7 FETCH (BINARY[1] {9}\r\ncaf\xc3\xa9\nend BINARY.SIZE[1] 9)\r\n"
    );
    // Quoted-printable: soft line breaks go, encoded trailing spaces stay.
    let qp = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na b=20\r\nlong=\r\n line\r\n";
    assert_eq!(
        fetch_with(qp, "(BINARY[1] BINARY.SIZE[1])", PLAIN).unwrap(),
        b"* 7 FETCH (BINARY[1] {17}\r\na b \r\nlong line\r\n BINARY.SIZE[1] 17)\r\n"
    );
    // Identity encodings holding NUL anyway (a message appended as a
    // literal8) go as a literal8; a window without NUL as a literal.
    let raw = b"Content-Type: application/x-raw\r\nContent-Transfer-Encoding: 8bit\r\n\r\nab\x00cd";
    assert_eq!(
        fetch_with(raw, "BINARY[1]", PLAIN).unwrap(),
        b"* 7 FETCH (BINARY[1] ~{5}\r\nab\x00cd)\r\n"
    );
    assert_eq!(
        fetch_with(raw, "BINARY[1]<3.9>", PLAIN).unwrap(),
        b"* 7 FETCH (BINARY[1]<3> {2}\r\ncd)\r\n"
    );
    let mut want = format!("* 7 FETCH (BINARY[] ~{{{}}}\r\n", raw.len()).into_bytes();
    want.extend_from_slice(raw);
    want.extend_from_slice(b")\r\n");
    assert_eq!(fetch_with(raw, "BINARY.PEEK[]", PLAIN).unwrap(), want);
    // BODY sections are literals, which carry no NUL: 0x80 stands in.
    assert_eq!(
        fetch_with(raw, "(BODY[1] RFC822.SIZE)", PLAIN).unwrap(),
        b"* 7 FETCH (BODY[1] {5}\r\nab\x80cd RFC822.SIZE 73)\r\n"
    );
    let odd = b"X-Odd: a\x00b\r\nSubject: s\r\n\r\n\x00";
    assert_eq!(
        fetch_with(odd, "(BODY.PEEK[HEADER.FIELDS (X-ODD)] BODY.PEEK[TEXT])", PLAIN).unwrap(),
        b"* 7 FETCH (BODY[HEADER.FIELDS (X-ODD)] {14}\r\nX-Odd: a\x80b\r\n\r\n BODY[TEXT] {1}\r\n\x80)\r\n"
    );
    // "binary" data without NUL: an ordinary literal (RFC 3516 §4.3).
    let bin = b"Content-Type: image/png\r\nContent-Transfer-Encoding: binary\r\n\r\n\x89PNG";
    assert_eq!(
        fetch_with(bin, "BINARY[1]", PLAIN).unwrap(),
        b"* 7 FETCH (BINARY[1] {4}\r\n\x89PNG)\r\n"
    );
}

#[test]
fn seen_and_structure_needs() {
    for (items, seen, structure) in [
        ("FAST", false, false),
        ("(UID MODSEQ)", false, false),
        ("RFC822", true, false),
        ("RFC822.HEADER", false, true),
        ("RFC822.TEXT", true, true),
        ("BODY[]", true, false),
        ("BODY.PEEK[]<0.10>", false, false),
        ("BODY.PEEK[TEXT]", false, true),
        ("BODY[1]", true, true),
        ("ENVELOPE", false, true),
        ("BODY", false, true),
        ("BODYSTRUCTURE", false, true),
        ("BINARY.PEEK[1]", false, true),
        ("BINARY[1]", true, true),
        ("BINARY.SIZE[1]", false, true),
    ] {
        let a = attrs(items);
        assert_eq!(sets_seen(&a), seen, "{items}");
        assert_eq!(needs_structure(&a), structure, "{items}");
    }
}

#[test]
fn placeholder_structure_is_enough_without_structure_needs() {
    let msg = message();
    let mut placeholder = parse(b"");
    placeholder.size = msg.len() as u64;
    let sum = summary(msg.len() as u64);
    let m = FetchMessage {
        seq: 2,
        uid: 5,
        summary: &sum,
        structure: &placeholder,
        recent: false,
    };
    let a = attrs("(RFC822.SIZE BODY.PEEK[]<3.4>)");
    assert!(!needs_structure(&a));
    let mut sink = MemSink::new(&msg);
    fetch_one(&a, &m, &PLAIN, &mut MemMessage::new(&msg, 1), &mut sink).unwrap();
    assert_eq!(
        String::from_utf8(sink.out).unwrap(),
        format!(
            "* 2 FETCH (RFC822.SIZE {} BODY[]<3> {{4}}\r\nurn-)\r\n",
            msg.len()
        )
    );
}

#[test]
fn utf8_envelope_is_quoted_only_when_enabled() {
    let msg = "Subject: caf\u{e9}\r\n\r\nx".as_bytes();
    let plain = String::from_utf8(fetch_with(msg, "ENVELOPE", PLAIN).unwrap()).unwrap();
    assert!(plain.contains("{5}\r\ncaf\u{e9}"), "{plain}");
    let opts = FetchOptions {
        utf8: true,
        rev2: true,
        ..PLAIN
    };
    let utf8 = String::from_utf8(fetch_with(msg, "ENVELOPE", opts).unwrap()).unwrap();
    assert!(utf8.contains("\"caf\u{e9}\""), "{utf8}");
}

/// `BODY.PEEK[HEADER.FIELDS (...)]` of cached fields comes from the cache
/// without reading the message, byte for byte as from the file.
#[test]
fn header_fields_from_the_cache_equal_the_file() {
    let lists = [
        "(SUBJECT)",
        "(FROM TO CC)",
        "(cc list-id DATE)",
        "(BCC)",
        "(SUBJECT X-TAG)",
        "(MESSAGE-ID IN-REPLY-TO REFERENCES CONTENT-TYPE)",
    ];
    for msg in crate::mail::mime::fixtures::header_cases() {
        let cached = parse(&msg);
        let mut uncached = cached.clone();
        uncached.fields = Default::default();
        let sum = summary(msg.len() as u64);
        for list in lists {
            for partial in ["", "<3.20>"] {
                let a = attrs(&format!("BODY.PEEK[HEADER.FIELDS {list}]{partial}"));
                let mut answers = Vec::new();
                for s in [&cached, &uncached] {
                    let m = FetchMessage {
                        seq: 1,
                        uid: 12,
                        summary: &sum,
                        structure: s,
                        recent: false,
                    };
                    let mut bytes = MemMessage::new(&msg, 5);
                    let mut sink = MemSink::new(&msg);
                    fetch_one(&a, &m, &PLAIN, &mut bytes, &mut sink).unwrap();
                    answers.push((sink.out, bytes.read));
                }
                assert_eq!(answers[0].0, answers[1].0, "{list}{partial}");
                let from_cache = answers[0].1 == 0;
                let uncached = list.contains("X-TAG") || list.contains("BCC");
                assert_eq!(from_cache, !uncached, "{list}");
            }
        }
    }
}
