//! The public face of a running execution: what the driver (the coordinator) gives it
//! ([`StartContext`], [`Input`], the time), what it gets back ([`Step`]: [`HistoryEvent`]s to
//! append and [`Command`]s to carry out), and the [`Execution`] state itself, which is plain data
//! (serde) and can also be rebuilt from its history with [`crate::replay()`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::definition::Definition;
use crate::error::HandleError;
use crate::history::HistoryEvent;
use crate::interpreter::{TaskInfo, Thread, TimerInfo, Work};
use crate::rng::Rng;
use crate::time::{interpreter_time, Timestamp};

/// Who and when an execution is: supplied by the coordinator, recorded in `ExecutionStarted`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartContext {
    /// `$$.Execution.Id`.
    pub execution_id: String,
    /// `$$.Execution.Name`.
    pub name: String,
    /// `$$.StateMachine.Id`.
    pub state_machine_id: String,
    /// `$$.StateMachine.Name`.
    pub state_machine_name: String,
    /// `$$.Execution.StartTime`, and the time of `ExecutionStarted` (the execution keeps it to the
    /// millisecond).
    #[serde(with = "skald_core::rfc3339_millis")]
    pub start_time: Timestamp,
    /// Seeds the execution's random generator (jitter, `States.MathRandom`, `States.UUID`, task
    /// tokens). Anyone who can read the history can predict task tokens from it.
    pub seed: u64,
}

/// How an execution stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::Aborted => "ABORTED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
        };
        f.write_str(s)
    }
}

/// Something that happened outside the interpreter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Input {
    /// A task attempt returned `output`.
    TaskSucceeded {
        /// From [`Command::ScheduleTask`].
        task_id: String,
        /// What the task returned.
        output: Value,
    },
    /// A task attempt failed.
    TaskFailed {
        /// From [`Command::ScheduleTask`].
        task_id: String,
        /// The error name (matched by Retry/Catch).
        error: String,
        /// A human-readable cause.
        cause: String,
    },
    /// A worker picked the task attempt up (recorded once, as `TaskStarted`; optional).
    TaskStarted {
        /// From [`Command::ScheduleTask`].
        task_id: String,
    },
    /// A task attempt is alive (resets its `HeartbeatSeconds` clock).
    TaskHeartbeat {
        /// From [`Command::ScheduleTask`].
        task_id: String,
    },
    /// A timer from [`Command::StartTimer`] reached its time.
    TimerFired {
        /// From [`Command::StartTimer`].
        timer_id: String,
    },
    /// Stop the execution.
    Stop {
        /// Error name recorded in `ExecutionAborted`.
        error: String,
        /// Cause recorded in `ExecutionAborted`.
        cause: String,
    },
}

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Command {
    /// Run a task attempt and report [`Input::TaskSucceeded`] or [`Input::TaskFailed`].
    ScheduleTask {
        /// Unique within the execution; names this attempt.
        task_id: String,
        /// The state's `Resource`, as written.
        resource: String,
        /// The task's input (after InputPath and Parameters), shared with its `TaskScheduled` event.
        input: Arc<Value>,
        /// 1 for the first attempt, 2 for the first retry, …
        attempt: u32,
        /// `"<execution_id>:<task_id>"`: the same on every re-dispatch of this attempt.
        idempotency_key: String,
        /// For `.waitForTaskToken` resources: the token the callback will present.
        task_token: Option<String>,
        /// The attempt's timeout (the interpreter also keeps a timer for it).
        timeout_seconds: Option<u64>,
        /// The heartbeat interval (the interpreter also keeps a timer for it).
        heartbeat_seconds: Option<u64>,
        /// The Task state's name.
        state: String,
    },
    /// The attempt's result is no longer wanted (timed out, or the execution ended).
    CancelTask {
        /// The attempt.
        task_id: String,
    },
    /// Report [`Input::TimerFired`] at (or after) `fire_at`.
    StartTimer {
        /// Unique within the execution.
        timer_id: String,
        /// When to fire.
        #[serde(with = "skald_core::rfc3339_millis")]
        fire_at: Timestamp,
    },
    /// The timer is no longer wanted.
    CancelTimer {
        /// The timer.
        timer_id: String,
    },
    /// The execution ended.
    CompleteExecution {
        /// How it ended.
        status: ExecutionStatus,
        /// Its output, when it succeeded (shared with the execution and its `ExecutionSucceeded`).
        output: Option<Arc<Value>>,
        /// Its error, otherwise.
        error: Option<String>,
        /// The error's cause.
        cause: Option<String>,
    },
}

/// What one call to [`Execution::start`] or [`Execution::handle`] produced. Append the events
/// (atomically) before carrying out the commands. An input that is no longer relevant (a late
/// result of a timed-out task, a cancelled timer) produces an empty step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// History to append, in order.
    pub events: Vec<HistoryEvent>,
    /// Work for the driver.
    pub commands: Vec<Command>,
}

/// The state of one execution. Pure data: no I/O, no clock, no randomness of its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub(crate) definition: Definition,
    pub(crate) context: StartContext,
    /// Shared with the `ExecutionStarted` event.
    pub(crate) input: Arc<Value>,
    pub(crate) status: ExecutionStatus,
    pub(crate) output: Option<Arc<Value>>,
    pub(crate) error: Option<crate::error::StateError>,
    pub(crate) rng: Rng,
    #[serde(with = "skald_core::rfc3339_millis")]
    pub(crate) now: Timestamp,
    pub(crate) next_event_id: u64,
    pub(crate) next_task: u64,
    pub(crate) next_timer: u64,
    pub(crate) next_thread: u32,
    pub(crate) threads: BTreeMap<u32, Thread>,
    pub(crate) tasks: BTreeMap<String, TaskInfo>,
    pub(crate) timers: BTreeMap<String, TimerInfo>,
    #[serde(skip)]
    pub(crate) out: Outbox,
}

