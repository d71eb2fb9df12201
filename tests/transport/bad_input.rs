//! Clients that speak the wrong thing to a listener each get a clear error, the broker logs
//! one clear line, and a client already connected notices nothing.

use std::process::Output;

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Error as WsError;

use crate::certs::Pki;
use crate::common::within;
use crate::procs::{aviary, BrokerProc};
use crate::walk::{all_listeners_config, subscriber};

fn publish(url: &str, extra: &[&str]) -> Output {
    aviary()
        .args(["pub", "--url", url, "-t", "bad/x", "-m", "x"])
        .args(extra)
        .output()
        .expect("aviary pub runs")
}

fn assert_fails(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {stderr}");
    assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
}

/// Sends a WebSocket upgrade offering `protocol` (or none) and returns the HTTP status.
async fn ws_upgrade_status(port: u16, path: &str, protocol: Option<&str>) -> u16 {
    let mut req = format!("ws://127.0.0.1:{port}{path}").into_client_request().expect("request");
    if let Some(p) = protocol {
        req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(p).expect("header"));
    }
    let tcp =
        within("tcp connect", tokio::net::TcpStream::connect(("127.0.0.1", port))).await.expect("connect");
    match within("websocket upgrade", tokio_tungstenite::client_async(req, tcp)).await {
        Err(WsError::Http(resp)) => resp.status().as_u16(),
        Ok((_, resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected upgrade error: {e}"),
    }
}

#[tokio::test]
async fn wrong_protocols_are_refused_clearly_and_disturb_no_one() {
    let pki = Pki::generate("bad");
    let mut broker = BrokerProc::start(&all_listeners_config(&pki, ""), 5);
    let plain = format!("mqtt://localhost:{}", broker.port("plain"));
    let watcher = subscriber("watcher", &plain, &[], &["-t", "bad/#", "-v", "-C", "1", "-W", "30"]);
    let ca = pki.ca.display().to_string();
    // Two handshakes that never finish (silence; half a ClientHello) stay open throughout:
    // they hold up no one, because each handshake runs in a task of its own.
    let tls_addr = ("127.0.0.1", broker.port("tls"));
    let _silent = within("tcp connect", tokio::net::TcpStream::connect(tls_addr)).await.expect("connect");
    let mut stalled = within("tcp connect", tokio::net::TcpStream::connect(tls_addr)).await.expect("connect");
    tokio::io::AsyncWriteExt::write_all(&mut stalled, &[0x16, 0x03, 0x01]).await.expect("write");

    // Plain MQTT to the TLS port.
    let out = publish(&format!("mqtt://localhost:{}", broker.port("tls")), &[]);
    assert_fails(&out, 3, "before answering CONNECT");
    broker.proc.wait_stderr("plain MQTT received on a TLS listener");

    // A TLS ClientHello to the plain port.
    let out = publish(&format!("mqtts://localhost:{}", broker.port("plain")), &["--ca-file", &ca]);
    assert_fails(&out, 4, "TLS");
    broker.proc.wait_stderr("TLS handshake received on a plain MQTT listener");

    // No --ca-file: the server's certificate is not trusted.
    let out = publish(&format!("mqtts://localhost:{}", broker.port("tls")), &[]);
    assert_fails(&out, 4, "not signed by a trusted CA");

    // WebSocket upgrades: wrong subprotocol, none, wrong path; the right one works.
    let ws = broker.port("ws");
    assert_eq!(ws_upgrade_status(ws, "/mqtt", Some("wamp")).await, 400);
    broker.proc.wait_stderr("subprotocol `mqtt` not offered (Sec-WebSocket-Protocol: wamp");
    assert_eq!(ws_upgrade_status(ws, "/mqtt", None).await, 400);
    broker.proc.wait_stderr("(Sec-WebSocket-Protocol: none");
    assert_eq!(ws_upgrade_status(ws, "/other", Some("mqtt")).await, 404);
    broker.proc.wait_stderr("path `/other` is not `/mqtt`");
    assert_eq!(ws_upgrade_status(ws, "/mqtt", Some("wamp, mqtt")).await, 101);

    // Client certificates: expired, from another CA, missing.
    let mtls = format!("mqtts://localhost:{}", broker.port("mtls"));
    let (cert, key) = (pki.expired_cert.display().to_string(), pki.expired_key.display().to_string());
    let out = publish(&mtls, &["--ca-file", &ca, "--cert", &cert, "--key", &key]);
    assert_fails(&out, 4, "the broker rejected our client certificate (CertificateExpired)");
    broker.proc.wait_stderr("TLS handshake failed: invalid peer certificate: certificate expired");
    let (cert, key) = (pki.rogue_cert.display().to_string(), pki.rogue_key.display().to_string());
    let out = publish(&mtls, &["--ca-file", &ca, "--cert", &cert, "--key", &key]);
    assert_fails(&out, 4, "the broker rejected our client certificate");
    let out = publish(&mtls, &["--ca-file", &ca]);
    assert_fails(&out, 4, "the broker requires a client certificate");

    // TLS still works for everyone else, with TLS 1.3 (aviary pub) as with TLS 1.2.
    let out = publish(&format!("mqtts://localhost:{}", broker.port("tls")), &["--ca-file", &ca]);
    assert!(out.status.success(), "{out:?}");

    // Nothing of the above disturbed the client that was already there.
    let out = publish(&plain, &[]);
    assert!(out.status.success(), "{out:?}");
    let watched = watcher.finish().success();
    assert_eq!(watched.stdout, "bad/x x\n");
    assert!(broker.proc.is_running(), "the broker survived");
}
