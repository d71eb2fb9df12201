//! Publish / subscribe: QoS 0, 1, 2 both ways, wildcards, overlapping subscriptions.

use std::time::Duration;

use aviary::protocol::*;
use rumqttc::QoS as Q;

use crate::common::*;

async fn roundtrip(pub_qos: Q, sub_qos: Q, expect: Q) {
    let b = TestBroker::start();
    let mut sub = V4::connect(&b, "sub").await;
    sub.subscribe("/geektime/iot", sub_qos).await;
    let publ = V4::connect(&b, "pub").await;
    within("publish", publ.client.publish("/geektime/iot", pub_qos, false, "Hello,World!")).await.unwrap();
    let p = sub.next_publish().await;
    assert_eq!(p.topic, "/geektime/iot");
    assert_eq!(&p.payload[..], b"Hello,World!");
    assert_eq!(p.qos, expect, "min(publish QoS, granted QoS)");
}

#[tokio::test]
async fn qos0_roundtrip() {
    roundtrip(Q::AtMostOnce, Q::AtMostOnce, Q::AtMostOnce).await;
}

#[tokio::test]
async fn qos1_roundtrip() {
    roundtrip(Q::AtLeastOnce, Q::AtLeastOnce, Q::AtLeastOnce).await;
}

#[tokio::test]
async fn qos2_roundtrip() {
    roundtrip(Q::ExactlyOnce, Q::ExactlyOnce, Q::ExactlyOnce).await;
}

#[tokio::test]
async fn delivered_qos_is_the_minimum_of_publish_and_granted() {
    // [MQTT-3.8.4-8]
    roundtrip(Q::ExactlyOnce, Q::AtLeastOnce, Q::AtLeastOnce).await;
    roundtrip(Q::AtMostOnce, Q::ExactlyOnce, Q::AtMostOnce).await;
}

#[tokio::test]
async fn two_subscribers_both_get_the_message() {
    let b = TestBroker::start();
    let mut s1 = V4::connect(&b, "s1").await;
    let mut s2 = V4::connect(&b, "s2").await;
    s1.subscribe("/geektime/iot", Q::AtMostOnce).await;
    s2.subscribe("/geektime/iot", Q::AtMostOnce).await;
    let p = V4::connect(&b, "p").await;
    p.client.publish("/geektime/iot", Q::AtMostOnce, false, "Hello,World!").await.unwrap();
    assert_eq!(&s1.next_publish().await.payload[..], b"Hello,World!");
    assert_eq!(&s2.next_publish().await.payload[..], b"Hello,World!");
}

#[tokio::test]
async fn suback_grants_requested_qos_capped_by_maximum() {
    let b = TestBroker::with_toml("[mqtt]\nmaximum_qos = 1\n");
    let mut s = V4::connect(&b, "s").await;
    let ack = s.subscribe("a/b", Q::ExactlyOnce).await;
    assert_eq!(ack.return_codes, vec![rumqttc::SubscribeReasonCode::Success(Q::AtLeastOnce)]);
}

