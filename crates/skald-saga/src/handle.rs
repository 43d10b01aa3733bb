//! The public face: [`Coordinator::start`] (recover, then run the timer loop) and the cheap,
//! clonable [`CoordinatorHandle`] every caller — tests, the HTTP routes, an embedding program —
//! uses.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use skald_asl::Input;
use skald_core::{Direction, EventStore};

use crate::engine::{Delivered, Inner};
use crate::error::{check_size, SagaError};
use crate::model::{
    ActivityTask, ExecutionDescription, ExecutionList, HistoryPage, ListExecutions, StartExecution, StartedExecution,
    StateMachine, StateMachineList,
};
use crate::names::validate_execution_id;
use crate::options::CoordinatorOptions;

/// Builds and runs coordinators.
pub struct Coordinator;

impl Coordinator {
    /// Recovers every open execution of `store` (replaying its history and re-issuing its pending
    /// tasks and timers), starts the timer loop, and returns the handle. Needs a tokio runtime.
    pub async fn start(
        store: Arc<dyn EventStore>,
        options: CoordinatorOptions,
    ) -> Result<CoordinatorHandle, SagaError> {
        let inner = Inner::new(store, options);
        let timer_loop = tokio::spawn(inner.clone().run_timers());
        *crate::engine::lock(&inner.timer_loop) = Some(timer_loop);
        match inner.recover().await {
            Ok(recovered) => {
                if recovered > 0 {
                    tracing::info!(recovered, "saga coordinator resumed open executions");
                }
                Ok(CoordinatorHandle { inner })
            }
            Err(e) => {
                inner.stop().await;
                Err(e)
            }
        }
    }
}

/// Counters since the coordinator started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoordinatorStats {
    /// History events appended.
    pub history_events: u64,
    /// Bytes of history appended (event type + data + metadata).
    pub history_bytes: u64,
    /// States entered.
    pub transitions: u64,
    /// History appends (steps).
    pub appends: u64,
    /// Executions open now.
    pub open_executions: usize,
    /// Timers pending now.
    pub timers: usize,
    /// `$executions` records read at start-up to find the open executions: those since the
    /// oldest execution that was open at the previous start-up, not every one ever started.
    pub recovery_index_records: u64,
}

/// A running coordinator. Cheap to clone; every clone talks to the same coordinator.
#[derive(Clone)]
pub struct CoordinatorHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CoordinatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorHandle").finish_non_exhaustive()
    }
}

impl CoordinatorHandle {
    /// Creates a state machine: version 1, or nothing new when the same definition exists.
    /// A different definition under an existing name is `state-machine-already-exists`.
    pub async fn create_state_machine(&self, name: &str, definition: Value) -> Result<StateMachine, SagaError> {
        self.inner.machines.create(name, &definition, self.inner.now()).await
    }

    /// Adds a version; running executions stay on theirs.
    pub async fn update_state_machine(&self, name: &str, definition: Value) -> Result<StateMachine, SagaError> {
        self.inner.machines.update(name, &definition, self.inner.now()).await
    }

    /// The latest version, or a given one.
    pub async fn describe_state_machine(&self, name: &str, version: Option<u64>) -> Result<StateMachine, SagaError> {
        self.inner.machines.describe(name, version).await
    }

    /// State machines by name, after `after`.
    pub async fn list_state_machines(&self, after: Option<&str>, limit: usize) -> Result<StateMachineList, SagaError> {
        self.inner.machines.list(after, limit).await
    }

    /// Deletes a state machine: no new executions; running ones finish on their version.
    pub async fn delete_state_machine(&self, name: &str) -> Result<(), SagaError> {
        self.inner.machines.delete(name).await
    }

    /// Starts an execution (idempotent by name: the same name and input answer the first start;
    /// a different input is `execution-already-exists`).
    pub async fn start_execution(&self, request: StartExecution) -> Result<StartedExecution, SagaError> {
        self.inner.start_execution(request).await
    }

    /// How an execution stands.
    pub async fn describe_execution(&self, id: &str) -> Result<ExecutionDescription, SagaError> {
        self.inner.describe_execution(id).await
    }

