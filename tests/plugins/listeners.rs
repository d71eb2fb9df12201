//! Per-listener plugins and policy: `plugins`, `allow_anonymous` and `acl_default` on
//! `[[listener]]`. One broker, several plain-TCP listeners, the real plugins: each listener's
//! clients meet only the plugins it selects and its own defaults.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use aviary::config::Config;
use aviary::passwd::{hash_password, PasswordFile};
use aviary::plugins::Hook;
use aviary::protocol::{Protocol, QoS, ReasonCode};
use aviary::Broker;

use crate::common::TestBroker;
use crate::support::*;

/// `toml` with every listener on an ephemeral port.
fn config(toml: &str) -> Config {
    let mut config = Config::from_toml_str(toml, "test").expect("test config");
    for l in &mut config.listeners {
        l.bind = "127.0.0.1:0".parse().expect("addr");
    }
    config
}

/// A broker with every listener of `toml` on an ephemeral port.
fn broker(toml: &str) -> TestBroker {
    TestBroker::with_config(config(toml))
}

/// The address of the listener called `name`.
fn at(b: &TestBroker, name: &str) -> SocketAddr {
    b.handle.addrs().iter().find(|(n, _)| n == name).map(|(_, a)| *a).expect("listener bound")
}

/// Calls the broker made to `hook` of plugin `plugin`.
fn calls(b: &TestBroker, plugin: &str, hook: Hook) -> u64 {
    let host = b.handle.plugins().expect("plugins loaded");
    host.stats_of(plugin).expect("plugin loaded").hook(hook).calls()
}

