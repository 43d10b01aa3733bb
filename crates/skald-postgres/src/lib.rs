//! Skald's PostgreSQL backend: [`PgStore`] implements [`skald_core::EventStore`] on one schema of
//! a PostgreSQL database, shared by any number of nodes.
//!
//! This crate owns the mapping of the event log onto PostgreSQL: the schema and its migrations
//! ([`schema`], `SCHEMA.md`), the group-committing writer task ([`writer`]), the read queries
//! ([`read`]), the LISTEN task that follows other nodes' commits ([`listener`]) and the mapping of
//! database failures onto Skald's errors ([`fail`]). It keeps the invariants of the embedded engine:
//!
//! - **Positions are global, gap-free and in commit order.** Every commit, from every node, takes
//!   one transaction-level advisory lock inside `skald_append` and draws its positions from a
//!   single counter row under it. The lock is released only after the commit is visible, so commit
//!   order is position order, a rolled-back transaction consumes no position, and any snapshot a
//!   reader takes holds a gap-free prefix of the log — the commit-order gap of sequence-based
//!   PostgreSQL event stores cannot happen.
//! - **One round trip per group commit.** Appends queue up (bounded); the writer sends every append
//!   waiting as one call of `skald_append` (arrays, binary parameters) in autocommit mode, so the
//!   lock is held for the server-side work and the commit's WAL flush only. Each append of a group
//!   is checked on its own: a wrong expected version refuses that append, not its neighbours.
//! - **The committed head is a `watch`**, moved by this node's commits and by `NOTIFY` from
//!   everyone's; subscriptions are [`skald_core::follow`] over it.
//! - **A lost database is `unavailable`, never a wrong answer.** The pools and the listener
//!   reconnect by themselves; an append whose commit outcome is unknown answers `unavailable`, and
//!   retrying it with the same ids is idempotent.
//!
//! ```no_run
//! use skald_core::{EventStore, NewEvent, StreamAppend};
//! use skald_postgres::{PgOptions, PgStore};
//! # async fn example() -> Result<(), skald_core::Error> {
//! let store = PgStore::connect(PgOptions::new("postgres://postgres@127.0.0.1:5432/test")).await?;
//! let placed = NewEvent::new("OrderPlaced", serde_json::json!({"total": 12}));
//! store.append(vec![StreamAppend::new("order-1", vec![placed])]).await?;
//! store.close().await;
//! # Ok(()) }
//! ```

pub mod fail;
pub mod listener;
pub mod membership;
pub mod read;
pub mod schema;
pub mod writer;

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use skald_core::{
    follow, validate_appends, validate_conditions, AppendOutcome, Error, EventStore, EventStream, ReadOptions,
    ReadPage, Selector, StreamAppend, StreamCondition, StreamInfo, StreamList, SubscribeFrom,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;

use crate::read::{Reader, Sql};

/// How long a group commit waits for the commit lock at most before its appends answer
/// `unavailable` (nothing of them is written; a retry is safe).
pub const COMMIT_LOCK_WAIT_MAX: Duration = Duration::from_secs(10);

/// How to connect a [`PgStore`].
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// `postgres://user@host:port/database` (or the `key=value` form).
    pub url: String,
    /// The schema holding the store's tables; created and migrated at connect.
    pub schema: String,
    /// Connections for reads at most (the writer and the listener have one each besides).
    pub pool_size: usize,
    /// Appends waiting for the writer at most; more are refused with `overloaded`.
    pub writer_queue_appends_max: usize,
    /// How long a connect, or a wait for a pooled connection, may take before `unavailable`.
    pub connect_timeout: Duration,
}

impl PgOptions {
    /// Defaults for `url`: schema `skald`, 8 read connections, 8,192 queued appends, 5 s timeouts.
    pub fn new(url: impl Into<String>) -> Self {
        PgOptions {
            url: url.into(),
            schema: "skald".into(),
            pool_size: 8,
            writer_queue_appends_max: 8192,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// Moves a committed-head watch forward (never back: notifications may arrive late or twice).
pub(crate) fn advance(committed: &watch::Sender<Option<u64>>, head: Option<u64>) {
    committed.send_if_modified(|current| {
        let newer = head > *current;
        if newer {
            *current = head;
        }
        newer
    });
}

struct Inner {
    sql: Arc<Sql>,
    pool: Pool,
    writer_pool: Pool,
    queue: Mutex<Option<mpsc::Sender<writer::Job>>>,
    tasks: tokio::sync::Mutex<Vec<JoinHandle<()>>>,
    committed: watch::Sender<Option<u64>>,
    stop: watch::Sender<bool>,
}

/// An [`EventStore`] on PostgreSQL. Cheap to clone; clones share one writer, pool and listener.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

/// Parses the URL (without echoing it: it may hold a password).
fn pg_config(url: &str) -> Result<tokio_postgres::Config, Error> {
    tokio_postgres::Config::from_str(url)
        .map_err(|error| Error::invalid("url", format!("not a PostgreSQL connection string: {error}")))
}

/// A pool of up to `size` connections made from `config`.
fn pool(config: tokio_postgres::Config, size: usize, timeout: Duration) -> Result<Pool, Error> {
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|error| Error::storage(format!("cannot build the connection pool: {error}")))
}

/// Connects once, outside any pool (migrations, `drop_schema`), driving the connection in a task.
async fn connect_once(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client, Error> {
    let (client, connection) = config.connect(NoTls).await.map_err(fail::from_pg)?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(error = %fail::describe(&error), "a one-off PostgreSQL connection ended");
        }
    });
    Ok(client)
}

