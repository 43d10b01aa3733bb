//! Append → delivery latency over Server-Sent Events, through the real HTTP server on loopback
//! (no harness): `cargo bench -p skald-bench --bench sse`. The workloads of
//! [`skald_bench::sse`]:
//! - the live tail (`GET /v1/streams/{stream}/live`),
//! - a consumer group's per-worker stream (`GET /v1/groups/{group}/live?worker=`), each batch
//!   acknowledged over HTTP as it arrives,
//!
//! one event appended every 2 ms, on a `MemoryStore` and on the embedded store (fsync mode).

use std::sync::Arc;

use skald_bench::sse::{self, LoopbackServer};
use skald_bench::{payload, Measurement};
use skald_core::{EventStore, MemoryStore};

async fn measure(label: &str, store: Arc<dyn EventStore>) -> skald_bench::Result<()> {
    let data = payload(256);
    let server = LoopbackServer::start(store.clone()).await?;
    println!("{label}");
    println!("{}", Measurement::table_header());
    println!("{}", sse::live_tail_latency(&store, &server.url, &data).await?);
    println!("{}", sse::group_latency(&store, &server.url, &data).await?);
    server.stop().await;
    println!();
    Ok(())
}

fn main() -> skald_bench::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        measure("memory", Arc::new(MemoryStore::new())).await?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = skald_log::Store::open(dir.path(), skald_log::Options::default()).expect("a store");
        measure("embedded", Arc::new(store)).await
    })
}
