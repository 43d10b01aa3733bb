//! Backends as test factories: [`Backend`] makes a fresh, isolated store per test; [`TestStore`] is
//! that store plus the ways to close and reopen it, reach it from another node or another process,
//! and clean it up; [`run`] runs one case on one backend by name and cleans up even when it panics.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use skald_core::{EventStore, LocalMembership, Membership, MemoryStore};

/// What a backend can do, where backends honestly differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Data outlives the process: a crashed child's acknowledged events are there on reopen.
    pub durable: bool,
    /// Several independent handles ("nodes") may use the same data at once.
    pub nodes: bool,
    /// A child process can open the store by its [`TestStore::location`].
    pub processes: bool,
}

/// A kind of store the suites run on.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Its name in test paths (`memory`, `embedded`, `postgres`).
    fn name(&self) -> &'static str;
    /// What it can do.
    fn capabilities(&self) -> Capabilities;
    /// A fresh, empty, isolated store.
    async fn create(&self) -> TestStore;
}

/// One place a test's data lives, and how to open handles on it.
#[async_trait::async_trait]
pub(crate) trait Site: Send + Sync {
    /// A new handle on the data.
    async fn open(&self) -> Arc<dyn EventStore>;
    /// Closes a handle cleanly (finishes its queued appends); `None`: every handle still open.
    async fn close(&self, store: Option<Arc<dyn EventStore>>);
    /// Where a child process finds the data (see [`open_location`]).
    fn location(&self) -> Option<String>;
    /// Removes the data.
    async fn remove(&self);
    /// The membership nodes on this data share (`None` where there are no nodes).
    fn membership(&self, _store: &Arc<dyn EventStore>) -> Option<Arc<dyn Membership>> {
        None
    }
}

/// A fresh store of one backend, for one test.
pub struct TestStore {
    backend: &'static str,
    capabilities: Capabilities,
    store: Option<Arc<dyn EventStore>>,
    site: Arc<dyn Site>,
}

impl TestStore {
    pub(crate) fn new(
        backend: &'static str,
        capabilities: Capabilities,
        site: Arc<dyn Site>,
        store: Arc<dyn EventStore>,
    ) -> Self {
        TestStore { backend, capabilities, store: Some(store), site }
    }

    /// The backend's name.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// What the backend can do.
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    /// The store. Clones share it.
    pub fn store(&self) -> Arc<dyn EventStore> {
        self.store.clone().expect("the store is open")
    }

    /// Closes the store cleanly and opens it again, as a restart would. Every other handle on it
    /// (services included) must be dropped first: the embedded engine allows one open handle.
    pub async fn reopen(&mut self) {
        let store = self.store.take().expect("the store is open");
        assert_eq!(
            Arc::strong_count(&store),
            1,
            "{}: drop every other handle of the store (services, subscriptions) before reopening it",
            self.backend
        );
        self.site.close(Some(store)).await;
        self.store = Some(self.site.open().await);
    }

    /// Closes the store without reopening it (a child process may open it meanwhile); [`Self::open_again`]
    /// opens it again.
    pub async fn close(&mut self) {
        let store = self.store.take().expect("the store is open");
        assert_eq!(Arc::strong_count(&store), 1, "{}: drop every other handle before closing", self.backend);
        self.site.close(Some(store)).await;
    }

    /// Opens the store again after [`Self::close`].
    pub async fn open_again(&mut self) {
        assert!(self.store.is_none(), "the store is open already");
        self.store = Some(self.site.open().await);
    }

    /// Another independent handle on the same data, as a second node would have one; `None` when
    /// the backend allows only one ([`Capabilities::nodes`]).
    pub async fn node(&self) -> Option<Arc<dyn EventStore>> {
        if self.capabilities.nodes {
            Some(self.site.open().await)
        } else {
            None
        }
    }

