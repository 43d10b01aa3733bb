//! Restarts in-process and on disk: timers (Wait, retry backoff, task timeouts) that fire after a
//! restart, executions that stay on their version, and eviction from memory.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use skald_core::{EventStore, ManualClock, Timestamp};
use skald_saga::{Coordinator, CoordinatorOptions, ExecutionStatus, ResourceRegistry, StartExecution};
use skald_testkit::TestStore;

skald_testkit::backend_tests!(crate;
    wait_timer_fires_after_restart,
    timer_waits_for_its_time_after_restart,
    timers_fire_after_reopening_the_store,
    retry_backoff_and_task_timeout_survive_a_restart,
    an_execution_stays_on_the_version_it_started_with,
    idle_executions_are_evicted_and_reloaded,
    travel_saga_resumes_after_an_in_process_restart,
    two_coordinators_on_one_store_never_interleave_a_history,
    start_up_reads_the_executions_index_from_the_oldest_open_execution,
    a_checkpoint_never_hides_an_execution_another_coordinator_opens_later,
    a_checkpoint_that_does_not_decode_means_reading_the_index_from_the_start,
);

fn t0() -> Timestamp {
    Timestamp::parse_rfc3339("2026-06-01T00:00:00Z").unwrap()
}

/// A store that outlives its coordinators, and the manual clock they share.
struct Restarts {
    store: Arc<dyn EventStore>,
    clock: ManualClock,
}

impl Restarts {
    fn on(kit: &TestStore) -> Self {
        Restarts { store: kit.store(), clock: ManualClock::new(t0()) }
    }

    async fn start(&self) -> skald_saga::CoordinatorHandle {
        let options = CoordinatorOptions { clock: Arc::new(self.clock.clone()), ..Default::default() };
        Coordinator::start(self.store.clone(), options).await.unwrap()
    }
}

fn wait_then_pass(seconds: u64, text: &str) -> Value {
    json!({
        "StartAt": "Pause",
        "States": {
            "Pause": { "Type": "Wait", "Seconds": seconds, "Next": "Done" },
            "Done": { "Type": "Pass", "Result": text, "ResultPath": "$.said", "End": true }
        }
    })
}

/// Waits until the history of `id` holds `count` events of type `event_type`.
async fn until_recorded(saga: &skald_saga::CoordinatorHandle, id: &str, event_type: &str, count: usize) {
    for _ in 0..2000 {
        let history = saga.history(id, None, 1000, skald_core::Direction::Forward).await.unwrap();
        if history.events.iter().filter(|e| e.event_type() == event_type).count() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{id}: {count} {event_type} never recorded");
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

async fn wait_timer_fires_after_restart(kit: TestStore) {
    let restarts = Restarts::on(&kit);
    let clock = &restarts.clock;
    let first = restarts.start().await;
    first.create_state_machine("pause", wait_then_pass(60, "v1")).await.unwrap();
    let id = first.start_execution(StartExecution::new("pause", "p1", json!({}))).await.unwrap().execution_id;
    assert_eq!(first.stats().timers, 1);
    first.shutdown().await;

    clock.advance(Duration::from_secs(61));
    let second = restarts.start().await;
    let done = second.wait_for_execution(&id, WAIT).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output, Some(json!({"said": "v1"})));
    // The Wait ended at the recorded time, not when the new coordinator noticed it.
    assert!(done.stop_time.unwrap() >= t0().plus_millis(60_000));
}

async fn timer_waits_for_its_time_after_restart(kit: TestStore) {
    let restarts = Restarts::on(&kit);
    let clock = &restarts.clock;
    let first = restarts.start().await;
    first.create_state_machine("pause", wait_then_pass(3600, "later")).await.unwrap();
    let id = first.start_execution(StartExecution::new("pause", "p2", json!({}))).await.unwrap().execution_id;
    first.shutdown().await;
    let second = restarts.start().await;
    clock.advance(Duration::from_secs(1_000));
    settle().await;
    assert_eq!(second.describe_execution(&id).await.unwrap().status, ExecutionStatus::Running);
    assert_eq!(second.describe_execution(&id).await.unwrap().current_states, [(0, "Pause".to_owned())]);
    clock.advance(Duration::from_millis(2_600_001));
    let done = second.wait_for_execution(&id, WAIT).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
}

async fn timers_fire_after_reopening_the_store(mut kit: TestStore) {
    let clock = ManualClock::new(t0());
    let options = || CoordinatorOptions { clock: Arc::new(clock.clone()), ..Default::default() };
    let id = {
        let saga = Coordinator::start(kit.store(), options()).await.unwrap();
        saga.create_state_machine("pause", wait_then_pass(30, "disk")).await.unwrap();
        let id = saga.start_execution(StartExecution::new("pause", "d1", json!({}))).await.unwrap().execution_id;
        saga.shutdown().await;
        id
    };
    kit.reopen().await;
    clock.advance(Duration::from_secs(31));
    let saga = Coordinator::start(kit.store(), options()).await.unwrap();
    let done = saga.wait_for_execution(&id, WAIT).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output, Some(json!({"said": "disk"})));
    saga.shutdown().await;
}

