//! Read models on every backend: the order history built, resumed, failed half-way, rebuilt beside
//! the live one, and the at-least-once runner with its checkpoint in the log.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use serde_json::json;
use skald_core::{NewEvent, RecordedEvent, Selector, StreamAppend};
use skald_projections::examples::OrderHistory;
use skald_projections::{BoxError, IdempotentHandler, IdempotentRunner, ProjectionError, SqliteRunner};
use skald_testkit::TestStore;

skald_testkit::backend_tests!(crate::cases;
    order_history_is_built_and_resumed_without_double_counting,
    a_failure_rolls_back_the_page_and_its_checkpoint_together,
    a_new_version_is_rebuilt_beside_the_live_one_then_switched_atomically,
    the_runner_follows_live_events,
    the_idempotent_runner_checkpoints_in_the_log
);

mod common;

mod cases {
    use super::common::{follows_live, order, place_orders, Fragile, OrderHistoryInCents};
    use super::*;

    fn row(conn: &Connection, id: u32) -> (String, Option<f64>, i64) {
        conn.query_row(
            "SELECT status, total, events FROM order_history WHERE order_id = ?1",
            [format!("order-{id}")],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    }

    pub async fn order_history_is_built_and_resumed_without_double_counting(kit: TestStore) {
        let store = kit.store();
        order(&*store, 1, &[("OrderPlaced", json!({"total": 12.5})), ("OrderPaid", json!({}))]).await;
        store.append(vec![StreamAppend::new("stock-1", vec![NewEvent::new("Reserved", json!({}))])]).await.unwrap();
        order(&*store, 2, &[("OrderPlaced", json!({"total": 3}))]).await;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("orders.sqlite");
        let mut runner = SqliteRunner::open(store.clone(), &db, OrderHistory).unwrap();
        assert_eq!(runner.catch_up().await.unwrap(), 3, "only the order category");
        assert_eq!(row(runner.connection(), 1), ("paid".into(), Some(12.5), 2));
        assert_eq!(runner.checkpoint().unwrap(), Some(3));
        drop(runner);

        order(&*store, 1, &[("OrderShipped", json!({}))]).await;
        let mut runner = SqliteRunner::open(store.clone(), &db, OrderHistory).unwrap();
        assert_eq!(runner.catch_up().await.unwrap(), 1, "resumes after its checkpoint");
        assert_eq!(row(runner.connection(), 1), ("shipped".into(), Some(12.5), 3));
        assert_eq!(runner.catch_up().await.unwrap(), 0);
    }

    pub async fn a_failure_rolls_back_the_page_and_its_checkpoint_together(kit: TestStore) {
        let store = kit.store();
        order(&*store, 1, &[("OrderPlaced", json!({"total": 1})), ("OrderPaid", json!({})), ("Poison", json!({}))])
            .await;
        let healed = Arc::new(AtomicBool::new(false));
        let mut runner = SqliteRunner::open_in_memory(store.clone(), Fragile { healed: healed.clone() }).unwrap();
        let error = runner.catch_up().await.unwrap_err();
        assert!(matches!(error, ProjectionError::Handler { position: 2, .. }), "{error}");
        // The events before the poison were in the same page: nothing of it stayed.
        assert_eq!(runner.checkpoint().unwrap(), None);
        let rows: i64 = runner.connection().query_row("SELECT count(*) FROM order_history", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 0);
        healed.store(true, Ordering::SeqCst);
        assert_eq!(runner.catch_up().await.unwrap(), 3);
        assert_eq!(row(runner.connection(), 1), ("paid".into(), Some(1.0), 3), "each event counted once");
    }

    pub async fn a_new_version_is_rebuilt_beside_the_live_one_then_switched_atomically(kit: TestStore) {
        let store = kit.store();
        place_orders(&*store, 0..2500, 2.0).await;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("orders.sqlite");
        let mut v1 = SqliteRunner::open(store.clone(), &db, OrderHistory).unwrap();
        v1.catch_up().await.unwrap();
        drop(v1);

        let mut v2 = SqliteRunner::open(store.clone(), &db, OrderHistoryInCents).unwrap();
        let reader = Connection::open(&db).unwrap();
        let mut seen = Vec::new();
        let applied = v2
            .rebuild(|progress| {
                // While the rebuild runs, readers still get the live (version 1) model.
                let total: f64 = reader
                    .query_row("SELECT total FROM order_history WHERE order_id = 'order-7'", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(total, 2.0);
                seen.push(progress.applied);
            })
            .await
            .unwrap();
        assert_eq!(applied, 2500);
        assert_eq!(seen, vec![1000, 2000, 2500], "progress after every page");
        let total: f64 =
            reader.query_row("SELECT total FROM order_history WHERE order_id = 'order-7'", [], |r| r.get(0)).unwrap();
        assert_eq!(total, 200.0, "after the switch readers get version 2");
        assert_eq!(v2.checkpoint().unwrap(), Some(2499));
        let shadows: i64 = reader
            .query_row("SELECT count(*) FROM sqlite_master WHERE name LIKE '%rebuild%'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(shadows, 0, "no shadow table is left behind");
        order(&*store, 1, &[("OrderPaid", json!({}))]).await;
        assert_eq!(v2.catch_up().await.unwrap(), 1, "the rebuilt model continues from where the rebuild ended");
    }

    pub async fn the_runner_follows_live_events(kit: TestStore) {
        let store = kit.store();
        follows_live(&store, |stopped| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut runner = SqliteRunner::open_in_memory(store, OrderHistory).unwrap();
                runner.run(async { drop(stopped.await) }).await.unwrap();
                runner.checkpoint().unwrap()
            })
        })
        .await;
    }

    /// Records what it saw, as a non-SQL read model would.
    struct Collect {
        seen: Arc<Mutex<Vec<u64>>>,
    }

    #[async_trait::async_trait]
    impl IdempotentHandler for Collect {
        fn name(&self) -> &str {
            "collect"
        }
        fn selector(&self) -> Selector {
            Selector::Type("OrderPlaced".into())
        }
        async fn handle(&self, event: &RecordedEvent) -> Result<(), BoxError> {
            self.seen.lock().unwrap().push(event.position);
            Ok(())
        }
    }

    pub async fn the_idempotent_runner_checkpoints_in_the_log(kit: TestStore) {
        let store = kit.store();
        for id in 0..3 {
            order(&*store, id, &[("OrderPlaced", json!({"total": 1})), ("OrderPaid", json!({}))]).await;
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let runner = IdempotentRunner::new(store.clone(), Collect { seen: seen.clone() }).unwrap();
        assert_eq!(runner.catch_up().await.unwrap(), 3);
        assert_eq!(runner.checkpoint().await.unwrap(), Some(4));
        order(&*store, 9, &[("OrderPlaced", json!({"total": 1}))]).await;
        let again = IdempotentRunner::new(store.clone(), Collect { seen: seen.clone() }).unwrap();
        assert_eq!(again.catch_up().await.unwrap(), 1, "a new runner resumes from the checkpoint event");
        // Positions 6 and 7 are the checkpoint event and its stream metadata.
        assert_eq!(*seen.lock().unwrap(), vec![0, 2, 4, 8]);
        let checkpoints = store.stream_info("$proj-collect").await.unwrap();
        assert_eq!(checkpoints.metadata.max_count, Some(16), "checkpoint history is kept short");
    }
}
