//! Travel sagas (no harness): `cargo bench -p skald-bench --bench sagas`. The saga workloads of
//! `skald bench` ([`skald_bench::sagas`]), count-bounded, on a `MemoryStore` and on the embedded
//! store in a temporary directory (fsync on), the three task services on loopback in this
//! process: each path at concurrency 1 and 64.
//!
//! `SAGA_BENCH_SAGAS=N` sets the sagas per run at concurrency 64 (a quarter of them at 1; default
//! 2000); `SAGA_BENCH_STORES=memory` or `skald-log` runs one store only; `SAGA_BENCH_SYNC=relaxed`
//! runs the embedded store without fsync.

use std::sync::Arc;

use skald_bench::sagas::{SagaBench, SagaPath, Until, WARM_UP_SAGAS};
use skald_bench::{Measurement, WriteCounter};
use skald_core::{EventStore, MemoryStore};

async fn bench_store(
    label: &str,
    store: Arc<dyn EventStore>,
    counter: Option<Arc<dyn WriteCounter>>,
    sagas: u64,
) -> skald_bench::Result<()> {
    let bench = SagaBench::start(store, counter, WARM_UP_SAGAS).await?;
    println!("{label}");
    println!("{}", Measurement::table_header());
    for path in [SagaPath::Success, SagaPath::Compensation] {
        for concurrency in [1, 64] {
            let count = if concurrency == 1 { sagas / 4 } else { sagas };
            println!("{}", bench.run(path, concurrency, Until::Count(count)).await?);
        }
    }
    bench.shutdown().await;
    println!();
    Ok(())
}

fn main() -> skald_bench::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let sagas = std::env::var("SAGA_BENCH_SAGAS").ok().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let stores = std::env::var("SAGA_BENCH_STORES").unwrap_or_else(|_| "memory,skald-log".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        if stores.contains("memory") {
            bench_store("memory", Arc::new(MemoryStore::new()), None, sagas).await?;
        }
        if stores.contains("skald-log") {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let relaxed = std::env::var("SAGA_BENCH_SYNC").is_ok_and(|s| s == "relaxed");
            let sync = if relaxed { skald_log::SyncMode::Relaxed } else { skald_log::SyncMode::Fsync };
            let options = skald_log::Options { sync, ..Default::default() };
            let store = Arc::new(skald_log::Store::open(dir.path(), options).expect("a store"));
            let label = if relaxed { "log-relaxed" } else { "skald-log" };
            bench_store(label, store.clone(), Some(store.clone()), sagas).await?;
            store.close();
        }
        Ok(())
    })
}
