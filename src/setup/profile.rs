//! The first-boot profile: a [`Plan`] in a TOML file (`setup.profile`,
//! by default on the SD card's FAT partition, which any PC can write, as
//! Raspberry Pi Imager's first-run settings are), applied at start
//! through [`Admin::apply_plan`], the path `facteur setup FILE` takes.
//!
//! A valid profile on an unclaimed box is applied all at once, then
//! renamed to `FILE.applied` with every password removed, so that no
//! password stays on a partition anyone can read. An invalid one is
//! refused whole: each error is logged as `check-config` words it, the
//! box stays unclaimed and the file is left as it was.
//!
//! The steps are ordered so that a crash at any point neither applies a
//! profile twice nor leaves its passwords behind once it was applied:
//!
//! 1. The redacted copy `FILE.applied` is written first (temporary file,
//!    fsync, rename, directory fsync). A crash here leaves the profile
//!    unapplied and the box unclaimed: the next start begins again.
//! 2. The plan is applied: the config file, then one store transaction
//!    that adds the admin and claims the box. A crash before that commit
//!    leaves the box unclaimed, and the next start applies the profile
//!    (the config edits give the same file again).
//! 3. The profile is removed and the directory fsynced. After a crash
//!    between 2 and 3, the next start finds a claimed box, the profile,
//!    and `FILE.applied` equal to the profile's redacted text: the
//!    profile was applied, so only step 3 is done. A profile that does
//!    not match (a new file put on a box already set up) is not applied
//!    and is left alone.

use crate::admin::{Admin, PlanError};
use crate::setup::code::ClaimState;
use crate::setup::plan::Plan;
use std::fs;
use std::path::{Path, PathBuf};
use toml_edit::{DocumentMut, Item, Table, Value};

/// What the redacted copy starts with.
const APPLIED_NOTE: &str =
    "# Applied by facteur at its first start; its credentials were removed.\n";

/// What became of the profile at start.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No profile file.
    Absent,
    /// Applied: the box is set up and the config file changed.
    Applied,
    /// Applied at an earlier start that stopped before the file was
    /// removed; it is removed now.
    Finished,
    /// Not applied; the file is left as it was. Each line is one reason.
    Refused(Vec<String>),
}

/// `FILE.applied`, where the profile goes once applied.
pub fn applied_path(profile: &Path) -> PathBuf {
    let mut name = profile.as_os_str().to_os_string();
    name.push(".applied");
    PathBuf::from(name)
}

/// Reads and checks a profile text from `source` (its file name): the
/// plan, or every error, one line each, as `check-config` words them
/// (`FILE:LINE: key `KEY`: what is expected`).
pub fn check(text: &str, source: &str) -> Result<Plan, Vec<String>> {
    let plan = Plan::parse(text, source)
        .map_err(|e| vec![e.to_string()])?
        .normalised();
    let mut errors: Vec<String> = plan
        .validate()
        .into_iter()
        .map(|(field, msg)| format!("{source}: key `{field}`: {msg}"))
        .collect();
    // Nobody would see a generated password: the profile gives each.
    for (i, s) in plan.staff.iter().enumerate() {
        if s.password.is_none() {
            errors.push(format!(
                "{source}: key `staff.{i}.password`: missing: a profile gives every \
                 password (or its argon2id hash)"
            ));
        }
    }
    if errors.is_empty() {
        Ok(plan)
    } else {
        Err(errors)
    }
}

/// The profile's text with every `password` key removed, wherever it is
/// (the admin, each staff account, the relay), comments and layout kept.
pub fn redacted(text: &str) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.message().to_string())?;
    strip_table(doc.as_table_mut());
    Ok(format!("{APPLIED_NOTE}{doc}"))
}

fn strip_table(t: &mut Table) {
    t.remove("password");
    for (_, item) in t.iter_mut() {
        strip_item(item);
    }
}

fn strip_item(item: &mut Item) {
    match item {
        Item::Table(t) => strip_table(t),
        Item::ArrayOfTables(a) => a.iter_mut().for_each(strip_table),
        Item::Value(v) => strip_value(v),
        Item::None => {}
    }
}

