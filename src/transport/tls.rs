//! TLS for `tls` and `wss` listeners (rustls through tokio-rustls, TLS 1.2 and 1.3, or the
//! listener's `tls_versions`), with optional ALPN (`alpn_protocols`) and client certificate
//! revocation lists (`crl_file`).
//!
//! The server configuration is built once at startup from the listener's PEM files, so a
//! missing or bad file stops the broker with an error naming the file. It sits behind an
//! [`ArcSwap`]: [`TlsAcceptor::reload`] (called on SIGHUP) builds a new one from the same files
//! (certificate, key, CA bundle, CRLs) and swaps it in; handshakes already done keep their
//! connection, new ones use the new files. A reload that fails keeps the old configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

use crate::config::{ListenerConfig, TlsVersion};

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
    crl: Option<PathBuf>,
    require_client_cert: bool,
    versions: Vec<&'static SupportedProtocolVersion>,
    alpn: Vec<Vec<u8>>,
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
            crl: l.crl_file.clone(),
            require_client_cert: l.require_client_cert,
            versions: versions(l.tls_versions.as_deref()),
            alpn: l.alpn_protocols.iter().flatten().map(|p| p.as_bytes().to_vec()).collect(),
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

/// The rustls versions of `tls_versions` (both when unset), newest first.
fn versions(configured: Option<&[TlsVersion]>) -> Vec<&'static SupportedProtocolVersion> {
    let wanted = |v| configured.is_none_or(|c| c.contains(&v));
    let mut out = Vec::new();
    if wanted(TlsVersion::Tls13) {
        out.push(&rustls::version::TLS13);
    }
    if wanted(TlsVersion::Tls12) {
        out.push(&rustls::version::TLS12);
    }
    out
}

/// A failed handshake's error, with a hint at the listener option behind it when there is
/// one (no common TLS version, no common ALPN protocol, a revoked client certificate).
pub fn explain(e: &std::io::Error) -> String {
    use rustls::CertificateError as C;
    use rustls::PeerIncompatible as P;
    let hint = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::PeerIncompatible(
            P::SupportedVersionsExtensionRequired | P::Tls12NotOffered | P::Tls12NotOfferedOrEnabled,
        )) => " (the client offers no TLS version this listener accepts; see tls_versions)",
        Some(rustls::Error::NoApplicationProtocol) => {
            " (the client offers ALPN protocols, none of them in this listener's alpn_protocols)"
        }
        Some(rustls::Error::InvalidCertificate(C::Revoked)) => {
            " (the client certificate is listed in a CRL of crl_file)"
        }
        Some(rustls::Error::InvalidCertificate(C::UnknownRevocationStatus)) => {
            " (crl_file holds no CRL of the client certificate's issuer)"
        }
        _ => "",
    };
    format!("{e}{hint}")
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
        .with_protocol_versions(&f.versions)
        .map_err(|e| invalid(f, &f.cert, format!("TLS setup failed: {e}")))?;
    let builder = match &f.ca {
        Some(ca) => builder.with_client_cert_verifier(client_verifier(f, ca, provider)?),
        None if f.crl.is_some() => {
            let crl = f.crl.as_deref().unwrap_or(Path::new(""));
            return Err(invalid(f, crl, "crl_file needs ca_file".into()));
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        invalid(f, &f.key, format!("cannot be used with the certificate in {}: {e}", f.cert.display()))
    })?;
    config.alpn_protocols = f.alpn.clone();
    Ok(config)
}

/// Verifies client certificates against the CA bundle and, with `crl_file`, its CRLs: the
/// end-entity certificate must be covered by a CRL of its issuer and not be listed in it
/// (as OpenSSL's CRL check, which Mosquitto's `crlfile` uses).
fn client_verifier(
    f: &Files,
    ca: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(f, ca)? {
        roots.add(cert).map_err(|e| invalid(f, ca, format!("unusable CA certificate: {e}")))?;
    }
    let mut verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if let Some(crl) = &f.crl {
        verifier = verifier.with_crls(read_crls(f, crl)?).only_check_end_entity_revocation();
    }
    if !f.require_client_cert {
        verifier = verifier.allow_unauthenticated();
    }
    verifier.build().map_err(|e| match (e, &f.crl) {
        (VerifierBuilderError::InvalidCrl(e), Some(crl)) => invalid(f, crl, format!("unusable CRL: {e:?}")),
        (e, _) => invalid(f, ca, format!("unusable CA bundle: {e}")),
    })
}

/// Reads every CRL of a PEM file; a CRL past its next update is logged, not refused (as an
/// expired certificate), so a late CRL refresh does not lock every client out.
fn read_crls(f: &Files, path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let pem = read_file(f, path)?;
    let crls = CertificateRevocationListDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(f, path, format!("is not a valid PEM file: {e}")))?;
    if crls.is_empty() {
        return Err(invalid(f, path, "contains no CRL (no `BEGIN X509 CRL` block)".into()));
    }
    for crl in &crls {
        let (_, parsed) = x509_parser::parse_x509_crl(crl.as_ref())
            .map_err(|e| invalid(f, path, format!("holds a CRL that is not valid X.509: {e}")))?;
        let next = parsed.next_update();
        if next.is_some_and(|n| n < x509_parser::time::ASN1Time::now()) {
            tracing::warn!(
                listener = %f.listener, file = %path.display(), issuer = %parsed.issuer(),
                next_update = %next.map(|n| n.to_string()).unwrap_or_default(), "CRL is out of date"
            );
        }
    }
    Ok(crls)
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
