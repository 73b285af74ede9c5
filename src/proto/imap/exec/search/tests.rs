use super::super::testing::MemMessage;
use super::*;
use crate::mail::mime::parse;
use crate::proto::imap::{parse_command, CommandBody};

/// A mailbox held in memory; counts what the executor asked for.
struct Mailbox {
    msgs: Vec<(MessageSummary, Vec<u8>)>,
    chunk: usize,
    structures: usize,
    opened: usize,
}

impl SearchSource for Mailbox {
    fn structure(&mut self, uid: u32) -> Option<Structure> {
        self.structures += 1;
        let (_, bytes) = self.msgs.iter().find(|(s, _)| s.uid == uid)?;
        Some(parse(bytes))
    }

    fn bytes(&mut self, uid: u32) -> Option<Box<dyn MessageBytes + '_>> {
        self.opened += 1;
        let chunk = self.chunk;
        let (_, bytes) = self.msgs.iter().find(|(s, _)| s.uid == uid)?;
        Some(Box::new(MemMessage::new(bytes, chunk)))
    }
}

fn summary(uid: u32, flags: u8, keywords: &[&str], date: i64, size: u64) -> MessageSummary {
    MessageSummary {
        uid,
        flags,
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        modseq: u64::from(uid) * 10,
        internal_date: date,
        size,
    }
}

/// 2024-01-01T00:00:00Z.
const JAN1: i64 = 1_704_067_200;

/// Five messages, UIDs 10, 20, 30, 40, 50 (sequence numbers 1 to 5).
fn mailbox() -> Mailbox {
    let m1 = concat!(
        "From: Ann <ann@example.org>\r\n",
        "To: bob@example.org\r\n",
        "Cc: carl@example.org\r\n",
        "Subject: =?iso-8859-1?Q?Caf=E9?= au lait\r\n",
        "Date: Mon, 1 Jan 2024 23:30:00 -0500 (EST)\r\n",
        "X-Tag: alpha\r\n",
        "\r\n",
        "Plain body with a needle in it.\r\n",
    );
    let m2 = concat!(
        "From: bob@example.org\r\n",
        "To: ann@example.org\r\n",
        "Bcc: secret@example.org\r\n",
        "Subject: Re: lunch\r\n",
        "Date: 2 jan 24 08:00 GMT\r\n",
        "X-Tag:\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Transfer-Encoding: base64\r\n",
        "\r\n",
        // "Crème brûlée for everyone\r\n"
        "Q3LDqG1lIGJyw7tsw6llIGZvciBldmVyeW9uZQ0K\r\n",
    );
    let m3 = concat!(
        "From: carl@example.org\r\n",
        "Subject: report\r\n",
        "Date: yesterday\r\n",
        "Content-Type: multipart/mixed; boundary=x\r\n",
        "\r\n",
        "--x\r\n",
        "Content-Type: text/plain; charset=iso-8859-1\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n",
        "\r\n",
        "Le r=E9sum=E9 est pr=\r\n",
        "=EAt.\r\n",
        "--x\r\n",
        "Content-Type: application/pdf\r\n",
        "Content-Transfer-Encoding: base64\r\n",
        "\r\n",
        "bmVlZGxlIGluIGFuIGF0dGFjaG1lbnQ=\r\n",
        "--x--\r\n",
    );
    let m4 = concat!("Subject: no date\r\n", "\r\n", "short\r\n");
    let m5 = concat!(
        "From: dan@example.org\r\n",
        "Date: Sun, 31 Dec 2023 23:59:59 +0000\r\n",
        "\r\n",
        "The word needle is here too.\r\n",
    );
    let msgs = vec![
        (
            summary(
                10,
                flags::SEEN | flags::ANSWERED,
                &["$Forwarded"],
                JAN1 - 1,
                100,
            ),
            m1,
        ),
        (summary(20, flags::FLAGGED, &["Work"], JAN1, 200), m2),
        (
            summary(30, flags::DELETED | flags::DRAFT, &[], JAN1 + 86_399, 300),
            m3,
        ),
        (summary(40, flags::SEEN, &["work"], JAN1 + 86_400, 400), m4),
        (summary(50, 0, &[], JAN1 + 40 * 86_400, 500), m5),
    ]
    .into_iter()
    .map(|(s, m)| (s, m.as_bytes().to_vec()))
    .collect();
    Mailbox {
        msgs,
        chunk: 7,
        structures: 0,
        opened: 0,
    }
}

