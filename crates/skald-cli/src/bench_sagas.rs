//! The saga workloads of `skald bench`: the travel saga of [`skald_examples::travel`] run by a
//! coordinator on the bench's store, its three task services served on loopback in this process.
//!
//! - `saga`: the success path (reserve a flight, reserve a car, take the payment: 3 tasks);
//! - `compensation`: the payment is declined, so the refund, the car and the flight are undone in
//!   reverse (6 tasks), and the execution fails with `BookingFailed`.
//!
//! Each path runs at concurrency 1 and at `--saga-concurrency`: that many callers each start a
//! saga and wait for it to finish, over and over until the time is up. Latency is the caller's,
//! from the start call to the finished execution. Every execution must end as its path says
//! (`SUCCEEDED` / `FAILED`); anything else fails the bench. Transitions and history per saga are
//! the coordinator's own counters ([`CoordinatorHandle::stats`]) before and after each run; CPU per
//! saga is the whole process's (coordinator, services, store threads), from `/proc` on Linux.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};
use skald_examples::travel::{self, Services};
use skald_log::Store;
use skald_saga::{Coordinator, CoordinatorHandle, CoordinatorOptions, ExecutionStatus, StartExecution};

use crate::bench::{figure, progress, watch_count, write_counts, Figure, LATENCY_SAMPLES_MAX};

/// The bench's state machine (named apart from a user's `travel` in a reused `--data-dir`).
const STATE_MACHINE: &str = "benchtravel";
/// How long one saga may take before the bench gives up on it.
const SAGA_TIMEOUT: Duration = Duration::from_secs(60);
/// Sagas run before the first measured one, so connection set-up is not measured.
const WARM_UP_SAGAS: usize = 16;

/// Which way through the travel saga.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SagaPath {
    /// Everything booked.
    Success,
    /// The payment declined; the bookings undone.
    Compensation,
}

impl SagaPath {
    /// The workload name `--only` selects it by.
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

/// A coordinator on the bench's store and the travel services it calls.
pub struct SagaBench {
    saga: CoordinatorHandle,
    store: Store,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Prefix of every execution name of this bench, so a reused `--data-dir` never answers a start
    /// with an execution of an earlier bench (starts are idempotent by name).
    run_id: String,
}

impl SagaBench {
    /// Serves the travel services on loopback, starts a coordinator on `store`, creates the state
    /// machine and warms up.
    pub async fn start(store: Store) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("cannot bind the travel services")?;
        let base = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(travel::serve(listener, Services::default()));
        let options = CoordinatorOptions { resources: travel::registry(&base), ..Default::default() };
        let saga =
            Coordinator::start(Arc::new(store.clone()), options).await.context("cannot start the saga coordinator")?;
        saga.create_state_machine(STATE_MACHINE, travel::definition())
            .await
            .context("cannot create the travel state machine")?;
        let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
        let bench = SagaBench { saga, store, server, run_id: format!("b{millis}") };
        let warm_up =
            (0..WARM_UP_SAGAS).map(|i| one(&bench.saga, SagaPath::Success, format!("{}-warm-{i}", bench.run_id)));
        for done in futures_util::future::join_all(warm_up).await {
            done?;
        }
        Ok(bench)
    }

    /// Runs `path` with `concurrency` callers for `duration`.
    pub async fn run(&self, path: SagaPath, concurrency: usize, duration: Duration) -> anyhow::Result<Figure> {
        let name = format!("{}-c{concurrency}", path.workload());
        let bar = progress(&name);
        let count = Arc::new(AtomicU64::new(0));
        // A failed caller stops the others early: the bench fails either way.
        let failed = Arc::new(AtomicBool::new(false));
        let before = self.saga.stats();
        let (store_before, index_commits_before) = (write_counts(&self.store), self.index_commits());
        let cpu_before = process_cpu_seconds();
        let started = Instant::now();
        let ticker = watch_count(bar.clone(), count.clone(), started, "sagas");
        let mut callers = Vec::with_capacity(concurrency);
        for caller in 0..concurrency {
            let saga = self.saga.clone();
            let prefix = format!("{}-{name}-{caller}", self.run_id);
            let (count, failed) = (count.clone(), failed.clone());
            callers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0u64;
                while started.elapsed() < duration && !failed.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    if let Err(e) = one(&saga, path, format!("{prefix}-{i}")).await {
                        failed.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                    if latencies.len() < LATENCY_SAMPLES_MAX / concurrency {
                        latencies.push(sent.elapsed().as_micros() as u64);
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                Ok(latencies)
            }));
        }
        let mut latencies = Vec::new();
        let mut first_error = None;
        for caller in callers {
            match caller.await.context("a saga caller panicked")? {
                Ok(samples) => latencies.extend(samples),
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        bar.finish_and_clear();
        ticker.await?;
        if let Some(e) = first_error {
            return Err(e.context(format!("the {name} workload failed")));
        }
        let sagas = count.load(Ordering::Relaxed);
        anyhow::ensure!(sagas > 0, "the {name} workload finished no saga in {seconds:.2} s");
        let after = self.saga.stats();
        let (store_after, index_commits_after) = (write_counts(&self.store), self.index_commits());
        // CPU per saga moves far less than sagas/s with the disk's drifting fsync rate.
        let cpu_per_saga = match (cpu_before, process_cpu_seconds()) {
            (Some(before), Some(after)) => format!("{:.0} µs of CPU", (after - before) * 1e6 / sagas as f64),
            _ => "CPU not measured".to_owned(),
        };
        let per_saga = |a: u64, b: u64| a.saturating_sub(b) as f64 / sagas as f64;
        let conditions = format!(
            "concurrency {concurrency}, {}; {:.0} transitions/s, {:.1} history events and {:.0} history bytes per saga; \
             per saga {cpu_per_saga} (the whole process), {:.2} write groups, {:.2} fsyncs, {:.2} index commits; \
             latency start → finished",
            path.describe(),
            after.transitions.saturating_sub(before.transitions) as f64 / seconds.max(1e-9),
            per_saga(after.history_events, before.history_events),
            per_saga(after.history_bytes, before.history_bytes),
            per_saga(store_after.1, store_before.1),
            per_saga(store_after.2, store_before.2),
            per_saga(index_commits_after, index_commits_before),
        );
        Ok(figure(&name, sagas, seconds, latencies, conditions).counting("sagas"))
    }

    fn index_commits(&self) -> u64 {
        self.store.stats().index_commits.load(Ordering::Relaxed)
    }

    /// Stops the coordinator and the services.
    pub async fn shutdown(self) {
        self.saga.shutdown().await;
        self.server.abort();
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
async fn one(saga: &CoordinatorHandle, path: SagaPath, name: String) -> anyhow::Result<()> {
    let started = saga
        .start_execution(StartExecution::new(STATE_MACHINE, &name, path.input(&name)))
        .await
        .with_context(|| format!("cannot start saga {name}"))?;
    let done = saga
        .wait_for_execution(&started.execution_id, SAGA_TIMEOUT)
        .await
        .with_context(|| format!("cannot wait for saga {}", started.execution_id))?;
    anyhow::ensure!(
        done.status == path.expected(),
        "saga {} ({}) ended {} instead of {}: {} {}",
        done.execution_id,
        path.workload(),
        done.status,
        path.expected(),
        done.error.unwrap_or_default(),
        done.cause.unwrap_or_default()
    );
    Ok(())
}
