//! Skald's embedded event log: one directory, one writer thread, group commit, crash recovery.
//!
//! This crate owns the durable storage of the embedded engine: segment files ([`format`],
//! [`segment`]), the group-committing writer ([`writer`]) with its syncer ([`syncer`]) and indexer
//! ([`indexer`]) threads, the secondary indexes ([`index`]) and the read path ([`read`]). It does no network I/O and knows nothing of HTTP.
//!
//! Every byte it reads or writes goes through [`storage`]: the operating system's files
//! ([`storage::OsStorage`], the default of [`Options::storage`]) or a simulated disk for tests
//! ([`storage::SimStorage`]: power cuts, torn writes, injected errors, a full disk), on which
//! `tests/simulation.rs` runs the whole engine seed by seed (`docs/reliability.md`).
//!
//! ```
//! use skald_core::{EventStore, NewEvent, ReadOptions, Selector, StreamAppend, ExpectedVersion};
//! use skald_log::{Options, Store};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path(), Options::default())?;
//! let placed = NewEvent::new("OrderPlaced", serde_json::json!({"total": 12}));
//! let outcome = store
//!     .append(vec![StreamAppend::new("order-1", vec![placed]).expect(ExpectedVersion::NoStream)])
//!     .await?;
//! assert_eq!(outcome.streams[0].first_position, 0);
//! let page = store.read(&Selector::Stream("order-1".into()), ReadOptions::default()).await?;
//! assert_eq!(page.events[0].event_type, "OrderPlaced");
//! store.close();
//! # Ok::<_, skald_core::Error>(()) }).unwrap();
//! ```

pub mod format;
pub mod index;
mod index_file;
pub mod indexer;
mod pending;
pub mod read;
mod recovery;
pub mod segment;
pub mod storage;
pub mod syncer;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use skald_core::{
    follow, validate_appends, validate_conditions, AppendOutcome, Error, EventStore, EventStream, ReadOptions,
    ReadPage, Selector, StreamAppend, StreamCondition, StreamInfo, StreamList, SubscribeFrom,
};
use tokio::sync::{mpsc, oneshot, watch};

pub use recovery::{rebuild_index, verify, verify_in, RecoveryReport, VerifyReport};

/// When an append is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// After `fdatasync`: an acknowledged event survives a power cut. The default.
    #[default]
    Fsync,
    /// After `write`: survives a process crash, not a power cut. Much faster on slow disks.
    Relaxed,
}

/// How to open a store.
#[derive(Clone, Debug)]
pub struct Options {
    /// When appends are acknowledged.
    pub sync: SyncMode,
    /// A segment is sealed and a new one started once it reaches this many bytes.
    pub segment_bytes_target: u64,
    /// Memory the index may use for its page cache.
    pub index_cache_bytes: usize,
    /// Appends waiting for the writer at most; more are refused with `overloaded`.
    pub writer_queue_appends_max: usize,
    /// Check every sealed segment's checksum on open (one sequential read of the log).
    pub verify_sealed_on_open: bool,
    /// Make the indexes durable at least this often (also keeps redb's pile of non-durable
    /// commits short, which otherwise makes each commit slower)...
    pub checkpoint_interval: Duration,
    /// ...or after this many events, whichever comes first.
    pub checkpoint_events: u64,
    /// Where every file is read and written: the operating system's files, or a simulated disk
    /// for tests ([`storage::SimStorage`]).
    pub storage: Arc<dyn storage::Storage>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sync: SyncMode::Fsync,
            segment_bytes_target: 256 * 1024 * 1024,
            index_cache_bytes: 64 * 1024 * 1024,
            writer_queue_appends_max: 8192,
            verify_sealed_on_open: true,
            checkpoint_interval: Duration::from_millis(250),
            checkpoint_events: 500_000,
            storage: Arc::new(storage::OsStorage),
        }
    }
}

struct Inner {
    dir: PathBuf,
    shared: Arc<read::Shared>,
    queue: Mutex<Option<mpsc::Sender<writer::AppendJob>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    committed: watch::Sender<Option<u64>>,
    report: RecoveryReport,
    _lock: Box<dyn storage::DirLock>,
}

