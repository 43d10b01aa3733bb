//! Named limits. Every unbounded thing in a definition or an execution is bounded here, with its
//! unit last in the name. Exceeding a definition limit is a validation error; exceeding an
//! execution limit fails the execution with `States.DataLimitExceeded` or `States.Runtime`.

/// Largest accepted definition text, in bytes (Step Functions: 1 MiB).
pub const DEFINITION_SIZE_BYTES_MAX: usize = 1024 * 1024;
/// Most states in one definition, counting the states of every branch and item processor.
pub const STATES_MAX: usize = 10_000;
/// Longest state name, in characters (Step Functions: 80).
pub const STATE_NAME_CHARS_MAX: usize = 80;
/// Deepest nesting of Parallel branches and Map item processors.
pub const NESTING_DEPTH_MAX: usize = 16;
/// Most nested intrinsic function calls inside one field (Step Functions: 10).
pub const INTRINSIC_NESTING_MAX: usize = 10;
/// Largest state input, output, task result or execution input, in bytes (Step Functions: 256 KiB).
pub const PAYLOAD_SIZE_BYTES_MAX: usize = 256 * 1024;
/// Most history events in one execution (Step Functions: 25,000).
pub const HISTORY_EVENTS_MAX: usize = 25_000;
/// History events kept back for winding an execution down once the limit is near: when fewer
/// than this many remain, the execution fails with `States.Runtime`.
pub const HISTORY_EVENTS_RESERVE: usize = 1_000;
/// Most Map iterations (and so Parallel branches are bounded by the definition) running at once.
/// `MaxConcurrency: 0` (unbounded) means this many.
pub const MAP_CONCURRENCY_MAX: usize = 40;
/// Most items one inline Map state may iterate over.
pub const MAP_ITEMS_MAX: usize = 10_000;
/// Most elements `States.ArrayRange` may produce (Step Functions: 1,000).
pub const ARRAY_RANGE_ITEMS_MAX: usize = 1_000;
/// Longest string `States.Base64Encode`, `States.Base64Decode` and `States.Hash` accept, in
/// characters (Step Functions: 10,000).
pub const INTRINSIC_STRING_CHARS_MAX: usize = 10_000;
/// Largest number of seconds a Wait, timeout or retry delay may span (about 1 year; Step Functions'
/// execution limit).
pub const DURATION_SECONDS_MAX: u64 = 366 * 24 * 3600;
/// Most retriers or catchers on one state.
pub const RETRIERS_MAX: usize = 100;
