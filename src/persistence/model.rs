//! The writer's picture of what is on disk, and the changes waiting for the next commit.
//!
//! Every [`Op`] updates the picture and records the rows to write or delete in `pending`;
//! a later change to the same row replaces the earlier one, so a message queued and
//! acknowledged between two commits never reaches the disk (in periodic mode, and in durable
//! mode whenever the acknowledgement arrives while the previous commit is being written:
//! under load, most of them). In durable mode every row change is also appended to a log
//! ([`Model::log`]) that the writer makes durable in the write-ahead log before anything
//! waits on it ([`super::wal`]). Plain data, no I/O.

use std::collections::{BTreeMap, BTreeSet};

use bytestring::ByteString;
use rustc_hash::{FxHashMap, FxHashSet};

use super::records::{encode, Clock, EntryRecord, MessageRecord, SessionRecord};
use super::Op;

/// One row of one table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Key {
    /// sessions: client id.
    Session(String),
    /// subscriptions: (client id, filter as written).
    Sub(String, String),
    /// queue: (client id, sequence).
    Queue(ByteString, u64),
    /// messages: message id.
    Message(u64),
    /// incoming QoS 2 packet ids: (client id, packet id).
    Incoming(ByteString, u16),
    /// retained messages: topic.
    Retained(String),
    /// wills: client id.
    Will(String),
}

/// The rows to write (`Some`) or delete (`None`) at the next commit.
pub type Pending = FxHashMap<Key, Option<Vec<u8>>>;

/// What the writer knows is (or will be) on disk.
#[derive(Debug, Default)]
pub struct Model {
    /// Queue entries by (client, sequence).
    pub entries: BTreeMap<(ByteString, u64), EntryRecord>,
    /// Subscriptions by (client, filter).
    pub subs: BTreeSet<(String, String)>,
    /// Incoming QoS 2 ids.
    pub incoming: BTreeSet<(ByteString, u16)>,
    /// Queue entries referring to each message.
    pub refcount: FxHashMap<u64, u32>,
    /// Changes not yet committed.
    pub pending: Pending,
    /// Queue entries and messages first written by `pending` (not on disk yet): removing one
    /// drops its pending row instead of writing a delete.
    unwritten_entries: FxHashSet<(ByteString, u64)>,
    unwritten_messages: FxHashSet<u64>,
    /// Row changes since the log was last cleared, encoded for the write-ahead log (only
    /// when [`Model::start_log`] was called: durable mode).
    log: Option<Vec<u8>>,
    /// The clocks for the batch of changes being applied (see [`Model::new_batch`]).
    now: Option<Clock>,
}

/// One row change as the write-ahead log holds it: the row's new value, `None` for deleted.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct RowChange {
    /// The row.
    pub key: Key,
    /// Its value from now on.
    pub value: Option<Vec<u8>>,
}

#[derive(serde::Serialize)]
struct RowChangeRef<'a> {
    key: &'a Key,
    value: Option<super::records::RawBytes<'a>>,
}

impl Model {
    /// A batch of changes begins: the messages in it are stamped with one reading of the
    /// clocks (taken on first use).
    pub fn new_batch(&mut self) {
        self.now = None;
    }

    fn clock(&mut self) -> Clock {
        *self.now.get_or_insert_with(Clock::now)
    }

    /// From now on, record every row change in [`Model::log`].
    pub fn start_log(&mut self) {
        self.log.get_or_insert_with(Vec::new);
    }

    /// The row changes recorded since [`Model::clear_log`] (empty without a log).
    pub fn log(&self) -> &[u8] {
        self.log.as_deref().unwrap_or_default()
    }

    /// The recorded row changes are durable.
    pub fn clear_log(&mut self) {
        if let Some(log) = &mut self.log {
            log.clear();
        }
    }

    /// Sets a row (or deletes it, `None`) at the next commit.
    fn set_row(&mut self, key: Key, value: Option<Vec<u8>>) {
        self.record(&key, value.as_deref());
        self.pending.insert(key, value);
    }

    /// Drops the pending write of a row the store does not have yet. The log still records
    /// a delete: an earlier batch of the log may have written the row.
    fn forget_row(&mut self, key: Key) {
        self.record(&key, None);
        self.pending.remove(&key);
    }

    fn record(&mut self, key: &Key, value: Option<&[u8]>) {
        if let Some(log) = &mut self.log {
            // postcard only fails on writer errors, and a Vec never refuses bytes.
            let _ = postcard::to_io(&RowChangeRef { key, value: value.map(super::records::RawBytes) }, log);
        }
    }

    /// The pending changes are on disk.
    pub fn committed(&mut self) {
        self.pending.clear();
        self.unwritten_entries.clear();
        self.unwritten_messages.clear();
    }

