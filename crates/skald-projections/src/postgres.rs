//! [`PgRunner`] (feature `postgres`): a projection into a PostgreSQL schema, checkpointed in the
//! same transaction.
//!
//! The read model lives in a schema of the caller's choosing, in any database: it has nothing to
//! do with where the events come from (any [`EventStore`]: embedded, memory or PostgreSQL). The
//! schema holds the projection's tables and [`CHECKPOINT_TABLE`] (`projection text PRIMARY KEY,
//! position int8`). The runner's session has `search_path` set to the schema, so a projection's
//! SQL names its tables bare (through [`Tables::name`]).
//!
//! Each page of events is one transaction that first moves the checkpoint — only from the position
//! this runner read, which also row-locks it — then applies the events. A crash, a failed event or
//! a lost connection rolls back the page and its checkpoint together; a second runner of the same
//! projection waits on the lock and then finds the checkpoint moved
//! ([`ProjectionError::CheckpointMoved`]) instead of applying the page again.
//!
//! A rebuild writes into shadow tables (`<table>__rebuild`) while readers keep the live ones, then
//! switches in one transaction: drop the live tables, rename the shadows (and their indexes, so the
//! next rebuild's names are free), move the live checkpoint. PostgreSQL's DDL is transactional, so
//! readers see the old model or the new one, never a mix. The switch waits for readers' locks at
//! most [`SWITCH_LOCK_WAIT_MAX`] per attempt, so a long query cannot queue every other reader behind it.
//! Paging, progress, following and the rebuild's steps are [`crate::runner`]'s.

use std::error::Error as _;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use skald_core::{EventStore, RecordedEvent};
use tokio_postgres::{Client, Config, NoTls, Transaction};

use crate::runner::REBUILD_SUFFIX;
use crate::runner::{self, BoxError, Checkpointed, Progress, Projection, Rebuildable, Source, Tables, Target};
use crate::sqlite::sql_position;
use crate::{ProjectionError, CHECKPOINT_TABLE};

