//! What a consumer group is: [`GroupSpec`] (filter, start, retry policy, bounds, push target),
//! its JSON wire form, its validation, and the named limits that bound every group.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use skald_core::Timestamp;
use skald_pattern::Pattern;

use crate::GroupError;

/// Longest group name, in bytes.
pub const GROUP_NAME_BYTES_MAX: usize = 128;
/// Most events one group holds read-ahead and unacknowledged (the largest `max_in_flight`).
pub const GROUP_IN_FLIGHT_EVENTS_MAX: usize = 100_000;
/// Most events in one lease.
pub const LEASE_EVENTS_MAX: usize = 10_000;
/// Most leases (worker batches) outstanding in one group at once.
pub const GROUP_LEASES_MAX: usize = 1024;
/// Most delivery attempts of one event before it is parked.
pub const ATTEMPTS_MAX: u32 = 1000;
/// Longest lease timeout, in milliseconds (one hour).
pub const LEASE_TIMEOUT_MS_MAX: u64 = 3_600_000;
/// Most events in one push batch.
pub const PUSH_BATCH_EVENTS_MAX: usize = 10_000;
/// Largest push request body, in bytes (a batch is cut before it grows past this).
pub const PUSH_BATCH_BYTES_MAX: usize = 6 * 1024 * 1024;
/// Largest push parallelisation factor (lanes per group).
pub const PUSH_PARALLELISM_MAX: usize = 64;

/// Where a new group starts reading the log. Resolved to a position when the group is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// The first event of the log.
    #[default]
    Beginning,
    /// Only events appended after the group is created.
    End,
    /// This global position, inclusive.
    Position(u64),
    /// The first event committed after this time.
    Time(Timestamp),
}

/// Retry delays: `initial_ms * multiplier^(attempt-1)`, at most `max_ms`, then "equal jitter"
/// (a uniformly random delay between half and all of it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// Delay before the first retry, in milliseconds.
    pub initial_ms: u64,
    /// Longest delay, in milliseconds.
    pub max_ms: u64,
    /// Growth per attempt (≥ 1).
    pub multiplier: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial_ms: 100, max_ms: 30_000, multiplier: 2.0 }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (1 = the first retry), before jitter.
    pub fn delay_ms(&self, attempt: u32) -> u64 {
        let exponent = attempt.saturating_sub(1).min(64) as i32;
        let delay = self.initial_ms as f64 * self.multiplier.powi(exponent);
        if delay.is_finite() {
            (delay as u64).min(self.max_ms)
        } else {
            self.max_ms
        }
    }
}

/// Push delivery: Skald POSTs batches `{"records": [event, …]}` to `url`, like an AWS Lambda
/// event-source mapping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSpec {
    /// `http://` URL the batches are POSTed to.
    pub url: String,
    /// Most events per batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// How long to gather events before sending a batch that is not full, in milliseconds.
    #[serde(default)]
    pub batching_window_ms: u64,
    /// Events older than this (by their commit time) are parked instead of sent, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_record_age_seconds: Option<u64>,
    /// Retries of a failing event before it is parked (the on-failure destination `$parked-<group>`).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// On an error answer or a timeout, split the batch in two and retry the halves separately.
    #[serde(default)]
    pub bisect_on_error: bool,
    /// Batches sent at once; each stream is held by one batch at a time, so per-stream order holds.
    #[serde(default = "default_parallelization")]
    pub parallelization_factor: usize,
    /// How long one POST may take, in milliseconds; longer counts as a failure.
    #[serde(default = "default_push_timeout")]
    pub timeout_ms: u64,
}

fn default_batch_size() -> usize {
    100
}
fn default_max_retries() -> u32 {
    3
}
fn default_parallelization() -> usize {
    1
}
fn default_push_timeout() -> u64 {
    10_000
}

impl PushSpec {
    /// A push target with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        PushSpec {
            url: url.into(),
            batch_size: default_batch_size(),
            batching_window_ms: 0,
            max_record_age_seconds: None,
            max_retries: default_max_retries(),
            bisect_on_error: false,
            parallelization_factor: default_parallelization(),
            timeout_ms: default_push_timeout(),
        }
    }
}

/// A consumer group: which events, from where, and how they are retried and bounded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// The group's name: `[A-Za-z0-9_.-]`, 1..=[`GROUP_NAME_BYTES_MAX`] bytes.
    pub name: String,
    /// An event pattern (see `skald_pattern`); `{}` takes every event. Streams starting with `$`
    /// (Skald's own) are never delivered.
    #[serde(default = "empty_filter")]
    pub filter: Value,
    /// Where a new group starts. Ignored by updates.
    #[serde(default)]
    pub start: StartFrom,
    /// Deliveries of one event before it is parked to `$parked-<group>`.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Delays between attempts.
    #[serde(default)]
    pub backoff: Backoff,
    /// How long a worker holds a lease before its events go to someone else, in milliseconds.
    /// Every ack or nack on the lease renews it.
    #[serde(default = "default_lease_timeout")]
    pub lease_timeout_ms: u64,
    /// Events read ahead and not yet acknowledged, at most.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Push delivery; `None` for pull only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSpec>,
}

fn empty_filter() -> Value {
    Value::Object(Default::default())
}
fn default_max_attempts() -> u32 {
    5
}
fn default_lease_timeout() -> u64 {
    30_000
}
fn default_max_in_flight() -> usize {
    10_000
}

impl GroupSpec {
    /// A pull group named `name` taking every event from the beginning, with the defaults.
    pub fn new(name: impl Into<String>) -> Self {
        GroupSpec {
            name: name.into(),
            filter: empty_filter(),
            start: StartFrom::Beginning,
            max_attempts: default_max_attempts(),
            backoff: Backoff::default(),
            lease_timeout_ms: default_lease_timeout(),
            max_in_flight: default_max_in_flight(),
            push: None,
        }
    }

