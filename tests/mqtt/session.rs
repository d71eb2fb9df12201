//! Persistent sessions: subscriptions and queued QoS 1/2 messages survive a disconnect.

use std::time::Duration;

use rumqttc::QoS as Q;

use crate::common::*;

fn persistent(b: &TestBroker, id: &str) -> rumqttc::MqttOptions {
    let mut o = V4::options(b, id);
    o.set_clean_session(false);
    o
}

#[tokio::test]
async fn persistent_session_keeps_subscriptions_and_queues_qos1() {
    let b = TestBroker::start();
    let mut s = V4::connect_with(persistent(&b, "dev")).await;
    s.subscribe("cmd/#", Q::AtLeastOnce).await;
    within("disconnect", s.client.disconnect()).await.unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let p = V4::connect(&b, "p").await;
    p.client.publish("cmd/a", Q::AtLeastOnce, false, "q1").await.unwrap();
    p.client.publish("cmd/b", Q::AtMostOnce, false, "q0").await.unwrap();
    p.client.publish("cmd/c", Q::ExactlyOnce, false, "q2").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut again = V4::spawn(persistent(&b, "dev"));
    let ack = again.connack().await;
    assert!(ack.session_present, "[MQTT-3.2.2-2] session present");
    let first = again.next_publish().await;
    assert_eq!(&first.payload[..], b"q1");
    let second = again.next_publish().await;
    assert_eq!(&second.payload[..], b"q2", "QoS 0 is not queued by default");
}

#[tokio::test]
async fn clean_session_discards_the_old_session() {
    // [MQTT-3.1.2-6]/[MQTT-3.2.2-1]: clean session -> session present 0, no old subscriptions.
    let b = TestBroker::start();
    let mut s = V4::connect_with(persistent(&b, "dev")).await;
    s.subscribe("cmd/#", Q::AtLeastOnce).await;
    s.client.disconnect().await.unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut clean = V4::spawn(V4::options(&b, "dev"));
    assert!(!clean.connack().await.session_present);
    let p = V4::connect(&b, "p").await;
    p.client.publish("cmd/a", Q::AtLeastOnce, false, "x").await.unwrap();
    clean.no_publish_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn unacknowledged_messages_are_resent_with_dup_on_resume() {
    // [MQTT-4.4.0-1]: on resumption, unacknowledged PUBLISH packets are resent with DUP 1.
    use aviary::protocol::*;
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    raw.protocol = Protocol::V3_1_1;
    let mut c = connect_packet(Protocol::V3_1_1, "resume");
    c.clean_start = false;
    raw.send(&Packet::Connect(Box::new(c.clone()))).await;
    assert!(matches!(raw.recv().await, Some(Packet::ConnAck(_))));
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        subscription_identifier: None,
        user_properties: vec![],
        filters: vec![("r".into(), SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() })],
    }))
    .await;
    assert!(matches!(raw.recv().await, Some(Packet::SubAck(_))));
    let p = V4::connect(&b, "p").await;
    p.client.publish("r", Q::AtLeastOnce, false, "unacked").await.unwrap();
    let first = match raw.recv().await {
        Some(Packet::Publish(p)) => p,
        other => panic!("{other:?}"),
    };
    assert!(!first.dup);
    drop(raw); // no PUBACK
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = Raw::connect(&b).await;
    again.protocol = Protocol::V3_1_1;
    again.send(&Packet::Connect(Box::new(c))).await;
    match again.recv().await {
        Some(Packet::ConnAck(a)) => assert!(a.session_present),
        other => panic!("{other:?}"),
    }
    match again.recv().await {
        Some(Packet::Publish(p)) => {
            assert!(p.dup);
            assert_eq!(p.packet_id, first.packet_id);
            assert_eq!(&p.payload[..], b"unacked");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn offline_queue_is_bounded() {
    let b = TestBroker::with_toml("[mqtt]\nmax_queued_messages = 3\n");
    let mut s = V4::connect_with(persistent(&b, "dev")).await;
    s.subscribe("q", Q::AtLeastOnce).await;
    s.client.disconnect().await.unwrap();
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let p = V4::connect(&b, "p").await;
    for i in 0..10u8 {
        p.client.publish("q", Q::AtLeastOnce, false, vec![i]).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = within("stats", b.handle.stats()).await.unwrap();
    assert_eq!(stats.dropped_queue_full, 7);
    let mut again = V4::connect_with(persistent(&b, "dev")).await;
    for i in 0..3u8 {
        assert_eq!(&again.next_publish().await.payload[..], &[i]);
    }
    again.no_publish_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn v5_session_expiry_zero_ends_the_session_at_disconnect() {
    let b = TestBroker::start();
    let mut o = V5::options(&b, "e0");
    o.set_clean_start(false);
    let s = V5::connect_with(o.clone()).await;
    s.client.subscribe("x", rumqttc::v5::mqttbytes::QoS::AtLeastOnce).await.unwrap();
    s.client.disconnect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = V5::spawn(o);
    assert!(!again.connack().await.session_present);
}

#[tokio::test]
async fn v5_session_expiry_keeps_the_session_then_ends_it() {
    let b = TestBroker::start();
    let mut o = V5::options(&b, "e1");
    o.set_clean_start(false);
    let mut props = p5::ConnectProperties::new();
    props.session_expiry_interval = Some(1);
    o.set_connect_properties(props);
    let s = V5::connect_with(o.clone()).await;
    s.client.disconnect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = V5::spawn(o.clone());
    assert!(again.connack().await.session_present);
    again.client.disconnect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let mut late = V5::spawn(o);
    assert!(!late.connack().await.session_present);
}
