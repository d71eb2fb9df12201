//! The outgoing QoS 1/2 state machine of one session, free of I/O and actors.
//!
//! Messages for the client either go out at once (a packet id is free and the in-flight window
//! allows it) or wait in a bounded queue. Acknowledgements free the window; the caller then
//! drains the queue with [`Outbound::next_ready`].

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::protocol::QoS;
use crate::router::messages::{Delivery, InflightRecord, StoredSession};

/// Where an in-flight message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// QoS 1 waiting for PUBACK, or QoS 2 waiting for PUBREC.
    Published,
    /// QoS 2: PUBREL sent, waiting for PUBCOMP.
    Released,
}

#[derive(Debug)]
struct Entry {
    delivery: Delivery,
    stage: Stage,
    /// Send order, to resend in the original order after a reconnect.
    seq: u64,
}

/// The result of an acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// The message is done; the window has room again.
    Completed,
    /// PUBREC accepted: send PUBREL.
    SendPubRel,
    /// The packet id is unknown (or in the wrong stage).
    Unknown,
}

/// Outgoing in-flight window plus queue.
#[derive(Debug)]
pub struct Outbound {
    inflight: FxHashMap<u16, Entry>,
    queue: VecDeque<Delivery>,
    queued_bytes: usize,
    next_id: u16,
    next_seq: u64,
    /// min(client's Receive Maximum, broker's max_inflight_messages).
    window: usize,
    max_queued: usize,
    max_queued_bytes: usize,
    dropped: u64,
    /// Drops not yet reported to the metrics.
    unreported: u64,
    /// Store keys of dropped deliveries, for the session to tell the store.
    dropped_seqs: Vec<u64>,
}

