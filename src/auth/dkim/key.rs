//! DKIM signing keys: generation, storage and the public key record.
//!
//! Keys live in `<data_dir>/dkim/<domain>/<selector>.pem`, one PKCS#8
//! private key in PEM per file, mode 0600, in directories of mode 0700.
//! The algorithm is read from the key itself. The key with the newest file
//! (modification time; equal times: the greatest selector) of each
//! algorithm is the active one: messages from the domain are signed with
//! every active key, so a domain with an RSA and an Ed25519 key gets two
//! signatures (RFC 8463 §4 recommends this while verifiers learn Ed25519).
//!
//! Default selectors are `rsa-YYYYMMDD` and `ed25519-YYYYMMDD` (the UTC day
//! of generation), with `-2`, `-3`, ... appended when that name is taken.
//! Selectors are one DNS label of letters, digits and `-`, lower-cased.
//!
//! A new key signs from the moment it is written: publish its record
//! (`facteur dns-records DOMAIN`) before generating a replacement for a key
//! already in use, or mail signed meanwhile fails verification.
//!
//! ring cannot generate RSA keys, so the `rsa` crate generates them (and
//! only that: the key is exported as PKCS#8 and ring signs with it).

use crate::config::Hostname;
use crate::proto::base64;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Size of generated RSA keys: 2048 bits, what RFC 8301 §3.2 asks signers
/// for and what fits a TXT record comfortably.
pub const RSA_BITS: usize = 2048;

/// Largest key file read (a 4096-bit RSA key in PEM is about 3.3 KiB).
const MAX_KEY_FILE: u64 = 16 * 1024;

/// A signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Algorithm {
    /// `rsa-sha256` (RFC 6376 §3.3.1).
    RsaSha256,
    /// `ed25519-sha256` (RFC 8463 §3).
    Ed25519Sha256,
}

impl Algorithm {
    /// The `a=` tag value.
    pub fn tag(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa-sha256",
            Algorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// The key type: the `k=` tag of the key record, and the prefix of
    /// default selectors.
    pub fn key_type(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa",
            Algorithm::Ed25519Sha256 => "ed25519",
        }
    }

    /// Parses a key type as given on the command line (`rsa`, `ed25519`).
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_lowercase().as_str() {
            "rsa" | "rsa-sha256" => Some(Algorithm::RsaSha256),
            "ed25519" | "ed25519-sha256" => Some(Algorithm::Ed25519Sha256),
            _ => None,
        }
    }
}

/// Why a key could not be made, stored or read.
#[derive(Debug)]
pub enum KeyError {
    /// Reading or writing the key files failed.
    Io(PathBuf, std::io::Error),
    /// A file holds no usable key.
    BadKey(PathBuf, String),
    /// The domain name is not a DNS name.
    BadDomain(String),
    /// The selector is not one DNS label of letters, digits and `-`.
    BadSelector(String),
    /// A key with this selector exists already.
    Exists(PathBuf),
    /// Generating the key failed.
    Generate(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            KeyError::BadKey(p, e) => write!(f, "{}: not a usable DKIM key: {e}", p.display()),
            KeyError::BadDomain(d) => write!(f, "{d:?} is not a domain name"),
            KeyError::BadSelector(s) => write!(
                f,
                "{s:?} is not a valid selector (one DNS label: letters, digits and '-')"
            ),
            KeyError::Exists(p) => write!(f, "{} exists already", p.display()),
            KeyError::Generate(e) => write!(f, "key generation failed: {e}"),
        }
    }
}

impl std::error::Error for KeyError {}

