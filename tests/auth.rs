//! Passwords end to end: the failure limiter against the running server
//! (per address and per account, attempts reserved before verification),
//! and the memory of adding users through the running server.

mod common;

use common::server::{Lines, Server};
use std::sync::{Arc, Barrier};
use std::time::Duration;

const ALICE: &str = "alice@example.test";
const BOB: &str = "bob@example.test";
const ALICE_PW: &str = "alice's long password";
const BOB_PW: &str = "bob's long password";

/// Plaintext logins (the limiter, not TLS, is under test) and no delays
/// before the refusal, which comes at `refuse` failures.
fn limits(refuse: u32) -> String {
    format!(
        "[tls]\nallow_plaintext_auth = true\n[limits]\n\
         auth_failures_before_delay = {refuse}\nauth_failures_before_refusal = {refuse}\n"
    )
}

/// A POP3 connection with USER sent and answered.
fn pop3_user(srv: &Server, user: &str) -> Lines {
    let mut c = Lines::connect(srv.addr("pop3"));
    assert!(c.line().starts_with("+OK"));
    c.cmd(&format!("USER {user}"));
    assert!(c.line().starts_with("+OK"));
    c
}

/// The reply to PASS on a fresh POP3 connection; the session is ended.
fn pop3_login(srv: &Server, user: &str, password: &str) -> String {
    let mut c = pop3_user(srv, user);
    c.cmd(&format!("PASS {password}"));
    let reply = c.line();
    c.cmd("QUIT");
    reply
}

const FAILED: &str = "-ERR [AUTH]";
const REFUSED: &str = "-ERR [SYS/TEMP]";

/// Issue 13 item 2: wrong passwords for bob with a correct login for
/// alice after each one, all from one address. Alice's successes must not
/// forgive bob's failures: the address is refused at the limit, for every
/// account, and bob's account is refused from anywhere.
#[test]
fn good_logins_for_one_account_do_not_reset_failures_for_another() {
    let srv = Server::start(&limits(6));
    srv.add_user(ALICE, ALICE_PW);
    srv.add_user(BOB, BOB_PW);
    let mut bob_replies = Vec::new();
    for _ in 0..10 {
        let r = pop3_login(&srv, BOB, "guess");
        let refused = r.starts_with(REFUSED);
        bob_replies.push(r);
        if refused {
            break;
        }
        let a = pop3_login(&srv, ALICE, ALICE_PW);
        let failed = bob_replies.iter().filter(|r| r.starts_with(FAILED)).count();
        if failed < 6 {
            assert!(a.starts_with("+OK"), "alice logs in meanwhile: {a}");
        } else {
            assert!(a.starts_with(REFUSED), "the address is refused: {a}");
        }
    }
    let failed = bob_replies.iter().filter(|r| r.starts_with(FAILED)).count();
    assert_eq!(failed, 6, "verified guesses: {bob_replies:?}");
    assert!(
        bob_replies.last().is_some_and(|r| r.starts_with(REFUSED)),
        "{bob_replies:?}"
    );
    // The address is refused for every account, a right password too.
    assert!(pop3_login(&srv, ALICE, ALICE_PW).starts_with(REFUSED));
    assert!(pop3_login(&srv, BOB, BOB_PW).starts_with(REFUSED));
}

/// Issue 13 item 2: attempts made at the same moment are each reserved
/// before the password is verified, so no more than the limit are
/// verified however many arrive together.
#[test]
fn parallel_attempts_cannot_exceed_the_limit() {
    let srv = Arc::new(Server::start(&limits(4)));
    srv.add_user(BOB, BOB_PW);
    const CLIENTS: usize = 16;
    let ready = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (srv, ready) = (srv.clone(), ready.clone());
            std::thread::spawn(move || {
                let mut c = pop3_user(&srv, BOB);
                ready.wait();
                c.cmd(&format!("PASS guess {i}"));
                c.line()
            })
        })
        .collect();
    let replies: Vec<String> = clients
        .into_iter()
        .map(|t| t.join().expect("client"))
        .collect();
    let failed = replies.iter().filter(|r| r.starts_with(FAILED)).count();
    let refused = replies.iter().filter(|r| r.starts_with(REFUSED)).count();
    assert_eq!((failed, refused), (4, CLIENTS - 4), "{replies:?}");
}

