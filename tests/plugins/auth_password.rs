//! `plugins/auth-password` with a password file written by `aviary passwd`'s logic.

use aviary::passwd::{hash_password, PasswordFile};
use aviary::protocol::{Protocol, ReasonCode};

use crate::common::TestBroker;
use crate::support::*;

fn broker(dir: &std::path::Path) -> TestBroker {
    let mut file = PasswordFile::default();
    file.set("ann", hash_password(b"right").unwrap()).unwrap();
    file.set("bob", hash_password(b"bobs").unwrap()).unwrap();
    let path = dir.join("passwords.txt");
    file.save(&path).unwrap();
    let files = format!("files = {{ passwords = {path:?} }}");
    TestBroker::with_toml(&format!(
        "[auth]\nallow_anonymous = false\n{}",
        plugin_toml("passwords", "auth_password", &files)
    ))
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("aviary-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn right_password_in_wrong_password_out() {
    let b = broker(&temp_dir("pw1"));
    for protocol in [Protocol::V5, Protocol::V3_1_1] {
        let (_c, reason) = connect_as(&b, protocol, "c-ann", Some("ann"), Some(b"right")).await;
        assert_eq!(reason, ReasonCode::Success, "{protocol:?}");
        // 0x86 for MQTT 5, return code 4 for 3.1.1 (decoded back to 0x86).
        let (_c, reason) = connect_as(&b, protocol, "c-ann2", Some("ann"), Some(b"wrong")).await;
        assert_eq!(reason, ReasonCode::BadUserNameOrPassword, "{protocol:?}");
        let (_c, reason) = connect_as(&b, protocol, "c-eve", Some("eve"), Some(b"x")).await;
        assert_eq!(reason, ReasonCode::BadUserNameOrPassword, "unknown user, {protocol:?}");
        // No user name: the plugin says next, the built-in policy refuses (0x87 / 5).
        let (_c, reason) = connect_as(&b, protocol, "c-anon", None, None).await;
        assert_eq!(reason, ReasonCode::NotAuthorized, "{protocol:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_hashes_do_not_block_other_clients() {
    // Authentication runs on the plugin threads: while several argon2 checks are under way,
    // an already connected pair keeps exchanging messages.
    let b = broker(&temp_dir("pw2"));
    let (mut publ, r1) = connect_as(&b, Protocol::V5, "pub", Some("bob"), Some(b"bobs")).await;
    let (mut sub, r2) = connect_as(&b, Protocol::V5, "sub", Some("ann"), Some(b"right")).await;
    assert_eq!((r1, r2), (ReasonCode::Success, ReasonCode::Success));
    subscribe(&mut sub, &[("t/#", aviary::protocol::QoS::AtLeastOnce)]).await;
    let b2 = std::sync::Arc::new(b);
    let logins: Vec<_> = (0..6)
        .map(|i| {
            let b = b2.clone();
            tokio::spawn(async move {
                connect_as(&b, Protocol::V5, &format!("login-{i}"), Some("ann"), Some(b"right")).await.1
            })
        })
        .collect();
    for _ in 0..5 {
        still_serving(&mut publ, &mut sub, "t/x").await;
    }
    for l in logins {
        assert_eq!(l.await.unwrap(), ReasonCode::Success);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_lock_the_user_out_across_instances() {
    // The failure count lives in the plugin's key-value store (host kv), so the lockout holds
    // whichever authentication thread serves the next attempt; the counters are host metrics.
    let dir = temp_dir("pw3");
    let mut file = PasswordFile::default();
    file.set("ann", hash_password(b"right").unwrap()).unwrap();
    let path = dir.join("passwords.txt");
    file.save(&path).unwrap();
    let extra = format!("files = {{ passwords = {path:?} }}\n[plugin.config]\nlockout_failures = 3");
    let b = TestBroker::with_toml(&format!(
        "[auth]\nallow_anonymous = false\n{}",
        plugin_toml("passwords", "auth_password", &extra)
    ));
    for n in 0..3 {
        let (_c, reason) = connect_as(&b, Protocol::V5, &format!("x{n}"), Some("ann"), Some(b"guess")).await;
        assert_eq!(reason, ReasonCode::BadUserNameOrPassword);
    }
    let (_c, reason) = connect_as(&b, Protocol::V5, "x9", Some("ann"), Some(b"right")).await;
    assert_eq!(reason, ReasonCode::Banned, "locked out");
    let (_c, reason) = connect_as(&b, Protocol::V3_1_1, "x10", Some("ann"), Some(b"right")).await;
    assert_eq!(reason, ReasonCode::NotAuthorized, "3.1.1 return code 5");
    let host = b.handle.plugins().unwrap();
    assert_eq!(host.metric("passwords", "auth_failed"), Some(3));
    assert_eq!(host.metric("passwords", "auth_locked"), Some(2));
    assert_eq!(host.metric("passwords", "auth_ok"), None);
}