enum Pair {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key with the domain and selector it signs for.
pub struct SigningKey {
    domain: String,
    selector: String,
    pair: Pair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key from its PKCS#8 DER encoding; RSA (2048 to 8192 bits, as ring
    /// requires) or Ed25519.
    pub fn from_pkcs8(domain: &str, selector: &str, der: &[u8]) -> Result<SigningKey, String> {
        let domain = Hostname::parse(domain)
            .ok_or_else(|| format!("{domain:?} is not a domain name"))?
            .0;
        let selector = check_selector(selector).map_err(|e| e.to_string())?;
        let pair = match Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            Ok(p) => Pair::Ed25519(p),
            Err(_) => Pair::Rsa(RsaKeyPair::from_pkcs8(der).map_err(|e| {
                format!("neither an Ed25519 key nor an RSA key of 2048 to 8192 bits ({e})")
            })?),
        };
        Ok(SigningKey {
            domain,
            selector,
            pair,
        })
    }

    /// An Ed25519 key from its 32-byte seed (RFC 8032 §5.1.5).
    pub fn ed25519_from_seed(
        domain: &str,
        selector: &str,
        seed: &[u8],
    ) -> Result<SigningKey, String> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|e| format!("bad Ed25519 seed: {e}"))?;
        Ok(SigningKey {
            domain: Hostname::parse(domain)
                .ok_or_else(|| format!("{domain:?} is not a domain name"))?
                .0,
            selector: check_selector(selector).map_err(|e| e.to_string())?,
            pair: Pair::Ed25519(pair),
        })
    }

    /// The signing domain (`d=`), lower-case.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The selector (`s=`).
    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.pair {
            Pair::Rsa(_) => Algorithm::RsaSha256,
            Pair::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }

    /// The public key as published in `p=`: for RSA the DER
    /// SubjectPublicKeyInfo, for Ed25519 the raw 32-byte key (RFC 8463 §4).
    pub fn public_key(&self) -> Vec<u8> {
        match &self.pair {
            Pair::Rsa(p) => rsa_spki(p.public().as_ref()),
            Pair::Ed25519(p) => p.public_key().as_ref().to_vec(),
        }
    }

    /// The name the key record is published at (RFC 6376 §3.6.2.1).
    pub fn record_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// The key record text (RFC 6376 §3.6.1): `v=DKIM1; k=rsa; p=...`.
    pub fn record(&self) -> String {
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm().key_type(),
            base64::encode(&self.public_key())
        )
    }

    /// Signs the canonicalised header data (RFC 6376 §3.7). RSA signs it
    /// with PKCS#1 v1.5 and SHA-256; Ed25519 signs its SHA-256 digest, as
    /// PureEdDSA over the 32 hash bytes (RFC 8463 §3).
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        match &self.pair {
            Pair::Rsa(p) => {
                let mut sig = vec![0; p.public().modulus_len()];
                p.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    data,
                    &mut sig,
                )
                .map_err(|e| format!("RSA signing failed: {e}"))?;
                Ok(sig)
            }
            Pair::Ed25519(p) => {
                let hash = ring::digest::digest(&ring::digest::SHA256, data);
                Ok(p.sign(hash.as_ref()).as_ref().to_vec())
            }
        }
    }
}

/// Wraps a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo (RFC 5280 §4.1,
/// RFC 3279 §2.3.1), the form DKIM records carry.
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
    const ALG: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0x03];
    der_len(pkcs1.len() + 1, &mut bits);
    bits.push(0); // no unused bits
    bits.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    der_len(ALG.len() + bits.len(), &mut out);
    out.extend_from_slice(ALG);
    out.extend_from_slice(&bits);
    out
}

fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Checks and lower-cases a selector: one DNS label of letters, digits and
/// `-` (RFC 6376 §3.1 allows dotted selectors; keeping to one label keeps
/// file names plain).
pub fn check_selector(s: &str) -> Result<String, KeyError> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(KeyError::BadSelector(s.to_string()))
    }
}

/// The PKCS#8 DER encoding of a new private key.
pub fn generate_pkcs8(algorithm: Algorithm) -> Result<Vec<u8>, KeyError> {
    let rng = SystemRandom::new();
    match algorithm {
        Algorithm::Ed25519Sha256 => Ed25519KeyPair::generate_pkcs8(&rng)
            .map(|d| d.as_ref().to_vec())
            .map_err(|e| KeyError::Generate(e.to_string())),
        Algorithm::RsaSha256 => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::PrivateKey::new(&mut RingRng(rng), RSA_BITS)
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            let der = key
                .to_pkcs8_der()
                .map_err(|e| KeyError::Generate(e.to_string()))?;
            Ok(der.as_bytes().to_vec())
        }
    }
}

