//! The heart of the coordinator: the shared state ([`Inner`]), the per-execution slots, and the
//! one path every input takes ([`Inner::deliver`]):
//!
//! 1. lock the execution's slot (loading it by replaying its history if it is not in memory);
//! 2. `Execution::handle(input, now)`;
//! 3. append the step's events to `$exec-<id>` with expected version = history length (plus the
//!    `ExecutionClosed` index record in the same append when the step ends the execution);
//! 4. only then carry out the step's commands ([`Inner::apply`]): dispatch tasks, start and
//!    cancel timers, complete.
//!
//! A failed or conflicting append throws the in-memory execution away; the next input reloads it
//! from the log. Recovery ([`Inner::recover`]) replays every open execution and re-issues its
//! pending commands. Idle executions beyond `executions_cached_max` are evicted.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use skald_asl::{Command, Execution, ExecutionStatus, HandleError, Input};
use skald_core::{Clock, EventStore, Timestamp};
use tokio::sync::{oneshot, watch, OwnedMutexGuard, Semaphore};
use tokio::task::AbortHandle;

use crate::activities::Activities;
use crate::error::SagaError;
use crate::journal::{self, Closed, IndexRecord};
use crate::machines::Machines;
use crate::model::ExecutionDescription;
use crate::names::parse_state_machine_version_id;
use crate::options::{CoordinatorOptions, Probe, ProbePoint};
use crate::resources::ResourceRegistry;
use crate::timers::Timers;

/// One execution in memory. `stale` slots were thrown away and must not be used.
#[derive(Default)]
pub(crate) struct Slot {
    pub exec: Option<Execution>,
    pub stale: bool,
}

/// Counters since start.
#[derive(Default)]
pub(crate) struct Counters {
    pub history_events: AtomicU64,
    pub history_bytes: AtomicU64,
    pub transitions: AtomicU64,
    pub appends: AtomicU64,
    pub recovery_index_records: AtomicU64,
}

/// What became of an input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// Its step was recorded.
    Recorded,
    /// The execution ignored it (late result, cancelled timer).
    Ignored,
}

