//! MQTT 5 features: properties passed through, subscription identifiers, No Local, Retain As
//! Published, Retain Handling, topic aliases both ways, message expiry, Maximum Packet Size.

use std::time::Duration;

use aviary::protocol::*;
use bytes::Bytes;

use crate::common::*;

async fn raw5(b: &TestBroker, id: &str, f: impl FnOnce(&mut Connect)) -> Raw {
    let mut raw = Raw::connect(b).await;
    raw.protocol = Protocol::V5;
    let mut c = connect_packet(Protocol::V5, id);
    f(&mut c);
    raw.send(&Packet::Connect(Box::new(c))).await;
    match raw.recv().await {
        Some(Packet::ConnAck(a)) => assert_eq!(a.reason, ReasonCode::Success),
        other => panic!("{other:?}"),
    }
    raw
}

async fn subscribe(raw: &mut Raw, filter: &str, opts: SubscriptionOptions, id: Option<u32>) -> SubAck {
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        subscription_identifier: id,
        user_properties: vec![],
        filters: vec![(filter.into(), opts)],
    }))
    .await;
    match raw.recv().await {
        Some(Packet::SubAck(s)) => s,
        other => panic!("{other:?}"),
    }
}

fn publish(topic: &str, qos: QoS, retain: bool, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        qos,
        retain,
        topic: topic.into(),
        packet_id: (qos != QoS::AtMostOnce).then_some(1),
        payload: Bytes::from_static(payload),
        properties: Default::default(),
    }
}

async fn next_publish(raw: &mut Raw) -> Publish {
    loop {
        match raw.recv().await {
            Some(Packet::Publish(p)) => return p,
            Some(_) => continue,
            None => panic!("closed"),
        }
    }
}

fn q(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions { qos, ..Default::default() }
}

#[tokio::test]
async fn properties_are_forwarded_unchanged() {
    // [MQTT-3.3.2-4] payload format, [MQTT-3.3.2-17]/[MQTT-3.3.2-18] user properties in order,
    // response topic, correlation data and content type unaltered.
    let b = TestBroker::start();
    let mut s = raw5(&b, "s", |_| {}).await;
    subscribe(&mut s, "req/#", q(QoS::AtLeastOnce), None).await;
    let mut p = raw5(&b, "p", |_| {}).await;
    let mut m = publish("req/1", QoS::AtMostOnce, false, b"{}");
    m.properties = PublishProperties {
        payload_format_indicator: Some(1),
        content_type: Some("application/json".into()),
        response_topic: Some("resp/1".into()),
        correlation_data: Some(Bytes::from_static(b"\x01\x02")),
        user_properties: vec![("a".into(), "1".into()), ("a".into(), "2".into()), ("b".into(), "3".into())],
        ..Default::default()
    }
    .into();
    p.send(&Packet::Publish(m.clone())).await;
    let got = next_publish(&mut s).await;
    assert_eq!(got.properties.payload_format_indicator, Some(1));
    assert_eq!(got.properties.content_type, m.properties.content_type);
    assert_eq!(got.properties.response_topic, m.properties.response_topic);
    assert_eq!(got.properties.correlation_data, m.properties.correlation_data);
    assert_eq!(got.properties.user_properties, m.properties.user_properties);
}

#[tokio::test]
async fn subscription_identifiers_of_every_match_are_sent() {
    // [MQTT-3.3.4-3]/[MQTT-3.3.4-5]: one copy carrying each matching subscription's identifier.
    let b = TestBroker::start();
    let mut s = raw5(&b, "s", |_| {}).await;
    subscribe(&mut s, "a/+", q(QoS::AtMostOnce), Some(11)).await;
    subscribe(&mut s, "a/#", q(QoS::AtMostOnce), Some(22)).await;
    let mut p = raw5(&b, "p", |_| {}).await;
    p.send(&Packet::Publish(publish("a/b", QoS::AtMostOnce, false, b"x"))).await;
    let mut ids = next_publish(&mut s).await.properties.subscription_identifiers.clone();
    ids.sort();
    assert_eq!(ids, vec![11, 22]);
}

#[tokio::test]
async fn no_local_skips_own_messages() {
    // [MQTT-3.8.3-3]
    let b = TestBroker::start();
    let mut s = raw5(&b, "me", |_| {}).await;
    subscribe(&mut s, "chat", SubscriptionOptions { no_local: true, ..q(QoS::AtMostOnce) }, None).await;
    s.send(&Packet::Publish(publish("chat", QoS::AtMostOnce, false, b"mine"))).await;
    let mut other = raw5(&b, "other", |_| {}).await;
    other.send(&Packet::Publish(publish("chat", QoS::AtMostOnce, false, b"theirs"))).await;
    assert_eq!(&next_publish(&mut s).await.payload[..], b"theirs");
}

