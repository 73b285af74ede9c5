//! Settings changed in place: the config file is the one source of truth.
//!
//! A change (from `facteur config set`, the admin socket or the web page)
//! is made with a format-preserving TOML editor, so comments and layout of
//! the rest of the file stay byte for byte. All changes of one call apply
//! or none does: the whole resulting text is checked by [`Config::parse`],
//! the same code and error text as `facteur check-config`, before it is
//! written atomically (temporary file, fsync, rename, directory fsync). The
//! previous file is kept as `FILE.bak`.
//!
//! Without `--config`, the embedded default is used until the first change,
//! which writes `DATA_DIR/facteur.toml` (see [`Source`]).

use crate::config::{Addrs, Config, ConfigError, Dur, Hostname, NameServer, Size};
use serde::{Serialize, Serializer};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use toml_edit::{DocumentMut, Item, Table, Value};

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file named with `--config`.
    Given(PathBuf),
    /// No `--config`: `DATA_DIR/facteur.toml` of the embedded default when
    /// it exists (written by the first change), else the embedded text.
    Default,
}

impl Source {
    /// The source `--config` names, or the default one.
    pub fn new(given: Option<PathBuf>) -> Source {
        given.map_or(Source::Default, Source::Given)
    }

    /// The file that changes are written to (it may not exist yet).
    pub fn file(&self) -> PathBuf {
        match self {
            Source::Given(p) => p.clone(),
            Source::Default => default_file(),
        }
    }

    /// Reads and checks the configuration.
    pub fn load(&self) -> Result<Config, ConfigError> {
        match self {
            Source::Given(p) => Config::load(p),
            Source::Default => {
                let file = default_file();
                if file.exists() {
                    Config::load(&file)
                } else {
                    Config::parse(crate::config::EMBEDDED_DEFAULT, EMBEDDED_NAME)
                }
            }
        }
    }

    /// The name errors and `check-config` give the source.
    pub fn name(&self) -> String {
        match self {
            Source::Default if !default_file().exists() => EMBEDDED_NAME.to_string(),
            other => other.file().display().to_string(),
        }
    }
}

const EMBEDDED_NAME: &str = "embedded default";

/// `DATA_DIR/facteur.toml` of the embedded default.
fn default_file() -> PathBuf {
    Config::embedded().server.data_dir.join("facteur.toml")
}

/// One change to a setting.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub enum Edit {
    /// `KEY` takes the value written as TOML (`25`, `"text"`, `["a", "b"]`,
    /// `true`); a bare word that is no TOML value is taken as a string,
    /// as postconf does (`mail.example.com`, `25 MiB`).
    Set(String, String),
    /// `KEY` goes back to its default (the line is removed).
    Unset(String),
}

impl Edit {
    /// The setting changed.
    pub fn key(&self) -> &str {
        match self {
            Edit::Set(k, _) | Edit::Unset(k) => k,
        }
    }
}

/// Serialises writers of the config file within this process.
static WRITING: Mutex<()> = Mutex::new(());

/// Applies `edits` to `file` (starting from the embedded default when it
/// does not exist): all of them, checked as `check-config` checks a file,
/// or none. Returns one line per change.
pub fn apply(file: &Path, edits: &[Edit]) -> Result<Vec<String>, String> {
    if edits.is_empty() {
        return Err("no change given".into());
    }
    let _held = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let old = match fs::read_to_string(file) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    let base = old.as_deref().unwrap_or(crate::config::EMBEDDED_DEFAULT);
    let (text, lines) = edit_text(base, edits)?;
    Config::parse(&text, &file.display().to_string()).map_err(|e| format!("config error: {e}"))?;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            crate::app::prepare_data_dir(dir)?;
        }
    }
    let mode = fs::metadata(file).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    if let Some(old) = &old {
        write_atomic(&backup_path(file), old.as_bytes(), mode)?;
    }
    write_atomic(file, text.as_bytes(), mode)?;
    Ok(lines)
}

/// `FILE.bak`.
pub fn backup_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".bak");
    PathBuf::from(name)
}

