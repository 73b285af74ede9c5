//! The admin engine through the real binary: claiming a new box with its
//! setup code, the admin flag, a first-boot profile applied all or
//! nothing, the in-memory log and the status summary.

mod common;

use common::server::{cli, smtp_send, Server};
use std::os::unix::fs::PermissionsExt;

/// The setup code the log gives, e.g. `7KQ4-XM2P-9RTA`.
fn logged_code(log: &str) -> Option<String> {
    let line = log.lines().rev().find(|l| l.contains("setup code "))?;
    let rest = line.split("setup code ").nth(1)?;
    Some(rest.split_whitespace().next()?.to_string())
}

#[test]
fn an_unclaimed_box_has_a_setup_code_until_an_admin_exists() {
    let srv = Server::start("");
    let file = srv.dir.path().join("data/setup-code");
    let code = logged_code(&srv.log()).expect("the code is logged");
    assert_eq!(code.len(), 14, "{code}");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), code);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let (ok, out, err) = srv.cli(&["status"], None);
    assert!(ok, "{err}");
    assert!(out.contains("setup: unclaimed"), "{out}");

    // Logged again, with a new code, at every start while unclaimed.
    let srv = srv.restart();
    let again = logged_code(&srv.log()).expect("logged again");
    assert_ne!(again, code);
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), again);

    // A staff account does not claim the box; an admin does.
    srv.add_user("staff@example.test", "a long password");
    assert!(file.exists());
    let (ok, out, err) = srv.cli(
        &[
            "user",
            "add",
            "boss@example.test",
            "--admin",
            "--password-stdin",
        ],
        Some("a long password"),
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "added admin boss@example.test");
    assert!(!file.exists(), "the code file goes once claimed");
    let (_, out, _) = srv.cli(&["status"], None);
    assert!(out.contains("setup: claimed"), "{out}");
    let (_, out, _) = srv.cli(&["user", "list"], None);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["boss@example.test (admin)", "staff@example.test"]
    );

    // The last admin keeps the flag; with a second one it may go.
    let (ok, _, err) = srv.cli(&["user", "admin", "boss@example.test", "off"], None);
    assert!(!ok);
    assert!(err.contains("last admin"), "{err}");
    let (ok, _, err) = srv.cli(&["user", "remove", "boss@example.test"], None);
    assert!(!ok && err.contains("last admin"), "{err}");
    let (ok, _, err) = srv.cli(&["user", "admin", "staff@example.test", "on"], None);
    assert!(ok, "{err}");
    let (ok, _, err) = srv.cli(&["user", "admin", "boss@example.test", "off"], None);
    assert!(ok, "{err}");
    let (ok, _, err) = srv.cli(&["user", "admin", "boss@example.test", "maybe"], None);
    assert!(!ok && err.contains("neither on nor off"), "{err}");

    // Claimed: a restart makes no code.
    let srv = srv.restart();
    assert!(!file.exists());
    let last_start = srv.log();
    let last_start = last_start.rsplit(" started with ").next().unwrap_or("");
    assert!(!last_start.contains("unclaimed"));
}

const PROFILE: &str = r#"
hostname = "mx.example.test"
domains = ["example.test", "branch.test"]
admin = { address = "boss@branch.test", password = "a long password" }
[[staff]]
address = "ann@example.test"
[[staff]]
address = "BAD_STAFF"
"#;

