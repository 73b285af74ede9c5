//! The server certificate: what it says (subject, names, issuer,
//! validity), checking an uploaded chain and key before use, and putting
//! them in place.
//!
//! X.509 (RFC 5280) is read by a small DER walker here rather than a
//! crate: only the handful of fields shown need reading, and the chain
//! and key are checked by rustls itself.

use crate::admin::Notify;
use crate::config::Config;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Largest PEM upload accepted (chain or key), in bytes.
pub const MAX_PEM: usize = 1024 * 1024;

/// What a certificate says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject name, e.g. `CN=mail.example.com`.
    pub subject: String,
    /// The DNS names and IP addresses it is valid for (subjectAltName).
    pub names: Vec<String>,
    /// The issuer name.
    pub issuer: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
}

impl CertInfo {
    /// Whole days from `now` until it expires (negative once expired).
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }
}

/// What the first certificate of a PEM chain says.
pub fn cert_info(pem: &[u8]) -> Result<CertInfo, String> {
    let chain = read_chain(pem)?;
    let leaf = chain.first().ok_or("no certificate")?;
    parse(leaf.as_ref()).ok_or_else(|| "the certificate cannot be read (bad DER)".into())
}

/// The certificate of the running configuration.
pub fn current(cfg: &Config) -> Result<CertInfo, String> {
    let path = cfg.cert_path();
    let pem = fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    cert_info(&pem)
}

/// Checks an uploaded chain and key: both parse, the key is the one the
/// first certificate certifies, and the certificate is valid at `now`.
/// Returns what the certificate says.
pub fn validate_upload(chain_pem: &[u8], key_pem: &[u8], now: i64) -> Result<CertInfo, String> {
    if chain_pem.len() > MAX_PEM || key_pem.len() > MAX_PEM {
        return Err(format!("over {MAX_PEM} bytes"));
    }
    let chain = read_chain(chain_pem)?;
    let info = cert_info(chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("the private key cannot be read: {e}"))?;
    let provider = crate::tls::provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("the private key cannot be used: {e}"))?;
    rustls::sign::CertifiedKey::new(chain, signing)
        .keys_match()
        .map_err(|_| "the private key does not belong to the certificate".to_string())?;
    if info.not_after <= now {
        return Err(format!(
            "the certificate expired on {}",
            crate::time::rfc3339(info.not_after)
        ));
    }
    if info.not_before > now {
        return Err(format!(
            "the certificate is not valid before {}",
            crate::time::rfc3339(info.not_before)
        ));
    }
    Ok(info)
}

/// Validates and installs a chain and key where the server reads them
/// (`tls.cert`/`tls.key`, by default `DATA_DIR/tls/`), both or neither:
/// see [`Pair`]. The old files are kept as `FILE.bak`; the key is mode
/// 0600 throughout. Then `notify` hears of it, so the server presents
/// the new certificate on new connections.
pub fn install(
    cfg: &Config,
    chain_pem: &[u8],
    key_pem: &[u8],
    now: i64,
    notify: &dyn Notify,
) -> Result<CertInfo, String> {
    let info = validate_upload(chain_pem, key_pem, now)?;
    {
        let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
        let pair = Pair::of(cfg);
        pair.stage(chain_pem, key_pem)?;
        pair.commit()?;
    }
    notify.tls_changed();
    Ok(info)
}

/// Finishes an install that a crash interrupted, before the pair is read:
/// a pair staged in full is put in force, a partial one is dropped. Either
/// way the certificate and key in force belong together.
pub fn recover(cfg: &Config) -> Result<(), String> {
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let pair = Pair::of(cfg);
    if pair.marker().exists() {
        log::warn!("finishing the certificate install a stop interrupted");
        pair.commit()
    } else {
        pair.drop_staged();
        Ok(())
    }
}

