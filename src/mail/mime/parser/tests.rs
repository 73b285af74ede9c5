use super::super::fixtures::{crlf, dovecot, nested};
use super::super::{decode, encode, parse, Content, Part, Structure};
use super::*;

/// Parses `msg` whole, split in two at every byte, and byte by byte; all
/// must agree.
fn parse_every_way(msg: &[u8]) -> Structure {
    let whole = parse(msg);
    for i in 0..=msg.len() {
        let (a, b) = msg.split_at(i);
        let mut p = Parser::new();
        p.feed(a);
        p.feed(b);
        assert_eq!(p.finish(), whole, "split at {i}");
    }
    let mut p = Parser::new();
    for b in msg.chunks(1) {
        p.feed(b);
    }
    assert_eq!(p.finish(), whole, "byte by byte");
    whole
}

fn at(msg: &[u8], needle: &str) -> u64 {
    msg.windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle:?} not in message")) as u64
}

fn bytes(msg: &[u8], start: u64, len: u64) -> &[u8] {
    &msg[start as usize..(start + len) as usize]
}

fn body<'a>(msg: &'a [u8], p: &Part) -> &'a [u8] {
    bytes(msg, p.body_start, p.body_len)
}

fn header<'a>(msg: &'a [u8], p: &Part) -> &'a [u8] {
    bytes(msg, p.header_start, p.header_len)
}

fn children(p: &Part) -> &[Part] {
    match &p.content {
        Content::Multipart(c) => c,
        other => panic!("not a multipart: {other:?}"),
    }
}

fn embedded(p: &Part) -> &crate::mail::mime::Embedded {
    match &p.content {
        Content::Message(m) => m,
        other => panic!("not a message: {other:?}"),
    }
}

#[test]
fn plain_text_message() {
    let msg = b"From: a@b.c\r\nSubject: hi\r\n\r\nHello\r\nWorld\r\n";
    let s = parse_every_way(msg);
    assert_eq!(s.size, 42);
    let r = &s.root;
    assert_eq!((r.header_start, r.header_len), (0, 28));
    assert_eq!((r.body_start, r.body_len, r.body_lines), (28, 14, 2));
    assert_eq!(
        (r.media_type.as_slice(), r.subtype.as_slice()),
        (&b"text"[..], &b"plain"[..])
    );
    assert!(r.params.is_empty());
    assert_eq!(r.content, Content::Single);
    assert_eq!(s.envelope.from.as_deref(), Some(&b"a@b.c"[..]));
    assert_eq!(s.envelope.subject.as_deref(), Some(&b"hi"[..]));
    assert_eq!(s.envelope.to, None);
}

#[test]
fn body_without_final_line_end_and_empty_body() {
    let s = parse_every_way(b"Subject: x\r\n\r\nabc");
    assert_eq!((s.root.body_len, s.root.body_lines), (3, 0));
    let s = parse_every_way(b"Subject: x\r\n\r\n");
    assert_eq!((s.root.header_len, s.root.body_len), (14, 0));
    // No empty line at all: everything is header.
    let s = parse_every_way(b"Subject: x\r\nFrom: y");
    assert_eq!(
        (s.root.header_len, s.root.body_start, s.root.body_len),
        (19, 19, 0)
    );
    assert_eq!(s.envelope.from.as_deref(), Some(&b"y"[..]));
    let s = parse_every_way(b"");
    assert_eq!((s.size, s.root.header_len, s.root.body_len), (0, 0, 0));
}