    /// The membership of the nodes on this data, as the backend keeps it, reached through the
    /// node handle `store` (PostgreSQL: its `nodes` table; memory: one shared in-process list);
    /// `None` when the backend has no nodes.
    pub fn membership(&self, store: &Arc<dyn EventStore>) -> Option<Arc<dyn Membership>> {
        self.site.membership(store)
    }

    /// Where a child process finds this store ([`open_location`]); `None` for in-memory stores.
    pub fn location(&self) -> Option<String> {
        self.site.location()
    }

    async fn finish(self) {
        self.site.close(None).await;
        self.site.remove().await;
    }
}

/// Every backend this build knows that is configured here: PostgreSQL only when
/// `SKALD_TEST_POSTGRES_URL` is set.
pub fn backends() -> Vec<Box<dyn Backend>> {
    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(Memory), Box::new(Embedded::default())];
    if let Some(postgres) = Postgres::from_env() {
        backends.push(Box::new(postgres));
    }
    backends
}

/// Whether `name` is selected by `SKALD_TEST_BACKENDS` (a comma-separated list; unset: all).
fn selected(name: &str) -> bool {
    match std::env::var("SKALD_TEST_BACKENDS") {
        Ok(list) if !list.trim().is_empty() => list.split(',').any(|b| b.trim() == name),
        _ => true,
    }
}

/// Runs `case` on a fresh store of the backend named `backend`, then removes the store — also
/// when the case panics. A backend that is not selected or not configured is skipped with a line
/// on stderr; a configured one that cannot be reached fails the test.
pub async fn run<F, Fut>(backend: &str, case: F)
where
    F: FnOnce(TestStore) -> Fut,
    Fut: Future<Output = ()>,
{
    if !selected(backend) {
        eprintln!("skipped: backend `{backend}` is not in SKALD_TEST_BACKENDS");
        return;
    }
    let Some(backend) = backends().into_iter().find(|b| b.name() == backend) else {
        eprintln!("skipped: backend `{backend}` is not configured in this build or environment");
        return;
    };
    let kit = backend.create().await;
    let cleanup =
        TestStore { backend: kit.backend, capabilities: kit.capabilities, store: None, site: kit.site.clone() };
    let outcome = std::panic::AssertUnwindSafe(case(kit)).catch_unwind().await;
    cleanup.finish().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Opens a store from a [`TestStore::location`], in a child process of the crash harness.
pub async fn open_location(location: &str) -> Arc<dyn EventStore> {
    let (kind, place) = location.split_once(':').unwrap_or_else(|| panic!("store location `{location}` has no kind"));
    match kind {
        "embedded" => Arc::new(Embedded::open_location(place)),
        "postgres" => Arc::new(Postgres::open_location(place).await),
        other => panic!("store location `{location}`: unknown kind `{other}`"),
    }
}

/// The reference store in memory: not durable, one process; several handles share the memory.
pub struct Memory;

struct MemorySite(MemoryStore, LocalMembership);

#[async_trait::async_trait]
impl Site for MemorySite {
    async fn open(&self) -> Arc<dyn EventStore> {
        Arc::new(self.0.clone())
    }
    async fn close(&self, _: Option<Arc<dyn EventStore>>) {}
    fn location(&self) -> Option<String> {
        None
    }
    async fn remove(&self) {}
    fn membership(&self, _store: &Arc<dyn EventStore>) -> Option<Arc<dyn Membership>> {
        Some(Arc::new(self.1.clone()))
    }
}

#[async_trait::async_trait]
impl Backend for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }
    fn capabilities(&self) -> Capabilities {
        // A reopen keeps the events (the same memory), so the reopen cases hold too; "nodes" in
        // one process share the memory.
        Capabilities { durable: false, nodes: true, processes: false }
    }
    async fn create(&self) -> TestStore {
        let site = MemorySite(MemoryStore::new(), LocalMembership::new());
        let store = site.open().await;
        TestStore::new(self.name(), self.capabilities(), Arc::new(site), store)
    }
}

/// The embedded engine in a temporary directory, with small segments so that reads cross them.
pub struct Embedded {
    /// Segments are sealed at this size.
    pub segment_bytes_target: u64,
}

