//! The service: [`Groups::start`] loads every group from `$groups` and runs it; [`GroupsHandle`]
//! is the cheap, clonable handle through which the API and the CLI create, change, list and delete
//! groups, lease, acknowledge and replay.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;
use skald_core::{AsOf, Clock, Direction, EventStore, ReadOptions, Selector, SystemClock, Uuid};

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
}

impl Default for GroupsOptions {
    fn default() -> Self {
        GroupsOptions {
            groups_max: GROUPS_MAX,
            checkpoint_interval: Duration::from_millis(200),
            tick: Duration::from_millis(10),
            clock: Arc::new(SystemClock),
            seed: 0x5eed,
        }
    }
}

/// A group's counters (since this process started it) and position.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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
    /// Loads every group defined in `$groups` from `store` and starts it.
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
        let mut groups = HashMap::new();
        for record in records {
            let name = record.spec.name.clone();
            match GroupRuntime::start(store.clone(), runtime_options.clone(), record).await {
                Ok(runtime) => {
                    groups.insert(name, runtime);
                }
                Err(error) => tracing::error!(group = name, %error, "group not started"),
            }
        }
        Ok(GroupsHandle {
            inner: Arc::new(Inner {
                store,
                options,
                runtime_options,
                groups: RwLock::new(groups),
                admin: tokio::sync::Mutex::new(Admin { head, closed: false }),
            }),
        })
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
    groups: RwLock<HashMap<String, Arc<GroupRuntime>>>,
    admin: tokio::sync::Mutex<Admin>,
}

/// The handle of a running groups service. Cheap to clone.
#[derive(Clone)]
pub struct GroupsHandle {
    inner: Arc<Inner>,
}

impl GroupsHandle {
    fn group(&self, name: &str) -> Result<Arc<GroupRuntime>, GroupError> {
        let groups = self.inner.groups.read().unwrap_or_else(|p| p.into_inner());
        groups.get(name).cloned().ok_or_else(|| GroupError::not_found(name))
    }

    async fn admin(&self) -> Result<tokio::sync::MutexGuard<'_, Admin>, GroupError> {
        let admin = self.inner.admin.lock().await;
        if admin.closed {
            return Err(GroupError::ShuttingDown);
        }
        Ok(admin)
    }

    /// Creates a group; it starts delivering at once.
    pub async fn create_group(&self, spec: GroupSpec) -> Result<GroupInfo, GroupError> {
        spec.validate()?;
        let mut admin = self.admin().await?;
        let count = {
            let groups = self.inner.groups.read().unwrap_or_else(|p| p.into_inner());
            if groups.contains_key(&spec.name) {
                return Err(GroupError::GroupAlreadyExists { group: spec.name });
            }
            groups.len()
        };
        if count >= self.inner.options.groups_max {
            return Err(GroupError::limit("groups", "groups_max", count + 1, self.inner.options.groups_max));
        }
        let start_position = self.resolve_start(spec.start).await?;
        let record = GroupRecord { spec, incarnation: Uuid::new_v4(), start_position };
        durable::limit_checkpoints(&*self.inner.store, &record.spec.name).await?;
        admin.head = Some(
            durable::append_definition(&*self.inner.store, admin.head, durable::created_event(&record, false)).await?,
        );
        self.run(record).await
    }

    async fn run(&self, record: GroupRecord) -> Result<GroupInfo, GroupError> {
        let name = record.spec.name.clone();
        let runtime = GroupRuntime::start(self.inner.store.clone(), self.inner.runtime_options.clone(), record).await?;
        let info = info_of(&runtime);
        self.inner.groups.write().unwrap_or_else(|p| p.into_inner()).insert(name, runtime);
        Ok(info)
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
        let mut admin = self.admin().await?;
        let old = self.group(&spec.name)?;
        let record =
            GroupRecord { spec, incarnation: old.record.incarnation, start_position: old.record.start_position };
        admin.head = Some(
            durable::append_definition(&*self.inner.store, admin.head, durable::created_event(&record, true)).await?,
        );
        old.stop(true).await;
        self.run(record).await
    }

    /// Deletes a group. Its `$sub-` and `$parked-` streams stay as history.
    pub async fn delete_group(&self, name: &str) -> Result<(), GroupError> {
        let mut admin = self.admin().await?;
        let old = self.group(name)?;
        let event = durable::deleted_event(name, old.record.incarnation);
        admin.head = Some(durable::append_definition(&*self.inner.store, admin.head, event).await?);
        self.inner.groups.write().unwrap_or_else(|p| p.into_inner()).remove(name);
        old.stop(false).await;
        Ok(())
    }

    /// Every group, by name.
    pub fn list_groups(&self) -> Vec<GroupInfo> {
        let groups = self.inner.groups.read().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<GroupInfo> = groups.values().map(|g| info_of(g)).collect();
        list.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        list
    }

    /// One group.
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
    pub async fn shutdown(&self) {
        let mut admin = self.inner.admin.lock().await;
        admin.closed = true;
        let groups: Vec<Arc<GroupRuntime>> =
            self.inner.groups.write().unwrap_or_else(|p| p.into_inner()).drain().map(|(_, g)| g).collect();
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
