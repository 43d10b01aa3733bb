//! Several Skald nodes on one shared backend (PostgreSQL), without a cluster protocol of our own.
//!
//! Work that must have one owner at a time — a consumer group's dispatcher, a shard of the saga
//! coordinator's executions and timers, later the scheduler — is owned through a **lease**:
//!
//! - **membership** ([`skald_core::Membership`]) says which nodes are alive; the backend keeps it
//!   (PostgreSQL: a table of heartbeats judged by the database's clock);
//! - **leases are streams in the log** ([`lease`]): `$lease-<name>` holds one event per change of
//!   owner, and acquiring appends with the expected version seen, so exactly one node wins;
//! - **fencing**: an owner's appends carry the condition that its lease stream is still at its
//!   epoch ([`Fence`]), so a node presumed dead cannot write as owner after another took over;
//! - **assignment** ([`assign`]) by rendezvous hashing over the live nodes: every node computes
//!   the same owner, work spreads over the nodes, and a node that leaves moves only its own leases.
//!
//! A node that stops heartbeating loses its leases after [`ClusterOptions::node_timeout`]; the node
//! that should own each then acquires it at its next tick. A single embedded node is
//! [`Cluster::solo`]: it owns every lease and writes no lease events.
//!
//! ```
//! use std::sync::Arc;
//! use skald_cluster::{Cluster, ClusterOptions, Ownership};
//! use skald_core::{LocalMembership, MemoryStore};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let node = Cluster::join(store, Arc::new(LocalMembership::new()), ClusterOptions::new("http://127.0.0.1:7070")).await?;
//! let mut dispatcher = node.manage("group-billing");
//! dispatcher.wait_for(|o| matches!(o, Ownership::Local { .. })).await.unwrap();
//! node.shutdown().await;
//! # Ok::<_, skald_core::Error>(()) }).unwrap();
//! ```

pub mod assign;
pub mod lease;
mod node;

pub use lease::Fence;
pub use node::{Cluster, ClusterHandle, ClusterOptions, ClusterStatus, LeaseStatus, NodeStatus, Owner, Ownership};
