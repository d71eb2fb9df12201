//! Opening the byte stream to a broker: TCP, TLS (rustls), WebSocket or both, and turning
//! failures into errors that say why in words.

use std::path::PathBuf;
use std::sync::Arc;

use aviary::transport::listener::{BoxRead, BoxWrite};
use aviary::transport::ws::{self, WsByteStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::error::CliError;
use super::url::{Scheme, Target};

/// TLS options of the command line.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// CA bundle to verify the broker with (default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain.
    pub cert: Option<PathBuf>,
    /// Client private key.
    pub key: Option<PathBuf>,
    /// Skip verification of the broker's certificate.
    pub insecure: bool,
}

/// Opens the stream to `target`.
pub async fn open(target: &Target, tls: &TlsOptions) -> Result<(BoxRead, BoxWrite), CliError> {
    let addr = format!("{}:{}", target.host, target.port);
    let tcp = TcpStream::connect(&addr)
        .await
        .map_err(|e| CliError::Connect { target: target.display(), why: e.to_string() })?;
    let _ = tcp.set_nodelay(true);
    match target.scheme {
        Scheme::Mqtt => {
            let (r, w) = tcp.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
        Scheme::Mqtts => split(handshake(target, tls, tcp).await?),
        Scheme::Ws => split(websocket(target, tcp).await?),
        Scheme::Wss => {
            let stream = handshake(target, tls, tcp).await?;
            split(websocket(target, stream).await?)
        }
    }
}

fn split<S: AsyncRead + AsyncWrite + Send + 'static>(s: S) -> Result<(BoxRead, BoxWrite), CliError> {
    let (r, w) = tokio::io::split(s);
    Ok((Box::new(r), Box::new(w)))
}

async fn websocket<S>(target: &Target, stream: S) -> Result<WsByteStream<S>, CliError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let http = if target.scheme == Scheme::Wss { "wss" } else { "ws" };
    let url = format!("{http}://{}:{}{}", bracket(&target.host), target.port, target.path);
    let fail = |why: String| CliError::Connect { target: target.display(), why };
    let mut request = url.into_client_request().map_err(|e| fail(e.to_string()))?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(ws::SUBPROTOCOL));
    let config = ws::config(u32::MAX / 4);
    match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
        Ok((ws, _)) => Ok(WsByteStream::new(ws)),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let body = resp.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            Err(fail(format!("WebSocket upgrade refused with HTTP {}: {}", resp.status(), body.trim())))
        }
        Err(tokio_tungstenite::tungstenite::Error::Io(e)) => {
            Err(tls_error(target, &e).unwrap_or_else(|| fail(format!("WebSocket handshake failed: {e}"))))
        }
        Err(e) => Err(fail(format!("WebSocket handshake failed: {e}"))),
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

async fn handshake<S>(
    target: &Target,
    opts: &TlsOptions,
    stream: S,
) -> Result<tokio_rustls::client::TlsStream<S>, CliError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = client_config(opts)?;
    let name = ServerName::try_from(target.host.clone())
        .map_err(|_| CliError::Usage(format!("`{}` is not a valid TLS server name", target.host)))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(|e| tls_error(target, &e).unwrap_or_else(|| handshake_io_error(target, &e)))
}

fn handshake_io_error(target: &Target, e: &std::io::Error) -> CliError {
    use std::io::ErrorKind::*;
    let why = match e.kind() {
        ConnectionReset | UnexpectedEof | BrokenPipe => {
            format!(
                "the broker closed the connection during the TLS handshake ({e}): is port {} a TLS port?",
                target.port
            )
        }
        _ => e.to_string(),
    };
    CliError::Tls { target: target.display(), why }
}

/// The TLS error inside an I/O error, explained; `None` when it is not a TLS error.
pub fn tls_error(target: &Target, e: &std::io::Error) -> Option<CliError> {
    let inner = e.get_ref()?.downcast_ref::<rustls::Error>()?;
    let why = match inner {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => {
                "certificate verification failed: the broker's certificate is not signed by a trusted CA (pass its CA with --ca-file)".to_owned()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate verification failed: the broker's certificate has expired".to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
                "certificate verification failed: the broker's certificate is not valid for `{}`",
                target.host
            ),
            other => format!("certificate verification failed: {other:?}"),
        },
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "the broker requires a client certificate (pass --cert and --key)".to_owned()
        }
        rustls::Error::AlertReceived(a @ (AlertDescription::CertificateExpired
        | AlertDescription::BadCertificate
        | AlertDescription::UnknownCA
        | AlertDescription::CertificateUnknown
        | AlertDescription::CertificateRevoked)) => {
            format!("the broker rejected our client certificate ({a:?})")
        }
        other => other.to_string(),
    };
    Some(CliError::Tls { target: target.display(), why })
}

fn client_config(opts: &TlsOptions) -> Result<ClientConfig, CliError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| CliError::Usage(format!("TLS setup failed: {e}")))?;
    let builder = if opts.insecure {
        eprintln!("warning: --insecure: the broker's certificate is not verified; anyone on the way can read and change this connection");
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        builder.with_root_certificates(roots(opts)?)
    };
    match (&opts.cert, &opts.key) {
        (Some(cert), Some(key)) => {
            let certs = read_certs(cert)?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                CliError::Usage(format!("--key {}: no usable PEM private key: {e}", key.display()))
            })?;
            builder.with_client_auth_cert(certs, key_der).map_err(|e| {
                CliError::Usage(format!(
                    "--cert {} / --key {} cannot be used: {e}",
                    cert.display(),
                    key.display()
                ))
            })
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(CliError::Usage("--cert and --key go together".into())),
    }
}

fn roots(opts: &TlsOptions) -> Result<RootCertStore, CliError> {
    let mut roots = RootCertStore::empty();
    match &opts.ca_file {
        Some(path) => {
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|e| {
                    CliError::Usage(format!("--ca-file {}: unusable certificate: {e}", path.display()))
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(CliError::Usage("no system CA certificates found; pass --ca-file".into()));
            }
        }
    }
    Ok(roots)
}

fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, CliError> {
    let bad = |why: String| CliError::Usage(format!("{}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("not a valid PEM file: {e}")))?;
    if certs.is_empty() {
        return Err(bad("contains no certificate".into()));
    }
    Ok(certs)
}

/// `--insecure`: accepts any certificate, but still checks the handshake signatures.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
