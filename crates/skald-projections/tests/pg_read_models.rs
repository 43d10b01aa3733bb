//! Read models in PostgreSQL fed from every backend (feature `postgres`): the order history built,
//! resumed, failed half-way, rebuilt beside the live one, following live events, and two runners
//! of one projection at once. Each test keeps its read model in a schema of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use skald_core::{NewEvent, StreamAppend};
use skald_projections::examples::OrderHistory;
use skald_projections::{PgRunner, ProjectionError};
use skald_testkit::TestStore;

mod common;

skald_testkit::backend_tests!(crate::cases;
    order_history_is_built_and_resumed_without_double_counting,
    a_failure_rolls_back_the_page_and_its_checkpoint_together,
    a_new_version_is_rebuilt_beside_the_live_one_then_switched_atomically,
    the_runner_follows_live_events,
    two_runners_of_one_projection_apply_each_event_once
);

mod cases {
    use super::common::{client, follows_live, order, place_orders, with_schema, Fragile, OrderHistoryInCents};
    use super::*;

    async fn row(client: &tokio_postgres::Client, id: u32) -> (String, Option<f64>, i64) {
        let sql = "SELECT status, total, events FROM order_history WHERE order_id = $1";
        let row = client.query_one(sql, &[&format!("order-{id}")]).await.unwrap();
        (row.get(0), row.get(1), row.get(2))
    }

    /// Rows and the sum of their event counts.
    async fn totals(client: &tokio_postgres::Client, schema: &str) -> (i64, i64) {
        let sql = format!("SELECT count(*), coalesce(sum(events), 0)::int8 FROM \"{schema}\".order_history");
        let row = client.query_one(&sql, &[]).await.unwrap();
        (row.get(0), row.get(1))
    }

    pub async fn order_history_is_built_and_resumed_without_double_counting(kit: TestStore) {
        with_schema(|url, schema| async move {
            let store = kit.store();
            order(&*store, 1, &[("OrderPlaced", json!({"total": 12.5})), ("OrderPaid", json!({}))]).await;
            let reserved = NewEvent::new("Reserved", json!({}));
            store.append(vec![StreamAppend::new("stock-1", vec![reserved])]).await.unwrap();
            order(&*store, 2, &[("OrderPlaced", json!({"total": 3}))]).await;
            let mut runner = PgRunner::connect(store.clone(), &url, &schema, OrderHistory).await.unwrap();
            assert_eq!(runner.catch_up().await.unwrap(), 3, "only the order category");
            assert_eq!(row(runner.client(), 1).await, ("paid".into(), Some(12.5), 2));
            assert_eq!(runner.checkpoint().await.unwrap(), Some(3));
            drop(runner);

            order(&*store, 1, &[("OrderShipped", json!({}))]).await;
            let mut runner = PgRunner::connect(store.clone(), &url, &schema, OrderHistory).await.unwrap();
            assert_eq!(runner.catch_up().await.unwrap(), 1, "resumes after its checkpoint");
            assert_eq!(row(runner.client(), 1).await, ("shipped".into(), Some(12.5), 3));
            assert_eq!(runner.catch_up().await.unwrap(), 0);
        })
        .await;
    }

    pub async fn a_failure_rolls_back_the_page_and_its_checkpoint_together(kit: TestStore) {
        with_schema(|url, schema| async move {
            let store = kit.store();
            let events = [("OrderPlaced", json!({"total": 1})), ("OrderPaid", json!({})), ("Poison", json!({}))];
            order(&*store, 1, &events).await;
            let healed = Arc::new(AtomicBool::new(false));
            let fragile = Fragile { healed: healed.clone() };
            let mut runner = PgRunner::connect(store.clone(), &url, &schema, fragile).await.unwrap();
            let error = runner.catch_up().await.unwrap_err();
            assert!(matches!(error, ProjectionError::Handler { position: 2, .. }), "{error}");
            // The events before the poison were in the same page: nothing of it stayed.
            assert_eq!(runner.checkpoint().await.unwrap(), None);
            assert_eq!(totals(runner.client(), &schema).await, (0, 0));
            healed.store(true, Ordering::SeqCst);
            assert_eq!(runner.catch_up().await.unwrap(), 3);
            assert_eq!(row(runner.client(), 1).await, ("paid".into(), Some(1.0), 3), "each event counted once");
        })
        .await;
    }

