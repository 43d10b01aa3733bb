//! The node's writer task: a bounded queue of appends, committed in groups, one round trip each.
//!
//! 1. `PgStore::append_if` validates and queues a [`Job`] (a full queue is `overloaded`).
//! 2. The writer takes every job waiting, up to [`GROUP_APPENDS_MAX`] / [`GROUP_EVENTS_MAX`] /
//!    [`GROUP_BYTES_MAX`], and flattens them into the arrays of `skald_append` (see `SCHEMA.md`).
//!    A job that repeats an event id of an earlier job of the group starts the next group, so that
//!    `skald_append` never has to tell an id of its own call from a stored one. When fewer appends
//!    wait than the last group held, the writer first waits up to [`GATHER_MAX`] for the rest.
//! 3. One call of `skald_append`, in autocommit mode: the whole group is one transaction, checked
//!    append by append under the commit lock. The answer says, per append, written (with versions
//!    and positions), refused on an expected version, or "ids already stored".
//! 4. For the last kind, one query fetches where those ids are stored and
//!    [`skald_core::check_retry`] decides: a replay (original positions) or an idempotency
//!    conflict, exactly as in `MemoryStore`.
//! 5. Publish the new head on the node's watch (waking subscribers), then answer every append.
//!
//! A failed call answers every append of its group with the mapped error; when the connection broke
//! the outcome is unknown and the answer is `unavailable` — a retry with the same ids is safe.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use skald_core::{
    check_retry, described_by_metadata_stream, AppendOutcome, Error, ExpectedVersion, RetryCheck, StoredId,
    StreamAppend, StreamAppended, StreamCondition, StreamMetadata, Uuid,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_postgres::Row;

use crate::fail::{self, column};
use crate::read::Sql;

/// Appends committed by one call at most.
pub const GROUP_APPENDS_MAX: usize = 1024;
/// Events committed by one call at most (a single append may hold up to `APPEND_EVENTS_MAX`).
pub const GROUP_EVENTS_MAX: usize = 10_000;
/// Event bytes committed by one call at most (a single larger append still goes alone).
pub const GROUP_BYTES_MAX: usize = 8 * 1024 * 1024;

/// How long the writer waits at most for the appenders of the last group to come back.
pub const GATHER_MAX: Duration = Duration::from_millis(1);

/// `skald_append`'s per-append answer codes (`o_status`).
const STATUS_WRITTEN: i32 = 0;
const STATUS_IDS_STORED: i32 = 1;
const STATUS_WRONG_VERSION: i32 = 2;

/// One queued append and where to send its answer.
pub struct Job {
    pub appends: Vec<StreamAppend>,
    pub conditions: Vec<StreamCondition>,
    pub events: usize,
    pub bytes: usize,
    pub reply: oneshot::Sender<Result<AppendOutcome, Error>>,
}

/// The writer task's state.
pub struct Writer {
    pub pool: Pool,
    pub sql: Arc<Sql>,
    pub committed: watch::Sender<Option<u64>>,
    pub heads: HeadCache,
}

/// Most streams whose heads the writer remembers; past it the cache starts again empty.
pub const HEAD_CACHE_STREAMS_MAX: usize = 16_384;

/// Stream heads as of this node's last commit, exact while no other commit came after it.
///
/// `skald_append` uses them instead of probing `(stream, version)` when the log's next position
/// is still `epoch` (nothing committed since, by any node); a hot stream (a saga's next step, a
/// busy aggregate) then costs no probe. Probes were a fifth of a 64-append call.
#[derive(Default)]
pub struct HeadCache {
    /// The next position right after the commit the heads describe.
    epoch: Option<i64>,
    /// Head version per stream; `None`: the stream has no events.
    heads: HashMap<String, Option<u64>>,
}

impl HeadCache {
    /// The cached head as `skald_append` takes it (-1: no stream), `None` when not cached.
    fn known(&self, stream: &str) -> Option<i64> {
        self.heads.get(stream).map(|head| head.map_or(-1, |v| v as i64))
    }

    fn forget(&mut self) {
        self.epoch = None;
        self.heads.clear();
    }

    /// Records a committed call: its streams' heads after it, exact as of `next_position`.
    /// When the cache was not valid for the call (`held` false), the rest of it is stale.
    fn learn(&mut self, streams: &[&str], heads: &[Option<i64>], held: bool, next_position: i64) {
        if !held || self.heads.len() + streams.len() > HEAD_CACHE_STREAMS_MAX || heads.len() != streams.len() {
            self.heads.clear();
        }
        if heads.len() == streams.len() {
            for (stream, head) in streams.iter().zip(heads) {
                self.heads.insert((*stream).to_owned(), head.map(|v| v as u64));
            }
        }
        self.epoch = Some(next_position);
    }
}

