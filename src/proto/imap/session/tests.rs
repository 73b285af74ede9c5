//! Session tests against a real store in a temp dir: replayed
//! conversations, and a short script fed split at every byte.

use super::*;

mod rfc;
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Mutex;

const ALICE: &str = "alice@example.test";

fn tmp() -> PathBuf {
    crate::testing::temp_dir("imapsess")
}

fn store() -> Arc<Store> {
    let s = Store::open(&tmp(), 1 << 20).unwrap();
    s.add_domain("example.test").unwrap();
    s.add_account(ALICE, "hash").unwrap();
    Arc::new(s)
}

fn deliver(s: &Store, text: &[u8]) {
    let mut w = s.blob_writer().unwrap();
    w.write(text).unwrap();
    let d = crate::store::Delivery {
        account: ALICE.into(),
        mailbox: "INBOX".into(),
        prefix: b"Delivered-To: alice@example.test\r\n".to_vec(),
        flags: 0,
        keywords: Vec::new(),
        cache: None,
    };
    s.deliver(w.finish().unwrap(), &[d], None, 1_700_000_000)
        .unwrap();
}

/// Records junk training calls.
#[derive(Default)]
struct Trainer(Mutex<Vec<bool>>);

impl JunkTraining for Trainer {
    fn trained(&self, _account: &str, _blob: BlobId, spam: bool) {
        self.0.lock().unwrap().push(spam);
    }
}

struct Client {
    s: Session,
    closed: bool,
}

fn config(plaintext: bool) -> Arc<Config> {
    let mut c = Config::new("mail.example.test".into());
    c.allow_plaintext_auth = plaintext;
    c.append_limit = 10_000;
    Arc::new(c)
}

fn client_with(
    store: &Arc<Store>,
    cfg: Arc<Config>,
    junk: Arc<dyn JunkTraining>,
) -> (Client, String) {
    let s = Session::new(
        cfg,
        store.clone(),
        junk,
        false,
        Instant::now(),
        1_700_000_000,
    );
    let mut c = Client { s, closed: false };
    let greeting = c.run(b"");
    (c, greeting)
}

fn client(store: &Arc<Store>) -> Client {
    client_with(store, config(true), Arc::new(NoTraining)).0
}

impl Client {
    /// Feeds `input` whole (as the adapter would, keeping what is not
    /// taken yet) and returns all output.
    fn run(&mut self, input: &[u8]) -> String {
        String::from_utf8(self.run_bytes(input)).unwrap()
    }

    /// [`Client::run`], for output that is not UTF-8.
    fn run_bytes(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = input;
        loop {
            let taken = self.s.feed(rest, Instant::now(), 1_700_000_000);
            rest = &rest[taken..];
            let mut acted = false;
            while let Some(a) = self.s.poll() {
                acted = true;
                match a {
                    Action::Write(b) => out.extend_from_slice(&b),
                    Action::SendFile {
                        mut file,
                        offset,
                        len,
                    } => {
                        file.seek(SeekFrom::Start(offset)).unwrap();
                        let mut b = Vec::new();
                        file.take(len).read_to_end(&mut b).unwrap();
                        assert_eq!(b.len() as u64, len);
                        out.extend_from_slice(&crate::proto::imap::response::without_nul(&b));
                    }
                    Action::StartTls => self.s.tls_established(),
                    Action::Authenticate {
                        username, password, ..
                    } => {
                        let ok = username == ALICE && password == "pw";
                        self.s.auth_result(if ok {
                            AuthOutcome::Ok(username)
                        } else {
                            AuthOutcome::Failed
                        });
                    }
                    Action::Close => self.closed = true,
                }
            }
            if (rest.is_empty() || taken == 0) && !acted {
                break;
            }
        }
        out
    }

    fn login(&mut self) {
        let r = self.run(b"l LOGIN alice@example.test pw\r\n");
        assert!(r.starts_with("l OK [CAPABILITY"), "{r}");
    }
}

