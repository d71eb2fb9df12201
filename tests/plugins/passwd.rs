//! `aviary passwd`: the binary creates, updates and deletes entries that the auth-password
//! plugin then accepts.

use std::process::Command;

use aviary::passwd::PasswordFile;
use aviary::protocol::{Protocol, ReasonCode};

use crate::common::TestBroker;
use crate::support::*;

fn passwd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aviary")).arg("passwd").args(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn passwd_entries_work_with_the_plugin() {
    let dir = std::env::temp_dir().join(format!("aviary-passwd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("passwords.txt");
    let path = file.to_str().unwrap();
    assert!(passwd(&["-c", "-b", "first", path, "ann"]).status.success());
    assert!(passwd(&["-b", "second", path, "ann"]).status.success(), "update");
    assert!(passwd(&["-b", "bobs", path, "bob"]).status.success(), "add");
    assert!(passwd(&["-D", path, "bob"]).status.success(), "delete");
    let out = passwd(&["-D", path, "bob"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("bob"));
    let entries = PasswordFile::load(&file).unwrap();
    assert!(entries.get("ann").is_some_and(|h| h.starts_with("$argon2id$")));
    assert_eq!(entries.get("bob"), None);

    let files = format!("files = {{ passwords = {path:?} }}");
    let b = TestBroker::with_toml(&format!(
        "[auth]\nallow_anonymous = false\n{}",
        plugin_toml("passwords", "auth_password", &files)
    ));
    let (_c, reason) = connect_as(&b, Protocol::V5, "a", Some("ann"), Some(b"second")).await;
    assert_eq!(reason, ReasonCode::Success);
    let (_c, reason) = connect_as(&b, Protocol::V5, "a2", Some("ann"), Some(b"first")).await;
    assert_eq!(reason, ReasonCode::BadUserNameOrPassword, "the old password is gone");
    let (_c, reason) = connect_as(&b, Protocol::V5, "b", Some("bob"), Some(b"bobs")).await;
    assert_eq!(reason, ReasonCode::BadUserNameOrPassword, "deleted");
}