/// Jobs taken for one call, with what the limits need.
#[derive(Default)]
struct Group {
    jobs: Vec<Job>,
    events: usize,
    bytes: usize,
    ids: HashSet<Uuid>,
}

impl Group {
    /// Whether `job` may join: within the limits, and no id of it already in the group.
    fn admits(&self, job: &Job) -> bool {
        if self.jobs.is_empty() {
            return true;
        }
        self.jobs.len() < GROUP_APPENDS_MAX
            && self.events + job.events <= GROUP_EVENTS_MAX
            && self.bytes + job.bytes <= GROUP_BYTES_MAX
            && !job.appends.iter().flat_map(|a| &a.events).any(|e| self.ids.contains(&e.id))
    }

    fn push(&mut self, job: Job) {
        self.events += job.events;
        self.bytes += job.bytes;
        self.ids.extend(job.appends.iter().flat_map(|a| &a.events).map(|e| e.id));
        self.jobs.push(job);
    }
}

impl Writer {
    /// Runs until every sender is gone, answering each queued append before it returns.
    pub async fn run(mut self, mut queue: mpsc::Receiver<Job>) {
        let mut carried: Option<Job> = None;
        let mut last_group_appends = 0;
        loop {
            let first = match carried.take() {
                Some(job) => job,
                None => match queue.recv().await {
                    Some(job) => job,
                    None => return,
                },
            };
            let mut group = Group::default();
            group.push(first);
            // The appenders answered by the last group are sending their next appends right now:
            // wait (briefly) until as many are back, so that a group is not committed with the
            // first one alone and the rest left to the next — which halved the throughput of
            // 64 appenders. One writer alone (groups of one) never waits.
            let deadline = tokio::time::Instant::now() + GATHER_MAX;
            loop {
                let job = match queue.try_recv() {
                    Ok(job) => job,
                    Err(mpsc::error::TryRecvError::Empty) if group.jobs.len() < last_group_appends => {
                        match tokio::time::timeout_at(deadline, queue.recv()).await {
                            Ok(Some(job)) => job,
                            Ok(None) | Err(_) => break,
                        }
                    }
                    Err(_) => break,
                };
                if group.admits(&job) {
                    group.push(job);
                } else {
                    carried = Some(job);
                    break;
                }
            }
            last_group_appends = group.jobs.len();
            let answers = self.commit(&group.jobs).await;
            for (job, answer) in group.jobs.into_iter().zip(answers) {
                // The appender may have given up waiting; its append stands either way.
                let _ = job.reply.send(answer);
            }
        }
    }

