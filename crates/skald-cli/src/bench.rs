//! `skald bench`: the embedded store's throughput and latency, measured in-process by the
//! workloads of `skald-bench`; this module picks them by `--only`, runs them on the store it
//! opens, and prints their figures as a table or JSON.
//!
//! Workloads (each runs for `--seconds`):
//! - `single`: one writer, one event per append, each waiting for its acknowledgement;
//! - `concurrent`: `--writers` writers doing the same at once (group commit at work);
//! - `batched`: four writers appending `--batch-size` events per append;
//! - `replay`: reading the whole log from position 0 (filled up to `--replay-events` first);
//! - `subscriber`: latency from calling append to a live subscriber receiving the event;
//! - `group`, `fanout`, `grouplatency`, `pushlatency`, `sselatency`: consumer groups
//!   (`skald_bench::groups`, `skald_bench::sse`);
//! - `saga`, `compensation`: the travel saga's success and compensation paths, each at
//!   concurrency 1 and `--saga-concurrency`, its task services on loopback (`skald_bench::sagas`).
//!
//! An fsync probe (4 KiB write + fdatasync in a loop) runs before and after, because this
//! machine's fsync rate changes over time and every figure depends on it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use skald_bench::disk::fsync_probe;
use skald_bench::sagas::{SagaBench, SagaPath, Until, WARM_UP_SAGAS};
use skald_bench::sse::LoopbackServer;
use skald_bench::{groups, payload, sse, store as workloads, Measurement};
use skald_core::EventStore;
use skald_log::{Options, Store};

/// Positions each group reads in the `group` and `fanout` workloads.
const GROUP_POSITIONS: u64 = 200_000;
/// Every workload `--only` can name, in the order they run.
const WORKLOADS: [&str; 12] = [
    "single",
    "concurrent",
    "batched",
    "replay",
    "subscriber",
    "group",
    "fanout",
    "grouplatency",
    "pushlatency",
    "sselatency",
    "saga",
    "compensation",
];

#[derive(Args)]
pub struct BenchArgs {
    /// Store directory to use (a fresh temporary one by default, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Seconds per workload.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Writers in the `concurrent` workload.
    #[arg(long, default_value_t = 64)]
    writers: usize,
    /// Sagas in flight in the second run of `saga` and `compensation` (the first runs one at a time).
    #[arg(long, default_value_t = 64)]
    saga_concurrency: usize,
    /// Events per append in the `batched` workload.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Bytes of each event's data.
    #[arg(long, default_value_t = 256)]
    event_bytes: usize,
    /// The log is filled to at least this many events before `replay`.
    #[arg(long, default_value_t = 1_000_000)]
    replay_events: u64,
    /// `fsync` (default) or `relaxed`.
    #[arg(long, default_value = "fsync")]
    sync: String,
    /// Run only these workloads (comma-separated): single, concurrent, batched, replay, subscriber,
    /// group, fanout, grouplatency, pushlatency, sselatency, saga, compensation.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Print results as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Figure {
    workload: String,
    /// What `events` and `events_per_second` count: `events`, or `sagas` for the saga workloads.
    unit: &'static str,
    events: u64,
    seconds: f64,
    events_per_second: f64,
    p50_us: Option<u64>,
    p99_us: Option<u64>,
    p999_us: Option<u64>,
    conditions: String,
}

impl From<&Measurement> for Figure {
    fn from(m: &Measurement) -> Self {
        Figure {
            workload: m.workload.clone(),
            unit: m.unit,
            events: m.count,
            seconds: m.elapsed.as_secs_f64(),
            events_per_second: m.throughput(),
            p50_us: m.p50_us,
            p99_us: m.p99_us,
            p999_us: m.p999_us,
            conditions: m.conditions.clone(),
        }
    }
}

/// The disk's fsync rate, appending to a file (how a file grows) and overwriting written zeros
/// (how the store writes its active segment): the condition every durable figure depends on.
#[derive(Serialize)]
struct FsyncProbe {
    when: &'static str,
    fsyncs_per_second: f64,
    p50_us: u64,
    overwrite_fsyncs_per_second: f64,
    overwrite_p50_us: u64,
}

impl FsyncProbe {
    fn run(dir: &std::path::Path, when: &'static str) -> anyhow::Result<FsyncProbe> {
        let p = fsync_probe(dir)?;
        Ok(FsyncProbe {
            when,
            fsyncs_per_second: p.fsyncs_per_second,
            p50_us: p.p50_us,
            overwrite_fsyncs_per_second: p.overwrite_fsyncs_per_second,
            overwrite_p50_us: p.overwrite_p50_us,
        })
    }
}

