//! Per-group metrics through the `metrics` facade; the server's Prometheus recorder renders them
//! on `/metrics`. Counters grow by the dispatcher's deltas at each keeper tick; gauges are set.

use crate::dispatch::Counts;
use crate::GroupStats;

/// Counter: deliveries (first and repeated), labelled `group`.
pub const DELIVERED_TOTAL: &str = "skald_group_delivered_total";
/// Counter: acknowledged events.
pub const ACKED_TOTAL: &str = "skald_group_acked_total";
/// Counter: events given back for a retry (nack or lease expiry).
pub const RETRIED_TOTAL: &str = "skald_group_retried_total";
/// Counter: events written to `$parked-<group>`.
pub const PARKED_TOTAL: &str = "skald_group_parked_total";
/// Gauge: events leased to workers.
pub const IN_FLIGHT: &str = "skald_group_in_flight";
/// Gauge: log positions after the checkpoint.
pub const LAG_EVENTS: &str = "skald_group_lag_events";
/// Gauge: age of the oldest unacknowledged event, in seconds.
pub const LAG_SECONDS: &str = "skald_group_lag_seconds";

pub(crate) struct GroupMetrics {
    group: String,
}

impl GroupMetrics {
    pub fn new(group: &str) -> Self {
        GroupMetrics { group: group.to_owned() }
    }

    pub fn update(&self, before: &Counts, now: &Counts, stats: &GroupStats) {
        let label = || [("group", self.group.clone())];
        for (name, a, b) in [
            (DELIVERED_TOTAL, before.delivered, now.delivered),
            (ACKED_TOTAL, before.acked, now.acked),
            (RETRIED_TOTAL, before.retried, now.retried),
            (PARKED_TOTAL, before.parked, now.parked),
        ] {
            if b > a {
                metrics::counter!(name, &label()).increment(b - a);
            }
        }
        metrics::gauge!(IN_FLIGHT, &label()).set(stats.in_flight as f64);
        metrics::gauge!(LAG_EVENTS, &label()).set(stats.lag_events as f64);
        metrics::gauge!(LAG_SECONDS, &label()).set(stats.lag_seconds);
    }
}