    /// Where `ids` are stored.
    async fn stored_ids(
        &self,
        client: &deadpool_postgres::Object,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, StoredId>, Error> {
        let lookup = client.prepare_cached(&self.sql.stored_ids).await.map_err(fail::from_pg)?;
        let rows = client.query(&lookup, &[&ids]).await.map_err(fail::from_pg)?;
        rows.iter().map(stored_id).collect()
    }

    /// Commits one group; one answer per job, in order.
    async fn commit(&mut self, jobs: &[Job]) -> Vec<Result<AppendOutcome, Error>> {
        match self.try_commit(jobs).await {
            Ok(answers) => answers,
            Err(error) => {
                // Whether the call committed is unknown: cached heads may be stale.
                self.heads.forget();
                if matches!(error, Error::Unavailable { .. }) {
                    tracing::warn!(%error, appends = jobs.len(), "group commit failed; outcome unknown");
                } else {
                    tracing::error!(%error, appends = jobs.len(), "group commit failed");
                }
                jobs.iter().map(|_| Err(error.clone())).collect()
            }
        }
    }

    async fn try_commit(&mut self, jobs: &[Job]) -> Result<Vec<Result<AppendOutcome, Error>>, Error> {
        let client = self.pool.get().await.map_err(fail::from_pool)?;
        let statement = client.prepare_cached(&self.sql.append).await.map_err(fail::from_pg)?;
        let call = Call::new(jobs, &self.heads);
        let row = client
            .query_one(
                &statement,
                &[
                    &call.streams,
                    &call.known,
                    &self.heads.epoch,
                    &call.part_append,
                    &call.part_slot,
                    &call.part_expected,
                    &call.part_count,
                    &call.part_described,
                    &call.part_metadata,
                    &call.event_part,
                    &call.event_id,
                    &call.event_type,
                    &call.event_data,
                    &call.event_metadata,
                ],
            )
            .await
            .map_err(fail::from_pg)?;
        let parts = Part::from_row(&row, call.part_append.len())?;
        let head: i64 = column(&row, 4)?;
        let heads: Vec<Option<i64>> = column(&row, 5)?;
        self.heads.learn(&call.streams, &heads, column(&row, 6)?, head + 1);
        if let Ok(head) = u64::try_from(head) {
            crate::advance(&self.committed, Some(head));
        }
        let mut answers = Vec::with_capacity(jobs.len());
        let mut retries = Vec::new();
        let mut offset = 0;
        for (index, job) in jobs.iter().enumerate() {
            let count = job.appends.len() + job.conditions.len();
            let job_parts = &parts[offset..offset + count];
            offset += count;
            if job_parts.iter().any(|p| p.status == STATUS_IDS_STORED) {
                retries.push(index);
                answers.push(Err(Error::Storage(String::new()))); // replaced below
            } else {
                answers.push(answer(job, job_parts));
            }
        }
        if !retries.is_empty() {
            let ids: Vec<Uuid> =
                retries.iter().flat_map(|i| &jobs[*i].appends).flat_map(|a| &a.events).map(|e| e.id).collect();
            // The group is committed: a failed lookup fails the retries only (they may be resent).
            let stored = self.stored_ids(&client, &ids).await;
            for index in retries {
                answers[index] = stored.as_ref().map_err(Clone::clone).and_then(|stored| {
                    match check_retry(&jobs[index].appends, |id| Ok(stored.get(id).cloned()))? {
                        RetryCheck::Replay(outcome) => Ok(outcome),
                        RetryCheck::Fresh => Err(Error::Storage("ids reported stored were not found".into())),
                    }
                });
            }
        }
        Ok(answers)
    }
}

/// `skald_append`'s answer about one part (a stream written or a condition checked).
struct Part {
    status: i32,
    actual: Option<i64>,
    version: Option<i64>,
    position: Option<i64>,
}

impl Part {
    /// The parts of the answer row: four arrays, one element per part.
    fn from_row(row: &Row, parts: usize) -> Result<Vec<Part>, Error> {
        let status: Vec<i32> = column(row, 0)?;
        let actual: Vec<Option<i64>> = column(row, 1)?;
        let version: Vec<Option<i64>> = column(row, 2)?;
        let position: Vec<Option<i64>> = column(row, 3)?;
        if [status.len(), actual.len(), version.len(), position.len()] != [parts; 4] {
            return Err(Error::Storage(format!("skald_append answered {} parts for {parts}", status.len())));
        }
        let answers = status.into_iter().zip(actual).zip(version).zip(position);
        Ok(answers.map(|(((status, actual), version), position)| Part { status, actual, version, position }).collect())
    }
}

/// The answer to one job that was not a retry, from its parts (appends first, then conditions).
fn answer(job: &Job, parts: &[Part]) -> Result<AppendOutcome, Error> {
    let checks = job.appends.iter().map(|a| (&a.stream, a.expected_version));
    let checks = checks.chain(job.conditions.iter().map(|c| (&c.stream, c.expected_version)));
    for ((stream, expected), part) in checks.zip(parts) {
        if part.status == STATUS_WRONG_VERSION {
            let actual = part.actual.map(|v| v as u64);
            return Err(Error::WrongExpectedVersion { stream: stream.clone(), expected, actual });
        }
    }
    let mut streams = Vec::with_capacity(job.appends.len());
    for (append, part) in job.appends.iter().zip(parts) {
        let (Some(version), Some(position), STATUS_WRITTEN) = (part.version, part.position, part.status) else {
            return Err(Error::Storage(format!("skald_append left stream `{}` unwritten", append.stream)));
        };
        let last = append.events.len() as u64 - 1;
        streams.push(StreamAppended {
            stream: append.stream.clone(),
            first_version: version as u64,
            last_version: version as u64 + last,
            first_position: position as u64,
            last_position: position as u64 + last,
        });
    }
    Ok(AppendOutcome { streams, replayed: false })
}

fn stored_id(row: &Row) -> Result<(Uuid, StoredId), Error> {
    let id: Uuid = column(row, 0)?;
    let stream: String = column(row, 1)?;
    let version: i64 = column(row, 2)?;
    let position: i64 = column(row, 3)?;
    Ok((id, StoredId { stream, version: version as u64, position: position as u64 }))
}

/// `expected_version` as `skald_append` takes it.
fn encode_expected(expected: ExpectedVersion) -> i64 {
    match expected {
        ExpectedVersion::Any => -1,
        ExpectedVersion::NoStream => -2,
        ExpectedVersion::Exists => -3,
        // A version beyond i64 can never be a head: -4 matches nothing.
        ExpectedVersion::Exact(v) => i64::try_from(v).unwrap_or(-4),
    }
}

/// The arguments of one `skald_append` call, borrowed from the group's jobs.
///
/// Parts are each job's streams, then its conditions (count 0), jobs in queue order; events are
/// in part order. Slots and parts are 1-based (PostgreSQL arrays), jobs 0-based.
struct Call<'a> {
    streams: Vec<&'a str>,
    /// Per slot: the cached head (-1: no stream), or `None` to probe.
    known: Vec<Option<i64>>,
    part_append: Vec<i32>,
    part_slot: Vec<i32>,
    part_expected: Vec<i64>,
    part_count: Vec<i32>,
    part_described: Vec<Option<&'a str>>,
    part_metadata: Vec<Option<&'a [u8]>>,
    event_part: Vec<i32>,
    event_id: Vec<Uuid>,
    event_type: Vec<&'a str>,
    event_data: Vec<&'a [u8]>,
    event_metadata: Vec<&'a [u8]>,
}

