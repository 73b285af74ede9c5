use super::super::command::{Flag, SearchKey};
use super::*;

/// An owned, comparable record of what the reader reported.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Cmd(Command),
    Line(Vec<u8>),
    LitReq(String, u64),
    Begin(String, String, AppendMessage, bool),
    Data(Vec<u8>),
    End,
    Err(Option<String>, ErrorKind),
}

/// How the fake session answers literal decisions.
#[derive(Clone, Copy)]
enum Policy {
    Accept,
    Reject,
}

/// Feeds `input` in pieces of `step` bytes (see [`run_pieces`]).
fn run(reader: &mut Reader, input: &[u8], step: usize, policy: Policy) -> Vec<Ev> {
    let pieces: Vec<&[u8]> = input.chunks(step.max(1)).collect();
    run_pieces(reader, &pieces, policy)
}

/// Feeds the pieces in turn the way a connection would (a buffer the
/// reader's counts are drained from), answering decisions by `policy`,
/// switching to line mode after IDLE and AUTHENTICATE, and merging
/// consecutive append data. Checks the reader's buffer bound and that
/// data chunks never exceed what was fed.
fn run_pieces(reader: &mut Reader, pieces: &[&[u8]], policy: Policy) -> Vec<Ev> {
    let mut out = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let (n, ev) = reader.next(&buf);
            assert!(n <= buf.len());
            let mut done = false;
            match ev {
                Event::Incomplete => {
                    assert_eq!(n, buf.len(), "Incomplete must consume everything");
                    done = true;
                }
                Event::Command(c) => {
                    if matches!(
                        c.body,
                        CommandBody::Idle | CommandBody::Authenticate { initial: None, .. }
                    ) {
                        reader.expect_line();
                    }
                    out.push(Ev::Cmd(c));
                }
                Event::Line(l) => out.push(Ev::Line(l)),
                Event::LiteralRequest { tag, size } => {
                    out.push(Ev::LitReq(tag, size));
                    decide(reader, policy);
                }
                Event::AppendBegin {
                    tag,
                    mailbox,
                    message,
                    sync,
                } => {
                    out.push(Ev::Begin(tag, mailbox.0, message, sync));
                    decide(reader, policy);
                }
                Event::AppendData(d) => {
                    assert!(!d.is_empty() && d.len() <= buf.len());
                    match out.last_mut() {
                        Some(Ev::Data(v)) => v.extend_from_slice(d),
                        _ => out.push(Ev::Data(d.to_vec())),
                    }
                }
                Event::AppendEnd => out.push(Ev::End),
                Event::AwaitingDecision => panic!("decision not taken"),
                Event::Error(e) => out.push(Ev::Err(e.tag, e.kind)),
            }
            buf.drain(..n);
            assert!(reader.buffered() <= reader.limits().max_command + 2);
            if done {
                break;
            }
        }
    }
    out
}

fn decide(reader: &mut Reader, policy: Policy) {
    match policy {
        Policy::Accept => reader.accept_literal(),
        Policy::Reject => reader.reject_literal(),
    }
}

fn limits() -> Limits {
    Limits::new(10 * 1024 * 1024)
}

/// Runs `input` whole, byte by byte, in pieces of every size and cut
/// in two at every position: all must give the same events.
fn every_split(input: &[u8], lim: Limits, policy: Policy) -> Vec<Ev> {
    let whole = run(&mut Reader::new(lim), input, input.len(), policy);
    for step in 1..input.len() {
        let got = run(&mut Reader::new(lim), input, step, policy);
        assert_eq!(got, whole, "step {step}");
    }
    for cut in 1..input.len() {
        let pieces = [&input[..cut], &input[cut..]];
        let got = run_pieces(&mut Reader::new(lim), &pieces, policy);
        assert_eq!(got, whole, "cut {cut}");
    }
    whole
}

fn cmd(tag: &str, body: CommandBody) -> Ev {
    Ev::Cmd(Command {
        tag: tag.into(),
        body,
    })
}

