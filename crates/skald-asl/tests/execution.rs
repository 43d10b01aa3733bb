//! The driver-facing contract: replay and snapshots, pending commands after recovery, stale and
//! out-of-order inputs, task tokens, payload limits, Map concurrency, cancellation.

mod common;

use common::{context, Driver, T0};
use serde_json::{json, Value};
use skald_asl::{
    replay, Command, Definition, EventDetails, Execution, ExecutionStatus, HandleError, Input, ReplayError, Timestamp,
};

fn def(v: Value) -> Definition {
    Definition::from_value(&v).unwrap_or_else(|e| panic!("{e:?}"))
}

fn two_tasks() -> Definition {
    def(json!({"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "a", "TimeoutSeconds": 60, "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 5, "Next": "B"},
        "B": {"Type": "Task", "Resource": "b", "End": true}}}))
}

#[test]
fn replay_of_every_prefix_matches_the_state_at_that_point() {
    let d0 = two_tasks();
    let (mut exec, step) = Execution::start(&d0, json!({"x": 1}), context(3));
    let mut history = step.events;
    let mut snapshots = vec![(history.len(), exec.clone())];
    let task = |exec: &Execution| match &exec.pending_commands()[0] {
        Command::ScheduleTask { task_id, .. } => task_id.clone(),
        other => panic!("{other:?}"),
    };
    let mut now = Timestamp::from_millis(T0 + 1000);
    let step = exec.handle(Input::TaskSucceeded { task_id: task(&exec), output: json!({"a": 1}) }, now).unwrap();
    history.extend(step.events);
    snapshots.push((history.len(), exec.clone()));
    let timer = exec
        .pending_commands()
        .into_iter()
        .find_map(|c| match c {
            Command::StartTimer { timer_id, .. } => Some(timer_id),
            _ => None,
        })
        .unwrap();
    now = now.plus_millis(5000);
    let step = exec.handle(Input::TimerFired { timer_id: timer }, now).unwrap();
    history.extend(step.events);
    snapshots.push((history.len(), exec.clone()));
    let step = exec.handle(Input::TaskSucceeded { task_id: task(&exec), output: json!("done") }, now).unwrap();
    history.extend(step.events);
    snapshots.push((history.len(), exec.clone()));
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    for (len, state) in snapshots {
        let rebuilt = replay(&d0, &history[..len]).unwrap();
        assert_eq!(rebuilt, state, "replay of the first {len} events");
        assert_eq!(rebuilt.pending_commands(), state.pending_commands());
    }
}

#[test]
fn pending_commands_after_recovery() {
    let d0 = two_tasks();
    let d = Driver::start(&d0, json!({}));
    let rebuilt = replay(&d0, &d.history).unwrap();
    let pending = rebuilt.pending_commands();
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert!(matches!(&pending[0], Command::ScheduleTask { resource, attempt: 1, idempotency_key, .. }
        if resource == "a" && idempotency_key == "arn:skald:exec:test-1:task-1"));
    assert!(
        matches!(&pending[1], Command::StartTimer { fire_at, .. } if *fire_at == Timestamp::from_millis(T0 + 60_000))
    );
}

#[test]
fn replay_detects_a_changed_definition_and_bad_histories() {
    let d = Driver::start(&two_tasks(), json!({}));
    let other = def(json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "other", "End": true}}}));
    assert!(matches!(replay(&other, &d.history), Err(ReplayError::Diverged { .. })));
    assert!(matches!(replay(&two_tasks(), &[]), Err(ReplayError::NoStart)));
    assert!(matches!(replay(&two_tasks(), &d.history[1..]), Err(ReplayError::NoStart)));
    let mut bad = d.history.clone();
    bad.push(bad[1].clone());
    assert!(matches!(replay(&two_tasks(), &bad), Err(ReplayError::NotAnInput { .. })));
}

