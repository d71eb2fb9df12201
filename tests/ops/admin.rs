//! The admin API: bearer token, and every endpoint.

use std::time::Duration;

use aviary::protocol::{self, Packet, Protocol, PubResponse, QoS, ReasonCode, SubscriptionOptions};
use serde_json::Value;

use crate::broker_with_http;
use crate::common::{Raw, V4};
use crate::util::{http, Wire};

#[tokio::test]
async fn admin_api_needs_the_bearer_token() {
    let (_b, url) = broker_with_http("");
    let api = format!("{url}/api/v1/clients");
    assert_eq!(http("GET", api.clone(), None).await.0, 401, "no token");
    assert_eq!(http("GET", api.clone(), Some("wrong")).await.0, 401, "wrong token");
    assert_eq!(http("GET", api.clone(), Some("secre")).await.0, 401, "prefix of the token");
    assert_eq!(http("DELETE", format!("{url}/api/v1/retained/x"), None).await.0, 401);
    assert_eq!(http("GET", api, Some("secret")).await.0, 200);
}

#[tokio::test]
async fn admin_api_is_off_without_a_configured_token() {
    let b = crate::common::TestBroker::with_toml("[http]\nenabled = true\nbind = \"127.0.0.1:0\"\n");
    let url = format!("http://{}/api/v1/clients", b.handle.http_addr().unwrap());
    assert_eq!(http("GET", url.clone(), None).await.0, 403);
    assert_eq!(http("GET", url, Some("")).await.0, 403);
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn admin_endpoints_list_inspect_kick_and_delete() {
    let (b, url) = broker_with_http("");
    let t = Some("secret");
    let (mut c1, _) = Wire::connect(b.addr, Protocol::V5, "c1", true, 0).await.unwrap();
    assert_eq!(c1.subscribe("a/+", QoS::AtLeastOnce).await, vec![ReasonCode::GrantedQoS1]);
    let publ = V4::connect(&b, "p1").await;
    publ.client.publish("r/1", rumqttc::QoS::AtLeastOnce, true, "retained").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (s, body) = http("GET", format!("{url}/api/v1/clients"), t).await;
    assert_eq!(s, 200);
    let ids: Vec<_> =
        json(&body).as_array().unwrap().iter().map(|c| c["client_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, vec!["c1", "p1"]);
    let (_, body) = http("GET", format!("{url}/api/v1/sessions"), t).await;
    assert_eq!(json(&body).as_array().unwrap().len(), 2);

    let (s, body) = http("GET", format!("{url}/api/v1/clients/c1"), t).await;
    assert_eq!(s, 200);
    let c = json(&body);
    assert_eq!(c["connected"], true);
    assert_eq!(c["protocol_level"], 5);
    assert_eq!(c["subscription_filters"][0]["filter"], "a/+");
    assert!(c["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(http("GET", format!("{url}/api/v1/clients/nobody"), t).await.0, 404);

    let (_, body) = http("GET", format!("{url}/api/v1/subscriptions"), t).await;
    let subs = json(&body);
    assert_eq!(subs[0]["client_id"], "c1");
    assert_eq!(subs[0]["qos"], 1);

    let (_, body) = http("GET", format!("{url}/api/v1/retained"), t).await;
    let r = json(&body);
    assert_eq!(r[0]["topic"], "r/1");
    assert_eq!(r[0]["payload_bytes"], 8);
    assert!(!body.contains("retained\""), "no payloads in admin answers");
    assert_eq!(http("DELETE", format!("{url}/api/v1/retained/r/1"), t).await.0, 204);
    assert_eq!(http("DELETE", format!("{url}/api/v1/retained/r/1"), t).await.0, 404);
    let (_, body) = http("GET", format!("{url}/api/v1/retained"), t).await;
    assert_eq!(json(&body), serde_json::json!([]));

    assert_eq!(http("DELETE", format!("{url}/api/v1/clients/c1"), t).await.0, 204);
    match c1.recv(Duration::from_secs(5)).await {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason, ReasonCode::AdministrativeAction),
        other => panic!("expected DISCONNECT 0x98, got {other:?}"),
    }
    assert_eq!(http("DELETE", format!("{url}/api/v1/clients/nobody"), t).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_inspect_shows_a_connected_sessions_inflight_and_queued_counts() {
    let (b, url) = broker_with_http("");
    let t = Some("secret");
    // A slow subscriber: Receive Maximum 2, never acknowledges.
    let mut slow = Raw::connect(&b).await;
    let mut c = crate::common::connect_packet(Protocol::V5, "slow");
    c.properties.receive_maximum = Some(2);
    c.properties.session_expiry_interval = Some(60);
    slow.send(&Packet::Connect(Box::new(c))).await;
    assert!(matches!(slow.recv().await, Some(Packet::ConnAck(_))));
    let sub = protocol::Subscribe {
        packet_id: 1,
        subscription_identifier: None,
        user_properties: vec![],
        filters: vec![("s/#".into(), SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() })],
    };
    slow.send(&Packet::Subscribe(sub)).await;
    assert!(matches!(slow.recv().await, Some(Packet::SubAck(_))));
    // It also starts a QoS 2 publish and holds back PUBREL.
    let q2 = protocol::Publish {
        dup: false,
        qos: QoS::ExactlyOnce,
        retain: false,
        topic: "other".into(),
        packet_id: Some(7),
        payload: bytes::Bytes::from_static(b"x"),
        properties: Default::default(),
    };
    slow.send(&Packet::Publish(q2)).await;
    assert!(matches!(slow.recv().await, Some(Packet::PubRec(_))));

    let (mut p, _) = Wire::connect(b.addr, Protocol::V5, "pub", true, 0).await.unwrap();
    for i in 0..5u16 {
        p.publish("s/t", b"12345", QoS::AtLeastOnce, Some(i + 1), false).await.unwrap();
    }
    for _ in 0..5 {
        assert!(matches!(p.recv(Duration::from_secs(5)).await, Some(Packet::PubAck(_))));
    }
    for _ in 0..2 {
        assert!(matches!(slow.recv().await, Some(Packet::Publish(_))), "the window's two messages");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (s, body) = http("GET", format!("{url}/api/v1/clients/slow"), t).await;
    assert_eq!(s, 200, "{body}");
    let c = json(&body);
    assert_eq!(c["counts_from"], "session", "{body}");
    assert_eq!(c["inflight_messages"], 2, "{body}");
    assert_eq!(c["queued_messages"], 3, "{body}");
    let s = &c["session"];
    assert_eq!((&s["inflight_messages"], &s["queued_messages"]), (&json("2"), &json("3")), "{body}");
    assert_eq!(s["queued_bytes"], 3 * ("s/t".len() + 5), "topic and payload bytes: {body}");
    assert_eq!(s["incoming_qos2"], 1, "PUBREL held back: {body}");
    assert!(!body.contains("inspect"), "the session's address is not serialised: {body}");

    // The counts follow the session: PUBREL ends the QoS 2 flow.
    slow.send(&Packet::PubRel(PubResponse::success(7))).await;
    assert!(matches!(slow.recv().await, Some(Packet::PubComp(_))));
    let (_, body) = http("GET", format!("{url}/api/v1/clients/slow"), t).await;
    assert_eq!(json(&body)["session"]["incoming_qos2"], 0, "{body}");

    // Disconnected: the router's kept state (the session expires in a minute), no session.
    drop(slow);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, body) = http("GET", format!("{url}/api/v1/clients/slow"), t).await;
    let c = json(&body);
    assert_eq!((&c["connected"], &c["counts_from"]), (&json("false"), &json("\"router\"")), "{body}");
    assert_eq!((&c["inflight_messages"], &c["queued_messages"]), (&json("2"), &json("3")), "{body}");
    assert!(c.get("session").is_none(), "{body}");
}
