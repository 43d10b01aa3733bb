//! Crash tests on every backend a child process can open (the embedded engine, PostgreSQL). The
//! coordinator runs in a child process (the kit's crash harness); the travel services run in the
//! parent, recording every effect by Idempotency-Key, so they outlive the kills.
//!
//! - `killed_at_every_history_boundary`: for each path of the travel saga (success, a failure at
//!   each step, a compensation that fails once), the child aborts right after the N-th history
//!   append, or right after the N-th task answer (dispatched and answered, not yet recorded), for
//!   every N until a run gets through. A restarted child must then finish the saga, completed or
//!   fully compensated, with no effect twice.
//! - `killed_at_random_moments`: many sagas at once, SIGKILLed at random moments, restarted.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{check_saga_effects, trip};
use serde_json::json;
use skald_examples::travel::{self, Services};
use skald_saga::{Coordinator, CoordinatorOptions, ExecutionStatus, ProbePoint, StartExecution};
use skald_testkit::crash::{child_params, report, Child, Seed};
use skald_testkit::TestStore;

/// Input of a trip named `<kind>-…`.
fn input_of(name: &str) -> serde_json::Value {
    match name.split('-').next().unwrap_or_default() {
        "flight" => trip(name, "FAIL", "compact", 100),
        "car" => trip(name, "SK 1", "FAIL", 100),
        "payment" => trip(name, "SK 1", "compact", 5000),
        "flaky" => trip(name, "SK 1", "compact", 5000),
        _ => trip(name, "SK 1", "compact", 100),
    }
}

fn expected_status(name: &str) -> ExecutionStatus {
    if name.starts_with("ok") {
        ExecutionStatus::Succeeded
    } else {
        ExecutionStatus::Failed
    }
}

/// The child: runs the coordinator until every trip is done, aborting at the chosen boundary.
#[test]
fn crash_child() {
    let Some(params) = child_params() else { return };
    let base = params.params["base"].as_str().unwrap().to_owned();
    let trips: Vec<String> = serde_json::from_value(params.params["trips"].clone()).unwrap();
    let crash_at = params.params["crash_at"].as_str().and_then(|at| {
        let (kind, n) = at.split_once(':')?;
        Some((kind.to_owned(), n.parse::<usize>().ok()?))
    });
    params.block_on(|store| async move {
        let appends = Arc::new(AtomicUsize::new(0));
        let answers = Arc::new(AtomicUsize::new(0));
        let probe: skald_saga::Probe = Arc::new(move |point| {
            let (counter, kind) = match point {
                ProbePoint::HistoryAppended { .. } => (&appends, "append"),
                ProbePoint::TaskAnswered { .. } => (&answers, "answer"),
                _ => return,
            };
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            if crash_at.as_ref().is_some_and(|(k, at)| k == kind && *at == n) {
                std::process::abort();
            }
        });
        let options =
            CoordinatorOptions { resources: travel::registry(&base), probe: Some(probe), ..Default::default() };
        let saga = Coordinator::start(store, options).await.unwrap();
        saga.create_state_machine("travel", travel::definition()).await.unwrap();
        let mut ids = Vec::new();
        for name in &trips {
            let started = saga.start_execution(StartExecution::new("travel", name, input_of(name))).await.unwrap();
            ids.push(started.execution_id);
        }
        for id in ids {
            let done = saga.wait_for_execution(&id, Duration::from_secs(60)).await.unwrap();
            report(format!("done {} {}", done.name, done.status));
        }
        std::process::exit(0);
    });
}

struct Run {
    crashed: bool,
    done: Vec<(String, String)>,
}

fn run_child(
    location: &str,
    base: &str,
    trips: &[String],
    crash_at: Option<String>,
    kill_after: Option<Duration>,
) -> Run {
    let child = Child::spawn("crash_child", location, json!({"base": base, "trips": trips, "crash_at": crash_at}));
    let finished = match kill_after {
        Some(after) => child.kill_after(after),
        None => child.wait(),
    };
    let done = finished
        .lines
        .iter()
        .filter_map(|line| match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["done", name, status] => Some(((*name).to_owned(), (*status).to_owned())),
            _ => None,
        })
        .collect();
    Run { crashed: finished.crashed, done }
}

fn check_done(services: &Services, run: &Run, trips: &[String], context: &str) {
    assert!(!run.crashed, "{context}: the restarted coordinator crashed");
    assert_eq!(run.done.len(), trips.len(), "{context}: not every saga finished: {:?}", run.done);
    for (name, status) in &run.done {
        let expected = expected_status(name);
        assert_eq!(status, &expected.to_string(), "{context}: {name} ended {status}");
        check_saga_effects(services, name, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_killed_at_every_history_boundary() {
    skald_testkit::run("embedded", killed_at_every_history_boundary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_at_every_history_boundary() {
    skald_testkit::run("postgres", killed_at_every_history_boundary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_killed_at_random_moments() {
    skald_testkit::run("embedded", killed_at_random_moments).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_at_random_moments() {
    skald_testkit::run("postgres", killed_at_random_moments).await;
}

/// The travel services on the test's runtime (they outlive every kill of the child).
async fn services() -> (Services, String) {
    let services = Services::default();
    let base = travel::spawn(services.clone()).await.unwrap();
    (services, base)
}

async fn killed_at_every_history_boundary(mut kit: TestStore) {
    let location = kit.location().expect("a store a child process can open");
    kit.close().await;
    let (services, base) = services().await;
    let mut crashes = 0;
    for kind in ["ok", "flight", "car", "payment", "flaky"] {
        for boundary in ["append", "answer"] {
            for n in 1.. {
                let name = format!("{kind}-{boundary}{n}");
                let trips = vec![name.clone()];
                let crash_at = Some(format!("{boundary}:{n}"));
                let first = tokio::task::block_in_place(|| run_child(&location, &base, &trips, crash_at, None));
                if !first.crashed {
                    // The run got through: every boundary of this path was crashed at.
                    check_done(&services, &first, &trips, &name);
                    assert!(n > 2, "{name}: too few boundaries to mean anything");
                    break;
                }
                crashes += 1;
                assert!(first.done.is_empty(), "{name}: finished before the crash");
                let second = tokio::task::block_in_place(|| run_child(&location, &base, &trips, None, None));
                check_done(&services, &second, &trips, &format!("{name} after a crash at {boundary} {n}"));
            }
        }
    }
    eprintln!("{crashes} crashes, every saga completed or compensated, no effect twice");
    assert!(crashes >= 40, "only {crashes} crash points");
    kit.open_again().await;
}

async fn killed_at_random_moments(mut kit: TestStore) {
    let location = kit.location().expect("a store a child process can open");
    kit.close().await;
    let (services, base) = services().await;
    let kinds = ["ok", "flight", "car", "payment", "flaky"];
    let trips: Vec<String> = (0..30).map(|i| format!("{}-r{i}", kinds[i % kinds.len()])).collect();
    let mut seed = Seed::from_env("saga crash", 0x2545_F491_4F6C_DD1D);
    for cycle in 0..6 {
        let after = seed.duration(Duration::from_millis(100), Duration::from_millis(400));
        let run = tokio::task::block_in_place(|| run_child(&location, &base, &trips, None, Some(after)));
        eprintln!("cycle {cycle}: killed after {after:?}, {} sagas reported done", run.done.len());
    }
    let last = tokio::task::block_in_place(|| run_child(&location, &base, &trips, None, None));
    check_done(&services, &last, &trips, "after random kills");
    kit.open_again().await;
}
