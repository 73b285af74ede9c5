//! The serial console through a pseudo-terminal pair: `facteur console
//! --device` opens the pty's terminal side as it would a serial line, and
//! the test types on the other side, as a person at minicom would.

mod common;

use common::server::{have_tool, run_bounded, smtp_send, test_config, Server, TempDir};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest wait for the console's answer (a password hash, a start).
const WAIT: Duration = Duration::from_secs(30);

/// A console session on a new pty.
struct Session {
    child: Child,
    /// The line; `None` once hung up. Shared with the reading thread,
    /// which holds no copy of its own, so that dropping it hangs up.
    master: Arc<Mutex<Option<File>>>,
    /// The terminal side, held open so that the pty stays up between
    /// the console's reads.
    _slave: OwnedFd,
    rx: Receiver<Vec<u8>>,
    /// Text received and not yet matched.
    pending: String,
    /// Everything received.
    transcript: String,
}

/// Opens a pty pair: the master and the terminal's path.
fn openpty() -> (File, OwnedFd, PathBuf) {
    let (mut master, mut slave) = (0, 0);
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: two out-parameters and a name buffer larger than the
    // kernel's pty names; no termios or window size given.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            name.as_mut_ptr(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: flags of the two descriptors just made: not inherited by
    // the processes other tests start (a copy of the master elsewhere
    // would keep the line up), and a master read that does not block.
    unsafe {
        libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(slave, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::fcntl(master, libc::F_SETFL, libc::O_NONBLOCK);
    }
    // SAFETY: openpty returned two new descriptors that we now own, and a
    // NUL-terminated name.
    let (master, slave, path) = unsafe {
        (
            File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
            std::ffi::CStr::from_ptr(name.as_ptr()),
        )
    };
    (master, slave, PathBuf::from(path.to_str().unwrap()))
}

impl Session {
    fn start(config: &Path) -> Session {
        let (master, slave, path) = openpty();
        let child = Command::new(common::server::bin())
            .arg("console")
            .arg("--device")
            .arg(&path)
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the console");
        let master = Arc::new(Mutex::new(Some(master)));
        let line = master.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let read = match line.lock().unwrap().as_mut() {
                    Some(m) => m.read(&mut buf),
                    None => break,
                };
                match read {
                    Ok(n) if n > 0 => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    // EIO once the console closed the terminal side.
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Session {
            child,
            master,
            _slave: slave,
            rx,
            pending: String::new(),
            transcript: String::new(),
        }
    }

    /// Waits for `text`; returns what came before it and it.
    fn expect(&mut self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.pending.find(text) {
                let upto = i + text.len();
                let seen = self.pending[..upto].to_string();
                self.pending.drain(..upto);
                return seen;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(bytes) => {
                    let s = String::from_utf8_lossy(&bytes);
                    self.pending.push_str(&s);
                    self.transcript.push_str(&s);
                }
                Err(_) => panic!(
                    "no {text:?} from the console; it showed:\n{}",
                    self.transcript
                ),
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let mut line = self.master.lock().unwrap();
        let m = line.as_mut().expect("the line is up");
        let mut rest = bytes;
        while !rest.is_empty() {
            match m.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("write to the console: {e}"),
            }
        }
    }

    /// Pulls the cable.
    fn hang_up(&mut self) {
        *self.master.lock().unwrap() = None;
    }

    /// Types a line and Enter (CR, as a serial terminal sends it).
    fn line(&mut self, text: &str) {
        self.send(text.as_bytes());
        self.send(b"\r");
    }

    /// Answers `prompt` with `text`.
    fn answer(&mut self, prompt: &str, text: &str) -> String {
        let seen = self.expect(prompt);
        self.line(text);
        seen
    }

    /// Waits for the console to end by itself; true when it succeeded.
    fn wait_exit(&mut self) -> bool {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(Instant::now() < deadline, "the console did not end");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Logs in as an admin from the login menu, once its prompt was seen;
/// returns what follows, up to the next prompt.
fn login(s: &mut Session, address: &str, password: &str) -> String {
    s.line("1");
    s.answer("admin address: ", address);
    s.answer("password: ", password);
    s.expect("choice: ")
}

/// Answers the first-boot wizard for `boss@example.test` in
/// `example.test`, with staff accounts `staff`, and no smarthost.
fn wizard(s: &mut Session, password: &str, staff: &str) {
    s.answer("(e.g. mail.example.com): ", "mail.example.test");
    s.answer("separated by commas: ", "example.test");
    s.answer("admin address: ", "boss@example.test");
    s.answer("(at least 10 characters): ", password);
    s.answer("the password again: ", password);
    s.answer("passwords are made): ", staff);
    s.answer("(empty: none): ", "");
    s.answer("(yes/no): ", "yes");
}

/// Answers a new password and its copy.
fn new_password(s: &mut Session, password: &str) {
    s.answer("password (empty: one is made and shown): ", password);
    s.answer("the password again: ", password);
}

/// The number of messages in `user`'s INBOX, read with Python's imaplib
/// over IMAPS; `None` without Python.
fn imap_inbox_count(srv: &Server, user: &str, password: &str) -> Option<String> {
    if !have_tool("python3") {
        common::missing("python3");
        return None;
    }
    let script = r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
M = imaplib.IMAP4_SSL(sys.argv[1], int(sys.argv[2]), ssl_context=ctx, timeout=30)
M.login(sys.argv[3], sys.argv[4])
typ, dat = M.select("INBOX")
print(dat[0].decode())
"#;
    let imaps = srv.addr("imaps");
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(script)
        .arg(imaps.ip().to_string())
        .arg(imaps.port().to_string())
        .arg(user)
        .arg(password);
    let (ok, out, err) = run_bounded(&mut cmd, Duration::from_secs(60));
    assert!(ok, "imaplib failed:\n{out}\n{err}");
    Some(out.trim().to_string())
}

#[test]
fn a_fresh_box_is_claimed_and_run_from_the_console() {
    let srv = Server::start("");
    let mut s = Session::start(&srv.config);
    // Status: the web page where the server listens, and the setup code.
    let menu = s.expect("choice: ");
    assert!(menu.contains("a new box, not set up yet"), "{menu}");
    s.line("1");
    let status = s.expect("choice: ");
    let code = std::fs::read_to_string(srv.dir.path().join("data/setup-code")).unwrap();
    assert!(
        status.contains(&format!("setup code: {}\r\n", code.trim())),
        "{status}"
    );
    let web = srv.addr("web");
    assert!(
        status.contains(&format!("web page: https://{web}/\r\n")),
        "{status}"
    );
    assert!(status.contains("\r\naddresses: "), "{status}");
    assert!(status.contains("setup: unclaimed"), "{status}");

    // The first-boot wizard: the web wizard's plan.
    s.line("2");
    wizard(&mut s, "the first password", "");
    let done = s.expect("choice: ");
    assert!(done.contains("the box is set up"), "{done}");
    assert!(done.contains(" 1  log in"), "{done}");
    assert!(!srv.dir.path().join("data/setup-code").exists());

    // Log in, add a user.
    let menu = login(&mut s, "boss@example.test", "the first password");
    assert!(menu.contains("== facteur: boss@example.test"), "{menu}");
    s.line("2");
    s.answer("choice: ", "2");
    s.answer("address: ", "carol@example.test");
    new_password(&mut s, "carol's own password");
    let added = s.expect("choice: ");
    assert!(added.contains("added user carol@example.test"), "{added}");
    s.line("0");
    s.answer("choice: ", "0");
    let out = s.expect("choice: ");
    assert!(out.contains("logged out"), "{out}");

    // Reset the admin's password without a login, then log in with it.
    s.line("2");
    s.answer("admin address: ", "boss@example.test");
    new_password(&mut s, "the second password");
    let reset = s.expect("choice: ");
    assert!(
        reset.contains("changed the password of boss@example.test"),
        "{reset}"
    );
    let refused = login(&mut s, "boss@example.test", "the first password");
    assert!(refused.contains("wrong address or password"), "{refused}");
    let menu = login(&mut s, "boss@example.test", "the second password");
    assert!(menu.contains("== facteur: boss@example.test"), "{menu}");
    s.line("0");
    s.answer("choice: ", "0");
    s.expect("bye");
    assert!(s.wait_exit());
    for pw in [
        "the first password",
        "carol's own password",
        "the second password",
    ] {
        assert!(!s.transcript.contains(pw), "{pw:?} was echoed");
    }

    // Mail flows for the new user.
    let r = smtp_send(
        srv.addr("smtp"),
        "someone@elsewhere.test",
        &["carol@example.test"],
        "Subject: hello\r\n\r\nfrom the console test\r\n",
    );
    assert!(r.starts_with("250"), "{r}");
    if let Some(n) = imap_inbox_count(&srv, "carol@example.test", "carol's own password") {
        assert_eq!(n, "1");
    }
}

#[test]
fn line_noise_and_a_hang_up_then_a_clean_session() {
    let srv = Server::start("");
    srv.add_user("boss@example.test", "a long password");
    let (ok, _, err) = srv.cli(&["user", "admin", "boss@example.test", "on"], None);
    assert!(ok, "{err}");
    let mut s = Session::start(&srv.config);
    s.expect("choice: ");
    // Binary garbage, a break (NUL), escape sequences: refused, and the
    // menu is drawn again.
    s.send(b"\x00\xff\xfe\x1b[31m\x80\x81garbage\r");
    let out = s.expect("choice: ");
    assert!(out.contains("only ASCII characters here"), "{out}");
    assert!(out.contains(" 1  log in"), "{out}");
    s.send(&[b'7'; 2000]);
    s.send(b"\r");
    let out = s.expect("choice: ");
    assert!(out.contains("line too long"), "{out}");
    // The cable is pulled in the middle of a question.
    s.line("1");
    s.expect("admin address: ");
    s.send(b"boss@exa");
    s.hang_up();
    assert!(s.wait_exit(), "the console ends cleanly on a hang-up");

    // The next session starts afresh.
    let mut s = Session::start(&srv.config);
    s.expect("choice: ");
    let menu = login(&mut s, "boss@example.test", "a long password");
    assert!(menu.contains("== facteur: boss@example.test"), "{menu}");
    s.line("1");
    let status = s.expect("choice: ");
    assert!(status.contains("setup: claimed"), "{status}");
    assert!(!status.contains("setup code:"), "{status}");
    s.line("8");
    let log = s.expect("choice: ");
    assert!(log.contains("admin login boss@example.test"), "{log}");
}

#[test]
fn without_a_server_the_console_sets_up_the_box_and_starts_it() {
    let dir = TempDir::new("console-offline");
    let config = dir.path().join("facteur.toml");
    std::fs::write(&config, test_config(dir.path(), "")).unwrap();
    let mut s = Session::start(&config);
    let menu = s.expect("choice: ");
    assert!(menu.contains("the server is not running"), "{menu}");
    assert!(menu.contains(" 1  first-boot setup"), "{menu}");
    assert!(menu.contains(" 2  start the server"), "{menu}");
    s.line("1");
    wizard(&mut s, "a long password", "dan@example.test");
    let done = s.expect("choice: ");
    assert!(done.contains("the box is set up"), "{done}");
    assert!(done.contains("password of dan@example.test: "), "{done}");
    assert!(done.contains(" 1  start the server"), "{done}");
    s.line("1");
    let started = s.expect("choice: ");
    let pid: i32 = started
        .split("(pid ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{started}"));
    assert!(started.contains("the server is running"), "{started}");
    assert!(started.contains(" 1  log in"), "{started}");
    let menu = login(&mut s, "boss@example.test", "a long password");
    assert!(menu.contains(" 1  status"), "{menu}");
    s.line("1");
    let status = s.expect("choice: ");
    assert!(status.contains("service smtp: up"), "{status}");
    s.line("0");
    s.answer("choice: ", "0");
    assert!(s.wait_exit());
    // SAFETY: a signal to the server this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let socket = dir.path().join("data/admin.sock");
    let deadline = Instant::now() + WAIT;
    while socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
}
