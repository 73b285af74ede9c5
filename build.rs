//! Records the build's git revision and target for `facteur --version`.
//!
//! Without git or a `.git` (a source tarball), the revision is "unknown",
//! or `FACTEUR_GIT_REV` from the environment when a packager sets it.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_string())
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=FACTEUR_GIT_REV");
    // HEAD moves on checkout; its reflog on every commit. Only files that
    // exist are watched: a missing one would rerun this at every build.
    for file in ["HEAD", "logs/HEAD"] {
        if let Some(path) = git(&["rev-parse", "--git-path", file]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    let rev = std::env::var("FACTEUR_GIT_REV")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".into());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=FACTEUR_GIT_REV={rev}");
    println!("cargo:rustc-env=FACTEUR_TARGET={target}");
}