#[test]
fn greeting_capabilities_and_login_rules() {
    let st = store();
    let (mut c, g) = client_with(&st, config(false), Arc::new(NoTraining));
    assert!(
        g.starts_with("* OK [CAPABILITY IMAP4rev1 IMAP4rev2 STARTTLS LOGINDISABLED"),
        "{g}"
    );
    let r = c.run(b"a LOGIN alice@example.test pw\r\n");
    assert_eq!(r, "a NO [PRIVACYREQUIRED] Use STARTTLS first\r\n");
    let r = c.run(b"b STARTTLS\r\nc NOOP\r\n");
    // The NOOP sent before the handshake is dropped by the adapter; here
    // it is taken after TLS, as a new command.
    assert!(r.starts_with("b OK Begin TLS"), "{r}");
    let r = c.run(b"d CAPABILITY\r\n");
    assert!(r.contains("AUTH=PLAIN") && !r.contains("STARTTLS"), "{r}");
    let r = c.run(b"e LOGIN alice@example.test nope\r\n");
    assert_eq!(r, "e NO [AUTHENTICATIONFAILED] Invalid credentials\r\n");
    // SASL PLAIN with an initial response (RFC 4959), then without.
    let r = c.run(b"f AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABwdw==\r\n");
    assert!(r.starts_with("f OK [CAPABILITY"), "{r}");
    assert!(!r.contains("AUTH=PLAIN"), "{r}");
    let r = c.run(b"g LOGOUT\r\n");
    assert_eq!(r, "* BYE Logging out\r\ng OK LOGOUT completed\r\n");
    assert!(c.closed);

    let (mut c, _) = client_with(&st, config(true), Arc::new(NoTraining));
    let r = c.run(b"a AUTHENTICATE PLAIN\r\n");
    assert_eq!(r, "+ \r\n");
    let r = c.run(b"AGFsaWNlQGV4YW1wbGUudGVzdABwdw==\r\n");
    assert!(r.starts_with("a OK"), "{r}");
}

#[test]
fn select_append_fetch_store_search_expunge() {
    let st = store();
    deliver(&st, b"Subject: one\r\n\r\nbody one\r\n");
    let mut c = client(&st);
    c.login();
    let r = c.run(b"s SELECT INBOX\r\n");
    for want in [
        "* 1 EXISTS\r\n",
        "* 1 RECENT\r\n",
        "* OK [UIDNEXT 2]",
        "* OK [HIGHESTMODSEQ",
        "* OK [UNSEEN 1]",
        "s OK [READ-WRITE] SELECT completed\r\n",
    ] {
        assert!(r.contains(want), "{want} in {r}");
    }
    let msg = b"Subject: two\r\n\r\nbody two\r\n";
    let r = c.run(format!("a APPEND INBOX (\\Seen) {{{}}}\r\n", msg.len()).as_bytes());
    assert_eq!(r, "+ Ready for literal data\r\n");
    let mut data = msg.to_vec();
    data.extend_from_slice(b"\r\n");
    let r = c.run(&data);
    assert!(
        r.starts_with("* 2 EXISTS\r\n* 2 RECENT\r\na OK [APPENDUID "),
        "{r}"
    );
    assert!(r.ends_with(" 2] APPEND completed\r\n"), "{r}");
    let r = c.run(b"f FETCH 2 (UID FLAGS BODY.PEEK[])\r\n");
    assert_eq!(
        r,
        format!(
            "* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) BODY[] {{{}}}\r\n{})\r\nf OK FETCH completed\r\n",
            msg.len(),
            String::from_utf8_lossy(msg)
        )
    );
    let r = c.run(b"g FETCH 1 BODY.PEEK[]<0.12>\r\n");
    assert!(
        r.starts_with("* 1 FETCH (BODY[]<0> {12}\r\nDelivered-To)"),
        "{r}"
    );
    // A non-PEEK fetch sets \Seen and reports the flags.
    let r = c.run(b"h FETCH 1 (BODY[])\r\n");
    assert!(r.contains("FLAGS (\\Seen \\Recent)"), "{r}");
    let r = c.run(b"i STORE 1 +FLAGS (\\Deleted $Work)\r\n");
    assert_eq!(
        r,
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $Junk $NotJunk $Work)\r\n\
         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded $Junk $NotJunk \
         $Work \\*)] Flags permitted\r\n\
         * 1 FETCH (FLAGS (\\Seen \\Deleted $Work \\Recent))\r\ni OK STORE completed\r\n"
    );
    let r = c.run(b"j UID SEARCH DELETED\r\nk SEARCH RETURN (COUNT ALL) ALL\r\n");
    assert_eq!(
        r,
        "* SEARCH 1\r\nj OK SEARCH completed\r\n* ESEARCH (TAG \"k\") COUNT 2 ALL 1:2\r\nk OK SEARCH completed\r\n"
    );
    let r = c.run(b"l EXPUNGE\r\n");
    assert_eq!(r, "* 1 EXPUNGE\r\nl OK EXPUNGE completed\r\n");
    let r = c.run(b"m FETCH 2 FLAGS\r\n");
    assert!(r.starts_with("m BAD"), "{r}");
    let r = c.run(b"n UID FETCH 2 FLAGS\r\n");
    assert_eq!(
        r,
        "* 1 FETCH (UID 2 FLAGS (\\Seen \\Recent))\r\nn OK FETCH completed\r\n"
    );
}

