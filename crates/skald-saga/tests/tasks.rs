//! Task resources other than the travel services' happy answers: activities, `.waitForTaskToken`
//! callbacks and heartbeats, the built-ins, HTTP failure mapping, stop, and API errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::WAIT;
use serde_json::{json, Value};
use skald_core::{EventStore, ManualClock, ReadOptions, Selector};
use skald_saga::{
    Coordinator, CoordinatorHandle, CoordinatorOptions, ExecutionStatus, ResourceRegistry, StartExecution,
};
use skald_testkit::TestStore;

skald_testkit::backend_tests!(crate;
    activity_workers_poll_and_answer,
    activity_long_poll_wakes_when_a_task_arrives,
    wait_for_task_token_callback_with_catch,
    missed_heartbeat_times_the_task_out,
    builtin_append_event_happens_once_per_attempt,
    builtin_child_execution_sync_returns_its_result_or_error,
    http_failures_raise_states_errors,
    stop_aborts_with_error_and_cause,
    api_errors_have_stable_codes,
    input_size_limit_is_configurable,
    state_machines_are_listed_by_name_with_their_latest_version,
);

async fn coordinator(kit: &TestStore, resources: ResourceRegistry) -> (Arc<dyn EventStore>, CoordinatorHandle) {
    let store: Arc<dyn EventStore> = kit.store();
    let options = CoordinatorOptions { resources, ..Default::default() };
    (store.clone(), Coordinator::start(store, options).await.unwrap())
}

fn one_task(resource: &str, extra: Value) -> Value {
    let mut task = json!({ "Type": "Task", "Resource": resource, "End": true });
    if let (Some(t), Some(e)) = (task.as_object_mut(), extra.as_object()) {
        t.extend(e.clone());
    }
    json!({ "StartAt": "T", "States": { "T": task } })
}

