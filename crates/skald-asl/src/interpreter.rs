//! The engine behind [`Execution`]: threads (the top level, Parallel branches, Map iterations),
//! entering and leaving each state type with the data flow (InputPath → Parameters → result →
//! ResultSelector → ResultPath → OutputPath, plus Assign), Retry/Catch, timers for Wait, retries,
//! task timeouts, heartbeats and the execution timeout, and the history events of it all.
//!
//! Work inside one step is a queue of state entries, so a long chain of Pass or Choice states
//! does not deepen the stack; the history limit stops a loop of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::definition::{
    Definition, Kind, MachineId, Number, ResultPath, Seconds, Select, State, StateType, Transition, WaitFor,
};
use crate::error::{names, StateError};
use crate::execution::{Command, Execution, ExecutionStatus, Input};
use crate::history::{EventDetails, Failure, HistoryEvent, StateEntered, StateExited};
use crate::limits::{
    DURATION_SECONDS_MAX, HISTORY_EVENTS_MAX, HISTORY_EVENTS_RESERVE, MAP_CONCURRENCY_MAX, MAP_ITEMS_MAX,
    PAYLOAD_SIZE_BYTES_MAX,
};
use crate::path::{ContextNeed, Env};
use crate::retry;
use crate::template::Template;
use crate::time::{parse_wait_until, Timestamp};

/// A queued piece of work inside a step.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Work {
    /// Enter `state` on `thread` with `input`.
    Enter { thread: u32, state: String, input: Arc<Value> },
}

/// A line of control: the top level (0), a Parallel branch or a Map iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Thread {
    pub parent: Option<u32>,
    pub machine: MachineId,
    /// Branch index or item index in the parent.
    pub slot: usize,
    pub vars: Map<String, Value>,
    pub last_event_id: u64,
    pub run: Option<Run>,
}

/// The state a thread is in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Run {
    pub state: String,
    /// The state input as received (shared with the `…StateEntered` event until it is written).
    pub raw_input: Arc<Value>,
    /// After InputPath; left `Null` while `input_is_raw`.
    pub input: Value,
    /// A Task's InputPath is `$`: its input is `raw_input`, kept once rather than twice.
    #[serde(default)]
    pub input_is_raw: bool,
    /// After Parameters, for Parallel and Map (a Task's, recomputed per attempt, is in its command).
    pub effective: Value,
    #[serde(with = "skald_core::rfc3339_millis")]
    pub entered: Timestamp,
    /// Retries used, per retrier.
    pub retries: Vec<u32>,
    /// All retries so far (`$$.State.RetryCount`).
    pub retry_count: u32,
    pub phase: Phase,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Phase {
    Idle,
    Task {
        task_id: String,
        timeout_timer: Option<String>,
        heartbeat_timer: Option<String>,
        heartbeat_seconds: Option<u64>,
    },
    RetryWait {
        timer_id: String,
    },
    Wait {
        timer_id: String,
    },
    Parallel {
        children: Vec<Option<u32>>,
        results: Vec<Value>,
        remaining: usize,
    },
    Map {
        items: Vec<Value>,
        next: usize,
        running: BTreeMap<u32, usize>,
        results: Vec<Value>,
        succeeded: usize,
        failed: usize,
        max_concurrency: usize,
        tolerated_count: Option<f64>,
        tolerated_percentage: Option<f64>,
    },
}

/// An outstanding task attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TaskInfo {
    pub thread: u32,
    pub command: Command,
    /// Whether a worker has reported picking the task up.
    #[serde(default)]
    pub started: bool,
}

/// An outstanding timer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TimerInfo {
    pub thread: u32,
    pub purpose: TimerPurpose,
    #[serde(with = "skald_core::rfc3339_millis")]
    pub fire_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum TimerPurpose {
    ExecutionTimeout,
    TaskTimeout { task_id: String },
    Heartbeat { task_id: String },
    Retry,
    Wait,
}

/// Extra context-object members for one evaluation.
#[derive(Default)]
struct Extra {
    token: Option<String>,
    map_item: Option<(usize, Value)>,
}

/// The bytes of `v` as compact JSON, counted as they are formatted (no buffer is built).
fn size_bytes(v: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, v) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

fn check_size(v: &Value, what: &str) -> Result<(), StateError> {
    let n = size_bytes(v);
    if n > PAYLOAD_SIZE_BYTES_MAX {
        return Err(StateError::new(
            names::DATA_LIMIT_EXCEEDED,
            format!("{what} is {n} bytes; at most {PAYLOAD_SIZE_BYTES_MAX} are allowed"),
        ));
    }
    Ok(())
}

fn entered(t: StateType, e: StateEntered) -> EventDetails {
    match t {
        StateType::Task => EventDetails::TaskStateEntered(e),
        StateType::Pass => EventDetails::PassStateEntered(e),
        StateType::Choice => EventDetails::ChoiceStateEntered(e),
        StateType::Wait => EventDetails::WaitStateEntered(e),
        StateType::Succeed => EventDetails::SucceedStateEntered(e),
        StateType::Fail => EventDetails::FailStateEntered(e),
        StateType::Parallel => EventDetails::ParallelStateEntered(e),
        StateType::Map => EventDetails::MapStateEntered(e),
    }
}

fn exited(t: StateType, e: StateExited) -> EventDetails {
    match t {
        StateType::Task => EventDetails::TaskStateExited(e),
        StateType::Pass => EventDetails::PassStateExited(e),
        StateType::Choice => EventDetails::ChoiceStateExited(e),
        StateType::Wait => EventDetails::WaitStateExited(e),
        // A Fail state never exits: its thread fails on entry.
        StateType::Succeed | StateType::Fail => EventDetails::SucceedStateExited(e),
        StateType::Parallel => EventDetails::ParallelStateExited(e),
        StateType::Map => EventDetails::MapStateExited(e),
    }
}

fn failure(e: &StateError) -> Failure {
    Failure { error: e.error.clone(), cause: e.cause.clone() }
}

fn is_terminal(e: &StateError) -> bool {
    e.error == names::RUNTIME || e.error == names::DATA_LIMIT_EXCEEDED
}

impl Execution {
    // ----- events, commands, timers -------------------------------------------------------

