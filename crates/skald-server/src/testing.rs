//! The HTTP test suite, run on every backend of the test kit (feature `testing`).
//!
//! [`TestServer`] runs [`serve`](crate::serve) on `127.0.0.1:0`; [`cases`] holds one async function
//! per behaviour, each taking a fresh [`skald_testkit::TestStore`]; [`http_suite!`](crate::http_suite)
//! turns them into one `#[tokio::test]` per backend.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use skald_core::EventStore;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{serve_with, ServerConfig, ServerError, Services, PROBLEM_CONTENT_TYPE};

/// A server on an ephemeral loopback port, stopped gracefully by [`TestServer::stop`].
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// A plain HTTP client.
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    /// Serves `store` with the default config.
    pub async fn start(store: Arc<dyn EventStore>) -> Self {
        Self::start_with(store, ServerConfig::default()).await
    }

    /// Serves `store` with `config`, and every service (a saga coordinator on the same store).
    pub async fn start_with(store: Arc<dyn EventStore>, config: ServerConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        // A store that fails on purpose cannot host a coordinator; its tests need none.
        let sagas = skald_saga::Coordinator::start(store.clone(), skald_saga::CoordinatorOptions::default()).await.ok();
        let groups = skald_groups::Groups::start(store.clone(), skald_groups::GroupsOptions::default()).await.ok();
        let services = Services { sagas, groups, ..Default::default() };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(listener, store, config, services, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            base_url: format!("http://{addr}"),
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends a request with an optional JSON body and extra headers; reads the whole answer.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.http.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::read(request.send().await.expect("request reaches the server")).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, &[]).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    /// Sends a raw body.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Reply {
        let response = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request reaches the server");
        Reply::read(response).await
    }

    /// Opens an SSE stream.
    pub async fn sse(&self, path: &str, last_event_id: Option<u64>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path)).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        request.send().await.expect("SSE request reaches the server")
    }

    /// Stops gracefully and returns what `serve` returned.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("stopped once");
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("graceful shutdown within 10 s")
            .expect("serve task")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A whole response.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON (`Null` when empty, a string when not JSON).
    pub body: Value,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("response body");
        let body =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        Reply { status, headers, body }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, with the body in the message.
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        self
    }

    /// Asserts an RFC 9457 problem with this status and code.
    pub fn expect_problem(&self, status: u16, code: &str) -> &Self {
        self.expect_status(status);
        assert_eq!(self.header("content-type"), Some(PROBLEM_CONTENT_TYPE), "problem content type");
        assert_eq!(self.body["type"], format!("/errors/{code}"), "problem type; body: {}", self.body);
        assert_eq!(self.body["status"], status, "problem status member");
        assert!(self.body["title"].is_string() && self.body["detail"].is_string(), "title and detail: {}", self.body);
        self
    }
}

/// One SSE message.
#[derive(Debug, Clone, PartialEq)]
pub struct SseMessage {
    /// `id:`.
    pub id: Option<String>,
    /// `event:`.
    pub event: Option<String>,
    /// `data:` lines joined by `\n`.
    pub data: String,
}

/// Reads SSE messages from a response, skipping comments.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    /// Wraps an SSE response.
    pub fn new(response: reqwest::Response) -> Self {
        SseReader { response, buffer: String::new() }
    }

    /// The next message within `wait`; `None` when the stream ended.
    pub async fn next(&mut self, wait: Duration) -> Option<SseMessage> {
        tokio::time::timeout(wait, self.next_message()).await.expect("an SSE message in time")
    }

    async fn next_message(&mut self) -> Option<SseMessage> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut message = SseMessage { id: None, event: None, data: String::new() };
                let mut has_data = false;
                for line in block.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => message.id = Some(value.to_owned()),
                        "event" => message.event = Some(value.to_owned()),
                        "data" => {
                            if has_data {
                                message.data.push('\n');
                            }
                            message.data.push_str(value);
                            has_data = true;
                        }
                        _ => {}
                    }
                }
                if has_data {
                    return Some(message);
                }
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk).replace("\r\n", "\n")),
                Ok(None) | Err(_) => return None,
            }
        }
    }
}

