//! The writer thread: folds ops into the model and commits them, with group commit in durable
//! mode and on a timer in periodic mode. A failed commit (disk full, I/O error) keeps every
//! change pending, marks the store unhealthy (new QoS 1/2 publishes are then refused with
//! 0x97) and is retried every second after reopening the file; the first commit that succeeds
//! makes the store healthy again.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::Database;

use super::model::Model;
use super::{store, Cmd, Done};
use crate::config::{PersistenceConfig, PersistenceMode};
use crate::metrics::Metrics;

/// Commands folded into one commit at most (bounds the latency of the first waiter).
const MAX_BATCH: usize = 8192;
/// Pause between retries after a failed commit.
const RETRY: Duration = Duration::from_secs(1);

pub(super) struct Writer {
    db: Option<Database>,
    path: PathBuf,
    model: Model,
    durable: bool,
    interval: Duration,
    metrics: Arc<Metrics>,
    healthy: Arc<AtomicBool>,
    waiters: Vec<Done>,
}

impl Writer {
    pub(super) fn new(
        db: Database,
        model: Model,
        config: &PersistenceConfig,
        metrics: Arc<Metrics>,
        healthy: Arc<AtomicBool>,
    ) -> Self {
        Writer {
            db: Some(db),
            path: config.path.clone(),
            model,
            durable: config.mode == PersistenceMode::Durable,
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
        loop {
            let healthy = self.healthy.load(Ordering::Relaxed);
            let wait = match (healthy, self.durable) {
                (false, _) => Some(next_retry.saturating_duration_since(Instant::now())),
                (true, true) => None,
                (true, false) => Some(next_due.saturating_duration_since(Instant::now())),
            };
            let first = match wait {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(t) => rx.recv_timeout(t),
            };
            let mut force = false;
            let mut stop: Option<Option<Done>> = None;
            match first {
                Ok(cmd) => self.take(cmd, &mut force, &mut stop),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => stop = Some(None),
            }
            let mut n = 1;
            while stop.is_none() && n < MAX_BATCH {
                match rx.try_recv() {
                    Ok(cmd) => self.take(cmd, &mut force, &mut stop),
                    Err(_) => break,
                }
                n += 1;
            }
            let now = Instant::now();
            let due = match healthy {
                true => self.durable || now >= next_due,
                false => now >= next_retry,
            };
            if due || force || stop.is_some() {
                self.commit();
                next_due = Instant::now() + self.interval;
                next_retry = Instant::now() + RETRY;
            } else if !healthy {
                // Not retrying yet: the changes stay pending, their waiters learn they are
                // not on disk (a PUBACK then carries 0x97).
                for w in self.waiters.drain(..) {
                    w(false);
                }
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
            Cmd::Op(op, done) => {
                self.model.apply(op);
                self.metrics.persist_ops.inc();
                if let Some(done) = done {
                    if self.durable {
                        self.waiters.push(done);
                    } else {
                        done(true);
                    }
                }
            }
            Cmd::Flush(done) => {
                *force = true;
                self.waiters.push(done);
            }
            Cmd::Shutdown(done) => {
                *force = true;
                *stop = Some(Some(done));
            }
        }
    }

    /// Writes the pending changes; runs every waiter with the outcome.
    fn commit(&mut self) {
        let ok = self.model.pending.is_empty() || self.write();
        for w in self.waiters.drain(..) {
            w(ok);
        }
    }

    fn write(&mut self) -> bool {
        if self.db.is_none() {
            match store::open(&self.path) {
                Ok(db) => self.db = Some(db),
                Err(e) => {
                    tracing::error!(error = %e, "cannot reopen the store");
                    return false;
                }
            }
        }
        let Some(db) = &self.db else { return false };
        let started = Instant::now();
        match store::commit(db, &self.model.pending) {
            Ok(()) => {
                self.metrics.persist_commit_latency.observe(started.elapsed());
                self.metrics.persist_commits.inc();
                self.model.committed();
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    tracing::info!("store writable again");
                    self.metrics.persist_healthy.set(1);
                }
                true
            }
            Err(e) => {
                self.metrics.persist_failures.inc();
                self.metrics.persist_healthy.set(0);
                if self.healthy.swap(false, Ordering::Relaxed) {
                    tracing::error!(error = %e, "store commit failed; QoS 1/2 publishes are refused until it succeeds");
                }
                // redb asks to be reopened after an I/O error; the pending changes stay.
                self.db = None;
                false
            }
        }
    }
}
