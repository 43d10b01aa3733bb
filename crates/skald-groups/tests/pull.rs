//! Pull delivery end to end on every backend: lifecycle, leasing, acks, retries, parking, replay,
//! checkpoints across restarts, competing workers and rebalancing.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::json;
use skald_core::{ManualClock, NewEvent, StreamAppend, Timestamp};
use skald_groups::{GroupError, GroupSpec, Groups, GroupsOptions, StartFrom};
use skald_testkit::TestStore;

skald_testkit::backend_tests!(crate;
    groups_are_created_listed_updated_and_deleted,
    the_filter_selects_and_system_streams_are_never_delivered,
    start_positions,
    acked_events_are_not_redelivered_after_a_restart,
    failing_events_are_retried_then_parked_and_replayed,
    expired_leases_move_streams_to_other_workers,
    a_deleted_and_recreated_group_starts_fresh,
    competing_workers_keep_per_stream_order,
    lease_arguments_are_checked,
    parked_events_stay_parked_across_a_restart_below_the_checkpoint,
    stats_report_lag_in_events_and_seconds,
    leases_expire_by_the_groups_clock_alone
);

const WAIT: Duration = Duration::from_secs(2);

async fn groups_are_created_listed_updated_and_deleted(kit: TestStore) {
    let (store, groups) = start(&kit).await;
    groups.create_group(spec("a")).await.unwrap();
    let err = groups.create_group(spec("a")).await.unwrap_err();
    assert_eq!(err.code(), "group-already-exists");
    let err = groups.create_group(spec("b").filter(json!({"type": "OrderPlaced"}))).await.unwrap_err();
    assert!(matches!(&err, GroupError::InvalidFilter { pointer, .. } if pointer == "/filter/type"), "{err:?}");
    assert_eq!(groups.get_group("nope").unwrap_err().code(), "group-not-found");
    eprintln!("A");
    let mut updated = spec("a");
    updated.max_attempts = 9;
    groups.update_group(updated).await.unwrap();
    eprintln!("B");
    assert_eq!(
        groups.list_groups().iter().map(|g| (g.spec.name.as_str(), g.spec.max_attempts)).collect::<Vec<_>>(),
        [("a", 9)]
    );
    groups.shutdown().await;
    eprintln!("C");

    // Definitions are events: a new service on the same store sees the same groups.
    let again = Groups::start(store.clone(), fast_options()).await.unwrap();
    assert_eq!(again.get_group("a").unwrap().spec.max_attempts, 9);
    again.delete_group("a").await.unwrap();
    assert!(again.list_groups().is_empty());
    again.shutdown().await;
    let third = Groups::start(store, fast_options()).await.unwrap();
    assert!(third.list_groups().is_empty());
}

async fn the_filter_selects_and_system_streams_are_never_delivered(kit: TestStore) {
    let (store, groups) = start(&kit).await;
    groups
        .create_group(spec("paid").filter(json!({"type": ["OrderPaid"], "data": {"total": [{"numeric": [">", 10]}]}})))
        .await
        .unwrap();
    let events = vec![
        StreamAppend::new("order-1", vec![NewEvent::new("OrderPaid", json!({"total": 5}))]),
        StreamAppend::new("order-2", vec![NewEvent::new("OrderPaid", json!({"total": 50}))]),
        StreamAppend::new("order-3", vec![NewEvent::new("OrderPlaced", json!({"total": 50}))]),
    ];
    store.append(events).await.unwrap();
    settle(&groups, "paid", 1).await;
    let batch = groups.lease("paid", "w", 10, WAIT).await.unwrap();
    assert_eq!(batch.events.iter().map(|d| d.event.stream.as_str()).collect::<Vec<_>>(), ["order-2"]);
    groups.ack_all("paid", batch.lease_id).unwrap();
    groups.create_group(spec("all")).await.unwrap();
    settle(&groups, "all", 3).await;
    let batch = groups.lease("all", "w", 100, WAIT).await.unwrap();
    assert_eq!(batch.events.len(), 3, "only the three user events, no $groups/$sub events");
}

