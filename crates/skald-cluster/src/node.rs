//! One node's view of the cluster and the loop that keeps it: heartbeats through [`Membership`],
//! the lease records of the leases this node's services manage (read once, then followed live in
//! the `$lease` category), and each tick the decisions — acquire a lease this node should own
//! when its owner is gone, hand over a lease that a newer node should own.
//!
//! Services learn what they own from a [`watch`] per lease ([`ClusterHandle::manage`]): they start
//! the work when it turns [`Ownership::Local`] and drop it when it turns anything else. Writes as
//! owner carry the lease's [`Fence`], so a node that lost a lease cannot write as its owner even
//! before it notices.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use skald_core::{EventStore, Membership, NodeInfo, Selector, SubscribeFrom, Timestamp};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::assign::owner_of;
use crate::lease::{self, lease_stream, Fence, LeaseRecord, LEASE_CATEGORY};

/// How a node takes part.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// This node's id; unique per process.
    pub node_id: String,
    /// Where other nodes reach this node's HTTP API.
    pub address: String,
    /// How often the node heartbeats and looks at its leases.
    pub heartbeat_interval: Duration,
    /// A node not heard from for this long is presumed dead and its leases are taken over.
    pub node_timeout: Duration,
    /// A node that joined takes over the leases it should own once it has been a member this long
    /// (so that a node that flaps does not move work back and forth).
    pub handover_after: Duration,
}

impl ClusterOptions {
    /// A node with a fresh id, reachable at `address`, with the default timings.
    pub fn new(address: impl Into<String>) -> Self {
        ClusterOptions {
            node_id: format!("node-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]),
            address: address.into(),
            heartbeat_interval: Duration::from_millis(500),
            node_timeout: Duration::from_millis(2500),
            handover_after: Duration::from_secs(2),
        }
    }
}

/// Who owns a lease, as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// This node: do the work, and append as owner with the fence (`None` for a solo node, which
    /// shares its store with nobody).
    Local {
        /// What the owner's appends carry.
        fence: Option<Fence>,
    },
    /// Another live node.
    Remote(Owner),
    /// Nobody right now: it is being taken over or handed over.
    Unowned,
}

/// A node that owns a lease, and where to reach it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// Its id.
    pub node: String,
    /// Its HTTP address (`http://host:port`).
    pub address: String,
}

/// A lease in the status report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeaseStatus {
    /// Its name.
    pub lease: String,
    /// The owner's epoch (the version of its acquisition).
    pub epoch: u64,
    /// How long the owner has held it, in milliseconds.
    pub held_ms: u64,
}

/// A node in the status report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    /// Its id.
    pub id: String,
    /// Its HTTP address.
    pub address: String,
    /// Milliseconds since its last heartbeat.
    pub last_seen_ms: u64,
    /// Milliseconds since it joined.
    pub member_for_ms: u64,
    /// The leases it owns.
    pub leases: Vec<LeaseStatus>,
}

/// What `skald cluster status` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClusterStatus {
    /// The node answering.
    pub node: String,
    /// True for a single embedded node, which owns everything without leases.
    pub solo: bool,
    /// Live nodes, by id.
    pub nodes: Vec<NodeStatus>,
    /// Leases nobody owns right now.
    pub unowned: Vec<String>,
}

struct Lease {
    /// `None` until read from the log; `Some(None)` when it was never acquired.
    record: Option<Option<LeaseRecord>>,
    ownership: watch::Sender<Ownership>,
}

#[derive(Default)]
struct View {
    leases: BTreeMap<String, Lease>,
    live: Vec<NodeInfo>,
    last_heartbeat: Option<Instant>,
}

struct Shared {
    store: Arc<dyn EventStore>,
    membership: Arc<dyn Membership>,
    options: ClusterOptions,
    view: Mutex<View>,
    wake: Notify,
    stop: watch::Sender<bool>,
}

enum Mode {
    /// One node owning everything; the store is shared with nobody.
    Solo {
        node_id: String,
        leases: Mutex<BTreeMap<String, watch::Sender<Ownership>>>,
    },
    Leased {
        shared: Arc<Shared>,
        tasks: Mutex<Vec<JoinHandle<()>>>,
    },
}

/// Starts nodes.
pub struct Cluster;

impl Cluster {
    /// A node alone with its store (the embedded engine): it owns every lease, without writing any.
    pub fn solo(node_id: impl Into<String>) -> ClusterHandle {
        ClusterHandle { mode: Arc::new(Mode::Solo { node_id: node_id.into(), leases: Mutex::default() }) }
    }