/// Correct logins arriving together from one address, three times the
/// failure limit, are verified a few at a time: every one succeeds, none
/// is refused as if it were a failure.
#[test]
fn parallel_correct_logins_from_one_address_all_succeed() {
    const CLIENTS: usize = 30;
    let srv = Arc::new(Server::start(&format!(
        "{}max_connections_per_ip = {}\n",
        limits(10),
        CLIENTS + 5
    )));
    srv.add_user(ALICE, ALICE_PW);
    let replies = parallel_imap_logins(&srv, CLIENTS);
    let ok = replies.iter().filter(|r| r.starts_with("a OK")).count();
    assert_eq!(ok, CLIENTS, "{replies:?}");
}

/// `clients` IMAP logins as ALICE arriving at once; the tagged replies.
fn parallel_imap_logins(srv: &Arc<Server>, clients: usize) -> Vec<String> {
    let ready = Arc::new(Barrier::new(clients));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (srv, ready) = (srv.clone(), ready.clone());
            std::thread::spawn(move || {
                let mut c = Lines::connect(srv.addr("imap"));
                let greeting = c.line();
                ready.wait();
                assert!(greeting.starts_with("* OK"), "{greeting}");
                c.cmd(&format!("a LOGIN {ALICE} \"{ALICE_PW}\""));
                let reply = c.line();
                c.cmd("b LOGOUT");
                reply
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("client"))
        .collect()
}

/// Resident memory of a process, from /proc (fails the test when it
/// cannot be read: a memory test that cannot measure must not pass).
fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// Idle memory once the server has settled.
fn idle_rss_kib(srv: &Server) -> u64 {
    std::thread::sleep(Duration::from_millis(1500));
    vm_rss_kib(srv.pid())
}

/// Adding users through the running server hashes their passwords on
/// the password workers, each of which allocates its memory once: 50
/// adds leave idle memory within 2 MiB of where it was (it grew by about
/// 5 MiB per add when each hash ran on a pool thread).
#[test]
fn adding_users_through_the_server_does_not_grow_its_memory() {
    let srv = Arc::new(Server::start(&limits(10)));
    // Logins arriving together keep every worker busy (one per core, up
    // to password::MAX_WORKERS = 4), so each has allocated its memory,
    // for good, before the measure.
    srv.add_user(ALICE, ALICE_PW);
    let replies = parallel_imap_logins(&srv, 16);
    assert!(replies.iter().all(|r| r.starts_with("a OK")), "{replies:?}");
    let before = idle_rss_kib(&srv);
    for i in 0..50 {
        srv.add_user(&format!("user{i}@example.test"), "a long password");
    }
    let after = idle_rss_kib(&srv);
    assert!(
        after <= before + 2048,
        "idle RSS went from {before} KiB to {after} KiB after 50 user adds"
    );
}

/// The number in a `facteur memory` line such as `malloc arenas: 2 (at
/// most 2)`.
fn memory_figure(report: &str, label: &str) -> usize {
    report
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in {report:?}"))
}

/// The arena cap is in force in the running server: after logins and
/// deliveries in parallel have run on every kind of thread (executor,
/// pool, password workers), the allocator has at most two arenas (glibc
/// alone makes one per thread that allocates, up to 8 per core).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_running_server_keeps_to_its_malloc_arena_cap() {
    let srv = Arc::new(Server::start(&limits(10)));
    srv.add_user(ALICE, ALICE_PW);
    const CLIENTS: usize = 12;
    let ready = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (srv, ready) = (srv.clone(), ready.clone());
            std::thread::spawn(move || {
                ready.wait();
                if i % 2 == 0 {
                    let body = format!("Subject: {i}\r\n\r\n{}\r\n", "text ".repeat(4000));
                    common::server::smtp_send(srv.addr("smtp"), "x@example.net", &[ALICE], &body)
                } else {
                    let mut c = Lines::connect(srv.addr("imap"));
                    c.line();
                    c.cmd(&format!("a LOGIN {ALICE} \"{ALICE_PW}\""));
                    c.line();
                    c.cmd("b SELECT INBOX");
                    c.until_ok("b");
                    c.cmd("c LOGOUT");
                    String::new()
                }
            })
        })
        .collect();
    for t in clients {
        t.join().expect("client");
    }
    let (ok, report, err) = srv.cli(&["memory"], None);
    assert!(ok, "{report} {err}");
    let arenas = memory_figure(&report, "malloc arenas:");
    assert!((1..=2).contains(&arenas), "{report}");
    assert!(memory_figure(&report, "resident:") > 0, "{report}");
}
