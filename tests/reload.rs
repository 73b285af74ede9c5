//! Live reload: `facteur reload`, SIGHUP and `facteur config set` on a
//! running server apply the config file without dropping connections.

mod common;

use common::server::{pem_body, presented, smtp_send, Lines, Server};
use std::process::Command;
use std::time::{Duration, Instant};

const ALICE: &str = "alice@example.test";
const PASSWORD: &str = "alice password";
const PLAIN: &str = "[tls]\nallow_plaintext_auth = true\n";

fn login(srv: &Server) -> Lines {
    let mut c = Lines::connect(srv.addr("imap"));
    assert!(c.line().starts_with("* OK"));
    c.cmd(&format!("a LOGIN {ALICE} \"{PASSWORD}\""));
    c.until_ok("a");
    c
}

/// Waits (bounded) until the server's log has `n` lines containing `what`.
fn wait_log(srv: &Server, what: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = srv.log();
        if log.matches(what).count() >= n {
            return log;
        }
        assert!(Instant::now() < deadline, "no {what:?} in the log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends SIGHUP to the server.
fn hang_up(srv: &Server) {
    let hup = Command::new("kill")
        .args(["-HUP", &srv.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
}

#[test]
fn sighup_while_twenty_clients_idle_drops_none() {
    let srv = Server::start(&format!("{PLAIN}[limits]\nmax_connections_per_ip = 20\n"));
    srv.add_user(ALICE, PASSWORD);
    let mut clients: Vec<Lines> = (0..20)
        .map(|_| {
            let mut c = login(&srv);
            c.cmd("b SELECT INBOX");
            c.until_ok("b");
            c.cmd("c IDLE");
            assert!(c.line().starts_with("+ "), "continuation");
            c
        })
        .collect();
    let config = std::fs::read_to_string(&srv.config).unwrap();
    // Room for one more client from this address.
    let more = config.replace("max_connections_per_ip = 20", "max_connections_per_ip = 21");
    assert_ne!(more, config);
    std::fs::write(&srv.config, more).unwrap();
    hang_up(&srv);
    let log = wait_log(&srv, "reload: reloaded", 1);
    assert!(log.contains("1 setting(s) changed"), "{log}");
    for c in &mut clients {
        c.cmd("DONE");
        c.until_ok("c");
        c.cmd("d NOOP");
        c.until_ok("d");
    }
    // New connections are served too.
    let mut c = login(&srv);
    c.cmd("b NOOP");
    c.until_ok("b");
}

#[test]
fn a_domain_added_to_the_file_takes_mail_after_reload() {
    let srv = Server::start(PLAIN);
    let bob = "bob@new.test";
    let r = smtp_send(
        srv.addr("smtp"),
        "x@remote.test",
        &[bob],
        "Subject: a\r\n\r\na\r\n",
    );
    assert!(r.starts_with("5"), "{r}");
    let config = std::fs::read_to_string(&srv.config).unwrap();
    let edited = config.replace(
        "domains = [\"example.test\"]",
        "domains = [\"example.test\", \"new.test\"]",
    );
    assert_ne!(edited, config);
    std::fs::write(&srv.config, edited).unwrap();
    let (ok, out, err) = srv.cli(&["reload"], None);
    assert!(ok, "{out} {err}");
    assert!(out.contains("added domain new.test"), "{out}");
    srv.add_user(bob, "bob password 1");
    let r = smtp_send(
        srv.addr("smtp"),
        "x@remote.test",
        &[bob],
        "Subject: b\r\n\r\nb\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
}

#[test]
fn config_set_applies_limits_and_listeners_and_names_restart_keys() {
    let srv = Server::start(PLAIN);
    srv.add_user(ALICE, PASSWORD);
    let mut first = login(&srv);
    // A limit: one connection per address from now on.
    let (ok, out, err) = srv.cli(
        &["config", "set", "limits.max_connections_per_ip", "1"],
        None,
    );
    assert!(ok, "{out} {err}");
    assert!(out.contains("limits.max_connections_per_ip = 1"), "{out}");
    assert!(out.contains("reloaded"), "{out}");
    let mut second = Lines::connect(srv.addr("imap"));
    let l = second.line();
    assert!(l.starts_with("* BYE"), "{l}");
    first.cmd("b NOOP");
    first.until_ok("b");
    drop(first);
    let (ok, _, _) = srv.cli(
        &["config", "set", "limits.max_connections_per_ip", "20"],
        None,
    );
    assert!(ok);
    // A listener moved: the new address answers, the old one is closed,
    // and a connection made on the old one goes on.
    let mut kept = login(&srv);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let new = format!("127.0.0.1:{port}");
    let (ok, out, err) = srv.cli(&["config", "set", "listen.imap", &new], None);
    assert!(ok, "{out} {err}");
    assert!(out.contains(&format!("imap listening on {new}")), "{out}");
    let mut moved = Lines::connect(new.parse().unwrap());
    assert!(moved.line().starts_with("* OK"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(srv.addr("imap")).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the old imap listener still accepts"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    kept.cmd("c NOOP");
    kept.until_ok("c");
    // A busy address keeps the old listener and says so.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let (ok, out, err) = srv.cli(&["config", "set", "listen.imap", &busy_addr], None);
    assert!(ok, "{out} {err}");
    assert!(out.contains("the old listener stays"), "{out}");
    let mut still = Lines::connect(new.parse().unwrap());
    assert!(still.line().starts_with("* OK"));
    // Restart-only settings are named.
    let (ok, out, err) = srv.cli(&["config", "set", "store.cache_capacity", "8 MiB"], None);
    assert!(ok, "{out} {err}");
    assert!(
        out.contains("restart needed for: store.cache_capacity"),
        "{out}"
    );
}

#[test]
fn an_invalid_file_changes_nothing() {
    let srv = Server::start(PLAIN);
    srv.add_user(ALICE, PASSWORD);
    let config = std::fs::read_to_string(&srv.config).unwrap();
    std::fs::write(&srv.config, config + "[limits]\nmax_connections = 0\n").unwrap();
    let (ok, out, err) = srv.cli(&["reload"], None);
    assert!(!ok, "{out}");
    assert!(
        err.contains("config error") && err.contains("limits.max_connections"),
        "{err}"
    );
    assert!(err.contains("nothing changed"), "{err}");
    // The same file read by the server itself, on SIGHUP.
    hang_up(&srv);
    let log = wait_log(&srv, "reload: config error", 1);
    assert!(log.contains("nothing changed"), "{log}");
    let mut c = login(&srv);
    c.cmd("b NOOP");
    c.until_ok("b");
    // A set through the server that fails validation leaves the file alone.
    let before = std::fs::read(&srv.config).unwrap();
    let (ok, _, err) = srv.cli(&["config", "set", "limits.max_recipients", "50"], None);
    assert!(!ok);
    assert!(err.contains("limits.max_connections"), "{err}");
    assert_eq!(std::fs::read(&srv.config).unwrap(), before);
}

#[test]
fn a_new_certificate_is_presented_by_new_imaps_connections() {
    let srv = Server::start(PLAIN);
    let data = srv.dir.path().join("data");
    let old = std::fs::read_to_string(data.join("tls/cert.pem")).unwrap();
    let Some(before) = presented(&srv) else {
        return;
    };
    assert_eq!(before, pem_body(&old));
    let made = rcgen::generate_simple_self_signed(vec!["mail.example.test".to_string()]).unwrap();
    let cert = srv.dir.path().join("new-cert.pem");
    let key = srv.dir.path().join("new-key.pem");
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let (ok, out, err) = srv.cli(
        &[
            "config",
            "set",
            "tls.cert",
            &cert.display().to_string(),
            "tls.key",
            &key.display().to_string(),
        ],
        None,
    );
    assert!(ok, "{out} {err}");
    let after = presented(&srv).unwrap();
    assert_eq!(after, pem_body(&made.cert.pem()));
    assert_ne!(after, before);
    // A key that does not match: refused, the new pair stays in force.
    let other = rcgen::generate_simple_self_signed(vec!["x.test".to_string()]).unwrap();
    std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
    let (ok, _, err) = srv.cli(&["reload"], None);
    assert!(!ok, "a mismatched key is refused");
    assert!(!err.is_empty());
    assert_eq!(presented(&srv).unwrap(), after);
}