#[test]
fn stale_inputs_are_ignored_and_misuse_is_an_error() {
    let mut d = Driver::start(&two_tasks(), json!({}));
    let step = d.exec.handle(Input::TaskSucceeded { task_id: "task-99".into(), output: json!(1) }, d.now).unwrap();
    assert!(step.events.is_empty() && step.commands.is_empty());
    let step = d.exec.handle(Input::TimerFired { timer_id: "timer-99".into() }, d.now).unwrap();
    assert!(step.events.is_empty());
    let step = d.exec.handle(Input::TaskHeartbeat { task_id: "task-1".into() }, d.now).unwrap();
    assert!(step.events.is_empty(), "no HeartbeatSeconds: nothing to record");
    let err =
        d.exec.handle(Input::TimerFired { timer_id: "timer-1".into() }, Timestamp::from_millis(T0 - 1)).unwrap_err();
    assert!(matches!(err, HandleError::TimeWentBackwards { .. }));
    d.send(Input::Stop { error: "Stopped".into(), cause: "by test".into() });
    assert_eq!(d.exec.status(), ExecutionStatus::Aborted);
    let err = d.exec.handle(Input::TimerFired { timer_id: "timer-1".into() }, d.now).unwrap_err();
    assert!(matches!(err, HandleError::Finished { .. }));
    assert!(matches!(
        d.exec.pending_commands()[0],
        Command::CompleteExecution { status: ExecutionStatus::Aborted, .. }
    ));
    assert!(d.timers.is_empty() && d.tasks.is_empty(), "stop cancels every task and timer");
    d.check_replay();
}

#[test]
fn task_started_is_recorded_once() {
    let mut d = Driver::start(&two_tasks(), json!({}));
    let task = d.task(None).unwrap();
    d.send(Input::TaskStarted { task_id: task.id.clone() });
    let step = d.exec.handle(Input::TaskStarted { task_id: task.id.clone() }, d.now).unwrap();
    assert!(step.events.is_empty(), "a second start is ignored");
    d.succeed(None, json!({}));
    let types = d.event_types();
    assert_eq!(
        &types[..6],
        ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited"]
    );
    d.check_replay();
}

#[test]
fn wait_for_task_token() {
    let d0 = def(json!({"StartAt": "Approve", "States": {"Approve": {"Type": "Task",
        "Resource": "activity:approvals.waitForTaskToken",
        "Parameters": {"token.$": "$$.Task.Token", "order.$": "$.order"}, "End": true}}}));
    let mut d = Driver::start(&d0, json!({"order": 5}));
    let task = d.task(None).unwrap();
    let token = task.token.clone().expect("a token for .waitForTaskToken");
    assert_eq!(token.len(), 32);
    assert_eq!(task.input, json!({"token": token, "order": 5}));
    assert_eq!(d.exec.task_for_token(&token), Some(task.id.as_str()));
    assert_eq!(d.exec.task_for_token("nope"), None);
    let other = Driver::start_seeded(&d0, json!({"order": 5}), 8);
    assert_ne!(other.task(None).unwrap().token, Some(token), "tokens come from the seed");
    d.succeed(None, json!("approved"));
    assert_eq!(d.exec.output(), Some(&json!("approved")));
    let plain = def(json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true}}}));
    assert_eq!(Driver::start(&plain, json!({})).task(None).unwrap().token, None);
}

#[test]
fn oversized_payloads_fail_with_data_limit_exceeded_which_nothing_catches() {
    let d0 = def(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "r", "Retry": [{"ErrorEquals": ["States.ALL"]}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}], "End": true},
        "H": {"Type": "Pass", "End": true}}}));
    let mut d = Driver::start(&d0, json!({}));
    d.succeed(None, json!("x".repeat(300 * 1024)));
    assert_eq!(d.exec.status(), ExecutionStatus::Failed);
    assert_eq!(d.exec.error().unwrap().error, "States.DataLimitExceeded");
    let big = Driver::start(&d0, json!({"blob": "y".repeat(300 * 1024)}));
    assert_eq!(big.exec.error().unwrap().error, "States.DataLimitExceeded");
    assert!(big.tasks.is_empty());
}

