//! TLS for `tls` and `wss` listeners (rustls through tokio-rustls, TLS 1.2 and 1.3).
//!
//! The server configuration is built once at startup from the listener's PEM files, so a
//! missing or bad file stops the broker with an error naming the file. It sits behind an
//! [`ArcSwap`]: [`TlsAcceptor::reload`] (called on SIGHUP) builds a new one from the same files
//! and swaps it in; handshakes already done keep their connection, new ones use the new
//! certificates. A reload that fails keeps the old configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

use crate::config::ListenerConfig;

/// Why a listener's TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("listener `{listener}`: cannot read {path}: {source}")]
    Read {
        /// Listener name.
        listener: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file was read but its contents cannot be used.
    #[error("listener `{listener}`: {path}: {problem}")]
    Invalid {
        /// Listener name.
        listener: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

/// The files a TLS listener is built from.
#[derive(Debug, Clone)]
struct Files {
    listener: String,
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
    require_client_cert: bool,
}

/// A reloadable TLS acceptor for one listener. Cloning shares it.
#[derive(Clone)]
pub struct TlsAcceptor {
    files: Arc<Files>,
    current: Arc<ArcSwap<ServerConfig>>,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor").field("files", &self.files).finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Builds the acceptor of a `tls` or `wss` listener from its files.
    pub fn from_listener(l: &ListenerConfig) -> Result<TlsAcceptor, TlsError> {
        let missing = |what: &str| TlsError::Invalid {
            listener: l.name.clone(),
            path: PathBuf::new(),
            problem: format!("{what} is not set"),
        };
        let files = Files {
            listener: l.name.clone(),
            cert: l.cert_file.clone().ok_or_else(|| missing("cert_file"))?,
            key: l.key_file.clone().ok_or_else(|| missing("key_file"))?,
            ca: l.ca_file.clone(),
            require_client_cert: l.require_client_cert,
        };
        let config = build(&files)?;
        Ok(TlsAcceptor { files: Arc::new(files), current: Arc::new(ArcSwap::from_pointee(config)) })
    }

    /// Reads the files again and uses them for the next handshakes. On error the previous
    /// configuration stays in force.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = build(&self.files)?;
        self.current.store(Arc::new(config));
        tracing::info!(listener = %self.files.listener, "TLS certificates reloaded");
        Ok(())
    }

    /// Runs the server side of a handshake. Returns the stream and the subject CN of the
    /// client certificate, when one was presented (it has been verified by then).
    pub async fn accept<S>(&self, stream: S) -> std::io::Result<(TlsStream<S>, Option<String>)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.current.load_full());
        let tls = acceptor.accept(stream).await?;
        let subject = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(subject_name);
        Ok((tls, subject))
    }
}

/// The subject CN of a certificate, or the whole subject when it has no CN.
pub fn subject_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let cn = subject.iter_common_name().next().and_then(|cn| cn.as_str().ok());
    match cn {
        Some(cn) => Some(cn.to_owned()),
        None => Some(subject.to_string()).filter(|s| !s.is_empty()),
    }
}

fn build(f: &Files) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(f, &f.cert)?;
    let key = read_key(f, &f.key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| invalid(f, &f.cert, format!("TLS setup failed: {e}")))?;
    let builder = match &f.ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(f, ca)? {
                roots.add(cert).map_err(|e| invalid(f, ca, format!("unusable CA certificate: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if f.require_client_cert { verifier } else { verifier.allow_unauthenticated() };
            let verifier =
                verifier.build().map_err(|e| invalid(f, ca, format!("unusable CA bundle: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    builder.with_single_cert(certs, key).map_err(|e| {
        invalid(f, &f.key, format!("cannot be used with the certificate in {}: {e}", f.cert.display()))
    })
}

fn invalid(f: &Files, path: &Path, problem: String) -> TlsError {
    TlsError::Invalid { listener: f.listener.clone(), path: path.to_owned(), problem }
}

fn read_file(f: &Files, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        listener: f.listener.clone(),
        path: path.to_owned(),
        source,
    })
}

/// Reads every certificate of a PEM file; each must parse as X.509. An expired certificate
/// is logged, not refused (clients decide), so a broker restarts with what it has.
fn read_certs(f: &Files, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file(f, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(f, path, format!("is not a valid PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(f, path, "contains no certificate (no `BEGIN CERTIFICATE` block)".into()));
    }
    for cert in &certs {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
            .map_err(|e| invalid(f, path, format!("holds a certificate that is not valid X.509: {e}")))?;
        if !parsed.validity().is_valid() {
            tracing::warn!(
                listener = %f.listener, file = %path.display(), subject = %parsed.subject(),
                not_after = %parsed.validity().not_after, "certificate is expired or not yet valid"
            );
        }
    }
    Ok(certs)
}

fn read_key(f: &Files, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_file(f, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            invalid(f, path, "contains no private key (no `BEGIN PRIVATE KEY` block)".into())
        }
        e => invalid(f, path, format!("is not a valid PEM private key: {e}")),
    })
}