async fn retry_backoff_and_task_timeout_survive_a_restart(kit: TestStore) {
    // A task whose endpoint never answers times out (TimeoutSeconds), is retried after a backoff,
    // and finally caught; the coordinator restarts in between.
    let store: Arc<dyn EventStore> = kit.store();
    let clock = ManualClock::new(t0());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().route(
            "/slow",
            axum::routing::post(|| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "late"
            }),
        );
        let _ = axum::serve(listener, app).await;
    });
    let options = || CoordinatorOptions {
        clock: Arc::new(clock.clone()),
        resources: ResourceRegistry::new().http("slow", url.clone()),
        ..Default::default()
    };
    let definition = json!({
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task", "Resource": "slow", "TimeoutSeconds": 10,
                "Retry": [{ "ErrorEquals": ["States.Timeout"], "IntervalSeconds": 5, "MaxAttempts": 1 }],
                "Catch": [{ "ErrorEquals": ["States.ALL"], "Next": "GaveUp" }],
                "End": true
            },
            "GaveUp": { "Type": "Pass", "Result": "gave up", "End": true }
        }
    });
    let first = Coordinator::start(store.clone(), options()).await.unwrap();
    first.create_state_machine("slow", definition).await.unwrap();
    let id = first.start_execution(StartExecution::new("slow", "s1", json!({}))).await.unwrap().execution_id;
    clock.advance(Duration::from_secs(10)); // first attempt times out; retry timer set for +5 s
    until_recorded(&first, &id, "RetryScheduled", 1).await;
    first.shutdown().await;
    let second = Coordinator::start(store.clone(), options()).await.unwrap();
    clock.advance(Duration::from_secs(5)); // the retry fires: second attempt
    until_recorded(&second, &id, "TaskScheduled", 2).await;
    second.shutdown().await;
    let third = Coordinator::start(store.clone(), options()).await.unwrap();
    clock.advance(Duration::from_secs(10)); // second attempt times out: caught
    let done = third.wait_for_execution(&id, WAIT).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output, Some(json!("gave up")));
    let history = third.history(&id, None, 1000, skald_core::Direction::Forward).await.unwrap();
    let kinds: Vec<&str> = history.events.iter().map(|e| e.event_type()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "TaskTimedOut").count(), 2, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "RetryScheduled").count(), 1, "{kinds:?}");
}

async fn an_execution_stays_on_the_version_it_started_with(kit: TestStore) {
    let restarts = Restarts::on(&kit);
    let clock = &restarts.clock;
    let saga = restarts.start().await;
    let v1 = saga.create_state_machine("pause", wait_then_pass(10, "v1")).await.unwrap();
    assert_eq!(v1.version, 1);
    let old = saga.start_execution(StartExecution::new("pause", "old", json!({}))).await.unwrap();
    let v2 = saga.update_state_machine("pause", wait_then_pass(10, "v2")).await.unwrap();
    assert_eq!(v2.version, 2);
    let new = saga.start_execution(StartExecution::new("pause", "new", json!({}))).await.unwrap();
    assert_eq!((old.state_machine_version, new.state_machine_version), (1, 2));
    // Restart in between, so the old one is rebuilt from its history with version 1.
    saga.shutdown().await;
    let saga = restarts.start().await;
    clock.advance(Duration::from_secs(11));
    let old = saga.wait_for_execution(&old.execution_id, WAIT).await.unwrap();
    let new = saga.wait_for_execution(&new.execution_id, WAIT).await.unwrap();
    assert_eq!(old.output, Some(json!({"said": "v1"})));
    assert_eq!(new.output, Some(json!({"said": "v2"})));
    assert_eq!(saga.describe_state_machine("pause", Some(1)).await.unwrap().definition, wait_then_pass(10, "v1"));
    // Delete: no new starts; versions stay readable for running executions.
    saga.delete_state_machine("pause").await.unwrap();
    let err = saga.start_execution(StartExecution::new("pause", "late", json!({}))).await.unwrap_err();
    assert_eq!(err.code(), "state-machine-not-found");
    let again = saga.create_state_machine("pause", wait_then_pass(1, "v4")).await.unwrap();
    assert_eq!(again.version, 4, "a delete uses a version number");
}

