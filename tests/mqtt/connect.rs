//! CONNECT / CONNACK: versions, client ids, takeover, keep alive, refusals.

use std::time::Duration;

use aviary::protocol::*;

use crate::common::*;

#[tokio::test]
async fn v311_connect_gets_connack_accepted() {
    let b = TestBroker::start();
    let mut c = V4::spawn(V4::options(&b, "c1"));
    let ack = c.connack().await;
    assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success);
    assert!(!ack.session_present);
}

#[tokio::test]
async fn v31_mqisdp_is_accepted() {
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    let ack = raw.handshake(Protocol::V3_1, "old-client").await;
    assert_eq!(ack.reason, ReasonCode::Success);
}

#[tokio::test]
async fn v31_client_id_longer_than_23_is_rejected() {
    // MQTT 3.1: client identifiers are 1 to 23 characters; return code 2.
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    let ack = raw.handshake(Protocol::V3_1, "a-client-id-of-24-chars-").await;
    assert_eq!(ack.reason, ReasonCode::ClientIdentifierNotValid);
    assert!(raw.closed().await.is_empty());
}

#[tokio::test]
async fn unknown_protocol_level_gets_return_code_1() {
    // [MQTT-3.1.2-2]: unsupported level -> CONNACK 0x01 and close.
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    raw.protocol = Protocol::V3_1_1;
    raw.send_bytes(&[0x10, 0x0d, 0, 4, b'M', b'Q', b'T', b'T', 9, 0x02, 0, 30, 0, 1, b'x']).await;
    match raw.recv().await {
        Some(Packet::ConnAck(c)) => assert_eq!(c.reason, ReasonCode::UnsupportedProtocolVersion),
        other => panic!("expected CONNACK, got {other:?}"),
    }
    assert!(raw.closed().await.is_empty());
}

