use super::*;
use crate::proto::imap::sequence::{SeqNum, SequenceSet};

pub(crate) fn ok(text: &str) -> CommandBody {
    match parse_command(text.as_bytes()) {
        Ok(cmd) => cmd.body,
        Err(e) => panic!("{text:?}: {e:?}"),
    }
}

fn err(text: &str) -> ParseError {
    match parse_command(text.as_bytes()) {
        Ok(cmd) => panic!("{text:?} parsed as {cmd:?}"),
        Err(e) => e,
    }
}

fn mb(s: &str) -> Mailbox {
    Mailbox::new(s.into())
}

#[test]
fn simple_commands() {
    assert_eq!(ok("a CAPABILITY"), CommandBody::Capability);
    assert_eq!(ok("a noop"), CommandBody::Noop);
    assert_eq!(ok("A003 LOGOUT"), CommandBody::Logout);
    assert_eq!(ok("1 StartTLS"), CommandBody::StartTls);
    assert_eq!(ok("a NAMESPACE"), CommandBody::Namespace);
    assert_eq!(ok("a IDLE"), CommandBody::Idle);
    assert_eq!(ok("a CHECK"), CommandBody::Check);
    assert_eq!(ok("a CLOSE"), CommandBody::Close);
    assert_eq!(ok("a UNSELECT"), CommandBody::Unselect);
    assert_eq!(ok("a EXPUNGE"), CommandBody::Expunge { uids: None });
    assert_eq!(
        ok("a UID EXPUNGE 3000:3002"),
        CommandBody::Expunge {
            uids: Some(SequenceSet::Ranges(vec![(
                SeqNum::Value(3000),
                SeqNum::Value(3002)
            )]))
        }
    );
    assert_eq!(err("a NOOP x").kind, ErrorKind::Syntax);
    assert_eq!(err("a NOOP ").kind, ErrorKind::Syntax);
}

#[test]
fn tags_and_unknown_commands() {
    let e = err("a1 FROB x");
    assert_eq!(e.tag.as_deref(), Some("a1"));
    assert_eq!(e.kind, ErrorKind::UnknownCommand);
    assert_eq!(e.response(), b"a1 BAD unknown command FROB\r\n");
    assert_eq!(err("+x NOOP").tag, None);
    assert_eq!(err("").tag, None);
    assert_eq!(err("abc").tag, None);
    assert_eq!(err("abc").response(), b"* BAD missing command\r\n");
    assert_eq!(err("a ").kind, ErrorKind::UnknownCommand);
    assert_eq!(err("a UID FROB 1").tag.as_deref(), Some("a"));
    // Tags may contain ']' but not '+' (RFC 9051 §9 `tag`).
    assert!(parse_command(b"a]1 NOOP").is_ok());
}

#[test]
fn login_and_authenticate() {
    assert_eq!(
        ok("a001 LOGIN SMITH SESAME"),
        CommandBody::Login {
            username: "SMITH".into(),
            password: Secret("SESAME".into())
        }
    );
    // Thunderbird quotes both; escapes inside quotes.
    assert_eq!(
        ok(r#"2 login "fred@example.com" "p\"a\\ss w""#),
        CommandBody::Login {
            username: "fred@example.com".into(),
            password: Secret("p\"a\\ss w".into())
        }
    );
    assert_eq!(
        ok("a LOGIN {5}\r\nalice {3+}\r\npw!"),
        CommandBody::Login {
            username: "alice".into(),
            password: Secret("pw!".into())
        }
    );
    assert!(!format!("{:?}", ok("a LOGIN u secret")).contains("secret"));
    assert_eq!(
        ok("a AUTHENTICATE plain"),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial: None
        }
    );
    assert_eq!(
        ok("a AUTHENTICATE PLAIN AGFsaWNlAHB3"),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial: Some(Secret("AGFsaWNlAHB3".into()))
        }
    );
    assert_eq!(
        ok("a AUTHENTICATE PLAIN ="),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial: Some(Secret("=".into()))
        }
    );
    err("a LOGIN onlyuser");
    err("a AUTHENTICATE");
    err("a AUTHENTICATE PLAIN a b");
}

