//! The binary, its config, the admin commands and the store's durability,
//! end to end over real processes and sockets.

mod common;

use common::server::{bin, cli, test_config, Lines, Server, TempDir};
use std::process::Command;
use std::time::{Duration, Instant};

fn run_expect_failure(config: &std::path::Path) -> String {
    let mut child = Command::new(bin())
        .args(["run", "--config"])
        .arg(config)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            assert!(!status.success(), "facteur should have refused to start");
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                !stdout.contains("ready"),
                "no partial start: nothing may be announced: {stdout}"
            );
            let errors: Vec<&str> = stderr
                .lines()
                .filter(|l| l.starts_with("facteur:"))
                .collect();
            assert_eq!(errors.len(), 1, "one error line: {stderr}");
            return errors[0].to_string();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("facteur kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn version_is_printed() {
    let out = Command::new(bin()).arg("--version").output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8_lossy(&out.stdout);
    let expected = format!("facteur {} (git ", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&expected), "{line}");
}

#[test]
fn check_config_accepts_the_examples_and_names_key_and_line_of_errors() {
    let root = env!("CARGO_MANIFEST_DIR");
    let ok = Command::new(bin())
        .args([
            "check-config",
            "--config",
            &format!("{root}/config/facteur.toml"),
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let embedded = Command::new(bin()).arg("check-config").output().unwrap();
    assert!(embedded.status.success());

    let dir = TempDir::new("cfg");
    let f = dir.path().join("bad.toml");
    std::fs::write(
        &f,
        "[server]\nhostname = \"mail.example.test\"\n\n[limits]\nmax_connections = \"many\"\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["check-config", "--config"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:5"), "{err}");
    assert!(err.contains("limits.max_connections"), "{err}");
    assert!(err.contains("expected u32"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn server_starts_announces_listeners_and_admin_works_live_and_offline() {
    let mut srv = Server::start("");
    for svc in [
        "smtp",
        "submission",
        "submissions",
        "pop3",
        "pop3s",
        "imap",
        "imaps",
        "web",
    ] {
        assert!(srv.addr(svc).ip().is_loopback(), "{svc}");
    }
    let mut smtp = Lines::connect(srv.addr("smtp"));
    let greeting = smtp.line();
    assert!(greeting.starts_with("220 mail.example.test"), "{greeting}");

    // The configured domain was added at start.
    let (ok, out, _) = srv.cli(&["domain", "list"], None);
    assert!(ok);
    assert_eq!(out.trim(), "example.test");

    // Admin commands while the server runs go through its socket.
    let (ok, out, err) = srv.cli(&["domain", "add", "second.test"], None);
    assert!(ok, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("added domain second.test"), "{out}");
    // The new domain gets a DKIM key.
    assert!(
        lines.next().is_some_and(|l| l.contains("DKIM key")),
        "{out}"
    );
    srv.add_user("alice@example.test", "s3cret pass");
    let (ok, out, _) = srv.cli(&["user", "add", "bob@second.test"], None);
    assert!(ok);
    assert!(
        out.contains("password: "),
        "generated password shown: {out}"
    );
    let (ok, _, err) = srv.cli(&["user", "add", "carol@nowhere.test"], None);
    assert!(!ok);
    assert!(err.contains("not a local domain"), "{err}");
    let (ok, _, err) = srv.cli(
        &[
            "alias",
            "add",
            "team@example.test",
            "alice@example.test,bob@second.test",
        ],
        None,
    );
    assert!(ok, "{err}");
    let (ok, _, _) = srv.cli(&["alias", "add", "@second.test", "bob@second.test"], None);
    assert!(ok);
    let (_, out, _) = srv.cli(&["alias", "list"], None);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "@second.test -> bob@second.test",
            "team@example.test -> alice@example.test,bob@second.test"
        ]
    );
    let (ok, out, _) = srv.cli(&["queue", "list"], None);
    assert!(ok);
    assert_eq!(out.trim(), "");
    let (ok, _, err) = srv.cli(&["queue", "retry", "42"], None);
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");
    let (ok, _, err) = srv.cli(&["domain", "remove", "second.test"], None);
    assert!(!ok, "a domain with users cannot go");
    assert!(err.contains("remove them first"), "{err}");
    assert!(srv.log().contains("admin: user add alice@example.test"));
    assert!(
        !srv.log().contains("s3cret"),
        "passwords never reach the log"
    );

    // The socket is private to the server's user.
    let sock = srv.dir.path().join("data/admin.sock");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // Stopped: the CLI opens the store itself and sees the same data.
    assert!(srv.stop());
    assert!(!sock.exists(), "the socket is removed on a clean stop");
    let (ok, out, err) = cli(&srv.config, &["user", "list"], None);
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["alice@example.test", "bob@second.test"]
    );
    let (ok, _, _) = cli(&srv.config, &["alias", "remove", "@second.test"], None);
    assert!(ok);
    let (ok, _, _) = cli(&srv.config, &["user", "remove", "bob@second.test"], None);
    assert!(ok);

    // And a restarted server sees what was changed offline.
    let srv = srv.restart();
    let (_, out, _) = srv.cli(&["user", "list"], None);
    assert_eq!(out.trim(), "alice@example.test");
}

#[test]
fn the_first_start_generates_a_certificate_that_later_starts_keep() {
    let srv = Server::start("");
    let cert = srv.dir.path().join("data/tls/cert.pem");
    let key = srv.dir.path().join("data/tls/key.pem");
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the key is private");
    let srv = srv.restart();
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), pem);
    drop(srv);
}

