//! The indexer thread: writes the indexes of written groups, many groups per index transaction.
//!
//! The writer hands over each group right after writing it ([`IndexJob`]: its accepted appends and
//! where each event went). The indexer takes every job waiting (up to [`INDEX_BATCH_GROUPS_MAX`]),
//! indexes them in one redb transaction, and after the commit publishes the position it reached
//! ([`IndexedPosition`]): the writer prunes its overlay by it ([`crate::pending`]) and reads wait for
//! it to cover the committed position. Appends do not wait for it. Under load redb's per-transaction
//! cost (about 150 µs here) is shared by every group of a batch instead of being paid per group;
//! while no reader waits and no subscription follows the log, the indexer also lingers up to
//! [`INDEX_LINGER_MAX`] so that batches grow (a reader that starts waiting ends the linger at once).
//!
//! Commits are not durable (the index is derived data) except at checkpoints, every
//! `checkpoint_interval` or `checkpoint_events`: then the log is fsynced first, because a durable
//! index must never cover log bytes that a crash could take back.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use skald_core::{Error, StreamAppend, Timestamp};
use tokio::sync::{mpsc, watch};

use crate::format::EventView;
use crate::index::{IndexedEvent, Location};
use crate::read::Shared;
use crate::storage::FileRef;
use crate::syncer::Failure;
use crate::SyncMode;

/// Groups written but not yet indexed, at most; the writer waits when the indexer is this far behind.
pub const INDEX_QUEUE_GROUPS_MAX: usize = 256;
/// Groups indexed in one transaction at most.
pub const INDEX_BATCH_GROUPS_MAX: usize = 256;
/// How long the indexer waits for more groups before a commit while no reader waits for it and no
/// subscription follows the log.
///
/// An index commit costs about as much as indexing a hundred events (redb copies every B-tree page
/// it touches once per transaction), and appends never wait for the index, so while nobody reads
/// it pays to commit less often. A reader that starts waiting ends the wait at once. 12 ms rather
/// than 4: under saga load it halved the commits (0.03 → 0.01 per saga) and took 2–3 % off the CPU
/// per saga, measured with both builds running side by side; the overlay it costs is bounded by
/// [`INDEX_QUEUE_GROUPS_MAX`].
pub const INDEX_LINGER_MAX: Duration = Duration::from_millis(12);

/// Where one event of a job went.
#[derive(Clone, Copy, Debug)]
pub struct Placed {
    pub position: u64,
    pub version: u64,
    pub location: Location,
}

/// A written group to index: its accepted appends, in order, and where each of their events went.
pub struct IndexJob {
    pub appends: Vec<Vec<StreamAppend>>,
    /// One entry per event of `appends`, in the same order.
    pub placed: Vec<Placed>,
    pub timestamp: Timestamp,
    /// The segment the group was written to (fsynced before a durable commit).
    pub file: FileRef,
}

impl IndexJob {
    fn last_position(&self) -> u64 {
        self.placed[self.placed.len() - 1].position
    }

    /// The job's events as the index sees them.
    fn events(&self) -> impl Iterator<Item = IndexedEvent<'_>> {
        let events = self.appends.iter().flatten().flat_map(|append| append.events.iter().map(move |e| (append, e)));
        events.zip(&self.placed).map(|((append, event), placed)| IndexedEvent {
            event: EventView {
                position: placed.position,
                version: placed.version,
                timestamp: self.timestamp,
                id: event.id,
                stream: &append.stream,
                event_type: &event.event_type,
                data: event.data.as_bytes(),
                metadata: event.metadata.as_bytes(),
            },
            location: placed.location,
        })
    }
}

/// How far the index reaches, published by the indexer after each commit: the writer prunes its
/// overlay by it, and reads wait for it to cover the committed position they read up to.
#[derive(Debug)]
pub struct IndexedPosition {
    progress: watch::Sender<IndexProgress>,
    /// Readers waiting in [`Self::covers`]; the indexer lingers only while there are none.
    readers_waiting: Mutex<usize>,
    reader_arrived: Condvar,
}

/// What [`IndexedPosition`] publishes.
#[derive(Clone, Debug, Default)]
pub struct IndexProgress {
    /// The last position indexed.
    pub position: Option<u64>,
    /// Why indexing stopped, if it did.
    pub failed: Option<String>,
}