#[tokio::test]
async fn empty_client_id_with_clean_session_0_is_rejected_in_v311() {
    // [MQTT-3.1.3-8]
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    raw.protocol = Protocol::V3_1_1;
    let mut c = connect_packet(Protocol::V3_1_1, "");
    c.clean_start = false;
    raw.send(&Packet::Connect(Box::new(c))).await;
    match raw.recv().await {
        Some(Packet::ConnAck(c)) => assert_eq!(c.reason, ReasonCode::ClientIdentifierNotValid),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

#[tokio::test]
async fn empty_client_id_is_assigned_in_v5() {
    // [MQTT-3.2.2-16]: the assigned id is returned in CONNACK.
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    let ack = raw.handshake(Protocol::V5, "").await;
    assert_eq!(ack.reason, ReasonCode::Success);
    let id = ack.properties.assigned_client_identifier.clone().expect("assigned id");
    assert!(!id.is_empty());
}

#[tokio::test]
async fn empty_client_id_with_clean_session_is_accepted_in_v311() {
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    let ack = raw.handshake(Protocol::V3_1_1, "").await;
    assert_eq!(ack.reason, ReasonCode::Success);
}

#[tokio::test]
async fn v5_connack_advertises_limits_from_config() {
    let b = TestBroker::with_toml(
        "[mqtt]\nmaximum_qos = 1\nretain_available = false\nmax_packet_size_bytes = 4096\n\
         topic_alias_maximum = 7\nreceive_maximum = 20\nshared_subscription_available = false\n\
         wildcard_subscription_available = false\nsubscription_identifiers_available = false\n",
    );
    let mut raw = Raw::connect(&b).await;
    let ack = raw.handshake(Protocol::V5, "adv").await;
    let p = ack.properties;
    assert_eq!(p.maximum_qos, Some(QoS::AtLeastOnce));
    assert_eq!(p.retain_available, Some(false));
    assert_eq!(p.maximum_packet_size, Some(4096));
    assert_eq!(p.topic_alias_maximum, Some(7));
    assert_eq!(p.receive_maximum, Some(20));
    assert_eq!(p.shared_subscription_available, Some(false));
    assert_eq!(p.wildcard_subscription_available, Some(false));
    assert_eq!(p.subscription_identifiers_available, Some(false));
}

#[tokio::test]
async fn server_keep_alive_overrides_a_longer_request() {
    let b = TestBroker::with_toml("[mqtt]\nkeep_alive_max_secs = 10\n");
    let mut raw = Raw::connect(&b).await;
    let ack = raw.handshake(Protocol::V5, "ka").await; // asks for 30
    assert_eq!(ack.properties.server_keep_alive, Some(10));
}

#[tokio::test]
async fn silent_client_is_disconnected_after_one_and_a_half_keep_alives() {
    // [MQTT-3.1.2-24]: 1.5 x keep alive without a packet closes the connection.
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    raw.protocol = Protocol::V5;
    let mut c = connect_packet(Protocol::V5, "sleepy");
    c.keep_alive = 1;
    raw.send(&Packet::Connect(Box::new(c))).await;
    assert!(matches!(raw.recv().await, Some(Packet::ConnAck(_))));
    let start = std::time::Instant::now();
    let rest = raw.closed().await;
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(1400), "closed too early: {waited:?}");
    assert!(
        matches!(rest.as_slice(), [Packet::Disconnect(d)] if d.reason == ReasonCode::KeepAliveTimeout),
        "{rest:?}"
    );
}

#[tokio::test]
async fn pingreq_gets_pingresp() {
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    raw.handshake(Protocol::V3_1_1, "pinger").await;
    raw.send(&Packet::PingReq).await;
    assert_eq!(raw.recv().await, Some(Packet::PingResp));
}

#[tokio::test]
async fn takeover_closes_the_old_connection_with_0x8e() {
    // [MQTT-3.1.4-3]: a second connection with the same id closes the first.
    let b = TestBroker::start();
    let mut first = Raw::connect(&b).await;
    first.handshake(Protocol::V5, "same").await;
    let mut second = Raw::connect(&b).await;
    let ack = second.handshake(Protocol::V5, "same").await;
    assert_eq!(ack.reason, ReasonCode::Success);
    let rest = first.closed().await;
    assert!(
        matches!(rest.as_slice(), [Packet::Disconnect(d)] if d.reason == ReasonCode::SessionTakenOver),
        "{rest:?}"
    );
    // The new connection works.
    second.send(&Packet::PingReq).await;
    assert_eq!(second.recv().await, Some(Packet::PingResp));
}

#[tokio::test]
async fn anonymous_refused_when_not_allowed() {
    let b = TestBroker::with_toml("[auth]\nallow_anonymous = false\n");
    let mut raw = Raw::connect(&b).await;
    let ack = raw.handshake(Protocol::V3_1_1, "anon").await;
    assert_eq!(ack.reason, ReasonCode::NotAuthorized); // v3 return code 5
    let mut raw5 = Raw::connect(&b).await;
    let ack = raw5.handshake(Protocol::V5, "anon5").await;
    assert_eq!(ack.reason, ReasonCode::NotAuthorized);
}

#[tokio::test]
async fn unknown_authentication_method_is_refused() {
    let b = TestBroker::start();
    let mut raw = Raw::connect(&b).await;
    raw.protocol = Protocol::V5;
    let mut c = connect_packet(Protocol::V5, "enh");
    c.properties.authentication_method = Some("SCRAM-SHA-1".into());
    raw.send(&Packet::Connect(Box::new(c))).await;
    match raw.recv().await {
        Some(Packet::ConnAck(c)) => assert_eq!(c.reason, ReasonCode::BadAuthenticationMethod),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn max_connections_per_listener_is_enforced() {
    let b = TestBroker::with_toml("[[listener]]\nmax_connections = 1\n");
    let mut first = Raw::connect(&b).await;
    first.handshake(Protocol::V3_1_1, "one").await;
    let mut second = Raw::connect(&b).await;
    second.protocol = Protocol::V3_1_1;
    second.send(&Packet::Connect(Box::new(connect_packet(Protocol::V3_1_1, "two")))).await;
    assert!(second.closed().await.is_empty());
    first.send(&Packet::PingReq).await;
    assert_eq!(first.recv().await, Some(Packet::PingResp));
}

#[tokio::test]
async fn shutdown_sends_server_shutting_down_to_v5_clients() {
    let b = TestBroker::start();
    let mut v5 = Raw::connect(&b).await;
    v5.handshake(Protocol::V5, "v5").await;
    let mut v3 = Raw::connect(&b).await;
    v3.handshake(Protocol::V3_1_1, "v3").await;
    let handle = b.handle;
    let stopper = tokio::task::spawn_blocking(move || handle.stop());
    let rest = v5.closed().await;
    assert!(
        matches!(rest.as_slice(), [Packet::Disconnect(d)] if d.reason == ReasonCode::ServerShuttingDown),
        "{rest:?}"
    );
    assert!(v3.closed().await.is_empty());
    within("broker stop", stopper).await.unwrap();
}
