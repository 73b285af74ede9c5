//! The first-boot profile (`setup.profile`) through the real binary: a
//! valid one is applied at start, its accounts log in and get mail, and
//! the file becomes `FILE.applied` without a password; an invalid one
//! leaves the box unclaimed and the file byte for byte as it was.

mod common;

use common::server::{smtp_send, test_config, Lines, Server, TempDir};
use std::path::{Path, PathBuf};

const BOSS_PASSWORD: &str = "the boss's long password";
const ANN_PASSWORD: &str = "ann's own long password";
const RELAY_PASSWORD: &str = "relay secret 42";

/// A test config whose profile is `DIR/facteur-setup.toml`, plaintext
/// logins allowed on loopback, and the profile's path.
fn setup(dir: &TempDir) -> (PathBuf, PathBuf) {
    let profile = dir.path().join("facteur-setup.toml");
    let extra = format!(
        "[tls]\nallow_plaintext_auth = true\n\n[setup]\nprofile = \"{}\"\n",
        profile.display()
    );
    let config = dir.path().join("facteur.toml");
    std::fs::write(&config, test_config(dir.path(), &extra)).unwrap();
    (config, profile)
}

fn imap_login(srv: &Server, user: &str, password: &str) -> Lines {
    let mut c = Lines::connect(srv.addr("imap"));
    let greeting = c.line();
    assert!(greeting.starts_with("* OK"), "{greeting}");
    c.cmd(&format!("a LOGIN {user} \"{password}\""));
    c.until_ok("a");
    c
}

fn applied(profile: &Path) -> PathBuf {
    PathBuf::from(format!("{}.applied", profile.display()))
}

#[test]
fn a_profile_is_applied_at_start_and_loses_its_passwords() {
    let dir = TempDir::new("profile");
    let (config, profile) = setup(&dir);
    let ann_hash = facteur::password::hash(ANN_PASSWORD).unwrap();
    let text = format!(
        r#"# Prepared on a laptop
hostname = "mx.branch.test"
domains = ["example.test", "branch.test"]
admin = {{ address = "boss@branch.test", password = "{BOSS_PASSWORD}" }}

[[staff]]
address = "ann@example.test"
password = "{ann_hash}"

[relay]
host = "127.0.0.1"
port = 2525
tls = "none"
username = "office"
password = "{RELAY_PASSWORD}"

[antispam]
enabled = false
greylisting = false
"#
    );
    std::fs::write(&profile, &text).unwrap();
    let srv = Server::start_with(dir, config);

    let log = srv.log();
    assert!(log.contains("set up from the first-boot profile"), "{log}");
    assert!(!log.contains("unclaimed"), "{log}");
    assert!(!srv.dir.path().join("data/setup-code").exists());
    // Renamed, every password (and the hash) gone, the rest kept.
    assert!(!profile.exists());
    let copy = std::fs::read_to_string(applied(&profile)).unwrap();
    for secret in [BOSS_PASSWORD, RELAY_PASSWORD, &ann_hash, "password"] {
        assert!(!copy.contains(secret), "{secret} in {copy}");
    }
    assert!(copy.contains("# Prepared on a laptop"), "{copy}");
    assert!(copy.contains("address = \"ann@example.test\""), "{copy}");

    // The settings are in force.
    for (key, value) in [
        ("server.hostname", "\"mx.branch.test\""),
        ("relay.username", "\"office\""),
        ("antispam.greylisting", "false"),
    ] {
        let (ok, out, err) = srv.cli(&["config", "get", key], None);
        assert!(ok, "{err}");
        assert_eq!(out.trim(), format!("{key} = {value}"));
    }
    let (_, out, _) = srv.cli(&["user", "list"], None);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["ann@example.test", "boss@branch.test (admin)"]
    );

    // Both accounts log in (ann with the password of the given hash),
    // and mail to them is delivered.
    for (to, password) in [
        ("ann@example.test", ANN_PASSWORD),
        ("boss@branch.test", BOSS_PASSWORD),
    ] {
        let r = smtp_send(
            srv.addr("smtp"),
            "someone@sender.test",
            &[to],
            "Subject: welcome\r\n\r\nhello\r\n",
        );
        assert!(r.starts_with("250"), "{r}");
        let mut c = imap_login(&srv, to, password);
        c.cmd("b SELECT INBOX");
        let lines = c.until_ok("b");
        assert!(lines.iter().any(|l| l == "* 1 EXISTS"), "{lines:?}");
    }

    // A restart applies nothing again.
    let srv = srv.restart();
    assert!(!profile.exists());
    let log = srv.log();
    let last = log.rsplit("first-boot profile").count();
    assert_eq!(last, 2, "one mention only, from the first start: {log}");
    imap_login(&srv, "ann@example.test", ANN_PASSWORD);
}

#[test]
fn an_invalid_profile_leaves_the_box_unclaimed_and_the_file_untouched() {
    let dir = TempDir::new("profile-bad");
    let (config, profile) = setup(&dir);
    let text = "hostname = \"mx.branch.test\"\n\
                domains = [\"example.test\"]\n\
                admin = { address = \"boss@example.test\", password = \"boss\" }\n\
                [[staff]]\n\
                address = \"ann@elsewhere.test\"\n\
                password = \"a long enough password\"\n";
    std::fs::write(&profile, text).unwrap();
    let srv = Server::start_with(dir, config.clone());
    let log = srv.log();
    assert!(log.contains("is not applied"), "{log}");
    assert!(log.contains("key `admin.password`: the password"), "{log}");
    assert!(log.contains("key `staff.0.address`"), "{log}");
    assert!(log.contains("setup code "), "still unclaimed: {log}");
    assert!(srv.dir.path().join("data/setup-code").exists());
    assert_eq!(std::fs::read_to_string(&profile).unwrap(), text);
    assert!(!applied(&profile).exists());
    let (_, out, _) = srv.cli(&["user", "list"], None);
    assert_eq!(out.trim(), "");
    // check-config gives the same errors.
    let (ok, _, err) = srv.cli(&["check-config"], None);
    assert!(!ok);
    assert!(err.contains("key `admin.password`: the password"), "{err}");
    assert!(err.contains("key `staff.0.address`"), "{err}");

    // An unknown key: refused as a whole, with its line.
    let mut srv = srv;
    srv.stop();
    let unknown = format!(
        "antispam = {{ spf = false }}\n{}",
        text.replace("\"boss\"", "\"a long password\"")
            .replace("ann@elsewhere.test", "ann@example.test")
    );
    std::fs::write(&profile, &unknown).unwrap();
    let srv = srv.restart();
    let log = srv.log();
    assert!(log.contains("facteur-setup.toml:1: key `antispam"), "{log}");
    assert_eq!(std::fs::read_to_string(&profile).unwrap(), unknown);
    let (_, out, _) = srv.cli(&["user", "list"], None);
    assert_eq!(out.trim(), "");
}