#[tokio::test]
async fn retain_as_published_keeps_the_flag() {
    // [MQTT-3.3.1-12]/[MQTT-3.3.1-13]
    let b = TestBroker::start();
    let mut rap = raw5(&b, "rap", |_| {}).await;
    subscribe(&mut rap, "t", SubscriptionOptions { retain_as_published: true, ..q(QoS::AtMostOnce) }, None)
        .await;
    let mut plain = raw5(&b, "plain", |_| {}).await;
    subscribe(&mut plain, "t", q(QoS::AtMostOnce), None).await;
    let mut p = raw5(&b, "p", |_| {}).await;
    p.send(&Packet::Publish(publish("t", QoS::AtMostOnce, true, b"r"))).await;
    assert!(next_publish(&mut rap).await.retain);
    assert!(!next_publish(&mut plain).await.retain);
}

#[tokio::test]
async fn retain_handling_1_and_2() {
    // [MQTT-3.3.1-9]..[MQTT-3.3.1-11]: 1 = only for a new subscription, 2 = never.
    let b = TestBroker::start();
    let mut p = raw5(&b, "p", |_| {}).await;
    p.send(&Packet::Publish(publish("keep", QoS::AtLeastOnce, true, b"v"))).await;
    assert!(matches!(p.recv().await, Some(Packet::PubAck(_))));

    let mut s = raw5(&b, "s", |_| {}).await;
    let if_new = SubscriptionOptions { retain_handling: RetainHandling::SendIfNew, ..q(QoS::AtMostOnce) };
    subscribe(&mut s, "keep", if_new, None).await;
    assert!(next_publish(&mut s).await.retain);
    subscribe(&mut s, "keep", if_new, None).await;
    let again = tokio::time::timeout(Duration::from_millis(300), s.recv()).await;
    assert!(again.is_err(), "retained sent again for an existing subscription: {again:?}");

    let mut never = raw5(&b, "never", |_| {}).await;
    let opts = SubscriptionOptions { retain_handling: RetainHandling::DoNotSend, ..q(QoS::AtMostOnce) };
    subscribe(&mut never, "keep", opts, None).await;
    let got = tokio::time::timeout(Duration::from_millis(300), never.recv()).await;
    assert!(got.is_err(), "{got:?}");
}

#[tokio::test]
async fn inbound_topic_alias_is_resolved() {
    // [MQTT-3.3.2-12]: alias set with a topic, then used with an empty topic.
    let b = TestBroker::start();
    let mut s = raw5(&b, "s", |_| {}).await;
    subscribe(&mut s, "long/topic/name", q(QoS::AtMostOnce), None).await;
    let mut p = raw5(&b, "p", |_| {}).await;
    let mut first = publish("long/topic/name", QoS::AtMostOnce, false, b"1");
    first.properties.topic_alias = Some(3);
    p.send(&Packet::Publish(first)).await;
    let mut second = publish("", QoS::AtMostOnce, false, b"2");
    second.properties.topic_alias = Some(3);
    p.send(&Packet::Publish(second)).await;
    assert_eq!(next_publish(&mut s).await.topic, "long/topic/name");
    assert_eq!(next_publish(&mut s).await.topic, "long/topic/name");
}

#[tokio::test]
async fn topic_alias_above_maximum_is_a_disconnect_0x94() {
    // [MQTT-3.3.2-9]
    let b = TestBroker::with_toml("[mqtt]\ntopic_alias_maximum = 2\n");
    let mut p = raw5(&b, "p", |_| {}).await;
    let mut m = publish("t", QoS::AtMostOnce, false, b"1");
    m.properties.topic_alias = Some(3);
    p.send(&Packet::Publish(m)).await;
    let rest = p.closed().await;
    assert!(
        matches!(rest.as_slice(), [Packet::Disconnect(d)] if d.reason == ReasonCode::TopicAliasInvalid),
        "{rest:?}"
    );
}

#[tokio::test]
async fn unknown_topic_alias_is_a_protocol_error() {
    let b = TestBroker::start();
    let mut p = raw5(&b, "p", |_| {}).await;
    let mut m = publish("", QoS::AtMostOnce, false, b"1");
    m.properties.topic_alias = Some(1);
    p.send(&Packet::Publish(m)).await;
    let rest = p.closed().await;
    assert!(
        matches!(rest.as_slice(), [Packet::Disconnect(d)] if d.reason == ReasonCode::ProtocolError),
        "{rest:?}"
    );
}

