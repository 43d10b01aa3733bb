//! The travel saga end to end on every backend, against the HTTP services of `skald_examples::travel`
//! on loopback: success, a failure at each step with its compensations, a compensation that fails
//! once and is retried, and the history and idempotency promises around it.

mod common;

use common::*;
use serde_json::json;
use skald_core::Direction;
use skald_saga::{ExecutionStatus, ListExecutions, StartExecution};
use skald_testkit::TestStore;

skald_testkit::backend_tests!(crate;
    travel_saga_succeeds,
    travel_saga_flight_failure_undoes_the_flight,
    travel_saga_car_failure_undoes_car_then_flight,
    travel_saga_payment_declined_undoes_everything_in_reverse,
    travel_saga_compensation_that_fails_is_retried,
    history_is_linked_and_paged,
    start_is_idempotent_by_name,
    concurrent_sagas_and_listing_by_status,
);

async fn travel_saga_succeeds(kit: TestStore) {
    let w = world(&kit).await;
    let done = w.run("ok-1", trip("ok-1", "SK 1429", "compact", 420)).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    let output = done.output.unwrap();
    assert!(output["flight_reservation"]["reservation_id"].as_str().unwrap().starts_with("F-"));
    assert!(output["car_reservation"]["reservation_id"].as_str().unwrap().starts_with("C-"));
    assert!(output["payment"]["charge_id"].as_str().unwrap().starts_with("P-"));
    check_saga_effects(&w.services, "ok-1", ExecutionStatus::Succeeded);
    // The Idempotency-Key is `<execution id>:<task id>`.
    let ledger = w.services.lock().unwrap();
    assert!(ledger.effects.iter().all(|e| e.key.starts_with("travel.ok-1:task-")), "{:?}", ledger.effects);
}

async fn travel_saga_flight_failure_undoes_the_flight(kit: TestStore) {
    let w = world(&kit).await;
    let done = w.run("f-1", trip("f-1", "FAIL", "compact", 420)).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(done.error.as_deref(), Some("BookingFailed"));
    assert!(done.cause.unwrap().contains("no seat"), "the cause carries the service's cause");
    assert_eq!(w.effects("f-1"), ["flights/cancellations"]);
    check_saga_effects(&w.services, "f-1", ExecutionStatus::Failed);
}

async fn travel_saga_car_failure_undoes_car_then_flight(kit: TestStore) {
    let w = world(&kit).await;
    let done = w.run("c-1", trip("c-1", "SK 1", "FAIL", 420)).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert_eq!(w.effects("c-1"), ["flights/reservations", "cars/cancellations", "flights/cancellations"]);
    check_saga_effects(&w.services, "c-1", ExecutionStatus::Failed);
}

async fn travel_saga_payment_declined_undoes_everything_in_reverse(kit: TestStore) {
    let w = world(&kit).await;
    let done = w.run("p-1", trip("p-1", "SK 1", "compact", 5000)).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    assert!(done.cause.unwrap().contains("card declined"));
    assert_eq!(
        w.effects("p-1"),
        [
            "flights/reservations",
            "cars/reservations",
            "payments/refunds",
            "cars/cancellations",
            "flights/cancellations"
        ]
    );
    check_saga_effects(&w.services, "p-1", ExecutionStatus::Failed);
    // Catch matched the service's own error name.
    let history = w.saga.history(&done.execution_id, None, 1000, Direction::Forward).await.unwrap();
    let declined = history
        .events
        .iter()
        .any(|e| matches!(&e.details, skald_asl::EventDetails::TaskFailed { error, .. } if error == "PaymentDeclined"));
    assert!(declined);
}

