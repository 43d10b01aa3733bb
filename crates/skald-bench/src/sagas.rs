//! The travel saga (`skald_examples::travel`) run by a coordinator on the bench's store, its
//! three task services on loopback in this process:
//!
//! - [`SagaPath::Success`] (`saga`): reserve a flight, reserve a car, take the payment: 3 tasks;
//! - [`SagaPath::Compensation`] (`compensation`): the payment is declined, so the refund, the car
//!   and the flight are undone in reverse (6 tasks), and the execution fails with `BookingFailed`.
//!
//! A run has `concurrency` callers, each starting a saga and waiting for it to finish, over and
//! over until the run's [`Until`] is reached. Latency is the caller's, from the start call to the
//! finished execution. Every execution must end as its path says (`SUCCEEDED` / `FAILED`);
//! anything else fails the run. Transitions and history per saga are the coordinator's counters
//! before and after each run; CPU per saga is the whole process's (coordinator, services, store
//! threads), from `/proc` on Linux.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use skald_core::EventStore;
use skald_examples::travel::{self, Services};
use skald_saga::{Coordinator, CoordinatorHandle, CoordinatorOptions, ExecutionStatus, StartExecution};

use crate::measure::Progress;
use crate::{BenchError, Measurement, Result, WriteCounter, LATENCY_SAMPLES_MAX};

/// The bench's state machine (named apart from a user's `travel` in a reused data directory).
const STATE_MACHINE: &str = "benchtravel";
/// How long one saga may take before the bench gives up on it.
const SAGA_TIMEOUT: Duration = Duration::from_secs(60);
/// Sagas run before the first measured one, so connection set-up is not measured.
pub const WARM_UP_SAGAS: u64 = 16;

/// Which way through the travel saga.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SagaPath {
    /// Everything booked.
    Success,
    /// The payment declined; the bookings undone.
    Compensation,
}

impl SagaPath {
    /// The workload's name.
    pub fn workload(self) -> &'static str {
        match self {
            SagaPath::Success => "saga",
            SagaPath::Compensation => "compensation",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            SagaPath::Success => "success path (3 tasks)",
            SagaPath::Compensation => "compensation path (payment declined; refund, car and flight undone: 6 tasks)",
        }
    }

    fn expected(self) -> ExecutionStatus {
        match self {
            SagaPath::Success => ExecutionStatus::Succeeded,
            SagaPath::Compensation => ExecutionStatus::Failed,
        }
    }

    /// The input that takes this path: the services decline any charge over 1000.
    fn input(self, trip_id: &str) -> Value {
        let amount = match self {
            SagaPath::Success => 420,
            SagaPath::Compensation => 5000,
        };
        json!({"trip_id": trip_id, "flight": "SK 1429", "car": "compact", "amount": amount})
    }
}

/// When a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// No saga starts after this much time.
    Elapsed(Duration),
    /// This many sagas, shared among the callers.
    Count(u64),
}

/// A coordinator on the bench's store and the travel services it calls.
pub struct SagaBench {
    saga: CoordinatorHandle,
    counter: Option<Arc<dyn WriteCounter>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Prefix of every execution name of this bench, so a reused data directory never answers a
    /// start with an execution of an earlier bench (starts are idempotent by name).
    run_id: String,
}

