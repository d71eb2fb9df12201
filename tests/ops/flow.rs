//! Backpressure (`aviary::flow`): when a subscriber's session cannot keep up with what the
//! router hands it, the broker pauses reading instead of dropping acknowledged messages.

use std::time::Duration;

use aviary::metrics::Limit;
use aviary::protocol::{Packet, Protocol, QoS};

use crate::common::{within, TestBroker};
use crate::util::Wire;

const MESSAGES: u16 = 3000;

/// One thread (the router and both sessions share it, so the router routes a whole burst
/// before the subscriber's session runs) and a tiny queue limit: without the pause, the
/// router would drop most of the burst at the subscriber's mailbox limit (8, or 32 while
/// paused). The in-flight window is wide open, so a subscriber client that reads slowly (a
/// busy test machine) does not fill the session's own queue: that queue's limit is the
/// documented drop policy for slow consumers, not what this test is about.
#[tokio::test]
async fn a_burst_beyond_the_queue_limit_pauses_reads_and_loses_nothing() {
    let b = TestBroker::with_toml(
        "[workers]\nthreads = 1\n[mqtt]\nmax_queued_messages = 8\nmax_inflight_messages = 65535\n",
    );
    let (mut sub, _) = Wire::connect(b.addr, Protocol::V3_1_1, "flow-sub", true, 0).await.unwrap();
    assert_eq!(sub.subscribe("flow/t", QoS::AtLeastOnce).await.len(), 1);
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        while got.len() < usize::from(MESSAGES) {
            match sub.recv(Duration::from_secs(10)).await {
                Some(p @ Packet::Publish(_)) => {
                    if let Packet::Publish(ref m) = p {
                        got.push(u16::from_be_bytes([m.payload[0], m.payload[1]]));
                    }
                    sub.ack(&p).await;
                }
                Some(_) => {}
                None => break,
            }
        }
        got
    });
    let (mut publisher, _) = Wire::connect(b.addr, Protocol::V3_1_1, "flow-pub", true, 0).await.unwrap();
    // [MQTT-4.6.0-6]: one publisher, one topic, one QoS: the subscriber sees them in order.
    for n in 1..=MESSAGES {
        publisher.publish("flow/t", &n.to_be_bytes(), QoS::AtLeastOnce, Some(n), false).await.unwrap();
    }
    let got = within("every message delivered", reader).await.unwrap();
    assert_eq!(got, (1..=MESSAGES).collect::<Vec<_>>(), "all delivered, in order, none dropped");
    let m = b.handle.metrics();
    assert_eq!(m.limit_hits(Limit::QueuedMessages), 0, "no delivery hit the queue limit");
    assert!(m.read_pauses.get() > 0, "the burst paused reads at least once");
}
