//! Errors of the event store, each with a stable code.
//!
//! The code (`Error::code`) is part of the API: the HTTP layer turns it into the problem `type`
//! `/errors/<code>`, the CLI prints it, and clients match on it. Never rename a code; add new ones.

use std::path::PathBuf;

use crate::ExpectedVersion;

/// Everything an [`EventStore`](crate::EventStore) operation can fail with.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A request field is malformed. `field` names it (for example `events[3].type`).
    #[error("invalid `{field}`: {reason}")]
    Invalid { field: String, reason: String },

    /// A named limit was exceeded.
    #[error("`{field}` is {actual}, over the limit `{limit}` of {max}")]
    LimitExceeded { field: String, limit: &'static str, actual: u64, max: u64 },

    /// The stream is not at the expected version. `actual` is its head version (`None`: no stream).
    #[error("stream `{stream}` expected {expected} but its head version is {}", fmt_version(*.actual))]
    WrongExpectedVersion { stream: String, expected: ExpectedVersion, actual: Option<u64> },

    /// An event id was written before, but not as part of the same append.
    #[error("event id {id} is already stored in stream `{stream}` at version {version}, but this append is not a retry of that one: {reason}")]
    IdempotencyConflict { id: uuid::Uuid, stream: String, version: u64, reason: String },

    /// The stream has no events (or never existed).
    #[error("stream `{stream}` does not exist")]
    StreamNotFound { stream: String },

    /// The stream was deleted (soft delete); appending recreates it.
    #[error("stream `{stream}` is deleted")]
    StreamDeleted { stream: String },

    /// The writer queue is full; retry after a short pause.
    #[error("the store is overloaded: the writer queue is full; retry after {retry_after_ms} ms")]
    Overloaded { retry_after_ms: u64 },

    /// The storage behind the store cannot be reached right now (a lost database connection, a
    /// restarting server). Nothing is known to be written: an append may be retried with the same
    /// ids, which makes it idempotent.
    #[error("the storage is unavailable ({reason}); retry after {retry_after_ms} ms")]
    Unavailable { reason: String, retry_after_ms: u64 },

    /// The store is closing or closed.
    #[error("the store is shutting down")]
    ShuttingDown,

    /// The stored data is damaged. The store refuses to guess; run the repair command named in `hint`.
    #[error("corrupt data in {} at byte offset {offset}: {reason}. {hint}", file.display())]
    Corrupt { file: PathBuf, offset: u64, reason: String, hint: String },

    /// An I/O or storage engine failure.
    #[error("storage error: {0}")]
    Storage(String),
}

fn fmt_version(version: Option<u64>) -> String {
    version.map_or_else(|| "none (no stream)".to_owned(), |v| v.to_string())
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), reason: reason.into() }
    }

    /// Shorthand for [`Error::LimitExceeded`].
    pub fn limit(field: impl Into<String>, limit: &'static str, actual: usize, max: usize) -> Self {
        Error::LimitExceeded { field: field.into(), limit, actual: actual as u64, max: max as u64 }
    }

    /// Shorthand for [`Error::Storage`] from anything displayable.
    pub fn storage(error: impl std::fmt::Display) -> Self {
        Error::Storage(error.to_string())
    }

    /// The stable code of this error (`/errors/<code>` in HTTP problems).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid { .. } => "invalid-request",
            Error::LimitExceeded { .. } => "limit-exceeded",
            Error::WrongExpectedVersion { .. } => "wrong-expected-version",
            Error::IdempotencyConflict { .. } => "idempotency-conflict",
            Error::StreamNotFound { .. } => "stream-not-found",
            Error::StreamDeleted { .. } => "stream-deleted",
            Error::Overloaded { .. } => "overloaded",
            Error::Unavailable { .. } => "unavailable",
            Error::ShuttingDown => "shutting-down",
            Error::Corrupt { .. } => "corrupt-data",
            Error::Storage(_) => "storage-error",
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::Storage(error.to_string())
    }
}
