//! The README's "Try it" section, run as written: the server started as
//! the first block says (the embedded default, in a fresh directory), then
//! every command of the second block, with `facteur` on the PATH being
//! the binary under test.
//!
//! It uses the embedded default's fixed ports: it is the only test that
//! does, and it fails, naming the port, when one of them is busy.
//!
//! Without python3 or curl it prints a note and passes, unless
//! `FACTEUR_TEST_STRICT=1`, when it fails.

mod common;

use common::server::{bin, TempDir};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Longest the commands may take together.
const LIMIT: Duration = Duration::from_secs(180);

/// The fenced `sh` blocks of the README's "## Try it" section.
fn try_it_blocks() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let start = readme
        .find("\n## Try it\n")
        .expect("README has a \"## Try it\" section");
    let section = &readme[start + 1..];
    let section = section[3..]
        .find("\n## ")
        .map_or(section, |end| &section[..end + 3]);
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```sh\n") {
        let body = &rest[open + 6..];
        let close = body.find("\n```").expect("closed code block");
        blocks.push(body[..close].to_string());
        rest = &body[close + 4..];
    }
    blocks
}

/// The embedded default's ports (config/default.toml).
fn default_ports() -> Vec<u16> {
    let cfg = facteur::config::Config::parse(facteur::config::EMBEDDED_DEFAULT, "default")
        .expect("embedded default");
    let l = &cfg.listen;
    [
        &l.smtp,
        &l.submission,
        &l.submissions,
        &l.pop3,
        &l.pop3s,
        &l.imap,
        &l.imaps,
        &l.web,
        &l.web_plain,
    ]
    .into_iter()
    .flat_map(|a| a.0.iter().map(|s| s.port()))
    .collect()
}

fn have(tool: &str, probe: &[&str]) -> bool {
    let ok = Command::new(tool)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("FACTEUR_TEST_STRICT").as_deref() == Ok("1") {
            panic!("{tool} is required (FACTEUR_TEST_STRICT=1)");
        }
        eprintln!("note: {tool} not found, README test skipped");
    }
    ok
}

/// Kills the child on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `script` with bash in a process group of its own, killing the
/// group (the commands it started too) at `LIMIT`; returns (success,
/// stdout, stderr).
fn run_script(script: &str, dir: &Path, path: &str) -> (bool, String, String) {
    let child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("run bash");
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output();
        let _ = done.send(());
        out
    });
    if finished.recv_timeout(LIMIT).is_err() {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .status();
    }
    let out = waiter.join().expect("waiter").expect("bash output");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Issue 20: the README's "Try it" works as written on the embedded
/// default: mail from loopback on port 2525 is delivered at once, mail
/// over submission too, and IMAPS, the queue and `check message` answer.
#[test]
fn the_readme_try_it_section_works_as_written() {
    let blocks = try_it_blocks();
    assert_eq!(
        blocks.len(),
        2,
        "a block to start the server, one to try it"
    );
    assert_eq!(blocks[0].trim(), "cargo run --release");
    let commands = &blocks[1];
    if !have("python3", &["--version"]) || !have("curl", &["--version"]) {
        return;
    }
    for port in default_ports() {
        if let Err(e) = TcpListener::bind(("127.0.0.1", port)) {
            panic!(
                "port {port} of the embedded default is busy ({e}): stop what uses it \
                 (a `cargo run` of facteur?) and run this test again"
            );
        }
    }
    let dir = TempDir::new("readme");
    // The first block: the server on the embedded default, in a fresh
    // directory so that ./data is new.
    let mut server = Running(
        Command::new(bin())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start facteur"),
    );
    let stdout = server.0.stdout.take().expect("stdout");
    let (ready, is_ready) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains(" ready (data in ") {
                let _ = ready.send(());
            }
        }
    });
    if is_ready.recv_timeout(Duration::from_secs(60)).is_err() {
        let mut err = String::new();
        if let Some(mut e) = server.0.stderr.take() {
            let _ = server.0.kill();
            let _ = e.read_to_string(&mut err);
        }
        panic!("the server did not start: {err}");
    }
    // `facteur` in the commands is the binary under test.
    let bin_dir = Path::new(bin()).parent().expect("binary directory");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (ok, out, err) = run_script(commands, dir.path(), &path);
    assert!(ok, "the README commands failed:\n{out}\n{err}");
    assert!(out.contains("added user alice@example.test"), "{out}");
    assert!(
        out.contains("* SEARCH 1 2"),
        "both messages delivered at once: {out}\n{err}"
    );
    let saved = std::fs::read_to_string(dir.path().join("saved.eml")).expect("saved.eml");
    assert!(saved.contains("First message, from outside."), "{saved}");
    assert!(out.contains("Authentication-Results:"), "{out}");
    let _ = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
}