#[test]
fn dovecot_reference_message() {
    let msg = dovecot();
    let s = parse_every_way(&msg);
    let root = &s.root;
    assert_eq!(root.subtype, b"mixed");
    assert_eq!(root.params[0].value, b"foo bar");
    assert_eq!(s.envelope.from.as_deref(), Some(&b"user@domain.org"[..]));
    let parts = children(root);
    assert_eq!(parts.len(), 2);

    let p1 = &parts[0];
    assert_eq!(body(&msg, p1), b"hello\r\n");
    assert_eq!(p1.body_lines, 1);
    assert!(header(&msg, p1).starts_with(b"Content-Type: text/x-myown"));
    assert!(header(&msg, p1).ends_with(b"test.txt\r\n\r\n"));
    assert_eq!(p1.id.as_deref(), Some(&b"<foo@example.com>"[..]));
    assert_eq!(p1.md5.as_deref(), Some(&b"Q2hlY2sgSW50ZWdyaXR5IQ=="[..]));
    assert_eq!(p1.description.as_deref(), Some(&b"hellodescription"[..]));
    assert_eq!(
        p1.language,
        vec![b"en".to_vec(), b"fi".to_vec(), b"se".to_vec()]
    );
    assert_eq!(
        p1.location.as_deref(),
        Some(&b"http://example.com/test.txt"[..])
    );
    assert_eq!(
        p1.disposition.as_ref().map(|d| d.kind.as_slice()),
        Some(&b"inline"[..])
    );

    let p2 = &parts[1];
    assert_eq!((p2.body_len, p2.body_lines), (412, 21));
    let m = embedded(p2);
    assert_eq!(m.root.header_start, p2.body_start);
    assert_eq!(m.envelope.subject.as_deref(), Some(&b"submsg"[..]));
    assert_eq!(
        m.envelope.to.as_deref(),
        Some(&b"sub-to1@domain.org, sub-to2@domain.org"[..])
    );
    let alt = children(&m.root);
    assert_eq!(body(&msg, &alt[0]), b"<p>Hello world</p>\r\n");
    assert_eq!((alt[0].body_len, alt[0].body_lines), (20, 1));
    assert_eq!(alt[0].encoding.as_deref(), Some(&b"8bit"[..]));
    assert_eq!(body(&msg, &alt[1]), b"Hello another world\r\n");
    assert_eq!(alt[1].encoding, None);
    // The embedded message ends where the outer boundary's line end starts.
    assert_eq!(
        m.root.body_start + m.root.body_len,
        p2.body_start + p2.body_len
    );
    assert_eq!(p2.body_start + p2.body_len, at(&msg, "\r\n--foo bar--"));
    assert_eq!(s.size, msg.len() as u64);
    assert_eq!(root.body_start + root.body_len, s.size);
}

#[test]
fn multipart_alternative_offsets() {
    let msg = crlf(concat!(
        "Content-Type: multipart/alternative; boundary=b\n",
        "\n",
        "--b\n",
        "Content-Type: text/plain\n",
        "\n",
        "plain\n",
        "--b\n",
        "Content-Type: text/html\n",
        "\n",
        "<p>html</p>\n",
        "two\n",
        "--b--\n",
    ));
    let s = parse_every_way(&msg);
    let parts = children(&s.root);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].header_start, at(&msg, "Content-Type: text/plain"));
    assert_eq!(header(&msg, &parts[0]), b"Content-Type: text/plain\r\n\r\n");
    assert_eq!(body(&msg, &parts[0]), b"plain");
    assert_eq!(parts[0].body_lines, 0);
    assert_eq!(body(&msg, &parts[1]), b"<p>html</p>\r\ntwo");
    assert_eq!(parts[1].body_lines, 1);
    assert_eq!(parts[1].subtype, b"html");
    assert_eq!(s.root.body_start, at(&msg, "--b"));
    assert_eq!(s.root.body_len, msg.len() as u64 - s.root.body_start);
}

