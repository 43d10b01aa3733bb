//! [`CoordinatorOptions`]: everything a coordinator is built from, with a named bound for
//! everything that could grow, and the fault-injection [`Probe`] that crash tests use.

use std::sync::Arc;
use std::time::Duration;

use skald_asl::HistoryEvent;
use skald_core::{Clock, SystemClock};

use crate::resources::ResourceRegistry;

/// Where a [`Probe`] is called.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProbePoint<'a> {
    /// A step of history was appended (before its commands are carried out).
    HistoryAppended {
        /// The execution.
        execution_id: &'a str,
        /// The events appended.
        events: &'a [HistoryEvent],
    },
    /// A task attempt answered (HTTP response or built-in result), before the result is recorded.
    TaskAnswered {
        /// The execution.
        execution_id: &'a str,
        /// The attempt.
        task_id: &'a str,
    },
}

/// A hook called at the [`ProbePoint`]s: crash tests abort the process there.
pub type Probe = Arc<dyn Fn(ProbePoint<'_>) + Send + Sync>;

/// How a coordinator runs.
#[derive(Clone)]
pub struct CoordinatorOptions {
    /// What Task resources name.
    pub resources: ResourceRegistry,
    /// Where time comes from ([`skald_core::ManualClock`] in tests).
    pub clock: Arc<dyn Clock>,
    /// Longest wait for one HTTP task answer (a Task's `TimeoutSeconds`, when smaller, wins).
    pub http_timeout: Duration,
    /// Longest wait for an HTTP connection.
    pub http_connect_timeout: Duration,
    /// Largest HTTP task response body, in bytes.
    pub http_response_bytes_max: usize,
    /// Most task attempts running at once (HTTP calls and built-ins); more wait their turn.
    pub tasks_inflight_max: usize,
    /// Most executions open at once; starts beyond it fail with `too-many-executions`.
    pub executions_open_max: usize,
    /// Most executions kept in memory; idle ones beyond it are evicted and reloaded by replay.
    pub executions_cached_max: usize,
    /// Largest execution input, in bytes.
    pub execution_input_bytes_max: usize,
    /// Largest task output sent with `send_task_success`, in bytes.
    pub task_output_bytes_max: usize,
    /// Most tasks waiting in one activity's queue.
    pub activity_queue_max: usize,
    /// Longest activity long poll.
    pub activity_poll_wait_max: Duration,
    /// Most compiled definitions kept in memory.
    pub definitions_cached_max: usize,
    /// Fault injection for tests; `None` in production.
    pub probe: Option<Probe>,
}

impl Default for CoordinatorOptions {
    fn default() -> Self {
        CoordinatorOptions {
            resources: ResourceRegistry::default(),
            clock: Arc::new(SystemClock),
            http_timeout: Duration::from_secs(60),
            http_connect_timeout: Duration::from_secs(5),
            http_response_bytes_max: skald_asl::limits::PAYLOAD_SIZE_BYTES_MAX,
            tasks_inflight_max: 1024,
            executions_open_max: 100_000,
            executions_cached_max: 10_000,
            execution_input_bytes_max: skald_asl::limits::PAYLOAD_SIZE_BYTES_MAX,
            task_output_bytes_max: skald_asl::limits::PAYLOAD_SIZE_BYTES_MAX,
            activity_queue_max: 10_000,
            activity_poll_wait_max: Duration::from_secs(60),
            definitions_cached_max: 1_000,
            probe: None,
        }
    }
}

impl std::fmt::Debug for CoordinatorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorOptions")
            .field("resources", &self.resources)
            .field("http_timeout", &self.http_timeout)
            .field("tasks_inflight_max", &self.tasks_inflight_max)
            .field("executions_open_max", &self.executions_open_max)
            .field("executions_cached_max", &self.executions_cached_max)
            .field("execution_input_bytes_max", &self.execution_input_bytes_max)
            .finish_non_exhaustive()
    }
}