    fn emit(&mut self, thread: u32, details: EventDetails) -> u64 {
        let id = self.next_event_id;
        self.next_event_id += 1;
        let previous_event_id = match self.threads.get_mut(&thread) {
            Some(t) => std::mem::replace(&mut t.last_event_id, id),
            None => id - 1,
        };
        self.out.events.push(HistoryEvent { id, previous_event_id, timestamp: self.now, thread, details });
        id
    }

    fn start_timer(&mut self, thread: u32, purpose: TimerPurpose, fire_at: Timestamp) -> String {
        let timer_id = format!("timer-{}", self.next_timer);
        self.next_timer += 1;
        self.timers.insert(timer_id.clone(), TimerInfo { thread, purpose, fire_at });
        self.out.commands.push(Command::StartTimer { timer_id: timer_id.clone(), fire_at });
        timer_id
    }

    fn cancel_timer(&mut self, timer_id: Option<&String>) {
        if let Some(id) = timer_id {
            if self.timers.remove(id).is_some() {
                self.out.commands.push(Command::CancelTimer { timer_id: id.clone() });
            }
        }
    }

    fn cancel_task(&mut self, task_id: &str) {
        if self.tasks.remove(task_id).is_some() {
            self.out.commands.push(Command::CancelTask { task_id: task_id.to_owned() });
        }
    }

    fn near_history_limit(&self) -> bool {
        self.next_event_id as usize > HISTORY_EVENTS_MAX - HISTORY_EVENTS_RESERVE
    }

    // ----- evaluation --------------------------------------------------------------------

    fn variable(&self, thread: u32, name: &str) -> Option<Value> {
        let mut cur = Some(thread);
        while let Some(id) = cur {
            let t = self.threads.get(&id)?;
            if let Some(v) = t.vars.get(name) {
                return Some(v.clone());
            }
            cur = t.parent;
        }
        None
    }

    /// The context object `$$`, or as much of it as `need` says a path can reach.
    fn context_object(&self, thread: u32, extra: &Extra, need: ContextNeed<'_>) -> Value {
        let wants = |section: &str| need.section.is_none_or(|s| s == section);
        let mut ctx = Map::new();
        if wants("Execution") {
            let execution = json!({
                "Id": self.context.execution_id,
                "Input": if need.execution_input { Value::clone(&self.input) } else { Value::Null },
                "Name": self.context.name,
                "StartTime": self.context.start_time.to_rfc3339_millis(),
                "RedriveCount": 0,
            });
            ctx.insert("Execution".to_owned(), execution);
        }
        if wants("StateMachine") {
            let machine = json!({ "Id": self.context.state_machine_id, "Name": self.context.state_machine_name });
            ctx.insert("StateMachine".to_owned(), machine);
        }
        if wants("State") {
            let run = self.threads.get(&thread).and_then(|t| t.run.as_ref());
            let state = json!({
                "Name": run.map(|r| r.state.clone()),
                "EnteredTime": run.map(|r| r.entered.to_rfc3339_millis()),
                "RetryCount": run.map(|r| r.retry_count).unwrap_or(0),
            });
            ctx.insert("State".to_owned(), state);
        }
        if let Some(token) = extra.token.as_ref().filter(|_| wants("Task")) {
            ctx.insert("Task".to_owned(), json!({ "Token": token }));
        }
        if let Some((index, value)) = extra.map_item.as_ref().filter(|_| wants("Map")) {
            ctx.insert("Map".to_owned(), json!({ "Item": { "Index": index, "Value": value } }));
        }
        Value::Object(ctx)
    }

    fn eval(&mut self, thread: u32, t: &Template, input: &Value, extra: &Extra) -> Result<Value, StateError> {
        let mut rng = self.rng.clone();
        let result = {
            let ctx = |need: ContextNeed<'_>| self.context_object(thread, extra, need);
            let var = |name: &str| self.variable(thread, name);
            let mut env = Env { input, context: &ctx, variable: &var, rng: &mut rng };
            t.evaluate(&mut env)
        };
        self.rng = rng;
        result
    }

    fn eval_expr(&mut self, thread: u32, e: &crate::template::Expr, input: &Value) -> Result<Value, StateError> {
        let mut rng = self.rng.clone();
        let result = {
            let extra = Extra::default();
            let ctx = |need: ContextNeed<'_>| self.context_object(thread, &extra, need);
            let var = |name: &str| self.variable(thread, name);
            let mut env = Env { input, context: &ctx, variable: &var, rng: &mut rng };
            e.evaluate(&mut env)
        };
        self.rng = rng;
        result
    }

    fn select(&mut self, thread: u32, select: &Select, input: &Value) -> Result<Value, StateError> {
        match select {
            Select::Null => Ok(Value::Object(Map::new())),
            whole if whole.is_whole_input() => Ok(input.clone()),
            Select::Path(p) => self.eval_expr(thread, &crate::template::Expr::Path(p.clone()), input),
        }
    }

    /// [`Self::select`] of a value that is not needed afterwards: `$` hands it back without a copy.
    fn select_owned(&mut self, thread: u32, select: &Select, input: Value) -> Result<Value, StateError> {
        if select.is_whole_input() {
            return Ok(input);
        }
        self.select(thread, select, &input)
    }

    fn number_at(&mut self, thread: u32, n: &Number, input: &Value, what: &str) -> Result<f64, StateError> {
        match n {
            Number::Fixed(f) => Ok(*f),
            Number::Path(p) => {
                let v = self.eval_expr(thread, &crate::template::Expr::Path(p.clone()), input)?;
                v.as_f64().filter(|f| *f >= 0.0).ok_or_else(|| {
                    StateError::runtime(format!("{what} path {:?} must select a non-negative number", p.as_str()))
                })
            }
        }
    }

    fn seconds_at(&mut self, thread: u32, s: &Seconds, input: &Value, what: &str) -> Result<u64, StateError> {
        match s {
            Seconds::Fixed(n) => Ok(*n),
            Seconds::Path(p) => {
                let v = self.eval_expr(thread, &crate::template::Expr::Path(p.clone()), input)?;
                v.as_u64().filter(|n| *n >= 1 && *n <= DURATION_SECONDS_MAX).ok_or_else(|| {
                    StateError::runtime(format!("{what} path {:?} must select a positive integer", p.as_str()))
                })
            }
        }
    }

