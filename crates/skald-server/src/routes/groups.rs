//! The consumer-group API over a [`skald_groups::GroupsHandle`]: group definitions, leases,
//! acknowledgements, a per-worker SSE feed, and parked events. Every error leaves as an RFC 9457
//! problem with the groups service's stable code ([`GroupError::code`]).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/v1/groups` | list `{groups: [group…]}`, each with its stats |
//! | POST | `/v1/groups` | create from a group spec (201) |
//! | GET | `/v1/groups/{group}` | describe, with stats (delivered, acked, retried, parked, in flight, lag) |
//! | PUT | `/v1/groups/{group}` | update (checkpoint kept); creates the group when missing (201) |
//! | DELETE | `/v1/groups/{group}` | delete (204) |
//! | POST | `/v1/groups/{group}/lease` | long poll (`worker`, `max_events`, `wait` seconds): `{lease_id, events}`; `lease_id` null and no events when none came |
//! | POST | `/v1/groups/{group}/ack` | `{lease_id, ids?}` (no ids: the whole lease) |
//! | POST | `/v1/groups/{group}/nack` | `{lease_id, ids, reason?, park?}`: retry after backoff, or park at once |
//! | GET | `/v1/groups/{group}/live` | SSE per worker (`worker`, `max_events`): one `lease` message per batch |
//! | GET | `/v1/groups/{group}/parked` | page of parked events (`from`, `limit`) |
//! | POST | `/v1/groups/{group}/parked/replay` | deliver again what was parked since the last replay |
//!
//! Each delivered event is the usual event object plus `attempt` (1 for the first delivery).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use skald_cluster::Ownership;
use skald_core::Uuid;
use skald_groups::{Batch, GroupError, GroupSpec, GroupsHandle, LEASE_EVENTS_MAX};

use crate::extract::{Body, Name, Q};
use crate::forward::Forwarder;
use crate::problem::Problem;

/// Default and largest `wait` of a lease long poll, in seconds.
pub const LEASE_WAIT_SECONDS_MAX: u64 = 60;
/// Events per lease when `max_events` is not given.
pub const LEASE_EVENTS_DEFAULT: usize = 100;
/// How long one SSE lease poll waits before polling again.
const LIVE_POLL: Duration = Duration::from_secs(15);

/// Every `(method, path)` [`router`] serves, for the route table and the OpenAPI check.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/groups"),
    ("POST", "/v1/groups"),
    ("GET", "/v1/groups/{group}"),
    ("PUT", "/v1/groups/{group}"),
    ("DELETE", "/v1/groups/{group}"),
    ("POST", "/v1/groups/{group}/lease"),
    ("POST", "/v1/groups/{group}/ack"),
    ("POST", "/v1/groups/{group}/nack"),
    ("GET", "/v1/groups/{group}/live"),
    ("GET", "/v1/groups/{group}/parked"),
    ("POST", "/v1/groups/{group}/parked/replay"),
];

/// The group routes, with their own state; merge them into any router (`Router<S>` for any `S`).
pub fn router<S: Clone + Send + Sync + 'static>(handle: GroupsHandle) -> Router<S> {
    Router::new()
        .route("/v1/groups", get(list).post(create))
        .route("/v1/groups/{group}", get(describe).put(put_group).delete(delete_group))
        .route("/v1/groups/{group}/lease", post(lease))
        .route("/v1/groups/{group}/ack", post(ack))
        .route("/v1/groups/{group}/nack", post(nack))
        .route("/v1/groups/{group}/live", get(live))
        .route("/v1/groups/{group}/parked", get(parked))
        .route("/v1/groups/{group}/parked/replay", post(replay))
        .with_state(handle)
}