impl Default for Embedded {
    fn default() -> Self {
        Embedded { segment_bytes_target: 8 * 1024 }
    }
}

impl Embedded {
    fn options(segment_bytes_target: u64) -> skald_log::Options {
        skald_log::Options { segment_bytes_target, ..skald_log::Options::default() }
    }

    /// Opens `<dir>?segment_bytes=<n>`, as [`EmbeddedSite::location`] writes it.
    fn open_location(place: &str) -> skald_log::Store {
        let (dir, query) = place.split_once('?').unwrap_or((place, ""));
        let segment_bytes = query.strip_prefix("segment_bytes=").and_then(|n| n.parse().ok());
        let options = Embedded::options(segment_bytes.unwrap_or(Embedded::default().segment_bytes_target));
        skald_log::Store::open(dir, options)
            .unwrap_or_else(|e| panic!("the embedded store in {dir} does not open: {e}"))
    }
}

struct EmbeddedSite {
    dir: PathBuf,
    segment_bytes_target: u64,
    /// The open handles' concrete stores, to close them (the trait object cannot).
    open: Handles<skald_log::Store>,
}

#[async_trait::async_trait]
impl Site for EmbeddedSite {
    async fn open(&self) -> Arc<dyn EventStore> {
        let store = skald_log::Store::open(&self.dir, Embedded::options(self.segment_bytes_target))
            .unwrap_or_else(|e| panic!("the embedded store in {} does not open: {e}", self.dir.display()));
        self.open.keep(store.clone(), Arc::new(store))
    }
    async fn close(&self, store: Option<Arc<dyn EventStore>>) {
        for store in self.open.take(store) {
            store.close();
        }
    }
    fn location(&self) -> Option<String> {
        Some(format!("embedded:{}?segment_bytes={}", self.dir.display(), self.segment_bytes_target))
    }
    async fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[async_trait::async_trait]
impl Backend for Embedded {
    fn name(&self) -> &'static str {
        "embedded"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities { durable: true, nodes: false, processes: true }
    }
    async fn create(&self) -> TestStore {
        let dir = tempfile::Builder::new().prefix("skald-test-").tempdir().expect("a temporary directory").keep();
        let site = EmbeddedSite { dir, segment_bytes_target: self.segment_bytes_target, open: Handles::default() };
        let store = site.open().await;
        TestStore::new(self.name(), self.capabilities(), Arc::new(site), store)
    }
}

/// The concrete handles a site opened, found again by the address of the trait object handed out.
pub(crate) struct Handles<T>(Mutex<Vec<(usize, T)>>);

impl<T> Default for Handles<T> {
    fn default() -> Self {
        Handles(Mutex::new(Vec::new()))
    }
}

impl<T> Handles<T> {
    /// Remembers `concrete` as the store behind `handed_out`, and returns `handed_out`.
    pub(crate) fn keep(&self, concrete: T, handed_out: Arc<dyn EventStore>) -> Arc<dyn EventStore> {
        let key = Arc::as_ptr(&handed_out) as *const () as usize;
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push((key, concrete));
        handed_out
    }

    /// The store behind `handed_out`, if this site opened it.
    pub(crate) fn find(&self, handed_out: &Arc<dyn EventStore>) -> Option<T>
    where
        T: Clone,
    {
        let key = Arc::as_ptr(handed_out) as *const () as usize;
        let open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        open.iter().find(|(k, _)| *k == key).map(|(_, store)| store.clone())
    }

    /// Forgets and returns the store behind `handed_out` (dropping that handle), or every one.
    pub(crate) fn take(&self, handed_out: Option<Arc<dyn EventStore>>) -> Vec<T> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match handed_out {
            Some(store) => {
                let key = Arc::as_ptr(&store) as *const () as usize;
                drop(store);
                let index = open.iter().position(|(k, _)| *k == key);
                index.map(|i| open.remove(i).1).into_iter().collect()
            }
            None => open.drain(..).map(|(_, store)| store).collect(),
        }
    }
}

