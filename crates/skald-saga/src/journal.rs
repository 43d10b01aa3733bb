//! Executions in the log. Each [`HistoryEvent`] is one Skald event in `$exec-<id>` (type = the
//! history event type, data = the event as JSON), so history event `n` sits at stream version
//! `n - 1`. A step is appended in one atomic append whose expected version is the history length
//! before it: two coordinators can never interleave an execution's history, and the first step's
//! `no_stream` makes a start idempotent by name. The `$executions` index gets one
//! `ExecutionOpened` record (in the same append as the first step) and one `ExecutionClosed`
//! record (in the same append as the last): recovery reads it to find the open executions.
//!
//! Recovery need not read `$executions` from the start. Each start-up that finds where the
//! oldest still-open execution's `ExecutionOpened` record lies appends an [`ExecutionsScanned`]
//! record to `$executions-checkpoint`: every execution opened below `open_from` had closed by the
//! time the scan read up to `scanned_to`. A closed execution stays closed, so the finding holds
//! for good, whatever other coordinators on the store do meanwhile (it is derived from the log,
//! not from one coordinator's memory), and the next start-up reads `$executions` from
//! `open_from`. Start-up work is then bounded by the records since the oldest open execution,
//! not by every execution ever started.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use skald_asl::{ExecutionStatus, HistoryEvent};
use skald_core::{
    limits::READ_EVENTS_MAX, Direction, Error, EventStore, ExpectedVersion, Json, NewEvent, ReadOptions, RecordedEvent,
    Selector, StreamAppend, Timestamp,
};

use crate::error::SagaError;
use crate::names::{execution_stream, EXECUTIONS_CHECKPOINT_STREAM, EXECUTIONS_STREAM};

/// `ExecutionOpened` in `$executions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Opened {
    /// The execution id.
    pub execution_id: String,
    /// Its name.
    pub name: String,
    /// Its state machine.
    pub state_machine: String,
    /// The version it runs.
    pub state_machine_version: u64,
    /// When it started.
    #[serde(with = "skald_core::rfc3339_millis")]
    pub start_time: Timestamp,
}

/// `ExecutionClosed` in `$executions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Closed {
    /// The execution id.
    pub execution_id: String,
    /// How it ended.
    pub status: ExecutionStatus,
    /// When.
    #[serde(with = "skald_core::rfc3339_millis")]
    pub stop_time: Timestamp,
}

/// Event type of [`Opened`].
pub const OPENED_TYPE: &str = "ExecutionOpened";
/// Event type of [`Closed`].
pub const CLOSED_TYPE: &str = "ExecutionClosed";

/// `ExecutionsScanned` in `$executions-checkpoint` (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionsScanned {
    /// Every execution whose `ExecutionOpened` record lies below this `$executions` version had
    /// closed by `scanned_to`: recovery reads from here.
    pub open_from: u64,
    /// The last `$executions` version the scan read.
    pub scanned_to: u64,
}

/// Event type of [`ExecutionsScanned`].
pub const SCANNED_TYPE: &str = "ExecutionsScanned";

/// A record for the `$executions` index, appended with a step.
#[derive(Clone, Debug)]
pub enum IndexRecord {
    /// The execution started.
    Opened(Opened),
    /// The execution ended.
    Closed(Closed),
}

/// How many bytes a step's events took in the log (type + data + metadata), for statistics.
pub fn step_bytes(events: &[NewEvent]) -> usize {
    events.iter().map(NewEvent::size_bytes).sum()
}

/// Appends one step of history (events `first_id..`) and its index records atomically.
/// Returns the number of bytes written for the history.
pub async fn append_step(
    store: &Arc<dyn EventStore>,
    execution_id: &str,
    events: &[HistoryEvent],
    index: Vec<IndexRecord>,
) -> Result<usize, SagaError> {
    let Some(first) = events.first() else { return Ok(0) };
    let expected = match first.id {
        0 | 1 => ExpectedVersion::NoStream,
        id => ExpectedVersion::Exact(id - 2),
    };
    let history: Vec<NewEvent> = events.iter().map(|e| NewEvent::new(e.event_type(), Json::from_value(e))).collect();
    let bytes = step_bytes(&history);
    let mut appends = vec![StreamAppend::new(execution_stream(execution_id), history).expect(expected)];
    if !index.is_empty() {
        let records = index.into_iter().map(|record| match record {
            IndexRecord::Opened(o) => NewEvent::new(OPENED_TYPE, Json::from_value(&o)),
            IndexRecord::Closed(c) => NewEvent::new(CLOSED_TYPE, Json::from_value(&c)),
        });
        appends.push(StreamAppend::new(EXECUTIONS_STREAM, records.collect()));
    }
    store.append(appends).await?;
    Ok(bytes)
}

