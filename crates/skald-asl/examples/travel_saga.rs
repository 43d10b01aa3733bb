//! Runs `travel-saga.asl.json` the way a coordinator would, with an in-memory "log" and a fake
//! clock: the payment fails, the car cancellation fails once and is retried, and the saga ends
//! compensated. Prints the history. `cargo run -p skald-asl --example travel_saga`

use std::collections::BTreeMap;

use serde_json::json;
use skald_asl::{Command, Definition, Execution, Input, StartContext, Step, Timestamp};

fn main() {
    let text = include_str!("travel-saga.asl.json");
    let definition = match Definition::parse(text) {
        Ok(d) => d,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            std::process::exit(1);
        }
    };
    let mut now = Timestamp::parse_rfc3339("2026-01-01T09:00:00Z").expect("a valid timestamp");
    let context = StartContext {
        execution_id: "exec-trip-42".into(),
        name: "trip-42".into(),
        state_machine_id: "sm-travel".into(),
        state_machine_name: "travel".into(),
        start_time: now,
        seed: 2026,
    };
    let (mut exec, step) = Execution::start(
        &definition,
        json!({"trip_id": "t-42", "flight": "SK 1429", "car": "compact", "amount": 420}),
        context,
    );
    let mut log = Vec::new();
    let mut tasks = Vec::new();
    let mut timers = BTreeMap::new();
    let mut car_cancel_failures = 0;
    let absorb = |step: Step, log: &mut Vec<_>, tasks: &mut Vec<_>, timers: &mut BTreeMap<String, Timestamp>| {
        log.extend(step.events); // 1. append history first
        for command in step.commands {
            match command {
                Command::ScheduleTask { task_id, resource, .. } => tasks.push((task_id, resource)),
                Command::StartTimer { timer_id, fire_at } => {
                    timers.insert(timer_id, fire_at);
                }
                Command::CancelTimer { timer_id } => {
                    timers.remove(&timer_id);
                }
                Command::CancelTask { task_id } => tasks.retain(|(id, _)| *id != task_id),
                Command::CompleteExecution { status, error, .. } => println!("completed: {status} {error:?}"),
            }
        }
    };
    absorb(step, &mut log, &mut tasks, &mut timers);
    while exec.status() == skald_asl::ExecutionStatus::Running {
        let input = if let Some((task_id, resource)) = tasks.first().cloned() {
            tasks.remove(0);
            now = now.plus_millis(250);
            match resource.as_str() {
                "http://payments/charges" => {
                    Input::TaskFailed { task_id, error: "Payment.Declined".into(), cause: "card declined".into() }
                }
                "http://cars/cancellations" if car_cancel_failures == 0 => {
                    car_cancel_failures += 1;
                    Input::TaskFailed { task_id, error: "Service.Unavailable".into(), cause: "try later".into() }
                }
                _ => Input::TaskSucceeded { task_id, output: json!({"reservation_id": "r-1", "charge_id": "c-1"}) },
            }
        } else {
            let Some((timer_id, at)) = timers.iter().min_by_key(|(_, at)| **at).map(|(i, a)| (i.clone(), *a)) else {
                break;
            };
            timers.remove(&timer_id);
            now = now.max(at);
            Input::TimerFired { timer_id }
        };
        match exec.handle(input, now) {
            Ok(step) => absorb(step, &mut log, &mut tasks, &mut timers),
            Err(e) => {
                eprintln!("{e}");
                break;
            }
        }
    }
    for event in &log {
        println!("{:>3} <-{:>3} {} {}", event.id, event.previous_event_id, event.timestamp, event.event_type());
    }
    let rebuilt = skald_asl::replay(&definition, &log).expect("the history replays");
    assert_eq!(rebuilt, exec);
    println!("replayed {} events into the same state", log.len());
}
