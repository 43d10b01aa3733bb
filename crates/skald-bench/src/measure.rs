//! [`Measurement`]: what a workload measured, with its latency percentiles; the table both
//! `skald bench` and the cargo benches print; the progress spinners; the embedded store's write
//! counters ([`WriteCounter`]).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use skald_core::Json;

/// Latency samples kept per workload at most (memory stays bounded on long runs).
pub const LATENCY_SAMPLES_MAX: usize = 4_000_000;

/// What one workload measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// The workload's name (`concurrent`, `saga-c64`, …).
    pub workload: String,
    /// What `count` counts: `events`, or `sagas`.
    pub unit: &'static str,
    /// Units done.
    pub count: u64,
    /// How long they took.
    pub elapsed: Duration,
    /// Median latency in µs, when the workload measures latency.
    pub p50_us: Option<u64>,
    /// 99th percentile latency in µs.
    pub p99_us: Option<u64>,
    /// 99.9th percentile latency in µs.
    pub p999_us: Option<u64>,
    /// How it was measured, and what the store did meanwhile.
    pub conditions: String,
}

impl Measurement {
    /// `count` events in `elapsed`, with the percentiles of `latencies` (µs, any order).
    pub fn new(workload: &str, count: u64, elapsed: Duration, mut latencies: Vec<u64>, conditions: String) -> Self {
        latencies.sort_unstable();
        let pick =
            |q: f64| (!latencies.is_empty()).then(|| latencies[((latencies.len() - 1) as f64 * q).round() as usize]);
        Measurement {
            workload: workload.to_owned(),
            unit: "events",
            count,
            elapsed,
            p50_us: pick(0.50),
            p99_us: pick(0.99),
            p999_us: pick(0.999),
            conditions,
        }
    }

    /// The same measurement, counting `unit`s instead of events.
    pub fn counting(self, unit: &'static str) -> Self {
        Measurement { unit, ..self }
    }

    /// Units per second.
    pub fn throughput(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The header of the table whose rows are measurements' `Display`.
    pub fn table_header() -> String {
        format!(
            "{:<16} {:>10} {:<6} {:>8} {:>13} {:>9} {:>9} {:>9}  conditions",
            "workload", "count", "", "seconds", "per second", "p50 µs", "p99 µs", "p999 µs"
        )
    }
}

/// One row of the table (see [`Measurement::table_header`]).
impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
        write!(
            f,
            "{:<16} {:>10} {:<6} {:>8.2} {:>13.0} {:>9} {:>9} {:>9}  {}",
            self.workload,
            self.count,
            self.unit,
            self.elapsed.as_secs_f64(),
            self.throughput(),
            show(self.p50_us),
            show(self.p99_us),
            show(self.p999_us),
            self.conditions
        )
    }
}

/// Event data of about `bytes` bytes: `{"pad": "xxx…"}`.
pub fn payload(bytes: usize) -> Json {
    Json::from_value(&serde_json::json!({ "pad": "x".repeat(bytes.saturating_sub(10)) }))
}

/// What a store has done so far, for the conditions of a figure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteCounts {
    /// Events written.
    pub events: u64,
    /// Write groups (one write each).
    pub groups: u64,
    /// fsyncs.
    pub syncs: u64,
    /// Index commits.
    pub index_commits: u64,
}

impl std::ops::Sub for WriteCounts {
    type Output = WriteCounts;

    fn sub(self, before: WriteCounts) -> WriteCounts {
        WriteCounts {
            events: self.events.saturating_sub(before.events),
            groups: self.groups.saturating_sub(before.groups),
            syncs: self.syncs.saturating_sub(before.syncs),
            index_commits: self.index_commits.saturating_sub(before.index_commits),
        }
    }
}

/// A store that counts its writes (the embedded store does; a `MemoryStore` does not).
pub trait WriteCounter: Send + Sync {
    /// The counts so far.
    fn write_counts(&self) -> WriteCounts;
}

impl WriteCounter for skald_log::Store {
    fn write_counts(&self) -> WriteCounts {
        let stats = self.stats();
        WriteCounts {
            events: stats.events.load(Ordering::Relaxed),
            groups: stats.groups.load(Ordering::Relaxed),
            syncs: stats.syncs.load(Ordering::Relaxed),
            index_commits: stats.index_commits.load(Ordering::Relaxed),
        }
    }
}

/// A spinner naming a running workload with a running count of its `unit`s (drawn only on a
/// terminal); [`Progress::finish`] clears it.
pub(crate) struct Progress {
    bar: ProgressBar,
    pub count: Arc<AtomicU64>,
    pub started: Instant,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    pub fn start(name: &str, unit: &'static str) -> Progress {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:>10} {elapsed:>4} {msg}").expect("valid template"),
        );
        bar.set_prefix(name.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        let count = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let ticker = {
            let (bar, count) = (bar.clone(), count.clone());
            tokio::spawn(async move {
                while !bar.is_finished() {
                    let n = count.load(Ordering::Relaxed);
                    let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
                    bar.set_message(format!("{n} {unit}, {rate:.0}/s"));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        Progress { bar, count, started, ticker }
    }

    /// Clears the spinner; returns the count and the time since the start.
    pub async fn finish(self) -> (u64, Duration) {
        let elapsed = self.started.elapsed();
        self.bar.finish_and_clear();
        let _ = self.ticker.await;
        (self.count.load(Ordering::Relaxed), elapsed)
    }
}

/// A bar for filling the log to `total` events.
pub(crate) fn fill_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(ProgressStyle::with_template("  filling {bar:30} {pos}/{len} events").expect("valid template"));
    bar
}

/// Latencies in µs from `sent[n]` to each `(n, arrival)`.
pub(crate) fn latencies(sent: &[Instant], arrived: &[(usize, Instant)]) -> Vec<u64> {
    arrived.iter().filter_map(|(n, at)| sent.get(*n).map(|s| at.duration_since(*s).as_micros() as u64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_sample() {
        let m = Measurement::new("w", 1000, Duration::from_secs(2), (1..=1000).rev().collect(), String::new());
        assert_eq!((m.p50_us, m.p99_us, m.p999_us), (Some(501), Some(990), Some(999)));
        assert_eq!(m.throughput(), 500.0);
        let none = Measurement::new("w", 0, Duration::ZERO, Vec::new(), String::new());
        assert_eq!((none.p50_us, none.throughput()), (None, 0.0));
    }
}