/// The operating system's random numbers through ring, for the `rsa`
/// crate's key generation.
struct RingRng(SystemRandom);

/// The system random number generator failed.
#[derive(Debug)]
struct RngError;

impl fmt::Display for RngError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the system random number generator failed")
    }
}

impl std::error::Error for RngError {}

impl rsa::rand_core::TryRng for RingRng {
    type Error = RngError;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst).map_err(|_| RngError)
    }
}

impl rsa::rand_core::TryCryptoRng for RingRng {}

/// The directory holding a domain's keys.
pub fn key_dir(data_dir: &Path, domain: &str) -> Result<PathBuf, KeyError> {
    let d = Hostname::parse(domain).ok_or_else(|| KeyError::BadDomain(domain.to_string()))?;
    Ok(data_dir.join("dkim").join(d.0))
}

/// Generates a key for `domain` and stores it; `now` (Unix seconds) names
/// the default selector. Returns the new key.
pub fn generate(
    data_dir: &Path,
    domain: &str,
    algorithm: Algorithm,
    selector: Option<&str>,
    now: i64,
) -> Result<SigningKey, KeyError> {
    let dir = key_dir(data_dir, domain)?;
    let selector = match selector {
        Some(s) => {
            let s = check_selector(s)?;
            let path = dir.join(format!("{s}.pem"));
            if path.exists() {
                return Err(KeyError::Exists(path));
            }
            s
        }
        None => default_selector(&dir, algorithm, now),
    };
    let der = generate_pkcs8(algorithm)?;
    let path = dir.join(format!("{selector}.pem"));
    let key = SigningKey::from_pkcs8(domain, &selector, &der)
        .map_err(|e| KeyError::BadKey(path.clone(), e))?;
    create_dirs(data_dir, &dir)?;
    write_new(&dir, &selector, &pem(&der))?;
    Ok(key)
}

/// `rsa-20261128`, or `rsa-20261128-2` and so on when taken.
fn default_selector(dir: &Path, algorithm: Algorithm, now: i64) -> String {
    let day: String = crate::time::rfc3339(now)
        .chars()
        .take(10)
        .filter(char::is_ascii_digit)
        .collect();
    let base = format!("{}-{day}", algorithm.key_type());
    let mut name = base.clone();
    let mut n = 1;
    while dir.join(format!("{name}.pem")).exists() {
        n += 1;
        name = format!("{base}-{n}");
    }
    name
}

/// Makes sure `domain` has a signing key, generating an RSA one if it has
/// none. Returns the key generated, if any.
pub fn ensure_key(data_dir: &Path, domain: &str, now: i64) -> Result<Option<SigningKey>, KeyError> {
    if !load_all(data_dir, domain)?.is_empty() {
        return Ok(None);
    }
    generate(data_dir, domain, Algorithm::RsaSha256, None, now).map(Some)
}

/// [`ensure_key`] for the admin service: the lines telling what was done
/// (nothing if the domain had a key), failures included, since the domain
/// itself was added.
pub fn ensure_key_report(data_dir: &Path, domain: &str) -> Vec<String> {
    match ensure_key(data_dir, domain, crate::time::unix_now()) {
        Ok(None) => Vec::new(),
        Ok(Some(k)) => vec![format!(
            "generated the DKIM key {} ({}); publish its record: facteur dns-records {}",
            k.selector(),
            k.algorithm().key_type(),
            k.domain()
        )],
        Err(e) => vec![format!(
            "no DKIM key was made ({e}); mail from {domain} goes out unsigned \
             until `facteur dkim generate {domain}` succeeds"
        )],
    }
}