/// The key of `SEARCH <criteria>` as the parser gives it.
fn key(criteria: &str) -> SearchKey {
    let cmd = parse_command(format!("a SEARCH {criteria}").as_bytes());
    match cmd.map(|c| c.body) {
        Ok(CommandBody::Search(s)) => SearchKey::And(s.criteria),
        other => panic!("{criteria}: {other:?}"),
    }
}

/// A mailbox of `msg` alone, read 4 KiB at a time.
fn one_message(msg: Vec<u8>) -> Mailbox {
    Mailbox {
        msgs: vec![(summary(1, 0, &[], 0, msg.len() as u64), msg)],
        chunk: 4096,
        structures: 0,
        opened: 0,
    }
}

/// UIDs matching `criteria`, with `$` = UIDs 20 and 40.
fn run_in(mb: &mut Mailbox, criteria: &str, budget: &mut u64) -> Result<Vec<u32>, SearchError> {
    let mut b = Budget::new(*budget);
    let found = run_within(mb, criteria, &mut b);
    *budget = b.units;
    found
}

/// [`run_in`] with a whole [`Budget`].
fn run_within(
    mb: &mut Mailbox,
    criteria: &str,
    budget: &mut Budget,
) -> Result<Vec<u32>, SearchError> {
    let sums: Vec<MessageSummary> = mb.msgs.iter().map(|(s, _)| s.clone()).collect();
    let msgs: Vec<SearchMessage<'_>> = sums
        .iter()
        .enumerate()
        .map(|(i, s)| SearchMessage {
            seq: i as u32 + 1,
            uid: s.uid,
            summary: s,
        })
        .collect();
    let ctx = SearchContext {
        largest_seq: msgs.len() as u32,
        largest_uid: 50,
        saved: &[40, 20],
        recent: &[(30, 41)],
    };
    let found = search(&key(criteria), &msgs, &ctx, mb, budget)?;
    Ok(found.into_iter().map(|i| msgs[i].uid).collect())
}

fn uids(criteria: &str) -> Vec<u32> {
    let mut mb = mailbox();
    let r = run_in(&mut mb, criteria, &mut u64::MAX.clone()).unwrap();
    // The same with the message read byte by byte and in big chunks.
    for chunk in [1, 1 << 20] {
        let mut mb = mailbox();
        mb.chunk = chunk;
        assert_eq!(run_in(&mut mb, criteria, &mut u64::MAX.clone()).unwrap(), r);
    }
    r
}

#[test]
fn sets_star_and_saved() {
    assert_eq!(uids("ALL"), [10, 20, 30, 40, 50]);
    assert_eq!(uids("2:3"), [20, 30]);
    assert_eq!(uids("*"), [50]);
    assert_eq!(uids("4:*"), [40, 50]);
    assert_eq!(uids("*:4,1"), [10, 40, 50]);
    assert_eq!(uids("UID 20:35"), [20, 30]);
    assert_eq!(uids("UID *"), [50]);
    assert_eq!(uids("UID 60:*"), [50]);
    assert_eq!(uids("UID 1:15,45"), [10]);
    assert_eq!(uids("$"), [20, 40]);
    assert_eq!(uids("UID $"), [20, 40]);
    assert_eq!(uids("NOT $"), [10, 30, 50]);
}

#[test]
fn flag_keys() {
    assert_eq!(uids("ANSWERED"), [10]);
    assert_eq!(uids("UNANSWERED"), [20, 30, 40, 50]);
    assert_eq!(uids("DELETED"), [30]);
    assert_eq!(uids("UNDELETED"), [10, 20, 40, 50]);
    assert_eq!(uids("DRAFT"), [30]);
    assert_eq!(uids("UNDRAFT"), [10, 20, 40, 50]);
    assert_eq!(uids("FLAGGED"), [20]);
    assert_eq!(uids("UNFLAGGED"), [10, 30, 40, 50]);
    assert_eq!(uids("SEEN"), [10, 40]);
    assert_eq!(uids("UNSEEN"), [20, 30, 50]);
    assert_eq!(uids("KEYWORD WORK"), [20, 40]);
    assert_eq!(uids("KEYWORD $forwarded"), [10]);
    assert_eq!(uids("UNKEYWORD work"), [10, 30, 50]);
    assert_eq!(uids("KEYWORD absent"), Vec::<u32>::new());
    // RFC 3501 §6.4.4, with UIDs 30 and 40 recent: NEW is RECENT UNSEEN,
    // OLD is NOT RECENT.
    assert_eq!(uids("RECENT"), [30, 40]);
    assert_eq!(uids("NEW"), [30]);
    assert_eq!(uids("OLD"), [10, 20, 50]);
}