impl SagaBench {
    /// Serves the travel services on loopback, starts a coordinator on `store`, creates the state
    /// machine and runs `warm_up` sagas at concurrency 16. `counter` adds the store's writes per
    /// saga to the conditions.
    pub async fn start(
        store: Arc<dyn EventStore>,
        counter: Option<Arc<dyn WriteCounter>>,
        warm_up: u64,
    ) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(BenchError::io("binding the travel services"))?;
        let base = format!("http://{}", listener.local_addr().map_err(BenchError::io("the services' address"))?);
        let server = tokio::spawn(travel::serve(listener, Services::default()));
        let options = CoordinatorOptions { resources: travel::registry(&base), ..Default::default() };
        let saga = Coordinator::start(store, options).await?;
        saga.create_state_machine(STATE_MACHINE, travel::definition()).await?;
        let millis = skald_core::Timestamp::now().millis();
        let bench = SagaBench { saga, counter, server, run_id: format!("b{millis}") };
        let warm_up = (0..warm_up).map(|i| one(&bench.saga, SagaPath::Success, format!("{}-warm-{i}", bench.run_id)));
        for done in futures_util::future::join_all(warm_up).await {
            done?;
        }
        Ok(bench)
    }

    /// Runs `path` with `concurrency` callers until `until`.
    pub async fn run(&self, path: SagaPath, concurrency: usize, until: Until) -> Result<Measurement> {
        let name = format!("{}-c{concurrency}", path.workload());
        let progress = Progress::start(&name, "sagas");
        let before = (self.saga.stats(), self.counter.as_ref().map(|c| c.write_counts()), process_cpu_seconds());
        let callers = Callers { failed: Arc::default(), taken: Arc::default(), until, started: progress.started };
        let mut tasks = Vec::with_capacity(concurrency);
        for caller in 0..concurrency {
            let (saga, callers, count) = (self.saga.clone(), callers.clone(), progress.count.clone());
            let prefix = format!("{}-{name}-{caller}", self.run_id);
            tasks.push(tokio::spawn(async move { callers.call(&saga, path, &prefix, concurrency, &count).await }));
        }
        let mut latencies = Vec::new();
        let mut first_error = None;
        for task in tasks {
            match task.await? {
                Ok(samples) => latencies.extend(samples),
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        let (sagas, elapsed) = progress.finish().await;
        if let Some(e) = first_error {
            return Err(BenchError::Workload { workload: name, source: Box::new(e) });
        }
        if sagas == 0 {
            return Err(BenchError::Failed(format!("the {name} workload finished no saga in {elapsed:?}")));
        }
        let conditions = self.conditions(path, concurrency, sagas, elapsed, before);
        Ok(Measurement::new(&name, sagas, elapsed, latencies, conditions).counting("sagas"))
    }

    fn conditions(
        &self,
        path: SagaPath,
        concurrency: usize,
        sagas: u64,
        elapsed: Duration,
        (stats, writes, cpu): (skald_saga::CoordinatorStats, Option<crate::WriteCounts>, Option<f64>),
    ) -> String {
        let after = self.saga.stats();
        // CPU per saga moves far less than sagas/s with the disk's drifting fsync rate.
        let cpu_per_saga = match (cpu, process_cpu_seconds()) {
            (Some(before), Some(after)) => format!("{:.0} µs of CPU", (after - before) * 1e6 / sagas as f64),
            _ => "CPU not measured".to_owned(),
        };
        let per_saga = |a: u64, b: u64| a.saturating_sub(b) as f64 / sagas as f64;
        let store = match (writes, self.counter.as_ref()) {
            (Some(before), Some(counter)) => {
                let done = counter.write_counts() - before;
                format!(
                    ", {:.2} write groups, {:.2} fsyncs, {:.2} index commits",
                    per_saga(done.groups, 0),
                    per_saga(done.syncs, 0),
                    per_saga(done.index_commits, 0)
                )
            }
            _ => String::new(),
        };
        format!(
            "concurrency {concurrency}, {}; {:.0} transitions/s, {:.1} history events and {:.0} history bytes per saga; \
             per saga {cpu_per_saga} (the whole process){store}; latency start → finished",
            path.describe(),
            after.transitions.saturating_sub(stats.transitions) as f64 / elapsed.as_secs_f64().max(1e-9),
            per_saga(after.history_events, stats.history_events),
            per_saga(after.history_bytes, stats.history_bytes),
        )
    }

    /// Stops the coordinator and the services.
    pub async fn shutdown(self) {
        self.saga.shutdown().await;
        self.server.abort();
    }
}

/// What the callers of one run share.
#[derive(Clone)]
struct Callers {
    /// A failed caller stops the others early: the run fails either way.
    failed: Arc<AtomicBool>,
    /// Sagas started so far (for [`Until::Count`]).
    taken: Arc<AtomicU64>,
    until: Until,
    started: Instant,
}

impl Callers {
    fn another(&self) -> bool {
        !self.failed.load(Ordering::Relaxed)
            && match self.until {
                Until::Elapsed(duration) => self.started.elapsed() < duration,
                Until::Count(count) => self.taken.fetch_add(1, Ordering::Relaxed) < count,
            }
    }

    /// One caller: sagas one after another until the run ends; their latencies.
    async fn call(
        &self,
        saga: &CoordinatorHandle,
        path: SagaPath,
        prefix: &str,
        concurrency: usize,
        count: &AtomicU64,
    ) -> Result<Vec<u64>> {
        let mut latencies = Vec::new();
        let mut i = 0u64;
        while self.another() {
            let sent = Instant::now();
            if let Err(e) = one(saga, path, format!("{prefix}-{i}")).await {
                self.failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
            if latencies.len() < LATENCY_SAMPLES_MAX / concurrency {
                latencies.push(sent.elapsed().as_micros() as u64);
            }
            count.fetch_add(1, Ordering::Relaxed);
            i += 1;
        }
        Ok(latencies)
    }
}

/// CPU time this process's live threads have used, in seconds: the sum of the first field of
/// `/proc/self/task/*/schedstat` (nanoseconds on a CPU). `None` where there is no such file (not
/// Linux). Threads that ended are not counted; the bench's threads all live through a run.
fn process_cpu_seconds() -> Option<f64> {
    let mut nanos = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let text = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        nanos += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(nanos as f64 / 1e9)
}

/// Starts the saga `name` on `path` and waits until it has finished as the path says.
async fn one(saga: &CoordinatorHandle, path: SagaPath, name: String) -> Result<()> {
    let failed = |what: String| move |e| BenchError::Failed(format!("{what}: {e}"));
    let started = saga
        .start_execution(StartExecution::new(STATE_MACHINE, &name, path.input(&name)))
        .await
        .map_err(failed(format!("cannot start saga {name}")))?;
    let done = saga
        .wait_for_execution(&started.execution_id, SAGA_TIMEOUT)
        .await
        .map_err(failed(format!("cannot wait for saga {}", started.execution_id)))?;
    if done.status != path.expected() {
        return Err(BenchError::Failed(format!(
            "saga {} ({}) ended {} instead of {}: {} {}",
            done.execution_id,
            path.workload(),
            done.status,
            path.expected(),
            done.error.unwrap_or_default(),
            done.cause.unwrap_or_default()
        )));
    }
    Ok(())
}
