//! The single writer: a bounded queue of appends, committed in groups.
//!
//! The data path of an append, in order:
//! 1. (writer thread) take a group of queued appends (up to [`GROUP_APPENDS_MAX`] / [`GROUP_BYTES_MAX`]);
//! 2. for each append, against an index snapshot plus the overlay of groups not indexed yet
//!    ([`crate::pending`]): recognise an idempotent retry, refuse ids stored already, check the
//!    expected versions, assign positions and versions, frame the events; then, if an fsync is
//!    running, wait for it to end ([`SyncGate`]) and stage what arrived meanwhile the same way
//!    (staging overlaps the fsync; only the latecomers are staged after it);
//! 3. write all frames with one `write`, hand the group to the syncer thread, then to the indexer
//!    thread, and go on with the next group;
//! 4. (syncer thread, [`crate::syncer`]) one `fdatasync` for every group written meanwhile, then
//!    publish the new committed position (waking subscribers) and answer the groups' appends;
//! 5. (indexer thread, [`crate::indexer`]) index every group waiting in one transaction (durable
//!    only at checkpoints, after an fsync of the log; lingering a few ms first while no reader
//!    waits and no subscription follows) and publish how far it got.
//!
//! Nothing is acknowledged before its `fdatasync`, and readers never look past the committed
//! position, so they cannot see an event that a crash could take back; a read first waits until the
//! index covers that position, so an appender always reads its own events. Neither the writer nor
//! an appender waits for the index: the fsync, the indexing and the staging of the next group overlap.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use skald_core::{
    check_retry, AppendOutcome, Error, RetryCheck, StoredId, StreamAppend, StreamAppended, StreamCondition, Timestamp,
    Uuid,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::format::{EventFrame, EventView};
use crate::index::{is_index_failure, IndexReader, Location};
use crate::indexer::{IndexJob, Indexer, Placed, INDEX_QUEUE_GROUPS_MAX};
use crate::pending::{GroupFacts, Head, Pending, PendingId};
use crate::read::Shared;
use crate::segment::ActiveSegment;
use crate::storage::Storage;
use crate::syncer::{Answer, Failure, SyncGate, SyncRequest, Syncer, SYNC_QUEUE_GROUPS_MAX};
use crate::SyncMode;

/// Appends taken into one group commit at most.
pub const GROUP_APPENDS_MAX: usize = 1024;
/// Frame bytes written by one group commit at most (a single larger append still goes alone).
pub const GROUP_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Frame bytes beyond an event's data and metadata, roughly (header, id, stream and type names):
/// what the group's frame buffer reserves per event up front.
const FRAME_OVERHEAD_BYTES_ESTIMATE: usize = 128;
/// A frame buffer up to this capacity is kept for the next group; a larger one (after a big batch)
/// is freed, so one batch does not pin its size for good.
const SPARE_FRAMES_BYTES_MAX: usize = 4 * 1024 * 1024;
/// How long the writer gathers appends while an fsync runs, at most ([`SyncGate`]).
pub const SYNC_GATHER_MAX: Duration = Duration::from_millis(10);

/// One queued append and where to send its answer.
pub struct AppendJob {
    pub appends: Vec<StreamAppend>,
    /// Checked with the expected versions; usually empty.
    pub conditions: Vec<StreamCondition>,
    pub bytes: usize,
    pub reply: oneshot::Sender<Result<AppendOutcome, Error>>,
}

/// Settings the writer needs.
pub struct WriterConfig {
    pub sync: SyncMode,
    pub storage: Arc<dyn Storage>,
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
    /// Heads and ids of groups written but not indexed yet.
    pub pending: Pending,
    /// Set after a failed fsync, index commit or segment roll: no further write is attempted.
    pub failed: Arc<Failure>,
    /// The last group's index snapshot, used again by the next group unless the indexer has
    /// published a commit since: a new read transaction and its tables per group cost ~1 % of the
    /// CPU of a saga benchmark and tens of allocations, and commits are ~20 groups apart under load.
    pub last_snapshot: Option<Snapshot>,
    /// The last group's frame buffer, emptied, for the next group. A fresh buffer per group cost
    /// page faults on every group (the allocator hands freed pages back to the kernel).
    pub spare_frames: BytesMut,
}