fn body(ev: &Ev) -> &CommandBody {
    match ev {
        Ev::Cmd(c) => &c.body,
        other => panic!("not a command: {other:?}"),
    }
}

#[test]
fn a_session_script_whole_and_split() {
    let input: &[u8] = b"a1 CAPABILITY\r\n\
        a2 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n\
        a3 SELECT \"INBOX\" (CONDSTORE)\r\n\
        a4 UID SEARCH CHARSET UTF-8 SUBJECT {5}\r\nCaf\xc3\xa9 UNSEEN\r\n\
        \r\n\
        a5 IDLE\r\nDONE\r\n\
        a6 APPEND Drafts (\\Draft) \" 7-Feb-1994 21:52:25 -0800\" {12}\r\nHello\r\nWorld\r\n\
        a7 NOOP\n\
        a8 LOGOUT\r\n";
    let evs = every_split(input, limits(), Policy::Accept);
    assert_eq!(evs.len(), 14, "{evs:#?}");
    assert_eq!(evs[0], cmd("a1", CommandBody::Capability));
    assert_eq!(evs[1], Ev::LitReq("a2".into(), 5));
    assert!(
        matches!(body(&evs[2]), CommandBody::Login { username, password }
        if username == "alice" && password.0 == "secret")
    );
    assert!(matches!(body(&evs[3]), CommandBody::Select { params, .. } if params.condstore));
    assert_eq!(evs[4], Ev::LitReq("a4".into(), 5));
    let CommandBody::Search(s) = body(&evs[5]) else {
        panic!()
    };
    assert_eq!(
        s.criteria,
        vec![SearchKey::Subject("Café".into()), SearchKey::Unseen]
    );
    assert_eq!(evs[6], cmd("a5", CommandBody::Idle));
    assert_eq!(evs[7], Ev::Line(b"DONE".to_vec()));
    let meta = AppendMessage {
        flags: vec![Flag::Draft],
        date: Some(760_686_745),
        size: 12,
    };
    assert_eq!(
        evs[8],
        Ev::Begin("a6".into(), "Drafts".into(), meta.clone(), true)
    );
    assert_eq!(evs[9], Ev::Data(b"Hello\r\nWorld".to_vec()));
    assert_eq!(evs[10], Ev::End);
    assert_eq!(
        evs[11],
        cmd(
            "a6",
            CommandBody::Append {
                mailbox: Mailbox::new("Drafts".into()),
                messages: vec![meta]
            }
        )
    );
    assert_eq!(evs[12], cmd("a7", CommandBody::Noop));
    assert_eq!(evs[13], cmd("a8", CommandBody::Logout));
}

