//! The writer thread: folds ops into the model and commits them: in durable mode by group
//! commit to the write-ahead log (and a checkpoint into the store every second), in periodic
//! mode into the store on a timer. A failed commit (disk full, I/O error) keeps every change
//! pending, marks the store unhealthy (new QoS 1/2 publishes are then refused with 0x97) and
//! is retried every second (after reopening the store file); the first commit that succeeds
//! makes the store healthy again. A failed checkpoint only delays the checkpoint: the log
//! still holds every change.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::Database;

use super::inbox::{Empty, Receiver};
use super::model::Model;
use super::wal::Wal;
use super::{store, Cmd, Done, StoreError, Waiter};
use crate::config::PersistenceConfig;
use crate::metrics::Metrics;

/// Pause between retries after a failed commit.
const RETRY: Duration = Duration::from_secs(1);
/// Durable mode: the store takes the log's changes at least this often...
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// ...or when the log has grown this large.
const CHECKPOINT_BYTES: u64 = 64 << 20;

pub(super) struct Writer {
    db: Option<Database>,
    /// Durable mode's write-ahead log.
    wal: Option<Wal>,
    last_checkpoint: Instant,
    /// The last checkpoint failed (logged once, not every second).
    checkpoint_failing: bool,
    path: PathBuf,
    model: Model,
    interval: Duration,
    metrics: Arc<Metrics>,
    healthy: Arc<AtomicBool>,
    waiters: Vec<Waiter>,
}

impl Writer {
    pub(super) fn new(
        db: Database,
        wal: Option<Wal>,
        mut model: Model,
        config: &PersistenceConfig,
        metrics: Arc<Metrics>,
        healthy: Arc<AtomicBool>,
    ) -> Self {
        if wal.is_some() {
            model.start_log();
        }
        Writer {
            db: Some(db),
            wal,
            last_checkpoint: Instant::now(),
            checkpoint_failing: false,
            path: config.path.clone(),
            model,
            interval: Duration::from_secs(config.snapshot_interval_secs.max(1)),
            metrics,
            healthy,
            waiters: Vec::new(),
        }
    }

    pub(super) fn run(mut self, rx: Receiver<Cmd>) {
        let mut next_due = Instant::now() + self.interval;
        // While unhealthy, commits are tried no sooner than this (not once per change).
        let mut next_retry = Instant::now();
        let mut batch = Vec::new();
        loop {
            let healthy = self.healthy.load(Ordering::Relaxed);
            let wait = match (healthy, self.durable()) {
                (false, _) => Some(next_retry.saturating_duration_since(Instant::now())),
                (true, true) => None,
                (true, false) => Some(next_due.saturating_duration_since(Instant::now())),
            };
            // Everything sent while the previous commit was being written goes into this one.
            let got = rx.take_all(&mut batch, wait);
            let mut force = false;
            let mut stop: Option<Option<Done>> = None;
            self.model.new_batch();
            if got == Err(Empty::Disconnected) {
                stop = Some(None);
            }
            for cmd in batch.drain(..) {
                if stop.is_some() {
                    break;
                }
                self.take(cmd, &mut force, &mut stop);
            }
            let now = Instant::now();
            let due = match healthy {
                true => self.durable() || now >= next_due,
                false => now >= next_retry,
            };
            if due || force || stop.is_some() {
                self.commit(force || stop.is_some());
                next_due = Instant::now() + self.interval;
                next_retry = Instant::now() + RETRY;
            } else if !healthy {
                // Not retrying yet: the changes stay pending, their waiters learn they are
                // not on disk (a PUBACK then carries 0x97).
                Waiter::finish_all(self.waiters.drain(..), false);
            }
            if let Some(done) = stop {
                if let Some(done) = done {
                    done(self.healthy.load(Ordering::Relaxed));
                }
                return;
            }
        }
    }

    fn take(&mut self, cmd: Cmd, force: &mut bool, stop: &mut Option<Option<Done>>) {
        match cmd {
            Cmd::Op(op, waiter) => {
                self.model.apply(op);
                self.metrics.persist_ops.inc();
                if let Some(w) = waiter {
                    if self.durable() {
                        self.waiters.push(w);
                    } else {
                        Waiter::finish_all(std::iter::once(w), true);
                    }
                }
            }
            Cmd::Flush(done) => {
                *force = true;
                self.waiters.push(Waiter::Call(done));
            }
            Cmd::Shutdown(done) => {
                *force = true;
                *stop = Some(Some(done));
            }
        }
    }

