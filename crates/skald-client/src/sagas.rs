//! The saga API: state machines (`/v1/state-machines`), executions (`/v1/executions`), task
//! callbacks (`/v1/tasks`) and activity polls (`/v1/activities`).
//!
//! The wire types mirror skald-saga's `model` rather than import it, so that a client does not
//! build the coordinator and its interpreter. Times are kept as the server wrote them: RFC 3339
//! UTC with milliseconds. A history event keeps its type-specific fields as JSON.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use skald_core::Direction;

use crate::client::{decode, NO_BODY};
use crate::{Client, ClientError, REQUEST_TIMEOUT};

/// Longest pause between two looks at an execution in [`Client::wait_for_execution`].
const WAIT_POLL_MAX: Duration = Duration::from_millis(500);

/// How an execution stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    /// Still going.
    Running,
    /// Reached a Succeed state or an End.
    Succeeded,
    /// Failed with an error.
    Failed,
    /// Stopped from outside.
    Aborted,
    /// Ran past the top-level `TimeoutSeconds`.
    TimedOut,
}

impl ExecutionStatus {
    /// Every status, in the order the API lists them.
    pub const ALL: [ExecutionStatus; 5] = [
        ExecutionStatus::Running,
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::Aborted,
        ExecutionStatus::TimedOut,
    ];

    /// The name on the wire: `RUNNING`, `SUCCEEDED`, `FAILED`, `ABORTED`, `TIMED_OUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::Aborted => "ABORTED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
        }
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A text that names no [`ExecutionStatus`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not one of RUNNING, SUCCEEDED, FAILED, ABORTED, TIMED_OUT")]
pub struct UnknownStatus(pub String);

impl FromStr for ExecutionStatus {
    type Err = UnknownStatus;

    /// Case-insensitive, as the server reads the `status` filter.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.to_ascii_uppercase();
        Self::ALL.into_iter().find(|s| s.as_str() == wanted).ok_or_else(|| UnknownStatus(text.to_owned()))
    }
}

/// One version of a state machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateMachine {
    /// Its name.
    pub name: String,
    /// Versions count from 1; an execution runs on the version it started with.
    pub version: u64,
    /// The definition (Amazon States Language), as written.
    pub definition: Value,
    /// When this version was created (RFC 3339).
    pub created: String,
}

/// A page of state machines (latest versions), ordered by name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateMachineList {
    /// The state machines.
    pub state_machines: Vec<StateMachine>,
    /// Pass as `after` for the next page.
    pub next_after: Option<String>,
}

/// Start an execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartExecution {
    /// The state machine to run (its latest version unless `version` is given).
    pub state_machine: String,
    /// A specific version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The execution's name: starting the same name again with the same input answers the same
    /// execution. The server picks a UUID when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The input.
    pub input: Value,
}

impl StartExecution {
    /// Start `state_machine` named `name` with `input`.
    pub fn new(state_machine: impl Into<String>, name: impl Into<String>, input: Value) -> Self {
        StartExecution { state_machine: state_machine.into(), version: None, name: Some(name.into()), input }
    }
}

/// The answer to a start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartedExecution {
    /// `<state machine>.<name>`.
    pub execution_id: String,
    /// The name.
    pub name: String,
    /// The version it runs.
    pub state_machine_version: u64,
    /// When it started (RFC 3339).
    pub start_time: String,
    /// True when an earlier start with the same name and input is answered.
    pub already_started: bool,
}

/// An execution as it stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionDescription {
    /// `<state machine>.<name>`.
    pub execution_id: String,
    /// The name.
    pub name: String,
    /// The state machine.
    pub state_machine: String,
    /// The version it runs.
    pub state_machine_version: u64,
    /// How it stands.
    pub status: ExecutionStatus,
    /// Its input.
    pub input: Value,
    /// Its output, once succeeded.
    pub output: Option<Value>,
    /// Its error, once failed, aborted or timed out.
    pub error: Option<String>,
    /// The error's cause.
    pub cause: Option<String>,
    /// When it started (RFC 3339).
    pub start_time: String,
    /// When it ended (RFC 3339).
    pub stop_time: Option<String>,
    /// History events so far.
    pub history_length: u64,
    /// The states it is in while running (`[thread, state]`; thread 0 is the top level).
    pub current_states: Vec<(u32, String)>,
}

/// One line of an execution listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionSummary {
    /// `<state machine>.<name>`.
    pub execution_id: String,
    /// The name.
    pub name: String,
    /// The state machine.
    pub state_machine: String,
    /// The version it runs.
    pub state_machine_version: u64,
    /// How it stands.
    pub status: ExecutionStatus,
    /// When it started (RFC 3339).
    pub start_time: String,
}

