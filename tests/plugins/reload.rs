//! Reloading the plugins (SIGHUP to the real binary, and `BrokerHandle::reload` in process): a
//! new host with the new `[plugin.config]` and `files` replaces the old one for connected and
//! new clients; a broken new configuration keeps the old plugins; a plugin that keeps its name
//! keeps its key-value store and counters.

use aviary::passwd::{hash_password, PasswordFile};
use aviary::plugins::Hook;
use aviary::protocol::{Protocol, QoS, ReasonCode};
use nix::sys::signal::Signal;

use crate::common::TestBroker;
use crate::ops_util::{free_port, temp_dir, BrokerProcess};
use crate::support::*;

/// The acl plugin with `rules` (TOML array-of-tables bodies, in order).
fn acl(rules: &[&str]) -> String {
    let rules: String = rules.iter().map(|r| format!("[[plugin.config.rules]]\n{r}\n")).collect();
    plugin_toml("acl", "acl", &format!("grants = []\n{rules}"))
}

const ALLOW_ALL: &str = "allow = true\naccess = \"all\"\ntopic = \"#\"";
const DENY_SECRET: &str = "allow = false\naccess = \"all\"\ntopic = \"secret/#\"";

fn calls(b: &TestBroker, hook: Hook) -> u64 {
    b.handle.plugins().expect("plugins").stats_of("acl").expect("acl").hook(hook).calls()
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_acl_plugin_rules_apply_to_connected_and_new_clients() {
    let b = TestBroker::with_toml(&acl(&[ALLOW_ALL]));
    let mut c = connected(&b, Protocol::V5, "c").await;
    assert_eq!(publish(&mut c, "secret/a", b"1", QoS::AtLeastOnce).await, Some(ReasonCode::Success));
    assert_eq!(subscribe(&mut c, &[("secret/#", QoS::AtMostOnce)]).await, vec![ReasonCode::Success]);
    let before = calls(&b, Hook::AuthorizePublish);

    let report = b.reload(&acl(&[DENY_SECRET, ALLOW_ALL]));
    assert_eq!(report.applied, vec!["plugins"], "{report:?}");
    assert!(report.failed.is_empty() && report.restart_needed.is_empty(), "{report:?}");

    // The connected client's next PUBLISH and SUBSCRIBE go through the new host.
    assert_eq!(publish(&mut c, "secret/b", b"2", QoS::AtLeastOnce).await, Some(ReasonCode::NotAuthorized));
    assert_eq!(subscribe(&mut c, &[("secret/x", QoS::AtMostOnce)]).await, vec![ReasonCode::NotAuthorized]);
    assert_eq!(publish(&mut c, "public/b", b"3", QoS::AtLeastOnce).await, Some(ReasonCode::Success));
    let mut n = connected(&b, Protocol::V3_1_1, "n").await;
    // 3.1.1's SUBACK failure code 0x80 decodes as UnspecifiedError.
    assert_eq!(subscribe(&mut n, &[("secret/#", QoS::AtMostOnce)]).await, vec![ReasonCode::UnspecifiedError]);
    // The plugin kept its name, so its counters carry on.
    assert!(calls(&b, Hook::AuthorizePublish) >= before + 2, "counters carried over the reload");
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_new_plugins_keep_the_old_ones() {
    let b = TestBroker::with_toml(&acl(&[DENY_SECRET, ALLOW_ALL]));
    let mut c = connected(&b, Protocol::V5, "c").await;
    let dir = temp_dir();
    let not_wasm = dir.path().join("acl.wasm");
    std::fs::write(&not_wasm, "not a component").unwrap();
    let broken = [
        (plugin_toml("acl", "acl", &format!("sha256 = \"{}\"", "0".repeat(64))), "sha256 mismatch"),
        (plugin_toml("acl", "acl", "[plugin.config]\nrules = \"oops\""), "failed to initialise"),
        (format!("[[plugin]]\nname = \"acl\"\npath = {not_wasm:?}\n"), "not a component"),
        (acl(&[ALLOW_ALL]) + &plugin_toml("jwt", "auth_jwt", ""), "plugin `jwt` failed to initialise"),
    ];
    for (toml, why) in broken {
        let report = b.reload(&toml);
        assert!(report.applied.is_empty(), "{why}: {report:?}");
        assert_eq!(report.failed.len(), 1, "{why}: {report:?}");
        assert_eq!(report.failed[0].0, "plugins");
        assert!(report.failed[0].1.contains(why), "{why}: {report:?}");
        // The old rules still hold, and the broker serves.
        assert_eq!(
            publish(&mut c, "secret/a", b"x", QoS::AtLeastOnce).await,
            Some(ReasonCode::NotAuthorized)
        );
        assert_eq!(publish(&mut c, "public/a", b"x", QoS::AtLeastOnce).await, Some(ReasonCode::Success));
        assert_eq!(b.handle.plugins().expect("plugins").names(), ["acl"]);
    }
    // Removing every plugin is a valid reload: the built-in policy (allow) decides.
    assert_eq!(b.reload("").applied, vec!["plugins"]);
    assert!(b.handle.plugins().is_none());
    assert_eq!(publish(&mut c, "secret/a", b"x", QoS::AtLeastOnce).await, Some(ReasonCode::Success));
}

fn password_file(path: &std::path::Path, users: &[(&str, &[u8])]) {
    let mut file = PasswordFile::default();
    for (user, password) in users {
        file.set(user, hash_password(password).unwrap()).unwrap();
    }
    file.save(path).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_password_file_and_keeps_the_lockout() {
    let dir = temp_dir();
    let passwords = dir.path().join("passwords.txt");
    password_file(&passwords, &[("ann", b"old"), ("bob", b"bobs")]);
    let extra = format!("files = {{ passwords = {passwords:?} }}\n[plugin.config]\nlockout_failures = 2");
    let toml = format!("[auth]\nallow_anonymous = false\n{}", plugin_toml("pw", "auth_password", &extra));
    let broker = BrokerProcess::start(dir.path(), free_port(), &toml);
    let addr = broker.addr;
    let (mut ann, reason) = connect_at(addr, Protocol::V5, "ann-1", Some("ann"), Some(b"old")).await;
    assert_eq!(reason, ReasonCode::Success);
    for n in 0..2 {
        let (_c, reason) =
            connect_at(addr, Protocol::V5, &format!("bob-{n}"), Some("bob"), Some(b"no")).await;
        assert_eq!(reason, ReasonCode::BadUserNameOrPassword);
    }
    let (_c, reason) = connect_at(addr, Protocol::V5, "bob-2", Some("bob"), Some(b"bobs")).await;
    assert_eq!(reason, ReasonCode::Banned, "bob is locked out");

    password_file(&passwords, &[("ann", b"new"), ("bob", b"bobs")]);
    broker.signal(Signal::SIGHUP);
    broker.wait_log("reload: plugins reloaded");
    let (_c, reason) = connect_at(addr, Protocol::V5, "ann-2", Some("ann"), Some(b"old")).await;
    assert_eq!(reason, ReasonCode::BadUserNameOrPassword, "the old password no longer works");
    let (_c, reason) = connect_at(addr, Protocol::V5, "ann-3", Some("ann"), Some(b"new")).await;
    assert_eq!(reason, ReasonCode::Success, "the new password works");
    // The lockout lives in the plugin's key-value store, which the reload kept.
    let (_c, reason) = connect_at(addr, Protocol::V5, "bob-3", Some("bob"), Some(b"bobs")).await;
    assert_eq!(reason, ReasonCode::Banned, "still locked out after the reload");
    // Connected before the reload: still connected.
    assert_eq!(publish(&mut ann, "t", b"x", QoS::AtLeastOnce).await, Some(ReasonCode::Success));

    // A broken file: the reload fails, says so once, and the working passwords stay.
    std::fs::write(&passwords, "ann:not-a-hash\n").unwrap();
    broker.signal(Signal::SIGHUP);
    broker.wait_log("reload: plugins not reloaded; the previous plugins stay in use");
    let errors = broker.log.lock().unwrap().iter().filter(|l| l.contains("plugins not reloaded")).count();
    assert_eq!(errors, 1, "one error line");
    let (_c, reason) = connect_at(addr, Protocol::V5, "ann-4", Some("ann"), Some(b"new")).await;
    assert_eq!(reason, ReasonCode::Success, "the previous plugin still answers");
    let reloaded = broker.log.lock().unwrap().iter().filter(|l| l.contains("plugins reloaded")).count();
    assert_eq!(reloaded, 1, "the broken reload did not swap anything in");
    assert!(broker.log.lock().unwrap().iter().all(|l| !l.contains("need a restart")));
}
