//! The saga and consumer-group methods against a real server (`MemoryStore`, a coordinator and
//! the groups service) on 127.0.0.1, and the wire types against the server's own.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use skald_client::{
    Client, ExecutionStatus, GroupSpec, ListExecutions, PushSpec, StartExecution, StartFrom, StateMachine,
};
use skald_core::{Direction, EventStore, ExpectedVersion, MemoryStore, NewEvent};
use skald_saga::{Coordinator, CoordinatorOptions, ResourceRegistry};

mod common;
use common::{start_with, Server};

const WAIT: Duration = Duration::from_secs(10);

async fn serve() -> Server {
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let options = CoordinatorOptions {
        resources: ResourceRegistry::new().activity("approve", "approvals"),
        ..Default::default()
    };
    let sagas = Coordinator::start(store.clone(), options).await.unwrap();
    let groups = skald_groups::Groups::start(store.clone(), Default::default()).await.unwrap();
    let services = skald_server::Services { sagas: Some(sagas), groups: Some(groups), ..Default::default() };
    start_with(store, "127.0.0.1:0", services).await
}

fn hello() -> Value {
    json!({"StartAt": "Greet", "States": {"Greet": {"Type": "Pass",
        "Parameters": {"text.$": "States.Format('Hello, {}!', $.name)"}, "End": true}}})
}

fn review() -> Value {
    json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "approve", "End": true}}})
}

async fn define(client: &Client, name: &str, definition: Value) -> StateMachine {
    client.put_state_machine(name, &definition).await.unwrap()
}

/// The typed answer says all the server said at `path`: a field the client's types lack would
/// be lost (`skald … --json` prints the typed answers).
/// (A group's `lag_seconds` moves between two calls, so it is left out.)
async fn lossless(server: &Server, path: &str, typed: impl serde::Serialize) {
    let raw: Value = reqwest::get(format!("http://{}{path}", server.addr)).await.unwrap().json().await.unwrap();
    let steady = |mut v: Value| {
        if let Some(lag) = v.pointer_mut("/stats/lag_seconds") {
            *lag = Value::Null;
        }
        v
    };
    assert_eq!(steady(serde_json::to_value(typed).unwrap()), steady(raw), "{path}");
}

#[tokio::test]
async fn an_execution_starts_runs_and_tells_its_history() {
    let server = serve().await;
    let client = server.client();
    let created = client.create_state_machine("hello", &hello()).await.unwrap();
    assert_eq!((created.name.as_str(), created.version), ("hello", 1));
    assert_eq!(client.create_state_machine("hello", &hello()).await.unwrap(), created, "same definition, same answer");
    assert_eq!(client.describe_state_machine("hello", Some(1)).await.unwrap(), created);
    define(&client, "review", review()).await;
    let list = client.list_state_machines(None, 1).await.unwrap();
    assert_eq!((list.state_machines[0].name.as_str(), list.next_after.as_deref()), ("hello", Some("hello")));

    let start = StartExecution::new("hello", "first", json!({"name": "Ada"}));
    let started = client.start_execution(&start).await.unwrap();
    assert_eq!((started.execution_id.as_str(), started.already_started), ("hello.first", false));
    assert!(client.start_execution(&start).await.unwrap().already_started, "starts are idempotent by name");
    let done = client.wait_for_execution(&started.execution_id, WAIT).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(done.output, Some(json!({"text": "Hello, Ada!"})));
    assert_eq!(client.describe_execution("hello.first").await.unwrap(), done);

    let history = client.execution_history("hello.first", None, 2, Direction::Forward).await.unwrap();
    assert_eq!(history.events[0].event_type, "ExecutionStarted");
    assert_eq!(history.events[0].details["input"], json!({"name": "Ada"}));
    assert_eq!((history.events.len(), history.next), (2, Some(3)));
    let last = client.execution_history("hello.first", None, 1, Direction::Backward).await.unwrap();
    assert_eq!(last.events[0].event_type, "ExecutionSucceeded");
    assert_eq!(last.events[0].id, done.history_length);

    let listed = ListExecutions { status: Some(ExecutionStatus::Succeeded), ..Default::default() };
    let listed = client.list_executions(&listed).await.unwrap();
    assert_eq!(listed.executions.iter().map(|e| e.execution_id.as_str()).collect::<Vec<_>>(), ["hello.first"]);

    lossless(&server, "/v1/state-machines?limit=10", client.list_state_machines(None, 10).await.unwrap()).await;
    lossless(&server, "/v1/executions", client.list_executions(&ListExecutions::default()).await.unwrap()).await;
    lossless(&server, "/v1/executions/hello.first", done).await;
    let history = client.execution_history("hello.first", None, 100, Direction::Forward).await.unwrap();
    lossless(&server, "/v1/executions/hello.first/history", history).await;
    server.stop().await;
}