/// The text with `edits` made, and one line per change. Only the lines of
/// the changed keys differ: comments and layout are kept.
pub fn edit_text(text: &str, edits: &[Edit]) -> Result<(String, Vec<String>), String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| format!("config error: {}", e.message()))?;
    let mut lines = Vec::new();
    for edit in edits {
        let (tables, key) = split_key(edit.key())?;
        match edit {
            Edit::Set(_, raw) => {
                let mut value = parse_value(raw)?;
                let table = table_mut(doc.as_table_mut(), &tables, true)?
                    .ok_or_else(|| format!("{}: no such table", edit.key()))?;
                match table.get_mut(key).and_then(Item::as_value_mut) {
                    Some(old) => {
                        // The spaces around the value and a trailing comment stay.
                        *value.decor_mut() = old.decor().clone();
                        *old = value;
                    }
                    None => {
                        table.insert(key, Item::Value(value));
                    }
                }
                if is_secret(edit.key()) {
                    lines.push(format!("{} changed (not shown)", edit.key()));
                    continue;
                }
                let shown = table
                    .get(key)
                    .and_then(Item::as_value)
                    .map(|v| v.to_string().trim().to_string())
                    .unwrap_or_default();
                lines.push(format!("{} = {shown}", edit.key()));
            }
            Edit::Unset(_) => {
                let table = table_mut(doc.as_table_mut(), &tables, false)?;
                if let Some(table) = table {
                    remove_key(table, key);
                }
                lines.push(format!("{} reset to its default", edit.key()));
            }
        }
    }
    Ok((doc.to_string(), lines))
}

/// Whether a setting holds a secret (a password, a token): the answer to
/// a change names it without its value, as it goes to the screen and the
/// log.
pub fn is_secret(key: &str) -> bool {
    let name = key.rsplit('.').next().unwrap_or(key);
    ["password", "token", "secret"]
        .iter()
        .any(|s| name.contains(s))
}

/// `a.b.c` as the tables `[a, b]` and the key `c`.
fn split_key(key: &str) -> Result<(Vec<&str>, &str), String> {
    let parts: Vec<&str> = key.split('.').collect();
    let ok = parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    match parts.split_last() {
        Some((last, tables)) if ok => Ok((tables.to_vec(), last)),
        _ => Err(format!(
            "{key:?} is not a setting name such as server.hostname"
        )),
    }
}

/// The table at `path`, created when missing and `create` is set.
fn table_mut<'a>(
    mut table: &'a mut Table,
    path: &[&str],
    create: bool,
) -> Result<Option<&'a mut Table>, String> {
    for name in path {
        if !table.contains_key(name) {
            if !create {
                return Ok(None);
            }
            table.insert(name, Item::Table(Table::new()));
        }
        table = match table.get_mut(name) {
            Some(Item::Table(t)) => t,
            _ => return Err(format!("{name} is not a table of settings")),
        };
    }
    Ok(Some(table))
}

/// Removes `key`, keeping the comment lines above it: they go to the key
/// that follows, when there is one.
fn remove_key(table: &mut Table, key: &str) {
    let prefix = table
        .key(key)
        .and_then(|k| k.leaf_decor().prefix())
        .and_then(|p| p.as_str())
        .map(str::to_string);
    let next = table
        .iter()
        .map(|(k, _)| k.to_string())
        .skip_while(|k| k != key)
        .nth(1);
    table.remove(key);
    if let (Some(prefix), Some(next)) = (prefix, next) {
        if let Some(mut k) = table.key_mut(&next) {
            let own = k
                .leaf_decor()
                .prefix()
                .and_then(|p| p.as_str())
                .unwrap_or("")
                .to_string();
            k.leaf_decor_mut().set_prefix(format!("{prefix}{own}"));
        }
    }
}

/// A value as typed after `config set KEY`.
fn parse_value(raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    if let Ok(v) = raw.parse::<Value>() {
        return Ok(v.decorated(" ", ""));
    }
    if raw.starts_with(['[', '{', '"', '\'']) {
        return Err(format!("{raw} is not a TOML value"));
    }
    Ok(Value::from(raw).decorated(" ", ""))
}

/// The effective value of `key` (a setting or a whole table), defaults
/// included, as `KEY = VALUE` lines in the file's syntax.
pub fn get(cfg: &Config, key: &str) -> Result<Vec<String>, String> {
    let doc = toml_edit::ser::to_document(cfg).map_err(|e| e.to_string())?;
    let mut item = doc.as_item();
    for part in key.split('.') {
        item = item
            .get(part)
            .ok_or_else(|| format!("no setting {key} (or it is not set)"))?;
    }
    let mut out = Vec::new();
    flatten(key, item, &mut out);
    Ok(out)
}

/// The settings whose effective values differ between `old` and `new`.
pub fn changed(old: &Config, new: &Config) -> Vec<String> {
    let lines = |cfg: &Config| -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(doc) = toml_edit::ser::to_document(cfg) {
            for (k, v) in doc.iter() {
                flatten(k, v, &mut out);
            }
        }
        out
    };
    let (a, b) = (lines(old), lines(new));
    let key = |l: &String| l.split(" = ").next().unwrap_or("").to_string();
    let mut keys: Vec<String> = a
        .iter()
        .filter(|l| !b.contains(l))
        .chain(b.iter().filter(|l| !a.contains(l)))
        .map(key)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn flatten(key: &str, item: &Item, out: &mut Vec<String>) {
    match item {
        Item::Table(t) => {
            for (k, v) in t.iter() {
                flatten(&format!("{key}.{k}"), v, out);
            }
        }
        Item::Value(Value::InlineTable(t)) => {
            for (k, v) in t.iter() {
                out.push(format!("{key}.{k} = {}", v.to_string().trim()));
            }
        }
        Item::Value(v) => out.push(format!("{key} = {}", v.to_string().trim())),
        Item::ArrayOfTables(a) => {
            let values: Vec<String> = a
                .iter()
                .map(|t| t.clone().into_inline_table().to_string().trim().to_string())
                .collect();
            out.push(format!("{key} = [{}]", values.join(", ")));
        }
        Item::None => {}
    }
}