/// Lines as real clients send them (Thunderbird, Apple Mail,
/// Outlook, mbsync, K-9, and RFC examples), one per command.
const CLIENT_LINES: &[&str] = &[
    "1 capability",
    "2 ID (\"name\" \"Thunderbird\" \"version\" \"115.3.1\")",
    "3 authenticate PLAIN AGFsaWNlAHNlY3JldA==",
    "4 LOGIN \"alice@example.org\" {8+}\r\np@ss wrd",
    "5 ENABLE CONDSTORE QRESYNC UTF8=ACCEPT",
    "6 namespace",
    "7 list (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN SPECIAL-USE)",
    "8 LIST \"\" \"*\" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN UIDNEXT))",
    "9 lsub \"\" \"*\"",
    "10 STATUS \"Sent Items\" (MESSAGES UNSEEN RECENT UIDVALIDITY UIDNEXT HIGHESTMODSEQ)",
    "11 select \"INBOX\" (QRESYNC (1234567 98765 1:400))",
    "12 EXAMINE Archive/2023",
    "13 UID fetch 1:* (FLAGS) (CHANGEDSINCE 98765 VANISHED)",
    "14 UID fetch 401:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
    "15 UID FETCH 397 (BODY.PEEK[1.MIME] BODY.PEEK[1]<0.10240> BINARY.PEEK[2] BINARY.SIZE[2])",
    "16 FETCH 1:20 (INTERNALDATE UID RFC822.SIZE FLAGS MODSEQ BODY.PEEK[HEADER])",
    "17 UID FETCH 1:1000000000 (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-TUID)])",
    "18 FETCH 3 (ENVELOPE BODYSTRUCTURE RFC822.HEADER RFC822.TEXT)",
    "19 fetch 1 full",
    "20 uid store 397 +FLAGS.SILENT (\\Seen)",
    "21 UID STORE 12,14:16 (UNCHANGEDSINCE 98765) -FLAGS ($Junk)",
    "22 STORE 4 FLAGS \\Answered $Forwarded",
    "23 UID SEARCH RETURN (SAVE) UNDELETED SINCE 1-Jan-2024",
    "24 UID MOVE $ Trash",
    "25 UID COPY 3:5,9 \"Deleted Items\"",
    "26 uid search charset UTF-8 OR OR FROM {3}\r\nbob SUBJECT \"re: hi\" TO bob@example.org",
    "27 SEARCH RETURN (MIN MAX COUNT) NOT (DELETED OR SEEN FLAGGED) LARGER 10000 MODSEQ 5",
    "28 UID EXPUNGE 397:399",
    "29 EXPUNGE",
    "30 CREATE \"Projects/&AOk-t&AOk-\" (USE (\\Archive))",
    "31 RENAME {3+}\r\nold new",
    "32 SUBSCRIBE Projects",
    "33 UNSUBSCRIBE Projects",
    "34 DELETE Projects",
    "35 GETQUOTAROOT INBOX",
    "36 GETQUOTA \"\"",
    "37 SETQUOTA \"\" (STORAGE 512000)",
    "38 CHECK",
    "39 UNSELECT",
    "40 CLOSE",
    "41 NOOP",
    "42 STARTTLS",
    "43 SEARCH HEADER Message-ID \"<a@b>\" UID 1:* SENTSINCE 1-Feb-1994 SENTBEFORE 2-Feb-1994 SENTON 3-Feb-1994 BEFORE 4-Feb-1994 ON 5-Feb-1994 SMALLER 5 BCC x CC y BODY z TEXT t KEYWORD k UNKEYWORD u",
    "44 SEARCH ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN 1,2:*",
    "45 LOGOUT",
];

#[test]
fn client_lines_whole_and_split() {
    let mut input = Vec::new();
    for line in CLIENT_LINES {
        input.extend_from_slice(line.as_bytes());
        input.extend_from_slice(b"\r\n");
    }
    let evs = every_split(&input, limits(), Policy::Accept);
    let commands: Vec<&Command> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Cmd(c) => Some(c),
            Ev::LitReq(..) => None,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(commands.len(), CLIENT_LINES.len());
    for (i, c) in commands.iter().enumerate() {
        assert_eq!(c.tag, (i + 1).to_string());
    }
    // Each line, parsed alone, gives the same command.
    for (line, c) in CLIENT_LINES.iter().zip(&commands) {
        let got = run(
            &mut Reader::new(limits()),
            format!("{line}\r\n").as_bytes(),
            1000,
            Policy::Accept,
        );
        assert_eq!(got.last(), Some(&Ev::Cmd((*c).clone())), "{line}");
    }
}

#[test]
fn a_literal_for_an_unknown_command_is_refused_at_once() {
    let evs = every_split(b"a XLIST {5}\r\nb NOOP\r\n", limits(), Policy::Accept);
    assert_eq!(
        evs,
        vec![
            Ev::Err(Some("a".into()), ErrorKind::UnknownCommand),
            cmd("b", CommandBody::Noop)
        ]
    );
}

