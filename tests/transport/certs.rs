//! Certificates made in the test with rcgen: a CA, a server certificate for localhost and
//! 127.0.0.1, client certificates (CN alice, CN bob), an expired client certificate (CN
//! mallory), a client certificate from another CA (CN eve), written as PEM files to a fresh
//! directory; and CRLs of the CA revoking given serial numbers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
};

/// Serial numbers of the client certificates.
pub const ALICE_SERIAL: u64 = 1001;
pub const BOB_SERIAL: u64 = 1004;

/// The PEM files of one test's PKI.
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub bob_cert: PathBuf,
    pub bob_key: PathBuf,
    pub expired_cert: PathBuf,
    pub expired_key: PathBuf,
    pub rogue_cert: PathBuf,
    pub rogue_key: PathBuf,
    /// The CA, to sign CRLs.
    ca_pair: (Certificate, KeyPair),
}

/// A fresh directory under cargo's test temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "transport-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn make_ca(cn: &str) -> (Certificate, KeyPair) {
    let key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    (p.self_signed(&key).expect("CA"), key)
}

fn leaf(
    (cn, serial): (&str, u64),
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
    issuer: &(Certificate, KeyPair),
    expired: bool,
) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.serial_number = Some(SerialNumber::from(serial));
    p.extended_key_usages = vec![usage];
    if expired {
        p.not_before = date_time_ymd(2020, 1, 1);
        p.not_after = date_time_ymd(2021, 1, 1);
    }
    let cert = p.signed_by(&key, &issuer.0, &issuer.1).expect("leaf");
    (cert.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).expect("write pem");
    path
}

impl Pki {
    /// Generates every certificate into a new directory.
    pub fn generate(name: &str) -> Pki {
        let dir = temp_dir(name);
        let ca = make_ca("Aviary Test CA");
        let other_ca = make_ca("Someone Else's CA");
        let server = leaf(
            ("localhost", 1000),
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &ca,
            false,
        );
        let client = leaf(("alice", ALICE_SERIAL), &[], ExtendedKeyUsagePurpose::ClientAuth, &ca, false);
        let bob = leaf(("bob", BOB_SERIAL), &[], ExtendedKeyUsagePurpose::ClientAuth, &ca, false);
        let expired = leaf(("mallory", 1002), &[], ExtendedKeyUsagePurpose::ClientAuth, &ca, true);
        let rogue = leaf(("eve", 1003), &[], ExtendedKeyUsagePurpose::ClientAuth, &other_ca, false);
        Pki {
            bob_cert: write(&dir, "bob.pem", &bob.0),
            bob_key: write(&dir, "bob.key", &bob.1),
            ca: write(&dir, "ca.pem", &ca.0.pem()),
            server_cert: write(&dir, "server.pem", &server.0),
            server_key: write(&dir, "server.key", &server.1),
            client_cert: write(&dir, "client.pem", &client.0),
            client_key: write(&dir, "client.key", &client.1),
            expired_cert: write(&dir, "expired.pem", &expired.0),
            expired_key: write(&dir, "expired.key", &expired.1),
            rogue_cert: write(&dir, "rogue.pem", &rogue.0),
            rogue_key: write(&dir, "rogue.key", &rogue.1),
            ca_pair: ca,
            dir,
        }
    }

    /// Writes `file`: a PEM CRL of the CA revoking these serial numbers (none: an empty CRL).
    pub fn crl(&self, file: &str, revoked: &[u64]) -> PathBuf {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2024, 1, 1),
            next_update: date_time_ymd(2100, 1, 1),
            crl_number: SerialNumber::from(revoked.len() as u64 + 1),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|&serial| RevokedCertParams {
                    serial_number: SerialNumber::from(serial),
                    revocation_time: date_time_ymd(2024, 1, 1),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.ca_pair.0, &self.ca_pair.1).expect("CRL");
        write(&self.dir, file, &crl.pem().expect("CRL PEM"))
    }

    /// A second server certificate from a new CA (for reload tests): (ca, cert, key).
    pub fn other_server(&self) -> (PathBuf, PathBuf, PathBuf) {
        let ca = make_ca("Second Test CA");
        let server = leaf(
            ("localhost", 2000),
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &ca,
            false,
        );
        (
            write(&self.dir, "ca2.pem", &ca.0.pem()),
            write(&self.dir, "server2.pem", &server.0),
            write(&self.dir, "server2.key", &server.1),
        )
    }

    /// A TOML string value for a path.
    pub fn toml(path: &Path) -> String {
        format!("{:?}", path.display().to_string())
    }
}
