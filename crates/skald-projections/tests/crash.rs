//! A projection process killed with SIGKILL in the middle of a rebuild and of a catch-up, on every
//! backend a child process can open: the read model and its checkpoint always agree, the live
//! tables survive a killed rebuild, and running again finishes the job with every event applied
//! exactly once.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::json;
use skald_core::{NewEvent, StreamAppend};
use skald_projections::examples::OrderHistory;
use skald_projections::SqliteRunner;
use skald_testkit::crash::{child_params, report, Child};
use skald_testkit::TestStore;

const ORDERS: u32 = 60_000;

/// The child: opens the store and the read model, then rebuilds or catches up until killed.
#[test]
fn projection_child() {
    let Some(params) = child_params() else { return };
    let mode = params.params["mode"].as_str().unwrap().to_owned();
    let db = params.params["db"].as_str().unwrap().to_owned();
    params.block_on(|store| async move {
        let mut runner = SqliteRunner::open(store, Path::new(&db), OrderHistory).unwrap();
        let progress = |p: skald_projections::Progress| report(format!("applied {}", p.applied));
        if mode == "rebuild" {
            runner.rebuild(progress).await.unwrap();
        } else {
            runner.catch_up_with_progress(progress).await.unwrap();
        }
        report("done");
    });
}

/// Runs the child until it has applied at least `after` events, then kills it. Returns whether it
/// finished before that.
fn run_child(location: &str, dir: &Path, mode: &str, after: u64) -> bool {
    let params = json!({"mode": mode, "db": dir.join("orders.sqlite")});
    let mut child = Child::spawn("projection_child", location, params);
    while let Some(line) = child.next_line(Duration::from_secs(120)) {
        if line == "done" {
            child.wait();
            return true;
        }
        if line.strip_prefix("applied ").and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n >= after) {
            break;
        }
    }
    child.kill();
    false
}

/// Rows, the sum of their event counts, and the checkpoint, from a fresh connection.
fn model(dir: &Path) -> (i64, i64, Option<i64>) {
    let conn = Connection::open(dir.join("orders.sqlite")).unwrap();
    let (rows, events): (i64, Option<i64>) =
        conn.query_row("SELECT count(*), sum(events) FROM order_history", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    let checkpoint = conn
        .query_row("SELECT position FROM skald_projection_checkpoints WHERE projection = 'order-history'", [], |r| {
            r.get(0)
        })
        .unwrap();
    (rows, events.unwrap_or(0), checkpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_killed_projections_resume_without_loss_or_double_counting() {
    skald_testkit::run("embedded", kill_projections).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_projections_resume_without_loss_or_double_counting() {
    skald_testkit::run("postgres", kill_projections).await;
}

async fn kill_projections(mut kit: TestStore) {
    let location = kit.location().expect("a store a child process can open");
    let dir = tempfile::tempdir().unwrap();
    {
        let store = kit.store();
        // One event per order: after the checkpoint at position p, exactly p + 1 orders exist.
        for chunk in 0..ORDERS / 1000 {
            let appends = (0..1000)
                .map(|i| {
                    let order = chunk * 1000 + i;
                    StreamAppend::new(format!("order-{order}"), vec![NewEvent::new("OrderPlaced", json!({"total": 1}))])
                })
                .collect::<Vec<_>>();
            for part in appends.chunks(100) {
                store.append(part.to_vec()).await.unwrap();
            }
        }
    }
    kit.close().await;
    tokio::task::block_in_place(|| kill_and_check(&location, dir.path()));
    kit.open_again().await;
}

fn kill_and_check(location: &str, dir: &Path) {
    // A catch-up killed half-way: the model holds exactly the events up to its checkpoint.
    let finished = run_child(location, dir, "catch-up", 10_000);
    let (rows, events, checkpoint) = model(dir);
    eprintln!("catch-up {}: {rows} rows, checkpoint {checkpoint:?}", if finished { "finished" } else { "killed" });
    assert_eq!(rows, events, "one event per order");
    assert_eq!(rows, checkpoint.map_or(0, |p| p + 1), "rows and checkpoint committed together");
    assert!(rows >= 10_000);

    // Finish it; then kill a rebuild half-way: the live model is untouched.
    assert!(run_child(location, dir, "catch-up", u64::MAX));
    let complete = (ORDERS as i64, ORDERS as i64, Some(ORDERS as i64 - 1));
    assert_eq!(model(dir), complete, "resumed without loss or double counting");
    let finished = run_child(location, dir, "rebuild", 10_000);
    eprintln!("rebuild {}", if finished { "finished" } else { "killed" });
    assert_eq!(model(dir), complete, "the live model is intact");

    // A rebuild run to the end replaces the model with an identical one and leaves no shadow.
    assert!(run_child(location, dir, "rebuild", u64::MAX));
    assert_eq!(model(dir), complete);
    let conn = Connection::open(dir.join("orders.sqlite")).unwrap();
    let shadows: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE name LIKE '%rebuild%'", [], |r| r.get(0)).unwrap();
    assert_eq!(shadows, 0);
}
