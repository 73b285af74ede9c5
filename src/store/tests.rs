use super::*;

fn tmp() -> std::path::PathBuf {
    crate::testing::temp_dir("store")
}

fn store_with_user(dir: &Path) -> Store {
    let s = Store::open(dir, 1 << 20).unwrap();
    s.add_domain("example.test").unwrap();
    s.add_account("alice@example.test", "hash").unwrap();
    s.add_account("bob@example.test", "hash").unwrap();
    s
}

fn body(s: &Store, text: &[u8]) -> FinishedBlob {
    let mut w = s.blob_writer().unwrap();
    w.write(text).unwrap();
    w.finish().unwrap()
}

fn to(account: &str) -> Delivery {
    Delivery {
        account: account.into(),
        mailbox: "INBOX".into(),
        prefix: format!("Delivered-To: {account}\r\n").into_bytes(),
        flags: 0,
        keywords: Vec::new(),
        cache: None,
    }
}

#[test]
fn domains_accounts_aliases() {
    let dir = tmp();
    let s = store_with_user(&dir);
    assert!(matches!(
        s.add_domain("EXAMPLE.test"),
        Err(StoreError::Exists(_))
    ));
    assert!(matches!(
        s.add_domain("not a domain"),
        Err(StoreError::Invalid(_))
    ));
    assert!(s.is_local_domain("Example.Test").unwrap());
    assert!(matches!(
        s.add_account("carol@elsewhere.test", "h"),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.add_account("Alice@example.test", "h"),
        Err(StoreError::Exists(_))
    ));
    let names: Vec<_> = s
        .accounts()
        .unwrap()
        .into_iter()
        .map(|a| a.address)
        .collect();
    assert_eq!(names, ["alice@example.test", "bob@example.test"]);
    let boxes: Vec<_> = s
        .mailboxes("alice@example.test")
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.special_use))
        .collect();
    assert_eq!(boxes.len(), 6);
    assert!(boxes.contains(&("Junk".to_string(), Some(SpecialUse::Junk))));

    s.add_alias(
        "sales@example.test",
        &["alice@example.test".into(), "bob@example.test".into()],
    )
    .unwrap();
    s.add_alias("@example.test", &["alice@example.test".into()])
        .unwrap();
    assert!(matches!(
        s.add_alias("alice@example.test", &["bob@example.test".into()]),
        Err(StoreError::Exists(_))
    ));
    assert!(matches!(
        s.add_account("sales@example.test", "h"),
        Err(StoreError::Exists(_))
    ));
    assert_eq!(
        s.alias("SALES@example.test")
            .unwrap()
            .unwrap()
            .targets
            .len(),
        2
    );
    assert!(matches!(
        s.remove_domain("example.test"),
        Err(StoreError::Invalid(_))
    ));
    s.set_password("alice@example.test", "new").unwrap();
    assert_eq!(
        s.account("alice@example.test")
            .unwrap()
            .unwrap()
            .password_hash,
        "new"
    );
    s.remove_alias("sales@example.test").unwrap();
    s.remove_alias("@example.test").unwrap();
    s.remove_account("alice@example.test").unwrap();
    s.remove_account("bob@example.test").unwrap();
    assert!(s.mailboxes("alice@example.test").unwrap().is_empty());
    s.remove_domain("example.test").unwrap();
    assert!(s.domains().unwrap().is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn one_body_for_all_recipients_reference_counted() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let b = body(&s, b"Subject: hi\r\n\r\nhello\r\n");
    let id = b.id;
    let out = s
        .deliver(
            b,
            &[to("alice@example.test"), to("bob@example.test")],
            None,
            1,
        )
        .unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].uid, 1);
    assert_eq!(s.blob_refs(&id).unwrap(), 2);
    assert!(s.blob_exists(&id));
    // Only one file for both.
    assert_eq!(s.blobs.list().unwrap(), vec![id]);

    // The same bytes delivered again share the file.
    let again = s
        .deliver(
            body(&s, b"Subject: hi\r\n\r\nhello\r\n"),
            &[to("alice@example.test")],
            None,
            2,
        )
        .unwrap();
    assert_eq!(again[0].uid, 2);
    assert_eq!(s.blob_refs(&id).unwrap(), 3);

    let inbox = s.mailbox("alice@example.test", "inbox").unwrap().unwrap();
    assert_eq!(inbox.uidnext, 3);
    let msgs = s.messages(inbox.id).unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        msgs[0].size,
        22 + "Delivered-To: alice@example.test\r\n".len() as u64
    );
    assert!(msgs[1].modseq > msgs[0].modseq);

    assert_eq!(
        s.expunge("alice@example.test", "INBOX", &[1, 2, 99])
            .unwrap(),
        vec![1, 2]
    );
    assert_eq!(s.blob_refs(&id).unwrap(), 1);
    assert!(s.blob_exists(&id));
    let after = s.mailbox("alice@example.test", "INBOX").unwrap().unwrap();
    assert!(after.highestmodseq > inbox.highestmodseq);
    assert_eq!(after.uidnext, 3, "UIDs are never reused");
    s.remove_account("bob@example.test").unwrap();
    assert_eq!(s.blob_refs(&id).unwrap(), 0);
    assert!(!s.blob_exists(&id), "the last reference frees the body");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn failed_delivery_delivers_nothing() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let b = body(&s, b"x\r\n");
    let id = b.id;
    let err = s
        .deliver(
            b,
            &[to("alice@example.test"), to("nobody@example.test")],
            None,
            1,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    let inbox = s.mailbox("alice@example.test", "INBOX").unwrap().unwrap();
    assert!(s.messages(inbox.id).unwrap().is_empty());
    assert_eq!(inbox.uidnext, 1);
    assert!(!s.blob_exists(&id));
    assert!(s.blobs.list().unwrap().is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unknown_folder_falls_back_to_inbox_and_folders_work() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let mut d = to("alice@example.test");
    d.mailbox = "Junk".into();
    let mut e = to("alice@example.test");
    e.mailbox = "NoSuchFolder".into();
    let out = s.deliver(body(&s, b"y\r\n"), &[d, e], None, 1).unwrap();
    let junk = s.mailbox("alice@example.test", "Junk").unwrap().unwrap();
    let inbox = s.mailbox("alice@example.test", "INBOX").unwrap().unwrap();
    assert_eq!(out[0].mailbox, junk.id);
    assert_eq!(out[1].mailbox, inbox.id);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn abandoned_bodies_leave_no_files() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let mut w = s.blob_writer().unwrap();
    w.write(b"partial").unwrap();
    drop(w);
    let f = body(&s, b"finished but never committed");
    drop(f);
    assert_eq!(std::fs::read_dir(dir.join("blobs/tmp")).unwrap().count(), 0);
    assert!(s.blobs.list().unwrap().is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn queue_entries_share_the_body_and_release_it() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let b = body(&s, b"to the world\r\n");
    let id = b.id;
    let entry = QueueEntry {
        id: 0,
        sender: "alice@example.test".into(),
        blob: BlobId([0; 32]),
        prefix: Vec::new(),
        size: 14,
        created: 1,
        envid: Some("e1".into()),
        ret: Some(Ret::Hdrs),
        eight_bit: false,
        smtputf8: false,
        recipients: vec![QueueRecipient {
            address: "x@remote.test".into(),
            notify: 2,
            orcpt: None,
            state: RcptState::Pending,
            last_error: None,
        }],
        attempts: 0,
        next_attempt: 1,
        delay_warned: false,
    };
    s.deliver(b, &[to("bob@example.test")], Some(entry), 1)
        .unwrap();
    assert_eq!(s.blob_refs(&id).unwrap(), 2);
    let q = s.queue_entries().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].blob, id);
    assert_ne!(q[0].id, 0);
    let mut e = q[0].clone();
    e.attempts = 1;
    s.update_queue_entry(&e).unwrap();
    assert_eq!(s.queue_entry(e.id).unwrap().unwrap().attempts, 1);
    s.remove_queue_entry(e.id).unwrap();
    assert_eq!(s.blob_refs(&id).unwrap(), 1);
    assert!(matches!(
        s.remove_queue_entry(e.id),
        Err(StoreError::NotFound(_))
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn newer_format_refuses_to_open_and_is_not_rewritten() {
    let dir = tmp();
    {
        let s = Store::open(&dir, 1 << 20).unwrap();
        assert_eq!(s.format_version().unwrap(), STORE_FORMAT);
        s.set_format_version_for_tests(STORE_FORMAT + 1).unwrap();
    }
    let err = Store::open(&dir, 1 << 20).unwrap_err();
    assert!(matches!(err, StoreError::TooNew(v) if v == STORE_FORMAT + 1));
    assert!(err.to_string().contains("newer than this binary"));
    {
        // Still the newer version: nothing rewrote it.
        let db = sled::open(dir.join("index")).unwrap();
        let v = db.get(FORMAT_KEY).unwrap().unwrap();
        assert_eq!(v.as_ref(), (STORE_FORMAT + 1).to_be_bytes());
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn orphan_blobs_are_swept_at_open_and_data_survives_reopen() {
    let dir = tmp();
    let kept;
    {
        let s = store_with_user(&dir);
        let b = body(&s, b"kept\r\n");
        kept = b.id;
        s.deliver(b, &[to("alice@example.test")], None, 1).unwrap();
        // A body published but never committed (a crash between the two).
        let mut orphan = body(&s, b"orphan\r\n");
        s.blobs.publish(&mut orphan).unwrap();
    }
    let s = Store::open(&dir, 1 << 20).unwrap();
    assert_eq!(s.blobs.list().unwrap(), vec![kept]);
    let inbox = s.mailbox("alice@example.test", "INBOX").unwrap().unwrap();
    assert_eq!(s.messages(inbox.id).unwrap().len(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

// ----- IMAP operations -----

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";

fn mbox(s: &Store, account: &str, name: &str) -> Mailbox {
    s.mailbox(account, name).unwrap().expect("mailbox exists")
}

/// Delivers `n` distinct messages to one account's INBOX; returns UIDs.
fn deliver_n(s: &Store, account: &str, n: usize) -> Vec<u32> {
    (0..n)
        .map(|i| {
            let b = body(s, format!("Subject: {i}\r\n\r\nbody {i}\r\n").as_bytes());
            s.deliver(b, &[to(account)], None, 1_000 + i as i64)
                .unwrap()[0]
                .uid
        })
        .collect()
}

fn update(op: FlagOp, flags: u8, keywords: &[&str], since: Option<u64>) -> FlagUpdate {
    FlagUpdate {
        op,
        flags,
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        unchanged_since: since,
    }
}

fn usage(s: &Store, account: &str) -> u64 {
    s.quota(account).unwrap().used
}

#[test]
fn flags_get_one_new_modseq_per_store_and_only_when_they_change() {
    let dir = tmp();
    let s = store_with_user(&dir);
    deliver_n(&s, ALICE, 3);
    let before = mbox(&s, ALICE, "INBOX");
    assert_eq!((before.messages, before.unseen), (3, 3));
    let id = before.id;

    let r = s
        .store_flags(
            id,
            &[2, 1, 99],
            &update(FlagOp::Add, flags::SEEN, &["$Junk"], None),
        )
        .unwrap();
    let h = before.highestmodseq + 1;
    assert_eq!(r.highestmodseq, h);
    assert!(r.failed.is_empty());
    assert_eq!(r.results.len(), 2, "UID 99 does not exist and is ignored");
    for (res, uid) in r.results.iter().zip([1, 2]) {
        assert_eq!(res.uid, uid);
        assert!(res.changed);
        assert_eq!(res.modseq, h, "one modseq for the whole STORE");
        assert_eq!(res.flags, flags::SEEN);
        assert_eq!(res.keywords, ["$Junk"]);
    }
    let m3 = s.summary(id, 3).unwrap().unwrap();
    assert!(m3.modseq < h, "an untouched message keeps its modseq");
    let after = mbox(&s, ALICE, "INBOX");
    assert_eq!((after.highestmodseq, after.unseen), (h, 1));

    // A no-op STORE (keyword in another case) changes nothing.
    let r = s
        .store_flags(
            id,
            &[1],
            &update(FlagOp::Add, flags::SEEN, &["$JUNK"], None),
        )
        .unwrap();
    assert!(!r.results[0].changed);
    assert_eq!(r.results[0].modseq, h);
    assert_eq!(r.highestmodseq, h);
    assert_eq!(mbox(&s, ALICE, "INBOX").highestmodseq, h);

    // Remove matches keywords without case; Replace sets exactly.
    let r = s
        .store_flags(id, &[1], &update(FlagOp::Remove, 0, &["$junk"], None))
        .unwrap();
    assert!(r.results[0].keywords.is_empty());
    assert_eq!(r.results[0].modseq, h + 1);
    let r = s
        .store_flags(
            id,
            &[3],
            &update(
                FlagOp::Replace,
                flags::DELETED | flags::FLAGGED,
                &["a", "A", "b"],
                None,
            ),
        )
        .unwrap();
    assert_eq!(r.results[0].keywords, ["a", "b"], "duplicates dropped");
    let m = mbox(&s, ALICE, "INBOX");
    assert_eq!((m.unseen, m.deleted, m.highestmodseq), (1, 1, h + 2));
    std::fs::remove_dir_all(dir).unwrap();
}

/// A STORE over more messages than a batch changes every one of them,
/// each batch with its own new modseq above everything before it, and
/// the mailbox ends at the last one.
#[test]
fn a_store_over_several_batches_changes_every_message() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let n = 2 * super::imap::BATCH + 3;
    let uids = deliver_n(&s, ALICE, n);
    let before = mbox(&s, ALICE, "INBOX");
    let r = s
        .store_flags(
            before.id,
            &uids,
            &update(FlagOp::Add, flags::SEEN, &[], None),
        )
        .unwrap();
    assert_eq!(r.results.len(), n);
    assert!(r
        .results
        .iter()
        .all(|m| m.changed && m.flags == flags::SEEN));
    let modseqs: Vec<u64> = r.results.iter().map(|m| m.modseq).collect();
    assert!(modseqs.windows(2).all(|w| w[0] <= w[1]), "UID order");
    assert_eq!(modseqs[0], before.highestmodseq + 1);
    assert_eq!(modseqs[n - 1], before.highestmodseq + 3, "three batches");
    let after = mbox(&s, ALICE, "INBOX");
    assert_eq!((after.unseen, after.highestmodseq), (0, r.highestmodseq));
    assert_eq!(r.highestmodseq, before.highestmodseq + 3);
    for (res, uid) in r.results.iter().zip(&uids) {
        assert_eq!(
            s.summary(before.id, *uid).unwrap().unwrap().modseq,
            res.modseq
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// `n` messages in alice's INBOX, more than two batches' worth: UIDs 1..=n.
fn over_two_batches(s: &Store) -> (Mailbox, usize) {
    let n = 2 * super::imap::BATCH + 3;
    let uids = deliver_n(s, ALICE, n);
    assert_eq!(uids, (1..=n as u32).collect::<Vec<_>>());
    (mbox(s, ALICE, "INBOX"), n)
}

/// The modseq of each message of a mailbox, by UID.
fn modseqs(s: &Store, id: u64) -> Vec<(u32, u64)> {
    s.summaries(id)
        .unwrap()
        .iter()
        .map(|m| (m.uid, m.modseq))
        .collect()
}

/// Each batch of a bulk command gives its messages one new modseq: UIDs
/// `first..` in batches of [`super::imap::BATCH`], from `base + 1` on.
fn batch_modseqs(first: u32, n: usize, base: u64) -> Vec<(u32, u64)> {
    (0..n)
        .map(|i| (first + i as u32, base + 1 + (i / super::imap::BATCH) as u64))
        .collect()
}

#[test]
fn a_copy_over_several_batches_copies_every_message_once() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let (inbox, n) = over_two_batches(&s);
    let used = usage(&s, ALICE);
    let before = mbox(&s, ALICE, "Archive");
    let all: Vec<u32> = (1..=n as u32).collect();
    let c = s.copy(inbox.id, &all, "Archive").unwrap();
    assert_eq!(c.source, all);
    assert_eq!(c.dest, all, "new UIDs contiguous across batches");
    let after = mbox(&s, ALICE, "Archive");
    assert_eq!((after.messages, after.uidnext), (n as u32, n as u32 + 1));
    assert_eq!(
        after.highestmodseq,
        before.highestmodseq + 3,
        "three batches"
    );
    assert_eq!(
        modseqs(&s, after.id),
        batch_modseqs(1, n, before.highestmodseq)
    );
    assert_eq!(usage(&s, ALICE), 2 * used);
    assert_eq!(mbox(&s, ALICE, "INBOX"), inbox, "the source is left alone");
    let blob = s.message(inbox.id, n as u32).unwrap().unwrap().blob;
    assert_eq!(s.blob_refs(&blob).unwrap(), 2);
    assert_eq!(s.copies.len(), 0, "the finished copy keeps no record");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_copy_over_quota_is_refused_before_its_first_batch() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let (inbox, n) = over_two_batches(&s);
    let used = usage(&s, ALICE);
    // Room for the first batches but not for the whole set.
    s.set_quota(ALICE, used + used / 2).unwrap();
    let archive = mbox(&s, ALICE, "Archive");
    let all: Vec<u32> = (1..=n as u32).collect();
    let err = s.copy(inbox.id, &all, "Archive").unwrap_err();
    assert!(matches!(err, StoreError::OverQuota(_)), "{err}");
    assert_eq!(mbox(&s, ALICE, "Archive"), archive, "nothing was copied");
    assert_eq!(usage(&s, ALICE), used);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_copy_failing_in_a_later_batch_takes_back_the_batches_before() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let (inbox, n) = over_two_batches(&s);
    let used = usage(&s, ALICE);
    let blob = s.message(inbox.id, 1).unwrap().unwrap().blob;
    // A message of the second batch without its body record.
    let broken = super::imap::BATCH as u32 + 5;
    s.bodies.remove(message_key(inbox.id, broken)).unwrap();
    let archive = mbox(&s, ALICE, "Archive");
    let all: Vec<u32> = (1..=n as u32).collect();
    let err = s.copy(inbox.id, &all, "Archive").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    // RFC 9051 §6.4.7: the destination holds what it held before; the
    // first batch's UIDs are gone for good and reported as expunged.
    let after = mbox(&s, ALICE, "Archive");
    assert_eq!((after.messages, after.size, after.unseen), (0, 0, 0));
    assert_eq!(after.uidnext, super::imap::BATCH as u32 + 1);
    assert!(s.summaries(after.id).unwrap().is_empty());
    assert_eq!(
        s.vanished_since(after.id, archive.highestmodseq).unwrap(),
        [(1, super::imap::BATCH as u32)]
    );
    assert_eq!(usage(&s, ALICE), used);
    assert_eq!(s.blob_refs(&blob).unwrap(), 1);
    assert_eq!(s.copies.len(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_copy_a_crash_interrupted_is_taken_back_at_open() {
    let dir = tmp();
    let s = store_with_user(&dir);
    deliver_n(&s, ALICE, 3);
    let inbox = mbox(&s, ALICE, "INBOX");
    let used = usage(&s, ALICE);
    let blob = s.message(inbox.id, 2).unwrap().unwrap().blob;
    s.copy(inbox.id, &[1], "Archive").unwrap();
    // What a copy stopped after its first batches leaves: its messages,
    // and its record of them.
    let c = s.copy(inbox.id, &[2, 3], "Archive").unwrap();
    assert_eq!(c.dest, [2, 3]);
    let archive = mbox(&s, ALICE, "Archive");
    let pending = records::PendingCopy {
        mailbox: archive.id,
        uids: vec![(2, 3)],
    };
    s.copies
        .insert(7u64.to_be_bytes(), encode(&pending))
        .unwrap();
    s.flush().unwrap();
    drop(s);
    let s = Store::open(&dir, 1 << 20).unwrap();
    let after = mbox(&s, ALICE, "Archive");
    assert_eq!(after.messages, 1, "the earlier, finished copy stays");
    assert!(s.message(archive.id, 1).unwrap().is_some());
    assert_eq!(
        s.vanished_since(archive.id, archive.highestmodseq).unwrap(),
        [(2, 3)]
    );
    assert_eq!(
        usage(&s, ALICE),
        used + s.message(inbox.id, 1).unwrap().unwrap().size
    );
    assert_eq!(s.blob_refs(&blob).unwrap(), 1);
    assert_eq!(s.copies.len(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_move_over_several_batches_moves_each_message_once() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let (inbox, n) = over_two_batches(&s);
    let used = usage(&s, ALICE);
    let trash = mbox(&s, ALICE, "Trash");
    let all: Vec<u32> = (1..=n as u32).collect();
    let (c, e) = s.move_messages(inbox.id, &all, "Trash").unwrap();
    assert_eq!(
        (c.source.clone(), c.dest.clone()),
        (all.clone(), all.clone())
    );
    assert_eq!(e.uids, all);
    let src = mbox(&s, ALICE, "INBOX");
    let dst = mbox(&s, ALICE, "Trash");
    assert_eq!((src.messages, dst.messages), (0, n as u32));
    assert_eq!(src.highestmodseq, inbox.highestmodseq + 3);
    assert_eq!(e.highestmodseq, src.highestmodseq);
    assert_eq!(dst.highestmodseq, trash.highestmodseq + 3);
    assert_eq!(
        modseqs(&s, dst.id),
        batch_modseqs(1, n, trash.highestmodseq)
    );
    // Each batch's expunge under its own modseq.
    let b = super::imap::BATCH as u32;
    assert_eq!(
        s.vanished_since(inbox.id, inbox.highestmodseq).unwrap(),
        [(1, n as u32)]
    );
    assert_eq!(
        s.vanished_since(inbox.id, inbox.highestmodseq + 1).unwrap(),
        [(b + 1, n as u32)]
    );
    assert_eq!(
        s.vanished_since(inbox.id, inbox.highestmodseq + 2).unwrap(),
        [(2 * b + 1, n as u32)]
    );
    assert_eq!(usage(&s, ALICE), used);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_move_failing_in_a_later_batch_leaves_each_message_in_one_mailbox() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let (inbox, n) = over_two_batches(&s);
    let used = usage(&s, ALICE);
    let b = super::imap::BATCH as u32;
    s.bodies.remove(message_key(inbox.id, b + 5)).unwrap();
    let all: Vec<u32> = (1..=n as u32).collect();
    let err = s.move_messages(inbox.id, &all, "Trash").unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    // RFC 6851 §3.3: the first batch moved, the rest stayed; none in both.
    let src: Vec<u32> = s
        .summaries(inbox.id)
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(src, (b + 1..=n as u32).collect::<Vec<_>>());
    let trash = mbox(&s, ALICE, "Trash");
    assert_eq!(trash.messages, b);
    let moved = s.message(trash.id, b).unwrap().unwrap();
    assert!(moved.prefix.starts_with(b"Delivered-To"));
    assert_eq!(
        s.vanished_since(inbox.id, inbox.highestmodseq).unwrap(),
        [(1, b)]
    );
    assert_eq!(usage(&s, ALICE), used);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_expunge_over_several_batches_removes_every_deleted_message() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let (inbox, n) = over_two_batches(&s);
    let b = super::imap::BATCH as u32;
    // Every message but the last of the first batch is \Deleted.
    let deleted: Vec<u32> = (1..=n as u32).filter(|&u| u != b).collect();
    s.store_flags(
        inbox.id,
        &deleted,
        &update(FlagOp::Add, flags::DELETED, &[], None),
    )
    .unwrap();
    let before = mbox(&s, ALICE, "INBOX");
    let e = s.expunge_deleted(inbox.id, None).unwrap();
    assert_eq!(e.uids, deleted);
    let after = mbox(&s, ALICE, "INBOX");
    assert_eq!(
        (after.messages, after.deleted, after.size > 0),
        (1, 0, true)
    );
    assert_eq!(
        after.highestmodseq,
        before.highestmodseq + 3,
        "three batches"
    );
    assert_eq!(e.highestmodseq, after.highestmodseq);
    assert_eq!(
        s.vanished_since(inbox.id, before.highestmodseq + 1)
            .unwrap(),
        [(b + 2, n as u32)],
        "the second batch starts after the kept message"
    );
    assert_eq!(s.summaries(inbox.id).unwrap()[0].uid, b);
    assert_eq!(usage(&s, ALICE), after.size);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Sessions waiting on a mailbox wake once per bulk command, not once a
/// batch.
#[test]
fn a_bulk_command_wakes_the_sessions_of_its_mailboxes_once() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let (inbox, n) = over_two_batches(&s);
    let all: Vec<u32> = (1..=n as u32).collect();
    let archive = mbox(&s, ALICE, "Archive").id;
    let trash = mbox(&s, ALICE, "Trash").id;
    let mut src = s.watch(inbox.id);
    let mut dst = s.watch(archive);
    s.store_flags(
        inbox.id,
        &all,
        &update(FlagOp::Add, flags::DELETED, &[], None),
    )
    .unwrap();
    assert_eq!(src.writes(), 1, "STORE");
    s.copy(inbox.id, &all, "Archive").unwrap();
    assert_eq!((src.writes(), dst.writes()), (1, 1), "COPY");
    src.mark_seen();
    dst.mark_seen();
    let bin = s.watch(trash);
    s.move_messages(archive, &all, "Trash").unwrap();
    assert_eq!((dst.writes(), bin.writes()), (1, 1), "MOVE");
    s.expunge_deleted(inbox.id, None).unwrap();
    assert_eq!(src.writes(), 1, "EXPUNGE");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn split_ranges_takes_whole_and_partial_ranges() {
    use super::imap::split_ranges;
    assert_eq!(split_ranges(&[], 3), (vec![], vec![]));
    assert_eq!(
        split_ranges(&[(1, 2), (5, 9)], 3),
        (vec![1, 2, 5], vec![(6, 9)])
    );
    assert_eq!(
        split_ranges(&[(1, 3), (5, 5)], 3),
        (vec![1, 2, 3], vec![(5, 5)])
    );
    assert_eq!(split_ranges(&[(7, 7)], 3), (vec![7], vec![]));
    assert_eq!(
        split_ranges(&[(u32::MAX - 1, u32::MAX)], 1),
        (vec![u32::MAX - 1], vec![(u32::MAX, u32::MAX)])
    );
}

#[test]
fn unchangedsince_fails_newer_messages_and_leaves_them_alone() {
    let dir = tmp();
    let s = store_with_user(&dir);
    deliver_n(&s, ALICE, 3);
    let id = mbox(&s, ALICE, "INBOX").id;
    let m1 = s.summary(id, 1).unwrap().unwrap().modseq;
    let m2 = s.summary(id, 2).unwrap().unwrap().modseq;
    assert!(m1 < m2);
    // RFC 7162 §3.1.3: UID 1 passes (modseq <= m1), 2 and 3 fail.
    let r = s
        .store_flags(
            id,
            &[1, 2, 3],
            &update(FlagOp::Add, flags::FLAGGED, &[], Some(m1)),
        )
        .unwrap();
    assert_eq!(r.failed, [2, 3]);
    assert_eq!(r.results.len(), 1);
    assert_eq!(s.summary(id, 2).unwrap().unwrap().flags, 0);
    assert_eq!(s.summary(id, 2).unwrap().unwrap().modseq, m2);
    // UNCHANGEDSINCE 0 always fails.
    let r = s
        .store_flags(id, &[1], &update(FlagOp::Add, flags::SEEN, &[], Some(0)))
        .unwrap();
    assert_eq!(r.failed, [1]);
    assert_eq!(s.summary(id, 1).unwrap().unwrap().flags, flags::FLAGGED);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_keywords_are_refused_and_change_nothing() {
    let dir = tmp();
    let s = store_with_user(&dir);
    deliver_n(&s, ALICE, 2);
    let before = mbox(&s, ALICE, "INBOX");
    for bad in ["", "a b", "\\Seen", "x(y", &"k".repeat(MAX_KEYWORD_LEN + 1)] {
        let err = s
            .store_flags(
                before.id,
                &[1, 2],
                &update(FlagOp::Add, flags::SEEN, &[bad], None),
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{bad:?}: {err}");
    }
    // Too many keywords on one message: the whole STORE fails.
    let many: Vec<String> = (0..=MAX_KEYWORDS).map(|i| format!("k{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(s
        .store_flags(before.id, &[1], &update(FlagOp::Add, 0, &many, None))
        .is_err());
    assert_eq!(mbox(&s, ALICE, "INBOX"), before);
    assert_eq!(s.summary(before.id, 1).unwrap().unwrap().flags, 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn append_stores_attributes_and_counts_quota() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let b = body(&s, b"Subject: appended\r\n\r\nx\r\n");
    let (id, size) = (b.id, b.size);
    let msg = NewMessage {
        flags: flags::SEEN | flags::DRAFT,
        keywords: vec!["$Draft".into()],
        internal_date: 1_234_567,
        cache: Some(b"structure".to_vec()),
    };
    let a = s.append(ALICE, "Drafts", b, msg.clone()).unwrap();
    let drafts = mbox(&s, ALICE, "Drafts");
    assert_eq!(
        (a.uidvalidity, a.uid, a.mailbox),
        (drafts.uidvalidity, 1, drafts.id)
    );
    assert_eq!(a.modseq, drafts.highestmodseq);
    let m = s.message(drafts.id, 1).unwrap().unwrap();
    assert_eq!((m.flags, m.keywords.clone()), (msg.flags, msg.keywords));
    assert_eq!((m.internal_date, m.size), (1_234_567, size));
    assert_eq!(m.cache.as_deref(), Some(&b"structure"[..]));
    assert!(m.prefix.is_empty());
    assert_eq!((drafts.messages, drafts.unseen, drafts.size), (1, 0, size));
    assert_eq!(usage(&s, ALICE), size);
    assert_eq!(s.blob_refs(&id).unwrap(), 1);
    // Cache updates keep the modseq.
    assert!(s.set_cache(drafts.id, 1, None).unwrap());
    assert_eq!(s.message(drafts.id, 1).unwrap().unwrap().cache, None);
    assert_eq!(
        mbox(&s, ALICE, "Drafts").highestmodseq,
        drafts.highestmodseq
    );

    // No such mailbox: NotFound, and the body is not kept.
    let b = body(&s, b"nowhere\r\n");
    let lost = b.id;
    let err = s
        .append(ALICE, "Nope", b, NewMessage::default())
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)));
    assert!(!s.blob_exists(&lost));

    // Over quota: a distinct error, nothing stored, body not kept.
    s.set_quota(ALICE, size + 5).unwrap();
    let b = body(&s, b"too big for what is left\r\n");
    let lost = b.id;
    let err = s
        .append(ALICE, "INBOX", b, NewMessage::default())
        .unwrap_err();
    assert!(matches!(err, StoreError::OverQuota(_)), "{err}");
    assert!(!s.blob_exists(&lost));
    assert_eq!(mbox(&s, ALICE, "INBOX").messages, 0);
    assert_eq!(usage(&s, ALICE), size);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn quota_follows_deliver_copy_move_expunge_and_delete() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let b = body(&s, b"0123456789\r\n");
    let blob = b.id;
    s.deliver(b, &[to(ALICE), to(BOB)], None, 1).unwrap();
    let one = 12 + "Delivered-To: alice@example.test\r\n".len() as u64;
    assert_eq!(usage(&s, ALICE), one);
    assert_eq!(
        usage(&s, BOB),
        12 + "Delivered-To: bob@example.test\r\n".len() as u64
    );
    let inbox = mbox(&s, ALICE, "INBOX");
    s.create_mailbox(ALICE, "Keep", None).unwrap();
    s.copy(inbox.id, &[1], "Keep").unwrap();
    assert_eq!(usage(&s, ALICE), 2 * one, "a copy counts again");
    s.move_messages(inbox.id, &[1], "Archive").unwrap();
    assert_eq!(usage(&s, ALICE), 2 * one, "a move does not change usage");
    assert_eq!(s.blob_refs(&blob).unwrap(), 3);
    let archive = mbox(&s, ALICE, "Archive");
    s.expunge_uids(archive.id, &[1]).unwrap();
    assert_eq!(usage(&s, ALICE), one);
    s.delete_mailbox(ALICE, "Keep").unwrap();
    assert_eq!(usage(&s, ALICE), 0);
    assert_eq!(s.blob_refs(&blob).unwrap(), 1, "bob's copy remains");

    // Delivery over quota fails as a whole with a distinct error.
    s.set_default_quota(20);
    s.set_quota(BOB, 1 << 20).unwrap();
    assert_eq!(s.quota(ALICE).unwrap().limit, 20);
    assert!(matches!(
        s.check_quota(ALICE, 21),
        Err(StoreError::OverQuota(_))
    ));
    s.check_quota(ALICE, 20).unwrap();
    let b = body(&s, b"a body that does not fit\r\n");
    let lost = b.id;
    let err = s.deliver(b, &[to(BOB), to(ALICE)], None, 2).unwrap_err();
    assert!(
        matches!(err, StoreError::OverQuota(ref a) if a == ALICE),
        "{err}"
    );
    assert!(!s.blob_exists(&lost));
    assert_eq!(mbox(&s, BOB, "INBOX").messages, 1, "bob got nothing either");
    // An account's own quota wins over the default.
    s.set_quota(ALICE, 1 << 20).unwrap();
    s.deliver(body(&s, b"fits now\r\n"), &[to(ALICE)], None, 3)
        .unwrap();
    // COPY over quota changes nothing.
    s.set_quota(ALICE, usage(&s, ALICE) + 1).unwrap();
    let inbox = mbox(&s, ALICE, "INBOX");
    let trash = mbox(&s, ALICE, "Trash");
    let err = s.copy(inbox.id, &[2], "Trash").unwrap_err();
    assert!(matches!(err, StoreError::OverQuota(_)));
    assert_eq!(mbox(&s, ALICE, "Trash"), trash);
    assert_eq!(mbox(&s, ALICE, "INBOX"), inbox);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn copy_and_move_share_bodies_and_free_them_with_the_last_reference() {
    let dir = tmp();
    let s = store_with_user(&dir);
    deliver_n(&s, ALICE, 3);
    let inbox = mbox(&s, ALICE, "INBOX");
    s.store_flags(
        inbox.id,
        &[2],
        &update(FlagOp::Add, flags::FLAGGED, &["$Work"], None),
    )
    .unwrap();
    let blobs: Vec<BlobId> = s
        .messages(inbox.id)
        .unwrap()
        .iter()
        .map(|m| m.blob)
        .collect();
    s.set_cache(inbox.id, 3, Some(b"c3".to_vec())).unwrap();
    let inbox = mbox(&s, ALICE, "INBOX");

    // COPY in UID order whatever the request's order; missing UIDs skipped.
    let c = s.copy(inbox.id, &[3, 2, 42], "Archive").unwrap();
    let archive = mbox(&s, ALICE, "Archive");
    assert_eq!(
        (c.mailbox, c.uidvalidity),
        (archive.id, archive.uidvalidity)
    );
    assert_eq!((c.source.clone(), c.dest.clone()), (vec![2, 3], vec![1, 2]));
    let copy2 = s.message(archive.id, 1).unwrap().unwrap();
    let orig2 = s.message(inbox.id, 2).unwrap().unwrap();
    assert_eq!(
        (copy2.flags, &copy2.keywords),
        (flags::FLAGGED, &orig2.keywords)
    );
    assert_eq!(
        (copy2.internal_date, copy2.blob),
        (orig2.internal_date, orig2.blob)
    );
    assert_eq!(copy2.modseq, archive.highestmodseq);
    assert_eq!(
        s.message(archive.id, 2).unwrap().unwrap().cache.as_deref(),
        Some(&b"c3"[..])
    );
    assert_eq!(s.blob_refs(&blobs[1]).unwrap(), 2);
    assert_eq!(
        mbox(&s, ALICE, "INBOX"),
        inbox,
        "COPY leaves the source alone"
    );

    // MOVE: copy plus expunge at once, references unchanged.
    let before = mbox(&s, ALICE, "INBOX");
    let (c, e) = s.move_messages(inbox.id, &[1, 2], "Trash").unwrap();
    assert_eq!((c.source.clone(), c.dest.clone()), (vec![1, 2], vec![1, 2]));
    assert_eq!(e.uids, [1, 2]);
    let after = mbox(&s, ALICE, "INBOX");
    assert_eq!(after.messages, 1);
    assert_eq!(e.highestmodseq, after.highestmodseq);
    assert!(after.highestmodseq > before.highestmodseq);
    assert_eq!(
        s.vanished_since(inbox.id, before.highestmodseq).unwrap(),
        [(1, 2)]
    );
    assert_eq!(s.blob_refs(&blobs[0]).unwrap(), 1);
    assert_eq!(s.blob_refs(&blobs[1]).unwrap(), 2);

    // Moving within the same mailbox gives new UIDs.
    let trash = mbox(&s, ALICE, "Trash");
    let (c, e) = s.move_messages(trash.id, &[1], "Trash").unwrap();
    assert_eq!((c.dest.clone(), e.uids), (vec![3], vec![1]));
    let t = mbox(&s, ALICE, "Trash");
    assert_eq!((t.messages, t.uidnext), (2, 4));

    // Destination missing: NotFound, nothing changes.
    assert!(matches!(
        s.copy(trash.id, &[2], "Nowhere"),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.move_messages(trash.id, &[2], "Nowhere"),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(mbox(&s, ALICE, "Trash"), t);

    // The body file goes with its last reference only.
    s.expunge_uids(archive.id, &[1]).unwrap();
    assert_eq!(s.blob_refs(&blobs[1]).unwrap(), 1);
    assert!(s.blob_exists(&blobs[1]));
    s.expunge_uids(t.id, &[2]).unwrap();
    assert_eq!(s.blob_refs(&blobs[1]).unwrap(), 0);
    assert!(!s.blob_exists(&blobs[1]));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn expunge_leaves_tombstones_and_never_reuses_uids() {
    let dir = tmp();
    let s = store_with_user(&dir);
    deliver_n(&s, ALICE, 5);
    let id = mbox(&s, ALICE, "INBOX").id;
    let m0 = mbox(&s, ALICE, "INBOX").highestmodseq;
    let e1 = s.expunge_uids(id, &[3, 2]).unwrap();
    assert_eq!((e1.uids.clone(), e1.highestmodseq), (vec![2, 3], m0 + 1));
    let e2 = s.expunge(ALICE, "INBOX", &[5, 77]).unwrap();
    assert_eq!(e2, [5]);
    let m2 = mbox(&s, ALICE, "INBOX").highestmodseq;
    assert_eq!(m2, m0 + 2);
    assert_eq!(s.vanished_since(id, m0).unwrap(), [(2, 3), (5, 5)]);
    assert_eq!(s.vanished_since(id, m0 + 1).unwrap(), [(5, 5)]);
    assert!(s.vanished_since(id, m2).unwrap().is_empty());
    // Nothing to expunge: no new modseq.
    let e = s.expunge_uids(id, &[2]).unwrap();
    assert!(e.uids.is_empty());
    assert_eq!(mbox(&s, ALICE, "INBOX").highestmodseq, m2);
    // UIDs only grow, also after the highest was expunged.
    assert_eq!(deliver_n(&s, ALICE, 1), [6]);

    // EXPUNGE takes only \Deleted messages; UID EXPUNGE only within its set.
    s.store_flags(id, &[1, 4], &update(FlagOp::Add, flags::DELETED, &[], None))
        .unwrap();
    assert_eq!(mbox(&s, ALICE, "INBOX").deleted, 2);
    let e = s.expunge_deleted(id, Some(&[4, 6])).unwrap();
    assert_eq!(e.uids, [4]);
    let e = s.expunge_deleted(id, None).unwrap();
    assert_eq!(e.uids, [1]);
    let m = mbox(&s, ALICE, "INBOX");
    assert_eq!((m.messages, m.deleted), (1, 0));
    assert!(s.expunge_deleted(id, None).unwrap().uids.is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn tombstones_stay_bounded_and_recent_answers_stay_exact() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let n = 2 * (MAX_TOMBSTONES as usize + 60);
    let b = body(&s, b"many\r\n");
    let ds: Vec<Delivery> = (0..n).map(|_| to(ALICE)).collect();
    s.deliver(b, &ds, None, 1).unwrap();
    let id = mbox(&s, ALICE, "INBOX").id;
    let mut modseqs = Vec::new();
    // Expunge every other message, one at a time: scattered UIDs.
    for uid in (1..=n as u32).step_by(2) {
        modseqs.push((uid, s.expunge_uids(id, &[uid]).unwrap().highestmodseq));
    }
    let m = mbox(&s, ALICE, "INBOX");
    assert!(
        modseqs.len() > MAX_TOMBSTONES as usize + 50,
        "merging was needed"
    );
    assert!(m.tombstones <= MAX_TOMBSTONES + 1, "{}", m.tombstones);
    assert!(s.vanished.scan_prefix(id.to_be_bytes()).count() <= MAX_TOMBSTONES as usize + 1);
    // Everything since the start: every odd UID, conservatively complete.
    let all: Vec<UidRange> = (1..=n as u32).step_by(2).map(|u| (u, u)).collect();
    assert_eq!(s.vanished_since(id, 0).unwrap(), all);
    // Recent questions are exact.
    let (k, since) = modseqs[modseqs.len() - 10];
    let recent: Vec<UidRange> = (k + 2..=n as u32).step_by(2).map(|u| (u, u)).collect();
    assert_eq!(s.vanished_since(id, since).unwrap(), recent);
    // Old questions may include more, never less.
    let (k, since) = modseqs[5];
    let got = s.vanished_since(id, since).unwrap();
    for u in (k + 2..=n as u32).step_by(2) {
        assert!(
            got.iter().any(|&(lo, hi)| lo <= u && u <= hi),
            "{u} missing"
        );
    }
    for &(lo, hi) in &got {
        assert!(lo % 2 == 1 && lo == hi, "only expunged UIDs are reported");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_change_feed_reports_new_changed_and_vanished_messages() {
    let dir = tmp();
    let s = store_with_user(&dir);
    deliver_n(&s, ALICE, 4);
    let id = mbox(&s, ALICE, "INBOX").id;
    // A session that selected the mailbox now.
    let c = s.changes(id, 0, 0).unwrap();
    assert_eq!(
        c.added.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(c.changed.is_empty() && c.vanished.is_empty());
    let (last_uid, last_modseq) = (c.uidnext - 1, c.highestmodseq);
    assert!(s
        .changes(id, last_uid, last_modseq)
        .unwrap()
        .added
        .is_empty());

    // Another session changes things.
    s.store_flags(id, &[2], &update(FlagOp::Add, flags::SEEN, &[], None))
        .unwrap();
    s.expunge_uids(id, &[3]).unwrap();
    deliver_n(&s, ALICE, 1);
    // An unchanged re-STORE is not a change.
    s.store_flags(id, &[2], &update(FlagOp::Add, flags::SEEN, &[], None))
        .unwrap();

    let c = s.changes(id, last_uid, last_modseq).unwrap();
    assert_eq!(c.added.iter().map(|m| m.uid).collect::<Vec<_>>(), [5]);
    assert_eq!(c.changed.len(), 1);
    assert_eq!((c.changed[0].uid, c.changed[0].flags), (2, flags::SEEN));
    assert_eq!(c.vanished, [(3, 3)]);
    assert_eq!((c.messages, c.uidnext), (4, 6));
    let again = s.changes(id, c.uidnext - 1, c.highestmodseq).unwrap();
    assert!(again.added.is_empty() && again.changed.is_empty() && again.vanished.is_empty());

    // A message added and expunged between two looks is not reported as
    // vanished: the session never knew it.
    deliver_n(&s, ALICE, 1);
    s.expunge_uids(id, &[6]).unwrap();
    let c2 = s.changes(id, c.uidnext - 1, c.highestmodseq).unwrap();
    assert!(c2.vanished.is_empty() && c2.added.is_empty());

    // The light listing matches the whole records.
    let light = s.summaries(id).unwrap();
    let full = s.messages(id).unwrap();
    assert_eq!(light.len(), full.len());
    for (l, f) in light.iter().zip(&full) {
        assert_eq!(
            (l.uid, l.flags, l.modseq, l.size),
            (f.uid, f.flags, f.modseq, f.size)
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn watchers_wake_on_changes_and_cost_nothing_when_dropped() {
    use std::time::Duration;
    let dir = tmp();
    let s = std::sync::Arc::new(store_with_user(&dir));
    let id = mbox(&s, ALICE, "INBOX").id;
    let other = mbox(&s, ALICE, "Junk").id;
    let mut w = s.watch(id);
    let w2 = s.watch(id);
    let junk = s.watch(other);
    assert!(!w.has_changed());

    // Nothing happens: the wait times out.
    let woke = smol::block_on(smol::future::or(
        async {
            w.changed().await;
            true
        },
        async {
            smol::Timer::after(Duration::from_millis(100)).await;
            false
        },
    ));
    assert!(!woke);

    // A delivery from another thread wakes the waiter promptly.
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            deliver_n(&s, ALICE, 1);
        })
    };
    let woke = smol::block_on(smol::future::or(
        async {
            w.changed().await;
            true
        },
        async {
            smol::Timer::after(Duration::from_secs(10)).await;
            false
        },
    ));
    writer.join().unwrap();
    assert!(woke, "the delivery woke the watcher");
    assert!(w2.has_changed(), "every watcher of the mailbox sees it");
    assert!(!junk.has_changed(), "other mailboxes are not disturbed");
    w.mark_seen();
    assert!(!w.has_changed());

    // A change before the wait starts is not lost.
    s.store_flags(id, &[1], &update(FlagOp::Add, flags::SEEN, &[], None))
        .unwrap();
    smol::block_on(w.changed());
    w.mark_seen();
    // Every writer notifies: expunge, copy into, rename, delete.
    s.expunge_uids(id, &[1]).unwrap();
    assert!(w.has_changed());
    s.create_mailbox(ALICE, "Work", None).unwrap();
    let work = mbox(&s, ALICE, "Work").id;
    let ww = s.watch(work);
    deliver_n(&s, ALICE, 1);
    s.copy(id, &[2], "Work").unwrap();
    assert!(ww.has_changed());
    let mut ww = ww;
    ww.mark_seen();
    s.rename_mailbox(ALICE, "Work", "Play").unwrap();
    assert!(ww.has_changed());
    ww.mark_seen();
    s.delete_mailbox(ALICE, "Play").unwrap();
    assert!(ww.has_changed());
    assert!(matches!(
        s.changes(work, 0, 0),
        Err(StoreError::NotFound(_))
    ));

    // Signals exist only while watched.
    assert_eq!(s.watchers.len(), 3);
    drop((w, w2, junk, ww));
    assert_eq!(s.watchers.len(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn create_makes_superiors_and_checks_names() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let c = s.create_mailbox(ALICE, "a/b/c/", None).unwrap();
    assert_eq!(c.name, "a/b/c", "a trailing separator is dropped");
    for n in ["a", "a/b", "a/b/c"] {
        assert!(s.mailbox(ALICE, n).unwrap().is_some(), "{n}");
    }
    // Superiors already there are fine; the name itself is not.
    s.create_mailbox(ALICE, "a/x", None).unwrap();
    assert!(matches!(
        s.create_mailbox(ALICE, "a/b", None),
        Err(StoreError::Exists(_))
    ));
    assert!(matches!(
        s.create_mailbox(ALICE, "inbox", None),
        Err(StoreError::Exists(_))
    ));
    let sub = s.create_mailbox(ALICE, "inbox/Sub", None).unwrap();
    assert_eq!(sub.name, "INBOX/Sub");
    assert!(s.mailbox(ALICE, "Inbox/Sub").unwrap().is_some());
    for bad in [
        "",
        "/",
        "/a",
        "a//b",
        "a*",
        "b%",
        "x\r\ny",
        &"n".repeat(MAX_MAILBOX_NAME + 1),
    ] {
        assert!(
            matches!(
                s.create_mailbox(ALICE, bad, None),
                Err(StoreError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    let deep = vec!["d"; MAX_MAILBOX_DEPTH + 1].join("/");
    assert!(s.create_mailbox(ALICE, &deep, None).is_err());
    assert!(matches!(
        s.create_mailbox("nobody@example.test", "x", None),
        Err(StoreError::NotFound(_))
    ));
    // Ids index every mailbox.
    assert_eq!(s.mailbox_by_id(c.id).unwrap().unwrap().name, "a/b/c");
    s.set_special_use(ALICE, "a/x", Some(SpecialUse::Archive))
        .unwrap();
    assert_eq!(
        mbox(&s, ALICE, "a/x").special_use,
        Some(SpecialUse::Archive)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn delete_frees_messages_keeps_inferiors_and_recreation_gets_a_new_uidvalidity() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let work = s.create_mailbox(ALICE, "Work/Old", None).unwrap();
    let parent = mbox(&s, ALICE, "Work");
    let b = body(&s, b"work mail\r\n");
    let blob = b.id;
    let mut d = to(ALICE);
    d.mailbox = "Work".into();
    s.deliver(b, &[d.clone(), d], None, 1).unwrap();
    assert_eq!(mbox(&s, ALICE, "Work").messages, 2);
    s.expunge_uids(parent.id, &[1]).unwrap();

    assert!(matches!(
        s.delete_mailbox(ALICE, "INBOX"),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.delete_mailbox(ALICE, "Nope"),
        Err(StoreError::NotFound(_))
    ));
    s.delete_mailbox(ALICE, "Work").unwrap();
    assert!(s.mailbox(ALICE, "Work").unwrap().is_none());
    assert!(s.mailbox_by_id(parent.id).unwrap().is_none());
    assert_eq!(mbox(&s, ALICE, "Work/Old"), work, "inferiors stay");
    assert!(!s.blob_exists(&blob));
    assert_eq!(usage(&s, ALICE), 0);
    assert!(s
        .messages
        .scan_prefix(parent.id.to_be_bytes())
        .next()
        .is_none());
    assert!(s
        .bodies
        .scan_prefix(parent.id.to_be_bytes())
        .next()
        .is_none());
    assert!(s
        .modseqs
        .scan_prefix(parent.id.to_be_bytes())
        .next()
        .is_none());
    assert!(s
        .vanished
        .scan_prefix(parent.id.to_be_bytes())
        .next()
        .is_none());

    let again = s.create_mailbox(ALICE, "Work", None).unwrap();
    assert!(again.uidvalidity > parent.uidvalidity);
    assert_ne!(again.id, parent.id);
    assert_eq!((again.uidnext, again.messages), (1, 0));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn rename_moves_a_hierarchy_and_keeps_uidvalidity() {
    let dir = tmp();
    let s = store_with_user(&dir);
    s.create_mailbox(ALICE, "a/b/c", None).unwrap();
    s.create_mailbox(ALICE, "ab", None).unwrap();
    let a = mbox(&s, ALICE, "a");
    let c = mbox(&s, ALICE, "a/b/c");
    let mut d = to(ALICE);
    d.mailbox = "a/b/c".into();
    s.deliver(body(&s, b"deep\r\n"), &[d], None, 1).unwrap();

    assert!(matches!(
        s.rename_mailbox(ALICE, "a", "a/z"),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.rename_mailbox(ALICE, "a", "ab"),
        Err(StoreError::Exists(_))
    ));
    assert!(matches!(
        s.rename_mailbox(ALICE, "q", "r"),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.rename_mailbox(ALICE, "a", "INBOX"),
        Err(StoreError::Exists(_))
    ));

    s.rename_mailbox(ALICE, "a", "x/y").unwrap();
    let names: Vec<String> = s
        .mailboxes(ALICE)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    for n in ["x", "x/y", "x/y/b", "x/y/b/c", "ab"] {
        assert!(names.contains(&n.to_string()), "{n} in {names:?}");
    }
    for n in ["a", "a/b", "a/b/c"] {
        assert!(!names.contains(&n.to_string()), "{n} still in {names:?}");
    }
    let c2 = mbox(&s, ALICE, "x/y/b/c");
    assert_eq!(
        (c2.id, c2.uidvalidity, c2.messages),
        (c.id, c.uidvalidity, 1)
    );
    assert_eq!(mbox(&s, ALICE, "x/y").id, a.id);
    assert_eq!(s.mailbox_by_id(c.id).unwrap().unwrap().name, "x/y/b/c");
    assert_eq!(s.messages(c.id).unwrap().len(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn renaming_inbox_moves_its_messages_and_leaves_it_empty() {
    let dir = tmp();
    let s = store_with_user(&dir);
    deliver_n(&s, ALICE, 3);
    s.create_mailbox(ALICE, "INBOX/Child", None).unwrap();
    let inbox = mbox(&s, ALICE, "INBOX");
    s.expunge_uids(inbox.id, &[1]).unwrap();
    s.store_flags(
        inbox.id,
        &[3],
        &update(FlagOp::Add, flags::SEEN, &["$X"], None),
    )
    .unwrap();
    let blobs: Vec<BlobId> = s
        .messages(inbox.id)
        .unwrap()
        .iter()
        .map(|m| m.blob)
        .collect();
    let used = usage(&s, ALICE);
    let before = mbox(&s, ALICE, "INBOX");

    s.rename_mailbox(ALICE, "inbox", "Old/Mail").unwrap();
    let old = mbox(&s, ALICE, "Old/Mail");
    assert_ne!(old.id, inbox.id);
    assert_ne!(old.uidvalidity, inbox.uidvalidity);
    let moved = s.messages(old.id).unwrap();
    assert_eq!(moved.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        (moved[1].flags, moved[1].keywords.clone()),
        (flags::SEEN, vec!["$X".to_string()])
    );
    assert_eq!(moved.iter().map(|m| m.blob).collect::<Vec<_>>(), blobs);
    assert_eq!((old.messages, old.unseen), (2, 1));

    let after = mbox(&s, ALICE, "INBOX");
    assert_eq!(after.id, inbox.id);
    assert_eq!(after.uidvalidity, inbox.uidvalidity);
    assert_eq!(after.uidnext, before.uidnext, "UIDs are not reused");
    assert_eq!((after.messages, after.size), (0, 0));
    assert_eq!(
        s.vanished_since(inbox.id, before.highestmodseq).unwrap(),
        [(2, 3)]
    );
    assert!(
        s.mailbox(ALICE, "INBOX/Child").unwrap().is_some(),
        "inferiors stay"
    );
    assert!(
        s.mailbox(ALICE, "Old").unwrap().is_some(),
        "superior created"
    );
    assert_eq!(usage(&s, ALICE), used);
    for b in &blobs {
        assert_eq!(s.blob_refs(b).unwrap(), 1);
    }
    assert_eq!(deliver_n(&s, ALICE, 1), [before.uidnext]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn subscriptions_may_name_missing_mailboxes() {
    let dir = tmp();
    let s = store_with_user(&dir);
    assert_eq!(
        s.subscriptions(ALICE).unwrap(),
        ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    );
    s.create_mailbox(ALICE, "Lists", None).unwrap();
    assert!(!s
        .subscriptions(ALICE)
        .unwrap()
        .contains(&"Lists".to_string()));
    s.subscribe(ALICE, "Lists").unwrap();
    s.subscribe(ALICE, "Not/Yet").unwrap();
    s.delete_mailbox(ALICE, "Lists").unwrap();
    let subs = s.subscriptions(ALICE).unwrap();
    assert!(
        subs.contains(&"Lists".to_string()),
        "DELETE keeps the subscription"
    );
    assert!(subs.contains(&"Not/Yet".to_string()));
    s.unsubscribe(ALICE, "Not/Yet").unwrap();
    assert!(matches!(
        s.unsubscribe(ALICE, "Not/Yet"),
        Err(StoreError::NotFound(_))
    ));
    assert!(s.subscriptions(BOB).unwrap().len() == 6);
    s.remove_account(ALICE).unwrap();
    assert!(s.subscriptions(ALICE).unwrap().is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn removing_an_account_leaves_nothing_behind() {
    let dir = tmp();
    let s = store_with_user(&dir);
    deliver_n(&s, ALICE, 3);
    let inbox = mbox(&s, ALICE, "INBOX");
    s.expunge_uids(inbox.id, &[1]).unwrap();
    s.copy(inbox.id, &[2], "Archive").unwrap();
    s.remove_account(ALICE).unwrap();
    for tree in [&s.messages, &s.bodies, &s.modseqs, &s.vanished, &s.usage] {
        assert_eq!(tree.iter().count(), 0);
    }
    // Bob's six mailboxes stay in the id index.
    assert_eq!(s.mailbox_ids.iter().count(), 6);
    assert!(s.blobs.list().unwrap().is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_format_1_store_is_migrated_at_open() {
    let dir = tmp();
    let blob;
    {
        let s = store_with_user(&dir);
        blob = s.blobs.list().unwrap().first().copied();
        assert!(blob.is_none());
        // Write format-1 records by hand: one mailbox, two messages.
        let b = body(&s, b"old\r\n");
        let id = b.id;
        s.deliver(b, &[to(ALICE), to(ALICE)], None, 1).unwrap();
        for t in [
            &s.mailboxes,
            &s.mailbox_ids,
            &s.messages,
            &s.bodies,
            &s.modseqs,
            &s.usage,
            &s.subscriptions,
        ] {
            t.clear().unwrap();
        }
        let old = records::v1::Mailbox {
            id: 77,
            account: ALICE.into(),
            name: "INBOX".into(),
            uidvalidity: 78,
            uidnext: 3,
            highestmodseq: 5,
            special_use: None,
            subscribed: true,
        };
        s.mailboxes
            .insert(mailbox_key(ALICE, "INBOX"), encode(&old))
            .unwrap();
        for (uid, flags) in [(1u32, flags::SEEN), (2, 0)] {
            let m = records::v1::Message {
                uid,
                flags,
                keywords: vec!["$Old".into()],
                internal_date: 9,
                size: 5,
                modseq: 3 + u64::from(uid),
                prefix: b"P: 1\r\n".to_vec(),
                blob: id,
                cache: Some(vec![uid as u8]),
            };
            s.messages.insert(message_key(77, uid), encode(&m)).unwrap();
        }
        s.set_format_version_for_tests(1).unwrap();
    }
    let s = Store::open(&dir, 1 << 20).unwrap();
    assert_eq!(s.format_version().unwrap(), STORE_FORMAT);
    let m = mbox(&s, ALICE, "INBOX");
    assert_eq!(
        (m.id, m.uidvalidity, m.uidnext, m.highestmodseq),
        (77, 78, 3, 5)
    );
    assert_eq!((m.messages, m.unseen, m.size), (2, 1, 10));
    assert_eq!(s.mailbox_by_id(77).unwrap().unwrap().name, "INBOX");
    let msgs = s.messages(77).unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!((msgs[1].modseq, msgs[1].cache.clone()), (5, Some(vec![2])));
    assert_eq!(msgs[0].prefix, b"P: 1\r\n");
    assert_eq!(usage(&s, ALICE), 10);
    // And on to format 3: the POP3 size of "P: 1\r\n" + "old\r\n".
    assert_eq!(s.pop3_sizes(77).unwrap(), [(1, 11), (2, 11)]);
    assert_eq!(s.subscriptions(ALICE).unwrap(), ["INBOX"]);
    let c = s.changes(77, 2, 4).unwrap();
    assert_eq!(c.changed.iter().map(|m| m.uid).collect::<Vec<_>>(), [2]);
    // And it works on: expunge frees the shared body.
    s.expunge(ALICE, "INBOX", &[1, 2]).unwrap();
    assert!(s.blobs.list().unwrap().is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn concurrent_writers_keep_counters_indexes_and_references_consistent() {
    let dir = tmp();
    let s = std::sync::Arc::new(store_with_user(&dir));
    s.create_mailbox(ALICE, "Work", None).unwrap();
    let work = mbox(&s, ALICE, "Work").id;
    deliver_n(&s, ALICE, 20);
    let inbox = mbox(&s, ALICE, "INBOX").id;
    let mut threads = Vec::new();
    // Flag writers on INBOX.
    for t in 0..2u32 {
        let s = s.clone();
        threads.push(std::thread::spawn(move || {
            for i in 0..40u32 {
                let uid = 1 + (i * 2 + t) % 20;
                let op = if i % 2 == 0 {
                    FlagOp::Add
                } else {
                    FlagOp::Remove
                };
                s.store_flags(
                    inbox,
                    &[uid],
                    &update(op, flags::SEEN | flags::DELETED, &[], None),
                )
                .unwrap();
            }
        }));
    }
    // A deliverer into Work, and a deleter of Work racing with it.
    {
        let s = s.clone();
        threads.push(std::thread::spawn(move || {
            for i in 0..30 {
                let mut d = to(ALICE);
                d.mailbox = "Work".into();
                let b = body(&s, format!("work {i}\r\n").as_bytes());
                s.deliver(b, &[d], None, 1).unwrap();
            }
        }));
    }
    {
        let s = s.clone();
        threads.push(std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            s.delete_mailbox(ALICE, "Work").unwrap();
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    // Counters match the records.
    for m in s.mailboxes(ALICE).unwrap() {
        let list = s.summaries(m.id).unwrap();
        let unseen = list.iter().filter(|x| x.flags & flags::SEEN == 0).count() as u32;
        let deleted = list
            .iter()
            .filter(|x| x.flags & flags::DELETED != 0)
            .count() as u32;
        let size: u64 = list.iter().map(|x| x.size).sum();
        assert_eq!(
            (m.messages, m.unseen, m.deleted, m.size),
            (list.len() as u32, unseen, deleted, size),
            "{}",
            m.name
        );
        // One modseq index entry per message, at its modseq.
        let idx = s.modseqs.scan_prefix(m.id.to_be_bytes()).count();
        assert_eq!(idx, list.len(), "{}", m.name);
        for x in &list {
            assert!(s
                .modseqs
                .contains_key(modseq_key(m.id, x.modseq, x.uid))
                .unwrap());
            assert!(x.modseq <= m.highestmodseq);
        }
    }
    // Nothing is left of the deleted mailbox; usage and references add up.
    assert!(s.messages.scan_prefix(work.to_be_bytes()).next().is_none());
    let total: u64 = s.mailboxes(ALICE).unwrap().iter().map(|m| m.size).sum();
    assert_eq!(usage(&s, ALICE), total);
    let mut refs: BTreeMap<BlobId, u64> = BTreeMap::new();
    for m in s
        .mailboxes(ALICE)
        .unwrap()
        .iter()
        .chain(&s.mailboxes(BOB).unwrap())
    {
        for msg in s.messages(m.id).unwrap() {
            *refs.entry(msg.blob).or_default() += 1;
        }
    }
    for (id, n) in &refs {
        assert_eq!(s.blob_refs(id).unwrap(), *n);
    }
    let mut files = s.blobs.list().unwrap();
    files.sort();
    assert_eq!(files, refs.keys().copied().collect::<Vec<_>>());
    std::fs::remove_dir_all(dir).unwrap();
}

/// What POP3 reports for `bytes` (its own counter, RFC 1939 §11).
fn pop3_size(bytes: &[u8]) -> u64 {
    crate::proto::pop3::crlf_size(bytes)
}

#[test]
fn line_ends_give_the_pop3_size_of_joined_and_split_bytes() {
    // Every string over a small alphabet up to 6 bytes, cut everywhere.
    let alphabet = [b'a', b'\r', b'\n', b'.'];
    let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
    for len in 1..=6u32 {
        for n in 0..4usize.pow(len) {
            let mut v = Vec::new();
            let mut k = n;
            for _ in 0..len {
                v.push(alphabet[k % 4]);
                k /= 4;
            }
            inputs.push(v);
        }
    }
    for input in &inputs {
        let whole = pop3_size(input);
        assert_eq!(LineEnds::of(input).crlf_size(), whole, "{input:?}");
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            let joined = LineEnds::of(a).then(&LineEnds::of(b));
            assert_eq!(joined.crlf_size(), whole, "{a:?} + {b:?}");
            let mut streamed = LineEnds::of(a);
            streamed.update(b);
            assert_eq!(streamed, joined, "{a:?} + {b:?}");
        }
    }
}

/// A POP3 login reads sizes from the index, not the bodies.
#[test]
fn pop3_sizes_are_recorded_at_delivery_and_append() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let text: &[u8] = b"Subject: mixed\n\nbare LF\nCRLF\r\nbare CR\rno end";
    let b = body(&s, text);
    let blob = b.id;
    let d = to(ALICE);
    let mut whole = d.prefix.clone();
    whole.extend_from_slice(text);
    s.deliver(b, &[d], None, 1).unwrap();
    let appended = s
        .append(ALICE, "INBOX", body(&s, text), NewMessage::default())
        .unwrap();
    let inbox = mbox(&s, ALICE, "INBOX").id;
    // With the body files gone, the sizes are still known.
    std::fs::remove_file(s.blobs.path(&blob)).unwrap();
    let sizes = s.pop3_sizes(inbox).unwrap();
    assert_eq!(
        sizes,
        [(1, pop3_size(&whole)), (appended.uid, pop3_size(text))]
    );
    // COPY keeps it.
    s.copy(inbox, &[1], "Archive").unwrap();
    let archive = mbox(&s, ALICE, "Archive").id;
    assert_eq!(s.pop3_sizes(archive).unwrap(), [(1, pop3_size(&whole))]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_format_2_store_gets_pop3_sizes_at_open() {
    let dir = tmp();
    let text: &[u8] = b"Subject: old\n\nbare LF lines\nend";
    let prefix;
    {
        let s = store_with_user(&dir);
        let d = to(ALICE);
        prefix = d.prefix.clone();
        s.deliver(body(&s, text), &[d.clone(), d], None, 1).unwrap();
        // Rewrite the records in the format-2 layout.
        for kv in s.messages.iter() {
            let (k, v) = kv.unwrap();
            let m: MessageMeta = decode(&v).unwrap();
            let old = records::v2::MessageMeta {
                flags: m.flags,
                keywords: m.keywords,
                modseq: m.modseq,
                internal_date: m.internal_date,
                size: m.size,
            };
            s.messages.insert(k, encode(&old)).unwrap();
        }
        s.set_format_version_for_tests(2).unwrap();
    }
    let s = Store::open(&dir, 1 << 20).unwrap();
    assert_eq!(s.format_version().unwrap(), 3);
    let mut whole = prefix;
    whole.extend_from_slice(text);
    let inbox = mbox(&s, ALICE, "INBOX").id;
    let want = pop3_size(&whole);
    assert_ne!(want, whole.len() as u64);
    assert_eq!(s.pop3_sizes(inbox).unwrap(), [(1, want), (2, want)]);
    assert_eq!(s.messages(inbox).unwrap()[0].size, whole.len() as u64);
    drop(s);
    // Opening again changes nothing.
    let s = Store::open(&dir, 1 << 20).unwrap();
    assert_eq!(s.pop3_sizes(inbox).unwrap(), [(1, want), (2, want)]);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Below the reserve, new mail is refused with a distinct
/// error, and what lets users make room goes on working.
#[test]
fn the_disk_reserve_refuses_appends_but_not_reading_or_deleting() {
    let dir = tmp();
    let s = store_with_user(&dir);
    deliver_n(&s, ALICE, 2);
    s.check_room().unwrap();
    s.set_min_free(Some(u64::MAX));
    let err = s.check_room().unwrap_err();
    assert!(
        matches!(err, StoreError::InsufficientStorage { reserve, .. } if reserve == u64::MAX),
        "{err}"
    );
    assert!(err.to_string().contains("store.min_free"), "{err}");
    let refused = s.append(ALICE, "INBOX", body(&s, b"new\r\n"), NewMessage::default());
    assert!(matches!(
        refused,
        Err(StoreError::InsufficientStorage { .. })
    ));
    let inbox = mbox(&s, ALICE, "INBOX").id;
    assert_eq!(s.messages(inbox).unwrap().len(), 2);
    // Delivery reports still go into the reserve: deliver does not check.
    s.deliver(body(&s, b"report\r\n"), &[to(ALICE)], None, 1)
        .unwrap();
    s.store_flags(
        inbox,
        &[1],
        &FlagUpdate {
            op: FlagOp::Add,
            flags: flags::DELETED,
            keywords: Vec::new(),
            unchanged_since: None,
        },
    )
    .unwrap();
    s.copy(inbox, &[2], "Trash").unwrap();
    assert_eq!(s.expunge(ALICE, "INBOX", &[1, 2]).unwrap(), [1, 2]);
    s.set_min_free(None);
    std::fs::remove_dir_all(dir).unwrap();
}

/// RFC 3502 §3: MULTIAPPEND adds all its messages or none. When the
/// third does not fit in the quota, the first two are not added either
/// and no body is kept; when all fit, they get consecutive UIDs.
#[test]
fn append_all_adds_every_message_or_none() {
    let dir = tmp();
    let s = store_with_user(&dir);
    let texts: [&[u8]; 3] = [b"one\r\n", b"two\r\n", b"a third that does not fit\r\n"];
    s.set_quota(ALICE, 20).unwrap();
    let bodies: Vec<FinishedBlob> = texts.iter().map(|t| body(&s, t)).collect();
    let ids: Vec<BlobId> = bodies.iter().map(|b| b.id).collect();
    let msgs = bodies
        .into_iter()
        .map(|b| (b, NewMessage::default()))
        .collect();
    let err = s.append_all(ALICE, "INBOX", msgs).unwrap_err();
    assert!(matches!(err, StoreError::OverQuota(_)), "{err}");
    let inbox = mbox(&s, ALICE, "INBOX");
    assert_eq!((inbox.messages, inbox.uidnext), (0, 1));
    assert_eq!(usage(&s, ALICE), 0);
    assert!(ids.iter().all(|id| !s.blob_exists(id)));

    s.set_quota(ALICE, 1 << 20).unwrap();
    let msgs = texts
        .iter()
        .map(|t| (body(&s, t), NewMessage::default()))
        .collect();
    let added = s.append_all(ALICE, "INBOX", msgs).unwrap();
    let uids: Vec<u32> = added.iter().map(|a| a.uid).collect();
    assert_eq!(uids, [1, 2, 3]);
    assert_eq!(mbox(&s, ALICE, "INBOX").messages, 3);
}