#[test]
fn nested_multipart_with_attachment() {
    let msg = nested();
    let s = parse_every_way(&msg);
    let outer = children(&s.root);
    assert_eq!(outer.len(), 2);
    let alt = children(&outer[0]);
    assert_eq!(alt.len(), 2);
    assert_eq!(body(&msg, &alt[0]), b"Cr=E8me br=FBl=E9e");
    assert_eq!(alt[0].charset(), Some(&b"iso-8859-1"[..]));
    assert_eq!(alt[0].encoding.as_deref(), Some(&b"quoted-printable"[..]));
    assert_eq!(
        body(&msg, &alt[1]),
        "<p>Cr\u{e8}me <b>br\u{fb}l\u{e9}e</b></p>".as_bytes()
    );
    // The inner multipart ends before the line end of "--outer".
    assert!(body(&msg, &outer[0]).ends_with(b"</p>\r\n--inner--"));
    let pdf = &outer[1];
    assert_eq!(body(&msg, pdf), b"JVBERi0xLjQKc2VjcmV0IHdvcmQK");
    assert_eq!(
        (pdf.media_type.as_slice(), pdf.subtype.as_slice()),
        (&b"application"[..], &b"pdf"[..])
    );
    let d = pdf.disposition.as_ref().unwrap();
    assert_eq!(d.kind, b"attachment");
    assert_eq!(d.params[0].name, b"filename*");
    assert_eq!(d.params[0].value, b"utf-8''men%C3%BA.pdf");
    assert_eq!(
        s.envelope.subject.as_deref(),
        Some(&b"=?utf-8?Q?caf=C3=A9?= menu"[..])
    );
}

#[test]
fn message_rfc822_inside_multipart() {
    let msg = crlf(concat!(
        "Content-Type: multipart/mixed; boundary=x\n",
        "\n",
        "--x\n",
        "Content-Type: message/rfc822\n",
        "\n",
        "Subject: inner\n",
        "From: i@example.org\n",
        "\n",
        "inner body\n",
        "--x\n",
        "Content-Type: message/global\n",
        "\n",
        "Subject: second\n",
        "--x--\n",
    ));
    let s = parse_every_way(&msg);
    let parts = children(&s.root);
    let m = embedded(&parts[0]);
    assert_eq!(m.envelope.subject.as_deref(), Some(&b"inner"[..]));
    assert_eq!(
        header(&msg, &m.root),
        b"Subject: inner\r\nFrom: i@example.org\r\n\r\n"
    );
    assert_eq!(body(&msg, &m.root), b"inner body");
    assert_eq!(
        body(&msg, &parts[0]),
        b"Subject: inner\r\nFrom: i@example.org\r\n\r\ninner body"
    );
    assert_eq!(parts[0].body_lines, 3);
    // An embedded message whose header is cut by the boundary.
    let m2 = embedded(&parts[1]);
    assert_eq!(m2.envelope.subject.as_deref(), Some(&b"second"[..]));
    assert_eq!(header(&msg, &m2.root), b"Subject: second");
    assert_eq!(m2.root.body_len, 0);
}

#[test]
fn missing_close_boundary_and_preamble_only() {
    let msg = crlf(concat!(
        "Content-Type: multipart/mixed; boundary=x\n",
        "\n",
        "--x\n",
        "\n",
        "unterminated\n",
    ));
    let s = parse_every_way(&msg);
    let parts = children(&s.root);
    assert_eq!(parts.len(), 1);
    assert_eq!(body(&msg, &parts[0]), b"unterminated\r\n");
    assert_eq!(parts[0].body_lines, 1);
    assert_eq!(parts[0].header_len, 2);

    // No boundary line at all: no parts.
    let s = parse_every_way(&crlf(
        "Content-Type: multipart/mixed; boundary=x\n\nno parts\n",
    ));
    assert_eq!(children(&s.root).len(), 0);
    // A multipart without a boundary parameter.
    let s = parse_every_way(&crlf("Content-Type: multipart/mixed\n\n--x\n\nbody\n"));
    assert_eq!(children(&s.root).len(), 0);
    assert_eq!(s.root.body_len, 13);
}

#[test]
fn boundary_like_lines_inside_parts() {
    let msg = crlf(concat!(
        "Content-Type: multipart/mixed; boundary=\"abc\"\n",
        "\n",
        "--abc\n",
        "\n",
        "-- abc\n",
        " --abc\n",
        "--ab\n",
        "--xyz\n",
        "-abc\n",
        "--abc  \n",
        "\n",
        "second\n",
        "--abc--\n",
        "--abc\n",
        "epilogue\n",
    ));
    let s = parse_every_way(&msg);
    let parts = children(&s.root);
    assert_eq!(parts.len(), 2, "{parts:#?}");
    assert_eq!(
        body(&msg, &parts[0]),
        b"-- abc\r\n --abc\r\n--ab\r\n--xyz\r\n-abc"
    );
    assert_eq!(parts[0].body_lines, 4);
    // Transport padding after the boundary is allowed (RFC 2046 §5.1.1).
    assert_eq!(body(&msg, &parts[1]), b"second");
}