fn password_plugin(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("aviary-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut file = PasswordFile::default();
    file.set("ann", hash_password(b"right").expect("hash")).expect("user");
    let path = dir.join("passwords.txt");
    file.save(&path).expect("password file");
    plugin_toml("passwords", "auth_password", &format!("files = {{ passwords = {path:?} }}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn anonymous_clients_are_refused_on_one_listener_and_accepted_on_another() {
    let b = broker(&format!(
        r#"
[auth]
allow_anonymous = false
[[listener]]
name = "locked"
plugins = ["passwords"]
allow_anonymous = false
[[listener]]
name = "open"
plugins = []
allow_anonymous = true
[[listener]]
name = "inherits"
{}"#,
        password_plugin("listeners-anon")
    ));
    let (locked, open, inherits) = (at(&b, "locked"), at(&b, "open"), at(&b, "inherits"));

    // The password plugin says `next` for anonymous clients, the listener's policy refuses:
    // 0x87 (MQTT 5) / return code 5 (3.1.1), then the connection is closed [MQTT-3.2.2-7].
    let (mut raw, reason) = connect_at(locked, Protocol::V5, "anon-5", None, None).await;
    assert_eq!(reason, ReasonCode::NotAuthorized);
    assert!(raw.closed().await.is_empty(), "closed after the refusing CONNACK");
    let (_c, reason) = connect_at(locked, Protocol::V3_1_1, "anon-3", None, None).await;
    assert_eq!(reason, ReasonCode::NotAuthorized);
    let (_ann, reason) = connect_at(locked, Protocol::V5, "ann-1", Some("ann"), Some(b"right")).await;
    assert_eq!(reason, ReasonCode::Success);
    let (_c, reason) = connect_at(locked, Protocol::V5, "ann-2", Some("ann"), Some(b"wrong")).await;
    assert_eq!(reason, ReasonCode::BadUserNameOrPassword);
    assert_eq!(calls(&b, "passwords", Hook::Authenticate), 4);

    // No plugin on `open`: anonymous clients are let in by its allow_anonymous = true, and a
    // wrong password is not even looked at.
    let (_c, reason) = connect_at(open, Protocol::V5, "open-5", None, None).await;
    assert_eq!(reason, ReasonCode::Success);
    let (_c, reason) = connect_at(open, Protocol::V3_1_1, "open-3", None, None).await;
    assert_eq!(reason, ReasonCode::Success);
    let (_c, reason) = connect_at(open, Protocol::V5, "open-ann", Some("ann"), Some(b"wrong")).await;
    assert_eq!(reason, ReasonCode::Success);
    assert_eq!(calls(&b, "passwords", Hook::Authenticate), 4, "the plugin never ran for `open`");

    // Without the keys: every plugin, and [auth].
    let (_c, reason) = connect_at(inherits, Protocol::V5, "inh-anon", None, None).await;
    assert_eq!(reason, ReasonCode::NotAuthorized);
    let (_c, reason) = connect_at(inherits, Protocol::V5, "inh-ann", Some("ann"), Some(b"right")).await;
    assert_eq!(reason, ReasonCode::Success);
    assert_eq!(calls(&b, "passwords", Hook::Authenticate), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_publish_transforms_follow_the_publishers_listener() {
    let enrich = plugin_toml(
        "enrich",
        "transform_json_enrich",
        "grants = []\n[plugin.config]\ntopics = [\"sensors/#\"]",
    );
    let b = broker(&format!(
        "[[listener]]\nname = \"enriched\"\nplugins = [\"enrich\"]\n[[listener]]\nname = \"raw\"\nplugins = []\n{enrich}"
    ));
    let (enriched, raw) = (at(&b, "enriched"), at(&b, "raw"));
    let (mut sub_raw, _) = connect_at(raw, Protocol::V5, "sub-raw", None, None).await;
    let (mut sub_enr, _) = connect_at(enriched, Protocol::V3_1_1, "sub-enriched", None, None).await;
    for sub in [&mut sub_raw, &mut sub_enr] {
        assert_eq!(subscribe(sub, &[("sensors/#", QoS::AtLeastOnce)]).await, vec![ReasonCode::GrantedQoS1]);
    }

    let (mut a, _) = connect_at(enriched, Protocol::V5, "sensor-a", None, None).await;
    assert_eq!(
        publish(&mut a, "sensors/a", br#"{"t":1}"#, QoS::AtLeastOnce).await,
        Some(ReasonCode::Success)
    );
    for sub in [&mut sub_raw, &mut sub_enr] {
        let v: serde_json::Value = serde_json::from_slice(&next_publish(sub).await.payload).expect("json");
        assert_eq!((v["t"].as_u64(), v["client_id"].as_str()), (Some(1), Some("sensor-a")), "enriched");
    }

    // The same plugin is not on `raw`: its publishers' messages reach everyone unchanged, the
    // subscriber on `enriched` included.
    let (mut r, _) = connect_at(raw, Protocol::V5, "sensor-r", None, None).await;
    assert_eq!(
        publish(&mut r, "sensors/r", br#"{"t":2}"#, QoS::AtLeastOnce).await,
        Some(ReasonCode::Success)
    );
    for sub in [&mut sub_raw, &mut sub_enr] {
        assert_eq!(next_publish(sub).await.payload, &br#"{"t":2}"#[..]);
    }
    assert_eq!(calls(&b, "enrich", Hook::OnPublish), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn on_deliver_transforms_follow_the_subscribers_listener() {
    // The hostile fixture traps in `on-deliver` for clients called `evil-trap-*`; failing
    // closed, that drops the delivery. It runs only for subscribers of `guarded`.
    let hostile = plugin_toml("hostile", "hostile", "[plugin.config]\nhook = \"on_deliver\"");
    let b = broker(&format!(
        "[[listener]]\nname = \"guarded\"\nplugins = [\"hostile\"]\n[[listener]]\nname = \"plain\"\nplugins = []\n{hostile}"
    ));
    let (guarded, plain) = (at(&b, "guarded"), at(&b, "plain"));
    let mut subs = Vec::new();
    for (addr, id) in [(plain, "evil-trap-1"), (guarded, "evil-trap-2"), (guarded, "fine")] {
        let (mut sub, reason) = connect_at(addr, Protocol::V5, id, None, None).await;
        assert_eq!(reason, ReasonCode::Success);
        assert_eq!(subscribe(&mut sub, &[("t", QoS::AtLeastOnce)]).await, vec![ReasonCode::GrantedQoS1]);
        subs.push(sub);
    }
    // The publisher is on `guarded`: what counts is each subscriber's listener.
    let (mut publ, _) = connect_at(guarded, Protocol::V5, "pub", None, None).await;
    assert_eq!(publish(&mut publ, "t", b"hello", QoS::AtLeastOnce).await, Some(ReasonCode::Success));
    assert_eq!(next_publish(&mut subs[0]).await.payload, &b"hello"[..], "plain: no plugin");
    assert_eq!(next_publish(&mut subs[2]).await.payload, &b"hello"[..], "guarded, well-behaved");
    no_publish(&mut subs[1], 300).await;
    assert_eq!(calls(&b, "hostile", Hook::OnDeliver), 2, "the two subscribers of `guarded`");
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_plugins_and_acl_default_per_listener() {
    let acl = plugin_toml(
        "acl",
        "acl",
        r##"grants = []
[[plugin.config.rules]]
allow = true
access = "all"
topic = "own/%c/#"
[[plugin.config.rules]]
allow = false
access = "all"
topic = "#"
"##,
    );
    let b = broker(&format!(
        r##"
[[auth.acl]]
allow = true
access = "all"
topic = "public/#"
[[listener]]
name = "guarded"
plugins = ["acl"]
[[listener]]
name = "strict"
plugins = []
acl_default = "deny"
[[listener]]
name = "open"
plugins = []
{acl}"##
    ));
    let (mut watcher, _) = connect_at(at(&b, "open"), Protocol::V5, "watcher", None, None).await;
    assert_eq!(subscribe(&mut watcher, &[("#", QoS::AtLeastOnce)]).await, vec![ReasonCode::GrantedQoS1]);

    // `guarded`: the acl plugin decides. Refused PUBLISH: PUBACK 0x87; refused SUBSCRIBE:
    // SUBACK 0x87 (MQTT 5 §3.4.2.1, §3.9.3).
    let (mut g, _) = connect_at(at(&b, "guarded"), Protocol::V5, "g1", None, None).await;
    assert_eq!(publish(&mut g, "elsewhere", b"g", QoS::AtLeastOnce).await, Some(ReasonCode::NotAuthorized));
    assert_eq!(subscribe(&mut g, &[("elsewhere", QoS::AtMostOnce)]).await, vec![ReasonCode::NotAuthorized]);
    assert_eq!(publish(&mut g, "own/g1/x", b"g-own", QoS::AtLeastOnce).await, Some(ReasonCode::Success));

    // `strict`: no plugin; the static rule allows public/#, its acl_default denies the rest.
    let (mut s, _) = connect_at(at(&b, "strict"), Protocol::V5, "s1", None, None).await;
    assert_eq!(publish(&mut s, "elsewhere", b"s", QoS::AtLeastOnce).await, Some(ReasonCode::NotAuthorized));
    assert_eq!(subscribe(&mut s, &[("elsewhere", QoS::AtMostOnce)]).await, vec![ReasonCode::NotAuthorized]);
    assert_eq!(subscribe(&mut s, &[("public/#", QoS::AtMostOnce)]).await, vec![ReasonCode::Success]);
    assert_eq!(publish(&mut s, "public/s", b"s-public", QoS::AtLeastOnce).await, Some(ReasonCode::Success));
    let (mut s3, _) = connect_at(at(&b, "strict"), Protocol::V3_1_1, "s3", None, None).await;
    // MQTT 3.1.1 SUBACK failure return code 0x80 [MQTT-3.9.3-2] (decoded as UnspecifiedError).
    assert_eq!(
        subscribe(&mut s3, &[("elsewhere", QoS::AtMostOnce)]).await,
        vec![ReasonCode::UnspecifiedError]
    );

    // `open`: no plugin, [auth]'s acl_default (allow).
    let (mut o, _) = connect_at(at(&b, "open"), Protocol::V5, "o1", None, None).await;
    assert_eq!(publish(&mut o, "elsewhere", b"o", QoS::AtLeastOnce).await, Some(ReasonCode::Success));

    // The watcher saw exactly what was allowed, in order.
    for expected in [&b"g-own"[..], b"s-public", b"o"] {
        assert_eq!(next_publish(&mut watcher).await.payload, expected);
    }
    no_publish(&mut watcher, 200).await;
    assert_eq!(calls(&b, "acl", Hook::AuthorizePublish), 2, "only `guarded`'s publishes");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_reload_keeps_each_listeners_selection() {
    let acl = plugin_toml(
        "acl",
        "acl",
        "grants = []\n[[plugin.config.rules]]\nallow = false\naccess = \"all\"\ntopic = \"secret/#\"",
    );
    let enrich = plugin_toml("enrich", "transform_json_enrich", "grants = []");
    let listeners = "[[listener]]\nname = \"guarded\"\nplugins = [\"acl\"]\n\
                     [[listener]]\nname = \"enriched\"\nplugins = [\"enrich\"]\n";
    let b = broker(&format!("{listeners}{acl}{enrich}"));
    let (guarded, enriched) = (at(&b, "guarded"), at(&b, "enriched"));
    let (mut watcher, _) = connect_at(enriched, Protocol::V5, "watcher", None, None).await;
    assert_eq!(subscribe(&mut watcher, &[("#", QoS::AtMostOnce)]).await, vec![ReasonCode::Success]);
    let (mut g, _) = connect_at(guarded, Protocol::V5, "g", None, None).await;
    let (mut e, _) = connect_at(enriched, Protocol::V5, "e", None, None).await;

    // Each listener keeps its own plugin whatever the order of the [[plugin]] tables.
    for (round, plugins) in [(0, format!("{acl}{enrich}")), (1, format!("{enrich}{acl}"))] {
        if round == 1 {
            let report = b.handle.reload(&config(&format!("{listeners}{plugins}")));
            assert_eq!(report.applied, vec!["plugins"], "{report:?}");
        }
        assert_eq!(
            publish(&mut g, "secret/g", b"{}", QoS::AtLeastOnce).await,
            Some(ReasonCode::NotAuthorized)
        );
        assert_eq!(
            publish(&mut g, "open/g", br#"{"n":1}"#, QoS::AtLeastOnce).await,
            Some(ReasonCode::Success)
        );
        assert_eq!(next_publish(&mut watcher).await.payload, &br#"{"n":1}"#[..], "no enrich on guarded");
        assert_eq!(
            publish(&mut e, "secret/e", br#"{"n":2}"#, QoS::AtLeastOnce).await,
            Some(ReasonCode::Success)
        );
        let v: serde_json::Value =
            serde_json::from_slice(&next_publish(&mut watcher).await.payload).expect("json");
        assert_eq!(v["client_id"], "e", "enriched, and no acl, on `enriched` (round {round})");
    }

    // The running `guarded` names acl: a reload without it is refused, the old plugins stay.
    let without_acl =
        "[[listener]]\nname = \"guarded\"\n[[listener]]\nname = \"enriched\"\nplugins = [\"enrich\"]\n";
    let report = b.handle.reload(&config(&format!("{without_acl}{enrich}")));
    let failed = format!("{:?}", report.failed);
    assert!(failed.contains("listener `guarded` names plugin `acl`"), "{report:?}");
    assert_eq!(report.restart_needed, vec!["listener"], "{report:?}");
    assert_eq!(publish(&mut g, "secret/g", b"{}", QoS::AtLeastOnce).await, Some(ReasonCode::NotAuthorized));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_plugin_name_stops_startup() {
    // From a file: a configuration error naming the listener, the key and the plugin.
    let toml = "[[listener]]\nname = \"edge\"\nplugins = [\"passwords\"]\n";
    let e = Config::from_toml_str(toml, "aviary.toml").expect_err("refused").to_string();
    assert_eq!(
        e,
        "aviary.toml, line 3: `listener.edge.plugins` names plugin `passwords`, which is not \
         configured (no [[plugin]] is configured)"
    );

    // A configuration built in code is checked by Broker::start.
    let mut config = Config::default();
    config.listeners[0].bind = "127.0.0.1:0".parse().expect("addr");
    config.listeners[0].plugins = Some(vec!["passwords".into()]);
    let e = Broker::start(config).err().expect("refused").to_string();
    assert!(e.contains("listener `default`") && e.contains("plugin `passwords`"), "{e}");

    // The binary: exits non-zero with the error on stderr (killed if it ever starts serving).
    let path = std::env::temp_dir().join(format!("aviary-listener-plugins-{}.toml", std::process::id()));
    std::fs::write(&path, toml).expect("config file");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .arg("--config")
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("aviary runs");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        match child.try_wait().expect("wait") {
            Some(status) => break status,
            None if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("aviary started despite the unknown plugin");
            }
            None => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr).expect("read");
    assert!(!status.success(), "exit status {status:?}");
    assert!(stderr.contains("`listener.edge.plugins` names plugin `passwords`"), "{stderr}");
    let _ = std::fs::remove_file(path);
}