#[tokio::test]
async fn outbound_topic_aliases_are_assigned_when_the_client_allows() {
    // [MQTT-3.3.2-8]: never more aliases than the client's Topic Alias Maximum.
    let b = TestBroker::start();
    let mut s = raw5(&b, "s", |c| c.properties.topic_alias_maximum = Some(1)).await;
    subscribe(&mut s, "#", q(QoS::AtMostOnce), None).await;
    let mut p = raw5(&b, "p", |_| {}).await;
    for t in ["x/1", "x/1", "x/2"] {
        p.send(&Packet::Publish(publish(t, QoS::AtMostOnce, false, b"."))).await;
    }
    let a = next_publish(&mut s).await;
    assert_eq!((a.topic.as_ref(), a.properties.topic_alias), ("x/1", Some(1)));
    let b2 = next_publish(&mut s).await;
    assert_eq!((b2.topic.as_ref(), b2.properties.topic_alias), ("", Some(1)));
    let c = next_publish(&mut s).await;
    assert_eq!((c.topic.as_ref(), c.properties.topic_alias), ("x/2", None));
}

#[tokio::test]
async fn message_expiry_counts_down_and_expired_messages_are_dropped() {
    // [MQTT-3.3.2-5]/[MQTT-3.3.2-6]
    let b = TestBroker::start();
    let mut p = raw5(&b, "p", |_| {}).await;
    let mut m = publish("exp/a", QoS::AtLeastOnce, true, b"soon");
    m.properties.message_expiry_interval = Some(3);
    p.send(&Packet::Publish(m)).await;
    let mut gone = publish("exp/b", QoS::AtLeastOnce, true, b"gone");
    gone.properties.message_expiry_interval = Some(1);
    gone.packet_id = Some(2);
    p.send(&Packet::Publish(gone)).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let mut s = raw5(&b, "s", |_| {}).await;
    subscribe(&mut s, "exp/#", q(QoS::AtLeastOnce), None).await;
    let got = next_publish(&mut s).await;
    assert_eq!(got.topic, "exp/a");
    let left = got.properties.message_expiry_interval.unwrap();
    assert!((1..3).contains(&left), "{left}");
    let more = tokio::time::timeout(Duration::from_millis(300), s.recv()).await;
    assert!(more.is_err(), "expired message delivered: {more:?}");
}

#[tokio::test]
async fn messages_over_the_clients_maximum_packet_size_are_skipped() {
    // [MQTT-3.1.2-24]/[MQTT-3.1.2-25]
    let b = TestBroker::start();
    let mut s = raw5(&b, "s", |c| c.properties.maximum_packet_size = Some(64)).await;
    subscribe(&mut s, "big", q(QoS::AtLeastOnce), None).await;
    let mut p = raw5(&b, "p", |_| {}).await;
    p.send(&Packet::Publish(publish("big", QoS::AtMostOnce, false, &[b'x'; 100]))).await;
    p.send(&Packet::Publish(publish("big", QoS::AtMostOnce, false, b"small"))).await;
    assert_eq!(&next_publish(&mut s).await.payload[..], b"small");
}

#[tokio::test]
async fn session_expiry_cannot_be_raised_from_zero_at_disconnect() {
    // [MQTT-3.14.2-2]
    let b = TestBroker::start();
    let mut c = raw5(&b, "c", |_| {}).await;
    let mut d = Disconnect::default();
    d.properties.session_expiry_interval = Some(100);
    c.send(&Packet::Disconnect(d)).await;
    let rest = c.closed().await;
    assert!(
        matches!(rest.as_slice(), [Packet::Disconnect(d)] if d.reason == ReasonCode::ProtocolError),
        "{rest:?}"
    );
}

#[tokio::test]
async fn rumqttc_v5_client_round_trip_with_user_properties() {
    let b = TestBroker::start();
    let mut s = V5::connect(&b, "s5").await;
    within("subscribe", s.client.subscribe("v5/t", rumqttc::v5::mqttbytes::QoS::AtLeastOnce)).await.unwrap();
    let p = V5::connect(&b, "p5").await;
    let props =
        p5::PublishProperties { user_properties: vec![("k".into(), "v".into())], ..Default::default() };
    // Give the subscription a moment to reach the router before publishing.
    loop {
        if let p5::Packet::SubAck(_) = s.next_incoming().await {
            break;
        }
    }
    p.client
        .publish_with_properties("v5/t", rumqttc::v5::mqttbytes::QoS::AtLeastOnce, false, "hi", props)
        .await
        .unwrap();
    let got = s.next_publish().await;
    assert_eq!(&got.payload[..], b"hi");
    assert_eq!(got.properties.unwrap().user_properties, vec![("k".to_string(), "v".to_string())]);
}
