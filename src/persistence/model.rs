//! The writer's picture of what is on disk, and the changes waiting for the next commit.
//!
//! Queue entries and messages, the rows that change with every QoS 1/2 message, are kept as
//! structs ([`Model`]'s queues by client number, messages by id) that know whether the store
//! file has them; the rows to write at the next commit are derived from them then
//! ([`Model::commit_rows`]), so a message queued and acknowledged between two commits never
//! reaches the store file. The other rows (sessions, subscriptions, retained messages, wills,
//! incoming QoS 2 ids) go through `pending`, where a later change of a row replaces the
//! earlier one. In durable mode every row change is also appended to a log ([`Model::log`])
//! that the writer makes durable in the write-ahead log before anything waits on it
//! ([`super::wal`]). Plain data, no I/O.

use bytestring::ByteString;
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;

use super::records::{encode, Clock, EntryRecord, MessageRecord, RawBytes, SessionRecord};
use super::Op;
use crate::message::Message;

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

/// [`Key`] borrowing its strings, for the log: the same variants in the same order, so the
/// same encoding.
#[derive(serde::Serialize)]
enum KeyRef<'a> {
    #[allow(dead_code)]
    Session(&'a str),
    #[allow(dead_code)]
    Sub(&'a str, &'a str),
    Queue(&'a str, u64),
    Message(u64),
}

/// The rows to write (`Some`) or delete (`None`) at the next commit.
pub type Pending = FxHashMap<Key, Option<Vec<u8>>>;

/// Whether the store file has a row as the model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    /// Not in the store file yet.
    New,
    /// In the store file, changed since.
    Changed,
    /// In the store file as it is.
    Stored,
}

/// One queue entry.
#[derive(Debug)]
struct Entry {
    record: EntryRecord,
    row: Row,
}

/// The queue entries of one client.
#[derive(Debug)]
struct ClientQueue {
    client: ByteString,
    entries: FxHashMap<u64, Entry>,
}

/// A message queue entries refer to.
#[derive(Debug)]
struct StoredMessage {
    /// Queue entries referring to it.
    refs: u32,
    /// Not in the store file yet: its row. (Kept encoded rather than as the message: the
    /// writer lets go of the message at once, while sessions still hold it, so the session
    /// thread that allocated it is almost always the one that frees it.)
    new: Option<Vec<u8>>,
}

/// What the writer knows is (or will be) on disk.
#[derive(Debug, Default)]
pub struct Model {
    /// Client numbers of the queues (a client keeps its number until its session ends).
    client_numbers: FxHashMap<ByteString, u32>,
    /// Queues by client number (`None`: a free number).
    queues: Vec<Option<ClientQueue>>,
    /// Numbers whose client's session ended, to give again.
    free_numbers: Vec<u32>,
    /// The client number of each queue entry, by sequence number (unique across clients: the
    /// ops that change an entry name only its sequence).
    owners: FxHashMap<u64, u32>,
    /// The last clients looked up, with their numbers (see [`Model::known_client`]).
    recent_clients: [Option<(ByteString, u32)>; 2],
    /// Messages by id.
    messages: FxHashMap<u64, StoredMessage>,
    /// Entries made or changed since the last commit (some may be gone since).
    touched_entries: Vec<(u32, u64)>,
    /// Entries the store file has that are gone.
    deleted_entries: Vec<(ByteString, u64)>,
    /// Messages made since the last commit (some may be gone since).
    touched_messages: Vec<u64>,
    /// Messages the store file has that are gone.
    deleted_messages: Vec<u64>,
    /// Subscriptions by (client, filter).
    pub subs: BTreeSet<(String, String)>,
    /// Incoming QoS 2 ids.
    pub incoming: BTreeSet<(ByteString, u16)>,
    /// Changes of the other rows not yet committed.
    pub pending: Pending,
    /// Row changes since the log was last cleared, encoded for the write-ahead log (only
    /// when [`Model::start_log`] was called: durable mode).
    log: Option<Vec<u8>>,
    /// Scratch space to encode a row in.
    row: Vec<u8>,
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
struct RowChangeRef<'a, K> {
    key: K,
    value: Option<RawBytes<'a>>,
}

