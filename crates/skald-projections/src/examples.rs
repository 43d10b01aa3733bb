//! A worked read model: the history of every order, from the `order` category, in SQLite and
//! (with the `postgres` feature) in PostgreSQL — the same table and the same rules in both.
//!
//! Events (data fields used): `OrderPlaced {total}`, `OrderPaid`, `OrderShipped`,
//! `OrderCancelled {reason?}`. Other event types of the category only count towards `events`.

use rusqlite::{params, OptionalExtension, Transaction};
use skald_core::{RecordedEvent, Selector};

use crate::runner::{BoxError, Projection, Tables};
use crate::sqlite::{sql_position, SqlProjection};

/// One row per order: its status, total, how many events it had and when it last changed.
#[derive(Clone, Copy, Debug, Default)]
pub struct OrderHistory;

/// The one table of [`OrderHistory`].
const TABLE: &str = "order_history";

/// The status an event type sets, if any.
fn status_of(event: &RecordedEvent) -> Option<&'static str> {
    match event.event_type.as_str() {
        "OrderPlaced" => Some("placed"),
        "OrderPaid" => Some("paid"),
        "OrderShipped" => Some("shipped"),
        "OrderCancelled" => Some("cancelled"),
        _ => None,
    }
}

/// The refusal of an event for an order that was never placed.
fn not_placed(event: &RecordedEvent) -> BoxError {
    format!("`{}` for order `{}` before any OrderPlaced", event.event_type, event.stream).into()
}

impl Projection for OrderHistory {
    fn name(&self) -> &str {
        "order-history"
    }

    fn selector(&self) -> Selector {
        Selector::Category("order".into())
    }

    fn tables(&self) -> &[&str] {
        &[TABLE]
    }
}

impl SqlProjection for OrderHistory {
    fn create(&self, tx: &Transaction<'_>, tables: &Tables) -> rusqlite::Result<()> {
        tx.execute(
            &format!(
                "CREATE TABLE \"{}\" (
                    order_id TEXT PRIMARY KEY,
                    status TEXT NOT NULL,
                    total REAL,
                    events INTEGER NOT NULL,
                    last_position INTEGER NOT NULL,
                    updated_at TEXT NOT NULL
                )",
                tables.name(TABLE)
            ),
            [],
        )?;
        Ok(())
    }

    fn apply(&self, tx: &Transaction<'_>, tables: &Tables, event: &RecordedEvent) -> Result<(), BoxError> {
        let table = tables.name(TABLE);
        let status = status_of(event);
        let known: Option<String> = tx
            .query_row(&format!("SELECT status FROM \"{table}\" WHERE order_id = ?1"), [&event.stream], |r| r.get(0))
            .optional()?;
        let at = event.timestamp.to_rfc3339();
        match (known, status) {
            (None, Some("placed")) => {
                let total = event.data.to_value()["total"].as_f64();
                tx.execute(
                    &format!("INSERT INTO \"{table}\" VALUES (?1, 'placed', ?2, 1, ?3, ?4)"),
                    params![event.stream, total, sql_position(event.position), at],
                )?;
            }
            (None, _) => return Err(not_placed(event)),
            (Some(_), status) => {
                tx.execute(
                    &format!(
                        "UPDATE \"{table}\" SET status = coalesce(?2, status), events = events + 1, \
                         last_position = ?3, updated_at = ?4 WHERE order_id = ?1"
                    ),
                    params![event.stream, status, sql_position(event.position), at],
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(feature = "postgres")]
#[async_trait::async_trait]
impl crate::PgProjection for OrderHistory {
    async fn create(&self, tx: &tokio_postgres::Transaction<'_>, tables: &Tables) -> Result<(), tokio_postgres::Error> {
        let sql = format!(
            "CREATE TABLE \"{}\" (
                order_id text PRIMARY KEY,
                status text NOT NULL,
                total float8,
                events int8 NOT NULL,
                last_position int8 NOT NULL,
                updated_at text NOT NULL
            )",
            tables.name(TABLE)
        );
        tx.batch_execute(&sql).await
    }

    /// One statement per event, sent with its parameter types (`execute_typed`), so each event
    /// costs one round trip rather than a prepare and an execute.
    async fn apply(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        tables: &Tables,
        event: &RecordedEvent,
    ) -> Result<(), BoxError> {
        use tokio_postgres::types::Type;
        let table = tables.name(TABLE);
        let status = status_of(event);
        let position = sql_position(event.position);
        let at = event.timestamp.to_rfc3339();
        if status == Some("placed") {
            // Placed again: like any later event, it keeps the first total.
            let total = event.data.to_value()["total"].as_f64();
            let sql = format!(
                "INSERT INTO \"{table}\" AS t VALUES ($1, 'placed', $2, 1, $3, $4) ON CONFLICT (order_id) DO UPDATE \
                 SET status = 'placed', events = t.events + 1, last_position = $3, updated_at = $4"
            );
            let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 4] =
                [(&event.stream, Type::TEXT), (&total, Type::FLOAT8), (&position, Type::INT8), (&at, Type::TEXT)];
            tx.execute_typed(&sql, &params).await?;
        } else {
            let sql = format!(
                "UPDATE \"{table}\" SET status = coalesce($2, status), events = events + 1, last_position = $3, \
                 updated_at = $4 WHERE order_id = $1"
            );
            let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 4] =
                [(&event.stream, Type::TEXT), (&status, Type::TEXT), (&position, Type::INT8), (&at, Type::TEXT)];
            if tx.execute_typed(&sql, &params).await? == 0 {
                return Err(not_placed(event));
            }
        }
        Ok(())
    }
}
