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
//! - `PgRunner` (feature `postgres`) does the same for a `PgProjection` in a PostgreSQL schema of
//!   the caller's choosing, independent of where the events are stored: one PostgreSQL
//!   transaction per page holds the writes and the checkpoint; a rebuild's switch is one
//!   transaction of `DROP` and `RENAME`.
//! - [`IdempotentRunner`] runs an [`IdempotentHandler`] against any other store. Its checkpoint is
//!   an event in `$proj-<name>`, written after the handler succeeded, so delivery is at least once:
//!   the handler must tolerate seeing an event again (upsert by event id or position).
//!
//! A read model is a [`Projection`] (name, selector, tables) plus one dialect half per database it
//! can live in. The runners share one implementation of paging ([`PAGE_EVENTS`] per transaction),
//! progress, the catch-up-then-live loop and the rebuild's steps (`runner`); only their storage
//! differs. [`examples::OrderHistory`] is a worked read model for both SQL databases.
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
//!
//! The same model in PostgreSQL: see `PgRunner` (feature `postgres`).

pub mod examples;
mod idempotent;
mod live;
#[cfg(feature = "postgres")]
mod postgres;
mod runner;
mod sqlite;

pub use idempotent::{IdempotentHandler, IdempotentRunner, CHECKPOINT_EVENT_TYPE, CHECKPOINT_STREAM_PREFIX};
#[cfg(feature = "postgres")]
pub use postgres::{PgProjection, PgRunner, CONNECT_TIMEOUT, SWITCH_LOCK_WAIT_MAX};
pub use runner::{BoxError, Progress, Projection, Tables, CHECKPOINT_TABLE, PAGE_EVENTS};
pub use sqlite::{SqlProjection, SqliteRunner};

/// Why a projection run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProjectionError {
    /// Reading events or writing a checkpoint event failed.
    #[error("event store: {0}")]
    Store(#[from] skald_core::Error),
    /// The SQLite read model's database failed (or the projection's SQL did).
    #[error("read model database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The PostgreSQL read model's database failed: unreachable, lost, or refusing the runner's SQL.
    /// Nothing of the page in flight was kept unless its commit went through; the checkpoint in
    /// the database says which, and the next catch-up starts from it.
    #[cfg(feature = "postgres")]
    #[error("read model database (PostgreSQL): {}", postgres::describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The projection refused an event; the transaction holding it was rolled back.
    #[error("projection `{projection}` failed on the event at position {position}: {reason}")]
    Handler { projection: String, position: u64, reason: String },
    /// The checkpoint was no longer where this runner read it (another runner of the same
    /// projection, or a rebuild's switch, moved it); the page was rolled back, nothing applied twice.
    #[error("projection `{projection}`: its checkpoint moved away from {after:?} under this runner (another runner or a rebuild wrote it); the page was rolled back")]
    CheckpointMoved { projection: String, after: Option<u64> },
    /// The projection's definition cannot run as asked.
    #[error("projection `{projection}`: {reason}")]
    Invalid { projection: String, reason: String },
}