#[test]
fn enable_select_examine() {
    assert_eq!(
        ok("t ENABLE QRESYNC condstore"),
        CommandBody::Enable(vec!["QRESYNC".into(), "CONDSTORE".into()])
    );
    err("t ENABLE");
    assert_eq!(
        ok("a SELECT inbox"),
        CommandBody::Select {
            mailbox: mb("INBOX"),
            params: SelectParams::default()
        }
    );
    assert_eq!(
        ok("a EXAMINE \"Sent Items\" (CONDSTORE)"),
        CommandBody::Examine {
            mailbox: mb("Sent Items"),
            params: SelectParams {
                condstore: true,
                qresync: None
            }
        }
    );
    // RFC 7162 §3.2.5.2 example.
    let CommandBody::Select { params, .. } =
        ok("A02 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 (1:20 41:60)))")
    else {
        panic!()
    };
    let q = params.qresync.unwrap();
    assert_eq!(q.uid_validity, 67890007);
    assert_eq!(q.mod_seq, 90060115194045000);
    assert_eq!(q.known_uids.unwrap().to_string(), "41:211,214:541");
    let (s, u) = q.seq_match.unwrap();
    assert_eq!(
        (s.to_string(), u.to_string()),
        ("1:20".into(), "41:60".into())
    );
    let CommandBody::Select { params, .. } =
        ok("A02 SELECT INBOX (QRESYNC (67890007 90060115194045000))")
    else {
        panic!()
    };
    assert!(params.qresync.unwrap().known_uids.is_none());
    let CommandBody::Select { params, .. } = ok("A SELECT INBOX (QRESYNC (1 2 (1:2 3:4)))") else {
        panic!()
    };
    assert!(params.qresync.unwrap().seq_match.is_some());
    err("a SELECT INBOX (FOO)");
    err("a SELECT INBOX (QRESYNC (0 5))");
    err("a SELECT");
}

#[test]
fn mailbox_management() {
    assert_eq!(
        ok("a CREATE owatagusiam/"),
        CommandBody::Create {
            mailbox: mb("owatagusiam/"),
            special_use: vec![]
        }
    );
    assert_eq!(
        ok("t1 CREATE MySpecial (USE (\\Drafts \\Sent))"),
        CommandBody::Create {
            mailbox: mb("MySpecial"),
            special_use: vec!["\\Drafts".into(), "\\Sent".into()]
        }
    );
    err("a CREATE x (FOO (bar))");
    assert_eq!(
        ok("a DELETE blurdybloop"),
        CommandBody::Delete(mb("blurdybloop"))
    );
    assert_eq!(
        ok("a RENAME \"Old\" {3}\r\nNew"),
        CommandBody::Rename {
            from: mb("Old"),
            to: mb("New")
        }
    );
    assert_eq!(
        ok("a SUBSCRIBE #news.comp"),
        CommandBody::Subscribe(mb("#news.comp"))
    );
    assert_eq!(ok("a UNSUBSCRIBE x"), CommandBody::Unsubscribe(mb("x")));
    assert_eq!(
        ok("a STATUS blurdybloop (UIDNEXT MESSAGES HIGHESTMODSEQ APPENDLIMIT SIZE DELETED)"),
        CommandBody::Status {
            mailbox: mb("blurdybloop"),
            items: vec![
                StatusItem::UidNext,
                StatusItem::Messages,
                StatusItem::HighestModSeq,
                StatusItem::AppendLimit,
                StatusItem::Size,
                StatusItem::Deleted
            ]
        }
    );
    err("a STATUS x ()");
    err("a STATUS x (BOGUS)");
    // Mailbox names must be UTF-8 (modified UTF-7 is ASCII).
    err("a DELETE {1}\r\n\u{0}");
    assert!(parse_command(b"a DELETE {1}\r\n\xff").is_err());
    assert_eq!(
        ok("a DELETE ~peter/mail/&U,BTFw-"),
        CommandBody::Delete(mb("~peter/mail/&U,BTFw-"))
    );
}

