//! The single writer: a bounded queue of appends, committed in groups.
//!
//! The data path of an append, in order:
//! 1. (writer thread) take a group of queued appends (up to [`GROUP_APPENDS_MAX`] / [`GROUP_BYTES_MAX`]);
//! 2. in one index transaction, for each append: recognise an idempotent retry, claim its event
//!    ids, check the expected versions, assign positions and versions, frame the events;
//! 3. write all frames with one `write` and hand the group to the syncer thread;
//! 4. meanwhile, stage the group's index entries and commit the index transaction (no fsync; at a
//!    checkpoint the log is fsynced first, then the index is committed durably), and tell the syncer;
//! 5. (syncer thread, [`crate::syncer`]) one `fdatasync` for every group written meanwhile; once a
//!    group is both durable and indexed, publish the new committed position (waking subscribers)
//!    and answer its appends.
//!
//! Nothing is acknowledged before its `fdatasync`, and readers never look past the committed
//! position, so they cannot see an event that a crash could take back.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use skald_core::{
    check_retry, AppendOutcome, Error, RetryCheck, StoredId, StreamAppend, StreamAppended, Timestamp, Uuid,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::format::{EventFrame, EventView};
use crate::index::{IndexWriter, IndexedEvent, Location};
use crate::read::Shared;
use crate::segment::{ActiveSegment, Disk};
use crate::syncer::{failure, Failure, SyncMessage, SyncRequest, Syncer, SYNC_QUEUE_GROUPS_MAX};
use crate::SyncMode;

/// Appends taken into one group commit at most.
pub const GROUP_APPENDS_MAX: usize = 1024;
/// Frame bytes written by one group commit at most (a single larger append still goes alone).
pub const GROUP_BYTES_MAX: usize = 32 * 1024 * 1024;

/// One queued append and where to send its answer.
pub struct AppendJob {
    pub appends: Vec<StreamAppend>,
    pub bytes: usize,
    pub reply: oneshot::Sender<Result<AppendOutcome, Error>>,
}

/// Settings the writer needs.
pub struct WriterConfig {
    pub sync: SyncMode,
    pub disk: Arc<dyn Disk>,
    pub segment_bytes_target: u64,
    pub checkpoint_interval: Duration,
    pub checkpoint_events: u64,
}

/// The writer thread's state.
pub struct Writer {
    pub shared: Arc<Shared>,
    pub segment: ActiveSegment,
    pub next_position: u64,
    pub last_timestamp: Timestamp,
    pub committed: watch::Sender<Option<u64>>,
    pub config: WriterConfig,
    pub events_since_checkpoint: u64,
    pub last_checkpoint: Instant,
    /// Set after a failed write or fsync: the file's state is unknown, so no further write is attempted.
    pub failed: Failure,
}