async fn start_positions(kit: TestStore) {
    let (store, groups) = start(&kit).await;
    append_orders(&*store, 1, 3).await;
    let mut from_end = spec("end");
    from_end.start = StartFrom::End;
    groups.create_group(from_end).await.unwrap();
    let mut from_position = spec("pos");
    from_position.start = StartFrom::Position(1);
    groups.create_group(from_position).await.unwrap();
    append_orders(&*store, 1, 4).await; // ids repeat for seq 0..3: idempotent, only seq 3 is new
    settle(&groups, "end", 1).await;
    settle(&groups, "pos", 3).await;
    let batch = groups.lease("end", "w", 10, WAIT).await.unwrap();
    assert_eq!(batch.events.iter().map(|d| d.event.version).collect::<Vec<_>>(), [3]);
    let batch = groups.lease("pos", "w", 10, WAIT).await.unwrap();
    assert_eq!(batch.events.iter().map(|d| d.event.version).collect::<Vec<_>>(), [1, 2, 3]);
}

async fn acked_events_are_not_redelivered_after_a_restart(kit: TestStore) {
    let (store, groups) = start(&kit).await;
    groups.create_group(spec("g")).await.unwrap();
    append_orders(&*store, 2, 5).await;
    settle(&groups, "g", 10).await;
    let batch = groups.lease("g", "w", 100, WAIT).await.unwrap();
    assert_eq!(batch.events.len(), 10);
    groups.ack_all("g", batch.lease_id).unwrap();
    // Wait for the checkpoint to be durable, then restart.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = groups.group_stats("g").unwrap();
    let last = batch.events.iter().map(|d| d.event.position).max().unwrap();
    assert_eq!((stats.checkpoint, stats.durable_checkpoint, stats.acked), (last + 1, last + 1, 10));
    groups.shutdown().await;
    append_orders(&*store, 2, 6).await; // only seq 5 of each stream is new
    let groups = Groups::start(store.clone(), fast_options()).await.unwrap();
    settle(&groups, "g", 2).await;
    let rest = groups.lease("g", "w", 100, WAIT).await.unwrap();
    assert_eq!(rest.events.iter().map(|d| d.event.version).collect::<Vec<_>>(), [5, 5]);
}

async fn failing_events_are_retried_then_parked_and_replayed(kit: TestStore) {
    let (store, groups) = start(&kit).await;
    let mut s = spec("g");
    s.max_attempts = 3;
    groups.create_group(s).await.unwrap();
    append_orders(&*store, 1, 2).await;
    settle(&groups, "g", 2).await;
    let mut attempts = Vec::new();
    for _ in 0..3 {
        let batch = groups.lease("g", "w", 10, WAIT).await.unwrap();
        attempts.push((batch.events[0].event.version, batch.events[0].attempt, batch.events.len()));
        groups.nack("g", batch.lease_id, &[batch.events[0].event.id], "handler failed").unwrap();
    }
    assert_eq!(attempts, [(0, 1, 2), (0, 2, 2), (0, 3, 2)], "order 0 first each time, with its later event");
    // Parked: the stream moves on to version 1.
    let batch = groups.lease("g", "w", 10, WAIT).await.unwrap();
    assert_eq!(batch.events.iter().map(|d| (d.event.version, d.attempt)).collect::<Vec<_>>(), [(1, 1)]);
    groups.ack_all("g", batch.lease_id).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (parked, _) = groups.list_parked("g", 0, 100).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!((parked[0].event.version, parked[0].attempts), (0, 3));
    assert!(parked[0].reason.contains("handler failed"), "{}", parked[0].reason);
    let stats = groups.group_stats("g").unwrap();
    assert_eq!((stats.parked, stats.retried, stats.acked), (1, 2, 1));

    assert_eq!(groups.replay_parked("g").await.unwrap(), 1);
    let batch = groups.lease("g", "w", 10, WAIT).await.unwrap();
    assert_eq!(batch.events.iter().map(|d| (d.event.version, d.attempt)).collect::<Vec<_>>(), [(0, 1)]);
    groups.ack_all("g", batch.lease_id).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let types: Vec<String> = read_stream(&*store, "$parked-g").await.into_iter().map(|e| e.event_type).collect();
    assert_eq!(types, ["Parked", "ReplayRequested", "ReplayCompleted"]);
    // A replay covers what was parked since the previous one: nothing now, also after a restart.
    assert_eq!(groups.replay_parked("g").await.unwrap(), 0);
    groups.shutdown().await;
    let groups = Groups::start(store.clone(), fast_options()).await.unwrap();
    assert_eq!(groups.replay_parked("g").await.unwrap(), 0);
    assert_eq!(groups.list_parked("g", 0, 10).await.unwrap().0.len(), 1, "parked records stay as history");
}

