//! Starts the real `facteur` binary on ephemeral loopback ports with a
//! temp data dir, and speaks line protocols to it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_facteur")
}

/// A fresh temp directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Creates `facteur-test-<pid>-<n>-<name>` under the system temp dir.
    pub fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "facteur-test-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A config for tests: every listener on 127.0.0.1 port 0, data in `dir`,
/// plus `extra` TOML appended (tables other than [server]/[listen]).
/// The inbound antispam checks are off unless `extra` has an [antispam]
/// table: they would ask the machine's resolver about every sender.
pub fn test_config(dir: &Path, extra: &str) -> String {
    let antispam = if extra.contains("[antispam]") {
        ""
    } else {
        "[antispam]\nenabled = false\n"
    };
    format!(
        "[server]\nhostname = \"mail.example.test\"\ndata_dir = \"{}\"\ndomains = [\"example.test\"]\n\n\
         [listen]\nsmtp = \"127.0.0.1:0\"\nsubmission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"\n\
         pop3 = \"127.0.0.1:0\"\npop3s = \"127.0.0.1:0\"\nimap = \"127.0.0.1:0\"\nimaps = \"127.0.0.1:0\"\n\
         web = \"127.0.0.1:0\"\nweb_plain = \"127.0.0.1:0\"\n\n{antispam}\n{extra}\n",
        dir.join("data").display()
    )
}

/// A running server.
pub struct Server {
    child: Option<Child>,
    /// Its temp dir (config and data).
    pub dir: TempDir,
    /// Path of the config file.
    pub config: PathBuf,
    /// Listening address per service name (`smtp`, `imap`, ...).
    pub addrs: HashMap<String, SocketAddr>,
    stderr_log: PathBuf,
}

impl Server {
    /// Starts a server with the test config plus `extra`.
    pub fn start(extra: &str) -> Server {
        let dir = TempDir::new("srv");
        let config = dir.path().join("facteur.toml");
        std::fs::write(&config, test_config(dir.path(), extra)).expect("write config");
        Server::start_with(dir, config)
    }