impl Writer {
    /// Runs until every sender is gone; the indexer checkpoints the indexes on its way out.
    pub fn run(mut self, mut queue: mpsc::Receiver<AppendJob>) {
        let (to_syncer, sync_queue) = mpsc::channel(SYNC_QUEUE_GROUPS_MAX);
        let (to_indexer, index_queue) = mpsc::channel(INDEX_QUEUE_GROUPS_MAX);
        let gate = Arc::new(SyncGate::default());
        let syncer = Syncer {
            gate: gate.clone(),
            shared: self.shared.clone(),
            sync: self.config.sync,
            committed: self.committed.clone(),
            failed: self.failed.clone(),
        };
        let indexer = Indexer {
            shared: self.shared.clone(),
            sync: self.config.sync,
            failed: self.failed.clone(),
            checkpoint_interval: self.config.checkpoint_interval,
            checkpoint_events: self.config.checkpoint_events,
            committed: self.committed.clone(),
        };
        let threads = spawn("skald-syncer", move || syncer.run(sync_queue))
            .and_then(|syncer| Ok((syncer, spawn("skald-indexer", move || indexer.run(index_queue))?)));
        let (syncer, indexer) = match threads {
            Ok(threads) => threads,
            Err(error) => {
                let reason = format!("cannot start the store's threads: {error}");
                self.failed.set(reason.clone());
                while let Some(job) = queue.blocking_recv() {
                    let _ = job.reply.send(Err(Error::storage(reason.clone())));
                }
                return;
            }
        };
        while let Some(first) = queue.blocking_recv() {
            let mut group = Group { bytes: first.bytes, jobs: vec![first], staged: 0 };
            group.take_waiting(&mut queue);
            let Some(mut open) = self.open_group(&mut group) else { continue };
            // What arrived is checked and framed while the running fsync (if any) goes on; only
            // what arrives meanwhile is left to stage once it has ended.
            self.stage_jobs(&mut open, &mut group);
            if !group.is_full() && gate.wait_idle(SYNC_GATHER_MAX) {
                group.take_waiting(&mut queue);
                self.stage_jobs(&mut open, &mut group);
            }
            self.write_group(open, &to_syncer, &to_indexer);
        }
        // The syncer answers what is left; the indexer finishes its queue and checkpoints.
        drop(to_syncer);
        if syncer.join().is_err() {
            tracing::error!("the syncer thread panicked");
        }
        drop(to_indexer);
        if indexer.join().is_err() {
            tracing::error!("the indexer thread panicked");
        }
    }

    /// Starts a group: checks that the writer may go on, rolls the segment if it is full, and takes
    /// the index snapshot the group is staged against. On failure the group's appends are refused
    /// (and taken out of `group`).
    fn open_group(&mut self, group: &mut Group) -> Option<OpenGroup> {
        if let Some(reason) = self.failed.get() {
            self.fail_group(group.take_jobs(), format!("the writer stopped after an error: {reason}"));
            return None;
        }
        if let Err(reason) = self.roll_segment_if_full() {
            self.fail_group(group.take_jobs(), format!("could not start a new segment: {reason}"));
            return None;
        }
        // Forget what the index holds now *before* taking the snapshot: see `crate::pending`.
        let indexed = self.shared.indexed.get();
        self.pending.forget_indexed(indexed);
        let snapshot = match self.last_snapshot.take() {
            // Nothing was published since it was taken, so the overlay forgot nothing it lacks.
            Some(last) if last.indexed == indexed => last,
            _ => match self.shared.index.read() {
                Ok(reader) => Snapshot { indexed, reader },
                Err(error) => {
                    // redb refuses everything after an I/O error until it is reopened: so does the
                    // store, with one clear reason, instead of refusing group after group.
                    let reason = format!("the index cannot be read ({error}); reopen the store");
                    self.failed.set(reason.clone());
                    self.fail_group(group.take_jobs(), format!("the writer stopped after an error: {reason}"));
                    return None;
                }
            },
        };
        let staging = Staging {
            timestamp: Timestamp::now().max(self.last_timestamp),
            first_position: self.next_position,
            base: Location { segment: self.segment.first_position(), offset: self.segment.len() },
            frames: std::mem::take(&mut self.spare_frames),
            placed: Vec::new(),
            facts: GroupFacts::default(),
        };
        Some(OpenGroup {
            started: Instant::now(),
            snapshot,
            staging,
            answers: Vec::with_capacity(group.jobs.len()),
            fresh: Vec::with_capacity(group.jobs.len()),
        })
    }

