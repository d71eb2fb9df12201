//! A TLS listener's options: `tls_versions`, `alpn_protocols` and `crl_file` (re-read on
//! SIGHUP), seen from a rustls client written for the test, from `aviary pub`, and in the
//! broker's log.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use aviary::protocol::{decode_packet, encode_packet, Packet, Protocol, ReasonCode};
use bytes::BytesMut;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::certs::{Pki, ALICE_SERIAL, BOB_SERIAL};
use crate::common::{connect_packet, within};
use crate::procs::{aviary, BrokerProc};

const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];
const ONLY_12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
const ONLY_13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// A broker config file with these TLS listeners (TOML bodies after `kind`/`bind`/cert/key).
fn config(pki: &Pki, listeners: &[(&str, &str)]) -> PathBuf {
    let (cert, key) = (Pki::toml(&pki.server_cert), Pki::toml(&pki.server_key));
    let mut toml = String::from("[log]\nformat = \"json\"\n");
    for (name, extra) in listeners {
        toml.push_str(&format!(
            "[[listener]]\nname = \"{name}\"\nkind = \"tls\"\nbind = \"127.0.0.1:0\"\ncert_file = {cert}\nkey_file = {key}\n{extra}\n"
        ));
    }
    let path = pki.dir.join("tls-options.toml");
    std::fs::write(&path, toml).expect("config");
    path
}

/// Connects with a rustls client offering `versions` and `alpn`, trusting the test CA.
async fn tls_connect(
    port: u16,
    ca: &Path,
    versions: &[&'static SupportedProtocolVersion],
    alpn: &[&str],
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA certificate")).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let tcp = within("tcp connect", TcpStream::connect(("127.0.0.1", port))).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("server name");
    within("TLS handshake", TlsConnector::from(Arc::new(config)).connect(name, tcp)).await
}

/// CONNECT / CONNACK over an established TLS stream: the listener serves MQTT on it.
async fn connack(stream: &mut TlsStream<TcpStream>, id: &str) -> ReasonCode {
    let mut out = BytesMut::new();
    let connect = Packet::Connect(Box::new(connect_packet(Protocol::V5, id)));
    encode_packet(&connect, Protocol::V5, &mut out).expect("encode");
    within("write CONNECT", stream.write_all(&out)).await.expect("write");
    let mut buf = BytesMut::new();
    loop {
        match decode_packet(&mut buf, Some(Protocol::V5), u32::MAX).expect("a valid packet") {
            Some(Packet::ConnAck(c)) => return c.reason,
            Some(other) => panic!("expected CONNACK, got {other:?}"),
            None => {}
        }
        let n = within("CONNACK", stream.read_buf(&mut buf)).await.expect("read");
        assert!(n > 0, "closed before CONNACK");
    }
}

fn version(s: &TlsStream<TcpStream>) -> Option<ProtocolVersion> {
    s.get_ref().1.protocol_version()
}

fn refusal(result: std::io::Result<TlsStream<TcpStream>>) -> String {
    match result {
        Ok(s) => panic!("handshake succeeded ({:?})", version(&s)),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn tls_versions_refuse_clients_without_a_common_version() {
    let pki = Pki::generate("versions");
    let path = config(
        &pki,
        &[("tls13", "tls_versions = [\"1.3\"]"), ("tls12", "tls_versions = [\"1.2\"]"), ("both", "")],
    );
    let mut broker = BrokerProc::start(&path, 3);
    let (p13, p12, both) = (broker.port("tls13"), broker.port("tls12"), broker.port("both"));

    // A TLS 1.2-only client and a 1.3-only listener: the server answers the ClientHello with a
    // protocol_version alert (RFC 8446 §4.2.1), and logs why.
    let e = refusal(tls_connect(p13, &pki.ca, ONLY_12, &[]).await);
    assert!(e.contains("ProtocolVersion"), "{e}");
    broker.proc.wait_stderr("the client offers no TLS version this listener accepts; see tls_versions");
    let e = refusal(tls_connect(p12, &pki.ca, ONLY_13, &[]).await);
    assert!(e.contains("ProtocolVersion"), "{e}");

    // A client offering both gets the listener's version, and MQTT works over it.
    for (port, expected) in [(p13, ProtocolVersion::TLSv1_3), (p12, ProtocolVersion::TLSv1_2)] {
        let mut s = tls_connect(port, &pki.ca, BOTH, &[]).await.expect("handshake");
        assert_eq!(version(&s), Some(expected));
        assert_eq!(connack(&mut s, &format!("v-{port}")).await, ReasonCode::Success);
    }
    // Without tls_versions: both.
    for (offer, expected) in [(ONLY_12, ProtocolVersion::TLSv1_2), (ONLY_13, ProtocolVersion::TLSv1_3)] {
        let s = tls_connect(both, &pki.ca, offer, &[]).await.expect("handshake");
        assert_eq!(version(&s), Some(expected));
    }
    assert!(broker.proc.is_running());
}

#[tokio::test]
async fn alpn_is_negotiated_and_foreign_protocols_are_refused() {
    let pki = Pki::generate("alpn");
    let path = config(&pki, &[("alpn", "alpn_protocols = [\"mqtt\"]"), ("plain-tls", "")]);
    let mut broker = BrokerProc::start(&path, 2);
    let (alpn, plain) = (broker.port("alpn"), broker.port("plain-tls"));

    // RFC 7301 §3.2: the server picks a protocol the client offered.
    for offer in [&["mqtt"][..], &["h2", "mqtt"]] {
        let mut s = tls_connect(alpn, &pki.ca, BOTH, offer).await.expect("handshake");
        assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"mqtt"[..]), "offered {offer:?}");
        assert_eq!(connack(&mut s, "alpn-client").await, ReasonCode::Success);
    }
    // Only other protocols: the no_application_protocol alert (RFC 7301 §3.2), and a log line.
    let e = refusal(tls_connect(alpn, &pki.ca, BOTH, &["h2", "x-amzn-mqtt-ca"]).await);
    assert!(e.contains("NoApplicationProtocol"), "{e}");
    broker.proc.wait_stderr("none of them in this listener's alpn_protocols");
    // A client that offers no ALPN at all is served (as `aviary pub` and most MQTT clients).
    let mut s = tls_connect(alpn, &pki.ca, BOTH, &[]).await.expect("handshake");
    assert_eq!(s.get_ref().1.alpn_protocol(), None);
    assert_eq!(connack(&mut s, "no-alpn").await, ReasonCode::Success);
    // A listener without alpn_protocols negotiates nothing, whatever the client offers.
    let s = tls_connect(plain, &pki.ca, BOTH, &["mqtt"]).await.expect("handshake");
    assert_eq!(s.get_ref().1.alpn_protocol(), None);
}

/// `aviary pub` with a client certificate.
fn publish_as(port: u16, pki: &Pki, cert: &Path, key: &Path) -> Output {
    aviary()
        .args(["pub", "--url", &format!("mqtts://localhost:{port}"), "--ca-file"])
        .arg(&pki.ca)
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .args(["-t", "crl/x", "-m", "x"])
        .output()
        .expect("aviary pub runs")
}

fn assert_revoked(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "TLS error exit code; stderr: {stderr}");
    assert!(stderr.contains("the broker rejected our client certificate (CertificateRevoked)"), "{stderr}");
}

