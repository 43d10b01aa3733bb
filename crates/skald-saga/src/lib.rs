//! Skald's durable saga coordinator: runs Amazon States Language executions (interpreted by the
//! pure [`skald_asl`]) with every fact of an execution kept in the log, written only against
//! `Arc<dyn EventStore>`.
//!
//! # What lives where in the log
//!
//! - `$sm-<name>`: one `StateMachineVersionCreated` event per version (version = stream version
//!   + 1), `StateMachineDeleted` on delete. An execution runs on the version it started with.
//! - `$exec-<state machine>.<name>`: the execution's history, one Skald event per
//!   [`skald_asl::HistoryEvent`] (ids from 1, each with the id of the event before it). A step is
//!   one atomic append whose expected version is the history length, so two coordinators never
//!   interleave; the first step's `no_stream` makes a start idempotent by name.
//! - `$executions`: `ExecutionOpened` (with the first step) and `ExecutionClosed` (with the last),
//!   read at start-up to find the open executions and by [`CoordinatorHandle::list_executions`].
//!
//! # Durability
//!
//! History is appended *before* its commands are carried out. After a crash,
//! [`Coordinator::start`] replays every open execution and re-issues its pending commands:
//! task attempts are dispatched again with the same `Idempotency-Key`
//! (`<execution id>:<task id>`), timers (Wait, retry backoff, task timeouts, heartbeats) are
//! re-armed at their recorded times. So an execution resumes where its history ends, and an
//! idempotent endpoint sees each attempt's effect once.
//!
//! # Tasks
//!
//! A Task's `Resource` is resolved by the [`ResourceRegistry`]: HTTP endpoints (plain names and
//! ARNs mapped to URLs; see [`http`] for the protocol), activities (workers long-poll with
//! [`CoordinatorHandle::get_activity_task`] and answer by token), `.waitForTaskToken` callbacks
//! ([`CoordinatorHandle::send_task_success`], `…_failure`, `…_heartbeat`) and the built-ins of
//! [`resources::Builtin`] (append an event, start a child execution and wait for it).
//!
//! # Modules
//!
//! [`handle`] (the API), `engine` (slots, the deliver path, recovery, the timer loop),
//! `executions` (start, describe, list, history), `tasks` (dispatch and built-ins), [`http`],
//! `activities` (queues and tokens), `timers`, [`journal`] (history and index in the log),
//! `machines` (definitions in the log), [`resources`], [`names`], [`model`], [`options`],
//! [`error`]. The travel saga's task services and definition, which the examples and tests run,
//! are `skald_examples::travel`.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use serde_json::json;
//! use skald_core::MemoryStore;
//! use skald_saga::{Coordinator, CoordinatorOptions, StartExecution};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let store = Arc::new(MemoryStore::new());
//! let saga = Coordinator::start(store, CoordinatorOptions::default()).await?;
//! saga.create_state_machine("hello", json!({
//!     "StartAt": "Greet",
//!     "States": { "Greet": { "Type": "Pass", "Parameters": { "text.$": "States.Format('Hello, {}!', $.name)" }, "End": true } }
//! })).await?;
//! let started = saga.start_execution(StartExecution::new("hello", "first", json!({"name": "Ada"}))).await?;
//! let done = saga.wait_for_execution(&started.execution_id, std::time::Duration::from_secs(5)).await?;
//! assert_eq!(done.output, Some(json!({"text": "Hello, Ada!"})));
//! saga.shutdown().await;
//! # Ok::<_, skald_saga::SagaError>(()) }).unwrap();
//! ```

mod activities;
mod engine;
pub mod error;
mod executions;
pub mod handle;
pub mod http;
pub mod journal;
mod machines;
pub mod model;
pub mod names;
pub mod options;
pub mod resources;
pub mod shards;
mod tasks;
mod timers;

pub use error::{Owner, SagaError};
pub use handle::{Coordinator, CoordinatorHandle, CoordinatorStats};
pub use model::{
    ActivityTask, ExecutionDescription, ExecutionList, ExecutionSummary, HistoryPage, ListExecutions, StartExecution,
    StartedExecution, StateMachine, StateMachineList,
};
pub use options::{CoordinatorOptions, Probe, ProbePoint};
pub use resources::{Builtin, Resource, ResourceRegistry, Target};
pub use skald_asl::{ExecutionStatus, HistoryEvent};
