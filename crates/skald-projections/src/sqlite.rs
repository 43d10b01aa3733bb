//! [`SqliteRunner`]: a projection into SQLite, checkpointed in the same transaction.
//!
//! Tables: the projection's own, plus [`CHECKPOINT_TABLE`] (`projection TEXT PRIMARY KEY,
//! position INTEGER`): the position of the last event applied. Each page of events is applied and
//! the checkpoint moved in one transaction, so a crash can only lose a whole page, which is then
//! read again — never applied twice.
//!
//! A rebuild writes into shadow tables (`<table>__rebuild`) while the live tables stay readable,
//! catches up with the log, then drops the live tables and renames the shadows in one transaction.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, Transaction};
use skald_core::{EventStore, ReadOptions, RecordedEvent, Selector, SubscribeFrom};

use crate::ProjectionError;

/// The table holding every projection's checkpoint.
pub const CHECKPOINT_TABLE: &str = "skald_projection_checkpoints";
/// Events read and applied per transaction.
pub const PAGE_EVENTS: usize = 1000;
/// Suffix of the shadow tables a rebuild writes.
const REBUILD_SUFFIX: &str = "__rebuild";

/// The table names a projection writes to: the live ones, or the shadows during a rebuild.
#[derive(Clone, Copy, Debug)]
pub struct Tables {
    suffix: &'static str,
}

impl Tables {
    const LIVE: Tables = Tables { suffix: "" };
    const REBUILD: Tables = Tables { suffix: REBUILD_SUFFIX };

    /// The name to use for `table` (quote it in SQL if it needs quoting).
    pub fn name(&self, table: &str) -> String {
        format!("{table}{}", self.suffix)
    }
}

