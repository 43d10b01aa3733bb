//! Push delivery against a real HTTP endpoint (axum on 127.0.0.1:0) that succeeds, fails with
//! 500, times out, and answers partial batch failures; parking and replay of what it refused.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use common::*;
use serde_json::{json, Value};
use skald_core::{EventStore, NewEvent, StreamAppend};
use skald_groups::{GroupSpec, GroupsHandle, PushSpec};
use skald_testkit::TestStore;

skald_testkit::backend_tests!(crate;
    batches_arrive_in_per_stream_order_across_lanes,
    partial_batch_failures_retry_the_failed_event_and_its_stream,
    errors_and_timeouts_are_bisected_then_parked_and_replayed,
    records_older_than_the_maximum_age_are_parked_unsent
);

#[derive(Default)]
struct Endpoint {
    /// Every record of every request: (id, stream, version).
    received: Mutex<Vec<(String, String, u64)>>,
    /// Records the endpoint accepted (not reported failed), in order.
    accepted: Mutex<Vec<(String, u64)>>,
    requests: Mutex<Vec<usize>>,
    healed: AtomicBool,
}

async fn handle(State(endpoint): State<Arc<Endpoint>>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let records = body["records"].as_array().cloned().unwrap_or_default();
    endpoint.requests.lock().unwrap().push(records.len());
    let healed = endpoint.healed.load(Ordering::SeqCst);
    let mut seen: HashMap<String, usize> = HashMap::new();
    {
        let mut received = endpoint.received.lock().unwrap();
        for r in &records {
            let id = r["id"].as_str().unwrap().to_owned();
            received.push((id.clone(), r["stream"].as_str().unwrap().to_owned(), r["version"].as_u64().unwrap()));
            seen.insert(id.clone(), received.iter().filter(|(i, _, _)| *i == id).count());
        }
    }
    if !healed && records.iter().any(|r| r["data"]["poison"] == json!(true)) {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "poison"})));
    }
    if !healed && records.iter().any(|r| r["data"]["slow"] == json!(true)) {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let mut failures = Vec::new();
    let mut failed_streams = Vec::new();
    for r in &records {
        let id = r["id"].as_str().unwrap();
        let stream = r["stream"].as_str().unwrap();
        let flaky = r["data"]["flaky"].as_u64().unwrap_or(0) as usize;
        if failed_streams.contains(&stream) {
            continue;
        }
        if seen[id] <= flaky {
            failures.push(json!({"itemIdentifier": id}));
            failed_streams.push(stream);
        } else {
            endpoint.accepted.lock().unwrap().push((stream.to_owned(), r["version"].as_u64().unwrap()));
        }
    }
    (StatusCode::OK, Json(json!({"batchItemFailures": failures})))
}

async fn endpoint() -> (Arc<Endpoint>, String) {
    let state = Arc::new(Endpoint::default());
    let app = Router::new().route("/hook", post(handle)).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (state, url)
}

fn push_spec(name: &str, url: &str) -> GroupSpec {
    let mut spec = spec(name);
    spec.push = Some(PushSpec { batch_size: 10, parallelization_factor: 3, timeout_ms: 300, ..PushSpec::new(url) });
    spec
}

async fn append(store: &dyn EventStore, stream: &str, data: Value) {
    store.append(vec![StreamAppend::new(stream, vec![NewEvent::new("E", data)])]).await.unwrap();
}

