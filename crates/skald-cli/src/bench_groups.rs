//! The consumer-group workloads of `skald bench`: one pulled group with four workers, fan-out to
//! ten groups, and append → delivery latency by pull (a worker in a long poll), by push (POSTs to
//! an HTTP endpoint on loopback) and over SSE (the server's per-worker stream on loopback).
//!
//! The groups start a fixed number of positions before the head of the log (which the earlier
//! workloads filled), so their work does not grow with the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use skald_core::{EventStore, Json, NewEvent, ReadOptions, Selector, StreamAppend, RESERVED_PREFIX};
use skald_groups::{GroupSpec, Groups, GroupsHandle, GroupsOptions, PushSpec, StartFrom};

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

/// Appends [`LATENCY_SAMPLES`] events numbered in `data.n`, one every 2 ms; returns when each was sent.
async fn ping(store: &dyn EventStore, payload: &Json) -> anyhow::Result<Vec<Instant>> {
    let mut sent = Vec::with_capacity(LATENCY_SAMPLES);
    for n in 0..LATENCY_SAMPLES {
        sent.push(Instant::now());
        let mut data = payload.to_value();
        data["n"] = n.into();
        store.append(vec![StreamAppend::new("benchping-2", vec![NewEvent::new("BenchEvent", data)])]).await?;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(sent)
}

/// Latencies in µs from `sent[n]` to each `(n, arrival)`.
fn latencies(sent: &[Instant], arrived: &[(usize, Instant)]) -> Vec<u64> {
    arrived.iter().filter_map(|(n, at)| sent.get(*n).map(|s| at.duration_since(*s).as_micros() as u64)).collect()
}

/// Append → delivery latency of push: batches POSTed to an HTTP endpoint on loopback.
pub async fn push_latency(store: Arc<dyn EventStore>, payload: &Json) -> anyhow::Result<Figure> {
    let arrived: Arc<std::sync::Mutex<Vec<(usize, Instant)>>> = Arc::default();
    let endpoint = {
        let arrived = arrived.clone();
        axum::Router::new().route(
            "/push",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let arrived = arrived.clone();
                async move {
                    let now = Instant::now();
                    let mut arrived = arrived.lock().unwrap_or_else(|p| p.into_inner());
                    for record in body["records"].as_array().into_iter().flatten() {
                        if let Some(n) = record["data"]["n"].as_u64() {
                            arrived.push((n as usize, now));
                        }
                    }
                    axum::Json(serde_json::json!({}))
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/push", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, endpoint).await });
    let groups = Groups::start(store.clone(), GroupsOptions::default()).await?;
    let spec = GroupSpec { start: StartFrom::End, push: Some(PushSpec::new(url)), ..GroupSpec::new("benchpush") };
    groups.create_group(spec).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let sent = ping(&*store, payload).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrived.lock().unwrap_or_else(|p| p.into_inner()).len() < LATENCY_SAMPLES && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    groups.shutdown().await;
    server.abort();
    let arrived = arrived.lock().unwrap_or_else(|p| p.into_inner()).clone();
    anyhow::ensure!(
        arrived.len() >= LATENCY_SAMPLES,
        "only {} of {LATENCY_SAMPLES} pushed events arrived",
        arrived.len()
    );
    let conditions =
        "1 event every 2 ms to an idle group pushing to HTTP on loopback; append call → POST received".into();
    Ok(figure("pushlatency", LATENCY_SAMPLES as u64, seconds, latencies(&sent, &arrived), conditions))
}

/// Append → delivery latency over the server's SSE stream of a group worker, on loopback.
pub async fn sse_latency(store: Arc<dyn EventStore>, payload: &Json) -> anyhow::Result<Figure> {
    let groups = Groups::start(store.clone(), GroupsOptions::default()).await?;
    groups.create_group(GroupSpec { start: StartFrom::End, ..GroupSpec::new("benchsse") }).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let services = skald_server::Services { groups: Some(groups.clone()), ..Default::default() };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(skald_server::serve_with(
        listener,
        store.clone(),
        skald_server::ServerConfig { metrics: false, ..Default::default() },
        services,
        async {
            let _ = stopped.await;
        },
    ));
    let url = format!("{base}/v1/groups/benchsse/live?worker=w&max_events=100");
    let response = reqwest::Client::new().get(url).header("accept", "text/event-stream").send().await?;
    anyhow::ensure!(response.status().is_success(), "the SSE stream answered {}", response.status());
    let reader = {
        let groups = groups.clone();
        tokio::spawn(async move {
            let mut body = response.bytes_stream();
            let mut pending = String::new();
            let mut arrived = Vec::with_capacity(LATENCY_SAMPLES);
            while arrived.len() < LATENCY_SAMPLES {
                let Some(chunk) = body.next().await else { break };
                let now = Instant::now();
                pending.push_str(&String::from_utf8_lossy(&chunk?));
                while let Some(end) = pending.find('\n') {
                    let line: String = pending.drain(..=end).collect();
                    let Some(data) = line.strip_prefix("data:") else { continue };
                    let Ok(batch) = serde_json::from_str::<Value>(data.trim()) else { continue };
                    for event in batch["events"].as_array().into_iter().flatten() {
                        if let Some(n) = event["data"]["n"].as_u64() {
                            arrived.push((n as usize, now));
                        }
                    }
                    if let Some(lease) = batch["lease_id"].as_u64() {
                        groups.ack_all("benchsse", lease)?;
                    }
                }
            }
            Ok::<_, anyhow::Error>(arrived)
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let sent = ping(&*store, payload).await?;
    let arrived = tokio::time::timeout(Duration::from_secs(30), reader).await???;
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = server.await;
    groups.shutdown().await;
    let conditions = "1 event every 2 ms to an idle group, 1 worker on its SSE stream via HTTP on loopback".into();
    Ok(figure("sselatency", LATENCY_SAMPLES as u64, seconds, latencies(&sent, &arrived), conditions))
}