async fn expired_leases_move_streams_to_other_workers(kit: TestStore) {
    let (store, groups) = start(&kit).await;
    let mut s = spec("g");
    s.lease_timeout_ms = 100;
    groups.create_group(s).await.unwrap();
    append_orders(&*store, 1, 3).await;
    settle(&groups, "g", 3).await;
    let dead = groups.lease("g", "crashed", 10, WAIT).await.unwrap();
    assert_eq!(dead.events.len(), 3);
    // The crashed worker never acks; after the timeout another worker gets the stream, in order.
    let batch = groups.lease("g", "alive", 10, WAIT).await.unwrap();
    assert_eq!(batch.events.iter().map(|d| (d.event.version, d.attempt)).collect::<Vec<_>>(), [(0, 2), (1, 2), (2, 2)]);
    let err = groups.ack_all("g", dead.lease_id).unwrap_err();
    assert_eq!(err.code(), "lease-expired");
    groups.ack_all("g", batch.lease_id).unwrap();
}

async fn leases_expire_by_the_groups_clock_alone(kit: TestStore) {
    let clock = ManualClock::new(Timestamp::now());
    let store = kit.store();
    let options = GroupsOptions { clock: Arc::new(clock.clone()), ..fast_options() };
    let groups = Groups::start(store.clone(), options).await.unwrap();
    let mut s = spec("g");
    s.lease_timeout_ms = 1_000;
    groups.create_group(s).await.unwrap();
    append_orders(&*store, 1, 2).await;
    settle(&groups, "g", 2).await;
    let held = groups.lease("g", "slow", 10, WAIT).await.unwrap();
    assert_eq!(held.events.len(), 2);
    // Real time passes (the group ticks meanwhile) but its clock stands still: the lease holds.
    let waited = groups.lease("g", "other", 10, Duration::from_millis(100)).await.unwrap();
    assert!(waited.events.is_empty());
    clock.advance(Duration::from_millis(1_001));
    // Expired, its events wait out their retry backoff (at most 40 ms), on the same clock.
    let backing_off = groups.lease("g", "other", 10, Duration::from_millis(100)).await.unwrap();
    assert!(backing_off.events.is_empty());
    clock.advance(Duration::from_millis(40));
    let moved = groups.lease("g", "other", 10, WAIT).await.unwrap();
    assert_eq!(moved.events.len(), 2);
    assert_eq!(groups.ack_all("g", held.lease_id).unwrap_err().code(), "lease-expired");
    groups.ack_all("g", moved.lease_id).unwrap();
    groups.shutdown().await;
}

async fn a_deleted_and_recreated_group_starts_fresh(kit: TestStore) {
    let (store, groups) = start(&kit).await;
    groups.create_group(spec("g")).await.unwrap();
    append_orders(&*store, 1, 2).await;
    settle(&groups, "g", 2).await;
    let batch = groups.lease("g", "w", 10, WAIT).await.unwrap();
    groups.ack_all("g", batch.lease_id).unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    groups.delete_group("g").await.unwrap();
    groups.create_group(spec("g")).await.unwrap();
    settle(&groups, "g", 2).await;
    let batch = groups.lease("g", "w", 10, WAIT).await.unwrap();
    assert_eq!(batch.events.len(), 2, "the old incarnation's checkpoint is ignored");
}