/// Appends a row change to the log, if there is one.
fn log_change<K: serde::Serialize>(log: &mut Option<Vec<u8>>, key: K, value: Option<&[u8]>) {
    if let Some(log) = log {
        // postcard only fails on writer errors, and a Vec never refuses bytes.
        let _ = postcard::to_io(&RowChangeRef { key, value: value.map(RawBytes) }, log);
    }
}

/// The queue of client number `n`.
fn queue_mut(queues: &mut [Option<ClientQueue>], n: u32) -> Option<&mut ClientQueue> {
    queues.get_mut(n as usize).and_then(Option::as_mut)
}

/// Encodes `v` into `buf` (emptied first).
fn encode_into<T: serde::Serialize>(buf: &mut Vec<u8>, v: &T) {
    buf.clear();
    let _ = postcard::to_io(v, &mut *buf);
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
        log_change(&mut self.log, &key, value.as_deref());
        self.pending.insert(key, value);
    }

    /// True when the next commit has something to write.
    pub fn has_changes(&self) -> bool {
        !(self.pending.is_empty()
            && self.touched_entries.is_empty()
            && self.deleted_entries.is_empty()
            && self.touched_messages.is_empty()
            && self.deleted_messages.is_empty())
    }

    /// The queue and message rows the next commit writes (`Some`) or deletes (`None`), to be
    /// written after `pending`'s.
    pub fn commit_rows(&self) -> Vec<(Key, Option<Vec<u8>>)> {
        let mut rows = Vec::new();
        for &(n, seq) in &self.touched_entries {
            let Some(Some(q)) = self.queues.get(n as usize) else { continue };
            if let Some(e) = q.entries.get(&seq).filter(|e| e.row != Row::Stored) {
                rows.push((Key::Queue(q.client.clone(), seq), Some(encode(&e.record))));
            }
        }
        for (client, seq) in &self.deleted_entries {
            rows.push((Key::Queue(client.clone(), *seq), None));
        }
        for id in &self.touched_messages {
            if let Some(row) = self.messages.get(id).and_then(|m| m.new.as_ref()) {
                rows.push((Key::Message(*id), Some(row.clone())));
            }
        }
        rows.extend(self.deleted_messages.iter().map(|id| (Key::Message(*id), None)));
        rows
    }

    /// The pending changes and [`Model::commit_rows`] are in the store file.
    pub fn committed(&mut self) {
        self.pending.clear();
        for (n, seq) in self.touched_entries.drain(..) {
            if let Some(e) = queue_mut(&mut self.queues, n).and_then(|q| q.entries.get_mut(&seq)) {
                e.row = Row::Stored;
            }
        }
        for id in self.touched_messages.drain(..) {
            if let Some(m) = self.messages.get_mut(&id) {
                m.new = None;
            }
        }
        self.deleted_entries.clear();
        self.deleted_messages.clear();
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
                    self.put_message(msg_id, &message, targets.len());
                }
                for (client, seq, record) in targets {
                    let n = self.client_number(&client);
                    self.put_entry(n, seq, record);
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
            Op::Assign { seq, packet_id } => self.update_entry(seq, |e| e.packet_id = Some(packet_id)),
            Op::Release { seq } => self.update_entry(seq, |e| e.released = true),
            Op::Complete { seq } => {
                if let Some(n) = self.owners.remove(&seq) {
                    self.remove_entry(n, seq);
                }
            }
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

    /// The number of a client that has a queue, if it has one.
    fn known_client(&mut self, client: &ByteString) -> Option<u32> {
        // The ids of the last clients looked up, held so that their addresses stay theirs: an
        // op carries the session's or the router's shared copy of the id, so comparing the
        // address and length is enough.
        for (id, n) in self.recent_clients.iter().flatten() {
            if id.as_ptr() == client.as_ptr() && id.len() == client.len() {
                return Some(*n);
            }
        }
        let n = *self.client_numbers.get(client)?;
        self.recent_clients.rotate_right(1);
        self.recent_clients[0] = Some((client.clone(), n));
        Some(n)
    }

    /// The number of a client, given one if it has none.
    fn client_number(&mut self, client: &ByteString) -> u32 {
        if let Some(n) = self.known_client(client) {
            return n;
        }
        let queue = ClientQueue { client: client.clone(), entries: FxHashMap::default() };
        let n = match self.free_numbers.pop() {
            Some(free) => {
                self.queues[free as usize] = Some(queue);
                free
            }
            None => {
                self.queues.push(Some(queue));
                u32::try_from(self.queues.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.client_numbers.insert(client.clone(), n);
        n
    }

    fn put_message(&mut self, msg_id: u64, message: &Message, refs: usize) {
        let row = MessageRecord::encode_message_at(message, self.clock());
        log_change(&mut self.log, KeyRef::Message(msg_id), Some(&row));
        let refs = u32::try_from(refs).unwrap_or(u32::MAX);
        self.messages.insert(msg_id, StoredMessage { refs, new: Some(row) });
        self.touched_messages.push(msg_id);
        if self.touched_messages.len() > 2 * self.messages.len() + 1024 {
            // Most were acknowledged since (periodic mode commits every 30 s by default):
            // keep the list as long as what is live.
            let messages = &self.messages;
            self.touched_messages.retain(|id| messages.get(id).is_some_and(|m| m.new.is_some()));
        }
    }

    fn put_entry(&mut self, n: u32, seq: u64, record: EntryRecord) {
        let Some(q) = queue_mut(&mut self.queues, n) else { return };
        if self.log.is_some() {
            encode_into(&mut self.row, &record);
            log_change(&mut self.log, KeyRef::Queue(&q.client, seq), Some(&self.row));
        }
        q.entries.insert(seq, Entry { record, row: Row::New });
        self.owners.insert(seq, n);
        self.touched_entries.push((n, seq));
        if self.touched_entries.len() > 2 * self.owners.len() + 1024 {
            // As for messages: drop what is gone since.
            let (queues, owners) = (&self.queues, &self.owners);
            self.touched_entries.retain(|&(n, seq)| {
                owners.get(&seq) == Some(&n)
                    && queues
                        .get(n as usize)
                        .and_then(Option::as_ref)
                        .and_then(|q| q.entries.get(&seq))
                        .is_some_and(|e| e.row != Row::Stored)
            });
        }
    }

    /// Changes an entry (its packet id, or released).
    fn update_entry(&mut self, seq: u64, change: impl FnOnce(&mut EntryRecord)) {
        let Some(&n) = self.owners.get(&seq) else { return };
        let Some(q) = queue_mut(&mut self.queues, n) else { return };
        let Some(e) = q.entries.get_mut(&seq) else { return };
        change(&mut e.record);
        if e.row == Row::Stored {
            e.row = Row::Changed;
            self.touched_entries.push((n, seq));
        }
        if self.log.is_some() {
            encode_into(&mut self.row, &e.record);
            log_change(&mut self.log, KeyRef::Queue(&q.client, seq), Some(&self.row));
        }
    }

    fn remove_entry(&mut self, n: u32, seq: u64) {
        let Some(q) = queue_mut(&mut self.queues, n) else { return };
        let Some(e) = q.entries.remove(&seq) else { return };
        // The log records the delete even of a new entry: an earlier frame may hold it.
        log_change(&mut self.log, KeyRef::Queue(&q.client, seq), None);
        if e.row != Row::New {
            self.deleted_entries.push((q.client.clone(), seq));
        }
        self.release_message(e.record.msg_id);
    }

    fn release_message(&mut self, msg_id: u64) {
        let Some(m) = self.messages.get_mut(&msg_id) else { return };
        m.refs = m.refs.saturating_sub(1);
        if m.refs > 0 {
            return;
        }
        let new = self.messages.remove(&msg_id).is_some_and(|m| m.new.is_some());
        log_change(&mut self.log, KeyRef::Message(msg_id), None);
        if !new {
            self.deleted_messages.push(msg_id);
        }
    }

    /// A queue entry read from the store file at startup.
    pub fn restore_entry(&mut self, client: &str, seq: u64, record: EntryRecord) {
        let n = self.client_number(&ByteString::from(client));
        self.messages.entry(record.msg_id).or_insert(StoredMessage { refs: 0, new: None }).refs += 1;
        if let Some(q) = queue_mut(&mut self.queues, n) {
            q.entries.insert(seq, Entry { record, row: Row::Stored });
            self.owners.insert(seq, n);
        }
    }

    /// True when a queue entry refers to the message.
    pub fn refers_to(&self, msg_id: u64) -> bool {
        self.messages.contains_key(&msg_id)
    }

    fn end_session(&mut self, client: &str) {
        if let Some(n) = self.client_numbers.remove(client) {
            let seqs: Vec<u64> = queue_mut(&mut self.queues, n)
                .map(|q| q.entries.keys().copied().collect())
                .unwrap_or_default();
            for seq in seqs {
                self.owners.remove(&seq);
                self.remove_entry(n, seq);
            }
            // The number may be given again; what `touched_entries` still says about it
            // finds nothing (sequence numbers are never reused).
            self.queues[n as usize] = None;
            self.free_numbers.push(n);
            self.recent_clients = Default::default();
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
        let id = ByteString::from(client);
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
    use crate::message::Message;
    use crate::persistence::Targets;
    use crate::protocol::QoS;

    fn message() -> Arc<Message> {
        Arc::new(Message {
            topic: "a/b".into(),
            payload: bytes::Bytes::from_static(b"p"),
            qos: QoS::ExactlyOnce,
            retain: false,
            publisher: None,
            properties: Default::default(),
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

    /// What the next commit writes for `key`: `None` nothing, `Some(None)` a delete.
    fn row(m: &Model, key: &Key) -> Option<Option<Vec<u8>>> {
        let mut found = m.pending.get(key).cloned();
        for (k, v) in m.commit_rows() {
            if &k == key {
                found = Some(v);
            }
        }
        found
    }

    #[test]
    fn message_row_lives_while_an_entry_refers_to_it() {
        let mut m = Model::default();
        let targets: Targets = smallvec::smallvec![("a".into(), 1, entry(7)), ("b".into(), 2, entry(7))];
        m.apply(Op::Routed { msg_id: 7, message: message(), targets, incoming: Some(("p".into(), 3)) });
        assert!(matches!(row(&m, &Key::Message(7)), Some(Some(_))));
        assert!(matches!(row(&m, &Key::Incoming("p".into(), 3)), Some(Some(_))));
        m.committed();
        assert!(!m.has_changes());
        m.apply(Op::Complete { seq: 1 });
        assert_eq!(row(&m, &Key::Message(7)), None, "still referred to by b");
        assert_eq!(row(&m, &Key::Queue("a".into(), 1)), Some(None));
        m.apply(Op::Complete { seq: 2 });
        assert_eq!(row(&m, &Key::Message(7)), Some(None));
        assert_eq!(row(&m, &Key::Queue("b".into(), 2)), Some(None));
    }

    #[test]
    fn an_entry_acknowledged_before_its_commit_never_reaches_the_disk() {
        let mut m = Model::default();
        let targets: Targets = smallvec::smallvec![("a".into(), 1, entry(7)), ("b".into(), 2, entry(7))];
        m.apply(Op::Routed { msg_id: 7, message: message(), targets, incoming: None });
        m.apply(Op::Assign { seq: 1, packet_id: 5 });
        m.apply(Op::Complete { seq: 1 });
        assert_eq!(row(&m, &Key::Queue("a".into(), 1)), None, "no write, no delete");
        assert!(matches!(row(&m, &Key::Message(7)), Some(Some(_))), "b still needs it");
        m.committed();
        // Written by that commit: removing it now is a delete.
        m.apply(Op::Complete { seq: 2 });
        assert_eq!(row(&m, &Key::Queue("b".into(), 2)), Some(None));
        assert_eq!(row(&m, &Key::Message(7)), Some(None));
        m.committed();
        m.apply(Op::Routed {
            msg_id: 8,
            message: message(),
            targets: smallvec::smallvec![("a".into(), 3, entry(8))],
            incoming: None,
        });
        m.apply(Op::Complete { seq: 3 });
        assert!(
            m.commit_rows().is_empty() && m.pending.is_empty(),
            "queued and acknowledged within one commit: nothing to write"
        );
    }

    #[test]
    fn assign_and_release_rewrite_the_entry() {
        let mut m = Model::default();
        m.apply(Op::Routed {
            msg_id: 1,
            message: message(),
            targets: smallvec::smallvec![("a".into(), 5, entry(1))],
            incoming: None,
        });
        m.committed();
        m.apply(Op::Assign { seq: 5, packet_id: 42 });
        m.apply(Op::Release { seq: 5 });
        let Some(Some(bytes)) = row(&m, &Key::Queue("a".into(), 5)) else { panic!("no write") };
        let e: EntryRecord = super::super::records::decode(&bytes, "entry").unwrap();
        assert_eq!((e.packet_id, e.released), (Some(42), true));
        assert_eq!(m.commit_rows().len(), 1, "written once");
    }

    #[test]
    fn the_log_replays_to_the_rows_the_model_writes() {
        let mut m = Model::default();
        m.start_log();
        m.apply(Op::Routed {
            msg_id: 1,
            message: message(),
            targets: smallvec::smallvec![("a".into(), 5, entry(1)), ("b".into(), 6, entry(1))],
            incoming: None,
        });
        m.apply(Op::Assign { seq: 5, packet_id: 42 });
        m.apply(Op::Complete { seq: 6 });
        m.apply(Op::SessionUp { client: "a".into(), expiry_secs: 9 });
        let mut replayed = Pending::default();
        let mut rest = m.log();
        while !rest.is_empty() {
            let (change, tail): (RowChange, &[u8]) = postcard::take_from_bytes(rest).unwrap();
            replayed.insert(change.key, change.value);
            rest = tail;
        }
        let mut written: Pending = m.pending.clone();
        written.extend(m.commit_rows());
        written.insert(Key::Queue("b".into(), 6), None);
        assert_eq!(replayed, written);
    }

    #[test]
    fn what_waits_for_the_next_commit_stays_as_long_as_what_is_live() {
        // Periodic mode commits every 30 s: messages queued and acknowledged meanwhile must
        // not pile up in the lists of what to write.
        let mut m = Model::default();
        for i in 0..100_000u64 {
            let targets: Targets = smallvec::smallvec![("a".into(), i, entry(i))];
            m.apply(Op::Routed { msg_id: i, message: message(), targets, incoming: None });
            m.apply(Op::Complete { seq: i });
        }
        assert!(m.touched_entries.len() <= 1024 + 2 && m.touched_messages.len() <= 1024 + 2);
        assert!(m.commit_rows().is_empty());
    }

    #[test]
    fn copies_of_a_client_id_share_one_queue_and_entries_are_found_by_sequence() {
        let mut m = Model::default();
        let first: ByteString = "client".into();
        m.apply(Op::Routed {
            msg_id: 1,
            message: message(),
            targets: smallvec::smallvec![(first, 1, entry(1))],
            incoming: None,
        });
        // A different allocation of the same id.
        let other: ByteString = String::from("client").into();
        m.apply(Op::Routed {
            msg_id: 2,
            message: message(),
            targets: smallvec::smallvec![(other, 2, entry(2))],
            incoming: None,
        });
        assert_eq!(m.queues.iter().flatten().count(), 1);
        m.apply(Op::Complete { seq: 1 });
        m.apply(Op::Complete { seq: 2 });
        assert!(m.commit_rows().is_empty(), "found and removed before any commit");
        m.apply(Op::SessionEnd { client: "client".into() });
        assert!(m.queues.iter().all(Option::is_none) && m.owners.is_empty());
    }

    #[test]
    fn session_end_deletes_every_row_of_the_client() {
        let mut m = Model::default();
        m.apply(Op::SessionUp { client: "a".into(), expiry_secs: 60 });
        m.apply(Op::Routed {
            msg_id: 1,
            message: message(),
            targets: smallvec::smallvec![("a".into(), 5, entry(1))],
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
            assert_eq!(row(&m, &k), Some(None), "{k:?}");
        }
        assert!(m.queues.iter().all(Option::is_none) && m.subs.is_empty() && m.incoming.is_empty());
    }
}