/// Every case of [`cases`] on every backend of the test kit (`memory::…`, `embedded::…`,
/// `postgres::…`). The calling crate needs `skald-testkit` as a dev-dependency.
#[macro_export]
macro_rules! http_suite {
    () => {
        skald_testkit::backend_tests!($crate::testing::cases;
            append_one_stream_and_read_it,
            append_bare_array_and_expected_version_query,
            idempotent_retry_replays,
            audit_metadata_is_stamped,
            append_many_streams_atomically,
            read_all_categories_types_and_as_of,
            list_streams_in_pages,
            metadata_and_soft_delete,
            store_errors_are_problems,
            http_errors_are_problems,
            live_tail_resumes_after_last_event_id,
            live_tail_of_one_stream_and_filters,
            live_streams_are_bounded,
            graceful_shutdown_ends_live_streams,
            health_metrics_and_openapi,
            every_route_is_served
        );
    };
}

/// The cases of [`http_suite!`](crate::http_suite), one behaviour each.
pub mod cases {
    use std::time::Duration;

    use reqwest::Method;
    use serde_json::{json, Value};
    use skald_core::limits::{APPEND_EVENTS_MAX, READ_EVENTS_MAX, REQUEST_BODY_BYTES_MAX};

    use super::{SseReader, TestServer};
    use crate::ServerConfig;

    const WAIT: Duration = Duration::from_secs(5);

    fn event(event_type: &str, n: u64) -> Value {
        json!({"type": event_type, "data": {"n": n}})
    }

    fn events(event_type: &str, range: std::ops::Range<u64>) -> Value {
        Value::Array(range.map(|n| event(event_type, n)).collect())
    }