/// Writes `file` atomically: a temporary file in the same directory,
/// fsynced, renamed over it, then the directory fsynced.
pub fn write_atomic(file: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    replace_file(file, bytes, Some(mode))
}

/// [`write_atomic`], with the file system's own mode when `mode` is
/// `None`: a FAT partition refuses most modes (chmod fails with EPERM).
pub fn replace_file(file: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), String> {
    let fail = |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", file.display());
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let res = (|| {
        let mut f = fs::File::create(&tmp).map_err(|e| fail("write", e))?;
        if let Some(mode) = mode {
            f.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(|e| fail("set the mode of", e))?;
        }
        f.write_all(bytes).map_err(|e| fail("write", e))?;
        f.sync_all().map_err(|e| fail("sync", e))?;
        fs::rename(&tmp, file).map_err(|e| fail("replace", e))?;
        fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| fail("sync the directory of", e))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

// How the config's value types are written back (for `config get`): in
// the syntax the file takes.

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
            if n >= 1 << shift && n.is_multiple_of(1 << shift) {
                return s.serialize_str(&format!("{} {unit}", n >> shift));
            }
        }
        s.serialize_u64(n)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        if d.subsec_nanos() != 0 {
            return s.serialize_str(&format!("{}ms", d.as_millis()));
        }
        let secs = d.as_secs();
        let (n, unit) = [(86400, "d"), (3600, "h"), (60, "m")]
            .into_iter()
            .find(|(u, _)| secs > 0 && secs.is_multiple_of(*u))
            .map_or((secs, "s"), |(u, name)| (secs / u, name));
        s.serialize_str(&format!("{n}{unit}"))
    }
}

impl Serialize for Addrs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [] => s.serialize_str(""),
            [one] => s.serialize_str(&one.to_string()),
            many => s.collect_seq(many.iter().map(|a| a.to_string())),
        }
    }
}

impl Serialize for NameServer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl Serialize for Hostname {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl Serialize for crate::antispam::trusted::Network {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// `s` as a TOML basic string, quoted and escaped (TOML 1.0, "Basic
/// strings"), for an [`Edit::Set`] value.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_string_reads_back_as_itself() {
        for s in [
            "plain",
            "with \"quotes\" and \\ backslash",
            "tab\tnew\nline\u{7f}",
            "été",
        ] {
            let t: toml::Table = toml::from_str(&format!("k = {}", toml_string(s))).unwrap();
            assert_eq!(t["k"].as_str(), Some(s));
        }
    }

    const TEXT: &str = "# top comment\n[server]\n# the name\nhostname = \"mail.example.com\"  # trailing\ndata_dir = \"/tmp/x\"\n\n[limits]\n# connections\nmax_connections = 256\n# per ip\nmax_connections_per_ip = 20\n";

    fn set(k: &str, v: &str) -> Edit {
        Edit::Set(k.into(), v.into())
    }

    #[test]
    fn a_secret_is_written_but_never_echoed() {
        for key in ["relay.password", "web.metrics_token"] {
            let secret = "hunter2-Secret-value";
            let (out, lines) = edit_text(TEXT, &[set(key, secret)]).unwrap();
            assert!(out.contains(secret), "{out}");
            assert_eq!(lines, [format!("{key} changed (not shown)")]);
        }
        let (_, lines) = edit_text(TEXT, &[set("relay.username", "me")]).unwrap();
        assert_eq!(lines, ["relay.username = \"me\""]);
    }

    #[test]
    fn a_set_changes_only_its_line() {
        let (out, lines) = edit_text(TEXT, &[set("limits.max_connections", "300")]).unwrap();
        assert_eq!(out, TEXT.replace("= 256", "= 300"));
        assert_eq!(lines, ["limits.max_connections = 300"]);
        let (out, _) = edit_text(TEXT, &[set("server.hostname", "mx.example.org")]).unwrap();
        assert_eq!(
            out,
            TEXT.replace("\"mail.example.com\"", "\"mx.example.org\"")
        );
    }