#[test]
fn list_forms() {
    assert_eq!(
        ok("a LIST \"\" \"*\""),
        CommandBody::List(ListCommand {
            reference: "".into(),
            patterns: vec!["*".into()],
            ..Default::default()
        })
    );
    assert_eq!(
        ok("a list \"\" %"),
        CommandBody::List(ListCommand {
            patterns: vec!["%".into()],
            ..Default::default()
        })
    );
    assert_eq!(
        ok("a LSUB \"#news.\" \"comp.mail.*\""),
        CommandBody::Lsub {
            reference: "#news.".into(),
            pattern: "comp.mail.*".into()
        }
    );
    // RFC 5258 §5 example 9 and RFC 5819 / RFC 6154 forms.
    let CommandBody::List(l) = ok(
        "A01 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"%\" foo/*) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))",
    ) else {
        panic!()
    };
    assert!(l.extended && l.select.subscribed && l.select.recursive_match);
    assert_eq!(l.patterns, vec!["%".to_string(), "foo/*".to_string()]);
    assert!(l.ret.children && l.ret.special_use && !l.ret.subscribed);
    assert_eq!(
        l.ret.status,
        Some(vec![StatusItem::Messages, StatusItem::Unseen])
    );
    let CommandBody::List(l) = ok("t LIST (SPECIAL-USE REMOTE) \"\" *") else {
        panic!()
    };
    assert!(l.select.special_use && l.select.remote);
    let CommandBody::List(l) = ok("t LIST \"\" * RETURN (SUBSCRIBED)") else {
        panic!()
    };
    assert!(l.extended && l.ret.subscribed);
    let CommandBody::List(l) = ok("t LIST () \"\" *") else {
        panic!()
    };
    assert!(l.extended);
    err("t LIST (RECURSIVEMATCH) \"\" *");
    err("t LIST (BOGUS) \"\" *");
    err("t LIST \"\" * RETURN (BOGUS)");
    err("t LIST \"\" ()");
    err("t LIST \"\"");
}

#[test]
fn copy_move_id_quota() {
    assert_eq!(
        ok("A003 COPY 2:4 MEETING"),
        CommandBody::Copy {
            uid: false,
            set: SequenceSet::Ranges(vec![(SeqNum::Value(2), SeqNum::Value(4))]),
            mailbox: mb("MEETING")
        }
    );
    assert_eq!(
        ok("a UID MOVE 42:69 foo"),
        CommandBody::Move {
            uid: true,
            set: SequenceSet::Ranges(vec![(SeqNum::Value(42), SeqNum::Value(69))]),
            mailbox: mb("foo")
        }
    );
    assert_eq!(
        ok("a MOVE $ Trash"),
        CommandBody::Move {
            uid: false,
            set: SequenceSet::Saved,
            mailbox: mb("Trash")
        }
    );
    assert_eq!(
        ok("a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" NIL)"),
        CommandBody::Id(vec![
            ("name".into(), Some("sodr".into())),
            ("version".into(), Some("19.34".into())),
            ("vendor".into(), None)
        ])
    );
    assert_eq!(ok("a ID NIL"), CommandBody::Id(vec![]));
    err("a ID (\"name\")");
    assert_eq!(
        ok("G0001 GETQUOTA \"!partition/sda4\""),
        CommandBody::GetQuota("!partition/sda4".into())
    );
    assert_eq!(
        ok("A GETQUOTAROOT INBOX"),
        CommandBody::GetQuotaRoot(mb("INBOX"))
    );
    assert_eq!(
        ok("S0000 SETQUOTA \"#user/alice\" (STORAGE 510 message 1000)"),
        CommandBody::SetQuota {
            root: "#user/alice".into(),
            limits: vec![("STORAGE".into(), 510), ("MESSAGE".into(), 1000)]
        }
    );
    err("a COPY 1 ");
    err("a COPY x INBOX");
}

