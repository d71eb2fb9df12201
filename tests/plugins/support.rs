//! Building the plugins once per test run, and raw-client helpers with exact reason codes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use aviary::protocol::{
    Packet, Protocol, PubResponse, Publish, QoS, ReasonCode, Subscribe, SubscriptionOptions,
};
use bytes::Bytes;

use crate::common::{connect_packet, Raw, TestBroker};

/// Crates built for the tests: the shipped plugins and the hostile fixture.
const CRATES: &[&str] = &[
    "plugins/auth-password",
    "plugins/auth-jwt",
    "plugins/acl",
    "plugins/transform-json-enrich",
    "plugins/transform-topic-rewrite",
    "tests/plugins/fixtures/hostile",
    "tests/plugins/fixtures/challenge",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn build_all() -> Result<PathBuf, String> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(o) if String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "wasm32-wasip2") => {}
        _ => {
            return Err("the wasm32-wasip2 target is missing: run `rustup target add wasm32-wasip2` \
                        (scripts/test does)"
                .into())
        }
    }
    let target_dir = root().join("target/wasm-plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for krate in CRATES {
        let status = Command::new(&cargo)
            .args(["build", "--release", "--quiet", "--target", "wasm32-wasip2", "--manifest-path"])
            .arg(root().join(krate).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("building {krate} for wasm32-wasip2 failed"));
        }
    }
    Ok(target_dir.join("wasm32-wasip2/release"))
}

/// The path of a built plugin, e.g. `wasm("auth_password")`.
pub fn wasm(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(build_all) {
        Ok(dir) => dir.join(format!("{name}.wasm")),
        Err(e) => panic!("{e}"),
    }
}

/// A `[[plugin]]` table for a built plugin.
pub fn plugin_toml(name: &str, file: &str, extra: &str) -> String {
    format!("[[plugin]]\nname = \"{name}\"\npath = {:?}\n{extra}\n", wasm(file))
}

/// Connects with a user name and password; returns the client and the CONNACK reason.
pub async fn connect_as(
    b: &TestBroker,
    protocol: Protocol,
    id: &str,
    user: Option<&str>,
    password: Option<&[u8]>,
) -> (Raw, ReasonCode) {
    connect_at(b.addr, protocol, id, user, password).await
}

/// [`connect_as`] to any broker address (a spawned `aviary` process, say).
pub async fn connect_at(
    addr: std::net::SocketAddr,
    protocol: Protocol,
    id: &str,
    user: Option<&str>,
    password: Option<&[u8]>,
) -> (Raw, ReasonCode) {
    let mut raw = Raw::connect_addr(addr).await;
    raw.protocol = protocol;
    let mut c = connect_packet(protocol, id);
    c.username = user.map(Into::into);
    c.password = password.map(Bytes::copy_from_slice);
    raw.send(&Packet::Connect(Box::new(c))).await;
    match raw.recv().await {
        Some(Packet::ConnAck(a)) => (raw, a.reason),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// Connects anonymously and expects success.
pub async fn connected(b: &TestBroker, protocol: Protocol, id: &str) -> Raw {
    let (raw, reason) = connect_as(b, protocol, id, None, None).await;
    assert_eq!(reason, ReasonCode::Success, "{id} should connect");
    raw
}

/// Sends PUBLISH; for QoS 1 returns the PUBACK reason.
pub async fn publish(raw: &mut Raw, topic: &str, payload: &[u8], qos: QoS) -> Option<ReasonCode> {
    let packet_id = (qos != QoS::AtMostOnce).then_some(7);
    raw.send(&Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id,
        payload: Bytes::copy_from_slice(payload),
        properties: Default::default(),
    }))
    .await;
    if qos == QoS::AtMostOnce {
        return None;
    }
    // A client subscribed to the topic may get its own message first (the broker writes to
    // subscribers before acknowledging, as Mosquitto does): kept for `next_publish`.
    let mut early = Vec::new();
    let reason = loop {
        match raw.recv().await {
            Some(Packet::PubAck(PubResponse { packet_id: 7, reason, .. })) => break reason,
            Some(p @ Packet::Publish(_)) => early.push(p),
            other => panic!("expected PUBACK, got {other:?}"),
        }
    };
    for p in early {
        raw.put_back(p);
    }
    Some(reason)
}

/// Sends SUBSCRIBE; returns the SUBACK codes.
pub async fn subscribe(raw: &mut Raw, filters: &[(&str, QoS)]) -> Vec<ReasonCode> {
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 3,
        subscription_identifier: None,
        user_properties: Vec::new(),
        filters: filters
            .iter()
            .map(|(f, qos)| ((*f).into(), SubscriptionOptions { qos: *qos, ..Default::default() }))
            .collect(),
    }))
    .await;
    match raw.recv().await {
        Some(Packet::SubAck(s)) => s.reason_codes,
        other => panic!("expected SUBACK, got {other:?}"),
    }
}

/// Waits for the next PUBLISH, acknowledging QoS 1.
pub async fn next_publish(raw: &mut Raw) -> Publish {
    loop {
        match raw.recv().await {
            Some(Packet::Publish(p)) => {
                if let (QoS::AtLeastOnce, Some(id)) = (p.qos, p.packet_id) {
                    raw.send(&Packet::PubAck(PubResponse {
                        packet_id: id,
                        reason: ReasonCode::Success,
                        properties: Default::default(),
                    }))
                    .await;
                }
                return p;
            }
            Some(Packet::PingResp) => continue,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
}

/// Asserts that no PUBLISH arrives within `ms`, and that the connection stays open.
pub async fn no_publish(raw: &mut Raw, ms: u64) {
    let got = tokio::time::timeout(std::time::Duration::from_millis(ms), raw.recv()).await;
    match got {
        Err(_) => {}
        Ok(Some(Packet::Publish(p))) => panic!("unexpected PUBLISH on {}", p.topic),
        Ok(other) => panic!("unexpected {other:?}"),
    }
}

/// A round trip that proves the broker still serves: `sub` receives what `publ` sends.
pub async fn still_serving(publ: &mut Raw, sub: &mut Raw, topic: &str) {
    let payload = format!("alive {}", fastrand::u32(..));
    assert_eq!(publish(publ, topic, payload.as_bytes(), QoS::AtLeastOnce).await, Some(ReasonCode::Success));
    let p = next_publish(sub).await;
    assert_eq!(p.payload, payload.as_bytes());
}