    pub async fn a_new_version_is_rebuilt_beside_the_live_one_then_switched_atomically(kit: TestStore) {
        with_schema(|url, schema| async move {
            let store = kit.store();
            place_orders(&*store, 0..2500, 2.0).await;
            let mut v1 = PgRunner::connect(store.clone(), &url, &schema, OrderHistory).await.unwrap();
            v1.catch_up().await.unwrap();
            drop(v1);

            let mut v2 = PgRunner::connect(store.clone(), &url, &schema, OrderHistoryInCents).await.unwrap();
            let reader = client(&url).await;
            let live_total = format!("SELECT total FROM \"{schema}\".order_history WHERE order_id = 'order-7'");
            let shadow = format!("SELECT to_regclass('\"{schema}\".order_history__rebuild') IS NOT NULL");
            let mut seen = Vec::new();
            let applied = v2
                .rebuild(|progress| {
                    // While the rebuild runs beside it, readers still get the live (version 1) model.
                    let (total, beside) = tokio::task::block_in_place(|| {
                        tokio::runtime::Handle::current().block_on(async {
                            let total: f64 = reader.query_one(&live_total, &[]).await.unwrap().get(0);
                            let beside: bool = reader.query_one(&shadow, &[]).await.unwrap().get(0);
                            (total, beside)
                        })
                    });
                    assert_eq!(total, 2.0);
                    assert!(beside, "the new version is written into shadow tables");
                    seen.push(progress.applied);
                })
                .await
                .unwrap();
            assert_eq!(applied, 2500);
            assert_eq!(seen, vec![1000, 2000, 2500], "progress after every page");
            let total: f64 = reader.query_one(&live_total, &[]).await.unwrap().get(0);
            assert_eq!(total, 200.0, "after the switch readers get version 2");
            assert_eq!(v2.checkpoint().await.unwrap(), Some(2499));
            let sql = "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                       WHERE n.nspname = $1 ORDER BY 1";
            let relations: Vec<String> =
                reader.query(sql, &[&schema]).await.unwrap().iter().map(|r| r.get(0)).collect();
            assert_eq!(
                relations,
                [
                    "order_history",
                    "order_history_pkey",
                    "skald_projection_checkpoints",
                    "skald_projection_checkpoints_pkey"
                ],
                "no shadow is left behind, and the index has the live name again"
            );
            order(&*store, 1, &[("OrderPaid", json!({}))]).await;
            assert_eq!(v2.catch_up().await.unwrap(), 1, "the rebuilt model continues from where the rebuild ended");
            assert_eq!(v2.rebuild(|_| {}).await.unwrap(), 2501, "a second rebuild finds its names free");
            assert_eq!(reader.query_one(&live_total, &[]).await.unwrap().get::<_, f64>(0), 200.0);
        })
        .await;
    }

    pub async fn the_runner_follows_live_events(kit: TestStore) {
        with_schema(|url, schema| async move {
            let store = kit.store();
            follows_live(&store, |stopped| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut runner = PgRunner::connect(store, &url, &schema, OrderHistory).await.unwrap();
                    runner.run(async { drop(stopped.await) }).await.unwrap();
                    runner.checkpoint().await.unwrap()
                })
            })
            .await;
        })
        .await;
    }

    pub async fn two_runners_of_one_projection_apply_each_event_once(kit: TestStore) {
        with_schema(|url, schema| async move {
            let store = kit.store();
            place_orders(&*store, 0..5000, 1.0).await;
            let mut a = PgRunner::connect(store.clone(), &url, &schema, OrderHistory).await.unwrap();
            let mut b = PgRunner::connect(store.clone(), &url, &schema, OrderHistory).await.unwrap();
            let (one, other) = tokio::join!(a.catch_up(), b.catch_up());
            for outcome in [&one, &other] {
                if let Err(error) = outcome {
                    assert!(matches!(error, ProjectionError::CheckpointMoved { .. }), "{error}");
                }
            }
            // Whichever stopped, one more catch-up finishes the job; no event was applied twice.
            a.catch_up().await.unwrap();
            assert_eq!(totals(a.client(), &schema).await, (5000, 5000));
            assert_eq!(a.checkpoint().await.unwrap(), Some(4999));
            assert_eq!(b.catch_up().await.unwrap(), 0);
        })
        .await;
    }
}

/// A reader holding the live table past the switch's lock wait: the switch gives up, waits and
/// switches again once the reader is done, instead of queueing every other reader behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_waits_out_a_long_reader() {
    common::with_schema(|url, schema| async move {
        let store: Arc<dyn skald_core::EventStore> = Arc::new(skald_core::MemoryStore::new());
        common::place_orders(&*store, 0..10, 1.0).await;
        let mut runner = PgRunner::connect(store.clone(), &url, &schema, OrderHistory).await.unwrap();
        runner.catch_up().await.unwrap();
        let mut reader = common::client(&url).await;
        let held = skald_projections::SWITCH_LOCK_WAIT_MAX + Duration::from_millis(500);
        let release = tokio::spawn(async move {
            let tx = reader.transaction().await.unwrap();
            let sql = format!("SELECT count(*) FROM \"{schema}\".order_history");
            tx.query_one(&sql, &[]).await.unwrap();
            tokio::time::sleep(held).await;
            tx.commit().await.unwrap();
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = std::time::Instant::now();
        assert_eq!(runner.rebuild(|_| {}).await.unwrap(), 10);
        assert!(started.elapsed() >= held - Duration::from_millis(200), "switched only after the reader ended");
        release.await.unwrap();
        assert_eq!(runner.checkpoint().await.unwrap(), Some(9));
    })
    .await;
}
