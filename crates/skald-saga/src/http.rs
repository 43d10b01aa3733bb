//! HTTP tasks: POST the task input as JSON with an `Idempotency-Key` header (the same on every
//! re-dispatch of one attempt) and turn the answer into a task outcome. A 2xx body is the result
//! (an empty body is `null`); an error body `{"error", "cause"}` raises that error name; a
//! timeout raises `States.Timeout`, a transport failure `States.Http.Socket`, any other answer
//! `States.TaskFailed`. Bodies are read up to a limit.

use std::time::Duration;

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

/// The header that carries the attempt's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Calls `url` once.
pub async fn call(
    client: &reqwest::Client,
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
    let request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(IDEMPOTENCY_HEADER, idempotency_key)
        .timeout(timeout)
        .body(body);
    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) => return transport(e, url),
    };
    let status = response.status();
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > body_bytes_max {
                    return Outcome::failed(
                        "States.DataLimitExceeded",
                        format!("the response of {url} is larger than {body_bytes_max} bytes"),
                    );
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return transport(e, url),
        }
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

fn transport(error: reqwest::Error, url: &str) -> Outcome {
    if error.is_timeout() {
        Outcome::failed("States.Timeout", format!("{url} did not answer in time"))
    } else {
        Outcome::failed("States.Http.Socket", format!("calling {url} failed: {error}"))
    }
}
