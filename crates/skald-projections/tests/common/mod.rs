//! What the read-model suites share: appending orders, the test projections (each in both SQL
//! dialects), and — with the `postgres` feature — a fresh PostgreSQL schema per test for the read
//! model, dropped afterwards even when the test panics.
#![allow(dead_code)]

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Transaction;
use skald_core::{EventStore, NewEvent, RecordedEvent, Selector, StreamAppend};
use skald_projections::examples::OrderHistory;
use skald_projections::{BoxError, Projection, SqlProjection, Tables};

/// Appends `events` (type, data) to `order-<id>`.
pub async fn order(store: &dyn EventStore, id: u32, events: &[(&str, serde_json::Value)]) {
    let events = events.iter().map(|(t, d)| NewEvent::new(*t, d.clone())).collect();
    store.append(vec![StreamAppend::new(format!("order-{id}"), events)]).await.unwrap();
}

/// Places one order per id of `ids` (one `OrderPlaced` each), a hundred streams per append, so
/// order `i` is at position `i` of an empty store.
pub async fn place_orders(store: &dyn EventStore, ids: Range<u32>, total: f64) {
    let appends = ids.map(|id| {
        let placed = NewEvent::new("OrderPlaced", serde_json::json!({ "total": total }));
        StreamAppend::new(format!("order-{id}"), vec![placed])
    });
    let appends: Vec<_> = appends.collect();
    for part in appends.chunks(100) {
        store.append(part.to_vec()).await.unwrap();
    }
}

/// Starts a runner through `spawn` (its task follows the log until `stopped` fires, then returns
/// its checkpoint), appends while it runs, stops it, and checks the live events reached the model.
pub async fn follows_live(
    store: &Arc<dyn EventStore>,
    spawn: impl FnOnce(tokio::sync::oneshot::Receiver<()>) -> tokio::task::JoinHandle<Option<u64>>,
) {
    use serde_json::json;
    order(&**store, 1, &[("OrderPlaced", json!({"total": 5}))]).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = spawn(stopped);
    tokio::time::sleep(Duration::from_millis(100)).await;
    order(&**store, 1, &[("OrderPaid", json!({}))]).await;
    order(&**store, 2, &[("OrderPlaced", json!({"total": 1}))]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.send(()).unwrap();
    assert_eq!(task.await.unwrap(), Some(2), "live events reached the model");
}

/// The order history, failing on `Poison` events until healed.
pub struct Fragile {
    pub healed: Arc<AtomicBool>,
}

impl Fragile {
    fn refuses(&self, event: &RecordedEvent) -> bool {
        event.event_type == "Poison" && !self.healed.load(Ordering::SeqCst)
    }
}

/// Version 2 of the order history: totals in cents.
pub struct OrderHistoryInCents;

/// The test projections are the order history under its own name, selector and tables.
macro_rules! like_order_history {
    ($($projection:ty),*) => {$(
        impl Projection for $projection {
            fn name(&self) -> &str {
                OrderHistory.name()
            }
            fn selector(&self) -> Selector {
                OrderHistory.selector()
            }
            fn tables(&self) -> &[&str] {
                OrderHistory.tables()
            }
        }
    )*};
}
like_order_history!(Fragile, OrderHistoryInCents);

impl SqlProjection for Fragile {
    fn create(&self, tx: &Transaction<'_>, tables: &Tables) -> rusqlite::Result<()> {
        SqlProjection::create(&OrderHistory, tx, tables)
    }
    fn apply(&self, tx: &Transaction<'_>, tables: &Tables, event: &RecordedEvent) -> Result<(), BoxError> {
        if self.refuses(event) {
            return Err("poisoned".into());
        }
        SqlProjection::apply(&OrderHistory, tx, tables, event)
    }
}

impl SqlProjection for OrderHistoryInCents {
    fn create(&self, tx: &Transaction<'_>, tables: &Tables) -> rusqlite::Result<()> {
        SqlProjection::create(&OrderHistory, tx, tables)
    }
    fn apply(&self, tx: &Transaction<'_>, tables: &Tables, event: &RecordedEvent) -> Result<(), BoxError> {
        SqlProjection::apply(&OrderHistory, tx, tables, event)?;
        let table = tables.name("order_history");
        tx.execute(
            &format!("UPDATE \"{table}\" SET total = total * 100 WHERE order_id = ?1 AND events = 1"),
            [&event.stream],
        )?;
        Ok(())
    }
}

// Not every suite that includes this module uses the PostgreSQL half.
#[cfg(feature = "postgres")]
#[allow(unused_imports)]
pub use pg::*;

#[cfg(feature = "postgres")]
mod pg {
    use std::future::Future;

    use skald_projections::PgProjection;
    use tokio_postgres::Transaction;

    use super::*;

    #[async_trait::async_trait]
    impl PgProjection for Fragile {
        async fn create(&self, tx: &Transaction<'_>, tables: &Tables) -> Result<(), tokio_postgres::Error> {
            PgProjection::create(&OrderHistory, tx, tables).await
        }
        async fn apply(&self, tx: &Transaction<'_>, tables: &Tables, event: &RecordedEvent) -> Result<(), BoxError> {
            if self.refuses(event) {
                return Err("poisoned".into());
            }
            PgProjection::apply(&OrderHistory, tx, tables, event).await
        }
    }

    #[async_trait::async_trait]
    impl PgProjection for OrderHistoryInCents {
        async fn create(&self, tx: &Transaction<'_>, tables: &Tables) -> Result<(), tokio_postgres::Error> {
            PgProjection::create(&OrderHistory, tx, tables).await
        }
        async fn apply(&self, tx: &Transaction<'_>, tables: &Tables, event: &RecordedEvent) -> Result<(), BoxError> {
            PgProjection::apply(&OrderHistory, tx, tables, event).await?;
            let table = tables.name("order_history");
            let sql = format!("UPDATE \"{table}\" SET total = total * 100 WHERE order_id = $1 AND events = 1");
            tx.execute(&sql, &[&event.stream]).await?;
            Ok(())
        }
    }

    /// Runs `body(url, schema)` with a fresh schema for the read model, dropped afterwards (also
    /// when `body` panics). Skips when no database is configured; an unreachable one fails.
    pub async fn with_schema<F, Fut>(body: F)
    where
        F: FnOnce(String, String) -> Fut,
        Fut: Future<Output = ()>,
    {
        skald_testkit::with_postgres_schema(body).await;
    }

    /// A connection of the test's own, as a reader of the read model would have.
    pub async fn client(url: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        client
    }
}
