//! [`SqliteRunner`]: a projection into SQLite, checkpointed in the same transaction.
//!
//! Tables: the projection's own, plus [`CHECKPOINT_TABLE`] (`projection TEXT PRIMARY KEY,
//! position INTEGER`): the position of the last event applied. Each page of events is applied and
//! the checkpoint moved in one transaction, so a crash can only lose a whole page, which is then
//! read again — never applied twice.
//!
//! A rebuild writes into shadow tables (`<table>__rebuild`) while the live tables stay readable,
//! catches up with the log, then drops the live tables and renames the shadows in one transaction.
//! Paging, progress, following and the rebuild's steps are [`crate::runner`]'s.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, Transaction};
use skald_core::{EventStore, RecordedEvent};

use crate::runner::{
    self, BoxError, Checkpointed, Progress, Projection, Rebuildable, Source, Tables, Target, CHECKPOINT_TABLE,
};
use crate::ProjectionError;

/// How a [`Projection`] creates and writes its tables in SQLite.
pub trait SqlProjection: Projection {
    /// Creates its tables, named through `tables`.
    fn create(&self, tx: &Transaction<'_>, tables: &Tables) -> rusqlite::Result<()>;

    /// Applies one event. An error rolls back the whole page it is in, checkpoint included.
    fn apply(&self, tx: &Transaction<'_>, tables: &Tables, event: &RecordedEvent) -> Result<(), BoxError>;
}

/// Runs one [`SqlProjection`] against an event store.
pub struct SqliteRunner<P: SqlProjection> {
    source: Source,
    conn: Connection,
    projection: P,
}

impl<P: SqlProjection> SqliteRunner<P> {
    /// Opens (or creates) the read model database at `path` and the projection's tables.
    pub fn open(store: Arc<dyn EventStore>, path: &Path, projection: P) -> Result<Self, ProjectionError> {
        let conn = Connection::open(path)?;
        // WAL lets readers query the live tables while a rebuild writes; FULL makes commits durable.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        Self::setup(store, conn, projection)
    }

    /// A read model in memory (tests, examples).
    pub fn open_in_memory(store: Arc<dyn EventStore>, projection: P) -> Result<Self, ProjectionError> {
        Self::setup(store, Connection::open_in_memory()?, projection)
    }

    fn setup(store: Arc<dyn EventStore>, mut conn: Connection, projection: P) -> Result<Self, ProjectionError> {
        let source = Source::new(store, projection.name(), projection.selector())?;
        let tx = conn.transaction()?;
        tx.execute(
            &format!("CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (projection TEXT PRIMARY KEY, position INTEGER)"),
            [],
        )?;
        let known: Option<Option<i64>> = tx
            .query_row(
                &format!("SELECT position FROM {CHECKPOINT_TABLE} WHERE projection = ?1"),
                [projection.name()],
                |r| r.get(0),
            )
            .optional()?;
        if known.is_none() {
            projection.create(&tx, &Tables::LIVE)?;
            tx.execute(
                &format!("INSERT INTO {CHECKPOINT_TABLE} (projection, position) VALUES (?1, NULL)"),
                [projection.name()],
            )?;
        }
        tx.commit()?;
        Ok(SqliteRunner { source, conn, projection })
    }

    /// The database, for queries.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The position of the last event applied to the live tables.
    pub fn checkpoint(&self) -> Result<Option<u64>, ProjectionError> {
        read_checkpoint(&self.conn, self.projection.name())
    }

    /// Applies every stored event after the checkpoint; returns how many.
    pub async fn catch_up(&mut self) -> Result<u64, ProjectionError> {
        self.catch_up_with_progress(|_| {}).await
    }

    /// [`Self::catch_up`], calling `progress` after every page.
    pub async fn catch_up_with_progress(&mut self, progress: impl FnMut(Progress)) -> Result<u64, ProjectionError> {
        let name = self.projection.name().to_owned();
        runner::catch_up(self, Target::live(&name), progress).await
    }

    /// Catches up, then applies live events as they are committed, until `stop` completes.
    pub async fn run(&mut self, stop: impl std::future::Future<Output = ()>) -> Result<(), ProjectionError> {
        runner::follow(self, stop).await
    }

    /// Rebuilds the read model from the first event into shadow tables, then replaces the live
    /// tables with them in one transaction. Readers see the old model until the switch.
    pub async fn rebuild(&mut self, progress: impl FnMut(Progress)) -> Result<u64, ProjectionError> {
        runner::rebuild(self, progress).await
    }
}

impl<P: SqlProjection> Checkpointed for SqliteRunner<P> {
    fn source(&self) -> &Source {
        &self.source
    }

    async fn checkpoint_of(&mut self, key: &str) -> Result<Option<u64>, ProjectionError> {
        read_checkpoint(&self.conn, key)
    }

    async fn apply_page(
        &mut self,
        target: Target<'_>,
        after: Option<u64>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let Some(last) = events.last() else { return Ok(()) };
        let tx = self.conn.transaction()?;
        for event in events {
            self.projection
                .apply(&tx, &target.tables, event)
                .map_err(|error| self.source.handler_error(event.position, error))?;
        }
        // SQLite lets one writer in at a time, so checking the old position here is enough.
        let moved = tx.execute(
            &format!("UPDATE {CHECKPOINT_TABLE} SET position = ?2 WHERE projection = ?1 AND position IS ?3"),
            rusqlite::params![target.key, sql_position(last.position), after.map(sql_position)],
        )?;
        if moved != 1 {
            return Err(self.source.checkpoint_moved(after));
        }
        tx.commit()?;
        Ok(())
    }
}

impl<P: SqlProjection> Rebuildable for SqliteRunner<P> {
    async fn prepare_rebuild(&mut self, shadow: &str) -> Result<(), ProjectionError> {
        let tx = self.conn.transaction()?;
        for table in self.projection.tables() {
            tx.execute(&format!("DROP TABLE IF EXISTS \"{}\"", Tables::REBUILD.name(table)), [])?;
        }
        self.projection.create(&tx, &Tables::REBUILD)?;
        tx.execute(
            &format!("INSERT OR REPLACE INTO {CHECKPOINT_TABLE} (projection, position) VALUES (?1, NULL)"),
            [shadow],
        )?;
        tx.commit()?;
        Ok(())
    }

    async fn switch(&mut self, shadow: &str) -> Result<(), ProjectionError> {
        let tx = self.conn.transaction()?;
        let position = read_checkpoint(&tx, shadow)?;
        for table in self.projection.tables() {
            tx.execute(&format!("DROP TABLE IF EXISTS \"{table}\""), [])?;
            tx.execute(&format!("ALTER TABLE \"{}\" RENAME TO \"{table}\"", Tables::REBUILD.name(table)), [])?;
        }
        tx.execute(
            &format!("UPDATE {CHECKPOINT_TABLE} SET position = ?2 WHERE projection = ?1"),
            rusqlite::params![self.projection.name(), position.map(sql_position)],
        )?;
        tx.execute(&format!("DELETE FROM {CHECKPOINT_TABLE} WHERE projection = ?1"), [shadow])?;
        tx.commit()?;
        Ok(())
    }
}

fn read_checkpoint(conn: &Connection, key: &str) -> Result<Option<u64>, ProjectionError> {
    let position: Option<Option<i64>> = conn
        .query_row(&format!("SELECT position FROM {CHECKPOINT_TABLE} WHERE projection = ?1"), [key], |r| r.get(0))
        .optional()?;
    Ok(position.flatten().map(|p| p as u64))
}

/// A position as SQL stores integers (SQLite's `INTEGER`, PostgreSQL's `int8`; positions stay far
/// below 2^63).
pub(crate) fn sql_position(position: u64) -> i64 {
    i64::try_from(position).expect("positions stay below 2^63")
}
