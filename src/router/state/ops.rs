//! The router's operations hooks: metrics, `$SYS`, the retained limit, and what it tells the
//! store. Kept apart from the routing logic in `state.rs`, which calls these at a few points.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Recipient;
use bytestring::ByteString;

use super::super::messages::{Delivery, PublishAcked, PublishDone, ToSession};
use super::super::sys::SysTopics;
use super::RouterState;
use crate::message::Message;
use crate::metrics::{DropReason, Limit, Metrics};
use crate::persistence::records::{EntryRecord, MessageRecord, SubRecord, WillRecord};
use crate::persistence::{Op, StoreHandle, Targets, Waiter};
use crate::protocol::{QoS, ReasonCode};

/// What the broker gives the router beyond the MQTT configuration.
pub struct RouterOps {
    /// The pause flag the router sets while a session's mailbox is congested.
    pub backpressure: Arc<crate::flow::Backpressure>,
    /// Shared metrics.
    pub metrics: Arc<Metrics>,
    /// `$SYS` interval; zero disables `$SYS`.
    pub sys_interval: Duration,
    /// `limits.max_retained_messages` (0: unlimited).
    pub max_retained: usize,
    /// The store, when persistence is on.
    pub store: Option<StoreHandle>,
    /// State read back from the store.
    pub recovered: Option<crate::persistence::Recovered>,
}

impl Default for RouterOps {
    fn default() -> Self {
        RouterOps {
            backpressure: Default::default(),
            metrics: Arc::new(Metrics::default()),
            sys_interval: Duration::ZERO,
            max_retained: 0,
            store: None,
            recovered: None,
        }
    }
}

/// The router's operations state.
pub(super) struct OpsState {
    pub(super) metrics: Arc<Metrics>,
    max_retained: usize,
    pub(super) store: Option<StoreHandle>,
    sys: SysTopics,
    pub(super) next_msg_id: u64,
    pub(super) next_seq: u64,
    /// `$SYS` topics in the retained store (not counted against the limit).
    pub(super) sys_retained: usize,
    /// The message being routed has this id once a persistent target needed it.
    msg_id: Option<u64>,
    targets: Targets,
    incoming: Option<(ByteString, u16)>,
    done: Option<Waiter>,
}

impl OpsState {
    pub(super) fn new(ops: &RouterOps) -> Self {
        OpsState {
            metrics: ops.metrics.clone(),
            max_retained: ops.max_retained,
            store: ops.store.clone(),
            sys: SysTopics::default(),
            next_msg_id: 1,
            next_seq: 1,
            sys_retained: 0,
            msg_id: None,
            targets: Targets::new(),
            incoming: None,
            done: None,
        }
    }

    /// Marks a delivery to a session (`persistent`: one that outlives its connection) for
    /// the store (QoS 1/2 only).
    pub(super) fn store_delivery(
        &mut self,
        client_id: &ByteString,
        persistent: bool,
        delivery: &mut Delivery,
    ) {
        if self.store.is_none()
            || !persistent
            || delivery.qos == QoS::AtMostOnce
            || is_sys(&delivery.message.topic)
        {
            return;
        }
        let msg_id = *self.msg_id.get_or_insert_with(|| {
            self.next_msg_id += 1;
            self.next_msg_id - 1
        });
        let seq = self.next_seq;
        self.next_seq += 1;
        delivery.store_seq = Some(seq);
        self.targets.push((
            client_id.clone(),
            seq,
            EntryRecord {
                msg_id,
                qos: delivery.qos as u8,
                retain: delivery.retain,
                subscription_ids: delivery.subscription_ids.to_vec(),
                packet_id: None,
                released: false,
            },
        ));
    }

    pub(super) fn send(&self, op: impl FnOnce() -> Op) {
        if let Some(store) = &self.store {
            store.send(op());
        }
    }
}

fn is_sys(topic: &str) -> bool {
    topic.starts_with("$SYS/")
}

impl RouterState {
    /// A publish whose acknowledgement waits for the router (retained limit) or the store.
    pub fn publish_acked(&mut self, msg: PublishAcked) {
        let PublishAcked { message, incoming_qos2, seq, reply } = msg;
        let answer = |reply: &Recipient<ToSession>, reason| {
            reply.do_send(ToSession::PublishDone(PublishDone { seqs: smallvec::smallvec![seq], reason }));
        };
        let refuse = |reply: Arc<Recipient<ToSession>>| {
            answer(&reply, ReasonCode::QuotaExceeded);
        };
        if message.retain && !message.payload.is_empty() && self.retained_full(&message.topic) {
            self.ops.metrics.limit_hit(Limit::RetainedMessages);
            self.ops.metrics.dropped(DropReason::RetainedFull);
            return refuse(reply);
        }
        let durable = match &self.ops.store {
            Some(s) if !s.healthy() => return refuse(reply),
            Some(s) => s.durable(),
            None => false,
        };
        // A persistent publisher's QoS 2 packet id is stored with the message (looked up only
        // for QoS 2).
        if let (Some(id), Some(p)) = (incoming_qos2, &message.publisher) {
            if self.clients.get(p).is_some_and(|e| e.persistent()) {
                self.ops.incoming = Some((p.clone(), id));
            }
        }
        if durable {
            self.ops.done = Some(Waiter::Ack(reply.clone(), seq));
        }
        self.publish(message);
        if !durable {
            answer(&reply, ReasonCode::Success);
        }
    }

