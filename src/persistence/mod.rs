//! Persistence: sessions, queued and in-flight QoS 1/2 messages, retained messages and wills
//! in an embedded [redb](https://docs.rs/redb) file, written by a thread of its own.
//!
//! # Why redb
//!
//! redb is a pure-Rust, single-file, ACID key-value store (copy-on-write B-trees, checksummed
//! pages, crash-safe commits with one fsync each), actively maintained with a stable file
//! format. The broker's state is small keyed rows that change one at a time, which is exactly
//! what a B-tree with transactions does well; an LSM engine such as fjall shines at write
//! volumes far above an MQTT broker's and brings compaction threads and several files to
//! operate. One file is also one thing to back up, move or delete.
//!
//! # How state flows
//!
//! The router and sessions keep owning the live state. They describe every change that must
//! survive a restart as an [`Op`] and hand it to the [`StoreHandle`]; the writer thread
//! ([`writer`]) folds the ops into its [`model::Model`] and commits them in batches: in
//! `durable` mode as soon as it can (group commit: everything that arrived during the previous
//! fsync goes into the next one) and runs the callbacks that wait for it (PUBACK/PUBREC, QoS 2
//! packet ids), in `periodic` mode every `snapshot_interval_secs`. In `durable` mode a group
//! commit is an append to the write-ahead log ([`wal`]), and the store file takes the
//! changes in a checkpoint every second (or 64 MiB of log). At startup [`open`] replays the
//! log into the store, then reads the file back into a [`recovery::Recovered`] the router
//! starts from.

mod inbox;
pub mod model;
pub mod records;
pub mod recovery;
pub mod store;
pub mod wal;
mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use bytestring::ByteString;

use crate::config::{PersistenceConfig, PersistenceMode};
use crate::message::Message;
use crate::metrics::Metrics;
use records::{EntryRecord, SubRecord, WillRecord};
pub use recovery::Recovered;

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is damaged or not a store.
    #[error("the store is corrupt or unreadable ({0}); see docs/operations.md, \"Recovering from a damaged store\"")]
    Corrupt(String),
    /// The file was written by a newer format.
    #[error("the store has format version {0}, this broker reads version {v}; use the broker version that wrote it", v = store::FORMAT_VERSION)]
    Version(u64),
    /// Another process has the file open.
    #[error("the store is in use by another process")]
    Locked,
    /// Reading or writing failed.
    #[error("store I/O error: {0}; see docs/operations.md, \"Recovering from a damaged store\"")]
    Io(String),
}

/// Runs once the change it was sent with is on disk (`true`) or could not be written
/// (`false`).
pub type Done = Box<dyn FnOnce(bool) + Send>;

/// Takes the outcome of many waiting acknowledgements at once (a publisher's session).
pub trait AckSink: Send + Sync {
    /// The changes sent with these sequence numbers are on disk (`ok`), or could not be
    /// written; in the order they were sent.
    fn acked(&self, seqs: Vec<u64>, ok: bool);
}

/// What waits for a change to reach the disk.
pub enum Waiter {
    /// A callback.
    Call(Done),
    /// A publisher's acknowledgement: all of one sink's sequence numbers in a commit are
    /// handed over in one call (one message and one wake-up per session and commit, instead
    /// of one per publish).
    Ack(Arc<dyn AckSink>, u64),
}

impl Waiter {
    /// Runs every waiter with the outcome, grouping acknowledgements by sink.
    fn finish_all(waiters: impl Iterator<Item = Waiter>, ok: bool) {
        let mut groups: Vec<(Arc<dyn AckSink>, Vec<u64>)> = Vec::new();
        for w in waiters {
            match w {
                Waiter::Call(done) => done(ok),
                Waiter::Ack(sink, seq) => {
                    match groups
                        .iter_mut()
                        .find(|(s, _)| std::ptr::addr_eq(Arc::as_ptr(s), Arc::as_ptr(&sink)))
                    {
                        Some((_, seqs)) => seqs.push(seq),
                        None => groups.push((sink, vec![seq])),
                    }
                }
            }
        }
        for (sink, seqs) in groups {
            sink.acked(seqs, ok);
        }
    }
}