#[test]
fn other_sessions_changes_are_reported_at_the_right_time() {
    let st = store();
    deliver(&st, b"Subject: a\r\n\r\na\r\n");
    deliver(&st, b"Subject: b\r\n\r\nb\r\n");
    let mut a = client(&st);
    let mut b = client(&st);
    a.login();
    b.login();
    a.run(b"s SELECT INBOX\r\n");
    b.run(b"s SELECT INBOX\r\n");
    let r = b.run(b"x STORE 1 +FLAGS.SILENT (\\Deleted)\r\ny EXPUNGE\r\n");
    assert_eq!(
        r,
        "x OK STORE completed\r\n* 1 EXPUNGE\r\ny OK EXPUNGE completed\r\n"
    );
    deliver(&st, b"Subject: c\r\n\r\nc\r\n");
    // FETCH may report the new message but never the expunge (RFC 9051
    // §7.5.1): sequence numbers stay as the client knows them.
    let r = a.run(b"f FETCH 2 (FLAGS)\r\n");
    assert!(!r.contains("EXPUNGE"), "{r}");
    assert!(r.contains("* 2 FETCH (FLAGS (\\Recent))"), "{r}");
    let r = a.run(b"n NOOP\r\n");
    assert!(r.contains("* 1 EXPUNGE\r\n"), "{r}");
    assert!(r.ends_with("n OK NOOP completed\r\n"), "{r}");
    let r = a.run(b"n2 NOOP\r\n");
    assert_eq!(r, "n2 OK NOOP completed\r\n");
    let r = a.run(b"u UID SEARCH ALL\r\n");
    assert_eq!(r, "* SEARCH 2 3\r\nu OK SEARCH completed\r\n");
    // Flag changes by another session come as FETCH.
    // B learns of UID 3 first: a UID it was never told of is not touched.
    let r = b.run(b"z UID STORE 3 +FLAGS (\\Flagged)\r\n");
    assert_eq!(r, "* 2 EXISTS\r\n* 0 RECENT\r\nz OK STORE completed\r\n");
    let r = b.run(b"z UID STORE 3 +FLAGS (\\Flagged)\r\n");
    assert_eq!(
        r,
        "* 2 FETCH (UID 3 FLAGS (\\Flagged))\r\nz OK STORE completed\r\n"
    );
    let r = a.run(b"c CHECK\r\n");
    assert!(
        r.contains("* 2 FETCH (UID 3 FLAGS (\\Flagged \\Recent))"),
        "{r}"
    );
    // IDLE: the watch fires and the change is pushed.
    let r = a.run(b"i IDLE\r\n");
    assert_eq!(r, "+ idling\r\n");
    assert!(a.s.idle_watch().is_some());
    deliver(&st, b"Subject: d\r\n\r\nd\r\n");
    assert!(a.s.idle_watch().unwrap().has_changed());
    a.s.mailbox_changed();
    let r = a.run(b"");
    assert_eq!(r, "* 3 EXISTS\r\n* 3 RECENT\r\n");
    let r = a.run(b"DONE\r\n");
    assert_eq!(r, "i OK IDLE terminated\r\n");
}

