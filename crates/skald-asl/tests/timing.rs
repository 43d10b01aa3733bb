//! Retry, timeout and heartbeat timing with a controllable clock: every timer command carries an
//! absolute fire time computed from the time of the input that caused it.

mod common;

use common::{Driver, T0};
use serde_json::{json, Value};
use skald_asl::{Command, Definition, EventDetails, ExecutionStatus, Input, Timestamp};

fn def(v: Value) -> Definition {
    Definition::from_value(&v).unwrap_or_else(|e| panic!("{e:?}"))
}

/// The delays (ms) of the retries scheduled so far, from the RetryScheduled events.
fn retry_delays(d: &Driver) -> Vec<u64> {
    d.history
        .iter()
        .filter_map(|e| match &e.details {
            EventDetails::RetryScheduled { fire_at, .. } => Some(fire_at.millis() - e.timestamp.millis()),
            _ => None,
        })
        .collect()
}

#[test]
fn exponential_backoff_capped_by_max_delay() {
    let d0 = def(json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "Retry": [
        {"ErrorEquals": ["E"], "IntervalSeconds": 3, "BackoffRate": 2.0, "MaxAttempts": 4, "MaxDelaySeconds": 10}
    ], "End": true}}}));
    let mut d = Driver::start(&d0, json!({}));
    for _ in 0..5 {
        d.advance(500); // the task takes half a second to fail
        d.fail(None, "E", "");
        d.fire_next_timer();
    }
    assert_eq!(retry_delays(&d), [3000, 6000, 10_000, 10_000]);
    assert_eq!(d.exec.status(), ExecutionStatus::Failed);
    let attempts: Vec<u32> = d.scheduled.iter().map(|t| t.attempt).collect();
    assert_eq!(attempts, [1, 2, 3, 4, 5]);
    // Each attempt was scheduled exactly when its retry timer fired.
    let starts: Vec<u64> = d.scheduled.iter().map(|t| t.at.millis() - T0).collect();
    assert_eq!(starts, [0, 3500, 10_000, 20_500, 31_000]);
    d.check_replay();
}

#[test]
fn default_retry_is_one_second_doubling_three_times() {
    let d0 = def(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "Retry": [{"ErrorEquals": ["States.ALL"]}], "End": true}}}),
    );
    let mut d = Driver::start(&d0, json!({}));
    for _ in 0..4 {
        d.fail(None, "E", "");
        d.fire_next_timer();
    }
    assert_eq!(retry_delays(&d), [1000, 2000, 4000]);
    assert_eq!(d.exec.status(), ExecutionStatus::Failed);
}

#[test]
fn full_jitter_is_seeded_and_bounded() {
    let d0 = def(json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "Retry": [
        {"ErrorEquals": ["E"], "IntervalSeconds": 10, "BackoffRate": 1.5, "MaxAttempts": 6, "JitterStrategy": "FULL"}
    ], "End": true}}}));
    let run = |seed| {
        let mut d = Driver::start_seeded(&d0, json!({}), seed);
        for _ in 0..6 {
            d.fail(None, "E", "");
            d.fire_next_timer();
        }
        d.check_replay();
        retry_delays(&d)
    };
    let a = run(1);
    assert_eq!(a, run(1), "same seed, same jitter");
    assert_ne!(a, run(2), "another seed, other jitter");
    for (n, delay) in a.iter().enumerate() {
        let cap = (10_000.0 * 1.5f64.powi(n as i32)).round() as u64;
        assert!((0..=cap).contains(delay), "retry {n}: {delay} not in [0, {cap}]");
    }
}

#[test]
fn task_timeout_raises_states_timeout() {
    let d0 = def(json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "r", "TimeoutSeconds": 10,
              "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"}, {"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}], "End": true},
        "Wrong": {"Type": "Fail"},
        "TimedOut": {"Type": "Pass", "End": true}}}));
    let mut d = Driver::start(&d0, json!({}));
    assert_eq!(d.timer_log[0].2, Timestamp::from_millis(T0 + 10_000));
    let task = d.task(None).unwrap();
    d.advance(9_999);
    assert!(d.running());
    d.advance(1);
    assert_eq!(d.exec.output(), Some(&json!({"Error": "States.Timeout", "Cause": "the task did not finish in time"})));
    assert!(d.cancelled_tasks.contains(&task.id), "a timed-out task is cancelled");
    let types = d.event_types();
    assert_eq!(&types[3..6], ["TimerFired", "TaskTimedOut", "TaskStateExited"]);
    d.check_replay();
}

