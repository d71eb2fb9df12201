//! The session's operations side: the broker-wide connection limit, publish rate and
//! bandwidth limits, acknowledgements that wait for the router or the store (kept in order),
//! and what the session tells the store about its in-flight messages.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use super::Session;
use crate::config::LimitsConfig;
use crate::metrics::{DropReason, Limit, Metrics};
use crate::persistence::{Op, StoreHandle};
use crate::protocol::{Packet, PubResponse, QoS, ReasonCode};
use crate::router::admin::SessionCounts;
use crate::router::messages::{Delivery, PublishDone};

/// What every session of a broker shares for operations.
#[derive(Default)]
pub struct SharedOps {
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The store, when persistence is on.
    pub store: Option<StoreHandle>,
    /// Connections open now (over every listener).
    pub open_connections: Arc<AtomicUsize>,
    /// Set by the router while a session's mailbox is congested: reads pause.
    pub backpressure: Arc<crate::flow::Backpressure>,
}

/// Holds one slot of `limits.max_connections` until dropped.
pub struct ConnectionSlot(Arc<AtomicUsize>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl SharedOps {
    /// Takes a connection slot, or `None` when `max` (0: unlimited) are open.
    pub fn connection_slot(&self, max: usize) -> Option<ConnectionSlot> {
        let n = self.open_connections.fetch_add(1, Ordering::Relaxed);
        let slot = ConnectionSlot(self.open_connections.clone());
        if max != 0 && n >= max {
            self.metrics.limit_hit(Limit::Connections);
            return None;
        }
        Some(slot)
    }
}

/// A token bucket: `rate` tokens per second, holding at most one second's worth.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket; `None` for a rate of 0 (unlimited).
    pub fn new(rate: u64) -> Option<Self> {
        (rate > 0).then(|| TokenBucket { rate: rate as f64, tokens: rate as f64, last: Instant::now() })
    }

    /// Takes `n` tokens if there are enough.
    pub fn take(&mut self, n: f64, now: Instant) -> bool {
        let secs = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + secs * self.rate).min(self.rate);
        if self.tokens >= n {
            self.tokens -= n;
            return true;
        }
        false
    }
}

#[derive(Debug)]
struct PendingAck {
    seq: u64,
    packet_id: u16,
    qos: QoS,
    reason: Option<ReasonCode>,
}

/// Per-session operations state.
#[derive(Default)]
pub struct SessionOps {
    /// PUBACK/PUBREC in the order the PUBLISHes came [MQTT-4.6.0-2], [MQTT-4.6.0-3]; some
    /// wait for the router or the store.
    acks: VecDeque<PendingAck>,
    next_seq: u64,
    /// Boxed: most deployments set no per-client limits.
    rate: Option<Box<TokenBucket>>,
    bandwidth: Option<Box<TokenBucket>>,
    _slot: Option<ConnectionSlot>,
}

impl SessionOps {
    /// Limits from the configuration.
    pub fn new(limits: &LimitsConfig, slot: Option<ConnectionSlot>) -> Self {
        SessionOps {
            rate: TokenBucket::new(u64::from(limits.max_publish_rate_per_sec)).map(Box::new),
            bandwidth: TokenBucket::new(limits.max_publish_bytes_per_sec).map(Box::new),
            _slot: slot,
            ..Default::default()
        }
    }
}

/// The store answered a write the session waits for. Sent by the writer thread.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub(super) enum StoreReady {
    /// The QoS 2 packet id is on disk: the PUBLISH may go.
    Publish(u16),
    /// PUBREC is on disk: PUBREL may go.
    PubRel(u16),
}

impl Session {
    pub(super) fn metrics(&self) -> &Metrics {
        &self.shared.ops.metrics
    }

    fn store(&self) -> Option<&StoreHandle> {
        self.shared.ops.store.as_ref()
    }

    /// Applies the publish rate and bandwidth limits: the reason code when exceeded.
    pub(super) fn over_rate(&mut self, payload_len: usize) -> Option<ReasonCode> {
        if self.ops.rate.is_none() && self.ops.bandwidth.is_none() {
            return None;
        }
        // The packet's receive time (no clock read per packet).
        let now = super::codec::received_at();
        if let Some(b) = &mut self.ops.rate {
            if !b.take(1.0, now) {
                self.metrics().limit_hit(Limit::PublishRate);
                return Some(ReasonCode::MessageRateTooHigh);
            }
        }
        if let Some(b) = &mut self.ops.bandwidth {
            if !b.take(payload_len as f64, now) {
                self.metrics().limit_hit(Limit::PublishBandwidth);
                return Some(ReasonCode::QuotaExceeded);
            }
        }
        None
    }

