//! `plugins/auth-jwt`: tokens verified on the host; claims become the client's ACL.

use aviary::protocol::{Protocol, QoS, ReasonCode};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

use crate::common::TestBroker;
use crate::support::*;

const SECRET: &str = "test-secret-of-reasonable-length";

fn broker() -> TestBroker {
    let extra = format!(
        "grants = [\"crypto\"]\n[plugin.config]\nsuperuser_claim = \"admin\"\n[plugin.config.jwt.default]\n\
         algorithms = [\"HS256\"]\nsecret = \"{SECRET}\"\nissuer = \"aviary-tests\"\n"
    );
    TestBroker::with_toml(&format!(
        "[auth]\nallow_anonymous = false\n{}",
        plugin_toml("jwt", "auth_jwt", &extra)
    ))
}

fn token(sub: &str, exp_offset: i64, secret: &str) -> String {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let claims = json!({
        "sub": sub, "iss": "aviary-tests", "exp": now + exp_offset,
        "acl": {"publish": [format!("devices/{sub}/#")], "subscribe": [format!("devices/{sub}/#")]},
    });
    encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn valid_token_in_with_its_acl() {
    let b = broker();
    let t = token("dev1", 300, SECRET);
    let (mut c, reason) = connect_as(&b, Protocol::V5, "d1", Some("dev1"), Some(t.as_bytes())).await;
    assert_eq!(reason, ReasonCode::Success);
    assert_eq!(
        subscribe(&mut c, &[("devices/dev1/#", QoS::AtLeastOnce)]).await,
        vec![ReasonCode::GrantedQoS1]
    );
    assert_eq!(
        subscribe(&mut c, &[("devices/dev2/#", QoS::AtLeastOnce)]).await,
        vec![ReasonCode::NotAuthorized]
    );
    assert_eq!(publish(&mut c, "devices/dev1/t", b"1", QoS::AtLeastOnce).await, Some(ReasonCode::Success));
    assert_eq!(next_publish(&mut c).await.payload, &b"1"[..]);
    assert_eq!(
        publish(&mut c, "devices/dev2/t", b"2", QoS::AtLeastOnce).await,
        Some(ReasonCode::NotAuthorized)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_tampered_and_mismatched_tokens_out() {
    let b = broker();
    let expired = token("dev1", -600, SECRET);
    let (_c, reason) = connect_as(&b, Protocol::V5, "d1", None, Some(expired.as_bytes())).await;
    assert_eq!(reason, ReasonCode::BadUserNameOrPassword, "expired");
    let forged = token("dev1", 300, "not-the-secret");
    // MQTT 3.1.1 needs a user name with a password [MQTT-3.1.2-22].
    let (_c, reason) = connect_as(&b, Protocol::V3_1_1, "d2", Some("dev1"), Some(forged.as_bytes())).await;
    assert_eq!(reason, ReasonCode::BadUserNameOrPassword, "wrong key");
    // Tampered: the claims changed after signing.
    let good = token("dev1", 300, SECRET);
    let mut parts: Vec<String> = good.split('.').map(String::from).collect();
    let other = token("admin", 300, "x");
    parts[1] = other.split('.').nth(1).unwrap().to_owned();
    let tampered = parts.join(".");
    let (_c, reason) = connect_as(&b, Protocol::V5, "d3", None, Some(tampered.as_bytes())).await;
    assert_eq!(reason, ReasonCode::BadUserNameOrPassword, "tampered");
    let (_c, reason) = connect_as(&b, Protocol::V5, "d4", Some("dev2"), Some(good.as_bytes())).await;
    assert_eq!(reason, ReasonCode::BadUserNameOrPassword, "user name not the token's");
}
