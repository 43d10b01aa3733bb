//! Rebuilding an [`Execution`] from its history: start it from `ExecutionStarted`, then feed back
//! every event that records an input (`TaskStarted`, `TaskSucceeded`, `TaskFailed`, `TaskHeartbeat`,
//! `TimerFired`, `ExecutionAborted`) at its recorded time, checking that each step reproduces
//! exactly the recorded events. A mismatch means the definition or the interpreter changed.

use crate::definition::Definition;
use crate::error::ReplayError;
use crate::execution::{Execution, Input};
use crate::history::{EventDetails, HistoryEvent};

/// The input an event records, if it records one.
pub fn input_of(event: &HistoryEvent) -> Option<Input> {
    Some(match &event.details {
        EventDetails::TaskSucceeded { task_id, output } => {
            Input::TaskSucceeded { task_id: task_id.clone(), output: output.clone() }
        }
        EventDetails::TaskFailed { task_id, error, cause } => {
            Input::TaskFailed { task_id: task_id.clone(), error: error.clone(), cause: cause.clone() }
        }
        EventDetails::TaskStarted { task_id } => Input::TaskStarted { task_id: task_id.clone() },
        EventDetails::TaskHeartbeat { task_id } => Input::TaskHeartbeat { task_id: task_id.clone() },
        EventDetails::TimerFired { timer_id } => Input::TimerFired { timer_id: timer_id.clone() },
        EventDetails::ExecutionAborted(f) => Input::Stop { error: f.error.clone(), cause: f.cause.clone() },
        _ => return None,
    })
}

fn compare(recorded: &[HistoryEvent], replayed: &[HistoryEvent], from: usize) -> Result<(), ReplayError> {
    for (i, ev) in replayed.iter().enumerate() {
        match recorded.get(from + i) {
            Some(r) if r == ev => {}
            other => {
                return Err(ReplayError::Diverged {
                    event_id: ev.id,
                    recorded: other
                        .map(|r| serde_json::to_string(r).unwrap_or_default())
                        .unwrap_or_else(|| "nothing".into()),
                    replayed: serde_json::to_string(ev).unwrap_or_default(),
                })
            }
        }
    }
    Ok(())
}

/// Rebuilds the execution whose history is `history`.
pub fn replay(definition: &Definition, history: &[HistoryEvent]) -> Result<Execution, ReplayError> {
    let Some(EventDetails::ExecutionStarted { input, context }) = history.first().map(|e| &e.details) else {
        return Err(ReplayError::NoStart);
    };
    let (mut exec, step) = Execution::start_shared(definition, input.clone(), context.clone());
    compare(history, &step.events, 0)?;
    let mut cursor = step.events.len();
    while cursor < history.len() {
        let event = &history[cursor];
        let input = input_of(event)
            .ok_or_else(|| ReplayError::NotAnInput { event_id: event.id, event_type: event.event_type().to_owned() })?;
        let step = exec.handle(input, event.timestamp)?;
        if step.events.is_empty() {
            return Err(ReplayError::Diverged {
                event_id: event.id,
                recorded: serde_json::to_string(event).unwrap_or_default(),
                replayed: "nothing".into(),
            });
        }
        compare(history, &step.events, cursor)?;
        cursor += step.events.len();
    }
    Ok(exec)
}
