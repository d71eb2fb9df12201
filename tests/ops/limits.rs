//! Every configured limit is enforced, answered with the right reason code and counted.

use std::time::Duration;

use aviary::config::Config;
use aviary::metrics::{DropReason, Limit};
use aviary::protocol::{Packet, Protocol, QoS, ReasonCode};

use crate::common::TestBroker;
use crate::util::Wire;

async fn acks(w: &mut Wire, n: usize) -> Vec<ReasonCode> {
    let mut out = Vec::new();
    while out.len() < n {
        match w.recv(Duration::from_secs(5)).await {
            Some(Packet::PubAck(r)) | Some(Packet::PubRec(r)) => out.push(r.reason),
            Some(_) => {}
            None => panic!("connection ended after {} acks", out.len()),
        }
    }
    out
}

#[tokio::test]
async fn max_connections_counts_every_listener() {
    let mut config = Config::from_toml_str("[limits]\nmax_connections = 2\n", "t").unwrap();
    config.listeners[0].bind = "127.0.0.1:0".parse().unwrap();
    let mut second = config.listeners[0].clone();
    second.name = "second".into();
    config.listeners.push(second);
    let b = TestBroker::with_config(config);
    let a2 = b.handle.addrs()[1].1;
    let (_c1, _) = Wire::connect(b.addr, Protocol::V5, "l1", true, 0).await.unwrap();
    let (_c2, _) = Wire::connect(a2, Protocol::V5, "l2", true, 0).await.unwrap();
    assert!(Wire::connect(a2, Protocol::V5, "l3", true, 0).await.is_none(), "third connection refused");
    assert_eq!(b.handle.metrics().limit_hits(Limit::Connections), 1);
    drop(_c1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(Wire::connect(b.addr, Protocol::V5, "l4", true, 0).await.is_some(), "a slot freed up");
}

#[tokio::test]
async fn publish_rate_disconnects_mqtt5_with_0x96_and_drops_qos0() {
    let b = TestBroker::with_toml("[limits]\nmax_publish_rate_per_sec = 5\n");
    let (mut w, _) = Wire::connect(b.addr, Protocol::V5, "rate", true, 0).await.unwrap();
    for _ in 0..8 {
        w.publish("r", b"x", QoS::AtMostOnce, None, false).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(b.handle.metrics().limit_hits(Limit::PublishRate), 3, "QoS 0 beyond the burst dropped");
    assert_eq!(b.handle.metrics().dropped_count(DropReason::RateLimited), 3);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for id in 1..=8u16 {
        let _ = w.publish("r", b"x", QoS::AtLeastOnce, Some(id), false).await;
    }
    let mut acked = 0;
    let mut reason = None;
    while let Some(p) = w.recv(Duration::from_secs(5)).await {
        match p {
            Packet::PubAck(r) => {
                assert_eq!(r.reason, ReasonCode::Success);
                acked += 1;
            }
            Packet::Disconnect(d) => reason = Some(d.reason),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(acked, 5, "a burst of one second's worth passes");
    assert_eq!(reason, Some(ReasonCode::MessageRateTooHigh));
    assert_eq!(b.handle.metrics().limit_hits(Limit::PublishRate), 4);
}

#[tokio::test]
async fn publish_bandwidth_answers_0x97_to_mqtt5() {
    let b = TestBroker::with_toml("[limits]\nmax_publish_bytes_per_sec = 1000\n");
    let (mut w, _) = Wire::connect(b.addr, Protocol::V5, "bw", true, 0).await.unwrap();
    for id in 1..=6u16 {
        w.publish("r", &[0u8; 300], QoS::ExactlyOnce, Some(id), false).await.unwrap();
    }
    let got = acks(&mut w, 6).await;
    assert_eq!(got[..3], [ReasonCode::Success; 3], "{got:?}");
    assert!(got[3..].contains(&ReasonCode::QuotaExceeded), "{got:?}");
    assert!(b.handle.metrics().limit_hits(Limit::PublishBandwidth) >= 1);
}

#[tokio::test]
async fn publish_rate_disconnects_mqtt3_clients_sending_qos1() {
    let b = TestBroker::with_toml("[limits]\nmax_publish_rate_per_sec = 2\n");
    let (mut w, _) = Wire::connect(b.addr, Protocol::V3_1_1, "rate3", true, 0).await.unwrap();
    for id in 1..=5u16 {
        let _ = w.publish("r", b"x", QoS::AtLeastOnce, Some(id), false).await;
    }
    let mut acked = 0;
    while let Some(p) = w.recv(Duration::from_secs(5)).await {
        assert!(matches!(p, Packet::PubAck(_)), "{p:?}");
        acked += 1;
    }
    assert_eq!(acked, 2, "the burst is acknowledged, then the connection closes");
}

#[tokio::test]
async fn max_subscriptions_answers_0x97_in_suback() {
    let b = TestBroker::with_toml("[mqtt]\nmax_subscriptions_per_client = 1\n");
    let (mut w, _) = Wire::connect(b.addr, Protocol::V5, "subs", true, 0).await.unwrap();
    assert_eq!(w.subscribe("a", QoS::AtMostOnce).await, vec![ReasonCode::Success]);
    assert_eq!(w.subscribe("b", QoS::AtMostOnce).await, vec![ReasonCode::QuotaExceeded]);
    assert_eq!(b.handle.metrics().limit_hits(Limit::Subscriptions), 1);
}

#[tokio::test]
async fn max_retained_refuses_new_topics_with_0x97() {
    let b = TestBroker::with_toml("[limits]\nmax_retained_messages = 1\n");
    let (mut w, _) = Wire::connect(b.addr, Protocol::V5, "ret", true, 0).await.unwrap();
    w.publish("keep/1", b"a", QoS::AtLeastOnce, Some(1), true).await.unwrap();
    w.publish("keep/2", b"b", QoS::AtLeastOnce, Some(2), true).await.unwrap();
    w.publish("keep/1", b"c", QoS::AtLeastOnce, Some(3), true).await.unwrap();
    let got = acks(&mut w, 3).await;
    assert_eq!(got, vec![ReasonCode::Success, ReasonCode::QuotaExceeded, ReasonCode::Success]);
    assert_eq!(b.handle.stats().await.unwrap().retained, 1);
    assert_eq!(b.handle.metrics().limit_hits(Limit::RetainedMessages), 1);
}

#[tokio::test]
async fn max_queued_messages_drops_and_counts() {
    let b = TestBroker::with_toml("[mqtt]\nmax_queued_messages = 2\n");
    let (mut s, _) = Wire::connect(b.addr, Protocol::V5, "q-sub", true, 600).await.unwrap();
    s.subscribe("q", QoS::AtLeastOnce).await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (mut p, _) = Wire::connect(b.addr, Protocol::V5, "q-pub", true, 0).await.unwrap();
    for id in 1..=5u16 {
        p.publish("q", b"m", QoS::AtLeastOnce, Some(id), false).await.unwrap();
    }
    acks(&mut p, 5).await;
    let stats = b.handle.stats().await.unwrap();
    assert_eq!(stats.queued_messages, 2);
    assert_eq!(stats.dropped_queue_full, 3);
    assert_eq!(b.handle.metrics().limit_hits(Limit::QueuedMessages), 3);
}

#[tokio::test]
async fn receive_maximum_exceeded_disconnects_with_0x93_and_counts() {
    let b = TestBroker::with_toml("[mqtt]\nreceive_maximum = 1\n");
    let (mut w, _) = Wire::connect(b.addr, Protocol::V5, "rm", true, 0).await.unwrap();
    w.publish("t", b"1", QoS::ExactlyOnce, Some(1), false).await.unwrap();
    w.publish("t", b"2", QoS::ExactlyOnce, Some(2), false).await.unwrap();
    let mut reason = None;
    while let Some(p) = w.recv(Duration::from_secs(5)).await {
        if let Packet::Disconnect(d) = p {
            reason = Some(d.reason);
        }
    }
    assert_eq!(reason, Some(ReasonCode::ReceiveMaximumExceeded));
    assert_eq!(b.handle.metrics().limit_hits(Limit::ReceiveMaximum), 1);
}
