//! `facteur backup`, `backup verify` and `restore` (see
//! [`facteur::backup`]).

use super::{admin_answer, admin_command, command_error, fail, take_flag, take_option};
use facteur::admin::Request;
use facteur::backup;
use facteur::config::Config;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs one of the commands; `args` starts with `backup` or `restore`.
pub fn run(cfg: &Config, args: &mut Vec<String>) -> ExitCode {
    let stdout = take_flag(args, "--stdout");
    let keep = match take_option(args, "--keep") {
        Ok(None) => cfg.backup.keep,
        Ok(Some(n)) => match n.parse() {
            Ok(n) => n,
            Err(_) => return command_error("backup", &format!("--keep {n:?}: not a number")),
        },
        Err(e) => return command_error("backup", &e),
    };
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["backup"] if stdout => to_stdout(cfg),
        ["backup", "verify", path] => verify(Path::new(path)),
        ["backup", dest] if !stdout => to_dir(cfg, dest, keep),
        ["restore", src] => match backup::restore(src, &cfg.server.data_dir) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        [first, ..] => command_error(first, "wrong arguments"),
        [] => command_error("backup", "wrong arguments"),
    }
}

fn to_dir(cfg: &Config, dest: &str, keep: u32) -> ExitCode {
    // The server resolves the path: make it absolute here.
    if let Err(e) = std::fs::create_dir_all(dest) {
        return fail(&format!("cannot create {dest}: {e}"));
    }
    let dest = match std::fs::canonicalize(dest) {
        Ok(d) => d,
        Err(e) => return fail(&format!("{dest}: {e}")),
    };
    let req = Request::Backup {
        dest: dest.display().to_string(),
        keep,
        link: false,
    };
    admin_command(cfg, None, req)
}

/// A snapshot staged in the data dir (bodies hard-linked, so it costs
/// little room), written to stdout as tar, then removed.
fn to_stdout(cfg: &Config) -> ExitCode {
    let staging = match std::fs::canonicalize(&cfg.server.data_dir) {
        Ok(d) => d.join(format!("backup-stream-{}", std::process::id())),
        Err(e) => return fail(&format!("{}: {e}", cfg.server.data_dir.display())),
    };
    let result = stage_and_write(cfg, &staging);
    let _ = std::fs::remove_dir_all(&staging);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn stage_and_write(cfg: &Config, staging: &Path) -> Result<(), String> {
    let req = Request::Backup {
        dest: staging.display().to_string(),
        keep: 0,
        link: true,
    };
    admin_answer(cfg, None, req)?;
    let snap: PathBuf = backup::snapshots(staging)?
        .pop()
        .ok_or("the snapshot was not made")?;
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 << 10, out.lock());
    backup::tar::write(&snap, &mut out).map_err(|e| format!("cannot write the stream: {e}"))?;
    out.flush().map_err(|e| e.to_string())
}

/// Checks a snapshot, or each snapshot of a backup dir.
fn verify(path: &Path) -> ExitCode {
    let list = if path.join("MANIFEST").exists() || path.join("index.dump").exists() {
        vec![path.to_path_buf()]
    } else {
        match backup::snapshots(path) {
            Ok(l) if !l.is_empty() => l,
            Ok(_) => return fail(&format!("{}: no snapshot there", path.display())),
            Err(e) => return fail(&e),
        }
    };
    let mut ok = true;
    for snap in list {
        let v = backup::verify(&snap);
        if v.problems.is_empty() {
            println!(
                "{}: ok ({} index records, {} bodies)",
                snap.display(),
                v.records,
                v.bodies
            );
        } else {
            ok = false;
            println!("{}: {} problems", snap.display(), v.problems.len());
            for p in v.problems {
                println!("  {p}");
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
