//! The syncer thread: makes written groups durable, publishes the committed position, answers.
//!
//! The writer hands over each group it wrote (and indexed) as a [`SyncRequest`]. The syncer takes
//! every request waiting, runs one `fdatasync` for all of them, then publishes the newest
//! position and answers their appends. While it waits for the disk, the writer already prepares
//! and writes the next groups: the fsync and the CPU work of the writer overlap.

use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use skald_core::{AppendOutcome, Error};
use tokio::sync::{mpsc, oneshot, watch};

use crate::SyncMode;

/// Groups written but not yet synced, at most; the writer waits when the syncer is this far behind.
pub const SYNC_QUEUE_GROUPS_MAX: usize = 64;

/// An answer owed to an append, once its group is durable.
pub type Answer = (oneshot::Sender<Result<AppendOutcome, Error>>, AppendOutcome);

/// A written group waiting to become durable.
pub struct SyncRequest {
    /// The segment its frames are in.
    pub file: Arc<File>,
    /// Its last position.
    pub last_position: u64,
    /// Its appends' answers.
    pub answers: Vec<Answer>,
}

/// Why the store stopped writing, shared by the writer and the syncer.
pub type Failure = Arc<Mutex<Option<String>>>;

/// Reads the failure, if any.
pub fn failure(failed: &Failure) -> Option<String> {
    failed.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The syncer's state.
pub struct Syncer {
    pub sync: SyncMode,
    pub committed: watch::Sender<Option<u64>>,
    pub failed: Failure,
}

impl Syncer {
    /// Runs until the writer drops its end of the queue.
    pub fn run(self, mut queue: mpsc::Receiver<SyncRequest>) {
        while let Some(first) = queue.blocking_recv() {
            let mut batch = vec![first];
            while let Ok(request) = queue.try_recv() {
                batch.push(request);
            }
            let result = match failure(&self.failed) {
                Some(reason) => Err(format!("the writer stopped after an error: {reason}")),
                None => self.sync_files(&batch),
            };
            match result {
                Ok(()) => {
                    let last = batch.last().expect("a batch is not empty").last_position;
                    self.committed.send_replace(Some(last));
                    for request in batch {
                        for (reply, outcome) in request.answers {
                            let _ = reply.send(Ok(outcome)); // the caller may have stopped waiting
                        }
                    }
                }
                Err(reason) => {
                    for request in batch {
                        for (reply, _) in request.answers {
                            let _ = reply.send(Err(Error::storage(reason.clone())));
                        }
                    }
                }
            }
        }
    }

    /// One fdatasync per distinct file of the batch (two only when a segment was sealed meanwhile).
    fn sync_files(&self, batch: &[SyncRequest]) -> Result<(), String> {
        if self.sync != SyncMode::Fsync {
            return Ok(());
        }
        let started = Instant::now();
        let mut synced: Vec<&Arc<File>> = Vec::with_capacity(2);
        for request in batch {
            if synced.iter().any(|f| Arc::ptr_eq(f, &request.file)) {
                continue;
            }
            if let Err(error) = request.file.sync_data() {
                // After a failed fsync the file's contents are unknown: stop writing for good.
                let reason = format!("fsync failed: {error}");
                tracing::error!(%reason, "the store stops taking appends; reopen it to recover");
                *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
                return Err(reason);
            }
            synced.push(&request.file);
        }
        metrics::histogram!("skald_fsync_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("skald_fsync_groups").record(batch.len() as f64);
        Ok(())
    }
}