/// How a [`Projection`] creates and writes its tables in PostgreSQL.
#[async_trait::async_trait]
pub trait PgProjection: Projection {
    /// Creates its tables, named through `tables` (unqualified: the session's `search_path` is the
    /// runner's schema).
    async fn create(&self, tx: &Transaction<'_>, tables: &Tables) -> Result<(), tokio_postgres::Error>;

    /// Applies one event. An error rolls back the whole page it is in, checkpoint included.
    async fn apply(&self, tx: &Transaction<'_>, tables: &Tables, event: &RecordedEvent) -> Result<(), BoxError>;
}

/// How long connecting may take when the URL does not say.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one attempt of a rebuild's switch waits for readers' locks on the live tables.
pub const SWITCH_LOCK_WAIT_MAX: Duration = Duration::from_secs(2);
/// Attempts of a rebuild's switch before it gives up with the lock timeout's error (the live model
/// is unchanged; the shadow tables stay for the next rebuild to drop).
const SWITCH_ATTEMPTS_MAX: u32 = 30;
/// Longest schema name PostgreSQL keeps (`NAMEDATALEN - 1`).
const SCHEMA_NAME_BYTES_MAX: usize = 63;
/// First key of the advisory lock that serialises setting up one schema ("Sklp").
const SETUP_LOCK_CLASS: i32 = 0x536b_6c70;
/// SQLSTATE `lock_not_available`: `lock_timeout` ran out.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Runs one [`PgProjection`] against an event store, into one PostgreSQL schema.
///
/// ```no_run
/// use std::sync::Arc;
/// use skald_core::MemoryStore;
/// use skald_projections::{examples::OrderHistory, PgRunner};
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let store = Arc::new(MemoryStore::new());
/// let url = "postgres://postgres@127.0.0.1:5432/app";
/// let mut runner = PgRunner::connect(store, url, "read_models", OrderHistory).await?;
/// runner.catch_up().await?;
/// let sql = "SELECT status FROM order_history WHERE order_id = 'order-1'";
/// let status: Option<String> = runner.client().query_opt(sql, &[]).await?.map(|row| row.get(0));
/// # Ok(()) }
/// ```
pub struct PgRunner<P: PgProjection> {
    source: Source,
    config: Config,
    schema: String,
    /// `"<schema>".skald_projection_checkpoints`.
    checkpoints: String,
    client: Client,
    projection: P,
}

impl<P: PgProjection> PgRunner<P> {
    /// Connects to `url`, creates `schema` (lower-case letters, digits and `_`) and the checkpoint
    /// table if missing, and the projection's tables the first time it runs there.
    pub async fn connect(
        store: Arc<dyn EventStore>,
        url: &str,
        schema: &str,
        projection: P,
    ) -> Result<Self, ProjectionError> {
        let source = Source::new(store, projection.name(), projection.selector())?;
        validate_schema(projection.name(), schema)?;
        let mut config = Config::from_str(url)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            // Lets an operator find the runners' sessions in pg_stat_activity.
            config.application_name(format!("skald-projection:{schema}"));
        }
        let client = session(&config, schema).await?;
        let checkpoints = format!("{}.{CHECKPOINT_TABLE}", quoted(schema));
        let mut runner = PgRunner { source, config, schema: schema.to_owned(), checkpoints, client, projection };
        runner.setup().await?;
        Ok(runner)
    }

    async fn setup(&mut self) -> Result<(), ProjectionError> {
        let tx = self.client.transaction().await?;
        // Two runners starting at once would race on CREATE … IF NOT EXISTS (which can fail on a
        // unique catalog index); one at a time per schema.
        tx.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", &[&SETUP_LOCK_CLASS, &self.schema]).await?;
        // Only when missing: CREATE SCHEMA asks for the database's CREATE privilege even with
        // IF NOT EXISTS, which a runner given a schema of its own need not have.
        let exists: bool = tx.query_one("SELECT to_regnamespace($1) IS NOT NULL", &[&self.schema]).await?.try_get(0)?;
        if !exists {
            tx.batch_execute(&format!("CREATE SCHEMA {}", quoted(&self.schema))).await?;
        }
        let sql =
            format!("CREATE TABLE IF NOT EXISTS {} (projection text PRIMARY KEY, position int8)", self.checkpoints);
        tx.batch_execute(&sql).await?;
        let sql = format!("INSERT INTO {} VALUES ($1, NULL) ON CONFLICT (projection) DO NOTHING", self.checkpoints);
        if tx.execute(&sql, &[&self.projection.name()]).await? == 1 {
            self.projection.create(&tx, &Tables::LIVE).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The runner's session (its `search_path` is the schema), for queries between runs. After a
    /// lost connection the runner opens a new one at its next page.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The schema holding the read model.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The position of the last event applied to the live tables.
    pub async fn checkpoint(&mut self) -> Result<Option<u64>, ProjectionError> {
        let name = self.projection.name().to_owned();
        self.checkpoint_of(&name).await
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
    pub async fn run(&mut self, stop: impl Future<Output = ()>) -> Result<(), ProjectionError> {
        runner::follow(self, stop).await
    }

    /// Rebuilds the read model from the first event into shadow tables, then replaces the live
    /// tables with them in one transaction. Readers see the old model until the switch.
    pub async fn rebuild(&mut self, progress: impl FnMut(Progress)) -> Result<u64, ProjectionError> {
        runner::rebuild(self, progress).await
    }

    /// Opens a new session if the last one was lost (PostgreSQL restarted, the network broke).
    async fn reconnect_if_closed(&mut self) -> Result<(), ProjectionError> {
        if self.client.is_closed() {
            tracing::info!(projection = self.projection.name(), "reconnecting to the read model's database");
            self.client = session(&self.config, &self.schema).await?;
        }
        Ok(())
    }

    /// One attempt of the switch, giving up (rolled back) when readers hold the live tables
    /// longer than [`SWITCH_LOCK_WAIT_MAX`].
    async fn try_switch(&mut self, shadow: &str) -> Result<(), tokio_postgres::Error> {
        let tx = self.client.transaction().await?;
        tx.batch_execute(&format!("SET LOCAL lock_timeout = {}", SWITCH_LOCK_WAIT_MAX.as_millis())).await?;
        let sql = format!("SELECT position FROM {} WHERE projection = $1 FOR UPDATE", self.checkpoints);
        let position: Option<i64> = tx.query_one(&sql, &[&shadow]).await?.try_get(0)?;
        // The live checkpoint's row first: a page a runner is applying to the live tables ends
        // before the switch goes on, and that runner's next page finds the checkpoint moved.
        let sql = format!("UPDATE {} SET position = $2 WHERE projection = $1", self.checkpoints);
        tx.execute(&sql, &[&self.projection.name(), &position]).await?;
        for table in self.projection.tables() {
            switch_table(&tx, &self.schema, table).await?;
        }
        tx.execute(&format!("DELETE FROM {} WHERE projection = $1", self.checkpoints), &[&shadow]).await?;
        tx.commit().await
    }
}

impl<P: PgProjection> Checkpointed for PgRunner<P> {
    fn source(&self) -> &Source {
        &self.source
    }

    async fn checkpoint_of(&mut self, key: &str) -> Result<Option<u64>, ProjectionError> {
        self.reconnect_if_closed().await?;
        let sql = format!("SELECT position FROM {} WHERE projection = $1", self.checkpoints);
        let row = self.client.query_opt(&sql, &[&key]).await?;
        let position: Option<i64> = match row {
            Some(row) => row.try_get(0)?,
            None => None,
        };
        Ok(position.map(|p| p as u64))
    }

    async fn apply_page(
        &mut self,
        target: Target<'_>,
        after: Option<u64>,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let Some(last) = events.last() else { return Ok(()) };
        self.reconnect_if_closed().await?;
        let tx = self.client.transaction().await?;
        // The checkpoint first: its row lock keeps a second runner of this projection out until
        // this page commits, and the condition sends that runner away afterwards.
        let sql = format!(
            "UPDATE {} SET position = $2 WHERE projection = $1 AND position IS NOT DISTINCT FROM $3",
            self.checkpoints
        );
        let moved = tx.execute(&sql, &[&target.key, &sql_position(last.position), &after.map(sql_position)]).await?;
        if moved != 1 {
            return Err(self.source.checkpoint_moved(after));
        }
        for event in events {
            self.projection
                .apply(&tx, &target.tables, event)
                .await
                .map_err(|error| self.source.handler_error(event.position, error))?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl<P: PgProjection> Rebuildable for PgRunner<P> {
    async fn prepare_rebuild(&mut self, shadow: &str) -> Result<(), ProjectionError> {
        self.reconnect_if_closed().await?;
        let tx = self.client.transaction().await?;
        for table in self.projection.tables() {
            let sql = format!("DROP TABLE IF EXISTS {}.{}", quoted(&self.schema), quoted(&Tables::REBUILD.name(table)));
            tx.batch_execute(&sql).await?;
        }
        self.projection.create(&tx, &Tables::REBUILD).await?;
        let sql = format!(
            "INSERT INTO {} VALUES ($1, NULL) ON CONFLICT (projection) DO UPDATE SET position = NULL",
            self.checkpoints
        );
        tx.execute(&sql, &[&shadow]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn switch(&mut self, shadow: &str) -> Result<(), ProjectionError> {
        let mut attempt = 1;
        loop {
            self.reconnect_if_closed().await?;
            match self.try_switch(shadow).await {
                Err(error) if is_lock_timeout(&error) && attempt < SWITCH_ATTEMPTS_MAX => {
                    tracing::warn!(
                        projection = self.projection.name(),
                        attempt,
                        "readers held the live tables; switching again"
                    );
                    tokio::time::sleep(SWITCH_LOCK_WAIT_MAX / 4).await;
                    attempt += 1;
                }
                outcome => return Ok(outcome?),
            }
        }
    }
}

/// Whether `lock_timeout` ran out (the statement was cancelled, its transaction rolled back).
fn is_lock_timeout(error: &tokio_postgres::Error) -> bool {
    error.code().is_some_and(|code| code.code() == LOCK_NOT_AVAILABLE)
}

/// Replaces live `table` with its shadow, and renames the shadow's indexes (`<table>__rebuild_pkey`
/// → `<table>_pkey`): the names the dropped table's indexes had, which the next rebuild's shadow
/// would otherwise find taken.
async fn switch_table(tx: &Transaction<'_>, schema: &str, table: &str) -> Result<(), tokio_postgres::Error> {
    let live = format!("{}.{}", quoted(schema), quoted(table));
    let shadow = format!("{}.{}", quoted(schema), quoted(&Tables::REBUILD.name(table)));
    tx.batch_execute(&format!("DROP TABLE IF EXISTS {live}; ALTER TABLE {shadow} RENAME TO {}", quoted(table))).await?;
    let sql = "SELECT c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
               WHERE i.indrelid = $1::text::regclass";
    for index in tx.query(sql, &[&live]).await? {
        let name: String = index.try_get(0)?;
        if name.contains(REBUILD_SUFFIX) {
            let renamed = name.replacen(REBUILD_SUFFIX, "", 1);
            let sql = format!("ALTER INDEX {}.{} RENAME TO {}", quoted(schema), quoted(&name), quoted(&renamed));
            tx.batch_execute(&sql).await?;
        }
    }
    Ok(())
}

/// Connects a session, drives it in a task, and points its `search_path` at `schema`.
async fn session(config: &Config, schema: &str) -> Result<Client, ProjectionError> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(error = %describe(&error), "a read model's PostgreSQL session ended");
        }
    });
    client.batch_execute(&format!("SET search_path TO {}", quoted(schema))).await?;
    Ok(client)
}

/// Checks a schema name: lower-case ASCII letters, digits and `_`, not starting with a digit —
/// strict because it is spliced into SQL, and so that the name typed into `psql` is the name used.
fn validate_schema(projection: &str, schema: &str) -> Result<(), ProjectionError> {
    let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let starts_well = schema.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    if !starts_well || schema.len() > SCHEMA_NAME_BYTES_MAX || !schema.chars().all(valid_char) {
        return Err(ProjectionError::Invalid {
            projection: projection.to_owned(),
            reason: format!(
                "schema name `{}` must be 1..={SCHEMA_NAME_BYTES_MAX} characters of a-z, 0-9 and _, not starting with \
                 a digit",
                schema.escape_debug()
            ),
        });
    }
    Ok(())
}

/// `name` as a quoted SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The error's text with its cause (tokio-postgres keeps the useful part in the source).
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match error.source() {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}
