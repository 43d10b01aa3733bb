//! Paged reads: `GET /v1/streams/{stream}`, `/v1/all`, `/v1/categories/{category}`, `/v1/types/{type}`.
//!
//! Query: `from` (a version for a stream, a position otherwise; inclusive), `limit` (1 to
//! `READ_EVENTS_MAX`, default 100), `direction` (`forward` | `backward`), and at most one of
//! `as_of_position` / `as_of_time` (RFC 3339). The answer is `{events, next}`; pass `next` as `from`
//! for the following page; `null` means this page reached the end.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use skald_core::{
    validate_event_type, validate_stream_name, AsOf, Direction, Error, ReadOptions, ReadPage, Selector, Timestamp,
};

use crate::extract::{Name, Q};
use crate::problem::Problem;
use crate::state::AppState;

/// The default page size.
pub const READ_LIMIT_DEFAULT: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReadQuery {
    from: Option<u64>,
    limit: Option<usize>,
    direction: Option<Direction>,
    as_of_position: Option<u64>,
    as_of_time: Option<String>,
}

impl ReadQuery {
    fn options(self) -> Result<ReadOptions, Error> {
        let as_of = match (self.as_of_position, self.as_of_time) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid("as_of_time", "give `as_of_position` or `as_of_time`, not both"))
            }
            (Some(position), None) => Some(AsOf::Position(position)),
            (None, Some(time)) => Some(AsOf::Time(
                Timestamp::parse_rfc3339(&time).map_err(|e| Error::invalid("as_of_time", format!("`{time}`: {e}")))?,
            )),
            (None, None) => None,
        };
        let options = ReadOptions {
            from: self.from,
            direction: self.direction.unwrap_or_default(),
            limit: self.limit.unwrap_or(READ_LIMIT_DEFAULT),
            as_of,
        };
        options.validate()?;
        Ok(options)
    }
}

async fn read(state: &AppState, selector: Selector, query: ReadQuery) -> Result<Json<ReadPage>, Problem> {
    let label = match selector {
        Selector::All => "all",
        Selector::Stream(_) => "stream",
        Selector::Category(_) => "category",
        Selector::Type(_) => "type",
    };
    let page = state.store.read(&selector, query.options()?).await?;
    metrics::counter!(crate::metrics::READS_TOTAL, "selector" => label).increment(1);
    metrics::counter!(crate::metrics::READ_EVENTS_TOTAL).increment(page.events.len() as u64);
    Ok(Json(page))
}

/// `GET /v1/streams/{stream}`: cursors are stream versions. `$` streams may be read.
pub(crate) async fn read_stream(
    State(state): State<AppState>,
    Name(stream): Name,
    Q(query): Q<ReadQuery>,
) -> Result<Json<ReadPage>, Problem> {
    validate_stream_name(&stream)?;
    read(&state, Selector::Stream(stream), query).await
}

/// `GET /v1/all`: the whole log; cursors are positions.
pub(crate) async fn read_all(State(state): State<AppState>, Q(query): Q<ReadQuery>) -> Result<Json<ReadPage>, Problem> {
    read(&state, Selector::All, query).await
}

/// `GET /v1/categories/{category}`: every stream `category-…`; cursors are positions.
pub(crate) async fn read_category(
    State(state): State<AppState>,
    Name(category): Name,
    Q(query): Q<ReadQuery>,
) -> Result<Json<ReadPage>, Problem> {
    validate_category(&category)?;
    read(&state, Selector::Category(category), query).await
}

/// `GET /v1/types/{type}`: every event of a type; cursors are positions.
pub(crate) async fn read_type(
    State(state): State<AppState>,
    Name(event_type): Name,
    Q(query): Q<ReadQuery>,
) -> Result<Json<ReadPage>, Problem> {
    validate_event_type(&event_type, "type")?;
    read(&state, Selector::Type(event_type), query).await
}

/// A category is a stream-name prefix without `-`.
pub(crate) fn validate_category(category: &str) -> Result<(), Error> {
    validate_stream_name(category).map_err(|e| match e {
        Error::Invalid { reason, .. } => Error::invalid("category", reason),
        other => other,
    })?;
    if category.contains('-') {
        return Err(Error::invalid("category", "a category is the part of a stream name before the first `-`"));
    }
    Ok(())
}
