//! Deterministic simulation: seeded random drivers answer tasks, fail them, send heartbeats, fire
//! timers late, send stale inputs and stop executions, against a definition that uses most of the
//! language. After every input the driver's view of outstanding tasks and timers must equal
//! `pending_commands()`, and replaying the history must rebuild the execution exactly. A failing
//! seed reproduces the run.

mod common;

use std::collections::BTreeSet;

use common::Driver;
use serde_json::{json, Value};
use skald_asl::rng::Rng;
use skald_asl::{Command, Definition, Input};

fn definition() -> Definition {
    Definition::from_value(&json!({
        "TimeoutSeconds": 600,
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Assign": {"attempts": 0}, "Parameters": {"items.$": "$.items", "id.$": "States.UUID()"}, "Next": "Fan"},
            "Fan": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "Each", "States": {"Each": {
                        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "ToleratedFailureCount": 1,
                        "ItemSelector": {"item.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
                        "ItemProcessor": {"StartAt": "Work", "States": {
                            "Work": {"Type": "Task", "Resource": "work", "TimeoutSeconds": 20, "HeartbeatSeconds": 5,
                                     "Retry": [{"ErrorEquals": ["Transient", "States.HeartbeatTimeout"], "IntervalSeconds": 1, "MaxAttempts": 2, "JitterStrategy": "FULL"}],
                                     "End": true}}},
                        "End": true}}},
                    {"StartAt": "Pause", "States": {
                        "Pause": {"Type": "Wait", "Seconds": 3, "Next": "Check"},
                        "Check": {"Type": "Task", "Resource": "check", "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Fallback"}], "End": true},
                        "Fallback": {"Type": "Pass", "Result": "fallback", "End": true}}}
                ],
                "Retry": [{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "MaxAttempts": 1}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Compensate"}],
                "Next": "Decide"
            },
            "Decide": {"Type": "Choice", "Choices": [{"Variable": "$[1]", "StringEquals": "fallback", "Next": "Done"}], "Default": "Finish"},
            "Finish": {"Type": "Task", "Resource": "finish", "End": true},
            "Compensate": {"Type": "Task", "Resource": "undo", "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}], "Next": "Failed"},
            "Failed": {"Type": "Fail", "Error": "Saga.Failed", "CausePath": "$.error.Cause"},
            "Done": {"Type": "Succeed"}
        }
    }))
    .unwrap()
}

fn check_views(d: &Driver) {
    let mut tasks = BTreeSet::new();
    let mut timers = BTreeSet::new();
    for c in d.exec.pending_commands() {
        match c {
            Command::ScheduleTask { task_id, .. } => {
                tasks.insert(task_id);
            }
            Command::StartTimer { timer_id, fire_at } => {
                timers.insert((timer_id, fire_at));
            }
            Command::CompleteExecution { .. } => {}
            other => panic!("not a pending command: {other:?}"),
        }
    }
    let driver_tasks: BTreeSet<String> = d.tasks.values().map(|t| t.id.clone()).collect();
    let driver_timers: BTreeSet<_> = d.timers.iter().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(tasks, driver_tasks, "outstanding tasks");
    assert_eq!(timers, driver_timers, "outstanding timers");
}

fn run(seed: u64) -> String {
    let def = definition();
    let mut rng = Rng::new(seed);
    let n_items = rng.range_inclusive(0, 5) as usize;
    let items: Vec<Value> = (0..n_items).map(|i| json!(i)).collect();
    let mut d = Driver::start_seeded(&def, json!({"items": items}), seed);
    check_views(&d);
    let mut steps = 0;
    while d.running() {
        steps += 1;
        assert!(steps < 2_000, "seed {seed}: no end");
        d.now = d.now.plus_millis(rng.range_inclusive(0, 2_500) as u64);
        let tasks: Vec<_> = d.tasks.values().cloned().collect();
        let roll = rng.range_inclusive(0, 99);
        if !tasks.is_empty() && roll < 45 {
            let t = &tasks[rng.range_inclusive(0, tasks.len() as i64 - 1) as usize];
            d.tasks.retain(|_, x| x.id != t.id);
            d.send(Input::TaskSucceeded { task_id: t.id.clone(), output: json!({"ok": t.input}) });
        } else if !tasks.is_empty() && roll < 65 {
            let t = &tasks[rng.range_inclusive(0, tasks.len() as i64 - 1) as usize];
            let error = ["Transient", "Fatal", "States.Timeout"][rng.range_inclusive(0, 2) as usize];
            d.tasks.retain(|_, x| x.id != t.id);
            d.send(Input::TaskFailed { task_id: t.id.clone(), error: error.into(), cause: format!("seed {seed}") });
        } else if !tasks.is_empty() && roll < 75 {
            let t = &tasks[rng.range_inclusive(0, tasks.len() as i64 - 1) as usize];
            d.send(Input::TaskHeartbeat { task_id: t.id.clone() });
        } else if !tasks.is_empty() && roll < 78 {
            let t = &tasks[rng.range_inclusive(0, tasks.len() as i64 - 1) as usize];
            d.send(Input::TaskStarted { task_id: t.id.clone() });
        } else if roll < 80 {
            // Stale inputs change nothing.
            let before = d.exec.clone();
            let step =
                d.exec.handle(Input::TaskSucceeded { task_id: "task-0".into(), output: json!(null) }, d.now).unwrap();
            assert!(step.events.is_empty() && step.commands.is_empty());
            let step = d.exec.handle(Input::TimerFired { timer_id: "timer-0".into() }, d.now).unwrap();
            assert!(step.events.is_empty());
            assert!(before == d.exec, "seed {seed}: a stale input changed the execution");
        } else if roll == 99 {
            d.send(Input::Stop { error: "Sim.Stop".into(), cause: format!("seed {seed}") });
        } else if !d.fire_next_timer() && tasks.is_empty() {
            panic!("seed {seed}: stuck with nothing outstanding; events {:?}", d.event_types());
        }
        check_views(&d);
        if steps % 7 == 0 {
            d.check_replay();
        }
    }
    check_views(&d);
    assert!(d.tasks.is_empty() && d.timers.is_empty(), "seed {seed}: work outlived the execution");
    d.check_replay();
    d.exec.status().to_string()
}

#[test]
fn seeded_simulations_stay_consistent_and_replay() {
    let mut outcomes = std::collections::BTreeMap::new();
    for seed in 0..300 {
        *outcomes.entry(run(seed)).or_insert(0) += 1;
    }
    println!("outcomes: {outcomes:?}");
    // The mix of inputs reaches every ending.
    for status in ["SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"] {
        assert!(outcomes.contains_key(status), "{status} never reached: {outcomes:?}");
    }
}
