//! Push delivery: lanes that lease batches like workers and POST them to the group's URL, with the
//! semantics of an AWS Lambda event-source mapping.
//!
//! Each of `parallelization_factor` lanes leases up to `batch_size` events (after the batching
//! window, counted from the moment events are ready), parks events older than
//! `max_record_age_seconds`, and POSTs `{"records": [event, …]}`. A 2xx answer acknowledges the
//! batch, except for items named in `{"batchItemFailures": [{"itemIdentifier": "<event id>"}]}`:
//! the first failed event of a stream is retried (with the group's backoff) together with the
//! later events of that stream; earlier ones are acknowledged. An error status, a transport error
//! or a timeout fails the batch, or with `bisect_on_error` splits it and sends the halves one after
//! the other. After `max_retries` retries an event is parked to `$parked-<group>` (the on-failure
//! destination). The dispatcher gives a stream to one lease at a time, so per-stream order holds
//! across lanes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use skald_core::Uuid;

use crate::dispatch::Delivery;
use crate::runtime::GroupRuntime;
use crate::spec::{PushSpec, PUSH_BATCH_BYTES_MAX};
use crate::GroupError;

#[derive(Deserialize, Default)]
struct PushAnswer {
    #[serde(default, rename = "batchItemFailures")]
    batch_item_failures: Vec<ItemFailure>,
}

#[derive(Deserialize)]
struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    item_identifier: String,
}

enum Outcome {
    Delivered,
    /// Some items failed: their ids.
    Partial(Vec<Uuid>),
    Failed(String),
}