    /// Checks the group's appends taken so far against the index snapshot, the overlay and the
    /// group's earlier appends, and frames the accepted ones; refused appends are answered at once.
    fn stage_jobs(&mut self, open: &mut OpenGroup, group: &mut Group) {
        let jobs = group.take_jobs();
        // Sized once per round: growing the buffer frame by frame copied it over and over.
        let events: usize = jobs.iter().flat_map(|job| &job.appends).map(|a| a.events.len()).sum();
        let streams: usize = jobs.iter().map(|job| job.appends.len()).sum();
        let payload_bytes: usize = jobs.iter().map(|job| job.bytes).sum();
        open.staging.frames.reserve(payload_bytes + events * FRAME_OVERHEAD_BYTES_ESTIMATE);
        open.staging.facts.ids.reserve(events);
        open.staging.facts.heads.reserve(streams);
        for job in jobs {
            let request = Request { appends: &job.appends, conditions: &job.conditions };
            match stage_append(&self.shared, &open.snapshot.reader, &self.pending, request, &mut open.staging) {
                Ok(Staged::Fresh(outcome)) => {
                    open.answers.push((job.reply, outcome));
                    open.fresh.push(job.appends);
                }
                // A replay may point into a group that is not durable yet: it is answered after
                // this group's fsync, which comes after that one's.
                Ok(Staged::Replay(outcome)) => open.answers.push((job.reply, outcome)),
                Err(error) => {
                    if is_index_failure(&error) {
                        self.failed.set(format!("the index cannot be read ({error}); reopen the store"));
                    }
                    let _ = job.reply.send(Err(error)); // the caller may have stopped waiting
                }
            }
        }
    }

