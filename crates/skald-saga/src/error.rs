//! Errors of the coordinator's API, each with a stable code ([`SagaError::code`]) that the HTTP
//! layer turns into the problem `type` `/errors/<code>`. Never rename a code; add new ones.

use skald_asl::{ExecutionStatus, ValidationError};
pub use skald_cluster::Owner;

/// Everything a [`crate::CoordinatorHandle`] operation can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SagaError {
    /// The definition does not validate; `errors` lists every problem (state + JSON pointer).
    #[error("invalid definition: {}", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    InvalidDefinition {
        /// Every problem found.
        errors: Vec<ValidationError>,
    },
    /// No state machine (or no such version of it) exists, or it was deleted.
    #[error("state machine `{name}` not found")]
    StateMachineNotFound {
        /// Its name.
        name: String,
    },
    /// `create` of a name that already holds a different definition (use update).
    #[error("state machine `{name}` already exists with a different definition; update it instead")]
    StateMachineAlreadyExists {
        /// Its name.
        name: String,
    },
    /// No execution has this id.
    #[error("execution `{id}` not found")]
    ExecutionNotFound {
        /// The execution id.
        id: String,
    },
    /// An execution with this name was started before with a different input or state machine.
    #[error("execution `{id}` already exists with a different input")]
    ExecutionAlreadyExists {
        /// The existing execution's id.
        id: String,
    },
    /// The execution has finished and takes no more input.
    #[error("execution `{id}` is not running ({status})")]
    ExecutionNotRunning {
        /// The execution id.
        id: String,
        /// How it ended.
        status: ExecutionStatus,
    },
    /// No open task waits for this token (unknown, already answered, or timed out).
    #[error("no open task has this task token")]
    TaskTokenNotFound,
    /// A payload is larger than its limit.
    #[error("`{field}` is {actual} bytes, over the limit of {max} bytes")]
    InputTooLarge {
        /// Which payload.
        field: String,
        /// Its size.
        actual: usize,
        /// The limit.
        max: usize,
    },
    /// A request field is malformed.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Too many open executions; retry later.
    #[error("the coordinator has {open} open executions, its limit; retry later")]
    TooManyExecutions {
        /// The limit reached.
        open: usize,
    },
    /// A stored history no longer replays (the interpreter or the stored definition changed).
    #[error("history of execution `{id}` does not replay: {reason}")]
    HistoryCorrupt {
        /// The execution id.
        id: String,
        /// The replay error.
        reason: String,
    },
    /// Another node drives this execution (its shard is that node's), or nobody does for a moment
    /// while its shard is taken over. The server forwards the request to the owner when it knows it.
    #[error("execution `{id}` is driven by {}", owner.as_ref().map_or("no node right now (its shard is being taken over)".to_owned(), |o| format!("node {} at {}", o.node, o.address)))]
    NotOwner {
        /// The execution id.
        id: String,
        /// The node that drives it, if one does.
        owner: Option<Owner>,
    },
    /// The coordinator is shutting down.
    #[error("the coordinator is shutting down")]
    ShuttingDown,
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] skald_core::Error),
}

impl SagaError {
    /// The stable code of this error (`/errors/<code>` in HTTP problems).
    pub fn code(&self) -> &'static str {
        match self {
            SagaError::InvalidDefinition { .. } => "invalid-definition",
            SagaError::StateMachineNotFound { .. } => "state-machine-not-found",
            SagaError::StateMachineAlreadyExists { .. } => "state-machine-already-exists",
            SagaError::ExecutionNotFound { .. } => "execution-not-found",
            SagaError::ExecutionAlreadyExists { .. } => "execution-already-exists",
            SagaError::ExecutionNotRunning { .. } => "execution-not-running",
            SagaError::TaskTokenNotFound => "task-token-not-found",
            SagaError::InputTooLarge { .. } => "input-too-large",
            SagaError::Invalid { .. } => "invalid-request",
            SagaError::TooManyExecutions { .. } => "too-many-executions",
            SagaError::HistoryCorrupt { .. } => "history-corrupt",
            SagaError::NotOwner { .. } => "not-owner",
            SagaError::ShuttingDown => "shutting-down",
            SagaError::Store(e) => e.code(),
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SagaError::Invalid { field: field.into(), reason: reason.into() }
    }
}

/// Checks a payload against its size limit.
pub(crate) fn check_size(field: &str, value: &serde_json::Value, max: usize) -> Result<(), SagaError> {
    let actual = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX);
    if actual > max {
        return Err(SagaError::InputTooLarge { field: field.to_owned(), actual, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(SagaError::TaskTokenNotFound.code(), "task-token-not-found");
        assert_eq!(SagaError::ExecutionAlreadyExists { id: "a".into() }.code(), "execution-already-exists");
        assert_eq!(SagaError::Store(skald_core::Error::ShuttingDown).code(), "shutting-down");
        let big = serde_json::json!("x".repeat(100));
        assert_eq!(check_size("input", &big, 10).unwrap_err().code(), "input-too-large");
    }
}