#[test]
fn condstore_unchangedsince_and_qresync() {
    let st = store();
    deliver(&st, b"Subject: a\r\n\r\na\r\n");
    deliver(&st, b"Subject: b\r\n\r\nb\r\n");
    let mut c = client(&st);
    c.login();
    c.run(b"s SELECT INBOX (CONDSTORE)\r\n");
    let r = c.run(b"f FETCH 1:* (MODSEQ)\r\n");
    assert!(
        r.contains("* 1 FETCH (MODSEQ (2))\r\n* 2 FETCH (MODSEQ (3))"),
        "{r}"
    );
    let r = c.run(b"t STORE 1:2 (UNCHANGEDSINCE 2) +FLAGS (\\Seen)\r\n");
    assert!(
        r.contains("* 1 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (4))"),
        "{r}"
    );
    assert!(r.contains("t OK [MODIFIED 2] STORE completed"), "{r}");
    let r = c.run(b"e ENABLE QRESYNC\r\n");
    assert!(r.starts_with("e BAD"), "{r}");
    c.run(b"u UNSELECT\r\n");
    let r = c.run(b"e ENABLE QRESYNC IMAP4rev2\r\n");
    assert_eq!(
        r,
        "* ENABLED QRESYNC IMAP4rev2\r\ne OK ENABLE completed\r\n"
    );
    let r = c.run(b"x SELECT INBOX (QRESYNC (1 1))\r\n");
    assert!(!r.contains("RECENT"), "{r}");
    assert!(r.contains("* LIST () \"/\" INBOX\r\n"), "{r}");
    let uv = r
        .split("[UIDVALIDITY ")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .unwrap()
        .to_string();
    // .SILENT under CONDSTORE: no FLAGS, but the new MODSEQ.
    let r = c.run(b"y STORE 2 +FLAGS.SILENT (\\Deleted)\r\nz EXPUNGE\r\n");
    assert_eq!(
        r,
        "* 2 FETCH (UID 2 MODSEQ (5))\r\ny OK STORE completed\r\n* VANISHED 2\r\nz OK EXPUNGE completed\r\n"
    );
    let r = c.run(format!("w SELECT INBOX (QRESYNC ({uv} 3))\r\n").as_bytes());
    assert!(r.starts_with("* OK [CLOSED]"), "{r}");
    assert!(r.contains("* VANISHED (EARLIER) 2\r\n"), "{r}");
    assert!(
        r.contains("* 1 FETCH (UID 1 FLAGS (\\Seen) MODSEQ (4))"),
        "{r}"
    );
}

#[test]
fn append_refusals_and_junk_training() {
    let st = store();
    st.set_quota(ALICE, 100).unwrap();
    let trainer = Arc::new(Trainer::default());
    let (mut c, _) = client_with(&st, config(true), trainer.clone());
    c.login();
    let r = c.run(b"a APPEND Nowhere {5}\r\n");
    assert_eq!(r, "a NO [TRYCREATE] No such mailbox\r\n");
    let r = c.run(b"b APPEND INBOX {500}\r\n");
    assert_eq!(r, "b NO [OVERQUOTA] Quota exceeded\r\n");
    let r = c.run(b"c APPEND INBOX {20000}\r\n");
    assert!(r.starts_with("c NO [TOOBIG]"), "{r}");
    // Non-synchronising literals come anyway and are skipped.
    let r = c.run(b"d APPEND Nowhere {3+}\r\nabc\r\ne NOOP\r\n");
    assert_eq!(
        r,
        "d NO [TRYCREATE] No such mailbox\r\ne OK NOOP completed\r\n"
    );
    let r = c.run(b"f APPEND Junk {3+}\r\nabc\r\n");
    assert!(r.starts_with("f OK [APPENDUID"), "{r}");
    assert_eq!(*trainer.0.lock().unwrap(), vec![true]);
    c.run(b"s SELECT Junk\r\n");
    let r = c.run(b"m UID MOVE 1 Trash\r\n");
    assert!(r.starts_with("* OK [COPYUID "), "{r}");
    assert!(r.contains("* 1 EXPUNGE\r\nm OK MOVE completed"), "{r}");
    // Junk to Trash trains nothing.
    assert_eq!(trainer.0.lock().unwrap().len(), 1);
    c.run(b"t SELECT Trash\r\n");
    let r = c.run(b"n COPY 1 INBOX\r\n");
    assert!(r.contains("[COPYUID "), "{r}");
    assert_eq!(trainer.0.lock().unwrap().len(), 1);
    let r = c.run(b"o MOVE 1 Junk\r\n");
    assert!(r.contains("o OK MOVE completed"), "{r}");
    assert_eq!(*trainer.0.lock().unwrap(), vec![true, true]);
    // Out of Junk to anywhere but Trash trains ham.
    c.run(b"p SELECT Junk\r\n");
    let r = c.run(b"q MOVE 1 INBOX\r\n");
    assert!(r.contains("q OK MOVE completed"), "{r}");
    assert_eq!(*trainer.0.lock().unwrap(), vec![true, true, false]);
}