#[test]
fn inner_part_closed_by_outer_boundary() {
    let msg = crlf(concat!(
        "Content-Type: multipart/mixed; boundary=out\n",
        "\n",
        "--out\n",
        "Content-Type: multipart/alternative; boundary=in\n",
        "\n",
        "--in\n",
        "\n",
        "inner text\n",
        "--out\n",
        "\n",
        "after\n",
        "--out--\n",
    ));
    let s = parse_every_way(&msg);
    let outer = children(&s.root);
    assert_eq!(outer.len(), 2);
    let inner = children(&outer[0]);
    assert_eq!(body(&msg, &inner[0]), b"inner text");
    assert_eq!(body(&msg, &outer[1]), b"after");
}

#[test]
fn bare_lf_message() {
    let msg = b"Subject: lf\nContent-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/plain\n\none\ntwo\n--q--\n";
    let s = parse_every_way(msg);
    assert_eq!(s.root.header_len, at(msg, "--q"));
    let parts = children(&s.root);
    assert_eq!(header(msg, &parts[0]), b"Content-Type: text/plain\n\n");
    assert_eq!(body(msg, &parts[0]), b"one\ntwo");
    assert_eq!(parts[0].body_lines, 1);
    // Mixed line ends: sizes are as stored.
    let s = parse_every_way(b"A: b\n\r\nx\r\ny\n");
    assert_eq!(
        (s.root.header_len, s.root.body_len, s.root.body_lines),
        (7, 5, 2)
    );
}

#[test]
fn folded_fields_are_unfolded() {
    let msg = b"Subject: a\r\n  folded\r\n\tsubject\r\nContent-Type: text/plain;\r\n charset=\"utf-8\"\r\n\r\n";
    let s = parse_every_way(msg);
    assert_eq!(
        s.envelope.subject.as_deref(),
        Some(&b"a  folded\tsubject"[..])
    );
    assert_eq!(s.root.charset(), Some(&b"utf-8"[..]));
}

#[test]
fn first_occurrence_of_a_field_counts() {
    let s = parse_every_way(b"Subject: one\r\nSubject: two\r\n  more\r\n\r\n");
    assert_eq!(s.envelope.subject.as_deref(), Some(&b"one"[..]));
}

#[test]
fn digest_parts_default_to_message() {
    let msg = crlf(concat!(
        "Content-Type: multipart/digest; boundary=d\n",
        "\n",
        "--d\n",
        "\n",
        "Subject: one\n",
        "\n",
        "first\n",
        "--d\n",
        "Content-Type: text/plain\n",
        "\n",
        "plain\n",
        "--d--\n",
    ));
    let s = parse_every_way(&msg);
    let parts = children(&s.root);
    assert_eq!(parts[0].media_type, b"message");
    assert_eq!(parts[0].subtype, b"rfc822");
    assert_eq!(
        embedded(&parts[0]).envelope.subject.as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(parts[1].media_type, b"text");
}

#[test]
fn hostile_nesting_is_bounded() {
    let mut msg = Vec::new();
    let depth = 300;
    for i in 0..depth {
        msg.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{i}z\r\n\r\n--b{i}z\r\n").as_bytes(),
        );
    }
    msg.extend_from_slice(b"\r\ndeep\r\n");
    let s = parse(&msg);
    let mut levels = 0;
    let mut p = &s.root;
    while let Content::Multipart(c) = &p.content {
        levels += 1;
        match c.first() {
            Some(child) => p = child,
            None => break,
        }
    }
    assert_eq!(levels, MAX_DEPTH);
    assert_eq!(s.size, msg.len() as u64);

    // Nested embedded messages too.
    let mut msg = Vec::new();
    for _ in 0..depth {
        msg.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    }
    let s = parse(&msg);
    let mut levels = 0;
    let mut p = &s.root;
    while let Content::Message(m) = &p.content {
        levels += 1;
        p = &m.root;
    }
    assert_eq!(levels, MAX_DEPTH - 1);
    assert_eq!(p.media_type, b"application");
}