#[test]
fn multiappend_and_nonsync_append() {
    let input: &[u8] = b"A003 APPEND saved-messages (\\Seen) {3+}\r\nabc (\\Draft) {0+}\r\n {2}\r\nxy\r\nA004 NOOP\r\n";
    let evs = every_split(input, limits(), Policy::Accept);
    let m = |flags: Vec<Flag>, size| AppendMessage {
        flags,
        date: None,
        size,
    };
    assert_eq!(
        evs,
        vec![
            Ev::Begin(
                "A003".into(),
                "saved-messages".into(),
                m(vec![Flag::Seen], 3),
                false
            ),
            Ev::Data(b"abc".to_vec()),
            Ev::End,
            Ev::Begin(
                "A003".into(),
                "saved-messages".into(),
                m(vec![Flag::Draft], 0),
                false
            ),
            Ev::End,
            Ev::Begin("A003".into(), "saved-messages".into(), m(vec![], 2), true),
            Ev::Data(b"xy".to_vec()),
            Ev::End,
            cmd(
                "A003",
                CommandBody::Append {
                    mailbox: Mailbox::new("saved-messages".into()),
                    messages: vec![
                        m(vec![Flag::Seen], 3),
                        m(vec![Flag::Draft], 0),
                        m(vec![], 2)
                    ]
                }
            ),
            cmd("A004", CommandBody::Noop),
        ]
    );
}

#[test]
fn append_streams_a_large_message_with_bounded_memory() {
    let size = 1024 * 1024;
    let mut input = format!("A1 APPEND INBOX {{{size}}}\r\n").into_bytes();
    let mut rng = 0x1234_5678_u32;
    for _ in 0..size {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        input.push(rng as u8);
    }
    input.extend_from_slice(b"\r\nA2 NOOP\r\n");
    let mut reader = Reader::new(limits());
    let mut received = Vec::with_capacity(size);
    let mut chunks = 0;
    let mut events = Vec::new();
    for piece in input.chunks(4096) {
        let mut buf = piece;
        loop {
            let (n, ev) = reader.next(buf);
            match ev {
                Event::Incomplete => break,
                Event::AppendBegin { .. } => reader.accept_literal(),
                Event::AppendData(d) => {
                    assert!(d.len() <= 4096);
                    chunks += 1;
                    received.extend_from_slice(d);
                }
                Event::Command(c) => events.push(c.tag),
                Event::AppendEnd => events.push("end".into()),
                other => panic!("{other:?}"),
            }
            // The message never enters the reader's buffer.
            assert!(reader.buffered() < 64, "{}", reader.buffered());
            buf = &buf[n..];
        }
    }
    assert_eq!(received.len(), size);
    assert_eq!(
        &received[..],
        &input[input.len() - size - 11..input.len() - 11]
    );
    assert!(chunks >= 256);
    assert_eq!(events, vec!["end".to_string(), "A1".into(), "A2".into()]);
}

#[test]
fn append_over_the_limit() {
    let lim = Limits::new(100);
    // Synchronising: refused at once, the client sends nothing more.
    let evs = every_split(b"a APPEND INBOX {101}\r\nb NOOP\r\n", lim, Policy::Accept);
    assert_eq!(
        evs,
        vec![
            Ev::Err(Some("a".into()), ErrorKind::AppendTooBig),
            cmd("b", CommandBody::Noop)
        ]
    );
    // Non-synchronising: skipped, then refused.
    let mut input = b"a APPEND INBOX {200+}\r\n".to_vec();
    input.extend_from_slice(&[b'x'; 200]);
    input.extend_from_slice(b"\r\nb NOOP\r\n");
    let evs = every_split(&input, lim, Policy::Accept);
    assert_eq!(
        evs,
        vec![
            Ev::Err(Some("a".into()), ErrorKind::AppendTooBig),
            cmd("b", CommandBody::Noop)
        ]
    );
    let e = ParseError {
        tag: Some("a".into()),
        kind: ErrorKind::AppendTooBig,
        text: "message too large".into(),
    };
    assert_eq!(e.response(), b"a NO [TOOBIG] message too large\r\n");
}

