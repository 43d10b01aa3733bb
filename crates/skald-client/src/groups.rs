//! The consumer-group API (`/v1/groups`): definitions, leases, acknowledgements, a worker's SSE
//! feed of leases, parked events and their replay.
//!
//! The wire types mirror skald-groups' `GroupSpec`, `GroupInfo` and friends rather than import
//! them, so that a client does not build the groups service. A spec's defaults are the server's.

use std::time::Duration;

use futures_util::stream::BoxStream;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use skald_core::{Json, RecordedEvent, Timestamp, Uuid};

use crate::client::{decode, NO_BODY};
use crate::sse::{Message, Parser};
use crate::{Client, ClientError, REQUEST_TIMEOUT};

/// Where a new group starts reading the log.
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

/// Retry delays: `initial_ms * multiplier^(attempt-1)`, at most `max_ms`, with jitter.
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

/// Push delivery: the server POSTs batches `{"records": [event, …]}` to `url`.
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
    /// Retries of a failing event before it is parked.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// On an error answer or a timeout, split the batch in two and retry the halves separately.
    #[serde(default)]
    pub bisect_on_error: bool,
    /// Batches sent at once; each stream is held by one batch at a time.
    #[serde(default = "default_parallelization")]
    pub parallelization_factor: usize,
    /// How long one POST may take, in milliseconds.
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

/// A consumer group: which events, from where, and how they are retried and bounded. Unknown
/// fields are refused, as the server refuses them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// The group's name: `[A-Za-z0-9_.-]`, 1 to 128 bytes.
    pub name: String,
    /// An event pattern; `{}` takes every event.
    #[serde(default = "empty_filter")]
    pub filter: Value,
    /// Where a new group starts. Ignored by updates.
    #[serde(default)]
    pub start: StartFrom,
    /// Deliveries of one event before it is parked.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Delays between attempts.
    #[serde(default)]
    pub backoff: Backoff,
    /// How long a worker holds a lease before its events go to someone else, in milliseconds.
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
}

/// A group's counters (since the server started it) and position.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    /// Deliveries, first and repeated.
    pub delivered: u64,
    /// Acknowledged events.
    pub acked: u64,
    /// Events given back for a retry (nack or lease expiry).
    pub retried: u64,
    /// Events parked.
    pub parked: u64,
    /// Events leased to workers now.
    pub in_flight: u64,
    /// Events read and waiting for a worker.
    pub pending: u64,
    /// Workers holding leases now.
    pub workers: u64,
    /// Every log position below this is acknowledged, parked or not for this group.
    pub checkpoint: u64,
    /// The checkpoint last written to the log.
    pub durable_checkpoint: u64,
    /// The log's newest position.
    pub head_position: Option<u64>,
    /// Events not yet handled.
    pub lag_events: u64,
    /// Age of the oldest unacknowledged event, in seconds.
    pub lag_seconds: f64,
}

/// A group's definition and state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// The definition.
    #[serde(flatten)]
    pub spec: GroupSpec,
    /// Where it started reading, resolved at creation.
    pub start_position: u64,
    /// Its counters.
    pub stats: GroupStats,
}

/// Every group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupList {
    /// The groups, each with its stats.
    pub groups: Vec<GroupInfo>,
}

/// One delivery of an event to a worker. On the wire: the event's fields and `attempt`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "LeasedWire")]
pub struct LeasedEvent {
    /// The event.
    pub event: RecordedEvent,
    /// Which delivery this is (1 = the first).
    pub attempt: u32,
}

/// A leased event as it arrives: the event's fields plus `attempt`, side by side
/// (`#[serde(flatten)]` cannot read an event, whose data is raw JSON).
#[derive(Deserialize)]
struct LeasedWire {
    position: u64,
    stream: String,
    version: u64,
    id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
    timestamp: Timestamp,
    data: Json,
    metadata: Json,
    attempt: u32,
}

impl From<LeasedWire> for LeasedEvent {
    fn from(w: LeasedWire) -> Self {
        let event = RecordedEvent {
            position: w.position,
            stream: w.stream,
            version: w.version,
            id: w.id,
            event_type: w.event_type,
            timestamp: w.timestamp,
            data: w.data,
            metadata: w.metadata,
        };
        LeasedEvent { event, attempt: w.attempt }
    }
}