/// Which executions to list, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListExecutions {
    /// Only this state machine's.
    pub state_machine: Option<String>,
    /// Only those in this status.
    pub status: Option<ExecutionStatus>,
    /// The cursor of a previous page's `next`.
    pub from: Option<u64>,
    /// Most executions to return (the server's default is 100, its maximum 1,000).
    pub limit: Option<usize>,
}

/// A page of executions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutionList {
    /// Newest first.
    pub executions: Vec<ExecutionSummary>,
    /// Pass as `from` for the next page; `None` at the end.
    pub next: Option<u64>,
}

/// One event of an execution's history (Step Functions' shape).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// 1, 2, 3, … within the execution.
    pub id: u64,
    /// The event before this one on the same thread (0 for the first event).
    pub previous_event_id: u64,
    /// When it happened (RFC 3339).
    pub timestamp: String,
    /// The thread: 0 for the top level, others for Parallel branches and Map iterations.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub thread: u32,
    /// What happened: `ExecutionStarted`, `TaskScheduled`, `TaskSucceeded`, …
    #[serde(rename = "type")]
    pub event_type: String,
    /// The fields of this type of event (`input`, `output`, `task_id`, `error`, …).
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A page of history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// Events in id order (or reverse order when reading backward).
    pub events: Vec<HistoryEvent>,
    /// The event id to pass as `from` for the next page; `None` at the end.
    pub next: Option<u64>,
}

/// A task handed to an activity worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityTask {
    /// Answer with this token (success, failure, heartbeat).
    pub task_token: String,
    /// The task's input.
    pub input: Value,
    /// The execution it belongs to.
    pub execution_id: String,
    /// The Task state.
    pub state: String,
}

#[derive(Serialize)]
struct NamedDefinition<'a> {
    name: &'a str,
    definition: &'a Value,
}

#[derive(Serialize)]
struct Definition<'a> {
    definition: &'a Value,
}

#[derive(Serialize)]
struct Stop<'a> {
    error: &'a str,
    cause: &'a str,
}

#[derive(Serialize)]
struct Success<'a> {
    output: &'a Value,
}