/// PostgreSQL: one fresh schema per test in the database of `SKALD_TEST_POSTGRES_URL`, dropped
/// afterwards. Durable, shared by nodes and processes.
pub struct Postgres {
    url: String,
}

/// The environment variable naming the PostgreSQL database the tests use.
pub const POSTGRES_URL_ENV: &str = "SKALD_TEST_POSTGRES_URL";

/// Runs `body(url, schema)` with a fresh schema name in the database of `SKALD_TEST_POSTGRES_URL`
/// (for tests that drive PostgreSQL themselves: several processes, a read model), then drops the
/// schema, also when `body` panics. Returns at once, with a line on stderr, when the variable is
/// unset; an unreachable database fails the test.
pub async fn with_postgres_schema<F, Fut>(body: F)
where
    F: FnOnce(String, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(Postgres { url }) = Postgres::from_env() else {
        eprintln!("skipped: {POSTGRES_URL_ENV} is not set");
        return;
    };
    let schema = format!("skald_test_{}", uuid::Uuid::new_v4().simple());
    let outcome = std::panic::AssertUnwindSafe(body(url.clone(), schema.clone())).catch_unwind().await;
    let dropped = skald_postgres::PgStore::drop_schema(&url, &schema).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic); // the test's own failure says more than a failed drop
    }
    dropped.unwrap_or_else(|e| panic!("cannot drop the test schema {schema}: {e}"));
}

impl Postgres {
    /// The backend when `SKALD_TEST_POSTGRES_URL` is set.
    pub fn from_env() -> Option<Postgres> {
        std::env::var(POSTGRES_URL_ENV).ok().filter(|url| !url.is_empty()).map(|url| Postgres { url })
    }

    fn options(url: &str, schema: &str) -> skald_postgres::PgOptions {
        skald_postgres::PgOptions { schema: schema.to_owned(), pool_size: 4, ..skald_postgres::PgOptions::new(url) }
    }

    /// Connects to `<schema>@<url>`, as [`PostgresSite::location`] writes it.
    async fn open_location(place: &str) -> skald_postgres::PgStore {
        let (schema, url) =
            place.split_once('@').unwrap_or_else(|| panic!("postgres location `{place}` has no schema"));
        skald_postgres::PgStore::connect(Self::options(url, schema))
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {url} (schema {schema}) does not connect: {e}"))
    }
}

struct PostgresSite {
    url: String,
    schema: String,
    open: Handles<skald_postgres::PgStore>,
}

#[async_trait::async_trait]
impl Site for PostgresSite {
    async fn open(&self) -> Arc<dyn EventStore> {
        let store = Postgres::open_location(&format!("{}@{}", self.schema, self.url)).await;
        self.open.keep(store.clone(), Arc::new(store))
    }
    async fn close(&self, store: Option<Arc<dyn EventStore>>) {
        for store in self.open.take(store) {
            store.close().await;
        }
    }
    fn location(&self) -> Option<String> {
        Some(format!("postgres:{}@{}", self.schema, self.url))
    }
    async fn remove(&self) {
        if let Err(e) = skald_postgres::PgStore::drop_schema(&self.url, &self.schema).await {
            eprintln!("could not drop the test schema {}: {e}", self.schema);
        }
    }
    fn membership(&self, store: &Arc<dyn EventStore>) -> Option<Arc<dyn Membership>> {
        let node = self.open.find(store)?;
        Some(Arc::new(node))
    }
}

#[async_trait::async_trait]
impl Backend for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities { durable: true, nodes: true, processes: true }
    }
    async fn create(&self) -> TestStore {
        let schema = format!("skald_test_{}", uuid::Uuid::new_v4().simple());
        let site = PostgresSite { url: self.url.clone(), schema, open: Handles::default() };
        let store = site.open().await;
        TestStore::new(self.name(), self.capabilities(), Arc::new(site), store)
    }
}
