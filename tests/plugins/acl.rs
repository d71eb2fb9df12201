//! Authorization: `plugins/acl` and the static `[[auth.acl]]` rules. Denied subscriptions get
//! SUBACK 0x87 (MQTT 5) or 0x80 (3.1.1); denied QoS 1 publishes PUBACK 0x87 (MQTT 5) or an
//! acknowledgement and nothing routed (3.1.1); denied QoS 0 publishes vanish silently.

use aviary::protocol::{Protocol, QoS, ReasonCode};

use crate::common::TestBroker;
use crate::support::*;

fn acl_broker() -> TestBroker {
    let extra = r##"
grants = []
[[plugin.config.rules]]
allow = true
access = "all"
topic = "own/%c/#"
[[plugin.config.rules]]
allow = true
access = "subscribe"
topic = "#"
client = "watcher"
[[plugin.config.rules]]
allow = false
access = "all"
topic = "#"
"##;
    TestBroker::with_toml(&plugin_toml("acl", "acl", extra))
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribe_denials_per_protocol() {
    let b = acl_broker();
    let mut v5 = connected(&b, Protocol::V5, "c5").await;
    let codes = subscribe(&mut v5, &[("own/c5/x", QoS::AtLeastOnce), ("own/other/#", QoS::AtMostOnce)]).await;
    assert_eq!(codes, vec![ReasonCode::GrantedQoS1, ReasonCode::NotAuthorized]);
    let mut v3 = connected(&b, Protocol::V3_1_1, "c3").await;
    // The 3.1.1 SUBACK failure code 0x80 decodes as UnspecifiedError.
    let codes = subscribe(&mut v3, &[("secret/#", QoS::AtMostOnce), ("own/c3/#", QoS::AtMostOnce)]).await;
    assert_eq!(codes, vec![ReasonCode::UnspecifiedError, ReasonCode::Success]);
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_denials_per_qos_and_protocol() {
    let b = acl_broker();
    let mut watcher = connected(&b, Protocol::V5, "watcher").await;
    assert_eq!(subscribe(&mut watcher, &[("#", QoS::AtLeastOnce)]).await, vec![ReasonCode::GrantedQoS1]);
    let mut v5 = connected(&b, Protocol::V5, "p5").await;
    let mut v3 = connected(&b, Protocol::V3_1_1, "p3").await;
    assert_eq!(publish(&mut v5, "elsewhere", b"x", QoS::AtLeastOnce).await, Some(ReasonCode::NotAuthorized));
    // 3.1.1 has no reason code: PUBACK, and nothing routed.
    assert_eq!(publish(&mut v3, "elsewhere", b"x", QoS::AtLeastOnce).await, Some(ReasonCode::Success));
    // QoS 0: dropped without a word, the connection stays up.
    publish(&mut v5, "elsewhere", b"x", QoS::AtMostOnce).await;
    publish(&mut v3, "elsewhere", b"x", QoS::AtMostOnce).await;
    no_publish(&mut watcher, 300).await;
    // What is allowed still flows, from both.
    assert_eq!(publish(&mut v5, "own/p5/t", b"ok5", QoS::AtLeastOnce).await, Some(ReasonCode::Success));
    assert_eq!(next_publish(&mut watcher).await.payload, &b"ok5"[..]);
    publish(&mut v3, "own/p3/t", b"ok3", QoS::AtMostOnce).await;
    assert_eq!(next_publish(&mut watcher).await.payload, &b"ok3"[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn static_rules_without_plugins() {
    let b = TestBroker::with_toml(
        r##"
[auth]
acl_default = "deny"
[[auth.acl]]
allow = true
access = "all"
topic = "room/%c/#"
[[auth.acl]]
allow = true
access = "subscribe"
topic = "room/+/chat"
"##,
    );
    let mut a = connected(&b, Protocol::V5, "a").await;
    let mut z = connected(&b, Protocol::V5, "z").await;
    assert_eq!(subscribe(&mut z, &[("room/+/chat", QoS::AtMostOnce)]).await, vec![ReasonCode::Success]);
    assert_eq!(subscribe(&mut z, &[("room/#", QoS::AtMostOnce)]).await, vec![ReasonCode::NotAuthorized]);
    assert_eq!(publish(&mut a, "room/a/chat", b"hi", QoS::AtLeastOnce).await, Some(ReasonCode::Success));
    assert_eq!(next_publish(&mut z).await.payload, &b"hi"[..]);
    assert_eq!(
        publish(&mut a, "room/z/chat", b"no", QoS::AtLeastOnce).await,
        Some(ReasonCode::NotAuthorized)
    );
    no_publish(&mut z, 200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_will_on_a_forbidden_topic_is_refused_at_connect() {
    let b = acl_broker();
    for (protocol, topic, expected) in [
        (Protocol::V5, "own/w1/will", ReasonCode::Success),
        (Protocol::V5, "elsewhere", ReasonCode::NotAuthorized),
        (Protocol::V3_1_1, "elsewhere", ReasonCode::NotAuthorized),
    ] {
        let mut raw = crate::common::Raw::connect(&b).await;
        raw.protocol = protocol;
        let mut c = crate::common::connect_packet(protocol, "w1");
        c.will = Some(aviary::protocol::LastWill {
            topic: topic.into(),
            payload: bytes::Bytes::from_static(b"gone"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Default::default(),
        });
        raw.send(&aviary::protocol::Packet::Connect(Box::new(c))).await;
        match raw.recv().await {
            Some(aviary::protocol::Packet::ConnAck(a)) => {
                assert_eq!(a.reason, expected, "{topic} {protocol:?}")
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}