/// The query of a paged listing: `(name, value)` for each parameter that is set.
fn query(pairs: &[(&'static str, Option<String>)]) -> Vec<(&'static str, String)> {
    pairs.iter().filter_map(|(name, value)| value.clone().map(|v| (*name, v))).collect()
}

impl Client {
    /// Creates a state machine (`POST /v1/state-machines`). Creating one that exists with the
    /// same definition answers it; another definition is `state-machine-already-exists`.
    pub async fn create_state_machine(&self, name: &str, definition: &Value) -> Result<StateMachine, ClientError> {
        let body = NamedDefinition { name, definition };
        self.send(Method::POST, self.url(&["v1", "state-machines"], &[]), Some(&body)).await
    }

    /// Creates a state machine, or adds a version when the definition changed
    /// (`PUT /v1/state-machines/{name}`).
    pub async fn put_state_machine(&self, name: &str, definition: &Value) -> Result<StateMachine, ClientError> {
        let url = self.url(&["v1", "state-machines", name], &[]);
        self.send(Method::PUT, url, Some(&Definition { definition })).await
    }

    /// A state machine: its latest version, or `version`.
    pub async fn describe_state_machine(&self, name: &str, version: Option<u64>) -> Result<StateMachine, ClientError> {
        let query = query(&[("version", version.map(|v| v.to_string()))]);
        self.send(Method::GET, self.url(&["v1", "state-machines", name], &query), NO_BODY).await
    }

    /// State machines by name after `after`, at most `limit`.
    pub async fn list_state_machines(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<StateMachineList, ClientError> {
        let query = query(&[("limit", Some(limit.to_string())), ("after", after.map(str::to_owned))]);
        self.send(Method::GET, self.url(&["v1", "state-machines"], &query), NO_BODY).await
    }

    /// Deletes a state machine; running executions finish on their version.
    pub async fn delete_state_machine(&self, name: &str) -> Result<(), ClientError> {
        self.send_no_content(Method::DELETE, self.url(&["v1", "state-machines", name], &[]), NO_BODY).await
    }

    /// Starts an execution; idempotent by name (see [`StartedExecution::already_started`]).
    pub async fn start_execution(&self, request: &StartExecution) -> Result<StartedExecution, ClientError> {
        self.send(Method::POST, self.url(&["v1", "executions"], &[]), Some(request)).await
    }

    /// How an execution stands.
    pub async fn describe_execution(&self, id: &str) -> Result<ExecutionDescription, ClientError> {
        self.send(Method::GET, self.url(&["v1", "executions", id], &[]), NO_BODY).await
    }

    /// Looks at an execution until it is no longer running or `timeout` has passed, and answers
    /// its last description (still `RUNNING` after a timeout). The server has no waiting route,
    /// so this polls, at most every [`WAIT_POLL_MAX`].
    pub async fn wait_for_execution(&self, id: &str, timeout: Duration) -> Result<ExecutionDescription, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            let described = self.describe_execution(id).await?;
            let now = tokio::time::Instant::now();
            if described.status != ExecutionStatus::Running || now >= deadline {
                return Ok(described);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(WAIT_POLL_MAX);
        }
    }

    /// Executions, newest first.
    pub async fn list_executions(&self, request: &ListExecutions) -> Result<ExecutionList, ClientError> {
        let query = query(&[
            ("limit", request.limit.map(|l| l.to_string())),
            ("state_machine", request.state_machine.clone()),
            ("status", request.status.map(|s| s.as_str().to_owned())),
            ("from", request.from.map(|f| f.to_string())),
        ]);
        self.send(Method::GET, self.url(&["v1", "executions"], &query), NO_BODY).await
    }

    /// A page of an execution's history from event id `from` (1-based; the first or, reading
    /// backward, the last event when `None`).
    pub async fn execution_history(
        &self,
        id: &str,
        from: Option<u64>,
        limit: usize,
        direction: Direction,
    ) -> Result<HistoryPage, ClientError> {
        let direction = match direction {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        };
        let query = query(&[
            ("limit", Some(limit.to_string())),
            ("direction", Some(direction.to_owned())),
            ("from", from.map(|f| f.to_string())),
        ]);
        self.send(Method::GET, self.url(&["v1", "executions", id, "history"], &query), NO_BODY).await
    }

    /// Stops an execution with `error` and `cause`; stopping one that has ended changes nothing.
    /// Either way the answer is its description.
    pub async fn stop_execution(
        &self,
        id: &str,
        error: &str,
        cause: &str,
    ) -> Result<ExecutionDescription, ClientError> {
        let url = self.url(&["v1", "executions", id, "stop"], &[]);
        self.send(Method::POST, url, Some(&Stop { error, cause })).await
    }

    /// Completes the task waiting for `token` with `output`.
    pub async fn send_task_success(&self, token: &str, output: &Value) -> Result<(), ClientError> {
        let url = self.url(&["v1", "tasks", token, "success"], &[]);
        self.send_no_content(Method::POST, url, Some(&Success { output })).await
    }

    /// Fails the task waiting for `token` with `error` and `cause`.
    pub async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), ClientError> {
        let url = self.url(&["v1", "tasks", token, "failure"], &[]);
        self.send_no_content(Method::POST, url, Some(&Stop { error, cause })).await
    }

    /// Tells the task waiting for `token` that its worker is alive.
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<(), ClientError> {
        self.send_no_content(Method::POST, self.url(&["v1", "tasks", token, "heartbeat"], &[]), NO_BODY).await
    }

    /// The next task of `activity`, waiting up to `wait` (whole seconds; the server caps it at a
    /// minute) for one; `None` when none came.
    pub async fn get_activity_task(&self, activity: &str, wait: Duration) -> Result<Option<ActivityTask>, ClientError> {
        let url = self.url(&["v1", "activities", activity, "task"], &[("wait", wait.as_secs().to_string())]);
        let response = self.call(Method::GET, url, NO_BODY, REQUEST_TIMEOUT + wait).await?;
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        decode(response).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_as_the_server_reads_them() {
        for status in ExecutionStatus::ALL {
            assert_eq!(status.as_str().to_lowercase().parse::<ExecutionStatus>(), Ok(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!("done".parse::<ExecutionStatus>(), Err(UnknownStatus("done".into())));
    }

    #[test]
    fn history_events_keep_their_fields() {
        let wire = serde_json::json!({
            "id": 3, "previous_event_id": 2, "timestamp": "2026-12-01T10:00:00.123Z", "thread": 1,
            "type": "TaskScheduled", "task_id": "task-1", "input": {"a": 1}
        });
        let event: HistoryEvent = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!((event.event_type.as_str(), event.thread), ("TaskScheduled", 1));
        assert_eq!(event.details["task_id"], "task-1");
        assert_eq!(serde_json::to_value(&event).unwrap(), wire);
    }
}