async fn activity_workers_poll_and_answer(kit: TestStore) {
    let (_, saga) = coordinator(&kit, ResourceRegistry::new().activity("approve", "approvals")).await;
    saga.create_state_machine("act", one_task("approve", json!({}))).await.unwrap();
    let id = saga.start_execution(StartExecution::new("act", "a1", json!({"amount": 7}))).await.unwrap().execution_id;
    assert!(saga.get_activity_task("other", Duration::from_millis(10)).await.unwrap().is_none());
    let task = saga.get_activity_task("approvals", Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(task.input, json!({"amount": 7}));
    assert_eq!(task.execution_id, id);
    saga.send_task_heartbeat(&task.task_token).await.unwrap();
    saga.send_task_success(&task.task_token, json!({"approved": true})).await.unwrap();
    let done = saga.wait_for_execution(&id, WAIT).await.unwrap();
    assert_eq!(done.output, Some(json!({"approved": true})));
    // The token is spent.
    let again = saga.send_task_success(&task.task_token, json!(1)).await.unwrap_err();
    assert_eq!(again.code(), "task-token-not-found");
}

async fn activity_long_poll_wakes_when_a_task_arrives(kit: TestStore) {
    let (_, saga) = coordinator(&kit, ResourceRegistry::new()).await;
    let arn = "arn:aws:states:us-east-1:123456789012:activity:Review";
    saga.create_state_machine("act", one_task(arn, json!({}))).await.unwrap();
    let poller = tokio::spawn({
        let saga = saga.clone();
        async move { saga.get_activity_task("Review", Duration::from_secs(10)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let id = saga.start_execution(StartExecution::new("act", "a2", json!({}))).await.unwrap().execution_id;
    let task = poller.await.unwrap().unwrap().unwrap();
    saga.send_task_failure(&task.task_token, "Rejected", "not good enough").await.unwrap();
    let done = saga.wait_for_execution(&id, WAIT).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("Rejected"));
}

async fn wait_for_task_token_callback_with_catch(kit: TestStore) {
    let (_, saga) = coordinator(&kit, ResourceRegistry::new()).await;
    let definition = json!({
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task", "Resource": "skald:callback.waitForTaskToken",
                "Parameters": { "token.$": "$$.Task.Token", "question": "ok?" },
                "Catch": [{ "ErrorEquals": ["Declined"], "Next": "No" }],
                "End": true
            },
            "No": { "Type": "Pass", "Result": "declined", "End": true }
        }
    });
    saga.create_state_machine("cb", definition).await.unwrap();
    let a = saga.start_execution(StartExecution::new("cb", "yes", json!({}))).await.unwrap().execution_id;
    let b = saga.start_execution(StartExecution::new("cb", "no", json!({}))).await.unwrap().execution_id;
    let token_of = |id: String| {
        let saga = saga.clone();
        async move {
            let h = saga.history(&id, None, 100, skald_core::Direction::Forward).await.unwrap();
            h.events
                .iter()
                .find_map(|e| match &e.details {
                    skald_asl::EventDetails::TaskScheduled { task_token: Some(t), input, .. } => {
                        assert_eq!(input["token"], json!(t));
                        Some(t.clone())
                    }
                    _ => None,
                })
                .unwrap()
        }
    };
    saga.send_task_success(&token_of(a.clone()).await, json!("yes!")).await.unwrap();
    saga.send_task_failure(&token_of(b.clone()).await, "Declined", "no").await.unwrap();
    assert_eq!(saga.wait_for_execution(&a, WAIT).await.unwrap().output, Some(json!("yes!")));
    assert_eq!(saga.wait_for_execution(&b, WAIT).await.unwrap().output, Some(json!("declined")));
    assert_eq!(saga.send_task_heartbeat("nope").await.unwrap_err().code(), "task-token-not-found");
}

async fn missed_heartbeat_times_the_task_out(kit: TestStore) {
    let store: Arc<dyn EventStore> = kit.store();
    let clock = ManualClock::new(skald_core::Timestamp::from_millis(1_000_000));
    let options = CoordinatorOptions {
        clock: Arc::new(clock.clone()),
        resources: ResourceRegistry::new().activity("work", "work"),
        ..Default::default()
    };
    let saga = Coordinator::start(store, options).await.unwrap();
    saga.create_state_machine("hb", one_task("work", json!({"HeartbeatSeconds": 10, "TimeoutSeconds": 100})))
        .await
        .unwrap();
    let id = saga.start_execution(StartExecution::new("hb", "h1", json!({}))).await.unwrap().execution_id;
    let task = saga.get_activity_task("work", Duration::from_secs(5)).await.unwrap().unwrap();
    clock.advance(Duration::from_secs(8));
    tokio::time::sleep(Duration::from_millis(20)).await;
    saga.send_task_heartbeat(&task.task_token).await.unwrap();
    clock.advance(Duration::from_secs(8)); // 16 s after start, 8 s after the heartbeat: still alive
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(saga.describe_execution(&id).await.unwrap().status, ExecutionStatus::Running);
    clock.advance(Duration::from_secs(3));
    let done = saga.wait_for_execution(&id, WAIT).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("States.HeartbeatTimeout"));
    assert_eq!(saga.send_task_success(&task.task_token, json!(1)).await.unwrap_err().code(), "task-token-not-found");
}

async fn builtin_append_event_happens_once_per_attempt(kit: TestStore) {
    let (store, saga) = coordinator(&kit, ResourceRegistry::new()).await;
    let definition = one_task(
        "skald:append-event",
        json!({ "Parameters": { "stream.$": "States.Format('booking-{}', $.trip)", "type": "BookingRequested", "data.$": "$" } }),
    );
    saga.create_state_machine("emit", definition).await.unwrap();
    let id = saga.start_execution(StartExecution::new("emit", "e1", json!({"trip": "t9"}))).await.unwrap().execution_id;
    let done = saga.wait_for_execution(&id, WAIT).await.unwrap();
    assert_eq!(done.output.unwrap()["stream"], json!("booking-t9"));
    let page = store.read(&Selector::Stream("booking-t9".into()), ReadOptions::default()).await.unwrap();
    assert_eq!(page.events.len(), 1);
    assert_eq!(page.events[0].event_type, "BookingRequested");
    assert_eq!(page.events[0].data.to_value(), json!({"trip": "t9"}));
}

async fn builtin_child_execution_sync_returns_its_result_or_error(kit: TestStore) {
    let (_, saga) = coordinator(&kit, ResourceRegistry::new()).await;
    saga.create_state_machine(
        "child",
        json!({
            "StartAt": "Check",
            "States": {
                "Check": { "Type": "Choice", "Choices": [{ "Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big" }], "Default": "Small" },
                "Big": { "Type": "Fail", "Error": "TooBig", "Cause": "n > 10" },
                "Small": { "Type": "Pass", "Parameters": { "doubled.$": "States.MathAdd($.n, $.n)" }, "End": true }
            }
        }),
    )
    .await
    .unwrap();
    let parent = json!({
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": { "StateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:child", "Input.$": "$" },
                "Catch": [{ "ErrorEquals": ["TooBig"], "ResultPath": "$.error", "Next": "Caught" }],
                "End": true
            },
            "Caught": { "Type": "Pass", "End": true }
        }
    });
    saga.create_state_machine("parent", parent).await.unwrap();
    let small = saga.start_execution(StartExecution::new("parent", "small", json!({"n": 4}))).await.unwrap();
    let big = saga.start_execution(StartExecution::new("parent", "big", json!({"n": 40}))).await.unwrap();
    let small = saga.wait_for_execution(&small.execution_id, WAIT).await.unwrap();
    let big = saga.wait_for_execution(&big.execution_id, WAIT).await.unwrap();
    assert_eq!(small.output, Some(json!({"doubled": 8})));
    assert_eq!(big.output.unwrap()["error"]["Error"], json!("TooBig"));
    let children = saga
        .list_executions(skald_saga::ListExecutions { state_machine: Some("child".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(children.executions.len(), 2);
}

async fn http_failures_raise_states_errors(kit: TestStore) {
    // A port nothing listens on: transport failure.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/x", dead.local_addr().unwrap());
    drop(dead);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new()
            .route("/boom", axum::routing::post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "oops") }))
            .route("/huge", axum::routing::post(|| async { "x".repeat(4096) }))
            .route(
                "/slow",
                axum::routing::post(|| async {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    "late"
                }),
            );
        let _ = axum::serve(listener, app).await;
    });
    let registry = ResourceRegistry::new()
        .http("dead", dead_url)
        .http("boom", format!("{base}/boom"))
        .http("slow", format!("{base}/slow"))
        .http("huge", format!("{base}/huge"))
        // This build has no TLS.
        .http("tls", base.replace("http://", "https://"));
    let store: Arc<dyn EventStore> = kit.store();
    let options = CoordinatorOptions {
        resources: registry,
        http_timeout: Duration::from_millis(300),
        http_response_bytes_max: 1024,
        ..Default::default()
    };
    let saga = Coordinator::start(store, options).await.unwrap();
    for (resource, error, cause) in [
        ("dead", "States.Http.Socket", "refused"),
        ("boom", "States.TaskFailed", "answered 500"),
        ("slow", "States.Timeout", "did not answer in time"),
        // A task may not raise a terminal States.* name: the interpreter records it as TaskFailed.
        ("huge", "States.TaskFailed", "larger than 1024 bytes"),
        ("tls", "States.Http.Socket", "https"),
    ] {
        saga.create_state_machine(resource, one_task(resource, json!({}))).await.unwrap();
        let id = saga.start_execution(StartExecution::new(resource, "x", json!({}))).await.unwrap().execution_id;
        let done = saga.wait_for_execution(&id, WAIT).await.unwrap();
        assert_eq!(done.status, ExecutionStatus::Failed, "{resource}");
        assert_eq!(done.error.as_deref(), Some(error), "{resource}: {:?}", done.cause);
        let said = done.cause.unwrap_or_default();
        assert!(said.contains(cause), "{resource}: the cause {said:?} should say {cause:?}");
    }
}

