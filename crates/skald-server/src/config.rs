//! [`ServerConfig`]: every bound and knob of the HTTP layer, with defaults.

use std::time::Duration;

/// How the server behaves. Every limit is a number here so that nothing grows without bound.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Requests handled at once (not counting open SSE streams, `/health` and `/metrics`). Past it,
    /// requests are answered `503 overloaded` with `Retry-After`.
    pub requests_concurrent_max: usize,
    /// Open SSE live streams at once. Past it, new ones are answered `503 overloaded`.
    pub sse_connections_max: usize,
    /// Events buffered per SSE connection between the store and the socket.
    pub sse_buffer_events: usize,
    /// How long a full SSE buffer may stay full before the slow client is disconnected. The
    /// client resumes with `Last-Event-ID`, so nothing is lost.
    pub sse_stall_timeout: Duration,
    /// Interval of SSE keep-alive comments.
    pub sse_keep_alive: Duration,
    /// `Retry-After` sent when the server itself is saturated.
    pub retry_after: Duration,
    /// The request header whose value becomes the `principal` of appended events (e.g. a header an
    /// authenticating proxy sets). `None`, or a request without it: `"anonymous"`.
    pub principal_header: Option<String>,
    /// Install the Prometheus recorder (once per process) and serve `/metrics`.
    pub metrics: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            requests_concurrent_max: 512,
            sse_connections_max: 1024,
            sse_buffer_events: 256,
            sse_stall_timeout: Duration::from_secs(30),
            sse_keep_alive: Duration::from_secs(15),
            retry_after: Duration::from_secs(1),
            principal_header: None,
            metrics: true,
        }
    }
}
