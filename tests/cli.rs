//! The command line: help per command, unknown options, the version line,
//! and the password rule of every face that sets a password.

mod common;

use common::server::{bin, cli, test_config, Server, TempDir};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run facteur")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// Every command, and a line its usage alone has.
const COMMANDS: &[(&str, &str)] = &[
    ("run", "run   "),
    ("check-config", "check-config "),
    ("domain add", "domain add NAME"),
    ("domain list", "domain list"),
    ("domain remove", "domain remove NAME"),
    ("user add", "user add ADDRESS [--password-stdin]"),
    ("user passwd", "user passwd ADDRESS [--password-stdin]"),
    ("user list", "user list"),
    ("user admin", "user admin ADDRESS on|off"),
    ("setup", "setup FILE"),
    ("status", "status   "),
    ("log", "log [N]"),
    ("user remove", "user remove ADDRESS"),
    ("alias add", "alias add ALIAS TARGET"),
    ("alias list", "alias list"),
    ("alias remove", "alias remove ALIAS"),
    ("queue list", "queue list"),
    ("queue retry", "queue retry ID|all"),
    ("queue remove", "queue remove ID"),
    ("memory", "memory   "),
    (
        "dkim generate",
        "dkim generate DOMAIN [--algorithm rsa|ed25519]",
    ),
    ("dns-records", "dns-records DOMAIN"),
    ("check spf", "check spf --ip IP --helo NAME"),
    ("check message", "check message FILE --ip IP"),
    ("spam train", "spam train --spam|--ham DIR_OR_MBOX USER"),
    ("spam stats", "spam stats USER"),
    ("config get", "config get KEY"),
    ("config set", "config set KEY VALUE"),
    ("config unset", "config unset KEY"),
    ("reload", "reload   "),
    ("backup", "backup DEST [--keep N]"),
    ("backup verify", "backup verify PATH"),
    ("restore", "restore SRC"),
];

