//! Transforms: `plugins/transform-json-enrich` and `plugins/transform-topic-rewrite`, as seen
//! by a subscriber.

use aviary::protocol::{Protocol, QoS, ReasonCode};

use crate::common::TestBroker;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn json_payloads_are_enriched_at_the_subscriber() {
    let b = TestBroker::with_toml(&plugin_toml(
        "enrich",
        "transform_json_enrich",
        "grants = []\n[plugin.config]\ntopics = [\"sensors/#\"]",
    ));
    let mut sub = connected(&b, Protocol::V3_1_1, "sub").await;
    subscribe(&mut sub, &[("#", QoS::AtLeastOnce)]).await;
    let mut sensor = connected(&b, Protocol::V5, "sensor-1").await;
    assert_eq!(
        publish(&mut sensor, "sensors/t", br#"{"t":21.5}"#, QoS::AtLeastOnce).await,
        Some(ReasonCode::Success)
    );
    let got = next_publish(&mut sub).await;
    let v: serde_json::Value = serde_json::from_slice(&got.payload).unwrap();
    assert_eq!(v["t"], 21.5);
    assert_eq!(v["client_id"], "sensor-1");
    assert!(v["received_at_ms"].as_u64().unwrap() > 1_600_000_000_000);
    // Not JSON, or not under sensors/: unchanged.
    publish(&mut sensor, "sensors/raw", b"21.5", QoS::AtMostOnce).await;
    assert_eq!(next_publish(&mut sub).await.payload, &b"21.5"[..]);
    publish(&mut sensor, "other", br#"{"t":1}"#, QoS::AtMostOnce).await;
    assert_eq!(next_publish(&mut sub).await.payload, &br#"{"t":1}"#[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn topics_are_rewritten_in_a_pipeline() {
    // Two transforms in order: the rewrite, then the enrichment on the new topic.
    let rewrite = plugin_toml(
        "rewrite",
        "transform_topic_rewrite",
        "grants = []\n[[plugin.config.rules]]\nfrom = \"legacy/+/temp\"\nto = \"sensors/{1}/temperature\"",
    );
    let enrich = plugin_toml(
        "enrich",
        "transform_json_enrich",
        "grants = []\n[plugin.config]\ntopics = [\"sensors/#\"]",
    );
    let b = TestBroker::with_toml(&format!("{rewrite}{enrich}"));
    let mut sub = connected(&b, Protocol::V5, "sub").await;
    subscribe(&mut sub, &[("sensors/+/temperature", QoS::AtLeastOnce), ("legacy/#", QoS::AtLeastOnce)]).await;
    let mut old = connected(&b, Protocol::V3_1_1, "old-device").await;
    publish(&mut old, "legacy/k7/temp", br#"{"c":3}"#, QoS::AtLeastOnce).await;
    let got = next_publish(&mut sub).await;
    assert_eq!(got.topic, "sensors/k7/temperature");
    let v: serde_json::Value = serde_json::from_slice(&got.payload).unwrap();
    assert_eq!(v["client_id"], "old-device");
    no_publish(&mut sub, 200).await;
}