impl Serialize for LeasedEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut event = serde_json::to_value(&self.event).map_err(serde::ser::Error::custom)?;
        if let Value::Object(fields) = &mut event {
            fields.insert("attempt".into(), self.attempt.into());
        }
        event.serialize(serializer)
    }
}

/// Events leased to one worker; acknowledge them by `lease_id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaseBatch {
    /// `None` when no event came.
    pub lease_id: Option<u64>,
    /// The events, each stream's in log order.
    pub events: Vec<LeasedEvent>,
}

/// The answer to an ack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acked {
    /// Events of the lease acknowledged.
    pub acked: usize,
    /// Ids that were not (or no longer) part of the lease.
    pub unknown: usize,
}

/// The answer to a nack or a park.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nacked {
    /// Events of the lease given back (or parked).
    pub nacked: usize,
    /// Ids that were not (or no longer) part of the lease.
    pub unknown: usize,
}

/// An event a group gave up on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParkedEvent {
    /// The group's incarnation (a re-created group has another).
    pub incarnation: Uuid,
    /// Why it was parked.
    pub reason: String,
    /// Deliveries made.
    pub attempts: u32,
    /// True when it was parked during a replay of parked events.
    #[serde(default)]
    pub replayed: bool,
    /// The original event.
    pub event: RecordedEvent,
    /// Version of this record in `$parked-<group>`.
    #[serde(default)]
    pub parked_version: u64,
}

/// A page of parked events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParkedPage {
    /// The parked events, oldest first.
    pub parked: Vec<ParkedEvent>,
    /// Pass as `from` for the next page; `None` at the end.
    pub next: Option<u64>,
}

/// The answer to a replay of parked events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replayed {
    /// Parked events delivered again.
    pub replayed: u64,
}

/// The leases of a worker's SSE feed ([`Client::lease_live`]).
pub type LeaseStream = BoxStream<'static, Result<LeaseBatch, ClientError>>;

#[derive(Serialize)]
struct Ack<'a> {
    lease_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ids: Option<&'a [Uuid]>,
}

#[derive(Serialize)]
struct Nack<'a> {
    lease_id: u64,
    ids: &'a [Uuid],
    reason: Option<&'a str>,
    park: bool,
}

impl Client {
    /// Every group, with its stats.
    pub async fn list_groups(&self) -> Result<GroupList, ClientError> {
        self.send(Method::GET, self.url(&["v1", "groups"], &[]), NO_BODY).await
    }

    /// Creates a group; one with the same name is `group-already-exists`.
    pub async fn create_group(&self, spec: &GroupSpec) -> Result<GroupInfo, ClientError> {
        self.send(Method::POST, self.url(&["v1", "groups"], &[]), Some(spec)).await
    }

    /// Changes a group (its checkpoint is kept), or creates it when missing.
    pub async fn put_group(&self, spec: &GroupSpec) -> Result<GroupInfo, ClientError> {
        self.send(Method::PUT, self.url(&["v1", "groups", &spec.name], &[]), Some(spec)).await
    }

    /// A group's definition and stats.
    pub async fn get_group(&self, group: &str) -> Result<GroupInfo, ClientError> {
        self.send(Method::GET, self.url(&["v1", "groups", group], &[]), NO_BODY).await
    }

    /// Deletes a group.
    pub async fn delete_group(&self, group: &str) -> Result<(), ClientError> {
        self.send_no_content(Method::DELETE, self.url(&["v1", "groups", group], &[]), NO_BODY).await
    }

    /// Leases up to `max_events` events as `worker`, waiting up to `wait` (whole seconds; the
    /// server caps it at a minute) for the first; an empty batch when none came.
    pub async fn lease(
        &self,
        group: &str,
        worker: &str,
        max_events: usize,
        wait: Duration,
    ) -> Result<LeaseBatch, ClientError> {
        let query = [
            ("worker", worker.to_owned()),
            ("max_events", max_events.to_string()),
            ("wait", wait.as_secs().to_string()),
        ];
        let url = self.url(&["v1", "groups", group, "lease"], &query);
        decode(self.call(Method::POST, url, NO_BODY, REQUEST_TIMEOUT + wait).await?).await
    }

    /// Acknowledges these events of a lease.
    pub async fn ack(&self, group: &str, lease_id: u64, ids: &[Uuid]) -> Result<Acked, ClientError> {
        self.send_ack(group, Ack { lease_id, ids: Some(ids) }).await
    }

