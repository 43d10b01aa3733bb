//! A worked read model: the history of every order, from the `order` category.
//!
//! Events (data fields used): `OrderPlaced {total}`, `OrderPaid`, `OrderShipped`,
//! `OrderCancelled {reason?}`. Other event types of the category only count towards `events`.

use rusqlite::{params, OptionalExtension, Transaction};
use skald_core::{RecordedEvent, Selector};

use crate::sqlite::{sql_position, SqlProjection, Tables};

/// One row per order: its status, total, how many events it had and when it last changed.
#[derive(Clone, Copy, Debug, Default)]
pub struct OrderHistory;

impl SqlProjection for OrderHistory {
    fn name(&self) -> &str {
        "order-history"
    }

    fn selector(&self) -> Selector {
        Selector::Category("order".into())
    }

    fn tables(&self) -> &[&str] {
        &["order_history"]
    }

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
                tables.name("order_history")
            ),
            [],
        )?;
        Ok(())
    }

    fn apply(
        &self,
        tx: &Transaction<'_>,
        tables: &Tables,
        event: &RecordedEvent,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let table = tables.name("order_history");
        let data = event.data.to_value();
        let status = match event.event_type.as_str() {
            "OrderPlaced" => Some("placed"),
            "OrderPaid" => Some("paid"),
            "OrderShipped" => Some("shipped"),
            "OrderCancelled" => Some("cancelled"),
            _ => None,
        };
        let known: Option<String> = tx
            .query_row(&format!("SELECT status FROM \"{table}\" WHERE order_id = ?1"), [&event.stream], |r| r.get(0))
            .optional()?;
        let at = event.timestamp.to_rfc3339();
        match (known, status) {
            (None, Some("placed")) => {
                let total = data["total"].as_f64();
                tx.execute(
                    &format!("INSERT INTO \"{table}\" VALUES (?1, 'placed', ?2, 1, ?3, ?4)"),
                    params![event.stream, total, sql_position(event.position), at],
                )?;
            }
            (None, _) => {
                return Err(format!("`{}` for order `{}` before any OrderPlaced", event.event_type, event.stream).into())
            }
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
