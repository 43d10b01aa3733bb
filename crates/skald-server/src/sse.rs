//! Live tails over Server-Sent Events: `GET /v1/all/live`, `/v1/streams/{stream}/live`,
//! `/v1/categories/{category}/live`, `/v1/types/{type}/live`.
//!
//! Each SSE message is one event: `id:` its global position, `event: event`, `data:` the event
//! JSON. `from` is `start`, `end` (the default) or a global position (inclusive); a
//! `Last-Event-ID` header wins over `from` and resumes at that position + 1, so a reconnecting
//! client sees no gap and no duplicate. A failure mid-stream sends one `event: problem` message
//! (a problem JSON) and closes the stream. Keep-alive comments are sent every
//! `sse_keep_alive`.
//!
//! Bounds: at most `sse_connections_max` streams (past it `503 overloaded`); per connection a
//! buffer of `sse_buffer_events`; a client that leaves that buffer full for `sse_stall_timeout`
//! is disconnected (it resumes with `Last-Event-ID`). On shutdown every stream ends.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use skald_core::{validate_event_type, validate_stream_name, EventStream, Selector, SubscribeFrom};
use tokio::sync::mpsc;

use crate::extract::{Name, Q};
use crate::metrics::{SubscriberGauge, SSE_EVENTS_TOTAL, SSE_SLOW_DISCONNECTS_TOTAL};
use crate::problem::Problem;
use crate::routes::reads::validate_category;
use crate::state::AppState;

/// The SSE `event:` name of an event message.
pub const SSE_EVENT: &str = "event";
/// The SSE `event:` name of the last message of a stream that failed.
pub const SSE_PROBLEM: &str = "problem";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LiveQuery {
    from: Option<String>,
}

/// `GET /v1/all/live`.
pub(crate) async fn live_all(
    State(state): State<AppState>,
    headers: HeaderMap,
    Q(query): Q<LiveQuery>,
) -> Result<Response, Problem> {
    live(state, Selector::All, &headers, query)
}

/// `GET /v1/streams/{stream}/live`.
pub(crate) async fn live_stream(
    State(state): State<AppState>,
    Name(stream): Name,
    headers: HeaderMap,
    Q(query): Q<LiveQuery>,
) -> Result<Response, Problem> {
    validate_stream_name(&stream)?;
    live(state, Selector::Stream(stream), &headers, query)
}

/// `GET /v1/categories/{category}/live`.
pub(crate) async fn live_category(
    State(state): State<AppState>,
    Name(category): Name,
    headers: HeaderMap,
    Q(query): Q<LiveQuery>,
) -> Result<Response, Problem> {
    validate_category(&category)?;
    live(state, Selector::Category(category), &headers, query)
}

/// `GET /v1/types/{type}/live`.
pub(crate) async fn live_type(
    State(state): State<AppState>,
    Name(event_type): Name,
    headers: HeaderMap,
    Q(query): Q<LiveQuery>,
) -> Result<Response, Problem> {
    validate_event_type(&event_type, "type")?;
    live(state, Selector::Type(event_type), &headers, query)
}

/// Where to start: `Last-Event-ID` + 1, else `from`, else the end.
fn start_of(headers: &HeaderMap, query: LiveQuery) -> Result<SubscribeFrom, Problem> {
    if let Some(last) = headers.get("last-event-id") {
        let last = last.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).ok_or_else(|| {
            Problem::invalid("Last-Event-ID", "Last-Event-ID must be the position (a number) of the last event seen")
        })?;
        return Ok(SubscribeFrom::Position(last + 1));
    }
    match query.from.as_deref() {
        None | Some("end") => Ok(SubscribeFrom::End),
        Some("start") => Ok(SubscribeFrom::Start),
        Some(text) => text
            .parse()
            .map(SubscribeFrom::Position)
            .map_err(|_| Problem::invalid("from", format!("`{text}` is not `start`, `end` or a position (a number)"))),
    }
}

fn live(state: AppState, selector: Selector, headers: &HeaderMap, query: LiveQuery) -> Result<Response, Problem> {
    let from = start_of(headers, query)?;
    let permit = state.sse.clone().try_acquire_owned().map_err(|_| {
        Problem::saturated("open live streams", state.config.sse_connections_max, state.config.retry_after)
    })?;
    let events = state.store.subscribe(selector, from);
    let (sender, receiver) = mpsc::channel(state.config.sse_buffer_events.max(1));
    let stall = state.config.sse_stall_timeout;
    let shutdown = state.shutdown.subscribe();
    tokio::spawn(async move {
        let _permit = permit;
        let _gauge = SubscriberGauge::open();
        pump(events, sender, stall, shutdown).await;
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok::<_, Infallible>(event), receiver))
    });
    let keep_alive = KeepAlive::new().interval(state.config.sse_keep_alive);
    Ok(Sse::new(stream).keep_alive(keep_alive).into_response())
}

/// Moves events from the subscription into the connection's buffer until the client leaves,
/// stalls, the subscription fails, or the server shuts down.
async fn pump(
    mut events: EventStream,
    sender: mpsc::Sender<Event>,
    stall: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            next = events.next() => next,
            _ = sender.closed() => return,
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        };
        let (message, last) = match next {
            None => return,
            Some(Ok(event)) => match Event::default().id(event.position.to_string()).event(SSE_EVENT).json_data(&event)
            {
                Ok(message) => (message, false),
                Err(error) => (problem_message(Problem::invalid("data", error.to_string())), true),
            },
            Some(Err(error)) => (problem_message(Problem::from_store(&error)), true),
        };
        tokio::select! {
            sent = tokio::time::timeout(stall, sender.send(message)) => match sent {
                Ok(Ok(())) => metrics::counter!(SSE_EVENTS_TOTAL).increment(1),
                Ok(Err(_)) => return, // the client left
                Err(_) => {
                    metrics::counter!(SSE_SLOW_DISCONNECTS_TOTAL).increment(1);
                    tracing::info!("closing an SSE stream whose client left its buffer full for {stall:?}");
                    return;
                }
            },
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        if last {
            return;
        }
    }
}

fn problem_message(problem: Problem) -> Event {
    Event::default().event(SSE_PROBLEM).data(problem.body().to_string())
}
