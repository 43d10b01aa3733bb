//! Which executions this coordinator drives. Executions are spread over [`SHARDS`] shards by a
//! stable hash of their id; shard `k` is the cluster lease `saga-<k>`. A coordinator drives (runs
//! tasks and timers for, records inputs of) only the executions of the shards it owns, and every
//! history append carries its shard's fence, so a coordinator that lost a shard cannot write to
//! its executions any more. A single embedded node owns every shard, unfenced.
//!
//! When a shard is gained, its open executions are recovered (replayed, pending commands
//! re-issued); when it is lost, they are dropped from memory (in-flight attempts aborted, timers
//! and activity tasks forgotten) and the new owner takes them over from the log.

use std::collections::BTreeSet;

use skald_cluster::{ClusterHandle, Ownership};
use skald_core::StreamCondition;
use tokio::sync::watch;

use crate::error::SagaError;

/// How many shards the executions are spread over. Changing it moves executions between shards:
/// every node of a cluster must agree on it.
pub const SHARDS: u32 = 16;

/// The shard of an execution.
pub fn shard_of(execution_id: &str) -> u32 {
    skald_cluster::assign::shard_of(execution_id, SHARDS)
}

/// The cluster lease of a shard.
pub fn lease_name(shard: u32) -> String {
    format!("saga-{shard}")
}

/// The ownership of every shard, as the cluster reports it.
pub(crate) struct Shards {
    watches: Vec<watch::Receiver<Ownership>>,
}

impl Shards {
    /// Asks the cluster to manage every shard's lease.
    pub fn manage(cluster: &ClusterHandle) -> Shards {
        Shards { watches: (0..SHARDS).map(|k| cluster.manage(&lease_name(k))).collect() }
    }

    /// What an append to execution `id`'s history must carry, or who drives it instead.
    pub fn fence(&self, id: &str) -> Result<Option<StreamCondition>, SagaError> {
        match &*self.watches[shard_of(id) as usize].borrow() {
            Ownership::Local { fence } => Ok(fence.as_ref().map(|f| f.condition())),
            Ownership::Remote(owner) => Err(SagaError::NotOwner { id: id.to_owned(), owner: Some(owner.clone()) }),
            Ownership::Unowned => Err(SagaError::NotOwner { id: id.to_owned(), owner: None }),
        }
    }

    /// Whether this coordinator drives execution `id`.
    pub fn drives(&self, id: &str) -> bool {
        matches!(*self.watches[shard_of(id) as usize].borrow(), Ownership::Local { .. })
    }

    /// The shards owned now.
    pub fn owned(&self) -> BTreeSet<u32> {
        (0..SHARDS).filter(|k| matches!(*self.watches[*k as usize].borrow(), Ownership::Local { .. })).collect()
    }

    /// Fresh receivers of every shard's ownership, for the task that follows them.
    pub fn receivers(&self) -> Vec<watch::Receiver<Ownership>> {
        self.watches.clone()
    }
}

/// Whether an append error means the shard's fence broke (another node took the shard over).
pub(crate) fn fence_broken(fence: &Option<StreamCondition>, error: &skald_core::Error) -> bool {
    matches!((fence, error), (Some(fence), skald_core::Error::WrongExpectedVersion { stream, .. }) if *stream == fence.stream)
}
