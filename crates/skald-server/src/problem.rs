//! RFC 9457 problem responses: the one way every error leaves the server.
//!
//! A [`Problem`] carries the stable code (`type` = `/errors/<code>`), the HTTP status, a
//! human-readable `detail`, and the fields a client needs to act (`actual_version`, `field`, …).
//! Store errors map through [`Problem::from_store`]; HTTP-level failures (bad JSON, unknown route,
//! saturation) have their own constructors. `docs/errors.md` lists every code.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use skald_core::Error;

/// The media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An error response in the RFC 9457 shape.
#[derive(Debug, Clone)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code, the last segment of `type`.
    pub code: &'static str,
    /// What went wrong, for people.
    pub detail: String,
    /// Extra members a client acts on.
    pub fields: Map<String, Value>,
    /// Sent as `Retry-After` (seconds, rounded up) when set.
    pub retry_after: Option<Duration>,
    /// Sent as `Allow` on 405.
    pub allow: Option<String>,
    /// Nodes that may answer instead (the owner of the work, or every other node): the forwarding
    /// layer sends the request there ([`crate::forward`]).
    pub forward_to: Option<Box<crate::forward::ForwardTo>>,
}

impl Problem {
    /// A problem without extra fields.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            code,
            detail: detail.into(),
            fields: Map::new(),
            retry_after: None,
            allow: None,
            forward_to: None,
        }
    }

    /// Adds a member.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    /// `400 invalid-request` for `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Problem::from_store(&Error::invalid(field, reason))
    }

    /// `400 invalid-json`: the body is not JSON (or ends early).
    pub fn invalid_json(error: &serde_json::Error) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-json", format!("the request body is not valid JSON: {error}"))
            .with("line", error.line())
            .with("column", error.column())
    }

    /// `413 limit-exceeded` for a request body over `max` bytes.
    pub fn body_too_large(max: usize, actual: Option<u64>) -> Self {
        let mut problem = Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit-exceeded",
            format!("the request body is larger than the limit `request_body_bytes_max` of {max} bytes"),
        )
        .with("field", "body")
        .with("limit", "request_body_bytes_max")
        .with("max", max as u64);
        if let Some(actual) = actual {
            problem = problem.with("actual", actual);
        }
        problem
    }

    /// `502 forward-failed`: the node that owns the work answered something this node cannot pass on.
    pub fn forward_failed(address: &str, what: &str) -> Self {
        Problem::new(StatusCode::BAD_GATEWAY, "forward-failed", format!("the node at {address} answered {what}"))
            .with("address", address)
    }

    /// `503 not-owner`: another node owns the work (`owner`), or nobody does for a moment.
    pub fn not_owner(detail: String, owner: Option<&skald_cluster::Owner>) -> Self {
        let mut problem = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-owner", detail);
        problem.retry_after = Some(Duration::from_secs(1));
        if let Some(owner) = owner {
            problem = problem.with("owner", owner.node.as_str());
            problem.forward_to = Some(Box::new(crate::forward::ForwardTo(vec![owner.address.clone()])));
        }
        problem
    }

    /// Asks the forwarding layer to try these nodes in turn (the first answer but a 404 wins).
    pub fn try_elsewhere(mut self, addresses: Vec<String>) -> Self {
        self.forward_to = Some(Box::new(crate::forward::ForwardTo(addresses)));
        self
    }

    /// `404 route-not-found`.
    pub fn route_not_found(method: &str, path: &str) -> Self {
        Problem::new(
            StatusCode::NOT_FOUND,
            "route-not-found",
            format!("no route {method} {path}; see /v1/openapi.json for the routes this server serves"),
        )
        .with("path", path)
    }

    /// `405 method-not-allowed`.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            format!("{path} does not accept {method}; see /v1/openapi.json"),
        )
        .with("method", method)
    }

    /// `503 overloaded`: a bounded resource of the server is full.
    pub fn saturated(what: &str, max: usize, retry_after: Duration) -> Self {
        let mut problem = Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!("the server is at its limit of {max} {what}; retry after {} ms", retry_after.as_millis()),
        )
        .with("retry_after_ms", retry_after.as_millis() as u64);
        problem.retry_after = Some(retry_after);
        problem
    }

    /// Maps a store error to its problem: status and action fields by code.
    pub fn from_store(error: &Error) -> Self {
        let detail = error.to_string();
        match error {
            Error::Invalid { field, .. } => {
                Problem::new(StatusCode::BAD_REQUEST, error.code(), detail).with("field", field.as_str())
            }
            Error::LimitExceeded { field, limit, actual, max } => {
                Problem::new(limit_status(field), error.code(), detail)
                    .with("field", field.as_str())
                    .with("limit", *limit)
                    .with("max", *max)
                    .with("actual", *actual)
            }
            Error::WrongExpectedVersion { stream, expected, actual } => {
                Problem::new(StatusCode::CONFLICT, error.code(), detail)
                    .with("stream", stream.as_str())
                    .with("expected_version", serde_json::to_value(expected).unwrap_or(Value::Null))
                    .with("actual_version", actual.map_or(Value::Null, Value::from))
            }
            Error::IdempotencyConflict { id, stream, version, .. } => {
                Problem::new(StatusCode::CONFLICT, error.code(), detail)
                    .with("id", id.to_string())
                    .with("stream", stream.as_str())
                    .with("version", *version)
            }
            Error::StreamNotFound { stream } => {
                Problem::new(StatusCode::NOT_FOUND, error.code(), detail).with("stream", stream.as_str())
            }
            Error::StreamDeleted { stream } => {
                Problem::new(StatusCode::GONE, error.code(), detail).with("stream", stream.as_str())
            }
            Error::Overloaded { retry_after_ms } => {
                let mut problem = Problem::new(StatusCode::SERVICE_UNAVAILABLE, error.code(), detail)
                    .with("retry_after_ms", *retry_after_ms);
                problem.retry_after = Some(Duration::from_millis(*retry_after_ms));
                problem
            }
            Error::Unavailable { retry_after_ms, .. } => {
                tracing::warn!(%error, "storage unavailable");
                let mut problem = Problem::new(StatusCode::SERVICE_UNAVAILABLE, error.code(), detail)
                    .with("retry_after_ms", *retry_after_ms);
                problem.retry_after = Some(Duration::from_millis(*retry_after_ms));
                problem
            }
            Error::ShuttingDown => {
                let mut problem = Problem::new(StatusCode::SERVICE_UNAVAILABLE, error.code(), detail);
                problem.retry_after = Some(Duration::from_secs(1));
                problem
            }
            Error::Corrupt { offset, hint, .. } => {
                tracing::error!(%error, "corrupt data");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, error.code(), detail)
                    .with("offset", *offset)
                    .with("hint", hint.as_str())
            }
            Error::Storage(_) => {
                tracing::error!(%error, "storage error");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, error.code(), detail)
            }
            // `Error` is non-exhaustive: a code added later still reaches the client with its name.
            _ => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, error.code(), detail),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), json!(format!("/errors/{}", self.code)));
        body.insert("title".into(), json!(title_of(self.code)));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        for (key, value) in &self.fields {
            body.insert(key.clone(), value.clone());
        }
        Value::Object(body)
    }
}