/// One push lane of a group; runs until the group stops.
pub(crate) async fn lane(runtime: Arc<GroupRuntime>, spec: PushSpec, lane: usize) {
    let worker = format!("push-{lane}");
    let window = Duration::from_millis(spec.batching_window_ms);
    while !runtime.is_stopped() {
        if !window.is_zero() {
            runtime.wait_ready(Duration::from_secs(1)).await;
            if runtime.is_stopped() {
                return;
            }
            tokio::time::sleep(window).await;
        }
        let wait = if window.is_zero() { Duration::from_secs(1) } else { Duration::ZERO };
        let batch = match runtime.lease(&worker, spec.batch_size, wait).await {
            Ok(batch) => batch,
            Err(GroupError::ShuttingDown) => return,
            Err(error) => {
                tracing::warn!(group = runtime.name(), %error, "push lease failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if batch.events.is_empty() {
            continue;
        }
        // On shutdown a batch in flight is abandoned: its lease expires and, after a restart,
        // its events are delivered again (at least once).
        let mut stop = runtime.stop_signal();
        tokio::select! {
            _ = deliver(&runtime, &spec, batch.lease_id, batch.events) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

async fn deliver(runtime: &GroupRuntime, spec: &PushSpec, lease_id: u64, events: Vec<Delivery>) {
    let mut failed_streams: HashSet<String> = HashSet::new();
    // Too old to send: parked at once (the stream's later events come back with it).
    let mut events = events;
    if let Some(age) = spec.max_record_age_seconds {
        let oldest_allowed = runtime.options.clock.now().saturating_sub(Duration::from_secs(age));
        let mut fresh = Vec::with_capacity(events.len());
        for delivery in events {
            if failed_streams.contains(&delivery.event.stream) {
                continue;
            }
            if delivery.event.timestamp < oldest_allowed {
                let reason = format!("max record age of {age} s exceeded");
                if runtime.nack(lease_id, &[delivery.event.id], &reason, true).is_err() {
                    return;
                }
                failed_streams.insert(delivery.event.stream.clone());
            } else {
                fresh.push(delivery);
            }
        }
        events = fresh;
    }
    // Segments still to send, the next one last.
    let mut segments = vec![events];
    while let Some(segment) = segments.pop() {
        let segment: Vec<Delivery> =
            segment.into_iter().filter(|d| !failed_streams.contains(&d.event.stream)).collect();
        if segment.is_empty() {
            continue;
        }
        let body = match body_of(&segment) {
            Ok(body) if body.len() > PUSH_BATCH_BYTES_MAX && segment.len() > 1 => {
                split_into(&mut segments, segment);
                continue;
            }
            Ok(body) => body,
            Err(error) => {
                tracing::error!(group = runtime.name(), %error, "push batch not serialisable");
                return;
            }
        };
        let outcome = post(runtime, spec, body).await;
        let result = match outcome {
            Outcome::Delivered => {
                let ids: Vec<Uuid> = segment.iter().map(|d| d.event.id).collect();
                runtime.ack(lease_id, &ids).map(|_| ())
            }
            Outcome::Partial(failed) => resolve_partial(runtime, lease_id, &segment, &failed, &mut failed_streams),
            Outcome::Failed(_) if spec.bisect_on_error && segment.len() > 1 => {
                split_into(&mut segments, segment);
                Ok(())
            }
            Outcome::Failed(reason) => {
                let ids: Vec<Uuid> = segment.iter().map(|d| d.event.id).collect();
                failed_streams.extend(segment.iter().map(|d| d.event.stream.clone()));
                runtime.nack(lease_id, &ids, &reason, false).map(|_| ())
            }
        };
        if result.is_err() {
            return; // the lease expired: its events are delivered again anyway
        }
    }
}

fn split_into(segments: &mut Vec<Vec<Delivery>>, mut segment: Vec<Delivery>) {
    let second = segment.split_off(segment.len() / 2);
    segments.push(second);
    segments.push(segment);
}

fn body_of(segment: &[Delivery]) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(serde::Serialize)]
    struct Records<'a> {
        records: Vec<&'a skald_core::RecordedEvent>,
    }
    serde_json::to_vec(&Records { records: segment.iter().map(|d| &*d.event).collect() })
}

/// Acknowledges what succeeded; fails the first failed event of each stream (its later events
/// come back with it). An identifier that is not in the batch fails the whole batch, as Lambda does.
fn resolve_partial(
    runtime: &GroupRuntime,
    lease_id: u64,
    segment: &[Delivery],
    failed: &[Uuid],
    failed_streams: &mut HashSet<String>,
) -> Result<(), GroupError> {
    let failed: HashSet<Uuid> = failed.iter().copied().collect();
    let known = failed.iter().all(|id| segment.iter().any(|d| d.event.id == *id));
    let reason = "the endpoint reported a batch item failure";
    let mut acks = Vec::new();
    for delivery in segment {
        if failed_streams.contains(&delivery.event.stream) {
            continue;
        }
        if !known || failed.contains(&delivery.event.id) {
            failed_streams.insert(delivery.event.stream.clone());
            runtime.nack(lease_id, &[delivery.event.id], reason, false)?;
        } else {
            acks.push(delivery.event.id);
        }
    }
    runtime.ack(lease_id, &acks).map(|_| ())
}

async fn post(runtime: &GroupRuntime, spec: &PushSpec, body: Vec<u8>) -> Outcome {
    let request = runtime
        .options
        .http
        .post(&spec.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .timeout(Duration::from_millis(spec.timeout_ms))
        .body(body);
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) if error.is_timeout() => {
            return Outcome::Failed(format!("push timed out after {} ms", spec.timeout_ms))
        }
        Err(error) => return Outcome::Failed(format!("push failed: {error}")),
    };
    let status = response.status();
    if !status.is_success() {
        return Outcome::Failed(format!("push endpoint answered {status}"));
    }
    let bytes = match response.bytes().await {
        Ok(bytes) => bytes,
        Err(error) => return Outcome::Failed(format!("push answer not read: {error}")),
    };
    let answer: PushAnswer = serde_json::from_slice(&bytes).unwrap_or_default();
    if answer.batch_item_failures.is_empty() {
        return Outcome::Delivered;
    }
    let ids =
        answer.batch_item_failures.iter().map(|f| Uuid::parse_str(&f.item_identifier).unwrap_or(Uuid::nil())).collect();
    Outcome::Partial(ids)
}