/// Issue 20: `COMMAND --help`, `COMMAND -h` and `help COMMAND` print that
/// command's usage alone and exit 0.
#[test]
fn help_on_every_command_prints_its_own_usage() {
    for (command, line) in COMMANDS {
        let words: Vec<&str> = command.split(' ').collect();
        let mut asks: Vec<Vec<&str>> = Vec::new();
        asks.push([words.as_slice(), &["--help"]].concat());
        asks.push([words.as_slice(), &["-h"]].concat());
        asks.push([&["help"], words.as_slice()].concat());
        for args in asks {
            let out = run(&args);
            let stdout = text(&out.stdout);
            assert!(out.status.success(), "{args:?}: {out:?}");
            assert!(stdout.starts_with("usage: facteur "), "{args:?}: {stdout}");
            assert!(stdout.contains(line), "{args:?}: {stdout}");
            for (other, other_line) in COMMANDS {
                if other != command && !other_line.starts_with(line) {
                    assert!(
                        !stdout.contains(other_line),
                        "{args:?} shows {other:?} too: {stdout}"
                    );
                }
            }
        }
    }
    // With the arguments already typed, and with --config.
    let out = run(&["check", "spf", "--ip", "192.0.2.1", "--help"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("check spf --ip IP"));
    let out = run(&["user", "add", "a@example.test", "--config", "x.toml", "-h"]);
    assert!(text(&out.stdout).contains("user add ADDRESS"), "{out:?}");
    // A group: every user command, and nothing else.
    let out = run(&["help", "user"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("user add") && stdout.contains("user remove"));
    assert!(!stdout.contains("queue list"), "{stdout}");
    // The whole usage.
    for args in [&["help"][..], &["--help"], &["-h"]] {
        let out = run(args);
        assert!(out.status.success());
        assert!(COMMANDS
            .iter()
            .all(|(_, line)| text(&out.stdout).contains(line)));
    }
    let out = run(&["help", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no command \"nonsense\""));
}

/// Issue 20: an unknown option names itself and the command's usage.
#[test]
fn an_unknown_option_names_itself_and_the_usage() {
    let out = run(&["check", "spf", "--ip", "192.0.2.1", "--hello", "x.test"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unknown option --hello"), "{stderr}");
    assert!(stderr.contains("check spf --ip IP --helo NAME"), "{stderr}");
    assert!(!stderr.contains("queue list"), "its usage alone: {stderr}");
    let out = run(&["user", "add", "a@example.test", "--password=x"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("unknown option --password\n"), "{stderr}");
    assert!(!stderr.contains("--password=x"), "the value is not shown");
    assert!(stderr.contains("user add ADDRESS"), "{stderr}");
    // An option of another command is unknown here.
    let out = run(&["queue", "list", "--password-stdin"]);
    assert!(text(&out.stderr).contains("unknown option --password-stdin"));
}

/// Issue 20: the version line carries the git revision and the target.
#[test]
fn version_names_the_revision_and_target() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    let line = text(&out.stdout);
    let line = line.trim();
    assert!(line.starts_with("facteur "), "{line}");
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    match git {
        Ok(g) if g.status.success() => {
            let rev = text(&g.stdout);
            assert!(line.contains(&format!("git {}", rev.trim())), "{line}");
        }
        _ => assert!(line.contains("git unknown"), "{line}"),
    }
    let target = format!("{}-", std::env::consts::ARCH);
    assert!(line.contains(&target), "{line}");
    assert!(line.contains(std::env::consts::OS), "{line}");
}

/// The answer of a CLI run: (success, stdout, stderr).
type Answer = (bool, String, String);

/// `user add alice-smith@example.test` with `pw`, run by `cli`.
fn add(cli: impl Fn(&[&str], Option<&str>) -> Answer, pw: &str) -> Answer {
    cli(
        &[
            "user",
            "add",
            "alice-smith@example.test",
            "--password-stdin",
        ],
        Some(pw),
    )
}

fn refused(out: &Answer, why: &str) {
    assert!(!out.0, "accepted: {out:?}");
    assert!(out.2.contains(why), "{out:?}");
}

/// Issue 13 item 3: passwords under 10 characters, or equal to the
/// address or its local part (any case), are refused with the reason, by
/// `user add` and `user passwd`, whether the server runs or not.
#[test]
fn weak_passwords_are_refused_on_every_path() {
    let short = "too short";
    let same = "Alice-Smith@Example.TEST";
    let local = "ALICE-SMITH";
    // Without a server: the command opens the store itself.
    let dir = TempDir::new("cli-pw");
    let config = dir.path().join("facteur.toml");
    std::fs::write(&config, test_config(dir.path(), "")).expect("config");
    let direct = |args: &[&str], stdin: Option<&str>| cli(&config, args, stdin);
    refused(&add(direct, short), "at least 10 characters");
    refused(&add(direct, "alice-smith@example.test"), "address");
    refused(&add(direct, local), "local part");
    let (ok, _, err) = add(direct, "long enough now");
    assert!(ok, "{err}");
    // Through the running server's admin socket.
    let srv = Server::start("");
    let via = |args: &[&str], stdin: Option<&str>| srv.cli(args, stdin);
    refused(&add(via, short), "at least 10 characters");
    refused(&add(via, same), "address");
    refused(&add(via, local), "local part");
    assert!(srv.cli(&["user", "list"], None).1.trim().is_empty());
    assert!(add(via, "long enough now").0);
    let passwd = |pw| {
        srv.cli(
            &[
                "user",
                "passwd",
                "alice-smith@example.test",
                "--password-stdin",
            ],
            Some(pw),
        )
    };
    refused(&passwd("123456789"), "at least 10 characters");
    refused(&passwd("alice-smith"), "local part");
    assert!(passwd("another long one").0);
    // A generated password passes its own rule.
    let (ok, out, err) = srv.cli(&["user", "add", "bob@example.test"], None);
    assert!(ok && out.contains("password: "), "{out} {err}");
}