pub(crate) struct Inner {
    pub store: Arc<dyn EventStore>,
    pub options: CoordinatorOptions,
    pub clock: Arc<dyn Clock>,
    pub registry: Arc<ResourceRegistry>,
    pub machines: Machines,
    pub cache: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    pub open: Mutex<HashSet<String>>,
    pub timers: Timers,
    pub activities: Activities,
    pub inflight: Mutex<HashMap<(String, String), AbortHandle>>,
    pub permits: Arc<Semaphore>,
    pub waiters: Mutex<HashMap<String, Vec<oneshot::Sender<ExecutionDescription>>>>,
    pub http: crate::http::Client,
    pub shutting_down: AtomicBool,
    pub shutdown: watch::Sender<bool>,
    pub active: AtomicUsize,
    pub counters: Counters,
    pub probe: Option<Probe>,
    pub timer_loop: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Counts an operation in progress, so shutdown can wait for it.
pub(crate) struct Active<'a>(&'a AtomicUsize);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    /// The coordinator's time, in whole milliseconds: what its records (histories, the index, the
    /// API) hold, so an execution in memory is exactly what a restart reads back.
    pub fn now(&self) -> Timestamp {
        self.clock.now().truncated_to_millis()
    }

    pub fn new(store: Arc<dyn EventStore>, options: CoordinatorOptions) -> Arc<Inner> {
        let http = crate::http::client(options.http_connect_timeout);
        let registry = Arc::new(options.resources.clone());
        Arc::new(Inner {
            machines: Machines::new(store.clone(), registry.clone(), options.definitions_cached_max),
            store,
            clock: options.clock.clone(),
            registry,
            cache: Mutex::new(HashMap::new()),
            open: Mutex::new(HashSet::new()),
            timers: Timers::default(),
            activities: Activities::new(options.activity_queue_max),
            inflight: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(options.tasks_inflight_max.max(1))),
            waiters: Mutex::new(HashMap::new()),
            http,
            shutting_down: AtomicBool::new(false),
            shutdown: watch::Sender::new(false),
            active: AtomicUsize::new(0),
            counters: Counters::default(),
            probe: options.probe.clone(),
            timer_loop: Mutex::new(None),
            options,
        })
    }

    /// Marks an operation in progress; fails once shutdown has begun.
    pub fn enter(&self) -> Result<Active<'_>, SagaError> {
        self.active.fetch_add(1, Ordering::SeqCst);
        let guard = Active(&self.active);
        if self.shutting_down.load(Ordering::SeqCst) {
            return Err(SagaError::ShuttingDown);
        }
        Ok(guard)
    }

    pub fn probe(&self, point: ProbePoint<'_>) {
        if let Some(probe) = &self.probe {
            probe(point);
        }
    }

    /// Locks the slot of `id`, loading the execution by replay if needed.
    pub async fn slot(&self, id: &str) -> Result<OwnedMutexGuard<Slot>, SagaError> {
        for _ in 0..8 {
            let slot = {
                let mut cache = lock(&self.cache);
                if let Some(slot) = cache.get(id) {
                    slot.clone()
                } else {
                    let slot = Arc::new(tokio::sync::Mutex::new(Slot::default()));
                    cache.insert(id.to_owned(), slot.clone());
                    self.evict(&mut cache);
                    slot
                }
            };
            let mut guard = slot.lock_owned().await;
            if guard.stale {
                continue;
            }
            if guard.exec.is_none() {
                match self.load(id).await {
                    Ok(exec) => guard.exec = Some(exec),
                    Err(e) => {
                        self.discard(id, &mut guard);
                        return Err(e);
                    }
                }
            }
            return Ok(guard);
        }
        Err(SagaError::Store(skald_core::Error::Overloaded { retry_after_ms: 10 }))
    }

    /// Throws a slot away (after a failed append, at completion).
    pub fn discard(&self, id: &str, guard: &mut Slot) {
        guard.stale = true;
        guard.exec = None;
        lock(&self.cache).remove(id);
    }

    /// Evicts idle executions once the cache is over its bound (down to 7/8 of it).
    pub fn evict(&self, cache: &mut HashMap<String, Arc<tokio::sync::Mutex<Slot>>>) {
        let max = self.options.executions_cached_max.max(8);
        if cache.len() <= max {
            return;
        }
        let target = max - max / 8;
        // Only the map holds an idle slot, and clones are made under the map's lock.
        let idle: Vec<String> = cache
            .iter()
            .filter(|(_, slot)| Arc::strong_count(slot) == 1)
            .map(|(id, _)| id.clone())
            .take(cache.len() - target)
            .collect();
        for id in idle {
            cache.remove(&id);
        }
    }

    /// Rebuilds an execution from its history.
    pub async fn load(&self, id: &str) -> Result<Execution, SagaError> {
        let history = journal::read_history(&self.store, id).await?;
        let Some(first) = history.first() else {
            return Err(SagaError::ExecutionNotFound { id: id.to_owned() });
        };
        let skald_asl::EventDetails::ExecutionStarted { context, .. } = &first.details else {
            return Err(SagaError::HistoryCorrupt { id: id.to_owned(), reason: "no ExecutionStarted".into() });
        };
        let corrupt = |reason: String| SagaError::HistoryCorrupt { id: id.to_owned(), reason };
        let (name, version) = parse_state_machine_version_id(&context.state_machine_id)
            .ok_or_else(|| corrupt(format!("state machine id {:?} has no version", context.state_machine_id)))?;
        let definition = self.machines.definition(name, version).await?;
        skald_asl::replay(&definition, &history).map_err(|e| corrupt(e.to_string()))
    }

    /// Feeds one input to an execution and records the step (see the module docs).
    pub async fn deliver(self: &Arc<Self>, id: &str, input: &Input) -> Result<Delivered, SagaError> {
        let _active = self.enter()?;
        for _ in 0..8 {
            let mut guard = self.slot(id).await?;
            let Some(exec) = guard.exec.as_mut() else { continue };
            if exec.status() != ExecutionStatus::Running {
                // Finished (perhaps by another coordinator): drop what this one still holds for it.
                let status = exec.status();
                self.complete(id, &mut guard);
                return Err(SagaError::ExecutionNotRunning { id: id.to_owned(), status });
            }
            // A clock that stepped back (or a history written by a coordinator whose clock ran ahead)
            // must not stop the execution: its time goes on from its last event.
            let now = self.now().max(exec.last_event_time());
            let step = match exec.handle(input.clone(), now) {
                Ok(step) => step,
                Err(HandleError::Finished { .. }) => {
                    return Err(SagaError::ExecutionNotRunning { id: id.to_owned(), status: exec.status() })
                }
                Err(e) => return Err(SagaError::HistoryCorrupt { id: id.to_owned(), reason: e.to_string() }),
            };
            if step.events.is_empty() {
                return Ok(Delivered::Ignored);
            }
            let status = exec.status();
            let index = (status != ExecutionStatus::Running).then(|| {
                let stop_time = step.events.last().map(|e| e.timestamp).unwrap_or_else(|| self.now());
                IndexRecord::Closed(Closed { execution_id: id.to_owned(), status, stop_time })
            });
            match journal::append_step(&self.store, id, &step.events, index.into_iter().collect()).await {
                Ok(bytes) => {
                    self.recorded(id, step.events, bytes);
                    self.apply(id, &mut guard, step.commands);
                    return Ok(Delivered::Recorded);
                }
                Err(SagaError::Store(skald_core::Error::WrongExpectedVersion { .. })) => {
                    // Someone else wrote this history: reload it and try the input again.
                    self.discard(id, &mut guard);
                }
                Err(e) => {
                    self.discard(id, &mut guard);
                    return Err(e);
                }
            }
        }
        Err(SagaError::Store(skald_core::Error::Overloaded { retry_after_ms: 10 }))
    }

    /// Delivers, retrying transient store failures until it lands or shutdown begins.
    pub async fn deliver_until_done(self: &Arc<Self>, id: &str, input: Input) {
        let mut pause = Duration::from_millis(5);
        loop {
            match self.deliver(id, &input).await {
                Ok(_) | Err(SagaError::ShuttingDown) | Err(SagaError::ExecutionNotRunning { .. }) => return,
                Err(e @ SagaError::Store(skald_core::Error::Overloaded { .. } | skald_core::Error::Storage(_))) => {
                    tracing::warn!(execution = id, error = %e, "recording an input failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    // Not transient: the input stays unrecorded; a restart re-issues its task.
                    tracing::error!(execution = id, error = %e, "cannot record an input");
                    return;
                }
            }
        }
    }

    /// Counts a recorded step. It takes the step's events so that they are gone before its
    /// commands are applied: a finished execution's output then moves into the answer to its
    /// waiters instead of being copied.
    pub fn recorded(&self, id: &str, events: Vec<skald_asl::HistoryEvent>, bytes: usize) {
        let c = &self.counters;
        c.appends.fetch_add(1, Ordering::Relaxed);
        c.history_events.fetch_add(events.len() as u64, Ordering::Relaxed);
        c.history_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        let entered = events.iter().filter(|e| e.event_type().ends_with("StateEntered")).count();
        c.transitions.fetch_add(entered as u64, Ordering::Relaxed);
        self.probe(ProbePoint::HistoryAppended { execution_id: id, events: &events });
    }

    /// Carries out a recorded step's commands (the slot is locked by the caller).
    pub fn apply(self: &Arc<Self>, id: &str, slot: &mut Slot, commands: Vec<Command>) {
        for command in commands {
            match command {
                Command::ScheduleTask { .. } => self.dispatch(id, command),
                Command::CancelTask { task_id } => self.cancel_task(id, &task_id),
                Command::StartTimer { timer_id, fire_at } => self.timers.start(id, &timer_id, fire_at),
                Command::CancelTimer { timer_id } => self.timers.cancel(id, &timer_id),
                Command::CompleteExecution { output, .. } => {
                    drop(output); // the command's share: the execution's then moves into the answer uncopied
                    self.complete(id, slot)
                }
            }
        }
    }

    fn cancel_task(&self, id: &str, task_id: &str) {
        if let Some(handle) = lock(&self.inflight).remove(&(id.to_owned(), task_id.to_owned())) {
            handle.abort();
        }
        self.activities.forget_task(id, task_id);
    }

    /// The execution ended: forget everything about it and wake whoever waits for it.
    fn complete(&self, id: &str, slot: &mut Slot) {
        lock(&self.open).remove(id);
        self.timers.cancel_all(id);
        self.activities.forget_execution(id);
        {
            let mut inflight = lock(&self.inflight);
            let keys: Vec<_> = inflight.keys().filter(|(e, _)| e == id).cloned().collect();
            for key in keys {
                if let Some(handle) = inflight.remove(&key) {
                    handle.abort();
                }
            }
        }
        let waiters = lock(&self.waiters).remove(id);
        // The execution is discarded below, so its input and output move into the answer.
        if let (Some(mut waiters), Some(exec)) = (waiters, slot.exec.take()) {
            // Answered from memory: a waiter needs no read of the history it just wrote.
            let description = finished_description(id, exec);
            if let Some(last) = waiters.pop() {
                for waiter in waiters {
                    let _ = waiter.send(description.clone());
                }
                let _ = last.send(description);
            }
        }
        self.discard(id, slot);
    }

    /// Answers with the description of execution `id` once it is no longer running.
    pub fn completion(&self, id: &str) -> oneshot::Receiver<ExecutionDescription> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = lock(&self.waiters);
        let list = waiters.entry(id.to_owned()).or_default();
        list.retain(|w| !w.is_closed());
        list.push(tx);
        rx
    }

    /// Drops the waiters of `id` that gave up (called after a wait ends without completion).
    pub fn prune_waiters(&self, id: &str) {
        let mut waiters = lock(&self.waiters);
        if let Some(list) = waiters.get_mut(id) {
            list.retain(|w| !w.is_closed());
            if list.is_empty() {
                waiters.remove(id);
            }
        }
    }

    /// Replays every open execution and re-issues its pending commands.
    pub async fn recover(self: &Arc<Self>) -> Result<usize, SagaError> {
        let scan = journal::open_executions(&self.store).await?;
        self.counters.recovery_index_records.store(scan.records_read, Ordering::Relaxed);
        tracing::debug!(
            from = scan.scanned_from,
            records = scan.records_read,
            open = scan.ids.len(),
            "scanned $executions"
        );
        if let Err(e) = journal::record_checkpoint(&self.store, &scan).await {
            // Only the next start-up's speed depends on it: it reads from the older checkpoint.
            tracing::warn!(error = %e, "cannot record how far $executions may be skipped");
        }
        let count = scan.ids.len();
        for id in scan.ids {
            lock(&self.open).insert(id.clone());
            let mut guard = match self.slot(&id).await {
                Ok(guard) => guard,
                Err(e) => {
                    tracing::error!(execution = %id, error = %e, "cannot recover execution");
                    continue;
                }
            };
            let Some(exec) = guard.exec.as_ref() else { continue };
            let status = exec.status();
            let commands = exec.pending_commands();
            if status != ExecutionStatus::Running {
                // Finished but its index record is missing (written by an older coordinator).
                let record = Closed { execution_id: id.clone(), status, stop_time: self.now() };
                let event = skald_core::NewEvent::new(journal::CLOSED_TYPE, skald_core::Json::from_value(&record));
                self.store
                    .append(vec![skald_core::StreamAppend::new(crate::names::EXECUTIONS_STREAM, vec![event])])
                    .await?;
            }
            self.apply(&id, &mut guard, commands);
        }
        Ok(count)
    }

    /// The timer loop: fires due timers until shutdown.
    pub async fn run_timers(self: Arc<Self>) {
        let mut shutdown = self.shutdown.subscribe();
        loop {
            if *shutdown.borrow() {
                return;
            }
            for (_, id, timer_id) in self.timers.take_due(self.now()) {
                let inner = self.clone();
                tokio::spawn(async move { inner.deliver_until_done(&id, Input::TimerFired { timer_id }).await });
            }
            let sleep = match self.timers.next() {
                Some(at) => self.clock.sleep_until(at),
                None => Box::pin(std::future::pending()),
            };
            tokio::select! {
                _ = sleep => {}
                _ = self.timers.changed.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Stops: no new work, in-flight task attempts aborted, operations in progress finished.
    pub async fn stop(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.shutdown.send_replace(true);
        for (_, handle) in lock(&self.inflight).drain() {
            handle.abort();
        }
        self.activities.wake_all();
        lock(&self.waiters).clear();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.active.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let timer_loop = lock(&self.timer_loop).take();
        if let Some(timer_loop) = timer_loop {
            let _ = timer_loop.await;
        }
        // Let aborted task attempts unwind, releasing their hold on the store.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }
}

/// How a finished execution stands, from its state in memory (the same as a describe would read).
fn finished_description(id: &str, exec: Execution) -> ExecutionDescription {
    let context = exec.context();
    let error = exec.error();
    let mut description = ExecutionDescription {
        execution_id: id.to_owned(),
        name: context.name.clone(),
        state_machine: context.state_machine_name.clone(),
        state_machine_version: parse_state_machine_version_id(&context.state_machine_id).map_or(0, |(_, v)| v),
        status: exec.status(),
        input: Value::Null,
        output: None,
        error: error.map(|e| e.error.clone()),
        cause: error.map(|e| e.cause.clone()),
        start_time: context.start_time,
        stop_time: Some(exec.last_event_time()),
        history_length: exec.history_len(),
        current_states: Vec::new(),
    };
    (description.input, description.output) = exec.into_input_and_output();
    description
}
