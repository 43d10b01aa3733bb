//! HTTP tasks: POST the task input as JSON with an `Idempotency-Key` header (the same on every
//! re-dispatch of one attempt) and turn the answer into a task outcome. A 2xx body is the result
//! (an empty body is `null`); an error body `{"error", "cause"}` raises that error name; a
//! timeout raises `States.Timeout`, a transport failure `States.Http.Socket`, any other answer
//! `States.TaskFailed`. Bodies are read up to a limit.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, CONTENT_TYPE};
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde_json::Value;

/// What a task attempt came to.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It returned this.
    Succeeded(Value),
    /// It failed with this error name and cause.
    Failed {
        /// Error name, matched by Retry/Catch.
        error: String,
        /// Cause.
        cause: String,
    },
}

impl Outcome {
    /// A failure.
    pub fn failed(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Outcome::Failed { error: error.into(), cause: cause.into() }
    }
}

/// The pooled HTTP/1 client the coordinator calls its tasks with (keep-alive, `TCP_NODELAY`).
pub type Client = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// A client whose connection attempts give up after `connect_timeout` (as `States.Timeout`).
/// Plain `http://` only: an `https://` URL fails as a transport error.
pub fn client(connect_timeout: Duration) -> Client {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    // Nagle's algorithm would hold a small request back for the previous one's ACK.
    connector.set_nodelay(true);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector)
}

/// The header that carries the attempt's idempotency key, `Idempotency-Key` (names are
/// case-insensitive; a static name is not parsed on every call).
pub const IDEMPOTENCY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");

/// Calls `url` once; the whole exchange, connecting and reading the body included, ends
/// within `timeout`.
pub async fn call(
    client: &Client,
    url: &str,
    input: &Value,
    idempotency_key: &str,
    timeout: Duration,
    body_bytes_max: usize,
) -> Outcome {
    let body = match serde_json::to_vec(input) {
        Ok(b) => b,
        Err(e) => return Outcome::failed("States.Runtime", format!("task input does not serialise: {e}")),
    };
    let uri = match url.parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => return Outcome::failed("States.Http.Socket", format!("calling {url} failed: not a URL: {e}")),
    };
    let request = Request::post(uri)
        .header(CONTENT_TYPE, "application/json")
        .header(IDEMPOTENCY_HEADER, idempotency_key)
        .body(Full::new(Bytes::from(body)));
    let request = match request {
        Ok(r) => r,
        Err(e) => return Outcome::failed("States.Runtime", format!("cannot build the request to {url}: {e}")),
    };
    match tokio::time::timeout(timeout, exchange(client, request, url, body_bytes_max)).await {
        Ok(outcome) => outcome,
        Err(_) => timed_out(url),
    }
}

async fn exchange(client: &Client, request: Request<Full<Bytes>>, url: &str, body_bytes_max: usize) -> Outcome {
    let response = match client.request(request).await {
        Ok(r) => r,
        Err(e) => return transport(&e, url),
    };
    let status = response.status();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let chunk = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(chunk) => chunk,
                Err(_trailers) => continue,
            },
            Err(e) => return transport(&e, url),
        };
        if bytes.len() + chunk.len() > body_bytes_max {
            return Outcome::failed(
                "States.DataLimitExceeded",
                format!("the response of {url} is larger than {body_bytes_max} bytes"),
            );
        }
        bytes.extend_from_slice(&chunk);
    }
    let parsed: Option<Value> =
        if bytes.iter().all(u8::is_ascii_whitespace) { Some(Value::Null) } else { serde_json::from_slice(&bytes).ok() };
    if status.is_success() {
        return match parsed {
            Some(v) => Outcome::Succeeded(v),
            None => {
                Outcome::failed("States.TaskFailed", format!("{url} answered {status} with a body that is not JSON"))
            }
        };
    }
    let text = || String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
    let named = parsed.as_ref().and_then(|v| {
        let error = v.get("error").or_else(|| v.get("errorType")).and_then(Value::as_str)?;
        let cause = v.get("cause").or_else(|| v.get("errorMessage"));
        let cause = match cause {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        (!error.is_empty()).then(|| Outcome::failed(error, cause))
    });
    named.unwrap_or_else(|| Outcome::failed("States.TaskFailed", format!("{url} answered {status}: {}", text())))
}

fn timed_out(url: &str) -> Outcome {
    Outcome::failed("States.Timeout", format!("{url} did not answer in time"))
}

/// A failed connection or exchange; a connection attempt that ran out of time is a timeout.
fn transport(error: &(dyn std::error::Error + 'static), url: &str) -> Outcome {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut) {
            return timed_out(url);
        }
        source = e.source();
    }
    // The client's own message is generic ("client error (Connect)"); its sources say why.
    let mut reason = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        reason.push_str(": ");
        reason.push_str(&e.to_string());
        source = e.source();
    }
    Outcome::failed("States.Http.Socket", format!("calling {url} failed: {reason}"))
}
