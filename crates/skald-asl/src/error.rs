//! Error types: [`ValidationError`] for definitions, [`StateError`] for the ASL errors an execution
//! raises and matches in Retry/Catch, [`HandleError`] for misuse of an execution by its driver, and
//! [`ReplayError`] for a history that does not replay.

use serde::{Deserialize, Serialize};

/// One problem found in a definition. Parsing collects all of them, not only the first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}{field}: {message}", state.as_ref().map(|s| format!("state {s:?}, ")).unwrap_or_default())]
pub struct ValidationError {
    /// The state the problem is in; `None` for the top level.
    pub state: Option<String>,
    /// A JSON pointer from the root of the definition to the offending field, e.g.
    /// `/States/Pay/Retry/0/ErrorEquals`.
    pub field: String,
    /// What is wrong, for people.
    pub message: String,
}

/// An error in the ASL sense: a name (`States.Timeout`, or the name a task reported) and a cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{error}: {cause}")]
pub struct StateError {
    /// The error name, matched by `ErrorEquals`.
    pub error: String,
    /// A human-readable cause.
    pub cause: String,
}

impl StateError {
    /// An error named `error` with cause `cause`.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        StateError { error: error.into(), cause: cause.into() }
    }

    /// `States.Runtime`: a data-flow failure (a path that matches nothing, a bad intrinsic
    /// argument, …). Neither retried nor caught, even by `States.ALL`.
    pub fn runtime(cause: impl Into<String>) -> Self {
        StateError::new(names::RUNTIME, cause)
    }

    /// The JSON object a Catch passes on: `{"Error": …, "Cause": …}`.
    pub fn to_output(&self) -> serde_json::Value {
        serde_json::json!({ "Error": self.error, "Cause": self.cause })
    }
}

/// The `States.*` error names.
pub mod names {
    /// Matches every error except [`RUNTIME`] and [`DATA_LIMIT_EXCEEDED`]; must stand alone and last.
    pub const ALL: &str = "States.ALL";
    /// Matches every task failure except [`TIMEOUT`].
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// A Task ran longer than `TimeoutSeconds`, or the execution longer than its own.
    pub const TIMEOUT: &str = "States.Timeout";
    /// A Task sent no heartbeat for longer than `HeartbeatSeconds`.
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    /// A Map state saw more failed iterations than it tolerates.
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    /// A Parallel branch or Map iteration failed for a reason of its own.
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    /// A payload grew past [`crate::limits::PAYLOAD_SIZE_BYTES_MAX`]. Terminal.
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    /// A data-flow failure. Terminal.
    pub const RUNTIME: &str = "States.Runtime";
    /// No Choice rule matched and there is no Default.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// A task was stopped by the coordinator (Stop of the execution).
    pub const ABORTED: &str = "States.Aborted";
    /// A task reported that it lacked permission.
    pub const PERMISSIONS: &str = "States.Permissions";
    /// Names that `ErrorEquals` may use. Other `States.*` names are rejected at validation.
    pub const KNOWN: &[&str] = &[
        ALL,
        TASK_FAILED,
        TIMEOUT,
        HEARTBEAT_TIMEOUT,
        EXCEED_TOLERATED_FAILURE_THRESHOLD,
        BRANCH_FAILED,
        DATA_LIMIT_EXCEEDED,
        RUNTIME,
        NO_CHOICE_MATCHED,
        PERMISSIONS,
        "States.ResultPathMatchFailure",
        "States.ParameterPathFailure",
        "States.IntrinsicFailure",
        "States.ItemReaderFailed",
        "States.ResultWriterFailed",
        "States.QueryEvaluationError",
        "States.Http.Socket",
    ];
}

/// A driver called [`crate::Execution`] wrongly.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The execution has already finished; it takes no more input.
    #[error("execution has already finished ({status})")]
    Finished {
        /// How it finished.
        status: String,
    },
    /// An input's time is earlier than the last time the execution saw.
    #[error("time went backwards: {now} is before {last}")]
    TimeWentBackwards {
        /// The time given.
        now: crate::Timestamp,
        /// The last time seen.
        last: crate::Timestamp,
    },
}

/// A history that cannot be replayed into an execution.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The history is empty or does not start with `ExecutionStarted`.
    #[error("history does not start with ExecutionStarted")]
    NoStart,
    /// An event at `event_id` is not an input the interpreter accepts.
    #[error("event {event_id} ({event_type}) does not record an input")]
    NotAnInput {
        /// The event's id.
        event_id: u64,
        /// The event's type.
        event_type: String,
    },
    /// Replaying produced different events than recorded: the definition or the interpreter changed.
    #[error("replay diverged at event {event_id}: recorded {recorded}, replayed {replayed}")]
    Diverged {
        /// The first event that differs.
        event_id: u64,
        /// The recorded event, as JSON.
        recorded: String,
        /// The replayed event, as JSON (or "nothing").
        replayed: String,
    },
    /// The driver error the replayed input caused.
    #[error(transparent)]
    Handle(#[from] HandleError),
}
