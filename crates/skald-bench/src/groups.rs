//! Consumer-group workloads, in process (`skald_groups` on the store): one group or a fan-out
//! of groups draining the log's last positions with four workers each (`group`, `fanout`),
//! append → lease latency for a worker in a long poll (`grouplatency`), and append → POST
//! latency of push delivery to an HTTP endpoint on loopback (`pushlatency`).
//!
//! The throughput groups start a fixed number of positions before the head of the log (which
//! [`crate::store::fill`] filled), so their work does not grow with the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use skald_core::{EventStore, Json, ReadOptions, Selector, RESERVED_PREFIX};
use skald_groups::{GroupSpec, Groups, GroupsHandle, GroupsOptions, PushSpec, StartFrom};

use crate::measure::latencies;
use crate::store::{ping, ping_number};
use crate::{BenchError, Measurement, Result};

/// Workers per group.
pub const WORKERS: usize = 4;
/// Events per lease in the throughput workloads.
pub const LEASE_EVENTS: usize = 1000;
/// Samples of each latency workload.
pub const LATENCY_SAMPLES: usize = 1000;
/// How long a latency workload waits for its last deliveries.
pub(crate) const DELIVERY_WAIT: Duration = Duration::from_secs(30);

/// User events (groups never deliver Skald's own `$` streams) at or after `from`.
async fn deliverable(store: &dyn EventStore, from: u64) -> Result<u64> {
    let mut count = 0;
    let mut cursor = Some(from);
    while let Some(start) = cursor {
        let page = store.read(&Selector::All, ReadOptions::forward(start, 10_000)).await?;
        count += page.events.iter().filter(|e| !e.stream.starts_with(RESERVED_PREFIX)).count() as u64;
        cursor = page.next;
    }
    Ok(count)
}