async fn stop_aborts_with_error_and_cause(kit: TestStore) {
    let (_, saga) = coordinator(&kit, ResourceRegistry::new().activity("w", "w")).await;
    saga.create_state_machine("s", one_task("w", json!({}))).await.unwrap();
    let id = saga.start_execution(StartExecution::new("s", "s1", json!({}))).await.unwrap().execution_id;
    let stopped = saga.stop_execution(&id, "Operator.Stop", "changed my mind").await.unwrap();
    assert_eq!(stopped.status, ExecutionStatus::Aborted);
    assert_eq!(stopped.error.as_deref(), Some("Operator.Stop"));
    assert_eq!(stopped.cause.as_deref(), Some("changed my mind"));
    // Stopping again changes nothing; the queued activity task is gone.
    assert_eq!(saga.stop_execution(&id, "x", "y").await.unwrap().error.as_deref(), Some("Operator.Stop"));
    assert!(saga.get_activity_task("w", Duration::from_millis(10)).await.unwrap().is_none());
    let aborted = saga
        .list_executions(skald_saga::ListExecutions { status: Some(ExecutionStatus::Aborted), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(aborted.executions.len(), 1);
}

async fn api_errors_have_stable_codes(kit: TestStore) {
    let (_, saga) = coordinator(&kit, ResourceRegistry::new()).await;
    let err = saga.create_state_machine("bad", one_task("nowhere", json!({}))).await.unwrap_err();
    assert_eq!(err.code(), "invalid-definition");
    let skald_saga::SagaError::InvalidDefinition { errors } = &err else { panic!() };
    assert_eq!(errors[0].state.as_deref(), Some("T"));
    assert_eq!(errors[0].field, "/States/T/Resource");
    let err = saga.create_state_machine("bad", json!({"StartAt": "Nope", "States": {}})).await.unwrap_err();
    assert_eq!(err.code(), "invalid-definition");
    let err = saga.create_state_machine("bad name", json!({})).await.unwrap_err();
    assert_eq!(err.code(), "invalid-request");
    let pass = json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}});
    saga.create_state_machine("p", pass.clone()).await.unwrap();
    assert_eq!(saga.create_state_machine("p", pass).await.unwrap().version, 1, "same definition: idempotent");
    let other = json!({"StartAt": "Q", "States": {"Q": {"Type": "Pass", "End": true}}});
    assert_eq!(saga.create_state_machine("p", other).await.unwrap_err().code(), "state-machine-already-exists");
    let err = saga.start_execution(StartExecution::new("missing", "x", json!({}))).await.unwrap_err();
    assert_eq!(err.code(), "state-machine-not-found");
    let big = json!({"blob": "x".repeat(300 * 1024)});
    assert_eq!(saga.start_execution(StartExecution::new("p", "big", big)).await.unwrap_err().code(), "input-too-large");
    assert_eq!(saga.describe_execution("p.none").await.unwrap_err().code(), "execution-not-found");
    assert_eq!(saga.describe_execution("../etc").await.unwrap_err().code(), "invalid-request");
    // A Pass-only machine finishes in its first step.
    let id = saga.start_execution(StartExecution::new("p", "quick", json!({"a": 1}))).await.unwrap().execution_id;
    let d = saga.describe_execution(&id).await.unwrap();
    assert_eq!((d.status, d.output), (ExecutionStatus::Succeeded, Some(json!({"a": 1}))));
    saga.shutdown().await;
    assert_eq!(
        saga.start_execution(StartExecution::new("p", "late", json!({}))).await.unwrap_err().code(),
        "shutting-down"
    );
}

