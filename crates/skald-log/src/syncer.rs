//! The syncer thread: makes written groups durable, publishes the committed position, answers.
//!
//! The writer hands over each group right after writing it. The syncer takes every group waiting,
//! runs one `fdatasync` for all of them, publishes the last one's position as committed, then
//! answers their appends. It does not wait for the index: readers do
//! ([`crate::indexer::IndexedPosition::covers`]), so an append's latency is its write and fsync,
//! and the fsync, the indexing and the writing of the next groups overlap.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use skald_core::{AppendOutcome, Error};
use tokio::sync::{mpsc, oneshot, watch};

use crate::storage::{FileRef, StorageFile};
use crate::SyncMode;

/// Groups written but not yet synced, at most; the writer waits when the syncer is this far behind.
pub const SYNC_QUEUE_GROUPS_MAX: usize = 64;

/// An answer owed to an append, once its group is durable.
pub type Answer = (oneshot::Sender<Result<AppendOutcome, Error>>, AppendOutcome);

/// A written group waiting to become durable.
pub struct SyncRequest {
    /// The segment its frames are in.
    pub file: FileRef,
    /// Its last position.
    pub last_position: u64,
    /// Its appends' answers.
    pub answers: Vec<Answer>,
}

/// Why the store stopped writing (shared by the writer, the syncer and the indexer), and the one
/// door every fsync of the log goes through ([`Failure::sync`]).
#[derive(Debug, Default)]
pub struct Failure {
    reason: Mutex<Option<String>>,
    /// Held across each fsync of the log and the recording of its failure.
    syncing: Mutex<()>,
}

impl Failure {
    /// Why the store stopped, if it did.
    pub fn get(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops the store for `reason`, unless it stopped already (the first reason stays).
    pub fn set(&self, reason: String) {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(reason);
    }

    /// Makes a segment durable (`fdatasync`), unless the store has stopped; a failure stops it.
    ///
    /// Linux reports a writeback error to one fsync only and marks the failed pages clean: when
    /// two threads fsync the same file, the one that comes second "succeeds" although the pages the
    /// first failed on never reached the disk. So fsyncs of the log take turns here, and a failed
    /// one is recorded before the next may start: nothing synced after a failure is trusted, and
    /// nothing written before it is acknowledged (the syncer, the indexer's checkpoints and
    /// sealing all come through here).
    pub fn sync(&self, file: &dyn StorageFile) -> Result<(), String> {
        let _one_at_a_time = self.syncing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(reason) = self.get() {
            return Err(reason);
        }
        file.sync_data().map_err(|error| {
            let reason = format!("fsync failed: {error}");
            tracing::error!(%reason, "the store stops taking appends; reopen it to recover");
            self.set(reason.clone());
            reason
        })
    }
}

/// Whether an `fdatasync` of the syncer is running.
///
/// A group written while one runs cannot be answered before the *next* fsync anyway, so the writer
/// waits for the running one to end ([`SyncGate::wait_idle`]) and then writes everything that
/// arrived meanwhile as one group: one write, one hand-over to the syncer and the indexer, instead
/// of one per append that happened to arrive alone. An append arriving while no fsync runs (the
/// usual case at low load) is written at once.
#[derive(Default)]
pub struct SyncGate {
    busy: Mutex<bool>,
    idle: Condvar,
}

impl SyncGate {
    fn set_busy(&self, busy: bool) {
        *self.busy.lock().unwrap_or_else(|p| p.into_inner()) = busy;
        if !busy {
            self.idle.notify_all();
        }
    }

    /// Waits until no fsync runs, but no longer than `limit` (a slow disk must not stall the
    /// writer's error handling or shutdown). Returns whether it waited at all.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        if !*busy {
            return false;
        }
        let _ = self.idle.wait_timeout_while(busy, limit, |busy| *busy).unwrap_or_else(|p| p.into_inner());
        true
    }
}

/// The syncer's state.
pub struct Syncer {
    pub shared: Arc<crate::read::Shared>,
    pub sync: SyncMode,
    pub committed: watch::Sender<Option<u64>>,
    pub failed: Arc<Failure>,
    pub gate: Arc<SyncGate>,
}