/// GETQUOTAROOT and GETQUOTA (RFC 9208): STORAGE counts units of 1024
/// octets, usage rounded up. Without a limit there is no quota root, and
/// so no QUOTA response (its quota-list cannot be empty).
#[test]
fn quota_responses() {
    let st = store();
    let mut c = client(&st);
    c.login();
    let r = c.run(b"a GETQUOTAROOT INBOX\r\n");
    assert_eq!(r, "* QUOTAROOT INBOX\r\na OK GETQUOTA completed\r\n");
    let r = c.run(b"b GETQUOTA \"\"\r\n");
    assert_eq!(r, "b NO [NONEXISTENT] No such quota root\r\n");

    // A limit of 10 KiB and 1023 octets shows as 10; 1025 octets used as 2.
    st.set_quota(ALICE, 10 * 1024 + 1023).unwrap();
    let mut append = b"c APPEND INBOX {1025+}\r\n".to_vec();
    append.extend_from_slice(b"Subject: q\r\n\r\n");
    append.resize(append.len() + 1025 - 15, b'x');
    append.extend_from_slice(b"\r\n");
    let r = c.run(&append);
    assert!(r.starts_with("c OK [APPENDUID"), "{r}");
    assert_eq!(st.quota(ALICE).unwrap().used, 1025);
    let r = c.run(b"d GETQUOTAROOT INBOX\r\n");
    assert_eq!(
        r,
        "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 2 10)\r\nd OK GETQUOTA completed\r\n"
    );
    let r = c.run(b"e GETQUOTA \"\"\r\n");
    assert_eq!(
        r,
        "* QUOTA \"\" (STORAGE 2 10)\r\ne OK GETQUOTA completed\r\n"
    );
    let r = c.run(b"f GETQUOTA \"other\"\r\n");
    assert_eq!(r, "f NO [NONEXISTENT] No such quota root\r\n");
}

/// With the disk down to its reserve, APPEND is refused
/// before the literal, and users can still read and make room.
#[test]
fn append_is_refused_when_the_disk_is_down_to_its_reserve() {
    let st = store();
    deliver(&st, b"Subject: kept\r\n\r\nbody\r\n");
    st.set_min_free(Some(u64::MAX));
    let mut c = client(&st);
    c.login();
    let r = c.run(b"a APPEND INBOX {5}\r\n");
    assert!(r.starts_with("a NO [OVERQUOTA] "), "{r}");
    assert!(!r.contains('+'), "{r}");
    // A non-synchronising literal is skipped, and the session goes on.
    let r = c.run(b"b APPEND INBOX {3+}\r\nabc\r\nc NOOP\r\n");
    assert!(r.starts_with("b NO [OVERQUOTA] "), "{r}");
    assert!(r.ends_with("c OK NOOP completed\r\n"), "{r}");
    c.run(b"s SELECT INBOX\r\n");
    let r = c.run(b"f FETCH 1 (BODY[TEXT])\r\n");
    assert!(r.contains("body") && r.contains("f OK"), "{r}");
    let r = c.run(b"d STORE 1 +FLAGS (\\Deleted)\r\ne EXPUNGE\r\n");
    assert!(r.contains("* 1 EXPUNGE\r\ne OK"), "{r}");
    st.set_min_free(Some(0));
    let r = c.run(b"g APPEND INBOX {3+}\r\nabc\r\n");
    assert!(r.contains("g OK [APPENDUID"), "{r}");
}

