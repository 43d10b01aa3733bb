//! Named limits. Every limit has its unit last in its name; every rejection names the limit.
//!
//! These are defaults for the embedded engine and the HTTP API. They are deliberately small enough
//! that a single append can always be framed, written and indexed in one group commit.

/// Largest `data` + `metadata` + names of one event, in bytes.
pub const EVENT_SIZE_BYTES_MAX: usize = 1024 * 1024;
/// Most events in one append request (across all streams of a multi-stream append).
pub const APPEND_EVENTS_MAX: usize = 10_000;
/// Most streams in one atomic multi-stream append.
pub const APPEND_STREAMS_MAX: usize = 100;
/// Total bytes of all events in one append request.
pub const APPEND_SIZE_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Longest stream name, in bytes of UTF-8.
pub const STREAM_NAME_BYTES_MAX: usize = 256;
/// Longest event type, in bytes of UTF-8.
pub const EVENT_TYPE_BYTES_MAX: usize = 256;
/// Largest HTTP request body, in bytes (an append of the largest size plus JSON overhead).
pub const REQUEST_BODY_BYTES_MAX: usize = 20 * 1024 * 1024;
/// Most events returned by one read call.
pub const READ_EVENTS_MAX: usize = 10_000;
