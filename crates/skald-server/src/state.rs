//! The state every handler shares: the store, the config, the bounded resources and the shutdown
//! signal.

use std::ops::Deref;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use skald_core::EventStore;
use tokio::sync::{watch, Semaphore};

use crate::ServerConfig;

/// Cheap to clone; every clone shares the same [`Shared`].
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub store: Arc<dyn EventStore>,
    pub config: ServerConfig,
    /// One permit per request being handled.
    pub requests: Arc<Semaphore>,
    /// One permit per open SSE stream.
    pub sse: Arc<Semaphore>,
    /// Flips to `true` when the server starts shutting down; SSE streams end on it.
    pub shutdown: watch::Sender<bool>,
    /// Renders `/metrics`; `None` when metrics are off.
    pub metrics: Option<PrometheusHandle>,
    /// The cluster node this server is (a solo node when it runs alone); `None` without services.
    pub cluster: Option<skald_cluster::ClusterHandle>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn EventStore>,
        config: ServerConfig,
        cluster: Option<skald_cluster::ClusterHandle>,
    ) -> Self {
        let metrics = config.metrics.then(crate::metrics::handle);
        AppState(Arc::new(Shared {
            store,
            requests: Arc::new(Semaphore::new(config.requests_concurrent_max)),
            sse: Arc::new(Semaphore::new(config.sse_connections_max)),
            shutdown: watch::Sender::new(false),
            metrics,
            config,
            cluster,
        }))
    }

    /// Ends every SSE stream; later ones end at once.
    pub fn begin_shutdown(&self) {
        self.0.shutdown.send_replace(true);
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