#[test]
fn too_many_bad_commands_and_autologout() {
    let st = store();
    let mut c = client(&st);
    let mut out = String::new();
    for i in 0..10 {
        out.push_str(&c.run(format!("x{i} BOGUS\r\n").as_bytes()));
    }
    assert_eq!(out.matches(" BAD ").count(), 10, "{out}");
    assert!(
        out.ends_with("\r\n* BYE Too many invalid commands\r\n"),
        "{out}"
    );
    assert!(c.closed);

    let mut c = client(&st);
    c.login();
    let later = c.s.deadline();
    assert!(later >= Instant::now() + Duration::from_secs(29 * 60));
    c.s.timed_out(Instant::now());
    assert_eq!(c.run(b""), "");
    c.s.timed_out(later);
    assert_eq!(c.run(b""), "* BYE Autologout; idle for too long\r\n");
    assert!(c.closed);
}

/// Hardening, idle connections locking services out: a client must log in
/// within a minute of connecting, however busy it keeps the connection.
#[test]
fn a_client_that_does_not_log_in_is_disconnected() {
    let st = store();
    let start = Instant::now();
    let mut c = client(&st);
    let by = c.s.deadline();
    assert!(by <= start + Duration::from_secs(61), "{:?}", by - start);
    assert!(by >= start + Duration::from_secs(59), "{:?}", by - start);
    // Commands before login do not move the limit.
    c.run(b"a NOOP\r\nb CAPABILITY\r\n");
    assert_eq!(c.s.deadline(), by);
    c.s.timed_out(by);
    assert_eq!(c.run(b""), "* BYE Login timeout\r\n");
    assert!(c.closed);
    // A login lifts it.
    let mut c = client(&st);
    c.login();
    assert!(c.s.deadline() >= start + Duration::from_secs(29 * 60));
}

/// A short conversation fed in two pieces split at every byte gives the
/// same responses as fed whole.
#[test]
fn script_split_at_every_byte() {
    let st = store();
    deliver(&st, b"Subject: a\r\n\r\nhello\r\n");
    let script: &[u8] = b"a LOGIN {18}\r\nalice@example.test pw\r\nb SELECT INBOX\r\n\
        c FETCH 1 (FLAGS BODY.PEEK[])\r\nd UID SEARCH ALL\r\ne STATUS INBOX (MESSAGES)\r\n\
        f IDLE\r\nDONE\r\ng LOGOUT\r\n";
    // Another session takes the message as recent first, so that every
    // run below sees the same (RFC 3501 §2.3.2).
    client(&st).run(b"a LOGIN alice@example.test pw\r\nb SELECT INBOX\r\n");
    let whole = {
        let mut c = client(&st);
        c.run(script)
    };
    assert!(whole.contains("* 1 FETCH (FLAGS () BODY[] {"), "{whole}");
    assert!(whole.ends_with("g OK LOGOUT completed\r\n"), "{whole}");
    for i in 1..script.len() {
        let mut c = client(&st);
        let mut out = c.run(&script[..i]);
        out.push_str(&c.run(&script[i..]));
        assert_eq!(out, whole, "split at {i}");
    }
}

#[test]
fn list_recursivematch_reports_childinfo() {
    // RFC 5258 §3.5 and the table of RFC 9051 §6.3.9.
    let st = store();
    let mut c = client(&st);
    c.login();
    let r = c.run(
        b"a CREATE Fruit/Apple\r\nb CREATE Vegetable/Leek\r\nc SUBSCRIBE Fruit/Apple\r\n\
d SUBSCRIBE Vegetable\r\ne SUBSCRIBE Vegetable/Leek\r\nf SUBSCRIBE Ghost/Child\r\n",
    );
    assert!(r.ends_with("f OK SUBSCRIBE completed\r\n"), "{r}");
    let r = c.run(b"g LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\"\r\n");
    assert!(
        r.contains("* LIST (\\HasChildren) \"/\" Fruit (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"),
        "{r}"
    );
    assert!(
        r.contains(
            "* LIST (\\HasChildren \\Subscribed) \"/\" Vegetable (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
        ),
        "{r}"
    );
    assert!(
        r.contains("* LIST (\\NonExistent \\HasNoChildren) \"/\" Ghost (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"),
        "{r}"
    );
    assert!(!r.contains("Apple"), "% stops at the separator: {r}");
    assert!(r.contains("\\Subscribed) \"/\" INBOX\r\n"), "{r}");
    // Without RECURSIVEMATCH, only subscribed names, and no CHILDINFO.
    let r = c.run(b"h LIST (SUBSCRIBED) \"\" \"%\"\r\n");
    assert!(!r.contains("CHILDINFO"), "{r}");
    assert!(!r.contains(" Fruit"), "{r}");
    assert!(r.contains("\\Subscribed) \"/\" Vegetable\r\n"), "{r}");
}