/// One change to the persistent state.
#[derive(Debug)]
pub enum Op {
    /// A persistent session connected.
    SessionUp {
        /// Client id.
        client: String,
        /// Session Expiry Interval.
        expiry_secs: u32,
    },
    /// A persistent session's client disconnected.
    SessionDown {
        /// Client id.
        client: String,
        /// Session Expiry Interval in force.
        expiry_secs: u32,
        /// When.
        at_unix_ms: u64,
    },
    /// A session ended: every row of the client goes.
    SessionEnd {
        /// Client id.
        client: String,
    },
    /// A subscription was added or replaced.
    Subscribe {
        /// Client id.
        client: String,
        /// Filter as written.
        filter: String,
        /// What to restore.
        record: SubRecord,
    },
    /// A subscription was removed.
    Unsubscribe {
        /// Client id.
        client: String,
        /// Filter as written.
        filter: String,
    },
    /// A message was routed to persistent sessions.
    Routed {
        /// Message id.
        msg_id: u64,
        /// The message.
        message: Arc<Message>,
        /// (client, sequence, entry) per persistent subscriber.
        targets: Targets,
        /// The publisher's QoS 2 packet id.
        incoming: Option<(ByteString, u16)>,
    },
    /// A retained message was set (`Some`) or cleared.
    Retain {
        /// Topic.
        topic: String,
        /// The message.
        message: Option<Arc<Message>>,
    },
    /// A queued QoS 2 message got its packet id (written before the PUBLISH leaves).
    Assign {
        /// Sequence (unique across clients).
        seq: u64,
        /// Packet id.
        packet_id: u16,
    },
    /// PUBREC arrived for a QoS 2 message (written before PUBREL leaves).
    Release {
        /// Sequence.
        seq: u64,
    },
    /// A queued message was acknowledged, expired or dropped.
    Complete {
        /// Sequence.
        seq: u64,
    },
    /// PUBREL arrived for an incoming QoS 2 message.
    IncomingDone {
        /// Client id.
        client: ByteString,
        /// Packet id.
        packet_id: u16,
    },
    /// A will was registered (`Some`) or is gone (published, cancelled).
    Will {
        /// Client id.
        client: String,
        /// The will.
        will: Option<Box<WillRecord>>,
    },
}

/// The persistent sessions a message was queued for: (client, sequence, entry). One inline:
/// most messages have one persistent subscriber, and a heap block made on a session thread
/// and freed on the writer's costs the session thread to reclaim.
pub type Targets = smallvec::SmallVec<[(ByteString, u64, EntryRecord); 1]>;

enum Cmd {
    Op(Op, Option<Waiter>),
    Flush(Done),
    Shutdown(Done),
}

/// Sends changes to the writer thread. Cheap to clone.
#[derive(Clone)]
pub struct StoreHandle {
    tx: inbox::Sender<Cmd>,
    durable: bool,
    healthy: Arc<AtomicBool>,
}

impl StoreHandle {
    /// True in durable mode: acknowledgements wait for the disk.
    pub fn durable(&self) -> bool {
        self.durable
    }

    /// False after a failed commit (disk full, I/O error) until a commit succeeds again.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Records a change; it reaches the disk with the next commit.
    pub fn send(&self, op: Op) {
        let _ = self.tx.send(Cmd::Op(op, None));
    }

    /// Records a change and runs `done` once it is committed (durable mode) or at once
    /// (periodic mode).
    pub fn send_then(&self, op: Op, done: Done) {
        self.send_waiting(op, Waiter::Call(done));
    }

    /// Records a change and hands `waiter` the outcome once it is committed (durable mode)
    /// or at once (periodic mode).
    pub fn send_waiting(&self, op: Op, waiter: Waiter) {
        if let Err(Cmd::Op(_, Some(w))) = self.tx.send(Cmd::Op(op, Some(waiter))) {
            Waiter::finish_all(std::iter::once(w), false);
        }
    }