#[test]
fn map_respects_max_concurrency() {
    let d0 = def(json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 2,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "t", "End": true}}}, "End": true}}}));
    let mut d = Driver::start(&d0, json!([10, 20, 30, 40, 50]));
    let mut peak = 0;
    let mut order = Vec::new();
    while d.running() {
        peak = peak.max(d.tasks.len());
        // Answer the newest first, to show results keep item order regardless.
        let newest = d.tasks.values().last().cloned().unwrap();
        order.push(newest.input.clone());
        d.tasks.retain(|_, t| t.id != newest.id);
        d.send(Input::TaskSucceeded { task_id: newest.id, output: json!(newest.input.as_i64().unwrap() + 1) });
    }
    assert_eq!(peak, 2);
    assert_eq!(d.exec.output(), Some(&json!([11, 21, 31, 41, 51])));
    d.check_replay();
    // Unbounded (0) is bounded by the interpreter's limit.
    let d0 = def(
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrencyPath": "$.mc", "ItemsPath": "$.xs",
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "t", "End": true}}}, "End": true}}}),
    );
    let xs: Vec<u32> = (0..100).collect();
    let d = Driver::start(&d0, json!({"mc": 0, "xs": xs}));
    assert_eq!(d.tasks.len(), skald_asl::limits::MAP_CONCURRENCY_MAX);
}

#[test]
fn a_failed_branch_cancels_its_siblings() {
    let d0 = def(json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "a", "TimeoutSeconds": 100, "End": true}}},
        {"StartAt": "B", "States": {"B": {"Type": "Task", "Resource": "b", "End": true}}},
        {"StartAt": "C", "States": {"C": {"Type": "Wait", "Seconds": 1000, "End": true}}}
    ], "End": true}}}));
    let mut d = Driver::start(&d0, json!({}));
    assert_eq!(d.tasks.len(), 2);
    assert_eq!(d.timers.len(), 2);
    let states: Vec<String> = d.exec.current_states().into_iter().map(|(_, s)| s).collect();
    assert_eq!(states, ["P", "A", "B", "C"]);
    d.fail(Some("b"), "B.Broke", "");
    assert_eq!(d.exec.error().unwrap().error, "B.Broke");
    assert!(d.tasks.is_empty(), "task a was cancelled");
    assert!(d.timers.is_empty(), "the timeout and the wait were cancelled");
    assert!(d.cancelled_tasks.contains(&"task-1".to_string()));
    let types = d.event_types();
    assert_eq!(&types[types.len() - 2..], ["ParallelStateFailed", "ExecutionFailed"]);
    d.check_replay();
}

#[test]
fn history_events_link_to_their_predecessor_on_the_same_thread() {
    let d0 = def(json!({"StartAt": "M", "States": {"M": {"Type": "Map",
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "t", "End": true}}}, "End": true}}}));
    let mut d = Driver::start(&d0, json!([1, 2]));
    d.succeed(None, json!(1));
    d.succeed(None, json!(2));
    let by_id = |id: u64| d.history.iter().find(|e| e.id == id).unwrap();
    for e in &d.history[1..] {
        let prev = by_id(e.previous_event_id);
        let same_thread = prev.thread == e.thread;
        let spawned_by_parent = matches!(prev.details, EventDetails::MapIterationStarted { .. });
        assert!(same_thread || spawned_by_parent, "{e:?} follows {prev:?}");
    }
    let started: Vec<u32> = d.history.iter().filter(|e| e.event_type() == "TaskScheduled").map(|e| e.thread).collect();
    assert_eq!(started.len(), 2);
    assert_ne!(started[0], started[1], "each iteration is its own thread");
    // The wire form: snake_case fields, a type tag, RFC 3339 time.
    let wire = serde_json::to_value(&d.history[0]).unwrap();
    assert_eq!(wire["type"], "ExecutionStarted");
    assert_eq!(wire["timestamp"], "2023-11-14T22:13:20.000Z");
    assert_eq!(wire["previous_event_id"], 0);
}

#[test]
fn stop_during_a_map_records_only_the_abort() {
    let d0 = def(json!({"StartAt": "M", "States": {"M": {"Type": "Map",
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "t", "End": true}}}, "End": true}}}));
    let mut d = Driver::start(&d0, json!([1, 2, 3]));
    d.send(Input::Stop { error: "Stop".into(), cause: "".into() });
    assert_eq!(d.event_types().last().unwrap(), "ExecutionAborted");
    assert_eq!(d.cancelled_tasks.len(), 3);
    d.check_replay();
}
