//! [`Client`]: the connection to one server, its request helpers, and the methods of the event-log
//! routes (appends, reads, streams, live tails), typed with skald-core's request and response
//! types. The saga and consumer-group methods are in `crate::sagas` and `crate::groups`.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use skald_core::{
    AppendOutcome, AsOf, Direction, ExpectedVersion, NewEvent, ReadOptions, ReadPage, RecordedEvent, Selector,
    StreamAppend, StreamList, StreamMetadata, SubscribeFrom,
};

use crate::sse::{self, SubscribeOptions};
use crate::ClientError;

/// Time allowed to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a whole request-response (not for live streams).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence on a connection; the server sends SSE keep-alives every 15 s by default.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The answer to a single-stream append (`POST /v1/streams/{stream}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamAppendOutcome {
    /// The stream.
    pub stream: String,
    /// Version of the first event of this append.
    pub first_version: u64,
    /// Version of the last event: the expected version for the next append.
    pub last_version: u64,
    /// Global position of the first event.
    pub first_position: u64,
    /// Global position of the last event.
    pub last_position: u64,
    /// True when an identical earlier append stored these events: nothing was written.
    pub replayed: bool,
}

/// The answer of `GET /health`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Position of the newest event; `None` while the log is empty.
    pub head_position: Option<u64>,
}

/// The events of a live subscription ([`Client::subscribe`]).
pub type EventStream = futures_util::stream::BoxStream<'static, Result<RecordedEvent, ClientError>>;

/// A client of one Skald server. Cheap to clone; clones share connections.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    headers: HeaderMap,
}

#[derive(Serialize)]
struct StreamAppendBody<'a> {
    expected_version: ExpectedVersion,
    events: &'a [NewEvent],
}

#[derive(Serialize)]
struct MultiAppendBody<'a> {
    streams: &'a [StreamAppend],
}

impl Client {
    /// A client of the server at `base_url` (`http://127.0.0.1:2113`; a path prefix is kept).
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl { url: base_url.to_owned(), reason: reason.to_owned() };
        let base = Url::parse(base_url).map_err(|e| invalid(&e.to_string()))?;
        if base.scheme() != "http" {
            return Err(invalid("only http:// is supported (put a TLS-terminating proxy in front for https)"));
        }
        if base.cannot_be_a_base() {
            return Err(invalid("the URL cannot be a base"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(ClientError::Transport)?;
        Ok(Client { http, base, headers: HeaderMap::new() })
    }

    /// Sends `name: value` with every request (for example `X-Correlation-Id`, or the principal
    /// header the server is configured to trust).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, ClientError> {
        let invalid = |reason: String| ClientError::InvalidUrl { url: self.base.to_string(), reason };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(format!("header name: {e}")))?;
        let value = HeaderValue::from_str(value).map_err(|e| invalid(format!("header value: {e}")))?;
        self.headers.insert(name, value);
        Ok(self)
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// Appends `events` to `stream` if its head matches `expected`.
    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<StreamAppendOutcome, ClientError> {
        let body = StreamAppendBody { expected_version: expected, events: &events };
        self.send(Method::POST, self.url(&["v1", "streams", stream], &[]), Some(&body)).await
    }

    /// Appends to several streams atomically: all or nothing.
    pub async fn append_multi(&self, appends: Vec<StreamAppend>) -> Result<AppendOutcome, ClientError> {
        let body = MultiAppendBody { streams: &appends };
        self.send(Method::POST, self.url(&["v1", "streams"], &[]), Some(&body)).await
    }

    /// Reads a page of `selector` (cursors: versions for a stream, positions otherwise).
    pub async fn read(&self, selector: &Selector, options: ReadOptions) -> Result<ReadPage, ClientError> {
        let query = read_query(&options);
        let url = match selector {
            Selector::All => self.url(&["v1", "all"], &query),
            Selector::Stream(stream) => self.url(&["v1", "streams", stream], &query),
            Selector::Category(category) => self.url(&["v1", "categories", category], &query),
            Selector::Type(event_type) => self.url(&["v1", "types", event_type], &query),
        };
        self.send(Method::GET, url, NO_BODY).await
    }

    /// Reads a page of one stream.
    pub async fn read_stream(&self, stream: &str, options: ReadOptions) -> Result<ReadPage, ClientError> {
        self.read(&Selector::Stream(stream.to_owned()), options).await
    }

    /// Reads a page of the whole log.
    pub async fn read_all(&self, options: ReadOptions) -> Result<ReadPage, ClientError> {
        self.read(&Selector::All, options).await
    }

    /// Reads a page of a category.
    pub async fn read_category(&self, category: &str, options: ReadOptions) -> Result<ReadPage, ClientError> {
        self.read(&Selector::Category(category.to_owned()), options).await
    }

    /// Reads a page of an event type.
    pub async fn read_type(&self, event_type: &str, options: ReadOptions) -> Result<ReadPage, ClientError> {
        self.read(&Selector::Type(event_type.to_owned()), options).await
    }

    /// Lists streams by name after `after`, at most `limit` (1 to 1000).
    pub async fn list_streams(&self, after: Option<&str>, limit: usize) -> Result<StreamList, ClientError> {
        let mut query = vec![("limit", limit.to_string())];
        if let Some(after) = after {
            query.push(("after", after.to_owned()));
        }
        self.send(Method::GET, self.url(&["v1", "streams"], &query), NO_BODY).await
    }

    /// A stream's settings.
    pub async fn metadata(&self, stream: &str) -> Result<StreamMetadata, ClientError> {
        self.send(Method::GET, self.url(&["v1", "streams", stream, "metadata"], &[]), NO_BODY).await
    }

    /// Replaces a stream's settings; returns them as stored.
    pub async fn set_metadata(&self, stream: &str, metadata: &StreamMetadata) -> Result<StreamMetadata, ClientError> {
        self.send(Method::PUT, self.url(&["v1", "streams", stream, "metadata"], &[]), Some(metadata)).await
    }

    /// Soft-deletes a stream if its head matches `expected`.
    pub async fn delete_stream(&self, stream: &str, expected: ExpectedVersion) -> Result<(), ClientError> {
        let query = [("expected_version", wire_expected(expected))];
        self.send_no_content(Method::DELETE, self.url(&["v1", "streams", stream], &query), NO_BODY).await
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.send(Method::GET, self.url(&["health"], &[]), NO_BODY).await
    }

    /// `GET /v1/cluster`: the nodes, what each owns and for how long.
    pub async fn cluster_status(&self) -> Result<crate::ClusterStatus, ClientError> {
        self.send(Method::GET, self.url(&["v1", "cluster"], &[]), NO_BODY).await
    }

    /// Catch-up then live events of `selector` from `from`, over SSE, resuming after the last
    /// event seen whenever the connection drops. `from` is a global position for every selector.
    pub fn subscribe(&self, selector: Selector, from: SubscribeFrom) -> EventStream {
        self.subscribe_with(selector, from, SubscribeOptions::default())
    }

    /// [`Client::subscribe`] with explicit reconnect behaviour.
    pub fn subscribe_with(&self, selector: Selector, from: SubscribeFrom, options: SubscribeOptions) -> EventStream {
        sse::subscribe(self.clone(), selector, from, options)
    }

    /// Opens one SSE connection: from `last_seen + 1` when set, else from `from`.
    pub(crate) async fn open_live(
        &self,
        selector: &Selector,
        from: SubscribeFrom,
        last_seen: Option<u64>,
    ) -> Result<reqwest::Response, ClientError> {
        let from = match from {
            SubscribeFrom::Start => "start".to_owned(),
            SubscribeFrom::End => "end".to_owned(),
            SubscribeFrom::Position(p) => p.to_string(),
        };
        let query = [("from", from)];
        let url = match selector {
            Selector::All => self.url(&["v1", "all", "live"], &query),
            Selector::Stream(stream) => self.url(&["v1", "streams", stream, "live"], &query),
            Selector::Category(category) => self.url(&["v1", "categories", category, "live"], &query),
            Selector::Type(event_type) => self.url(&["v1", "types", event_type, "live"], &query),
        };
        self.open_event_stream(url, last_seen).await
    }

    /// Opens an SSE response at `url`, resuming after `last_event_id` when given.
    pub(crate) async fn open_event_stream(
        &self,
        url: Url,
        last_event_id: Option<u64>,
    ) -> Result<reqwest::Response, ClientError> {
        let mut request = self.request(Method::GET, url).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        check(request.send().await?).await
    }

    /// `segments` below the base URL, each percent-encoded as one path segment, with `query`.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        {
            // `cannot_be_a_base` was refused in `new`, so the segments are there.
            let mut path = url.path_segments_mut().expect("a base URL has path segments");
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.http.request(method, url).headers(self.headers.clone())
    }