/// One install or recovery at a time in this process.
static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The certificate and key files, replaced together. Two renames cannot
/// be one atomic step, so the change is staged first: both new files
/// written and synced beside the old ones (`.NAME.new`), then a marker
/// (`.NAME.pair` beside the certificate) says the pair is complete, then
/// the renames. A stop before the marker leaves the old pair in force
/// (the staged files are dropped); one after it is finished by
/// [`recover`] at the next start or reload.
struct Pair {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

impl Pair {
    fn of(cfg: &Config) -> Pair {
        Pair {
            cert: cfg.cert_path(),
            key: cfg.key_path(),
        }
    }

    /// `DIR/.NAME.SUFFIX` for `path` = `DIR/NAME`.
    fn beside(path: &Path, prefix: &str, suffix: &str) -> std::path::PathBuf {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_else(|| "tls".into());
        path.with_file_name(format!("{prefix}{name}{suffix}"))
    }

    fn staged(path: &Path) -> std::path::PathBuf {
        Pair::beside(path, ".", ".new")
    }

    fn marker(&self) -> std::path::PathBuf {
        Pair::beside(&self.cert, ".", ".pair")
    }

    /// Writes both new files and then the marker; on failure nothing
    /// staged is left.
    fn stage(&self, chain_pem: &[u8], key_pem: &[u8]) -> Result<(), String> {
        let _ = fs::remove_file(self.marker());
        let staged = write_synced(&Pair::staged(&self.key), key_pem, 0o600)
            .and_then(|()| write_synced(&Pair::staged(&self.cert), chain_pem, 0o644))
            .and_then(|()| write_synced(&self.marker(), b"", 0o600));
        if staged.is_err() {
            self.drop_staged();
        }
        staged
    }

    /// Puts each staged file in force (the old one kept as `.bak`), then
    /// removes the marker.
    fn commit(&self) -> Result<(), String> {
        for path in [&self.key, &self.cert] {
            let new = Pair::staged(path);
            if !new.exists() {
                continue; // put in force before a stop
            }
            let err = |p: &Path, e: std::io::Error| format!("cannot write {}: {e}", p.display());
            if path.exists() {
                // A hard link keeps the old file's mode and costs no copy.
                let bak = Pair::beside(path, "", ".bak");
                let _ = fs::remove_file(&bak);
                fs::hard_link(path, &bak).map_err(|e| err(&bak, e))?;
            }
            fs::rename(&new, path).map_err(|e| err(path, e))?;
            sync_dir(path)?;
        }
        let marker = self.marker();
        fs::remove_file(&marker).map_err(|e| format!("cannot remove {}: {e}", marker.display()))?;
        sync_dir(&marker)
    }

    /// Removes an incomplete stage.
    fn drop_staged(&self) {
        for p in [Pair::staged(&self.key), Pair::staged(&self.cert)] {
            let _ = fs::remove_file(p);
        }
    }
}

/// Writes `bytes` to a new file `path` with `mode`, synced with its
/// directory entry.
fn write_synced(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let err = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let _ = fs::remove_file(path);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(err)?;
    sync_dir(path)
}

/// Syncs the directory holding `path`, so a rename or new entry in it
/// survives a crash.
fn sync_dir(path: &Path) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}

fn read_chain(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate chain cannot be read: {e}"))?;
    if chain.is_empty() {
        return Err("no PEM certificate in the chain".into());
    }
    Ok(chain)
}

/// One DER element: its tag byte and contents (X.690 §8.1).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur in these fields
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        let len = bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((tag, content, rest))
}

/// The elements of a constructed value.
fn elements(mut input: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (tag, content, rest) = tlv(input)?;
        out.push((tag, content));
        input = rest;
    }
    Some(out)
}

const SEQUENCE: u8 = 0x30;
/// id-ce-subjectAltName, 2.5.29.17 (RFC 5280 §4.2.1.6).
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];

