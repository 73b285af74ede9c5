//! Helpers for the unit tests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh, empty directory under the system temp dir, unique to this
/// process and call: `facteur-<name>-<pid>-<n>`.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let p = std::env::temp_dir().join(format!(
        "facteur-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).expect("create a temp dir");
    p
}

/// A store in `dir` with the account `a@example.com`.
pub fn store_with_account(dir: &std::path::Path) -> crate::store::Store {
    let s = crate::store::Store::open(dir, 1 << 20).expect("open store");
    s.add_domain("example.com").expect("add domain");
    s.add_account("a@example.com", "x").expect("add account");
    s
}

/// Delivers `body` to the INBOX of `a@example.com`.
pub fn deliver_to_a(s: &crate::store::Store, body: &[u8]) {
    let mut w = s.blob_writer().expect("blob writer");
    w.write(body).expect("write body");
    let d = crate::store::Delivery {
        account: "a@example.com".into(),
        mailbox: "INBOX".into(),
        prefix: Vec::new(),
        flags: 0,
        keywords: Vec::new(),
        cache: None,
    };
    s.deliver(w.finish().expect("finish"), &[d], None, 1_700_000_000)
        .expect("deliver");
}