#[test]
fn internal_dates_by_utc_day() {
    // 10: 2023-12-31 23:59:59, 20: 2024-01-01 00:00:00,
    // 30: 2024-01-01 23:59:59, 40: 2024-01-02 00:00:00, 50: 2024-02-10.
    assert_eq!(uids("ON 1-Jan-2024"), [20, 30]);
    assert_eq!(uids("BEFORE 1-Jan-2024"), [10]);
    assert_eq!(uids("SINCE 1-Jan-2024"), [20, 30, 40, 50]);
    assert_eq!(uids("SINCE 2-Jan-2024"), [40, 50]);
    assert_eq!(uids("BEFORE 2-Jan-2024"), [10, 20, 30]);
    assert_eq!(uids("ON 31-Dec-2023"), [10]);
    assert_eq!(uids("ON 10-Feb-2024"), [50]);
    assert_eq!(uids("SINCE 11-Feb-2024"), Vec::<u32>::new());
}

#[test]
fn sent_dates_in_the_header_zone() {
    // 10: 1 Jan 2024 -0500 (2 Jan in UTC), 20: 2 jan 24 (obsolete year),
    // 30: not a date, 40: no Date, 50: 31 Dec 2023.
    assert_eq!(uids("SENTON 1-Jan-2024"), [10]);
    assert_eq!(uids("SENTON 2-Jan-2024"), [20]);
    assert_eq!(uids("SENTBEFORE 2-Jan-2024"), [10, 50]);
    assert_eq!(uids("SENTSINCE 1-Jan-2024"), [10, 20]);
    assert_eq!(uids("SENTSINCE 1-Jan-1970"), [10, 20, 50]);
    // Unparseable and absent dates match no date key, so NOT matches.
    assert_eq!(uids("NOT SENTON 1-Jan-2024"), [20, 30, 40, 50]);
}

#[test]
fn utc_dates_of_unix_times() {
    let d = |year, month, day| Date { year, month, day };
    assert_eq!(utc_date(0), d(1970, 1, 1));
    assert_eq!(utc_date(-1), d(1969, 12, 31));
    assert_eq!(utc_date(JAN1 - 1), d(2023, 12, 31));
    assert_eq!(utc_date(JAN1), d(2024, 1, 1));
    assert_eq!(utc_date(951_782_400), d(2000, 2, 29));
}

#[test]
fn sizes_and_modseq() {
    assert_eq!(uids("LARGER 200"), [30, 40, 50]);
    assert_eq!(uids("SMALLER 200"), [10]);
    assert_eq!(uids("LARGER 199 SMALLER 201"), [20]);
    assert_eq!(uids("MODSEQ 300"), [30, 40, 50]);
    assert_eq!(uids("MODSEQ 301"), [40, 50]);
    assert_eq!(uids("MODSEQ \"/flags/\\\\draft\" all 400"), [40, 50]);
}

#[test]
fn header_keys_decoded() {
    assert_eq!(uids("SUBJECT \"café AU\""), [10]);
    assert_eq!(uids("SUBJECT caf"), [10]);
    assert_eq!(uids("FROM example.org"), [10, 20, 30, 50]);
    assert_eq!(uids("FROM ANN"), [10]);
    assert_eq!(uids("TO ann"), [20]);
    assert_eq!(uids("CC carl"), [10]);
    assert_eq!(uids("BCC secret"), [20]);
    assert_eq!(uids("HEADER X-Tag alpha"), [10]);
    // An empty string matches any message with the field.
    assert_eq!(uids("HEADER x-tag \"\""), [10, 20]);
    assert_eq!(uids("HEADER Date \"\""), [10, 20, 30, 50]);
    assert_eq!(uids("HEADER X-Absent \"\""), Vec::<u32>::new());
    // The body is not the header.
    assert_eq!(uids("SUBJECT needle"), Vec::<u32>::new());
}