/// Maps a groups error to its problem.
pub fn problem(error: &GroupError) -> Problem {
    let detail = error.to_string();
    let code = error.code();
    match error {
        GroupError::Store(e) => Problem::from_store(e),
        GroupError::GroupNotFound { group } => {
            Problem::new(StatusCode::NOT_FOUND, code, detail).with("group", group.as_str())
        }
        GroupError::GroupAlreadyExists { group } => {
            Problem::new(StatusCode::CONFLICT, code, detail).with("group", group.as_str())
        }
        GroupError::InvalidFilter { pointer, .. } => {
            Problem::new(StatusCode::BAD_REQUEST, code, detail).with("pointer", pointer.as_str())
        }
        GroupError::Invalid { field, .. } => {
            Problem::new(StatusCode::BAD_REQUEST, code, detail).with("field", field.as_str())
        }
        GroupError::LeaseExpired { group, lease_id } => {
            Problem::new(StatusCode::CONFLICT, code, detail).with("group", group.as_str()).with("lease_id", *lease_id)
        }
        GroupError::LimitExceeded { field, limit, actual, max } => {
            let mut p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
                .with("field", field.as_str())
                .with("limit", *limit)
                .with("max", *max)
                .with("actual", *actual);
            if *limit != "group_leases_max" {
                p.status = StatusCode::BAD_REQUEST;
            } else {
                p.retry_after = Some(Duration::from_secs(1));
            }
            p
        }
        GroupError::NotOwner { group, owner } => {
            Problem::not_owner(detail, owner.as_ref()).with("group", group.as_str())
        }
        GroupError::ShuttingDown => {
            let mut p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, code, detail);
            p.retry_after = Some(Duration::from_secs(1));
            p
        }
        _ => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, code, detail),
    }
}

type Answer = Result<Response, Problem>;

fn fail(error: GroupError) -> Problem {
    problem(&error)
}

/// A batch on the wire: `{lease_id, events: [event + attempt]}`.
fn batch_json(batch: &Batch) -> Value {
    let events: Vec<Value> = batch
        .events
        .iter()
        .map(|d| {
            let mut event = serde_json::to_value(&*d.event).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut event {
                map.insert("attempt".into(), d.attempt.into());
            }
            event
        })
        .collect();
    let lease_id = if batch.events.is_empty() { Value::Null } else { batch.lease_id.into() };
    json!({"lease_id": lease_id, "events": events})
}

async fn list(State(groups): State<GroupsHandle>, Extension(forwarder): Extension<Option<Forwarder>>) -> Answer {
    let mut list = groups.list_groups();
    // On a cluster, a group's counters live on the node that runs it: ask it.
    if let Some(forwarder) = forwarder {
        for info in &mut list {
            let Ownership::Remote(owner) = groups.owner_of(&info.spec.name) else { continue };
            let Ok(uri) = format!("/v1/groups/{}", info.spec.name).parse::<axum::http::Uri>() else { continue };
            let answer = forwarder.send(&owner.address, &Method::GET, &uri, &HeaderMap::new(), Bytes::new()).await;
            if let Some(stats) = stats_of(answer).await {
                info.stats = stats;
            }
        }
    }
    Ok(Json(json!({"groups": list})).into_response())
}

/// The `stats` of a group as its owner described it, if it did.
async fn stats_of(answer: Result<Response, reqwest::Error>) -> Option<skald_groups::GroupStats> {
    let answer = answer.ok().filter(|a| a.status() == StatusCode::OK)?;
    let body = axum::body::to_bytes(answer.into_body(), 1 << 20).await.ok()?;
    let value: Value = serde_json::from_slice(&body).ok()?;
    serde_json::from_value(value.get("stats")?.clone()).ok()
}