/// The fields of a DER certificate (RFC 5280 §4.1).
fn parse(der: &[u8]) -> Option<CertInfo> {
    let (SEQUENCE, cert, _) = tlv(der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut fields = elements(tbs)?.into_iter().peekable();
    // version [0] EXPLICIT, absent for v1.
    if fields.peek().map(|f| f.0) == Some(0xa0) {
        fields.next();
    }
    let _serial = fields.next()?;
    let _signature = fields.next()?;
    let (SEQUENCE, issuer) = fields.next()? else {
        return None;
    };
    let (SEQUENCE, validity) = fields.next()? else {
        return None;
    };
    let (SEQUENCE, subject) = fields.next()? else {
        return None;
    };
    let _spki = fields.next()?;
    let times = elements(validity)?;
    let not_before = time(*times.first()?)?;
    let not_after = time(*times.get(1)?)?;
    let mut names = Vec::new();
    // extensions [3] EXPLICIT SEQUENCE OF Extension.
    if let Some((_, ext)) = fields.find(|f| f.0 == 0xa3) {
        let (SEQUENCE, list, _) = tlv(ext)? else {
            return None;
        };
        for (_, e) in elements(list)? {
            let parts = elements(e)?;
            if parts.first() != Some(&(0x06, OID_SAN)) {
                continue;
            }
            let (_, value) = parts.last()?;
            let (SEQUENCE, general, _) = tlv(value)? else {
                return None;
            };
            for (tag, v) in elements(general)? {
                match tag {
                    // dNSName [2] IA5String.
                    0x82 => names.push(String::from_utf8_lossy(v).into_owned()),
                    // iPAddress [7] OCTET STRING.
                    0x87 => {
                        if let Ok(b) = <[u8; 4]>::try_from(v) {
                            names.push(std::net::Ipv4Addr::from(b).to_string());
                        } else if let Ok(b) = <[u8; 16]>::try_from(v) {
                            names.push(std::net::Ipv6Addr::from(b).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Some(CertInfo {
        subject: name(subject)?,
        names,
        issuer: name(issuer)?,
        not_before,
        not_after,
    })
}

/// A Name as `CN=..., O=...` (RFC 4514 order is reversed; we keep the
/// certificate's order, which people read more easily).
fn name(rdns: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    for (_, set) in elements(rdns)? {
        for (_, atv) in elements(set)? {
            let pair = elements(atv)?;
            let (_, oid) = pair.first()?;
            let (_, value) = pair.get(1)?;
            let key = match *oid {
                [0x55, 0x04, 0x03] => "CN".to_string(),
                [0x55, 0x04, 0x06] => "C".into(),
                [0x55, 0x04, 0x07] => "L".into(),
                [0x55, 0x04, 0x08] => "ST".into(),
                [0x55, 0x04, 0x0a] => "O".into(),
                [0x55, 0x04, 0x0b] => "OU".into(),
                other => format!(
                    "OID{}",
                    other.iter().map(|b| format!(".{b}")).collect::<String>()
                ),
            };
            parts.push(format!("{key}={}", String::from_utf8_lossy(value)));
        }
    }
    Some(parts.join(", "))
}

/// UTCTime or GeneralizedTime (RFC 5280 §4.1.2.5) as Unix seconds.
fn time((tag, v): (u8, &[u8])) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let digits = |a: usize, b: usize| -> Option<i64> {
        let part = s.get(a..b)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, rest) = match tag {
        // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY.
        0x17 if s.len() == 12 => {
            let yy = digits(0, 2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        0x18 if s.len() == 14 => (digits(0, 4)?, 4),
        _ => return None,
    };
    let month = digits(rest, rest + 2)?;
    let day = digits(rest + 2, rest + 4)?;
    let (h, m, sec) = (
        digits(rest + 4, rest + 6)?,
        digits(rest + 6, rest + 8)?,
        digits(rest + 8, rest + 10)?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm, the inverse of [`crate::time::civil`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate for `names`, valid between the two Unix
    /// times, and its key, as PEM.
    fn make(names: &[&str], from: i64, until: i64) -> (String, String) {
        let mut p =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        p.distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example & Co");
        p.not_before =
            rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(from as u64);
        p.not_after =
            rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(until as u64);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = p.self_signed(&key).expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    const NOW: i64 = 1_796_000_000; // 2026-11-29

    #[test]
    fn reads_what_a_certificate_says() {
        let (cert, _) = make(
            &["mail.example.com", "example.com"],
            NOW - 86_400,
            NOW + 30 * 86_400 + 5,
        );
        let info = cert_info(cert.as_bytes()).expect("info");
        assert_eq!(info.subject, "CN=mail.example.com, O=Example & Co");
        assert_eq!(info.issuer, info.subject);
        assert_eq!(info.names, ["mail.example.com", "example.com"]);
        assert_eq!(info.not_before, NOW - 86_400);
        assert_eq!(info.not_after, NOW + 30 * 86_400 + 5);
        assert_eq!(info.days_left(NOW), 30);
        assert_eq!(info.days_left(NOW + 31 * 86_400), -1);
        // A date past 2049 is a GeneralizedTime.
        let far = 2_600_000_000; // 2052
        let (cert, _) = make(&["a.test"], NOW, far);
        assert_eq!(cert_info(cert.as_bytes()).expect("info").not_after, far);
    }

    #[test]
    fn the_key_must_match_and_the_dates_hold() {
        let (cert, key) = make(&["mail.example.com"], NOW - 10, NOW + 86_400);
        let (_, other_key) = make(&["mail.example.com"], NOW - 10, NOW + 86_400);
        assert!(validate_upload(cert.as_bytes(), key.as_bytes(), NOW).is_ok());
        let e = validate_upload(cert.as_bytes(), other_key.as_bytes(), NOW).unwrap_err();
        assert!(e.contains("does not belong"), "{e}");
        let e = validate_upload(cert.as_bytes(), key.as_bytes(), NOW + 2 * 86_400).unwrap_err();
        assert!(e.contains("expired"), "{e}");
        let e = validate_upload(cert.as_bytes(), key.as_bytes(), NOW - 100).unwrap_err();
        assert!(e.contains("not valid before"), "{e}");
        assert!(validate_upload(b"junk", key.as_bytes(), NOW).is_err());
        assert!(validate_upload(cert.as_bytes(), b"junk", NOW).is_err());
        assert!(validate_upload(key.as_bytes(), cert.as_bytes(), NOW).is_err());
    }

    #[test]
    fn bad_der_is_refused_not_a_panic() {
        let (cert, _) = make(&["a.test"], NOW, NOW + 10);
        let der = CertificateDer::pem_slice_iter(cert.as_bytes())
            .next()
            .expect("one")
            .expect("pem");
        let der = der.as_ref();
        for cut in 0..der.len() {
            let _ = parse(&der[..cut]);
            let mut flipped = der.to_vec();
            flipped[cut] ^= 0xff;
            let _ = parse(&flipped);
        }
        assert!(parse(der).is_some());
        assert_eq!(time((0x17, b"991231235959Z")), Some(946_684_799));
        assert_eq!(time((0x17, b"991331235959Z")), None);
        assert_eq!(time((0x18, b"19700101000000Z")), Some(0));
    }

    #[derive(Default)]
    struct Count(std::sync::atomic::AtomicU32);
    impl Notify for Count {
        fn tls_changed(&self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn install_keeps_the_old_pair_and_tells_the_server() {
        let (dir, cfg) = cert_config("cert");
        let notify = Count::default();
        let (c1, k1) = make(&["one.test"], NOW - 10, NOW + 86_400);
        let (c2, k2) = make(&["two.test"], NOW - 10, NOW + 86_400);
        install(&cfg, c1.as_bytes(), k1.as_bytes(), NOW, &notify).expect("first");
        // A mismatched pair changes nothing.
        assert!(install(&cfg, c2.as_bytes(), k1.as_bytes(), NOW, &notify).is_err());
        assert_eq!(fs::read_to_string(cfg.cert_path()).expect("cert"), c1);
        let info = install(&cfg, c2.as_bytes(), k2.as_bytes(), NOW, &notify).expect("second");
        assert_eq!(info.names, ["two.test"]);
        assert_eq!(notify.0.load(std::sync::atomic::Ordering::Relaxed), 2);
        assert_eq!(fs::read_to_string(cfg.cert_path()).expect("cert"), c2);
        assert_eq!(fs::read_to_string(cfg.key_path()).expect("key"), k2);
        let bak = |p: &Path| {
            p.with_file_name(format!(
                "{}.bak",
                p.file_name().and_then(|n| n.to_str()).unwrap_or_default()
            ))
        };
        assert_eq!(fs::read_to_string(bak(&cfg.cert_path())).expect("bak"), c1);
        assert_eq!(fs::read_to_string(bak(&cfg.key_path())).expect("bak"), k1);
        for p in [cfg.key_path(), bak(&cfg.key_path())] {
            let mode = fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        assert!(tls_loads(&cfg));
        let _ = fs::remove_dir_all(&dir);
    }

    fn cert_config(name: &str) -> (std::path::PathBuf, Config) {
        let dir = std::env::temp_dir().join(format!("facteur-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let cfg = Config::parse(
            &format!(
                "[server]\nhostname = \"mail.example.com\"\ndata_dir = \"{}\"\n",
                dir.display()
            ),
            "test",
        )
        .expect("config");
        (dir, cfg)
    }

    #[test]
    fn a_failed_write_leaves_the_old_pair_in_force() {
        let (dir, cfg) = cert_config("cert-half");
        let notify = Count::default();
        let (c1, k1) = make(&["one.test"], NOW - 10, NOW + 86_400);
        let (c2, k2) = make(&["two.test"], NOW - 10, NOW + 86_400);
        install(&cfg, c1.as_bytes(), k1.as_bytes(), NOW, &notify).expect("first");
        // The certificate's new file cannot be written (a directory is in
        // its way): the key must not change either.
        fs::create_dir_all(Pair::staged(&cfg.cert_path())).expect("blocker");
        assert!(install(&cfg, c2.as_bytes(), k2.as_bytes(), NOW, &notify).is_err());
        assert_eq!(fs::read_to_string(cfg.key_path()).expect("key"), k1);
        assert_eq!(fs::read_to_string(cfg.cert_path()).expect("cert"), c1);
        assert!(!Pair::staged(&cfg.key_path()).exists());
        assert!(matched(&cfg));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_stop_during_an_install_is_finished_or_undone_at_the_next_start() {
        let (dir, cfg) = cert_config("cert-stop");
        let notify = Count::default();
        let (c1, k1) = make(&["one.test"], NOW - 10, NOW + 86_400);
        let (c2, k2) = make(&["two.test"], NOW - 10, NOW + 86_400);
        install(&cfg, c1.as_bytes(), k1.as_bytes(), NOW, &notify).expect("first");
        let pair = Pair::of(&cfg);
        // Stopped between the two renames: the key is new, the
        // certificate old. The next start finishes the install.
        pair.stage(c2.as_bytes(), k2.as_bytes()).expect("stage");
        fs::rename(Pair::staged(&cfg.key_path()), cfg.key_path()).expect("one rename");
        assert!(!matched(&cfg), "a mismatched pair");
        recover(&cfg).expect("recover");
        assert_eq!(fs::read_to_string(cfg.cert_path()).expect("cert"), c2);
        assert!(matched(&cfg));
        assert!(!pair.marker().exists());
        // Stopped before the pair was complete: the old one stays.
        fs::write(Pair::staged(&cfg.key_path()), &k1).expect("half a stage");
        recover(&cfg).expect("recover");
        assert_eq!(fs::read_to_string(cfg.key_path()).expect("key"), k2);
        assert!(!Pair::staged(&cfg.key_path()).exists());
        assert!(matched(&cfg));
        let _ = fs::remove_dir_all(&dir);
    }

    /// Whether the files in force are a matching pair.
    fn matched(cfg: &Config) -> bool {
        let read = |p: std::path::PathBuf| fs::read(p).unwrap_or_default();
        validate_upload(&read(cfg.cert_path()), &read(cfg.key_path()), NOW).is_ok()
    }

    fn tls_loads(cfg: &Config) -> bool {
        crate::tls::load(&cfg.cert_path(), &cfg.key_path()).is_ok()
    }
}
