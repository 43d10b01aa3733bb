//! The request and response types of the coordinator's API (serde, snake_case, RFC 3339 times),
//! shared by [`crate::CoordinatorHandle`], the HTTP routes and the CLI.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use skald_asl::{ExecutionStatus, HistoryEvent};
use skald_core::Timestamp;

/// One version of a state machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateMachine {
    /// Its name.
    pub name: String,
    /// Versions count from 1; an execution runs on the version it started with.
    pub version: u64,
    /// The definition, as written.
    pub definition: Value,
    /// When this version was created.
    #[serde(with = "skald_core::rfc3339_millis")]
    pub created: Timestamp,
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
    /// The execution's name: starting the same name again with the same input returns the same
    /// execution. A fresh UUID when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The input (`{}` when absent).
    #[serde(default = "empty_object")]
    pub input: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
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
    /// When it started.
    #[serde(with = "skald_core::rfc3339_millis")]
    pub start_time: Timestamp,
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
    /// When it started.
    #[serde(with = "skald_core::rfc3339_millis")]
    pub start_time: Timestamp,
    /// When it ended.
    #[serde(default, with = "skald_core::rfc3339_millis::option")]
    pub stop_time: Option<Timestamp>,
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
    /// When it started.
    #[serde(with = "skald_core::rfc3339_millis")]
    pub start_time: Timestamp,
}

/// Which executions to list, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ListExecutions {
    /// Only this state machine's.
    #[serde(default)]
    pub state_machine: Option<String>,
    /// Only those in this status.
    #[serde(default)]
    pub status: Option<ExecutionStatus>,
    /// The cursor of a previous page's `next`.
    #[serde(default)]
    pub from: Option<u64>,
    /// Most executions to return (default 100, at most 1,000).
    #[serde(default)]
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