async fn create(State(groups): State<GroupsHandle>, body: Body) -> Answer {
    let spec: GroupSpec = body.parse()?;
    let info = groups.create_group(spec).await.map_err(fail)?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

async fn describe(State(groups): State<GroupsHandle>, Name(name): Name) -> Answer {
    Ok(Json(groups.get_group(&name).map_err(fail)?).into_response())
}

async fn put_group(State(groups): State<GroupsHandle>, Name(name): Name, body: Body) -> Answer {
    let mut value: Value = body.parse()?;
    if let Value::Object(map) = &mut value {
        match map.get("name") {
            Some(Value::String(given)) if *given != name => {
                return Err(Problem::invalid("name", format!("the body names `{given}` but the path `{name}`")));
            }
            _ => {
                map.insert("name".into(), Value::String(name.clone()));
            }
        }
    }
    let spec: GroupSpec = serde_json::from_value(value).map_err(|e| Problem::invalid("body", e.to_string()))?;
    match groups.update_group(spec.clone()).await {
        Err(GroupError::GroupNotFound { .. }) => {
            let info = groups.create_group(spec).await.map_err(fail)?;
            Ok((StatusCode::CREATED, Json(info)).into_response())
        }
        other => Ok(Json(other.map_err(fail)?).into_response()),
    }
}

async fn delete_group(State(groups): State<GroupsHandle>, Name(name): Name) -> Answer {
    groups.delete_group(&name).await.map_err(fail)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseQuery {
    worker: String,
    max_events: Option<usize>,
    wait: Option<u64>,
}

fn max_events(requested: Option<usize>) -> Result<usize, Problem> {
    let max = requested.unwrap_or(LEASE_EVENTS_DEFAULT);
    if max == 0 || max > LEASE_EVENTS_MAX {
        return Err(Problem::invalid("max_events", format!("must be 1..={LEASE_EVENTS_MAX}")));
    }
    Ok(max)
}

async fn lease(State(groups): State<GroupsHandle>, Name(name): Name, Q(query): Q<LeaseQuery>) -> Answer {
    let wait = Duration::from_secs(query.wait.unwrap_or(0).min(LEASE_WAIT_SECONDS_MAX));
    let batch = groups.lease(&name, &query.worker, max_events(query.max_events)?, wait).await.map_err(fail)?;
    Ok(Json(batch_json(&batch)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    lease_id: u64,
    ids: Option<Vec<Uuid>>,
}

async fn ack(State(groups): State<GroupsHandle>, Name(name): Name, body: Body) -> Answer {
    let request: AckBody = body.parse()?;
    let resolved = match request.ids {
        Some(ids) => groups.ack(&name, request.lease_id, &ids),
        None => groups.ack_all(&name, request.lease_id),
    }
    .map_err(fail)?;
    Ok(Json(json!({"acked": resolved.applied, "unknown": resolved.unknown})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NackBody {
    lease_id: u64,
    ids: Vec<Uuid>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    park: bool,
}

async fn nack(State(groups): State<GroupsHandle>, Name(name): Name, body: Body) -> Answer {
    let request: NackBody = body.parse()?;
    let reason = request.reason.unwrap_or_else(|| "rejected by the worker".to_owned());
    let resolved = if request.park {
        groups.park(&name, request.lease_id, &request.ids, &reason)
    } else {
        groups.nack(&name, request.lease_id, &request.ids, &reason)
    }
    .map_err(fail)?;
    Ok(Json(json!({"nacked": resolved.applied, "unknown": resolved.unknown})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LiveQuery {
    worker: String,
    max_events: Option<usize>,
}

/// One SSE message (`event: lease`, data = a batch) per lease; the worker acks each through
/// `/ack`. A failure sends one `event: problem` message and ends the stream.
async fn live(State(groups): State<GroupsHandle>, Name(name): Name, Q(query): Q<LiveQuery>) -> Answer {
    let max = max_events(query.max_events)?;
    groups.get_group(&name).map_err(fail)?;
    let state = (groups, name, query.worker, false);
    let stream = futures_util::stream::unfold(state, move |(groups, name, worker, done)| async move {
        if done {
            return None;
        }
        loop {
            match groups.lease(&name, &worker, max, LIVE_POLL).await {
                Ok(batch) if batch.events.is_empty() => continue,
                Ok(batch) => {
                    let event = Event::default().event("lease").data(batch_json(&batch).to_string());
                    return Some((Ok::<_, Infallible>(event), (groups, name, worker, false)));
                }
                Err(error) => {
                    let body = serde_json::to_string(&json!({
                        "type": format!("/errors/{}", error.code()),
                        "title": error.code(),
                        "detail": error.to_string(),
                    }))
                    .unwrap_or_default();
                    let event = Event::default().event(crate::SSE_PROBLEM).data(body);
                    return Some((Ok(event), (groups, name, worker, true)));
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParkedQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

async fn parked(State(groups): State<GroupsHandle>, Name(name): Name, Q(query): Q<ParkedQuery>) -> Answer {
    let (events, next) =
        groups.list_parked(&name, query.from.unwrap_or(0), query.limit.unwrap_or(100)).await.map_err(fail)?;
    Ok(Json(json!({"parked": events, "next": next})).into_response())
}

async fn replay(State(groups): State<GroupsHandle>, Name(name): Name) -> Answer {
    let replayed = groups.replay_parked(&name).await.map_err(fail)?;
    Ok(Json(json!({"replayed": replayed})).into_response())
}