/// Most key requests waiting for the [`KeyMaker`]; more are dropped (and
/// made at the next start). A request is one domain name.
const KEY_QUEUE: usize = 1024;

/// Makes missing keys on a thread of its own, one at a time, so that
/// adding a domain to a running server does not wait for RSA key
/// generation (a second or more on a small board).
pub struct KeyMaker {
    tx: std::sync::mpsc::SyncSender<String>,
}

impl KeyMaker {
    /// Starts the thread; it first makes sure each of `domains` has a key,
    /// then serves [`KeyMaker::request`]s until the `KeyMaker` is dropped.
    pub fn start(data_dir: PathBuf, domains: Vec<String>) -> std::io::Result<KeyMaker> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<String>(KEY_QUEUE);
        std::thread::Builder::new()
            .name("dkim-keys".into())
            .spawn(move || {
                for domain in domains.into_iter().chain(rx) {
                    match ensure_key(&data_dir, &domain, crate::time::unix_now()) {
                        Ok(None) => {}
                        Ok(Some(k)) => log::info!(
                            "generated the DKIM key {} ({}) for {domain}",
                            k.selector(),
                            k.algorithm().key_type()
                        ),
                        Err(e) => log::warn!("no DKIM key for {domain}: {e}"),
                    }
                }
            })?;
        Ok(KeyMaker { tx })
    }

    /// Asks for a key for `domain` if it has none. Returns false if the
    /// queue is full (the key is then made at the next start).
    pub fn request(&self, domain: &str) -> bool {
        self.tx.try_send(domain.to_string()).is_ok()
    }
}

/// Every readable key of a domain, newest first. Files that hold no usable
/// key are skipped with a warning in the log.
pub fn load_all(data_dir: &Path, domain: &str) -> Result<Vec<SigningKey>, KeyError> {
    let dir = key_dir(data_dir, domain)?;
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KeyError::Io(dir, e)),
    };
    let mut keys = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| KeyError::Io(dir.clone(), e))?;
        let name = entry.file_name();
        let Some(selector) = name.to_str().and_then(|n| n.strip_suffix(".pem")) else {
            continue;
        };
        if check_selector(selector).is_err() {
            continue;
        }
        let path = entry.path();
        match read_key(&path, domain, selector) {
            Ok((key, mtime)) => keys.push((mtime, key)),
            Err(e) => log::warn!("DKIM: {e}"),
        }
    }
    keys.sort_by(|(ta, a), (tb, b)| tb.cmp(ta).then_with(|| b.selector.cmp(&a.selector)));
    Ok(keys.into_iter().map(|(_, k)| k).collect())
}

/// The keys messages from `domain` are signed with: the newest of each
/// algorithm, RSA first. Empty if the domain has no key.
pub fn load_active(data_dir: &Path, domain: &str) -> Result<Vec<SigningKey>, KeyError> {
    let mut active: Vec<SigningKey> = Vec::new();
    for key in load_all(data_dir, domain)? {
        if active.iter().all(|k| k.algorithm() != key.algorithm()) {
            active.push(key);
        }
    }
    active.sort_by_key(SigningKey::algorithm);
    Ok(active)
}

fn read_key(path: &Path, domain: &str, selector: &str) -> Result<(SigningKey, i128), KeyError> {
    let io = |e| KeyError::Io(path.to_path_buf(), e);
    let file = fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.len() > MAX_KEY_FILE {
        return Err(KeyError::BadKey(
            path.to_path_buf(),
            "file too large".into(),
        ));
    }
    let text = fs::read(path).map_err(io)?;
    let der = PrivatePkcs8KeyDer::from_pem_slice(&text)
        .map_err(|e| KeyError::BadKey(path.to_path_buf(), format!("no PKCS#8 PEM key: {e}")))?;
    let key = SigningKey::from_pkcs8(domain, selector, der.secret_pkcs8_der())
        .map_err(|e| KeyError::BadKey(path.to_path_buf(), e))?;
    let mtime = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    Ok((key, mtime))
}

