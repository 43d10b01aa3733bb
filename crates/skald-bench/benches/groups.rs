//! Consumer-group benchmarks (no harness): `cargo bench -p skald-bench --bench groups`. The
//! workloads of `skald bench` ([`skald_bench::groups`]), each on a `MemoryStore` and on the
//! embedded store in a temporary directory (fsync mode):
//! - one pulled group with 4 workers leasing batches of 1,000 (events already in the log),
//! - fan-out: the same log read by 10 groups with 4 workers each,
//! - append → delivery latency for a worker waiting in a long poll (one event every 2 ms),
//! - append → delivery latency of push delivery to an HTTP endpoint on loopback.
//!
//! `SKALD_BENCH_EVENTS` sets the log size (default 400,000 events of 256 bytes).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use skald_bench::{groups, payload, store, Measurement};
use skald_core::{EventStore, MemoryStore};

async fn suite(label: &str, make: impl Fn() -> Arc<dyn EventStore>, events: u64) -> skald_bench::Result<()> {
    let data = payload(256);
    let filled = make();
    store::fill(&filled, events, &data).await?;
    println!("{label}, {events} events in the log");
    println!("{}", Measurement::table_header());
    println!("{}", groups::throughput(&filled, "group", 1, events).await?);
    println!("{}", groups::throughput(&filled, "fanout", 10, events).await?);
    println!("{}", groups::latency(&make(), &data).await?);
    println!("{}", groups::push_latency(&make(), &data).await?);
    println!();
    Ok(())
}

fn main() -> skald_bench::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let events = std::env::var("SKALD_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(400_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        suite("memory", || Arc::new(MemoryStore::new()), events).await?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let stores = AtomicUsize::new(0);
        let make = || -> Arc<dyn EventStore> {
            let path = dir.path().join(stores.fetch_add(1, Ordering::SeqCst).to_string());
            Arc::new(skald_log::Store::open(path, skald_log::Options::default()).expect("a store"))
        };
        suite("skald-log", make, events).await
    })
}
