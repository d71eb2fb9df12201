//! Startup: turns the rows read from the store into the state the router starts from, and
//! into the writer's model. Rows that refer to nothing (an entry whose message is gone, a
//! subscription without its session) are scheduled for deletion; expired messages are
//! dropped. A row that cannot be decoded stops startup: the store is never half-loaded.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::model::{Key, Model};
use super::records::{decode, EntryRecord, MessageRecord, SessionRecord, SubRecord, WillRecord};
use super::store::Rows;
use super::StoreError;
use crate::message::Message;
use crate::protocol::QoS;
use crate::router::messages::{Delivery, InflightRecord, PendingWill};
use crate::router::state::SubEntry;

/// One persistent session read back.
#[derive(Debug)]
pub struct RecoveredSession {
    /// Client id.
    pub client: String,
    /// Session Expiry Interval.
    pub expiry_secs: u32,
    /// When the client disconnected (`None`: it was connected when the broker stopped).
    pub disconnected_unix_ms: Option<u64>,
    /// (filter as written, share group, topic filter, options).
    pub subscriptions: Vec<(String, Option<String>, String, SubEntry)>,
    /// Messages sent but not acknowledged, in send order, with their packet ids.
    pub inflight: Vec<InflightRecord>,
    /// Messages waiting, oldest first.
    pub queue: VecDeque<Delivery>,
    /// Incoming QoS 2 packet ids whose PUBREL has not arrived.
    pub incoming_qos2: Vec<u16>,
}

/// Everything read back from the store.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Persistent sessions.
    pub sessions: Vec<RecoveredSession>,
    /// Retained messages (expired ones left out).
    pub retained: Vec<Arc<Message>>,
    /// Wills not yet published: (client id, will).
    pub wills: Vec<(String, PendingWill)>,
    /// First free message id.
    pub next_msg_id: u64,
    /// First free queue sequence number.
    pub next_seq: u64,
}

/// Builds the router's starting state and the writer's model from the rows.
pub fn recover(rows: Rows) -> Result<(Recovered, Model), StoreError> {
    let mut model = Model::default();
    let now = Instant::now();
    let mut out = Recovered { next_msg_id: 1, next_seq: 1, ..Default::default() };
    let mut messages: FxHashMap<u64, Arc<Message>> = FxHashMap::default();
    for (id, bytes) in rows.messages {
        out.next_msg_id = out.next_msg_id.max(id + 1);
        let m = decode::<MessageRecord>(&bytes, "message")?.into_message();
        if m.is_expired(now) {
            model.pending.insert(Key::Message(id), None);
        } else {
            messages.insert(id, m);
        }
    }
    let mut sessions: BTreeMap<String, RecoveredSession> = BTreeMap::new();
    for (client, bytes) in rows.sessions {
        let rec: SessionRecord = decode(&bytes, "session")?;
        sessions.insert(
            client.clone(),
            RecoveredSession {
                client,
                expiry_secs: rec.expiry_secs,
                disconnected_unix_ms: rec.disconnected_unix_ms,
                subscriptions: Vec::new(),
                inflight: Vec::new(),
                queue: VecDeque::new(),
                incoming_qos2: Vec::new(),
            },
        );
    }
    for ((client, filter), bytes) in rows.subs {
        let rec: SubRecord = decode(&bytes, "subscription")?;
        match sessions.get_mut(&client) {
            Some(s) => {
                s.subscriptions.push((
                    filter.clone(),
                    rec.group.clone(),
                    rec.topic_filter.clone(),
                    rec.entry(),
                ));
                model.subs.insert((client, filter));
            }
            None => {
                model.pending.insert(Key::Sub(client, filter), None);
            }
        }
    }
    for ((client, seq), bytes) in rows.queue {
        out.next_seq = out.next_seq.max(seq + 1);
        let rec: EntryRecord = decode(&bytes, "queue entry")?;
        let (Some(s), Some(m)) = (sessions.get_mut(&client), messages.get(&rec.msg_id)) else {
            model.pending.insert(Key::Queue(client.into(), seq), None);
            continue;
        };
        let delivery = Delivery {
            message: m.clone(),
            qos: QoS::from_u8(rec.qos).unwrap_or(QoS::AtLeastOnce),
            retain: rec.retain,
            subscription_ids: SmallVec::from_vec(rec.subscription_ids.clone()),
            store_seq: Some(seq),
            transformed: false,
        };
        match rec.packet_id {
            Some(packet_id) => {
                s.inflight.push(InflightRecord { packet_id, delivery, released: rec.released })
            }
            None => s.queue.push_back(delivery),
        }
        model.restore_entry(&client, seq, rec);
    }
    for id in messages.keys() {
        if !model.refers_to(*id) {
            model.pending.insert(Key::Message(*id), None);
        }
    }
    for (client, id) in rows.incoming {
        match sessions.get_mut(&client) {
            Some(s) => {
                s.incoming_qos2.push(id);
                model.incoming.insert((client.into(), id));
            }
            None => {
                model.pending.insert(Key::Incoming(client.into(), id), None);
            }
        }
    }
    for (topic, bytes) in rows.retained {
        let m = decode::<MessageRecord>(&bytes, "retained message")?.into_message();
        if m.is_expired(now) {
            model.pending.insert(Key::Retained(topic), None);
        } else {
            out.retained.push(m);
        }
    }
    for (client, bytes) in rows.wills {
        let rec: WillRecord = decode(&bytes, "will")?;
        out.wills
            .push((client, PendingWill { message: rec.message.into_message(), delay_secs: rec.delay_secs }));
    }
    out.sessions = sessions.into_values().collect();
    Ok((out, model))
}