async fn wait_until(groups: &GroupsHandle, group: &str, what: impl Fn(&skald_groups::GroupStats) -> bool) {
    for _ in 0..500 {
        let stats = groups.group_stats(group).unwrap();
        if what(&stats) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out: {:?}", groups.group_stats(group).unwrap());
}

fn assert_in_order(accepted: &[(String, u64)], streams: usize, per_stream: u64) {
    let mut by_stream: HashMap<&str, Vec<u64>> = HashMap::new();
    for (stream, version) in accepted {
        by_stream.entry(stream).or_default().push(*version);
    }
    assert_eq!(by_stream.len(), streams);
    for (stream, versions) in by_stream {
        assert_eq!(versions, (0..per_stream).collect::<Vec<_>>(), "stream {stream}");
    }
}

async fn batches_arrive_in_per_stream_order_across_lanes(kit: TestStore) {
    let (endpoint, url) = endpoint().await;
    let (store, groups) = start(&kit).await;
    groups.create_group(push_spec("g", &url)).await.unwrap();
    for seq in 0..20 {
        for s in 0..3 {
            append(&*store, &format!("order-{s}"), json!({"seq": seq})).await;
        }
    }
    wait_until(&groups, "g", |s| s.acked == 60).await;
    assert_in_order(&endpoint.accepted.lock().unwrap(), 3, 20);
    assert!(endpoint.requests.lock().unwrap().iter().all(|n| *n <= 10), "batch size honoured");
    groups.shutdown().await;
}

async fn partial_batch_failures_retry_the_failed_event_and_its_stream(kit: TestStore) {
    let (endpoint, url) = endpoint().await;
    let (store, groups) = start(&kit).await;
    groups.create_group(push_spec("g", &url)).await.unwrap();
    for seq in 0..10u64 {
        for s in 0..2 {
            // order-0/3 fails twice, then succeeds.
            let flaky = if s == 0 && seq == 3 { 2 } else { 0 };
            append(&*store, &format!("order-{s}"), json!({"seq": seq, "flaky": flaky})).await;
        }
    }
    wait_until(&groups, "g", |s| s.acked == 20).await;
    let accepted = endpoint.accepted.lock().unwrap().clone();
    // The endpoint saw order-0/3 three times and accepted every event exactly once, in order.
    let tries = endpoint.received.lock().unwrap().iter().filter(|(_, s, v)| s == "order-0" && *v == 3).count();
    assert_eq!(tries, 3);
    assert_in_order(&accepted, 2, 10);
    assert_eq!(groups.group_stats("g").unwrap().parked, 0);
    groups.shutdown().await;
}

async fn errors_and_timeouts_are_bisected_then_parked_and_replayed(kit: TestStore) {
    let (endpoint, url) = endpoint().await;
    let (store, groups) = start(&kit).await;
    let mut spec = push_spec("g", &url);
    if let Some(push) = spec.push.as_mut() {
        push.bisect_on_error = true;
        push.max_retries = 1;
        push.parallelization_factor = 1;
    }
    groups.create_group(spec).await.unwrap();
    for seq in 0..8u64 {
        append(&*store, "a-1", json!({"seq": seq, "poison": seq == 5})).await;
        append(&*store, "b-1", json!({"seq": seq, "slow": seq == 2})).await;
        append(&*store, "c-1", json!({"seq": seq})).await;
    }
    // Poison a-1/5 and slow b-1/2 are parked after two attempts; their streams go on.
    wait_until(&groups, "g", |s| s.parked == 2 && s.acked == 22).await;
    let (parked, _) = groups.list_parked("g", 0, 10).await.unwrap();
    let mut reasons: Vec<(String, u64, String)> =
        parked.iter().map(|p| (p.event.stream.clone(), p.event.version, p.reason.clone())).collect();
    reasons.sort();
    assert_eq!((reasons[0].0.as_str(), reasons[0].1), ("a-1", 5));
    assert!(reasons[0].2.contains("500"), "{}", reasons[0].2);
    assert_eq!((reasons[1].0.as_str(), reasons[1].1), ("b-1", 2));
    assert!(reasons[1].2.contains("timed out"), "{}", reasons[1].2);
    assert!(parked.iter().all(|p| p.attempts == 2));
    // c-1 never failed: its events were accepted once each, in order.
    let c: Vec<u64> = endpoint.accepted.lock().unwrap().iter().filter(|(s, _)| s == "c-1").map(|(_, v)| *v).collect();
    assert_eq!(c, (0..8).collect::<Vec<_>>());

    // The endpoint is fixed: a replay delivers the parked events.
    endpoint.healed.store(true, Ordering::SeqCst);
    assert_eq!(groups.replay_parked("g").await.unwrap(), 2);
    wait_until(&groups, "g", |s| s.acked == 24).await;
    let accepted = endpoint.accepted.lock().unwrap().clone();
    assert!(accepted.contains(&("a-1".into(), 5)) && accepted.contains(&("b-1".into(), 2)));
    groups.shutdown().await;
}

async fn records_older_than_the_maximum_age_are_parked_unsent(kit: TestStore) {
    let (endpoint, url) = endpoint().await;
    let (store, groups) = start(&kit).await;
    append(&*store, "old-1", json!({})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut spec = push_spec("g", &url);
    if let Some(push) = spec.push.as_mut() {
        push.max_record_age_seconds = Some(1);
        push.batching_window_ms = 50;
    }
    groups.create_group(spec).await.unwrap();
    append(&*store, "new-1", json!({})).await;
    wait_until(&groups, "g", |s| s.parked == 1 && s.acked == 1).await;
    let received = endpoint.received.lock().unwrap().clone();
    assert_eq!(received.iter().map(|(_, s, _)| s.as_str()).collect::<Vec<_>>(), ["new-1"]);
    let (parked, _) = groups.list_parked("g", 0, 10).await.unwrap();
    assert!(parked[0].reason.contains("max record age"), "{}", parked[0].reason);
    groups.shutdown().await;
}