impl<'a> Call<'a> {
    fn new(jobs: &'a [Job], cache: &HeadCache) -> Self {
        let parts: usize = jobs.iter().map(|j| j.appends.len() + j.conditions.len()).sum();
        let events: usize = jobs.iter().map(|j| j.events).sum();
        let mut call = Call {
            streams: Vec::new(),
            known: Vec::new(),
            part_append: Vec::with_capacity(parts),
            part_slot: Vec::with_capacity(parts),
            part_expected: Vec::with_capacity(parts),
            part_count: Vec::with_capacity(parts),
            part_described: Vec::with_capacity(parts),
            part_metadata: Vec::with_capacity(parts),
            event_part: Vec::with_capacity(events),
            event_id: Vec::with_capacity(events),
            event_type: Vec::with_capacity(events),
            event_data: Vec::with_capacity(events),
            event_metadata: Vec::with_capacity(events),
        };
        let mut slots: HashMap<&'a str, i32> = HashMap::new();
        for (index, job) in jobs.iter().enumerate() {
            for append in &job.appends {
                call.part(index, &mut slots, cache, &append.stream, append.expected_version, append.events.len());
                let part = call.part_append.len() as i32;
                for event in &append.events {
                    call.event_part.push(part);
                    call.event_id.push(event.id);
                    call.event_type.push(&event.event_type);
                    call.event_data.push(event.data.as_bytes());
                    call.event_metadata.push(event.metadata.as_bytes());
                }
                // A `$meta-<s>` stream sets the metadata of `s` to its last event that parses as
                // metadata (others are kept as events but change nothing, as in MemoryStore).
                let described = described_by_metadata_stream(&append.stream).and_then(|described| {
                    let last = append.events.iter().rev().find(|e| e.data.decode::<StreamMetadata>().is_ok());
                    last.map(|event| (described, event.data.as_bytes()))
                });
                call.part_described.push(described.map(|(s, _)| s));
                call.part_metadata.push(described.map(|(_, m)| m));
            }
            for condition in &job.conditions {
                call.part(index, &mut slots, cache, &condition.stream, condition.expected_version, 0);
                call.part_described.push(None);
                call.part_metadata.push(None);
            }
        }
        call
    }

    fn part(
        &mut self,
        job: usize,
        slots: &mut HashMap<&'a str, i32>,
        cache: &HeadCache,
        stream: &'a str,
        expected: ExpectedVersion,
        count: usize,
    ) {
        let next_slot = slots.len() as i32 + 1;
        let slot = *slots.entry(stream).or_insert(next_slot);
        if slot == next_slot {
            self.streams.push(stream);
            self.known.push(cache.known(stream));
        }
        self.part_append.push(job as i32);
        self.part_slot.push(slot);
        self.part_expected.push(encode_expected(expected));
        self.part_count.push(count as i32);
    }
}
