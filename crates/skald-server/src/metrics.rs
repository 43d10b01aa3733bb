//! Prometheus metrics: the process-wide recorder, the metric names, and the request middleware.
//!
//! The recorder is installed once per process through the `metrics` facade (see [`handle`]), so the
//! engine's own histograms (`skald_fsync_seconds`, `skald_group_commit_events`) render on the same
//! `/metrics` route. Every histogram gets explicit buckets and so renders as a real Prometheus
//! histogram, not a summary.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Counter: successful append requests, labelled `replayed`.
pub const APPENDS_TOTAL: &str = "skald_appends_total";
/// Counter: events written by appends (replays write none).
pub const APPENDED_EVENTS_TOTAL: &str = "skald_appended_events_total";
/// Counter: bytes (type + data + metadata) written by appends.
pub const APPENDED_BYTES_TOTAL: &str = "skald_appended_bytes_total";
/// Counter: read requests, labelled `selector` (`stream`, `all`, `category`, `type`).
pub const READS_TOTAL: &str = "skald_reads_total";
/// Counter: events returned by reads.
pub const READ_EVENTS_TOTAL: &str = "skald_read_events_total";
/// Gauge: open SSE live streams.
pub const SSE_SUBSCRIBERS: &str = "skald_sse_subscribers";
/// Counter: SSE events sent.
pub const SSE_EVENTS_TOTAL: &str = "skald_sse_events_total";
/// Counter: SSE streams the server closed because the client read too slowly.
pub const SSE_SLOW_DISCONNECTS_TOTAL: &str = "skald_sse_slow_disconnects_total";
/// Counter: HTTP requests, labelled `method`, `route`, `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "skald_http_requests_total";
/// Histogram: time to the response head, labelled `method`, `route`.
pub const HTTP_REQUEST_SECONDS: &str = "skald_http_request_duration_seconds";

/// Buckets of every histogram measured in seconds (`*_seconds`): 50 µs to 10 s.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets of every other histogram (counts, such as `skald_group_commit_events`): 1 to 100,000.
pub const COUNT_BUCKETS: &[f64] =
    &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0, 100_000.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often the process-wide upkeep thread drains histogram buffers between scrapes.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The process-wide Prometheus handle; the first call installs the recorder and starts one
/// upkeep thread for the life of the process.
///
/// Safe to call from many routers and tests. If another recorder was installed first (by an
/// embedding program), ours is kept private: `/metrics` then shows only what is recorded
/// through it, which is nothing, and a warning is logged.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = builder().build_recorder();
            let handle = recorder.handle();
            if let Err(error) = metrics::set_global_recorder(recorder) {
                tracing::warn!(%error, "another metrics recorder is installed; /metrics will be empty");
            }
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new().name("skald-metrics-upkeep".into()).spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkeep.run_upkeep();
            });
            if let Err(error) = spawned {
                tracing::warn!(%error, "no metrics upkeep thread; histograms are drained only by scrapes");
            }
            handle
        })
        .clone()
}

fn builder() -> PrometheusBuilder {
    let builder = PrometheusBuilder::new();
    // `set_buckets*` only fail on an empty slice; ours are constants and not empty.
    let builder = builder.set_buckets(COUNT_BUCKETS).expect("buckets are not empty");
    builder.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS).expect("buckets are not empty")
}

/// Records request count and latency by route template (never by raw path: bounded label sets).
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_REQUEST_SECONDS, "method" => method.clone(), "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS_TOTAL, "method" => method, "route" => route, "status" => status).increment(1);
    response
}

/// Decrements the subscriber gauge when an SSE stream ends, however it ends.
pub(crate) struct SubscriberGauge;

impl SubscriberGauge {
    pub fn open() -> Self {
        metrics::gauge!(SSE_SUBSCRIBERS).increment(1.0);
        SubscriberGauge
    }
}

impl Drop for SubscriberGauge {
    fn drop(&mut self) {
        metrics::gauge!(SSE_SUBSCRIBERS).decrement(1.0);
    }
}