    /// Whether QoS 1/2 acknowledgements wait for the router (store on, or retained limit).
    pub(super) fn acks_wait(&self, retain: bool) -> bool {
        self.store().is_some() || (retain && self.shared.config.limits.max_retained_messages > 0)
    }

    /// Queues an acknowledgement that waits for [`PublishDone`]; returns its sequence number.
    pub(super) fn ack_later(&mut self, packet_id: u16, qos: QoS) -> u64 {
        self.ops.next_seq += 1;
        let seq = self.ops.next_seq;
        self.ops.acks.push_back(PendingAck { seq, packet_id, qos, reason: None });
        seq
    }

    /// Decides the acknowledgement `seq` reserved by [`Session::ack_later`] (sent by the next
    /// [`Session::flush_acks`] once those before it are decided too).
    pub(super) fn settle_ack(&mut self, seq: u64, reason: ReasonCode) {
        // The queue is in increasing `seq` order (only ever pushed at the back with the next
        // number): a store commit settles dozens at once, so no linear search.
        if let Ok(i) = self.ops.acks.binary_search_by_key(&seq, |a| a.seq) {
            self.ops.acks[i].reason = Some(reason);
        }
    }

    /// True while the acknowledgement of `packet_id` waits.
    pub(super) fn ack_pending(&self, packet_id: u16) -> bool {
        self.ops.acks.iter().any(|a| a.packet_id == packet_id && a.reason.is_none())
    }

    /// Acknowledges now, or after the acknowledgements still waiting before it.
    pub(super) fn ack_now(&mut self, packet_id: u16, qos: QoS, reason: ReasonCode, ctx: &mut Context<Self>) {
        self.ops.next_seq += 1;
        let seq = self.ops.next_seq;
        self.ops.acks.push_back(PendingAck { seq, packet_id, qos, reason: Some(reason) });
        self.flush_acks(ctx);
    }

    /// [`Session::flush_acks`] once the tasks woken so far have run: for a publish that came
    /// alone (a client publishing at a low rate), the router and then the subscribers'
    /// sessions, so the subscribers are written to before the publisher gets its PUBACK, as
    /// Mosquitto does. (Written first, the acknowledgement's send and the publisher's wake-up
    /// delay the delivery: on a 2-core machine the p99 publish-to-delivery time of QoS 1.)
    /// In a burst, the next publish's flush sends it.
    pub(super) fn flush_acks_after_routing(&mut self, ctx: &mut Context<Self>) {
        ctx.spawn(
            async { tokio::task::yield_now().await }.into_actor(self).map(|(), act, ctx| act.flush_acks(ctx)),
        );
    }

    /// Sends the acknowledgements at the head of the queue that are decided.
    pub(super) fn flush_acks(&mut self, ctx: &mut Context<Self>) {
        if let Some(reason) = self.send_decided_acks() {
            // MQTT 3.x cannot say no in an acknowledgement: close instead.
            self.violation(ctx, reason, "publish refused");
        }
    }

    /// Sends the decided acknowledgements at the head of the queue; stops at a refusal an
    /// MQTT 3.x client cannot be told, and returns its reason (the connection must close).
    pub(super) fn send_decided_acks(&mut self) -> Option<ReasonCode> {
        while self.ops.acks.front().is_some_and(|a| a.reason.is_some()) {
            let Some(PendingAck { packet_id, qos, reason: Some(reason), .. }) = self.ops.acks.pop_front()
            else {
                break;
            };
            if reason.is_error() {
                if qos == QoS::ExactlyOnce {
                    // An error PUBREC ends the flow: the id is free again.
                    self.incoming_qos2.remove(&packet_id);
                }
                if !self.protocol.is_v5() {
                    return Some(reason);
                }
            }
            let r = PubResponse { reason, ..PubResponse::success(packet_id) };
            self.send(&match qos {
                QoS::ExactlyOnce => Packet::PubRec(r),
                _ => Packet::PubAck(r),
            });
        }
        None
    }