    /// A node among others that share `store` and `membership`. It heartbeats at once and starts
    /// following the lease records; leases come as services [`manage`](ClusterHandle::manage) them.
    pub async fn join(
        store: Arc<dyn EventStore>,
        membership: Arc<dyn Membership>,
        options: ClusterOptions,
    ) -> Result<ClusterHandle, skald_core::Error> {
        let live = membership.heartbeat(&options.node_id, &options.address, options.node_timeout).await?;
        let view = View { live, last_heartbeat: Some(Instant::now()), ..View::default() };
        let from = store.head_position().map_or(0, |p| p + 1);
        let shared = Arc::new(Shared {
            store,
            membership,
            options,
            view: Mutex::new(view),
            wake: Notify::new(),
            stop: watch::Sender::new(false),
        });
        let follower = tokio::spawn(shared.clone().follow(from));
        let ticker = tokio::spawn(shared.clone().run());
        tracing::info!(node = %shared.options.node_id, "joined the cluster");
        Ok(ClusterHandle { mode: Arc::new(Mode::Leased { shared, tasks: Mutex::new(vec![follower, ticker]) }) })
    }
}

/// A node's handle: cheap to clone.
#[derive(Clone)]
pub struct ClusterHandle {
    mode: Arc<Mode>,
}

impl std::fmt::Debug for ClusterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterHandle").field("node", &self.node_id()).finish_non_exhaustive()
    }
}

impl ClusterHandle {
    /// This node's id.
    pub fn node_id(&self) -> &str {
        match &*self.mode {
            Mode::Solo { node_id, .. } => node_id,
            Mode::Leased { shared, .. } => &shared.options.node_id,
        }
    }

    /// Whether this node is alone (embedded): every lease is local and unfenced.
    pub fn is_solo(&self) -> bool {
        matches!(&*self.mode, Mode::Solo { .. })
    }

    /// Starts managing lease `name` (idempotent) and answers the watch of its ownership.
    pub fn manage(&self, name: &str) -> watch::Receiver<Ownership> {
        match &*self.mode {
            Mode::Solo { leases, .. } => {
                let mut leases = lock(leases);
                let sender = leases
                    .entry(name.to_owned())
                    .or_insert_with(|| watch::Sender::new(Ownership::Local { fence: None }));
                sender.subscribe()
            }
            Mode::Leased { shared, .. } => {
                let receiver = {
                    let mut view = lock(&shared.view);
                    let lease = view
                        .leases
                        .entry(name.to_owned())
                        .or_insert_with(|| Lease { record: None, ownership: watch::Sender::new(Ownership::Unowned) });
                    lease.ownership.subscribe()
                };
                shared.wake.notify_one();
                receiver
            }
        }
    }

    /// Who owns lease `name` now (`Unowned` for a lease nobody manages here).
    pub fn ownership(&self, name: &str) -> Ownership {
        match &*self.mode {
            Mode::Solo { leases, .. } => {
                lock(leases).get(name).map_or(Ownership::Unowned, |sender| sender.borrow().clone())
            }
            Mode::Leased { shared, .. } => {
                lock(&shared.view).leases.get(name).map_or(Ownership::Unowned, |l| l.ownership.borrow().clone())
            }
        }
    }

    /// Stops managing lease `name`, releasing it if this node owns it.
    pub async fn unmanage(&self, name: &str) {
        match &*self.mode {
            Mode::Solo { leases, .. } => {
                lock(leases).remove(name);
            }
            Mode::Leased { shared, .. } => {
                let removed = lock(&shared.view).leases.remove(name);
                if let Some(lease) = removed {
                    shared.release(name, &lease).await;
                }
            }
        }
    }

    /// The nodes, what each owns and for how long.
    pub fn status(&self) -> ClusterStatus {
        match &*self.mode {
            Mode::Solo { node_id, leases } => ClusterStatus {
                node: node_id.clone(),
                solo: true,
                nodes: vec![NodeStatus {
                    id: node_id.clone(),
                    address: String::new(),
                    last_seen_ms: 0,
                    member_for_ms: 0,
                    leases: lock(leases)
                        .keys()
                        .map(|name| LeaseStatus { lease: name.clone(), epoch: 0, held_ms: 0 })
                        .collect(),
                }],
                unowned: Vec::new(),
            },
            Mode::Leased { shared, .. } => shared.status(),
        }
    }

    /// Stops this node as a crash would: no more heartbeats, nothing released, nothing left.
    #[doc(hidden)]
    pub fn halt(&self) {
        if let Mode::Leased { shared, tasks } = &*self.mode {
            shared.stop.send_replace(true);
            for task in std::mem::take(&mut *lock(tasks)) {
                task.abort();
            }
        }
    }

