//! TLS on the PostgreSQL wire protocol (rustls): clients that ask for it (`sslmode=require`,
//! `verify-full`, `ssl=True`) get it; `[leader] require_tls` refuses the rest.
//!
//! The certificate and key come from `[leader] tls_cert` / `tls_key` (PEM files). A
//! cluster with none configured makes a self-signed pair at its first start, for
//! `localhost`, `127.0.0.1` and the listen host, in `<leader data>/tls/` (the key readable
//! by its owner only); clients verify it with `sslrootcert=<leader data>/tls/server.crt`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::LeaderConfig;
use crate::error::{Error, Result};

/// Where a cluster's own certificate and key are kept.
pub fn generated_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("server.crt"), dir.join("server.key"))
}

/// The acceptor every connection's TLS handshake goes through.
pub fn acceptor(lc: &LeaderConfig, data_dir: &Path) -> Result<tokio_rustls::TlsAcceptor> {
    let (cert, key) = match (lc.tls_cert.is_empty(), lc.tls_key.is_empty()) {
        (false, false) => (PathBuf::from(&lc.tls_cert), PathBuf::from(&lc.tls_key)),
        (true, true) => {
            let (cert, key) = generated_paths(data_dir);
            if !cert.exists() || !key.exists() {
                generate(lc, &cert, &key)?;
            }
            (cert, key)
        }
        _ => {
            return Err(Error::InvalidInput(
                "[leader] tls_cert and tls_key go together: set both, or neither for a self-signed pair".into(),
            ));
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| Error::InvalidInput(format!("TLS certificate {}: {e}", cert.display())))?;
    let private = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| Error::InvalidInput(format!("TLS key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| Error::InvalidInput(format!("TLS certificate and key do not fit: {e}")))?;
    // PostgreSQL 17's direct TLS negotiation names its protocol.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Makes a self-signed certificate and key; the key is written owner-readable only, and
/// the certificate last, so a pair is complete once the certificate exists.
fn generate(lc: &LeaderConfig, cert: &Path, key: &Path) -> Result<()> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if !names.contains(&lc.host) && lc.host != "0.0.0.0" && lc.host != "::" {
        names.push(lc.host.clone());
    }
    let pair = rcgen::generate_simple_self_signed(names)
        .map_err(|e| Error::Internal(format!("cannot make a TLS certificate: {e}")))?;
    let io = |p: &Path, e: std::io::Error| Error::Io(format!("cannot write {}: {e}", p.display()));
    blueshift_compute::secret::write_owner_only(key, &pair.signing_key.serialize_pem())
        .map_err(|e| io(key, e))?;
    blueshift_compute::secret::write_owner_only(cert, &pair.cert.pem()).map_err(|e| io(cert, e))?;
    tracing::info!("made a self-signed TLS certificate: {}", cert.display());
    Ok(())
}
