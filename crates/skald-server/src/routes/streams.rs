//! The stream resource beyond appends and reads: the list (`GET /v1/streams`), metadata
//! (`GET`/`PUT /v1/streams/{stream}/metadata`) and soft delete (`DELETE /v1/streams/{stream}`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use skald_core::{
    metadata_stream_of, validate_stream_name, validate_user_stream, Error, ExpectedVersion, ReadOptions, Selector,
    StreamList, StreamMetadata,
};

use crate::extract::{Body, Name, Q};
use crate::problem::Problem;
use crate::state::AppState;

/// Most streams in one page of the list.
pub const STREAMS_PAGE_MAX: usize = 1_000;
/// Streams in a page of the list when `limit` is not given.
pub const STREAMS_PAGE_DEFAULT: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// `GET /v1/streams?after=&limit=`: streams by name with their heads; `next_after` pages on.
pub(crate) async fn list(State(state): State<AppState>, Q(query): Q<ListQuery>) -> Result<Json<StreamList>, Problem> {
    let limit = query.limit.unwrap_or(STREAMS_PAGE_DEFAULT);
    if limit == 0 {
        return Err(Error::invalid("limit", "limit must be at least 1").into());
    }
    if limit > STREAMS_PAGE_MAX {
        return Err(Error::limit("limit", "streams_page_max", limit, STREAMS_PAGE_MAX).into());
    }
    Ok(Json(state.store.list_streams(query.after.as_deref(), limit).await?))
}

/// `GET /v1/streams/{stream}/metadata`: the stream's settings (`{}` when none were set).
pub(crate) async fn get_metadata(
    State(state): State<AppState>,
    Name(stream): Name,
) -> Result<Json<StreamMetadata>, Problem> {
    validate_stream_name(&stream)?;
    match state.store.stream_info(&stream).await {
        Ok(info) => return Ok(Json(info.metadata)),
        Err(Error::StreamNotFound { .. }) => {}
        Err(error) => return Err(error.into()),
    }
    // Metadata may be set before the stream's first event: read its newest `$metadata` event.
    let page =
        state.store.read(&Selector::Stream(metadata_stream_of(&stream)), ReadOptions::backward(1)).await.map_err(
            |error| match error {
                Error::StreamNotFound { .. } | Error::StreamDeleted { .. } => {
                    Error::StreamNotFound { stream: stream.clone() }
                }
                other => other,
            },
        )?;
    let metadata = page.events.first().and_then(|e| e.data.decode::<StreamMetadata>().ok());
    metadata.map(Json).ok_or_else(|| Error::StreamNotFound { stream }.into())
}

/// `PUT /v1/streams/{stream}/metadata`: replaces the settings; answers them back.
pub(crate) async fn set_metadata(
    State(state): State<AppState>,
    Name(stream): Name,
    body: Body,
) -> Result<Json<StreamMetadata>, Problem> {
    validate_user_stream(&stream)?;
    let metadata: StreamMetadata = body.parse()?;
    state.store.set_metadata(&stream, metadata.clone()).await?;
    Ok(Json(metadata))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteQuery {
    expected_version: Option<String>,
}

/// `DELETE /v1/streams/{stream}?expected_version=`: soft delete; `204` on success.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Name(stream): Name,
    Q(query): Q<DeleteQuery>,
) -> Result<Response, Problem> {
    validate_user_stream(&stream)?;
    let expected = query.expected_version.as_deref().map(ExpectedVersion::parse).transpose()?.unwrap_or_default();
    state.store.delete_stream(&stream, expected).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
