//! Every workload family runs on a `MemoryStore` and reports what it did: the figures `skald
//! bench` prints and the cargo benches compare come from these functions.

use std::sync::Arc;
use std::time::Duration;

use skald_bench::sagas::{SagaBench, SagaPath, Until};
use skald_bench::sse::{self, LoopbackServer};
use skald_bench::{groups, payload, store, Measurement};
use skald_core::{EventStore, MemoryStore};

const SHORT: Duration = Duration::from_millis(100);

fn memory() -> Arc<dyn EventStore> {
    Arc::new(MemoryStore::new())
}

fn assert_measured(m: &Measurement, workload: &str, latency: bool) {
    assert_eq!(m.workload, workload);
    assert!(m.count > 0 && m.throughput() > 0.0, "{m}");
    assert_eq!(m.p50_us.is_some() && m.p999_us >= m.p99_us && m.p99_us >= m.p50_us, latency, "{m}");
}

#[tokio::test]
async fn store_workloads_count_what_they_did() {
    let log = memory();
    let data = payload(64);
    let appended = store::appends(&log, None, "concurrent", 4, 10, &data, SHORT).await.unwrap();
    assert_measured(&appended, "concurrent", true);
    assert!(appended.conditions.starts_with("4 writer(s), 10 event(s) per append"), "{appended}");
    store::fill(&log, appended.count + 500, &data).await.unwrap();
    let replayed = store::replay(&log).await.unwrap();
    assert_measured(&replayed, "replay", false);
    assert_eq!(replayed.count, appended.count + 500, "the fill tops the log up to its target");
    assert_measured(&store::subscriber_latency(&log, &data, SHORT).await.unwrap(), "subscriber", true);
    let fanout = groups::throughput(&log, "fanout", 2, 1000).await.unwrap();
    assert_measured(&fanout, "fanout", false);
    assert_eq!(fanout.count, 2000, "each group delivers the last 1000 positions");
}

#[tokio::test]
async fn sse_and_saga_workloads_run_over_loopback() {
    let log = memory();
    let server = LoopbackServer::start(log.clone()).await.unwrap();
    let tail = sse::live_tail_latency(&log, &server.url, &payload(64)).await.unwrap();
    assert_measured(&tail, "ssetail", true);
    assert_eq!(tail.count, groups::LATENCY_SAMPLES as u64);
    server.stop().await;

    let sagas = SagaBench::start(log, None, 2).await.unwrap();
    let run = sagas.run(SagaPath::Compensation, 4, Until::Count(8)).await.unwrap();
    assert_measured(&run, "compensation-c4", true);
    assert_eq!((run.count, run.unit), (8, "sagas"));
    assert!(run.conditions.contains("27.0 history events"), "{run}");
    sagas.shutdown().await;
}
