//! The redb file: table definitions, opening (with a format check), one commit of the pending
//! changes, and reading everything back at startup.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::model::{Key, Pending};
use super::StoreError;

/// Bumped when the meaning of a table or record changes.
pub const FORMAT_VERSION: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
const SUBS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("subscriptions");
const QUEUE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("queue");
const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");
const INCOMING: TableDefinition<(&str, u16), ()> = TableDefinition::new("incoming_qos2");
const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
const WILLS: TableDefinition<&str, &[u8]> = TableDefinition::new("wills");

fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// Every row, as read at startup.
#[derive(Debug, Default)]
pub struct Rows {
    /// client -> session record.
    pub sessions: Vec<(String, Vec<u8>)>,
    /// (client, filter) -> subscription record.
    pub subs: Vec<((String, String), Vec<u8>)>,
    /// (client, seq) -> entry record.
    pub queue: Vec<((String, u64), Vec<u8>)>,
    /// id -> message record.
    pub messages: Vec<(u64, Vec<u8>)>,
    /// (client, packet id).
    pub incoming: Vec<(String, u16)>,
    /// topic -> message record.
    pub retained: Vec<(String, Vec<u8>)>,
    /// client -> will record.
    pub wills: Vec<(String, Vec<u8>)>,
}

impl Rows {
    /// Applies changes not yet in the store (the write-ahead log's, when they could not be
    /// written into the store at startup): a changed row replaces the one read, a deleted row
    /// goes.
    pub fn overlay(&mut self, changes: &Pending) {
        fn drop_changed<K>(rows: &mut Vec<(K, Vec<u8>)>, changes: &Pending, key: impl Fn(&K) -> Key) {
            rows.retain(|(k, _)| !changes.contains_key(&key(k)));
        }
        drop_changed(&mut self.sessions, changes, |c| Key::Session(c.clone()));
        drop_changed(&mut self.subs, changes, |(c, f)| Key::Sub(c.clone(), f.clone()));
        drop_changed(&mut self.queue, changes, |(c, s)| Key::Queue(c.as_str().into(), *s));
        drop_changed(&mut self.messages, changes, |id| Key::Message(*id));
        drop_changed(&mut self.retained, changes, |t| Key::Retained(t.clone()));
        drop_changed(&mut self.wills, changes, |c| Key::Will(c.clone()));
        self.incoming.retain(|(c, id)| !changes.contains_key(&Key::Incoming(c.as_str().into(), *id)));
        for (key, value) in changes {
            let Some(v) = value else { continue };
            match key {
                Key::Session(c) => self.sessions.push((c.clone(), v.clone())),
                Key::Sub(c, f) => self.subs.push(((c.clone(), f.clone()), v.clone())),
                Key::Queue(c, s) => self.queue.push(((c.to_string(), *s), v.clone())),
                Key::Message(id) => self.messages.push((*id, v.clone())),
                Key::Retained(t) => self.retained.push((t.clone(), v.clone())),
                Key::Will(c) => self.wills.push((c.clone(), v.clone())),
                Key::Incoming(c, id) => self.incoming.push((c.to_string(), *id)),
            }
        }
    }
}

/// Opens (or creates) the store and checks its format version.
pub fn open(path: &Path) -> Result<Database, StoreError> {
    let db = Database::create(path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Locked,
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            StoreError::Corrupt(io.to_string())
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(io)) => StoreError::Io(io.to_string()),
        other => StoreError::Corrupt(other.to_string()),
    })?;
    match read_version(&db)? {
        Some(FORMAT_VERSION) => return Ok(db),
        Some(other) => return Err(StoreError::Version(other)),
        None => {}
    }
    // A new store: record its format (an existing one is opened without writing, so a full
    // disk does not stop the broker from starting with what it holds).
    let txn = db.begin_write().map_err(storage)?;
    {
        let mut meta = txn.open_table(META).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        meta.insert("format_version", FORMAT_VERSION).map_err(storage)?;
    }
    txn.commit().map_err(storage)?;
    Ok(db)
}

/// The format version recorded in the store; `None` for a new store.
fn read_version(db: &Database) -> Result<Option<u64>, StoreError> {
    let corrupt = |e: redb::Error| StoreError::Corrupt(e.to_string());
    let txn = db.begin_read().map_err(|e| corrupt(e.into()))?;
    match txn.open_table(META) {
        Ok(meta) => Ok(meta.get("format_version").map_err(|e| corrupt(e.into()))?.map(|v| v.value())),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(corrupt(e.into())),
    }
}

