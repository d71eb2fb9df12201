//! Wills: published on abnormal loss and keep-alive expiry, not on normal DISCONNECT.

use std::time::Duration;

use aviary::protocol::*;
use bytes::Bytes;
use rumqttc::QoS as Q;

use crate::common::*;

fn with_will(protocol: Protocol, id: &str, delay: Option<u32>) -> Connect {
    let mut c = connect_packet(protocol, id);
    c.will = Some(LastWill {
        topic: "wills/x".into(),
        payload: Bytes::from_static(b"gone"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: WillProperties { will_delay_interval: delay, ..Default::default() },
    });
    c
}

async fn connect_raw(b: &TestBroker, c: Connect) -> Raw {
    let mut raw = Raw::connect(b).await;
    raw.protocol = c.protocol;
    raw.send(&Packet::Connect(Box::new(c))).await;
    assert!(matches!(raw.recv().await, Some(Packet::ConnAck(a)) if a.reason == ReasonCode::Success));
    raw
}

#[tokio::test]
async fn will_is_published_when_the_connection_drops() {
    // [MQTT-3.1.2-8]: connection closed without DISCONNECT -> will published.
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "watcher").await;
    s.subscribe("wills/#", Q::AtLeastOnce).await;
    let raw = connect_raw(&b, with_will(Protocol::V3_1_1, "dying", None)).await;
    drop(raw);
    let w = s.next_publish().await;
    assert_eq!(&w.payload[..], b"gone");
}

#[tokio::test]
async fn will_is_not_published_after_normal_disconnect() {
    // [MQTT-3.1.2-10]: DISCONNECT removes the will.
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "watcher").await;
    s.subscribe("wills/#", Q::AtLeastOnce).await;
    let mut raw = connect_raw(&b, with_will(Protocol::V3_1_1, "polite", None)).await;
    raw.send(&Packet::Disconnect(Disconnect::default())).await;
    assert!(raw.closed().await.is_empty());
    s.no_publish_for(Duration::from_millis(400)).await;
}

#[tokio::test]
async fn disconnect_with_will_message_publishes_it() {
    // MQTT 5 reason 0x04 keeps the will [MQTT-3.14.4-3].
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "watcher").await;
    s.subscribe("wills/#", Q::AtLeastOnce).await;
    let mut raw = connect_raw(&b, with_will(Protocol::V5, "w4", None)).await;
    let d = Disconnect { reason: ReasonCode::DisconnectWithWillMessage, ..Default::default() };
    raw.send(&Packet::Disconnect(d)).await;
    assert_eq!(&s.next_publish().await.payload[..], b"gone");
}

#[tokio::test]
async fn will_is_published_on_keep_alive_timeout() {
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "watcher").await;
    s.subscribe("wills/#", Q::AtLeastOnce).await;
    let mut c = with_will(Protocol::V3_1_1, "silent", None);
    c.keep_alive = 1;
    let _raw = connect_raw(&b, c).await;
    assert_eq!(&s.next_publish().await.payload[..], b"gone");
}

#[tokio::test]
async fn will_delay_waits_and_a_resuming_reconnect_cancels_it() {
    // [MQTT-3.1.3-9]: reconnecting before the delay passes means no will.
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "watcher").await;
    s.subscribe("wills/#", Q::AtLeastOnce).await;
    let mut c = with_will(Protocol::V5, "delayed", Some(1));
    c.properties.session_expiry_interval = Some(60);
    drop(connect_raw(&b, c.clone()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.clean_start = false;
    let _again = connect_raw(&b, c).await;
    s.no_publish_for(Duration::from_millis(1500)).await;
}

#[tokio::test]
async fn will_delay_publishes_after_the_delay() {
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "watcher").await;
    s.subscribe("wills/#", Q::AtLeastOnce).await;
    let mut c = with_will(Protocol::V5, "delayed2", Some(1));
    c.properties.session_expiry_interval = Some(60);
    let started = std::time::Instant::now();
    drop(connect_raw(&b, c).await);
    assert_eq!(&s.next_publish().await.payload[..], b"gone");
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn will_goes_out_when_the_session_ends_before_the_delay() {
    // Published at the earlier of will delay and session end.
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "watcher").await;
    s.subscribe("wills/#", Q::AtLeastOnce).await;
    let c = with_will(Protocol::V5, "short-session", Some(30)); // session expiry 0
    let started = std::time::Instant::now();
    drop(connect_raw(&b, c).await);
    assert_eq!(&s.next_publish().await.payload[..], b"gone");
    assert!(started.elapsed() < Duration::from_secs(5));
}