/// What a step is collecting; empty between calls.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Outbox {
    pub events: Vec<HistoryEvent>,
    pub commands: Vec<Command>,
    pub queue: VecDeque<Work>,
}

impl Execution {
    /// Starts an execution of `definition` with `input`. Returns the execution and its first
    /// step (`ExecutionStarted`, the states run until the first task or timer, and their commands).
    pub fn start(definition: &Definition, input: Value, context: StartContext) -> (Execution, Step) {
        Self::start_shared(definition, Arc::new(input), context)
    }

    /// [`Execution::start`] with an input shared with its caller (replay shares the recorded one).
    pub(crate) fn start_shared(definition: &Definition, input: Arc<Value>, context: StartContext) -> (Execution, Step) {
        let context = StartContext { start_time: interpreter_time(context.start_time), ..context };
        let mut exec = Execution {
            definition: definition.clone(),
            rng: Rng::new(context.seed),
            now: context.start_time,
            input: input.clone(),
            context,
            status: ExecutionStatus::Running,
            output: None,
            error: None,
            next_event_id: 1,
            next_task: 1,
            next_timer: 1,
            next_thread: 1,
            threads: BTreeMap::new(),
            tasks: BTreeMap::new(),
            timers: BTreeMap::new(),
            out: Outbox::default(),
        };
        exec.begin(input);
        let step = exec.finish_step();
        (exec, step)
    }

    /// Feeds one input, at time `now` (cut to the millisecond; not earlier than the last time given).
    pub fn handle(&mut self, input: Input, now: Timestamp) -> Result<Step, HandleError> {
        if self.status != ExecutionStatus::Running {
            return Err(HandleError::Finished { status: self.status.to_string() });
        }
        let now = interpreter_time(now);
        if now < self.now {
            return Err(HandleError::TimeWentBackwards { now, last: self.now });
        }
        let before = self.now;
        self.now = now;
        self.accept(input);
        if self.out.events.is_empty() {
            // An ignored input leaves no trace, so it may not change the state either: replay
            // must rebuild exactly this execution from the recorded events.
            self.now = before;
        }
        Ok(self.finish_step())
    }

    /// The commands that are still outstanding: every scheduled task attempt and running timer
    /// (or the completion, once finished). A coordinator recovering from a crash re-issues these;
    /// idempotency keys make re-dispatch safe.
    pub fn pending_commands(&self) -> Vec<Command> {
        if self.status != ExecutionStatus::Running {
            return vec![self.completion()];
        }
        let mut out: Vec<Command> = self.tasks.values().map(|t| t.command.clone()).collect();
        out.extend(self.timers.iter().map(|(id, t)| Command::StartTimer { timer_id: id.clone(), fire_at: t.fire_at }));
        out
    }

    /// The task attempt a `.waitForTaskToken` callback token belongs to.
    pub fn task_for_token(&self, token: &str) -> Option<&str> {
        self.tasks.iter().find_map(|(id, t)| match &t.command {
            Command::ScheduleTask { task_token: Some(tok), .. } if tok == token => Some(id.as_str()),
            _ => None,
        })
    }

    /// Where the execution is: `(thread, state name)` for every thread that is in a state
    /// (thread 0 is the top level; others are Parallel branches and Map iterations).
    pub fn current_states(&self) -> Vec<(u32, String)> {
        self.threads.iter().filter_map(|(id, t)| t.run.as_ref().map(|r| (*id, r.state.clone()))).collect()
    }

    /// How the execution stands.
    pub fn status(&self) -> ExecutionStatus {
        self.status
    }

    /// The output, once succeeded.
    pub fn output(&self) -> Option<&Value> {
        self.output.as_deref()
    }

    /// The error, once failed, aborted or timed out.
    pub fn error(&self) -> Option<&crate::error::StateError> {
        self.error.as_ref()
    }

    /// The definition being run.
    pub fn definition(&self) -> &Definition {
        &self.definition
    }

    /// Who and when.
    pub fn context(&self) -> &StartContext {
        &self.context
    }

    /// The input it started with.
    pub fn input(&self) -> &Value {
        &self.input
    }

    /// Its input and output (once succeeded), taken without a copy: for a driver that is done
    /// with the execution.
    pub fn into_input_and_output(self) -> (Value, Option<Value>) {
        (Arc::unwrap_or_clone(self.input), self.output.map(Arc::unwrap_or_clone))
    }

    /// The time of its latest history event (its stop time, once finished).
    pub fn last_event_time(&self) -> Timestamp {
        self.now
    }

    /// The number of history events so far.
    pub fn history_len(&self) -> u64 {
        self.next_event_id - 1
    }

    pub(crate) fn completion(&self) -> Command {
        Command::CompleteExecution {
            status: self.status,
            output: self.output.clone(),
            error: self.error.as_ref().map(|e| e.error.clone()),
            cause: self.error.as_ref().map(|e| e.cause.clone()),
        }
    }

    fn finish_step(&mut self) -> Step {
        assert!(self.out.queue.is_empty(), "a step ends with no work left");
        if self.status == ExecutionStatus::Running {
            // Every running execution waits on something, or it would never progress.
            debug_assert!(!self.tasks.is_empty() || !self.timers.is_empty() || self.out.events.is_empty());
        }
        Step { events: std::mem::take(&mut self.out.events), commands: std::mem::take(&mut self.out.commands) }
    }
}