/// RFC 3501 §6.4.4 FROM: the string is matched against the address as a
/// client shows it, display name decoded (RFC 2047) and addr-spec, so the
/// quoting, comments and spacing of the raw field do not hide it.
#[test]
fn address_keys_match_the_address_as_shown() {
    let froms: [&[u8]; 6] = [
        b"user-from@domain.org",
        b"\"user-from\"@domain.org",
        b"user-from(work)@domain.org",
        b"user-from @ domain.org",
        b"=?utf-8?q?Us=C3=A9r_From?= <user-from@domain.org>",
        b"Other <other@domain.org>",
    ];
    let mut mb = one_message(Vec::new());
    mb.msgs = froms
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut m = b"From: ".to_vec();
            m.extend_from_slice(f);
            m.extend_from_slice(b"\r\nTo: \"Bob\" <bob@x.test>\r\n\r\nbody\r\n");
            let uid = i as u32 + 1;
            (summary(uid, 0, &[], 0, m.len() as u64), m)
        })
        .collect();
    let mut run = |c: &str| run_in(&mut mb, c, &mut u64::MAX.clone()).unwrap();
    assert_eq!(run("FROM user-from@domain.org"), [1, 2, 3, 4, 5]);
    assert_eq!(run("FROM \"usér from\""), [5]);
    assert_eq!(run("FROM \"From <user-from@\""), [5]);
    assert_eq!(run("TO \"bob <bob@x.test>\""), [1, 2, 3, 4, 5, 6]);
    assert_eq!(run("CC \"\""), Vec::<u32>::new());
}

#[test]
fn body_and_text_decoded() {
    assert_eq!(uids("BODY needle"), [10, 50]);
    // Base64 UTF-8.
    assert_eq!(uids("CHARSET UTF-8 BODY \"CRÈME BRÛLÉE\""), [20]);
    // Quoted-printable latin-1 with a soft line break; the pdf's base64
    // (which says "needle in an attachment") is not text.
    assert_eq!(uids("BODY \"résumé est prêt\""), [30]);
    assert_eq!(uids("BODY attachment"), Vec::<u32>::new());
    // TEXT looks at the header too; BODY does not.
    assert_eq!(uids("BODY lunch"), Vec::<u32>::new());
    assert_eq!(uids("TEXT lunch"), [20]);
    assert_eq!(uids("TEXT \"Subject: Café\""), [10]);
    assert_eq!(uids("TEXT short"), [40]);
    // Several strings of one message in one pass.
    assert_eq!(uids("BODY needle BODY plain TEXT ann"), [10]);
    assert_eq!(uids("BODY \"\""), [10, 20, 30, 40, 50]);
}

#[test]
fn nested_not_or_and() {
    assert_eq!(uids("OR SEEN FLAGGED"), [10, 20, 40]);
    assert_eq!(uids("NOT OR SEEN FLAGGED"), [30, 50]);
    assert_eq!(
        uids("OR (SEEN BODY needle) (DELETED NOT BODY needle)"),
        [10, 30]
    );
    assert_eq!(
        uids("NOT (UNSEEN OR BODY needle SUBJECT lunch)"),
        [10, 30, 40]
    );
    assert_eq!(uids("OR OR 1 2 OR UID 50 NOT ALL"), [10, 20, 50]);
    assert_eq!(uids("(2:4) (NOT 3) UNSEEN"), [20]);
    assert_eq!(uids("NOT NOT SEEN"), [10, 40]);
    assert_eq!(uids("OR SENTON 1-Jan-2024 TEXT \"brûlée\""), [10, 20]);
}

#[test]
fn cheap_keys_decide_first() {
    let mut mb = mailbox();
    let mut budget = u64::MAX;
    // Only unseen messages need their body read.
    assert_eq!(
        run_in(&mut mb, "SEEN BODY needle", &mut budget).unwrap(),
        [10]
    );
    assert_eq!((mb.structures, mb.opened), (2, 2));
    // OR with a true cheap side needs nothing.
    let mut mb = mailbox();
    assert_eq!(
        run_in(&mut mb, "OR ALL BODY x", &mut budget).unwrap().len(),
        5
    );
    assert_eq!((mb.structures, mb.opened), (0, 0));
    // A date key needs the structure only.
    let mut mb = mailbox();
    run_in(&mut mb, "SENTON 1-Jan-2024", &mut budget).unwrap();
    assert_eq!((mb.structures, mb.opened), (5, 0));
    // A header key decided: the body is not read, and the header key
    // reads the cached fields only.
    let mut mb = mailbox();
    mb.msgs.retain(|(s, _)| s.uid == 20);
    let header_len = parse(&mb.msgs[0].1).fields.lines().len() as u64;
    let body_len = mb.msgs[0].1.len() as u64 - header_len;
    let mut budget = u64::MAX;
    assert_eq!(
        run_in(&mut mb, "NOT SUBJECT lunch BODY needle", &mut budget).unwrap(),
        Vec::<u32>::new()
    );
    let spent = u64::MAX - budget;
    assert!(spent >= COST_STRUCTURE + header_len, "{spent}");
    assert!(spent < COST_STRUCTURE + header_len + body_len, "{spent}");
}