    /// Acknowledges every event of a lease.
    pub async fn ack_all(&self, group: &str, lease_id: u64) -> Result<Acked, ClientError> {
        self.send_ack(group, Ack { lease_id, ids: None }).await
    }

    async fn send_ack(&self, group: &str, body: Ack<'_>) -> Result<Acked, ClientError> {
        self.send(Method::POST, self.url(&["v1", "groups", group, "ack"], &[]), Some(&body)).await
    }

    /// Gives events of a lease back for a retry after the group's backoff.
    pub async fn nack(
        &self,
        group: &str,
        lease_id: u64,
        ids: &[Uuid],
        reason: Option<&str>,
    ) -> Result<Nacked, ClientError> {
        self.send_nack(group, Nack { lease_id, ids, reason, park: false }).await
    }

    /// Parks events of a lease at once (they can be replayed later).
    pub async fn park(
        &self,
        group: &str,
        lease_id: u64,
        ids: &[Uuid],
        reason: Option<&str>,
    ) -> Result<Nacked, ClientError> {
        self.send_nack(group, Nack { lease_id, ids, reason, park: true }).await
    }

    async fn send_nack(&self, group: &str, body: Nack<'_>) -> Result<Nacked, ClientError> {
        self.send(Method::POST, self.url(&["v1", "groups", group, "nack"], &[]), Some(&body)).await
    }

    /// A page of parked events from record `from`, at most `limit`.
    pub async fn parked(&self, group: &str, from: u64, limit: usize) -> Result<ParkedPage, ClientError> {
        let query = [("from", from.to_string()), ("limit", limit.to_string())];
        self.send(Method::GET, self.url(&["v1", "groups", group, "parked"], &query), NO_BODY).await
    }

    /// Delivers again what was parked since the last replay.
    pub async fn replay_parked(&self, group: &str) -> Result<Replayed, ClientError> {
        self.send(Method::POST, self.url(&["v1", "groups", group, "parked", "replay"], &[]), NO_BODY).await
    }

    /// A worker's leases over SSE (`GET /v1/groups/{group}/live`): one batch per lease, each to
    /// be acknowledged through [`Client::ack`] or [`Client::ack_all`]. A problem the server sends
    /// ends the stream after yielding it, and so does a dropped connection: open another to go
    /// on (what was leased and not acknowledged is delivered again once the lease times out).
    pub async fn lease_live(&self, group: &str, worker: &str, max_events: usize) -> Result<LeaseStream, ClientError> {
        let query = [("worker", worker.to_owned()), ("max_events", max_events.to_string())];
        let url = self.url(&["v1", "groups", group, "live"], &query);
        let response = self.open_event_stream(url, None).await?;
        let state = (response, Parser::default(), std::collections::VecDeque::new(), false);
        Ok(Box::pin(futures_util::stream::unfold(state, |(mut response, mut parser, mut pending, done)| async move {
            loop {
                if done {
                    return None;
                }
                if let Some(message) = pending.pop_front() {
                    let item = lease_of(message);
                    let done = item.is_err();
                    return Some((item, (response, parser, pending, done)));
                }
                match response.chunk().await {
                    Ok(Some(bytes)) => match parser.push(&bytes) {
                        Ok(messages) => pending.extend(messages),
                        Err(error) => return Some((Err(error), (response, parser, pending, true))),
                    },
                    Ok(None) => return None,
                    Err(error) => return Some((Err(error.into()), (response, parser, pending, true))),
                }
            }
        })))
    }
}

/// A `lease` message's batch, or the problem of a `problem` message.
fn lease_of(message: Message) -> Result<LeaseBatch, ClientError> {
    if let Some(problem) = message.problem() {
        return Err(problem);
    }
    serde_json::from_str(&message.data).map_err(|e| ClientError::Decode(format!("SSE lease data: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leased_event_is_the_event_plus_its_attempt() {
        let wire = serde_json::json!({
            "position": 7, "stream": "order-1", "version": 0, "id": "0190a6a0-0000-7000-8000-000000000001",
            "type": "Placed", "timestamp": "2026-12-01T10:00:00.123456Z", "data": {"n": 1}, "metadata": {}, "attempt": 2
        });
        let leased: LeasedEvent = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(
            (leased.event.position, leased.event.data.to_value(), leased.attempt),
            (7, serde_json::json!({"n": 1}), 2)
        );
        assert_eq!(serde_json::to_value(&leased).unwrap(), wire);
    }
}