/// `groups_count` groups × [`WORKERS`] workers, each group reading the last `positions` positions
/// of the log; deliveries per second in all.
pub async fn throughput(
    store: &Arc<dyn EventStore>,
    name: &str,
    groups_count: usize,
    positions: u64,
) -> Result<Measurement> {
    let head = store.head_position().map_or(0, |p| p + 1);
    let start = head.saturating_sub(positions);
    let expected = deliverable(&**store, start).await?;
    if expected == 0 {
        return Err(BenchError::Failed("the log has no events to deliver; run a filling workload first".into()));
    }
    let groups = Groups::start(store.clone(), GroupsOptions::default()).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for g in 0..groups_count {
        let group = format!("bench{name}-{g}");
        let spec =
            GroupSpec { start: StartFrom::Position(start), max_in_flight: 50_000, ..GroupSpec::new(group.clone()) };
        groups.create_group(spec).await?;
        let got = Arc::new(AtomicU64::new(0));
        for w in 0..WORKERS {
            tasks.push(tokio::spawn(drain(groups.clone(), group.clone(), format!("w{w}"), got.clone(), expected)));
        }
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    groups.shutdown().await;
    let conditions = format!(
        "{groups_count} group(s) x {WORKERS} workers, leases of {LEASE_EVENTS}, {expected} events each; deliveries/s in all"
    );
    Ok(Measurement::new(name, expected * groups_count as u64, elapsed, Vec::new(), conditions))
}

/// Leases and acknowledges until the group's workers together got `expected` events.
async fn drain(groups: GroupsHandle, group: String, worker: String, got: Arc<AtomicU64>, expected: u64) -> Result<()> {
    while got.load(Ordering::Relaxed) < expected {
        let batch = groups.lease(&group, &worker, LEASE_EVENTS, Duration::from_millis(50)).await?;
        if batch.events.is_empty() {
            continue;
        }
        got.fetch_add(batch.events.len() as u64, Ordering::Relaxed);
        groups.ack_all(&group, batch.lease_id)?;
    }
    Ok(())
}

/// Append → lease latency: one event every 2 ms to an idle group, one worker in a long poll.
pub async fn latency(store: &Arc<dyn EventStore>, payload: &Json) -> Result<Measurement> {
    let groups = Groups::start(store.clone(), GroupsOptions::default()).await?;
    groups.create_group(GroupSpec { start: StartFrom::End, ..GroupSpec::new("benchlatency") }).await?;
    let worker = {
        let groups = groups.clone();
        tokio::spawn(async move {
            let mut arrived = Vec::with_capacity(LATENCY_SAMPLES);
            while arrived.len() < LATENCY_SAMPLES {
                let batch = groups.lease("benchlatency", "w", 100, Duration::from_secs(5)).await?;
                let now = Instant::now();
                arrived.extend(
                    batch.events.iter().filter_map(|d| ping_number(&d.event.data.to_value())).map(|n| (n, now)),
                );
                if !batch.events.is_empty() {
                    groups.ack_all("benchlatency", batch.lease_id)?;
                }
            }
            Ok::<_, BenchError>(arrived)
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let sent = ping(&**store, "benchping-1", payload, LATENCY_SAMPLES).await?;
    let arrived = tokio::time::timeout(DELIVERY_WAIT, worker).await.map_err(|_| late("leased"))???;
    let elapsed = started.elapsed();
    groups.shutdown().await;
    let conditions = "1 event every 2 ms to an idle group, 1 worker in a long poll; append call → lease".to_owned();
    Ok(Measurement::new("grouplatency", LATENCY_SAMPLES as u64, elapsed, latencies(&sent, &arrived), conditions))
}

/// Append → delivery latency of push: batches POSTed to an HTTP endpoint on loopback.
pub async fn push_latency(store: &Arc<dyn EventStore>, payload: &Json) -> Result<Measurement> {
    let arrived: Arc<Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let listener =
        tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(BenchError::io("binding the push endpoint"))?;
    let url = format!("http://{}/push", listener.local_addr().map_err(BenchError::io("the push endpoint's address"))?);
    let app = endpoint(arrived.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let groups = Groups::start(store.clone(), GroupsOptions::default()).await?;
    let spec = GroupSpec { start: StartFrom::End, push: Some(PushSpec::new(url)), ..GroupSpec::new("benchpush") };
    groups.create_group(spec).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let sent = ping(&**store, "benchping-2", payload, LATENCY_SAMPLES).await?;
    let deadline = Instant::now() + DELIVERY_WAIT;
    let count = || arrived.lock().unwrap_or_else(|p| p.into_inner()).len();
    while count() < LATENCY_SAMPLES && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = started.elapsed();
    groups.shutdown().await;
    server.abort();
    let arrived = arrived.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if arrived.len() < LATENCY_SAMPLES {
        return Err(late("pushed"));
    }
    let conditions =
        "1 event every 2 ms to an idle group pushing to HTTP on loopback; append call → POST received".into();
    Ok(Measurement::new("pushlatency", LATENCY_SAMPLES as u64, elapsed, latencies(&sent, &arrived), conditions))
}

/// The push endpoint: notes when each record (by its `data.n`) arrived.
fn endpoint(arrived: Arc<Mutex<Vec<(usize, Instant)>>>) -> axum::Router {
    axum::Router::new().route(
        "/push",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let arrived = arrived.clone();
            async move {
                let now = Instant::now();
                let mut arrived = arrived.lock().unwrap_or_else(|p| p.into_inner());
                for record in body["records"].as_array().into_iter().flatten() {
                    if let Some(n) = ping_number(&record["data"]) {
                        arrived.push((n, now));
                    }
                }
                axum::Json(serde_json::json!({}))
            }
        }),
    )
}

/// Fewer deliveries than sent events came in time.
pub(crate) fn late(how: &str) -> BenchError {
    BenchError::Failed(format!("not all {LATENCY_SAMPLES} {how} events arrived within {DELIVERY_WAIT:?}"))
}
