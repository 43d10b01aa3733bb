//! Appends: `POST /v1/streams/{stream}` (one stream) and `POST /v1/streams` (atomic, many streams).
//!
//! The data path of an append through the server: parse → refuse `$` streams → stamp audit
//! metadata → [`EventStore::append`](skald_core::EventStore::append) (which validates and commits)
//! → count → answer `201` (or `200` for an idempotent replay that wrote nothing).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use skald_core::{validate_user_stream, AppendOutcome, Error, ExpectedVersion, NewEvent, StreamAppend};

use crate::extract::{Audit, Body, Name, Q};
use crate::problem::Problem;
use crate::state::AppState;

/// The object form of a single-stream append body. A bare array of events is accepted too.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamAppendBody {
    #[serde(default)]
    expected_version: Option<ExpectedVersion>,
    events: Vec<NewEvent>,
}

/// The body of a multi-stream append.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MultiAppendBody {
    streams: Vec<StreamAppend>,
}

#[derive(Deserialize)]
pub(crate) struct AppendQuery {
    expected_version: Option<String>,
}

/// The answer to a single-stream append.
#[derive(Serialize)]
pub(crate) struct StreamAppendOutcome {
    stream: String,
    first_version: u64,
    last_version: u64,
    first_position: u64,
    last_position: u64,
    replayed: bool,
}

/// `POST /v1/streams/{stream}`.
pub(crate) async fn append_stream(
    State(state): State<AppState>,
    Name(stream): Name,
    Q(query): Q<AppendQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    validate_user_stream(&stream)?;
    let (body_expected, events) = if body.first_byte() == Some(b'[') {
        (None, body.parse::<Vec<NewEvent>>()?)
    } else {
        let parsed: StreamAppendBody = body.parse()?;
        (parsed.expected_version, parsed.events)
    };
    let query_expected = query.expected_version.as_deref().map(ExpectedVersion::parse).transpose()?;
    let expected = match (body_expected, query_expected) {
        (Some(a), Some(b)) if a != b => {
            return Err(Problem::invalid(
                "expected_version",
                format!("the body says {a} and the query says {b}; send one of them"),
            ))
        }
        (a, b) => a.or(b).unwrap_or_default(),
    };
    let append = StreamAppend { stream, expected_version: expected, events };
    let outcome = commit(&state, &headers, vec![append]).await?;
    let replayed = outcome.replayed;
    let Some(appended) = outcome.streams.into_iter().next() else {
        return Err(Error::storage("the store answered an append with no stream").into());
    };
    let answer = StreamAppendOutcome {
        stream: appended.stream,
        first_version: appended.first_version,
        last_version: appended.last_version,
        first_position: appended.first_position,
        last_position: appended.last_position,
        replayed,
    };
    Ok((status_of(replayed), axum::Json(answer)).into_response())
}

/// `POST /v1/streams`.
pub(crate) async fn append_multi(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let MultiAppendBody { streams } = body.parse()?;
    for (i, append) in streams.iter().enumerate() {
        validate_user_stream(&append.stream).map_err(|e| relocate(e, &format!("streams[{i}].stream")))?;
    }
    let outcome = commit(&state, &headers, streams).await?;
    Ok((status_of(outcome.replayed), axum::Json(outcome)).into_response())
}

/// Stamps audit metadata, appends, and counts.
async fn commit(state: &AppState, headers: &HeaderMap, mut appends: Vec<StreamAppend>) -> Result<AppendOutcome, Error> {
    let audit = Audit::from_headers(headers, state.config.principal_header.as_deref());
    let mut events = 0u64;
    let mut bytes = 0u64;
    for event in appends.iter_mut().flat_map(|a| a.events.iter_mut()) {
        audit.stamp(event);
        events += 1;
        bytes += event.size_bytes() as u64;
    }
    let outcome = state.store.append(appends).await?;
    let replayed = if outcome.replayed { "true" } else { "false" };
    metrics::counter!(crate::metrics::APPENDS_TOTAL, "replayed" => replayed).increment(1);
    if !outcome.replayed {
        metrics::counter!(crate::metrics::APPENDED_EVENTS_TOTAL).increment(events);
        metrics::counter!(crate::metrics::APPENDED_BYTES_TOTAL).increment(bytes);
    }
    Ok(outcome)
}

fn status_of(replayed: bool) -> StatusCode {
    if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
}

fn relocate(error: Error, field: &str) -> Error {
    match error {
        Error::Invalid { reason, .. } => Error::Invalid { field: field.to_owned(), reason },
        other => other,
    }
}