#[test]
fn session_rejects_literals() {
    // A synchronising literal refused: the client abandons the command.
    let evs = every_split(b"a LOGIN {5}\r\nb NOOP\r\n", limits(), Policy::Reject);
    assert_eq!(
        evs,
        vec![Ev::LitReq("a".into(), 5), cmd("b", CommandBody::Noop)]
    );
    // A non-synchronising APPEND refused (e.g. no such mailbox): its
    // data, and a second message, are skipped without an event.
    let input = b"a APPEND nosuch {5+}\r\nhello {3+}\r\nabc\r\nb NOOP\r\n";
    let evs = every_split(input, limits(), Policy::Reject);
    assert_eq!(evs.len(), 2);
    assert!(matches!(&evs[0], Ev::Begin(t, _, _, false) if t == "a"));
    assert_eq!(evs[1], cmd("b", CommandBody::Noop));
}

#[test]
fn oversized_literals() {
    // Synchronising literal over the limit: an error right away.
    let evs = every_split(b"a LOGIN {70000}\r\nb NOOP\r\n", limits(), Policy::Accept);
    assert_eq!(
        evs,
        vec![
            Ev::Err(Some("a".into()), ErrorKind::LiteralTooLarge),
            cmd("b", CommandBody::Noop)
        ]
    );
    // Non-synchronising: the octets are skipped, then the error; a
    // second literal on the same command is skipped too.
    let mut input = b"a LOGIN {70000+}\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'z', 70000));
    input.extend_from_slice(b" {4+}\r\nb NO\r\nc NOOP\r\n");
    let mut r = Reader::new(limits());
    let evs = run(&mut r, &input, 1000, Policy::Accept);
    assert_eq!(
        evs,
        vec![
            Ev::Err(Some("a".into()), ErrorKind::LiteralTooLarge),
            cmd("c", CommandBody::Noop)
        ]
    );
    // Absurd sizes.
    let evs = every_split(
        b"a LOGIN {99999999999999999999999}\r\nb NOOP\r\n",
        limits(),
        Policy::Accept,
    );
    assert_eq!(
        evs[0],
        Ev::Err(Some("a".into()), ErrorKind::LiteralTooLarge)
    );
    assert_eq!(evs[1], cmd("b", CommandBody::Noop));
}

#[test]
fn literal_minus_bound() {
    let mut lim = limits();
    lim.literal_minus = true;
    let mut ok = b"a APPEND INBOX {4096+}\r\n".to_vec();
    ok.extend(std::iter::repeat_n(b'm', 4096));
    ok.extend_from_slice(b"\r\n");
    let evs = run(&mut Reader::new(lim), &ok, 333, Policy::Accept);
    assert_eq!(evs.len(), 4, "{evs:?}");
    assert!(matches!(evs[3], Ev::Cmd(_)));
    let mut big = b"a APPEND INBOX {4097+}\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'm', 4097));
    big.extend_from_slice(b"\r\nb NOOP\r\n");
    let evs = run(&mut Reader::new(lim), &big, 333, Policy::Accept);
    assert_eq!(
        evs,
        vec![
            Ev::Err(Some("a".into()), ErrorKind::LiteralTooLarge),
            cmd("b", CommandBody::Noop)
        ]
    );
    // The synchronising form of the same size is fine.
    let evs = run(
        &mut Reader::new(lim),
        b"a APPEND INBOX {4097}\r\n",
        10,
        Policy::Accept,
    );
    assert!(matches!(evs[0], Ev::Begin(_, _, _, true)));
    // Under LITERAL+ the large non-synchronising one is accepted.
    let evs = run(&mut Reader::new(limits()), &big, 333, Policy::Accept);
    assert!(matches!(evs[0], Ev::Begin(_, _, _, false)));
}

