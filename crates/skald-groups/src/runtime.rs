//! One running group: the tasks around its [`Dispatcher`] and the operations the handle forwards.
//!
//! Tasks per group: the **reader** (subscribes to `$all` from the dispatcher's read cursor,
//! applies the filter, feeds the window and stops reading ahead while it is full), the **keeper**
//! (every tick: expires leases, releases retries, appends parked events to `$parked-<group>`,
//! writes the checkpoint to `$sub-<group>` every `checkpoint_interval`, finishes replays, updates
//! metrics), an optional **replay loader**, and the push lanes when the group pushes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use skald_core::{Clock, EventStore, RecordedEvent, Selector, StreamAppend, StreamCondition, SubscribeFrom, Uuid};
use skald_pattern::{Envelope, Pattern};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::dispatch::{Batch, Counts, DispatchConfig, Dispatcher, ParkRequest, Resolved, Source};
use crate::durable::{self, GroupRecord, ParkedEvent};
use crate::metrics::GroupMetrics;
use crate::{GroupError, GroupStats};

/// Longest a lease call waits for events.
pub const LEASE_WAIT_MAX: Duration = Duration::from_secs(60);
/// Parked events written in one append.
const PARK_APPEND_EVENTS_MAX: usize = 64;
/// How often a group's metrics are updated.
const METRICS_INTERVAL: Duration = Duration::from_millis(250);
/// Events taken from the subscription at once.
const READ_CHUNK_EVENTS: usize = 512;

/// Settings shared by every group of a service.
#[derive(Clone)]
pub(crate) struct RuntimeOptions {
    pub clock: Arc<dyn Clock>,
    pub checkpoint_interval: Duration,
    pub tick: Duration,
    pub seed: u64,
    pub http: reqwest::Client,
}

#[derive(Default)]
struct ReplayState {
    through: Option<u64>,
    loaded: bool,
}