    /// Applies one change.
    pub fn apply(&mut self, op: Op) {
        match op {
            Op::SessionUp { client, expiry_secs } => {
                let rec = SessionRecord { expiry_secs, disconnected_unix_ms: None };
                self.set_row(Key::Session(client), Some(encode(&rec)));
            }
            Op::SessionDown { client, expiry_secs, at_unix_ms } => {
                let rec = SessionRecord { expiry_secs, disconnected_unix_ms: Some(at_unix_ms) };
                self.set_row(Key::Session(client), Some(encode(&rec)));
            }
            Op::SessionEnd { client } => self.end_session(&client),
            Op::Subscribe { client, filter, record } => {
                self.subs.insert((client.clone(), filter.clone()));
                self.set_row(Key::Sub(client, filter), Some(encode(&record)));
            }
            Op::Unsubscribe { client, filter } => {
                self.subs.remove(&(client.clone(), filter.clone()));
                self.set_row(Key::Sub(client, filter), None);
            }
            Op::Routed { msg_id, message, targets, incoming } => {
                if !targets.is_empty() {
                    let row = MessageRecord::encode_message_at(&message, self.clock());
                    self.set_row(Key::Message(msg_id), Some(row));
                    self.unwritten_messages.insert(msg_id);
                    self.refcount.insert(msg_id, u32::try_from(targets.len()).unwrap_or(u32::MAX));
                }
                for (client, seq, entry) in targets {
                    self.put_entry(client, seq, entry);
                }
                if let Some((client, id)) = incoming {
                    self.incoming.insert((client.clone(), id));
                    self.set_row(Key::Incoming(client, id), Some(Vec::new()));
                }
            }
            Op::Retain { topic, message } => {
                let now = self.clock();
                let row = message.map(|m| MessageRecord::encode_message_at(&m, now));
                self.set_row(Key::Retained(topic), row);
            }
            Op::Assign { client, seq, packet_id } => {
                if let Some(mut e) = self.entries.get(&(client.clone(), seq)).cloned() {
                    e.packet_id = Some(packet_id);
                    self.put_entry(client, seq, e);
                }
            }
            Op::Release { client, seq } => {
                if let Some(mut e) = self.entries.get(&(client.clone(), seq)).cloned() {
                    e.released = true;
                    self.put_entry(client, seq, e);
                }
            }
            Op::Complete { client, seq } => self.remove_entry(client, seq),
            Op::IncomingDone { client, packet_id } => {
                if self.incoming.remove(&(client.clone(), packet_id)) {
                    self.set_row(Key::Incoming(client, packet_id), None);
                }
            }
            Op::Will { client, will } => {
                self.set_row(Key::Will(client), will.map(|w| encode(&*w)));
            }
        }
    }

    fn put_entry(&mut self, client: ByteString, seq: u64, entry: EntryRecord) {
        self.set_row(Key::Queue(client.clone(), seq), Some(encode(&entry)));
        // A new entry is not on disk yet; an update (packet id, released) is as before.
        if self.entries.insert((client.clone(), seq), entry).is_none() {
            self.unwritten_entries.insert((client, seq));
        }
    }

    fn remove_entry(&mut self, client: ByteString, seq: u64) {
        let key = (client, seq);
        let Some(entry) = self.entries.remove(&key) else { return };
        let fresh = self.unwritten_entries.remove(&key);
        let row = Key::Queue(key.0, key.1);
        match fresh {
            true => self.forget_row(row),
            false => self.set_row(row, None),
        };
        self.release_message(entry.msg_id);
    }

    fn release_message(&mut self, msg_id: u64) {
        let left = match self.refcount.get_mut(&msg_id) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if left == 0 {
            self.refcount.remove(&msg_id);
            match self.unwritten_messages.remove(&msg_id) {
                true => self.forget_row(Key::Message(msg_id)),
                false => self.set_row(Key::Message(msg_id), None),
            };
        }
    }

