//! A pure interpreter of the Amazon States Language (ASL), JSONPath mode, for Standard workflows.
//!
//! Skald's saga coordinator feeds it inputs and persists what it returns; the interpreter itself
//! does no I/O, reads no clock and has no randomness of its own: time, the random seed and the
//! execution's identity come in as inputs. So a run is a function of (definition, start context,
//! inputs with their times), and an execution can be rebuilt by replaying its history.
//!
//! # Shape
//!
//! - [`Definition::parse`] compiles and validates a definition, returning *every* problem as a
//!   [`ValidationError`] (state + JSON pointer of the field).
//! - [`Execution::start`] begins an execution and returns the first [`Step`]: the
//!   [`HistoryEvent`]s to append to the execution's stream and the [`Command`]s to carry out
//!   (schedule a task, start or cancel a timer, complete the execution).
//! - [`Execution::handle`] takes one [`Input`] (a task's result or failure, a heartbeat, a timer
//!   firing, a stop) with the current time and returns the next [`Step`].
//! - [`replay`] rebuilds an [`Execution`] from its history (the coordinator's crash recovery);
//!   [`Execution::pending_commands`] then says which tasks and timers are still outstanding.
//!   [`Execution`] is also plain serde data, for snapshots.
//!
//! Parallel branches and Map iterations run as threads inside one execution, so one history
//! holds them all, the way Step Functions' does.
//!
//! # Modules
//!
//! [`definition`] (parsing, typed states) and [`validate`] (graph checks); [`path`] (JSONPath and
//! reference paths); [`template`] (`.$` payload templates); [`intrinsics`] (the 18 `States.*`
//! functions); [`choice`] (Choice rules); [`retry`] (Retry/Catch matching and delays);
//! [`history`] (events); [`execution`] (the public state machine) and `interpreter` (its engine);
//! [`replay`](mod@replay); [`time`], [`rng`] and [`limits`].
//!
//! # Example
//!
//! ```
//! use serde_json::json;
//! use skald_asl::{Command, Definition, Execution, ExecutionStatus, Input, StartContext, Timestamp};
//!
//! let def = Definition::parse(r#"{
//!   "StartAt": "Greet",
//!   "States": {
//!     "Greet": {
//!       "Type": "Task", "Resource": "greeter",
//!       "Parameters": { "text.$": "States.Format('Hello, {}!', $.name)" },
//!       "ResultPath": "$.greeting", "End": true
//!     }
//!   }
//! }"#).unwrap();
//! let t0 = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
//! let ctx = StartContext {
//!     execution_id: "exec-1".into(), name: "first".into(),
//!     state_machine_id: "sm-greet".into(), state_machine_name: "greet".into(),
//!     start_time: t0, seed: 42,
//! };
//! let (mut exec, step) = Execution::start(&def, json!({"name": "Ada"}), ctx);
//! let Command::ScheduleTask { task_id, input, .. } = &step.commands[0] else { panic!() };
//! assert_eq!(input, &json!({"text": "Hello, Ada!"}));
//!
//! let step = exec.handle(Input::TaskSucceeded { task_id: task_id.clone(), output: json!("hi") }, t0).unwrap();
//! assert_eq!(exec.status(), ExecutionStatus::Succeeded);
//! assert_eq!(exec.output(), Some(&json!({"name": "Ada", "greeting": "hi"})));
//! assert_eq!(step.events.last().unwrap().event_type(), "ExecutionSucceeded");
//! ```

pub mod choice;
pub mod definition;
pub mod error;
pub mod execution;
pub mod history;
mod interpreter;
pub mod intrinsics;
pub mod limits;
pub mod path;
pub mod replay;
pub mod retry;
pub mod rng;
pub mod template;
pub mod time;
pub mod validate;

pub use definition::{Definition, StateType};
pub use error::{HandleError, ReplayError, StateError, ValidationError};
pub use execution::{Command, Execution, ExecutionStatus, Input, StartContext, Step};
pub use history::{EventDetails, HistoryEvent};
pub use replay::replay;
pub use time::Timestamp;