    /// Waits until the execution is no longer running (or `timeout` passes) and describes it.
    pub async fn wait_for_execution(&self, id: &str, timeout: Duration) -> Result<ExecutionDescription, SagaError> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Running here: wait for its completion without reading it first. Another coordinator
        // may finish it instead, so look at it at least every second.
        let mut look = !crate::engine::lock(&self.inner.open).contains(id);
        let result = loop {
            let done = self.inner.completion(id);
            if look {
                match self.inner.describe_execution(id).await {
                    Ok(d) if d.status != skald_asl::ExecutionStatus::Running => break Ok(d),
                    Ok(_) => {}
                    Err(e) => break Err(e),
                }
            }
            look = true;
            let slice = deadline.min(tokio::time::Instant::now() + Duration::from_secs(1));
            match tokio::time::timeout_at(slice, done).await {
                Ok(Ok(description)) => break Ok(description),
                Ok(Err(_)) => break Err(SagaError::ShuttingDown),
                Err(_) if slice < deadline => {}
                Err(_) => break self.inner.describe_execution(id).await,
            }
        };
        self.inner.prune_waiters(id);
        result
    }

    /// Executions, newest first.
    pub async fn list_executions(&self, query: ListExecutions) -> Result<ExecutionList, SagaError> {
        self.inner.list_executions(query).await
    }

    /// A page of an execution's history, from event id `from` (1-based).
    pub async fn history(
        &self,
        id: &str,
        from: Option<u64>,
        limit: usize,
        direction: Direction,
    ) -> Result<HistoryPage, SagaError> {
        self.inner.history(id, from, limit, direction).await
    }

    /// Stops an execution with `error` and `cause` (`ExecutionAborted`). Stopping one that has
    /// already ended changes nothing; either way the answer is its description.
    pub async fn stop_execution(&self, id: &str, error: &str, cause: &str) -> Result<ExecutionDescription, SagaError> {
        validate_execution_id(id)?;
        let input = Input::Stop { error: error.to_owned(), cause: cause.to_owned() };
        match self.inner.deliver(id, &input).await {
            Ok(_) | Err(SagaError::ExecutionNotRunning { .. }) => self.inner.describe_execution(id).await,
            Err(e) => Err(e),
        }
    }

    async fn answer(&self, token: &str, make: impl FnOnce(String) -> Input, last: bool) -> Result<(), SagaError> {
        let target = self.inner.activities.lookup(token).ok_or(SagaError::TaskTokenNotFound)?;
        let result = self.inner.deliver(&target.execution_id, &make(target.task_id.clone())).await;
        match result {
            Ok(Delivered::Recorded) => {
                if last {
                    self.inner.activities.forget_task(&target.execution_id, &target.task_id);
                }
                Ok(())
            }
            // A heartbeat for a task without HeartbeatSeconds records nothing; the task is open.
            Ok(Delivered::Ignored) if !last => Ok(()),
            Ok(Delivered::Ignored) | Err(SagaError::ExecutionNotRunning { .. }) => {
                self.inner.activities.forget_task(&target.execution_id, &target.task_id);
                Err(SagaError::TaskTokenNotFound)
            }
            Err(e) => Err(e),
        }
    }

    /// Completes the task waiting for `token` with `output`.
    pub async fn send_task_success(&self, token: &str, output: Value) -> Result<(), SagaError> {
        check_size("output", &output, self.inner.options.task_output_bytes_max)?;
        self.answer(token, |task_id| Input::TaskSucceeded { task_id, output }, true).await
    }

    /// Fails the task waiting for `token` with `error` (matched by Retry/Catch) and `cause`.
    pub async fn send_task_failure(&self, token: &str, error: &str, cause: &str) -> Result<(), SagaError> {
        let (error, cause) = (error.to_owned(), cause.to_owned());
        self.answer(token, |task_id| Input::TaskFailed { task_id, error, cause }, true).await
    }

    /// Resets the heartbeat clock of the task waiting for `token`.
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<(), SagaError> {
        self.answer(token, |task_id| Input::TaskHeartbeat { task_id }, false).await
    }

    /// Takes the next task of `activity`, waiting up to `wait` (capped by
    /// `activity_poll_wait_max`). `None` when none came.
    pub async fn get_activity_task(&self, activity: &str, wait: Duration) -> Result<Option<ActivityTask>, SagaError> {
        let _active = self.inner.enter()?;
        let wait = wait.min(self.inner.options.activity_poll_wait_max);
        let Some(task) = self.inner.activities.poll(activity, wait).await else { return Ok(None) };
        if let Some(target) = self.inner.activities.lookup(&task.task_token) {
            let inner = self.inner.clone();
            tokio::spawn(async move {
                let _ = inner.deliver(&target.execution_id, &Input::TaskStarted { task_id: target.task_id }).await;
            });
        }
        Ok(Some(task))
    }

    /// Counters.
    pub fn stats(&self) -> CoordinatorStats {
        let c = &self.inner.counters;
        CoordinatorStats {
            history_events: c.history_events.load(Ordering::Relaxed),
            history_bytes: c.history_bytes.load(Ordering::Relaxed),
            transitions: c.transitions.load(Ordering::Relaxed),
            appends: c.appends.load(Ordering::Relaxed),
            open_executions: crate::engine::lock(&self.inner.open).len(),
            timers: self.inner.timers.len(),
            recovery_index_records: c.recovery_index_records.load(Ordering::Relaxed),
        }
    }

    /// Stops the coordinator: new calls fail with `shutting-down`, in-flight task attempts are
    /// abandoned (a restart re-dispatches them with the same idempotency keys), and calls in
    /// progress finish first.
    pub async fn shutdown(&self) {
        self.inner.stop().await;
    }
}