    /// True when a retained message for `topic` would exceed `max_retained_messages`.
    pub(super) fn retained_full(&self, topic: &str) -> bool {
        let limit = self.ops.max_retained;
        limit != 0
            && !is_sys(topic)
            && self.retained.len() - self.ops.sys_retained >= limit
            && self.retained.get(topic).is_none()
    }

    /// Sets or clears a retained message, within the limit; tells the store.
    pub(super) fn retain(&mut self, message: &Arc<Message>) {
        let topic = &message.topic;
        if message.payload.is_empty() {
            if self.retained.remove(topic).is_some() {
                if is_sys(topic) {
                    self.ops.sys_retained -= 1;
                } else {
                    self.ops.send(|| Op::Retain { topic: topic.to_string(), message: None });
                }
            }
            return;
        }
        if self.retained_full(topic) {
            self.ops.metrics.limit_hit(Limit::RetainedMessages);
            self.ops.metrics.dropped(DropReason::RetainedFull);
            return;
        }
        let replaced = self.retained.insert(topic, message.clone()).is_some();
        if is_sys(topic) {
            self.ops.sys_retained += usize::from(!replaced);
        } else {
            self.ops.send(|| Op::Retain { topic: topic.to_string(), message: Some(message.clone()) });
        }
    }

    /// Ends a publish: the store learns which persistent sessions got the message; then the
    /// gathered deliveries may go out (at the end of the turn, or now if many are gathered).
    /// Every caller of `deliver` runs it after.
    pub(super) fn finish_publish(&mut self, message: &Arc<Message>) {
        let ops = &mut self.ops;
        let msg_id = ops.msg_id.take();
        let targets = std::mem::take(&mut ops.targets);
        let incoming = ops.incoming.take().filter(|_| !targets.is_empty());
        let done = ops.done.take();
        if let Some(store) = &ops.store {
            if !targets.is_empty() || done.is_some() {
                let op =
                    Op::Routed { msg_id: msg_id.unwrap_or(0), message: message.clone(), targets, incoming };
                match done {
                    Some(waiter) => store.send_waiting(op, waiter),
                    None => store.send(op),
                }
            }
        }
        if self.batched_count >= super::FLUSH_AT {
            self.flush_deliveries();
        }
    }

    /// A persistent session connected (or a session that was persistent ended).
    pub(super) fn store_session_up(&mut self, client_id: &ByteString, resumed_persistent: bool) {
        let Some(entry) = self.clients.get(client_id) else { return };
        let expiry_secs = entry.info.session_expiry_secs;
        let client = client_id.to_string();
        // Any will left from the previous connection was published or cancelled by now.
        self.ops.send(|| Op::Will { client: client.clone(), will: None });
        if expiry_secs > 0 {
            self.ops.send(|| Op::SessionUp { client, expiry_secs });
        } else if resumed_persistent {
            self.ops.send(|| Op::SessionEnd { client });
        }
    }

    /// A will was published or became moot.
    pub(super) fn store_will_gone(&self, client_id: &ByteString) {
        self.ops.send(|| Op::Will { client: client_id.to_string(), will: None });
    }

    /// A delayed will waits in the router.
    pub(super) fn store_will(&self, client_id: &ByteString, will: &super::super::messages::PendingWill) {
        self.ops.send(|| Op::Will {
            client: client_id.to_string(),
            will: Some(Box::new(WillRecord {
                message: MessageRecord::from_message(&will.message),
                delay_secs: will.delay_secs,
            })),
        });
    }

    /// A subscription of a persistent session changed.
    pub(super) fn store_subscription(&self, client_id: &ByteString, filter: &ByteString) {
        let Some(entry) = self.clients.get(client_id).filter(|e| e.persistent()) else { return };
        let client = client_id.to_string();
        match entry.subscriptions.get(filter) {
            Some((group, topic_filter, sub)) => self.ops.send(|| Op::Subscribe {
                client,
                filter: filter.to_string(),
                record: SubRecord::new(group.as_deref(), topic_filter, sub),
            }),
            None => self.ops.send(|| Op::Unsubscribe { client, filter: filter.to_string() }),
        }
    }

    /// Publishes the `$SYS` topics that changed.
    pub fn sys_tick(&mut self) {
        let stats = self.stats();
        let values = self.ops.sys.tick(Instant::now(), &self.ops.metrics, &stats);
        for (topic, value) in values {
            self.publish(Arc::new(Message {
                topic: topic.into(),
                payload: value.into_bytes().into(),
                qos: QoS::AtMostOnce,
                retain: true,
                publisher: None,
                properties: Default::default(),
                received_at: Instant::now(),
            }));
        }
    }
}
