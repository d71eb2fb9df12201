//! `/metrics` (parsed by a Prometheus text-format parser), `/health`, `/ready`, `$SYS`.

use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use rumqttc::QoS;

use crate::broker_with_http;
use crate::common::{V4, V5};
use crate::util::http;

fn scrape(body: &str) -> Scrape {
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text")
}

fn value(s: &Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    let sample = s
        .samples
        .iter()
        .find(|x| x.metric == name && label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no sample {name} {label:?}"));
    match &sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{name} is {other:?}"),
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_traffic() {
    let (b, url) = broker_with_http("");
    let mut sub = V4::connect(&b, "m-sub").await;
    sub.subscribe("m/#", QoS::AtLeastOnce).await;
    let publ = V4::connect(&b, "m-pub").await;
    for i in 0..5u8 {
        publ.client.publish("m/t", QoS::AtLeastOnce, false, vec![i; 10]).await.unwrap();
        sub.next_publish().await;
    }
    let (status, body) = http("GET", format!("{url}/metrics"), None).await;
    assert_eq!(status, 200);
    let s = scrape(&body);
    assert_eq!(value(&s, "aviary_clients_connected", None), 2.0);
    assert_eq!(value(&s, "aviary_messages_received_total", Some(("qos", "1"))), 5.0);
    assert_eq!(value(&s, "aviary_messages_sent_total", Some(("qos", "1"))), 5.0);
    assert!(value(&s, "aviary_bytes_received_total", None) > 50.0);
    assert!(value(&s, "aviary_bytes_sent_total", None) > 50.0);
    assert_eq!(value(&s, "aviary_subscriptions", None), 1.0);
    assert_eq!(value(&s, "aviary_auth_total", Some(("result", "success"))), 2.0);
    assert_eq!(value(&s, "aviary_messages_dropped_total", Some(("reason", "queue_full"))), 0.0);
    assert_eq!(value(&s, "aviary_limit_hits_total", Some(("limit", "max_connections"))), 0.0);
    let hist = s.samples.iter().find(|x| x.metric == "aviary_persistence_commit_seconds");
    assert!(matches!(hist.map(|h| &h.value), Some(Value::Histogram(_))), "histogram present");
}

#[tokio::test]
async fn health_and_ready_answer_without_a_token() {
    let (_b, url) = broker_with_http("");
    assert_eq!(http("GET", format!("{url}/health"), None).await.0, 200);
    assert_eq!(http("GET", format!("{url}/ready"), None).await.0, 200);
}

#[tokio::test]
async fn sys_topics_are_published_with_mosquitto_names() {
    let (b, _url) = broker_with_http("[mqtt]\nsys_interval_secs = 1\n");
    let mut all = V5::connect(&b, "sys-all").await;
    all.client.subscribe("#", rumqttc::v5::mqttbytes::QoS::AtMostOnce).await.unwrap();
    let mut sys = V4::connect(&b, "sys-sub").await;
    sys.subscribe("$SYS/broker/#", QoS::AtMostOnce).await;
    let mut seen = std::collections::HashMap::new();
    let wanted = [
        "$SYS/broker/version",
        "$SYS/broker/uptime",
        "$SYS/broker/clients/connected",
        "$SYS/broker/clients/disconnected",
        "$SYS/broker/clients/maximum",
        "$SYS/broker/clients/total",
        "$SYS/broker/messages/received",
        "$SYS/broker/messages/sent",
        "$SYS/broker/bytes/received",
        "$SYS/broker/bytes/sent",
        "$SYS/broker/subscriptions/count",
        "$SYS/broker/retained messages/count",
        "$SYS/broker/load/messages/received/1min",
        "$SYS/broker/load/bytes/sent/15min",
        "$SYS/broker/load/connections/5min",
    ];
    while !wanted.iter().all(|t| seen.contains_key(*t)) {
        let p = sys.next_publish().await;
        seen.insert(p.topic.clone(), String::from_utf8_lossy(&p.payload).into_owned());
    }
    assert!(seen["$SYS/broker/version"].starts_with("aviary "), "{seen:?}");
    assert!(seen["$SYS/broker/uptime"].ends_with(" seconds"));
    // Updates keep coming: the uptime changes every interval.
    loop {
        let p = sys.next_publish().await;
        if p.topic == "$SYS/broker/uptime" {
            break;
        }
    }
    // A `#` subscription never matches `$` topics [MQTT-4.7.2-1].
    all.no_publish_for(Duration::from_millis(1500)).await;
}

/// Durable mode's write-ahead log shows in `/metrics`: a commit puts bytes in the log, and a
/// commit a second later checkpoints it into the store and empties it.
#[tokio::test]
async fn the_write_ahead_log_and_its_checkpoints_are_counted() {
    let dir = crate::util::temp_dir();
    let path = crate::util::store_path(dir.path());
    let (b, url) =
        broker_with_http(&format!("[persistence]\nmode = \"durable\"\npath = \"{}\"\n", path.display()));
    let publ = V4::connect(&b, "wal-pub").await;
    publ.client.publish("w/t", QoS::AtLeastOnce, true, vec![7; 100]).await.unwrap();
    let metrics = || async { scrape(&http("GET", format!("{url}/metrics"), None).await.1) };
    // Answered once on disk: in the log, or already checkpointed if a second has passed.
    let mut s = metrics().await;
    for _ in 0..50 {
        if value(&s, "aviary_persistence_commits_total", None) >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        s = metrics().await;
    }
    assert!(
        value(&s, "aviary_persistence_log_bytes", None) > 0.0
            || value(&s, "aviary_persistence_checkpoints_total", None) >= 1.0,
        "the retained message is in the log or the store"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    publ.client.publish("w/t", QoS::AtLeastOnce, true, vec![8; 100]).await.unwrap();
    let mut s = metrics().await;
    for _ in 0..50 {
        if value(&s, "aviary_persistence_checkpoints_total", None) >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        s = metrics().await;
    }
    assert!(value(&s, "aviary_persistence_checkpoints_total", None) >= 1.0, "a checkpoint after a second");
    assert_eq!(value(&s, "aviary_persistence_log_bytes", None), 0.0, "the log is empty after it");
}