#[test]
fn part_count_is_bounded() {
    let mut msg = b"Content-Type: multipart/mixed; boundary=z\r\n\r\n".to_vec();
    for _ in 0..3000 {
        msg.extend_from_slice(b"--z\r\n\r\nx\r\n");
    }
    msg.extend_from_slice(b"--z--\r\n");
    let s = parse(&msg);
    assert_eq!(children(&s.root).len(), MAX_PARTS - 1);
    assert_eq!(s.root.body_start + s.root.body_len, msg.len() as u64);
}

#[test]
fn overlong_fields_are_cut() {
    let mut msg = b"Subject: ".to_vec();
    msg.extend(std::iter::repeat_n(b'a', 100_000));
    msg.extend_from_slice(b"\r\nTo: ");
    for _ in 0..5000 {
        msg.extend_from_slice(b"x@y,\r\n ");
    }
    msg.extend_from_slice(b"\r\n\r\nbody");
    let s = parse_every_way_small(&msg);
    let subject = s.envelope.subject.as_ref().map_or(0, Vec::len);
    assert!((MAX_FIELD - 16..=MAX_FIELD).contains(&subject), "{subject}");
    assert!(s.envelope.to.as_ref().map(Vec::len).unwrap_or(0) <= MAX_FIELD);
    assert_eq!(s.root.body_len, 4);
    assert_eq!(s.root.header_len, msg.len() as u64 - 4);
}

/// For large inputs: whole versus a few chunk sizes.
fn parse_every_way_small(msg: &[u8]) -> Structure {
    let whole = parse(msg);
    for size in [1, 7, 4096] {
        let mut p = Parser::new();
        for c in msg.chunks(size) {
            p.feed(c);
        }
        assert_eq!(p.finish(), whole, "chunks of {size}");
    }
    whole
}

#[test]
fn string_budget_is_bounded() {
    let mut msg = b"Content-Type: multipart/mixed; boundary=z\r\n\r\n".to_vec();
    let long = "d".repeat(4000);
    for _ in 0..200 {
        msg.extend_from_slice(
            format!("--z\r\nContent-Description: {long}\r\n\r\nx\r\n").as_bytes(),
        );
    }
    let s = parse(&msg);
    let parts = children(&s.root);
    assert_eq!(parts.len(), 200);
    let kept = parts.iter().filter(|p| p.description.is_some()).count();
    assert_eq!(kept, MAX_STRINGS / 4000);
    assert!(encode(&s).len() < MAX_STRINGS + 200 * 64);
}

#[test]
fn header_cut_by_boundary_and_empty_parts() {
    let msg = crlf(concat!(
        "Content-Type: multipart/mixed; boundary=e\n",
        "\n",
        "--e\n",
        "--e\n",
        "Content-Type: text/plain\n",
        "--e\n",
        "\n",
        "--e--",
    ));
    let s = parse_every_way(&msg);
    let parts = children(&s.root);
    assert_eq!(parts.len(), 3);
    assert_eq!((parts[0].header_len, parts[0].body_len), (0, 0));
    // The line end before the boundary belongs to the boundary.
    assert_eq!(header(&msg, &parts[1]), b"Content-Type: text/plain");
    assert_eq!(parts[1].body_len, 0);
    assert_eq!((parts[2].header_len, parts[2].body_len), (2, 0));
}

#[test]
fn prefix_then_blob() {
    let prefix = b"Return-Path: <a@b>\r\nDelivered-To: c@d\r\n";
    let blob = nested();
    let mut whole = prefix.to_vec();
    whole.extend_from_slice(&blob);
    let mut p = Parser::new();
    p.feed(prefix);
    p.feed(&blob);
    let s = p.finish();
    assert_eq!(s, parse(&whole));
    assert_eq!(s.size, whole.len() as u64);
    assert_eq!(children(&s.root).len(), 2);
}

