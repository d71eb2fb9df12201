//! Protocol violations: each closes only the offending connection, with the right reason code
//! (MQTT 5 DISCONNECT first), and never disturbs other clients.

use aviary::protocol::*;
use rumqttc::QoS as Q;

use crate::common::*;

/// Connects with MQTT 5, sends `bytes`, and returns the DISCONNECT reason (or None if the
/// broker closed without one).
async fn violation_v5(b: &TestBroker, bytes: &[u8]) -> Option<ReasonCode> {
    let mut raw = Raw::connect(b).await;
    raw.handshake(Protocol::V5, "bad").await;
    raw.send_bytes(bytes).await;
    let rest = raw.closed().await;
    match rest.as_slice() {
        [] => None,
        [Packet::Disconnect(d)] => Some(d.reason),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn remaining_length_of_five_bytes_is_malformed() {
    // [MQTT-1.5.5-1]: at most four bytes.
    let b = TestBroker::start();
    assert_eq!(
        violation_v5(&b, &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]).await,
        Some(ReasonCode::MalformedPacket)
    );
}

#[tokio::test]
async fn reserved_flags_must_match() {
    // [MQTT-2.1.3-1]: SUBSCRIBE flags must be 0010.
    let b = TestBroker::start();
    let sub = [0x80, 0x08, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', 0x00, 0x00];
    let r = violation_v5(&b, &sub[..]).await;
    assert_eq!(r, Some(ReasonCode::MalformedPacket));
}

#[tokio::test]
async fn publish_qos_3_is_malformed() {
    // [MQTT-3.3.1-4]
    let b = TestBroker::start();
    assert_eq!(
        violation_v5(&b, &[0x36, 0x06, 0x00, 0x01, b't', 0x00, 0x01, 0x00]).await,
        Some(ReasonCode::MalformedPacket)
    );
}

#[tokio::test]
async fn invalid_utf8_topic_is_malformed() {
    // [MQTT-1.5.4-1]
    let b = TestBroker::start();
    assert_eq!(
        violation_v5(&b, &[0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 0x00]).await,
        Some(ReasonCode::MalformedPacket)
    );
}

#[tokio::test]
async fn null_character_in_topic_is_malformed() {
    // [MQTT-1.5.4-2]
    let b = TestBroker::start();
    assert_eq!(
        violation_v5(&b, &[0x30, 0x05, 0x00, 0x02, b'a', 0x00, 0x00]).await,
        Some(ReasonCode::MalformedPacket)
    );
}

#[tokio::test]
async fn wildcard_in_publish_topic_is_topic_name_invalid() {
    // [MQTT-3.3.2-2]
    let b = TestBroker::start();
    assert_eq!(
        violation_v5(&b, &[0x30, 0x05, 0x00, 0x02, b'a', b'#', 0x00]).await,
        Some(ReasonCode::TopicNameInvalid)
    );
}

#[tokio::test]
async fn packet_id_zero_is_a_protocol_error() {
    // [MQTT-2.2.1-3]
    let b = TestBroker::start();
    let publish = [0x32, 0x06, 0x00, 0x01, b't', 0x00, 0x00, 0x00];
    assert_eq!(violation_v5(&b, &publish).await, Some(ReasonCode::ProtocolError));
}

#[tokio::test]
async fn second_connect_is_a_protocol_error() {
    // [MQTT-3.1.0-2]
    let b = TestBroker::start();
    let mut out = bytes::BytesMut::new();
    encode_packet(&Packet::Connect(Box::new(connect_packet(Protocol::V5, "x"))), Protocol::V5, &mut out)
        .unwrap();
    assert_eq!(violation_v5(&b, &out).await, Some(ReasonCode::ProtocolError));
}

#[tokio::test]
async fn oversized_packet_is_packet_too_large() {
    let b = TestBroker::with_toml("[mqtt]\nmax_packet_size_bytes = 128\n");
    let mut m = vec![0x30, 0x83, 0x01, 0x00, 0x01, b't', 0x00];
    m.extend_from_slice(&[b'x'; 127]);
    assert_eq!(violation_v5(&b, &m).await, Some(ReasonCode::PacketTooLarge));
}

#[tokio::test]
async fn server_only_packet_from_client_is_a_protocol_error() {
    let b = TestBroker::start();
    assert_eq!(violation_v5(&b, &[0xd0, 0x00]).await, Some(ReasonCode::ProtocolError));
    // PINGRESP
}

#[tokio::test]
async fn first_packet_must_be_connect() {
    // [MQTT-3.1.0-1]
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    raw.send_bytes(&[0xc0, 0x00]).await; // PINGREQ
    assert!(raw.closed().await.is_empty());
}

#[tokio::test]
async fn v311_violation_closes_without_a_packet() {
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    raw.handshake(Protocol::V3_1_1, "bad311").await;
    raw.send_bytes(&[0x36, 0x06, 0x00, 0x01, b't', 0x00, 0x01, 0x00]).await;
    assert!(raw.closed().await.is_empty());
}

#[tokio::test]
async fn garbage_does_not_disturb_other_clients() {
    let b = TestBroker::start();
    let mut s = V4::connect(&b, "s").await;
    s.subscribe("ok", Q::AtLeastOnce).await;
    let p = V4::connect(&b, "p").await;
    for i in 0..20u8 {
        let mut raw = Raw::connect(&b).await;
        let junk: Vec<u8> = (0..64).map(|j| (j as u8).wrapping_mul(31).wrapping_add(i)).collect();
        raw.send_bytes(&junk).await;
        raw.closed().await;
        p.client.publish("ok", Q::AtLeastOnce, false, vec![i]).await.unwrap();
        assert_eq!(&s.next_publish().await.payload[..], &[i]);
    }
}

#[tokio::test]
async fn v5_disconnect_carries_a_reason_string() {
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    raw.handshake(Protocol::V5, "why").await;
    raw.send_bytes(&[0x36, 0x06, 0x00, 0x01, b't', 0x00, 0x01, 0x00]).await;
    match raw.closed().await.as_slice() {
        [Packet::Disconnect(d)] => {
            let why = d.properties.reason_string.as_deref().unwrap_or_default();
            assert!(why.contains("MQTT-3.3.1-4"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn subscription_identifier_from_a_client_is_a_protocol_error() {
    // [MQTT-3.3.4-6]
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    raw.handshake(Protocol::V5, "subid").await;
    let mut p = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "t".into(),
        packet_id: None,
        payload: bytes::Bytes::new(),
        properties: Default::default(),
    };
    p.properties.subscription_identifiers = vec![5];
    raw.send(&Packet::Publish(p)).await;
    let rest = raw.closed().await;
    assert!(
        matches!(rest.as_slice(), [Packet::Disconnect(d)] if d.reason == ReasonCode::ProtocolError),
        "{rest:?}"
    );
}
