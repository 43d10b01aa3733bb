//! Crash tests on the disk store. The coordinator runs in a child process (this test binary run
//! again with `SAGA_CRASH_DIR` set) against a `skald-log` store; the travel services run in the
//! parent, recording every effect by Idempotency-Key, so they outlive the kills.
//!
//! - `killed_at_every_history_boundary`: for each path of the travel saga (success, a failure at
//!   each step, a compensation that fails once), the child aborts right after the N-th history
//!   append, or right after the N-th task answer (dispatched and answered, not yet recorded), for
//!   every N until a run gets through. A restarted child must then finish the saga, completed or
//!   fully compensated, with no effect twice.
//! - `killed_at_random_moments`: many sagas at once, SIGKILLed at random moments, restarted.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{check_saga_effects, trip};
use skald_examples::travel::{self, Services};
use skald_saga::{Coordinator, CoordinatorOptions, ExecutionStatus, ProbePoint, StartExecution};

const DIR_ENV: &str = "SAGA_CRASH_DIR";
const BASE_ENV: &str = "SAGA_CRASH_BASE";
const AT_ENV: &str = "SAGA_CRASH_AT";
const TRIPS_ENV: &str = "SAGA_CRASH_TRIPS";

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
    let Ok(dir) = std::env::var(DIR_ENV) else { return };
    let base = std::env::var(BASE_ENV).unwrap();
    let trips: Vec<String> = std::env::var(TRIPS_ENV).unwrap().split(',').map(str::to_owned).collect();
    let crash_at = std::env::var(AT_ENV).ok().and_then(|at| {
        let (kind, n) = at.split_once(':')?;
        Some((kind.to_owned(), n.parse::<usize>().ok()?))
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let store = Arc::new(skald_log::Store::open(&dir, skald_log::Options::default()).unwrap());
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
            println!("done {} {}", done.name, done.status);
        }
        std::process::exit(0);
    });
}

struct Run {
    crashed: bool,
    done: Vec<(String, String)>,
}

fn run_child(
    dir: &std::path::Path,
    base: &str,
    trips: &[String],
    crash_at: Option<String>,
    kill_after: Option<Duration>,
) -> Run {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "crash_child", "--nocapture", "--test-threads", "1"])
        .env(DIR_ENV, dir)
        .env(BASE_ENV, base)
        .env(TRIPS_ENV, trips.join(","))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(at) = crash_at {
        command.env(AT_ENV, at);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut done = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The harness may print `test crash_child ... ` on the same line.
            let Some(at) = line.find("done ") else { continue };
            let parts: Vec<&str> = line[at..].split_whitespace().collect();
            if parts.len() == 3 {
                done.push((parts[1].to_owned(), parts[2].to_owned()));
            }
        }
        done
    });
    if let Some(after) = kill_after {
        std::thread::sleep(after);
        let _ = child.kill(); // SIGKILL
    }
    let status = child.wait().unwrap();
    Run { crashed: !status.success(), done: reader.join().unwrap() }
}

fn services() -> (tokio::runtime::Runtime, Services, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let services = Services::default();
    let base = runtime.block_on(travel::spawn(services.clone())).unwrap();
    (runtime, services, base)
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

#[test]
fn killed_at_every_history_boundary() {
    if std::env::var(DIR_ENV).is_ok() {
        return;
    }
    let (_runtime, services, base) = services();
    let mut crashes = 0;
    for kind in ["ok", "flight", "car", "payment", "flaky"] {
        for boundary in ["append", "answer"] {
            for n in 1.. {
                let name = format!("{kind}-{boundary}{n}");
                let trips = vec![name.clone()];
                let dir = tempfile::tempdir().unwrap();
                let first = run_child(dir.path(), &base, &trips, Some(format!("{boundary}:{n}")), None);
                if !first.crashed {
                    // The run got through: every boundary of this path was crashed at.
                    check_done(&services, &first, &trips, &name);
                    assert!(n > 2, "{name}: too few boundaries to mean anything");
                    break;
                }
                crashes += 1;
                assert!(first.done.is_empty(), "{name}: finished before the crash");
                let second = run_child(dir.path(), &base, &trips, None, None);
                check_done(&services, &second, &trips, &format!("{name} after a crash at {boundary} {n}"));
            }
        }
    }
    eprintln!("{crashes} crashes, every saga completed or compensated, no effect twice");
    assert!(crashes >= 40, "only {crashes} crash points");
}

#[test]
fn killed_at_random_moments() {
    if std::env::var(DIR_ENV).is_ok() {
        return;
    }
    let (_runtime, services, base) = services();
    let kinds = ["ok", "flight", "car", "payment", "flaky"];
    let trips: Vec<String> = (0..30).map(|i| format!("{}-r{i}", kinds[i % kinds.len()])).collect();
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for cycle in 0..6 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let after = Duration::from_millis(100 + seed % 400);
        let run = run_child(dir.path(), &base, &trips, None, Some(after));
        eprintln!("cycle {cycle}: killed after {after:?}, {} sagas reported done", run.done.len());
    }
    let last = run_child(dir.path(), &base, &trips, None, None);
    check_done(&services, &last, &trips, "after random kills");
}
