//! The consumer-group workloads of `skald bench`: one pulled group with four workers, fan-out to
//! ten groups, and append → delivery latency to a worker waiting in a long poll.
//!
//! The groups start a fixed number of positions before the head of the log (which the earlier
//! workloads filled), so their work does not grow with the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use skald_core::{EventStore, Json, NewEvent, ReadOptions, Selector, StreamAppend, RESERVED_PREFIX};
use skald_groups::{GroupSpec, Groups, GroupsHandle, GroupsOptions, StartFrom};

use crate::bench::{figure, Figure};

/// Workers per group.
const WORKERS: usize = 4;
/// Events per lease.
const LEASE_EVENTS: usize = 1000;
/// Positions each group reads in the throughput workloads.
const GROUP_POSITIONS: u64 = 200_000;
/// Samples of the latency workload.
const LATENCY_SAMPLES: usize = 1000;

/// User events (groups never deliver Skald's own `$` streams) at or after `from`.
async fn deliverable(store: &dyn EventStore, from: u64) -> anyhow::Result<u64> {
    let mut count = 0;
    let mut cursor = Some(from);
    while let Some(start) = cursor {
        let page = store.read(&Selector::All, ReadOptions::forward(start, 10_000)).await?;
        count += page.events.iter().filter(|e| !e.stream.starts_with(RESERVED_PREFIX)).count() as u64;
        cursor = page.next;
    }
    Ok(count)
}

/// `groups_count` groups × [`WORKERS`] workers, each group reading the last [`GROUP_POSITIONS`] positions.
pub async fn throughput(store: Arc<dyn EventStore>, name: &str, groups_count: usize) -> anyhow::Result<Figure> {
    let head = store.head_position().map_or(0, |p| p + 1);
    let start = head.saturating_sub(GROUP_POSITIONS);
    let expected = deliverable(&*store, start).await?;
    anyhow::ensure!(expected > 0, "the log has no events to deliver; run a filling workload first");
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
    let seconds = started.elapsed().as_secs_f64();
    groups.shutdown().await;
    let conditions = format!(
        "{groups_count} group(s) x {WORKERS} workers, leases of {LEASE_EVENTS}, {expected} events each; deliveries/s in all"
    );
    Ok(figure(name, expected * groups_count as u64, seconds, Vec::new(), conditions))
}

/// Leases and acknowledges until the group's workers together got `expected` events.
async fn drain(
    groups: GroupsHandle,
    group: String,
    worker: String,
    got: Arc<AtomicU64>,
    expected: u64,
) -> anyhow::Result<()> {
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

/// Append → delivery latency: one event every 2 ms to a worker waiting in a long poll.
pub async fn latency(store: Arc<dyn EventStore>, payload: &Json) -> anyhow::Result<Figure> {
    let groups = Groups::start(store.clone(), GroupsOptions::default()).await?;
    groups.create_group(GroupSpec { start: StartFrom::End, ..GroupSpec::new("benchlatency") }).await?;
    let worker = {
        let groups = groups.clone();
        tokio::spawn(async move {
            let mut received = Vec::with_capacity(LATENCY_SAMPLES);
            while received.len() < LATENCY_SAMPLES {
                let batch = groups.lease("benchlatency", "w", 100, Duration::from_secs(5)).await?;
                let now = Instant::now();
                received.extend(batch.events.iter().map(|_| now));
                if !batch.events.is_empty() {
                    groups.ack_all("benchlatency", batch.lease_id)?;
                }
            }
            Ok::<_, anyhow::Error>(received)
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let mut sent = Vec::with_capacity(LATENCY_SAMPLES);
    for _ in 0..LATENCY_SAMPLES {
        sent.push(Instant::now());
        let event = NewEvent::new("BenchEvent", payload.clone());
        store.append(vec![StreamAppend::new("benchping-1", vec![event])]).await?;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let received = tokio::time::timeout(Duration::from_secs(30), worker).await???;
    let seconds = started.elapsed().as_secs_f64();
    groups.shutdown().await;
    let latencies = received.iter().zip(&sent).map(|(r, s)| r.duration_since(*s).as_micros() as u64).collect();
    let conditions = "1 event every 2 ms to an idle group, 1 worker in a long poll; append call → lease".to_owned();
    Ok(figure("grouplatency", LATENCY_SAMPLES as u64, seconds, latencies, conditions))
}