#[test]
fn errors_keep_the_tag_and_resynchronise() {
    let input: &[u8] = b"a1 FROB x\r\n\
        garbage\r\n\
        a2 FETCH 1 (BOGUS) {3+}\r\nabc\r\n\
        a3 SEARCH FROM {3}\r\n\
        a4 NOOP\r\n";
    let evs = every_split(input, limits(), Policy::Accept);
    // a3's literal is requested; the session accepts, the "client"
    // here sends the next line as the literal data, which shows the
    // literal is read exactly.
    assert_eq!(
        evs[0],
        Ev::Err(Some("a1".into()), ErrorKind::UnknownCommand)
    );
    assert_eq!(evs[1], Ev::Err(None, ErrorKind::Syntax));
    assert_eq!(evs[2], Ev::Err(Some("a2".into()), ErrorKind::Syntax));
    assert_eq!(evs[3], Ev::LitReq("a3".into(), 3));
    // "a4 " became the literal, then "NOOP" follows it without a space.
    assert_eq!(evs[4], Ev::Err(Some("a3".into()), ErrorKind::Syntax));
    assert_eq!(evs.len(), 5, "{evs:?}");
    let evs = every_split(
        b"a3 SEARCH FROM {3}\r\nbob\r\na4 NOOP\r\n",
        limits(),
        Policy::Accept,
    );
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[2], cmd("a4", CommandBody::Noop));
    // An APPEND line with a bad tail after the message.
    let evs = every_split(
        b"a APPEND x {1+}\r\nz junk\r\nb NOOP\r\n",
        limits(),
        Policy::Accept,
    );
    assert_eq!(evs[3], Ev::Err(Some("a".into()), ErrorKind::Syntax));
    assert_eq!(evs[4], cmd("b", CommandBody::Noop));
    // A bad MULTIAPPEND continuation with a non-sync literal.
    let evs = every_split(
        b"a APPEND x {1+}\r\nz junk {2+}\r\nzz\r\nb NOOP\r\n",
        limits(),
        Policy::Accept,
    );
    assert_eq!(evs[3], Ev::Err(Some("a".into()), ErrorKind::Syntax));
    assert_eq!(evs[4], cmd("b", CommandBody::Noop));
    // Untagged literal garbage.
    let evs = every_split(b"{3}\r\nb NOOP\r\n", limits(), Policy::Accept);
    assert_eq!(
        evs,
        vec![
            Ev::Err(None, ErrorKind::Syntax),
            cmd("b", CommandBody::Noop)
        ]
    );
}

#[test]
fn long_lines_are_skipped() {
    let lim = Limits {
        max_command: 100,
        ..limits()
    };
    let mut input = b"a1 SEARCH ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 300));
    input.extend_from_slice(b" {5+}\r\n12345\r\na2 NOOP\r\n");
    let evs = every_split(&input, lim, Policy::Accept);
    assert_eq!(
        evs,
        vec![
            Ev::Err(Some("a1".into()), ErrorKind::LineTooLong),
            cmd("a2", CommandBody::Noop)
        ]
    );
    // The limit counts literals too.
    let mut input = b"a1 LOGIN {60+}\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'u', 60));
    input.extend_from_slice(b" {60+}\r\n");
    input.extend(std::iter::repeat_n(b'p', 60));
    input.extend_from_slice(b"\r\na2 NOOP\r\n");
    let evs = every_split(&input, lim, Policy::Accept);
    assert_eq!(
        evs,
        vec![
            Ev::Err(Some("a1".into()), ErrorKind::LiteralTooLarge),
            cmd("a2", CommandBody::Noop)
        ]
    );
}