#[tokio::test]
async fn wildcards_match_per_the_spec() {
    // [MQTT-4.7.1-1], [MQTT-4.7.1-2]: # matches the parent and any levels, + one level.
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "s").await;
    s.subscribe("sport/tennis/+", Q::AtMostOnce).await;
    s.subscribe("news/#", Q::AtMostOnce).await;
    let p = V4::connect(&b, "p").await;
    for t in ["sport/tennis/player1", "sport/tennis/player1/ranking", "news", "news/a/b", "sport/tennis"] {
        p.client.publish(t, Q::AtLeastOnce, false, t).await.unwrap();
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(s.next_publish().await.topic);
    }
    assert_eq!(got, vec!["sport/tennis/player1", "news", "news/a/b"]);
    s.no_publish_for(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn dollar_topics_are_not_matched_by_leading_wildcards() {
    // [MQTT-4.7.2-1]
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "s").await;
    s.subscribe("#", Q::AtMostOnce).await;
    s.subscribe("+/x", Q::AtMostOnce).await;
    let mut d = V4::connect(&b, "d").await;
    d.subscribe("$app/#", Q::AtMostOnce).await;
    let p = V4::connect(&b, "p").await;
    p.client.publish("$app/x", Q::AtLeastOnce, false, "1").await.unwrap();
    assert_eq!(d.next_publish().await.topic, "$app/x");
    s.no_publish_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_one_copy_at_the_highest_qos() {
    // [MQTT-3.3.4-2]: one message, at the maximum granted QoS of the matches.
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "s").await;
    s.subscribe("a/+", Q::AtMostOnce).await;
    s.subscribe("a/#", Q::AtLeastOnce).await;
    let p = V4::connect(&b, "p").await;
    p.client.publish("a/b", Q::ExactlyOnce, false, "x").await.unwrap();
    let got = s.next_publish().await;
    assert_eq!(got.qos, Q::AtLeastOnce);
    s.no_publish_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "s").await;
    s.subscribe("t", Q::AtMostOnce).await;
    within("unsubscribe", s.client.unsubscribe("t")).await.unwrap();
    loop {
        if let rumqttc::Packet::UnsubAck(_) = s.next_incoming().await {
            break;
        }
    }
    let p = V4::connect(&b, "p").await;
    p.client.publish("t", Q::AtMostOnce, false, "x").await.unwrap();
    s.no_publish_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn qos2_inbound_is_exactly_once_on_resend() {
    // [MQTT-4.3.3-9]: a resent PUBLISH with the same packet id before PUBREL is not routed again.
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "s").await;
    s.subscribe("q2", Q::ExactlyOnce).await;
    let mut raw = Raw::connect(&b).await;
    raw.handshake(Protocol::V3_1_1, "raw-pub").await;
    let publish = Publish {
        dup: false,
        qos: QoS::ExactlyOnce,
        retain: false,
        topic: "q2".into(),
        packet_id: Some(7),
        payload: bytes::Bytes::from_static(b"once"),
        properties: Default::default(),
    };
    raw.send(&Packet::Publish(publish.clone())).await;
    assert_eq!(raw.recv().await, Some(Packet::PubRec(PubResponse::success(7))));
    raw.send(&Packet::Publish(Publish { dup: true, ..publish })).await;
    assert_eq!(raw.recv().await, Some(Packet::PubRec(PubResponse::success(7))));
    raw.send(&Packet::PubRel(PubResponse::success(7))).await;
    assert_eq!(raw.recv().await, Some(Packet::PubComp(PubResponse::success(7))));
    assert_eq!(&s.next_publish().await.payload[..], b"once");
    s.no_publish_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn qos1_outbound_window_follows_receive_maximum() {
    // [MQTT-3.3.4-7]: no more unacknowledged QoS 1/2 PUBLISH than the client's Receive Maximum.
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    raw.protocol = Protocol::V5;
    let mut c = connect_packet(Protocol::V5, "slow");
    c.properties.receive_maximum = Some(2);
    raw.send(&Packet::Connect(Box::new(c))).await;
    assert!(matches!(raw.recv().await, Some(Packet::ConnAck(_))));
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        subscription_identifier: None,
        user_properties: vec![],
        filters: vec![("w".into(), SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() })],
    }))
    .await;
    assert!(matches!(raw.recv().await, Some(Packet::SubAck(_))));
    let p = V4::connect(&b, "p").await;
    for i in 0..5 {
        p.client.publish("w", Q::AtLeastOnce, false, vec![i]).await.unwrap();
    }
    let mut ids = Vec::new();
    for _ in 0..2 {
        match raw.recv().await {
            Some(Packet::Publish(p)) => ids.push(p.packet_id.unwrap()),
            other => panic!("{other:?}"),
        }
    }
    // The third waits for an acknowledgement.
    let early = tokio::time::timeout(Duration::from_millis(300), raw.recv()).await;
    assert!(early.is_err(), "window exceeded: {early:?}");
    raw.send(&Packet::PubAck(PubResponse::success(ids[0]))).await;
    match raw.recv().await {
        Some(Packet::Publish(p)) => assert_eq!(&p.payload[..], &[2]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn many_messages_arrive_in_order() {
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "s").await;
    s.subscribe("seq", Q::AtLeastOnce).await;
    let p = V4::connect(&b, "p").await;
    tokio::spawn(async move {
        for i in 0u32..500 {
            p.client.publish("seq", Q::AtLeastOnce, false, i.to_be_bytes().to_vec()).await.unwrap();
        }
        // Keep the publisher alive until the test ends.
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    for i in 0u32..500 {
        let m = s.next_publish().await;
        assert_eq!(&m.payload[..], &i.to_be_bytes());
    }
}

#[tokio::test]
async fn a_subscriber_that_never_reads_does_not_slow_the_others() {
    // Fan-out never blocks: the stalled session's queue fills, its overflow is dropped and
    // counted, and the healthy subscriber gets every message.
    let b = TestBroker::start();
    let mut stalled = Raw::connect(&b).await;
    stalled.handshake(Protocol::V3_1_1, "stalled").await;
    stalled
        .send(&Packet::Subscribe(Subscribe {
            packet_id: 1,
            subscription_identifier: None,
            user_properties: vec![],
            filters: vec![(
                "flood".into(),
                SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() },
            )],
        }))
        .await;
    assert!(matches!(stalled.recv().await, Some(Packet::SubAck(_))));
    // From here on `stalled` never reads its socket.
    let mut healthy = V4::connect(&b, "healthy").await;
    healthy.subscribe("flood", Q::AtLeastOnce).await;
    let p = V4::connect(&b, "p").await;
    const N: u32 = 5000;
    tokio::spawn(async move {
        let payload = vec![0u8; 4096];
        for i in 0..N {
            let mut m = payload.clone();
            m[..4].copy_from_slice(&i.to_be_bytes());
            p.client.publish("flood", Q::AtLeastOnce, false, m).await.unwrap();
            if i % 50 == 49 {
                // A steady stream the healthy subscriber can keep up with, even in debug builds.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    for i in 0..N {
        let m = healthy.next_publish().await;
        assert_eq!(&m.payload[..4], &i.to_be_bytes());
    }
    // The stalled client now reads: it gets what its bounded queues held, not all N.
    let mut got = 0u32;
    while let Ok(Some(packet)) = tokio::time::timeout(Duration::from_millis(700), stalled.recv()).await {
        if let Packet::Publish(m) = packet {
            got += 1;
            stalled.send(&Packet::PubAck(PubResponse::success(m.packet_id.unwrap()))).await;
        }
    }
    assert!(got >= 1000, "the in-flight window was delivered: {got}");
    assert!(got < N, "the overflow was dropped, not buffered without bound: {got}");
    drop(stalled);
}

#[tokio::test]
async fn a_lone_publish_reaches_subscribers_before_its_acknowledgement_leaves() {
    // As Mosquitto does: the subscribers are written to before the publisher gets its PUBACK
    // (a client subscribed to its own topic sees both on one connection, in that order).
    // QoS 1 and QoS 2 alike; the acknowledgement still comes [MQTT-4.3.2-2] [MQTT-4.3.3-2].
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    raw.protocol = Protocol::V3_1_1;
    raw.send(&Packet::Connect(Box::new(connect_packet(Protocol::V3_1_1, "echo")))).await;
    assert!(matches!(raw.recv().await, Some(Packet::ConnAck(_))));
    raw.send(&Packet::Subscribe(Subscribe {
        packet_id: 1,
        subscription_identifier: None,
        user_properties: vec![],
        filters: vec![("echo/#".into(), SubscriptionOptions { qos: QoS::ExactlyOnce, ..Default::default() })],
    }))
    .await;
    assert!(matches!(raw.recv().await, Some(Packet::SubAck(_))));
    for (id, qos) in [(10, QoS::AtLeastOnce), (11, QoS::ExactlyOnce), (12, QoS::AtLeastOnce)] {
        raw.send(&Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: format!("echo/{id}").into(),
            packet_id: Some(id),
            payload: bytes::Bytes::from_static(b"x"),
            properties: Default::default(),
        }))
        .await;
        match raw.recv().await {
            Some(Packet::Publish(p)) => assert_eq!(p.topic, format!("echo/{id}").as_str()),
            other => panic!("expected the delivery of {id} first, got {other:?}"),
        }
        match (qos, raw.recv().await) {
            (QoS::AtLeastOnce, Some(Packet::PubAck(a))) | (QoS::ExactlyOnce, Some(Packet::PubRec(a))) => {
                assert_eq!(a.packet_id, id)
            }
            (_, other) => panic!("expected the acknowledgement of {id}, got {other:?}"),
        }
        if qos == QoS::ExactlyOnce {
            raw.send(&Packet::PubRel(PubResponse::success(id))).await;
            assert!(matches!(raw.recv().await, Some(Packet::PubComp(c)) if c.packet_id == id));
        }
    }
}
