//! The service: [`Groups::start`] loads every group from `$groups` and runs the ones this node
//! owns; [`GroupsHandle`] is the cheap, clonable handle through which the API and the CLI create,
//! change, list and delete groups, lease, acknowledge and replay.
//!
//! On a cluster, group `g` runs on the node holding the lease `group-g` (skald-cluster): its
//! dispatcher, checkpoints and parked records live there, and its appends carry the lease's fence.
//! Every node follows `$groups`, so a group created anywhere is run by its owner; calls on a node
//! that does not run the group answer `not-owner` naming the owner, and the server forwards them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use skald_cluster::{Cluster, ClusterHandle, Ownership};
use skald_core::{AsOf, Clock, Direction, EventStore, ReadOptions, Selector, SubscribeFrom, SystemClock, Uuid};
use tokio::task::JoinHandle;

use crate::dispatch::{Batch, Resolved};
use crate::durable::{self, GroupRecord, ParkedEvent};
use crate::runtime::{GroupRuntime, RuntimeOptions};
use crate::{GroupError, GroupSpec, StartFrom, LEASE_EVENTS_MAX};

/// Default most groups one service runs.
pub const GROUPS_MAX: usize = 256;

/// How to run the groups service.
#[derive(Clone)]
pub struct GroupsOptions {
    /// Most groups.
    pub groups_max: usize,
    /// How often each group writes its checkpoint (when it moved).
    pub checkpoint_interval: Duration,
    /// How often each group expires leases, releases retries and writes parked events.
    pub tick: Duration,
    /// Time: its monotonic reading for leases and retry delays, wall time for lag and record age;
    /// [`skald_core::ManualClock`] in tests.
    pub clock: Arc<dyn Clock>,
    /// Seed of the retry jitter.
    pub seed: u64,
    /// The cluster this service is a node of: a group runs on the node holding its lease
    /// (`group-<name>`). `None`: a solo node that runs every group (the embedded default).
    pub cluster: Option<ClusterHandle>,
}

impl Default for GroupsOptions {
    fn default() -> Self {
        GroupsOptions {
            groups_max: GROUPS_MAX,
            checkpoint_interval: Duration::from_millis(200),
            tick: Duration::from_millis(10),
            clock: Arc::new(SystemClock),
            seed: 0x5eed,
            cluster: None,
        }
    }
}

/// A group's counters (since this process started it) and position.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    /// Deliveries, first and repeated.
    pub delivered: u64,
    /// Acknowledged events.
    pub acked: u64,
    /// Events given back for a retry (nack or lease expiry).
    pub retried: u64,
    /// Events written to `$parked-<group>`.
    pub parked: u64,
    /// Events leased to workers now.
    pub in_flight: u64,
    /// Events read and waiting for a worker (including retries waiting out their backoff).
    pub pending: u64,
    /// Workers holding leases now.
    pub workers: u64,
    /// Every log position below this is acknowledged, parked or not for this group.
    pub checkpoint: u64,
    /// The checkpoint last written to `$sub-<group>`.
    pub durable_checkpoint: u64,
    /// The log's newest position.
    pub head_position: Option<u64>,
    /// Events not yet handled: log positions not read yet plus events read and not acknowledged.
    pub lag_events: u64,
    /// Age of the oldest unacknowledged event, in seconds (0 when there is none).
    pub lag_seconds: f64,
}

/// A group's definition and state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupInfo {
    /// The definition.
    #[serde(flatten)]
    pub spec: GroupSpec,
    /// Where it started reading, resolved at creation.
    pub start_position: u64,
    /// Its counters.
    pub stats: GroupStats,
}

/// Starts the consumer groups service.
pub struct Groups;