impl Writer {
    /// Runs until every sender is gone, then checkpoints the indexes.
    pub fn run(mut self, mut queue: mpsc::Receiver<AppendJob>) {
        let (to_syncer, sync_queue) = mpsc::channel(SYNC_QUEUE_GROUPS_MAX);
        let syncer = Syncer {
            shared: self.shared.clone(),
            sync: self.config.sync,
            disk: self.config.disk.clone(),
            committed: self.committed.clone(),
            failed: self.failed.clone(),
        };
        let syncer = match std::thread::Builder::new().name("skald-syncer".into()).spawn(move || syncer.run(sync_queue))
        {
            Ok(thread) => thread,
            Err(error) => {
                *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("no syncer thread: {error}"));
                while let Some(job) = queue.blocking_recv() {
                    let _ = job.reply.send(Err(Error::storage(format!("cannot start the syncer thread: {error}"))));
                }
                return;
            }
        };
        while let Some(first) = queue.blocking_recv() {
            let mut bytes = first.bytes;
            let mut group = vec![first];
            while group.len() < GROUP_APPENDS_MAX && bytes < GROUP_BYTES_MAX {
                match queue.try_recv() {
                    Ok(job) => {
                        bytes += job.bytes;
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            self.commit_group(group, &to_syncer);
        }
        drop(to_syncer);
        if syncer.join().is_err() {
            tracing::error!("the syncer thread panicked");
        }
        if failure(&self.failed).is_none() {
            if let Err(error) = self.shared.index.write(true, |_| Ok(())) {
                tracing::error!(%error, "final index checkpoint failed; the next open replays the log");
            }
        }
    }

    /// Writes one group, hands it to the syncer, then indexes it while the syncer waits for the disk.
    fn commit_group(&mut self, group: Vec<AppendJob>, syncer: &mpsc::Sender<SyncMessage>) {
        if let Some(reason) = failure(&self.failed) {
            self.fail_group(group, format!("the writer stopped after an error: {reason}"));
            return;
        }
        if let Err(error) = self.roll_segment_if_full() {
            self.fail_group(group, format!("could not start a new segment: {error}"));
            return;
        }
        let started = Instant::now();
        let timestamp = Timestamp::now().max(self.last_timestamp);
        let mark = self.segment.mark();
        let first_position = self.next_position;
        let durable_index = self.events_since_checkpoint >= self.config.checkpoint_events
            || self.last_checkpoint.elapsed() >= self.config.checkpoint_interval;
        let mut frames = BytesMut::new();
        let shared = self.shared.clone();
        let base = Location { segment: self.segment.first_position(), offset: self.segment.len() };
        let (appends, mut replies): (Vec<_>, Vec<_>) =
            group.into_iter().map(|job| (job.appends, Some(job.reply))).unzip();
        let mut handed_over = false;
        let result = shared.index.write(durable_index, |index| {
            let mut staged = GroupOverlay { first_position, events: Vec::new(), heads: HashMap::new() };
            let mut accepted = Vec::with_capacity(appends.len());
            for (i, request) in appends.iter().enumerate() {
                match stage_append(index, &shared, request, &mut staged, timestamp, &mut frames, base) {
                    // A replay may point into this very group: it is answered after the fsync too.
                    Ok(Staged::Fresh(outcome) | Staged::Replay(outcome)) => accepted.push((i, outcome)),
                    Err(error @ Error::Storage(_)) => return Err(error),
                    Err(error) => reply(&mut replies[i], Err(error)),
                }
            }
            let events = staged.events.len() as u64;
            if events > 0 {
                self.segment.append(&frames, events).map_err(Error::from)?;
            }
            if !accepted.is_empty() {
                // The syncer fsyncs while this thread indexes; it answers once both are done.
                let answers = accepted
                    .into_iter()
                    .filter_map(|(i, outcome)| replies[i].take().map(|reply| (reply, outcome)))
                    .collect();
                let last_position = (first_position + events).checked_sub(1).expect("accepted appends imply events");
                let written = SyncRequest { file: self.segment.file(), last_position, answers };
                handed_over = syncer.blocking_send(SyncMessage::Written(written)).is_ok();
            }
            let Some(last) = staged.events.last() else {
                return Ok(());
            };
            let last_position = last.event.position;
            index.add_events(&staged.events)?;
            index.finish(last_position, timestamp)?;
            if durable_index && self.config.sync == SyncMode::Fsync {
                // A durable index must never cover log bytes that are not durable themselves.
                self.segment.sync().map_err(|e| {
                    let reason = format!("fsync failed: {e}");
                    *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
                    Error::storage(reason)
                })?;
            }
            self.next_position = last_position + 1;
            Ok(())
        });
        let events = self.next_position - first_position;
        match result {
            Ok(()) => {
                if handed_over {
                    let _ = syncer.blocking_send(SyncMessage::Indexed(self.next_position - 1));
                }
                if durable_index {
                    self.events_since_checkpoint = 0;
                    self.last_checkpoint = Instant::now();
                }
                if events > 0 {
                    self.events_since_checkpoint += events;
                    self.last_timestamp = timestamp;
                    self.shared.stats.events.fetch_add(events, Ordering::Relaxed);
                    self.shared.stats.groups.fetch_add(1, Ordering::Relaxed);
                    metrics::histogram!("skald_group_commit_events").record(events as f64);
                    metrics::histogram!("skald_group_commit_seconds").record(started.elapsed().as_secs_f64());
                    metrics::counter!("skald_appended_events_total").increment(events);
                    metrics::counter!("skald_appended_bytes_total").increment(frames.len() as u64);
                }
            }
            Err(error) => {
                self.next_position = first_position;
                let (len, crc, count) = mark;
                if let Err(cut) = self.segment.truncate(len, crc, count) {
                    let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
                    failed.get_or_insert(format!("could not cut back a failed write: {cut}"));
                }
                tracing::error!(%error, "group commit failed; its appends are rejected");
                if handed_over {
                    let _ = syncer
                        .blocking_send(SyncMessage::Failed { from_position: first_position, error: error.clone() });
                }
                for slot in &mut replies {
                    reply(slot, Err(error.clone()));
                }
            }
        }
    }

    fn fail_group(&mut self, group: Vec<AppendJob>, reason: String) {
        tracing::error!(%reason, "group commit failed");
        for job in group {
            let _ = job.reply.send(Err(Error::storage(reason.clone())));
        }
    }

    /// Seals the active segment once it reached its target size and starts the next one.
    fn roll_segment_if_full(&mut self) -> std::io::Result<()> {
        if self.segment.len() < self.config.segment_bytes_target || self.segment.is_empty() {
            return Ok(());
        }
        // Seal first: a crash between the two steps leaves a sealed last segment, which recovery
        // completes by creating the next one. The other order would leave an unsealed segment
        // in the middle of the log.
        let path: PathBuf = self.segment.seal()?;
        self.segment = ActiveSegment::create(self.config.disk.clone(), &self.shared.segments_dir, self.next_position)?;
        tracing::info!(segment = %path.display(), "segment sealed");
        Ok(())
    }
}

/// Answers an append once; the sender is gone afterwards.
fn reply(slot: &mut Option<oneshot::Sender<Result<AppendOutcome, Error>>>, answer: Result<AppendOutcome, Error>) {
    if let Some(sender) = slot.take() {
        let _ = sender.send(answer); // the caller may have given up waiting; nothing to do then
    }
}

/// What a group has staged so far: its events and what they change, which the index does not
/// know yet (it is written once for the whole group).
struct GroupOverlay<'a> {
    first_position: u64,
    events: Vec<IndexedEvent<'a>>,
    /// Head version of every stream the group appended to.
    heads: HashMap<&'a str, u64>,
}

enum Staged {
    Replay(AppendOutcome),
    Fresh(AppendOutcome),
}

/// Where the event at `position` is: in this group (not written yet) or in the log.
fn stored_id(shared: &Shared, group: &GroupOverlay<'_>, position: u64) -> Result<StoredId, Error> {
    if position >= group.first_position {
        let event = &group.events[(position - group.first_position) as usize].event;
        return Ok(StoredId { stream: event.stream.to_owned(), version: event.version, position });
    }
    let event = shared.event_at(&shared.index.read()?, position)?;
    Ok(StoredId { stream: event.stream, version: event.version, position })
}

/// Checks one append against the index (which holds the group's earlier appends' ids) and the
/// group's earlier heads, frames its events into `frames` and stages them in `group`.
fn stage_append<'a>(
    index: &mut IndexWriter<'_>,
    shared: &Shared,
    appends: &'a [StreamAppend],
    group: &mut GroupOverlay<'a>,
    timestamp: Timestamp,
    frames: &mut BytesMut,
    base: Location,
) -> Result<Staged, Error> {
    // A retry repeats every id, so it repeats the first one: only then is the full check needed.
    // Any other overlap with stored ids shows up when the ids are claimed below.
    if index.position_of_id(&appends[0].events[0].id)?.is_some() {
        let lookup = |id: &Uuid| match index.position_of_id(id)? {
            Some(position) => stored_id(shared, group, position).map(Some),
            None => Ok(None),
        };
        if let RetryCheck::Replay(outcome) = check_retry(appends, lookup)? {
            return Ok(Staged::Replay(outcome));
        }
    }
    // Claim every id before checking versions, so that an overlap is reported the same way as by
    // `check_retry` in other backends, whichever else is wrong with the append.
    let first_position = group.first_position + group.events.len() as u64;
    let ids = appends.iter().flat_map(|a| &a.events).map(|e| e.id);
    for (claimed, id) in ids.clone().enumerate() {
        if let Some(existing) = index.claim_id(&id, first_position + claimed as u64)? {
            index.release_ids(ids.take(claimed))?;
            let stored = stored_id(shared, group, existing)?;
            return Err(Error::IdempotencyConflict {
                id,
                stream: stored.stream,
                version: stored.version,
                reason: "some ids of this append are stored and others are not".into(),
            });
        }
    }
    let mut first_versions = Vec::with_capacity(appends.len());
    for append in appends {
        let head = match group.heads.get(append.stream.as_str()) {
            Some(&version) => Some(version),
            None => index.stream_head(&append.stream)?.map(|(version, _)| version),
        };
        if let Err(error) = append.expected_version.check(&append.stream, head) {
            index.release_ids(ids)?;
            return Err(error);
        }
        first_versions.push(head.map_or(0, |v| v + 1));
    }
    let mut position = first_position;
    let mut outcome = AppendOutcome { streams: Vec::with_capacity(appends.len()), replayed: false };
    let total: usize = appends.iter().map(|a| a.events.len()).sum();
    let mut written = 0;
    for (append, first_version) in appends.iter().zip(first_versions) {
        let part_first_position = position;
        for (i, event) in append.events.iter().enumerate() {
            written += 1;
            let view = EventView {
                position,
                version: first_version + i as u64,
                timestamp,
                id: event.id,
                stream: &append.stream,
                event_type: &event.event_type,
                data: event.data.as_bytes(),
                metadata: event.metadata.as_bytes(),
            };
            let location = Location { segment: base.segment, offset: base.offset + frames.len() as u64 };
            EventFrame { event: view, end_of_append: written == total }.encode_into(frames);
            group.events.push(IndexedEvent { event: view, location });
            position += 1;
        }
        let last_version = first_version + append.events.len() as u64 - 1;
        group.heads.insert(&append.stream, last_version);
        outcome.streams.push(StreamAppended {
            stream: append.stream.clone(),
            first_version,
            last_version,
            first_position: part_first_position,
            last_position: position - 1,
        });
    }
    Ok(Staged::Fresh(outcome))
}
