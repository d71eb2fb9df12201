//! Interoperability both ways: `aviary pub` / `aviary sub` against a real Mosquitto broker
//! (plain, TLS and WebSocket listeners), and Mosquitto's own clients against Aviary over TLS,
//! with and without a client certificate.

use crate::certs::Pki;
use crate::procs::{aviary, free_port, tool, wait_port, BrokerProc, Proc};
use crate::walk::{all_listeners_config, subscriber};

/// Mosquitto with a plain, a TLS and a WebSocket listener on free ports.
struct Mosquitto {
    _proc: Proc,
    plain: u16,
    tls: u16,
    ws: u16,
}

fn start_mosquitto(pki: &Pki) -> Mosquitto {
    let (plain, tls, ws) = (free_port(), free_port(), free_port());
    let config = pki.dir.join("mosquitto.conf");
    let text = format!(
        "user root\nlog_dest stderr\npersistence false\n\
         listener {plain} 127.0.0.1\nallow_anonymous true\n\
         listener {tls} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
         listener {ws} 127.0.0.1\nprotocol websockets\n",
        pki.ca.display(),
        pki.server_cert.display(),
        pki.server_key.display()
    );
    std::fs::write(&config, text).expect("mosquitto config");
    let proc = Proc::spawn("mosquitto", tool("mosquitto", "mosquitto").arg("-c").arg(&config));
    for port in [plain, tls, ws] {
        wait_port(port);
    }
    Mosquitto { _proc: proc, plain, tls, ws }
}

#[test]
fn aviary_clients_work_against_mosquitto() {
    let pki = Pki::generate("mosq");
    let m = start_mosquitto(&pki);
    let ca = vec!["--ca-file".to_owned(), pki.ca.display().to_string()];
    let cases = [
        (format!("mqtt://localhost:{}", m.plain), vec![], "5"),
        (format!("mqtt://localhost:{}", m.plain), vec![], "mqttv311"),
        (format!("mqtts://localhost:{}", m.tls), ca.clone(), "5"),
        (format!("ws://localhost:{}/mqtt", m.ws), vec![], "5"),
    ];
    for (url, tls, version) in cases {
        let sub_args = ["-V", version, "-t", "interop/#", "-q", "2", "-v", "-C", "2", "-W", "10"];
        let s1 = subscriber(&format!("sub 1 {url} v{version}"), &url, &tls, &sub_args);
        let s2 = subscriber(&format!("sub 2 {url} v{version}"), &url, &tls, &sub_args);
        for (qos, text) in [("1", "one"), ("2", "two")] {
            let out = aviary()
                .args(["pub", "--url", &url, "-V", version, "-q", qos, "-t", "interop/m", "-m", text])
                .args(&tls)
                .output()
                .expect("aviary pub runs");
            assert!(out.status.success(), "pub to mosquitto at {url}: {out:?}");
        }
        for s in [s1, s2] {
            let out = s.finish().success();
            assert_eq!(out.stdout, "interop/m one\ninterop/m two\n", "{}", out.name);
        }
    }
}

#[test]
fn mosquitto_clients_work_against_aviary_over_tls() {
    let pki = Pki::generate("mosq-clients");
    let broker = BrokerProc::start(&all_listeners_config(&pki, ""), 5);
    let ca = pki.ca.display().to_string();
    let (cert, key) = (pki.client_cert.display().to_string(), pki.client_key.display().to_string());
    let cases = [
        (broker.port("tls"), vec!["--cafile", ca.as_str()]),
        (broker.port("mtls"), vec!["--cafile", ca.as_str(), "--cert", cert.as_str(), "--key", key.as_str()]),
    ];
    for (port, tls) in cases {
        let port = port.to_string();
        let common = ["-h", "localhost", "-p", port.as_str(), "-V", "mqttv5", "-q", "1"];
        let sub = |name: &str| {
            // stdbuf: line-buffered stdout, so SUBACK shows before the process ends.
            let _ = tool("mosquitto_sub", "mosquitto-clients");
            Proc::spawn(
                name,
                tool("stdbuf", "coreutils")
                    .args(["-oL", "mosquitto_sub"])
                    .args(common)
                    .args(&tls)
                    .args(["-t", "tls/#", "-v", "-C", "1", "-W", "10", "-d"]),
            )
        };
        let (mut s1, mut s2) = (sub("mosquitto_sub 1"), sub("mosquitto_sub 2"));
        s1.wait_for(|p| p.stdout().contains("received SUBACK"), "SUBACK");
        s2.wait_for(|p| p.stdout().contains("received SUBACK"), "SUBACK");
        let out = tool("mosquitto_pub", "mosquitto-clients")
            .args(common)
            .args(&tls)
            .args(["-t", "tls/m", "-m", "over tls"])
            .output()
            .expect("mosquitto_pub runs");
        assert!(out.status.success(), "mosquitto_pub: {out:?}");
        for s in [s1, s2] {
            let out = s.finish().success();
            assert!(out.stdout.contains("tls/m over tls\n"), "{}: {}", out.name, out.stdout);
        }
    }
    // TLS 1.2 is accepted as well as 1.3.
    let port = broker.port("tls").to_string();
    let out = tool("mosquitto_pub", "mosquitto-clients")
        .args([
            "-h",
            "localhost",
            "-p",
            &port,
            "--cafile",
            &ca,
            "--tls-version",
            "tlsv1.2",
            "-t",
            "x",
            "-m",
            "y",
        ])
        .output()
        .expect("runs");
    assert!(out.status.success(), "TLS 1.2: {out:?}");
    // Without the client certificate the second listener refuses mosquitto_pub.
    let port = broker.port("mtls").to_string();
    let out = tool("mosquitto_pub", "mosquitto-clients")
        .args(["-h", "localhost", "-p", &port, "--cafile", &ca, "-t", "x", "-m", "y"])
        .output()
        .expect("runs");
    assert!(!out.status.success(), "no client certificate, no connection");
}
