//! Leases on every backend that several nodes can share: spread over the nodes, each owned once,
//! taken over after a node dies, handed over on a clean stop and to a node that joins, and fenced
//! so that an owner presumed dead cannot write as owner.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use skald_cluster::{Cluster, ClusterHandle, ClusterOptions, Ownership};
use skald_core::{EventStore, NewEvent, StreamAppend};
use skald_testkit::TestStore;

skald_testkit::backend_tests!(crate;
    leases_spread_over_the_nodes_and_each_has_one_owner,
    a_dead_nodes_leases_are_taken_over_within_five_seconds,
    an_owner_presumed_dead_cannot_write_as_owner,
    a_clean_stop_hands_leases_over_at_once,
    a_node_that_joins_gets_its_share
);

const LEASES: usize = 12;

fn options(name: &str) -> ClusterOptions {
    ClusterOptions {
        node_id: name.to_owned(),
        address: format!("http://{name}"),
        heartbeat_interval: Duration::from_millis(100),
        node_timeout: Duration::from_millis(600),
        handover_after: Duration::from_millis(300),
    }
}

fn names() -> Vec<String> {
    (0..LEASES).map(|i| format!("work-{i}")).collect()
}

/// Nodes on the kit's store, one handle each, with the backend's own membership.
async fn nodes(kit: &TestStore, ids: &[&str]) -> Option<Vec<ClusterHandle>> {
    let mut nodes = Vec::new();
    for id in ids {
        let Some(store) = kit.node().await else {
            eprintln!("skipped: the {} backend has one handle per store, no nodes", kit.backend());
            return None;
        };
        let store: Arc<dyn EventStore> = store;
        let membership = kit.membership(&store).expect("a backend with nodes has a membership");
        let node = Cluster::join(store, membership, options(id)).await.unwrap();
        for name in names() {
            node.manage(&name);
        }
        nodes.push(node);
    }
    Some(nodes)
}

/// Waits until every lease has exactly one local owner among `nodes`; answers the owner of each.
async fn settled(nodes: &[ClusterHandle], within: Duration) -> Vec<String> {
    let start = Instant::now();
    loop {
        let owners: Vec<Vec<&str>> = names()
            .iter()
            .map(|name| {
                nodes
                    .iter()
                    .filter(|n| matches!(n.ownership(name), Ownership::Local { .. }))
                    .map(|n| n.node_id())
                    .collect()
            })
            .collect();
        if owners.iter().all(|o| o.len() == 1) {
            return owners.into_iter().map(|o| o[0].to_owned()).collect();
        }
        assert!(owners.iter().all(|o| o.len() <= 1), "a lease has two local owners: {owners:?}");
        assert!(start.elapsed() < within, "not settled within {within:?}: {owners:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every lease has one owner and every node of `nodes` owns at least one: nodes that
/// joined later get their share once they have been members for `handover_after`.
async fn spread(nodes: &[ClusterHandle], within: Duration) -> Vec<String> {
    let start = Instant::now();
    loop {
        let owners = settled(nodes, within).await;
        if nodes.iter().all(|n| owners.iter().any(|o| o == n.node_id())) {
            return owners;
        }
        assert!(start.elapsed() < within, "not spread within {within:?}: {owners:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn leases_spread_over_the_nodes_and_each_has_one_owner(kit: TestStore) {
    let Some(nodes) = nodes(&kit, &["a", "b", "c"]).await else { return };
    spread(&nodes, Duration::from_secs(5)).await;
    // Every node sees the same owners, remote ones with their address.
    for name in names() {
        let views: Vec<Ownership> = nodes.iter().map(|n| n.ownership(&name)).collect();
        let remote = views
            .iter()
            .filter(|o| matches!(o, Ownership::Remote(owner) if owner.address.starts_with("http://")))
            .count();
        assert_eq!(remote, 2, "{name}: {views:?}");
    }
    let status = nodes[0].status();
    assert_eq!(status.nodes.len(), 3);
    assert_eq!(status.nodes.iter().map(|n| n.leases.len()).sum::<usize>(), LEASES);
    for node in nodes {
        node.shutdown().await;
    }
}

async fn a_dead_nodes_leases_are_taken_over_within_five_seconds(kit: TestStore) {
    let Some(nodes) = nodes(&kit, &["a", "b", "c"]).await else { return };
    let before = spread(&nodes, Duration::from_secs(5)).await;
    nodes[1].halt();
    let killed = Instant::now();
    let after = settled(&[nodes[0].clone(), nodes[2].clone()], Duration::from_secs(5)).await;
    eprintln!("taken over in {:?}", killed.elapsed());
    for (name, (was, is)) in names().iter().zip(before.iter().zip(&after)) {
        if was != "b" {
            assert_eq!(was, is, "{name} moved although its owner lives");
        }
    }
    for node in [&nodes[0], &nodes[2]] {
        node.shutdown().await;
    }
}

async fn an_owner_presumed_dead_cannot_write_as_owner(kit: TestStore) {
    let Some(nodes) = nodes(&kit, &["a", "b"]).await else { return };
    let owners = spread(&nodes, Duration::from_secs(5)).await;
    let (index, name) = (0..LEASES).find(|i| owners[*i] == "a").map(|i| (0, names()[i].clone())).unwrap();
    let Ownership::Local { fence: Some(fence) } = nodes[index].ownership(&name) else { panic!("a owns {name}") };
    let store = kit.store();
    let write = |n: u64| StreamAppend::new("owned-1", vec![NewEvent::new("Done", json!({"n": n}))]);
    store.append_if(vec![write(0)], vec![fence.condition()]).await.expect("the owner writes");
    nodes[0].halt(); // a stalls: no heartbeats, but it still holds its fence
    settled(&nodes[1..], Duration::from_secs(5)).await;
    let error = store.append_if(vec![write(1)], vec![fence.condition()]).await.unwrap_err();
    assert!(fence.is_broken_by(&error), "the stale owner's write is refused: {error:?}");
    nodes[1].shutdown().await;
}

async fn a_clean_stop_hands_leases_over_at_once(kit: TestStore) {
    let Some(nodes) = nodes(&kit, &["a", "b"]).await else { return };
    spread(&nodes, Duration::from_secs(5)).await;
    let stopped = Instant::now();
    nodes[0].shutdown().await;
    settled(&nodes[1..], Duration::from_secs(5)).await;
    let took = stopped.elapsed();
    assert!(took < Duration::from_millis(600), "a clean stop need not wait for the timeout: {took:?}");
    nodes[1].shutdown().await;
}

async fn a_node_that_joins_gets_its_share(kit: TestStore) {
    let Some(mut all) = nodes(&kit, &["a"]).await else { return };
    let alone = settled(&all, Duration::from_secs(5)).await;
    assert!(alone.iter().all(|o| o == "a"));
    all.extend(nodes(&kit, &["b", "c"]).await.unwrap());
    spread(&all, Duration::from_secs(5)).await;
    for node in all {
        node.shutdown().await;
    }
}