impl PgStore {
    /// Connects, creates or migrates the schema, reads the committed head, and starts the writer
    /// and the listener.
    ///
    /// Fails with `unavailable` when PostgreSQL cannot be reached, and with `storage-error` when
    /// the schema was written by a newer Skald (the message names both versions).
    pub async fn connect(options: PgOptions) -> Result<PgStore, Error> {
        schema::validate_schema_name(&options.schema)?;
        let mut config = pg_config(&options.url)?;
        // Lets an operator (and the tests) find this store's sessions in pg_stat_activity.
        config.application_name(format!("skald:{}", options.schema)).connect_timeout(options.connect_timeout);
        let mut client = connect_once(&config).await?;
        schema::migrate(&mut client, &options.schema).await?;
        drop(client);

        let sql = Arc::new(Sql::new(&options.schema));
        let pool = pool(config.clone(), options.pool_size, options.connect_timeout)?;
        // An acknowledged append must survive a crash of PostgreSQL, whatever the server default;
        // and a commit lock held elsewhere (a stuck session) must not stall the writer for ever.
        let mut writer_config = config.clone();
        writer_config.options(format!("-c synchronous_commit=on -c lock_timeout={}", COMMIT_LOCK_WAIT_MAX.as_millis()));
        let writer_pool = pool_one(writer_config, options.connect_timeout)?;
        let committed = watch::Sender::new(None);
        let head = Reader { pool: &pool, sql: &sql, committed: &committed }.head().await?;
        advance(&committed, head);
        let (stop, stop_rx) = watch::channel(false);
        let (queue, jobs) = mpsc::channel(options.writer_queue_appends_max.max(1));
        let writer = writer::Writer {
            pool: writer_pool.clone(),
            sql: sql.clone(),
            committed: committed.clone(),
            heads: writer::HeadCache::default(),
        };
        let listener = listener::Listener {
            config,
            listen: format!("LISTEN {}", schema::quoted(&options.schema)),
            head_sql: sql.head.clone(),
            committed: committed.clone(),
            stop: stop_rx,
        };
        let tasks = vec![tokio::spawn(writer.run(jobs)), tokio::spawn(listener.run())];
        Ok(PgStore {
            inner: Arc::new(Inner {
                sql,
                pool,
                writer_pool,
                queue: Mutex::new(Some(queue)),
                tasks: tokio::sync::Mutex::new(tasks),
                committed,
                stop,
            }),
        })
    }

    /// Stops taking appends, lets the writer commit and answer every queued append, stops the
    /// listener and closes the pools. Later appends fail with `shutting-down`. Idempotent.
    pub async fn close(&self) {
        self.inner.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.inner.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().await);
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "a PostgreSQL store task failed");
            }
        }
        self.inner.pool.close();
        self.inner.writer_pool.close();
    }

    /// A pooled connection for a statement of this crate's own.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, Error> {
        self.inner.pool.get().await.map_err(fail::from_pool)
    }

    /// Drops `schema` and everything in it (for tests and operators; irreversible).
    pub async fn drop_schema(url: &str, schema: &str) -> Result<(), Error> {
        schema::validate_schema_name(schema)?;
        let client = connect_once(&pg_config(url)?).await?;
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", schema::quoted(schema));
        client.batch_execute(&sql).await.map_err(fail::from_pg)
    }

    fn reader(&self) -> Reader<'_> {
        Reader { pool: &self.inner.pool, sql: &self.inner.sql, committed: &self.inner.committed }
    }

    fn sender(&self) -> Result<mpsc::Sender<writer::Job>, Error> {
        self.inner.queue.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or(Error::ShuttingDown)
    }
}

/// The writer's pool: one connection, replaced when it breaks.
fn pool_one(config: tokio_postgres::Config, timeout: Duration) -> Result<Pool, Error> {
    pool(config, 1, timeout)
}

#[async_trait::async_trait]
impl EventStore for PgStore {
    async fn append_if(
        &self,
        appends: Vec<StreamAppend>,
        conditions: Vec<StreamCondition>,
    ) -> Result<AppendOutcome, Error> {
        validate_appends(&appends)?;
        validate_conditions(&appends, &conditions)?;
        let events = appends.iter().map(|a| a.events.len()).sum();
        let bytes = appends.iter().flat_map(|a| &a.events).map(|e| e.size_bytes()).sum();
        let (reply, answer) = oneshot::channel();
        let job = writer::Job { appends, conditions, events, bytes, reply };
        self.sender()?.try_send(job).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => Error::Overloaded { retry_after_ms: 50 },
            mpsc::error::TrySendError::Closed(_) => Error::ShuttingDown,
        })?;
        answer.await.map_err(|_| Error::ShuttingDown)?
    }

    async fn read(&self, selector: &Selector, options: ReadOptions) -> Result<ReadPage, Error> {
        self.reader().read(selector, options).await
    }

    async fn stream_info(&self, stream: &str) -> Result<StreamInfo, Error> {
        self.reader().stream_info(stream).await
    }

    async fn list_streams(&self, after: Option<&str>, limit: usize) -> Result<StreamList, Error> {
        self.reader().list_streams(after, limit).await
    }

    fn head_position(&self) -> Option<u64> {
        *self.inner.committed.borrow()
    }

    fn subscribe(&self, selector: Selector, from: SubscribeFrom) -> EventStream {
        follow(Arc::new(self.clone()), selector, from, self.inner.committed.subscribe())
    }
}
