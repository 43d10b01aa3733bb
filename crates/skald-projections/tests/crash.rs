//! A projection process killed with SIGKILL in the middle of a rebuild and of a catch-up, on every
//! backend a child process can open, with the read model in SQLite and (feature `postgres`) in
//! PostgreSQL: the read model and its checkpoint always agree, the live tables survive a killed
//! rebuild, and running again finishes the job with every event applied exactly once.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{json, Value};
use skald_core::EventStore;
use skald_projections::examples::OrderHistory;
use skald_projections::{Progress, SqliteRunner};
use skald_testkit::crash::{child_params, report, Child};
use skald_testkit::TestStore;

mod common;

const ORDERS: u32 = 60_000;

/// Where the read model lives: the child's parameters name it, the parent reads it.
enum Model {
    Sqlite(PathBuf),
    #[cfg(feature = "postgres")]
    Postgres {
        url: String,
        schema: String,
    },
}

impl Model {
    fn params(&self) -> Value {
        match self {
            Model::Sqlite(db) => json!({"sqlite": db}),
            #[cfg(feature = "postgres")]
            Model::Postgres { url, schema } => json!({"postgres": {"url": url, "schema": schema}}),
        }
    }

    fn from_params(params: &Value) -> Model {
        if let Some(db) = params["sqlite"].as_str() {
            return Model::Sqlite(db.into());
        }
        #[cfg(feature = "postgres")]
        if let Some(pg) = params.get("postgres") {
            let text = |key: &str| pg[key].as_str().unwrap().to_owned();
            return Model::Postgres { url: text("url"), schema: text("schema") };
        }
        panic!("no read model in {params}")
    }

    /// Runs a rebuild or a catch-up to the end, reporting progress.
    async fn run(&self, store: std::sync::Arc<dyn EventStore>, rebuild: bool) {
        let progress = |p: Progress| report(format!("applied {}", p.applied));
        match self {
            Model::Sqlite(db) => {
                let mut runner = SqliteRunner::open(store, db, OrderHistory).unwrap();
                let applied = if rebuild {
                    runner.rebuild(progress).await
                } else {
                    runner.catch_up_with_progress(progress).await
                };
                applied.unwrap();
            }
            #[cfg(feature = "postgres")]
            Model::Postgres { url, schema } => {
                let mut runner = skald_projections::PgRunner::connect(store, url, schema, OrderHistory).await.unwrap();
                let applied = if rebuild {
                    runner.rebuild(progress).await
                } else {
                    runner.catch_up_with_progress(progress).await
                };
                applied.unwrap();
            }
        }
    }