#[derive(Serialize)]
struct Report {
    sync: String,
    event_bytes: usize,
    fsync_probes: Vec<FsyncProbe>,
    figures: Vec<Figure>,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be positive");
    anyhow::ensure!((1..=10_000).contains(&args.writers), "--writers must be 1 to 10000");
    anyhow::ensure!((1..=10_000).contains(&args.saga_concurrency), "--saga-concurrency must be 1 to 10000");
    anyhow::ensure!(
        (1..=skald_core::limits::APPEND_EVENTS_MAX).contains(&args.batch_size),
        "--batch-size must be 1 to {}",
        skald_core::limits::APPEND_EVENTS_MAX
    );
    if let Some(bad) = args.only.iter().find(|w| !WORKLOADS.contains(&w.as_str())) {
        anyhow::bail!("unknown workload `{bad}`; choose from {}", WORKLOADS.join(", "));
    }
    let temp;
    let dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = TempDir::new()?;
            temp.0.clone()
        }
    };
    let options = Options { sync: crate::config::parse_sync(&args.sync)?, ..Options::default() };
    let store = Store::open(&dir, options).with_context(|| format!("cannot open a store in {}", dir.display()))?;
    let mut report = Report {
        sync: args.sync.clone(),
        event_bytes: args.event_bytes,
        fsync_probes: Vec::new(),
        figures: Vec::new(),
    };
    report.fsync_probes.push(FsyncProbe::run(&dir, "before")?);
    let measurements = measure(&args, &store).await?;
    report.figures = measurements.iter().map(Figure::from).collect();
    report.fsync_probes.push(FsyncProbe::run(&dir, "after")?);
    store.close();

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &measurements);
    }
    Ok(())
}

/// Runs the workloads `--only` names (all by default) in their order.
async fn measure(args: &BenchArgs, log: &Store) -> anyhow::Result<Vec<Measurement>> {
    let wants = |name: &str| args.only.is_empty() || args.only.iter().any(|w| w == name);
    let store: Arc<dyn EventStore> = Arc::new(log.clone());
    let data = payload(args.event_bytes);
    let duration = Duration::from_secs_f64(args.seconds);
    let mut figures = Vec::new();
    for (name, writers, batch) in [("single", 1, 1), ("concurrent", args.writers, 1), ("batched", 4, args.batch_size)] {
        if wants(name) {
            figures.push(workloads::appends(&store, Some(log), name, writers, batch, &data, duration).await?);
        }
    }
    if wants("replay") {
        workloads::fill(&store, args.replay_events, &data).await?;
        figures.push(workloads::replay(&store).await?);
    }
    if wants("subscriber") {
        figures.push(workloads::subscriber_latency(&store, &data, duration).await?);
    }
    if wants("group") || wants("fanout") {
        workloads::fill(&store, args.replay_events.min(GROUP_POSITIONS), &data).await?;
    }
    for (name, count) in [("group", 1), ("fanout", 10)] {
        if wants(name) {
            figures.push(groups::throughput(&store, name, count, GROUP_POSITIONS).await?);
        }
    }
    if wants("grouplatency") {
        figures.push(groups::latency(&store, &data).await?);
    }
    if wants("pushlatency") {
        figures.push(groups::push_latency(&store, &data).await?);
    }
    if wants("sselatency") {
        let server = LoopbackServer::start(store.clone()).await?;
        figures.push(sse::group_latency(&store, &server.url, &data).await?);
        server.stop().await;
    }
    let paths: Vec<SagaPath> =
        [SagaPath::Success, SagaPath::Compensation].into_iter().filter(|p| wants(p.workload())).collect();
    if !paths.is_empty() {
        let sagas = SagaBench::start(store.clone(), Some(Arc::new(log.clone())), WARM_UP_SAGAS).await?;
        let mut concurrencies = vec![1, args.saga_concurrency];
        concurrencies.dedup();
        for path in paths {
            for &concurrency in &concurrencies {
                figures.push(sagas.run(path, concurrency, Until::Elapsed(duration)).await?);
            }
        }
        sagas.shutdown().await;
    }
    Ok(figures)
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("skald-bench-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn print_report(report: &Report, measurements: &[Measurement]) {
    println!("sync mode: {}, event data: {} bytes", report.sync, report.event_bytes);
    for probe in &report.fsync_probes {
        println!(
            "fsync probe ({}): {:.0} fdatasync/s, p50 {} µs appending; {:.0} fdatasync/s, p50 {} µs overwriting zeros",
            probe.when,
            probe.fsyncs_per_second,
            probe.p50_us,
            probe.overwrite_fsyncs_per_second,
            probe.overwrite_p50_us
        );
    }
    println!();
    println!("{}", Measurement::table_header());
    for m in measurements {
        println!("{m}");
    }
}
