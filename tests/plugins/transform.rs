//! Transforms: `plugins/transform-json-enrich` and `plugins/transform-topic-rewrite`, as seen
//! by a subscriber.

use aviary::protocol::{Packet, Protocol, Publish, PublishProperties, QoS, ReasonCode};
use bytes::Bytes;

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

#[tokio::test(flavor = "multi_thread")]
async fn mqtt5_properties_reach_the_plugin_and_survive_a_modification() {
    // The transforms get the properties on demand (`context.get-message-properties`); a plugin
    // that modifies the payload hands them back, so the subscriber sees them unaltered
    // [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-20].
    let b = TestBroker::with_toml(&plugin_toml("enrich", "transform_json_enrich", "grants = []"));
    let mut sub = connected(&b, Protocol::V5, "sub").await;
    subscribe(&mut sub, &[("sensors/#", QoS::AtLeastOnce)]).await;
    let mut sensor = connected(&b, Protocol::V5, "sensor-9").await;
    let properties = PublishProperties {
        content_type: Some("application/vnd.t+json".into()),
        response_topic: Some("replies/sensor-9".into()),
        correlation_data: Some(Bytes::from_static(b"req-1")),
        message_expiry_interval: Some(600),
        user_properties: vec![("site".into(), "north".into()), ("site".into(), "south".into())],
        ..Default::default()
    };
    sensor
        .send(&Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "sensors/t".into(),
            packet_id: None,
            payload: Bytes::from_static(br#"{"t":1}"#),
            properties: properties.into(),
        }))
        .await;
    let got = next_publish(&mut sub).await;
    let v: serde_json::Value = serde_json::from_slice(&got.payload).unwrap();
    assert_eq!(v["client_id"], "sensor-9", "modified, with the client asked for on demand");
    let p = &got.properties;
    assert_eq!(p.content_type.as_deref(), Some("application/vnd.t+json"), "kept, not replaced");
    assert_eq!(p.response_topic.as_deref(), Some("replies/sensor-9"));
    assert_eq!(p.correlation_data.as_deref(), Some(&b"req-1"[..]));
    assert!(p.message_expiry_interval.is_some_and(|s| s > 0 && s <= 600));
    let users: Vec<(&str, &str)> = p.user_properties.iter().map(|(k, v)| (&**k, &**v)).collect();
    assert_eq!(users, [("site", "north"), ("site", "south")], "in order [MQTT-3.3.2-18]");
    // Without properties the plugin still sets its own content type.
    publish(&mut sensor, "sensors/u", br#"{"t":2}"#, QoS::AtMostOnce).await;
    let got = next_publish(&mut sub).await;
    assert_eq!(got.properties.content_type.as_deref(), Some("application/json"));
    assert!(got.properties.user_properties.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_outside_the_declared_topics_cost_no_call() {
    // transform-json-enrich declares its `topics` (`transform_topics`): the broker matches
    // them itself and calls the plugin only for those messages.
    let b = TestBroker::with_toml(&plugin_toml(
        "enrich",
        "transform_json_enrich",
        "grants = []\n[plugin.config]\ntopics = [\"sensors/#\"]",
    ));
    let calls = || {
        let host = b.handle.plugins().expect("plugins");
        host.stats_of("enrich").expect("enrich").hook(aviary::plugins::Hook::OnPublish).calls()
    };
    let mut sub = connected(&b, Protocol::V5, "sub").await;
    subscribe(&mut sub, &[("#", QoS::AtLeastOnce)]).await;
    let mut sensor = connected(&b, Protocol::V5, "sensor-2").await;
    for _ in 0..3 {
        publish(&mut sensor, "other/t", br#"{"t":1}"#, QoS::AtLeastOnce).await;
        assert_eq!(next_publish(&mut sub).await.payload, &br#"{"t":1}"#[..]);
    }
    assert_eq!(calls(), 0, "no call for other/t");
    publish(&mut sensor, "sensors/t", br#"{"t":1}"#, QoS::AtLeastOnce).await;
    let v: serde_json::Value = serde_json::from_slice(&next_publish(&mut sub).await.payload).unwrap();
    assert_eq!(v["client_id"], "sensor-2");
    assert_eq!(calls(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_publishes_goes_through_the_plugin_in_one_call_in_order() {
    // The PUBLISH packets a client sends in one burst wait for one `on-publish` call per
    // plugin; authorization still runs per packet, and routing and the acknowledgements keep
    // the order of the packets [MQTT-4.6.0-2] [MQTT-4.6.0-3].
    let rewrite = plugin_toml(
        "rewrite",
        "transform_topic_rewrite",
        "grants = []\n[[plugin.config.rules]]\nfrom = \"legacy/+/temp\"\nto = \"sensors/{1}/temperature\"",
    );
    let toml = format!(
        "[http]\nenabled = true\nbind = \"127.0.0.1:0\"\n\
         [[auth.acl]]\nallow = false\naccess = \"publish\"\ntopic = \"secret/#\"\n{rewrite}"
    );
    let b = TestBroker::with_toml(&toml);
    let mut sub = connected(&b, Protocol::V5, "sub").await;
    subscribe(&mut sub, &[("#", QoS::AtLeastOnce)]).await;
    let mut publ = connected(&b, Protocol::V5, "burst").await;
    let topic = |i: u16| match i {
        i if i % 7 == 3 => format!("secret/{i}"),
        i if i % 3 == 0 => format!("legacy/k{i}/temp"),
        i => format!("plain/{i}"),
    };
    let qos = |i: u16| [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][usize::from(i % 3)];
    let mut burst = bytes::BytesMut::new();
    for i in 0..40u16 {
        let p = Publish {
            dup: false,
            qos: qos(i),
            retain: false,
            topic: topic(i).into(),
            packet_id: (qos(i) != QoS::AtMostOnce).then_some(i + 1),
            payload: Bytes::from(i.to_be_bytes().to_vec()),
            properties: Default::default(),
        };
        aviary::protocol::encode_packet(&Packet::Publish(p), Protocol::V5, &mut burst).unwrap();
    }
    publ.send_bytes(&burst).await;
    for i in (0..40u16).filter(|&i| qos(i) != QoS::AtMostOnce) {
        let want =
            if topic(i).starts_with("secret/") { ReasonCode::NotAuthorized } else { ReasonCode::Success };
        match publ.recv().await {
            Some(Packet::PubAck(a) | Packet::PubRec(a)) => {
                assert_eq!((a.packet_id, a.reason), (i + 1, want), "acknowledgement {i} in order");
            }
            other => panic!("expected the acknowledgement of {i}, got {other:?}"),
        }
    }
    for i in (0..40u16).filter(|i| !topic(*i).starts_with("secret/")) {
        let got = next_publish(&mut sub).await;
        assert_eq!(&got.payload[..], &i.to_be_bytes(), "message {i} in order");
        let want = topic(i).replace("legacy/", "sensors/").replace("/temp", "/temperature");
        assert_eq!(got.topic, want.as_str());
    }
    let url = format!("http://{}/metrics", b.handle.http_addr().expect("http listener"));
    let (_, body) = crate::metrics::get(url).await;
    let s = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let calls = crate::metrics::value(
        &s,
        "aviary_plugin_calls_total",
        &[("plugin", "rewrite"), ("hook", "on-publish")],
    );
    assert!((1.0..8.0).contains(&calls), "34 messages in a burst of 40 packets took {calls} calls");

    // A packet other than PUBLISH is handled after the publishes before it: PUBREC for a
    // QoS 2 message comes before the PUBCOMP its PUBREL sent in the same burst asks for.
    let mut pair = bytes::BytesMut::new();
    let p = Publish {
        dup: false,
        qos: QoS::ExactlyOnce,
        retain: false,
        topic: "plain/last".into(),
        packet_id: Some(500),
        payload: Bytes::from_static(b"last"),
        properties: Default::default(),
    };
    aviary::protocol::encode_packet(&Packet::Publish(p), Protocol::V5, &mut pair).unwrap();
    let rel = aviary::protocol::PubResponse::success(500);
    aviary::protocol::encode_packet(&Packet::PubRel(rel), Protocol::V5, &mut pair).unwrap();
    publ.send_bytes(&pair).await;
    assert!(
        matches!(publ.recv().await, Some(Packet::PubRec(r)) if r.packet_id == 500 && r.reason == ReasonCode::Success)
    );
    assert!(
        matches!(publ.recv().await, Some(Packet::PubComp(r)) if r.packet_id == 500 && r.reason == ReasonCode::Success)
    );
    assert_eq!(&next_publish(&mut sub).await.payload[..], b"last");
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_arriving_together_go_through_on_deliver_in_one_call_in_order() {
    // The router hands a session the deliveries of one turn together; they go to the
    // subscriber's `on-deliver` plugins in one call, and out in order [MQTT-4.6.0-6]. The
    // hostile fixture passes messages for well-behaved subscribers and gives `evil-huge-*`
    // ones an invalid topic, which drops them.
    let b =
        TestBroker::with_toml(&plugin_toml("hostile", "hostile", "[plugin.config]\nhook = \"on_deliver\""));
    let mut sub = connected(&b, Protocol::V5, "sub").await;
    subscribe(&mut sub, &[("burst/#", QoS::AtLeastOnce)]).await;
    let mut dropped = connected(&b, Protocol::V5, "evil-huge-1").await;
    subscribe(&mut dropped, &[("burst/#", QoS::AtLeastOnce)]).await;
    let mut publ = connected(&b, Protocol::V5, "burst").await;
    let mut burst = bytes::BytesMut::new();
    for i in 0..40u16 {
        let p = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: format!("burst/{i}").into(),
            packet_id: Some(i + 1),
            payload: Bytes::from(i.to_be_bytes().to_vec()),
            properties: Default::default(),
        };
        aviary::protocol::encode_packet(&Packet::Publish(p), Protocol::V5, &mut burst).unwrap();
    }
    publ.send_bytes(&burst).await;
    for i in 0..40u16 {
        let got = next_publish(&mut sub).await;
        assert_eq!(
            (got.topic.as_ref(), &got.payload[..]),
            (format!("burst/{i}").as_str(), &i.to_be_bytes()[..])
        );
    }
    no_publish(&mut dropped, 200).await;
    let host = b.handle.plugins().expect("plugins");
    let calls = host.stats_of("hostile").expect("hostile").hook(aviary::plugins::Hook::OnDeliver).calls();
    // One call per message would be 80.
    assert!((2..=16).contains(&calls), "80 deliveries took {calls} on-deliver calls");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stored_delivery_an_on_deliver_plugin_drops_is_gone_for_good() {
    // The hostile fixture's `on-deliver` gives `evil-huge-*` subscribers an invalid topic: the
    // delivery is dropped. For a persistent session in durable mode the stored entry goes too:
    // after a restart without the plugin, nothing is redelivered.
    let dir = std::env::temp_dir().join(format!("aviary-ondeliver-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = format!("[persistence]\nmode = \"durable\"\npath = {:?}\n", dir.join("store.redb"));
    let hostile = plugin_toml("hostile", "hostile", "[plugin.config]\nhook = \"on_deliver\"");
    let b = TestBroker::with_toml(&format!("{store}{hostile}"));
    let mut sub = crate::common::Raw::connect(&b).await;
    let mut connect = crate::common::connect_packet(Protocol::V5, "evil-huge-1");
    connect.properties =
        aviary::protocol::ConnectProperties { session_expiry_interval: Some(3600), ..Default::default() };
    sub.protocol = Protocol::V5;
    sub.send(&Packet::Connect(Box::new(connect.clone()))).await;
    assert!(matches!(sub.recv().await, Some(Packet::ConnAck(_))));
    subscribe(&mut sub, &[("kept/#", QoS::AtLeastOnce)]).await;
    let mut publ = connected(&b, Protocol::V5, "pub").await;
    assert_eq!(publish(&mut publ, "kept/1", b"x", QoS::AtLeastOnce).await, Some(ReasonCode::Success));
    no_publish(&mut sub, 300).await;
    drop(sub);
    drop(publ);
    // Stopping the broker (dropping its handle) waits for the store.
    drop(b);

    let b = TestBroker::with_toml(&store);
    let mut sub = crate::common::Raw::connect(&b).await;
    sub.protocol = Protocol::V5;
    connect.clean_start = false;
    sub.send(&Packet::Connect(Box::new(connect))).await;
    match sub.recv().await {
        Some(Packet::ConnAck(a)) => assert!(a.session_present, "the session was stored"),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    no_publish(&mut sub, 500).await;
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}