/// Decodes one stored history event.
pub fn decode(execution_id: &str, event: &RecordedEvent) -> Result<HistoryEvent, SagaError> {
    event.data.decode().map_err(|e| SagaError::HistoryCorrupt {
        id: execution_id.to_owned(),
        reason: format!("event at version {} is not a history event: {e}", event.version),
    })
}

fn not_found(execution_id: &str, error: Error) -> SagaError {
    match error {
        Error::StreamNotFound { .. } | Error::StreamDeleted { .. } => {
            SagaError::ExecutionNotFound { id: execution_id.to_owned() }
        }
        other => SagaError::Store(other),
    }
}

/// The whole history of an execution.
pub async fn read_history(store: &Arc<dyn EventStore>, execution_id: &str) -> Result<Vec<HistoryEvent>, SagaError> {
    let selector = Selector::Stream(execution_stream(execution_id));
    let mut history = Vec::new();
    let mut from = Some(0);
    while let Some(start) = from {
        let page = store
            .read(&selector, ReadOptions::forward(start, READ_EVENTS_MAX))
            .await
            .map_err(|e| not_found(execution_id, e))?;
        for event in &page.events {
            history.push(decode(execution_id, event)?);
        }
        from = page.next;
    }
    Ok(history)
}

/// A page of history: events with ids from `from` (1-based), forward or backward.
pub async fn read_page(
    store: &Arc<dyn EventStore>,
    execution_id: &str,
    from: Option<u64>,
    limit: usize,
    direction: Direction,
) -> Result<(Vec<HistoryEvent>, Option<u64>), SagaError> {
    let options = ReadOptions {
        from: from.map(|id| id.saturating_sub(1)),
        direction,
        limit: limit.clamp(1, READ_EVENTS_MAX),
        as_of: None,
    };
    let selector = Selector::Stream(execution_stream(execution_id));
    let page = store.read(&selector, options).await.map_err(|e| not_found(execution_id, e))?;
    let events = page.events.iter().map(|e| decode(execution_id, e)).collect::<Result<Vec<_>, _>>()?;
    Ok((events, page.next.map(|v| v + 1)))
}

/// The first and the last event of a history (one read each).
pub async fn ends(store: &Arc<dyn EventStore>, execution_id: &str) -> Result<(HistoryEvent, HistoryEvent), SagaError> {
    let (first, _) = read_page(store, execution_id, Some(1), 1, Direction::Forward).await?;
    let (last, _) = read_page(store, execution_id, None, 1, Direction::Backward).await?;
    match (first.into_iter().next(), last.into_iter().next()) {
        (Some(first), Some(last)) => Ok((first, last)),
        _ => Err(SagaError::ExecutionNotFound { id: execution_id.to_owned() }),
    }
}

/// What a start-up's scan of `$executions` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenExecutions {
    /// Executions opened and not closed, in the order they were opened.
    pub ids: Vec<String>,
    /// The `$executions` version the scan started at (the last checkpoint's `open_from`, or 0).
    pub scanned_from: u64,
    /// `$executions` records the scan read.
    pub records_read: u64,
    /// What the next scan may skip, when this one read anything.
    pub finding: Option<ExecutionsScanned>,
}

