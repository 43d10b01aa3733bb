//! `skald bench`: the embedded store's throughput and latency, measured in-process.
//!
//! Workloads (each runs for `--seconds`):
//! - `single`: one writer, one event per append, each waiting for its acknowledgement;
//! - `concurrent`: `--writers` writers doing the same at once (group commit at work);
//! - `batched`: four writers appending `--batch-size` events per append;
//! - `replay`: reading the whole log from position 0 (filled up to `--replay-events` first);
//! - `subscriber`: latency from calling append to a live subscriber receiving the event;
//! - `group`, `fanout`, `grouplatency`, `pushlatency`, `sselatency`: consumer groups
//!   ([`crate::bench_groups`]);
//! - `saga`, `compensation`: the travel saga's success and compensation paths, each at
//!   concurrency 1 and `--saga-concurrency`, its task services on loopback ([`crate::bench_sagas`]).
//!
//! An fsync probe (4 KiB write + fdatasync in a loop) runs before and after, because this
//! machine's fsync rate changes over time and every figure depends on it.

use std::fs::OpenOptions;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use skald_core::{EventStore, Json, NewEvent, ReadOptions, Selector, StreamAppend, SubscribeFrom};
use skald_log::{Options, Store};

use crate::bench_sagas::{SagaBench, SagaPath};