#[test]
fn a_dot_separator_is_translated_both_ways() {
    let st = store();
    let mut cfg = Config::new("mail.example.test".into());
    cfg.allow_plaintext_auth = true;
    cfg.separator = '.';
    let (mut c, _) = client_with(&st, Arc::new(cfg), Arc::new(NoTraining));
    c.login();
    let r = c.run(b"a CREATE Work.Projects\r\nb LIST \"\" \"Work.%\"\r\nc NAMESPACE\r\n");
    assert!(
        r.contains("* LIST (\\HasNoChildren) \".\" Work.Projects\r\n"),
        "{r}"
    );
    assert!(r.contains("* NAMESPACE ((\"\" \".\")) NIL NIL\r\n"), "{r}");
    // Stored with the store's separator, so the hierarchy is the same.
    let names: Vec<String> = st
        .mailboxes("alice@example.test")
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert!(names.contains(&"Work/Projects".to_string()), "{names:?}");
    // A "/" is an ordinary character here, which the store cannot hold.
    let r = c.run(b"d CREATE a/b\r\ne LIST \"\" \"Work/%\"\r\n");
    assert!(r.starts_with("d NO"), "{r}");
    assert!(!r.contains("* LIST"), "{r}");
    let r = c.run(b"f SELECT Work.Projects\r\n");
    assert!(r.contains("f OK [READ-WRITE]"), "{r}");
}