impl Syncer {
    /// Runs until the writer drops its end of the queue.
    pub fn run(self, mut queue: mpsc::Receiver<SyncRequest>) {
        let mut batch: Vec<SyncRequest> = Vec::new();
        while let Some(first) = queue.blocking_recv() {
            batch.push(first);
            while let Ok(request) = queue.try_recv() {
                batch.push(request);
            }
            if let Err(reason) = self.failed.get().map_or_else(|| self.sync_files(batch.iter()), Err) {
                let error = Error::storage(format!("the writer stopped after an error: {reason}"));
                for request in batch.drain(..) {
                    answer_all(request, Err(error.clone()));
                }
                continue;
            }
            let last = batch.last().expect("one request at least").last_position;
            // Publish before answering, so an appender's next read sees its own events.
            self.committed.send_if_modified(|committed| {
                let newer = committed.is_none_or(|c| c < last);
                if newer {
                    *committed = Some(last);
                }
                newer
            });
            for request in batch.drain(..) {
                answer_all(request, Ok(()));
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
        let mut synced: Vec<&FileRef> = Vec::with_capacity(2);
        self.gate.set_busy(true);
        let _idle_again = IdleOnDrop(&self.gate);
        for request in batch {
            if synced.iter().any(|f| Arc::ptr_eq(f, &request.file)) {
                continue;
            }
            // After a failed fsync the file's contents are unknown: the store stops writing for good.
            self.failed.sync(request.file.as_ref())?;
            synced.push(&request.file);
        }
        metrics::histogram!("skald_fsync_seconds").record(started.elapsed().as_secs_f64());
        self.shared.stats.syncs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics::histogram!("skald_fsync_groups").record(groups as f64);
        Ok(())
    }
}

/// Marks the gate idle when the fsyncs of a batch are over, however they ended.
struct IdleOnDrop<'g>(&'g SyncGate);

impl Drop for IdleOnDrop<'_> {
    fn drop(&mut self) {
        self.0.set_busy(false);
    }
}

/// Answers every append of a request: with its outcome, or with `result`'s error.
fn answer_all(request: SyncRequest, result: Result<(), Error>) {
    for (reply, outcome) in request.answers {
        let answer = result.clone().map(|()| outcome);
        let _ = reply.send(answer); // the caller may have stopped waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::faults::{FaultPlan, FileKind, Injected, Op};
    use crate::storage::{Open, SimStorage, Storage};

    /// Regression: the syncer and the indexer's checkpoint both fsync the active segment. Linux
    /// reports a writeback error to one of them only and drops the pages; the other's fsync then
    /// succeeds without them, and the syncer acknowledged appends that a power cut took away.
    #[test]
    fn no_fsync_is_trusted_after_a_failed_one() {
        let sim = SimStorage::new();
        sim.create_dir_all(std::path::Path::new("/s")).unwrap();
        let file = sim.open(std::path::Path::new("/s/0.seg"), Open::CreateNew).unwrap();
        let failed = Failure::default();
        file.write_all_at(b"written before the failure", 0).unwrap();
        let plan = FaultPlan::always(FileKind::Segment, Op::Sync, Injected::Io);
        sim.set_plan(FaultPlan { drop_unsynced_on_sync_error: true, ..plan });
        assert!(failed.sync(file.as_ref()).unwrap_err().contains("fsync failed"));
        sim.set_plan(FaultPlan::none());
        assert!(file.sync_data().is_ok(), "the disk itself now says yes, without the dropped pages");
        assert!(failed.sync(file.as_ref()).is_err(), "the store does not believe it");
        assert_eq!(sim.stats().syncs, 2, "nor does it ask the disk again");
    }

    #[test]
    fn the_writer_waits_for_a_running_fsync_only() {
        let gate = Arc::new(SyncGate::default());
        assert!(!gate.wait_idle(Duration::from_secs(60)), "no fsync runs: no wait");
        gate.set_busy(true);
        let ending = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                let _idle = IdleOnDrop(&gate);
            })
        };
        let started = Instant::now();
        assert!(gate.wait_idle(Duration::from_secs(60)));
        assert!(!*gate.busy.lock().unwrap(), "woken because the fsync ended, not by the time limit");
        assert!(started.elapsed() < Duration::from_secs(60));
        ending.join().unwrap();
        assert!(!gate.wait_idle(Duration::from_secs(60)));
    }
}
