//! SIGHUP reloads the TLS certificates: clients already connected stay connected, new
//! handshakes present the new certificate, and files that fail to load keep the old ones.

use crate::certs::Pki;
use crate::procs::{aviary, BrokerProc};
use crate::walk::subscriber;

#[test]
fn sighup_swaps_certificates_without_dropping_clients() {
    let pki = Pki::generate("reload");
    // The broker reads the files at these paths; the test overwrites them.
    let (cert, key) = (pki.dir.join("live.pem"), pki.dir.join("live.key"));
    std::fs::copy(&pki.server_cert, &cert).expect("copy");
    std::fs::copy(&pki.server_key, &key).expect("copy");
    let config = pki.dir.join("reload.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nformat = \"json\"\n[[listener]]\nname = \"tls\"\nkind = \"tls\"\nbind = \"127.0.0.1:0\"\n\
             cert_file = {}\nkey_file = {}\n",
            Pki::toml(&cert),
            Pki::toml(&key)
        ),
    )
    .expect("config");
    let mut broker = BrokerProc::start(&config, 1);
    let url = format!("mqtts://localhost:{}", broker.port("tls"));
    let ca1 = ["--ca-file".to_owned(), pki.ca.display().to_string()];
    let old_client = subscriber("old client", &url, &ca1, &["-t", "reload/#", "-v", "-C", "1", "-W", "30"]);

    let (ca2, cert2, key2) = pki.other_server();
    std::fs::copy(&cert2, &cert).expect("copy");
    std::fs::copy(&key2, &key).expect("copy");
    broker.proc.signal("HUP");
    broker.proc.wait_stderr("TLS certificates reloaded");

    let publish = |ca: &std::path::Path| {
        aviary()
            .args(["pub", "--url", &url, "--ca-file"])
            .arg(ca)
            .args(["-t", "reload/x", "-m", "after reload"])
            .output()
            .expect("runs")
    };
    let old_ca = publish(&pki.ca);
    assert_eq!(old_ca.status.code(), Some(4), "the old CA no longer verifies: {old_ca:?}");
    assert!(publish(&ca2).status.success(), "the new certificate is served");
    let out = old_client.finish().success();
    assert_eq!(
        out.stdout, "reload/x after reload\n",
        "the client connected before the reload kept its connection"
    );

    // A broken file: the reload fails, is logged, and the working certificate stays.
    std::fs::write(&cert, "not a certificate").expect("write");
    broker.proc.signal("HUP");
    broker.proc.wait_stderr("TLS reload failed");
    assert!(broker.proc.stderr().contains("live.pem"), "the log names the file");
    assert!(publish(&ca2).status.success(), "the previous certificate stays in use");
    assert!(broker.proc.is_running());
}
