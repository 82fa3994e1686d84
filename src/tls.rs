//! The certificate and key the HTTPS listener (and SIP over TLS) present: read from the
//! configured PEM files, or — when none exist yet — a self-signed pair generated at first start
//! and written there, so the next start presents the same one (browsers and phones that
//! accepted it once keep accepting it). rustls with the aws-lc-rs provider: no OpenSSL.
//!
//! Owns: reading/writing the PEM pair, building rustls server configurations. Never does:
//! sockets, handshakes (tokio-rustls does), logging key material.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tracing::info;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// A client configuration trusting the certificates of `ca_files` (PEM bundles: a carrier's
/// CA, or the system's, e.g. /etc/ssl/certs/ca-certificates.crt), for TLS connections we open.
pub fn client_config(ca_files: &[PathBuf]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for path in ca_files {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| pem_error(path, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| pem_error(path, e))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TlsError::Pem {
                path: path.clone(),
                message: "no usable CA certificate in this file".into(),
            });
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A certificate chain and its private key.
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// SHA-256 fingerprint of the leaf certificate (shown to admins to pin it in phones).
    pub fingerprint: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity(sha256 {})", self.fingerprint)
    }
}

/// Read `cert`/`key`; when neither exists, generate a self-signed pair for `names` (DNS names
/// and IP addresses) and write it there (the key readable by its owner only).
pub fn load_or_generate(cert: &Path, key: &Path, names: &[String]) -> Result<Identity, TlsError> {
    if !cert.exists() && !key.exists() {
        generate(cert, key, names)?;
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_error(cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem_error(cert, e))?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert.to_path_buf(),
            message: "no certificate in the file".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e))?;
    let fingerprint = fingerprint(&certs[0]);
    Ok(Identity {
        certs,
        key: key_der,
        fingerprint,
    })
}

fn pem_error(path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
    match e {
        rustls::pki_types::pem::Error::Io(source) => TlsError::Read {
            path: path.to_path_buf(),
            source,
        },
        other => TlsError::Pem {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    }
}

fn generate(cert: &Path, key: &Path, names: &[String]) -> Result<(), TlsError> {
    let mut names: Vec<String> = names.to_vec();
    for n in ["localhost", "127.0.0.1"] {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "centrale (self-signed)");
    for n in &names {
        let san = match n.parse::<IpAddr>() {
            Ok(ip) => rcgen::SanType::IpAddress(ip),
            Err(_) => rcgen::SanType::DnsName(
                n.clone()
                    .try_into()
                    .map_err(|e: rcgen::Error| TlsError::Generate(e.to_string()))?,
            ),
        };
        params.subject_alt_names.push(san);
    }
    // Valid for ten years from today: it is replaced by a real one, not renewed.
    let now = jiff::Timestamp::now();
    let days = |d: i64| {
        let t = now + jiff::SignedDuration::from_hours(24 * d);
        let date = t.to_zoned(jiff::tz::TimeZone::UTC).date();
        rcgen::date_time_ymd(i32::from(date.year()), date.month() as u8, date.day() as u8)
    };
    params.not_before = days(-1);
    params.not_after = days(3650);
    let pair = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let c = params
        .self_signed(&pair)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    for (path, text) in [(cert, c.pem()), (key, pair.serialize_pem())] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        write_private(path, text.as_bytes()).map_err(|source| TlsError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    info!(cert = %cert.display(), names = ?names, "generated a self-signed certificate");
    Ok(())
}

/// Write a file only its owner can read (the key; the certificate too, harmlessly).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)?.write_all(bytes)
}

fn fingerprint(cert: &CertificateDer<'_>) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(cert.as_ref());
    d.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A TLS server configuration with these ALPN protocols (e.g. `http/1.1`), TLS 1.2 and 1.3.
pub fn server_config(id: &Identity, alpn: &[&[u8]]) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(id.certs.clone(), id.key.clone_key())
        .map_err(|e| TlsError::Config(e.to_string()))?;
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}