    /// Sets the filter.
    pub fn filter(mut self, filter: Value) -> Self {
        self.filter = filter;
        self
    }

    /// Checks every field and compiles the filter.
    pub fn validate(&self) -> Result<Pattern, GroupError> {
        validate_group_name(&self.name)?;
        let pattern = Pattern::compile(&self.filter).map_err(|e| GroupError::InvalidFilter {
            pointer: format!("/filter{}", e.pointer()),
            message: e.message().to_owned(),
        })?;
        if self.max_attempts == 0 || self.max_attempts > ATTEMPTS_MAX {
            return Err(GroupError::invalid("max_attempts", format!("must be 1..={ATTEMPTS_MAX}")));
        }
        let b = &self.backoff;
        if !(b.multiplier.is_finite() && b.multiplier >= 1.0) || b.max_ms < b.initial_ms {
            return Err(GroupError::invalid("backoff", "needs multiplier ≥ 1 and max_ms ≥ initial_ms"));
        }
        if self.lease_timeout_ms == 0 || self.lease_timeout_ms > LEASE_TIMEOUT_MS_MAX {
            return Err(GroupError::invalid("lease_timeout_ms", format!("must be 1..={LEASE_TIMEOUT_MS_MAX}")));
        }
        if self.max_in_flight == 0 {
            return Err(GroupError::invalid("max_in_flight", "must be at least 1"));
        }
        if self.max_in_flight > GROUP_IN_FLIGHT_EVENTS_MAX {
            return Err(GroupError::limit(
                "max_in_flight",
                "group_in_flight_events_max",
                self.max_in_flight,
                GROUP_IN_FLIGHT_EVENTS_MAX,
            ));
        }
        if let Some(push) = &self.push {
            validate_push(push)?;
        }
        Ok(pattern)
    }

    /// Attempts before parking, taking a push target's `max_retries` into account.
    pub(crate) fn effective_max_attempts(&self) -> u32 {
        match &self.push {
            Some(push) => self.max_attempts.min(push.max_retries.saturating_add(1)),
            None => self.max_attempts,
        }
    }
}

fn validate_push(push: &PushSpec) -> Result<(), GroupError> {
    if !push.url.starts_with("http://") && !push.url.starts_with("https://") {
        return Err(GroupError::invalid("push.url", "must be an http:// or https:// URL"));
    }
    if reqwest::Url::parse(&push.url).is_err() {
        return Err(GroupError::invalid("push.url", "is not a valid URL"));
    }
    if push.batch_size == 0 || push.batch_size > PUSH_BATCH_EVENTS_MAX {
        return Err(GroupError::invalid("push.batch_size", format!("must be 1..={PUSH_BATCH_EVENTS_MAX}")));
    }
    if push.parallelization_factor == 0 || push.parallelization_factor > PUSH_PARALLELISM_MAX {
        return Err(GroupError::invalid("push.parallelization_factor", format!("must be 1..={PUSH_PARALLELISM_MAX}")));
    }
    if push.timeout_ms == 0 || push.timeout_ms > LEASE_TIMEOUT_MS_MAX {
        return Err(GroupError::invalid("push.timeout_ms", format!("must be 1..={LEASE_TIMEOUT_MS_MAX}")));
    }
    Ok(())
}

/// Checks a group name: 1..=[`GROUP_NAME_BYTES_MAX`] bytes of `[A-Za-z0-9_.-]`.
pub fn validate_group_name(name: &str) -> Result<(), GroupError> {
    if name.is_empty() || name.len() > GROUP_NAME_BYTES_MAX {
        return Err(GroupError::invalid("name", format!("must be 1..={GROUP_NAME_BYTES_MAX} bytes")));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return Err(GroupError::invalid("name", "may contain only letters, digits, `_`, `.` and `-`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_form_has_defaults() {
        let spec: GroupSpec = serde_json::from_value(json!({"name": "orders"})).unwrap();
        assert_eq!(spec, GroupSpec::new("orders"));
        let spec: GroupSpec =
            serde_json::from_value(json!({"name": "g", "start": {"position": 7}, "push": {"url": "http://x/"}}))
                .unwrap();
        assert_eq!(spec.start, StartFrom::Position(7));
        assert_eq!(spec.push.unwrap().batch_size, 100);
        let spec: GroupSpec = serde_json::from_value(json!({"name": "g", "start": "end"})).unwrap();
        assert_eq!(spec.start, StartFrom::End);
    }

    #[test]
    fn invalid_filters_name_the_pointer() {
        let spec = GroupSpec::new("g").filter(json!({"data": {"total": [{"numeric": [">", "1"]}]}}));
        match spec.validate() {
            Err(GroupError::InvalidFilter { pointer, .. }) => assert_eq!(pointer, "/filter/data/total/0/numeric/1"),
            other => panic!("{other:?}"),
        }
        assert_eq!(GroupSpec::new("bad name").validate().unwrap_err().code(), "invalid-request");
        let mut spec = GroupSpec::new("g");
        spec.max_in_flight = GROUP_IN_FLIGHT_EVENTS_MAX + 1;
        assert_eq!(spec.validate().unwrap_err().code(), "limit-exceeded");
    }

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff { initial_ms: 100, max_ms: 1000, multiplier: 2.0 };
        assert_eq!([1, 2, 3, 4, 5, 60].map(|a| b.delay_ms(a)), [100, 200, 400, 800, 1000, 1000]);
    }
}