/// An open embedded store. Cheap to clone; all clones share one writer.
///
/// Dropping the last clone closes the store (see [`Store::close`]).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl Store {
    /// Opens (or creates) the store in `dir`, recovering from a crash if needed.
    ///
    /// Fails with [`Error::Corrupt`] when data before the log's tail is damaged, naming the file
    /// and byte offset; a torn tail (an append cut short by a crash) is cut off and reported in
    /// [`Store::recovery_report`].
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Store, Error> {
        let recovered = recovery::open(dir.as_ref(), &options)?;
        let (queue, jobs) = mpsc::channel(options.writer_queue_appends_max.max(1));
        let committed = recovered.writer.committed.clone();
        let shared = recovered.writer.shared.clone();
        let writer = recovered.writer;
        let thread = std::thread::Builder::new()
            .name("skald-writer".into())
            .spawn(move || writer.run(jobs))
            .map_err(|e| Error::storage(format!("cannot start the writer thread: {e}")))?;
        Ok(Store {
            inner: Arc::new(Inner {
                dir: dir.as_ref().to_owned(),
                shared,
                queue: Mutex::new(Some(queue)),
                writer: Mutex::new(Some(thread)),
                committed,
                report: recovered.report,
                _lock: recovered.lock,
            }),
        })
    }

    /// What opening the store had to repair.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.report
    }

    /// Counters of the write path: events, groups, fsyncs and index commits so far.
    pub fn stats(&self) -> &read::WriteStats {
        &self.inner.shared.stats
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Stops taking appends, lets the writer finish every queued append, checkpoints the indexes
    /// and waits for it. Later appends fail with `shutting-down`. Idempotent.
    pub fn close(&self) {
        self.inner.close();
    }

    /// The committed position, once the index covers it (appends are answered after their fsync,
    /// without waiting for the indexer; reads wait here instead, usually not at all).
    async fn indexed_head(&self) -> Result<Option<u64>, Error> {
        let committed = self.head_position();
        self.inner.shared.indexed.covers(committed).await?;
        Ok(committed)
    }

    fn sender(&self) -> Result<mpsc::Sender<writer::AppendJob>, Error> {
        self.inner.queue.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or(Error::ShuttingDown)
    }
}

impl Inner {
    fn close(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            if thread.join().is_err() {
                tracing::error!("the writer thread panicked");
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

#[async_trait::async_trait]
impl EventStore for Store {
    async fn append_if(
        &self,
        appends: Vec<StreamAppend>,
        conditions: Vec<StreamCondition>,
    ) -> Result<AppendOutcome, Error> {
        validate_appends(&appends)?;
        validate_conditions(&appends, &conditions)?;
        let bytes = appends.iter().flat_map(|a| &a.events).map(|e| e.size_bytes()).sum();
        let (reply, answer) = oneshot::channel();
        let job = writer::AppendJob { appends, conditions, bytes, reply };
        self.sender()?.try_send(job).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => Error::Overloaded { retry_after_ms: 50 },
            mpsc::error::TrySendError::Closed(_) => Error::ShuttingDown,
        })?;
        answer.await.map_err(|_| Error::ShuttingDown)?
    }

    async fn read(&self, selector: &Selector, options: ReadOptions) -> Result<ReadPage, Error> {
        let committed = self.indexed_head().await?;
        self.inner.shared.read(selector, options, committed)
    }

    async fn stream_info(&self, stream: &str) -> Result<StreamInfo, Error> {
        let committed = self.indexed_head().await?;
        self.inner.shared.stream_info(stream, committed)
    }

    async fn list_streams(&self, after: Option<&str>, limit: usize) -> Result<StreamList, Error> {
        let committed = self.indexed_head().await?;
        let index = self.inner.shared.index.read()?;
        let (heads, more) = index.list_streams(after, limit)?;
        let streams = self.inner.shared.stream_infos(&index, heads, committed)?;
        let next_after = if more { streams.last().map(|s| s.stream.clone()) } else { None };
        Ok(StreamList { streams, next_after })
    }

    fn head_position(&self) -> Option<u64> {
        *self.inner.committed.borrow()
    }

    fn subscribe(&self, selector: Selector, from: SubscribeFrom) -> EventStream {
        follow(Arc::new(self.clone()), selector, from, self.inner.committed.subscribe())
    }
}
