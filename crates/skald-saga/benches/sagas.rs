//! Travel sagas per second, latency, state transitions per second and history bytes per saga, on
//! a MemoryStore and on a skald-log store in a temp dir (fsync on), with the three task services
//! on loopback in the same process.
//!
//! `cargo bench -p skald-saga` (`SAGA_BENCH_SAGAS=N` sets sagas per run, default 2000;
//! `SAGA_BENCH_STORES=memory` or `skald-log` runs one store only; `SAGA_BENCH_SYNC=relaxed` runs
//! skald-log without fsync).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use skald_core::{EventStore, MemoryStore};
use skald_examples::travel::{self, Services};
use skald_saga::{Coordinator, CoordinatorHandle, CoordinatorOptions, ExecutionStatus, StartExecution};

struct Figures {
    sagas_per_second: f64,
    p50: Duration,
    p99: Duration,
    transitions_per_second: f64,
    history_bytes_per_saga: f64,
    events_per_saga: f64,
}

fn input(name: &str, compensate: bool) -> Value {
    json!({"trip_id": name, "flight": "SK 1429", "car": "compact", "amount": if compensate { 5000 } else { 420 }})
}

async fn run(saga: &CoordinatorHandle, label: &str, sagas: usize, concurrency: usize, compensate: bool) -> Figures {
    let before = saga.stats();
    let started = Instant::now();
    let per_worker = sagas.div_ceil(concurrency);
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let saga = saga.clone();
        let label = label.to_owned();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_worker);
            for i in 0..per_worker {
                let name = format!("{label}-{w}-{i}");
                let t = Instant::now();
                let s = saga.start_execution(StartExecution::new("travel", &name, input(&name, compensate))).await;
                let id = s.expect("start").execution_id;
                let done = saga.wait_for_execution(&id, Duration::from_secs(60)).await.expect("finish");
                let expected = if compensate { ExecutionStatus::Failed } else { ExecutionStatus::Succeeded };
                assert_eq!(done.status, expected, "{name}");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.expect("worker"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = saga.stats();
    latencies.sort();
    let n = latencies.len();
    Figures {
        sagas_per_second: n as f64 / elapsed,
        p50: latencies[n / 2],
        p99: latencies[(n * 99 / 100).min(n - 1)],
        transitions_per_second: (after.transitions - before.transitions) as f64 / elapsed,
        history_bytes_per_saga: (after.history_bytes - before.history_bytes) as f64 / n as f64,
        events_per_saga: (after.history_events - before.history_events) as f64 / n as f64,
    }
}

async fn bench_store(name: &str, store: Arc<dyn EventStore>, base: &str, sagas: usize) {
    let options = CoordinatorOptions { resources: travel::registry(base), ..Default::default() };
    let saga = Coordinator::start(store, options).await.expect("coordinator");
    saga.create_state_machine("travel", travel::definition()).await.expect("definition");
    run(&saga, &format!("{name}-warm"), 200, 16, false).await;
    for (path, compensate) in [("success", false), ("compensation", true)] {
        for concurrency in [1, 64] {
            let count = if concurrency == 1 { sagas / 4 } else { sagas };
            let f = run(&saga, &format!("{name}-{path}-{concurrency}"), count, concurrency, compensate).await;
            println!(
                "{name:<12} {path:<13} c={concurrency:<3} {:>8.0} sagas/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {:>9.0} transitions/s  {:>6.0} history B/saga ({:.0} events)",
                f.sagas_per_second,
                f.p50.as_secs_f64() * 1e3,
                f.p99.as_secs_f64() * 1e3,
                f.transitions_per_second,
                f.history_bytes_per_saga,
                f.events_per_saga,
            );
        }
    }
    saga.shutdown().await;
}

fn main() {
    let sagas: usize = std::env::var("SAGA_BENCH_SAGAS").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let base = travel::spawn(Services::default()).await.expect("services");
        println!("travel saga, {sagas} sagas per run at concurrency 64 ({} at 1), services on loopback", sagas / 4);
        let stores = std::env::var("SAGA_BENCH_STORES").unwrap_or_else(|_| "memory,skald-log".into());
        if stores.contains("memory") {
            bench_store("memory", Arc::new(MemoryStore::new()), &base, sagas).await;
        }
        if stores.contains("skald-log") {
            let dir = tempfile::tempdir().expect("temp dir");
            let relaxed = std::env::var("SAGA_BENCH_SYNC").is_ok_and(|s| s == "relaxed");
            let sync = if relaxed { skald_log::SyncMode::Relaxed } else { skald_log::SyncMode::Fsync };
            let options = skald_log::Options { sync, ..Default::default() };
            let store = Arc::new(skald_log::Store::open(dir.path(), options).expect("store"));
            bench_store(if relaxed { "log-relaxed" } else { "skald-log" }, store.clone(), &base, sagas).await;
            store.close();
        }
    });
}