/// Reads every row.
pub fn load(db: &Database) -> Result<Rows, StoreError> {
    let corrupt = |e: redb::Error| StoreError::Corrupt(e.to_string());
    let txn = db.begin_read().map_err(|e| corrupt(e.into()))?;
    let mut rows = Rows::default();
    macro_rules! read {
        ($table:expr, $out:expr, |$k:ident, $v:ident| $map:expr) => {{
            match txn.open_table($table) {
                Ok(t) => {
                    for row in t.iter().map_err(|e| corrupt(e.into()))? {
                        let (k, v) = row.map_err(|e| corrupt(e.into()))?;
                        let ($k, $v) = (k.value(), v.value());
                        $out.push($map);
                    }
                }
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(corrupt(e.into())),
            }
        }};
    }
    read!(SESSIONS, rows.sessions, |k, v| (k.to_owned(), v.to_vec()));
    read!(SUBS, rows.subs, |k, v| ((k.0.to_owned(), k.1.to_owned()), v.to_vec()));
    read!(QUEUE, rows.queue, |k, v| ((k.0.to_owned(), k.1), v.to_vec()));
    read!(MESSAGES, rows.messages, |k, v| (k, v.to_vec()));
    read!(INCOMING, rows.incoming, |k, _v| (k.0.to_owned(), k.1));
    read!(RETAINED, rows.retained, |k, v| (k.to_owned(), v.to_vec()));
    read!(WILLS, rows.wills, |k, v| (k.to_owned(), v.to_vec()));
    Ok(rows)
}

/// Writes row changes (`None`: delete the row) in one transaction (one fsync), in order.
pub fn commit<'a>(
    db: &Database,
    changes: impl IntoIterator<Item = (&'a Key, &'a Option<Vec<u8>>)>,
) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(storage)?;
    {
        let mut sessions = txn.open_table(SESSIONS).map_err(storage)?;
        let mut subs = txn.open_table(SUBS).map_err(storage)?;
        let mut queue = txn.open_table(QUEUE).map_err(storage)?;
        let mut messages = txn.open_table(MESSAGES).map_err(storage)?;
        let mut incoming = txn.open_table(INCOMING).map_err(storage)?;
        let mut retained = txn.open_table(RETAINED).map_err(storage)?;
        let mut wills = txn.open_table(WILLS).map_err(storage)?;
        for (key, row) in changes {
            let v = row.as_deref();
            match key {
                Key::Session(c) => put(&mut sessions, c.as_str(), v)?,
                Key::Sub(c, f) => put(&mut subs, (c.as_str(), f.as_str()), v)?,
                Key::Queue(c, s) => put(&mut queue, (&**c, *s), v)?,
                Key::Message(id) => put(&mut messages, *id, v)?,
                Key::Retained(t) => put(&mut retained, t.as_str(), v)?,
                Key::Will(c) => put(&mut wills, c.as_str(), v)?,
                Key::Incoming(c, id) => {
                    let k = (&**c, *id);
                    if v.is_some() {
                        incoming.insert(k, ()).map_err(storage)?;
                    } else {
                        incoming.remove(k).map_err(storage)?;
                    }
                }
            }
        }
    }
    txn.commit().map_err(storage)
}

fn put<'k, K: redb::Key + 'static>(
    table: &mut redb::Table<'_, K, &'static [u8]>,
    key: impl std::borrow::Borrow<K::SelfType<'k>>,
    value: Option<&[u8]>,
) -> Result<(), StoreError> {
    match value {
        Some(v) => table.insert(key, v).map(drop).map_err(storage),
        None => table.remove(key).map(drop).map_err(storage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_replaces_changed_rows_drops_deleted_ones_and_adds_new_ones() {
        let mut rows = Rows {
            messages: vec![(1, b"old".to_vec()), (2, b"gone".to_vec())],
            queue: vec![(("c".into(), 1), b"e1".to_vec())],
            incoming: vec![("p".into(), 7)],
            ..Default::default()
        };
        let changes: Pending = [
            (Key::Message(1), Some(b"new".to_vec())),
            (Key::Message(2), None),
            (Key::Message(3), Some(b"added".to_vec())),
            (Key::Incoming("p".into(), 7), None),
        ]
        .into_iter()
        .collect();
        rows.overlay(&changes);
        rows.messages.sort();
        assert_eq!(rows.messages, vec![(1, b"new".to_vec()), (3, b"added".to_vec())]);
        assert_eq!(rows.queue.len(), 1, "untouched rows stay");
        assert!(rows.incoming.is_empty());
    }
}