    /// Writes a staged group and hands it to the syncer (to make it durable) and to the indexer
    /// (to index it).
    fn write_group(&mut self, open: OpenGroup, syncer: &mpsc::Sender<SyncRequest>, indexer: &mpsc::Sender<IndexJob>) {
        let OpenGroup { started, snapshot, mut staging, answers, fresh } = open;
        self.last_snapshot = Some(snapshot);
        if answers.is_empty() {
            return;
        }
        let first_position = staging.first_position;
        let events = staging.placed.len() as u64;
        if events > 0 {
            let mark = self.segment.mark();
            if let Err(error) = self.segment.append(&staging.frames, events) {
                if let Err(reason) = self.segment.cut_back(mark, &self.failed) {
                    self.failed.set(reason);
                }
                let error = Error::from(error);
                tracing::error!(%error, "group write failed; its appends are refused");
                for (reply, _) in answers {
                    let _ = reply.send(Err(error.clone()));
                }
                return;
            }
        }
        // A group of replays only waits for everything before it.
        let last_position = (first_position + events).checked_sub(1).expect("a replay implies stored events");
        let file = self.segment.file();
        if events > 0 {
            self.next_position = last_position + 1;
            self.last_timestamp = staging.timestamp;
            self.pending.add(last_position, std::mem::take(&mut staging.facts));
        }
        let written = SyncRequest { file: file.clone(), last_position, answers };
        if syncer.blocking_send(written).is_err() {
            tracing::error!("the syncer thread is gone; appends of this group are never answered");
        }
        if events == 0 {
            return;
        }
        let frame_bytes = staging.frames.len() as u64;
        self.keep_frames(staging.frames);
        let job = IndexJob { appends: fresh, placed: staging.placed, timestamp: staging.timestamp, file };
        if indexer.blocking_send(job).is_err() {
            tracing::error!("the indexer thread is gone; appends of this group are never answered");
        }
        self.shared.stats.events.fetch_add(events, Ordering::Relaxed);
        self.shared.stats.groups.fetch_add(1, Ordering::Relaxed);
        metrics::histogram!("skald_group_commit_events").record(events as f64);
        metrics::histogram!("skald_group_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("skald_appended_events_total").increment(events);
        metrics::counter!("skald_appended_bytes_total").increment(frame_bytes);
    }

    /// Keeps `frames` (emptied) for the next group, unless it grew past [`SPARE_FRAMES_BYTES_MAX`].
    fn keep_frames(&mut self, mut frames: BytesMut) {
        if frames.capacity() <= SPARE_FRAMES_BYTES_MAX {
            frames.clear();
            self.spare_frames = frames;
        }
    }

    fn fail_group(&mut self, group: Vec<AppendJob>, reason: String) {
        tracing::error!(%reason, "group commit failed");
        for job in group {
            let _ = job.reply.send(Err(Error::storage(reason.clone())));
        }
    }

    /// Seals the active segment once it reached its target size and starts the next one.
    ///
    /// A failed seal write or a failed creation leaves things as they were (the write cut back,
    /// the new file removed), so the next group tries again: a disk that was full may have room
    /// by then. A failed fsync of the seal stops the store ([`Failure::sync`]).
    fn roll_segment_if_full(&mut self) -> Result<(), String> {
        if self.segment.len() < self.config.segment_bytes_target || self.segment.is_empty() {
            return Ok(());
        }
        // Seal first: a crash between the two steps leaves a sealed last segment, which recovery
        // completes by creating the next one. The other order would leave an unsealed segment
        // in the middle of the log.
        if !self.segment.is_sealed() {
            let path: PathBuf = self.segment.seal(&self.failed)?;
            tracing::info!(segment = %path.display(), "segment sealed");
        }
        let (storage, dir) = (self.config.storage.as_ref(), &self.shared.segments_dir);
        self.segment = ActiveSegment::create(storage, dir, self.next_position, &self.failed)?;
        Ok(())
    }
}

/// Appends taken off the queue for one group commit and not staged yet, and the bytes of every
/// append taken (staged or not), which bound the group.
struct Group {
    jobs: Vec<AppendJob>,
    /// Appends taken out by [`Group::take_jobs`].
    staged: usize,
    bytes: usize,
}

/// A group being staged: the index snapshot it is checked against, what it has staged so far, and
/// the answers it owes once durable.
struct OpenGroup {
    started: Instant,
    snapshot: Snapshot,
    staging: Staging,
    answers: Vec<Answer>,
    /// The accepted appends (for the indexer).
    fresh: Vec<Vec<StreamAppend>>,
}

impl Group {
    /// The appends not staged yet; `jobs` is left empty but keeps counting towards the bounds.
    fn take_jobs(&mut self) -> Vec<AppendJob> {
        self.staged += self.jobs.len();
        std::mem::take(&mut self.jobs)
    }

    fn is_full(&self) -> bool {
        self.staged + self.jobs.len() >= GROUP_APPENDS_MAX || self.bytes >= GROUP_BYTES_MAX
    }

    /// Takes queued appends until the queue is empty or the group full.
    fn take_waiting(&mut self, queue: &mut mpsc::Receiver<AppendJob>) {
        while !self.is_full() {
            match queue.try_recv() {
                Ok(job) => {
                    self.bytes += job.bytes;
                    self.jobs.push(job);
                }
                Err(_) => break,
            }
        }
    }
}

/// An index snapshot and the indexed position the writer had seen when it was taken.
pub struct Snapshot {
    indexed: Option<u64>,
    reader: IndexReader,
}

/// What a group has staged so far: its frames, where its events go, and the heads and ids it adds.
struct Staging {
    timestamp: Timestamp,
    first_position: u64,
    /// Where the group's first frame goes.
    base: Location,
    frames: BytesMut,
    placed: Vec<Placed>,
    facts: GroupFacts,
}

impl Staging {
    fn next_position(&self) -> u64 {
        self.first_position + self.placed.len() as u64
    }
}

enum Staged {
    Replay(AppendOutcome),
    Fresh(AppendOutcome),
}

/// Where an event id is stored, if it is: in this group, in a group not indexed yet, or in the index.
fn stored_id(
    shared: &Shared,
    snapshot: &IndexReader,
    pending: &Pending,
    group: &Staging,
    id: &Uuid,
) -> Result<Option<StoredId>, Error> {
    let key = id.as_u128();
    if let Some(found) = group.facts.ids.get(&key).or_else(|| pending.id(key)) {
        return Ok(Some(found.stored()));
    }
    let Some(position) = snapshot.position_of_id(id)? else { return Ok(None) };
    let event = shared.event_at(snapshot, position)?;
    Ok(Some(StoredId { stream: event.stream, version: event.version, position }))
}

/// One append request as the writer stages it.
#[derive(Clone, Copy)]
struct Request<'a> {
    appends: &'a [StreamAppend],
    conditions: &'a [StreamCondition],
}