    /// Starts a server on an existing dir and config (e.g. a restart).
    pub fn start_with(dir: TempDir, config: PathBuf) -> Server {
        let stderr_log = dir.path().join("stderr.log");
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_log)
            .expect("stderr log");
        let mut child = Command::new(bin())
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("start facteur");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut addrs = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(" ready") => break,
                Ok(line) => {
                    if let Some((svc, addr)) = line.split_once(" listening on ") {
                        addrs.insert(svc.to_string(), addr.parse().expect("address"));
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(&stderr_log).unwrap_or_default();
                    panic!("facteur did not start:\n{log}");
                }
            }
        }
        Server {
            child: Some(child),
            dir,
            config,
            addrs,
            stderr_log,
        }
    }

    /// The address of a service.
    pub fn addr(&self, service: &str) -> SocketAddr {
        self.addrs[service]
    }

    /// Runs `facteur ARGS --config <ours>` and returns (success, stdout, stderr).
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        cli(&self.config, args, stdin)
    }

    /// Adds a user with a known password.
    pub fn add_user(&self, address: &str, password: &str) {
        let (ok, out, err) = self.cli(
            &["user", "add", address, "--password-stdin"],
            Some(password),
        );
        assert!(ok, "user add failed: {out} {err}");
    }

    /// The server's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Stops with SIGTERM and waits (bounded); returns the exit success.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Kills with SIGKILL (a crash or power cut) and waits.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops (or has been killed) and starts again on the same data.
    pub fn restart(mut self) -> Server {
        if self.child.is_some() {
            assert!(self.stop(), "clean stop");
        }
        let dir = std::mem::replace(&mut self.dir, TempDir(PathBuf::new()));
        Server::start_with(dir, self.config.clone())
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the CLI with a config file.
pub fn cli(config: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run facteur");
    if let Some(input) = stdin {
        let mut s = child.stdin.take().expect("stdin");
        s.write_all(input.as_bytes()).expect("write stdin");
        s.write_all(b"\n").expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A line-oriented client connection with read timeouts.
pub struct Lines {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Lines {
    /// Connects with a 20 s read timeout.
    pub fn connect(addr: SocketAddr) -> Lines {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Lines {
            reader: BufReader::new(s.try_clone().expect("clone")),
            writer: s,
        }
    }

    /// Reads one line without its CRLF; empty at EOF.
    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).expect("read line");
        l.trim_end_matches(['\r', '\n']).to_string()
    }

    /// Reads an SMTP reply (all continuation lines); returns the last line.
    pub fn reply(&mut self) -> String {
        loop {
            let l = self.line();
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return l;
            }
        }
    }

    /// Reads IMAP responses up to the one tagged `tag`, which must be OK;
    /// returns the lines before it.
    pub fn until_ok(&mut self, tag: &str) -> Vec<String> {
        let tagged = format!("{tag} ");
        let mut lines = Vec::new();
        loop {
            let l = self.line();
            if l.starts_with(&tagged) {
                assert!(l.starts_with(&format!("{tag} OK")), "{l} after {lines:?}");
                return lines;
            }
            lines.push(l);
            assert!(lines.len() < 10_000, "no reply tagged {tag}: {lines:?}");
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    /// Sends a line with CRLF.
    pub fn cmd(&mut self, line: &str) {
        self.send(format!("{line}\r\n").as_bytes());
    }

    /// Reads until the server closes the connection and returns what came
    /// before. Fails if the read times out instead: a server that keeps
    /// the socket open has not closed it. A reset counts as closed.
    pub fn rest(&mut self) -> String {
        let mut bytes = Vec::new();
        if let Err(e) = self.reader.read_to_end(&mut bytes) {
            let open = matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            );
            assert!(
                !open,
                "the server did not close the connection: {e}; read so far: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Opens the store of a stopped server. The index lock of a store this
/// process opened and dropped just before is released by sled's flusher
/// thread as it ends, a moment later: wait for it, for a bounded time.
pub fn open_store(data_dir: &Path) -> facteur::store::Store {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match facteur::store::Store::open(data_dir, 1 << 20) {
            Err(facteur::store::StoreError::Locked(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            r => return r.expect("open store"),
        }
    }
}

/// The messages of a mailbox as clients see them (prefix + body), read
/// through the store API. The server must be stopped.
pub fn mailbox_messages(data_dir: &Path, account: &str, mailbox: &str) -> Vec<Vec<u8>> {
    let store = open_store(data_dir);
    let Some(mbox) = store.mailbox(account, mailbox).expect("mailbox") else {
        return Vec::new();
    };
    store
        .messages(mbox.id)
        .expect("messages")
        .into_iter()
        .map(|m| {
            let mut bytes = m.prefix.clone();
            let mut f = store.open_blob(&m.blob).expect("blob");
            f.read_to_end(&mut bytes).expect("read blob");
            bytes
        })
        .collect()
}

/// The body of a stored message after the prepended trace headers
/// (Return-Path, Delivered-To, Received and its folded lines).
pub fn strip_trace(msg: &[u8]) -> &[u8] {
    let mut rest = msg;
    let mut in_trace = false;
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").map(|p| p + 2);
        let Some(end) = line_end else { return rest };
        let line = &rest[..end];
        let continuation = line.starts_with(b" ") || line.starts_with(b"\t");
        let trace = line.starts_with(b"Return-Path:")
            || line.starts_with(b"Delivered-To:")
            || line.starts_with(b"Received:");
        if trace || (continuation && in_trace) {
            in_trace = true;
            rest = &rest[end..];
        } else {
            return rest;
        }
    }
}

/// Whether an external tool exists; in strict mode (CI) a missing tool is
/// a failure, otherwise the caller skips.
pub fn have_tool(path: &str) -> bool {
    let found = if path.contains('/') {
        Path::new(path).exists()
    } else {
        Command::new("sh")
            .args(["-c", &format!("command -v {path}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if !found {
        super::missing(path);
    }
    found
}

/// Runs a command with a time bound; returns (success, stdout, stderr).
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Sends one message over plain SMTP; returns the final reply line.
pub fn smtp_send(addr: SocketAddr, from: &str, to: &[&str], body: &str) -> String {
    let mut c = Lines::connect(addr);
    let g = c.reply();
    assert!(g.starts_with("220"), "{g}");
    c.cmd("EHLO client.test");
    c.reply();
    c.cmd(&format!("MAIL FROM:<{from}>"));
    let r = c.reply();
    if !r.starts_with("250") {
        return r;
    }
    for t in to {
        c.cmd(&format!("RCPT TO:<{t}>"));
        let r = c.reply();
        if !r.starts_with("250") {
            return r;
        }
    }
    c.cmd("DATA");
    let r = c.reply();
    if !r.starts_with("354") {
        return r;
    }
    c.send(body.as_bytes());
    c.send(b".\r\n");
    let r = c.reply();
    c.cmd("QUIT");
    r
}

/// The certificate an IMAPS connection presents, as base64 DER (Python's
/// ssl module), or `None` without python3.
pub fn presented(srv: &Server) -> Option<String> {
    if !have_tool("python3") {
        return None;
    }
    let addr = srv.addr("imaps");
    let (ok, out, err) = run_bounded(
        Command::new("python3").arg("-c").arg(format!(
            "import ssl; print(ssl.get_server_certificate(('{}', {})))",
            addr.ip(),
            addr.port()
        )),
        Duration::from_secs(30),
    );
    assert!(ok, "{err}");
    Some(pem_body(&out))
}

/// The first PEM block's base64, without line breaks.
pub fn pem_body(pem: &str) -> String {
    pem.lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect()
}
