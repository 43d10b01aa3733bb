//! Which Skald nodes are alive: the [`Membership`] a backend that serves several nodes provides
//! (PostgreSQL keeps it in a table, judged by the database's clock), and [`LocalMembership`], the
//! in-memory reference for nodes in one process (tests, and the single embedded node).
//!
//! Membership says only who is alive and where it listens. Who owns what is decided elsewhere
//! (`skald-cluster`), with leases kept as events in the log and fenced by stream conditions, so a
//! node that membership has given up on cannot write as an owner even if it is still running.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::Error;

/// A node as membership knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Unique per process (a restarted node is a new node).
    pub id: String,
    /// Where other nodes reach its HTTP API (`http://host:port`).
    pub address: String,
    /// Milliseconds since its last heartbeat, by the membership's clock.
    pub last_seen_ms: u64,
    /// Milliseconds since its first heartbeat.
    pub member_for_ms: u64,
}

/// Live nodes, kept by the backend all nodes share.
#[async_trait::async_trait]
pub trait Membership: Send + Sync + 'static {
    /// Records that node `id` (reachable at `address`) is alive now, and answers every node seen
    /// within `timeout` (this one included), ordered by id.
    async fn heartbeat(&self, id: &str, address: &str, timeout: Duration) -> Result<Vec<NodeInfo>, Error>;

    /// Forgets node `id` (a clean stop), so others need not wait for its heartbeat to time out.
    async fn leave(&self, id: &str) -> Result<(), Error>;
}

struct Seen {
    address: String,
    first: Instant,
    last: Instant,
}

/// Membership in memory, shared by clones: the nodes of one process.
#[derive(Clone, Default)]
pub struct LocalMembership {
    nodes: Arc<Mutex<HashMap<String, Seen>>>,
}

impl LocalMembership {
    /// An empty membership.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl Membership for LocalMembership {
    async fn heartbeat(&self, id: &str, address: &str, timeout: Duration) -> Result<Vec<NodeInfo>, Error> {
        let now = Instant::now();
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        let seen =
            nodes.entry(id.to_owned()).or_insert_with(|| Seen { address: address.to_owned(), first: now, last: now });
        seen.last = now;
        seen.address = address.to_owned();
        let mut live: Vec<NodeInfo> = nodes
            .iter()
            .filter(|(_, seen)| now.duration_since(seen.last) <= timeout)
            .map(|(id, seen)| NodeInfo {
                id: id.clone(),
                address: seen.address.clone(),
                last_seen_ms: now.duration_since(seen.last).as_millis() as u64,
                member_for_ms: now.duration_since(seen.first).as_millis() as u64,
            })
            .collect();
        live.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(live)
    }

    async fn leave(&self, id: &str) -> Result<(), Error> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nodes_are_live_until_they_time_out_or_leave() {
        let membership = LocalMembership::new();
        membership.heartbeat("b", "http://b", Duration::from_secs(5)).await.unwrap();
        let live = membership.heartbeat("a", "http://a", Duration::from_secs(5)).await.unwrap();
        assert_eq!(live.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        tokio::time::sleep(Duration::from_millis(30)).await;
        let live = membership.heartbeat("a", "http://a", Duration::from_millis(20)).await.unwrap();
        assert_eq!(live.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["a"], "b timed out");
        membership.leave("a").await.unwrap();
        let live = membership.heartbeat("b", "http://b", Duration::from_secs(5)).await.unwrap();
        assert_eq!(live.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["b"]);
        assert!(live[0].member_for_ms >= 30);
    }
}