async fn idle_executions_are_evicted_and_reloaded(kit: TestStore) {
    let store: Arc<dyn EventStore> = kit.store();
    let clock = ManualClock::new(t0());
    let options = CoordinatorOptions { clock: Arc::new(clock.clone()), executions_cached_max: 8, ..Default::default() };
    let saga = Coordinator::start(store.clone(), options).await.unwrap();
    saga.create_state_machine("pause", wait_then_pass(5, "x")).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(saga.start_execution(StartExecution::new("pause", format!("e{i}"), json!({"i": i}))).await.unwrap());
    }
    clock.advance(Duration::from_secs(6));
    for s in ids {
        let done = saga.wait_for_execution(&s.execution_id, WAIT).await.unwrap();
        assert_eq!(done.status, ExecutionStatus::Succeeded);
    }
    assert_eq!(saga.stats().open_executions, 0);
}

async fn travel_saga_resumes_after_an_in_process_restart(kit: TestStore) {
    let w = world(&kit).await;
    let started = w
        .saga
        .start_execution(StartExecution::new("travel", "flaky-restart", trip("flaky-restart", "SK", "c", 5000)))
        .await
        .unwrap();
    // Shut down while the compensation's retry timer (1 s) is pending or earlier.
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.saga.shutdown().await;
    let options = CoordinatorOptions { resources: travel::registry(&w.base), ..Default::default() };
    let saga = Coordinator::start(w.store.clone(), options).await.unwrap();
    let done = saga.wait_for_execution(&started.execution_id, WAIT).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Failed);
    check_saga_effects(&w.services, "flaky-restart", ExecutionStatus::Failed);
}

async fn two_coordinators_on_one_store_never_interleave_a_history(kit: TestStore) {
    let w = world(&kit).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let name = format!("{}-two{i}", if i % 2 == 0 { "ok" } else { "payment" });
        let amount = if i % 2 == 0 { 100 } else { 5000 };
        let s =
            w.saga.start_execution(StartExecution::new("travel", &name, trip(&name, "SK", "c", amount))).await.unwrap();
        ids.push((name, s.execution_id));
    }
    // A second coordinator recovers the same open executions and races the first on every task.
    let options = CoordinatorOptions { resources: travel::registry(&w.base), ..Default::default() };
    let other = Coordinator::start(w.store.clone(), options).await.unwrap();
    let waits: Vec<_> = ids
        .iter()
        .map(|(_, id)| {
            let (other, id) = (other.clone(), id.clone());
            tokio::spawn(async move { other.wait_for_execution(&id, WAIT).await.unwrap() })
        })
        .collect();
    for ((name, id), wait) in ids.iter().zip(waits) {
        let done = wait.await.unwrap();
        let expected = if name.starts_with("ok") { ExecutionStatus::Succeeded } else { ExecutionStatus::Failed };
        assert_eq!(done.status, expected, "{name}");
        check_saga_effects(&w.services, name, expected);
        // The history is one linear sequence that replays (a fresh load replays it).
        let history = other.history(id, None, 1000, skald_core::Direction::Forward).await.unwrap();
        for (i, e) in history.events.iter().enumerate() {
            assert_eq!(e.id, i as u64 + 1, "{name}");
        }
        let terminal = history.events.iter().filter(|e| e.event_type().starts_with("Execution") && e.id > 1).count();
        assert_eq!(terminal, 1, "{name}: ended once");
    }
}