#[test]
fn text_split_across_reads_and_windows() {
    // A body longer than a read window, the needle astride its end.
    let mut body = "x".repeat(WINDOW as usize - 16 - 3);
    body.push_str("needle in the haystack");
    body.push_str(&"y".repeat(100));
    let header = "Subject: big\r\n\r\n";
    assert_eq!(header.len(), 16);
    let msg = format!("{header}{body}").into_bytes();
    let at = msg.windows(6).position(|w| w == b"needle").unwrap() as u64;
    assert!(at < WINDOW && at + 6 > WINDOW, "{at}");
    for chunk in [1, 5, 4096, 1 << 20] {
        let mut mb = Mailbox {
            msgs: vec![(summary(1, 0, &[], 0, msg.len() as u64), msg.clone())],
            chunk,
            structures: 0,
            opened: 0,
        };
        let mut budget = u64::MAX;
        assert_eq!(
            run_in(&mut mb, "BODY \"needle in\"", &mut budget).unwrap(),
            [1]
        );
        assert_eq!(
            run_in(&mut mb, "BODY \"needle out\"", &mut budget).unwrap(),
            Vec::<u32>::new()
        );
    }
}

#[test]
fn attachments_are_not_read_and_search_stops_when_found() {
    let attachment = "QUFB".repeat(50_000);
    let msg = format!(
        concat!(
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
            "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
            "{}\r\n",
            "--b\r\nContent-Type: text/plain\r\n\r\nfind me\r\n--b--\r\n",
        ),
        attachment
    )
    .into_bytes();
    let mut mb = one_message(msg);
    let mut budget = u64::MAX;
    assert_eq!(
        run_in(&mut mb, "BODY \"find me\"", &mut budget).unwrap(),
        [1]
    );
    let spent = u64::MAX - budget;
    assert!(spent < 1000, "{spent}");
    // A string found in the header: the body is not read at all.
    let big = format!("Subject: hit\r\n\r\n{}", "z".repeat(500_000)).into_bytes();
    let mut mb = Mailbox {
        msgs: vec![(summary(1, 0, &[], 0, big.len() as u64), big)],
        chunk: 4096,
        structures: 0,
        opened: 0,
    };
    let mut budget = u64::MAX;
    assert_eq!(run_in(&mut mb, "TEXT hit", &mut budget).unwrap(), [1]);
    assert!(u64::MAX - budget < WINDOW + 1000);
}

#[test]
fn budget_bounds_the_cost() {
    let mut mb = mailbox();
    let mut budget = 50;
    assert_eq!(
        run_in(&mut mb, "BODY needle", &mut budget),
        Err(SearchError::TooExpensive)
    );
    // Cheap keys over the whole mailbox cost one unit per key evaluated.
    let mut budget = 10;
    assert_eq!(run_in(&mut mb, "SEEN", &mut budget).unwrap(), [10, 40]);
    assert_eq!(budget, 0);
    let mut budget = 9;
    assert_eq!(
        run_in(&mut mb, "SEEN", &mut budget),
        Err(SearchError::TooExpensive)
    );
    // Enough for everything.
    let mut budget = 100_000;
    assert_eq!(
        run_in(&mut mb, "BODY needle", &mut budget).unwrap(),
        [10, 50]
    );
}