#[test]
fn dates() {
    let d = |s: &str| Cursor::new(s.as_bytes()).date();
    assert_eq!(
        d("1-Feb-1994").unwrap(),
        Date {
            year: 1994,
            month: 2,
            day: 1
        }
    );
    assert_eq!(
        d("\"29-feb-2000\"").unwrap(),
        Date {
            year: 2000,
            month: 2,
            day: 29
        }
    );
    assert!(d("29-Feb-1900").is_err());
    assert!(d("31-Apr-2020").is_err());
    assert!(d("0-Jan-2020").is_err());
    assert!(d("1-Foo-2020").is_err());
    assert!(d("1-Jan-20").is_err());
    let dt = |s: &str| Cursor::new(s.as_bytes()).date_time();
    assert_eq!(dt("\"01-Jan-1970 00:00:00 +0000\"").unwrap(), 0);
    assert_eq!(dt("\" 1-Jan-1970 01:00:00 +0100\"").unwrap(), 0);
    assert_eq!(dt("\"1-Jan-1970 00:00:00 -0130\"").unwrap(), 5400);
    // RFC 3501 §6.3.11 example date.
    assert_eq!(dt("\"07-Feb-1994 21:52:25 -0800\"").unwrap(), 760_686_745);
    assert!(dt("\"07-Feb-1994 24:00:00 -0800\"").is_err());
    assert!(dt("\"07-Feb-1994 21:52:25 0800\"").is_err());
    assert!(dt("07-Feb-1994 21:52:25 -0800").is_err());
}

#[test]
fn known_commands_match_the_parser() {
    for name in KNOWN_COMMANDS {
        let e = parse_command(format!("a {name} (").as_bytes());
        assert!(
            !matches!(
                e,
                Err(ParseError {
                    kind: ErrorKind::UnknownCommand,
                    ..
                })
            ),
            "{name}"
        );
    }
    let e = literal_context(b"a XYZZY ").unwrap_err();
    assert_eq!(
        (e.tag.as_deref(), e.kind),
        (Some("a"), ErrorKind::UnknownCommand)
    );
    assert_eq!(
        literal_context(b"a uid FETCH 1 BODY[HEADER.FIELDS "),
        Ok(LiteralContext::Argument)
    );
}

#[test]
fn literal_context_spots_append_messages() {
    let ctx = |s: &str| literal_context(s.as_bytes());
    assert_eq!(ctx("a LOGIN "), Ok(LiteralContext::Argument));
    assert_eq!(ctx("a APPEND "), Ok(LiteralContext::Argument));
    assert_eq!(
        ctx("A003 APPEND saved-messages (\\Seen) \"07-Feb-1994 21:52:25 -0800\" "),
        Ok(LiteralContext::AppendMessage {
            tag: "A003".into(),
            mailbox: mb("saved-messages"),
            meta: AppendMessage {
                flags: vec![Flag::Seen],
                date: Some(760_686_745),
                size: 0
            }
        })
    );
    assert!(matches!(
        ctx("a APPEND {5}\r\nDraft "),
        Ok(LiteralContext::AppendMessage { .. })
    ));
    let e = ctx("a APPEND INBOX (\\Recent) ").unwrap_err();
    assert_eq!(e.tag.as_deref(), Some("a"));
    assert!(ctx("a APPEND INBOX CATENATE (URL \"x\" TEXT ").is_err());
    assert!(ctx("a APPEND INBOX").is_err());
    assert_eq!(
        append_next(b" (\\Draft) ").unwrap().flags,
        vec![Flag::Draft]
    );
    assert!(append_next(b" ").is_ok());
    assert!(append_next(b"x ").is_err());
}

#[test]
fn bounds_on_depth_and_items() {
    let deep = format!("a SEARCH {}ALL{}", "(".repeat(40), ")".repeat(40));
    assert!(err(&deep).text.contains("nested"));
    let ok_depth = format!("a SEARCH {}ALL{}", "(".repeat(20), ")".repeat(20));
    ok(&ok_depth);
    let nots = format!("a SEARCH {}SEEN", "NOT ".repeat(40));
    assert!(err(&nots).text.contains("nested"));
    let many: Vec<String> = (1..=MAX_ITEMS + 1).map(|n| (2 * n).to_string()).collect();
    let e = err(&format!("a FETCH {} FLAGS", many.join(",")));
    assert!(e.text.contains("too many"), "{e:?}");
}