/// Finds the open executions: reads `$executions` from the last checkpoint's `open_from`.
pub async fn open_executions(store: &Arc<dyn EventStore>) -> Result<OpenExecutions, SagaError> {
    let scanned_from = last_checkpoint(store).await?.map_or(0, |c| c.open_from);
    let selector = Selector::Stream(EXECUTIONS_STREAM.to_owned());
    let mut opened = Vec::new();
    let mut closed = HashSet::new();
    let mut records_read = 0;
    let mut last_read = None;
    let mut from = Some(scanned_from);
    while let Some(start) = from {
        let page = match store.read(&selector, ReadOptions::forward(start, READ_EVENTS_MAX)).await {
            Ok(page) => page,
            Err(Error::StreamNotFound { .. }) => break,
            Err(e) => return Err(e.into()),
        };
        for event in &page.events {
            records_read += 1;
            last_read = Some(event.version);
            match event.event_type.as_str() {
                OPENED_TYPE => {
                    if let Ok(o) = event.data.decode::<Opened>() {
                        opened.push((event.version, o.execution_id));
                    }
                }
                CLOSED_TYPE => {
                    if let Ok(c) = event.data.decode::<Closed>() {
                        closed.insert(c.execution_id);
                    }
                }
                _ => {}
            }
        }
        from = page.next;
    }
    let mut seen = HashSet::new();
    let open: Vec<(u64, String)> =
        opened.into_iter().filter(|(_, id)| !closed.contains(id) && seen.insert(id.clone())).collect();
    let finding = last_read.map(|scanned_to| ExecutionsScanned {
        open_from: open.first().map_or(scanned_to + 1, |(version, _)| *version),
        scanned_to,
    });
    assert!(finding.is_none_or(|f| f.open_from >= scanned_from), "a scan never moves the start back");
    Ok(OpenExecutions { ids: open.into_iter().map(|(_, id)| id).collect(), scanned_from, records_read, finding })
}

/// The newest [`ExecutionsScanned`], if any. One that does not decode is passed over (with a
/// warning): recovery then reads `$executions` from the start, which is slower but complete.
async fn last_checkpoint(store: &Arc<dyn EventStore>) -> Result<Option<ExecutionsScanned>, SagaError> {
    let selector = Selector::Stream(EXECUTIONS_CHECKPOINT_STREAM.to_owned());
    let options = ReadOptions { from: None, direction: Direction::Backward, limit: 1, as_of: None };
    let page = match store.read(&selector, options).await {
        Ok(page) => page,
        Err(Error::StreamNotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(event) = page.events.first() else { return Ok(None) };
    match event.data.decode::<ExecutionsScanned>() {
        Ok(checkpoint) if event.event_type == SCANNED_TYPE => Ok(Some(checkpoint)),
        _ => {
            tracing::warn!(
                stream = EXECUTIONS_CHECKPOINT_STREAM,
                version = event.version,
                "not an ExecutionsScanned record; reading $executions from the start"
            );
            Ok(None)
        }
    }
}

/// Records `scan`'s finding for the next start-up, when it lets that one skip more than this one did.
pub async fn record_checkpoint(store: &Arc<dyn EventStore>, scan: &OpenExecutions) -> Result<(), SagaError> {
    let Some(finding) = scan.finding.filter(|f| f.open_from > scan.scanned_from) else { return Ok(()) };
    let event = NewEvent::new(SCANNED_TYPE, Json::from_value(&finding));
    store.append(vec![StreamAppend::new(EXECUTIONS_CHECKPOINT_STREAM, vec![event])]).await?;
    Ok(())
}

/// A page of `ExecutionOpened` records with their index-stream versions, newest first, from
/// index-stream version `from`. Returns the records and the cursor of the next page.
pub async fn opened_page(
    store: &Arc<dyn EventStore>,
    from: Option<u64>,
    limit: usize,
) -> Result<(Vec<(u64, Opened)>, Option<u64>), SagaError> {
    let selector = Selector::Stream(EXECUTIONS_STREAM.to_owned());
    let options =
        ReadOptions { from, direction: Direction::Backward, limit: limit.clamp(1, READ_EVENTS_MAX), as_of: None };
    let page = match store.read(&selector, options).await {
        Ok(page) => page,
        Err(Error::StreamNotFound { .. }) => return Ok((Vec::new(), None)),
        Err(e) => return Err(e.into()),
    };
    let opened = page
        .events
        .iter()
        .filter(|e| e.event_type == OPENED_TYPE)
        .filter_map(|e| Some((e.version, e.data.decode::<Opened>().ok()?)))
        .collect();
    Ok((opened, page.next))
}

/// The terminal status an event records, if it ends an execution.
pub fn terminal_status(event: &HistoryEvent) -> Option<ExecutionStatus> {
    Some(match event.event_type() {
        "ExecutionSucceeded" => ExecutionStatus::Succeeded,
        "ExecutionFailed" => ExecutionStatus::Failed,
        "ExecutionAborted" => ExecutionStatus::Aborted,
        "ExecutionTimedOut" => ExecutionStatus::TimedOut,
        _ => return None,
    })
}