#[test]
fn binary_fetch_and_literal8_append() {
    let st = store();
    deliver(
        &st,
        concat!(
            "Subject: att\r\n",
            "Content-Type: multipart/mixed; boundary=b\r\n",
            "\r\n",
            "--b\r\n",
            "Content-Type: text/plain\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n",
            "\r\n",
            "a=3Db=00\r\n",
            "--b\r\n",
            "Content-Type: application/x-odd\r\n",
            "Content-Transfer-Encoding: x-gzip64\r\n",
            "\r\n",
            "H4sI\r\n",
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
    let r = c.run(b"c CAPABILITY\r\n");
    assert!(r.contains(" BINARY"), "{r}");
    c.run(b"s SELECT INBOX\r\n");
    let r = c.run(b"a FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])\r\n");
    assert_eq!(
        r,
        "* 1 FETCH (BINARY[1] ~{4}\r\na=b\0 BINARY.SIZE[1] 4)\r\na OK FETCH completed\r\n"
    );
    // RFC 3516 §4.3: an unknown encoding fails the command, with nothing
    // sent and \Seen left alone.
    let r = c.run(b"b FETCH 1 (FLAGS BINARY[2])\r\n");
    assert_eq!(
        r,
        "b NO [UNKNOWN-CTE] Cannot decode Content-Transfer-Encoding x-gzip64\r\n"
    );
    let r = c.run(b"d FETCH 1 BINARY.SIZE[3]\r\n");
    assert_eq!(
        r,
        "* 1 FETCH (BINARY.SIZE[3] 20)\r\nd OK FETCH completed\r\n"
    );
    let r = c.run(b"e FETCH 1 FLAGS\r\n");
    assert_eq!(
        r,
        "* 1 FETCH (FLAGS (\\Recent))\r\ne OK FETCH completed\r\n"
    );
    // BINARY without PEEK sets \Seen (RFC 3516 §4.2).
    let r = c.run(b"f FETCH 1 BINARY[3.1]\r\n");
    assert_eq!(
        r,
        "* 1 FETCH (BINARY[3.1] {5}\r\ninner FLAGS (\\Seen \\Recent))\r\nf OK FETCH completed\r\n"
    );
    // RFC 3516 §4.4: APPEND of a literal8 holding NUL; it comes back as
    // it went.
    let msg = b"Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\n\0a\0\r\nb";
    let r = c.run(format!("g APPEND INBOX ~{{{}}}\r\n", msg.len()).as_bytes());
    assert_eq!(r, "+ Ready for literal data\r\n");
    let mut data = msg.to_vec();
    data.extend_from_slice(b"\r\n");
    let r = c.run(&data);
    assert!(r.contains("g OK [APPENDUID "), "{r}");
    let r = c.run(b"h FETCH 2 (BINARY.PEEK[] BINARY.PEEK[1] BINARY.SIZE[1])\r\n");
    assert_eq!(
        r,
        format!(
            "* 2 FETCH (BINARY[] ~{{{}}}\r\n{} BINARY[1] ~{{6}}\r\n\0a\0\r\nb BINARY.SIZE[1] 6)\r\nh OK FETCH completed\r\n",
            msg.len(),
            String::from_utf8_lossy(msg)
        )
    );
    // BODY[] is a literal, which carries no NUL: 0x80 stands in, the size
    // stays (RFC 9051 §4.3).
    let r = c.run_bytes(b"j FETCH 2 BODY.PEEK[TEXT]\r\n");
    assert_eq!(
        r,
        b"* 2 FETCH (BODY[TEXT] {6}\r\n\x80a\x80\r\nb)\r\nj OK FETCH completed\r\n"
    );
    // A literal8 anywhere else is a syntax error.
    let r = c.run(b"i LOGIN ~{3}\r\n");
    assert!(r.starts_with("i BAD "), "{r}");
}

#[test]
fn binary_script_split_at_every_byte() {
    // A literal8 APPEND and BINARY fetches, fed in two pieces cut at every
    // byte (a fresh store each time, since the APPEND changes it).
    let body = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nAGEKYgA=\r\n";
    let script: &[u8] = b"a LOGIN alice@example.test pw\r\nb SELECT INBOX\r\n\
        c FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])\r\nd APPEND INBOX ~{4+}\r\n\0\r\n\0\r\n\
        e FETCH 2 BINARY.PEEK[]<1.3>\r\nf LOGOUT\r\n";
    let run = |cut: usize| {
        let st = store();
        deliver(&st, body);
        let mut c = client(&st);
        let mut out = c.run(&script[..cut]);
        out.push_str(&c.run(&script[cut..]));
        out
    };
    let whole = run(script.len());
    assert!(
        whole.contains("* 1 FETCH (BINARY[1] ~{5}\r\n\0a\nb\0 BINARY.SIZE[1] 5)\r\n"),
        "{whole}"
    );
    assert!(
        whole.contains("* 2 FETCH (BINARY[]<1> ~{3}\r\n\r\n\0)\r\n"),
        "{whole}"
    );
    assert!(whole.ends_with("f OK LOGOUT completed\r\n"), "{whole}");
    for cut in 1..script.len() {
        assert_eq!(run(cut), whole, "split at {cut}");
    }
}

/// Hardening, one IMAP user stalling delivery: a SEARCH stops with
/// `NO [LIMIT]` once the adapter's clock passes the command's time limit.
#[test]
fn a_search_past_its_time_limit_answers_no_limit() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    static TICKS: AtomicU64 = AtomicU64::new(0);
    // A clock that moves one second each time it is read.
    fn clock() -> Instant {
        let start = *START.get_or_init(Instant::now);
        start + Duration::from_secs(TICKS.fetch_add(1, Ordering::SeqCst))
    }
    let st = store();
    for i in 0..10 {
        deliver(&st, format!("Subject: m{i}\r\n\r\nbody {i}\r\n").as_bytes());
    }
    let mut cfg = Config::new("mail.example.test".into());
    cfg.allow_plaintext_auth = true;
    cfg.command_limit = Duration::from_secs(5);
    cfg.clock = Some(clock);
    let (mut c, _) = client_with(&st, Arc::new(cfg), Arc::new(NoTraining));
    c.login();
    c.run(b"s SELECT INBOX\r\n");
    let r = c.run(b"a SEARCH BODY nowhere\r\n");
    assert_eq!(r, "a NO [LIMIT] Search took too long\r\n");
    // The session goes on.
    assert_eq!(c.run(b"b NOOP\r\n"), "b OK NOOP completed\r\n");
}
