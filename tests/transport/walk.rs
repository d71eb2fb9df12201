//! The first hour of a user, end to end with the `aviary` binary: two `aviary sub` processes
//! and one `aviary pub` over mqtt://, mqtts:// with the test CA, mqtts:// with a client
//! certificate required, ws:// and wss://.

use std::path::Path;

use crate::certs::Pki;
use crate::procs::{aviary, BrokerProc, Proc};

/// A broker config with every listener kind on ephemeral ports and JSON logs.
pub fn all_listeners_config(pki: &Pki, extra: &str) -> std::path::PathBuf {
    let (cert, key, ca) = (Pki::toml(&pki.server_cert), Pki::toml(&pki.server_key), Pki::toml(&pki.ca));
    let toml = format!(
        r#"
[log]
format = "json"
{extra}
[[listener]]
name = "plain"
bind = "127.0.0.1:0"

[[listener]]
name = "tls"
kind = "tls"
bind = "127.0.0.1:0"
cert_file = {cert}
key_file = {key}

[[listener]]
name = "mtls"
kind = "tls"
bind = "127.0.0.1:0"
cert_file = {cert}
key_file = {key}
ca_file = {ca}
require_client_cert = true
use_identity_as_username = true

[[listener]]
name = "ws"
kind = "ws"
bind = "127.0.0.1:0"

[[listener]]
name = "wss"
kind = "wss"
bind = "127.0.0.1:0"
path = "/mqtt"
cert_file = {cert}
key_file = {key}
"#
    );
    let path = pki.dir.join("aviary.toml");
    std::fs::write(&path, toml).expect("config");
    path
}

/// Starts `aviary sub -d` and waits until its SUBACK arrived.
pub fn subscriber(name: &str, url: &str, tls: &[String], args: &[&str]) -> Proc {
    let mut sub = Proc::spawn(name, aviary().args(["sub", "-d", "--url", url]).args(tls).args(args));
    sub.wait_stderr("received SubAck");
    sub
}

fn tls_args(ca: &Path, client: Option<(&Path, &Path)>) -> Vec<String> {
    let mut v = vec!["--ca-file".to_owned(), ca.display().to_string()];
    if let Some((cert, key)) = client {
        v.extend([
            "--cert".to_owned(),
            cert.display().to_string(),
            "--key".to_owned(),
            key.display().to_string(),
        ]);
    }
    v
}

fn round_trip(url: &str, tls: &[String], label: &str) {
    let topic = format!("walk/{label}");
    let sub_args = ["-t", "walk/#", "-q", "1", "-v", "-C", "1", "-W", "10"];
    let s1 = subscriber(&format!("sub 1 ({label})"), url, tls, &sub_args);
    let s2 = subscriber(&format!("sub 2 ({label})"), url, tls, &sub_args);
    let message = format!("hello over {label}");
    aviary()
        .args(["pub", "--url", url])
        .args(tls)
        .args(["-t", &topic, "-q", "1", "-m", &message])
        .output()
        .map(|o| assert!(o.status.success(), "pub over {label}: {}", String::from_utf8_lossy(&o.stderr)))
        .expect("aviary pub runs");
    for s in [s1, s2] {
        let out = s.finish().success();
        assert_eq!(out.stdout, format!("{topic} {message}\n"), "{}", out.name);
    }
}

#[test]
fn two_subscribers_and_a_publisher_over_every_transport() {
    let pki = Pki::generate("walk");
    let broker = BrokerProc::start(&all_listeners_config(&pki, ""), 5);
    let ca_only = tls_args(&pki.ca, None);
    let with_cert = tls_args(&pki.ca, Some((&pki.client_cert, &pki.client_key)));
    round_trip(&format!("mqtt://localhost:{}", broker.port("plain")), &[], "mqtt");
    round_trip(&format!("mqtts://localhost:{}", broker.port("tls")), &ca_only, "mqtts");
    round_trip(&format!("mqtts://localhost:{}", broker.port("mtls")), &with_cert, "mqtts-client-cert");
    round_trip(&format!("ws://localhost:{}/mqtt", broker.port("ws")), &[], "ws");
    round_trip(&format!("wss://localhost:{}/mqtt", broker.port("wss")), &ca_only, "wss");
    // -h/-p with a TLS option means mqtts://.
    let port = broker.port("tls").to_string();
    let args = ["-h", "localhost", "-p", port.as_str(), "-t", "x", "-m", "y"];
    aviary()
        .arg("pub")
        .args(&ca_only)
        .args(args)
        .output()
        .map(|o| assert!(o.status.success()))
        .expect("runs");
}

/// With `use_identity_as_username`, the certificate's CN becomes the user name: with
/// anonymous clients refused (and no plugin to accept a user name), the same client is
/// "not authorized" (0x87) on the plain listener but has a "bad user name or password" (0x86)
/// on the client-certificate listener, and `aviary pub` reports both with exit code 5.
#[test]
fn client_certificate_cn_becomes_the_user_name() {
    let pki = Pki::generate("identity");
    let broker = BrokerProc::start(&all_listeners_config(&pki, "[auth]\nallow_anonymous = false\n"), 5);
    let plain = aviary()
        .args(["pub", "--url", &format!("mqtt://localhost:{}", broker.port("plain")), "-t", "a", "-m", "b"])
        .output()
        .expect("runs");
    assert_eq!(plain.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&plain.stderr).contains("0x87 (not authorized)"), "{plain:?}");
    let url = format!("mqtts://localhost:{}", broker.port("mtls"));
    let with_cert = tls_args(&pki.ca, Some((&pki.client_cert, &pki.client_key)));
    let out = aviary()
        .args(["pub", "--url", &url])
        .args(&with_cert)
        .args(["-t", "a", "-m", "b"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("authentication failed") && stderr.contains("0x86 (bad user name or password)"),
        "{stderr}"
    );
}