#[tokio::test]
async fn activity_workers_answer_by_token_and_executions_stop() {
    let server = serve().await;
    let client = server.client();
    define(&client, "review", review()).await;
    let no_task = client.get_activity_task("approvals", Duration::ZERO).await.unwrap();
    assert_eq!(no_task, None, "nothing waits yet");

    for (name, succeed) in [("r1", true), ("r2", false)] {
        client.start_execution(&StartExecution::new("review", name, json!({"doc": name}))).await.unwrap();
        let task = client.get_activity_task("approvals", Duration::from_secs(5)).await.unwrap().expect("a task");
        assert_eq!((task.input, task.execution_id.as_str()), (json!({"doc": name}), format!("review.{name}").as_str()));
        client.send_task_heartbeat(&task.task_token).await.unwrap();
        if succeed {
            client.send_task_success(&task.task_token, &json!({"ok": true})).await.unwrap();
        } else {
            client.send_task_failure(&task.task_token, "Rejected", "too long").await.unwrap();
        }
        let error = client.send_task_heartbeat(&task.task_token).await.unwrap_err();
        assert_eq!(error.code(), Some("task-token-not-found"), "{error}");
    }
    let r1 = client.wait_for_execution("review.r1", WAIT).await.unwrap();
    assert_eq!((r1.status, r1.output), (ExecutionStatus::Succeeded, Some(json!({"ok": true}))));
    let r2 = client.wait_for_execution("review.r2", WAIT).await.unwrap();
    assert_eq!(
        (r2.status, r2.error.as_deref(), r2.cause.as_deref()),
        (ExecutionStatus::Failed, Some("Rejected"), Some("too long"))
    );

    client.start_execution(&StartExecution::new("review", "r3", json!({}))).await.unwrap();
    let waited = client.wait_for_execution("review.r3", Duration::from_millis(50)).await.unwrap();
    assert_eq!(waited.status, ExecutionStatus::Running, "a timed-out wait answers the execution as it stands");
    let stopped = client.stop_execution("review.r3", "Ops", "no longer wanted").await.unwrap();
    assert_eq!((stopped.status, stopped.error.as_deref()), (ExecutionStatus::Aborted, Some("Ops")));
    client.delete_state_machine("review").await.unwrap();
    let error = client.describe_state_machine("review", None).await.unwrap_err();
    assert_eq!((error.status(), error.code()), (Some(404), Some("state-machine-not-found")));
    server.stop().await;
}

#[tokio::test]
async fn problems_surface_their_codes_and_fields() {
    let server = serve().await;
    let client = server.client();
    let bad = json!({"StartAt": "X", "States": {"X": {"Type": "Task", "Resource": "nowhere", "End": true}}});
    let error = client.put_state_machine("bad", &bad).await.unwrap_err();
    assert_eq!((error.status(), error.code()), (Some(400), Some("invalid-definition")));
    assert_eq!(error.field("errors").unwrap()[0]["field"], "/States/X/Resource");
    let error = client.describe_execution("hello.none").await.unwrap_err();
    assert_eq!((error.code(), error.field("execution_id")), (Some("execution-not-found"), Some(&json!("hello.none"))));
    assert!(!error.is_retryable());
    let error = client.create_group(&GroupSpec::new("g").filter(json!({"type": "A"}))).await.unwrap_err();
    assert_eq!((error.code(), error.field("pointer")), (Some("invalid-filter"), Some(&json!("/filter/type"))));
    let error = client.get_group("nobody").await.unwrap_err();
    assert_eq!((error.status(), error.code()), (Some(404), Some("group-not-found")));
    server.stop().await;
}