#[test]
fn bad_setups_fail_with_one_line_and_no_partial_start() {
    // A port in use.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let dir = TempDir::new("busy");
    let f = dir.path().join("f.toml");
    let text = test_config(dir.path(), "").replace(
        "imap = \"127.0.0.1:0\"",
        &format!("imap = \"127.0.0.1:{port}\""),
    );
    std::fs::write(&f, text).unwrap();
    let err = run_expect_failure(&f);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("listen.imap"), "{err}");

    // A data dir that cannot be created (its parent is a file).
    let dir = TempDir::new("nodir");
    std::fs::write(dir.path().join("file"), b"").unwrap();
    let f = dir.path().join("f.toml");
    let text = test_config(dir.path(), "").replace(
        &format!("{}/data", dir.path().display()),
        &format!("{}/file/data", dir.path().display()),
    );
    std::fs::write(&f, text).unwrap();
    let err = run_expect_failure(&f);
    assert!(err.contains("data dir"), "{err}");

    // An unreadable certificate.
    let dir = TempDir::new("nocert");
    let f = dir.path().join("f.toml");
    std::fs::write(
        &f,
        test_config(
            dir.path(),
            "[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
        ),
    )
    .unwrap();
    let err = run_expect_failure(&f);
    assert!(
        err.contains("cannot read certificate /nonexistent/cert.pem"),
        "{err}"
    );

    // A malformed config.
    let dir = TempDir::new("badcfg");
    let f = dir.path().join("f.toml");
    std::fs::write(
        &f,
        "[server]\nhostname = \"mail.example.test\"\n[listen]\nsmtp = 25\n",
    )
    .unwrap();
    let err = run_expect_failure(&f);
    assert!(err.contains("f.toml:4: key `listen.smtp`"), "{err}");
}

#[test]
fn a_store_from_a_newer_binary_is_refused_and_left_alone() {
    let dir = TempDir::new("newer");
    let f = dir.path().join("f.toml");
    std::fs::write(&f, test_config(dir.path(), "")).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    {
        let store = facteur::store::Store::open(&data, 1 << 20).unwrap();
        store
            .set_format_version_for_tests(facteur::store::STORE_FORMAT + 1)
            .unwrap();
    }
    let err = run_expect_failure(&f);
    assert!(err.contains("newer than this binary"), "{err}");
    let (ok, _, err) = cli(&f, &["user", "list"], None);
    assert!(!ok);
    assert!(err.contains("newer than this binary"), "{err}");
    let store = facteur::store::Store::open(&data, 1 << 20);
    assert!(store.is_err(), "still refused: nothing rewrote the version");
}

/// Admin writes acknowledged before a SIGKILL are all there after restart.
#[test]
fn acknowledged_writes_survive_sigkill() {
    let mut srv = Server::start("");
    let socket = srv.dir.path().join("data/admin.sock");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let socket = socket.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) || i >= 5000 {
                        break;
                    }
                    let name = format!("d{t}-{i}.test");
                    let req = facteur::admin::Request::DomainAdd(name.clone());
                    match facteur::admin::call(&socket, &req) {
                        Ok(Some(facteur::admin::Response::Ok(_))) => acked.push(name),
                        // The server died mid-request: not acknowledged.
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    srv.kill();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(acked.len() > 20, "the burst was under way: {}", acked.len());

    let srv = srv.restart();
    let (ok, out, err) = srv.cli(&["domain", "list"], None);
    assert!(ok, "{err}");
    let present: std::collections::HashSet<&str> = out.lines().collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|d| !present.contains(d.as_str()))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}
