//! The HTTP suite on every backend, plus the problems that only a failing store produces.

use std::sync::Arc;

use serde_json::json;
use skald_core::{
    AppendOutcome, Error, EventStore, EventStream, MemoryStore, ReadOptions, ReadPage, Selector, StreamAppend,
    StreamCondition, StreamInfo, StreamList, SubscribeFrom,
};
use skald_server::testing::TestServer;

skald_server::http_suite!();

/// A store whose every operation fails with one error.
struct FailingStore(Error);

#[async_trait::async_trait]
impl EventStore for FailingStore {
    async fn append_if(&self, _: Vec<StreamAppend>, _: Vec<StreamCondition>) -> Result<AppendOutcome, Error> {
        Err(self.0.clone())
    }
    async fn read(&self, _: &Selector, _: ReadOptions) -> Result<ReadPage, Error> {
        Err(self.0.clone())
    }
    async fn stream_info(&self, _: &str) -> Result<StreamInfo, Error> {
        Err(self.0.clone())
    }
    async fn list_streams(&self, _: Option<&str>, _: usize) -> Result<StreamList, Error> {
        Err(self.0.clone())
    }
    fn head_position(&self) -> Option<u64> {
        None
    }
    fn subscribe(&self, _: Selector, _: SubscribeFrom) -> EventStream {
        Box::pin(futures_util::stream::iter([Err(self.0.clone())]))
    }
}

#[tokio::test]
async fn failing_stores_map_to_problems() {
    let cases = [
        (Error::Overloaded { retry_after_ms: 2_500 }, 503, "overloaded", Some("3")),
        (Error::ShuttingDown, 503, "shutting-down", Some("1")),
        (
            Error::Corrupt {
                file: "/data/00000001.seg".into(),
                offset: 4096,
                reason: "bad checksum".into(),
                hint: "run `skald verify --repair`".into(),
            },
            500,
            "corrupt-data",
            None,
        ),
        (Error::storage("disk full"), 500, "storage-error", None),
    ];
    for (error, status, code, retry_after) in cases {
        let server = TestServer::start(Arc::new(FailingStore(error))).await;
        let reply = server.post("/v1/streams/a-1", json!([{"type": "A", "data": 1}])).await;
        reply.expect_problem(status, code);
        assert_eq!(reply.header("retry-after"), retry_after, "{code}");
        server.get("/v1/all").await.expect_problem(status, code);
        server.get("/v1/streams").await.expect_problem(status, code);
        server.get("/v1/streams/a-1/metadata").await.expect_problem(status, code);
        if code == "corrupt-data" {
            assert_eq!(reply.body["offset"], 4096);
            assert!(reply.body["hint"].as_str().unwrap().contains("verify"));
        }
    }
}

#[tokio::test]
async fn a_failing_subscription_sends_one_problem_and_closes() {
    let server = TestServer::start(Arc::new(FailingStore(Error::storage("disk gone")))).await;
    let mut reader = skald_server::testing::SseReader::new(server.sse("/v1/all/live?from=start", None).await);
    let message = reader.next(std::time::Duration::from_secs(5)).await.expect("a problem message");
    assert_eq!(message.event.as_deref(), Some(skald_server::SSE_PROBLEM));
    let problem: serde_json::Value = serde_json::from_str(&message.data).unwrap();
    assert_eq!(problem["type"], "/errors/storage-error");
    assert_eq!(reader.next(std::time::Duration::from_secs(5)).await, None);
}

#[tokio::test]
async fn the_router_works_without_serve() {
    // Two routers in one process share the one Prometheus recorder.
    let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    let first = skald_server::router(store.clone(), Default::default());
    let second = skald_server::router(store, Default::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum_serve(listener, second).await });
    drop(first);
    let text = reqwest::get(format!("http://{addr}/health")).await.unwrap().text().await.unwrap();
    assert!(text.contains("\"status\":\"ok\""));
}

async fn axum_serve(listener: tokio::net::TcpListener, router: axum::Router) {
    axum::serve(listener, router).await.unwrap();
}

