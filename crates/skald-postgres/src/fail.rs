//! How PostgreSQL and pool failures become [`skald_core::Error`]s.
//!
//! The rule: anything that says "the database cannot be reached or is going away" — a closed or
//! broken connection, a refused connect, a pool that cannot hand out a connection in time, the
//! server's connection-exception and shutdown codes — is [`Error::Unavailable`], which the server
//! answers with 503 + `Retry-After`. Such an error never claims that nothing was written: the
//! caller retries with the same event ids, which is idempotent. Everything else (a bug, a
//! constraint no write path should break) is [`Error::Storage`].

use std::error::Error as _;

use skald_core::Error;

/// What `Retry-After` says for an unavailable database: long enough for a restart to begin and the
/// pool to reconnect, short enough that a client does not idle.
pub const RETRY_AFTER_MS: u64 = 1_000;

/// SQLSTATE codes that mean the server is unreachable, restarting or out of connections.
fn is_availability_code(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || matches!(
            code,
            "57P01" // admin_shutdown (also pg_terminate_backend)
            | "57P02" // crash_shutdown
            | "57P03" // cannot_connect_now (starting up, shutting down)
            | "53300" // too_many_connections
            | "58030" // io_error on the server
            | "55P03" // lock_not_available: the commit lock stayed taken past `lock_timeout`
            | "57014" // query_canceled (an operator's pg_cancel_backend): rolled back, retry
        )
}

/// Whether `error` is about reaching the database rather than about the statement.
pub fn is_unavailable(error: &tokio_postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    if let Some(code) = error.code() {
        return is_availability_code(code.code());
    }
    // No server error: a broken socket, a refused or timed-out connect.
    error.source().is_some_and(|source| source.is::<std::io::Error>())
}

/// The error's text with its cause (tokio-postgres keeps the useful part in the source).
pub fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match error.source() {
            Some(source) => format!("{error}: {source}"),
            None => error.to_string(),
        },
    }
}

/// Maps a PostgreSQL error.
pub fn from_pg(error: tokio_postgres::Error) -> Error {
    if is_unavailable(&error) {
        unavailable(format!("PostgreSQL: {}", describe(&error)))
    } else {
        Error::Storage(format!("PostgreSQL: {}", describe(&error)))
    }
}

/// Maps a failure to get a pooled connection.
pub fn from_pool(error: deadpool_postgres::PoolError) -> Error {
    use deadpool_postgres::PoolError;
    match error {
        PoolError::Backend(error) => from_pg(error),
        PoolError::Closed => Error::ShuttingDown,
        PoolError::Timeout(kind) => unavailable(format!("no PostgreSQL connection in time ({kind:?})")),
        other => unavailable(format!("no PostgreSQL connection: {other}")),
    }
}

/// An [`Error::Unavailable`] with the usual pause.
pub fn unavailable(reason: impl Into<String>) -> Error {
    Error::Unavailable { reason: reason.into(), retry_after_ms: RETRY_AFTER_MS }
}

/// Reads column `index` of `row`, turning a type mismatch into a storage error (never a panic).
pub fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    index: usize,
) -> Result<T, Error> {
    row.try_get(index).map_err(|error| Error::Storage(format!("reading column {index}: {}", describe(&error))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_codes() {
        assert!(is_availability_code("08006"));
        assert!(is_availability_code("57P01"));
        assert!(!is_availability_code("23505"));
        assert!(!is_availability_code("42P01"));
    }
}
