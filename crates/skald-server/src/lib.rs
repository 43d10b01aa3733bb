//! Skald's HTTP API over any [`EventStore`]: appends, paged reads, SSE live tails, stream
//! metadata, health, Prometheus metrics and the OpenAPI document.
//!
//! The server knows HTTP and nothing about storage: it is handed an `Arc<dyn EventStore>` (the
//! embedded log, PostgreSQL, …) by whoever starts it. Errors leave as RFC 9457 problems whose
//! `type` is `/errors/<code>` (see `docs/errors.md`); every resource (requests in flight, SSE
//! streams, their buffers, body size, page size) is bounded by [`ServerConfig`] or
//! [`skald_core::limits`].
//!
//! Routes (also served as OpenAPI 3.1 at `GET /v1/openapi.json`):
//!
//! | method | path | what |
//! |---|---|---|
//! | POST | `/v1/streams/{stream}` | append to one stream |
//! | POST | `/v1/streams` | atomic append to many streams |
//! | GET | `/v1/streams` | list streams (`after`, `limit`) |
//! | GET | `/v1/streams/{stream}` | read a stream (cursors are versions) |
//! | DELETE | `/v1/streams/{stream}` | soft delete (`expected_version`) |
//! | GET, PUT | `/v1/streams/{stream}/metadata` | stream settings |
//! | GET | `/v1/all`, `/v1/categories/{category}`, `/v1/types/{type}` | read (cursors are positions) |
//! | GET | `…/live` under each of the four read resources | SSE live tail |
//! | GET | `/health`, `/metrics`, `/v1/openapi.json` | operations |
//! | GET | `/v1/cluster` | the nodes, what each owns, lease ages |
//!
//! ```
//! use std::sync::Arc;
//! use skald_core::{EventStore, MemoryStore};
//! use skald_server::{serve, ServerConfig};
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(serve(listener, store, ServerConfig::default(), async {
//!     let _ = stopped.await;
//! }));
//! // … serve requests …
//! stop.send(()).unwrap();
//! server.await.unwrap()?;
//! # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
//! ```

mod config;
mod extract;
pub mod forward;
pub mod metrics;
mod openapi;
pub mod problem;
mod routes;
mod sse;
mod state;
#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::serve::ListenerExt;
use axum::Router;
use skald_core::limits::REQUEST_BODY_BYTES_MAX;
use skald_core::EventStore;

pub use config::ServerConfig;
pub use extract::{ANONYMOUS_PRINCIPAL, CORRELATION_ID_HEADER};
pub use openapi::DOCUMENT as OPENAPI_DOCUMENT;
pub use problem::{Problem, PROBLEM_CONTENT_TYPE};
pub use routes::reads::READ_LIMIT_DEFAULT;
pub use routes::streams::{STREAMS_PAGE_DEFAULT, STREAMS_PAGE_MAX};
pub use sse::{SSE_EVENT, SSE_PROBLEM};

use state::AppState;

/// Why [`serve`] stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The listener failed.
    #[error("HTTP server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// The services served beside the event store. Each is optional: without it its routes answer
/// `404 route-not-found`.
#[derive(Clone, Default)]
pub struct Services {
    /// The saga coordinator: `/v1/state-machines`, `/v1/executions`, `/v1/tasks`, `/v1/activities`.
    pub sagas: Option<skald_saga::CoordinatorHandle>,
    /// Consumer groups: `/v1/groups`.
    pub groups: Option<skald_groups::GroupsHandle>,
    /// The cluster node the services run on: `/v1/cluster`, and requests for work another node
    /// owns are forwarded there ([`forward`]). `None`: the services' own (solo) node, if any.
    pub cluster: Option<skald_cluster::ClusterHandle>,
}

/// The event-store API as an axum router, ready for `axum::serve` or `tower::ServiceExt::oneshot`.
///
/// SSE streams of a router built this way end when the router is dropped; [`serve`] also ends
/// them on shutdown.
pub fn router(store: Arc<dyn EventStore>, config: ServerConfig) -> Router {
    router_with(store, config, Services::default())
}

/// The API with `services`' routes too.
pub fn router_with(store: Arc<dyn EventStore>, config: ServerConfig, services: Services) -> Router {
    app(AppState::new(store, config, cluster_of(&services)), services)
}

/// The cluster node of `services`: the one given, else the saga coordinator's or the groups'.
fn cluster_of(services: &Services) -> Option<skald_cluster::ClusterHandle> {
    let sagas = services.sagas.as_ref().map(|s| s.cluster().clone());
    services.cluster.clone().or(sagas).or_else(|| services.groups.as_ref().map(|g| g.cluster().clone()))
}

/// Every `(method, path)` the API serves with all its services, in the order they are added.
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    let mut table = routes::routes().table;
    table.extend_from_slice(routes::sagas::ROUTES);
    table.extend_from_slice(routes::groups::ROUTES);
    table
}

fn app(state: AppState, services: Services) -> Router {
    let mut router = routes::routes().router;
    // Only a node with others forwards; a solo node owns everything.
    let forwarder =
        state.cluster.as_ref().filter(|c| !c.is_solo()).and_then(|c| forward::Forwarder::new(c.node_id()).ok());
    let forwarding = axum::middleware::from_fn_with_state(forwarder.clone(), forward::layer);
    if let Some(sagas) = services.sagas {
        let sagas = routes::sagas::router(sagas).layer(axum::Extension(forwarder.clone()));
        router = router.merge(sagas.layer(forwarding.clone()));
    }
    if let Some(groups) = services.groups {
        let groups = routes::groups::router(groups).layer(axum::Extension(forwarder.clone()));
        router = router.merge(groups.layer(forwarding));
    }
    router
        .method_not_allowed_fallback(routes::method_not_allowed)
        .fallback(routes::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), limit_requests))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .with_state(state)
}

/// At most `requests_concurrent_max` requests in handlers at once; `/health` and `/metrics` pass.
async fn limit_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if matches!(request.uri().path(), "/health" | "/metrics") {
        return next.run(request).await;
    }
    match state.requests.clone().try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => {
            Problem::saturated("requests in flight", state.config.requests_concurrent_max, state.config.retry_after)
                .into_response()
        }
    }
}

/// Serves the API on `listener` until `shutdown` completes, then shuts down gracefully: stops
/// accepting, ends SSE streams, and waits for requests in flight to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Arc<dyn EventStore>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_with(listener, store, config, Services::default(), shutdown).await
}

/// [`serve`] with `services`' routes too.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    store: Arc<dyn EventStore>,
    config: ServerConfig,
    services: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let state = AppState::new(store, config, cluster_of(&services));
    let router = app(state.clone(), services);
    let trigger = state.clone();
    // Live streams (SSE) write small frames one after another: with Nagle's algorithm on, a frame
    // waits for the ACK of the one before, which the client delays by up to 40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY on a connection");
        }
    });
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, ending live streams");
            trigger.begin_shutdown();
        })
        .await;
    state.begin_shutdown();
    result.map_err(ServerError::from)
}