/// PEM (RFC 7468 §10) of a PKCS#8 private key.
fn pem(der: &[u8]) -> String {
    let b64 = base64::encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

/// Creates `<data_dir>/dkim` and the domain directory, mode 0700, owned
/// like the data dir (so that keys made by root for a server running as
/// another user stay readable by it).
fn create_dirs(data_dir: &Path, dir: &Path) -> Result<(), KeyError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true).mode(0o700);
    b.create(dir)
        .map_err(|e| KeyError::Io(dir.to_path_buf(), e))?;
    if let Some(parent) = dir.parent() {
        same_owner(data_dir, parent);
    }
    same_owner(data_dir, dir);
    Ok(())
}

/// Gives `path` the owner of `data_dir` when they differ (only root can).
fn same_owner(data_dir: &Path, path: &Path) {
    let (Ok(want), Ok(have)) = (fs::metadata(data_dir), fs::metadata(path)) else {
        return;
    };
    if (want.uid(), want.gid()) != (have.uid(), have.gid()) {
        if let Err(e) = std::os::unix::fs::chown(path, Some(want.uid()), Some(want.gid())) {
            log::warn!(
                "cannot give {} to the data dir's owner: {e}",
                path.display()
            );
        }
    }
}

/// Writes `<dir>/<selector>.pem` atomically and durably, never replacing
/// an existing file: temporary file (0600), fsync, hard link to the final
/// name (fails if it exists), unlink, fsync of the directory.
fn write_new(dir: &Path, selector: &str, text: &str) -> Result<(), KeyError> {
    let path = dir.join(format!("{selector}.pem"));
    let tmp = dir.join(format!(".{selector}.pem.tmp"));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| KeyError::Io(p, e)
    };
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(KeyError::Io(tmp, e)),
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(text.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    if let Some(data_dir) = dir.parent().and_then(Path::parent) {
        same_owner(data_dir, &tmp);
    }
    let linked = fs::hard_link(&tmp, &path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(KeyError::Exists(path))
        }
        Err(e) => return Err(KeyError::Io(path, e)),
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, ED25519, RSA_PKCS1_2048_8192_SHA256};
    use std::os::unix::fs::PermissionsExt;

    /// A fresh empty directory under the system temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("facteur-dkim-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    const NOW: i64 = 1_795_833_000; // 2026-11-28

    #[test]
    fn ed25519_keys_are_stored_loaded_and_published() {
        let data = temp_dir("ed");
        let key = generate(&data, "Example.COM", Algorithm::Ed25519Sha256, None, NOW).unwrap();
        assert_eq!(key.domain(), "example.com");
        assert_eq!(key.selector(), "ed25519-20261128");
        assert_eq!(key.record_name(), "ed25519-20261128._domainkey.example.com");
        let path = data.join("dkim/example.com/ed25519-20261128.pem");
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let dir_mode = fs::metadata(data.join("dkim/example.com"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{text}");
        assert!(text.lines().all(|l| l.len() <= 64));
        // No temporary file left behind.
        assert_eq!(
            fs::read_dir(data.join("dkim/example.com")).unwrap().count(),
            1
        );

        let loaded = load_active(&data, "example.com").unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].public_key(), key.public_key());
        assert_eq!(loaded[0].public_key().len(), 32);
        let record = loaded[0].record();
        let p = record.strip_prefix("v=DKIM1; k=ed25519; p=").unwrap();
        assert_eq!(base64::decode(p.as_bytes()).unwrap(), key.public_key());

        // The signature is Ed25519 over the SHA-256 of the data (RFC 8463).
        let sig = loaded[0].sign(b"data").unwrap();
        let hash = ring::digest::digest(&ring::digest::SHA256, b"data");
        UnparsedPublicKey::new(&ED25519, key.public_key())
            .verify(hash.as_ref(), &sig)
            .unwrap();

        // The same default selector is not reused; an explicit one must be new.
        let second = generate(&data, "example.com", Algorithm::Ed25519Sha256, None, NOW).unwrap();
        assert_eq!(second.selector(), "ed25519-20261128-2");
        let e = generate(
            &data,
            "example.com",
            Algorithm::Ed25519Sha256,
            Some("ed25519-20261128"),
            NOW,
        )
        .unwrap_err();
        assert!(matches!(e, KeyError::Exists(_)), "{e}");
        assert!(matches!(
            generate(
                &data,
                "example.com",
                Algorithm::Ed25519Sha256,
                Some("a.b"),
                NOW
            ),
            Err(KeyError::BadSelector(_))
        ));
        assert!(matches!(
            generate(&data, "../etc", Algorithm::Ed25519Sha256, None, NOW),
            Err(KeyError::BadDomain(_))
        ));
        let _ = fs::remove_dir_all(&data);
    }

    #[test]
    fn rsa_key_generation_and_signature() {
        let data = temp_dir("rsa");
        assert!(ensure_key(&data, "example.org", NOW).unwrap().is_some());
        // A second call finds the key.
        assert!(ensure_key(&data, "example.org", NOW).unwrap().is_none());
        let keys = load_active(&data, "example.org").unwrap();
        assert_eq!(keys.len(), 1);
        let key = &keys[0];
        assert_eq!(key.algorithm(), Algorithm::RsaSha256);
        assert_eq!(key.selector(), "rsa-20261128");
        let spki = key.public_key();
        let record = key.record();
        assert_eq!(
            record,
            format!("v=DKIM1; k=rsa; p={}", base64::encode(&spki))
        );

        // The SubjectPublicKeyInfo wraps the key ring verifies with.
        let Pair::Rsa(pair) = &key.pair else { panic!() };
        let pkcs1 = pair.public().as_ref();
        assert!(spki.ends_with(pkcs1));
        assert_eq!(pair.public().modulus_len(), 256);
        let sig = key.sign(b"header data").unwrap();
        assert_eq!(sig.len(), 256);
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pkcs1)
            .verify(b"header data", &sig)
            .unwrap();
        assert!(UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pkcs1)
            .verify(b"header dat4", &sig)
            .is_err());
        let _ = fs::remove_dir_all(&data);
    }

    #[test]
    fn newest_key_per_algorithm_is_active() {
        let data = temp_dir("active");
        let dir = data.join("dkim/example.net");
        let old = generate(
            &data,
            "example.net",
            Algorithm::Ed25519Sha256,
            Some("old"),
            NOW,
        )
        .unwrap();
        let new = generate(
            &data,
            "example.net",
            Algorithm::Ed25519Sha256,
            Some("new"),
            NOW,
        )
        .unwrap();
        let set_mtime = |sel: &str, secs: u64| {
            let f = fs::File::options()
                .write(true)
                .open(dir.join(format!("{sel}.pem")))
                .unwrap();
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
                .unwrap();
        };
        set_mtime("old", 1_000);
        set_mtime("new", 2_000);
        // Junk next to the keys is ignored.
        fs::write(dir.join("broken.pem"), "not a key").unwrap();
        fs::write(dir.join("notes.txt"), "hello").unwrap();
        let active = load_active(&data, "example.net").unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].selector(), "new");
        assert_eq!(active[0].public_key(), new.public_key());
        set_mtime("old", 3_000);
        assert_eq!(
            load_active(&data, "example.net").unwrap()[0].public_key(),
            old.public_key()
        );
        assert_eq!(load_all(&data, "example.net").unwrap().len(), 2);
        // No keys, no directory: nothing active.
        assert!(load_active(&data, "nokeys.example").unwrap().is_empty());
        let _ = fs::remove_dir_all(&data);
    }

    #[test]
    fn spki_length_encoding() {
        let mut v = Vec::new();
        der_len(5, &mut v);
        der_len(0x80, &mut v);
        der_len(0x10e, &mut v);
        assert_eq!(v, [5, 0x81, 0x80, 0x82, 0x01, 0x0e]);
    }
}