impl IndexedPosition {
    pub fn new(position: Option<u64>) -> Self {
        IndexedPosition {
            progress: watch::Sender::new(IndexProgress { position, failed: None }),
            readers_waiting: Mutex::new(0),
            reader_arrived: Condvar::new(),
        }
    }

    /// The last position indexed.
    pub fn get(&self) -> Option<u64> {
        self.progress.borrow().position
    }

    /// (Indexer) Waits up to `limit` unless or until a reader waits for the index. Returns
    /// whether it waited.
    fn linger(&self, limit: Duration) -> bool {
        let waiting = self.readers_waiting.lock().unwrap_or_else(|p| p.into_inner());
        if *waiting > 0 {
            return false;
        }
        let _ = self.reader_arrived.wait_timeout_while(waiting, limit, |w| *w == 0).unwrap_or_else(|p| p.into_inner());
        true
    }

    fn reader_waits(&self, delta: isize) {
        let mut waiting = self.readers_waiting.lock().unwrap_or_else(|p| p.into_inner());
        *waiting = waiting.checked_add_signed(delta).expect("every waiting reader is counted once");
        if delta > 0 {
            self.reader_arrived.notify_one();
        }
    }

    pub(crate) fn publish(&self, position: u64) {
        self.progress.send_modify(|progress| {
            assert!(progress.position.is_none_or(|p| p < position), "the index only moves forward");
            progress.position = Some(position);
        });
    }

    fn fail(&self, reason: String) {
        self.progress.send_modify(|progress| {
            progress.failed.get_or_insert(reason);
        });
    }

    /// Waits until the index covers `position` (a committed position: durable, so the indexer is
    /// at most a few groups behind it).
    pub async fn covers(&self, position: Option<u64>) -> Result<(), Error> {
        let Some(position) = position else { return Ok(()) };
        let reached = |progress: &IndexProgress| progress.failed.is_some() || progress.position >= Some(position);
        let mut progress = self.progress.subscribe();
        let _counted = if reached(&progress.borrow()) { None } else { Some(WaitingReader::new(self)) };
        let progress = progress.wait_for(reached).await.map_err(|_| Error::ShuttingDown)?;
        match &progress.failed {
            None => Ok(()),
            Some(reason) => {
                Err(Error::storage(format!("the index stopped following the log ({reason}); reopen the store")))
            }
        }
    }
}

/// Counts a reader as waiting for the index for as long as it lives (also if its read is dropped).
struct WaitingReader<'p>(&'p IndexedPosition);

impl<'p> WaitingReader<'p> {
    fn new(position: &'p IndexedPosition) -> Self {
        position.reader_waits(1);
        WaitingReader(position)
    }
}

impl Drop for WaitingReader<'_> {
    fn drop(&mut self) {
        self.0.reader_waits(-1);
    }
}

/// The indexer's state.
pub struct Indexer {
    pub shared: Arc<Shared>,
    pub sync: SyncMode,
    pub failed: Arc<Failure>,
    pub checkpoint_interval: Duration,
    pub checkpoint_events: u64,
    /// The committed position's channel: its receivers are the live subscriptions.
    pub committed: watch::Sender<Option<u64>>,
}

impl Indexer {
    /// Runs until the writer drops its end of the queue, then checkpoints the indexes.
    pub fn run(self, mut queue: mpsc::Receiver<IndexJob>) {
        let _on_panic = FailOnPanic(self.shared.clone(), self.failed.clone());
        let mut since_checkpoint = 0u64;
        let mut last_checkpoint = Instant::now();
        let mut last_file: Option<FileRef> = None;
        let mut failed: Option<Error> = None;
        let mut batch = Vec::with_capacity(INDEX_BATCH_GROUPS_MAX);
        while let Some(first) = queue.blocking_recv() {
            batch.push(first);
            take_waiting(&mut queue, &mut batch);
            // A live subscription reads right after every commit: lingering would only delay it.
            let followed = self.committed.receiver_count() > 0;
            if batch.len() < INDEX_BATCH_GROUPS_MAX && !followed && self.shared.indexed.linger(INDEX_LINGER_MAX) {
                take_waiting(&mut queue, &mut batch);
            }
            if failed.is_some() {
                // The index can no longer follow the log; the writer has stopped taking appends
                // and reads fail. Reopening the store replays the log into the index.
                batch.clear();
                continue;
            }
            let events: u64 = batch.iter().map(|job| job.placed.len() as u64).sum();
            let durable = since_checkpoint + events >= self.checkpoint_events
                || last_checkpoint.elapsed() >= self.checkpoint_interval;
            match self.commit(&batch, durable) {
                Ok(last_position) => {
                    since_checkpoint += events;
                    if durable {
                        since_checkpoint = 0;
                        last_checkpoint = Instant::now();
                    }
                    self.shared.stats.index_commits.fetch_add(1, Ordering::Relaxed);
                    self.shared.indexed.publish(last_position);
                }
                Err(error) => {
                    let reason = format!("indexing failed: {error}");
                    tracing::error!(%reason, "the store stops taking appends; reopen it to rebuild the index");
                    self.failed.set(reason.clone());
                    self.shared.indexed.fail(reason);
                    failed = Some(error);
                }
            }
            last_file = batch.pop().map(|job| job.file);
            batch.clear();
        }
        // After a failure elsewhere (a failed fsync) the log's state is unknown: no checkpoint.
        if failed.is_none() && self.failed.get().is_none() {
            let checkpoint = self.sync_log(last_file.as_ref()).and_then(|()| {
                self.shared.index.write(true, |index| {
                    if self.sync == SyncMode::Fsync {
                        index.mark_log_durable()
                    } else {
                        Ok(())
                    }
                })
            });
            if let Err(error) = checkpoint {
                tracing::error!(%error, "final index checkpoint failed; the next open replays the log");
            }
        }
    }

