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
//! - [`replay()`] rebuilds an [`Execution`] from its history (the coordinator's crash recovery);
//!   [`Execution::pending_commands`] then says which tasks and timers are still outstanding.
//!   [`Execution`] is also plain serde data, for snapshots.
//!
//! Parallel branches and Map iterations run as threads inside one execution, so one history
//! holds them all, the way Step Functions' does.
//!
//! # What the driver must do
//!
//! 1. Append each step's events to the execution's stream *before* acting on its commands.
//! 2. `ScheduleTask`: run the task (at least once; the `idempotency_key` is stable per attempt) and
//!    report [`Input::TaskSucceeded`] / [`Input::TaskFailed`] (and [`Input::TaskHeartbeat`]s).
//!    `.waitForTaskToken` tasks carry a `task_token`; [`Execution::task_for_token`] maps a
//!    callback back to its task. `CancelTask` means the result is no longer wanted.
//! 3. `StartTimer`: report [`Input::TimerFired`] at or after `fire_at`; `CancelTimer` withdraws it.
//!    Timers implement Wait states, retry delays, task timeouts, heartbeats and the execution's
//!    `TimeoutSeconds`.
//! 4. Pass the current time with every input. Late or duplicate inputs (a result for a task that
//!    timed out, a cancelled timer) return an empty step and leave the execution untouched.
//!
//! # Semantics worth knowing
//!
//! - Error matching: `States.ALL` matches everything except the terminal `States.Runtime` and
//!   `States.DataLimitExceeded`, which nothing retries or catches; `States.TaskFailed` matches
//!   everything except `States.Timeout`. A task that reports a terminal name is treated as
//!   `States.TaskFailed`. Data-flow failures (a definite path that matches nothing, a bad
//!   intrinsic argument, a ResultPath that cannot be applied) are `States.Runtime`.
//! - Retry delay `n` (from 0) is `IntervalSeconds × BackoffRate^n`, capped by `MaxDelaySeconds`;
//!   `JitterStrategy: FULL` draws uniformly from `[0, delay]`. Each retrier counts its own
//!   attempts; the first retrier whose `ErrorEquals` matches decides, even when exhausted.
//! - Variables (`Assign`): `$` is the state's result (after ResultSelector) for Task, Parallel and
//!   Map, the result (or effective input) for Pass, the input after InputPath for Choice and Wait,
//!   and the error output in a Catch. All values of one `Assign` see the old variables. Branches
//!   and iterations read outer variables; what they assign stays in their own scope.
//! - Map: inline only (`ProcessorConfig.Mode: INLINE`). `MaxConcurrency: 0` means
//!   [`limits::MAP_CONCURRENCY_MAX`]. With `ToleratedFailureCount`/`Percentage`, a tolerated
//!   iteration's result is its error output `{"Error", "Cause"}`; past the threshold the Map fails
//!   with `States.ExceedToleratedFailureThreshold`. Without them, the first failed iteration fails
//!   the Map with its own error. A failed Parallel branch fails the state with the branch's error.
//!   Remaining branches and iterations are cancelled.
//! - `States.MathRandom(start, end)` is inclusive of both ends; with a seed argument it is
//!   deterministic in that seed, otherwise it uses the execution's seeded generator.
//! - No Choice match and no Default: `States.NoChoiceMatched`.
//! - Time is kept in milliseconds, as Step Functions keeps it: finer times given to the execution
//!   are cut, and history times are written as `2016-03-14T01:59:00.000Z`. A Wait until a
//!   timestamp before 1970 ends at once; Choice rules order such timestamps correctly ([`time`]).
//! - Paths are RFC 9535 JSONPath; dot names RFC 9535 would reject (`$.delivery-partner`) are
//!   accepted as Step Functions accepts them.
//!
//! History differs from Step Functions' in a few additions that make replay exact: `TimerFired`,
//! `TaskHeartbeat`, `RetryScheduled` and `WaitTimerStarted` events, a `thread` on every event, and
//! `previous_event_id` linking each event to the one before it on its own thread (a branch's or
//! iteration's first event links to the parent's `ParallelStateStarted`/`MapIterationStarted`).
//!
//! Not supported (rejected with a validation error naming the state and field): the JSONata query
//! language, Distributed Map (`ItemReader`, `ItemBatcher`, `ResultWriter`, `Label`,
//! `Mode: DISTRIBUTED`), `Credentials`.
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
//! assert_eq!(**input, json!({"text": "Hello, Ada!"}));
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
