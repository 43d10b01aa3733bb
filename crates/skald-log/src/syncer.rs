//! The syncer thread: makes written groups durable, publishes the committed position, answers.
//!
//! The writer hands over each group right after writing it ([`SyncMessage::Written`]), then passes
//! it to the indexer ([`crate::indexer`]), which says how far it got after each index commit
//! ([`SyncMessage::Indexed`]). The syncer takes every message waiting, runs one `fdatasync` for all
//! groups written so far, and releases a group once it is both durable and indexed: it publishes
//! the group's last position as committed, then answers its appends. The fsync, the indexing and
//! the writing of the next groups overlap.

use std::collections::VecDeque;
use std::fs::File;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use skald_core::{AppendOutcome, Error};
use tokio::sync::{mpsc, oneshot, watch};

use crate::segment::Disk;
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

/// What the writer tells the syncer, in log order.
pub enum SyncMessage {
    /// A group's frames are written (not yet durable).
    Written(SyncRequest),
    /// The index covers every event up to this position.
    Indexed(u64),
    /// The groups from this position on were not indexed and are cut from the file: answer them
    /// with this error.
    Failed { from_position: u64, error: Error },
}

/// Why the store stopped writing, shared by the writer and the syncer.
pub type Failure = Arc<Mutex<Option<String>>>;

/// Reads the failure, if any.
pub fn failure(failed: &Failure) -> Option<String> {
    failed.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The syncer's state.
pub struct Syncer {
    pub shared: Arc<crate::read::Shared>,
    pub sync: SyncMode,
    pub disk: Arc<dyn Disk>,
    pub committed: watch::Sender<Option<u64>>,
    pub failed: Failure,
    /// How far the index reached when the store opened; `Indexed` messages move it on.
    pub indexed: Option<u64>,
}

impl Syncer {
    /// Runs until the writer drops its end of the queue.
    pub fn run(self, mut queue: mpsc::Receiver<SyncMessage>) {
        let mut waiting: VecDeque<SyncRequest> = VecDeque::new();
        let mut unsynced = 0usize; // requests at the back of `waiting` written after the last fsync
        let (mut synced, mut indexed): (Option<u64>, Option<u64>) = (None, self.indexed);
        loop {
            if unsynced == 0 {
                // Nothing to make durable: wait for the writer.
                match queue.blocking_recv() {
                    Some(message) => self.take(message, &mut waiting, &mut unsynced, &mut indexed),
                    None => break,
                }
            }
            while let Ok(message) = queue.try_recv() {
                self.take(message, &mut waiting, &mut unsynced, &mut indexed);
            }
            if unsynced > 0 {
                let fresh = waiting.range(waiting.len() - unsynced..);
                match failure(&self.failed).map_or_else(|| self.sync_files(fresh), Err) {
                    Ok(()) => synced = waiting.back().map(|r| r.last_position),
                    Err(reason) => {
                        for request in waiting.drain(..) {
                            answer_all(
                                request,
                                Err(Error::storage(format!("the writer stopped after an error: {reason}"))),
                            );
                        }
                    }
                }
                unsynced = 0;
            }
            let released = synced.min(indexed);
            let Some(bound) = released else { continue };
            if waiting.front().is_some_and(|r| r.last_position <= bound) {
                let mut done = Vec::new();
                while waiting.front().is_some_and(|r| r.last_position <= bound) {
                    done.extend(waiting.pop_front());
                }
                let last = done.last().expect("released at least one").last_position;
                // Publish before answering, so an appender's next read sees its own events.
                self.committed.send_if_modified(|committed| {
                    let newer = committed.is_none_or(|c| c < last);
                    if newer {
                        *committed = Some(last);
                    }
                    newer
                });
                for request in done {
                    answer_all(request, Ok(()));
                }
            }
        }
        for request in waiting {
            answer_all(request, Err(Error::ShuttingDown));
        }
    }

    fn take(
        &self,
        message: SyncMessage,
        waiting: &mut VecDeque<SyncRequest>,
        unsynced: &mut usize,
        indexed: &mut Option<u64>,
    ) {
        match message {
            SyncMessage::Written(request) => {
                waiting.push_back(request);
                *unsynced += 1;
            }
            SyncMessage::Indexed(position) => *indexed = Some(position),
            SyncMessage::Failed { from_position, error } => {
                while waiting.back().is_some_and(|r| r.last_position >= from_position) {
                    let request = waiting.pop_back().expect("checked");
                    answer_all(request, Err(error.clone()));
                    *unsynced = unsynced.saturating_sub(1);
                }
            }
        }
    }

    /// One fdatasync per distinct file of the batch (two only when a segment was sealed meanwhile).
    fn sync_files<'r>(&self, batch: impl ExactSizeIterator<Item = &'r SyncRequest>) -> Result<(), String> {
        if self.sync != SyncMode::Fsync {
            return Ok(());
        }
        let started = Instant::now();
        let groups = batch.len();
        let mut synced: Vec<&Arc<File>> = Vec::with_capacity(2);
        for request in batch {
            if synced.iter().any(|f| Arc::ptr_eq(f, &request.file)) {
                continue;
            }
            if let Err(error) = self.disk.sync(&request.file) {
                // After a failed fsync the file's contents are unknown: stop writing for good.
                let reason = format!("fsync failed: {error}");
                tracing::error!(%reason, "the store stops taking appends; reopen it to recover");
                *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
                return Err(reason);
            }
            synced.push(&request.file);
        }
        metrics::histogram!("skald_fsync_seconds").record(started.elapsed().as_secs_f64());
        self.shared.stats.syncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics::histogram!("skald_fsync_groups").record(groups as f64);
        Ok(())
    }
}

/// Answers every append of a request: with its outcome, or with `result`'s error.
fn answer_all(request: SyncRequest, result: Result<(), Error>) {
    for (reply, outcome) in request.answers {
        let answer = result.clone().map(|()| outcome);
        let _ = reply.send(answer); // the caller may have stopped waiting
    }
}
