//! [`ClientError`]: what a call can fail with. A server-side refusal keeps the whole problem body,
//! so callers can act on its fields (`actual_version`, `field`, `retry_after_ms`, …).

use serde_json::Value;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server answered with an RFC 9457 problem (or another non-success status).
    #[error("{status} {code}: {detail}")]
    Problem {
        /// HTTP status.
        status: u16,
        /// The stable code: the last segment of the problem `type` (`wrong-expected-version`, …);
        /// `unexpected-response` when the answer was not a problem document.
        code: String,
        /// The problem's `detail`.
        detail: String,
        /// The whole problem body, with its action fields.
        body: Value,
    },
    /// The request did not reach the server, or the answer was cut off.
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
    /// The answer arrived but is not what the API promises.
    #[error("could not decode the server's answer: {0}")]
    Decode(String),
    /// The base URL given to [`Client::new`](crate::Client::new) cannot be used.
    #[error("invalid base URL `{url}`: {reason}")]
    InvalidUrl {
        /// What was given.
        url: String,
        /// Why it is refused.
        reason: String,
    },
}

impl ClientError {
    /// The stable error code of a problem answer.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Problem { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status of a problem answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Problem { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A member of the problem body, such as `actual_version` or `field`.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            ClientError::Problem { body, .. } => body.get(name),
            _ => None,
        }
    }

    /// For `wrong-expected-version`: the stream's head version (`Some(None)`: the stream has no events).
    pub fn actual_version(&self) -> Option<Option<u64>> {
        (self.code() == Some("wrong-expected-version")).then(|| self.field("actual_version").and_then(Value::as_u64))
    }

    /// Whether retrying the same call later may succeed (`overloaded`, `shutting-down`, transport).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Problem { status, .. } => *status == 503,
            ClientError::Transport(_) => true,
            _ => false,
        }
    }
}
