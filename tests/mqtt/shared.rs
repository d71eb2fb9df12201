//! Shared subscriptions: `$share/{group}/{filter}`, each message to one member of a group.

use std::time::Duration;

use rumqttc::QoS as Q;

use crate::common::*;

#[tokio::test]
async fn each_message_goes_to_one_member_of_the_group() {
    // MQTT 5.0 section 4.8.2: a message matching a shared subscription goes to one session.
    let b = TestBroker::start();
    let mut a = V4::connect(&b, "a").await;
    let mut c = V4::connect(&b, "c").await;
    a.subscribe("$share/g/jobs/#", Q::AtLeastOnce).await;
    c.subscribe("$share/g/jobs/#", Q::AtLeastOnce).await;
    let mut plain = V4::connect(&b, "plain").await;
    plain.subscribe("jobs/#", Q::AtLeastOnce).await;
    let p = V4::connect(&b, "p").await;
    for i in 0..10u8 {
        p.client.publish("jobs/x", Q::AtLeastOnce, false, vec![i]).await.unwrap();
    }
    for _ in 0..10 {
        plain.next_publish().await;
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(a.next_publish().await.payload[0]);
        got.push(c.next_publish().await.payload[0]);
    }
    got.sort();
    assert_eq!(got, (0..10).collect::<Vec<u8>>());
    a.no_publish_for(Duration::from_millis(200)).await;
    c.no_publish_for(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn invalid_share_name_is_refused_in_suback() {
    // [MQTT-4.8.2-1]: a share name must not contain wildcards.
    let b = TestBroker::start();
    let mut a = V4::connect(&b, "a").await;
    let ack = a.subscribe("$share/g+/t", Q::AtLeastOnce).await;
    assert_eq!(ack.return_codes, vec![rumqttc::SubscribeReasonCode::Failure]);
}