#[test]
fn gone_messages_and_read_errors() {
    struct Gone;
    impl SearchSource for Gone {
        fn structure(&mut self, _: u32) -> Option<Structure> {
            None
        }
        fn bytes(&mut self, _: u32) -> Option<Box<dyn MessageBytes + '_>> {
            None
        }
    }
    struct Broken(Vec<u8>);
    impl SearchSource for Broken {
        fn structure(&mut self, _: u32) -> Option<Structure> {
            Some(parse(&self.0))
        }
        fn bytes(&mut self, _: u32) -> Option<Box<dyn MessageBytes + '_>> {
            let mut m = MemMessage::new(&self.0, 4);
            m.fail = true;
            Some(Box::new(m))
        }
    }
    let s = summary(1, 0, &[], 0, 10);
    let msgs = [SearchMessage {
        seq: 1,
        uid: 1,
        summary: &s,
    }];
    let ctx = SearchContext {
        largest_seq: 1,
        largest_uid: 1,
        saved: &[],
        recent: &[],
    };
    let mut budget = Budget::new(u64::MAX);
    let k = key("NOT BODY x");
    // A message that is gone matches no content key.
    assert_eq!(
        search(&key("BODY x"), &msgs, &ctx, &mut Gone, &mut budget),
        Ok(vec![])
    );
    assert_eq!(search(&k, &msgs, &ctx, &mut Gone, &mut budget), Ok(vec![0]));
    let mut broken = Broken(b"Subject: a\r\n\r\nb".to_vec());
    assert!(matches!(
        search(&k, &msgs, &ctx, &mut broken, &mut budget),
        Err(SearchError::Io(_))
    ));
}

/// Hardening, one IMAP user stalling delivery: each byte read is fed to
/// every string key, so it is charged once per key.
#[test]
fn bytes_are_charged_once_per_string_key() {
    let msg = format!("Subject: big\r\n\r\n{}", "z".repeat(500_000)).into_bytes();
    let spent = |criteria: &str| {
        let mut mb = one_message(msg.clone());
        let mut budget = u64::MAX;
        run_in(&mut mb, criteria, &mut budget).unwrap();
        u64::MAX - budget
    };
    let len = msg.len() as u64;
    let one = spent("BODY q1");
    assert!(one >= len && one < len + 1000, "{one}");
    let four = spent("BODY q1 BODY q2 BODY q3 BODY q4");
    assert!(four >= 4 * len && four < 4 * len + 1000, "{four}");
}

/// Hardening, one IMAP user stalling delivery: a command with too many
/// string keys is refused before it reads anything.
#[test]
fn too_many_string_keys_are_refused() {
    let mut mb = mailbox();
    let ok = vec!["BODY x"; MAX_STRING_KEYS].join(" ");
    let mut budget = u64::MAX;
    assert!(run_in(&mut mb, &ok, &mut budget).is_ok());
    let many = format!("{ok} SUBJECT y");
    let mut budget = u64::MAX;
    assert_eq!(
        run_in(&mut mb, &many, &mut budget),
        Err(SearchError::TooManyKeys)
    );
    assert_eq!(budget, u64::MAX);
}

/// Hardening, one IMAP user stalling delivery: the caller's clock stops a
/// search at its deadline.
#[test]
fn a_deadline_stops_the_search() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};
    static START: OnceLock<Instant> = OnceLock::new();
    static TICKS: AtomicU64 = AtomicU64::new(0);
    // A clock that moves one second each time it is read.
    fn clock() -> Instant {
        let start = *START.get_or_init(Instant::now);
        start + Duration::from_secs(TICKS.fetch_add(1, Ordering::SeqCst))
    }
    let start = clock();
    let mut mb = mailbox();
    let all = mb.msgs.len();
    let run = |mb: &mut Mailbox, secs: u64| {
        let mut b = Budget::new(u64::MAX).until(start + Duration::from_secs(secs), clock);
        run_within(mb, "ALL", &mut b)
    };
    assert_eq!(run(&mut mb, 2), Err(SearchError::TimeLimit));
    assert_eq!(run(&mut mb, 1000).unwrap().len(), all);
}