#[tokio::test]
async fn requests_over_the_concurrency_bound_are_refused() {
    let config = skald_server::ServerConfig { requests_concurrent_max: 0, ..Default::default() };
    let server = TestServer::start_with(Arc::new(MemoryStore::new()), config).await;
    let reply = server.get("/v1/all").await;
    reply.expect_problem(503, "overloaded");
    assert_eq!(reply.header("retry-after"), Some("1"));
    server.get("/health").await.expect_status(200);
    server.get("/metrics").await.expect_status(200);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected() {
    let config = skald_server::ServerConfig {
        sse_buffer_events: 2,
        sse_stall_timeout: std::time::Duration::from_millis(200),
        ..Default::default()
    };
    let server = TestServer::start_with(Arc::new(MemoryStore::new()), config).await;
    let big = "x".repeat(100_000);
    const BATCHES: usize = 6;
    const PER_BATCH: usize = 50;
    for _ in 0..BATCHES {
        let events: Vec<_> = (0..PER_BATCH).map(|_| json!({"type": "Big", "data": big})).collect();
        server.post("/v1/streams/big-1", serde_json::Value::Array(events)).await.expect_status(201);
    }
    let response = server.sse("/v1/all/live?from=start", None).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let mut reader = skald_server::testing::SseReader::new(response);
    let mut received = 0;
    while reader.next(std::time::Duration::from_secs(10)).await.is_some() {
        received += 1;
    }
    assert!(received < BATCHES * PER_BATCH, "the stalled stream was closed early ({received} events)");
    let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("skald_sse_slow_disconnects_total"), "{metrics}");
}

/// A `MemoryStore` whose appends take a while.
struct SlowStore(MemoryStore);

#[async_trait::async_trait]
impl EventStore for SlowStore {
    async fn append_if(
        &self,
        appends: Vec<StreamAppend>,
        conditions: Vec<StreamCondition>,
    ) -> Result<AppendOutcome, Error> {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        self.0.append_if(appends, conditions).await
    }
    async fn read(&self, selector: &Selector, options: ReadOptions) -> Result<ReadPage, Error> {
        self.0.read(selector, options).await
    }
    async fn stream_info(&self, stream: &str) -> Result<StreamInfo, Error> {
        self.0.stream_info(stream).await
    }
    async fn list_streams(&self, after: Option<&str>, limit: usize) -> Result<StreamList, Error> {
        self.0.list_streams(after, limit).await
    }
    fn head_position(&self) -> Option<u64> {
        self.0.head_position()
    }
    fn subscribe(&self, selector: Selector, from: SubscribeFrom) -> EventStream {
        self.0.subscribe(selector, from)
    }
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight() {
    let memory = MemoryStore::new();
    let server = TestServer::start(Arc::new(SlowStore(memory.clone()))).await;
    let request = server.http.post(server.url("/v1/streams/slow-1")).json(&json!([{"type": "A", "data": 1}])).send();
    let in_flight = tokio::spawn(request);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    server.stop().await.expect("graceful shutdown");
    let response = in_flight.await.unwrap().expect("the request in flight was answered");
    assert_eq!(response.status(), 201);
    assert_eq!(memory.head_position(), Some(0));
}

#[tokio::test]
async fn idle_live_streams_get_keep_alive_comments() {
    let config =
        skald_server::ServerConfig { sse_keep_alive: std::time::Duration::from_millis(50), ..Default::default() };
    let server = TestServer::start_with(Arc::new(MemoryStore::new()), config).await;
    let mut response = server.sse("/v1/all/live", None).await;
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), response.chunk()).await.unwrap().unwrap();
    assert!(chunk.unwrap().starts_with(b":"), "a comment line");
}

#[tokio::test]
async fn metrics_are_labelled_by_route_template() {
    let server = TestServer::start(Arc::new(MemoryStore::new())).await;
    server.get("/v1/streams/nobody-1").await.expect_status(404);
    let text = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(text.contains(r#"route="/v1/streams/{stream}""#), "{text}");
    assert!(!text.contains("nobody-1"), "raw paths never become labels");
}