    /// Leaves the cluster: hands back every lease this node owns (so others take over at once,
    /// without waiting for its heartbeat to time out) and stops heartbeating.
    pub async fn shutdown(&self) {
        let Mode::Leased { shared, tasks } = &*self.mode else { return };
        shared.stop.send_replace(true);
        for task in std::mem::take(&mut *lock(tasks)) {
            task.abort();
        }
        let leases: Vec<(String, Lease)> = std::mem::take(&mut lock(&shared.view).leases).into_iter().collect();
        for (name, lease) in &leases {
            shared.release(name, lease).await;
        }
        if let Err(error) = shared.membership.leave(&shared.options.node_id).await {
            tracing::warn!(%error, "could not leave the membership; the others will time this node out");
        }
    }
}

impl Shared {
    /// Follows the `$lease` category from `from`, applying every newer record.
    async fn follow(self: Arc<Self>, from: u64) {
        let mut events = self.store.subscribe(Selector::Category(LEASE_CATEGORY.into()), SubscribeFrom::Position(from));
        let mut stop = self.stop.subscribe();
        loop {
            let next = tokio::select! {
                next = events.next() => next,
                _ = stop.changed() => return,
            };
            match next {
                Some(Ok(event)) => {
                    let Some(name) = event.stream.strip_prefix(crate::lease::LEASE_STREAM_PREFIX) else { continue };
                    if let Some(record) = LeaseRecord::from_event(&event) {
                        self.apply(name, record);
                    }
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "following the lease records failed; following again");
                    tokio::time::sleep(self.options.heartbeat_interval).await;
                    let from = self.store.head_position().map_or(0, |p| p + 1);
                    events =
                        self.store.subscribe(Selector::Category(LEASE_CATEGORY.into()), SubscribeFrom::Position(from));
                    // Whatever was missed meanwhile is read again lease by lease.
                    for lease in lock(&self.view).leases.values_mut() {
                        lease.record = None;
                    }
                    self.wake.notify_one();
                }
                None => return,
            }
        }
    }

    /// Takes a newer record of lease `name` into the view.
    fn apply(&self, name: &str, record: LeaseRecord) {
        let mut view = lock(&self.view);
        let live = view.live.clone();
        let fresh = self.heartbeat_fresh(&view);
        let Some(lease) = view.leases.get_mut(name) else { return };
        let newer = match &lease.record {
            Some(Some(known)) => record.version > known.version,
            _ => true,
        };
        if newer {
            lease.record = Some(Some(record));
            self.publish(name, lease, &live, fresh);
        }
    }

    /// The tick loop: heartbeat, then look at every lease, until stopped.
    async fn run(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        loop {
            self.tick().await;
            tokio::select! {
                _ = tokio::time::sleep(self.options.heartbeat_interval) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }

    async fn tick(&self) {
        let options = &self.options;
        match self.membership.heartbeat(&options.node_id, &options.address, options.node_timeout).await {
            Ok(live) => {
                let mut view = lock(&self.view);
                view.live = live;
                view.last_heartbeat = Some(Instant::now());
            }
            Err(error) => tracing::warn!(%error, "heartbeat failed"),
        }
        let names: Vec<String> = lock(&self.view).leases.keys().cloned().collect();
        for name in names {
            if let Err(error) = self.look_at(&name).await {
                tracing::warn!(lease = %name, %error, "could not look at a lease");
            }
        }
        self.publish_all();
    }

    /// Reads lease `name` if it is not known yet, then acquires or hands it over as it should.
    async fn look_at(&self, name: &str) -> Result<(), skald_core::Error> {
        let known = lock(&self.view).leases.get(name).and_then(|l| l.record.clone());
        let record = match known {
            Some(record) => record,
            None => {
                let record = lease::read(&*self.store, name).await?;
                if let Some(record) = record.clone() {
                    self.apply(name, record);
                } else if let Some(lease) = lock(&self.view).leases.get_mut(name) {
                    lease.record.get_or_insert(None);
                }
                record
            }
        };
        let (live, fresh) = {
            let view = lock(&self.view);
            (view.live.clone(), self.heartbeat_fresh(&view))
        };
        if !fresh {
            return Ok(()); // this node may be presumed dead: it neither takes nor keeps anything
        }
        let me = self.options.node_id.as_str();
        let desired = desired_owner(name, &live, self.options.handover_after);
        let owner = record.as_ref().and_then(|r| r.owner.as_ref()).map(|o| o.node.as_str());
        match owner {
            Some(owner) if owner == me => {
                if desired.is_some_and(|d| d != me) {
                    let handed =
                        lock(&self.view).leases.get(name).map(|l| l.ownership.send_replace(Ownership::Unowned));
                    if handed.is_some() {
                        let fence =
                            Fence { stream: lease_stream(name), epoch: record.as_ref().map_or(0, |r| r.version) };
                        tracing::info!(lease = %name, to = ?desired, "handing a lease over");
                        // Taken into the view at once: until then the old record still names this
                        // node, and the next look would call it the owner again.
                        if let Some(released) = lease::release(&*self.store, &fence, me).await? {
                            self.apply(name, released);
                        }
                    }
                }
            }
            Some(owner) if live.iter().any(|n| n.id == owner) => {}
            _ => {
                if desired == Some(me) {
                    match lease::acquire(&*self.store, name, record.as_ref(), me, &self.options.address).await? {
                        Some(fence) => tracing::info!(lease = %name, epoch = fence.epoch, "acquired a lease"),
                        None => tracing::debug!(lease = %name, "another node changed the lease first"),
                    }
                    // The follower applies the new record (ours or the winner's) as it arrives.
                    if let Ok(Some(now)) = lease::read(&*self.store, name).await {
                        self.apply(name, now);
                    }
                }
            }
        }
        Ok(())
    }

    /// Releases `lease` if this node owns it (used on unmanage and shutdown).
    async fn release(&self, name: &str, lease: &Lease) {
        let owned = matches!(*lease.ownership.borrow(), Ownership::Local { .. });
        lease.ownership.send_replace(Ownership::Unowned);
        let Some(Some(record)) = &lease.record else { return };
        if owned {
            let fence = Fence { stream: lease_stream(name), epoch: record.version };
            if let Err(error) = lease::release(&*self.store, &fence, &self.options.node_id).await {
                tracing::warn!(lease = %name, %error, "could not release a lease; it times out instead");
            }
        }
    }

    /// Whether this node's last heartbeat is recent enough that no other node can have presumed
    /// it dead: a node stops owning anything well before the others may take over.
    fn heartbeat_fresh(&self, view: &View) -> bool {
        let margin = self.options.node_timeout * 2 / 3;
        view.last_heartbeat.is_some_and(|at| at.elapsed() < margin)
    }

    fn publish_all(&self) {
        let mut view = lock(&self.view);
        let live = view.live.clone();
        let fresh = self.heartbeat_fresh(&view);
        for (name, lease) in view.leases.iter_mut() {
            self.publish(name, lease, &live, fresh);
        }
    }

    /// Sets a lease's ownership watch from its record and the live nodes (only when it changed).
    fn publish(&self, name: &str, lease: &mut Lease, live: &[NodeInfo], fresh: bool) {
        let me = &self.options.node_id;
        let ownership = match lease.record.as_ref().and_then(|r| r.as_ref()) {
            Some(LeaseRecord { owner: Some(owner), version, .. }) if owner.node == *me && fresh => {
                Ownership::Local { fence: Some(Fence { stream: lease_stream(name), epoch: *version }) }
            }
            Some(LeaseRecord { owner: Some(owner), .. })
                if owner.node != *me && live.iter().any(|n| n.id == owner.node) =>
            {
                Ownership::Remote(Owner { node: owner.node.clone(), address: owner.address.clone() })
            }
            _ => Ownership::Unowned,
        };
        lease.ownership.send_if_modified(|current| {
            let changed = *current != ownership;
            if changed {
                *current = ownership;
            }
            changed
        });
    }

    fn status(&self) -> ClusterStatus {
        let view = lock(&self.view);
        let now = Timestamp::now();
        let mut nodes: Vec<NodeStatus> = view
            .live
            .iter()
            .map(|n| NodeStatus {
                id: n.id.clone(),
                address: n.address.clone(),
                last_seen_ms: n.last_seen_ms,
                member_for_ms: n.member_for_ms,
                leases: Vec::new(),
            })
            .collect();
        let mut unowned = Vec::new();
        for (name, lease) in &view.leases {
            let record = lease.record.as_ref().and_then(|r| r.as_ref());
            let holder = record.and_then(|r| r.owner.as_ref().map(|o| (o.node.as_str(), r)));
            match holder.and_then(|(node, r)| nodes.iter_mut().find(|n| n.id == node).map(|n| (n, r))) {
                Some((node, record)) => node.leases.push(LeaseStatus {
                    lease: name.clone(),
                    epoch: record.version,
                    held_ms: now.micros().saturating_sub(record.since.micros()) / 1000,
                }),
                None => unowned.push(name.clone()),
            }
        }
        ClusterStatus { node: self.options.node_id.clone(), solo: false, nodes, unowned }
    }
}

/// The node that should own `lease`: among the live nodes that have been members for at least
/// `handover_after` (all live nodes when none has).
fn desired_owner<'a>(lease: &str, live: &'a [NodeInfo], handover_after: Duration) -> Option<&'a str> {
    let settled = handover_after.as_millis() as u64;
    let eligible: Vec<&str> = live.iter().filter(|n| n.member_for_ms >= settled).map(|n| n.id.as_str()).collect();
    if eligible.is_empty() {
        owner_of(lease, live.iter().map(|n| n.id.as_str()))
    } else {
        owner_of(lease, eligible)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