    /// Durable mode (which is what has a write-ahead log).
    fn durable(&self) -> bool {
        self.wal.is_some()
    }

    /// Writes the pending changes (`checkpoint`: into the store file too, in durable mode);
    /// runs every waiter with the outcome.
    fn commit(&mut self, checkpoint: bool) {
        let ok = match self.wal.is_some() {
            true => self.append_log(checkpoint),
            false => !self.model.has_changes() || self.write(),
        };
        Waiter::finish_all(self.waiters.drain(..), ok);
    }

    /// Durable mode: appends the row changes made since the last append to the log, then
    /// checkpoints when one is due.
    fn append_log(&mut self, force_checkpoint: bool) -> bool {
        let Some(wal) = &mut self.wal else { return false };
        if !self.model.log().is_empty() {
            let started = Instant::now();
            if let Err(e) = wal.append(self.model.log()) {
                self.failed(&StoreError::Io(e.to_string()));
                return false;
            }
            self.model.clear_log();
            self.metrics.persist_commit_latency.observe(started.elapsed());
            self.metrics.persist_commits.inc();
            self.metrics.persist_log_bytes.set(i64::try_from(wal.len()).unwrap_or(i64::MAX));
        }
        let full = wal.len() >= CHECKPOINT_BYTES;
        self.writable();
        let due = force_checkpoint || full || self.last_checkpoint.elapsed() >= CHECKPOINT_EVERY;
        if due {
            self.checkpoint();
        }
        true
    }

    /// Durable mode: puts everything the log holds into the store and empties the log. On
    /// failure the log keeps it all; the next checkpoint is tried a second later.
    fn checkpoint(&mut self) {
        self.last_checkpoint = Instant::now();
        let Some(wal) = &self.wal else { return };
        if wal.is_empty() && !self.model.has_changes() {
            return;
        }
        let result = self.commit_store();
        if result.is_ok() {
            if let Some(Err(e)) = self.wal.as_mut().map(Wal::reset) {
                // The log is empty all the same (its next frame overwrites the old ones).
                tracing::warn!(error = %e, "could not clear the write-ahead log's first frame after a checkpoint");
            }
            self.metrics.persist_checkpoints.inc();
            self.metrics.persist_log_bytes.set(0);
        }
        match result {
            Ok(()) if self.checkpoint_failing => {
                self.checkpoint_failing = false;
                tracing::info!("checkpoint of the write-ahead log into the store succeeded again");
            }
            Ok(()) => {}
            Err(e) => {
                self.metrics.persist_failures.inc();
                if !self.checkpoint_failing {
                    self.checkpoint_failing = true;
                    tracing::error!(error = %e, "checkpoint of the write-ahead log into the store failed (the log keeps every change); retrying every second");
                }
            }
        }
    }

    /// Periodic mode: writes the pending changes into the store.
    fn write(&mut self) -> bool {
        match self.commit_store() {
            Ok(()) => {
                self.writable();
                true
            }
            Err(e) => {
                self.failed(&e);
                false
            }
        }
    }

    /// Commits the pending changes into the store file (one transaction, one fsync).
    fn commit_store(&mut self) -> Result<(), StoreError> {
        if self.db.is_none() {
            self.db = Some(store::open(&self.path)?);
        }
        let Some(db) = &self.db else { return Err(StoreError::Io("store not open".into())) };
        let started = Instant::now();
        let rows = self.model.commit_rows();
        let changes = self.model.pending.iter().chain(rows.iter().map(|(k, v)| (k, v)));
        match store::commit(db, changes) {
            Ok(()) => {
                if self.wal.is_none() {
                    self.metrics.persist_commit_latency.observe(started.elapsed());
                    self.metrics.persist_commits.inc();
                }
                self.model.committed();
                Ok(())
            }
            Err(e) => {
                // redb asks to be reopened after an I/O error; the pending changes stay.
                self.db = None;
                Err(e)
            }
        }
    }

    /// A commit succeeded: the store is healthy (again).
    fn writable(&mut self) {
        if !self.healthy.swap(true, Ordering::Relaxed) {
            tracing::info!("store writable again");
            self.metrics.persist_healthy.set(1);
        }
    }

    /// A commit failed: new QoS 1/2 publishes are refused until one succeeds.
    fn failed(&mut self, e: &StoreError) {
        self.metrics.persist_failures.inc();
        self.metrics.persist_healthy.set(0);
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::error!(error = %e, "store commit failed; QoS 1/2 publishes are refused until it succeeds");
        }
    }
}
