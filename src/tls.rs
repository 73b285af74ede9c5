//! TLS server configuration: the certificate and key from the config, or a
//! self-signed pair generated (rcgen) into the data dir on first start.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use crate::config::Config;

/// The crypto provider: ring only (see CRATES.md on aws-lc-rs).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads the configured certificate, generating a self-signed one first
/// when neither file exists and the paths are the data-dir defaults.
pub fn server_config(cfg: &Config) -> Result<Arc<rustls::ServerConfig>, String> {
    crate::provision::cert::recover(cfg)?;
    let cert_path = cfg.cert_path();
    let key_path = cfg.key_path();
    let defaults = cfg.tls.cert.is_none() && cfg.tls.key.is_none();
    if defaults && !cert_path.exists() && !key_path.exists() {
        generate(&cfg.server.hostname.0, &cert_path, &key_path)?;
        log::info!(
            "generated a self-signed certificate for {} in {}",
            cfg.server.hostname,
            cert_path.display()
        );
    }
    load(&cert_path, &key_path)
}

/// Reads a PEM chain and key into a rustls server config.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read certificate {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "cannot read certificate {}: no PEM certificate in it",
            cert_path.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("cannot read private key {}: {e}", key_path.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "certificate {} and key {} do not work together: {e}",
                cert_path.display(),
                key_path.display()
            )
        })?;
    // Small session cache: resumption helps phones, memory stays bounded.
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(256);
    Ok(Arc::new(config))
}

fn generate(hostname: &str, cert_path: &Path, key_path: &Path) -> Result<(), String> {
    let names = vec![hostname.to_string(), "localhost".to_string()];
    let mut params = rcgen::CertificateParams::new(names)
        .map_err(|e| format!("cannot make a certificate for {hostname}: {e}"))?;
    params.subject_alt_names.push(rcgen::SanType::IpAddress(
        std::net::Ipv4Addr::LOCALHOST.into(),
    ));
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot sign the certificate: {e}"))?;
    let dir = cert_path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_file(key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let err = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(err)
}