pub(crate) struct GroupRuntime {
    pub record: GroupRecord,
    pattern: Pattern,
    state: Mutex<Dispatcher>,
    /// Wakes workers waiting for events.
    work: Notify,
    /// Wakes the reader (and replay loader) when the window has room.
    room: Notify,
    store: Arc<dyn EventStore>,
    /// The condition of the owner's lease on every append (empty for a solo node).
    pub fence: Vec<StreamCondition>,
    pub options: RuntimeOptions,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    durable_checkpoint: AtomicU64,
    skip: Mutex<BTreeSet<u64>>,
    replay: Mutex<ReplayState>,
    metrics: GroupMetrics,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GroupRuntime {
    /// Loads the group's durable state and starts its tasks.
    pub async fn start(
        store: Arc<dyn EventStore>,
        options: RuntimeOptions,
        record: GroupRecord,
        fence: Vec<StreamCondition>,
    ) -> Result<Arc<Self>, GroupError> {
        let pattern = record.spec.validate()?;
        let name = record.spec.name.clone();
        let checkpoint =
            durable::load_checkpoint(&*store, &name, record.incarnation).await?.unwrap_or(record.start_position);
        let parked = durable::load_parked(&*store, &name, record.incarnation, checkpoint).await?;
        let cfg = DispatchConfig {
            max_attempts: record.spec.effective_max_attempts(),
            backoff: record.spec.backoff,
            lease_timeout_ms: record.spec.lease_timeout_ms,
            max_in_flight: record.spec.max_in_flight,
        };
        let seed = options.seed ^ hash(&name);
        let lease_base = options.clock.now().micros();
        let runtime = Arc::new(GroupRuntime {
            pattern,
            state: Mutex::new(Dispatcher::new(cfg, checkpoint, seed, lease_base)),
            work: Notify::new(),
            room: Notify::new(),
            store,
            fence,
            stop: watch::Sender::new(false),
            tasks: Mutex::new(Vec::new()),
            durable_checkpoint: AtomicU64::new(checkpoint),
            skip: Mutex::new(parked.skip),
            replay: Mutex::new(ReplayState { through: parked.replay_through, loaded: false }),
            metrics: GroupMetrics::new(&name),
            options,
            record,
        });
        let mut tasks = vec![tokio::spawn(runtime.clone().read_loop()), tokio::spawn(runtime.clone().keep_loop())];
        if parked.replay_through.is_some() {
            tasks.push(tokio::spawn(runtime.clone().load_replay(parked.to_replay)));
        }
        if let Some(push) = runtime.record.spec.push.clone() {
            for lane in 0..push.parallelization_factor {
                tasks.push(tokio::spawn(crate::push::lane(runtime.clone(), push.clone(), lane)));
            }
        }
        *lock(&runtime.tasks) = tasks;
        Ok(runtime)
    }

    pub fn name(&self) -> &str {
        &self.record.spec.name
    }

    /// The dispatcher's time: milliseconds of the monotonic clock, so that a step of the wall
    /// clock neither expires every lease at once nor holds them (and retries) for its length.
    fn now(&self) -> u64 {
        self.options.clock.monotonic().as_millis() as u64
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Stops the tasks; with `flush`, writes the final checkpoint.
    pub async fn stop(&self, flush: bool) {
        self.stop.send_replace(true);
        self.work.notify_waiters();
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks {
            let _ = task.await;
        }
        if flush {
            if let Err(error) = self.flush_parked().await {
                tracing::warn!(group = self.name(), %error, "parked events not written at shutdown");
            }
            if let Err(error) = self.write_checkpoint().await {
                tracing::warn!(group = self.name(), %error, "final checkpoint not written");
            }
        }
    }

    /// Leases up to `max` events, waiting up to `wait` for some to arrive.
    pub async fn lease(&self, worker: &str, max: usize, wait: Duration) -> Result<Batch, GroupError> {
        let deadline = tokio::time::Instant::now() + wait.min(LEASE_WAIT_MAX);
        let mut stop = self.stop.subscribe();
        loop {
            let notified = self.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if *stop.borrow_and_update() {
                return Err(GroupError::ShuttingDown);
            }
            let batch = lock(&self.state).lease(worker, max, self.now()).map_err(|_| {
                GroupError::limit("leases", "group_leases_max", crate::GROUP_LEASES_MAX + 1, crate::GROUP_LEASES_MAX)
            })?;
            if !batch.events.is_empty() {
                return Ok(batch);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(batch);
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => {}
                _ = stop.wait_for(|stopped| *stopped) => {}
            }
        }
    }

    fn lease_gone(&self, lease_id: u64) -> GroupError {
        GroupError::LeaseExpired { group: self.name().to_owned(), lease_id }
    }

    pub fn ack(&self, lease_id: u64, ids: &[Uuid]) -> Result<Resolved, GroupError> {
        let resolved = lock(&self.state).ack(lease_id, ids, self.now()).map_err(|_| self.lease_gone(lease_id))?;
        self.after_resolve(resolved);
        Ok(resolved)
    }

    pub fn ack_all(&self, lease_id: u64) -> Result<Resolved, GroupError> {
        let resolved = lock(&self.state).ack_all(lease_id, self.now()).map_err(|_| self.lease_gone(lease_id))?;
        self.after_resolve(resolved);
        Ok(resolved)
    }

    pub fn nack(&self, lease_id: u64, ids: &[Uuid], reason: &str, park: bool) -> Result<Resolved, GroupError> {
        let resolved =
            lock(&self.state).nack(lease_id, ids, reason, park, self.now()).map_err(|_| self.lease_gone(lease_id))?;
        self.after_resolve(resolved);
        Ok(resolved)
    }

    fn after_resolve(&self, resolved: Resolved) {
        if resolved.applied > 0 {
            self.room.notify_one();
            // A freed stream may have more events for someone waiting.
            self.work.notify_waiters();
        }
    }

    pub fn stats(&self) -> GroupStats {
        let head = self.store.head_position();
        let (counts, checkpoint, oldest, workers, lag_events) = {
            let d = lock(&self.state);
            (d.counts(), d.checkpoint(), d.oldest_unresolved(), d.workers(), d.lag_events(head))
        };
        let now = self.options.clock.now();
        let lag_seconds = oldest.map(|t| now.saturating_duration_since(t).as_secs_f64()).unwrap_or(0.0);
        GroupStats {
            delivered: counts.delivered,
            acked: counts.acked,
            retried: counts.retried,
            parked: counts.parked,
            in_flight: counts.leased as u64,
            pending: (counts.window - counts.leased - counts.parking) as u64,
            workers: workers as u64,
            checkpoint,
            durable_checkpoint: self.durable_checkpoint.load(Ordering::SeqCst),
            head_position: head,
            lag_events,
            lag_seconds,
        }
    }

    fn wants(&self, event: &RecordedEvent, timestamp: &mut String) -> bool {
        if event.stream.starts_with(skald_core::RESERVED_PREFIX) {
            return false;
        }
        let ts = if self.pattern.uses_timestamp() {
            *timestamp = event.timestamp.to_rfc3339();
            timestamp.as_str()
        } else {
            ""
        };
        let envelope =
            Envelope::new(&event.stream, &event.event_type, ts, event.data.as_bytes(), event.metadata.as_bytes());
        self.pattern.matches(&envelope)
    }

    async fn read_loop(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let mut timestamp = String::new();
        'subscribe: while !self.stopped() {
            let from = lock(&self.state).read_cursor();
            let mut events =
                self.store.subscribe(Selector::All, SubscribeFrom::Position(from)).ready_chunks(READ_CHUNK_EVENTS);
            loop {
                let chunk = tokio::select! {
                    _ = stop.wait_for(|stopped| *stopped) => return,
                    chunk = events.next() => chunk,
                };
                let Some(chunk) = chunk else { return };
                let mut pending = std::collections::VecDeque::with_capacity(chunk.len());
                for item in chunk {
                    match item {
                        Ok(event) => pending.push_back(event),
                        Err(error) => {
                            tracing::warn!(group = self.name(), %error, "subscription failed; resubscribing");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            // What was taken stays; the rest is read again from the cursor.
                            self.feed(&mut pending, &mut timestamp, &mut stop).await;
                            continue 'subscribe;
                        }
                    }
                }
                if !self.feed(&mut pending, &mut timestamp, &mut stop).await {
                    return;
                }
            }
        }
    }

    /// Moves events into the window, waiting for room. Returns false when stopping.
    async fn feed(
        &self,
        pending: &mut std::collections::VecDeque<RecordedEvent>,
        timestamp: &mut String,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        while !pending.is_empty() {
            let mut offered = 0;
            {
                let mut skip = lock(&self.skip);
                let mut d = lock(&self.state);
                let mut room = d.room();
                while let Some(event) = pending.front() {
                    let wanted = self.wants(event, timestamp) && !skip.remove(&event.position);
                    if wanted && room == 0 {
                        break;
                    }
                    let Some(event) = pending.pop_front() else { break };
                    if wanted {
                        room -= 1;
                        offered += 1;
                    }
                    d.offer(event, wanted);
                }
            }
            if offered > 0 {
                self.work.notify_waiters();
            }
            if !pending.is_empty() {
                tokio::select! {
                    _ = self.room.notified() => {}
                    _ = stop.wait_for(|stopped| *stopped) => return false,
                }
            }
        }
        true
    }

    async fn keep_loop(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let mut interval = tokio::time::interval(self.options.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_checkpoint = tokio::time::Instant::now();
        let mut reported = Counts::default();
        let mut last_metrics = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            let ready = lock(&self.state).tick(self.now());
            if ready {
                self.work.notify_waiters();
            }
            if let Err(error) = self.flush_parked().await {
                tracing::warn!(group = self.name(), %error, "parking failed; retrying");
            }
            if last_checkpoint.elapsed() >= self.options.checkpoint_interval {
                last_checkpoint = tokio::time::Instant::now();
                if let Err(error) = self.write_checkpoint().await {
                    tracing::warn!(group = self.name(), %error, "checkpoint failed; retrying");
                }
            }
            if let Err(error) = self.finish_replay().await {
                tracing::warn!(group = self.name(), %error, "replay completion not recorded; retrying");
            }
            if last_metrics.elapsed() >= METRICS_INTERVAL {
                last_metrics = tokio::time::Instant::now();
                let stats = self.stats();
                let counts = lock(&self.state).counts();
                self.metrics.update(&reported, &counts, &stats);
                reported = counts;
            }
        }
    }

    /// Writes the events chosen for parking to `$parked-<group>`; each leaves the window only
    /// once its record is durable. A failed append is retried with the same event ids.
    async fn flush_parked(&self) -> Result<(), GroupError> {
        let requests = lock(&self.state).take_parking();
        if requests.is_empty() {
            return Ok(());
        }
        let mut result = Ok(());
        let mut unwritten: Vec<ParkRequest> = Vec::new();
        for chunk in requests.chunks(PARK_APPEND_EVENTS_MAX) {
            if result.is_err() {
                unwritten.extend_from_slice(chunk);
                continue;
            }
            let events = chunk
                .iter()
                .map(|r| {
                    let record = ParkedEvent {
                        incarnation: self.record.incarnation,
                        reason: r.reason.clone(),
                        attempts: r.attempts,
                        replayed: matches!(r.source, Source::Replay { .. }),
                        event: (*r.event).clone(),
                        parked_version: 0,
                    };
                    durable::parked_event(&record).with_id(park_id(self.record.incarnation, r))
                })
                .collect();
            match self.append_parked(events).await {
                Ok(_) => {
                    let mut d = lock(&self.state);
                    for r in chunk {
                        d.parked(r.seq);
                    }
                    drop(d);
                    self.room.notify_one();
                }
                Err(error) => {
                    unwritten.extend_from_slice(chunk);
                    result = Err(error.into());
                }
            }
        }
        if !unwritten.is_empty() {
            lock(&self.state).return_parking(unwritten);
        }
        result
    }

    /// Appends parked records. Their ids are fixed per decision, so a retry after a lost answer
    /// is recognised; when only some of a chunk were stored (the chunk was cut differently
    /// before), they are appended one by one.
    /// Appends as the group's owner: with the lease's fence, so that a node that lost the group
    /// cannot write its checkpoints or parked records any more.
    async fn append(&self, appends: Vec<StreamAppend>) -> Result<skald_core::AppendOutcome, skald_core::Error> {
        self.store.append_if(appends, self.fence.clone()).await
    }

    async fn append_parked(&self, events: Vec<skald_core::NewEvent>) -> Result<(), skald_core::Error> {
        let stream = durable::parked_stream(self.name());
        match self.append(vec![StreamAppend::new(stream.clone(), events.clone())]).await {
            Err(skald_core::Error::IdempotencyConflict { .. }) => {
                for event in events {
                    self.append(vec![StreamAppend::new(stream.clone(), vec![event])]).await?;
                }
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    async fn write_checkpoint(&self) -> Result<(), GroupError> {
        let checkpoint = lock(&self.state).checkpoint();
        if checkpoint <= self.durable_checkpoint.load(Ordering::SeqCst) {
            return Ok(());
        }
        durable::append_checkpoint(&*self.store, self.name(), self.record.incarnation, checkpoint, &self.fence).await?;
        self.durable_checkpoint.fetch_max(checkpoint, Ordering::SeqCst);
        Ok(())
    }

    /// Starts a replay of everything parked so far. Returns how many events it re-delivers.
    pub async fn replay_parked(self: &Arc<Self>) -> Result<usize, GroupError> {
        {
            let mut replay = lock(&self.replay);
            if replay.through.is_some() {
                return Err(GroupError::invalid("replay", "a replay of parked events is already running"));
            }
            // Reserved while the replay starts; `loaded` stays false so it cannot complete.
            *replay = ReplayState { through: Some(u64::MAX), loaded: false };
        }
        let started = self.start_replay().await;
        if !matches!(started, Ok(count) if count > 0) {
            *lock(&self.replay) = ReplayState::default();
        }
        started
    }

    async fn start_replay(self: &Arc<Self>) -> Result<usize, GroupError> {
        let checkpoint = lock(&self.state).checkpoint();
        let parked = durable::load_parked(&*self.store, self.name(), self.record.incarnation, checkpoint).await?;
        let (Some(through), false) = (parked.head, parked.unreplayed.is_empty()) else { return Ok(0) };
        let request = durable::replay_event(self.record.incarnation, through, false);
        self.append(vec![StreamAppend::new(durable::parked_stream(self.name()), vec![request])]).await?;
        let records: Vec<ParkedEvent> = parked.unreplayed.into_iter().filter(|p| p.parked_version <= through).collect();
        let count = records.len();
        *lock(&self.replay) = ReplayState { through: Some(through), loaded: false };
        let task = tokio::spawn(self.clone().load_replay(records));
        lock(&self.tasks).push(task);
        Ok(count)
    }

    async fn load_replay(self: Arc<Self>, records: Vec<ParkedEvent>) {
        let mut stop = self.stop.subscribe();
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let room_wait = self.room.notified();
            {
                let mut d = lock(&self.state);
                let mut room = d.room();
                while room > 0 {
                    let Some(record) = records.next() else { break };
                    d.offer_replay(Arc::new(record.event), record.parked_version);
                    room -= 1;
                }
            }
            self.work.notify_waiters();
            if records.peek().is_some() {
                tokio::select! {
                    _ = room_wait => {}
                    _ = stop.wait_for(|stopped| *stopped) => return,
                }
            }
        }
        lock(&self.replay).loaded = true;
    }

    async fn finish_replay(&self) -> Result<(), GroupError> {
        let through = {
            let replay = lock(&self.replay);
            match replay.through {
                Some(through) if replay.loaded => through,
                _ => return Ok(()),
            }
        };
        if lock(&self.state).replay_outstanding() > 0 {
            return Ok(());
        }
        let done = durable::replay_event(self.record.incarnation, through, true);
        self.append(vec![StreamAppend::new(durable::parked_stream(self.name()), vec![done])]).await?;
        *lock(&self.replay) = ReplayState::default();
        Ok(())
    }

    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped()
    }

    /// Waits until some event can be leased (or `timeout`); push lanes start their batching
    /// window then.
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.stopped() || lock(&self.state).tick(self.now()) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }
}

/// The id of a parked record: the same for a retried append of the same decision.
fn park_id(incarnation: Uuid, request: &ParkRequest) -> Uuid {
    let a = incarnation.as_u128() ^ (request.event.position as u128) << 64 ^ request.attempts as u128;
    let b = match request.source {
        Source::Live => 0,
        Source::Replay { parked_version } => parked_version as u128 + 1,
    };
    Uuid::from_u128(a.rotate_left(17) ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}
