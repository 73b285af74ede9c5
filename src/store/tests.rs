use super::*;

fn tmp() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let p = std::env::temp_dir().join(format!(
        "facteur-store-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
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
