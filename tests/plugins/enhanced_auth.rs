//! MQTT 5 enhanced authentication through the plugin surface: a two-step challenge
//! (`tests/plugins/fixtures/challenge`, method `aviary-test`).

use aviary::protocol::{Auth, AuthProperties, Packet, Protocol, ReasonCode};
use bytes::Bytes;

use crate::common::{connect_packet, Raw, TestBroker};
use crate::support::*;

fn broker() -> TestBroker {
    TestBroker::with_toml(&format!(
        "[auth]\nallow_anonymous = false\n{}",
        plugin_toml("challenge", "challenge", "")
    ))
}

/// Sends CONNECT with an Authentication Method and Data.
async fn start(b: &TestBroker, id: &str, method: &str, data: &[u8]) -> Raw {
    let mut raw = Raw::connect(b).await;
    raw.protocol = Protocol::V5;
    let mut c = connect_packet(Protocol::V5, id);
    c.properties.authentication_method = Some(method.into());
    c.properties.authentication_data = Some(Bytes::copy_from_slice(data));
    raw.send(&Packet::Connect(Box::new(c))).await;
    raw
}

fn auth(method: &str, data: &[u8]) -> Packet {
    Packet::Auth(Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: AuthProperties {
            authentication_method: Some(method.into()),
            authentication_data: Some(Bytes::copy_from_slice(data)),
            ..Default::default()
        }
        .into(),
    })
}

/// Expects AUTH 0x18 carrying `data` [MQTT-4.12.0-2].
async fn expect_challenge(raw: &mut Raw, data: &[u8]) {
    match raw.recv().await {
        Some(Packet::Auth(a)) => {
            assert_eq!(a.reason, ReasonCode::ContinueAuthentication);
            assert_eq!(a.properties.authentication_method.as_deref(), Some("aviary-test"));
            assert_eq!(a.properties.authentication_data.as_deref(), Some(data));
        }
        other => panic!("expected AUTH, got {other:?}"),
    }
}

async fn connack(raw: &mut Raw) -> aviary::protocol::ConnAck {
    match raw.recv().await {
        Some(Packet::ConnAck(c)) => c,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_step_challenge_lets_the_client_in() {
    let b = broker();
    let mut raw = start(&b, "c1", "aviary-test", b"hello").await;
    expect_challenge(&mut raw, b"nonce:c1").await;
    raw.send(&auth("aviary-test", b"answer:c1")).await;
    let ack = connack(&mut raw).await;
    assert_eq!(ack.reason, ReasonCode::Success);
    // CONNACK names the method that was used.
    assert_eq!(ack.properties.authentication_method.as_deref(), Some("aviary-test"));
    assert_eq!(
        subscribe(&mut raw, &[("t", aviary::protocol::QoS::AtMostOnce)]).await,
        vec![ReasonCode::Success]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_answers_and_unknown_methods_are_refused() {
    let b = broker();
    let mut raw = start(&b, "c2", "aviary-test", b"hello").await;
    expect_challenge(&mut raw, b"nonce:c2").await;
    raw.send(&auth("aviary-test", b"answer:someone-else")).await;
    let ack = connack(&mut raw).await;
    assert_eq!(ack.reason, ReasonCode::NotAuthorized);
    assert_eq!(ack.properties.reason_string.as_deref(), Some("wrong answer"));
    // No plugin speaks the method: 0x8C, as without plugins.
    let mut raw = start(&b, "c3", "SCRAM-SHA-1", b"x").await;
    assert_eq!(connack(&mut raw).await.reason, ReasonCode::BadAuthenticationMethod);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_auth_with_the_same_method_may_follow_a_challenge() {
    let b = broker();
    let mut raw = start(&b, "c4", "aviary-test", b"hello").await;
    expect_challenge(&mut raw, b"nonce:c4").await;
    raw.send(&Packet::PingReq).await;
    assert_eq!(connack(&mut raw).await.reason, ReasonCode::ProtocolError);
    assert!(raw.closed().await.is_empty());

    let mut raw = start(&b, "c5", "aviary-test", b"hello").await;
    expect_challenge(&mut raw, b"nonce:c5").await;
    raw.send(&auth("other-method", b"answer:c5")).await;
    assert_eq!(connack(&mut raw).await.reason, ReasonCode::ProtocolError);
}

/// Connects `id` through the two-step challenge.
async fn connected_via_challenge(b: &TestBroker, id: &str) -> Raw {
    let mut raw = start(b, id, "aviary-test", b"hello").await;
    expect_challenge(&mut raw, format!("nonce:{id}").as_bytes()).await;
    raw.send(&auth("aviary-test", format!("answer:{id}").as_bytes())).await;
    assert_eq!(connack(&mut raw).await.reason, ReasonCode::Success);
    raw
}

fn reauth(data: &[u8]) -> Packet {
    let Packet::Auth(mut a) = auth("aviary-test", data) else { unreachable!() };
    a.reason = ReasonCode::ReAuthenticate;
    Packet::Auth(a)
}

#[tokio::test(flavor = "multi_thread")]
async fn re_authentication_runs_the_same_exchange() {
    let b = broker();
    let mut raw = connected_via_challenge(&b, "r1").await;
    raw.send(&reauth(b"hello")).await;
    expect_challenge(&mut raw, b"nonce:r1").await;
    raw.send(&auth("aviary-test", b"answer:r1")).await;
    match raw.recv().await {
        Some(Packet::Auth(a)) => assert_eq!(a.reason, ReasonCode::Success),
        other => panic!("expected AUTH 0x00, got {other:?}"),
    }
    // Still connected and serving.
    assert_eq!(
        subscribe(&mut raw, &[("t", aviary::protocol::QoS::AtMostOnce)]).await,
        vec![ReasonCode::Success]
    );
    // A failed re-authentication disconnects with 0x87.
    raw.send(&reauth(b"hello")).await;
    expect_challenge(&mut raw, b"nonce:r1").await;
    raw.send(&auth("aviary-test", b"wrong")).await;
    match raw.closed().await.as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason, ReasonCode::NotAuthorized),
        other => panic!("expected DISCONNECT 0x87, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_without_enhanced_authentication_is_refused() {
    let b = TestBroker::with_toml(&plugin_toml("challenge", "challenge", ""));
    let mut raw = connected(&b, Protocol::V5, "plain").await;
    raw.send(&reauth(b"hello")).await;
    match raw.closed().await.as_slice() {
        // 0x8C is not a DISCONNECT reason code: AUTH here is a protocol error.
        [Packet::Disconnect(d)] => assert_eq!(d.reason, ReasonCode::ProtocolError),
        other => panic!("expected DISCONNECT 0x82, got {other:?}"),
    }
}
