//! The cluster's wire types: what `GET /v1/cluster` answers (mirroring skald-cluster's status).

use serde::{Deserialize, Serialize};

/// A lease a node holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseStatus {
    /// `saga-<shard>` or `group-<name>`.
    pub lease: String,
    /// The owner's epoch: its appends are fenced on it.
    pub epoch: u64,
    /// How long the owner has held it, in milliseconds.
    pub held_ms: u64,
}

/// A live node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Its id.
    pub id: String,
    /// Where the other nodes reach it (empty for a solo node).
    pub address: String,
    /// Milliseconds since its last heartbeat.
    pub last_seen_ms: u64,
    /// Milliseconds since it joined.
    pub member_for_ms: u64,
    /// What it owns.
    pub leases: Vec<LeaseStatus>,
}

/// The nodes, what each owns and for how long.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The node that answered.
    pub node: String,
    /// True for a single embedded node, which owns everything without leases.
    pub solo: bool,
    /// Live nodes, by id.
    pub nodes: Vec<NodeStatus>,
    /// Leases nobody owns right now.
    pub unowned: Vec<String>,
}
