//! A missing or unusable certificate, key or CA file stops startup with an error that names
//! the file and what is wrong with it.

use aviary::config::Config;
use aviary::Broker;

use crate::certs::Pki;
use crate::procs::aviary;

fn start_error(cert: &str, key: &str, ca: Option<&str>) -> String {
    let ca = ca.map(|c| format!("ca_file = {c:?}\nrequire_client_cert = true\n")).unwrap_or_default();
    let toml = format!(
        "[[listener]]\nname = \"secure\"\nkind = \"tls\"\nbind = \"127.0.0.1:0\"\ncert_file = {cert:?}\nkey_file = {key:?}\n{ca}"
    );
    let config = Config::from_toml_str(&toml, "test").expect("valid config");
    match Broker::start(config) {
        Ok(_) => panic!("the broker started with {cert} / {key}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_certificate_files_stop_startup_naming_the_file() {
    let pki = Pki::generate("startup");
    let path = |p: &std::path::Path| p.display().to_string();
    let (cert, key, ca) = (path(&pki.server_cert), path(&pki.server_key), path(&pki.ca));
    let missing = pki.dir.join("missing.pem").display().to_string();

    let e = start_error(&missing, &key, None);
    assert!(e.contains("listener `secure`") && e.contains(&missing) && e.contains("No such file"), "{e}");

    let e = start_error(&key, &key, None);
    assert!(e.contains(&key) && e.contains("contains no certificate"), "{e}");

    let e = start_error(&cert, &cert, None);
    assert!(e.contains(&cert) && e.contains("contains no private key"), "{e}");

    let other_key = path(&pki.client_key);
    let e = start_error(&cert, &other_key, None);
    assert!(e.contains(&other_key) && e.contains("cannot be used with the certificate"), "{e}");

    let garbage = pki.dir.join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
        .expect("write");
    let e = start_error(&garbage.display().to_string(), &key, None);
    assert!(e.contains("garbage.pem"), "{e}");

    let e = start_error(&cert, &key, Some(&missing));
    assert!(e.contains(&missing), "{e}");
    assert!(start_error_ok(&cert, &key, &ca), "the good files start a broker");
}

fn start_error_ok(cert: &str, key: &str, ca: &str) -> bool {
    let toml = format!(
        "[[listener]]\nname = \"s\"\nkind = \"wss\"\nbind = \"127.0.0.1:0\"\ncert_file = {cert:?}\nkey_file = {key:?}\nca_file = {ca:?}\n"
    );
    Broker::start(Config::from_toml_str(&toml, "t").expect("config")).is_ok()
}

#[test]
fn the_binary_reports_a_bad_file_and_exits() {
    let pki = Pki::generate("startup-bin");
    let config = pki.dir.join("bad.toml");
    let missing = pki.dir.join("nope.key");
    std::fs::write(
        &config,
        format!(
            "[[listener]]\nname = \"secure\"\nkind = \"tls\"\nbind = \"127.0.0.1:0\"\ncert_file = {}\nkey_file = {}\n",
            Pki::toml(&pki.server_cert),
            Pki::toml(&missing)
        ),
    )
    .expect("config");
    let out = aviary().arg("--config").arg(&config).output().expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nope.key") && stderr.contains("cannot read"), "{stderr}");

    std::fs::write(&config, "[[listener]]\nname = \"secure\"\nkind = \"tls\"\n").expect("config");
    let out = aviary().arg("--config").arg(&config).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`listener.secure.cert_file` is required for a tls listener"), "{stderr}");
}