impl Groups {
    /// Loads every group defined in `$groups` from `store` and runs those this node owns (a solo
    /// node: all of them, before this returns); on a cluster node, follows `$groups` for the
    /// groups other nodes create, change and delete.
    pub async fn start(store: Arc<dyn EventStore>, options: GroupsOptions) -> Result<GroupsHandle, GroupError> {
        let (records, head) = durable::load_groups(&*store).await?;
        let http = reqwest::Client::builder().build().map_err(skald_core::Error::storage)?;
        let runtime_options = RuntimeOptions {
            clock: options.clock.clone(),
            checkpoint_interval: options.checkpoint_interval,
            tick: options.tick,
            seed: options.seed,
            http,
        };
        let cluster = options.cluster.clone().unwrap_or_else(|| Cluster::solo("local"));
        let definitions = records.into_iter().map(|r| (r.spec.name.clone(), r)).collect();
        let handle = GroupsHandle {
            inner: Arc::new(Inner {
                store,
                options,
                runtime_options,
                cluster,
                groups: RwLock::new(HashMap::new()),
                definitions: RwLock::new(definitions),
                admin: tokio::sync::Mutex::new(Admin { head, closed: false }),
                reconciling: tokio::sync::Mutex::new(()),
                tasks: Mutex::new(HashMap::new()),
            }),
        };
        let names: Vec<String> = read(&handle.inner.definitions).keys().cloned().collect();
        for name in names {
            handle.manage(&name).await;
        }
        if !handle.inner.cluster.is_solo() {
            let follower = tokio::spawn(handle.clone().follow_definitions());
            lock(&handle.inner.tasks).insert(String::new(), follower);
        }
        Ok(handle)
    }
}

struct Admin {
    /// Head version of `$groups`.
    head: Option<u64>,
    closed: bool,
}

struct Inner {
    store: Arc<dyn EventStore>,
    options: GroupsOptions,
    runtime_options: RuntimeOptions,
    cluster: ClusterHandle,
    /// The groups running on this node.
    groups: RwLock<HashMap<String, Arc<GroupRuntime>>>,
    /// Every live group, as `$groups` defines it.
    definitions: RwLock<HashMap<String, GroupRecord>>,
    admin: tokio::sync::Mutex<Admin>,
    /// Held while a group is started or stopped, so that two reasons never race.
    reconciling: tokio::sync::Mutex<()>,
    /// Per group, the task following its lease; under `""`, the follower of `$groups`.
    tasks: Mutex<HashMap<String, JoinHandle<()>>>,
}

/// The handle of a running groups service. Cheap to clone.
#[derive(Clone)]
pub struct GroupsHandle {
    inner: Arc<Inner>,
}