    fn end_session(&mut self, client: &str) {
        let id = ByteString::from(client);
        let seqs: Vec<u64> =
            self.entries.range((id.clone(), 0)..=(id.clone(), u64::MAX)).map(|((_, s), _)| *s).collect();
        for seq in seqs {
            self.remove_entry(id.clone(), seq);
        }
        let subs: Vec<String> = self
            .subs
            .range((client.to_owned(), String::new())..)
            .take_while(|(c, _)| c == client)
            .map(|(_, f)| f.clone())
            .collect();
        for f in subs {
            self.subs.remove(&(client.to_owned(), f.clone()));
            self.set_row(Key::Sub(client.to_owned(), f), None);
        }
        let ids: Vec<u16> =
            self.incoming.range((id.clone(), 0)..=(id.clone(), u16::MAX)).map(|(_, id)| *id).collect();
        for packet_id in ids {
            self.incoming.remove(&(id.clone(), packet_id));
            self.set_row(Key::Incoming(id.clone(), packet_id), None);
        }
        self.set_row(Key::Session(client.to_owned()), None);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use crate::message::{Message, MessageProperties};
    use crate::protocol::QoS;

    fn message() -> Arc<Message> {
        Arc::new(Message {
            topic: "a/b".into(),
            payload: bytes::Bytes::from_static(b"p"),
            qos: QoS::ExactlyOnce,
            retain: false,
            publisher: None,
            properties: MessageProperties::default(),
            received_at: Instant::now(),
        })
    }

    fn entry(msg_id: u64) -> EntryRecord {
        EntryRecord {
            msg_id,
            qos: 2,
            retain: false,
            subscription_ids: vec![],
            packet_id: None,
            released: false,
        }
    }

    #[test]
    fn message_row_lives_while_an_entry_refers_to_it() {
        let mut m = Model::default();
        let targets = vec![("a".into(), 1, entry(7)), ("b".into(), 2, entry(7))];
        m.apply(Op::Routed { msg_id: 7, message: message(), targets, incoming: Some(("p".into(), 3)) });
        assert!(matches!(m.pending.get(&Key::Message(7)), Some(Some(_))));
        assert!(matches!(m.pending.get(&Key::Incoming("p".into(), 3)), Some(Some(_))));
        m.committed();
        m.apply(Op::Complete { client: "a".into(), seq: 1 });
        assert_eq!(m.pending.get(&Key::Message(7)), None, "still referred to by b");
        m.apply(Op::Complete { client: "b".into(), seq: 2 });
        assert_eq!(m.pending.get(&Key::Message(7)), Some(&None));
        assert_eq!(m.pending.get(&Key::Queue("b".into(), 2)), Some(&None));
    }

    #[test]
    fn an_entry_acknowledged_before_its_commit_never_reaches_the_disk() {
        let mut m = Model::default();
        let targets = vec![("a".into(), 1, entry(7)), ("b".into(), 2, entry(7))];
        m.apply(Op::Routed { msg_id: 7, message: message(), targets, incoming: None });
        m.apply(Op::Assign { client: "a".into(), seq: 1, packet_id: 5 });
        m.apply(Op::Complete { client: "a".into(), seq: 1 });
        assert_eq!(m.pending.get(&Key::Queue("a".into(), 1)), None, "no write, no delete");
        assert!(matches!(m.pending.get(&Key::Message(7)), Some(Some(_))), "b still needs it");
        m.committed();
        // Written by that commit: removing it now is a delete.
        m.apply(Op::Complete { client: "b".into(), seq: 2 });
        assert_eq!(m.pending.get(&Key::Queue("b".into(), 2)), Some(&None));
        assert_eq!(m.pending.get(&Key::Message(7)), Some(&None));
        m.committed();
        m.apply(Op::Routed {
            msg_id: 8,
            message: message(),
            targets: vec![("a".into(), 3, entry(8))],
            incoming: None,
        });
        m.apply(Op::Complete { client: "a".into(), seq: 3 });
        assert!(m.pending.is_empty(), "queued and acknowledged within one commit: nothing to write");
    }

    #[test]
    fn assign_and_release_rewrite_the_entry() {
        let mut m = Model::default();
        m.apply(Op::Routed {
            msg_id: 1,
            message: message(),
            targets: vec![("a".into(), 5, entry(1))],
            incoming: None,
        });
        m.apply(Op::Assign { client: "a".into(), seq: 5, packet_id: 42 });
        m.apply(Op::Release { client: "a".into(), seq: 5 });
        let e = &m.entries[&("a".into(), 5)];
        assert_eq!((e.packet_id, e.released), (Some(42), true));
    }

    #[test]
    fn session_end_deletes_every_row_of_the_client() {
        let mut m = Model::default();
        m.apply(Op::SessionUp { client: "a".into(), expiry_secs: 60 });
        m.apply(Op::Routed {
            msg_id: 1,
            message: message(),
            targets: vec![("a".into(), 5, entry(1))],
            incoming: Some(("a".into(), 9)),
        });
        let rec = super::super::records::SubRecord::new(
            None,
            "x",
            &crate::router::state::SubEntry { options: Default::default(), subscription_id: None },
        );
        m.apply(Op::Subscribe { client: "a".into(), filter: "x".into(), record: rec });
        m.committed();
        m.apply(Op::SessionEnd { client: "a".into() });
        for k in [
            Key::Session("a".into()),
            Key::Queue("a".into(), 5),
            Key::Message(1),
            Key::Sub("a".into(), "x".into()),
            Key::Incoming("a".into(), 9),
        ] {
            assert_eq!(m.pending.get(&k), Some(&None), "{k:?}");
        }
        assert!(m.entries.is_empty() && m.subs.is_empty() && m.incoming.is_empty());
    }
}
