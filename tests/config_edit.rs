//! `facteur config get/set/unset` on the config file: comments and layout
//! kept byte for byte, all or nothing, the same errors as `check-config`,
//! the previous file kept as `FILE.bak`, and the embedded default written
//! to `DATA_DIR/facteur.toml` by the first change.

mod common;

use common::server::{bin, cli, TempDir};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The production config (config/facteur.toml, every key commented) with
/// its data in `dir`.
fn production_config(dir: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/facteur.toml"))
            .expect("read config/facteur.toml");
    let data = dir.join("data");
    let text = text.replace(
        "data_dir = \"/var/lib/facteur\"",
        &format!("data_dir = \"{}\"", data.display()),
    );
    assert!(text.contains(&data.display().to_string()));
    let file = dir.join("facteur.toml");
    std::fs::write(&file, text).expect("write config");
    file
}

/// The lines of `a` and `b` that differ, as (line number, old, new).
fn diff(a: &str, b: &str) -> Vec<(usize, String, String)> {
    assert_eq!(a.lines().count(), b.lines().count(), "same line count");
    a.lines()
        .zip(b.lines())
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, (x, y))| (i + 1, x.to_string(), y.to_string()))
        .collect()
}

#[test]
fn set_changes_only_the_line_of_the_key_and_keeps_a_backup() {
    let dir = TempDir::new("cfg-set");
    let file = production_config(dir.path());
    let before = std::fs::read_to_string(&file).unwrap();
    let (ok, out, err) = cli(
        &file,
        &["config", "set", "limits.max_connections", "300"],
        None,
    );
    assert!(ok, "{out} {err}");
    assert_eq!(out, "limits.max_connections = 300\n");
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        diff(&before, &after),
        [(
            before
                .lines()
                .position(|l| l == "max_connections = 256")
                .unwrap()
                + 1,
            "max_connections = 256".to_string(),
            "max_connections = 300".to_string()
        )]
    );
    assert_eq!(after.len(), before.len(), "the rest is byte for byte");
    let bak = std::fs::read(format!("{}.bak", file.display())).unwrap();
    assert_eq!(bak, before.as_bytes());
    // Bare words are strings; several keys at once.
    let (ok, out, err) = cli(
        &file,
        &[
            "config",
            "set",
            "server.hostname",
            "mx.example.org",
            "store.cache_capacity",
            "8 MiB",
        ],
        None,
    );
    assert!(ok, "{out} {err}");
    let third = std::fs::read_to_string(&file).unwrap();
    assert_eq!(diff(&after, &third).len(), 2, "{:?}", diff(&after, &third));
    assert!(third.contains("\nhostname = \"mx.example.org\"\n"));
    assert!(third.contains("\ncache_capacity = \"8 MiB\"\n"));
    assert_eq!(
        std::fs::read_to_string(format!("{}.bak", file.display())).unwrap(),
        after
    );
}

#[test]
fn an_invalid_value_changes_nothing_and_gives_the_check_config_error() {
    let dir = TempDir::new("cfg-bad");
    let file = production_config(dir.path());
    let before = std::fs::read(&file).unwrap();
    let (ok, out, err) = cli(
        &file,
        &["config", "set", "limits.max_connections_per_ip", "999"],
        None,
    );
    assert!(!ok, "{out}");
    assert_eq!(std::fs::read(&file).unwrap(), before, "byte-identical");
    assert!(!Path::new(&format!("{}.bak", file.display())).exists());
    // The same text check-config gives for that file.
    let text = String::from_utf8(before.clone()).unwrap();
    std::fs::write(
        &file,
        text.replace(
            "max_connections_per_ip = 20",
            "max_connections_per_ip = 999",
        ),
    )
    .unwrap();
    let (ok, _, check) = cli(&file, &["check-config"], None);
    assert!(!ok);
    assert!(check.contains("limits.max_connections_per_ip"), "{check}");
    assert_eq!(err, check);
    std::fs::write(&file, &before).unwrap();
    // An unknown key, a value of the wrong type, one bad change among good ones.
    for args in [
        &["config", "set", "limits.max_connection", "3"][..],
        &["config", "set", "timeouts.imap_idle", "often"],
        &[
            "config",
            "set",
            "limits.max_recipients",
            "50",
            "log.level",
            "loud",
        ],
        &["config", "set", "limits.max_recipients", "[1"],
    ] {
        let (ok, _, err) = cli(&file, args, None);
        assert!(!ok, "{args:?}");
        assert!(err.starts_with("facteur: "), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), before, "{args:?}");
    }
}

#[test]
fn get_prints_defaults_and_unset_restores_them() {
    let dir = TempDir::new("cfg-get");
    let file = production_config(dir.path());
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("imap_idle = \"30m\"\n", "")).unwrap();
    // Not in the file: its default.
    let (ok, out, _) = cli(&file, &["config", "get", "timeouts.imap_idle"], None);
    assert!(ok);
    assert_eq!(out, "timeouts.imap_idle = \"30m\"\n");
    let (ok, out, _) = cli(&file, &["config", "get", "server.hostname"], None);
    assert!(ok);
    assert_eq!(out, "server.hostname = \"mail.example.com\"\n");
    let (ok, _, err) = cli(&file, &["config", "get", "server.nothing"], None);
    assert!(!ok && err.contains("server.nothing"), "{err}");
    let before = std::fs::read_to_string(&file).unwrap();
    assert!(cli(&file, &["config", "set", "timeouts.imap_idle", "45m"], None).0);
    let (_, out, _) = cli(&file, &["config", "get", "timeouts.imap_idle"], None);
    assert_eq!(out, "timeouts.imap_idle = \"45m\"\n");
    assert!(cli(&file, &["config", "unset", "timeouts.imap_idle"], None).0);
    let (_, out, _) = cli(&file, &["config", "get", "timeouts.imap_idle"], None);
    assert_eq!(out, "timeouts.imap_idle = \"30m\"\n");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
}

#[test]
fn the_first_change_to_the_embedded_default_writes_data_dir_facteur_toml() {
    let dir = TempDir::new("cfg-embedded");
    let run = |args: &[&str]| {
        let out = Command::new(bin())
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("run facteur");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, _) = run(&["check-config"]);
    assert!(ok && out.starts_with("embedded default: ok"), "{out}");
    let (ok, out, err) = run(&["config", "set", "limits.max_recipients", "50"]);
    assert!(ok, "{out} {err}");
    let written = std::fs::read_to_string(dir.path().join("data/facteur.toml")).unwrap();
    assert_eq!(
        written,
        facteur::config::EMBEDDED_DEFAULT.to_string() + "\n[limits]\nmax_recipients = 50\n"
    );
    let (ok, out, _) = run(&["config", "get", "limits.max_recipients"]);
    assert!(ok);
    assert_eq!(out, "limits.max_recipients = 50\n");
    let (ok, out, _) = run(&["check-config"]);
    assert!(ok && out.starts_with("./data/facteur.toml: ok"), "{out}");
}