fn strip_value(v: &mut Value) {
    match v {
        Value::InlineTable(t) => {
            t.remove("password");
            for (_, v) in t.iter_mut() {
                strip_value(v);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_value),
        _ => {}
    }
}

/// At start: applies the profile at `path` when there is one (see the
/// module's comment for the order of the steps), logging what happened.
/// `admin` writes its config file and store.
pub fn apply_at_start(admin: &Admin, path: &Path) -> Outcome {
    let outcome = run(admin, path);
    let shown = path.display();
    match &outcome {
        Outcome::Absent => {}
        Outcome::Applied => log::warn!(
            "the box is set up from the first-boot profile {shown}; it is now {} \
             without its passwords",
            applied_path(path).display()
        ),
        Outcome::Finished => {
            log::warn!("the first-boot profile {shown} was applied at an earlier start; removed it")
        }
        Outcome::Refused(lines) => {
            log::error!("the first-boot profile {shown} is not applied, and left as it is:");
            for line in lines {
                log::error!("  {line}");
            }
        }
    }
    outcome
}

fn run(admin: &Admin, path: &Path) -> Outcome {
    let refused = |line: String| Outcome::Refused(vec![line]);
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Outcome::Absent,
        Err(e) => return refused(format!("cannot read {}: {e}", path.display())),
    };
    let source = path.display().to_string();
    let applied = applied_path(path);
    match admin.claim_state() {
        Ok(ClaimState::Unclaimed) => {}
        Ok(ClaimState::Claimed) => {
            // Step 3 after a crash: this very profile was applied.
            let done = fs::read_to_string(&applied).ok();
            if done.is_some() && done == redacted(&text).ok() {
                return match remove(path) {
                    Ok(()) => Outcome::Finished,
                    Err(e) => refused(e),
                };
            }
            return refused(
                "the box is already set up (it has an admin account); remove the file".into(),
            );
        }
        Err(e) => return refused(e),
    }
    let plan = match check(&text, &source) {
        Ok(plan) => plan,
        Err(lines) => return Outcome::Refused(lines),
    };
    // Step 1. The copy has no secret: the partition's own mode will do
    // (a FAT partition refuses chmod).
    let copy = redacted(&text)
        .and_then(|r| crate::config_edit::replace_file(&applied, r.as_bytes(), None));
    if let Err(e) = copy {
        return refused(format!(
            "{e}: the passwords could not be removed from the card, so the profile is not used"
        ));
    }
    // Step 2.
    if let Err(e) = admin.apply_plan(plan) {
        let _ = fs::remove_file(&applied);
        return Outcome::Refused(match e {
            PlanError::Fields(fields) => fields
                .into_iter()
                .map(|(field, msg)| format!("{source}: key `{field}`: {msg}"))
                .collect(),
            PlanError::Failed(msg) => vec![format!("{source}: {msg}")],
        });
    }
    // Step 3.
    if let Err(e) = remove(path) {
        log::error!("{e}: it still holds the passwords; delete it by hand");
    }
    Outcome::Applied
}