#[test]
fn a_setup_profile_is_applied_whole_or_not_at_all() {
    let srv = Server::start("");
    let profile = srv.dir.path().join("profile.toml");
    std::fs::write(&profile, PROFILE.replace("BAD_STAFF", "bob@nowhere.test")).unwrap();
    let path = profile.to_str().unwrap();
    let (ok, _, err) = srv.cli(&["setup", path], None);
    assert!(!ok);
    assert!(err.contains("staff.1.address"), "{err}");
    // Nothing was done: no account, no domain, still unclaimed.
    let (_, out, _) = srv.cli(&["user", "list"], None);
    assert_eq!(out.trim(), "");
    let (_, out, _) = srv.cli(&["domain", "list"], None);
    assert_eq!(out.trim(), "example.test");
    assert!(srv.dir.path().join("data/setup-code").exists());

    // An account that exists: found only by the store, after the config
    // file was written; the file is put back byte for byte.
    let config = std::fs::read(&srv.config).unwrap();
    srv.add_user("bob@example.test", "a long password");
    std::fs::write(&profile, PROFILE.replace("BAD_STAFF", "bob@example.test")).unwrap();
    let (ok, _, err) = srv.cli(&["setup", path], None);
    assert!(!ok);
    assert!(
        err.contains("staff.1.address") && err.contains("exists"),
        "{err}"
    );
    assert_eq!(std::fs::read(&srv.config).unwrap(), config);
    let (_, out, _) = srv.cli(&["user", "list"], None);
    assert_eq!(out.trim(), "bob@example.test");
    let (_, out, _) = srv.cli(&["domain", "list"], None);
    assert_eq!(out.trim(), "example.test");
    assert!(srv.dir.path().join("data/setup-code").exists());
    let (ok, _, err) = srv.cli(&["user", "remove", "bob@example.test"], None);
    assert!(ok, "{err}");

    let (ok, out, err) = srv.cli(&["setup", path], None);
    assert!(ok, "{err}");
    assert!(out.starts_with("the box is set up"), "{out}");
    assert!(out.contains("password of ann@example.test: "), "{out}");
    assert!(out.contains("password of bob@example.test: "), "{out}");
    assert!(
        out.contains("branch.test. IN MX 10 mx.example.test."),
        "{out}"
    );
    // The host name and domains are in the config file.
    let (_, out, _) = srv.cli(&["config", "get", "server.hostname"], None);
    assert_eq!(out.trim(), "server.hostname = \"mx.example.test\"");
    let (_, out, _) = srv.cli(&["config", "get", "server.domains"], None);
    assert!(out.contains("branch.test"), "{out}");
    let (_, out, _) = srv.cli(&["user", "list"], None);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "ann@example.test",
            "bob@example.test",
            "boss@branch.test (admin)"
        ]
    );
    assert!(!srv.dir.path().join("data/setup-code").exists());
    // Mail to the new domain is accepted at once.
    let r = smtp_send(
        srv.addr("smtp"),
        "someone@sender.test",
        &["boss@branch.test"],
        "Subject: hi\r\n\r\nhello\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    // Once claimed, a profile is refused.
    let (ok, _, err) = srv.cli(&["setup", path], None);
    assert!(!ok && err.contains("already set up"), "{err}");
}

#[test]
fn log_and_status_come_from_the_running_server() {
    let mut srv = Server::start("");
    srv.add_user("ann@example.test", "a long password");
    let r = smtp_send(
        srv.addr("smtp"),
        "someone@sender.test",
        &["ann@example.test"],
        "Subject: hi\r\n\r\nhello\r\n",
    );
    assert!(r.starts_with("250"), "{r}");

    let (ok, out, err) = srv.cli(&["status"], None);
    assert!(ok, "{err}");
    let smtp = srv.addr("smtp").to_string();
    for want in [
        format!("facteur {}", env!("CARGO_PKG_VERSION")),
        "uptime: 0d 00h".into(),
        "memory (RSS): ".into(),
        "data disk: ".into(),
        "queue: 0 message(s)".into(),
        "today: 1 received, 1 delivered, 0 refused, 0 to Junk".into(),
        format!("service smtp: up on {smtp}"),
        "service web: up on 127.0.0.1:".into(),
    ] {
        assert!(out.contains(&want), "{want:?} in {out}");
    }
    assert!(!out.contains("memory (RSS): unknown"), "{out}");

    let (ok, out, err) = srv.cli(&["log", "500"], None);
    assert!(ok, "{err}");
    assert!(out.contains(" started with "), "{out}");
    assert!(out.contains("delivered to 1 mailbox(es)"), "{out}");
    let (ok, out, _) = srv.cli(&["log", "3"], None);
    assert!(ok);
    assert_eq!(out.lines().count(), 3, "{out}");
    // The same lines as on stderr.
    let last = out.lines().last().unwrap_or_default().to_string();
    assert!(srv.log().contains(&last), "{last}");
    let (ok, _, err) = srv.cli(&["log", "many"], None);
    assert!(!ok && err.contains("not a number"), "{err}");

    // Without a running server there is nothing to ask.
    assert!(srv.stop());
    for args in [&["status"][..], &["log"]] {
        let (ok, _, err) = cli(&srv.config, args, None);
        assert!(!ok);
        assert!(err.contains("the server is not running"), "{err}");
    }
}