#[test]
fn revoked_client_certificates_are_refused_and_crls_reload_on_sighup() {
    let pki = Pki::generate("crl");
    let live = pki.dir.join("live-crl.pem");
    std::fs::copy(pki.crl("alice-revoked.pem", &[ALICE_SERIAL]), &live).expect("copy");
    let extra = format!(
        "ca_file = {}\nrequire_client_cert = true\ncrl_file = {}",
        Pki::toml(&pki.ca),
        Pki::toml(&live)
    );
    let path = config(&pki, &[("mtls", &extra)]);
    let mut broker = BrokerProc::start(&path, 1);
    let port = broker.port("mtls");

    assert!(publish_as(port, &pki, &pki.bob_cert, &pki.bob_key).status.success(), "bob is not revoked");
    assert_revoked(&publish_as(port, &pki, &pki.client_cert, &pki.client_key));
    broker.proc.wait_stderr("the client certificate is listed in a CRL of crl_file");

    // The CA revokes bob instead; SIGHUP reads the CRL file again.
    std::fs::copy(pki.crl("bob-revoked.pem", &[BOB_SERIAL]), &live).expect("copy");
    broker.proc.signal("HUP");
    broker.proc.wait_stderr("TLS certificates reloaded");
    assert!(publish_as(port, &pki, &pki.client_cert, &pki.client_key).status.success(), "alice again");
    assert_revoked(&publish_as(port, &pki, &pki.bob_cert, &pki.bob_key));

    // A broken CRL file: the reload fails naming it, and the CRL in force stays.
    std::fs::write(&live, "-----BEGIN X509 CRL-----\nnot base64!\n-----END X509 CRL-----\n").expect("write");
    broker.proc.signal("HUP");
    let log = broker.proc.wait_stderr("TLS reload failed");
    assert!(log.contains("live-crl.pem"), "the log names the file");
    assert_revoked(&publish_as(port, &pki, &pki.bob_cert, &pki.bob_key));
    assert!(broker.proc.is_running());
}

#[test]
fn unusable_crl_files_stop_startup() {
    let pki = Pki::generate("crl-startup");
    let start = |crl: &Path| {
        let toml = format!(
            "[[listener]]\nname = \"m\"\nkind = \"tls\"\nbind = \"127.0.0.1:0\"\ncert_file = {}\nkey_file = {}\n\
             ca_file = {}\nrequire_client_cert = true\ncrl_file = {}\n",
            Pki::toml(&pki.server_cert),
            Pki::toml(&pki.server_key),
            Pki::toml(&pki.ca),
            Pki::toml(crl)
        );
        let config = aviary::config::Config::from_toml_str(&toml, "test").expect("valid config");
        aviary::Broker::start(config).err().map(|e| e.to_string())
    };
    let e = start(&pki.ca).expect("a certificate is not a CRL");
    assert!(e.contains("ca.pem") && e.contains("contains no CRL"), "{e}");
    let missing = pki.dir.join("missing-crl.pem");
    let e = start(&missing).expect("missing file");
    assert!(e.contains("listener `m`") && e.contains("missing-crl.pem"), "{e}");
    assert_eq!(start(&pki.crl("empty.pem", &[])), None, "an empty CRL is fine");
}