    /// POST one stream, read it forward, backward and in pages.
    pub async fn append_one_stream_and_read_it(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        let reply = server
            .post("/v1/streams/order-1", json!({"expected_version": "no_stream", "events": events("Placed", 0..3)}))
            .await;
        reply.expect_status(201);
        assert_eq!(
            reply.body,
            json!({"stream": "order-1", "first_version": 0, "last_version": 2, "first_position": 0,
                   "last_position": 2, "replayed": false})
        );
        let reply =
            server.post("/v1/streams/order-1", json!({"expected_version": 2, "events": events("Paid", 3..5)})).await;
        reply.expect_status(201);
        assert_eq!(reply.body["first_version"], 3);

        let page = server.get("/v1/streams/order-1").await;
        page.expect_status(200);
        let list = page.body["events"].as_array().unwrap();
        assert_eq!(list.len(), 5);
        assert_eq!(page.body["next"], Value::Null);
        let first = &list[0];
        for key in ["position", "stream", "version", "id", "type", "timestamp", "data", "metadata"] {
            assert!(first.get(key).is_some(), "event on the wire has `{key}`: {first}");
        }
        assert_eq!(first["data"], json!({"n": 0}));
        assert_eq!(first["type"], "Placed");
        assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));

        let page = server.get("/v1/streams/order-1?from=1&limit=2").await;
        let versions: Vec<_> = page.body["events"].as_array().unwrap().iter().map(|e| e["version"].clone()).collect();
        assert_eq!(versions, [json!(1), json!(2)]);
        assert_eq!(page.body["next"], 3);
        let page = server.get("/v1/streams/order-1?direction=backward&limit=2").await;
        let versions: Vec<_> = page.body["events"].as_array().unwrap().iter().map(|e| e["version"].clone()).collect();
        assert_eq!(versions, [json!(4), json!(3)]);
        assert_eq!(page.body["next"], 2);
        let page = server.get("/v1/streams/order-1?as_of_position=1").await;
        assert_eq!(page.body["events"].as_array().unwrap().len(), 2);
    }

    /// A bare array body; the expected version in the query string.
    pub async fn append_bare_array_and_expected_version_query(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        server.post("/v1/streams/cart-1?expected_version=no_stream", events("Added", 0..2)).await.expect_status(201);
        let reply = server.post("/v1/streams/cart-1?expected_version=0", events("Added", 2..3)).await;
        reply.expect_problem(409, "wrong-expected-version");
        assert_eq!(reply.body["actual_version"], 1);
        let reply = server.post("/v1/streams/cart-1?expected_version=1", events("Added", 2..3)).await;
        reply.expect_status(201);
        assert_eq!(reply.body["last_version"], 2);
        let reply =
            server.post("/v1/streams/cart-1?expected_version=2", json!({"expected_version": 3, "events": []})).await;
        reply.expect_problem(400, "invalid-request");
        assert_eq!(reply.body["field"], "expected_version");
    }

    /// Re-sending an append with the same ids writes nothing and answers 200 with the old outcome.
    pub async fn idempotent_retry_replays(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        let id = skald_core::Uuid::now_v7().to_string();
        let body = json!({"expected_version": "no_stream", "events": [{"id": id, "type": "A", "data": 1}]});
        server.post("/v1/streams/pay-1", body.clone()).await.expect_status(201);
        let reply = server.post("/v1/streams/pay-1", body).await;
        reply.expect_status(200);
        assert_eq!(reply.body["replayed"], true);
        assert_eq!(reply.body["first_version"], 0);
        let page = server.get("/v1/streams/pay-1").await;
        assert_eq!(page.body["events"].as_array().unwrap().len(), 1);
        assert_eq!(page.body["events"][0]["id"], id);
    }

    /// `principal` and `correlation_id` reach the events' metadata.
    pub async fn audit_metadata_is_stamped(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let config = ServerConfig { principal_header: Some("x-user".into()), ..Default::default() };
        let server = TestServer::start_with(store, config).await;
        let body = json!([{"type": "A", "data": {}}, {"type": "B", "data": {}, "metadata": {"correlation_id": "mine", "k": 1}}]);
        let headers = [("x-correlation-id", "corr-7"), ("x-user", "alice")];
        server.call(Method::POST, "/v1/streams/audit-1", Some(body), &headers).await.expect_status(201);
        server.post("/v1/streams/audit-1", json!([{"type": "C", "data": {}}])).await.expect_status(201);
        let page = server.get("/v1/streams/audit-1").await;
        let list = page.body["events"].as_array().unwrap();
        assert_eq!(list[0]["metadata"], json!({"principal": "alice", "correlation_id": "corr-7"}));
        assert_eq!(list[1]["metadata"], json!({"principal": "alice", "correlation_id": "mine", "k": 1}));
        assert_eq!(list[2]["metadata"], json!({"principal": crate::ANONYMOUS_PRINCIPAL}));
    }

    /// `POST /v1/streams`: all streams or none.
    pub async fn append_many_streams_atomically(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        let body = json!({"streams": [
            {"stream": "order-9", "expected_version": "no_stream", "events": events("Placed", 0..2)},
            {"stream": "stock-9", "events": events("Reserved", 0..1)},
        ]});
        let reply = server.post("/v1/streams", body).await;
        reply.expect_status(201);
        assert_eq!(reply.body["replayed"], false);
        assert_eq!(reply.body["streams"][0]["stream"], "order-9");
        assert_eq!(reply.body["streams"][1]["first_position"], 2);
        let body = json!({"streams": [
            {"stream": "stock-9", "events": events("Reserved", 1..2)},
            {"stream": "order-9", "expected_version": "no_stream", "events": events("Placed", 2..3)},
        ]});
        let reply = server.post("/v1/streams", body).await;
        reply.expect_problem(409, "wrong-expected-version");
        assert_eq!(reply.body["stream"], "order-9");
        assert_eq!(reply.body["expected_version"], "no_stream");
        assert_eq!(reply.body["actual_version"], 1);
        let page = server.get("/v1/streams/stock-9").await;
        assert_eq!(page.body["events"].as_array().unwrap().len(), 1, "the failed append wrote nothing");
        let reply =
            server.post("/v1/streams", json!({"streams": [{"stream": "$exec-1", "events": events("A", 0..1)}]})).await;
        reply.expect_problem(400, "invalid-request");
        assert_eq!(reply.body["field"], "streams[0].stream");
    }

    /// `$all`, categories and types, with positions as cursors and point-in-time reads.
    pub async fn read_all_categories_types_and_as_of(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        server.post("/v1/streams/order-1", events("Placed", 0..2)).await.expect_status(201);
        server.post("/v1/streams/user-1", events("Joined", 0..1)).await.expect_status(201);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let between = skald_core::Timestamp::now().to_rfc3339();
        tokio::time::sleep(Duration::from_millis(5)).await;
        server.post("/v1/streams/order-2", events("Placed", 0..1)).await.expect_status(201);

        let page = server.get("/v1/all?limit=2").await;
        page.expect_status(200);
        let positions: Vec<_> = page.body["events"].as_array().unwrap().iter().map(|e| e["position"].clone()).collect();
        assert_eq!(positions, [json!(0), json!(1)]);
        assert_eq!(page.body["next"], 2);
        let page = server.get("/v1/all?from=2").await;
        assert_eq!(page.body["events"].as_array().unwrap().len(), 2);

        let page = server.get("/v1/categories/order").await;
        let streams: Vec<_> = page.body["events"].as_array().unwrap().iter().map(|e| e["stream"].clone()).collect();
        assert_eq!(streams, [json!("order-1"), json!("order-1"), json!("order-2")]);
        let page = server.get("/v1/categories/order?direction=backward&limit=1").await;
        assert_eq!(page.body["events"][0]["stream"], "order-2");
        assert_eq!(page.body["next"], 1);

        let page = server.get("/v1/types/Joined").await;
        assert_eq!(page.body["events"].as_array().unwrap().len(), 1);
        assert_eq!(page.body["events"][0]["position"], 2);

        let page = server.get(&format!("/v1/all?as_of_time={between}")).await;
        page.expect_status(200);
        assert_eq!(page.body["events"].as_array().unwrap().len(), 3);
        let page = server.get("/v1/categories/order?as_of_position=1").await;
        assert_eq!(page.body["events"].as_array().unwrap().len(), 2);
        server.get("/v1/all?as_of_time=yesterday").await.expect_problem(400, "invalid-request");
        server
            .get("/v1/all?as_of_time=2026-01-01T00:00:00Z&as_of_position=1")
            .await
            .expect_problem(400, "invalid-request");
        server.get("/v1/all?direction=sideways").await.expect_problem(400, "invalid-request");
    }

    /// `GET /v1/streams` pages by name with `after`.
    pub async fn list_streams_in_pages(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        for name in ["c-1", "a-1", "b-1"] {
            server.post(&format!("/v1/streams/{name}"), events("A", 0..2)).await.expect_status(201);
        }
        let page = server.get("/v1/streams?limit=2").await;
        page.expect_status(200);
        let names: Vec<_> = page.body["streams"].as_array().unwrap().iter().map(|s| s["stream"].clone()).collect();
        assert_eq!(names, [json!("a-1"), json!("b-1")]);
        assert_eq!(page.body["streams"][0]["head_version"], 1);
        assert_eq!(page.body["next_after"], "b-1");
        let page = server.get("/v1/streams?after=b-1").await;
        assert_eq!(page.body["streams"][0]["stream"], "c-1");
        assert_eq!(page.body["next_after"], Value::Null);
        let reply = server.get(&format!("/v1/streams?limit={}", crate::STREAMS_PAGE_MAX + 1)).await;
        reply.expect_problem(400, "limit-exceeded");
        assert_eq!(reply.body["limit"], "streams_page_max");
    }

    /// Metadata round trip; soft delete reads as 410; appending recreates.
    pub async fn metadata_and_soft_delete(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        server.post("/v1/streams/doc-1", events("A", 0..3)).await.expect_status(201);
        let reply = server.get("/v1/streams/doc-1/metadata").await;
        reply.expect_status(200);
        assert_eq!(reply.body, json!({}));
        let reply = server.call(Method::PUT, "/v1/streams/doc-1/metadata", Some(json!({"max_count": 2})), &[]).await;
        reply.expect_status(200);
        assert_eq!(server.get("/v1/streams/doc-1/metadata").await.body, json!({"max_count": 2}));
        let page = server.get("/v1/streams/doc-1").await;
        assert_eq!(page.body["events"].as_array().unwrap().len(), 2, "max_count hides the oldest");
        let reply = server.call(Method::PUT, "/v1/streams/doc-1/metadata", Some(json!({"max_cnt": 2})), &[]).await;
        reply.expect_problem(400, "invalid-request");
        server.get("/v1/streams/nobody-1/metadata").await.expect_problem(404, "stream-not-found");

        let reply = server.call(Method::DELETE, "/v1/streams/doc-1?expected_version=1", None, &[]).await;
        reply.expect_problem(409, "wrong-expected-version");
        assert_eq!(reply.body["actual_version"], 2);
        server.call(Method::DELETE, "/v1/streams/doc-1?expected_version=2", None, &[]).await.expect_status(204);
        let reply = server.get("/v1/streams/doc-1").await;
        reply.expect_problem(410, "stream-deleted");
        assert_eq!(reply.body["stream"], "doc-1");
        server.call(Method::DELETE, "/v1/streams/nobody-1", None, &[]).await.expect_problem(404, "stream-not-found");
        let reply = server.post("/v1/streams/doc-1", events("A", 3..4)).await;
        reply.expect_status(201);
        assert_eq!(reply.body["first_version"], 3, "versions continue after a delete");
        server.call(Method::DELETE, "/v1/streams/$exec-1", None, &[]).await.expect_problem(400, "invalid-request");
    }

    /// Every store error code that a working store produces, with its action fields.
    pub async fn store_errors_are_problems(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        let reply = server.post("/v1/streams/$sub-x", events("A", 0..1)).await;
        reply.expect_problem(400, "invalid-request");
        assert_eq!(reply.body["field"], "stream");
        let reply = server.post("/v1/streams/a-1", json!([{"type": "", "data": 1}])).await;
        reply.expect_problem(400, "invalid-request");
        assert_eq!(reply.body["field"], "events[0].type");
        let reply =
            server.post("/v1/streams/a-1", json!({"expected_version": "latest", "events": events("A", 0..1)})).await;
        reply.expect_problem(400, "invalid-request");

        let reply = server.post("/v1/streams/a-1", events("A", 0..(APPEND_EVENTS_MAX as u64 + 1))).await;
        reply.expect_problem(413, "limit-exceeded");
        assert_eq!(reply.body["limit"], "append_events_max");
        assert_eq!(reply.body["max"], APPEND_EVENTS_MAX);
        assert_eq!(reply.body["actual"], APPEND_EVENTS_MAX + 1);
        let reply = server.get(&format!("/v1/all?limit={}", READ_EVENTS_MAX + 1)).await;
        reply.expect_problem(400, "limit-exceeded");
        assert_eq!(reply.body["field"], "limit");
        assert_eq!(reply.body["limit"], "read_events_max");

        server.post("/v1/streams/a-1", json!({"expected_version": "no_stream", "events": events("A", 0..1)})).await;
        let reply =
            server.post("/v1/streams/a-1", json!({"expected_version": "no_stream", "events": events("A", 1..2)})).await;
        reply.expect_problem(409, "wrong-expected-version");
        assert_eq!(reply.body["stream"], "a-1");
        assert_eq!(reply.body["actual_version"], 0);
        let reply =
            server.post("/v1/streams/b-1", json!({"expected_version": "exists", "events": events("A", 0..1)})).await;
        reply.expect_problem(409, "wrong-expected-version");
        assert_eq!(reply.body["actual_version"], Value::Null);

        let id = skald_core::Uuid::now_v7().to_string();
        server.post("/v1/streams/c-1", json!([{"id": id, "type": "A", "data": 1}])).await.expect_status(201);
        let reply = server.post("/v1/streams/d-1", json!([{"id": id, "type": "A", "data": 1}])).await;
        reply.expect_problem(409, "idempotency-conflict");
        assert_eq!(reply.body["id"], id);
        assert_eq!(reply.body["stream"], "c-1");

        let reply = server.get("/v1/streams/nobody-1").await;
        reply.expect_problem(404, "stream-not-found");
        assert_eq!(reply.body["stream"], "nobody-1");
    }

    /// Malformed JSON, oversized bodies, unknown routes and methods.
    pub async fn http_errors_are_problems(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        let reply = server.post_raw("/v1/streams/a-1", "{\n  \"events\": [\n    {\"type\": \"A\",}\n  ]\n}").await;
        reply.expect_problem(400, "invalid-json");
        assert_eq!(reply.body["line"], 3);
        assert!(reply.body["column"].as_u64().unwrap() > 0);
        server.post_raw("/v1/streams/a-1", "").await.expect_problem(400, "invalid-json");
        let reply = server.post_raw("/v1/streams/a-1", r#"{"events": [{"data": 1}]}"#).await;
        reply.expect_problem(400, "invalid-request");
        assert_eq!(reply.body["field"], "body");

        let big = vec![b' '; REQUEST_BODY_BYTES_MAX + 1];
        let reply = server.post_raw("/v1/streams/a-1", big).await;
        reply.expect_problem(413, "limit-exceeded");
        assert_eq!(reply.body["limit"], "request_body_bytes_max");
        assert_eq!(reply.body["max"], REQUEST_BODY_BYTES_MAX);

        server.get("/v2/nothing").await.expect_problem(404, "route-not-found");
        server.call(Method::PATCH, "/v1/streams/a-1", None, &[]).await.expect_problem(405, "method-not-allowed");
        server.get("/v1/all?unknown=1").await.expect_problem(400, "invalid-request");
        server.get("/v1/all?from=minus-one").await.expect_problem(400, "invalid-request");
    }

    /// Reads `count` event messages and returns their positions.
    async fn positions(reader: &mut SseReader, count: usize) -> Vec<u64> {
        let mut seen = Vec::with_capacity(count);
        while seen.len() < count {
            let message = reader.next(WAIT).await.expect("the SSE stream is open");
            assert_eq!(message.event.as_deref(), Some(crate::SSE_EVENT));
            let event: Value = serde_json::from_str(&message.data).expect("data is the event JSON");
            let position = event["position"].as_u64().unwrap();
            assert_eq!(message.id, Some(position.to_string()), "id is the position");
            seen.push(position);
        }
        seen
    }

    /// Read some, disconnect, append more, reconnect with `Last-Event-ID`: no gap, no duplicate.
    pub async fn live_tail_resumes_after_last_event_id(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        server.post("/v1/streams/order-1", events("A", 0..5)).await.expect_status(201);
        let response = server.sse("/v1/all/live?from=start", None).await;
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let mut reader = SseReader::new(response);
        assert_eq!(positions(&mut reader, 3).await, [0, 1, 2]);
        drop(reader);

        server.post("/v1/streams/order-2", events("A", 0..3)).await.expect_status(201);
        let mut reader = SseReader::new(server.sse("/v1/all/live?from=start", Some(2)).await);
        assert_eq!(positions(&mut reader, 5).await, [3, 4, 5, 6, 7]);
        server.post("/v1/streams/order-3", events("A", 0..2)).await.expect_status(201);
        assert_eq!(positions(&mut reader, 2).await, [8, 9], "live events follow the catch-up");

        let mut reader = SseReader::new(server.sse("/v1/all/live", None).await);
        server.post("/v1/streams/order-4", events("A", 0..1)).await.expect_status(201);
        assert_eq!(positions(&mut reader, 1).await, [10], "the default start is the end of the log");
        let mut reader = SseReader::new(server.sse("/v1/all/live?from=9", None).await);
        assert_eq!(positions(&mut reader, 2).await, [9, 10], "`from` is an inclusive position");

        let reply = server.call(Method::GET, "/v1/all/live", None, &[("last-event-id", "x")]).await;
        reply.expect_problem(400, "invalid-request");
        server.get("/v1/all/live?from=later").await.expect_problem(400, "invalid-request");
    }

    /// Stream, category and type live tails see only their events.
    pub async fn live_tail_of_one_stream_and_filters(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        server.post("/v1/streams/order-1", events("Placed", 0..2)).await.expect_status(201);
        server.post("/v1/streams/user-1", events("Joined", 0..1)).await.expect_status(201);
        let mut stream = SseReader::new(server.sse("/v1/streams/order-1/live?from=start", None).await);
        let mut category = SseReader::new(server.sse("/v1/categories/user/live?from=start", None).await);
        let mut types = SseReader::new(server.sse("/v1/types/Placed/live?from=1", None).await);
        server.post("/v1/streams/order-1", events("Placed", 2..3)).await.expect_status(201);
        server.post("/v1/streams/user-2", events("Joined", 0..1)).await.expect_status(201);
        assert_eq!(positions(&mut stream, 3).await, [0, 1, 3]);
        assert_eq!(positions(&mut category, 2).await, [2, 4]);
        assert_eq!(positions(&mut types, 2).await, [1, 3]);
        let mut later = SseReader::new(server.sse("/v1/streams/order-1/live", Some(1)).await);
        assert_eq!(positions(&mut later, 1).await, [3]);
    }

    /// Past `sse_connections_max` a live request is answered 503 with `Retry-After`.
    pub async fn live_streams_are_bounded(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let config = ServerConfig { sse_connections_max: 1, ..Default::default() };
        let server = TestServer::start_with(store, config).await;
        let first = server.sse("/v1/all/live", None).await;
        assert_eq!(first.status(), 200);
        let reply = server.get("/v1/all/live").await;
        reply.expect_problem(503, "overloaded");
        assert_eq!(reply.header("retry-after"), Some("1"));
        assert!(reply.body["retry_after_ms"].is_u64());
        drop(first);
        // The slot frees once the server notices the client left.
        let mut freed = false;
        for _ in 0..100 {
            let response = server.sse("/v1/all/live", None).await;
            if response.status() == 200 {
                freed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(freed, "a closed live stream gives its slot back");
    }

    /// Stopping the server ends live streams, finishes, and refuses new connections.
    pub async fn graceful_shutdown_ends_live_streams(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        server.post("/v1/streams/order-1", events("A", 0..1)).await.expect_status(201);
        let mut reader = SseReader::new(server.sse("/v1/all/live?from=start", None).await);
        assert_eq!(positions(&mut reader, 1).await, [0]);
        let url = server.url("/health");
        let http = server.http.clone();
        server.stop().await.expect("serve returns Ok after a graceful shutdown");
        assert_eq!(reader.next(WAIT).await, None, "the live stream ended");
        assert!(http.get(url).send().await.is_err(), "no new connections after shutdown");
    }

    /// `/health`, `/metrics` (with engine histograms) and `/v1/openapi.json`.
    pub async fn health_metrics_and_openapi(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        let reply = server.get("/health").await;
        reply.expect_status(200);
        assert_eq!(reply.body["status"], "ok");
        server.post("/v1/streams/order-1", events("A", 0..2)).await.expect_status(201);
        assert_eq!(server.get("/health").await.body["head_position"], 1);
        server.get("/v1/all").await.expect_status(200);
        metrics::histogram!("skald_fsync_seconds").record(0.000_4);
        metrics::histogram!("skald_group_commit_events").record(12.0);

        let response = server.http.get(server.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = response.text().await.unwrap();
        for needle in [
            "skald_appends_total",
            "skald_appended_events_total",
            "skald_appended_bytes_total",
            "skald_reads_total",
            "skald_read_events_total",
            "skald_http_request_duration_seconds_bucket",
            "skald_fsync_seconds_bucket{le=\"0.0005\"}",
            "skald_group_commit_events_bucket{le=\"20\"}",
        ] {
            assert!(text.contains(needle), "/metrics has {needle}:\n{text}");
        }

        let reply = server.get("/v1/openapi.json").await;
        reply.expect_status(200);
        assert_eq!(reply.body["openapi"], "3.1.0");
        for (method, path) in crate::route_table() {
            assert!(reply.body["paths"][path][method.to_ascii_lowercase()].is_object(), "{method} {path} documented");
        }
    }

    /// Every route of the table answers (no `route-not-found`, no `method-not-allowed`).
    pub async fn every_route_is_served(kit: skald_testkit::TestStore) {
        let store = kit.store();
        let server = TestServer::start(store).await;
        server.post("/v1/streams/order-1", events("A", 0..1)).await.expect_status(201);
        for (method, path) in crate::route_table() {
            let path = path.replace("{stream}", "order-1").replace("{category}", "order").replace("{type}", "A");
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let body = match method {
                Method::POST | Method::PUT => Some(json!({})),
                _ => None,
            };
            let mut request = server.http.request(method.clone(), server.url(&path));
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            assert_ne!(status, 405, "{method} {path} is served");
            if status == 404 {
                // A resource that does not exist is fine; a route that does not exist is not.
                let problem: Value = response.json().await.unwrap_or(Value::Null);
                assert_ne!(problem["type"], "/errors/route-not-found", "{method} {path} is served");
            }
        }
    }
}