#[test]
fn search_responses() {
    let text = |r: Vec<u8>| String::from_utf8(r).unwrap();
    assert_eq!(
        text(search_response("a", false, None, &[2, 3, 7], None)),
        "* SEARCH 2 3 7\r\n"
    );
    assert_eq!(
        text(search_response("a", true, None, &[], None)),
        "* SEARCH\r\n"
    );
    assert_eq!(
        text(search_response("a", false, None, &[2, 3], Some(917))),
        "* SEARCH 2 3 (MODSEQ 917)\r\n"
    );
    assert_eq!(
        text(search_response("a", false, None, &[], Some(917))),
        "* SEARCH\r\n"
    );
    let ret = |min, max, all, count, save| SearchReturn {
        min,
        max,
        all,
        count,
        save,
    };
    let all = ret(true, true, true, true, false);
    assert_eq!(
        text(search_response(
            "A282",
            false,
            Some(&all),
            &[2, 10, 11],
            None
        )),
        "* ESEARCH (TAG \"A282\") MIN 2 MAX 11 COUNT 3 ALL 2,10:11\r\n"
    );
    assert_eq!(
        text(search_response(
            "t",
            true,
            Some(&all),
            &[4, 5, 6, 9],
            Some(12)
        )),
        "* ESEARCH (TAG \"t\") UID MIN 4 MAX 9 COUNT 4 ALL 4:6,9 MODSEQ 12\r\n"
    );
    // Nothing matched: COUNT 0 only.
    assert_eq!(
        text(search_response("t", true, Some(&all), &[], Some(12))),
        "* ESEARCH (TAG \"t\") UID COUNT 0\r\n"
    );
    assert_eq!(
        text(search_response(
            "t",
            false,
            Some(&ret(true, false, true, false, false)),
            &[],
            None
        )),
        "* ESEARCH (TAG \"t\")\r\n"
    );
    // Only what was asked for.
    assert_eq!(
        text(search_response(
            "t",
            false,
            Some(&ret(false, true, false, false, true)),
            &[1, 8],
            None
        )),
        "* ESEARCH (TAG \"t\") MAX 8\r\n"
    );
    assert_eq!(
        text(search_response(
            "t",
            false,
            Some(&ret(false, false, false, true, false)),
            &[1, 8],
            None
        )),
        "* ESEARCH (TAG \"t\") COUNT 2\r\n"
    );
    // SAVE alone: no response (RFC 5182 §2.1).
    assert!(search_response(
        "t",
        false,
        Some(&ret(false, false, false, false, true)),
        &[1],
        None
    )
    .is_empty());
    // RETURN () is ALL as the parser gives it.
    let cmd = parse_command(b"t SEARCH RETURN () 1:3");
    let Ok(CommandBody::Search(s)) = cmd.map(|c| c.body) else {
        panic!()
    };
    assert_eq!(
        text(search_response(
            "t",
            false,
            s.ret.as_ref(),
            &[1, 2, 3],
            None
        )),
        "* ESEARCH (TAG \"t\") ALL 1:3\r\n"
    );
}

/// One message, with or without its cached header fields.
struct Single {
    msg: Vec<u8>,
    cached: bool,
    opened: usize,
}

impl SearchSource for Single {
    fn structure(&mut self, _uid: u32) -> Option<Structure> {
        let mut s = parse(&self.msg);
        if !self.cached {
            s.fields = Default::default();
        }
        Some(s)
    }

    fn bytes(&mut self, _uid: u32) -> Option<Box<dyn MessageBytes + '_>> {
        self.opened += 1;
        Some(Box::new(MemMessage::new(&self.msg, 3)))
    }
}

/// Header searches give the same answers from the cached fields as from
/// the file, and the cache spares the file.
#[test]
fn header_keys_from_the_cache_equal_the_file() {
    let keys = [
        "FROM Ann",
        "FROM ann@example",
        "TO carl",
        "CC eve",
        "CC dan",
        "SUBJECT \"au lait\"",
        "SUBJECT second",
        "SUBJECT \"\"",
        "HEADER List-Id talk",
        "HEADER DATE \"\"",
        "HEADER CC \"\"",
        "NOT FROM nobody",
        "OR TO body SUBJECT address",
    ];
    let sum = summary(1, 0, &[], 0, 10);
    let ctx = SearchContext {
        largest_seq: 1,
        largest_uid: 1,
        saved: &[],
        recent: &[],
    };
    let m = SearchMessage {
        seq: 1,
        uid: 1,
        summary: &sum,
    };
    let mut matched = 0;
    for msg in crate::mail::mime::fixtures::header_cases() {
        for k in keys {
            let key = key(k);
            let mut answers = Vec::new();
            for cached in [true, false] {
                let mut src = Single {
                    msg: msg.clone(),
                    cached,
                    opened: 0,
                };
                let found = search(&key, &[m], &ctx, &mut src, &mut Budget::new(1 << 30)).unwrap();
                answers.push((found, src.opened));
            }
            assert_eq!(answers[0].0, answers[1].0, "{k}");
            assert_eq!(answers[0].1, 0, "{k} opened the file");
            matched += answers[0].0.len();
        }
    }
    assert!(matched >= 10, "{matched}");
}
