//! Reloading `[auth]` (SIGHUP to the real binary, and `BrokerHandle::reload` in process):
//! connected clients meet the new rules on their next PUBLISH / SUBSCRIBE, new clients at
//! CONNECT; what only a restart applies is named, and nothing else.

use std::time::Duration;

use aviary::protocol::{Packet, Protocol, QoS, ReasonCode};
use nix::sys::signal::Signal;

use crate::common::TestBroker;
use crate::util::{free_port, temp_dir, BrokerProcess, Wire};

/// Publishes at QoS 1 with `id` and returns the PUBACK reason.
async fn puback(w: &mut Wire, topic: &str, id: u16) -> ReasonCode {
    w.publish(topic, b"x", QoS::AtLeastOnce, Some(id), false).await.expect("publish sent");
    loop {
        match w.recv(Duration::from_secs(5)).await {
            Some(Packet::PubAck(a)) if a.packet_id == id => return a.reason,
            Some(_) => continue,
            None => panic!("no PUBACK for {topic}"),
        }
    }
}

async fn connect(addr: std::net::SocketAddr, id: &str) -> Wire {
    let (w, ack) = Wire::connect(addr, Protocol::V5, id, true, 0).await.expect("connects");
    assert_eq!(ack.reason, ReasonCode::Success, "{id} connects");
    w
}

const DENY_BUT_OPEN: &str =
    "[auth]\nacl_default = \"deny\"\n[[auth.acl]]\nallow = true\naccess = \"all\"\ntopic = \"open/#\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_new_acl_rules_to_connected_and_new_clients() {
    let dir = temp_dir();
    let port = free_port();
    let broker = BrokerProcess::start(dir.path(), port, "[auth]\nacl_default = \"allow\"\n");
    let mut a = connect(broker.addr, "a").await;
    assert_eq!(a.subscribe("secret/#", QoS::AtLeastOnce).await, vec![ReasonCode::GrantedQoS1]);
    assert_eq!(puback(&mut a, "secret/x", 10).await, ReasonCode::Success);

    // New rules, plus a change that only a restart applies.
    let config = dir.path().join("aviary.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("[auth]\nacl_default = \"allow\"\n", DENY_BUT_OPEN) + "[mqtt]\nmaximum_qos = 1\n";
    std::fs::write(&config, text).unwrap();
    broker.signal(Signal::SIGHUP);
    broker.wait_log("reload: [auth] applied");
    broker.wait_log("need a restart");
    let warn = broker.log.lock().unwrap().iter().find(|l| l.contains("need a restart")).cloned().unwrap();
    assert!(warn.contains("mqtt"), "the warning names [mqtt]: {warn}");
    assert!(!warn.contains("auth"), "[auth] was applied, not deferred: {warn}");

    // The connected client, on its next PUBLISH and SUBSCRIBE.
    assert_eq!(puback(&mut a, "secret/x", 11).await, ReasonCode::NotAuthorized);
    assert_eq!(a.subscribe("secret/y", QoS::AtLeastOnce).await, vec![ReasonCode::NotAuthorized]);
    assert_eq!(puback(&mut a, "open/x", 12).await, ReasonCode::Success);
    // A new client.
    let mut b = connect(broker.addr, "b").await;
    assert_eq!(b.subscribe("secret/#", QoS::AtMostOnce).await, vec![ReasonCode::NotAuthorized]);
    assert_eq!(puback(&mut b, "secret/z", 13).await, ReasonCode::NotAuthorized);
    assert_eq!(b.subscribe("open/#", QoS::AtMostOnce).await, vec![ReasonCode::Success]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloaded_allow_anonymous_refuses_new_anonymous_clients_only() {
    let b = TestBroker::with_toml("");
    let mut before = connect(b.addr, "before").await;
    assert_eq!(before.subscribe("t", QoS::AtLeastOnce).await, vec![ReasonCode::GrantedQoS1]);
    let report = b.reload("[auth]\nallow_anonymous = false\n");
    assert_eq!(report.applied, vec!["auth"]);
    assert!(report.failed.is_empty() && report.restart_needed.is_empty(), "{report:?}");
    let (_w, ack) = Wire::connect(b.addr, Protocol::V5, "after", true, 0).await.expect("CONNACK");
    assert_eq!(ack.reason, ReasonCode::NotAuthorized, "anonymous CONNECT refused after the reload");
    // The client admitted before stays and keeps working: it gets its own message back (the
    // broker writes to subscribers before it acknowledges), then the PUBACK.
    before.publish("t", b"x", QoS::AtLeastOnce, Some(20), false).await.expect("publish sent");
    match before.recv(Duration::from_secs(5)).await {
        Some(Packet::Publish(p)) => assert_eq!(&p.topic[..], "t"),
        other => panic!("expected its own message back, got {other:?}"),
    }
    match before.recv(Duration::from_secs(5)).await {
        Some(Packet::PubAck(a)) => assert_eq!((a.packet_id, a.reason), (20, ReasonCode::Success)),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    // The same file again: nothing to do.
    assert_eq!(b.reload("[auth]\nallow_anonymous = false\n"), Default::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_names_every_restart_only_table_until_the_restart() {
    let b = TestBroker::with_toml("");
    let changed = "[mqtt]\nmaximum_qos = 1\n[workers]\nthreads = 1\n[log]\nformat = \"json\"\n\
                   [http]\nenabled = true\n[limits]\nmax_connections = 5\n\
                   [persistence]\nmode = \"periodic\"\n";
    let mut report = b.reload(changed);
    report.restart_needed.sort_unstable();
    assert_eq!(report.restart_needed, ["http", "limits", "log.format", "mqtt", "persistence", "workers"]);
    assert!(report.applied.is_empty() && report.failed.is_empty(), "{report:?}");
    // Still not applied: the next reload says so again.
    assert_eq!(b.reload(changed).restart_needed.len(), 6);
    // A listener change needs a restart too; `[auth]` beside it is applied.
    let mut c = TestBroker::config(DENY_BUT_OPEN);
    c.listeners[0].max_connections = 3;
    let report = b.handle.reload(&c);
    assert_eq!((report.applied, report.restart_needed), (vec!["auth"], vec!["listener"]));
    let mut w = connect(b.addr, "w").await;
    assert_eq!(puback(&mut w, "closed", 30).await, ReasonCode::NotAuthorized);
}
