//! Append → delivery latency over Server-Sent Events, through the real HTTP server on loopback
//! (no harness): `cargo bench -p skald-server --bench sse`.
//!
//! - the live tail (`GET /v1/streams/{stream}/live`),
//! - a consumer group's per-worker stream (`GET /v1/groups/{group}/live?worker=`), each batch
//!   acknowledged as it arrives,
//!
//! one event appended every 2 ms, on a `MemoryStore` and on the embedded store (fsync mode).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use skald_core::{EventStore, MemoryStore, NewEvent, StreamAppend};
use skald_groups::{GroupSpec, Groups, GroupsHandle, GroupsOptions, StartFrom};
use skald_server::{serve_with, ServerConfig, Services};

const SAMPLES: usize = 1000;

/// Reads SSE `data:` lines from `url` and records when each event with `data.i` arrived.
async fn listen(url: String, groups: Option<(GroupsHandle, String)>) -> tokio::task::JoinHandle<Vec<(usize, Instant)>> {
    let response = reqwest::Client::new().get(url).header("accept", "text/event-stream").send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut pending = String::new();
        let mut seen = Vec::with_capacity(SAMPLES);
        while seen.len() < SAMPLES {
            let Some(Ok(chunk)) = body.next().await else { break };
            let now = Instant::now();
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find('\n') {
                let line: String = pending.drain(..=end).collect();
                let Some(data) = line.strip_prefix("data:") else { continue };
                let Ok(value) = serde_json::from_str::<Value>(data.trim()) else { continue };
                let events = match value.get("events") {
                    Some(events) => events.as_array().cloned().unwrap_or_default(),
                    None => vec![value.clone()],
                };
                for event in &events {
                    if let Some(i) = event["data"]["i"].as_u64() {
                        seen.push((i as usize, now));
                    }
                }
                if let (Some((groups, name)), Some(lease)) = (&groups, value["lease_id"].as_u64()) {
                    groups.ack_all(name, lease).unwrap();
                }
            }
        }
        seen
    })
}

async fn measure(label: &str, store: Arc<dyn EventStore>) {
    let groups = Groups::start(store.clone(), GroupsOptions::default()).await.unwrap();
    let mut spec = GroupSpec::new("sse");
    spec.start = StartFrom::End;
    groups.create_group(spec).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let services = Services { groups: Some(groups.clone()), ..Default::default() };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with(listener, store.clone(), ServerConfig::default(), services, async {
        let _ = stopped.await;
    }));
    let tail = listen(format!("{base}/v1/streams/ping-1/live?from=end"), None).await;
    let group =
        listen(format!("{base}/v1/groups/sse/live?worker=w&max_events=100"), Some((groups.clone(), "sse".into())))
            .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut sent = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        sent.push(Instant::now());
        let event = NewEvent::new("Ping", json!({ "i": i }));
        store.append(vec![StreamAppend::new("ping-1", vec![event])]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for (what, task) in [("live tail", tail), ("group worker", group)] {
        let seen = tokio::time::timeout(Duration::from_secs(30), task).await.expect("all events arrive").unwrap();
        let mut latencies: Vec<Duration> = seen.iter().map(|(i, at)| at.duration_since(sent[*i])).collect();
        latencies.sort();
        let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        println!(
            "{label}: append -> SSE delivery ({what}): p50 {:?}, p99 {:?} ({} events)",
            pick(0.5),
            pick(0.99),
            seen.len()
        );
    }
    let _ = stop.send(());
    let _ = server.await;
    groups.shutdown().await;
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        measure("memory", Arc::new(MemoryStore::new())).await;
        let dir = tempfile::tempdir().unwrap();
        measure("embedded", Arc::new(skald_log::Store::open(dir.path(), skald_log::Options::default()).unwrap())).await;
    });
}