/// Removes `path` and fsyncs its directory, so that the removal survives
/// a power cut.
fn remove(path: &Path) -> Result<(), String> {
    fs::remove_file(path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const PROFILE: &str = r#"# The office box
hostname = "mail.example.test"
domains = ["example.test"]
admin = { address = "boss@example.test", password = "a long password" }

[[staff]]
address = "ann@example.test"
password = "another long one" # ann's

[relay]
host = "smtp.provider.test"
username = "office"
password = "relay secret"
"#;

    #[test]
    fn every_password_is_removed_and_the_rest_kept() {
        let r = redacted(PROFILE).unwrap();
        assert!(!r.contains("password"), "{r}");
        assert!(!r.contains("secret") && !r.contains("long"), "{r}");
        assert!(r.starts_with(APPLIED_NOTE), "{r}");
        assert!(r.contains("# The office box\n"), "{r}");
        assert!(r.contains("username = \"office\""), "{r}");
        let dotted = "admin.address = \"a@b.test\"\nadmin.password = \"x\"\n";
        assert!(!redacted(dotted).unwrap().contains("password"));
        // The same text gives the same copy (the crash check compares).
        assert_eq!(redacted(PROFILE), redacted(PROFILE));
        assert!(redacted("not = toml = at all").is_err());
    }

    #[test]
    fn each_error_is_a_line_naming_the_file_and_key() {
        let bad = PROFILE
            .replace("a long password", "short")
            .replace("hostname = \"mail.example.test\"", "hostname = \"no\"")
            .replace("password = \"another long one\" # ann's", "");
        let errors = check(&bad, "/boot/p.toml").unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("/boot/p.toml: key `hostname`:"),
            "{errors:?}"
        );
        assert!(errors[1].contains("`admin.password`: the password is too short"));
        assert!(
            errors[2].contains("`staff.0.password`: missing"),
            "{errors:?}"
        );
        let unknown = check(&format!("port = 1\n{PROFILE}"), "p.toml").unwrap_err();
        assert_eq!(unknown.len(), 1);
        assert!(unknown[0].starts_with("p.toml:"), "{unknown:?}");
        assert!(unknown[0].contains("port"), "{unknown:?}");
        assert!(check(PROFILE, "p.toml").is_ok());
    }

    #[test]
    fn the_example_in_board_is_checked() {
        let example = include_str!("../../board/facteur-setup.toml.example");
        let errors = check(example, "example").unwrap_err();
        // Only the placeholder hash, to be replaced by a real one.
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("`staff.1.password`: not a usable argon2id hash"));
        let hash = crate::password::hash("bob's long password").unwrap();
        let real = example.replace(
            "$argon2id$v=19$m=4096,t=3,p=1$SALT_FROM_YOUR_PC$HASH_FROM_YOUR_PC",
            &hash,
        );
        let plan = check(&real, "example").unwrap();
        assert_eq!(plan.staff.len(), 2);
        assert!(plan.relay.is_some() && plan.antispam.is_some());
        assert!(!redacted(&real).unwrap().contains("password ="));
    }

    fn admin(dir: &Path) -> Admin {
        let store = crate::store::Store::open(&dir.join("data"), 1 << 20).unwrap();
        store.ensure_domain("example.test").unwrap();
        Admin::new(Arc::new(store), Arc::new(crate::admin::NoNotify))
            .with_config_file(dir.join("facteur.toml"))
    }

    #[test]
    fn applied_once_then_renamed_and_a_crash_before_the_removal_is_finished() {
        let dir = crate::testing::temp_dir("profile-apply");
        let path = dir.join("facteur-setup.toml");
        let a = admin(&dir);
        assert_eq!(apply_at_start(&a, &path), Outcome::Absent);
        fs::write(&path, PROFILE).unwrap();
        assert_eq!(apply_at_start(&a, &path), Outcome::Applied);
        assert!(!path.exists());
        let copy = fs::read_to_string(applied_path(&path)).unwrap();
        assert_eq!(copy, redacted(PROFILE).unwrap());
        assert_eq!(a.claim_state().unwrap(), ClaimState::Claimed);
        assert!(a.is_admin("boss@example.test").unwrap());
        // A crash after the apply, before the removal: the file is back.
        fs::write(&path, PROFILE).unwrap();
        assert_eq!(apply_at_start(&a, &path), Outcome::Finished);
        assert!(!path.exists());
        // Another profile on a claimed box: not applied, left alone.
        let other = PROFILE.replace("ann@", "bob@");
        fs::write(&path, &other).unwrap();
        assert!(matches!(apply_at_start(&a, &path), Outcome::Refused(_)));
        assert_eq!(fs::read_to_string(&path).unwrap(), other);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_refused_profile_is_left_byte_for_byte() {
        let dir = crate::testing::temp_dir("profile-refused");
        let path = dir.join("facteur-setup.toml");
        let a = admin(&dir);
        let bad = PROFILE.replace("ann@example.test", "ann@elsewhere.test");
        fs::write(&path, &bad).unwrap();
        match apply_at_start(&a, &path) {
            Outcome::Refused(lines) => assert!(lines[0].contains("staff.0.address"), "{lines:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), bad);
        assert!(!applied_path(&path).exists());
        assert_eq!(a.claim_state().unwrap(), ClaimState::Unclaimed);
        assert!(!dir.join("facteur.toml").exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