    /// Sends a delivery that just got packet id `id`: a QoS 2 message of a persistent session
    /// waits, in durable mode, until its packet id is on disk.
    pub(super) fn send_new(&mut self, delivery: &Delivery, id: u16, ctx: &mut Context<Self>) {
        // Only a stored QoS 2 delivery records its packet id (checked before the store
        // handle is cloned: three reference counts per delivery).
        let seq = match delivery.store_seq {
            Some(seq) if delivery.qos == QoS::ExactlyOnce => seq,
            _ => return self.write_publish(delivery, Some(id), false),
        };
        let Some(store) = self.store().cloned() else {
            return self.write_publish(delivery, Some(id), false);
        };
        let op = Op::Assign { seq, packet_id: id };
        if store.durable() {
            let addr = ctx.address();
            store.send_then(op, Box::new(move |_| addr.do_send(StoreReady::Publish(id))));
        } else {
            store.send(op);
            self.write_publish(delivery, Some(id), false);
        }
    }

    /// PUBREC accepted: PUBREL goes once the release is on disk (durable mode).
    pub(super) fn send_pubrel(&mut self, id: u16, ctx: &mut Context<Self>) {
        let seq = self.outbound.get(id).and_then(|d| d.store_seq);
        match (self.store().cloned(), seq) {
            (Some(store), Some(seq)) => {
                let op = Op::Release { seq };
                if store.durable() {
                    let addr = ctx.address();
                    store.send_then(op, Box::new(move |_| addr.do_send(StoreReady::PubRel(id))));
                } else {
                    store.send(op);
                    self.send(&Packet::PubRel(PubResponse::success(id)));
                }
            }
            _ => self.send(&Packet::PubRel(PubResponse::success(id))),
        }
    }

    /// A stored delivery is finished (acknowledged, expired, dropped).
    pub(super) fn store_complete(&self, store_seq: Option<u64>) {
        if let (Some(store), Some(seq)) = (self.store(), store_seq) {
            store.send(Op::Complete { seq });
        }
    }

    /// PUBREL arrived for an incoming QoS 2 message.
    pub(super) fn store_incoming_done(&self, packet_id: u16) {
        if let Some(store) = self.store() {
            if self.session_expiry > 0 {
                store.send(Op::IncomingDone { client: self.client_id.clone(), packet_id });
            }
        }
    }

    /// Tells the store about deliveries the outbound queue dropped.
    pub(super) fn note_dropped(&mut self) {
        let (count, seqs) = self.outbound.take_dropped();
        if count > 0 {
            // Counted whether or not the message was in the store.
            self.metrics().dropped_n(DropReason::QueueFull, count);
        }
        for seq in seqs {
            self.store_complete(Some(seq));
        }
    }

    /// Registers (`Some`) or clears the will in the store, so it survives a crash.
    pub(super) fn store_will(&self, put: bool) {
        let (Some(store), Some(will)) = (self.store(), &self.will) else { return };
        let client = self.client_id.to_string();
        let will = put.then(|| {
            Box::new(crate::persistence::records::WillRecord {
                message: crate::persistence::records::MessageRecord::from_message(&will.message),
                delay_secs: will.delay_secs,
            })
        });
        store.send(Op::Will { client, will });
    }
}

impl Session {
    /// The router's or the store's answer to publishes waiting for it.
    pub(super) fn on_publish_done(&mut self, msg: PublishDone, ctx: &mut Context<Self>) {
        for seq in msg.seqs {
            self.settle_ack(seq, msg.reason);
        }
        if matches!(self.phase, super::Phase::Connected) {
            self.flush_acks(ctx);
        }
    }
}

impl Handler<StoreReady> for Session {
    type Result = ();
    fn handle(&mut self, msg: StoreReady, _: &mut Context<Self>) {
        if !matches!(self.phase, super::Phase::Connected) {
            // Closing: the message stays in flight and is resent on resumption.
            return;
        }
        match msg {
            StoreReady::Publish(id) => {
                if let Some(d) = self.outbound.get(id).cloned() {
                    self.write_publish(&d, Some(id), false);
                }
            }
            StoreReady::PubRel(id) => self.send(&Packet::PubRel(PubResponse::success(id))),
        }
    }
}

impl Session {
    /// What the session holds now (the admin API's question).
    pub(super) fn counts(&self) -> SessionCounts {
        SessionCounts {
            inflight_messages: self.outbound.inflight_len(),
            queued_messages: self.outbound.queued_len(),
            queued_bytes: self.outbound.queued_bytes(),
            incoming_qos2: self.incoming_qos2.len(),
            pending_acks: self.ops.acks.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn bucket_allows_one_second_then_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10).unwrap();
        assert!((0..10).all(|_| b.take(1.0, t0)));
        assert!(!b.take(1.0, t0));
        assert!(b.take(1.0, t0 + Duration::from_millis(150)));
        assert!(TokenBucket::new(0).is_none());
    }
}