    /// Evaluates `Assign` and writes the variables into `thread`'s scope.
    fn assign_values(
        &mut self,
        thread: u32,
        t: Option<&Template>,
        input: &Value,
    ) -> Result<Map<String, Value>, StateError> {
        let Some(t) = t else { return Ok(Map::new()) };
        match self.eval(thread, t, input, &Extra::default())? {
            Value::Object(m) => Ok(m),
            _ => Err(StateError::runtime("Assign must produce an object")),
        }
    }

    fn apply_assign(&mut self, thread: u32, vars: Map<String, Value>) {
        if let Some(t) = self.threads.get_mut(&thread) {
            t.vars.extend(vars);
        }
    }

    // ----- the step loop -----------------------------------------------------------------

    pub(crate) fn begin(&mut self, input: Arc<Value>) {
        let ctx = self.context.clone();
        self.emit(0, EventDetails::ExecutionStarted { input: input.clone(), context: ctx });
        self.threads
            .insert(0, Thread { parent: None, machine: 0, slot: 0, vars: Map::new(), last_event_id: 1, run: None });
        if let Some(secs) = self.definition.timeout_seconds() {
            let at = self.now.plus_millis(secs * 1000);
            self.start_timer(0, TimerPurpose::ExecutionTimeout, at);
        }
        if let Err(e) = check_size(&input, "the execution input") {
            self.thread_failed(0, e);
            return;
        }
        let start = self.definition.machine(0).start_at.clone();
        self.out.queue.push_back(Work::Enter { thread: 0, state: start, input });
        self.run_queue();
    }

    pub(crate) fn accept(&mut self, input: Input) {
        match input {
            Input::TaskSucceeded { task_id, output } => {
                let Some(info) = self.tasks.remove(&task_id) else { return };
                self.emit(
                    info.thread,
                    EventDetails::TaskSucceeded { task_id: task_id.clone(), output: output.clone() },
                );
                self.clear_task_timers(info.thread);
                match check_size(&output, "the task result") {
                    Ok(()) => self.task_done(info.thread, output),
                    Err(e) => self.state_error(info.thread, e),
                }
            }
            Input::TaskFailed { task_id, error, cause } => {
                let Some(info) = self.tasks.remove(&task_id) else { return };
                self.emit(
                    info.thread,
                    EventDetails::TaskFailed { task_id: task_id.clone(), error: error.clone(), cause: cause.clone() },
                );
                self.clear_task_timers(info.thread);
                // A task may not claim the terminal names for itself.
                let error = if is_terminal(&StateError::new(error.clone(), "")) {
                    names::TASK_FAILED.to_owned()
                } else {
                    error
                };
                self.state_error(info.thread, StateError::new(error, cause));
            }
            Input::TaskStarted { task_id } => {
                let Some(info) = self.tasks.get_mut(&task_id).filter(|t| !t.started) else { return };
                info.started = true;
                let thread = info.thread;
                self.emit(thread, EventDetails::TaskStarted { task_id });
            }
            Input::TaskHeartbeat { task_id } => {
                let Some(thread) = self.tasks.get(&task_id).map(|t| t.thread) else { return };
                let Some(Phase::Task { heartbeat_timer: Some(old), heartbeat_seconds: Some(secs), .. }) =
                    self.phase(thread).cloned()
                else {
                    return;
                };
                self.emit(thread, EventDetails::TaskHeartbeat { task_id: task_id.clone() });
                self.cancel_timer(Some(&old));
                let at = self.now.plus_millis(secs * 1000);
                let new = self.start_timer(thread, TimerPurpose::Heartbeat { task_id }, at);
                if let Some(Phase::Task { heartbeat_timer, .. }) = self.phase_mut(thread) {
                    *heartbeat_timer = Some(new);
                }
            }
            Input::TimerFired { timer_id } => {
                let Some(timer) = self.timers.remove(&timer_id) else { return };
                self.emit(timer.thread, EventDetails::TimerFired { timer_id });
                self.timer_fired(timer);
            }
            Input::Stop { error, cause } => {
                let err = StateError::new(error, cause);
                self.emit(0, EventDetails::ExecutionAborted(failure(&err)));
                self.terminate(ExecutionStatus::Aborted, None, Some(err));
            }
        }
        self.run_queue();
        self.check_history_limit();
    }

    fn run_queue(&mut self) {
        while let Some(work) = self.out.queue.pop_front() {
            if self.status != ExecutionStatus::Running {
                self.out.queue.clear();
                break;
            }
            if self.check_history_limit() {
                break;
            }
            match work {
                Work::Enter { thread, state, input } => self.enter(thread, &state, input),
            }
        }
    }

    /// Fails the execution when its history is about to outgrow [`HISTORY_EVENTS_MAX`].
    fn check_history_limit(&mut self) -> bool {
        if self.status != ExecutionStatus::Running || !self.near_history_limit() {
            return false;
        }
        self.out.queue.clear();
        let err =
            StateError::runtime(format!("the execution reached its history limit of {HISTORY_EVENTS_MAX} events"));
        self.emit(0, EventDetails::ExecutionFailed(failure(&err)));
        self.terminate(ExecutionStatus::Failed, None, Some(err));
        true
    }

    fn phase(&self, thread: u32) -> Option<&Phase> {
        self.threads.get(&thread).and_then(|t| t.run.as_ref()).map(|r| &r.phase)
    }

    fn phase_mut(&mut self, thread: u32) -> Option<&mut Phase> {
        self.threads.get_mut(&thread).and_then(|t| t.run.as_mut()).map(|r| &mut r.phase)
    }

    fn run_of(&self, thread: u32) -> Option<&Run> {
        self.threads.get(&thread).and_then(|t| t.run.as_ref())
    }