fn pass_only() -> Value {
    json!({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": true}}})
}

/// The `$executions` version of the `ExecutionOpened` record of `id`.
async fn opened_version(store: &Arc<dyn EventStore>, id: &str) -> u64 {
    let selector = skald_core::Selector::Stream("$executions".to_owned());
    let page = store.read(&selector, skald_core::ReadOptions::forward(0, 1000)).await.unwrap();
    let opened = page
        .events
        .iter()
        .find(|e| e.event_type == "ExecutionOpened" && e.data.to_value()["execution_id"].as_str() == Some(id));
    opened.expect("an ExecutionOpened record").version
}

async fn last_checkpoint(store: &Arc<dyn EventStore>) -> Value {
    let selector = skald_core::Selector::Stream("$executions-checkpoint".to_owned());
    let options =
        skald_core::ReadOptions { from: None, direction: skald_core::Direction::Backward, limit: 1, as_of: None };
    let page = store.read(&selector, options).await.unwrap();
    page.events[0].data.to_value()
}

async fn start_up_reads_the_executions_index_from_the_oldest_open_execution(kit: TestStore) {
    let restarts = Restarts::on(&kit);
    let (store, clock) = (&restarts.store, &restarts.clock);
    let first = restarts.start().await;
    assert_eq!(first.stats().recovery_index_records, 0);
    first.create_state_machine("quick", pass_only()).await.unwrap();
    first.create_state_machine("pause", wait_then_pass(3600, "late")).await.unwrap();
    let run_quick = |saga: skald_saga::CoordinatorHandle, range: std::ops::Range<usize>| async move {
        for i in range {
            let id = saga.start_execution(StartExecution::new("quick", format!("q{i}"), json!({}))).await.unwrap();
            assert_eq!(
                saga.wait_for_execution(&id.execution_id, WAIT).await.unwrap().status,
                ExecutionStatus::Succeeded
            );
        }
    };
    run_quick(first.clone(), 0..10).await;
    let long = first.start_execution(StartExecution::new("pause", "long", json!({}))).await.unwrap().execution_id;
    run_quick(first.clone(), 10..20).await;
    first.shutdown().await;

    // The first start-up with history reads it all: 20 executions opened and closed, one open.
    let second = restarts.start().await;
    assert_eq!(second.stats().recovery_index_records, 41);
    assert_eq!(second.stats().open_executions, 1);
    let from = opened_version(store, &long).await;
    assert_eq!(last_checkpoint(store).await, json!({"open_from": from, "scanned_to": 40}));
    second.shutdown().await;

    // The next ones start at the open execution's record: it and the 10 executions after it.
    let third = restarts.start().await;
    assert_eq!(third.stats().recovery_index_records, 21);
    assert_eq!(third.stats().open_executions, 1);
    clock.advance(Duration::from_millis(3_600_001));
    assert_eq!(third.wait_for_execution(&long, WAIT).await.unwrap().status, ExecutionStatus::Succeeded);
    third.shutdown().await;

    // Once it has closed, a start-up finds nothing open and the one after it reads nothing.
    let fourth = restarts.start().await;
    assert_eq!(fourth.stats().recovery_index_records, 22);
    assert_eq!(fourth.stats().open_executions, 0);
    run_quick(fourth.clone(), 20..21).await;
    fourth.shutdown().await;
    let fifth = restarts.start().await;
    assert_eq!(fifth.stats().recovery_index_records, 2);
    fifth.shutdown().await;
    let sixth = restarts.start().await;
    assert_eq!(sixth.stats().recovery_index_records, 0);
}

async fn a_checkpoint_never_hides_an_execution_another_coordinator_opens_later(kit: TestStore) {
    let restarts = Restarts::on(&kit);
    let (store, clock) = (&restarts.store, &restarts.clock);
    let running = restarts.start().await;
    running.create_state_machine("quick", pass_only()).await.unwrap();
    running.create_state_machine("pause", wait_then_pass(60, "late")).await.unwrap();
    for i in 0..5 {
        let id = running.start_execution(StartExecution::new("quick", format!("q{i}"), json!({}))).await.unwrap();
        running.wait_for_execution(&id.execution_id, WAIT).await.unwrap();
    }
    let early = running.start_execution(StartExecution::new("pause", "early", json!({}))).await.unwrap().execution_id;
    // Another coordinator starts and records where the open execution's record lies...
    let other = restarts.start().await;
    assert_eq!(last_checkpoint(store).await["open_from"], json!(opened_version(store, &early).await));
    other.shutdown().await;
    // ...while the running one opens another execution after that scan, and then stops.
    let late = running.start_execution(StartExecution::new("pause", "late", json!({}))).await.unwrap().execution_id;
    running.shutdown().await;
    let next = restarts.start().await;
    assert_eq!(next.stats().open_executions, 2, "both are recovered");
    clock.advance(Duration::from_secs(61));
    for id in [early, late] {
        assert_eq!(next.wait_for_execution(&id, WAIT).await.unwrap().status, ExecutionStatus::Succeeded);
    }
}

async fn a_checkpoint_that_does_not_decode_means_reading_the_index_from_the_start(kit: TestStore) {
    let restarts = Restarts::on(&kit);
    let (store, clock) = (&restarts.store, &restarts.clock);
    let first = restarts.start().await;
    first.create_state_machine("pause", wait_then_pass(60, "late")).await.unwrap();
    let id = first.start_execution(StartExecution::new("pause", "p", json!({}))).await.unwrap().execution_id;
    first.shutdown().await;
    let garbage =
        skald_core::NewEvent::new("ExecutionsScanned", skald_core::Json::from_value(&json!({"open_from": "x"})));
    store.append(vec![skald_core::StreamAppend::new("$executions-checkpoint", vec![garbage])]).await.unwrap();
    clock.advance(Duration::from_secs(61));
    let second = restarts.start().await;
    assert_eq!(second.stats().recovery_index_records, 1);
    assert_eq!(second.wait_for_execution(&id, WAIT).await.unwrap().status, ExecutionStatus::Succeeded);
}
