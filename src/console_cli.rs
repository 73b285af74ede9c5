//! `facteur console`: the serial console on a device or the current
//! terminal, over the admin engine as the other commands use it (the
//! running server's admin socket, or the store when none runs).

use facteur::admin::Request;
use facteur::config::Config;
use facteur::config_edit::Source;
use facteur::console::core::{Engine, Settings};
use facteur::console::tty::{self, Terminal};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The line speed of `--device` without `--baud`.
const DEFAULT_BAUD: u32 = 115_200;

/// Longest wait for a server just started to answer.
const START_WAIT: Duration = Duration::from_secs(30);

/// The options of `facteur console`.
pub struct Options {
    /// `--device PATH`: a serial line; none: the current terminal.
    pub device: Option<String>,
    /// `--baud N`.
    pub baud: Option<String>,
    /// `--service UNIT`: the systemd unit that runs the server, started
    /// by "start the server"; none: `facteur run` in the background.
    pub service: Option<String>,
}

/// Runs `facteur console`.
pub fn run(opts: Options, config_path: &Option<PathBuf>) -> ExitCode {
    let Options {
        device,
        baud,
        service,
    } = opts;
    let baud = match baud.map(|b| b.parse::<u32>()) {
        None => DEFAULT_BAUD,
        Some(Ok(b)) => b,
        Some(Err(_)) => return super::command_error("console", "--baud needs a number"),
    };
    let cfg = match super::load(config_path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let terminal = match &device {
        Some(path) => Terminal::device(Path::new(path), baud),
        None => Terminal::current(),
    };
    let mut terminal = match terminal {
        Ok(t) => t,
        Err(e) => return super::fail(&e),
    };
    let settings = Settings {
        allow_reset: cfg.console.allow_reset,
        idle_timeout: cfg.console.idle_timeout.0,
        // A serial line says nothing of its charset: ASCII.
        utf8: device.is_none() && tty::locale_is_utf8(),
    };
    let mut engine = CliEngine {
        source: Source::new(config_path.clone()),
        service,
    };
    match terminal.session(settings, &mut engine) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => super::fail(&e),
    }
}

/// The engine as the command line reaches it. The config is read again
/// for each call: the wizard and reloads change it.
struct CliEngine {
    source: Source,
    service: Option<String>,
}

impl CliEngine {
    fn config(&self) -> Result<Config, String> {
        self.source.load().map_err(|e| format!("config error: {e}"))
    }
}

impl Engine for CliEngine {
    fn call(&mut self, req: Request) -> Result<Vec<String>, String> {
        let cfg = self.config()?;
        super::admin_answer(&cfg, Some(self.source.file()), req)
    }

    fn running(&mut self) -> bool {
        self.config()
            .is_ok_and(|cfg| std::os::unix::net::UnixStream::connect(cfg.admin_socket()).is_ok())
    }

    /// Starts the systemd unit given with `--service`; without it, runs
    /// `facteur run` in the background, in a process group of its own (a
    /// hang-up of the console's line does not reach it).
    fn start(&mut self) -> Result<Vec<String>, String> {
        if self.running() {
            return Ok(vec!["the server is already running".into()]);
        }
        let cfg = self.config()?;
        let mut lines = Vec::new();
        if let Some(unit) = &self.service {
            let status = Command::new("systemctl")
                .args(["start", unit])
                .stdin(Stdio::null())
                .status()
                .map_err(|e| format!("cannot run systemctl: {e}"))?;
            if !status.success() {
                return Err(format!("systemctl start {unit}: {status}"));
            }
        } else {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut cmd = Command::new(exe);
            cmd.arg("run");
            if self.source.file().exists() {
                cmd.arg("--config").arg(self.source.file());
            }
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .map_err(|e| format!("cannot start the server: {e}"))?;
            lines.push(format!("started the server (pid {})", child.id()));
        }
        let deadline = Instant::now() + START_WAIT;
        while !self.running() {
            if Instant::now() > deadline {
                return Err(format!(
                    "the server does not answer on {} yet: see its log",
                    cfg.admin_socket().display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        lines.push("the server is running".into());
        Ok(lines)
    }

    fn dns_records(&mut self, domain: &str) -> Result<Vec<String>, String> {
        let cfg = self.config()?;
        super::zone_text(&cfg, domain).map(|text| text.lines().map(String::from).collect())
    }
}