    /// The definition of the state `thread` is in. Borrows only `def` (a cheap clone of the
    /// execution's definition), so the caller may go on mutating the execution.
    fn state_of<'d>(&self, def: &'d Definition, thread: u32) -> Option<&'d State> {
        let t = self.threads.get(&thread)?;
        let run = t.run.as_ref()?;
        def.machine(t.machine).states.get(&run.state)
    }

    fn clear_task_timers(&mut self, thread: u32) {
        let Some(Phase::Task { timeout_timer, heartbeat_timer, .. }) = self.phase(thread) else { return };
        let (timeout_timer, heartbeat_timer) = (timeout_timer.clone(), heartbeat_timer.clone());
        self.cancel_timer(timeout_timer.as_ref());
        self.cancel_timer(heartbeat_timer.as_ref());
    }

    fn timer_fired(&mut self, timer: TimerInfo) {
        let thread = timer.thread;
        match timer.purpose {
            TimerPurpose::ExecutionTimeout => {
                let secs = self.definition.timeout_seconds().unwrap_or(0);
                let err = StateError::new(names::TIMEOUT, format!("the execution ran longer than {secs} seconds"));
                self.emit(0, EventDetails::ExecutionTimedOut(failure(&err)));
                self.terminate(ExecutionStatus::TimedOut, None, Some(err));
            }
            purpose @ (TimerPurpose::TaskTimeout { .. } | TimerPurpose::Heartbeat { .. }) => {
                let (task_id, err) = match purpose {
                    TimerPurpose::Heartbeat { task_id } => {
                        (task_id, StateError::new(names::HEARTBEAT_TIMEOUT, "the task sent no heartbeat in time"))
                    }
                    TimerPurpose::TaskTimeout { task_id } => {
                        (task_id, StateError::new(names::TIMEOUT, "the task did not finish in time"))
                    }
                    _ => return,
                };
                self.emit(
                    thread,
                    EventDetails::TaskTimedOut {
                        task_id: task_id.clone(),
                        error: err.error.clone(),
                        cause: err.cause.clone(),
                    },
                );
                self.clear_task_timers(thread);
                self.cancel_task(&task_id);
                self.state_error(thread, err);
            }
            TimerPurpose::Retry => self.attempt(thread),
            TimerPurpose::Wait => {
                let Some(run) = self.run_of(thread).cloned() else { return };
                self.leave_plain(thread, run.input);
            }
        }
    }

    // ----- entering states ---------------------------------------------------------------

    fn enter(&mut self, thread: u32, name: &str, raw_input: Arc<Value>) {
        let def = self.definition.clone();
        let Some(machine) = self.threads.get(&thread).map(|t| t.machine) else { return };
        let Some(state) = def.machine(machine).states.get(name) else {
            // Validation makes every target exist; a missing one is a bug, reported not panicked.
            self.thread_failed(thread, StateError::runtime(format!("state {name:?} does not exist")));
            return;
        };
        let st = state.state_type();
        self.emit(thread, entered(st, StateEntered { name: name.to_owned(), input: raw_input.clone() }));
        let retries = vec![0; state.retry.len()];
        if let Some(t) = self.threads.get_mut(&thread) {
            t.run = Some(Run {
                state: name.to_owned(),
                raw_input: raw_input.clone(),
                input: Value::Null,
                input_is_raw: false,
                effective: Value::Null,
                entered: self.now,
                retries,
                retry_count: 0,
                phase: Phase::Idle,
            });
        }
        if let Kind::Fail { error, cause } = &state.kind {
            let mut text = |f: &crate::definition::FailText, default: &str| -> Result<String, StateError> {
                Ok(match f {
                    crate::definition::FailText::None => default.to_owned(),
                    crate::definition::FailText::Fixed(s) => s.clone(),
                    crate::definition::FailText::Expr(e) => match self.eval_expr(thread, e, &raw_input)? {
                        Value::String(s) => s,
                        other => other.to_string(),
                    },
                })
            };
            let err = match (text(error, "States.Fail"), text(cause, "")) {
                (Ok(e), Ok(c)) => StateError::new(e, c),
                (Err(e), _) | (_, Err(e)) => e,
            };
            self.thread_failed(thread, err);
            return;
        }
        if matches!(&state.kind, Kind::Task { .. }) && state.input_path.is_whole_input() {
            // The usual Task: its input is the raw input, which the run keeps anyway.
            if let Some(run) = self.threads.get_mut(&thread).and_then(|t| t.run.as_mut()) {
                run.input_is_raw = true;
            }
            return self.attempt(thread);
        }
        let selected = self.select(thread, &state.input_path, &raw_input);
        let input = match selected {
            Ok(v) => v,
            Err(e) => return self.thread_failed(thread, e),
        };
        if let Kind::Task { .. } | Kind::Map { .. } = &state.kind {
            // Their work reads the input from the run, per attempt: moved in, not copied.
            self.put_input(thread, input);
            return self.attempt(thread);
        }
        self.put_input(thread, input.clone());
        match &state.kind {
            Kind::Fail { .. } | Kind::Task { .. } | Kind::Map { .. } => {}
            Kind::Pass { result } => {
                let effective = match &state.parameters {
                    Some(p) => match self.eval(thread, p, &input, &Extra::default()) {
                        Ok(v) => v,
                        Err(e) => return self.thread_failed(thread, e),
                    },
                    None => input,
                };
                let result = result.clone().unwrap_or(effective);
                self.leave_with_result(thread, result);
            }
            Kind::Succeed => self.leave_plain(thread, input),
            Kind::Choice { choices, default } => {
                let mut chosen = None;
                for branch in choices {
                    let mut rng = self.rng.clone();
                    let holds = {
                        let extra = Extra::default();
                        let ctx = |need: ContextNeed<'_>| self.context_object(thread, &extra, need);
                        let var = |n: &str| self.variable(thread, n);
                        let env = Env { input: &input, context: &ctx, variable: &var, rng: &mut rng };
                        branch.rule.evaluate(&env)
                    };
                    self.rng = rng;
                    match holds {
                        Ok(true) => {
                            chosen = Some((branch.next.clone(), branch.assign.clone()));
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => return self.thread_failed(thread, e),
                    }
                }
                let (next, rule_assign) = match (chosen, default) {
                    (Some(c), _) => c,
                    (None, Some(d)) => (d.clone(), None),
                    (None, None) => {
                        return self.thread_failed(
                            thread,
                            StateError::new(
                                names::NO_CHOICE_MATCHED,
                                format!("no choice rule of {name:?} matched and it has no Default"),
                            ),
                        )
                    }
                };
                let output = match self.select(thread, &state.output_path, &input) {
                    Ok(v) => v,
                    Err(e) => return self.thread_failed(thread, e),
                };
                let mut vars = match self.assign_values(thread, state.assign.as_ref(), &input) {
                    Ok(v) => v,
                    Err(e) => return self.thread_failed(thread, e),
                };
                match self.assign_values(thread, rule_assign.as_ref(), &input) {
                    Ok(v) => vars.extend(v),
                    Err(e) => return self.thread_failed(thread, e),
                }
                self.apply_assign(thread, vars);
                let output = Arc::new(output);
                self.emit(thread, exited(st, StateExited { name: name.to_owned(), output: output.clone() }));
                self.out.queue.push_back(Work::Enter { thread, state: next, input: output });
            }
            Kind::Wait { wait } => {
                let fire_at = match self.wait_until(thread, wait, &input) {
                    Ok(t) => t,
                    Err(e) => return self.thread_failed(thread, e),
                };
                if fire_at <= self.now {
                    self.leave_plain(thread, input);
                } else {
                    let timer_id = self.start_timer(thread, TimerPurpose::Wait, fire_at);
                    self.emit(
                        thread,
                        EventDetails::WaitTimerStarted { name: name.to_owned(), timer_id: timer_id.clone(), fire_at },
                    );
                    if let Some(p) = self.phase_mut(thread) {
                        *p = Phase::Wait { timer_id };
                    }
                }
            }
            Kind::Parallel { .. } => {
                let effective = match &state.parameters {
                    Some(p) => match self.eval(thread, p, &input, &Extra::default()) {
                        Ok(v) => v,
                        Err(e) => return self.thread_failed(thread, e),
                    },
                    None => input,
                };
                if let Some(run) = self.threads.get_mut(&thread).and_then(|t| t.run.as_mut()) {
                    run.effective = effective;
                }
                self.attempt(thread);
            }
        }
    }

    fn wait_until(&mut self, thread: u32, wait: &WaitFor, input: &Value) -> Result<Timestamp, StateError> {
        Ok(match wait {
            WaitFor::Seconds(s) => self.now.plus_millis(*s * 1000),
            WaitFor::Timestamp(t) => *t,
            WaitFor::SecondsPath(p) => {
                let v = self.eval_expr(thread, &crate::template::Expr::Path(p.clone()), input)?;
                let s = v.as_u64().filter(|s| *s <= DURATION_SECONDS_MAX).ok_or_else(|| {
                    StateError::runtime(format!("SecondsPath {:?} must select a non-negative integer", p.as_str()))
                })?;
                self.now.plus_millis(s * 1000)
            }
            WaitFor::TimestampPath(p) => {
                let v = self.eval_expr(thread, &crate::template::Expr::Path(p.clone()), input)?;
                v.as_str().and_then(parse_wait_until).ok_or_else(|| {
                    StateError::runtime(format!("TimestampPath {:?} must select an RFC 3339 timestamp", p.as_str()))
                })?
            }
        })
    }

    /// Lends the state input (after InputPath) out of the run; [`Self::put_input`] gives it back.
    fn take_input(&mut self, thread: u32) -> Value {
        self.threads
            .get_mut(&thread)
            .and_then(|t| t.run.as_mut())
            .map(|r| std::mem::take(&mut r.input))
            .unwrap_or_default()
    }

    fn put_input(&mut self, thread: u32, input: Value) {
        if let Some(run) = self.threads.get_mut(&thread).and_then(|t| t.run.as_mut()) {
            run.input = input;
        }
    }

    /// Runs (or re-runs, after a retry delay) the work of a Task, Parallel or Map state.
    fn attempt(&mut self, thread: u32) {
        let def = self.definition.clone();
        let Some(state) = self.state_of(&def, thread) else { return };
        let result = match &state.kind {
            Kind::Task { resource, timeout, heartbeat } => {
                let task = (resource.as_str(), timeout, heartbeat);
                match self.run_of(thread).filter(|run| run.input_is_raw).map(|run| run.raw_input.clone()) {
                    // InputPath `$`: the input is the raw input, shared with the run.
                    Some(raw_input) => self.schedule_task(thread, state, task, &raw_input),
                    None => {
                        // The state input is lent out of the run rather than copied (nothing in
                        // between reads it through the run), and put back whatever happens: a retry
                        // schedules from it again.
                        let run_input = self.take_input(thread);
                        let scheduled = self.schedule_task(thread, state, task, &run_input);
                        self.put_input(thread, run_input);
                        scheduled
                    }
                }
            }
            Kind::Parallel { branches } => {
                self.start_parallel(thread, branches);
                Ok(())
            }
            Kind::Map { .. } => self.start_map(thread, state),
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.thread_failed(thread, e);
        }
    }

    /// `run_input` is the state input, lent out of the run by the caller (see [`Self::attempt`]).
    fn schedule_task(
        &mut self,
        thread: u32,
        state: &State,
        (resource, timeout, heartbeat): (&str, &Option<Seconds>, &Option<Seconds>),
        run_input: &Value,
    ) -> Result<(), StateError> {
        let retry_count =
            self.run_of(thread).map(|run| run.retry_count).ok_or_else(|| StateError::runtime("no running state"))?;
        let token = resource.ends_with(".waitForTaskToken").then(|| {
            let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
            format!("{a:016x}{b:016x}")
        });
        let extra = Extra { token: token.clone(), map_item: None };
        let input = match &state.parameters {
            Some(p) => self.eval(thread, p, run_input, &extra)?,
            None => run_input.clone(),
        };
        check_size(&input, "the task input")?;
        // One copy for the event, the command and the task table.
        let input = Arc::new(input);
        let timeout_seconds = match timeout {
            Some(s) => Some(self.seconds_at(thread, s, run_input, "TimeoutSecondsPath")?),
            None => None,
        };
        let heartbeat_seconds = match heartbeat {
            Some(s) => Some(self.seconds_at(thread, s, run_input, "HeartbeatSecondsPath")?),
            None => None,
        };
        let task_id = format!("task-{}", self.next_task);
        self.next_task += 1;
        let attempt = retry_count + 1;
        self.emit(
            thread,
            EventDetails::TaskScheduled {
                task_id: task_id.clone(),
                resource: resource.to_owned(),
                input: input.clone(),
                attempt,
                task_token: token.clone(),
                timeout_seconds,
                heartbeat_seconds,
            },
        );
        let command = Command::ScheduleTask {
            task_id: task_id.clone(),
            resource: resource.to_owned(),
            input,
            attempt,
            idempotency_key: format!("{}:{task_id}", self.context.execution_id),
            task_token: token,
            timeout_seconds,
            heartbeat_seconds,
            state: state.name.clone(),
        };
        self.out.commands.push(command.clone());
        self.tasks.insert(task_id.clone(), TaskInfo { thread, command, started: false });
        let timeout_timer = timeout_seconds.map(|s| {
            let at = self.now.plus_millis(s * 1000);
            self.start_timer(thread, TimerPurpose::TaskTimeout { task_id: task_id.clone() }, at)
        });
        let heartbeat_timer = heartbeat_seconds.map(|s| {
            let at = self.now.plus_millis(s * 1000);
            self.start_timer(thread, TimerPurpose::Heartbeat { task_id: task_id.clone() }, at)
        });
        // The task's effective input lives in its command; a Task's run does not keep another copy.
        if let Some(run) = self.threads.get_mut(&thread).and_then(|t| t.run.as_mut()) {
            run.phase = Phase::Task { task_id, timeout_timer, heartbeat_timer, heartbeat_seconds };
        }
        Ok(())
    }

    fn spawn(&mut self, parent: u32, machine: MachineId, slot: usize, input: Value) -> u32 {
        let id = self.next_thread;
        self.next_thread += 1;
        let last = self.threads.get(&parent).map(|t| t.last_event_id).unwrap_or(0);
        self.threads.insert(
            id,
            Thread { parent: Some(parent), machine, slot, vars: Map::new(), last_event_id: last, run: None },
        );
        let start = self.definition.machine(machine).start_at.clone();
        self.out.queue.push_back(Work::Enter { thread: id, state: start, input: Arc::new(input) });
        id
    }

    fn start_parallel(&mut self, thread: u32, branches: &[MachineId]) {
        let effective = self.run_of(thread).map(|r| r.effective.clone()).unwrap_or(Value::Null);
        self.emit(thread, EventDetails::ParallelStateStarted { branches: branches.len() });
        let children: Vec<Option<u32>> =
            branches.iter().enumerate().map(|(i, m)| Some(self.spawn(thread, *m, i, effective.clone()))).collect();
        if let Some(p) = self.phase_mut(thread) {
            *p = Phase::Parallel { results: vec![Value::Null; children.len()], remaining: children.len(), children };
        }
    }

    fn start_map(&mut self, thread: u32, state: &State) -> Result<(), StateError> {
        let Kind::Map { items_path, max_concurrency, tolerated_count, tolerated_percentage, .. } = &state.kind else {
            return Ok(());
        };
        let input = self.run_of(thread).map(|r| r.input.clone()).unwrap_or(Value::Null);
        let items = match items_path {
            Some(p) => self.eval_expr(thread, &crate::template::Expr::Path(p.clone()), &input)?,
            None => input.clone(),
        };
        let Value::Array(items) = items else {
            return Err(StateError::runtime(format!("the Map state {:?} needs an array of items", state.name)));
        };
        if items.len() > MAP_ITEMS_MAX {
            return Err(StateError::new(
                names::DATA_LIMIT_EXCEEDED,
                format!("{} items; an inline Map takes at most {MAP_ITEMS_MAX}", items.len()),
            ));
        }
        let mc = self.number_at(thread, max_concurrency, &input, "MaxConcurrencyPath")? as usize;
        let max_concurrency = if mc == 0 { MAP_CONCURRENCY_MAX } else { mc.min(MAP_CONCURRENCY_MAX) };
        let tolerated_count = match tolerated_count {
            Some(n) => Some(self.number_at(thread, n, &input, "ToleratedFailureCountPath")?),
            None => None,
        };
        let tolerated_percentage = match tolerated_percentage {
            Some(n) => Some(self.number_at(thread, n, &input, "ToleratedFailurePercentagePath")?),
            None => None,
        };
        self.emit(thread, EventDetails::MapStateStarted { length: items.len() });
        let n = items.len();
        if let Some(p) = self.phase_mut(thread) {
            *p = Phase::Map {
                items,
                next: 0,
                running: BTreeMap::new(),
                results: vec![Value::Null; n],
                succeeded: 0,
                failed: 0,
                max_concurrency,
                tolerated_count,
                tolerated_percentage,
            };
        }
        self.map_fill(thread, state)
    }

    /// Starts iterations up to MaxConcurrency; completes the Map when all are done.
    fn map_fill(&mut self, thread: u32, state: &State) -> Result<(), StateError> {
        let Kind::Map { processor, item_selector, .. } = &state.kind else { return Ok(()) };
        loop {
            let Some(Phase::Map { items, next, running, max_concurrency, succeeded, failed, results, .. }) =
                self.phase(thread)
            else {
                return Ok(());
            };
            if *succeeded + *failed == items.len() {
                let results = results.clone();
                self.emit(thread, EventDetails::MapStateSucceeded {});
                self.leave_with_result(thread, Value::Array(results));
                return Ok(());
            }
            if *next >= items.len() || running.len() >= *max_concurrency {
                return Ok(());
            }
            let index = *next;
            let item = items[index].clone();
            let iteration_input = match item_selector {
                Some(t) => {
                    // Borrow the state input out of the run for the evaluation instead of copying it.
                    let input = self.take_input(thread);
                    let result = self.eval(thread, t, &input, &Extra { token: None, map_item: Some((index, item)) });
                    self.put_input(thread, input);
                    result?
                }
                None => item,
            };
            self.emit(thread, EventDetails::MapIterationStarted { name: state.name.clone(), index });
            let child = self.spawn(thread, *processor, index, iteration_input);
            if let Some(Phase::Map { next, running, .. }) = self.phase_mut(thread) {
                *next += 1;
                running.insert(child, index);
            }
        }
    }

    // ----- leaving states ----------------------------------------------------------------

    fn task_done(&mut self, thread: u32, output: Value) {
        self.leave_with_result(thread, output);
    }

    /// Leaves a Task, Pass, Parallel or Map state with its result: ResultSelector, Assign,
    /// ResultPath, OutputPath, then the transition.
    fn leave_with_result(&mut self, thread: u32, result: Value) {
        let def = self.definition.clone();
        let Some(state) = self.state_of(&def, thread) else { return };
        // Taken, not copied: the run ends here either way (a failure here fails the thread, which
        // reads no more of its run).
        let run = self.threads.get_mut(&thread).and_then(|t| t.run.as_mut());
        // The `…StateEntered` event that shared it is written by now (it belonged to an earlier
        // step), unless the state ends in the step that entered it: only then is it copied.
        let Some(raw_input) = run.map(|run| Arc::unwrap_or_clone(std::mem::take(&mut run.raw_input))) else {
            return;
        };
        let outcome = (|| -> Result<(Value, Map<String, Value>), StateError> {
            let result = match &state.result_selector {
                Some(t) => self.eval(thread, t, &result, &Extra::default())?,
                None => result,
            };
            let vars = self.assign_values(thread, state.assign.as_ref(), &result)?;
            let merged = match &state.result_path {
                ResultPath::Discard => raw_input,
                ResultPath::At(p) => p.write(raw_input, result)?,
            };
            let output = self.select_owned(thread, &state.output_path, merged)?;
            check_size(&output, "the state output")?;
            Ok((output, vars))
        })();
        match outcome {
            Ok((output, vars)) => {
                self.apply_assign(thread, vars);
                self.transition(thread, state, output);
            }
            Err(e) => self.thread_failed(thread, e),
        }
    }

    /// Leaves a Wait or Succeed state: Assign, OutputPath, then the transition.
    fn leave_plain(&mut self, thread: u32, input: Value) {
        let def = self.definition.clone();
        let Some(state) = self.state_of(&def, thread) else { return };
        let outcome = (|| -> Result<(Value, Map<String, Value>), StateError> {
            let vars = self.assign_values(thread, state.assign.as_ref(), &input)?;
            let output = self.select_owned(thread, &state.output_path, input)?;
            Ok((output, vars))
        })();
        match outcome {
            Ok((output, vars)) => {
                self.apply_assign(thread, vars);
                self.transition(thread, state, output);
            }
            Err(e) => self.thread_failed(thread, e),
        }
    }

    fn transition(&mut self, thread: u32, state: &State, output: Value) {
        let output = Arc::new(output);
        self.emit(thread, exited(state.state_type(), StateExited { name: state.name.clone(), output: output.clone() }));
        if let Some(t) = self.threads.get_mut(&thread) {
            t.run = None;
        }
        match (&state.kind, &state.transition) {
            (Kind::Succeed, _) | (_, Transition::End) => self.thread_succeeded(thread, output),
            (_, Transition::Next(next)) => {
                self.out.queue.push_back(Work::Enter { thread, state: next.clone(), input: output })
            }
        }
    }

    /// A Task, Parallel or Map state failed: retry, catch, or fail the thread.
    fn state_error(&mut self, thread: u32, err: StateError) {
        let def = self.definition.clone();
        let Some(state) = self.state_of(&def, thread) else { return };
        let Some(run) = self.run_of(thread).cloned() else { return };
        if let Some(idx) = state.retry.iter().position(|r| retry::matches(&r.error_equals, &err.error)) {
            let retrier = &state.retry[idx];
            let used = run.retries.get(idx).copied().unwrap_or(0);
            if used < retrier.max_attempts {
                let delay = retrier.delay_millis(used, &mut self.rng);
                let fire_at = self.now.plus_millis(delay);
                let timer_id = self.start_timer(thread, TimerPurpose::Retry, fire_at);
                self.emit(
                    thread,
                    EventDetails::RetryScheduled {
                        name: state.name.clone(),
                        error: err.error.clone(),
                        retry: run.retry_count + 1,
                        timer_id: timer_id.clone(),
                        fire_at,
                    },
                );
                if let Some(run) = self.threads.get_mut(&thread).and_then(|t| t.run.as_mut()) {
                    if let Some(u) = run.retries.get_mut(idx) {
                        *u += 1;
                    }
                    run.retry_count += 1;
                    run.phase = Phase::RetryWait { timer_id };
                }
                return;
            }
        }
        if let Some(catcher) = state.catch.iter().find(|c| retry::matches(&c.error_equals, &err.error)) {
            let error_output = err.to_output();
            let outcome = (|| -> Result<(Value, Map<String, Value>), StateError> {
                let vars = self.assign_values(thread, catcher.assign.as_ref(), &error_output)?;
                let output = match &catcher.result_path {
                    None => Value::clone(&run.raw_input),
                    Some(p) => p.write(Value::clone(&run.raw_input), error_output.clone())?,
                };
                Ok((output, vars))
            })();
            match outcome {
                Ok((output, vars)) => {
                    self.apply_assign(thread, vars);
                    let output = Arc::new(output);
                    self.emit(
                        thread,
                        exited(state.state_type(), StateExited { name: state.name.clone(), output: output.clone() }),
                    );
                    if let Some(t) = self.threads.get_mut(&thread) {
                        t.run = None;
                    }
                    self.out.queue.push_back(Work::Enter { thread, state: catcher.next.clone(), input: output });
                }
                Err(e) => self.thread_failed(thread, e),
            }
            return;
        }
        self.thread_failed(thread, err);
    }

    // ----- threads finishing -------------------------------------------------------------

    /// `output` is shared with the `…StateExited` event of the last state (and, at the top level,
    /// with `ExecutionSucceeded` and the execution's output): one value, not three copies.
    fn thread_succeeded(&mut self, thread: u32, output: Arc<Value>) {
        if thread == 0 {
            self.emit(0, EventDetails::ExecutionSucceeded { output: output.clone() });
            self.terminate(ExecutionStatus::Succeeded, Some(output), None);
            return;
        }
        self.child_done(thread, Ok(Arc::unwrap_or_clone(output)));
    }

    fn thread_failed(&mut self, thread: u32, err: StateError) {
        if thread == 0 {
            self.emit(0, EventDetails::ExecutionFailed(failure(&err)));
            self.terminate(ExecutionStatus::Failed, None, Some(err));
            return;
        }
        self.abort_thread(thread);
        self.child_done(thread, Err(err));
    }

    fn child_done(&mut self, child: u32, result: Result<Value, StateError>) {
        let Some(t) = self.threads.remove(&child) else { return };
        let Some(parent) = t.parent else { return };
        let def = self.definition.clone();
        let Some(state) = self.state_of(&def, parent) else { return };
        enum Parent {
            Parallel,
            Map { len: usize, tolerated_count: Option<f64>, tolerated_percentage: Option<f64> },
        }
        let kind = match self.phase(parent) {
            Some(Phase::Parallel { .. }) => Parent::Parallel,
            Some(Phase::Map { items, tolerated_count, tolerated_percentage, .. }) => Parent::Map {
                len: items.len(),
                tolerated_count: *tolerated_count,
                tolerated_percentage: *tolerated_percentage,
            },
            _ => return,
        };
        match kind {
            Parent::Parallel => match result {
                Ok(output) => {
                    let mut done = None;
                    if let Some(Phase::Parallel { children, results, remaining }) = self.phase_mut(parent) {
                        results[t.slot] = output;
                        children[t.slot] = None;
                        *remaining -= 1;
                        if *remaining == 0 {
                            done = Some(Value::Array(std::mem::take(results)));
                        }
                    }
                    if let Some(results) = done {
                        self.emit(parent, EventDetails::ParallelStateSucceeded {});
                        self.leave_with_result(parent, results);
                    }
                }
                Err(err) => {
                    self.abort_children(parent);
                    self.emit(parent, EventDetails::ParallelStateFailed(failure(&err)));
                    self.state_error(parent, err);
                }
            },
            Parent::Map { len, tolerated_count, tolerated_percentage } => {
                let index = t.slot;
                let name = state.name.clone();
                match result {
                    Ok(output) => {
                        self.emit(parent, EventDetails::MapIterationSucceeded { name, index });
                        if let Some(Phase::Map { running, results, succeeded, .. }) = self.phase_mut(parent) {
                            running.remove(&child);
                            results[index] = output;
                            *succeeded += 1;
                        }
                    }
                    Err(err) => {
                        self.emit(
                            parent,
                            EventDetails::MapIterationFailed {
                                name,
                                index,
                                error: err.error.clone(),
                                cause: err.cause.clone(),
                            },
                        );
                        let mut failed_now = 0;
                        if let Some(Phase::Map { running, results, failed, .. }) = self.phase_mut(parent) {
                            running.remove(&child);
                            results[index] = err.to_output();
                            *failed += 1;
                            failed_now = *failed;
                        }
                        let tolerant = tolerated_count.is_some() || tolerated_percentage.is_some();
                        let over = |n: usize| {
                            tolerated_count.is_some_and(|c| n as f64 > c)
                                || tolerated_percentage.is_some_and(|p| n as f64 * 100.0 > p * len as f64)
                        };
                        let map_err = if is_terminal(&err) || !tolerant {
                            Some(err)
                        } else if over(failed_now) {
                            Some(StateError::new(
                                names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                format!("{failed_now} of {len} iterations failed, more than tolerated"),
                            ))
                        } else {
                            None
                        };
                        if let Some(map_err) = map_err {
                            self.abort_children(parent);
                            self.emit(parent, EventDetails::MapStateFailed(failure(&map_err)));
                            self.state_error(parent, map_err);
                            return;
                        }
                    }
                }
                if let Err(e) = self.map_fill(parent, state) {
                    self.abort_children(parent);
                    self.state_error(parent, e);
                }
            }
        }
    }

    /// Stops every child of `thread` (Parallel branches, Map iterations), recursively.
    fn abort_children(&mut self, thread: u32) {
        let kids: Vec<(u32, Option<usize>)> = match self.phase(thread) {
            Some(Phase::Parallel { children, .. }) => children.iter().flatten().map(|c| (*c, None)).collect(),
            Some(Phase::Map { running, .. }) => running.iter().map(|(c, i)| (*c, Some(*i))).collect(),
            _ => Vec::new(),
        };
        let name = self.run_of(thread).map(|r| r.state.clone()).unwrap_or_default();
        for (child, index) in kids {
            self.abort_thread(child);
            self.threads.remove(&child);
            if let (Some(index), ExecutionStatus::Running) = (index, self.status) {
                self.emit(thread, EventDetails::MapIterationAborted { name: name.clone(), index });
            }
        }
        match self.phase_mut(thread) {
            Some(Phase::Parallel { children, .. }) => children.iter_mut().for_each(|c| *c = None),
            Some(Phase::Map { running, .. }) => running.clear(),
            _ => {}
        }
    }

    /// Cancels what `thread` waits on (its task and timers) and its children; keeps the thread.
    fn abort_thread(&mut self, thread: u32) {
        self.abort_children(thread);
        let waits_on = match self.phase(thread) {
            Some(p @ (Phase::Task { .. } | Phase::RetryWait { .. } | Phase::Wait { .. })) => Some(p.clone()),
            _ => None,
        };
        match waits_on {
            Some(Phase::Task { task_id, timeout_timer, heartbeat_timer, .. }) => {
                self.cancel_task(&task_id);
                self.cancel_timer(timeout_timer.as_ref());
                self.cancel_timer(heartbeat_timer.as_ref());
            }
            Some(Phase::RetryWait { timer_id }) | Some(Phase::Wait { timer_id }) => self.cancel_timer(Some(&timer_id)),
            _ => {}
        }
        if let Some(p) = self.phase_mut(thread) {
            *p = Phase::Idle;
        }
        // Drop any queued entries of this thread.
        self.out.queue.retain(|w| !matches!(w, Work::Enter { thread: t, .. } if *t == thread));
    }

    fn terminate(&mut self, status: ExecutionStatus, output: Option<Arc<Value>>, error: Option<StateError>) {
        assert_ne!(status, ExecutionStatus::Running, "terminate ends the execution");
        // Set first: nothing is recorded for the threads torn down below.
        self.status = status;
        self.abort_thread(0);
        let remaining: Vec<String> = self.tasks.keys().cloned().collect();
        for id in remaining {
            self.cancel_task(&id);
        }
        let timers: Vec<String> = self.timers.keys().cloned().collect();
        for id in timers {
            self.cancel_timer(Some(&id));
        }
        self.threads.clear();
        self.out.queue.clear();
        self.output = output;
        self.error = error;
        let done = self.completion();
        self.out.commands.push(done);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counted_size_is_the_length_of_the_serialised_json() {
        let values = [
            json!(null),
            json!({"trip_id": "t-1", "amount": 12.5, "nested": {"list": [1, 2, 3], "ok": true}}),
            json!({"escapes": "quote \" backslash \\ newline \n tab \t nul \u{0}", "unicode": "åäö — 日本"}),
            json!([[], {}, "", -0.0, 1e300, u64::MAX]),
        ];
        for value in values {
            assert_eq!(size_bytes(&value), serde_json::to_vec(&value).unwrap().len(), "{value}");
        }
    }
}
