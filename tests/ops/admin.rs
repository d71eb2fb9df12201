//! The admin API: bearer token, and every endpoint.

use std::time::Duration;

use aviary::protocol::{Packet, Protocol, QoS, ReasonCode};
use serde_json::Value;

use crate::broker_with_http;
use crate::common::V4;
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