    /// Indexes a batch of groups in one transaction; returns the last position indexed.
    fn commit(&self, batch: &[IndexJob], durable: bool) -> Result<u64, Error> {
        if durable {
            self.sync_log(batch.last().map(|job| &job.file))?;
        }
        self.shared.index.write(durable, |index| {
            // Sized once: a batch holds up to thousands of events, and growing by doubling copied them.
            let mut events: Vec<IndexedEvent<'_>> = Vec::with_capacity(batch.iter().map(|job| job.placed.len()).sum());
            events.extend(batch.iter().flat_map(IndexJob::events));
            index.add_events(&events)?;
            index.add_ids(&events)?;
            for job in batch {
                index.finish(job.last_position(), job.timestamp)?;
            }
            if durable && self.sync == SyncMode::Fsync {
                index.mark_log_durable()?; // `sync_log` fsynced the log first
            }
            Ok(batch[batch.len() - 1].last_position())
        })
    }

    /// Makes the log durable up to what is written (before a durable index commit).
    fn sync_log(&self, file: Option<&FileRef>) -> Result<(), Error> {
        let Some(file) = file.filter(|_| self.sync == SyncMode::Fsync) else { return Ok(()) };
        self.failed.sync(file.as_ref()).map_err(Error::storage)
    }
}

/// Takes queued jobs until the queue is empty or the batch full.
fn take_waiting(queue: &mut mpsc::Receiver<IndexJob>, batch: &mut Vec<IndexJob>) {
    while batch.len() < INDEX_BATCH_GROUPS_MAX {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// Stops the store if the indexer thread panics: readers waiting for the index get an error
/// instead of waiting forever, and the writer stops instead of piling up an overlay nobody prunes.
struct FailOnPanic(Arc<Shared>, Arc<Failure>);

impl Drop for FailOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let reason = "the indexer thread panicked".to_owned();
            self.1.set(reason.clone());
            self.0.indexed.fail(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    fn waiting(position: &IndexedPosition) -> usize {
        *position.readers_waiting.lock().unwrap()
    }

    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_waiting_reader_ends_the_linger_and_is_counted_until_served_or_dropped() {
        let position = IndexedPosition::new(Some(1));
        // Covered already: not a waiting reader.
        assert!(poll_once(std::pin::pin!(position.covers(Some(1)))).is_ready());
        assert_eq!(waiting(&position), 0);

        let mut served = std::pin::pin!(position.covers(Some(3)));
        assert!(poll_once(served.as_mut()).is_pending());
        {
            let mut dropped = Box::pin(position.covers(Some(5)));
            assert!(poll_once(dropped.as_mut()).is_pending());
            assert_eq!(waiting(&position), 2);
        }
        assert_eq!(waiting(&position), 1, "a dropped read no longer counts");
        // With a reader waiting the indexer does not linger (this would otherwise take a minute).
        assert!(!position.linger(Duration::from_secs(60)));

        position.publish(3);
        assert!(matches!(poll_once(served.as_mut()), Poll::Ready(Ok(()))));
        assert_eq!(waiting(&position), 0);
        assert!(position.linger(Duration::ZERO), "nobody waits: the indexer may linger");
    }
}