#[test]
fn idle_and_authenticate_lines() {
    let input: &[u8] = b"i1 IDLE\r\nDONE\r\n\
        au AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\n\
        ir AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n\
        x NOOP\r\n";
    let evs = every_split(input, limits(), Policy::Accept);
    assert_eq!(evs.len(), 6);
    assert_eq!(evs[1], Ev::Line(b"DONE".to_vec()));
    assert_eq!(evs[3], Ev::Line(b"AGFsaWNlAHNlY3JldA==".to_vec()));
    assert!(matches!(
        body(&evs[4]),
        CommandBody::Authenticate {
            initial: Some(_),
            ..
        }
    ));
    assert_eq!(evs[5], cmd("x", CommandBody::Noop));
    // A raw line is not parsed for literals.
    let evs = every_split(b"i IDLE\r\n{5}\r\nx NOOP\r\n", limits(), Policy::Accept);
    assert_eq!(evs[1], Ev::Line(b"{5}".to_vec()));
    assert_eq!(evs[2], cmd("x", CommandBody::Noop));
    // An over-long raw line is an untagged error.
    let lim = Limits {
        max_command: 50,
        ..limits()
    };
    let mut input = b"i IDLE\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'D', 80));
    input.extend_from_slice(b"\r\nx NOOP\r\n");
    let evs = every_split(&input, lim, Policy::Accept);
    assert_eq!(evs[1], Ev::Err(None, ErrorKind::LineTooLong));
    assert_eq!(evs[2], cmd("x", CommandBody::Noop));
}

#[test]
fn awaiting_decision_consumes_nothing() {
    let mut r = Reader::new(limits());
    let input = b"a LOGIN {3}\r\nbob pw\r\n";
    let (n, ev) = r.next(input);
    assert_eq!(
        ev,
        Event::LiteralRequest {
            tag: "a".into(),
            size: 3
        }
    );
    assert_eq!(r.next(&input[n..]), (0, Event::AwaitingDecision));
    r.accept_literal();
    let (m, ev) = r.next(&input[n..]);
    assert_eq!(n + m, input.len());
    assert!(matches!(ev, Event::Command(_)));
    // reset() forgets a half-read command.
    let mut r = Reader::new(limits());
    assert_eq!(r.next(b"a LOG"), (5, Event::Incomplete));
    r.reset();
    assert!(matches!(r.next(b"b NOOP\r\n").1, Event::Command(c) if c.tag == "b"));
}

#[test]
fn literal_markers() {
    let m = |at, size, sync, binary| {
        Some(Marker {
            at,
            size,
            sync,
            binary,
        })
    };
    assert_eq!(literal_marker(b"a {5}"), m(2, 5, true, false));
    assert_eq!(literal_marker(b"a {5+}"), m(2, 5, false, false));
    assert_eq!(literal_marker(b"{0}"), m(0, 0, true, false));
    assert_eq!(literal_marker(b"a ~{5}"), m(2, 5, true, true));
    assert_eq!(literal_marker(b"a ~{5+}"), m(2, 5, false, true));
    assert_eq!(literal_marker(b"~{7}"), m(0, 7, true, true));
    assert_eq!(literal_marker(b"a ~~{7}"), m(3, 7, true, true));
    assert_eq!(literal_marker(b"a ~{}"), None);
    assert_eq!(literal_marker(b"a {}"), None);
    assert_eq!(literal_marker(b"a {+}"), None);
    assert_eq!(literal_marker(b"a {x}"), None);
    assert_eq!(literal_marker(b"a 5}"), None);
    assert_eq!(
        literal_marker(b"a {99999999999999999999999}"),
        m(2, u64::MAX, true, false)
    );
}