/// Limits on what the request body carries (fields `body`, `events…`, `streams…`) answer 413;
/// limits on query parameters and path segments answer 400.
fn limit_status(field: &str) -> StatusCode {
    if ["body", "events", "streams"].iter().any(|prefix| field.starts_with(prefix)) {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// The short, fixed summary of each code.
pub fn title_of(code: &str) -> &'static str {
    match code {
        "invalid-request" => "Invalid request",
        "invalid-json" => "Request body is not valid JSON",
        "limit-exceeded" => "Limit exceeded",
        "wrong-expected-version" => "Wrong expected version",
        "idempotency-conflict" => "Idempotency conflict",
        "stream-not-found" => "Stream not found",
        "stream-deleted" => "Stream deleted",
        "overloaded" => "Overloaded",
        "unavailable" => "Storage unavailable",
        "shutting-down" => "Shutting down",
        "corrupt-data" => "Corrupt data",
        "storage-error" => "Storage error",
        "route-not-found" => "Route not found",
        "method-not-allowed" => "Method not allowed",
        "invalid-definition" => "Invalid state machine definition",
        "state-machine-not-found" => "State machine not found",
        "state-machine-already-exists" => "State machine already exists",
        "execution-not-found" => "Execution not found",
        "execution-already-exists" => "Execution already exists",
        "execution-not-running" => "Execution not running",
        "task-token-not-found" => "Task token not found",
        "input-too-large" => "Input too large",
        "too-many-executions" => "Too many executions",
        "history-corrupt" => "Execution history corrupt",
        "group-not-found" => "Consumer group not found",
        "group-already-exists" => "Consumer group already exists",
        "invalid-filter" => "Invalid event filter",
        "lease-expired" => "Lease expired",
        "not-owner" => "Another node owns this",
        "forward-failed" => "Forwarding to the owner failed",
        _ => "Error",
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        Problem::from_store(&error)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        if let Some(retry_after) = self.retry_after {
            let seconds = retry_after.as_millis().div_ceil(1000).max(1);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds as u64));
        }
        if let Some(allow) = self.allow.and_then(|a| HeaderValue::from_str(&a).ok()) {
            headers.insert(header::ALLOW, allow);
        }
        if let Some(forward_to) = self.forward_to.filter(|f| !f.0.is_empty()) {
            response.extensions_mut().insert(*forward_to);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skald_core::ExpectedVersion;

    #[test]
    fn wrong_expected_version_carries_the_versions() {
        let error =
            Error::WrongExpectedVersion { stream: "a-1".into(), expected: ExpectedVersion::Exact(3), actual: None };
        let body = Problem::from_store(&error).body();
        assert_eq!(body["type"], "/errors/wrong-expected-version");
        assert_eq!(body["status"], 409);
        assert_eq!(body["expected_version"], 3);
        assert_eq!(body["actual_version"], Value::Null);
    }

    #[test]
    fn limits_of_query_parameters_are_bad_requests() {
        let read = Problem::from_store(&Error::limit("limit", "read_events_max", 20_000, 10_000));
        assert_eq!(read.status, StatusCode::BAD_REQUEST);
        let body = Problem::from_store(&Error::limit("events", "append_events_max", 20_000, 10_000));
        assert_eq!(body.status, StatusCode::PAYLOAD_TOO_LARGE);
        let event = Problem::from_store(&Error::limit("streams[1].events[0]", "event_size_bytes_max", 2, 1));
        assert_eq!(event.status, StatusCode::PAYLOAD_TOO_LARGE);
        let path = Problem::from_store(&Error::limit("type", "event_type_bytes_max", 300, 256));
        assert_eq!(path.status, StatusCode::BAD_REQUEST);
    }
}
