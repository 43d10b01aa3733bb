//! Request extractors whose rejections are problems: the body (size-limited, parsed with line and
//! column on failure), query strings, path segments, and the audit headers.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use skald_core::limits::REQUEST_BODY_BYTES_MAX;
use skald_core::{Json, NewEvent};

use crate::problem::Problem;

/// The raw request body, at most [`REQUEST_BODY_BYTES_MAX`] bytes.
pub(crate) struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(Body(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(Problem::body_too_large(REQUEST_BODY_BYTES_MAX, declared))
            }
            Err(rejection) => Err(Problem::invalid("body", rejection.body_text())),
        }
    }
}

impl Body {
    /// Parses the body as `T`. Not JSON: `invalid-json`; JSON of the wrong shape: `invalid-request`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        parse_json(&self.0)
    }

    /// The first byte that is not whitespace.
    pub fn first_byte(&self) -> Option<u8> {
        self.0.iter().copied().find(|b| !b.is_ascii_whitespace())
    }
}

/// Parses JSON text, telling syntax errors (`invalid-json`) from shape errors (`invalid-request`).
pub(crate) fn parse_json<T: DeserializeOwned>(text: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(text).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => {
            Problem::invalid("body", error.to_string()).with("line", error.line()).with("column", error.column())
        }
        _ => Problem::invalid_json(&error),
    })
}

/// A query string parsed into `T`; failures are `invalid-request` problems.
pub(crate) struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(value)| Q(value))
            .map_err(|rejection| Problem::invalid("query", rejection.body_text()))
    }
}

/// The single path parameter of a route (`{stream}`, `{category}`, `{type}`), percent-decoded.
pub(crate) struct Name(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Name {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(name)| Name(name))
            .map_err(|rejection| Problem::invalid("path", rejection.body_text()))
    }
}

/// The header that carries a correlation id into appended events' metadata.
pub const CORRELATION_ID_HEADER: &str = "x-correlation-id";
/// The principal recorded when no principal header is configured or sent.
pub const ANONYMOUS_PRINCIPAL: &str = "anonymous";

/// Who appends and under which correlation: copied into each event's metadata.
pub(crate) struct Audit {
    pub principal: String,
    pub correlation_id: Option<String>,
}

impl Audit {
    pub fn from_headers(headers: &HeaderMap, principal_header: Option<&str>) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Audit {
            principal: principal_header.and_then(text).unwrap_or_else(|| ANONYMOUS_PRINCIPAL.to_owned()),
            correlation_id: text(CORRELATION_ID_HEADER),
        }
    }

    /// Sets `principal` (always: the server's word wins) and `correlation_id` (when absent).
    /// Metadata that is not an object is left for validation to reject.
    pub fn stamp(&self, event: &mut NewEvent) {
        let Ok(serde_json::Value::Object(mut metadata)) = event.metadata.decode::<serde_json::Value>() else {
            return;
        };
        metadata.insert("principal".into(), self.principal.clone().into());
        if let Some(correlation_id) = &self.correlation_id {
            metadata.entry("correlation_id").or_insert_with(|| correlation_id.clone().into());
        }
        event.metadata = Json::from_value(&metadata);
    }
}