    /// Sends one request that must be answered within `timeout`; a non-success answer becomes
    /// [`ClientError::Problem`].
    pub(crate) async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<reqwest::Response, ClientError> {
        let mut request = self.request(method, url).timeout(timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        check(request.send().await?).await
    }

    /// A request whose answer is a JSON body.
    pub(crate) async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        decode(self.call(method, url, body, REQUEST_TIMEOUT).await?).await
    }

    /// A request answered without a body (`204 No Content`).
    pub(crate) async fn send_no_content<B: Serialize + ?Sized>(
        &self,
        method: Method,
        url: Url,
        body: Option<&B>,
    ) -> Result<(), ClientError> {
        self.call(method, url, body, REQUEST_TIMEOUT).await.map(drop)
    }
}

/// For requests without a body.
pub(crate) const NO_BODY: Option<&()> = None;

/// The JSON body of a successful answer.
pub(crate) async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    let bytes = response.bytes().await?;
    serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
}

/// Passes success through; turns anything else into [`ClientError::Problem`].
async fn check(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Err(problem_of(status.as_u16(), body))
}

/// A problem from its body; `status` is used when the body has none.
pub(crate) fn problem_of(status: u16, body: Value) -> ClientError {
    let code = body["type"].as_str().and_then(|t| t.strip_prefix("/errors/")).unwrap_or("unexpected-response");
    let detail = match &body {
        Value::String(text) => text.clone(),
        other => other["detail"].as_str().unwrap_or_default().to_owned(),
    };
    let status = body["status"].as_u64().map_or(status, |s| s as u16);
    ClientError::Problem { status, code: code.to_owned(), detail, body }
}

fn wire_expected(expected: ExpectedVersion) -> String {
    match expected {
        ExpectedVersion::Any => "any".into(),
        ExpectedVersion::NoStream => "no_stream".into(),
        ExpectedVersion::Exists => "exists".into(),
        ExpectedVersion::Exact(v) => v.to_string(),
    }
}

fn read_query(options: &ReadOptions) -> Vec<(&'static str, String)> {
    let mut query = vec![("limit", options.limit.to_string())];
    if let Some(from) = options.from {
        query.push(("from", from.to_string()));
    }
    if options.direction == Direction::Backward {
        query.push(("direction", "backward".into()));
    }
    match options.as_of {
        Some(AsOf::Position(p)) => query.push(("as_of_position", p.to_string())),
        Some(AsOf::Time(t)) => query.push(("as_of_time", t.to_rfc3339())),
        None => {}
    }
    query
}