impl Outbound {
    /// An empty state machine. `max_queued`/`max_queued_bytes` of 0 mean unlimited.
    pub fn new(window: u16, max_queued: usize, max_queued_bytes: usize) -> Self {
        Outbound {
            inflight: FxHashMap::default(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            next_id: 0,
            next_seq: 0,
            window: usize::from(window.max(1)),
            max_queued,
            max_queued_bytes,
            dropped: 0,
            unreported: 0,
            dropped_seqs: Vec::new(),
        }
    }

    /// True when another message may be sent now.
    pub fn has_room(&self) -> bool {
        self.inflight.len() < self.window && self.queue.is_empty()
    }

    /// Messages in flight.
    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// Messages waiting.
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// Bytes (topic and payload) of the messages waiting.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Messages dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Takes a QoS 1/2 delivery: returns its packet id if it may be sent now, or queues it
    /// (`None`; dropped and counted when the queue is full).
    pub fn submit(&mut self, delivery: Delivery) -> Option<u16> {
        debug_assert!(delivery.qos != QoS::AtMostOnce);
        if self.has_room() {
            return Some(self.start(delivery));
        }
        self.enqueue(delivery);
        None
    }

    /// Queues a delivery without sending (while disconnected or closing); bounded.
    pub fn enqueue(&mut self, delivery: Delivery) {
        let size = delivery.message.size();
        let full = (self.max_queued != 0 && self.queue.len() >= self.max_queued)
            || (self.max_queued_bytes != 0 && self.queued_bytes + size > self.max_queued_bytes);
        if full {
            self.dropped += 1;
            self.unreported += 1;
            self.dropped_seqs.extend(delivery.store_seq);
            return;
        }
        self.queued_bytes += size;
        self.queue.push_back(delivery);
    }

    /// Next queued delivery that may go out now, with its packet id for QoS 1/2 (QoS 0
    /// messages are only queued for offline sessions and go out without one).
    pub fn next_ready(&mut self) -> Option<(Delivery, Option<u16>)> {
        if self.inflight.len() >= self.window {
            return None;
        }
        let delivery = self.queue.pop_front()?;
        self.queued_bytes = self.queued_bytes.saturating_sub(delivery.message.size());
        if delivery.qos == QoS::AtMostOnce {
            return Some((delivery, None));
        }
        let id = self.start(delivery.clone());
        Some((delivery, Some(id)))
    }

    fn start(&mut self, delivery: Delivery) -> u16 {
        let id = self.allocate_id();
        self.next_seq += 1;
        self.inflight.insert(id, Entry { delivery, stage: Stage::Published, seq: self.next_seq });
        id
    }

    /// A free packet id (the window is far below 65,535, so one always exists).
    fn allocate_id(&mut self) -> u16 {
        loop {
            self.next_id = self.next_id.wrapping_add(1);
            if self.next_id != 0 && !self.inflight.contains_key(&self.next_id) {
                return self.next_id;
            }
        }
    }

    /// The in-flight delivery with this packet id.
    pub fn get(&self, packet_id: u16) -> Option<&Delivery> {
        self.inflight.get(&packet_id).map(|e| &e.delivery)
    }

    /// Deliveries dropped since the last call, and the store keys of those that had one.
    pub fn take_dropped(&mut self) -> (u64, Vec<u64>) {
        (std::mem::take(&mut self.unreported), std::mem::take(&mut self.dropped_seqs))
    }

    /// Forgets an in-flight message that could not be sent (e.g. too large for the client).
    pub fn abandon(&mut self, packet_id: u16) {
        self.inflight.remove(&packet_id);
    }

    /// PUBACK received.
    pub fn puback(&mut self, packet_id: u16) -> AckOutcome {
        self.complete_if(packet_id, |e| e.delivery.qos == QoS::AtLeastOnce)
    }

    /// PUBREC received; `failed` when its reason code is an error (the flow ends there).
    pub fn pubrec(&mut self, packet_id: u16, failed: bool) -> AckOutcome {
        match self.inflight.get_mut(&packet_id) {
            Some(e) if e.delivery.qos == QoS::ExactlyOnce && e.stage == Stage::Published => {
                if failed {
                    self.inflight.remove(&packet_id);
                    return AckOutcome::Completed;
                }
                e.stage = Stage::Released;
                AckOutcome::SendPubRel
            }
            // A repeated PUBREC for a released message: answer PUBREL again.
            Some(e) if e.stage == Stage::Released => AckOutcome::SendPubRel,
            _ => AckOutcome::Unknown,
        }
    }

    /// PUBCOMP received.
    pub fn pubcomp(&mut self, packet_id: u16) -> AckOutcome {
        self.complete_if(packet_id, |e| e.stage == Stage::Released)
    }

    fn complete_if(&mut self, packet_id: u16, ok: impl Fn(&Entry) -> bool) -> AckOutcome {
        match self.inflight.get(&packet_id) {
            Some(e) if ok(e) => {
                self.inflight.remove(&packet_id);
                AckOutcome::Completed
            }
            _ => AckOutcome::Unknown,
        }
    }

    /// In-flight messages in send order, for resending after a reconnect.
    pub fn inflight_in_order(&self) -> Vec<(u16, &Delivery, Stage)> {
        let mut v: Vec<_> = self.inflight.iter().collect();
        v.sort_by_key(|(_, e)| e.seq);
        v.into_iter().map(|(id, e)| (*id, &e.delivery, e.stage)).collect()
    }

    /// Hands the state over for storage when the connection closes.
    pub fn into_stored(
        self,
        incoming_qos2: Vec<u16>,
        subscriptions: Vec<bytestring::ByteString>,
    ) -> StoredSession {
        let order = self.inflight_in_order().into_iter().map(|(id, _, _)| id).collect::<Vec<_>>();
        let mut inflight_map = self.inflight;
        let inflight = order
            .into_iter()
            .filter_map(|id| inflight_map.remove(&id).map(|e| (id, e)))
            .map(|(packet_id, e)| InflightRecord {
                packet_id,
                delivery: e.delivery,
                released: e.stage == Stage::Released,
            })
            .collect();
        StoredSession { inflight, queue: self.queue, incoming_qos2, subscriptions }
    }

    /// Restores a stored session: in-flight messages keep their packet ids.
    pub fn restore(&mut self, stored_inflight: Vec<InflightRecord>, queue: VecDeque<Delivery>) {
        for r in stored_inflight {
            self.next_seq += 1;
            let stage = if r.released { Stage::Released } else { Stage::Published };
            self.next_id = self.next_id.max(r.packet_id);
            self.inflight.insert(r.packet_id, Entry { delivery: r.delivery, stage, seq: self.next_seq });
        }
        for d in queue {
            self.enqueue(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use crate::message::Message;

    fn delivery(qos: QoS) -> Delivery {
        Delivery {
            message: Arc::new(Message {
                topic: "t".into(),
                payload: bytes::Bytes::from_static(b"x"),
                qos,
                retain: false,
                publisher: None,
                properties: Default::default(),
                received_at: Instant::now(),
            }),
            qos,
            retain: false,
            subscription_ids: Default::default(),
            store_seq: None,
            transformed: false,
        }
    }

    #[test]
    fn window_bounds_inflight_and_queue_drains_in_order() {
        let mut o = Outbound::new(2, 10, 0);
        assert_eq!(o.submit(delivery(QoS::AtLeastOnce)), Some(1));
        assert_eq!(o.submit(delivery(QoS::AtLeastOnce)), Some(2));
        assert_eq!(o.submit(delivery(QoS::AtLeastOnce)), None);
        assert_eq!(o.queued_len(), 1);
        assert_eq!(o.next_ready().map(|(_, id)| id), None);
        assert_eq!(o.puback(1), AckOutcome::Completed);
        assert_eq!(o.puback(1), AckOutcome::Unknown);
        assert_eq!(o.next_ready().map(|(_, id)| id), Some(Some(3)));
    }

    #[test]
    fn qos2_flow_and_wrong_acks() {
        let mut o = Outbound::new(10, 10, 0);
        let id = o.submit(delivery(QoS::ExactlyOnce)).unwrap();
        assert_eq!(o.puback(id), AckOutcome::Unknown, "PUBACK does not complete QoS 2");
        assert_eq!(o.pubcomp(id), AckOutcome::Unknown, "PUBCOMP before PUBREC");
        assert_eq!(o.pubrec(id, false), AckOutcome::SendPubRel);
        assert_eq!(o.pubrec(id, false), AckOutcome::SendPubRel);
        assert_eq!(o.pubcomp(id), AckOutcome::Completed);
        assert_eq!(o.inflight_len(), 0);
    }

    #[test]
    fn queue_limit_drops_and_counts() {
        let mut o = Outbound::new(1, 1, 0);
        o.submit(delivery(QoS::AtLeastOnce));
        o.submit(delivery(QoS::AtLeastOnce));
        o.submit(delivery(QoS::AtLeastOnce));
        assert_eq!(o.queued_len(), 1);
        assert_eq!(o.dropped(), 1);
    }

    #[test]
    fn packet_ids_skip_zero_and_ids_in_use() {
        let mut o = Outbound::new(100, 0, 0);
        o.next_id = u16::MAX - 1;
        assert_eq!(o.submit(delivery(QoS::AtLeastOnce)), Some(u16::MAX));
        assert_eq!(o.submit(delivery(QoS::AtLeastOnce)), Some(1));
    }

    #[test]
    fn store_and_restore_keeps_ids_and_order() {
        let mut o = Outbound::new(10, 10, 0);
        let a = o.submit(delivery(QoS::AtLeastOnce)).unwrap();
        let b = o.submit(delivery(QoS::ExactlyOnce)).unwrap();
        o.pubrec(b, false);
        let stored = o.into_stored(vec![7], vec![]);
        assert_eq!(stored.inflight.iter().map(|r| r.packet_id).collect::<Vec<_>>(), vec![a, b]);
        assert!(stored.inflight[1].released);
        let mut r = Outbound::new(10, 10, 0);
        r.restore(stored.inflight, stored.queue);
        let order: Vec<_> = r.inflight_in_order().into_iter().map(|(id, _, s)| (id, s)).collect();
        assert_eq!(order, vec![(a, Stage::Published), (b, Stage::Released)]);
        assert_eq!(r.submit(delivery(QoS::AtLeastOnce)), Some(b + 1));
    }
}