#[test]
fn late_result_after_timeout_is_ignored() {
    let d0 = def(json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "TimeoutSeconds": 5,
        "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 1}], "End": true}}}));
    let mut d = Driver::start(&d0, json!({}));
    let first = d.task(None).unwrap();
    d.advance(5_000);
    d.advance(1_000);
    assert_eq!(d.scheduled.len(), 2, "retried after the timeout");
    let step = d.exec.handle(Input::TaskSucceeded { task_id: first.id, output: json!("late") }, d.now).unwrap();
    assert!(step.events.is_empty() && step.commands.is_empty());
    d.succeed(None, json!("on time"));
    assert_eq!(d.exec.output(), Some(&json!("on time")));
    d.check_replay();
}

#[test]
fn heartbeats_extend_and_missing_ones_time_out() {
    let d0 = def(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "TimeoutSeconds": 100, "HeartbeatSeconds": 5,
        "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.err", "Next": "H"}], "End": true},
        "H": {"Type": "Pass", "End": true}}}),
    );
    let mut d = Driver::start(&d0, json!({}));
    d.advance(4_000);
    d.heartbeat(None);
    d.advance(4_000);
    d.heartbeat(None);
    d.advance(4_999);
    assert!(d.running(), "each heartbeat restarts the 5 s clock");
    d.advance(1);
    assert_eq!(d.now, Timestamp::from_millis(T0 + 13_000));
    assert_eq!(d.exec.output().unwrap()["err"]["Error"], "States.HeartbeatTimeout");
    let types = d.event_types();
    assert!(types.iter().filter(|t| *t == "TaskHeartbeat").count() == 2, "{types:?}");
    d.check_replay();
}

#[test]
fn timeout_and_heartbeat_from_paths() {
    let d0 = def(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "TimeoutSecondsPath": "$.t", "HeartbeatSecondsPath": "$.h", "End": true}}}),
    );
    let mut d = Driver::start(&d0, json!({"t": 30, "h": 7}));
    let fires: Vec<u64> = d.timer_log.iter().map(|(_, _, at)| at.millis() - T0).collect();
    assert_eq!(fires, [30_000, 7_000]);
    match d.exec.pending_commands().iter().find(|c| matches!(c, Command::ScheduleTask { .. })) {
        Some(Command::ScheduleTask { timeout_seconds, heartbeat_seconds, .. }) => {
            assert_eq!((*timeout_seconds, *heartbeat_seconds), (Some(30), Some(7)));
        }
        other => panic!("{other:?}"),
    }
    d.advance(7_000);
    assert_eq!(d.exec.error().unwrap().error, "States.HeartbeatTimeout");
    let bad = Driver::start(&d0, json!({"t": "soon", "h": 1}));
    assert_eq!(bad.exec.error().unwrap().error, "States.Runtime");
}

#[test]
fn execution_timeout() {
    let d0 = def(json!({"TimeoutSeconds": 60, "StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r",
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 10}], "End": true}}}));
    let mut d = Driver::start(&d0, json!({}));
    d.advance(59_999);
    assert!(d.running());
    let task = d.task(None).unwrap();
    d.advance(1);
    assert_eq!(d.exec.status(), ExecutionStatus::TimedOut);
    assert_eq!(d.exec.error().unwrap().error, "States.Timeout");
    assert!(d.cancelled_tasks.contains(&task.id));
    assert_eq!(d.event_types().last().unwrap(), "ExecutionTimedOut");
    assert!(d.timers.is_empty(), "no timer outlives the execution");
    d.check_replay();
}

#[test]
fn wait_states_fire_at_their_time() {
    let d0 = def(json!({"StartAt": "A", "States": {
        "A": {"Type": "Wait", "Seconds": 5, "Next": "B"},
        "B": {"Type": "Wait", "SecondsPath": "$.s", "Next": "C"},
        "C": {"Type": "Wait", "TimestampPath": "$.until", "Next": "D"},
        "D": {"Type": "Wait", "Timestamp": "2023-11-14T22:20:00Z", "End": true}}}));
    let mut d = Driver::start(&d0, json!({"s": 10, "until": "2023-11-14T22:15:00Z"}));
    while d.fire_next_timer() {}
    let fires: Vec<u64> = d.timer_log.iter().map(|(_, _, at)| at.millis() - T0).collect();
    // T0 is 2023-11-14T22:13:20Z: +5 s, +10 s, 22:15:00 (= +100 s), 22:20:00 (= +400 s).
    assert_eq!(fires, [5_000, 15_000, 100_000, 400_000]);
    assert_eq!(d.exec.status(), ExecutionStatus::Succeeded);
    d.check_replay();
}