    #[test]
    fn values_parse_as_toml_or_as_a_bare_word() {
        assert_eq!(parse_value("25").unwrap().as_integer(), Some(25));
        assert_eq!(parse_value("true").unwrap().as_bool(), Some(true));
        assert_eq!(parse_value("25 MiB").unwrap().as_str(), Some("25 MiB"));
        assert_eq!(parse_value("\"a b\"").unwrap().as_str(), Some("a b"));
        assert_eq!(
            parse_value("127.0.0.1:25").unwrap().as_str(),
            Some("127.0.0.1:25")
        );
        assert!(parse_value("[\"a\", \"b\"]").unwrap().as_array().is_some());
        assert!(parse_value("[\"a\"").is_err());
        assert!(parse_value("\"open").is_err());
    }

    #[test]
    fn missing_keys_and_tables_are_added() {
        let (out, _) = edit_text(TEXT, &[set("limits.max_recipients", "50")]).unwrap();
        assert_eq!(out, TEXT.replace("= 20\n", "= 20\nmax_recipients = 50\n"));
        let (out, _) = edit_text(TEXT, &[set("log.level", "debug")]).unwrap();
        assert_eq!(out, format!("{TEXT}\n[log]\nlevel = \"debug\"\n"));
    }

    #[test]
    fn unset_removes_the_line_and_keeps_comments() {
        let (out, lines) =
            edit_text(TEXT, &[Edit::Unset("limits.max_connections".into())]).unwrap();
        assert_eq!(out, TEXT.replace("max_connections = 256\n", ""));
        assert_eq!(lines, ["limits.max_connections reset to its default"]);
        let (same, _) = edit_text(TEXT, &[Edit::Unset("relay.host".into())]).unwrap();
        assert_eq!(same, TEXT);
    }

    #[test]
    fn bad_keys_are_refused() {
        for key in ["hostname", "server.", ".x", "a b.c"] {
            assert!(edit_text(TEXT, &[set(key, "1")]).is_err(), "{key}");
        }
        assert!(edit_text(TEXT, &[set("server.hostname.x", "1")]).is_err());
    }

    #[test]
    fn get_shows_defaults_in_file_syntax() {
        let cfg = Config::parse(TEXT, "t").unwrap();
        assert_eq!(
            get(&cfg, "server.hostname").unwrap(),
            ["server.hostname = \"mail.example.com\""]
        );
        assert_eq!(
            get(&cfg, "store.cache_capacity").unwrap(),
            ["store.cache_capacity = \"4 MiB\""]
        );
        assert_eq!(
            get(&cfg, "timeouts.imap_idle").unwrap(),
            ["timeouts.imap_idle = \"30m\""]
        );
        assert!(get(&cfg, "limits").unwrap().len() > 5);
        assert!(get(&cfg, "server.nope").is_err());
        // What get prints, set takes back unchanged.
        for key in ["limits", "timeouts", "listen", "antispam", "store"] {
            for line in get(&cfg, key).unwrap() {
                let (k, v) = line.split_once(" = ").unwrap();
                let (text, _) = edit_text(TEXT, &[set(k, v)]).unwrap();
                let again = Config::parse(&text, "t").unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(get(&again, k).unwrap(), std::slice::from_ref(&line));
            }
        }
    }

    #[test]
    fn changed_names_the_settings_that_differ() {
        let old = Config::parse(TEXT, "t").unwrap();
        let (text, _) = edit_text(
            TEXT,
            &[
                set("limits.max_connections", "300"),
                set("tls.cert", "/x.pem"),
            ],
        )
        .unwrap();
        let new = Config::parse(&text, "t").unwrap();
        assert_eq!(changed(&old, &new), ["limits.max_connections", "tls.cert"]);
        assert!(changed(&old, &old).is_empty());
    }

    #[test]
    fn apply_checks_the_whole_file_and_keeps_a_backup() {
        let dir = std::env::temp_dir().join(format!("facteur-edit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("facteur.toml");
        fs::write(&file, TEXT).unwrap();
        let err = apply(&file, &[set("limits.max_connections", "0")]).unwrap_err();
        assert!(err.starts_with("config error: "), "{err}");
        assert!(err.contains("limits.max_connections"), "{err}");
        assert_eq!(fs::read_to_string(&file).unwrap(), TEXT);
        assert!(!backup_path(&file).exists());
        // Two changes: both or neither.
        let err = apply(
            &file,
            &[
                set("limits.max_connections", "300"),
                set("limits.max_bogus", "1"),
            ],
        )
        .unwrap_err();
        assert!(err.contains("max_bogus"), "{err}");
        assert_eq!(fs::read_to_string(&file).unwrap(), TEXT);
        apply(&file, &[set("limits.max_connections", "300")]).unwrap();
        assert_eq!(fs::read_to_string(backup_path(&file)).unwrap(), TEXT);
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            TEXT.replace("= 256", "= 300")
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
