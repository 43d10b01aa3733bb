//! The travel-booking saga of `examples/travel-saga.asl.json`: the success path, a failure at each
//! step compensating in reverse order, and a compensation that fails once and is retried.

mod common;

use common::Driver;
use serde_json::{json, Value};
use skald_asl::{Definition, ExecutionStatus};

const FLIGHT: &str = "http://flights/reservations";
const CAR: &str = "http://cars/reservations";
const PAY: &str = "http://payments/charges";
const UNDO_PAY: &str = "http://payments/refunds";
const UNDO_CAR: &str = "http://cars/cancellations";
const UNDO_FLIGHT: &str = "http://flights/cancellations";

fn saga() -> Definition {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/travel-saga.asl.json")).unwrap();
    Definition::parse(&text).unwrap_or_else(|e| panic!("{e:?}"))
}

fn input() -> Value {
    json!({"trip_id": "t-42", "flight": "SK 1429", "car": "compact", "amount": 420})
}

fn resources(d: &Driver) -> Vec<&str> {
    d.scheduled.iter().map(|t| t.resource.as_str()).collect()
}

/// Answers the next outstanding task: `fail_at` fails, everything else succeeds.
fn drive(d: &mut Driver, fail_at: Option<&str>) {
    while d.running() {
        let Some(task) = d.task(None) else {
            assert!(d.fire_next_timer(), "stuck");
            continue;
        };
        if Some(task.resource.as_str()) == fail_at {
            d.fail(None, "Service.Unavailable", &format!("{} is down", task.resource));
        } else {
            let n = d.scheduled.len();
            d.succeed(None, json!({"reservation_id": format!("r-{n}"), "charge_id": format!("c-{n}")}));
        }
    }
}

#[test]
fn books_the_trip() {
    let mut d = Driver::start(&saga(), input());
    drive(&mut d, None);
    assert_eq!(d.exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(resources(&d), [FLIGHT, CAR, PAY]);
    assert_eq!(
        d.exec.output(),
        Some(&json!({
            "trip_id": "t-42", "flight": "SK 1429", "car": "compact", "amount": 420,
            "flight_reservation": {"reservation_id": "r-1"},
            "car_reservation": {"reservation_id": "r-2"},
            "payment": {"charge_id": "c-3"}
        }))
    );
    assert_eq!(d.scheduled[2].input, json!({"trip_id": "t-42", "amount": 420, "idempotency": "test-1-payment"}));
    d.check_replay();
}

#[test]
fn a_failure_at_each_step_compensates_in_reverse() {
    let cases = [
        (FLIGHT, vec![FLIGHT, UNDO_FLIGHT]),
        (CAR, vec![FLIGHT, CAR, UNDO_CAR, UNDO_FLIGHT]),
        (PAY, vec![FLIGHT, CAR, PAY, UNDO_PAY, UNDO_CAR, UNDO_FLIGHT]),
    ];
    for (failing, expected) in cases {
        let mut d = Driver::start(&saga(), input());
        drive(&mut d, Some(failing));
        assert_eq!(d.exec.status(), ExecutionStatus::Failed, "{failing}");
        assert_eq!(resources(&d), expected, "{failing}");
        let err = d.exec.error().unwrap();
        assert_eq!(err.error, "BookingFailed");
        assert_eq!(err.cause, format!("trip t-42 was not booked: {failing} is down"));
        for undo in
            d.scheduled.iter().filter(|t| t.resource.contains("refunds") || t.resource.contains("cancellations"))
        {
            assert_eq!(undo.input, json!({"trip_id": "t-42"}));
        }
        assert_eq!(d.event_types().last().unwrap(), "ExecutionFailed");
        d.check_replay();
    }
}

#[test]
fn a_failing_compensation_is_retried() {
    let mut d = Driver::start(&saga(), input());
    d.succeed(Some(FLIGHT), json!({"reservation_id": "f-1"}));
    d.succeed(Some(CAR), json!({"reservation_id": "c-1"}));
    d.fail(Some(PAY), "Payment.Declined", "card declined");
    d.succeed(Some(UNDO_PAY), json!({}));
    d.fail(Some(UNDO_CAR), "Service.Unavailable", "cars down");
    assert!(d.task(None).is_none(), "waiting for the retry timer");
    assert_eq!(
        d.timers.values().min().map(|at| at.millis() - d.now.millis()),
        Some(1000),
        "the retry fires before the execution timeout"
    );
    d.advance(1000);
    d.succeed(Some(UNDO_CAR), json!({}));
    d.succeed(Some(UNDO_FLIGHT), json!({}));
    assert_eq!(resources(&d), [FLIGHT, CAR, PAY, UNDO_PAY, UNDO_CAR, UNDO_CAR, UNDO_FLIGHT]);
    let car_attempts: Vec<u32> = d.scheduled.iter().filter(|t| t.resource == UNDO_CAR).map(|t| t.attempt).collect();
    assert_eq!(car_attempts, [1, 2]);
    assert_eq!(d.exec.error().unwrap().cause, "trip t-42 was not booked: card declined");
    let types = d.event_types();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskFailed",
            "TaskStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskFailed",
            "RetryScheduled",
            "TimerFired",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited",
            "FailStateEntered",
            "ExecutionFailed"
        ]
    );
    d.check_replay();
}

#[test]
fn a_timed_out_reservation_is_retried_then_compensated() {
    let mut d = Driver::start(&saga(), input());
    // ReserveFlight times out three times (two retries), then the saga compensates.
    for attempt in 0..3 {
        assert_eq!(d.task(None).unwrap().resource, FLIGHT);
        d.fire_next_timer(); // the 30 s timeout
        if attempt < 2 {
            d.fire_next_timer(); // the retry delay
        }
    }
    assert_eq!(d.task(None).unwrap().resource, UNDO_FLIGHT);
    d.succeed(None, json!({}));
    assert_eq!(d.exec.error().unwrap().error, "BookingFailed");
    assert!(d.exec.error().unwrap().cause.contains("did not finish in time"));
    d.check_replay();
}
