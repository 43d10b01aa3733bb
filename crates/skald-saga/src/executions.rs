//! Execution operations that read or create histories: start (idempotent by name), describe,
//! list (from the `$executions` index, newest first) and history pages.

use std::sync::Arc;

use skald_asl::{EventDetails, Execution, ExecutionStatus, HistoryEvent, StartContext};
use skald_core::{Direction, Error};

use crate::engine::{lock, Inner};
use crate::error::{check_size, SagaError};
use crate::journal::{self, Closed, IndexRecord, Opened};
use crate::model::{
    ExecutionDescription, ExecutionList, ExecutionSummary, HistoryPage, ListExecutions, StartExecution,
    StartedExecution,
};
use crate::names::{
    execution_id, parse_state_machine_version_id, state_machine_version_id, validate_execution_id, validate_name,
};

/// Most index records one list call reads.
const LIST_SCAN_EVENTS_MAX: usize = 10_000;

impl Inner {
    /// Starts an execution, or answers an earlier start of the same name and input.
    pub(crate) async fn start_execution(
        self: &Arc<Self>,
        request: StartExecution,
    ) -> Result<StartedExecution, SagaError> {
        let _active = self.enter()?;
        validate_name("state_machine", &request.state_machine)?;
        let name = request.name.clone().unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        validate_name("name", &name)?;
        check_size("input", &request.input, self.options.execution_input_bytes_max)?;
        let id = execution_id(&request.state_machine, &name);
        let version = match request.version {
            Some(v) => v,
            None => self.machines.current_version(&request.state_machine).await?,
        };
        let open = lock(&self.open).len();
        if open >= self.options.executions_open_max {
            return Err(SagaError::TooManyExecutions { open });
        }
        let definition = self.machines.definition(&request.state_machine, version).await?;
        let machine = MachineRef { name: request.state_machine.clone(), version };
        let now = self.now();
        let context = StartContext {
            execution_id: id.clone(),
            name: name.clone(),
            state_machine_id: state_machine_version_id(&machine.name, machine.version),
            state_machine_name: machine.name.clone(),
            start_time: now,
            seed: uuid::Uuid::new_v4().as_u64_pair().0,
        };
        let (exec, step) = Execution::start(&definition, request.input.clone(), context);
        let mut index = vec![IndexRecord::Opened(Opened {
            execution_id: id.clone(),
            name: name.clone(),
            state_machine: machine.name.clone(),
            state_machine_version: machine.version,
            start_time: now,
        })];
        let status = exec.status();
        if status != ExecutionStatus::Running {
            index.push(IndexRecord::Closed(Closed { execution_id: id.clone(), status, stop_time: now }));
        }
        let started = StartedExecution {
            execution_id: id.clone(),
            name,
            state_machine_version: machine.version,
            start_time: now,
            already_started: false,
        };
        match journal::append_step(&self.store, &id, &step.events, index).await {
            Ok(bytes) => {
                if status == ExecutionStatus::Running {
                    lock(&self.open).insert(id.clone());
                }
                self.recorded(&id, step.events, bytes);
                let slot = {
                    let mut cache = lock(&self.cache);
                    let slot = cache.entry(id.clone()).or_default().clone();
                    self.evict(&mut cache);
                    slot
                };
                let mut guard = slot.lock_owned().await;
                if guard.exec.is_none() && !guard.stale {
                    guard.exec = Some(exec);
                }
                self.apply(&id, &mut guard, step.commands);
                Ok(started)
            }
            Err(SagaError::Store(Error::WrongExpectedVersion { .. })) => {
                let (first, _) = journal::ends(&self.store, &id).await?;
                match &first.details {
                    EventDetails::ExecutionStarted { input, context }
                        if **input == request.input && context.state_machine_name == request.state_machine =>
                    {
                        let version =
                            parse_state_machine_version_id(&context.state_machine_id).map(|(_, v)| v).unwrap_or(0);
                        Ok(StartedExecution {
                            execution_id: id,
                            name: context.name.clone(),
                            state_machine_version: version,
                            start_time: context.start_time,
                            already_started: true,
                        })
                    }
                    _ => Err(SagaError::ExecutionAlreadyExists { id }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// How an execution stands (two reads, plus a replay for a running one not in memory).
    pub(crate) async fn describe_execution(&self, id: &str) -> Result<ExecutionDescription, SagaError> {
        validate_execution_id(id)?;
        let (first, last) = journal::ends(&self.store, id).await?;
        let EventDetails::ExecutionStarted { input, context } = first.details else {
            return Err(SagaError::HistoryCorrupt { id: id.to_owned(), reason: "no ExecutionStarted".into() });
        };
        let version = parse_state_machine_version_id(&context.state_machine_id).map(|(_, v)| v).unwrap_or(0);
        let status = journal::terminal_status(&last).unwrap_or(ExecutionStatus::Running);
        let (mut output, mut error, mut cause) = (None, None, None);
        match &last.details {
            EventDetails::ExecutionSucceeded { output: o } => output = Some(serde_json::Value::clone(o)),
            EventDetails::ExecutionFailed(f)
            | EventDetails::ExecutionAborted(f)
            | EventDetails::ExecutionTimedOut(f) => {
                error = Some(f.error.clone());
                cause = Some(f.cause.clone());
            }
            _ => {}
        }
        let mut current_states = Vec::new();
        if status == ExecutionStatus::Running {
            if let Ok(guard) = self.slot(id).await {
                if let Some(exec) = &guard.exec {
                    current_states = exec.current_states();
                }
            }
        }
        Ok(ExecutionDescription {
            execution_id: id.to_owned(),
            name: context.name,
            state_machine: context.state_machine_name,
            state_machine_version: version,
            status,
            input: Arc::unwrap_or_clone(input),
            output,
            error,
            cause,
            start_time: context.start_time,
            stop_time: (status != ExecutionStatus::Running).then_some(last.timestamp),
            history_length: last.id,
            current_states,
        })
    }

    async fn status_of(&self, id: &str) -> Result<ExecutionStatus, SagaError> {
        if lock(&self.open).contains(id) {
            return Ok(ExecutionStatus::Running);
        }
        let (last, _) = journal::read_page(&self.store, id, None, 1, Direction::Backward).await?;
        Ok(last.first().and_then(journal::terminal_status).unwrap_or(ExecutionStatus::Running))
    }

    /// Executions, newest first, filtered by state machine and status.
    pub(crate) async fn list_executions(&self, query: ListExecutions) -> Result<ExecutionList, SagaError> {
        let limit = query.limit.unwrap_or(100).clamp(1, 1000);
        let mut from = query.from;
        let mut scanned = 0;
        let mut executions = Vec::new();
        loop {
            let (page, next) = journal::opened_page(&self.store, from, limit).await?;
            scanned += limit;
            for (version, opened) in page {
                if executions.len() == limit {
                    // Full: the next page starts at this record.
                    return Ok(ExecutionList { executions, next: Some(version) });
                }
                if query.state_machine.as_ref().is_some_and(|sm| sm != &opened.state_machine) {
                    continue;
                }
                let status = self.status_of(&opened.execution_id).await?;
                if query.status.is_some_and(|s| s != status) {
                    continue;
                }
                executions.push(summary(opened, status));
            }
            from = next;
            if from.is_none() || scanned >= LIST_SCAN_EVENTS_MAX {
                return Ok(ExecutionList { executions, next: from });
            }
        }
    }

    /// A page of history.
    pub(crate) async fn history(
        &self,
        id: &str,
        from: Option<u64>,
        limit: usize,
        direction: Direction,
    ) -> Result<HistoryPage, SagaError> {
        validate_execution_id(id)?;
        let (events, next): (Vec<HistoryEvent>, Option<u64>) =
            journal::read_page(&self.store, id, from, limit, direction).await?;
        Ok(HistoryPage { events, next })
    }
}

struct MachineRef {
    name: String,
    version: u64,
}

fn summary(opened: Opened, status: ExecutionStatus) -> ExecutionSummary {
    ExecutionSummary {
        execution_id: opened.execution_id,
        name: opened.name,
        state_machine: opened.state_machine,
        state_machine_version: opened.state_machine_version,
        status,
        start_time: opened.start_time,
    }
}