/// The cluster lease of group `name`.
pub fn lease_name(name: &str) -> String {
    format!("group-{name}")
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl GroupsHandle {
    /// The group running here, or who runs it instead.
    fn group(&self, name: &str) -> Result<Arc<GroupRuntime>, GroupError> {
        if let Some(runtime) = read(&self.inner.groups).get(name) {
            return Ok(runtime.clone());
        }
        if !read(&self.inner.definitions).contains_key(name) {
            return Err(GroupError::not_found(name));
        }
        let owner = match self.inner.cluster.ownership(&lease_name(name)) {
            Ownership::Remote(owner) => Some(owner),
            Ownership::Local { .. } | Ownership::Unowned => None,
        };
        Err(GroupError::NotOwner { group: name.to_owned(), owner })
    }

    /// The cluster node this service runs on (a solo node when it runs alone).
    pub fn cluster(&self) -> &ClusterHandle {
        &self.inner.cluster
    }

    /// Who runs group `name` (as this node sees it).
    pub fn owner_of(&self, name: &str) -> Ownership {
        self.inner.cluster.ownership(&lease_name(name))
    }

    /// Starts following group `name`'s lease: runs it while this node owns it (at once on a solo
    /// node), stops it when another node takes it.
    async fn manage(&self, name: &str) {
        let mut ownership = self.inner.cluster.manage(&lease_name(name));
        let now = ownership.borrow_and_update().clone();
        self.reconcile(name, now).await;
        if self.inner.cluster.is_solo() {
            return;
        }
        let (handle, group) = (self.clone(), name.to_owned());
        let task = tokio::spawn(async move {
            while ownership.changed().await.is_ok() {
                let now = ownership.borrow_and_update().clone();
                handle.reconcile(&group, now).await;
            }
        });
        if let Some(old) = lock(&self.inner.tasks).insert(name.to_owned(), task) {
            old.abort();
        }
    }

    /// Stops following group `name` (deleted): stops it here and gives up its lease.
    async fn unmanage(&self, name: &str) {
        if let Some(task) = lock(&self.inner.tasks).remove(name) {
            task.abort();
        }
        self.reconcile(name, Ownership::Unowned).await;
        self.inner.cluster.unmanage(&lease_name(name)).await;
    }

    /// Makes what runs here match the definition and the ownership: starts, restarts (a new
    /// definition or a new epoch) or stops group `name`.
    async fn reconcile(&self, name: &str, ownership: Ownership) {
        let _one_at_a_time = self.inner.reconciling.lock().await;
        let definition = read(&self.inner.definitions).get(name).cloned();
        let wanted = match (definition, ownership) {
            (Some(record), Ownership::Local { fence }) => Some((record, fence.map(|f| f.condition()))),
            _ => None,
        };
        let running = read(&self.inner.groups).get(name).cloned();
        if let (Some(runtime), Some((record, fence))) = (&running, &wanted) {
            if runtime.record == *record && runtime.fence.first() == fence.as_ref() {
                return;
            }
        }
        if let Some(runtime) = running {
            write(&self.inner.groups).remove(name);
            runtime.stop(true).await;
        }
        let Some((record, fence)) = wanted else { return };
        let options = self.inner.runtime_options.clone();
        match GroupRuntime::start(self.inner.store.clone(), options, record, fence.into_iter().collect()).await {
            Ok(runtime) => {
                write(&self.inner.groups).insert(name.to_owned(), runtime);
            }
            Err(error) => tracing::error!(group = name, %error, "group not started"),
        }
    }

    /// Follows `$groups` for what other nodes create, change and delete (cluster nodes only).
    async fn follow_definitions(self) {
        let mut events =
            self.inner.store.subscribe(Selector::Stream(durable::GROUPS_STREAM.into()), SubscribeFrom::Start);
        while let Some(next) = events.next().await {
            let event = match next {
                Ok(event) => event,
                Err(error) => {
                    tracing::warn!(%error, "following $groups failed; following again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    events = self
                        .inner
                        .store
                        .subscribe(Selector::Stream(durable::GROUPS_STREAM.into()), SubscribeFrom::Start);
                    continue;
                }
            };
            let changed = {
                let mut admin = self.inner.admin.lock().await;
                if admin.closed {
                    return;
                }
                if admin.head.is_some_and(|head| event.version <= head) {
                    continue; // known already (written here, or read at start)
                }
                admin.head = Some(event.version);
                let mut definitions: Vec<GroupRecord> = read(&self.inner.definitions).values().cloned().collect();
                let changed = durable::apply_definition(&mut definitions, &event);
                *write(&self.inner.definitions) = definitions.into_iter().map(|r| (r.spec.name.clone(), r)).collect();
                changed
            };
            let Some(name) = changed else { continue };
            if read(&self.inner.definitions).contains_key(&name) {
                self.manage(&name).await;
            } else {
                self.unmanage(&name).await;
            }
        }
    }

    async fn admin(&self) -> Result<tokio::sync::MutexGuard<'_, Admin>, GroupError> {
        let admin = self.inner.admin.lock().await;
        if admin.closed {
            return Err(GroupError::ShuttingDown);
        }
        Ok(admin)
    }

    /// Creates a group; it starts delivering at once (on the node that comes to own it).
    pub async fn create_group(&self, spec: GroupSpec) -> Result<GroupInfo, GroupError> {
        spec.validate()?;
        let name = spec.name.clone();
        {
            let mut admin = self.admin().await?;
            let count = {
                let definitions = read(&self.inner.definitions);
                if definitions.contains_key(&spec.name) {
                    return Err(GroupError::GroupAlreadyExists { group: spec.name });
                }
                definitions.len()
            };
            if count >= self.inner.options.groups_max {
                return Err(GroupError::limit("groups", "groups_max", count + 1, self.inner.options.groups_max));
            }
            let start_position = self.resolve_start(spec.start).await?;
            let record = GroupRecord { spec, incarnation: Uuid::new_v4(), start_position };
            durable::limit_checkpoints(&*self.inner.store, &name).await?;
            let event = durable::created_event(&record, false);
            admin.head = Some(self.append_definition(admin.head, event).await?);
            write(&self.inner.definitions).insert(name.clone(), record);
        }
        self.manage(&name).await;
        self.info(&name)
    }

    /// Appends to `$groups` at `head`. Another node that changed `$groups` meanwhile makes this
    /// fail with `overloaded` (retry shortly) while the follower takes that change in.
    async fn append_definition(&self, head: Option<u64>, event: skald_core::NewEvent) -> Result<u64, GroupError> {
        durable::append_definition(&*self.inner.store, head, event).await.map_err(|error| match error {
            skald_core::Error::WrongExpectedVersion { .. } => {
                GroupError::Store(skald_core::Error::Overloaded { retry_after_ms: 100 })
            }
            other => GroupError::Store(other),
        })
    }

    /// A group's definition and, where it runs here, its counters.
    fn info(&self, name: &str) -> Result<GroupInfo, GroupError> {
        if let Some(runtime) = read(&self.inner.groups).get(name) {
            return Ok(info_of(runtime));
        }
        let record = read(&self.inner.definitions).get(name).cloned().ok_or_else(|| GroupError::not_found(name))?;
        Ok(GroupInfo { spec: record.spec, start_position: record.start_position, stats: GroupStats::default() })
    }

    async fn resolve_start(&self, start: StartFrom) -> Result<u64, GroupError> {
        let store = &self.inner.store;
        Ok(match start {
            StartFrom::Beginning => 0,
            StartFrom::Position(position) => position,
            StartFrom::End => store.head_position().map_or(0, |p| p + 1),
            StartFrom::Time(time) => {
                let options = ReadOptions {
                    direction: Direction::Backward,
                    limit: 1,
                    as_of: Some(AsOf::Time(time)),
                    ..Default::default()
                };
                let page = store.read(&Selector::All, options).await?;
                page.events.first().map_or(0, |e| e.position + 1)
            }
        })
    }

    /// Changes a group's filter, retry policy, bounds or push target. Its checkpoint is kept; its
    /// outstanding leases end (their events are delivered again).
    pub async fn update_group(&self, spec: GroupSpec) -> Result<GroupInfo, GroupError> {
        spec.validate()?;
        let name = spec.name.clone();
        {
            let mut admin = self.admin().await?;
            let old = read(&self.inner.definitions).get(&name).cloned().ok_or_else(|| GroupError::not_found(&name))?;
            let record = GroupRecord { spec, incarnation: old.incarnation, start_position: old.start_position };
            admin.head = Some(self.append_definition(admin.head, durable::created_event(&record, true)).await?);
            write(&self.inner.definitions).insert(name.clone(), record);
        }
        self.manage(&name).await;
        self.info(&name)
    }

    /// Deletes a group. Its `$sub-` and `$parked-` streams stay as history.
    pub async fn delete_group(&self, name: &str) -> Result<(), GroupError> {
        {
            let mut admin = self.admin().await?;
            let old = read(&self.inner.definitions).get(name).cloned().ok_or_else(|| GroupError::not_found(name))?;
            let event = durable::deleted_event(name, old.incarnation);
            admin.head = Some(self.append_definition(admin.head, event).await?);
            write(&self.inner.definitions).remove(name);
        }
        self.unmanage(name).await;
        Ok(())
    }

    /// Every group, by name: the counters of those running on this node, zeros for the others
    /// (ask their owner, [`Self::owner_of`], for theirs).
    pub fn list_groups(&self) -> Vec<GroupInfo> {
        let names: Vec<String> = read(&self.inner.definitions).keys().cloned().collect();
        let mut list: Vec<GroupInfo> = names.iter().filter_map(|name| self.info(name).ok()).collect();
        list.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        list
    }

    /// One group (running here; otherwise `not-owner` names who runs it).
    pub fn get_group(&self, name: &str) -> Result<GroupInfo, GroupError> {
        Ok(info_of(&*self.group(name)?))
    }

    /// One group's counters and lag.
    pub fn group_stats(&self, name: &str) -> Result<GroupStats, GroupError> {
        Ok(self.group(name)?.stats())
    }

    /// Leases up to `max_events` (at most [`LEASE_EVENTS_MAX`]) to `worker`, waiting up to `wait`
    /// (at most [`crate::LEASE_WAIT_MAX`]) for some. An empty batch means none arrived in time.
    pub async fn lease(
        &self,
        group: &str,
        worker: &str,
        max_events: usize,
        wait: Duration,
    ) -> Result<Batch, GroupError> {
        if max_events == 0 || max_events > LEASE_EVENTS_MAX {
            return Err(GroupError::invalid("max_events", format!("must be 1..={LEASE_EVENTS_MAX}")));
        }
        if worker.is_empty() || worker.len() > 256 {
            return Err(GroupError::invalid("worker", "must be 1..=256 bytes"));
        }
        self.group(group)?.lease(worker, max_events, wait).await
    }

    /// Acknowledges events of a lease by id; every ack renews the lease.
    pub fn ack(&self, group: &str, lease_id: u64, ids: &[Uuid]) -> Result<Resolved, GroupError> {
        self.group(group)?.ack(lease_id, ids)
    }

    /// Acknowledges every event of a lease.
    pub fn ack_all(&self, group: &str, lease_id: u64) -> Result<Resolved, GroupError> {
        self.group(group)?.ack_all(lease_id)
    }

    /// Gives events of a lease back for a retry after the backoff; an event out of attempts is
    /// parked with `reason`. Later events of the same streams in the lease come back with them.
    pub fn nack(&self, group: &str, lease_id: u64, ids: &[Uuid], reason: &str) -> Result<Resolved, GroupError> {
        self.group(group)?.nack(lease_id, ids, reason, false)
    }

    /// Parks events of a lease at once, without retries.
    pub fn park(&self, group: &str, lease_id: u64, ids: &[Uuid], reason: &str) -> Result<Resolved, GroupError> {
        self.group(group)?.nack(lease_id, ids, reason, true)
    }

    /// A page of the group's parked events, from version `from` of `$parked-<group>`; the second
    /// value is the `from` of the next page.
    pub async fn list_parked(
        &self,
        group: &str,
        from: u64,
        limit: usize,
    ) -> Result<(Vec<ParkedEvent>, Option<u64>), GroupError> {
        let runtime = self.group(group)?;
        Ok(durable::list_parked(&*self.inner.store, group, runtime.record.incarnation, from, limit).await?)
    }

    /// Delivers once more every event parked since the previous replay. Returns how many.
    pub async fn replay_parked(&self, group: &str) -> Result<usize, GroupError> {
        self.group(group)?.replay_parked().await
    }

    /// Stops every group, writing final checkpoints. Later calls fail with `shutting-down`.
    /// (The leases stay with the cluster node, which hands them over when it shuts down.)
    pub async fn shutdown(&self) {
        let mut admin = self.inner.admin.lock().await;
        admin.closed = true;
        let tasks: Vec<JoinHandle<()>> = lock(&self.inner.tasks).drain().map(|(_, task)| task).collect();
        for task in tasks {
            task.abort();
        }
        let _one_at_a_time = self.inner.reconciling.lock().await;
        let groups: Vec<Arc<GroupRuntime>> = write(&self.inner.groups).drain().map(|(_, g)| g).collect();
        for group in groups {
            group.stop(true).await;
        }
    }
}

fn info_of(runtime: &GroupRuntime) -> GroupInfo {
    GroupInfo {
        spec: runtime.record.spec.clone(),
        start_position: runtime.record.start_position,
        stats: runtime.stats(),
    }
}