/// Latency samples kept per workload at most (memory stays bounded on long runs).
pub(crate) const LATENCY_SAMPLES_MAX: usize = 4_000_000;
/// Events read per page during replay.
const REPLAY_PAGE_EVENTS: usize = 10_000;

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
pub(crate) struct Figure {
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
    let known = [
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
    if let Some(bad) = args.only.iter().find(|w| !known.contains(&w.as_str())) {
        anyhow::bail!("unknown workload `{bad}`; choose from {}", known.join(", "));
    }
    let wants = |name: &str| args.only.is_empty() || args.only.iter().any(|w| w == name);
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
    let payload =
        Json::from_slice(format!(r#"{{"pad":"{}"}}"#, "x".repeat(args.event_bytes.saturating_sub(10))).as_bytes())?;
    let duration = Duration::from_secs_f64(args.seconds);
    let mut report = Report {
        sync: args.sync.clone(),
        event_bytes: args.event_bytes,
        fsync_probes: Vec::new(),
        figures: Vec::new(),
    };
    report.fsync_probes.push(fsync_probe(&dir, "before")?);

    if wants("single") {
        report.figures.push(appends(&store, "single", 1, 1, &payload, duration).await?);
    }
    if wants("concurrent") {
        report.figures.push(appends(&store, "concurrent", args.writers, 1, &payload, duration).await?);
    }
    if wants("batched") {
        report.figures.push(appends(&store, "batched", 4, args.batch_size, &payload, duration).await?);
    }
    if wants("replay") {
        fill(&store, args.replay_events, &payload).await?;
        report.figures.push(replay(&store).await?);
    }
    if wants("subscriber") {
        report.figures.push(subscriber_latency(&store, &payload, duration).await?);
    }
    let shared: Arc<dyn EventStore> = Arc::new(store.clone());
    if wants("group") || wants("fanout") {
        fill(&store, args.replay_events.min(200_000), &payload).await?;
    }
    if wants("group") {
        report.figures.push(crate::bench_groups::throughput(shared.clone(), "group", 1).await?);
    }
    if wants("fanout") {
        report.figures.push(crate::bench_groups::throughput(shared.clone(), "fanout", 10).await?);
    }
    if wants("grouplatency") {
        report.figures.push(crate::bench_groups::latency(shared.clone(), &payload).await?);
    }
    if wants("pushlatency") {
        report.figures.push(crate::bench_groups::push_latency(shared.clone(), &payload).await?);
    }
    if wants("sselatency") {
        report.figures.push(crate::bench_groups::sse_latency(shared.clone(), &payload).await?);
    }
    let saga_paths: Vec<SagaPath> =
        [SagaPath::Success, SagaPath::Compensation].into_iter().filter(|p| wants(p.workload())).collect();
    if !saga_paths.is_empty() {
        let sagas = SagaBench::start(store.clone()).await?;
        let mut concurrencies = vec![1, args.saga_concurrency];
        concurrencies.dedup();
        for path in saga_paths {
            for &concurrency in &concurrencies {
                report.figures.push(sagas.run(path, concurrency, duration).await?);
            }
        }
        sagas.shutdown().await;
    }
    report.fsync_probes.push(fsync_probe(&dir, "after")?);
    store.close();

    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
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

pub(crate) fn progress(name: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {prefix:>10} {elapsed:>4} {msg}").expect("valid template"));
    bar.set_prefix(name.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Shows a running count of `unit`s on the bar until the bar is finished.
pub(crate) fn watch_count(
    bar: ProgressBar,
    count: Arc<AtomicU64>,
    started: Instant,
    unit: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let n = count.load(Ordering::Relaxed);
            let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{n} {unit}, {rate:.0}/s"));
            if bar.is_finished() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

async fn appends(
    store: &Store,
    name: &str,
    writers: usize,
    batch: usize,
    payload: &Json,
    duration: Duration,
) -> anyhow::Result<Figure> {
    let bar = progress(name);
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let ticker = watch_count(bar.clone(), count.clone(), started, "events");
    let before = write_counts(store);
    let mut tasks = Vec::with_capacity(writers);
    for writer in 0..writers {
        let store = store.clone();
        let payload = payload.clone();
        let count = count.clone();
        let stream = format!("bench{name}-{writer}");
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let events = (0..batch).map(|_| NewEvent::new("BenchEvent", payload.clone())).collect();
                let sent = Instant::now();
                store.append(vec![StreamAppend::new(stream.clone(), events)]).await?;
                if latencies.len() < LATENCY_SAMPLES_MAX / writers {
                    latencies.push(sent.elapsed().as_micros() as u64);
                }
                count.fetch_add(batch as u64, Ordering::Relaxed);
            }
            Ok::<_, skald_core::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    ticker.await?;
    let events = count.load(Ordering::Relaxed);
    let (written, groups, syncs) = write_counts(store);
    let per = |n: u64, by: u64| n as f64 / by.max(1) as f64;
    let (written, groups, syncs) = (written - before.0, groups - before.1, syncs - before.2);
    let conditions = format!(
        "{writers} writer(s), {batch} event(s) per append, latency per append; {:.1} events per group, {:.1} per fsync",
        per(written, groups),
        per(written, syncs)
    );
    Ok(figure(name, events, seconds, latencies, conditions))
}

/// (events, groups, fsyncs) written so far.
pub(crate) fn write_counts(store: &Store) -> (u64, u64, u64) {
    let stats = store.stats();
    (stats.events.load(Ordering::Relaxed), stats.groups.load(Ordering::Relaxed), stats.syncs.load(Ordering::Relaxed))
}

/// Appends batches until the log holds at least `target` events.
async fn fill(store: &Store, target: u64, payload: &Json) -> anyhow::Result<()> {
    let have = store.head_position().map_or(0, |p| p + 1);
    if have >= target {
        return Ok(());
    }
    let bar = ProgressBar::new(target - have);
    bar.set_style(ProgressStyle::with_template("  filling {bar:30} {pos}/{len} events").expect("valid template"));
    let mut left = target - have;
    let mut stream = 0u64;
    while left > 0 {
        let batch = left.min(1000) as usize;
        let events = (0..batch).map(|_| NewEvent::new("BenchEvent", payload.clone())).collect();
        store.append(vec![StreamAppend::new(format!("benchfill-{}", stream % 100), events)]).await?;
        stream += 1;
        left -= batch as u64;
        bar.inc(batch as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

async fn replay(store: &Store) -> anyhow::Result<Figure> {
    let bar = progress("replay");
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let ticker = watch_count(bar.clone(), count.clone(), started, "events");
    let mut from = Some(0);
    let mut bytes = 0u64;
    while let Some(start) = from {
        let page = store.read(&Selector::All, ReadOptions::forward(start, REPLAY_PAGE_EVENTS)).await?;
        bytes += page.events.iter().map(|e| e.data.as_bytes().len() as u64).sum::<u64>();
        count.fetch_add(page.events.len() as u64, Ordering::Relaxed);
        from = page.next;
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    ticker.await?;
    let events = count.load(Ordering::Relaxed);
    let conditions = format!("whole log from position 0, pages of {REPLAY_PAGE_EVENTS}, {} MiB of data", bytes >> 20);
    Ok(figure("replay", events, seconds, Vec::new(), conditions))
}

async fn subscriber_latency(store: &Store, payload: &Json, duration: Duration) -> anyhow::Result<Figure> {
    let bar = progress("subscriber");
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let ticker = watch_count(bar.clone(), count.clone(), started, "events");
    let mut live = store.subscribe(Selector::Stream("benchlive-1".into()), SubscribeFrom::End);
    let clock = Instant::now();
    let mut writer = {
        let store = store.clone();
        let payload = payload.clone();
        tokio::spawn(async move {
            let mut sent = 0u64;
            while started.elapsed() < duration {
                let at = clock.elapsed().as_micros() as u64;
                let event =
                    NewEvent::new("BenchEvent", payload.clone()).with_metadata(serde_json::json!({"sent_us": at}));
                store.append(vec![StreamAppend::new("benchlive-1", vec![event])]).await?;
                sent += 1;
            }
            Ok::<_, skald_core::Error>(sent)
        })
    };
    let mut latencies = Vec::new();
    let mut received = 0u64;
    let mut expected: Option<u64> = None;
    while expected.is_none_or(|total| received < total) {
        tokio::select! {
            event = live.next() => {
                let event = event.context("subscription ended")??;
                let sent: u64 = event.metadata.to_value()["sent_us"].as_u64().unwrap_or(0);
                if latencies.len() < LATENCY_SAMPLES_MAX {
                    latencies.push((clock.elapsed().as_micros() as u64).saturating_sub(sent));
                }
                received += 1;
                count.fetch_add(1, Ordering::Relaxed);
            }
            total = &mut writer, if expected.is_none() => {
                expected = Some(total??);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    ticker.await?;
    let conditions =
        "1 writer, single-event appends, 1 live subscriber; latency from append call to delivery".to_owned();
    Ok(figure("subscriber", received, seconds, latencies, conditions))
}

pub(crate) fn figure(name: &str, events: u64, seconds: f64, mut latencies: Vec<u64>, conditions: String) -> Figure {
    latencies.sort_unstable();
    let pick = |q: f64| (!latencies.is_empty()).then(|| latencies[((latencies.len() - 1) as f64 * q).round() as usize]);
    Figure {
        workload: name.to_owned(),
        unit: "events",
        events,
        seconds,
        events_per_second: events as f64 / seconds.max(1e-9),
        p50_us: pick(0.50),
        p99_us: pick(0.99),
        p999_us: pick(0.999),
        conditions,
    }
}

impl Figure {
    /// The same figure, counting `unit`s instead of events.
    pub(crate) fn counting(self, unit: &'static str) -> Self {
        Figure { unit, ..self }
    }
}

/// Times 4 KiB writes each followed by fdatasync for one second appending to a new file, then
/// for one second overwriting a file of zeros written beforehand.
fn fsync_probe(dir: &Path, when: &'static str) -> anyhow::Result<FsyncProbe> {
    let path = dir.join("fsync-probe.tmp");
    let (fsyncs_per_second, p50_us) = time_fsyncs(&path, false)?;
    let (overwrite_fsyncs_per_second, overwrite_p50_us) = time_fsyncs(&path, true)?;
    std::fs::remove_file(&path)?;
    Ok(FsyncProbe { when, fsyncs_per_second, p50_us, overwrite_fsyncs_per_second, overwrite_p50_us })
}

/// `(fdatasync/s, p50 µs)` of 4 KiB writes at the end of `path`, over zeros if `over_zeros`.
fn time_fsyncs(path: &Path, over_zeros: bool) -> anyhow::Result<(f64, u64)> {
    /// Enough for one second at the fastest rate seen here (~10k/s).
    const ZEROED_BYTES: usize = 64 * 1024 * 1024;
    let mut file = OpenOptions::new().create(true).write(true).truncate(true).open(path)?;
    if over_zeros {
        file.write_all(&vec![0u8; ZEROED_BYTES])?;
        file.sync_all()?;
        file.seek(std::io::SeekFrom::Start(0))?;
    }
    let block = vec![7u8; 4096];
    let mut samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) && (samples.len() + 1) * block.len() <= ZEROED_BYTES {
        let t = Instant::now();
        file.write_all(&block)?;
        file.sync_data()?;
        samples.push(t.elapsed().as_micros() as u64);
    }
    samples.sort_unstable();
    Ok((samples.len() as f64 / started.elapsed().as_secs_f64(), samples[samples.len() / 2]))
}

fn print_report(report: &Report) {
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
    println!(
        "{:<16} {:>10} {:<6} {:>8} {:>13} {:>9} {:>9} {:>9}  conditions",
        "workload", "count", "", "seconds", "per second", "p50 µs", "p99 µs", "p999 µs"
    );
    let show = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    for f in &report.figures {
        println!(
            "{:<16} {:>10} {:<6} {:>8.2} {:>13.0} {:>9} {:>9} {:>9}  {}",
            f.workload,
            f.events,
            f.unit,
            f.seconds,
            f.events_per_second,
            show(f.p50_us),
            show(f.p99_us),
            show(f.p999_us),
            f.conditions
        );
    }
}