#[test]
fn append_of_a_literal8_with_nul() {
    // RFC 3516 §4.4: binary message data, NUL included, as a literal8,
    // synchronising or not (RFC 4466 §4 / RFC 7888 allow `~{n+}`).
    let input: &[u8] =
        b"a APPEND INBOX (\\Seen) ~{5}\r\nx\x00\r\n\x00\r\nb APPEND INBOX ~{3+}\r\n\x00\x00\x00 ~{0}\r\n\r\n";
    let evs = every_split(input, limits(), Policy::Accept);
    let m = |flags: Vec<Flag>, size| AppendMessage {
        flags,
        date: None,
        size,
    };
    let inbox = || Mailbox::new("INBOX".into());
    assert_eq!(
        evs,
        vec![
            Ev::Begin("a".into(), "INBOX".into(), m(vec![Flag::Seen], 5), true),
            Ev::Data(b"x\x00\r\n\x00".to_vec()),
            Ev::End,
            cmd(
                "a",
                CommandBody::Append {
                    mailbox: inbox(),
                    messages: vec![m(vec![Flag::Seen], 5)]
                }
            ),
            Ev::Begin("b".into(), "INBOX".into(), m(vec![], 3), false),
            Ev::Data(b"\x00\x00\x00".to_vec()),
            Ev::End,
            // MULTIAPPEND (RFC 3502) with a literal8 too.
            Ev::Begin("b".into(), "INBOX".into(), m(vec![], 0), true),
            Ev::End,
            cmd(
                "b",
                CommandBody::Append {
                    mailbox: inbox(),
                    messages: vec![m(vec![], 3), m(vec![], 0)]
                }
            ),
        ]
    );
}

#[test]
fn literal8_limits_and_places() {
    // The APPENDLIMIT (RFC 7889) applies to a literal8 as to a literal.
    let lim = Limits::new(100);
    let evs = every_split(b"a APPEND INBOX ~{101}\r\nb NOOP\r\n", lim, Policy::Accept);
    assert_eq!(
        evs,
        vec![
            Ev::Err(Some("a".into()), ErrorKind::AppendTooBig),
            cmd("b", CommandBody::Noop)
        ]
    );
    let mut input = b"a APPEND INBOX ~{200+}\r\n".to_vec();
    input.extend_from_slice(&[0; 200]);
    input.extend_from_slice(b"\r\nb NOOP\r\n");
    assert_eq!(
        every_split(&input, lim, Policy::Accept),
        vec![
            Ev::Err(Some("a".into()), ErrorKind::AppendTooBig),
            cmd("b", CommandBody::Noop)
        ]
    );
    // Anywhere but APPEND message data a literal8 is a syntax error
    // (RFC 9051 §9: only append-data holds literal8); a
    // non-synchronising one is skipped first.
    let evs = every_split(b"a LOGIN ~{3}\r\nb NOOP\r\n", limits(), Policy::Accept);
    assert_eq!(
        evs,
        vec![
            Ev::Err(Some("a".into()), ErrorKind::Syntax),
            cmd("b", CommandBody::Noop)
        ]
    );
    let evs = every_split(
        b"a LOGIN ~{3+}\r\nx\x00y pw\r\nb NOOP\r\n",
        limits(),
        Policy::Accept,
    );
    assert_eq!(
        evs,
        vec![
            Ev::Err(Some("a".into()), ErrorKind::Syntax),
            cmd("b", CommandBody::Noop)
        ]
    );
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = 0x9e37_79b9_u32;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        rng
    };
    const PIECES: [&[u8]; 24] = [
        b"a ", b"UID ", b"FETCH ", b"SEARCH ", b"APPEND ", b"{", b"}", b"+}", b"5", b"\r\n", b"\n",
        b"(", b")", b"[", b"]", b"\"", b"\\", b"*", b"$", b"1:", b",", b"NOT ", b"OR ", b"BODY[",
    ];
    for round in 0..300 {
        let mut input = Vec::new();
        let len = next() % 400;
        for _ in 0..len {
            if next() % 3 == 0 {
                input.push(next() as u8);
            } else {
                input.extend_from_slice(PIECES[(next() % 24) as usize]);
            }
        }
        let lim = Limits {
            max_command: 200,
            max_literal: 50,
            append_limit: 100,
            literal_minus: round % 2 == 0,
        };
        let policy = if round % 3 == 0 {
            Policy::Reject
        } else {
            Policy::Accept
        };
        let step = 1 + (next() % 17) as usize;
        run(&mut Reader::new(lim), &input, step, policy);
        for text in input.split(|&b| b == b'\n') {
            let _ = parse::parse_command(text);
        }
    }
}
