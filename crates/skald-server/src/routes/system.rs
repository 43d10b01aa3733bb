//! Operational routes: `/health`, `/metrics` (Prometheus text), `/v1/cluster` and `/v1/openapi.json`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::problem::Problem;
use crate::state::AppState;

/// `GET /health`: the server answers and the store knows its head.
pub(crate) async fn health(State(state): State<AppState>) -> Response {
    axum::Json(json!({"status": "ok", "head_position": state.store.head_position()})).into_response()
}

/// `GET /metrics`: the Prometheus text exposition.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => {
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
        }
        None => Problem::new(
            StatusCode::NOT_FOUND,
            "route-not-found",
            "metrics are disabled in this server's configuration",
        )
        .into_response(),
    }
}

/// `GET /v1/cluster`: the nodes, what each owns and for how long (one solo node when embedded).
pub(crate) async fn cluster(State(state): State<AppState>) -> Response {
    match &state.cluster {
        Some(cluster) => axum::Json(cluster.status()).into_response(),
        None => Problem::new(StatusCode::NOT_FOUND, "route-not-found", "this server runs no services, so no cluster")
            .into_response(),
    }
}

/// `GET /v1/openapi.json`: the OpenAPI 3.1 document of every route.
pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::DOCUMENT).into_response()
}