/// A read model kept in SQLite.
pub trait SqlProjection: Send + Sync + 'static {
    /// A stable name: the checkpoint's key.
    fn name(&self) -> &str;

    /// The events it reads: the whole log, a category or an event type.
    fn selector(&self) -> Selector;

    /// The tables it owns (without suffix), so a rebuild can swap them.
    fn tables(&self) -> &[&str];

    /// Creates its tables, named through `tables`.
    fn create(&self, tx: &Transaction<'_>, tables: &Tables) -> rusqlite::Result<()>;

    /// Applies one event. An error rolls back the whole page it is in, checkpoint included.
    fn apply(
        &self,
        tx: &Transaction<'_>,
        tables: &Tables,
        event: &RecordedEvent,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// How far a rebuild got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Events applied so far.
    pub applied: u64,
    /// Position of the last event applied.
    pub position: Option<u64>,
    /// The log's head when the page was read.
    pub head: Option<u64>,
}

/// Runs one [`SqlProjection`] against an event store.
pub struct SqliteRunner<P: SqlProjection> {
    store: Arc<dyn EventStore>,
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
        if matches!(projection.selector(), Selector::Stream(_)) {
            return Err(ProjectionError::Invalid {
                projection: projection.name().to_owned(),
                reason: "a projection reads the whole log, a category or a type; for one stream use its category"
                    .into(),
            });
        }
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
        Ok(SqliteRunner { store, conn, projection })
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
        self.apply_until_end(&name, Tables::LIVE, progress).await
    }

    /// Catches up, then applies live events as they are committed, until `stop` completes.
    pub async fn run(&mut self, stop: impl std::future::Future<Output = ()>) -> Result<(), ProjectionError> {
        self.catch_up().await?;
        let from = self.checkpoint()?.map_or(SubscribeFrom::Start, |p| SubscribeFrom::Position(p + 1));
        let mut live = self.store.subscribe(self.projection.selector(), from);
        tokio::pin!(stop);
        let name = self.projection.name().to_owned();
        while let Some(page) = crate::live::next_burst(&mut live, &mut stop).await {
            let page = page?;
            apply_page(&mut self.conn, &self.projection, &name, &Tables::LIVE, &page)?;
        }
        Ok(())
    }

    /// Rebuilds the read model from the first event into shadow tables, then replaces the live
    /// tables with them in one transaction. Readers see the old model until the switch.
    pub async fn rebuild(&mut self, mut progress: impl FnMut(Progress)) -> Result<u64, ProjectionError> {
        let shadow = format!("{}{REBUILD_SUFFIX}", self.projection.name());
        {
            let tx = self.conn.transaction()?;
            for table in self.projection.tables() {
                tx.execute(&format!("DROP TABLE IF EXISTS \"{}\"", Tables::REBUILD.name(table)), [])?;
            }
            self.projection.create(&tx, &Tables::REBUILD)?;
            tx.execute(
                &format!("INSERT OR REPLACE INTO {CHECKPOINT_TABLE} (projection, position) VALUES (?1, NULL)"),
                [&shadow],
            )?;
            tx.commit()?;
        }
        let applied = self.apply_until_end(&shadow, Tables::REBUILD, &mut progress).await?;
        let tx = self.conn.transaction()?;
        let position = read_checkpoint(&tx, &shadow)?;
        for table in self.projection.tables() {
            tx.execute(&format!("DROP TABLE IF EXISTS \"{table}\""), [])?;
            tx.execute(&format!("ALTER TABLE \"{}\" RENAME TO \"{table}\"", Tables::REBUILD.name(table)), [])?;
        }
        tx.execute(
            &format!("UPDATE {CHECKPOINT_TABLE} SET position = ?2 WHERE projection = ?1"),
            rusqlite::params![self.projection.name(), position.map(sql_position)],
        )?;
        tx.execute(&format!("DELETE FROM {CHECKPOINT_TABLE} WHERE projection = ?1"), [&shadow])?;
        tx.commit()?;
        tracing::info!(projection = self.projection.name(), applied, "rebuilt and switched over");
        Ok(applied)
    }

    /// Reads pages after the checkpoint `key` and applies them to `tables` until the end of the log.
    async fn apply_until_end(
        &mut self,
        key: &str,
        tables: Tables,
        mut progress: impl FnMut(Progress),
    ) -> Result<u64, ProjectionError> {
        let selector = self.projection.selector();
        let mut applied = 0u64;
        let mut from = read_checkpoint(&self.conn, key)?.map_or(0, |p| p + 1);
        loop {
            let page = self.store.read(&selector, ReadOptions::forward(from, PAGE_EVENTS)).await?;
            if let Some(last) = page.events.last() {
                apply_page(&mut self.conn, &self.projection, key, &tables, &page.events)?;
                applied += page.events.len() as u64;
                progress(Progress { applied, position: Some(last.position), head: self.store.head_position() });
            }
            match page.next {
                Some(next) => from = next,
                None => return Ok(applied),
            }
        }
    }
}

fn read_checkpoint(conn: &Connection, key: &str) -> Result<Option<u64>, ProjectionError> {
    let position: Option<Option<i64>> = conn
        .query_row(&format!("SELECT position FROM {CHECKPOINT_TABLE} WHERE projection = ?1"), [key], |r| r.get(0))
        .optional()?;
    Ok(position.flatten().map(|p| p as u64))
}

/// A position as SQLite stores integers (positions stay far below 2^63).
pub(crate) fn sql_position(position: u64) -> i64 {
    i64::try_from(position).expect("positions stay below 2^63")
}

/// Applies events and moves the checkpoint `key` in one transaction.
fn apply_page<P: SqlProjection>(
    conn: &mut Connection,
    projection: &P,
    key: &str,
    tables: &Tables,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    let Some(last) = events.last() else { return Ok(()) };
    let tx = conn.transaction()?;
    for event in events {
        projection.apply(&tx, tables, event).map_err(|error| ProjectionError::Handler {
            projection: projection.name().to_owned(),
            position: event.position,
            reason: error.to_string(),
        })?;
    }
    tx.execute(
        &format!("UPDATE {CHECKPOINT_TABLE} SET position = ?2 WHERE projection = ?1"),
        rusqlite::params![key, sql_position(last.position)],
    )?;
    tx.commit()?;
    Ok(())
}
