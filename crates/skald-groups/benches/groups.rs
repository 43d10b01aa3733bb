//! Consumer-group benchmarks (no harness): run with
//! `cargo bench -p skald-groups --bench groups`. Prints events/s and latencies for
//! - one pulled group with 4 workers leasing batches of 1,000 (events already in the log),
//! - fan-out: the same log read by 10 groups with 4 workers each,
//! - append → delivery latency p50/p99 for a worker waiting in a long-poll (one event at a time),
//! - append → delivery latency p50/p99 of push delivery to an HTTP endpoint on loopback,
//!
//! each on a `MemoryStore` and on a `skald_log::Store` in a temporary directory (fsync mode).
//! `SKALD_BENCH_EVENTS` sets the log size (default 400,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use skald_core::{EventStore, MemoryStore, NewEvent, StreamAppend};
use skald_groups::{GroupSpec, Groups, GroupsOptions};

const STREAMS: usize = 100;
const WORKERS: usize = 4;
const BATCH: usize = 1000;

async fn fill(store: &dyn EventStore, events: usize) {
    let per_append = 10; // events per stream per append
    let mut written = 0;
    while written < events {
        let appends = (0..STREAMS)
            .map(|s| {
                let batch = (0..per_append).map(|i| NewEvent::new("Placed", json!({"n": written + i}))).collect();
                StreamAppend::new(format!("order-{s}"), batch)
            })
            .collect();
        store.append(appends).await.unwrap();
        written += STREAMS * per_append;
    }
}

fn spec(name: &str) -> GroupSpec {
    GroupSpec { max_in_flight: 50_000, ..GroupSpec::new(name) }
}

/// Creates `groups` groups, runs `WORKERS` workers on each, returns events/s delivered in all.
async fn throughput(store: Arc<dyn EventStore>, groups_count: usize, events: usize) -> f64 {
    let groups = Groups::start(store.clone(), GroupsOptions::default()).await.unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for g in 0..groups_count {
        let name = format!("bench-{groups_count}-{g}");
        groups.create_group(spec(&name)).await.unwrap();
        for w in 0..WORKERS {
            let groups = groups.clone();
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = 0;
                loop {
                    let batch = groups.lease(&name, &format!("w{w}"), BATCH, Duration::from_millis(50)).await.unwrap();
                    if batch.events.is_empty() {
                        if groups.group_stats(&name).unwrap().acked >= events as u64 {
                            return got;
                        }
                        continue;
                    }
                    got += batch.events.len();
                    groups.ack_all(&name, batch.lease_id).unwrap();
                }
            }));
        }
    }
    let mut delivered = 0;
    for task in tasks {
        delivered += task.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert!(delivered >= events * groups_count, "delivered {delivered} of {}", events * groups_count);
    groups.shutdown().await;
    delivered as f64 / elapsed.as_secs_f64()
}

/// Appends `samples` events numbered in `data.i`, one every 2 ms; returns when each was sent.
async fn ping(store: &dyn EventStore, samples: usize) -> Vec<Instant> {
    let mut sent = Vec::with_capacity(samples);
    for i in 0..samples {
        sent.push(Instant::now());
        let event = NewEvent::new("Ping", json!({"i": i}));
        store.append(vec![StreamAppend::new("ping-1", vec![event])]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    sent
}

/// Append → delivery latency of single events to a waiting worker.
async fn latency(store: Arc<dyn EventStore>, samples: usize) -> (Duration, Duration) {
    let groups = Groups::start(store.clone(), GroupsOptions::default()).await.unwrap();
    let mut s = GroupSpec::new("latency");
    s.start = skald_groups::StartFrom::End;
    groups.create_group(s).await.unwrap();
    let worker = {
        let groups = groups.clone();
        tokio::spawn(async move {
            let mut received = Vec::with_capacity(samples);
            while received.len() < samples {
                let batch = groups.lease("latency", "w", 100, Duration::from_secs(5)).await.unwrap();
                let now = Instant::now();
                for _ in &batch.events {
                    received.push(now);
                }
                groups.ack_all("latency", batch.lease_id).unwrap();
            }
            received
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = ping(&*store, samples).await;
    let received = worker.await.unwrap();
    let mut latencies: Vec<Duration> = received.iter().zip(&sent).map(|(r, s)| r.duration_since(*s)).collect();
    latencies.sort();
    groups.shutdown().await;
    (latencies[samples / 2], latencies[samples * 99 / 100])
}

/// Append → receipt latency of single events pushed to an HTTP endpoint on loopback.
async fn push_latency(store: Arc<dyn EventStore>, samples: usize) -> (Duration, Duration) {
    use std::sync::Mutex;
    let received: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let app = {
        let received = received.clone();
        axum::Router::new().route(
            "/push",
            axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
                let received = received.clone();
                async move {
                    let now = Instant::now();
                    for record in body["records"].as_array().into_iter().flatten() {
                        received.lock().unwrap().push((record["data"]["i"].as_u64().unwrap_or(u64::MAX), now));
                    }
                    axum::Json(json!({}))
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let groups = Groups::start(store.clone(), GroupsOptions::default()).await.unwrap();
    let mut s = GroupSpec::new("push-latency");
    s.start = skald_groups::StartFrom::End;
    s.push = Some(skald_groups::PushSpec::new(url));
    groups.create_group(s).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = ping(&*store, samples).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.lock().unwrap().len() < samples && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    groups.shutdown().await;
    server.abort();
    let received = received.lock().unwrap().clone();
    assert!(received.len() >= samples, "every pushed event arrived ({} of {samples})", received.len());
    let mut latencies: Vec<Duration> =
        received.iter().filter_map(|(i, at)| sent.get(*i as usize).map(|s| at.duration_since(*s))).collect();
    latencies.sort();
    (latencies[latencies.len() / 2], latencies[latencies.len() * 99 / 100])
}

async fn suite(label: &str, make: impl Fn() -> Arc<dyn EventStore>, events: usize) {
    let store = make();
    fill(&*store, events).await;
    let one = throughput(store.clone(), 1, events).await;
    println!("{label}: one pulled group, {WORKERS} workers, batches of {BATCH}: {one:.0} events/s ({events} events)");
    let fan = throughput(store.clone(), 10, events).await;
    println!("{label}: fan-out to 10 groups x {WORKERS} workers: {fan:.0} deliveries/s in all");
    let (p50, p99) = latency(make(), 1000).await;
    println!("{label}: append -> delivery (long-poll, idle): p50 {p50:?}, p99 {p99:?}");
    let (p50, p99) = push_latency(make(), 1000).await;
    println!("{label}: append -> delivery (push to loopback HTTP, idle): p50 {p50:?}, p99 {p99:?}");
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let events: usize = std::env::var("SKALD_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(400_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        suite("memory", || Arc::new(MemoryStore::new()), events).await;
        let dir = tempfile::tempdir().unwrap();
        let counter = std::sync::atomic::AtomicUsize::new(0);
        suite(
            "skald-log",
            || {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Arc::new(skald_log::Store::open(dir.path().join(n.to_string()), skald_log::Options::default()).unwrap())
            },
            events,
        )
        .await;
    });
}
