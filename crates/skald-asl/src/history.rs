//! Execution history events, modelled on Step Functions' history. Every event has an `id` (from 1,
//! gap-free), the `previous_event_id` of the event that led to it on the same thread (0 for
//! `ExecutionStarted`), a `timestamp` (the time the driver gave) and the `thread` it happened on
//! (0 is the top level; Parallel branches and Map iterations get their own). Events that record
//! an input from outside (`TaskStarted`, `TaskSucceeded`, `TaskFailed`, `TaskHeartbeat`, `TimerFired`,
//! `ExecutionAborted`) are what [`crate::replay()`] feeds back to rebuild an execution.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::execution::StartContext;
use crate::time::Timestamp;

/// One history event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// 1, 2, 3, … within the execution.
    pub id: u64,
    /// The event before this one on the same thread (0 for the first event).
    pub previous_event_id: u64,
    /// When it happened (the driver's time).
    #[serde(with = "skald_core::rfc3339_millis")]
    pub timestamp: Timestamp,
    /// The thread: 0 for the top level, others for branches and iterations.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub thread: u32,
    /// What happened.
    #[serde(flatten)]
    pub details: EventDetails,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl HistoryEvent {
    /// The event type name, e.g. `TaskStateEntered`.
    pub fn event_type(&self) -> &'static str {
        self.details.event_type()
    }
}

/// A state's name and input when it is entered.
///
/// The input is shared with the execution (the state's run keeps it) rather than copied: the
/// event is written and dropped before the state ends, and the run then takes the value back
/// without a copy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateEntered {
    /// The state's name.
    pub name: String,
    /// Its raw input.
    pub input: Arc<Value>,
}

/// A state's name and output when it is left. The output is shared with the next state's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateExited {
    /// The state's name.
    pub name: String,
    /// Its output.
    pub output: Arc<Value>,
}

/// An error name and cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The error name.
    pub error: String,
    /// The cause.
    pub cause: String,
}

macro_rules! event_details {
    ($( $(#[$doc:meta])* $name:ident $( ( $ty:ty ) )? $( { $($(#[$fdoc:meta])* $field:ident : $fty:ty),* $(,)? } )? ),* $(,)?) => {
        /// What an event records. Serialised with a `type` tag.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        #[allow(missing_docs)]
        pub enum EventDetails {
            $( $(#[$doc])* $name $( ( $ty ) )? $( { $($(#[$fdoc])* $field : $fty),* } )? ),*
        }

        impl EventDetails {
            /// The event type name.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $( EventDetails::$name { .. } => stringify!($name) ),*
                }
            }
        }
    };
}

event_details! {
    /// The execution began with `input`.
    ExecutionStarted { input: Arc<Value>, context: StartContext },
    ExecutionSucceeded { output: Arc<Value> },
    ExecutionFailed(Failure),
    /// A Stop input; records it for replay.
    ExecutionAborted(Failure),
    ExecutionTimedOut(Failure),
    TaskStateEntered(StateEntered),
    TaskStateExited(StateExited),
    PassStateEntered(StateEntered),
    PassStateExited(StateExited),
    ChoiceStateEntered(StateEntered),
    ChoiceStateExited(StateExited),
    WaitStateEntered(StateEntered),
    WaitStateExited(StateExited),
    SucceedStateEntered(StateEntered),
    SucceedStateExited(StateExited),
    FailStateEntered(StateEntered),
    ParallelStateEntered(StateEntered),
    ParallelStateExited(StateExited),
    MapStateEntered(StateEntered),
    MapStateExited(StateExited),
    /// A task attempt was handed to the coordinator.
    TaskScheduled {
        task_id: String,
        resource: String,
        input: Arc<Value>,
        attempt: u32,
        task_token: Option<String>,
        timeout_seconds: Option<u64>,
        heartbeat_seconds: Option<u64>
    },
    /// Input: a worker picked the task up.
    TaskStarted { task_id: String },
    /// Input: the task returned `output`.
    TaskSucceeded { task_id: String, output: Value },
    /// Input: the task failed.
    TaskFailed { task_id: String, error: String, cause: String },
    /// Input: the task sent a heartbeat.
    TaskHeartbeat { task_id: String },
    /// A task ran past `TimeoutSeconds` (`States.Timeout`) or missed a heartbeat
    /// (`States.HeartbeatTimeout`).
    TaskTimedOut { task_id: String, error: String, cause: String },
    /// Input: a timer fired.
    TimerFired { timer_id: String },
    /// A state failed with `error` and will run again at `fire_at` (retry number `retry`, from 1).
    RetryScheduled {
        name: String,
        error: String,
        retry: u32,
        timer_id: String,
        #[serde(with = "skald_core::rfc3339_millis")]
        fire_at: Timestamp,
    },
    /// A Wait state set a timer.
    WaitTimerStarted {
        name: String,
        timer_id: String,
        #[serde(with = "skald_core::rfc3339_millis")]
        fire_at: Timestamp,
    },
    ParallelStateStarted { branches: usize },
    ParallelStateSucceeded {},
    ParallelStateFailed(Failure),
    MapStateStarted { length: usize },
    MapIterationStarted { name: String, index: usize },
    MapIterationSucceeded { name: String, index: usize },
    MapIterationFailed { name: String, index: usize, error: String, cause: String },
    MapIterationAborted { name: String, index: usize },
    MapStateSucceeded {},
    MapStateFailed(Failure),
}
