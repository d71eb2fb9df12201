//! Retained messages.

use std::time::Duration;

use rumqttc::QoS as Q;

use crate::common::*;

#[tokio::test]
async fn new_subscriber_gets_the_retained_message_with_retain_set() {
    // [MQTT-3.3.1-6], [MQTT-3.3.1-8]: retained messages are sent on subscribe with RETAIN 1.
    let b = TestBroker::start();
    let p = V4::connect(&b, "p").await;
    within("publish", p.client.publish("r/1", Q::AtLeastOnce, true, "kept")).await.unwrap();
    // A live subscriber sees it without the retain flag [MQTT-3.3.1-9].
    let mut live = V4::connect(&b, "live").await;
    live.subscribe("r/#", Q::AtLeastOnce).await;
    let first = live.next_publish().await;
    assert!(first.retain);
    p.client.publish("r/1", Q::AtLeastOnce, true, "kept2").await.unwrap();
    let second = live.next_publish().await;
    assert!(!second.retain, "forwarded live messages have RETAIN 0 in 3.1.1");
    let mut late = V4::connect(&b, "late").await;
    late.subscribe("r/+", Q::AtLeastOnce).await;
    let got = late.next_publish().await;
    assert!(got.retain);
    assert_eq!(&got.payload[..], b"kept2");
}

#[tokio::test]
async fn empty_retained_payload_clears() {
    // [MQTT-3.3.1-10], [MQTT-3.3.1-11]
    let b = TestBroker::start();
    let p = V4::connect(&b, "p").await;
    p.client.publish("r/x", Q::AtLeastOnce, true, "v").await.unwrap();
    p.client.publish("r/x", Q::AtLeastOnce, true, "").await.unwrap();
    // Make sure both were processed: a third publish round-trips through the same router.
    let mut probe = V4::connect(&b, "probe").await;
    probe.subscribe("probe", Q::AtLeastOnce).await;
    p.client.publish("probe", Q::AtLeastOnce, false, "x").await.unwrap();
    probe.next_publish().await;
    let mut s = V4::connect(&b, "s").await;
    s.subscribe("r/x", Q::AtLeastOnce).await;
    s.no_publish_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn retained_message_keeps_its_qos_capped_by_subscription() {
    let b = TestBroker::start();
    let p = V4::connect(&b, "p").await;
    p.client.publish("r/q", Q::ExactlyOnce, true, "v").await.unwrap();
    let mut s = V4::connect(&b, "s").await;
    s.subscribe("r/q", Q::AtLeastOnce).await;
    assert_eq!(s.next_publish().await.qos, Q::AtLeastOnce);
}