async fn competing_workers_keep_per_stream_order(kit: TestStore) {
    let (store, groups) = start(&kit).await;
    groups.create_group(spec("g")).await.unwrap();
    let streams = 20;
    let per_stream = 50;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move { append_orders(&*store, streams, per_stream).await })
    };
    let seen = Arc::new(std::sync::Mutex::new(HashMap::<String, Vec<u64>>::new()));
    let mut workers = Vec::new();
    for w in 0..4 {
        let groups = groups.clone();
        let seen = seen.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let batch = groups.lease("g", &format!("w{w}"), 7, Duration::from_millis(300)).await.unwrap();
                if batch.events.is_empty() {
                    return;
                }
                for d in &batch.events {
                    seen.lock().unwrap().entry(d.event.stream.clone()).or_default().push(d.event.version);
                }
                tokio::task::yield_now().await;
                groups.ack_all("g", batch.lease_id).unwrap();
            }
        }));
    }
    writer.await.unwrap();
    for worker in workers {
        worker.await.unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), streams);
    for (stream, versions) in seen.iter() {
        assert_eq!(versions, &(0..per_stream).collect::<Vec<_>>(), "stream {stream}");
    }
    let stats = groups.group_stats("g").unwrap();
    assert_eq!((stats.acked, stats.in_flight, stats.lag_events), (1000, 0, 0));
}

async fn lease_arguments_are_checked(kit: TestStore) {
    let (_store, groups) = start(&kit).await;
    groups.create_group(GroupSpec::new("g")).await.unwrap();
    assert_eq!(groups.lease("g", "w", 0, WAIT).await.unwrap_err().code(), "invalid-request");
    assert_eq!(groups.lease("g", "", 1, WAIT).await.unwrap_err().code(), "invalid-request");
    assert_eq!(groups.lease("x", "w", 1, WAIT).await.unwrap_err().code(), "group-not-found");
    let started = std::time::Instant::now();
    let empty = groups.lease("g", "w", 1, Duration::from_millis(50)).await.unwrap();
    assert!(empty.events.is_empty() && started.elapsed() >= Duration::from_millis(50));
}

async fn parked_events_stay_parked_across_a_restart_below_the_checkpoint(kit: TestStore) {
    let (store, groups) = start(&kit).await;
    let mut s = spec("g");
    s.max_attempts = 1;
    groups.create_group(s).await.unwrap();
    append_orders(&*store, 2, 1).await; // order-0/0, then order-1/0
    settle(&groups, "g", 2).await;
    let held = groups.lease("g", "slow", 1, WAIT).await.unwrap();
    assert_eq!(held.events[0].event.stream, "order-0");
    let failing = groups.lease("g", "w", 1, WAIT).await.unwrap();
    assert_eq!(failing.events[0].event.stream, "order-1");
    groups.nack("g", failing.lease_id, &[failing.events[0].event.id], "bad").unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The checkpoint is held below order-1/0 by the unacknowledged order-0/0.
    let stats = groups.group_stats("g").unwrap();
    assert_eq!(stats.parked, 1);
    assert!(stats.durable_checkpoint <= held.events[0].event.position);
    groups.shutdown().await;
    let groups = Groups::start(store.clone(), fast_options()).await.unwrap();
    let batch = groups.lease("g", "w", 10, WAIT).await.unwrap();
    let streams: Vec<&str> = batch.events.iter().map(|d| d.event.stream.as_str()).collect();
    assert_eq!(streams, ["order-0"], "order-1/0 is parked, not delivered again");
}

async fn stats_report_lag_in_events_and_seconds(kit: TestStore) {
    let (store, groups) = start(&kit).await;
    groups.create_group(spec("g")).await.unwrap();
    append_orders(&*store, 1, 3).await;
    settle(&groups, "g", 3).await;
    let stats = groups.group_stats("g").unwrap();
    assert_eq!((stats.lag_events, stats.pending, stats.in_flight), (3, 3, 0));
    assert!(stats.lag_seconds > 0.0);
    let batch = groups.lease("g", "w", 2, WAIT).await.unwrap();
    let stats = groups.group_stats("g").unwrap();
    assert_eq!((stats.in_flight, stats.pending, stats.workers, stats.delivered), (2, 1, 1, 2));
    groups.ack_all("g", batch.lease_id).unwrap();
    let stats = groups.group_stats("g").unwrap();
    assert_eq!((stats.lag_events, stats.acked), (1, 2));
}