#[test]
fn prefix_added_to_a_parsed_body() {
    let blob = nested();
    let body_only = parse(&blob);
    let prefix = b"Return-Path: <a@b>\r\nReceived: from x\r\n\tby y; Mon, 1 Jan 2024 00:00:00 +0000\r\nDelivered-To: c@d\r\n";
    let mut whole = prefix.to_vec();
    whole.extend_from_slice(&blob);
    assert_eq!(body_only.with_prefix(prefix), Some(parse(&whole)));
    assert_eq!(body_only.with_prefix(b""), Some(body_only.clone()));
    // Bare LF prefix on a message without a header.
    let plain = parse(b"\nbody\n");
    assert_eq!(
        plain.with_prefix(b"X-A: 1\n"),
        Some(parse(b"X-A: 1\n\nbody\n"))
    );
    // Prefixes that would change the structure are refused.
    for bad in [
        &b"Subject: x\r\n"[..],
        b"Received: x",
        b"\r\n",
        b" folded\r\n",
        b"no colon\r\n",
        b"content-type: text/html\n",
    ] {
        assert_eq!(body_only.with_prefix(bad), None, "{bad:?}");
    }
}

#[test]
fn encoding_round_trips() {
    let s = parse(&dovecot());
    let bytes = encode(&s);
    assert_eq!(bytes.first(), Some(&crate::mail::mime::ENCODING_VERSION));
    assert_eq!(decode(&bytes), Some(s));
    assert_eq!(decode(&[7, 1, 2]), None);
    assert_eq!(decode(&[]), None);
}

/// Checks that every range lies inside its parent and that parts follow
/// each other.
fn check_ranges(p: &Part, lo: u64, hi: u64) {
    assert!(lo <= p.header_start, "{p:#?}");
    assert_eq!(p.header_start + p.header_len, p.body_start);
    assert!(p.body_start + p.body_len <= hi, "{p:#?} > {hi}");
    let (blo, bhi) = (p.body_start, p.body_start + p.body_len);
    match &p.content {
        Content::Single => {}
        Content::Multipart(children) => {
            let mut at = blo;
            for c in children {
                check_ranges(c, at, bhi);
                at = c.body_start + c.body_len;
            }
        }
        Content::Message(m) => {
            assert_eq!(m.root.header_start, blo);
            assert_eq!(m.root.body_start + m.root.body_len, bhi);
            check_ranges(&m.root, blo, bhi);
        }
    }
}

#[test]
fn random_messages_keep_invariants() {
    // Messages assembled from MIME-ish pieces by a fixed pseudo-random
    // sequence, so that failures are reproducible.
    let pieces: &[&[u8]] = &[
        b"Content-Type: multipart/mixed; boundary=a\r\n",
        b"Content-Type: multipart/digest; boundary=b\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: text/plain\r\n",
        b"Subject: s\r\n",
        b" folded\r\n",
        b"\r\n",
        b"\n",
        b"--a\r\n",
        b"--a--\r\n",
        b"--b\n",
        b"--b--",
        b"text\r\n",
        b"\r",
        b"--",
        b"x",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    for round in 0..300 {
        let mut msg = Vec::new();
        for _ in 0..(next() % 40) {
            msg.extend_from_slice(pieces[next() % pieces.len()]);
        }
        let s = if round % 10 == 0 {
            parse_every_way(&msg)
        } else {
            parse(&msg)
        };
        assert_eq!(s.size, msg.len() as u64);
        check_ranges(&s.root, 0, s.size);
        let mut out = Vec::new();
        crate::proto::imap::envelope::write_bodystructure(&mut out, &s, true, false);
        assert_eq!(
            out.iter().filter(|&&b| b == b'(').count(),
            out.iter().filter(|&&b| b == b')').count()
        );
        assert_eq!(decode(&encode(&s)).as_ref(), Some(&s));
    }
}
