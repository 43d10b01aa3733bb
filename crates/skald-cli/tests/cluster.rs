//! Three `skald serve` processes on one PostgreSQL schema, one of them killed with SIGKILL while
//! travel sagas run and a consumer group delivers:
//!
//! - the survivors take over every lease the dead node held within 5 s (`/v1/cluster`);
//! - every saga ends completed or fully compensated, and no task took effect twice for one
//!   Idempotency-Key (the travel services record every effect by key, in this process);
//! - the group delivered every event at least once, and never an event of a stream before the
//!   stream's earlier events (per-stream order across the failover);
//! - requests to any node are answered: sagas started on one node run on another, leases taken
//!   from one node come from the owner's dispatcher.
//!
//! Needs `SKALD_TEST_POSTGRES_URL`; without it the test says so and passes.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use skald_client::{Client, ExecutionStatus, GroupSpec, ListExecutions, StartExecution};
use skald_core::{ExpectedVersion, NewEvent};
use skald_examples::travel::{self, Services};
use skald_saga::shards::shard_of;

const SKALD: &str = env!("CARGO_BIN_EXE_skald");
const NODES: usize = 3;
const TRIPS: usize = 90;
const AUDIT_STREAMS: usize = 6;

struct Node {
    child: Child,
    client: Client,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(url: &str, schema: &str, resources: &[(String, String)]) -> Node {
    let mut command = Command::new(SKALD);
    command.args(["serve", "--backend", url, "--pg-schema", schema, "--addr", "127.0.0.1:0"]);
    for (name, target) in resources {
        command.arg("--resource").arg(format!("{name}={target}"));
    }
    let mut child = command
        .env("SKALD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("skald serve starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("the banner names the address: {first:?}"))
        .to_owned();
    Node { child, client: Client::new(&url).unwrap() }
}

fn trip_input(name: &str) -> serde_json::Value {
    let (flight, car, amount) = match name.split('-').next().unwrap_or_default() {
        "flight" => ("FAIL", "compact", 100),
        "car" => ("SK 1", "FAIL", 100),
        "payment" | "flaky" => ("SK 1", "compact", 5000),
        _ => ("SK 1", "compact", 100),
    };
    json!({"trip_id": name, "flight": flight, "car": car, "amount": amount})
}

/// Waits until every lease is owned and each of `nodes` owns a saga shard; answers the owner of
/// each lease (node id → leases).
async fn spread(client: &Client, nodes: usize, within: Duration) -> BTreeMap<String, Vec<String>> {
    let start = Instant::now();
    loop {
        if let Ok(status) = client.cluster_status().await {
            let shards =
                |n: &skald_client::NodeStatus| n.leases.iter().filter(|l| l.lease.starts_with("saga-")).count();
            let owned: usize = status.nodes.iter().map(shards).sum();
            let settled = status.nodes.len() == nodes && status.unowned.is_empty() && owned == 16;
            if settled && status.nodes.iter().all(|n| shards(n) > 0) {
                return status
                    .nodes
                    .into_iter()
                    .map(|n| (n.id, n.leases.into_iter().map(|l| l.lease).collect()))
                    .collect();
            }
        }
        assert!(start.elapsed() < within, "the cluster did not settle within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_saga_and_mid_delivery_is_taken_over() {
    skald_testkit::with_postgres_schema(|pg, schema| async move {
        let services = Services::default();
        let base = travel::spawn(services.clone()).await.unwrap();
        let resources = travel::resources(&base);
        let nodes: Vec<Node> = (0..NODES).map(|_| start_node(&pg, &schema, &resources)).collect();
        run(&nodes, &services).await;
    })
    .await;
}

async fn run(nodes: &[Node], services: &Services) {
    spread(&nodes[0].client, NODES, Duration::from_secs(20)).await;
    nodes[0].client.create_state_machine("travel", &travel::definition()).await.unwrap();
    let group = GroupSpec { lease_timeout_ms: 2_000, ..GroupSpec::new("audit") }.filter(json!({"category": ["audit"]}));
    nodes[1].client.create_group(&group).await.unwrap();
    let alive = Arc::new(Mutex::new((0..NODES).collect::<Vec<usize>>()));
    let clients: Vec<Client> = nodes.iter().map(|n| n.client.clone()).collect();

    // Sagas started one after another on every node; a start that meets the dead node is sent
    // again, with the same name, to another one.
    let starter = tokio::spawn(start_trips(clients.clone(), alive.clone()));
    let writer = tokio::spawn(write_audit(clients.clone(), alive.clone()));
    let deliveries = Arc::new(Mutex::new(Vec::<(String, u64)>::new()));
    let consumer = tokio::spawn(consume(clients.clone(), alive.clone(), deliveries.clone()));

    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The victim: the node running the group (mid-delivery) — it owns saga shards too.
    let owners = spread(&clients[0], NODES, Duration::from_secs(5)).await;
    let victim_id = owners.iter().find(|(_, leases)| leases.iter().any(|l| l == "group-audit")).unwrap().0.clone();
    let victim = {
        let mut found = None;
        for (i, client) in clients.iter().enumerate() {
            if client.cluster_status().await.unwrap().node == victim_id {
                found = Some(i);
            }
        }
        found.expect("the group's owner is one of the nodes")
    };
    // Mid-saga: executions of the victim's shards are running as it dies.
    let shards = &owners[&victim_id];
    let query = ListExecutions { status: Some(ExecutionStatus::Running), ..Default::default() };
    let running = clients[victim].list_executions(&query).await.unwrap().executions;
    let on_victim = running.iter().filter(|e| shards.contains(&format!("saga-{}", shard_of(&e.execution_id)))).count();
    assert!(on_victim > 0, "no saga of the victim's shards was running when it was killed: {running:?}");
    alive.lock().unwrap().retain(|i| *i != victim);
    let killed = Instant::now();
    let _ = Command::new("kill").args(["-9", &nodes[victim].child.id().to_string()]).status();
    let survivor = &clients[alive.lock().unwrap()[0]];
    let after = spread(survivor, NODES - 1, Duration::from_secs(5)).await;
    let took = killed.elapsed();
    eprintln!("node {victim_id} killed with {on_victim} of its sagas running; its leases were taken over in {took:?}");
    assert!(took < Duration::from_secs(5), "take-over took {took:?}");
    assert!(!after.contains_key(&victim_id));

    let (trips, written) = (starter.await.unwrap(), writer.await.unwrap());
    for (name, id) in &trips {
        let expected = name.starts_with("ok");
        let done = wait_done(&clients, &alive, id).await;
        let succeeded = match done {
            ExecutionStatus::Succeeded => true,
            ExecutionStatus::Failed => false,
            other => panic!("{name} ended {other:?}"),
        };
        assert_eq!(succeeded, expected, "{name}");
        travel::check_trip(services, name, succeeded).unwrap();
    }
    wait_delivered(&deliveries, &written).await;
    consumer.abort();
    check_order(&deliveries.lock().unwrap(), &written);
}

/// Starts the trips, each on the next live node; answers (name, execution id) of each.
async fn start_trips(clients: Vec<Client>, alive: Arc<Mutex<Vec<usize>>>) -> Vec<(String, String)> {
    // Half are flaky: their compensation fails once and is retried a second later, so many sagas
    // are mid-flight at any moment.
    let kinds = ["ok", "flaky", "flight", "flaky", "car", "flaky", "payment", "flaky"];
    let mut started = Vec::new();
    for i in 0..TRIPS {
        let name = format!("{}-{i}", kinds[i % kinds.len()]);
        let request = StartExecution::new("travel", &name, trip_input(&name));
        let id = retry_on_live(&clients, &alive, i, |client| {
            let request = request.clone();
            async move { client.start_execution(&request).await.map(|s| s.execution_id) }
        })
        .await;
        started.push((name, id));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    started
}

/// Appends to the audit streams on the live nodes for a few seconds; answers each stream's head.
async fn write_audit(clients: Vec<Client>, alive: Arc<Mutex<Vec<usize>>>) -> HashMap<String, u64> {
    let mut heads: HashMap<String, u64> = HashMap::new();
    for round in 0..120u64 {
        let stream = format!("audit-{}", round as usize % AUDIT_STREAMS);
        let version = heads.get(&stream).map_or(0, |v| v + 1);
        let id = uuid::Uuid::from_u128(((round as u128) << 8) | 1);
        let expected = version.checked_sub(1).map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
        retry_on_live(&clients, &alive, round as usize, |client| {
            let (stream, event) = (stream.clone(), NewEvent::new("Audited", json!({"round": round})).with_id(id));
            // The same id makes a retry of a landed append a replay, not a second event.
            async move { client.append(&stream, expected, vec![event]).await.map(|_| ()) }
        })
        .await;
        heads.insert(stream, version);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    heads
}

/// Leases from the live nodes and acknowledges, recording (stream, version) of every delivery.
async fn consume(clients: Vec<Client>, alive: Arc<Mutex<Vec<usize>>>, deliveries: Arc<Mutex<Vec<(String, u64)>>>) {
    let mut turn = 0;
    loop {
        turn += 1;
        let node = pick(&alive, turn);
        let Ok(batch) = clients[node].lease("audit", "worker", 20, Duration::from_millis(500)).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Some(lease) = batch.lease_id else { continue };
        deliveries.lock().unwrap().extend(batch.events.iter().map(|d| (d.event.stream.clone(), d.event.version)));
        let _ = clients[node].ack_all("audit", lease).await;
    }
}

/// The `turn`-th live node, round robin.
fn pick(alive: &Mutex<Vec<usize>>, turn: usize) -> usize {
    let alive = alive.lock().unwrap();
    alive[turn % alive.len()]
}

/// Runs `call` on the live nodes in turn (from `start`) until one answers.
async fn retry_on_live<T, F, Fut>(clients: &[Client], alive: &Mutex<Vec<usize>>, start: usize, call: F) -> T
where
    F: Fn(Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, skald_client::ClientError>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut attempt = start;
    loop {
        let node = pick(alive, attempt);
        match call(clients[node].clone()).await {
            Ok(answer) => return answer,
            Err(error) => {
                assert!(Instant::now() < deadline, "no node answered within 30 s: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        attempt += 1;
    }
}

async fn wait_done(clients: &[Client], alive: &Mutex<Vec<usize>>, id: &str) -> ExecutionStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = retry_on_live(clients, alive, 0, |c| async move { c.describe_execution(id).await }).await.status;
        if status != ExecutionStatus::Running {
            return status;
        }
        assert!(Instant::now() < deadline, "{id} still running after 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_delivered(deliveries: &Mutex<Vec<(String, u64)>>, written: &HashMap<String, u64>) {
    let total: u64 = written.values().map(|v| v + 1).sum();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen: std::collections::HashSet<(String, u64)> = deliveries.lock().unwrap().iter().cloned().collect();
        if seen.len() as u64 == total {
            return;
        }
        assert!(Instant::now() < deadline, "{} of {total} events delivered after 30 s", seen.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// At least once, and a stream's version is first delivered only after all its earlier ones.
fn check_order(deliveries: &[(String, u64)], written: &HashMap<String, u64>) {
    let mut next: HashMap<&str, u64> = HashMap::new();
    for (stream, version) in deliveries {
        let expected = next.entry(stream.as_str()).or_insert(0);
        assert!(*version <= *expected, "{stream}/{version} delivered before {stream}/{expected}");
        if *version == *expected {
            *expected += 1;
        }
    }
    for (stream, head) in written {
        assert_eq!(next.get(stream.as_str()).copied(), Some(head + 1), "{stream}: not every event was delivered");
    }
    eprintln!("{} deliveries of {} events", deliveries.len(), written.values().map(|v| v + 1).sum::<u64>());
}