    /// Commits everything sent so far, then runs `done`.
    pub fn flush(&self, done: Done) {
        if let Err(Cmd::Flush(done)) = self.tx.send(Cmd::Flush(done)) {
            done(false);
        }
    }

    /// Commits everything sent so far and stops the writer; runs `done` after.
    pub fn shutdown(&self, done: Done) {
        if let Err(Cmd::Shutdown(done)) = self.tx.send(Cmd::Shutdown(done)) {
            done(false);
        }
    }
}

/// An open store: the handle, what was recovered, and the writer thread.
pub struct OpenStore {
    /// Sends changes.
    pub handle: StoreHandle,
    /// The state read at startup.
    pub recovered: Recovered,
    /// The writer thread (ends after [`StoreHandle::shutdown`] or when every handle is gone).
    pub thread: JoinHandle<()>,
}

/// Opens the store of `config` (unless persistence is off), reads it back and starts the
/// writer thread.
pub fn open(config: &PersistenceConfig, metrics: Arc<Metrics>) -> Result<Option<OpenStore>, StoreError> {
    if config.mode == PersistenceMode::Off {
        return Ok(None);
    }
    let mut db = store::open(&config.path)?;
    let wal_path = wal::path_of(&config.path);
    let mut replay = wal::replay(&wal_path)?;
    // The log's changes go into the store now; if they cannot (a full disk), they are
    // overlaid on what the store holds, stay in the log and wait for the first checkpoint.
    let mut carried = None;
    if replay.frames > 0 {
        match store::commit(&db, &replay.rows) {
            Ok(()) => {
                tracing::info!(path = %wal_path.display(), frames = replay.frames, rows = replay.rows.len(), "write-ahead log replayed into the store")
            }
            Err(e) => {
                tracing::warn!(path = %wal_path.display(), error = %e, "cannot write the write-ahead log into the store yet; keeping it");
                carried = Some(std::mem::take(&mut replay.rows));
                // redb wants to be reopened after a failed commit.
                drop(db);
                db = store::open(&config.path)?;
            }
        }
    }
    let wal = match config.mode {
        PersistenceMode::Durable => Some(wal::Wal::open(&wal_path, carried.is_some().then_some(&replay))?),
        _ if carried.is_some() => {
            return Err(StoreError::Io(format!(
            "{} holds changes the store cannot take now (disk full?); start in durable mode or free space",
            wal_path.display()
        )))
        }
        _ => match std::fs::remove_file(&wal_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StoreError::Io(format!("{}: {e}", wal_path.display())))
            }
            _ => None,
        },
    };
    let mut rows = store::load(&db)?;
    if let Some(changes) = &carried {
        rows.overlay(changes);
    }
    let (recovered, mut model) = recovery::recover(rows)?;
    if let Some(changes) = carried {
        // Not in the store file yet: the first checkpoint writes them (what recovery decided
        // about a row, such as deleting an orphan, comes first).
        for (key, value) in changes {
            model.pending.entry(key).or_insert(value);
        }
    }
    tracing::info!(
        path = %config.path.display(), sessions = recovered.sessions.len(),
        retained = recovered.retained.len(), wills = recovered.wills.len(),
        "store opened ({:?} mode)", config.mode
    );
    let (tx, rx) = inbox::inbox();
    let healthy = Arc::new(AtomicBool::new(true));
    let w = writer::Writer::new(db, wal, model, config, metrics, healthy.clone());
    let thread = std::thread::Builder::new()
        .name("aviary-store".into())
        .spawn(move || w.run(rx))
        .map_err(|e| StoreError::Io(e.to_string()))?;
    let handle = StoreHandle { tx, durable: config.mode == PersistenceMode::Durable, healthy };
    Ok(Some(OpenStore { handle, recovered, thread }))
}