/// The head version of `stream` as of the group staged so far: the group's own appends, then the
/// overlay of groups not indexed yet, then the index snapshot.
fn head_version(
    snapshot: &IndexReader,
    pending: &Pending,
    group: &Staging,
    stream: &str,
) -> Result<Option<u64>, Error> {
    Ok(match group.facts.heads.get(stream).copied().or_else(|| pending.head(stream)) {
        Some(head) => Some(head.version),
        None => snapshot.stream_head(stream)?.map(|(version, _)| version),
    })
}

/// Checks one append against the index, the overlay and the group's earlier appends; on success
/// frames its events into the group. A refused append leaves the group as it was.
fn stage_append(
    shared: &Shared,
    snapshot: &IndexReader,
    pending: &Pending,
    request: Request<'_>,
    group: &mut Staging,
) -> Result<Staged, Error> {
    let appends = request.appends;
    // A retry repeats every id, so it repeats the first one: only then is the full check needed.
    if stored_id(shared, snapshot, pending, group, &appends[0].events[0].id)?.is_some() {
        let lookup = |id: &Uuid| stored_id(shared, snapshot, pending, group, id);
        if let RetryCheck::Replay(outcome) = check_retry(appends, lookup)? {
            return Ok(Staged::Replay(outcome));
        }
    }
    // Any other overlap with stored ids is refused the way `check_retry` refuses it, whatever
    // else is wrong with the append. (The first id is new by now.)
    for id in appends.iter().flat_map(|a| &a.events).map(|e| &e.id).skip(1) {
        if let Some(stored) = stored_id(shared, snapshot, pending, group, id)? {
            return Err(Error::IdempotencyConflict {
                id: *id,
                stream: stored.stream,
                version: stored.version,
                reason: "some ids of this append are stored and others are not".into(),
            });
        }
    }
    let mut first_versions = Vec::with_capacity(appends.len());
    for append in appends {
        let head = head_version(snapshot, pending, group, &append.stream)?;
        append.expected_version.check(&append.stream, head)?;
        first_versions.push(head.map_or(0, |v| v + 1));
    }
    for condition in request.conditions {
        let head = head_version(snapshot, pending, group, &condition.stream)?;
        condition.expected_version.check(&condition.stream, head)?;
    }
    let mut position = group.next_position();
    let mut outcome = AppendOutcome { streams: Vec::with_capacity(appends.len()), replayed: false };
    let total: usize = appends.iter().map(|a| a.events.len()).sum();
    let mut written = 0;
    for (append, first_version) in appends.iter().zip(first_versions) {
        let stream: Arc<str> = Arc::from(append.stream.as_str());
        let part_first_position = position;
        for (i, event) in append.events.iter().enumerate() {
            written += 1;
            let version = first_version + i as u64;
            let view = EventView {
                position,
                version,
                timestamp: group.timestamp,
                id: event.id,
                stream: &append.stream,
                event_type: &event.event_type,
                data: event.data.as_bytes(),
                metadata: event.metadata.as_bytes(),
            };
            let location =
                Location { segment: group.base.segment, offset: group.base.offset + group.frames.len() as u64 };
            EventFrame { event: view, end_of_append: written == total }.encode_into(&mut group.frames);
            group.placed.push(Placed { position, version, location });
            group.facts.ids.insert(event.id.as_u128(), PendingId { stream: stream.clone(), version, position });
            position += 1;
        }
        let last_version = first_version + append.events.len() as u64 - 1;
        group.facts.heads.insert(stream, Head { version: last_version, position: position - 1 });
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

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(name.into()).spawn(work)
}
