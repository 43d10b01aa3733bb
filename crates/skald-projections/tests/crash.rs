//! A projection process killed with SIGKILL in the middle of a rebuild and of a catch-up: the read
//! model and its checkpoint always agree, the live tables survive a killed rebuild, and running
//! again finishes the job with every event applied exactly once.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use rusqlite::Connection;
use serde_json::json;
use skald_core::{EventStore, NewEvent, StreamAppend};
use skald_projections::examples::OrderHistory;
use skald_projections::SqliteRunner;

const CHILD_ENV: &str = "SKALD_PROJECTION_CHILD";
const ORDERS: u32 = 60_000;

/// The child: opens the store and the read model, then rebuilds or catches up until killed.
#[test]
fn projection_child() {
    let Ok(mode) = std::env::var(CHILD_ENV) else { return };
    let dir = std::env::var("SKALD_PROJECTION_DIR").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move {
        let dir = Path::new(&dir);
        let store: Arc<dyn EventStore> =
            Arc::new(skald_log::Store::open(dir.join("store"), Default::default()).unwrap());
        let mut runner = SqliteRunner::open(store, &dir.join("orders.sqlite"), OrderHistory).unwrap();
        println!("ready");
        let progress = |p: skald_projections::Progress| println!("applied {}", p.applied);
        if mode == "rebuild" {
            runner.rebuild(progress).await.unwrap();
        } else {
            runner.catch_up_with_progress(progress).await.unwrap();
        }
        println!("done");
    });
}

/// Runs the child until it has applied at least `after` events, then kills it. Returns whether it
/// finished before that.
fn run_child(dir: &Path, mode: &str, after: u64) -> bool {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "projection_child", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, mode)
        .env("SKALD_PROJECTION_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut finished = false;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if line == "done" {
            finished = true;
            break;
        }
        if line.strip_prefix("applied ").and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n >= after) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    finished
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

#[test]
fn killed_projections_resume_without_loss_or_double_counting() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = skald_log::Store::open(dir.path().join("store"), Default::default()).unwrap();
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
        store.close();
    });

    // A catch-up killed half-way: the model holds exactly the events up to its checkpoint.
    let finished = run_child(dir.path(), "catch-up", 10_000);
    let (rows, events, checkpoint) = model(dir.path());
    eprintln!("catch-up {}: {rows} rows, checkpoint {checkpoint:?}", if finished { "finished" } else { "killed" });
    assert_eq!(rows, events, "one event per order");
    assert_eq!(rows, checkpoint.map_or(0, |p| p + 1), "rows and checkpoint committed together");
    assert!(rows >= 10_000);

    // Finish it; then kill a rebuild half-way: the live model is untouched.
    assert!(run_child(dir.path(), "catch-up", u64::MAX));
    let complete = (ORDERS as i64, ORDERS as i64, Some(ORDERS as i64 - 1));
    assert_eq!(model(dir.path()), complete, "resumed without loss or double counting");
    let finished = run_child(dir.path(), "rebuild", 10_000);
    eprintln!("rebuild {}", if finished { "finished" } else { "killed" });
    assert_eq!(model(dir.path()), complete, "the live model is intact");

    // A rebuild run to the end replaces the model with an identical one and leaves no shadow.
    assert!(run_child(dir.path(), "rebuild", u64::MAX));
    assert_eq!(model(dir.path()), complete);
    let conn = Connection::open(dir.path().join("orders.sqlite")).unwrap();
    let shadows: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE name LIKE '%rebuild%'", [], |r| r.get(0)).unwrap();
    assert_eq!(shadows, 0);
}