async fn input_size_limit_is_configurable(kit: TestStore) {
    let store: Arc<dyn EventStore> = kit.store();
    let options = CoordinatorOptions { execution_input_bytes_max: 64, ..Default::default() };
    let saga = Coordinator::start(store, options).await.unwrap();
    saga.create_state_machine("p", json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}))
        .await
        .unwrap();
    let err = saga.start_execution(StartExecution::new("p", "x", json!({"b": "y".repeat(100)}))).await.unwrap_err();
    assert!(matches!(err, skald_saga::SagaError::InputTooLarge { max: 64, .. }));
}

async fn state_machines_are_listed_by_name_with_their_latest_version(kit: TestStore) {
    let (_, saga) = coordinator(&kit, ResourceRegistry::new()).await;
    let pass = |r: &str| json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": r, "End": true}}});
    for name in ["b", "a", "c"] {
        saga.create_state_machine(name, pass(name)).await.unwrap();
    }
    saga.update_state_machine("b", pass("b2")).await.unwrap();
    saga.delete_state_machine("c").await.unwrap();
    let page = saga.list_state_machines(None, 1).await.unwrap();
    assert_eq!(page.state_machines[0].name, "a");
    let rest = saga.list_state_machines(page.next_after.as_deref(), 10).await.unwrap();
    let names: Vec<(String, u64)> = rest.state_machines.iter().map(|m| (m.name.clone(), m.version)).collect();
    assert_eq!(names, [("b".to_owned(), 2)], "deleted ones are not listed");
    assert_eq!(saga.describe_state_machine("b", Some(1)).await.unwrap().definition, pass("b"));
    assert_eq!(saga.update_state_machine("c", pass("c")).await.unwrap_err().code(), "state-machine-not-found");
}