    /// Rows, the sum of their event counts, the checkpoint, and how many shadow tables exist,
    /// through a fresh connection.
    fn read(&self) -> (i64, i64, Option<i64>, i64) {
        match self {
            Model::Sqlite(db) => {
                let conn = Connection::open(db).unwrap();
                let (rows, events): (i64, Option<i64>) = conn
                    .query_row("SELECT count(*), sum(events) FROM order_history", [], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap();
                let checkpoint = conn
                    .query_row(
                        "SELECT position FROM skald_projection_checkpoints WHERE projection = 'order-history'",
                        [],
                        |r| r.get(0),
                    )
                    .unwrap();
                let shadows = conn
                    .query_row("SELECT count(*) FROM sqlite_master WHERE name LIKE '%rebuild%' AND type = 'table'", [], |r| {
                        r.get(0)
                    })
                    .unwrap();
                (rows, events.unwrap_or(0), checkpoint, shadows)
            }
            #[cfg(feature = "postgres")]
            Model::Postgres { url, schema } => tokio::runtime::Handle::current().block_on(async {
                let client = common::client(url).await;
                let sql = format!(
                    "SELECT (SELECT count(*) FROM \"{schema}\".order_history), \
                     (SELECT coalesce(sum(events), 0)::int8 FROM \"{schema}\".order_history), \
                     (SELECT position FROM \"{schema}\".skald_projection_checkpoints WHERE projection = 'order-history'), \
                     (SELECT count(*) FROM pg_tables WHERE schemaname = '{schema}' AND tablename LIKE '%rebuild%')"
                );
                let row = client.query_one(&sql, &[]).await.unwrap();
                (row.get(0), row.get(1), row.get(2), row.get(3))
            }),
        }
    }
}

/// The child: opens the store and the read model, then rebuilds or catches up until killed.
#[test]
fn projection_child() {
    let Some(params) = child_params() else { return };
    let rebuild = params.params["mode"] == "rebuild";
    let model = Model::from_params(&params.params);
    params.block_on(|store| async move {
        model.run(store, rebuild).await;
        report("done");
    });
}

/// Runs the child until it has applied at least `after` events, then kills it. Returns whether it
/// finished before that.
fn run_child(location: &str, model: &Model, mode: &str, after: u64) -> bool {
    let mut params = model.params();
    params["mode"] = mode.into();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_killed_projections_resume_without_loss_or_double_counting() {
    skald_testkit::run("embedded", |kit| kill_projections(kit, None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_projections_resume_without_loss_or_double_counting() {
    skald_testkit::run("postgres", |kit| kill_projections(kit, None)).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_killed_projections_into_postgres_resume_without_loss_or_double_counting() {
    skald_testkit::run("embedded", kill_projections_into_postgres).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_projections_into_postgres_resume_without_loss_or_double_counting() {
    skald_testkit::run("postgres", kill_projections_into_postgres).await;
}

/// [`kill_projections`] with the read model in a fresh PostgreSQL schema, dropped afterwards.
#[cfg(feature = "postgres")]
async fn kill_projections_into_postgres(kit: TestStore) {
    common::with_schema(|url, schema| kill_projections(kit, Some(Model::Postgres { url, schema }))).await;
}

/// Fills the store, closes it for the children, and kills them; `model` is where the read model
/// lives (`None`: SQLite in a temporary directory).
async fn kill_projections(mut kit: TestStore, model: Option<Model>) {
    let location = kit.location().expect("a store a child process can open");
    let dir = tempfile::tempdir().unwrap();
    let model = model.unwrap_or_else(|| Model::Sqlite(dir.path().join("orders.sqlite")));
    // One event per order: after the checkpoint at position p, exactly p + 1 orders exist.
    common::place_orders(&*kit.store(), 0..ORDERS, 1.0).await;
    kit.close().await;
    tokio::task::block_in_place(|| kill_and_check(&location, &model));
    kit.open_again().await;
}

fn kill_and_check(location: &str, model: &Model) {
    // A catch-up killed half-way: the model holds exactly the events up to its checkpoint.
    let finished = run_child(location, model, "catch-up", 10_000);
    let (rows, events, checkpoint, _) = model.read();
    eprintln!("catch-up {}: {rows} rows, checkpoint {checkpoint:?}", if finished { "finished" } else { "killed" });
    assert_eq!(rows, events, "one event per order");
    assert_eq!(rows, checkpoint.map_or(0, |p| p + 1), "rows and checkpoint committed together");
    assert!(rows >= 10_000);

    // Finish it; then kill a rebuild half-way: the live model is untouched.
    assert!(run_child(location, model, "catch-up", u64::MAX));
    let complete = (ORDERS as i64, ORDERS as i64, Some(ORDERS as i64 - 1));
    let (rows, events, checkpoint, _) = model.read();
    assert_eq!((rows, events, checkpoint), complete, "resumed without loss or double counting");
    let finished = run_child(location, model, "rebuild", 10_000);
    eprintln!("rebuild {}", if finished { "finished" } else { "killed" });
    let (rows, events, checkpoint, _) = model.read();
    assert_eq!((rows, events, checkpoint), complete, "the live model is intact");

    // A rebuild run to the end replaces the model with an identical one and leaves no shadow.
    assert!(run_child(location, model, "rebuild", u64::MAX));
    assert_eq!(model.read(), (complete.0, complete.1, complete.2, 0));
}