async fn travel_saga_compensation_that_fails_is_retried(kit: TestStore) {
    let w = world(&kit).await;
    let done = w.run("flaky-1", trip("flaky-1", "SK 1", "compact", 5000)).await;
    assert_eq!(done.status, ExecutionStatus::Failed);
    check_saga_effects(&w.services, "flaky-1", ExecutionStatus::Failed);
    let history = w.saga.history(&done.execution_id, None, 1000, Direction::Forward).await.unwrap();
    let retries: Vec<_> = history
        .events
        .iter()
        .filter_map(|e| match &e.details {
            skald_asl::EventDetails::RetryScheduled { name, error, .. } => Some((name.clone(), error.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(retries, [("CancelCar".to_owned(), "ServiceUnavailable".to_owned())]);
    // Two attempts of the car cancellation, with two keys; one effect.
    let ledger = w.services.lock().unwrap();
    let keys: Vec<_> = ledger.requests.keys().filter(|k| k.starts_with("travel.flaky-1:")).collect();
    assert_eq!(keys.len(), 7, "3 bookings tried + refund + 2 car cancellations + flight cancellation: {keys:?}");
}

async fn history_is_linked_and_paged(kit: TestStore) {
    let w = world(&kit).await;
    let done = w.run("h-1", trip("h-1", "SK 1", "compact", 5000)).await;
    let all = w.saga.history(&done.execution_id, None, 1000, Direction::Forward).await.unwrap();
    assert_eq!(all.events.len() as u64, done.history_length);
    for (i, e) in all.events.iter().enumerate() {
        assert_eq!(e.id, i as u64 + 1);
        assert!(e.previous_event_id < e.id);
    }
    assert_eq!(all.events[0].event_type(), "ExecutionStarted");
    assert_eq!(all.events.last().unwrap().event_type(), "ExecutionFailed");
    let mut paged = Vec::new();
    let mut from = Some(1);
    while let Some(f) = from {
        let page = w.saga.history(&done.execution_id, Some(f), 4, Direction::Forward).await.unwrap();
        paged.extend(page.events);
        from = page.next;
    }
    assert_eq!(paged, all.events);
    let back = w.saga.history(&done.execution_id, None, 2, Direction::Backward).await.unwrap();
    assert_eq!(back.events[0].id, done.history_length);
    assert_eq!(back.next, Some(done.history_length - 2));
}

async fn start_is_idempotent_by_name(kit: TestStore) {
    let w = world(&kit).await;
    let input = trip("i-1", "SK 1", "compact", 420);
    let first = w.saga.start_execution(StartExecution::new("travel", "i-1", input.clone())).await.unwrap();
    let again = w.saga.start_execution(StartExecution::new("travel", "i-1", input.clone())).await.unwrap();
    assert!(!first.already_started && again.already_started);
    assert_eq!(first.execution_id, again.execution_id);
    assert_eq!(first.start_time, again.start_time);
    let other = w.saga.start_execution(StartExecution::new("travel", "i-1", json!({"trip_id": "x"}))).await;
    assert_eq!(other.unwrap_err().code(), "execution-already-exists");
    let done = w.saga.wait_for_execution(&first.execution_id, WAIT).await.unwrap();
    assert_eq!(done.status, ExecutionStatus::Succeeded);
    assert_eq!(w.effects("i-1").len(), 3, "started once");
}

async fn concurrent_sagas_and_listing_by_status(kit: TestStore) {
    let w = world(&kit).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let saga = w.saga.clone();
        let amount = if i % 4 == 0 { 5000 } else { 100 };
        tasks.push(tokio::spawn(async move {
            let name = format!("m-{i}");
            let s = saga.start_execution(StartExecution::new("travel", &name, trip(&name, "SK", "c", amount))).await;
            saga.wait_for_execution(&s.unwrap().execution_id, WAIT).await.unwrap()
        }));
    }
    for t in tasks {
        let d = t.await.unwrap();
        check_saga_effects(&w.services, &d.name, d.status);
    }
    let failed = w
        .saga
        .list_executions(ListExecutions {
            status: Some(ExecutionStatus::Failed),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failed.executions.len(), 10);
    // Pages of 7 cover all 40 executions once, newest first.
    let mut seen = Vec::new();
    let mut from = None;
    loop {
        let page = w.saga.list_executions(ListExecutions { limit: Some(7), from, ..Default::default() }).await.unwrap();
        assert!(page.executions.len() <= 7);
        seen.extend(page.executions.into_iter().map(|e| e.execution_id));
        match page.next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 40);
    assert_eq!(seen.iter().collect::<std::collections::HashSet<_>>().len(), 40);
    let stats = w.saga.stats();
    assert_eq!(stats.open_executions, 0);
    assert!(stats.transitions > 40 * 4);
}
