//! CQRS read models: projections that turn events into a queryable model, with checkpoints.
//!
//! This crate owns the read side of Skald. A projection is a function from events to writes in a
//! read model; the runners here feed it from any [`EventStore`](skald_core::EventStore) and keep
//! track of how far it got:
//!
//! - [`SqliteRunner`] runs a [`SqlProjection`] into a SQLite database and commits the read-model
//!   writes and the checkpoint **in one transaction**, so after any crash the model and its
//!   checkpoint agree: no event is applied twice, none is skipped. It rebuilds from zero beside the
//!   live tables and switches over atomically ([`SqliteRunner::rebuild`]).
//! - [`IdempotentRunner`] runs an [`IdempotentHandler`] against any other store. Its checkpoint is
//!   an event in `$proj-<name>`, written after the handler succeeded, so delivery is at least once:
//!   the handler must tolerate seeing an event again (upsert by event id or position).
//!
//! [`examples::OrderHistory`] is a worked read model with its tests.
//!
//! ```
//! use std::sync::Arc;
//! use skald_core::{EventStore, MemoryStore, NewEvent, StreamAppend};
//! use skald_projections::{examples::OrderHistory, SqliteRunner};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let placed = NewEvent::new("OrderPlaced", serde_json::json!({"total": 12.5}));
//! store.append(vec![StreamAppend::new("order-1", vec![placed])]).await?;
//! let mut runner = SqliteRunner::open_in_memory(store.clone(), OrderHistory)?;
//! runner.catch_up().await?;
//! let status: String = runner.connection().query_row(
//!     "SELECT status FROM order_history WHERE order_id = 'order-1'", [], |row| row.get(0))?;
//! assert_eq!(status, "placed");
//! # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

pub mod examples;
mod idempotent;
mod live;
mod sqlite;

pub use idempotent::{IdempotentHandler, IdempotentRunner, CHECKPOINT_EVENT_TYPE, CHECKPOINT_STREAM_PREFIX};
pub use sqlite::{Progress, SqlProjection, SqliteRunner, Tables, CHECKPOINT_TABLE, PAGE_EVENTS};

/// Why a projection run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// Reading events or writing a checkpoint event failed.
    #[error("event store: {0}")]
    Store(#[from] skald_core::Error),
    /// The read model's database failed (or the projection's SQL did).
    #[error("read model database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The projection refused an event; the transaction holding it was rolled back.
    #[error("projection `{projection}` failed on the event at position {position}: {reason}")]
    Handler { projection: String, position: u64, reason: String },
    /// The projection's definition cannot run as asked.
    #[error("projection `{projection}`: {reason}")]
    Invalid { projection: String, reason: String },
}