#[tokio::test]
async fn a_group_leases_acks_parks_and_replays() {
    let server = serve().await;
    let client = server.client();
    let created = client.create_group(&GroupSpec::new("billing").filter(json!({"type": ["Placed"]}))).await.unwrap();
    assert_eq!((created.spec.max_attempts, created.start_position), (5, 0));
    let again = client.create_group(&GroupSpec::new("billing")).await.unwrap_err();
    assert_eq!(again.code(), Some("group-already-exists"));
    let placed = |n: u64| vec![NewEvent::new("Placed", json!({"n": n})), NewEvent::new("Viewed", json!({}))];
    client.append("order-1", ExpectedVersion::NoStream, placed(1)).await.unwrap();

    let batch = client.lease("billing", "w1", 10, Duration::from_secs(5)).await.unwrap();
    let lease_id = batch.lease_id.expect("a lease");
    assert_eq!(batch.events.len(), 1, "only what the filter takes");
    assert_eq!((batch.events[0].event.stream.as_str(), batch.events[0].attempt), ("order-1", 1));
    assert_eq!(batch.events[0].event.data.to_value(), json!({"n": 1}));
    let acked = client.ack_all("billing", lease_id).await.unwrap();
    assert_eq!((acked.acked, acked.unknown), (1, 0));
    let error = client.ack_all("billing", lease_id).await.unwrap_err();
    assert_eq!(
        (error.status(), error.code(), error.field("lease_id")),
        (Some(409), Some("lease-expired"), Some(&json!(lease_id)))
    );
    let empty = client.lease("billing", "w1", 10, Duration::ZERO).await.unwrap();
    assert_eq!((empty.lease_id, empty.events.len()), (None, 0));

    client.append("order-2", ExpectedVersion::NoStream, placed(2)).await.unwrap();
    let batch = client.lease("billing", "w1", 10, Duration::from_secs(5)).await.unwrap();
    let id = batch.events[0].event.id;
    let parked = client.park("billing", batch.lease_id.unwrap(), &[id], Some("bad data")).await.unwrap();
    assert_eq!((parked.nacked, parked.unknown), (1, 0));
    let mut page = client.parked("billing", 0, 10).await.unwrap();
    for _ in 0..100 {
        if !page.parked.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        page = client.parked("billing", 0, 10).await.unwrap();
    }
    assert_eq!((page.parked[0].event.id, page.parked[0].reason.as_str()), (id, "bad data"));
    lossless(&server, "/v1/groups/billing/parked", &page).await;
    assert_eq!(client.replay_parked("billing").await.unwrap().replayed, 1);
    let batch = client.lease("billing", "w2", 10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(batch.events[0].event.id, id, "a replayed event is delivered again");
    let nacked = client.nack("billing", batch.lease_id.unwrap(), &[id], None).await.unwrap();
    assert_eq!(nacked.nacked, 1);
    let batch = client.lease("billing", "w2", 10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(batch.events[0].attempt, 2, "a nacked event comes back after its backoff");
    assert_eq!(client.ack("billing", batch.lease_id.unwrap(), &[id]).await.unwrap().acked, 1);

    let info = client.get_group("billing").await.unwrap();
    assert_eq!((info.stats.acked, info.stats.parked), (2, 1));
    lossless(&server, "/v1/groups/billing", &info).await;
    let updated = client.put_group(&GroupSpec { max_attempts: 2, ..info.spec }).await.unwrap();
    assert_eq!(updated.spec.max_attempts, 2);
    assert_eq!(client.list_groups().await.unwrap().groups, [client.get_group("billing").await.unwrap()]);
    client.delete_group("billing").await.unwrap();
    assert_eq!(client.get_group("billing").await.unwrap_err().code(), Some("group-not-found"));
    server.stop().await;
}

#[tokio::test]
async fn a_worker_takes_its_leases_over_sse() {
    let server = serve().await;
    let client = server.client();
    client.create_group(&GroupSpec { start: StartFrom::End, ..GroupSpec::new("feed") }).await.unwrap();
    let mut live = client.lease_live("feed", "w", 100).await.unwrap();
    for n in 0..3 {
        client.append("order-1", ExpectedVersion::Any, vec![NewEvent::new("Placed", json!({"n": n}))]).await.unwrap();
        let batch = tokio::time::timeout(WAIT, live.next()).await.expect("in time").expect("open").unwrap();
        assert_eq!(batch.events[0].event.data.to_value(), json!({"n": n}));
        client.ack_all("feed", batch.lease_id.unwrap()).await.unwrap();
    }
    let error = client.lease_live("nobody", "w", 100).await.err().expect("an unknown group is refused");
    assert_eq!(error.code(), Some("group-not-found"));
    // A group's live stream does not end when the server shuts down: the worker hangs up first.
    drop(live);
    server.stop().await;
}

/// The client's wire types say what the server's say: defaults included.
#[test]
fn group_specs_match_the_servers() {
    let server_side = skald_groups::GroupSpec {
        start: skald_groups::StartFrom::Position(7),
        push: Some(skald_groups::PushSpec::new("http://127.0.0.1:1/push")),
        ..skald_groups::GroupSpec::new("g")
    };
    let client_side = GroupSpec {
        start: StartFrom::Position(7),
        push: Some(PushSpec::new("http://127.0.0.1:1/push")),
        ..GroupSpec::new("g")
    };
    assert_eq!(serde_json::to_value(&client_side).unwrap(), serde_json::to_value(&server_side).unwrap());
    let minimal: GroupSpec = serde_json::from_value(json!({"name": "g"})).unwrap();
    assert_eq!(
        serde_json::to_value(minimal).unwrap(),
        serde_json::to_value(skald_groups::GroupSpec::new("g")).unwrap()
    );
    assert!(serde_json::from_value::<GroupSpec>(json!({"name": "g", "max_attemps": 1})).is_err(), "typos are refused");
}
